"""test_json_log.py - log.format: json. Every line the daemon writes to
stderr during a run is one JSON object with time, level and message; every
answer carries X-Request-Id (the client's own when sane, else a made one),
and the log lines of that request carry the same id."""

import json
import os
import re

import harness
from harness import LAUNCH, note, token_for

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MADE_ID_RE = re.compile(r"^[0-9a-f]{16}$")


class JsonLog(harness.DaemonTestCase):
    START_DAEMON = False

    def daemon_lines(self, d):
        """The daemon's lines of the whole run, once it stopped: the harness
        writes a '---- starting:' line of its own before each start."""
        rc, _, _ = d.stop()
        self.assertEqual(rc, 0, "the daemon did not exit 0 after SIGTERM")
        return [line for line in d.full_log().splitlines()
                if line and not line.startswith("---- starting: ")]

    def parse_all(self, lines):
        parsed = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError as e:
                self.fail("a log line is not JSON (%s): %r" % (e, line))
            self.assertIsInstance(obj, dict, line)
            self.assertRegex(obj.get("time", ""), TIME_RE, line)
            self.assertIn(obj.get("level"), ("error", "warn", "info", "debug"), line)
            self.assertIsInstance(obj.get("message"), str, line)
            parsed.append(obj)
        return parsed

    def test_every_line_is_json_and_requests_are_found_by_their_id(self):
        d = harness.Daemon([LAUNCH], log_keys={"format": "json", "level": "debug"})
        self.daemons.append(d)
        self.addCleanup(d.close_async)
        # A line logged while the request is served, besides its access line.
        with open(os.path.join(d.dir, "policies", "say.lua"), "w") as f:
            f.write('function on_book(req)\n'
                    '  fs.log("info", "policy saw " .. tostring(req.user))\n'
                    '  return nil\nend\n')
        d.start()
        c = self.client(d)
        r = c.request("POST", "/booking-service/book-item/launch", token=token_for("jl-alice"),
                      headers={"X-Request-Id": "e2e-json-1"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.header("X-Request-Id"), "e2e-json-1")
        made = c.request("GET", "/booking-service/sales/launch")
        made_id = made.header("X-Request-Id")
        self.assertRegex(made_id or "", MADE_ID_RE)
        refused = c.request("GET", "/healthz", headers={"X-Request-Id": "bad id\"" + "x" * 80})
        refused_id = refused.header("X-Request-Id")
        self.assertRegex(refused_id or "", MADE_ID_RE, "an insane client id must be replaced")
        unauth = c.request("POST", "/booking-service/book-item/launch",
                           headers={"X-Request-Id": "e2e-json-401"})
        self.assertEqual(unauth.status, 401)
        self.assertEqual(unauth.header("X-Request-Id"), "e2e-json-401")
        note("X-Request-Id: the client's echoed, a made one (%s) otherwise, also on a 401"
             % made_id)

        entries = self.parse_all(self.daemon_lines(d))
        self.assertGreater(len(entries), 5)
        note("%d lines on stderr, each one JSON object with time, level, message"
             % len(entries))
        by_id = {}
        for e in entries:
            if "request_id" in e:
                by_id.setdefault(e["request_id"], []).append(e)
        booked = by_id.get("e2e-json-1")
        self.assertTrue(booked, "no log line with request_id e2e-json-1")
        access = [e for e in booked if e.get("method") == "POST"]
        self.assertEqual(len(access), 1, booked)
        self.assertEqual(access[0]["status"], 202)
        self.assertEqual(access[0]["path"], "/booking-service/book-item/launch")
        self.assertIsInstance(access[0]["duration_ms"], (int, float))
        policy = [e for e in booked if "policy saw jl-alice" in e["message"]]
        self.assertEqual(len(policy), 1, "the policy's line of the request: %r" % booked)
        self.assertEqual(policy[0]["level"], "info")
        self.assertEqual([e["status"] for e in by_id.get(made_id, [])], [200])
        self.assertEqual([e["status"] for e in by_id.get(refused_id, [])], [200])
        self.assertEqual([e["status"] for e in by_id.get("e2e-json-401", [])], [401])
        note("the policy's line and each request's access line carry its id: "
             "POST 202, GET 200, GET 200, POST 401")

    def test_text_stays_the_default(self):
        d = self.start_daemon([LAUNCH])
        r = self.client(d).request("GET", "/healthz")
        self.assertRegex(r.header("X-Request-Id") or "", MADE_ID_RE)
        lines = self.daemon_lines(d)
        self.assertTrue(lines)
        for line in lines:
            self.assertFalse(line.startswith("{"), "a JSON line by default: %r" % line)
        note("log.format unset: text lines; answers still carry X-Request-Id")


if __name__ == "__main__":
    harness.main()
