/*
 * http_harness.c - the fake civetweb and the fake booking service that let
 * the fuzz targets call src/http/http_api.c's handler directly (see the header).
 *
 * Only the mg_* functions the HTTP layer (http_api.c and the files split
 * from it: http_request.c, http_policy.c, http_events.c, http_reply.c) uses
 * are faked; if it starts using another one, the fuzz build fails to link
 * and this file gains it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <civetweb.h>
#include <jansson.h>

#include "auth.h"
#include "backends.h"
#include "booking.h"
#include "fuzz_check.h"
#include "http/http_admin.h"
#include "http/http_api.h"
#include "http_harness.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "policy.h"

/* ---- the fake connection ----------------------------------------------- */

struct mg_connection {
    struct mg_request_info ri;
    const struct fuzz_request *req;
    size_t body_pos;
    int started, sent;
    int status;
    long long content_length;       /* from the response headers; -1: none */
    int has_www_authenticate, has_allow, has_retry_after, is_json;
    int chunked, chunks_ended;
    char *out;
    size_t out_len, out_cap;
};

static struct mg_context *const fake_ctx = (struct mg_context *)&fake_ctx;
static mg_request_handler handler;
static void *handler_data;

struct mg_context *mg_start(const struct mg_callbacks *callbacks,
                            void *user_data, const char **options)
{
    (void)callbacks;
    (void)user_data;
    (void)options;
    return (struct mg_context *)fake_ctx;
}

void mg_stop(struct mg_context *ctx)
{
    (void)ctx;
}

/* fs_http_start asks for the listening ports (what fs_http_stop knocks on
 * to wake civetweb's master thread): the fake one listens on none. */
int mg_get_server_ports(const struct mg_context *ctx, int size,
                        struct mg_server_port *ports)
{
    (void)ctx;
    (void)size;
    (void)ports;
    return 0;
}

/* fs_http_start's reason for a failed start asks whether civetweb has IPv6;
 * the fake one never fails to start. */
unsigned mg_check_feature(unsigned feature)
{
    (void)feature;
    return 0;
}

/* The connection-limit callbacks of src/http/http_server.c link against
 * these; the harness never calls them (it drives the request handler). */
struct mg_context *mg_get_context(const struct mg_connection *c)
{
    (void)c;
    return fake_ctx;
}

void *mg_get_user_data(const struct mg_context *ctx)
{
    (void)ctx;
    return NULL;
}

void *mg_get_user_connection_data(const struct mg_connection *c)
{
    (void)c;
    return NULL;
}

void mg_set_request_handler(struct mg_context *ctx, const char *uri,
                            mg_request_handler h, void *cbdata)
{
    FUZZ_CHECK(ctx == fake_ctx && strcmp(uri, "/") == 0);
    handler = h;
    handler_data = cbdata;
}

const struct mg_request_info *mg_get_request_info(const struct mg_connection *c)
{
    return &c->ri;
}

const char *mg_get_header(const struct mg_connection *c, const char *name)
{
    for (size_t i = 0; i < c->req->n_headers; i++)
        if (strcasecmp(c->req->header_name[i], name) == 0)
            return c->req->header_value[i];
    return NULL;
}

int mg_read(struct mg_connection *c, void *buf, size_t len)
{
    const struct fuzz_request *q = c->req;
    size_t left = q->body_len - c->body_pos;

    /* civetweb stops at the declared length. */
    if (q->content_length >= 0 && (size_t)q->content_length < q->body_len)
        left = (size_t)q->content_length > c->body_pos
                   ? (size_t)q->content_length - c->body_pos : 0;
    if (len > left)
        len = left;
    if (q->read_chunk && len > q->read_chunk)
        len = q->read_chunk;
    memcpy(buf, q->body + c->body_pos, len);
    c->body_pos += len;
    return (int)len;
}

int mg_response_header_start(struct mg_connection *c, int status)
{
    FUZZ_CHECK(!c->started || !"one response per request");
    FUZZ_CHECK(status >= 100 && status <= 599);
    c->started = 1;
    c->status = status;
    return 0;
}

static int has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* What the checks after the handler need to know of one response header. */
static void note_header(struct mg_connection *c, const char *name,
                        const char *value)
{
    FUZZ_CHECK(!has_crlf(name) && !has_crlf(value));
    if (strcasecmp(name, "Content-Length") == 0)
        c->content_length = strtoll(value, NULL, 10);
    c->has_www_authenticate |= strcasecmp(name, "WWW-Authenticate") == 0;
    c->has_allow |= strcasecmp(name, "Allow") == 0;
    c->has_retry_after |= strcasecmp(name, "Retry-After") == 0;
    if (strcasecmp(name, "Transfer-Encoding") == 0)
        c->chunked = strcasecmp(value, "chunked") == 0;
    if (strcasecmp(name, "Content-Type") == 0)
        c->is_json = strcmp(value, "application/json") == 0;
}

int mg_response_header_add(struct mg_connection *c, const char *name,
                           const char *value, int value_len)
{
    FUZZ_CHECK(c->started && !c->sent);
    FUZZ_CHECK(name && value && value_len == -1);
    note_header(c, name, value);
    return 0;
}

/* A whole head written raw (src/http/http_reply.c): status line and headers, up
 * to the empty line, all in this one write. Returns the head's length. */
static size_t parse_raw_head(struct mg_connection *c, const char *buf,
                             size_t len)
{
    char *head = strndup(buf, len), *end, *line, *next;
    size_t head_len;

    FUZZ_CHECK(head != NULL);
    end = strstr(head, "\r\n\r\n");
    FUZZ_CHECK(end != NULL || !"the head ends in the write that starts it");
    head_len = (size_t)(end - head) + 4;
    end[2] = '\0';
    FUZZ_CHECK(strncmp(head, "HTTP/1.1 ", 9) == 0 ||
               strncmp(head, "HTTP/1.0 ", 9) == 0);
    mg_response_header_start(c, atoi(head + 9));
    line = strstr(head, "\r\n") + 2;
    for (; *line; line = next) {
        char *eol = strstr(line, "\r\n"), *colon = strchr(line, ':');
        FUZZ_CHECK(eol && colon && colon < eol && colon[1] == ' ');
        *eol = '\0';
        *colon = '\0';
        next = eol + 2;
        note_header(c, line, colon + 2);
    }
    c->sent = 1;
    free(head);
    return head_len;
}

int mg_response_header_send(struct mg_connection *c)
{
    FUZZ_CHECK(c->started && !c->sent);
    c->sent = 1;
    return 0;
}

int mg_write(struct mg_connection *c, const void *buf, size_t len)
{
    size_t head = c->started ? 0 : parse_raw_head(c, buf, len);

    FUZZ_CHECK(c->sent);
    buf = (const char *)buf + head;
    len -= head;
    if (c->out_len + len + 1 > c->out_cap) {
        size_t cap = (c->out_len + len + 1) * 2;
        char *p = realloc(c->out, cap);
        if (!p)
            abort();
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    c->out[c->out_len] = '\0';
    return (int)(len + head);
}

const char *mg_get_response_code_text(const struct mg_connection *c,
                                      int status)
{
    (void)c;
    FUZZ_CHECK(status >= 100 && status <= 599);
    return "Reason";
}

int mg_send_chunk(struct mg_connection *c, const char *chunk,
                  unsigned int len)
{
    FUZZ_CHECK(c->sent && c->chunked && !c->chunks_ended);
    if (len == 0)
        c->chunks_ended = 1;
    else
        mg_write(c, chunk, len);
    /* civetweb returns the bytes written, framing included. */
    return (int)len + 5;
}

/* ---- the fake service ---------------------------------------------------- */

static struct fs_config cfg;
static const struct fs_plugin fake_plugin = {.name = "fake"};
static struct fs_backends backends;
static struct fs_service service;
static struct fs_http http;
static enum fs_status outcome;
static enum fs_booking_state outcome_state = FS_STATE_HOLD;
static int changes, calls;
static int stream_reads = -1;  /* reads by the open event stream; -1: none */

static void fill_booking(struct fs_booking *b, const char *sale_id,
                         const char *user_id)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->booking_id, sizeof(b->booking_id), "01HFUZZ0000000000000000000");
    snprintf(b->sale_id, sizeof(b->sale_id), "%s", sale_id);
    snprintf(b->user_id, sizeof(b->user_id), "%s", user_id);
    b->state = outcome_state;
    if (b->state == FS_STATE_REJECTED)
        snprintf(b->reason, sizeof(b->reason), "sold_out");
    b->created_ms = INT64_C(1700000000000);
    b->hold_expires_ms = b->created_ms + 300000;
    b->hold_seconds = 300;
}

/* The HTTP layer validates before it calls: the service never sees a bad id. */
static void check_args(const char *user_id, const char *sale_id,
                       const char *booking_id)
{
    calls++;
    FUZZ_CHECK(fs_user_id_valid(user_id));
    FUZZ_CHECK(fs_id_valid(sale_id));
    FUZZ_CHECK(booking_id == NULL || fs_id_valid(booking_id));
}

enum fs_status fs_booking_accept(struct fs_service *svc, const char *sale_id,
                                 const char *user_id, uint32_t hold_seconds,
                                 struct fs_booking *out,
                                 char existing[FS_ID_MAX + 1])
{
    (void)hold_seconds;
    FUZZ_CHECK(svc == &service);
    check_args(user_id, sale_id, NULL);
    changes++;
    fill_booking(out, sale_id, user_id);
    out->state = FS_STATE_QUEUED;
    snprintf(existing, FS_ID_MAX + 1, "01HEXISTING000000000000000");
    return outcome == FS_CONFLICT || outcome == FS_EXPIRED ? FS_ERROR : outcome;
}

enum fs_status fs_booking_get(struct fs_service *svc, const char *user_id,
                              const char *sale_id, const char *booking_id,
                              struct fs_booking *out)
{
    FUZZ_CHECK(svc == &service);
    check_args(user_id, sale_id, booking_id);
    fill_booking(out, sale_id, user_id);
    /* An event stream's re-reads see the booking move on, one state per
     * read, up to a final one: every event is sent and the stream ends. */
    if (stream_reads >= 0) {
        int st = (int)outcome_state + stream_reads++;
        out->state = st > (int)FS_STATE_REJECTED ? FS_STATE_REJECTED
                                                : (enum fs_booking_state)st;
    }
    return outcome;
}

enum fs_status fs_booking_confirm(struct fs_service *svc, const char *user_id,
                                  const char *sale_id, const char *booking_id,
                                  struct fs_booking *out)
{
    changes++;
    return fs_booking_get(svc, user_id, sale_id, booking_id, out);
}

enum fs_status fs_booking_cancel(struct fs_service *svc, const char *user_id,
                                 const char *sale_id, const char *booking_id,
                                 struct fs_booking *out)
{
    changes++;
    return fs_booking_get(svc, user_id, sale_id, booking_id, out);
}

enum fs_status fs_sale_get_view(struct fs_service *svc, const char *sale_id,
                                struct fs_sale_view *out)
{
    FUZZ_CHECK(svc == &service && fs_id_valid(sale_id));
    calls++;
    memset(out, 0, sizeof(*out));
    out->sale_id = sale_id;
    out->counts.inventory = 10;
    out->counts.available = 7;
    out->counts.held = 2;
    out->counts.booked = 1;
    out->state = "open";
    return outcome;
}

int64_t fs_sale_queued(struct fs_service *svc, struct fs_sale *sale)
{
    FUZZ_CHECK(svc == &service && sale != NULL);
    return 0;
}

enum fs_status fs_backend_health(struct fs_backend *b, char *detail, size_t len)
{
    FUZZ_CHECK(b->plugin == &fake_plugin);
    calls++;
    if (outcome != FS_OK)
        snprintf(detail, len, "fake backend says %d", (int)outcome);
    return outcome;
}

/* ---- the fake policy engine ----------------------------------------------
 * The Lua engine (src/policy.c) is not under test here: the verdict is the
 * fuzzer's choice, so every answer of policy_answer() is reached. */

static enum fs_policy_action verdict = FS_POLICY_ALLOW;
static uint32_t verdict_retry = 1;

static void check_policy_request(const struct fs_policy_request *req)
{
    calls++;
    FUZZ_CHECK(fs_user_id_valid(req->user) && fs_id_valid(req->sale));
    FUZZ_CHECK(req->booking_id == NULL || fs_id_valid(req->booking_id));
    FUZZ_CHECK(req->method && req->n_headers <= MG_MAX_HEADERS);
    for (size_t i = 0; i < req->n_headers; i++)
        FUZZ_CHECK(req->headers[i].name && req->headers[i].value);
}

static void give_verdict(struct fs_policy_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->action = verdict;
    out->retry_after = verdict_retry;
    snprintf(out->reason, sizeof(out->reason), "denied by the fuzz policy");
    snprintf(out->error, sizeof(out->error), "fuzz.lua:1: failed");
}

void fs_policy_book(const struct fs_policy_request *req,
                    struct fs_policy_verdict *out, uint32_t *seconds)
{
    check_policy_request(req);
    FUZZ_CHECK(req->booking_id == NULL);
    give_verdict(out);
    *seconds = 0;
}

void fs_policy_check(enum fs_policy_hook hook,
                     const struct fs_policy_request *req,
                     struct fs_policy_verdict *out)
{
    FUZZ_CHECK(hook == FS_POLICY_ON_CONFIRM || hook == FS_POLICY_ON_CANCEL);
    check_policy_request(req);
    FUZZ_CHECK(req->booking_id != NULL);
    give_verdict(out);
}

/* ---- the fake backends and event streams --------------------------------- */

/* The inventory "knows" the user holds a booking exactly when the chosen
 * Retry-After is odd: no memory between inputs, so every finding replays
 * alone. */
enum fs_status fs_service_user_booking(struct fs_service *svc, const char *sale,
                                       const char *user,
                                       char booking[FS_ID_MAX + 1])
{
    FUZZ_CHECK(svc->be == &backends && fs_id_valid(sale) &&
               fs_user_id_valid(user));
    calls++;
    if (verdict_retry % 2 == 0)
        return FS_NOT_FOUND;
    snprintf(booking, FS_ID_MAX + 1, "01HEXISTING000000000000000");
    return FS_OK;
}

/* sales.c keeps each sale's claim batcher (claim_batch.c), which marks
 * claims durable through the inventory; the fake booking service above
 * never gets that far. */
enum fs_status fs_inventory_claim_durable(struct fs_backends *be, const char *sale,
                                          const char *const *booking_ids, size_t n,
                                          enum fs_status *results)
{
    (void)be, (void)sale, (void)booking_ids, (void)n, (void)results;
    FUZZ_CHECK(!"the fake booking service claims nothing");
    return FS_ERROR;
}

int fs_inventory_in_process(const struct fs_backends *be)
{
    (void)be;
    FUZZ_CHECK(!"the fake booking service claims nothing");
    return 0;
}

static int subscriptions;
static int fake_sub;

struct fs_events_sub *fs_events_subscribe(const char *booking_id,
                                          const char *user_id)
{
    FUZZ_CHECK(fs_id_valid(booking_id) && fs_user_id_valid(user_id));
    /* FS_TIMEOUT stands for "too many streams open". */
    if (outcome == FS_TIMEOUT)
        return NULL;
    subscriptions++;
    stream_reads = 0;
    return (struct fs_events_sub *)&fake_sub;
}

void fs_events_unsubscribe(struct fs_events_sub *sub)
{
    FUZZ_CHECK(sub == (struct fs_events_sub *)&fake_sub && subscriptions > 0);
    subscriptions--;
    stream_reads = -1;
}

size_t fs_events_open_streams(void)
{
    return (size_t)subscriptions;
}

/* A sale the daemon knows, for the per-sale answer counts of /metrics: any
 * valid id (the service's sales are not under test here). */
struct fs_sale *fs_service_sale(struct fs_service *svc, const char *sale_id)
{
    static struct fs_sale known;

    FUZZ_CHECK(svc == &service && sale_id != NULL);
    return fs_id_valid(sale_id) ? &known : NULL;
}

int fs_events_wait(struct fs_events_sub *sub, int timeout_ms)
{
    FUZZ_CHECK(sub == (struct fs_events_sub *)&fake_sub && subscriptions > 0);
    FUZZ_CHECK(timeout_ms > 0);
    return 1;
}

/* ---- the admin routes and the OpenAPI document ---------------------------
 * src/http/http_admin.c has its own fuzz-worthy parser (fs_http_admin_authorized)
 * but needs a generated header and the whole service to link; here it is
 * only the route the dispatcher hands "/admin..." to. */

int fs_http_admin_route(struct fs_http *h, struct mg_connection *c,
                        char *const *seg, size_t n_seg)
{
    static const char body[] = "{\"error\":\"not_found\",\"message\":\"fake admin\"}";
    char length[16];

    FUZZ_CHECK(h == &http && c != NULL);
    for (size_t i = 0; i < n_seg; i++)
        FUZZ_CHECK(seg[i] != NULL);
    /* The segments after "/admin": never empty, never containing '/'. */
    for (size_t i = 0; i < n_seg; i++)
        FUZZ_CHECK(seg[i][0] != '\0' && !strchr(seg[i], '/'));
    snprintf(length, sizeof(length), "%zu", sizeof(body) - 1);
    mg_response_header_start(c, 404);
    mg_response_header_add(c, "Content-Type", "application/json", -1);
    mg_response_header_add(c, "Content-Length", length, -1);
    mg_response_header_send(c);
    if (strcmp(c->ri.request_method, "HEAD") != 0)
        mg_write(c, body, sizeof(body) - 1);
    return 404;
}

const unsigned char fs_openapi_yaml[] = "openapi: 3.0.3\n";
const size_t fs_openapi_yaml_len = sizeof(fs_openapi_yaml) - 1;

/* ---- driving ------------------------------------------------------------- */

void fuzz_http_init(const char *jwt_secret, long long max_body_bytes)
{
    char err[256];

    fs_log_set_level(FS_LOG_ERROR);
    fs_metrics_init();
    cfg.listen = "127.0.0.1:0";
    cfg.jwt_secret = (char *)jwt_secret;
    cfg.http.threads = 1;
    cfg.http.listen_backlog = 1;
    cfg.http.max_body_bytes = max_body_bytes;
    cfg.http.max_header_bytes = 8192;
    cfg.http.request_timeout_ms = 60000;  /* as configs must: >= 100 */
    backends.queue.kind = FS_PLUGIN_QUEUE;
    backends.inventory.kind = FS_PLUGIN_INVENTORY;
    backends.storage.kind = FS_PLUGIN_STORAGE;
    backends.queue.plugin = backends.inventory.plugin =
        backends.storage.plugin = &fake_plugin;
    service.cfg = &cfg;
    service.be = &backends;
    if (fs_http_start(&http, &service, err, sizeof(err)) != 0 || !handler) {
        fprintf(stderr, "fs_http_start on the fake civetweb: %s\n", err);
        abort();
    }
}

void fuzz_http_set_outcome(enum fs_status rc, enum fs_booking_state state)
{
    outcome = rc;
    outcome_state = state;
}

void fuzz_http_set_policy(int action, uint32_t retry_after)
{
    verdict = (enum fs_policy_action)action;
    verdict_retry = retry_after;
}

void fuzz_http_set_trusted_header(const char *name)
{
    cfg.trusted_user_header = (char *)name;
}

static void check_error_body(const struct mg_connection *c)
{
    json_t *o = json_loadb(c->out, c->out_len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(o) || !"the body is a JSON object");
    /* /readyz answers 503 with its report ({"ready":false,...}), not an error. */
    if (c->status >= 400 && !json_object_get(o, "ready")) {
        FUZZ_CHECK(json_is_string(json_object_get(o, "error")));
        FUZZ_CHECK(json_is_string(json_object_get(o, "message")));
    }
    json_decref(o);
}

static void check_response(const struct mg_connection *c, int rc)
{
    int head = strcmp(c->ri.request_method, "HEAD") == 0;

    FUZZ_CHECK(c->started && c->sent);
    FUZZ_CHECK(rc == c->status);
    FUZZ_CHECK(subscriptions == 0 || !"every event stream is closed");
    if (c->chunked) {
        /* An event stream: no length, and it ends with the empty chunk. */
        FUZZ_CHECK(c->content_length == -1 && c->chunks_ended);
        return;
    }
    FUZZ_CHECK(c->content_length >= 0);
    FUZZ_CHECK(head ? c->out_len == 0 : (size_t)c->content_length == c->out_len);
    if (c->status == 401)
        FUZZ_CHECK(c->has_www_authenticate);
    if (c->status == 405)
        FUZZ_CHECK(c->has_allow);
    if (c->status == 503 || c->status == 429)
        FUZZ_CHECK(c->has_retry_after);
    if (c->status >= 400)
        FUZZ_CHECK(c->is_json);
    if (c->is_json && !head)
        check_error_body(c);
    if (c->status == 400 || c->status == 401 || c->status == 403 ||
        c->status == 405 || c->status == 413 || c->status == 429)
        FUZZ_CHECK(changes == 0 || !"a refused request changed nothing");
}

void fuzz_http_run(const struct fuzz_request *req, struct fuzz_response *out)
{
    struct mg_connection c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.req = req;
    c.content_length = -1;
    c.ri.request_method = req->method;
    c.ri.request_uri = req->uri;
    c.ri.local_uri = req->uri;
    c.ri.local_uri_raw = req->uri;
    c.ri.http_version = "1.1";
    c.ri.content_length = req->content_length;
    snprintf(c.ri.remote_addr, sizeof(c.ri.remote_addr), "203.0.113.7");
    for (size_t i = 0; i < req->n_headers && i < MG_MAX_HEADERS; i++) {
        c.ri.http_headers[i].name = req->header_name[i];
        c.ri.http_headers[i].value = req->header_value[i];
        c.ri.num_headers = (int)i + 1;
    }
    changes = calls = subscriptions = 0;
    rc = handler(&c, handler_data);
    check_response(&c, rc);
    memset(out, 0, sizeof(*out));
    out->status = c.status;
    out->body = c.out;
    out->body_len = c.out_len;
    out->service_changes = changes;
    out->service_calls = calls;
}

void fuzz_response_free(struct fuzz_response *resp)
{
    free(resp->body);
    resp->body = NULL;
}
