#!/usr/bin/env python3
"""cross_events.py - how late an event stream on one daemon learns of a
change made on another (DESIGN.md section 9, invariant 9).

Owns: starting one redis-server, one RabbitMQ node and one CongoDB on free
ports (bench/servers.py's modules) and two daemons A and B on them (the e2e
harness's Daemon, so FS_DAEMON / FS_PLUGIN_DIR / FS_SRCDIR say which build),
booking COUNT users on B and waiting for their holds, opening one event
stream per booking on A (and, for comparison, one on B), then confirming the
bookings on B one after another. For each, the latency is the time from
just before B's confirm request is sent to the `booked` event read on the
stream: an upper bound of the propagation, B's own confirm included. Prints
one line:

    BENCH_RESULT {"count":N,"cross":{"p50_ms":..,"p95_ms":..,"max_ms":..},
                  "same":{...},"extra":{...},"confirm":{...},"missing":K}

`same` is the stream on B itself; `extra` how much later A's stream got the
event than B's, booking by booking (what crossing daemons adds: Redis
Pub/Sub and A's wake-up and storage read; it can be negative); `confirm`
B's confirm round trip as the client saw it; `missing` the streams that
never got `booked`.

    FS_DAEMON=build/flashsaled FS_PLUGIN_DIR=build/plugins/.libs \\
        python3 bench/cross_events.py --count 200

Python 3 standard library only.
"""

import argparse
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from mongo_server import MongoServer  # noqa: E402
from rabbitmq_server import RabbitMQServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from test_events import Stream  # noqa: E402

SALE = "xevents"
# How long a stream waits for its `booked` event.
STREAM_WAIT_S = 120


def plugin_lines(redis, rabbit, mongo):
    return (
        "  queue: { name: rabbitmq, url: %s, queue: xev }" % harness.yaml_scalar(rabbit.url),
        "  inventory: { name: redis, url: %s, prefix: xev }" % harness.yaml_scalar(redis.url()),
        "  storage: { name: mongo, uri: %s, database: xev }" % harness.yaml_scalar(mongo.uri),
    )


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary(seconds):
    ms = [s * 1000 for s in seconds]
    return {"p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "max_ms": round(max(ms), 2)} if ms else {}


def watch(stream, arrived, key):
    """Records when the stream's `booked` event arrives."""
    try:
        while True:
            ev = stream.next_event()
            if ev is None:
                return
            if ev[1] == "booked":
                arrived[key] = time.monotonic()
                return
    except OSError:
        return


def holds_on(daemon, count):
    """[(booking id, token)] of COUNT users who hold an item, booked on daemon."""
    c = daemon.client()
    out = []
    for i in range(count):
        tok = harness.token_for("xev-u%05d" % i)
        r = c.book(SALE, tok)
        if r.status != 202:
            raise RuntimeError("booking %d: %r" % (i, r))
        out.append((r.json["booking_id"], tok))
    for bid, tok in out:
        b = harness.wait_booking(c, SALE, bid, tok)
        if b["status"] != "hold":
            raise RuntimeError("booking %s: %r" % (bid, b))
    c.close()
    return out


def measure(a, b, count):
    bookings = holds_on(b, count)
    arrived, threads, streams = {}, [], []
    for bid, tok in bookings:
        for name, d in (("cross", a), ("same", b)):
            s = Stream(d.port, SALE, bid, tok)
            if s.resp.status != 200 or s.next_event()[1] != "hold":
                raise RuntimeError("stream on %s for %s did not start at hold" % (name, bid))
            # Quiet until its confirm, which may come a while after it opened.
            s.conn.sock.settimeout(STREAM_WAIT_S)
            streams.append(s)
            t = threading.Thread(target=watch, args=(s, arrived, (name, bid)), daemon=True)
            t.start()
            threads.append(t)
    cb = b.client()
    sent, confirm = {}, []
    for bid, tok in bookings:
        sent[bid] = time.monotonic()
        r = cb.confirm(SALE, bid, tok)
        confirm.append(time.monotonic() - sent[bid])
        if r.status != 200:
            raise RuntimeError("confirm %s: %r" % (bid, r))
    deadline = time.monotonic() + STREAM_WAIT_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    for s in streams:
        s.close()
    cb.close()
    lat = {name: [arrived[(name, bid)] - sent[bid] for bid, _ in bookings
                  if (name, bid) in arrived] for name in ("cross", "same")}
    # What crossing daemons adds: A's event after B's own stream's event
    # (B wakes its streams before it even answers), booking by booking.
    extra = [arrived[("cross", bid)] - arrived[("same", bid)] for bid, _ in bookings
             if ("cross", bid) in arrived and ("same", bid) in arrived]
    return {"count": count, "cross": summary(lat["cross"]), "same": summary(lat["same"]),
            "extra": summary(extra), "confirm": summary(confirm),
            "missing": 2 * count - len(lat["cross"]) - len(lat["same"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200, help="bookings (and streams per daemon)")
    args = ap.parse_args()
    servers = [RedisServer(), RabbitMQServer(), MongoServer()]
    daemons = []
    try:
        for s in servers:
            s.start()
        lines = plugin_lines(*servers)
        sales = [{"id": SALE, "inventory": args.count, "hold_seconds": 600}]
        for _ in range(2):
            d = harness.Daemon(sales, http_threads=4 * args.count + 64, plugin_lines=lines,
                               http_keys={"max_streams": 4 * args.count,
                                          "max_streams_per_user": 4})
            daemons.append(d)
            d.start()
        result = measure(daemons[0], daemons[1], args.count)
    finally:
        for d in daemons:
            d.close()
        for s in reversed(servers):
            s.close() if hasattr(s, "close") else s.stop()
    print("BENCH_RESULT " + json.dumps(result, separators=(",", ":")), flush=True)
    return 0 if result["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
