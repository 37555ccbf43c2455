/*
 * storage_contract.c - the storage contract of fs_plugin.h, case by case:
 * insert and get, one active booking per (sale, user) with FS_DUPLICATE
 * naming the holder, FS_CONFLICT on an existing booking id, conditional
 * transitions and what they report, listings by sale and state across
 * pages, bookings that outlive the instance that wrote them, and the races
 * of 16 threads; written once against struct fs_storage_ops. Owns only the
 * per-test state; every plugin instance comes from the caller's fixture
 * (storage_contract.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* pthread_barrier */
#endif
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storage_contract.h"

/* What *state points at during a contract test. */
struct contract {
    const struct storage_fixture *fx;
    struct storage_instance in;
    const struct fs_storage_ops *ops;
    void *second;  /* an open_same_store() instance, destroyed at teardown */
};

/* ---- setup and helpers -------------------------------------------------- */

int storage_contract_setup(void **state)
{
    const struct storage_fixture *fx = *state;
    struct contract *t;

    if (!fx || !fx->create || !fx->destroy || !fx->open_same_store)
        fail_msg("the storage contract needs a fixture with create, destroy "
                 "and open_same_store as the test's prestate");
    t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    t->fx = fx;
    *state = t;
    fx->create(fx, &t->in);
    if (!t->in.plugin || !t->in.plugin->storage || !t->in.ctx)
        fail_msg("fixture %s made no storage plugin instance", fx->name);
    t->ops = t->in.plugin->storage;
    return 0;
}

int storage_contract_teardown(void **state)
{
    struct contract *t = *state;

    if (t->second)
        t->in.plugin->destroy(t->second);
    t->fx->destroy(t->fx, &t->in);
    free(t);
    return 0;
}

struct fs_booking storage_contract_booking(const char *booking_id,
                                           const char *sale_id,
                                           const char *user_id,
                                           int64_t created_ms)
{
    struct fs_booking b;

    memset(&b, 0, sizeof(b));
    snprintf(b.booking_id, sizeof(b.booking_id), "%s", booking_id);
    snprintf(b.sale_id, sizeof(b.sale_id), "%s", sale_id);
    snprintf(b.user_id, sizeof(b.user_id), "%s", user_id);
    b.state = FS_STATE_QUEUED;
    b.created_ms = created_ms;
    b.updated_ms = created_ms;
    b.hold_seconds = 300;
    return b;
}

enum fs_status storage_contract_insert(const struct fs_storage_ops *ops,
                                       void *ctx, const char *booking_id,
                                       const char *sale_id,
                                       const char *user_id,
                                       int64_t created_ms)
{
    struct fs_booking b =
        storage_contract_booking(booking_id, sale_id, user_id, created_ms);
    char existing[FS_ID_MAX + 1];

    return ops->insert(ctx, &b, existing);
}

static struct fs_transition change(const char *id, enum fs_booking_state from,
                                   enum fs_booking_state to, int64_t at_ms)
{
    struct fs_transition t = {.booking_id = id, .from = from, .to = to,
                              .at_ms = at_ms};
    return t;
}

enum fs_status storage_contract_move(const struct fs_storage_ops *ops,
                                     void *ctx, const char *booking_id,
                                     enum fs_booking_state from,
                                     enum fs_booking_state to,
                                     enum fs_booking_state *current)
{
    struct fs_transition t = change(booking_id, from, to, 2000);
    enum fs_status result = FS_ERROR;
    enum fs_booking_state cur = FS_STATE_NONE;
    enum fs_status rc = ops->transition(ctx, &t, 1, &result, &cur);

    if (current)
        *current = cur;
    return rc == FS_OK ? result : rc;
}

enum fs_booking_state storage_contract_state_of(
    const struct fs_storage_ops *ops, void *ctx, const char *booking_id)
{
    struct fs_booking b;

    assert_int_equal(ops->get(ctx, booking_id, &b), FS_OK);
    return b.state;
}

/* Collects booking ids in the order list() reports them. */
struct collected {
    size_t n;
    size_t stop_after;  /* 0: never stop */
    char ids[4096][FS_ID_MAX + 1];
};

static int collect(void *arg, const struct fs_booking *b)
{
    struct collected *c = arg;

    if (c->n < sizeof(c->ids) / sizeof(c->ids[0]))
        snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", b->booking_id);
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static struct collected *list_of(const struct fs_storage_ops *ops, void *ctx,
                                 const char *sale,
                                 enum fs_booking_state state,
                                 size_t stop_after)
{
    struct collected *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->stop_after = stop_after;
    assert_int_equal(ops->list(ctx, sale, state, collect, c), FS_OK);
    return c;
}

size_t storage_contract_count(const struct fs_storage_ops *ops, void *ctx,
                              const char *sale_id,
                              enum fs_booking_state state)
{
    struct collected *c = list_of(ops, ctx, sale_id, state, 0);
    size_t n = c->n;

    free(c);
    return n;
}

/* The same helpers on the test's instance. */
static enum fs_status insert(struct contract *t, const char *id,
                             const char *sale, const char *user,
                             int64_t created_ms)
{
    return storage_contract_insert(t->ops, t->in.ctx, id, sale, user,
                                   created_ms);
}

static enum fs_status move(struct contract *t, const char *id,
                           enum fs_booking_state from,
                           enum fs_booking_state to,
                           enum fs_booking_state *current)
{
    return storage_contract_move(t->ops, t->in.ctx, id, from, to, current);
}

static enum fs_booking_state state_of(struct contract *t, const char *id)
{
    return storage_contract_state_of(t->ops, t->in.ctx, id);
}

static struct collected *list(struct contract *t, const char *sale,
                              enum fs_booking_state state, size_t stop_after)
{
    return list_of(t->ops, t->in.ctx, sale, state, stop_after);
}

/* Nothing listed in any state of any sale, and the fixture's own look. */
static void assert_stores_nothing(struct contract *t)
{
    enum fs_booking_state s;

    for (s = FS_STATE_QUEUED; s <= FS_STATE_REJECTED; s++)
        assert_int_equal(storage_contract_count(t->ops, t->in.ctx, NULL, s),
                         0);
    if (t->fx->assert_stores_nothing)
        t->fx->assert_stores_nothing(t->fx, &t->in);
}

/* The instance goes away and a new one opens the same store. */
static void restart(struct contract *t)
{
    t->in.plugin->destroy(t->in.ctx);
    t->in.ctx = NULL;  /* what destroy() gets if open_same_store() fails */
    t->in.ctx = t->fx->open_same_store(t->fx, &t->in);
    assert_non_null(t->in.ctx);
}

/* ---- descriptor and health ---------------------------------------------- */

static void test_descriptor_declares_a_storage_plugin_with_every_operation(
    void **state)
{
    struct contract *t = *state;
    const struct fs_plugin *p = t->in.plugin;
    const struct fs_option *o;

    assert_int_equal(p->abi_version, FS_PLUGIN_ABI_VERSION);
    assert_int_equal(p->struct_size, sizeof(struct fs_plugin));
    assert_int_equal(p->kind, FS_PLUGIN_STORAGE);
    assert_non_null(p->name);
    assert_null(p->queue);
    assert_null(p->inventory);
    assert_non_null(p->create);
    assert_non_null(p->destroy);
    assert_non_null(p->health);
    assert_non_null(p->storage->insert);
    assert_non_null(p->storage->transition);
    assert_non_null(p->storage->get);
    assert_non_null(p->storage->list);
    /* Every config key is documented and lands inside the config struct. */
    for (o = p->options; o && o->type != FS_OPT_END; o++) {
        assert_non_null(o->name);
        assert_non_null(o->description);
        assert_true(o->offset < p->config_size);
    }
}

static void test_health_reports_ok(void **state)
{
    struct contract *t = *state;
    char detail[256] = "";

    assert_int_equal(t->in.plugin->health(t->in.ctx, detail, sizeof(detail)),
                     FS_OK);
}

/* ---- insert and get ----------------------------------------------------- */

static void test_insert_then_get_round_trips_every_field(void **state)
{
    struct contract *t = *state;
    struct fs_booking in = storage_contract_booking(
        "b-1.x_Y", "launch", "user@example.com", 1700000000123);
    struct fs_booking out;
    char existing[FS_ID_MAX + 1] = "junk";

    in.updated_ms = 1700000000456;
    in.hold_expires_ms = 1700000300123;
    in.hold_seconds = 4000000000u;
    snprintf(in.reason, sizeof(in.reason), "%s", "policy");
    assert_int_equal(t->ops->insert(t->in.ctx, &in, existing), FS_OK);
    assert_string_equal(existing, "");
    memset(&out, 0x5a, sizeof(out));
    assert_int_equal(t->ops->get(t->in.ctx, "b-1.x_Y", &out), FS_OK);
    assert_string_equal(out.booking_id, in.booking_id);
    assert_string_equal(out.sale_id, in.sale_id);
    assert_string_equal(out.user_id, in.user_id);
    assert_int_equal(out.state, FS_STATE_QUEUED);
    assert_string_equal(out.reason, "policy");
    assert_int_equal(out.created_ms, in.created_ms);
    assert_int_equal(out.updated_ms, in.updated_ms);
    assert_int_equal(out.hold_expires_ms, in.hold_expires_ms);
    assert_int_equal(out.hold_seconds, in.hold_seconds);
}

static void test_get_answers_not_found_for_unknown_booking(void **state)
{
    struct contract *t = *state;
    struct fs_booking out;

    assert_int_equal(t->ops->get(t->in.ctx, "nope", &out), FS_NOT_FOUND);
}

static void test_insert_refuses_second_active_booking_for_same_user(
    void **state)
{
    struct contract *t = *state;
    struct fs_booking b = storage_contract_booking("second", "launch",
                                                   "alice", 2);
    char existing[FS_ID_MAX + 1] = "";
    struct fs_booking out;

    assert_int_equal(insert(t, "first", "launch", "alice", 1), FS_OK);
    assert_int_equal(t->ops->insert(t->in.ctx, &b, existing), FS_DUPLICATE);
    assert_string_equal(existing, "first");
    assert_int_equal(t->ops->get(t->in.ctx, "second", &out), FS_NOT_FOUND);
    /* Another sale, or another user, is not a duplicate. */
    assert_int_equal(insert(t, "other-sale", "later", "alice", 3), FS_OK);
    assert_int_equal(insert(t, "other-user", "launch", "bob", 4), FS_OK);
}

static void test_insert_refuses_duplicate_while_first_is_held_or_booked(
    void **state)
{
    struct contract *t = *state;
    char existing[FS_ID_MAX + 1] = "";
    struct fs_booking b = storage_contract_booking("again", "launch", "alice",
                                                   9);

    assert_int_equal(insert(t, "first", "launch", "alice", 1), FS_OK);
    assert_int_equal(move(t, "first", FS_STATE_QUEUED, FS_STATE_HOLD, NULL),
                     FS_OK);
    assert_int_equal(t->ops->insert(t->in.ctx, &b, existing), FS_DUPLICATE);
    assert_string_equal(existing, "first");
    assert_int_equal(move(t, "first", FS_STATE_HOLD, FS_STATE_BOOKED, NULL),
                     FS_OK);
    assert_int_equal(t->ops->insert(t->in.ctx, &b, existing), FS_DUPLICATE);
    assert_string_equal(existing, "first");
}

static void test_rejected_or_deleted_booking_frees_the_users_slot(void **state)
{
    struct contract *t = *state;

    assert_int_equal(insert(t, "one", "launch", "alice", 1), FS_OK);
    assert_int_equal(move(t, "one", FS_STATE_QUEUED, FS_STATE_REJECTED, NULL),
                     FS_OK);
    assert_int_equal(insert(t, "two", "launch", "alice", 2), FS_OK);
    assert_int_equal(move(t, "two", FS_STATE_QUEUED, FS_STATE_HOLD, NULL),
                     FS_OK);
    assert_int_equal(move(t, "two", FS_STATE_HOLD, FS_STATE_DELETED, NULL),
                     FS_OK);
    assert_int_equal(insert(t, "three", "launch", "alice", 3), FS_OK);
    assert_int_equal(state_of(t, "one"), FS_STATE_REJECTED);
    assert_int_equal(state_of(t, "two"), FS_STATE_DELETED);
    assert_int_equal(state_of(t, "three"), FS_STATE_QUEUED);
}

static void test_insert_refuses_existing_booking_id(void **state)
{
    struct contract *t = *state;
    struct fs_booking out;

    assert_int_equal(insert(t, "same-id", "launch", "alice", 1), FS_OK);
    assert_int_equal(insert(t, "same-id", "launch", "bob", 2), FS_CONFLICT);
    assert_int_equal(insert(t, "same-id", "other", "carol", 3), FS_CONFLICT);
    /* Same id and same user: the id is what is refused. */
    assert_int_equal(insert(t, "same-id", "launch", "alice", 4), FS_CONFLICT);
    assert_int_equal(t->ops->get(t->in.ctx, "same-id", &out), FS_OK);
    assert_string_equal(out.user_id, "alice");
    assert_int_equal(out.created_ms, 1);
}

static void test_operations_refuse_bad_arguments(void **state)
{
    struct contract *t = *state;
    const struct fs_storage_ops *ops = t->ops;
    void *ctx = t->in.ctx;
    struct fs_booking b = storage_contract_booking("ok", "launch", "alice", 1);
    struct fs_booking out;
    struct fs_transition tr = change("ok", FS_STATE_QUEUED, FS_STATE_HOLD, 1);
    enum fs_status result;
    char existing[FS_ID_MAX + 1];
    char long_id[FS_ID_MAX + 2];

    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(ops->insert(NULL, &b, existing), FS_INVALID);
    assert_int_equal(ops->insert(ctx, NULL, existing), FS_INVALID);
    b.booking_id[0] = '\0';
    assert_int_equal(ops->insert(ctx, &b, existing), FS_INVALID);
    b = storage_contract_booking("bad/id", "launch", "alice", 1);
    assert_int_equal(ops->insert(ctx, &b, existing), FS_INVALID);
    b = storage_contract_booking("ok", "launch", "", 1);
    assert_int_equal(ops->insert(ctx, &b, existing), FS_INVALID);
    b = storage_contract_booking("ok", "launch", "alice", 1);
    b.state = (enum fs_booking_state)42;
    assert_int_equal(ops->insert(ctx, &b, existing), FS_INVALID);
    b = storage_contract_booking("ok", "launch", "alice", 1);
    memset(b.reason, 'x', sizeof(b.reason));  /* no terminator */
    assert_int_equal(ops->insert(ctx, &b, existing), FS_INVALID);

    assert_int_equal(ops->transition(ctx, NULL, 1, &result, NULL),
                     FS_INVALID);
    assert_int_equal(ops->transition(ctx, &tr, 1, NULL, NULL), FS_INVALID);
    tr.booking_id = NULL;
    assert_int_equal(ops->transition(ctx, &tr, 1, &result, NULL), FS_INVALID);
    tr = change("ok", FS_STATE_NONE, FS_STATE_HOLD, 1);
    assert_int_equal(ops->transition(ctx, &tr, 1, &result, NULL), FS_INVALID);
    tr = change("ok", FS_STATE_REJECTED, FS_STATE_QUEUED, 1);
    assert_int_equal(ops->transition(ctx, &tr, 1, &result, NULL), FS_INVALID);

    assert_int_equal(ops->get(ctx, NULL, &out), FS_INVALID);
    assert_int_equal(ops->get(ctx, "ok", NULL), FS_INVALID);
    assert_int_equal(ops->get(ctx, long_id, &out), FS_INVALID);
    assert_int_equal(ops->list(ctx, "launch", FS_STATE_QUEUED, NULL, NULL),
                     FS_INVALID);
    assert_int_equal(ops->list(ctx, "bad sale", FS_STATE_QUEUED, collect,
                               NULL),
                     FS_INVALID);
    assert_int_equal(ops->list(ctx, "launch", FS_STATE_NONE, collect, NULL),
                     FS_INVALID);
    /* Nothing was written by any of them. */
    assert_int_equal(ops->get(ctx, "ok", &out), FS_NOT_FOUND);
    assert_stores_nothing(t);
}

/* ---- transition --------------------------------------------------------- */

static void test_transition_applies_change_when_state_matches(void **state)
{
    struct contract *t = *state;
    struct fs_transition tr = change("b1", FS_STATE_QUEUED, FS_STATE_HOLD,
                                     500);
    enum fs_status result = FS_ERROR;
    enum fs_booking_state current = FS_STATE_NONE;
    struct fs_booking out;

    tr.hold_expires_ms = 300500;
    assert_int_equal(insert(t, "b1", "launch", "alice", 100), FS_OK);
    assert_int_equal(t->ops->transition(t->in.ctx, &tr, 1, &result,
                                        &current),
                     FS_OK);
    assert_int_equal(result, FS_OK);
    assert_int_equal(current, FS_STATE_HOLD);
    assert_int_equal(t->ops->get(t->in.ctx, "b1", &out), FS_OK);
    assert_int_equal(out.state, FS_STATE_HOLD);
    assert_int_equal(out.updated_ms, 500);
    assert_int_equal(out.hold_expires_ms, 300500);
    assert_int_equal(out.created_ms, 100);
}

static void test_transition_records_rejection_reason(void **state)
{
    struct contract *t = *state;
    struct fs_transition tr = change("b1", FS_STATE_QUEUED, FS_STATE_REJECTED,
                                     700);
    enum fs_status result = FS_ERROR;
    struct fs_booking out;

    tr.reason = "sold_out";
    assert_int_equal(insert(t, "b1", "launch", "alice", 100), FS_OK);
    assert_int_equal(t->ops->transition(t->in.ctx, &tr, 1, &result, NULL),
                     FS_OK);
    assert_int_equal(result, FS_OK);
    assert_int_equal(t->ops->get(t->in.ctx, "b1", &out), FS_OK);
    assert_int_equal(out.state, FS_STATE_REJECTED);
    assert_string_equal(out.reason, "sold_out");
    assert_int_equal(out.updated_ms, 700);
    assert_int_equal(out.hold_expires_ms, 0);
}

static void test_transition_reports_conflict_with_current_state(void **state)
{
    struct contract *t = *state;
    enum fs_booking_state current = FS_STATE_NONE;
    struct fs_booking out;

    assert_int_equal(insert(t, "b1", "launch", "alice", 100), FS_OK);
    assert_int_equal(move(t, "b1", FS_STATE_HOLD, FS_STATE_BOOKED, &current),
                     FS_CONFLICT);
    assert_int_equal(current, FS_STATE_QUEUED);
    assert_int_equal(t->ops->get(t->in.ctx, "b1", &out), FS_OK);
    assert_int_equal(out.state, FS_STATE_QUEUED);
    assert_int_equal(out.updated_ms, 100);
}

static void test_transition_reports_not_found_for_unknown_booking(void **state)
{
    struct contract *t = *state;
    enum fs_booking_state current = FS_STATE_HOLD;

    assert_int_equal(move(t, "ghost", FS_STATE_QUEUED, FS_STATE_HOLD,
                          &current),
                     FS_NOT_FOUND);
    assert_int_equal(current, FS_STATE_NONE);
}

static void test_transition_batch_mixes_ok_conflict_and_not_found(void **state)
{
    struct contract *t = *state;
    struct fs_transition tr[4] = {
        change("a", FS_STATE_QUEUED, FS_STATE_HOLD, 10),
        change("b", FS_STATE_HOLD, FS_STATE_BOOKED, 10),
        change("ghost", FS_STATE_QUEUED, FS_STATE_HOLD, 10),
        change("c", FS_STATE_QUEUED, FS_STATE_DELETED, 10),
    };
    enum fs_status results[4];
    enum fs_booking_state current[4];

    assert_int_equal(insert(t, "a", "launch", "u1", 1), FS_OK);
    assert_int_equal(insert(t, "b", "launch", "u2", 2), FS_OK);
    assert_int_equal(insert(t, "c", "launch", "u3", 3), FS_OK);
    assert_int_equal(t->ops->transition(t->in.ctx, tr, 4, results, current),
                     FS_OK);
    assert_int_equal(results[0], FS_OK);
    assert_int_equal(current[0], FS_STATE_HOLD);
    assert_int_equal(results[1], FS_CONFLICT);
    assert_int_equal(current[1], FS_STATE_QUEUED);
    assert_int_equal(results[2], FS_NOT_FOUND);
    assert_int_equal(current[2], FS_STATE_NONE);
    assert_int_equal(results[3], FS_OK);
    assert_int_equal(current[3], FS_STATE_DELETED);
    assert_int_equal(state_of(t, "a"), FS_STATE_HOLD);
    assert_int_equal(state_of(t, "b"), FS_STATE_QUEUED);
    assert_int_equal(state_of(t, "c"), FS_STATE_DELETED);
}

static void test_transition_batch_applies_items_in_order(void **state)
{
    struct contract *t = *state;
    struct fs_transition tr[2] = {
        change("a", FS_STATE_QUEUED, FS_STATE_HOLD, 10),
        change("a", FS_STATE_HOLD, FS_STATE_BOOKED, 11),
    };
    enum fs_status results[2];

    assert_int_equal(insert(t, "a", "launch", "u1", 1), FS_OK);
    assert_int_equal(t->ops->transition(t->in.ctx, tr, 2, results, NULL),
                     FS_OK);
    assert_int_equal(results[0], FS_OK);
    assert_int_equal(results[1], FS_OK);
    assert_int_equal(state_of(t, "a"), FS_STATE_BOOKED);
}

/* ---- list --------------------------------------------------------------- */

static void test_list_by_sale_and_state_returns_oldest_accepted_first(
    void **state)
{
    struct contract *t = *state;
    struct collected *c;

    /* Inserted out of created_ms order; "t1" and "t2" tie on created_ms and
     * keep their insertion order. */
    assert_int_equal(insert(t, "late", "launch", "u1", 300), FS_OK);
    assert_int_equal(insert(t, "early", "launch", "u2", 100), FS_OK);
    assert_int_equal(insert(t, "t1", "launch", "u3", 200), FS_OK);
    assert_int_equal(insert(t, "t2", "launch", "u4", 200), FS_OK);
    assert_int_equal(insert(t, "held", "launch", "u5", 50), FS_OK);
    assert_int_equal(insert(t, "elsewhere", "other", "u6", 10), FS_OK);
    assert_int_equal(move(t, "held", FS_STATE_QUEUED, FS_STATE_HOLD, NULL),
                     FS_OK);

    c = list(t, "launch", FS_STATE_QUEUED, 0);
    assert_int_equal(c->n, 4);
    assert_string_equal(c->ids[0], "early");
    assert_string_equal(c->ids[1], "t1");
    assert_string_equal(c->ids[2], "t2");
    assert_string_equal(c->ids[3], "late");
    free(c);
    c = list(t, "launch", FS_STATE_HOLD, 0);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->ids[0], "held");
    free(c);
    c = list(t, "nosuchsale", FS_STATE_QUEUED, 0);
    assert_int_equal(c->n, 0);
    free(c);
}

static void test_list_with_null_sale_covers_every_sale(void **state)
{
    struct contract *t = *state;
    struct collected *c;

    assert_int_equal(insert(t, "x", "sale-b", "u1", 30), FS_OK);
    assert_int_equal(insert(t, "y", "sale-a", "u1", 10), FS_OK);
    assert_int_equal(insert(t, "z", "sale-c", "u1", 20), FS_OK);
    assert_int_equal(move(t, "z", FS_STATE_QUEUED, FS_STATE_REJECTED, NULL),
                     FS_OK);
    c = list(t, NULL, FS_STATE_QUEUED, 0);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->ids[0], "y");
    assert_string_equal(c->ids[1], "x");
    free(c);
}

static void test_list_stops_when_callback_returns_nonzero(void **state)
{
    struct contract *t = *state;
    struct collected *c;
    char id[16];
    int i;

    for (i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "b%d", i);
        assert_int_equal(insert(t, id, "launch", id, i), FS_OK);
    }
    c = list(t, "launch", FS_STATE_QUEUED, 2);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->ids[1], "b1");
    free(c);
}

/* More bookings than a plugin's internal page is likely to hold, all with
 * the same created_ms, so that a page boundary falls inside a tie. */
static void test_list_reports_every_row_once_across_pages(void **state)
{
    struct contract *t = *state;
    struct collected *c;
    char id[16], expect[16];
    int i;

    for (i = 0; i < 150; i++) {
        snprintf(id, sizeof(id), "b%03d", i);
        assert_int_equal(insert(t, id, "launch", id, 42), FS_OK);
    }
    c = list(t, "launch", FS_STATE_QUEUED, 0);
    assert_int_equal(c->n, 150);
    for (i = 0; i < 150; i++) {
        snprintf(expect, sizeof(expect), "b%03d", i);
        assert_string_equal(c->ids[i], expect);
    }
    free(c);
    c = list(t, NULL, FS_STATE_QUEUED, 100);
    assert_int_equal(c->n, 100);
    free(c);
}

/* The callback reads and changes what is being listed. */
static int get_and_reject(void *arg, const struct fs_booking *b)
{
    struct contract *t = arg;
    struct fs_transition tr = change(b->booking_id, FS_STATE_QUEUED,
                                     FS_STATE_REJECTED, 5);
    enum fs_status result = FS_ERROR;
    struct fs_booking again;

    if (t->ops->get(t->in.ctx, b->booking_id, &again) != FS_OK)
        return 1;
    if (t->ops->transition(t->in.ctx, &tr, 1, &result, NULL) != FS_OK ||
        result != FS_OK)
        return 1;
    return 0;
}

/* More bookings than one internal page (64 in both built-in plugins), so
 * that the listing still has pages to read while the callback runs. */
void storage_contract_test_list_callback_may_call_back_into_the_storage(
    void **state)
{
    struct contract *t = *state;
    char id[16];
    int i;

    for (i = 0; i < 70; i++) {
        snprintf(id, sizeof(id), "b%d", i);
        assert_int_equal(insert(t, id, "launch", id, i), FS_OK);
    }
    assert_int_equal(t->ops->list(t->in.ctx, "launch", FS_STATE_QUEUED,
                                  get_and_reject, t),
                     FS_OK);
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "launch",
                                            FS_STATE_REJECTED),
                     70);
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "launch",
                                            FS_STATE_QUEUED),
                     0);
}

/* ---- bookings outlive the instance that wrote them ---------------------- */

static void test_bookings_survive_destroy_and_create_on_the_same_store(
    void **state)
{
    struct contract *t = *state;
    struct fs_booking out;

    assert_int_equal(insert(t, "kept", "launch", "alice", 10), FS_OK);
    assert_int_equal(insert(t, "held", "launch", "bob", 20), FS_OK);
    assert_int_equal(move(t, "held", FS_STATE_QUEUED, FS_STATE_HOLD, NULL),
                     FS_OK);
    restart(t);
    assert_int_equal(t->ops->get(t->in.ctx, "kept", &out), FS_OK);
    assert_string_equal(out.user_id, "alice");
    assert_int_equal(out.state, FS_STATE_QUEUED);
    assert_int_equal(state_of(t, "held"), FS_STATE_HOLD);
    /* The one-per-user rule holds across the restart too. */
    assert_int_equal(insert(t, "again", "launch", "alice", 30), FS_DUPLICATE);
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "launch",
                                            FS_STATE_QUEUED),
                     1);
}

/* Two daemons over one store: each sees the other's writes and the
 * one-per-user rule spans both. */
static void test_second_instance_on_the_same_store_shares_every_rule(
    void **state)
{
    struct contract *t = *state;
    struct fs_booking b = storage_contract_booking("from-two", "launch",
                                                   "alice", 2);
    char existing[FS_ID_MAX + 1] = "";
    struct fs_booking out;

    t->second = t->fx->open_same_store(t->fx, &t->in);
    assert_non_null(t->second);
    assert_int_equal(insert(t, "from-one", "launch", "alice", 1), FS_OK);
    assert_int_equal(t->ops->get(t->second, "from-one", &out), FS_OK);
    assert_int_equal(t->ops->insert(t->second, &b, existing), FS_DUPLICATE);
    assert_string_equal(existing, "from-one");
    b = storage_contract_booking("from-two", "launch", "bob", 2);
    assert_int_equal(t->ops->insert(t->second, &b, existing), FS_OK);
    assert_int_equal(state_of(t, "from-two"), FS_STATE_QUEUED);
}

/* ---- concurrency -------------------------------------------------------- */

#define THREADS 16
#define DEFAULT_INSERTS_PER_THREAD 40
#define DEFAULT_SHARED_USERS 20

/* cmocka's asserts must stay on the main thread: workers record outcomes
 * and the main thread asserts on them. A plugin without
 * FS_PLUGIN_THREAD_SAFE has its calls serialized, as the core does. */
struct race {
    struct contract *t;
    int serialize;
    pthread_mutex_t call_lock;
    pthread_barrier_t go;
};

struct worker {
    struct race *r;
    int id;
    int count;     /* bookings or users this worker goes through */
    int failures;  /* inserts of distinct users that did not land */
    /* Per shared user (NULL: users are distinct): insert's answer and the
     * id it named. */
    enum fs_status *status;
    char (*existing)[FS_ID_MAX + 1];
    /* The racing confirm: the call's answer, its item's, the state named. */
    enum fs_status rc, result;
    enum fs_booking_state current;
};

static void race_init(struct race *r, struct contract *t)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    r->serialize = !(t->in.plugin->flags & FS_PLUGIN_THREAD_SAFE);
    pthread_mutex_init(&r->call_lock, NULL);
}

static void race_destroy(struct race *r)
{
    pthread_mutex_destroy(&r->call_lock);
}

static enum fs_status race_insert(struct race *r, const struct fs_booking *b,
                                  char existing[FS_ID_MAX + 1])
{
    enum fs_status st;

    if (r->serialize)
        pthread_mutex_lock(&r->call_lock);
    st = r->t->ops->insert(r->t->in.ctx, b, existing);
    if (r->serialize)
        pthread_mutex_unlock(&r->call_lock);
    return st;
}

/* Starts THREADS workers on `fn` together and waits for them all. */
static void run_race(struct race *r, struct worker *w, void *(*fn)(void *))
{
    pthread_t th[THREADS];
    int i;

    pthread_barrier_init(&r->go, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        w[i].r = r;
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, fn, &w[i]), 0);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r->go);
}

/* Thread w->id inserts booking "t<id>-b<i>" for each i < w->count, of user
 * "t<id>-u<i>" (distinct users), or with w->status set, of user "user<i>",
 * the same users as every other thread, recording each answer. */
static void *insert_many(void *arg)
{
    struct worker *w = arg;
    struct fs_booking b;
    char id[FS_ID_MAX + 1], user[32], existing[FS_ID_MAX + 1];
    enum fs_status st;
    int i;

    pthread_barrier_wait(&w->r->go);
    for (i = 0; i < w->count; i++) {
        snprintf(id, sizeof(id), "t%d-b%d", w->id, i);
        if (w->status)
            snprintf(user, sizeof(user), "user%d", i);
        else
            snprintf(user, sizeof(user), "t%d-u%d", w->id, i);
        b = storage_contract_booking(id, "rush", user, i);
        st = race_insert(w->r, &b, w->status ? w->existing[i] : existing);
        if (w->status)
            w->status[i] = st;
        else if (st != FS_OK)
            w->failures++;
    }
    return NULL;
}

void storage_contract_test_concurrent_inserts_all_succeed_and_are_readable(
    void **state)
{
    struct contract *t = *state;
    int each = t->fx->race_inserts_per_thread > 0
                   ? t->fx->race_inserts_per_thread
                   : DEFAULT_INSERTS_PER_THREAD;
    struct worker w[THREADS];
    struct race r;
    struct fs_booking out;
    char id[FS_ID_MAX + 1];
    int i, k;

    memset(w, 0, sizeof(w));
    for (i = 0; i < THREADS; i++)
        w[i].count = each;
    race_init(&r, t);
    run_race(&r, w, insert_many);
    race_destroy(&r);
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].failures, 0);
        for (k = 0; k < each; k++) {
            snprintf(id, sizeof(id), "t%d-b%d", i, k);
            assert_int_equal(t->ops->get(t->in.ctx, id, &out), FS_OK);
        }
    }
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "rush",
                                            FS_STATE_QUEUED),
                     (size_t)(THREADS * each));
}

/* User u's race: one winner, every other thread told the winner's id. */
static void assert_one_winner(const struct worker *w, int u)
{
    char winner[FS_ID_MAX + 1] = "";
    int i, wins = 0;

    for (i = 0; i < THREADS; i++) {
        if (w[i].status[u] == FS_OK) {
            snprintf(winner, sizeof(winner), "t%d-b%d", i, u);
            wins++;
        }
    }
    assert_int_equal(wins, 1);
    for (i = 0; i < THREADS; i++) {
        if (w[i].status[u] == FS_OK)
            continue;
        assert_int_equal(w[i].status[u], FS_DUPLICATE);
        assert_string_equal(w[i].existing[u], winner);
    }
}

/* Every thread books the same users: per user exactly one insert wins and
 * every loser is told the winner's id. */
static void test_concurrent_duplicates_leave_one_booking_per_user(void **state)
{
    struct contract *t = *state;
    int users = t->fx->race_shared_users > 0 ? t->fx->race_shared_users
                                             : DEFAULT_SHARED_USERS;
    struct worker w[THREADS];
    struct race r;
    int i, u;

    memset(w, 0, sizeof(w));
    for (i = 0; i < THREADS; i++) {
        w[i].count = users;
        w[i].status = calloc((size_t)users, sizeof(*w[i].status));
        w[i].existing = calloc((size_t)users, sizeof(*w[i].existing));
        assert_non_null(w[i].status);
        assert_non_null(w[i].existing);
    }
    race_init(&r, t);
    run_race(&r, w, insert_many);
    race_destroy(&r);
    for (u = 0; u < users; u++)
        assert_one_winner(w, u);
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "rush",
                                            FS_STATE_QUEUED),
                     (size_t)users);
    for (i = 0; i < THREADS; i++) {
        free(w[i].status);
        free(w[i].existing);
    }
}

static void *confirm_once(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    struct fs_transition tr = change("contested", FS_STATE_HOLD,
                                     FS_STATE_BOOKED, 77);

    pthread_barrier_wait(&r->go);
    if (r->serialize)
        pthread_mutex_lock(&r->call_lock);
    w->rc = r->t->ops->transition(r->t->in.ctx, &tr, 1, &w->result,
                                  &w->current);
    if (r->serialize)
        pthread_mutex_unlock(&r->call_lock);
    return NULL;
}

static void test_racing_confirms_of_one_hold_produce_exactly_one_ok(
    void **state)
{
    struct contract *t = *state;
    struct worker w[THREADS];
    struct race r;
    int i, ok = 0, conflict = 0;

    assert_int_equal(insert(t, "contested", "launch", "alice", 1), FS_OK);
    assert_int_equal(move(t, "contested", FS_STATE_QUEUED, FS_STATE_HOLD,
                          NULL),
                     FS_OK);
    memset(w, 0, sizeof(w));
    for (i = 0; i < THREADS; i++)
        w[i].rc = w[i].result = FS_ERROR;
    race_init(&r, t);
    run_race(&r, w, confirm_once);
    race_destroy(&r);
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].rc, FS_OK);
        if (w[i].result == FS_OK) {
            ok++;
        } else {
            assert_int_equal(w[i].result, FS_CONFLICT);
            assert_int_equal(w[i].current, FS_STATE_BOOKED);
            conflict++;
        }
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, THREADS - 1);
    assert_int_equal(state_of(t, "contested"), FS_STATE_BOOKED);
}

/* ---- a change racing the booking's first insert --------------------------
 * The worker writes a booking's first record (a hold) while its user's
 * cancel changes it: the change finds it (applied) or does not (not
 * found), but is never refused as a conflict while the booking is in the
 * state the change expects. */

#define FIRST_RACE_ROUNDS 60

struct first_race {
    struct race *r;
    pthread_barrier_t step;
    enum fs_status inserted[FIRST_RACE_ROUNDS];
    enum fs_status rc[FIRST_RACE_ROUNDS], result[FIRST_RACE_ROUNDS];
    enum fs_booking_state current[FIRST_RACE_ROUNDS];
};

static void *insert_holds(void *arg)
{
    struct first_race *fr = arg;
    char id[32], user[32], existing[FS_ID_MAX + 1];

    for (int i = 0; i < FIRST_RACE_ROUNDS; i++) {
        struct fs_booking b;
        snprintf(id, sizeof(id), "first-%d", i);
        snprintf(user, sizeof(user), "first-user-%d", i);
        b = storage_contract_booking(id, "launch", user, 1000 + i);
        b.state = FS_STATE_HOLD;
        b.hold_expires_ms = 900000;
        pthread_barrier_wait(&fr->step);
        fr->inserted[i] = race_insert(fr->r, &b, existing);
    }
    return NULL;
}

static void *cancel_holds(void *arg)
{
    struct first_race *fr = arg;
    struct race *r = fr->r;
    char id[32];

    for (int i = 0; i < FIRST_RACE_ROUNDS; i++) {
        struct fs_transition tr;
        snprintf(id, sizeof(id), "first-%d", i);
        tr = change(id, FS_STATE_HOLD, FS_STATE_DELETED, 2000 + i);
        pthread_barrier_wait(&fr->step);
        if (r->serialize)
            pthread_mutex_lock(&r->call_lock);
        fr->rc[i] = r->t->ops->transition(r->t->in.ctx, &tr, 1, &fr->result[i],
                                          &fr->current[i]);
        if (r->serialize)
            pthread_mutex_unlock(&r->call_lock);
    }
    return NULL;
}

static void test_a_change_racing_the_first_insert_is_never_a_conflict(
    void **state)
{
    struct contract *t = *state;
    struct first_race *fr = calloc(1, sizeof(*fr));
    struct race r;
    pthread_t ins, can;
    char id[32];

    assert_non_null(fr);
    race_init(&r, t);
    fr->r = &r;
    pthread_barrier_init(&fr->step, NULL, 2);
    assert_int_equal(pthread_create(&ins, NULL, insert_holds, fr), 0);
    assert_int_equal(pthread_create(&can, NULL, cancel_holds, fr), 0);
    pthread_join(ins, NULL);
    pthread_join(can, NULL);
    pthread_barrier_destroy(&fr->step);
    race_destroy(&r);
    for (int i = 0; i < FIRST_RACE_ROUNDS; i++) {
        snprintf(id, sizeof(id), "first-%d", i);
        assert_int_equal(fr->inserted[i], FS_OK);
        assert_int_equal(fr->rc[i], FS_OK);
        if (fr->result[i] == FS_CONFLICT)
            fail_msg("round %d: the change was refused as a conflict with the "
                     "booking in state %d, the state it expects", i,
                     (int)fr->current[i]);
        assert_int_equal(state_of(t, id), fr->result[i] == FS_OK
                                              ? FS_STATE_DELETED
                                              : FS_STATE_HOLD);
        if (fr->result[i] != FS_OK)
            assert_int_equal(fr->result[i], FS_NOT_FOUND);
    }
    free(fr);
}

/* ---- insert_many (struct fs_storage_batch_ops, optional) ----------------
 * A plugin without the table gets the older accept path from the core (it
 * records each booking before its 202); these tests then check only that
 * the slot is empty, as an old descriptor's would be. */

static const struct fs_storage_batch_ops *batch_of(struct contract *t)
{
    const struct fs_storage_batch_ops *o = t->in.plugin->storage_batch;

    if (o) {
        assert_true(o->struct_size >= sizeof(*o));
        assert_non_null(o->insert_many);
    }
    return o;
}

static struct fs_booking decided(const char *id, const char *user,
                                 enum fs_booking_state state,
                                 const char *reason)
{
    struct fs_booking b = storage_contract_booking(id, "launch", user, 10);

    b.state = state;
    b.updated_ms = 20;
    if (state == FS_STATE_HOLD)
        b.hold_expires_ms = 300020;
    if (reason)
        snprintf(b.reason, sizeof(b.reason), "%s", reason);
    return b;
}

static void test_insert_many_writes_each_booking_in_its_own_state(void **state)
{
    struct contract *t = *state;
    const struct fs_storage_batch_ops *o = batch_of(t);
    struct fs_booking b[3], out;
    enum fs_status r[3] = {FS_ERROR, FS_ERROR, FS_ERROR};

    if (!o)
        return;
    b[0] = decided("m-hold", "alice", FS_STATE_HOLD, NULL);
    b[1] = decided("m-rejected", "bob", FS_STATE_REJECTED, "sold_out");
    b[2] = decided("m-deleted", "carol", FS_STATE_DELETED, NULL);
    assert_int_equal(o->insert_many(t->in.ctx, b, 3, r), FS_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i], FS_OK);
    assert_int_equal(t->ops->get(t->in.ctx, "m-hold", &out), FS_OK);
    assert_int_equal(out.state, FS_STATE_HOLD);
    assert_int_equal(out.hold_expires_ms, 300020);
    assert_int_equal(out.updated_ms, 20);
    assert_string_equal(out.user_id, "alice");
    assert_int_equal(t->ops->get(t->in.ctx, "m-rejected", &out), FS_OK);
    assert_int_equal(out.state, FS_STATE_REJECTED);
    assert_string_equal(out.reason, "sold_out");
    assert_int_equal(state_of(t, "m-deleted"), FS_STATE_DELETED);
    /* The hold counts for the one-per-user rule like any active booking. */
    assert_int_equal(insert(t, "m-second", "launch", "alice", 30),
                     FS_DUPLICATE);
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "launch",
                                            FS_STATE_HOLD), 1);
}

static void test_insert_many_leaves_a_stored_booking_as_it_is(void **state)
{
    struct contract *t = *state;
    const struct fs_storage_batch_ops *o = batch_of(t);
    struct fs_booking b[2];
    enum fs_status r[2] = {FS_ERROR, FS_ERROR};

    if (!o)
        return;
    assert_int_equal(insert(t, "m-old", "launch", "alice", 1), FS_OK);
    assert_int_equal(move(t, "m-old", FS_STATE_QUEUED, FS_STATE_DELETED, NULL),
                     FS_OK);
    b[0] = decided("m-old", "alice", FS_STATE_HOLD, NULL);
    b[1] = decided("m-new", "bob", FS_STATE_HOLD, NULL);
    assert_int_equal(o->insert_many(t->in.ctx, b, 2, r), FS_OK);
    assert_int_equal(r[0], FS_CONFLICT);
    assert_int_equal(r[1], FS_OK);
    assert_int_equal(state_of(t, "m-old"), FS_STATE_DELETED);
    /* The same batch again (a redelivery, a retry after a timeout): nothing
     * changes, nothing is an error. */
    r[0] = r[1] = FS_ERROR;
    assert_int_equal(o->insert_many(t->in.ctx, b, 2, r), FS_OK);
    assert_int_equal(r[0], FS_CONFLICT);
    assert_int_equal(r[1], FS_CONFLICT);
    assert_int_equal(state_of(t, "m-new"), FS_STATE_HOLD);
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "launch",
                                            FS_STATE_HOLD), 1);
}

static void test_insert_many_refuses_a_second_active_booking_alone(
    void **state)
{
    struct contract *t = *state;
    const struct fs_storage_batch_ops *o = batch_of(t);
    struct fs_booking b[4];
    enum fs_status r[4] = {FS_ERROR, FS_ERROR, FS_ERROR, FS_ERROR};

    if (!o)
        return;
    assert_int_equal(insert(t, "m-a1", "launch", "alice", 1), FS_OK);
    b[0] = decided("m-a2", "alice", FS_STATE_HOLD, NULL);
    b[1] = decided("m-b1", "bob", FS_STATE_HOLD, NULL);
    b[2] = decided("m-a3", "alice", FS_STATE_REJECTED, "duplicate");
    b[3] = decided("m-b2", "bob", FS_STATE_BOOKED, NULL);
    assert_int_equal(o->insert_many(t->in.ctx, b, 4, r), FS_OK);
    assert_int_equal(r[0], FS_DUPLICATE);
    assert_int_equal(r[2], FS_OK);
    /* bob's two active bookings: exactly one of them is written. */
    assert_true((r[1] == FS_OK && r[3] == FS_DUPLICATE) ||
                (r[1] == FS_DUPLICATE && r[3] == FS_OK));
    assert_int_equal(storage_contract_count(t->ops, t->in.ctx, "launch",
                                            FS_STATE_HOLD) +
                         storage_contract_count(t->ops, t->in.ctx, "launch",
                                                FS_STATE_BOOKED),
                     1);
    assert_int_equal(state_of(t, "m-a1"), FS_STATE_QUEUED);
    assert_int_equal(state_of(t, "m-a3"), FS_STATE_REJECTED);
}

static void test_insert_many_refuses_bad_arguments_and_writes_nothing(
    void **state)
{
    struct contract *t = *state;
    const struct fs_storage_batch_ops *o = batch_of(t);
    struct fs_booking b[2];
    enum fs_status r[2];

    if (!o)
        return;
    b[0] = decided("m-good", "alice", FS_STATE_HOLD, NULL);
    b[1] = decided("m bad", "bob", FS_STATE_HOLD, NULL);
    assert_int_equal(o->insert_many(t->in.ctx, b, 2, r), FS_INVALID);
    assert_int_equal(o->insert_many(t->in.ctx, NULL, 1, r), FS_INVALID);
    assert_int_equal(o->insert_many(t->in.ctx, b, 1, NULL), FS_INVALID);
    assert_int_equal(o->insert_many(t->in.ctx, b, 0, r), FS_OK);
    assert_stores_nothing(t);
}

/* ---- the suite ---------------------------------------------------------- */

#define C(name) {#name, name}
/* Exported tests are listed under their short name. */
#define X(name) {#name, storage_contract_##name}

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} contract_tests[] = {
    C(test_descriptor_declares_a_storage_plugin_with_every_operation),
    C(test_health_reports_ok),
    C(test_insert_then_get_round_trips_every_field),
    C(test_get_answers_not_found_for_unknown_booking),
    C(test_insert_refuses_second_active_booking_for_same_user),
    C(test_insert_refuses_duplicate_while_first_is_held_or_booked),
    C(test_rejected_or_deleted_booking_frees_the_users_slot),
    C(test_insert_refuses_existing_booking_id),
    C(test_operations_refuse_bad_arguments),
    C(test_transition_applies_change_when_state_matches),
    C(test_transition_records_rejection_reason),
    C(test_transition_reports_conflict_with_current_state),
    C(test_transition_reports_not_found_for_unknown_booking),
    C(test_transition_batch_mixes_ok_conflict_and_not_found),
    C(test_transition_batch_applies_items_in_order),
    C(test_list_by_sale_and_state_returns_oldest_accepted_first),
    C(test_list_with_null_sale_covers_every_sale),
    C(test_list_stops_when_callback_returns_nonzero),
    C(test_list_reports_every_row_once_across_pages),
    X(test_list_callback_may_call_back_into_the_storage),
    C(test_bookings_survive_destroy_and_create_on_the_same_store),
    C(test_second_instance_on_the_same_store_shares_every_rule),
    X(test_concurrent_inserts_all_succeed_and_are_readable),
    C(test_concurrent_duplicates_leave_one_booking_per_user),
    C(test_racing_confirms_of_one_hold_produce_exactly_one_ok),
    C(test_a_change_racing_the_first_insert_is_never_a_conflict),
    C(test_insert_many_writes_each_booking_in_its_own_state),
    C(test_insert_many_leaves_a_stored_booking_as_it_is),
    C(test_insert_many_refuses_a_second_active_booking_alone),
    C(test_insert_many_refuses_bad_arguments_and_writes_nothing),
};

#define N_CONTRACT_TESTS (sizeof(contract_tests) / sizeof(contract_tests[0]))

int storage_contract_run(const struct storage_fixture *fx)
{
    struct CMUnitTest tests[N_CONTRACT_TESTS];
    char group[128];
    size_t i;

    for (i = 0; i < N_CONTRACT_TESTS; i++)
        tests[i] = (struct CMUnitTest){
            .name = contract_tests[i].name,
            .test_func = contract_tests[i].fn,
            .setup_func = storage_contract_setup,
            .teardown_func = storage_contract_teardown,
            /* cmocka hands this to setup as *state. */
            .initial_state = (void *)fx,
        };
    snprintf(group, sizeof(group), "storage contract: %s", fx->name);
    /* cmocka_run_group_tests_name() would stringize `group`: call what it
     * expands to, with the name as a value. */
    return _cmocka_run_group_tests(group, tests, N_CONTRACT_TESTS, NULL, NULL);
}
