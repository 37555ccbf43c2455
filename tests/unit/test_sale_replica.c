/* test_sale_replica.c - a sale's replicated counts: unknown until reported,
 * forgotten on demand, never read half-written while the feed's thread
 * writes them; and the users who may hold one of its items. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sale_replica.h"

#define WRITES 200000

static void test_a_replica_is_unknown_until_counts_are_stored(void **state)
{
    struct fs_sale_replica r;
    struct fs_sale_counts c = {10, 7, 2, 1}, out;
    (void)state;
    fs_sale_replica_init(&r);
    assert_int_equal(fs_sale_replica_read(&r, &out), 0);
    fs_sale_replica_store(&r, &c);
    assert_int_equal(fs_sale_replica_read(&r, &out), 1);
    assert_int_equal(out.inventory, 10);
    assert_int_equal(out.available, 7);
    assert_int_equal(out.held, 2);
    assert_int_equal(out.booked, 1);
    fs_sale_replica_free(&r);
}

static void test_a_forgotten_replica_is_unknown_again(void **state)
{
    struct fs_sale_replica r;
    struct fs_sale_counts c = {10, 0, 10, 0}, out;
    (void)state;
    fs_sale_replica_init(&r);
    fs_sale_replica_store(&r, &c);
    fs_sale_replica_forget(&r);
    assert_int_equal(fs_sale_replica_read(&r, &out), 0);
    fs_sale_replica_free(&r);
}

static void test_a_user_who_took_an_item_may_hold_one_and_others_not(void **state)
{
    struct fs_sale_replica r;
    (void)state;
    fs_sale_replica_init(&r);
    assert_int_equal(fs_sale_replica_may_hold(&r, "alice"), 0);
    assert_int_equal(fs_sale_replica_add_holder(&r, "alice"), 0);
    assert_int_equal(fs_sale_replica_add_holder(&r, "alice"), 0);
    assert_int_equal(fs_sale_replica_add_holder(&r, "bob smith"), 0);
    assert_int_equal(fs_sale_replica_may_hold(&r, "alice"), 1);
    assert_int_equal(fs_sale_replica_may_hold(&r, "bob smith"), 1);
    assert_int_equal(fs_sale_replica_may_hold(&r, "bob"), 0);
    fs_sale_replica_free(&r);
}

struct race {
    struct fs_sale_replica r;
    atomic_int done;
};

/* Every stored set keeps available + held + booked == inventory, with all
 * four changing each time: a reader that mixed two sets would see it
 * broken. */
static void *writer(void *arg)
{
    struct race *x = arg;

    for (int64_t i = 1; i <= WRITES; i++) {
        struct fs_sale_counts c = {1000 + i, 1000 - i % 500, i, i % 500};
        fs_sale_replica_store(&x->r, &c);
    }
    atomic_store(&x->done, 1);
    return NULL;
}

static void test_a_reader_never_sees_two_changes_mixed(void **state)
{
    struct race x;
    pthread_t t;
    long reads = 0;
    (void)state;
    fs_sale_replica_init(&x.r);
    atomic_init(&x.done, 0);
    assert_int_equal(pthread_create(&t, NULL, writer, &x), 0);
    while (!atomic_load(&x.done)) {
        struct fs_sale_counts out;

        if (!fs_sale_replica_read(&x.r, &out))
            continue;
        assert_int_equal(out.available + out.held + out.booked, out.inventory);
        reads++;
    }
    pthread_join(t, NULL);
    assert_true(reads > 0);
    fs_sale_replica_free(&x.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_replica_is_unknown_until_counts_are_stored),
        cmocka_unit_test(test_a_forgotten_replica_is_unknown_again),
        cmocka_unit_test(test_a_user_who_took_an_item_may_hold_one_and_others_not),
        cmocka_unit_test(test_a_reader_never_sees_two_changes_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
