/* backends.c - opens the three plugins and serializes calls into the ones
 * that are not thread-safe. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"

/* "FILE:LINE: " before a loader error, LINE the plugin name's. */
static void prefix_line(const struct fs_config *cfg, const struct fs_plugin_config *block,
                        char *err, size_t errlen)
{
    char *msg = strdup(err);

    int line = block->name_line > 0 ? block->name_line : block->line;

    if (msg && cfg->path && line > 0)
        snprintf(err, errlen, "%s:%d: %s", cfg->path, line, msg);
    free(msg);
}

int fs_backends_open(struct fs_backends *be, const struct fs_config *cfg,
                     const char *plugin_dir, char *err, size_t errlen)
{
    struct {
        struct fs_backend *b;
        enum fs_plugin_kind kind;
        const struct fs_plugin_config *block;
    } parts[] = {
        {&be->queue, FS_PLUGIN_QUEUE, &cfg->queue},
        {&be->inventory, FS_PLUGIN_INVENTORY, &cfg->inventory},
        {&be->storage, FS_PLUGIN_STORAGE, &cfg->storage},
    };

    memset(be, 0, sizeof(*be));
    for (size_t i = 0; i < 3; i++) {
        if (fs_plugin_open(parts[i].b, plugin_dir, parts[i].kind,
                           parts[i].block->name, err, errlen) != 0) {
            prefix_line(cfg, parts[i].block, err, errlen);
            goto fail;
        }
        if (fs_plugin_configure(parts[i].b, parts[i].block, cfg, err, errlen) != 0)
            goto fail;
    }
    return 0;
fail:
    fs_backends_close(be);
    return -1;
}

int fs_backends_start(struct fs_backends *be, char *err, size_t errlen)
{
    /* Storage first: it is the truth the others are rebuilt from. */
    if (fs_plugin_start(&be->storage, err, errlen) != 0 ||
        fs_plugin_start(&be->inventory, err, errlen) != 0 ||
        fs_plugin_start(&be->queue, err, errlen) != 0)
        return -1;
    return 0;
}

void fs_backends_close(struct fs_backends *be)
{
    fs_plugin_close(&be->queue);
    fs_plugin_close(&be->inventory);
    fs_plugin_close(&be->storage);
}

/* Calls ops->fn(ctx, ...) under the plugin's lock when it needs one. */
#define CALL(b, table, fn, ...)                                         \
    do {                                                                \
        enum fs_status rc_;                                             \
        if ((b)->serialize)                                             \
            pthread_mutex_lock(&(b)->lock);                             \
        rc_ = (b)->plugin->table->fn((b)->ctx, __VA_ARGS__);            \
        if ((b)->serialize)                                             \
            pthread_mutex_unlock(&(b)->lock);                           \
        return rc_;                                                     \
    } while (0)

enum fs_status fs_backend_health(struct fs_backend *b, char *detail, size_t len)
{
    enum fs_status rc;
    if (!b->ctx) {
        snprintf(detail, len, "not started");
        return FS_UNAVAILABLE;
    }
    if (b->serialize)
        pthread_mutex_lock(&b->lock);
    rc = b->plugin->health(b->ctx, detail, len);
    if (b->serialize)
        pthread_mutex_unlock(&b->lock);
    return rc;
}

enum fs_status fs_queue_publish(struct fs_backends *be, const void *body, size_t len)
{
    CALL(&be->queue, queue, publish, body, len);
}

enum fs_status fs_queue_consume(struct fs_backends *be, struct fs_delivery *out,
                                size_t max, size_t *n, int timeout_ms)
{
    /* A queue plugin that is not thread-safe keeps its lock through the
     * consume wait, so publishers wait too: docs/plugins.md says so. */
    CALL(&be->queue, queue, consume, out, max, n, timeout_ms);
}

enum fs_status fs_queue_ack(struct fs_backends *be, uint64_t tag)
{
    CALL(&be->queue, queue, ack, tag);
}

enum fs_status fs_queue_nack(struct fs_backends *be, uint64_t tag, int requeue)
{
    CALL(&be->queue, queue, nack, tag, requeue);
}

enum fs_status fs_queue_depth(struct fs_backends *be, uint64_t *out)
{
    CALL(&be->queue, queue, depth, out);
}

enum fs_status fs_inventory_counts(struct fs_backends *be, const char *sale,
                                   struct fs_sale_counts *out)
{
    CALL(&be->inventory, inventory, counts, sale, out);
}

enum fs_status fs_inventory_rebuild(struct fs_backends *be, const char *sale,
                                    int64_t inventory, const struct fs_hold *e,
                                    size_t n)
{
    CALL(&be->inventory, inventory, rebuild, sale, inventory, e, n);
}

enum fs_status fs_inventory_reserve(struct fs_backends *be, const char *sale,
                                    const char *user, const char *booking,
                                    int64_t expires_ms,
                                    char existing[FS_ID_MAX + 1])
{
    CALL(&be->inventory, inventory, reserve, sale, user, booking, expires_ms,
         existing);
}

enum fs_status fs_inventory_confirm(struct fs_backends *be, const char *sale,
                                    const char *booking, int64_t now_ms)
{
    CALL(&be->inventory, inventory, confirm, sale, booking, now_ms);
}

enum fs_status fs_inventory_release(struct fs_backends *be, const char *sale,
                                    const char *booking)
{
    CALL(&be->inventory, inventory, release, sale, booking);
}

enum fs_status fs_inventory_expire_due(struct fs_backends *be, const char *sale,
                                       int64_t now_ms, struct fs_hold *out,
                                       size_t max, size_t *n)
{
    CALL(&be->inventory, inventory, expire_due, sale, now_ms, out, max, n);
}

enum fs_status fs_inventory_lookup(struct fs_backends *be, const char *sale,
                                   const char *booking, struct fs_hold *out)
{
    CALL(&be->inventory, inventory, lookup, sale, booking, out);
}

enum fs_status fs_inventory_set(struct fs_backends *be, const char *sale,
                                int64_t inventory)
{
    CALL(&be->inventory, inventory, set_inventory, sale, inventory);
}

enum fs_status fs_inventory_find_user(struct fs_backends *be, const char *sale,
                                      const char *user,
                                      char booking[FS_ID_MAX + 1])
{
    CALL(&be->inventory, inventory, find_user, sale, user, booking);
}

int fs_inventory_has_claims(const struct fs_backends *be)
{
    return be->inventory.plugin && be->inventory.plugin->claims != NULL;
}

int fs_inventory_in_process(const struct fs_backends *be)
{
    return be->inventory.plugin &&
           (be->inventory.plugin->flags & FS_PLUGIN_IN_PROCESS) != 0;
}

enum fs_status fs_inventory_claim(struct fs_backends *be, const char *sale,
                                  const char *user, const char *booking,
                                  int64_t lease_until_ms,
                                  char existing[FS_ID_MAX + 1])
{
    CALL(&be->inventory, claims, claim, sale, user, booking, lease_until_ms,
         existing);
}

enum fs_status fs_inventory_claim_durable(struct fs_backends *be,
                                          const char *sale,
                                          const char *const *bookings, size_t n,
                                          enum fs_status *results)
{
    CALL(&be->inventory, claims, claim_durable, sale, bookings, n, results);
}

enum fs_status fs_inventory_claim_to_hold(struct fs_backends *be,
                                          const char *sale, const char *booking,
                                          int64_t expires_ms)
{
    CALL(&be->inventory, claims, claim_to_hold, sale, booking, expires_ms);
}

enum fs_status fs_inventory_claim_expire(struct fs_backends *be,
                                         const char *sale, int64_t now_ms,
                                         struct fs_hold *out, size_t max,
                                         size_t *n)
{
    CALL(&be->inventory, claims, claim_expire, sale, now_ms, out, max, n);
}

/* Bytes past the table's struct_size are not ours to read: a plugin built
 * before list_durable was appended has none. */
int fs_inventory_can_list_durable(const struct fs_backends *be)
{
    const struct fs_claim_ops *c =
        be->inventory.plugin ? be->inventory.plugin->claims : NULL;

    return c &&
           c->struct_size >= offsetof(struct fs_claim_ops, list_durable) +
                                 sizeof(c->list_durable) &&
           c->list_durable != NULL;
}

enum fs_status fs_inventory_list_durable(struct fs_backends *be,
                                         const char *sale,
                                         int (*cb)(void *arg,
                                                   const struct fs_hold *c),
                                         void *arg)
{
    CALL(&be->inventory, claims, list_durable, sale, cb, arg);
}

int fs_inventory_has_changes(const struct fs_backends *be)
{
    return be->inventory.plugin && fs_plugin_changes(be->inventory.plugin);
}

/* Like CALL, for the change table, read through fs_plugin_changes(). */
#define CALL_CHANGES(b, fn, ...)                                        \
    do {                                                                \
        enum fs_status rc_;                                             \
        if ((b)->serialize)                                             \
            pthread_mutex_lock(&(b)->lock);                             \
        rc_ = fs_plugin_changes((b)->plugin)->fn((b)->ctx, __VA_ARGS__); \
        if ((b)->serialize)                                             \
            pthread_mutex_unlock(&(b)->lock);                           \
        return rc_;                                                     \
    } while (0)

enum fs_status fs_inventory_watch(struct fs_backends *be,
                                  const struct fs_change_hooks *hooks)
{
    CALL_CHANGES(&be->inventory, watch, hooks);
}

/* Not under the plugin's lock: it waits for the plugin's thread, which may
 * be in a hook that the core serves without calling back. */
void fs_inventory_unwatch(struct fs_backends *be)
{
    fs_plugin_changes(be->inventory.plugin)->unwatch(be->inventory.ctx);
}

enum fs_status fs_inventory_sync(struct fs_backends *be,
                                 const char *const *sales, size_t n,
                                 int with_holders)
{
    CALL_CHANGES(&be->inventory, sync, sales, n, with_holders);
}

enum fs_status fs_inventory_announce(struct fs_backends *be,
                                     const char *const *bookings, size_t n)
{
    CALL_CHANGES(&be->inventory, announce, bookings, n);
}

enum fs_status fs_storage_insert(struct fs_backends *be, const struct fs_booking *b,
                                 char existing[FS_ID_MAX + 1])
{
    CALL(&be->storage, storage, insert, b, existing);
}

int fs_storage_has_batch(const struct fs_backends *be)
{
    return be->storage.plugin &&
           fs_plugin_storage_batch(be->storage.plugin) != NULL;
}

enum fs_status fs_storage_insert_many(struct fs_backends *be,
                                      const struct fs_booking *b, size_t n,
                                      enum fs_status *results)
{
    const struct fs_storage_batch_ops *o =
        be->storage.plugin ? fs_plugin_storage_batch(be->storage.plugin) : NULL;
    enum fs_status rc;

    if (!o)
        return FS_ERROR;
    if (be->storage.serialize)
        pthread_mutex_lock(&be->storage.lock);
    rc = o->insert_many(be->storage.ctx, b, n, results);
    if (be->storage.serialize)
        pthread_mutex_unlock(&be->storage.lock);
    return rc;
}

enum fs_status fs_storage_transition(struct fs_backends *be,
                                     const struct fs_transition *t, size_t n,
                                     enum fs_status *results,
                                     enum fs_booking_state *current)
{
    CALL(&be->storage, storage, transition, t, n, results, current);
}

enum fs_status fs_storage_transition1(struct fs_backends *be,
                                      const struct fs_transition *t,
                                      enum fs_booking_state *current)
{
    enum fs_status result = FS_ERROR;
    enum fs_booking_state now = FS_STATE_NONE;
    enum fs_status rc = fs_storage_transition(be, t, 1, &result, &now);
    if (rc != FS_OK)
        return rc;
    if (current)
        *current = now;
    return result;
}

enum fs_status fs_storage_get(struct fs_backends *be, const char *booking,
                              struct fs_booking *out)
{
    CALL(&be->storage, storage, get, booking, out);
}

enum fs_status fs_storage_list(struct fs_backends *be, const char *sale,
                               enum fs_booking_state state,
                               int (*cb)(void *arg, const struct fs_booking *b),
                               void *arg)
{
    CALL(&be->storage, storage, list, sale, state, cb, arg);
}
