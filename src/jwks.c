/*
 * jwks.c - turns a JWKS document into OpenSSL 3 public keys.
 *
 * Each JWK becomes an EVP_PKEY through EVP_PKEY_fromdata(): RSA from n and
 * e, EC P-256 from the uncompressed point 04||x||y, Ed25519 (kty OKP) from
 * x. An EC point is checked by OpenSSL (EVP_PKEY_public_check: on the
 * curve), so a broken key is refused when the set is loaded, not found out
 * on a request. RSA gets checks of our own (2048 bits or more, n and e odd,
 * e > 1): OpenSSL's RSA public check runs a Miller-Rabin test with random
 * witnesses, which on a garbage modulus answered differently from one run to
 * the next (fuzz_jwks found it), and whether a key set loads must not be
 * chance. Parsing is jansson's, with duplicate keys refused as for tokens.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "base64.h"
#include "jwks.h"

/* Large enough for an 8192-bit RSA modulus. */
#define JWK_FIELD_MAX 1024
#define P256_COORD 32
#define ED25519_LEN 32

static const struct {
    const char *name;
    unsigned alg;
} alg_names[] = {
    {"HS256", FS_JWT_HS256},
    {"RS256", FS_JWT_RS256},
    {"ES256", FS_JWT_ES256},
    {"EdDSA", FS_JWT_EDDSA},
};

unsigned fs_jwt_alg_parse(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
        if (strlen(alg_names[i].name) == len &&
            memcmp(alg_names[i].name, name, len) == 0)
            return alg_names[i].alg;
    return 0;
}

const char *fs_jwt_alg_name(unsigned alg)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
        if (alg_names[i].alg == alg)
            return alg_names[i].name;
    return "?";
}

/* One key being read: where it is, for messages. */
struct jwk_reader {
    size_t index;
    const char *kid;
    char *err;
    size_t errlen;
};

static int key_fail(const struct jwk_reader *rd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int key_fail(const struct jwk_reader *rd, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(rd->err, rd->errlen, "keys[%zu] (kid \"%.64s\"): %s", rd->index,
             rd->kid ? rd->kid : "", why);
    return -1;
}

/* The base64url member `name` of the key, decoded; its length or -1. */
static long field_bytes(const struct jwk_reader *rd, json_t *jwk,
                        const char *name, unsigned char *out, size_t cap)
{
    json_t *v = json_object_get(jwk, name);
    long n;

    if (!json_is_string(v))
        return key_fail(rd, "member \"%s\" is missing or not a string", name);
    n = fs_base64_decode(FS_BASE64_URL, json_string_value(v),
                         json_string_length(v), out, cap);
    if (n <= 0)
        return key_fail(rd, "member \"%s\" is not base64url (RFC 7515, no "
                        "padding) of at most %zu bytes", name, cap);
    return n;
}

/* EVP_PKEY_fromdata, and OpenSSL's own check of the public key when
 * `check` is set. */
static EVP_PKEY *key_from_params(const struct jwk_reader *rd,
                                 const char *type, OSSL_PARAM *params,
                                 int check)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY_CTX *checker = NULL;

    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        key_fail(rd, "OpenSSL refuses it as a %s public key", type);
        goto fail;
    }
    if (check) {
        checker = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (checker == NULL || EVP_PKEY_public_check(checker) != 1) {
            key_fail(rd, "is not a valid %s public key", type);
            goto fail;
        }
    }
    EVP_PKEY_CTX_free(checker);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
fail:
    EVP_PKEY_CTX_free(checker);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return NULL;
}

static EVP_PKEY *rsa_key(const struct jwk_reader *rd, json_t *jwk)
{
    unsigned char n[JWK_FIELD_MAX], e[16];
    long n_len = field_bytes(rd, jwk, "n", n, sizeof(n));
    long e_len = n_len > 0 ? field_bytes(rd, jwk, "e", e, sizeof(e)) : -1;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;

    if (e_len <= 0)
        return NULL;
    bn_n = BN_bin2bn(n, (int)n_len, NULL);
    bn_e = BN_bin2bn(e, (int)e_len, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn_n == NULL || bn_e == NULL || bld == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
        key_fail(rd, "out of memory");
        goto done;
    }
    if (BN_num_bits(bn_n) < FS_JWKS_RSA_BITS_MIN) {
        key_fail(rd, "an RSA key of %d bits; at least %d are required",
                 BN_num_bits(bn_n), FS_JWKS_RSA_BITS_MIN);
        goto done;
    }
    /* A product of two odd primes, and an odd exponent above 1. */
    if (!BN_is_odd(bn_n) || !BN_is_odd(bn_e) || BN_is_one(bn_e)) {
        key_fail(rd, "not an RSA public key (n and e must be odd, e > 1)");
        goto done;
    }
    pkey = key_from_params(rd, "RSA", params, 0);
done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

static EVP_PKEY *p256_key(const struct jwk_reader *rd, json_t *jwk)
{
    unsigned char point[1 + 2 * P256_COORD], x[P256_COORD + 1],
        y[P256_COORD + 1];
    char group[] = "prime256v1";

    /* x and y are exactly 32 bytes each (RFC 7518 6.2.1.2); each is decoded
     * into a buffer one byte larger, so that a longer one is seen, not cut. */
    if (field_bytes(rd, jwk, "x", x, sizeof(x)) != P256_COORD ||
        field_bytes(rd, jwk, "y", y, sizeof(y)) != P256_COORD) {
        if (rd->err[0] == '\0')
            key_fail(rd, "x and y must be 32 bytes each for P-256");
        return NULL;
    }
    point[0] = 0x04;  /* uncompressed: 04 || x || y */
    memcpy(point + 1, x, P256_COORD);
    memcpy(point + 1 + P256_COORD, y, P256_COORD);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
                                          sizeof(point)),
        OSSL_PARAM_construct_end(),
    };
    return key_from_params(rd, "EC", params, 1);
}

static EVP_PKEY *ed25519_key(const struct jwk_reader *rd, json_t *jwk)
{
    unsigned char x[ED25519_LEN + 1];

    if (field_bytes(rd, jwk, "x", x, sizeof(x)) != ED25519_LEN) {
        if (rd->err[0] == '\0')
            key_fail(rd, "x must be 32 bytes for Ed25519");
        return NULL;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, x,
                                          ED25519_LEN),
        OSSL_PARAM_construct_end(),
    };
    /* Every 32 bytes are an Ed25519 public key's encoding as far as
     * OpenSSL's check goes: fromdata alone. */
    return key_from_params(rd, "ED25519", params, 0);
}

static int member_is(json_t *jwk, const char *name, const char *value)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    return s != NULL && strcmp(s, value) == 0;
}

/* Which algorithm the key is for, from kty and crv; 0 when flashsaled has
 * no use for it (the key is then skipped, not an error). An `alg` member,
 * when present, must agree. */
static unsigned jwk_alg(json_t *jwk)
{
    json_t *use = json_object_get(jwk, "use");
    json_t *alg = json_object_get(jwk, "alg");
    unsigned a = 0;

    if (use != NULL && !member_is(jwk, "use", "sig"))
        return 0;
    if (member_is(jwk, "kty", "RSA"))
        a = FS_JWT_RS256;
    else if (member_is(jwk, "kty", "EC") && member_is(jwk, "crv", "P-256"))
        a = FS_JWT_ES256;
    else if (member_is(jwk, "kty", "OKP") && member_is(jwk, "crv", "Ed25519"))
        a = FS_JWT_EDDSA;
    if (alg != NULL && (!json_is_string(alg) ||
                        fs_jwt_alg_parse(json_string_value(alg),
                                         json_string_length(alg)) != a))
        return 0;
    return a;
}

static void jwk_clear(struct fs_jwk *k)
{
    free(k->kid);
    EVP_PKEY_free(k->pkey);
}

/* Reads keys[index] into out. 1: a key; 0: skipped; -1: error. */
static int read_jwk(json_t *jwk, size_t index, struct fs_jwk *out, char *err,
                    size_t errlen)
{
    struct jwk_reader rd = {.index = index, .err = err, .errlen = errlen};
    json_t *kid = json_object_get(jwk, "kid");

    if (!json_is_object(jwk))
        return key_fail(&rd, "is not a JSON object");
    unsigned alg = jwk_alg(jwk);
    if (alg == 0 || !json_is_string(kid) || json_string_length(kid) == 0)
        return 0;
    rd.kid = json_string_value(kid);
    if (json_string_length(kid) > FS_JWK_KID_MAX ||
        strlen(rd.kid) != json_string_length(kid))
        return key_fail(&rd, "the kid is longer than %d bytes or holds a NUL",
                        FS_JWK_KID_MAX);
    err[0] = '\0';
    out->pkey = alg == FS_JWT_RS256   ? rsa_key(&rd, jwk)
                : alg == FS_JWT_ES256 ? p256_key(&rd, jwk)
                                      : ed25519_key(&rd, jwk);
    if (out->pkey == NULL)
        return -1;
    out->kid = strdup(rd.kid);
    out->alg = alg;
    if (out->kid == NULL) {
        jwk_clear(out);
        return key_fail(&rd, "out of memory");
    }
    return 1;
}

static int read_keys(struct fs_jwks *set, json_t *keys, char *err,
                     size_t errlen)
{
    size_t count = json_array_size(keys);

    if (count > FS_JWKS_KEYS_MAX) {
        snprintf(err, errlen, "%zu keys; at most %d are read", count,
                 FS_JWKS_KEYS_MAX);
        return -1;
    }
    set->keys = calloc(count ? count : 1, sizeof(*set->keys));
    if (set->keys == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        struct fs_jwk k = {0};
        int r = read_jwk(json_array_get(keys, i), i, &k, err, errlen);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        if (fs_jwks_find(set, k.kid, strlen(k.kid)) != NULL) {
            snprintf(err, errlen, "keys[%zu]: kid \"%.64s\" is used twice",
                     i, k.kid);
            jwk_clear(&k);
            return -1;
        }
        set->keys[set->n++] = k;
    }
    if (set->n == 0) {
        snprintf(err, errlen, "no usable key: flashsaled verifies RSA (RS256, "
                 "2048 bits or more), EC P-256 (ES256) and OKP Ed25519 "
                 "(EdDSA) keys that have a kid and no \"use\" but \"sig\"");
        return -1;
    }
    return 0;
}

struct fs_jwks *fs_jwks_parse(const char *text, size_t len, char *err,
                              size_t errlen)
{
    json_error_t jerr;
    json_t *doc = NULL;
    struct fs_jwks *set = NULL;

    if (len > FS_JWKS_DOC_MAX) {
        snprintf(err, errlen, "larger than %d bytes", FS_JWKS_DOC_MAX);
        return NULL;
    }
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "not a JWKS: expected an object with a "
                 "\"keys\" array (RFC 7517)");
        goto fail;
    }
    set = calloc(1, sizeof(*set));
    if (set == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    atomic_init(&set->refs, 1);
    if (read_keys(set, keys, err, errlen) != 0)
        goto fail;
    json_decref(doc);
    return set;
fail:
    fs_jwks_unref(set);
    json_decref(doc);
    ERR_clear_error();  /* err says why; OpenSSL's queue is not ours to keep */
    return NULL;
}

/* Reads a whole regular file of at most max bytes into a malloc'd buffer
 * (NUL-terminated). 0 on success; err says why not. */
static int read_file(const char *path, size_t max, char **out, size_t *len,
                     char *err, size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        goto fail;
    }
    /* A FIFO or a device would block the refresher, or never end. */
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        snprintf(err, errlen, "'%s' is not a regular file of at most %zu "
                 "bytes", path, max);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *len = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read '%s'", path);
        goto fail;
    }
    buf[*len] = '\0';
    fclose(f);
    *out = buf;
    return 0;
fail:
    if (f != NULL)
        fclose(f);
    free(buf);
    return -1;
}

struct fs_jwks *fs_jwks_load_file(const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    struct fs_jwks *set = NULL;

    if (read_file(path, FS_JWKS_DOC_MAX, &text, &len, err, errlen) == 0)
        set = fs_jwks_parse(text, len, err, errlen);
    free(text);
    return set;
}

struct fs_jwks *fs_jwks_ref(struct fs_jwks *set)
{
    if (set != NULL)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void fs_jwks_unref(struct fs_jwks *set)
{
    if (set == NULL ||
        atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < set->n; i++)
        jwk_clear(&set->keys[i]);
    free(set->keys);
    free(set);
}

const struct fs_jwk *fs_jwks_find(const struct fs_jwks *set, const char *kid,
                                  size_t kid_len)
{
    if (set == NULL)
        return NULL;
    for (size_t i = 0; i < set->n; i++)
        if (strlen(set->keys[i].kid) == kid_len &&
            memcmp(set->keys[i].kid, kid, kid_len) == 0)
            return &set->keys[i];
    return NULL;
}
