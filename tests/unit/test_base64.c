/* test_base64.c - strict decoding of base64url (JWT) and base64 (Basic). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static long dec(enum fs_base64_alphabet a, const char *in, char *out, size_t cap)
{
    long n = fs_base64_decode(a, in, strlen(in), (unsigned char *)out, cap);
    if (n >= 0)
        out[n] = '\0';
    return n;
}

static void test_base64url_decodes_jwt_segments(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(dec(FS_BASE64_URL, "eyJhbGciOiJIUzI1NiJ9", out, 63), 15);
    assert_string_equal(out, "{\"alg\":\"HS256\"}");
    assert_int_equal(dec(FS_BASE64_URL, "-_8", out, 63), 2);  /* 0xfb 0xff */
    assert_int_equal((unsigned char)out[0], 0xfb);
}

static void test_base64url_refuses_padding_and_the_other_alphabet(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(dec(FS_BASE64_URL, "YQ==", out, 63), -1);
    assert_int_equal(dec(FS_BASE64_URL, "+/8", out, 63), -1);
}

static void test_base64_decodes_basic_credentials_with_or_without_padding(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(dec(FS_BASE64_STD, "YWRtaW46czNjcjN0", out, 63), 12);
    assert_string_equal(out, "admin:s3cr3t");
    assert_int_equal(dec(FS_BASE64_STD, "YQ==", out, 63), 1);
    assert_int_equal(dec(FS_BASE64_STD, "YQ", out, 63), 1);
    assert_string_equal(out, "a");
}

static void test_decoding_is_strict(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(dec(FS_BASE64_STD, "YR==", out, 63), -1);   /* bits left */
    assert_int_equal(dec(FS_BASE64_STD, "Y", out, 63), -1);      /* no length */
    assert_int_equal(dec(FS_BASE64_STD, "Y Q=", out, 63), -1);   /* a space */
    assert_int_equal(dec(FS_BASE64_STD, "YQ===", out, 63), -1);  /* 3 pads */
    assert_int_equal(dec(FS_BASE64_STD, "", out, 63), 0);
}

static void test_decoding_never_writes_past_its_capacity(void **state)
{
    char out[8] = "xxxxxxx";
    (void)state;
    assert_int_equal(fs_base64_decode(FS_BASE64_STD, "YWJjZA", 6,
                                      (unsigned char *)out, 3), -1);
    assert_int_equal(out[3], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_decodes_jwt_segments),
        cmocka_unit_test(test_base64url_refuses_padding_and_the_other_alphabet),
        cmocka_unit_test(test_base64_decodes_basic_credentials_with_or_without_padding),
        cmocka_unit_test(test_decoding_is_strict),
        cmocka_unit_test(test_decoding_never_writes_past_its_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
