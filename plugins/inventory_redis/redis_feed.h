/*
 * redis_feed.h - the plugin's change feed (fs_plugin.h, struct
 * fs_change_ops): a thread that holds one dedicated connection SUBSCRIBEd to
 * the shared channel "<prefix>:changes" and to this process's own
 * "<prefix>:sync:<random>", and turns each message into a hook call.
 *
 * Messages (text, space separated; ids never hold a space, user ids may):
 *   c <sale> <inventory> <available> <held> <booked>   counts after a change
 *   u <sale>                                           sync: no state
 *   b <booking>                                        a booking changed
 *   a <sale> <user>                                    the user took an item
 *                                                      (last: it may hold
 *                                                      spaces)
 *   s <0|1>                                            sync complete, with
 *                                                      holders or not
 * The scripts publish "c" themselves (changes_head.lua / changes_tail.lua),
 * so a count change and its message are one atomic step, and claim.lua,
 * reserve.lua and rebuild.lua publish "a"; sync.lua publishes "a", "c", "u"
 * and "s" on the process's own channel; announce() publishes "b".
 */
#ifndef FS_INVENTORY_REDIS_FEED_H
#define FS_INVENTORY_REDIS_FEED_H

#include "flashsaled/fs_plugin.h"
#include "redis_pool.h"

struct redis_feed;

/* Starts the subscriber thread; it connects (and reconnects, with the
 * pool's backoff cap) on its own. NULL when out of memory or threads. */
struct redis_feed *redis_feed_start(struct redis_pool *pool,
                                    const struct fs_host *host,
                                    const char *prefix, int reconnect_max_ms,
                                    const struct fs_change_hooks *hooks);
/* Stops the thread (within one poll interval) and frees the feed. */
void redis_feed_stop(struct redis_feed *f);

/* This process's sync channel, for sync.lua. */
const char *redis_feed_sync_channel(const struct redis_feed *f);

#endif
