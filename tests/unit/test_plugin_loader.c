/*
 * test_plugin_loader.c - the loader accepts a good plugin and refuses each
 * kind of broken one with a message naming the file.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "plugin_loader.h"

static char tmpdir[PATH_MAX];

/* Links <tmpdir>/<link> to <dir>/<target>. */
static void link_plugin(const char *dir_env, const char *target, const char *link)
{
    char from[2 * PATH_MAX], to[2 * PATH_MAX];
    const char *dir = getenv(dir_env);
    if (!dir)
        fail_msg("%s is not set: run through make check", dir_env);
    snprintf(from, sizeof(from), "%s/%s", dir, target);
    snprintf(to, sizeof(to), "%s/%s", tmpdir, link);
    unlink(to);
    assert_int_equal(symlink(from, to), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fs-loader-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_refusal_of_kind(enum fs_plugin_kind kind,
                                   const char *broken, const char *as_name,
                                   const char *needle)
{
    struct fs_backend b;
    char err[1024] = "", link[128];

    snprintf(link, sizeof(link), "%s_%s.so", fs_plugin_kind_name(kind),
             as_name);
    link_plugin("FS_BROKEN_PLUGIN_DIR", broken, link);
    assert_int_equal(fs_plugin_open(&b, tmpdir, kind, as_name, err,
                                    sizeof(err)), -1);
    if (!strstr(err, needle))
        fail_msg("expected '%s' in: %s", needle, err);
    if (!strstr(err, link))
        fail_msg("the message does not name the file: %s", err);
    assert_null(b.handle);
    assert_null(b.path);
}

static void expect_refusal(const char *broken, const char *as_name,
                           const char *needle)
{
    expect_refusal_of_kind(FS_PLUGIN_QUEUE, broken, as_name, needle);
}

static void test_loader_accepts_the_memory_queue(void **state)
{
    struct fs_backend b;
    char err[1024] = "";
    (void)state;
    assert_int_equal(fs_plugin_open(&b, getenv("FS_PLUGIN_DIR"), FS_PLUGIN_QUEUE,
                                    "memory", err, sizeof(err)), 0);
    assert_non_null(b.plugin);
    assert_string_equal(b.plugin->name, "memory");
    assert_int_equal(b.serialize, 0);
    fs_plugin_close(&b);
    assert_null(b.handle);
}

static void test_loader_refuses_a_missing_file(void **state)
{
    struct fs_backend b;
    char err[1024] = "";
    (void)state;
    assert_int_equal(fs_plugin_open(&b, tmpdir, FS_PLUGIN_QUEUE, "nothere", err,
                                    sizeof(err)), -1);
    assert_non_null(strstr(err, "plugins.queue.name 'nothere': no such plugin in "));
    assert_non_null(strstr(err, tmpdir));
}

static void test_loader_refuses_a_wrong_abi_version(void **state)
{
    (void)state;
    expect_refusal("bad_abi.so", "broken", "ABI version");
}

static void test_loader_refuses_a_too_small_descriptor(void **state)
{
    (void)state;
    expect_refusal("bad_size.so", "broken", "descriptor is 16 bytes");
}

static void test_loader_refuses_a_plugin_of_another_kind(void **state)
{
    (void)state;
    expect_refusal("bad_kind.so", "broken", "is a storage plugin");
}

static void test_loader_refuses_a_missing_operation(void **state)
{
    (void)state;
    expect_refusal("missing_op.so", "broken", "does not provide");
}

static void test_loader_refuses_an_inventory_with_half_a_claims_table(
    void **state)
{
    (void)state;
    expect_refusal_of_kind(FS_PLUGIN_INVENTORY, "half_claims.so", "broken",
                           "a claim operation");
}

static void test_loader_refuses_an_inventory_with_half_a_change_table(
    void **state)
{
    (void)state;
    expect_refusal_of_kind(FS_PLUGIN_INVENTORY, "half_changes.so", "broken",
                           "a change operation");
}

static void test_loader_takes_the_memory_inventory_with_its_claims(void **state)
{
    struct fs_backend b;
    char err[1024] = "";
    (void)state;
    assert_int_equal(fs_plugin_open(&b, getenv("FS_PLUGIN_DIR"),
                                    FS_PLUGIN_INVENTORY, "memory", err,
                                    sizeof(err)), 0);
    assert_non_null(b.plugin->claims);
    fs_plugin_close(&b);
}

static void test_loader_refuses_a_library_without_descriptor(void **state)
{
    (void)state;
    expect_refusal("no_symbol.so", "broken", "exports no 'fs_plugin_descriptor'");
}

static void test_loader_refuses_a_plugin_under_another_name(void **state)
{
    struct fs_backend b;
    char err[1024] = "";
    (void)state;
    link_plugin("FS_PLUGIN_DIR", "queue_memory.so", "queue_other.so");
    assert_int_equal(fs_plugin_open(&b, tmpdir, FS_PLUGIN_QUEUE, "other", err,
                                    sizeof(err)), -1);
    assert_non_null(strstr(err, "calls itself 'memory'"));
}

static void test_loader_refuses_a_name_with_a_path(void **state)
{
    struct fs_backend b;
    char err[1024] = "";
    (void)state;
    assert_int_equal(fs_plugin_open(&b, tmpdir, FS_PLUGIN_QUEUE, "../../x", err,
                                    sizeof(err)), -1);
    assert_non_null(strstr(err, "lowercase letters"));
}

static void test_loader_reports_an_unknown_plugin_key_with_its_line(void **state)
{
    struct fs_backend b;
    struct fs_config_kv kv = {.key = "capacty", .value = "10", .line = 7};
    struct fs_plugin_config block = {.name = "memory", .line = 6, .kv = &kv,
                                     .n_kv = 1};
    struct fs_config cfg;
    char err[1024] = "";
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.path = "/etc/flashsaled/flashsaled.yaml";
    cfg.dir = "/etc/flashsaled";
    assert_int_equal(fs_plugin_open(&b, getenv("FS_PLUGIN_DIR"), FS_PLUGIN_QUEUE,
                                    "memory", err, sizeof(err)), 0);
    assert_int_equal(fs_plugin_configure(&b, &block, &cfg, err, sizeof(err)), -1);
    if (!strstr(err, ":7:") || !strstr(err, "capacty") || !strstr(err, "capacity"))
        fail_msg("unexpected message: %s", err);
    fs_plugin_close(&b);
}

/* A value of the right type but out of range: the plugin's validate()
 * blames the key, the loader adds the file and the key's own line, and
 * nothing is started (--check-config stops here). */
static void test_loader_reports_a_bad_plugin_value_with_its_line(void **state)
{
    struct fs_backend b;
    struct fs_config_kv kv = {.key = "capacity", .value = "0", .line = 7};
    struct fs_plugin_config block = {.name = "memory", .line = 6, .kv = &kv,
                                     .n_kv = 1};
    struct fs_config cfg;
    char err[1024] = "";
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.path = "/etc/flashsaled/flashsaled.yaml";
    cfg.dir = "/etc/flashsaled";
    assert_int_equal(fs_plugin_open(&b, getenv("FS_PLUGIN_DIR"), FS_PLUGIN_QUEUE,
                                    "memory", err, sizeof(err)), 0);
    assert_int_equal(fs_plugin_configure(&b, &block, &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "/etc/flashsaled/flashsaled.yaml:7: plugins.queue."
                             "memory: capacity must be at least 1, not 0");
    assert_null(b.ctx);
    fs_plugin_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loader_accepts_the_memory_queue),
        cmocka_unit_test(test_loader_refuses_a_missing_file),
        cmocka_unit_test(test_loader_refuses_a_wrong_abi_version),
        cmocka_unit_test(test_loader_refuses_a_too_small_descriptor),
        cmocka_unit_test(test_loader_refuses_a_plugin_of_another_kind),
        cmocka_unit_test(test_loader_refuses_a_missing_operation),
        cmocka_unit_test(test_loader_refuses_an_inventory_with_half_a_claims_table),
        cmocka_unit_test(test_loader_refuses_an_inventory_with_half_a_change_table),
        cmocka_unit_test(test_loader_takes_the_memory_inventory_with_its_claims),
        cmocka_unit_test(test_loader_refuses_a_library_without_descriptor),
        cmocka_unit_test(test_loader_refuses_a_plugin_under_another_name),
        cmocka_unit_test(test_loader_refuses_a_name_with_a_path),
        cmocka_unit_test(test_loader_reports_an_unknown_plugin_key_with_its_line),
        cmocka_unit_test(test_loader_reports_a_bad_plugin_value_with_its_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
