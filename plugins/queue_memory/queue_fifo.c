/*
 * queue_fifo.c - the embedded queues' FIFO: see queue_fifo.h.
 */
#define HASH_NONFATAL_OOM 1

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utlist.h>

#include "queue_fifo.h"

int queue_fifo_cond_init(pthread_cond_t *cond)
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

int queue_fifo_init(struct queue_fifo *f, uint64_t capacity)
{
    memset(f, 0, sizeof(*f));
    if (pthread_mutex_init(&f->lock, NULL) != 0)
        return -1;
    if (queue_fifo_cond_init(&f->arrived) != 0) {
        pthread_mutex_destroy(&f->lock);
        return -1;
    }
    f->capacity = capacity;
    f->next_tag = 1;
    return 0;
}

void queue_fifo_destroy(struct queue_fifo *f)
{
    struct queue_fifo_msg *m, *tmp;

    DL_FOREACH_SAFE(f->waiting, m, tmp) {
        DL_DELETE(f->waiting, m);
        free(m);
    }
    HASH_ITER(hh, f->unacked, m, tmp) {
        HASH_DEL(f->unacked, m);
        free(m);
    }
    f->count = 0;
    pthread_cond_destroy(&f->arrived);
    pthread_mutex_destroy(&f->lock);
}

static struct queue_fifo_msg *fifo_msg_new(const void *body, size_t len)
{
    struct queue_fifo_msg *m = malloc(sizeof(*m) + len);

    if (!m)
        return NULL;
    m->redelivered = 0;
    m->len = len;
    if (len)
        memcpy(m->body, body, len);
    return m;
}

enum fs_status queue_fifo_publish(struct queue_fifo *f, const void *body,
                                  size_t len, queue_fifo_hook hook, void *arg)
{
    struct queue_fifo_msg *m;
    enum fs_status st = FS_OK;

    if (len > FS_MESSAGE_MAX || (len && !body))
        return FS_INVALID;
    /* Copy outside the lock: publishers contend only for the list splice. */
    m = fifo_msg_new(body, len);
    if (!m)
        return FS_UNAVAILABLE;

    pthread_mutex_lock(&f->lock);
    if (f->count >= f->capacity || (hook && hook(arg, f->next_tag, body, len))) {
        st = FS_UNAVAILABLE;
    } else {
        m->tag = f->next_tag++;
        DL_APPEND(f->waiting, m);
        f->count++;
        pthread_cond_signal(&f->arrived);
        m = NULL;
    }
    pthread_mutex_unlock(&f->lock);
    free(m);
    return st;
}

enum fs_status queue_fifo_restore(struct queue_fifo *f, uint64_t tag,
                                  const void *body, size_t len)
{
    struct queue_fifo_msg *m;

    if (len > FS_MESSAGE_MAX || (len && !body))
        return FS_INVALID;
    m = fifo_msg_new(body, len);
    if (!m)
        return FS_ERROR;
    m->tag = tag;
    m->redelivered = 1;  /* it may have been handed out before */
    pthread_mutex_lock(&f->lock);
    DL_APPEND(f->waiting, m);
    f->count++;
    if (tag >= f->next_tag)
        f->next_tag = tag + 1;
    pthread_cond_signal(&f->arrived);
    pthread_mutex_unlock(&f->lock);
    return FS_OK;
}

struct timespec queue_fifo_deadline(int64_t timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Called with the lock held: moves the head of the waiting list to the
 * unacked table and copies it out. Fails only if the table cannot grow. */
static int fifo_deliver_head(struct queue_fifo *f, struct fs_delivery *out)
{
    struct queue_fifo_msg *m = f->waiting;

    DL_DELETE(f->waiting, m);
    HASH_ADD(hh, f->unacked, tag, sizeof(m->tag), m);
    if (!m->hh.tbl) {
        DL_PREPEND(f->waiting, m);
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
enum fs_status queue_fifo_consume(struct queue_fifo *f,
                                  struct fs_delivery *out, size_t max,
                                  size_t *n, int timeout_ms)
{
    struct timespec deadline;
    enum fs_status st;
    size_t got = 0;

    if (n)
        *n = 0;
    if (!out || !n || max == 0)
        return FS_INVALID;
    deadline = queue_fifo_deadline(timeout_ms > 0 ? timeout_ms : 0);

    pthread_mutex_lock(&f->lock);
    while (!f->waiting) {
        if (pthread_cond_timedwait(&f->arrived, &f->lock, &deadline) ==
            ETIMEDOUT)
            break;
    }
    while (f->waiting && got < max) {
        if (fifo_deliver_head(f, &out[got]) != 0)
            break;
        got++;
    }
    /* Messages there but none handed out: the unacked table ran out of
     * memory. */
    st = got ? FS_OK : f->waiting ? FS_UNAVAILABLE : FS_TIMEOUT;
    pthread_mutex_unlock(&f->lock);

    *n = got;
    return st;
}

/* Called with the lock held: takes the unacknowledged message out of the
 * table once the hook agreed. NULL when unknown or refused (*refused). */
static struct queue_fifo_msg *fifo_take_unacked(struct queue_fifo *f,
                                                uint64_t tag,
                                                queue_fifo_hook hook,
                                                void *arg, int *refused)
{
    struct queue_fifo_msg *m;

    *refused = 0;
    HASH_FIND(hh, f->unacked, &tag, sizeof(tag), m);
    if (m && hook && hook(arg, tag, NULL, 0)) {
        *refused = 1;
        return NULL;
    }
    if (m)
        HASH_DEL(f->unacked, m);
    return m;
}

enum fs_status queue_fifo_ack(struct queue_fifo *f, uint64_t tag,
                              queue_fifo_hook hook, void *arg)
{
    struct queue_fifo_msg *m;
    int refused;

    pthread_mutex_lock(&f->lock);
    m = fifo_take_unacked(f, tag, hook, arg, &refused);
    if (m)
        f->count--;
    pthread_mutex_unlock(&f->lock);
    free(m);
    return m ? FS_OK : refused ? FS_UNAVAILABLE : FS_NOT_FOUND;
}

/* Called with the lock held. Requeued messages sit at the head, sorted by
 * tag, and every fresh message has a larger tag, so this walk is bounded by
 * the number of requeued messages, not by the queue's length. */
static void fifo_requeue(struct queue_fifo *f, struct queue_fifo_msg *m)
{
    struct queue_fifo_msg *at = f->waiting;

    m->redelivered = 1;
    while (at && at->tag < m->tag)
        at = at->next;
    if (!at)
        DL_APPEND(f->waiting, m);
    else if (at == f->waiting)
        DL_PREPEND(f->waiting, m);
    else
        DL_PREPEND_ELEM(f->waiting, at, m);
    pthread_cond_signal(&f->arrived);
}

enum fs_status queue_fifo_nack(struct queue_fifo *f, uint64_t tag,
                               int requeue, queue_fifo_hook hook, void *arg)
{
    struct queue_fifo_msg *m;
    int refused;

    pthread_mutex_lock(&f->lock);
    m = fifo_take_unacked(f, tag, requeue ? NULL : hook, arg, &refused);
    if (m && requeue) {
        fifo_requeue(f, m);
    } else if (m) {
        f->count--;
        free(m);
    }
    pthread_mutex_unlock(&f->lock);
    return m ? FS_OK : refused ? FS_UNAVAILABLE : FS_NOT_FOUND;
}

uint64_t queue_fifo_count(struct queue_fifo *f)
{
    uint64_t count;

    pthread_mutex_lock(&f->lock);
    count = f->count;
    pthread_mutex_unlock(&f->lock);
    return count;
}
