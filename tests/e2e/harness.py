"""harness.py - shared helpers of the end-to-end tests: the daemon as a process.

Owns: locating the built daemon and plugins (FS_DAEMON, FS_PLUGIN_DIR,
FS_SRCDIR, as automake's AM_TESTS_ENVIRONMENT sets them), writing a config
into a private temp dir, starting the daemon and waiting until /healthz
answers, stopping it (SIGTERM, then SIGKILL after a bound), minting HS256
tokens (good and deliberately bad ones), keep-alive HTTP clients, bounded
polling of bookings, and a TestCase base that prints the tail of the daemon's
log when a test fails.

Python 3 standard library only: the target machine has Debian's python3 and
nothing from pip. Every request has a timeout and every wait has a deadline,
so a hung daemon fails a test instead of hanging `make check`.
"""

import atexit
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("FS_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
DAEMON = os.environ.get("FS_DAEMON") or os.path.join(SRCDIR, "flashsaled")
PLUGIN_DIR = os.environ.get("FS_PLUGIN_DIR") or os.path.join(SRCDIR, "plugins", ".libs")

SECRET = "a-test-secret-of-enough-length"
HOST = "127.0.0.1"
USER_AGENT = "flashsaled-e2e/1.0"

# Every bound below, and every bound a test derives from them with scaled(),
# is multiplied by FS_TIMEOUT_SCALE: CI raises it for the sanitizer build,
# whose daemon is several times slower. The bounds only catch a hang; no test
# fails because something was slow but finished.
TIMEOUT_SCALE = float(os.environ.get("FS_TIMEOUT_SCALE", "1"))


def scaled(seconds):
    """A hang bound of `seconds` on a normal build, stretched for slow ones."""
    return seconds * TIMEOUT_SCALE


READY_TIMEOUT = scaled(float(os.environ.get("FS_E2E_READY_TIMEOUT", "15")))
STOP_TIMEOUT = scaled(float(os.environ.get("FS_E2E_STOP_TIMEOUT", "5")))
HTTP_TIMEOUT = scaled(float(os.environ.get("FS_E2E_HTTP_TIMEOUT", "10")))
POLL_TIMEOUT = scaled(float(os.environ.get("FS_E2E_POLL_TIMEOUT", "10")))
POLL_INTERVAL = 0.02
LOG_TAIL_LINES = 80

ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RFC3339_UTC_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

FINAL_STATES = {"booked", "deleted", "expired", "rejected"}

# The sales of DESIGN/brief; tests pick the ones they need or pass their own.
LAUNCH = {"id": "launch", "inventory": 100, "hold_seconds": 300}
SHORT = {"id": "short", "inventory": 5, "hold_seconds": 1}
FUTURE = {"id": "future", "inventory": 5, "starts_at": "2099-01-01T00:00:00Z"}
PAST = {"id": "past", "inventory": 5, "starts_at": "2000-01-01T00:00:00Z",
        "ends_at": "2000-01-02T00:00:00Z"}
DEFAULT_SALES = [LAUNCH, SHORT, FUTURE, PAST]


def note(msg):
    """Says what a check did, so the test's .log reads as a report."""
    print("    " + msg, flush=True)


# ---- tokens ----------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(header, claims, secret=SECRET, digest=hashlib.sha256):
    """A JWT with exactly this header and these claims. secret=None leaves
    the signature empty (what an `alg: none` token carries)."""
    signing_input = (b64url(json.dumps(header, separators=(",", ":"))) + "." +
                     b64url(json.dumps(claims, separators=(",", ":"))))
    sig = ""
    if secret is not None:
        key = secret.encode() if isinstance(secret, str) else secret
        sig = b64url(hmac.new(key, signing_input.encode(), digest).digest())
    return signing_input + "." + sig


def token_for(user, ttl=3600, secret=SECRET):
    """A valid HS256 token for `user` (sub, iat, exp)."""
    now = int(time.time())
    return make_jwt({"alg": "HS256", "typ": "JWT"},
                    {"sub": user, "iat": now, "exp": now + ttl}, secret)


def decode_jwt(token):
    """(header, claims, signature bytes) of a compact JWT; no verification."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWT: %r" % token[:80])
    return (json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1])),
            b64url_decode(parts[2]))


def jwt_signature_ok(token, secret=SECRET):
    head, _, sig = token.rpartition(".")
    want = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(want, b64url_decode(sig))


# ---- time ------------------------------------------------------------------

def parse_rfc3339_utc(text):
    """Unix seconds of an RFC 3339 UTC timestamp ending in Z."""
    if not isinstance(text, str) or not RFC3339_UTC_RE.match(text):
        raise ValueError("not an RFC 3339 UTC timestamp ending in Z: %r" % (text,))
    base, _, frac = text[:-1].partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return t.timestamp() + (float("0." + frac) if frac else 0.0)


# ---- HTTP ------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # http.client.HTTPMessage: case-insensitive
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name, default)

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise AssertionError("HTTP %d body is not JSON (%s): %r"
                                 % (self.status, e, self.body[:300]))

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:300])


_RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError,
              BrokenPipeError, ConnectionAbortedError, http.client.BadStatusLine)


class Client:
    """One keep-alive HTTP/1.1 connection. Not thread-safe: one per thread.

    A request that fails on a reused connection (the server closed it while
    idle, or after an error answer) is retried once on a fresh connection;
    `retried` tells the caller, because a retried POST may have been taken.
    """

    def __init__(self, port, host=HOST, timeout=HTTP_TIMEOUT):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None
        self.used = False
        self.retried = False

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _connect(self):
        self.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.used = False

    def request(self, method, path, body=None, token=None, headers=None):
        hdrs = {"User-Agent": USER_AGENT}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        self.retried = False
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            reused = self.used
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except _RETRYABLE:
                self.close()
                if reused and attempt == 0:
                    self.retried = True
                    continue
                raise
            except Exception:
                self.close()
                raise
            self.used = True
            if resp.will_close:
                self.close()
            return Response(resp.status, resp.reason, resp.headers, data)
        raise AssertionError("unreachable")

    # The API, spelled once.
    def book(self, sale, token, **kw):
        return self.request("POST", "/booking-service/book-item/%s" % sale, token=token, **kw)

    def get_booking(self, sale, booking_id, token, **kw):
        return self.request("GET", booking_path(sale, booking_id), token=token, **kw)

    def confirm(self, sale, booking_id, token, body=None, **kw):
        return self.request("PUT", booking_path(sale, booking_id),
                            body={"status": "booked"} if body is None else body,
                            token=token, **kw)

    def cancel(self, sale, booking_id, token, body=None, **kw):
        return self.request("DELETE", booking_path(sale, booking_id), body=body,
                            token=token, **kw)

    def sale(self, sale, **kw):
        return self.request("GET", "/booking-service/sales/%s" % sale, **kw)


def booking_path(sale, booking_id):
    return "/booking-service/book-item/%s/%s" % (sale, booking_id)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def raw_exchange(port, data, read_timeout=3.0, half_close=True):
    """Sends raw bytes on a fresh connection and returns whatever comes back
    until the server closes or read_timeout passes (b"" if nothing)."""
    out = b""
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            return out  # the server may close on us mid-send: fine
        deadline = time.monotonic() + read_timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


# ---- the daemon ------------------------------------------------------------

_REAPERS = []
_DAEMONS = []  # every Daemon made in this process, for the exit checks

# How a daemon process ended, as the harness saw it. Only END_KILL (the test
# killed it, as a crash would) may end with any status; a SIGTERM must end in
# exit 0 (DESIGN: "SIGTERM ... exit 0 within a few seconds"), and under the
# sanitizers a leak or an error found at shutdown makes that status non-zero.
END_TERM = "after SIGTERM"
END_KILL = "SIGKILLed by the test"
END_HUNG = "ignored SIGTERM and was SIGKILLed"
END_DIED = "died on its own"

_SANITIZER_RE = re.compile(r"^==\d+==(ERROR|WARNING): |runtime error: |^SUMMARY: \w+Sanitizer",
                           re.M)


def sanitizer_report(text, max_lines=150):
    """The first AddressSanitizer/LeakSanitizer/UBSan report in `text`, or None."""
    m = _SANITIZER_RE.search(text)
    if m is None:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    return "\n".join(text[start:].splitlines()[:max_lines])


@atexit.register
def _join_reapers():
    """Also when the file is run by `python3 -m unittest` instead of main()."""
    for t in _REAPERS:
        t.join(2 * STOP_TIMEOUT + 1)


def _status_text(rc):
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit status %d" % rc


class DaemonError(AssertionError):
    """The daemon could not be started: a failure, never a skip."""


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


# The embedded default as etc/flashsaled.yaml ships it: the journal queue.
EMBEDDED_PLUGINS = (
    "  queue: { name: journal, path: data/queue }",
    "  inventory: { name: memory }",
    "  storage: { name: sqlite, path: data/bookings.db }",
)
# The memory queue: a 202 rests on the SQLite record instead (the built-in
# default when a config names no queue).
MEMORY_QUEUE_PLUGINS = (
    "  queue: { name: memory }",
    "  inventory: { name: memory }",
    "  storage: { name: sqlite, path: data/bookings.db }",
)

# tests/e2e/run_on_real_backends.py runs the end-to-end files again with
# these set: every daemon then uses RabbitMQ, Redis and MongoDB, each with a
# queue, key prefix and database of its own, so tests never share state.
REAL_URLS = (os.environ.get("FS_E2E_AMQP_URL"), os.environ.get("FS_E2E_REDIS_URL"),
             os.environ.get("FS_E2E_MONGO_URI"))
_real_names = iter(range(1, 1 << 30))


def plugin_names(lines):
    """{"queue": "journal", ...}: each kind's plugin in config lines as above."""
    names = {}
    for line in lines:
        m = re.match(r"\s*(queue|inventory|storage): \{ name: ([A-Za-z0-9_]+)", line)
        if m:
            names[m.group(1)] = m.group(2)
    return names


def default_plugin_lines():
    if not all(REAL_URLS):
        return EMBEDDED_PLUGINS
    amqp, redis, mongo = REAL_URLS
    ns = "e2e%d_%d" % (os.getpid(), next(_real_names))
    return (
        "  queue: { name: rabbitmq, url: %s, queue: %s }" % (json.dumps(amqp), ns),
        "  inventory: { name: redis, url: %s, prefix: %s, command_timeout_ms: 3000 }"
        % (json.dumps(redis), ns),
        "  storage: { name: mongo, uri: %s, database: %s, write_concern: 1 }"
        % (json.dumps(mongo), ns),
    )


def render_config(port, sales, plugin_dir=PLUGIN_DIR, http_threads=64,
                  sweep_interval_ms=50, secret=SECRET, extra_lines=(),
                  plugin_lines=EMBEDDED_PLUGINS, claim_lease_ms=None, http_keys=None,
                  auth_extra=None, listen_extra=(), log_keys=None,
                  worker_keys=None):
    worker = "sweep_interval_ms: %d" % sweep_interval_ms
    if claim_lease_ms is not None:
        worker += ", claim_lease_ms: %d" % claim_lease_ms
    for k, v in (worker_keys or {}).items():
        worker += ", %s: %s" % (k, yaml_scalar(v))
    # Tests size threads for their own clients: no reserve for shedding
    # unless a test asks for one (test_load_limits.py), so that a test of
    # something else never sees a 503 from the connection limit.
    http = {"threads": http_threads, "max_connections": http_threads}
    http.update(http_keys or {})
    # The plain port first: the harness waits on it. listen_extra adds more
    # (test_tls.py: a TLS port, "127.0.0.1:PORTs").
    listen = ",".join(["%s:%d" % (HOST, port)] + list(listen_extra))
    log = {"level": "info"}
    log.update(log_keys or {})
    lines = [
        "# written by tests/e2e/harness.py",
        "listen: %s" % yaml_scalar(listen),
        "http: { %s }" % ", ".join("%s: %s" % (k, yaml_scalar(v)) for k, v in http.items()),
        "plugins:",
        "  dir: %s" % yaml_scalar(plugin_dir),
        *plugin_lines,
        # auth_extra: more auth keys as YAML flow text ("jwks_url: ...").
        "auth: { %s }" % ", ".join(
            (["jwt_secret: %s" % yaml_scalar(secret)] if secret else []) +
            ([auth_extra] if auth_extra else [])),
        "policies: { dir: policies }",
        "worker: { %s }" % worker,
        "log: { %s }" % ", ".join("%s: %s" % (k, yaml_scalar(v)) for k, v in log.items()),
    ]
    lines.extend(extra_lines)
    lines.append("sales:")
    for sale in sales:
        lines.append("  - { " + ", ".join("%s: %s" % (k, yaml_scalar(v))
                                          for k, v in sale.items()) + " }")
    return "\n".join(lines) + "\n"


class Daemon:
    """One flashsaled process over a private work dir (config, data, log).

    start() may be called again after stop()/kill(): the data dir is kept, a
    new port is chosen (the old one may linger in TIME_WAIT), the log is
    appended to.
    """

    def __init__(self, sales=None, http_threads=64, sweep_interval_ms=50,
                 extra_lines=(), plugin_lines=None, secret=SECRET, claim_lease_ms=None,
                 http_keys=None, auth_extra=None, listen_extra=(), log_keys=None,
                 worker_keys=None):
        self.sales = DEFAULT_SALES if sales is None else sales
        self.claim_lease_ms = claim_lease_ms
        self.http_threads = http_threads
        self.http_keys = dict(http_keys or {})
        self.listen_extra = list(listen_extra)
        self.log_keys = dict(log_keys or {})
        self.worker_keys = dict(worker_keys or {})
        self.sweep_interval_ms = sweep_interval_ms
        self.extra_lines = list(extra_lines)
        self.plugin_lines = tuple(plugin_lines or default_plugin_lines())
        self.secret = secret
        self.auth_extra = auth_extra
        self.dir = tempfile.mkdtemp(prefix="flashsaled-e2e-")
        os.makedirs(os.path.join(self.dir, "data"))
        os.makedirs(os.path.join(self.dir, "policies"))
        self.config_path = os.path.join(self.dir, "flashsaled.yaml")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.port = None
        self.proc = None
        self.exit_codes = []
        self.ends = []        # (how, status, log offset of that run), one per process
        self.log_text = None  # kept after close(), for the failure report
        self._reaper = None
        self._ended_by_us = False
        self._end_recorded = True
        self._log_from = 0
        self._checked = 0     # ends already reported by exit_problems()
        self.write_config(free_port())
        _DAEMONS.append(self)

    def write_config(self, port):
        self.port = port
        with open(self.config_path, "w") as f:
            f.write(render_config(port, self.sales, http_threads=self.http_threads,
                                  sweep_interval_ms=self.sweep_interval_ms,
                                  extra_lines=self.extra_lines,
                                  plugin_lines=self.plugin_lines, secret=self.secret,
                                  claim_lease_ms=self.claim_lease_ms,
                                  http_keys=self.http_keys,
                                  auth_extra=self.auth_extra,
                                  listen_extra=self.listen_extra,
                                  log_keys=self.log_keys,
                                  worker_keys=self.worker_keys))

    def command(self):
        return [DAEMON, "--config", self.config_path, "--plugin-dir", PLUGIN_DIR]

    def start(self, new_port=False):
        if not os.path.exists(DAEMON):
            raise DaemonError("daemon not found at %s (set FS_DAEMON)" % DAEMON)
        if new_port:
            self.write_config(free_port())
        self.check_died()
        self._ended_by_us = False
        self._end_recorded = False
        with open(self.log_path, "ab") as log:
            self._log_from = log.tell()
            log.write(("---- starting: %s\n" % " ".join(self.command())).encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self._record_end(END_DIED, rc)
                raise DaemonError("daemon exited with %d before /healthz answered 200; log:\n%s"
                                  % (rc, self.log_tail()))
            try:
                with Client(self.port, timeout=1.0) as c:
                    r = c.request("GET", "/healthz")
                if r.status == 200:
                    return
                last = "HTTP %d" % r.status
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            if time.monotonic() > deadline:
                self.kill()
                raise DaemonError("daemon not ready within %.0f s (last: %s); log:\n%s"
                                  % (timeout, last, self.log_tail()))
            time.sleep(POLL_INTERVAL * 2)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def _kill_group(self):
        # The libtool wrapper execs the binary, but if it ever forks, the
        # real daemon is still in our session's process group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout=STOP_TIMEOUT, send=True):
        """SIGTERM (unless already sent), then SIGKILL after `timeout`.
        Returns (exit code, seconds it took, whether SIGKILL was needed);
        None if never started."""
        if self.proc is None:
            return None
        self.check_died()
        if self.proc.returncode is not None:
            return (self.proc.returncode, 0.0, False)
        self._ended_by_us = True
        t0 = time.monotonic()
        killed = False
        if send:
            self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            self._kill_group()
            rc = self.proc.wait(STOP_TIMEOUT)
        self._kill_group()
        self._record_end(END_HUNG if killed else END_TERM, rc)
        return (rc, time.monotonic() - t0, killed)

    def _record_end(self, how, rc):
        if not self._end_recorded:
            self._end_recorded = True
            self.exit_codes.append(rc)
            self.ends.append((how, rc, self._log_from))

    def check_died(self):
        """Records an exit nobody asked for (a crash); True if there was one."""
        if (self.proc is not None and not self._ended_by_us and not self._end_recorded
                and self.proc.poll() is not None):
            self._record_end(END_DIED, self.proc.returncode)
        return any(how == END_DIED for how, _, _ in self.ends)

    def exit_problems(self):
        """One message per process of this daemon that ended wrongly since the
        last call: died on its own, ignored SIGTERM, or ended with a non-zero
        status after SIGTERM (a sanitizer's leak or error report at shutdown
        ends that way). Each message carries the sanitizer's report, or else
        the tail of that run's log."""
        self.check_died()
        problems = []
        for how, rc, log_from in self.ends[self._checked:]:
            if how == END_KILL or (how == END_TERM and rc == 0):
                continue
            problems.append(self._describe_end(how, rc, log_from))
        self._checked = len(self.ends)
        return problems

    def _describe_end(self, how, rc, log_from):
        text = self.full_log()[log_from:]
        report = sanitizer_report(text)
        what = "the daemon (%s) %s: %s" % (self.config_path, how, _status_text(rc))
        if report:
            return "%s\n---- sanitizer report ----\n%s\n---- end of report ----" % (what, report)
        tail = "\n".join(text.splitlines()[-40:])
        return "%s\n---- tail of that run's log ----\n%s\n---- end of log ----" % (what, tail)

    def describe_exit(self):
        """Every wrong end so far, for a failure report; None if there was none."""
        self.check_died()
        wrong = [self._describe_end(how, rc, at).split("\n")[0] for how, rc, at in self.ends
                 if not (how == END_KILL or (how == END_TERM and rc == 0))]
        return "; ".join(wrong) or None

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.check_died()
        if self._end_recorded:
            return
        self._ended_by_us = True
        self._kill_group()
        self._record_end(END_KILL, self.proc.wait(STOP_TIMEOUT))

    def full_log(self):
        """The whole log of every run, also after close() removed the dir.
        Offsets are of the file's bytes, which decode one-to-one for ASCII."""
        if self.log_text is not None:
            return self.log_text
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("latin-1")
        except OSError as e:
            return "(no log: %s)" % e

    def log_tail(self, lines=LOG_TAIL_LINES):
        return "\n".join(self.full_log().splitlines()[-lines:])

    def close(self, signalled=False):
        """Always safe: stops the process and removes the work dir."""
        try:
            self.stop(send=not signalled)
        finally:
            if self.log_text is None:
                self.log_text = self.full_log()
            shutil.rmtree(self.dir, ignore_errors=True)

    def close_async(self):
        """Sends SIGTERM now and leaves the wait (bounded, then SIGKILL) and
        the cleanup to a reaper thread, so that a test's teardown does not
        cost the daemon's shutdown time. main() joins every reaper."""
        self.check_died()
        if not self.alive():
            self.close()
            return
        self._ended_by_us = True
        self.signal(signal.SIGTERM)
        self._reaper = threading.Thread(target=self.close, kwargs={"signalled": True},
                                        daemon=True)
        self._reaper.start()
        _REAPERS.append(self._reaper)

    def wait_closed(self, timeout=2 * STOP_TIMEOUT + 1):
        if self._reaper is not None:
            self._reaper.join(timeout)

    def client(self, **kw):
        return Client(self.port, **kw)


def run_cli(args, timeout=scaled(15), cwd=None):
    """Runs the daemon binary with `args` (no server). CompletedProcess."""
    return subprocess.run([DAEMON] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, cwd=cwd)


# ---- concurrency -----------------------------------------------------------

def parallel(fn, items, threads, port, deadline_s=90.0):
    """Calls fn(client, item) for every item from `threads` threads, each with
    its own keep-alive Client. Returns results in item order; an exception is
    returned in place of its result (the test decides what that means)."""
    items = list(items)
    results = [None] * len(items)
    lock = threading.Lock()
    nxt = [0]

    def worker():
        with Client(port) as c:
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(items):
                    return
                try:
                    results[i] = fn(c, items[i])
                except Exception as e:  # noqa: BLE001 - reported by the caller
                    results[i] = e

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(min(threads, len(items)) or 1)]
    for t in ts:
        t.start()
    end = time.monotonic() + deadline_s
    for t in ts:
        t.join(max(0.0, end - time.monotonic()))
    stuck = sum(t.is_alive() for t in ts)
    if stuck:
        raise AssertionError("%d client threads still running after %.0f s" % (stuck, deadline_s))
    return results


class CheckedThread(threading.Thread):
    """A thread whose exception is kept for join_all() to re-raise, instead
    of being printed by threading and lost to the test."""

    def __init__(self, target, *args, name=None):
        super().__init__(daemon=True, name=name)
        self._fn, self._args = target, args
        self.error = None
        self.result = None

    def run(self):
        try:
            self.result = self._fn(*self._args)
        except BaseException as e:  # noqa: BLE001 - re-raised by join_all
            self.error = e


def start_threads(calls):
    """Starts a CheckedThread for each (fn, *args) tuple; returns them."""
    threads = [CheckedThread(call[0], *call[1:]) for call in calls]
    for t in threads:
        t.start()
    return threads


def join_all(threads, timeout, what="client threads"):
    """Joins every thread within one shared deadline. Fails when one is still
    running then (a hang), and re-raises the first error a thread raised.
    Returns the threads' results in order."""
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        raise AssertionError("%d of %d %s still running after %.0f s: %s"
                             % (len(stuck), len(threads), what, timeout, stuck[:5]))
    for t in threads:
        if getattr(t, "error", None) is not None:
            raise AssertionError("one of the %s failed: %r" % (what, t.error)) from t.error
    return [getattr(t, "result", None) for t in threads]


class Sampler(threading.Thread):
    """Polls the public sale view until stopped and records every sample,
    so invariants can be checked at many instants, not only at the end."""

    def __init__(self, port, sale):
        super().__init__(daemon=True)
        self.port, self.sale_id = port, sale
        self.samples = []
        self.errors = []
        self._stop_evt = threading.Event()

    def run(self):
        with Client(self.port) as c:
            while not self._stop_evt.is_set():
                try:
                    r = c.sale(self.sale_id)
                    if r.status == 200:
                        self.samples.append(r.json)
                    else:
                        self.errors.append(repr(r))
                except Exception as e:  # noqa: BLE001
                    self.errors.append(repr(e))
                self._stop_evt.wait(0.005)

    def stop(self):
        self._stop_evt.set()
        self.join(HTTP_TIMEOUT + 2)


def wait_booking(client, sale, booking_id, token, done=lambda b: b["status"] != "queued",
                 timeout=POLL_TIMEOUT):
    """GETs the booking until done(booking) or the deadline; returns the last
    booking JSON. Fails on anything but 200."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get_booking(sale, booking_id, token)
        if r.status != 200:
            raise AssertionError("GET booking %s/%s: %r" % (sale, booking_id, r))
        b = r.json
        if done(b):
            return b
        if time.monotonic() > deadline:
            raise AssertionError("booking %s/%s still %r after %.0f s"
                                 % (sale, booking_id, b.get("status"), timeout))
        time.sleep(POLL_INTERVAL)


def book_settled(client, sale, token, timeout=POLL_TIMEOUT):
    """POSTs until the answer is not 503 unavailable (a claim of the same
    user still awaiting its confirm answers that: DESIGN.md 9.7), polling
    with a bound; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.book(sale, token)
        if r.status != 503 or time.monotonic() > deadline:
            return r
        time.sleep(POLL_INTERVAL)


def metric_sample(client, sample):
    """The value of one sample line of /metrics (name and labels as
    written), or None when there is no such line."""
    r = client.request("GET", "/metrics")
    m = re.search(r"^%s (\S+)$" % re.escape(sample), r.body.decode(), re.M)
    return float(m.group(1)) if m else None


def wait_until(pred, timeout=POLL_TIMEOUT, what="condition"):
    """Polls pred() until it returns a true value (returned) or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.0f s" % (what, timeout))
        time.sleep(POLL_INTERVAL)


# ---- the test base ---------------------------------------------------------

class DaemonTestCase(unittest.TestCase):
    """Starts a fresh daemon for each test (SALES, HTTP_THREADS) unless
    START_DAEMON is False; stops it and removes its dir afterwards, and
    prints the tail of its log when the test failed."""

    SALES = DEFAULT_SALES
    HTTP_THREADS = 64
    START_DAEMON = True
    PLUGIN_LINES = None  # None: default_plugin_lines()

    maxDiff = 4000

    def setUp(self):
        self.daemons = []
        self.clients = []
        if self.START_DAEMON:
            self.daemon = self.start_daemon(self.SALES, http_threads=self.HTTP_THREADS,
                                            plugin_lines=self.PLUGIN_LINES)
            self.c = self.client()

    def start_daemon(self, sales=None, **kw):
        d = Daemon(sales, **kw)
        self.daemons.append(d)
        self.addCleanup(d.close_async)  # runs even when setUp fails
        d.start()
        return d

    def client(self, daemon=None):
        c = (daemon or self.daemon).client()
        self.clients.append(c)
        self.addCleanup(c.close)
        return c

    def run(self, result=None):
        if result is None:
            return super().run(result)
        # Registered before anything else, so it runs after every other
        # cleanup (they are last in, first out), once each daemon was closed.
        first_daemon = len(_DAEMONS)
        self.addCleanup(self._check_daemon_exits, first_daemon)
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for d in getattr(self, "daemons", []):
                d.wait_closed()
                if d.describe_exit():
                    sys.stderr.write("\n**** %s: %s ****\n" % (self.id(), d.describe_exit()))
                sys.stderr.write("\n---- %s: tail of the daemon log (%s) ----\n%s\n---- end of log ----\n"
                                 % (self.id(), d.log_path, d.log_tail()))
                sys.stderr.flush()
        return result

    def _check_daemon_exits(self, first_daemon):
        """Fails the test when a daemon it made died, hung on SIGTERM, or
        ended SIGTERM with a non-zero status (a sanitizer's finding)."""
        problems = []
        for d in _DAEMONS[first_daemon:]:
            d.wait_closed()
            if d.alive():  # never closed by the test: close it now, and check
                d.close()
            problems.extend(d.exit_problems())
        if problems:
            self.fail("\n\n".join(problems))

    # ---- assertions shared by the files ----

    def assertJson(self, r):
        ctype = r.header("Content-Type", "")
        self.assertTrue(ctype.startswith("application/json"),
                        "Content-Type %r, expected application/json (%r)" % (ctype, r))
        # A newline ends every JSON answer, so that what curl prints does not
        # run into the shell's prompt.
        self.assertTrue(r.body.endswith(b"}\n"), "JSON answer not ended by a newline: %r" % r)
        return r.json

    def assertError(self, r, status, code):
        """An error answer: the status, JSON, {"error": code, "message": str}."""
        self.assertEqual(r.status, status, "expected %d %s, got %r" % (status, code, r))
        body = self.assertJson(r)
        self.assertEqual(body.get("error"), code, "error code in %r" % body)
        self.assertIsInstance(body.get("message"), str, "message in %r" % body)
        return body

    def assertUnauthenticated(self, r):
        body = self.assertError(r, 401, "unauthenticated")
        www = r.header("WWW-Authenticate", "")
        self.assertTrue(www.lower().startswith("bearer"),
                        "401 without WWW-Authenticate: Bearer (got %r)" % www)
        return body

    def assertSaleConsistent(self, view, inventory):
        held, booked, avail = view["held"], view["booked"], view["available"]
        self.assertLessEqual(held + booked, inventory, "oversold: %r" % view)
        self.assertGreaterEqual(avail, 0, "negative available: %r" % view)
        self.assertLessEqual(avail, inventory, "more available than inventory: %r" % view)

    def book_ok(self, client, sale, user):
        """POSTs for `user` and checks the 202; returns (booking_id, token)."""
        tok = token_for(user)
        r = client.book(sale, tok)
        self.assertEqual(r.status, 202, "POST %s for %s: %r" % (sale, user, r))
        body = self.assertJson(r)
        return body["booking_id"], tok

    def hold_for(self, client, sale, user):
        """A booking of `user` that reached hold; returns (booking_id, token, booking)."""
        bid, tok = self.book_ok(client, sale, user)
        b = wait_booking(client, sale, bid, tok)
        self.assertEqual(b["status"], "hold", "booking of %s: %r" % (user, b))
        return bid, tok, b

    def sale_view(self, client, sale):
        r = client.sale(sale)
        self.assertEqual(r.status, 200, "GET sales/%s: %r" % (sale, r))
        return self.assertJson(r)

    def settled_view(self, client, sale, **want):
        """The sale view once its fields read `want` (available=3, ...),
        polled with the harness's bound; fails with the last view read.
        On the real set a sale view is the daemon's replica, which Redis
        Pub/Sub updates a moment after the change's own answer (README,
        "the redis inventory"): read at once, it may be a change behind."""
        last = {}

        def matches():
            last["view"] = self.sale_view(client, sale)
            return all(last["view"].get(k) == v for k, v in want.items())

        try:
            wait_until(matches, what="sale %s reading %r" % (sale, want))
        except AssertionError as e:
            self.fail("%s; last view %r" % (e, last.get("view")))
        return last["view"]


def main():
    """unittest.main with verbose output; exits non-zero on any failure."""
    if not os.environ.get("FS_DAEMON"):
        note("FS_DAEMON not set, using %s" % DAEMON)
    prog = unittest.main(verbosity=2, buffer=False, exit=False)
    _join_reapers()
    sys.exit(0 if prog.result.wasSuccessful() and not _unreported_exit_problems() else 1)


def _unreported_exit_problems():
    """Daemons made outside a test (setUpClass, module level) are checked
    here, once every reaper has finished: their wrong ends fail the file."""
    problems = []
    for d in _DAEMONS:
        if d.alive():
            d.close()
        problems.extend(d.exit_problems())
    for p in problems:
        sys.stderr.write("\n**** a daemon ended wrongly outside any test ****\n%s\n" % p)
    return problems
