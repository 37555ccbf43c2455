/*
 * test_inventory_memory.c - the embedded inventory plugin
 * (inventory_memory.so) against the inventory contract of fs_plugin.h: every
 * operation and outcome, and the invariants of DESIGN.md section 4 (never
 * oversell, never undersell, one per user, exactly once) under threads.
 */
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

#include "plugin_fixture.h"

#define SALE "launch"
#define FAR_FUTURE 4102444800000LL /* 2100-01-01 */
#define NOW 1767225600000LL        /* 2026-01-01 */

struct inv_test {
    struct plugin_fixture f;
    const struct fs_inventory_ops *ops;
};

static int setup(void **state)
{
    struct inv_test *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    fixture_open(&t->f, "inventory_memory.so", FS_PLUGIN_INVENTORY);
    fixture_create(&t->f, NULL);  /* no options: the core may pass NULL */
    t->ops = t->f.plugin->inventory;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct inv_test *t = *state;

    fixture_close(&t->f);
    free(t);
    return 0;
}

static void make_sale(struct inv_test *t, const char *sale, int64_t inventory)
{
    assert_int_equal(t->ops->rebuild(t->f.ctx, sale, inventory, NULL, 0), FS_OK);
}

static enum fs_status reserve(struct inv_test *t, const char *user,
                              const char *booking, int64_t expires_ms)
{
    char existing[FS_ID_MAX + 1] = "";
    return t->ops->reserve(t->f.ctx, SALE, user, booking, expires_ms, existing);
}

static void assert_counts(struct inv_test *t, const char *sale,
                          int64_t inventory, int64_t available, int64_t held,
                          int64_t booked)
{
    struct fs_sale_counts c;

    assert_int_equal(t->ops->counts(t->f.ctx, sale, &c), FS_OK);
    assert_int_equal(c.inventory, inventory);
    assert_int_equal(c.available, available);
    assert_int_equal(c.held, held);
    assert_int_equal(c.booked, booked);
}

static struct fs_hold entry(const char *booking, const char *user,
                            enum fs_booking_state state, int64_t expires_ms)
{
    struct fs_hold h;

    memset(&h, 0, sizeof(h));
    snprintf(h.booking_id, sizeof(h.booking_id), "%s", booking);
    snprintf(h.user_id, sizeof(h.user_id), "%s", user);
    h.state = state;
    h.expires_ms = expires_ms;
    return h;
}

/* ---- descriptor and lifecycle ------------------------------------------- */

static void test_descriptor_is_thread_safe_memory_inventory(void **state)
{
    struct inv_test *t = *state;
    const struct fs_plugin *p = t->f.plugin;

    assert_string_equal(p->name, "memory");
    assert_int_equal(p->struct_size, sizeof(struct fs_plugin));
    assert_true(p->flags & FS_PLUGIN_THREAD_SAFE);
    assert_non_null(p->options);
    assert_int_equal(p->options[0].type, FS_OPT_END);
    assert_non_null(p->inventory);
    assert_null(p->queue);
    assert_null(p->storage);
}

static void test_health_reports_ok(void **state)
{
    struct inv_test *t = *state;
    char detail[128] = "";

    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_OK);
}

/* ---- counts and rebuild ------------------------------------------------- */

static void test_counts_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;
    struct fs_sale_counts c;

    assert_int_equal(t->ops->counts(t->f.ctx, "nope", &c), FS_NOT_FOUND);
}

static void test_rebuild_installs_empty_sale_with_every_item_available(
    void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_counts_held_and_booked_entries(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e[3] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "bob", FS_STATE_BOOKED, 0),
        entry("b3", "carol", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_hold h;

    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 5, e, 3), FS_OK);
    assert_counts(t, SALE, 5, 2, 2, 1);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b2", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_BOOKED);
    assert_string_equal(h.user_id, "bob");
}

static void test_rebuild_refuses_sale_already_present(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE);

    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 3, &e, 1), FS_CONFLICT);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_refuses_more_entries_than_inventory(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "bob", FS_STATE_BOOKED, 0),
    };
    struct fs_sale_counts c;

    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 1, e, 2), FS_INVALID);
    assert_int_equal(t->ops->counts(t->f.ctx, SALE, &c), FS_NOT_FOUND);
    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 2, e, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 1, 1);
}

static void test_rebuild_refuses_entries_that_break_the_rules(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold same_user[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "alice", FS_STATE_BOOKED, 0),
    };
    struct fs_hold same_booking[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b1", "bob", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_hold queued = entry("b1", "alice", FS_STATE_QUEUED, 0);
    struct fs_hold no_user = entry("b1", "", FS_STATE_HOLD, FAR_FUTURE);
    struct fs_sale_counts c;

    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 10, same_user, 2),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 10, same_booking, 2),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 10, &queued, 1),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 10, &no_user, 1),
                     FS_INVALID);
    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, -1, NULL, 0), FS_INVALID);
    assert_int_equal(t->ops->counts(t->f.ctx, SALE, &c), FS_NOT_FOUND);
}

static void test_rebuild_restores_the_one_per_user_rule(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_BOOKED, 0);
    char existing[FS_ID_MAX + 1] = "";

    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 10, &e, 1), FS_OK);
    assert_int_equal(t->ops->reserve(t->f.ctx, SALE, "alice", "b9", FAR_FUTURE,
                                     existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
}

static void test_rebuilt_holds_expire_like_reserved_ones(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_HOLD, NOW);
    struct fs_hold out[4];
    size_t n = 0;

    assert_int_equal(t->ops->rebuild(t->f.ctx, SALE, 10, &e, 1), FS_OK);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW, out, 4, &n), FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].booking_id, "b1");
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* ---- reserve ------------------------------------------------------------ */

static void test_reserve_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;

    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_NOT_FOUND);
}

static void test_reserve_takes_one_item_and_records_the_hold(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b1", &h), FS_OK);
    assert_string_equal(h.booking_id, "b1");
    assert_string_equal(h.user_id, "alice");
    assert_int_equal(h.state, FS_STATE_HOLD);
    assert_int_equal(h.expires_ms, FAR_FUTURE);
}

static void test_reserve_is_idempotent_by_booking_id(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_reserve_refuses_second_booking_for_same_user(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->reserve(t->f.ctx, SALE, "alice", "b2", FAR_FUTURE,
                                     existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
    assert_counts(t, SALE, 10, 9, 1, 0);
}

static void test_reserve_refuses_user_who_booked(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->ops->reserve(t->f.ctx, SALE, "alice", "b2", FAR_FUTURE,
                                     existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
}

static void test_reserve_refuses_user_whose_hold_expired_until_swept(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[1];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    /* Past its expiry but not reported yet: still alice's active hold. */
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_DUPLICATE);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW, out, 1, &n), FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_OK);
}

static void test_reserve_refuses_booking_id_of_another_user(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b1", FAR_FUTURE), FS_CONFLICT);
    assert_counts(t, SALE, 10, 9, 1, 0);
}

static void test_reserve_refuses_when_sold_out(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 2);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_SOLD_OUT);
    assert_counts(t, SALE, 2, 0, 2, 0);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b3", &(struct fs_hold){0}),
                     FS_NOT_FOUND);
}

static void test_reserve_checks_duplicate_before_sold_out(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 1);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->reserve(t->f.ctx, SALE, "alice", "b2", FAR_FUTURE,
                                     existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
}

static void test_reserve_refuses_malformed_ids(void **state)
{
    struct inv_test *t = *state;
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

static void test_reserve_accepts_ids_of_maximum_length(void **state)
{
    struct inv_test *t = *state;
    char id[FS_ID_MAX + 1];
    char user[FS_USER_MAX + 1];
    struct fs_hold h;

    memset(id, 'b', FS_ID_MAX);
    id[FS_ID_MAX] = '\0';
    memset(user, 'u', FS_USER_MAX);
    user[FS_USER_MAX] = '\0';
    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, user, id, FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, id, &h), FS_OK);
    assert_string_equal(h.booking_id, id);
    assert_string_equal(h.user_id, user);
}

static void test_reserve_lets_user_book_again_after_release(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 1);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b1"), FS_OK);
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 1, 0, 1, 0);
}

/* ---- confirm ------------------------------------------------------------ */

static void test_confirm_books_a_live_hold(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_BOOKED);
}

static void test_confirm_is_idempotent_when_already_booked(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_OK);
    /* Even after the old expiry: a booked item no longer expires. */
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW + 5000), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_confirm_reports_expired_without_giving_item_back(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    /* expires_ms <= now_ms is expired: the boundary itself counts. */
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_EXPIRED);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_HOLD);
}

static void test_confirm_reports_not_found_without_a_hold(void **state)
{
    struct inv_test *t = *state;

    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_NOT_FOUND);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b1"), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_confirm_after_expiry_is_swept_reports_not_found(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[2];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_EXPIRED);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW, out, 2, &n), FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW - 1),
                     FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* ---- release ------------------------------------------------------------ */

static void test_release_gives_the_item_back_exactly_once(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b1"), FS_OK);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b1"), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b1", &h), FS_NOT_FOUND);
}

static void test_release_refuses_a_booked_item(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b1"), FS_CONFLICT);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_release_reports_not_found_without_a_hold(void **state)
{
    struct inv_test *t = *state;

    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b1"), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "never"), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_release_of_an_expired_hold_wins_over_the_sweep(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[2];
    size_t n = 9;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b1"), FS_OK);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW, out, 2, &n), FS_OK);
    assert_int_equal(n, 0);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* ---- expire_due --------------------------------------------------------- */

static void test_expire_due_releases_only_due_holds_and_reports_each_once(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[8];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "due", NOW - 10), FS_OK);
    assert_int_equal(reserve(t, "bob", "edge", NOW), FS_OK);
    assert_int_equal(reserve(t, "carol", "later", NOW + 1), FS_OK);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW, out, 8, &n), FS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].state, FS_STATE_HOLD);
    assert_true((strcmp(out[0].booking_id, "due") == 0 &&
                 strcmp(out[1].booking_id, "edge") == 0) ||
                (strcmp(out[0].booking_id, "edge") == 0 &&
                 strcmp(out[1].booking_id, "due") == 0));
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW, out, 8, &n), FS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW + 1, out, 8, &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].booking_id, "later");
    assert_string_equal(out[0].user_id, "carol");
    assert_int_equal(out[0].expires_ms, NOW + 1);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_expire_due_reports_at_most_max_per_call(void **state)
{
    struct inv_test *t = *state;
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
    do {
        assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, NOW, out, 3, &n),
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
    struct inv_test *t = *state;
    struct fs_hold out[2];
    size_t n = 9;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->ops->expire_due(t->f.ctx, SALE, FAR_FUTURE, out, 2, &n),
                     FS_OK);
    assert_int_equal(n, 0);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_expire_due_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[1];
    size_t n = 9;

    assert_int_equal(t->ops->expire_due(t->f.ctx, "nope", NOW, out, 1, &n),
                     FS_NOT_FOUND);
    assert_int_equal(n, 0);
}

/* ---- lookup ------------------------------------------------------------- */

static void test_lookup_reports_not_found_for_unknown_booking_or_sale(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b1", &h), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->lookup(t->f.ctx, SALE, "b1", &h), FS_NOT_FOUND);
}

/* ---- find_user ---------------------------------------------------------- */

static void test_find_user_names_the_held_or_booked_item_and_forgets_it_when_released(
    void **state)
{
    struct inv_test *t = *state;
    char id[FS_ID_MAX + 1] = "";

    assert_int_equal(t->ops->find_user(t->f.ctx, SALE, "alice", id), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->ops->find_user(t->f.ctx, SALE, "alice", id), FS_NOT_FOUND);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->find_user(t->f.ctx, SALE, "alice", id), FS_OK);
    assert_string_equal(id, "b1");
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->ops->find_user(t->f.ctx, SALE, "alice", id), FS_OK);
    assert_string_equal(id, "b1");
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->release(t->f.ctx, SALE, "b2"), FS_OK);
    assert_int_equal(t->ops->find_user(t->f.ctx, SALE, "bob", id), FS_NOT_FOUND);
    assert_int_equal(t->ops->find_user(t->f.ctx, SALE, "", id), FS_INVALID);
}

/* ---- set_inventory ------------------------------------------------------ */

static void test_set_inventory_adjusts_available(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b2", NOW), FS_OK);
    assert_int_equal(t->ops->set_inventory(t->f.ctx, SALE, 20), FS_OK);
    assert_counts(t, SALE, 20, 18, 1, 1);
    assert_int_equal(t->ops->set_inventory(t->f.ctx, SALE, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 1, 1);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_SOLD_OUT);
}

static void test_set_inventory_refuses_below_held_plus_booked(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->ops->confirm(t->f.ctx, SALE, "b2", NOW), FS_OK);
    assert_int_equal(t->ops->set_inventory(t->f.ctx, SALE, 1), FS_CONFLICT);
    assert_int_equal(t->ops->set_inventory(t->f.ctx, SALE, -1), FS_INVALID);
    assert_counts(t, SALE, 10, 8, 1, 1);
}

static void test_set_inventory_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;
    struct fs_sale_counts c;

    assert_int_equal(t->ops->set_inventory(t->f.ctx, SALE, 5), FS_NOT_FOUND);
    assert_int_equal(t->ops->counts(t->f.ctx, SALE, &c), FS_NOT_FOUND);
}

/* ---- sales are independent ---------------------------------------------- */

static void test_sales_keep_separate_stock_and_users(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, "a", 1);
    make_sale(t, "b", 1);
    assert_int_equal(t->ops->reserve(t->f.ctx, "a", "alice", "a1", FAR_FUTURE,
                                     existing),
                     FS_OK);
    /* One per user is per sale: alice may hold one item in each. */
    assert_int_equal(t->ops->reserve(t->f.ctx, "b", "alice", "b1", FAR_FUTURE,
                                     existing),
                     FS_OK);
    assert_counts(t, "a", 1, 0, 1, 0);
    assert_counts(t, "b", 1, 0, 1, 0);
    assert_int_equal(t->ops->release(t->f.ctx, "b", "a1"), FS_NOT_FOUND);
}

/* ---- concurrency -------------------------------------------------------- */

#define THREADS 16
#define USERS_PER_THREAD 250
#define ITEMS 100

/* cmocka's asserts must stay on the main thread: workers count outcomes and
 * the main thread asserts on them. */
struct race {
    struct inv_test *t;
    pthread_barrier_t go;
    atomic_int done;
    atomic_int ok, sold_out, other;
    atomic_int violations;  /* counts seen breaking an invariant */
    atomic_int confirmed[ITEMS], released[ITEMS], expired[ITEMS];
    atomic_int confirm_errors, release_errors, expire_errors;
};

struct worker {
    struct race *r;
    int id;
};

static void *reserve_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char user[32], booking[32], existing[FS_ID_MAX + 1];
    int i;

    pthread_barrier_wait(&r->go);
    for (i = 0; i < USERS_PER_THREAD; i++) {
        snprintf(user, sizeof(user), "user-%d-%d", w->id, i);
        snprintf(booking, sizeof(booking), "bk-%d-%d", w->id, i);
        switch (r->t->ops->reserve(r->t->f.ctx, SALE, user, booking,
                                   FAR_FUTURE, existing)) {
        case FS_OK: atomic_fetch_add(&r->ok, 1); break;
        case FS_SOLD_OUT: atomic_fetch_add(&r->sold_out, 1); break;
        default: atomic_fetch_add(&r->other, 1); break;
        }
    }
    return NULL;
}

/* Watches the counts while the workers run: no instant may oversell. */
static void *counts_watcher(void *arg)
{
    struct race *r = arg;
    struct fs_sale_counts c;

    pthread_barrier_wait(&r->go);
    while (!atomic_load(&r->done)) {
        if (r->t->ops->counts(r->t->f.ctx, SALE, &c) != FS_OK ||
            c.held + c.booked > c.inventory ||
            c.available + c.held + c.booked != c.inventory || c.available < 0)
            atomic_fetch_add(&r->violations, 1);
    }
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

static void test_concurrent_reserves_never_oversell(void **state)
{
    struct inv_test *t = *state;
    struct race *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->t = t;
    make_sale(t, SALE, ITEMS);
    run_race(r, reserve_worker);
    assert_int_equal(atomic_load(&r->ok), ITEMS);
    assert_int_equal(atomic_load(&r->sold_out),
                     THREADS * USERS_PER_THREAD - ITEMS);
    assert_int_equal(atomic_load(&r->other), 0);
    assert_int_equal(atomic_load(&r->violations), 0);
    assert_counts(t, SALE, ITEMS, 0, ITEMS, 0);
    free(r);
}

static void *same_user_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char booking[32], existing[FS_ID_MAX + 1] = "";

    snprintf(booking, sizeof(booking), "bk-%d", w->id);
    pthread_barrier_wait(&r->go);
    switch (r->t->ops->reserve(r->t->f.ctx, SALE, "alice", booking, FAR_FUTURE,
                               existing)) {
    case FS_OK: atomic_fetch_add(&r->ok, 1); break;
    case FS_DUPLICATE:
        /* The winner's id: it must be one of the racers' and held now. */
        if (strncmp(existing, "bk-", 3) == 0 &&
            r->t->ops->lookup(r->t->f.ctx, SALE, existing,
                              &(struct fs_hold){0}) == FS_OK)
            atomic_fetch_add(&r->sold_out, 1);
        else
            atomic_fetch_add(&r->other, 1);
        break;
    default: atomic_fetch_add(&r->other, 1); break;
    }
    return NULL;
}

static void test_concurrent_reserves_by_one_user_take_one_item(void **state)
{
    struct inv_test *t = *state;
    struct race *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->t = t;
    make_sale(t, SALE, ITEMS);
    run_race(r, same_user_worker);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->sold_out), THREADS - 1);  /* duplicates */
    assert_int_equal(atomic_load(&r->other), 0);
    assert_counts(t, SALE, ITEMS, ITEMS - 1, 1, 0);
    free(r);
}

static void *rebuild_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    enum fs_status st;

    pthread_barrier_wait(&r->go);
    st = r->t->ops->rebuild(r->t->f.ctx, "fresh", ITEMS + w->id, NULL, 0);
    if (st == FS_OK)
        atomic_fetch_add(&r->ok, 1);
    else if (st == FS_CONFLICT)
        atomic_fetch_add(&r->sold_out, 1);
    else
        atomic_fetch_add(&r->other, 1);
    return NULL;
}

static void test_concurrent_rebuilds_install_the_sale_once(void **state)
{
    struct inv_test *t = *state;
    struct race *r = calloc(1, sizeof(*r));
    struct fs_sale_counts c;

    assert_non_null(r);
    r->t = t;
    make_sale(t, SALE, 1);  /* for the watcher */
    run_race(r, rebuild_worker);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->sold_out), THREADS - 1);  /* conflicts */
    assert_int_equal(atomic_load(&r->other), 0);
    assert_int_equal(t->ops->counts(t->f.ctx, "fresh", &c), FS_OK);
    assert_int_equal(c.available, c.inventory);
    free(r);
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
        st = r->t->ops->confirm(r->t->f.ctx, SALE, booking, NOW - 1);
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
        st = r->t->ops->release(r->t->f.ctx, SALE, booking);
        if (st == FS_OK)
            atomic_fetch_add(&r->released[b], 1);
        else if (st != FS_NOT_FOUND && st != FS_CONFLICT)
            atomic_fetch_add(&r->release_errors, 1);
    }
}

static void expire_all(struct race *r)
{
    struct fs_hold out[7];
    size_t n, i;
    int b;

    do {
        if (r->t->ops->expire_due(r->t->f.ctx, SALE, NOW, out, 7, &n) != FS_OK) {
            atomic_fetch_add(&r->expire_errors, 1);
            return;
        }
        for (i = 0; i < n; i++) {
            if (sscanf(out[i].booking_id, "b%d", &b) == 1 && b >= 0 &&
                b < ITEMS)
                atomic_fetch_add(&r->expired[b], 1);
            else
                atomic_fetch_add(&r->expire_errors, 1);
        }
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

static void test_concurrent_confirm_release_expire_settle_each_hold_once(
    void **state)
{
    struct inv_test *t = *state;
    struct race *r = calloc(1, sizeof(*r));
    char user[16], booking[16];
    int b, booked = 0, returned = 0, given_back;
    struct fs_hold h;

    assert_non_null(r);
    r->t = t;
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
    for (b = 0; b < ITEMS; b++) {
        snprintf(booking, sizeof(booking), "b%03d", b);
        given_back = atomic_load(&r->released[b]) + atomic_load(&r->expired[b]);
        /* Never both won and given back; given back at most once. */
        assert_true(given_back <= 1);
        if (atomic_load(&r->confirmed[b])) {
            assert_int_equal(given_back, 0);
            assert_int_equal(t->ops->lookup(t->f.ctx, SALE, booking, &h), FS_OK);
            assert_int_equal(h.state, FS_STATE_BOOKED);
            booked++;
        } else {
            /* Every release thread tried it: it must have come back. */
            assert_int_equal(given_back, 1);
            assert_int_equal(t->ops->lookup(t->f.ctx, SALE, booking, &h),
                             FS_NOT_FOUND);
            returned++;
        }
    }
    assert_int_equal(booked + returned, ITEMS);
    assert_counts(t, SALE, ITEMS, ITEMS - booked, 0, booked);
    free(r);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor_is_thread_safe_memory_inventory),
        T(test_health_reports_ok),
        T(test_counts_reports_not_found_for_unknown_sale),
        T(test_rebuild_installs_empty_sale_with_every_item_available),
        T(test_rebuild_counts_held_and_booked_entries),
        T(test_rebuild_refuses_sale_already_present),
        T(test_rebuild_refuses_more_entries_than_inventory),
        T(test_rebuild_refuses_entries_that_break_the_rules),
        T(test_rebuild_restores_the_one_per_user_rule),
        T(test_rebuilt_holds_expire_like_reserved_ones),
        T(test_reserve_reports_not_found_for_unknown_sale),
        T(test_reserve_takes_one_item_and_records_the_hold),
        T(test_reserve_is_idempotent_by_booking_id),
        T(test_reserve_refuses_second_booking_for_same_user),
        T(test_reserve_refuses_user_who_booked),
        T(test_reserve_refuses_user_whose_hold_expired_until_swept),
        T(test_reserve_refuses_booking_id_of_another_user),
        T(test_reserve_refuses_when_sold_out),
        T(test_reserve_checks_duplicate_before_sold_out),
        T(test_reserve_refuses_malformed_ids),
        T(test_reserve_accepts_ids_of_maximum_length),
        T(test_reserve_lets_user_book_again_after_release),
        T(test_confirm_books_a_live_hold),
        T(test_confirm_is_idempotent_when_already_booked),
        T(test_confirm_reports_expired_without_giving_item_back),
        T(test_confirm_reports_not_found_without_a_hold),
        T(test_confirm_after_expiry_is_swept_reports_not_found),
        T(test_release_gives_the_item_back_exactly_once),
        T(test_release_refuses_a_booked_item),
        T(test_release_reports_not_found_without_a_hold),
        T(test_release_of_an_expired_hold_wins_over_the_sweep),
        T(test_expire_due_releases_only_due_holds_and_reports_each_once),
        T(test_expire_due_reports_at_most_max_per_call),
        T(test_expire_due_never_touches_booked_items),
        T(test_expire_due_reports_not_found_for_unknown_sale),
        T(test_lookup_reports_not_found_for_unknown_booking_or_sale),
        T(test_find_user_names_the_held_or_booked_item_and_forgets_it_when_released),
        T(test_set_inventory_adjusts_available),
        T(test_set_inventory_refuses_below_held_plus_booked),
        T(test_set_inventory_reports_not_found_for_unknown_sale),
        T(test_sales_keep_separate_stock_and_users),
        T(test_concurrent_reserves_never_oversell),
        T(test_concurrent_reserves_by_one_user_take_one_item),
        T(test_concurrent_rebuilds_install_the_sale_once),
        T(test_concurrent_confirm_release_expire_settle_each_hold_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
