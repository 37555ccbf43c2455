/*
 * auth.h - client authentication: HS256 JWTs, verified and minted with
 * OpenSSL's HMAC-SHA256 (see auth.c for why not libjwt).
 *
 * Only HS256 is accepted: a token with `alg: none`, another algorithm, a
 * `typ` other than "JWT", a bad signature, an `exp` in the past, a missing
 * or malformed `sub`, or more than FS_AUTH_TOKEN_MAX bytes is refused. The
 * user id is the `sub` claim.
 *
 * `exp` is optional: a token without it is accepted (DESIGN.md: exp is
 * honoured when present), one whose `exp` is not a JSON integer is
 * FS_AUTH_MALFORMED, and exp <= now_s is FS_AUTH_EXPIRED. The scheme is
 * matched case-insensitively (RFC 7235) and may be followed by several
 * spaces; a header or payload with duplicate keys is FS_AUTH_MALFORMED.
 */
#ifndef FS_AUTH_H
#define FS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "flashsaled/fs_plugin.h"

#define FS_AUTH_TOKEN_MAX 4096

enum fs_auth_result {
    FS_AUTH_OK = 0,
    FS_AUTH_MISSING,      /* no Authorization header or not "Bearer " */
    FS_AUTH_MALFORMED,    /* not a JWT, too long, undecodable */
    FS_AUTH_BAD_ALG,      /* alg is not HS256 (including "none") */
    FS_AUTH_BAD_SIGNATURE,
    FS_AUTH_EXPIRED,
    FS_AUTH_NO_SUBJECT    /* sub missing, empty, too long or not printable */
};

/* All zero is a valid value that refuses every token and mints none. */
struct fs_auth {
    EVP_MAC_CTX *hmac;  /* HMAC-SHA256 keyed with the secret, never updated:
                         * each token is checked on a copy */
};

/* Keys an HMAC with the secret (OpenSSL keeps its own copy). 0 on success;
 * -1 for an empty secret or when OpenSSL cannot set up HMAC-SHA256. */
int fs_auth_init(struct fs_auth *auth, const char *secret, size_t len);
/* Frees the key (OpenSSL cleanses it); safe to call twice. */
void fs_auth_free(struct fs_auth *auth);

/* Verifies the value of an Authorization header ("Bearer <jwt>"). On
 * FS_AUTH_OK, user_out holds the `sub` (NUL-terminated). now_s is the clock
 * used for `exp` (seconds). Safe to call from many threads at once on the
 * same auth. */
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
