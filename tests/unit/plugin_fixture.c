/* plugin_fixture.c - see plugin_fixture.h. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "plugin_fixture.h"

int64_t test_clock_ms;

static void test_log(enum fs_log_level level, const char *plugin,
                     const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    va_list ap;
    fprintf(stderr, "[%s] %s: ", names[level & 3], plugin);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int64_t test_now_ms(void)
{
    struct timespec ts;
    if (test_clock_ms)
        return test_clock_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct fs_host test_host = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_host),
    .log = test_log,
    .now_ms = test_now_ms,
};

void fixture_open(struct plugin_fixture *f, const char *file,
                  enum fs_plugin_kind kind)
{
    const char *dir = getenv("FS_PLUGIN_DIR");
    char path[4096];

    memset(f, 0, sizeof(*f));
    if (!dir)
        fail_msg("FS_PLUGIN_DIR is not set: run through make check");
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!f->handle)
        fail_msg("dlopen %s: %s", path, dlerror());
    f->plugin = dlsym(f->handle, FS_PLUGIN_SYMBOL);
    if (!f->plugin)
        fail_msg("%s exports no %s", path, FS_PLUGIN_SYMBOL);
    assert_int_equal(f->plugin->abi_version, FS_PLUGIN_ABI_VERSION);
    assert_int_equal(f->plugin->kind, kind);
}

void fixture_create(struct plugin_fixture *f, const void *config)
{
    f->ctx = fixture_create_another(f, config);
}

void *fixture_create_another(const struct plugin_fixture *f,
                             const void *config)
{
    char err[512] = "";
    void *ctx = NULL;

    if (f->plugin->create(&test_host, config, &ctx, err, sizeof(err)) != 0)
        fail_msg("%s create failed: %s", f->plugin->name, err);
    return ctx;
}

void fixture_close(struct plugin_fixture *f)
{
    if (f->ctx)
        f->plugin->destroy(f->ctx);
    if (f->handle)
        dlclose(f->handle);
    memset(f, 0, sizeof(*f));
}

const struct fs_option *fixture_option(const struct fs_plugin *p,
                                      const char *name)
{
    const struct fs_option *o;

    for (o = p->options; o && o->type != FS_OPT_END; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    fail_msg("option %s is not declared", name);
    return NULL;
}

void fixture_option_set(const struct fs_plugin *p, void *config,
                        const char *name, const char *value)
{
    const struct fs_option *o = fixture_option(p, name);
    char *field = (char *)config + o->offset;

    switch (o->type) {
    case FS_OPT_STRING:
    case FS_OPT_PATH:
        memcpy(field, &value, sizeof(value));
        break;
    case FS_OPT_INT: {
        int64_t v = value ? strtoll(value, NULL, 10) : 0;
        memcpy(field, &v, sizeof(v));
        break;
    }
    case FS_OPT_BOOL: {
        int v = value && strcmp(value, "true") == 0;
        memcpy(field, &v, sizeof(v));
        break;
    }
    default:
        fail_msg("option %s has an unknown type", name);
    }
}

void *fixture_config_defaults(const struct fs_plugin *p)
{
    const struct fs_option *o;
    void *config = calloc(1, p->config_size ? p->config_size : 1);

    assert_non_null(config);
    for (o = p->options; o && o->type != FS_OPT_END; o++)
        fixture_option_set(p, config, o->name, o->default_value);
    return config;
}
