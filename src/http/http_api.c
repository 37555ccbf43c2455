/*
 * http_api.c - civetweb handlers for the REST API of DESIGN.md section 2:
 * the routes, the dispatch, civetweb's own errors, and starting and
 * stopping the server.
 *
 * One handler takes every request and routes it itself, so that the body
 * limit (413 before any other check), 404, 405 and the JSON error shape are
 * the same on every path. Order of checks: body size, route, method, ids,
 * authentication, then the booking service. fs_status becomes an HTTP status
 * in fs_http_status_reply() and nowhere else.
 *
 * What the routes share lives beside them (src/http/http_request.h): the answers
 * and request parsing in src/http/http_request.c, the policy glue in
 * src/http/http_policy.c, and the event stream route in src/http/http_events.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <civetweb.h>
#include <jansson.h>

#include "http_api.h"
#include "http_admin.h"
#include "events.h"
#include "health.h"
#include "http_reply.h"
#include "http_request.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "policy.h"
#include "states.h"

/* ---- routes --------------------------------------------------------------- */

static void route_book(struct request *r)
{
    struct fs_booking b;
    char existing[FS_ID_MAX + 1] = "";
    const char *sale_id = r->seg[2];
    int64_t t0 = fs_mono_ns();
    json_t *ignored;
    uint32_t hold = 0;
    enum fs_status rc;

    if (fs_http_check_ids(r, 2, 3) || fs_http_authenticate(r) ||
        fs_http_parse_json_body(r, 1, &ignored))
        return;
    json_decref(ignored);
    if (fs_http_policy_book(r, sale_id, &hold) != 0)
        return;
    rc = fs_booking_accept(r->http->svc, sale_id, r->user, hold, &b, existing);
    switch (rc) {
    case FS_OK: {
        char location[160];
        const char *headers[] = {"Location", location, NULL};
        snprintf(location, sizeof(location), "/booking-service/book-item/%s/%s",
                 sale_id, b.booking_id);
        fs_http_send_json(r, 202, fs_http_booking_json(&b), headers);
        fs_metrics_observe(FS_HIST_ACCEPT, (double)(fs_mono_ns() - t0) / 1e9);
        return;
    }
    case FS_NOT_FOUND:
        fs_http_send_error(r, 404, "not_found", "no such sale");
        return;
    case FS_CLOSED:
        fs_http_send_error(r, 409, "closed", "the sale is not open");
        return;
    case FS_SOLD_OUT:
        fs_http_send_error(r, 409, "sold_out", "no items left");
        return;
    case FS_DUPLICATE:
        fs_http_send_error_with(r, 409, "already_booked",
                                "you already have a booking in this sale",
                                json_pack("{s:s}", "booking_id", existing),
                                NULL);
        return;
    case FS_UNAVAILABLE:
        fs_http_send_unavailable(
            r, "a backend is unavailable; nothing was accepted");
        return;
    case FS_QUEUE_FULL:
        fs_http_send_unavailable(
            r, "the sale's queue is full; nothing was accepted");
        return;
    default:
        fs_http_send_error(r, 500, "internal", "internal error");
        return;
    }
}

static void route_booking(struct request *r)
{
    struct fs_service *svc = r->http->svc;
    const char *sale_id = r->seg[2], *booking_id = r->seg[3];
    struct fs_booking b;
    enum fs_status rc;

    memset(&b, 0, sizeof(b));
    if (fs_http_method_is(r, "GET") || fs_http_method_is(r, "HEAD")) {
        r->route = FS_ROUTE_BOOKING_GET;
        if (fs_http_check_ids(r, 2, 4) || fs_http_authenticate(r))
            return;
        rc = fs_booking_get(svc, r->user, sale_id, booking_id, &b);
    } else if (fs_http_method_is(r, "PUT")) {
        r->route = FS_ROUTE_BOOKING_PUT;
        if (fs_http_check_ids(r, 2, 4) || fs_http_authenticate(r) ||
            fs_http_expect_status_body(r, "booked", 0) ||
            fs_http_policy_change(r, FS_POLICY_ON_CONFIRM, sale_id, booking_id))
            return;
        rc = fs_booking_confirm(svc, r->user, sale_id, booking_id, &b);
    } else if (fs_http_method_is(r, "DELETE")) {
        r->route = FS_ROUTE_BOOKING_DELETE;
        if (fs_http_check_ids(r, 2, 4) || fs_http_authenticate(r) ||
            fs_http_expect_status_body(r, "deleted", 1) ||
            fs_http_policy_change(r, FS_POLICY_ON_CANCEL, sale_id, booking_id))
            return;
        rc = fs_booking_cancel(svc, r->user, sale_id, booking_id, &b);
    } else {
        fs_http_send_method_not_allowed(r, "GET, HEAD, PUT, DELETE");
        return;
    }
    fs_http_status_reply(r, rc, &b);
}


static void route_sale(struct request *r)
{
    struct fs_sale_view v;
    enum fs_status rc;

    if (fs_http_check_ids(r, 2, 3))
        return;
    rc = fs_sale_get_view(r->http->svc, r->seg[2], &v);
    if (rc == FS_NOT_FOUND) {
        fs_http_send_error(r, 404, "not_found", "no such sale");
        return;
    }
    if (rc != FS_OK) {
        fs_http_send_unavailable(r, "the inventory backend is unavailable");
        return;
    }
    fs_http_send_json(
        r, 200,
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "sale_id", v.sale_id,
                  "inventory", (json_int_t)v.counts.inventory, "available",
                  (json_int_t)v.counts.available, "held",
                  (json_int_t)v.counts.held, "booked",
                  (json_int_t)v.counts.booked, "state", v.state),
        NULL);
}

static void route_ready(struct request *r)
{
    static const char *const retry[] = {
        "Retry-After", FS_HTTP_RETRY_AFTER_UNAVAILABLE, NULL};
    struct fs_backend_health h[FS_HEALTH_KINDS];
    int ready = fs_health_check(r->http->svc, h);
    json_t *backends = json_object();

    for (size_t i = 0; i < FS_HEALTH_KINDS; i++) {
        json_t *one = json_pack("{s:b, s:s}", "ok", h[i].ready, "plugin",
                                h[i].plugin);
        if (one && !h[i].ready)
            json_object_set_new(one, "detail", json_string(h[i].detail));
        json_object_set_new(backends, h[i].kind, one);
    }
    fs_http_send_json(
        r, ready ? 200 : 503,
        json_pack("{s:b, s:o}", "ready", ready, "backends", backends),
        ready ? NULL : retry);
}

/* Gauges read at scrape time: each sale's queue and items as they stand
 * (a sale whose inventory cannot answer keeps its last items), the
 * backends' readiness and the open event streams. */
static void collect_gauges(struct fs_service *svc)
{
    struct fs_backend_health h[FS_HEALTH_KINDS];

    for (size_t i = 0; i < fs_sales_count(&svc->sales); i++) {
        struct fs_sale *sale = fs_sales_at(&svc->sales, i);
        struct fs_sale_view v;
        fs_metrics_sale_queue(sale->id, fs_sale_queued(svc, sale),
                              atomic_load(&sale->max_queued));
        if (fs_sale_get_view(svc, sale->id, &v) == FS_OK) {
            int64_t items[FS_METRICS_ITEM_KINDS] = {
                v.counts.inventory, v.counts.available, v.counts.held,
                v.counts.booked};
            fs_metrics_sale_items(sale->id, items);
        }
    }
    (void)fs_health_check(svc, h);
    for (size_t k = 0; k < FS_HEALTH_KINDS; k++)
        fs_metrics_backend_ready(k, h[k].plugin, h[k].ready);
    fs_metrics_event_streams((int64_t)fs_events_open_streams());
}

static void route_metrics(struct request *r)
{
    size_t len = 0;
    char *text;

    collect_gauges(r->http->svc);
    text = fs_metrics_render(&len);
    if (!text) {
        fs_http_send_error(r, 500, "internal", "out of memory");
        return;
    }
    fs_http_send_body(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                      text, len, NULL);
    free(text);
}

/* Routes that only answer GET (and HEAD). */
static void get_only(struct request *r, void (*route)(struct request *))
{
    if (fs_http_method_is(r, "GET") || fs_http_method_is(r, "HEAD"))
        route(r);
    else
        fs_http_send_method_not_allowed(r, "GET, HEAD");
}

/* docs/openapi.yaml, compiled in (src/openapi.h): no auth, like /metrics. */
static void route_openapi(struct request *r)
{
    fs_http_send_body(r, 200, "application/yaml", (const char *)fs_openapi_yaml,
                      fs_openapi_yaml_len, NULL);
}

static void route_health(struct request *r)
{
    fs_http_send_json(r, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static void dispatch(struct request *r)
{
    r->route = fs_http_match_route(r);
    switch (r->route) {
    case FS_ROUTE_HEALTH:
        get_only(r, route_health);
        break;
    case FS_ROUTE_READY:
        get_only(r, route_ready);
        break;
    case FS_ROUTE_METRICS:
        get_only(r, route_metrics);
        break;
    case FS_ROUTE_OPENAPI:
        get_only(r, route_openapi);
        break;
    case FS_ROUTE_SALE:
        get_only(r, route_sale);
        break;
    case FS_ROUTE_ADMIN:
        r->status = fs_http_admin_route(r->http, r->conn, r->seg + 1,
                                        r->n_seg - 1);
        break;
    case FS_ROUTE_BOOK:
        if (fs_http_method_is(r, "POST"))
            route_book(r);
        else
            fs_http_send_method_not_allowed(r, "POST");
        break;
    case FS_ROUTE_BOOKING_GET:
        route_booking(r);
        break;
    case FS_ROUTE_BOOKING_EVENTS:
        fs_http_route_events(r);
        break;
    default:
        fs_http_send_error(r, 404, "not_found", "no such resource");
        break;
    }
}

int fs_http_handle_request(struct mg_connection *conn, void *cbdata)
{
    struct request r;

    memset(&r, 0, sizeof(r));
    r.conn = conn;
    r.ri = mg_get_request_info(conn);
    r.http = cbdata;
    r.route = FS_ROUTE_OTHER;
    if (fs_http_read_body(&r) == 0) {
        fs_http_split_path(&r);
        dispatch(&r);
    }
    fs_metrics_request(r.route, r.status);
    /* Per sale only for the sales the daemon knows: a path's sale id is the
     * client's choice, and slots are few. */
    if (r.route == FS_ROUTE_BOOK && r.n_seg == 3 && r.status &&
        fs_service_sale(r.http->svc, r.seg[2]))
        fs_metrics_sale_answer(r.seg[2], r.status);
    free(r.body);
    return r.status;
}

/* civetweb's own errors (a request it could not parse, headers over
 * max_request_size, a timeout) in the API's JSON shape. civetweb 1.15 calls a
 * request whose headers overflow its buffer "Request Too Large" with status
 * 400; the API answers those 413 too_large. */
int fs_http_handle_error(struct mg_connection *conn, int status,
                         const char *msg)
{
    struct request r;
    int too_large = status == 413 || status == 431 ||
                    (msg && strstr(msg, "Too Large"));
    int bad_version = status == 505;
    const char *code = too_large                   ? "too_large"
                       : status == 408             ? "timeout"
                       : status < 500 || bad_version ? "bad_request"
                                                   : "internal";

    memset(&r, 0, sizeof(r));
    r.conn = conn;
    r.ri = mg_get_request_info(conn);
    fs_http_send_error(&r, too_large ? 413 : status, code,
                       too_large     ? "request headers too large"
                       : bad_version ? "only HTTP/1.0 and HTTP/1.1 are served"
                                     : "the request could not be read");
    fs_metrics_request(FS_ROUTE_OTHER, r.status);
    return 0;
}
