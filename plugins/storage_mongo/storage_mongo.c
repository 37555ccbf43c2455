/*
 * storage_mongo.c - the MongoDB storage plugin: one document per booking in
 * one collection, reached through a mongo-c-driver client pool.
 *
 * Owns the pool, the collection's indexes and the mapping between struct
 * fs_booking and its document:
 *
 *   { _id: ObjectId, booking_id, sale_id, user_id, state: "queued"|"hold"|...,
 *     active: bool, reason, created_ms, updated_ms, hold_expires_ms,
 *     hold_seconds, seq }
 *
 * The rules live in the server, not here, so that several daemons sharing
 * one database keep them:
 *  - a unique index on booking_id (insert of an existing id: FS_CONFLICT);
 *  - a unique PARTIAL index on (sale_id, user_id) over documents with
 *    active: true, the one-active-booking-per-user rule. `active` mirrors
 *    "state is queued, hold or booked" and every write sets both together.
 *    A plain boolean because partialFilterExpression accepts $in only from
 *    MongoDB 6.0 on; {active: {$eq: true}} works on every server since 3.2
 *    (and on the wire-compatible servers that only take $eq);
 *  - every state change is a findAndModify whose filter holds the expected
 *    state, so of two racing changes exactly one matches.
 *
 * seq breaks created_ms ties in "oldest accepted first": an int64 taken from
 * a per-process clock in microseconds that never repeats or goes back
 * (max(previous + 1, now)). Within one daemon it is the insertion order;
 * across daemons it follows wall-clock time, which is all fairness asks
 * (DESIGN.md: one instance processes a sale in the order it accepted). The
 * ObjectId would not do: its 3-byte counter starts at a random value and
 * wraps, and its timestamp has one-second resolution.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "flashsaled/fs_plugin.h"

#define FS_MONGO_LOG_NAME "storage.mongo"
#define FS_MONGO_DEFAULT_URI "mongodb://127.0.0.1:27017"
#define FS_MONGO_DEFAULT_DB "flashsaled"
#define FS_MONGO_DEFAULT_COLL "bookings"
#define FS_MONGO_DEFAULT_POOL 16
#define FS_MONGO_DEFAULT_TIMEOUT_MS 5000
#define FS_MONGO_MAX_POOL 1024
#define FS_MONGO_MAX_TIMEOUT_MS 600000
#define FS_MONGO_MAX_W 50
/* list() fetches this many documents per round trip, then calls back with
 * no client held. */
#define FS_MONGO_LIST_PAGE 64
/* An insert refused by the one-per-user index whose holder finished before
 * we could name it, or a change that raced the booking's first insert, is
 * tried again this many times. */
#define FS_MONGO_INSERT_TRIES 3
#define FS_MONGO_DUPLICATE_KEY 11000

#define FS_MONGO_INDEX_ID "booking_id_unique"
#define FS_MONGO_INDEX_ACTIVE "one_active_per_user"
#define FS_MONGO_INDEX_SALE "by_sale_state_created"
#define FS_MONGO_INDEX_STATE "by_state_created"

/* ---- configuration ------------------------------------------------------- */

struct fs_mongo_config {
    char *uri;
    char *database;
    char *collection;
    int64_t pool_size;
    char *write_concern;
    int journal;
    int64_t timeout_ms;
};

static const struct fs_option fs_mongo_options[] = {
    {FS_OPT_STRING, "uri", FS_MONGO_DEFAULT_URI,
     offsetof(struct fs_mongo_config, uri),
     "MongoDB connection string (mongodb:// or mongodb+srv://), with "
     "credentials, replicaSet, tls and other options as MongoDB documents "
     "them. Options set in the URI win over pool_size and timeout_ms."},
    {FS_OPT_STRING, "database", FS_MONGO_DEFAULT_DB,
     offsetof(struct fs_mongo_config, database),
     "Database that holds the bookings collection."},
    {FS_OPT_STRING, "collection", FS_MONGO_DEFAULT_COLL,
     offsetof(struct fs_mongo_config, collection),
     "Collection of bookings; its indexes are created at start (and again "
     "after the server was unreachable) when missing."},
    {FS_OPT_INT, "pool_size", "16",
     offsetof(struct fs_mongo_config, pool_size),
     "Most connections open at once (maxPoolSize). 0 means the default."},
    {FS_OPT_STRING, "write_concern", "majority",
     offsetof(struct fs_mongo_config, write_concern),
     "Acknowledgement a write waits for before it counts as durable: "
     "\"majority\" (default: survives the loss of a minority of a replica "
     "set) or a number of members, 1 to 50."},
    {FS_OPT_BOOL, "journal", "true",
     offsetof(struct fs_mongo_config, journal),
     "Wait for the on-disk journal too (j: true), so an acknowledged "
     "booking survives a crash of the server."},
    {FS_OPT_INT, "timeout_ms", "5000",
     offsetof(struct fs_mongo_config, timeout_ms),
     "Bound on finding a usable server, on connecting, on one socket read "
     "or write, on the write concern and on waiting for a free connection; "
     "past it an operation answers unavailable (503). 0 means the default."},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

/* ---- state --------------------------------------------------------------- */

struct fs_mongo {
    const struct fs_host *host;
    const char *database;
    const char *collection;
    mongoc_client_pool_t *pool;
    mongoc_write_concern_t *wc;
    /* {writeConcern: ...} for every write. A pointer: bson_t asks for
     * 128-byte alignment, which calloc() does not give a struct holding it. */
    bson_t *write_opts;
    /* Cleared whenever the server was unreachable: it may have come back
     * empty (a fresh node, a server without persistence), and nothing may
     * be written before the unique indexes exist again. */
    atomic_int indexes_ready;
    pthread_mutex_t index_lock;
    int lock_ready;
    _Atomic int64_t last_seq;
    /* "mongodb HOST:PORT[,HOST:PORT...]": the servers health() names,
     * without the uri's user and password. */
    char where[256];
    /* Why the first contact in create() found no server, and until when
     * (monotonic ms) health() answers that instead of waiting out another
     * server selection: the core probes right after create(), and a start
     * against a server that is down should fail within one timeout_ms,
     * not two. */
    char first_error[512];
    int64_t first_error_until_ms;
};

/* A client popped from the pool and the collection on it. */
struct fs_mongo_conn {
    mongoc_client_t *client;
    mongoc_collection_t *coll;
};

/* Indexed by enum fs_booking_state; frozen: they are stored. */
static const char *const fs_mongo_state_names[] = {
    NULL, "queued", "hold", "booked", "deleted", "expired", "rejected",
};

/* ---- library lifetime ---------------------------------------------------- */

/* mongoc_init() may run only once per process, before any other call, and
 * mongoc_cleanup() last. The plugin is linked with -z nodelete, so it (and
 * libmongoc) is loaded once whatever the daemon or a test dlclose()s: these
 * run at the first dlopen() and at exit. */
/* The driver logs through one process-wide handler; its warnings go to the
 * daemon's log, its chatter (info, debug, trace) nowhere. */
static const struct fs_host *_Atomic fs_mongo_log_host;

static void fs_mongo_driver_log(mongoc_log_level_t level, const char *domain,
                                const char *message, void *data)
{
    const struct fs_host *host = atomic_load(&fs_mongo_log_host);

    (void)data;
    if (level > MONGOC_LOG_LEVEL_WARNING || !host || !host->log)
        return;
    host->log(level <= MONGOC_LOG_LEVEL_CRITICAL ? FS_LOG_ERROR : FS_LOG_WARN,
              FS_MONGO_LOG_NAME, "driver %s: %s", domain, message);
}

__attribute__((constructor)) static void fs_mongo_library_init(void)
{
    mongoc_log_set_handler(fs_mongo_driver_log, NULL);
    mongoc_init();
}

__attribute__((destructor)) static void fs_mongo_library_cleanup(void)
{
    mongoc_cleanup();
}

/* ---- small helpers ------------------------------------------------------- */

static void fs_mongo_log(const struct fs_mongo *m, enum fs_log_level level,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fs_mongo_log(const struct fs_mongo *m, enum fs_log_level level,
                         const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (!m || !m->host || !m->host->log)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    m->host->log(level, FS_MONGO_LOG_NAME, "%s", buf);
}

static void fs_mongo_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fs_mongo_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Server error codes that mean "not now" rather than "never": elections,
 * shutdowns, timeouts, a write concern that could not be met in time. */
static int fs_mongo_transient_code(uint32_t code)
{
    switch (code) {
    case 6:      /* HostUnreachable */
    case 7:      /* HostNotFound */
    case 50:     /* MaxTimeMSExpired */
    case 64:     /* WriteConcernFailed (wtimeout) */
    case 89:     /* NetworkTimeout */
    case 91:     /* ShutdownInProgress */
    case 189:    /* PrimarySteppedDown */
    case 262:    /* ExceededTimeLimit */
    case 9001:   /* SocketException */
    case 10107:  /* NotWritablePrimary */
    case 11600:  /* InterruptedAtShutdown */
    case 11602:  /* InterruptedDueToReplStateChange */
    case 13435:  /* NotPrimaryNoSecondaryOk */
    case 13436:  /* NotPrimaryOrSecondary */
        return 1;
    default:
        return 0;
    }
}

/* Network trouble, no reachable server or a write concern not met:
 * unavailable (retry later). Anything else is a bug or a refusal. */
static enum fs_status fs_mongo_status(const bson_error_t *e)
{
    switch (e->domain) {
    case MONGOC_ERROR_STREAM:
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_PROTOCOL:
    case MONGOC_ERROR_WRITE_CONCERN:
        return FS_UNAVAILABLE;
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_COLLECTION:
    case MONGOC_ERROR_COMMAND:
        return fs_mongo_transient_code(e->code) ? FS_UNAVAILABLE : FS_ERROR;
    default:
        return FS_ERROR;
    }
}

/* Logs a failed operation and maps it; an outage also re-arms the index
 * check (see indexes_ready). */
static enum fs_status fs_mongo_failed(struct fs_mongo *m, const char *what,
                                      const char *id, const bson_error_t *e)
{
    enum fs_status status = fs_mongo_status(e);

    if (status == FS_UNAVAILABLE)
        atomic_store(&m->indexes_ready, 0);
    fs_mongo_log(m, status == FS_UNAVAILABLE ? FS_LOG_WARN : FS_LOG_ERROR,
                 "%s%s%s: %s (domain %u, code %u)", what, id ? " " : "",
                 id ? id : "", e->message, e->domain, e->code);
    return status;
}

static int fs_mongo_valid_state(enum fs_booking_state state)
{
    return state >= FS_STATE_QUEUED && state <= FS_STATE_REJECTED;
}

static enum fs_booking_state fs_mongo_state_from_name(const char *name)
{
    int s;

    for (s = FS_STATE_QUEUED; s <= FS_STATE_REJECTED; s++)
        if (strcmp(name, fs_mongo_state_names[s]) == 0)
            return (enum fs_booking_state)s;
    return FS_STATE_NONE;
}

/* A tie-breaker that never repeats or goes back within this process. */
static int64_t fs_mongo_next_seq(struct fs_mongo *m)
{
    struct timespec ts;
    int64_t now, prev, next;

    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    prev = atomic_load(&m->last_seq);
    do {
        next = now > prev ? now : prev + 1;
    } while (!atomic_compare_exchange_weak(&m->last_seq, &prev, next));
    return next;
}

/* ---- connections --------------------------------------------------------- */

/* FS_UNAVAILABLE when every connection stays busy for timeout_ms. */
static enum fs_status fs_mongo_acquire(struct fs_mongo *m,
                                       struct fs_mongo_conn *c)
{
    c->client = mongoc_client_pool_pop(m->pool);
    if (!c->client) {
        fs_mongo_log(m, FS_LOG_WARN, "no free connection in time");
        return FS_UNAVAILABLE;
    }
    c->coll = mongoc_client_get_collection(c->client, m->database,
                                           m->collection);
    return FS_OK;
}

static void fs_mongo_release(struct fs_mongo *m, struct fs_mongo_conn *c)
{
    if (c->coll)
        mongoc_collection_destroy(c->coll);
    if (c->client)
        mongoc_client_pool_push(m->pool, c->client);
    c->coll = NULL;
    c->client = NULL;
}

/* ---- indexes ------------------------------------------------------------- */

static void fs_mongo_index_spec(bson_t *indexes, const char *key,
                                const char *name, const bson_t *keys,
                                int unique, int partial)
{
    bson_t spec, pfe, active;

    bson_append_document_begin(indexes, key, -1, &spec);
    BSON_APPEND_DOCUMENT(&spec, "key", keys);
    BSON_APPEND_UTF8(&spec, "name", name);
    if (unique)
        BSON_APPEND_BOOL(&spec, "unique", true);
    if (partial) {
        BSON_APPEND_DOCUMENT_BEGIN(&spec, "partialFilterExpression", &pfe);
        BSON_APPEND_DOCUMENT_BEGIN(&pfe, "active", &active);
        BSON_APPEND_BOOL(&active, "$eq", true);
        bson_append_document_end(&pfe, &active);
        bson_append_document_end(&spec, &pfe);
    }
    bson_append_document_end(indexes, &spec);
}

/* {createIndexes: coll, indexes: [...]}: idempotent when the indexes exist
 * with the same options. */
static void fs_mongo_index_command(const struct fs_mongo *m, bson_t *cmd)
{
    bson_t indexes;
    bson_t *by_id = BCON_NEW("booking_id", BCON_INT32(1));
    bson_t *by_user = BCON_NEW("sale_id", BCON_INT32(1), "user_id",
                               BCON_INT32(1));
    bson_t *by_sale = BCON_NEW("sale_id", BCON_INT32(1), "state",
                               BCON_INT32(1), "created_ms", BCON_INT32(1),
                               "seq", BCON_INT32(1));
    bson_t *by_state = BCON_NEW("state", BCON_INT32(1), "created_ms",
                                BCON_INT32(1), "seq", BCON_INT32(1));

    BSON_APPEND_UTF8(cmd, "createIndexes", m->collection);
    BSON_APPEND_ARRAY_BEGIN(cmd, "indexes", &indexes);
    fs_mongo_index_spec(&indexes, "0", FS_MONGO_INDEX_ID, by_id, 1, 0);
    fs_mongo_index_spec(&indexes, "1", FS_MONGO_INDEX_ACTIVE, by_user, 1, 1);
    fs_mongo_index_spec(&indexes, "2", FS_MONGO_INDEX_SALE, by_sale, 0, 0);
    fs_mongo_index_spec(&indexes, "3", FS_MONGO_INDEX_STATE, by_state, 0, 0);
    bson_append_array_end(cmd, &indexes);
    bson_destroy(by_id);
    bson_destroy(by_user);
    bson_destroy(by_sale);
    bson_destroy(by_state);
}

static enum fs_status fs_mongo_create_indexes(struct fs_mongo *m,
                                              struct fs_mongo_conn *c,
                                              bson_error_t *error)
{
    mongoc_database_t *db = mongoc_client_get_database(c->client, m->database);
    bson_t cmd = BSON_INITIALIZER;
    bson_t reply;
    bool ok;

    fs_mongo_index_command(m, &cmd);
    ok = mongoc_database_write_command_with_opts(db, &cmd, m->write_opts,
                                                 &reply, error);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_database_destroy(db);
    return ok ? FS_OK : fs_mongo_status(error);
}

/* Makes sure the unique indexes exist before anything is written. While
 * one caller (re)creates them, the others answer unavailable at once rather
 * than wait for the lock: during an outage each attempt takes the whole
 * timeout, and callers queued on the lock used to wait one timeout per caller
 * ahead of them (a crowd's POSTs went past 10 s instead of a prompt 503,
 * found by tests/faults/test_backend_outages.py). */
static enum fs_status fs_mongo_ensure_indexes(struct fs_mongo *m,
                                              struct fs_mongo_conn *c)
{
    enum fs_status status = FS_OK;
    bson_error_t error;

    if (atomic_load(&m->indexes_ready))
        return FS_OK;
    if (pthread_mutex_trylock(&m->index_lock) != 0)
        return FS_UNAVAILABLE;
    if (!atomic_load(&m->indexes_ready)) {
        status = fs_mongo_create_indexes(m, c, &error);
        if (status == FS_OK)
            atomic_store(&m->indexes_ready, 1);
        else
            fs_mongo_log(m, FS_LOG_ERROR, "creating indexes on %s.%s: %s",
                         m->database, m->collection, error.message);
    }
    pthread_mutex_unlock(&m->index_lock);
    return status;
}

/* ---- documents ----------------------------------------------------------- */

static void fs_mongo_booking_doc(struct fs_mongo *m, const struct fs_booking *b,
                                 bson_t *doc)
{
    enum fs_booking_state state =
        b->state == FS_STATE_NONE ? FS_STATE_QUEUED : b->state;
    bson_oid_t oid;

    bson_oid_init(&oid, NULL);
    BSON_APPEND_OID(doc, "_id", &oid);
    BSON_APPEND_UTF8(doc, "booking_id", b->booking_id);
    BSON_APPEND_UTF8(doc, "sale_id", b->sale_id);
    BSON_APPEND_UTF8(doc, "user_id", b->user_id);
    BSON_APPEND_UTF8(doc, "state", fs_mongo_state_names[state]);
    BSON_APPEND_BOOL(doc, "active", fs_plugin_state_active(state));
    BSON_APPEND_UTF8(doc, "reason", b->reason);
    BSON_APPEND_INT64(doc, "created_ms", b->created_ms);
    BSON_APPEND_INT64(doc, "updated_ms", b->updated_ms);
    BSON_APPEND_INT64(doc, "hold_expires_ms", b->hold_expires_ms);
    BSON_APPEND_INT64(doc, "hold_seconds", (int64_t)b->hold_seconds);
    BSON_APPEND_INT64(doc, "seq", fs_mongo_next_seq(m));
}

/* Copies a string field into a fixed buffer; a value too long for it (only
 * a document edited by hand) is cut rather than overflowing. */
static void fs_mongo_copy_utf8(const bson_iter_t *it, char *dst, size_t size)
{
    uint32_t len = 0;
    const char *s = BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, &len) : "";

    if (len >= size)
        len = (uint32_t)size - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* Numbers may come back as int32, int64 or double depending on the server
 * (a JavaScript one stores them all as doubles). */
static int64_t fs_mongo_number(const bson_iter_t *it)
{
    return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_int64(it) : 0;
}

/* Fills a booking from its document; -1 when its state is not one of ours. */
static int fs_mongo_booking_from(const bson_t *doc, struct fs_booking *out,
                                 int64_t *seq)
{
    char state[16] = "";
    bson_iter_t it;
    const char *key;

    memset(out, 0, sizeof(*out));
    if (!bson_iter_init(&it, doc))
        return -1;
    while (bson_iter_next(&it)) {
        key = bson_iter_key(&it);
        if (strcmp(key, "booking_id") == 0)
            fs_mongo_copy_utf8(&it, out->booking_id, sizeof(out->booking_id));
        else if (strcmp(key, "sale_id") == 0)
            fs_mongo_copy_utf8(&it, out->sale_id, sizeof(out->sale_id));
        else if (strcmp(key, "user_id") == 0)
            fs_mongo_copy_utf8(&it, out->user_id, sizeof(out->user_id));
        else if (strcmp(key, "state") == 0)
            fs_mongo_copy_utf8(&it, state, sizeof(state));
        else if (strcmp(key, "reason") == 0)
            fs_mongo_copy_utf8(&it, out->reason, sizeof(out->reason));
        else if (strcmp(key, "created_ms") == 0)
            out->created_ms = fs_mongo_number(&it);
        else if (strcmp(key, "updated_ms") == 0)
            out->updated_ms = fs_mongo_number(&it);
        else if (strcmp(key, "hold_expires_ms") == 0)
            out->hold_expires_ms = fs_mongo_number(&it);
        else if (strcmp(key, "hold_seconds") == 0)
            out->hold_seconds = (uint32_t)fs_mongo_number(&it);
        else if (strcmp(key, "seq") == 0 && seq)
            *seq = fs_mongo_number(&it);
    }
    out->state = fs_mongo_state_from_name(state);
    return out->state == FS_STATE_NONE ? -1 : 0;
}

/* The first document matching filter: FS_OK with *doc (caller destroys),
 * FS_NOT_FOUND, or an error. */
static enum fs_status fs_mongo_find_one(struct fs_mongo *m,
                                        struct fs_mongo_conn *c,
                                        const bson_t *filter, bson_t **doc,
                                        const char *what, const char *id)
{
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "singleBatch",
                            BCON_BOOL(true));
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(c->coll, filter, opts, NULL);
    enum fs_status status = FS_NOT_FOUND;
    const bson_t *found;
    bson_error_t error;

    *doc = NULL;
    if (mongoc_cursor_next(cursor, &found)) {
        *doc = bson_copy(found);
        status = FS_OK;
    } else if (mongoc_cursor_error(cursor, &error)) {
        status = fs_mongo_failed(m, what, id, &error);
    }
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    return status;
}

/* ---- insert -------------------------------------------------------------- */

/* The insert hit a unique index: name which one by looking, as the error's
 * wording differs between servers. FS_OK means neither holder is there any
 * more (it finished meanwhile) and the insert may be tried again. */
static enum fs_status fs_mongo_insert_refusal(struct fs_mongo *m,
                                              struct fs_mongo_conn *c,
                                              const struct fs_booking *b,
                                              char *existing)
{
    bson_t *by_id = BCON_NEW("booking_id", BCON_UTF8(b->booking_id));
    bson_t *by_user = BCON_NEW("sale_id", BCON_UTF8(b->sale_id), "user_id",
                               BCON_UTF8(b->user_id), "active",
                               BCON_BOOL(true));
    struct fs_booking holder;
    bson_t *doc = NULL;
    enum fs_status status;

    status = fs_mongo_find_one(m, c, by_id, &doc, "insert check", b->booking_id);
    if (status == FS_OK) {
        status = FS_CONFLICT;
        goto done;
    }
    if (status != FS_NOT_FOUND)
        goto done;
    status = fs_mongo_find_one(m, c, by_user, &doc, "insert check",
                               b->booking_id);
    if (status == FS_OK) {
        fs_mongo_booking_from(doc, &holder, NULL);
        if (existing)
            snprintf(existing, FS_ID_MAX + 1, "%s", holder.booking_id);
        status = FS_DUPLICATE;
    } else if (status == FS_NOT_FOUND) {
        status = FS_OK;
    }
done:
    bson_destroy(doc);
    bson_destroy(by_id);
    bson_destroy(by_user);
    return status;
}

/* One attempt; *again is set when a unique index refused the document but
 * its holder is gone by the time we look, so a new attempt may succeed. */
static enum fs_status fs_mongo_insert_once(struct fs_mongo *m,
                                           struct fs_mongo_conn *c,
                                           const struct fs_booking *b,
                                           char *existing, int *again)
{
    bson_t doc = BSON_INITIALIZER;
    bson_error_t error;
    enum fs_status status = FS_OK;

    *again = 0;
    fs_mongo_booking_doc(m, b, &doc);
    if (!mongoc_collection_insert_one(c->coll, &doc, m->write_opts, NULL,
                                      &error)) {
        if (error.code == FS_MONGO_DUPLICATE_KEY &&
            error.domain != MONGOC_ERROR_WRITE_CONCERN) {
            status = fs_mongo_insert_refusal(m, c, b, existing);
            *again = status == FS_OK;
        } else {
            status = fs_mongo_failed(m, "insert", b->booking_id, &error);
        }
    }
    bson_destroy(&doc);
    return status;
}

static int fs_mongo_valid_booking(const struct fs_booking *b)
{
    return fs_plugin_id_ok(b->booking_id) && fs_plugin_id_ok(b->sale_id) &&
           fs_plugin_user_ok(b->user_id) &&
           (b->state == FS_STATE_NONE || fs_mongo_valid_state(b->state)) &&
           memchr(b->reason, '\0', sizeof(b->reason)) != NULL;
}

static enum fs_status fs_mongo_insert(void *ctx, const struct fs_booking *b,
                                      char existing[FS_ID_MAX + 1])
{
    struct fs_mongo *m = ctx;
    struct fs_mongo_conn c = {0};
    enum fs_status status = FS_INVALID;
    int tries, again;

    if (!m || !b || !fs_mongo_valid_booking(b))
        return FS_INVALID;
    if (existing)
        existing[0] = '\0';
    status = fs_mongo_acquire(m, &c);
    if (status != FS_OK)
        goto fail;
    status = fs_mongo_ensure_indexes(m, &c);
    if (status != FS_OK)
        goto fail;
    for (tries = 0; tries < FS_MONGO_INSERT_TRIES; tries++) {
        status = fs_mongo_insert_once(m, &c, b, existing, &again);
        if (!again)
            goto fail;
    }
    fs_mongo_log(m, FS_LOG_ERROR, "insert %s: refused by a unique index "
                 "whose holder cannot be found", b->booking_id);
    status = FS_ERROR;
fail:
    fs_mongo_release(m, &c);
    return status;
}

/* ---- insert_many --------------------------------------------------------- */

/* One booking's duplicate-key refusal in an unordered batch: which index
 * (FS_CONFLICT or FS_DUPLICATE), or, when its holder is gone by the time we
 * look, the outcome of inserting it alone. */
static enum fs_status fs_mongo_many_refusal(struct fs_mongo *m,
                                            struct fs_mongo_conn *c,
                                            const struct fs_booking *b)
{
    enum fs_status status = fs_mongo_insert_refusal(m, c, b, NULL);
    int again = status == FS_OK;

    for (int tries = 0; again && tries < FS_MONGO_INSERT_TRIES; tries++)
        status = fs_mongo_insert_once(m, c, b, NULL, &again);
    return again ? FS_ERROR : status;
}

/* Reads the reply of an unordered insertMany that reported write errors:
 * duplicate keys become that booking's result, anything else fails the
 * call (the caller retries; what was written then answers FS_CONFLICT). */
static enum fs_status fs_mongo_many_errors(struct fs_mongo *m,
                                           struct fs_mongo_conn *c,
                                           const struct fs_booking *b, size_t n,
                                           const bson_t *reply,
                                           enum fs_status *results)
{
    bson_iter_t it, errs;
    enum fs_status status = FS_OK;

    if (bson_iter_init_find(&it, reply, "writeConcernErrors"))
        return FS_UNAVAILABLE;
    if (!bson_iter_init_find(&it, reply, "writeErrors") ||
        !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &errs))
        return FS_ERROR;
    while (status == FS_OK && bson_iter_next(&errs)) {
        int64_t index = -1, code = 0;
        bson_iter_t one;

        if (!BSON_ITER_HOLDS_DOCUMENT(&errs) || !bson_iter_recurse(&errs, &one))
            return FS_ERROR;
        while (bson_iter_next(&one)) {
            if (strcmp(bson_iter_key(&one), "index") == 0)
                index = fs_mongo_number(&one);
            else if (strcmp(bson_iter_key(&one), "code") == 0)
                code = fs_mongo_number(&one);
        }
        if (index < 0 || (size_t)index >= n || code != FS_MONGO_DUPLICATE_KEY) {
            fs_mongo_log(m, FS_LOG_ERROR, "insert_many: write error %lld at "
                         "%lld", (long long)code, (long long)index);
            return FS_ERROR;
        }
        results[index] = fs_mongo_many_refusal(m, c, &b[index]);
        if (results[index] != FS_CONFLICT && results[index] != FS_DUPLICATE &&
            results[index] != FS_OK)
            status = results[index];
    }
    return status;
}

/* One insertMany, ordered: false, so that a booking already stored (a
 * redelivery, a batch retried after a timeout) or refused does not stop
 * the rest; the write concern is the plugin's, as for every write. */
static enum fs_status fs_mongo_many_once(struct fs_mongo *m,
                                         struct fs_mongo_conn *c,
                                         const struct fs_booking *b, size_t n,
                                         enum fs_status *results)
{
    bson_t **docs = calloc(n, sizeof(*docs));
    bson_t *opts = bson_copy(m->write_opts);
    bson_t reply;
    bson_error_t error;
    enum fs_status status = FS_OK;
    size_t made = 0;

    if (!docs || !opts) {
        status = FS_ERROR;
        goto done;
    }
    BSON_APPEND_BOOL(opts, "ordered", false);
    for (; made < n; made++) {
        docs[made] = bson_new();
        fs_mongo_booking_doc(m, &b[made], docs[made]);
        results[made] = FS_OK;
    }
    if (!mongoc_collection_insert_many(c->coll, (const bson_t **)docs, n, opts,
                                       &reply, &error)) {
        if (error.domain == MONGOC_ERROR_WRITE_CONCERN ||
            !bson_has_field(&reply, "writeErrors"))
            status = fs_mongo_failed(m, "insert_many", NULL, &error);
        else
            status = fs_mongo_many_errors(m, c, b, n, &reply, results);
    }
    bson_destroy(&reply);
done:
    for (size_t i = 0; i < made; i++)
        bson_destroy(docs[i]);
    free(docs);
    bson_destroy(opts);
    return status;
}

static enum fs_status fs_mongo_insert_many(void *ctx, const struct fs_booking *b,
                                           size_t n, enum fs_status *results)
{
    struct fs_mongo *m = ctx;
    struct fs_mongo_conn c = {0};
    enum fs_status status;

    if (!m || (n > 0 && (!b || !results)))
        return FS_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fs_mongo_valid_booking(&b[i]))
            return FS_INVALID;
    if (n == 0)
        return FS_OK;
    status = fs_mongo_acquire(m, &c);
    if (status == FS_OK)
        status = fs_mongo_ensure_indexes(m, &c);
    if (status == FS_OK)
        status = fs_mongo_many_once(m, &c, b, n, results);
    fs_mongo_release(m, &c);
    return status;
}

/* ---- transition ---------------------------------------------------------- */

static void fs_mongo_change_update(const struct fs_transition *t, bson_t *update)
{
    bson_t set;

    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    BSON_APPEND_UTF8(&set, "state", fs_mongo_state_names[t->to]);
    BSON_APPEND_BOOL(&set, "active", fs_plugin_state_active(t->to));
    BSON_APPEND_INT64(&set, "updated_ms", t->at_ms);
    if (t->reason)
        BSON_APPEND_UTF8(&set, "reason", t->reason);
    if (t->to == FS_STATE_HOLD)
        BSON_APPEND_INT64(&set, "hold_expires_ms", t->hold_expires_ms);
    bson_append_document_end(update, &set);
}

/* What is stored for a booking whose conditional change matched nothing. */
static enum fs_status fs_mongo_current_state(struct fs_mongo *m,
                                             struct fs_mongo_conn *c,
                                             const char *booking_id,
                                             enum fs_status *result,
                                             enum fs_booking_state *current)
{
    bson_t *filter = BCON_NEW("booking_id", BCON_UTF8(booking_id));
    struct fs_booking b;
    bson_t *doc = NULL;
    enum fs_status status =
        fs_mongo_find_one(m, c, filter, &doc, "transition check", booking_id);

    *current = FS_STATE_NONE;
    if (status == FS_NOT_FOUND) {
        *result = FS_NOT_FOUND;
        status = FS_OK;
    } else if (status == FS_OK) {
        if (fs_mongo_booking_from(doc, &b, NULL) != 0) {
            fs_mongo_log(m, FS_LOG_ERROR, "booking %s has an unknown state",
                         booking_id);
            status = FS_ERROR;
        }
        *current = b.state;
        *result = FS_CONFLICT;
    }
    bson_destroy(doc);
    bson_destroy(filter);
    return status;
}

/* True when a findAndModify reply carries a document in `value`. MongoDB
 * documents value: null for "nothing matched"; lastErrorObject is not
 * relied on (some compatible servers leave it out). */
static int fs_mongo_matched(const bson_t *reply)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, reply, "value") &&
           BSON_ITER_HOLDS_DOCUMENT(&it);
}

/* One conditional change: the filter holds the expected state, so of
 * several racing changes exactly one matches. */
static enum fs_status fs_mongo_apply_once(struct fs_mongo *m,
                                          struct fs_mongo_conn *c,
                                          const struct fs_transition *t,
                                          enum fs_status *result,
                                          enum fs_booking_state *current)
{
    mongoc_find_and_modify_opts_t *opts = mongoc_find_and_modify_opts_new();
    bson_t *query = BCON_NEW("booking_id", BCON_UTF8(t->booking_id), "state",
                             BCON_UTF8(fs_mongo_state_names[t->from]));
    bson_t *fields = BCON_NEW("state", BCON_INT32(1));
    bson_t update = BSON_INITIALIZER;
    bson_t reply;
    bson_error_t error;
    enum fs_status status = FS_OK;

    fs_mongo_change_update(t, &update);
    mongoc_find_and_modify_opts_set_update(opts, &update);
    mongoc_find_and_modify_opts_set_fields(opts, fields);
    mongoc_find_and_modify_opts_append(opts, m->write_opts);
    if (!mongoc_collection_find_and_modify_with_opts(c->coll, query, opts,
                                                     &reply, &error)) {
        status = fs_mongo_failed(m, "transition", t->booking_id, &error);
    } else if (fs_mongo_matched(&reply)) {
        *result = FS_OK;
        *current = t->to;
    } else {
        status = fs_mongo_current_state(m, c, t->booking_id, result, current);
    }
    bson_destroy(&reply);
    bson_destroy(&update);
    bson_destroy(fields);
    bson_destroy(query);
    mongoc_find_and_modify_opts_destroy(opts);
    return status;
}

/* A booking inserted between the change that matched nothing and the read
 * of what is stored (the worker records a booking's first state while a
 * client changes it) reads as being in the expected state: the change is
 * tried again, not refused as a conflict it is not. */
static enum fs_status fs_mongo_apply_one(struct fs_mongo *m,
                                         struct fs_mongo_conn *c,
                                         const struct fs_transition *t,
                                         enum fs_status *result,
                                         enum fs_booking_state *current)
{
    enum fs_status status = FS_OK;

    for (int tries = 0; tries < FS_MONGO_INSERT_TRIES; tries++) {
        status = fs_mongo_apply_once(m, c, t, result, current);
        if (status != FS_OK || *result != FS_CONFLICT || *current != t->from)
            break;
    }
    return status;
}

/* A change that would make a finished booking active again could collide
 * with the one-per-user index; the state machine never does it. */
static int fs_mongo_valid_transition(const struct fs_transition *t)
{
    return fs_plugin_id_ok(t->booking_id) && fs_mongo_valid_state(t->from) &&
           fs_mongo_valid_state(t->to) &&
           (!fs_plugin_state_active(t->to) || fs_plugin_state_active(t->from)) &&
           (!t->reason ||
            strnlen(t->reason, FS_REASON_MAX + 1) <= FS_REASON_MAX);
}

/* Items are applied in order, each durable (per the write concern) before
 * the next. MongoDB has no cheap atomic batch outside a replica-set
 * transaction, so an error part way leaves the earlier items applied: the
 * caller's retry then sees them as FS_CONFLICT with current == to, which the
 * core already reads as "done". */
static enum fs_status fs_mongo_transition(void *ctx,
                                          const struct fs_transition *t,
                                          size_t n, enum fs_status *results,
                                          enum fs_booking_state *current)
{
    struct fs_mongo *m = ctx;
    struct fs_mongo_conn c = {0};
    enum fs_booking_state now;
    enum fs_status status;
    size_t i;

    if (!m || (n > 0 && (!t || !results)))
        return FS_INVALID;
    for (i = 0; i < n; i++)
        if (!fs_mongo_valid_transition(&t[i]))
            return FS_INVALID;
    if (n == 0)
        return FS_OK;
    status = fs_mongo_acquire(m, &c);
    if (status != FS_OK)
        goto fail;
    status = fs_mongo_ensure_indexes(m, &c);
    for (i = 0; i < n && status == FS_OK; i++) {
        status = fs_mongo_apply_one(m, &c, &t[i], &results[i], &now);
        if (current)
            current[i] = now;
    }
fail:
    fs_mongo_release(m, &c);
    return status;
}

/* ---- get and list -------------------------------------------------------- */

static enum fs_status fs_mongo_get(void *ctx, const char *booking_id,
                                   struct fs_booking *out)
{
    struct fs_mongo *m = ctx;
    struct fs_mongo_conn c = {0};
    bson_t *filter = NULL;
    bson_t *doc = NULL;
    enum fs_status status;

    if (!m || !out || !fs_plugin_id_ok(booking_id))
        return FS_INVALID;
    status = fs_mongo_acquire(m, &c);
    if (status != FS_OK)
        goto fail;
    filter = BCON_NEW("booking_id", BCON_UTF8(booking_id));
    status = fs_mongo_find_one(m, &c, filter, &doc, "get", booking_id);
    if (status == FS_OK && fs_mongo_booking_from(doc, out, NULL) != 0) {
        fs_mongo_log(m, FS_LOG_ERROR, "booking %s has an unknown state",
                     booking_id);
        status = FS_ERROR;
    }
fail:
    bson_destroy(doc);
    bson_destroy(filter);
    fs_mongo_release(m, &c);
    return status;
}

/* Where the next page of a listing starts. */
struct fs_mongo_cursor {
    const char *sale_id;
    enum fs_booking_state state;
    int started;
    int64_t created_ms;
    int64_t seq;
};

/* {sale_id?, state, and after the first page: (created_ms, seq) > last}. */
static bson_t *fs_mongo_page_filter(const struct fs_mongo_cursor *cur)
{
    bson_t *filter = BCON_NEW("state",
                              BCON_UTF8(fs_mongo_state_names[cur->state]));

    if (cur->sale_id)
        BSON_APPEND_UTF8(filter, "sale_id", cur->sale_id);
    if (cur->started)
        BCON_APPEND(filter, "$or", "[",
                    "{", "created_ms", "{", "$gt", BCON_INT64(cur->created_ms),
                    "}", "}",
                    "{", "created_ms", BCON_INT64(cur->created_ms), "seq", "{",
                    "$gt", BCON_INT64(cur->seq), "}", "}",
                    "]");
    return filter;
}

/* Copies the next page after the cursor into page[]; *n documents. */
static enum fs_status fs_mongo_list_page(struct fs_mongo *m,
                                         struct fs_mongo_cursor *cur,
                                         struct fs_booking *page, size_t *n)
{
    struct fs_mongo_conn c = {0};
    bson_t *filter = fs_mongo_page_filter(cur);
    bson_t *opts = BCON_NEW("sort", "{", "created_ms", BCON_INT32(1), "seq",
                            BCON_INT32(1), "}", "limit",
                            BCON_INT64(FS_MONGO_LIST_PAGE), "batchSize",
                            BCON_INT64(FS_MONGO_LIST_PAGE));
    mongoc_cursor_t *cursor = NULL;
    enum fs_status status;
    const bson_t *doc;
    bson_error_t error;

    *n = 0;
    status = fs_mongo_acquire(m, &c);
    if (status != FS_OK)
        goto fail;
    cursor = mongoc_collection_find_with_opts(c.coll, filter, opts, NULL);
    while (*n < FS_MONGO_LIST_PAGE && mongoc_cursor_next(cursor, &doc)) {
        if (fs_mongo_booking_from(doc, &page[*n], &cur->seq) != 0) {
            fs_mongo_log(m, FS_LOG_ERROR, "list: a booking has an unknown "
                         "state");
            status = FS_ERROR;
            goto fail;
        }
        cur->created_ms = page[*n].created_ms;
        cur->started = 1;
        (*n)++;
    }
    if (mongoc_cursor_error(cursor, &error))
        status = fs_mongo_failed(m, "list", NULL, &error);
fail:
    mongoc_cursor_destroy(cursor);
    fs_mongo_release(m, &c);
    bson_destroy(opts);
    bson_destroy(filter);
    return status;
}

/* Pages through the documents so that cb runs with no client held: it may
 * call get() or transition() itself, also with a pool of one. A booking
 * that changes state between pages is skipped or seen in its new state,
 * never reported twice. */
static enum fs_status fs_mongo_list(void *ctx, const char *sale_id,
                                    enum fs_booking_state state,
                                    int (*cb)(void *arg,
                                              const struct fs_booking *b),
                                    void *arg)
{
    struct fs_mongo_cursor cursor = {sale_id, state, 0, 0, 0};
    struct fs_booking *page = NULL;
    enum fs_status status = FS_INVALID;
    size_t n, i;

    if (!ctx || !cb || !fs_mongo_valid_state(state) ||
        (sale_id && !fs_plugin_id_ok(sale_id)))
        goto fail;
    page = calloc(FS_MONGO_LIST_PAGE, sizeof(*page));
    status = FS_ERROR;
    if (!page)
        goto fail;
    do {
        status = fs_mongo_list_page(ctx, &cursor, page, &n);
        if (status != FS_OK)
            goto fail;
        for (i = 0; i < n; i++)
            if (cb(arg, &page[i]) != 0)
                goto fail;  /* status is FS_OK: the caller stopped */
    } while (n == FS_MONGO_LIST_PAGE);
fail:
    free(page);
    return status;
}

static int64_t fs_mongo_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum fs_status fs_mongo_health(void *ctx, char *detail, size_t len)
{
    struct fs_mongo *m = ctx;
    struct fs_mongo_conn c = {0};
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    enum fs_status status = FS_INVALID;
    bson_error_t error;

    if (!m)
        goto fail;
    status = FS_UNAVAILABLE;
    if (m->first_error[0] && fs_mongo_mono_ms() < m->first_error_until_ms) {
        fs_mongo_errf(detail, len, "%s: %s", m->where, m->first_error);
        goto fail;
    }
    status = fs_mongo_acquire(m, &c);
    if (status != FS_OK) {
        fs_mongo_errf(detail, len, "%s: no free connection", m->where);
        goto fail;
    }
    /* Waits at most the uri's serverSelectionTimeoutMS (timeout_ms unless
     * the uri sets it), so a start-up probe is bounded by it. */
    if (!mongoc_client_command_simple(c.client, "admin", ping, NULL, NULL,
                                      &error)) {
        status = fs_mongo_failed(m, "health", NULL, &error);
        if (status == FS_ERROR)
            status = FS_UNAVAILABLE;  /* it answered, but not as it should */
        fs_mongo_errf(detail, len, "%s: %s", m->where, error.message);
    } else {
        fs_mongo_errf(detail, len, "%s answers", m->where);
    }
fail:
    fs_mongo_release(m, &c);
    bson_destroy(ping);
    return status;
}

/* ---- lifecycle ----------------------------------------------------------- */

/* "majority" or a member count; w: 0 is refused, since an unacknowledged
 * write could neither be durable nor report a duplicate. */
static int fs_mongo_parse_w(const char *w, long *n, char *err, size_t errlen)
{
    char *end = NULL;

    *n = 0;  /* majority */
    if (strcasecmp(w, "majority") == 0)
        return 0;
    *n = strtol(w, &end, 10);
    if (*w && !*end && *n >= 1 && *n <= FS_MONGO_MAX_W)
        return 0;
    fs_mongo_errf(err, errlen, "write_concern must be majority or a number "
                  "from 1 to %d, not %s", FS_MONGO_MAX_W, w);
    return -1;
}

static int fs_mongo_write_concern(struct fs_mongo *m, const char *w,
                                  int journal, int timeout_ms, char *err,
                                  size_t errlen)
{
    long n;

    m->wc = mongoc_write_concern_new();
    if (fs_mongo_parse_w(w, &n, err, errlen) != 0)
        return -1;
    if (n == 0) {
        mongoc_write_concern_set_wmajority(m->wc, timeout_ms);
    } else {
        mongoc_write_concern_set_w(m->wc, (int32_t)n);
        mongoc_write_concern_set_wtimeout_int64(m->wc, timeout_ms);
    }
    mongoc_write_concern_set_journal(m->wc, journal != 0);
    m->write_opts = bson_new();
    if (!mongoc_write_concern_append(m->wc, m->write_opts)) {
        fs_mongo_errf(err, errlen, "invalid write concern");
        return -1;
    }
    return 0;
}

static void fs_mongo_uri_default(mongoc_uri_t *uri, const char *option,
                                 int32_t value)
{
    if (!mongoc_uri_has_option(uri, option))
        mongoc_uri_set_option_as_int32(uri, option, value);
}

/* m->where from the uri's hosts (or its SRV name): never its password. */
static void fs_mongo_where(struct fs_mongo *m, const mongoc_uri_t *uri)
{
    const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri);
    const char *srv = mongoc_uri_get_srv_hostname(uri);
    size_t used = (size_t)snprintf(m->where, sizeof(m->where), "mongodb %s",
                                   h || !srv ? "" : srv);

    for (; h && used < sizeof(m->where); h = h->next)
        used += (size_t)snprintf(m->where + used, sizeof(m->where) - used,
                                 "%s%s", used > 8 ? "," : "", h->host_and_port);
}

static int fs_mongo_open_pool(struct fs_mongo *m, const char *uri_text,
                              int pool_size, int timeout_ms, char *err,
                              size_t errlen)
{
    mongoc_uri_t *uri = NULL;
    bson_error_t error;

    uri = mongoc_uri_new_with_error(uri_text, &error);
    if (!uri) {
        fs_mongo_errf(err, errlen, "uri: %s", error.message);
        goto fail;
    }
    fs_mongo_where(m, uri);
    fs_mongo_uri_default(uri, MONGOC_URI_MAXPOOLSIZE, pool_size);
    fs_mongo_uri_default(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms);
    fs_mongo_uri_default(uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms);
    fs_mongo_uri_default(uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout_ms);
    fs_mongo_uri_default(uri, MONGOC_URI_WAITQUEUETIMEOUTMS, timeout_ms);
    m->pool = mongoc_client_pool_new_with_error(uri, &error);
    if (!m->pool) {
        fs_mongo_errf(err, errlen, "client pool: %s", error.message);
        goto fail;
    }
    mongoc_client_pool_set_error_api(m->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(m->pool, "flashsaled");
    mongoc_uri_destroy(uri);
    return 0;
fail:
    mongoc_uri_destroy(uri);
    return -1;
}

/* The uri's syntax: mongoc_uri_new_with_error() parses and resolves
 * nothing (a mongodb+srv:// name is looked up only by the client pool). */
static int fs_mongo_check_uri(const char *text, char *err, size_t errlen)
{
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(text, &error);

    if (!uri) {
        fs_mongo_errf(err, errlen, "uri: %s", error.message);
        return -1;
    }
    mongoc_uri_destroy(uri);
    return 0;
}

/* The descriptor's validate, and create()'s first step: every value, the
 * uri's syntax included, without connecting. *key names the option. */
static int fs_mongo_validate(const void *config, const char **key, char *err,
                             size_t errlen)
{
    static const struct fs_mongo_config zero;
    const struct fs_mongo_config *cfg = config ? config : &zero;
    long w;

    *key = NULL;
    if (cfg->pool_size < 0 || cfg->pool_size > FS_MONGO_MAX_POOL) {
        *key = "pool_size";
        fs_mongo_errf(err, errlen, "pool_size must be 0 to %d, not %lld",
                      FS_MONGO_MAX_POOL, (long long)cfg->pool_size);
    } else if (cfg->timeout_ms < 0 ||
               cfg->timeout_ms > FS_MONGO_MAX_TIMEOUT_MS) {
        *key = "timeout_ms";
        fs_mongo_errf(err, errlen, "timeout_ms must be 0 to %d, not %lld",
                      FS_MONGO_MAX_TIMEOUT_MS, (long long)cfg->timeout_ms);
    } else if ((cfg->database && !*cfg->database) ||
               (cfg->collection && !*cfg->collection)) {
        *key = cfg->database && !*cfg->database ? "database" : "collection";
        fs_mongo_errf(err, errlen, "database and collection must not be "
                      "empty");
    } else if (fs_mongo_parse_w(cfg->write_concern ? cfg->write_concern
                                                   : "majority",
                                &w, err, errlen) != 0) {
        *key = "write_concern";
    } else if (fs_mongo_check_uri(cfg->uri ? cfg->uri : FS_MONGO_DEFAULT_URI,
                                  err, errlen) != 0) {
        *key = "uri";
    }
    return *key ? -1 : 0;
}

/* The values after fs_mongo_validate(); a zero takes the default. */
static void fs_mongo_settings(const struct fs_mongo_config *cfg,
                              int *pool_size, int *timeout_ms)
{
    *pool_size = cfg->pool_size ? (int)cfg->pool_size : FS_MONGO_DEFAULT_POOL;
    *timeout_ms =
        cfg->timeout_ms ? (int)cfg->timeout_ms : FS_MONGO_DEFAULT_TIMEOUT_MS;
}

static void fs_mongo_free(struct fs_mongo *m)
{
    if (!m)
        return;
    if (m->pool)
        mongoc_client_pool_destroy(m->pool);
    bson_destroy(m->write_opts);
    mongoc_write_concern_destroy(m->wc);
    if (m->lock_ready)
        pthread_mutex_destroy(&m->index_lock);
    free(m);
}

/* Creates the indexes now when the server answers; a server that is down
 * is not a failure (health() reports it and the first write retries), but
 * one that refuses the indexes (say, a conflicting index of the same name)
 * is. */
static int fs_mongo_first_contact(struct fs_mongo *m, int timeout_ms,
                                  char *err, size_t errlen)
{
    struct fs_mongo_conn c = {0};
    bson_error_t error = {0};
    enum fs_status status = fs_mongo_acquire(m, &c);

    if (status == FS_OK) {
        status = fs_mongo_create_indexes(m, &c, &error);
        if (status == FS_OK)
            atomic_store(&m->indexes_ready, 1);
    }
    fs_mongo_release(m, &c);
    if (status == FS_ERROR) {
        fs_mongo_errf(err, errlen, "creating indexes on %s.%s: %s",
                      m->database, m->collection, error.message);
        return -1;
    }
    if (status != FS_OK) {
        fs_mongo_log(m, FS_LOG_WARN, "%s: not reachable yet: %s; will retry",
                     m->where, error.message[0] ? error.message
                                                : "no connection in time");
        snprintf(m->first_error, sizeof(m->first_error), "%s",
                 error.message[0] ? error.message : "no connection in time");
        m->first_error_until_ms = fs_mongo_mono_ms() + timeout_ms;
    }
    return 0;
}

static int fs_mongo_create(const struct fs_host *host, const void *config,
                           void **ctx, char *err, size_t errlen)
{
    static const struct fs_mongo_config zero;
    const struct fs_mongo_config *cfg = config ? config : &zero;
    struct fs_mongo *m = NULL;
    int pool_size, timeout_ms;
    const char *key;

    if (!ctx) {
        fs_mongo_errf(err, errlen, "no context pointer");
        goto fail;
    }
    *ctx = NULL;
    m = calloc(1, sizeof(*m));
    if (!m || pthread_mutex_init(&m->index_lock, NULL) != 0) {
        fs_mongo_errf(err, errlen, "out of memory");
        goto fail;
    }
    m->lock_ready = 1;
    if (host && host->struct_size >= sizeof(struct fs_host)) {
        m->host = host;
        atomic_store(&fs_mongo_log_host, host);
    }
    m->database = cfg->database ? cfg->database : FS_MONGO_DEFAULT_DB;
    m->collection = cfg->collection ? cfg->collection : FS_MONGO_DEFAULT_COLL;
    if (fs_mongo_validate(cfg, &key, err, errlen) != 0)
        goto fail;
    fs_mongo_settings(cfg, &pool_size, &timeout_ms);
    if (fs_mongo_write_concern(m, cfg->write_concern ? cfg->write_concern
                                                     : "majority",
                               cfg == &zero ? 1 : cfg->journal, timeout_ms,
                               err, errlen) != 0 ||
        fs_mongo_open_pool(m, cfg->uri ? cfg->uri : FS_MONGO_DEFAULT_URI,
                           pool_size, timeout_ms, err, errlen) != 0 ||
        fs_mongo_first_contact(m, timeout_ms, err, errlen) != 0)
        goto fail;
    fs_mongo_log(m, FS_LOG_INFO, "%s.%s (pool %d, timeout %d ms)", m->database,
                 m->collection, pool_size, timeout_ms);
    *ctx = m;
    return 0;
fail:
    fs_mongo_free(m);
    return -1;
}

static void fs_mongo_destroy(void *ctx)
{
    fs_mongo_free(ctx);
}

static const struct fs_storage_ops fs_mongo_ops = {
    .insert = fs_mongo_insert,
    .transition = fs_mongo_transition,
    .get = fs_mongo_get,
    .list = fs_mongo_list,
};

static const struct fs_storage_batch_ops fs_mongo_batch_ops = {
    .struct_size = sizeof(struct fs_storage_batch_ops),
    .insert_many = fs_mongo_insert_many,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_STORAGE,
    .name = "mongo",
    .description = "bookings in a MongoDB collection (client pool, unique "
                   "indexes, conditional updates)",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .options = fs_mongo_options,
    .config_size = sizeof(struct fs_mongo_config),
    .create = fs_mongo_create,
    .destroy = fs_mongo_destroy,
    .health = fs_mongo_health,
    .storage = &fs_mongo_ops,
    .validate = fs_mongo_validate,
    .storage_batch = &fs_mongo_batch_ops,
};
