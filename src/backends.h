/*
 * backends.h - the three loaded plugins and the only way the core calls them.
 *
 * Each wrapper takes the plugin's lock when the plugin is not thread-safe, so
 * callers never need to know. Nothing here retries: callers decide.
 */
#ifndef FS_BACKENDS_H
#define FS_BACKENDS_H

#include "plugin_loader.h"

struct fs_backends {
    struct fs_backend queue;
    struct fs_backend inventory;
    struct fs_backend storage;
};

/* Opens and configures all three (what --check-config does). */
int fs_backends_open(struct fs_backends *be, const struct fs_config *cfg,
                     const char *plugin_dir, char *err, size_t errlen);
/* Starts (create()) all three. */
int fs_backends_start(struct fs_backends *be, char *err, size_t errlen);
void fs_backends_close(struct fs_backends *be);

enum fs_status fs_backend_health(struct fs_backend *b, char *detail, size_t len);

enum fs_status fs_queue_publish(struct fs_backends *be, const void *body, size_t len);
enum fs_status fs_queue_consume(struct fs_backends *be, struct fs_delivery *out,
                                size_t max, size_t *n, int timeout_ms);
enum fs_status fs_queue_ack(struct fs_backends *be, uint64_t tag);
enum fs_status fs_queue_nack(struct fs_backends *be, uint64_t tag, int requeue);
enum fs_status fs_queue_depth(struct fs_backends *be, uint64_t *out);

enum fs_status fs_inventory_counts(struct fs_backends *be, const char *sale,
                                   struct fs_sale_counts *out);
enum fs_status fs_inventory_rebuild(struct fs_backends *be, const char *sale,
                                    int64_t inventory, const struct fs_hold *e,
                                    size_t n);
enum fs_status fs_inventory_reserve(struct fs_backends *be, const char *sale,
                                    const char *user, const char *booking,
                                    int64_t expires_ms,
                                    char existing[FS_ID_MAX + 1]);
enum fs_status fs_inventory_confirm(struct fs_backends *be, const char *sale,
                                    const char *booking, int64_t now_ms);
enum fs_status fs_inventory_release(struct fs_backends *be, const char *sale,
                                    const char *booking);
enum fs_status fs_inventory_expire_due(struct fs_backends *be, const char *sale,
                                       int64_t now_ms, struct fs_hold *out,
                                       size_t max, size_t *n);
enum fs_status fs_inventory_lookup(struct fs_backends *be, const char *sale,
                                   const char *booking, struct fs_hold *out);
enum fs_status fs_inventory_set(struct fs_backends *be, const char *sale,
                                int64_t inventory);
enum fs_status fs_inventory_find_user(struct fs_backends *be, const char *sale,
                                      const char *user,
                                      char booking[FS_ID_MAX + 1]);

/* Claims (fs_plugin.h): 1 when the inventory plugin offers them. */
int fs_inventory_has_claims(const struct fs_backends *be);
/* FS_PLUGIN_IN_PROCESS: no round trip to batch calls for. */
int fs_inventory_in_process(const struct fs_backends *be);
/* 1 when the inventory's claim table has list_durable (claim_audit.h). */
int fs_inventory_can_list_durable(const struct fs_backends *be);
/* cb runs under the plugin's lock when the plugin is not thread-safe: it
 * must not call the inventory. */
enum fs_status fs_inventory_list_durable(struct fs_backends *be,
                                         const char *sale,
                                         int (*cb)(void *arg,
                                                   const struct fs_hold *c),
                                         void *arg);
enum fs_status fs_inventory_claim(struct fs_backends *be, const char *sale,
                                  const char *user, const char *booking,
                                  int64_t lease_until_ms,
                                  char existing[FS_ID_MAX + 1]);
enum fs_status fs_inventory_claim_durable(struct fs_backends *be,
                                          const char *sale,
                                          const char *const *bookings, size_t n,
                                          enum fs_status *results);
enum fs_status fs_inventory_claim_to_hold(struct fs_backends *be,
                                          const char *sale, const char *booking,
                                          int64_t expires_ms);
enum fs_status fs_inventory_claim_expire(struct fs_backends *be,
                                         const char *sale, int64_t now_ms,
                                         struct fs_hold *out, size_t max,
                                         size_t *n);

/* The change feed (fs_plugin.h): 1 when the inventory plugin offers it. */
int fs_inventory_has_changes(const struct fs_backends *be);
enum fs_status fs_inventory_watch(struct fs_backends *be,
                                  const struct fs_change_hooks *hooks);
void fs_inventory_unwatch(struct fs_backends *be);
enum fs_status fs_inventory_sync(struct fs_backends *be,
                                 const char *const *sales, size_t n,
                                 int with_holders);
enum fs_status fs_inventory_announce(struct fs_backends *be,
                                     const char *const *bookings, size_t n);

enum fs_status fs_storage_insert(struct fs_backends *be, const struct fs_booking *b,
                                 char existing[FS_ID_MAX + 1]);
/* Batch records (fs_plugin.h): 1 when the storage plugin offers them. */
int fs_storage_has_batch(const struct fs_backends *be);
enum fs_status fs_storage_insert_many(struct fs_backends *be,
                                      const struct fs_booking *b, size_t n,
                                      enum fs_status *results);
enum fs_status fs_storage_transition(struct fs_backends *be,
                                     const struct fs_transition *t, size_t n,
                                     enum fs_status *results,
                                     enum fs_booking_state *current);
/* One conditional change; FS_CONFLICT fills *current when non-NULL. */
enum fs_status fs_storage_transition1(struct fs_backends *be,
                                      const struct fs_transition *t,
                                      enum fs_booking_state *current);
enum fs_status fs_storage_get(struct fs_backends *be, const char *booking,
                              struct fs_booking *out);
enum fs_status fs_storage_list(struct fs_backends *be, const char *sale,
                               enum fs_booking_state state,
                               int (*cb)(void *arg, const struct fs_booking *b),
                               void *arg);

#endif
