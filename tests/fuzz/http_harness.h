/*
 * http_harness.h - drives the real request handler of src/http/http_api.c (and
 * the files split from it) without a network: a fake civetweb (the mg_*
 * functions the HTTP layer calls) and a fake booking service behind it.
 *
 * fs_http_start() runs unchanged; the fake mg_set_request_handler() keeps
 * the handler it registers, and fuzz_http_run() calls it with a fake
 * connection holding the fuzzer's request. The fake service answers what
 * fuzz_http_set_outcome() says and checks that everything the HTTP layer
 * hands it was validated first. The policy engine (src/policy.c), the event
 * streams (src/events.c) and the two backend reads the HTTP layer makes are
 * faked the same way: the verdict is fuzz_http_set_policy()'s, and a
 * stream's booking moves one state on at each re-read until it is final.
 *
 * Every run checks the invariants any answer must meet: one response, a
 * status in 100..599 that the handler also returns, a Content-Length equal
 * to the bytes written (none for HEAD), header values without CR or LF, a
 * JSON object body with "error" and "message" for every 4xx/5xx, the
 * WWW-Authenticate, Allow and Retry-After headers with 401, 405 and 503, and
 * no booking changed by a request that was refused (400, 401, 403, 405,
 * 413, 429); an event stream is chunked, ends with the empty chunk and
 * releases its subscription.
 */
#ifndef FS_FUZZ_HTTP_HARNESS_H
#define FS_FUZZ_HTTP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

#define FUZZ_HEADERS_MAX 16

struct fuzz_request {
    const char *method;
    const char *uri;                  /* NULL: civetweb found no local URI */
    const char *header_name[FUZZ_HEADERS_MAX];
    const char *header_value[FUZZ_HEADERS_MAX];
    size_t n_headers;
    const unsigned char *body;
    size_t body_len;
    long long content_length;         /* -1: no Content-Length */
    size_t read_chunk;                /* most bytes one mg_read gives; 0: all */
};

struct fuzz_response {
    int status;
    char *body;                       /* NUL-terminated copy, body_len bytes */
    size_t body_len;
    int service_changes;              /* accept, confirm, cancel calls */
    int service_calls;                /* every call into the service */
};

/* Starts http_api.c on the fakes with this HS256 secret and body limit. */
void fuzz_http_init(const char *jwt_secret, long long max_body_bytes);
/* What the service answers next, and the state of the booking it returns. */
void fuzz_http_set_outcome(enum fs_status rc, enum fs_booking_state state);
/* The verdict of the fake policy engine (policy.h); FS_POLICY_ALLOW = 0. */
void fuzz_http_set_policy(int action, uint32_t retry_after);
/* NULL: JWTs (the default); else the trusted user header's name. */
void fuzz_http_set_trusted_header(const char *name);
/* One request through the handler; checks the invariants above. */
void fuzz_http_run(const struct fuzz_request *req, struct fuzz_response *out);
void fuzz_response_free(struct fuzz_response *resp);

#endif
