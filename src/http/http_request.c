/*
 * http_request.c - what every REST API route does with a request: the
 * answers (the JSON error shape, the booking as JSON, and
 * fs_http_status_reply, the one place where fs_status becomes an HTTP
 * status) and the request parsing (the body under its limit, the path, the
 * route, ids, authentication, JSON bodies). Separate from http_api.c so
 * that the routes read as a sequence of checks, and so that the event
 * stream and the policy glue share the same answers without living in the
 * routing file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <jansson.h>

#include "http_request.h"
#include "http_reply.h"
#include "ids.h"
#include "log.h"
#include "states.h"

/* ---- answers ------------------------------------------------------------ */

void fs_http_send_body(struct request *r, int status, const char *type,
                       const char *body, size_t len, const char *const *headers)
{
    r->status = fs_http_reply(r->conn, status, type, body, len, headers);
}

void fs_http_send_json(struct request *r, int status, json_t *obj,
                       const char *const *headers)
{
    r->status = fs_http_reply_json(r->conn, status, obj, headers);
}

void fs_http_send_error_with(struct request *r, int status, const char *code,
                             const char *message, json_t *extra,
                             const char *const *headers)
{
    json_t *obj = json_pack("{s:s, s:s}", "error", code, "message", message);
    if (obj && extra)
        json_object_update(obj, extra);
    json_decref(extra);
    fs_http_send_json(r, status, obj, headers);
}

void fs_http_send_error(struct request *r, int status, const char *code,
                        const char *message)
{
    fs_http_send_error_with(r, status, code, message, NULL, NULL);
}

void fs_http_send_unavailable(struct request *r, const char *message)
{
    static const char *const headers[] = {
        "Retry-After", FS_HTTP_RETRY_AFTER_UNAVAILABLE, NULL};
    fs_http_send_error_with(r, 503, "unavailable", message, NULL, headers);
}

json_t *fs_http_booking_json(const struct fs_booking *b)
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

void fs_http_status_reply(struct request *r, enum fs_status rc,
                          const struct fs_booking *b)
{
    switch (rc) {
    case FS_OK:
        fs_http_send_json(r, 200, fs_http_booking_json(b), NULL);
        return;
    case FS_NOT_FOUND:
        fs_http_send_error(r, 404, "not_found", "no such booking");
        return;
    case FS_CONFLICT:
    case FS_EXPIRED:
        fs_http_send_error_with(
            r, 409, "invalid_transition",
            "the booking cannot make that change in its current state",
            json_pack("{s:s}", "status", fs_state_name(b->state)), NULL);
        return;
    case FS_UNAVAILABLE:
        fs_http_send_unavailable(
            r, "a backend is unavailable; nothing was changed");
        return;
    default:
        fs_http_send_error(r, 500, "internal", "internal error");
        return;
    }
}

/* ---- request parsing ---------------------------------------------------- */

int fs_http_read_body(struct request *r)
{
    const struct fs_config *cfg = r->http->svc->cfg;
    size_t limit = (size_t)cfg->http.max_body_bytes;
    long long declared = r->ri->content_length;
    size_t cap = limit + 1;
    /* A body trickled in a byte at a time (the slow-POST attack) would keep
     * this thread for as long as the client likes: the whole body gets
     * request_timeout_ms. civetweb's mg_read waits until it has every byte
     * asked for, and at most request_timeout_ms only while none comes, so
     * the body is read one byte per call and the clock checked between
     * calls: the thread is free within twice request_timeout_ms of the
     * headers. Bytes that came with the headers are copied from civetweb's
     * buffer, so this costs a function call per byte of small API bodies. */
    int64_t deadline = fs_mono_ns() + cfg->http.request_timeout_ms * 1000000;

    if (declared > (long long)limit) {
        fs_http_send_error(r, 413, "too_large", "request body too large");
        return -1;
    }
    r->body = malloc(cap + 1);
    if (!r->body) {
        fs_http_send_error(r, 500, "internal", "out of memory");
        return -1;
    }
    r->body_len = 0;
    for (;;) {
        int n = mg_read(r->conn, r->body + r->body_len, 1);
        if (n <= 0)
            break;
        r->body_len += (size_t)n;
        if (r->body_len > limit) {
            fs_http_send_error(r, 413, "too_large", "request body too large");
            return -1;
        }
        if ((declared < 0 || r->body_len < (size_t)declared) &&
            fs_mono_ns() > deadline) {
            fs_http_send_error(r, 408, "timeout",
                               "the request body did not arrive in time");
            return -1;
        }
    }
    r->body[r->body_len] = '\0';
    return 0;
}

void fs_http_split_path(struct request *r)
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
        if (r->n_seg == FS_HTTP_PATH_SEGMENTS_MAX) {
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

enum fs_route fs_http_match_route(const struct request *r)
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
        return FS_ROUTE_ADMIN;  /* "/admin" and below: src/http/http_admin.c */
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

int fs_http_method_is(const struct request *r, const char *m)
{
    return strcmp(r->ri->request_method, m) == 0;
}

void fs_http_send_method_not_allowed(struct request *r, const char *allow)
{
    const char *headers[] = {"Allow", allow, NULL};
    fs_http_send_error_with(r, 405, "method_not_allowed",
                            "method not allowed on this path", NULL, headers);
}

int fs_http_check_ids(struct request *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (!fs_id_valid(r->seg[i])) {
            fs_http_send_error(
                r, 400, "bad_request",
                "ids are 1 to 64 characters of A-Z a-z 0-9 . _ -");
            return -1;
        }
    return 0;
}

int fs_http_authenticate(struct request *r)
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
        fs_http_send_error_with(r, 401, "unauthenticated",
                                "no valid user header", NULL, challenge);
        return -1;
    }
    ar = fs_auth_verify_header(&r->http->auth,
                               mg_get_header(r->conn, "Authorization"),
                               fs_now_ms() / 1000, r->user);
    if (ar == FS_AUTH_OK)
        return 0;
    fs_http_send_error_with(r, 401, "unauthenticated",
                            fs_auth_result_text(ar), NULL, challenge);
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

int fs_http_parse_json_body(struct request *r, int optional, json_t **out)
{
    json_error_t jerr;

    *out = NULL;
    if (r->body_len == 0) {
        if (optional)
            return 0;
        fs_http_send_error(r, 400, "bad_request", "a JSON body is required");
        return -1;
    }
    if (json_too_deep(r->body, r->body_len)) {
        fs_http_send_error(r, 400, "bad_request", "the body nests too deeply");
        return -1;
    }
    *out = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        fs_http_send_error(r, 400, "bad_request",
                           "the body is not a JSON object");
        return -1;
    }
    return 0;
}

int fs_http_expect_status_body(struct request *r, const char *expected,
                               int optional)
{
    json_t *obj;
    const char *status;
    int ok;

    if (fs_http_parse_json_body(r, optional, &obj) != 0)
        return -1;
    if (!obj)
        return 0;
    status = json_string_value(json_object_get(obj, "status"));
    ok = status && strcmp(status, expected) == 0 && json_object_size(obj) == 1;
    json_decref(obj);
    if (ok)
        return 0;
    fs_http_send_error(
        r, 400, "bad_request",
        strcmp(expected, "booked") == 0
            ? "the body must be {\"status\":\"booked\"}"
            : "the body must be {\"status\":\"deleted\"} or empty");
    return -1;
}
