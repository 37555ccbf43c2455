/*
 * http_events.c - GET /booking-service/book-item/{sale}/{booking}/events:
 * a booking's changes as server-sent events (DESIGN.md section 2). Separate
 * from the other routes because it is the only one that does not answer in
 * one write: it holds its HTTP thread and a subscription (src/events.c) for
 * as long as the booking can still change, and writes a chunk as it changes.
 *
 * A stream wakes only when the booking changed: on this daemon, or on
 * another one whose change the inventory's change feed relayed
 * (change_feed.c), or when that feed came back after missing changes. It
 * then reads the booking again through the booking service; nothing polls.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <jansson.h>

#include "http_request.h"
#include "http_request_id.h"
#include "events.h"
#include "log.h"
#include "states.h"

/* A comment line this often keeps proxies from closing an idle stream and
 * shows whether the client is still there. */
#define EVENTS_KEEPALIVE_MS 15000

/* The event id is the state's number: states only move forward, so a client
 * that reconnects with Last-Event-ID gets only what it has not seen. */
static int send_event(struct request *r, const struct fs_booking *b)
{
    json_t *o = fs_http_booking_json(b);
    char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
    char *event = NULL;
    int len = data ? asprintf(&event, "id: %d\nevent: %s\ndata: %s\n\n",
                              (int)b->state, fs_state_name(b->state), data)
                   : -1;
    int rc = len > 0 && mg_send_chunk(r->conn, event, (unsigned)len) > 0 ? 0 : -1;

    free(event);
    free(data);
    json_decref(o);
    return rc;
}

static int last_event_id(struct request *r)
{
    const char *h = mg_get_header(r->conn, "Last-Event-ID");
    char *end;
    long v = h ? strtol(h, &end, 10) : 0;
    return h && *h && !*end && v > 0 && v <= FS_STATE_REJECTED ? (int)v : 0;
}

/* Writes the keep-alive comment when the stream has been quiet for
 * EVENTS_KEEPALIVE_MS. -1 when the client left. */
static int keep_alive(struct request *r, int64_t *last_write)
{
    int64_t now = fs_mono_ns();

    if (now - *last_write < (int64_t)EVENTS_KEEPALIVE_MS * 1000000)
        return 0;
    if (mg_send_chunk(r->conn, ": keep-alive\n\n", 14) <= 0)
        return -1;
    *last_write = now;
    return 0;
}

static void stream_booking(struct request *r, struct fs_events_sub *sub,
                           struct fs_booking *b)
{
    const char *sale_id = r->seg[2], *booking_id = r->seg[3];
    int sent = last_event_id(r);
    int64_t last_write = fs_mono_ns();

    for (;;) {
        int woke;

        if ((int)b->state > sent) {
            if (send_event(r, b) != 0)
                return;
            sent = (int)b->state;
            last_write = fs_mono_ns();
        }
        if (fs_state_is_final(b->state))
            return;
        woke = fs_events_wait(sub, EVENTS_KEEPALIVE_MS);
        if (woke < 0)
            return;  /* shutting down: the client reconnects elsewhere */
        if (keep_alive(r, &last_write) != 0)
            return;  /* the client left */
        if (woke && fs_booking_get(r->http->svc, r->user, sale_id, booking_id,
                                   b) != FS_OK)
            return;  /* storage unavailable: the client reconnects */
    }
}

void fs_http_route_events(struct request *r)
{
    const char *sale_id = r->seg[2], *booking_id = r->seg[3];
    struct fs_events_sub *sub;
    struct fs_booking b;
    enum fs_status rc;

    if (!fs_http_method_is(r, "GET")) {
        fs_http_send_method_not_allowed(r, "GET");
        return;
    }
    if (fs_http_check_ids(r, 2, 4) || fs_http_authenticate(r))
        return;
    /* Subscribed before the first read: a change between the two wakes
     * the stream, instead of falling between them unseen. */
    sub = fs_events_subscribe(booking_id, r->user);
    if (!sub) {
        fs_http_send_unavailable(r, "too many open event streams; poll with "
                                    "GET or retry later");
        return;
    }
    memset(&b, 0, sizeof(b));
    rc = fs_booking_get(r->http->svc, r->user, sale_id, booking_id, &b);
    if (rc != FS_OK) {
        fs_events_unsubscribe(sub);
        fs_http_status_reply(r, rc, &b);
        return;
    }
    /* Chunked: the stream ends with its last chunk, and the connection can
     * serve the client's next request. */
    mg_response_header_start(r->conn, 200);
    mg_response_header_add(r->conn, "Content-Type", "text/event-stream", -1);
    mg_response_header_add(r->conn, "Transfer-Encoding", "chunked", -1);
    mg_response_header_add(r->conn, "Cache-Control", "no-store", -1);
    mg_response_header_add(r->conn, "X-Accel-Buffering", "no", -1);
    mg_response_header_add(r->conn, "X-Request-Id", fs_http_request_id(), -1);
    mg_response_header_send(r->conn);
    r->status = 200;
    stream_booking(r, sub, &b);
    fs_events_unsubscribe(sub);
    mg_send_chunk(r->conn, "", 0);
}
