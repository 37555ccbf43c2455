/*
 * change_feed.h - connects the inventory plugin's change feed (fs_plugin.h,
 * struct fs_change_ops) to this daemon: count changes go to the sale
 * replicas (sale_replica.h), booking changes announced by any daemon wake
 * this daemon's event streams (events.h), and this daemon's own booking
 * changes are announced to the others.
 *
 * One thread announces this daemon's changes (many per round trip: a
 * notify never waits for the backend) and resyncs every sale's counts:
 * every worker.resync_interval_ms, which repairs a missed message, and at once
 * after the feed (re)subscribed, then with every sale's holders too (users
 * who took an item: they are answered by the inventory, not sold_out). The
 * replicas are trusted only from the end of that sync with holders after
 * each (re)subscription; after one, every event stream re-reads its
 * booking, so no change made meanwhile goes unseen.
 */
#ifndef FS_CHANGE_FEED_H
#define FS_CHANGE_FEED_H

#include "service.h"

/* Changes waiting to be announced; past it a change is announced to this
 * daemon's streams only, and the other daemons' streams learn it when the
 * feed comes back (a warning says so). */
#define FS_FEED_OUTBOX_MAX 65536

struct fs_change_feed;

/* NULL when the inventory plugin has no change feed (then nothing changes:
 * counts are read per request and streams see this daemon's changes only),
 * or when the feed cannot start (logged). */
struct fs_change_feed *fs_change_feed_start(struct fs_service *svc);
/* After every notifier (HTTP, worker, sweeper) stopped, before the
 * backends close. NULL is fine. */
void fs_change_feed_stop(struct fs_change_feed *f);

#endif
