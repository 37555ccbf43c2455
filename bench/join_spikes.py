#!/usr/bin/env python3
"""join_spikes.py - one result line of bench/run from the wrk processes of a
spike spread over several daemons.

Owns: reading each wrk's BENCH_RESULT line (bench/users.lua), summing the
answers by status, taking the span from the first request of any of them to
the last user's answer of all of them (users.lua's CLOCK_MONOTONIC stamps),
the worst of their latency percentiles, and each daemon's 202s, sale view
and peak RSS, and printing one JSON line for bench/report.py.

    join_spikes.py --round R --finished 0|1 --items N --wrk-cmd CMD \\
        --wrk PREFIX... --views JSON... --rss KIB...

PREFIX.wrk is a wrk's output. Python 3 standard library only.
"""

import argparse
import json
import sys


def wrk_result(prefix):
    with open(prefix + ".wrk") as f:
        lines = [l for l in f if l.startswith("BENCH_RESULT ")]
    if not lines:
        sys.exit("join_spikes.py: no BENCH_RESULT in %s.wrk" % prefix)
    return json.loads(lines[-1].split(" ", 1)[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--round", type=int, required=True)
    ap.add_argument("--finished", type=int, required=True)
    ap.add_argument("--items", type=int, required=True)
    ap.add_argument("--wrk-cmd", required=True)
    ap.add_argument("--wrk", nargs="+", required=True)
    ap.add_argument("--views", nargs="+", required=True)
    ap.add_argument("--rss", nargs="+", required=True)
    a = ap.parse_args()

    parts = [wrk_result(p) for p in a.wrk]
    status = {}
    for p in parts:
        for code, n in p["status"].items():
            status[code] = status.get(code, 0) + n
    starts = [p["t_first"] for p in parts if p["t_first"] > 0]
    ends = [p["t_last"] for p in parts]
    row = {
        "scenario": "spike_real3", "round": a.round, "server": "flashsaled",
        "finished": a.finished, "items": a.items, "status": status,
        "answered": sum(p["answered"] for p in parts),
        "users": sum(p["users"] for p in parts),
        "span_s": max(ends) - min(starts) if starts and a.finished else None,
        # The slowest daemon's: a percentile of the union is not at hand.
        "p50_ms": max(p["p50_ms"] for p in parts),
        "p99_ms": max(p["p99_ms"] for p in parts),
        "max_ms": max(p["max_ms"] for p in parts),
        "errors": {k: sum(p["errors"][k] for p in parts) for k in parts[0]["errors"]},
        "per_daemon_202": [p["status"].get("202", 0) for p in parts],
        "views": [json.loads(v) if v.strip() else {} for v in a.views],
        "peak_rss_kib": max(int(x or 0) for x in a.rss),
        "wrk_cmd": a.wrk_cmd,
    }
    print(json.dumps(row, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
