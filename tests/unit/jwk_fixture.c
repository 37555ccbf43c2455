/*
 * jwk_fixture.c - see jwk_fixture.h. Every failure aborts the test through
 * cmocka: a fixture that cannot make a key must not let a test pass.
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
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "jwk_fixture.h"

EVP_PKEY *fx_key_new(unsigned alg, int rsa_bits)
{
    EVP_PKEY *key = NULL;

    if (alg == FS_JWT_RS256)
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
    else if (alg == FS_JWT_ES256)
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(key);
    return key;
}

char *fx_b64url(const void *data, size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *in = data;
    char *out = malloc(len * 4 / 3 + 4);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;

    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = abc[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[n++] = abc[(acc << (6 - bits)) & 63];
    out[n] = '\0';
    return out;
}

static char *bn_param_b64(EVP_PKEY *key, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];

    assert_int_equal(EVP_PKEY_get_bn_param(key, name, &bn), 1);
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    assert_true(n > 0);
    BN_free(bn);
    return fx_b64url(buf, (size_t)n);
}

static char *format(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;

    va_start(ap, fmt);
    assert_true(vasprintf(&out, fmt, ap) >= 0);
    va_end(ap);
    return out;
}

char *fx_jwk(EVP_PKEY *key, unsigned alg, const char *kid, const char *extra)
{
    char *a = NULL, *b = NULL, *out;
    const char *more = extra ? extra : "";
    const char *comma = extra ? "," : "";

    if (alg == FS_JWT_RS256) {
        a = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N, 0);
        b = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E, 0);
        out = format("{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s%s}",
                     kid, a, b, comma, more);
    } else if (alg == FS_JWT_ES256) {
        a = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        b = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        out = format("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\","
                     "\"x\":\"%s\",\"y\":\"%s\"%s%s}", kid, a, b, comma, more);
    } else {
        unsigned char x[32];
        size_t len = 0;
        assert_int_equal(EVP_PKEY_get_octet_string_param(
                             key, OSSL_PKEY_PARAM_PUB_KEY, x, sizeof(x), &len), 1);
        assert_int_equal(len, 32);
        a = fx_b64url(x, len);
        out = format("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\","
                     "\"x\":\"%s\"%s%s}", kid, a, comma, more);
    }
    free(a);
    free(b);
    return out;
}

char *fx_jwks(size_t n, char *const jwks[])
{
    size_t len = 16;
    for (size_t i = 0; i < n; i++)
        len += strlen(jwks[i]) + 1;
    char *out = malloc(len);
    assert_non_null(out);
    strcpy(out, "{\"keys\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, jwks[i]);
    }
    strcat(out, "]}");
    return out;
}

/* JWS wants ES256 as r || s, 32 bytes each; OpenSSL signs in DER. */
static size_t der_to_raw(const unsigned char *der, size_t len,
                         unsigned char raw[64])
{
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &der, (long)len);
    const BIGNUM *r, *s;

    assert_non_null(sig);
    ECDSA_SIG_get0(sig, &r, &s);
    assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
    assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
    ECDSA_SIG_free(sig);
    return 64;
}

static char *join(const char *signing_input, const unsigned char *sig,
                  size_t sig_len)
{
    char *s = fx_b64url(sig, sig_len);
    char *out = format("%s.%s", signing_input, s);
    free(s);
    return out;
}

static char *signing_input(const char *header, const char *claims)
{
    char *h = fx_b64url(header, strlen(header));
    char *p = fx_b64url(claims, strlen(claims));
    char *out = format("%s.%s", h, p);
    free(h);
    free(p);
    return out;
}

char *fx_sign(EVP_PKEY *key, unsigned alg, const char *header,
              const char *claims)
{
    char *input = signing_input(header, claims);
    unsigned char sig[1024], raw[64];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL,
                                           alg == FS_JWT_EDDSA ? NULL : "SHA256",
                                           NULL, NULL, key, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len,
                                    (const unsigned char *)input,
                                    strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    char *out = alg == FS_JWT_ES256
                    ? join(input, raw, der_to_raw(sig, sig_len, raw))
                    : join(input, sig, sig_len);
    free(input);
    return out;
}

char *fx_sign_hs256(const void *secret, size_t len, const char *header,
                    const char *claims)
{
    char *input = signing_input(header, claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    assert_non_null(HMAC(EVP_sha256(), secret, (int)len,
                         (const unsigned char *)input, strlen(input), mac,
                         &mac_len));
    char *out = join(input, mac, mac_len);
    free(input);
    return out;
}

char *fx_public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;

    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
    long n = BIO_get_mem_data(bio, &data);
    char *out = strndup(data, (size_t)n);
    assert_non_null(out);
    BIO_free(bio);
    return out;
}

void fx_write_file(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}
