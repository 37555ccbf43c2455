/*
 * auth.c - owns the decision whether a request's "Authorization: Bearer
 * <jwt>" names a user, and mints the tokens of `flashsaled token`.
 *
 * Tokens are checked here, with OpenSSL 3 and jansson, not with libjwt.
 * libjwt 1.10 decoded and parsed every token a second time after our own
 * checks, and computed its HMAC through a pair of BIOs whose creation takes
 * a process-wide lock in OpenSSL 3: on the hot path that was most of a
 * sold-out answer's own work. It was also too trusting to use alone: it
 * verifies with whatever alg the header names (an HS384 token made with our
 * secret would pass), accepts `alg: none` under an empty key, reads a string
 * `exp` as 0, and copies the token with alloca().
 *
 * So a token is split once and judged in this order, each step giving its
 * refusal a precise reason for logs and metrics (the client gets 401 for
 * all of them):
 *  - the header: strict base64url, a JSON object without duplicate keys,
 *    `alg` one of the allow-list (never "none"), `typ` absent or the string
 *    "JWT" in any case (as libjwt insisted), `kid` a string when present;
 *    the exact header `flashsaled token` writes is recognised by its bytes;
 *  - the payload: parsed once, the same rules, kept for the claims;
 *  - the signature, by the header's alg and nothing else: HS256 is an
 *    HMAC-SHA256 with auth.jwt_secret, compared in constant time, and is
 *    only in the allow-list when a secret is set, so an IdP's public key can
 *    never be used as an HMAC secret (the "algorithm confusion" forgery);
 *    RS256, ES256 and EdDSA use the JWKS key the `kid` names, which must be
 *    a key of that very algorithm (jwks.c), through EVP_DigestVerify;
 *  - the claims, with types insisted on: `exp` and `nbf` integers, judged
 *    with auth.leeway_s; `sub` a valid user id without an embedded NUL; and
 *    for an IdP's token, `exp` required, `iss` and `aud` as configured.
 *    HS256 tokens are the daemon's own and carry no iss or aud.
 * fs_auth_init refuses an empty secret. The HMAC is keyed once there; each
 * call works on an EVP_MAC_CTX_dup of it, which reads the shared context
 * only, so any number of threads may verify at once without a lock. (A
 * context kept per thread and re-initialised would save about 0.4 us more
 * per token, measured, but would need per-thread state that outlives
 * requests; the one-shot HMAC() fetches the algorithm on every call and is
 * slower than the copy.) A JWKS key is looked up under the source's short
 * lock and used outside it with a reference to its set (jwks_fetch.c).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "auth.h"
#include "base64.h"
#include "config.h"
#include "jwks.h"
#include "jwks_fetch.h"

#define HS256_LEN 32
/* The longest signature verified: RSA-8192. */
#define SIGNATURE_MAX 1024
#define ES256_LEN 64
/* base64url of {"alg":"HS256","typ":"JWT"}, the header of minted tokens. */
#define MINT_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

/* A JWT in compact form: three base64url segments joined by dots. The
 * signing input is header "." payload, i.e. the first signed_len bytes. */
struct jwt_parts {
    const char *header, *payload, *signature;
    size_t header_len, payload_len, signature_len, signed_len;
};

/* What the header says, once judged. */
struct jwt_header {
    unsigned alg;                  /* one enum fs_jwt_alg bit */
    char kid[FS_JWK_KID_MAX + 1];  /* "" when absent */
    size_t kid_len;
};

int fs_auth_init(struct fs_auth *auth, const char *secret, size_t len)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };

    memset(auth, 0, sizeof(*auth));
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
    auth->algorithms = FS_JWT_HS256;
    return 0;
}

int fs_auth_use_jwks(struct fs_auth *auth, struct fs_jwks_source *src,
                     unsigned algorithms, const char *issuer,
                     const char *audience, int64_t leeway_s)
{
    fs_jwks_source_free(auth->jwks);
    free(auth->issuer);
    free(auth->audience);
    auth->jwks = src;
    auth->issuer = issuer ? strdup(issuer) : NULL;
    auth->audience = audience ? strdup(audience) : NULL;
    auth->algorithms |= algorithms & FS_JWT_ASYMMETRIC;
    auth->leeway_s = leeway_s;
    return (issuer && !auth->issuer) || (audience && !auth->audience) ? -1 : 0;
}

static struct fs_jwks_source *config_source(const struct fs_config *cfg,
                                            char *err, size_t errlen)
{
    const struct fs_jwks_source_config sc = {
        .file = cfg->auth.jwks_file,
        .url = cfg->auth.jwks_url,
        .ca_file = cfg->auth.jwks_ca_file,
        .refresh_s = cfg->auth.jwks_refresh_s,
        .min_interval_s = cfg->auth.jwks_min_interval_s,
        .file_poll_ms = 1000,
    };
    struct fs_jwks_source *src = fs_jwks_source_create(&sc, err, errlen);

    if (src != NULL && fs_jwks_source_start(src) != 0) {
        snprintf(err, errlen, "cannot start the JWKS refresher thread");
        fs_jwks_source_free(src);
        return NULL;
    }
    return src;
}

int fs_auth_init_config(struct fs_auth *auth, const struct fs_config *cfg,
                        char *err, size_t errlen)
{
    struct fs_jwks_source *src = NULL;
    int jwks = cfg->auth.jwks_file != NULL || cfg->auth.jwks_url != NULL;
    /* What the keys allow; config.c refuses a list that asks for more, and
     * 0 (a config built without the loader) means all of it. */
    unsigned usable = (cfg->jwt_secret ? FS_JWT_HS256 : 0) |
                      (jwks ? FS_JWT_ASYMMETRIC : 0);
    unsigned allowed = cfg->auth.algorithms ? cfg->auth.algorithms & usable
                                            : usable;

    memset(auth, 0, sizeof(*auth));
    if (cfg->jwt_secret != NULL &&
        fs_auth_init(auth, cfg->jwt_secret, strlen(cfg->jwt_secret)) != 0) {
        snprintf(err, errlen, "cannot set up HS256 with auth.jwt_secret");
        return -1;
    }
    if (jwks) {
        src = config_source(cfg, err, errlen);
        if (src == NULL ||
            fs_auth_use_jwks(auth, src, allowed, cfg->auth.issuer,
                             cfg->auth.audience, cfg->auth.leeway_s) != 0) {
            if (src != NULL)
                snprintf(err, errlen, "out of memory");
            fs_auth_free(auth);
            return -1;
        }
    }
    auth->algorithms = allowed;
    auth->leeway_s = cfg->auth.leeway_s;
    return 0;
}

void fs_auth_free(struct fs_auth *auth)
{
    if (auth == NULL)
        return;
    EVP_MAC_CTX_free(auth->hmac);
    auth->hmac = NULL;
    fs_jwks_source_free(auth->jwks);
    auth->jwks = NULL;
    free(auth->issuer);
    free(auth->audience);
    auth->issuer = auth->audience = NULL;
    auth->algorithms = 0;
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
    case FS_AUTH_UNKNOWN_KEY: return "the token's signing key (kid) is not known";
    case FS_AUTH_NOT_YET_VALID: return "the token is not valid yet (nbf)";
    case FS_AUTH_BAD_ISSUER: return "the token's issuer (iss) is not accepted";
    case FS_AUTH_BAD_AUDIENCE:
        return "the token is not meant for this service (aud)";
    case FS_AUTH_NO_EXPIRY: return "the token has no expiry (exp)";
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

/* kid, when present, is a string of at most FS_JWK_KID_MAX bytes without
 * NUL; a longer one cannot name any key we hold. */
static enum fs_auth_result header_kid(json_t *hdr, struct jwt_header *out)
{
    json_t *kid = json_object_get(hdr, "kid");

    if (kid == NULL)
        return FS_AUTH_OK;
    if (!json_is_string(kid))
        return FS_AUTH_MALFORMED;
    size_t len = json_string_length(kid);
    if (len > FS_JWK_KID_MAX || strlen(json_string_value(kid)) != len)
        return FS_AUTH_UNKNOWN_KEY;
    memcpy(out->kid, json_string_value(kid), len + 1);
    out->kid_len = len;
    return FS_AUTH_OK;
}

/* alg must be one of the allow-list (RFC 7515: case-sensitive, so "hs256"
 * is no HS256); typ, when present, must say JWT (RFC 7519 recommends the
 * upper case; libjwt, which judged tokens before us, accepted any case, and
 * so do we). The header we mint ourselves is recognised without parsing:
 * it is what nearly every HS256 request carries. */
static enum fs_auth_result check_header(const struct fs_auth *auth,
                                        const struct jwt_parts *parts,
                                        struct jwt_header *out)
{
    memset(out, 0, sizeof(*out));
    if (parts->header_len == strlen(MINT_HEADER) &&
        memcmp(parts->header, MINT_HEADER, parts->header_len) == 0) {
        out->alg = FS_JWT_HS256;
        return auth->algorithms & FS_JWT_HS256 ? FS_AUTH_OK : FS_AUTH_BAD_ALG;
    }
    enum fs_auth_result r = FS_AUTH_MALFORMED;
    json_t *hdr = segment_object(parts->header, parts->header_len);
    if (hdr == NULL)
        goto done;
    json_t *alg = json_object_get(hdr, "alg");
    r = FS_AUTH_BAD_ALG;
    if (!json_is_string(alg))
        goto done;
    out->alg = fs_jwt_alg_parse(json_string_value(alg), json_string_length(alg));
    if ((out->alg & auth->algorithms) == 0)
        goto done;
    json_t *typ = json_object_get(hdr, "typ");
    r = FS_AUTH_MALFORMED;
    if (typ != NULL && (!json_is_string(typ) || json_string_length(typ) != 3 ||
                        strcasecmp(json_string_value(typ), "JWT") != 0))
        goto done;
    /* HS256 has one key: its kid, if any, is not ours to judge. */
    r = out->alg == FS_JWT_HS256 ? FS_AUTH_OK : header_kid(hdr, out);
done:
    json_decref(hdr);
    return r;
}

/* The signature must be the one base64url spelling of our 32-byte HMAC over
 * the signing input; the comparison takes the same time wherever the first
 * difference lies. */
static enum fs_auth_result check_hs256(const struct fs_auth *auth,
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

/* JWS (RFC 7518 3.4) carries an ES256 signature as r || s, 32 bytes each;
 * OpenSSL verifies the DER encoding of ECDSA-Sig-Value. 0 on success. */
static int es256_to_der(const unsigned char *raw, size_t len,
                        unsigned char **der, size_t *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES256_LEN / 2, NULL);
    BIGNUM *s = BN_bin2bn(raw + ES256_LEN / 2, ES256_LEN / 2, NULL);
    int n = -1;

    *der = NULL;
    if (len == ES256_LEN && sig != NULL && r != NULL && s != NULL &&
        ECDSA_SIG_set0(sig, r, s)) {
        r = s = NULL;  /* owned by sig now */
        n = i2d_ECDSA_SIG(sig, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    if (n <= 0)
        return -1;
    *der_len = (size_t)n;
    return 0;
}

/* EVP_DigestVerify with SHA-256 (none for Ed25519, which hashes itself). */
static int pkey_verify(const struct fs_jwk *key, const unsigned char *sig,
                       size_t sig_len, const struct jwt_parts *parts)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL &&
             EVP_DigestVerifyInit_ex(ctx, NULL,
                                     key->alg == FS_JWT_EDDSA ? NULL : "SHA256",
                                     NULL, NULL, key->pkey, NULL) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len,
                              (const unsigned char *)parts->header,
                              parts->signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        ERR_clear_error();  /* a forged token must leave nothing behind */
    return ok;
}

static enum fs_auth_result verify_with_key(const struct fs_jwk *key,
                                           const struct jwt_parts *parts)
{
    unsigned char raw[SIGNATURE_MAX + 1], *der = NULL;
    size_t der_len = 0;

    long n = fs_base64_decode(FS_BASE64_URL, parts->signature,
                              parts->signature_len, raw, sizeof(raw));
    if (n <= 0 || n > SIGNATURE_MAX)
        return FS_AUTH_BAD_SIGNATURE;
    if (key->alg == FS_JWT_ES256 &&
        es256_to_der(raw, (size_t)n, &der, &der_len) != 0)
        return FS_AUTH_BAD_SIGNATURE;
    int ok = der ? pkey_verify(key, der, der_len, parts)
                 : pkey_verify(key, raw, (size_t)n, parts);
    OPENSSL_free(der);
    return ok ? FS_AUTH_OK : FS_AUTH_BAD_SIGNATURE;
}

/* The key the kid names, of the token's own algorithm, checks the token.
 * An unknown kid asks for a refresh (the IdP may have rotated) without
 * waiting for it. */
static enum fs_auth_result check_jwks(const struct fs_auth *auth,
                                      const struct jwt_header *hdr,
                                      const struct jwt_parts *parts)
{
    struct fs_jwks *hold = NULL;

    if (auth->jwks == NULL || hdr->kid_len == 0)
        return FS_AUTH_UNKNOWN_KEY;
    const struct fs_jwk *key =
        fs_jwks_source_find(auth->jwks, hdr->kid, hdr->kid_len, &hold);
    if (key == NULL) {
        fs_jwks_source_unknown_kid(auth->jwks);
        return FS_AUTH_UNKNOWN_KEY;
    }
    enum fs_auth_result r = key->alg == hdr->alg
                                ? verify_with_key(key, parts)
                                : FS_AUTH_BAD_ALG;
    fs_jwks_unref(hold);
    return r;
}

static enum fs_auth_result check_signature(const struct fs_auth *auth,
                                           const struct jwt_header *hdr,
                                           const struct jwt_parts *parts)
{
    if (hdr->alg == FS_JWT_HS256)
        return check_hs256(auth, parts);
    return check_jwks(auth, hdr, parts);
}

/* exp and nbf, when present, are whole seconds. exp <= now - leeway is
 * expired; nbf > now + leeway is not yet valid. Written so that no sum can
 * overflow whatever a token claims. */
static enum fs_auth_result check_times(const struct fs_auth *auth,
                                       json_t *claims, int64_t now_s,
                                       int exp_required)
{
    json_t *exp = json_object_get(claims, "exp");
    json_t *nbf = json_object_get(claims, "nbf");
    int64_t leeway = auth->leeway_s;

    if (exp == NULL && exp_required)
        return FS_AUTH_NO_EXPIRY;
    if ((exp != NULL && !json_is_integer(exp)) ||
        (nbf != NULL && !json_is_integer(nbf)))
        return FS_AUTH_MALFORMED;
    if (exp != NULL && json_integer_value(exp) <= now_s - leeway)
        return FS_AUTH_EXPIRED;
    if (nbf != NULL && json_integer_value(nbf) > now_s + leeway)
        return FS_AUTH_NOT_YET_VALID;
    return FS_AUTH_OK;
}

/* aud is a string or an array of strings (RFC 7519 4.1.3). */
static int audience_names(json_t *aud, const char *want)
{
    size_t i;
    json_t *v;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0 &&
               json_string_length(aud) == strlen(want);
    json_array_foreach(aud, i, v)
        if (json_is_string(v) && json_string_length(v) == strlen(want) &&
            strcmp(json_string_value(v), want) == 0)
            return 1;
    return 0;
}

/* iss and aud bind an IdP's token to this service: the IdP signs tokens for
 * other clients and realms with the same keys. */
static enum fs_auth_result check_idp_claims(const struct fs_auth *auth,
                                            json_t *claims)
{
    json_t *iss = json_object_get(claims, "iss");

    if (auth->issuer != NULL &&
        (!json_is_string(iss) ||
         json_string_length(iss) != strlen(auth->issuer) ||
         strcmp(json_string_value(iss), auth->issuer) != 0))
        return FS_AUTH_BAD_ISSUER;
    if (auth->audience != NULL &&
        !audience_names(json_object_get(claims, "aud"), auth->audience))
        return FS_AUTH_BAD_AUDIENCE;
    return FS_AUTH_OK;
}

static enum fs_auth_result check_claims(const struct fs_auth *auth,
                                        const struct jwt_header *hdr,
                                        json_t *claims, int64_t now_s,
                                        char user_out[FS_USER_MAX + 1])
{
    int idp = hdr->alg != FS_JWT_HS256;
    enum fs_auth_result r = check_times(auth, claims, now_s, idp);
    if (r == FS_AUTH_OK && idp)
        r = check_idp_claims(auth, claims);
    if (r != FS_AUTH_OK)
        return r;
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
    static const struct fs_auth refuse_all;
    struct jwt_parts parts;
    struct jwt_header hdr;
    json_t *claims = NULL;
    const char *tok;
    size_t len;

    user_out[0] = '\0';
    if (auth == NULL)
        auth = &refuse_all;
    enum fs_auth_result r = bearer_token(header, &tok, &len);
    if (r != FS_AUTH_OK)
        goto done;
    r = FS_AUTH_MALFORMED;
    if (split_token(tok, len, &parts) != 0)
        goto done;
    r = check_header(auth, &parts, &hdr);
    if (r != FS_AUTH_OK)
        goto done;
    r = FS_AUTH_BAD_SIGNATURE;
    if (parts.signature_len == 0)
        goto done;
    claims = segment_object(parts.payload, parts.payload_len);
    r = FS_AUTH_MALFORMED;
    if (claims == NULL)
        goto done;
    r = check_signature(auth, &hdr, &parts);
    if (r != FS_AUTH_OK)
        goto done;
    r = check_claims(auth, &hdr, claims, now_s, user_out);
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
