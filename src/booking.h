/*
 * booking.h - the booking service: the accept path and the client-facing
 * state changes (confirm, cancel) and the sale view. The service's shared
 * state is service.h's. Knows plugins only through backends.h.
 */
#ifndef FS_BOOKING_H
#define FS_BOOKING_H

#include <stdint.h>

#include "service.h"

struct fs_sale_view {
    const char *sale_id;
    struct fs_sale_counts counts;
    const char *state;  /* scheduled, open, sold_out, closed */
};

/* The accept path. FS_OK: out holds the queued booking (answer 202); with
 * claims, its item is taken and the request durably queued. FS_NOT_FOUND: no
 * such sale. FS_CLOSED: sale not open. FS_SOLD_OUT: no stock left (without
 * claims: counting this daemon's pending bookings). FS_DUPLICATE: the user
 * has an active booking, its id in existing. FS_QUEUE_FULL: the sale's queue
 * is at sales[].max_queued. FS_UNAVAILABLE: a backend is away, or, with
 * claims, the user's earlier request is still waiting for its confirm. On
 * FS_UNAVAILABLE and FS_QUEUE_FULL nothing was accepted. */
enum fs_status fs_booking_accept(struct fs_service *svc, const char *sale_id,
                                 const char *user_id, uint32_t hold_seconds,
                                 struct fs_booking *out,
                                 char existing[FS_ID_MAX + 1]);

/* The booking if it belongs to user_id and sale_id, else FS_NOT_FOUND. */
enum fs_status fs_booking_get(struct fs_service *svc, const char *user_id,
                              const char *sale_id, const char *booking_id,
                              struct fs_booking *out);

/* hold -> booked. FS_CONFLICT when not a live hold (out holds the booking as
 * it stands). */
enum fs_status fs_booking_confirm(struct fs_service *svc, const char *user_id,
                                  const char *sale_id, const char *booking_id,
                                  struct fs_booking *out);

/* queued | hold -> deleted, giving the item back once. FS_CONFLICT for
 * anything else. */
enum fs_status fs_booking_cancel(struct fs_service *svc, const char *user_id,
                                 const char *sale_id, const char *booking_id,
                                 struct fs_booking *out);

enum fs_status fs_sale_get_view(struct fs_service *svc, const char *sale_id,
                                struct fs_sale_view *out);

/* The sale's booking requests accepted and not yet decided, for /metrics
 * and the admin page. See booking.c for which count stands for it. */
int64_t fs_sale_queued(struct fs_service *svc, struct fs_sale *sale);

/* Takes back bookings whose 503 may not have been true: any still queued in
 * storage becomes deleted. Returns how many were settled. The sweeper calls
 * it, for at most budget_ms a call; ids stay until storage answers. */
size_t fs_booking_settle_doubtful(struct fs_service *svc, int64_t budget_ms);

#endif
