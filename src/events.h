/*
 * events.h - who is waiting for which booking to change.
 *
 * Server-sent event streams wait here for their booking; the worker, the
 * sweeper and the booking service notify it after each state change they
 * store, and the change feed (change_feed.c) relays those changes to the
 * other daemons and theirs back here. A notify wakes only that booking's streams, and never blocks on a
 * client: a stream does its own (possibly slow) writing on its own thread.
 * Streams are bounded in total and per user, since each holds an HTTP thread.
 */
#ifndef FS_EVENTS_H
#define FS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

struct fs_events_sub;

/* Sets the bounds; call once before the HTTP server starts. */
void fs_events_init(size_t max_streams, size_t max_per_user);
/* Wakes every stream for good (shutdown). */
void fs_events_shutdown(void);

/* NULL when a bound is reached (answer 503) or out of memory. */
struct fs_events_sub *fs_events_subscribe(const char *booking_id,
                                          const char *user_id);
void fs_events_unsubscribe(struct fs_events_sub *sub);

/* 1: notified since the last wait (or since subscribing); 0: timed out;
 * -1: shutting down. */
int fs_events_wait(struct fs_events_sub *sub, int timeout_ms);

/* A change this process stored: wakes the booking's streams here and hands
 * it to the relay, if one is set, for the other daemons. */
void fs_events_notify(const char *booking_id);
/* A change some daemon announced (the relay's way back): wakes the
 * booking's streams here only. */
void fs_events_wake(const char *booking_id);
/* Wakes every stream, so each re-reads its booking: after the change feed
 * was away and may have missed changes. */
void fs_events_wake_all(void);
/* Sets (or, with NULL, clears) the relay. The relay is called from the
 * notifying thread and must not block on a backend. */
void fs_events_set_relay(void (*fn)(void *arg, const char *booking_id),
                         void *arg);

/* Streams open now (for metrics and tests). */
size_t fs_events_open_streams(void);

#endif
