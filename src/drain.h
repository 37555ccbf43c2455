/*
 * drain.h - draining a sale after its inventory state was rebuilt, when the
 * worker writes the records (storage off the accept path, issue 14 item 3).
 *
 * Then a 202 rests on its claim and its queued message alone: a claim lost
 * with the inventory's data is in no record, so a rebuild from storage
 * cannot count it. Until the messages queued before the rebuild are
 * processed, the sale accepts nothing (503 + Retry-After) and the worker
 * takes an item for each such message whose claim is gone, so that neither
 * a new request nor an old 202 takes the other's item. A marker published
 * at the rebuild, behind those messages, tells the worker when they are
 * through.
 */
#ifndef FS_DRAIN_H
#define FS_DRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

/* The sale's state was rebuilt (by this daemon or another): start draining
 * and publish the marker (the sweeper publishes it again if this fails). */
void fs_drain_begin(struct fs_service *svc, struct fs_sale *sale);
/* 1 while the sale drains. */
int fs_drain_active(const struct fs_sale *sale);
/* Publishes the marker of every draining sale whose marker is not out, or
 * went out more than a few seconds ago and has not come back (lost with a
 * broker's restart, or handed to another daemon too often): a new one is
 * behind the old messages too. Called by the sweeper. */
void fs_drain_tick(struct fs_service *svc, int64_t now_ms);
/* Waits up to bound_ms for every sale to end draining (at start, before
 * the first request). 0 when none drains any more. */
int fs_drain_wait(struct fs_service *svc, int64_t bound_ms);

/* The worker's side. A drain marker as it travels in the queue. */
struct fs_drain_marker {
    char sale_id[FS_ID_MAX + 1];
    char origin[FS_INSTANCE_ID_LEN + 1];
    uint64_t token;
    unsigned hops;  /* how often another daemon's worker passed it on */
};
/* 0 when body is a drain marker, filled into m. */
int fs_drain_decode(const char *body, size_t len, struct fs_drain_marker *m);
/* Called once every message ahead of the marker in the batch is recorded:
 * ends this daemon's draining of the sale, or passes another daemon's
 * marker on (a shared queue hands messages to every daemon's worker). */
void fs_drain_marker_done(struct fs_service *svc,
                          const struct fs_drain_marker *m);

#endif
