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

/* Unused where BROKEN_HALF_CLAIMS makes an inventory plugin instead. */
__attribute__((unused)) static const struct fs_queue_ops ops = {
    .publish = publish, .consume = consume, .ack = ack, .nack = nack,
#ifndef BROKEN_MISSING_OP
    .depth = depth,
#endif
};

#if defined(BROKEN_HALF_CLAIMS) || defined(BROKEN_HALF_CHANGES)
/* An inventory plugin whose claims table lacks claim_expire: the loader
 * must refuse it, since the daemon would take claims nobody gives back.
 * BROKEN_HALF_CHANGES: no claims, and a change feed without announce. */
static enum fs_status inv_any(void)
{
    return FS_ERROR;
}

#define INV_OP(type) ((type)(void (*)(void))inv_any)
static const struct fs_inventory_ops inv_ops = {
    .counts = INV_OP(enum fs_status (*)(void *, const char *,
                                        struct fs_sale_counts *)),
    .rebuild = INV_OP(enum fs_status (*)(void *, const char *, int64_t,
                                         const struct fs_hold *, size_t)),
    .reserve = INV_OP(enum fs_status (*)(void *, const char *, const char *,
                                         const char *, int64_t, char *)),
    .confirm = INV_OP(enum fs_status (*)(void *, const char *, const char *,
                                         int64_t)),
    .release = INV_OP(enum fs_status (*)(void *, const char *, const char *)),
    .expire_due = INV_OP(enum fs_status (*)(void *, const char *, int64_t,
                                            struct fs_hold *, size_t, size_t *)),
    .lookup = INV_OP(enum fs_status (*)(void *, const char *, const char *,
                                        struct fs_hold *)),
    .set_inventory = INV_OP(enum fs_status (*)(void *, const char *, int64_t)),
    .find_user = INV_OP(enum fs_status (*)(void *, const char *, const char *,
                                           char *)),
};

__attribute__((unused)) static const struct fs_claim_ops half_claims = {
    .struct_size = sizeof(struct fs_claim_ops),
    .claim = INV_OP(enum fs_status (*)(void *, const char *, const char *,
                                       const char *, int64_t, char *)),
    .claim_durable = INV_OP(enum fs_status (*)(void *, const char *,
                                               const char *const *, size_t,
                                               enum fs_status *)),
    .claim_to_hold = INV_OP(enum fs_status (*)(void *, const char *,
                                               const char *, int64_t)),
};

__attribute__((unused)) static const struct fs_change_ops half_changes = {
    .struct_size = sizeof(struct fs_change_ops),
    .watch = INV_OP(enum fs_status (*)(void *,
                                       const struct fs_change_hooks *)),
    .unwatch = (void (*)(void *))(void (*)(void))inv_any,
    .sync = INV_OP(enum fs_status (*)(void *, const char *const *, size_t,
                                      int)),
};
#endif

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
#if defined(BROKEN_BAD_KIND)
    .kind = FS_PLUGIN_STORAGE,
#elif defined(BROKEN_HALF_CLAIMS) || defined(BROKEN_HALF_CHANGES)
    .kind = FS_PLUGIN_INVENTORY,
#else
    .kind = FS_PLUGIN_QUEUE,
#endif
    .name = "broken",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .create = create, .destroy = destroy, .health = health,
#if defined(BROKEN_HALF_CLAIMS)
    .inventory = &inv_ops,
    .claims = &half_claims,
#elif defined(BROKEN_HALF_CHANGES)
    .inventory = &inv_ops,
    .changes = &half_changes,
#else
    .queue = &ops,
#endif
};
