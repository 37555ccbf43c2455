/* recovery.c - rebuild inventory state and re-publish queued bookings from
 * storage. */
#include <stdlib.h>
#include <string.h>

#include "drain.h"
#include "events.h"
#include "log.h"
#include "recovery.h"
#include "states.h"

struct hold_list {
    struct fs_hold *items;
    size_t n, cap;
    int failed;
};

static int collect_hold(void *arg, const struct fs_booking *b)
{
    struct hold_list *l = arg;
    struct fs_hold *h;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct fs_hold *grown = realloc(l->items, cap * sizeof(*grown));
        if (!grown) {
            l->failed = 1;
            return 1;
        }
        l->items = grown;
        l->cap = cap;
    }
    h = &l->items[l->n++];
    memset(h, 0, sizeof(*h));
    memcpy(h->booking_id, b->booking_id, sizeof(h->booking_id));
    memcpy(h->user_id, b->user_id, sizeof(h->user_id));
    h->state = b->state;
    h->expires_ms = b->hold_expires_ms;
    return 0;
}

struct sighting {
    const struct fs_hold *h;
    size_t seq;  /* position in the listing */
};

static int sighting_cmp(const void *a, const void *b)
{
    const struct sighting *x = a, *y = b;
    int c = strcmp(x->h->booking_id, y->h->booking_id);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* A booking that moved on while the states were listed one after another
 * (queued, then hold, then booked: the order bookings move in) shows up
 * twice; its last sighting is the newest, the others go. */
static int drop_stale_sightings(struct hold_list *l)
{
    struct sighting *s = calloc(l->n ? l->n : 1, sizeof(*s));
    struct fs_hold *kept = calloc(l->n ? l->n : 1, sizeof(*kept));
    size_t n = 0;

    if (!s || !kept) {
        free(s);
        free(kept);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++)
        s[i] = (struct sighting){.h = &l->items[i], .seq = i};
    qsort(s, l->n, sizeof(*s), sighting_cmp);
    for (size_t i = 0; i < l->n; i++)
        if (i + 1 == l->n ||
            strcmp(s[i].h->booking_id, s[i + 1].h->booking_id) != 0)
            kept[n++] = *s[i].h;
    free(s);
    free(l->items);
    l->items = kept;
    l->n = l->cap = n;
    return 0;
}

static enum fs_status rebuild_sale(struct fs_service *svc, struct fs_sale *sale)
{
    struct hold_list l = {0};
    enum fs_status rc = FS_OK;

    /* With claims, bookings still queued hold a claim each: installed as
     * durable claims, so that a 202 whose message is still in the queue
     * keeps its item across a lost inventory (issue 14 item 2). */
    if (svc->claims)
        rc = fs_storage_list(svc->be, sale->id, FS_STATE_QUEUED, collect_hold,
                             &l);
    if (rc == FS_OK && !l.failed)
        rc = fs_storage_list(svc->be, sale->id, FS_STATE_HOLD, collect_hold,
                             &l);
    if (rc == FS_OK && !l.failed)
        rc = fs_storage_list(svc->be, sale->id, FS_STATE_BOOKED,
                             collect_hold, &l);
    if (rc == FS_OK && l.failed)
        rc = FS_ERROR;
    if (rc == FS_OK && drop_stale_sightings(&l) != 0)
        rc = FS_ERROR;
    if (rc == FS_OK) {
        rc = fs_inventory_rebuild(svc->be, sale->id,
                                  atomic_load(&sale->inventory), l.items, l.n);
        if (rc == FS_OK)
            atomic_fetch_add(&svc->rebuilds, 1);
        if (rc == FS_OK)
            fs_log_info("sale %s: inventory state rebuilt from storage: %zu "
                        "held or booked of %lld", sale->id, l.n,
                        (long long)atomic_load(&sale->inventory));
        else if (rc == FS_CONFLICT)
            rc = FS_OK;  /* another daemon rebuilt it first */
        /* This daemon's 202s still in the queue were in no record the
         * rebuild read: drain them before accepting again (drain.h). */
        if (rc == FS_OK && svc->records_by_worker)
            fs_drain_begin(svc, sale);
    }
    free(l.items);
    return rc;
}

enum fs_status fs_recovery_ensure_sale(struct fs_service *svc,
                                       struct fs_sale *sale)
{
    struct fs_sale_counts c;
    enum fs_status rc;

    pthread_mutex_lock(&sale->rebuild_lock);
    rc = fs_inventory_counts(svc->be, sale->id, &c);
    if (rc == FS_NOT_FOUND)
        rc = rebuild_sale(svc, sale);
    pthread_mutex_unlock(&sale->rebuild_lock);
    if (rc != FS_OK)
        fs_log_warn("sale %s: inventory state not ready: %s", sale->id,
                    fs_status_name(rc));
    return rc;
}

enum fs_status fs_recovery_restore_hold(struct fs_service *svc,
                                        const char *sale_id, const char *user_id,
                                        const char *booking_id,
                                        int64_t expires_ms)
{
    char existing[FS_ID_MAX + 1];
    struct fs_transition t = {
        .booking_id = booking_id, .from = FS_STATE_HOLD, .to = FS_STATE_EXPIRED,
        .hold_expires_ms = expires_ms, .at_ms = fs_now_ms(),
    };
    enum fs_status rc = FS_EXPIRED;

    /* A rebuild installed a booking still queued in storage as a durable
     * claim; its hold was recorded since: the claim becomes that hold. */
    if (svc->claims)
        rc = fs_inventory_claim_to_hold(svc->be, sale_id, booking_id,
                                        expires_ms);
    /* Idempotent: a hold the inventory still has is left as it is. */
    if (rc == FS_EXPIRED)
        rc = fs_inventory_reserve(svc->be, sale_id, user_id, booking_id,
                                  expires_ms, existing);
    /* Only a known answer that the item went elsewhere ends the hold; an
     * inventory that is away (or lost its state again) is tried later. */
    if (rc != FS_SOLD_OUT && rc != FS_DUPLICATE)
        return rc;
    fs_log_error("booking %s: its hold was lost with the inventory's state and "
                 "its item is gone (%s): recorded as expired", booking_id,
                 fs_status_name(rc));
    if (fs_storage_transition1(svc->be, &t, NULL) == FS_OK)
        fs_events_notify(booking_id);
    return rc;
}

struct requeue_ctx {
    struct fs_service *svc;
    size_t count;
    enum fs_status rc;
};

static int requeue_one(void *arg, const struct fs_booking *b)
{
    struct requeue_ctx *r = arg;
    struct fs_sale *sale = fs_service_sale(r->svc, b->sale_id);

    /* A booking of a sale no longer configured is still processed: the
     * worker rejects it as closed, so it does not stay queued forever. */
    if (sale)
        atomic_fetch_add(&sale->pending, 1);
    r->rc = fs_service_publish(r->svc, b);
    if (r->rc != FS_OK) {
        if (sale)
            atomic_fetch_sub(&sale->pending, 1);
        return 1;
    }
    r->count++;
    return 0;
}

enum fs_status fs_recovery_requeue(struct fs_service *svc, size_t *count)
{
    struct requeue_ctx r = {.svc = svc, .rc = FS_OK};
    enum fs_status rc = fs_storage_list(svc->be, NULL, FS_STATE_QUEUED,
                                        requeue_one, &r);
    *count = r.count;
    return rc != FS_OK ? rc : r.rc;
}
