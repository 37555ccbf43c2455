"""cdp.py - a small Chrome DevTools Protocol client for the browser tests.

Owns: starting Debian's headless `chromium` with a private profile on a free
debugging port, one WebSocket to its page (RFC 6455, client side only: text
frames, masking, ping/pong, close), protocol calls with a deadline, event
handlers, and stopping the browser (also on failure).

Python 3 standard library only, like harness.py. A browser that cannot be
found or started raises BrowserError: the test FAILS and says why, it never
skips.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

CHROMIUM = os.environ.get("FS_CHROMIUM") or shutil.which("chromium") or "chromium"
START_TIMEOUT = float(os.environ.get("FS_CHROMIUM_START_TIMEOUT", "30"))
CALL_TIMEOUT = float(os.environ.get("FS_CDP_CALL_TIMEOUT", "20"))

# Flags of the environment: no sandbox (root), no GPU, nothing fetched from
# the network behind the test's back.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
]

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BrowserError(AssertionError):
    """The browser could not be started or stopped answering: a failure."""


class WebSocket:
    """One client WebSocket over a plain TCP socket."""

    def __init__(self, host, port, path, timeout=CALL_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        # No Origin header: Chromium refuses DevTools connections whose
        # Origin it was not told to allow.
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.sock.sendall(req.encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        want = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or want not in head:
            raise BrowserError("DevTools WebSocket handshake refused: %r" % head[:200])

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise BrowserError("the browser closed the DevTools connection")
        self.buf += chunk

    def _read(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _send_frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def recv_text(self, timeout):
        """The next text message, or None when `timeout` passes first."""
        self.sock.settimeout(timeout)
        message = b""
        try:
            while True:
                b0, b1 = self._read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(8))[0]
                payload = self._read(n)  # a server never masks
                opcode = b0 & 0x0F
                if opcode == 0x9:
                    self._send_frame(0xA, payload)
                elif opcode == 0x8:
                    raise BrowserError("the browser closed the DevTools connection")
                elif opcode in (0x0, 0x1):
                    message += payload
                    if b0 & 0x80:
                        return message.decode("utf-8")
        except socket.timeout:
            if message:
                raise BrowserError("a DevTools message was cut short")
            return None

    def close(self):
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class Session:
    """Protocol calls on one target. Events go to handlers registered with
    on(); they run while call() or pump() waits, and may send() (not call())."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 1
        self.handlers = {}
        self.events = []  # (method, params) of every event, for reports

    def on(self, method, fn):
        self.handlers[method] = fn

    def send(self, method, **params):
        mid = self.next_id
        self.next_id += 1
        self.ws.send_text(json.dumps({"id": mid, "method": method, "params": params}))
        return mid

    def _dispatch(self, msg):
        if "method" in msg:
            self.events.append((msg["method"], msg.get("params", {})))
            fn = self.handlers.get(msg["method"])
            if fn is not None:
                fn(msg.get("params", {}))

    def call(self, method, timeout=CALL_TIMEOUT, **params):
        mid = self.send(method, **params)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer to %s within %.0f s" % (method, timeout))
            text = self.ws.recv_text(left)
            if text is None:
                continue
            msg = json.loads(text)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError("%s failed: %r" % (method, msg["error"]))
                return msg.get("result", {})
            self._dispatch(msg)

    def evaluate(self, expression, timeout=CALL_TIMEOUT):
        """The value of a JavaScript expression (JSON-serialisable)."""
        r = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                      returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise BrowserError("page script failed: %r" % r["exceptionDetails"])
        return r.get("result", {}).get("value")


class Browser:
    """One headless chromium with a private profile; close() always stops it."""

    def __init__(self, width=1280, height=900):
        self.width, self.height = width, height
        self.proc = None
        self.profile = None
        self.log_path = None
        self.port = None
        self.ws = None

    def start(self):
        if not shutil.which(CHROMIUM):
            raise BrowserError("chromium not found (install Debian's chromium "
                               "package, or set FS_CHROMIUM)")
        self.profile = tempfile.mkdtemp(prefix="flashsaled-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        cmd = [CHROMIUM] + FLAGS + [
            "--user-data-dir=" + os.path.join(self.profile, "profile"),
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            "--window-size=%d,%d" % (self.width, self.height), "about:blank"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.port = self._wait_port()
        return self

    def _wait_port(self):
        """Chromium writes the port it chose into the profile."""
        path = os.path.join(self.profile, "profile", "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError("chromium exited with %d at start; log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                with open(path) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].isdigit():
                    return int(lines[0])
            except OSError:
                pass
            time.sleep(0.05)
        raise BrowserError("chromium gave no DevTools port within %.0f s; log:\n%s"
                           % (START_TIMEOUT, self.log_tail()))

    def _targets(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CALL_TIMEOUT)
        try:
            conn.request("GET", "/json/list")
            return json.loads(conn.getresponse().read().decode())
        finally:
            conn.close()

    def page(self):
        """A session on the browser's first page."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            pages = [t for t in self._targets() if t.get("type") == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise BrowserError("chromium shows no page target")
            time.sleep(0.05)
        url = pages[0]["webSocketDebuggerUrl"]
        path = url.split("127.0.0.1:%d" % self.port, 1)[1]
        self.ws = WebSocket("127.0.0.1", self.port, path)
        return Session(self.ws)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except (OSError, TypeError):
            return "(no log)"

    def close(self):
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:  # helpers (zygote, GPU) share the session: leave none behind
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None
