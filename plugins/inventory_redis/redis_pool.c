/*
 * redis_pool.c - see redis_pool.h.
 *
 * Owns every redisContext of the plugin. A slot (connection plus the SHA1s
 * its Redis gave for the scripts) belongs to one thread between take and
 * give, so nothing in a slot needs a lock; the pool's mutex guards only the
 * free list and the backoff state.
 *
 * Liveness: Redis closes connections when it restarts. Before a taken
 * connection is used, a non-blocking peek tells whether the server has closed
 * it; such a connection is replaced before the command is sent, so a restart
 * costs no failed operation. A command that fails on the wire is not retried
 * here: the script may have run, and only the caller knows whether repeating
 * it is safe (the core retries reserve, which is idempotent, and reconciles
 * the rest from storage).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "redis_pool.h"

#define SHA1_HEX 40
#define BACKOFF_FIRST_MS 50
#define PLUGIN_LOG_NAME "inventory.redis"

struct redis_slot {
    redisContext *c;
    size_t index;
    char (*sha)[SHA1_HEX + 1];  /* one per script, valid while c is */
};

struct redis_pool {
    struct redis_pool_options opt;  /* pointers stay the caller's */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct redis_slot *slots;
    size_t *free_list;
    size_t n_free;
    /* Backoff: while `down`, one connect is tried per retry_at. */
    int down;
    int backoff_ms;
    int64_t retry_at_ms;  /* CLOCK_MONOTONIC */
    char last_error[512];
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void pool_log(struct redis_pool *p, enum fs_log_level level,
                     const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (!p->opt.host || !p->opt.host->log)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    p->opt.host->log(level, PLUGIN_LOG_NAME, "%s", text);
}

/* The server closed the connection (restart, timeout, kill) if a
 * non-blocking peek sees end of file or an error rather than "no data". */
static int conn_usable(redisContext *c)
{
    char byte;
    ssize_t n;

    if (c->err)
        return 0;
    n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 1;
    return 0;  /* EOF, error, or bytes nobody asked for */
}

/* ---- opening a connection ----------------------------------------------- */

static int conn_command(redisContext *c, int argc, const char **argv,
                        const char *what, char *err, size_t errlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int rc = 0;

    if (!r) {
        snprintf(err, errlen, "%s: %s", what, c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %s", what, r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* AUTH (user and password for an ACL user, else the password alone),
 * then SELECT. */
static int conn_login(struct redis_pool *p, redisContext *c, char *err,
                      size_t errlen)
{
    const struct redis_url *u = p->opt.url;
    const char *argv[3] = {"AUTH", u->user, u->password};
    char db[16];

    if (u->password[0]) {
        if (!u->user[0])
            argv[1] = u->password;
        if (conn_command(c, u->user[0] ? 3 : 2, argv, "AUTH", err, errlen))
            return -1;
    }
    if (u->db) {
        snprintf(db, sizeof(db), "%d", u->db);
        argv[0] = "SELECT";
        argv[1] = db;
        if (conn_command(c, 2, argv, "SELECT", err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* SCRIPT LOAD of every script in one round trip; keeps the SHA1s. */
static int conn_load_scripts(struct redis_pool *p, struct redis_slot *s,
                             redisContext *c, char *err, size_t errlen)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < p->opt.n_scripts; i++)
        if (redisAppendCommand(c, "SCRIPT LOAD %s", p->opt.scripts[i]) !=
            REDIS_OK) {
            snprintf(err, errlen, "SCRIPT LOAD: %s", c->errstr);
            return -1;
        }
    for (i = 0; i < p->opt.n_scripts; i++) {
        redisReply *r = NULL;

        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            snprintf(err, errlen, "SCRIPT LOAD: %s", c->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_STRING && r->len == SHA1_HEX) {
            memcpy(s->sha[i], r->str, SHA1_HEX + 1);
        } else if (rc == 0) {
            snprintf(err, errlen, "SCRIPT LOAD %s: %s", p->opt.script_names[i],
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rc = -1;  /* keep reading: the other replies are on the wire */
        }
        freeReplyObject(r);
    }
    return rc;
}

static redisContext *conn_open(struct redis_pool *p, struct redis_slot *s,
                               char *err, size_t errlen)
{
    const struct redis_url *u = p->opt.url;
    redisContext *c;

    c = redisConnectWithTimeout(u->host, u->port,
                                ms_to_tv(p->opt.connect_timeout_ms));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (c->err) {
        snprintf(err, errlen, "connect: %s", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, ms_to_tv(p->opt.command_timeout_ms)) != REDIS_OK) {
        snprintf(err, errlen, "cannot set the command timeout: %s", c->errstr);
        goto fail;
    }
    redisEnableKeepAlive(c);  /* best effort: finds dead peers when idle */
    if (conn_login(p, c, err, errlen) != 0 ||
        (s && conn_load_scripts(p, s, c, err, errlen) != 0))
        goto fail;
    return c;

fail:
    if (c)
        redisFree(c);
    return NULL;
}

redisContext *redis_pool_connect_dedicated(struct redis_pool *p, char *err,
                                           size_t errlen)
{
    return conn_open(p, NULL, err, errlen);
}

/* Opens s->c unless the backoff says Redis is down and it is not yet time
 * to try again. While down, only one caller probes at a time. */
static enum fs_status slot_connect(struct redis_pool *p, struct redis_slot *s)
{
    char err[sizeof(p->last_error)] = "";
    int64_t now;

    pthread_mutex_lock(&p->lock);
    if (p->down) {
        now = mono_ms();
        if (now < p->retry_at_ms) {
            pthread_mutex_unlock(&p->lock);
            return FS_UNAVAILABLE;
        }
        p->retry_at_ms = now + p->opt.connect_timeout_ms + p->backoff_ms;
    }
    pthread_mutex_unlock(&p->lock);

    s->c = conn_open(p, s, err, sizeof(err));

    pthread_mutex_lock(&p->lock);
    if (s->c) {
        if (p->down)
            pool_log(p, FS_LOG_INFO, "redis %s:%d answers again",
                     p->opt.url->host, p->opt.url->port);
        p->down = 0;
        p->backoff_ms = 0;
    } else {
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_FIRST_MS;
        if (p->backoff_ms > p->opt.reconnect_max_ms)
            p->backoff_ms = p->opt.reconnect_max_ms;
        p->retry_at_ms = mono_ms() + p->backoff_ms;
        if (!p->down || strcmp(err, p->last_error) != 0)
            pool_log(p, FS_LOG_WARN, "redis %s:%d: %s; retrying with backoff "
                     "up to %d ms", p->opt.url->host, p->opt.url->port, err,
                     p->opt.reconnect_max_ms);
        p->down = 1;
        memcpy(p->last_error, err, sizeof(err));
    }
    pthread_mutex_unlock(&p->lock);
    return s->c ? FS_OK : FS_UNAVAILABLE;
}

/* ---- take and give ------------------------------------------------------ */

static void slot_drop(struct redis_slot *s)
{
    if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
}

static void pool_give(struct redis_pool *p, struct redis_slot *s)
{
    if (s->c && s->c->err)
        slot_drop(s);  /* a timed-out or broken connection is out of sync */
    pthread_mutex_lock(&p->lock);
    p->free_list[p->n_free++] = s->index;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* A connected slot, waiting at most command_timeout_ms for a free one. */
static enum fs_status pool_take(struct redis_pool *p, struct redis_slot **out)
{
    struct redis_slot *s = NULL;
    struct timespec until;
    enum fs_status st;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += p->opt.command_timeout_ms / 1000;
    until.tv_nsec += (long)(p->opt.command_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->n_free == 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->freed, &p->lock, &until);
    if (p->n_free > 0)
        s = &p->slots[p->free_list[--p->n_free]];
    pthread_mutex_unlock(&p->lock);
    if (!s)
        return FS_UNAVAILABLE;
    if (s->c && !conn_usable(s->c))
        slot_drop(s);
    if (!s->c) {
        st = slot_connect(p, s);
        if (st != FS_OK) {
            pool_give(p, s);
            return st;
        }
    }
    *out = s;
    return FS_OK;
}

/* ---- lifecycle ---------------------------------------------------------- */

struct redis_pool *redis_pool_new(const struct redis_pool_options *opt)
{
    struct redis_pool *p = calloc(1, sizeof(*p));
    pthread_condattr_t attr;
    int have_lock = 0, have_cond = 0;
    size_t i;

    if (!p)
        return NULL;
    p->opt = *opt;
    p->slots = calloc(opt->size, sizeof(*p->slots));
    p->free_list = calloc(opt->size, sizeof(*p->free_list));
    if (!p->slots || !p->free_list)
        goto fail;
    for (i = 0; i < opt->size; i++) {
        p->slots[i].index = i;
        p->slots[i].sha = calloc(opt->n_scripts ? opt->n_scripts : 1,
                                 sizeof(*p->slots[i].sha));
        if (!p->slots[i].sha)
            goto fail;
        p->free_list[p->n_free++] = i;
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail;
    have_lock = 1;
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    have_cond = pthread_cond_init(&p->freed, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!have_cond)
        goto fail;
    return p;

fail:
    if (have_lock)
        pthread_mutex_destroy(&p->lock);
    if (p->slots)
        for (i = 0; i < opt->size; i++)
            free(p->slots[i].sha);
    free(p->slots);
    free(p->free_list);
    free(p);
    return NULL;
}

void redis_pool_free(struct redis_pool *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; i < p->opt.size; i++) {
        slot_drop(&p->slots[i]);
        free(p->slots[i].sha);
    }
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->slots);
    free(p->free_list);
    free(p);
}

/* ---- commands ----------------------------------------------------------- */

/* Error replies that mean "Redis cannot serve now", not "the script is
 * wrong". */
static int error_is_transient(const char *msg)
{
    static const char *const transient[] = {
        "LOADING", "BUSY", "MASTERDOWN", "READONLY", "OOM", "TRYAGAIN",
        "CLUSTERDOWN", "NOAUTH",
    };
    size_t i;

    for (i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (strncmp(msg, transient[i], strlen(transient[i])) == 0)
            return 1;
    return 0;
}

static enum fs_status map_reply(struct redis_pool *p, struct redis_slot *s,
                                size_t script, redisReply *r)
{
    if (!r) {
        pool_log(p, FS_LOG_DEBUG, "%s: %s", p->opt.script_names[script],
                 s->c->errstr);
        return FS_UNAVAILABLE;
    }
    if (r->type != REDIS_REPLY_ERROR)
        return FS_OK;
    if (error_is_transient(r->str)) {
        pool_log(p, FS_LOG_DEBUG, "%s: %s", p->opt.script_names[script],
                 r->str);
        if (strncmp(r->str, "NOAUTH", 6) == 0)
            slot_drop(s);  /* log in again on the next take */
        return FS_UNAVAILABLE;
    }
    pool_log(p, FS_LOG_ERROR, "script %s failed: %s",
             p->opt.script_names[script], r->str);
    return FS_ERROR;
}

enum fs_status redis_pool_eval(struct redis_pool *p, size_t script,
                               const char *const *keys, size_t nkeys,
                               const char *const *args, const size_t *arglens,
                               size_t nargs, redisReply **reply)
{
    size_t argc = 3 + nkeys + nargs, i;
    const char **av = NULL;
    size_t *al = NULL;
    struct redis_slot *s = NULL;
    redisReply *r = NULL;
    char numkeys[24];
    enum fs_status st;

    *reply = NULL;
    av = malloc(argc * sizeof(*av));
    al = malloc(argc * sizeof(*al));
    if (!av || !al) {
        st = FS_ERROR;
        goto done;
    }
    st = pool_take(p, &s);
    if (st != FS_OK)
        goto done;
    snprintf(numkeys, sizeof(numkeys), "%zu", nkeys);
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = s->sha[script];
    al[1] = SHA1_HEX;
    av[2] = numkeys;
    al[2] = strlen(numkeys);
    for (i = 0; i < nkeys; i++) {
        av[3 + i] = keys[i];
        al[3 + i] = strlen(keys[i]);
    }
    for (i = 0; i < nargs; i++) {
        av[3 + nkeys + i] = args[i];
        al[3 + nkeys + i] = arglens[i];
    }
    r = redisCommandArgv(s->c, (int)argc, av, al);
    if (r && r->type == REDIS_REPLY_ERROR &&
        strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* SCRIPT FLUSH, or a failover to a server that never saw it: EVAL
         * runs the text and caches it again. */
        freeReplyObject(r);
        av[0] = "EVAL";
        al[0] = 4;
        av[1] = p->opt.scripts[script];
        al[1] = strlen(av[1]);
        r = redisCommandArgv(s->c, (int)argc, av, al);
    }
    st = map_reply(p, s, script, r);
    if (st == FS_OK) {
        *reply = r;
        r = NULL;
    }

done:
    if (r)
        freeReplyObject(r);
    if (s)
        pool_give(p, s);
    free(av);
    free(al);
    return st;
}

enum fs_status redis_pool_ping(struct redis_pool *p, char *detail, size_t len)
{
    struct redis_slot *s = NULL;
    redisReply *r;
    enum fs_status st;

    st = pool_take(p, &s);
    if (st != FS_OK) {
        pthread_mutex_lock(&p->lock);
        /* The address first: health() is what a failed start names. */
        snprintf(detail, len, "redis %s:%d: %s", p->opt.url->host,
                 p->opt.url->port,
                 p->down ? p->last_error : "every connection is busy");
        pthread_mutex_unlock(&p->lock);
        return st;
    }
    r = redisCommand(s->c, "PING");
    if (r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) {
        snprintf(detail, len, "redis %s:%d db %d answers PING",
                 p->opt.url->host, p->opt.url->port, p->opt.url->db);
    } else {
        snprintf(detail, len, "redis %s:%d: PING: %s", p->opt.url->host,
                 p->opt.url->port,
                 r ? (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply")
                   : s->c->errstr);
        st = FS_UNAVAILABLE;
    }
    if (r)
        freeReplyObject(r);
    pool_give(p, s);
    return st;
}

enum fs_status redis_pool_publish(struct redis_pool *p, const char *channel,
                                  const char *const *messages, size_t n)
{
    struct redis_slot *s = NULL;
    enum fs_status st = pool_take(p, &s);
    size_t sent = 0, i;

    if (st != FS_OK)
        return st;
    /* Pipelined: one round trip for the whole batch. */
    for (; sent < n; sent++)
        if (redisAppendCommand(s->c, "PUBLISH %s %s", channel,
                               messages[sent]) != REDIS_OK)
            break;
    if (sent < n)
        st = FS_UNAVAILABLE;
    for (i = 0; i < sent; i++) {
        redisReply *r = NULL;

        if (redisGetReply(s->c, (void **)&r) != REDIS_OK || !r) {
            st = FS_UNAVAILABLE;  /* the context is broken: give() drops it */
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && st == FS_OK)
            st = error_is_transient(r->str) ? FS_UNAVAILABLE : FS_ERROR;
        freeReplyObject(r);
    }
    if (sent < n && s->c && !s->c->err)
        slot_drop(s);  /* replies of a half-sent pipeline would be unread */
    pool_give(p, s);
    return st;
}
