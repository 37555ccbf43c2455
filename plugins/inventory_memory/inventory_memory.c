/*
 * inventory_memory.c - the embedded inventory plugin: per-sale stock, holds
 * and booked items in process memory.
 *
 * It owns every sale's state from rebuild() until destroy(). Each sale has its
 * own mutex, so requests for different sales never contend; the table of sales
 * is behind a rwlock that is held only to find or add a sale. Sales are never
 * removed before destroy(), so a sale pointer found under the read lock stays
 * valid after the lock is dropped.
 *
 * A sale's entries (one per hold or booked item) are indexed twice, by
 * booking id and by user id (the one-per-user rule), and the holds among them
 * are also on a list that expire_due() scans, so booked items never slow the
 * sweeper down. Every count change happens under the sale's mutex together
 * with the entry change it reflects, which keeps
 * available + held + booked == inventory and held + booked <= inventory true
 * for any observer.
 *
 * Claims (fs_claim_ops) are entries too, with state FS_STATE_QUEUED: taken
 * at accept time, indexed like holds (so one per user covers them), counted
 * in `claimed`, and, until made durable, on a `leases` list that
 * claim_expire() scans; available + held + booked + claimed == inventory.
 *
 * A hold whose expiry has passed stays a hold until expire_due() reports it
 * (or release() takes it back): releasing it anywhere else would hide the
 * expiry from the core, which must record it in storage.
 */
#define HASH_NONFATAL_OOM 1

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>
#include <utlist.h>

#include "flashsaled/fs_plugin.h"

#define INVENTORY_MEMORY_NAME "memory"

static const struct fs_option inventory_memory_options[] = {
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

struct inv_entry {
    char booking_id[FS_ID_MAX + 1];
    char user_id[FS_USER_MAX + 1];
    /* FS_STATE_HOLD, FS_STATE_BOOKED, or FS_STATE_QUEUED for a claim */
    enum fs_booking_state state;
    int64_t expires_ms;  /* a hold's expiry, an unconfirmed claim's lease */
    int durable;         /* claims: the request is queued, no lease */
    UT_hash_handle hh;  /* sale->by_booking */
    UT_hash_handle uh;  /* sale->by_user */
    /* sale->holds for holds, sale->leases for unconfirmed claims */
    struct inv_entry *hold_prev, *hold_next;
};

struct inv_sale {
    char sale_id[FS_ID_MAX + 1];
    pthread_mutex_t lock;
    struct fs_sale_counts c;
    int64_t claimed;  /* claims, durable or not */
    /* No hold expires before this (a lower bound): lets an idle sweep return
     * without scanning. */
    int64_t next_due;
    struct inv_entry *by_booking;
    struct inv_entry *by_user;
    struct inv_entry *holds;
    struct inv_entry *leases;
    UT_hash_handle hh;  /* inv->sales */
};

struct inv_memory {
    pthread_rwlock_t lock;  /* guards `sales` (the table, not the sales) */
    struct inv_sale *sales;
};

/* ---- helpers ------------------------------------------------------------ */

static struct inv_sale *inv_sale_find(struct inv_memory *inv,
                                      const char *sale_id)
{
    struct inv_sale *s;

    pthread_rwlock_rdlock(&inv->lock);
    HASH_FIND_STR(inv->sales, sale_id, s);
    pthread_rwlock_unlock(&inv->lock);
    return s;
}

static struct inv_entry *inv_entry_by_booking(struct inv_sale *s,
                                              const char *booking_id)
{
    struct inv_entry *e;

    HASH_FIND_STR(s->by_booking, booking_id, e);
    return e;
}

static struct inv_entry *inv_entry_by_user(struct inv_sale *s,
                                           const char *user_id)
{
    struct inv_entry *e;

    HASH_FIND(uh, s->by_user, user_id, strlen(user_id), e);
    return e;
}

/* Indexes e in s; counts are the caller's. Fails only when out of memory,
 * leaving s unchanged. */
static int inv_entry_add(struct inv_sale *s, struct inv_entry *e)
{
    HASH_ADD_STR(s->by_booking, booking_id, e);
    if (!e->hh.tbl)
        return -1;
    HASH_ADD_KEYPTR(uh, s->by_user, e->user_id, strlen(e->user_id), e);
    if (!e->uh.tbl) {
        HASH_DELETE(hh, s->by_booking, e);
        return -1;
    }
    if (e->state == FS_STATE_HOLD) {
        DL_APPEND2(s->holds, e, hold_prev, hold_next);
        if (e->expires_ms < s->next_due)
            s->next_due = e->expires_ms;
    } else if (e->state == FS_STATE_QUEUED && !e->durable) {
        DL_APPEND2(s->leases, e, hold_prev, hold_next);
    }
    return 0;
}

static int inv_entry_leased(const struct inv_entry *e)
{
    return e->state == FS_STATE_QUEUED && !e->durable;
}

/* Unindexes and frees e; counts are the caller's. */
static void inv_entry_remove(struct inv_sale *s, struct inv_entry *e)
{
    HASH_DELETE(hh, s->by_booking, e);
    HASH_DELETE(uh, s->by_user, e);
    if (e->state == FS_STATE_HOLD)
        DL_DELETE2(s->holds, e, hold_prev, hold_next);
    else if (inv_entry_leased(e))
        DL_DELETE2(s->leases, e, hold_prev, hold_next);
    free(e);
}

/* The one place a hold or a claim gives its item back. */
static void inv_hold_give_back(struct inv_sale *s, struct inv_entry *e)
{
    if (e->state == FS_STATE_HOLD)
        s->c.held--;
    else
        s->claimed--;
    inv_entry_remove(s, e);
    s->c.available++;
}

static void inv_hold_book(struct inv_sale *s, struct inv_entry *e)
{
    DL_DELETE2(s->holds, e, hold_prev, hold_next);
    e->state = FS_STATE_BOOKED;
    e->expires_ms = 0;
    s->c.held--;
    s->c.booked++;
}

static void inv_entry_export(const struct inv_entry *e, struct fs_hold *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->booking_id, e->booking_id, sizeof(out->booking_id));
    memcpy(out->user_id, e->user_id, sizeof(out->user_id));
    out->state = e->state;
    out->expires_ms = e->expires_ms;
}

static struct inv_entry *inv_entry_new(const char *user_id,
                                       const char *booking_id,
                                       enum fs_booking_state state,
                                       int64_t expires_ms)
{
    struct inv_entry *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    /* The caller checked the lengths (fs_plugin_*_ok): these fit. */
    memcpy(e->booking_id, booking_id, strlen(booking_id) + 1);
    memcpy(e->user_id, user_id, strlen(user_id) + 1);
    e->state = state;
    e->expires_ms = state != FS_STATE_BOOKED ? expires_ms : 0;
    return e;
}

static void inv_sale_free(struct inv_sale *s)
{
    struct inv_entry *e, *tmp;

    if (!s)
        return;
    HASH_ITER(hh, s->by_booking, e, tmp)
        inv_entry_remove(s, e);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static struct inv_sale *inv_sale_new(const char *sale_id, int64_t inventory)
{
    struct inv_sale *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    memcpy(s->sale_id, sale_id, strlen(sale_id) + 1);  /* checked: fits */
    s->c.inventory = inventory;
    s->c.available = inventory;
    s->next_due = INT64_MAX;
    return s;
}

/* ---- lifecycle ---------------------------------------------------------- */

/* The descriptor's validate: the plugin has no options, so every (empty)
 * config is good. Set anyway, so that the loader's check is uniform and a
 * future option gets its check here, not in create(). */
static int inventory_memory_validate(const void *config, const char **key,
                                     char *err, size_t errlen)
{
    (void)config;
    (void)err;
    (void)errlen;
    *key = NULL;
    return 0;
}

/* The plugin has no options; config may be NULL. */
static int inventory_memory_create(const struct fs_host *host,
                                   const void *config, void **ctx, char *err,
                                   size_t errlen)
{
    struct inv_memory *inv;

    (void)host;
    (void)config;
    *ctx = NULL;
    inv = calloc(1, sizeof(*inv));
    if (!inv) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pthread_rwlock_init(&inv->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create a rwlock");
        goto fail;
    }
    *ctx = inv;
    return 0;

fail:
    free(inv);
    return -1;
}

static void inventory_memory_destroy(void *ctx)
{
    struct inv_memory *inv = ctx;
    struct inv_sale *s, *tmp;

    if (!inv)
        return;
    HASH_ITER(hh, inv->sales, s, tmp) {
        HASH_DEL(inv->sales, s);
        inv_sale_free(s);
    }
    pthread_rwlock_destroy(&inv->lock);
    free(inv);
}

static enum fs_status inventory_memory_health(void *ctx, char *detail,
                                              size_t len)
{
    struct inv_memory *inv = ctx;
    unsigned count;

    pthread_rwlock_rdlock(&inv->lock);
    count = HASH_COUNT(inv->sales);
    pthread_rwlock_unlock(&inv->lock);
    if (detail && len)
        snprintf(detail, len, "%u sales in memory", count);
    return FS_OK;
}

/* ---- operations --------------------------------------------------------- */

static enum fs_status inventory_memory_counts(void *ctx, const char *sale_id,
                                              struct fs_sale_counts *out)
{
    struct inv_sale *s;

    if (!fs_plugin_id_ok(sale_id) || !out)
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    *out = s->c;
    pthread_mutex_unlock(&s->lock);
    return FS_OK;
}

/* Adds one rebuilt entry to a sale nobody else sees yet. */
static enum fs_status inv_rebuild_entry(struct inv_sale *s,
                                        const struct fs_hold *h)
{
    struct inv_entry *e;

    if (!fs_plugin_id_ok(h->booking_id) ||
        !fs_plugin_user_ok(h->user_id) ||
        (h->state != FS_STATE_HOLD && h->state != FS_STATE_BOOKED &&
         h->state != FS_STATE_QUEUED))
        return FS_INVALID;
    /* Storage guarantees one active booking per user and unique ids; if it
     * says otherwise, installing it would break the invariants. */
    if (inv_entry_by_booking(s, h->booking_id) ||
        inv_entry_by_user(s, h->user_id))
        return FS_INVALID;
    e = inv_entry_new(h->user_id, h->booking_id, h->state, h->expires_ms);
    if (!e)
        return FS_ERROR;
    e->durable = h->state == FS_STATE_QUEUED;  /* queued: a durable claim */
    if (inv_entry_add(s, e) != 0) {
        free(e);
        return FS_ERROR;
    }
    if (h->state == FS_STATE_HOLD)
        s->c.held++;
    else if (h->state == FS_STATE_BOOKED)
        s->c.booked++;
    else
        s->claimed++;
    return FS_OK;
}

/* Builds the whole sale privately, then publishes it only if the table has
 * none: a concurrent rebuild of the same sale loses with FS_CONFLICT. */
static enum fs_status inventory_memory_rebuild(void *ctx, const char *sale_id,
                                               int64_t inventory,
                                               const struct fs_hold *entries,
                                               size_t n)
{
    struct inv_memory *inv = ctx;
    struct inv_sale *s = NULL, *present;
    enum fs_status st = FS_OK;
    size_t i;

    if (!fs_plugin_id_ok(sale_id) || inventory < 0 || (n && !entries))
        return FS_INVALID;
    if (inv_sale_find(inv, sale_id))
        return FS_CONFLICT;
    s = inv_sale_new(sale_id, inventory);
    if (!s)
        return FS_ERROR;
    for (i = 0; i < n && st == FS_OK; i++)
        st = inv_rebuild_entry(s, &entries[i]);
    if (st != FS_OK)
        goto fail;
    if (s->c.held + s->c.booked + s->claimed > inventory) {
        st = FS_INVALID;
        goto fail;
    }
    s->c.available = inventory - s->c.held - s->c.booked - s->claimed;

    pthread_rwlock_wrlock(&inv->lock);
    HASH_FIND_STR(inv->sales, sale_id, present);
    if (!present) {
        HASH_ADD_STR(inv->sales, sale_id, s);
        if (s->hh.tbl)
            s = NULL;  /* the table owns it now */
        else
            st = FS_ERROR;
    } else {
        st = FS_CONFLICT;
    }
    pthread_rwlock_unlock(&inv->lock);

fail:
    inv_sale_free(s);
    return st;
}

/* Called with s locked: the reserve decision, in the contract's order; a
 * claim (fresh->state queued) is the same decision with a leased entry.
 * fresh was allocated before the lock, so that no malloc runs under it;
 * *used says whether it is now the sale's. */
static enum fs_status inv_take_locked(struct inv_sale *s,
                                      struct inv_entry *fresh, int *used,
                                      char existing[FS_ID_MAX + 1])
{
    struct inv_entry *e = inv_entry_by_booking(s, fresh->booking_id);

    *used = 0;
    if (e) {
        /* A retried request: same booking, nothing more to take. A booking
         * id reused for another user is a caller bug, not a retry. */
        return strcmp(e->user_id, fresh->user_id) == 0 ? FS_OK : FS_CONFLICT;
    }
    e = inv_entry_by_user(s, fresh->user_id);
    if (e) {
        if (existing)
            memcpy(existing, e->booking_id, FS_ID_MAX + 1);
        /* An unconfirmed claim may still end either way: ask again later. */
        return fresh->state == FS_STATE_QUEUED && inv_entry_leased(e)
                   ? FS_UNAVAILABLE
                   : FS_DUPLICATE;
    }
    if (s->c.available <= 0)
        return FS_SOLD_OUT;
    if (inv_entry_add(s, fresh) != 0)
        return FS_ERROR;
    *used = 1;
    s->c.available--;
    if (fresh->state == FS_STATE_HOLD)
        s->c.held++;
    else
        s->claimed++;
    return FS_OK;
}

/* reserve (a hold until until_ms) and claim (a claim leased until
 * until_ms): the id checks, the sale's lock, then inv_take_locked. */
static enum fs_status inv_take(void *ctx, enum fs_booking_state state,
                               const char *sale_id, const char *user_id,
                               const char *booking_id, int64_t until_ms,
                               char existing[FS_ID_MAX + 1])
{
    struct inv_sale *s;
    struct inv_entry *fresh;
    enum fs_status st;
    int used;

    if (!fs_plugin_id_ok(sale_id) || !fs_plugin_user_ok(user_id) ||
        !fs_plugin_id_ok(booking_id))
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    fresh = inv_entry_new(user_id, booking_id, state, until_ms);
    if (!fresh)
        return FS_ERROR;
    pthread_mutex_lock(&s->lock);
    st = inv_take_locked(s, fresh, &used, existing);
    pthread_mutex_unlock(&s->lock);
    if (!used)
        free(fresh);
    return st;
}

static enum fs_status inventory_memory_reserve(void *ctx, const char *sale_id,
                                               const char *user_id,
                                               const char *booking_id,
                                               int64_t expires_ms,
                                               char existing[FS_ID_MAX + 1])
{
    return inv_take(ctx, FS_STATE_HOLD, sale_id, user_id, booking_id,
                    expires_ms, existing);
}

static enum fs_status inventory_memory_confirm(void *ctx, const char *sale_id,
                                               const char *booking_id,
                                               int64_t now_ms)
{
    struct inv_sale *s;
    struct inv_entry *e;
    enum fs_status st = FS_OK;

    if (!fs_plugin_id_ok(sale_id) || !fs_plugin_id_ok(booking_id))
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    e = inv_entry_by_booking(s, booking_id);
    if (!e)
        st = FS_NOT_FOUND;
    else if (e->state == FS_STATE_BOOKED)
        st = FS_OK;
    else if (e->state != FS_STATE_HOLD)
        st = FS_NOT_FOUND;  /* a claim is not a hold yet */
    else if (e->expires_ms <= now_ms)
        st = FS_EXPIRED;  /* expire_due gives the item back, exactly once */
    else
        inv_hold_book(s, e);
    pthread_mutex_unlock(&s->lock);
    return st;
}

static enum fs_status inventory_memory_release(void *ctx, const char *sale_id,
                                               const char *booking_id)
{
    struct inv_sale *s;
    struct inv_entry *e;
    enum fs_status st = FS_OK;

    if (!fs_plugin_id_ok(sale_id) || !fs_plugin_id_ok(booking_id))
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    e = inv_entry_by_booking(s, booking_id);
    if (!e)
        st = FS_NOT_FOUND;
    else if (e->state == FS_STATE_BOOKED)
        st = FS_CONFLICT;
    else
        inv_hold_give_back(s, e);
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* Called with s locked. Scans holds only; next_due is recomputed from the
 * holds left so that the next idle sweep costs nothing. */
static size_t inv_expire_locked(struct inv_sale *s, int64_t now_ms,
                                struct fs_hold *out, size_t max)
{
    struct inv_entry *e, *tmp;
    int64_t next_due = INT64_MAX;
    size_t got = 0;

    if (now_ms < s->next_due)
        return 0;
    DL_FOREACH_SAFE2(s->holds, e, tmp, hold_next) {
        if (e->expires_ms <= now_ms && got < max) {
            inv_entry_export(e, &out[got++]);
            inv_hold_give_back(s, e);
        } else if (e->expires_ms < next_due) {
            next_due = e->expires_ms;
        }
    }
    s->next_due = next_due;
    return got;
}

static enum fs_status inventory_memory_expire_due(void *ctx,
                                                  const char *sale_id,
                                                  int64_t now_ms,
                                                  struct fs_hold *out,
                                                  size_t max, size_t *n)
{
    struct inv_sale *s;

    if (n)
        *n = 0;
    if (!fs_plugin_id_ok(sale_id) || !n || (max && !out))
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    if (!max)
        return FS_OK;
    pthread_mutex_lock(&s->lock);
    *n = inv_expire_locked(s, now_ms, out, max);
    pthread_mutex_unlock(&s->lock);
    return FS_OK;
}

static enum fs_status inventory_memory_lookup(void *ctx, const char *sale_id,
                                              const char *booking_id,
                                              struct fs_hold *out)
{
    struct inv_sale *s;
    struct inv_entry *e;

    if (!fs_plugin_id_ok(sale_id) || !fs_plugin_id_ok(booking_id) ||
        !out)
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    e = inv_entry_by_booking(s, booking_id);
    if (e)
        inv_entry_export(e, out);
    pthread_mutex_unlock(&s->lock);
    return e ? FS_OK : FS_NOT_FOUND;
}

/* The core creates a sale with rebuild(); this only changes a known one. */
static enum fs_status inventory_memory_set_inventory(void *ctx,
                                                     const char *sale_id,
                                                     int64_t inventory)
{
    struct inv_sale *s;
    enum fs_status st = FS_OK;

    if (!fs_plugin_id_ok(sale_id) || inventory < 0)
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    if (inventory < s->c.held + s->c.booked + s->claimed) {
        st = FS_CONFLICT;
    } else {
        s->c.inventory = inventory;
        s->c.available = inventory - s->c.held - s->c.booked - s->claimed;
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

static enum fs_status inventory_memory_find_user(void *ctx, const char *sale_id,
                                                 const char *user_id,
                                                 char booking_id[FS_ID_MAX + 1])
{
    struct inv_sale *s;
    struct inv_entry *e;

    if (!fs_plugin_id_ok(sale_id) || !fs_plugin_user_ok(user_id) ||
        !booking_id)
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    e = inv_entry_by_user(s, user_id);
    if (e)
        memcpy(booking_id, e->booking_id, sizeof(e->booking_id));
    pthread_mutex_unlock(&s->lock);
    return e ? FS_OK : FS_NOT_FOUND;
}

/* ---- claims (fs_claim_ops) ---------------------------------------------- */

static enum fs_status inventory_memory_claim(void *ctx, const char *sale_id,
                                             const char *user_id,
                                             const char *booking_id,
                                             int64_t lease_until_ms,
                                             char existing[FS_ID_MAX + 1])
{
    return inv_take(ctx, FS_STATE_QUEUED, sale_id, user_id, booking_id,
                    lease_until_ms, existing);
}

static enum fs_status inventory_memory_claim_durable(
    void *ctx, const char *sale_id, const char *const *booking_ids, size_t n,
    enum fs_status *results)
{
    struct inv_sale *s;

    if (!fs_plugin_id_ok(sale_id) || (n && (!booking_ids || !results)))
        return FS_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fs_plugin_id_ok(booking_ids[i]))
            return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        struct inv_entry *e = inv_entry_by_booking(s, booking_ids[i]);
        results[i] = e ? FS_OK : FS_EXPIRED;
        if (e && inv_entry_leased(e)) {
            DL_DELETE2(s->leases, e, hold_prev, hold_next);
            e->durable = 1;
            e->expires_ms = 0;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return FS_OK;
}

/* Called with s locked. */
static enum fs_status inv_claim_to_hold_locked(struct inv_sale *s,
                                               const char *booking_id,
                                               int64_t expires_ms)
{
    struct inv_entry *e = inv_entry_by_booking(s, booking_id);

    if (!e)
        return FS_EXPIRED;
    if (e->state != FS_STATE_QUEUED)
        return FS_OK;  /* a redelivery: already a hold or booked */
    if (inv_entry_leased(e))
        DL_DELETE2(s->leases, e, hold_prev, hold_next);
    e->state = FS_STATE_HOLD;
    e->expires_ms = expires_ms;
    DL_APPEND2(s->holds, e, hold_prev, hold_next);
    if (expires_ms < s->next_due)
        s->next_due = expires_ms;
    s->claimed--;
    s->c.held++;
    return FS_OK;
}

static enum fs_status inventory_memory_claim_to_hold(void *ctx,
                                                     const char *sale_id,
                                                     const char *booking_id,
                                                     int64_t expires_ms)
{
    struct inv_sale *s;
    enum fs_status st;

    if (!fs_plugin_id_ok(sale_id) || !fs_plugin_id_ok(booking_id))
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    st = inv_claim_to_hold_locked(s, booking_id, expires_ms);
    pthread_mutex_unlock(&s->lock);
    return st;
}

static enum fs_status inventory_memory_claim_expire(void *ctx,
                                                    const char *sale_id,
                                                    int64_t now_ms,
                                                    struct fs_hold *out,
                                                    size_t max, size_t *n)
{
    struct inv_sale *s;
    struct inv_entry *e, *tmp;

    if (n)
        *n = 0;
    if (!fs_plugin_id_ok(sale_id) || !n || (max && !out))
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    DL_FOREACH_SAFE2(s->leases, e, tmp, hold_next) {
        if (*n >= max)
            break;
        if (e->expires_ms <= now_ms) {
            inv_entry_export(e, &out[(*n)++]);
            inv_hold_give_back(s, e);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return FS_OK;
}

/* Durable claims: entries with state FS_STATE_QUEUED that claim_durable
 * (or rebuild) took off the leases list. cb runs with the sale's mutex held,
 * which gives it one consistent view of the sale: the core's cb (the claim
 * audit) never calls back into this plugin, and one that did would deadlock
 * on that (non-recursive) mutex. Other sales are not blocked meanwhile. */
static enum fs_status inventory_memory_list_durable(
    void *ctx, const char *sale_id,
    int (*cb)(void *arg, const struct fs_hold *c), void *arg)
{
    struct inv_sale *s;
    struct inv_entry *e, *tmp;
    struct fs_hold c;

    if (!fs_plugin_id_ok(sale_id) || !cb)
        return FS_INVALID;
    s = inv_sale_find(ctx, sale_id);
    if (!s)
        return FS_NOT_FOUND;
    pthread_mutex_lock(&s->lock);
    HASH_ITER(hh, s->by_booking, e, tmp) {
        if (e->state != FS_STATE_QUEUED || !e->durable)
            continue;
        inv_entry_export(e, &c);
        c.expires_ms = 0;  /* a rebuilt claim keeps the entry's value */
        if (cb(arg, &c))
            break;
    }
    pthread_mutex_unlock(&s->lock);
    return FS_OK;
}

static const struct fs_claim_ops inventory_memory_claim_ops = {
    .struct_size = sizeof(struct fs_claim_ops),
    .claim = inventory_memory_claim,
    .claim_durable = inventory_memory_claim_durable,
    .claim_to_hold = inventory_memory_claim_to_hold,
    .claim_expire = inventory_memory_claim_expire,
    .list_durable = inventory_memory_list_durable,
};

static const struct fs_inventory_ops inventory_memory_ops = {
    .counts = inventory_memory_counts,
    .rebuild = inventory_memory_rebuild,
    .reserve = inventory_memory_reserve,
    .confirm = inventory_memory_confirm,
    .release = inventory_memory_release,
    .expire_due = inventory_memory_expire_due,
    .lookup = inventory_memory_lookup,
    .set_inventory = inventory_memory_set_inventory,
    .find_user = inventory_memory_find_user,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_INVENTORY,
    .name = INVENTORY_MEMORY_NAME,
    .description = "in-process stock and holds; lost on restart and rebuilt "
                   "from storage",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE | FS_PLUGIN_IN_PROCESS,
    .options = inventory_memory_options,
    .config_size = 0,
    .create = inventory_memory_create,
    .destroy = inventory_memory_destroy,
    .health = inventory_memory_health,
    .inventory = &inventory_memory_ops,
    .claims = &inventory_memory_claim_ops,
    .validate = inventory_memory_validate,
};
