/*
 * queue_rabbitmq.c - the RabbitMQ queue plugin: one durable queue, persistent
 * messages, publisher confirms shared by many publishing threads, and one
 * consumer with manual acknowledgements (librabbitmq-c 0.11).
 *
 * librabbitmq connections are not thread-safe, so the plugin owns two:
 *
 *  - The publisher connection belongs to one service thread. publish() puts a
 *    request (on the caller's stack) into the pending list and waits on its
 *    own condition variable; the service thread copies up to `confirm_window`
 *    pending bodies out under the lock, publishes them outside it, reads the
 *    broker's basic.ack / basic.nack frames (`multiple` covers every tag up
 *    to delivery_tag) and wakes each caller with its own result. Many callers
 *    thus share one confirm round trip (MEASURED.md: 1,900 msg/s waiting per
 *    message, ~24,000 with 256 outstanding). Requests are touched only under
 *    the lock, so a caller that times out just unlinks itself.
 *  - The consumer connection belongs to the core's one consumer thread
 *    (consume/ack/nack); it connects on the first consume().
 *
 * Heartbeats: the service thread wakes at least every RMQ_TICK_MS and drains
 * its connection with zero-timeout reads, which is where librabbitmq sends
 * due heartbeats and notices a silent broker. The consumer connection is
 * serviced by consume(); between calls (the worker may be busy for longer
 * than a heartbeat) the service thread sends heartbeat frames on it under the
 * consumer lock, so the broker never drops a consumer that is merely slow.
 *
 * Failures: any connection error tears the connection down; every request in
 * flight on it answers FS_UNAVAILABLE, and while it is down publish() answers
 * FS_UNAVAILABLE at once and health() says why. Both connections reconnect
 * with capped exponential backoff. The broker requeues the unacked deliveries
 * of a dead consumer connection, so a delivery's tag carries the connection
 * generation in its top 16 bits and an ack of an older generation answers
 * FS_NOT_FOUND instead of acking an unrelated message on the new channel.
 *
 * A queue deleted under us: publishes are mandatory, so a message no queue
 * takes comes back (basic.return) before its confirm and answers
 * FS_UNAVAILABLE, not FS_OK for a message dropped; the service thread then
 * declares the queue again. The consumer advertises consumer_cancel_notify,
 * so the broker tells it (basic.cancel) and it reconnects, which declares the
 * queue too, instead of waiting forever on a live connection.
 *
 * Requeue order: RabbitMQ puts a requeued message back at its old place, but
 * up to `prefetch` later messages may already sit in our socket. So after a
 * nack with requeue, the next consume() that finds the core holding nothing
 * reopens the consumer connection: the broker then requeues those too and
 * hands them all out again in queue order (fairness, DESIGN.md 4.6).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1  /* eventfd; the build defines it too */
#endif

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <utlist.h>

#include "flashsaled/fs_plugin.h"

#define RMQ_NAME "rabbitmq"
#define RMQ_CHANNEL 1        /* publishes and confirms; the consumer's only */
#define RMQ_DEPTH_CHANNEL 2  /* passive declares: a failure closes only it */
#define RMQ_TICK_MS 200      /* service thread wakes at least this often */
#define RMQ_BACKOFF_MIN_MS 100
#define RMQ_BACKOFF_MAX_MS 2000
#define RMQ_CONNECT_MAX_MS 5000
#define RMQ_GEN_SHIFT 48
#define RMQ_DTAG_MASK ((UINT64_C(1) << RMQ_GEN_SHIFT) - 1)
#define RMQ_REASON_MAX 256

struct rmq_config {
    char *url;
    char *queue;
    int64_t prefetch;
    int64_t confirm_window;
    int64_t publish_timeout_ms;
    int64_t heartbeat_s;
    int tls;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    int tls_verify;
};

#define RMQ_OPT(type, name, def, field, desc) \
    {type, name, def, offsetof(struct rmq_config, field), desc}

static const struct fs_option rmq_options[] = {
    RMQ_OPT(FS_OPT_STRING, "url", "amqp://guest:guest@127.0.0.1:5672/%2f", url,
            "amqp://user:password@host:port/vhost (amqps:// means TLS)"),
    RMQ_OPT(FS_OPT_STRING, "queue", "booking_requests", queue,
            "durable queue, declared at connect"),
    RMQ_OPT(FS_OPT_INT, "prefetch", "256", prefetch,
            "deliveries the broker sends ahead of acks (1 to 65535)"),
    RMQ_OPT(FS_OPT_INT, "confirm_window", "256", confirm_window,
            "publishes awaiting the broker's confirm at once (1 to 65535)"),
    RMQ_OPT(FS_OPT_INT, "publish_timeout_ms", "5000", publish_timeout_ms,
            "longest a publish waits for its confirm before answering "
            "unavailable"),
    RMQ_OPT(FS_OPT_INT, "heartbeat_s", "30", heartbeat_s,
            "AMQP heartbeat in seconds (0: off)"),
    RMQ_OPT(FS_OPT_BOOL, "tls", "false", tls, "connect with TLS"),
    RMQ_OPT(FS_OPT_STRING, "tls_ca", "", tls_ca,
            "CA bundle (PEM) that signed the broker's certificate"),
    RMQ_OPT(FS_OPT_STRING, "tls_cert", "", tls_cert,
            "client certificate (PEM), with tls_key"),
    RMQ_OPT(FS_OPT_STRING, "tls_key", "", tls_key, "client key (PEM)"),
    RMQ_OPT(FS_OPT_BOOL, "tls_verify", "true", tls_verify,
            "check the broker's certificate and host name"),
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

enum rmq_where { RMQ_NOWHERE = 0, RMQ_PENDING, RMQ_INFLIGHT, RMQ_DEPTH };

/* One waiting caller; lives on its stack, touched only under pub.lock. */
struct rmq_req {
    const void *body;
    size_t len;
    uint64_t seq;    /* publisher delivery tag once published */
    uint64_t count;  /* depth: the broker's message_count */
    int returned;    /* the broker routed it to no queue (basic.return) */
    enum fs_status st;
    enum rmq_where where;
    pthread_cond_t cond;
    struct rmq_req *prev, *next;
};

/* A body copied out under the lock, published outside it. */
struct rmq_out {
    uint64_t seq;
    size_t len;
    char body[FS_MESSAGE_MAX];
};

struct rmq_pub {
    pthread_mutex_t lock;  /* guards everything above `conn` */
    struct rmq_req *pending, *inflight, *depth;
    size_t n_inflight;
    int up, blocked, sleeping, stopping;
    char reason[RMQ_REASON_MAX];
    char cons_reason[RMQ_REASON_MAX];  /* consumer's state, for health() */

    amqp_connection_state_t conn;  /* service thread only from here on */
    uint64_t next_seq, max_confirmed;
    int redeclare;                 /* a publish came back: the queue is gone */
    int64_t stall_since_ms;        /* unconfirmed publishes and no ack since */
    int64_t backoff_ms, next_attempt_ms;
    struct rmq_out *out;
    int efd;                       /* eventfd: wakes the service thread */
    pthread_t thread;
    int thread_started;
};

struct rmq_cons {
    pthread_mutex_t lock;  /* consumer thread vs the heartbeat keeper */
    amqp_connection_state_t conn;
    uint16_t gen;
    uint64_t *held;        /* delivery tags handed to the core, ascending */
    size_t n_held, cap_held;
    int resync;            /* requeued: reopen once the core holds nothing */
    int64_t last_send_ms;
    int64_t backoff_ms, next_attempt_ms;
    _Atomic uint64_t held_count;  /* n_held, for depth() without the lock */
};

struct rmq {
    const struct fs_host *host;
    struct rmq_config cfg;
    char *url_copy;  /* amqp_parse_url points `info` into it */
    struct amqp_connection_info info;
    int tls;
    struct rmq_pub pub;
    struct rmq_cons cons;
};

/* ---- small helpers -------------------------------------------------------- */

static int64_t rmq_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec rmq_deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static struct timeval rmq_tv(int64_t ms)
{
    struct timeval tv;
    if (ms < 0)
        ms = 0;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (long)(ms % 1000) * 1000L;
    return tv;
}

static int rmq_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

static void rmq_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    if (ms > 0)
        nanosleep(&ts, NULL);
}

static int64_t rmq_next_backoff(int64_t *backoff_ms)
{
    int64_t now = *backoff_ms ? *backoff_ms : RMQ_BACKOFF_MIN_MS;
    *backoff_ms = now * 2 > RMQ_BACKOFF_MAX_MS ? RMQ_BACKOFF_MAX_MS : now * 2;
    return now;
}

static void rmq_bytes_text(amqp_bytes_t b, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)(b.len > 200 ? 200 : b.len),
             b.bytes ? (const char *)b.bytes : "");
}

/* A reply's reason in words: library status, or the broker's close text. */
static void rmq_reply_text(amqp_rpc_reply_t r, const char *what, char *out,
                           size_t len)
{
    char text[256] = "";

    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(out, len, "%s: %s", what, amqp_error_string2(r.library_error));
        return;
    }
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || !r.reply.decoded) {
        snprintf(out, len, "%s: no reply", what);
        return;
    }
    if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
        rmq_bytes_text(((amqp_connection_close_t *)r.reply.decoded)->reply_text,
                       text, sizeof(text));
    else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
        rmq_bytes_text(((amqp_channel_close_t *)r.reply.decoded)->reply_text,
                       text, sizeof(text));
    snprintf(out, len, "%s: broker said %s", what, text[0] ? text : "no");
}

static int rmq_rpc_ok(amqp_connection_state_t conn, const char *what,
                      char *why, size_t len)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    rmq_reply_text(r, what, why, len);
    return -1;
}

/* ---- opening a connection ------------------------------------------------- */

static amqp_socket_t *rmq_socket(struct rmq *q, amqp_connection_state_t conn,
                                 char *why, size_t len)
{
    amqp_socket_t *s;

    if (!q->tls) {
        s = amqp_tcp_socket_new(conn);
        if (!s)
            snprintf(why, len, "cannot create a socket");
        return s;
    }
    s = amqp_ssl_socket_new(conn);
    if (!s) {
        snprintf(why, len, "cannot create a TLS socket");
        return NULL;
    }
    amqp_ssl_socket_set_verify_peer(s, q->cfg.tls_verify ? 1 : 0);
    amqp_ssl_socket_set_verify_hostname(s, q->cfg.tls_verify ? 1 : 0);
    if (q->cfg.tls_ca[0] &&
        amqp_ssl_socket_set_cacert(s, q->cfg.tls_ca) != AMQP_STATUS_OK) {
        snprintf(why, len, "tls_ca %s: cannot load", q->cfg.tls_ca);
        return NULL;
    }
    if (q->cfg.tls_cert[0] &&
        amqp_ssl_socket_set_key(s, q->cfg.tls_cert, q->cfg.tls_key) !=
            AMQP_STATUS_OK) {
        snprintf(why, len, "tls_cert/tls_key %s: cannot load", q->cfg.tls_cert);
        return NULL;
    }
    return s;
}

/* Advertises two RabbitMQ extensions:
 * - connection.blocked: a broker in a memory or disk alarm tells us, and
 *   publish() can answer unavailable instead of timing out;
 * - consumer_cancel_notify: a broker that drops our consumer (the queue
 *   was deleted, its process went down, a cluster moved it) sends
 *   basic.cancel. Without it the broker drops the
 *   consumer silently (rabbit_channel:cancel_consumer) while the connection
 *   and its heartbeats stay up, and nothing is ever delivered again. */
static int rmq_login(amqp_connection_state_t conn, struct rmq *q,
                     amqp_table_t *props, char *why, size_t len)
{
    static const char *const names[] = {"connection.blocked",
                                        "consumer_cancel_notify"};
    amqp_table_entry_t cap[2];
    amqp_table_entry_t all[2];
    amqp_table_t with_caps = {2, all};
    amqp_rpc_reply_t r;

    for (size_t i = 0; i < 2; i++) {
        cap[i].key = amqp_cstring_bytes(names[i]);
        cap[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        cap[i].value.value.boolean = 1;
    }
    all[0] = props->entries[0];
    all[1].key = amqp_cstring_bytes("capabilities");
    all[1].value.kind = AMQP_FIELD_KIND_TABLE;
    all[1].value.value.table.num_entries = 2;
    all[1].value.value.table.entries = cap;
    r = amqp_login_with_properties(
        conn, q->info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE,
        (int)q->cfg.heartbeat_s, &with_caps, AMQP_SASL_METHOD_PLAIN,
        q->info.user, q->info.password);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    rmq_reply_text(r, "login", why, len);
    return -1;
}

/* TCP (or TLS), login and channel RMQ_CHANNEL with the queue declared: the
 * part both connections share. `role` names the connection in the broker's
 * management view and in our reasons. */
static amqp_connection_state_t rmq_open(struct rmq *q, const char *role,
                                        char *why, size_t len)
{
    amqp_connection_state_t conn = amqp_new_connection();
    struct timeval tv = rmq_tv(q->cfg.publish_timeout_ms < RMQ_CONNECT_MAX_MS
                                   ? q->cfg.publish_timeout_ms
                                   : RMQ_CONNECT_MAX_MS);
    amqp_table_entry_t prop[1];
    amqp_table_t props = {1, prop};
    amqp_socket_t *s;
    int rc;

    if (!conn) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    s = rmq_socket(q, conn, why, len);
    if (!s)
        goto fail;
    rc = amqp_socket_open_noblock(s, q->info.host, q->info.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        /* No address here: health() and the log line put it first. */
        snprintf(why, len, "connect: %s", amqp_error_string2(rc));
        goto fail;
    }
    /* Bounds every RPC below and the depth() declare later. */
    tv = rmq_tv(q->cfg.publish_timeout_ms);
    amqp_set_rpc_timeout(conn, &tv);
    prop[0].key = amqp_cstring_bytes("connection_name");
    prop[0].value.kind = AMQP_FIELD_KIND_UTF8;
    prop[0].value.value.bytes = amqp_cstring_bytes(role);
    if (rmq_login(conn, q, &props, why, len) != 0)
        goto fail;
    amqp_channel_open(conn, RMQ_CHANNEL);
    if (rmq_rpc_ok(conn, "channel.open", why, len) != 0)
        goto fail;
    amqp_queue_declare(conn, RMQ_CHANNEL, amqp_cstring_bytes(q->cfg.queue), 0,
                       1, 0, 0, amqp_empty_table);
    if (rmq_rpc_ok(conn, "queue.declare", why, len) != 0)
        goto fail;
    return conn;

fail:
    amqp_destroy_connection(conn);
    return NULL;
}

/* ---- publisher: requests and their lists (pub.lock held) ------------------ */

static struct rmq_req **rmq_list(struct rmq *q, enum rmq_where where)
{
    switch (where) {
    case RMQ_PENDING:
        return &q->pub.pending;
    case RMQ_INFLIGHT:
        return &q->pub.inflight;
    case RMQ_DEPTH:
        return &q->pub.depth;
    default:
        return NULL;
    }
}

static void rmq_unlink(struct rmq *q, struct rmq_req *r)
{
    struct rmq_req **list = rmq_list(q, r->where);

    if (!list)
        return;
    DL_DELETE(*list, r);
    if (r->where == RMQ_INFLIGHT)
        q->pub.n_inflight--;
    r->where = RMQ_NOWHERE;
}

static void rmq_complete(struct rmq *q, struct rmq_req *r, enum fs_status st)
{
    rmq_unlink(q, r);
    r->st = st;
    pthread_cond_signal(&r->cond);
}

static void rmq_fail_list(struct rmq *q, struct rmq_req *list)
{
    struct rmq_req *r, *tmp;

    DL_FOREACH_SAFE(list, r, tmp)
        rmq_complete(q, r, FS_UNAVAILABLE);
}

static void rmq_fail_all(struct rmq *q)
{
    rmq_fail_list(q, q->pub.inflight);
    rmq_fail_list(q, q->pub.pending);
    rmq_fail_list(q, q->pub.depth);
}

static void rmq_wake_service(struct rmq *q)
{
    uint64_t one = 1;

    if (!q->pub.sleeping)
        return;
    q->pub.sleeping = 0;
    if (write(q->pub.efd, &one, sizeof(one)) < 0) {
        /* The counter is far from overflow; nothing else can fail here. */
    }
}

/* ---- publisher: the service thread's connection --------------------------- */

static void rmq_pub_down(struct rmq *q, const char *why)
{
    int64_t delay = rmq_next_backoff(&q->pub.backoff_ms);

    pthread_mutex_lock(&q->pub.lock);
    if (q->pub.up)
        q->host->log(FS_LOG_WARN, RMQ_NAME, "publisher connection lost: %s",
                     why);
    q->pub.up = 0;
    q->pub.blocked = 0;
    snprintf(q->pub.reason, sizeof(q->pub.reason), "%s", why);
    rmq_fail_all(q);
    pthread_mutex_unlock(&q->pub.lock);
    /* The socket is suspect: no connection.close handshake to hang on. */
    amqp_destroy_connection(q->pub.conn);
    q->pub.conn = NULL;
    q->pub.next_attempt_ms = rmq_mono_ms() + delay;
}

static amqp_connection_state_t rmq_pub_open(struct rmq *q, char *why,
                                            size_t len)
{
    amqp_connection_state_t conn = rmq_open(q, "flashsaled publisher", why, len);

    if (!conn)
        return NULL;
    amqp_confirm_select(conn, RMQ_CHANNEL);
    if (rmq_rpc_ok(conn, "confirm.select", why, len) != 0)
        goto fail;
    amqp_channel_open(conn, RMQ_DEPTH_CHANNEL);
    if (rmq_rpc_ok(conn, "channel.open", why, len) != 0)
        goto fail;
    return conn;

fail:
    amqp_destroy_connection(conn);
    return NULL;
}

/* Service thread (or create() before it starts). */
static void rmq_pub_connect(struct rmq *q)
{
    char why[RMQ_REASON_MAX] = "";
    amqp_connection_state_t conn;

    if (rmq_mono_ms() < q->pub.next_attempt_ms)
        return;
    conn = rmq_pub_open(q, why, sizeof(why));
    pthread_mutex_lock(&q->pub.lock);
    if (!conn) {
        if (strcmp(why, q->pub.reason) != 0)
            q->host->log(FS_LOG_WARN, RMQ_NAME, "amqp %s:%d: %s", q->info.host,
                         q->info.port, why);
        snprintf(q->pub.reason, sizeof(q->pub.reason), "%s", why);
    } else {
        q->host->log(FS_LOG_INFO, RMQ_NAME, "publisher connected to %s:%d, "
                     "queue %s", q->info.host, q->info.port, q->cfg.queue);
        q->pub.up = 1;
        q->pub.reason[0] = '\0';
    }
    pthread_mutex_unlock(&q->pub.lock);
    if (!conn) {
        q->pub.next_attempt_ms = rmq_mono_ms() +
                                 rmq_next_backoff(&q->pub.backoff_ms);
        return;
    }
    q->pub.conn = conn;
    q->pub.redeclare = 0;  /* the connect declared it */
    q->pub.next_seq = 1;
    q->pub.max_confirmed = 0;
    q->pub.backoff_ms = 0;
}

/* Moves what the window allows from pending to inflight, numbering each
 * message with the delivery tag the broker will confirm it by, and copies the
 * bodies out so that nothing outside the lock touches a caller's memory. */
static size_t rmq_pub_take(struct rmq *q)
{
    size_t n = 0, window = (size_t)q->cfg.confirm_window;
    struct rmq_req *r;

    pthread_mutex_lock(&q->pub.lock);
    while ((r = q->pub.pending) && q->pub.n_inflight < window && !q->pub.blocked) {
        DL_DELETE(q->pub.pending, r);
        r->seq = q->pub.next_seq++;
        r->where = RMQ_INFLIGHT;
        DL_APPEND(q->pub.inflight, r);
        q->pub.n_inflight++;
        q->pub.out[n].seq = r->seq;
        q->pub.out[n].len = r->len;
        if (r->len)
            memcpy(q->pub.out[n].body, r->body, r->len);
        n++;
    }
    pthread_mutex_unlock(&q->pub.lock);
    return n;
}

/* Mandatory, so that a message no queue takes (the queue was deleted) comes
 * back as basic.return before its confirm, instead of being confirmed and
 * dropped: a 202 for a message that went nowhere. Its message_id is its
 * delivery tag, which the return does not carry. */
static int rmq_pub_send(struct rmq *q, size_t n, char *why, size_t len)
{
    amqp_basic_properties_t props;
    amqp_bytes_t body;
    char id[24];
    size_t i;
    int rc;

    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.content_type = amqp_cstring_bytes("application/json");
    if (n && q->pub.max_confirmed + 1 >= q->pub.out[0].seq)
        q->pub.stall_since_ms = rmq_mono_ms();
    for (i = 0; i < n; i++) {
        body.len = q->pub.out[i].len;
        body.bytes = q->pub.out[i].body;
        snprintf(id, sizeof(id), "%" PRIu64, q->pub.out[i].seq);
        props.message_id = amqp_cstring_bytes(id);
        rc = amqp_basic_publish(q->pub.conn, RMQ_CHANNEL, amqp_empty_bytes,
                                amqp_cstring_bytes(q->cfg.queue), 1, 0, &props,
                                body);
        if (rc != AMQP_STATUS_OK) {
            snprintf(why, len, "publish: %s", amqp_error_string2(rc));
            return -1;
        }
    }
    return 0;
}

/* basic.ack / basic.nack from the broker: `multiple` settles every tag up to
 * `tag`. The inflight list is in tag order, so this stops early. */
static void rmq_pub_settle(struct rmq *q, uint64_t tag, int multiple,
                           enum fs_status st)
{
    struct rmq_req *r, *tmp;

    pthread_mutex_lock(&q->pub.lock);
    DL_FOREACH_SAFE(q->pub.inflight, r, tmp) {
        if (r->seq > tag)
            break;
        if (multiple || r->seq == tag)
            rmq_complete(q, r, r->returned ? FS_UNAVAILABLE : st);
    }
    pthread_mutex_unlock(&q->pub.lock);
    if (tag > q->pub.max_confirmed)
        q->pub.max_confirmed = tag;
    q->pub.stall_since_ms = rmq_mono_ms();
}

/* basic.return: the message's content follows; its message_id names the
 * publish, whose confirm comes after and then answers unavailable. */
static int rmq_pub_returned(struct rmq *q, const amqp_frame_t *f, char *why,
                            size_t len)
{
    const amqp_basic_return_t *ret = f->payload.method.decoded;
    amqp_message_t msg;
    amqp_rpc_reply_t r = amqp_read_message(q->pub.conn, f->channel, &msg, 0);
    struct rmq_req *req;
    char text[128], id[24] = "";
    uint64_t seq;

    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        rmq_reply_text(r, "basic.return", why, len);
        return -1;
    }
    if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        rmq_bytes_text(msg.properties.message_id, id, sizeof(id));
    amqp_destroy_message(&msg);
    seq = strtoull(id, NULL, 10);
    rmq_bytes_text(ret->reply_text, text, sizeof(text));
    pthread_mutex_lock(&q->pub.lock);
    DL_FOREACH(q->pub.inflight, req)
        if (req->seq == seq)
            req->returned = 1;
    pthread_mutex_unlock(&q->pub.lock);
    if (!q->pub.redeclare)
        q->host->log(FS_LOG_WARN, RMQ_NAME, "a publish came back (%s): queue "
                     "%s is gone; declaring it again", text, q->cfg.queue);
    q->pub.redeclare = 1;
    return 0;
}

/* After a return: the queue was deleted under us. Declared again (durable,
 * as at connect), later publishes have somewhere to go. */
static int rmq_pub_redeclare(struct rmq *q, char *why, size_t len)
{
    if (!q->pub.redeclare)
        return 0;
    amqp_queue_declare(q->pub.conn, RMQ_DEPTH_CHANNEL,
                       amqp_cstring_bytes(q->cfg.queue), 0, 1, 0, 0,
                       amqp_empty_table);
    if (rmq_rpc_ok(q->pub.conn, "queue.declare", why, len) != 0)
        return -1;
    q->pub.redeclare = 0;
    return 0;
}

static void rmq_pub_blocked(struct rmq *q, const amqp_connection_blocked_t *b)
{
    pthread_mutex_lock(&q->pub.lock);
    q->pub.blocked = b != NULL;
    if (b) {
        char text[200];
        rmq_bytes_text(b->reason, text, sizeof(text));
        snprintf(q->pub.reason, sizeof(q->pub.reason),
                 "broker blocks publishers: %s", text);
        q->host->log(FS_LOG_WARN, RMQ_NAME, "%s", q->pub.reason);
    } else {
        q->pub.reason[0] = '\0';
    }
    pthread_mutex_unlock(&q->pub.lock);
}

/* One frame from the publisher connection: 0 handled, -1 the connection is
 * over (reason in why). */
static int rmq_pub_frame(struct rmq *q, const amqp_frame_t *f, char *why,
                         size_t len)
{
    const amqp_basic_ack_t *ack;
    const amqp_basic_nack_t *nack;
    amqp_rpc_reply_t closing;

    if (f->frame_type != AMQP_FRAME_METHOD)
        return 0;
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD:
        ack = f->payload.method.decoded;
        rmq_pub_settle(q, ack->delivery_tag, ack->multiple, FS_OK);
        return 0;
    case AMQP_BASIC_NACK_METHOD:
        nack = f->payload.method.decoded;
        rmq_pub_settle(q, nack->delivery_tag, nack->multiple, FS_UNAVAILABLE);
        return 0;
    case AMQP_BASIC_RETURN_METHOD:
        return rmq_pub_returned(q, f, why, len);
    case AMQP_CONNECTION_BLOCKED_METHOD:
        rmq_pub_blocked(q, f->payload.method.decoded);
        return 0;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        rmq_pub_blocked(q, NULL);
        return 0;
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        memset(&closing, 0, sizeof(closing));
        closing.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
        closing.reply = f->payload.method;
        rmq_reply_text(closing, "closed", why, len);
        return -1;
    default:
        return 0;
    }
}

/* Reads every frame already there without waiting. This is also where
 * librabbitmq sends due heartbeats and notices a broker gone silent. */
static int rmq_pub_read(struct rmq *q, char *why, size_t len)
{
    struct timeval zero = {0, 0};
    amqp_frame_t f;
    int rc;

    for (;;) {
        rc = amqp_simple_wait_frame_noblock(q->pub.conn, &f, &zero);
        if (rc == AMQP_STATUS_TIMEOUT)
            break;
        if (rc != AMQP_STATUS_OK) {
            snprintf(why, len, "%s", amqp_error_string2(rc));
            return -1;
        }
        if (rmq_pub_frame(q, &f, why, len) != 0)
            return -1;
    }
    amqp_maybe_release_buffers(q->pub.conn);
    /* Confirms owed and none for a whole publish timeout: the broker is
     * stuck or gone without a word; a new connection finds out which. */
    if (q->pub.next_seq - 1 > q->pub.max_confirmed &&
        rmq_mono_ms() - q->pub.stall_since_ms > q->cfg.publish_timeout_ms) {
        snprintf(why, len, "no confirm for %lld ms",
                 (long long)q->cfg.publish_timeout_ms);
        return -1;
    }
    return 0;
}

/* depth(): a passive declare on its own channel. Waiters that arrive during
 * the round trip get this answer too: a gauge, not a ledger. */
static int rmq_pub_depth(struct rmq *q, char *why, size_t len)
{
    amqp_queue_declare_ok_t *ok;
    struct rmq_req *r, *tmp;
    int pending;

    pthread_mutex_lock(&q->pub.lock);
    pending = q->pub.depth != NULL;
    pthread_mutex_unlock(&q->pub.lock);
    if (!pending)
        return 0;
    ok = amqp_queue_declare(q->pub.conn, RMQ_DEPTH_CHANNEL,
                            amqp_cstring_bytes(q->cfg.queue), 1, 1, 0, 0,
                            amqp_empty_table);
    if (!ok)
        return rmq_rpc_ok(q->pub.conn, "queue.declare passive", why, len);
    pthread_mutex_lock(&q->pub.lock);
    DL_FOREACH_SAFE(q->pub.depth, r, tmp) {
        r->count = ok->message_count;
        rmq_complete(q, r, FS_OK);
    }
    pthread_mutex_unlock(&q->pub.lock);
    return 0;
}

/* ---- the service thread --------------------------------------------------- */

/* Sends a heartbeat on the consumer connection when the consumer thread has
 * not written for half a heartbeat, so that a worker busy with a slow backend
 * does not lose its deliveries to a heartbeat timeout. Never waits for the
 * consumer: if it holds the lock, it is servicing the connection itself. */
static void rmq_cons_keepalive(struct rmq *q)
{
    amqp_frame_t hb;
    int64_t now = rmq_mono_ms();

    if (q->cfg.heartbeat_s <= 0 || pthread_mutex_trylock(&q->cons.lock) != 0)
        return;
    if (q->cons.conn &&
        now - q->cons.last_send_ms >= q->cfg.heartbeat_s * 1000 / 2) {
        memset(&hb, 0, sizeof(hb));
        hb.frame_type = AMQP_FRAME_HEARTBEAT;
        hb.channel = 0;
        /* A failure here shows up at the consumer's next read. */
        (void)amqp_send_frame(q->cons.conn, &hb);
        q->cons.last_send_ms = now;
    }
    pthread_mutex_unlock(&q->cons.lock);
}

/* Sleeps until a caller needs the thread, the broker sent something, or the
 * tick; returns at once when there is work it can do now. */
static void rmq_service_wait(struct rmq *q)
{
    struct pollfd pfd[2];
    uint64_t drained;
    nfds_t n = 1;
    int work;

    if (q->pub.conn && (amqp_data_in_buffer(q->pub.conn) ||
                        amqp_frames_enqueued(q->pub.conn)))
        return;
    pthread_mutex_lock(&q->pub.lock);
    work = q->pub.stopping || q->pub.depth ||
           (q->pub.up && q->pub.pending && !q->pub.blocked &&
            q->pub.n_inflight < (size_t)q->cfg.confirm_window);
    q->pub.sleeping = !work;
    pthread_mutex_unlock(&q->pub.lock);
    if (work)
        return;
    pfd[0].fd = q->pub.efd;
    pfd[0].events = POLLIN;
    if (q->pub.conn) {
        pfd[1].fd = amqp_get_sockfd(q->pub.conn);
        pfd[1].events = POLLIN;
        n = pfd[1].fd >= 0 ? 2 : 1;
    }
    (void)poll(pfd, n, RMQ_TICK_MS);
    pthread_mutex_lock(&q->pub.lock);
    q->pub.sleeping = 0;
    pthread_mutex_unlock(&q->pub.lock);
    if (read(q->pub.efd, &drained, sizeof(drained)) < 0) {
        /* EAGAIN: nobody wrote; the eventfd is non-blocking. */
    }
}

static int rmq_service_step(struct rmq *q, char *why, size_t len)
{
    size_t n;

    if (rmq_pub_redeclare(q, why, len) != 0)
        return -1;
    n = rmq_pub_take(q);
    if (rmq_pub_send(q, n, why, len) != 0)
        return -1;
    if (rmq_pub_depth(q, why, len) != 0)
        return -1;
    return rmq_pub_read(q, why, len);
}

static void *rmq_service_main(void *arg)
{
    struct rmq *q = arg;
    char why[RMQ_REASON_MAX];
    int stopping;

    for (;;) {
        pthread_mutex_lock(&q->pub.lock);
        stopping = q->pub.stopping;
        pthread_mutex_unlock(&q->pub.lock);
        if (stopping)
            break;
        if (!q->pub.conn)
            rmq_pub_connect(q);
        if (q->pub.conn && rmq_service_step(q, why, sizeof(why)) != 0)
            rmq_pub_down(q, why);
        rmq_cons_keepalive(q);
        rmq_service_wait(q);
    }
    pthread_mutex_lock(&q->pub.lock);
    q->pub.up = 0;
    snprintf(q->pub.reason, sizeof(q->pub.reason), "shutting down");
    rmq_fail_all(q);
    pthread_mutex_unlock(&q->pub.lock);
    if (q->pub.conn) {
        amqp_connection_close(q->pub.conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(q->pub.conn);
        q->pub.conn = NULL;
    }
    return NULL;
}

/* ---- publish and depth ---------------------------------------------------- */

/* Queues `r` for the service thread and waits for its answer. A known-down
 * or blocked connection answers at once; otherwise publish_timeout_ms bounds
 * the wait, and a caller that gives up unlinks itself, so the thread never
 * sees its (stack) request again. */
static enum fs_status rmq_submit(struct rmq *q, struct rmq_req *r,
                                 enum rmq_where where)
{
    struct timespec deadline = rmq_deadline(q->cfg.publish_timeout_ms);
    struct rmq_req **list = rmq_list(q, where);
    enum fs_status st;

    if (rmq_cond_init(&r->cond) != 0)
        return FS_ERROR;
    r->st = FS_UNAVAILABLE;
    pthread_mutex_lock(&q->pub.lock);
    if (!q->pub.up || q->pub.stopping || (q->pub.blocked && where == RMQ_PENDING)) {
        pthread_mutex_unlock(&q->pub.lock);
        pthread_cond_destroy(&r->cond);
        return FS_UNAVAILABLE;
    }
    r->where = where;
    DL_APPEND(*list, r);
    rmq_wake_service(q);
    while (r->where != RMQ_NOWHERE)
        if (pthread_cond_timedwait(&r->cond, &q->pub.lock, &deadline) ==
            ETIMEDOUT)
            break;
    rmq_unlink(q, r);
    st = r->st;
    pthread_mutex_unlock(&q->pub.lock);
    pthread_cond_destroy(&r->cond);
    return st;
}

static enum fs_status rmq_publish(void *ctx, const void *body, size_t len)
{
    struct rmq_req r;

    if (len > FS_MESSAGE_MAX || (len && !body))
        return FS_INVALID;
    memset(&r, 0, sizeof(r));
    r.body = body;
    r.len = len;
    return rmq_submit(ctx, &r, RMQ_PENDING);
}

/* The broker's ready count plus what the core holds unacked. Deliveries
 * prefetched into our socket but not yet consumed are in neither, so this
 * may read up to `prefetch` low while the consumer is busy. */
static enum fs_status rmq_depth(void *ctx, uint64_t *out)
{
    struct rmq *q = ctx;
    struct rmq_req r;
    enum fs_status st;

    if (!out)
        return FS_INVALID;
    memset(&r, 0, sizeof(r));
    st = rmq_submit(q, &r, RMQ_DEPTH);
    if (st == FS_OK)
        *out = r.count + atomic_load(&q->cons.held_count);
    return st;
}

/* ---- consumer (the core's one consumer thread; cons.lock held) ------------ */

static void rmq_cons_status(struct rmq *q, const char *why)
{
    pthread_mutex_lock(&q->pub.lock);
    snprintf(q->pub.cons_reason, sizeof(q->pub.cons_reason), "%s",
             why ? why : "");
    pthread_mutex_unlock(&q->pub.lock);
}

/* Drops the connection; the broker requeues every unacked delivery, and the
 * generation bump makes their old tags unackable. why == NULL: a planned
 * reopen (resync), so no backoff. */
static void rmq_cons_down(struct rmq *q, const char *why)
{
    if (q->cons.conn) {
        if (why) {
            amqp_destroy_connection(q->cons.conn);
        } else {
            amqp_connection_close(q->cons.conn, AMQP_REPLY_SUCCESS);
            amqp_destroy_connection(q->cons.conn);
        }
    }
    q->cons.conn = NULL;
    q->cons.n_held = 0;
    atomic_store(&q->cons.held_count, 0);
    q->cons.resync = 0;
    if (why) {
        q->host->log(FS_LOG_WARN, RMQ_NAME, "consumer connection lost: %s", why);
        q->cons.next_attempt_ms = rmq_mono_ms() +
                                  rmq_next_backoff(&q->cons.backoff_ms);
        rmq_cons_status(q, why);
    }
}

static int rmq_cons_connect(struct rmq *q)
{
    char why[RMQ_REASON_MAX] = "";
    int repeated;
    amqp_connection_state_t conn = rmq_open(q, "flashsaled consumer", why,
                                            sizeof(why));

    if (!conn)
        goto fail;
    amqp_basic_qos(conn, RMQ_CHANNEL, 0, (uint16_t)q->cfg.prefetch, 0);
    if (rmq_rpc_ok(conn, "basic.qos", why, sizeof(why)) != 0)
        goto fail;
    amqp_basic_consume(conn, RMQ_CHANNEL, amqp_cstring_bytes(q->cfg.queue),
                       amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (rmq_rpc_ok(conn, "basic.consume", why, sizeof(why)) != 0)
        goto fail;
    q->cons.conn = conn;
    q->cons.gen++;
    q->cons.last_send_ms = rmq_mono_ms();
    if (q->cons.backoff_ms)
        q->host->log(FS_LOG_INFO, RMQ_NAME, "consumer connected again");
    q->cons.backoff_ms = 0;
    rmq_cons_status(q, NULL);
    return 0;

fail:
    if (conn)
        amqp_destroy_connection(conn);
    q->cons.next_attempt_ms = rmq_mono_ms() +
                              rmq_next_backoff(&q->cons.backoff_ms);
    /* Once per reason, not once per try: an outage is one line. */
    pthread_mutex_lock(&q->pub.lock);
    repeated = strcmp(why, q->pub.cons_reason) == 0;
    pthread_mutex_unlock(&q->pub.lock);
    if (!repeated)
        q->host->log(FS_LOG_WARN, RMQ_NAME, "consumer cannot connect (trying "
                     "again with backoff up to %d ms): %s", RMQ_BACKOFF_MAX_MS,
                     why);
    rmq_cons_status(q, why);
    return -1;
}

/* Connected on return, or the broker is still unreachable when `deadline_ms`
 * (monotonic) comes: then the caller answers FS_UNAVAILABLE, having waited
 * like a timeout, so the worker's loop does not spin. */
static int rmq_cons_ensure(struct rmq *q, int64_t deadline_ms)
{
    if (q->cons.conn && q->cons.resync && q->cons.n_held == 0)
        rmq_cons_down(q, NULL);
    while (!q->cons.conn) {
        int64_t now = rmq_mono_ms();
        if (now >= q->cons.next_attempt_ms && rmq_cons_connect(q) == 0)
            return 0;
        now = rmq_mono_ms();
        if (now >= deadline_ms)
            return -1;
        rmq_sleep_ms((q->cons.next_attempt_ms < deadline_ms
                          ? q->cons.next_attempt_ms
                          : deadline_ms) - now);
    }
    return 0;
}

static int rmq_held_add(struct rmq *q, uint64_t dtag)
{
    if (q->cons.n_held == q->cons.cap_held) {
        size_t cap = q->cons.cap_held ? q->cons.cap_held * 2 : 64;
        uint64_t *held = realloc(q->cons.held, cap * sizeof(*held));
        if (!held)
            return -1;
        q->cons.held = held;
        q->cons.cap_held = cap;
    }
    q->cons.held[q->cons.n_held++] = dtag;
    atomic_store(&q->cons.held_count, q->cons.n_held);
    return 0;
}

/* Tags arrive in ascending order per channel: binary search. */
static int rmq_held_take(struct rmq *q, uint64_t tag, uint64_t *dtag)
{
    size_t lo = 0, hi = q->cons.n_held;

    if (!q->cons.conn || (tag >> RMQ_GEN_SHIFT) != q->cons.gen)
        return -1;
    *dtag = tag & RMQ_DTAG_MASK;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->cons.held[mid] < *dtag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == q->cons.n_held || q->cons.held[lo] != *dtag)
        return -1;
    memmove(&q->cons.held[lo], &q->cons.held[lo + 1],
            (q->cons.n_held - lo - 1) * sizeof(*q->cons.held));
    q->cons.n_held--;
    atomic_store(&q->cons.held_count, q->cons.n_held);
    return 0;
}

/* One envelope: 1 handed to the core in *d, 0 dropped (too long). */
static int rmq_cons_take(struct rmq *q, amqp_envelope_t *env,
                         struct fs_delivery *d)
{
    size_t len = env->message.body.len;

    if (len > FS_MESSAGE_MAX || rmq_held_add(q, env->delivery_tag) != 0) {
        q->host->log(FS_LOG_ERROR, RMQ_NAME, "dropping a %zu-byte message "
                     "(longest is %d, or out of memory)", len, FS_MESSAGE_MAX);
        (void)amqp_basic_nack(q->cons.conn, RMQ_CHANNEL, env->delivery_tag, 0,
                              len <= FS_MESSAGE_MAX);
        return 0;
    }
    d->tag = ((uint64_t)q->cons.gen << RMQ_GEN_SHIFT) |
             (env->delivery_tag & RMQ_DTAG_MASK);
    d->redelivered = env->redelivered ? 1 : 0;
    d->len = len;
    if (len)
        memcpy(d->body, env->message.body.bytes, len);
    return 1;
}

/* A frame that is not a delivery: the consumer was cancelled or a channel or
 * the connection closed. Returns -1 with the reason when the consumer is
 * over. */
static int rmq_cons_other(struct rmq *q, char *why, size_t len)
{
    amqp_frame_t f;
    int rc = amqp_simple_wait_frame(q->cons.conn, &f);

    if (rc != AMQP_STATUS_OK) {
        snprintf(why, len, "%s", amqp_error_string2(rc));
        return -1;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0;
    switch (f.payload.method.id) {
    case AMQP_BASIC_CANCEL_METHOD:
        snprintf(why, len, "the broker cancelled the consumer (the queue's "
                 "process restarted, or the queue was deleted)");
        return -1;
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_rpc_reply_t r;
        memset(&r, 0, sizeof(r));
        r.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
        r.reply = f.payload.method;
        rmq_reply_text(r, "consumer closed", why, len);
        return -1;
    }
    default:
        return 0;
    }
}

/* Reads deliveries until `max`, waiting only while none has come. Returns -1
 * with the reason when the connection failed. */
static int rmq_cons_read(struct rmq *q, struct fs_delivery *out, size_t max,
                         size_t *got, int64_t deadline_ms, char *why,
                         size_t len)
{
    amqp_envelope_t env;
    amqp_rpc_reply_t r;
    struct timeval tv;

    amqp_maybe_release_buffers(q->cons.conn);
    while (*got < max) {
        tv = rmq_tv(*got ? 0 : deadline_ms - rmq_mono_ms());
        r = amqp_consume_message(q->cons.conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            *got += (size_t)rmq_cons_take(q, &env, &out[*got]);
            amqp_destroy_envelope(&env);
            continue;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            return 0;
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            if (rmq_cons_other(q, why, len) != 0)
                return -1;
            continue;
        }
        rmq_reply_text(r, "consume", why, len);
        return -1;
    }
    return 0;
}

static enum fs_status rmq_consume(void *ctx, struct fs_delivery *out,
                                  size_t max, size_t *n, int timeout_ms)
{
    struct rmq *q = ctx;
    int64_t deadline = rmq_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char why[RMQ_REASON_MAX];
    size_t got = 0;
    enum fs_status st;

    if (n)
        *n = 0;
    if (!out || !n || max == 0)
        return FS_INVALID;
    pthread_mutex_lock(&q->cons.lock);
    if (rmq_cons_ensure(q, deadline) != 0) {
        pthread_mutex_unlock(&q->cons.lock);
        return FS_UNAVAILABLE;
    }
    if (rmq_cons_read(q, out, max, &got, deadline, why, sizeof(why)) != 0)
        rmq_cons_down(q, why);
    /* Deliveries read before a failure still go to the core: their acks will
     * answer FS_NOT_FOUND and the broker hands them out again. */
    st = got ? FS_OK : q->cons.conn ? FS_TIMEOUT : FS_UNAVAILABLE;
    pthread_mutex_unlock(&q->cons.lock);
    *n = got;
    return st;
}

/* Shared by ack and nack: FS_NOT_FOUND for a tag that is not held (unknown,
 * settled, or from a connection that is gone), FS_UNAVAILABLE when the
 * connection failed (the broker will hand the message out again). */
static enum fs_status rmq_settle(struct rmq *q, uint64_t tag, int ack,
                                 int requeue)
{
    char why[RMQ_REASON_MAX];
    uint64_t dtag;
    int rc;

    pthread_mutex_lock(&q->cons.lock);
    if (rmq_held_take(q, tag, &dtag) != 0) {
        pthread_mutex_unlock(&q->cons.lock);
        return FS_NOT_FOUND;
    }
    rc = ack ? amqp_basic_ack(q->cons.conn, RMQ_CHANNEL, dtag, 0)
             : amqp_basic_nack(q->cons.conn, RMQ_CHANNEL, dtag, 0, requeue);
    q->cons.last_send_ms = rmq_mono_ms();
    if (rc != AMQP_STATUS_OK) {
        snprintf(why, sizeof(why), "%s: %s", ack ? "ack" : "nack",
                 amqp_error_string2(rc));
        rmq_cons_down(q, why);
    } else if (!ack && requeue) {
        q->cons.resync = 1;
    }
    pthread_mutex_unlock(&q->cons.lock);
    return rc == AMQP_STATUS_OK ? FS_OK : FS_UNAVAILABLE;
}

static enum fs_status rmq_ack(void *ctx, uint64_t tag)
{
    return rmq_settle(ctx, tag, 1, 0);
}

static enum fs_status rmq_nack(void *ctx, uint64_t tag, int requeue)
{
    return rmq_settle(ctx, tag, 0, requeue ? 1 : 0);
}

/* ---- create, destroy, health ---------------------------------------------- */

/* 0 if min <= v <= max; else names the option in *key and err. */
static int rmq_range(const char *name, int64_t v, int64_t min, int64_t max,
                     const char **key, char *err, size_t errlen)
{
    if (v >= min && v <= max)
        return 0;
    *key = name;
    snprintf(err, errlen, "%s must be %lld to %lld, not %lld", name,
             (long long)min, (long long)max, (long long)v);
    return -1;
}

/* Ranges and pairs; on failure *key names the option. */
static int rmq_check_values(const struct rmq_config *c, const char **key,
                            char *err, size_t errlen)
{
    if (!c || !c->url || !c->queue || !c->tls_ca || !c->tls_cert ||
        !c->tls_key) {
        snprintf(err, errlen, "missing configuration");
        return -1;
    }
    if (!c->queue[0] || strlen(c->queue) > 255) {
        *key = "queue";
        snprintf(err, errlen, "queue must be 1 to 255 bytes");
        return -1;
    }
    if (rmq_range("prefetch", c->prefetch, 1, 65535, key, err, errlen) ||
        rmq_range("confirm_window", c->confirm_window, 1, 65535, key, err,
                  errlen) ||
        rmq_range("publish_timeout_ms", c->publish_timeout_ms, 1, 3600000,
                  key, err, errlen) ||
        rmq_range("heartbeat_s", c->heartbeat_s, 0, 65535, key, err, errlen))
        return -1;
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        *key = c->tls_cert[0] ? "tls_cert" : "tls_key";
        snprintf(err, errlen, "tls_cert and tls_key go together");
        return -1;
    }
    return 0;
}

/* The url's syntax, on a scratch copy (amqp_parse_url writes into it). The
 * url is not echoed: it may hold a password. */
static int rmq_check_url(const char *url, char *err, size_t errlen)
{
    struct amqp_connection_info info;
    char *copy = strdup(url);
    int rc;

    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = amqp_parse_url(copy, &info) == AMQP_STATUS_OK ? 0 : -1;
    free(copy);
    if (rc != 0)
        snprintf(err, errlen, "url: expected amqp://user:password@host:port/"
                 "vhost or amqps://...");
    return rc;
}

/* The descriptor's validate, and create()'s first step: no connecting. */
static int rmq_validate(const void *config, const char **key, char *err,
                        size_t errlen)
{
    const struct rmq_config *c = config;

    *key = NULL;
    if (rmq_check_values(c, key, err, errlen) != 0)
        return -1;
    if (rmq_check_url(c->url, err, errlen) != 0) {
        *key = "url";
        return -1;
    }
    return 0;
}

static int rmq_parse_url(struct rmq *q, char *err, size_t errlen)
{
    q->url_copy = strdup(q->cfg.url);
    if (!q->url_copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    amqp_default_connection_info(&q->info);
    /* rmq_validate() checked the syntax already. */
    if (amqp_parse_url(q->url_copy, &q->info) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "url: expected amqp://user:password@host:port/"
                 "vhost or amqps://...");
        return -1;
    }
    q->tls = q->cfg.tls || q->info.ssl;
    return 0;
}

static struct rmq *rmq_alloc(const struct fs_host *host,
                             const struct rmq_config *cfg, char *err,
                             size_t errlen)
{
    struct rmq *q = calloc(1, sizeof(*q));

    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->host = host;
    q->cfg = *cfg;
    q->pub.efd = -1;
    q->pub.out = calloc((size_t)cfg->confirm_window, sizeof(*q->pub.out));
    if (!q->pub.out) {
        snprintf(err, errlen, "out of memory");
        free(q);
        return NULL;
    }
    return q;
}

static void rmq_free(struct rmq *q)
{
    if (q->pub.efd >= 0)
        close(q->pub.efd);
    free(q->cons.held);
    free(q->pub.out);
    free(q->url_copy);
    free(q);
}

static int rmq_create(const struct fs_host *host, const void *config,
                      void **ctx, char *err, size_t errlen)
{
    const struct rmq_config *cfg = config;
    struct rmq *q = NULL;
    int locks = 0;
    const char *key;

    *ctx = NULL;
    if (rmq_validate(cfg, &key, err, errlen) != 0)
        goto fail;
    q = rmq_alloc(host, cfg, err, errlen);
    if (!q || rmq_parse_url(q, err, errlen) != 0)
        goto fail;
    q->pub.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->pub.efd < 0 || pthread_mutex_init(&q->pub.lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create an eventfd or a mutex");
        goto fail;
    }
    locks = 1;
    if (pthread_mutex_init(&q->cons.lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create a mutex");
        goto fail;
    }
    locks = 2;
    /* A broker down at start is not an error: health() says so and the
     * service thread keeps trying. Connecting here first means a publish
     * right after create() finds the connection up. */
    rmq_pub_connect(q);
    if (pthread_create(&q->pub.thread, NULL, rmq_service_main, q) != 0) {
        snprintf(err, errlen, "cannot start the publisher thread");
        goto fail;
    }
    *ctx = q;
    return 0;

fail:
    if (q && q->pub.conn)
        amqp_destroy_connection(q->pub.conn);
    if (locks > 1)
        pthread_mutex_destroy(&q->cons.lock);
    if (locks > 0)
        pthread_mutex_destroy(&q->pub.lock);
    if (q)
        rmq_free(q);
    return -1;
}

/* The core stops its consumer and publishers before destroy(). */
static void rmq_destroy(void *ctx)
{
    struct rmq *q = ctx;

    if (!q)
        return;
    pthread_mutex_lock(&q->pub.lock);
    q->pub.stopping = 1;
    q->pub.sleeping = 1;
    rmq_wake_service(q);
    pthread_mutex_unlock(&q->pub.lock);
    pthread_join(q->pub.thread, NULL);
    if (q->cons.conn) {
        amqp_connection_close(q->cons.conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(q->cons.conn);
    }
    pthread_mutex_destroy(&q->cons.lock);
    pthread_mutex_destroy(&q->pub.lock);
    rmq_free(q);
}

static enum fs_status rmq_health(void *ctx, char *detail, size_t len)
{
    struct rmq *q = ctx;
    enum fs_status st = FS_OK;
    char buf[2 * RMQ_REASON_MAX + 320];  /* + "amqp HOST:PORT: " */

    pthread_mutex_lock(&q->pub.lock);
    if (!q->pub.up || q->pub.blocked) {
        st = FS_UNAVAILABLE;
        /* The address first: health() is what a failed start names. */
        snprintf(buf, sizeof(buf), "amqp %s:%d: publisher: %s", q->info.host,
                 q->info.port, q->pub.reason[0] ? q->pub.reason : "connecting");
    } else if (q->pub.cons_reason[0]) {
        st = FS_UNAVAILABLE;
        snprintf(buf, sizeof(buf), "amqp %s:%d: consumer: %s", q->info.host,
                 q->info.port, q->pub.cons_reason);
    } else {
        snprintf(buf, sizeof(buf), "%s:%d queue %s", q->info.host,
                 q->info.port, q->cfg.queue);
    }
    pthread_mutex_unlock(&q->pub.lock);
    if (detail && len)
        snprintf(detail, len, "%s", buf);
    return st;
}

static const struct fs_queue_ops rmq_ops = {
    .publish = rmq_publish,
    .consume = rmq_consume,
    .ack = rmq_ack,
    .nack = rmq_nack,
    .depth = rmq_depth,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_QUEUE,
    .name = RMQ_NAME,
    .description = "RabbitMQ durable queue with publisher confirms "
                   "(librabbitmq)",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE | FS_QUEUE_DURABLE,
    .options = rmq_options,
    .config_size = sizeof(struct rmq_config),
    .create = rmq_create,
    .destroy = rmq_destroy,
    .health = rmq_health,
    .queue = &rmq_ops,
    .validate = rmq_validate,
};
