/*
 * test_auth_jwks.c - src/auth.c with an identity provider's keys: RS256,
 * ES256 and EdDSA tokens signed here with OpenSSL (tests/unit/
 * jwk_fixture.c) are accepted, and every forgery the issue names is
 * refused: a bad signature, an unknown key, an algorithm outside the list,
 * `alg: none`, an HS256 token keyed with the RSA public key (algorithm
 * confusion), a wrong iss or aud, exp past or nbf ahead beyond the leeway.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "auth.h"
#include "jwk_fixture.h"
#include "jwks_fetch.h"

#define NOW ((int64_t)1800000000)
#define SECRET "0123456789abcdef-test-secret"
#define ISSUER "https://idp.test/realms/shop"
#define AUDIENCE "flashsaled"
#define LEEWAY 30
#define ALL_ASYMMETRIC (FS_JWT_RS256 | FS_JWT_ES256 | FS_JWT_EDDSA)

static EVP_PKEY *rsa, *ec, *ed, *stranger;
static char dir[] = "/tmp/fs-auth-jwks-XXXXXX";
static char path[256];

static int setup(void **state)
{
    (void)state;
    rsa = fx_key_new(FS_JWT_RS256, 2048);
    ec = fx_key_new(FS_JWT_ES256, 0);
    ed = fx_key_new(FS_JWT_EDDSA, 0);
    stranger = fx_key_new(FS_JWT_ES256, 0);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/jwks.json", dir);
    char *jwks[] = {fx_jwk(rsa, FS_JWT_RS256, "rsa-1", NULL),
                    fx_jwk(ec, FS_JWT_ES256, "ec-1", NULL),
                    fx_jwk(ed, FS_JWT_EDDSA, "ed-1", NULL)};
    char *doc = fx_jwks(3, jwks);
    fx_write_file(path, doc);
    free(doc);
    for (size_t i = 0; i < 3; i++)
        free(jwks[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(stranger);
    unlink(path);
    rmdir(dir);
    return 0;
}

/* An auth with the JWKS file and the given allow-list, and the HS256
 * secret when `secret` is set. */
static void auth_with(struct fs_auth *auth, unsigned algorithms, int secret)
{
    const struct fs_jwks_source_config cfg = {
        .file = path, .refresh_s = 300, .min_interval_s = 10};
    char err[512];

    if (secret)
        assert_int_equal(fs_auth_init(auth, SECRET, strlen(SECRET)), 0);
    else
        memset(auth, 0, sizeof(*auth));
    struct fs_jwks_source *src = fs_jwks_source_create(&cfg, err, sizeof(err));
    assert_non_null(src);
    assert_int_equal(fs_auth_use_jwks(auth, src, algorithms, ISSUER, AUDIENCE,
                                      LEEWAY), 0);
}

static enum fs_auth_result verify_with(const struct fs_auth *auth,
                                       const char *token, char *user)
{
    size_t len = strlen(token) + 8;
    char *header = malloc(len);
    assert_non_null(header);
    snprintf(header, len, "Bearer %s", token);
    enum fs_auth_result r = fs_auth_verify_header(auth, header, NOW, user);
    free(header);
    return r;
}

static enum fs_auth_result verify(const char *token)
{
    struct fs_auth auth;
    char user[FS_USER_MAX + 1];
    auth_with(&auth, ALL_ASYMMETRIC, 0);
    enum fs_auth_result r = verify_with(&auth, token, user);
    fs_auth_free(&auth);
    return r;
}

static char *header_of(const char *alg, const char *kid)
{
    char *out = NULL;
    assert_true(asprintf(&out, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                         alg, kid) > 0);
    return out;
}

/* Claims an IdP would issue: iss, aud, exp an hour ahead, sub. */
static char *claims_with(const char *extra)
{
    char *out = NULL;
    assert_true(asprintf(&out, "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE
                         "\",\"sub\":\"alice\",\"exp\":%lld%s%s}",
                         (long long)NOW + 3600, extra ? "," : "",
                         extra ? extra : "") > 0);
    return out;
}

/* A token signed honestly by key for alg, header naming kid. */
static char *token(EVP_PKEY *key, unsigned alg, const char *kid,
                   const char *claims)
{
    char *h = header_of(fs_jwt_alg_name(alg), kid);
    char *tok = fx_sign(key, alg, h, claims);
    free(h);
    return tok;
}

static enum fs_auth_result verify_signed(EVP_PKEY *key, unsigned alg,
                                         const char *kid, const char *claims)
{
    char *tok = token(key, alg, kid, claims);
    enum fs_auth_result r = verify(tok);
    free(tok);
    return r;
}

/* Claims that differ from claims_with: exactly as given. */
static enum fs_auth_result verify_claims(const char *claims)
{
    return verify_signed(ec, FS_JWT_ES256, "ec-1", claims);
}

/* ---- accepted ------------------------------------------------------------ */

static void test_rs256_es256_and_eddsa_tokens_are_accepted(void **state)
{
    (void)state;
    struct fs_auth auth;
    char user[FS_USER_MAX + 1];
    char *claims = claims_with(NULL);
    struct { EVP_PKEY *key; unsigned alg; const char *kid; } cases[] = {
        {rsa, FS_JWT_RS256, "rsa-1"},
        {ec, FS_JWT_ES256, "ec-1"},
        {ed, FS_JWT_EDDSA, "ed-1"},
    };

    auth_with(&auth, ALL_ASYMMETRIC, 0);
    for (size_t i = 0; i < 3; i++) {
        char *tok = token(cases[i].key, cases[i].alg, cases[i].kid, claims);
        assert_int_equal(verify_with(&auth, tok, user), FS_AUTH_OK);
        assert_string_equal(user, "alice");
        free(tok);
    }
    fs_auth_free(&auth);
    free(claims);
}

static void test_hs256_and_idp_tokens_are_accepted_side_by_side(void **state)
{
    (void)state;
    struct fs_auth auth;
    char user[FS_USER_MAX + 1];
    auth_with(&auth, ALL_ASYMMETRIC, 1);
    char *mine = fs_auth_mint(&auth, "bob", NOW, 60);
    char *claims = claims_with(NULL);
    char *idp = token(ed, FS_JWT_EDDSA, "ed-1", claims);

    assert_int_equal(verify_with(&auth, mine, user), FS_AUTH_OK);
    assert_string_equal(user, "bob");
    assert_int_equal(verify_with(&auth, idp, user), FS_AUTH_OK);
    assert_string_equal(user, "alice");
    free(mine);
    free(idp);
    free(claims);
    fs_auth_free(&auth);
}

static void test_an_hs256_token_is_not_judged_by_its_kid(void **state)
{
    (void)state;
    struct fs_auth auth;
    char user[FS_USER_MAX + 1], header[512], kid[301];
    memset(kid, 'k', 300);
    kid[300] = '\0';
    snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"kid\":\"%s\"}", kid);
    char *tok = fx_sign_hs256(SECRET, strlen(SECRET), header,
                              "{\"sub\":\"carol\"}");

    auth_with(&auth, ALL_ASYMMETRIC, 1);
    assert_int_equal(verify_with(&auth, tok, user), FS_AUTH_OK);
    assert_string_equal(user, "carol");
    fs_auth_free(&auth);
    free(tok);
}

static void test_audience_may_be_a_list_that_contains_ours(void **state)
{
    (void)state;
    char claims[256];
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"" ISSUER "\",\"aud\":[\"other\",\"" AUDIENCE "\"],"
             "\"sub\":\"alice\",\"exp\":%lld}", (long long)NOW + 60);
    assert_int_equal(verify_claims(claims), FS_AUTH_OK);
}

static void test_exp_and_nbf_within_the_leeway_are_accepted(void **state)
{
    (void)state;
    char claims[256];
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"sub\":\"alice\","
             "\"exp\":%lld,\"nbf\":%lld}", (long long)NOW - LEEWAY + 1,
             (long long)NOW + LEEWAY);
    assert_int_equal(verify_claims(claims), FS_AUTH_OK);
}

/* ---- refused ------------------------------------------------------------- */

/* Flips one bit in the middle of the signature segment. */
static void spoil_signature(char *tok)
{
    char *sig = strrchr(tok, '.') + 1;
    char *c = sig + strlen(sig) / 2;
    *c = *c == 'A' ? 'B' : 'A';
}

static void test_a_bad_signature_is_refused_for_every_algorithm(void **state)
{
    (void)state;
    char *claims = claims_with(NULL);
    struct { EVP_PKEY *key; unsigned alg; const char *kid; } cases[] = {
        {rsa, FS_JWT_RS256, "rsa-1"},
        {ec, FS_JWT_ES256, "ec-1"},
        {ed, FS_JWT_EDDSA, "ed-1"},
    };
    for (size_t i = 0; i < 3; i++) {
        char *tok = token(cases[i].key, cases[i].alg, cases[i].kid, claims);
        spoil_signature(tok);
        assert_int_equal(verify(tok), FS_AUTH_BAD_SIGNATURE);
        free(tok);
    }
    free(claims);
}

static void test_a_token_signed_by_another_key_under_our_kid_is_refused(void **state)
{
    (void)state;
    char *claims = claims_with(NULL);
    assert_int_equal(verify_signed(stranger, FS_JWT_ES256, "ec-1", claims),
                     FS_AUTH_BAD_SIGNATURE);
    free(claims);
}

static void test_changed_claims_under_a_good_signature_are_refused(void **state)
{
    (void)state;
    char *claims = claims_with(NULL);
    char *tok = token(rsa, FS_JWT_RS256, "rsa-1", claims);
    char *evil = claims_with("\"admin\":true");
    char *b64 = fx_b64url(evil, strlen(evil));
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char forged[8192];
    snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(dot1 - tok), tok, b64,
             dot2);
    assert_int_equal(verify(forged), FS_AUTH_BAD_SIGNATURE);
    free(b64);
    free(evil);
    free(tok);
    free(claims);
}

static void test_an_es256_signature_not_of_64_bytes_is_refused(void **state)
{
    (void)state;
    /* JWS says r || s, 64 bytes; anything longer (a DER signature is 70 to
     * 72) is not one, even when it starts with a good one. */
    char *claims = claims_with(NULL);
    char *tok = token(ec, FS_JWT_ES256, "ec-1", claims);
    char *sig = strrchr(tok, '.') + 1;
    char padded[8192];
    snprintf(padded, sizeof(padded), "%.*sAAAA", (int)(sig - tok) + (int)strlen(sig), tok);
    assert_int_equal(verify(padded), FS_AUTH_BAD_SIGNATURE);
    free(tok);
    free(claims);
}

static void test_an_unknown_or_missing_kid_is_refused(void **state)
{
    (void)state;
    char *claims = claims_with(NULL);
    assert_int_equal(verify_signed(ec, FS_JWT_ES256, "ec-2", claims),
                     FS_AUTH_UNKNOWN_KEY);
    char *tok = fx_sign(ec, FS_JWT_ES256, "{\"alg\":\"ES256\"}", claims);
    assert_int_equal(verify(tok), FS_AUTH_UNKNOWN_KEY);
    free(tok);
    tok = fx_sign(ec, FS_JWT_ES256, "{\"alg\":\"ES256\",\"kid\":7}", claims);
    assert_int_equal(verify(tok), FS_AUTH_MALFORMED);
    free(tok);
    free(claims);
}

static void test_an_algorithm_outside_the_list_is_refused(void **state)
{
    (void)state;
    struct fs_auth auth;
    char user[FS_USER_MAX + 1];
    char *claims = claims_with(NULL);
    char *es = token(ec, FS_JWT_ES256, "ec-1", claims);
    char *rs = token(rsa, FS_JWT_RS256, "rsa-1", claims);

    auth_with(&auth, FS_JWT_RS256, 0);
    assert_int_equal(verify_with(&auth, es, user), FS_AUTH_BAD_ALG);
    assert_int_equal(verify_with(&auth, rs, user), FS_AUTH_OK);
    fs_auth_free(&auth);
    /* RS512, PS256: names flashsaled does not verify at all. */
    char *h = header_of("PS256", "rsa-1");
    char *ps = fx_sign(rsa, FS_JWT_RS256, h, claims);
    assert_int_equal(verify(ps), FS_AUTH_BAD_ALG);
    free(h);
    free(ps);
    free(es);
    free(rs);
    free(claims);
}

static void test_alg_none_is_refused(void **state)
{
    (void)state;
    char *claims = claims_with(NULL);
    static const char none[] = "{\"alg\":\"none\",\"kid\":\"ec-1\"}";
    char *h = fx_b64url(none, strlen(none));
    char *p = fx_b64url(claims, strlen(claims));
    char tok[4096];

    snprintf(tok, sizeof(tok), "%s.%s.", h, p);
    assert_int_equal(verify(tok), FS_AUTH_BAD_ALG);
    snprintf(tok, sizeof(tok), "%s.%s.AAAA", h, p);
    assert_int_equal(verify(tok), FS_AUTH_BAD_ALG);
    free(h);
    free(p);
    free(claims);
}

static void test_a_key_is_only_used_for_its_own_algorithm(void **state)
{
    (void)state;
    /* An EdDSA token naming the RSA key's kid. */
    char *claims = claims_with(NULL);
    assert_int_equal(verify_signed(ed, FS_JWT_EDDSA, "rsa-1", claims),
                     FS_AUTH_BAD_ALG);
    free(claims);
}

/* The classic forgery: the RSA public key, which anyone can download, used
 * as the HMAC secret of an HS256 token naming its kid. */
static void test_hs256_keyed_with_the_rsa_public_key_is_refused(void **state)
{
    (void)state;
    struct fs_auth auth;
    char user[FS_USER_MAX + 1];
    char *pem = fx_public_pem(rsa);
    char *claims = claims_with(NULL);
    char *h = header_of("HS256", "rsa-1");
    char *tok = fx_sign_hs256(pem, strlen(pem), h, claims);

    /* Without a secret HS256 is not allowed at all... */
    auth_with(&auth, ALL_ASYMMETRIC, 0);
    assert_int_equal(verify_with(&auth, tok, user), FS_AUTH_BAD_ALG);
    fs_auth_free(&auth);
    /* ...and with one, only the secret keys the HMAC. */
    auth_with(&auth, ALL_ASYMMETRIC, 1);
    assert_int_equal(verify_with(&auth, tok, user), FS_AUTH_BAD_SIGNATURE);
    fs_auth_free(&auth);
    free(tok);
    free(h);
    free(claims);
    free(pem);
}

static void test_a_wrong_or_missing_issuer_is_refused(void **state)
{
    (void)state;
    char claims[256];
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"https://evil.test\",\"aud\":\"" AUDIENCE "\","
             "\"sub\":\"alice\",\"exp\":%lld}", (long long)NOW + 60);
    assert_int_equal(verify_claims(claims), FS_AUTH_BAD_ISSUER);
    snprintf(claims, sizeof(claims), "{\"aud\":\"" AUDIENCE "\","
             "\"sub\":\"alice\",\"exp\":%lld}", (long long)NOW + 60);
    assert_int_equal(verify_claims(claims), FS_AUTH_BAD_ISSUER);
    /* A prefix of ours is not ours. */
    snprintf(claims, sizeof(claims), "{\"iss\":\"https://idp.test/realms\","
             "\"aud\":\"" AUDIENCE "\",\"sub\":\"alice\",\"exp\":%lld}",
             (long long)NOW + 60);
    assert_int_equal(verify_claims(claims), FS_AUTH_BAD_ISSUER);
}

static void test_a_wrong_or_missing_audience_is_refused(void **state)
{
    (void)state;
    char claims[256];
    snprintf(claims, sizeof(claims), "{\"iss\":\"" ISSUER "\",\"aud\":\"shop\","
             "\"sub\":\"alice\",\"exp\":%lld}", (long long)NOW + 60);
    assert_int_equal(verify_claims(claims), FS_AUTH_BAD_AUDIENCE);
    snprintf(claims, sizeof(claims), "{\"iss\":\"" ISSUER "\",\"aud\":[\"shop\"],"
             "\"sub\":\"alice\",\"exp\":%lld}", (long long)NOW + 60);
    assert_int_equal(verify_claims(claims), FS_AUTH_BAD_AUDIENCE);
    snprintf(claims, sizeof(claims), "{\"iss\":\"" ISSUER "\","
             "\"sub\":\"alice\",\"exp\":%lld}", (long long)NOW + 60);
    assert_int_equal(verify_claims(claims), FS_AUTH_BAD_AUDIENCE);
}

static void test_exp_past_beyond_the_leeway_is_refused(void **state)
{
    (void)state;
    char claims[256];
    snprintf(claims, sizeof(claims), "{\"iss\":\"" ISSUER "\",\"aud\":\""
             AUDIENCE "\",\"sub\":\"alice\",\"exp\":%lld}",
             (long long)NOW - LEEWAY);
    assert_int_equal(verify_claims(claims), FS_AUTH_EXPIRED);
    snprintf(claims, sizeof(claims), "{\"iss\":\"" ISSUER "\",\"aud\":\""
             AUDIENCE "\",\"sub\":\"alice\"}");
    assert_int_equal(verify_claims(claims), FS_AUTH_NO_EXPIRY);
}

static void test_nbf_ahead_beyond_the_leeway_is_refused(void **state)
{
    (void)state;
    char *claims = NULL;
    char extra[64];
    snprintf(extra, sizeof(extra), "\"nbf\":%lld", (long long)NOW + LEEWAY + 1);
    claims = claims_with(extra);
    assert_int_equal(verify_claims(claims), FS_AUTH_NOT_YET_VALID);
    free(claims);
    claims = claims_with("\"nbf\":\"soon\"");
    assert_int_equal(verify_claims(claims), FS_AUTH_MALFORMED);
    free(claims);
}

static void test_every_refusal_has_its_own_text(void **state)
{
    (void)state;
    assert_non_null(strstr(fs_auth_result_text(FS_AUTH_UNKNOWN_KEY), "kid"));
    assert_non_null(strstr(fs_auth_result_text(FS_AUTH_NOT_YET_VALID), "nbf"));
    assert_non_null(strstr(fs_auth_result_text(FS_AUTH_BAD_ISSUER), "iss"));
    assert_non_null(strstr(fs_auth_result_text(FS_AUTH_BAD_AUDIENCE), "aud"));
    assert_non_null(strstr(fs_auth_result_text(FS_AUTH_NO_EXPIRY), "exp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256_es256_and_eddsa_tokens_are_accepted),
        cmocka_unit_test(test_hs256_and_idp_tokens_are_accepted_side_by_side),
        cmocka_unit_test(test_an_hs256_token_is_not_judged_by_its_kid),
        cmocka_unit_test(test_audience_may_be_a_list_that_contains_ours),
        cmocka_unit_test(test_exp_and_nbf_within_the_leeway_are_accepted),
        cmocka_unit_test(test_a_bad_signature_is_refused_for_every_algorithm),
        cmocka_unit_test(test_a_token_signed_by_another_key_under_our_kid_is_refused),
        cmocka_unit_test(test_changed_claims_under_a_good_signature_are_refused),
        cmocka_unit_test(test_an_es256_signature_not_of_64_bytes_is_refused),
        cmocka_unit_test(test_an_unknown_or_missing_kid_is_refused),
        cmocka_unit_test(test_an_algorithm_outside_the_list_is_refused),
        cmocka_unit_test(test_alg_none_is_refused),
        cmocka_unit_test(test_a_key_is_only_used_for_its_own_algorithm),
        cmocka_unit_test(test_hs256_keyed_with_the_rsa_public_key_is_refused),
        cmocka_unit_test(test_a_wrong_or_missing_issuer_is_refused),
        cmocka_unit_test(test_a_wrong_or_missing_audience_is_refused),
        cmocka_unit_test(test_exp_past_beyond_the_leeway_is_refused),
        cmocka_unit_test(test_nbf_ahead_beyond_the_leeway_is_refused),
        cmocka_unit_test(test_every_refusal_has_its_own_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
