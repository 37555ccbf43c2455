/* plugin_loader.c - dlopen, ABI checks, configure, start and close plugins. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "plugin_loader.h"
#include "suggest.h"

/* The smallest descriptor this daemon can use: everything up to the kind's
 * operation table pointers. */
#define FS_PLUGIN_MIN_SIZE offsetof(struct fs_plugin, claims)

const char *fs_plugin_kind_name(enum fs_plugin_kind kind)
{
    switch (kind) {
    case FS_PLUGIN_QUEUE: return "queue";
    case FS_PLUGIN_INVENTORY: return "inventory";
    case FS_PLUGIN_STORAGE: return "storage";
    }
    return "unknown";
}

#define OPS_COMPLETE_3(o, a, b, c) ((o)->a && (o)->b && (o)->c)

/* Claims are optional, but a table that is there must be whole: a plugin
 * that half-supports them would turn 202s into rejections. */
static const char *missing_claim_operation(const struct fs_plugin *p)
{
    const struct fs_claim_ops *c = p->claims;

    if (!c)
        return NULL;
    /* list_durable, appended later, is optional: not part of the minimum. */
    if (c->struct_size < offsetof(struct fs_claim_ops, list_durable) || !c->claim ||
        !c->claim_durable || !c->claim_to_hold || !c->claim_expire)
        return "a claim operation (claim, claim_durable, claim_to_hold, "
               "claim_expire)";
    return NULL;
}

/* The descriptor reaches the storage_batch slot (bytes past struct_size are
 * not ours to read) and fills it: a plugin built before the slot existed
 * has zero there. */
static const struct fs_storage_batch_ops *storage_batch_of(
    const struct fs_plugin *p)
{
    if (p->struct_size < offsetof(struct fs_plugin, storage_batch) +
                             sizeof(p->storage_batch))
        return NULL;
    return p->storage_batch;
}

/* Batch records are optional; a table that is there must be whole. */
static const char *missing_batch_operation(const struct fs_plugin *p)
{
    const struct fs_storage_batch_ops *o = storage_batch_of(p);

    if (o && (o->struct_size < sizeof(*o) || !o->insert_many))
        return "the storage batch operation (insert_many)";
    return NULL;
}

const struct fs_storage_batch_ops *fs_plugin_storage_batch(
    const struct fs_plugin *p)
{
    const struct fs_storage_batch_ops *o = storage_batch_of(p);

    return o && !missing_batch_operation(p) ? o : NULL;
}


const struct fs_change_ops *fs_plugin_changes(const struct fs_plugin *p)
{
    /* Bytes past struct_size are not ours to read: a plugin built before
     * the slot existed may end before it. */
    if (p->struct_size < offsetof(struct fs_plugin, changes) + sizeof(p->changes))
        return NULL;
    return p->changes;
}

/* Like claims: optional, but whole when there. */
static const char *missing_change_operation(const struct fs_plugin *p)
{
    const struct fs_change_ops *c = fs_plugin_changes(p);

    if (!c)
        return NULL;
    if (c->struct_size < sizeof(struct fs_change_ops) || !c->watch ||
        !c->unwatch || !c->sync || !c->announce)
        return "a change operation (watch, unwatch, sync, announce)";
    return NULL;
}

static const char *missing_operation(const struct fs_plugin *p)
{
    if (!p->create || !p->destroy || !p->health)
        return "create, destroy or health";
    switch (p->kind) {
    case FS_PLUGIN_QUEUE:
        if (!p->queue)
            return "the queue operation table";
        if (!OPS_COMPLETE_3(p->queue, publish, consume, ack) ||
            !p->queue->nack || !p->queue->depth)
            return "a queue operation (publish, consume, ack, nack, depth)";
        return NULL;
    case FS_PLUGIN_INVENTORY:
        if (!p->inventory)
            return "the inventory operation table";
        if (!OPS_COMPLETE_3(p->inventory, counts, rebuild, reserve) ||
            !OPS_COMPLETE_3(p->inventory, confirm, release, expire_due) ||
            !p->inventory->lookup || !p->inventory->set_inventory ||
            !p->inventory->find_user)
            return "an inventory operation (counts, rebuild, reserve, confirm, "
                   "release, expire_due, lookup, set_inventory, find_user)";
        if (missing_claim_operation(p))
            return missing_claim_operation(p);
        return missing_change_operation(p);
    case FS_PLUGIN_STORAGE:
        if (!p->storage)
            return "the storage operation table";
        if (!OPS_COMPLETE_3(p->storage, insert, transition, get) ||
            !p->storage->list)
            return "a storage operation (insert, transition, get, list)";
        return missing_batch_operation(p);
    }
    return "a known kind";
}

static int check_descriptor(const struct fs_plugin *p, const char *path,
                            enum fs_plugin_kind kind, const char *name,
                            char *err, size_t errlen)
{
    const char *missing;

    if (p->abi_version != FS_PLUGIN_ABI_VERSION) {
        snprintf(err, errlen, "%s: plugin ABI version %u, this daemon speaks %u: "
                 "rebuild the plugin against this flashsaled", path,
                 p->abi_version, FS_PLUGIN_ABI_VERSION);
        return -1;
    }
    if (p->struct_size < FS_PLUGIN_MIN_SIZE) {
        snprintf(err, errlen, "%s: descriptor is %u bytes, at least %zu needed",
                 path, p->struct_size, (size_t)FS_PLUGIN_MIN_SIZE);
        return -1;
    }
    if (p->kind != kind) {
        snprintf(err, errlen, "%s: is a %s plugin, a %s plugin was expected",
                 path, fs_plugin_kind_name(p->kind), fs_plugin_kind_name(kind));
        return -1;
    }
    if (!p->name || strcmp(p->name, name) != 0) {
        snprintf(err, errlen, "%s: calls itself '%s', expected '%s'", path,
                 p->name ? p->name : "(null)", name);
        return -1;
    }
    missing = missing_operation(p);
    if (missing) {
        snprintf(err, errlen, "%s: does not provide %s", path, missing);
        return -1;
    }
    return 0;
}

static int plugin_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > 64)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

#define LISTED_MAX 32

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* How to get a plugin this project ships but this build left out. */
static const char *how_to_build(enum fs_plugin_kind kind, const char *name)
{
    static const struct {
        enum fs_plugin_kind kind;
        const char *name, *how;
    } real[] = {
        {FS_PLUGIN_QUEUE, "rabbitmq", "install librabbitmq-dev, then configure --with-rabbitmq"},
        {FS_PLUGIN_INVENTORY, "redis", "install libhiredis-dev, then configure --with-redis"},
        {FS_PLUGIN_STORAGE, "mongo", "install libmongoc-dev, then configure --with-mongo"},
    };
    for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++)
        if (real[i].kind == kind && strcmp(real[i].name, name) == 0)
            return real[i].how;
    return NULL;
}

/* The names of the plugins of `kind` in dir (files KIND_NAME.so), sorted;
 * returns how many (at most max), each malloc'd. */
static size_t list_plugins(const char *dir, enum fs_plugin_kind kind,
                           char **names, size_t max)
{
    const char *k = fs_plugin_kind_name(kind);
    size_t klen = strlen(k), n = 0;
    struct dirent *e;
    DIR *d = opendir(dir);

    while (d && n < max && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > klen + 4 && strncmp(e->d_name, k, klen) == 0 &&
            e->d_name[klen] == '_' && strcmp(e->d_name + len - 3, ".so") == 0 &&
            (names[n] = strndup(e->d_name + klen + 1, len - klen - 4)) != NULL)
            n++;
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof(*names), compare_names);
    return n;
}

/* plugins.KIND.name names no file in dir: say which plugins there are, the
 * closest one, and how to build a real plugin this build left out. */
static void missing_plugin(const char *dir, enum fs_plugin_kind kind,
                           const char *name, char *err, size_t errlen)
{
    char *names[LISTED_MAX], hint[512] = "";
    size_t n = list_plugins(dir, kind, names, LISTED_MAX);
    const char *how = how_to_build(kind, name);

    fs_suggest(name, (const char *const *)names, n, "plugins", hint, sizeof(hint));
    if (how)
        snprintf(err, errlen, "plugins.%s.name '%s': this build has no %s plugin "
                 "(%s)%s", fs_plugin_kind_name(kind), name, name, how, hint);
    else
        snprintf(err, errlen, "plugins.%s.name '%s': no such plugin in %s%s%s",
                 fs_plugin_kind_name(kind), name, dir, hint,
                 n ? "" : " (none at all: is plugins.dir or --plugin-dir right?)");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

int fs_plugin_open(struct fs_backend *b, const char *dir,
                   enum fs_plugin_kind kind, const char *name, char *err,
                   size_t errlen)
{
    size_t len;

    memset(b, 0, sizeof(*b));
    b->kind = kind;
    pthread_mutex_init(&b->lock, NULL);
    b->lock_ready = 1;
    if (!plugin_name_valid(name)) {
        snprintf(err, errlen, "plugins.%s.name '%s': lowercase letters, digits "
                 "and '_' only", fs_plugin_kind_name(kind), name ? name : "");
        return -1;
    }
    len = strlen(dir) + strlen(name) + 32;
    b->path = malloc(len);
    if (!b->path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(b->path, len, "%s/%s_%s.so", dir, fs_plugin_kind_name(kind), name);
    /* RTLD_NOW: a missing symbol fails here, not mid-sale. RTLD_LOCAL: two
     * plugins' symbols never collide. */
    if (access(b->path, F_OK) != 0) {
        missing_plugin(dir, kind, name, err, errlen);
        goto fail;
    }
    b->handle = dlopen(b->path, RTLD_NOW | RTLD_LOCAL);
    if (!b->handle) {
        snprintf(err, errlen, "plugins.%s.name '%s': cannot load: %s",
                 fs_plugin_kind_name(kind), name, dlerror());
        goto fail;
    }
    b->plugin = dlsym(b->handle, FS_PLUGIN_SYMBOL);
    if (!b->plugin) {
        snprintf(err, errlen, "%s: exports no '%s' symbol: not a flashsaled plugin",
                 b->path, FS_PLUGIN_SYMBOL);
        goto fail;
    }
    if (check_descriptor(b->plugin, b->path, kind, name, err, errlen) != 0)
        goto fail;
    b->serialize = !(b->plugin->flags & FS_PLUGIN_THREAD_SAFE);
    return 0;
fail:
    fs_plugin_close(b);
    return -1;
}

/* The descriptor reaches the validate slot (it may be as short as
 * FS_PLUGIN_MIN_SIZE, and bytes past struct_size are not ours to read) and
 * fills it: a plugin built before the slot existed has zero there. */
static int has_validate(const struct fs_plugin *p)
{
    return p->struct_size >= offsetof(struct fs_plugin, validate) +
                                 sizeof(p->validate) &&
           p->validate != NULL;
}

/* The line of the key the plugin blamed: the key's own if the block has it,
 * else the block's (a default value, or no single key to blame). */
static int key_line(const struct fs_plugin_config *block, const char *key)
{
    for (size_t i = 0; key && i < block->n_kv; i++)
        if (strcmp(block->kv[i].key, key) == 0)
            return block->kv[i].line;
    return block->line;
}

/* Asks the plugin to check its filled config without any I/O, so that
 * --check-config catches bad values too, with the file and line. */
static int validate_values(struct fs_backend *b,
                           const struct fs_plugin_config *block,
                           const char *file, char *err, size_t errlen)
{
    const struct fs_plugin *p = b->plugin;
    const char *key = NULL;
    char reason[512] = "";
    int line;

    if (!has_validate(p) || p->validate(b->config, &key, reason,
                                        sizeof(reason)) == 0)
        return 0;
    line = key_line(block, key);
    /* The plugin's reason names the key already ("synchronous must be
     * ..."), as create() has always written it. */
    snprintf(err, errlen, "%s:%d: plugins.%s.%s: %s", file ? file : "config",
             line, fs_plugin_kind_name(b->kind), p->name,
             reason[0] ? reason : "invalid value");
    return -1;
}

int fs_plugin_configure(struct fs_backend *b, const struct fs_plugin_config *block,
                        const struct fs_config *cfg, char *err, size_t errlen)
{
    const struct fs_plugin *p = b->plugin;
    static const struct fs_option no_options[] = {{.type = FS_OPT_END}};

    /* At least one byte so that create() always gets a valid pointer. */
    b->config = calloc(1, p->config_size ? p->config_size : 1);
    if (!b->config) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->values = fs_config_apply_options(block, fs_plugin_kind_name(b->kind),
                                        p->options ? p->options : no_options,
                                        b->config, cfg->dir, cfg->path, err,
                                        errlen);
    if (!b->values)
        return -1;
    return validate_values(b, block, cfg->path, err, errlen);
}

int fs_plugin_start(struct fs_backend *b, char *err, size_t errlen)
{
    char reason[512] = "";
    if (b->plugin->create(&fs_host_api, b->config, &b->ctx, reason,
                          sizeof(reason)) != 0) {
        b->ctx = NULL;
        snprintf(err, errlen, "%s plugin '%s' failed to start: %s",
                 fs_plugin_kind_name(b->kind), b->plugin->name,
                 reason[0] ? reason : "no reason given");
        return -1;
    }
    return 0;
}

void fs_plugin_close(struct fs_backend *b)
{
    if (b->ctx && b->plugin)
        b->plugin->destroy(b->ctx);
    b->ctx = NULL;
    fs_config_options_free(b->values);
    b->values = NULL;
    free(b->config);
    b->config = NULL;
    if (b->handle)
        dlclose(b->handle);
    b->handle = NULL;
    if (b->lock_ready)
        pthread_mutex_destroy(&b->lock);
    b->lock_ready = 0;
    b->plugin = NULL;
    free(b->path);
    b->path = NULL;
}
