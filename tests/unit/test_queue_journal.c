/*
 * test_queue_journal.c - the embedded durable queue (queue_journal.so): the
 * queue contract it shares with the memory queue, and what the journal adds:
 * messages not acknowledged come back after a restart, in order, also when
 * the process died without closing (its files copied while open), a record
 * cut short ends the reading there, processed segments are deleted, and one
 * process at a time holds a journal.
 */
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

struct journal_test {
    struct plugin_fixture f;
    const struct fs_queue_ops *ops;
    void *config;
    char dir[64];
};

/* A fresh folder each; sync and segment_bytes as given (NULL: default). */
static struct journal_test *journal_open_with(const char *sync,
                                              const char *segment_bytes)
{
    struct journal_test *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/fs-journal-test.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    fixture_open(&t->f, "queue_journal.so", FS_PLUGIN_QUEUE);
    t->config = fixture_config_defaults(t->f.plugin);
    fixture_option_set(t->f.plugin, t->config, "path", t->dir);
    if (sync)
        fixture_option_set(t->f.plugin, t->config, "sync", sync);
    if (segment_bytes)
        fixture_option_set(t->f.plugin, t->config, "segment_bytes",
                           segment_bytes);
    fixture_create(&t->f, t->config);
    t->ops = t->f.plugin->queue;
    return t;
}

static struct journal_test *journal_open(void)
{
    return journal_open_with(NULL, NULL);
}

/* destroy(), then create() again on the same folder: a clean restart. */
static void journal_restart(struct journal_test *t)
{
    t->f.plugin->destroy(t->f.ctx);
    t->f.ctx = NULL;
    fixture_create(&t->f, t->config);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void journal_close(struct journal_test *t)
{
    fixture_close(&t->f);
    remove_dir(t->dir);
    free(t->config);
    free(t);
}

static int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".seg") != NULL;
    closedir(d);
    return n;
}

/* The newest segment's path (the one written to). */
static void last_segment(const char *dir, char *out, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[256] = "";

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".seg") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", e->d_name);
    closedir(d);
    assert_true(best[0] != '\0');
    snprintf(out, size, "%s/%s", dir, best);
}

static void publish_str(struct journal_test *t, const char *s)
{
    assert_int_equal(t->ops->publish(t->f.ctx, s, strlen(s)), FS_OK);
}

/* Takes every waiting message (up to max) without waiting long. */
static size_t take_all(struct journal_test *t, struct fs_delivery *out,
                       size_t max)
{
    size_t got = 0, n;

    while (got < max &&
           t->ops->consume(t->f.ctx, out + got, max - got, &n, 50) == FS_OK)
        got += n;
    return got;
}

static void assert_body(const struct fs_delivery *d, const char *s)
{
    assert_int_equal(d->len, strlen(s));
    assert_memory_equal(d->body, s, d->len);
}

/* ---- the descriptor and its options -------------------------------------- */

static void test_descriptor_is_a_durable_local_queue(void **state)
{
    struct plugin_fixture f;
    (void)state;

    fixture_open(&f, "queue_journal.so", FS_PLUGIN_QUEUE);
    assert_string_equal(f.plugin->name, "journal");
    assert_true(f.plugin->flags & FS_PLUGIN_THREAD_SAFE);
    assert_true(f.plugin->flags & FS_QUEUE_DURABLE);
    assert_true(f.plugin->flags & FS_QUEUE_LOCAL);
    assert_int_equal(fixture_option(f.plugin, "path")->type, FS_OPT_PATH);
    assert_string_equal(fixture_option(f.plugin, "sync")->default_value,
                        "interval");
    assert_string_equal(
        fixture_option(f.plugin, "sync_interval_ms")->default_value, "100");
    assert_string_equal(
        fixture_option(f.plugin, "capacity")->default_value, "1000000");
    assert_non_null(fixture_option(f.plugin, "segment_bytes"));
    fixture_close(&f);
}

static void expect_refused(const struct fs_plugin *p, const char *key,
                           const char *value)
{
    void *config = fixture_config_defaults(p);
    const char *bad = NULL;
    char err[256] = "";

    fixture_option_set(p, config, "path", "/tmp/fs-journal-never-created");
    fixture_option_set(p, config, key, value);
    assert_int_not_equal(p->validate(config, &bad, err, sizeof(err)), 0);
    assert_non_null(bad);
    assert_string_equal(bad, key);
    assert_true(err[0] != '\0');
    free(config);
}

static void test_validate_names_the_bad_key(void **state)
{
    struct plugin_fixture f;
    void *config;
    const char *bad = "x";
    char err[256] = "";
    (void)state;

    fixture_open(&f, "queue_journal.so", FS_PLUGIN_QUEUE);
    config = fixture_config_defaults(f.plugin);
    assert_int_equal(f.plugin->validate(config, &bad, err, sizeof(err)), 0);
    free(config);
    expect_refused(f.plugin, "sync", "sometimes");
    expect_refused(f.plugin, "sync_interval_ms", "0");
    expect_refused(f.plugin, "sync_interval_ms", "60001");
    expect_refused(f.plugin, "segment_bytes", "65535");
    expect_refused(f.plugin, "capacity", "0");
    fixture_close(&f);
}

/* ---- the queue contract -------------------------------------------------- */

static void test_fifo_ack_and_requeue(void **state)
{
    struct journal_test *t = journal_open();
    struct fs_delivery d[4];
    uint64_t depth = 9;
    char detail[512] = "";
    (void)state;

    publish_str(t, "one");
    publish_str(t, "two");
    publish_str(t, "three");
    assert_int_equal(take_all(t, d, 4), 3);
    assert_body(&d[0], "one");
    assert_body(&d[1], "two");
    assert_body(&d[2], "three");
    assert_true(d[0].tag < d[1].tag && d[1].tag < d[2].tag);
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_NOT_FOUND);
    assert_int_equal(t->ops->nack(t->f.ctx, d[1].tag, 1), FS_OK);
    assert_int_equal(t->ops->nack(t->f.ctx, d[2].tag, 0), FS_OK);
    assert_int_equal(take_all(t, d, 4), 1);
    assert_body(&d[0], "two");
    assert_int_equal(d[0].redelivered, 1);
    assert_int_equal(t->ops->ack(t->f.ctx, d[0].tag), FS_OK);
    assert_int_equal(t->ops->depth(t->f.ctx, &depth), FS_OK);
    assert_int_equal(depth, 0);
    assert_int_equal(t->f.plugin->health(t->f.ctx, detail, sizeof(detail)),
                     FS_OK);
    assert_non_null(strstr(detail, t->dir));
    journal_close(t);
}

static void test_capacity_bounds_what_is_held(void **state)
{
    struct journal_test *t;
    struct fs_delivery d;
    size_t n;
    (void)state;

    t = journal_open();
    t->f.plugin->destroy(t->f.ctx);
    t->f.ctx = NULL;
    fixture_option_set(t->f.plugin, t->config, "capacity", "3");
    fixture_create(&t->f, t->config);
    publish_str(t, "a");
    publish_str(t, "b");
    publish_str(t, "c");
    assert_int_equal(t->ops->publish(t->f.ctx, "d", 1), FS_UNAVAILABLE);
    assert_int_equal(t->ops->consume(t->f.ctx, &d, 1, &n, 100), FS_OK);
    assert_int_equal(t->ops->ack(t->f.ctx, d.tag), FS_OK);
    assert_int_equal(t->ops->publish(t->f.ctx, "d", 1), FS_OK);
    journal_close(t);
}

/* ---- what the journal adds ----------------------------------------------- */

static void test_unacked_messages_come_back_after_a_restart(void **state)
{
    struct journal_test *t = journal_open();
    struct fs_delivery d[16];
    uint64_t last_tag = 0;
    char body[16];
    (void)state;

    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof(body), "m%d", i);
        publish_str(t, body);
    }
    assert_int_equal(take_all(t, d, 16), 10);
    for (int i = 0; i < 10; i++) {
        if (d[i].tag > last_tag)
            last_tag = d[i].tag;
        if (i % 2 == 0)
            assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    }
    journal_restart(t);
    assert_int_equal(take_all(t, d, 16), 5);
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof(body), "m%d", 2 * i + 1);
        assert_body(&d[i], body);
        assert_int_equal(d[i].redelivered, 1);
    }
    /* New tags never meet an old one. */
    publish_str(t, "after");
    assert_int_equal(take_all(t, &d[5], 1), 1);
    assert_true(d[5].tag > last_tag);
    journal_close(t);
}

/* SIGKILL: the files are whatever write() left in the OS cache. Copying
 * them while the queue is open stands for the next process reading them. */
static void copy_segments(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;
    char src[512], dst[512], buf[8192];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        FILE *in, *out;
        size_t n;

        if (!strstr(e->d_name, ".seg"))
            continue;
        snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
        in = fopen(src, "rb");
        out = fopen(dst, "wb");
        assert_non_null(in);
        assert_non_null(out);
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
        fclose(out);
    }
    closedir(d);
}

static void test_a_process_that_died_open_loses_no_unacked_message(void **state)
{
    enum { N = 300 };
    struct journal_test *t = journal_open();
    struct fs_delivery *d = calloc(N, sizeof(*d));
    int acked[N] = {0}, seen[N] = {0};
    char copy[64] = "/tmp/fs-journal-copy.XXXXXX", body[16];
    void *config, *ctx;
    const struct fs_queue_ops *ops = t->ops;
    size_t got = 0, n;
    (void)state;

    assert_non_null(d);
    assert_non_null(mkdtemp(copy));
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "%d", i);
        publish_str(t, body);
    }
    assert_int_equal(take_all(t, d, N), N);
    for (int i = 0; i < N; i += 3) {
        assert_int_equal(ops->ack(t->f.ctx, d[i].tag), FS_OK);
        acked[atoi(d[i].body)] = 1;
    }
    copy_segments(t->dir, copy);

    config = fixture_config_defaults(t->f.plugin);
    fixture_option_set(t->f.plugin, config, "path", copy);
    ctx = fixture_create_another(&t->f, config);
    while (ops->consume(ctx, d + got, N - got, &n, 50) == FS_OK)
        got += n;
    for (size_t k = 0; k < got; k++) {
        char text[16] = "";
        memcpy(text, d[k].body, d[k].len < 15 ? d[k].len : 15);
        int i = atoi(text);
        assert_true(i >= 0 && i < N);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
    }
    /* Every message not acked is back; an acked one may come back too (its
     * 'A' record was still buffered), never one that was not published. */
    for (int i = 0; i < N; i++)
        if (!acked[i])
            assert_int_equal(seen[i], 1);
    t->f.plugin->destroy(ctx);
    remove_dir(copy);
    free(config);
    free(d);
    journal_close(t);
}

static void append_bytes(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static void test_a_record_cut_short_ends_the_reading_there(void **state)
{
    struct journal_test *t = journal_open();
    struct fs_delivery d[8];
    char seg[512];
    struct stat st;
    (void)state;

    publish_str(t, "kept-1");
    publish_str(t, "kept-2");
    journal_restart(t);  /* both now in a fresh segment, and nothing else */
    publish_str(t, "cut");
    t->f.plugin->destroy(t->f.ctx);
    t->f.ctx = NULL;
    last_segment(t->dir, seg, sizeof(seg));
    assert_int_equal(stat(seg, &st), 0);
    assert_int_equal(truncate(seg, st.st_size - 2), 0);  /* a torn write */
    fixture_create(&t->f, t->config);
    assert_int_equal(take_all(t, d, 8), 2);
    assert_body(&d[0], "kept-1");
    assert_body(&d[1], "kept-2");

    /* Garbage after whole records: read up to it. */
    t->f.plugin->destroy(t->f.ctx);
    t->f.ctx = NULL;
    last_segment(t->dir, seg, sizeof(seg));
    append_bytes(seg, "0123456789", 10);
    fixture_create(&t->f, t->config);
    assert_int_equal(take_all(t, d, 8), 2);
    assert_body(&d[0], "kept-1");
    journal_close(t);
}

static void test_processed_segments_are_deleted(void **state)
{
    enum { N = 1200 };
    struct journal_test *t = journal_open_with(NULL, "65536");
    struct fs_delivery *d = calloc(N, sizeof(*d));
    char body[200];
    (void)state;

    assert_non_null(d);
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (int i = 0; i < N; i++)
        publish_str(t, body);  /* ~260 KiB in 64 KiB segments */
    assert_true(count_segments(t->dir) >= 3);
    assert_int_equal(take_all(t, d, N), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(t->ops->ack(t->f.ctx, d[i].tag), FS_OK);
    assert_true(count_segments(t->dir) <= 1);
    journal_restart(t);
    assert_int_equal(take_all(t, d, N), 0);
    assert_int_equal(count_segments(t->dir), 1);
    free(d);
    journal_close(t);
}

static void test_one_process_at_a_time(void **state)
{
    struct journal_test *t = journal_open();
    char err[512] = "";
    void *ctx = NULL;
    (void)state;

    assert_int_not_equal(
        t->f.plugin->create(&test_host, t->config, &ctx, err, sizeof(err)), 0);
    assert_null(ctx);
    assert_non_null(strstr(err, "in use by another process"));
    journal_close(t);
}

static void test_a_folder_that_cannot_be_made_is_named(void **state)
{
    struct plugin_fixture f;
    char file[64] = "/tmp/fs-journal-file.XXXXXX", path[128], err[512] = "";
    void *config, *ctx = NULL;
    int fd;
    (void)state;

    fd = mkstemp(file);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/queue", file);
    fixture_open(&f, "queue_journal.so", FS_PLUGIN_QUEUE);
    config = fixture_config_defaults(f.plugin);
    fixture_option_set(f.plugin, config, "path", path);
    assert_int_not_equal(
        f.plugin->create(&test_host, config, &ctx, err, sizeof(err)), 0);
    assert_null(ctx);
    assert_non_null(strstr(err, path));
    free(config);
    fixture_close(&f);
    unlink(file);
}

/* ---- sync: full under concurrent publishers ------------------------------ */

#define PUBLISHERS 8
#define PER_PUBLISHER 2000

struct publisher {
    struct journal_test *t;
    int id;
    int failures;
};

static void *publish_many(void *arg)
{
    struct publisher *p = arg;
    char body[32];

    for (int i = 0; i < PER_PUBLISHER; i++) {
        int len = snprintf(body, sizeof(body), "%d:%d", p->id, i);
        if (p->t->ops->publish(p->t->f.ctx, body, (size_t)len) != FS_OK)
            p->failures++;
    }
    return NULL;
}

static void test_sync_full_keeps_every_publisher_in_order(void **state)
{
    struct journal_test *t = journal_open_with("full", NULL);
    struct publisher pub[PUBLISHERS];
    pthread_t th[PUBLISHERS];
    int next[PUBLISHERS] = {0};
    struct fs_delivery d[64];
    int64_t deadline = fs_test_now_ms() + fs_test_hang_bound_ms(60000);
    int total = 0;
    (void)state;

    for (int i = 0; i < PUBLISHERS; i++) {
        pub[i] = (struct publisher){.t = t, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, publish_many, &pub[i]),
                         0);
    }
    while (total < PUBLISHERS * PER_PUBLISHER && fs_test_now_ms() < deadline) {
        size_t n = 0;
        if (t->ops->consume(t->f.ctx, d, 64, &n, 100) != FS_OK)
            continue;
        for (size_t k = 0; k < n; k++) {
            char text[32] = "";
            int id, seq;
            memcpy(text, d[k].body, d[k].len < 31 ? d[k].len : 31);
            assert_int_equal(sscanf(text, "%d:%d", &id, &seq), 2);
            assert_true(id >= 0 && id < PUBLISHERS);
            assert_int_equal(seq, next[id]);  /* once each, in order */
            next[id]++;
            assert_int_equal(t->ops->ack(t->f.ctx, d[k].tag), FS_OK);
        }
        total += (int)n;
    }
    for (int i = 0; i < PUBLISHERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(pub[i].failures, 0);
    }
    assert_int_equal(total, PUBLISHERS * PER_PUBLISHER);
    journal_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_is_a_durable_local_queue),
        cmocka_unit_test(test_validate_names_the_bad_key),
        cmocka_unit_test(test_fifo_ack_and_requeue),
        cmocka_unit_test(test_capacity_bounds_what_is_held),
        cmocka_unit_test(test_unacked_messages_come_back_after_a_restart),
        cmocka_unit_test(test_a_process_that_died_open_loses_no_unacked_message),
        cmocka_unit_test(test_a_record_cut_short_ends_the_reading_there),
        cmocka_unit_test(test_processed_segments_are_deleted),
        cmocka_unit_test(test_one_process_at_a_time),
        cmocka_unit_test(test_a_folder_that_cannot_be_made_is_named),
        cmocka_unit_test(test_sync_full_keeps_every_publisher_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
