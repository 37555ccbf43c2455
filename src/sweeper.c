/* sweeper.c - hold expiry and reconciliation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drain.h"
#include "events.h"
#include "log.h"
#include "recovery.h"
#include "metrics.h"
#include "states.h"
#include "sweeper.h"

#define SWEEP_BATCH 256
#define RECONCILE_EVERY_MS 5000
#define RECONCILE_GRACE_MS 2000

static void record_expired(struct fs_service *svc, const char *sale,
                           const struct fs_hold *h, size_t n, int64_t now_ms)
{
    struct fs_transition t[SWEEP_BATCH];
    enum fs_status r[SWEEP_BATCH];
    enum fs_booking_state c[SWEEP_BATCH];
    enum fs_status rc;

    for (size_t i = 0; i < n; i++)
        t[i] = (struct fs_transition){
            .booking_id = h[i].booking_id, .from = FS_STATE_HOLD,
            .to = FS_STATE_EXPIRED, .hold_expires_ms = h[i].expires_ms,
            .at_ms = now_ms,
        };
    rc = fs_storage_transition(svc->be, t, n, r, c);
    if (rc != FS_OK) {
        /* The items are back in stock already; reconciliation records the
         * state once storage answers again. */
        fs_log_warn("storage %s while recording %zu expired holds",
                    fs_status_name(rc), n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (r[i] == FS_OK) {
            fs_metrics_booking(FS_STATE_EXPIRED);
            fs_metrics_sale_expired(sale);
            fs_events_notify(h[i].booking_id);
        }
}

/* Claims whose lease ran out belong to requests that were never answered
 * 202 (claim_batch.c: their durable mark lost the race, or their daemon
 * died): the item is back already; a record still queued becomes deleted so
 * that no restart re-queues it. Storage away: the record stays queued; a
 * message of it, re-queued or late, then takes an item for it (worker.c,
 * claim_gone), as for a claim lost with the inventory's writes. */
/* With the worker writing the records, a lapsed claim has none: it gets a
 * `deleted` one, so that a message of it met during a drain (drain.h), when
 * a claim that is gone may be a lost 202's, is not mistaken for one. */
static void record_lapsed_first(struct fs_service *svc, const char *sale,
                                const struct fs_hold *h, size_t n,
                                int64_t now_ms)
{
    struct fs_booking b[SWEEP_BATCH];
    enum fs_status r[SWEEP_BATCH];

    for (size_t i = 0; i < n; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        memcpy(b[i].booking_id, h[i].booking_id, sizeof(b[i].booking_id));
        memcpy(b[i].user_id, h[i].user_id, sizeof(b[i].user_id));
        snprintf(b[i].sale_id, sizeof(b[i].sale_id), "%.*s", FS_ID_MAX, sale);
        b[i].state = FS_STATE_DELETED;
        b[i].created_ms = b[i].updated_ms = now_ms;
    }
    if (fs_storage_insert_many(svc->be, b, n, r) != FS_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (r[i] == FS_OK)
            fs_metrics_booking(FS_STATE_DELETED);
}

static void record_lapsed(struct fs_service *svc, const char *sale,
                          const struct fs_hold *h, size_t n, int64_t now_ms)
{
    struct fs_transition t[SWEEP_BATCH];
    enum fs_status r[SWEEP_BATCH];
    enum fs_booking_state c[SWEEP_BATCH];

    if (svc->records_by_worker)
        record_lapsed_first(svc, sale, h, n, now_ms);

    for (size_t i = 0; i < n; i++) {
        t[i] = (struct fs_transition){
            .booking_id = h[i].booking_id, .from = FS_STATE_QUEUED,
            .to = FS_STATE_DELETED, .at_ms = now_ms,
        };
        fs_log_info("booking %s: claim of user %s not confirmed within its "
                    "lease: item given back", h[i].booking_id, h[i].user_id);
    }
    if (fs_storage_transition(svc->be, t, n, r, c) != FS_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (r[i] == FS_OK) {
            fs_metrics_booking(FS_STATE_DELETED);
            fs_events_notify(h[i].booking_id);
        }
}

static size_t sweep_claims(struct fs_service *svc, const char *sale,
                           int64_t now_ms)
{
    struct fs_hold due[SWEEP_BATCH];
    size_t total = 0, n;

    do {
        n = 0;
        if (fs_inventory_claim_expire(svc->be, sale, now_ms, due, SWEEP_BATCH,
                                      &n) != FS_OK)
            break;
        if (n > 0)
            record_lapsed(svc, sale, due, n, now_ms);
        total += n;
    } while (n == SWEEP_BATCH);
    return total;
}

size_t fs_sweeper_sweep(struct fs_service *svc, int64_t now_ms)
{
    struct fs_hold due[SWEEP_BATCH];
    size_t total = 0;

    for (size_t s = 0; s < fs_sales_count(&svc->sales); s++) {
        const char *sale = fs_sales_at(&svc->sales, s)->id;
        size_t n;

        if (svc->claims)
            total += sweep_claims(svc, sale, now_ms);
        do {
            n = 0;
            if (fs_inventory_expire_due(svc->be, sale, now_ms, due, SWEEP_BATCH,
                                        &n) != FS_OK)
                break;
            if (n > 0)
                record_expired(svc, sale, due, n, now_ms);
            total += n;
        } while (n == SWEEP_BATCH);
    }
    return total;
}

struct stale_ctx {
    struct fs_service *svc;
    int64_t now_ms;
    int64_t cutoff_ms;
    size_t fixed;
};

static int fix_stale_hold(void *arg, const struct fs_booking *b)
{
    struct stale_ctx *x = arg;
    struct fs_hold h;
    struct fs_transition t = {
        .booking_id = b->booking_id, .from = FS_STATE_HOLD,
        .hold_expires_ms = b->hold_expires_ms, .at_ms = fs_now_ms(),
    };
    enum fs_status rc;

    rc = fs_inventory_lookup(x->svc->be, b->sale_id, b->booking_id, &h);
    if (rc == FS_OK && h.state == FS_STATE_QUEUED) {
        /* A rebuild (by any daemon) installed the booking as a claim while
         * it was queued in storage, and its hold was recorded since: the
         * claim becomes that hold, so that it expires and can be confirmed
         * (expire_due then takes it if its time has passed). */
        if (fs_recovery_restore_hold(x->svc, b->sale_id, b->user_id,
                                     b->booking_id, b->hold_expires_ms) == FS_OK)
            x->fixed++;
        return 0;
    }
    if (b->hold_expires_ms > x->cutoff_ms) {
        /* A live hold the inventory does not know: reserved in an inventory
         * that lost its state and recorded after the rebuild (by any daemon).
         * Settled for a moment first, so a cancel between its inventory and
         * storage steps is not mistaken for one. */
        if (rc == FS_NOT_FOUND && b->hold_expires_ms > x->now_ms &&
            b->updated_ms + RECONCILE_GRACE_MS <= x->now_ms &&
            fs_recovery_restore_hold(x->svc, b->sale_id, b->user_id,
                                     b->booking_id, b->hold_expires_ms) == FS_OK)
            x->fixed++;
        return 0;
    }
    if (rc == FS_OK && h.state == FS_STATE_BOOKED)
        t.to = FS_STATE_BOOKED;   /* confirmed, then crashed before storage */
    else if (rc == FS_NOT_FOUND)
        t.to = FS_STATE_EXPIRED;  /* released, then crashed before storage */
    else
        return 0;                 /* still held: expire_due takes it */
    if (fs_storage_transition1(x->svc->be, &t, NULL) == FS_OK) {
        x->fixed++;
        fs_metrics_booking(t.to);
        if (t.to == FS_STATE_EXPIRED)
            fs_metrics_sale_expired(b->sale_id);
        fs_events_notify(b->booking_id);
        fs_log_info("booking %s: storage said hold past expiry, inventory "
                    "says %s: recorded", b->booking_id, fs_state_name(t.to));
    }
    return 0;
}

size_t fs_sweeper_reconcile(struct fs_service *svc, int64_t now_ms,
                            int64_t grace_ms)
{
    struct stale_ctx x = {.svc = svc, .now_ms = now_ms,
                          .cutoff_ms = now_ms - grace_ms};
    for (size_t s = 0; s < fs_sales_count(&svc->sales); s++)
        fs_storage_list(svc->be, fs_sales_at(&svc->sales, s)->id, FS_STATE_HOLD,
                        fix_stale_hold, &x);
    return x.fixed;
}

static void refresh_gauges(struct fs_service *svc)
{
    uint64_t depth;
    if (fs_queue_depth(svc->be, &depth) == FS_OK)
        fs_metrics_set_queue_depth(depth);
}

static void *sweeper_main(void *arg)
{
    struct fs_sweeper *s = arg;
    int64_t interval = s->svc->cfg->worker.sweep_interval_ms;

    pthread_mutex_lock(&s->lock);
    while (s->running) {
        struct timespec until;
        int64_t now;

        pthread_mutex_unlock(&s->lock);
        now = fs_now_ms();
        fs_sweeper_sweep(s->svc, now);
        fs_booking_settle_doubtful(s->svc, interval);
        if (s->svc->records_by_worker)
            fs_drain_tick(s->svc, now);
        refresh_gauges(s->svc);
        fs_claim_audit_tick(&s->audit, s->svc, now);
        if (now - s->last_reconcile_ms >= RECONCILE_EVERY_MS) {
            fs_sweeper_reconcile(s->svc, now, RECONCILE_GRACE_MS);
            s->last_reconcile_ms = now;
        }
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += interval / 1000;
        until.tv_nsec += (interval % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->lock);
        if (s->running)
            pthread_cond_timedwait(&s->wake, &s->lock, &until);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int fs_sweeper_start(struct fs_sweeper *s, struct fs_service *svc)
{
    pthread_condattr_t attr;

    memset(s, 0, sizeof(*s));
    s->svc = svc;
    fs_claim_audit_init(&s->audit);
    s->running = 1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        return -1;
    }
    s->started = 1;
    return 0;
}

void fs_sweeper_stop(struct fs_sweeper *s)
{
    if (!s->started)
        return;
    pthread_mutex_lock(&s->lock);
    s->running = 0;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    fs_claim_audit_free(&s->audit);
    s->started = 0;
}
