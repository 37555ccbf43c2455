/* change_feed.c - see change_feed.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "change_feed.h"
#include "events.h"
#include "log.h"
#include "sale_replica.h"
#include "states.h"

struct fs_change_feed {
    struct fs_service *svc;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    int sync_due;           /* the feed (re)subscribed: sync now, with
                             * holders */
    int dropped;            /* announcements lost to a full outbox */
    int watching;           /* watch() returned: the plugin may be asked
                             * to sync; set under the lock, so the thread
                             * never calls the plugin before that */
    atomic_int subscribed;  /* the plugin's live(1) .. live(0) */
    /* A sync with holders ended since live(1): the holder sets are whole. */
    atomic_int holders_synced;
    char (*outbox)[FS_ID_MAX + 1];
    size_t n_out;
    char (*sending)[FS_ID_MAX + 1];  /* the thread's: swapped with outbox */
    int retry_ms;  /* the thread's: 0, or the wait after failed syncs */
};

#define FEED_RETRY_FIRST_MS 100

/* ---- hooks: the plugin's feed thread calls these ------------------------ */

static void on_sale_counts(void *arg, const char *sale_id,
                           const struct fs_sale_counts *c)
{
    struct fs_change_feed *f = arg;
    struct fs_sale *sale = fs_service_sale(f->svc, sale_id);

    if (sale)  /* another daemon's sale: not ours to keep */
        fs_sale_replica_store(&sale->replica, c);
}

static void on_sale_unknown(void *arg, const char *sale_id)
{
    struct fs_change_feed *f = arg;
    struct fs_sale *sale = fs_service_sale(f->svc, sale_id);

    if (sale)
        fs_sale_replica_forget(&sale->replica);
}

static void on_sale_holder(void *arg, const char *sale_id, const char *user_id)
{
    struct fs_change_feed *f = arg;
    struct fs_sale *sale = fs_service_sale(f->svc, sale_id);

    if (!sale || fs_sale_replica_add_holder(&sale->replica, user_id) == 0)
        return;
    /* A holder the replica cannot remember could be told sold_out: trust
     * no replica until the next full sync. */
    atomic_store(&f->holders_synced, 0);
    atomic_store(&f->svc->sales.replica_live, 0);
    fs_log_warn("change feed: out of memory for sale %s's holders: sold-out "
                "answers ask the inventory until the next resync", sale_id);
    pthread_mutex_lock(&f->lock);
    f->sync_due = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
}

static void on_booking(void *arg, const char *booking_id)
{
    (void)arg;
    fs_events_wake(booking_id);
}

/* Every sale was just read in order with the changes (and, after a sync
 * with holders, who holds its items): the replicas are whole from here on,
 * as long as the subscription lasts. */
static void on_synced(void *arg, int with_holders)
{
    struct fs_change_feed *f = arg;

    if (!atomic_load(&f->subscribed))
        return;
    if (with_holders)
        atomic_store(&f->holders_synced, 1);
    if (atomic_load(&f->holders_synced) &&
        !atomic_exchange(&f->svc->sales.replica_live, 1))
        fs_log_info("change feed live: sold-out answers and sale views come "
                    "from this daemon's replica");
}

static void on_live(void *arg, int live)
{
    struct fs_change_feed *f = arg;

    atomic_store(&f->subscribed, live);
    atomic_store(&f->holders_synced, 0);
    if (!live) {
        atomic_store(&f->svc->sales.replica_live, 0);
        fs_log_warn("change feed lost: sale counts are read from the "
                    "inventory until it is back");
        return;
    }
    pthread_mutex_lock(&f->lock);
    f->sync_due = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
    /* Changes made while the feed was away were not heard: every stream
     * reads its booking again, now that nothing more can be missed. */
    fs_events_wake_all();
}

/* ---- the relay: this daemon's changes, for the others ------------------- */

static void relay(void *arg, const char *booking_id)
{
    struct fs_change_feed *f = arg;

    pthread_mutex_lock(&f->lock);
    if (f->n_out < FS_FEED_OUTBOX_MAX) {
        memcpy(f->outbox[f->n_out++], booking_id,
               strnlen(booking_id, FS_ID_MAX) + 1);
        f->outbox[f->n_out - 1][FS_ID_MAX] = '\0';
        pthread_cond_signal(&f->wake);
    } else {
        f->dropped++;
    }
    pthread_mutex_unlock(&f->lock);
}

/* ---- the thread --------------------------------------------------------- */

static void announce(struct fs_change_feed *f, size_t n)
{
    const char **ids = malloc(n * sizeof(*ids));
    enum fs_status rc;

    if (!ids) {
        fs_log_warn("change feed: out of memory: %zu changes not announced", n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = f->sending[i];
    rc = fs_inventory_announce(f->svc->be, ids, n);
    if (rc != FS_OK)  /* the others' feeds are away too: they re-read */
        fs_log_debug("change feed: %zu changes not announced: %s", n,
                     fs_status_name(rc));
    free(ids);
}

static enum fs_status sync_sales(struct fs_change_feed *f, int with_holders)
{
    size_t n = fs_sales_count(&f->svc->sales);
    const char **ids = malloc((n ? n : 1) * sizeof(*ids));
    enum fs_status rc;

    if (!ids)
        return FS_ERROR;
    for (size_t i = 0; i < n; i++)
        ids[i] = fs_sales_at(&f->svc->sales, i)->id;
    rc = fs_inventory_sync(f->svc->be, ids, n, with_holders);
    free(ids);
    return rc;
}

/* How long until the next sync: the interval after one that worked; after
 * a failure, sooner, doubling from FEED_RETRY_FIRST_MS, because until a
 * sync works after a (re)subscription the replicas stay unused and every
 * request asks the inventory. The first failure of a run is logged. */
static int next_sync_ms(struct fs_change_feed *f, enum fs_status rc,
                        int interval)
{
    if (rc == FS_OK) {
        if (f->retry_ms)
            fs_log_info("change feed: sync works again");
        f->retry_ms = 0;
        return interval;
    }
    if (!f->retry_ms)
        fs_log_warn("change feed: sync failed (%s): trying again in %d ms, "
                    "then less often; meanwhile requests ask the inventory",
                    fs_status_name(rc), FEED_RETRY_FIRST_MS);
    f->retry_ms = f->retry_ms ? f->retry_ms * 2 : FEED_RETRY_FIRST_MS;
    if (f->retry_ms > interval)
        f->retry_ms = interval;
    return f->retry_ms;
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits for work; returns with the lock held and the batch to announce
 * swapped into `sending` (*n of them), *sync set when a sync is due and
 * *holders when it must report the holders too. */
static void wait_for_work(struct fs_change_feed *f, struct timespec *next_sync,
                          size_t *n, int *sync, int *holders)
{
    char (*swap)[FS_ID_MAX + 1];
    int rc = 0;

    while (!f->stop && !f->n_out && !f->sync_due && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&f->wake, &f->lock, next_sync);
    /* A live(1) that came before watch() returned is answered once start
     * sets `watching` (and sync_due); a deadline passed before that is
     * moved on, or the wait would return at once until then. */
    if (!f->watching && rc == ETIMEDOUT)
        deadline_in(next_sync, (int)f->svc->cfg->worker.resync_interval_ms);
    *sync = f->watching && (f->sync_due || rc == ETIMEDOUT);
    *holders = f->sync_due || !atomic_load(&f->holders_synced);
    f->sync_due = 0;
    swap = f->sending;
    f->sending = f->outbox;
    f->outbox = swap;
    *n = f->n_out;
    f->n_out = 0;
    if (f->dropped) {
        fs_log_warn("change feed: %d changes not announced (outbox full): "
                    "other daemons' streams may lag", f->dropped);
        f->dropped = 0;
    }
}

static void *feed_main(void *arg)
{
    struct fs_change_feed *f = arg;
    struct timespec next_sync;

    int interval = (int)f->svc->cfg->worker.resync_interval_ms;

    deadline_in(&next_sync, interval);
    pthread_mutex_lock(&f->lock);
    while (!f->stop) {
        size_t n;
        int sync, holders;

        wait_for_work(f, &next_sync, &n, &sync, &holders);
        pthread_mutex_unlock(&f->lock);
        if (n)
            announce(f, n);
        if (sync) {
            enum fs_status rc = FS_OK;
            if (atomic_load(&f->subscribed))  /* else live(1) asks again */
                rc = sync_sales(f, holders);
            deadline_in(&next_sync, next_sync_ms(f, rc, interval));
        }
        pthread_mutex_lock(&f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

static void feed_free(struct fs_change_feed *f)
{
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->lock);
    free(f->outbox);
    free(f->sending);
    free(f);
}

static struct fs_change_feed *feed_new(struct fs_service *svc)
{
    struct fs_change_feed *f = calloc(1, sizeof(*f));
    pthread_condattr_t attr;

    if (!f)
        return NULL;
    f->svc = svc;
    atomic_init(&f->subscribed, 0);
    atomic_init(&f->holders_synced, 0);
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->wake, &attr);
    pthread_condattr_destroy(&attr);
    f->outbox = calloc(FS_FEED_OUTBOX_MAX, sizeof(*f->outbox));
    f->sending = calloc(FS_FEED_OUTBOX_MAX, sizeof(*f->sending));
    if (!f->outbox || !f->sending) {
        feed_free(f);
        return NULL;
    }
    return f;
}

struct fs_change_feed *fs_change_feed_start(struct fs_service *svc)
{
    struct fs_change_feed *f;
    struct fs_change_hooks hooks = {
        .sale_counts = on_sale_counts, .sale_unknown = on_sale_unknown,
        .sale_holder = on_sale_holder, .booking = on_booking,
        .synced = on_synced, .live = on_live,
    };

    if (!fs_inventory_has_changes(svc->be))
        return NULL;
    f = feed_new(svc);
    if (!f || pthread_create(&f->thread, NULL, feed_main, f) != 0) {
        fs_log_error("change feed: cannot start (out of memory or threads): "
                     "counts are read per request, streams see this daemon's "
                     "changes only");
        if (f)
            feed_free(f);
        return NULL;
    }
    hooks.arg = f;
    if (fs_inventory_watch(svc->be, &hooks) != FS_OK) {
        fs_log_error("change feed: the inventory plugin cannot watch");
        fs_change_feed_stop(f);
        return NULL;
    }
    pthread_mutex_lock(&f->lock);
    f->watching = 1;
    f->sync_due = 1;  /* a live(1) may have come before watch() returned */
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
    fs_events_set_relay(relay, f);
    return f;
}

void fs_change_feed_stop(struct fs_change_feed *f)
{
    if (!f)
        return;
    fs_events_set_relay(NULL, NULL);
    /* The thread first: a sync or announce it has under way must end
     * before unwatch() takes the plugin's feed away. Hooks may still run
     * until unwatch() returns; they only touch `f`, which lives on. */
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    if (f->watching)
        fs_inventory_unwatch(f->svc->be);  /* no hook runs after this */
    atomic_store(&f->svc->sales.replica_live, 0);
    feed_free(f);
}
