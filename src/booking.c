/*
 * booking.c - the accept path and the client-facing state changes.
 *
 * Storage is the truth for a booking's state, the inventory for stock. Every
 * change touches the inventory first and storage second, so that a crash
 * between the two leaves a state the worker, the sweeper or recovery repair:
 * see DESIGN.md section 4 and the notes at each function.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking.h"
#include "drain.h"
#include "events.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "recovery.h"
#include "states.h"

static void doubtful_add(struct fs_service *svc, const char *booking_id)
{
    pthread_mutex_lock(&svc->doubtful_lock);
    if (svc->n_doubtful < FS_DOUBTFUL_MAX)
        snprintf(svc->doubtful[svc->n_doubtful++], FS_ID_MAX + 1, "%s",
                 booking_id);
    else
        fs_log_warn("booking %s: too many unsettled 503s to track; a restart "
                    "processes it if storage kept it", booking_id);
    pthread_mutex_unlock(&svc->doubtful_lock);
}

/* Deletes the booking if storage holds it as queued. 0 when settled. */
static int settle_one(struct fs_service *svc, const char *booking_id)
{
    struct fs_transition t = {
        .booking_id = booking_id, .from = FS_STATE_QUEUED,
        .to = FS_STATE_DELETED, .at_ms = fs_now_ms(),
    };
    enum fs_status rc = fs_storage_transition1(svc->be, &t, NULL);
    if (rc == FS_OK)
        fs_log_info("booking %s: answered 503 but stored after all: deleted",
                    booking_id);
    return rc == FS_OK || rc == FS_CONFLICT || rc == FS_NOT_FOUND ? 0 : -1;
}

/* The list is swapped out under the lock and settled without it: a request
 * thread answering 503 must never wait behind this loop's storage calls
 * (it did, and after an outage left thousands of ids, POSTs went
 * unanswered for seconds). The loop stops at the first failure (storage is
 * still away) and at budget_ms, so a long list cannot hold up shutdown;
 * what is left goes back on the list for the next sweep. Only the sweeper
 * calls this, so `settling` is its own. */
size_t fs_booking_settle_doubtful(struct fs_service *svc, int64_t budget_ms)
{
    int64_t deadline = fs_mono_ns() / 1000000 + budget_ms;
    char (*batch)[FS_ID_MAX + 1];
    size_t n, i = 0;

    pthread_mutex_lock(&svc->doubtful_lock);
    batch = svc->doubtful;
    svc->doubtful = svc->settling;
    svc->settling = batch;
    n = svc->n_doubtful;
    svc->n_doubtful = 0;
    pthread_mutex_unlock(&svc->doubtful_lock);

    while (i < n && fs_mono_ns() / 1000000 < deadline &&
           settle_one(svc, batch[i]) == 0)
        i++;
    for (size_t k = i; k < n; k++)
        doubtful_add(svc, batch[k]);
    return i;
}

/* Live counts, rebuilding the backend's state first if it lost it. */
static enum fs_status sale_counts(struct fs_service *svc, struct fs_sale *sale,
                                  struct fs_sale_counts *c)
{
    enum fs_status rc = fs_inventory_counts(svc->be, sale->id, c);
    if (rc != FS_NOT_FOUND)
        return rc;
    rc = fs_recovery_ensure_sale(svc, sale);
    if (rc != FS_OK)
        return rc;
    return fs_inventory_counts(svc->be, sale->id, c);
}

/* Takes back a booking recorded as queued whose message never reached the
 * queue, so that it neither blocks the user nor gets processed later. */
static void accept_undo(struct fs_service *svc, const struct fs_booking *b)
{
    struct fs_transition t = {
        .booking_id = b->booking_id, .from = FS_STATE_QUEUED,
        .to = FS_STATE_DELETED, .at_ms = fs_now_ms(),
    };
    enum fs_status rc = fs_storage_transition1(svc->be, &t, NULL);
    if (rc != FS_OK && rc != FS_CONFLICT && rc != FS_NOT_FOUND)
        doubtful_add(svc, b->booking_id);
}

/* A new queued booking of the user, with a fresh id. */
static enum fs_status booking_new(struct fs_sale *sale, const char *user_id,
                                  uint32_t hold_seconds, int64_t now,
                                  struct fs_booking *out)
{
    memset(out, 0, sizeof(*out));
    if (fs_id_generate(out->booking_id) != 0)
        return FS_ERROR;
    snprintf(out->sale_id, sizeof(out->sale_id), "%s", sale->id);
    snprintf(out->user_id, sizeof(out->user_id), "%s", user_id);
    out->state = FS_STATE_QUEUED;
    out->created_ms = out->updated_ms = now;
    out->hold_seconds = hold_seconds ? hold_seconds
                                     : (uint32_t)atomic_load(&sale->hold_seconds);
    return FS_OK;
}

/* Records the booking as queued, then queues it. */
static enum fs_status accept_record(struct fs_service *svc, struct fs_sale *sale,
                                    const char *user_id, uint32_t hold_seconds,
                                    int64_t now, struct fs_booking *out,
                                    char existing[FS_ID_MAX + 1])
{
    enum fs_status rc = booking_new(sale, user_id, hold_seconds, now, out);

    if (rc != FS_OK)
        return rc;
    /* Recorded before it is queued: the record is what makes a 202 durable
     * with a memory queue, and its unique index is the one-per-user check. */
    rc = fs_storage_insert(svc->be, out, existing);
    if (rc == FS_UNAVAILABLE || rc == FS_ERROR)
        doubtful_add(svc, out->booking_id);  /* it may be stored after all */
    if (rc != FS_OK)
        return rc;
    rc = fs_service_publish(svc, out);
    if (rc != FS_OK) {
        accept_undo(svc, out);
        return FS_UNAVAILABLE;
    }
    fs_metrics_booking(FS_STATE_QUEUED);
    return FS_OK;
}

/* The bounded queue (DESIGN.md invariant 8). This daemon's own queue: its
 * `pending` for the sale. A shared queue: `pending` is not lowered by the
 * other daemons' workers, so the broker's depth (every sale, every daemon,
 * read by the sweeper each sweep interval) stands in for it; it lags, so
 * the daemons may pass the limit by what they accept in one interval. */
static int queue_full(struct fs_service *svc, struct fs_sale *sale,
                      int64_t ahead)
{
    int64_t depth = atomic_load(&sale->max_queued);

    if (depth <= 0)
        return 0;
    if (svc->shared_queue)
        return fs_metrics_queue_depth() >= (uint64_t)depth;
    return ahead >= depth;
}

/* Counts this request in the sale's `pending` until the worker decides it,
 * and stores how many were ahead of it in *ahead; FS_QUEUE_FULL (nothing
 * counted) past sales[].max_queued. Before any backend call, so that a full
 * queue costs nothing. */
static enum fs_status take_queue_place(struct fs_service *svc,
                                       struct fs_sale *sale, int64_t *ahead)
{
    *ahead = atomic_fetch_add(&sale->pending, 1);
    if (!queue_full(svc, sale, *ahead))
        return FS_OK;
    atomic_fetch_sub(&sale->pending, 1);
    fs_metrics_sale_queue_full(sale->id);
    return FS_QUEUE_FULL;
}

/* Takes one of the sale's remaining items for this request, counted in
 * `pending` until the worker decides it; FS_SOLD_OUT when none is left. The
 * slot is taken before the counts are read: the worker lowers `available`
 * before it lowers `pending`, so a read in between sees too little stock,
 * never too much, and no more bookings are accepted than there are items. */
static enum fs_status take_slot(struct fs_service *svc, struct fs_sale *sale)
{
    struct fs_sale_counts c;
    int64_t ahead;
    enum fs_status rc = take_queue_place(svc, sale, &ahead);

    if (rc != FS_OK)
        return rc;
    rc = sale_counts(svc, sale, &c);

    /* With a shared queue another daemon's worker may decide this daemon's
     * bookings, and this daemon would never learn that they stopped being
     * pending: there only the live count decides (a request that races past
     * it ends rejected sold_out). */
    if (!svc->shared_queue && rc == FS_OK && ahead >= c.available)
        rc = FS_SOLD_OUT;
    else if (svc->shared_queue && rc == FS_OK && c.available <= 0)
        rc = FS_SOLD_OUT;
    if (rc != FS_OK)
        atomic_fetch_sub(&sale->pending, 1);
    return rc == FS_NOT_FOUND ? FS_UNAVAILABLE : rc;
}

/* ---- the accept path with claims (fs_plugin.h, DESIGN.md 9.7) -----------
 *
 * claim (one script: one per user + one unit of stock, leased) -> record
 * queued in storage -> publish, confirmed -> mark the claim durable (one
 * call per batch, claim_batch.c) -> 202. With svc->records_by_worker (a
 * durable queue, and storage with insert_many) the record step is left
 * out: the claim and the confirmed message are the 202's durability, the
 * worker writes the record when it decides the booking, and a request
 * waits only for the claim and its share of a confirm window. Why each
 * step, and what a failure at each leaves:
 * - The claim is the decision: everyone past the stock is told sold_out
 *   here, on any number of daemons, since the count lives in one place.
 * - The storage record comes before the publish so that a 202 survives the
 *   queue (memory queue: recovery re-queues queued records) and so that a
 *   rebuild of a lost inventory counts the claims still queued (recovery.c
 *   installs queued records as durable claims).
 * - Durable marking comes after the confirm and before the 202; it and the
 *   lease expiry (sweeper.c) are atomic against each other in the inventory,
 *   so a claim is either durable (its 202 stands, nobody gives it back) or
 *   given back (this request answers 503), never both. The lease therefore
 *   only bounds how long a dead daemon's claims keep their items
 *   (worker.claim_lease_ms); no timing makes it give back a 202's item.
 * - Any failure after the claim answers 503: the storage record is taken
 *   back and then the claim, or, if the inventory is away, the lease gives
 *   it back. A message that reached the queue anyway finds no claim and its
 *   record deleted, and the worker leaves it deleted: its client was never
 *   told 202 (worker.c, claim_gone, for a record still queued). */

/* claimed_undo() without a queued record: a `deleted` record first, so
 * that if the message reached the queue after all and the worker already
 * made its claim a hold, the worker finds the booking deleted and gives
 * the item back (worker.c, settle); a record the worker wrote first wins
 * instead (the booking stands, as below). Storage away: the lease gives
 * an unconfirmed claim back, and a message of it finds no claim and no
 * record, and is dropped. */
static void unrecorded_undo(struct fs_service *svc, const struct fs_booking *b)
{
    struct fs_booking gone = *b;
    char existing[FS_ID_MAX + 1];
    enum fs_status rc;

    gone.state = FS_STATE_DELETED;
    gone.updated_ms = fs_now_ms();
    rc = fs_storage_insert(svc->be, &gone, existing);
    if (rc == FS_OK)
        fs_inventory_release(svc->be, b->sale_id, b->booking_id);
}

/* Takes back a claimed booking that will be answered 503. Storage first: if
 * the worker recorded the hold meanwhile, the booking stands (the user
 * learns it as already_booked) and its item must stay taken. */
static void claimed_undo(struct fs_service *svc, const struct fs_booking *b)
{
    struct fs_transition t = {
        .booking_id = b->booking_id, .from = FS_STATE_QUEUED,
        .to = FS_STATE_DELETED, .at_ms = fs_now_ms(),
    };
    enum fs_status rc;

    if (svc->records_by_worker) {
        unrecorded_undo(svc, b);
        return;
    }
    rc = fs_storage_transition1(svc->be, &t, NULL);
    if (rc == FS_UNAVAILABLE || rc == FS_ERROR)
        doubtful_add(svc, b->booking_id);  /* the lease frees the item */
    if (rc == FS_OK || rc == FS_NOT_FOUND)
        fs_inventory_release(svc->be, b->sale_id, b->booking_id);
}

static enum fs_status claim_item(struct fs_service *svc, struct fs_sale *sale,
                                 const struct fs_booking *b,
                                 char existing[FS_ID_MAX + 1])
{
    int64_t lease = fs_now_ms() + svc->cfg->worker.claim_lease_ms;
    enum fs_status rc = fs_inventory_claim(svc->be, sale->id, b->user_id,
                                           b->booking_id, lease, existing);

    if (rc == FS_NOT_FOUND && fs_recovery_ensure_sale(svc, sale) == FS_OK) {
        /* The rebuild may have started the sale's draining (drain.h). */
        if (fs_drain_active(sale))
            return FS_UNAVAILABLE;
        rc = fs_inventory_claim(svc->be, sale->id, b->user_id, b->booking_id,
                                lease, existing);
    }
    if (rc == FS_NOT_FOUND)
        return FS_UNAVAILABLE;
    return rc == FS_CONFLICT ? FS_ERROR : rc;  /* a reused random id */
}

/* Storage (unless the worker records), then the queue, then the durable
 * mark: see above. */
static enum fs_status accept_claimed(struct fs_service *svc,
                                     struct fs_sale *sale,
                                     const struct fs_booking *b,
                                     char existing[FS_ID_MAX + 1])
{
    enum fs_status rc = svc->records_by_worker
                            ? FS_OK
                            : fs_storage_insert(svc->be, b, existing);

    if (rc != FS_OK) {
        /* DUPLICATE: storage knows an active booking the inventory lost. */
        if (rc == FS_UNAVAILABLE || rc == FS_ERROR)
            doubtful_add(svc, b->booking_id);
        fs_inventory_release(svc->be, sale->id, b->booking_id);
        return rc == FS_DUPLICATE ? rc : FS_UNAVAILABLE;
    }
    rc = fs_service_publish(svc, b);
    if (rc == FS_OK)
        rc = fs_claim_batch_durable(&sale->claims, svc->be, sale->id,
                                    b->booking_id);
    if (rc != FS_OK) {
        if (rc == FS_EXPIRED)
            fs_log_warn("booking %s: claim given back before its publish was "
                        "confirmed (lease %lld ms): 503", b->booking_id,
                        (long long)svc->cfg->worker.claim_lease_ms);
        claimed_undo(svc, b);
        return FS_UNAVAILABLE;
    }
    fs_metrics_booking(FS_STATE_QUEUED);
    return FS_OK;
}

static enum fs_status accept_with_claim(struct fs_service *svc,
                                        struct fs_sale *sale,
                                        const char *user_id,
                                        uint32_t hold_seconds, int64_t now,
                                        struct fs_booking *out,
                                        char existing[FS_ID_MAX + 1])
{
    int64_t ahead;
    enum fs_status rc;

    /* After a rebuild, the 202s still queued hold no claim: none is taken
     * until they are through (drain.h). */
    if (fs_drain_active(sale))
        return FS_UNAVAILABLE;
    rc = take_queue_place(svc, sale, &ahead);
    if (rc != FS_OK)
        return rc;
    rc = booking_new(sale, user_id, hold_seconds, now, out);
    if (rc == FS_OK)
        rc = claim_item(svc, sale, out, existing);
    if (rc == FS_OK)
        rc = accept_claimed(svc, sale, out, existing);
    if (rc != FS_OK)
        atomic_fetch_sub(&sale->pending, 1);  /* nothing queued */
    return rc;
}

enum fs_status fs_booking_accept(struct fs_service *svc, const char *sale_id,
                                 const char *user_id, uint32_t hold_seconds,
                                 struct fs_booking *out,
                                 char existing[FS_ID_MAX + 1])
{
    struct fs_sale *sale = fs_service_sale(svc, sale_id);
    int64_t now = fs_now_ms();
    enum fs_status rc;

    if (!sale)
        return FS_NOT_FOUND;
    if (!atomic_load(&svc->accepting))
        return FS_UNAVAILABLE;
    if (!fs_sale_is_open(sale, now))
        return FS_CLOSED;
    /* The replica (sale_replica.h) says none is left: no backend call, so
     * a million late users cost the inventory nothing. A user who may hold
     * an item goes on, to hear already_booked and their booking id. */
    if (fs_sale_replica_sold_out(&svc->sales, sale, user_id))
        return FS_SOLD_OUT;
    if (svc->claims)
        return accept_with_claim(svc, sale, user_id, hold_seconds, now, out,
                                 existing);
    rc = take_slot(svc, sale);
    /* One per user comes first: a user who holds or booked learns their
     * booking id, also when the sale has sold out meanwhile. Answering
     * sold_out here spares the queue and storage a million late users. */
    if (rc == FS_SOLD_OUT &&
        fs_inventory_find_user(svc->be, sale_id, user_id, existing) == FS_OK)
        return FS_DUPLICATE;
    if (rc != FS_OK)
        return rc;
    rc = accept_record(svc, sale, user_id, hold_seconds, now, out, existing);
    if (rc != FS_OK)
        atomic_fetch_sub(&sale->pending, 1);  /* the slot goes back */
    return rc;
}

/* A booking the worker has not recorded yet (svc->records_by_worker), as
 * the inventory knows it: its claim (queued) or the hold the worker made of
 * it. stored_rc is what storage said: a booking the inventory does not
 * know either is not found, or, while the sale drains (its claim may have
 * been lost with the inventory's data) or storage is away, unavailable. */
static enum fs_status unrecorded_get(struct fs_service *svc,
                                     const char *sale_id,
                                     const char *booking_id,
                                     enum fs_status stored_rc,
                                     struct fs_booking *out)
{
    struct fs_sale *sale = fs_service_sale(svc, sale_id);
    struct fs_hold h;
    enum fs_status rc;

    if (!sale)
        return stored_rc;
    rc = fs_inventory_lookup(svc->be, sale_id, booking_id, &h);
    if (rc == FS_NOT_FOUND)
        return stored_rc == FS_NOT_FOUND && fs_drain_active(sale)
                   ? FS_UNAVAILABLE
                   : stored_rc;
    if (rc != FS_OK)
        return stored_rc == FS_NOT_FOUND ? rc : stored_rc;
    memset(out, 0, sizeof(*out));
    snprintf(out->booking_id, sizeof(out->booking_id), "%s", booking_id);
    snprintf(out->sale_id, sizeof(out->sale_id), "%s", sale_id);
    snprintf(out->user_id, sizeof(out->user_id), "%s", h.user_id);
    out->state = h.state;
    /* A claim's expires_ms is its lease, not a hold's end. */
    out->hold_expires_ms = h.state == FS_STATE_QUEUED ? 0 : h.expires_ms;
    out->hold_seconds = (uint32_t)atomic_load(&sale->hold_seconds);
    out->created_ms = out->updated_ms = fs_now_ms();
    return FS_OK;
}

enum fs_status fs_booking_get(struct fs_service *svc, const char *user_id,
                              const char *sale_id, const char *booking_id,
                              struct fs_booking *out)
{
    enum fs_status rc = fs_storage_get(svc->be, booking_id, out);

    if (rc != FS_OK && svc->records_by_worker)
        rc = unrecorded_get(svc, sale_id, booking_id, rc, out);
    if (rc != FS_OK)
        return rc;
    /* Another user's booking is "not found": never reveal that it exists. */
    if (strcmp(out->user_id, user_id) != 0 || strcmp(out->sale_id, sale_id) != 0)
        return FS_NOT_FOUND;
    return FS_OK;
}

/* The change of a booking the worker has not recorded yet is its first
 * record; if the worker recorded it meanwhile, the change applies to that
 * record like any other (and loses if the state moved on). */
static enum fs_status record_first(struct fs_service *svc,
                                   const struct fs_booking *b,
                                   const struct fs_transition *t)
{
    struct fs_booking first = *b;
    char existing[FS_ID_MAX + 1];
    enum fs_status rc;

    first.state = t->to;
    first.updated_ms = t->at_ms;
    rc = fs_storage_insert(svc->be, &first, existing);
    /* DUPLICATE too: the active booking in the way may be this one, its
     * record written by the worker a moment ago. */
    if (rc == FS_CONFLICT || rc == FS_DUPLICATE) {
        rc = fs_storage_transition1(svc->be, t, NULL);
        if (rc == FS_NOT_FOUND)
            rc = FS_CONFLICT;  /* another booking of the user is active */
    }
    return rc;
}

/* Applies one storage change and re-reads the booking for the answer. */
static enum fs_status store_change(struct fs_service *svc, struct fs_booking *b,
                                   enum fs_booking_state to)
{
    struct fs_transition t = {
        .booking_id = b->booking_id, .from = b->state, .to = to,
        .hold_expires_ms = b->hold_expires_ms, .at_ms = fs_now_ms(),
    };
    enum fs_status rc = fs_storage_transition1(svc->be, &t, NULL);

    if (rc == FS_NOT_FOUND && svc->records_by_worker)
        rc = record_first(svc, b, &t);
    if (rc == FS_OK) {
        b->state = to;
        b->updated_ms = t.at_ms;
        fs_metrics_booking(to);
        fs_events_notify(b->booking_id);
    }
    return rc;
}

enum fs_status fs_booking_confirm(struct fs_service *svc, const char *user_id,
                                  const char *sale_id, const char *booking_id,
                                  struct fs_booking *out)
{
    enum fs_status rc = fs_booking_get(svc, user_id, sale_id, booking_id, out);
    if (rc != FS_OK)
        return rc;
    if (out->state != FS_STATE_HOLD)
        return FS_CONFLICT;
    /* The inventory decides the race with expiry: its confirm refuses a hold
     * whose time is up, and its expiry refuses a booked item. A crash after
     * this line leaves storage at hold: the sweeper's reconciliation reads
     * the inventory and records booked. */
    rc = fs_inventory_confirm(svc->be, sale_id, booking_id, fs_now_ms());
    if (rc == FS_EXPIRED || rc == FS_NOT_FOUND || rc == FS_CONFLICT)
        return FS_CONFLICT;
    if (rc != FS_OK)
        return rc;
    /* Of concurrent confirms of one hold, storage lets exactly one win; the
     * others are told 409 like any later confirm. */
    return store_change(svc, out, FS_STATE_BOOKED);
}

static enum fs_status cancel_queued(struct fs_service *svc, struct fs_booking *b)
{
    enum fs_status rc = store_change(svc, b, FS_STATE_DELETED);
    if (rc != FS_OK)
        return rc;
    /* The worker may have reserved already and be about to find the booking
     * deleted; it releases then too, and release gives an item back once.
     * With claims, this gives the booking's claim back. */
    fs_inventory_release(svc->be, b->sale_id, b->booking_id);
    return FS_OK;
}

static enum fs_status cancel_hold(struct fs_service *svc, struct fs_booking *b)
{
    enum fs_status rc = fs_inventory_release(svc->be, b->sale_id, b->booking_id);
    if (rc == FS_NOT_FOUND || rc == FS_CONFLICT)
        return FS_CONFLICT;  /* expired or confirmed first */
    if (rc != FS_OK)
        return rc;
    return store_change(svc, b, FS_STATE_DELETED);
}

enum fs_status fs_booking_cancel(struct fs_service *svc, const char *user_id,
                                 const char *sale_id, const char *booking_id,
                                 struct fs_booking *out)
{
    /* Two rounds: a queued booking may become a hold between our read and
     * our conditional change. */
    for (int round = 0; round < 2; round++) {
        enum fs_status rc = fs_booking_get(svc, user_id, sale_id, booking_id, out);
        if (rc != FS_OK)
            return rc;
        if (out->state == FS_STATE_QUEUED)
            rc = cancel_queued(svc, out);
        else if (out->state == FS_STATE_HOLD)
            rc = cancel_hold(svc, out);
        else
            return FS_CONFLICT;
        if (rc != FS_CONFLICT || out->state == FS_STATE_HOLD)
            return rc;
    }
    return FS_CONFLICT;
}

/* This daemon's own `pending` when the queue is its own. On a shared queue
 * the other daemons' workers decide this daemon's requests and never lower
 * its `pending`, so while the replica is live the sale's claims not yet
 * holds stand in: every daemon's accepted, undecided requests, the same on
 * each daemon. */
int64_t fs_sale_queued(struct fs_service *svc, struct fs_sale *sale)
{
    struct fs_sale_counts c;
    int64_t claimed;

    if (!svc->shared_queue || !svc->claims ||
        !fs_sale_replica_counts(&svc->sales, sale, &c))
        return atomic_load(&sale->pending);
    claimed = c.inventory - c.available - c.held - c.booked;
    return claimed > 0 ? claimed : 0;
}

enum fs_status fs_sale_get_view(struct fs_service *svc, const char *sale_id,
                                struct fs_sale_view *out)
{
    struct fs_sale *sale = fs_service_sale(svc, sale_id);
    int64_t now = fs_now_ms();
    enum fs_status rc;

    if (!sale)
        return FS_NOT_FOUND;
    rc = fs_sale_replica_counts(&svc->sales, sale, &out->counts)
             ? FS_OK
             : sale_counts(svc, sale, &out->counts);
    if (rc != FS_OK)
        return rc == FS_NOT_FOUND ? FS_UNAVAILABLE : rc;
    out->sale_id = sale->id;
    if (atomic_load(&sale->starts_at_ms) && now < atomic_load(&sale->starts_at_ms))
        out->state = "scheduled";
    else if (!fs_sale_is_open(sale, now))
        out->state = "closed";
    else if (out->counts.available <= 0)
        out->state = "sold_out";
    else
        out->state = "open";
    return FS_OK;
}
