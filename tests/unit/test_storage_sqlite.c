/*
 * test_storage_sqlite.c - the sqlite storage plugin (storage_sqlite.so) as
 * the daemon sees it: the storage contract (tests/contract, every operation
 * of fs_plugin.h, one active booking per user, bookings that outlive the
 * instance, races of 16 threads) run through a fixture that gives each test
 * a fresh database in its own mkdtemp folder, and what is SQLite's own: its
 * options, the folders it creates, synchronous modes, one reader, group
 * commit, and another process holding the write lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* mkdtemp, nftw */
#endif
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_autoconf.h"
#include "plugin_fixture.h"
#include "../contract/storage_contract.h"

#define PLUGIN_FILE "storage_sqlite.so"

/* One test's database: its folder, the plugin and the config it runs on. */
struct db {
    char dir[PATH_MAX / 2];
    char path[PATH_MAX];
    const char *synchronous;  /* NULL: the option's default */
    const char *readers;      /* NULL: the option's default */
    const char *busy_ms;      /* NULL: the option's default */
    struct plugin_fixture f;
    void *config;
    const struct fs_storage_ops *ops;
};

/* ---- config through the option table ------------------------------------- */

static void *config_build(struct db *d)
{
    const struct fs_plugin *p = d->f.plugin;
    void *config = fixture_config_defaults(p);

    fixture_option_set(p, config, "path", d->path);
    if (d->synchronous)
        fixture_option_set(p, config, "synchronous", d->synchronous);
    if (d->readers)
        fixture_option_set(p, config, "readers", d->readers);
    if (d->busy_ms)
        fixture_option_set(p, config, "busy_timeout_ms", d->busy_ms);
    return config;
}

/* ---- per-test database --------------------------------------------------- */

static void db_start(struct db *d)
{
    fixture_open(&d->f, PLUGIN_FILE, FS_PLUGIN_STORAGE);
    d->config = config_build(d);
    fixture_create(&d->f, d->config);
    d->ops = d->f.plugin->storage;
}

static void db_stop(struct db *d)
{
    fixture_close(&d->f);
    free(d->config);
    d->config = NULL;
    d->ops = NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A database path in a new folder, not opened yet. */
static struct db *db_new(void)
{
    const char *tmp = getenv("TMPDIR");
    struct db *d = calloc(1, sizeof(*d));

    assert_non_null(d);
    snprintf(d->dir, sizeof(d->dir), "%s/fs-sqlite-XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(d->dir));
    /* Folders that do not exist yet: the plugin creates them. */
    snprintf(d->path, sizeof(d->path), "%s/data/nested/bookings.db", d->dir);
    return d;
}

/* Closes the database and removes its folder. */
static void db_free(struct db *d)
{
    db_stop(d);
    nftw(d->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static int setup(void **state)
{
    struct db *d = db_new();

    db_start(d);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    db_free(*state);
    return 0;
}

/* ---- the contract's fixture: a new database file per test --------------- */

/* Options the fixture sets beyond the defaults (NULL: the default). */
struct sqlite_settings {
    const char *synchronous;
    const char *readers;
};

static void sqlite_create(const struct storage_fixture *fx,
                          struct storage_instance *out)
{
    const struct sqlite_settings *s = fx->arg;
    struct db *d = db_new();

    out->fixture_data = d;
    if (s) {
        d->synchronous = s->synchronous;
        d->readers = s->readers;
    }
    db_start(d);
    out->plugin = d->f.plugin;
    out->ctx = d->f.ctx;
}

static void sqlite_destroy(const struct storage_fixture *fx,
                           struct storage_instance *in)
{
    struct db *d = in->fixture_data;

    (void)fx;
    d->f.ctx = in->ctx;  /* the suite may have restarted the instance */
    db_free(d);
}

/* Another create() on the same file and config. */
static void *sqlite_open_same_store(const struct storage_fixture *fx,
                                    const struct storage_instance *in)
{
    const struct db *d = in->fixture_data;

    (void)fx;
    return fixture_create_another(&d->f, d->config);
}

static const struct storage_fixture sqlite_fixture = {
    .name = "sqlite",
    .create = sqlite_create,
    .destroy = sqlite_destroy,
    .open_same_store = sqlite_open_same_store,
    /* Rows are seen through list(); the suite looks there. */
    .assert_stores_nothing = NULL,
    .race_inserts_per_thread = 200,
    .race_shared_users = 50,
};

static const struct sqlite_settings one_reader = {.readers = "1"};

/* For the callback listing alone: with one reader connection, a listing
 * that held it during the callback would deadlock on the callback's get(). */
static const struct storage_fixture sqlite_one_reader_fixture = {
    .name = "sqlite, readers 1",
    .create = sqlite_create,
    .destroy = sqlite_destroy,
    .open_same_store = sqlite_open_same_store,
    .arg = &one_reader,
};

static const struct sqlite_settings full_sync = {.synchronous = "full"};

/* For the concurrent inserts alone: a disk sync per commit. */
static const struct storage_fixture sqlite_full_sync_fixture = {
    .name = "sqlite, synchronous full",
    .create = sqlite_create,
    .destroy = sqlite_destroy,
    .open_same_store = sqlite_open_same_store,
    .race_inserts_per_thread = 200,
    .arg = &full_sync,
};

/* ---- helpers ------------------------------------------------------------- */

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* ---- descriptor and config ----------------------------------------------- */

/* Kind, size, operations and the option table's shape: the contract's
 * descriptor test. */
static void test_descriptor_is_a_thread_safe_storage_named_sqlite(void **state)
{
    struct db *d = *state;
    const struct fs_plugin *p = d->f.plugin;
    const char *names[] = {"path", "synchronous", "busy_timeout_ms",
                           "batch_max", "readers"};
    size_t i;

    assert_string_equal(p->name, "sqlite");
    assert_true(p->flags & FS_PLUGIN_THREAD_SAFE);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        fixture_option(p, names[i]);
    assert_string_equal(fixture_option(p, "path")->default_value,
                        FS_DATA_DIR "/bookings.db");
    assert_string_equal(fixture_option(p, "synchronous")->default_value,
                        "full");
}

static void test_create_makes_missing_parent_folders(void **state)
{
    struct db *d = *state;
    struct stat st;

    assert_int_equal(stat(d->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void test_create_refuses_unknown_synchronous_mode(void **state)
{
    struct db *d = *state;
    const struct fs_plugin *p = d->f.plugin;
    void *config = config_build(d);
    char err[256] = "";
    void *ctx = NULL;

    fixture_option_set(p, config, "synchronous", "sometimes");
    assert_int_not_equal(p->create(&test_host, config, &ctx, err, sizeof(err)),
                         0);
    assert_null(ctx);
    assert_non_null(strstr(err, "synchronous"));
    free(config);
}

static void test_create_refuses_negative_readers(void **state)
{
    struct db *d = *state;
    const struct fs_plugin *p = d->f.plugin;
    void *config = config_build(d);
    char err[256] = "";
    void *ctx = NULL;

    fixture_option_set(p, config, "readers", "-1");
    assert_int_not_equal(p->create(&test_host, config, &ctx, err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "readers"));
    free(config);
}

static void test_create_reports_a_path_it_cannot_use(void **state)
{
    struct db *d = *state;
    const struct fs_plugin *p = d->f.plugin;
    void *config = config_build(d);
    char blocker[PATH_MAX], path[PATH_MAX + 32], err[512] = "";
    void *ctx = NULL;
    FILE *f;

    /* A regular file where a parent folder should be. */
    snprintf(blocker, sizeof(blocker), "%s/blocker", d->dir);
    f = fopen(blocker, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/sub/bookings.db", blocker);
    fixture_option_set(p, config, "path", path);
    assert_int_not_equal(p->create(&test_host, config, &ctx, err, sizeof(err)),
                         0);
    assert_null(ctx);
    assert_non_null(strstr(err, "blocker"));
    free(config);
}

/* ---- SQLite's durability and locks --------------------------------------- */

static void test_bookings_survive_restart_with_synchronous_normal(void **state)
{
    struct db *d = *state;

    db_stop(d);
    d->synchronous = "normal";
    db_start(d);
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "kept",
                                             "launch", "alice", 10),
                     FS_OK);
    db_stop(d);
    db_start(d);
    assert_int_equal(storage_contract_state_of(d->ops, d->f.ctx, "kept"),
                     FS_STATE_QUEUED);
}

/* Another process holds the database's write lock: the byte SQLite's WAL
 * format documents as WAL_WRITE_LOCK (offset 120 of <path>-shm). Writes wait
 * busy_timeout_ms, then answer unavailable with nothing written, and work
 * again once the lock is gone. */
static pid_t hold_write_lock(const char *db_path, int *release_fd)
{
    char shm[PATH_MAX + 8];
    int ready[2], release[2];
    char byte = 0;
    pid_t pid;

    snprintf(shm, sizeof(shm), "%s-shm", db_path);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                           .l_start = 120, .l_len = 1};
        int fd;

        /* Never outlive a parent whose assertion failed mid-test. */
        alarm(30);
        /* Only the parent may hold the write end, or EOF never comes. */
        close(release[1]);
        close(ready[0]);
        fd = open(shm, O_RDWR);
        byte = fd >= 0 && fcntl(fd, F_SETLK, &lk) == 0;
        if (write(ready[1], &byte, 1) != 1 || read(release[0], &byte, 1) < 0)
            _exit(2);
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    assert_int_equal(byte, 1);
    *release_fd = release[1];
    return pid;
}

static void test_writes_answer_unavailable_while_another_process_locks(
    void **state)
{
    struct db *d = *state;
    char detail[128];
    struct fs_booking out;
    int release_fd, status;
    pid_t pid;

    db_stop(d);
    d->busy_ms = "100";
    db_start(d);
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "before",
                                             "launch", "alice", 1),
                     FS_OK);
    pid = hold_write_lock(d->path, &release_fd);
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "during",
                                             "launch", "bob", 2),
                     FS_UNAVAILABLE);
    assert_int_equal(storage_contract_move(d->ops, d->f.ctx, "before",
                                           FS_STATE_QUEUED, FS_STATE_HOLD,
                                           NULL),
                     FS_UNAVAILABLE);
    /* Reads go on beside the lock. */
    assert_int_equal(storage_contract_state_of(d->ops, d->f.ctx, "before"),
                     FS_STATE_QUEUED);
    assert_int_equal(d->ops->get(d->f.ctx, "during", &out), FS_NOT_FOUND);
    assert_int_equal(d->f.plugin->health(d->f.ctx, detail, sizeof(detail)),
                     FS_OK);
    close(release_fd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "during",
                                             "launch", "bob", 2),
                     FS_OK);
    assert_int_equal(storage_contract_move(d->ops, d->f.ctx, "before",
                                           FS_STATE_QUEUED, FS_STATE_HOLD,
                                           NULL),
                     FS_OK);
}

/* ---- the contract's tests under other settings --------------------------- */

/* The contract's callback listing, with one reader connection. */
static void test_list_callback_may_call_back_with_one_reader(void **state)
{
    storage_contract_test_list_callback_may_call_back_into_the_storage(state);
}

/* Group commit is what makes this finish quickly with a sync per commit; the
 * time is printed for information only (timing is for bench/, not tests). */
static void test_group_commit_with_full_sync_keeps_every_insert(void **state)
{
    struct timespec start;

    clock_gettime(CLOCK_MONOTONIC, &start);
    storage_contract_test_concurrent_inserts_all_succeed_and_are_readable(
        state);
    fprintf(stderr, "storage_sqlite: 16 threads x 200 inserts, synchronous="
                    "full: %.0f ms (includes reading them back)\n",
            elapsed_ms(&start));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
/* A contract test under another fixture of this plugin. */
#define P(name, fixture)                                                 \
    cmocka_unit_test_prestate_setup_teardown(name, storage_contract_setup, \
                                             storage_contract_teardown,  \
                                             (void *)&fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor_is_a_thread_safe_storage_named_sqlite),
        T(test_create_makes_missing_parent_folders),
        T(test_create_refuses_unknown_synchronous_mode),
        T(test_create_refuses_negative_readers),
        T(test_create_reports_a_path_it_cannot_use),
        T(test_bookings_survive_restart_with_synchronous_normal),
        T(test_writes_answer_unavailable_while_another_process_locks),
        P(test_list_callback_may_call_back_with_one_reader,
          sqlite_one_reader_fixture),
        P(test_group_commit_with_full_sync_keeps_every_insert,
          sqlite_full_sync_fixture),
    };
    int failed = storage_contract_run(&sqlite_fixture);

    failed += cmocka_run_group_tests_name("storage_sqlite", tests, NULL,
                                          NULL);
    /* Not the count: 77 and 99 mean "skipped" and "hard error" to automake. */
    return failed ? 1 : 0;
}
