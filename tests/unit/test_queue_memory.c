/*
 * test_queue_memory.c - the embedded queue plugin (queue_memory.so) against
 * the queue contract of fs_plugin.h: FIFO, bounded, ack/nack, timeouts, and
 * exactly-once in-order delivery under concurrent publishers.
 *
 * The config struct is built from the plugin's own options table, as the
 * core builds it, so these tests also check that table.
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

#include <cmocka.h>

#include "hang_bound.h"
#include "plugin_fixture.h"

#define PUBLISHERS 8
#define PER_PUBLISHER 5000

struct queue_test {
    struct plugin_fixture f;
    const struct fs_queue_ops *ops;
    void *config;
};

static const struct fs_option *find_option(const struct fs_plugin *p,
                                           const char *name)
{
    const struct fs_option *o;

    for (o = p->options; o->type != FS_OPT_END; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Opens the plugin and creates it with capacity `capacity` (0: the
 * option's declared default, as the core would apply it). */
static struct queue_test *queue_open(int64_t capacity)
{
    struct queue_test *t = calloc(1, sizeof(*t));
    const struct fs_option *cap;

    assert_non_null(t);
    fixture_open(&t->f, "queue_memory.so", FS_PLUGIN_QUEUE);
    cap = find_option(t->f.plugin, "capacity");
    assert_non_null(cap);
    assert_int_equal(cap->type, FS_OPT_INT);
    assert_true(cap->offset + sizeof(int64_t) <= t->f.plugin->config_size);
    t->config = calloc(1, t->f.plugin->config_size);
    assert_non_null(t->config);
    if (!capacity)
        capacity = strtoll(cap->default_value, NULL, 10);
    memcpy((char *)t->config + cap->offset, &capacity, sizeof(capacity));
    fixture_create(&t->f, t->config);
    t->ops = t->f.plugin->queue;
    return t;
}

static void queue_close(struct queue_test *t)
{
    fixture_close(&t->f);
    free(t->config);
    free(t);
}

static void publish_str(struct queue_test *t, const char *s)
{
    assert_int_equal(t->ops->publish(t->f.ctx, s, strlen(s)), FS_OK);
}

static uint64_t depth_of(struct queue_test *t)
{
    uint64_t d = 0;
    assert_int_equal(t->ops->depth(t->f.ctx, &d), FS_OK);
    return d;
}

#define monotonic_ms fs_test_now_ms

static void assert_body(const struct fs_delivery *d, const char *s)
{
    assert_int_equal(d->len, strlen(s));
    assert_memory_equal(d->body, s, d->len);
}

/* ---- descriptor and create ---------------------------------------------- */

static void test_descriptor_is_thread_safe_memory_queue_not_durable(void **state)
{
    struct plugin_fixture f;
    const struct fs_option *cap;
    (void)state;

    fixture_open(&f, "queue_memory.so", FS_PLUGIN_QUEUE);
    assert_string_equal(f.plugin->name, "memory");
    assert_int_equal(f.plugin->struct_size, sizeof(struct fs_plugin));
    assert_true(f.plugin->flags & FS_PLUGIN_THREAD_SAFE);
    assert_false(f.plugin->flags & FS_QUEUE_DURABLE);
    assert_non_null(f.plugin->queue);
    assert_null(f.plugin->inventory);
    assert_null(f.plugin->storage);
    cap = find_option(f.plugin, "capacity");
    assert_non_null(cap);
    assert_string_equal(cap->default_value, "1000000");
    fixture_close(&f);
}

static void test_create_refuses_capacity_below_one(void **state)
{
    struct plugin_fixture f;
    const struct fs_option *cap;
    char err[256] = "";
    void *config;
    int64_t zero = 0;
    (void)state;

    fixture_open(&f, "queue_memory.so", FS_PLUGIN_QUEUE);
    cap = find_option(f.plugin, "capacity");
    config = calloc(1, f.plugin->config_size);
    assert_non_null(config);
    memcpy((char *)config + cap->offset, &zero, sizeof(zero));
    assert_int_not_equal(
        f.plugin->create(&test_host, config, &f.ctx, err, sizeof(err)), 0);
    assert_null(f.ctx);
    assert_non_null(strstr(err, "capacity"));
    free(config);
    fixture_close(&f);
}

static void test_health_reports_ok(void **state)
{
    struct queue_test *t = queue_open(0);
    char detail[128] = "";
    (void)state;

    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_OK);
    queue_close(t);
}

/* ---- publish and consume ------------------------------------------------ */

static void test_consume_returns_a_copy_of_the_published_message(void **state)
{
    struct queue_test *t = queue_open(0);
    char body[] = "booking-1";
    struct fs_delivery d;
    size_t n = 99;
    (void)state;

    assert_int_equal(t->ops->publish(t->f.ctx, body, strlen(body)), FS_OK);
    memset(body, 'x', strlen(body));  /* the queue must not keep our buffer */
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_OK);
    assert_int_equal(n, 1);
    assert_body(&d, "booking-1");
    assert_int_equal(d.redelivered, 0);
    queue_close(t);
}

static void test_consume_delivers_in_fifo_order_up_to_max(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d[3];
    size_t n = 0;
    (void)state;

    publish_str(t, "a");
    publish_str(t, "b");
    publish_str(t, "c");
    publish_str(t, "d");
    assert_int_equal(t->ops->consume(t->f.ctx, d, 3, &n, 0), FS_OK);
    assert_int_equal(n, 3);
    assert_body(&d[0], "a");
    assert_body(&d[1], "b");
    assert_body(&d[2], "c");
    assert_int_equal(t->ops->consume(t->f.ctx, d, 3, &n, 0), FS_OK);
    assert_int_equal(n, 1);
    assert_body(&d[0], "d");
    queue_close(t);
}

static void test_consume_gives_distinct_tags(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d[2];
    size_t n = 0;
    (void)state;

    publish_str(t, "a");
    publish_str(t, "b");
    assert_int_equal(t->ops->consume(t->f.ctx, d, 2, &n, 0), FS_OK);
    assert_int_equal(n, 2);
    assert_int_not_equal(d[0].tag, d[1].tag);
    queue_close(t);
}

static void test_publish_accepts_largest_message_and_refuses_larger(void **state)
{
    struct queue_test *t = queue_open(0);
    static char big[FS_MESSAGE_MAX + 1];
    struct fs_delivery d;
    size_t n = 0;
    (void)state;

    memset(big, 'm', sizeof(big));
    assert_int_equal(t->ops->publish(t->f.ctx, big, FS_MESSAGE_MAX + 1),
                     FS_INVALID);
    assert_int_equal(depth_of(t), 0);
    assert_int_equal(t->ops->publish(t->f.ctx, big, FS_MESSAGE_MAX), FS_OK);
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_OK);
    assert_int_equal(d.len, FS_MESSAGE_MAX);
    assert_memory_equal(d.body, big, FS_MESSAGE_MAX);
    queue_close(t);
}

static void test_consume_refuses_zero_max(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d;
    size_t n = 5;
    (void)state;

    publish_str(t, "a");
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 0, &n, 0), FS_INVALID);
    assert_int_equal(n, 0);
    assert_int_equal(depth_of(t), 1);
    queue_close(t);
}

static void test_consume_times_out_within_bound_when_empty(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d;
    size_t n = 7;
    int64_t start, elapsed;
    (void)state;

    start = monotonic_ms();
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 100), FS_TIMEOUT);
    elapsed = monotonic_ms() - start;
    assert_int_equal(n, 0);
    assert_true(elapsed >= 95);    /* it did wait */
    assert_true(elapsed < fs_test_hang_bound_ms(10000));  /* and came back */
    queue_close(t);
}

static void test_consume_with_zero_timeout_does_not_wait(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d;
    size_t n = 7;
    int64_t start;
    (void)state;

    start = monotonic_ms();
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_TIMEOUT);
    assert_int_equal(n, 0);
    assert_true(monotonic_ms() - start < fs_test_hang_bound_ms(10000));
    queue_close(t);
}

/* cmocka's asserts must stay on the main thread: helpers record results. */
struct late_publisher {
    struct queue_test *t;
    pthread_barrier_t *go;
    enum fs_status st;
};

static void *publish_after_barrier(void *arg)
{
    struct late_publisher *lp = arg;

    pthread_barrier_wait(lp->go);
    lp->st = lp->t->ops->publish(lp->t->f.ctx, "late", 4);
    return NULL;
}

static void test_consume_wakes_when_a_message_arrives(void **state)
{
    struct queue_test *t = queue_open(0);
    pthread_barrier_t go;
    struct late_publisher lp = {t, &go, FS_ERROR};
    struct fs_delivery d;
    pthread_t th;
    size_t n = 0;
    int64_t start;
    (void)state;

    pthread_barrier_init(&go, NULL, 2);
    assert_int_equal(pthread_create(&th, NULL, publish_after_barrier, &lp), 0);
    pthread_barrier_wait(&go);
    start = monotonic_ms();
    /* Twice the hang bound: returning within it, long before the timeout,
     * proves the wake. */
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 4, &n,
                                     (int)fs_test_hang_bound_ms(60000)),
                     FS_OK);
    assert_true(monotonic_ms() - start < fs_test_hang_bound_ms(30000));
    assert_int_equal(n, 1);
    assert_body(&d, "late");
    pthread_join(th, NULL);
    assert_int_equal(lp.st, FS_OK);
    pthread_barrier_destroy(&go);
    queue_close(t);
}

/* ---- capacity and depth ------------------------------------------------- */

static void test_publish_answers_unavailable_when_full(void **state)
{
    struct queue_test *t = queue_open(3);
    (void)state;

    publish_str(t, "1");
    publish_str(t, "2");
    publish_str(t, "3");
    assert_int_equal(t->ops->publish(t->f.ctx, "4", 1), FS_UNAVAILABLE);
    assert_int_equal(depth_of(t), 3);
    queue_close(t);
}

static void test_unacked_messages_count_against_capacity_until_ack(void **state)
{
    struct queue_test *t = queue_open(2);
    struct fs_delivery d[2];
    size_t n = 0;
    (void)state;

    publish_str(t, "1");
    publish_str(t, "2");
    assert_int_equal(t->ops->consume(t->f.ctx, d, 2, &n, 0), FS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(t->ops->publish(t->f.ctx, "3", 1), FS_UNAVAILABLE);
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    assert_int_equal(t->ops->publish(t->f.ctx, "3", 1), FS_OK);
    assert_int_equal(t->ops->publish(t->f.ctx, "4", 1), FS_UNAVAILABLE);
    queue_close(t);
}

static void test_depth_counts_waiting_plus_unacked(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d[2];
    size_t n = 0;
    (void)state;

    assert_int_equal(depth_of(t), 0);
    publish_str(t, "1");
    publish_str(t, "2");
    publish_str(t, "3");
    assert_int_equal(depth_of(t), 3);
    assert_int_equal(t->ops->consume(t->f.ctx, d, 2, &n, 0), FS_OK);
    assert_int_equal(depth_of(t), 3);
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    assert_int_equal(depth_of(t), 2);
    assert_int_equal(t->ops->nack(t->f.ctx, d[1].tag, 0), FS_OK);
    assert_int_equal(depth_of(t), 1);
    queue_close(t);
}

/* ---- ack and nack ------------------------------------------------------- */

static void test_ack_removes_the_message_exactly_once(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d;
    size_t n = 0;
    (void)state;

    publish_str(t, "a");
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_NOT_FOUND);
    assert_int_equal(t->ops->nack(t->f.ctx, d.tag, 1), FS_NOT_FOUND);
    assert_int_equal(depth_of(t), 0);
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_TIMEOUT);
    queue_close(t);
}

static void test_ack_and_nack_refuse_unknown_tag(void **state)
{
    struct queue_test *t = queue_open(0);
    (void)state;

    publish_str(t, "a");  /* waiting, not delivered: its tag is not ackable */
    assert_int_equal(t->ops->ack(t->f.ctx, 1), FS_NOT_FOUND);
    assert_int_equal(t->ops->ack(t->f.ctx, 12345), FS_NOT_FOUND);
    assert_int_equal(t->ops->nack(t->f.ctx, 12345, 1), FS_NOT_FOUND);
    assert_int_equal(depth_of(t), 1);
    queue_close(t);
}

static void test_nack_requeue_redelivers_first_with_redelivered_flag(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d, again;
    size_t n = 0;
    (void)state;

    publish_str(t, "first");
    publish_str(t, "second");
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_OK);
    assert_body(&d, "first");
    publish_str(t, "third");
    assert_int_equal(t->ops->nack(t->f.ctx, d.tag, 1), FS_OK);
    assert_int_equal(depth_of(t), 3);
    assert_int_equal(t->ops->consume(t->f.ctx, &again, 1, &n, 0), FS_OK);
    assert_body(&again, "first");
    assert_int_equal(again.redelivered, 1);
    assert_int_equal(t->ops->consume(t->f.ctx, &again, 1, &n, 0), FS_OK);
    assert_body(&again, "second");
    assert_int_equal(again.redelivered, 0);
    queue_close(t);
}

static void test_nack_requeue_of_several_keeps_their_publish_order(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d[3], again[4];
    size_t n = 0;
    (void)state;

    publish_str(t, "a");
    publish_str(t, "b");
    publish_str(t, "c");
    publish_str(t, "d");
    assert_int_equal(t->ops->consume(t->f.ctx, d, 3, &n, 0), FS_OK);
    assert_int_equal(n, 3);
    /* Nacked in reverse: the queue must still hand them out a, b, c. */
    assert_int_equal(t->ops->nack(t->f.ctx, d[2].tag, 1), FS_OK);
    assert_int_equal(t->ops->nack(t->f.ctx, d[0].tag, 1), FS_OK);
    assert_int_equal(t->ops->nack(t->f.ctx, d[1].tag, 1), FS_OK);
    assert_int_equal(t->ops->consume(t->f.ctx, again, 4, &n, 0), FS_OK);
    assert_int_equal(n, 4);
    assert_body(&again[0], "a");
    assert_body(&again[1], "b");
    assert_body(&again[2], "c");
    assert_body(&again[3], "d");
    assert_int_equal(again[2].redelivered, 1);
    assert_int_equal(again[3].redelivered, 0);
    queue_close(t);
}

static void test_nack_without_requeue_drops_the_message(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d;
    size_t n = 0;
    (void)state;

    publish_str(t, "poison");
    publish_str(t, "next");
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_OK);
    assert_int_equal(t->ops->nack(t->f.ctx, d.tag, 0), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_NOT_FOUND);
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_OK);
    assert_body(&d, "next");
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_TIMEOUT);
    queue_close(t);
}

static void test_destroy_frees_waiting_and_unacked_messages(void **state)
{
    struct queue_test *t = queue_open(0);
    struct fs_delivery d;
    size_t n = 0;
    (void)state;

    publish_str(t, "unacked");
    publish_str(t, "waiting");
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 0), FS_OK);
    assert_int_equal(depth_of(t), 2);
    queue_close(t);  /* LeakSanitizer fails the run if anything is left */
}

/* ---- concurrency -------------------------------------------------------- */

struct wire {
    uint32_t publisher;
    uint32_t seq;
};

struct publisher_arg {
    struct queue_test *t;
    pthread_barrier_t *go;
    uint32_t id;
    int failures;
};

static void *publisher_main(void *arg)
{
    struct publisher_arg *pa = arg;
    struct wire w = {pa->id, 0};

    pthread_barrier_wait(pa->go);
    for (w.seq = 0; w.seq < PER_PUBLISHER; w.seq++)
        if (pa->t->ops->publish(pa->t->f.ctx, &w, sizeof(w)) != FS_OK)
            pa->failures++;
    return NULL;
}

/* Returns the number of messages out of order or duplicated. */
static int consume_batch(struct queue_test *t, uint32_t *next, size_t *total)
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
    struct queue_test *t = queue_open(0);
    struct publisher_arg pa[PUBLISHERS];
    pthread_t th[PUBLISHERS];
    pthread_barrier_t go;
    uint32_t next[PUBLISHERS] = {0};
    size_t total = 0, expected = (size_t)PUBLISHERS * PER_PUBLISHER;
    int64_t give_up = monotonic_ms() + 60000;
    int bad = 0, i;
    (void)state;

    pthread_barrier_init(&go, NULL, PUBLISHERS + 1);
    for (i = 0; i < PUBLISHERS; i++) {
        pa[i] = (struct publisher_arg){t, &go, (uint32_t)i, 0};
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
    assert_int_equal(depth_of(t), 0);
    pthread_barrier_destroy(&go);
    queue_close(t);
}

struct filler_arg {
    struct queue_test *t;
    pthread_barrier_t *go;
    int accepted, refused, other;
};

static void *filler_main(void *arg)
{
    struct filler_arg *fa = arg;
    enum fs_status st;
    int i;

    pthread_barrier_wait(fa->go);
    for (i = 0; i < 100; i++) {
        st = fa->t->ops->publish(fa->t->f.ctx, "x", 1);
        if (st == FS_OK)
            fa->accepted++;
        else if (st == FS_UNAVAILABLE)
            fa->refused++;
        else
            fa->other++;
    }
    return NULL;
}

static void test_concurrent_publishers_never_exceed_capacity(void **state)
{
    struct queue_test *t = queue_open(150);
    struct filler_arg fa[PUBLISHERS];
    pthread_t th[PUBLISHERS];
    pthread_barrier_t go;
    int accepted = 0, refused = 0, i;
    (void)state;

    pthread_barrier_init(&go, NULL, PUBLISHERS);
    for (i = 0; i < PUBLISHERS; i++) {
        fa[i] = (struct filler_arg){t, &go, 0, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, filler_main, &fa[i]), 0);
    }
    for (i = 0; i < PUBLISHERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(fa[i].other, 0);
        accepted += fa[i].accepted;
        refused += fa[i].refused;
    }
    assert_int_equal(accepted, 150);
    assert_int_equal(refused, PUBLISHERS * 100 - 150);
    assert_int_equal(depth_of(t), 150);
    pthread_barrier_destroy(&go);
    queue_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_is_thread_safe_memory_queue_not_durable),
        cmocka_unit_test(test_create_refuses_capacity_below_one),
        cmocka_unit_test(test_health_reports_ok),
        cmocka_unit_test(test_consume_returns_a_copy_of_the_published_message),
        cmocka_unit_test(test_consume_delivers_in_fifo_order_up_to_max),
        cmocka_unit_test(test_consume_gives_distinct_tags),
        cmocka_unit_test(test_publish_accepts_largest_message_and_refuses_larger),
        cmocka_unit_test(test_consume_refuses_zero_max),
        cmocka_unit_test(test_consume_times_out_within_bound_when_empty),
        cmocka_unit_test(test_consume_with_zero_timeout_does_not_wait),
        cmocka_unit_test(test_consume_wakes_when_a_message_arrives),
        cmocka_unit_test(test_publish_answers_unavailable_when_full),
        cmocka_unit_test(test_unacked_messages_count_against_capacity_until_ack),
        cmocka_unit_test(test_depth_counts_waiting_plus_unacked),
        cmocka_unit_test(test_ack_removes_the_message_exactly_once),
        cmocka_unit_test(test_ack_and_nack_refuse_unknown_tag),
        cmocka_unit_test(test_nack_requeue_redelivers_first_with_redelivered_flag),
        cmocka_unit_test(test_nack_requeue_of_several_keeps_their_publish_order),
        cmocka_unit_test(test_nack_without_requeue_drops_the_message),
        cmocka_unit_test(test_destroy_frees_waiting_and_unacked_messages),
        cmocka_unit_test(
            test_concurrent_publishers_each_message_delivered_once_in_order),
        cmocka_unit_test(test_concurrent_publishers_never_exceed_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
