/*
 * queue_memory.c - the in-process queue plugin: the FIFO of queue_fifo.c,
 * bounded by `capacity`, and nothing else.
 *
 * Not FS_QUEUE_DURABLE: everything is lost with the process, and the core
 * records a booking in storage before its 202 and re-publishes queued
 * bookings from storage after a restart. The `journal` plugin is the same
 * FIFO with a file behind it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "flashsaled/fs_plugin.h"
#include "queue_fifo.h"

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
    struct queue_fifo *q;
    const char *key;

    (void)host;
    *ctx = NULL;
    if (queue_memory_validate(config, &key, err, errlen) != 0)
        return -1;
    q = malloc(sizeof(*q));
    if (!q || queue_fifo_init(q, (uint64_t)(cfg ? cfg->capacity : 1000000))) {
        snprintf(err, errlen, q ? "cannot create a mutex or a monotonic "
                                  "condition variable" : "out of memory");
        free(q);
        return -1;
    }
    *ctx = q;
    return 0;
}

/* The core stops the consumer before destroy(), so nobody waits in it. */
static void queue_memory_destroy(void *ctx)
{
    if (!ctx)
        return;
    queue_fifo_destroy(ctx);
    free(ctx);
}

static enum fs_status queue_memory_health(void *ctx, char *detail, size_t len)
{
    struct queue_fifo *q = ctx;

    if (detail && len)
        snprintf(detail, len, "%llu of %llu messages",
                 (unsigned long long)queue_fifo_count(q),
                 (unsigned long long)q->capacity);
    return FS_OK;
}

static enum fs_status queue_memory_publish(void *ctx, const void *body,
                                           size_t len)
{
    return queue_fifo_publish(ctx, body, len, NULL, NULL);
}

static enum fs_status queue_memory_consume(void *ctx, struct fs_delivery *out,
                                           size_t max, size_t *n,
                                           int timeout_ms)
{
    return queue_fifo_consume(ctx, out, max, n, timeout_ms);
}

static enum fs_status queue_memory_ack(void *ctx, uint64_t tag)
{
    return queue_fifo_ack(ctx, tag, NULL, NULL);
}

static enum fs_status queue_memory_nack(void *ctx, uint64_t tag, int requeue)
{
    return queue_fifo_nack(ctx, tag, requeue, NULL, NULL);
}

static enum fs_status queue_memory_depth(void *ctx, uint64_t *out)
{
    if (!out)
        return FS_INVALID;
    *out = queue_fifo_count(ctx);
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
