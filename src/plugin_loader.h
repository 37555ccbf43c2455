/*
 * plugin_loader.h - finds, dlopen()s and checks plugins, and starts them with
 * their config block.
 *
 * A plugin of kind K and name N lives in <dir>/K_N.so. The loader refuses,
 * with a message naming the file, a missing file or symbol, a wrong ABI
 * version, a descriptor smaller than this daemon needs, a wrong kind or name,
 * and a missing operation; it dlclose()s on every failure.
 */
#ifndef FS_PLUGIN_LOADER_H
#define FS_PLUGIN_LOADER_H

#include <pthread.h>
#include <stddef.h>

#include "config.h"
#include "flashsaled/fs_plugin.h"

struct fs_backend {
    enum fs_plugin_kind kind;
    char *path;                      /* the .so file */
    void *handle;                    /* dlopen handle */
    const struct fs_plugin *plugin;  /* descriptor inside handle */
    void *config;                    /* zeroed config_size bytes, filled */
    struct fs_option_values *values; /* strings owned for config */
    void *ctx;                       /* from create(), NULL until started */
    int serialize;                   /* plugin is not thread-safe */
    pthread_mutex_t lock;            /* taken around calls when serialize */
    int lock_ready;
};

const char *fs_plugin_kind_name(enum fs_plugin_kind kind);
/* A storage plugin's batch records table, or NULL when it has none (or a
 * descriptor too old to have the slot). */
const struct fs_storage_batch_ops *fs_plugin_storage_batch(
    const struct fs_plugin *p);

/* Opens and checks <dir>/<kind>_<name>.so. On failure returns -1 with the
 * reason in err and leaves *b closed. */
int fs_plugin_open(struct fs_backend *b, const char *dir,
                   enum fs_plugin_kind kind, const char *name, char *err,
                   size_t errlen);

/* Checks the config block against the plugin's options, fills its config
 * struct and lets the plugin's validate() check the values without any I/O
 * (what --check-config does); errors are "FILE:LINE: plugins.KIND.NAME:
 * reason", LINE the blamed key's. */
int fs_plugin_configure(struct fs_backend *b, const struct fs_plugin_config *block,
                        const struct fs_config *cfg, char *err, size_t errlen);

/* The plugin's change feed (fs_plugin.h), or NULL when it has none or its
 * descriptor predates the slot. */
const struct fs_change_ops *fs_plugin_changes(const struct fs_plugin *p);

/* Calls create(). */
int fs_plugin_start(struct fs_backend *b, char *err, size_t errlen);

/* destroy() if started, frees the config, dlclose()s. Safe on a closed or
 * zeroed backend. */
void fs_plugin_close(struct fs_backend *b);

#endif
