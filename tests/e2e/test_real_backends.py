"""test_real_backends.py - the daemon on the real plugin set: RabbitMQ queue,
Redis inventory, MongoDB-wire storage (CongoDB), each a real server started
here on a free port (tests/integration/*_server.py). Covers a whole booking,
two daemons sharing one contended sale (no oversell, no duplicate, nothing
lost), a backend going away (503 with Retry-After, /readyz naming it,
recovery without a restart) and Redis losing its data (inventory rebuilt
from storage)."""

import itertools
import os
import sys
import threading

import harness
from harness import note, token_for

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "integration"))
from mongo_server import MongoServer  # noqa: E402
from rabbitmq_server import RabbitMQServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402

_names = itertools.count(1)


class RealBackends(harness.DaemonTestCase):
    START_DAEMON = False
    servers = None

    @classmethod
    def setUpClass(cls):
        # One set of servers for the file: RabbitMQ takes seconds to boot.
        # Each test isolates itself with its own queue, key prefix and
        # database. A server that cannot start fails the tests, never skips.
        cls.redis = RedisServer()
        cls.rabbit = RabbitMQServer()
        cls.mongo = MongoServer()
        cls.redis.start()
        cls.rabbit.start()
        cls.mongo.start()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.mongo, cls.rabbit, cls.redis):
            try:
                s.close() if hasattr(s, "close") else s.stop()
            except Exception as e:  # noqa: BLE001 - best effort cleanup
                sys.stderr.write("stopping %r: %r\n" % (s, e))

    def setUp(self):
        super().setUp()
        n = next(_names)
        self.ns = "t%d_%d" % (os.getpid(), n)
        if not self.redis.running:
            self.redis.restart()

    def plugin_lines(self):
        return (
            "  queue: { name: rabbitmq, url: %s, queue: %s }"
            % (harness.yaml_scalar(self.rabbit.url), self.ns),
            "  inventory: { name: redis, url: %s, prefix: %s }"
            % (harness.yaml_scalar(self.redis.url()), self.ns),
            "  storage: { name: mongo, uri: %s, database: %s, write_concern: 1 }"
            % (harness.yaml_scalar(self.mongo.uri), self.ns),
        )

    def real_daemon(self, sales, threads=64):
        return self.start_daemon(sales, http_threads=threads,
                                 plugin_lines=self.plugin_lines())

    def test_a_whole_booking_on_the_real_backends(self):
        d = self.real_daemon([{"id": "real", "inventory": 3, "hold_seconds": 300}])
        c = self.client(d)
        r = c.request("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual({k: v["plugin"] for k, v in r.json["backends"].items()},
                         {"queue": "rabbitmq", "inventory": "redis", "storage": "mongo"})
        bid, _, _ = self.hold_for(c, "real", "alice")
        r = c.confirm("real", bid, token_for("alice"))
        self.assertEqual((r.status, r.json["status"]), (200, "booked"), r)
        other, _, _ = self.hold_for(c, "real", "bob")
        r = c.cancel("real", other, token_for("bob"))
        self.assertEqual((r.status, r.json["status"]), (200, "deleted"), r)
        self.assertError(c.book("real", token_for("alice")), 409, "already_booked")
        view = self.sale_view(c, "real")
        self.assertEqual((view["available"], view["held"], view["booked"]), (2, 0, 1), view)
        note("rabbitmq + redis + mongo: hold, confirm, cancel, duplicate: %s" % view)

    def test_two_daemons_share_one_contended_sale(self):
        inventory, users = 60, 600
        sales = [{"id": "shared", "inventory": inventory, "hold_seconds": 300}]
        a = self.real_daemon(sales)
        b = self.real_daemon(sales)
        names = ["u%04d" % i for i in range(users)]
        outcome = {}    # user -> the booking id answered 202
        repeats = []    # (user, booking id named by 409 already_booked)
        lock = threading.Lock()

        def post(client, user):
            r = client.book("shared", token_for(user))
            with lock:
                if r.status == 202:
                    if user in outcome:
                        return AssertionError("%s accepted twice" % user)
                    outcome[user] = r.json["booking_id"]
                elif r.status == 409 and r.json.get("error") == "already_booked":
                    repeats.append((user, r.json["booking_id"]))
                elif r.status != 409 or r.json.get("error") != "sold_out":
                    return AssertionError("%s: %r" % (user, r))
            return None

        samplers = [harness.Sampler(a.port, "shared"), harness.Sampler(b.port, "shared")]
        for s in samplers:
            s.start()
        try:
            # Half the crowd on each daemon, at the same time; the same users
            # also try the other daemon, to race one-per-user across them.
            results = []
            ts = [threading.Thread(target=lambda d=d, part=part: results.extend(
                harness.parallel(post, part, 24, d.port)))
                for d, part in ((a, names[0::2] + names[1::2][:40]),
                                (b, names[1::2] + names[0::2][:40]))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
        finally:
            for s in samplers:
                s.stop()
        errors = [r for r in results if isinstance(r, Exception)]
        self.assertEqual(errors, [], "unexpected answers")
        for user, bid in repeats:  # the one booking the user really has
            self.assertEqual(outcome.get(user), bid, "already_booked names another booking")

        def settle(client, item):
            user, bid = item
            return harness.wait_booking(client, "shared", bid, token_for(user), timeout=30)

        items = sorted(outcome.items())
        settled = harness.parallel(settle, items, 24, a.port)
        stuck = [s for s in settled if isinstance(s, Exception)]
        self.assertEqual(stuck, [], "bookings lost or stuck")
        holds = [s for s in settled if s["status"] == "hold"]
        self.assertEqual(len(holds), inventory, "holds across both daemons")
        for s in settled:
            if s["status"] != "hold":
                self.assertEqual((s["status"], s.get("reason")), ("rejected", "sold_out"), s)
        for s in samplers:
            for v in s.samples:
                self.assertLessEqual(v["held"] + v["booked"], inventory, v)
        for d in (a, b):
            view = self.sale_view(self.client(d), "shared")
            self.assertEqual((view["available"], view["held"], view["booked"]),
                             (0, inventory, 0), view)
        note("2 daemons, %d users (80 asking both, %d told already_booked): %d accepted, "
             "%d hold, %d samples all <= %d"
             % (users, len(repeats), len(outcome), len(holds),
                sum(len(s.samples) for s in samplers), inventory))

    def test_redis_down_answers_503_and_recovers_with_its_data_rebuilt(self):
        d = self.real_daemon([{"id": "outage", "inventory": 5, "hold_seconds": 300}])
        c = self.client(d)
        held, _, _ = self.hold_for(c, "outage", "alice")
        self.redis.kill()
        r = c.book("outage", token_for("bob"))
        self.assertError(r, 503, "unavailable")
        self.assertIsNotNone(r.header("Retry-After"), r)
        r = c.request("GET", "/readyz")
        self.assertEqual(r.status, 503, r)
        self.assertFalse(r.json["backends"]["inventory"]["ok"], r.json)
        self.assertTrue(r.json["backends"]["storage"]["ok"], r.json)
        note("redis killed: POST 503 with Retry-After %s, /readyz names the inventory"
             % r.header("Retry-After"))
        # Back without its data (no persistence): the daemon rebuilds the
        # sale from storage and goes on, without a restart.
        self.redis.start()
        harness.wait_until(lambda: c.request("GET", "/readyz").status == 200,
                           what="/readyz 200 after redis came back")
        view = self.sale_view(c, "outage")
        self.assertEqual((view["held"], view["available"]), (1, 4), view)
        r = c.book("outage", token_for("alice"))
        self.assertError(r, 409, "already_booked")
        self.assertEqual(r.json["booking_id"], held)
        self.hold_for(c, "outage", "bob")
        note("redis restarted empty: rebuilt from storage %s; alice still holds %s"
             % (view, held))


if __name__ == "__main__":
    harness.main()
