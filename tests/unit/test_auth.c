/*
 * test_auth.c - the JWT check of src/auth.c: what it accepts, and every
 * forged, expired or malformed token it must refuse (DESIGN.md section 8).
 *
 * Honest tokens are signed by libjwt, an implementation independent of
 * auth.c's, or by OpenSSL's one-shot HMAC() where a header libjwt will not
 * write is needed; malicious ones are built by hand from base64url segments
 * so that no library "fixes" them on the way.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "base64.h"
#include "jwk_fixture.h"

#define SECRET "0123456789abcdef-test-secret"
#define NOW ((int64_t)1800000000)
#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static struct fs_auth auth;

static int setup(void **state)
{
    (void)state;
    return fs_auth_init(&auth, SECRET, strlen(SECRET));
}

static int teardown(void **state)
{
    (void)state;
    fs_auth_free(&auth);
    return 0;
}

/* header.payload.signature from raw JSON texts; sig is used as given. */
static char *raw_token(const char *header, const char *payload, const char *sig)
{
    char *h = fx_b64url(header, strlen(header));
    char *p = fx_b64url(payload, strlen(payload));
    size_t len = strlen(h) + strlen(p) + strlen(sig) + 3;
    char *out = malloc(len);

    assert_non_null(out);
    snprintf(out, len, "%s.%s.%s", h, p, sig);
    free(h);
    free(p);
    return out;
}

/* header.payload.signature from raw JSON texts, honestly signed with HS256
 * and `key` whatever the header says. */
static char *hs256_token(const char *header, const char *payload,
                         const char *key)
{
    char *unsigned_tok = raw_token(header, payload, "");
    size_t signed_len = strlen(unsigned_tok) - 1;  /* without the last dot */
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key),
                         (const unsigned char *)unsigned_tok, signed_len, mac,
                         &mac_len));
    assert_int_equal(mac_len, 32);
    char *sig = fx_b64url((const char *)mac, mac_len);
    size_t len = signed_len + strlen(sig) + 2;
    char *out = malloc(len);
    assert_non_null(out);
    snprintf(out, len, "%.*s.%s", (int)signed_len, unsigned_tok, sig);
    free(sig);
    free(unsigned_tok);
    return out;
}

/* A token libjwt signs honestly with `alg` and `key` over `claims`. */
static char *signed_token(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;

    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key,
                                 (int)strlen(key)), 0);
    assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
    char *tok = jwt_encode_str(jwt);
    assert_non_null(tok);
    jwt_free(jwt);
    return tok;
}

static enum fs_auth_result verify_as(const char *prefix, const char *token,
                                     char user[FS_USER_MAX + 1])
{
    size_t len = strlen(prefix) + strlen(token) + 1;
    char *header = malloc(len);

    assert_non_null(header);
    snprintf(header, len, "%s%s", prefix, token);
    enum fs_auth_result r = fs_auth_verify_header(&auth, header, NOW, user);
    free(header);
    return r;
}

static enum fs_auth_result verify(const char *token)
{
    char user[FS_USER_MAX + 1];
    return verify_as("Bearer ", token, user);
}

static enum fs_auth_result verify_claims(const char *claims)
{
    char *tok = signed_token(JWT_ALG_HS256, SECRET, claims);
    enum fs_auth_result r = verify(tok);
    free(tok);
    return r;
}

static enum fs_auth_result verify_raw(const char *header, const char *payload,
                                      const char *sig)
{
    char *tok = raw_token(header, payload, sig);
    enum fs_auth_result r = verify(tok);
    free(tok);
    return r;
}

/* The signature segment of an honest HS256 token, to graft onto forgeries. */
static char *honest_signature(void)
{
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    char *sig = strdup(strrchr(tok, '.') + 1);
    free(tok);
    assert_non_null(sig);
    return sig;
}

/* ---- init and free ------------------------------------------------------- */

static void test_init_refuses_empty_secret(void **state)
{
    (void)state;
    struct fs_auth a;
    assert_int_equal(fs_auth_init(&a, "", 0), -1);
    assert_null(a.hmac);
    assert_int_equal(fs_auth_init(&a, NULL, 5), -1);
}

static void test_free_releases_secret_and_tolerates_second_call(void **state)
{
    (void)state;
    struct fs_auth a;
    assert_int_equal(fs_auth_init(&a, "k", 1), 0);
    assert_non_null(a.hmac);
    fs_auth_free(&a);
    assert_null(a.hmac);
    fs_auth_free(&a);
}

/* ---- what is accepted ---------------------------------------------------- */

static void test_minted_token_verifies_and_yields_subject(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1];
    char *tok = fs_auth_mint(&auth, "alice@example.com", NOW, 60);

    assert_non_null(tok);
    assert_int_equal(verify_as("Bearer ", tok, user), FS_AUTH_OK);
    assert_string_equal(user, "alice@example.com");
    free(tok);
}

static void test_minted_token_carries_iat_and_exp(void **state)
{
    (void)state;
    char *tok = fs_auth_mint(&auth, "bob", NOW, 300);
    jwt_t *jwt = NULL;

    assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)SECRET,
                                (int)strlen(SECRET)), 0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
    assert_int_equal(jwt_get_grant_int(jwt, "iat"), NOW);
    assert_int_equal(jwt_get_grant_int(jwt, "exp"), NOW + 300);
    assert_string_equal(jwt_get_grant(jwt, "sub"), "bob");
    jwt_free(jwt);
    free(tok);
}

static void test_minted_token_expires_after_ttl(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1];
    char *tok = fs_auth_mint(&auth, "carol", NOW - 60, 60);

    assert_non_null(tok);
    assert_int_equal(verify_as("Bearer ", tok, user), FS_AUTH_EXPIRED);
    free(tok);
}

static void test_mint_refuses_invalid_user_or_ttl(void **state)
{
    (void)state;
    assert_null(fs_auth_mint(&auth, "", NOW, 60));
    assert_null(fs_auth_mint(&auth, "has space", NOW, 60));
    assert_null(fs_auth_mint(&auth, NULL, NOW, 60));
    assert_null(fs_auth_mint(&auth, "dave", NOW, 0));
    assert_null(fs_auth_mint(&auth, "dave", NOW, -5));
}

static void test_bearer_scheme_is_case_insensitive(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1];
    char *tok = fs_auth_mint(&auth, "erin", NOW, 60);

    assert_int_equal(verify_as("bearer ", tok, user), FS_AUTH_OK);
    assert_int_equal(verify_as("BEARER ", tok, user), FS_AUTH_OK);
    assert_int_equal(verify_as("BeArEr ", tok, user), FS_AUTH_OK);
    assert_string_equal(user, "erin");
    free(tok);
}

static void test_several_spaces_after_scheme_are_accepted(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1];
    char *tok = fs_auth_mint(&auth, "frank", NOW, 60);

    assert_int_equal(verify_as("Bearer    ", tok, user), FS_AUTH_OK);
    assert_string_equal(user, "frank");
    free(tok);
}

static void test_whitespace_around_the_value_is_ignored(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1];
    char *tok = fs_auth_mint(&auth, "grace", NOW, 60);
    char header[FS_AUTH_TOKEN_MAX + 32];

    snprintf(header, sizeof(header), " \tBearer %s \t ", tok);
    assert_int_equal(fs_auth_verify_header(&auth, header, NOW, user),
                     FS_AUTH_OK);
    assert_string_equal(user, "grace");
    free(tok);
}

static void test_token_without_exp_is_accepted(void **state)
{
    (void)state;
    assert_int_equal(verify_claims("{\"sub\":\"heidi\"}"), FS_AUTH_OK);
}

static void test_exp_one_second_ahead_is_accepted(void **state)
{
    (void)state;
    char claims[128];
    snprintf(claims, sizeof(claims), "{\"sub\":\"ivan\",\"exp\":%lld}",
             (long long)(NOW + 1));
    assert_int_equal(verify_claims(claims), FS_AUTH_OK);
}

static void test_subject_of_exactly_max_length_is_accepted(void **state)
{
    (void)state;
    char sub[FS_USER_MAX + 1], claims[FS_USER_MAX + 32], user[FS_USER_MAX + 1];

    memset(sub, 'u', FS_USER_MAX);
    sub[FS_USER_MAX] = '\0';
    snprintf(claims, sizeof(claims), "{\"sub\":\"%s\"}", sub);
    char *tok = signed_token(JWT_ALG_HS256, SECRET, claims);
    assert_int_equal(verify_as("Bearer ", tok, user), FS_AUTH_OK);
    assert_string_equal(user, sub);
    free(tok);
}

static void test_token_just_under_size_limit_is_accepted(void **state)
{
    (void)state;
    char pad[2900], claims[3000];

    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(claims, sizeof(claims), "{\"sub\":\"judy\",\"pad\":\"%s\"}", pad);
    char *tok = signed_token(JWT_ALG_HS256, SECRET, claims);
    assert_true(strlen(tok) <= FS_AUTH_TOKEN_MAX);
    assert_true(strlen(tok) > FS_AUTH_TOKEN_MAX - 200);
    assert_int_equal(verify(tok), FS_AUTH_OK);
    free(tok);
}

/* ---- the Authorization header itself ------------------------------------- */

static void test_missing_or_non_bearer_header_is_missing(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1] = "stale";
    const char *headers[] = {"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer\tabc",
                             "Bearerabc.def.ghi", "Token abc.def.ghi",
                             "   "};

    assert_int_equal(fs_auth_verify_header(&auth, NULL, NOW, user),
                     FS_AUTH_MISSING);
    assert_string_equal(user, "");
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        assert_int_equal(fs_auth_verify_header(&auth, headers[i], NOW, user),
                         FS_AUTH_MISSING);
}

static void test_empty_token_after_scheme_is_malformed(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1];
    assert_int_equal(fs_auth_verify_header(&auth, "Bearer ", NOW, user),
                     FS_AUTH_MALFORMED);
    assert_int_equal(fs_auth_verify_header(&auth, "Bearer     ", NOW, user),
                     FS_AUTH_MALFORMED);
}

static void test_garbage_tokens_are_malformed(void **state)
{
    (void)state;
    const char *garbage[] = {
        "x", "...", "a.b", "a.b.c.d", "abc..", ".abc.def", "e30.e30.e30.",
        "not a jwt", "eyJhbGciOiJIUzI1NiJ9.%%%.sig", "a=.b=.c=",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig extra", "\x01\x02\x03",
        "eyJhbGciOiJIUzI1NiJ9.@@@@.AAAA", "eyJ.eyJ.AAAA", "A.A.A",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        enum fs_auth_result r = verify(garbage[i]);
        if (r != FS_AUTH_MALFORMED)
            fail_msg("'%s' gave %d, expected malformed", garbage[i], r);
    }
}

static void test_header_or_payload_that_is_not_an_object_is_malformed(
    void **state)
{
    (void)state;
    assert_int_equal(verify_raw("[\"HS256\"]", "{\"sub\":\"a\"}", "AAAA"),
                     FS_AUTH_MALFORMED);
    assert_int_equal(verify_raw("\"HS256\"", "{\"sub\":\"a\"}", "AAAA"),
                     FS_AUTH_MALFORMED);
    assert_int_equal(verify_raw(HS256_HEADER, "\"alice\"", "AAAA"),
                     FS_AUTH_MALFORMED);
    assert_int_equal(verify_raw(HS256_HEADER, "{\"sub\":", "AAAA"),
                     FS_AUTH_MALFORMED);
}

static void test_token_longer_than_max_is_malformed(void **state)
{
    (void)state;
    char pad[4000], claims[4100];

    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(claims, sizeof(claims), "{\"sub\":\"kim\",\"pad\":\"%s\"}", pad);
    char *tok = signed_token(JWT_ALG_HS256, SECRET, claims);
    assert_true(strlen(tok) > FS_AUTH_TOKEN_MAX);
    assert_int_equal(verify(tok), FS_AUTH_MALFORMED);
    free(tok);
}

/* ---- forged algorithms --------------------------------------------------- */

static void test_alg_none_without_signature_is_refused(void **state)
{
    (void)state;
    assert_int_equal(verify_raw("{\"alg\":\"none\"}", "{\"sub\":\"mallory\"}",
                                ""), FS_AUTH_BAD_ALG);
    assert_int_equal(verify_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}",
                                "{\"sub\":\"mallory\"}", ""), FS_AUTH_BAD_ALG);
}

static void test_alg_none_with_a_signature_is_refused(void **state)
{
    (void)state;
    char *sig = honest_signature();
    assert_int_equal(verify_raw("{\"alg\":\"none\"}", "{\"sub\":\"mallory\"}",
                                sig), FS_AUTH_BAD_ALG);
    free(sig);
}

static void test_alg_none_spelled_otherwise_is_refused(void **state)
{
    (void)state;
    const char *headers[] = {"{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                             "{\"alg\":\"nOnE\"}", "{\"alg\":\"\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        assert_int_equal(verify_raw(headers[i], "{\"sub\":\"mallory\"}", ""),
                         FS_AUTH_BAD_ALG);
}

/* libjwt 1.10 verifies with whatever HMAC the header names: an HS384 or
 * HS512 token made with our own secret must still be refused. */
static void test_hs384_signed_with_our_secret_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS384, SECRET, "{\"sub\":\"mallory\"}");
    assert_int_equal(verify(tok), FS_AUTH_BAD_ALG);
    free(tok);
}

static void test_hs512_signed_with_our_secret_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS512, SECRET, "{\"sub\":\"mallory\"}");
    assert_int_equal(verify(tok), FS_AUTH_BAD_ALG);
    free(tok);
}

static void test_rs256_header_is_refused(void **state)
{
    (void)state;
    char *sig = honest_signature();
    assert_int_equal(verify_raw("{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
                                "{\"sub\":\"mallory\"}", sig),
                     FS_AUTH_BAD_ALG);
    free(sig);
}

/* RFC 7515: alg values are case-sensitive; libjwt compares with strcasecmp. */
static void test_lowercase_hs256_is_refused(void **state)
{
    (void)state;
    char *sig = honest_signature();
    assert_int_equal(verify_raw("{\"alg\":\"hs256\"}", "{\"sub\":\"alice\"}",
                                sig), FS_AUTH_BAD_ALG);
    free(sig);
}

static void test_missing_or_non_string_alg_is_refused(void **state)
{
    (void)state;
    assert_int_equal(verify_raw("{\"typ\":\"JWT\"}", "{\"sub\":\"a\"}", "AAAA"),
                     FS_AUTH_BAD_ALG);
    assert_int_equal(verify_raw("{\"alg\":1}", "{\"sub\":\"a\"}", "AAAA"),
                     FS_AUTH_BAD_ALG);
    assert_int_equal(verify_raw("{\"alg\":[\"HS256\"]}", "{\"sub\":\"a\"}",
                                "AAAA"), FS_AUTH_BAD_ALG);
}

/* Two "alg" keys would let two parsers read two algorithms. */
static void test_duplicate_alg_in_header_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(verify_raw("{\"alg\":\"HS256\",\"alg\":\"none\"}",
                                "{\"sub\":\"a\"}", ""), FS_AUTH_MALFORMED);
    assert_int_equal(verify_raw("{\"alg\":\"none\",\"alg\":\"HS256\"}",
                                "{\"sub\":\"a\"}", "AAAA"), FS_AUTH_MALFORMED);
}

/* ---- forged signatures --------------------------------------------------- */

static void test_token_signed_with_another_secret_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, "another-secret-entirely",
                             "{\"sub\":\"alice\"}");
    assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
    free(tok);
}

static void test_tampered_payload_is_refused(void **state)
{
    (void)state;
    char *sig = honest_signature();  /* signed over sub alice */
    assert_int_equal(verify_raw(HS256_HEADER, "{\"sub\":\"mallory\"}", sig),
                     FS_AUTH_BAD_SIGNATURE);
    free(sig);
}

static void test_hs256_token_without_signature_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    strrchr(tok, '.')[1] = '\0';
    assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
    free(tok);
}

static void test_altered_signature_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    char *sig = strrchr(tok, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
    free(tok);
}

static void test_auth_without_secret_refuses_everything(void **state)
{
    (void)state;
    struct fs_auth none = {0};
    char user[FS_USER_MAX + 1];
    char *tok = fs_auth_mint(&auth, "alice", NOW, 60);

    assert_null(fs_auth_mint(&none, "alice", NOW, 60));
    size_t len = strlen(tok) + 8;
    char *header = malloc(len);
    assert_non_null(header);
    snprintf(header, len, "Bearer %s", tok);
    /* No secret: HS256 is not in the allow-list at all. */
    assert_int_equal(fs_auth_verify_header(&none, header, NOW, user),
                     FS_AUTH_BAD_ALG);
    free(header);
    free(tok);
}

/* The bytes of tok's signature segment, as base64url decodes them. */
static size_t signature_bytes(const char *tok, unsigned char mac[64])
{
    const char *sig = strrchr(tok, '.') + 1;
    long n = fs_base64_decode(FS_BASE64_URL, sig, strlen(sig), mac, 64);
    assert_true(n > 0);
    return (size_t)n;
}

/* tok with its signature segment replaced by the base64url of mac[0..n). */
static char *with_signature(const char *tok, const unsigned char *mac,
                            size_t n)
{
    const char *sig = strrchr(tok, '.') + 1;
    char *new_sig = fx_b64url((const char *)mac, n);
    size_t head_len = (size_t)(sig - tok);
    char *out = malloc(head_len + strlen(new_sig) + 1);

    assert_non_null(out);
    memcpy(out, tok, head_len);
    strcpy(out + head_len, new_sig);
    free(new_sig);
    return out;
}

static void test_signature_differing_in_the_last_byte_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    unsigned char mac[64];
    size_t n = signature_bytes(tok, mac);

    assert_int_equal(n, 32);
    mac[n - 1] ^= 0x01;
    char *forged = with_signature(tok, mac, n);
    assert_int_equal(verify(tok), FS_AUTH_OK);
    assert_int_equal(verify(forged), FS_AUTH_BAD_SIGNATURE);
    free(forged);
    free(tok);
}

/* The right 32 bytes with one more after them, or without their last. */
static void test_signature_of_the_wrong_length_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    unsigned char mac[64];
    size_t n = signature_bytes(tok, mac);

    for (size_t len = 1; len <= 48; len++) {
        if (len == n)
            continue;
        mac[n] = 0;  /* what an extra byte holds */
        char *forged = with_signature(tok, mac, len);
        enum fs_auth_result r = verify(forged);
        if (r != FS_AUTH_BAD_SIGNATURE)
            fail_msg("a %zu-byte signature gave %d", len, r);
        free(forged);
    }
    free(tok);
}

/* Lengths no base64url text of whole bytes can have. */
static void test_signature_of_impossible_length_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    size_t len = strlen(tok);
    char *longer = malloc(len + 8);

    assert_non_null(longer);
    snprintf(longer, len + 8, "%sAA", tok);  /* 45 characters */
    assert_int_equal(verify(longer), FS_AUTH_BAD_SIGNATURE);
    tok[len - 2] = '\0';                     /* 41 characters */
    assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
    free(longer);
    free(tok);
}

/* Base64url has one spelling per value: the last character of a 32-byte
 * signature carries 4 bits and 2 zero bits; setting those is refused. */
static void test_second_spelling_of_a_good_signature_is_refused(void **state)
{
    (void)state;
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    char *last = tok + strlen(tok) - 1;
    int v = (int)(strchr(abc, *last) - abc);

    assert_int_equal(v & 3, 0);
    *last = abc[v | 1];
    assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
    free(tok);
}

static void test_token_signed_with_a_key_one_byte_shorter_is_refused(
    void **state)
{
    (void)state;
    char shorter[] = SECRET;
    shorter[sizeof(shorter) - 2] = '\0';
    char *tok = signed_token(JWT_ALG_HS256, shorter, "{\"sub\":\"alice\"}");
    assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
    free(tok);
    tok = signed_token(JWT_ALG_HS256, SECRET "x", "{\"sub\":\"alice\"}");
    assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
    free(tok);
}

/* The header is signed too: changing it keeps nothing of the signature. */
static void test_tampered_header_is_refused(void **state)
{
    (void)state;
    char *sig = honest_signature();  /* over the libjwt header, sub alice */
    assert_int_equal(verify_raw("{\"alg\":\"HS256\"}", "{\"sub\":\"alice\"}",
                                sig), FS_AUTH_BAD_SIGNATURE);
    free(sig);
}

/* RFC 7515: base64url without padding. '=' anywhere is not a token. */
static void test_base64_padding_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char padded[FS_AUTH_TOKEN_MAX];

    snprintf(padded, sizeof(padded), "%s=", tok);
    assert_int_equal(verify(padded), FS_AUTH_MALFORMED);
    snprintf(padded, sizeof(padded), "%s==", tok);
    assert_int_equal(verify(padded), FS_AUTH_MALFORMED);
    snprintf(padded, sizeof(padded), "%.*s=%s", (int)(dot1 - tok), tok, dot1);
    assert_int_equal(verify(padded), FS_AUTH_MALFORMED);
    snprintf(padded, sizeof(padded), "%.*s=%s", (int)(dot2 - tok), tok, dot2);
    assert_int_equal(verify(padded), FS_AUTH_MALFORMED);
    free(tok);
}

/* The standard alphabet's + and / are not base64url. */
static void test_standard_base64_alphabet_is_refused(void **state)
{
    (void)state;
    char *tok = signed_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}");
    char *sig = strrchr(tok, '.') + 1;

    sig[0] = '+';
    assert_int_equal(verify(tok), FS_AUTH_MALFORMED);
    sig[0] = '/';
    assert_int_equal(verify(tok), FS_AUTH_MALFORMED);
    free(tok);
}

/* ---- typ ----------------------------------------------------------------- */

static void test_typ_jwt_in_any_case_or_absent_is_accepted(void **state)
{
    (void)state;
    const char *headers[] = {"{\"alg\":\"HS256\"}",
                             "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                             "{\"typ\":\"jwt\",\"alg\":\"HS256\"}",
                             "{\"alg\":\"HS256\",\"typ\":\"Jwt\",\"kid\":\"1\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *tok = hs256_token(headers[i], "{\"sub\":\"alice\"}", SECRET);
        enum fs_auth_result r = verify(tok);
        if (r != FS_AUTH_OK)
            fail_msg("header %s gave %d, expected OK", headers[i], r);
        free(tok);
    }
}

/* libjwt refused another typ; so do we, and a typ that is not a string. */
static void test_typ_other_than_jwt_is_refused(void **state)
{
    (void)state;
    const char *headers[] = {"{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
                             "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
                             "{\"alg\":\"HS256\",\"typ\":\"\"}",
                             "{\"alg\":\"HS256\",\"typ\":1}",
                             "{\"alg\":\"HS256\",\"typ\":null}",
                             "{\"alg\":\"HS256\",\"typ\":[\"JWT\"]}",
                             "{\"alg\":\"HS256\",\"typ\":\"JWT\\u0000x\"}",
                             "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"x\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *tok = hs256_token(headers[i], "{\"sub\":\"alice\"}", SECRET);
        enum fs_auth_result r = verify(tok);
        if (r != FS_AUTH_MALFORMED)
            fail_msg("header %s gave %d, expected malformed", headers[i], r);
        free(tok);
    }
}

/* ---- minting ------------------------------------------------------------- */

static void test_minted_token_has_the_hs256_jwt_header(void **state)
{
    (void)state;
    char *tok = fs_auth_mint(&auth, "alice", NOW, 60);
    unsigned char header[128];

    assert_non_null(tok);
    long n = fs_base64_decode(FS_BASE64_URL, tok, (size_t)(strchr(tok, '.') - tok),
                              header, sizeof(header) - 1);
    assert_true(n > 0);
    header[n] = '\0';
    assert_string_equal((const char *)header,
                        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    free(tok);
}

/* libjwt, independent of auth.c, accepts it with our secret
 * (test_minted_token_carries_iat_and_exp) and only with it. */
static void test_minted_token_fails_libjwt_under_another_key(void **state)
{
    (void)state;
    static const char other[] = "another-secret-entirely";
    char *tok = fs_auth_mint(&auth, "bob", NOW, 300);
    jwt_t *jwt = NULL;

    assert_non_null(tok);
    assert_int_not_equal(jwt_decode(&jwt, tok, (const unsigned char *)other,
                                    (int)strlen(other)), 0);
    assert_null(jwt);
    free(tok);
}

/* ---- threads ------------------------------------------------------------- */

#define VERIFY_THREADS 4
#define VERIFIES_PER_THREAD 500

struct verifier {
    const char *header;
    int accepted;
};

static void *verify_many(void *arg)
{
    struct verifier *v = arg;
    char user[FS_USER_MAX + 1];
    for (int i = 0; i < VERIFIES_PER_THREAD; i++)
        if (fs_auth_verify_header(&auth, v->header, NOW, user) == FS_AUTH_OK &&
            strcmp(user, "zoe") == 0)
            v->accepted++;
    return NULL;
}

/* One auth serves every HTTP worker thread: no shared state may be
 * written while verifying. */
static void test_many_threads_verify_with_one_auth(void **state)
{
    (void)state;
    char *tok = fs_auth_mint(&auth, "zoe", NOW, 60);
    char header[FS_AUTH_TOKEN_MAX + 16];
    struct verifier v[VERIFY_THREADS];
    pthread_t t[VERIFY_THREADS];

    snprintf(header, sizeof(header), "Bearer %s", tok);
    for (int i = 0; i < VERIFY_THREADS; i++) {
        v[i] = (struct verifier){.header = header, .accepted = 0};
        assert_int_equal(pthread_create(&t[i], NULL, verify_many, &v[i]), 0);
    }
    for (int i = 0; i < VERIFY_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(v[i].accepted, VERIFIES_PER_THREAD);
    }
    free(tok);
}

/* ---- exp ----------------------------------------------------------------- */

static void test_exp_equal_to_now_is_expired(void **state)
{
    (void)state;
    char claims[128];
    snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%lld}",
             (long long)NOW);
    assert_int_equal(verify_claims(claims), FS_AUTH_EXPIRED);
}

static void test_exp_in_the_past_is_expired(void **state)
{
    (void)state;
    assert_int_equal(verify_claims("{\"sub\":\"a\",\"exp\":1}"),
                     FS_AUTH_EXPIRED);
    assert_int_equal(verify_claims("{\"sub\":\"a\",\"exp\":-5}"),
                     FS_AUTH_EXPIRED);
}

/* libjwt's jwt_get_grant_int() reads these as 0 or garbage without error. */
static void test_exp_that_is_not_an_integer_is_malformed(void **state)
{
    (void)state;
    const char *claims[] = {
        "{\"sub\":\"a\",\"exp\":\"9999999999\"}",
        "{\"sub\":\"a\",\"exp\":9999999999.5}",
        "{\"sub\":\"a\",\"exp\":true}",
        "{\"sub\":\"a\",\"exp\":null}",
        "{\"sub\":\"a\",\"exp\":[9999999999]}",
    };
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
        assert_int_equal(verify_claims(claims[i]), FS_AUTH_MALFORMED);
}

/* ---- sub ----------------------------------------------------------------- */

static void test_missing_or_empty_sub_is_refused(void **state)
{
    (void)state;
    assert_int_equal(verify_claims("{\"name\":\"alice\"}"), FS_AUTH_NO_SUBJECT);
    assert_int_equal(verify_claims("{\"sub\":\"\"}"), FS_AUTH_NO_SUBJECT);
}

static void test_sub_longer_than_max_is_refused(void **state)
{
    (void)state;
    char sub[FS_USER_MAX + 2], claims[FS_USER_MAX + 32];

    memset(sub, 'u', FS_USER_MAX + 1);
    sub[FS_USER_MAX + 1] = '\0';
    snprintf(claims, sizeof(claims), "{\"sub\":\"%s\"}", sub);
    assert_int_equal(verify_claims(claims), FS_AUTH_NO_SUBJECT);
}

static void test_non_printable_sub_is_refused(void **state)
{
    (void)state;
    const char *claims[] = {
        "{\"sub\":\"al ice\"}", "{\"sub\":\"al\\tice\"}",
        "{\"sub\":\"alice\\n\"}", "{\"sub\":\"al\\u007fice\"}",
        "{\"sub\":\"al\\u00e9ce\"}", "{\"sub\":\"\\u001b[31m\"}",
    };
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
        assert_int_equal(verify_claims(claims[i]), FS_AUTH_NO_SUBJECT);
}

static void test_sub_with_embedded_nul_is_refused(void **state)
{
    (void)state;
    char *sig = honest_signature();
    enum fs_auth_result r = verify_raw(HS256_HEADER,
                                       "{\"sub\":\"alice\\u0000admin\"}", sig);
    assert_int_not_equal(r, FS_AUTH_OK);
    free(sig);
}

static void test_sub_that_is_not_a_string_is_refused(void **state)
{
    (void)state;
    assert_int_equal(verify_claims("{\"sub\":42}"), FS_AUTH_NO_SUBJECT);
    assert_int_equal(verify_claims("{\"sub\":[\"alice\"]}"),
                     FS_AUTH_NO_SUBJECT);
    assert_int_equal(verify_claims("{\"sub\":{\"id\":\"alice\"}}"),
                     FS_AUTH_NO_SUBJECT);
    assert_int_equal(verify_claims("{\"sub\":null}"), FS_AUTH_NO_SUBJECT);
}

static void test_duplicate_sub_in_payload_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(verify_raw(HS256_HEADER,
                                "{\"sub\":\"alice\",\"sub\":\"admin\"}", "AAAA"),
                     FS_AUTH_MALFORMED);
}

static void test_user_is_cleared_when_refused(void **state)
{
    (void)state;
    char user[FS_USER_MAX + 1] = "previous";
    char *tok = signed_token(JWT_ALG_HS256, SECRET,
                             "{\"sub\":\"a\",\"exp\":1}");
    assert_int_equal(verify_as("Bearer ", tok, user), FS_AUTH_EXPIRED);
    assert_string_equal(user, "");
    free(tok);
}

/* ---- helpers ------------------------------------------------------------- */

static void test_user_id_valid_follows_the_header_rules(void **state)
{
    (void)state;
    char max[FS_USER_MAX + 2];

    assert_true(fs_user_id_valid("a"));
    assert_true(fs_user_id_valid("user-42@example.com"));
    assert_true(fs_user_id_valid("!~{}|"));
    assert_false(fs_user_id_valid(NULL));
    assert_false(fs_user_id_valid(""));
    assert_false(fs_user_id_valid("a b"));
    assert_false(fs_user_id_valid("a\tb"));
    assert_false(fs_user_id_valid("a\x7f"));
    assert_false(fs_user_id_valid("caf\xc3\xa9"));
    memset(max, 'x', FS_USER_MAX);
    max[FS_USER_MAX] = '\0';
    assert_true(fs_user_id_valid(max));
    max[FS_USER_MAX] = 'x';
    max[FS_USER_MAX + 1] = '\0';
    assert_false(fs_user_id_valid(max));
}

static void test_result_text_names_every_result(void **state)
{
    (void)state;
    for (int r = FS_AUTH_OK; r <= FS_AUTH_NO_SUBJECT; r++) {
        const char *text = fs_auth_result_text((enum fs_auth_result)r);
        assert_non_null(text);
        assert_true(strlen(text) > 0);
    }
    assert_string_not_equal(fs_auth_result_text(FS_AUTH_EXPIRED),
                            fs_auth_result_text(FS_AUTH_BAD_SIGNATURE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_refuses_empty_secret),
        cmocka_unit_test(test_free_releases_secret_and_tolerates_second_call),
        cmocka_unit_test(test_minted_token_verifies_and_yields_subject),
        cmocka_unit_test(test_minted_token_carries_iat_and_exp),
        cmocka_unit_test(test_minted_token_expires_after_ttl),
        cmocka_unit_test(test_mint_refuses_invalid_user_or_ttl),
        cmocka_unit_test(test_bearer_scheme_is_case_insensitive),
        cmocka_unit_test(test_several_spaces_after_scheme_are_accepted),
        cmocka_unit_test(test_whitespace_around_the_value_is_ignored),
        cmocka_unit_test(test_token_without_exp_is_accepted),
        cmocka_unit_test(test_exp_one_second_ahead_is_accepted),
        cmocka_unit_test(test_subject_of_exactly_max_length_is_accepted),
        cmocka_unit_test(test_token_just_under_size_limit_is_accepted),
        cmocka_unit_test(test_missing_or_non_bearer_header_is_missing),
        cmocka_unit_test(test_empty_token_after_scheme_is_malformed),
        cmocka_unit_test(test_garbage_tokens_are_malformed),
        cmocka_unit_test(test_header_or_payload_that_is_not_an_object_is_malformed),
        cmocka_unit_test(test_token_longer_than_max_is_malformed),
        cmocka_unit_test(test_alg_none_without_signature_is_refused),
        cmocka_unit_test(test_alg_none_with_a_signature_is_refused),
        cmocka_unit_test(test_alg_none_spelled_otherwise_is_refused),
        cmocka_unit_test(test_hs384_signed_with_our_secret_is_refused),
        cmocka_unit_test(test_hs512_signed_with_our_secret_is_refused),
        cmocka_unit_test(test_rs256_header_is_refused),
        cmocka_unit_test(test_lowercase_hs256_is_refused),
        cmocka_unit_test(test_missing_or_non_string_alg_is_refused),
        cmocka_unit_test(test_duplicate_alg_in_header_is_malformed),
        cmocka_unit_test(test_token_signed_with_another_secret_is_refused),
        cmocka_unit_test(test_tampered_payload_is_refused),
        cmocka_unit_test(test_hs256_token_without_signature_is_refused),
        cmocka_unit_test(test_altered_signature_is_refused),
        cmocka_unit_test(test_auth_without_secret_refuses_everything),
        cmocka_unit_test(test_signature_differing_in_the_last_byte_is_refused),
        cmocka_unit_test(test_signature_of_the_wrong_length_is_refused),
        cmocka_unit_test(test_signature_of_impossible_length_is_refused),
        cmocka_unit_test(test_second_spelling_of_a_good_signature_is_refused),
        cmocka_unit_test(test_token_signed_with_a_key_one_byte_shorter_is_refused),
        cmocka_unit_test(test_tampered_header_is_refused),
        cmocka_unit_test(test_base64_padding_is_refused),
        cmocka_unit_test(test_standard_base64_alphabet_is_refused),
        cmocka_unit_test(test_typ_jwt_in_any_case_or_absent_is_accepted),
        cmocka_unit_test(test_typ_other_than_jwt_is_refused),
        cmocka_unit_test(test_minted_token_has_the_hs256_jwt_header),
        cmocka_unit_test(test_minted_token_fails_libjwt_under_another_key),
        cmocka_unit_test(test_many_threads_verify_with_one_auth),
        cmocka_unit_test(test_exp_equal_to_now_is_expired),
        cmocka_unit_test(test_exp_in_the_past_is_expired),
        cmocka_unit_test(test_exp_that_is_not_an_integer_is_malformed),
        cmocka_unit_test(test_missing_or_empty_sub_is_refused),
        cmocka_unit_test(test_sub_longer_than_max_is_refused),
        cmocka_unit_test(test_non_printable_sub_is_refused),
        cmocka_unit_test(test_sub_with_embedded_nul_is_refused),
        cmocka_unit_test(test_sub_that_is_not_a_string_is_refused),
        cmocka_unit_test(test_duplicate_sub_in_payload_is_malformed),
        cmocka_unit_test(test_user_is_cleared_when_refused),
        cmocka_unit_test(test_user_id_valid_follows_the_header_rules),
        cmocka_unit_test(test_result_text_names_every_result),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
