#!/usr/bin/env python3
"""test_storage_mongo.py - drives the cmocka integration test of the MongoDB
storage plugin (test_storage_mongo) against a real wire-protocol server.

Starts CongoDB (mongo_server.py) on a free port of 127.0.0.1, runs the cmocka
binary with FS_MONGO_URI pointing at it, and serves the binary's requests to
take the server away and bring it back: the binary writes one command per
line to the fd in FS_MONGO_CTL ("WRITE_FD,READ_FD") and reads one answer line
("ok URI" or "error TEXT"). Commands: kill (SIGKILL), start (same port,
empty), freeze (SIGSTOP), thaw (SIGCONT). The server is stopped afterwards,
also on failure, and its log is printed when the test fails.

The binary is <builddir>/tests/integration/test_storage_mongo, <builddir>
taken from FS_PLUGIN_DIR (<builddir>/plugins/.libs) as make check sets it.
Exit status: the binary's (0 when every test passed).
"""

import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mongo_server import MongoServer, MongoServerError  # noqa: E402

TEST_TIMEOUT = float(os.environ.get("FS_MONGO_TEST_TIMEOUT", "240"))


def test_binary():
    plugin_dir = os.environ.get("FS_PLUGIN_DIR")
    if not plugin_dir:
        sys.exit("FS_PLUGIN_DIR is not set: run through make check")
    builddir = os.path.dirname(os.path.dirname(os.path.abspath(plugin_dir)))
    path = os.path.join(builddir, "tests", "integration", "test_storage_mongo")
    if not os.access(path, os.X_OK):
        sys.exit("%s is missing: build it with make check" % path)
    return path


def serve_control(server, commands, answers):
    """Answers the binary's control commands until it closes its end."""
    actions = {"kill": server.kill, "start": server.start,
               "freeze": server.freeze, "thaw": server.thaw}
    with os.fdopen(commands, "r") as rd, os.fdopen(answers, "w") as wr:
        for line in rd:
            cmd = line.strip()
            try:
                actions[cmd]()
                reply = "ok %s" % server.uri
            except KeyError:
                reply = "error unknown command %r" % cmd
            except MongoServerError as exc:
                reply = "error %s" % str(exc).replace("\n", " | ")
            print("    control: %s -> %s" % (cmd, reply), flush=True)
            wr.write(reply + "\n")
            wr.flush()


def main():
    binary = test_binary()
    with MongoServer() as server:
        print("    CongoDB at %s" % server.uri, flush=True)
        cmd_r, cmd_w = os.pipe()   # binary -> us
        ans_r, ans_w = os.pipe()   # us -> binary
        env = dict(os.environ, FS_MONGO_URI=server.uri,
                   FS_MONGO_CTL="%d,%d" % (cmd_w, ans_r))
        proc = subprocess.Popen([binary], env=env, pass_fds=(cmd_w, ans_r))
        os.close(cmd_w)
        os.close(ans_r)
        control = threading.Thread(target=serve_control,
                                   args=(server, cmd_r, ans_w), daemon=True)
        control.start()
        try:
            rc = proc.wait(TEST_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print("test_storage_mongo: no result within %.0f s"
                  % TEST_TIMEOUT, flush=True)
            rc = 1
        control.join(5)
        if rc != 0:
            print("---- CongoDB log (tail) ----\n%s" % server.log_tail(),
                  flush=True)
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MongoServerError as exc:
        print("test_storage_mongo: FAIL: %s" % exc, flush=True)
        sys.exit(1)
