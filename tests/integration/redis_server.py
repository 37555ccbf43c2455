"""redis_server.py - a real redis-server for tests: started on 127.0.0.1 on a
free port with its data in a private temp dir, and always stopped.

Python 3 standard library only. Import it from anywhere under tests/ with

    sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
    from redis_server import RedisServer, RedisError

API
---
RedisServer(password=None, users=(), args=(), start_timeout=10.0,
            stop_timeout=5.0, binary="redis-server")
    A server that is not running yet. `password` sets requirepass (the
    password of the `default` user); `users` is a list of (name, password)
    ACL users created with every permission (`~* &* +@all`); `args` are more
    redis-server arguments, e.g. ("--maxmemory", "10mb").
    The server never persists anything (--save '' --appendonly no), so a
    restart loses every key, like a Redis run without persistence.

with RedisServer(...) as r:      start() on enter, stop() on exit (also on
                                 an exception); the temp dir is removed.
r.start()      picks a free port (first start) and waits until PING answers,
               within start_timeout; raises RuntimeError with the tail of the
               server's log if it exits or does not answer in time.
r.stop()       SIGTERM, then SIGKILL after stop_timeout; waits for the exit.
r.kill()       SIGKILL, as a crash: whatever the server held is gone.
r.restart()    kill() if running, then start() on the same port.
r.running      True while the process is alive.
r.host, r.port, r.pid, r.dir (its working dir), r.log_path
r.url(db=0, user=None, password=None)
               "redis://[user:password@]127.0.0.1:PORT/DB", for the
               inventory plugin's `url` option; password defaults to the
               server's own when user is None.
r.command(*args, password=None, timeout=5.0)
               sends one command on a fresh connection (AUTH first when the
               server has a password) and returns the decoded reply: str for
               simple strings, bytes for bulk strings, int, list or None;
               raises RedisError for an error reply.
r.ping()       True when the server answers PING now.
r.log_tail(n=40)  the last n lines of the server's log, for failure messages.

Every wait has a bound, so a broken server fails a test instead of hanging it.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref

HOST = "127.0.0.1"
_live = weakref.WeakSet()


class RedisError(Exception):
    """An error reply from Redis (its text is the message)."""


def free_port():
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError("unexpected reply from redis: %r" % line)


class RedisServer:
    def __init__(self, password=None, users=(), args=(), start_timeout=10.0,
                 stop_timeout=5.0, binary="redis-server"):
        self.password = password
        self.users = list(users)
        self.args = list(args)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.binary = binary
        self.host = HOST
        self.port = None
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="fs-redis-")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.out_path = os.path.join(self.dir, "redis.out")
        _live.add(self)

    # ---- lifecycle --------------------------------------------------------

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _argv(self):
        argv = [self.binary, "--port", str(self.port), "--bind", HOST,
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--logfile", self.log_path, "--daemonize", "no"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        for name, pw in self.users:
            argv += ["--user", name, "on", ">" + pw, "~*", "&*", "+@all"]
        return argv + self.args

    def start(self):
        if self.running:
            return self
        if shutil.which(self.binary) is None:
            raise RuntimeError("%s not found: install the redis-server "
                               "package" % self.binary)
        fresh_port = self.port is None
        for _ in range(5 if fresh_port else 1):
            if fresh_port:
                self.port = free_port()
            # Before --logfile takes over, config errors go to stdout.
            with open(self.out_path, "ab") as out:
                self.proc = subprocess.Popen(self._argv(), cwd=self.dir,
                                             stdin=subprocess.DEVNULL,
                                             stdout=out,
                                             stderr=subprocess.STDOUT)
            outcome = self._wait_ready()
            if outcome == "ready":
                return self
            self._reap(signal.SIGKILL)
            # Only a port taken since free_port() is worth another try.
            if outcome != "exited" or "already in use" not in self.log_tail(5):
                break
        raise RuntimeError("redis-server on port %s did not answer PING "
                           "within %.0f s (%s); its log:\n%s"
                           % (self.port, self.start_timeout, outcome,
                              self.log_tail()))

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            if self.ping():
                return "ready"
            time.sleep(0.02)
        return "timed out"

    def _reap(self, sig):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(self.stop_timeout)
        self.proc = None

    def stop(self):
        self._reap(signal.SIGTERM)

    def kill(self):
        self._reap(signal.SIGKILL)

    def restart(self):
        self.kill()
        return self.start()

    def close(self):
        """stop() and remove the temp dir; the object is done."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- talking to it ----------------------------------------------------

    def url(self, db=0, user=None, password=None):
        if user is None and password is None:
            password = self.password
        cred = ""
        if user is not None:
            cred = "%s:%s@" % (user, password or "")
        elif password is not None:
            cred = ":%s@" % password
        return "redis://%s%s:%d/%d" % (cred, self.host, self.port, db)

    def command(self, *args, password=None, timeout=5.0):
        password = self.password if password is None else password
        with socket.create_connection((self.host, self.port), timeout) as s:
            reader = _Reader(s)
            if password is not None:
                s.sendall(_encode(["AUTH", password]))
                reader.reply()
            s.sendall(_encode(args))
            return reader.reply()

    def ping(self):
        try:
            return self.command("PING", timeout=1.0) == "PONG"
        except (OSError, ConnectionError, RedisError):
            return False

    def log_tail(self, n=40):
        text = ""
        for path in (self.out_path, self.log_path):
            try:
                with open(path, errors="replace") as f:
                    text += "".join(f.readlines()[-n:])
            except OSError:
                pass
        return text or "(no log)"


@atexit.register
def _stop_leftovers():
    for server in list(_live):
        server.close()
