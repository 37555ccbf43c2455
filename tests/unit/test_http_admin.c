/*
 * test_http_admin.c - what the admin page relies on below HTTP: the token
 * check of src/http_admin.c (Bearer, or the password of Basic) and the
 * metrics readers of src/metrics.c (quantiles from a histogram, per-sale
 * expired and rejected counts, exact under concurrency), and how
 * src/health.c keeps credentials out of a backend's detail, which both the
 * admin page and the public /readyz show.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"
#include "http/http_admin.h"
#include "metrics.h"

#define TOKEN "s3cret-admin-token-0123"
/* base64("admin:" TOKEN), base64("anyone:" TOKEN), base64(":" TOKEN) */
#define BASIC_ADMIN "YWRtaW46czNjcmV0LWFkbWluLXRva2VuLTAxMjM="
#define BASIC_ANYONE "YW55b25lOnMzY3JldC1hZG1pbi10b2tlbi0wMTIz"
#define BASIC_NO_USER "OnMzY3JldC1hZG1pbi10b2tlbi0wMTIz"

static int reset(void **state)
{
    (void)state;
    fs_metrics_init();
    return 0;
}

static void test_bearer_with_the_token_is_authorized(void **state)
{
    (void)state;
    assert_true(fs_http_admin_authorized("Bearer " TOKEN, TOKEN));
    assert_true(fs_http_admin_authorized("bearer " TOKEN, TOKEN));
    assert_true(fs_http_admin_authorized("  Bearer   " TOKEN "  ", TOKEN));
}

static void test_basic_password_is_the_token_whatever_the_user(void **state)
{
    (void)state;
    assert_true(fs_http_admin_authorized("Basic " BASIC_ADMIN, TOKEN));
    assert_true(fs_http_admin_authorized("Basic " BASIC_ANYONE, TOKEN));
    assert_true(fs_http_admin_authorized("basic " BASIC_NO_USER, TOKEN));
}

static void test_anything_else_is_refused(void **state)
{
    (void)state;
    assert_false(fs_http_admin_authorized(NULL, TOKEN));
    assert_false(fs_http_admin_authorized("", TOKEN));
    assert_false(fs_http_admin_authorized(TOKEN, TOKEN));
    assert_false(fs_http_admin_authorized("Bearer", TOKEN));
    assert_false(fs_http_admin_authorized("Bearer ", TOKEN));
    assert_false(fs_http_admin_authorized("Bearer " TOKEN "x", TOKEN));
    assert_false(fs_http_admin_authorized("Bearer s3cret-admin-token-012", TOKEN));
    assert_false(fs_http_admin_authorized("Bearer S3cret-admin-token-0123", TOKEN));
    assert_false(fs_http_admin_authorized("Bearer " TOKEN " extra", TOKEN));
    assert_false(fs_http_admin_authorized("Token " TOKEN, TOKEN));
    /* base64(TOKEN): no colon, so no password */
    assert_false(fs_http_admin_authorized(
        "Basic czNjcmV0LWFkbWluLXRva2VuLTAxMjM=", TOKEN));
    /* base64(TOKEN ":"): the token as user name, empty password */
    assert_false(fs_http_admin_authorized(
        "Basic czNjcmV0LWFkbWluLXRva2VuLTAxMjM6", TOKEN));
    assert_false(fs_http_admin_authorized("Basic !!!!", TOKEN));
    assert_false(fs_http_admin_authorized("Basic ", TOKEN));
    /* no token configured: nothing opens */
    assert_false(fs_http_admin_authorized("Bearer ", ""));
    assert_false(fs_http_admin_authorized("Bearer x", NULL));
}

static void test_overlong_basic_credentials_are_refused_not_overflowed(void **state)
{
    char header[4096] = "Basic ";
    (void)state;
    memset(header + 6, 'Q', sizeof(header) - 7);
    header[sizeof(header) - 1] = '\0';
    assert_false(fs_http_admin_authorized(header, TOKEN));
}

static void test_quantile_interpolates_inside_the_bucket(void **state)
{
    uint64_t counts[FS_METRICS_BUCKETS] = {0};
    (void)state;
    assert_true(fs_metrics_quantile(counts, 0.5) < 0);  /* nothing observed */
    /* 0.001 .. 0.0025: 100 observations in the third bucket */
    counts[2] = 100;
    assert_float_equal(fs_metrics_quantile(counts, 0.5), 0.00175, 1e-9);
    assert_float_equal(fs_metrics_quantile(counts, 0.99), 0.002485, 1e-9);
    /* beyond the last bound, only "more than 5 s" is known */
    memset(counts, 0, sizeof(counts));
    counts[FS_METRICS_BUCKETS - 1] = 3;
    assert_float_equal(fs_metrics_quantile(counts, 0.5), 5.0, 1e-9);
}

static void test_histogram_reader_sees_observations(void **state)
{
    uint64_t counts[FS_METRICS_BUCKETS];
    (void)state;
    fs_metrics_observe(FS_HIST_ACCEPT, 0.0004);
    fs_metrics_observe(FS_HIST_ACCEPT, 0.003);
    fs_metrics_observe(FS_HIST_ACCEPT, 0.003);
    fs_metrics_histogram(FS_HIST_ACCEPT, counts);
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[3], 2);
    fs_metrics_histogram(FS_HIST_RESERVE, counts);
    assert_int_equal(counts[3], 0);
}

static void test_sales_are_counted_apart(void **state)
{
    struct fs_metrics_sale a, b, none;
    (void)state;
    fs_metrics_sale_expired("launch");
    fs_metrics_sale_expired("launch");
    fs_metrics_sale_rejected("launch", "sold_out");
    fs_metrics_sale_rejected("other-sale", "duplicate");
    fs_metrics_sale_rejected("other-sale", "no-such-reason");
    fs_metrics_sale_get("launch", &a);
    fs_metrics_sale_get("other-sale", &b);
    fs_metrics_sale_get("never-seen", &none);
    assert_int_equal(a.expired, 2);
    assert_int_equal(a.rejected[0], 1);
    assert_string_equal(fs_metrics_reason_name(0), "sold_out");
    assert_int_equal(b.expired, 0);
    assert_int_equal(b.rejected[1], 1);  /* duplicate */
    assert_int_equal(b.rejected[FS_METRICS_REASONS - 1], 1);  /* other */
    assert_string_equal(fs_metrics_reason_name(FS_METRICS_REASONS - 1), "other");
    assert_int_equal(none.expired, 0);
}

static void test_bad_sale_ids_are_ignored(void **state)
{
    char long_id[100];
    struct fs_metrics_sale m;
    (void)state;
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    fs_metrics_sale_expired(NULL);
    fs_metrics_sale_expired("");
    fs_metrics_sale_expired(long_id);
    fs_metrics_sale_get(long_id, &m);
    assert_int_equal(m.expired, 0);
}

static void test_a_full_sale_table_still_counts_the_sales_it_holds(void **state)
{
    char id[32];
    struct fs_metrics_sale m;
    (void)state;
    for (int i = 0; i < FS_METRICS_SALES_MAX + 10; i++) {
        snprintf(id, sizeof(id), "sale-%d", i);
        fs_metrics_sale_expired(id);
    }
    fs_metrics_sale_get("sale-0", &m);
    assert_int_equal(m.expired, 1);
    snprintf(id, sizeof(id), "sale-%d", FS_METRICS_SALES_MAX - 1);
    fs_metrics_sale_get(id, &m);
    assert_int_equal(m.expired, 1);
    snprintf(id, sizeof(id), "sale-%d", FS_METRICS_SALES_MAX + 5);
    fs_metrics_sale_get(id, &m);
    assert_int_equal(m.expired, 0);  /* no room: totals only */
}

#define THREADS 4
#define ROUNDS (64 * 320)  /* a whole number of rounds over the 64 ids */
static pthread_barrier_t start_line;

static void *count_sales(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < ROUNDS; i++) {
        /* every thread races to claim the same new slots */
        char id[16];
        snprintf(id, sizeof(id), "s%d", i % 64);
        fs_metrics_sale_expired(id);
    }
    return NULL;
}

static void test_concurrent_counting_per_sale_loses_nothing(void **state)
{
    pthread_t t[THREADS];
    uint64_t total = 0;
    (void)state;
    pthread_barrier_init(&start_line, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_sales, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < 64; i++) {
        char id[16];
        struct fs_metrics_sale m;
        snprintf(id, sizeof(id), "s%d", i);
        fs_metrics_sale_get(id, &m);
        assert_int_equal(m.expired, (uint64_t)THREADS * ROUNDS / 64);
        total += m.expired;
    }
    assert_int_equal(total, (uint64_t)THREADS * ROUNDS);
}

static void test_credentials_in_a_backend_detail_are_hidden(void **state)
{
    char out[128];

    (void)state;
    fs_health_scrub_userinfo("amqp://guest:s3cret@10.0.0.1:5672/%2f: connect "
                             "refused; mongodb://u:p@db/x too", out, sizeof(out));
    assert_string_equal(out, "amqp://***@10.0.0.1:5672/%2f: connect refused; "
                             "mongodb://***@db/x too");
    fs_health_scrub_userinfo("redis://127.0.0.1:6379: timeout", out, sizeof(out));
    assert_string_equal(out, "redis://127.0.0.1:6379: timeout");
    fs_health_scrub_userinfo("amqp://user:password@host", out, 12);
    assert_int_equal(strlen(out), 11);
    assert_null(strstr(out, "pass"));
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_bearer_with_the_token_is_authorized),
        T(test_basic_password_is_the_token_whatever_the_user),
        T(test_anything_else_is_refused),
        T(test_overlong_basic_credentials_are_refused_not_overflowed),
        T(test_quantile_interpolates_inside_the_bucket),
        T(test_histogram_reader_sees_observations),
        T(test_sales_are_counted_apart),
        T(test_bad_sale_ids_are_ignored),
        T(test_a_full_sale_table_still_counts_the_sales_it_holds),
        T(test_concurrent_counting_per_sale_loses_nothing),
        T(test_credentials_in_a_backend_detail_are_hidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
