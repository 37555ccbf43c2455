/*
 * test_jwks_fetch.c - src/jwks_fetch.c: auth.jwks_file read at start and
 * again when it changes, a broken rewrite that keeps the keys read before,
 * an unreachable auth.jwks_url counted as stale, and refreshes asked for by
 * unknown kids bounded by jwks_min_interval_s. (The URL against a real
 * HTTPS server: tests/e2e/test_auth_jwks.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "hang_bound.h"
#include "jwk_fixture.h"
#include "jwks_fetch.h"
#include "metrics.h"

static EVP_PKEY *key1, *key2;
static char dir[] = "/tmp/fs-jwks-XXXXXX";
static char path[256];
static char err[512];

static int setup(void **state)
{
    (void)state;
    fs_metrics_init();
    key1 = fx_key_new(FS_JWT_ES256, 0);
    key2 = fx_key_new(FS_JWT_EDDSA, 0);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/jwks.json", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key1);
    EVP_PKEY_free(key2);
    unlink(path);
    rmdir(dir);
    return 0;
}

static void write_set(EVP_PKEY *key, unsigned alg, const char *kid)
{
    char *jwk = fx_jwk(key, alg, kid, NULL);
    char *doc = fx_jwks(1, &jwk);
    fx_write_file(path, doc);
    free(doc);
    free(jwk);
}

static int has_key(struct fs_jwks_source *src, const char *kid)
{
    struct fs_jwks *hold = NULL;
    const struct fs_jwk *k = fs_jwks_source_find(src, kid, strlen(kid), &hold);
    if (k != NULL)
        assert_non_null(hold);
    fs_jwks_unref(hold);
    return k != NULL;
}

/* The value of one sample line of /metrics, such as
 * flashsaled_jwks_stale or flashsaled_jwks_refresh_total{...}. */
static long long metric(const char *sample)
{
    size_t len;
    char *text = fs_metrics_render(&len);
    char *line = text;
    long long v = -1;

    assert_non_null(text);
    while ((line = strstr(line, sample)) != NULL) {
        if ((line == text || line[-1] == '\n') && line[strlen(sample)] == ' ') {
            v = strtoll(line + strlen(sample) + 1, NULL, 10);
            break;
        }
        line++;
    }
    free(text);
    return v;
}

#define FILE_OK "flashsaled_jwks_refresh_total{source=\"file\",result=\"ok\"}"
#define FILE_FAILED \
    "flashsaled_jwks_refresh_total{source=\"file\",result=\"failed\"}"
#define URL_OK "flashsaled_jwks_refresh_total{source=\"url\",result=\"ok\"}"
#define URL_FAILED \
    "flashsaled_jwks_refresh_total{source=\"url\",result=\"failed\"}"

static struct fs_jwks_source *file_source(void)
{
    const struct fs_jwks_source_config cfg = {
        .file = path, .refresh_s = 300, .min_interval_s = 1,
        .file_poll_ms = 20};
    err[0] = '\0';
    return fs_jwks_source_create(&cfg, err, sizeof(err));
}

static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void test_file_is_read_at_create_and_again_when_it_changes(void **state)
{
    (void)state;
    write_set(key1, FS_JWT_ES256, "first");
    struct fs_jwks_source *src = file_source();
    assert_non_null(src);
    assert_true(has_key(src, "first"));
    assert_false(has_key(src, "second"));
    assert_int_equal(fs_jwks_source_start(src), 0);

    write_set(key2, FS_JWT_EDDSA, "second");
    int64_t deadline = fs_test_now_ms() + fs_test_hang_bound_ms(10000);
    while (!has_key(src, "second") && fs_test_now_ms() < deadline)
        pause_ms(10);
    assert_true(has_key(src, "second"));
    /* The new file replaces the old set: its keys are gone. */
    assert_false(has_key(src, "first"));
    assert_true(metric(FILE_OK) >= 1);
    fs_jwks_source_free(src);
}

static void test_a_broken_rewrite_keeps_the_keys_read_before(void **state)
{
    (void)state;
    write_set(key1, FS_JWT_ES256, "kept");
    struct fs_jwks_source *src = file_source();
    assert_non_null(src);
    assert_int_equal(fs_jwks_source_start(src), 0);
    long long failed = metric(FILE_FAILED);

    fx_write_file(path, "{\"keys\": [ not json");
    int64_t deadline = fs_test_now_ms() + fs_test_hang_bound_ms(10000);
    while (metric(FILE_FAILED) == failed && fs_test_now_ms() < deadline)
        pause_ms(10);
    assert_int_equal(metric(FILE_FAILED), failed + 1);
    assert_true(has_key(src, "kept"));
    fs_jwks_source_free(src);
}

static void test_a_bad_file_fails_create_with_the_reason(void **state)
{
    (void)state;
    fx_write_file(path, "{\"keys\":[]}");
    assert_null(file_source());
    assert_non_null(strstr(err, "auth.jwks_file"));
    assert_non_null(strstr(err, "no usable key"));
    unlink(path);
    assert_null(file_source());
    assert_non_null(strstr(err, "cannot read"));
}

/* Port 1 on the loopback: nothing listens there, the connection is
 * refused at once. */
static struct fs_jwks_source *unreachable_url_source(void)
{
    const struct fs_jwks_source_config cfg = {
        .url = "https://127.0.0.1:1/jwks.json", .refresh_s = 300,
        .min_interval_s = 1};
    err[0] = '\0';
    return fs_jwks_source_create(&cfg, err, sizeof(err));
}

static void test_an_unreachable_url_starts_empty_and_is_counted_stale(void **state)
{
    (void)state;
    long long failed = metric(URL_FAILED);
    struct fs_jwks_source *src = unreachable_url_source();

    assert_non_null(src);
    assert_false(has_key(src, "any"));
    assert_int_equal(metric(URL_FAILED), failed + 1);
    assert_int_equal(metric("flashsaled_jwks_stale"), 1);
    fs_jwks_source_free(src);
}

/* However many requests name unknown kids, the URL is fetched at most once
 * per jwks_min_interval_s (1 s here). Only an upper bound is asserted: a
 * slow machine makes fewer attempts, never more. */
static void test_unknown_kids_refresh_at_most_once_per_interval(void **state)
{
    (void)state;
    struct fs_jwks_source *src = unreachable_url_source();
    assert_non_null(src);
    long long before = metric(URL_FAILED);
    int64_t start = fs_test_now_ms();
    assert_int_equal(fs_jwks_source_start(src), 0);

    while (fs_test_now_ms() - start < 2500) {
        for (int i = 0; i < 100; i++)
            fs_jwks_source_unknown_kid(src);
        pause_ms(5);
    }
    fs_jwks_source_free(src);
    long long attempts = metric(URL_FAILED) - before;
    int64_t elapsed_s = (fs_test_now_ms() - start) / 1000;
    assert_true(attempts >= 1);
    if (attempts > elapsed_s + 1)
        fail_msg("%lld fetches in %lld s with a 1 s minimum interval",
                 attempts, (long long)elapsed_s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_is_read_at_create_and_again_when_it_changes),
        cmocka_unit_test(test_a_broken_rewrite_keeps_the_keys_read_before),
        cmocka_unit_test(test_a_bad_file_fails_create_with_the_reason),
        cmocka_unit_test(test_an_unreachable_url_starts_empty_and_is_counted_stale),
        cmocka_unit_test(test_unknown_kids_refresh_at_most_once_per_interval),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
