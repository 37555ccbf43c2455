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
        rmq.kill()                     # a crash: SIGKILL to the node's beam;
                                       #   what it had synced to disk stays
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

kill() is a crash of the broker: SIGKILL to the node itself, the beam.smp
process (the child of the start script, which only waits for it; the
script then exits), so nothing is flushed or closed on the way out. As on a
real crash, durable queues and the persistent messages the broker had
confirmed (it confirms them once on disk) are recovered by the next start(),
on the same AMQP port and data dir; unconfirmed ones may be lost. kill(),
like stop(), returns once nothing of the node is left: the script, beam.smp,
and what beam started (erl_child_setup, which puts itself and each port
program it starts, inet_gethost or the disk monitor's sh, in a session of
its own, out of reach of a signal to the script's group; they exit when
beam does, and are SIGKILLed if they have not within the bound), the port
no longer answering, and the node's name gone from epmd, so that start()
can take it again.

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
import struct
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


def _proc_table():
    """{pid: (ppid, start time, state, comm)} of every process, from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: it ends at the last ')'.
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(name)] = (int(fields[1]), fields[19], fields[0], comm)
    return table


def _descendants(root):
    """[(pid, start time, comm, ppid)] of root and everything under it."""
    table = _proc_table()
    children = {}
    for pid, (ppid, _, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append((pid, table[pid][1], table[pid][3], table[pid][0]))
            todo.extend(children.get(pid, []))
    return found


def _alive(procs):
    """Those of procs (from _descendants) still running: same pid and start
    time (not a reused pid), not a zombie."""
    table = _proc_table()
    return [p for p in procs
            if p[0] in table and table[p[0]][1] == p[1] and table[p[0]][2] != "Z"]


def epmd_names(port=4369, timeout=1.0):
    """The node names registered with the local epmd (NAMES_REQ); [] when
    no epmd runs."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">Hc", 1, b"n"))
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return []
    # After the 4-byte port of epmd: "name NAME at port N\n" per node.
    return [line.split()[1] for line in data[4:].decode(errors="replace").splitlines()
            if line.startswith("name ")]


class RabbitMQServer:
    def __init__(self, start_timeout=60.0, keep_dir=False):
        self.start_timeout = start_timeout
        self.keep_dir = keep_dir
        self.dir = tempfile.mkdtemp(prefix="fs-rabbitmq-")
        self.node = "fs-test-%d-%d@localhost" % (os.getpid(), next(_counter))
        self.port = free_port()
        self.dist_port = free_port()
        self.proc = None
        self.started = False  # once, so the AMQP port is fixed for clients
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

    def start(self, _tries=5):
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
        stdout_log = os.path.join(self.dir, "log", "stdout.log")
        out = open(stdout_log, "ab")
        offset = out.tell()
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
                with open(stdout_log, "rb") as f:
                    f.seek(offset)
                    taken = b"eaddrinuse" in f.read()
                if taken and not self.started and _tries > 1:
                    # free_port() only said the port was free when this
                    # object was made; on a shared machine another test may
                    # have taken it since. No client knows it yet: pick
                    # another (the AMQP port is fixed from the first start).
                    self.proc = None
                    self.port = free_port()
                    self._write_config()
                    return self.start(_tries - 1)
                raise RabbitMQError("rabbitmq-server exited with %s:\n%s" %
                                    (self.proc.returncode, self.log_tail()))
            if _speaks_amqp(self.port):
                self.started = True
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
        procs = self._node_procs()
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self._reap(procs, 20.0)

    def _node_procs(self):
        """The start script and everything under it, while the script is an
        unreaped child (so that its pid cannot belong to another process)."""
        return _descendants(self.proc.pid) if self.proc.poll() is None else []

    def _reap(self, procs, timeout):
        """Waits until none of procs (the node's, listed before it was
        signalled) runs, SIGKILLing those left after `timeout`; then until
        the node's name is gone from epmd (it goes when beam's connection to
        epmd closes). Raises RabbitMQError if either outlives the bound."""
        deadline = time.monotonic() + timeout
        while _alive(procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid, *_ in _alive(procs):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        short = self.node.split("@")[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = _alive(procs)
            registered = short in epmd_names()
            if not left and not registered:
                return
            time.sleep(0.05)
        raise RabbitMQError("node %s not gone %.0f s after it was killed: "
                            "processes left %s, still registered with epmd: %s"
                            % (self.node, 2 * timeout, left, registered))

    def kill(self, timeout=20.0):
        """A crash: SIGKILL to the node's beam.smp (see the module's
        docstring). Returns once nothing of the node is left and its port no
        longer answers; start() then recovers it from its data dir."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:  # already gone, and reaped
            self.proc = None
            return
        procs = self._node_procs()
        # The node is the script's beam.smp child; another beam.smp (a
        # short-lived epmd starter) would be further down.
        beams = [pid for pid, _, comm, ppid in procs
                 if comm == "beam.smp" and ppid == self.proc.pid]
        if beams:
            os.kill(beams[0], signal.SIGKILL)
        else:
            self._signal_group(signal.SIGKILL)  # not yet exec'd
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
        self._gone(procs, timeout)

    def _gone(self, procs, timeout):
        """After the node's script ended: reaps what it left (see _reap) and
        waits, within `timeout`, until the AMQP port no longer answers."""
        self.proc = None
        self._reap(procs, timeout)
        deadline = time.monotonic() + timeout
        while _speaks_amqp(self.port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self, timeout=20.0):
        """Graceful stop: the node flushes and closes its queues. Returns once
        the node's process group is gone and the port no longer answers."""
        if self.proc is None:
            return
        procs = self._node_procs()
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # The start script and beam share the group; erl_child_setup and
        # its port programs are in sessions of their own (see _reap).
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self._gone(procs, timeout)

    def restart(self):
        self.stop()
        return self.start()

    def ctl(self, *args, timeout=60.0):
        """Runs rabbitmqctl against this node (its name and cookie) and
        returns its output; raises RabbitMQError when it fails."""
        ctl = os.path.join(os.path.dirname(
            os.environ.get("RABBITMQ_SERVER_BIN", DEFAULT_SERVER_BIN)),
            "rabbitmqctl")
        if not os.access(ctl, os.X_OK):
            ctl = "/usr/sbin/rabbitmqctl"
        r = subprocess.run([ctl, "-n", self.node] + list(args), env=self._env(),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise RabbitMQError("rabbitmqctl %s: exit %d: %s" %
                                (" ".join(args), r.returncode,
                                 (r.stderr or r.stdout).strip()))
        return r.stdout

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
