"""test_three_daemons.py - three daemons over the same real backends (one
RabbitMQ queue, one Redis inventory, one MongoDB-wire database), one of
them SIGKILLed in the middle of a contended sale (DESIGN.md sections 4 and
5; issue 6). The invariants must hold across all three:

- no oversell at any sampled instant, on the daemons left running;
- every booking answered 202 by any daemon (the victim included, before it
  died) reaches hold or a final state: none lost, none stuck queued;
- only the victim's requests may go unanswered, and only once it was
  killed; a user refused with 503 (with Retry-After) asks again, a bounded
  number of times, so a daemon that only ever answered 503 fails the test;
- the survivors accept bookings, and no more 202s are given than there are
  items (exact acceptance, DESIGN.md 9.7); every 202 ends a hold;
- users whose answer the kill swallowed learn their fate by asking again
  (503 while their claim on the victim awaits its lease);
- the sale sells out exactly: late users take the items of the victim's
  claims that lapsed, and then every daemon's view reads available 0, held =
  the inventory, and the same counts; the holds found by GETting every
  booking answered 202 are the inventory, give or take those users told
  sold_out on asking again.

The victim is restarted on a new port afterwards and must agree too.
FS_THREE_DAEMON_ROUNDS repeats it (default 1; tests/faults/run-long runs
3), each round a fresh set of daemons, queue, key prefix and database."""

import http.client
import itertools
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402
import real_backends  # noqa: E402
from harness import note, token_for  # noqa: E402

ROUNDS = int(os.environ.get("FS_THREE_DAEMON_ROUNDS", "1"))
INVENTORY = 50
PER_DAEMON = 120
CLIENT_THREADS = 16
# A user refused with 503 asks again this often, waiting Retry-After (capped
# at ASK_PAUSE_S so that a daemon refusing everyone fails the test soon).
MAX_ASKS = 20
ASK_PAUSE_S = 0.25
LEASE_MS = 1000


class ThreeDaemons(real_backends.RealBackendsCase):

    def test_three_daemons_one_killed_mid_sale_keep_every_invariant(self):
        base = self.ns
        for rnd in range(ROUNDS):
            self.ns = "%s_r%d" % (base, rnd)  # a fresh queue, key prefix and database
            self.one_round("trio%d" % rnd)

    def one_round(self, sale_id):
        sales = [{"id": sale_id, "inventory": INVENTORY, "hold_seconds": 300}]
        # A short lease: the victim's unconfirmed claims come back soon, and
        # their users, told 503 meanwhile, learn their fate in resolve().
        daemons = [self.real_daemon(sales, threads=40, claim_lease_ms=LEASE_MS)
                   for _ in range(3)]
        victim = daemons[1]
        samplers = [harness.Sampler(d.port, sale_id) for d in daemons if d is not victim]
        for s in samplers:
            s.start()
        try:
            accepted, unknown, per_daemon = self.crowd(sale_id, daemons, victim)
        finally:
            for s in samplers:
                s.stop()
        self.assertFalse(victim.alive(), "the victim was killed")
        survivors_202 = per_daemon[0] + per_daemon[2]
        self.assertGreater(survivors_202, 0, "the survivors accepted nothing: %r" % per_daemon)
        self.assertLessEqual(len(accepted), INVENTORY, "more 202s than items")
        victim.start(new_port=True)
        unresolved = self.resolve(sale_id, daemons[0], accepted, unknown)
        late = self.sell_out(sale_id, [daemons[0], daemons[2]], accepted)
        self.assertLessEqual(len(accepted), INVENTORY, "more 202s than items")
        holds = self.settle(sale_id, daemons[2], accepted)
        # Sold out exactly: the crowd asked for far more than the stock, and
        # every item ends held by a booking answered 202. Polled: a booking
        # of an unresolved user may still be on its way through the queue.
        clients = [self.client(d) for d in daemons]
        sold_out = (0, INVENTORY, 0)

        def all_sold_out():
            views = [self.sale_view(c, sale_id) for c in clients]
            if all((v["available"], v["held"], v["booked"]) == sold_out for v in views):
                return views
            last[0] = views
            return None

        last = [None]
        try:
            views = harness.wait_until(all_sold_out, timeout=harness.scaled(30),
                                       what="every daemon's view sold out exactly")
        except AssertionError as e:
            raise AssertionError("%s: last views %r" % (e, last[0])) from None
        for view in views:
            self.assertEqual(view, views[0], "the daemons disagree")
        # A user the kill left without an answer, told sold_out on asking
        # again, may still hold an item the test cannot name.
        self.assertLessEqual(holds, INVENTORY, "more holds than items")
        self.assertGreaterEqual(holds, INVENTORY - unresolved,
                                "items held by no booking answered 202")
        for s in samplers:
            self.assertEqual(s.errors, [], "a surviving daemon failed to answer")
            self.assertGreater(len(s.samples), 0)
            for v in s.samples:
                self.assertSaleConsistent(v, INVENTORY)
        note("3 daemons, one SIGKILLed mid-sale and restarted: 202s per daemon %r, "
             "%d more to late users, %d hold, %d unknown (%d unresolved), %d samples "
             "consistent, %s" % (per_daemon, late, holds, len(unknown), unresolved,
                                 sum(len(s.samples) for s in samplers), views[0]))
        for d in daemons:
            d.close()

    def crowd(self, sale_id, daemons, victim):
        """PER_DAEMON users on each daemon at once; kills the victim after a
        third of its answers. A user refused with 503 asks again (after its
        Retry-After, a bounded number of times). Returns ({user: booking id}
        of the 202s, the users whose answer the kill swallowed, 202s per
        daemon). Only the victim's requests may fail, and only once it was
        killed; anything else fails the test."""
        accepted, unknown = {}, set()
        per_daemon = [0] * len(daemons)
        lock = threading.Lock()
        answered = [0]
        killed = threading.Event()

        def ask(client, d, user):
            for _ in range(MAX_ASKS):
                try:
                    r = client.book(sale_id, token_for(user))
                except (OSError, http.client.HTTPException):
                    if d is victim and killed.is_set():
                        return None  # the kill cut it short: asked again later
                    raise
                if r.status != 503:
                    return r
                self.assertEqual(r.json.get("error"), "unavailable", r)
                retry = r.header("Retry-After")
                self.assertTrue(retry and retry.isdigit(), "503 without Retry-After: %r" % r)
                time.sleep(min(int(retry), ASK_PAUSE_S))  # a client honouring Retry-After
            raise AssertionError("%s refused %d times with 503" % (user, MAX_ASKS))

        def post_to(i, d):
            def post(client, user):
                r = ask(client, d, user)
                with lock:
                    if r is None:
                        unknown.add(user)
                        return
                    if r.status == 202:
                        accepted[user] = r.json["booking_id"]
                        per_daemon[i] += 1
                    elif (r.status, r.json.get("error")) != (409, "sold_out"):
                        raise AssertionError("%s: %r" % (user, r))
                    if d is victim:
                        answered[0] += 1
                        if answered[0] == PER_DAEMON // 3:
                            killed.set()
                            victim.kill()  # SIGKILL mid-sale
            return post

        def one_daemon(i, d):
            users = ["%s-d%d-u%04d" % (sale_id, i, k) for k in range(PER_DAEMON)]
            errors = [r for r in harness.parallel(post_to(i, d), users, CLIENT_THREADS, d.port)
                      if isinstance(r, Exception)]
            if errors:
                raise errors[0]

        harness.join_all(harness.start_threads((one_daemon, i, d) for i, d in enumerate(daemons)),
                         harness.scaled(120), "daemons' client threads")
        self.assertTrue(killed.is_set(), "the victim was never killed")
        return accepted, unknown, per_daemon

    def resolve(self, sale_id, daemon, accepted, unknown):
        """Users whose answer the kill swallowed ask again: the 202 or the
        409 already_booked names their booking. Returns how many were
        refused as sold out: they may hold an item nobody can see."""
        c = self.client(daemon)
        unresolved = 0
        for user in sorted(unknown):
            # 503 while the user's claim on the victim awaits its lease.
            r = harness.book_settled(c, sale_id, token_for(user),
                                     timeout=harness.scaled(LEASE_MS / 1000 + 10))
            if r.status == 202 or (r.status, r.json.get("error")) == (409, "already_booked"):
                accepted[user] = r.json["booking_id"]
            else:
                self.assertError(r, 409, "sold_out")
                unresolved += 1
        return unresolved

    def sell_out(self, sale_id, survivors, accepted):
        """Fresh users ask the survivors until the sale reads sold out: the
        items of the victim's claims that never became a 202 come back
        after the lease, and must be sold again, exactly. Returns how many
        late users were accepted."""
        clients = [self.client(d) for d in survivors]
        late = itertools.count()
        accepted_late = [0]

        def sold_out():
            n = next(late)
            user = "%s-late%04d" % (sale_id, n)
            r = harness.book_settled(clients[n % len(clients)], sale_id, token_for(user))
            if r.status == 202:
                accepted[user] = r.json["booking_id"]
                accepted_late[0] += 1
            else:
                self.assertError(r, 409, "sold_out")
            view = self.sale_view(clients[0], sale_id)
            return view if view["available"] == 0 else None

        harness.wait_until(sold_out, timeout=harness.scaled(30),
                           what="the sale sold out to late users")
        return accepted_late[0]

    def settle(self, sale_id, daemon, accepted):
        """Every accepted booking leaves queued; returns how many hold."""
        def wait(client, item):
            user, bid = item
            return harness.wait_booking(client, sale_id, bid, token_for(user),
                                        timeout=harness.scaled(30))

        settled = harness.parallel(wait, sorted(accepted.items()), CLIENT_THREADS, daemon.port)
        self.assertEqual([s for s in settled if isinstance(s, Exception)], [],
                         "bookings lost or stuck")
        # Exact acceptance (DESIGN.md 9.7): every 202, and every booking
        # named by already_booked, holds a claim on an item that survives
        # the kill; none ends rejected.
        for s in settled:
            self.assertEqual(s["status"], "hold", s)
        return len(settled)


if __name__ == "__main__":
    harness.main()
