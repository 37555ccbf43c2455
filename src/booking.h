/*
 * booking.h - the booking service: the accept path and the client-facing
 * state changes (confirm, cancel), the sale view, and the per-sale runtime
 * state the worker and sweeper share. Knows plugins only through backends.h.
 */
#ifndef FS_BOOKING_H
#define FS_BOOKING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "backends.h"
#include "config.h"
#include "message.h"
#include "sales.h"

/* Bookings whose insert or undo timed out: the client was told 503, so a
 * record that storage applied after all must not stay queued. */
#define FS_DOUBTFUL_MAX 4096

struct fs_service {
    const struct fs_config *cfg;
    struct fs_backends *be;
    struct fs_sales sales;
    char instance_id[FS_INSTANCE_ID_LEN + 1];
    atomic_int accepting;  /* 0 once shutdown began: new bookings get 503 */
    /* Bumped by every rebuild of a sale's inventory state: a worker batch
     * that straddles one re-asserts its holds (see worker.c). */
    atomic_uint rebuilds;
    /* The queue outlives this process and may be consumed by other daemons
     * (FS_QUEUE_DURABLE): `pending` then cannot be trusted across them. */
    int shared_queue;
    pthread_mutex_t doubtful_lock;
    char (*doubtful)[FS_ID_MAX + 1];  /* FS_DOUBTFUL_MAX ids */
    size_t n_doubtful;
};

struct fs_sale_view {
    const char *sale_id;
    struct fs_sale_counts counts;
    const char *state;  /* scheduled, open, sold_out, closed */
};

int fs_service_init(struct fs_service *svc, const struct fs_config *cfg,
                    struct fs_backends *be);
void fs_service_free(struct fs_service *svc);
struct fs_sale *fs_service_sale(struct fs_service *svc, const char *sale_id);

/* The accept path. FS_OK: out holds the queued booking (answer 202).
 * FS_NOT_FOUND: no such sale. FS_CLOSED: sale not open. FS_SOLD_OUT: no stock
 * left counting this daemon's pending bookings. FS_DUPLICATE: the user has an
 * active booking, its id in existing. FS_QUEUE_FULL: the sale's queue is at
 * sales[].max_queued. FS_UNAVAILABLE and FS_QUEUE_FULL: nothing was
 * accepted. */
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

/* Takes back bookings whose 503 may not have been true: any still queued in
 * storage becomes deleted. Returns how many were settled. The sweeper calls
 * it; ids stay until storage answers. */
size_t fs_booking_settle_doubtful(struct fs_service *svc);

/* Publishes a message for a booking already recorded as queued. The caller
 * counts it in its sale's `pending`. */
enum fs_status fs_booking_publish(struct fs_service *svc,
                                  const struct fs_booking *b);

#endif
