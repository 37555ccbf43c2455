/*
 * test_metrics.c - the counters of src/metrics.c: exact under concurrency,
 * safe with out-of-range input, and rendered as valid Prometheus text.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "metrics.h"

#define THREADS 4
#define ROUNDS 100000

/* Counting threads start together, so that they really contend. */
static pthread_barrier_t start_line;

static int reset(void **state)
{
    (void)state;
    fs_metrics_init();
    return 0;
}

static char *render(void)
{
    size_t len = 0;
    char *text = fs_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    return text;
}

/* 1 if `text` has `line` as one whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static void assert_has_line(const char *text, const char *line)
{
    if (!has_line(text, line))
        fail_msg("missing line '%s' in:\n%s", line, text);
}

/* ---- counting ------------------------------------------------------------ */

static void test_init_zeroes_every_counter(void **state)
{
    (void)state;
    fs_metrics_request(FS_ROUTE_BOOK, 202);
    fs_metrics_booking(FS_STATE_HOLD);
    fs_metrics_init();
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_BOOK, 202), 0);
    assert_int_equal(fs_metrics_booking_count(FS_STATE_HOLD), 0);
}

static void test_requests_are_counted_per_route_and_status(void **state)
{
    (void)state;
    fs_metrics_request(FS_ROUTE_BOOK, 202);
    fs_metrics_request(FS_ROUTE_BOOK, 202);
    fs_metrics_request(FS_ROUTE_BOOK, 409);
    fs_metrics_request(FS_ROUTE_SALE, 202);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_BOOK, 202), 2);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_BOOK, 409), 1);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_SALE, 202), 1);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_SALE, 409), 0);
}

static void test_status_bounds_100_and_599_are_kept_apart(void **state)
{
    (void)state;
    fs_metrics_request(FS_ROUTE_OTHER, 100);
    fs_metrics_request(FS_ROUTE_OTHER, 599);
    fs_metrics_request(FS_ROUTE_OTHER, 599);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_OTHER, 100), 1);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_OTHER, 599), 2);
    char *text = render();
    assert_has_line(text,
                    "flashsaled_http_requests_total{route=\"other\",code=\"100\"} 1");
    assert_has_line(text,
                    "flashsaled_http_requests_total{route=\"other\",code=\"599\"} 2");
    free(text);
}

static void test_out_of_range_status_is_counted_as_invalid(void **state)
{
    (void)state;
    const int bad[] = {0, 42, 99, 600, -1, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        fs_metrics_request(FS_ROUTE_BOOK, bad[i]);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_BOOK, 1000), 7);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_BOOK, 100), 0);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_BOOK, 599), 0);
    char *text = render();
    assert_has_line(text,
                    "flashsaled_http_requests_total{route=\"book\",code=\"invalid\"} 7");
    assert_null(strstr(text, "code=\"42\""));
    free(text);
}

static void test_out_of_range_route_is_counted_as_other(void **state)
{
    (void)state;
    fs_metrics_request((enum fs_route)99, 200);
    fs_metrics_request(FS_ROUTE_COUNT, 200);
    fs_metrics_request((enum fs_route)-1, 200);
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_OTHER, 200), 3);
    assert_string_equal(fs_route_name((enum fs_route)99), "other");
}

static void test_route_names_match_the_label_values(void **state)
{
    (void)state;
    static const char *const want[FS_ROUTE_COUNT] = {
        "book", "booking_get", "booking_put", "booking_delete",
        "booking_events", "sale", "healthz", "readyz", "metrics", "admin",
        "openapi", "other",
    };
    for (int r = 0; r < FS_ROUTE_COUNT; r++)
        assert_string_equal(fs_route_name((enum fs_route)r), want[r]);
}

static void test_bookings_are_counted_per_state(void **state)
{
    (void)state;
    fs_metrics_booking(FS_STATE_QUEUED);
    fs_metrics_booking(FS_STATE_QUEUED);
    fs_metrics_booking(FS_STATE_HOLD);
    fs_metrics_booking(FS_STATE_REJECTED);
    assert_int_equal(fs_metrics_booking_count(FS_STATE_QUEUED), 2);
    assert_int_equal(fs_metrics_booking_count(FS_STATE_HOLD), 1);
    assert_int_equal(fs_metrics_booking_count(FS_STATE_BOOKED), 0);
    char *text = render();
    assert_has_line(text, "flashsaled_bookings_total{state=\"queued\"} 2");
    assert_has_line(text, "flashsaled_bookings_total{state=\"hold\"} 1");
    assert_has_line(text, "flashsaled_bookings_total{state=\"booked\"} 0");
    assert_has_line(text, "flashsaled_bookings_total{state=\"rejected\"} 1");
    assert_null(strstr(text, "state=\"none\""));
    free(text);
}

static void test_out_of_range_state_is_counted_as_none(void **state)
{
    (void)state;
    fs_metrics_booking((enum fs_booking_state)42);
    fs_metrics_booking((enum fs_booking_state)-3);
    assert_int_equal(fs_metrics_booking_count(FS_STATE_NONE), 2);
    assert_int_equal(fs_metrics_booking_count((enum fs_booking_state)42), 2);
    char *text = render();
    assert_has_line(text, "flashsaled_bookings_total{state=\"none\"} 2");
    free(text);
}

static void test_rejections_are_counted_by_reason(void **state)
{
    (void)state;
    fs_metrics_rejected("sold_out");
    fs_metrics_rejected("sold_out");
    fs_metrics_rejected("duplicate");
    fs_metrics_rejected("policy");
    fs_metrics_rejected("closed");
    char *text = render();
    assert_has_line(text, "flashsaled_rejections_total{reason=\"sold_out\"} 2");
    assert_has_line(text, "flashsaled_rejections_total{reason=\"duplicate\"} 1");
    assert_has_line(text, "flashsaled_rejections_total{reason=\"policy\"} 1");
    assert_has_line(text, "flashsaled_rejections_total{reason=\"closed\"} 1");
    assert_has_line(text, "flashsaled_rejections_total{reason=\"other\"} 0");
    free(text);
}

static void test_unknown_rejection_reason_is_counted_as_other(void **state)
{
    (void)state;
    fs_metrics_rejected("bogus");
    fs_metrics_rejected(NULL);
    fs_metrics_rejected("");
    fs_metrics_rejected("sold_out_");
    char *text = render();
    assert_has_line(text, "flashsaled_rejections_total{reason=\"other\"} 4");
    assert_has_line(text, "flashsaled_rejections_total{reason=\"sold_out\"} 0");
    assert_null(strstr(text, "bogus"));
    free(text);
}

static void test_queue_depth_gauge_shows_the_last_value_set(void **state)
{
    (void)state;
    fs_metrics_set_queue_depth(17);
    fs_metrics_set_queue_depth(5);
    char *text = render();
    assert_has_line(text, "flashsaled_queue_depth 5");
    assert_has_line(text, "# TYPE flashsaled_queue_depth gauge");
    free(text);
}

static void test_start_time_is_the_time_of_init(void **state)
{
    (void)state;
    /* The same clock as the daemon's: time() may read a coarser clock that
     * lags CLOCK_REALTIME by a tick. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double before = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    fs_metrics_init();
    clock_gettime(CLOCK_REALTIME, &ts);
    double after = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    char *text = render();
    const char *p = strstr(text, "\nflashsaled_start_time_seconds ");
    assert_non_null(p);
    double t = strtod(p + strlen("\nflashsaled_start_time_seconds "), NULL);
    /* Rendered with millisecond resolution: allow the rounding. */
    assert_true(t >= before - 0.001 && t <= after + 0.001);
    free(text);
}

/* ---- histograms ---------------------------------------------------------- */

static void test_histogram_buckets_are_cumulative_with_sum_and_count(
    void **state)
{
    (void)state;
    fs_metrics_observe(FS_HIST_ACCEPT, 0.0005);  /* le is inclusive */
    fs_metrics_observe(FS_HIST_ACCEPT, 0.003);
    fs_metrics_observe(FS_HIST_ACCEPT, 0.2);
    fs_metrics_observe(FS_HIST_ACCEPT, 10);
    char *text = render();
    const char *lines[] = {
        "# TYPE flashsaled_accept_latency_seconds histogram",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.0005\"} 1",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.001\"} 1",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.0025\"} 1",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.005\"} 2",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.01\"} 2",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.025\"} 2",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.05\"} 2",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.1\"} 2",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.25\"} 3",
        "flashsaled_accept_latency_seconds_bucket{le=\"0.5\"} 3",
        "flashsaled_accept_latency_seconds_bucket{le=\"1\"} 3",
        "flashsaled_accept_latency_seconds_bucket{le=\"2.5\"} 3",
        "flashsaled_accept_latency_seconds_bucket{le=\"5\"} 3",
        "flashsaled_accept_latency_seconds_bucket{le=\"+Inf\"} 4",
        "flashsaled_accept_latency_seconds_sum 10.203500000",
        "flashsaled_accept_latency_seconds_count 4",
        "flashsaled_reserve_latency_seconds_bucket{le=\"+Inf\"} 0",
        "flashsaled_reserve_latency_seconds_sum 0.000000000",
        "flashsaled_reserve_latency_seconds_count 0",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_has_line(text, lines[i]);
    free(text);
}

static void test_histograms_are_kept_apart(void **state)
{
    (void)state;
    fs_metrics_observe(FS_HIST_RESERVE, 0.00001);
    fs_metrics_observe(FS_HIST_RESERVE, 0.00001);
    char *text = render();
    assert_has_line(text,
                    "flashsaled_reserve_latency_seconds_bucket{le=\"0.0005\"} 2");
    assert_has_line(text, "flashsaled_reserve_latency_seconds_sum 0.000020000");
    assert_has_line(text, "flashsaled_accept_latency_seconds_count 0");
    free(text);
}

static void test_negative_nan_and_bad_histogram_observations_are_safe(
    void **state)
{
    (void)state;
    fs_metrics_observe(FS_HIST_ACCEPT, -1.5);
    fs_metrics_observe(FS_HIST_ACCEPT, NAN);
    fs_metrics_observe(FS_HIST_ACCEPT, INFINITY);
    fs_metrics_observe((enum fs_histogram_id)7, 0.1);
    char *text = render();
    assert_has_line(text,
                    "flashsaled_accept_latency_seconds_bucket{le=\"0.0005\"} 2");
    assert_has_line(text,
                    "flashsaled_accept_latency_seconds_bucket{le=\"5\"} 2");
    assert_has_line(text,
                    "flashsaled_accept_latency_seconds_bucket{le=\"+Inf\"} 3");
    assert_has_line(text, "flashsaled_accept_latency_seconds_count 3");
    /* Infinity is capped at an hour, so the sum stays a finite number. */
    assert_has_line(text, "flashsaled_accept_latency_seconds_sum 3600.000000000");
    free(text);
}

/* ---- concurrency --------------------------------------------------------- */

static void *count_lots(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < ROUNDS; i++) {
        fs_metrics_request(FS_ROUTE_BOOK, 202);
        fs_metrics_request((enum fs_route)(i % FS_ROUTE_COUNT), 300 + i % 3);
        fs_metrics_booking(FS_STATE_HOLD);
        fs_metrics_rejected(i % 2 ? "sold_out" : "duplicate");
        fs_metrics_observe(FS_HIST_RESERVE, 0.001);
    }
    return NULL;
}

/* Renders until told to stop; cmocka asserts belong to the main thread, so
 * failures are counted and checked there. */
struct reader {
    atomic_int stop;
    int renders, failures;
};

static void *render_lots(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(&r->stop)) {
        char *text = fs_metrics_render(NULL);
        if (text == NULL || strstr(text, "flashsaled_queue_depth") == NULL)
            r->failures++;
        r->renders++;
        free(text);
    }
    return NULL;
}

static void test_concurrent_counting_loses_nothing(void **state)
{
    (void)state;
    pthread_t t[THREADS], reader_thread;
    struct reader reader = {.renders = 0, .failures = 0};

    atomic_init(&reader.stop, 0);
    assert_int_equal(pthread_barrier_init(&start_line, NULL, THREADS), 0);
    assert_int_equal(pthread_create(&reader_thread, NULL, render_lots, &reader),
                     0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_lots, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&reader.stop, 1);
    pthread_join(reader_thread, NULL);
    pthread_barrier_destroy(&start_line);
    assert_int_equal(reader.failures, 0);
    assert_true(reader.renders > 0);

    uint64_t total = (uint64_t)THREADS * ROUNDS;
    assert_int_equal(fs_metrics_request_count(FS_ROUTE_BOOK, 202), total);
    assert_int_equal(fs_metrics_booking_count(FS_STATE_HOLD), total);
    uint64_t spread = 0;
    for (int r = 0; r < FS_ROUTE_COUNT; r++)
        for (int c = 300; c <= 302; c++)
            spread += fs_metrics_request_count((enum fs_route)r, c);
    assert_int_equal(spread, total);

    char line[128];
    char *text = render();
    snprintf(line, sizeof(line),
             "flashsaled_rejections_total{reason=\"sold_out\"} %llu",
             (unsigned long long)total / 2);
    assert_has_line(text, line);
    snprintf(line, sizeof(line),
             "flashsaled_reserve_latency_seconds_count %llu",
             (unsigned long long)total);
    assert_has_line(text, line);
    snprintf(line, sizeof(line),
             "flashsaled_reserve_latency_seconds_sum %llu.%09llu",
             (unsigned long long)total / 1000,
             (unsigned long long)(total % 1000) * 1000000);
    assert_has_line(text, line);
    free(text);
}

/* ---- the text format ----------------------------------------------------- */

static void test_render_lists_only_nonzero_request_series(void **state)
{
    (void)state;
    fs_metrics_request(FS_ROUTE_HEALTH, 200);
    char *text = render();
    assert_has_line(text,
                    "flashsaled_http_requests_total{route=\"healthz\",code=\"200\"} 1");
    const char *first = strstr(text, "flashsaled_http_requests_total{");
    assert_non_null(first);
    assert_null(strstr(first + 1, "flashsaled_http_requests_total{"));
    free(text);
}

/* Every line is a HELP, a TYPE or a sample of a family whose TYPE came
 * first, with a well-formed label set and a number (format 0.0.4). */
static void test_render_is_valid_exposition_text(void **state)
{
    (void)state;
    regex_t comment, sample;
    char typed[24][64];
    size_t n_typed = 0;

    fs_metrics_request(FS_ROUTE_BOOK, 202);
    fs_metrics_request(FS_ROUTE_BOOK, 7);
    fs_metrics_booking(FS_STATE_BOOKED);
    fs_metrics_observe(FS_HIST_ACCEPT, 0.02);
    assert_int_equal(regcomp(&comment,
                             "^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$",
                             REG_EXTENDED), 0);
    assert_int_equal(regcomp(&sample,
                             "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                             "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\\n]*\",?)*\\})?"
                             " [0-9]+(\\.[0-9]+)?$",
                             REG_EXTENDED), 0);
    char *text = render();
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        regmatch_t m[4];
        if (regexec(&comment, line, 4, m, 0) == 0) {
            if (strncmp(line, "# TYPE", 6) != 0)
                continue;
            assert_true(n_typed < 24);
            int name_len = (int)(m[2].rm_eo - m[2].rm_so);
            snprintf(typed[n_typed++], 64, "%.*s", name_len, line + m[2].rm_so);
            assert_true(strstr(line + m[3].rm_so, "counter") ||
                        strstr(line + m[3].rm_so, "gauge") ||
                        strstr(line + m[3].rm_so, "histogram"));
            continue;
        }
        if (regexec(&sample, line, 2, m, 0) != 0)
            fail_msg("not a valid exposition line: '%s'", line);
        size_t known = 0;
        for (size_t i = 0; i < n_typed; i++)
            if (strncmp(line, typed[i], strlen(typed[i])) == 0)
                known = 1;
        if (!known)
            fail_msg("sample before its # TYPE line: '%s'", line);
    }
    assert_int_equal(n_typed, 21);
    regfree(&comment);
    regfree(&sample);
    free(text);
}

static void test_render_names_every_family_with_help_and_type(void **state)
{
    (void)state;
    const char *families[][2] = {
        {"flashsaled_http_requests_total", "counter"},
        {"flashsaled_bookings_total", "counter"},
        {"flashsaled_rejections_total", "counter"},
        {"flashsaled_queue_depth", "gauge"},
        {"flashsaled_accept_latency_seconds", "histogram"},
        {"flashsaled_reserve_latency_seconds", "histogram"},
        {"flashsaled_start_time_seconds", "gauge"},
    };
    char line[128];
    char *text = render();
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(line, sizeof(line), "# TYPE %s %s", families[i][0],
                 families[i][1]);
        assert_has_line(text, line);
        snprintf(line, sizeof(line), "# HELP %s ", families[i][0]);
        assert_non_null(strstr(text, line));
    }
    free(text);
}

static void test_a_sale_s_answers_items_and_the_backends_are_rendered(
    void **state)
{
    const int64_t items[FS_METRICS_ITEM_KINDS] = {100, 37, 60, 3};
    char *text;

    (void)state;
    fs_metrics_sale_answer("launch", 202);
    fs_metrics_sale_answer("launch", 202);
    fs_metrics_sale_answer("launch", 409);
    fs_metrics_sale_answer("launch", 418);  /* not listed: "other" */
    fs_metrics_sale_items("launch", items);
    fs_metrics_backend_ready(0, "rabbitmq", 1);
    fs_metrics_backend_ready(1, "redis", 0);
    fs_metrics_backend_ready(2, "mongo", 1);
    fs_metrics_event_streams(7);
    text = render();
    assert_has_line(text, "# TYPE flashsaled_sale_booking_answers_total counter");
    assert_has_line(text, "flashsaled_sale_booking_answers_total{sale=\"launch\","
                          "status=\"202\"} 2");
    assert_has_line(text, "flashsaled_sale_booking_answers_total{sale=\"launch\","
                          "status=\"409\"} 1");
    assert_has_line(text, "flashsaled_sale_booking_answers_total{sale=\"launch\","
                          "status=\"503\"} 0");
    assert_has_line(text, "flashsaled_sale_booking_answers_total{sale=\"launch\","
                          "status=\"other\"} 1");
    assert_has_line(text, "flashsaled_sale_items{sale=\"launch\",state=\"inventory\"} 100");
    assert_has_line(text, "flashsaled_sale_items{sale=\"launch\",state=\"available\"} 37");
    assert_has_line(text, "flashsaled_sale_items{sale=\"launch\",state=\"held\"} 60");
    assert_has_line(text, "flashsaled_sale_items{sale=\"launch\",state=\"booked\"} 3");
    assert_has_line(text, "flashsaled_backend_ready{backend=\"queue\",plugin=\"rabbitmq\"} 1");
    assert_has_line(text, "flashsaled_backend_ready{backend=\"inventory\",plugin=\"redis\"} 0");
    assert_has_line(text, "flashsaled_event_streams 7");
    free(text);
}

static void test_a_sale_never_counted_shows_no_items(void **state)
{
    char *text;

    (void)state;
    fs_metrics_sale_answer("quiet", 202);
    text = render();
    assert_null(strstr(text, "flashsaled_sale_items{sale=\"quiet\""));
    assert_has_line(text, "flashsaled_sale_booking_answers_total{sale=\"quiet\","
                          "status=\"202\"} 1");
    free(text);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, reset)
    const struct CMUnitTest tests[] = {
        T(test_init_zeroes_every_counter),
        T(test_requests_are_counted_per_route_and_status),
        T(test_status_bounds_100_and_599_are_kept_apart),
        T(test_out_of_range_status_is_counted_as_invalid),
        T(test_out_of_range_route_is_counted_as_other),
        T(test_route_names_match_the_label_values),
        T(test_bookings_are_counted_per_state),
        T(test_out_of_range_state_is_counted_as_none),
        T(test_rejections_are_counted_by_reason),
        T(test_unknown_rejection_reason_is_counted_as_other),
        T(test_queue_depth_gauge_shows_the_last_value_set),
        T(test_start_time_is_the_time_of_init),
        T(test_histogram_buckets_are_cumulative_with_sum_and_count),
        T(test_histograms_are_kept_apart),
        T(test_negative_nan_and_bad_histogram_observations_are_safe),
        T(test_a_sale_s_answers_items_and_the_backends_are_rendered),
        T(test_a_sale_never_counted_shows_no_items),
        T(test_concurrent_counting_loses_nothing),
        T(test_render_lists_only_nonzero_request_series),
        T(test_render_is_valid_exposition_text),
        T(test_render_names_every_family_with_help_and_type),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
