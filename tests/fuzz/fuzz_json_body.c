/*
 * fuzz_json_body.c - the request bodies of the booking API, through the real
 * handler of src/http/http_api.c and src/http/http_request.c (read_body, json_too_deep,
 * parse_json_body, expect_status_body) on the fake civetweb of
 * http_harness.c.
 *
 * Every input is sent as the body of the three routes that read one, with a
 * valid token so that authentication passes and the body decides:
 *   POST   /booking-service/book-item/launch         any JSON object, or empty
 *   PUT    /booking-service/book-item/launch/<id>    exactly {"status":"booked"}
 *   DELETE /booking-service/book-item/launch/<id>    {"status":"deleted"} or empty
 * The expected answer is worked out independently with jansson (nesting
 * depth measured on the parsed tree, not on the bytes), so a disagreement
 * between the byte-level depth guard and the parser is caught too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "fuzz_check.h"
#include "http_harness.h"
#include "log.h"

#define SECRET "fuzz-secret-0123456789abcdef"
#define BODY_MAX 4096
#define DEPTH_MAX 16 /* http_request.c's JSON_DEPTH_MAX */

static char authorization[FS_AUTH_TOKEN_MAX + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct fs_auth auth;
    char *token;

    (void)argc;
    (void)argv;
    fuzz_http_init(SECRET, BODY_MAX);
    if (fs_auth_init(&auth, SECRET, strlen(SECRET)) != 0)
        abort();
    token = fs_auth_mint(&auth, "fuzz-user", fs_now_ms() / 1000, 7 * 86400);
    if (!token)
        abort();
    snprintf(authorization, sizeof(authorization), "Bearer %s", token);
    free(token);
    fs_auth_free(&auth);
    fuzz_http_set_outcome(FS_OK, FS_STATE_HOLD);
    return 0;
}

static int depth(const json_t *j)
{
    int deepest = 0;
    const char *key;
    json_t *v;
    size_t i;

    if (json_is_object(j))
        json_object_foreach((json_t *)j, key, v) {
            int d = depth(v);
            deepest = d > deepest ? d : deepest;
        }
    else if (json_is_array(j))
        json_array_foreach(j, i, v) {
            int d = depth(v);
            deepest = d > deepest ? d : deepest;
        }
    else
        return 0;
    return deepest + 1;
}

/* 1 if the body is exactly {"status": want}. */
static int is_status_body(const json_t *obj, const char *want)
{
    const json_t *s = json_object_get(obj, "status");
    return json_object_size(obj) == 1 && json_is_string(s) &&
           json_string_length(s) == strlen(want) &&
           memcmp(json_string_value(s), want, strlen(want)) == 0;
}

static int send_request(const char *method, const char *uri, const uint8_t *body,
                size_t len)
{
    struct fuzz_request q;
    struct fuzz_response resp;

    memset(&q, 0, sizeof(q));
    q.method = method;
    q.uri = uri;
    q.header_name[0] = "Authorization";
    q.header_value[0] = authorization;
    q.n_headers = 1;
    q.body = body;
    q.body_len = len;
    /* Odd lengths come without Content-Length (chunked), so the limit is
     * also enforced while reading; reads come in pieces of varying size. */
    q.content_length = len % 2 ? -1 : (long long)len;
    q.read_chunk = 1 + len % 61;
    fuzz_http_run(&q, &resp);
    fuzz_response_free(&resp);
    return resp.status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
                             NULL);
    int object = json_is_object(obj) && depth(obj) <= DEPTH_MAX;
    int big = size > BODY_MAX;
    int s;

    s = send_request("POST", "/booking-service/book-item/launch", data, size);
    FUZZ_CHECK(s == (big ? 413 : size == 0 || object ? 202 : 400));
    s = send_request("PUT", "/booking-service/book-item/launch/01HFUZZ0000000000000000000",
             data, size);
    FUZZ_CHECK(s == (big ? 413 : object && is_status_body(obj, "booked") ? 200 : 400));
    s = send_request("DELETE",
             "/booking-service/book-item/launch/01HFUZZ0000000000000000000",
             data, size);
    FUZZ_CHECK(s == (big ? 413
                     : size == 0 || (object && is_status_body(obj, "deleted"))
                         ? 200 : 400));
    json_decref(obj);
    return 0;
}
