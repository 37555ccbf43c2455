/*
 * test_jwks.c - src/jwks.c: which JWKS documents become keys, which keys
 * are skipped, and which documents are refused with which reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "jwk_fixture.h"
#include "jwks.h"

static EVP_PKEY *rsa, *ec, *ed, *rsa_small;
static char err[512];

static int setup(void **state)
{
    (void)state;
    rsa = fx_key_new(FS_JWT_RS256, 2048);
    rsa_small = fx_key_new(FS_JWT_RS256, 1024);
    ec = fx_key_new(FS_JWT_ES256, 0);
    ed = fx_key_new(FS_JWT_EDDSA, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    return 0;
}

static struct fs_jwks *parse(const char *doc)
{
    err[0] = '\0';
    return fs_jwks_parse(doc, strlen(doc), err, sizeof(err));
}

/* Parses {"keys":[jwk]} and frees the JWK. */
static struct fs_jwks *parse_one(char *jwk)
{
    char *doc = fx_jwks(1, &jwk);
    struct fs_jwks *set = parse(doc);
    free(doc);
    free(jwk);
    return set;
}

static void expect_refused(const char *doc, const char *reason)
{
    struct fs_jwks *set = parse(doc);
    assert_null(set);
    if (strstr(err, reason) == NULL)
        fail_msg("expected '%s' in the error, got '%s'", reason, err);
}

static void test_parses_rsa_ec_and_ed25519_keys_by_kid(void **state)
{
    (void)state;
    char *jwks[] = {fx_jwk(rsa, FS_JWT_RS256, "r1", "\"use\":\"sig\",\"alg\":\"RS256\""),
                    fx_jwk(ec, FS_JWT_ES256, "e1", NULL),
                    fx_jwk(ed, FS_JWT_EDDSA, "d1", "\"alg\":\"EdDSA\"")};
    char *doc = fx_jwks(3, jwks);
    struct fs_jwks *set = parse(doc);

    assert_non_null(set);
    assert_int_equal(set->n, 3);
    assert_int_equal(fs_jwks_find(set, "r1", 2)->alg, FS_JWT_RS256);
    assert_int_equal(fs_jwks_find(set, "e1", 2)->alg, FS_JWT_ES256);
    assert_int_equal(fs_jwks_find(set, "d1", 2)->alg, FS_JWT_EDDSA);
    assert_null(fs_jwks_find(set, "r", 1));
    assert_null(fs_jwks_find(set, "r1x", 3));
    /* A second reference keeps the set alive past the first unref. */
    assert_ptr_equal(fs_jwks_ref(set), set);
    fs_jwks_unref(set);
    assert_non_null(fs_jwks_find(set, "d1", 2));
    fs_jwks_unref(set);
    for (size_t i = 0; i < 3; i++)
        free(jwks[i]);
    free(doc);
}

static void test_rsa_key_under_2048_bits_is_refused_at_load(void **state)
{
    (void)state;
    char *jwk = fx_jwk(rsa_small, FS_JWT_RS256, "small", NULL);
    char *doc = fx_jwks(1, &jwk);
    expect_refused(doc, "an RSA key of 1024 bits; at least 2048 are required");
    assert_non_null(strstr(err, "kid \"small\""));
    free(doc);
    free(jwk);
}

static void test_rsa_key_with_an_even_modulus_or_exponent_one_is_refused(void **state)
{
    (void)state;
    unsigned char n[256];
    char doc[1024];
    memset(n, 0xa5, sizeof(n));
    n[255] = 0xa4;  /* even: no product of two odd primes */
    char *b64n = fx_b64url(n, sizeof(n));
    snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\","
             "\"n\":\"%s\",\"e\":\"AQAB\"}]}", b64n);
    expect_refused(doc, "n and e must be odd");
    free(b64n);
    n[255] = 0xa5;
    b64n = fx_b64url(n, sizeof(n));
    snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\","
             "\"n\":\"%s\",\"e\":\"AQ\"}]}", b64n);
    expect_refused(doc, "e > 1");
    free(b64n);
}

static void test_ec_point_off_the_curve_is_refused(void **state)
{
    (void)state;
    /* x = 1, y = 1 is not on P-256. */
    char one[32] = {0};
    one[31] = 1;
    char *c = fx_b64url(one, 32);
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"kid\":\"bad\",\"x\":\"%s\",\"y\":\"%s\"}]}", c, c);
    expect_refused(doc, "keys[0] (kid \"bad\")");
    free(c);
}

static void test_coordinates_of_the_wrong_length_are_refused(void **state)
{
    (void)state;
    expect_refused("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k\","
                   "\"x\":\"AAAA\"}]}", "x must be 32 bytes");
    expect_refused("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k\","
                   "\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "32 bytes each");
    /* One byte too many in y (found by fuzz_jwks: it once overflowed). */
    char b33[33], doc[512];
    memset(b33, 7, sizeof(b33));
    char *c32 = fx_b64url(b33, 32), *c33 = fx_b64url(b33, 33);
    snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"kid\":\"k\",\"x\":\"%s\",\"y\":\"%s\"}]}", c32, c33);
    expect_refused(doc, "32 bytes each");
    snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"kid\":\"k\",\"x\":\"%s\",\"y\":\"%s\"}]}", c33, c32);
    expect_refused(doc, "32 bytes each");
    free(c32);
    free(c33);
}

static void test_missing_or_undecodable_members_are_refused(void **state)
{
    (void)state;
    expect_refused("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"e\":\"AQAB\"}]}",
                   "member \"n\" is missing");
    expect_refused("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"a+b/\","
                   "\"e\":\"AQAB\"}]}", "member \"n\" is not base64url");
    expect_refused("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k\","
                   "\"x\":\"AAAA=\"}]}", "not base64url");
}

static void test_keys_flashsaled_cannot_use_are_skipped(void **state)
{
    (void)state;
    char *jwks[] = {
        /* A shared secret published as a key: never accepted. */
        strdup("{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"c2VjcmV0\"}"),
        fx_jwk(rsa, FS_JWT_RS256, "enc", "\"use\":\"enc\""),
        fx_jwk(rsa, FS_JWT_RS256, "ps", "\"alg\":\"PS256\""),
        strdup("{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\",\"x\":\"A\",\"y\":\"A\"}"),
        fx_jwk(ed, FS_JWT_EDDSA, "", NULL),  /* no kid: never chosen */
        fx_jwk(ec, FS_JWT_ES256, "good", NULL),
    };
    char *doc = fx_jwks(6, jwks);
    struct fs_jwks *set = parse(doc);

    assert_non_null(set);
    assert_int_equal(set->n, 1);
    assert_string_equal(set->keys[0].kid, "good");
    fs_jwks_unref(set);
    free(doc);
    for (size_t i = 0; i < 6; i++)
        free(jwks[i]);
}

static void test_a_set_with_no_usable_key_is_refused(void **state)
{
    (void)state;
    expect_refused("{\"keys\":[]}", "no usable key");
    expect_refused("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"c2VjcmV0\"}]}",
                   "no usable key");
}

static void test_duplicate_kid_is_refused(void **state)
{
    (void)state;
    char *jwks[] = {fx_jwk(ec, FS_JWT_ES256, "same", NULL),
                    fx_jwk(ed, FS_JWT_EDDSA, "same", NULL)};
    char *doc = fx_jwks(2, jwks);
    expect_refused(doc, "kid \"same\" is used twice");
    free(doc);
    free(jwks[0]);
    free(jwks[1]);
}

static void test_documents_that_are_no_jwks_are_refused(void **state)
{
    (void)state;
    expect_refused("", "not JSON");
    expect_refused("{\"keys\":[", "not JSON");
    expect_refused("[]", "\"keys\" array");
    expect_refused("{\"keys\":{}}", "\"keys\" array");
    expect_refused("{\"keys\":[1]}", "keys[0]");
    expect_refused("{\"keys\":[],\"keys\":[]}", "not JSON");
}

static void test_a_key_of_one_algorithm_is_only_for_it(void **state)
{
    (void)state;
    struct fs_jwks *set = parse_one(fx_jwk(rsa, FS_JWT_RS256, "r", NULL));
    assert_non_null(set);
    assert_int_equal(set->keys[0].alg, FS_JWT_RS256);
    fs_jwks_unref(set);
    /* An RSA key that says it is for ES256 is of no use. */
    set = parse_one(fx_jwk(rsa, FS_JWT_RS256, "r", "\"alg\":\"ES256\""));
    assert_null(set);
    assert_non_null(strstr(err, "no usable key"));
}

static void test_algorithm_names_are_case_sensitive(void **state)
{
    (void)state;
    assert_int_equal(fs_jwt_alg_parse("RS256", 5), FS_JWT_RS256);
    assert_int_equal(fs_jwt_alg_parse("EdDSA", 5), FS_JWT_EDDSA);
    assert_int_equal(fs_jwt_alg_parse("rs256", 5), 0);
    assert_int_equal(fs_jwt_alg_parse("none", 4), 0);
    assert_int_equal(fs_jwt_alg_parse("RS2560", 6), 0);
    assert_string_equal(fs_jwt_alg_name(FS_JWT_ES256), "ES256");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_rsa_ec_and_ed25519_keys_by_kid),
        cmocka_unit_test(test_rsa_key_under_2048_bits_is_refused_at_load),
        cmocka_unit_test(test_rsa_key_with_an_even_modulus_or_exponent_one_is_refused),
        cmocka_unit_test(test_ec_point_off_the_curve_is_refused),
        cmocka_unit_test(test_coordinates_of_the_wrong_length_are_refused),
        cmocka_unit_test(test_missing_or_undecodable_members_are_refused),
        cmocka_unit_test(test_keys_flashsaled_cannot_use_are_skipped),
        cmocka_unit_test(test_a_set_with_no_usable_key_is_refused),
        cmocka_unit_test(test_duplicate_kid_is_refused),
        cmocka_unit_test(test_documents_that_are_no_jwks_are_refused),
        cmocka_unit_test(test_a_key_of_one_algorithm_is_only_for_it),
        cmocka_unit_test(test_algorithm_names_are_case_sensitive),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
