"""test_policies.py - the Lua policies seen from a client: the shipped
policies' 403 and 429 (with Retry-After), a hold time chosen by policy,
the one-per-user answer winning over a deny, SIGHUP reload with a good and
a broken file, --check-config on a broken policy, and the daemon still
answering while a hostile policy (infinite loop, memory bomb) is loaded.

The harness gives every other test file an empty policies folder; here each
daemon gets the files it needs copied into its own.
"""

import math
import os
import shutil
import signal
import time

import harness
from harness import DaemonTestCase, note, token_for, wait_booking, wait_until

SHIPPED = os.path.join(harness.SRCDIR, "policies")
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"


class PolicyDaemon(harness.Daemon):
    """A daemon whose config has its own policies block."""

    def __init__(self, policies_block, **kw):
        self.policies_block = policies_block
        super().__init__(**kw)

    def write_config(self, port):
        super().write_config(port)
        with open(self.config_path) as f:
            text = f.read()
        text = text.replace("policies: { dir: policies }", self.policies_block)
        with open(self.config_path, "w") as f:
            f.write(text)

    def put_policy(self, name, text):
        path = os.path.join(self.dir, "policies", name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)  # a reload never sees half a file

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Policies(DaemonTestCase):
    START_DAEMON = False

    def start_with(self, files=(), shipped=False, settings=None, fail_open=False,
                   sales=None):
        block = "policies: { dir: policies, fail_open: %s, instructions_max: 200000" % (
            "true" if fail_open else "false")
        if settings:
            block += ", settings: { %s }" % ", ".join(
                "%s: %s" % (k, harness.yaml_scalar(v)) for k, v in settings.items())
        block += " }"
        d = PolicyDaemon(block, sales=sales)
        self.daemons.append(d)
        self.addCleanup(d.close_async)
        if shipped:
            for name in sorted(os.listdir(SHIPPED)):
                if name.endswith(".lua"):
                    shutil.copy(os.path.join(SHIPPED, name), os.path.join(d.dir, "policies"))
        for name, text in files:
            d.put_policy(name, text)
        d.start()
        self.daemon = d
        self.c = self.client(d)
        return d

    def post(self, user, ua=BROWSER, sale="launch"):
        return self.c.request("POST", "/booking-service/book-item/%s" % sale,
                              token=token_for(user), headers={"User-Agent": ua})

    # ---- the shipped policies ----

    def test_shipped_policies_refuse_bot_agents_with_403(self):
        self.start_with(shipped=True)
        for ua in ("python-requests/2.31.0", "Go-http-client/1.1",
                   "Mozilla/5.0 HeadlessChrome/120.0", ""):
            r = self.post("bot-user", ua=ua)
            body = self.assertError(r, 403, "forbidden")
            note("User-Agent %r -> 403 %r" % (ua, body["message"]))
        r = self.post("curl-user", ua="curl/8.4.0")
        self.assertEqual(r.status, 202, r)
        note("User-Agent curl/8.4.0 -> 202")

    def test_shipped_policies_answer_429_with_retry_after_on_the_21st_attempt(self):
        self.start_with(shipped=True)
        first = self.post("alice")
        self.assertEqual(first.status, 202, first)
        for i in range(19):  # attempts 2..20: the one-per-user answer
            self.assertError(self.post("alice"), 409, "already_booked")
        r = self.post("alice")
        self.assertError(r, 429, "rate_limited")
        retry = r.header("Retry-After")
        self.assertIsNotNone(retry, "429 without Retry-After")
        self.assertTrue(retry.isdigit() and 1 <= int(retry) <= 60, retry)
        self.assertEqual(self.post("bob").status, 202)  # others unaffected
        note("attempt 21 of alice within a minute -> 429, Retry-After %s" % retry)

    def test_many_users_from_one_address_are_not_blocked(self):
        self.start_with(shipped=True)
        statuses = [self.post("nat-user-%d" % i).status for i in range(60)]
        self.assertEqual(statuses, [202] * 60)
        note("60 distinct users from 127.0.0.1 -> all 202")

    def test_hold_duration_chosen_by_policy(self):
        self.start_with(shipped=True, settings={"hold_seconds_launch": 120})
        t0 = time.time()
        r = self.post("alice")
        self.assertEqual(r.status, 202, r)
        bid = r.json["booking_id"]
        b = wait_booking(self.c, "launch", bid, token_for("alice"))
        t1 = time.time()
        self.assertEqual(b["status"], "hold", b)
        # The hold began between t0 and t1; its expiry is in whole seconds.
        exp = harness.parse_rfc3339_utc(b["hold_expires_at"])
        self.assertGreaterEqual(exp, math.floor(t0) + 120, "policy said 120 s: %r" % b)
        self.assertLessEqual(exp, t1 + 120, "policy said 120 s (the sale 300): %r" % b)
        note("hold_seconds_launch: 120 (sale says 300) -> expires %.0f s after the POST"
             % (exp - t0))

    def test_deny_for_a_user_who_already_holds_is_409_already_booked(self):
        self.start_with(shipped=True)
        r = self.post("alice")
        self.assertEqual(r.status, 202, r)
        bid = r.json["booking_id"]
        # "Already holds": the repeat rule applies once the item is held.
        self.assertEqual(wait_booking(self.c, "launch", bid, token_for("alice"))["status"], "hold")
        r = self.post("alice", ua="python-requests/2.31.0")
        body = self.assertError(r, 409, "already_booked")
        self.assertEqual(body.get("booking_id"), bid)
        self.assertError(self.post("bob", ua="python-requests/2.31.0"), 403, "forbidden")
        note("bot agent for a user who holds -> 409 already_booked, for another -> 403")

    # ---- reload ----

    def deny_policy(self, reason):
        return "function on_book(req) return 'deny', %r end\n" % reason

    def test_sighup_reloads_a_good_file(self):
        d = self.start_with(files=[("a.lua", self.deny_policy("v1"))])
        self.assertEqual(self.assertError(self.post("u1"), 403, "forbidden")["message"], "v1")
        d.put_policy("a.lua", self.deny_policy("v2"))
        d.signal(signal.SIGHUP)
        wait_until(lambda: self.post("u1").json.get("message") == "v2",
                   what="the reloaded policy in force")
        self.assertIn("policies loaded", d.log())
        note("SIGHUP after editing a.lua -> new verdict v2 in force")

    def test_sighup_applies_new_settings_from_the_config(self):
        d = self.start_with(files=[("a.lua", "function on_book(req) "
                                    "return 'deny', tostring(fs.settings.word) end\n")],
                            settings={"word": "one"})
        self.assertEqual(self.post("u1").json.get("message"), "one")
        d.policies_block = d.policies_block.replace('"one"', '"two"')
        d.write_config(d.port)
        d.signal(signal.SIGHUP)
        wait_until(lambda: self.post("u1").json.get("message") == "two",
                   what="the new setting in force")
        note("SIGHUP after changing policies.settings.word -> 'two' in force")

    def test_sighup_with_a_broken_file_keeps_the_old_set(self):
        d = self.start_with(files=[("a.lua", self.deny_policy("v1"))])
        d.put_policy("a.lua", self.deny_policy("v2"))
        d.put_policy("b.lua", "function on_book(req)\n  return 'deny',\nend end\n")
        d.signal(signal.SIGHUP)
        wait_until(lambda: "policies not reloaded" in d.log(), what="the refusal in the log")
        line = [l for l in d.log().splitlines() if "policies not reloaded" in l][-1]
        self.assertRegex(line, r"b\.lua:3:", "the log must name the file and line")
        self.assertEqual(self.assertError(self.post("u1"), 403, "forbidden")["message"], "v1")
        note("SIGHUP with a broken b.lua -> v1 still in force; log: %s" % line[-90:])

    def test_check_config_refuses_a_broken_policy_with_file_and_line(self):
        d = self.start_with(files=[("a.lua", self.deny_policy("v1"))])
        d.put_policy("z.lua", "local x = 1\nerror('bad policy')\n")
        p = harness.run_cli(["--check-config", d.config_path, "--plugin-dir", harness.PLUGIN_DIR])
        err = p.stderr.decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, "a broken policy passed --check-config")
        self.assertRegex(err, r"z\.lua:2: bad policy", err)
        os.remove(os.path.join(d.dir, "policies", "z.lua"))
        p = harness.run_cli(["--check-config", d.config_path, "--plugin-dir", harness.PLUGIN_DIR])
        self.assertEqual(p.returncode, 0, p.stderr)
        note("--check-config -> exit 1 with %r" % err.strip()[:100])

    # ---- hostile policies ----

    HOSTILE = """
function on_book(req)
  if req.user == 'loop' then while true do end end
  if req.user == 'bomb' then
    local t, s = {}, 'x'
    while true do s = s .. s; t[#t + 1] = s end
  end
  if req.user == 'escape' then return io.open('/etc/passwd') end
end
"""

    def test_daemon_keeps_answering_while_a_hostile_policy_is_loaded(self):
        self.start_with(files=[("hostile.lua", self.HOSTILE)])
        for user in ("loop", "bomb", "escape", "loop"):
            t0 = time.monotonic()
            r = self.post(user)
            secs = time.monotonic() - t0
            self.assertError(r, 503, "unavailable")
            self.assertIsNotNone(r.header("Retry-After"))
            self.assertNotIn("hostile.lua", r.body.decode(errors="replace"),
                             "a policy failure must not leak file names to clients")
            self.assertLess(secs, harness.scaled(5.0), "the %s policy stalled the request" % user)
            note("%-6s -> 503 in %.3f s" % (user, secs))
        self.assertEqual(self.post("alice").status, 202)
        self.assertEqual(self.c.request("GET", "/healthz").status, 200)
        self.assertIn("policy failed", self.daemon.log())

    def test_fail_open_lets_requests_through_a_failing_policy(self):
        self.start_with(files=[("hostile.lua", self.HOSTILE)], fail_open=True)
        self.assertEqual(self.post("loop").status, 202)
        note("fail_open: true -> an infinite loop lets the booking through (202)")


if __name__ == "__main__":
    harness.main()
