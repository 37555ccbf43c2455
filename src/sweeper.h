/*
 * sweeper.h - the hold-expiry loop. Every sweep interval it asks the
 * inventory to release due holds (each exactly once) and records them as
 * expired. Every few seconds it also reconciles holds that storage still
 * shows past their expiry with what the inventory says (a crash between the
 * inventory's change and storage's leaves such a hold), and refreshes the
 * queue depth gauge, and audits the durable claims against an empty queue
 * (claim_audit.h).
 */
#ifndef FS_SWEEPER_H
#define FS_SWEEPER_H

#include <pthread.h>
#include <stdatomic.h>

#include "booking.h"
#include "claim_audit.h"

struct fs_sweeper {
    struct fs_service *svc;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int running;
    int started;
    int64_t last_reconcile_ms;
    struct fs_claim_audit audit;
};

int fs_sweeper_start(struct fs_sweeper *s, struct fs_service *svc);
void fs_sweeper_stop(struct fs_sweeper *s);

/* One sweep of every sale at now_ms; returns holds expired. For tests. */
size_t fs_sweeper_sweep(struct fs_service *svc, int64_t now_ms);
/* Fixes storage holds whose expiry passed more than grace_ms ago. */
size_t fs_sweeper_reconcile(struct fs_service *svc, int64_t now_ms,
                            int64_t grace_ms);

#endif
