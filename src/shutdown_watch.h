/*
 * shutdown_watch.h - says which part of an orderly shutdown is slow. While
 * one part (HTTP requests in flight, the worker's batch, a backend's close)
 * takes longer than FS_SHUTDOWN_WARN_MS, a line names it every
 * FS_SHUTDOWN_WARN_MS, so an operator whose daemon does not stop knows what
 * it waits for. Nothing is lost if they then SIGKILL it (DESIGN.md).
 */
#ifndef FS_SHUTDOWN_WATCH_H
#define FS_SHUTDOWN_WATCH_H

#include <pthread.h>
#include <stdint.h>

#define FS_SHUTDOWN_WARN_MS 5000

struct fs_shutdown_watch {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
    const char *part;      /* what shutdown waits for now; NULL when done */
    int64_t since_ms;      /* monotonic, when that part began */
    int started;
};

/* Starts watching; `part` is the first part shutdown waits for. A watch
 * that cannot start (no thread) only stays silent. */
void fs_shutdown_watch_start(struct fs_shutdown_watch *w, const char *part);
/* Shutdown moved on to `part` (a string literal). */
void fs_shutdown_watch_part(struct fs_shutdown_watch *w, const char *part);
/* Shutdown is over: stops and frees the watch. */
void fs_shutdown_watch_end(struct fs_shutdown_watch *w);

#endif
