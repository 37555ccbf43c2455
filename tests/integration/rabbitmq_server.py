"""rabbitmq_server.py - a private RabbitMQ node for integration and end-to-end
tests: its own node name, ports and data in a temp dir, never the system one.

API
---
    from rabbitmq_server import RabbitMQServer, RabbitMQError

    with RabbitMQServer() as rmq:      # start() on enter, close() on exit
        rmq.url                        # "amqp://guest:guest@127.0.0.1:<port>/%2f"
        rmq.port                       # the AMQP port (free port picked at start)
        rmq.stop()                     # graceful stop (SIGTERM to the node);
                                       #   data stays, the port goes dark
        rmq.start()                    # start again on the same AMQP port and
                                       #   data (a new distribution port)
        rmq.restart()                  # stop() + start()
        rmq.is_running()               # the node process is alive
        rmq.log_tail(n=40)             # last lines of the node's logs, for errors

RabbitMQServer(start_timeout=60.0, keep_dir=False)
    start_timeout: seconds start() waits for the port to speak AMQP; Erlang
        boots slowly on a loaded machine. On timeout, or if the node exits,
        start() raises RabbitMQError with the node's log tail.
    keep_dir: leave the temp dir in place after close() (for debugging).

close() stops the node (SIGTERM, then SIGKILL of its process group after 20 s)
and removes the temp dir; it is safe to call twice and is also called from
__exit__ on failure, so a failing test never leaves a node behind.

How the node is isolated: RABBITMQ_NODENAME=fs-test-<pid>-<n>@localhost,
RABBITMQ_NODE_PORT and RABBITMQ_DIST_PORT on free ports, mnesia, logs,
config and the Erlang cookie ($HOME) in the temp dir, and an empty
enabled-plugins file, so the management plugin (and its port 15672) stays
off. A system node on 5672 (Debian starts one on install where it can) never
collides with it. epmd (port 4369) is shared with any other node, which is
what epmd is for; it is left running, as Erlang does.

The server runs /usr/lib/rabbitmq/bin/rabbitmq-server directly (the
/usr/sbin wrapper switches to the rabbitmq user and drops the environment).
RABBITMQ_SERVER_BIN overrides that path.
"""

import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DEFAULT_SERVER_BIN = "/usr/lib/rabbitmq/bin/rabbitmq-server"

_counter = itertools.count()


class RabbitMQError(RuntimeError):
    """The node could not be started or stopped; the message says why."""


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _speaks_amqp(port, timeout=1.0):
    """True when the port answers an AMQP 0-9-1 protocol header with a frame
    (Connection.Start), i.e. the broker is ready, not just the socket."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            data = s.recv(8)
            return len(data) >= 1 and data[0] == 1  # frame type METHOD
    except OSError:
        return False


class RabbitMQServer:
    def __init__(self, start_timeout=60.0, keep_dir=False):
        self.start_timeout = start_timeout
        self.keep_dir = keep_dir
        self.dir = tempfile.mkdtemp(prefix="fs-rabbitmq-")
        self.node = "fs-test-%d-%d@localhost" % (os.getpid(), next(_counter))
        self.port = free_port()
        self.dist_port = free_port()
        self.proc = None
        self._write_config()

    # ---- the URL clients use -------------------------------------------------
    @property
    def url(self):
        return "amqp://guest:guest@127.0.0.1:%d/%%2f" % self.port

    # ---- lifecycle -----------------------------------------------------------
    def _write_config(self):
        for sub in ("mnesia", "log", "home"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\n" % self.port)
            f.write("loopback_users.guest = true\n")
            # Test machines have little free disk; 50 MB (the default) would
            # block publishers there and read as a plugin bug.
            f.write("disk_free_limit.absolute = 1MB\n")
            f.write("log.console = false\n")
            f.write("log.file.level = info\n")
        open(os.path.join(self.dir, "enabled_plugins"), "w").close()

    def _env(self):
        env = dict(os.environ)
        d = self.dir
        env.update({
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(d, "plugins-expand"),
            "RABBITMQ_PID_FILE": os.path.join(d, "node.pid"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            # The Erlang cookie lives in $HOME: keep it in the temp dir.
            "HOME": os.path.join(d, "home"),
            # Two shared cores: no busy-waiting schedulers.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
        })
        return env

    def start(self):
        if self.is_running():
            return self
        server = os.environ.get("RABBITMQ_SERVER_BIN", DEFAULT_SERVER_BIN)
        if not os.access(server, os.X_OK):
            raise RabbitMQError("%s not found: install the rabbitmq-server "
                                "package" % server)
        # Only the AMQP port must stay the same across a restart (clients
        # reconnect to it); the Erlang distribution port is picked afresh,
        # since a busy test machine may have handed the old one out as an
        # ephemeral port while the node was down.
        self.dist_port = free_port()
        out = open(os.path.join(self.dir, "log", "stdout.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [server], env=self._env(), cwd=self.dir, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RabbitMQError("rabbitmq-server exited with %s:\n%s" %
                                    (self.proc.returncode, self.log_tail()))
            if _speaks_amqp(self.port):
                return self
            time.sleep(0.2)
        self._kill()
        raise RabbitMQError("rabbitmq-server did not answer AMQP on port %d "
                            "within %.0f s:\n%s" %
                            (self.port, self.start_timeout, self.log_tail()))

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def _signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def freeze(self):
        """SIGSTOP to the node's process group: connections stay open, the
        broker reads and confirms nothing until thaw()."""
        if self.proc is not None:
            self._signal_group(signal.SIGSTOP)

    def thaw(self):
        if self.proc is not None:
            self._signal_group(signal.SIGCONT)

    def _kill(self):
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self, timeout=20.0):
        """Graceful stop: the node flushes and closes its queues. Returns once
        the node's process group is gone and the port no longer answers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # The start script's children (beam, erl_child_setup) share the group.
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        deadline = time.monotonic() + timeout
        while _speaks_amqp(self.port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        try:
            self.stop()
        finally:
            if not self.keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=40):
        lines = []
        logdir = os.path.join(self.dir, "log")
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            path = os.path.join(logdir, name)
            if os.path.isfile(path):
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-n:]
                lines.append("==> %s <==\n%s" % (name, "".join(tail)))
        return "\n".join(lines) or "(no logs)"

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()
        return False
