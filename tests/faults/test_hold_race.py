"""test_hold_race.py - one hold confirmed, cancelled and expiring at the same
instant, from many threads (DESIGN.md section 4, invariant 5; issue 6): the
item comes back exactly once, or not at all when the confirm won.

Each round makes HOLDS holds of 1 s, then, for every hold, CALLERS threads
(half PUT, half DELETE, each on its own keep-alive connection, with the
owner's token) fire together at an instant spread across the hold's expiry
(hold_expires_at + OFFSETS[i]), while the sweeper (every 50 ms) expires it.
For every hold, exactly one of three things wins:

- a PUT: that PUT is the only 200, the booking ends `booked`;
- a DELETE: that DELETE is the only 200, the booking ends `deleted`;
- the expiry: no 200 at all, the booking ends `expired`;

every other answer is 409 `invalid_transition`. A sampler reads the public
sale view throughout (never oversold, never more available than the
inventory); once no hold is left, booked equals the PUTs that won and
available is the inventory less the booked items: an item that came back
twice would show as one too many available.

The embedded default runs here; test_hold_race_redis.py runs the same race
on the Redis inventory, whose confirm and release are Lua scripts."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
from harness import note  # noqa: E402

ROUNDS = int(os.environ.get("FS_RACE_ROUNDS", "3"))
HOLDS = 8
CALLERS = 6          # per hold: CALLERS // 2 PUTs and as many DELETEs
HOLD_SECONDS = 1
SPARE = 5            # items never held: the sale must not sell out
INVENTORY = ROUNDS * HOLDS + SPARE
SALE = {"id": "tri", "inventory": INVENTORY, "hold_seconds": HOLD_SECONDS}
# Fire instants around each hold's expiry, a few sweeps either side of it.
OFFSETS = [-0.12 + i * (0.24 / (HOLDS - 1)) for i in range(HOLDS)]
OUTCOMES = {"PUT": "booked", "DELETE": "deleted"}


class HoldRace(harness.DaemonTestCase):
    SALES = [SALE]
    HTTP_THREADS = HOLDS * CALLERS + 32

    def test_confirm_cancel_and_expiry_at_one_instant_give_the_item_back_once(self):
        sampler = harness.Sampler(self.daemon.port, SALE["id"])
        sampler.start()
        wins = {"booked": 0, "deleted": 0, "expired": 0}
        try:
            for rnd in range(ROUNDS):
                for final in self.race_round(rnd):
                    wins[final] += 1
        finally:
            sampler.stop()
        view = harness.wait_until(
            lambda: (lambda v: v if v["held"] == 0 else None)(
                self.sale_view(self.c, SALE["id"])),
            what="every hold decided")
        self.assertEqual(view["booked"], wins["booked"], (view, wins))
        self.assertEqual(view["available"], INVENTORY - wins["booked"],
                         "an item came back twice or never: %r, %r" % (view, wins))
        self.assertEqual(sampler.errors, [])
        self.assertGreater(len(sampler.samples), 0, "the sampler read nothing")
        for s in sampler.samples:
            self.assertSaleConsistent(s, INVENTORY)
        note("%d holds, %d callers each: %s; final %s; %d samples consistent"
             % (ROUNDS * HOLDS, CALLERS, wins, view, len(sampler.samples)))

    def race_round(self, rnd):
        holds, expiries = [], []
        for i in range(HOLDS):
            posted = time.time()
            hold = self.hold_for(self.c, SALE["id"], "tri-%d-%d" % (rnd, i))
            holds.append(hold)
            expiries.append(self.expiry_of(hold[2], posted, time.time()))
        answers = [[None] * CALLERS for _ in holds]
        barriers = [threading.Barrier(CALLERS, timeout=harness.scaled(15)) for _ in holds]

        def call(h, k):
            bid, tok, _ = holds[h]
            fire_at = expiries[h] + OFFSETS[h]
            op = "PUT" if k % 2 == 0 else "DELETE"
            try:
                with harness.Client(self.daemon.port) as c:
                    c.get_booking(SALE["id"], bid, tok)  # connected before the race
                    delay = fire_at - time.time()
                    if delay > 0:
                        time.sleep(delay)  # scheduling the race, not waiting for a result
                    barriers[h].wait()
                    if op == "PUT":
                        r = c.confirm(SALE["id"], bid, tok)
                    else:
                        r = c.cancel(SALE["id"], bid, tok)
                    answers[h][k] = (op, r.status, (r.json or {}).get("error"))
            except Exception as e:  # noqa: BLE001 - reported below
                answers[h][k] = e

        threads = harness.start_threads((call, h, k) for h in range(HOLDS) for k in range(CALLERS))
        harness.join_all(threads, harness.scaled(30), "race threads")
        return [self.check_hold(holds[h], answers[h]) for h in range(HOLDS)]

    @staticmethod
    def expiry_of(booking, posted, seen):
        """When the hold expires, as closely as the client can tell:
        hold_expires_at has whole seconds (floored), and the hold began
        between the POST and the GET that saw it."""
        floor = harness.parse_rfc3339_utc(booking["hold_expires_at"])
        earliest = max(floor, posted + HOLD_SECONDS)
        latest = min(floor + 1, seen + HOLD_SECONDS)
        return (earliest + latest) / 2 if earliest <= latest else floor + 0.5

    def check_hold(self, hold, answers):
        """The booking's final state, after checking that its answers agree."""
        bid, tok, _ = hold
        errors = [a for a in answers if not isinstance(a, tuple)]
        self.assertEqual(errors, [], "hold %s" % bid)
        won = [op for op, status, _ in answers if status == 200]
        lost = [(op, status, code) for op, status, code in answers if status != 200]
        self.assertLessEqual(len(won), 1, "two callers won hold %s: %r" % (bid, answers))
        for op, status, code in lost:
            self.assertEqual((status, code), (409, "invalid_transition"),
                             "%s on hold %s: %r" % (op, bid, answers))
        final = harness.wait_booking(self.c, SALE["id"], bid, tok,
                                     done=lambda b: b["status"] in harness.FINAL_STATES)
        want = OUTCOMES[won[0]] if won else "expired"
        self.assertEqual(final["status"], want,
                         "hold %s answered %r but ended %r" % (bid, answers, final))
        return want


if __name__ == "__main__":
    harness.main()
