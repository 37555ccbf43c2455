"""test_replica_events.py - the sale replica and events across daemons on
the real plugin set (DESIGN.md section 9, invariant 9; issue 14 items 4
and 5), with two daemons on one Redis, one RabbitMQ and one MongoDB-wire
server started by the test:

- a sold-out sale is answered from the daemon's replica: across a burst of
  POSTs and GETs, Redis' INFO commandstats does not move; a user who holds
  an item (on this daemon or another) still hears already_booked;
- a sale sold out on daemon A takes bookings again on A once an item comes
  back on daemon B (a cancel), learnt through Pub/Sub;
- a count change the daemon never heard (a forged message) is repaired by
  the periodic resync;
- an event stream open on A gets the changes made on B (confirm, cancel,
  expiry), and keeps getting them across a Redis restart."""

import os
import socket
import sys
import time

import harness
import real_backends
from harness import note, token_for
from test_events import Stream

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "integration"))
from redis_server import _encode, _Reader  # noqa: E402

# No background Redis traffic during a measurement: the sweeper and the
# resync are told to wait longer than any test runs.
QUIET_WORKER = {"resync_interval_ms": 600000}
QUIET_SWEEP_MS = 60000


class Subscriber:
    """A raw Redis connection SUBSCRIBEd to one channel, read with a bound."""

    def __init__(self, redis, channel):
        self.sock = socket.create_connection((redis.host, redis.port), 5)
        self.reader = _Reader(self.sock)
        self.sock.sendall(_encode(["SUBSCRIBE", channel]))
        self.reader.reply()  # the confirmation

    def wait_for(self, wanted, timeout):
        """Reads messages until every one of `wanted` (a set of str) was
        seen; fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        missing = set(wanted)
        while missing:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("messages %r not published within %.0f s"
                                     % (sorted(missing), timeout))
            self.sock.settimeout(left)
            kind, _, data = self.reader.reply()
            if kind == b"message":
                missing.discard(data.decode())

    def close(self):
        self.sock.close()


def commandstats(redis):
    """{command: calls} from INFO commandstats."""
    stats = {}
    for line in redis.command("INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_"):].partition(":")
            stats[name] = int(rest.split(",")[0].split("=")[1])
    return stats


class ReplicaAndEvents(real_backends.RealBackendsCase):

    def two_daemons(self, sales, **kw):
        return [self.real_daemon(sales, threads=24, **kw) for _ in range(2)]

    def wait_live(self, d, times=1):
        """The daemon's replica is live (synced after its times-th
        subscription): its log says so."""
        harness.wait_until(
            lambda: d.full_log().count("change feed live") >= times,
            timeout=harness.scaled(10), what="the change feed live on port %d" % d.port)

    def daemon_as_redis_user(self, tag, sales, **kw):
        """A daemon whose inventory connects to Redis as an ACL user of its
        own (allowed everything for now), which a test can then restrict or
        turn off; returns (user, daemon)."""
        user, password = "%s_%s" % (self.ns, tag), "pw-%s" % self.ns
        self.redis.command("ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all")
        lines = self.plugin_lines(self.redis.url(user=user, password=password))
        return user, self.start_daemon(sales, http_threads=24, plugin_lines=lines, **kw)

    def wait_view(self, client, sale, pred, what):
        """Polls GET /sales/{sale} until pred(view); a 503 (a backend just
        came back and is reconnecting) is polled through, anything else but
        200 fails."""
        last = [None]

        def check():
            r = client.sale(sale)
            last[0] = r
            if r.status == 503:
                return None
            self.assertEqual(r.status, 200, "GET sales/%s: %r" % (sale, r))
            last[0] = self.assertJson(r)
            return pred(last[0])
        try:
            return harness.wait_until(check, timeout=harness.scaled(10), what=what)
        except AssertionError as e:
            raise AssertionError("%s: last view %r" % (e, last[0])) from None

    def open_stream(self, d, sale, bid, user):
        s = Stream(d.port, sale, bid, token_for(user))
        self.addCleanup(s.close)
        self.assertEqual(s.resp.status, 200)
        return s

    def next_names(self, stream, n):
        names = []
        for _ in range(n):
            ev = stream.next_event()
            self.assertIsNotNone(ev, "the stream ended after %r" % names)
            names.append(ev[1])
        return names

    # ---- the replica ---------------------------------------------------

    def test_sold_out_sale_is_answered_without_asking_redis(self):
        sale = "quiet"
        d = self.real_daemon([{"id": sale, "inventory": 2, "hold_seconds": 300}],
                             threads=24, sweep_interval_ms=QUIET_SWEEP_MS,
                             worker_keys=QUIET_WORKER)
        c = self.client(d)
        self.wait_live(d)
        sub = Subscriber(self.redis, "%s:changes" % self.ns)
        self.addCleanup(sub.close)
        bids = [self.book_ok(c, sale, "buyer%d" % i)[0] for i in range(2)]
        # Each booking's hold is announced last, after its Redis scripts:
        # once both are heard, nothing else of theirs is on its way.
        sub.wait_for({"b %s" % b for b in bids}, harness.scaled(10))
        self.wait_view(c, sale, lambda v: v["state"] == "sold_out" and v["held"] == 2,
                       "sold out with both held")
        before = commandstats(self.redis)
        for i in range(200):
            self.assertError(c.book(sale, token_for("late%d" % i)), 409, "sold_out")
        for _ in range(100):
            self.assertEqual(self.sale_view(c, sale)["state"], "sold_out")
        after = commandstats(self.redis)
        before.pop("info", None)
        after.pop("info", None)
        self.assertEqual(after, before, "Redis was asked during the sold-out burst")
        # A holder asking again (say, a client that lost its 202) is sent
        # on to Redis and learns its booking.
        for i, bid in enumerate(bids):
            r = c.book(sale, token_for("buyer%d" % i))
            self.assertError(r, 409, "already_booked")
            self.assertEqual(r.json["booking_id"], bid)
        note("sold out: 200 POSTs and 100 GETs, Redis commandstats unchanged (%d "
             "EVALSHA calls before and after); holders asking again still hear "
             "already_booked" % before.get("evalsha", 0))

    def test_an_item_given_back_on_b_is_sold_again_on_a(self):
        sale = "comeback"
        a, b = self.two_daemons([{"id": sale, "inventory": 1, "hold_seconds": 300}])
        ca, cb = self.client(a), self.client(b)
        self.wait_live(a)
        bid, tok, _ = self.hold_for(cb, sale, "first")
        self.wait_view(ca, sale, lambda v: v["state"] == "sold_out", "A sees sold out")
        self.assertError(ca.book(sale, token_for("second")), 409, "sold_out")
        r = ca.book(sale, tok)  # the holder, on the other daemon
        self.assertError(r, 409, "already_booked")
        self.assertEqual(r.json["booking_id"], bid)
        r = cb.cancel(sale, bid, tok)
        self.assertEqual(r.status, 200, r)
        self.wait_view(ca, sale, lambda v: v["available"] == 1, "A sees the item back")
        self.book_ok(ca, sale, "second")
        self.assertError(cb.book(sale, token_for("third")), 409, "sold_out")
        note("sold out on A, cancel on B, A sold the item again; B then sold out")

    def test_a_missed_change_is_repaired_by_the_periodic_resync(self):
        sale = "repair"
        d = self.real_daemon([{"id": sale, "inventory": 5, "hold_seconds": 300}],
                             threads=24, worker_keys={"resync_interval_ms": 500})
        c = self.client(d)
        self.wait_live(d)
        self.wait_view(c, sale, lambda v: v["available"] == 5, "five available")
        # A forged message stands for a real one the daemon heard wrong or
        # never: the replica says sold out while Redis has five.
        self.redis.command("PUBLISH", "%s:changes" % self.ns, "c %s 5 0 5 0" % sale)
        self.wait_view(c, sale, lambda v: v["state"] == "sold_out", "the forged sold out")
        self.assertError(c.book(sale, token_for("early")), 409, "sold_out")
        self.wait_view(c, sale, lambda v: v["available"] == 5, "the resync repairs it")
        self.book_ok(c, sale, "later")
        note("a forged sold-out message was repaired by the next resync")

    # ---- events across daemons -----------------------------------------

    def test_stream_on_a_gets_confirm_cancel_and_expiry_made_on_b(self):
        hold_s = max(2, round(harness.scaled(2)))
        sales = [{"id": "far", "inventory": 10, "hold_seconds": 300},
                 {"id": "brief", "inventory": 10, "hold_seconds": hold_s}]
        a, b = self.two_daemons(sales)
        cb = self.client(b)
        self.wait_live(a)
        confirmed, tok1, _ = self.hold_for(cb, "far", "carol")
        cancelled, tok2, _ = self.hold_for(cb, "far", "dave")
        expiring, _, _ = self.hold_for(cb, "brief", "erin")
        streams = [self.open_stream(a, "far", confirmed, "carol"),
                   self.open_stream(a, "far", cancelled, "dave"),
                   self.open_stream(a, "brief", expiring, "erin")]
        for s in streams:
            self.assertEqual(self.next_names(s, 1), ["hold"])
        t0 = time.monotonic()
        self.assertEqual(cb.confirm("far", confirmed, tok1).status, 200)
        self.assertEqual(self.next_names(streams[0], 1), ["booked"])
        confirm_s = time.monotonic() - t0
        self.assertEqual(cb.cancel("far", cancelled, tok2).status, 200)
        self.assertEqual(self.next_names(streams[1], 1), ["deleted"])
        self.assertEqual(self.next_names(streams[2], 1), ["expired"])
        for s in streams:
            self.assertIsNone(s.next_event(), "a stream must end after a final state")
        note("stream on A: booked, deleted and expired made on B (confirm seen "
             "%.1f ms after B's answer began)" % (confirm_s * 1000))

    def test_streams_on_a_miss_nothing_across_a_redis_restart(self):
        sale = "restart"
        a, b = self.two_daemons([{"id": sale, "inventory": 10, "hold_seconds": 300}])
        ca, cb = self.client(a), self.client(b)
        self.wait_live(a)
        bid, tok, _ = self.hold_for(cb, sale, "frank")
        stream = self.open_stream(a, sale, bid, "frank")
        self.assertEqual(self.next_names(stream, 1), ["hold"])
        self.redis.kill()    # SIGKILL: every subscription drops
        self.redis.start()   # back on its port, empty (no persistence)
        self.wait_live(a, times=2)
        # The sale is rebuilt from storage on first use; B then confirms.
        self.wait_view(cb, sale, lambda v: v["held"] == 1, "B rebuilt the sale")
        r = harness.wait_until(lambda: (lambda r: r if r.status != 503 else None)(
            cb.confirm(sale, bid, tok)), timeout=harness.scaled(10),
            what="B's confirm past the restart")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.next_names(stream, 1), ["booked"])
        self.assertIsNone(stream.next_event())
        self.wait_view(ca, sale, lambda v: v["booked"] == 1 and v["held"] == 0,
                       "A's replica follows the rebuilt sale")
        note("Redis SIGKILLed and restarted empty: A resubscribed, the stream "
             "still got B's confirm")

    def test_a_change_missed_while_a_is_cut_off_is_read_when_it_is_back(self):
        """A's connections to Redis are cut and refused (its ACL user turned
        off) while B confirms: A never hears B's message, and its stream
        must send `booked` once A resubscribes and the stream re-reads."""
        sale = "cutoff"
        sales = [{"id": sale, "inventory": 10, "hold_seconds": 300}]
        user, a = self.daemon_as_redis_user("a", sales)
        b = self.real_daemon(sales, threads=24)
        cb = self.client(b)
        self.wait_live(a)
        bid, tok, _ = self.hold_for(cb, sale, "gina")
        stream = self.open_stream(a, sale, bid, "gina")
        self.assertEqual(self.next_names(stream, 1), ["hold"])
        self.redis.command("ACL", "SETUSER", user, "off")
        self.assertGreater(self.redis.command("CLIENT", "KILL", "USER", user), 0)
        harness.wait_until(lambda: "change feed lost" in a.full_log(),
                           timeout=harness.scaled(10), what="A's feed lost")
        self.assertEqual(cb.confirm(sale, bid, tok).status, 200)
        self.redis.command("ACL", "SETUSER", user, "on")
        self.assertEqual(self.next_names(stream, 1), ["booked"])
        self.assertIsNone(stream.next_event())
        self.wait_live(a, times=2)
        note("B's confirm made while A was cut off from Redis reached A's stream "
             "when A resubscribed")

    def scripts_refused_to(self, user):
        """Redis's ACL LOG holds a command of `user` it refused (a script,
        or the SCRIPT LOAD of a connection being set up)."""
        for entry in self.redis.command("ACL", "LOG"):
            fields = dict(zip(entry[::2], entry[1::2]))
            if fields.get(b"username") == user.encode():
                return True
        return False

    def test_a_failed_sync_is_tried_again_well_before_the_interval(self):
        """A resubscribes while Redis refuses it scripts (ACL), so its first
        sync fails; the replica must go live soon after scripts are allowed
        again, not one resync_interval_ms (10 minutes here) later."""
        sale = "resync"
        user, a = self.daemon_as_redis_user(
            "r", [{"id": sale, "inventory": 3, "hold_seconds": 300}],
            sweep_interval_ms=QUIET_SWEEP_MS, worker_keys=QUIET_WORKER)
        self.wait_live(a)
        self.redis.command("ACL", "LOG", "RESET")
        self.redis.command("ACL", "SETUSER", user, "-@scripting")
        self.assertGreater(self.redis.command("CLIENT", "KILL", "USER", user), 0)
        harness.wait_until(lambda: "change feed lost" in a.full_log(),
                           timeout=harness.scaled(10), what="A's feed lost")
        harness.wait_until(lambda: self.scripts_refused_to(user),
                           timeout=harness.scaled(10), what="a script of A's refused")
        self.redis.command("ACL", "SETUSER", user, "+@all")
        t0 = time.monotonic()
        self.wait_live(a, times=2)
        log = a.full_log()
        self.assertIn("change feed: sync failed", log)
        self.assertIn("change feed: sync works again", log)
        note("a sync refused after A resubscribed: live again %.2f s after scripts "
             "were allowed (resync_interval_ms %d)"
             % (time.monotonic() - t0, QUIET_WORKER["resync_interval_ms"]))


if __name__ == "__main__":
    harness.main()
