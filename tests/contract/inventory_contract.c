/*
 * inventory_contract.c - the inventory contract of fs_plugin.h, case by
 * case, and the invariants of DESIGN.md section 4 (never oversell, never
 * undersell, one per user, exactly once) under 16 threads, written once
 * against struct fs_inventory_ops. Owns only the per-test state; every
 * plugin instance comes from the caller's fixture (inventory_contract.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* pthread_barrier */
#endif
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inventory_contract.h"

#define SALE "launch"
#define FAR_FUTURE 4102444800000LL /* 2100-01-01 */
#define NOW 1767225600000LL        /* 2026-01-01 */

/* What *state points at during a contract test. */
struct contract {
    const struct inventory_fixture *fx;
    struct inventory_instance in;
    const struct fs_inventory_ops *ops;
    void *ctx;
};

/* ---- setup and helpers -------------------------------------------------- */

int inventory_contract_setup(void **state)
{
    const struct inventory_fixture *fx = *state;
    struct contract *t;

    if (!fx || !fx->create || !fx->destroy)
        fail_msg("the inventory contract needs a fixture with create and "
                 "destroy as the test's prestate");
    t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    t->fx = fx;
    *state = t;
    fx->create(fx, &t->in);
    if (!t->in.plugin || !t->in.plugin->inventory)
        fail_msg("fixture %s made no inventory plugin instance", fx->name);
    t->ops = t->in.plugin->inventory;
    t->ctx = t->in.ctx;
    return 0;
}

int inventory_contract_teardown(void **state)
{
    struct contract *t = *state;

    t->fx->destroy(t->fx, &t->in);
    free(t);
    return 0;
}

struct fs_hold inventory_contract_hold(const char *booking, const char *user,
                                       enum fs_booking_state state,
                                       int64_t expires_ms)
{
    struct fs_hold h;

    memset(&h, 0, sizeof(h));
    snprintf(h.booking_id, sizeof(h.booking_id), "%s", booking);
    snprintf(h.user_id, sizeof(h.user_id), "%s", user);
    h.state = state;
    h.expires_ms = expires_ms;
    return h;
}

void inventory_contract_assert_counts(const struct fs_inventory_ops *ops,
                                      void *ctx, const char *sale,
                                      int64_t inventory, int64_t available,
                                      int64_t held, int64_t booked)
{
    struct fs_sale_counts c;

    assert_int_equal(ops->counts(ctx, sale, &c), FS_OK);
    assert_int_equal(c.inventory, inventory);
    assert_int_equal(c.available, available);
    assert_int_equal(c.held, held);
    assert_int_equal(c.booked, booked);
}

#define entry inventory_contract_hold

static void assert_counts(struct contract *t, const char *sale,
                          int64_t inventory, int64_t available, int64_t held,
                          int64_t booked)
{
    inventory_contract_assert_counts(t->ops, t->ctx, sale, inventory,
                                     available, held, booked);
}

static void assert_stores_nothing(struct contract *t)
{
    if (t->fx->assert_stores_nothing)
        t->fx->assert_stores_nothing(t->fx, &t->in);
}

static void make_sale(struct contract *t, const char *sale, int64_t inventory)
{
    assert_int_equal(t->ops->rebuild(t->ctx, sale, inventory, NULL, 0), FS_OK);
}

static enum fs_status reserve(struct contract *t, const char *user,
                              const char *booking, int64_t expires_ms)
{
    char existing[FS_ID_MAX + 1] = "";
    return t->ops->reserve(t->ctx, SALE, user, booking, expires_ms, existing);
}

/* Reserving `booking` for `user` must be refused as a duplicate of `held`. */
static void assert_duplicate_of(struct contract *t, const char *user,
                                const char *booking, const char *held)
{
    char existing[FS_ID_MAX + 1] = "";

    assert_int_equal(t->ops->reserve(t->ctx, SALE, user, booking, FAR_FUTURE,
                                     existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, held);
}

/* ---- descriptor and health ---------------------------------------------- */

static void test_descriptor_declares_an_inventory_plugin_with_every_operation(
    void **state)
{
    struct contract *t = *state;
    const struct fs_plugin *p = t->in.plugin;
    const struct fs_inventory_ops *ops = p->inventory;

    assert_int_equal(p->abi_version, FS_PLUGIN_ABI_VERSION);
    assert_int_equal(p->struct_size, sizeof(struct fs_plugin));
    assert_int_equal(p->kind, FS_PLUGIN_INVENTORY);
    assert_non_null(p->name);
    assert_null(p->queue);
    assert_null(p->storage);
    assert_non_null(p->destroy);
    assert_non_null(p->health);
    assert_non_null(ops->counts);
    assert_non_null(ops->rebuild);
    assert_non_null(ops->reserve);
    assert_non_null(ops->confirm);
    assert_non_null(ops->release);
    assert_non_null(ops->expire_due);
    assert_non_null(ops->lookup);
    assert_non_null(ops->set_inventory);
    assert_non_null(ops->find_user);
    if (p->claims) {  /* optional, but whole when there */
        /* list_durable, appended later, is optional (fs_plugin.h). */
        assert_true(p->claims->struct_size >=
                    offsetof(struct fs_claim_ops, list_durable));
        assert_non_null(p->claims->claim);
        assert_non_null(p->claims->claim_durable);
        assert_non_null(p->claims->claim_to_hold);
        assert_non_null(p->claims->claim_expire);
    }
}

static void test_health_reports_ok(void **state)
{
    struct contract *t = *state;
    char detail[256] = "";

    assert_int_equal(t->in.plugin->health(t->ctx, detail, sizeof(detail)),
                     FS_OK);
}

/* ---- counts and rebuild ------------------------------------------------- */

static void test_counts_reports_not_found_for_unknown_sale(void **state)
{
    struct contract *t = *state;
    struct fs_sale_counts c;

    assert_int_equal(t->ops->counts(t->ctx, "nope", &c), FS_NOT_FOUND);
}

static void test_rebuild_installs_empty_sale_with_every_item_available(
    void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_counts_held_and_booked_entries(void **state)
{
    struct contract *t = *state;
    struct fs_hold e[3] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "bob", FS_STATE_BOOKED, 0),
        entry("b3", "carol", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_hold h;

    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 5, e, 3), FS_OK);
    assert_counts(t, SALE, 5, 2, 2, 1);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b2", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_BOOKED);
    assert_string_equal(h.user_id, "bob");
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_HOLD);
    assert_int_equal(h.expires_ms, FAR_FUTURE);
}

static void test_rebuild_refuses_sale_already_present(void **state)
{
    struct contract *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE);

    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 3, &e, 1), FS_CONFLICT);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_refuses_more_entries_than_inventory(void **state)
{
    struct contract *t = *state;
    struct fs_hold e[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "bob", FS_STATE_BOOKED, 0),
    };
    struct fs_sale_counts c;

    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 1, e, 2), FS_INVALID);
    assert_int_equal(t->ops->counts(t->ctx, SALE, &c), FS_NOT_FOUND);
    assert_stores_nothing(t);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 2, e, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 1, 1);
}

static void test_rebuild_refuses_entries_that_break_the_rules(void **state)
{
    struct contract *t = *state;
    struct fs_hold same_user[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "alice", FS_STATE_BOOKED, 0),
    };
    struct fs_hold same_booking[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b1", "bob", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_hold expired = entry("b1", "alice", FS_STATE_EXPIRED, 0);
    struct fs_hold no_user = entry("b1", "", FS_STATE_HOLD, FAR_FUTURE);
    struct fs_sale_counts c;

    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 10, same_user, 2),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 10, same_booking, 2),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 10, &expired, 1),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 10, &no_user, 1),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, -1, NULL, 0), FS_INVALID);
    assert_int_equal(t->ops->counts(t->ctx, SALE, &c), FS_NOT_FOUND);
    assert_stores_nothing(t);
}

static void test_rebuild_restores_the_one_per_user_rule(void **state)
{
    struct contract *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_BOOKED, 0);

    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 10, &e, 1), FS_OK);
    assert_duplicate_of(t, "alice", "b9", "b1");
}

static void test_rebuilt_holds_expire_like_reserved_ones(void **state)
{
    struct contract *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_HOLD, NOW);
    struct fs_hold out[4];
    size_t n = 0;

    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 10, &e, 1), FS_OK);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 4, &n), FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].booking_id, "b1");
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_installs_thousands_of_entries_in_one_step(
    void **state)
{
    struct contract *t = *state;
    enum { N = 5000 };
    struct fs_hold *e = calloc(N, sizeof(*e));
    char booking[32], user[32];
    int i;

    assert_non_null(e);
    for (i = 0; i < N; i++) {
        snprintf(booking, sizeof(booking), "b%d", i);
        snprintf(user, sizeof(user), "user|%d", i);  /* '|' is data too */
        e[i] = entry(booking, user, i % 2 ? FS_STATE_BOOKED : FS_STATE_HOLD,
                     FAR_FUTURE);
    }
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, N + 1, e, N), FS_OK);
    assert_counts(t, SALE, N + 1, 1, N / 2, N / 2);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b4999", e), FS_OK);
    assert_string_equal(e[0].user_id, "user|4999");
    free(e);
}

/* ---- reserve ------------------------------------------------------------ */

static void test_reserve_reports_not_found_for_unknown_sale(void **state)
{
    struct contract *t = *state;

    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_NOT_FOUND);
    assert_stores_nothing(t);
}

static void test_reserve_takes_one_item_and_records_the_hold(void **state)
{
    struct contract *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_OK);
    assert_string_equal(h.booking_id, "b1");
    assert_string_equal(h.user_id, "alice");
    assert_int_equal(h.state, FS_STATE_HOLD);
    assert_int_equal(h.expires_ms, FAR_FUTURE);
}

static void test_reserve_is_idempotent_by_booking_id(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_reserve_refuses_second_booking_for_same_user(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_duplicate_of(t, "alice", "b2", "b1");
    assert_counts(t, SALE, 10, 9, 1, 0);
}

static void test_reserve_refuses_user_who_booked(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    assert_duplicate_of(t, "alice", "b2", "b1");
}

static void test_reserve_refuses_user_whose_hold_expired_until_swept(
    void **state)
{
    struct contract *t = *state;
    struct fs_hold out[1];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    /* Past its expiry but not reported yet: still alice's active hold. */
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_DUPLICATE);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 1, &n), FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_OK);
}

static void test_reserve_refuses_booking_id_of_another_user(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b1", FAR_FUTURE), FS_CONFLICT);
    assert_counts(t, SALE, 10, 9, 1, 0);
}

static void test_reserve_refuses_when_sold_out(void **state)
{
    struct contract *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 2);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_SOLD_OUT);
    assert_counts(t, SALE, 2, 0, 2, 0);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b3", &h), FS_NOT_FOUND);
}

static void test_reserve_checks_duplicate_before_sold_out(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 1);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_duplicate_of(t, "alice", "b2", "b1");
}

static void test_reserve_refuses_malformed_ids(void **state)
{
    struct contract *t = *state;
    char long_id[FS_ID_MAX + 2];
    char long_user[FS_USER_MAX + 2];

    memset(long_id, 'b', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(long_user, 'u', sizeof(long_user) - 1);
    long_user[sizeof(long_user) - 1] = '\0';
    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "", "b1", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, "alice", "", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, "alice", long_id, FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, long_user, "b1", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, NULL, "b1", FAR_FUTURE), FS_INVALID);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* fs_plugin.h's grammar: sale and booking ids are [A-Za-z0-9._-]. (Braces
 * would also split a Redis hash tag {sale-id}.) */
static void test_ids_outside_the_id_grammar_are_refused_and_nothing_written(
    void **state)
{
    struct contract *t = *state;
    struct fs_hold bad_id = entry("b{1}", "alice", FS_STATE_HOLD, FAR_FUTURE);
    struct fs_sale_counts c;

    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 10, &bad_id, 1),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->ctx, "a}b", 1, NULL, 0), FS_INVALID);
    assert_int_equal(t->ops->counts(t->ctx, SALE, &c), FS_NOT_FOUND);
    assert_stores_nothing(t);
    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b 1", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, "alice", "b/1", FAR_FUTURE), FS_INVALID);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_reserve_accepts_ids_of_maximum_length(void **state)
{
    struct contract *t = *state;
    char id[FS_ID_MAX + 1];
    char user[FS_USER_MAX + 1];
    struct fs_hold h;

    memset(id, 'b', FS_ID_MAX);
    id[FS_ID_MAX] = '\0';
    memset(user, 'u', FS_USER_MAX);
    user[FS_USER_MAX] = '\0';
    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, user, id, FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, id, &h), FS_OK);
    assert_string_equal(h.booking_id, id);
    assert_string_equal(h.user_id, user);
}

static void test_reserve_keeps_any_bytes_of_a_user_id(void **state)
{
    struct contract *t = *state;
    static const char user[] = "\"ali|ce\" {x} \\ \xc3\xa9";
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, user, "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_OK);
    assert_string_equal(h.user_id, user);
    assert_duplicate_of(t, user, "b2", "b1");
}

static void test_reserve_lets_user_book_again_after_release(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 1);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "b1"), FS_OK);
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 1, 0, 1, 0);
}

/* ---- confirm ------------------------------------------------------------ */

static void test_confirm_books_a_live_hold(void **state)
{
    struct contract *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_BOOKED);
}

static void test_confirm_is_idempotent_when_already_booked(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    /* Even after the old expiry: a booked item no longer expires. */
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW + 5000), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_confirm_reports_expired_without_giving_item_back(void **state)
{
    struct contract *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    /* expires_ms <= now_ms is expired: the boundary itself counts. */
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_EXPIRED);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_HOLD);
}

static void test_confirm_reports_not_found_without_a_hold(void **state)
{
    struct contract *t = *state;

    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_NOT_FOUND);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "b1"), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_confirm_after_expiry_is_swept_reports_not_found(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[2];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_EXPIRED);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 2, &n), FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW - 1),
                     FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* ---- release ------------------------------------------------------------ */

static void test_release_gives_the_item_back_exactly_once(void **state)
{
    struct contract *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "b1"), FS_OK);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(t->ops->release(t->ctx, SALE, "b1"), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_NOT_FOUND);
}

static void test_release_refuses_a_booked_item(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "b1"), FS_CONFLICT);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_release_reports_not_found_without_a_hold(void **state)
{
    struct contract *t = *state;

    assert_int_equal(t->ops->release(t->ctx, SALE, "b1"), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->release(t->ctx, SALE, "never"), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_release_of_an_expired_hold_wins_over_the_sweep(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[2];
    size_t n = 9;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "b1"), FS_OK);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 2, &n), FS_OK);
    assert_int_equal(n, 0);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* ---- expire_due --------------------------------------------------------- */

/* The reported hold named `booking` among out[0..n), or a test failure. */
static const struct fs_hold *reported(const struct fs_hold *out, size_t n,
                                      const char *booking)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(out[i].booking_id, booking) == 0)
            return &out[i];
    fail_msg("expire_due did not report %s", booking);
    return NULL;
}

static void test_expire_due_releases_only_due_holds_and_reports_each_once(
    void **state)
{
    struct contract *t = *state;
    struct fs_hold out[8];
    const struct fs_hold *due, *edge;
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "due", NOW - 10), FS_OK);
    assert_int_equal(reserve(t, "bob", "edge", NOW), FS_OK);
    assert_int_equal(reserve(t, "carol", "later", NOW + 1), FS_OK);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 8, &n), FS_OK);
    /* Any order: the contract does not say which due hold comes first. */
    assert_int_equal(n, 2);
    due = reported(out, n, "due");
    edge = reported(out, n, "edge");
    assert_int_equal(due->state, FS_STATE_HOLD);
    assert_string_equal(due->user_id, "alice");
    assert_int_equal(due->expires_ms, NOW - 10);
    assert_int_equal(edge->state, FS_STATE_HOLD);
    assert_string_equal(edge->user_id, "bob");
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 8, &n), FS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW + 1, out, 8, &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].booking_id, "later");
    assert_string_equal(out[0].user_id, "carol");
    assert_int_equal(out[0].expires_ms, NOW + 1);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_expire_due_reports_at_most_max_per_call(void **state)
{
    struct contract *t = *state;
    char user[16], booking[16];
    struct fs_hold out[3];
    size_t n = 0, total = 0;
    int i, calls = 0;

    make_sale(t, SALE, 10);
    for (i = 0; i < 7; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        snprintf(booking, sizeof(booking), "b%d", i);
        assert_int_equal(reserve(t, user, booking, NOW - i), FS_OK);
    }
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 0, &n), FS_OK);
    assert_int_equal(n, 0);
    do {
        assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW, out, 3, &n),
                         FS_OK);
        assert_true(n <= 3);
        total += n;
        calls++;
    } while (n > 0 && calls < 10);
    assert_int_equal(total, 7);
    assert_int_equal(calls, 4);  /* 3 + 3 + 1 + the empty one */
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_expire_due_never_touches_booked_items(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[2];
    size_t n = 9;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, FAR_FUTURE, out, 2, &n),
                     FS_OK);
    assert_int_equal(n, 0);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_expire_due_reports_not_found_for_unknown_sale(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[1];
    size_t n = 9;

    assert_int_equal(t->ops->expire_due(t->ctx, "nope", NOW, out, 1, &n),
                     FS_NOT_FOUND);
    assert_int_equal(n, 0);
}

/* ---- lookup and find_user ----------------------------------------------- */

static void test_lookup_reports_not_found_for_unknown_booking_or_sale(
    void **state)
{
    struct contract *t = *state;
    struct fs_hold h;

    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "b1", &h), FS_NOT_FOUND);
}

static void test_find_user_names_the_held_or_booked_item_and_forgets_it_when_released(
    void **state)
{
    struct contract *t = *state;
    char id[FS_ID_MAX + 1] = "";

    assert_int_equal(t->ops->find_user(t->ctx, SALE, "alice", id), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->find_user(t->ctx, SALE, "alice", id), FS_NOT_FOUND);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->find_user(t->ctx, SALE, "alice", id), FS_OK);
    assert_string_equal(id, "b1");
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->ops->find_user(t->ctx, SALE, "alice", id), FS_OK);
    assert_string_equal(id, "b1");
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "b2"), FS_OK);
    assert_int_equal(t->ops->find_user(t->ctx, SALE, "bob", id), FS_NOT_FOUND);
    assert_int_equal(t->ops->find_user(t->ctx, SALE, "", id), FS_INVALID);
}

/* ---- set_inventory ------------------------------------------------------ */

static void test_set_inventory_adjusts_available(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b2", NOW), FS_OK);
    assert_int_equal(t->ops->set_inventory(t->ctx, SALE, 20), FS_OK);
    assert_counts(t, SALE, 20, 18, 1, 1);
    assert_int_equal(t->ops->set_inventory(t->ctx, SALE, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 1, 1);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_SOLD_OUT);
}

static void test_set_inventory_refuses_below_held_plus_booked(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b2", NOW), FS_OK);
    assert_int_equal(t->ops->set_inventory(t->ctx, SALE, 1), FS_CONFLICT);
    assert_int_equal(t->ops->set_inventory(t->ctx, SALE, -1), FS_INVALID);
    assert_counts(t, SALE, 10, 8, 1, 1);
}

static void test_set_inventory_reports_not_found_for_unknown_sale(void **state)
{
    struct contract *t = *state;
    struct fs_sale_counts c;

    assert_int_equal(t->ops->set_inventory(t->ctx, SALE, 5), FS_NOT_FOUND);
    assert_int_equal(t->ops->counts(t->ctx, SALE, &c), FS_NOT_FOUND);
    assert_stores_nothing(t);
}

/* ---- sales are independent ---------------------------------------------- */

static void test_sales_keep_separate_stock_and_users(void **state)
{
    struct contract *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, "a", 1);
    make_sale(t, "b", 1);
    assert_int_equal(t->ops->reserve(t->ctx, "a", "alice", "a1", FAR_FUTURE,
                                     existing),
                     FS_OK);
    /* One per user is per sale: alice may hold one item in each. */
    assert_int_equal(t->ops->reserve(t->ctx, "b", "alice", "b1", FAR_FUTURE,
                                     existing),
                     FS_OK);
    assert_counts(t, "a", 1, 0, 1, 0);
    assert_counts(t, "b", 1, 0, 1, 0);
    assert_int_equal(t->ops->release(t->ctx, "b", "a1"), FS_NOT_FOUND);
}

/* ---- concurrency -------------------------------------------------------- */

#define THREADS 16
#define DEFAULT_USERS_PER_THREAD 150
#define ITEMS 100

/* cmocka's asserts must stay on the main thread: workers count outcomes and
 * the main thread asserts on them. A plugin without FS_PLUGIN_THREAD_SAFE
 * has its calls serialized, as the core does. */
struct race {
    struct contract *t;
    int users_per_thread;
    int serialize;
    pthread_mutex_t call_lock;
    pthread_barrier_t go;
    atomic_int done;
    atomic_int ok, sold_out, other;
    atomic_int violations;  /* counts seen breaking an invariant */
    int claims_in_flight;   /* claims count in neither held nor booked */
    atomic_int confirmed[ITEMS], released[ITEMS], expired[ITEMS];
    atomic_int confirm_errors, release_errors, expire_errors;
};

struct worker {
    struct race *r;
    int id;
};

static void call_begin(struct race *r)
{
    if (r->serialize)
        pthread_mutex_lock(&r->call_lock);
}

static void call_end(struct race *r)
{
    if (r->serialize)
        pthread_mutex_unlock(&r->call_lock);
}

static struct race *race_new(struct contract *t)
{
    struct race *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->t = t;
    r->users_per_thread = t->fx->race_users_per_thread > 0
                              ? t->fx->race_users_per_thread
                              : DEFAULT_USERS_PER_THREAD;
    r->serialize = !(t->in.plugin->flags & FS_PLUGIN_THREAD_SAFE);
    pthread_mutex_init(&r->call_lock, NULL);
    return r;
}

static void race_free(struct race *r)
{
    pthread_mutex_destroy(&r->call_lock);
    free(r);
}

static void count_reserve(struct race *r, enum fs_status st)
{
    switch (st) {
    case FS_OK: atomic_fetch_add(&r->ok, 1); break;
    case FS_SOLD_OUT: atomic_fetch_add(&r->sold_out, 1); break;
    default: atomic_fetch_add(&r->other, 1); break;
    }
}

static void *reserve_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char user[32], booking[32], existing[FS_ID_MAX + 1];
    enum fs_status st;
    int i;

    pthread_barrier_wait(&r->go);
    for (i = 0; i < r->users_per_thread; i++) {
        snprintf(user, sizeof(user), "user-%d-%d", w->id, i);
        snprintf(booking, sizeof(booking), "bk-%d-%d", w->id, i);
        call_begin(r);
        st = r->t->ops->reserve(r->t->ctx, SALE, user, booking, FAR_FUTURE,
                                existing);
        call_end(r);
        count_reserve(r, st);
    }
    return NULL;
}

static int counts_break_an_invariant(struct race *r)
{
    struct fs_sale_counts c;
    enum fs_status st;

    call_begin(r);
    st = r->t->ops->counts(r->t->ctx, SALE, &c);
    call_end(r);
    if (r->claims_in_flight)
        return st != FS_OK || c.available < 0 ||
               c.available + c.held + c.booked > c.inventory;
    return st != FS_OK || c.held + c.booked > c.inventory ||
           c.available + c.held + c.booked != c.inventory || c.available < 0;
}

/* Watches the counts while the workers run: no instant may oversell. */
static void *counts_watcher(void *arg)
{
    struct race *r = arg;

    pthread_barrier_wait(&r->go);
    while (!atomic_load(&r->done))
        if (counts_break_an_invariant(r))
            atomic_fetch_add(&r->violations, 1);
    return NULL;
}

static void run_race(struct race *r, void *(*fn)(void *))
{
    struct worker w[THREADS];
    pthread_t th[THREADS], watcher;
    int i;

    pthread_barrier_init(&r->go, NULL, THREADS + 1);
    for (i = 0; i < THREADS; i++) {
        w[i] = (struct worker){r, i};
        assert_int_equal(pthread_create(&th[i], NULL, fn, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&watcher, NULL, counts_watcher, r), 0);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&r->done, 1);
    pthread_join(watcher, NULL);
    pthread_barrier_destroy(&r->go);
}

void inventory_contract_test_concurrent_reserves_never_oversell(void **state)
{
    struct contract *t = *state;
    struct race *r = race_new(t);

    make_sale(t, SALE, ITEMS);
    run_race(r, reserve_worker);
    assert_int_equal(atomic_load(&r->ok), ITEMS);
    assert_int_equal(atomic_load(&r->sold_out),
                     THREADS * r->users_per_thread - ITEMS);
    assert_int_equal(atomic_load(&r->other), 0);
    assert_int_equal(atomic_load(&r->violations), 0);
    assert_counts(t, SALE, ITEMS, 0, ITEMS, 0);
    race_free(r);
}

/* FS_DUPLICATE must name the winner: one of the racers' ids, held now. */
static int names_a_held_racer(struct race *r, const char *existing)
{
    struct fs_hold h;
    enum fs_status st;

    if (strncmp(existing, "bk-", 3) != 0)
        return 0;
    call_begin(r);
    st = r->t->ops->lookup(r->t->ctx, SALE, existing, &h);
    call_end(r);
    return st == FS_OK;
}

static void *same_user_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char booking[32], existing[FS_ID_MAX + 1] = "";
    enum fs_status st;

    snprintf(booking, sizeof(booking), "bk-%d", w->id);
    pthread_barrier_wait(&r->go);
    call_begin(r);
    st = r->t->ops->reserve(r->t->ctx, SALE, "alice", booking, FAR_FUTURE,
                            existing);
    call_end(r);
    if (st == FS_OK)
        atomic_fetch_add(&r->ok, 1);
    else if (st == FS_DUPLICATE && names_a_held_racer(r, existing))
        atomic_fetch_add(&r->sold_out, 1);  /* counts the duplicates */
    else
        atomic_fetch_add(&r->other, 1);
    return NULL;
}

static void test_concurrent_reserves_by_one_user_take_one_item(void **state)
{
    struct contract *t = *state;
    struct race *r = race_new(t);

    make_sale(t, SALE, ITEMS);
    run_race(r, same_user_worker);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->sold_out), THREADS - 1);  /* duplicates */
    assert_int_equal(atomic_load(&r->other), 0);
    assert_counts(t, SALE, ITEMS, ITEMS - 1, 1, 0);
    race_free(r);
}

static void *rebuild_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    enum fs_status st;

    pthread_barrier_wait(&r->go);
    call_begin(r);
    st = r->t->ops->rebuild(r->t->ctx, "fresh", ITEMS + w->id, NULL, 0);
    call_end(r);
    if (st == FS_OK)
        atomic_fetch_add(&r->ok, 1);
    else if (st == FS_CONFLICT)
        atomic_fetch_add(&r->sold_out, 1);  /* counts the conflicts */
    else
        atomic_fetch_add(&r->other, 1);
    return NULL;
}

static void test_concurrent_rebuilds_install_the_sale_once(void **state)
{
    struct contract *t = *state;
    struct race *r = race_new(t);
    struct fs_sale_counts c;

    make_sale(t, SALE, 1);  /* for the watcher */
    run_race(r, rebuild_worker);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->sold_out), THREADS - 1);  /* conflicts */
    assert_int_equal(atomic_load(&r->other), 0);
    assert_int_equal(t->ops->counts(t->ctx, "fresh", &c), FS_OK);
    assert_int_equal(c.available, c.inventory);
    race_free(r);
}

/* Every hold expires at NOW. Confirmers act at NOW - 1 (the user was in
 * time), the sweepers at NOW, and cancellers release: each hold must end
 * exactly one way. */
static void confirm_all(struct race *r, int offset)
{
    char booking[16];
    int i, b;
    enum fs_status st;

    for (i = 0; i < ITEMS; i++) {
        b = (i + offset) % ITEMS;
        snprintf(booking, sizeof(booking), "b%03d", b);
        call_begin(r);
        st = r->t->ops->confirm(r->t->ctx, SALE, booking, NOW - 1);
        call_end(r);
        if (st == FS_OK)
            atomic_fetch_add(&r->confirmed[b], 1);
        else if (st != FS_NOT_FOUND)
            atomic_fetch_add(&r->confirm_errors, 1);
    }
}

static void release_all(struct race *r, int offset)
{
    char booking[16];
    int i, b;
    enum fs_status st;

    for (i = 0; i < ITEMS; i++) {
        b = (i + offset) % ITEMS;
        snprintf(booking, sizeof(booking), "b%03d", b);
        call_begin(r);
        st = r->t->ops->release(r->t->ctx, SALE, booking);
        call_end(r);
        if (st == FS_OK)
            atomic_fetch_add(&r->released[b], 1);
        else if (st != FS_NOT_FOUND && st != FS_CONFLICT)
            atomic_fetch_add(&r->release_errors, 1);
    }
}

static void count_expired(struct race *r, const struct fs_hold *out, size_t n)
{
    size_t i;
    int b;

    for (i = 0; i < n; i++) {
        if (sscanf(out[i].booking_id, "b%d", &b) == 1 && b >= 0 && b < ITEMS)
            atomic_fetch_add(&r->expired[b], 1);
        else
            atomic_fetch_add(&r->expire_errors, 1);
    }
}

static void expire_all(struct race *r)
{
    struct fs_hold out[7];
    size_t n;
    enum fs_status st;

    do {
        call_begin(r);
        st = r->t->ops->expire_due(r->t->ctx, SALE, NOW, out, 7, &n);
        call_end(r);
        if (st != FS_OK) {
            atomic_fetch_add(&r->expire_errors, 1);
            return;
        }
        count_expired(r, out, n);
    } while (n > 0);
}

static void *settle_worker(void *arg)
{
    struct worker *w = arg;

    pthread_barrier_wait(&w->r->go);
    switch (w->id % 3) {
    case 0: confirm_all(w->r, w->id * 7); break;
    case 1: release_all(w->r, w->id * 7); break;
    default: expire_all(w->r); break;
    }
    return NULL;
}

/* Each hold ended one way: booked (and still booked), or given back once
 * (and gone). Returns 1 if booked. */
static int assert_settled_once(struct race *r, int b)
{
    struct contract *t = r->t;
    char booking[16];
    struct fs_hold h;
    int given_back;

    snprintf(booking, sizeof(booking), "b%03d", b);
    given_back = atomic_load(&r->released[b]) + atomic_load(&r->expired[b]);
    /* Never both won and given back; given back at most once. */
    assert_true(given_back <= 1);
    if (atomic_load(&r->confirmed[b])) {
        assert_int_equal(given_back, 0);
        assert_int_equal(t->ops->lookup(t->ctx, SALE, booking, &h), FS_OK);
        assert_int_equal(h.state, FS_STATE_BOOKED);
        return 1;
    }
    /* Every release thread tried it: it must have come back. */
    assert_int_equal(given_back, 1);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, booking, &h), FS_NOT_FOUND);
    return 0;
}

static void test_concurrent_confirm_release_expire_settle_each_hold_once(
    void **state)
{
    struct contract *t = *state;
    struct race *r = race_new(t);
    char user[16], booking[16];
    int b, booked = 0;

    make_sale(t, SALE, ITEMS);
    for (b = 0; b < ITEMS; b++) {
        snprintf(user, sizeof(user), "u%03d", b);
        snprintf(booking, sizeof(booking), "b%03d", b);
        assert_int_equal(reserve(t, user, booking, NOW), FS_OK);
    }
    run_race(r, settle_worker);
    assert_int_equal(atomic_load(&r->confirm_errors), 0);
    assert_int_equal(atomic_load(&r->release_errors), 0);
    assert_int_equal(atomic_load(&r->expire_errors), 0);
    assert_int_equal(atomic_load(&r->violations), 0);
    for (b = 0; b < ITEMS; b++)
        booked += assert_settled_once(r, b);
    assert_counts(t, SALE, ITEMS, ITEMS - booked, 0, booked);
    race_free(r);
}

/* ---- claims (fs_claim_ops): exact acceptance ----------------------------- */

/* The plugin's claim table; a plugin without one says so as a skip. */
static const struct fs_claim_ops *claims_of(struct contract *t)
{
    const struct fs_claim_ops *c = t->in.plugin->claims;

    if (!c)
        skip();  /* cmocka reports it: claims are optional in the ABI */
    /* Whole up to list_durable, which list_durable_of() checks apart. */
    assert_true(c->struct_size >= offsetof(struct fs_claim_ops, list_durable));
    return c;
}

static enum fs_status claim(struct contract *t, const char *user,
                            const char *booking, int64_t lease)
{
    char existing[FS_ID_MAX + 1] = "";
    return claims_of(t)->claim(t->ctx, SALE, user, booking, lease, existing);
}

static enum fs_status make_durable(struct contract *t, const char *booking)
{
    const char *ids[1] = {booking};
    enum fs_status r = FS_ERROR;

    assert_int_equal(claims_of(t)->claim_durable(t->ctx, SALE, ids, 1, &r),
                     FS_OK);
    return r;
}

static size_t expire_claims(struct contract *t, int64_t now,
                            struct fs_hold *out, size_t max)
{
    size_t n = 99;

    assert_int_equal(claims_of(t)->claim_expire(t->ctx, SALE, now, out, max,
                                                &n),
                     FS_OK);
    return n;
}

static void test_claim_takes_an_item_without_holding_it(void **state)
{
    struct contract *t = *state;
    struct fs_hold h;
    char id[FS_ID_MAX + 1];

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW + 1000), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 0);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "c1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_QUEUED);
    assert_string_equal(h.user_id, "alice");
    assert_int_equal(t->ops->find_user(t->ctx, SALE, "alice", id), FS_OK);
    assert_string_equal(id, "c1");
}

static void test_claim_reports_not_found_for_unknown_sale(void **state)
{
    struct contract *t = *state;

    assert_int_equal(claim(t, "alice", "c1", NOW), FS_NOT_FOUND);
    assert_int_equal(claims_of(t)->claim_to_hold(t->ctx, SALE, "c1", NOW),
                     FS_NOT_FOUND);
    assert_stores_nothing(t);
}

static void test_claim_refuses_a_user_with_a_claim_or_hold_and_names_it(
    void **state)
{
    struct contract *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW + 1000), FS_OK);
    /* Unconfirmed: that request may still fail, so "ask again later". */
    assert_int_equal(claims_of(t)->claim(t->ctx, SALE, "alice", "c2",
                                         NOW + 1000, existing),
                     FS_UNAVAILABLE);
    assert_string_equal(existing, "c1");
    assert_int_equal(make_durable(t, "c1"), FS_OK);
    existing[0] = '\0';
    assert_int_equal(claims_of(t)->claim(t->ctx, SALE, "alice", "c2",
                                         NOW + 1000, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "c1");
    assert_duplicate_of(t, "alice", "r1", "c1");  /* reserve sees claims */
    assert_int_equal(reserve(t, "bob", "h1", FAR_FUTURE), FS_OK);
    assert_int_equal(claims_of(t)->claim(t->ctx, SALE, "bob", "c3",
                                         NOW + 1000, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "h1");
    assert_counts(t, SALE, 10, 8, 1, 0);
}

static void test_claim_is_idempotent_by_booking_id(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW + 1000), FS_OK);
    assert_int_equal(claim(t, "alice", "c1", NOW + 1000), FS_OK);
    assert_int_equal(claim(t, "bob", "c1", NOW + 1000), FS_CONFLICT);
    assert_counts(t, SALE, 10, 9, 0, 0);
}

static void test_claim_refuses_when_sold_out_and_checks_duplicate_first(
    void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 2);
    assert_int_equal(claim(t, "alice", "c1", NOW + 1000), FS_OK);
    assert_int_equal(claim(t, "bob", "c2", NOW + 1000), FS_OK);
    assert_int_equal(claim(t, "carol", "c3", NOW + 1000), FS_SOLD_OUT);
    assert_int_equal(reserve(t, "carol", "r3", FAR_FUTURE), FS_SOLD_OUT);
    assert_int_equal(claim(t, "alice", "c4", NOW + 1000), FS_UNAVAILABLE);
    assert_int_equal(make_durable(t, "c1"), FS_OK);
    assert_int_equal(claim(t, "alice", "c4", NOW + 1000), FS_DUPLICATE);
    assert_counts(t, SALE, 2, 0, 0, 0);
}

static void test_claim_expire_gives_back_unconfirmed_claims_once(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[4];
    char id[FS_ID_MAX + 1];

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW + 100), FS_OK);
    assert_int_equal(claim(t, "bob", "c2", NOW + 5000), FS_OK);
    assert_int_equal(expire_claims(t, NOW + 99, out, 4), 0);
    assert_int_equal(expire_claims(t, NOW + 100, out, 4), 1);
    assert_string_equal(out[0].booking_id, "c1");
    assert_string_equal(out[0].user_id, "alice");
    assert_int_equal(out[0].state, FS_STATE_QUEUED);
    assert_int_equal(out[0].expires_ms, NOW + 100);
    assert_int_equal(expire_claims(t, NOW + 100, out, 4), 0);
    assert_counts(t, SALE, 10, 9, 0, 0);
    assert_int_equal(t->ops->find_user(t->ctx, SALE, "alice", id),
                     FS_NOT_FOUND);
    assert_int_equal(claim(t, "alice", "c3", NOW + 1000), FS_OK);
}

static void test_claim_expire_reports_at_most_max_per_call(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[2];
    char user[16], booking[16];

    make_sale(t, SALE, 10);
    for (int i = 0; i < 5; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        snprintf(booking, sizeof(booking), "c%d", i);
        assert_int_equal(claim(t, user, booking, NOW), FS_OK);
    }
    assert_int_equal(expire_claims(t, NOW, out, 2), 2);
    assert_int_equal(expire_claims(t, NOW, out, 2), 2);
    assert_int_equal(expire_claims(t, NOW, out, 2), 1);
    assert_int_equal(expire_claims(t, NOW, out, 2), 0);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_durable_claims_are_never_expired(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[4];

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW), FS_OK);
    assert_int_equal(make_durable(t, "c1"), FS_OK);
    assert_int_equal(make_durable(t, "c1"), FS_OK);  /* idempotent */
    assert_int_equal(expire_claims(t, FAR_FUTURE, out, 4), 0);
    assert_counts(t, SALE, 10, 9, 0, 0);
}

static void test_claim_durable_reports_expired_for_claims_given_back(
    void **state)
{
    struct contract *t = *state;
    const struct fs_claim_ops *c = claims_of(t);
    const char *ids[3] = {"c1", "nope", "c2"};
    enum fs_status r[3];
    struct fs_hold out[4];

    assert_int_equal(c->claim_durable(t->ctx, SALE, ids, 3, r), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW), FS_OK);
    assert_int_equal(claim(t, "bob", "c2", NOW + 1000), FS_OK);
    assert_int_equal(expire_claims(t, NOW, out, 4), 1);
    assert_int_equal(c->claim_durable(t->ctx, SALE, ids, 3, r), FS_OK);
    assert_int_equal(r[0], FS_EXPIRED);  /* lost the race to the lease */
    assert_int_equal(r[1], FS_EXPIRED);
    assert_int_equal(r[2], FS_OK);
    assert_int_equal(expire_claims(t, FAR_FUTURE, out, 4), 0);
    assert_counts(t, SALE, 10, 9, 0, 0);
}

static void test_claim_to_hold_turns_a_claim_into_a_hold(void **state)
{
    struct contract *t = *state;
    const struct fs_claim_ops *c = claims_of(t);
    struct fs_hold h, out[4];

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW), FS_OK);
    assert_int_equal(c->claim_to_hold(t->ctx, SALE, "c1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->lookup(t->ctx, SALE, "c1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_HOLD);
    assert_int_equal(h.expires_ms, FAR_FUTURE);
    /* A redelivery changes nothing; the lease no longer applies. */
    assert_int_equal(c->claim_to_hold(t->ctx, SALE, "c1", NOW), FS_OK);
    assert_int_equal(expire_claims(t, FAR_FUTURE, out, 4), 0);
    assert_int_equal(make_durable(t, "c1"), FS_OK);  /* worker came first */
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "c1", NOW), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
    assert_int_equal(c->claim_to_hold(t->ctx, SALE, "c1", NOW), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_claim_to_hold_of_a_durable_claim_makes_a_hold_that_expires(
    void **state)
{
    struct contract *t = *state;
    struct fs_hold out[4];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW + 1000), FS_OK);
    assert_int_equal(make_durable(t, "c1"), FS_OK);
    assert_int_equal(claims_of(t)->claim_to_hold(t->ctx, SALE, "c1", NOW + 50),
                     FS_OK);
    assert_int_equal(t->ops->expire_due(t->ctx, SALE, NOW + 50, out, 4, &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].booking_id, "c1");
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_claim_to_hold_reports_expired_without_a_claim(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[4];

    make_sale(t, SALE, 10);
    assert_int_equal(claims_of(t)->claim_to_hold(t->ctx, SALE, "nope", NOW),
                     FS_EXPIRED);
    assert_int_equal(claim(t, "alice", "c1", NOW), FS_OK);
    assert_int_equal(expire_claims(t, NOW, out, 4), 1);
    assert_int_equal(claims_of(t)->claim_to_hold(t->ctx, SALE, "c1", NOW),
                     FS_EXPIRED);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_confirm_refuses_a_claim(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW + 1000), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "c1", NOW), FS_NOT_FOUND);
    assert_int_equal(make_durable(t, "c1"), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "c1", NOW), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 9, 0, 0);
}

static void test_release_gives_a_claim_back_exactly_once(void **state)
{
    struct contract *t = *state;
    struct fs_hold out[4];

    make_sale(t, SALE, 10);
    assert_int_equal(claim(t, "alice", "c1", NOW), FS_OK);
    assert_int_equal(claim(t, "bob", "c2", NOW), FS_OK);
    assert_int_equal(make_durable(t, "c2"), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "c1"), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "c2"), FS_OK);
    assert_int_equal(t->ops->release(t->ctx, SALE, "c1"), FS_NOT_FOUND);
    assert_int_equal(expire_claims(t, FAR_FUTURE, out, 4), 0);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(make_durable(t, "c1"), FS_EXPIRED);
}

static void test_rebuild_installs_queued_entries_as_durable_claims(
    void **state)
{
    struct contract *t = *state;
    struct fs_hold e[2] = {
        entry("q1", "alice", FS_STATE_QUEUED, 0),
        entry("h1", "bob", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_hold out[4];

    claims_of(t);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 2, e, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 1, 0);
    assert_int_equal(claim(t, "carol", "c3", NOW), FS_SOLD_OUT);
    assert_int_equal(claim(t, "alice", "c4", NOW), FS_DUPLICATE);
    assert_int_equal(expire_claims(t, FAR_FUTURE, out, 4), 0);
    assert_int_equal(claims_of(t)->claim_to_hold(t->ctx, SALE, "q1",
                                                 FAR_FUTURE),
                     FS_OK);
    assert_counts(t, SALE, 2, 0, 2, 0);
}

static void test_set_inventory_counts_claims_as_taken(void **state)
{
    struct contract *t = *state;

    make_sale(t, SALE, 3);
    assert_int_equal(claim(t, "alice", "c1", NOW), FS_OK);
    assert_int_equal(claim(t, "bob", "c2", NOW), FS_OK);
    assert_int_equal(t->ops->set_inventory(t->ctx, SALE, 1), FS_CONFLICT);
    assert_int_equal(t->ops->set_inventory(t->ctx, SALE, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 0, 0);
}

static void *claim_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char user[32], booking[32], existing[FS_ID_MAX + 1];
    enum fs_status st;

    pthread_barrier_wait(&r->go);
    for (int i = 0; i < r->users_per_thread; i++) {
        snprintf(user, sizeof(user), "user-%d-%d", w->id, i);
        snprintf(booking, sizeof(booking), "ck-%d-%d", w->id, i);
        call_begin(r);
        st = r->t->in.plugin->claims->claim(r->t->ctx, SALE, user, booking,
                                            FAR_FUTURE, existing);
        call_end(r);
        count_reserve(r, st);
    }
    return NULL;
}

/* ---- list_durable (optional within fs_claim_ops) ------------------------ */

#define DURABLE_SEEN_MAX 8

/* What list_durable reported, in order. */
struct durable_seen {
    struct fs_hold c[DURABLE_SEEN_MAX];
    size_t n;           /* calls of the callback */
    size_t stop_after;  /* answer nonzero at this call; 0: never */
};

static int collect_durable(void *arg, const struct fs_hold *c)
{
    struct durable_seen *seen = arg;

    if (seen->n < DURABLE_SEEN_MAX)
        seen->c[seen->n] = *c;
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

/* The plugin's claim table when it has list_durable; a skip otherwise (a
 * plugin built before it was appended). */
static const struct fs_claim_ops *list_durable_of(struct contract *t)
{
    const struct fs_claim_ops *c = claims_of(t);

    if (c->struct_size < offsetof(struct fs_claim_ops, list_durable) +
                             sizeof(c->list_durable) ||
        !c->list_durable)
        skip();
    return c;
}

static size_t list_durable(struct contract *t, struct durable_seen *seen)
{
    assert_int_equal(list_durable_of(t)->list_durable(t->ctx, SALE,
                                                      collect_durable, seen),
                     FS_OK);
    return seen->n;
}

/* The reported claim of `booking`, or a failure. */
static const struct fs_hold *durable_reported(const struct durable_seen *seen,
                                              const char *booking)
{
    for (size_t i = 0; i < seen->n && i < DURABLE_SEEN_MAX; i++)
        if (strcmp(seen->c[i].booking_id, booking) == 0)
            return &seen->c[i];
    fail_msg("list_durable did not report %s", booking);
    return NULL;
}

static void test_list_durable_reports_only_durable_claims(void **state)
{
    struct contract *t = *state;
    const struct fs_claim_ops *c = list_durable_of(t);
    const char *ids[2] = {"c1", "c2"};
    enum fs_status r[2] = {FS_ERROR, FS_ERROR};
    struct durable_seen seen = {.n = 0};
    struct fs_hold out[4];

    make_sale(t, SALE, 10);
    assert_int_equal(list_durable(t, &seen), 0);  /* a sale without any */
    assert_int_equal(claim(t, "alice", "c1", FAR_FUTURE), FS_OK);
    assert_int_equal(claim(t, "bob|2", "c2", FAR_FUTURE), FS_OK);
    assert_int_equal(claim(t, "carol", "c3", FAR_FUTURE), FS_OK);
    assert_int_equal(c->claim_durable(t->ctx, SALE, ids, 2, r), FS_OK);
    assert_int_equal(r[0], FS_OK);
    assert_int_equal(r[1], FS_OK);
    assert_int_equal(c->claim_to_hold(t->ctx, SALE, "c1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "dave", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(reserve(t, "erin", "h1", FAR_FUTURE), FS_OK);

    /* c1 is a hold now, c3 unconfirmed, b1 booked, h1 held: only c2. */
    assert_int_equal(list_durable(t, &seen), 1);
    assert_string_equal(seen.c[0].booking_id, "c2");
    assert_string_equal(seen.c[0].user_id, "bob|2");
    assert_int_equal(seen.c[0].state, FS_STATE_QUEUED);
    assert_int_equal(seen.c[0].expires_ms, 0);
    /* Reading changed nothing: c3 is still leased, c2 still durable. */
    assert_counts(t, SALE, 10, 5, 2, 1);
    assert_int_equal(expire_claims(t, FAR_FUTURE, out, 4), 1);
    assert_string_equal(out[0].booking_id, "c3");
    seen.n = 0;
    assert_int_equal(list_durable(t, &seen), 1);
    assert_string_equal(seen.c[0].booking_id, "c2");
}

static void test_list_durable_stops_when_the_callback_says_so(void **state)
{
    struct contract *t = *state;
    const struct fs_claim_ops *c = list_durable_of(t);
    const char *ids[3] = {"c0", "c1", "c2"};
    enum fs_status r[3];
    struct durable_seen seen = {.n = 0};
    char user[16], booking[16];

    make_sale(t, SALE, 10);
    for (int i = 0; i < 3; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        snprintf(booking, sizeof(booking), "c%d", i);
        assert_int_equal(claim(t, user, booking, NOW + 1000), FS_OK);
    }
    assert_int_equal(c->claim_durable(t->ctx, SALE, ids, 3, r), FS_OK);
    assert_int_equal(list_durable(t, &seen), 3);
    for (int i = 0; i < 3; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        assert_string_equal(durable_reported(&seen, ids[i])->user_id, user);
    }
    seen = (struct durable_seen){.stop_after = 1};
    assert_int_equal(list_durable(t, &seen), 1);
    seen = (struct durable_seen){.stop_after = 2};
    assert_int_equal(list_durable(t, &seen), 2);
}

static void test_list_durable_reports_claims_rebuild_installed(void **state)
{
    struct contract *t = *state;
    struct fs_hold e[3] = {
        entry("q1", "alice", FS_STATE_QUEUED, 0),
        entry("h1", "bob", FS_STATE_HOLD, FAR_FUTURE),
        entry("b1", "carol", FS_STATE_BOOKED, 0),
    };
    struct durable_seen seen = {.n = 0};

    list_durable_of(t);
    assert_int_equal(t->ops->rebuild(t->ctx, SALE, 5, e, 3), FS_OK);
    assert_int_equal(list_durable(t, &seen), 1);
    assert_string_equal(seen.c[0].booking_id, "q1");
    assert_string_equal(seen.c[0].user_id, "alice");
    assert_int_equal(seen.c[0].expires_ms, 0);
}

static void test_list_durable_reports_not_found_or_invalid_sale(void **state)
{
    struct contract *t = *state;
    const struct fs_claim_ops *c = list_durable_of(t);
    struct durable_seen seen = {.n = 0};

    assert_int_equal(c->list_durable(t->ctx, SALE, collect_durable, &seen),
                     FS_NOT_FOUND);
    assert_int_equal(c->list_durable(t->ctx, "no{such}", collect_durable,
                                     &seen),
                     FS_INVALID);
    assert_int_equal(c->list_durable(t->ctx, "", collect_durable, &seen),
                     FS_INVALID);
    assert_int_equal(seen.n, 0);
    assert_stores_nothing(t);
    make_sale(t, "other", 10);
    assert_int_equal(c->list_durable(t->ctx, SALE, collect_durable, &seen),
                     FS_NOT_FOUND);
    assert_int_equal(seen.n, 0);
}

static void test_concurrent_claims_never_take_more_than_the_stock(
    void **state)
{
    struct contract *t = *state;
    struct race *r;

    claims_of(t);
    r = race_new(t);
    r->claims_in_flight = 1;
    make_sale(t, SALE, ITEMS);
    run_race(r, claim_worker);
    assert_int_equal(atomic_load(&r->ok), ITEMS);
    assert_int_equal(atomic_load(&r->sold_out),
                     THREADS * r->users_per_thread - ITEMS);
    assert_int_equal(atomic_load(&r->other), 0);
    assert_int_equal(atomic_load(&r->violations), 0);
    assert_counts(t, SALE, ITEMS, 0, 0, 0);
    race_free(r);
}

static void *same_user_claim_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char booking[32], existing[FS_ID_MAX + 1];
    enum fs_status st;

    snprintf(booking, sizeof(booking), "same-%d", w->id);
    pthread_barrier_wait(&r->go);
    call_begin(r);
    st = r->t->in.plugin->claims->claim(r->t->ctx, SALE, "alice", booking,
                                        FAR_FUTURE, existing);
    call_end(r);
    if (st == FS_OK)
        atomic_fetch_add(&r->ok, 1);
    else if (st == FS_UNAVAILABLE)  /* the winner's claim is unconfirmed */
        atomic_fetch_add(&r->sold_out, 1);  /* here: refused as a repeat */
    else
        atomic_fetch_add(&r->other, 1);
    return NULL;
}

static void test_concurrent_claims_by_one_user_take_one_item(void **state)
{
    struct contract *t = *state;
    struct race *r;

    claims_of(t);
    r = race_new(t);
    r->claims_in_flight = 1;
    make_sale(t, SALE, ITEMS);
    run_race(r, same_user_claim_worker);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->sold_out), THREADS - 1);
    assert_int_equal(atomic_load(&r->other), 0);
    assert_counts(t, SALE, ITEMS, ITEMS - 1, 0, 0);
    race_free(r);
}

/* Half the threads mark claims durable, half expire leases at once: each
 * claim ends exactly one way, and the stock adds up. */
static void *durable_or_expire_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    const struct fs_claim_ops *c = r->t->in.plugin->claims;
    char booking[32];
    const char *ids[1] = {booking};
    struct fs_hold out[ITEMS];
    enum fs_status res;
    size_t n;

    pthread_barrier_wait(&r->go);
    for (int b = 0; b < ITEMS; b++) {
        snprintf(booking, sizeof(booking), "lc-%d", b);
        call_begin(r);
        if (w->id % 2 == 0 &&
            c->claim_durable(r->t->ctx, SALE, ids, 1, &res) == FS_OK &&
            res == FS_OK)
            atomic_fetch_add(&r->confirmed[b], 1);
        if (w->id % 2 == 1 &&
            c->claim_expire(r->t->ctx, SALE, NOW, out, ITEMS, &n) == FS_OK)
            for (size_t i = 0; i < n; i++)
                atomic_fetch_add(&r->expired[atoi(out[i].booking_id + 3)], 1);
        call_end(r);
    }
    return NULL;
}

static void test_concurrent_durable_marks_and_lease_expiry_settle_each_claim_once(
    void **state)
{
    struct contract *t = *state;
    struct race *r;
    char user[16], booking[16];
    int expired = 0;

    claims_of(t);
    r = race_new(t);
    r->claims_in_flight = 1;
    make_sale(t, SALE, ITEMS);
    for (int b = 0; b < ITEMS; b++) {
        snprintf(user, sizeof(user), "u%d", b);
        snprintf(booking, sizeof(booking), "lc-%d", b);
        assert_int_equal(claim(t, user, booking, NOW), FS_OK);
    }
    run_race(r, durable_or_expire_worker);
    for (int b = 0; b < ITEMS; b++) {
        int e = atomic_load(&r->expired[b]);
        /* Durable (any number of marks) xor given back exactly once. */
        assert_true(e <= 1);
        assert_true((e == 1) != (atomic_load(&r->confirmed[b]) > 0));
        expired += e;
    }
    assert_int_equal(atomic_load(&r->violations), 0);
    assert_counts(t, SALE, ITEMS, expired, 0, 0);
    race_free(r);
}

/* ---- the suite ---------------------------------------------------------- */

#define C(name) {#name, name}

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} contract_tests[] = {
    C(test_descriptor_declares_an_inventory_plugin_with_every_operation),
    C(test_health_reports_ok),
    C(test_counts_reports_not_found_for_unknown_sale),
    C(test_rebuild_installs_empty_sale_with_every_item_available),
    C(test_rebuild_counts_held_and_booked_entries),
    C(test_rebuild_refuses_sale_already_present),
    C(test_rebuild_refuses_more_entries_than_inventory),
    C(test_rebuild_refuses_entries_that_break_the_rules),
    C(test_rebuild_restores_the_one_per_user_rule),
    C(test_rebuilt_holds_expire_like_reserved_ones),
    C(test_rebuild_installs_thousands_of_entries_in_one_step),
    C(test_reserve_reports_not_found_for_unknown_sale),
    C(test_reserve_takes_one_item_and_records_the_hold),
    C(test_reserve_is_idempotent_by_booking_id),
    C(test_reserve_refuses_second_booking_for_same_user),
    C(test_reserve_refuses_user_who_booked),
    C(test_reserve_refuses_user_whose_hold_expired_until_swept),
    C(test_reserve_refuses_booking_id_of_another_user),
    C(test_reserve_refuses_when_sold_out),
    C(test_reserve_checks_duplicate_before_sold_out),
    C(test_reserve_refuses_malformed_ids),
    C(test_ids_outside_the_id_grammar_are_refused_and_nothing_written),
    C(test_reserve_accepts_ids_of_maximum_length),
    C(test_reserve_keeps_any_bytes_of_a_user_id),
    C(test_reserve_lets_user_book_again_after_release),
    C(test_confirm_books_a_live_hold),
    C(test_confirm_is_idempotent_when_already_booked),
    C(test_confirm_reports_expired_without_giving_item_back),
    C(test_confirm_reports_not_found_without_a_hold),
    C(test_confirm_after_expiry_is_swept_reports_not_found),
    C(test_release_gives_the_item_back_exactly_once),
    C(test_release_refuses_a_booked_item),
    C(test_release_reports_not_found_without_a_hold),
    C(test_release_of_an_expired_hold_wins_over_the_sweep),
    C(test_expire_due_releases_only_due_holds_and_reports_each_once),
    C(test_expire_due_reports_at_most_max_per_call),
    C(test_expire_due_never_touches_booked_items),
    C(test_expire_due_reports_not_found_for_unknown_sale),
    C(test_lookup_reports_not_found_for_unknown_booking_or_sale),
    C(test_find_user_names_the_held_or_booked_item_and_forgets_it_when_released),
    C(test_set_inventory_adjusts_available),
    C(test_set_inventory_refuses_below_held_plus_booked),
    C(test_set_inventory_reports_not_found_for_unknown_sale),
    C(test_sales_keep_separate_stock_and_users),
    {"test_concurrent_reserves_never_oversell",
     inventory_contract_test_concurrent_reserves_never_oversell},
    C(test_concurrent_reserves_by_one_user_take_one_item),
    C(test_concurrent_rebuilds_install_the_sale_once),
    C(test_concurrent_confirm_release_expire_settle_each_hold_once),
    C(test_claim_takes_an_item_without_holding_it),
    C(test_claim_reports_not_found_for_unknown_sale),
    C(test_claim_refuses_a_user_with_a_claim_or_hold_and_names_it),
    C(test_claim_is_idempotent_by_booking_id),
    C(test_claim_refuses_when_sold_out_and_checks_duplicate_first),
    C(test_claim_expire_gives_back_unconfirmed_claims_once),
    C(test_claim_expire_reports_at_most_max_per_call),
    C(test_durable_claims_are_never_expired),
    C(test_claim_durable_reports_expired_for_claims_given_back),
    C(test_claim_to_hold_turns_a_claim_into_a_hold),
    C(test_claim_to_hold_of_a_durable_claim_makes_a_hold_that_expires),
    C(test_claim_to_hold_reports_expired_without_a_claim),
    C(test_confirm_refuses_a_claim),
    C(test_release_gives_a_claim_back_exactly_once),
    C(test_rebuild_installs_queued_entries_as_durable_claims),
    C(test_set_inventory_counts_claims_as_taken),
    C(test_list_durable_reports_only_durable_claims),
    C(test_list_durable_stops_when_the_callback_says_so),
    C(test_list_durable_reports_claims_rebuild_installed),
    C(test_list_durable_reports_not_found_or_invalid_sale),
    C(test_concurrent_claims_never_take_more_than_the_stock),
    C(test_concurrent_claims_by_one_user_take_one_item),
    C(test_concurrent_durable_marks_and_lease_expiry_settle_each_claim_once),
};

#define N_CONTRACT_TESTS (sizeof(contract_tests) / sizeof(contract_tests[0]))

int inventory_contract_run(const struct inventory_fixture *fx)
{
    struct CMUnitTest tests[N_CONTRACT_TESTS];
    char group[128];
    size_t i;

    for (i = 0; i < N_CONTRACT_TESTS; i++)
        tests[i] = (struct CMUnitTest){
            .name = contract_tests[i].name,
            .test_func = contract_tests[i].fn,
            .setup_func = inventory_contract_setup,
            .teardown_func = inventory_contract_teardown,
            /* cmocka hands this to setup as *state. */
            .initial_state = (void *)fx,
        };
    snprintf(group, sizeof(group), "inventory contract: %s", fx->name);
    /* cmocka_run_group_tests_name() would stringize `group`: call what it
     * expands to, with the name as a value. */
    return _cmocka_run_group_tests(group, tests, N_CONTRACT_TESTS, NULL, NULL);
}
