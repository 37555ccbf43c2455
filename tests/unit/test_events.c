/* test_events.c - stream wake-ups: targeted, bounded, and released. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "events.h"

static int setup(void **state)
{
    (void)state;
    fs_events_init(3, 2);
    return 0;
}

static void test_a_notify_wakes_the_booking_it_names(void **state)
{
    struct fs_events_sub *sub = fs_events_subscribe("b1", "alice");
    (void)state;
    assert_non_null(sub);
    fs_events_notify("b1");
    assert_int_equal(fs_events_wait(sub, 1000), 1);
    fs_events_unsubscribe(sub);
}

static void test_a_notify_of_another_booking_does_not_wake(void **state)
{
    struct fs_events_sub *sub = fs_events_subscribe("b1", "alice");
    (void)state;
    fs_events_notify("b2");
    assert_int_equal(fs_events_wait(sub, 50), 0);
    fs_events_unsubscribe(sub);
}

static void test_a_notify_before_the_wait_is_not_lost(void **state)
{
    struct fs_events_sub *sub = fs_events_subscribe("b1", "alice");
    (void)state;
    fs_events_notify("b1");
    fs_events_notify("b1");
    assert_int_equal(fs_events_wait(sub, 0), 1);
    assert_int_equal(fs_events_wait(sub, 10), 0);  /* both seen at once */
    fs_events_unsubscribe(sub);
}

static void test_streams_are_bounded_per_user_and_in_total(void **state)
{
    struct fs_events_sub *a1, *a2, *a3, *b1, *c1;
    (void)state;
    a1 = fs_events_subscribe("x", "alice");
    a2 = fs_events_subscribe("y", "alice");
    a3 = fs_events_subscribe("z", "alice");
    assert_non_null(a1);
    assert_non_null(a2);
    assert_null(a3);  /* two per user */
    b1 = fs_events_subscribe("x", "bob");
    assert_non_null(b1);
    c1 = fs_events_subscribe("w", "carol");
    assert_null(c1);  /* three in total */
    assert_int_equal(fs_events_open_streams(), 3);
    fs_events_unsubscribe(a1);
    c1 = fs_events_subscribe("w", "carol");
    assert_non_null(c1);
    fs_events_unsubscribe(a2);
    fs_events_unsubscribe(b1);
    fs_events_unsubscribe(c1);
    assert_int_equal(fs_events_open_streams(), 0);
}

static void *notify_later(void *arg)
{
    fs_events_notify(arg);
    return NULL;
}

static void test_a_notify_from_another_thread_wakes_a_waiting_stream(void **state)
{
    struct fs_events_sub *sub = fs_events_subscribe("t1", "alice");
    pthread_t th;
    (void)state;
    assert_int_equal(pthread_create(&th, NULL, notify_later, "t1"), 0);
    assert_int_equal(fs_events_wait(sub, 5000), 1);
    pthread_join(th, NULL);
    fs_events_unsubscribe(sub);
}

static void test_shutdown_ends_every_wait(void **state)
{
    struct fs_events_sub *sub = fs_events_subscribe("s1", "alice");
    (void)state;
    fs_events_shutdown();
    assert_int_equal(fs_events_wait(sub, 5000), -1);
    assert_null(fs_events_subscribe("s2", "bob"));
    fs_events_unsubscribe(sub);
    fs_events_init(3, 2);
}

static char relayed[FS_ID_MAX + 1];
static int relays;

static void record_relay(void *arg, const char *booking_id)
{
    (void)arg;
    snprintf(relayed, sizeof(relayed), "%s", booking_id);
    relays++;
}

static void test_a_notify_is_relayed_for_the_other_daemons_and_a_wake_is_not(void **state)
{
    struct fs_events_sub *sub = fs_events_subscribe("b1", "alice");
    (void)state;
    relays = 0;
    fs_events_set_relay(record_relay, NULL);
    fs_events_notify("b1");
    assert_int_equal(relays, 1);
    assert_string_equal(relayed, "b1");
    /* What another daemon announced wakes the stream but goes no further. */
    assert_int_equal(fs_events_wait(sub, 1000), 1);
    fs_events_wake("b1");
    assert_int_equal(relays, 1);
    assert_int_equal(fs_events_wait(sub, 1000), 1);
    fs_events_set_relay(NULL, NULL);
    fs_events_notify("b1");
    assert_int_equal(relays, 1);
    fs_events_unsubscribe(sub);
}

static void test_wake_all_wakes_every_stream_once(void **state)
{
    struct fs_events_sub *a = fs_events_subscribe("b1", "alice");
    struct fs_events_sub *b = fs_events_subscribe("b2", "bob");
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    fs_events_wake_all();
    assert_int_equal(fs_events_wait(a, 1000), 1);
    assert_int_equal(fs_events_wait(b, 1000), 1);
    assert_int_equal(fs_events_wait(a, 50), 0);
    fs_events_unsubscribe(a);
    fs_events_unsubscribe(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_notify_wakes_the_booking_it_names),
        cmocka_unit_test(test_a_notify_of_another_booking_does_not_wake),
        cmocka_unit_test(test_a_notify_before_the_wait_is_not_lost),
        cmocka_unit_test(test_streams_are_bounded_per_user_and_in_total),
        cmocka_unit_test(test_a_notify_from_another_thread_wakes_a_waiting_stream),
        cmocka_unit_test(test_a_notify_is_relayed_for_the_other_daemons_and_a_wake_is_not),
        cmocka_unit_test(test_wake_all_wakes_every_stream_once),
        cmocka_unit_test(test_shutdown_ends_every_wait),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
