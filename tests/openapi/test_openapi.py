"""test_openapi.py - docs/openapi.yaml is valid OpenAPI 3.1, the daemon
serves it byte for byte at GET /openapi.yaml, and every answer of a live
daemon matches it.

The daemon is started by tests/e2e/harness.py with a test policy (a request
header picks its verdict, so 403, 429 and the fail-closed 503 can be asked
for on POST, PUT and DELETE) and at most one event stream per user (so the
stream's 503 can be provoked). Every route is called with every status the
test can provoke; each answer (method, path template, status, headers, body)
is recorded to a JSON file, and check.mjs (swagger-parser and ajv from npm,
installed by install.sh into the build tree) checks the document and each
answer against it. That the checker can fail is itself tested: it must flag
hand-made answers the document does not allow, and broken documents.

node and npm are required: without them the test fails and says so.
"""

import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import harness  # noqa: E402
from harness import note, token_for  # noqa: E402

DOC = os.path.join(harness.SRCDIR, "docs", "openapi.yaml")
CHECK_MJS = os.path.join(HERE, "check.mjs")
INSTALL_SH = os.path.join(HERE, "install.sh")
INSTALL_TIMEOUT = float(os.environ.get("FS_OPENAPI_INSTALL_TIMEOUT", "300"))
CHECK_TIMEOUT = 60

BOOK = "/booking-service/book-item/{sale}"
BOOKING = "/booking-service/book-item/{sale}/{booking}"
EVENTS = "/booking-service/book-item/{sale}/{booking}/events"
SALE = "/booking-service/sales/{sale}"
OPS_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.yaml")
ADMIN_PATHS = ("/admin", "/admin/app.js", "/admin/app.css", "/admin/stats")
ADMIN_EVENTS = "/admin/events"
ADMIN_TOKEN = "openapi-test-admin-token-0123456789"

MAX_BODY = 4096                      # http.max_body_bytes, the default
TOO_LARGE = b"x" * (MAX_BODY + 1)
BAD_ID = "bad%20id"                  # a percent-escape is never decoded
LONG_ID = "a" * 65
VERDICT = "X-Test-Verdict"

# The policy of this test: the request's X-Test-Verdict header decides.
POLICY = """
local function verdict(req)
  local v = req.headers["x-test-verdict"]
  if v == "deny" then return "deny", "denied by the openapi test policy" end
  if v == "slow" then return "slow", 7 end
  if v == "fail" then error("the openapi test policy fails on purpose") end
  return "allow"
end
function on_book(req) return verdict(req) end
function on_confirm(req) return verdict(req) end
function on_cancel(req) return verdict(req) end
"""

SALES = [
    {"id": "launch", "inventory": 100, "hold_seconds": 300},
    {"id": "one", "inventory": 1, "hold_seconds": 300},
    {"id": "short", "inventory": 5, "hold_seconds": 1},
    harness.FUTURE,
    harness.PAST,
]


def runtime_dir():
    """Where install.sh puts node_modules: the build tree (the source tree
    may be read-only), found from FS_PLUGIN_DIR = <builddir>/plugins/.libs."""
    explicit = os.environ.get("FS_OPENAPI_RUNTIME")
    if explicit:
        return explicit
    plugin_dir = os.environ.get("FS_PLUGIN_DIR")
    if plugin_dir:
        builddir = os.path.dirname(os.path.dirname(os.path.abspath(plugin_dir)))
        return os.path.join(builddir, "tests", "openapi", "runtime")
    return os.path.join(HERE, "runtime")


def install_checker():
    """Runs install.sh (a no-op once installed); returns the runtime dir.
    Raises AssertionError saying why when it cannot: a failure, not a skip."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise AssertionError("%s not found: install nodejs and npm (the README's "
                                 "test command does)" % tool)
    dest = runtime_dir()
    try:
        proc = subprocess.run(["sh", INSTALL_SH, dest], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError("install.sh took over %.0f s" % INSTALL_TIMEOUT)
    if proc.returncode != 0:
        raise AssertionError("install.sh failed (%d):\n%s"
                             % (proc.returncode, proc.stdout.decode(errors="replace")[-4000:]))
    return dest


def run_checker(modules, doc, records, coverage=True):
    """Runs check.mjs; returns (exit code, output, report dict)."""
    with tempfile.TemporaryDirectory(prefix="fs-openapi-") as tmp:
        records_path = os.path.join(tmp, "records.json")
        report_path = os.path.join(tmp, "report.json")
        with open(records_path, "w") as f:
            json.dump(records, f)
        cmd = ["node", CHECK_MJS, "--modules", modules, "--doc", doc,
               "--records", records_path, "--report", report_path]
        if not coverage:
            cmd.append("--no-coverage")
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=CHECK_TIMEOUT, check=False)
        report = {}
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
        return proc.returncode, proc.stdout.decode(errors="replace"), report


def record_of(method, template, path, status, headers, body, last_event_id=None):
    """One answer as check.mjs reads it; last_event_id is the Last-Event-ID
    the request sent, if any (the stream then starts after it)."""
    r = {"method": method, "template": template, "path": path, "status": status,
         "headers": headers, "body": body.decode("utf-8", "replace")}
    if last_event_id is not None:
        r["last_event_id"] = last_event_id
    return r


def headers_of(message):
    """http.client headers as {lower-case name: value}, repeats joined."""
    out = {}
    for name, value in message.items():
        key = name.lower()
        out[key] = out[key] + ", " + value if key in out else value
    return out


class OpenApiDaemon(harness.Daemon):
    """The harness' daemon, with this test's policy and one stream per user."""

    def __init__(self):
        super().__init__(SALES, extra_lines=["admin: { token: %s }"
                                             % harness.yaml_scalar(ADMIN_TOKEN)],
                         http_keys={"max_streams_per_user": 1})
        with open(os.path.join(self.dir, "policies", "openapi_test.lua"), "w") as f:
            f.write(POLICY)


class Recorder:
    """Calls the daemon, each request on a fresh connection, and records every
    answer with the path template it exercised."""

    def __init__(self, port, records):
        self.port = port
        self.records = records

    def call(self, method, template, path, body=None, user=None, token=None,
             headers=None):
        if user is not None:
            token = token_for(user)
        with harness.Client(self.port) as c:
            r = c.request(method, path, body=body, token=token, headers=headers)
        self.records.append(record_of(method, template, path, r.status,
                                      headers_of(r.headers), r.body))
        return r

    def open_stream(self, path, user=None, token=None, headers=None):
        """Starts GET on an event stream; returns (connection, response)."""
        conn = http.client.HTTPConnection(harness.HOST, self.port, timeout=harness.HTTP_TIMEOUT)
        hdrs = {"User-Agent": harness.USER_AGENT, "Accept": "text/event-stream"}
        if user is not None:
            hdrs["Authorization"] = "Bearer " + token_for(user)
        elif token is not None:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        conn.request("GET", path, headers=hdrs)
        resp = conn.getresponse()
        resp.last_event_id = hdrs.get("Last-Event-ID")
        return conn, resp

    def first_event(self, resp):
        """Reads up to the end of the first event; returns the bytes read."""
        out = b""
        while True:
            line = resp.readline()
            if not line:
                raise AssertionError("the stream ended before its first event: %r" % out)
            out += line
            if line == b"\n" and b"\nevent: " in b"\n" + out:
                return out

    def finish_stream(self, path, conn, resp, already=b"", template=EVENTS, to_end=True):
        """Reads the stream to its end (or only what was read, for a stream
        that never ends), closes it and records it."""
        try:
            body = already + (resp.read() if to_end else b"")
        finally:
            conn.close()
        self.records.append(record_of("GET", template, path, resp.status,
                                      headers_of(resp.headers), body, resp.last_event_id))
        return body

    def stream(self, path, **kw):
        conn, resp = self.open_stream(path, **kw)
        return self.finish_stream(path, conn, resp), resp


def booking_path(sale, bid):
    return harness.booking_path(sale, bid)


class OpenApi(harness.DaemonTestCase):
    START_DAEMON = False
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.modules = install_checker()

    # ---- the document served ----

    def test_the_daemon_serves_docs_openapi_yaml_byte_for_byte(self):
        with open(DOC, "rb") as f:
            want = f.read()
        d = self.start_daemon(SALES)
        r = self.client(d).request("GET", "/openapi.yaml")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/yaml")
        self.assertEqual(len(r.body), len(want), "length of the served document")
        self.assertTrue(r.body == want, "GET /openapi.yaml differs from %s" % DOC)
        note("GET /openapi.yaml: %d bytes, identical to docs/openapi.yaml" % len(want))

    # ---- the live daemon against the document ----

    def test_every_answer_of_the_live_daemon_matches_the_document(self):
        d = OpenApiDaemon()
        self.daemons.append(d)
        self.addCleanup(d.close_async)
        d.start()
        self.daemon = d
        records = []
        rec = Recorder(d.port, records)
        self.exercise_book(rec)
        self.exercise_booking(rec)
        self.exercise_events(rec)
        self.exercise_sale_and_operations(rec)
        self.exercise_admin(rec)
        # Without admin.token the admin routes do not exist.
        plain = self.start_daemon(SALES)
        self.exercise_admin_off(Recorder(plain.port, records))

        out_dir = runtime_dir()
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "answers.json"), "w") as f:
            json.dump(records, f, indent=1)
        rc, output, report = run_checker(self.modules, DOC, records)
        sys.stdout.write(output)
        statuses = sorted({r["status"] for r in records})
        note("%d answers recorded (statuses %s), kept in %s/answers.json"
             % (len(records), statuses, out_dir))
        self.assertEqual(rc, 0, "the daemon's answers do not match docs/openapi.yaml:\n%s"
                         % output)
        self.assertEqual(report.get("problems"), [], output)

    def book(self, rec, sale, user, **kw):
        r = rec.call("POST", BOOK, "/booking-service/book-item/%s" % sale, user=user, **kw)
        self.assertEqual(r.status, 202, "POST %s for %s: %r" % (sale, user, r))
        return r.json["booking_id"]

    def hold(self, rec, sale, user):
        bid = self.book(rec, sale, user)
        with self.client() as c:
            b = harness.wait_booking(c, sale, bid, token_for(user))
        self.assertEqual(b["status"], "hold", b)
        return bid

    def expect(self, r, status):
        self.assertEqual(r.status, status, r)
        return r

    def exercise_book(self, rec):
        path = "/booking-service/book-item/launch"
        call = rec.call
        self.book(rec, "launch", "alice")
        self.book(rec, "launch", "body-user", body={"any": ["thing"]})
        for bad in (BAD_ID, LONG_ID):
            self.expect(call("POST", BOOK, "/booking-service/book-item/" + bad, user="u"), 400)
        self.expect(call("POST", BOOK, path, user="u", body="[1]"), 400)
        self.expect(call("POST", BOOK, path, user="u", body="{"), 400)
        self.expect(call("POST", BOOK, path, user="u", body="[" * 40 + "]" * 40), 400)
        self.expect(call("POST", BOOK, path), 401)
        self.expect(call("POST", BOOK, path, token=token_for("u", secret="another-secret-0123456789")), 401)
        self.expect(call("POST", BOOK, path, user="u", headers={VERDICT: "deny"}), 403)
        self.expect(call("POST", BOOK, "/booking-service/book-item/nosuchsale", user="u"), 404)
        self.expect(call("POST", BOOK, "/booking-service/book-item/future", user="u"), 409)
        self.expect(call("POST", BOOK, "/booking-service/book-item/past", user="u"), 409)
        self.hold(rec, "one", "carol")
        self.expect(call("POST", BOOK, "/booking-service/book-item/one", user="dave"), 409)
        r = self.expect(call("POST", BOOK, path, user="alice"), 409)
        self.assertEqual(r.json["error"], "already_booked", r)
        self.expect(call("POST", BOOK, path, user="u", body=TOO_LARGE), 413)
        r = self.expect(call("POST", BOOK, path, user="u", headers={VERDICT: "slow"}), 429)
        self.assertEqual(r.header("Retry-After"), "7", r)
        self.expect(call("POST", BOOK, path, user="u", headers={VERDICT: "fail"}), 503)
        for m in ("GET", "PATCH", "DELETE"):
            self.expect(call(m, BOOK, path, user="u"), 405)
        codes = {(x["status"], json.loads(x["body"]).get("error")) for x in rec.records
                 if x["template"] == BOOK and x["status"] == 409}
        self.assertEqual(codes, {(409, "closed"), (409, "sold_out"), (409, "already_booked")})

    def exercise_booking(self, rec):
        call = rec.call
        bid = self.hold(rec, "launch", "bob")
        path = booking_path("launch", bid)
        for m in ("GET", "HEAD"):
            self.expect(call(m, BOOKING, path, user="bob"), 200)
            self.expect(call(m, BOOKING, booking_path("launch", BAD_ID), user="bob"), 400)
            self.expect(call(m, BOOKING, booking_path(LONG_ID, bid), user="bob"), 400)
            self.expect(call(m, BOOKING, path), 401)
            self.expect(call(m, BOOKING, path, user="mallory"), 404)
            self.expect(call(m, BOOKING, booking_path("launch", "nosuchbooking"), user="bob"), 404)
            self.expect(call(m, BOOKING, booking_path("one", bid), user="bob"), 404)
            self.expect(call(m, BOOKING, path, user="bob", body=TOO_LARGE), 413)
        # PUT: the refusals first, then the confirm, then a second one.
        self.expect(call("PUT", BOOKING, booking_path("launch", BAD_ID), user="bob",
                         body={"status": "booked"}), 400)
        self.expect(call("PUT", BOOKING, path, user="bob"), 400)
        self.expect(call("PUT", BOOKING, path, user="bob", body={"status": "deleted"}), 400)
        self.expect(call("PUT", BOOKING, path, user="bob",
                         body={"status": "booked", "more": 1}), 400)
        self.expect(call("PUT", BOOKING, path, body={"status": "booked"}), 401)
        for verdict, status in (("deny", 403), ("slow", 429), ("fail", 503)):
            self.expect(call("PUT", BOOKING, path, user="bob", body={"status": "booked"},
                             headers={VERDICT: verdict}), status)
        self.expect(call("PUT", BOOKING, path, user="mallory", body={"status": "booked"}), 404)
        self.expect(call("PUT", BOOKING, path, user="bob", body=TOO_LARGE), 413)
        self.expect(call("PUT", BOOKING, path, user="bob", body={"status": "booked"}), 200)
        r = self.expect(call("PUT", BOOKING, path, user="bob", body={"status": "booked"}), 409)
        self.assertEqual(r.json.get("status"), "booked", r)
        self.expect(call("GET", BOOKING, path, user="bob"), 200)
        # DELETE: of a booked booking 409; refusals; then cancels.
        self.expect(call("DELETE", BOOKING, path, user="bob"), 409)
        self.expect(call("DELETE", BOOKING, booking_path("launch", BAD_ID), user="bob"), 400)
        self.expect(call("DELETE", BOOKING, path, user="bob", body={"status": "booked"}), 400)
        self.expect(call("DELETE", BOOKING, path, user="bob", body="nope"), 400)
        self.expect(call("DELETE", BOOKING, path), 401)
        self.expect(call("DELETE", BOOKING, path, user="mallory"), 404)
        self.expect(call("DELETE", BOOKING, path, user="bob", body=TOO_LARGE), 413)
        held = self.hold(rec, "launch", "erin")
        held_path = booking_path("launch", held)
        for verdict, status in (("deny", 403), ("slow", 429), ("fail", 503)):
            self.expect(call("DELETE", BOOKING, held_path, user="erin",
                             headers={VERDICT: verdict}), status)
        self.expect(call("DELETE", BOOKING, held_path, user="erin",
                         body={"status": "deleted"}), 200)
        self.expect(call("GET", BOOKING, held_path, user="erin"), 200)
        self.expect(call("PUT", BOOKING, held_path, user="erin", body={"status": "booked"}), 409)
        quick = self.book(rec, "launch", "frank")   # queued or already held
        self.expect(call("DELETE", BOOKING, booking_path("launch", quick), user="frank"), 200)
        # A hold that expires keeps its hold_expires_at.
        short = self.hold(rec, "short", "gina")
        with self.client() as c:
            b = harness.wait_booking(c, "short", short, token_for("gina"),
                                     done=lambda x: x["status"] == "expired")
        self.assertEqual(b["status"], "expired")
        self.expect(call("GET", BOOKING, booking_path("short", short), user="gina"), 200)
        for m in ("POST", "PATCH"):
            self.expect(call(m, BOOKING, path, user="bob"), 405)
        self.erin_deleted = held

    def exercise_events(self, rec):
        call = rec.call
        # A booking already final: one event, then the end.
        done_path = booking_path("launch", self.erin_deleted) + "/events"
        body, resp = rec.stream(done_path, user="erin")
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(body.count(b"event: "), 1, body)
        body, resp = rec.stream(done_path, user="erin", headers={"Last-Event-ID": "2"})
        self.assertEqual((resp.status, body.count(b"event: ")), (200, 1), body)
        body, resp = rec.stream(done_path, user="erin", headers={"Last-Event-ID": "4"})
        self.assertEqual((resp.status, body.count(b"event: ")), (200, 0), body)
        # A live one: hold, then deleted; a second stream of the user is 503.
        bid = self.hold(rec, "launch", "hank")
        path = booking_path("launch", bid) + "/events"
        conn, resp = rec.open_stream(path, user="hank")
        self.addCleanup(conn.close)
        first = rec.first_event(resp)
        self.assertEqual(resp.status, 200, first)
        r = self.expect(call("GET", EVENTS, path, user="hank"), 503)
        self.assertIsNotNone(r.header("Retry-After"), r)
        self.expect(call("DELETE", BOOKING, booking_path("launch", bid), user="hank"), 200)
        body = rec.finish_stream(path, conn, resp, first)
        self.assertEqual(body.count(b"event: "), 2, body)
        self.expect(call("GET", EVENTS, booking_path("launch", BAD_ID) + "/events", user="hank"), 400)
        self.expect(call("GET", EVENTS, path), 401)
        self.expect(call("GET", EVENTS, path, user="mallory"), 404)
        self.expect(call("GET", EVENTS, path, user="hank", body=TOO_LARGE), 413)
        for m in ("HEAD", "POST", "DELETE"):
            self.expect(call(m, EVENTS, path, user="hank"), 405)

    def exercise_sale_and_operations(self, rec):
        call = rec.call
        states = set()
        for sale in ("launch", "one", "future", "past"):
            r = self.expect(call("GET", SALE, "/booking-service/sales/" + sale), 200)
            states.add(r.json["state"])
        self.assertEqual(states, {"open", "sold_out", "scheduled", "closed"})
        for m in ("GET", "HEAD"):
            self.expect(call(m, SALE, "/booking-service/sales/launch"), 200)
            self.expect(call(m, SALE, "/booking-service/sales/" + BAD_ID), 400)
            self.expect(call(m, SALE, "/booking-service/sales/nosuchsale"), 404)
            self.expect(call(m, SALE, "/booking-service/sales/launch", body=TOO_LARGE), 413)
        for m in ("POST", "PUT"):
            self.expect(call(m, SALE, "/booking-service/sales/launch"), 405)
        for path in OPS_PATHS:
            for m in ("GET", "HEAD"):
                self.expect(call(m, path, path), 200)
                self.expect(call(m, path, path, body=TOO_LARGE), 413)
            for m in ("POST", "DELETE"):
                self.expect(call(m, path, path), 405)

    def exercise_admin(self, rec):
        call = rec.call
        bearer = {"Authorization": "Bearer " + ADMIN_TOKEN}
        basic = {"Authorization": "Basic " + base64.b64encode(
            ("anyone:" + ADMIN_TOKEN).encode()).decode()}
        wrong = {"Authorization": "Bearer not-the-admin-token-0123456789"}
        for path in ADMIN_PATHS:
            for m in ("GET", "HEAD"):
                self.expect(call(m, path, path, headers=bearer), 200)
                self.expect(call(m, path, path, headers=basic), 200)
                self.expect(call(m, path, path), 401)
                self.expect(call(m, path, path, headers=wrong), 401)
                self.expect(call(m, path, path, headers=bearer, body=TOO_LARGE), 413)
            for m in ("POST", "PUT"):
                self.expect(call(m, path, path, headers=bearer), 405)
        # The stream never ends: two snapshots are read, then it is closed.
        conn, resp = rec.open_stream(ADMIN_EVENTS, headers=bearer)
        self.addCleanup(conn.close)
        self.assertEqual(resp.status, 200)
        got = rec.first_event(resp)
        got += rec.first_event(resp)
        # Admin streams count as one user's: max_streams_per_user is 1.
        r = self.expect(call("GET", ADMIN_EVENTS, ADMIN_EVENTS, headers=basic), 503)
        self.assertIsNotNone(r.header("Retry-After"), r)
        rec.finish_stream(ADMIN_EVENTS, conn, resp, got, template=ADMIN_EVENTS, to_end=False)
        self.assertEqual(got.count(b"event: stats"), 2, got)
        self.expect(call("GET", ADMIN_EVENTS, ADMIN_EVENTS), 401)
        self.expect(call("GET", ADMIN_EVENTS, ADMIN_EVENTS, headers=bearer, body=TOO_LARGE), 413)
        for m in ("HEAD", "POST"):
            self.expect(call(m, ADMIN_EVENTS, ADMIN_EVENTS, headers=bearer), 405)

    def exercise_admin_off(self, rec):
        bearer = {"Authorization": "Bearer " + ADMIN_TOKEN}
        for path in ADMIN_PATHS:
            for m in ("GET", "HEAD"):
                self.expect(rec.call(m, path, path, headers=bearer), 404)
        self.expect(rec.call("GET", ADMIN_EVENTS, ADMIN_EVENTS, headers=bearer), 404)

    # ---- the checker can fail ----

    ADMIN_SNAPSHOT = (
        b'{"time":"2030-01-01T00:00:01Z","time_ms":1000,"sales":[{"sale_id":"launch",'
        b'"state":"open","inventory":5,"available":5,"held":0,"booked":0,"expired":0,'
        b'"rejected":{"sold_out":0,"duplicate":0,"policy":0,"closed":0,"other":0},'
        b'"queued":0,"max_queued":10000,"queue_full":0}],'
        b'"backends":{"queue":{"ready":true,"plugin":"memory"},"inventory":{"ready":true,'
        b'"plugin":"memory"},"storage":{"ready":false,"plugin":"sqlite","detail":"down"}},'
        b'"event_streams":1,"queue_depth":null,"totals":{"requests":3,"forbidden":0,'
        b'"rate_limited":0,"unavailable":0},"rates":{"requests":null,"forbidden":null,'
        b'"rate_limited":null,"unavailable":null,"window_s":null},"accept_latency":'
        b'{"since_start":{"count":0,"p50_ms":null,"p99_ms":null},"recent":{"count":0,'
        b'"p50_ms":null,"p99_ms":null}}}')

    GOOD = [
        record_of("POST", BOOK, "/booking-service/book-item/launch", 202,
                  {"content-type": "application/json",
                   "location": "/booking-service/book-item/launch/b1"},
                  b'{"booking_id":"b1","sale_id":"launch","status":"queued"}'),
        record_of("GET", BOOKING, "/booking-service/book-item/launch/b1", 200,
                  {"content-type": "application/json"},
                  b'{"booking_id":"b1","sale_id":"launch","status":"hold",'
                  b'"hold_expires_at":"2030-01-01T00:00:00Z"}'),
        record_of("POST", BOOK, "/booking-service/book-item/launch", 429,
                  {"content-type": "application/json", "retry-after": "7"},
                  b'{"error":"rate_limited","message":"slow down"}'),
        record_of("GET", BOOKING, "/booking-service/book-item/launch/b1", 401,
                  {"content-type": "application/json",
                   "www-authenticate": 'Bearer realm="flashsaled"'},
                  b'{"error":"unauthenticated","message":"no token"}'),
        record_of("PATCH", "/healthz", "/healthz", 405,
                  {"content-type": "application/json", "allow": "GET, HEAD"},
                  b'{"error":"method_not_allowed","message":"no"}'),
        record_of("GET", SALE, "/booking-service/sales/launch", 200,
                  {"content-type": "application/json"},
                  b'{"sale_id":"launch","inventory":5,"available":5,"held":0,'
                  b'"booked":0,"state":"open"}'),
        record_of("GET", EVENTS, "/booking-service/book-item/launch/b1/events", 200,
                  {"content-type": "text/event-stream"},
                  b'id: 1\nevent: queued\ndata: {"booking_id":"b1","sale_id":"launch",'
                  b'"status":"queued"}\n\n: keep-alive\n\n'
                  b'id: 4\nevent: deleted\ndata: {"booking_id":"b1","sale_id":"launch",'
                  b'"status":"deleted"}\n\n'),
        record_of("HEAD", "/healthz", "/healthz", 200,
                  {"content-type": "application/json"}, b""),
        record_of("GET", BOOKING, "/booking-service/book-item/launch/b1", 404,
                  {"content-type": "application/json"},
                  b'{"error":"not_found","message":"no such booking"}'),
        record_of("PUT", BOOKING, "/booking-service/book-item/launch/b1", 409,
                  {"content-type": "application/json"},
                  b'{"error":"invalid_transition","message":"no","status":"booked"}'),
        record_of("GET", "/admin/stats", "/admin/stats", 401,
                  {"content-type": "application/json",
                   "www-authenticate": 'Basic realm="flashsaled"'},
                  b'{"error":"unauthenticated","message":"no token"}'),
        record_of("GET", ADMIN_EVENTS, ADMIN_EVENTS, 200,
                  {"content-type": "text/event-stream"},
                  b'retry: 2000\n\nid: 1000\nevent: stats\ndata: ' + ADMIN_SNAPSHOT + b'\n\n'),
    ]

    @staticmethod
    def mutated(i, change):
        r = json.loads(json.dumps(OpenApi.GOOD[i]))
        change(r)
        return r

    def test_the_checker_flags_answers_the_document_does_not_allow(self):
        def body(text):
            return lambda r: r.update(body=text)

        def drop(name):
            return lambda r: r["headers"].pop(name)

        def set_header(name, value):
            return lambda r: r["headers"].__setitem__(name, value)

        cases = [  # (index into GOOD, change, words the report must contain)
            (0, lambda r: r.update(status=418), "status 418 not documented"),
            (0, drop("location"), "header Location missing"),
            (0, set_header("location", "/elsewhere"), "header Location"),
            (0, body('{"booking_id":"b1","sale_id":"launch","status":"hold"}'), "body"),
            (1, body('{"booking_id":"b1","sale_id":"launch","status":"hold"}'), "body"),
            (1, body('{"booking_id":"b1","sale_id":"launch","status":"lost"}'), "body"),
            (1, body('{"booking_id":"b1","sale_id":"launch","status":"booked","x":1}'), "body"),
            (1, set_header("content-type", "text/html"), "Content-Type"),
            (1, body("not json"), "not JSON"),
            (2, drop("retry-after"), "header Retry-After missing"),
            (2, set_header("retry-after", "soon"), "header Retry-After"),
            (3, drop("www-authenticate"), "header WWW-Authenticate missing"),
            (4, set_header("allow", "GET"), "Allow"),
            (4, lambda r: r.update(status=404), "not 405"),
            (5, body('{"sale_id":"launch","inventory":5,"available":-1,"held":0,'
                     '"booked":0,"state":"open"}'), "body"),
            (5, body('{"sale_id":"launch","inventory":5,"available":5,"held":0,'
                     '"booked":0,"state":"paused"}'), "body"),
            (6, lambda r: r.update(body=r["body"].replace("event: deleted", "event: booked")),
             "event name"),
            (6, lambda r: r.update(body=r["body"].replace("id: 4", "id: 1")), "event id"),
            (6, lambda r: r.update(body=r["body"].replace('"status":"deleted"', '"status":"gone"')),
             "event data"),
            (6, body(""), "without an event"),
            (7, body('{"status":"ok"}'), "a body where none is documented"),
            (8, body('{"error":"not_found","message":"no","booking_id":"b1"}'), "body"),
            (8, body('{"error":"forbidden","message":"no"}'), "body"),
            (8, body('{"message":"no"}'), "body"),
            (9, body('{"error":"invalid_transition","message":"no"}'), "body"),
            (0, lambda r: r.update(template="/booking-service/nowhere"), "path not documented"),
            (10, set_header("www-authenticate", 'Bearer realm="flashsaled"'),
             "header WWW-Authenticate"),
            (11, lambda r: r.update(body=r["body"].replace("event: stats", "event: stat")),
             "event name"),
            (11, lambda r: r.update(body=r["body"].replace("id: 1000", "id: 999")), "event id"),
            (11, lambda r: r.update(body=r["body"].replace('"totals"', '"total"')),
             "event data"),
            (11, lambda r: r.update(body=r["body"].replace('"detail":"down"', '"x":1')),
             "event data"),
        ]
        records = [self.mutated(i, change) for i, change, _ in cases]
        records += [json.loads(json.dumps(g)) for g in self.GOOD]  # controls
        rc, output, report = run_checker(self.modules, DOC, records, coverage=False)
        self.assertEqual(rc, 1, output)
        by_index = {}
        for p in report.get("problems", []):
            by_index.setdefault(p.get("index"), []).append(p["problem"])
        for n, (i, _, words) in enumerate(cases):
            problems = by_index.get(n, [])
            self.assertTrue(any(words in p for p in problems),
                            "case %d (on GOOD[%d]) not flagged with %r; flagged: %r\n%s"
                            % (n, i, words, problems, output))
        for n in range(len(cases), len(records)):
            self.assertNotIn(n, by_index, "a correct answer was flagged:\n%s" % output)
        note("the checker flagged all %d wrong answers and none of the %d correct ones"
             % (len(cases), len(self.GOOD)))

    def test_the_checker_refuses_broken_documents(self):
        with open(DOC) as f:
            text = f.read()
        cases = [  # (old, new, words the output must contain)
            ("openapi: 3.1.0\n", "openapi: 3.1.0\nnot_a_field: 1\n", "[validity]"),
            ("$ref: '#/components/schemas/Sale'", "$ref: '#/components/schemas/Nope'",
             "[validity]"),
            ("openapi: 3.1.0\n", "openapi: 3.0.3\n", "[validity]"),
            ("  /healthz:\n    x-allow: GET, HEAD\n", "  /healthz:\n    x-allow: GET\n",
             "x-allow"),
            ("pattern: '^[A-Za-z0-9._-]{1,64}$'", "pattern: '^.+$'", "path parameter"),
        ]
        with tempfile.TemporaryDirectory(prefix="fs-openapi-") as tmp:
            for old, new, words in cases:
                self.assertIn(old, text, "the test's anchor is gone from the document")
                broken = os.path.join(tmp, "broken.yaml")
                with open(broken, "w") as f:
                    f.write(text.replace(old, new, 1))
                rc, output, _ = run_checker(self.modules, broken, [], coverage=False)
                self.assertEqual(rc, 1, "%r -> %r not refused:\n%s" % (old, new, output))
                self.assertIn(words, output, output)
        rc, output, _ = run_checker(self.modules, DOC, [], coverage=False)
        self.assertEqual(rc, 0, "docs/openapi.yaml itself:\n%s" % output)
        note("%d broken documents refused; docs/openapi.yaml passes" % len(cases))


if __name__ == "__main__":
    harness.main()
