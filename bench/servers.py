#!/usr/bin/env python3
"""servers.py - the real backends for bench/run: Redis, RabbitMQ, CongoDB.

Owns: starting one redis-server, one private RabbitMQ node and one CongoDB
(MongoDB wire protocol) on free ports of 127.0.0.1 with their data in temp
dirs, through the test harness's own modules (tests/integration/
redis_server.py, rabbitmq_server.py, mongo_server.py), printing their URLs,
and stopping all three when told to: on stdin's end of file, SIGTERM, SIGINT
or SIGHUP. A server that fails to start stops the others and exits 1 with
the reason.

    python3 bench/servers.py [--ready FILE] < FIFO_OR_PIPE

prints (and writes to FILE, when given) one JSON line once all three answer:
    {"redis": "redis://127.0.0.1:P/0", "amqp": "amqp://...", "mongo":
     "mongodb://127.0.0.1:P", "pids": {"redis": N, "rabbitmq": N, "mongo": N}}

CongoDB is installed by mongo/install.sh on first use; FS_CONGODB_DIR says
where (see mongo_server.py). Python 3 standard library only.
"""

import argparse
import json
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from mongo_server import MongoServer  # noqa: E402
from rabbitmq_server import RabbitMQServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402


def wait_for_stop():
    """Returns on stdin's EOF or on a stop signal, whichever comes first."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    def read_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not stop.wait(0.5):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ready", help="also write the JSON line to this file")
    a = ap.parse_args()
    # Redis persists nothing (the module passes --save '' --appendonly no).
    redis = RedisServer()
    rabbit = RabbitMQServer(start_timeout=120.0)
    mongo = MongoServer()
    try:
        redis.start()
        rabbit.start()
        mongo.start()
        line = json.dumps({
            "redis": redis.url(), "amqp": rabbit.url, "mongo": mongo.uri,
            "pids": {"redis": redis.pid, "rabbitmq": rabbit.proc.pid,
                     "mongo": mongo.proc.pid}})
        print(line, flush=True)
        if a.ready:
            with open(a.ready + ".tmp", "w") as f:
                f.write(line + "\n")
            os.replace(a.ready + ".tmp", a.ready)
        wait_for_stop()
        return 0
    except Exception as exc:  # the reason goes to bench/run's log
        print("servers.py: %s" % exc, file=sys.stderr, flush=True)
        return 1
    finally:
        mongo.stop()
        rabbit.close()
        redis.close()


if __name__ == "__main__":
    sys.exit(main())
