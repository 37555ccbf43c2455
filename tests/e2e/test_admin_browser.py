#!/usr/bin/env python3
"""test_admin_browser.py - the admin page in a real headless Chromium
(Debian's `chromium`, driven over the DevTools protocol by cdp.py): the
browser meets the Basic challenge and logs in as a person would (any user
name, the token as password); the page then shows, from its own fetch and
EventSource, the numbers of GET /booking-service/sales/{sale}, follows a
change live, and is saved as a screenshot (tests/e2e/test_admin_browser.png
in the build tree) for a person to look at."""

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, note, wait_booking, POLL_TIMEOUT  # noqa: E402

TOKEN = "admin-token-for-the-browser-test-42"
SALES = [{"id": "launch", "inventory": 8, "hold_seconds": 300},
         {"id": "short", "inventory": 3, "hold_seconds": 1}]
FIELDS = ("inventory", "available", "held", "booked", "state")
SCREENSHOT = os.path.join(os.getcwd(), "tests", "e2e", "test_admin_browser.png")

# What the page shows: every sale cell, the connection state, and how many
# snapshots it has drawn.
READ_PAGE = """JSON.stringify((() => {
  const sales = {};
  document.querySelectorAll('#sales td[data-sale][data-field]').forEach(td => {
    (sales[td.dataset.sale] = sales[td.dataset.sale] || {})[td.dataset.field] = td.textContent;
  });
  const conn = document.getElementById('conn');
  return {sales: sales, conn: conn && conn.dataset.state,
          snapshots: Number(document.body && document.body.dataset.snapshots || 0),
          backends: [...document.querySelectorAll('#backends li')].map(li => li.dataset.ready),
          lines: document.querySelectorAll('svg.chart polyline').length};
})())"""


class AdminPageInChromium(DaemonTestCase):
    START_DAEMON = False

    def setUp(self):
        super().setUp()
        self.daemon = self.start_daemon(SALES, extra_lines=['admin: { token: "%s" }' % TOKEN])
        self.c = self.client()
        self.browser = cdp.Browser(width=1280, height=900)
        self.addCleanup(self.browser.close)
        self.browser.start()
        self.page = self.browser.page()
        self.challenges = []
        self.page.on("Fetch.requestPaused", self.continue_request)
        self.page.on("Fetch.authRequired", self.log_in)

    def continue_request(self, params):
        self.page.send("Fetch.continueRequest", requestId=params["requestId"])

    def log_in(self, params):
        """What a person does at the browser's login prompt."""
        self.challenges.append(params["authChallenge"])
        self.page.send("Fetch.continueWithAuth", requestId=params["requestId"],
                       authChallengeResponse={"response": "ProvideCredentials",
                                              "username": "operator", "password": TOKEN})

    def read_page(self):
        return json.loads(self.page.evaluate(READ_PAGE))

    def wait_page(self, pred, what):
        """Polls the rendered page until pred(page) holds; returns it."""
        deadline = time.monotonic() + POLL_TIMEOUT
        while True:
            shown = self.read_page()
            if pred(shown):
                return shown
            if time.monotonic() > deadline:
                self.fail("%s: not shown within %.0f s; the page shows %r; browser log:\n%s"
                          % (what, POLL_TIMEOUT, shown, self.browser.log_tail()))
            time.sleep(0.1)

    def views(self):
        return {s["id"]: self.sale_view(self.c, s["id"]) for s in SALES}

    def page_matches_views(self, shown):
        """Every number the page shows for each sale is the sale view's."""
        want = self.views()
        return all(shown["sales"].get(sale, {}).get(k) == str(v[k])
                   for sale, v in want.items() for k in FIELDS)

    def small_sale(self):
        held = [self.hold_for(self.c, "launch", "buyer-%d" % i) for i in range(3)]
        self.assertEqual(self.c.confirm("launch", held[0][0], held[0][1]).status, 200)
        bid, tok, _ = self.hold_for(self.c, "short", "quick")
        wait_booking(self.c, "short", bid, tok, done=lambda b: b["status"] == "expired")

    def test_page_shows_the_sale_views_numbers_live_after_a_login(self):
        self.small_sale()
        self.page.call("Fetch.enable", handleAuthRequests=True, patterns=[{"urlPattern": "*"}])
        self.page.call("Page.enable")
        self.page.call("Runtime.enable")  # reports the page's exceptions
        self.page.call("Page.navigate", url="http://%s:%d/admin" % (harness.HOST, self.daemon.port))

        shown = self.wait_page(lambda p: p["conn"] == "live" and self.page_matches_views(p),
                               "the sale views' numbers after login")
        self.assertGreaterEqual(len(self.challenges), 1, "no login prompt was met")
        self.assertEqual((self.challenges[0]["scheme"].lower(), self.challenges[0]["realm"]),
                         ("basic", "flashsaled"))
        self.assertEqual(shown["sales"]["short"]["expired"], "1")
        self.assertEqual(shown["sales"]["launch"]["expired"], "0")
        self.assertEqual(shown["backends"], ["yes", "yes", "yes"])
        note("after one Basic login the page shows %r" % shown["sales"]["launch"])

        # Live: the page follows a change without a reload.
        before = shown["snapshots"]
        self.hold_for(self.c, "launch", "late-buyer")
        shown = self.wait_page(lambda p: p["snapshots"] > before and p["sales"]["launch"]["held"] == "3"
                               and self.page_matches_views(p), "a new hold, live")
        note("a new hold showed up live after %d more snapshots" % (shown["snapshots"] - before))

        # A few snapshots more, so the charts have lines, then the picture.
        seen = shown["snapshots"]
        shown = self.wait_page(lambda p: p["snapshots"] >= seen + 2, "two more snapshots")
        self.assertEqual(shown["lines"], 6, "the two charts draw three lines each")
        png = base64.b64decode(self.page.call("Page.captureScreenshot", format="png")["data"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        with open(SCREENSHOT, "wb") as f:
            f.write(png)
        errors = [p for m, p in self.page.events if m == "Runtime.exceptionThrown"]
        self.assertEqual(errors, [], "the page threw")
        note("screenshot (%d bytes): %s" % (len(png), SCREENSHOT))


if __name__ == "__main__":
    harness.main()
