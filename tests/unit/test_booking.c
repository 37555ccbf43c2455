/*
 * test_booking.c - the booking service, worker, sweeper and recovery over
 * the real embedded plugins (memory queue, memory inventory, SQLite), driven
 * step by step without threads or HTTP.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "booking.h"
#include "drain.h"
#include "log.h"
#include "metrics.h"
#include "recovery.h"
#include "sweeper.h"
#include "worker.h"

struct world {
    char dir[PATH_MAX];
    struct fs_config *cfg;
    struct fs_backends be;
    struct fs_service svc;
    struct fs_worker worker;  /* never started: driven by run_once */
};

static void write_config(const char *dir)
{
    char path[PATH_MAX + 32];
    FILE *f;
    snprintf(path, sizeof(path), "%s/flashsaled.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("listen: \"127.0.0.1:0\"\n"
          "auth: { jwt_secret: \"0123456789abcdef0123\" }\n"
          "plugins:\n"
          "  storage: { name: sqlite, path: bookings.db, synchronous: normal }\n"
          "sales:\n"
          "  - { id: launch, inventory: 2, hold_seconds: 1 }\n"
          "  - { id: one, inventory: 1 }\n"
          "  - { id: later, inventory: 5, starts_at: \"2099-01-01T00:00:00Z\" }\n"
          "  - { id: narrow, inventory: 10, max_queued: 2 }\n",
          f);
    fclose(f);
}

static void world_start(struct world *w)
{
    char path[PATH_MAX + 32], err[1024] = "";
    snprintf(path, sizeof(path), "%s/flashsaled.yaml", w->dir);
    w->cfg = fs_config_load(path, err, sizeof(err));
    if (!w->cfg)
        fail_msg("config: %s", err);
    if (fs_backends_open(&w->be, w->cfg, getenv("FS_PLUGIN_DIR"), err,
                         sizeof(err)) != 0 ||
        fs_backends_start(&w->be, err, sizeof(err)) != 0)
        fail_msg("backends: %s", err);
    assert_int_equal(fs_service_init(&w->svc, w->cfg, &w->be), 0);
    for (size_t i = 0; i < fs_sales_count(&w->svc.sales); i++)
        assert_int_equal(fs_recovery_ensure_sale(&w->svc, fs_sales_at(&w->svc.sales, i)),
                         FS_OK);
    memset(&w->worker, 0, sizeof(w->worker));
    w->worker.svc = &w->svc;
    atomic_init(&w->worker.running, 1);
}

static void world_stop(struct world *w)
{
    fs_backends_close(&w->be);
    fs_service_free(&w->svc);
    fs_config_free(w->cfg);
    w->cfg = NULL;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "/tmp/fs-booking-XXXXXX");
    if (!mkdtemp(w->dir))
        return -1;
    write_config(w->dir);
    world_start(w);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    char cmd[PATH_MAX + 16];
    if (w->cfg)
        world_stop(w);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    if (system(cmd) != 0)
        return -1;
    free(w);
    return 0;
}

static void accept_ok(struct world *w, const char *sale, const char *user,
                      struct fs_booking *b)
{
    char existing[FS_ID_MAX + 1];
    assert_int_equal(fs_booking_accept(&w->svc, sale, user, 0, b, existing), FS_OK);
    assert_int_equal(b->state, FS_STATE_QUEUED);
}

static enum fs_booking_state state_of(struct world *w, const char *user,
                                      const char *sale, const char *id)
{
    struct fs_booking b;
    assert_int_equal(fs_booking_get(&w->svc, user, sale, id, &b), FS_OK);
    return b.state;
}

static struct fs_sale_counts counts(struct world *w, const char *sale)
{
    struct fs_sale_counts c;
    assert_int_equal(fs_inventory_counts(&w->be, sale, &c), FS_OK);
    /* Claims (bookings accepted and not yet decided) are in none of the
     * three; nothing is in flight where the tests call this, except where
     * they say so. */
    assert_true(c.available + c.held + c.booked <= c.inventory);
    return c;
}

static void test_accepted_booking_becomes_a_hold_then_booked(void **state)
{
    struct world *w = *state;
    struct fs_booking b, got;

    accept_ok(w, "launch", "alice", &b);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(state_of(w, "alice", "launch", b.booking_id), FS_STATE_HOLD);
    assert_int_equal(counts(w, "launch").held, 1);
    assert_int_equal(fs_booking_confirm(&w->svc, "alice", "launch", b.booking_id,
                                        &got), FS_OK);
    assert_int_equal(got.state, FS_STATE_BOOKED);
    assert_int_equal(counts(w, "launch").booked, 1);
    /* Confirming twice is an invalid transition, not a second item. */
    assert_int_equal(fs_booking_confirm(&w->svc, "alice", "launch", b.booking_id,
                                        &got), FS_CONFLICT);
    assert_int_equal(counts(w, "launch").booked, 1);
}

static void test_second_request_of_a_user_is_already_booked_with_the_first_id(void **state)
{
    struct world *w = *state;
    struct fs_booking b, again;
    char existing[FS_ID_MAX + 1] = "";

    accept_ok(w, "launch", "alice", &b);
    assert_int_equal(fs_booking_accept(&w->svc, "launch", "alice", 0, &again,
                                       existing), FS_DUPLICATE);
    assert_string_equal(existing, b.booking_id);
}

static void test_accept_answers_sold_out_from_counts_before_the_worker_runs(void **state)
{
    struct world *w = *state;
    struct fs_booking b, c;
    char existing[FS_ID_MAX + 1];

    accept_ok(w, "one", "alice", &b);
    assert_int_equal(fs_booking_accept(&w->svc, "one", "bob", 0, &c, existing),
                     FS_SOLD_OUT);
    /* Nothing was recorded for bob: storage lists one queued booking. */
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(counts(w, "one").held, 1);
}

static void test_a_202_takes_its_item_at_once_as_a_claim(void **state)
{
    struct world *w = *state;
    struct fs_booking b, c;
    char existing[FS_ID_MAX + 1];
    struct fs_sale_counts n;

    accept_ok(w, "one", "alice", &b);
    n = counts(w, "one");
    assert_int_equal(n.available, 0);  /* taken before any worker ran */
    assert_int_equal(n.held, 0);
    assert_int_equal(fs_booking_accept(&w->svc, "one", "bob", 0, &c, existing),
                     FS_SOLD_OUT);
    /* A durable claim outlives any lease: the sweeper leaves it alone. */
    assert_int_equal(fs_sweeper_sweep(&w->svc, fs_now_ms() + 3600 * 1000), 0);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_HOLD);
    assert_int_equal(counts(w, "one").held, 1);
}

/* A daemon that died between its publish and the durable mark: the claim
 * is given back after its lease, once, and the message, when the worker
 * gets it, finds no claim and takes nothing (its client never got a 202). */
static void test_an_unconfirmed_claim_goes_back_after_its_lease_once(void **state)
{
    struct world *w = *state;
    struct fs_booking b = {0}, c;
    char existing[FS_ID_MAX + 1];
    int64_t now = fs_now_ms();

    snprintf(b.booking_id, sizeof(b.booking_id), "01DEADDAEMON0000000000000A");
    snprintf(b.sale_id, sizeof(b.sale_id), "one");
    snprintf(b.user_id, sizeof(b.user_id), "alice");
    b.state = FS_STATE_QUEUED;
    b.created_ms = b.updated_ms = now;
    b.hold_seconds = 60;
    assert_int_equal(fs_inventory_claim(&w->be, "one", "alice", b.booking_id,
                                        now + 1000, existing), FS_OK);
    assert_int_equal(fs_storage_insert(&w->be, &b, existing), FS_OK);
    assert_int_equal(fs_service_publish(&w->svc, &b), FS_OK);
    assert_int_equal(fs_booking_accept(&w->svc, "one", "bob", 0, &c, existing),
                     FS_SOLD_OUT);
    assert_int_equal(fs_sweeper_sweep(&w->svc, now + 999), 0);
    assert_int_equal(fs_sweeper_sweep(&w->svc, now + 1000), 1);
    assert_int_equal(fs_sweeper_sweep(&w->svc, now + 5000), 0);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_DELETED);
    assert_int_equal(counts(w, "one").available, 1);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_DELETED);
    assert_int_equal(counts(w, "one").available, 1);
    accept_ok(w, "one", "bob", &c);
}

/* A claim lost with the inventory's writes (a Redis replica promoted
 * without them) while its booking is queued in storage: the worker takes an
 * item for it, so the 202 still becomes a hold. */
static void test_a_202_whose_claim_was_lost_still_becomes_a_hold(void **state)
{
    struct world *w = *state;
    struct fs_booking b;

    accept_ok(w, "launch", "alice", &b);
    /* The lost write, behind the service's back. */
    assert_int_equal(fs_inventory_release(&w->be, "launch", b.booking_id), FS_OK);
    assert_int_equal(counts(w, "launch").available, 2);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(state_of(w, "alice", "launch", b.booking_id), FS_STATE_HOLD);
    assert_int_equal(counts(w, "launch").held, 1);
    assert_int_equal(counts(w, "launch").available, 1);
}

static void test_a_holder_asking_again_in_a_sold_out_sale_is_already_booked(void **state)
{
    struct world *w = *state;
    struct fs_booking b, again;
    char existing[FS_ID_MAX + 1] = "";

    accept_ok(w, "one", "alice", &b);
    fs_worker_run_once(&w->worker, 1000);
    assert_int_equal(counts(w, "one").available, 0);
    assert_int_equal(fs_booking_accept(&w->svc, "one", "alice", 0, &again,
                                       existing), FS_DUPLICATE);
    assert_string_equal(existing, b.booking_id);
    assert_int_equal(fs_booking_accept(&w->svc, "one", "bob", 0, &again,
                                       existing), FS_SOLD_OUT);
}

static void test_accept_refuses_unknown_and_closed_sales(void **state)
{
    struct world *w = *state;
    struct fs_booking b;
    char existing[FS_ID_MAX + 1];

    assert_int_equal(fs_booking_accept(&w->svc, "nope", "alice", 0, &b, existing),
                     FS_NOT_FOUND);
    assert_int_equal(fs_booking_accept(&w->svc, "later", "alice", 0, &b, existing),
                     FS_CLOSED);
}

static void test_another_users_booking_is_not_found(void **state)
{
    struct world *w = *state;
    struct fs_booking b, got;

    accept_ok(w, "launch", "alice", &b);
    assert_int_equal(fs_booking_get(&w->svc, "mallory", "launch", b.booking_id,
                                    &got), FS_NOT_FOUND);
    assert_int_equal(fs_booking_cancel(&w->svc, "mallory", "launch", b.booking_id,
                                       &got), FS_NOT_FOUND);
    assert_int_equal(fs_booking_get(&w->svc, "alice", "one", b.booking_id, &got),
                     FS_NOT_FOUND);
}

static void test_cancelling_a_hold_gives_the_item_back_once(void **state)
{
    struct world *w = *state;
    struct fs_booking b, got;

    accept_ok(w, "launch", "alice", &b);
    fs_worker_run_once(&w->worker, 1000);
    assert_int_equal(counts(w, "launch").available, 1);
    assert_int_equal(fs_booking_cancel(&w->svc, "alice", "launch", b.booking_id,
                                       &got), FS_OK);
    assert_int_equal(got.state, FS_STATE_DELETED);
    assert_int_equal(counts(w, "launch").available, 2);
    assert_int_equal(fs_booking_cancel(&w->svc, "alice", "launch", b.booking_id,
                                       &got), FS_CONFLICT);
    assert_int_equal(counts(w, "launch").available, 2);
}

static void test_a_booking_cancelled_while_queued_takes_no_item(void **state)
{
    struct world *w = *state;
    struct fs_booking b, got;

    accept_ok(w, "launch", "alice", &b);
    assert_int_equal(fs_booking_cancel(&w->svc, "alice", "launch", b.booking_id,
                                       &got), FS_OK);
    fs_worker_run_once(&w->worker, 1000);
    assert_int_equal(state_of(w, "alice", "launch", b.booking_id), FS_STATE_DELETED);
    assert_int_equal(counts(w, "launch").available, 2);
}

static void test_expired_hold_returns_its_item_once_and_cannot_be_confirmed(void **state)
{
    struct world *w = *state;
    struct fs_booking b, got;
    int64_t later = fs_now_ms() + 5000;

    accept_ok(w, "launch", "alice", &b);
    fs_worker_run_once(&w->worker, 1000);
    assert_int_equal(fs_sweeper_sweep(&w->svc, later), 1);
    assert_int_equal(fs_sweeper_sweep(&w->svc, later), 0);
    assert_int_equal(state_of(w, "alice", "launch", b.booking_id), FS_STATE_EXPIRED);
    assert_int_equal(counts(w, "launch").available, 2);
    assert_int_equal(fs_booking_confirm(&w->svc, "alice", "launch", b.booking_id,
                                        &got), FS_CONFLICT);
    assert_int_equal(counts(w, "launch").available, 2);
}

static void test_stock_runs_out_in_acceptance_order(void **state)
{
    struct world *w = *state;
    struct fs_booking b[2];

    accept_ok(w, "launch", "u1", &b[0]);
    accept_ok(w, "launch", "u2", &b[1]);
    /* A third is refused at accept: two pending cover the two items. */
    {
        struct fs_booking c;
        char existing[FS_ID_MAX + 1];
        assert_int_equal(fs_booking_accept(&w->svc, "launch", "u3", 0, &c, existing),
                         FS_SOLD_OUT);
    }
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 2);
    assert_int_equal(state_of(w, "u1", "launch", b[0].booking_id), FS_STATE_HOLD);
    assert_int_equal(state_of(w, "u2", "launch", b[1].booking_id), FS_STATE_HOLD);
    assert_int_equal(counts(w, "launch").available, 0);
    assert_int_equal(atomic_load(&fs_sales_find(&w->svc.sales, "launch")->pending), 0);
}

struct racer {
    struct world *w;
    int index;
    enum fs_status rc;
};

static void *race_accept(void *arg)
{
    struct racer *r = arg;
    struct fs_booking b;
    char user[32], existing[FS_ID_MAX + 1];
    snprintf(user, sizeof(user), "racer-%d", r->index);
    r->rc = fs_booking_accept(&r->w->svc, "launch", user, 0, &b, existing);
    return NULL;
}

static void test_concurrent_accepts_never_promise_more_items_than_exist(void **state)
{
    struct world *w = *state;
    struct racer r[32];
    pthread_t t[32];
    int ok = 0, sold_out = 0;

    for (int i = 0; i < 32; i++) {
        r[i] = (struct racer){.w = w, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, race_accept, &r[i]), 0);
    }
    for (int i = 0; i < 32; i++) {
        pthread_join(t[i], NULL);
        ok += r[i].rc == FS_OK;
        sold_out += r[i].rc == FS_SOLD_OUT;
    }
    /* Two items: two 202s, whatever the interleaving; nobody else. */
    assert_int_equal(ok, 2);
    assert_int_equal(sold_out, 30);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 2);
    assert_int_equal(counts(w, "launch").held, 2);
}

static void test_restart_requeues_queued_bookings_and_rebuilds_holds(void **state)
{
    struct world *w = *state;
    struct fs_booking held, queued;
    size_t requeued = 0;

    accept_ok(w, "launch", "alice", &held);
    fs_worker_run_once(&w->worker, 1000);
    accept_ok(w, "launch", "bob", &queued);
    /* "Crash": the memory queue and inventory are gone, storage stays. */
    world_stop(w);
    world_start(w);
    assert_int_equal(counts(w, "launch").held, 1);  /* rebuilt from storage */
    /* bob's 202 still counts: his queued record is a claim again. */
    assert_int_equal(counts(w, "launch").available,
                     counts(w, "launch").inventory - 2);
    assert_int_equal(fs_recovery_requeue(&w->svc, &requeued), FS_OK);
    assert_int_equal(requeued, 1);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(state_of(w, "bob", "launch", queued.booking_id), FS_STATE_HOLD);
    assert_int_equal(state_of(w, "alice", "launch", held.booking_id), FS_STATE_HOLD);
    assert_int_equal(counts(w, "launch").held, 2);
}

static void test_reconcile_records_a_hold_the_inventory_already_released(void **state)
{
    struct world *w = *state;
    struct fs_booking b;
    struct fs_hold due[4];
    size_t n = 0;
    int64_t later = fs_now_ms() + 10000;

    accept_ok(w, "launch", "alice", &b);
    fs_worker_run_once(&w->worker, 1000);
    /* The inventory expires the hold but storage never hears of it (a crash
     * between the two): reconciliation must record it. */
    assert_int_equal(fs_inventory_expire_due(&w->be, "launch", later, due, 4, &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(state_of(w, "alice", "launch", b.booking_id), FS_STATE_HOLD);
    assert_int_equal(fs_sweeper_reconcile(&w->svc, later, 0), 1);
    assert_int_equal(state_of(w, "alice", "launch", b.booking_id), FS_STATE_EXPIRED);
}

static void test_reconcile_restores_a_live_hold_the_inventory_lost(void **state)
{
    struct world *w = *state;
    struct fs_booking b;
    char existing[FS_ID_MAX + 1];

    accept_ok(w, "one", "alice", &b);
    fs_worker_run_once(&w->worker, 1000);
    /* The inventory loses the hold (a Redis restarted empty, rebuilt before
     * the worker recorded it): storage still says hold. */
    assert_int_equal(fs_inventory_release(&w->be, "one", b.booking_id), FS_OK);
    assert_int_equal(counts(w, "one").held, 0);
    assert_int_equal(fs_sweeper_reconcile(&w->svc, fs_now_ms() + 3000, 2000), 1);
    assert_int_equal(counts(w, "one").held, 1);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_HOLD);
    /* If its item went to someone else meanwhile, the hold ends instead. */
    assert_int_equal(fs_inventory_release(&w->be, "one", b.booking_id), FS_OK);
    assert_int_equal(fs_inventory_reserve(&w->be, "one", "bob", "bobs-booking",
                                          fs_now_ms() + 60000, existing), FS_OK);
    fs_sweeper_reconcile(&w->svc, fs_now_ms() + 3000, 2000);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_EXPIRED);
    assert_int_equal(counts(w, "one").held, 1);  /* bob's, and only his */
}

static void test_a_full_sale_queue_answers_queue_full_and_accepts_nothing(void **state)
{
    struct world *w = *state;
    struct fs_booking a, b, c;
    char existing[FS_ID_MAX + 1];

    accept_ok(w, "narrow", "alice", &a);
    accept_ok(w, "narrow", "bob", &b);
    assert_int_equal(fs_booking_accept(&w->svc, "narrow", "carol", 0, &c, existing),
                     FS_QUEUE_FULL);
    /* Nothing of carol's was recorded or queued: the worker finds two. */
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 2);
    assert_int_equal(counts(w, "narrow").held, 2);
    /* The worker drained the queue: there is room again. */
    accept_ok(w, "narrow", "carol", &c);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(counts(w, "narrow").held, 3);
}

/* A shared (broker) queue: the broker's depth, as the sweeper last read
 * it, stands in for the sale's queue. */
static void test_a_shared_queue_at_the_depth_limit_accepts_nothing(void **state)
{
    struct world *w = *state;
    struct fs_booking b;
    char existing[FS_ID_MAX + 1];

    w->svc.shared_queue = 1;
    fs_metrics_set_queue_depth(2);
    assert_int_equal(fs_booking_accept(&w->svc, "narrow", "alice", 0, &b, existing),
                     FS_QUEUE_FULL);
    assert_int_equal(atomic_load(&fs_sales_find(&w->svc.sales, "narrow")->pending), 0);
    fs_metrics_set_queue_depth(1);
    accept_ok(w, "narrow", "alice", &b);
    fs_metrics_set_queue_depth(0);
    w->svc.shared_queue = 0;
}

/* ---- storage off the accept path (svc->records_by_worker) ---------------
 * As with a broker queue: the memory queue stands in for it here, with the
 * service told that the queue is shared and durable. */

static void records_by_worker(struct world *w)
{
    assert_true(fs_storage_has_batch(&w->be));
    w->svc.shared_queue = 1;
    w->svc.records_by_worker = 1;
}

static void assert_not_stored(struct world *w, const char *id)
{
    struct fs_booking b;
    assert_int_equal(fs_storage_get(&w->be, id, &b), FS_NOT_FOUND);
}

static void test_a_202_stores_nothing_and_the_worker_records_its_hold(void **state)
{
    struct world *w = *state;
    struct fs_booking b, got;

    records_by_worker(w);
    accept_ok(w, "launch", "alice", &b);
    assert_not_stored(w, b.booking_id);
    /* Never 404 for a 202: the inventory's claim answers. */
    assert_int_equal(fs_booking_get(&w->svc, "alice", "launch", b.booking_id,
                                     &got), FS_OK);
    assert_int_equal(got.state, FS_STATE_QUEUED);
    assert_int_equal(fs_booking_get(&w->svc, "bob", "launch", b.booking_id,
                                     &got), FS_NOT_FOUND);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(fs_storage_get(&w->be, b.booking_id, &got), FS_OK);
    assert_int_equal(got.state, FS_STATE_HOLD);
    assert_string_equal(got.user_id, "alice");
    assert_int_equal(got.created_ms, b.created_ms);
    assert_true(got.hold_expires_ms > 0);
    assert_int_equal(counts(w, "launch").held, 1);
    assert_int_equal(fs_booking_confirm(&w->svc, "alice", "launch", b.booking_id,
                                        &got), FS_OK);
    assert_int_equal(counts(w, "launch").booked, 1);
}

/* A 503 after the claim (the claim given back): its message, if it
 * reached the queue, finds no claim and no record, and takes nothing. */
static void test_a_message_whose_claim_is_gone_is_dropped_without_a_hold(void **state)
{
    struct world *w = *state;
    struct fs_booking b;

    records_by_worker(w);
    accept_ok(w, "one", "alice", &b);
    assert_int_equal(fs_inventory_release(&w->be, "one", b.booking_id), FS_OK);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_DELETED);
    assert_int_equal(counts(w, "one").held, 0);
    assert_int_equal(counts(w, "one").available, 1);
}

/* A client's change of a booking not recorded yet is its first record, and
 * the worker's outcome, coming later, leaves it as it is. */
static void test_a_cancel_before_the_worker_records_wins_and_gives_the_item_back(
    void **state)
{
    struct world *w = *state;
    struct fs_booking b, got;

    records_by_worker(w);
    accept_ok(w, "one", "alice", &b);
    assert_int_equal(fs_booking_cancel(&w->svc, "alice", "one", b.booking_id,
                                       &got), FS_OK);
    assert_int_equal(got.state, FS_STATE_DELETED);
    assert_int_equal(counts(w, "one").available, 1);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 1);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_DELETED);
    assert_int_equal(counts(w, "one").available, 1);
    assert_int_equal(counts(w, "one").held, 0);
    accept_ok(w, "one", "bob", &got);
}

/* The inventory's state rebuilt while a 202 is queued with its claim lost
 * (drain.h): the sale accepts nothing until the marker comes back, and the
 * queued 202 takes its item first. */
static void test_a_draining_sale_answers_unavailable_until_its_queue_is_through(
    void **state)
{
    struct world *w = *state;
    struct fs_sale *sale = fs_sales_find(&w->svc.sales, "one");
    struct fs_booking b, c;
    char existing[FS_ID_MAX + 1];

    records_by_worker(w);
    accept_ok(w, "one", "alice", &b);
    /* The claim lost with the inventory's data, then the rebuild. */
    assert_int_equal(fs_inventory_release(&w->be, "one", b.booking_id), FS_OK);
    fs_drain_begin(&w->svc, sale);
    assert_true(fs_drain_active(sale));
    assert_int_equal(fs_booking_accept(&w->svc, "one", "bob", 0, &c, existing),
                     FS_UNAVAILABLE);
    assert_int_equal(counts(w, "one").available, 1);  /* bob took nothing */
    /* alice's message and the marker behind it. */
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 2);
    assert_false(fs_drain_active(sale));
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_HOLD);
    assert_int_equal(counts(w, "one").held, 1);
    assert_int_equal(fs_booking_accept(&w->svc, "one", "bob", 0, &c, existing),
                     FS_SOLD_OUT);
}

/* A daemon that died before its confirm, with the worker writing the
 * records: the lapsed claim is recorded deleted, so that its message, met
 * even during a drain, is not taken for a 202 whose claim was lost. */
static void test_a_lapsed_claim_is_recorded_deleted_and_its_message_takes_nothing(
    void **state)
{
    struct world *w = *state;
    struct fs_sale *sale = fs_sales_find(&w->svc.sales, "one");
    struct fs_booking b = {0};
    char existing[FS_ID_MAX + 1];
    int64_t now = fs_now_ms();

    records_by_worker(w);
    snprintf(b.booking_id, sizeof(b.booking_id), "01DEADDAEMON0000000000000B");
    snprintf(b.sale_id, sizeof(b.sale_id), "one");
    snprintf(b.user_id, sizeof(b.user_id), "alice");
    b.state = FS_STATE_QUEUED;
    b.created_ms = b.updated_ms = now;
    b.hold_seconds = 60;
    assert_int_equal(fs_inventory_claim(&w->be, "one", "alice", b.booking_id,
                                        now + 1000, existing), FS_OK);
    assert_int_equal(fs_service_publish(&w->svc, &b), FS_OK);
    assert_int_equal(fs_sweeper_sweep(&w->svc, now + 1000), 1);
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_DELETED);
    fs_drain_begin(&w->svc, sale);
    assert_int_equal(fs_worker_run_once(&w->worker, 1000), 2);
    assert_false(fs_drain_active(sale));
    assert_int_equal(state_of(w, "alice", "one", b.booking_id), FS_STATE_DELETED);
    assert_int_equal(counts(w, "one").available, 1);
    assert_int_equal(counts(w, "one").held, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_accepted_booking_becomes_a_hold_then_booked),
        T(test_second_request_of_a_user_is_already_booked_with_the_first_id),
        T(test_accept_answers_sold_out_from_counts_before_the_worker_runs),
        T(test_a_holder_asking_again_in_a_sold_out_sale_is_already_booked),
        T(test_accept_refuses_unknown_and_closed_sales),
        T(test_another_users_booking_is_not_found),
        T(test_cancelling_a_hold_gives_the_item_back_once),
        T(test_a_booking_cancelled_while_queued_takes_no_item),
        T(test_expired_hold_returns_its_item_once_and_cannot_be_confirmed),
        T(test_stock_runs_out_in_acceptance_order),
        T(test_concurrent_accepts_never_promise_more_items_than_exist),
        T(test_restart_requeues_queued_bookings_and_rebuilds_holds),
        T(test_a_202_takes_its_item_at_once_as_a_claim),
        T(test_an_unconfirmed_claim_goes_back_after_its_lease_once),
        T(test_a_202_whose_claim_was_lost_still_becomes_a_hold),
        T(test_reconcile_records_a_hold_the_inventory_already_released),
        T(test_reconcile_restores_a_live_hold_the_inventory_lost),
        T(test_a_full_sale_queue_answers_queue_full_and_accepts_nothing),
        T(test_a_shared_queue_at_the_depth_limit_accepts_nothing),
        T(test_a_202_stores_nothing_and_the_worker_records_its_hold),
        T(test_a_message_whose_claim_is_gone_is_dropped_without_a_hold),
        T(test_a_cancel_before_the_worker_records_wins_and_gives_the_item_back),
        T(test_a_draining_sale_answers_unavailable_until_its_queue_is_through),
        T(test_a_lapsed_claim_is_recorded_deleted_and_its_message_takes_nothing),
#undef T
    };
    fs_log_set_level(FS_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
