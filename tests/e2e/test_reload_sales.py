"""test_reload_sales.py - SIGHUP re-reads `sales`: a new sale starts, hold
times change, an inventory increase applies at once, a decrease below what is
held and booked is refused with a log line, and a sale dropped from the
config closes (issue 7, item 5)."""

import signal

import harness
from harness import note, token_for


class ReloadSales(harness.DaemonTestCase):
    SALES = [{"id": "alpha", "inventory": 2, "hold_seconds": 300}]

    def reload(self, sales):
        d = self.daemon
        d.sales = sales
        d.write_config(d.port)  # same port: the running daemon keeps it
        d.signal(signal.SIGHUP)

    def view(self, sale):
        r = self.c.sale(sale)
        return r.json if r.status == 200 else None

    def test_sighup_applies_new_sales_holds_and_inventory(self):
        c = self.c
        self.hold_for(c, "alpha", "u1")
        self.hold_for(c, "alpha", "u2")
        self.assertError(c.book("alpha", token_for("u3")), 409, "sold_out")

        self.reload([{"id": "alpha", "inventory": 3, "hold_seconds": 300},
                     {"id": "beta", "inventory": 1, "hold_seconds": 60}])
        harness.wait_until(lambda: (self.view("alpha") or {}).get("inventory") == 3,
                           what="alpha's inventory raised to 3")
        v = self.view("alpha")
        self.assertEqual((v["available"], v["held"]), (1, 2), v)
        self.hold_for(c, "alpha", "u3")
        _, _, b = self.hold_for(c, "beta", "u4")
        left = harness.parse_rfc3339_utc(b["hold_expires_at"]) - __import__("time").time()
        self.assertTrue(40 <= left <= 65, "beta's hold lasts %.0f s, config says 60" % left)
        note("SIGHUP: alpha 2 -> 3 items (third user held), beta added with 60 s holds")

        # Below what is held: refused, logged, the old total stays.
        self.reload([{"id": "alpha", "inventory": 1, "hold_seconds": 300},
                     {"id": "beta", "inventory": 1, "hold_seconds": 60}])
        harness.wait_until(lambda: "cannot set inventory to 1" in self.daemon.log_tail(40),
                           what="the refusal in the log")
        self.assertEqual(self.view("alpha")["inventory"], 3)

        # Dropped from the file: closed.
        self.reload([{"id": "alpha", "inventory": 3, "hold_seconds": 300}])
        harness.wait_until(lambda: (self.view("beta") or {}).get("state") == "closed",
                           what="beta closed")
        self.assertError(c.book("beta", token_for("u5")), 409, "closed")
        self.assertTrue(self.daemon.alive())
        note("inventory below held+booked refused (kept 3); beta dropped -> closed")

    def test_a_broken_file_changes_nothing(self):
        d = self.daemon
        with open(d.config_path, "a") as f:
            f.write("bogus_key: 1\n")
        d.signal(signal.SIGHUP)
        harness.wait_until(lambda: "sales not reloaded" in d.log_tail(40),
                           what="the reload error in the log")
        self.assertEqual(self.view("alpha")["inventory"], 2)
        self.hold_for(self.c, "alpha", "u1")
        note("a config with an unknown key: sales kept, daemon serving")


if __name__ == "__main__":
    harness.main()
