/*
 * worker.c - the queue consumer.
 *
 * One consumer thread keeps a sale's requests in acceptance order (invariant
 * 6). Per batch: decide each message in order with the inventory (the atomic
 * reserve), then write every outcome to storage in one conditional batch,
 * then ack. A crash anywhere leaves the messages unacked or, with the memory
 * queue, the bookings queued in storage: both are processed again, and every
 * step is idempotent by booking id.
 *
 * With svc->records_by_worker the accept path stored nothing: the batch's
 * outcomes are the bookings' first records, written with one insert_many
 * (a record already there, from a redelivery or a client's cancel or
 * confirm of the unrecorded booking, is left as it is and the outcome
 * applies to it as a conditional change instead), and a message is acked
 * only once its record is durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drain.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "recovery.h"
#include "states.h"
#include "worker.h"

#define WORKER_BACKOFF_MIN_MS 10
#define WORKER_BACKOFF_MAX_MS 2000

struct job {
    uint64_t tag;
    int redelivered;
    int valid;
    struct fs_message msg;
    struct fs_sale *sale;
    enum fs_status reserve;        /* what the inventory said */
    struct fs_transition change;   /* what storage should record */
    int has_change;
    int pending_done;              /* counted out of sale->pending already */
    int64_t expires_ms;
    int is_marker;                 /* a drain marker, not a booking */
    struct fs_drain_marker marker;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int backoff(int *delay_ms)
{
    sleep_ms(*delay_ms);
    *delay_ms = *delay_ms * 2 > WORKER_BACKOFF_MAX_MS ? WORKER_BACKOFF_MAX_MS
                                                      : *delay_ms * 2;
    return 0;
}

/* A message redelivered after a crash may already be decided. Without a
 * record it is not, when the worker writes the records. */
static int already_decided(struct fs_worker *w, struct job *j)
{
    struct fs_booking b;
    enum fs_status rc = fs_storage_get(w->svc->be, j->msg.booking_id, &b);
    if (rc == FS_NOT_FOUND)
        return !w->svc->records_by_worker;
    return rc == FS_OK && b.state != FS_STATE_QUEUED;
}

static void set_change(struct job *j, enum fs_booking_state to, const char *reason)
{
    j->has_change = 1;
    j->change.booking_id = j->msg.booking_id;
    j->change.from = FS_STATE_QUEUED;
    j->change.to = to;
    j->change.reason = reason;
    j->change.hold_expires_ms = to == FS_STATE_HOLD ? j->expires_ms : 0;
    j->change.at_ms = fs_now_ms();
}

static enum fs_status reserve_now(struct fs_worker *w, struct job *j)
{
    char existing[FS_ID_MAX + 1];

    return fs_inventory_reserve(w->svc->be, j->msg.sale_id, j->msg.user_id,
                                j->msg.booking_id, j->expires_ms, existing);
}

/* A booking whose claim is gone was normally never answered 202: its claim
 * went back before its durable mark (a 503, or its daemon died), and
 * storage says deleted, or will once the sweeper or the 503 path writes it.
 * If storage still says queued, the claim may instead have been lost with
 * the inventory's data (a Redis replica promoted without the last writes):
 * the item is taken now if one is left, so that a 202 becomes a hold, and
 * ends rejected sold_out only if the lost writes let another user take it.
 * A request answered 503 whose record is not deleted yet may get a hold
 * this way; its user then sees it as already_booked. */
static enum fs_status claim_gone(struct fs_worker *w, struct job *j)
{
    struct fs_booking b;
    enum fs_status rc = fs_storage_get(w->svc->be, j->msg.booking_id, &b);

    /* The worker writes the records, and no record is there: a request
     * answered 503 (or whose daemon died before its confirm), dropped; but
     * while the sale drains, the claim may have been lost with the
     * inventory's data instead, and the request answered 202 (drain.h). */
    if (rc == FS_NOT_FOUND && w->svc->records_by_worker && j->sale &&
        fs_drain_active(j->sale)) {
        fs_log_info("booking %s: queued before the inventory's rebuild, its "
                    "claim is gone: taking an item for it now",
                    j->msg.booking_id);
        return reserve_now(w, j);
    }
    if (rc == FS_NOT_FOUND || (rc == FS_OK && b.state != FS_STATE_QUEUED))
        return FS_EXPIRED;
    if (rc != FS_OK)
        return FS_UNAVAILABLE;  /* decided once storage answers */
    fs_log_warn("booking %s: queued in storage but its claim is gone: taking "
                "an item for it now", j->msg.booking_id);
    return reserve_now(w, j);
}

/* One inventory step for the job: with claims, its claim (taken at accept
 * time) becomes the hold; without, the stock is taken now. */
static enum fs_status take_item(struct fs_worker *w, struct job *j)
{
    enum fs_status rc;

    if (!w->svc->claims)
        return reserve_now(w, j);
    rc = fs_inventory_claim_to_hold(w->svc->be, j->msg.sale_id,
                                    j->msg.booking_id, j->expires_ms);
    return rc == FS_EXPIRED ? claim_gone(w, j) : rc;
}

/* A closed sale rejects what is still queued; with claims, its item was
 * taken at accept time and goes back now. */
static void reject_closed(struct fs_worker *w, struct job *j)
{
    if (w->svc->claims && j->sale)
        fs_inventory_release(w->svc->be, j->msg.sale_id, j->msg.booking_id);
    set_change(j, FS_STATE_REJECTED, "closed");
}

/* Asks the inventory, retrying while it is unavailable. Returns 0 when the
 * job is decided, -1 when the worker is stopping. */
static int decide(struct fs_worker *w, struct job *j)
{
    int delay = WORKER_BACKOFF_MIN_MS;

    if (!j->sale || !fs_sale_is_open(j->sale, fs_now_ms())) {
        reject_closed(w, j);
        return 0;
    }
    for (;;) {
        int64_t t0 = fs_mono_ns();
        j->expires_ms = fs_now_ms() + (int64_t)j->msg.hold_seconds * 1000;
        j->reserve = take_item(w, j);
        fs_metrics_observe(FS_HIST_RESERVE, (double)(fs_mono_ns() - t0) / 1e9);
        if (j->reserve == FS_NOT_FOUND &&
            fs_recovery_ensure_sale(w->svc, j->sale) == FS_OK)
            continue;
        if (j->reserve != FS_UNAVAILABLE && j->reserve != FS_ERROR &&
            j->reserve != FS_NOT_FOUND)
            break;
        if (!atomic_load(&w->running))
            return -1;
        fs_log_warn("booking %s: inventory %s, retrying", j->msg.booking_id,
                    fs_status_name(j->reserve));
        backoff(&delay);
    }
    if (j->reserve == FS_OK)
        set_change(j, FS_STATE_HOLD, NULL);
    else if (j->reserve == FS_EXPIRED)
        /* No claim, and storage no longer queued: it went back (publish
         * failed or never confirmed), never answered 202. */
        set_change(j, FS_STATE_DELETED, NULL);
    else if (j->reserve == FS_SOLD_OUT)
        set_change(j, FS_STATE_REJECTED, "sold_out");
    else if (j->reserve == FS_DUPLICATE)
        set_change(j, FS_STATE_REJECTED, "duplicate");
    else
        set_change(j, FS_STATE_REJECTED, "closed");
    return 0;
}

/* The job's outcome as the booking's first record. */
static void job_record(const struct job *j, struct fs_booking *b)
{
    memset(b, 0, sizeof(*b));
    memcpy(b->booking_id, j->msg.booking_id, sizeof(b->booking_id));
    memcpy(b->sale_id, j->msg.sale_id, sizeof(b->sale_id));
    memcpy(b->user_id, j->msg.user_id, sizeof(b->user_id));
    b->state = j->change.to;
    if (j->change.reason)
        snprintf(b->reason, sizeof(b->reason), "%s", j->change.reason);
    b->created_ms = j->msg.created_ms;
    b->updated_ms = j->change.at_ms;
    b->hold_expires_ms = j->change.hold_expires_ms;
    b->hold_seconds = j->msg.hold_seconds;
}

/* storage holds another active booking of the user (possible only after
 * the inventory lost its state): the item goes back and the booking is
 * recorded rejected, duplicate, in the next round. */
static void refused_as_duplicate(struct fs_worker *w, struct job *j,
                                 struct fs_booking *b)
{
    if (j->change.to == FS_STATE_HOLD && j->reserve == FS_OK)
        fs_inventory_release(w->svc->be, j->msg.sale_id, j->msg.booking_id);
    j->reserve = FS_DUPLICATE;
    j->change.to = FS_STATE_REJECTED;
    j->change.reason = "duplicate";
    j->change.hold_expires_ms = 0;
    job_record(j, b);
}

/* One insert_many of the records still to write (todo[0..*m)); on return
 * todo holds those to try again: none once storage answered. Records that
 * exist already are marked in `exists` for the conditional change. */
static enum fs_status insert_round(struct fs_worker *w, struct job *jobs,
                                   struct fs_booking *b, size_t *todo,
                                   size_t *m, int *exists,
                                   enum fs_status *results,
                                   enum fs_booking_state *current)
{
    struct fs_booking *batch = calloc(*m, sizeof(*batch));
    enum fs_status *r = calloc(*m, sizeof(*r));
    enum fs_status st = FS_ERROR;
    size_t again = 0;

    if (!batch || !r)
        goto done;
    for (size_t k = 0; k < *m; k++)
        batch[k] = b[todo[k]];
    st = fs_storage_insert_many(w->svc->be, batch, *m, r);
    for (size_t k = 0; st == FS_OK && k < *m; k++) {
        size_t i = todo[k];
        if (r[k] == FS_OK) {
            results[i] = FS_OK;
            current[i] = jobs[i].change.to;
        } else if (r[k] == FS_CONFLICT) {
            exists[i] = 1;
        } else {
            refused_as_duplicate(w, &jobs[i], &b[i]);
            todo[again++] = i;
        }
    }
    if (st == FS_OK)
        *m = again;
done:
    free(batch);
    free(r);
    return st;
}

static int record_changes(struct fs_worker *w, struct job *jobs, size_t n,
                          const int *only, enum fs_status *results,
                          enum fs_booking_state *current);

/* Writes every decided job's outcome as its first record (one insert_many
 * a round), retrying while storage is unavailable. */
static int record_first(struct fs_worker *w, struct job *jobs, size_t n,
                        enum fs_status *results, enum fs_booking_state *current)
{
    struct fs_booking *b = calloc(n ? n : 1, sizeof(*b));
    size_t *todo = calloc(n ? n : 1, sizeof(*todo));
    int *exists = calloc(n ? n : 1, sizeof(*exists));
    size_t m = 0;
    int delay = WORKER_BACKOFF_MIN_MS, rc = -1;

    if (!b || !todo || !exists)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].has_change) {
            job_record(&jobs[i], &b[i]);
            todo[m++] = i;
        }
    while (m > 0) {
        enum fs_status st = insert_round(w, jobs, b, todo, &m, exists, results,
                                         current);
        if (st == FS_OK)
            continue;
        if (!atomic_load(&w->running))
            goto done;
        fs_log_warn("storage %s while recording %zu bookings, retrying",
                    fs_status_name(st), m);
        backoff(&delay);
    }
    /* Records there already get the outcome as the old path writes it:
     * queued -> outcome; any other state is a conflict settle() reads. */
    rc = record_changes(w, jobs, n, exists, results, current);
done:
    free(b);
    free(todo);
    free(exists);
    return rc;
}

/* Writes the change of every decided job (of those marked in `only`, when
 * not NULL) in one storage batch, retrying while storage is unavailable. */
static int record_changes(struct fs_worker *w, struct job *jobs, size_t n,
                          const int *only, enum fs_status *results,
                          enum fs_booking_state *current)
{
    struct fs_transition *t = calloc(n ? n : 1, sizeof(*t));
    size_t *index = calloc(n ? n : 1, sizeof(*index));
    size_t m = 0;
    int delay = WORKER_BACKOFF_MIN_MS, rc = -1;
    enum fs_status st;

    if (!t || !index)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].has_change && (!only || only[i])) {
            index[m] = i;
            t[m++] = jobs[i].change;
        }
    while (m > 0) {
        enum fs_status *r = calloc(m, sizeof(*r));
        enum fs_booking_state *c = calloc(m, sizeof(*c));
        st = r && c ? fs_storage_transition(w->svc->be, t, m, r, c) : FS_ERROR;
        if (st == FS_OK)
            for (size_t k = 0; k < m; k++) {
                results[index[k]] = r[k];
                current[index[k]] = c[k];
            }
        free(r);
        free(c);
        if (st == FS_OK)
            break;
        if (!atomic_load(&w->running))
            goto done;
        fs_log_warn("storage %s while recording %zu decisions, retrying",
                    fs_status_name(st), m);
        backoff(&delay);
    }
    rc = 0;
done:
    free(t);
    free(index);
    return rc;
}

static int record(struct fs_worker *w, struct job *jobs, size_t n,
                  enum fs_status *results, enum fs_booking_state *current)
{
    if (w->svc->records_by_worker)
        return record_first(w, jobs, n, results, current);
    return record_changes(w, jobs, n, NULL, results, current);
}

/* After storage answered: count outcomes, give back items reserved for a
 * booking that storage says was cancelled (or decided) meanwhile. */
static void settle(struct fs_worker *w, struct job *j, enum fs_status result,
                   enum fs_booking_state current)
{
    if (result == FS_OK) {
        fs_metrics_booking(j->change.to);
        fs_events_notify(j->msg.booking_id);
        if (j->change.to == FS_STATE_REJECTED) {
            fs_metrics_rejected(j->change.reason);
            fs_metrics_sale_rejected(j->msg.sale_id, j->change.reason);
        }
        return;
    }
    if (j->change.to == FS_STATE_HOLD && j->reserve == FS_OK &&
        current != FS_STATE_HOLD && current != FS_STATE_BOOKED)
        fs_inventory_release(w->svc->be, j->msg.sale_id, j->msg.booking_id);
}

/* The accept path counts this daemon's undecided bookings (against the
 * stock without claims, against sales[].max_queued always); once the
 * inventory has decided one, `available` reflects it, so it must stop
 * counting at once, not after storage commits. */
static void undo_pending(struct fs_worker *w, struct job *j)
{
    if (j->valid && j->sale && !j->pending_done &&
        strcmp(j->msg.origin, w->svc->instance_id) == 0)
        atomic_fetch_sub(&j->sale->pending, 1);
    j->pending_done = 1;
}

static void finish(struct fs_worker *w, struct job *j)
{
    undo_pending(w, j);
    /* Every message ahead of the marker is recorded by now. */
    if (j->is_marker)
        fs_drain_marker_done(w->svc, &j->marker);
    fs_queue_ack(w->svc->be, j->tag);
}

static void load_jobs(struct fs_worker *w, const struct fs_delivery *d,
                      struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct job *j = &jobs[i];
        memset(j, 0, sizeof(*j));
        j->tag = d[i].tag;
        j->redelivered = d[i].redelivered;
        j->is_marker = fs_drain_decode(d[i].body, d[i].len, &j->marker) == 0;
        if (j->is_marker)
            continue;  /* not valid: nothing to decide, acked in turn */
        j->valid = fs_message_decode(d[i].body, d[i].len, &j->msg) == 0;
        if (!j->valid) {
            fs_log_error("queue: dropping a message that is not a booking");
            continue;
        }
        j->sale = fs_service_sale(w->svc, j->msg.sale_id);
    }
}

/* An inventory rebuilt from storage while this batch was being decided
 * lacks the holds reserved before the rebuild and recorded after it. */
static void reassert_holds(struct fs_worker *w, struct job *jobs, size_t n,
                           const enum fs_status *results)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].has_change && jobs[i].change.to == FS_STATE_HOLD &&
            results[i] == FS_OK)
            fs_recovery_restore_hold(w->svc, jobs[i].msg.sale_id,
                                     jobs[i].msg.user_id, jobs[i].msg.booking_id,
                                     jobs[i].expires_ms);
}

size_t fs_worker_run_once(struct fs_worker *w, int timeout_ms)
{
    size_t max = (size_t)w->svc->cfg->worker.batch, n = 0, decided = 0;
    struct fs_delivery *d = calloc(max, sizeof(*d));
    struct job *jobs = calloc(max, sizeof(*jobs));
    enum fs_status *results = calloc(max, sizeof(*results));
    enum fs_booking_state *current = calloc(max, sizeof(*current));
    unsigned rebuilds = 0;

    if (!d || !jobs || !results || !current)
        goto done;
    if (fs_queue_consume(w->svc->be, d, max, &n, timeout_ms) != FS_OK)
        n = 0;
    rebuilds = atomic_load(&w->svc->rebuilds);
    load_jobs(w, d, jobs, n);
    for (; decided < n; decided++) {
        struct job *j = &jobs[decided];
        if (!j->valid || (j->redelivered && already_decided(w, j)))
            continue;
        if (decide(w, j) != 0)
            break;
        undo_pending(w, j);
    }
    if (record(w, jobs, decided, results, current) != 0)
        decided = 0;
    if (atomic_load(&w->svc->rebuilds) != rebuilds)
        reassert_holds(w, jobs, decided, results);
    for (size_t i = 0; i < decided; i++) {
        if (jobs[i].has_change)
            settle(w, &jobs[i], results[i], current[i]);
        finish(w, &jobs[i]);
    }
    /* Stopping mid-batch: hand back, in order, what was not recorded. */
    for (size_t i = n; i > decided; i--)
        fs_queue_nack(w->svc->be, jobs[i - 1].tag, 1);
done:
    free(d);
    free(jobs);
    free(results);
    free(current);
    return decided;
}

static void *worker_main(void *arg)
{
    struct fs_worker *w = arg;
    while (atomic_load(&w->running))
        fs_worker_run_once(w, 100);
    return NULL;
}

int fs_worker_start(struct fs_worker *w, struct fs_service *svc)
{
    memset(w, 0, sizeof(*w));
    w->svc = svc;
    atomic_init(&w->running, 1);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -1;
    w->started = 1;
    return 0;
}

void fs_worker_stop(struct fs_worker *w)
{
    if (!w->started)
        return;
    atomic_store(&w->running, 0);
    pthread_join(w->thread, NULL);
    w->started = 0;
}
