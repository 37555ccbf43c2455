"""mongo_server.py - a MongoDB-wire-compatible server for tests: CongoDB.

Debian packages no MongoDB server, so the integration and end-to-end tests
run on CongoDB, the MongoDB wire-protocol server in JavaScript shipped by the
npm package @push.rocks/smartmongo (pinned in mongo/package.json), started by
mongo/server.js on Debian's nodejs. Data lives in memory: a restart starts
empty, unless dump_path is given (below; a stop and a start keep the data),
and with journal_path as well (or durable=True) a SIGKILL keeps it too.
mongo/server.js also enforces unique and unique-partial indexes, which
CongoDB 2.2.0 records but does not enforce (see the shim there).

API (Python 3 standard library only):

    from mongo_server import MongoServer

    with MongoServer() as mongo:          # installs if needed, starts, waits
        mongo.uri                         # "mongodb://127.0.0.1:PORT"
        mongo.port
        mongo.kill()                      # SIGKILL: the server goes away
        mongo.start()                     # again, on the same port, empty
                                          #   (durable: with all its data)
        mongo.freeze(); mongo.thaw()      # SIGSTOP / SIGCONT: a hung server
        mongo.restart()                   # stop() then start()
        mongo.stop(); mongo.start()       # with dump_path: the data is kept
        mongo.log_tail()                  # last lines of its stdout+stderr
    # leaving the block stops it (SIGTERM, then SIGKILL after a bound),
    # also when the block raised; stop() is idempotent.

    MongoServer(port=0, host="127.0.0.1", runtime_dir=None, log_path=None,
                dump_path=None, journal_path=None, durable=False)
      port 0 takes a free port on the first start; later starts reuse it.
      dump_path: a file where the server writes all its data when stop()
      ends it (SIGTERM) and which start() reads back, so that a stop and a
      start keep the data, as a MongoDB server's would. kill() writes
      nothing: without a journal, what changed since the last stop() is
      lost. See "THE DUMP" in mongo/server.js for why CongoDB's own storage
      options do not do.
      journal_path (needs dump_path): a write-ahead journal (--journal) to
      which the server appends and fdatasyncs every write before applying
      it, and which start() replays after the dump: kill() (SIGKILL) then
      loses nothing that was acknowledged, as with a journaled MongoDB. Each
      write costs an fdatasync. See "THE JOURNAL" in mongo/server.js.
      durable=True: dump_path and journal_path default to files in a temp
      dir of the server's own (removed when the with-block ends), so that
      both stop() and kill() keep the data.
    ensure_installed(runtime_dir=None) -> path of node_modules

start() raises MongoServerError with the reason and the server's log tail
when node is missing, the install fails, or the server is not ready within
READY_TIMEOUT seconds: a test that cannot get its server fails, never skips.

Where CongoDB is installed (by mongo/install.sh, idempotent, a few seconds
on the first run): $FS_CONGODB_DIR if set, else <builddir>/tests/integration/
mongo-runtime with <builddir> taken from $FS_PLUGIN_DIR (<builddir>/plugins/
.libs, as make check sets it), else mongo-runtime beside this file.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL_SH = os.path.join(HERE, "mongo", "install.sh")
SERVER_JS = os.path.join(HERE, "mongo", "server.js")

READY_TIMEOUT = float(os.environ.get("FS_MONGO_READY_TIMEOUT", "20"))
STOP_TIMEOUT = float(os.environ.get("FS_MONGO_STOP_TIMEOUT", "5"))
INSTALL_TIMEOUT = float(os.environ.get("FS_MONGO_INSTALL_TIMEOUT", "300"))


class MongoServerError(RuntimeError):
    """The server could not be installed or started; the message says why."""


def default_runtime_dir():
    """Where CongoDB's node_modules go (see the module's docstring)."""
    explicit = os.environ.get("FS_CONGODB_DIR")
    if explicit:
        return explicit
    plugin_dir = os.environ.get("FS_PLUGIN_DIR")
    if plugin_dir:
        builddir = os.path.dirname(os.path.dirname(os.path.abspath(plugin_dir)))
        return os.path.join(builddir, "tests", "integration", "mongo-runtime")
    return os.path.join(HERE, "mongo-runtime")


def ensure_installed(runtime_dir=None):
    """Runs mongo/install.sh (a no-op once installed); returns node_modules."""
    runtime_dir = runtime_dir or default_runtime_dir()
    if shutil.which("node") is None:
        raise MongoServerError("node not found: install nodejs (and npm)")
    try:
        proc = subprocess.run(["sh", INSTALL_SH, runtime_dir],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MongoServerError("installing CongoDB took over %.0f s"
                               % INSTALL_TIMEOUT) from exc
    if proc.returncode != 0:
        raise MongoServerError("installing CongoDB failed (%s):\n%s" % (
            proc.returncode, proc.stdout.decode(errors="replace")[-4000:]))
    return os.path.join(runtime_dir, "node_modules")


class MongoServer:
    """One CongoDB process on 127.0.0.1; see the module's docstring."""

    def __init__(self, port=0, host="127.0.0.1", runtime_dir=None,
                 log_path=None, dump_path=None, journal_path=None,
                 durable=False):
        self.host = host
        self._own_dir = None
        if durable and not (dump_path and journal_path):
            self._own_dir = tempfile.mkdtemp(prefix="fs-congodb-data-")
            dump_path = dump_path or os.path.join(self._own_dir, "dump.ejson")
            journal_path = journal_path or os.path.join(self._own_dir,
                                                        "journal.ejson")
        if journal_path and not dump_path:
            raise ValueError("journal_path needs dump_path (the journal is "
                             "emptied into the dump by a graceful stop)")
        self.dump_path = dump_path
        self.journal_path = journal_path
        self.port = port
        self.runtime_dir = runtime_dir
        self._own_log = log_path is None
        self.log_path = log_path or tempfile.mkstemp(
            prefix="fs-congodb-", suffix=".log")[1]
        self.proc = None
        self._modules = None

    @property
    def uri(self):
        return "mongodb://%s:%d" % (self.host, self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._own_log:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)
        return False

    def start(self):
        """Starts the server (installing it first if needed) and waits until
        it listens; returns self."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self._modules is None:
            self._modules = ensure_installed(self.runtime_dir)
        argv = ["node", SERVER_JS, "--modules", self._modules,
                "--port", str(self.port), "--host", self.host]
        if self.dump_path:
            argv += ["--dump", self.dump_path]
        if self.journal_path:
            argv += ["--journal", self.journal_path]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        ready = self._read_ready_line()
        self.port = ready["port"]
        # Keep draining stdout into the log so the server never blocks on it.
        threading.Thread(target=self._drain, args=(self.proc,),
                         daemon=True).start()
        return self

    def _read_ready_line(self):
        result = {}

        def read():
            line = self.proc.stdout.readline()
            try:
                result["ready"] = json.loads(line.decode())
            except ValueError:
                result["line"] = line

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT)
        ready = result.get("ready")
        if not ready or not ready.get("ready"):
            self.stop()
            raise MongoServerError(
                "CongoDB did not become ready on %s:%s within %.0f s; its "
                "log:\n%s" % (self.host, self.port, READY_TIMEOUT,
                              self.log_tail()))
        return ready

    def _drain(self, proc):
        with open(self.log_path, "ab") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; idempotent. With a
        dump_path, raises MongoServerError when the server did not exit 0
        (its dump was then not written)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGCONT)  # a frozen server cannot exit
                proc.terminate()
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if proc.stdout:
            proc.stdout.close()
        if self.dump_path and proc.returncode != 0:
            raise MongoServerError(
                "CongoDB ended with %s, so its dump %s was not written; its "
                "log:\n%s" % (proc.returncode, self.dump_path, self.log_tail()))

    def kill(self):
        """The server goes away at once (SIGKILL): no goodbye to clients, no
        dump written. With a journal_path, start() brings back every write
        it had acknowledged (the journal replayed); without, what changed
        since the last stop() is lost."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(STOP_TIMEOUT)
        if proc.stdout:
            proc.stdout.close()

    def restart(self):
        self.stop()
        return self.start()

    def freeze(self):
        """SIGSTOP: connections stay open but nothing answers."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate until it returns truthy or timeout passes; returns its
    last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
