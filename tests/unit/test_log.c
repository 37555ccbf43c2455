/* test_log.c - the log line in both formats (log.format), the request id
 * it carries, and which client request ids are taken as they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http/http_request_id.h"
#include "log.h"

/* What the logger wrote since capture_start, one string. */
static char *captured;
static size_t captured_len;
static FILE *capture;

static int capture_start(void **state)
{
    (void)state;
    capture = open_memstream(&captured, &captured_len);
    if (!capture)
        return -1;
    fs_log_set_stream(capture);
    fs_log_set_level(FS_LOG_DEBUG);
    return 0;
}

static int capture_stop(void **state)
{
    (void)state;
    fs_log_set_stream(NULL);
    fs_log_set_format(FS_LOG_TEXT);
    fs_log_set_level(FS_LOG_INFO);
    fs_log_request_end();
    fclose(capture);
    free(captured);
    captured = NULL;
    return 0;
}

static const char *written(void)
{
    fflush(capture);
    return captured;
}

/* The one line written, parsed; fails unless it is exactly one JSON object
 * ended by a newline. */
static json_t *one_json_line(void)
{
    const char *text = written();
    json_error_t error;
    json_t *line;

    assert_non_null(text);
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
    line = json_loads(text, 0, &error);
    if (!line)
        fail_msg("not JSON (%s): %s", error.text, text);
    assert_true(json_is_object(line));
    return line;
}

static void assert_field(json_t *line, const char *key, const char *want)
{
    json_t *v = json_object_get(line, key);
    if (!json_is_string(v))
        fail_msg("no string field '%s' in the line", key);
    assert_string_equal(json_string_value(v), want);
}

static void test_json_line_has_time_level_and_message(void **state)
{
    json_t *line;
    const char *time;
    (void)state;

    fs_log_set_format(FS_LOG_JSON);
    fs_log_warn("sale %s: %d left", "launch", 3);
    line = one_json_line();
    assert_field(line, "level", "warn");
    assert_field(line, "message", "sale launch: 3 left");
    time = json_string_value(json_object_get(line, "time"));
    assert_non_null(time);
    /* RFC 3339 UTC with milliseconds: 2026-12-06T05:04:00.123Z */
    assert_int_equal(strlen(time), 24);
    assert_int_equal(time[10], 'T');
    assert_int_equal(time[23], 'Z');
    assert_null(json_object_get(line, "request_id"));
    json_decref(line);
}

static void test_json_line_carries_the_request_id_of_its_thread(void **state)
{
    json_t *line;
    (void)state;

    fs_log_set_format(FS_LOG_JSON);
    fs_log_request_begin("req-123");
    assert_string_equal(fs_log_request_id(), "req-123");
    fs_log_info("a policy refused the request");
    line = one_json_line();
    assert_field(line, "request_id", "req-123");
    assert_field(line, "level", "info");
    json_decref(line);
    fs_log_request_end();
    assert_null(fs_log_request_id());
}

static void test_json_line_quotes_and_replaces_bytes_that_are_not_utf8(void **state)
{
    json_t *line;
    (void)state;

    fs_log_set_format(FS_LOG_JSON);
    fs_log_error("agent \"x\"\n\xff\xfe end");
    line = one_json_line();
    assert_field(line, "message", "agent \"x\"\n?? end");
    json_decref(line);
}

static void test_json_access_line_has_method_path_status_and_duration(void **state)
{
    json_t *line;
    (void)state;

    fs_log_set_format(FS_LOG_JSON);
    fs_log_request_begin("abc");
    fs_log_access("POST", "/booking-service/book-item/launch", 202, 1.5);
    line = one_json_line();
    assert_field(line, "level", "debug");
    assert_field(line, "method", "POST");
    assert_field(line, "path", "/booking-service/book-item/launch");
    assert_field(line, "request_id", "abc");
    assert_int_equal(json_integer_value(json_object_get(line, "status")), 202);
    assert_true(json_real_value(json_object_get(line, "duration_ms")) == 1.5);
    json_decref(line);
}

static void test_access_line_writes_control_bytes_of_a_path_as_question_marks(void **state)
{
    const char *text;
    (void)state;

    fs_log_access("GET", "/a\rb\x1b[31m", 404, 0.5);
    text = written();
    assert_non_null(strstr(text, "GET /a?b?[31m 404 0.500 ms\n"));
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
}

static void test_lines_below_the_level_are_not_written(void **state)
{
    (void)state;
    fs_log_set_format(FS_LOG_JSON);
    fs_log_set_level(FS_LOG_WARN);
    fs_log_info("not written");
    fs_log_access("GET", "/healthz", 200, 0.1);
    assert_true(written() == NULL || written()[0] == '\0');
}

static void test_text_line_names_the_request_id(void **state)
{
    const char *text;
    (void)state;

    fs_log_request_begin("r-9");
    fs_log_info("hello");
    text = written();
    assert_non_null(strstr(text, " info  hello [request_id=r-9]\n"));
}

static void test_formats_parse_by_name(void **state)
{
    (void)state;
    assert_int_equal(fs_log_format_parse("text"), FS_LOG_TEXT);
    assert_int_equal(fs_log_format_parse("json"), FS_LOG_JSON);
    assert_int_equal(fs_log_format_parse("JSON"), -1);
}

static void test_request_id_takes_a_bounded_safe_client_id(void **state)
{
    char longest[FS_REQUEST_ID_MAX + 2];
    (void)state;

    assert_true(fs_request_id_sane("0f8c2a4e-9b1d-4c3e-8a7f-123456789abc"));
    assert_true(fs_request_id_sane("Root:1.2_x~y+z/w="));
    memset(longest, 'a', sizeof(longest));
    longest[FS_REQUEST_ID_MAX] = '\0';
    assert_true(fs_request_id_sane(longest));
    longest[FS_REQUEST_ID_MAX] = 'a';
    longest[FS_REQUEST_ID_MAX + 1] = '\0';
    assert_false(fs_request_id_sane(longest));
    assert_false(fs_request_id_sane(NULL));
    assert_false(fs_request_id_sane(""));
    assert_false(fs_request_id_sane("a b"));
    assert_false(fs_request_id_sane("a\"b"));
    assert_false(fs_request_id_sane("a\nb"));
    assert_false(fs_request_id_sane("caf\xc3\xa9"));
}

static void test_a_made_request_id_is_bound_and_distinct(void **state)
{
    char first[FS_REQUEST_ID_MAX + 1];
    (void)state;

    fs_log_request_end();
    snprintf(first, sizeof(first), "%s", fs_http_request_id());
    assert_true(fs_request_id_sane(first));
    assert_int_equal(strlen(first), 16);
    assert_string_equal(fs_log_request_id(), first);
    fs_http_request_id_after_error();  /* not in a request: unbinds */
    assert_null(fs_log_request_id());
    assert_string_not_equal(fs_http_request_id(), first);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, capture_start, capture_stop)
    const struct CMUnitTest tests[] = {
        T(test_json_line_has_time_level_and_message),
        T(test_json_line_carries_the_request_id_of_its_thread),
        T(test_json_line_quotes_and_replaces_bytes_that_are_not_utf8),
        T(test_json_access_line_has_method_path_status_and_duration),
        T(test_access_line_writes_control_bytes_of_a_path_as_question_marks),
        T(test_lines_below_the_level_are_not_written),
        T(test_text_line_names_the_request_id),
        T(test_formats_parse_by_name),
        T(test_request_id_takes_a_bounded_safe_client_id),
        T(test_a_made_request_id_is_bound_and_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
