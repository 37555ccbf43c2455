"""run_on_real_backends.py - the end-to-end suite again, on the real plugin
set: starts redis-server, a private RabbitMQ node and CongoDB on free ports
(tests/integration/*_server.py), then runs each end-to-end file below with
FS_E2E_AMQP_URL, FS_E2E_REDIS_URL and FS_E2E_MONGO_URI set, which makes every
daemon the harness starts use rabbitmq, redis and mongo (each daemon with its
own queue, key prefix and database). Fails if any file fails, or if a server
cannot start. The files left out test what only the embedded default has
(the CLI on the sample config, the SIGKILL test's reading of a local data
dir) or already run on the real set (test_real_backends.py)."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from mongo_server import MongoServer  # noqa: E402
from rabbitmq_server import RabbitMQServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402

FILES = ["test_routes.py", "test_auth.py", "test_contention.py", "test_expiry.py",
         "test_bad_input.py", "test_events.py", "test_policies.py",
         "test_reload_sales.py"]


def main():
    failed = []
    with RedisServer() as redis, RabbitMQServer() as rabbit, MongoServer() as mongo:
        env = dict(os.environ, FS_E2E_AMQP_URL=rabbit.url, FS_E2E_REDIS_URL=redis.url(),
                   FS_E2E_MONGO_URI=mongo.uri)
        for name in FILES:
            t0 = time.monotonic()
            rc = subprocess.call([sys.executable, os.path.join(HERE, name)], env=env,
                                 timeout=600)
            print("==== %s on the real set: %s in %.1f s"
                  % (name, "ok" if rc == 0 else "FAILED (%d)" % rc, time.monotonic() - t0),
                  flush=True)
            if rc != 0:
                failed.append(name)
    print("%d passed, %d failed" % (len(FILES) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
