/*
 * storage_sqlite.c - the embedded storage plugin: every booking in one SQLite
 * file in WAL mode.
 *
 * Owns the schema, one write connection shared by group commit, and a small
 * pool of read-only connections.
 *
 * Why group commit: insert() and transition() come from many HTTP and worker
 * threads at once and each must be durable before it returns. One fsync per
 * call would cap the daemon at the disk's sync rate, so callers queue their
 * request (on their own stack). The caller at the head of the queue leads:
 * it takes everything pending, runs it as ONE transaction on the write
 * connection (a failed statement, or a request of several changes under its
 * savepoint, is undone alone, so one failing request does not undo the
 * others), commits once, wakes the callers it wrote for, and hands the lead
 * to the next head. Many writes share one sync.
 *
 * Why the caller leads rather than a writer thread: a hand-off to a writer
 * thread cost every request a wake-up of the writer, a sleep and a wake-up of
 * its own, and, with one condition variable for all, wake-ups of callers
 * whose commit had not come yet; profiled under load that was a quarter of
 * the accept path. A caller that finds nobody writing now commits without
 * any switch, and a follower sleeps once on its own semaphore and is woken
 * once. The queue's lock is held only to queue, take a batch and pass the
 * lead: a follower is woken through its own semaphore, so the callers a
 * commit releases do not all queue up again for the shared lock.
 *
 * Why a reader pool: WAL lets readers run beside the writer without blocking
 * it, so get() and list() never wait for a commit.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "flashsaled/fs_plugin.h"
#include "fs_autoconf.h"

/* The default database sits in the data folder configure chose
 * ($(localstatedir)/lib/flashsaled; /var/lib/flashsaled in the Debian
 * package), not beside the config: /etc is no place for data, and a
 * sandboxed unit may write only there. */
#define FS_SQLITE_LOG_NAME "storage.sqlite"
#define FS_SQLITE_SCHEMA_VERSION 1
#define FS_SQLITE_DEFAULT_PATH FS_DATA_DIR "/bookings.db"
#define FS_SQLITE_DEFAULT_BUSY_MS 5000
#define FS_SQLITE_DEFAULT_BATCH 512
#define FS_SQLITE_DEFAULT_READERS 8
#define FS_SQLITE_MAX_BATCH 65536
#define FS_SQLITE_MAX_READERS 64
#define FS_SQLITE_MAX_BUSY_MS 600000
/* list() copies this many rows per visit to a reader, then calls back with
 * no connection held. */
#define FS_SQLITE_LIST_PAGE 64

/* ---- configuration ------------------------------------------------------- */

struct fs_sqlite_config {
    char *path;
    char *synchronous;
    int64_t busy_timeout_ms;
    int64_t batch_max;
    int64_t readers;
};

static const struct fs_option fs_sqlite_options[] = {
    {FS_OPT_PATH, "path", FS_SQLITE_DEFAULT_PATH,
     offsetof(struct fs_sqlite_config, path),
     "The SQLite database file; missing parent folders are created. Two "
     "more files live beside it while it is open: <path>-wal and <path>-shm."},
    {FS_OPT_STRING, "synchronous", "full",
     offsetof(struct fs_sqlite_config, synchronous),
     "How hard each commit syncs to disk. \"full\" (default): a booking "
     "answered 202 survives a crash of the daemon (even SIGKILL) and a power "
     "loss or kernel crash. \"normal\": survives a crash or SIGKILL of the "
     "daemon, but a power loss or kernel crash may lose the last commits; "
     "faster on slow disks."},
    {FS_OPT_INT, "busy_timeout_ms", "5000",
     offsetof(struct fs_sqlite_config, busy_timeout_ms),
     "How long to wait for a lock held by another process on the same file "
     "before answering unavailable (503). 0 means the default."},
    {FS_OPT_INT, "batch_max", "512",
     offsetof(struct fs_sqlite_config, batch_max),
     "Most write requests (an insert, or one call's batch of status "
     "changes) committed together in one transaction, sharing one disk "
     "sync. 0 means the default."},
    {FS_OPT_INT, "readers", "8",
     offsetof(struct fs_sqlite_config, readers),
     "Read-only connections for lookups and listings; they run beside the "
     "writer. 0 means the default."},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

/* ---- state --------------------------------------------------------------- */

enum fs_sqlite_write_kind {
    FS_SQLITE_INSERT,
    FS_SQLITE_INSERT_MANY,
    FS_SQLITE_TRANSITION
};

/* One caller's write, on the caller's stack until its turn is over. */
struct fs_sqlite_write {
    enum fs_sqlite_write_kind kind;
    const struct fs_booking *booking;  /* insert; insert_many: n of them */
    char *existing;                    /* insert: NULL or FS_ID_MAX + 1 */
    const struct fs_transition *t;     /* transition */
    size_t n;                          /* insert_many, transition */
    enum fs_status *results;
    enum fs_booking_state *current;    /* NULL or n entries */
    enum fs_status status;
    struct fs_sqlite_write *next;
    /* How the caller learns its turn: the leader that wrote it sets turn to
     * FS_SQLITE_DONE, or the one before sets FS_SQLITE_LEAD, then posts
     * turn_sem. A semaphore, not a mutex and a condition variable: a
     * follower woken under the waker's mutex went straight back to sleep on
     * that mutex, and such second sleeps were a fifth of all the daemon's
     * context switches on the accept path. glibc's sem_post does not touch
     * the semaphore after the post that lets sem_wait return (glibc bug
     * 12674, fixed in 2.21), so the caller may destroy it, stack and all,
     * as soon as it wakes. */
    sem_t turn_sem;
    int turn;
};

enum { FS_SQLITE_WAIT, FS_SQLITE_DONE, FS_SQLITE_LEAD };

/* Statements of the write connection; only the leader uses them. */
struct fs_sqlite_writer_stmts {
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *savepoint, *release, *rollback_to;
    sqlite3_stmt *insert, *state_of, *active_of, *update;
};

/* A read-only connection with its cached statements. */
struct fs_sqlite_reader {
    sqlite3 *db;
    sqlite3_stmt *get, *list_sale, *list_all, *ping;
    struct fs_sqlite_reader *next_free;
};

struct fs_sqlite {
    const struct fs_host *host;
    const char *path;
    const char *synchronous;
    int busy_timeout_ms;
    int batch_max;
    int nreaders;

    sqlite3 *wdb;  /* used by the leader only */
    struct fs_sqlite_writer_stmts w;
    uint64_t commits, writes;  /* leader only */

    /* guards head, tail, leading and stopping */
    pthread_mutex_t lock;
    pthread_cond_t idle_cv;  /* destroy waits for the last leader */
    struct fs_sqlite_write *head, *tail;  /* waiting, not yet taken */
    int leading;  /* a caller leads; while nobody does, the queue is empty */
    int stopping;

    struct fs_sqlite_reader *readers;  /* nreaders entries */
    struct fs_sqlite_reader *free_readers;
    pthread_mutex_t rlock;
    pthread_cond_t rcv;
    int sync_ready;
};

/* ---- small helpers ------------------------------------------------------- */

static void fs_sqlite_log(const struct fs_sqlite *s, enum fs_log_level level,
                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fs_sqlite_log(const struct fs_sqlite *s, enum fs_log_level level,
                          const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (!s->host || !s->host->log)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    s->host->log(level, FS_SQLITE_LOG_NAME, "%s", buf);
}

static void fs_sqlite_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fs_sqlite_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Busy beyond the timeout and I/O trouble are worth a retry; the rest is a
 * bug or a damaged file. */
static enum fs_status fs_sqlite_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
        return FS_UNAVAILABLE;
    default:
        return FS_ERROR;
    }
}

static int fs_sqlite_valid_state(enum fs_booking_state state)
{
    return state >= FS_STATE_QUEUED && state <= FS_STATE_REJECTED;
}

/* Copies a column into a fixed buffer; a value too long for it (only a file
 * edited by hand) is cut rather than overflowing. */
static void fs_sqlite_copy_text(char *dst, size_t size, sqlite3_stmt *st,
                                int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    size_t len = text ? (size_t)sqlite3_column_bytes(st, col) : 0;

    if (len >= size)
        len = size - 1;
    if (len)
        memcpy(dst, text, len);
    dst[len] = '\0';
}

/* ---- schema -------------------------------------------------------------- */

/* The state is the ABI's enum fs_booking_state, frozen by the ABI version.
 * seq is the insertion order: an INTEGER PRIMARY KEY (unlike an implicit
 * rowid) survives VACUUM, and AUTOINCREMENT never reuses a value, so it
 * breaks created_ms ties exactly; every index ends with it implicitly, so
 * listings walk an index in (created_ms, seq) order with no sort. The partial
 * unique index is the one-active-booking-per-user rule: leaving
 * queued/hold/booked frees it. */
static const char fs_sqlite_schema_sql[] =
    "CREATE TABLE bookings ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " booking_id TEXT NOT NULL UNIQUE,"
    " sale_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL,"
    " state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 6),"
    " reason TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " hold_expires_ms INTEGER NOT NULL DEFAULT 0,"
    " hold_seconds INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX bookings_one_active ON bookings (sale_id, user_id)"
    " WHERE state IN (1, 2, 3);"
    "CREATE INDEX bookings_by_sale_state ON bookings"
    " (sale_id, state, created_ms);"
    "CREATE INDEX bookings_by_state ON bookings (state, created_ms);"
    "PRAGMA user_version = 1;";

static int fs_sqlite_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates the schema in a fresh file; refuses a file from a newer plugin. */
static int fs_sqlite_migrate(sqlite3 *db, char *err, size_t errlen)
{
    int version = 0;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        goto fail;
    rc = fs_sqlite_user_version(db, &version);
    if (rc != SQLITE_OK)
        goto fail;
    if (version > FS_SQLITE_SCHEMA_VERSION) {
        fs_sqlite_errf(err, errlen,
                       "schema version %d is newer than this plugin's (%d)",
                       version, FS_SQLITE_SCHEMA_VERSION);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (version == 0) {
        rc = sqlite3_exec(db, fs_sqlite_schema_sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
    }
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    return 0;
fail:
    fs_sqlite_errf(err, errlen, "schema: %s", sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- connections --------------------------------------------------------- */

static int fs_sqlite_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
                             char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
                           NULL) == SQLITE_OK)
        return 0;
    fs_sqlite_errf(err, errlen, "prepare \"%s\": %s", sql, sqlite3_errmsg(db));
    return -1;
}

/* Creates every missing folder above the file, like mkdir -p. */
static int fs_sqlite_make_parents(const char *path, char *err, size_t errlen)
{
    char *copy = strdup(path);
    char *p;

    if (!copy) {
        fs_sqlite_errf(err, errlen, "out of memory");
        goto fail;
    }
    for (p = strchr(copy + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            fs_sqlite_errf(err, errlen, "cannot create folder %s: %s", copy,
                           strerror(errno));
            goto fail;
        }
        *p = '/';
    }
    free(copy);
    return 0;
fail:
    free(copy);
    return -1;
}

static int fs_sqlite_open(const struct fs_sqlite *s, int flags, sqlite3 **db,
                          char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(s->path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK) {
        fs_sqlite_errf(err, errlen, "cannot open %s: %s", s->path,
                       *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(*db, 1);
    sqlite3_busy_timeout(*db, s->busy_timeout_ms);
    return 0;
fail:
    sqlite3_close(*db);
    *db = NULL;
    return -1;
}

/* Runs a pragma and checks the value it answers, when one is given. */
static int fs_sqlite_pragma(sqlite3 *db, const char *sql, const char *expect,
                            char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    const unsigned char *got = NULL;

    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    if (rc == SQLITE_ROW)
        got = sqlite3_column_text(st, 0);
    if (expect && (!got || strcasecmp((const char *)got, expect) != 0)) {
        fs_sqlite_errf(err, errlen, "%s answered %s, expected %s", sql,
                       got ? (const char *)got : "nothing", expect);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    fs_sqlite_errf(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}

#define FS_SQLITE_COLUMNS                                                   \
    "booking_id, sale_id, user_id, state, reason, created_ms, updated_ms, " \
    "hold_expires_ms, hold_seconds, seq"

static int fs_sqlite_writer_open(struct fs_sqlite *s, char *err, size_t errlen)
{
    struct fs_sqlite_writer_stmts *w = &s->w;
    const char *sync_sql = strcasecmp(s->synchronous, "normal") == 0
                               ? "PRAGMA synchronous = NORMAL"
                               : "PRAGMA synchronous = FULL";

    if (fs_sqlite_open(s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->wdb,
                       err, errlen) != 0 ||
        fs_sqlite_pragma(s->wdb, "PRAGMA journal_mode = WAL", "wal", err,
                         errlen) != 0 ||
        fs_sqlite_pragma(s->wdb, sync_sql, NULL, err, errlen) != 0 ||
        fs_sqlite_migrate(s->wdb, err, errlen) != 0)
        return -1;
    if (fs_sqlite_prepare(s->wdb, "BEGIN IMMEDIATE", &w->begin, err, errlen) ||
        fs_sqlite_prepare(s->wdb, "COMMIT", &w->commit, err, errlen) ||
        fs_sqlite_prepare(s->wdb, "ROLLBACK", &w->rollback, err, errlen) ||
        fs_sqlite_prepare(s->wdb, "SAVEPOINT req", &w->savepoint, err,
                          errlen) ||
        fs_sqlite_prepare(s->wdb, "RELEASE req", &w->release, err, errlen) ||
        fs_sqlite_prepare(s->wdb, "ROLLBACK TO req", &w->rollback_to, err,
                          errlen) ||
        fs_sqlite_prepare(s->wdb,
                          "INSERT INTO bookings (booking_id, sale_id, user_id,"
                          " state, reason, created_ms, updated_ms,"
                          " hold_expires_ms, hold_seconds)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                          &w->insert, err, errlen) ||
        fs_sqlite_prepare(s->wdb,
                          "SELECT state FROM bookings WHERE booking_id = ?1",
                          &w->state_of, err, errlen) ||
        fs_sqlite_prepare(s->wdb,
                          "SELECT booking_id FROM bookings WHERE sale_id = ?1"
                          " AND user_id = ?2 AND state IN (1, 2, 3)",
                          &w->active_of, err, errlen) ||
        fs_sqlite_prepare(s->wdb,
                          "UPDATE bookings SET state = ?3, updated_ms = ?4,"
                          " reason = COALESCE(?5, reason),"
                          " hold_expires_ms = CASE WHEN ?3 = 2 THEN ?6"
                          " ELSE hold_expires_ms END"
                          " WHERE booking_id = ?1 AND state = ?2",
                          &w->update, err, errlen))
        return -1;
    return 0;
}

static void fs_sqlite_writer_close(struct fs_sqlite *s)
{
    sqlite3_stmt **all[] = {&s->w.begin,     &s->w.commit,    &s->w.rollback,
                            &s->w.savepoint, &s->w.release,   &s->w.rollback_to,
                            &s->w.insert,    &s->w.state_of,  &s->w.active_of,
                            &s->w.update};
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
    sqlite3_close(s->wdb);
    s->wdb = NULL;
}

static int fs_sqlite_reader_open(const struct fs_sqlite *s,
                                 struct fs_sqlite_reader *r, char *err,
                                 size_t errlen)
{
    if (fs_sqlite_open(s, SQLITE_OPEN_READONLY, &r->db, err, errlen) != 0)
        return -1;
    if (fs_sqlite_prepare(r->db,
                          "SELECT " FS_SQLITE_COLUMNS
                          " FROM bookings WHERE booking_id = ?1",
                          &r->get, err, errlen) ||
        fs_sqlite_prepare(r->db,
                          "SELECT " FS_SQLITE_COLUMNS
                          " FROM bookings WHERE sale_id = ?1 AND state = ?2"
                          " AND (created_ms, seq) > (?3, ?4)"
                          " ORDER BY created_ms, seq LIMIT ?5",
                          &r->list_sale, err, errlen) ||
        fs_sqlite_prepare(r->db,
                          "SELECT " FS_SQLITE_COLUMNS
                          " FROM bookings WHERE state = ?2"
                          " AND (created_ms, seq) > (?3, ?4)"
                          " ORDER BY created_ms, seq LIMIT ?5",
                          &r->list_all, err, errlen) ||
        fs_sqlite_prepare(r->db, "SELECT 1 FROM bookings LIMIT 1", &r->ping,
                          err, errlen))
        return -1;
    return 0;
}

static void fs_sqlite_reader_close(struct fs_sqlite_reader *r)
{
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->list_sale);
    sqlite3_finalize(r->list_all);
    sqlite3_finalize(r->ping);
    sqlite3_close(r->db);
    memset(r, 0, sizeof(*r));
}

static struct fs_sqlite_reader *fs_sqlite_reader_acquire(struct fs_sqlite *s)
{
    struct fs_sqlite_reader *r;

    pthread_mutex_lock(&s->rlock);
    while (!s->free_readers)
        pthread_cond_wait(&s->rcv, &s->rlock);
    r = s->free_readers;
    s->free_readers = r->next_free;
    pthread_mutex_unlock(&s->rlock);
    return r;
}

static void fs_sqlite_reader_release(struct fs_sqlite *s,
                                     struct fs_sqlite_reader *r)
{
    pthread_mutex_lock(&s->rlock);
    r->next_free = s->free_readers;
    s->free_readers = r;
    pthread_cond_signal(&s->rcv);
    pthread_mutex_unlock(&s->rlock);
}

/* ---- group commit -------------------------------------------------------- */

/* Steps a statement that returns no row and resets it. */
static int fs_sqlite_exec_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* The stored state of a booking inside the open write transaction:
 * FS_STATE_NONE when there is no such booking. */
static int fs_sqlite_state_of(struct fs_sqlite *s, const char *booking_id,
                              enum fs_booking_state *state)
{
    sqlite3_stmt *st = s->w.state_of;
    int rc;

    sqlite3_bind_text(st, 1, booking_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *state = rc == SQLITE_ROW ? (enum fs_booking_state)sqlite3_column_int(st, 0)
                              : FS_STATE_NONE;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* An insert hit a constraint: say which one, with the holder's id. */
static enum fs_status fs_sqlite_insert_refusal(struct fs_sqlite *s,
                                               const struct fs_booking *b,
                                               char *existing)
{
    sqlite3_stmt *st = s->w.active_of;
    enum fs_booking_state state;
    enum fs_status status = FS_ERROR;
    int rc = fs_sqlite_state_of(s, b->booking_id, &state);

    if (rc != SQLITE_DONE)
        return fs_sqlite_status(rc);
    if (state != FS_STATE_NONE)
        return FS_CONFLICT;
    sqlite3_bind_text(st, 1, b->sale_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, b->user_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (existing)
            fs_sqlite_copy_text(existing, FS_ID_MAX + 1, st, 0);
        status = FS_DUPLICATE;
    } else if (rc != SQLITE_DONE) {
        status = fs_sqlite_status(rc);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

static enum fs_status fs_sqlite_insert_one(struct fs_sqlite *s,
                                           const struct fs_booking *b,
                                           char *existing)
{
    sqlite3_stmt *st = s->w.insert;
    enum fs_booking_state state =
        b->state == FS_STATE_NONE ? FS_STATE_QUEUED : b->state;
    int rc;

    sqlite3_bind_text(st, 1, b->booking_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, b->sale_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, b->user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)state);
    sqlite3_bind_text(st, 5, b->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, b->created_ms);
    sqlite3_bind_int64(st, 7, b->updated_ms);
    sqlite3_bind_int64(st, 8, b->hold_expires_ms);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)b->hold_seconds);
    rc = fs_sqlite_exec_stmt(st);
    if (rc == SQLITE_DONE)
        return FS_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return fs_sqlite_insert_refusal(s, b, existing);
    fs_sqlite_log(s, FS_LOG_ERROR, "insert %s: %s", b->booking_id,
                  sqlite3_errmsg(s->wdb));
    return fs_sqlite_status(rc);
}

/* Unordered and idempotent: a refusal (FS_CONFLICT, FS_DUPLICATE) is that
 * booking's result and the others go on; anything else fails the request,
 * and its savepoint undoes what it wrote. */
static enum fs_status fs_sqlite_apply_insert_many(struct fs_sqlite *s,
                                                  struct fs_sqlite_write *req)
{
    for (size_t i = 0; i < req->n; i++) {
        enum fs_status rc = fs_sqlite_insert_one(s, &req->booking[i], NULL);

        if (rc != FS_OK && rc != FS_CONFLICT && rc != FS_DUPLICATE)
            return rc;
        req->results[i] = rc;
    }
    return FS_OK;
}

/* One conditional change; *result is FS_OK, FS_CONFLICT or FS_NOT_FOUND. */
static int fs_sqlite_apply_one(struct fs_sqlite *s,
                               const struct fs_transition *t,
                               enum fs_status *result,
                               enum fs_booking_state *current)
{
    sqlite3_stmt *st = s->w.update;
    int rc;

    sqlite3_bind_text(st, 1, t->booking_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)t->from);
    sqlite3_bind_int(st, 3, (int)t->to);
    sqlite3_bind_int64(st, 4, t->at_ms);
    if (t->reason)
        sqlite3_bind_text(st, 5, t->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, t->hold_expires_ms);
    rc = fs_sqlite_exec_stmt(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (sqlite3_changes(s->wdb) > 0) {
        *result = FS_OK;
        *current = t->to;
        return SQLITE_DONE;
    }
    rc = fs_sqlite_state_of(s, t->booking_id, current);
    *result = *current == FS_STATE_NONE ? FS_NOT_FOUND : FS_CONFLICT;
    return rc;
}

static enum fs_status fs_sqlite_apply_transition(struct fs_sqlite *s,
                                                 struct fs_sqlite_write *req)
{
    enum fs_booking_state current;
    size_t i;
    int rc;

    for (i = 0; i < req->n; i++) {
        rc = fs_sqlite_apply_one(s, &req->t[i], &req->results[i], &current);
        if (rc != SQLITE_DONE) {
            fs_sqlite_log(s, FS_LOG_ERROR, "transition %s: %s",
                          req->t[i].booking_id, sqlite3_errmsg(s->wdb));
            return fs_sqlite_status(rc);
        }
        if (req->current)
            req->current[i] = current;
    }
    return FS_OK;
}

/* Runs one request inside the open transaction. A request of several
 * changes gets a savepoint, which undoes it if it fails half way without
 * touching the rest of the batch; a single statement needs none, since SQLite
 * undoes a failed statement by itself (and the savepoint's two extra
 * statements per request were a fifth of the write time under load).
 * Returns -1 when the transaction itself can no longer be trusted. */
static int fs_sqlite_apply(struct fs_sqlite *s, struct fs_sqlite_write *req)
{
    int several = req->kind != FS_SQLITE_INSERT && req->n > 1;
    int rc = several ? fs_sqlite_exec_stmt(s->w.savepoint) : SQLITE_DONE;

    if (rc != SQLITE_DONE) {
        req->status = fs_sqlite_status(rc);
        return -1;
    }
    if (req->kind == FS_SQLITE_INSERT)
        req->status = fs_sqlite_insert_one(s, req->booking, req->existing);
    else if (req->kind == FS_SQLITE_INSERT_MANY)
        req->status = fs_sqlite_apply_insert_many(s, req);
    else
        req->status = fs_sqlite_apply_transition(s, req);
    if (sqlite3_get_autocommit(s->wdb))
        return -1;  /* SQLite already rolled the whole transaction back */
    if (!several)
        return 0;
    if (req->status == FS_ERROR || req->status == FS_UNAVAILABLE)
        if (fs_sqlite_exec_stmt(s->w.rollback_to) != SQLITE_DONE)
            return -1;
    return fs_sqlite_exec_stmt(s->w.release) == SQLITE_DONE ? 0 : -1;
}

static void fs_sqlite_fail_batch(struct fs_sqlite_write *batch,
                                 enum fs_status status)
{
    for (; batch; batch = batch->next)
        batch->status = status;
}

/* One transaction, one commit, for every request of the batch. */
static void fs_sqlite_run_batch(struct fs_sqlite *s,
                                struct fs_sqlite_write *batch)
{
    struct fs_sqlite_write *req;
    uint64_t count = 0;
    int rc = fs_sqlite_exec_stmt(s->w.begin);

    if (rc != SQLITE_DONE)
        goto fail;
    for (req = batch; req; req = req->next, count++) {
        if (fs_sqlite_apply(s, req) != 0) {
            rc = sqlite3_extended_errcode(s->wdb);
            goto fail;
        }
    }
    rc = fs_sqlite_exec_stmt(s->w.commit);
    if (rc != SQLITE_DONE)
        goto fail;
    s->commits++;
    s->writes += count;
    return;
fail:
    fs_sqlite_log(s, FS_LOG_ERROR, "write transaction failed: %s",
                  sqlite3_errmsg(s->wdb));
    if (!sqlite3_get_autocommit(s->wdb))
        fs_sqlite_exec_stmt(s->w.rollback);
    fs_sqlite_fail_batch(batch, fs_sqlite_status(rc));
}

/* Detaches up to `max` requests from the head of the queue. */
static struct fs_sqlite_write *fs_sqlite_take(struct fs_sqlite *s, int max)
{
    struct fs_sqlite_write *first = s->head, *last = s->head;
    int n = 1;

    if (!first || max < 1)
        return NULL;
    while (last->next && n < max) {
        last = last->next;
        n++;
    }
    s->head = last->next;
    if (!s->head)
        s->tail = NULL;
    last->next = NULL;
    return first;
}

static int fs_sqlite_turn_init(struct fs_sqlite_write *req)
{
    req->turn = FS_SQLITE_WAIT;
    req->next = NULL;
    return sem_init(&req->turn_sem, 0, 0);
}

static void fs_sqlite_turn_destroy(struct fs_sqlite_write *req)
{
    sem_destroy(&req->turn_sem);
}

/* The request (and the stack it lives on) may be gone as soon as the post
 * lands: nothing may touch it afterwards. sem_post orders the writes to
 * the request before it (status, results) before the caller's sem_wait. */
static void fs_sqlite_give_turn(struct fs_sqlite_write *req, int turn)
{
    req->turn = turn;
    sem_post(&req->turn_sem);
}

static int fs_sqlite_wait_turn(struct fs_sqlite_write *req)
{
    while (sem_wait(&req->turn_sem) != 0)
        ;  /* EINTR: a signal handler ran; the turn has not come yet */
    return req->turn;
}

/* Writes `self` and up to batch_max - 1 queued requests in one transaction,
 * passes the lead to the next queued request or, when there is none, lets
 * the next caller lead at once, and only then wakes the first caller it
 * wrote for; each caller woken wakes the next (fs_sqlite_submit). In that
 * order because the commits are the one serial part of the accept path,
 * and on a busy machine each wake-up hands the CPU to the thread woken: a
 * leader that woke its whole batch itself waited for every one of them to
 * answer its client before the next could even start, and the next commit
 * waited for all of them. The batch's callers are still waiting on their
 * turn, so their requests stay valid until each is woken. */
static void fs_sqlite_lead(struct fs_sqlite *s, struct fs_sqlite_write *self)
{
    struct fs_sqlite_write *next;

    pthread_mutex_lock(&s->lock);
    self->next = fs_sqlite_take(s, s->batch_max - 1);
    pthread_mutex_unlock(&s->lock);
    fs_sqlite_run_batch(s, self);
    pthread_mutex_lock(&s->lock);
    next = fs_sqlite_take(s, 1);
    if (!next) {
        s->leading = 0;
        pthread_cond_broadcast(&s->idle_cv);
    }
    pthread_mutex_unlock(&s->lock);
    if (next)
        fs_sqlite_give_turn(next, FS_SQLITE_LEAD);
    if (self->next)
        fs_sqlite_give_turn(self->next, FS_SQLITE_DONE);
}

/* Returns once the commit that contains `req` is over: the caller that
 * finds nobody leading leads at once; the others queue and wait for their
 * turn, and a caller whose write is done first wakes the next one of its
 * batch. */
static enum fs_status fs_sqlite_submit(struct fs_sqlite *s,
                                       struct fs_sqlite_write *req)
{
    enum fs_status status = FS_UNAVAILABLE;
    int turn;

    if (fs_sqlite_turn_init(req) != 0)
        return FS_ERROR;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        goto out;
    }
    turn = s->leading ? FS_SQLITE_WAIT : FS_SQLITE_LEAD;
    if (turn == FS_SQLITE_LEAD) {
        s->leading = 1;
    } else if (s->tail) {
        s->tail->next = req;
        s->tail = req;
    } else {
        s->head = s->tail = req;
    }
    pthread_mutex_unlock(&s->lock);
    if (turn == FS_SQLITE_WAIT)
        turn = fs_sqlite_wait_turn(req);
    if (turn == FS_SQLITE_LEAD)
        fs_sqlite_lead(s, req);
    else if (req->next)
        fs_sqlite_give_turn(req->next, FS_SQLITE_DONE);
    status = req->status;
out:
    fs_sqlite_turn_destroy(req);
    return status;
}

/* ---- storage operations -------------------------------------------------- */

static int fs_sqlite_valid_booking(const struct fs_booking *b)
{
    return fs_plugin_id_ok(b->booking_id) &&
           fs_plugin_id_ok(b->sale_id) && fs_plugin_user_ok(b->user_id) &&
           (b->state == FS_STATE_NONE || fs_sqlite_valid_state(b->state)) &&
           memchr(b->reason, '\0', sizeof(b->reason)) != NULL;
}

static enum fs_status fs_sqlite_insert(void *ctx, const struct fs_booking *b,
                                       char existing[FS_ID_MAX + 1])
{
    struct fs_sqlite_write req = {.kind = FS_SQLITE_INSERT};

    if (!ctx || !b || !fs_sqlite_valid_booking(b))
        return FS_INVALID;
    if (existing)
        existing[0] = '\0';
    req.booking = b;
    req.existing = existing;
    return fs_sqlite_submit(ctx, &req);
}

static enum fs_status fs_sqlite_insert_many(void *ctx,
                                            const struct fs_booking *b,
                                            size_t n, enum fs_status *results)
{
    struct fs_sqlite_write req = {.kind = FS_SQLITE_INSERT_MANY};

    if (!ctx || (n > 0 && (!b || !results)))
        return FS_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fs_sqlite_valid_booking(&b[i]))
            return FS_INVALID;
    if (n == 0)
        return FS_OK;
    req.booking = b;
    req.n = n;
    req.results = results;
    return fs_sqlite_submit(ctx, &req);
}

/* A change that would make a finished booking active again could collide
 * with the one-per-user index; the state machine never does it, so refuse
 * it here rather than report an odd constraint error. */
static int fs_sqlite_valid_transition(const struct fs_transition *t)
{
    return fs_plugin_id_ok(t->booking_id) &&
           fs_sqlite_valid_state(t->from) && fs_sqlite_valid_state(t->to) &&
           (!fs_plugin_state_active(t->to) || fs_plugin_state_active(t->from)) &&
           (!t->reason ||
            strnlen(t->reason, FS_REASON_MAX + 1) <= FS_REASON_MAX);
}

static enum fs_status fs_sqlite_transition(void *ctx,
                                           const struct fs_transition *t,
                                           size_t n, enum fs_status *results,
                                           enum fs_booking_state *current)
{
    struct fs_sqlite_write req = {.kind = FS_SQLITE_TRANSITION};
    size_t i;

    if (!ctx || (n > 0 && (!t || !results)))
        return FS_INVALID;
    for (i = 0; i < n; i++)
        if (!fs_sqlite_valid_transition(&t[i]))
            return FS_INVALID;
    if (n == 0)
        return FS_OK;
    req.t = t;
    req.n = n;
    req.results = results;
    req.current = current;
    return fs_sqlite_submit(ctx, &req);
}

/* Fills a booking from a row of FS_SQLITE_COLUMNS. */
static void fs_sqlite_row(sqlite3_stmt *st, struct fs_booking *out)
{
    memset(out, 0, sizeof(*out));
    fs_sqlite_copy_text(out->booking_id, sizeof(out->booking_id), st, 0);
    fs_sqlite_copy_text(out->sale_id, sizeof(out->sale_id), st, 1);
    fs_sqlite_copy_text(out->user_id, sizeof(out->user_id), st, 2);
    out->state = (enum fs_booking_state)sqlite3_column_int(st, 3);
    fs_sqlite_copy_text(out->reason, sizeof(out->reason), st, 4);
    out->created_ms = sqlite3_column_int64(st, 5);
    out->updated_ms = sqlite3_column_int64(st, 6);
    out->hold_expires_ms = sqlite3_column_int64(st, 7);
    out->hold_seconds = (uint32_t)sqlite3_column_int64(st, 8);
}

static enum fs_status fs_sqlite_get(void *ctx, const char *booking_id,
                                    struct fs_booking *out)
{
    struct fs_sqlite *s = ctx;
    struct fs_sqlite_reader *r;
    enum fs_status status = FS_NOT_FOUND;
    int rc;

    if (!s || !out || !fs_plugin_id_ok(booking_id))
        return FS_INVALID;
    r = fs_sqlite_reader_acquire(s);
    sqlite3_bind_text(r->get, 1, booking_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(r->get);
    if (rc == SQLITE_ROW) {
        fs_sqlite_row(r->get, out);
        status = FS_OK;
    } else if (rc != SQLITE_DONE) {
        fs_sqlite_log(s, FS_LOG_ERROR, "get %s: %s", booking_id,
                      sqlite3_errmsg(r->db));
        status = fs_sqlite_status(rc);
    }
    sqlite3_reset(r->get);
    sqlite3_clear_bindings(r->get);
    fs_sqlite_reader_release(s, r);
    return status;
}

/* Where the next page of a listing starts. */
struct fs_sqlite_cursor {
    const char *sale_id;
    enum fs_booking_state state;
    int64_t created_ms;
    int64_t seq;
};

/* Copies the next page after the cursor into page[]; *n rows. */
static enum fs_status fs_sqlite_list_page(struct fs_sqlite *s,
                                          struct fs_sqlite_cursor *c,
                                          struct fs_booking *page, size_t *n)
{
    struct fs_sqlite_reader *r = fs_sqlite_reader_acquire(s);
    sqlite3_stmt *st = c->sale_id ? r->list_sale : r->list_all;
    enum fs_status status = FS_OK;
    int rc;

    if (c->sale_id)
        sqlite3_bind_text(st, 1, c->sale_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)c->state);
    sqlite3_bind_int64(st, 3, c->created_ms);
    sqlite3_bind_int64(st, 4, c->seq);
    sqlite3_bind_int(st, 5, FS_SQLITE_LIST_PAGE);
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < FS_SQLITE_LIST_PAGE) {
        fs_sqlite_row(st, &page[*n]);
        c->created_ms = page[*n].created_ms;
        c->seq = sqlite3_column_int64(st, 9);
        (*n)++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        fs_sqlite_log(s, FS_LOG_ERROR, "list: %s", sqlite3_errmsg(r->db));
        status = fs_sqlite_status(rc);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    fs_sqlite_reader_release(s, r);
    return status;
}

/* Pages through the rows so that cb runs with no connection held: it may
 * call get() or transition() itself, and a slow cb never pins a WAL
 * snapshot. Each page is its own snapshot: a booking that changes state
 * between pages is skipped or seen in its new state, never reported twice. */
static enum fs_status fs_sqlite_list(void *ctx, const char *sale_id,
                                     enum fs_booking_state state,
                                     int (*cb)(void *arg,
                                               const struct fs_booking *b),
                                     void *arg)
{
    struct fs_sqlite_cursor cursor = {sale_id, state, INT64_MIN, INT64_MIN};
    struct fs_booking *page = NULL;
    enum fs_status status = FS_INVALID;
    size_t n, i;

    if (!ctx || !cb || !fs_sqlite_valid_state(state) ||
        (sale_id && !fs_plugin_id_ok(sale_id)))
        goto fail;
    page = calloc(FS_SQLITE_LIST_PAGE, sizeof(*page));
    status = FS_ERROR;
    if (!page)
        goto fail;
    do {
        status = fs_sqlite_list_page(ctx, &cursor, page, &n);
        if (status != FS_OK)
            goto fail;
        for (i = 0; i < n; i++)
            if (cb(arg, &page[i]) != 0)
                goto fail;  /* status is FS_OK: the caller stopped */
    } while (n == FS_SQLITE_LIST_PAGE);
fail:
    free(page);
    return status;
}

static enum fs_status fs_sqlite_health(void *ctx, char *detail, size_t len)
{
    struct fs_sqlite *s = ctx;
    struct fs_sqlite_reader *r;
    enum fs_status status = FS_OK;
    int stopping, rc;

    if (!s)
        return FS_INVALID;
    pthread_mutex_lock(&s->lock);
    stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping) {
        fs_sqlite_errf(detail, len, "shutting down");
        return FS_UNAVAILABLE;
    }
    r = fs_sqlite_reader_acquire(s);
    rc = sqlite3_step(r->ping);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = fs_sqlite_status(rc);
        fs_sqlite_errf(detail, len, "%s: %s", s->path, sqlite3_errmsg(r->db));
        fs_sqlite_log(s, FS_LOG_WARN, "health: %s", sqlite3_errmsg(r->db));
    }
    sqlite3_reset(r->ping);
    fs_sqlite_reader_release(s, r);
    return status;
}

/* ---- lifecycle ----------------------------------------------------------- */

/* Checks the values without touching the disk (the descriptor's
 * validate, and the first step of create()); a zeroed field is the default.
 * On failure *key names the option. */
static int fs_sqlite_validate(const void *config, const char **key, char *err,
                              size_t errlen)
{
    static const struct fs_sqlite_config zero;
    const struct fs_sqlite_config *cfg = config ? config : &zero;
    const char *path = cfg->path ? cfg->path : FS_SQLITE_DEFAULT_PATH;
    const char *sync = cfg->synchronous ? cfg->synchronous : "full";

    *key = NULL;
    if (cfg->busy_timeout_ms < 0 ||
        cfg->busy_timeout_ms > FS_SQLITE_MAX_BUSY_MS) {
        *key = "busy_timeout_ms";
        fs_sqlite_errf(err, errlen, "busy_timeout_ms must be 0 to %d, not %lld",
                       FS_SQLITE_MAX_BUSY_MS, (long long)cfg->busy_timeout_ms);
    } else if (cfg->batch_max < 0 || cfg->batch_max > FS_SQLITE_MAX_BATCH) {
        *key = "batch_max";
        fs_sqlite_errf(err, errlen, "batch_max must be 0 to %d, not %lld",
                       FS_SQLITE_MAX_BATCH, (long long)cfg->batch_max);
    } else if (cfg->readers < 0 || cfg->readers > FS_SQLITE_MAX_READERS) {
        *key = "readers";
        fs_sqlite_errf(err, errlen, "readers must be 0 to %d, not %lld",
                       FS_SQLITE_MAX_READERS, (long long)cfg->readers);
    } else if (!*path || strcmp(path, ":memory:") == 0) {
        *key = "path";
        fs_sqlite_errf(err, errlen, "path must name a file");
    } else if (strcasecmp(sync, "full") != 0 &&
               strcasecmp(sync, "normal") != 0) {
        *key = "synchronous";
        fs_sqlite_errf(err, errlen, "synchronous must be full or normal, not %s",
                       sync);
    }
    return *key ? -1 : 0;
}

/* Reads the config; a zeroed field takes its default. */
static int fs_sqlite_settings(struct fs_sqlite *s,
                              const struct fs_sqlite_config *cfg, char *err,
                              size_t errlen)
{
    static const struct fs_sqlite_config zero;
    const char *key;

    if (fs_sqlite_validate(cfg, &key, err, errlen) != 0)
        return -1;
    if (!cfg)
        cfg = &zero;
    s->path = cfg->path ? cfg->path : FS_SQLITE_DEFAULT_PATH;
    s->synchronous = cfg->synchronous ? cfg->synchronous : "full";
    s->busy_timeout_ms = cfg->busy_timeout_ms ? (int)cfg->busy_timeout_ms
                                              : FS_SQLITE_DEFAULT_BUSY_MS;
    s->batch_max =
        cfg->batch_max ? (int)cfg->batch_max : FS_SQLITE_DEFAULT_BATCH;
    s->nreaders = cfg->readers ? (int)cfg->readers : FS_SQLITE_DEFAULT_READERS;
    return 0;
}

static int fs_sqlite_sync_init(struct fs_sqlite *s)
{
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return -1;
    if (pthread_mutex_init(&s->rlock, NULL) != 0)
        goto fail_lock;
    if (pthread_cond_init(&s->idle_cv, NULL) != 0)
        goto fail_rlock;
    if (pthread_cond_init(&s->rcv, NULL) != 0)
        goto fail_idle;
    s->sync_ready = 1;
    return 0;
fail_idle:
    pthread_cond_destroy(&s->idle_cv);
fail_rlock:
    pthread_mutex_destroy(&s->rlock);
fail_lock:
    pthread_mutex_destroy(&s->lock);
    return -1;
}

static int fs_sqlite_readers_open(struct fs_sqlite *s, char *err, size_t errlen)
{
    int i;

    s->readers = calloc((size_t)s->nreaders, sizeof(*s->readers));
    if (!s->readers) {
        fs_sqlite_errf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < s->nreaders; i++) {
        if (fs_sqlite_reader_open(s, &s->readers[i], err, errlen) != 0)
            return -1;
        s->readers[i].next_free = s->free_readers;
        s->free_readers = &s->readers[i];
    }
    return 0;
}

/* Refuses new writes and waits until everything queued is written, then
 * closes the readers before the writer so that the last close checkpoints
 * the WAL. */
static void fs_sqlite_free(struct fs_sqlite *s)
{
    int i;

    if (!s)
        return;
    if (s->sync_ready) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        while (s->leading)
            pthread_cond_wait(&s->idle_cv, &s->lock);
        pthread_mutex_unlock(&s->lock);
    }
    if (s->wdb)
        fs_sqlite_log(s, FS_LOG_INFO, "%llu writes in %llu commits",
                      (unsigned long long)s->writes,
                      (unsigned long long)s->commits);
    for (i = 0; s->readers && i < s->nreaders; i++)
        fs_sqlite_reader_close(&s->readers[i]);
    free(s->readers);
    fs_sqlite_writer_close(s);
    if (s->sync_ready) {
        pthread_cond_destroy(&s->rcv);
        pthread_cond_destroy(&s->idle_cv);
        pthread_mutex_destroy(&s->rlock);
        pthread_mutex_destroy(&s->lock);
    }
    free(s);
}

static int fs_sqlite_create(const struct fs_host *host, const void *config,
                            void **ctx, char *err, size_t errlen)
{
    struct fs_sqlite *s = NULL;

    if (!ctx) {
        fs_sqlite_errf(err, errlen, "no context pointer");
        goto fail;
    }
    *ctx = NULL;
    s = calloc(1, sizeof(*s));
    if (!s || fs_sqlite_sync_init(s) != 0) {
        fs_sqlite_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (host && host->struct_size >= sizeof(struct fs_host))
        s->host = host;
    if (fs_sqlite_settings(s, config, err, errlen) != 0 ||
        fs_sqlite_make_parents(s->path, err, errlen) != 0 ||
        fs_sqlite_writer_open(s, err, errlen) != 0 ||
        fs_sqlite_readers_open(s, err, errlen) != 0)
        goto fail;
    fs_sqlite_log(s, FS_LOG_INFO,
                  "%s open (WAL, synchronous=%s, %d readers, batch_max %d)",
                  s->path, s->synchronous, s->nreaders, s->batch_max);
    *ctx = s;
    return 0;
fail:
    fs_sqlite_free(s);
    return -1;
}

static void fs_sqlite_destroy(void *ctx)
{
    fs_sqlite_free(ctx);
}

static const struct fs_storage_ops fs_sqlite_ops = {
    .insert = fs_sqlite_insert,
    .transition = fs_sqlite_transition,
    .get = fs_sqlite_get,
    .list = fs_sqlite_list,
};

static const struct fs_storage_batch_ops fs_sqlite_batch_ops = {
    .struct_size = sizeof(struct fs_storage_batch_ops),
    .insert_many = fs_sqlite_insert_many,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_STORAGE,
    .name = "sqlite",
    .description = "bookings in one SQLite file (WAL, group commit)",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .options = fs_sqlite_options,
    .config_size = sizeof(struct fs_sqlite_config),
    .create = fs_sqlite_create,
    .destroy = fs_sqlite_destroy,
    .health = fs_sqlite_health,
    .storage = &fs_sqlite_ops,
    .validate = fs_sqlite_validate,
    .storage_batch = &fs_sqlite_batch_ops,
};
