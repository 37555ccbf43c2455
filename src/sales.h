/*
 * sales.h - the sales this daemon serves, as they stand now.
 *
 * A sale's settings (inventory, hold time, opening times) come from the
 * config and change on SIGHUP while requests read them, so each is an atomic;
 * sales are added on reload but never removed or moved (a sale dropped from
 * the config is closed), so a struct fs_sale pointer stays valid for the
 * daemon's life and readers need no lock.
 */
#ifndef FS_SALES_H
#define FS_SALES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "claim_batch.h"
#include "config.h"
#include "sale_replica.h"

/* Sales a reload may add beyond those configured at start. */
#define FS_SALES_RELOAD_ROOM 256

struct fs_sale {
    char id[FS_ID_MAX + 1];
    atomic_int_fast64_t inventory;     /* configured total */
    atomic_int_fast64_t hold_seconds;
    atomic_int_fast64_t starts_at_ms;  /* 0: open from the start */
    atomic_int_fast64_t ends_at_ms;    /* 0: never closes */
    /* Bookings this daemon accepted and its worker has not decided yet:
     * bounded by max_queued; with an inventory plugin without claims
     * (fs_plugin.h), the accept path also answers sold_out once they cover
     * the available stock. */
    atomic_int_fast64_t pending;
    /* The most `pending` may reach (sales[].max_queued); past it the accept
     * path answers 503 and accepts nothing. 0: no limit but the stock. */
    atomic_int_fast64_t max_queued;
    /* Serializes rebuilding this sale's inventory state from storage. */
    pthread_mutex_t rebuild_lock;
    /* Marks this sale's claims durable, many requests per call. */
    struct fs_claim_batch claims;
    /* Draining (drain.c): the inventory's state was rebuilt from storage
     * while requests this daemon accepted may still be in the queue,
     * unrecorded; accepts answer 503 until the marker published at the
     * rebuild (drain_token) comes back through this daemon's worker. */
    atomic_int draining;
    atomic_uint_fast64_t drain_token;
    atomic_int_fast64_t drain_sent_ms;  /* 0: the marker is not published */
    /* The counts as the inventory's change feed last reported them. */
    struct fs_sale_replica replica;
};

struct fs_sales {
    struct fs_sale *items;  /* cap entries, the first `n` in use */
    size_t cap;
    atomic_size_t n;
    pthread_mutex_t write_lock;  /* one reload at a time */
    /* 1 while the inventory's change feed is subscribed and has synced
     * every sale, with its holders, since (change_feed.c): only then are
     * the replicas used. */
    atomic_int replica_live;
};

int fs_sales_init(struct fs_sales *s, const struct fs_config *cfg);
void fs_sales_free(struct fs_sales *s);

size_t fs_sales_count(struct fs_sales *s);
struct fs_sale *fs_sales_at(struct fs_sales *s, size_t i);
/* NULL when no such sale. */
struct fs_sale *fs_sales_find(struct fs_sales *s, const char *id);

/* 1 if the sale accepts bookings at now_ms. */
int fs_sale_is_open(const struct fs_sale *sale, int64_t now_ms);

/* The sale's replicated counts, if they can be trusted now (the feed is
 * live and the sale known): 1 with *out filled, else 0 (ask the inventory). */
int fs_sale_replica_counts(struct fs_sales *s, struct fs_sale *sale,
                           struct fs_sale_counts *out);
/* 1 if the trusted replica says no item is left and the user holds none:
 * answer sold_out without asking the inventory. */
int fs_sale_replica_sold_out(struct fs_sales *s, struct fs_sale *sale,
                             const char *user_id);

/* Reload: takes the times and hold of `c` for the sale of its id, adding the
 * sale if it is new (*added = 1). The inventory is the caller's to apply (the
 * backend may refuse it). NULL when there is no room for a new sale. Call
 * with the write lock held. */
struct fs_sale *fs_sales_upsert(struct fs_sales *s, const struct fs_sale_config *c,
                                int *added);

#endif
