/* sales.c - the sale registry: lookup, opening times, reload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sales.h"

static void sale_set(struct fs_sale *sale, const struct fs_sale_config *c)
{
    atomic_store(&sale->hold_seconds, c->hold_seconds);
    atomic_store(&sale->max_queued, c->max_queued);
    atomic_store(&sale->starts_at_ms, c->starts_at_ms);
    atomic_store(&sale->ends_at_ms, c->ends_at_ms);
}

static void sale_init(struct fs_sale *sale, const struct fs_sale_config *c)
{
    snprintf(sale->id, sizeof(sale->id), "%s", c->id);
    atomic_init(&sale->inventory, c->inventory);
    atomic_init(&sale->hold_seconds, c->hold_seconds);
    atomic_init(&sale->max_queued, c->max_queued);
    atomic_init(&sale->starts_at_ms, c->starts_at_ms);
    atomic_init(&sale->ends_at_ms, c->ends_at_ms);
    atomic_init(&sale->pending, 0);
    pthread_mutex_init(&sale->rebuild_lock, NULL);
    fs_claim_batch_init(&sale->claims);
    fs_sale_replica_init(&sale->replica);
}

int fs_sales_init(struct fs_sales *s, const struct fs_config *cfg)
{
    memset(s, 0, sizeof(*s));
    s->cap = cfg->n_sales + FS_SALES_RELOAD_ROOM;
    s->items = calloc(s->cap, sizeof(*s->items));
    if (!s->items)
        return -1;
    for (size_t i = 0; i < cfg->n_sales; i++)
        sale_init(&s->items[i], &cfg->sales[i]);
    atomic_init(&s->n, cfg->n_sales);
    atomic_init(&s->replica_live, 0);
    pthread_mutex_init(&s->write_lock, NULL);
    return 0;
}

void fs_sales_free(struct fs_sales *s)
{
    size_t n = atomic_load(&s->n);
    if (!s->items)
        return;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_destroy(&s->items[i].rebuild_lock);
        fs_claim_batch_free(&s->items[i].claims);
        fs_sale_replica_free(&s->items[i].replica);
    }
    pthread_mutex_destroy(&s->write_lock);
    free(s->items);
    s->items = NULL;
}

size_t fs_sales_count(struct fs_sales *s)
{
    return atomic_load(&s->n);
}

struct fs_sale *fs_sales_at(struct fs_sales *s, size_t i)
{
    return i < atomic_load(&s->n) ? &s->items[i] : NULL;
}

struct fs_sale *fs_sales_find(struct fs_sales *s, const char *id)
{
    size_t n = atomic_load(&s->n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->items[i].id, id) == 0)
            return &s->items[i];
    return NULL;
}

int fs_sale_is_open(const struct fs_sale *sale, int64_t now_ms)
{
    int64_t starts = atomic_load(&sale->starts_at_ms);
    int64_t ends = atomic_load(&sale->ends_at_ms);
    if (starts && now_ms < starts)
        return 0;
    if (ends && now_ms >= ends)
        return 0;
    return 1;
}

int fs_sale_replica_counts(struct fs_sales *s, struct fs_sale *sale,
                           struct fs_sale_counts *out)
{
    return atomic_load(&s->replica_live) &&
           fs_sale_replica_read(&sale->replica, out);
}

int fs_sale_replica_sold_out(struct fs_sales *s, struct fs_sale *sale,
                             const char *user_id)
{
    struct fs_sale_counts c;

    return fs_sale_replica_counts(s, sale, &c) && c.available <= 0 &&
           !fs_sale_replica_may_hold(&sale->replica, user_id);
}

struct fs_sale *fs_sales_upsert(struct fs_sales *s, const struct fs_sale_config *c,
                                int *added)
{
    struct fs_sale *sale = fs_sales_find(s, c->id);
    size_t n = atomic_load(&s->n);

    *added = 0;
    if (sale) {
        sale_set(sale, c);
        return sale;
    }
    if (n == s->cap)
        return NULL;
    sale_init(&s->items[n], c);
    /* Published only once whole: readers see n + 1 after the entry. */
    atomic_store(&s->n, n + 1);
    *added = 1;
    return &s->items[n];
}
