"""test_bad_input.py - what a hostile or broken client can send: garbage bytes,
oversized and unfinished requests, bad ids, oversized and malformed bodies,
and another user's booking. The daemon answers with the documented error (or
drops the connection for bytes that are not HTTP) and keeps serving."""

import random
import socket
import time

import harness
from harness import note, token_for, wait_booking

LONG = {"id": "long", "inventory": 10, "hold_seconds": 300}


class BadInput(harness.DaemonTestCase):
    SALES = [LONG, harness.LAUNCH]

    def assertStillServing(self, what):
        self.assertTrue(self.daemon.alive(), "daemon died after %s" % what)
        with self.daemon.client() as c:
            r = c.request("GET", "/healthz")
        self.assertEqual(r.status, 200, "after %s: %r" % (what, r))

    def assertHttpErrorOrNothing(self, raw, what):
        """Bytes that are not a valid request: no answer at all, or a 4xx."""
        if not raw:
            return "closed"
        first = raw.split(b"\r\n", 1)[0]
        self.assertTrue(first.startswith(b"HTTP/1."), "%s: answer %r" % (what, raw[:100]))
        code = int(first.split()[1])
        self.assertTrue(400 <= code < 500, "%s: answered %r" % (what, first))
        return first.decode(errors="replace")

    # ---- raw bytes ----

    def test_random_bytes_do_not_hurt_the_daemon(self):
        rng = random.Random(20261125)
        prefixes = [b"", b"GET ", b"POST /booking-service/book-item/launch HTTP/1.1\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\n"]
        seen = {}
        for i in range(40):
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000)))
            data = prefixes[i % len(prefixes)] + junk
            if i % 5 == 4:
                data += b"\r\n\r\n"
            got = self.assertHttpErrorOrNothing(harness.raw_exchange(self.daemon.port, data, 2.0),
                                                "random bytes #%d" % i)
            seen[got] = seen.get(got, 0) + 1
        self.assertStillServing("40 connections of random bytes")
        note("40 random payloads -> %s; /healthz still 200" % seen)

    def test_odd_request_lines_and_lengths(self):
        cases = {
            "NUL bytes": b"\x00" * 512,
            "no version": b"GET /healthz\r\n\r\n",
            "HTTP/9.9": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
            "negative length": b"PUT /booking-service/book-item/launch/x HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: -1\r\n\r\n{}",
            "non-numeric length": b"PUT /booking-service/book-item/launch/x HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: abc\r\n\r\n{}",
            "huge length": b"PUT /booking-service/book-item/launch/x HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 99999999999999999999999\r\n\r\n{}",
            "bad chunking": b"PUT /booking-service/book-item/launch/x HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            "header without colon": b"GET /healthz HTTP/1.1\r\nHost x\r\nnocolon\r\n\r\n",
        }
        for what, data in cases.items():
            raw = harness.raw_exchange(self.daemon.port, data, 2.0)
            first = raw.split(b"\r\n", 1)[0].decode(errors="replace") if raw else "(closed)"
            if what == "HTTP/9.9":
                # The one 5xx that is right: 505, in the API's JSON shape.
                self.assertTrue(first.startswith("HTTP/1.1 505 "), "%s -> %s" % (what, first))
                self.assertIn(b'"error":"bad_request"', raw, raw)
            else:
                # These may be parsed leniently, but never as a 5xx or a crash.
                self.assertNotRegex(first, r"^HTTP/\d\.\d 5", "%s -> %s" % (what, first))
            self.assertStillServing(what)
            note("%-20s -> %s" % (what, first))

    def test_oversized_header_line_is_refused(self):
        for what, data in (
                ("8 KB+ header line", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 +
                 b"\r\n\r\n"),
                ("8 KB+ request line", b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
                ("64 KB of headers", b"GET /healthz HTTP/1.1\r\n" +
                 b"".join(b"X-H%d: v\r\n" % i for i in range(6000)) + b"\r\n"),
                ("8 KB+ bearer", b"GET /booking-service/book-item/launch/x HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer " + b"a" * 9000 + b"\r\n\r\n")):
            got = self.assertHttpErrorOrNothing(harness.raw_exchange(self.daemon.port, data, 3.0), what)
            self.assertStillServing(what)
            note("%-20s -> %s" % (what, got))

    def test_unfinished_requests_do_not_block_others(self):
        partials = [
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n",                     # headers never end
            b"POST /booking-service/book-item/launch HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 100\r\n\r\n{",                                # body never ends
            b"G",                                                          # barely started
        ]
        socks = []
        try:
            for _ in range(4):
                for p in partials:
                    s = socket.create_connection((harness.HOST, self.daemon.port), timeout=harness.scaled(5))
                    s.sendall(p)
                    socks.append(s)
            t0 = time.monotonic()
            bid, tok, _ = self.hold_for(self.c, "launch", "u-while-stalled")
            self.assertStillServing("%d unfinished requests held open" % len(socks))
            note("%d stalled connections open; a booking still went through in %.2f s"
                 % (len(socks), time.monotonic() - t0))
        finally:
            for s in socks:
                s.close()
        self.assertStillServing("closing the stalled connections")

    # ---- ids ----

    def test_invalid_ids_are_400(self):
        tok = token_for("u-ids")
        bid, tok, _ = self.hold_for(self.c, "long", "u-ids")
        bad = {"65 chars": "a" * 65, "bang": "sale!", "space": "a%20b", "utf-8": "caf%C3%A9",
               "dollar": "%24x", "colon": "a:b", "percent": "a%25b", "tilde": "a~b"}
        for what, s in bad.items():
            self.assertError(self.c.book(s, tok), 400, "bad_request")
            self.assertError(self.c.sale(s), 400, "bad_request")
            self.assertError(self.c.get_booking(s, bid, tok), 400, "bad_request")
            for method in ("GET", "PUT", "DELETE"):
                body = {"status": "booked"} if method == "PUT" else None
                r = self.c.request(method, harness.booking_path("long", s), body=body, token=tok)
                self.assertError(r, 400, "bad_request")
            note("%-8s id in sale and booking position -> 400 bad_request" % what)
        # An encoded NUL: a decoder that stops at it sees the id "a", which is
        # unknown (404); one that sees all of it refuses it (400). Never a 2xx.
        for r in (self.c.book("a%00b", tok), self.c.get_booking("long", "a%00b", tok),
                  self.c.get_booking("long", bid + "%00x", tok)):
            self.assertIn(r.status, (400, 404), r)
            self.assertError(r, r.status, "bad_request" if r.status == 400 else "not_found")
        note("NUL in ids -> 400/404, never the booking it prefixes")
        # 64 is still a valid length: unknown, not malformed.
        self.assertError(self.c.book("b" * 64, tok), 404, "not_found")
        self.assertError(self.c.get_booking("long", "b" * 64, tok), 404, "not_found")
        note("64-char ids -> 404 not_found (valid, unknown)")
        self.assertEqual(wait_booking(self.c, "long", bid, tok)["status"], "hold")

    def test_empty_ids_are_refused(self):
        tok = token_for("u-empty")
        for method, path in (("POST", "/booking-service/book-item/"),
                             ("GET", "/booking-service/sales/"),
                             ("GET", "/booking-service/book-item/long/"),
                             ("GET", "/booking-service/book-item//x")):
            r = self.c.request(method, path, token=tok)
            # An empty segment is a bad id, no route, or (trailing slash) the
            # neighbouring route; anything else (a booking, a 5xx) is not.
            codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
            self.assertIn(r.status, codes, "%s %s: %r" % (method, path, r))
            self.assertError(r, r.status, codes[r.status])
            note("%s %s -> %d" % (method, path, r.status))

    def test_long_and_deep_paths_are_refused_not_fatal(self):
        tok = token_for("u-paths")
        for what, path in (("600-char sale id", "/booking-service/sales/" + "a" * 600),
                           ("600-char booking id", "/booking-service/book-item/launch/" + "b" * 600),
                           ("300 segments", "/" + "a/" * 300 + "b"),
                           ("7 segments", "/booking-service/book-item/a/b/c/d/e"),
                           ("trailing slash", "/healthz/"),
                           ("dot segments", "/booking-service/sales/../sales/launch/..")):
            r = self.c.request("GET", path, token=tok)
            codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
            self.assertIn(r.status, codes, "%s: %r" % (what, r))
            self.assertError(r, r.status, codes[r.status])
            self.assertStillServing(what)
            note("GET %-20s -> %d" % (what, r.status))

    # ---- bodies ----

    def test_body_over_limit_is_413_before_any_other_check(self):
        big = b"{" + b" " * 4998 + b"}"
        self.assertEqual(len(big), 5000)
        bid, tok, _ = self.hold_for(self.c, "long", "u-413")
        cases = [("POST", "/booking-service/book-item/long", None, "no token"),
                 ("POST", "/booking-service/book-item/nosuchsale", tok, "unknown sale"),
                 ("PUT", harness.booking_path("long", bid), tok, "a hold"),
                 ("PUT", harness.booking_path("long", bid), None, "no token"),
                 ("DELETE", harness.booking_path("long", bid), tok, "a hold"),
                 ("PUT", harness.booking_path("long", "nosuchbooking"), tok, "unknown booking")]
        for method, path, t, what in cases:
            r = self.c.request(method, path, body=big, token=t)
            self.assertError(r, 413, "too_large")
            note("%s %s (%s) with 5000 bytes -> 413" % (method, path, what))
        # and the same size sent chunked, without a Content-Length
        r = self.c.request("PUT", harness.booking_path("long", bid), body=iter([big[:2500], big[2500:]]),
                           token=tok)
        self.assertError(r, 413, "too_large")
        note("PUT with 5000 bytes chunked -> 413")
        # Nothing happened to the booking.
        self.assertEqual(wait_booking(self.c, "long", bid, tok)["status"], "hold")
        # A body of exactly the limit is not too large.
        at_limit = b'{"status":"booked","pad":"' + b"p" * (4096 - 28) + b'"}'
        self.assertEqual(len(at_limit), 4096)
        r = self.c.request("PUT", harness.booking_path("long", bid), body=at_limit, token=tok,
                           headers={"Content-Type": "application/json"})
        self.assertNotEqual(r.status, 413, r)
        note("PUT with exactly 4096 bytes -> %d (not 413)" % r.status)

    def test_malformed_json_is_400(self):
        bid, tok, _ = self.hold_for(self.c, "long", "u-json")
        bodies = [b"{", b"not json", b'{"status":"booked"', b"", b"\xff\xfe{}",
                  b'{"status":"booked\x00"}', b'{"status":"\xff"}',
                  b"[" * 2040 + b"]" * 2040,
                  b'{"status":"booked"}}']
        for body in bodies:
            r = self.c.request("PUT", harness.booking_path("long", bid), body=body, token=tok,
                               headers={"Content-Type": "application/json"})
            self.assertError(r, 400, "bad_request")
            note("PUT body %r -> 400" % body[:30])
        self.assertEqual(wait_booking(self.c, "long", bid, tok)["status"], "hold")

    def test_wrong_put_and_delete_content_is_400(self):
        bid, tok, _ = self.hold_for(self.c, "long", "u-content")
        for body in ({"status": "hold"}, {"status": 1}, {}, {"status": None}, {"status": "BOOKED"},
                     {"state": "booked"}, ["booked"], "booked", {"status": ["booked"]}):
            r = self.c.request("PUT", harness.booking_path("long", bid),
                               body=body if not isinstance(body, str) else '"booked"', token=tok)
            self.assertError(r, 400, "bad_request")
            note("PUT %r -> 400" % (body,))
        for body in ({"status": "booked"}, {"status": 1}, {"status": "expired"}):
            r = self.c.cancel("long", bid, tok, body=body)
            self.assertError(r, 400, "bad_request")
            note("DELETE %r -> 400" % (body,))
        self.assertEqual(wait_booking(self.c, "long", bid, tok)["status"], "hold")
        view = self.settled_view(self.c, "long", held=1, booked=0)
        note("booking still hold, sale %s" % view)

    # ---- other users ----

    def test_another_users_booking_is_404_never_403(self):
        bid, tok_a, _ = self.hold_for(self.c, "long", "u-alice")
        tok_b = token_for("u-bob")
        other = bid[:-1] + ("0" if bid[-1] != "0" else "1")
        for method in ("GET", "PUT", "DELETE"):
            body = {"status": "booked"} if method == "PUT" else None
            r = self.c.request(method, harness.booking_path("long", bid), body=body, token=tok_b)
            err = self.assertError(r, 404, "not_found")
            # indistinguishable from a booking that does not exist
            r2 = self.c.request(method, harness.booking_path("long", other), body=body, token=tok_b)
            self.assertError(r2, 404, err["error"])
            note("%s of alice's booking by bob -> 404 %s" % (method, err["error"]))
        b = wait_booking(self.c, "long", bid, tok_a)
        self.assertEqual(b["status"], "hold", "bob's requests changed alice's booking: %r" % b)
        view = self.settled_view(self.c, "long", held=1, booked=0)
        note("alice's booking still hold: %s" % view)


if __name__ == "__main__":
    harness.main()
