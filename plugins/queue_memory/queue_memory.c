/*
 * queue_memory.c - the embedded queue plugin: an in-process FIFO of copied
 * messages, bounded by `capacity`.
 *
 * It owns every message from publish() until ack() or a nack() without
 * requeue. Messages live in one of two places, both guarded by one mutex:
 * the waiting list (FIFO, a doubly linked list so that a requeued message can
 * go back to the head) and the unacknowledged table (uthash keyed by tag).
 *
 * Not FS_QUEUE_DURABLE: everything is lost with the process, and the core
 * re-publishes queued bookings from storage after a restart.
 *
 * A message's tag is its publish sequence number and never changes, so the
 * waiting list stays sorted by tag: a requeued message is put back before
 * every message published after it, and several requeued messages keep the
 * order in which they were first published (fairness, DESIGN.md 4.6).
 */
#define HASH_NONFATAL_OOM 1

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>
#include <utlist.h>

#include "flashsaled/fs_plugin.h"

#define QUEUE_MEMORY_NAME "memory"

struct queue_memory_config {
    int64_t capacity;
};

static const struct fs_option queue_memory_options[] = {
    {FS_OPT_INT, "capacity", "1000000",
     offsetof(struct queue_memory_config, capacity),
     "messages held at most (waiting plus unacknowledged); publish answers "
     "unavailable beyond it, so memory stays bounded"},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

struct queue_memory_msg {
    uint64_t tag;
    int redelivered;
    struct queue_memory_msg *prev, *next;  /* waiting list (utlist DL) */
    UT_hash_handle hh;                     /* unacked table, key `tag` */
    size_t len;
    char body[];
};

struct queue_memory {
    pthread_mutex_t lock;
    pthread_cond_t arrived;  /* signalled when the waiting list grows */
    struct queue_memory_msg *waiting;
    struct queue_memory_msg *unacked;
    uint64_t count;  /* waiting + unacked */
    uint64_t capacity;
    uint64_t next_tag;
};

static void queue_memory_free_all(struct queue_memory *q)
{
    struct queue_memory_msg *m, *tmp;

    DL_FOREACH_SAFE(q->waiting, m, tmp) {
        DL_DELETE(q->waiting, m);
        free(m);
    }
    HASH_ITER(hh, q->unacked, m, tmp) {
        HASH_DEL(q->unacked, m);
        free(m);
    }
    q->count = 0;
}

static int queue_memory_init_cond(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    /* Waits must not stretch or shrink when the wall clock is set. */
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

/* The descriptor's validate, and create()'s first step: no I/O. */
static int queue_memory_validate(const void *config, const char **key,
                                 char *err, size_t errlen)
{
    const struct queue_memory_config *cfg = config;
    int64_t capacity = cfg ? cfg->capacity : 1000000;

    *key = NULL;
    if (capacity >= 1)
        return 0;
    *key = "capacity";
    snprintf(err, errlen, "capacity must be at least 1, not %lld",
             (long long)capacity);
    return -1;
}

static int queue_memory_create(const struct fs_host *host, const void *config,
                               void **ctx, char *err, size_t errlen)
{
    const struct queue_memory_config *cfg = config;
    struct queue_memory *q = NULL;
    int64_t capacity = cfg ? cfg->capacity : 1000000;
    int mutex_ready = 0;

    const char *key;

    (void)host;
    *ctx = NULL;
    if (queue_memory_validate(config, &key, err, errlen) != 0)
        goto fail;
    q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create a mutex");
        goto fail;
    }
    mutex_ready = 1;
    if (queue_memory_init_cond(&q->arrived) != 0) {
        snprintf(err, errlen, "cannot create a monotonic condition variable");
        goto fail;
    }
    q->capacity = (uint64_t)capacity;
    q->next_tag = 1;
    *ctx = q;
    return 0;

fail:
    if (mutex_ready)
        pthread_mutex_destroy(&q->lock);
    free(q);
    return -1;
}

/* The core stops the consumer before destroy(), so nobody waits on the
 * condition variable here and there is nobody to wake. */
static void queue_memory_destroy(void *ctx)
{
    struct queue_memory *q = ctx;

    if (!q)
        return;
    queue_memory_free_all(q);
    pthread_cond_destroy(&q->arrived);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static enum fs_status queue_memory_health(void *ctx, char *detail, size_t len)
{
    struct queue_memory *q = ctx;
    uint64_t count;

    pthread_mutex_lock(&q->lock);
    count = q->count;
    pthread_mutex_unlock(&q->lock);
    if (detail && len)
        snprintf(detail, len, "%llu of %llu messages",
                 (unsigned long long)count,
                 (unsigned long long)q->capacity);
    return FS_OK;
}

static enum fs_status queue_memory_publish(void *ctx, const void *body,
                                           size_t len)
{
    struct queue_memory *q = ctx;
    struct queue_memory_msg *m;
    enum fs_status st = FS_OK;

    if (len > FS_MESSAGE_MAX || (len && !body))
        return FS_INVALID;
    /* Copy outside the lock: publishers contend only for the list splice. */
    m = malloc(sizeof(*m) + len);
    if (!m)
        return FS_UNAVAILABLE;
    m->redelivered = 0;
    m->len = len;
    if (len)
        memcpy(m->body, body, len);

    pthread_mutex_lock(&q->lock);
    if (q->count >= q->capacity) {
        st = FS_UNAVAILABLE;
    } else {
        m->tag = q->next_tag++;
        DL_APPEND(q->waiting, m);
        q->count++;
        pthread_cond_signal(&q->arrived);
        m = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    free(m);
    return st;
}

/* Absolute CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec queue_memory_deadline(int timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Called with the lock held: moves the head of the waiting list to the
 * unacked table and copies it out. Fails only if the table cannot grow. */
static int queue_memory_deliver_head(struct queue_memory *q,
                                     struct fs_delivery *out)
{
    struct queue_memory_msg *m = q->waiting;

    DL_DELETE(q->waiting, m);
    HASH_ADD(hh, q->unacked, tag, sizeof(m->tag), m);
    if (!m->hh.tbl) {
        DL_PREPEND(q->waiting, m);
        return -1;
    }
    out->tag = m->tag;
    out->redelivered = m->redelivered;
    out->len = m->len;
    memcpy(out->body, m->body, m->len);
    return 0;
}

/* A negative timeout_ms is taken as zero: never wait forever, so that the
 * consumer thread always gets back to checking whether it should stop. */
static enum fs_status queue_memory_consume(void *ctx, struct fs_delivery *out,
                                           size_t max, size_t *n,
                                           int timeout_ms)
{
    struct queue_memory *q = ctx;
    struct timespec deadline;
    enum fs_status st;
    size_t got = 0;

    if (n)
        *n = 0;
    if (!out || !n || max == 0)
        return FS_INVALID;
    deadline = queue_memory_deadline(timeout_ms > 0 ? timeout_ms : 0);

    pthread_mutex_lock(&q->lock);
    while (!q->waiting) {
        if (pthread_cond_timedwait(&q->arrived, &q->lock, &deadline) ==
            ETIMEDOUT)
            break;
    }
    while (q->waiting && got < max) {
        if (queue_memory_deliver_head(q, &out[got]) != 0)
            break;
        got++;
    }
    /* Messages there but none handed out: the unacked table ran out of
     * memory. */
    st = got ? FS_OK : q->waiting ? FS_UNAVAILABLE : FS_TIMEOUT;
    pthread_mutex_unlock(&q->lock);

    *n = got;
    return st;
}

static enum fs_status queue_memory_ack(void *ctx, uint64_t tag)
{
    struct queue_memory *q = ctx;
    struct queue_memory_msg *m;

    pthread_mutex_lock(&q->lock);
    HASH_FIND(hh, q->unacked, &tag, sizeof(tag), m);
    if (m) {
        HASH_DEL(q->unacked, m);
        q->count--;
    }
    pthread_mutex_unlock(&q->lock);
    free(m);
    return m ? FS_OK : FS_NOT_FOUND;
}

/* Called with the lock held. Requeued messages sit at the head, sorted by
 * tag, and every fresh message has a larger tag, so this walk is bounded by
 * the number of requeued messages, not by the queue's length. */
static void queue_memory_requeue(struct queue_memory *q,
                                 struct queue_memory_msg *m)
{
    struct queue_memory_msg *at = q->waiting;

    m->redelivered = 1;
    while (at && at->tag < m->tag)
        at = at->next;
    if (!at)
        DL_APPEND(q->waiting, m);
    else if (at == q->waiting)
        DL_PREPEND(q->waiting, m);
    else
        DL_PREPEND_ELEM(q->waiting, at, m);
    pthread_cond_signal(&q->arrived);
}

static enum fs_status queue_memory_nack(void *ctx, uint64_t tag, int requeue)
{
    struct queue_memory *q = ctx;
    struct queue_memory_msg *m;

    pthread_mutex_lock(&q->lock);
    HASH_FIND(hh, q->unacked, &tag, sizeof(tag), m);
    if (m) {
        HASH_DEL(q->unacked, m);
        if (requeue) {
            queue_memory_requeue(q, m);
        } else {
            q->count--;
            free(m);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return m ? FS_OK : FS_NOT_FOUND;
}

static enum fs_status queue_memory_depth(void *ctx, uint64_t *out)
{
    struct queue_memory *q = ctx;

    if (!out)
        return FS_INVALID;
    pthread_mutex_lock(&q->lock);
    *out = q->count;
    pthread_mutex_unlock(&q->lock);
    return FS_OK;
}

static const struct fs_queue_ops queue_memory_ops = {
    .publish = queue_memory_publish,
    .consume = queue_memory_consume,
    .ack = queue_memory_ack,
    .nack = queue_memory_nack,
    .depth = queue_memory_depth,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_QUEUE,
    .name = QUEUE_MEMORY_NAME,
    .description = "in-process FIFO, bounded, lost on restart (the core "
                   "re-publishes queued bookings from storage)",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .options = queue_memory_options,
    .config_size = sizeof(struct queue_memory_config),
    .create = queue_memory_create,
    .destroy = queue_memory_destroy,
    .health = queue_memory_health,
    .queue = &queue_memory_ops,
    .validate = queue_memory_validate,
};
