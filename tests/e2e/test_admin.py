#!/usr/bin/env python3
"""test_admin.py - the admin routes of DESIGN.md section 2 over HTTP:
absent without admin.token, 401 with a Basic challenge without the token,
open with it as Bearer or as a Basic password, a stats snapshot whose numbers
are those of GET /booking-service/sales/{sale}, and server-sent snapshots
that end when the daemon stops. The page in a real browser:
test_admin_browser.py."""

import base64
import http.client
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (HOST, HTTP_TIMEOUT, USER_AGENT, Daemon, DaemonTestCase,  # noqa: E402
                     note, token_for, wait_booking, wait_until)

TOKEN = "admin-token-for-the-e2e-tests-0123"
ADMIN_LINES = ['admin: { token: "%s" }' % TOKEN]
ROUTES = ["/admin", "/admin/app.js", "/admin/app.css", "/admin/stats",
          "/admin/events", "/admin/no-such-thing"]
SALES = [{"id": "launch", "inventory": 5, "hold_seconds": 300},
         {"id": "short", "inventory": 3, "hold_seconds": 1}]

# on_book verdicts by user, so a test can cause 403 and 429 at will.
POLICY = """
function on_book(req)
  if req.user == "robot" then return "deny", "no robots" end
  if req.user == "hasty" then return "slow", 5 end
end
"""


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def bearer(token=TOKEN):
    return "Bearer " + token


class SseReader:
    """GET /admin/events on its own connection: reads events one by one from
    the chunked body (http.client undoes the chunking)."""

    def __init__(self, port, authorization):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT)
        self.conn.request("GET", "/admin/events", headers={
            "Authorization": authorization, "User-Agent": USER_AGENT,
            "Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        self.buf = b""

    def next_event(self):
        """(fields dict) of the next event, or None at the end of the stream."""
        while b"\n\n" not in self.buf:
            chunk = self.resp.read1(65536)
            if not chunk:
                return None
            self.buf += chunk
        block, _, self.buf = self.buf.partition(b"\n\n")
        fields = {}
        for line in block.decode().split("\n"):
            if line and not line.startswith(":"):
                k, _, v = line.partition(":")
                fields[k] = v[1:] if v.startswith(" ") else v
        return fields

    def next_stats(self):
        while True:
            ev = self.next_event()
            if ev is None or ev.get("event") == "stats":
                return ev

    def close(self):
        self.conn.close()


class AdminOffWithoutToken(DaemonTestCase):
    SALES = SALES

    def test_admin_routes_are_404_when_admin_token_is_unset(self):
        for path in ROUTES:
            for auth in (None, bearer(), basic("admin", TOKEN)):
                r = self.c.request("GET", path, headers={"Authorization": auth} if auth else {})
                self.assertError(r, 404, "not_found")
                self.assertIsNone(r.header("WWW-Authenticate"), "%s: %r" % (path, r))
        note("every admin route is 404 without admin.token, with or without credentials")


class AdminRoutes(DaemonTestCase):
    START_DAEMON = False

    def setUp(self):
        super().setUp()
        d = Daemon(SALES, extra_lines=ADMIN_LINES)
        self.daemons.append(d)
        self.addCleanup(d.close_async)
        with open(os.path.join(d.dir, "policies", "verdicts.lua"), "w") as f:
            f.write(POLICY)
        self.daemon = d.start()
        self.c = self.client()

    def admin(self, path, authorization=bearer(), method="GET"):
        return self.c.request(method, path, headers={"Authorization": authorization})

    def stats(self):
        r = self.admin("/admin/stats")
        self.assertEqual(r.status, 200, repr(r))
        return self.assertJson(r)

    def test_every_admin_route_answers_401_with_a_basic_challenge_without_the_token(self):
        wrong = [None, bearer("wrong-token-of-some-length-000000"), bearer(TOKEN[:-1]),
                 bearer(TOKEN + "x"), basic("admin", "wrong"), basic(TOKEN, ""),
                 basic("admin", TOKEN + " "), "Basic !!!not-base64!!!", "Token " + TOKEN,
                 TOKEN, "Basic " + base64.b64encode(TOKEN.encode()).decode()]
        for path in ROUTES:
            for auth in wrong:
                r = self.c.request("GET", path, headers={"Authorization": auth} if auth else {})
                self.assertError(r, 401, "unauthenticated")
                self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="flashsaled"',
                                 "%s with %r: %r" % (path, auth, r))
                self.assertNotIn(TOKEN.encode(), r.body, "the token leaked into a 401")
        with open(self.daemon.log_path, "rb") as f:
            self.assertNotIn(TOKEN.encode(), f.read(), "the token is in the log")
        note("%d routes x %d wrong credentials: 401 + Basic challenge, token never echoed"
             % (len(ROUTES), len(wrong)))

    def test_the_token_opens_every_route_as_bearer_or_as_basic_password_of_any_user(self):
        for auth in (bearer(), basic("admin", TOKEN), basic("someone-else", TOKEN),
                     basic("", TOKEN), "bearer " + TOKEN):
            page = self.admin("/admin", auth)
            self.assertEqual(page.status, 200, "%r: %r" % (auth, page))
            self.assertTrue(page.header("Content-Type").startswith("text/html"))
            self.assertIn(b"<title>flashsaled admin</title>", page.body)
        js = self.admin("/admin/app.js")
        self.assertEqual(js.status, 200, repr(js))
        self.assertTrue(js.header("Content-Type").startswith("text/javascript"))
        self.assertIn(b"EventSource", js.body)
        css = self.admin("/admin/app.css", basic("x", TOKEN))
        self.assertEqual(css.status, 200, repr(css))
        self.assertTrue(css.header("Content-Type").startswith("text/css"))
        self.assertError(self.admin("/admin/no-such-thing"), 404, "not_found")
        self.assertError(self.admin("/admin/stats/more"), 404, "not_found")
        r = self.admin("/admin/stats", method="POST")
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(self.admin("/admin", method="HEAD").body, b"")
        note("Bearer and Basic (any user name) open /admin, app.js, app.css; others 404/405")

    def test_the_page_loads_nothing_from_outside(self):
        page = self.admin("/admin")
        csp = page.header("Content-Security-Policy", "")
        self.assertIn("default-src 'none'", csp)
        for directive in ("script-src 'self'", "style-src 'self'", "connect-src 'self'"):
            self.assertIn(directive, csp)
        for path in ("/admin", "/admin/app.js", "/admin/app.css"):
            text = self.admin(path).body.decode()
            # The only absolute URL allowed is the SVG namespace, a name
            # that is never fetched.
            urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"')]*", text))
            self.assertLessEqual(urls, {"http://www.w3.org/2000/svg"}, "%s refers to %r" % (path, urls))
            self.assertNotRegex(text, r"@import|url\(\s*['\"]?(?:https?:)?//")
        note("CSP default-src 'none' + self only; no outside URL in html, js or css")

    def test_stats_numbers_are_those_of_the_sale_view_after_a_small_sale(self):
        c = self.c
        held = [self.hold_for(c, "launch", "buyer-%d" % i) for i in range(3)]
        r = c.confirm("launch", held[0][0], held[0][1])
        self.assertEqual(r.status, 200, repr(r))
        r = c.cancel("launch", held[1][0], held[1][1])
        self.assertEqual(r.status, 200, repr(r))
        bid, tok, _ = self.hold_for(c, "short", "quick")
        b = wait_booking(c, "short", bid, tok, done=lambda b: b["status"] == "expired")
        self.assertEqual(b["status"], "expired")
        self.assertEqual(c.book("launch", token_for("robot")).status, 403)
        self.assertEqual(c.book("launch", token_for("hasty")).status, 429)
        self.assertEqual(c.book("launch", token_for("hasty")).status, 429)

        s = self.stats()
        by_id = {x["sale_id"]: x for x in s["sales"]}
        self.assertEqual(sorted(by_id), ["launch", "short"])
        for sale in ("launch", "short"):
            view = self.sale_view(c, sale)
            for k in ("inventory", "available", "held", "booked", "state"):
                self.assertEqual(by_id[sale][k], view[k], "%s.%s: stats %r, view %r"
                                 % (sale, k, by_id[sale], view))
        self.assertEqual((by_id["launch"]["held"], by_id["launch"]["booked"],
                          by_id["launch"]["available"]), (1, 1, 3))
        self.assertEqual(by_id["short"]["expired"], 1)
        self.assertEqual(by_id["launch"]["expired"], 0)
        for sale in by_id.values():  # every request was decided by now
            self.assertEqual((sale["queued"], sale["max_queued"], sale["queue_full"]),
                             (0, 10000, 0), sale)
        for sale in by_id.values():
            self.assertEqual(sorted(sale["rejected"]),
                             ["closed", "duplicate", "other", "policy", "sold_out"])
        self.assertEqual(s["totals"]["forbidden"], 1)
        self.assertEqual(s["totals"]["rate_limited"], 2)
        self.assertGreater(s["totals"]["requests"], 10)
        self.assertEqual(s["queue_depth"], 0)
        self.assertEqual(s["accept_latency"]["since_start"]["count"], 4)
        p50 = s["accept_latency"]["since_start"]["p50_ms"]
        p99 = s["accept_latency"]["since_start"]["p99_ms"]
        self.assertTrue(0 < p50 <= p99, "p50 %r, p99 %r" % (p50, p99))
        configured = harness.plugin_names(self.daemon.plugin_lines)
        self.assertEqual(sorted(configured), ["inventory", "queue", "storage"])
        for kind, plugin in configured.items():
            self.assertEqual(s["backends"][kind], {"ready": True, "plugin": plugin})
        note("stats = sale view for launch %r; short expired 1; 403 x1, 429 x2 counted"
             % ({k: by_id["launch"][k] for k in ("available", "held", "booked")},))

    def test_rates_are_differences_over_a_window_of_about_a_second(self):
        self.stats()  # opens a window
        t0 = time.monotonic()
        for i in range(5):
            self.assertEqual(self.c.book("launch", token_for("robot")).status, 403)
        wait_until(lambda: time.monotonic() - t0 > 1.0, what="a second")
        rates = self.stats()["rates"]
        self.assertIsNotNone(rates["window_s"], repr(rates))
        self.assertGreaterEqual(rates["window_s"], 0.9)
        expected = 5 / rates["window_s"]
        self.assertAlmostEqual(rates["forbidden"], expected, delta=0.01)
        self.assertGreaterEqual(rates["requests"], rates["forbidden"])
        self.assertEqual(rates["rate_limited"], 0)
        note("5 x 403 in %.2f s window -> %.2f/s" % (rates["window_s"], rates["forbidden"]))

    def test_events_send_a_snapshot_every_second(self):
        reader = SseReader(self.daemon.port, basic("admin", TOKEN))
        self.addCleanup(reader.close)
        self.assertEqual(reader.resp.status, 200)
        self.assertEqual(reader.resp.getheader("Content-Type"), "text/event-stream")
        first = reader.next_stats()
        self.assertIsNotNone(first, "the stream ended before its first snapshot")
        self.hold_for(self.c, "launch", "watched")
        t0 = time.monotonic()
        snaps = [json.loads(first["data"])]
        while True:
            ev = reader.next_stats()
            self.assertIsNotNone(ev, "the stream ended")
            snaps.append(json.loads(ev["data"]))
            launch = [x for x in snaps[-1]["sales"] if x["sale_id"] == "launch"][0]
            if launch["held"] == 1:
                break
            self.assertLess(time.monotonic() - t0, harness.scaled(10), "no snapshot showed the hold")
        self.assertEqual(snaps[0]["event_streams"], 1)
        gaps = [b["time_ms"] - a["time_ms"] for a, b in zip(snaps, snaps[1:])]
        # Periodic, not a flood: never much closer than the 1 s period. How
        # late one comes is the machine's business; only a stall fails.
        for g in gaps:
            self.assertTrue(500 <= g <= harness.scaled(10) * 1000, "snapshots %r ms apart" % gaps)
        self.assertEqual(launch, {**launch, "held": 1, "available": 4})
        note("%d snapshots, %r ms apart; the hold showed up live" % (len(snaps), gaps))

    def test_event_streams_are_bounded(self):
        # http.max_streams_per_user (default 2) bounds all admin streams.
        readers = [SseReader(self.daemon.port, bearer()) for _ in range(2)]
        for rd in readers:
            self.addCleanup(rd.close)
            self.assertEqual(rd.resp.status, 200)
            self.assertIsNotNone(rd.next_stats())
        r = self.admin("/admin/events")
        self.assertError(r, 503, "unavailable")
        self.assertTrue(r.header("Retry-After"))
        readers[0].close()
        wait_until(lambda: self.admin("/admin/stats").json["event_streams"] == 1,
                   what="the closed stream to be noticed")
        note("a third admin stream is 503 with Retry-After; closing one frees its place")

    def test_events_end_when_the_daemon_stops(self):
        reader = SseReader(self.daemon.port, bearer())
        self.addCleanup(reader.close)
        self.assertIsNotNone(reader.next_stats())
        rc, took, killed = self.daemon.stop()
        self.assertEqual((rc, killed), (0, False), "SIGTERM must end the stream and exit 0")
        try:
            ended = reader.next_event() is None  # the last chunk made it out
        except (http.client.HTTPException, OSError):
            ended = True  # or the connection closed under it: ended too
        self.assertTrue(ended, "the stream must end with the daemon")
        note("SIGTERM with an open admin stream: exit 0 in %.1f s" % took)


if __name__ == "__main__":
    harness.main()
