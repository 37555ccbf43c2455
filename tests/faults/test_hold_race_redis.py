"""test_hold_race_redis.py - the race of test_hold_race.py (one hold
confirmed, cancelled and expiring at the same instant, from many threads)
on the Redis inventory, whose confirm, release and expiry are EVAL Lua
scripts: a real redis-server started here on a free port (a server that
cannot start fails the test). The queue and storage stay embedded, so that
what races is the inventory's scripts, not a broker."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import test_hold_race as race  # noqa: E402
from redis_server import RedisServer  # noqa: E402


class HoldRaceOnRedis(race.HoldRace):
    START_DAEMON = False

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        cls.redis.start()

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()

    def setUp(self):
        super().setUp()
        plugins = (
            "  queue: { name: memory }",
            "  inventory: { name: redis, url: %s, prefix: race%d }"
            % (harness.yaml_scalar(self.redis.url()), os.getpid()),
            "  storage: { name: sqlite, path: data/bookings.db }",
        )
        self.daemon = self.start_daemon(self.SALES, http_threads=self.HTTP_THREADS,
                                        plugin_lines=plugins)
        self.c = self.client()


if __name__ == "__main__":
    harness.main()
