/* events.c - per-booking wake-ups for server-sent event streams, and the
 * hand-off of this process's changes to the other daemons (the relay). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>

#include "events.h"

/* One per booking that has at least one stream. */
struct topic {
    char booking_id[FS_ID_MAX + 1];
    uint64_t generation;  /* bumped by every notify */
    size_t subscribers;
    UT_hash_handle hh;
};

/* Streams per user, for the per-user bound. */
struct user_streams {
    char user_id[FS_USER_MAX + 1];
    size_t open;
    UT_hash_handle hh;
};

struct fs_events_sub {
    struct topic *topic;
    struct user_streams *user;
    uint64_t seen;  /* topic generation at the last wait */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* One condition for all streams: a notify broadcasts, and each woken stream
 * checks its own topic's generation. Streams are few (bounded by HTTP
 * threads), so a broadcast costs little and needs no per-topic condvar. */
static pthread_cond_t changed;
static int cond_ready;
static struct topic *topics;
static struct user_streams *users;
static size_t open_streams, max_streams = 256, max_user = 4;
static int shutting_down;
/* Where fs_events_notify() sends a change for the other daemons. */
static void (*relay)(void *arg, const char *booking_id);
static void *relay_arg;

void fs_events_init(size_t max_total, size_t max_per_user)
{
    pthread_condattr_t attr;
    pthread_mutex_lock(&lock);
    if (!cond_ready) {
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&changed, &attr);
        pthread_condattr_destroy(&attr);
        cond_ready = 1;
    }
    max_streams = max_total;
    max_user = max_per_user;
    shutting_down = 0;
    pthread_mutex_unlock(&lock);
}

void fs_events_shutdown(void)
{
    pthread_mutex_lock(&lock);
    shutting_down = 1;
    if (cond_ready)
        pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static struct topic *topic_get(const char *booking_id)
{
    struct topic *t;
    HASH_FIND_STR(topics, booking_id, t);
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    strncpy(t->booking_id, booking_id, FS_ID_MAX);
    HASH_ADD_STR(topics, booking_id, t);
    return t;
}

static struct user_streams *user_get(const char *user_id)
{
    struct user_streams *u;
    HASH_FIND_STR(users, user_id, u);
    if (u)
        return u;
    u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    strncpy(u->user_id, user_id, FS_USER_MAX);
    HASH_ADD_STR(users, user_id, u);
    return u;
}

/* Drops entries nobody uses any more. Called with the lock held. */
static void release_entries(struct topic *t, struct user_streams *u)
{
    if (t && t->subscribers == 0) {
        HASH_DEL(topics, t);
        free(t);
    }
    if (u && u->open == 0) {
        HASH_DEL(users, u);
        free(u);
    }
}

struct fs_events_sub *fs_events_subscribe(const char *booking_id,
                                          const char *user_id)
{
    struct fs_events_sub *sub = NULL;
    struct topic *t = NULL;
    struct user_streams *u = NULL;

    if (strlen(booking_id) > FS_ID_MAX || strlen(user_id) > FS_USER_MAX)
        return NULL;
    pthread_mutex_lock(&lock);
    if (shutting_down || !cond_ready || open_streams >= max_streams)
        goto done;
    t = topic_get(booking_id);
    u = user_get(user_id);
    if (!t || !u || u->open >= max_user || !(sub = calloc(1, sizeof(*sub)))) {
        release_entries(t, u);
        goto done;
    }
    t->subscribers++;
    u->open++;
    open_streams++;
    sub->topic = t;
    sub->user = u;
    sub->seen = t->generation;
done:
    pthread_mutex_unlock(&lock);
    return sub;
}

void fs_events_unsubscribe(struct fs_events_sub *sub)
{
    if (!sub)
        return;
    pthread_mutex_lock(&lock);
    sub->topic->subscribers--;
    sub->user->open--;
    open_streams--;
    release_entries(sub->topic, sub->user);
    pthread_mutex_unlock(&lock);
    free(sub);
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int fs_events_wait(struct fs_events_sub *sub, int timeout_ms)
{
    struct timespec until;
    int rc = 0;

    deadline_after(&until, timeout_ms);
    pthread_mutex_lock(&lock);
    for (;;) {
        if (shutting_down) {
            rc = -1;
            break;
        }
        if (sub->topic->generation != sub->seen) {
            sub->seen = sub->topic->generation;
            rc = 1;
            break;
        }
        if (pthread_cond_timedwait(&changed, &lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void fs_events_wake(const char *booking_id)
{
    struct topic *t;

    pthread_mutex_lock(&lock);
    HASH_FIND_STR(topics, booking_id, t);
    if (t) {
        t->generation++;
        pthread_cond_broadcast(&changed);
    }
    pthread_mutex_unlock(&lock);
}

void fs_events_wake_all(void)
{
    struct topic *t, *tmp;

    pthread_mutex_lock(&lock);
    HASH_ITER(hh, topics, t, tmp)
        t->generation++;
    if (cond_ready)
        pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

void fs_events_set_relay(void (*fn)(void *arg, const char *booking_id),
                         void *arg)
{
    pthread_mutex_lock(&lock);
    relay = fn;
    relay_arg = arg;
    pthread_mutex_unlock(&lock);
}

void fs_events_notify(const char *booking_id)
{
    void (*fn)(void *, const char *);
    void *arg;

    fs_events_wake(booking_id);
    pthread_mutex_lock(&lock);
    fn = relay;
    arg = relay_arg;
    pthread_mutex_unlock(&lock);
    if (fn)
        fn(arg, booking_id);  /* outside the lock: it takes its own */
}

size_t fs_events_open_streams(void)
{
    size_t n;
    pthread_mutex_lock(&lock);
    n = open_streams;
    pthread_mutex_unlock(&lock);
    return n;
}
