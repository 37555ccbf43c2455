/*
 * rabbit_publish.c - the yardstick of the real plugin set: RabbitMQ's own
 * confirmed-publish rate on this machine (librabbitmq-c 0.11).
 *
 * Owns: one connection, one channel in confirm mode, one durable queue (a
 * fresh name per run, deleted at the end), persistent messages of the size
 * of a flashsaled booking message, and the same shape of concurrency as the
 * daemon's queue plugin: CONCURRENCY publishers (wrk's connections: each
 * waits for its own confirm before it publishes again) share the connection,
 * and at most WINDOW publishes await a confirm at once. One thread plays all
 * the publishers: it keeps min(CONCURRENCY, WINDOW) messages unconfirmed,
 * reads basic.ack (with `multiple`), and publishes one more per confirmed
 * tag. There is no consumer: the daemon's worker consumes in the same
 * process, so this is the broker's best case on the publishing side.
 *
 *   rabbit_publish URL QUEUE SECONDS CONCURRENCY WINDOW BYTES
 *
 * prints one line: BENCH_RESULT {"published":..,"confirmed":..,"rps":..,
 * "p50_ms":..,"p99_ms":..,"max_ms":..,"nacked":..} where the latencies run
 * from a message's publish to its confirm. Exit 1 with the reason on any
 * broker error.
 */
#define _POSIX_C_SOURCE 200809L

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define CHANNEL 1

struct run {
    amqp_connection_state_t conn;
    amqp_bytes_t queue;
    amqp_bytes_t body;
    amqp_basic_properties_t props;
    uint64_t next_tag;        /* the tag the next publish gets (from 1) */
    uint64_t confirmed;       /* every tag up to this one is settled */
    uint64_t nacked;
    double *sent_at;          /* by tag: when it was published */
    double *lat;              /* publish-to-confirm, seconds, by tag */
    size_t cap;
    int open;                 /* the channel is open: close it politely */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int reply_ok(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    fprintf(stderr, "rabbit_publish: %s failed (reply type %d, %s)\n", what,
            (int)r.reply_type,
            r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                ? amqp_error_string2(r.library_error) : "broker exception");
    return -1;
}

static int rpc_ok(amqp_connection_state_t conn, const char *what)
{
    return reply_ok(amqp_get_rpc_reply(conn), what);
}

static int open_channel(struct run *r, const char *url)
{
    struct amqp_connection_info ci;
    amqp_socket_t *sock;
    char *copy = strdup(url);

    r->conn = amqp_new_connection();
    sock = amqp_tcp_socket_new(r->conn);
    if (!copy || !sock || amqp_parse_url(copy, &ci) != AMQP_STATUS_OK)
        goto fail;
    if (amqp_socket_open(sock, ci.host, ci.port) != AMQP_STATUS_OK) {
        fprintf(stderr, "rabbit_publish: cannot connect to %s:%d\n", ci.host, ci.port);
        goto fail;
    }
    if (reply_ok(amqp_login(r->conn, ci.vhost, 0, 131072, 0,
                            AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
                 "login") != 0)
        goto fail;
    amqp_channel_open(r->conn, CHANNEL);
    if (rpc_ok(r->conn, "channel.open") != 0)
        goto fail;
    r->open = 1;
    amqp_queue_declare(r->conn, CHANNEL, r->queue, 0, 1, 0, 0, amqp_empty_table);
    if (rpc_ok(r->conn, "queue.declare") != 0)
        goto fail;
    amqp_confirm_select(r->conn, CHANNEL);
    if (rpc_ok(r->conn, "confirm.select") != 0)
        goto fail;
    free(copy);
    return 0;

fail:
    free(copy);
    return -1;
}

static int publish_one(struct run *r, double t)
{
    if (r->next_tag >= r->cap) {
        size_t cap = r->cap * 2;
        double *s = realloc(r->sent_at, cap * sizeof(*s));
        if (!s)
            return -1;
        r->sent_at = s;
        double *l = realloc(r->lat, cap * sizeof(*l));
        if (!l)
            return -1;
        r->lat = l;
        r->cap = cap;
    }
    r->sent_at[r->next_tag++] = t;
    if (amqp_basic_publish(r->conn, CHANNEL, amqp_empty_bytes, r->queue, 0, 0,
                           &r->props, r->body) != AMQP_STATUS_OK) {
        fprintf(stderr, "rabbit_publish: publish failed\n");
        return -1;
    }
    return 0;
}

/* One frame: settles the tags it confirms. -1 on a broker error. */
static int read_confirm(struct run *r)
{
    amqp_frame_t f;
    uint64_t tag, from;
    int multiple, nack;
    double t;

    if (amqp_simple_wait_frame(r->conn, &f) != AMQP_STATUS_OK) {
        fprintf(stderr, "rabbit_publish: connection lost\n");
        return -1;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0;
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        amqp_basic_ack_t *a = f.payload.method.decoded;
        tag = a->delivery_tag, multiple = a->multiple, nack = 0;
    } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        amqp_basic_nack_t *n = f.payload.method.decoded;
        tag = n->delivery_tag, multiple = n->multiple, nack = 1;
    } else {
        fprintf(stderr, "rabbit_publish: unexpected method 0x%08x\n",
                (unsigned)f.payload.method.id);
        return -1;
    }
    t = now_s();
    from = multiple ? r->confirmed + 1 : tag;
    for (uint64_t k = from; k <= tag; k++) {
        r->lat[k] = t - r->sent_at[k];
        r->nacked += (uint64_t)nack;
    }
    if (tag > r->confirmed)
        r->confirmed = tag;   /* the broker confirms in order on one channel */
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(struct run *r, double span)
{
    uint64_t n = r->confirmed;
    double *l = r->lat + 1;

    qsort(l, n, sizeof(*l), cmp_double);
    printf("BENCH_RESULT {\"published\":%llu,\"confirmed\":%llu,\"nacked\":%llu,"
           "\"duration_s\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f}\n",
           (unsigned long long)(r->next_tag - 1), (unsigned long long)n,
           (unsigned long long)r->nacked, span, (double)n / span,
           n ? l[n / 2] * 1e3 : 0.0, n ? l[(size_t)((double)n * 0.99)] * 1e3 : 0.0,
           n ? l[n - 1] * 1e3 : 0.0);
}

int main(int argc, char **argv)
{
    struct run r;
    double seconds, start, end, t;
    long conc, window, bytes, inflight;
    int rc = 1;

    memset(&r, 0, sizeof(r));
    if (argc != 7) {
        fprintf(stderr, "usage: rabbit_publish URL QUEUE SECONDS CONCURRENCY "
                        "WINDOW BYTES\n");
        return 2;
    }
    seconds = atof(argv[3]);
    conc = atol(argv[4]);
    window = atol(argv[5]);
    bytes = atol(argv[6]);
    inflight = conc < window ? conc : window;
    if (seconds <= 0 || inflight < 1 || bytes < 1)
        return 2;
    r.queue = amqp_cstring_bytes(argv[2]);
    r.body.len = (size_t)bytes;
    r.body.bytes = malloc((size_t)bytes);
    r.cap = 1 << 16;
    r.sent_at = malloc(r.cap * sizeof(double));
    r.lat = malloc(r.cap * sizeof(double));
    if (!r.body.bytes || !r.sent_at || !r.lat)
        goto fail;
    memset(r.body.bytes, 'x', (size_t)bytes);
    r.props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    r.props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    r.props.content_type = amqp_cstring_bytes("application/json");
    r.next_tag = 1;
    if (open_channel(&r, argv[1]) != 0)
        goto fail;

    start = now_s();
    end = start + seconds;
    for (t = start; t < end; t = now_s()) {
        while ((long)(r.next_tag - 1 - r.confirmed) < inflight)
            if (publish_one(&r, t) != 0)
                goto fail;
        if (read_confirm(&r) != 0)
            goto fail;
    }
    while (r.confirmed < r.next_tag - 1)   /* the last ones still count */
        if (read_confirm(&r) != 0)
            goto fail;
    report(&r, now_s() - start);
    amqp_queue_delete(r.conn, CHANNEL, r.queue, 0, 0);
    rc = rpc_ok(r.conn, "queue.delete") == 0 ? 0 : 1;

fail:
    if (r.open) {
        amqp_channel_close(r.conn, CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(r.conn, AMQP_REPLY_SUCCESS);
    }
    if (r.conn)
        amqp_destroy_connection(r.conn);
    free(r.body.bytes);
    free(r.sent_at);
    free(r.lat);
    return rc;
}
