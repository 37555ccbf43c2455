#!/usr/bin/env python3
"""streams.py - how many server-sent event streams flashsaled holds, and at
what cost in memory.

Owns: booking COUNT users of a token file on a running flashsaled, then
opening one event stream per booking (GET .../{sale}/{booking}/events with
its owner's token, each on its own connection) from one asyncio loop,
reading the first event of each, and, while every stream is still open,
reading the daemon's VmRSS and thread count from /proc/PID/status. It then
closes every stream and prints one line:

    BENCH_RESULT {"count":N,"opened":K,"first_event":K,"failed":{...},
                  "rss_idle_kib":..,"rss_booked_kib":..,"rss_open_kib":..,
                  "threads_booked":..,"threads_open":..,"open_s":..}

`failed` counts the streams that did not deliver a first event, by reason
(an HTTP status such as "503", "timeout", "reset", ...), so a limit shows as
where it fails and why. Exit 1 only when the bookings themselves fail.

Python 3 standard library only.
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prepare_bookings import book  # noqa: E402


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


def make_bookings(port, sale, tokens, connections):
    """[(token, path)] for every token, or raises with the first error."""
    outs, errors, workers = [], [], []
    for k in range(connections):
        out = []
        outs.append(out)
        t = threading.Thread(target=book, args=(port, sale, tokens[k::connections],
                                                out, errors))
        t.start()
        workers.append(t)
    for t in workers:
        t.join()
    lines = [line.split(" ", 1) for out in outs for line in out]
    if errors or len(lines) != len(tokens):
        raise RuntimeError("%d of %d booked; first error: %s"
                           % (len(lines), len(tokens), errors[0] if errors else "none"))
    return lines


async def open_stream(port, token, path, timeout):
    """(writer, None) with the first event read, or (None, reason)."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        return None, "connect: %s" % type(e).__name__
    try:
        writer.write(("GET %s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n"
                      "User-Agent: flashsaled-bench/1.0\r\n\r\n"
                      % (path, token)).encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b" ", 2)[1].decode()
        if status != "200":
            writer.close()
            return None, status
        # The first chunk carries the first event; it ends with a blank line.
        got = b""
        while b"\n\n" not in got:
            chunk = await asyncio.wait_for(reader.read(4096), timeout)
            if not chunk:
                writer.close()
                return None, "closed"
            got += chunk
        if b"event:" not in got:
            writer.close()
            return None, "no event"
        return writer, None
    except asyncio.TimeoutError:
        writer.close()
        return None, "timeout"
    except (OSError, asyncio.IncompleteReadError, IndexError) as e:
        writer.close()
        return None, type(e).__name__


async def open_all(port, bookings, timeout):
    # Opened together, as clients would arrive: civetweb takes each on a
    # thread of its own, and the ones past its threads wait in the backlog.
    return await asyncio.gather(*(open_stream(port, tok, path, timeout)
                                  for tok, path in bookings))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--sale", required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--fresh", type=int, default=0,
                    help="fresh GETs of the sale (new connection each, 1 s bound) "
                         "while every stream is open; their latency is reported")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    with open(a.tokens) as f:
        tokens = [next(f).strip() for _ in range(a.count)]
    idle = proc_status(a.pid)
    try:
        bookings = make_bookings(a.port, a.sale, tokens, 8)
    except RuntimeError as e:
        print("streams.py: %s" % e, file=sys.stderr)
        return 1
    booked = proc_status(a.pid)
    t0 = time.monotonic()
    results = asyncio.run(run(a, bookings))
    opened, open_s, during, fresh = results
    failed = {}
    for _, reason in opened:
        if reason:
            failed[reason] = failed.get(reason, 0) + 1
    ok = sum(1 for w, _ in opened if w)
    print("BENCH_RESULT " + json.dumps({
        "count": a.count, "opened": ok, "first_event": ok, "failed": failed,
        "rss_idle_kib": idle["VmRSS"], "rss_booked_kib": booked["VmRSS"],
        "rss_open_kib": during["VmRSS"], "threads_booked": booked["Threads"],
        "threads_open": during["Threads"], "open_s": round(open_s, 3),
        "fresh": fresh,
        "total_s": round(time.monotonic() - t0, 3)}, sort_keys=True))
    return 0


async def run(a, bookings):
    t = time.monotonic()
    opened = await open_all(a.port, bookings, a.timeout)
    open_s = time.monotonic() - t
    await asyncio.sleep(0.5)   # every stream settled in its thread
    during = proc_status(a.pid)
    fresh = await asyncio.to_thread(fresh_gets, a.port, a.sale, a.fresh)
    for w, _ in opened:
        if w:
            w.close()
    return opened, open_s, during, fresh


def fresh_gets(port, sale, count, bound=1.0):
    """{answered, statuses, p50_ms, max_ms} of `count` GETs of the sale,
    each on a new connection, 0.1 s apart, while the streams are open."""
    import http.client
    lat, statuses = [], {}
    for _ in range(count):
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=bound)
            c.request("GET", "/booking-service/sales/%s" % sale)
            status = str(c.getresponse().status)
            c.close()
            lat.append((time.monotonic() - t0) * 1000)
        except (OSError, http.client.HTTPException):
            status = "none"
        statuses[status] = statuses.get(status, 0) + 1
        time.sleep(0.1)
    lat.sort()
    return {"answered": len(lat), "statuses": statuses,
            "p50_ms": round(lat[len(lat) // 2], 2) if lat else None,
            "max_ms": round(lat[-1], 2) if lat else None}


if __name__ == "__main__":
    sys.exit(main())
