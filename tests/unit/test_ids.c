/* test_ids.c - id validation, generation, and the queue message codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"
#include "message.h"
#include "states.h"

static void test_ids_accept_the_documented_alphabet(void **state)
{
    (void)state;
    assert_true(fs_id_valid("launch"));
    assert_true(fs_id_valid("Sale_2026.12-01"));
    assert_true(fs_id_valid("a"));
    assert_true(fs_id_valid(
        "0123456789012345678901234567890123456789012345678901234567890123"));
}

static void test_ids_refuse_empty_long_and_foreign_characters(void **state)
{
    (void)state;
    assert_false(fs_id_valid(""));
    assert_false(fs_id_valid(NULL));
    assert_false(fs_id_valid(
        "01234567890123456789012345678901234567890123456789012345678901234"));
    assert_false(fs_id_valid("a/b"));
    assert_false(fs_id_valid("a b"));
    assert_false(fs_id_valid("caf\xc3\xa9"));
    assert_false(fs_id_valid("x%00"));
    assert_false(fs_id_valid_n("ab\0c", 4));
}

static void test_generated_booking_ids_are_valid_distinct_and_ordered(void **state)
{
    char a[FS_ID_MAX + 1], b[FS_ID_MAX + 1];
    (void)state;
    assert_int_equal(fs_id_generate(a), 0);
    assert_int_equal(fs_id_generate(b), 0);
    assert_int_equal(strlen(a), 26);
    assert_true(fs_id_valid(a));
    assert_string_not_equal(a, b);
    /* Same or later millisecond: the time prefix never goes backwards. */
    assert_true(memcmp(a, b, 10) <= 0);
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The random part comes from a per-thread buffer refilled every 16 ids:
 * across several refills no id repeats and no random part is all zero (a
 * word used twice, or a slot cleared and handed out again). */
static void test_ids_across_random_refills_never_repeat(void **state)
{
    enum { N = 100 };
    static char ids[N][FS_ID_MAX + 1];
    (void)state;
    for (int i = 0; i < N; i++) {
        assert_int_equal(fs_id_generate(ids[i]), 0);
        assert_true(fs_id_valid(ids[i]));
        assert_int_not_equal(strcmp(ids[i] + 10, "0000000000000000"), 0);
    }
    /* The time prefix may repeat within a millisecond: compare whole ids. */
    qsort(ids, N, sizeof(ids[0]), compare_ids);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

static void test_message_round_trips_every_field(void **state)
{
    struct fs_message in = {.hold_seconds = 300, .created_ms = 1795597682416};
    struct fs_message out;
    char buf[FS_MESSAGE_MAX];
    size_t len;
    (void)state;

    strcpy(in.booking_id, "01JABCDEFGHJKMNPQRSTVWXYZ0");
    strcpy(in.sale_id, "launch");
    strcpy(in.user_id, "user-42@example.org");
    strcpy(in.origin, "0123456789abcdef");
    len = fs_message_encode(&in, buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal(fs_message_decode(buf, len, &out), 0);
    assert_string_equal(out.booking_id, in.booking_id);
    assert_string_equal(out.sale_id, in.sale_id);
    assert_string_equal(out.user_id, in.user_id);
    assert_string_equal(out.origin, in.origin);
    assert_int_equal(out.hold_seconds, 300);
    assert_int_equal(out.created_ms, in.created_ms);
}

static void test_message_decode_refuses_garbage(void **state)
{
    struct fs_message m;
    static const char *const bad[] = {
        "", "{", "[]", "{\"b\":\"x\"}",
        "{\"b\":\"a/b\",\"s\":\"s\",\"u\":\"u\",\"h\":1,\"t\":1,\"o\":\"o\"}",
        "{\"b\":\"a\",\"s\":\"s\",\"u\":\"u\",\"h\":0,\"t\":1,\"o\":\"o\"}",
        "{\"b\":\"a\",\"s\":\"s\",\"u\":\"u\",\"h\":\"1\",\"t\":1,\"o\":\"o\"}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fs_message_decode(bad[i], strlen(bad[i]), &m), -1);
}

static void test_states_allow_only_the_documented_transitions(void **state)
{
    (void)state;
    assert_true(fs_state_transition_allowed(FS_STATE_QUEUED, FS_STATE_HOLD));
    assert_true(fs_state_transition_allowed(FS_STATE_QUEUED, FS_STATE_REJECTED));
    assert_true(fs_state_transition_allowed(FS_STATE_QUEUED, FS_STATE_DELETED));
    assert_true(fs_state_transition_allowed(FS_STATE_HOLD, FS_STATE_BOOKED));
    assert_true(fs_state_transition_allowed(FS_STATE_HOLD, FS_STATE_EXPIRED));
    assert_true(fs_state_transition_allowed(FS_STATE_HOLD, FS_STATE_DELETED));
    assert_false(fs_state_transition_allowed(FS_STATE_QUEUED, FS_STATE_BOOKED));
    assert_false(fs_state_transition_allowed(FS_STATE_BOOKED, FS_STATE_DELETED));
    assert_false(fs_state_transition_allowed(FS_STATE_EXPIRED, FS_STATE_HOLD));
    assert_false(fs_state_transition_allowed(FS_STATE_REJECTED, FS_STATE_QUEUED));
    assert_true(fs_state_is_final(FS_STATE_BOOKED));
    assert_false(fs_state_is_final(FS_STATE_HOLD));
    assert_int_equal(fs_state_parse("expired"), FS_STATE_EXPIRED);
    assert_int_equal(fs_state_parse("bogus"), FS_STATE_NONE);
    assert_string_equal(fs_state_name(FS_STATE_HOLD), "hold");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_accept_the_documented_alphabet),
        cmocka_unit_test(test_ids_refuse_empty_long_and_foreign_characters),
        cmocka_unit_test(test_generated_booking_ids_are_valid_distinct_and_ordered),
        cmocka_unit_test(test_ids_across_random_refills_never_repeat),
        cmocka_unit_test(test_message_round_trips_every_field),
        cmocka_unit_test(test_message_decode_refuses_garbage),
        cmocka_unit_test(test_states_allow_only_the_documented_transitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
