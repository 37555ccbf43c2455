/*
 * test_inventory_memory.c - the embedded inventory plugin
 * (inventory_memory.so): the inventory contract (tests/contract, every
 * operation and outcome of fs_plugin.h and the invariants of DESIGN.md
 * section 4 under threads) run through a fixture that loads the plugin, and
 * what is the memory plugin's own: its descriptor and its empty option table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "plugin_fixture.h"
#include "../contract/inventory_contract.h"

#define PLUGIN_FILE "inventory_memory.so"

/* ---- the contract's fixture: a fresh process-local instance per test ---- */

static void memory_create(const struct inventory_fixture *fx,
                          struct inventory_instance *out)
{
    struct plugin_fixture *f = calloc(1, sizeof(*f));

    (void)fx;
    assert_non_null(f);
    out->fixture_data = f;
    fixture_open(f, PLUGIN_FILE, FS_PLUGIN_INVENTORY);
    fixture_create(f, NULL);  /* no options: the core may pass NULL */
    out->plugin = f->plugin;
    out->ctx = f->ctx;
}

static void memory_destroy(const struct inventory_fixture *fx,
                           struct inventory_instance *in)
{
    (void)fx;
    fixture_close(in->fixture_data);
    free(in->fixture_data);
}

static const struct inventory_fixture memory_fixture = {
    .name = "memory",
    .create = memory_create,
    .destroy = memory_destroy,
    /* A process-local table: nothing to inspect from outside. */
    .assert_stores_nothing = NULL,
    .race_users_per_thread = 250,
};

/* ---- the memory plugin's own ------------------------------------------- */

static void test_descriptor_is_thread_safe_memory_inventory_without_options(
    void **state)
{
    struct plugin_fixture f;

    (void)state;
    fixture_open(&f, PLUGIN_FILE, FS_PLUGIN_INVENTORY);
    assert_string_equal(f.plugin->name, "memory");
    assert_true(f.plugin->flags & FS_PLUGIN_THREAD_SAFE);
    assert_non_null(f.plugin->options);
    assert_int_equal(f.plugin->options[0].type, FS_OPT_END);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_descriptor_is_thread_safe_memory_inventory_without_options),
    };
    int failed = inventory_contract_run(&memory_fixture);

    failed += cmocka_run_group_tests_name("inventory_memory", tests, NULL,
                                          NULL);
    /* Not the count: 77 and 99 mean "skipped" and "hard error" to automake. */
    return failed ? 1 : 0;
}
