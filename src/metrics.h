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
/* Rejections by reason: sold_out, duplicate, policy, closed. */
void fs_metrics_rejected(const char *reason);

uint64_t fs_metrics_request_count(enum fs_route route, int status);
uint64_t fs_metrics_booking_count(enum fs_booking_state state);

/* Writes the whole Prometheus text exposition (version 0.0.4) into a malloc'd
 * buffer. The caller frees it. */
char *fs_metrics_render(size_t *len);

const char *fs_route_name(enum fs_route route);

#endif
