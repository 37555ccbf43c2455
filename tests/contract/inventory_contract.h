/*
 * inventory_contract.h - the contract every inventory plugin obeys
 * (struct fs_inventory_ops in fs_plugin.h, and the invariants of DESIGN.md
 * section 4), as one cmocka suite that runs against any plugin instance.
 *
 * A plugin's test writes a fixture that makes a fresh instance knowing no
 * sale, and calls inventory_contract_run() with it; the suite creates one
 * instance per test and destroys it afterwards. Needs only fs_plugin.h,
 * cmocka and pthreads: a third-party plugin links inventory_contract.c into
 * its own test program.
 */
#ifndef FS_TEST_INVENTORY_CONTRACT_H
#define FS_TEST_INVENTORY_CONTRACT_H

#include "flashsaled/fs_plugin.h"

/* One plugin instance under test. */
struct inventory_instance {
    const struct fs_plugin *plugin;  /* the descriptor, kind inventory */
    void *ctx;                       /* what plugin->create() made */
    void *fixture_data;              /* the fixture's own, for destroy */
};

struct inventory_fixture {
    /* Names the cmocka group: "inventory contract: <name>". */
    const char *name;
    /* Fills `out` with a fresh instance whose backend holds no sale at all
     * (a new process, an emptied server). Fails the test (fail_msg) when it
     * cannot: the suite never skips. */
    void (*create)(const struct inventory_fixture *fx,
                   struct inventory_instance *out);
    /* Destroys what create() made; called once per test, also on failure. */
    void (*destroy)(const struct inventory_fixture *fx,
                    struct inventory_instance *in);
    /* Optional: asserts that the backend stores nothing at all, where the
     * contract checks that a refused call wrote nothing. NULL when the
     * backend cannot be inspected from outside: the suite then relies on
     * counts() answering FS_NOT_FOUND. */
    void (*assert_stores_nothing)(const struct inventory_fixture *fx,
                                  const struct inventory_instance *in);
    /* Reserves each of the 16 racing threads makes (0: 150). */
    int race_users_per_thread;
    /* The fixture's own settings, for create(). */
    const void *arg;
};

/* Runs the whole contract against `fx`; returns the number of failed tests. */
int inventory_contract_run(const struct inventory_fixture *fx);

/* cmocka setup and teardown of the suite: *state is the fixture on entry
 * (pass it as the test's prestate). For running single contract tests under
 * more fixtures, e.g. the same plugin configured differently. */
int inventory_contract_setup(void **state);
int inventory_contract_teardown(void **state);

/* The race of 16 threads reserving from one sale of 100 items, for use with
 * inventory_contract_setup/teardown under another fixture. */
void inventory_contract_test_concurrent_reserves_never_oversell(void **state);

/* Helpers for a plugin's own tests. */
struct fs_hold inventory_contract_hold(const char *booking, const char *user,
                                       enum fs_booking_state state,
                                       int64_t expires_ms);
void inventory_contract_assert_counts(const struct fs_inventory_ops *ops,
                                      void *ctx, const char *sale,
                                      int64_t inventory, int64_t available,
                                      int64_t held, int64_t booked);

#endif
