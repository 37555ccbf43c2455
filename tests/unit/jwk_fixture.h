/*
 * jwk_fixture.h - an identity provider in a test: keys made on the fly with
 * OpenSSL, published as JWKs, and tokens signed with them (RS256, ES256,
 * EdDSA), independently of src/auth.c and src/jwks.c.
 */
#ifndef FS_TEST_JWK_FIXTURE_H
#define FS_TEST_JWK_FIXTURE_H

#include <stddef.h>

#include <openssl/types.h>

#include "jwks.h"

/* A fresh key for alg (FS_JWT_RS256: RSA of rsa_bits; ES256: P-256;
 * EDDSA: Ed25519). Free with EVP_PKEY_free. */
EVP_PKEY *fx_key_new(unsigned alg, int rsa_bits);
/* base64url without padding, malloc'd. */
char *fx_b64url(const void *data, size_t len);
/* The public JWK of key as JSON, with "kid" and `extra` members (JSON
 * text without braces, such as "\"use\":\"sig\"", or NULL). malloc'd. */
char *fx_jwk(EVP_PKEY *key, unsigned alg, const char *kid, const char *extra);
/* {"keys":[jwks...]} of n JWK texts, malloc'd. */
char *fx_jwks(size_t n, char *const jwks[]);
/* header.payload.signature signed with key by alg, from the JSON texts
 * as given. malloc'd. */
char *fx_sign(EVP_PKEY *key, unsigned alg, const char *header,
              const char *claims);
/* The HS256 token of header and claims with `secret` as the HMAC key. */
char *fx_sign_hs256(const void *secret, size_t len, const char *header,
                    const char *claims);
/* The PEM text of key's public half (the "secret" of an algorithm
 * confusion forgery), malloc'd. */
char *fx_public_pem(EVP_PKEY *key);
/* Writes text to path (replacing it through a rename, as editors do). */
void fx_write_file(const char *path, const char *text);

#endif
