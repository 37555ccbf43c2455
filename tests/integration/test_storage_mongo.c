/*
 * test_storage_mongo.c - the mongo storage plugin (storage_mongo.so) against
 * a real MongoDB wire-protocol server (CongoDB; see test_storage_mongo.py,
 * which starts it, sets FS_MONGO_URI, and serves the FS_MONGO_CTL commands
 * that take the server away and bring it back): the storage contract
 * (tests/contract, every operation of fs_plugin.h, one active booking per
 * user, bookings that outlive the instance, races of 16 threads) run
 * through a fixture that gives each test its own database on that server,
 * and what is Mongo's own: its options, the unique indexes and the stored
 * documents, a pool of one connection, and the server killed, hung, or not
 * there yet.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* dprintf */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mongoc/mongoc.h>

#include "hang_bound.h"
#include "plugin_fixture.h"
#include "../contract/storage_contract.h"

#define PLUGIN_FILE "storage_mongo.so"
/* Short, so that outage tests are quick; generous enough for a loaded
 * machine running the server in JavaScript. */
#define TEST_TIMEOUT_MS "3000"
#define OUTAGE_TIMEOUT_MS 1000
/* How long a restarted server may take to be used again. */
#define RECOVERY_BOUND_MS 20000

/* One test's database: the plugin and the config it runs on. */
struct db {
    char name[64];
    const char *uri;
    const char *pool_size;   /* NULL: the option's default */
    const char *timeout_ms;  /* NULL: TEST_TIMEOUT_MS */
    struct plugin_fixture f;
    void *config;
    const struct fs_storage_ops *ops;
};

static int db_counter;

/* ---- the server's control channel ---------------------------------------- */

/* Asks the driver to act on the server ("kill", "start", "freeze",
 * "thaw") and waits for it to be done. */
static void server_ctl(const char *cmd)
{
    const char *ctl = getenv("FS_MONGO_CTL");
    int wfd, rfd;
    char reply[512];
    size_t n = 0;

    if (!ctl || sscanf(ctl, "%d,%d", &wfd, &rfd) != 2)
        fail_msg("FS_MONGO_CTL is not set: run through test_storage_mongo.py");
    assert_true(dprintf(wfd, "%s\n", cmd) > 0);
    while (n < sizeof(reply) - 1) {
        ssize_t r = read(rfd, &reply[n], 1);
        assert_true(r == 1);
        if (reply[n] == '\n')
            break;
        n++;
    }
    reply[n] = '\0';
    if (strncmp(reply, "ok", 2) != 0)
        fail_msg("server %s: %s", cmd, reply);
}

/* ---- config through the option table ------------------------------------- */

static void *config_build(struct db *d)
{
    const struct fs_plugin *p = d->f.plugin;
    void *config = fixture_config_defaults(p);

    fixture_option_set(p, config, "uri", d->uri);
    fixture_option_set(p, config, "database", d->name);
    fixture_option_set(p, config, "timeout_ms",
               d->timeout_ms ? d->timeout_ms : TEST_TIMEOUT_MS);
    if (d->pool_size)
        fixture_option_set(p, config, "pool_size", d->pool_size);
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

/* A database of its own on the test server, not opened yet. */
static struct db *db_new(void)
{
    struct db *d = calloc(1, sizeof(*d));

    assert_non_null(d);
    d->uri = getenv("FS_MONGO_URI");
    if (!d->uri)
        fail_msg("FS_MONGO_URI is not set: run through test_storage_mongo.py");
    snprintf(d->name, sizeof(d->name), "fs_test_%ld_%d", (long)getpid(),
             ++db_counter);
    return d;
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
    struct db *d = *state;

    db_stop(d);
    free(d);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

#define mono_ms fs_test_now_ms

/* A client of our own, to look at what the plugin stored. */
static mongoc_client_t *raw_client(const struct db *d)
{
    mongoc_client_t *client = mongoc_client_new(d->uri);

    assert_non_null(client);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    return client;
}

/* The stored document of a booking; the caller destroys it. */
static bson_t *raw_document(struct db *d, const char *booking_id)
{
    mongoc_client_t *client = raw_client(d);
    mongoc_collection_t *coll =
        mongoc_client_get_collection(client, d->name, "bookings");
    bson_t *filter = BCON_NEW("booking_id", BCON_UTF8(booking_id));
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *doc;
    bson_t *copy = NULL;

    if (mongoc_cursor_next(cursor, &doc))
        copy = bson_copy(doc);
    mongoc_cursor_destroy(cursor);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    assert_non_null(copy);
    return copy;
}

static const char *raw_utf8(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        fail_msg("document has no string %s", key);
    return bson_iter_utf8(&it, NULL);
}

static int raw_bool(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_BOOL(&it))
        fail_msg("document has no boolean %s", key);
    return bson_iter_bool(&it);
}

/* How many documents the test's collection holds. */
static int64_t raw_count(const struct db *d)
{
    mongoc_client_t *client = raw_client(d);
    mongoc_collection_t *coll =
        mongoc_client_get_collection(client, d->name, "bookings");
    bson_t filter = BSON_INITIALIZER;
    bson_error_t error;
    int64_t n = mongoc_collection_count_documents(coll, &filter, NULL, NULL,
                                                  NULL, &error);

    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    if (n < 0)
        fail_msg("counting %s.bookings: %s", d->name, error.message);
    return n;
}

/* ---- the contract's fixture: a new database per test --------------------- */

/* Options the fixture sets beyond the defaults (NULL: the default). */
struct mongo_settings {
    const char *pool_size;
};

static void mongo_create(const struct storage_fixture *fx,
                         struct storage_instance *out)
{
    const struct mongo_settings *s = fx->arg;
    struct db *d = db_new();

    out->fixture_data = d;
    if (s)
        d->pool_size = s->pool_size;
    db_start(d);
    out->plugin = d->f.plugin;
    out->ctx = d->f.ctx;
}

static void mongo_destroy(const struct storage_fixture *fx,
                          struct storage_instance *in)
{
    struct db *d = in->fixture_data;

    (void)fx;
    d->f.ctx = in->ctx;  /* the suite may have restarted the instance */
    db_stop(d);
    free(d);
}

/* Another create() on the same database and config. */
static void *mongo_open_same_store(const struct storage_fixture *fx,
                                   const struct storage_instance *in)
{
    const struct db *d = in->fixture_data;

    (void)fx;
    return fixture_create_another(&d->f, d->config);
}

static void mongo_assert_stores_nothing(const struct storage_fixture *fx,
                                        const struct storage_instance *in)
{
    (void)fx;
    assert_int_equal(raw_count(in->fixture_data), 0);
}

static const struct storage_fixture mongo_fixture = {
    .name = "mongo",
    .create = mongo_create,
    .destroy = mongo_destroy,
    .open_same_store = mongo_open_same_store,
    .assert_stores_nothing = mongo_assert_stores_nothing,
    .race_inserts_per_thread = 40,
    .race_shared_users = 20,
};

static const struct mongo_settings pool_of_one = {.pool_size = "1"};

/* For the callback listing alone: with a pool of one, a listing that held
 * its connection during the callback would wait for itself until
 * timeout_ms. */
static const struct storage_fixture mongo_pool_of_one_fixture = {
    .name = "mongo, pool_size 1",
    .create = mongo_create,
    .destroy = mongo_destroy,
    .open_same_store = mongo_open_same_store,
    .arg = &pool_of_one,
};

/* ---- descriptor and config ----------------------------------------------- */

/* Kind, size, operations and the option table's shape: the contract's
 * descriptor test. */
static void test_descriptor_is_a_thread_safe_storage_named_mongo(void **state)
{
    struct db *d = *state;
    const struct fs_plugin *p = d->f.plugin;
    const char *names[] = {"uri", "database", "collection", "pool_size",
                           "write_concern", "journal", "timeout_ms"};
    size_t i;

    assert_string_equal(p->name, "mongo");
    assert_true(p->flags & FS_PLUGIN_THREAD_SAFE);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        fixture_option(p, names[i]);
    assert_string_equal(fixture_option(p, "uri")->default_value,
                        "mongodb://127.0.0.1:27017");
    assert_string_equal(fixture_option(p, "database")->default_value,
                        "flashsaled");
    assert_string_equal(fixture_option(p, "collection")->default_value,
                        "bookings");
    assert_string_equal(fixture_option(p, "pool_size")->default_value, "16");
    assert_string_equal(fixture_option(p, "write_concern")->default_value,
                        "majority");
    assert_string_equal(fixture_option(p, "journal")->default_value, "true");
    assert_string_equal(fixture_option(p, "timeout_ms")->default_value, "5000");
}

/* create() with one option changed must fail and name it in its error. */
static void assert_create_refuses(struct db *d, const char *name,
                                  const char *value, const char *in_error)
{
    const struct fs_plugin *p = d->f.plugin;
    void *config = config_build(d);
    char err[256] = "";
    void *ctx = NULL;

    fixture_option_set(p, config, name, value);
    assert_int_not_equal(p->create(&test_host, config, &ctx, err, sizeof(err)),
                         0);
    assert_null(ctx);
    if (!strstr(err, in_error))
        fail_msg("error \"%s\" does not mention %s", err, in_error);
    free(config);
}

static void test_create_refuses_bad_settings(void **state)
{
    struct db *d = *state;

    assert_create_refuses(d, "write_concern", "most", "write_concern");
    assert_create_refuses(d, "write_concern", "0", "write_concern");
    assert_create_refuses(d, "pool_size", "-1", "pool_size");
    assert_create_refuses(d, "timeout_ms", "-5", "timeout_ms");
    assert_create_refuses(d, "uri", "http://example.invalid/", "uri");
    assert_create_refuses(d, "database", "", "database");
}

static void test_create_accepts_a_numeric_write_concern(void **state)
{
    struct db *d = *state;
    const struct fs_plugin *p = d->f.plugin;
    void *config = config_build(d);
    char err[256] = "";
    void *ctx = NULL;

    fixture_option_set(p, config, "write_concern", "1");
    fixture_option_set(p, config, "journal", "false");
    if (p->create(&test_host, config, &ctx, err, sizeof(err)) != 0)
        fail_msg("create: %s", err);
    assert_int_equal(p->storage->get(ctx, "nope", &(struct fs_booking){0}),
                     FS_NOT_FOUND);
    p->destroy(ctx);
    free(config);
}

static void test_create_declares_the_unique_indexes(void **state)
{
    struct db *d = *state;
    mongoc_client_t *client = raw_client(d);
    mongoc_collection_t *coll =
        mongoc_client_get_collection(client, d->name, "bookings");
    mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(coll,
                                                                       NULL);
    int by_id = 0, by_user = 0;
    const bson_t *spec;
    bson_iter_t it;

    while (mongoc_cursor_next(cursor, &spec)) {
        const char *name = raw_utf8(spec, "name");
        int unique = bson_iter_init_find(&it, spec, "unique") &&
                     bson_iter_as_bool(&it);
        if (strcmp(name, "booking_id_unique") == 0)
            by_id = unique;
        if (strcmp(name, "one_active_per_user") == 0)
            by_user = unique;
    }
    assert_false(mongoc_cursor_error(cursor, NULL));
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    assert_true(by_id);
    assert_true(by_user);
}

/* ---- the stored documents ------------------------------------------------ */

static void test_documents_name_their_state_and_say_whether_active(
    void **state)
{
    struct db *d = *state;
    bson_t *doc;
    bson_iter_t it;

    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "b1", "launch",
                                             "alice", 10),
                     FS_OK);
    doc = raw_document(d, "b1");
    assert_string_equal(raw_utf8(doc, "state"), "queued");
    assert_true(raw_bool(doc, "active"));
    assert_true(bson_iter_init_find(&it, doc, "_id") &&
                BSON_ITER_HOLDS_OID(&it));
    bson_destroy(doc);
    assert_int_equal(storage_contract_move(d->ops, d->f.ctx, "b1",
                                           FS_STATE_QUEUED, FS_STATE_REJECTED,
                                           NULL),
                     FS_OK);
    doc = raw_document(d, "b1");
    assert_string_equal(raw_utf8(doc, "state"), "rejected");
    assert_false(raw_bool(doc, "active"));
    bson_destroy(doc);
}

/* ---- the server going away ----------------------------------------------- */

static int count_listed(void *arg, const struct fs_booking *b)
{
    (void)b;
    ++*(int *)arg;
    return 0;
}

/* Every operation, and health, must answer unavailable within the bound. */
static void assert_every_op_unavailable(struct db *d, int64_t bound_ms)
{
    struct fs_transition t = {.booking_id = "before", .from = FS_STATE_QUEUED,
                              .to = FS_STATE_HOLD, .at_ms = 9};
    struct fs_booking b = storage_contract_booking("during", "launch", "bob",
                                                   2);
    char existing[FS_ID_MAX + 1], detail[256] = "";
    enum fs_status result;
    struct fs_booking out;
    int listed = 0;
    int64_t start = mono_ms();

    assert_int_equal(d->ops->insert(d->f.ctx, &b, existing), FS_UNAVAILABLE);
    assert_int_equal(d->ops->transition(d->f.ctx, &t, 1, &result, NULL),
                     FS_UNAVAILABLE);
    assert_int_equal(d->ops->get(d->f.ctx, "before", &out), FS_UNAVAILABLE);
    assert_int_equal(d->ops->list(d->f.ctx, "launch", FS_STATE_QUEUED,
                                  count_listed, &listed),
                     FS_UNAVAILABLE);
    assert_int_equal(listed, 0);
    assert_int_equal(d->f.plugin->health(d->f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    assert_true(detail[0] != '\0');
    bound_ms = fs_test_hang_bound_ms(bound_ms);
    if (mono_ms() - start > bound_ms)
        fail_msg("five operations took %lld ms while the server was away, "
                 "over the bound of %lld ms",
                 (long long)(mono_ms() - start), (long long)bound_ms);
}

/* Polls until an insert goes through again (the pool reconnects by itself),
 * within RECOVERY_BOUND_MS. */
static void wait_until_insert_succeeds(struct db *d, const char *id,
                                       const char *user)
{
    int64_t deadline = mono_ms() + fs_test_hang_bound_ms(RECOVERY_BOUND_MS);
    enum fs_status rc;

    while ((rc = storage_contract_insert(d->ops, d->f.ctx, id, "launch", user,
                                         3)) == FS_UNAVAILABLE &&
           mono_ms() < deadline)
        usleep(100 * 1000);
    assert_int_equal(rc, FS_OK);
}

static void use_short_timeouts(struct db *d)
{
    static char timeout[16];

    db_stop(d);
    snprintf(timeout, sizeof(timeout), "%d", OUTAGE_TIMEOUT_MS);
    d->timeout_ms = timeout;
    db_start(d);
}

/* CongoDB keeps its data in memory, so the server that comes back is empty;
 * the plugin must notice and create its indexes again before it writes. */
static void test_server_killed_and_restarted_answers_unavailable_then_works(
    void **state)
{
    struct db *d = *state;
    char existing[FS_ID_MAX + 1] = "";
    struct fs_booking b = storage_contract_booking("second", "launch",
                                                   "carol", 4);

    use_short_timeouts(d);
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "before",
                                             "launch", "alice", 1),
                     FS_OK);
    server_ctl("kill");
    assert_every_op_unavailable(d, 5 * 4 * OUTAGE_TIMEOUT_MS);
    server_ctl("start");
    wait_until_insert_succeeds(d, "after", "carol");
    assert_int_equal(storage_contract_state_of(d->ops, d->f.ctx, "after"),
                     FS_STATE_QUEUED);
    assert_int_equal(d->ops->insert(d->f.ctx, &b, existing), FS_DUPLICATE);
    assert_string_equal(existing, "after");
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "after",
                                             "launch", "dave", 5),
                     FS_CONFLICT);
}

/* A server that hangs (connections open, no answers) is bounded by the
 * socket timeout, and is used again once it answers. A write that timed out
 * may still be applied when the server wakes up (MongoDB says the same of
 * any write whose answer was lost), so the test does not look at "during". */
static void test_hung_server_answers_unavailable_within_the_timeout(
    void **state)
{
    struct db *d = *state;

    use_short_timeouts(d);
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "before",
                                             "launch", "alice", 1),
                     FS_OK);
    server_ctl("freeze");
    assert_every_op_unavailable(d, 5 * 4 * OUTAGE_TIMEOUT_MS);
    server_ctl("thaw");
    wait_until_insert_succeeds(d, "after", "erin");
    /* The queued -> hold change tried during the freeze timed out, and the
     * woken server may apply it late: either state is right, nothing else. */
    {
        enum fs_booking_state st =
            storage_contract_state_of(d->ops, d->f.ctx, "before");
        assert_true(st == FS_STATE_QUEUED || st == FS_STATE_HOLD);
    }
}

/* A daemon may start before its database: create() succeeds, health() says
 * unavailable, and the first operations after the server appears work. */
static void test_create_succeeds_while_the_server_is_down(void **state)
{
    struct db *d = *state;
    char detail[256] = "";

    db_stop(d);
    server_ctl("kill");
    d->timeout_ms = "500";
    db_start(d);
    assert_int_equal(d->f.plugin->health(d->f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    server_ctl("start");
    wait_until_insert_succeeds(d, "first", "alice");
    assert_int_equal(storage_contract_insert(d->ops, d->f.ctx, "second",
                                             "launch", "alice", 4),
                     FS_DUPLICATE);
    assert_int_equal(d->f.plugin->health(d->f.ctx, detail, sizeof(detail)),
                     FS_OK);
}

/* ---- the contract's tests under other settings --------------------------- */

/* The contract's callback listing, with a pool of one connection. */
static void test_list_callback_may_call_back_with_a_pool_of_one(void **state)
{
    storage_contract_test_list_callback_may_call_back_into_the_storage(state);
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
        T(test_descriptor_is_a_thread_safe_storage_named_mongo),
        T(test_create_refuses_bad_settings),
        T(test_create_accepts_a_numeric_write_concern),
        T(test_create_declares_the_unique_indexes),
        T(test_documents_name_their_state_and_say_whether_active),
        P(test_list_callback_may_call_back_with_a_pool_of_one,
          mongo_pool_of_one_fixture),
        /* Last: they take the server away. */
        T(test_server_killed_and_restarted_answers_unavailable_then_works),
        T(test_hung_server_answers_unavailable_within_the_timeout),
        T(test_create_succeeds_while_the_server_is_down),
    };
    int failed = storage_contract_run(&mongo_fixture);

    failed += cmocka_run_group_tests_name("storage_mongo", tests, NULL, NULL);
    /* Not the count: 77 and 99 mean "skipped" and "hard error" to automake. */
    return failed ? 1 : 0;
}
