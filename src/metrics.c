/*
 * metrics.c - owns the daemon's counters and writes them as Prometheus text
 * (exposition format 0.0.4).
 *
 * Every counter is a fixed-size array of C11 atomics indexed by its labels,
 * so counting is one relaxed fetch_add and never allocates or locks: the
 * request threads of a flash sale all hit the same few counters at once.
 * Relaxed order is enough because no reader infers anything about other
 * memory from a counter's value.
 *
 * Values outside the known label sets are still counted, in a catch-all
 * slot, rather than dropped or indexed out of bounds: a status code outside
 * 100..599 under code="invalid", an unknown route under route="other", an
 * unknown state under state="none", an unknown rejection reason under
 * reason="other".
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "states.h"

#define STATUS_MIN 100
#define STATUS_MAX 599
#define STATUS_SLOTS (STATUS_MAX - STATUS_MIN + 1)
#define STATUS_INVALID STATUS_SLOTS         /* the catch-all slot */
#define STATE_COUNT (FS_STATE_REJECTED + 1)
#define BUCKET_COUNT 14                     /* 13 bounds and +Inf */

/* Longest latency recorded: a bound keeps the double to nanoseconds
 * conversion defined, and the 64-bit nanosecond sum then holds at least five
 * million such observations. A real latency is far below it. */
#define OBSERVE_MAX_S 3600.0

static const char *const route_names[FS_ROUTE_COUNT] = {
    [FS_ROUTE_BOOK] = "book",
    [FS_ROUTE_BOOKING_GET] = "booking_get",
    [FS_ROUTE_BOOKING_PUT] = "booking_put",
    [FS_ROUTE_BOOKING_DELETE] = "booking_delete",
    [FS_ROUTE_BOOKING_EVENTS] = "booking_events",
    [FS_ROUTE_SALE] = "sale",
    [FS_ROUTE_HEALTH] = "healthz",
    [FS_ROUTE_READY] = "readyz",
    [FS_ROUTE_METRICS] = "metrics",
    [FS_ROUTE_ADMIN] = "admin",
    [FS_ROUTE_OPENAPI] = "openapi",
    [FS_ROUTE_OTHER] = "other",
};

/* The last entry is the catch-all for unknown reasons. */
static const char *const reason_names[] = {"sold_out", "duplicate", "policy",
                                           "closed", "other"};
#define REASON_COUNT (sizeof(reason_names) / sizeof(reason_names[0]))
_Static_assert(REASON_COUNT == FS_METRICS_REASONS, "reasons in metrics.h");
_Static_assert(BUCKET_COUNT == FS_METRICS_BUCKETS, "buckets in metrics.h");

static const double bucket_bounds[BUCKET_COUNT - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1, 2.5, 5,
};

struct histogram {
    const char *name;
    const char *help;
    /* Per-bucket (not cumulative) counts; rendering accumulates them, and
     * _count is their total, so _count always equals the +Inf bucket. */
    _Atomic uint64_t buckets[BUCKET_COUNT];
    _Atomic uint64_t sum_ns;
};

static _Atomic uint64_t requests[FS_ROUTE_COUNT][STATUS_SLOTS + 1];
static _Atomic uint64_t bookings[STATE_COUNT];
static _Atomic uint64_t rejections[REASON_COUNT];
static _Atomic uint64_t queue_depth;
/* Connections held by an HTTP thread, served and being shed; the limit. */
static _Atomic int64_t http_served, http_shedding, http_limit;
static _Atomic uint64_t http_shed;
static _Atomic uint64_t claims_republished;
/* JWKS refreshes by [url?][ok?]; the keys held; 1 while the URL is stale. */
static _Atomic uint64_t jwks_refreshes[2][2];
static _Atomic int64_t jwks_keys, jwks_stale;

/* A sale's booking answers by status: what a dashboard plots per sale. */
static const int sale_answer_status[] = {202, 403, 409, 429, 503};
#define SALE_ANSWERS (sizeof(sale_answer_status) / sizeof(int) + 1)  /* + other */
static const char *const item_kind_names[FS_METRICS_ITEM_KINDS] = {
    "inventory", "available", "held", "booked"};
static const char *const backend_kind_names[FS_METRICS_BACKENDS] = {
    "queue", "inventory", "storage"};

/* A sale's slot goes EMPTY -> CLAIMED (its id being written) -> READY, once:
 * slots are never freed, so a reader that saw READY may read the id. */
enum { SLOT_EMPTY, SLOT_CLAIMED, SLOT_READY };
struct sale_slot {
    _Atomic int state;
    char id[FS_ID_MAX + 1];
    _Atomic uint64_t expired;
    _Atomic uint64_t rejected[REASON_COUNT];
    _Atomic int64_t queued, queue_max;  /* gauges, set at each scrape */
    _Atomic uint64_t queue_full;        /* 503s past the queue's depth */
    _Atomic uint64_t answers[SALE_ANSWERS];  /* POSTs by status class */
    _Atomic int stock_known;                 /* the items below were read */
    _Atomic int64_t items[FS_METRICS_ITEM_KINDS];  /* set at each scrape */
};
static struct sale_slot sale_slots[FS_METRICS_SALES_MAX];
/* Backends' readiness and open event streams, set at each scrape. */
static _Atomic int backend_ready[FS_METRICS_BACKENDS];
static const char *backend_plugin[FS_METRICS_BACKENDS];
static _Atomic int backends_known;
static _Atomic int64_t event_streams;
static _Atomic int64_t start_time_ms;
static struct histogram histograms[FS_HIST_COUNT] = {
    [FS_HIST_ACCEPT] = {
        .name = "flashsaled_accept_latency_seconds",
        .help = "Time from a booking request's arrival to its 202 answer.",
    },
    [FS_HIST_RESERVE] = {
        .name = "flashsaled_reserve_latency_seconds",
        .help = "Time of one inventory reserve call by the worker.",
    },
};

static void counter_add(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t counter_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void counters_zero(_Atomic uint64_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&c[i], 0, memory_order_relaxed);
}

void fs_metrics_init(void)
{
    struct timespec ts;

    for (size_t r = 0; r < FS_ROUTE_COUNT; r++)
        counters_zero(requests[r], STATUS_SLOTS + 1);
    counters_zero(bookings, STATE_COUNT);
    counters_zero(rejections, REASON_COUNT);
    atomic_store_explicit(&queue_depth, 0, memory_order_relaxed);
    atomic_store(&http_served, 0);
    atomic_store(&http_shedding, 0);
    atomic_store(&http_limit, 0);
    atomic_store(&http_shed, 0);
    atomic_store(&claims_republished, 0);
    counters_zero(&jwks_refreshes[0][0], 4);
    atomic_store(&jwks_keys, 0);
    atomic_store(&jwks_stale, 0);
    for (size_t i = 0; i < FS_METRICS_SALES_MAX; i++) {
        atomic_store(&sale_slots[i].state, SLOT_EMPTY);
        atomic_store_explicit(&sale_slots[i].expired, 0, memory_order_relaxed);
        counters_zero(sale_slots[i].rejected, REASON_COUNT);
        atomic_store_explicit(&sale_slots[i].queued, 0, memory_order_relaxed);
        atomic_store_explicit(&sale_slots[i].queue_max, 0, memory_order_relaxed);
        atomic_store_explicit(&sale_slots[i].queue_full, 0, memory_order_relaxed);
        counters_zero(sale_slots[i].answers, SALE_ANSWERS);
        atomic_store(&sale_slots[i].stock_known, 0);
    }
    atomic_store(&backends_known, 0);
    atomic_store(&event_streams, 0);
    for (size_t h = 0; h < FS_HIST_COUNT; h++) {
        counters_zero(histograms[h].buckets, BUCKET_COUNT);
        atomic_store_explicit(&histograms[h].sum_ns, 0, memory_order_relaxed);
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&start_time_ms,
                 (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

const char *fs_route_name(enum fs_route route)
{
    if ((unsigned)route >= FS_ROUTE_COUNT)
        return route_names[FS_ROUTE_OTHER];
    return route_names[route];
}

static _Atomic uint64_t *request_slot(enum fs_route route, int status)
{
    if ((unsigned)route >= FS_ROUTE_COUNT)
        route = FS_ROUTE_OTHER;
    size_t code = status < STATUS_MIN || status > STATUS_MAX
                      ? STATUS_INVALID
                      : (size_t)(status - STATUS_MIN);
    return &requests[route][code];
}

void fs_metrics_request(enum fs_route route, int status)
{
    counter_add(request_slot(route, status));
}

uint64_t fs_metrics_request_count(enum fs_route route, int status)
{
    return counter_get(request_slot(route, status));
}

static _Atomic uint64_t *booking_slot(enum fs_booking_state state)
{
    if ((unsigned)state >= STATE_COUNT)
        state = FS_STATE_NONE;
    return &bookings[state];
}

void fs_metrics_booking(enum fs_booking_state state)
{
    counter_add(booking_slot(state));
}

uint64_t fs_metrics_booking_count(enum fs_booking_state state)
{
    return counter_get(booking_slot(state));
}

static size_t reason_index(const char *reason)
{
    size_t i = 0;
    while (i < REASON_COUNT - 1 &&
           (reason == NULL || strcmp(reason, reason_names[i]) != 0))
        i++;
    return i;
}

void fs_metrics_rejected(const char *reason)
{
    counter_add(&rejections[reason_index(reason)]);
}

void fs_metrics_set_queue_depth(uint64_t depth)
{
    atomic_store_explicit(&queue_depth, depth, memory_order_relaxed);
}

void fs_metrics_observe(enum fs_histogram_id h, double seconds)
{
    if ((unsigned)h >= FS_HIST_COUNT)
        return;
    /* A clock that stepped back gives a negative time; NaN is a bug upstream:
     * count both as zero rather than poison the sum. */
    if (!(seconds >= 0))
        seconds = 0;
    if (seconds > OBSERVE_MAX_S)
        seconds = OBSERVE_MAX_S;
    size_t b = 0;
    while (b < BUCKET_COUNT - 1 && seconds > bucket_bounds[b])
        b++;
    struct histogram *hist = &histograms[h];
    counter_add(&hist->buckets[b]);
    atomic_fetch_add_explicit(&hist->sum_ns, (uint64_t)(seconds * 1e9 + 0.5),
                              memory_order_relaxed);
}

/* ---- readers for the admin page ------------------------------------------ */

const char *fs_metrics_reason_name(size_t i)
{
    return reason_names[i < REASON_COUNT ? i : REASON_COUNT - 1];
}

uint64_t fs_metrics_rejected_count(size_t i)
{
    return i < REASON_COUNT ? counter_get(&rejections[i]) : 0;
}

uint64_t fs_metrics_queue_depth(void)
{
    return atomic_load_explicit(&queue_depth, memory_order_relaxed);
}

void fs_metrics_histogram(enum fs_histogram_id h,
                          uint64_t out[FS_METRICS_BUCKETS])
{
    for (size_t b = 0; b < BUCKET_COUNT; b++)
        out[b] = (unsigned)h < FS_HIST_COUNT
                     ? counter_get(&histograms[h].buckets[b]) : 0;
}

double fs_metrics_quantile(const uint64_t counts[FS_METRICS_BUCKETS], double q)
{
    uint64_t total = 0, below = 0;
    size_t b = 0;
    double rank, lower, upper;

    for (size_t i = 0; i < BUCKET_COUNT; i++)
        total += counts[i];
    if (total == 0)
        return -1;
    rank = q * (double)total;
    while (b < BUCKET_COUNT - 1 && (double)(below + counts[b]) < rank)
        below += counts[b++];
    /* Past the last finite bound nothing is known but "more than it". */
    if (b == BUCKET_COUNT - 1)
        return bucket_bounds[BUCKET_COUNT - 2];
    lower = b == 0 ? 0 : bucket_bounds[b - 1];
    upper = bucket_bounds[b];
    return lower + (upper - lower) * (rank - (double)below) / (double)counts[b];
}

/* ---- per sale --------------------------------------------------------------- */

static size_t sale_hash(const char *id)
{
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % FS_METRICS_SALES_MAX;
}

/* The slot of `id` by linear probing; with `create`, claims an empty one.
 * NULL for a bad id, an unknown one without `create`, or a full table. */
static struct sale_slot *sale_slot(const char *id, int create)
{
    size_t len = id ? strlen(id) : 0, i;

    if (len == 0 || len > FS_ID_MAX)
        return NULL;
    i = sale_hash(id);
    for (size_t probe = 0; probe < FS_METRICS_SALES_MAX; probe++) {
        struct sale_slot *s = &sale_slots[i];
        int st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (st == SLOT_EMPTY) {
            if (!create)
                return NULL;
            if (atomic_compare_exchange_strong_explicit(
                    &s->state, &st, SLOT_CLAIMED, memory_order_acq_rel,
                    memory_order_acquire)) {
                memcpy(s->id, id, len + 1);
                atomic_store_explicit(&s->state, SLOT_READY,
                                      memory_order_release);
                return s;
            }
        }
        /* Another thread is writing this slot's id: a few instructions. */
        while (st == SLOT_CLAIMED) {
            sched_yield();
            st = atomic_load_explicit(&s->state, memory_order_acquire);
        }
        if (strcmp(s->id, id) == 0)
            return s;
        i = (i + 1) % FS_METRICS_SALES_MAX;
    }
    return NULL;
}

void fs_metrics_sale_expired(const char *sale_id)
{
    struct sale_slot *s = sale_slot(sale_id, 1);
    if (s)
        counter_add(&s->expired);
}

void fs_metrics_sale_rejected(const char *sale_id, const char *reason)
{
    struct sale_slot *s = sale_slot(sale_id, 1);
    if (s)
        counter_add(&s->rejected[reason_index(reason)]);
}

void fs_metrics_sale_queue(const char *sale_id, int64_t queued, int64_t max)
{
    struct sale_slot *s = sale_slot(sale_id, 1);
    if (!s)
        return;
    atomic_store_explicit(&s->queued, queued, memory_order_relaxed);
    atomic_store_explicit(&s->queue_max, max, memory_order_relaxed);
}

void fs_metrics_sale_queue_full(const char *sale_id)
{
    struct sale_slot *s = sale_slot(sale_id, 1);
    if (s)
        counter_add(&s->queue_full);
}

void fs_metrics_sale_answer(const char *sale_id, int status)
{
    struct sale_slot *s = sale_slot(sale_id, 1);
    size_t i = 0;

    if (!s)
        return;
    while (i < SALE_ANSWERS - 1 && sale_answer_status[i] != status)
        i++;
    counter_add(&s->answers[i]);
}

void fs_metrics_sale_items(const char *sale_id,
                           const int64_t items[FS_METRICS_ITEM_KINDS])
{
    struct sale_slot *s = sale_slot(sale_id, 1);

    if (!s)
        return;
    for (size_t i = 0; i < FS_METRICS_ITEM_KINDS; i++)
        atomic_store_explicit(&s->items[i], items[i], memory_order_relaxed);
    atomic_store_explicit(&s->stock_known, 1, memory_order_release);
}

void fs_metrics_backend_ready(size_t kind, const char *plugin, int ready)
{
    if (kind >= FS_METRICS_BACKENDS)
        return;
    /* Plugin names are the loaded descriptors' strings: they outlive us. */
    backend_plugin[kind] = plugin;
    atomic_store_explicit(&backend_ready[kind], ready != 0,
                          memory_order_relaxed);
    atomic_store_explicit(&backends_known, 1, memory_order_release);
}

void fs_metrics_event_streams(int64_t open)
{
    atomic_store_explicit(&event_streams, open, memory_order_relaxed);
}

void fs_metrics_http_connections(long served_delta, long shedding_delta)
{
    atomic_fetch_add_explicit(&http_served, served_delta, memory_order_relaxed);
    atomic_fetch_add_explicit(&http_shedding, shedding_delta, memory_order_relaxed);
}

void fs_metrics_http_limit(long max_connections)
{
    atomic_store_explicit(&http_limit, max_connections, memory_order_relaxed);
}

void fs_metrics_http_shed(void)
{
    counter_add(&http_shed);
}

void fs_metrics_claims_republished(size_t n)
{
    atomic_fetch_add_explicit(&claims_republished, n, memory_order_relaxed);
}

void fs_metrics_jwks_refresh(const char *source, int ok)
{
    counter_add(&jwks_refreshes[strcmp(source, "url") == 0][ok != 0]);
}

void fs_metrics_jwks_state(long keys, int stale)
{
    atomic_store_explicit(&jwks_keys, keys, memory_order_relaxed);
    atomic_store_explicit(&jwks_stale, stale != 0, memory_order_relaxed);
}

uint64_t fs_metrics_http_shed_count(void)
{
    return counter_get(&http_shed);
}

void fs_metrics_sale_get(const char *sale_id, struct fs_metrics_sale *out)
{
    struct sale_slot *s = sale_slot(sale_id, 0);

    memset(out, 0, sizeof(*out));
    if (!s)
        return;
    out->expired = counter_get(&s->expired);
    out->queue_full = counter_get(&s->queue_full);
    for (size_t i = 0; i < REASON_COUNT; i++)
        out->rejected[i] = counter_get(&s->rejected[i]);
}

/* ---- rendering ----------------------------------------------------------- */

static void render_header(FILE *f, const char *name, const char *type,
                          const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_requests(FILE *f)
{
    render_header(f, "flashsaled_http_requests_total", "counter",
                  "HTTP requests answered, by route and status code.");
    for (size_t r = 0; r < FS_ROUTE_COUNT; r++) {
        for (size_t c = 0; c <= STATUS_SLOTS; c++) {
            uint64_t n = counter_get(&requests[r][c]);
            if (n == 0)
                continue;
            fprintf(f, "flashsaled_http_requests_total{route=\"%s\",",
                    route_names[r]);
            if (c == STATUS_INVALID)
                fprintf(f, "code=\"invalid\"} %llu\n", (unsigned long long)n);
            else
                fprintf(f, "code=\"%zu\"} %llu\n", c + STATUS_MIN,
                        (unsigned long long)n);
        }
    }
}

static void render_bookings(FILE *f)
{
    render_header(f, "flashsaled_bookings_total", "counter",
                  "Bookings that entered each state.");
    for (size_t s = 0; s < STATE_COUNT; s++) {
        uint64_t n = counter_get(&bookings[s]);
        /* "none" is only the catch-all: show it when something used it. */
        if (s == FS_STATE_NONE && n == 0)
            continue;
        fprintf(f, "flashsaled_bookings_total{state=\"%s\"} %llu\n",
                fs_state_name((enum fs_booking_state)s),
                (unsigned long long)n);
    }
}

static void render_rejections(FILE *f)
{
    render_header(f, "flashsaled_rejections_total", "counter",
                  "Booking requests rejected, by reason.");
    for (size_t i = 0; i < REASON_COUNT; i++) {
        uint64_t n = counter_get(&rejections[i]);
        fprintf(f, "flashsaled_rejections_total{reason=\"%s\"} %llu\n",
                reason_names[i], (unsigned long long)n);
    }
}

static void render_histogram(FILE *f, struct histogram *h)
{
    uint64_t cumulative = 0;

    render_header(f, h->name, "histogram", h->help);
    for (size_t b = 0; b < BUCKET_COUNT; b++) {
        cumulative += counter_get(&h->buckets[b]);
        if (b < BUCKET_COUNT - 1)
            fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", h->name, bucket_bounds[b],
                    (unsigned long long)cumulative);
        else
            fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", h->name,
                    (unsigned long long)cumulative);
    }
    uint64_t ns = counter_get(&h->sum_ns);
    fprintf(f, "%s_sum %llu.%09llu\n", h->name,
            (unsigned long long)(ns / 1000000000u),
            (unsigned long long)(ns % 1000000000u));
    fprintf(f, "%s_count %llu\n", h->name, (unsigned long long)cumulative);
}

static void render_http(FILE *f)
{
    render_header(f, "flashsaled_http_connections", "gauge",
                  "Connections held by an HTTP thread: served, or being "
                  "answered 503 past http.max_connections.");
    fprintf(f, "flashsaled_http_connections{state=\"served\"} %lld\n",
            (long long)atomic_load(&http_served));
    fprintf(f, "flashsaled_http_connections{state=\"shedding\"} %lld\n",
            (long long)atomic_load(&http_shedding));
    render_header(f, "flashsaled_http_max_connections", "gauge",
                  "Connections served at once (http.max_connections).");
    fprintf(f, "flashsaled_http_max_connections %lld\n",
            (long long)atomic_load(&http_limit));
    render_header(f, "flashsaled_http_shed_total", "counter",
                  "Requests answered 503 because the server was at "
                  "http.max_connections.");
    fprintf(f, "flashsaled_http_shed_total %llu\n",
            (unsigned long long)counter_get(&http_shed));
}

static void render_claim_audit(FILE *f)
{
    render_header(f, "flashsaled_claims_republished_total", "counter",
                  "Accepted requests whose queued message was gone (lost by "
                  "the broker), published again from their claims.");
    fprintf(f, "flashsaled_claims_republished_total %llu\n",
            (unsigned long long)counter_get(&claims_republished));
}

static void render_jwks(FILE *f)
{
    render_header(f, "flashsaled_jwks_refresh_total", "counter",
                  "Reads of auth.jwks_file and fetches of auth.jwks_url, by "
                  "result.");
    for (int url = 0; url < 2; url++)
        for (int ok = 0; ok < 2; ok++)
            fprintf(f, "flashsaled_jwks_refresh_total{source=\"%s\","
                    "result=\"%s\"} %llu\n", url ? "url" : "file",
                    ok ? "ok" : "failed",
                    (unsigned long long)counter_get(&jwks_refreshes[url][ok]));
    render_header(f, "flashsaled_jwks_keys", "gauge",
                  "Token-signing keys held from auth.jwks_file and "
                  "auth.jwks_url.");
    fprintf(f, "flashsaled_jwks_keys %lld\n",
            (long long)atomic_load(&jwks_keys));
    render_header(f, "flashsaled_jwks_stale", "gauge",
                  "1 while the last fetch of auth.jwks_url failed and the "
                  "cached keys serve.");
    fprintf(f, "flashsaled_jwks_stale %lld\n",
            (long long)atomic_load(&jwks_stale));
}

static int slot_ready(struct sale_slot *s)
{
    return atomic_load_explicit(&s->state, memory_order_acquire) == SLOT_READY;
}

static void render_sale_queues(FILE *f)
{
    static const char *const names[] = {
        "flashsaled_sale_queued", "flashsaled_sale_queue_max",
        "flashsaled_sale_queue_full_total"};
    static const char *const helps[] = {
        "Booking requests of the sale accepted and not yet decided.",
        "The sale's queue depth limit (sales[].max_queued; 0: none).",
        "Booking requests answered 503 because the sale's queue was full."};

    for (size_t m = 0; m < 3; m++) {
        render_header(f, names[m], m == 2 ? "counter" : "gauge", helps[m]);
        for (size_t i = 0; i < FS_METRICS_SALES_MAX; i++) {
            struct sale_slot *s = &sale_slots[i];
            if (!slot_ready(s))
                continue;
            long long v = m == 0 ? (long long)atomic_load(&s->queued)
                        : m == 1 ? (long long)atomic_load(&s->queue_max)
                                 : (long long)counter_get(&s->queue_full);
            fprintf(f, "%s{sale=\"%s\"} %lld\n", names[m], s->id, v);
        }
    }
}

static void render_sale_answers(FILE *f)
{
    render_header(f, "flashsaled_sale_booking_answers_total", "counter",
                  "Booking requests (POST) of the sale answered, by status "
                  "(\"other\": any status not listed).");
    for (size_t i = 0; i < FS_METRICS_SALES_MAX; i++) {
        struct sale_slot *s = &sale_slots[i];
        if (!slot_ready(s))
            continue;
        for (size_t k = 0; k < SALE_ANSWERS; k++) {
            char status[8] = "other";
            if (k < SALE_ANSWERS - 1)
                snprintf(status, sizeof(status), "%d", sale_answer_status[k]);
            fprintf(f, "flashsaled_sale_booking_answers_total{sale=\"%s\","
                       "status=\"%s\"} %llu\n", s->id, status,
                    (unsigned long long)counter_get(&s->answers[k]));
        }
    }
}

static void render_sale_items(FILE *f)
{
    render_header(f, "flashsaled_sale_items", "gauge",
                  "The sale's items by state, as the inventory counts them "
                  "when /metrics is read: held + booked never exceeds "
                  "inventory (an oversell would).");
    for (size_t i = 0; i < FS_METRICS_SALES_MAX; i++) {
        struct sale_slot *s = &sale_slots[i];
        if (!slot_ready(s) ||
            !atomic_load_explicit(&s->stock_known, memory_order_acquire))
            continue;
        for (size_t k = 0; k < FS_METRICS_ITEM_KINDS; k++)
            fprintf(f, "flashsaled_sale_items{sale=\"%s\",state=\"%s\"} "
                       "%lld\n", s->id, item_kind_names[k],
                    (long long)atomic_load(&s->items[k]));
    }
}

static void render_backends(FILE *f)
{
    render_header(f, "flashsaled_backend_ready", "gauge",
                  "1 while the backend's plugin says it is ready (as "
                  "/readyz), 0 while not.");
    for (size_t k = 0;
         atomic_load_explicit(&backends_known, memory_order_acquire) &&
         k < FS_METRICS_BACKENDS;
         k++)
        fprintf(f, "flashsaled_backend_ready{backend=\"%s\",plugin=\"%s\"} "
                   "%d\n", backend_kind_names[k],
                backend_plugin[k] ? backend_plugin[k] : "",
                atomic_load(&backend_ready[k]));
    render_header(f, "flashsaled_event_streams", "gauge",
                  "Event streams (GET .../events) open now.");
    fprintf(f, "flashsaled_event_streams %lld\n",
            (long long)atomic_load(&event_streams));
}

static void render_gauges(FILE *f)
{
    render_header(f, "flashsaled_queue_depth", "gauge",
                  "Booking requests waiting in the queue.");
    fprintf(f, "flashsaled_queue_depth %llu\n",
            (unsigned long long)atomic_load_explicit(&queue_depth,
                                                     memory_order_relaxed));
    render_header(f, "flashsaled_start_time_seconds", "gauge",
                  "Unix time the daemon started, in seconds.");
    int64_t ms = atomic_load(&start_time_ms);
    fprintf(f, "flashsaled_start_time_seconds %lld.%03lld\n",
            (long long)(ms / 1000), (long long)(ms % 1000));
}

char *fs_metrics_render(size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    if (f == NULL)
        goto fail;
    render_requests(f);
    render_bookings(f);
    render_rejections(f);
    render_gauges(f);
    render_http(f);
    render_claim_audit(f);
    render_jwks(f);
    render_sale_queues(f);
    render_sale_answers(f);
    render_sale_items(f);
    render_backends(f);
    for (size_t h = 0; h < FS_HIST_COUNT; h++)
        render_histogram(f, &histograms[h]);
    if (ferror(f)) {
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0)
        goto fail;
    if (len != NULL)
        *len = size;
    return buf;
fail:
    free(buf);
    return NULL;
}
