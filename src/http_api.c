/*
 * http_api.c - civetweb handlers for the REST API of DESIGN.md section 2.
 *
 * One handler takes every request and routes it itself, so that the body
 * limit (413 before any other check), 404, 405 and the JSON error shape are
 * the same on every path. Order of checks: body size, route, method, ids,
 * authentication, then the booking service. fs_status becomes an HTTP status
 * in status_reply() and nowhere else.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <civetweb.h>
#include <jansson.h>

#include "http_api.h"
#include "events.h"
#include "http_admin.h"
#include "http_reply.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "policy.h"
#include "states.h"

#define PATH_SEGMENTS_MAX 6
#define RETRY_AFTER_UNAVAILABLE "1"

struct request {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    struct fs_http *http;
    enum fs_route route;
    char *seg[PATH_SEGMENTS_MAX];  /* into path_copy */
    size_t n_seg;
    int bad_path;                  /* too long, empty segment, too many */
    char path_copy[512];
    char *body;                    /* NUL-terminated, body_len bytes */
    size_t body_len;
    char user[FS_USER_MAX + 1];
    int status;                    /* what was answered, for metrics */
};

/* ---- answers ------------------------------------------------------------ */

static void send_body(struct request *r, int status, const char *type,
                      const char *body, size_t len, const char *const *headers)
{
    r->status = fs_http_reply(r->conn, status, type, body, len, headers);
}

/* Sends `obj` and takes its reference. */
static void send_json(struct request *r, int status, json_t *obj,
                      const char *const *headers)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (!text) {
        static const char oom[] =
            "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        send_body(r, 500, "application/json", oom, sizeof(oom) - 1, NULL);
    } else {
        send_body(r, status, "application/json", text, strlen(text), headers);
    }
    free(text);
    json_decref(obj);
}

static void send_error_with(struct request *r, int status, const char *code,
                            const char *message, json_t *extra,
                            const char *const *headers)
{
    json_t *obj = json_pack("{s:s, s:s}", "error", code, "message", message);
    if (obj && extra)
        json_object_update(obj, extra);
    json_decref(extra);
    send_json(r, status, obj, headers);
}

static void send_error(struct request *r, int status, const char *code,
                       const char *message)
{
    send_error_with(r, status, code, message, NULL, NULL);
}

static void send_unavailable(struct request *r, const char *message)
{
    static const char *const headers[] = {"Retry-After",
                                          RETRY_AFTER_UNAVAILABLE, NULL};
    send_error_with(r, 503, "unavailable", message, NULL, headers);
}

static json_t *booking_json(const struct fs_booking *b)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "booking_id", b->booking_id,
                          "sale_id", b->sale_id, "status",
                          fs_state_name(b->state));
    if (!o)
        return NULL;
    if (b->reason[0])
        json_object_set_new(o, "reason", json_string(b->reason));
    if (b->hold_expires_ms &&
        (b->state == FS_STATE_HOLD || b->state == FS_STATE_EXPIRED)) {
        char when[32];
        fs_format_rfc3339(b->hold_expires_ms, when);
        json_object_set_new(o, "hold_expires_at", json_string(when));
    }
    return o;
}

/* The one mapping of service outcomes to HTTP for the booking routes. */
static void status_reply(struct request *r, enum fs_status rc,
                         const struct fs_booking *b)
{
    switch (rc) {
    case FS_OK:
        send_json(r, 200, booking_json(b), NULL);
        return;
    case FS_NOT_FOUND:
        send_error(r, 404, "not_found", "no such booking");
        return;
    case FS_CONFLICT:
    case FS_EXPIRED:
        send_error_with(r, 409, "invalid_transition",
                        "the booking cannot make that change in its current state",
                        json_pack("{s:s}", "status", fs_state_name(b->state)),
                        NULL);
        return;
    case FS_UNAVAILABLE:
        send_unavailable(r, "a backend is unavailable; nothing was changed");
        return;
    default:
        send_error(r, 500, "internal", "internal error");
        return;
    }
}

/* ---- request parsing ---------------------------------------------------- */

/* Reads the whole body, refusing more than the limit. 0, or -1 when a reply
 * was sent. */
static int read_body(struct request *r)
{
    size_t limit = (size_t)r->http->svc->cfg->http.max_body_bytes;
    long long declared = r->ri->content_length;
    size_t cap = limit + 1;

    if (declared > (long long)limit) {
        send_error(r, 413, "too_large", "request body too large");
        return -1;
    }
    r->body = malloc(cap + 1);
    if (!r->body) {
        send_error(r, 500, "internal", "out of memory");
        return -1;
    }
    r->body_len = 0;
    for (;;) {
        int n = mg_read(r->conn, r->body + r->body_len, cap - r->body_len);
        if (n <= 0)
            break;
        r->body_len += (size_t)n;
        if (r->body_len > limit) {
            send_error(r, 413, "too_large", "request body too large");
            return -1;
        }
    }
    r->body[r->body_len] = '\0';
    return 0;
}

static void split_path(struct request *r)
{
    const char *uri = r->ri->local_uri ? r->ri->local_uri : "/";
    char *p, *save = NULL;

    size_t len = strlen(uri);

    r->n_seg = 0;
    /* Too long, or "//" or a trailing "/" (an empty segment): no route. */
    if (len >= sizeof(r->path_copy) || strstr(uri, "//") ||
        (len > 1 && uri[len - 1] == '/')) {
        r->bad_path = 1;
        return;
    }
    memcpy(r->path_copy, uri, len + 1);
    for (p = strtok_r(r->path_copy, "/", &save); p;
         p = strtok_r(NULL, "/", &save)) {
        if (r->n_seg == PATH_SEGMENTS_MAX) {
            r->bad_path = 1;
            return;
        }
        r->seg[r->n_seg++] = p;
    }
}

static int seg_is(const struct request *r, size_t i, const char *s)
{
    return i < r->n_seg && strcmp(r->seg[i], s) == 0;
}

static enum fs_route match_route(const struct request *r)
{
    if (r->bad_path)
        return FS_ROUTE_OTHER;
    if (r->n_seg == 1 && seg_is(r, 0, "healthz"))
        return FS_ROUTE_HEALTH;
    if (r->n_seg == 1 && seg_is(r, 0, "readyz"))
        return FS_ROUTE_READY;
    if (r->n_seg == 1 && seg_is(r, 0, "metrics"))
        return FS_ROUTE_METRICS;
    if (r->n_seg == 1 && seg_is(r, 0, "openapi.yaml"))
        return FS_ROUTE_OPENAPI;
    if (seg_is(r, 0, "admin"))
        return FS_ROUTE_ADMIN;  /* "/admin" and below: src/http_admin.c */
    if (!seg_is(r, 0, "booking-service"))
        return FS_ROUTE_OTHER;
    if (seg_is(r, 1, "sales") && r->n_seg == 3)
        return FS_ROUTE_SALE;
    if (!seg_is(r, 1, "book-item"))
        return FS_ROUTE_OTHER;
    if (r->n_seg == 3)
        return FS_ROUTE_BOOK;
    if (r->n_seg == 4)
        return FS_ROUTE_BOOKING_GET;  /* GET, PUT or DELETE: by method */
    if (r->n_seg == 5 && seg_is(r, 4, "events"))
        return FS_ROUTE_BOOKING_EVENTS;
    return FS_ROUTE_OTHER;
}

static int method_is(const struct request *r, const char *m)
{
    return strcmp(r->ri->request_method, m) == 0;
}

static void send_method_not_allowed(struct request *r, const char *allow)
{
    const char *headers[] = {"Allow", allow, NULL};
    send_error_with(r, 405, "method_not_allowed",
                    "method not allowed on this path", NULL, headers);
}

/* Checks the ids in segments [from, to). 0, or -1 when a reply was sent. */
static int check_ids(struct request *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (!fs_id_valid(r->seg[i])) {
            send_error(r, 400, "bad_request",
                       "ids are 1 to 64 characters of A-Z a-z 0-9 . _ -");
            return -1;
        }
    return 0;
}

static int authenticate(struct request *r)
{
    static const char *const challenge[] = {
        "WWW-Authenticate", "Bearer realm=\"flashsaled\"", NULL};
    const struct fs_config *cfg = r->http->svc->cfg;
    enum fs_auth_result ar;

    if (cfg->trusted_user_header) {
        const char *u = mg_get_header(r->conn, cfg->trusted_user_header);
        if (u && fs_user_id_valid(u)) {
            snprintf(r->user, sizeof(r->user), "%s", u);
            return 0;
        }
        send_error_with(r, 401, "unauthenticated", "no valid user header",
                        NULL, challenge);
        return -1;
    }
    ar = fs_auth_verify_header(&r->http->auth,
                               mg_get_header(r->conn, "Authorization"),
                               fs_now_ms() / 1000, r->user);
    if (ar == FS_AUTH_OK)
        return 0;
    send_error_with(r, 401, "unauthenticated", fs_auth_result_text(ar), NULL,
                    challenge);
    return -1;
}

/* Request bodies are flat objects. jansson parses recursively up to 2048
 * levels, deeper than a civetweb thread's stack allows, so deep nesting is
 * refused before parsing. */
#define JSON_DEPTH_MAX 16

static int json_too_deep(const char *s, size_t len)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > JSON_DEPTH_MAX)
                return 1;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

/* Parses the body as a JSON object. An empty body gives NULL with 0 when
 * `optional`. -1 when a reply was sent. */
static int parse_json_body(struct request *r, int optional, json_t **out)
{
    json_error_t jerr;

    *out = NULL;
    if (r->body_len == 0) {
        if (optional)
            return 0;
        send_error(r, 400, "bad_request", "a JSON body is required");
        return -1;
    }
    if (json_too_deep(r->body, r->body_len)) {
        send_error(r, 400, "bad_request", "the body nests too deeply");
        return -1;
    }
    *out = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        send_error(r, 400, "bad_request", "the body is not a JSON object");
        return -1;
    }
    return 0;
}

/* The PUT and DELETE bodies: exactly {"status": expected}. */
static int expect_status_body(struct request *r, const char *expected,
                              int optional)
{
    json_t *obj;
    const char *status;
    int ok;

    if (parse_json_body(r, optional, &obj) != 0)
        return -1;
    if (!obj)
        return 0;
    status = json_string_value(json_object_get(obj, "status"));
    ok = status && strcmp(status, expected) == 0 && json_object_size(obj) == 1;
    json_decref(obj);
    if (ok)
        return 0;
    send_error(r, 400, "bad_request",
               strcmp(expected, "booked") == 0
                   ? "the body must be {\"status\":\"booked\"}"
                   : "the body must be {\"status\":\"deleted\"} or empty");
    return -1;
}

/* ---- policies (src/policy.c, policies/README.md) ------------------------- */

static void policy_request(struct request *r, const char *sale,
                           const char *booking_id, struct fs_policy_request *pr,
                           struct fs_policy_header h[MG_MAX_HEADERS])
{
    int n = r->ri->num_headers < MG_MAX_HEADERS ? r->ri->num_headers
                                                : MG_MAX_HEADERS;
    for (int i = 0; i < n; i++) {
        h[i].name = r->ri->http_headers[i].name;
        h[i].value = r->ri->http_headers[i].value;
    }
    memset(pr, 0, sizeof(*pr));
    pr->user = r->user;
    pr->ip = r->ri->remote_addr;
    pr->user_agent = mg_get_header(r->conn, "User-Agent");
    pr->sale = sale;
    pr->method = r->ri->request_method;
    pr->path = r->ri->local_uri;
    pr->booking_id = booking_id;
    pr->headers = h;
    pr->n_headers = n > 0 ? (size_t)n : 0;
}

/* DESIGN.md section 2: a repeat by a user who already holds or booked is
 * 409 already_booked whatever the policies say, never 403. The inventory
 * knows who holds or booked, across every daemon sharing it. 1 when
 * answered. */
static int answer_repeat(struct request *r, const char *sale)
{
    char id[FS_ID_MAX + 1];

    if (fs_inventory_find_user(r->http->svc->be, sale, r->user, id) != FS_OK)
        return 0;
    send_error_with(r, 409, "already_booked",
                    "you already have a booking in this sale",
                    json_pack("{s:s}", "booking_id", id), NULL);
    return 1;
}

/* Answers a verdict other than allow: 429 with Retry-After, 403, or for a
 * failed policy 503 with Retry-After (fail-closed: nothing accepted, and
 * no verdict on the client) unless policies.fail_open. 0 to go on. */
static int policy_answer(struct request *r, const struct fs_policy_verdict *v,
                         const char *book_sale)
{
    char retry[16], message[64];
    const char *headers[] = {"Retry-After", retry, NULL};

    switch (v->action) {
    case FS_POLICY_ALLOW:
        return 0;
    case FS_POLICY_SLOW:
        snprintf(retry, sizeof(retry), "%u", (unsigned)v->retry_after);
        snprintf(message, sizeof(message), "too many requests: retry in %u s",
                 (unsigned)v->retry_after);
        send_error_with(r, 429, "rate_limited", message, NULL, headers);
        return -1;
    case FS_POLICY_DENY:
        if (!book_sale || !answer_repeat(r, book_sale))
            send_error(r, 403, "forbidden", v->reason);
        return -1;
    default:
        if (r->http->svc->cfg->policy_fail_open)
            return 0;
        send_unavailable(r, "the booking policy could not decide; nothing "
                            "was accepted or changed");
        return -1;
    }
}

static int policy_book(struct request *r, const char *sale, uint32_t *hold)
{
    struct fs_policy_header h[MG_MAX_HEADERS];
    struct fs_policy_request pr;
    struct fs_policy_verdict v;

    policy_request(r, sale, NULL, &pr, h);
    fs_policy_book(&pr, &v, hold);
    return policy_answer(r, &v, sale);
}

static int policy_change(struct request *r, enum fs_policy_hook hook,
                         const char *sale, const char *booking_id)
{
    struct fs_policy_header h[MG_MAX_HEADERS];
    struct fs_policy_request pr;
    struct fs_policy_verdict v;

    policy_request(r, sale, booking_id, &pr, h);
    fs_policy_check(hook, &pr, &v);
    return policy_answer(r, &v, NULL);
}

/* ---- routes --------------------------------------------------------------- */

static void route_book(struct request *r)
{
    struct fs_booking b;
    char existing[FS_ID_MAX + 1] = "";
    const char *sale_id = r->seg[2];
    int64_t t0 = fs_mono_ns();
    json_t *ignored;
    uint32_t hold = 0;
    enum fs_status rc;

    if (check_ids(r, 2, 3) || authenticate(r) ||
        parse_json_body(r, 1, &ignored))
        return;
    json_decref(ignored);
    if (policy_book(r, sale_id, &hold) != 0)
        return;
    rc = fs_booking_accept(r->http->svc, sale_id, r->user, hold, &b, existing);
    switch (rc) {
    case FS_OK: {
        char location[160];
        const char *headers[] = {"Location", location, NULL};
        snprintf(location, sizeof(location), "/booking-service/book-item/%s/%s",
                 sale_id, b.booking_id);
        send_json(r, 202, booking_json(&b), headers);
        fs_metrics_observe(FS_HIST_ACCEPT, (double)(fs_mono_ns() - t0) / 1e9);
        return;
    }
    case FS_NOT_FOUND:
        send_error(r, 404, "not_found", "no such sale");
        return;
    case FS_CLOSED:
        send_error(r, 409, "closed", "the sale is not open");
        return;
    case FS_SOLD_OUT:
        send_error(r, 409, "sold_out", "no items left");
        return;
    case FS_DUPLICATE:
        send_error_with(r, 409, "already_booked",
                        "you already have a booking in this sale",
                        json_pack("{s:s}", "booking_id", existing), NULL);
        return;
    case FS_UNAVAILABLE:
        send_unavailable(r, "a backend is unavailable; nothing was accepted");
        return;
    default:
        send_error(r, 500, "internal", "internal error");
        return;
    }
}

static void route_booking(struct request *r)
{
    struct fs_service *svc = r->http->svc;
    const char *sale_id = r->seg[2], *booking_id = r->seg[3];
    struct fs_booking b;
    enum fs_status rc;

    memset(&b, 0, sizeof(b));
    if (method_is(r, "GET") || method_is(r, "HEAD")) {
        r->route = FS_ROUTE_BOOKING_GET;
        if (check_ids(r, 2, 4) || authenticate(r))
            return;
        rc = fs_booking_get(svc, r->user, sale_id, booking_id, &b);
    } else if (method_is(r, "PUT")) {
        r->route = FS_ROUTE_BOOKING_PUT;
        if (check_ids(r, 2, 4) || authenticate(r) ||
            expect_status_body(r, "booked", 0) ||
            policy_change(r, FS_POLICY_ON_CONFIRM, sale_id, booking_id))
            return;
        rc = fs_booking_confirm(svc, r->user, sale_id, booking_id, &b);
    } else if (method_is(r, "DELETE")) {
        r->route = FS_ROUTE_BOOKING_DELETE;
        if (check_ids(r, 2, 4) || authenticate(r) ||
            expect_status_body(r, "deleted", 1) ||
            policy_change(r, FS_POLICY_ON_CANCEL, sale_id, booking_id))
            return;
        rc = fs_booking_cancel(svc, r->user, sale_id, booking_id, &b);
    } else {
        send_method_not_allowed(r, "GET, HEAD, PUT, DELETE");
        return;
    }
    status_reply(r, rc, &b);
}

/* ---- server-sent events ---------------------------------------------------- */

/* Storage is re-read this often even without a wake-up: another daemon
 * sharing the backends may have changed the booking. */
#define EVENTS_RECHECK_MS 2000
/* A comment line this often keeps proxies from closing an idle stream and
 * shows whether the client is still there. */
#define EVENTS_KEEPALIVE_MS 15000

/* The event id is the state's number: states only move forward, so a client
 * that reconnects with Last-Event-ID gets only what it has not seen. */
static int send_event(struct request *r, const struct fs_booking *b)
{
    json_t *o = booking_json(b);
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

static void stream_booking(struct request *r, struct fs_events_sub *sub,
                           struct fs_booking *b)
{
    int sent = last_event_id(r);
    int64_t last_write = fs_mono_ns();

    for (;;) {
        int64_t now;
        if ((int)b->state > sent) {
            if (send_event(r, b) != 0)
                return;
            sent = (int)b->state;
            last_write = fs_mono_ns();
        }
        if (fs_state_is_final(b->state))
            return;
        if (fs_events_wait(sub, EVENTS_RECHECK_MS) < 0)
            return;  /* shutting down: the client reconnects elsewhere */
        now = fs_mono_ns();
        if (now - last_write >= (int64_t)EVENTS_KEEPALIVE_MS * 1000000) {
            if (mg_send_chunk(r->conn, ": keep-alive\n\n", 14) <= 0)
                return;  /* the client left */
            last_write = now;
        }
        if (fs_storage_get(r->http->svc->be, b->booking_id, b) != FS_OK)
            return;  /* storage unavailable: the client reconnects */
    }
}

static void route_events(struct request *r)
{
    const char *sale_id = r->seg[2], *booking_id = r->seg[3];
    struct fs_events_sub *sub;
    struct fs_booking b;
    enum fs_status rc;

    if (!method_is(r, "GET")) {
        send_method_not_allowed(r, "GET");
        return;
    }
    if (check_ids(r, 2, 4) || authenticate(r))
        return;
    memset(&b, 0, sizeof(b));
    rc = fs_booking_get(r->http->svc, r->user, sale_id, booking_id, &b);
    if (rc != FS_OK) {
        status_reply(r, rc, &b);
        return;
    }
    sub = fs_events_subscribe(booking_id, r->user);
    if (!sub) {
        send_unavailable(r, "too many open event streams; poll with GET or "
                            "retry later");
        return;
    }
    /* Chunked: the stream ends with its last chunk, and the connection can
     * serve the client's next request. */
    mg_response_header_start(r->conn, 200);
    mg_response_header_add(r->conn, "Content-Type", "text/event-stream", -1);
    mg_response_header_add(r->conn, "Transfer-Encoding", "chunked", -1);
    mg_response_header_add(r->conn, "Cache-Control", "no-store", -1);
    mg_response_header_add(r->conn, "X-Accel-Buffering", "no", -1);
    mg_response_header_send(r->conn);
    r->status = 200;
    stream_booking(r, sub, &b);
    fs_events_unsubscribe(sub);
    mg_send_chunk(r->conn, "", 0);
}

static void route_sale(struct request *r)
{
    struct fs_sale_view v;
    enum fs_status rc;

    if (check_ids(r, 2, 3))
        return;
    rc = fs_sale_get_view(r->http->svc, r->seg[2], &v);
    if (rc == FS_NOT_FOUND) {
        send_error(r, 404, "not_found", "no such sale");
        return;
    }
    if (rc != FS_OK) {
        send_unavailable(r, "the inventory backend is unavailable");
        return;
    }
    send_json(r, 200,
              json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "sale_id", v.sale_id,
                        "inventory", (json_int_t)v.counts.inventory,
                        "available", (json_int_t)v.counts.available, "held",
                        (json_int_t)v.counts.held, "booked",
                        (json_int_t)v.counts.booked, "state", v.state),
              NULL);
}

static void route_ready(struct request *r)
{
    static const char *const retry[] = {"Retry-After", RETRY_AFTER_UNAVAILABLE,
                                        NULL};
    struct fs_backends *be = r->http->svc->be;
    struct fs_backend *parts[] = {&be->queue, &be->inventory, &be->storage};
    json_t *backends = json_object();
    int ready = 1;

    for (size_t i = 0; i < 3; i++) {
        char detail[256] = "";
        enum fs_status rc = fs_backend_health(parts[i], detail, sizeof(detail));
        json_t *one = json_pack("{s:b, s:s}", "ok", rc == FS_OK, "plugin",
                                parts[i]->plugin->name);
        if (rc != FS_OK) {
            ready = 0;
            json_object_set_new(one, "detail",
                                json_string(detail[0] ? detail
                                                      : fs_status_name(rc)));
        }
        json_object_set_new(backends, fs_plugin_kind_name(parts[i]->kind), one);
    }
    send_json(r, ready ? 200 : 503,
              json_pack("{s:b, s:o}", "ready", ready, "backends", backends),
              ready ? NULL : retry);
}

static void route_metrics(struct request *r)
{
    size_t len = 0;
    char *text = fs_metrics_render(&len);
    if (!text) {
        send_error(r, 500, "internal", "out of memory");
        return;
    }
    send_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
              NULL);
    free(text);
}

/* Routes that only answer GET (and HEAD). */
static void get_only(struct request *r, void (*route)(struct request *))
{
    if (method_is(r, "GET") || method_is(r, "HEAD"))
        route(r);
    else
        send_method_not_allowed(r, "GET, HEAD");
}

/* docs/openapi.yaml, compiled in (src/openapi.h): no auth, like /metrics. */
static void route_openapi(struct request *r)
{
    send_body(r, 200, "application/yaml", (const char *)fs_openapi_yaml,
              fs_openapi_yaml_len, NULL);
}

static void route_health(struct request *r)
{
    send_json(r, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static void dispatch(struct request *r)
{
    r->route = match_route(r);
    switch (r->route) {
    case FS_ROUTE_HEALTH:
        get_only(r, route_health);
        break;
    case FS_ROUTE_READY:
        get_only(r, route_ready);
        break;
    case FS_ROUTE_METRICS:
        get_only(r, route_metrics);
        break;
    case FS_ROUTE_OPENAPI:
        get_only(r, route_openapi);
        break;
    case FS_ROUTE_SALE:
        get_only(r, route_sale);
        break;
    case FS_ROUTE_ADMIN:
        r->status = fs_http_admin_route(r->http, r->conn, r->seg + 1,
                                        r->n_seg - 1);
        break;
    case FS_ROUTE_BOOK:
        if (method_is(r, "POST"))
            route_book(r);
        else
            send_method_not_allowed(r, "POST");
        break;
    case FS_ROUTE_BOOKING_GET:
        route_booking(r);
        break;
    case FS_ROUTE_BOOKING_EVENTS:
        route_events(r);
        break;
    default:
        send_error(r, 404, "not_found", "no such resource");
        break;
    }
}

static int handle_request(struct mg_connection *conn, void *cbdata)
{
    struct request r;

    memset(&r, 0, sizeof(r));
    r.conn = conn;
    r.ri = mg_get_request_info(conn);
    r.http = cbdata;
    r.route = FS_ROUTE_OTHER;
    if (read_body(&r) == 0) {
        split_path(&r);
        dispatch(&r);
    }
    fs_metrics_request(r.route, r.status);
    free(r.body);
    return r.status;
}

/* civetweb's own errors (a request it could not parse, headers over
 * max_request_size, a timeout) in the API's JSON shape. civetweb 1.15 calls a
 * request whose headers overflow its buffer "Request Too Large" with status
 * 400; the API answers those 413 too_large. */
static int handle_http_error(struct mg_connection *conn, int status,
                             const char *msg)
{
    struct request r;
    int too_large = status == 413 || status == 431 ||
                    (msg && strstr(msg, "Too Large"));
    int bad_version = status == 505;
    const char *code = too_large                   ? "too_large"
                       : status == 408             ? "timeout"
                       : status < 500 || bad_version ? "bad_request"
                                                   : "internal";

    memset(&r, 0, sizeof(r));
    r.conn = conn;
    r.ri = mg_get_request_info(conn);
    send_error(&r, too_large ? 413 : status, code,
               too_large     ? "request headers too large"
               : bad_version ? "only HTTP/1.0 and HTTP/1.1 are served"
                             : "the request could not be read");
    fs_metrics_request(FS_ROUTE_OTHER, r.status);
    return 0;
}

static int log_civetweb(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    fs_log_debug("civetweb: %s", message);
    return 1;
}

int fs_http_start(struct fs_http *h, struct fs_service *svc, char *err,
                  size_t errlen)
{
    const struct fs_config *cfg = svc->cfg;
    char threads[24], backlog[24], keepalive_ms[24], request_ms[24], header[24];
    struct mg_callbacks callbacks;
    const char *options[] = {
        "listening_ports", cfg->listen,
        "num_threads", threads,
        "listen_backlog", backlog,
        "enable_keep_alive", cfg->http.keep_alive_timeout_ms > 0 ? "yes" : "no",
        "keep_alive_timeout_ms", keepalive_ms,
        "request_timeout_ms", request_ms,
        "max_request_size", header,
        "tcp_nodelay", "1",
        /* Raw paths: an id with any %-escape is refused as a bad id, and an
         * encoded NUL can never cut an id short. */
        "decode_url", "no",
        NULL,
    };

    memset(h, 0, sizeof(*h));
    h->svc = svc;
    fs_http_reply_keep_alive(cfg->http.keep_alive_timeout_ms > 0);
    if (fs_auth_init(&h->auth, cfg->jwt_secret, strlen(cfg->jwt_secret)) != 0) {
        snprintf(err, errlen, "cannot set up authentication");
        return -1;
    }
    snprintf(threads, sizeof(threads), "%" PRId64, cfg->http.threads);
    snprintf(backlog, sizeof(backlog), "%" PRId64, cfg->http.listen_backlog);
    snprintf(keepalive_ms, sizeof(keepalive_ms), "%" PRId64,
             cfg->http.keep_alive_timeout_ms);
    snprintf(request_ms, sizeof(request_ms), "%" PRId64,
             cfg->http.request_timeout_ms);
    snprintf(header, sizeof(header), "%" PRId64, cfg->http.max_header_bytes);

    memset(&callbacks, 0, sizeof(callbacks));
    callbacks.http_error = handle_http_error;
    callbacks.log_message = log_civetweb;
    h->ctx = mg_start(&callbacks, h, options);
    if (!h->ctx) {
        snprintf(err, errlen, "cannot listen on %s (in use, or not an "
                 "address:port?)", cfg->listen);
        fs_auth_free(&h->auth);
        return -1;
    }
    mg_set_request_handler(h->ctx, "/", handle_request, h);
    return 0;
}

void fs_http_stop(struct fs_http *h)
{
    if (h->ctx)
        mg_stop(h->ctx);
    h->ctx = NULL;
    fs_auth_free(&h->auth);
}
