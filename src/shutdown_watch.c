/* shutdown_watch.c - names the slow part of a shutdown (shutdown_watch.h). */
#include <string.h>
#include <time.h>

#include "log.h"
#include "shutdown_watch.h"

static int64_t mono_ms(void)
{
    return fs_mono_ns() / 1000000;
}

static struct timespec mono_deadline(int64_t at_ms)
{
    struct timespec ts = {(time_t)(at_ms / 1000), (long)(at_ms % 1000) * 1000000L};
    return ts;
}

static void *watch_main(void *arg)
{
    struct fs_shutdown_watch *w = arg;
    const char *seen = NULL;
    int64_t warned_at = 0;

    pthread_mutex_lock(&w->lock);
    while (w->part) {
        int64_t now = mono_ms();
        int64_t next = (seen == w->part ? warned_at : w->since_ms) +
                       FS_SHUTDOWN_WARN_MS;
        if (now >= next) {
            fs_log_warn("shutdown: still %s after %lld s", w->part,
                        (long long)((now - w->since_ms) / 1000));
            seen = w->part;
            warned_at = now;
            continue;
        }
        struct timespec until = mono_deadline(next);
        pthread_cond_timedwait(&w->changed, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void fs_shutdown_watch_start(struct fs_shutdown_watch *w, const char *part)
{
    pthread_condattr_t attr;

    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->changed, &attr);
    pthread_condattr_destroy(&attr);
    w->part = part;
    w->since_ms = mono_ms();
    w->started = pthread_create(&w->thread, NULL, watch_main, w) == 0;
}

/* At debug level, each part's length: where a slow stop's time goes. */
static void set_part(struct fs_shutdown_watch *w, const char *part)
{
    pthread_mutex_lock(&w->lock);
    fs_log_debug("shutdown: %s took %lld ms", w->part,
                 (long long)(mono_ms() - w->since_ms));
    w->part = part;
    w->since_ms = mono_ms();
    pthread_cond_signal(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

void fs_shutdown_watch_part(struct fs_shutdown_watch *w, const char *part)
{
    set_part(w, part);
}

void fs_shutdown_watch_end(struct fs_shutdown_watch *w)
{
    set_part(w, NULL);
    if (w->started)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
}
