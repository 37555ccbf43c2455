/*
 * sale_replica.h - this daemon's copy of every sale's counts, fed by the
 * inventory plugin's change feed (fs_plugin.h, struct fs_change_ops; wired
 * up by change_feed.c), so that sold-out answers and sale views cost no
 * backend round trip.
 *
 * Trust: a sale's copy is used only while the feed is live and synced (the
 * registry's replica_live: subscribed, and one sync read every sale since)
 * and the sale is known to the backend. Otherwise callers ask the inventory,
 * as without a feed. A stale copy errs only one way that matters: it may say
 * "items left" when there are none, and the inventory's claim then decides;
 * it may say "sold out" after an item came back only until the change's
 * message arrives, and a missed message is repaired by the next sync.
 *
 * One writer (the plugin's feed thread), many readers (request threads):
 * a sequence lock, so that a reader never sees the counts of two changes
 * mixed and never waits.
 */
#ifndef FS_SALE_REPLICA_H
#define FS_SALE_REPLICA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

struct fs_replica_holder;

struct fs_sale_replica {
    atomic_uint version;  /* odd while the writer is mid-update */
    atomic_int_fast64_t inventory, available, held, booked;
    atomic_int known;  /* 0: never reported, or the backend has no state */
    /* Users who took an item of the sale since the feed's last full sync
     * with holders: such a user's request goes to the inventory even when
     * the sale is sold out, to hear already_booked and the booking id (a
     * client that lost its 202 asks again to learn it). Never shrinks: a
     * user who gave the item back only costs one inventory call. */
    pthread_rwlock_t holders_lock;
    struct fs_replica_holder *holders;
};

void fs_sale_replica_init(struct fs_sale_replica *r);
void fs_sale_replica_free(struct fs_sale_replica *r);

/* The feed's thread only. */
void fs_sale_replica_store(struct fs_sale_replica *r,
                           const struct fs_sale_counts *c);
void fs_sale_replica_forget(struct fs_sale_replica *r);
/* 0, or -1 when out of memory (the caller must then stop trusting the
 * replicas: a holder could be told sold_out). */
int fs_sale_replica_add_holder(struct fs_sale_replica *r, const char *user_id);

/* 1 if the user may hold an item of the sale. */
int fs_sale_replica_may_hold(struct fs_sale_replica *r, const char *user_id);

/* 1 with the counts in *out if the copy is known, else 0. The caller checks
 * that the feed is live (fs_sales_replica_live). */
int fs_sale_replica_read(struct fs_sale_replica *r, struct fs_sale_counts *out);

#endif
