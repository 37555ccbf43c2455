"""real_backends.py - the fixture of the tests that run the daemon on the real
plugin set: one redis-server, one RabbitMQ node and one CongoDB (MongoDB
wire protocol) per test file, each started on a free port by the helpers in
tests/integration, and a daemon per test with a queue, key prefix and
database of its own. Used by tests/e2e/test_real_backends.py and
tests/faults/test_three_daemons.py; it holds no test itself."""

import itertools
import os
import sys

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "integration"))
from mongo_server import MongoServer  # noqa: E402
from rabbitmq_server import RabbitMQServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402

_names = itertools.count(1)


def stop_servers(*servers):
    """Stops each server, best effort: one that fails to stop is reported
    and the others are still stopped."""
    for s in servers:
        try:
            s.close() if hasattr(s, "close") else s.stop()
        except Exception as e:  # noqa: BLE001 - best effort cleanup
            sys.stderr.write("stopping %r: %r\n" % (s, e))


class RealBackendsCase(harness.DaemonTestCase):
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
        stop_servers(cls.mongo, cls.rabbit, cls.redis)

    def setUp(self):
        super().setUp()
        n = next(_names)
        self.ns = "t%d_%d" % (os.getpid(), n)
        if not self.redis.running:
            self.redis.restart()

    def plugin_lines(self, redis_url=None):
        """The three real plugins' config lines; `redis_url`: the inventory
        connects with it instead of the server's default URL."""
        return (
            "  queue: { name: rabbitmq, url: %s, queue: %s }"
            % (harness.yaml_scalar(self.rabbit.url), self.ns),
            "  inventory: { name: redis, url: %s, prefix: %s, command_timeout_ms: 3000 }"
            % (harness.yaml_scalar(redis_url or self.redis.url()), self.ns),
            "  storage: { name: mongo, uri: %s, database: %s, write_concern: 1,"
            " timeout_ms: 1500 }" % (harness.yaml_scalar(self.mongo.uri), self.ns),
        )

    def real_daemon(self, sales, threads=64, **kw):
        return self.start_daemon(sales, http_threads=threads,
                                 plugin_lines=self.plugin_lines(), **kw)
