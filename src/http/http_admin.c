/*
 * http_admin.c - owns the live admin page: the routes under /admin, their
 * token check, and the stats snapshot (JSON and server-sent events).
 *
 * The page's HTML, JavaScript and CSS are files under src/admin/ that the
 * build turns into C strings (src/admin/admin_assets.h), so the daemon serves
 * them with no file to find at run time and nothing loaded from outside; a
 * Content-Security-Policy says so to the browser too.
 *
 * A browser logs in with HTTP Basic (any user name, the token as password):
 * it then sends the same credentials with the page's fetch() and EventSource
 * on its own, so the token never appears in a URL. Scripts send
 * "Authorization: Bearer <token>". Nothing here logs or echoes a credential.
 *
 * The module answers through http_reply.c rather than http_request.h's
 * request struct: http_api.c only routes "/admin..." here, and the two share
 * nothing but struct fs_http.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>
#include <jansson.h>

#include "base64.h"
#include "http_admin.h"
#include "events.h"
#include "health.h"
#include "http_api.h"
#include "http_reply.h"
#include "http_request_id.h"
#include "log.h"
#include "metrics.h"
#include "states.h"

#include "src/admin/admin_assets.h"

#define CHALLENGE "Basic realm=\"flashsaled\""
/* One snapshot a second on each stream. */
#define EVENTS_INTERVAL_MS 1000
/* Rates are differences over at least this long (a snapshot a second from
 * several viewers must not shrink the window to nothing). */
#define RATE_WINDOW_MIN_NS 900000000LL
/* An Authorization header's decoded Basic credentials, at most. */
#define BASIC_DECODED_MAX 512
/* Admin streams are one "user" for the stream bounds of events.h: no client
 * user id is empty, and no booking id is, so nothing else shares them. */
#define ADMIN_STREAM_USER ""
#define ADMIN_STREAM_TOPIC ""

/* Nothing from outside, no inline script or style. */
static const char *const page_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options", "nosniff",
    "Referrer-Policy", "no-referrer",
    NULL,
};

/* ---- answers ---------------------------------------------------------- */


static int reply_error(struct mg_connection *conn, int status, const char *code,
                       const char *message, const char *const *headers)
{
    return fs_http_reply_json(conn, status,
                      json_pack("{s:s, s:s}", "error", code, "message", message),
                      headers);
}

/* ---- the token ---------------------------------------------------------- */

/* Time depends on the length of what the client sent, never on how much of
 * the token it got right. want_len > 0. */
static int equal_ct(const char *given, size_t given_len, const char *want,
                    size_t want_len)
{
    volatile unsigned char diff = given_len != want_len;
    for (size_t i = 0; i < given_len; i++)
        diff |= (unsigned char)(given[i] ^ want[i % want_len]);
    return diff == 0;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int basic_password_is(const char *b64, const char *token)
{
    unsigned char decoded[BASIC_DECODED_MAX + 1];
    long n = fs_base64_decode(FS_BASE64_STD, b64, strcspn(b64, " \t"), decoded,
                              BASIC_DECODED_MAX);
    const unsigned char *colon;
    int ok = 0;

    if (n < 0)
        return 0;
    colon = memchr(decoded, ':', (size_t)n);
    if (colon)
        ok = equal_ct((const char *)colon + 1,
                      (size_t)n - (size_t)(colon + 1 - decoded), token,
                      strlen(token));
    explicit_bzero(decoded, sizeof(decoded));
    return ok;
}

int fs_http_admin_authorized(const char *authorization, const char *token)
{
    const char *p;

    if (!authorization || !token || !*token)
        return 0;
    p = skip_spaces(authorization);
    if (strncasecmp(p, "Bearer ", 7) == 0) {
        p = skip_spaces(p + 7);
        return equal_ct(p, strcspn(p, " \t"), token, strlen(token)) &&
               *skip_spaces(p + strcspn(p, " \t")) == '\0';
    }
    if (strncasecmp(p, "Basic ", 6) == 0)
        return basic_password_is(skip_spaces(p + 6), token);
    return 0;
}

/* ---- the snapshot --------------------------------------------------------- */

enum { RATE_REQUESTS, RATE_FORBIDDEN, RATE_LIMITED, RATE_UNAVAILABLE,
       RATE_COUNT };
static const char *const rate_names[RATE_COUNT] = {
    "requests", "forbidden", "rate_limited", "unavailable"};

/* Cumulative counters at one instant. */
struct sample {
    int64_t t_ns;  /* monotonic */
    uint64_t count[RATE_COUNT];
    uint64_t accept[FS_METRICS_BUCKETS];
};

/* The last window's rates, shared by every viewer. */
struct window {
    int valid;
    double seconds;
    double rate[RATE_COUNT];
    uint64_t accept[FS_METRICS_BUCKETS];  /* observations in the window */
};

static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sample window_start;  /* t_ns 0: no sample yet */
static struct window window_last;

/* Client traffic: the admin page's own requests are left out. */
static void take_sample(struct sample *s)
{
    static const int status_of[RATE_COUNT] = {0, 403, 429, 503};

    memset(s, 0, sizeof(*s));
    s->t_ns = fs_mono_ns();
    for (int r = 0; r < FS_ROUTE_COUNT; r++) {
        if (r == FS_ROUTE_ADMIN)
            continue;
        for (int code = 100; code <= 599; code++) {
            uint64_t n = fs_metrics_request_count((enum fs_route)r, code);
            s->count[RATE_REQUESTS] += n;
            for (int k = 1; k < RATE_COUNT; k++)
                if (code == status_of[k])
                    s->count[k] += n;
        }
    }
    fs_metrics_histogram(FS_HIST_ACCEPT, s->accept);
}

static uint64_t delta(uint64_t now, uint64_t then)
{
    return now >= then ? now - then : 0;
}

/* Moves the window on when it is old enough; copies the latest one. */
static void window_advance(const struct sample *now, struct window *out)
{
    pthread_mutex_lock(&window_lock);
    if (window_start.t_ns == 0) {
        window_start = *now;
    } else if (now->t_ns - window_start.t_ns >= RATE_WINDOW_MIN_NS) {
        double secs = (double)(now->t_ns - window_start.t_ns) / 1e9;
        window_last.valid = 1;
        window_last.seconds = secs;
        for (int k = 0; k < RATE_COUNT; k++)
            window_last.rate[k] =
                (double)delta(now->count[k], window_start.count[k]) / secs;
        for (int b = 0; b < FS_METRICS_BUCKETS; b++)
            window_last.accept[b] = delta(now->accept[b], window_start.accept[b]);
        window_start = *now;
    }
    *out = window_last;
    pthread_mutex_unlock(&window_lock);
}

static json_t *ms_or_null(double seconds)
{
    return seconds < 0 ? json_null() : json_real(seconds * 1000.0);
}

static json_t *latency_json(const uint64_t counts[FS_METRICS_BUCKETS])
{
    uint64_t total = 0;
    for (int b = 0; b < FS_METRICS_BUCKETS; b++)
        total += counts[b];
    return json_pack("{s:I, s:o, s:o}", "count", (json_int_t)total, "p50_ms",
                     ms_or_null(fs_metrics_quantile(counts, 0.5)), "p99_ms",
                     ms_or_null(fs_metrics_quantile(counts, 0.99)));
}

static json_t *traffic_json(const struct sample *now, const struct window *w)
{
    json_t *totals = json_object(), *rates = json_object();

    for (int k = 0; k < RATE_COUNT; k++) {
        json_object_set_new(totals, rate_names[k],
                            json_integer((json_int_t)now->count[k]));
        json_object_set_new(rates, rate_names[k],
                            w->valid ? json_real(w->rate[k]) : json_null());
    }
    json_object_set_new(rates, "window_s",
                        w->valid ? json_real(w->seconds) : json_null());
    return json_pack("{s:o, s:o, s:{s:o, s:o}}", "totals", totals, "rates",
                     rates, "accept_latency", "since_start",
                     latency_json(now->accept), "recent",
                     latency_json(w->accept));
}

static json_t *rejected_json(const uint64_t by_reason[FS_METRICS_REASONS])
{
    json_t *o = json_object();
    for (size_t i = 0; i < FS_METRICS_REASONS; i++)
        json_object_set_new(o, fs_metrics_reason_name(i),
                            json_integer((json_int_t)by_reason[i]));
    return o;
}

/* The sale's queue: requests accepted and not yet decided (fs_sale_queued),
 * the configured depth, and the 503s past it. */
static void add_queue(json_t *o, struct fs_service *svc, struct fs_sale *sale,
                      const struct fs_metrics_sale *m)
{
    json_object_set_new(o, "queued",
                        json_integer((json_int_t)fs_sale_queued(svc, sale)));
    json_object_set_new(o, "max_queued",
                        json_integer((json_int_t)atomic_load(&sale->max_queued)));
    json_object_set_new(o, "queue_full", json_integer((json_int_t)m->queue_full));
}

static json_t *sale_json(struct fs_service *svc, struct fs_sale *sale)
{
    const char *id = sale->id;
    struct fs_sale_view v;
    struct fs_metrics_sale m;
    json_t *o;

    fs_metrics_sale_get(id, &m);
    if (fs_sale_get_view(svc, id, &v) != FS_OK)
        o = json_pack("{s:s, s:s, s:I, s:o}", "sale_id", id, "error",
                      "unavailable", "expired", (json_int_t)m.expired,
                      "rejected", rejected_json(m.rejected));
    else
        o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "sale_id",
                      v.sale_id, "state", v.state, "inventory",
                      (json_int_t)v.counts.inventory, "available",
                      (json_int_t)v.counts.available, "held",
                      (json_int_t)v.counts.held, "booked",
                      (json_int_t)v.counts.booked, "expired",
                      (json_int_t)m.expired, "rejected",
                      rejected_json(m.rejected));
    if (o)
        add_queue(o, svc, sale, &m);
    return o;
}

static json_t *sales_json(struct fs_service *svc)
{
    json_t *a = json_array();
    size_t n = fs_sales_count(&svc->sales);

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, sale_json(svc, fs_sales_at(&svc->sales, i)));
    return a;
}

static json_t *backends_json(struct fs_service *svc)
{
    struct fs_backend_health h[FS_HEALTH_KINDS];
    json_t *o = json_object();

    (void)fs_health_check(svc, h);
    for (size_t i = 0; o && i < FS_HEALTH_KINDS; i++) {
        json_t *one = json_pack("{s:b, s:s}", "ready", h[i].ready, "plugin",
                                h[i].plugin);
        if (one && !h[i].ready)
            json_object_set_new(one, "detail", json_string(h[i].detail));
        json_object_set_new(o, h[i].kind, one);
    }
    return o;
}

static json_t *stats_json(struct fs_http *http)
{
    struct fs_service *svc = http->svc;
    struct sample now;
    struct window w;
    uint64_t depth;
    int64_t now_ms = fs_now_ms();
    char when[32];
    json_t *o;

    take_sample(&now);
    window_advance(&now, &w);
    fs_format_rfc3339(now_ms, when);
    o = json_pack("{s:s, s:I, s:o, s:o, s:I}", "time", when, "time_ms",
                  (json_int_t)now_ms, "sales", sales_json(svc), "backends",
                  backends_json(svc), "event_streams",
                  (json_int_t)fs_events_open_streams());
    if (!o)
        return NULL;
    json_object_set_new(o, "queue_depth",
                        fs_service_queue_depth(svc, &depth) == FS_OK
                            ? json_integer((json_int_t)depth)
                            : json_null());
    json_object_update_new(o, traffic_json(&now, &w));
    return o;
}

/* ---- routes ------------------------------------------------------------- */

static int route_stats(struct fs_http *http, struct mg_connection *conn)
{
    return fs_http_reply_json(conn, 200, stats_json(http), NULL);
}

static int send_snapshot(struct fs_http *http, struct mg_connection *conn)
{
    json_t *o = stats_json(http);
    char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_t *t = o ? json_object_get(o, "time_ms") : NULL;
    char *event = NULL;
    int len = data ? asprintf(&event, "id: %" JSON_INTEGER_FORMAT
                              "\nevent: stats\ndata: %s\n\n",
                              json_integer_value(t), data)
                   : -1;
    int rc = len > 0 && mg_send_chunk(conn, event, (unsigned)len) > 0 ? 0 : -1;

    free(event);
    free(data);
    json_decref(o);
    return rc;
}

/* A snapshot a second until the client leaves or the daemon stops. The
 * stream holds an HTTP thread, so it counts against the event-stream bounds
 * (http.max_streams, and http.max_streams_per_user for all admin streams
 * together). */
static int route_events(struct fs_http *http, struct mg_connection *conn)
{
    static const char *const retry[] = {"Retry-After", "5", NULL};
    static const char hello[] = "retry: 2000\n\n";
    struct fs_events_sub *sub =
        fs_events_subscribe(ADMIN_STREAM_TOPIC, ADMIN_STREAM_USER);

    if (!sub)
        return reply_error(conn, 503, "unavailable",
                           "too many open event streams; poll /admin/stats "
                           "or retry later",
                           retry);
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", "text/event-stream", -1);
    mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
    mg_response_header_add(conn, "Cache-Control", "no-store", -1);
    mg_response_header_add(conn, "X-Accel-Buffering", "no", -1);
    mg_response_header_add(conn, "X-Request-Id", fs_http_request_id(), -1);
    mg_response_header_send(conn);
    if (mg_send_chunk(conn, hello, sizeof(hello) - 1) > 0)
        while (send_snapshot(http, conn) == 0 &&
               fs_events_wait(sub, EVENTS_INTERVAL_MS) >= 0)
            ;
    fs_events_unsubscribe(sub);
    mg_send_chunk(conn, "", 0);
    return 200;
}

struct asset {
    const char *name;  /* the segment after /admin; "" for the page */
    const char *type;
    const char *body;
    size_t len;
};

#define ASSET(n, t, a) {n, t, a, sizeof(a) - 1}
static const struct asset assets[] = {
    ASSET("", "text/html; charset=utf-8", fs_admin_index_html),
    ASSET("app.js", "text/javascript; charset=utf-8", fs_admin_app_js),
    ASSET("app.css", "text/css; charset=utf-8", fs_admin_app_css),
};

static int method_is(struct mg_connection *conn, const char *m)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    return ri && ri->request_method && strcmp(ri->request_method, m) == 0;
}

static int method_not_allowed(struct mg_connection *conn, const char *allow)
{
    const char *headers[] = {"Allow", allow, NULL};
    return reply_error(conn, 405, "method_not_allowed",
                       "method not allowed on this path", headers);
}

static int route_named(struct fs_http *http, struct mg_connection *conn,
                       const char *name)
{
    int get = method_is(conn, "GET"), head = method_is(conn, "HEAD");

    if (strcmp(name, "events") == 0)
        return get ? route_events(http, conn)
                   : method_not_allowed(conn, "GET");
    if (!get && !head)
        return method_not_allowed(conn, "GET, HEAD");
    if (strcmp(name, "stats") == 0)
        return route_stats(http, conn);
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
        if (strcmp(name, assets[i].name) == 0)
            return fs_http_reply(conn, 200, assets[i].type, assets[i].body,
                                 assets[i].len, page_headers);
    return reply_error(conn, 404, "not_found", "no such resource", NULL);
}

int fs_http_admin_route(struct fs_http *http, struct mg_connection *conn,
                        char *const *seg, size_t n_seg)
{
    static const char *const challenge[] = {"WWW-Authenticate", CHALLENGE,
                                            NULL};
    const char *token = http->svc->cfg->admin_token;

    /* Off unless configured: as if the routes did not exist. */
    if (!token)
        return reply_error(conn, 404, "not_found", "no such resource", NULL);
    if (!fs_http_admin_authorized(mg_get_header(conn, "Authorization"), token))
        return reply_error(conn, 401, "unauthenticated",
                           "the admin pages need the admin token: as the "
                           "password of HTTP Basic (any user name) or as "
                           "Authorization: Bearer",
                           challenge);
    if (n_seg > 1)
        return reply_error(conn, 404, "not_found", "no such resource", NULL);
    return route_named(http, conn, n_seg == 1 ? seg[0] : "");
}
