/*
 * claim_batch.h - makes claims durable in batches (fs_claim_ops).
 *
 * A request whose message the queue confirmed must mark its claim durable
 * before it may answer 202. Requests of one sale share that step the way
 * they share the queue's confirm window: the first request to arrive while
 * no call is in flight sends every id gathered so far in one
 * claim_durable() call; the others wait for its answer, and those arriving
 * meanwhile go in the next call (group commit). With a broker, one Redis
 * round trip thus serves a whole confirm window.
 */
#ifndef FS_CLAIM_BATCH_H
#define FS_CLAIM_BATCH_H

#include <pthread.h>

#include "backends.h"

struct fs_claim_waiter;

struct fs_claim_batch {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int flushing;  /* a claim_durable() call is in flight */
    struct fs_claim_waiter *head, *tail;
};

void fs_claim_batch_init(struct fs_claim_batch *b);
void fs_claim_batch_free(struct fs_claim_batch *b);

/* FS_OK: the claim is durable (or already a hold), the request may answer
 * 202. FS_EXPIRED: the claim went back first (lease ran out, or the
 * inventory lost the sale's state). Anything else: the inventory could not
 * say; the claim may be durable or not. */
enum fs_status fs_claim_batch_durable(struct fs_claim_batch *b,
                                      struct fs_backends *be,
                                      const char *sale_id,
                                      const char *booking_id);

#endif
