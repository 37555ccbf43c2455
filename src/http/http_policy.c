/*
 * http_policy.c - the glue between a REST API request and the Lua policies
 * (src/policy.c, policies/README.md): the request as the policies see it
 * (user, address, User-Agent, headers), and their verdict as an answer (429,
 * 403, or 503 when a policy fails closed). Separate from the routes because
 * this is the only place the HTTP layer knows the policy ABI, and because of
 * its one rule that is not a policy's to decide: a user who already holds or
 * booked gets 409 already_booked, never 403.
 */
#include <stdio.h>
#include <string.h>

#include <civetweb.h>
#include <jansson.h>

#include "http_request.h"
#include "policy.h"
#include "service.h"

static void policy_request(struct request *r, const char *sale,
                           const char *booking_id, struct fs_policy_request *pr,
                           struct fs_policy_header h[MG_MAX_HEADERS])
{
    int n = r->ri->num_headers < MG_MAX_HEADERS ? r->ri->num_headers
                                                : MG_MAX_HEADERS;
    for (int i = 0; i < n; i++) {
        h[i].name = r->ri->http_headers[i].name;
        h[i].value = r->ri->http_headers[i].value;
    }
    memset(pr, 0, sizeof(*pr));
    pr->user = r->user;
    pr->ip = r->ri->remote_addr;
    pr->user_agent = mg_get_header(r->conn, "User-Agent");
    pr->sale = sale;
    pr->method = r->ri->request_method;
    pr->path = r->ri->local_uri;
    pr->booking_id = booking_id;
    pr->headers = h;
    pr->n_headers = n > 0 ? (size_t)n : 0;
}

/* DESIGN.md section 2: a repeat by a user who already holds or booked is
 * 409 already_booked whatever the policies say, never 403. The inventory
 * knows who holds or booked, across every daemon sharing it. 1 when
 * answered. */
static int answer_repeat(struct request *r, const char *sale)
{
    char id[FS_ID_MAX + 1];

    if (fs_service_user_booking(r->http->svc, sale, r->user, id) != FS_OK)
        return 0;
    fs_http_send_error_with(r, 409, "already_booked",
                            "you already have a booking in this sale",
                            json_pack("{s:s}", "booking_id", id), NULL);
    return 1;
}

/* Answers a verdict other than allow: 429 with Retry-After, 403, or for a
 * failed policy 503 with Retry-After (fail-closed: nothing accepted, and
 * no verdict on the client) unless policies.fail_open. 0 to go on. */
static int policy_answer(struct request *r, const struct fs_policy_verdict *v,
                         const char *book_sale)
{
    char retry[16], message[64];
    const char *headers[] = {"Retry-After", retry, NULL};

    switch (v->action) {
    case FS_POLICY_ALLOW:
        return 0;
    case FS_POLICY_SLOW:
        snprintf(retry, sizeof(retry), "%u", (unsigned)v->retry_after);
        snprintf(message, sizeof(message), "too many requests: retry in %u s",
                 (unsigned)v->retry_after);
        fs_http_send_error_with(r, 429, "rate_limited", message, NULL, headers);
        return -1;
    case FS_POLICY_DENY:
        if (!book_sale || !answer_repeat(r, book_sale))
            fs_http_send_error(r, 403, "forbidden", v->reason);
        return -1;
    default:
        if (r->http->svc->cfg->policy_fail_open)
            return 0;
        fs_http_send_unavailable(r, "the booking policy could not decide; "
                                    "nothing was accepted or changed");
        return -1;
    }
}

int fs_http_policy_book(struct request *r, const char *sale, uint32_t *hold)
{
    struct fs_policy_header h[MG_MAX_HEADERS];
    struct fs_policy_request pr;
    struct fs_policy_verdict v;

    policy_request(r, sale, NULL, &pr, h);
    fs_policy_book(&pr, &v, hold);
    return policy_answer(r, &v, sale);
}

int fs_http_policy_change(struct request *r, enum fs_policy_hook hook,
                          const char *sale, const char *booking_id)
{
    struct fs_policy_header h[MG_MAX_HEADERS];
    struct fs_policy_request pr;
    struct fs_policy_verdict v;

    policy_request(r, sale, booking_id, &pr, h);
    fs_policy_check(hook, &pr, &v);
    return policy_answer(r, &v, NULL);
}
