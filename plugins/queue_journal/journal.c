/*
 * journal.c - the `journal` queue's segment files: see journal.h.
 */
#define HASH_NONFATAL_OOM 1

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uthash.h>
#include <zlib.h>

#include "journal.h"
#include "queue_fifo.h"

#define JOURNAL_HEADER 17  /* crc 4, type 1, tag 8, length 4 */
#define JOURNAL_PUBLISHED 'P'
#define JOURNAL_LET_GO 'A'
/* 'A' records gathered before one write: losing them costs only a second
 * delivery after a restart, so they need neither their own write nor a
 * sync. */
#define JOURNAL_ACK_BATCH 256

struct journal_segment {
    uint64_t seq;
    uint64_t first_tag;  /* tags below it were published in earlier ones */
    uint64_t bytes;
    uint64_t live;       /* its messages not let go yet */
    int fd;
};

struct journal {
    char *dir;
    int dir_fd, lock_fd;
    const struct fs_host *host;
    const char *log_name;
    uint64_t segment_bytes;
    int sync_full;
    int64_t interval_ms;

    /* Segments and `written`: the appends (under the caller's lock) and the
     * sync's snapshot of where they are. */
    pthread_mutex_t lock;
    struct journal_segment *segs;  /* oldest first; the last is written */
    size_t nsegs, cap;
    uint64_t written;  /* bytes ever appended, every segment */
    char acks[JOURNAL_ACK_BATCH * JOURNAL_HEADER];
    size_t nacks;  /* bytes gathered in acks[] */

    pthread_mutex_t sync_lock;
    pthread_cond_t sync_done;
    uint64_t synced;  /* every byte below it is on disk */
    int syncing;
    int stopping;
    pthread_t syncer;
    int syncer_started;

    _Atomic int error;  /* errno of the write or sync that broke it */
};

#define jlog(j, level, ...)                                              \
    do {                                                                 \
        if ((j)->host && (j)->host->log)                                 \
            (j)->host->log(level, (j)->log_name, __VA_ARGS__);           \
    } while (0)

/* ---- records --------------------------------------------------------------- */

static size_t journal_encode(char *out, char type, uint64_t tag,
                             const void *body, size_t len)
{
    uint32_t len32 = (uint32_t)len, crc;

    out[4] = type;
    memcpy(out + 5, &tag, sizeof(tag));
    memcpy(out + 13, &len32, sizeof(len32));
    if (len)
        memcpy(out + JOURNAL_HEADER, body, len);
    crc = (uint32_t)crc32(0L, (const Bytef *)out + 4,
                          (uInt)(JOURNAL_HEADER - 4 + len));
    memcpy(out, &crc, sizeof(crc));
    return JOURNAL_HEADER + len;
}

/* The record at buf[0..avail): its size, or 0 when cut short or damaged. */
static size_t journal_decode(const char *buf, size_t avail, char *type,
                             uint64_t *tag, const char **body, size_t *len)
{
    uint32_t crc, len32;

    if (avail < JOURNAL_HEADER)
        return 0;
    memcpy(&crc, buf, sizeof(crc));
    memcpy(tag, buf + 5, sizeof(*tag));
    memcpy(&len32, buf + 13, sizeof(len32));
    *type = buf[4];
    if (len32 > FS_MESSAGE_MAX || avail - JOURNAL_HEADER < len32 ||
        (*type != JOURNAL_PUBLISHED && *type != JOURNAL_LET_GO))
        return 0;
    if ((uint32_t)crc32(0L, (const Bytef *)buf + 4,
                        (uInt)(JOURNAL_HEADER - 4 + len32)) != crc)
        return 0;
    *body = buf + JOURNAL_HEADER;
    *len = len32;
    return JOURNAL_HEADER + len32;
}

/* Writes all of buf; on failure the file is cut back to `at` so that no
 * half record sits before the next one. -1 with errno set. */
static int journal_write_at(struct journal *j, int fd, uint64_t at,
                            const char *buf, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            if (done && ftruncate(fd, (off_t)at) != 0)
                atomic_store(&j->error, errno);  /* a torn record stays */
            if (done && lseek(fd, (off_t)at, SEEK_SET) < 0)
                atomic_store(&j->error, errno);
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* ---- segments -------------------------------------------------------------- */

static void journal_segment_name(char *out, size_t size, uint64_t seq)
{
    snprintf(out, size, "%016" PRIx64 ".seg", seq);
}

/* Opens a new, empty segment, the last one. */
static int journal_segment_add(struct journal *j, uint64_t seq,
                               uint64_t first_tag)
{
    char name[32];
    int fd;

    if (j->nsegs == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 8;
        struct journal_segment *s = realloc(j->segs, cap * sizeof(*s));
        if (!s)
            return -1;
        j->segs = s;
        j->cap = cap;
    }
    journal_segment_name(name, sizeof(name), seq);
    fd = openat(j->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0600);
    if (fd < 0)
        return -1;
    /* The new name must survive a power loss as much as its records. */
    if (fsync(j->dir_fd) != 0) {
        int e = errno;
        close(fd);
        unlinkat(j->dir_fd, name, 0);
        errno = e;
        return -1;
    }
    j->segs[j->nsegs++] = (struct journal_segment){
        .seq = seq, .first_tag = first_tag, .fd = fd,
    };
    return 0;
}

/* Rotation: the full segment is synced first, so that a sync of the new
 * one covers every byte written before. */
static int journal_rotate(struct journal *j, uint64_t first_tag)
{
    struct journal_segment *cur = &j->segs[j->nsegs - 1];

    if (fdatasync(cur->fd) != 0) {
        atomic_store(&j->error, errno);
        return -1;
    }
    close(cur->fd);
    cur->fd = -1;
    if (journal_segment_add(j, cur->seq + 1, first_tag) != 0)
        return -1;
    pthread_mutex_lock(&j->sync_lock);
    if (j->synced < j->written)
        j->synced = j->written;
    pthread_mutex_unlock(&j->sync_lock);
    return 0;
}

/* Deletes the oldest segments while every message of theirs is let go. */
static void journal_drop_done(struct journal *j)
{
    size_t k = 0;
    char name[32];

    while (k + 1 < j->nsegs && j->segs[k].live == 0) {
        journal_segment_name(name, sizeof(name), j->segs[k].seq);
        if (unlinkat(j->dir_fd, name, 0) != 0)
            jlog(j, FS_LOG_WARN, "journal %s: cannot delete %s: %s", j->dir,
                 name, strerror(errno));
        if (j->segs[k].fd >= 0)
            close(j->segs[k].fd);
        k++;
    }
    if (k) {
        memmove(j->segs, j->segs + k, (j->nsegs - k) * sizeof(*j->segs));
        j->nsegs -= k;
    }
}

int journal_append(struct journal *j, uint64_t tag, const void *body,
                   size_t len, uint64_t *end)
{
    char buf[JOURNAL_HEADER + FS_MESSAGE_MAX];
    struct journal_segment *cur;
    size_t n;
    int rc = -1;

    if (len > FS_MESSAGE_MAX)
        return -1;
    n = journal_encode(buf, JOURNAL_PUBLISHED, tag, body, len);
    pthread_mutex_lock(&j->lock);
    if (atomic_load(&j->error))
        goto done;
    cur = &j->segs[j->nsegs - 1];
    if (cur->bytes >= j->segment_bytes) {
        if (journal_rotate(j, tag) != 0) {
            jlog(j, FS_LOG_ERROR, "journal %s: cannot start a segment: %s",
                 j->dir, strerror(errno));
            goto done;
        }
        cur = &j->segs[j->nsegs - 1];
    }
    if (journal_write_at(j, cur->fd, cur->bytes, buf, n) != 0) {
        jlog(j, FS_LOG_ERROR, "journal %s: write: %s", j->dir, strerror(errno));
        goto done;
    }
    cur->bytes += n;
    cur->live++;
    j->written += n;
    *end = j->written;
    rc = 0;
done:
    pthread_mutex_unlock(&j->lock);
    return rc;
}

static struct journal_segment *journal_segment_of(struct journal *j,
                                                  uint64_t tag)
{
    for (size_t k = j->nsegs; k-- > 0;)
        if (j->segs[k].first_tag <= tag)
            return &j->segs[k];
    return NULL;
}

/* Called with j->lock held: writes the gathered 'A' records. */
static void journal_flush_acks(struct journal *j)
{
    struct journal_segment *cur = &j->segs[j->nsegs - 1];

    if (j->nacks && !atomic_load(&j->error) &&
        journal_write_at(j, cur->fd, cur->bytes, j->acks, j->nacks) == 0) {
        cur->bytes += j->nacks;
        j->written += j->nacks;
    }
    j->nacks = 0;
}

void journal_forget(struct journal *j, uint64_t tag)
{
    struct journal_segment *of;

    pthread_mutex_lock(&j->lock);
    j->nacks += journal_encode(j->acks + j->nacks, JOURNAL_LET_GO, tag, NULL,
                               0);
    if (j->nacks == sizeof(j->acks))
        journal_flush_acks(j);
    of = journal_segment_of(j, tag);
    if (of && of->live)
        of->live--;
    journal_drop_done(j);
    pthread_mutex_unlock(&j->lock);
}

/* ---- durability ------------------------------------------------------------ */

/* One fdatasync of what is written now; called with sync_lock held by the
 * one caller that set `syncing`, and returns with it held. */
static void journal_sync_round(struct journal *j)
{
    uint64_t target, synced = j->synced;
    int fd, rc;

    /* Never j->lock under sync_lock: a rotation takes them the other way. */
    pthread_mutex_unlock(&j->sync_lock);
    pthread_mutex_lock(&j->lock);
    target = j->written;
    /* A copy of the descriptor: a rotation may close the original while
     * this one syncs without the lock. */
    fd = target > synced ? fcntl(j->segs[j->nsegs - 1].fd, F_DUPFD_CLOEXEC, 0)
                         : -2;
    pthread_mutex_unlock(&j->lock);
    if (fd == -2) {
        pthread_mutex_lock(&j->sync_lock);
        return;
    }
    rc = fd < 0 ? -1 : fdatasync(fd);
    if (rc != 0) {
        atomic_store(&j->error, errno);
        jlog(j, FS_LOG_ERROR, "journal %s: fdatasync: %s; publishing refused "
             "until a restart", j->dir, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    pthread_mutex_lock(&j->sync_lock);
    if (rc == 0 && target > j->synced)
        j->synced = target;
}

int journal_wait_durable(struct journal *j, uint64_t end)
{
    int ok;

    if (!j->sync_full)
        return atomic_load(&j->error) ? -1 : 0;
    pthread_mutex_lock(&j->sync_lock);
    while (j->synced < end && !atomic_load(&j->error)) {
        if (j->syncing) {
            pthread_cond_wait(&j->sync_done, &j->sync_lock);
            continue;
        }
        j->syncing = 1;
        journal_sync_round(j);
        j->syncing = 0;
        pthread_cond_broadcast(&j->sync_done);
    }
    ok = j->synced >= end;
    pthread_mutex_unlock(&j->sync_lock);
    return ok ? 0 : -1;
}

/* sync: interval. What a power loss may take is what was written since
 * the last round, and only what the worker has not recorded yet. */
static void *journal_syncer(void *arg)
{
    struct journal *j = arg;

    pthread_mutex_lock(&j->sync_lock);
    while (!j->stopping) {
        struct timespec until = queue_fifo_deadline(j->interval_ms);

        while (!j->stopping &&
               pthread_cond_timedwait(&j->sync_done, &j->sync_lock, &until) !=
                   ETIMEDOUT)
            ;
        if (!j->stopping && !atomic_load(&j->error) && !j->syncing) {
            j->syncing = 1;
            journal_sync_round(j);
            j->syncing = 0;
        }
    }
    pthread_mutex_unlock(&j->sync_lock);
    return NULL;
}

enum fs_status journal_health(struct journal *j, char *detail, size_t len)
{
    int e = atomic_load(&j->error);
    size_t nsegs;

    pthread_mutex_lock(&j->lock);
    nsegs = j->nsegs;
    pthread_mutex_unlock(&j->lock);
    if (e) {
        snprintf(detail, len, "journal %s: %s; publishing refused until a "
                 "restart", j->dir, strerror(e));
        return FS_UNAVAILABLE;
    }
    snprintf(detail, len, "journal %s: %zu segment%s", j->dir, nsegs,
             nsegs == 1 ? "" : "s");
    return FS_OK;
}

/* ---- reading back at open -------------------------------------------------- */

struct journal_survivor {
    uint64_t tag;
    UT_hash_handle hh;  /* insertion order is publish order */
    size_t len;
    char body[];
};

struct journal_replay {
    struct journal_survivor *live;
    uint64_t last_tag;
    uint64_t *seqs;
    size_t nseqs, cap;
    size_t records, cut;
};

static int journal_replay_record(struct journal_replay *r, char type,
                                 uint64_t tag, const char *body, size_t len)
{
    struct journal_survivor *s;

    if (tag > r->last_tag)
        r->last_tag = tag;
    HASH_FIND(hh, r->live, &tag, sizeof(tag), s);
    if (type == JOURNAL_LET_GO && s) {
        HASH_DEL(r->live, s);
        free(s);
    }
    /* A message read twice (a compaction cut short by a crash) is kept
     * once. */
    if (type == JOURNAL_LET_GO || s)
        return 0;
    s = malloc(sizeof(*s) + len);
    if (!s)
        return -1;
    s->tag = tag;
    s->len = len;
    memcpy(s->body, body, len);
    HASH_ADD(hh, r->live, tag, sizeof(s->tag), s);
    if (!s->hh.tbl) {
        free(s);
        return -1;
    }
    return 0;
}

static int journal_read_file(int dir_fd, const char *name, char **buf,
                             size_t *size)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t done = 0;

    *buf = NULL;
    if (fd < 0 || fstat(fd, &st) != 0)
        goto fail;
    *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!*buf)
        goto fail;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;  /* shrank meanwhile: read what is there */
        done += (size_t)n;
    }
    close(fd);
    *size = done;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    free(*buf);
    *buf = NULL;
    return -1;
}

static int journal_replay_segment(struct journal *j, struct journal_replay *r,
                                  uint64_t seq, int last)
{
    char name[32], *buf;
    size_t size, at = 0;

    journal_segment_name(name, sizeof(name), seq);
    if (journal_read_file(j->dir_fd, name, &buf, &size) != 0)
        return -1;
    while (at < size) {
        char type;
        uint64_t tag;
        const char *body;
        size_t len, n = journal_decode(buf + at, size - at, &type, &tag,
                                       &body, &len);
        if (n == 0)
            break;
        if (journal_replay_record(r, type, tag, body, len) != 0) {
            free(buf);
            errno = ENOMEM;
            return -1;
        }
        r->records++;
        at += n;
    }
    if (at < size) {
        r->cut++;
        jlog(j, last ? FS_LOG_INFO : FS_LOG_WARN,
             "journal %s: %s ends in %zu bytes that are no whole record (%s)",
             j->dir, name, size - at,
             last ? "a write cut short by a crash" : "damaged; read up to it");
    }
    free(buf);
    return 0;
}

static int journal_survivor_cmp(const struct journal_survivor *a,
                                const struct journal_survivor *b)
{
    return a->tag < b->tag ? -1 : a->tag > b->tag;
}

static int journal_seq_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sequence numbers of the segments in the folder, sorted. */
static int journal_list(struct journal *j, struct journal_replay *r)
{
    int fd = dup(j->dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        uint64_t seq;
        char tail[8];

        if (strlen(e->d_name) != 20 ||
            sscanf(e->d_name, "%16" SCNx64 "%7s", &seq, tail) != 2 ||
            strcmp(tail, ".seg") != 0)
            continue;
        if (r->nseqs == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 16;
            uint64_t *s = realloc(r->seqs, cap * sizeof(*s));
            if (!s) {
                closedir(d);
                errno = ENOMEM;
                return -1;
            }
            r->seqs = s;
            r->cap = cap;
        }
        r->seqs[r->nseqs++] = seq;
    }
    closedir(d);
    if (r->nseqs)
        qsort(r->seqs, r->nseqs, sizeof(*r->seqs), journal_seq_cmp);
    return 0;
}

/* Writes the survivors into a fresh segment, syncs it, hands them to cb,
 * and deletes the segments they were read from. */
static int journal_compact(struct journal *j, struct journal_replay *r,
                           journal_survivor_cb cb, void *arg, char *err,
                           size_t errlen)
{
    char buf[JOURNAL_HEADER + FS_MESSAGE_MAX], name[32];
    struct journal_survivor *s, *tmp;
    struct journal_segment *cur;

    /* After the old ones, so that a crash here leaves them to be read
     * again (a survivor read twice is the same tag, kept once). */
    if (journal_segment_add(j, r->nseqs ? r->seqs[r->nseqs - 1] + 1 : 1,
                            0) != 0) {
        snprintf(err, errlen, "journal %s: cannot create a segment: %s",
                 j->dir, strerror(errno));
        return -1;
    }
    cur = &j->segs[0];
    HASH_ITER(hh, r->live, s, tmp) {
        size_t n = journal_encode(buf, JOURNAL_PUBLISHED, s->tag, s->body,
                                  s->len);
        if (journal_write_at(j, cur->fd, cur->bytes, buf, n) != 0) {
            snprintf(err, errlen, "journal %s: write: %s", j->dir,
                     strerror(errno));
            return -1;
        }
        cur->bytes += n;
        cur->live++;
    }
    j->written = j->synced = cur->bytes;
    if (fdatasync(cur->fd) != 0) {
        snprintf(err, errlen, "journal %s: fdatasync: %s", j->dir,
                 strerror(errno));
        return -1;
    }
    HASH_ITER(hh, r->live, s, tmp)
        if (cb(arg, s->tag, s->body, s->len) != 0) {
            snprintf(err, errlen, "journal %s: out of memory reading back "
                     "its messages", j->dir);
            return -1;
        }
    for (size_t k = 0; k < r->nseqs; k++) {
        journal_segment_name(name, sizeof(name), r->seqs[k]);
        if (unlinkat(j->dir_fd, name, 0) != 0)
            jlog(j, FS_LOG_WARN, "journal %s: cannot delete %s: %s", j->dir,
                 name, strerror(errno));
    }
    return 0;
}

static void journal_replay_free(struct journal_replay *r)
{
    struct journal_survivor *s, *tmp;

    HASH_ITER(hh, r->live, s, tmp) {
        HASH_DEL(r->live, s);
        free(s);
    }
    free(r->seqs);
}

static int journal_replay(struct journal *j, journal_survivor_cb cb,
                          void *arg, uint64_t *last_tag, char *err,
                          size_t errlen)
{
    struct journal_replay r = {0};
    int rc = -1;

    if (journal_list(j, &r) != 0) {
        snprintf(err, errlen, "journal %s: cannot list it: %s", j->dir,
                 strerror(errno));
        goto done;
    }
    for (size_t k = 0; k < r.nseqs; k++)
        if (journal_replay_segment(j, &r, r.seqs[k], k + 1 == r.nseqs) != 0) {
            snprintf(err, errlen, "journal %s: cannot read a segment: %s",
                     j->dir, strerror(errno));
            goto done;
        }
    /* Tags were handed out in publish order. */
    HASH_SRT(hh, r.live, journal_survivor_cmp);
    rc = journal_compact(j, &r, cb, arg, err, errlen);
    *last_tag = r.last_tag;
    if (rc == 0 && r.nseqs)
        jlog(j, FS_LOG_INFO, "journal %s: %zu records in %zu segments read "
             "back, %u messages not let go", j->dir, r.records, r.nseqs,
             HASH_COUNT(r.live));
done:
    journal_replay_free(&r);
    return rc;
}

/* ---- open and close -------------------------------------------------------- */

/* Creates the folder and every missing one above it, like mkdir -p. */
static int journal_make_dirs(const char *dir)
{
    char *copy = strdup(dir);

    if (!copy)
        return -1;
    for (char *p = strchr(copy + 1, '/');; p = strchr(p + 1, '/')) {
        if (p)
            *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        if (!p)
            break;
        *p = '/';
    }
    free(copy);
    return 0;
}

static int journal_lock_dir(struct journal *j, char *err, size_t errlen)
{
    if (journal_make_dirs(j->dir) != 0 ||
        (j->dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "journal %s: cannot create or open the folder: "
                 "%s", j->dir, strerror(errno));
        return -1;
    }
    j->lock_fd = openat(j->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->lock_fd < 0) {
        snprintf(err, errlen, "journal %s: cannot open its lock file: %s",
                 j->dir, strerror(errno));
        return -1;
    }
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "journal %s: %s", j->dir,
                 errno == EWOULDBLOCK
                     ? "in use by another process (one journal per daemon)"
                     : strerror(errno));
        return -1;
    }
    return 0;
}

static int journal_sync_init(struct journal *j)
{
    if (pthread_mutex_init(&j->lock, NULL) != 0)
        return -1;
    if (pthread_mutex_init(&j->sync_lock, NULL) != 0) {
        pthread_mutex_destroy(&j->lock);
        return -1;
    }
    if (queue_fifo_cond_init(&j->sync_done) != 0) {
        pthread_mutex_destroy(&j->sync_lock);
        pthread_mutex_destroy(&j->lock);
        return -1;
    }
    return 0;
}

struct journal *journal_open(const struct journal_options *o,
                             journal_survivor_cb cb, void *arg,
                             uint64_t *last_tag, char *err, size_t errlen)
{
    struct journal *j = calloc(1, sizeof(*j));

    if (!j || !(j->dir = strdup(o->dir)) || journal_sync_init(j) != 0) {
        snprintf(err, errlen, "out of memory");
        if (j)
            free(j->dir);
        free(j);
        return NULL;
    }
    j->dir_fd = j->lock_fd = -1;
    j->host = o->host;
    j->log_name = o->log_name;
    j->segment_bytes = o->segment_bytes;
    j->sync_full = o->sync_full;
    j->interval_ms = o->interval_ms;
    if (journal_lock_dir(j, err, errlen) != 0 ||
        journal_replay(j, cb, arg, last_tag, err, errlen) != 0)
        goto fail;
    if (!j->sync_full) {
        if (pthread_create(&j->syncer, NULL, journal_syncer, j) != 0) {
            snprintf(err, errlen, "cannot start the journal's sync thread");
            goto fail;
        }
        j->syncer_started = 1;
    }
    return j;
fail:
    journal_close(j);
    return NULL;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    if (j->syncer_started) {
        pthread_mutex_lock(&j->sync_lock);
        j->stopping = 1;
        pthread_cond_broadcast(&j->sync_done);
        pthread_mutex_unlock(&j->sync_lock);
        pthread_join(j->syncer, NULL);
    }
    if (j->nsegs)
        journal_flush_acks(j);
    for (size_t k = 0; k < j->nsegs; k++) {
        if (j->segs[k].fd < 0)
            continue;
        /* A clean stop leaves nothing for a power loss to take. */
        if (k + 1 == j->nsegs && fdatasync(j->segs[k].fd) != 0)
            jlog(j, FS_LOG_ERROR, "journal %s: fdatasync at close: %s",
                 j->dir, strerror(errno));
        close(j->segs[k].fd);
    }
    free(j->segs);
    if (j->lock_fd >= 0)
        close(j->lock_fd);  /* releases the flock */
    if (j->dir_fd >= 0)
        close(j->dir_fd);
    pthread_cond_destroy(&j->sync_done);
    pthread_mutex_destroy(&j->sync_lock);
    pthread_mutex_destroy(&j->lock);
    free(j->dir);
    free(j);
}
