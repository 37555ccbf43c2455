"""test_load_limits.py - no client left hanging (DESIGN.md section 9,
invariant 8): with idle and slowloris sockets held open, a fresh client is
answered (served, or 503 with Retry-After past http.max_connections) within a
generous bound, and the server closes the held sockets after its documented
timeouts; event streams past their limit are answered 503 at once and
requests are still answered while streams hold threads; a sale's queue past
sales[].max_queued answers 503 with Retry-After and accepts nothing (on the
test-only queue_gated plugin, FS_TEST_PLUGIN_DIR, which holds the queue
closed while a file exists, so that the worker cannot race the test).

Timing is asserted only as a hang bound (ANSWER_BOUND_S, CLOSE_BOUND_S), far
above what a healthy daemon needs; everything else waits by polling."""

import asyncio
import json
import os
import resource
import signal
import selectors
import socket
import time

import harness
from harness import note, token_for

ANSWER_BOUND_S = 3.0
# The daemons below close an idle socket after TIMEOUT_MS; the bound allows
# for a loaded machine, not for a missing timeout (the default is 5 s and
# civetweb's own 30 s would fail it).
TIMEOUT_MS = 1500
CLOSE_BOUND_S = 12.0


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        raise AssertionError("need %d open files, the hard limit allows %d" % (need, soft))


class HeldSockets:
    """Idle sockets (nothing sent) and slowloris ones (a request line, then
    a header that never ends, one byte per trickle())."""

    def __init__(self, port, idle, slow):
        self.sel = selectors.DefaultSelector()
        self.open = {}
        self.slow = []
        for i in range(idle + slow):
            s = socket.create_connection((harness.HOST, port), timeout=5)
            s.setblocking(False)
            self.open[s] = time.monotonic()
            self.sel.register(s, selectors.EVENT_READ)
            if i >= idle:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                self.slow.append(s)
        self.closed_after = []

    def trickle(self):
        for s in list(self.slow):
            try:
                s.send(b"x")
            except OSError:
                pass  # closed by the server: poll() notices

    def poll(self, timeout=0.05):
        """Notes the sockets the server closed (EOF or reset)."""
        for key, _ in self.sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.sel.unregister(s)
                self.closed_after.append(time.monotonic() - self.open.pop(s))
                if s in self.slow:
                    self.slow.remove(s)
                s.close()

    def close(self):
        for s in list(self.open):
            s.close()
        self.open.clear()
        self.sel.close()


def fresh_get(port, path, timeout):
    """(status, headers dict, body, seconds) over a new connection; status
    None when nothing came back within `timeout`."""
    t0 = time.monotonic()
    req = ("GET %s HTTP/1.1\r\nHost: x\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n"
           % (path, harness.USER_AGENT)).encode()
    data = b""
    try:
        with socket.create_connection((harness.HOST, port), timeout=timeout) as s:
            s.sendall(req)
            while True:
                s.settimeout(max(0.01, timeout - (time.monotonic() - t0)))
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass
    took = time.monotonic() - t0
    if not data.startswith(b"HTTP/1."):
        return None, {}, b"", took
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split(" ")[1]), headers, body, took


class HostileSockets(harness.DaemonTestCase):
    START_DAEMON = False
    SALES = [{"id": "launch", "inventory": 10, "hold_seconds": 300}]
    IDLE, SLOW = 160, 32
    # max_connections 0: the daemon's own default (threads less one in 8).
    HTTP = {"request_timeout_ms": TIMEOUT_MS, "keep_alive_timeout_ms": TIMEOUT_MS,
            "max_connections": 0}

    def hold(self, daemon):
        raise_nofile(self.IDLE + self.SLOW + 256)
        held = HeldSockets(daemon.port, self.IDLE, self.SLOW)
        self.addCleanup(held.close)
        return held

    def ask_while_held(self, daemon, held, times):
        """Fresh GETs while the sockets are held: every one must be answered
        within the bound. Returns the answers."""
        answers = []
        for _ in range(times):
            held.trickle()
            status, headers, body, took = fresh_get(
                daemon.port, "/booking-service/sales/launch", ANSWER_BOUND_S)
            self.assertIsNotNone(status, "a fresh request got no answer within %.0f s "
                                 "while %d sockets were held" % (ANSWER_BOUND_S, len(held.open)))
            answers.append((status, headers, body, took))
            held.poll(0)
        return answers

    def assert_closed_after_timeout(self, held):
        deadline = time.monotonic() + CLOSE_BOUND_S
        while held.open and time.monotonic() < deadline:
            held.trickle()
            held.poll(0.2)
        self.assertEqual(len(held.open), 0, "%d of %d held sockets still open after %.0f s "
                         "(timeouts %d ms)" % (len(held.open), self.IDLE + self.SLOW,
                                               CLOSE_BOUND_S, TIMEOUT_MS))
        earliest = min(held.closed_after)
        self.assertGreaterEqual(earliest, TIMEOUT_MS / 1000.0 * 0.5,
                                "a held socket was closed after %.2f s, long before its "
                                "timeout: was it ever given a thread?" % earliest)
        return max(held.closed_after)

    def metrics(self, daemon):
        r = self.client(daemon).request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        out = {}
        for line in r.body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def test_fresh_clients_are_served_while_idle_and_slow_sockets_are_held(self):
        # 192 hostile sockets, three times the 64 threads of the old shipped
        # config; below this daemon's limit (224 of 256 threads).
        d = self.start_daemon(self.SALES, http_threads=256, http_keys=self.HTTP)
        held = self.hold(d)
        answers = self.ask_while_held(d, held, 6)
        self.assertEqual([a[0] for a in answers], [200] * 6)
        worst = max(a[3] for a in answers)
        took = self.assert_closed_after_timeout(held)
        note("%d idle + %d slowloris held: 6/6 fresh GETs 200, slowest %.0f ms; "
             "all held sockets closed by the server within %.1f s"
             % (self.IDLE, self.SLOW, worst * 1000, took))
        r = self.client(d).sale("launch")
        self.assertEqual(r.status, 200, r)

    def test_past_max_connections_a_fresh_client_gets_503_with_retry_after(self):
        d = self.start_daemon(self.SALES, http_threads=256,
                              http_keys=dict(self.HTTP, max_connections=128))
        held = self.hold(d)
        answers = self.ask_while_held(d, held, 4)
        for status, headers, body, _ in answers:
            self.assertEqual(status, 503, "192 sockets held, limit 128: expected 503")
            self.assertEqual(headers.get("retry-after"), "1")
            self.assertEqual(headers.get("connection"), "close")
            self.assertEqual(json.loads(body)["error"], "unavailable")
        self.assert_closed_after_timeout(held)
        # The held sockets are gone: served again, and the shed ones counted.
        harness.wait_until(lambda: self.client(d).sale("launch").status == 200,
                           what="a 200 once the held sockets were closed")
        m = self.metrics(d)
        self.assertGreaterEqual(m["flashsaled_http_shed_total"], 4)
        self.assertEqual(m["flashsaled_http_max_connections"], 128)
        # Every held socket was closed and uncounted: only this client's and
        # the harness' own connections are left.
        self.assertEqual(m['flashsaled_http_connections{state="shedding"}'], 0)
        self.assertLessEqual(m['flashsaled_http_connections{state="served"}'], 3)
        note("192 held, max_connections 128: fresh clients answered 503 + Retry-After "
             "in at most %.0f ms; %d shed in /metrics"
             % (max(a[3] for a in answers) * 1000, m["flashsaled_http_shed_total"]))

    def test_a_trickled_body_is_answered_408_after_the_request_timeout(self):
        d = self.start_daemon(self.SALES, http_keys=self.HTTP)
        s = socket.create_connection((harness.HOST, d.port), timeout=CLOSE_BOUND_S)
        self.addCleanup(s.close)
        s.sendall(("POST /booking-service/book-item/launch HTTP/1.1\r\nHost: x\r\n"
                   "User-Agent: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: 400\r\n\r\n{" % harness.USER_AGENT).encode())
        t0 = time.monotonic()
        s.setblocking(False)
        answer = b""
        while b"\r\n\r\n" not in answer and time.monotonic() - t0 < CLOSE_BOUND_S:
            try:
                s.send(b" ")  # one byte every 0.2 s: never 400 in time
            except OSError:
                pass
            sel = selectors.DefaultSelector()
            sel.register(s, selectors.EVENT_READ)
            if sel.select(0.2):
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                answer += chunk
            sel.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 408"),
                        "a body trickled for %.0f s got %r" % (time.monotonic() - t0, answer[:80]))
        self.assertIn(b'"error":"timeout"', answer.replace(b" ", b""))
        note("a body trickled a byte per 0.2 s: 408 after %.1f s (request_timeout_ms %d)"
             % (time.monotonic() - t0, TIMEOUT_MS))


class StreamsAndRequests(harness.DaemonTestCase):
    """More event streams asked for than there are threads: those past
    http.max_streams are answered 503 at once, and the streams that are open
    do not stop other requests from being answered."""

    START_DAEMON = False
    SALES = [{"id": "launch", "inventory": 40, "hold_seconds": 300}]
    THREADS, STREAMS, ASKED = 32, 16, 48

    def test_streams_past_the_limit_get_503_and_requests_are_still_answered(self):
        d = self.start_daemon(self.SALES, http_threads=self.THREADS,
                              http_keys={"max_streams": self.STREAMS,
                                         "max_streams_per_user": 2,
                                         "max_connections": 0})
        c = self.client(d)
        bookings = [self.hold_for(c, "launch", "user%d" % i)[:2]
                    for i in range(self.ASKED // 2)]
        raise_nofile(self.ASKED + 256)
        opened, refused = [], 0
        for i in range(self.ASKED):
            bid, tok = bookings[i // 2]
            s = socket.create_connection((harness.HOST, d.port), timeout=ANSWER_BOUND_S)
            self.addCleanup(s.close)
            s.sendall(("GET %s/events HTTP/1.1\r\nHost: x\r\nUser-Agent: %s\r\n"
                       "Authorization: Bearer %s\r\n\r\n"
                       % (harness.booking_path("launch", bid), harness.USER_AGENT, tok)).encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)  # the socket timeout is the hang bound
                self.assertTrue(chunk, "stream request %d: closed without an answer" % i)
                head += chunk
            status = int(head.split(b" ")[1])
            self.assertIn(status, (200, 503), head)
            if status == 503:
                self.assertIn(b"retry-after:", head.lower())
                refused += 1
                s.close()  # as a client told to retry later would
            else:
                opened.append(s)
        self.assertEqual((len(opened), refused), (self.STREAMS, self.ASKED - self.STREAMS))
        for _ in range(5):
            status, _, _, took = fresh_get(d.port, "/booking-service/sales/launch",
                                           ANSWER_BOUND_S)
            self.assertEqual(status, 200, "a request while %d streams were open"
                             % len(opened))
        note("%d streams asked on %d threads: %d open, %d answered 503 at once; "
             "fresh GETs still 200" % (self.ASKED, self.THREADS, len(opened), refused))


class TenThousandClients(harness.DaemonTestCase):
    """10,000 clients connect at once, each asks once and keeps its
    connection open (closing it when told Connection: close): every one is
    answered, 200 or 503 with Retry-After, within the hang bound, and the
    daemon stays up. The daemon's own thread defaults (2,048)."""

    START_DAEMON = False
    SALES = [{"id": "launch", "inventory": 10, "hold_seconds": 300}]
    CLIENTS = 10000
    BOUND_S = 60.0  # a hang bound for the whole crowd on a loaded machine

    async def one(self, port, keep):
        reader, writer = await asyncio.open_connection(harness.HOST, port)
        writer.write(("GET /booking-service/sales/launch HTTP/1.1\r\nHost: x\r\n"
                      "User-Agent: %s\r\n\r\n" % harness.USER_AGENT).encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        await reader.readexactly(length)
        if "connection: close" in head:
            writer.close()
        else:
            keep.append(writer)
        return status, "retry-after:" in head

    async def crowd(self, port):
        keep = []
        try:
            return await asyncio.wait_for(asyncio.gather(
                *(self.one(port, keep) for _ in range(self.CLIENTS)),
                return_exceptions=True), self.BOUND_S)
        finally:
            for w in keep:
                w.close()

    def test_ten_thousand_clients_at_once_are_all_answered(self):
        raise_nofile(self.CLIENTS + 512)
        # The crowd is one Python process: on a loaded machine some of its
        # requests leave seconds after their connect, and the daemon closes
        # such a slow client after request_timeout_ms (5 s by default; CI
        # saw 2,048 of them closed so beside a heavy test). That rule has
        # its own tests (HostileSockets); here the bound is the crowd's.
        d = self.start_daemon(self.SALES, http_threads=2048,
                              http_keys={"max_connections": 0,
                                         "request_timeout_ms": int(self.BOUND_S * 1000)})
        t0 = time.monotonic()
        answers = asyncio.run(self.crowd(d.port))
        took = time.monotonic() - t0
        failed = [a for a in answers if isinstance(a, BaseException)]
        self.assertEqual(failed[:3], [], "%d of %d clients got no answer"
                         % (len(failed), self.CLIENTS))
        statuses = {}
        for status, retry_after in answers:
            statuses[status] = statuses.get(status, 0) + 1
            if status == 503:
                self.assertTrue(retry_after, "a 503 without Retry-After")
        self.assertEqual(set(statuses) - {200, 503}, set(), statuses)
        self.assertTrue(d.alive(), "the daemon died under the crowd")
        with open("/proc/%d/status" % d.proc.pid) as f:
            rss = [l.split()[1] for l in f if l.startswith("VmRSS")][0]
        note("%d clients at once: all answered in %.1f s (%s), daemon RSS %s KiB"
             % (self.CLIENTS, took, ", ".join("%d x %d" % (n, st) for st, n in
                                            sorted(statuses.items())), rss))


class GatedDaemon(harness.Daemon):
    """A daemon on the test-only gated queue (with the memory inventory and
    sqlite storage), closed while the file self.gate exists."""

    def __init__(self, sales, **kw):
        test_dir = os.environ.get("FS_TEST_PLUGIN_DIR")
        if not test_dir or not os.path.exists(os.path.join(test_dir, "queue_gated.so")):
            raise AssertionError("queue_gated.so not found in FS_TEST_PLUGIN_DIR=%r: "
                                 "run under make check (it builds it)" % test_dir)
        super().__init__(sales, **kw)
        self.gate = os.path.join(self.dir, "closed.gate")
        self.stall = os.path.join(self.dir, "stalled.gate")
        self.plugin_dir = os.path.join(self.dir, "plugins")
        os.makedirs(self.plugin_dir)
        for src, name in ((harness.PLUGIN_DIR, "inventory_memory.so"),
                          (harness.PLUGIN_DIR, "storage_sqlite.so"),
                          (test_dir, "queue_gated.so")):
            os.symlink(os.path.join(src, name), os.path.join(self.plugin_dir, name))
        self.plugin_lines = (
            "  queue: { name: gated, gate: %s, stall: %s }"
            % (harness.yaml_scalar(self.gate), harness.yaml_scalar(self.stall)),
            "  inventory: { name: memory }",
            "  storage: { name: sqlite, path: data/bookings.db }")
        self.write_config(self.port)

    def command(self):
        return [harness.DAEMON, "--config", self.config_path, "--plugin-dir", self.plugin_dir]


class SlowShutdown(harness.DaemonTestCase):
    START_DAEMON = False
    SALES = [{"id": "calm", "inventory": 10, "hold_seconds": 300}]

    def test_a_slow_shutdown_says_what_it_waits_for_then_ends_cleanly(self):
        d = GatedDaemon(self.SALES)
        self.daemons.append(d)
        self.addCleanup(d.close_async)
        d.start()
        open(d.stall, "w").close()  # the worker's next consume hangs
        # SIGTERM once it hangs there: the HTTP part of a stop takes well
        # under the worker's 100 ms consume, so a worker between two consumes
        # is told to stop before it reaches the stalled one.
        harness.wait_until(lambda: os.path.exists(d.stall + ".reached"),
                           timeout=harness.scaled(10),
                           what="the worker's consume stalled")
        d.signal(signal.SIGTERM)
        wanted = "shutdown: still waiting for the worker's batch in flight after"
        harness.wait_until(lambda: wanted in d.full_log(),
                           timeout=harness.scaled(30),
                           what="a log line naming the part shutdown waits for")
        self.assertTrue(d.alive(), "the daemon ended before its worker did")
        os.unlink(d.stall)
        rc, took, killed = d.stop(send=False)
        self.assertFalse(killed, "the daemon did not end once its worker could")
        self.assertEqual(rc, 0, d.log_tail())
        note("a worker stuck at shutdown was named in the log; exit 0 %.1f s "
             "after it could return" % took)


class SaleQueueDepth(harness.DaemonTestCase):
    START_DAEMON = False
    DEPTH = 3
    SALES = [{"id": "narrow", "inventory": 10, "hold_seconds": 300, "max_queued": DEPTH}]

    def queued(self, c):
        r = c.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        out = {}
        for line in r.body.decode().splitlines():
            for name in ("flashsaled_sale_queued", "flashsaled_sale_queue_full_total"):
                if line.startswith(name + '{sale="narrow"} '):
                    out[name] = int(line.split(" ")[1])
        return out.get("flashsaled_sale_queued"), out.get("flashsaled_sale_queue_full_total")

    def test_a_full_sale_queue_answers_503_with_retry_after_and_accepts_nothing(self):
        d = GatedDaemon(self.SALES)
        open(d.gate, "w").close()  # closed: the worker decides nothing
        self.daemons.append(d)
        self.addCleanup(d.close_async)
        d.start()
        c = self.client(d)
        for i in range(self.DEPTH):
            self.book_ok(c, "narrow", "early%d" % i)
        self.assertEqual(self.queued(c), (self.DEPTH, 0))
        late = token_for("late")
        r = c.book("narrow", late)
        body = self.assertError(r, 503, "unavailable")
        self.assertIn("queue", body["message"])
        self.assertIsNotNone(r.header("Retry-After"), r)
        self.assertEqual(self.queued(c), (self.DEPTH, 1))
        # Open: the worker decides the three; nothing of late's was queued.
        os.unlink(d.gate)
        harness.wait_until(lambda: self.sale_view(c, "narrow")["held"] == self.DEPTH,
                           what="the queued requests held")
        self.assertEqual(self.queued(c), (0, 1))
        view = self.sale_view(c, "narrow")
        self.assertEqual((view["held"], view["available"]), (self.DEPTH, 10 - self.DEPTH))
        self.book_ok(c, "narrow", "late")  # a 202, not already_booked
        note("max_queued %d: the 4th request 503 + Retry-After, nothing accepted; "
             "depth and refusals in /metrics" % self.DEPTH)


if __name__ == "__main__":
    harness.main()
