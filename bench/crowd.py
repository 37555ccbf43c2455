#!/usr/bin/env python3
"""bench/crowd.py - N clients connect at once and each asks one request:
does every one get an answer (served or 503), and how long does the slowest
wait?

Each client opens its own connection, sends GET PATH (keep-alive), reads the
whole answer, and then, like a browser tab, keeps its connection open until
every client has its answer (a 503 answered with Connection: close is closed
at once, as a client told to retry would). Prints one line:

    BENCH_RESULT {"clients":N,"answered":K,"statuses":{...},"failed":{...},
                  "p50_ms":..,"p99_ms":..,"max_ms":..,"rss_kib":..,
                  "threads":..,"alive":true}

`failed` counts the clients without an answer within --timeout, by reason.
With --pid, the daemon's VmRSS and threads are read while every served
connection is still open, and `alive` says whether it still runs.

    python3 bench/crowd.py --port 8080 --clients 10000 --pid PID \
        --path /booking-service/sales/launch

Python 3 standard library only; raises its open-file limit itself.
"""
import argparse
import asyncio
import json
import os
import resource
import time


async def one(port, path, timeout, t_start, keep):
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        return None, "connect: %s" % type(e).__name__, 0.0
    try:
        writer.write(("GET %s HTTP/1.1\r\nHost: x\r\nUser-Agent: flashsaled-bench/1.0\r\n\r\n"
                      % path).encode())
        left = timeout - (time.monotonic() - t0)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), max(0.01, left))
        status = int(head.split(b" ", 2)[1])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            if name.strip().lower() == b"connection" and b"close" in value.lower():
                close = True
        left = timeout - (time.monotonic() - t0)
        await asyncio.wait_for(reader.readexactly(length), max(0.01, left))
        took = time.monotonic() - t0
        if close:
            writer.close()
        else:
            keep.append(writer)
        return status, None, took
    except asyncio.TimeoutError:
        writer.close()
        return None, "timeout", 0.0
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        writer.close()
        return None, type(e).__name__, 0.0


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "Threads"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


async def run(a):
    keep = []
    t_start = time.monotonic()
    results = await asyncio.gather(*(one(a.port, a.path, a.timeout, t_start, keep)
                                     for _ in range(a.clients)))
    during = proc_status(a.pid) if a.pid else {}
    for w in keep:
        w.close()
    return results, during, time.monotonic() - t_start


def pct(v, p):
    return round(v[min(len(v) - 1, int(p / 100.0 * (len(v) - 1)))], 2) if v else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--pid", type=int, default=0)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results, during, total = asyncio.run(run(a))
    statuses, failed, lat = {}, {}, []
    for status, why, took in results:
        if status is None:
            failed[why] = failed.get(why, 0) + 1
        else:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            lat.append(took * 1000)
    lat.sort()
    print("BENCH_RESULT " + json.dumps({
        "clients": a.clients, "answered": len(lat), "statuses": statuses,
        "failed": failed, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
        "max_ms": round(lat[-1], 2) if lat else None,
        "rss_kib": during.get("VmRSS"), "threads": during.get("Threads"),
        "alive": bool(a.pid) and os.path.exists("/proc/%d" % a.pid),
        "total_s": round(total, 2)}, sort_keys=True))


if __name__ == "__main__":
    main()
