"""test_backend_outages.py - each real backend stopped and started again in
the middle of a crowded sale (DESIGN.md sections 4 and 5, issue 6): while it
is down, bookings are refused with 503 `unavailable` and `Retry-After` and
/readyz names exactly that backend; once it is back the sale goes on without
a restart of the daemon, nothing answered 202 is lost and nothing is oversold
or undersold.

The daemon runs on the real set (RabbitMQ queue, Redis inventory, MongoDB-
wire storage), each server started here on a free port by the helpers in
tests/integration. One test per outage:

- Redis SIGKILLed and started again empty (it never persists): the daemon
  rebuilds the sale's inventory from storage;
- RabbitMQ stopped (SIGTERM) and started again on the same data dir: the
  durable queue and its persistent messages come back;
- RabbitMQ crashed (SIGKILL of the node's beam.smp, see kill() in
  tests/integration/rabbitmq_server.py) and started again on the same data
  dir: the broker recovers the durable queue and the persistent messages it
  had confirmed, and the daemon answered 202 only for confirmed ones (that
  test is test_broker_kill.py's, run by run-long until the bug it found is
  fixed: see there);
- MongoDB stopped (SIGTERM) and started again with its data: CongoDB keeps
  its data in memory only, so the server is started with a dump file that it
  writes when SIGTERM stops it and reads back at start (see "THE DUMP" in
  tests/integration/mongo/server.js);
- MongoDB crashed (SIGKILL) and started again with its data, as a journaled
  MongoDB keeps every acknowledged write: a server of its own, started
  durable, so with a write-ahead journal that it appends and fdatasyncs
  every write to before applying it and replays at start (see "THE
  JOURNAL" there). Checked beyond the rest: the journal was replayed, and
  users accepted before the kill keep their hold and their booking id;
- MongoDB frozen (SIGSTOP) and thawed (SIGCONT): connections stay open and
  nothing answers, so every storage call runs into its timeout.

Each test: a sale of SALE_ITEMS items and a crowd of USERS distinct users
sent by THREADS client threads. The backend goes away once a sixth of the
users have been answered; the sale still has stock then, so the outage hits
the accept path (a sold-out answer touches neither queue nor storage). The
crowd goes on through the outage: a user refused with 503 asks again after
Retry-After, as a client should. The backend comes back once the outage has
lasted OUTAGE_SECONDS (STORAGE_OUTAGE_SECONDS for storage) and refused at
least MIN_REFUSALS requests (polled, not slept). Checked: every POST is
answered within the harness' HTTP timeout (the slowest is reported);
every 503 carries Retry-After and the JSON error
`unavailable`, and none comes while every backend is up; /readyz turns 503
naming exactly that backend, stays so until it is started, and is 200
again after; the daemon is the same process throughout; a sampler reading
the public sale view never sees held + booked above the inventory; once
quiescent every booking answered 202 is `hold` or final (none lost, none
stuck `queued`), the holds counted by GETting every booking equal the sale
view, and since the crowd asked for more than the stock, available is 0.

FS_OUTAGE_ROUNDS repeats each test's crowd (default 1; the long form,
tests/faults/run-long, runs 3), each round a fresh daemon and sale."""

import heapq
import http.client
import itertools
import os
import re
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import real_backends  # noqa: E402
from harness import note, token_for  # noqa: E402
from mongo_server import MongoServer  # noqa: E402
from rabbitmq_server import RabbitMQServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402

ROUNDS = int(os.environ.get("FS_OUTAGE_ROUNDS", "1"))
USERS = 2400
# Enough that a sixth of the crowd leaves stock for the outage to refuse;
# less than the crowd, so that the sale must sell out exactly.
SALE_ITEMS = 1000
THREADS = 64
# Every answer before the outage is a 202 (the stock lasts), and the crowd
# keeps buying while a backend is being taken away: a third (800, leaving
# 200 items) let a SIGKILLed broker's last seconds sell the rest, so that
# nothing was left for the outage to refuse (seen in CI once claims made
# the accept path exact). A sixth leaves 600.
STOP_AFTER = USERS // 6
OUTAGE_SECONDS = 2.0
# Storage calls wait for their timeout (STORAGE_TIMEOUT_MS while storage is
# the backend that goes away) while it is down, so its outage lasts a little
# longer.
STORAGE_OUTAGE_SECONDS = 4.0
STORAGE_TIMEOUT_MS = 1500
# If the daemon refuses too slowly, the backend comes back after this long
# anyway (the test then fails, saying so) so the rest can still be checked.
OUTAGE_MAX_SECONDS = harness.scaled(20.0)
MIN_REFUSALS = 50
SALE = "outage"
CROWD_DEADLINE = harness.scaled(150.0)
RECOVERY_TIMEOUT = harness.scaled(60.0)
# The worker decides the backlog at the storage's pace (CongoDB is one
# JavaScript thread): generous, since a sanitizer build is slower.
SETTLE_TIMEOUT = harness.scaled(180.0)
SETTLE_THREADS = 8
# A user refused this often during one outage stops and asks again at the end.
MAX_REFUSALS_PER_USER = 30

_names = itertools.count(1)


class WrongAnswer(Exception):
    """A GET of a booking answered neither 200 nor 503 while settling (a
    booking answered 202 and then lost is 404): fails the test at once
    instead of being waited out as "not quiescent"."""
REBUILT_RE = re.compile(r"inventory state rebuilt from storage: (\d+) held or booked")
# mongo/server.js's line, on its stderr, after replaying its journal at start.
REPLAYED_RE = re.compile(r"journal .*: (\d+) records replayed, (\d+) failed")
# Users accepted before a kill whose booking is checked after it.
EARLY_HOLDERS = 20


def down_backends(r):
    """The backends /readyz reports as not ok, sorted."""
    return sorted(k for k, v in r.json["backends"].items() if not v["ok"])


class Outage:
    """The phases of one outage, as the crowd's threads see them: answers
    are filed under the phase current when they arrive."""

    BEFORE, DOWN, UP = "before", "down", "up"

    def __init__(self):
        self.lock = threading.Lock()
        self.phase = self.BEFORE
        self.refused_while_down = 0
        self.readyz_down = []       # /readyz answers while the backend was down
        self.readyz_lag_s = None    # from the stop until /readyz named it
        self.recovery_s = None      # from the start until /readyz said 200
        self.down_s = None          # how long the backend was away

    def set(self, phase):
        with self.lock:
            self.phase = phase


class Crowd:
    """USERS users, each asking once for an item from THREADS threads; a
    503 puts the user back in line until Retry-After has passed."""

    def __init__(self, daemon, users, outage, on_answered):
        self.daemon, self.outage = daemon, outage
        self.on_answered = on_answered
        self.cond = threading.Condition()
        self.fresh = list(reversed(users))
        self.deferred = []          # heap of (due time, seq, user)
        self.seq = itertools.count()
        self.busy = 0
        self.refusals = {}          # user -> 503s received
        self.accepted = {}          # user -> booking id answered 202
        self.named = {}             # user -> booking id named by already_booked
        self.sold_out = set()
        self.unknown = set()        # no whole answer, or refused too often
        self.answers = {Outage.BEFORE: {}, Outage.DOWN: {}, Outage.UP: {}}
        self.unanswered = {Outage.BEFORE: [], Outage.DOWN: [], Outage.UP: []}
        self.slowest = {Outage.BEFORE: 0.0, Outage.DOWN: 0.0, Outage.UP: 0.0}
        self.bad = []               # answers no outage may give
        self.answered = 0
        self.abort = False          # the outage failed: stop asking

    def _next_user(self):
        with self.cond:
            while True:
                if self.abort:
                    return None
                now = time.monotonic()
                if self.deferred and self.deferred[0][0] <= now:
                    user = heapq.heappop(self.deferred)[2]
                elif self.fresh:
                    user = self.fresh.pop()
                elif self.deferred:
                    self.cond.wait(self.deferred[0][0] - now)
                    continue
                elif self.busy:
                    self.cond.wait()
                    continue
                else:
                    return None
                self.busy += 1
                return user

    def _done(self, user, retry_after=None):
        with self.cond:
            self.busy -= 1
            if retry_after is not None:
                heapq.heappush(self.deferred,
                               (time.monotonic() + retry_after, next(self.seq), user))
            self.cond.notify_all()

    def _file(self, user, r, retried):
        """Files one answer; returns seconds to wait before asking again,
        or None when the user is done."""
        with self.outage.lock:
            phase = self.outage.phase
        try:
            body = r.json
        except AssertionError as e:
            body = {"error": "not JSON: %s" % e}
        status = (r.status, body.get("error"))
        with self.cond:
            self.answered += 1
            self.answers[phase][status] = self.answers[phase].get(status, 0) + 1
            if r.status == 202:
                self.accepted[user] = body["booking_id"]
            elif status == (409, "sold_out"):
                self.sold_out.add(user)
            elif status == (409, "already_booked") and (self.refusals.get(user) or retried):
                # After a 503 (an insert that timed out may be stored after
                # all; the daemon settles those) or a POST the client sent
                # twice because its connection broke: the booking it names.
                self.named[user] = body["booking_id"]
            elif r.status == 503:
                return self._refused(user, r, body, phase)
            else:
                self.bad.append("%s during %s: %r" % (user, phase, r))
        return None

    def _refused(self, user, r, body, phase):
        retry = r.header("Retry-After")
        if body.get("error") != "unavailable" or retry is None or not retry.isdigit():
            self.bad.append("%s: 503 without Retry-After or `unavailable`: %r %r"
                            % (user, retry, r))
            retry = "1"
        if phase == Outage.BEFORE:
            self.bad.append("%s: 503 while every backend was up: %r" % (user, r))
        if phase == Outage.DOWN:
            with self.outage.lock:
                self.outage.refused_while_down += 1
        self.refusals[user] = self.refusals.get(user, 0) + 1
        if self.refusals[user] >= MAX_REFUSALS_PER_USER:
            self.unknown.add(user)
            return None
        return int(retry)

    def _worker(self):
        with harness.Client(self.daemon.port) as client:
            while True:
                user = self._next_user()
                if user is None:
                    return
                retry_after = None
                try:
                    t0 = time.monotonic()
                    r = client.book(SALE, token_for(user))
                    self._timed(time.monotonic() - t0)
                    retry_after = self._file(user, r, client.retried)
                except (OSError, http.client.HTTPException, AssertionError) as e:
                    with self.outage.lock:
                        phase = self.outage.phase
                    with self.cond:
                        self.unknown.add(user)  # no whole answer: maybe accepted
                        self.unanswered[phase].append("%s: %r" % (user, e))
                self._done(user, retry_after)
                self.on_answered(self.answered)

    def _timed(self, seconds):
        with self.outage.lock:
            phase = self.outage.phase
        with self.cond:
            self.slowest[phase] = max(self.slowest[phase], seconds)

    def stop(self):
        with self.cond:
            self.abort = True
            self.cond.notify_all()

    def run(self):
        ts = harness.start_threads((self._worker,) for _ in range(THREADS))
        try:
            harness.join_all(ts, CROWD_DEADLINE, "crowd threads")
        finally:
            self.stop()


class OutageCase(harness.DaemonTestCase):
    """The servers, the crowd through an outage and the checks; the tests
    are BackendOutages' below and test_broker_kill.py's."""
    START_DAEMON = False

    @classmethod
    def setUpClass(cls):
        # One set of servers for the file (RabbitMQ takes seconds to boot);
        # each round has its own queue, key prefix and database. A server
        # that cannot start fails the tests, never skips them.
        cls.tmp = tempfile.mkdtemp(prefix="fs-outages-")
        cls.redis = RedisServer()
        cls.rabbit = RabbitMQServer()
        cls.mongo = MongoServer(dump_path=os.path.join(cls.tmp, "congodb.ejson"))
        # For the kill: every write journaled (an fdatasync each), so a
        # server of its own, not slowing the other tests down.
        cls.durable_mongo = MongoServer(
            dump_path=os.path.join(cls.tmp, "durable.ejson"),
            journal_path=os.path.join(cls.tmp, "durable.journal"))
        cls.redis.start()
        cls.rabbit.start()
        cls.mongo.start()
        cls.durable_mongo.start()

    @classmethod
    def tearDownClass(cls):
        real_backends.stop_servers(cls.durable_mongo, cls.mongo, cls.rabbit,
                                   cls.redis)
        for name in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, name))
        os.rmdir(cls.tmp)

    def setUp(self):
        super().setUp()
        # A test that failed mid-outage leaves its backend away or frozen.
        self.mongo.thaw()
        if not self.redis.running:
            self.redis.start()
        if not self.rabbit.is_running():
            self.rabbit.start()
        if self.mongo.proc is None:
            self.mongo.start()
        if self.durable_mongo.proc is None:
            self.durable_mongo.start()

    def real_daemon(self, storage_timeout_ms, mongo=None):
        mongo = mongo or self.mongo
        ns = "o%d_%d" % (os.getpid(), next(_names))
        plugins = (
            "  queue: { name: rabbitmq, url: %s, queue: %s }"
            % (harness.yaml_scalar(self.rabbit.url), ns),
            "  inventory: { name: redis, url: %s, prefix: %s, command_timeout_ms: 3000 }"
            % (harness.yaml_scalar(self.redis.url()), ns),
            "  storage: { name: mongo, uri: %s, database: %s, write_concern: 1,"
            " timeout_ms: %d }" % (harness.yaml_scalar(mongo.uri), ns,
                                   storage_timeout_ms),
        )
        sales = [{"id": SALE, "inventory": SALE_ITEMS, "hold_seconds": 600}]
        # Room for every client thread, the sampler and the /readyz poller:
        # civetweb holds a thread per keep-alive connection.
        return self.start_daemon(sales, http_threads=THREADS + 16, plugin_lines=plugins)

    # ---- the outage ---------------------------------------------------------

    def readyz(self, client):
        return client.request("GET", "/readyz")

    def run_outage(self, d, outage, stop, start, backend, started):
        """Waits for `started`, stops the backend, watches /readyz while it
        is away, starts it again and waits until /readyz is 200."""
        c = self.client(d)
        if not started.wait(CROWD_DEADLINE):
            return
        t0 = time.monotonic()
        outage.set(Outage.DOWN)
        stop()

        def named():
            r = self.readyz(c)
            return r if r.status == 503 and down_backends(r) == [backend] else None

        outage.readyz_down.append(harness.wait_until(
            named, timeout=harness.scaled(30), what="/readyz 503 naming only %s" % backend))
        outage.readyz_lag_s = time.monotonic() - t0

        def long_enough():
            outage.readyz_down.append(self.readyz(c))
            with outage.lock:
                refused = outage.refused_while_down
            least = STORAGE_OUTAGE_SECONDS if backend == "storage" else OUTAGE_SECONDS
            return time.monotonic() - t0 >= least and refused >= MIN_REFUSALS

        try:
            harness.wait_until(long_enough, timeout=OUTAGE_MAX_SECONDS)
        except AssertionError:
            pass  # too few refusals: checked once the backend is back
        t1 = time.monotonic()
        start()
        outage.down_s = time.monotonic() - t0
        harness.wait_until(lambda: self.readyz(c).status == 200, timeout=RECOVERY_TIMEOUT,
                           what="/readyz 200 after %s came back" % backend)
        outage.recovery_s = time.monotonic() - t1
        outage.set(Outage.UP)

    def crowd_through_outage(self, backend, stop, start, before_stop=None, mongo=None):
        """One round; returns (daemon, crowd, outage, settled bookings, view).
        `mongo`: the storage server, if not self.mongo."""
        # CongoDB is one JavaScript thread, slow under the backlog: a short
        # storage timeout where storage is the backend that goes away (so
        # that refusals come soon), a long one elsewhere (so that a slow
        # answer is not read as an outage of the storage).
        d = self.real_daemon(STORAGE_TIMEOUT_MS if backend == "storage" else 5000,
                             mongo=mongo)
        pid = d.proc.pid
        users = ["%s-u%05d" % (backend, i) for i in range(USERS)]
        outage = Outage()
        started = threading.Event()

        def on_answered(n):
            if n >= STOP_AFTER and not started.is_set():
                if before_stop:
                    before_stop(crowd)
                started.set()

        crowd = Crowd(d, users, outage, on_answered)

        def controller():
            try:
                self.run_outage(d, outage, stop, start, backend, started)
            except BaseException:
                crowd.stop()  # the crowd ends; join_all re-raises this
                raise

        sampler = harness.Sampler(d.port, SALE)
        sampler.start()
        ctl = harness.start_threads([(controller,)])
        try:
            crowd.run()
        finally:
            started.set()  # never leave the controller waiting
            sampler.stop()
        harness.join_all(ctl, CROWD_DEADLINE + RECOVERY_TIMEOUT, "outage controller")
        self.assertEqual(outage.phase, Outage.UP, "the backend never came back")
        self.assertEqual(crowd.bad, [], "answers no outage may give")
        self.check_readyz_while_down(outage, backend)
        c = self.client(d)
        self.resolve(c, crowd)
        settled, view = self.settle(d, crowd)
        self.check_sale(crowd, settled, view, sampler)
        self.assertTrue(d.alive(), "the daemon died")
        self.assertEqual(d.proc.pid, pid, "the daemon was restarted")
        with open(d.log_path, "rb") as f:
            starts = f.read().count(b"---- starting: ")
        self.assertEqual(starts, 1, "the daemon was started %d times" % starts)
        # Accepting again after the outage, unless the stock was all claimed
        # before /readyz said 200 (with exact acceptance, 202s stop at the
        # stock; a broker may take publishes again before /readyz sees it).
        taken = sum(crowd.answers[p].get((202, None), 0)
                    for p in (Outage.BEFORE, Outage.DOWN))
        if taken < SALE_ITEMS:
            self.assertGreater(crowd.answers[Outage.UP].get((202, None), 0), 0,
                               "no booking accepted after %s came back: answers %s"
                               % (backend, crowd.answers))
        note("%s away %.1f s (/readyz named it after %.2f s, 200 again %.1f s "
             "after the start): answers before %s, while away %s, after %s; "
             "%d users asked again at the end; %d samples; %d GETs 503 while "
             "settling; sale %s"
             % (backend, outage.down_s, outage.readyz_lag_s, outage.recovery_s,
                crowd.answers[Outage.BEFORE], crowd.answers[Outage.DOWN],
                crowd.answers[Outage.UP], len(crowd.unknown), len(sampler.samples),
                crowd.busy_gets, view))
        self.check_refused_promptly(crowd, outage, backend)
        return d, crowd, outage, settled, view

    # ---- the checks ---------------------------------------------------------

    def check_refused_promptly(self, crowd, outage, backend):
        """A request that finds a backend down is answered 503 at once
        (within the backend's timeout), not left hanging."""
        for phase in (Outage.BEFORE, Outage.UP):
            self.assertEqual(len(crowd.unanswered[phase]), 0,
                             "POSTs unanswered within %.0f s %s the outage: %s"
                             % (harness.HTTP_TIMEOUT, phase, crowd.unanswered[phase][:3]))
        hung = crowd.unanswered[Outage.DOWN]
        self.assertEqual(
            len(hung), 0, "%d POSTs got no answer within %.0f s while %s was away (and "
            "only %d were refused with 503 in %.1f s): a request that finds a "
            "backend down must be refused 503 at once, not hang; first: %s"
            % (len(hung), harness.HTTP_TIMEOUT, backend, outage.refused_while_down,
               outage.down_s, hung[:3]))
        self.assertGreaterEqual(outage.refused_while_down, MIN_REFUSALS,
                                "too few requests refused while %s was away" % backend)
        # How long the slowest refusal took is reported, not asserted (tests
        # never fail on timing): a POST that waited behind others' timeouts
        # past HTTP_TIMEOUT is already counted as unanswered above.
        note("slowest POST while %s was away: %.2f s (its timeout %.1f s)"
             % (backend, crowd.slowest[Outage.DOWN], STORAGE_TIMEOUT_MS / 1000.0))

    def check_readyz_while_down(self, outage, backend):
        self.assertGreater(len(outage.readyz_down), 1)
        for r in outage.readyz_down:
            self.assertEqual(r.status, 503, "/readyz while %s was away: %r" % (backend, r))
            self.assertIsNotNone(r.header("Retry-After"), r)
            self.assertEqual(down_backends(r), [backend],
                             "/readyz must name exactly the backend that is away: %r"
                             % r.json)

    def resolve(self, c, crowd):
        """Users without a known fate ask again, now that all is up: 202 or
        409 already_booked names their booking; sold out may hide a booking
        whose answer was lost (kept in `unresolved`)."""
        crowd.unresolved = set()
        for user in sorted(crowd.unknown):
            r = c.book(SALE, token_for(user))
            if r.status in (202, 409) and r.json.get("booking_id"):
                crowd.named[user] = r.json["booking_id"]
            else:
                self.assertError(r, 409, "sold_out")
                crowd.unresolved.add(user)

    def settle(self, d, crowd):
        """Polls until quiescent: no booking queued, and the sale view agrees
        with the bookings' GETs. Returns ({user: booking}, view). A GET
        answered 503 (storage busy with the backlog) is asked again at the
        next poll; only bookings still queued are polled, so that the polls
        do not starve the worker they wait for."""
        items = sorted(crowd.accepted.items()) + sorted(crowd.named.items())
        c = self.client(d)
        latest = {}                 # user -> last booking JSON seen
        busy = [0]

        def get(client, item):
            user, bid = item
            r = client.get_booking(SALE, bid, token_for(user))
            if r.status == 503:
                busy[0] += 1
                return None
            if r.status != 200:
                raise WrongAnswer("GET booking of %s (%s), answered %s: %r"
                                  % (user, bid, "202" if user in crowd.accepted
                                     else "409 already_booked", r))
            return r.json

        def poll(which):
            got = harness.parallel(get, which, SETTLE_THREADS, d.port)
            errors = [g for g in got if isinstance(g, Exception)]
            if errors:
                raise errors[0]
            for (user, _), b in zip(which, got):
                if b is not None:
                    latest[user] = b
            return all(b is not None for b in got)

        def undecided():
            return [(u, b) for u, b in items
                    if latest.get(u, {}).get("status", "queued") == "queued"]

        def quiescent():
            if not poll(undecided()) or undecided():
                return None
            if not poll(items):     # every booking again, then the view
                return None
            view = self.sale_view(c, SALE)
            latest["view"] = view
            got = [latest[u] for u, _ in items]
            held = sum(b["status"] == "hold" for b in got)
            booked = sum(b["status"] == "booked" for b in got)
            if any(b["status"] == "queued" for b in got):
                return None
            if not held <= view["held"] <= held + len(crowd.unresolved):
                return None
            if view["booked"] != booked:
                return None
            return {u: latest[u] for u, _ in items}, view

        try:
            settled = harness.wait_until(quiescent, timeout=SETTLE_TIMEOUT,
                                         what="a quiescent sale")
        except WrongAnswer as e:
            self.fail("a booking went missing: %s" % e)
        except AssertionError:
            counts = {}
            for u, _ in items:
                st = latest.get(u, {}).get("status", "never read")
                counts[st] = counts.get(st, 0) + 1
            self.fail("not quiescent after %.0f s: bookings by state %s, view %s, "
                      "%d unresolved, %d GETs answered 503; still queued (lost in "
                      "the outage?): %s; %s"
                      % (SETTLE_TIMEOUT, counts, latest.get("view"),
                         len(crowd.unresolved), busy[0], undecided()[:10],
                         self.broker_view()))
        crowd.busy_gets = busy[0]
        return settled

    def broker_view(self):
        """The broker's own account of the queues, for a failure message:
        whether undecided bookings' messages still wait there (a consumer
        that stopped) or are gone."""
        try:
            return "the broker says:\n" + self.rabbit.ctl(
                "list_queues", "name", "messages_ready",
                "messages_unacknowledged", "consumers", timeout=30)
        except Exception as e:  # a diagnostic only: never hide the failure
            return "the broker could not be asked: %s" % e

    def check_sale(self, crowd, settled, view, sampler):
        self.assertEqual(view["inventory"], SALE_ITEMS, view)
        # Exact acceptance (DESIGN.md 9.7): a 202 is a claim on an item, so
        # no more 202s than items, and each becomes a hold, never rejected,
        # whichever backend went away meanwhile.
        self.assertLessEqual(len(crowd.accepted), SALE_ITEMS, "more 202s than items")
        for user, b in settled.items():
            if user in crowd.accepted:
                self.assertEqual(b["status"], "hold",
                                 "booking of %s answered 202: %r" % (user, b))
            else:
                # Named by already_booked after a 503 or a lost answer: it
                # may have been settled as never taken (deleted).
                self.assertIn(b["status"], ("hold", "deleted"),
                              "booking of %s: %r" % (user, b))
        holds = sum(b["status"] == "hold" for b in settled.values())
        self.assertLessEqual(holds, SALE_ITEMS, "oversold in storage")
        self.assertEqual(view["booked"], 0, view)
        self.assertEqual(view["available"] + view["held"] + view["booked"], SALE_ITEMS,
                         "not conserved: %r" % view)
        self.assertEqual(view["available"], 0,
                         "undersold: %d users asked for %d items: %r"
                         % (USERS, SALE_ITEMS, view))
        self.assertGreaterEqual(view["held"], holds, "counts match the bookings")
        self.assertLessEqual(view["held"], holds + len(crowd.unresolved),
                             "counts match the bookings")
        self.assertGreater(len(sampler.samples), 10, "the sampler saw the sale")
        for s in sampler.samples:
            self.assertLessEqual(s["held"] + s["booked"], SALE_ITEMS, "oversold: %r" % s)
            self.assertGreaterEqual(s["available"], 0, s)

    def check_early_holders(self, d, early, settled, what):
        """Users accepted before the backend went away (EARLY_HOLDERS of
        them, see remember_holders) still hold their booking after `what`,
        and asking again names that same booking."""
        self.assertEqual(len(early), EARLY_HOLDERS, "users accepted before the kill")
        c = self.client(d)
        for user, bid in early.items():
            self.assertEqual(settled[user]["status"], "hold",
                             "%s held before %s: %r" % (user, what, settled[user]))
            r = c.book(SALE, token_for(user))
            self.assertError(r, 409, "already_booked")
            self.assertEqual(r.json["booking_id"], bid, "one per user survives")

    @staticmethod
    def remember_holders(early):
        """A before_stop that files the first users accepted (they must keep
        their booking through what follows) in `early`."""
        def remember(crowd):
            with crowd.cond:
                early.update(list(crowd.accepted.items())[:EARLY_HOLDERS])
        return remember


class BackendOutages(OutageCase):
    def test_redis_killed_and_back_empty_mid_sale_is_rebuilt_from_storage(self):
        for rnd in range(ROUNDS):
            early = {}
            # RedisServer never persists (--save '' --appendonly no): the
            # server started again is empty.
            d, crowd, _, settled, view = self.crowd_through_outage(
                "inventory", self.redis.kill, self.redis.start,
                before_stop=self.remember_holders(early))
            # The rebuild at the daemon's start finds nothing stored; the one
            # after the outage finds the holds taken before it.
            with open(d.log_path, errors="replace") as f:
                rebuilt = [int(m.group(1)) for m in REBUILT_RE.finditer(f.read())]
            self.assertTrue(any(n > 0 for n in rebuilt),
                            "no rebuild from storage after redis came back empty: "
                            "rebuilds of %s held or booked" % rebuilt)
            self.check_early_holders(d, early, settled, "the kill and the rebuild")
            note("round %d: redis back empty, rebuilt from storage (held or booked "
                 "per rebuild: %s); %d early holders kept their booking"
                 % (rnd + 1, rebuilt, len(early)))

    def test_rabbitmq_stopped_and_started_mid_sale_loses_nothing(self):
        for rnd in range(ROUNDS):
            self.crowd_through_outage("queue", self.rabbit.stop, self.rabbit.start)
            note("round %d: broker stopped and started on its data" % (rnd + 1))

    def test_mongodb_stopped_and_started_mid_sale_loses_nothing(self):
        for rnd in range(ROUNDS):
            self.crowd_through_outage("storage", self.mongo.stop, self.mongo.start)
            note("round %d: storage stopped (dump written) and started (dump read)"
                 % (rnd + 1))

    def mongo_replays(self, mongo):
        """[(records replayed, failed)] from each start of `mongo` so far."""
        with open(mongo.log_path, errors="replace") as f:
            return [(int(a), int(b)) for a, b in REPLAYED_RE.findall(f.read())]

    def test_mongodb_killed_mid_sale_keeps_every_acknowledged_write(self):
        mongo = self.durable_mongo
        for rnd in range(ROUNDS):
            early = {}
            before = len(self.mongo_replays(mongo))
            # No dump is written: all the sale's writes come back from the
            # journal, or are lost and the checks of the sale fail.
            d, crowd, _, settled, view = self.crowd_through_outage(
                "storage", mongo.kill, mongo.start,
                before_stop=self.remember_holders(early), mongo=mongo)
            replays = self.mongo_replays(mongo)[before:]
            self.assertEqual(len(replays), 1,
                             "one journal replay after the kill: %s\n%s"
                             % (replays, mongo.log_tail()))
            self.assertGreater(replays[0][0], 0, "nothing replayed")
            self.check_early_holders(d, early, settled, "the kill")
            note("round %d: storage SIGKILLed and started again: %d journal "
                 "records replayed (%d failed as when first written)"
                 % (rnd + 1, replays[0][0], replays[0][1]))

    def test_mongodb_frozen_mid_sale_loses_nothing(self):
        for rnd in range(ROUNDS):
            self.crowd_through_outage("storage", self.mongo.freeze, self.mongo.thaw)
            note("round %d: storage frozen (SIGSTOP) and thawed" % (rnd + 1))


if __name__ == "__main__":
    harness.main()
