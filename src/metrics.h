/*
 * metrics.h - the daemon's counters and their Prometheus text.
 *
 * All counters are lock-free atomics so that request threads never contend on
 * a lock to count. Histograms have fixed bucket bounds in seconds.
 */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

enum fs_route {
    FS_ROUTE_BOOK = 0,      /* POST book-item */
    FS_ROUTE_BOOKING_GET,
    FS_ROUTE_BOOKING_PUT,
    FS_ROUTE_BOOKING_DELETE,
    FS_ROUTE_BOOKING_EVENTS,
    FS_ROUTE_SALE,
    FS_ROUTE_HEALTH,
    FS_ROUTE_READY,
    FS_ROUTE_METRICS,
    FS_ROUTE_ADMIN,
    FS_ROUTE_OPENAPI,       /* GET /openapi.yaml */
    FS_ROUTE_OTHER,
    FS_ROUTE_COUNT
};

enum fs_histogram_id {
    FS_HIST_ACCEPT = 0,   /* accept path: request in -> 202 out */
    FS_HIST_RESERVE,      /* worker: one inventory reserve */
    FS_HIST_COUNT
};

void fs_metrics_init(void);
/* status: HTTP status code, 100..599. */
void fs_metrics_request(enum fs_route route, int status);
/* A booking entered `state` (bookings_total{state=...}). */
void fs_metrics_booking(enum fs_booking_state state);
void fs_metrics_observe(enum fs_histogram_id h, double seconds);
void fs_metrics_set_queue_depth(uint64_t depth);
/* The HTTP server's connections (src/http/http_server.c): changes (+1 or
 * -1) of those served and those being shed, the limit, and each request
 * shed. Deltas, not values: two threads storing the values they computed
 * could leave a stale one. */
void fs_metrics_http_connections(long served_delta, long shedding_delta);
void fs_metrics_http_limit(long max_connections);
void fs_metrics_http_shed(void);
/* Messages the claim audit published again (claim_audit.h). */
void fs_metrics_claims_republished(size_t n);
/* The IdP's keys (src/jwks_fetch.c): one refresh of `source` ("file" or
 * "url") that worked or failed; the keys held now and whether the URL's are
 * stale (its last fetch failed, the cached ones still serve). */
void fs_metrics_jwks_refresh(const char *source, int ok);
void fs_metrics_jwks_state(long keys, int stale);
uint64_t fs_metrics_http_shed_count(void);
/* Rejections by reason: sold_out, duplicate, policy, closed. */
void fs_metrics_rejected(const char *reason);

uint64_t fs_metrics_request_count(enum fs_route route, int status);
uint64_t fs_metrics_booking_count(enum fs_booking_state state);

/* Writes the whole Prometheus text exposition (version 0.0.4) into a malloc'd
 * buffer. The caller frees it. */
char *fs_metrics_render(size_t *len);

const char *fs_route_name(enum fs_route route);

/* ---- readers for the admin page (src/http/http_admin.c) ---------------------- */

/* Histogram buckets: 13 upper bounds and +Inf. */
#define FS_METRICS_BUCKETS 14
/* Rejection reasons: sold_out, duplicate, policy, closed, and the catch-all
 * "other". */
#define FS_METRICS_REASONS 5

const char *fs_metrics_reason_name(size_t i);  /* i < FS_METRICS_REASONS */
uint64_t fs_metrics_rejected_count(size_t i);
uint64_t fs_metrics_queue_depth(void);
/* Copies the per-bucket (not cumulative) counts of `h`. */
void fs_metrics_histogram(enum fs_histogram_id h,
                          uint64_t out[FS_METRICS_BUCKETS]);
/* Estimates the q-quantile (0 < q < 1) in seconds from per-bucket counts,
 * interpolating linearly inside the bucket as Prometheus'
 * histogram_quantile() does. -1 when the counts are all zero. */
double fs_metrics_quantile(const uint64_t counts[FS_METRICS_BUCKETS], double q);

/* Per sale, the decisions the inventory counts cannot show: holds that
 * expired and requests rejected, by reason. Sales are counted in a fixed
 * table of FS_METRICS_SALES_MAX slots claimed on first use, lock-free; a
 * sale past it is counted only in the totals. */
#define FS_METRICS_SALES_MAX 1024
void fs_metrics_sale_expired(const char *sale_id);
void fs_metrics_sale_rejected(const char *sale_id, const char *reason);

struct fs_metrics_sale {
    uint64_t expired;
    uint64_t queue_full;  /* 503s past the sale's queue depth */
    uint64_t rejected[FS_METRICS_REASONS];  /* by fs_metrics_reason_name() */
};
/* The sale's queue as it stands (set when /metrics is read) and each
 * request refused because it was full. */
void fs_metrics_sale_queue(const char *sale_id, int64_t queued, int64_t max);
void fs_metrics_sale_queue_full(const char *sale_id);
/* A booking request (POST) of a known sale answered with `status`. */
void fs_metrics_sale_answer(const char *sale_id, int status);
/* The sale's items as the inventory counts them (set when /metrics is read):
 * inventory, available, held, booked. */
#define FS_METRICS_ITEM_KINDS 4
void fs_metrics_sale_items(const char *sale_id,
                           const int64_t items[FS_METRICS_ITEM_KINDS]);
/* Each backend's readiness (set when /metrics is read); kind: 0 queue,
 * 1 inventory, 2 storage. `plugin` must outlive the process's metrics. */
#define FS_METRICS_BACKENDS 3
void fs_metrics_backend_ready(size_t kind, const char *plugin, int ready);
void fs_metrics_event_streams(int64_t open);
/* Zeros when the sale has not been counted yet. */
void fs_metrics_sale_get(const char *sale_id, struct fs_metrics_sale *out);

#endif
