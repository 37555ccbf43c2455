#!/usr/bin/env python3
"""bench/hostile.py - fresh-request latency while hostile sockets are held.

Opens IDLE TCP connections that never send a byte and SLOW slowloris
clients (a request line, then one header byte every --trickle seconds),
then a fresh client opens a new connection every --interval seconds and
asks GET PATH, --fresh times, each with a --timeout bound. Prints one JSON
line: how many fresh requests were answered (and with what status), their
latency p50/p99/max in ms, how many of the held sockets the server closed,
and after how long (the server's idle and header timeouts at work).

    python3 bench/hostile.py --port 8080 --idle 1000 --slow 128 \
        --path /booking-service/sales/launch

The line starts with BENCH_RESULT, as bench/run's tools' do. Raises its own
open-file limit as far as the hard limit allows. Standard library only.
"""
import argparse
import json
import resource
import selectors
import socket
import threading
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Held:
    """The hostile sockets, watched by one thread that trickles the slow
    ones and notes when the server closes any of them."""

    def __init__(self, host, port, idle, slow, trickle):
        self.sel = selectors.DefaultSelector()
        self.opened_at = {}
        self.closed_after = []   # seconds from open to the server's close
        self.slow = []
        self.trickle = trickle
        self.stop = threading.Event()
        self.refused = 0
        for i in range(idle + slow):
            try:
                s = socket.create_connection((host, port), timeout=5)
            except OSError:
                self.refused += 1
                continue
            s.setblocking(False)
            self.opened_at[s] = time.monotonic()
            self.sel.register(s, selectors.EVENT_READ)
            if i >= idle:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                self.slow.append(s)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _close(self, s):
        self.sel.unregister(s)
        self.closed_after.append(time.monotonic() - self.opened_at.pop(s))
        if s in self.slow:
            self.slow.remove(s)
        s.close()

    def _run(self):
        next_trickle = time.monotonic() + self.trickle
        while not self.stop.is_set() and self.opened_at:
            for key, _ in self.sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self._close(s)
            if time.monotonic() >= next_trickle:
                next_trickle += self.trickle
                for s in list(self.slow):
                    try:
                        s.send(b"X")  # never completes a header line
                    except OSError:
                        self._close(s)

    def open_count(self):
        return len(self.opened_at)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in list(self.opened_at):
            s.close()


def fresh_get(host, port, path, timeout):
    """(status or None, seconds). A new connection each time."""
    t0 = time.monotonic()
    req = ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(max(0.01, timeout - (time.monotonic() - t0)))
            s.sendall(req)
            head = b""
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
                s.settimeout(max(0.01, timeout - (time.monotonic() - t0)))
        status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else None
    except (OSError, ValueError, IndexError):
        status = None
    return status, time.monotonic() - t0


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=128)
    ap.add_argument("--trickle", type=float, default=2.0)
    ap.add_argument("--fresh", type=int, default=40)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--linger", type=float, default=0.0,
                    help="then wait up to this long for the server to close the held sockets")
    a = ap.parse_args()
    raise_nofile(a.idle + a.slow + 256)
    held = Held(a.host, a.port, a.idle, a.slow, a.trickle)
    statuses, lat = {}, []
    for _ in range(a.fresh):
        status, secs = fresh_get(a.host, a.port, a.path, a.timeout)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status is not None:
            lat.append(secs * 1000.0)
        time.sleep(max(0.0, a.interval - secs))
    deadline = time.monotonic() + a.linger
    while held.open_count() and time.monotonic() < deadline:
        time.sleep(0.1)
    result = {
        "held": a.idle + a.slow - held.refused, "refused": held.refused,
        "fresh": a.fresh, "answered": len(lat), "statuses": statuses,
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else None,
        "closed_by_server": len(held.closed_after),
        "closed_after_s_max": max(held.closed_after) if held.closed_after else None,
        "still_open": held.open_count(),
    }
    held.close()
    print("BENCH_RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
