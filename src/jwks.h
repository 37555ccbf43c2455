/*
 * jwks.h - a JSON Web Key Set (RFC 7517) as OpenSSL public keys: the keys an
 * identity provider signs its tokens with, each chosen by its `kid`.
 *
 * A set is immutable once parsed and reference-counted, so that a refresher
 * can swap in a new one while request threads still verify with the old
 * (see jwks_fetch.h).
 */
#ifndef FS_JWKS_H
#define FS_JWKS_H

#include <stdatomic.h>
#include <stddef.h>

#include <openssl/types.h>

/* The signature algorithms flashsaled verifies (JWA names, RFC 7518 and
 * RFC 8037), as bits of an allow-list. */
enum fs_jwt_alg {
    FS_JWT_HS256 = 1u << 0,  /* HMAC-SHA256 with auth.jwt_secret */
    FS_JWT_RS256 = 1u << 1,  /* RSASSA-PKCS1-v1_5 with SHA-256 */
    FS_JWT_ES256 = 1u << 2,  /* ECDSA P-256 with SHA-256 */
    FS_JWT_EDDSA = 1u << 3,  /* Ed25519 */
};
#define FS_JWT_ASYMMETRIC (FS_JWT_RS256 | FS_JWT_ES256 | FS_JWT_EDDSA)

/* The algorithm named by name[0..len) (case-sensitive, as RFC 7515 says);
 * 0 for any other name, "none" included. */
unsigned fs_jwt_alg_parse(const char *name, size_t len);
const char *fs_jwt_alg_name(unsigned alg);

/* Bounds on what an IdP may send: a document, its keys, a kid. */
#define FS_JWKS_DOC_MAX (1024 * 1024)
#define FS_JWKS_KEYS_MAX 64
#define FS_JWK_KID_MAX 256
#define FS_JWKS_RSA_BITS_MIN 2048

struct fs_jwk {
    char *kid;
    unsigned alg;    /* the one algorithm this key verifies */
    EVP_PKEY *pkey;  /* public key; read by many threads at once */
};

struct fs_jwks {
    atomic_int refs;
    size_t n;
    struct fs_jwk *keys;
};

/* Parses a JWKS document. Keys flashsaled cannot use are skipped: those
 * with `use` other than "sig", without a kid, of kty "oct" (a shared secret
 * published as a key is never accepted), another curve or an `alg` outside
 * RS256, ES256 and EdDSA. A key it could use but that is broken (bad
 * base64url, a point off the curve, RSA under 2048 bits), a duplicate kid,
 * or no usable key at all refuses the whole document: err then says which
 * key and why. Returns a set holding one reference, or NULL. */
struct fs_jwks *fs_jwks_parse(const char *text, size_t len, char *err,
                              size_t errlen);
/* fs_jwks_parse of a regular file of at most FS_JWKS_DOC_MAX bytes; err
 * says why not (cannot read, too large, or the parse's reason). */
struct fs_jwks *fs_jwks_load_file(const char *path, char *err, size_t errlen);
/* Takes one more reference (NULL passes through). */
struct fs_jwks *fs_jwks_ref(struct fs_jwks *set);
/* Drops one reference; the last frees the set. NULL is ignored. */
void fs_jwks_unref(struct fs_jwks *set);
/* The key whose kid is kid[0..kid_len), or NULL. */
const struct fs_jwk *fs_jwks_find(const struct fs_jwks *set, const char *kid,
                                  size_t kid_len);

#endif
