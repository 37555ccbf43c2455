/*
 * auth.c - owns the JWT secret and the decision whether a request's
 * "Authorization: Bearer <jwt>" names a user.
 *
 * The signature is checked by libjwt (HMAC-SHA256; Debian's build compares in
 * constant time, CVE-2024-25189). Everything around it is checked here as
 * well, because libjwt 1.10 alone is too trusting:
 *  - it verifies with whatever alg the token's header names, so an HS384 or
 *    HS512 token made with our secret would pass: we accept HS256 only, both
 *    before calling libjwt (our own look at the header) and after (the alg
 *    libjwt reports);
 *  - with an empty key it accepts `alg: none`: fs_auth_init refuses an empty
 *    secret, and the header check never lets "none" reach libjwt;
 *  - jwt_get_grant_int() reads a string `exp` as 0 without an error: we read
 *    the claims with jansson and insist on types;
 *  - it copies the token with alloca(): FS_AUTH_TOKEN_MAX bounds that.
 * The header look also gives each refusal its precise reason for logs and
 * metrics; the answer to the client is 401 whatever the reason.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <jwt.h>

#include "auth.h"
#include "base64.h"

/* A JWT in compact form: three base64url segments joined by dots. */
struct jwt_parts {
    const char *header, *payload, *signature;
    size_t header_len, payload_len, signature_len;
};

int fs_auth_init(struct fs_auth *auth, const char *secret, size_t len)
{
    auth->secret = NULL;
    auth->secret_len = 0;
    /* libjwt treats an empty key as "do not verify" and would then accept
     * alg none; its key length is an int. */
    if (secret == NULL || len == 0 || len > INT_MAX)
        return -1;
    auth->secret = malloc(len);
    if (auth->secret == NULL)
        return -1;
    memcpy(auth->secret, secret, len);
    auth->secret_len = len;
    return 0;
}

void fs_auth_free(struct fs_auth *auth)
{
    if (auth == NULL || auth->secret == NULL)
        return;
    /* explicit_bzero: a plain memset before free may be optimised away. */
    explicit_bzero(auth->secret, auth->secret_len);
    free(auth->secret);
    auth->secret = NULL;
    auth->secret_len = 0;
}

int fs_user_id_valid(const char *user)
{
    if (user == NULL)
        return 0;
    size_t len = strnlen(user, FS_USER_MAX + 1);
    if (len == 0 || len > FS_USER_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)user[i];
        if (c <= 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

const char *fs_auth_result_text(enum fs_auth_result r)
{
    switch (r) {
    case FS_AUTH_OK: return "authenticated";
    case FS_AUTH_MISSING: return "a bearer token is required";
    case FS_AUTH_MALFORMED: return "the token is malformed";
    case FS_AUTH_BAD_ALG: return "the token's algorithm is not accepted";
    case FS_AUTH_BAD_SIGNATURE: return "the token's signature is invalid";
    case FS_AUTH_EXPIRED: return "the token has expired";
    case FS_AUTH_NO_SUBJECT: return "the token names no valid user";
    }
    return "the token is invalid";
}

/* Decodes one segment into a JSON object; NULL if it is not one. Duplicate
 * keys are refused: two "alg" or two "sub" would let readers disagree. */
static json_t *segment_object(const char *seg, size_t len)
{
    unsigned char buf[FS_AUTH_TOKEN_MAX];
    json_t *obj = NULL;

    long n = fs_base64_decode(FS_BASE64_URL, seg, len, buf, sizeof(buf));
    if (n <= 0)
        goto fail;
    obj = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES,
                     NULL);
    if (obj == NULL || !json_is_object(obj))
        goto fail;
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

/* Finds the token in "Bearer <token>". The scheme is case-insensitive and
 * may be followed by several spaces (RFC 7235: 1*SP); whitespace around the
 * whole value is optional whitespace of the field and ignored. */
static enum fs_auth_result bearer_token(const char *header, const char **tok,
                                        size_t *len)
{
    const char *p = header;

    if (p == NULL)
        return FS_AUTH_MISSING;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "bearer", 6) != 0 || p[6] != ' ')
        return FS_AUTH_MISSING;
    p += 6;
    while (*p == ' ')
        p++;
    size_t n = 0;
    while (n <= FS_AUTH_TOKEN_MAX &&
           (fs_base64_char(FS_BASE64_URL, (unsigned char)p[n]) || p[n] == '.'))
        n++;
    if (n == 0 || n > FS_AUTH_TOKEN_MAX)
        return FS_AUTH_MALFORMED;
    for (const char *rest = p + n; *rest != '\0'; rest++)
        if (*rest != ' ' && *rest != '\t')
            return FS_AUTH_MALFORMED;
    *tok = p;
    *len = n;
    return FS_AUTH_OK;
}

static int split_token(const char *tok, size_t len, struct jwt_parts *parts)
{
    const char *dot1 = memchr(tok, '.', len);
    if (dot1 == NULL)
        return -1;
    const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok)))
        return -1;
    parts->header = tok;
    parts->header_len = (size_t)(dot1 - tok);
    parts->payload = dot1 + 1;
    parts->payload_len = (size_t)(dot2 - dot1 - 1);
    parts->signature = dot2 + 1;
    parts->signature_len = len - (size_t)(dot2 + 1 - tok);
    return 0;
}

/* Our own look at the header, before libjwt sees the token. */
static enum fs_auth_result check_header(const struct jwt_parts *parts)
{
    enum fs_auth_result r = FS_AUTH_MALFORMED;
    json_t *hdr = segment_object(parts->header, parts->header_len);
    if (hdr == NULL)
        goto done;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    r = FS_AUTH_BAD_ALG;
    if (alg == NULL || strcmp(alg, "HS256") != 0)
        goto done;
    r = parts->signature_len == 0 ? FS_AUTH_BAD_SIGNATURE : FS_AUTH_OK;
done:
    json_decref(hdr);
    return r;
}

/* exp is optional (DESIGN.md: "honoured" when present); when present it must
 * be a whole number of seconds, and exp <= now is expired. */
static enum fs_auth_result check_claims(json_t *claims, int64_t now_s,
                                        char user_out[FS_USER_MAX + 1])
{
    json_t *exp = json_object_get(claims, "exp");
    if (exp != NULL) {
        if (!json_is_integer(exp))
            return FS_AUTH_MALFORMED;
        if (json_integer_value(exp) <= now_s)
            return FS_AUTH_EXPIRED;
    }
    json_t *sub = json_object_get(claims, "sub");
    const char *user = json_string_value(sub);
    /* The length check catches a NUL inside the string. */
    if (user == NULL || json_string_length(sub) != strlen(user) ||
        !fs_user_id_valid(user))
        return FS_AUTH_NO_SUBJECT;
    memcpy(user_out, user, strlen(user) + 1);
    return FS_AUTH_OK;
}

enum fs_auth_result fs_auth_verify_header(const struct fs_auth *auth,
                                          const char *header, int64_t now_s,
                                          char user_out[FS_USER_MAX + 1])
{
    char token[FS_AUTH_TOKEN_MAX + 1];
    struct jwt_parts parts;
    jwt_t *jwt = NULL;
    json_t *claims = NULL;
    const char *tok;
    size_t len;

    user_out[0] = '\0';
    enum fs_auth_result r = bearer_token(header, &tok, &len);
    if (r != FS_AUTH_OK)
        goto done;
    r = FS_AUTH_MALFORMED;
    if (split_token(tok, len, &parts) != 0)
        goto done;
    r = check_header(&parts);
    if (r != FS_AUTH_OK)
        goto done;
    claims = segment_object(parts.payload, parts.payload_len);
    if (claims == NULL) {
        r = FS_AUTH_MALFORMED;
        goto done;
    }
    memcpy(token, tok, len);
    token[len] = '\0';
    if (auth == NULL || auth->secret == NULL ||
        jwt_decode(&jwt, token, auth->secret, (int)auth->secret_len) != 0) {
        r = FS_AUTH_BAD_SIGNATURE;
        goto done;
    }
    /* Belt and braces: the header check above already said HS256. */
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        r = FS_AUTH_BAD_ALG;
        goto done;
    }
    r = check_claims(claims, now_s, user_out);
done:
    jwt_free(jwt);
    json_decref(claims);
    if (r != FS_AUTH_OK)
        user_out[0] = '\0';
    return r;
}

char *fs_auth_mint(const struct fs_auth *auth, const char *user, int64_t now_s,
                   int64_t ttl_s)
{
    jwt_t *jwt = NULL;
    char *out = NULL;

    if (auth == NULL || auth->secret == NULL || !fs_user_id_valid(user) ||
        ttl_s <= 0 || now_s < 0 || now_s > LONG_MAX - ttl_s)
        goto fail;
    if (jwt_new(&jwt) != 0)
        goto fail;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, auth->secret,
                    (int)auth->secret_len) != 0 ||
        jwt_add_grant(jwt, "sub", user) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) != 0)
        goto fail;
    out = jwt_encode_str(jwt);
fail:
    jwt_free(jwt);
    return out;
}
