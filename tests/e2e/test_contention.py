"""test_contention.py - many users, few items: never oversell, never undersell,
one per user, first come first served (DESIGN.md section 4, invariants 1, 2,
3 and 6), with the daemon driven by concurrent keep-alive clients."""

import time

import harness
from harness import note, token_for

INVENTORY = 100
USERS = 2000
THREADS = 64


def didnt_get_item(outcome):
    # Exact acceptance (DESIGN.md 9.7): past the stock, 409 at once; a 202
    # that later ends "rejected sold_out" is a failure.
    return outcome == "409 sold_out"


class Contention(harness.DaemonTestCase):
    SALES = [{"id": "launch", "inventory": INVENTORY, "hold_seconds": 300},
             {"id": "fifo", "inventory": 10, "hold_seconds": 300}]
    # Keep-alive connections each hold a civetweb thread: leave room for the
    # sampler and the checks beside the 64 clients.
    HTTP_THREADS = THREADS + 16

    def post(self, client, user):
        tok = token_for(user)
        r = client.book("launch", tok)
        if r.status == 202:
            return ("202", r.json["booking_id"], tok)
        if r.status == 409:
            body = r.json
            if body.get("error") == "already_booked" and client.retried:
                # our first attempt was taken before the connection dropped
                return ("202", body.get("booking_id"), tok)
            return ("409 %s" % body.get("error"), None, tok)
        return ("HTTP %d %r" % (r.status, r.body[:200]), None, tok)

    def settle(self, client, item):
        bid, tok = item
        b = harness.wait_booking(client, "launch", bid, tok, timeout=harness.scaled(30))
        return b

    def test_2000_users_100_items_sell_exactly_100(self):
        port = self.daemon.port
        users = ["user-%04d" % i for i in range(USERS)]
        sampler = harness.Sampler(port, "launch")
        sampler.start()
        t0 = time.monotonic()
        try:
            posted = harness.parallel(self.post, users, THREADS, port)
            t_post = time.monotonic() - t0
            accepted = [(p[1], p[2]) for p in posted if not isinstance(p, Exception) and p[0] == "202"]
            settled = harness.parallel(self.settle, accepted, THREADS, port)
        finally:
            sampler.stop()
        errors = [p for p in posted + settled if isinstance(p, Exception)]
        self.assertEqual(errors, [], "client errors: %r" % errors[:5])

        outcome = {}
        by_id = dict(zip([a[0] for a in accepted], settled))
        for user, p in zip(users, posted):
            if p[0] == "202":
                b = by_id[p[1]]
                outcome[user] = b["status"] if b["status"] != "rejected" else \
                    "rejected %s" % b.get("reason")
            else:
                outcome[user] = p[0]
        tally = {}
        for o in outcome.values():
            tally[o] = tally.get(o, 0) + 1
        note("%d POSTs from %d threads in %.2f s; %d accepted; outcomes %s"
             % (USERS, THREADS, t_post, len(accepted), tally))

        self.assertEqual(len(accepted), INVENTORY, "202s: %s" % tally)
        self.assertEqual(tally.get("hold", 0), INVENTORY, "holds: %s" % tally)
        losers = [u for u, o in outcome.items() if o != "hold"]
        odd = {u: outcome[u] for u in losers if not didnt_get_item(outcome[u])}
        self.assertEqual(odd, {}, "users neither holding nor sold out")
        self.assertEqual(len(losers), USERS - INVENTORY)

        # invariant 1 at every sampled instant
        self.assertEqual(sampler.errors, [], "sampler errors")
        self.assertGreaterEqual(len(sampler.samples), 5, "too few samples to mean anything")
        for s in sampler.samples:
            self.assertSaleConsistent(s, INVENTORY)
        note("%d samples of the sale view during the run: held+booked <= %d in all"
             % (len(sampler.samples), INVENTORY))

        # invariant 2 at quiescence
        view = self.sale_view(self.c, "launch")
        self.assertEqual(view["available"] + view["held"] + view["booked"], INVENTORY, view)
        self.assertEqual((view["available"], view["held"], view["booked"], view["state"]),
                         (0, INVENTORY, 0, "sold_out"), view)
        note("at quiescence: %s" % view)
        self.assertTrue(self.daemon.alive(), "daemon died")

    def test_sequential_requests_are_served_in_order(self):
        """One client, one request after the other: the order of acceptance is
        known, so exactly the first 10 users hold (invariant 6)."""
        results = []
        for i in range(25):
            user = "fifo-%02d" % i
            tok = token_for(user)
            r = self.c.book("fifo", tok)
            results.append((user, r, tok))
        outcome = []
        for user, r, tok in results:
            if r.status == 202:
                b = harness.wait_booking(self.c, "fifo", r.json["booking_id"], tok)
                outcome.append(b["status"] if b["status"] != "rejected"
                               else "rejected " + str(b.get("reason")))
            else:
                self.assertError(r, 409, "sold_out")
                outcome.append("409 sold_out")
        self.assertEqual(outcome[:10], ["hold"] * 10, outcome)
        for o in outcome[10:]:
            self.assertTrue(didnt_get_item(o), outcome)
        note("25 sequential users: first 10 hold, rest %s" % sorted(set(outcome[10:])))


if __name__ == "__main__":
    harness.main()
