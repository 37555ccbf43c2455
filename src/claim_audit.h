/*
 * claim_audit.h - accepted requests whose queued message the broker lost.
 *
 * With claims and a queue outside the process, a 202 rests on a durable
 * claim in the inventory and on the request's message, which the queue
 * confirmed. A broker can still lose a message it confirmed: RabbitMQ 3.10
 * loses a durable classic queue declared a moment before its node is
 * SIGKILLed, with everything in it (measured: 1 round in 12, the queue gone
 * after the restart); an operator can purge or delete a queue. The claim
 * then stays queued for good and its user never gets a hold.
 *
 * The audit finds such claims. A durable claim's message was confirmed
 * before the claim became durable, so while it exists it is in the queue,
 * or with a worker until that worker has made the claim a hold. When the
 * queue is empty (nothing waiting, nothing with this daemon's worker) at
 * two audits in a row, a durable claim listed at both has no message left
 * anywhere, and its message is published again. A copy that was not lost
 * after all costs nothing: the worker's claim_to_hold is idempotent and a
 * booking's first record is written once. Another daemon's worker may be
 * busy with a message the audit then copies; the copy is such a duplicate.
 */
#ifndef FS_CLAIM_AUDIT_H
#define FS_CLAIM_AUDIT_H

#include <stdint.h>

#include "service.h"

struct fs_audit_seen;

struct fs_claim_audit {
    int64_t next_ms;              /* when the next audit is due */
    struct fs_audit_seen *seen;   /* durable claims at the last audit */
    int armed;                    /* the last audit found the queue empty */
};

void fs_claim_audit_init(struct fs_claim_audit *a);
void fs_claim_audit_free(struct fs_claim_audit *a);

/* Called by the sweeper: audits when worker.claim_audit_interval_ms has
 * passed since the last audit; returns the number of messages published
 * again. Does nothing without claims and an outside queue, or when the
 * inventory plugin cannot list durable claims. */
size_t fs_claim_audit_tick(struct fs_claim_audit *a, struct fs_service *svc,
                           int64_t now_ms);

#endif
