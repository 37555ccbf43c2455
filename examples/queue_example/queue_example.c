/*
 * queue_example.c - a complete, minimal flashsaled queue plugin, built out of
 * tree against the installed ABI header (see Makefile beside this file and
 * docs/plugins.md).
 *
 * It is an in-process FIFO in a fixed ring of `slots` messages, one mutex and
 * one condition variable: enough to show every part of the ABI (descriptor,
 * option table, create/destroy/health, the queue operations, thread safety)
 * without hiding them behind a real broker. Not durable: the daemon re-queues
 * bookings recorded as queued at start, as it does for the memory queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flashsaled/fs_plugin.h>

struct example_config {
    int64_t slots;  /* filled by the daemon from the YAML block */
};

static const struct fs_option example_options[] = {
    {FS_OPT_INT, "slots", "4096", offsetof(struct example_config, slots),
     "Messages held at most, waiting or unacknowledged; publish answers "
     "unavailable (503) beyond it."},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

struct slot {
    uint64_t tag;   /* 0: free */
    int delivered;  /* handed out, waiting for ack */
    int redelivered;
    size_t len;
    char body[FS_MESSAGE_MAX];
};

struct example_queue {
    const struct fs_host *host;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct slot *ring;
    size_t cap, head, count;  /* count: slots in use, from head */
    uint64_t next_tag;
};

/* Optional validate: checks the values without any I/O, so that
 * `flashsaled --check-config` reports a bad one with its file and line.
 * create() calls it too: one copy of each check. */
static int example_validate(const void *config, const char **key, char *err,
                            size_t errlen)
{
    const struct example_config *cfg = config;

    *key = NULL;
    if (cfg->slots >= 1 && cfg->slots <= 10000000)
        return 0;
    *key = "slots";
    snprintf(err, errlen, "slots must be 1 to 10000000, not %lld",
             (long long)cfg->slots);
    return -1;
}

static int example_create(const struct fs_host *host, const void *config,
                          void **ctx, char *err, size_t errlen)
{
    const struct example_config *cfg = config;
    struct example_queue *q;
    const char *key;

    if (example_validate(config, &key, err, errlen) != 0)
        return -1;
    q = calloc(1, sizeof(*q));
    if (!q || !(q->ring = calloc((size_t)cfg->slots, sizeof(*q->ring)))) {
        free(q);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    q->host = host;
    q->cap = (size_t)cfg->slots;
    q->next_tag = 1;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ready, NULL);
    host->log(FS_LOG_INFO, "queue.example", "ready with %zu slots", q->cap);
    *ctx = q;
    return 0;
}

static void example_destroy(void *ctx)
{
    struct example_queue *q = ctx;
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q);
}

static enum fs_status example_health(void *ctx, char *detail, size_t len)
{
    (void)ctx;
    snprintf(detail, len, "in process");
    return FS_OK;
}

static struct slot *slot_at(struct example_queue *q, size_t i)
{
    return &q->ring[(q->head + i) % q->cap];
}

static enum fs_status example_publish(void *ctx, const void *body, size_t len)
{
    struct example_queue *q = ctx;
    struct slot *s;

    if (len > FS_MESSAGE_MAX)
        return FS_INVALID;
    pthread_mutex_lock(&q->lock);
    if (q->count == q->cap) {
        pthread_mutex_unlock(&q->lock);
        return FS_UNAVAILABLE;  /* full: the daemon answers 503 */
    }
    s = slot_at(q, q->count++);
    memset(s, 0, sizeof(*s));
    s->tag = q->next_tag++;
    s->len = len;
    memcpy(s->body, body, len);
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
    return FS_OK;
}

/* The first slot not handed out yet, or NULL. */
static struct slot *first_waiting(struct example_queue *q)
{
    for (size_t i = 0; i < q->count; i++)
        if (!slot_at(q, i)->delivered)
            return slot_at(q, i);
    return NULL;
}

static enum fs_status example_consume(void *ctx, struct fs_delivery *out,
                                      size_t max, size_t *n, int timeout_ms)
{
    struct example_queue *q = ctx;
    struct timespec until;
    struct slot *s;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    *n = 0;
    pthread_mutex_lock(&q->lock);
    while (!first_waiting(q))
        if (pthread_cond_timedwait(&q->ready, &q->lock, &until) == ETIMEDOUT)
            break;
    while (*n < max && (s = first_waiting(q))) {
        s->delivered = 1;
        out[*n].tag = s->tag;
        out[*n].redelivered = s->redelivered;
        out[*n].len = s->len;
        memcpy(out[*n].body, s->body, s->len);
        (*n)++;
    }
    pthread_mutex_unlock(&q->lock);
    return *n ? FS_OK : FS_TIMEOUT;
}

/* Settles one delivered message: frees its slot (ack, or nack without
 * requeue) or offers it again (nack with requeue). */
static enum fs_status settle(struct example_queue *q, uint64_t tag, int requeue)
{
    enum fs_status rc = FS_NOT_FOUND;

    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->count; i++) {
        struct slot *s = slot_at(q, i);
        if (s->tag != tag || !s->delivered)
            continue;
        if (requeue) {
            s->delivered = 0;
            s->redelivered = 1;
            pthread_cond_signal(&q->ready);
        } else {
            s->tag = 0;
        }
        rc = FS_OK;
        break;
    }
    /* Free slots at the head make room; ones behind wait for their turn. */
    while (q->count && slot_at(q, 0)->tag == 0) {
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static enum fs_status example_ack(void *ctx, uint64_t tag)
{
    return settle(ctx, tag, 0);
}

static enum fs_status example_nack(void *ctx, uint64_t tag, int requeue)
{
    return settle(ctx, tag, requeue);
}

static enum fs_status example_depth(void *ctx, uint64_t *out)
{
    struct example_queue *q = ctx;
    pthread_mutex_lock(&q->lock);
    *out = q->count;
    pthread_mutex_unlock(&q->lock);
    return FS_OK;
}

static const struct fs_queue_ops example_ops = {
    .publish = example_publish,
    .consume = example_consume,
    .ack = example_ack,
    .nack = example_nack,
    .depth = example_depth,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_QUEUE,
    .name = "example",
    .description = "example FIFO queue in a fixed ring (docs/plugins.md)",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .options = example_options,
    .config_size = sizeof(struct example_config),
    .create = example_create,
    .destroy = example_destroy,
    .health = example_health,
    .queue = &example_ops,
    .validate = example_validate,
};
