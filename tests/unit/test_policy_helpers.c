/*
 * test_policy_helpers.c - the C helpers behind the policies' `fs` table:
 * windowed counters (counts, expiry, sliding weight, eviction bound,
 * concurrency) and the IPv4/IPv6 CIDR matcher.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy_helpers.h"

#define MIN 60000  /* a one-minute window, in ms */
#define T0 1200000 /* an arbitrary monotonic start, on a window boundary */

static int64_t hit(struct fs_counters *c, const char *key, int64_t now)
{
    return fs_counters_hit(c, key, strlen(key), MIN, now);
}

static void test_hits_within_one_window_are_counted_exactly(void **state)
{
    struct fs_counters *c = fs_counters_new(1024);
    (void)state;
    for (int i = 1; i <= 21; i++)
        assert_int_equal(hit(c, "u:launch:alice", T0 + i * 100), i);
    assert_int_equal(fs_counters_peek(c, "u:launch:alice", 14, MIN, T0 + 2500), 21);
    assert_int_equal(hit(c, "u:launch:bob", T0 + 3000), 1);
    fs_counters_free(c);
}

static void test_same_key_over_two_windows_is_two_counters(void **state)
{
    struct fs_counters *c = fs_counters_new(1024);
    (void)state;
    assert_int_equal(fs_counters_hit(c, "k", 1, MIN, T0), 1);
    assert_int_equal(fs_counters_hit(c, "k", 1, 1000, T0), 1);
    assert_int_equal(fs_counters_hit(c, "k", 1, MIN, T0), 2);
    fs_counters_free(c);
}

static void test_counts_expire_after_the_window(void **state)
{
    struct fs_counters *c = fs_counters_new(1024);
    (void)state;
    for (int i = 0; i < 10; i++)
        hit(c, "k", T0 + i);
    /* Two whole windows later nothing of the burst remains. */
    assert_int_equal(fs_counters_peek(c, "k", 1, MIN, T0 + 2 * MIN), 0);
    assert_int_equal(hit(c, "k", T0 + 2 * MIN + 5), 1);
    fs_counters_free(c);
}

static void test_previous_window_counts_by_its_overlap(void **state)
{
    struct fs_counters *c = fs_counters_new(1024);
    (void)state;
    for (int i = 0; i < 20; i++)
        hit(c, "k", T0 + MIN - 100);  /* a burst at the end of a window */
    /* A quarter into the next window, three quarters of it still count. */
    assert_int_equal(fs_counters_peek(c, "k", 1, MIN, T0 + MIN + MIN / 4), 15);
    /* Just after the boundary, the whole burst still counts (rounded up):
     * the 21st attempt within a minute is seen as the 21st. */
    assert_int_equal(hit(c, "k", T0 + MIN + 1), 21);
    fs_counters_free(c);
}

static void test_unknown_key_peeks_zero_and_is_not_created(void **state)
{
    struct fs_counters *c = fs_counters_new(16);
    (void)state;
    assert_int_equal(fs_counters_peek(c, "nobody", 6, MIN, T0), 0);
    assert_int_equal(fs_counters_size(c), 0);
    fs_counters_free(c);
}

static void test_bad_keys_and_windows_are_refused(void **state)
{
    char long_key[FS_COUNTER_KEY_MAX + 2];
    struct fs_counters *c = fs_counters_new(16);
    (void)state;
    memset(long_key, 'k', sizeof(long_key));
    assert_int_equal(fs_counters_hit(c, long_key, sizeof(long_key), MIN, T0), -1);
    assert_int_equal(fs_counters_hit(c, "k", 1, 0, T0), -1);
    assert_int_equal(fs_counters_hit(c, "k", 1, FS_COUNTER_WINDOW_MAX_MS + 1, T0), -1);
    assert_int_equal(fs_counters_size(c), 0);
    fs_counters_free(c);
}

static void test_table_never_holds_more_than_its_capacity(void **state)
{
    struct fs_counters *c = fs_counters_new(100);
    char key[32];
    (void)state;
    hit(c, "first", T0);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(hit(c, key, T0 + 1), 1);
        assert_true(fs_counters_size(c) <= 100);
    }
    assert_int_equal(fs_counters_size(c), 100);
    /* The oldest key was evicted: it starts again from zero. */
    assert_int_equal(fs_counters_peek(c, "first", 5, MIN, T0 + 2), 0);
    /* The newest is intact. */
    assert_int_equal(hit(c, "key-9999", T0 + 2), 2);
    fs_counters_free(c);
}

static void test_a_full_shard_evicts_its_least_recent_key(void **state)
{
    struct fs_counters *c = fs_counters_new(1);  /* one shard of one */
    (void)state;
    hit(c, "a", T0);
    hit(c, "b", T0);  /* evicts a */
    assert_int_equal(fs_counters_peek(c, "a", 1, MIN, T0), 0);
    assert_int_equal(fs_counters_peek(c, "b", 1, MIN, T0), 1);
    fs_counters_free(c);
}

#define THREADS 4
#define HITS 20000

static void *hammer(void *arg)
{
    struct fs_counters *c = arg;
    for (int i = 0; i < HITS; i++)
        hit(c, "shared", T0 + 1);
    return NULL;
}

static void test_concurrent_hits_are_all_counted(void **state)
{
    struct fs_counters *c = fs_counters_new(1024);
    pthread_t t[THREADS];
    (void)state;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, c), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(fs_counters_peek(c, "shared", 6, MIN, T0 + 2), THREADS * HITS);
    fs_counters_free(c);
}

/* ---- addresses ---------------------------------------------------------- */

static int in(const char *cidr, const char *ip)
{
    struct fs_cidr c;
    assert_int_equal(fs_cidr_parse(cidr, &c), 0);
    return fs_cidr_contains(&c, ip);
}

static void test_ipv4_cidrs_match_their_network_only(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.200.3.4"));
    assert_false(in("10.0.0.0/8", "11.0.0.1"));
    assert_true(in("192.168.1.0/24", "192.168.1.255"));
    assert_false(in("192.168.1.0/24", "192.168.2.0"));
    assert_true(in("203.0.113.9", "203.0.113.9"));   /* a bare address: /32 */
    assert_false(in("203.0.113.9", "203.0.113.8"));
    assert_true(in("0.0.0.0/0", "8.8.8.8"));
    assert_true(in("10.1.2.3/8", "10.9.9.9"));        /* host bits ignored */
    assert_false(in("10.0.0.0/8", "not an ip"));
    assert_false(in("10.0.0.0/8", "::1"));
}

static void test_ipv6_cidrs_match_their_network_only(void **state)
{
    (void)state;
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/32", "2001:db9::1"));
    assert_true(in("::1", "::1"));
    assert_true(in("2001:db8:1:2::/64", "2001:db8:1:2:aaaa::9"));
    assert_false(in("2001:db8:1:2::/64", "2001:db8:1:3::9"));
    assert_true(in("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(in("2001:db8::/33", "2001:db8:8000::1"));
    assert_false(in("::/0", "1.2.3.4"));
}

static void test_ipv4_mapped_ipv6_counts_as_ipv4(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_true(in("::ffff:10.0.0.0/104", "10.3.3.3"));
}

static void test_bad_cidrs_are_refused(void **state)
{
    struct fs_cidr c;
    static const char *const bad[] = {"", "/8", "10.0.0.0/33", "10.0.0.0/",
                                      "10.0.0.0/x", "::/129", "1.2.3", "a/8",
                                      "10.0.0.0/-1"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (fs_cidr_parse(bad[i], &c) == 0)
            fail_msg("accepted '%s'", bad[i]);
}

static void test_prefix_names_the_network(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(fs_ip_prefix("203.0.113.77", 24, 64, out, sizeof(out)), 0);
    assert_string_equal(out, "203.0.113.0/24");
    assert_int_equal(fs_ip_prefix("2001:db8:1:2:3:4:5:6", 24, 64, out, sizeof(out)), 0);
    assert_string_equal(out, "2001:db8:1:2::/64");
    assert_int_equal(fs_ip_prefix("::ffff:198.51.100.7", 16, 64, out, sizeof(out)), 0);
    assert_string_equal(out, "198.51.0.0/16");
    assert_int_equal(fs_ip_prefix("nonsense", 24, 64, out, sizeof(out)), -1);
    assert_int_equal(fs_ip_prefix("1.2.3.4", 33, 64, out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_within_one_window_are_counted_exactly),
        cmocka_unit_test(test_same_key_over_two_windows_is_two_counters),
        cmocka_unit_test(test_counts_expire_after_the_window),
        cmocka_unit_test(test_previous_window_counts_by_its_overlap),
        cmocka_unit_test(test_unknown_key_peeks_zero_and_is_not_created),
        cmocka_unit_test(test_bad_keys_and_windows_are_refused),
        cmocka_unit_test(test_table_never_holds_more_than_its_capacity),
        cmocka_unit_test(test_a_full_shard_evicts_its_least_recent_key),
        cmocka_unit_test(test_concurrent_hits_are_all_counted),
        cmocka_unit_test(test_ipv4_cidrs_match_their_network_only),
        cmocka_unit_test(test_ipv6_cidrs_match_their_network_only),
        cmocka_unit_test(test_ipv4_mapped_ipv6_counts_as_ipv4),
        cmocka_unit_test(test_bad_cidrs_are_refused),
        cmocka_unit_test(test_prefix_names_the_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
