/*
 * test_queue_rabbitmq.c - the RabbitMQ queue plugin (queue_rabbitmq.so)
 * against a real broker and the queue contract of fs_plugin.h: round trip,
 * FIFO, ack/nack, depth, concurrent publishers, confirms that survive a
 * broker restart, and behaviour while the broker is down.
 *
 * Run by test_queue_rabbitmq.py, which starts a private broker and passes
 * FS_AMQP_URL plus two pipe descriptors (FS_RMQ_CTL_WFD, FS_RMQ_CTL_RFD):
 * broker_ctl("stop") writes the command and waits for the driver's "ok".
 * Every test uses its own queue, so tests do not see each other's messages.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hang_bound.h"
#include "plugin_fixture.h"

#define PUBLISHERS 8
#define PER_PUBLISHER 2000
#define SHARED_THREADS 64
#define SHARED_PER_THREAD 100
#define BOUND_MS 20000
/* The outage test's publish timeout: long enough that no sanitizer build
 * takes it to answer a publish the plugin already knows cannot succeed. */
#define PUBLISH_TIMEOUT_MS "5000"

struct rq {
    struct plugin_fixture f;
    const struct fs_queue_ops *ops;
    void *config;
    char *strings[16];  /* the config's strings, freed at close */
    size_t n_strings;
};

#define monotonic_ms fs_test_now_ms

static const char *amqp_url(void)
{
    const char *url = getenv("FS_AMQP_URL");
    if (!url)
        fail_msg("FS_AMQP_URL is not set: run through test_queue_rabbitmq.py");
    return url;
}

/* Asks the driver to stop, start or restart the broker; returns once done. */
static void broker_ctl(const char *cmd)
{
    const char *w = getenv("FS_RMQ_CTL_WFD"), *r = getenv("FS_RMQ_CTL_RFD");
    char line[64] = "";
    size_t n = 0;

    if (!w || !r)
        fail_msg("FS_RMQ_CTL_WFD/RFD not set: run through test_queue_rabbitmq.py");
    dprintf(atoi(w), "%s\n", cmd);
    while (n + 1 < sizeof(line) && read(atoi(r), &line[n], 1) == 1 &&
           line[n] != '\n')
        n++;
    line[n] = '\0';
    if (strcmp(line, "ok") != 0)
        fail_msg("broker %s failed: %s", cmd, line);
}

static const struct fs_option *find_option(const struct fs_plugin *p,
                                           const char *name)
{
    const struct fs_option *o;

    for (o = p->options; o->type != FS_OPT_END; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Writes `text` into the config as the core would parse it. */
static void set_option(struct rq *t, const char *name, const char *text)
{
    const struct fs_option *o = find_option(t->f.plugin, name);
    char *field;
    int64_t v;
    int b;
    char *s;

    assert_non_null(o);
    field = (char *)t->config + o->offset;
    switch (o->type) {
    case FS_OPT_INT:
        v = strtoll(text, NULL, 10);
        memcpy(field, &v, sizeof(v));
        break;
    case FS_OPT_BOOL:
        b = strcmp(text, "true") == 0;
        memcpy(field, &b, sizeof(b));
        break;
    default:
        assert_true(t->n_strings < 16);
        s = strdup(text);
        assert_non_null(s);
        t->strings[t->n_strings++] = s;
        memcpy(field, &s, sizeof(s));
        break;
    }
}

/* Loads the plugin and fills its config with the declared defaults, then
 * the test broker's URL and a queue of the test's own. */
static struct rq *rq_config(const char *queue)
{
    struct rq *t = calloc(1, sizeof(*t));
    const struct fs_option *o;
    char name[128];

    assert_non_null(t);
    fixture_open(&t->f, "queue_rabbitmq.so", FS_PLUGIN_QUEUE);
    t->config = calloc(1, t->f.plugin->config_size);
    assert_non_null(t->config);
    for (o = t->f.plugin->options; o->type != FS_OPT_END; o++) {
        assert_non_null(o->default_value);
        set_option(t, o->name, o->default_value);
    }
    set_option(t, "url", amqp_url());
    snprintf(name, sizeof(name), "fs-test-%d-%s", getpid(), queue);
    set_option(t, "queue", name);
    t->ops = t->f.plugin->queue;
    return t;
}

static void rq_create(struct rq *t)
{
    fixture_create(&t->f, t->config);
}

static struct rq *rq_open(const char *queue)
{
    struct rq *t = rq_config(queue);
    rq_create(t);
    return t;
}

static void rq_close(struct rq *t)
{
    fixture_close(&t->f);
    for (size_t i = 0; i < t->n_strings; i++)
        free(t->strings[i]);
    free(t->config);
    free(t);
}

static void publish_str(struct rq *t, const char *s)
{
    assert_int_equal(t->ops->publish(t->f.ctx, s, strlen(s)), FS_OK);
}

static uint64_t depth_of(struct rq *t)
{
    uint64_t d = 0;
    assert_int_equal(t->ops->depth(t->f.ctx, &d), FS_OK);
    return d;
}

/* Consumes until `want` deliveries arrived or BOUND_MS passed. */
static size_t consume_n(struct rq *t, struct fs_delivery *d, size_t want)
{
    int64_t give_up = monotonic_ms() + fs_test_hang_bound_ms(BOUND_MS);
    size_t got = 0, n;
    enum fs_status st;

    while (got < want && monotonic_ms() < give_up) {
        n = 0;
        st = t->ops->consume(t->f.ctx, &d[got], want - got, &n, 500);
        assert_true(st == FS_OK || st == FS_TIMEOUT || st == FS_UNAVAILABLE);
        got += n;
    }
    return got;
}

static void assert_body(const struct fs_delivery *d, const char *s)
{
    assert_int_equal(d->len, strlen(s));
    assert_memory_equal(d->body, s, d->len);
}

/* Nothing more arrives within a short wait. */
static void assert_empty(struct rq *t)
{
    struct fs_delivery d;
    size_t n = 9;
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 300), FS_TIMEOUT);
    assert_int_equal(n, 0);
}

/* ---- descriptor and create ---------------------------------------------- */

static void test_descriptor_is_thread_safe_durable_rabbitmq_queue(void **state)
{
    struct plugin_fixture f;
    const struct fs_option *o;
    (void)state;

    fixture_open(&f, "queue_rabbitmq.so", FS_PLUGIN_QUEUE);
    assert_string_equal(f.plugin->name, "rabbitmq");
    assert_int_equal(f.plugin->struct_size, sizeof(struct fs_plugin));
    assert_true(f.plugin->flags & FS_PLUGIN_THREAD_SAFE);
    assert_true(f.plugin->flags & FS_QUEUE_DURABLE);
    assert_non_null(f.plugin->queue);
    assert_null(f.plugin->inventory);
    o = find_option(f.plugin, "queue");
    assert_non_null(o);
    assert_string_equal(o->default_value, "booking_requests");
    o = find_option(f.plugin, "url");
    assert_non_null(o);
    assert_string_equal(o->default_value,
                        "amqp://guest:guest@127.0.0.1:5672/%2f");
    assert_non_null(find_option(f.plugin, "confirm_window"));
    assert_non_null(find_option(f.plugin, "tls_verify"));
    fixture_close(&f);
}

static void expect_create_refused(const char *name, const char *value,
                                  const char *word)
{
    struct rq *t = rq_config("refused");
    char err[256] = "";

    set_option(t, name, value);
    assert_int_not_equal(t->f.plugin->create(&test_host, t->config, &t->f.ctx,
                                             err, sizeof(err)), 0);
    assert_null(t->f.ctx);
    if (!strstr(err, word))
        fail_msg("error '%s' does not mention '%s'", err, word);
    rq_close(t);
}

static void test_create_refuses_bad_options_with_a_reason(void **state)
{
    (void)state;
    expect_create_refused("prefetch", "0", "prefetch");
    expect_create_refused("confirm_window", "70000", "confirm_window");
    expect_create_refused("url", "http://example.org/", "url");
    expect_create_refused("queue", "", "queue");
    expect_create_refused("tls_cert", "/nonexistent.pem", "tls_key");
}

static void test_health_reports_ok_when_connected(void **state)
{
    struct rq *t = rq_open("health");
    char detail[256] = "";
    (void)state;

    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_OK);
    assert_non_null(strstr(detail, "fs-test-"));
    rq_close(t);
}

static void test_create_succeeds_with_broker_down_and_health_says_why(
    void **state)
{
    struct rq *t = rq_config("nobroker");
    char detail[256] = "";
    (void)state;

    /* Port 1 on loopback: nothing listens, the connect is refused. */
    set_option(t, "url", "amqp://guest:guest@127.0.0.1:1/%2f");
    rq_create(t);
    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    assert_true(strlen(detail) > 0);
    assert_int_equal(t->ops->publish(t->f.ctx, "x", 1), FS_UNAVAILABLE);
    rq_close(t);
}

/* ---- publish and consume ------------------------------------------------ */

static void test_consume_returns_the_published_message(void **state)
{
    struct rq *t = rq_open("roundtrip");
    const char *msg = "{\"booking_id\":\"b1\",\"sale_id\":\"s\"}";
    struct fs_delivery d;
    (void)state;

    publish_str(t, msg);
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_body(&d, msg);
    assert_int_equal(d.redelivered, 0);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    assert_empty(t);
    rq_close(t);
}

static void test_consume_delivers_in_fifo_order_up_to_max(void **state)
{
    struct rq *t = rq_open("fifo");
    struct fs_delivery d[5];
    char want[8];
    size_t i;
    (void)state;

    for (i = 0; i < 5; i++) {
        snprintf(want, sizeof(want), "m%zu", i);
        publish_str(t, want);
    }
    assert_int_equal(consume_n(t, d, 3), 3);
    assert_int_equal(consume_n(t, &d[3], 2), 2);
    for (i = 0; i < 5; i++) {
        snprintf(want, sizeof(want), "m%zu", i);
        assert_body(&d[i], want);
        if (i)
            assert_true(d[i].tag != d[i - 1].tag);
        assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    }
    rq_close(t);
}

static void test_publish_accepts_largest_message_and_refuses_larger(void **state)
{
    struct rq *t = rq_open("large");
    static char big[FS_MESSAGE_MAX + 1];
    struct fs_delivery d;
    (void)state;

    memset(big, 'x', sizeof(big));
    assert_int_equal(t->ops->publish(t->f.ctx, big, FS_MESSAGE_MAX + 1),
                     FS_INVALID);
    assert_int_equal(t->ops->publish(t->f.ctx, big, FS_MESSAGE_MAX), FS_OK);
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_int_equal(d.len, FS_MESSAGE_MAX);
    assert_memory_equal(d.body, big, FS_MESSAGE_MAX);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    rq_close(t);
}

static void test_consume_refuses_zero_max_and_times_out_when_empty(void **state)
{
    struct rq *t = rq_open("empty");
    struct fs_delivery d;
    size_t n = 7;
    int64_t start;
    (void)state;

    assert_int_equal(t->ops->consume(t->f.ctx, &d, 0, &n, 0), FS_INVALID);
    assert_int_equal(n, 0);
    start = monotonic_ms();
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 200), FS_TIMEOUT);
    assert_true(monotonic_ms() - start < fs_test_hang_bound_ms(10000));
    assert_int_equal(n, 0);
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_TIMEOUT);
    rq_close(t);
}

/* ---- ack, nack and depth ------------------------------------------------ */

static void test_ack_removes_the_message_exactly_once(void **state)
{
    struct rq *t = rq_open("ackonce");
    struct fs_delivery d;
    (void)state;

    publish_str(t, "a");
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_NOT_FOUND);
    assert_int_equal(t->ops->nack(t->f.ctx, d.tag, 1), FS_NOT_FOUND);
    assert_empty(t);
    /* Another instance on the same queue finds nothing either. */
    rq_close(t);
    t = rq_open("ackonce");
    assert_empty(t);
    rq_close(t);
}

static void test_ack_and_nack_refuse_unknown_tag(void **state)
{
    struct rq *t = rq_open("unknown");
    struct fs_delivery d;
    (void)state;

    publish_str(t, "a");
    assert_int_equal(t->ops->ack(t->f.ctx, 1), FS_NOT_FOUND);
    assert_int_equal(t->ops->ack(t->f.ctx, 12345), FS_NOT_FOUND);
    assert_int_equal(t->ops->nack(t->f.ctx, 12345, 1), FS_NOT_FOUND);
    /* The refusals did not break the channel: the message still comes. */
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_body(&d, "a");
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag + 1), FS_NOT_FOUND);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    rq_close(t);
}

static void test_nack_requeue_redelivers_first_with_redelivered_flag(void **state)
{
    struct rq *t = rq_open("requeue");
    struct fs_delivery d, again[3];
    (void)state;

    publish_str(t, "first");
    publish_str(t, "second");
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_body(&d, "first");
    publish_str(t, "third");
    assert_int_equal(t->ops->nack(t->f.ctx, d.tag, 1), FS_OK);
    assert_int_equal(consume_n(t, again, 3), 3);
    assert_body(&again[0], "first");
    assert_int_equal(again[0].redelivered, 1);
    assert_body(&again[1], "second");
    assert_body(&again[2], "third");
    for (int i = 0; i < 3; i++)
        assert_int_equal(t->ops->ack(t->f.ctx, again[i].tag), FS_OK);
    assert_empty(t);
    rq_close(t);
}

static void test_nack_requeue_of_several_keeps_their_publish_order(void **state)
{
    struct rq *t = rq_open("requeue-several");
    struct fs_delivery d[3], again[4];
    (void)state;

    publish_str(t, "a");
    publish_str(t, "b");
    publish_str(t, "c");
    publish_str(t, "d");
    assert_int_equal(consume_n(t, d, 3), 3);
    /* Nacked in reverse, while "d" already sits prefetched in the socket:
     * the queue must still hand them out a, b, c, d. */
    assert_int_equal(t->ops->nack(t->f.ctx, d[2].tag, 1), FS_OK);
    assert_int_equal(t->ops->nack(t->f.ctx, d[0].tag, 1), FS_OK);
    assert_int_equal(t->ops->nack(t->f.ctx, d[1].tag, 1), FS_OK);
    assert_int_equal(consume_n(t, again, 4), 4);
    assert_body(&again[0], "a");
    assert_body(&again[1], "b");
    assert_body(&again[2], "c");
    assert_body(&again[3], "d");
    assert_int_equal(again[2].redelivered, 1);
    rq_close(t);
}

static void test_nack_without_requeue_drops_the_message(void **state)
{
    struct rq *t = rq_open("drop");
    struct fs_delivery d;
    (void)state;

    publish_str(t, "poison");
    publish_str(t, "next");
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_body(&d, "poison");
    assert_int_equal(t->ops->nack(t->f.ctx, d.tag, 0), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_NOT_FOUND);
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_body(&d, "next");
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    assert_empty(t);
    rq_close(t);
}

static void test_depth_counts_waiting_plus_unacked(void **state)
{
    struct rq *t = rq_open("depth");
    struct fs_delivery d[3];
    (void)state;

    assert_int_equal(depth_of(t), 0);
    publish_str(t, "1");
    publish_str(t, "2");
    publish_str(t, "3");
    /* No consumer yet: all three are ready in the broker. */
    assert_int_equal(depth_of(t), 3);
    assert_int_equal(consume_n(t, d, 3), 3);
    assert_int_equal(depth_of(t), 3);
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    assert_int_equal(depth_of(t), 2);
    assert_int_equal(t->ops->nack(t->f.ctx, d[1].tag, 0), FS_OK);
    assert_int_equal(depth_of(t), 1);
    assert_int_equal(t->ops->ack(t->f.ctx, d[2].tag), FS_OK);
    assert_int_equal(depth_of(t), 0);
    rq_close(t);
}

/* ---- concurrency -------------------------------------------------------- */

struct wire {
    uint32_t publisher;
    uint32_t seq;
};

struct publisher_arg {
    struct rq *t;
    pthread_barrier_t *go;
    uint32_t id;
    uint32_t count;
    int failures;
};

static void *publisher_main(void *arg)
{
    struct publisher_arg *pa = arg;
    struct wire w = {pa->id, 0};

    pthread_barrier_wait(pa->go);
    for (w.seq = 0; w.seq < pa->count; w.seq++)
        if (pa->t->ops->publish(pa->t->f.ctx, &w, sizeof(w)) != FS_OK)
            pa->failures++;
    return NULL;
}

/* Returns the number of messages out of order or duplicated. */
static int consume_batch(struct rq *t, uint32_t *next, size_t *total)
{
    struct fs_delivery d[64];
    struct wire w;
    size_t n = 0, i;
    int bad = 0;
    enum fs_status st = t->ops->consume(t->f.ctx, d, 64, &n, 1000);

    assert_true(st == FS_OK || st == FS_TIMEOUT);
    for (i = 0; i < n; i++) {
        assert_int_equal(d[i].len, sizeof(w));
        memcpy(&w, d[i].body, sizeof(w));
        assert_true(w.publisher < PUBLISHERS);
        if (w.seq != next[w.publisher])
            bad++;
        next[w.publisher] = w.seq + 1;
        assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    }
    *total += n;
    return bad;
}

static void test_concurrent_publishers_each_message_delivered_once_in_order(
    void **state)
{
    struct rq *t = rq_open("concurrent");
    struct publisher_arg pa[PUBLISHERS];
    pthread_t th[PUBLISHERS];
    pthread_barrier_t go;
    uint32_t next[PUBLISHERS] = {0};
    size_t total = 0, expected = (size_t)PUBLISHERS * PER_PUBLISHER;
    int64_t give_up = monotonic_ms() + fs_test_hang_bound_ms(60000);
    int bad = 0, i;
    (void)state;

    pthread_barrier_init(&go, NULL, PUBLISHERS + 1);
    for (i = 0; i < PUBLISHERS; i++) {
        pa[i] = (struct publisher_arg){t, &go, (uint32_t)i, PER_PUBLISHER, 0};
        assert_int_equal(pthread_create(&th[i], NULL, publisher_main, &pa[i]),
                         0);
    }
    pthread_barrier_wait(&go);
    while (total < expected && monotonic_ms() < give_up)
        bad += consume_batch(t, next, &total);
    for (i = 0; i < PUBLISHERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(pa[i].failures, 0);
        assert_int_equal(next[i], PER_PUBLISHER);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(total, expected);
    assert_empty(t);
    assert_int_equal(depth_of(t), 0);
    pthread_barrier_destroy(&go);
    rq_close(t);
}

/* Many request threads share one channel's confirm window, as the daemon's
 * HTTP threads do. Every publish must be confirmed and land exactly once.
 * (How fast is measured by bench/, never here: bench/rabbit_publish.c gives
 * the broker's own confirmed-publish rate, bench/run's real_accept the
 * plugin's inside the daemon.) */
static void test_64_threads_sharing_the_confirm_window_all_land_once(
    void **state)
{
    struct rq *t = rq_config("window");
    struct publisher_arg *pa = calloc(SHARED_THREADS, sizeof(*pa));
    pthread_t *th = calloc(SHARED_THREADS, sizeof(*th));
    pthread_barrier_t go;
    int i, failures = 0;
    (void)state;

    assert_non_null(pa);
    assert_non_null(th);
    /* A loaded broker's fsyncs can keep a confirm out longer than the
     * default 5 s: this test is about sharing the window, not latency. */
    set_option(t, "publish_timeout_ms", "60000");
    rq_create(t);
    pthread_barrier_init(&go, NULL, SHARED_THREADS + 1);
    for (i = 0; i < SHARED_THREADS; i++) {
        pa[i] = (struct publisher_arg){t, &go, (uint32_t)i, SHARED_PER_THREAD, 0};
        assert_int_equal(pthread_create(&th[i], NULL, publisher_main, &pa[i]),
                         0);
    }
    pthread_barrier_wait(&go);
    for (i = 0; i < SHARED_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += pa[i].failures;
    }
    pthread_barrier_destroy(&go);
    free(pa);
    free(th);
    assert_int_equal(failures, 0);
    assert_int_equal(depth_of(t),
                     (uint64_t)SHARED_THREADS * SHARED_PER_THREAD);
    rq_close(t);
}

/* ---- the broker restarts and goes away ---------------------------------- */

static void test_confirmed_message_survives_a_broker_restart(void **state)
{
    struct rq *t = rq_open("durable");
    struct fs_delivery d;
    (void)state;

    publish_str(t, "kept-across-restart");
    rq_close(t);
    broker_ctl("restart");
    t = rq_open("durable");
    assert_int_equal(consume_n(t, &d, 1), 1);
    assert_body(&d, "kept-across-restart");
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    rq_close(t);
}

/* Polls until publish answers `want`; each call and the whole wait within
 * a hang bound. */
static void publish_until(struct rq *t, enum fs_status want,
                          int64_t call_bound_ms, int64_t total_ms)
{
    int64_t give_up, start;
    enum fs_status st;

    call_bound_ms = fs_test_hang_bound_ms(call_bound_ms);
    total_ms = fs_test_hang_bound_ms(total_ms);
    give_up = monotonic_ms() + total_ms;

    do {
        start = monotonic_ms();
        st = t->ops->publish(t->f.ctx, "probe", 5);
        assert_true(monotonic_ms() - start <= call_bound_ms);
        if (st == want)
            return;
        assert_true(st == FS_OK || st == FS_UNAVAILABLE);
    } while (monotonic_ms() < give_up);
    fail_msg("publish never answered %d within %lld ms", (int)want,
             (long long)total_ms);
}

static void test_publish_fails_fast_while_broker_down_then_recovers(
    void **state)
{
    struct rq *t = rq_config("outage");
    struct fs_delivery held, d[4];
    char detail[256] = "";
    int64_t start;
    size_t got, i;
    int seen_held = 0;
    (void)state;

    set_option(t, "publish_timeout_ms", PUBLISH_TIMEOUT_MS);
    set_option(t, "heartbeat_s", "5");
    rq_create(t);
    publish_str(t, "held-through-outage");
    assert_int_equal(consume_n(t, &held, 1), 1);
    broker_ctl("stop");

    /* Within one publish timeout the plugin knows; from then on it answers
     * at once and health() says why. */
    publish_until(t, FS_UNAVAILABLE, 2 * atoi(PUBLISH_TIMEOUT_MS), 20000);
    start = monotonic_ms();
    assert_int_equal(t->ops->publish(t->f.ctx, "x", 1), FS_UNAVAILABLE);
    /* Sooner than its own publish timeout: it did not wait for a confirm. */
    assert_true(monotonic_ms() - start < atoi(PUBLISH_TIMEOUT_MS));
    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    assert_true(strlen(detail) > 0);
    got = 9;
    assert_int_not_equal(t->ops->consume(t->f.ctx, d, 1, &got, 100), FS_OK);

    broker_ctl("start");
    publish_until(t, FS_OK, 2 * atoi(PUBLISH_TIMEOUT_MS), 30000);
    /* The delivery held before the outage went back to the queue: its old
     * tag is refused, and it comes again marked redelivered. */
    assert_int_equal(t->ops->ack(t->f.ctx, held.tag), FS_NOT_FOUND);
    got = consume_n(t, d, 2);
    assert_true(got >= 1);
    for (i = 0; i < got; i++) {
        if (d[i].len == strlen("held-through-outage") &&
            memcmp(d[i].body, "held-through-outage", d[i].len) == 0) {
            seen_held = 1;
            assert_int_equal(d[i].redelivered, 1);
        }
        assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    }
    assert_true(seen_held);
    /* Both connections are back: the consumer reconnected in consume(). */
    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_OK);
    rq_close(t);
}

/* A queue deleted under us (an operator's mistake, or a cluster moving the
 * queue): a publish must not be confirmed as if it had landed (it is
 * mandatory, and comes back), and the consumer must come back. The broker
 * tells a consumer it dropped (basic.cancel) only when the client
 * advertised consumer_cancel_notify; otherwise the connection stays up,
 * heartbeats flow, and nothing is delivered again. Told, the plugin
 * reconnects, and its connect declares the queue again. */
static void test_a_deleted_queue_loses_no_publish_and_its_consumer_comes_back(void **state)
{
    struct rq *t = rq_open("deleted");
    struct fs_delivery d[4];
    int64_t give_up;
    char cmd[96];
    size_t got, i;
    int seen = 0;
    (void)state;

    publish_str(t, "before");
    assert_int_equal(consume_n(t, d, 1), 1);
    assert_body(&d[0], "before");
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    snprintf(cmd, sizeof(cmd), "delete-queue fs-test-%d-deleted", (int)getpid());
    broker_ctl(cmd);
    /* No queue takes it: unavailable, never a confirm for a message dropped. */
    assert_int_equal(t->ops->publish(t->f.ctx, "into-the-void", 13),
                     FS_UNAVAILABLE);
    /* Until the consumer has declared the queue again, what is published
     * has no queue to go to: publish and consume until one comes through. */
    give_up = monotonic_ms() + fs_test_hang_bound_ms(BOUND_MS);
    while (!seen && monotonic_ms() < give_up) {
        (void)t->ops->publish(t->f.ctx, "after", 5);
        got = 0;
        (void)t->ops->consume(t->f.ctx, d, 4, &got, 200);
        for (i = 0; i < got; i++) {
            seen |= d[i].len == 5 && memcmp(d[i].body, "after", 5) == 0;
            assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
        }
    }
    if (!seen)
        fail_msg("nothing delivered after the queue was deleted and published "
                 "to again: the consumer was dropped and never told");
    rq_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_is_thread_safe_durable_rabbitmq_queue),
        cmocka_unit_test(test_create_refuses_bad_options_with_a_reason),
        cmocka_unit_test(test_health_reports_ok_when_connected),
        cmocka_unit_test(test_create_succeeds_with_broker_down_and_health_says_why),
        cmocka_unit_test(test_consume_returns_the_published_message),
        cmocka_unit_test(test_consume_delivers_in_fifo_order_up_to_max),
        cmocka_unit_test(test_publish_accepts_largest_message_and_refuses_larger),
        cmocka_unit_test(test_consume_refuses_zero_max_and_times_out_when_empty),
        cmocka_unit_test(test_ack_removes_the_message_exactly_once),
        cmocka_unit_test(test_ack_and_nack_refuse_unknown_tag),
        cmocka_unit_test(test_nack_requeue_redelivers_first_with_redelivered_flag),
        cmocka_unit_test(test_nack_requeue_of_several_keeps_their_publish_order),
        cmocka_unit_test(test_nack_without_requeue_drops_the_message),
        cmocka_unit_test(test_depth_counts_waiting_plus_unacked),
        cmocka_unit_test(
            test_concurrent_publishers_each_message_delivered_once_in_order),
        cmocka_unit_test(test_64_threads_sharing_the_confirm_window_all_land_once),
        cmocka_unit_test(test_confirmed_message_survives_a_broker_restart),
        cmocka_unit_test(test_publish_fails_fast_while_broker_down_then_recovers),
        cmocka_unit_test(test_a_deleted_queue_loses_no_publish_and_its_consumer_comes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
