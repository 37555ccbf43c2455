/* claim_audit.c - see claim_audit.h. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "backends.h"
#include "claim_audit.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "sales.h"

struct fs_audit_seen {
    char booking_id[FS_ID_MAX + 1];
    UT_hash_handle hh;
};

/* Every sale's durable claims, as list_durable reported them. */
struct listing {
    struct fs_sale *sale;  /* the sale being listed */
    struct fs_sale **sale_of;
    struct fs_hold *claims;
    size_t n, cap;
    int failed;  /* out of memory */
};

static int collect(void *arg, const struct fs_hold *c)
{
    struct listing *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct fs_hold *claims = realloc(l->claims, cap * sizeof(*claims));
        struct fs_sale **sale_of =
            claims ? realloc(l->sale_of, cap * sizeof(*sale_of)) : NULL;
        if (claims)
            l->claims = claims;
        if (!claims || !sale_of) {
            l->failed = 1;
            return 1;
        }
        l->sale_of = sale_of;
        l->cap = cap;
    }
    l->sale_of[l->n] = l->sale;
    l->claims[l->n++] = *c;
    return 0;
}

static void listing_free(struct listing *l)
{
    free(l->claims);
    free(l->sale_of);
}

/* 0 when every sale was listed (a sale without state has no claim). */
static int list_all(struct fs_service *svc, struct listing *l)
{
    for (size_t i = 0; i < fs_sales_count(&svc->sales); i++) {
        enum fs_status rc;
        l->sale = fs_sales_at(&svc->sales, i);
        rc = fs_inventory_list_durable(svc->be, l->sale->id, collect, l);
        if (l->failed || (rc != FS_OK && rc != FS_NOT_FOUND))
            return -1;
    }
    return 0;
}

static void forget(struct fs_audit_seen **set)
{
    struct fs_audit_seen *e, *tmp;

    HASH_ITER(hh, *set, e, tmp) {
        HASH_DEL(*set, e);
        free(e);
    }
}

static int remember(struct fs_audit_seen **set, const char *booking_id)
{
    struct fs_audit_seen *e = calloc(1, sizeof(*e));

    if (!e)
        return -1;
    snprintf(e->booking_id, sizeof(e->booking_id), "%s", booking_id);
    HASH_ADD_STR(*set, booking_id, e);
    return 0;
}

/* Nothing waiting in the queue and nothing with this daemon's worker. */
static int queue_empty(struct fs_service *svc)
{
    uint64_t depth;

    return fs_queue_depth(svc->be, &depth) == FS_OK && depth == 0;
}

static int republish(struct fs_service *svc, const struct fs_sale *sale,
                     const struct fs_hold *c, int64_t now_ms)
{
    struct fs_booking b;

    memset(&b, 0, sizeof(b));
    snprintf(b.booking_id, sizeof(b.booking_id), "%s", c->booking_id);
    snprintf(b.sale_id, sizeof(b.sale_id), "%s", sale->id);
    snprintf(b.user_id, sizeof(b.user_id), "%s", c->user_id);
    b.state = FS_STATE_QUEUED;
    /* The claim keeps no hold length: the sale's, as the worker would use
     * for a request the policies left alone. */
    b.hold_seconds = (uint32_t)atomic_load(&sale->hold_seconds);
    b.created_ms = now_ms;
    return fs_service_republish(svc, &b) == FS_OK;
}

/* The queue is empty now; if it was at the last audit too (armed), the
 * claims listed both times are published again. The others (and any whose
 * publish failed) are remembered, and the audit armed, for the next one.
 * Returns how many it published. */
static size_t judge(struct fs_claim_audit *a, struct fs_service *svc,
                    const struct listing *l, int64_t now_ms)
{
    struct fs_audit_seen *next = NULL, *e;
    size_t again = 0;

    for (size_t i = 0; i < l->n; i++) {
        const struct fs_hold *c = &l->claims[i];
        e = NULL;
        if (a->armed)
            HASH_FIND_STR(a->seen, c->booking_id, e);
        if (e && republish(svc, l->sale_of[i], c, now_ms)) {
            again++;
            continue;
        }
        if (remember(&next, c->booking_id) != 0) {
            forget(&next);
            forget(&a->seen);
            a->armed = 0;  /* out of memory: start afresh next time */
            return again;
        }
    }
    forget(&a->seen);
    a->seen = next;
    a->armed = 1;
    return again;
}

void fs_claim_audit_init(struct fs_claim_audit *a)
{
    memset(a, 0, sizeof(*a));
}

void fs_claim_audit_free(struct fs_claim_audit *a)
{
    forget(&a->seen);
    a->armed = 0;
}

size_t fs_claim_audit_tick(struct fs_claim_audit *a, struct fs_service *svc,
                           int64_t now_ms)
{
    struct listing l;
    size_t again = 0;

    if (!svc->claims || !svc->shared_queue ||
        !fs_inventory_can_list_durable(svc->be) || now_ms < a->next_ms)
        return 0;
    a->next_ms = now_ms + svc->cfg->worker.claim_audit_interval_ms;
    memset(&l, 0, sizeof(l));
    /* The claims first, then the queue: a claim listed durable had its
     * message confirmed before; if the queue is empty after the listing,
     * that message is gone, or a worker took it and makes the claim a hold
     * (this daemon's worker would still count in the depth). No claim: no
     * need to ask the broker. */
    if (list_all(svc, &l) != 0 || (l.n > 0 && !queue_empty(svc))) {
        fs_claim_audit_free(a);
        listing_free(&l);
        return 0;
    }
    again = judge(a, svc, &l, now_ms);
    listing_free(&l);
    if (again) {
        fs_metrics_claims_republished(again);
        fs_log_warn("claim audit: %zu accepted request(s) had no message left "
                    "in the queue (lost by the broker?): published again from "
                    "their claims", again);
    }
    return again;
}
