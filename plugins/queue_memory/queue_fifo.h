/*
 * queue_fifo.h - the in-process FIFO that both embedded queue plugins hold
 * their messages in: `memory` (nothing else) and `journal` (the same FIFO,
 * every change also appended to a file; plugins/queue_journal).
 *
 * It owns every message from publish until ack or a nack without requeue.
 * Messages live in one of two places, both guarded by one mutex: the
 * waiting list (FIFO, doubly linked so that a requeued message can go back
 * to the head) and the unacknowledged table (uthash keyed by tag).
 *
 * A message's tag is its publish sequence number and never changes, so the
 * waiting list stays sorted by tag: a requeued message is put back before
 * every message published after it, and several requeued messages keep the
 * order in which they were first published (fairness, DESIGN.md 4.6).
 *
 * The hooks run under the FIFO's lock, so that whatever they record (the
 * journal's file) is in the same order as the FIFO itself.
 */
#ifndef QUEUE_FIFO_H
#define QUEUE_FIFO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uthash.h>

#include "flashsaled/fs_plugin.h"

struct queue_fifo_msg {
    uint64_t tag;
    int redelivered;
    struct queue_fifo_msg *prev, *next;  /* waiting list (utlist DL) */
    UT_hash_handle hh;                   /* unacked table, key `tag` */
    size_t len;
    char body[];
};

struct queue_fifo {
    pthread_mutex_t lock;
    pthread_cond_t arrived;  /* signalled when the waiting list grows */
    struct queue_fifo_msg *waiting;
    struct queue_fifo_msg *unacked;
    uint64_t count;  /* waiting + unacked */
    uint64_t capacity;
    uint64_t next_tag;
};

/* Runs under the lock with the message's tag; nonzero refuses the change. */
typedef int (*queue_fifo_hook)(void *arg, uint64_t tag, const void *body,
                               size_t len);

int queue_fifo_init(struct queue_fifo *f, uint64_t capacity);
/* A condition variable whose timed waits run on CLOCK_MONOTONIC (they must
 * not stretch or shrink when the wall clock is set), and the absolute
 * deadline timeout_ms from now on that clock: the FIFO's waits and the
 * journal's sync thread use both. */
int queue_fifo_cond_init(pthread_cond_t *cond);
struct timespec queue_fifo_deadline(int64_t timeout_ms);
/* Frees every message; nobody may be waiting in consume(). */
void queue_fifo_destroy(struct queue_fifo *f);

/* Appends a copy of body with the next tag. FS_UNAVAILABLE when full, out
 * of memory, or when `hook` (may be NULL) refused. */
enum fs_status queue_fifo_publish(struct queue_fifo *f, const void *body,
                                  size_t len, queue_fifo_hook hook, void *arg);
/* Appends a message read back from storage with its old tag, marked
 * redelivered; later tags continue after it. Not bounded by capacity. */
enum fs_status queue_fifo_restore(struct queue_fifo *f, uint64_t tag,
                                  const void *body, size_t len);
/* Up to `max` deliveries in FIFO order, waiting at most timeout_ms. */
enum fs_status queue_fifo_consume(struct queue_fifo *f,
                                  struct fs_delivery *out, size_t max,
                                  size_t *n, int timeout_ms);
/* Forgets the message; `hook` (may be NULL) runs first, and a refusal
 * leaves it unacknowledged. */
enum fs_status queue_fifo_ack(struct queue_fifo *f, uint64_t tag,
                              queue_fifo_hook hook, void *arg);
/* requeue != 0: back to the head, by tag; else forgotten like ack(). */
enum fs_status queue_fifo_nack(struct queue_fifo *f, uint64_t tag,
                               int requeue, queue_fifo_hook hook, void *arg);
uint64_t queue_fifo_count(struct queue_fifo *f);

#endif
