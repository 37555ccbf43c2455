/*
 * fuzz_auth.c - fs_auth_verify_header (auth.c) on the Authorization header
 * a client sends.
 *
 * Two kinds of input:
 *  - anything not starting with 'S' is the header value itself (the seed
 *    corpus holds real tokens, so mutations land next to valid ones);
 *  - 'S' <header JSON> '\n' <claims JSON>: the harness signs those with the
 *    secret (libjwt), so the claim checks behind the signature are reached
 *    with arbitrary claims too.
 * Invariants: a user is returned exactly when the answer is FS_AUTH_OK, and
 * it is a valid user id; the same token under another secret never passes;
 * a signed token is judged by its claims alone (sub, exp), as auth.h says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

#include "auth.h"
#include "fuzz_check.h"

/* Also in the seed corpus' tokens: tests/fuzz/make_corpus.py. */
#define FUZZ_SECRET "fuzz-secret-0123456789abcdef"
#define FUZZ_NOW_S INT64_C(1700000000)

static struct fs_auth auth, other;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fs_auth_init(&auth, FUZZ_SECRET, strlen(FUZZ_SECRET)) != 0 ||
        fs_auth_init(&other, "another-secret-of-some-length", 29) != 0)
        abort();
    return 0;
}

static enum fs_auth_result verify(const struct fs_auth *a, const char *header,
                                  char user[FS_USER_MAX + 1])
{
    enum fs_auth_result r = fs_auth_verify_header(a, header, FUZZ_NOW_S, user);
    FUZZ_CHECK(r >= FS_AUTH_OK && r <= FS_AUTH_NO_SUBJECT);
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

/* What auth.h promises for a correctly signed HS256 token. */
static enum fs_auth_result expected_for_claims(const char *claims_json,
                                               const char **sub_out)
{
    json_t *claims = json_loads(claims_json, 0, NULL);
    enum fs_auth_result r = FS_AUTH_MALFORMED;
    json_t *exp, *sub;

    *sub_out = NULL;
    if (!json_is_object(claims))
        goto done;
    exp = json_object_get(claims, "exp");
    if (exp && !json_is_integer(exp))
        goto done;
    r = FS_AUTH_EXPIRED;
    if (exp && json_integer_value(exp) <= FUZZ_NOW_S)
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
    const char *sub;

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
    enum fs_auth_result want = expected_for_claims(claims, &sub);
    FUZZ_CHECK(verify(&auth, header, user) == want);
done:
    free(header);
    free(claims);
    free(token);
    jwt_free(jwt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (size > 0 && text[0] == 'S') {
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
