/* claim_batch.c - group commit of claim_durable() calls, per sale. */
#include <stddef.h>

#include "claim_batch.h"

/* Ids per call; more wait for the next call. Kept on the flusher's stack. */
#define CLAIM_BATCH_MAX 256

struct fs_claim_waiter {
    const char *booking_id;
    enum fs_status result;
    int done;
    struct fs_claim_waiter *next;
};

void fs_claim_batch_init(struct fs_claim_batch *b)
{
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->done, NULL);
    b->flushing = 0;
    b->head = b->tail = NULL;
}

void fs_claim_batch_free(struct fs_claim_batch *b)
{
    pthread_cond_destroy(&b->done);
    pthread_mutex_destroy(&b->lock);
}

/* One id's outcome of a call that answered rc. A sale the inventory no
 * longer knows has no claims left. */
static enum fs_status claim_result(enum fs_status rc, enum fs_status result)
{
    return rc == FS_OK ? result : rc == FS_NOT_FOUND ? FS_EXPIRED : rc;
}

/* Called with b->lock held, returns with it held: sends what has gathered
 * (up to CLAIM_BATCH_MAX) in one call, without the lock, so that others
 * keep gathering for the next call meanwhile. */
static void flush(struct fs_claim_batch *b, struct fs_backends *be,
                  const char *sale_id)
{
    struct fs_claim_waiter *w[CLAIM_BATCH_MAX];
    const char *ids[CLAIM_BATCH_MAX];
    enum fs_status results[CLAIM_BATCH_MAX];
    enum fs_status rc;
    size_t n = 0;

    while (b->head && n < CLAIM_BATCH_MAX) {
        w[n] = b->head;
        ids[n] = w[n]->booking_id;
        b->head = b->head->next;
        n++;
    }
    if (!b->head)
        b->tail = NULL;
    b->flushing = 1;
    pthread_mutex_unlock(&b->lock);
    rc = fs_inventory_claim_durable(be, sale_id, ids, n, results);
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < n; i++) {
        w[i]->result = claim_result(rc, results[i]);
        w[i]->done = 1;
    }
    b->flushing = 0;
    pthread_cond_broadcast(&b->done);
}

enum fs_status fs_claim_batch_durable(struct fs_claim_batch *b,
                                      struct fs_backends *be,
                                      const char *sale_id,
                                      const char *booking_id)
{
    struct fs_claim_waiter me = {.booking_id = booking_id};

    /* Nothing to gather for: waiting on another request's call would cost
     * a sleep and a wake-up, more than the call itself. */
    if (fs_inventory_in_process(be)) {
        enum fs_status rc = fs_inventory_claim_durable(be, sale_id,
                                                       &booking_id, 1,
                                                       &me.result);
        return claim_result(rc, me.result);
    }
    pthread_mutex_lock(&b->lock);
    if (b->tail)
        b->tail->next = &me;
    else
        b->head = &me;
    b->tail = &me;
    while (!me.done) {
        if (!b->flushing)
            flush(b, be, sale_id);
        else
            pthread_cond_wait(&b->done, &b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return me.result;
}
