/*
 * redis_feed.c - see redis_feed.h.
 *
 * Why a thread with a blocking hiredis context and poll(), not hiredis' async
 * API with libevent: the feed is one connection that only reads, so an event
 * loop would buy nothing but a dependency (libevent's -dev package is not
 * installed by the project today) and a second way of connecting next to
 * redis_pool.c, whose connect, login and backoff settings this reuses.
 *
 * Hooks run on this thread, one message at a time, in the order Redis
 * delivered them; that order is what makes a sync report never older than a
 * change delivered before it (sync.lua).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <hiredis.h>

#include "redis_feed.h"

/* How often a quiet feed looks at its stop flag. */
#define FEED_POLL_MS 100
#define FEED_BACKOFF_FIRST_MS 50
#define FEED_CHANNEL_MAX 128
/* The longest message: "a", a sale id and a user id (a "c" with four
 * 20-digit numbers is shorter). */
#define FEED_MESSAGE_MAX (FS_ID_MAX + FS_USER_MAX + 8)
#define FEED_LOG_NAME "inventory.redis"

struct redis_feed {
    struct redis_pool *pool;
    const struct fs_host *host;
    struct fs_change_hooks hooks;
    int reconnect_max_ms;
    char changes[FEED_CHANNEL_MAX];
    char sync[FEED_CHANNEL_MAX];
    atomic_int stop;
    pthread_t thread;
};

static void feed_log(struct redis_feed *f, enum fs_log_level level,
                     const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (!f->host || !f->host->log)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    f->host->log(level, FEED_LOG_NAME, "%s", text);
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* "c <sale> <inventory> <available> <held> <booked>" */
static void dispatch_counts(struct redis_feed *f, char **tok, int n)
{
    struct fs_sale_counts c;

    if (n != 6 || !fs_plugin_id_ok(tok[1]) || parse_i64(tok[2], &c.inventory) ||
        parse_i64(tok[3], &c.available) || parse_i64(tok[4], &c.held) ||
        parse_i64(tok[5], &c.booked))
        return;
    f->hooks.sale_counts(f->hooks.arg, tok[1], &c);
}

/* "a <sale> <user>": the user comes last and may hold spaces. */
static void dispatch_holder(struct redis_feed *f, char *rest)
{
    char *space = strchr(rest, ' ');

    if (!space)
        return;
    *space = '\0';
    if (fs_plugin_id_ok(rest) && fs_plugin_user_ok(space + 1))
        f->hooks.sale_holder(f->hooks.arg, rest, space + 1);
}

static void dispatch(struct redis_feed *f, const char *msg, size_t len)
{
    char buf[FEED_MESSAGE_MAX + 1], *tok[7], *save = NULL;
    int n = 0;

    if (len > FEED_MESSAGE_MAX || memchr(msg, '\0', len))
        return;  /* not ours: another writer on the channel */
    memcpy(buf, msg, len);
    buf[len] = '\0';
    if (len > 2 && buf[0] == 'a' && buf[1] == ' ') {
        dispatch_holder(f, buf + 2);
        return;
    }
    for (char *t = strtok_r(buf, " ", &save); t && n < 7;
         t = strtok_r(NULL, " ", &save))
        tok[n++] = t;
    if (n == 0 || tok[0][1] != '\0')
        return;
    switch (tok[0][0]) {
    case 'c':
        dispatch_counts(f, tok, n);
        break;
    case 'u':
        if (n == 2 && fs_plugin_id_ok(tok[1]))
            f->hooks.sale_unknown(f->hooks.arg, tok[1]);
        break;
    case 'b':
        if (n == 2 && fs_plugin_id_ok(tok[1]))
            f->hooks.booking(f->hooks.arg, tok[1]);
        break;
    case 's':  /* "s 0" or "s 1": with holders */
        if (n == 2 && (tok[1][0] == '0' || tok[1][0] == '1') && !tok[1][1])
            f->hooks.synced(f->hooks.arg, tok[1][0] == '1');
        break;
    }
}

/* A push of the subscription: a SUBSCRIBE confirmation or a message. Sets
 * *live once both channels are subscribed. */
static void handle_push(struct redis_feed *f, const redisReply *r, int *live)
{
    const redisReply *kind;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return;
    kind = r->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0 &&
        r->element[2]->type == REDIS_REPLY_INTEGER &&
        r->element[2]->integer == 2 && !*live) {
        *live = 1;
        f->hooks.live(f->hooks.arg, 1);
    } else if (strcmp(kind->str, "message") == 0 &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        dispatch(f, r->element[2]->str, r->element[2]->len);
    }
}

static int send_subscribe(struct redis_feed *f, redisContext *c)
{
    int done = 0;

    if (redisAppendCommand(c, "SUBSCRIBE %s %s", f->changes, f->sync) !=
        REDIS_OK)
        return -1;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* Serves one connection until it breaks or the feed stops. 1 if it was
 * live (the caller then reports the loss). */
static int feed_session(struct redis_feed *f, redisContext *c)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int live = 0;

    if (send_subscribe(f, c) != 0)
        return 0;
    while (!atomic_load(&f->stop)) {
        redisReply *r = NULL;
        int rc;

        if (redisGetReplyFromReader(c, (void **)&r) != REDIS_OK)
            break;
        if (r) {
            handle_push(f, r, &live);
            freeReplyObject(r);
            continue;
        }
        rc = poll(&pfd, 1, FEED_POLL_MS);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && redisBufferRead(c) != REDIS_OK)
            break;
    }
    if (c->err && !atomic_load(&f->stop))
        feed_log(f, FS_LOG_WARN, "change feed lost: %s; resubscribing",
                 c->errstr);
    return live;
}

/* Sleeps ms, waking early when the feed stops. */
static void pause_ms(struct redis_feed *f, int ms)
{
    while (ms > 0 && !atomic_load(&f->stop)) {
        int step = ms < FEED_POLL_MS ? ms : FEED_POLL_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};

        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void *feed_main(void *arg)
{
    struct redis_feed *f = arg;
    char err[512], last[512] = "";
    int backoff = 0;

    while (!atomic_load(&f->stop)) {
        redisContext *c = redis_pool_connect_dedicated(f->pool, err,
                                                       sizeof(err));
        if (!c) {
            if (strcmp(err, last) != 0)
                feed_log(f, FS_LOG_WARN, "change feed: %s; retrying with "
                         "backoff up to %d ms", err, f->reconnect_max_ms);
            snprintf(last, sizeof(last), "%s", err);
            backoff = backoff ? backoff * 2 : FEED_BACKOFF_FIRST_MS;
            if (backoff > f->reconnect_max_ms)
                backoff = f->reconnect_max_ms;
            pause_ms(f, backoff);
            continue;
        }
        backoff = 0;
        last[0] = '\0';
        if (feed_session(f, c))
            f->hooks.live(f->hooks.arg, 0);
        redisFree(c);
    }
    return NULL;
}

struct redis_feed *redis_feed_start(struct redis_pool *pool,
                                    const struct fs_host *host,
                                    const char *prefix, int reconnect_max_ms,
                                    const struct fs_change_hooks *hooks)
{
    struct redis_feed *f = calloc(1, sizeof(*f));
    unsigned char rnd[8];
    char hex[2 * sizeof(rnd) + 1];

    if (!f)
        return NULL;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        goto fail;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    f->pool = pool;
    f->host = host;
    f->hooks = *hooks;
    f->reconnect_max_ms = reconnect_max_ms;
    snprintf(f->changes, sizeof(f->changes), "%s:changes", prefix);
    snprintf(f->sync, sizeof(f->sync), "%s:sync:%s", prefix, hex);
    atomic_init(&f->stop, 0);
    if (pthread_create(&f->thread, NULL, feed_main, f) != 0)
        goto fail;
    return f;

fail:
    free(f);
    return NULL;
}

void redis_feed_stop(struct redis_feed *f)
{
    if (!f)
        return;
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    free(f);
}

const char *redis_feed_sync_channel(const struct redis_feed *f)
{
    return f->sync;
}
