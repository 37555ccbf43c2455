"""test_routes.py - every route of DESIGN.md section 2 and the answers it gives,
against the real daemon with the embedded plugins (memory, memory, sqlite)."""

import re
import time
from urllib.parse import urlsplit

import harness
from harness import ID_RE, note, token_for, wait_booking

TINY = {"id": "tiny", "inventory": 2, "hold_seconds": 300}


def metric_total(text, name):
    """Sum of every sample of a counter family in Prometheus text."""
    total = 0.0
    pat = re.compile(r"^%s(\{[^}]*\})?\s+([0-9.eE+-]+)" % re.escape(name))
    for line in text.splitlines():
        m = pat.match(line)
        if m:
            total += float(m.group(2))
    return total


class Routes(harness.DaemonTestCase):
    SALES = harness.DEFAULT_SALES + [TINY]

    # ---- operational routes ----

    def test_healthz_answers_200(self):
        r = self.c.request("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        note("GET /healthz -> 200")

    def test_readyz_reports_every_backend_ok(self):
        r = self.c.request("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        body = self.assertJson(r)
        self.assertIs(body.get("ready"), True, body)
        for kind in ("queue", "inventory", "storage"):
            self.assertIn(kind, body.get("backends", {}), body)
            self.assertIs(body["backends"][kind].get("ok"), True, body)
        note("GET /readyz -> 200 %s" % body)

    def test_metrics_is_prometheus_text_and_counts_requests(self):
        r = self.c.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        ctype = r.header("Content-Type", "")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        text = r.body.decode()
        self.assertIn("flashsaled_http_requests_total", text)
        before = metric_total(text, "flashsaled_http_requests_total")
        for _ in range(3):
            self.assertEqual(self.c.request("GET", "/healthz").status, 200)
        self.assertEqual(self.c.sale("launch").status, 200)
        after = metric_total(self.c.request("GET", "/metrics").body.decode(),
                             "flashsaled_http_requests_total")
        self.assertGreaterEqual(after, before + 4,
                                "flashsaled_http_requests_total went %s -> %s after 4 requests"
                                % (before, after))
        note("flashsaled_http_requests_total %s -> %s after 4 requests" % (before, after))

    def test_admin_routes_are_404_without_admin_token(self):
        for path in ("/admin", "/admin/sales"):
            r = self.c.request("GET", path, headers={"Authorization": "Bearer x"})
            self.assertError(r, 404, "not_found")
            note("GET %s without admin.token configured -> 404" % path)

    def test_unknown_route_is_404_json(self):
        for method, path in (("GET", "/nope"), ("GET", "/booking-service/nope"),
                             ("POST", "/booking-service/book-item/launch/x/y/z")):
            r = self.c.request(method, path, token=token_for("u-unknown-route"))
            self.assertError(r, 404, "not_found")
            note("%s %s -> 404 not_found" % (method, path))

    # ---- the booking life cycle ----

    def test_post_answers_202_queued_with_location(self):
        tok = token_for("u-post")
        r = self.c.book("launch", tok)
        self.assertEqual(r.status, 202, r)
        body = self.assertJson(r)
        self.assertEqual(body.get("status"), "queued", body)
        self.assertEqual(body.get("sale_id"), "launch", body)
        bid = body.get("booking_id")
        self.assertIsInstance(bid, str, body)
        self.assertRegex(bid, ID_RE, "booking id must be 1..64 of [A-Za-z0-9._-]")
        loc = r.header("Location")
        self.assertIsNotNone(loc, "202 without Location")
        self.assertEqual(urlsplit(loc).path, "/booking-service/book-item/launch/" + bid)
        # The Location is where the booking can be followed.
        g = self.c.request("GET", urlsplit(loc).path, token=tok)
        self.assertEqual(g.status, 200, g)
        note("POST -> 202 %s, Location %s, GET Location -> 200" % (body, loc))

    def test_booking_reaches_hold_with_expiry_in_rfc3339_utc(self):
        t0 = time.time()
        bid, tok, b = self.hold_for(self.c, "launch", "u-hold")
        self.assertEqual(b.get("booking_id"), bid, b)
        self.assertEqual(b.get("sale_id"), "launch", b)
        exp = harness.parse_rfc3339_utc(b.get("hold_expires_at"))
        # hold_seconds 300; whole-second formatting and clock jitter allowed.
        self.assertGreater(exp, t0 + 300 - 5, b)
        self.assertLess(exp, time.time() + 300 + 5, b)
        view = self.settled_view(self.c, "launch", held=1, available=99, booked=0)
        note("booking -> hold, hold_expires_at %s, sale %s" % (b["hold_expires_at"], view))

    def test_put_confirms_a_hold_and_only_a_hold(self):
        bid, tok, _ = self.hold_for(self.c, "launch", "u-put")
        r = self.c.confirm("launch", bid, tok)
        self.assertEqual(r.status, 200, r)
        body = self.assertJson(r)
        self.assertEqual((body.get("status"), body.get("booking_id")), ("booked", bid), body)
        self.assertEqual(wait_booking(self.c, "launch", bid, tok)["status"], "booked")
        self.settled_view(self.c, "launch", held=0, booked=1, available=99)
        # booked is final: neither a second confirm nor a cancel moves it.
        self.assertError(self.c.confirm("launch", bid, tok), 409, "invalid_transition")
        self.assertError(self.c.cancel("launch", bid, tok), 409, "invalid_transition")
        self.assertEqual(wait_booking(self.c, "launch", bid, tok)["status"], "booked")
        note("PUT on hold -> 200 booked; PUT/DELETE on booked -> 409 invalid_transition")

    def test_delete_cancels_a_hold_with_or_without_body(self):
        for user, body in (("u-del-nobody", None), ("u-del-body", {"status": "deleted"})):
            bid, tok, _ = self.hold_for(self.c, "launch", user)
            r = self.c.cancel("launch", bid, tok, body=body)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.assertJson(r).get("status"), "deleted", r)
            self.assertEqual(wait_booking(self.c, "launch", bid, tok)["status"], "deleted")
            # deleted is final
            self.assertError(self.c.cancel("launch", bid, tok, body=body), 409, "invalid_transition")
            self.assertError(self.c.confirm("launch", bid, tok), 409, "invalid_transition")
            note("DELETE body=%r on hold -> 200 deleted; again -> 409" % (body,))
        self.settled_view(self.c, "launch", available=100, held=0, booked=0)

    def test_delete_right_after_post_never_leaves_an_item_held(self):
        """DELETE of a queued (or just held) booking: the worker must not
        reserve it afterwards."""
        ids = []
        for i in range(20):
            bid, tok = self.book_ok(self.c, "launch", "u-qdel-%d" % i)
            r = self.c.cancel("launch", bid, tok)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.assertJson(r).get("status"), "deleted", r)
            ids.append((bid, tok))
        for bid, tok in ids:
            b = wait_booking(self.c, "launch", bid, tok)
            self.assertEqual(b["status"], "deleted", b)
        view = harness.wait_until(
            lambda: (lambda v: v if v["available"] == 100 else None)(self.sale_view(self.c, "launch")),
            what="available back to 100")
        self.assertEqual((view["held"], view["booked"]), (0, 0), view)
        note("20 x (POST, DELETE at once) -> all deleted, sale %s" % view)

    def test_second_post_by_same_user_is_409_already_booked(self):
        tok = token_for("u-dup")
        first = self.c.book("launch", tok)
        self.assertEqual(first.status, 202, first)
        bid = first.json["booking_id"]
        # while queued (or already hold)
        body = self.assertError(self.c.book("launch", tok), 409, "already_booked")
        self.assertEqual(body.get("booking_id"), bid, body)
        self.assertEqual(wait_booking(self.c, "launch", bid, tok)["status"], "hold")
        body = self.assertError(self.c.book("launch", tok), 409, "already_booked")
        self.assertEqual(body.get("booking_id"), bid, body)
        self.assertEqual(self.c.confirm("launch", bid, tok).status, 200)
        body = self.assertError(self.c.book("launch", tok), 409, "already_booked")
        self.assertEqual(body.get("booking_id"), bid, body)
        self.settled_view(self.c, "launch", held=0, booked=1)
        note("repeat POST while queued/hold/booked -> 409 already_booked %s" % bid)

    def test_same_user_may_book_again_after_cancelling(self):
        bid, tok, _ = self.hold_for(self.c, "launch", "u-again")
        self.assertEqual(self.c.cancel("launch", bid, tok).status, 200)
        bid2, _ = self.book_ok(self.c, "launch", "u-again")
        self.assertNotEqual(bid, bid2)
        self.assertEqual(wait_booking(self.c, "launch", bid2, tok)["status"], "hold")
        note("after DELETE the same user gets a new booking %s" % bid2)

    def test_one_user_may_book_in_two_sales(self):
        self.hold_for(self.c, "launch", "u-two")
        self.hold_for(self.c, "tiny", "u-two")
        note("same user holds in launch and tiny")

    def test_sold_out_sale_refuses_further_users(self):
        for i in range(2):
            self.hold_for(self.c, "tiny", "u-tiny-%d" % i)
        tok = token_for("u-tiny-late")
        r = self.c.book("tiny", tok)
        # Exact acceptance (DESIGN.md 9.7): told at once, never a 202 that
        # later ends rejected.
        self.assertError(r, 409, "sold_out")
        note("third user -> 409 sold_out at POST")
        view = self.settled_view(self.c, "tiny", available=0, held=2, booked=0,
                                 state="sold_out")
        note("sale view %s" % view)

    def test_closed_sales_answer_409_closed(self):
        for sale in ("future", "past"):
            r = self.c.book(sale, token_for("u-closed"))
            self.assertError(r, 409, "closed")
            note("POST %s -> 409 closed" % sale)

    def test_unknown_sale_and_booking_are_404(self):
        tok = token_for("u-404")
        self.assertError(self.c.book("no-such-sale", tok), 404, "not_found")
        self.assertError(self.c.sale("no-such-sale"), 404, "not_found")
        for method in ("GET", "PUT", "DELETE"):
            body = {"status": "booked"} if method == "PUT" else None
            r = self.c.request(method, harness.booking_path("launch", "no-such-booking"),
                               body=body, token=tok)
            self.assertError(r, 404, "not_found")
        # A real booking looked up under another sale does not exist there.
        bid, tok, _ = self.hold_for(self.c, "launch", "u-404b")
        self.assertError(self.c.get_booking("tiny", bid, tok), 404, "not_found")
        note("unknown sale / booking / booking under the wrong sale -> 404 not_found")

    # ---- the sale view ----

    def test_sale_view_needs_no_auth_and_reports_states(self):
        want = {"launch": ("open", 100), "future": ("scheduled", 5),
                "past": ("closed", 5), "tiny": ("open", 2)}
        for sale, (state, inv) in want.items():
            view = self.sale_view(self.c, sale)
            self.assertEqual(view.get("sale_id"), sale, view)
            self.assertEqual(view.get("state"), state, view)
            self.assertEqual(view.get("inventory"), inv, view)
            self.assertEqual((view.get("available"), view.get("held"), view.get("booked")),
                             (inv, 0, 0), view)
            note("GET sales/%s -> %s" % (sale, view))

    # ---- methods and auth ----

    def test_wrong_methods_are_405_with_allow(self):
        bid, tok, _ = self.hold_for(self.c, "launch", "u-405")
        cases = [("PATCH", harness.booking_path("launch", bid), "GET"),
                 ("POST", "/booking-service/sales/launch", "GET"),
                 ("DELETE", "/booking-service/sales/launch", "GET"),
                 ("GET", "/booking-service/book-item/launch", "POST")]
        for method, path, must_allow in cases:
            body = {"status": "booked"} if method in ("PATCH", "POST") else None
            r = self.c.request(method, path, body=body, token=tok)
            self.assertError(r, 405, "method_not_allowed")
            allow = r.header("Allow", "")
            self.assertIn(must_allow, [m.strip() for m in allow.split(",")],
                          "%s %s: Allow %r" % (method, path, allow))
            note("%s %s -> 405, Allow: %s" % (method, path, allow))
        self.assertEqual(wait_booking(self.c, "launch", bid, tok)["status"], "hold")

    def test_booking_routes_need_a_token(self):
        bid, tok, _ = self.hold_for(self.c, "launch", "u-401")
        for method, path in (("POST", "/booking-service/book-item/launch"),
                             ("GET", harness.booking_path("launch", bid)),
                             ("PUT", harness.booking_path("launch", bid)),
                             ("DELETE", harness.booking_path("launch", bid))):
            body = {"status": "booked"} if method == "PUT" else None
            self.assertUnauthenticated(self.c.request(method, path, body=body))
            note("%s %s without token -> 401 + WWW-Authenticate" % (method, path))
        self.assertEqual(wait_booking(self.c, "launch", bid, tok)["status"], "hold")

    def test_body_over_limit_is_413(self):
        r = self.c.book("launch", token_for("u-413"), body=b"x" * 5000)
        self.assertError(r, 413, "too_large")
        self.assertEqual(self.c.request("GET", "/healthz").status, 200)
        note("POST with 5000-byte body -> 413 too_large")


if __name__ == "__main__":
    harness.main()
