/*
 * recovery.h - puts the backends back in step with storage, the truth:
 * rebuilds a sale's inventory state when the backend has none (first start,
 * memory inventory after a restart, Redis without its data), and re-publishes
 * bookings still queued in storage after a restart, so that no accepted
 * request is lost.
 */
#ifndef FS_RECOVERY_H
#define FS_RECOVERY_H

#include "service.h"

/* FS_OK once the inventory backend has the sale's state. */
enum fs_status fs_recovery_ensure_sale(struct fs_service *svc,
                                       struct fs_sale *sale);

/* A hold storage records but the inventory lost (it was reserved in an
 * inventory that then lost its state, and recorded after the rebuild): takes
 * the item again, or, when it is gone, records the hold as expired so that
 * storage and stock agree again. FS_OK when the hold stands. */
enum fs_status fs_recovery_restore_hold(struct fs_service *svc,
                                        const char *sale_id, const char *user_id,
                                        const char *booking_id,
                                        int64_t expires_ms);

/* Re-publishes every booking stored as queued, oldest first. Processing is
 * idempotent by booking id, so a message that also survived in a durable
 * queue does no harm. *count receives how many were published. */
enum fs_status fs_recovery_requeue(struct fs_service *svc, size_t *count);

#endif
