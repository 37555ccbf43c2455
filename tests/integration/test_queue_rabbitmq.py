#!/usr/bin/env python3
"""test_queue_rabbitmq.py - runs the cmocka integration test of the RabbitMQ
queue plugin (test_queue_rabbitmq) against a private RabbitMQ node.

Starts the node once (slow: Erlang), runs the binary with FS_AMQP_URL and a
control channel (two pipes, FS_RMQ_CTL_WFD / FS_RMQ_CTL_RFD) over which the
test asks for "stop", "start", "restart" or "delete-queue NAME" and waits
for "ok", then stops the
node and removes its data, also on failure. If the node cannot start, the
test fails and says why; it never skips.

Environment: FS_PLUGIN_DIR (set by make check); FS_BUILDDIR, the build
tree holding tests/integration/test_queue_rabbitmq (default: the current
directory, which is where make check runs tests); RABBITMQ_SERVER_BIN (see
rabbitmq_server.py).
"""

import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rabbitmq_server import RabbitMQError, RabbitMQServer  # noqa: E402

TEST_TIMEOUT_S = 240


def find_binary():
    name = os.path.join("tests", "integration", "test_queue_rabbitmq")
    for base in (os.environ.get("FS_BUILDDIR"), os.getcwd()):
        if base and os.access(os.path.join(base, name), os.X_OK):
            return os.path.join(base, name)
    raise SystemExit("FAIL: %s not built (run through make check)" % name)


def serve_control(rmq, cmd_r, ack_w):
    """Answers the test's broker commands until it closes its end."""
    with os.fdopen(cmd_r, "r") as cmds, os.fdopen(ack_w, "w") as acks:
        for line in cmds:
            cmd, _, arg = line.strip().partition(" ")
            try:
                if cmd == "delete-queue":
                    rmq.ctl("delete_queue", arg)
                else:
                    {"stop": rmq.stop, "start": rmq.start,
                     "restart": rmq.restart}[cmd]()
                acks.write("ok\n")
            except (KeyError, RabbitMQError) as e:
                acks.write("error %s: %s\n" % (cmd, str(e).splitlines()[0]))
                sys.stderr.write("broker %s failed: %s\n" % (cmd, e))
            acks.flush()


def main():
    binary = find_binary()
    try:
        rmq = RabbitMQServer().__enter__()
    except RabbitMQError as e:
        print("FAIL: cannot start RabbitMQ: %s" % e)
        return 1
    try:
        cmd_r, cmd_w = os.pipe()   # test -> driver
        ack_r, ack_w = os.pipe()   # driver -> test
        env = dict(os.environ, FS_AMQP_URL=rmq.url,
                   FS_RMQ_CTL_WFD=str(cmd_w), FS_RMQ_CTL_RFD=str(ack_r))
        proc = subprocess.Popen([binary], env=env, pass_fds=(cmd_w, ack_r))
        os.close(cmd_w)
        os.close(ack_r)
        ctl = threading.Thread(target=serve_control,
                               args=(rmq, cmd_r, ack_w), daemon=True)
        ctl.start()
        try:
            rc = proc.wait(timeout=TEST_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print("FAIL: %s ran longer than %d s" % (binary, TEST_TIMEOUT_S))
            rc = 1
        ctl.join(timeout=30)
        if rc != 0:
            print("broker log tail:\n%s" % rmq.log_tail(20))
        return 0 if rc == 0 else 1
    finally:
        rmq.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())
