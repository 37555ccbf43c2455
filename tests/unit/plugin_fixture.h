/*
 * plugin_fixture.h - loads a built plugin .so straight from FS_PLUGIN_DIR for
 * the plugins' own unit tests, and a host API that logs to stderr.
 */
#ifndef FS_TEST_PLUGIN_FIXTURE_H
#define FS_TEST_PLUGIN_FIXTURE_H

#include "flashsaled/fs_plugin.h"

struct plugin_fixture {
    void *handle;                    /* dlopen handle */
    const struct fs_plugin *plugin;  /* the exported descriptor */
    void *ctx;                       /* from create() */
};

extern const struct fs_host test_host;

/* Test clock: test_now_ms() returns this when it is non-zero, else real time. */
extern int64_t test_clock_ms;

/* dlopen()s $FS_PLUGIN_DIR/<file> (e.g. "storage_sqlite.so") and checks the
 * descriptor's ABI version and kind; fails the test otherwise. */
void fixture_open(struct plugin_fixture *f, const char *file,
                  enum fs_plugin_kind kind);
/* create() with `config` (the plugin's own config struct); fails the test
 * with the plugin's error text if create() fails. */
void fixture_create(struct plugin_fixture *f, const void *config);
/* Another instance of the opened plugin, beside f->ctx (a second daemon,
 * or the same one restarted); fails the test as fixture_create() does. The
 * caller destroys it. */
void *fixture_create_another(const struct plugin_fixture *f,
                             const void *config);
/* Plugin config structs filled through the option table, as the core
 * would: strings by pointer (they must outlive the config), numbers parsed. */
/* The option `name`; fails the test if the plugin declares none. */
const struct fs_option *fixture_option(const struct fs_plugin *p,
                                      const char *name);
void fixture_option_set(const struct fs_plugin *p, void *config,
                        const char *name, const char *value);
/* A config with every option at its default; the caller frees it. */
void *fixture_config_defaults(const struct fs_plugin *p);
/* destroy() if created, then dlclose(). */
void fixture_close(struct plugin_fixture *f);

#endif
