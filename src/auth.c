/*
 * auth.c - owns the JWT key and the decision whether a request's
 * "Authorization: Bearer <jwt>" names a user; mints the tokens of
 * `flashsaled token`.
 *
 * HS256 is checked here, with OpenSSL's HMAC-SHA256 and jansson, not with
 * libjwt. libjwt 1.10 decoded and parsed every token a second time after our
 * own checks, and computed its HMAC through a pair of BIOs whose creation
 * takes a process-wide lock in OpenSSL 3: on the hot path that was most of a
 * sold-out answer's own work. It was also too trusting to use alone: it
 * verifies with whatever alg the header names (an HS384 token made with our
 * secret would pass), accepts `alg: none` under an empty key, reads a string
 * `exp` as 0, and copies the token with alloca().
 *
 * So a token is split once and judged in this order, each step giving its
 * refusal a precise reason for logs and metrics (the client gets 401 for
 * all of them):
 *  - the header: strict base64url, a JSON object without duplicate keys,
 *    `alg` exactly "HS256" (never "none", never another HMAC), `typ` absent
 *    or the string "JWT" in any case (as libjwt insisted); the exact header
 *    `flashsaled token` writes is recognised by its bytes;
 *  - the payload: parsed once, the same rules, kept for the claims;
 *  - the signature: strict base64url of exactly 32 bytes, compared in
 *    constant time (CRYPTO_memcmp) with HMAC-SHA256 over "header.payload";
 *  - the claims, with types insisted on: `exp`, if present, an integer later
 *    than now; `sub` a valid user id without an embedded NUL.
 * fs_auth_init refuses an empty secret. The HMAC is keyed once there; each
 * call works on an EVP_MAC_CTX_dup of it, which reads the shared context
 * only, so any number of threads may verify at once without a lock. (A
 * context kept per thread and re-initialised would save about 0.4 us more
 * per token, measured, but would need per-thread state that outlives
 * requests; the one-shot HMAC() fetches the algorithm on every call and is
 * slower than the copy.)
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "auth.h"
#include "base64.h"

#define HS256_LEN 32
/* base64url of {"alg":"HS256","typ":"JWT"}, the header of minted tokens. */
#define MINT_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

/* A JWT in compact form: three base64url segments joined by dots. The
 * signing input is header "." payload, i.e. the first signed_len bytes. */
struct jwt_parts {
    const char *header, *payload, *signature;
    size_t header_len, payload_len, signature_len, signed_len;
};

int fs_auth_init(struct fs_auth *auth, const char *secret, size_t len)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };

    auth->hmac = NULL;
    /* An empty key would make every signature forgeable by anyone. */
    if (secret == NULL || len == 0)
        return -1;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return -1;
    auth->hmac = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  /* the context holds its own reference */
    if (auth->hmac == NULL ||
        !EVP_MAC_init(auth->hmac, (const unsigned char *)secret, len,
                      params)) {
        fs_auth_free(auth);
        return -1;
    }
    return 0;
}

void fs_auth_free(struct fs_auth *auth)
{
    if (auth == NULL)
        return;
    EVP_MAC_CTX_free(auth->hmac);
    auth->hmac = NULL;
}

/* HMAC-SHA256 of data with the auth's key into out. 0 on success. */
static int hs256(const struct fs_auth *auth, const void *data, size_t len,
                 unsigned char out[HS256_LEN])
{
    size_t out_len = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(auth->hmac);
    int ok = ctx != NULL && EVP_MAC_update(ctx, data, len) &&
             EVP_MAC_final(ctx, out, &out_len, HS256_LEN) &&
             out_len == HS256_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
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
    parts->signed_len = (size_t)(dot2 - tok);
    return 0;
}

/* alg must be exactly HS256 (RFC 7515: case-sensitive); typ, when present,
 * must say JWT (RFC 7519 recommends the upper case; libjwt, which judged
 * tokens before us, accepted any case, and so do we). The header we mint
 * ourselves is known to pass and is recognised without parsing: it is what
 * nearly every request carries. */
static enum fs_auth_result check_header(const struct jwt_parts *parts)
{
    if (parts->header_len == strlen(MINT_HEADER) &&
        memcmp(parts->header, MINT_HEADER, parts->header_len) == 0)
        return FS_AUTH_OK;
    enum fs_auth_result r = FS_AUTH_MALFORMED;
    json_t *hdr = segment_object(parts->header, parts->header_len);
    if (hdr == NULL)
        goto done;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    r = FS_AUTH_BAD_ALG;
    if (alg == NULL || strcmp(alg, "HS256") != 0)
        goto done;
    json_t *typ = json_object_get(hdr, "typ");
    r = FS_AUTH_MALFORMED;
    if (typ != NULL && (!json_is_string(typ) || json_string_length(typ) != 3 ||
                        strcasecmp(json_string_value(typ), "JWT") != 0))
        goto done;
    r = FS_AUTH_OK;
done:
    json_decref(hdr);
    return r;
}

/* The signature must be the one base64url spelling of our 32-byte HMAC over
 * the signing input; the comparison takes the same time wherever the first
 * difference lies. */
static enum fs_auth_result check_signature(const struct fs_auth *auth,
                                           const struct jwt_parts *parts)
{
    unsigned char given[HS256_LEN + 1], expected[HS256_LEN];

    if (auth == NULL || auth->hmac == NULL)
        return FS_AUTH_BAD_SIGNATURE;
    long n = fs_base64_decode(FS_BASE64_URL, parts->signature,
                              parts->signature_len, given, sizeof(given));
    if (n != HS256_LEN ||
        hs256(auth, parts->header, parts->signed_len, expected) != 0 ||
        CRYPTO_memcmp(given, expected, HS256_LEN) != 0)
        return FS_AUTH_BAD_SIGNATURE;
    return FS_AUTH_OK;
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
    struct jwt_parts parts;
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
    r = FS_AUTH_BAD_SIGNATURE;
    if (parts.signature_len == 0)
        goto done;
    claims = segment_object(parts.payload, parts.payload_len);
    r = FS_AUTH_MALFORMED;
    if (claims == NULL)
        goto done;
    r = check_signature(auth, &parts);
    if (r != FS_AUTH_OK)
        goto done;
    r = check_claims(claims, now_s, user_out);
done:
    json_decref(claims);
    if (r != FS_AUTH_OK)
        user_out[0] = '\0';
    return r;
}

/* base64url without padding (RFC 7515) of in[0..len) into out, which holds
 * at least 4 * ceil(len / 3) + 1 bytes. Returns the encoded length. */
static size_t base64url_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return (size_t)n;
}

#define BASE64_CAP(n) (4 * (((n) + 2) / 3) + 1)

/* MINT_HEADER "." base64url(claims) "." base64url(HMAC), malloc'd. */
static char *sign_claims(const struct fs_auth *auth, const char *claims)
{
    static const char header[] = MINT_HEADER ".";
    size_t claims_len = strlen(claims);
    unsigned char mac[HS256_LEN];
    char *out = NULL;

    /* EVP_EncodeBlock counts in int. */
    if (claims_len > INT_MAX / 2)
        goto fail;
    out = malloc(strlen(header) + BASE64_CAP(claims_len) +
                 BASE64_CAP(HS256_LEN));
    if (out == NULL)
        goto fail;
    size_t n = strlen(header);
    memcpy(out, header, n);
    n += base64url_encode((const unsigned char *)claims, claims_len, out + n);
    if (hs256(auth, out, n, mac) != 0)
        goto fail;
    out[n++] = '.';
    base64url_encode(mac, sizeof(mac), out + n);
    return out;
fail:
    free(out);
    return NULL;
}

char *fs_auth_mint(const struct fs_auth *auth, const char *user, int64_t now_s,
                   int64_t ttl_s)
{
    char *claims_text = NULL, *out = NULL;

    if (auth == NULL || auth->hmac == NULL || !fs_user_id_valid(user) ||
        ttl_s <= 0 || now_s < 0 || now_s > INT64_MAX - ttl_s)
        return NULL;
    json_t *claims = json_pack("{s:s, s:I, s:I}", "sub", user,
                               "iat", (json_int_t)now_s,
                               "exp", (json_int_t)(now_s + ttl_s));
    if (claims != NULL)
        claims_text = json_dumps(claims, JSON_COMPACT);
    if (claims_text != NULL)
        out = sign_claims(auth, claims_text);
    free(claims_text);
    json_decref(claims);
    return out;
}
