/*
 * http_request.h - one REST API request as the route files see it, and the
 * helpers they share: the answers (src/http/http_request.c), request parsing
 * (src/http/http_request.c), the policy glue (src/http/http_policy.c) and the event
 * stream route (src/http/http_events.c). Private to the HTTP layer: the rest of
 * the daemon knows only http_api.h.
 *
 * Every helper that can answer returns 0 to go on, or -1 once it has sent a
 * reply (r->status then says what was answered).
 */
#ifndef FS_HTTP_REQUEST_H
#define FS_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http_api.h"
#include "metrics.h"
#include "policy.h"

struct mg_connection;
struct mg_request_info;

#define FS_HTTP_PATH_SEGMENTS_MAX 6
#define FS_HTTP_RETRY_AFTER_UNAVAILABLE "1"

struct request {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    struct fs_http *http;
    enum fs_route route;
    char *seg[FS_HTTP_PATH_SEGMENTS_MAX];  /* into path_copy */
    size_t n_seg;
    int bad_path;                  /* too long, empty segment, too many */
    char path_copy[512];
    char *body;                    /* NUL-terminated, body_len bytes */
    size_t body_len;
    char user[FS_USER_MAX + 1];
    int status;                    /* what was answered, for metrics */
};

/* ---- answers (src/http/http_request.c) --------------------------------------- */

void fs_http_send_body(struct request *r, int status, const char *type,
                       const char *body, size_t len,
                       const char *const *headers);
/* Sends `obj` and takes its reference. */
void fs_http_send_json(struct request *r, int status, json_t *obj,
                       const char *const *headers);
/* The error shape {"error", "message"} plus the members of `extra`, whose
 * reference it takes. */
void fs_http_send_error_with(struct request *r, int status, const char *code,
                             const char *message, json_t *extra,
                             const char *const *headers);
void fs_http_send_error(struct request *r, int status, const char *code,
                        const char *message);
/* 503 unavailable with Retry-After. */
void fs_http_send_unavailable(struct request *r, const char *message);
void fs_http_send_method_not_allowed(struct request *r, const char *allow);
/* A booking as the API shows it; NULL when out of memory. */
json_t *fs_http_booking_json(const struct fs_booking *b);
/* The one mapping of service outcomes to HTTP for the booking routes. */
void fs_http_status_reply(struct request *r, enum fs_status rc,
                          const struct fs_booking *b);

/* ---- request parsing (src/http/http_request.c) ------------------------------- */

/* Reads the whole body, refusing more than the limit. 0, or -1 when a reply
 * was sent. */
int fs_http_read_body(struct request *r);
/* Splits the path into r->seg, or sets r->bad_path. */
void fs_http_split_path(struct request *r);
enum fs_route fs_http_match_route(const struct request *r);
int fs_http_method_is(const struct request *r, const char *m);
/* Checks the ids in segments [from, to). 0, or -1 when a reply was sent. */
int fs_http_check_ids(struct request *r, size_t from, size_t to);
/* Sets r->user from the token (or the trusted header). 0, or -1 when a
 * reply was sent. */
int fs_http_authenticate(struct request *r);
/* Parses the body as a JSON object. An empty body gives NULL with 0 when
 * `optional`. -1 when a reply was sent. */
int fs_http_parse_json_body(struct request *r, int optional, json_t **out);
/* The PUT and DELETE bodies: exactly {"status": expected}. */
int fs_http_expect_status_body(struct request *r, const char *expected,
                               int optional);

/* ---- policies (src/http/http_policy.c) --------------------------------------- */

/* Runs the booking policies for a POST; `hold` may be set to the hold time
 * they chose. 0 to go on, -1 when a reply was sent. */
int fs_http_policy_book(struct request *r, const char *sale, uint32_t *hold);
/* Runs the policies of a confirm or cancel. 0 to go on, -1 when a reply was
 * sent. */
int fs_http_policy_change(struct request *r, enum fs_policy_hook hook,
                          const char *sale, const char *booking_id);

/* ---- the handlers civetweb calls (src/http/http_api.c) ----------------- */

/* Every request: cbdata is the struct fs_http. Returns the HTTP status. */
int fs_http_handle_request(struct mg_connection *conn, void *cbdata);
/* civetweb's own errors (unparsable request, headers too large, timeout),
 * answered in the API's JSON shape. Returns 0: handled. */
int fs_http_handle_error(struct mg_connection *conn, int status,
                         const char *msg);

/* ---- server-sent events (src/http/http_events.c) ----------------------------- */

/* GET /booking-service/book-item/{sale}/{booking}/events. */
void fs_http_route_events(struct request *r);

#endif
