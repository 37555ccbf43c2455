/*
 * auth.h - client authentication: JWTs signed with HS256 and the daemon's
 * own secret (auth.jwt_secret; `flashsaled token` mints them), and tokens
 * of an identity provider signed with RS256, ES256 or EdDSA by a key of its
 * JWKS (auth.jwks_file, auth.jwks_url), chosen by the token's `kid`. Both
 * kinds may be accepted at once; auth.algorithms is the allow-list.
 *
 * Refused: `alg: none` or an algorithm outside the allow-list, a `typ`
 * other than "JWT", a bad signature, an unknown kid, an HS256 token when no
 * secret is set (so a JWKS public key can never serve as an HMAC secret),
 * an `exp` past or an `nbf` ahead by more than auth.leeway_s, a missing or
 * malformed `sub`, more than FS_AUTH_TOKEN_MAX bytes; and, for the IdP's
 * tokens, a missing `exp`, an `iss` other than auth.issuer or an `aud`
 * without auth.audience (when those are set). The user id is `sub`.
 *
 * `exp` is optional on HS256 tokens (DESIGN.md: exp is honoured when
 * present); `exp` or `nbf` that is not a JSON integer is FS_AUTH_MALFORMED.
 * The scheme is matched case-insensitively (RFC 7235) and may be followed
 * by several spaces; a header or payload with duplicate keys is
 * FS_AUTH_MALFORMED.
 */
#ifndef FS_AUTH_H
#define FS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "flashsaled/fs_plugin.h"

struct fs_config;
struct fs_jwks_source;

#define FS_AUTH_TOKEN_MAX 4096

enum fs_auth_result {
    FS_AUTH_OK = 0,
    FS_AUTH_MISSING,      /* no Authorization header or not "Bearer " */
    FS_AUTH_MALFORMED,    /* not a JWT, too long, undecodable */
    FS_AUTH_BAD_ALG,      /* alg not allowed (including "none"), or not
                             the algorithm of the key its kid names */
    FS_AUTH_BAD_SIGNATURE,
    FS_AUTH_EXPIRED,      /* exp + leeway <= now */
    FS_AUTH_NO_SUBJECT,   /* sub missing, empty, too long or not printable */
    FS_AUTH_UNKNOWN_KEY,  /* no kid, or a kid no key set holds */
    FS_AUTH_NOT_YET_VALID,/* nbf - leeway > now */
    FS_AUTH_BAD_ISSUER,   /* iss is not auth.issuer */
    FS_AUTH_BAD_AUDIENCE, /* aud does not name auth.audience */
    FS_AUTH_NO_EXPIRY     /* an IdP's token without exp */
};

/* All zero is a valid value that refuses every token and mints none. */
struct fs_auth {
    EVP_MAC_CTX *hmac;  /* HMAC-SHA256 keyed with the secret, never updated:
                         * each token is checked on a copy; NULL: no secret */
    struct fs_jwks_source *jwks;  /* the IdP's keys, owned; NULL: none */
    unsigned algorithms;          /* enum fs_jwt_alg bits allowed */
    char *issuer, *audience;      /* required iss and aud; NULL: any */
    int64_t leeway_s;             /* clock skew allowed on exp and nbf */
};

/* HS256 only: keys an HMAC with the secret (OpenSSL keeps its own copy).
 * 0 on success; -1 for an empty secret or when OpenSSL cannot set up
 * HMAC-SHA256. */
int fs_auth_init(struct fs_auth *auth, const char *secret, size_t len);
/* Everything the config's auth section says: the secret if set, the JWKS
 * source (its first load done, its refresher started), the allow-list,
 * issuer, audience and leeway. 0 on success; -1 and err otherwise. */
int fs_auth_init_config(struct fs_auth *auth, const struct fs_config *cfg,
                        char *err, size_t errlen);
/* Verifies the IdP's tokens with `src` (taking ownership; not started by
 * this call) under the given rules; issuer and audience are copied and may
 * be NULL. Adds the asymmetric algorithms of `algorithms` to the allow-list
 * (HS256 stays as fs_auth_init left it). 0 on success. */
int fs_auth_use_jwks(struct fs_auth *auth, struct fs_jwks_source *src,
                     unsigned algorithms, const char *issuer,
                     const char *audience, int64_t leeway_s);
/* Frees the key, the source and the rules (OpenSSL cleanses the key); safe
 * to call twice. */
void fs_auth_free(struct fs_auth *auth);

/* Verifies the value of an Authorization header ("Bearer <jwt>"). On
 * FS_AUTH_OK, user_out holds the `sub` (NUL-terminated). now_s is the clock
 * used for `exp` and `nbf` (seconds). Safe to call from many threads at once
 * on the same auth; never waits for the IdP (an unknown kid only asks the
 * refresher for a fetch). */
enum fs_auth_result fs_auth_verify_header(const struct fs_auth *auth,
                                          const char *header, int64_t now_s,
                                          char user_out[FS_USER_MAX + 1]);

/* A short human text for a result, safe to send to clients. */
const char *fs_auth_result_text(enum fs_auth_result r);

/* Mints an HS256 token for `user` valid for ttl_s seconds from now_s:
 * header {"alg":"HS256","typ":"JWT"}, claims sub, iat and exp. Returns a
 * malloc'd string or NULL. */
char *fs_auth_mint(const struct fs_auth *auth, const char *user, int64_t now_s,
                   int64_t ttl_s);

/* 1 if `user` is a valid user id: 1..FS_USER_MAX printable ASCII bytes, no
 * spaces or control characters. */
int fs_user_id_valid(const char *user);

#endif
