"""test_harness.py - the harness' own checks can fail: a daemon that ends
wrongly fails the test that made it, and a client thread's error or hang
fails the test that started it (issue 13).

Each case runs a small stand-in for the daemon (a Python HTTP server that
answers /healthz and then ends the way the case wants) inside an inner
DaemonTestCase, and asserts what the inner run reported: a leak report
after SIGTERM, a crash mid-test, a SIGTERM ignored, and, as controls, a
clean exit 0 and a SIGKILL the test asked for, which must pass."""

import io
import os
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import harness
from harness import note

# The stand-in: serves /healthz on the config's listen address, then on
# SIGTERM (or on its own, for "dies") ends the way argv[1] says.
FAKE_DAEMON = textwrap.dedent('''
    import http.server, re, signal, sys, threading, time
    mode, config = sys.argv[1], sys.argv[3]
    port = int(re.search(r'listen: "127.0.0.1:(\\d+)"', open(config).read()).group(1))

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *a):
            pass

    def on_term(*_):
        if mode == "leaks":
            sys.stderr.write("==4242==ERROR: LeakSanitizer: detected memory leaks\\n\\n"
                             "Direct leak of 24 byte(s) in 1 object(s) allocated from:\\n"
                             "    #0 0x7f in malloc\\n    #1 0x55 in fs_booking_accept booking.c:42\\n\\n"
                             "SUMMARY: AddressSanitizer: 24 byte(s) leaked in 1 allocation(s).\\n")
            sys.stderr.flush()
            os_exit(23)
        if mode == "ignores-sigterm":
            return
        os_exit(0)

    import os
    os_exit = os._exit
    signal.signal(signal.SIGTERM, on_term)
    server = http.server.HTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if mode == "dies":
        time.sleep(0.3)
        sys.stderr.write("flashsaled: worker.c:99: assertion failed\\n")
        sys.stderr.flush()
        os.abort()
    while True:
        time.sleep(1)
''')


class FakeDaemon(harness.Daemon):
    script = None

    def __init__(self, mode):
        self.mode = mode
        super().__init__([harness.LAUNCH])

    def command(self):
        return [sys.executable, FakeDaemon.script, self.mode, "--config", self.config_path]


def run_inner(body, mode):
    """Runs body(test, daemon) as an inner test on a stand-in of `mode`;
    returns (result, output of the inner run)."""
    class Inner(harness.DaemonTestCase):
        START_DAEMON = False

        def test_inner(self):
            d = FakeDaemon(mode)
            self.daemons.append(d)
            self.addCleanup(d.close_async)
            d.start()
            body(self, d)

    out = io.StringIO()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Inner)
    result = unittest.TextTestRunner(stream=out, verbosity=2).run(suite)
    return result, out.getvalue()


class HarnessChecks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fd, FakeDaemon.script = tempfile.mkstemp(prefix="fake-flashsaled-", suffix=".py")
        with os.fdopen(fd, "w") as f:
            f.write(FAKE_DAEMON)

    @classmethod
    def tearDownClass(cls):
        os.unlink(FakeDaemon.script)

    def assertInnerFailed(self, result, out, *needles):
        self.assertFalse(result.wasSuccessful(), "the inner test passed:\n" + out)
        for needle in needles:
            self.assertIn(needle, out)

    def test_a_leak_report_after_sigterm_fails_the_test_with_the_report(self):
        result, out = run_inner(lambda t, d: None, "leaks")
        self.assertInnerFailed(result, out, "after SIGTERM: exit status 23",
                               "sanitizer report", "LeakSanitizer: detected memory leaks",
                               "fs_booking_accept booking.c:42")
        note("exit 23 with a LeakSanitizer report after SIGTERM -> the test fails, report shown")

    def test_a_daemon_that_dies_during_the_test_fails_it(self):
        def wait_for_death(t, d):
            harness.wait_until(lambda: not d.alive(), what="the stand-in's crash")

        result, out = run_inner(wait_for_death, "dies")
        self.assertInnerFailed(result, out, "died on its own: killed by SIGABRT",
                               "worker.c:99: assertion failed")
        note("a daemon that aborts mid-test -> the test fails, its log shown")

    def test_a_daemon_that_ignores_sigterm_fails_the_test(self):
        result, out = run_inner(lambda t, d: None, "ignores-sigterm")
        self.assertInnerFailed(result, out, "ignored SIGTERM and was SIGKILLed")
        note("a daemon that ignores SIGTERM -> the test fails")

    def test_a_clean_exit_and_a_kill_the_test_asked_for_pass(self):
        for mode, body in (("clean", lambda t, d: None), ("clean", lambda t, d: d.kill()),
                           ("leaks", lambda t, d: d.kill())):
            result, out = run_inner(body, mode)
            self.assertTrue(result.wasSuccessful(), "%s: %s" % (mode, out))
        note("exit 0 after SIGTERM, and SIGKILL by the test -> pass")

    def test_a_client_thread_error_is_raised_in_the_test(self):
        def boom():
            raise ValueError("a client thread's answer was wrong")

        threads = harness.start_threads([(boom,), (lambda: 42,)])
        with self.assertRaises(AssertionError) as cm:
            harness.join_all(threads, harness.scaled(10))
        self.assertIn("a client thread's answer was wrong", str(cm.exception))
        self.assertIsInstance(cm.exception.__cause__, ValueError)
        self.assertEqual(harness.join_all(harness.start_threads([(lambda x: x + 1, 41)]), 10),
                         [42])

    def test_a_client_thread_still_running_fails_the_test(self):
        release = threading.Event()
        threads = harness.start_threads([(release.wait, 30)])
        t0 = time.monotonic()
        try:
            with self.assertRaises(AssertionError) as cm:
                harness.join_all(threads, 0.2, "stuck clients")
        finally:
            release.set()
        self.assertIn("1 of 1 stuck clients still running", str(cm.exception))
        self.assertLess(time.monotonic() - t0, harness.scaled(10))


if __name__ == "__main__":
    harness.main()
