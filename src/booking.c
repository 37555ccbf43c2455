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
#include <sys/random.h>

#include "booking.h"
#include "events.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "recovery.h"
#include "states.h"

int fs_service_init(struct fs_service *svc, const struct fs_config *cfg,
                    struct fs_backends *be)
{
    unsigned char rnd[FS_INSTANCE_ID_LEN / 2];

    memset(svc, 0, sizeof(*svc));
    svc->cfg = cfg;
    svc->be = be;
    if (fs_sales_init(&svc->sales, cfg) != 0)
        return -1;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -1;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(svc->instance_id + 2 * i, 3, "%02x", rnd[i]);
    atomic_init(&svc->accepting, 1);
    atomic_init(&svc->rebuilds, 0);
    svc->shared_queue = be->queue.plugin &&
                        (be->queue.plugin->flags & FS_QUEUE_DURABLE) != 0;
    pthread_mutex_init(&svc->doubtful_lock, NULL);
    svc->doubtful = calloc(FS_DOUBTFUL_MAX, sizeof(*svc->doubtful));
    return svc->doubtful ? 0 : -1;
}

void fs_service_free(struct fs_service *svc)
{
    fs_sales_free(&svc->sales);
    pthread_mutex_destroy(&svc->doubtful_lock);
    free(svc->doubtful);
    svc->doubtful = NULL;
}

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

size_t fs_booking_settle_doubtful(struct fs_service *svc)
{
    size_t settled = 0, i = 0;

    pthread_mutex_lock(&svc->doubtful_lock);
    while (i < svc->n_doubtful) {
        if (settle_one(svc, svc->doubtful[i]) != 0) {
            i++;  /* storage still away: try again next sweep */
            continue;
        }
        memcpy(svc->doubtful[i], svc->doubtful[--svc->n_doubtful],
               FS_ID_MAX + 1);
        settled++;
    }
    pthread_mutex_unlock(&svc->doubtful_lock);
    return settled;
}

struct fs_sale *fs_service_sale(struct fs_service *svc, const char *sale_id)
{
    return fs_sales_find(&svc->sales, sale_id);
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

enum fs_status fs_booking_publish(struct fs_service *svc,
                                  const struct fs_booking *b)
{
    struct fs_message m;
    char body[FS_MESSAGE_MAX];
    size_t len;

    memset(&m, 0, sizeof(m));
    memcpy(m.booking_id, b->booking_id, sizeof(m.booking_id));
    memcpy(m.sale_id, b->sale_id, sizeof(m.sale_id));
    memcpy(m.user_id, b->user_id, sizeof(m.user_id));
    memcpy(m.origin, svc->instance_id, sizeof(m.origin));
    m.hold_seconds = b->hold_seconds;
    m.created_ms = b->created_ms;
    len = fs_message_encode(&m, body, sizeof(body));
    if (len == 0)
        return FS_ERROR;
    return fs_queue_publish(svc->be, body, len);
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

/* Records the booking as queued, then queues it. */
static enum fs_status accept_record(struct fs_service *svc, struct fs_sale *sale,
                                    const char *user_id, uint32_t hold_seconds,
                                    int64_t now, struct fs_booking *out,
                                    char existing[FS_ID_MAX + 1])
{
    enum fs_status rc;

    memset(out, 0, sizeof(*out));
    if (fs_id_generate(out->booking_id) != 0)
        return FS_ERROR;
    snprintf(out->sale_id, sizeof(out->sale_id), "%s", sale->id);
    snprintf(out->user_id, sizeof(out->user_id), "%s", user_id);
    out->state = FS_STATE_QUEUED;
    out->created_ms = out->updated_ms = now;
    out->hold_seconds = hold_seconds ? hold_seconds
                                     : (uint32_t)atomic_load(&sale->hold_seconds);

    /* Recorded before it is queued: the record is what makes a 202 durable
     * with a memory queue, and its unique index is the one-per-user check. */
    rc = fs_storage_insert(svc->be, out, existing);
    if (rc == FS_UNAVAILABLE || rc == FS_ERROR)
        doubtful_add(svc, out->booking_id);  /* it may be stored after all */
    if (rc != FS_OK)
        return rc;
    rc = fs_booking_publish(svc, out);
    if (rc != FS_OK) {
        accept_undo(svc, out);
        return FS_UNAVAILABLE;
    }
    fs_metrics_booking(FS_STATE_QUEUED);
    return FS_OK;
}

/* Takes one of the sale's remaining items for this request, counted in
 * `pending` until the worker decides it; FS_SOLD_OUT when none is left. The
 * slot is taken before the counts are read: the worker lowers `available`
 * before it lowers `pending`, so a read in between sees too little stock,
 * never too much, and no more bookings are accepted than there are items. */
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

static enum fs_status take_slot(struct fs_service *svc, struct fs_sale *sale)
{
    struct fs_sale_counts c;
    int64_t ahead = atomic_fetch_add(&sale->pending, 1);
    enum fs_status rc;

    /* Before any backend call, so that a full queue costs nothing. */
    if (queue_full(svc, sale, ahead)) {
        atomic_fetch_sub(&sale->pending, 1);
        fs_metrics_sale_queue_full(sale->id);
        return FS_QUEUE_FULL;
    }
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

enum fs_status fs_booking_get(struct fs_service *svc, const char *user_id,
                              const char *sale_id, const char *booking_id,
                              struct fs_booking *out)
{
    enum fs_status rc = fs_storage_get(svc->be, booking_id, out);
    if (rc != FS_OK)
        return rc;
    /* Another user's booking is "not found": never reveal that it exists. */
    if (strcmp(out->user_id, user_id) != 0 || strcmp(out->sale_id, sale_id) != 0)
        return FS_NOT_FOUND;
    return FS_OK;
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
     * deleted; it releases then too, and release gives an item back once. */
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

enum fs_status fs_sale_get_view(struct fs_service *svc, const char *sale_id,
                                struct fs_sale_view *out)
{
    struct fs_sale *sale = fs_service_sale(svc, sale_id);
    int64_t now = fs_now_ms();
    enum fs_status rc;

    if (!sale)
        return FS_NOT_FOUND;
    rc = sale_counts(svc, sale, &out->counts);
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
