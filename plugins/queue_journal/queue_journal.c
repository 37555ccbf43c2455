/*
 * queue_journal.c - the embedded durable queue plugin: the FIFO of
 * queue_memory (queue_fifo.c) with every message also appended to a journal
 * on disk (journal.c), read back after a restart.
 *
 * FS_QUEUE_DURABLE | FS_QUEUE_LOCAL: a 202 rests on the inventory's claim
 * and the journal's record, so the accept path writes nothing to storage
 * and the worker records each booking once, as it decides it. A publish is
 * one write() into the operating system's cache; SIGKILL or a crash of the
 * daemon loses nothing. Against a power loss: `sync: full` makes each
 * publish wait for an fdatasync shared with every publish meanwhile;
 * `sync: interval` (the default) syncs every sync_interval_ms from a thread
 * of its own, and a power loss may take the 202s of that last interval that
 * the worker had not recorded yet (it records within milliseconds).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flashsaled/fs_plugin.h"
#include "fs_autoconf.h"
#include "journal.h"
#include "queue_fifo.h"

#define QUEUE_JOURNAL_NAME "journal"
#define QUEUE_JOURNAL_LOG_NAME "queue.journal"
/* Beside the SQLite default, in the data folder configure chose. */
#define QUEUE_JOURNAL_DEFAULT_DIR FS_DATA_DIR "/queue"
#define QUEUE_JOURNAL_MIN_SEGMENT (64 * 1024)
#define QUEUE_JOURNAL_MAX_INTERVAL_MS 60000

struct queue_journal_config {
    char *path;
    char *sync;
    int64_t sync_interval_ms;
    int64_t segment_bytes;
    int64_t capacity;
};

static const struct fs_option queue_journal_options[] = {
    {FS_OPT_PATH, "path", QUEUE_JOURNAL_DEFAULT_DIR,
     offsetof(struct queue_journal_config, path),
     "the journal's folder (created if missing; one daemon at a time)"},
    {FS_OPT_STRING, "sync", "interval",
     offsetof(struct queue_journal_config, sync),
     "\"interval\" (default): the journal is synced to disk every "
     "sync_interval_ms, and a 202 survives SIGKILL and crashes of the "
     "daemon at once, a power loss once synced or recorded by the worker; "
     "\"full\": each publish waits for its (shared) fdatasync, and a 202 "
     "survives a power loss too, at about the memory queue's accept rate"},
    {FS_OPT_INT, "sync_interval_ms", "100",
     offsetof(struct queue_journal_config, sync_interval_ms),
     "how often sync: interval syncs the journal, 1 to 60000"},
    {FS_OPT_INT, "segment_bytes", "67108864",
     offsetof(struct queue_journal_config, segment_bytes),
     "a new segment file past this size; a segment is deleted once all of "
     "its messages are processed"},
    {FS_OPT_INT, "capacity", "1000000",
     offsetof(struct queue_journal_config, capacity),
     "messages held at most (waiting plus unacknowledged); publish answers "
     "unavailable beyond it, so memory stays bounded"},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

struct queue_journal {
    struct queue_fifo fifo;
    struct journal *journal;
};

/* What the core filled in (every option, defaults included: a zero is a
 * value to check, not a missing one); the defaults without a config. */
static struct queue_journal_config queue_journal_settings(const void *config)
{
    struct queue_journal_config c = {
        .path = QUEUE_JOURNAL_DEFAULT_DIR, .sync = "interval",
        .sync_interval_ms = 100, .segment_bytes = 64 * 1024 * 1024,
        .capacity = 1000000,
    };

    if (config) {
        const struct queue_journal_config *in = config;
        c.sync_interval_ms = in->sync_interval_ms;
        c.segment_bytes = in->segment_bytes;
        c.capacity = in->capacity;
        if (in->path)
            c.path = in->path;
        if (in->sync)
            c.sync = in->sync;
    }
    return c;
}

static int queue_journal_validate(const void *config, const char **key,
                                  char *err, size_t errlen)
{
    struct queue_journal_config c = queue_journal_settings(config);

    *key = NULL;
    if (strcmp(c.sync, "interval") != 0 && strcmp(c.sync, "full") != 0) {
        *key = "sync";
        snprintf(err, errlen, "sync must be \"interval\" or \"full\", not "
                 "\"%s\"", c.sync);
    } else if (c.sync_interval_ms < 1 ||
               c.sync_interval_ms > QUEUE_JOURNAL_MAX_INTERVAL_MS) {
        *key = "sync_interval_ms";
        snprintf(err, errlen, "sync_interval_ms must be 1 to %d, not %lld",
                 QUEUE_JOURNAL_MAX_INTERVAL_MS,
                 (long long)c.sync_interval_ms);
    } else if (c.segment_bytes < QUEUE_JOURNAL_MIN_SEGMENT) {
        *key = "segment_bytes";
        snprintf(err, errlen, "segment_bytes must be at least %d, not %lld",
                 QUEUE_JOURNAL_MIN_SEGMENT, (long long)c.segment_bytes);
    } else if (c.capacity < 1) {
        *key = "capacity";
        snprintf(err, errlen, "capacity must be at least 1, not %lld",
                 (long long)c.capacity);
    } else if (c.path[0] != '/') {
        *key = "path";
        snprintf(err, errlen, "path must be absolute, not \"%s\"", c.path);
    }
    return *key ? -1 : 0;
}

/* A survivor of the last run goes back into the FIFO, in order. */
static int queue_journal_restore(void *arg, uint64_t tag, const void *body,
                                 size_t len)
{
    struct queue_journal *q = arg;

    return queue_fifo_restore(&q->fifo, tag, body, len) == FS_OK ? 0 : -1;
}

static int queue_journal_create(const struct fs_host *host, const void *config,
                                void **ctx, char *err, size_t errlen)
{
    struct queue_journal_config c = queue_journal_settings(config);
    struct journal_options o = {
        .dir = c.path, .segment_bytes = (uint64_t)c.segment_bytes,
        .sync_full = strcmp(c.sync, "full") == 0,
        .interval_ms = c.sync_interval_ms, .host = host,
        .log_name = QUEUE_JOURNAL_LOG_NAME,
    };
    struct queue_journal *q;
    uint64_t last_tag = 0;
    const char *key;

    *ctx = NULL;
    if (queue_journal_validate(config, &key, err, errlen) != 0)
        return -1;
    q = calloc(1, sizeof(*q));
    if (!q || queue_fifo_init(&q->fifo, (uint64_t)c.capacity) != 0) {
        snprintf(err, errlen, "out of memory");
        free(q);
        return -1;
    }
    q->journal = journal_open(&o, queue_journal_restore, q, &last_tag, err,
                              errlen);
    if (!q->journal) {
        queue_fifo_destroy(&q->fifo);
        free(q);
        return -1;
    }
    if (q->fifo.next_tag <= last_tag)
        q->fifo.next_tag = last_tag + 1;
    *ctx = q;
    return 0;
}

/* The core stops the consumer before destroy(), so nobody waits in it. */
static void queue_journal_destroy(void *ctx)
{
    struct queue_journal *q = ctx;

    if (!q)
        return;
    journal_close(q->journal);
    queue_fifo_destroy(&q->fifo);
    free(q);
}

static enum fs_status queue_journal_health(void *ctx, char *detail, size_t len)
{
    struct queue_journal *q = ctx;
    char journal[512];
    enum fs_status st = journal_health(q->journal, journal, sizeof(journal));

    if (detail && len)
        snprintf(detail, len, "%s; %llu of %llu messages", journal,
                 (unsigned long long)queue_fifo_count(&q->fifo),
                 (unsigned long long)q->fifo.capacity);
    return st;
}

struct queue_journal_append {
    struct journal *journal;
    uint64_t end;
};

/* Under the FIFO's lock: the file's order is the FIFO's. */
static int queue_journal_append_hook(void *arg, uint64_t tag, const void *body,
                                     size_t len)
{
    struct queue_journal_append *a = arg;

    return journal_append(a->journal, tag, body, len, &a->end);
}

static enum fs_status queue_journal_publish(void *ctx, const void *body,
                                            size_t len)
{
    struct queue_journal *q = ctx;
    struct queue_journal_append a = {.journal = q->journal};
    enum fs_status st = queue_fifo_publish(&q->fifo, body, len,
                                           queue_journal_append_hook, &a);

    /* A message that is in the FIFO but never became durable may still be
     * processed; its publisher hears unavailable and takes the booking
     * back, as after a broker's missing confirm. */
    if (st == FS_OK && journal_wait_durable(q->journal, a.end) != 0)
        st = FS_UNAVAILABLE;
    return st;
}

static enum fs_status queue_journal_consume(void *ctx, struct fs_delivery *out,
                                            size_t max, size_t *n,
                                            int timeout_ms)
{
    struct queue_journal *q = ctx;

    return queue_fifo_consume(&q->fifo, out, max, n, timeout_ms);
}

/* Under the FIFO's lock. Never refuses: a lost 'let go' record only means
 * the message is handed out again after a restart, and processing is
 * idempotent by booking id. */
static int queue_journal_forget_hook(void *arg, uint64_t tag, const void *body,
                                     size_t len)
{
    (void)body;
    (void)len;
    journal_forget(arg, tag);
    return 0;
}

static enum fs_status queue_journal_ack(void *ctx, uint64_t tag)
{
    struct queue_journal *q = ctx;

    return queue_fifo_ack(&q->fifo, tag, queue_journal_forget_hook,
                          q->journal);
}

static enum fs_status queue_journal_nack(void *ctx, uint64_t tag, int requeue)
{
    struct queue_journal *q = ctx;

    return queue_fifo_nack(&q->fifo, tag, requeue, queue_journal_forget_hook,
                           q->journal);
}

static enum fs_status queue_journal_depth(void *ctx, uint64_t *out)
{
    struct queue_journal *q = ctx;

    if (!out)
        return FS_INVALID;
    *out = queue_fifo_count(&q->fifo);
    return FS_OK;
}

static const struct fs_queue_ops queue_journal_ops = {
    .publish = queue_journal_publish,
    .consume = queue_journal_consume,
    .ack = queue_journal_ack,
    .nack = queue_journal_nack,
    .depth = queue_journal_depth,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_QUEUE,
    .name = QUEUE_JOURNAL_NAME,
    .description = "in-process FIFO with a journal on disk: durable, read "
                   "back after a restart, one daemon",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE | FS_QUEUE_DURABLE | FS_QUEUE_LOCAL,
    .options = queue_journal_options,
    .config_size = sizeof(struct queue_journal_config),
    .create = queue_journal_create,
    .destroy = queue_journal_destroy,
    .health = queue_journal_health,
    .queue = &queue_journal_ops,
    .validate = queue_journal_validate,
};
