#!/usr/bin/env python3
"""test_inventory_redis.py - runs the cmocka integration test of the Redis
inventory plugin (test_inventory_redis.c) against real redis-servers.

Starts two servers on 127.0.0.1 on free ports, each in its own temp dir and
without persistence (redis_server.py): a plain one, and one with requirepass
plus an ACL user whose password needs percent-encoding in a URL. Hands their
URLs to the test binary in FS_REDIS_* variables, and serves the binary's
requests to "kill" (SIGKILL, as a crash) and "start" (same port, empty) the
plain server over a pipe pair named in FS_REDIS_CONTROL, so that the test
decides when Redis goes away and comes back while this driver stays the only
owner of the processes. Both servers are stopped afterwards, also on failure.

The binary is argv[1] if given, else derived from FS_PLUGIN_DIR (make
check's AM_TESTS_ENVIRONMENT sets it to <builddir>/plugins/.libs):
<builddir>/tests/integration/test_inventory_redis.

Never skips: without redis-server, or when a server does not start, the test
fails and says why.
"""

import os
import subprocess
import sys
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from redis_server import RedisServer  # noqa: E402

PASSWORD = "s3cret-pw"
ACL_USER = "alice"
ACL_PASSWORD = "al:ice@pw"  # ':' and '@' must be percent-encoded in a URL
RUN_TIMEOUT = float(os.environ.get("FS_REDIS_TEST_TIMEOUT", "120"))


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def binary_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    plugin_dir = os.environ.get("FS_PLUGIN_DIR")
    if not plugin_dir:
        fail("FS_PLUGIN_DIR is not set: run through make check, or pass the "
             "test binary's path as the first argument")
    return os.path.normpath(os.path.join(plugin_dir, "..", "..", "tests",
                                         "integration", "test_inventory_redis"))


class Control(threading.Thread):
    """Answers the test's "kill" / "start" lines for one server, until the
    test closes its end of the pipe."""

    def __init__(self, server, cmd_fd, ack_fd):
        super().__init__(daemon=True)
        self.server = server
        self.cmd = os.fdopen(cmd_fd, "r")
        self.ack = os.fdopen(ack_fd, "w")

    def run(self):
        with self.cmd, self.ack:
            for line in self.cmd:
                what = line.strip()
                try:
                    if what == "kill":
                        self.server.kill()
                    elif what == "start":
                        self.server.start()
                    else:
                        raise ValueError("unknown request %r" % what)
                    answer = "ok"
                except Exception as e:  # the test reports it and fails
                    answer = "error " + " ".join(str(e).split())[:200]
                print("    driver: %s -> %s" % (what, answer), flush=True)
                self.ack.write(answer + "\n")
                self.ack.flush()


def run_binary(binary, plain, secured):
    acl_url = "redis://%s:%s@%s:%d/1" % (
        ACL_USER, urllib.parse.quote(ACL_PASSWORD, safe=""), secured.host,
        secured.port)
    cmd_r, cmd_w = os.pipe()
    ack_r, ack_w = os.pipe()
    env = dict(os.environ,
               FS_REDIS_URL=plain.url(),
               FS_REDIS_AUTH_URL=secured.url(),
               FS_REDIS_ACL_URL=acl_url,
               FS_REDIS_NOAUTH_URL="redis://%s:%d/0" % (secured.host,
                                                        secured.port),
               FS_REDIS_BADAUTH_URL=secured.url(password="wrong"),
               FS_REDIS_CONTROL="%d:%d" % (cmd_w, ack_r))
    try:
        proc = subprocess.Popen([binary], env=env, pass_fds=(cmd_w, ack_r))
    finally:
        os.close(cmd_w)
        os.close(ack_r)
    control = Control(plain, cmd_r, ack_w)
    control.start()
    try:
        rc = proc.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        print("FAIL: %s did not finish within %.0f s" % (binary, RUN_TIMEOUT))
        rc = 1
    control.join(10)
    return rc


def main():
    binary = binary_path()
    if not os.access(binary, os.X_OK):
        fail("test binary %s is missing: build it with make check" % binary)
    try:
        with RedisServer() as plain, \
                RedisServer(password=PASSWORD,
                            users=[(ACL_USER, ACL_PASSWORD)]) as secured:
            print("    redis %s (plain) and %s (password, ACL user)"
                  % (plain.port, secured.port), flush=True)
            rc = run_binary(binary, plain, secured)
            if rc != 0:
                print("---- plain server log ----\n" + plain.log_tail(20))
    except RuntimeError as e:  # a server did not start: a failure, not a skip
        fail(str(e))
    # cmocka exits with the number of failed tests; 77 and 99 mean "skipped"
    # and "hard error" to automake, so any failure becomes 1.
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
