/*
 * storage_contract.h - the contract every storage plugin obeys
 * (struct fs_storage_ops in fs_plugin.h, and the one-per-user and nothing-
 * lost invariants of DESIGN.md section 4), as one cmocka suite that runs
 * against any plugin instance.
 *
 * A plugin's test writes a fixture that makes a fresh instance on an empty
 * store, and calls storage_contract_run() with it; the suite creates one
 * instance per test and destroys it afterwards. Needs only fs_plugin.h,
 * cmocka and pthreads: a third-party plugin links storage_contract.c into
 * its own test program.
 */
#ifndef FS_TEST_STORAGE_CONTRACT_H
#define FS_TEST_STORAGE_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

/* One plugin instance under test. */
struct storage_instance {
    const struct fs_plugin *plugin;  /* the descriptor, kind storage */
    void *ctx;                       /* what plugin->create() made */
    void *fixture_data;              /* the fixture's own, for destroy */
};

struct storage_fixture {
    /* Names the cmocka group: "storage contract: <name>". */
    const char *name;
    /* Fills `out` with a fresh instance on a store that holds no booking at
     * all (a new file, a new database). Fails the test (fail_msg) when it
     * cannot: the suite never skips. */
    void (*create)(const struct storage_fixture *fx,
                   struct storage_instance *out);
    /* Destroys in->ctx and the store; called once per test, also on
     * failure. in->ctx may be one that open_same_store() made, or NULL when
     * a restart failed to open one. */
    void (*destroy)(const struct storage_fixture *fx,
                    struct storage_instance *in);
    /* Creates another instance on the store `in` uses, as a second daemon
     * or the same daemon restarted would; fails the test when it cannot.
     * The suite destroys it with plugin->destroy(), or, for a restart,
     * destroys in->ctx first and puts the new one in its place. */
    void *(*open_same_store)(const struct storage_fixture *fx,
                             const struct storage_instance *in);
    /* Optional: asserts, from outside the plugin, that the store holds no
     * booking, where the contract checks that refused calls wrote nothing.
     * The suite always checks that list() finds nothing in any state. */
    void (*assert_stores_nothing)(const struct storage_fixture *fx,
                                  const struct storage_instance *in);
    /* Bookings each of the 16 racing inserters writes (0: 40). */
    int race_inserts_per_thread;
    /* Users all 16 threads race to book, one booking each (0: 20). */
    int race_shared_users;
    /* The fixture's own settings, for create(). */
    const void *arg;
};

/* Runs the whole contract against `fx`; returns the number of failed tests. */
int storage_contract_run(const struct storage_fixture *fx);

/* cmocka setup and teardown of the suite: *state is the fixture on entry
 * (pass it as the test's prestate). For running single contract tests under
 * more fixtures, e.g. the same plugin configured differently. */
int storage_contract_setup(void **state);
int storage_contract_teardown(void **state);

/* Contract tests worth running again under another fixture: */
/* a listing whose callback reads and changes the storage (a plugin with one
 * connection must not hold it across the callback); */
void storage_contract_test_list_callback_may_call_back_into_the_storage(
    void **state);
/* 16 threads inserting bookings of distinct users, all of which land. */
void storage_contract_test_concurrent_inserts_all_succeed_and_are_readable(
    void **state);

/* Helpers for a plugin's own tests. */
/* A queued booking, as the accept path makes it (hold_seconds 300). */
struct fs_booking storage_contract_booking(const char *booking_id,
                                           const char *sale_id,
                                           const char *user_id,
                                           int64_t created_ms);
/* insert() of storage_contract_booking(...); its result. */
enum fs_status storage_contract_insert(const struct fs_storage_ops *ops,
                                       void *ctx, const char *booking_id,
                                       const char *sale_id,
                                       const char *user_id,
                                       int64_t created_ms);
/* One transition (at_ms 2000); its item's result, or the call's error.
 * `current` (may be NULL) gets the state it reports. */
enum fs_status storage_contract_move(const struct fs_storage_ops *ops,
                                     void *ctx, const char *booking_id,
                                     enum fs_booking_state from,
                                     enum fs_booking_state to,
                                     enum fs_booking_state *current);
/* The stored state of a booking that must exist. */
enum fs_booking_state storage_contract_state_of(
    const struct fs_storage_ops *ops, void *ctx, const char *booking_id);
/* How many bookings list() reports for (sale_id, state). */
size_t storage_contract_count(const struct fs_storage_ops *ops, void *ctx,
                              const char *sale_id,
                              enum fs_booking_state state);

#endif
