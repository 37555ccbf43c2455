/*
 * worker.h - the queue consumer: takes accepted bookings in the order they
 * were accepted, reserves each in the inventory, records the outcome in
 * storage (one durable write per batch) and acks only after both.
 */
#ifndef FS_WORKER_H
#define FS_WORKER_H

#include <pthread.h>
#include <stdatomic.h>

#include "booking.h"

struct fs_worker {
    struct fs_service *svc;
    pthread_t thread;
    atomic_int running;
    int started;
};

int fs_worker_start(struct fs_worker *w, struct fs_service *svc);
/* Finishes the batch in hand, hands back what it has not started, joins. */
void fs_worker_stop(struct fs_worker *w);

/* One round: consume up to a batch, decide it, ack it. Returns the number of
 * messages handled (0 on timeout). Exposed for tests. */
size_t fs_worker_run_once(struct fs_worker *w, int timeout_ms);

#endif
