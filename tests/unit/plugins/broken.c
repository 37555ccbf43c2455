/*
 * broken.c - deliberately broken plugins the loader must refuse. Built once
 * per BROKEN_* macro by Makefile.am; never installed.
 */
#include <stddef.h>

#include "flashsaled/fs_plugin.h"

static int create(const struct fs_host *host, const void *config, void **ctx,
                  char *err, size_t errlen)
{
    (void)host; (void)config; (void)err; (void)errlen;
    *ctx = NULL;
    return 0;
}

static void destroy(void *ctx) { (void)ctx; }

static enum fs_status health(void *ctx, char *detail, size_t len)
{
    (void)ctx; (void)detail; (void)len;
    return FS_OK;
}

static enum fs_status publish(void *ctx, const void *body, size_t len)
{
    (void)ctx; (void)body; (void)len;
    return FS_OK;
}

static enum fs_status consume(void *ctx, struct fs_delivery *out, size_t max,
                              size_t *n, int timeout_ms)
{
    (void)ctx; (void)out; (void)max; (void)timeout_ms;
    *n = 0;
    return FS_TIMEOUT;
}

static enum fs_status ack(void *ctx, uint64_t tag) { (void)ctx; (void)tag; return FS_OK; }

static enum fs_status nack(void *ctx, uint64_t tag, int requeue)
{
    (void)ctx; (void)tag; (void)requeue;
    return FS_OK;
}

/* Unused where BROKEN_MISSING_OP leaves it out of the table. */
__attribute__((unused)) static enum fs_status depth(void *ctx, uint64_t *out)
{
    (void)ctx;
    *out = 0;
    return FS_OK;
}

static const struct fs_queue_ops ops = {
    .publish = publish, .consume = consume, .ack = ack, .nack = nack,
#ifndef BROKEN_MISSING_OP
    .depth = depth,
#endif
};

/* BROKEN_NO_SYMBOL exports the descriptor under a misspelt name. */
#ifdef BROKEN_NO_SYMBOL
#define DESCRIPTOR fs_plugin_descriptr
#else
#define DESCRIPTOR fs_plugin_descriptor
#endif

const struct fs_plugin DESCRIPTOR = {
#ifdef BROKEN_BAD_ABI
    .abi_version = FS_PLUGIN_ABI_VERSION + 1,
#else
    .abi_version = FS_PLUGIN_ABI_VERSION,
#endif
#ifdef BROKEN_BAD_SIZE
    .struct_size = 16,
#else
    .struct_size = sizeof(struct fs_plugin),
#endif
#ifdef BROKEN_BAD_KIND
    .kind = FS_PLUGIN_STORAGE,
#else
    .kind = FS_PLUGIN_QUEUE,
#endif
    .name = "broken",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .create = create, .destroy = destroy, .health = health,
    .queue = &ops,
};
