/*
 * service.h - the booking service's shared state (struct fs_service) and
 * what both the accept path (booking.c) and recovery (recovery.c) need of
 * it: setting it up, finding a sale, publishing a booking's message.
 */
#ifndef FS_SERVICE_H
#define FS_SERVICE_H

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
    /* The queue outlives this process (FS_QUEUE_DURABLE). */
    int durable_queue;
    /* ... and other daemons may consume it (not FS_QUEUE_LOCAL): `pending`
     * then cannot be trusted across them. */
    int shared_queue;
    /* The inventory plugin offers claims (fs_plugin.h): the accept path
     * takes the item itself, exactly, on any number of daemons. */
    int claims;
    /* Storage off the accept path (issue 14 item 3): with a durable queue,
     * claims and a storage plugin with insert_many, a 202 writes nothing
     * to storage; the worker records each booking as it decides it (on
     * the embedded default, the journal queue: issue 15 item 6). With
     * the memory queue the record stays on the accept path, since the
     * queue dies with the process and the record is what re-queues it. */
    int records_by_worker;
    pthread_mutex_t doubtful_lock;
    char (*doubtful)[FS_ID_MAX + 1];  /* FS_DOUBTFUL_MAX ids */
    char (*settling)[FS_ID_MAX + 1];  /* the sweeper's: swapped with doubtful */
    size_t n_doubtful;
};

int fs_service_init(struct fs_service *svc, const struct fs_config *cfg,
                    struct fs_backends *be);
void fs_service_free(struct fs_service *svc);
struct fs_sale *fs_service_sale(struct fs_service *svc, const char *sale_id);

/* Publishes a message for a booking already recorded as queued. Without
 * claims, the caller counts it in its sale's `pending`. */
enum fs_status fs_service_publish(struct fs_service *svc,
                                  const struct fs_booking *b);
/* Publishes a booking's message again (claim_audit.h), from no daemon: no
 * worker counts it in a sale's `pending`. */
enum fs_status fs_service_republish(struct fs_service *svc,
                                    const struct fs_booking *b);

/* The queue's depth, for the admin page. */
enum fs_status fs_service_queue_depth(struct fs_service *svc, uint64_t *out);

/* The booking `user` holds or booked in `sale`, across every daemon sharing
 * the inventory: FS_OK with its id, FS_NOT_FOUND when none. */
enum fs_status fs_service_user_booking(struct fs_service *svc, const char *sale,
                                       const char *user,
                                       char id[FS_ID_MAX + 1]);

#endif
