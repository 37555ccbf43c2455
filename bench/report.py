#!/usr/bin/env python3
"""report.py - the generated section of BENCHMARKS.md, from bench/run's results.

Owns: turning results.jsonl (one line per scenario and round) into tables of
medians and same-round ratios, the machine, the commands and the checks, and
replacing the text between the two BENCH markers of the report. Everything
outside the markers is hand-written and kept as it is; a report without the
markers gets the section appended.

Python 3 standard library only.
"""

import argparse
import json
import os
import statistics
import sys

START = "<!-- BENCH:GENERATED:START (bench/run rewrites from here) -->"
END = "<!-- BENCH:GENERATED:END -->"

# scenario -> (what it loads, the status every answer should have, baseline)
SCENARIOS = [
    ("baseline_post", "bare civetweb handler, POST, 202 + fixed body", 202, None),
    ("accept", "accept path on the embedded default: POST, distinct users, "
               "sale open, items left; journal queue (sync: interval)",
     202, "baseline_post"),
    ("accept_full", "same, journal sync: full (a 202 waits for its "
                    "fdatasync)", 202, "baseline_post"),
    ("accept_memory", "same, memory queue (a 202 waits for its SQLite "
                      "record; the embedded default before 2026-12-06)",
     202, "baseline_post"),
    ("accept_policies", "accept path on the embedded default with the "
                        "shipped Lua policies loaded", 202, "baseline_post"),
    ("soldout", "sold-out fast path: POST, distinct users, inventory 0",
     409, "baseline_post"),
    ("baseline_get", "bare civetweb handler, GET, 200 + fixed body", 200, None),
    ("get", "status polling: GET of an existing booking with its owner's token",
     200, "baseline_get"),
]

# The real plugin set (RabbitMQ, Redis, MongoDB wire protocol): the accept
# path as a ratio of RabbitMQ's own confirmed-publish rate (rabbit_publish
# rows carry no HTTP statuses), in a table of its own.
REAL_SCENARIOS = [
    ("rabbit_publish", "RabbitMQ alone: persistent messages to a durable "
     "queue, publisher confirms", None, None),
    ("real_accept", "accept path on the real set: POST, distinct users, sale "
     "open, items left", 202, "rabbit_publish"),
    ("real_soldout", "sold-out answers on the real set: POST, distinct users, "
     "inventory 0 (answered from the daemon's replica); its ratio is to "
     "`baseline_post`, the bare civetweb handler, in the same round", 409,
     "baseline_post"),
]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=0):
    if x is None:
        return "-"
    if digits == 0:
        return "{:,.0f}".format(x)
    return "{:.{}f}".format(x, digits)


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def by_round(rows, scenario):
    return {r["round"]: r for r in rows if r["scenario"] == scenario}


def unexpected(row, want):
    return sum(n for code, n in row["status"].items() if int(code) != want)


def errors(row):
    e = row["errors"]
    return e["connect"] + e["read"] + e["write"] + e["timeout"]


def served_text(rows, want):
    """Per round: connections answered / established, flagged when a
    connection was never answered or fewer than `want` were established
    (the snapshot missed some: it says nothing about them)."""
    out = []
    for r in rows:
        a = r.get("accounting") or {}
        if "served" not in a:
            out.append("?")
            continue
        text = "%d/%d" % (a["served"], a["conns"])
        if a["served"] < a["conns"]:
            text = "**%s unserved**" % text
        elif a["conns"] < want:
            text += " (of %d)" % want
        out.append(text)
    return " ".join(out) if out else "?"


def throughput_table(rows, conns, scenarios=SCENARIOS):
    out = ["| scenario | load | req/s (median) | per round | p50 ms | p99 ms "
           "| ratio to baseline (median of rounds) | ratio per round "
           "| other answers | socket errors | connections served |",
           "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for name, what, want, base in scenarios:
        mine = by_round(rows, name)
        if not mine:
            continue
        rounds = sorted(mine)
        ratios = []
        if base:
            theirs = by_round(rows, base)
            ratios = [mine[k]["rps"] / theirs[k]["rps"] for k in rounds
                      if k in theirs and theirs[k]["rps"] > 0]
        out.append("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, what,
            fmt(median(mine[k]["rps"] for k in rounds)),
            " / ".join(fmt(mine[k]["rps"]) for k in rounds),
            fmt(median(mine[k]["p50_ms"] for k in rounds), 2),
            fmt(median(mine[k]["p99_ms"] for k in rounds), 2),
            "**%s**" % fmt(median(ratios), 2) if ratios else "1 (baseline)",
            " / ".join(fmt(x, 2) for x in ratios) if ratios else "-",
            fmt(sum(unexpected(mine[k], want) for k in rounds)) if want else
            "%s nacked" % fmt(sum(mine[k].get("nacked", 0) for k in rounds)),
            fmt(sum(errors(mine[k]) for k in rounds)) if want else "-",
            served_text([mine[k] for k in rounds], conns) if want else "-"))
    return out


def checks(rows):
    """What each scenario's answers and the sale's counts say, in words."""
    out = []
    for name, _, want, _ in SCENARIOS + REAL_SCENARIOS:
        mine = by_round(rows, name)
        for k in sorted(mine):
            r = mine[k]
            if "status" not in r:   # rabbit_publish: no HTTP
                out.append("- `%s` round %d: %s published, %s confirmed, %s "
                           "nacked in %.1f s." % (
                               name, k, fmt(r.get("published")),
                               fmt(r.get("confirmed")), fmt(r.get("nacked")),
                               r.get("duration_s", 0)))
                continue
            total = sum(r["status"].values())
            notes = ["%s answers %s" % (fmt(total), json.dumps(r["status"], sort_keys=True))]
            if r.get("wrapped") and want == 202 and r["server"] == "flashsaled":
                notes.append("**users repeated %d times: the repeats are 409 "
                             "already_booked**" % r["wrapped"])
            after, before = r.get("sale_after"), r.get("sale_before")
            if after and before and want == 202:
                grown = after.get("held", 0) - before.get("held", 0)
                n202 = r["status"].get("202", 0)
                # wrk stops with up to one request per connection in flight:
                # those were accepted but their answers were not counted.
                flight = (r.get("accounting") or {}).get("conns", 0)
                notes.append("holds grew by %s for %s 202s counted by wrk%s" % (
                    fmt(grown), fmt(n202),
                    "" if n202 <= grown <= n202 + flight
                    else " **(mismatch: more than the %d requests in flight)**" % flight))
            acc = r.get("accounting") or {}
            if acc:
                notes.append("%d of %d connections served" % (acc.get("served", 0),
                                                              acc.get("conns", 0)))
            if r.get("peak_rss_kib"):
                notes.append("peak RSS %.0f MiB" % (r["peak_rss_kib"] / 1024))
            out.append("- `%s` round %d: %s." % (name, k, "; ".join(notes)))
    return out


def spike_table(rows, users, items, scenario="spike"):
    mine = by_round(rows, scenario)
    if not mine:
        return []
    rounds = sorted(mine)
    out = ["| round | every user answered in (s) | users/s | p50 ms | p99 ms | max ms "
           "| 202 | 409 | other | users never answered | peak RSS (MiB) | held at the end "
           "| connections served |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k in rounds:
        r = mine[k]
        st = r["status"]
        after = r.get("sale_after") or {}
        held = after.get("held", 0) + after.get("booked", 0)
        ok_held = held == items
        acc = r.get("accounting") or {}
        span = r.get("span_s") or None
        out.append("| %d%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            k, "" if r.get("finished") else " **(did not finish)**",
            fmt(span, 1), fmt(r["answered"] / span if span else None),
            fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2), fmt(r["max_ms"], 1),
            fmt(st.get("202", 0)), fmt(st.get("409", 0)),
            fmt(sum(n for c, n in st.items() if c not in ("202", "409")) + errors(r)),
            unanswered(r),
            fmt(r["peak_rss_kib"] / 1024, 0),
            "%s%s" % (fmt(held), "" if ok_held else " **(want %s)**" % fmt(items)),
            "%d/%d" % (acc.get("served", 0), acc.get("conns", 0)) if acc else "?"))
    spans = [mine[k].get("span_s") for k in rounds if mine[k].get("finished")]
    out.append("| **median** | **%s** | | **%s** | **%s** | | | | | | **%s** | | |" % (
        fmt(median(spans), 1),
        fmt(median(mine[k]["p50_ms"] for k in rounds), 2),
        fmt(median(mine[k]["p99_ms"] for k in rounds), 2),
        fmt(median(mine[k]["peak_rss_kib"] / 1024 for k in rounds), 0)))
    return out


def spike_ratio_table(rows, scen, base):
    """SCEN's time to answer every user over BASE's, round by round."""
    mine, theirs = by_round(rows, scen), by_round(rows, base)
    pairs = [(k, mine[k].get("span_s"), theirs[k].get("span_s")) for k in sorted(mine)
             if k in theirs and mine[k].get("finished") and theirs[k].get("finished")]
    pairs = [(k, a, b) for k, a, b in pairs if a and b]
    if not pairs:
        return []
    out = ["| round | `%s` (s) | `%s` (s) | ratio |" % (scen, base),
           "| ---: | ---: | ---: | ---: |"]
    for k, a, b in pairs:
        out.append("| %d | %s | %s | %s |" % (k, fmt(a, 1), fmt(b, 1), fmt(a / b, 2)))
    out.append("| **median** | | | **%s** |" % fmt(median(a / b for _, a, b in pairs), 2))
    return out


def unanswered(r):
    """Users whose request got no answer: wrk sends a request lost to a
    closed connection (a read error) to no one again."""
    lost = r.get("users", 0) - r.get("answered", 0)
    if lost <= 0:
        return "0"
    e = r.get("errors") or {}
    return "**%s** (read errors %s, timeouts %s)" % (fmt(lost), fmt(e.get("read", 0)),
                                                     fmt(e.get("timeout", 0)))


def spike3_table(rows, items):
    mine = by_round(rows, "spike_real3")
    if not mine:
        return []
    out = ["| round | every user answered in (s) | users/s | slowest daemon's p50 / p99 / max ms "
           "| 202 in all (per daemon) | 409 | other | users never answered "
           "| each daemon's view: held + booked | peak RSS, largest (MiB) |",
           "| ---: | ---: | ---: | --- | --- | ---: | ---: | --- | --- | ---: |"]
    for k in sorted(mine):
        r = mine[k]
        st = r["status"]
        span = r.get("span_s") or None
        held = [v.get("held", 0) + v.get("booked", 0) for v in r.get("views", [])]
        n202 = st.get("202", 0)
        out.append("| %d%s | %s | %s | %s / %s / %s | %s%s (%s) | %s | %s | %s | %s | %s |" % (
            k, "" if r.get("finished") else " **(did not finish)**",
            fmt(span, 1), fmt(r["answered"] / span if span else None),
            fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2), fmt(r["max_ms"], 1),
            fmt(n202), "" if n202 == items else " **(want %s)**" % fmt(items),
            " / ".join(fmt(x) for x in r.get("per_daemon_202", [])),
            fmt(st.get("409", 0)),
            fmt(sum(n for c, n in st.items() if c not in ("202", "409")) + errors(r)),
            unanswered(r),
            " / ".join(fmt(h) + ("" if h == items else " **(want %s)**" % fmt(items))
                       for h in held),
            fmt(r["peak_rss_kib"] / 1024)))
    return out


def cross_events_table(rows):
    mine = by_round(rows, "cross_events")
    if not mine:
        return []

    def trio(d):
        d = d or {}
        return "%s / %s / %s" % (fmt(d.get("p50_ms"), 1), fmt(d.get("p95_ms"), 1),
                                 fmt(d.get("max_ms"), 1))
    out = ["| round | bookings | stream on A, from B's confirm request: p50 / p95 / max ms "
           "| stream on B itself | A after B, booking by booking | B's confirm round trip "
           "| streams that never got `booked` |",
           "| ---: | ---: | --- | --- | --- | --- | ---: |"]
    for k in sorted(mine):
        r = mine[k]
        out.append("| %d | %s | %s | %s | %s | %s | %s |" % (
            k, fmt(r.get("count")), trio(r.get("cross")), trio(r.get("same")),
            trio(r.get("extra")), trio(r.get("confirm")), fmt(r.get("missing"))))
    p95 = [mine[k]["cross"]["p95_ms"] for k in sorted(mine) if mine[k].get("cross")]
    if p95:
        out.append("| **median p95** | | **%s** | | | | |" % fmt(median(p95), 1))
    return out


def streams_table(rows):
    """One line per stream count: medians over the rounds."""
    mine = [r for r in rows if r["scenario"] == "streams"]
    if not mine:
        return []
    counts = sorted({r["count"] for r in mine})
    out = ["| streams asked | opened, first event read (per round) | failed (why) "
           "| time to open all (s) | daemon RSS before / with them open (MiB) "
           "| RSS per open stream (KiB) | daemon threads "
           "| fresh GETs answered while open, p50 / max ms (per round) |",
           "| ---: | --- | --- | ---: | --- | ---: | ---: | --- |"]
    for n in counts:
        rs = sorted((r for r in mine if r["count"] == n), key=lambda r: r["round"])
        ok = [r for r in rs if "rss_open_kib" in r]
        failed = {}
        for r in rs:
            for why, c in (r.get("failed") or {}).items():
                failed[why] = failed.get(why, 0) + c
        per = [(r["rss_open_kib"] - r["rss_booked_kib"]) / r["opened"]
               for r in ok if r.get("opened")]
        fresh = " / ".join(
            "%s of %s, %s / %s" % (fmt(f.get("answered")), fmt(sum(f.get("statuses", {}).values())),
                                   fmt(f.get("p50_ms"), 1), fmt(f.get("max_ms"), 1))
            for f in (r.get("fresh") for r in rs) if f and f.get("statuses")) or "-"
        out.append("| %s | %s | %s | %s | %s / %s | %s | %s | %s |" % (
            fmt(n), " / ".join(fmt(r.get("opened", 0)) for r in rs),
            ", ".join("%s: %s" % (k, fmt(v)) for k, v in sorted(failed.items()))
            or "none",
            fmt(median(r.get("open_s") for r in ok), 2),
            fmt(median(r["rss_booked_kib"] / 1024 for r in ok), 1),
            fmt(median(r["rss_open_kib"] / 1024 for r in ok), 1),
            fmt(median(per), 1),
            fmt(median(r["threads_open"] for r in ok)), fresh))
    return out


def hostile_table(rows):
    """One line per round of the hostile-sockets scenario."""
    mine = sorted((r for r in rows if r["scenario"] == "hostile"),
                  key=lambda r: r["round"])
    if not mine:
        return []
    out = ["| round | held open (idle + slowloris) | fresh requests answered (status) "
           "| p50 / p99 / max (ms) | held sockets closed by the server, last after (s) "
           "| peak RSS (MiB) |",
           "| ---: | --- | --- | --- | --- | ---: |"]
    for r in mine:
        out.append("| %d | %s (%s + %s) | %s of %s (%s) | %s / %s / %s | %s of %s, %s | %s |" % (
            r["round"], fmt(r.get("held")), fmt(r.get("idle")), fmt(r.get("slow")),
            fmt(r.get("answered")), fmt(r.get("fresh")),
            ", ".join("%s: %s" % kv for kv in sorted((r.get("statuses") or {}).items()))
            or "-",
            fmt(r.get("p50_ms"), 1), fmt(r.get("p99_ms"), 1), fmt(r.get("max_ms"), 1),
            fmt(r.get("closed_by_server")), fmt(r.get("held")),
            fmt(r.get("closed_after_s_max"), 1),
            fmt((r.get("peak_rss_kib") or 0) / 1024)))
    return out


def machine_lines(start, end, started, commit):
    return [
        "- Date: %s" % started,
        "- Machine: %s CPUs (`nproc`), %s at %s MHz, %s of memory, kernel %s, %s"
        % (start["nproc"], start["cpu"], start["mhz"], start["mem"].replace(" kB", " KiB"),
           start["kernel"], start["os"]),
        "- Load average before / after: %s / %s (the machine is shared: other "
        "work ran beside the benchmark, and wrk runs on the same cores as the "
        "server)" % (" ".join(start["loadavg"]), " ".join(end["loadavg"])),
        "- Software: civetweb %s, wrk %s, SQLite %s, flashsaled at `%s`"
        % (start["civetweb"], start["wrk"], start["sqlite"], commit),
    ] + ([
        "- The real set: redis-server %s, rabbitmq-server %s (librabbitmq %s), "
        "CongoDB (MongoDB wire protocol, tests/integration/mongo) on nodejs %s"
        % (start["redis"], start["rabbitmq"], start["librabbitmq"], start["nodejs"])
    ] if "rabbitmq" in start else [])


def command_lines(rows, a):
    seen, cmds = set(), []
    for r in rows:
        c = r.get("wrk_cmd")
        if c and c not in seen:
            seen.add(c)
            cmds.append("    " + c)
    return [
        "Run with `bench/run` (rounds %d, %d s each, wrk -t%d -c%d keep-alive; "
        "server threads = connections + %d). In every round the baseline is "
        "measured right before the scenarios compared with it; each server is "
        "started fresh (an empty database) for each measurement. Baseline built "
        "with `%s`. The daemon's config: journal queue (sync: interval unless "
        "said; `accept_memory`: the memory queue), memory inventory, SQLite "
        "storage (WAL, synchronous full, batch_max 512), log level warn; "
        "sales `open` (10,000,000 items), `gone` (0 items), `spike` (%s items). "
        "Status polling reads %s bookings made before the rounds. wrk commands "
        "(PORT and FILE filled in by bench/run):"
        % (a.runs, a.duration, a.wrk_threads, a.connections, a.margin,
           a.baseline_cmd, fmt(a.spike_items), fmt(a.get_bookings)),
        "",
    ] + cmds + real_command_lines(rows, a)


def real_command_lines(rows, a):
    if not any(r["scenario"] in ("real_accept", "real_soldout", "spike_real",
                                 "spike_real_wide", "spike_real3", "rabbit_publish")
               for r in rows):
        return []
    return [
        "",
        "The spikes named after a sample config run that file as shipped "
        "(`bench/shipped_config.py` changes only the listen port, the "
        "servers' URLs, the queue / key prefix / database names, the token "
        "secret, where the plugins, policies and SQLite file are, and the "
        "sale's item count), its policies loaded.",
        "",
        "The real set (`real_accept`, `real_soldout`, the `spike_real*`): one redis-server "
        "(`--save '' --appendonly no`), one private RabbitMQ node and one "
        "CongoDB, started by `bench/servers.py` on free ports for the whole "
        "run and stopped at its end; each measurement gets a queue, a Redis "
        "key prefix and a database of its own (the three daemons of "
        "`spike_real3` share theirs). For `real_accept` and `real_soldout` "
        "the daemon's plugins are `rabbitmq` (prefetch 256, confirm_window as "
        "below), `redis`, `mongo` (write_concern 1, the single node). The yardstick, built with `%s`, "
        "publishes for the same time as wrk loads, from the same number of "
        "publishers as wrk has connections, on one connection in confirm mode "
        "(arguments: URL, queue, seconds, publishers, confirm window, message "
        "bytes):" % a.rabbit_cmd,
        "",
    ] + sorted({"    " + r["rabbit_cmd"] for r in rows
                if r["scenario"] == "rabbit_publish" and r.get("rabbit_cmd")})


SHIPPED_SPIKES = [
    ("spike_shipped", "etc/flashsaled.yaml as shipped (embedded default, its policies)", "spike_users", "spike_connections"),
    ("spike_real", "etc/flashsaled-real.yaml as shipped (Redis, RabbitMQ, CongoDB; its policies)", "spike_real_users", "spike_connections"),
    ("spike_shipped_wide", "etc/flashsaled.yaml as shipped", "wide_users", "wide_connections"),
    ("spike_real_wide", "etc/flashsaled-real.yaml as shipped", "wide_users", "wide_connections"),
]


def shipped_spike_lines(rows, a):
    """The spikes on the sample configs, the real set's time against the
    embedded default's, and the spike over three daemons."""
    lines = []
    for scen, what, users, conns in SHIPPED_SPIKES:
        t = spike_table(rows, getattr(a, users), a.spike_items, scen)
        if t:
            lines += ["### The spike on %s: %s distinct users, %s items, %s connections"
                      % (what, fmt(getattr(a, users)), fmt(a.spike_items),
                         fmt(getattr(a, conns))), ""] + t + [""]
    ratio = spike_ratio_table(rows, "spike_real", "spike_shipped")
    if ratio:
        lines += ["### The real set's spike against the embedded default's, same rounds", ""]
        lines += ratio + [""]
    t = spike3_table(rows, a.spike_items)
    if t:
        lines += ["### The spike over three daemons: %s distinct users, %s items, "
                  "%d connections in all" % (fmt(a.spike_real_users), fmt(a.spike_items),
                                             a.spike_connections), ""] + t + [""]
        lines += ["Three daemons on `etc/flashsaled-real.yaml` as shipped share one "
                  "Redis, one RabbitMQ and one CongoDB (one queue, key prefix and "
                  "database); the users are dealt out in turn to three wrk "
                  "processes, one per daemon, with a third of the connections "
                  "each. The time runs from the first request of any of them to "
                  "the last user's answer; the latencies are the slowest daemon's. "
                  "\"each daemon's view\": `GET /sales/launch` on each daemon once "
                  "the queue is drained (its replica, fed by Redis Pub/Sub).", ""]
    return lines


def section(rows, a):
    start = json.load(open(a.machine_start))
    end = json.load(open(a.machine_end))
    lines = [START, "",
             "## Figures (generated by `bench/run`, %s)" % a.started, ""]
    lines += machine_lines(start, end, a.started, start["commit"]) + [""]
    table = throughput_table(rows, a.connections)
    if len(table) > 2:
        lines += ["### Throughput, %d connections, medians of %d rounds" % (
            a.connections, a.runs), ""] + table + [""]
        lines += ["\"other answers\": answers whose status is not the one the "
                  "scenario expects (202, 409 or 200), summed over the rounds. "
                  "\"connections served\", per round: from the server's side "
                  "(`ss`, half way through the round), the connections that "
                  "had received an answer / all established ones; \"(of 64)\" "
                  "when the snapshot saw fewer than wrk opened: "
                  "civetweb holds one thread per keep-alive connection, and a "
                  "connection it never took would not show in wrk's figures.", ""]
    real = throughput_table(rows, a.connections, REAL_SCENARIOS)
    if len(real) > 2:
        lines += ["### The real plugin set, %d connections, medians of %d rounds"
                  % (a.connections, a.runs), ""] + real + [""]
        lines += ["`real_accept`'s ratio is the daemon's accepts per second "
                  "over RabbitMQ's own confirmed publishes per second in the "
                  "same round; for `rabbit_publish` the latencies run from a "
                  "message's publish to its confirm. An accept on this set is "
                  "one Redis script (the claim) and its share of a confirmed "
                  "publish to RabbitMQ before the 202; the worker writes the "
                  "MongoDB records in batches after. `real_soldout`'s ratio is "
                  "to the bare civetweb handler (`baseline_post`) of the same "
                  "round.", ""]
    spike = spike_table(rows, a.spike_users, a.spike_items)
    if spike:
        lines += ["### The spike: %s distinct users, %s items, %d connections"
                  % (fmt(a.spike_users), fmt(a.spike_items), a.spike_connections), ""]
        lines += spike + [""]
        lines += ["Each user sends exactly one POST; the time runs from the "
                  "first request to the answer of the last user. \"held at "
                  "the end\": held + booked in the public sale view once the "
                  "queue is drained; it must be exactly the number of items. "
                  "Latency percentiles are wrk's, over every request of the "
                  "round (202s and 409s alike).", ""]
    lines += shipped_spike_lines(rows, a)
    cross = cross_events_table(rows)
    if cross:
        lines += ["### Events across daemons (real set)", ""] + cross + [""]
        lines += ["`bench/cross_events.py`: its own Redis, RabbitMQ and CongoDB, "
                  "two daemons A and B; the bookings are made and held on B, one "
                  "event stream per booking is opened on A and one on B, then B "
                  "confirms them one after another. Each latency runs from just "
                  "before B's confirm request to the `booked` event read on the "
                  "stream, so it includes B's own confirm.", ""]
    streams = streams_table(rows)
    if streams:
        thr = sorted({r.get("threads") for r in rows
                      if r["scenario"] == "streams" and r.get("threads")})
        lines += ["### Open event streams (embedded default)", ""] + streams + [""]
        lines += ["For each count, a fresh daemon with `http.threads: %s`, "
                  "`max_streams: 65536` and `max_streams_per_user: 64` takes "
                  "that many bookings, then `bench/streams.py` opens one "
                  "`GET .../{booking}/events` per booking at once, each on its "
                  "own connection with its owner's token, and reads its first "
                  "event; with all of them open it reads the daemon's `VmRSS` "
                  "and thread count from `/proc`. \"RSS per open stream\": "
                  "(RSS with the streams open - RSS after the bookings) / "
                  "streams opened. civetweb starts every thread at start, so "
                  "the thread count does not grow with the streams: each "
                  "stream holds one of those threads for as long as it is "
                  "open." % ", ".join(str(t) for t in thr), ""]
    hostile = hostile_table(rows)
    if hostile:
        lines += ["### Idle and slowloris sockets held open (shipped http defaults)", ""]
        lines += hostile + [""]
        lines += ["A fresh daemon with the shipped `http` settings (2,048 threads, "
                  "the default `max_connections`, 5 s request and keep-alive "
                  "timeouts) gets the idle sockets (nothing sent) and slowloris "
                  "clients (a request line, then a header byte every 2 s); then "
                  "`bench/hostile.py` opens a new connection every 0.5 s and asks "
                  "the sale's public view, 5 s bound each, and finally waits up to "
                  "15 s for the server to close every held socket.", ""]
    lines += ["### Checks, per round", ""] + checks(rows) + [""]
    lines += ["### Commands", ""] + command_lines(rows, a) + ["", END]
    return "\n".join(lines) + "\n"


def splice(path, text):
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = "# Benchmarks\n\n"
    if START in old and END in old:
        head = old[:old.index(START)]
        tail = old[old.index(END) + len(END):].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for opt in ("results", "machine-start", "machine-end", "started", "out",
                "baseline-cmd"):
        ap.add_argument("--" + opt, required=True)
    for opt in ("runs", "duration", "connections", "wrk-threads", "margin",
                "spike-users", "spike-items", "spike-connections", "get-bookings"):
        ap.add_argument("--" + opt, type=int, required=True)
    ap.add_argument("--spike-real-users", type=int, default=0)
    ap.add_argument("--wide-users", type=int, default=0)
    ap.add_argument("--wide-connections", type=int, default=0)
    ap.add_argument("--rabbit-cmd", default="")
    a = ap.parse_args()
    text = section(load(a.results), a)
    if a.out == "-":
        sys.stdout.write(text)
    else:
        splice(a.out, text)
        print("report.py: wrote the generated section of %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
