/*
 * test_queue_journal.c - the embedded durable queue (queue_journal.so): the
 * queue contract it shares with the memory queue (FIFO, tags, ack/nack,
 * capacity, concurrent publishers), and what the journal adds: messages not
 * let go come back after a restart, in publish order, also when the process
 * died without closing (its segment files copied while open), a record cut
 * short ends the reading there, processed segments are deleted, and one
 * process at a time holds a folder.
 *
 * As in test_queue_memory.c the config struct is built from the plugin's own
 * options table (plugin_fixture.c), as the core builds it. Each test gets a
 * fresh folder from mkdtemp(3) as `path`; the teardown destroys what is
 * still open and removes every folder the test made, also after a failure.
 */
#include <ftw.h>
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hang_bound.h"
#include "plugin_fixture.h"

#define JOURNAL_SO "queue_journal.so"
#define MIN_SEGMENT "65536"
/* How many 'A' records the journal may hold back from the file. */
#define ACK_BUFFER 256

struct jt {
    struct plugin_fixture f;
    const struct fs_queue_ops *ops;
    void *config;        /* path = dir */
    char dir[64];        /* the queue's folder: mkdtemp */
    char copy[64];       /* a second folder (the crash copy), or "" */
    void *other;         /* a second instance (on copy), or NULL */
    void *other_config;  /* its config, or NULL */
};

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    struct jt *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/fs-journal-test.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    fixture_open(&t->f, JOURNAL_SO, FS_PLUGIN_QUEUE);
    t->ops = t->f.plugin->queue;
    t->config = fixture_config_defaults(t->f.plugin);
    fixture_option_set(t->f.plugin, t->config, "path", t->dir);
    *state = t;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int teardown(void **state)
{
    struct jt *t = *state;

    if (!t)
        return 0;
    if (t->other)
        t->f.plugin->destroy(t->other);
    fixture_close(&t->f);  /* destroys t->f.ctx if still open */
    rm_rf(t->dir);
    rm_rf(t->copy);
    free(t->other_config);
    free(t->config);
    free(t);
    return 0;
}

static void jt_set(struct jt *t, const char *name, const char *value)
{
    fixture_option_set(t->f.plugin, t->config, name, value);
}

static void jt_create(struct jt *t)
{
    fixture_create(&t->f, t->config);
    assert_non_null(t->f.ctx);
}

/* A clean stop. */
static void jt_destroy(struct jt *t)
{
    t->f.plugin->destroy(t->f.ctx);
    t->f.ctx = NULL;
}

/* destroy(), then create() on the same folder: a clean restart. */
static void jt_restart(struct jt *t)
{
    jt_destroy(t);
    jt_create(t);
}

static void publish_on(const struct jt *t, void *ctx, const char *s)
{
    assert_int_equal(t->ops->publish(ctx, s, strlen(s)), FS_OK);
}

static void publish_str(const struct jt *t, const char *s)
{
    publish_on(t, t->f.ctx, s);
}

/* Every message waiting now (up to max), without waiting: whatever a
 * restart read back is in the FIFO when create() returns. */
static size_t take_all_on(const struct jt *t, void *ctx,
                          struct fs_delivery *out, size_t max)
{
    size_t got = 0, n = 0;
    enum fs_status st;

    while (got < max) {
        st = t->ops->consume(ctx, out + got, max - got, &n, 0);
        if (st == FS_TIMEOUT)
            break;
        assert_int_equal(st, FS_OK);
        assert_true(n >= 1 && n <= max - got);
        got += n;
    }
    return got;
}

static size_t take_all(const struct jt *t, struct fs_delivery *out,
                       size_t max)
{
    return take_all_on(t, t->f.ctx, out, max);
}

static uint64_t depth_of(const struct jt *t)
{
    uint64_t d = 12345;

    assert_int_equal(t->ops->depth(t->f.ctx, &d), FS_OK);
    return d;
}

static void assert_body(const struct fs_delivery *d, const char *s)
{
    assert_int_equal(d->len, strlen(s));
    assert_memory_equal(d->body, s, d->len);
}

static int is_segment(const char *name)
{
    size_t n = strlen(name);

    return n > 4 && strcmp(name + n - 4, ".seg") == 0;
}

static int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += is_segment(e->d_name);
    closedir(d);
    return n;
}

/* The newest segment (names are fixed-width hex sequence numbers). */
static void last_segment(const char *dir, char *out, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[256] = "";

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (is_segment(e->d_name) && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", e->d_name);
    closedir(d);
    assert_true(best[0] != '\0');
    snprintf(out, size, "%s/%s", dir, best);
}

/* The process-kill case: what write() put in the OS cache is what the next
 * process reads. Copying *.seg while the queue is open stands for that. */
static void copy_segments(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;
    char src[512], dst[512], buf[8192];
    int copied = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        FILE *in, *out;
        size_t n;

        if (!is_segment(e->d_name))
            continue;
        snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
        in = fopen(src, "rb");
        assert_non_null(in);
        out = fopen(dst, "wb");
        assert_non_null(out);
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
        assert_int_equal(fclose(out), 0);
        copied++;
    }
    closedir(d);
    assert_true(copied > 0);
}

/* A ~200-byte body that names its index and can be checked whole. */
#define BIG_BODY 200
static size_t big_body(char *out, int i)
{
    int n = snprintf(out, BIG_BODY + 1, "%06d:", i);

    for (int k = n; k < BIG_BODY; k++)
        out[k] = (char)('a' + (i + k) % 26);
    out[BIG_BODY] = '\0';
    return BIG_BODY;
}

/* The index a big_body() delivery names, or -1 if it is not one exactly. */
static int big_index(const struct fs_delivery *d, int n)
{
    char want[BIG_BODY + 1], text[8] = "";
    int i;

    if (d->len != BIG_BODY)
        return -1;
    memcpy(text, d->body, 6);
    i = atoi(text);
    if (i < 0 || i >= n)
        return -1;
    big_body(want, i);
    return memcmp(want, d->body, BIG_BODY) == 0 ? i : -1;
}

/* ---- 1. the descriptor and its options ---------------------------------- */

static void expect_option(const struct fs_plugin *p, const char *name,
                          enum fs_option_type type, const char *def)
{
    const struct fs_option *o = fixture_option(p, name);
    size_t size = type == FS_OPT_INT ? sizeof(int64_t) : sizeof(char *);

    assert_int_equal(o->type, type);
    assert_non_null(o->default_value);
    assert_string_equal(o->default_value, def);
    assert_true(o->offset + size <= p->config_size);
    assert_non_null(o->description);
    assert_true(o->description[0] != '\0');
}

static void test_descriptor_is_a_thread_safe_durable_local_queue(void **state)
{
    struct jt *t = *state;
    const struct fs_plugin *p = t->f.plugin;
    const char *data_dir = getenv("FS_DATA_DIR");
    const struct fs_option *path;
    const char *bad = "x";
    char err[256] = "", want[512];
    void *defaults;

    assert_int_equal(p->kind, FS_PLUGIN_QUEUE);
    assert_string_equal(p->name, "journal");
    assert_int_equal(p->struct_size, sizeof(struct fs_plugin));
    assert_true(p->flags & FS_PLUGIN_THREAD_SAFE);
    assert_true(p->flags & FS_QUEUE_DURABLE);
    assert_true(p->flags & FS_QUEUE_LOCAL);
    assert_non_null(p->create);
    assert_non_null(p->destroy);
    assert_non_null(p->health);
    assert_non_null(p->validate);
    assert_non_null(p->queue);
    assert_non_null(p->queue->publish);
    assert_non_null(p->queue->consume);
    assert_non_null(p->queue->ack);
    assert_non_null(p->queue->nack);
    assert_non_null(p->queue->depth);
    assert_null(p->inventory);
    assert_null(p->storage);

    path = fixture_option(p, "path");
    assert_int_equal(path->type, FS_OPT_PATH);
    assert_non_null(path->default_value);
    assert_true(path->default_value[0] == '/');
    if (data_dir) {  /* make check exports configure's data folder */
        snprintf(want, sizeof(want), "%s/queue", data_dir);
        assert_string_equal(path->default_value, want);
    } else {
        size_t n = strlen(path->default_value);
        assert_true(n > 6);
        assert_string_equal(path->default_value + n - 6, "/queue");
    }
    assert_true(path->offset + sizeof(char *) <= p->config_size);
    expect_option(p, "sync", FS_OPT_STRING, "interval");
    expect_option(p, "sync_interval_ms", FS_OPT_INT, "100");
    expect_option(p, "segment_bytes", FS_OPT_INT, "67108864");
    expect_option(p, "capacity", FS_OPT_INT, "1000000");

    /* The defaults alone are a good config. */
    defaults = fixture_config_defaults(p);
    assert_int_equal(p->validate(defaults, &bad, err, sizeof(err)), 0);
    assert_null(bad);
    free(defaults);
}

/* ---- 2. validate() ------------------------------------------------------ */

static void expect_refused(struct jt *t, const char *key, const char *value)
{
    const struct fs_plugin *p = t->f.plugin;
    void *config = fixture_config_defaults(p);
    const char *bad = NULL;
    char err[256] = "";
    void *ctx = NULL;

    fixture_option_set(p, config, "path", t->dir);
    fixture_option_set(p, config, key, value);
    assert_int_not_equal(p->validate(config, &bad, err, sizeof(err)), 0);
    assert_non_null(bad);
    assert_string_equal(bad, key);
    assert_non_null(strstr(err, key));
    /* create() refuses it the same way. */
    err[0] = '\0';
    assert_int_not_equal(p->create(&test_host, config, &ctx, err, sizeof(err)),
                         0);
    assert_null(ctx);
    assert_non_null(strstr(err, key));
    free(config);
}

static void expect_accepted(struct jt *t, const char *key, const char *value)
{
    const struct fs_plugin *p = t->f.plugin;
    void *config = fixture_config_defaults(p);
    const char *bad = "x";
    char err[256] = "";

    fixture_option_set(p, config, "path", t->dir);
    fixture_option_set(p, config, key, value);
    if (p->validate(config, &bad, err, sizeof(err)) != 0)
        fail_msg("%s: %s refused: %s", key, value, err);
    assert_null(bad);
    free(config);
}

static void test_validate_refuses_bad_values_naming_the_key(void **state)
{
    struct jt *t = *state;

    expect_refused(t, "sync", "sometimes");
    expect_refused(t, "sync_interval_ms", "0");
    expect_refused(t, "sync_interval_ms", "60001");
    expect_refused(t, "segment_bytes", "65535");
    expect_refused(t, "segment_bytes", "1024");
    expect_refused(t, "capacity", "0");
    expect_refused(t, "capacity", "-1");
    /* The edges of each range are good. */
    expect_accepted(t, "sync", "full");
    expect_accepted(t, "sync", "interval");
    expect_accepted(t, "sync_interval_ms", "1");
    expect_accepted(t, "sync_interval_ms", "60000");
    expect_accepted(t, "segment_bytes", MIN_SEGMENT);
    expect_accepted(t, "capacity", "1");
}

/* ---- 3. the queue contract ---------------------------------------------- */

static void test_fifo_ack_and_nack(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[4], again;
    size_t n = 0;

    jt_create(t);
    publish_str(t, "one");
    publish_str(t, "two");
    publish_str(t, "three");
    assert_int_equal(depth_of(t), 3);
    assert_int_equal(take_all(t, d, 4), 3);
    assert_body(&d[0], "one");
    assert_body(&d[1], "two");
    assert_body(&d[2], "three");
    assert_true(d[0].tag != d[1].tag && d[1].tag != d[2].tag &&
                d[0].tag != d[2].tag);
    for (int i = 0; i < 3; i++)
        assert_int_equal(d[i].redelivered, 0);
    assert_int_equal(depth_of(t), 3);  /* unacked still count */

    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_NOT_FOUND);
    assert_int_equal(t->ops->ack(t->f.ctx, 987654321), FS_NOT_FOUND);
    assert_int_equal(t->ops->nack(t->f.ctx, 987654321, 1), FS_NOT_FOUND);
    assert_int_equal(depth_of(t), 2);

    /* Requeued: handed out again, marked, ahead of anything newer. */
    publish_str(t, "four");
    assert_int_equal(t->ops->nack(t->f.ctx, d[1].tag, 1), FS_OK);
    assert_int_equal(t->ops->consume(t->f.ctx, &again, 1, &n, 0), FS_OK);
    assert_int_equal(n, 1);
    assert_body(&again, "two");
    assert_int_equal(again.redelivered, 1);
    assert_int_equal(t->ops->ack(t->f.ctx, again.tag), FS_OK);

    /* Dropped: gone. */
    assert_int_equal(t->ops->nack(t->f.ctx, d[2].tag, 0), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d[2].tag), FS_NOT_FOUND);
    assert_int_equal(t->ops->consume(t->f.ctx, &again, 1, &n, 0), FS_OK);
    assert_body(&again, "four");
    assert_int_equal(again.redelivered, 0);
    assert_int_equal(t->ops->ack(t->f.ctx, again.tag), FS_OK);
    assert_int_equal(t->ops->consume(t->f.ctx, &again, 1, &n, 0), FS_TIMEOUT);
    assert_int_equal(n, 0);
    assert_int_equal(depth_of(t), 0);
}

static void test_largest_and_empty_messages_round_trip_a_restart(void **state)
{
    struct jt *t = *state;
    static char big[FS_MESSAGE_MAX + 1];
    struct fs_delivery d[4];

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);  /* binary, with zero bytes */
    jt_create(t);
    assert_int_equal(t->ops->publish(t->f.ctx, big, FS_MESSAGE_MAX + 1),
                     FS_INVALID);
    assert_int_equal(t->ops->publish(t->f.ctx, big, FS_MESSAGE_MAX), FS_OK);
    assert_int_equal(t->ops->publish(t->f.ctx, "", 0), FS_OK);
    jt_restart(t);
    assert_int_equal(take_all(t, d, 4), 2);
    assert_int_equal(d[0].len, FS_MESSAGE_MAX);
    assert_memory_equal(d[0].body, big, FS_MESSAGE_MAX);
    assert_int_equal(d[1].len, 0);
}

/* ---- 4. a clean restart ------------------------------------------------- */

static void test_unacked_messages_come_back_after_a_restart(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[16];
    uint64_t before = 0, after_tag;
    char body[16];

    jt_create(t);
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof(body), "m%d", i);
        publish_str(t, body);
    }
    assert_int_equal(take_all(t, d, 16), 10);
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof(body), "m%d", i);
        assert_body(&d[i], body);
        if (d[i].tag > before)
            before = d[i].tag;
        if (i % 2 == 0)
            assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    }

    jt_restart(t);
    assert_int_equal(depth_of(t), 5);
    assert_int_equal(take_all(t, d, 16), 5);
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof(body), "m%d", 2 * i + 1);
        assert_body(&d[i], body);
        assert_int_equal(d[i].redelivered, 1);
        for (int k = 0; k < i; k++)
            assert_true(d[k].tag != d[i].tag);
    }
    /* A new message never meets an old tag. */
    publish_str(t, "after");
    assert_int_equal(take_all(t, &d[5], 1), 1);
    assert_body(&d[5], "after");
    assert_int_equal(d[5].redelivered, 0);
    assert_true(d[5].tag > before);
    after_tag = d[5].tag;

    /* Nothing acked this time: all six survive a second restart, in order. */
    jt_restart(t);
    assert_int_equal(take_all(t, d, 16), 6);
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof(body), "m%d", 2 * i + 1);
        assert_body(&d[i], body);
    }
    assert_body(&d[5], "after");
    publish_str(t, "later");
    assert_int_equal(take_all(t, &d[6], 1), 1);
    assert_true(d[6].tag > after_tag);
}

/* The newest message acked too: nothing read back carries the largest tag,
 * the journal's records still do. */
static void test_tags_after_a_restart_pass_every_acked_one(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[4];
    uint64_t before = 0;

    jt_create(t);
    publish_str(t, "a");
    publish_str(t, "b");
    publish_str(t, "c");
    assert_int_equal(take_all(t, d, 4), 3);
    for (int i = 0; i < 3; i++) {
        if (d[i].tag > before)
            before = d[i].tag;
        assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    }
    jt_restart(t);
    assert_int_equal(take_all(t, d, 4), 0);
    publish_str(t, "new");
    assert_int_equal(take_all(t, d, 4), 1);
    assert_body(&d[0], "new");
    assert_true(d[0].tag > before);
}

static void test_requeued_come_back_and_dropped_do_not(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[4];

    jt_create(t);
    publish_str(t, "requeued");
    publish_str(t, "dropped");
    publish_str(t, "held");
    assert_int_equal(take_all(t, d, 4), 3);
    assert_int_equal(t->ops->nack(t->f.ctx, d[0].tag, 1), FS_OK);
    assert_int_equal(t->ops->nack(t->f.ctx, d[1].tag, 0), FS_OK);
    jt_restart(t);
    assert_int_equal(take_all(t, d, 4), 2);
    assert_body(&d[0], "requeued");
    assert_body(&d[1], "held");
    assert_int_equal(d[0].redelivered, 1);
    assert_int_equal(d[1].redelivered, 1);
}

/* ---- 5. a process that died with the queue open ------------------------- */

static void test_a_process_that_died_open_loses_no_unacked_message(void **state)
{
    enum { N = 1500, ALL_ACKED = 400 };
    struct jt *t = *state;
    struct fs_delivery *d = calloc(N + 1, sizeof(*d));
    static int acked[N], seen[N];
    char body[BIG_BODY + 1];
    uint64_t before = 0;
    size_t got;
    int acks = 0, last = -1;

    assert_non_null(d);
    memset(acked, 0, sizeof(acked));
    memset(seen, 0, sizeof(seen));
    jt_set(t, "segment_bytes", MIN_SEGMENT);
    jt_create(t);
    for (int i = 0; i < N; i++)  /* ~325 KB: five or six segments */
        assert_int_equal(t->ops->publish(t->f.ctx, body, big_body(body, i)),
                         FS_OK);
    assert_true(count_segments(t->dir) >= 3);
    assert_int_equal(take_all(t, d, N), N);
    /* The first segments whole (so they are deleted), then every third. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(big_index(&d[i], N), i);
        if (d[i].tag > before)
            before = d[i].tag;
        if (i < ALL_ACKED || i % 3 == 0) {
            assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
            acked[i] = 1;
            acks++;
        }
    }
    assert_true(acks % ACK_BUFFER != 0);  /* some 'A' records held back */

    snprintf(t->copy, sizeof(t->copy), "/tmp/fs-journal-copy.XXXXXX");
    assert_non_null(mkdtemp(t->copy));
    copy_segments(t->dir, t->copy);
    t->other_config = fixture_config_defaults(t->f.plugin);
    fixture_option_set(t->f.plugin, t->other_config, "path", t->copy);
    fixture_option_set(t->f.plugin, t->other_config, "segment_bytes",
                       MIN_SEGMENT);
    t->other = fixture_create_another(&t->f, t->other_config);

    got = take_all_on(t, t->other, d, N + 1);
    for (size_t k = 0; k < got; k++) {
        int i = big_index(&d[k], N);

        if (i < 0)
            fail_msg("delivery %zu (%zu bytes) is no message published", k,
                     d[k].len);
        if (seen[i])
            fail_msg("message %d came back twice", i);
        seen[i] = 1;
        if (i <= last)
            fail_msg("message %d came back after message %d", i, last);
        last = i;
        assert_int_equal(d[k].redelivered, 1);
    }
    for (int i = 0; i < N; i++)
        if (!acked[i] && !seen[i])
            fail_msg("message %d was never acked and did not come back", i);
    /* At most the held-back acks come back a second time. */
    assert_true(got <= (size_t)(N - acks) + ACK_BUFFER);

    /* New tags after the crash do not meet any tag of the dead process. */
    publish_on(t, t->other, "after-crash");
    assert_int_equal(take_all_on(t, t->other, d, 1), 1);
    assert_body(&d[0], "after-crash");
    assert_true(d[0].tag > before);
    free(d);
}

/* ---- 6. a torn tail ----------------------------------------------------- */

static void append_bytes(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "ab");

    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_garbage_after_the_last_record_is_ignored(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[8];
    char seg[512];

    jt_create(t);
    publish_str(t, "kept-1");
    publish_str(t, "kept-2");
    publish_str(t, "kept-3");
    jt_destroy(t);
    last_segment(t->dir, seg, sizeof(seg));
    append_bytes(seg, "0123456789", 10);
    jt_create(t);
    assert_int_equal(take_all(t, d, 8), 3);
    assert_body(&d[0], "kept-1");
    assert_body(&d[1], "kept-2");
    assert_body(&d[2], "kept-3");
    /* What is written next is not lost behind the garbage. */
    publish_str(t, "after");
    jt_restart(t);
    assert_int_equal(take_all(t, d, 8), 4);
    assert_body(&d[0], "kept-1");
    assert_body(&d[2], "kept-3");
    assert_body(&d[3], "after");
}

static void test_a_record_cut_short_is_dropped_and_the_rest_kept(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[8];
    char seg[512];
    struct stat st;

    jt_create(t);
    publish_str(t, "kept-1");
    publish_str(t, "kept-2");
    publish_str(t, "cut-3");  /* the last record of the last segment */
    jt_destroy(t);
    last_segment(t->dir, seg, sizeof(seg));
    assert_int_equal(stat(seg, &st), 0);
    assert_true(st.st_size > 3);
    assert_int_equal(truncate(seg, st.st_size - 3), 0);  /* a torn write */
    jt_create(t);
    assert_int_equal(take_all(t, d, 8), 2);
    assert_body(&d[0], "kept-1");
    assert_body(&d[1], "kept-2");
    /* The cut one stays gone; what comes next is read back. */
    publish_str(t, "after");
    jt_restart(t);
    assert_int_equal(take_all(t, d, 8), 3);
    assert_body(&d[0], "kept-1");
    assert_body(&d[1], "kept-2");
    assert_body(&d[2], "after");
}

/* A torn write may leave the right length with the wrong bytes: the CRC
 * catches it, and the damaged record is not handed out. */
static void test_a_damaged_last_record_is_dropped(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[8];
    char seg[512];
    struct stat st;
    FILE *f;
    int c;

    jt_create(t);
    publish_str(t, "kept-1");
    publish_str(t, "kept-2");
    publish_str(t, "damaged");
    jt_destroy(t);
    last_segment(t->dir, seg, sizeof(seg));
    assert_int_equal(stat(seg, &st), 0);
    f = fopen(seg, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)st.st_size - 1, SEEK_SET), 0);
    c = fgetc(f);
    assert_int_equal(c, 'd');  /* the last byte of the last record */
    assert_int_equal(fseek(f, (long)st.st_size - 1, SEEK_SET), 0);
    assert_int_equal(fputc('X', f), 'X');
    assert_int_equal(fclose(f), 0);
    jt_create(t);
    assert_int_equal(take_all(t, d, 8), 2);
    assert_body(&d[0], "kept-1");
    assert_body(&d[1], "kept-2");
}

/* ---- 7. rotation and deletion ------------------------------------------- */

static void test_processed_segments_are_deleted(void **state)
{
    enum { N = 1200 };
    struct jt *t = *state;
    struct fs_delivery *d = calloc(N, sizeof(*d));
    char body[BIG_BODY + 1];

    assert_non_null(d);
    jt_set(t, "segment_bytes", MIN_SEGMENT);
    jt_create(t);
    for (int i = 0; i < N; i++)  /* ~260 KB in 64 KB segments */
        assert_int_equal(t->ops->publish(t->f.ctx, body, big_body(body, i)),
                         FS_OK);
    assert_true(count_segments(t->dir) >= 3);
    assert_int_equal(take_all(t, d, N), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(big_index(&d[i], N), i);
        assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    }
    publish_str(t, "one more");
    assert_int_equal(take_all(t, d, 1), 1);
    assert_body(&d[0], "one more");
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    assert_true(count_segments(t->dir) <= 2);
    assert_int_equal(depth_of(t), 0);

    jt_restart(t);
    assert_int_equal(take_all(t, d, N), 0);
    assert_int_equal(depth_of(t), 0);
    assert_true(count_segments(t->dir) <= 2);
    free(d);
}

/* ---- random operations against a model ---------------------------------- */

enum { M_NONE = 0, M_WAITING, M_UNACKED, M_LET_GO, M_GONE };

#define MODEL_MAX 12000
#define MODEL_BODY 150

struct model {
    unsigned char state[MODEL_MAX];
    uint64_t tag[MODEL_MAX];  /* while unacked */
    int published;
    uint32_t rng;
};

static uint32_t model_rand(struct model *m, uint32_t below)
{
    m->rng = m->rng * 1103515245u + 12345u;
    return (m->rng >> 8) % below;
}

static size_t model_body(char *out, int i)
{
    int n = snprintf(out, MODEL_BODY + 1, "r%06d", i);

    memset(out + n, '.', (size_t)(MODEL_BODY - n));
    out[MODEL_BODY] = '\0';
    return MODEL_BODY;
}

static int model_index(const struct model *m, const struct fs_delivery *d)
{
    char want[MODEL_BODY + 1], text[8] = "";
    int i;

    if (d->len != MODEL_BODY || d->body[0] != 'r')
        return -1;
    memcpy(text, d->body + 1, 6);
    i = atoi(text);
    if (i < 0 || i >= m->published)
        return -1;
    model_body(want, i);
    return memcmp(want, d->body, MODEL_BODY) == 0 ? i : -1;
}

/* The smallest index still waiting: the next the FIFO must hand out. */
static int model_head(const struct model *m)
{
    for (int i = 0; i < m->published; i++)
        if (m->state[i] == M_WAITING)
            return i;
    return -1;
}

/* After a restart: every message not let go came back, in publish order;
 * crashed: a message let go since the last clean stop may come back too. */
static void model_read_back(struct jt *t, struct model *m, int crashed)
{
    struct fs_delivery *d = calloc(MODEL_MAX, sizeof(*d));
    static unsigned char back[MODEL_MAX];
    size_t got;
    int last = -1;

    assert_non_null(d);
    memset(back, 0, sizeof(back));
    got = take_all(t, d, MODEL_MAX);
    for (size_t k = 0; k < got; k++) {
        int i = model_index(m, &d[k]);

        if (i < 0)
            fail_msg("read back a message never published (%zu bytes)",
                     d[k].len);
        if (i <= last)
            fail_msg("message %d read back after %d", i, last);
        last = i;
        if (m->state[i] == M_GONE || (m->state[i] == M_LET_GO && !crashed))
            fail_msg("message %d was let go (%s) and came back", i,
                     crashed ? "before the last clean stop" : "clean stop");
        assert_int_equal(d[k].redelivered, 1);
        back[i] = 1;
    }
    for (int i = 0; i < m->published; i++) {
        if ((m->state[i] == M_WAITING || m->state[i] == M_UNACKED) && !back[i])
            fail_msg("message %d was never let go and did not come back", i);
        m->state[i] = back[i] ? M_UNACKED : M_GONE;
    }
    /* Hand them back: nack with requeue keeps them waiting, in order. */
    for (size_t k = 0; k < got; k++)
        assert_int_equal(t->ops->nack(t->f.ctx, d[k].tag, 1), FS_OK);
    for (int i = 0; i < m->published; i++)
        if (m->state[i] == M_UNACKED)
            m->state[i] = M_WAITING;
    free(d);
}

/* Kill: the next process finds what the dead one had written. */
static void model_crash(struct jt *t)
{
    char copy[64] = "/tmp/fs-journal-crash.XXXXXX";
    DIR *dir;
    struct dirent *e;
    char name[512];

    assert_non_null(mkdtemp(copy));
    snprintf(t->copy, sizeof(t->copy), "%s", copy);
    copy_segments(t->dir, copy);
    jt_destroy(t);  /* its last writes do not count: */
    dir = opendir(t->dir);
    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL)
        if (is_segment(e->d_name)) {
            snprintf(name, sizeof(name), "%s/%s", t->dir, e->d_name);
            assert_int_equal(unlink(name), 0);
        }
    closedir(dir);
    copy_segments(copy, t->dir);
    rm_rf(copy);
    t->copy[0] = '\0';
    jt_create(t);
}

static void test_random_operations_match_a_model(void **state)
{
    struct jt *t = *state;
    struct model *m = calloc(1, sizeof(*m));
    struct fs_delivery d[32];
    char body[MODEL_BODY + 1];
    int restarts = 0, crashes = 0;

    assert_non_null(m);
    m->rng = 20240601u;
    jt_set(t, "segment_bytes", MIN_SEGMENT);
    jt_create(t);
    for (int step = 0; step < 8000 && m->published < MODEL_MAX - 20; step++) {
        uint32_t op = model_rand(m, 1000);

        if (op < 350) {
            for (uint32_t k = 1 + model_rand(m, 8); k > 0; k--) {
                int i = m->published++;
                assert_int_equal(
                    t->ops->publish(t->f.ctx, body, model_body(body, i)),
                    FS_OK);
                m->state[i] = M_WAITING;
            }
        } else if (op < 600) {
            size_t n = 0, max = 1 + model_rand(m, 32);
            enum fs_status st = t->ops->consume(t->f.ctx, d, max, &n, 0);

            if (model_head(m) < 0) {
                assert_int_equal(st, FS_TIMEOUT);
                continue;
            }
            assert_int_equal(st, FS_OK);
            for (size_t k = 0; k < n; k++) {
                int i = model_index(m, &d[k]);
                assert_int_equal(i, model_head(m));
                m->state[i] = M_UNACKED;
                m->tag[i] = d[k].tag;
            }
        } else if (op < 993) {
            /* let go or requeue a few of the unacked, from anywhere */
            for (int i = 0, left = 1 + (int)model_rand(m, 40);
                 i < m->published && left > 0; i++) {
                uint32_t how;

                if (m->state[i] != M_UNACKED || model_rand(m, 3) != 0)
                    continue;
                left--;
                how = model_rand(m, 10);
                if (how < 7) {
                    assert_int_equal(t->ops->ack(t->f.ctx, m->tag[i]), FS_OK);
                    m->state[i] = M_LET_GO;
                } else if (how < 9) {
                    assert_int_equal(t->ops->nack(t->f.ctx, m->tag[i], 1),
                                     FS_OK);
                    m->state[i] = M_WAITING;
                } else {
                    assert_int_equal(t->ops->nack(t->f.ctx, m->tag[i], 0),
                                     FS_OK);
                    m->state[i] = M_LET_GO;
                }
            }
        } else if (op < 996) {
            jt_restart(t);
            for (int i = 0; i < m->published; i++)
                if (m->state[i] == M_LET_GO)
                    m->state[i] = M_GONE;
            model_read_back(t, m, 0);
            restarts++;
        } else {
            model_crash(t);
            model_read_back(t, m, 1);
            crashes++;
        }
    }
    assert_true(restarts > 0 && crashes > 0);
    jt_restart(t);
    for (int i = 0; i < m->published; i++)
        if (m->state[i] == M_LET_GO)
            m->state[i] = M_GONE;
    model_read_back(t, m, 0);
    free(m);
}

/* ---- 8. one process at a time ------------------------------------------- */

static void test_one_process_at_a_time(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[4];
    char err[512];
    void *ctx;

    jt_create(t);
    publish_str(t, "before");
    for (int attempt = 0; attempt < 2; attempt++) {
        ctx = NULL;
        err[0] = '\0';
        assert_int_not_equal(t->f.plugin->create(&test_host, t->config, &ctx,
                                                 err, sizeof(err)),
                             0);
        assert_null(ctx);
        assert_non_null(strstr(err, "in use by another process"));
    }
    /* The refused opens did not disturb the one holding the folder. */
    publish_str(t, "after");
    jt_restart(t);  /* and a clean stop lets the next one in */
    assert_int_equal(take_all(t, d, 4), 2);
    assert_body(&d[0], "before");
    assert_body(&d[1], "after");
}

/* ---- 9. capacity -------------------------------------------------------- */

static void test_capacity_bounds_what_is_held(void **state)
{
    struct jt *t = *state;
    struct fs_delivery d[4];
    size_t n = 0;

    jt_set(t, "capacity", "3");
    jt_create(t);
    publish_str(t, "a");
    publish_str(t, "b");
    publish_str(t, "c");
    assert_int_equal(t->ops->publish(t->f.ctx, "refused-1", 9),
                     FS_UNAVAILABLE);
    assert_int_equal(depth_of(t), 3);
    assert_int_equal(t->ops->consume(t->f.ctx, d, 1, &n, 0), FS_OK);
    assert_body(&d[0], "a");
    assert_int_equal(t->ops->publish(t->f.ctx, "refused-2", 9),
                     FS_UNAVAILABLE);  /* unacked still counts */
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    publish_str(t, "d");
    assert_int_equal(t->ops->publish(t->f.ctx, "refused-3", 9),
                     FS_UNAVAILABLE);
    assert_int_equal(depth_of(t), 3);
    /* A refused message was never journaled. */
    jt_restart(t);
    assert_int_equal(take_all(t, d, 4), 3);
    assert_body(&d[0], "b");
    assert_body(&d[1], "c");
    assert_body(&d[2], "d");
}

/* ---- 10. sync: full under concurrent publishers ------------------------- */

#define PUBLISHERS 8
#define PER_PUBLISHER 2000

struct publisher {
    struct jt *t;
    pthread_barrier_t *go;
    int id;
    int failures;
};

static void *publish_many(void *arg)
{
    struct publisher *p = arg;
    char body[32];

    pthread_barrier_wait(p->go);
    for (int i = 0; i < PER_PUBLISHER; i++) {
        int len = snprintf(body, sizeof(body), "%d:%d", p->id, i);
        if (p->t->ops->publish(p->t->f.ctx, body, (size_t)len) != FS_OK)
            p->failures++;
    }
    return NULL;
}

/* Every publish FS_OK; the one consumer gets every message once, each
 * publisher's in its order; then a restart brings nothing back. */
static void run_concurrent_publishers(struct jt *t)
{
    struct publisher pub[PUBLISHERS];
    pthread_t th[PUBLISHERS];
    pthread_barrier_t go;
    int next[PUBLISHERS] = {0};
    struct fs_delivery d[64];
    int64_t deadline;
    int total = 0, bad = 0, bad_ack = 0, bad_status = 0;

    assert_int_equal(pthread_barrier_init(&go, NULL, PUBLISHERS + 1), 0);
    for (int i = 0; i < PUBLISHERS; i++) {
        pub[i] = (struct publisher){.t = t, .go = &go, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, publish_many, &pub[i]),
                         0);
    }
    pthread_barrier_wait(&go);
    deadline = fs_test_now_ms() + fs_test_hang_bound_ms(120000);
    /* No cmocka assert until every publisher is joined: the teardown must
     * not destroy the queue under them. */
    while (total < PUBLISHERS * PER_PUBLISHER && fs_test_now_ms() < deadline) {
        size_t n = 0;
        enum fs_status st = t->ops->consume(t->f.ctx, d, 64, &n, 100);

        if (st != FS_OK && st != FS_TIMEOUT)
            bad_status++;
        for (size_t k = 0; k < n; k++) {
            char text[32] = "";
            int id, seq;

            memcpy(text, d[k].body, d[k].len < 31 ? d[k].len : 31);
            if (sscanf(text, "%d:%d", &id, &seq) != 2 || id < 0 ||
                id >= PUBLISHERS || seq != next[id])
                bad++;  /* not published, twice, or out of its order */
            else
                next[id]++;
            if (t->ops->ack(t->f.ctx, d[k].tag) != FS_OK)
                bad_ack++;
        }
        total += (int)n;
    }
    for (int i = 0; i < PUBLISHERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < PUBLISHERS; i++) {
        assert_int_equal(pub[i].failures, 0);
        assert_int_equal(next[i], PER_PUBLISHER);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(bad_ack, 0);
    assert_int_equal(bad_status, 0);
    assert_int_equal(total, PUBLISHERS * PER_PUBLISHER);
    assert_int_equal(depth_of(t), 0);
    /* Every one acked: nothing comes back. */
    jt_restart(t);
    assert_int_equal(take_all(t, d, 64), 0);
}

static void test_sync_full_keeps_every_publisher_in_order(void **state)
{
    struct jt *t = *state;

    jt_set(t, "sync", "full");
    jt_create(t);
    run_concurrent_publishers(t);
}

/* The same while segments rotate and are deleted under the publishers (and
 * the shared fdatasync crosses rotations). */
static void test_sync_full_with_rotation_under_publishers(void **state)
{
    struct jt *t = *state;

    jt_set(t, "sync", "full");
    jt_set(t, "segment_bytes", MIN_SEGMENT);
    jt_create(t);
    run_concurrent_publishers(t);
    assert_true(count_segments(t->dir) <= 2);
}

/* ---- 11. health --------------------------------------------------------- */

static void test_health_names_the_folder(void **state)
{
    struct jt *t = *state;
    char detail[512] = "";

    jt_create(t);
    publish_str(t, "x");
    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_OK);
    assert_non_null(strstr(detail, t->dir));
}

/* ---- 12. folders -------------------------------------------------------- */

static void test_a_folder_that_cannot_be_made_is_named(void **state)
{
    struct jt *t = *state;
    char file[128], path[192], err[512] = "";
    void *ctx = NULL;
    FILE *f;

    snprintf(file, sizeof(file), "%s/a-file", t->dir);
    f = fopen(file, "w");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof(path), "%s/queue", file);
    jt_set(t, "path", path);
    assert_int_not_equal(
        t->f.plugin->create(&test_host, t->config, &ctx, err, sizeof(err)), 0);
    assert_null(ctx);
    assert_non_null(strstr(err, path));
}

static void test_a_missing_folder_is_created_with_its_parents(void **state)
{
    struct jt *t = *state;
    char path[192];
    struct fs_delivery d[2];
    struct stat st;

    snprintf(path, sizeof(path), "%s/data/queue", t->dir);
    jt_set(t, "path", path);
    jt_create(t);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    publish_str(t, "x");
    jt_restart(t);
    assert_int_equal(take_all(t, d, 2), 1);
    assert_body(&d[0], "x");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor_is_a_thread_safe_durable_local_queue),
        T(test_validate_refuses_bad_values_naming_the_key),
        T(test_fifo_ack_and_nack),
        T(test_largest_and_empty_messages_round_trip_a_restart),
        T(test_unacked_messages_come_back_after_a_restart),
        T(test_tags_after_a_restart_pass_every_acked_one),
        T(test_requeued_come_back_and_dropped_do_not),
        T(test_a_process_that_died_open_loses_no_unacked_message),
        T(test_garbage_after_the_last_record_is_ignored),
        T(test_a_record_cut_short_is_dropped_and_the_rest_kept),
        T(test_a_damaged_last_record_is_dropped),
        T(test_processed_segments_are_deleted),
        T(test_random_operations_match_a_model),
        T(test_one_process_at_a_time),
        T(test_capacity_bounds_what_is_held),
        T(test_sync_full_keeps_every_publisher_in_order),
        T(test_sync_full_with_rotation_under_publishers),
        T(test_health_names_the_folder),
        T(test_a_folder_that_cannot_be_made_is_named),
        T(test_a_missing_folder_is_created_with_its_parents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
