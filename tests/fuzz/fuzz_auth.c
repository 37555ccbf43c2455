/*
 * fuzz_auth.c - fs_auth_verify_header (auth.c) on the Authorization header
 * a client sends.
 *
 * The auth under test accepts HS256 with the secret and RS256, ES256 and
 * EdDSA with a JWKS of three keys made at start (kids "rsa", "ec", "ed"),
 * with issuer and audience set. Three kinds of input:
 *  - anything not starting with 'S' or 'K' is the header value itself (the
 *    seed corpus holds real tokens, so mutations land next to valid ones);
 *  - 'S' <header JSON> '\n' <claims JSON>: the harness signs those with the
 *    secret (libjwt), so the claim checks behind the signature are reached
 *    with arbitrary claims too;
 *  - 'K' <one byte choosing RS256, ES256 or EdDSA> <claims JSON>: the
 *    harness signs the claims with that JWKS key (OpenSSL), so the IdP's
 *    claim checks (iss, aud, exp required, nbf) are reached too.
 * Invariants: a user is returned exactly when the answer is FS_AUTH_OK, and
 * it is a valid user id; the same token under another secret and no JWKS
 * never passes; a signed token is judged by its claims alone, as auth.h
 * says; a JWKS-signed token with one signature byte changed never passes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "auth.h"
#include "fuzz_check.h"
#include "jwks.h"
#include "jwks_fetch.h"

/* Also in the seed corpus' tokens: tests/fuzz/make_corpus.py. */
#define FUZZ_SECRET "fuzz-secret-0123456789abcdef"
#define FUZZ_NOW_S INT64_C(1700000000)

#define FUZZ_ISSUER "https://idp.fuzz"
#define FUZZ_AUDIENCE "flashsaled"

static struct fs_auth auth, other;

/* The IdP's keys, in the order of the 'K' input's selector byte. */
static const struct {
    unsigned alg;
    const char *kid;
} idp_keys[] = {
    {FS_JWT_RS256, "rsa"}, {FS_JWT_ES256, "ec"}, {FS_JWT_EDDSA, "ed"}};
static EVP_PKEY *idp_pkeys[3];

static void b64url(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

static void bn_b64(EVP_PKEY *key, const char *name, int pad, char *out)
{
    BIGNUM *bn = NULL;
    unsigned char buf[512];
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        abort();
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    b64url(buf, (size_t)n, out);
}

/* The JWK of idp_pkeys[i] into out. */
static void jwk_of(size_t i, char *out, size_t cap)
{
    char a[1024], b[1024];
    unsigned char x[32];
    size_t len = 0;
    EVP_PKEY *k = idp_pkeys[i];

    if (idp_keys[i].alg == FS_JWT_RS256) {
        bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0, a);
        bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0, b);
        snprintf(out, cap, "{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"%s\","
                 "\"e\":\"%s\"}", a, b);
    } else if (idp_keys[i].alg == FS_JWT_ES256) {
        bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 32, a);
        bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b);
        snprintf(out, cap, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\","
                 "\"x\":\"%s\",\"y\":\"%s\"}", a, b);
    } else {
        if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, x,
                                            sizeof(x), &len) != 1)
            abort();
        b64url(x, len, a);
        snprintf(out, cap, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                 "\"kid\":\"ed\",\"x\":\"%s\"}", a);
    }
}

/* Writes the three keys as a JWKS file and hands auth a source over it
 * (its refresher is not started: the file never changes). */
static void setup_idp(void)
{
    char jwk[3][2048], doc[8192], path[] = "/tmp/fuzz-jwks-XXXXXX", err[512];

    idp_pkeys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    idp_pkeys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    idp_pkeys[2] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    for (size_t i = 0; i < 3; i++) {
        if (idp_pkeys[i] == NULL)
            abort();
        jwk_of(i, jwk[i], sizeof(jwk[i]));
    }
    snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s,%s]}", jwk[0], jwk[1], jwk[2]);
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, doc, strlen(doc)) != (ssize_t)strlen(doc))
        abort();
    close(fd);
    const struct fs_jwks_source_config cfg = {.file = path, .refresh_s = 300,
                                              .min_interval_s = 10};
    struct fs_jwks_source *src = fs_jwks_source_create(&cfg, err, sizeof(err));
    unlink(path);
    if (src == NULL ||
        fs_auth_use_jwks(&auth, src, FS_JWT_ASYMMETRIC, FUZZ_ISSUER,
                         FUZZ_AUDIENCE, 0) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fs_auth_init(&auth, FUZZ_SECRET, strlen(FUZZ_SECRET)) != 0 ||
        fs_auth_init(&other, "another-secret-of-some-length", 29) != 0)
        abort();
    setup_idp();
    return 0;
}

static enum fs_auth_result verify(const struct fs_auth *a, const char *header,
                                  char user[FS_USER_MAX + 1])
{
    enum fs_auth_result r = fs_auth_verify_header(a, header, FUZZ_NOW_S, user);
    FUZZ_CHECK(r >= FS_AUTH_OK && r <= FS_AUTH_NO_EXPIRY);
    FUZZ_CHECK(fs_auth_result_text(r) != NULL);
    if (r == FS_AUTH_OK)
        FUZZ_CHECK(fs_user_id_valid(user));
    else
        FUZZ_CHECK(user[0] == '\0');
    return r;
}

static void check_header(const char *header)
{
    char user[FS_USER_MAX + 1], user2[FS_USER_MAX + 1];
    enum fs_auth_result r = verify(&auth, header, user);

    /* Deterministic, and bound to the secret. */
    FUZZ_CHECK(verify(&auth, header, user2) == r);
    FUZZ_CHECK(strcmp(user, user2) == 0);
    if (r == FS_AUTH_OK)
        FUZZ_CHECK(verify(&other, header, user2) != FS_AUTH_OK);
}

static int string_is(json_t *v, const char *want)
{
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           strcmp(json_string_value(v), want) == 0;
}

/* For an IdP's token: iss must be ours, aud ours or a list holding ours. */
static int idp_claims_ok(json_t *claims)
{
    json_t *aud = json_object_get(claims, "aud"), *v;
    size_t i;

    if (!string_is(json_object_get(claims, "iss"), FUZZ_ISSUER))
        return 0;
    if (string_is(aud, FUZZ_AUDIENCE))
        return 1;
    json_array_foreach(aud, i, v)
        if (string_is(v, FUZZ_AUDIENCE))
            return 1;
    return 0;
}

/* What auth.h promises for a correctly signed token (leeway 0). */
static enum fs_auth_result expected_for_claims(const char *claims_json,
                                               int idp)
{
    json_t *claims = json_loads(claims_json, JSON_REJECT_DUPLICATES, NULL);
    enum fs_auth_result r = FS_AUTH_MALFORMED;
    json_t *exp, *nbf, *sub;

    if (!json_is_object(claims))
        goto done;
    exp = json_object_get(claims, "exp");
    nbf = json_object_get(claims, "nbf");
    r = FS_AUTH_NO_EXPIRY;
    if (idp && !exp)
        goto done;
    r = FS_AUTH_MALFORMED;
    if ((exp && !json_is_integer(exp)) || (nbf && !json_is_integer(nbf)))
        goto done;
    r = FS_AUTH_EXPIRED;
    if (exp && json_integer_value(exp) <= FUZZ_NOW_S)
        goto done;
    r = FS_AUTH_NOT_YET_VALID;
    if (nbf && json_integer_value(nbf) > FUZZ_NOW_S)
        goto done;
    r = FS_AUTH_BAD_ISSUER;
    if (idp && !string_is(json_object_get(claims, "iss"), FUZZ_ISSUER))
        goto done;
    r = FS_AUTH_BAD_AUDIENCE;
    if (idp && !idp_claims_ok(claims))
        goto done;
    r = FS_AUTH_NO_SUBJECT;
    sub = json_object_get(claims, "sub");
    if (!json_is_string(sub) || !fs_user_id_valid(json_string_value(sub)) ||
        strlen(json_string_value(sub)) != json_string_length(sub))
        goto done;
    r = FS_AUTH_OK;
done:
    json_decref(claims);
    return r;
}

static void check_signed(const char *headers_json, const char *claims_json)
{
    jwt_t *jwt = NULL;
    char *token = NULL, *header = NULL, *claims = NULL;
    char user[FS_USER_MAX + 1];

    if (jwt_new(&jwt) != 0 ||
        (headers_json[0] && jwt_add_headers_json(jwt, headers_json) != 0) ||
        jwt_add_grants_json(jwt, claims_json) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)FUZZ_SECRET,
                    (int)strlen(FUZZ_SECRET)) != 0 ||
        !(token = jwt_encode_str(jwt)) || !(claims = jwt_get_grants_json(jwt, NULL)))
        goto done;
    if (strlen(token) > FS_AUTH_TOKEN_MAX - 16 ||
        !(header = malloc(strlen(token) + sizeof("Bearer "))))
        goto done;
    strcpy(header, "Bearer ");
    strcat(header, token);
    check_header(header);
    /* The signature is ours, so only the claims can refuse it. An "alg"
     * among the extra headers is overwritten by jwt_set_alg. */
    enum fs_auth_result want = expected_for_claims(claims, 0);
    FUZZ_CHECK(verify(&auth, header, user) == want);
done:
    free(header);
    free(claims);
    free(token);
    jwt_free(jwt);
}

/* "Bearer " header "." claims "." signature by idp_pkeys[i], or NULL. */
static char *idp_token(size_t i, const char *claims_json)
{
    char head[64], *b64h, *b64c, *out = NULL;
    unsigned char sig[512], raw[64];
    size_t sig_len = sizeof(sig), cl = strlen(claims_json);
    EVP_MD_CTX *ctx = NULL;

    snprintf(head, sizeof(head), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
             fs_jwt_alg_name(idp_keys[i].alg), idp_keys[i].kid);
    b64h = malloc(4 * (strlen(head) + 2) / 3 + 4);
    b64c = malloc(4 * (cl + 2) / 3 + 4);
    out = malloc(sizeof("Bearer ") + 4 * (strlen(head) + cl + 4) / 3 + 800);
    if (!b64h || !b64c || !out)
        goto fail;
    b64url((const unsigned char *)head, strlen(head), b64h);
    b64url((const unsigned char *)claims_json, cl, b64c);
    size_t n = (size_t)sprintf(out, "Bearer %s.%s", b64h, b64c);
    const char *input = out + strlen("Bearer ");
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, idp_keys[i].alg == FS_JWT_EDDSA
                                                     ? NULL : "SHA256",
                                      NULL, NULL, idp_pkeys[i], NULL) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input,
                       strlen(input)) != 1)
        goto fail;
    if (idp_keys[i].alg == FS_JWT_ES256) {
        const unsigned char *p = sig;
        const BIGNUM *r, *s;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        if (es == NULL)
            goto fail;
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, raw, 32);
        BN_bn2binpad(s, raw + 32, 32);
        ECDSA_SIG_free(es);
        memcpy(sig, raw, sizeof(raw));
        sig_len = sizeof(raw);
    }
    out[n++] = '.';
    b64url(sig, sig_len, out + n);
    EVP_MD_CTX_free(ctx);
    free(b64h);
    free(b64c);
    return out;
fail:
    EVP_MD_CTX_free(ctx);
    free(b64h);
    free(b64c);
    free(out);
    return NULL;
}

static void check_idp_signed(unsigned char selector, const char *claims_json)
{
    char user[FS_USER_MAX + 1];
    size_t i = selector % 3;
    char *header = idp_token(i, claims_json);

    if (header == NULL || strlen(header) > FS_AUTH_TOKEN_MAX) {
        free(header);
        return;
    }
    check_header(header);
    /* The signature is the key's own: only the claims can refuse it. */
    FUZZ_CHECK(verify(&auth, header, user) ==
               expected_for_claims(claims_json, 1));
    /* One changed signature character is never accepted. */
    char *last = header + strlen(header) - 1;
    *last = *last == 'A' ? 'Q' : 'A';
    FUZZ_CHECK(verify(&auth, header, user) != FS_AUTH_OK);
    free(header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (size > 1 && text[0] == 'K' && strlen(text) == size) {
        check_idp_signed((unsigned char)text[1], text + 2);
    } else if (size > 0 && text[0] == 'S') {
        char *nl = strchr(text + 1, '\n');
        if (nl) {
            *nl = '\0';
            check_signed(text + 1, nl + 1);
        }
    } else {
        check_header(text);
    }
    free(text);
    return 0;
}
