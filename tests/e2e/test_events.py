"""test_events.py - GET .../{booking}/events: the booking's changes as
server-sent events (DESIGN.md section 2): the current state first, one event
per change, closed after a final state, Last-Event-ID honoured, owner-checked
like GET, bounded per user and in total (503 past it), and ended cleanly by
SIGTERM."""

import http.client
import json
import time

import harness
from harness import note, token_for


class Stream:
    """One open event stream, read event by event with a bounded wait."""

    def __init__(self, port, sale, booking_id, token, last_event_id=None):
        self.conn = http.client.HTTPConnection(harness.HOST, port, timeout=harness.HTTP_TIMEOUT)
        headers = {"Authorization": "Bearer " + token, "User-Agent": harness.USER_AGENT,
                   "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", harness.booking_path(sale, booking_id) + "/events",
                          headers=headers)
        self.resp = self.conn.getresponse()

    def next_event(self):
        """The next event as (id, name, data), or None at the end of the stream."""
        fields = {}
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if "event" in fields:
                    return int(fields["id"]), fields["event"], json.loads(fields["data"])
                continue  # a comment block ended
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            fields[key] = value

    def close(self):
        self.conn.close()


class Events(harness.DaemonTestCase):
    SALES = [{"id": "launch", "inventory": 10, "hold_seconds": 300},
             # Long enough that the stream opens before the hold expires,
             # also on a slow (sanitizer) build.
             {"id": "short", "inventory": 2, "hold_seconds": max(2, round(harness.scaled(2)))}]

    def open(self, sale, bid, user, **kw):
        s = Stream(self.daemon.port, sale, bid, token_for(user), **kw)
        self.addCleanup(s.close)
        return s

    def test_stream_sends_the_state_then_each_change_and_ends_after_a_final_one(self):
        bid, tok, _ = self.hold_for(self.c, "launch", "alice")
        s = self.open("launch", bid, "alice")
        self.assertEqual(s.resp.status, 200)
        self.assertTrue(s.resp.getheader("Content-Type").startswith("text/event-stream"))
        eid, name, data = s.next_event()
        self.assertEqual((eid, name, data["status"], data["booking_id"]), (2, "hold", "hold", bid))
        r = self.c.cancel("launch", bid, tok)
        self.assertEqual(r.status, 200, r)
        eid, name, data = s.next_event()
        self.assertEqual((name, data["status"]), ("deleted", "deleted"))
        self.assertIsNone(s.next_event(), "the stream must end after a final state")
        note("stream: hold, then deleted after DELETE, then closed")

    def test_an_expiring_hold_is_pushed_without_polling(self):
        bid, _, _ = self.hold_for(self.c, "short", "bob")
        s = self.open("short", bid, "bob")
        t0 = time.monotonic()
        names = []
        while True:
            ev = s.next_event()
            if ev is None:
                break
            names.append(ev[1])
        self.assertEqual(names, ["hold", "expired"])
        note("hold then expired pushed %.1f s after the stream opened" % (time.monotonic() - t0))

    def test_last_event_id_skips_what_the_client_has_seen(self):
        bid, tok, _ = self.hold_for(self.c, "launch", "carol")
        s = self.open("launch", bid, "carol", last_event_id=2)
        self.c.confirm("launch", bid, tok)
        eid, name, _ = s.next_event()
        self.assertEqual((eid, name), (3, "booked"), "the hold (id 2) was seen already")
        self.assertIsNone(s.next_event())

    def test_another_users_stream_is_not_found(self):
        bid, _, _ = self.hold_for(self.c, "launch", "dave")
        s = self.open("launch", bid, "mallory")
        self.assertEqual(s.resp.status, 404)
        self.assertEqual(json.loads(s.resp.read())["error"], "not_found")

    def test_streams_are_bounded_per_user(self):
        bid, _, _ = self.hold_for(self.c, "launch", "erin")
        first = self.open("launch", bid, "erin")
        second = self.open("launch", bid, "erin")
        self.assertEqual((first.resp.status, second.resp.status), (200, 200))
        first.next_event()
        second.next_event()
        third = self.open("launch", bid, "erin")
        self.assertEqual(third.resp.status, 503)
        self.assertIsNotNone(third.resp.getheader("Retry-After"))
        note("third stream of one user: 503 with Retry-After (http.max_streams_per_user 2)")

    def test_sigterm_ends_open_streams_and_the_daemon_exits(self):
        bid, _, _ = self.hold_for(self.c, "launch", "frank")
        s = self.open("launch", bid, "frank")
        s.next_event()
        rc, took, killed = self.daemon.stop()
        self.assertEqual((rc, killed), (0, False), "SIGTERM must end the stream and exit 0")
        try:
            ended = s.next_event() is None  # the last chunk made it out
        except (http.client.HTTPException, OSError):
            ended = True  # or the connection closed under it: ended too
        self.assertTrue(ended, "the stream must end with the daemon")
        note("SIGTERM with an open stream: exit 0 in %.1f s" % took)


if __name__ == "__main__":
    harness.main()
