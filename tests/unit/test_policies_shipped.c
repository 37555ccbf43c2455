/*
 * test_policies_shipped.c - the policies in policies/ as shipped, loaded
 * together from the source tree and fed fake requests: bot detection by
 * agent and address, the per-user limit, the hold duration, and their
 * settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "policy.h"

#ifndef FS_POLICIES_SRCDIR
#define FS_POLICIES_SRCDIR "policies"
#endif

static const struct fs_policy_limits LIMITS = {1000000, 4 * 1024 * 1024};

static int teardown(void **state)
{
    (void)state;
    fs_policy_thread_release();
    fs_policy_shutdown();  /* fresh counters for the next test */
    return 0;
}

static void publish(const struct fs_config_kv *kv, size_t n)
{
    struct fs_policy_set *set = NULL;
    char err[1024] = "";
    fs_log_set_level(FS_LOG_ERROR);
    if (fs_policy_set_load(FS_POLICIES_SRCDIR, kv, n, &LIMITS, &set, err,
                           sizeof(err)) != 0)
        fail_msg("shipped policies do not load: %s", err);
    assert_int_equal(fs_policy_set_count(set), 3);
    fs_policy_publish(set);
}

struct req {
    const char *user, *ip, *ua, *sale, *xff;
};

static struct fs_policy_verdict book(struct req q)
{
    struct fs_policy_header h[2];
    size_t n = 0;
    struct fs_policy_request r = {
        .user = q.user ? q.user : "alice", .ip = q.ip ? q.ip : "198.51.100.7",
        .user_agent = q.ua, .sale = q.sale ? q.sale : "launch",
        .method = "POST", .path = "/booking-service/book-item/launch",
    };
    struct fs_policy_verdict v;
    if (q.ua)
        h[n++] = (struct fs_policy_header){"User-Agent", q.ua};
    if (q.xff)
        h[n++] = (struct fs_policy_header){"X-Forwarded-For", q.xff};
    r.headers = h;
    r.n_headers = n;
    fs_policy_check(FS_POLICY_ON_BOOK, &r, &v);
    if (v.action == FS_POLICY_ERROR)
        fail_msg("policy error: %s", v.error);
    return v;
}

#define BROWSER "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"

/* ---- bot_detection.lua ---------------------------------------------------------- */

static void test_bot_refuses_missing_and_empty_agents(void **state)
{
    (void)state;
    publish(NULL, 0);
    assert_int_equal(book((struct req){.ua = NULL}).action, FS_POLICY_DENY);
    assert_int_equal(book((struct req){.ua = ""}).action, FS_POLICY_DENY);
    assert_int_equal(book((struct req){.ua = "   "}).action, FS_POLICY_DENY);
}

static void test_bot_refuses_scripting_libraries_and_headless_browsers(void **state)
{
    static const char *const bots[] = {
        "python-requests/2.31.0", "Python-urllib/3.11", "Go-http-client/1.1",
        "Scrapy/2.11 (+https://scrapy.org)", "aiohttp/3.9",
        "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Unknown; Linux x86_64) PhantomJS/2.1.1",
        "Java/17.0.2", "okhttp/4.12.0", "node-fetch/1.0", "libwww-perl/6.72"};
    (void)state;
    publish(NULL, 0);
    for (size_t i = 0; i < sizeof(bots) / sizeof(bots[0]); i++) {
        struct fs_policy_verdict v = book((struct req){.ua = bots[i]});
        if (v.action != FS_POLICY_DENY)
            fail_msg("'%s' was not refused", bots[i]);
        assert_string_equal(v.reason, "automated clients are not allowed");
    }
}

static void test_bot_allows_browsers_curl_and_wget(void **state)
{
    static const char *const people[] = {BROWSER, "curl/8.4.0", "Wget/1.21.3",
                                          "Mozilla/5.0 (iPhone) Mobile Safari"};
    (void)state;
    publish(NULL, 0);
    for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++)
        if (book((struct req){.ua = people[i]}).action != FS_POLICY_ALLOW)
            fail_msg("'%s' was refused", people[i]);
}

static void test_bot_agent_lists_are_settings(void **state)
{
    static const struct fs_config_kv kv[] = {
        {"bot_extra_agents", "evilbot, Grabber", 1},
        {"bot_allow_agents", "python-requests/2.31.0-partner", 2},
        {"bot_block_empty_agent", "false", 3}};
    (void)state;
    publish(kv, 3);
    assert_int_equal(book((struct req){.ua = "EvilBot/1"}).action, FS_POLICY_DENY);
    assert_int_equal(book((struct req){.ua = "grabber"}).action, FS_POLICY_DENY);
    assert_int_equal(book((struct req){.ua = "python-requests/2.31.0-partner"}).action,
                     FS_POLICY_ALLOW);
    assert_int_equal(book((struct req){.ua = "python-requests/2.31.0"}).action,
                     FS_POLICY_DENY);
    assert_int_equal(book((struct req){.ua = ""}).action, FS_POLICY_ALLOW);
}

static void test_bot_deny_and_allow_lists_take_cidrs(void **state)
{
    static const struct fs_config_kv kv[] = {
        {"bot_deny_cidrs", "203.0.113.0/24, 2001:db8:bad::/48", 1},
        {"bot_allow_cidrs", "192.0.2.0/24", 2}};
    (void)state;
    publish(kv, 2);
    struct fs_policy_verdict v = book((struct req){.ip = "203.0.113.50", .ua = BROWSER});
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_int_equal(book((struct req){.ip = "2001:db8:bad:1::5", .ua = BROWSER}).action,
                     FS_POLICY_DENY);
    /* An allowed network skips the agent checks too. */
    assert_int_equal(book((struct req){.ip = "192.0.2.9", .ua = "python-requests/2"}).action,
                     FS_POLICY_ALLOW);
    assert_int_equal(book((struct req){.ip = "198.51.100.1", .ua = BROWSER}).action,
                     FS_POLICY_ALLOW);
}

static void test_bot_slows_down_one_busy_address(void **state)
{
    static const struct fs_config_kv kv[] = {{"bot_ip_limit", "5", 1}};
    char user[16];
    (void)state;
    publish(kv, 1);
    /* Distinct users behind one address: the first five pass. */
    for (int i = 0; i < 5; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        assert_int_equal(book((struct req){.user = user, .ip = "198.51.100.7",
                                           .ua = BROWSER}).action,
                         FS_POLICY_ALLOW);
    }
    struct fs_policy_verdict v = book((struct req){.user = "u5", .ip = "198.51.100.7",
                                                   .ua = BROWSER});
    assert_int_equal(v.action, FS_POLICY_SLOW);
    assert_int_equal(v.retry_after, 60);
    /* A neighbour address is not affected, nor is loopback ever limited. */
    assert_int_equal(book((struct req){.user = "u6", .ip = "198.51.100.8",
                                       .ua = BROWSER}).action, FS_POLICY_ALLOW);
    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof(user), "l%d", i);
        assert_int_equal(book((struct req){.user = user, .ip = "127.0.0.1",
                                           .ua = BROWSER}).action,
                         FS_POLICY_ALLOW);
    }
}

static void test_bot_slows_down_a_busy_network(void **state)
{
    static const struct fs_config_kv kv[] = {{"bot_net_limit", "3", 1}};
    char user[16], ip[32];
    (void)state;
    publish(kv, 1);
    for (int i = 0; i < 3; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        snprintf(ip, sizeof(ip), "2001:db8:1:2::%d", i + 1);
        assert_int_equal(book((struct req){.user = user, .ip = ip, .ua = BROWSER}).action,
                         FS_POLICY_ALLOW);
    }
    /* Another address of the same /64. */
    assert_int_equal(book((struct req){.user = "u9", .ip = "2001:db8:1:2::ff",
                                       .ua = BROWSER}).action, FS_POLICY_SLOW);
    assert_int_equal(book((struct req){.user = "u9", .ip = "2001:db8:1:3::1",
                                       .ua = BROWSER}).action, FS_POLICY_ALLOW);
}

static void test_bot_ignores_forwarded_for_unless_the_proxy_is_trusted(void **state)
{
    static const struct fs_config_kv plain[] = {
        {"bot_deny_cidrs", "203.0.113.0/24", 1}};
    static const struct fs_config_kv trusted[] = {
        {"bot_deny_cidrs", "203.0.113.0/24", 1},
        {"bot_trusted_proxies", "10.0.0.0/8", 2}};
    (void)state;
    publish(plain, 1);
    /* A client cannot claim another address... */
    assert_int_equal(book((struct req){.ip = "198.51.100.7", .ua = BROWSER,
                                       .xff = "203.0.113.5"}).action,
                     FS_POLICY_ALLOW);
    /* ...but behind a trusted proxy, the right-most untrusted hop counts. */
    publish(trusted, 2);
    assert_int_equal(book((struct req){.ip = "10.1.1.1", .ua = BROWSER,
                                       .xff = "1.1.1.1, 203.0.113.5, 10.2.2.2"}).action,
                     FS_POLICY_DENY);
    assert_int_equal(book((struct req){.ip = "10.1.1.1", .ua = BROWSER,
                                       .xff = "203.0.113.5, 198.51.100.9"}).action,
                     FS_POLICY_ALLOW);
}

/* ---- per_user_limit.lua --------------------------------------------------------- */

static void test_per_user_21st_attempt_in_a_minute_is_slowed_down(void **state)
{
    (void)state;
    publish(NULL, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(book((struct req){.ua = BROWSER}).action, FS_POLICY_ALLOW);
    struct fs_policy_verdict v = book((struct req){.ua = BROWSER});
    assert_int_equal(v.action, FS_POLICY_SLOW);
    assert_int_equal(v.retry_after, 60);
    /* Another user, and the same user on another sale, are not affected. */
    assert_int_equal(book((struct req){.user = "bob", .ua = BROWSER}).action,
                     FS_POLICY_ALLOW);
    assert_int_equal(book((struct req){.sale = "other", .ua = BROWSER}).action,
                     FS_POLICY_ALLOW);
}

static void test_per_user_limit_and_window_are_settings(void **state)
{
    static const struct fs_config_kv kv[] = {{"user_attempts_max", "2", 1},
                                             {"user_window_seconds", "10", 2}};
    (void)state;
    publish(kv, 2);
    assert_int_equal(book((struct req){.ua = BROWSER}).action, FS_POLICY_ALLOW);
    assert_int_equal(book((struct req){.ua = BROWSER}).action, FS_POLICY_ALLOW);
    struct fs_policy_verdict v = book((struct req){.ua = BROWSER});
    assert_int_equal(v.action, FS_POLICY_SLOW);
    assert_int_equal(v.retry_after, 10);
}

static void test_per_user_cooldown_after_cancel(void **state)
{
    static const struct fs_config_kv kv[] = {{"user_cancel_cooldown_seconds", "30", 1}};
    struct fs_policy_request r = {.user = "alice", .ip = "198.51.100.7",
                                  .user_agent = BROWSER, .sale = "launch"};
    struct fs_policy_verdict v;
    (void)state;
    publish(kv, 1);
    assert_int_equal(book((struct req){.ua = BROWSER}).action, FS_POLICY_ALLOW);
    fs_policy_check(FS_POLICY_ON_CANCEL, &r, &v);
    assert_int_equal(v.action, FS_POLICY_ALLOW);
    v = book((struct req){.ua = BROWSER});
    assert_int_equal(v.action, FS_POLICY_SLOW);
    assert_int_equal(v.retry_after, 30);
    assert_int_equal(book((struct req){.user = "bob", .ua = BROWSER}).action,
                     FS_POLICY_ALLOW);
}

static void test_per_user_rejects_a_bad_setting_at_load(void **state)
{
    static const struct fs_config_kv kv[] = {{"user_attempts_max", "many", 1}};
    struct fs_policy_set *set = NULL;
    char err[512] = "";
    (void)state;
    assert_int_equal(fs_policy_set_load(FS_POLICIES_SRCDIR, kv, 1, &LIMITS, &set,
                                        err, sizeof(err)), -1);
    assert_non_null(strstr(err, "per_user_limit.lua:"));
    assert_non_null(strstr(err, "user_attempts_max"));
}

/* ---- hold_duration.lua ---------------------------------------------------------- */

static uint32_t hold_for(const char *user, const char *sale)
{
    struct fs_policy_request r = {.user = user, .ip = "198.51.100.7",
                                  .user_agent = BROWSER, .sale = sale};
    struct fs_policy_verdict v;
    uint32_t secs = 12345;
    assert_int_equal(fs_policy_hold_seconds(&r, &secs, &v), 0);
    return secs;
}

static void test_hold_defaults_to_the_sales_own(void **state)
{
    (void)state;
    publish(NULL, 0);
    assert_int_equal(hold_for("alice", "launch"), 0);
}

static void test_hold_per_sale_and_per_group(void **state)
{
    static const struct fs_config_kv kv[] = {
        {"hold_seconds_launch", "120", 1},
        {"hold_group_vip", "alice, carol", 2},
        {"hold_group_vip_seconds", "600", 3}};
    (void)state;
    publish(kv, 3);
    assert_int_equal(hold_for("bob", "launch"), 120);
    assert_int_equal(hold_for("alice", "launch"), 600);   /* the group wins */
    assert_int_equal(hold_for("carol", "other"), 600);
    assert_int_equal(hold_for("bob", "other"), 0);
}

static void test_hold_group_without_seconds_is_refused_at_load(void **state)
{
    static const struct fs_config_kv kv[] = {{"hold_group_vip", "alice", 1}};
    struct fs_policy_set *set = NULL;
    char err[512] = "";
    (void)state;
    assert_int_equal(fs_policy_set_load(FS_POLICIES_SRCDIR, kv, 1, &LIMITS, &set,
                                        err, sizeof(err)), -1);
    assert_non_null(strstr(err, "hold_duration.lua:"));
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_bot_refuses_missing_and_empty_agents),
        T(test_bot_refuses_scripting_libraries_and_headless_browsers),
        T(test_bot_allows_browsers_curl_and_wget),
        T(test_bot_agent_lists_are_settings),
        T(test_bot_deny_and_allow_lists_take_cidrs),
        T(test_bot_slows_down_one_busy_address),
        T(test_bot_slows_down_a_busy_network),
        T(test_bot_ignores_forwarded_for_unless_the_proxy_is_trusted),
        T(test_per_user_21st_attempt_in_a_minute_is_slowed_down),
        T(test_per_user_limit_and_window_are_settings),
        T(test_per_user_cooldown_after_cancel),
        T(test_per_user_rejects_a_bad_setting_at_load),
        T(test_hold_defaults_to_the_sales_own),
        T(test_hold_per_sale_and_per_group),
        T(test_hold_group_without_seconds_is_refused_at_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
