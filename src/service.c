/*
 * service.c - the booking service's shared state: its config, backends,
 * sales and identity, and publishing a booking's message. Below booking.c
 * (the accept path and state changes) and recovery.c (rebuilds, re-queues),
 * which both use it, so neither includes the other's header to reach it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "service.h"

int fs_service_init(struct fs_service *svc, const struct fs_config *cfg,
                    struct fs_backends *be)
{
    unsigned char rnd[FS_INSTANCE_ID_LEN / 2];

    memset(svc, 0, sizeof(*svc));
    svc->cfg = cfg;
    svc->be = be;
    if (fs_sales_init(&svc->sales, cfg) != 0)
        return -1;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -1;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(svc->instance_id + 2 * i, 3, "%02x", rnd[i]);
    atomic_init(&svc->accepting, 1);
    atomic_init(&svc->rebuilds, 0);
    svc->durable_queue = be->queue.plugin &&
                         (be->queue.plugin->flags & FS_QUEUE_DURABLE) != 0;
    svc->shared_queue = svc->durable_queue &&
                        (be->queue.plugin->flags & FS_QUEUE_LOCAL) == 0;
    svc->claims = fs_inventory_has_claims(be);
    svc->records_by_worker = svc->durable_queue && svc->claims &&
                             fs_storage_has_batch(be);
    pthread_mutex_init(&svc->doubtful_lock, NULL);
    svc->doubtful = calloc(FS_DOUBTFUL_MAX, sizeof(*svc->doubtful));
    svc->settling = calloc(FS_DOUBTFUL_MAX, sizeof(*svc->settling));
    return svc->doubtful && svc->settling ? 0 : -1;
}

void fs_service_free(struct fs_service *svc)
{
    fs_sales_free(&svc->sales);
    pthread_mutex_destroy(&svc->doubtful_lock);
    free(svc->doubtful);
    free(svc->settling);
    svc->doubtful = NULL;
    svc->settling = NULL;
}

struct fs_sale *fs_service_sale(struct fs_service *svc, const char *sale_id)
{
    return fs_sales_find(&svc->sales, sale_id);
}

static enum fs_status publish_from(struct fs_service *svc,
                                   const struct fs_booking *b,
                                   const char *origin)
{
    struct fs_message m;
    char body[FS_MESSAGE_MAX];
    size_t len;

    memset(&m, 0, sizeof(m));
    memcpy(m.booking_id, b->booking_id, sizeof(m.booking_id));
    memcpy(m.sale_id, b->sale_id, sizeof(m.sale_id));
    memcpy(m.user_id, b->user_id, sizeof(m.user_id));
    snprintf(m.origin, sizeof(m.origin), "%s", origin);
    m.hold_seconds = b->hold_seconds;
    m.created_ms = b->created_ms;
    len = fs_message_encode(&m, body, sizeof(body));
    if (len == 0)
        return FS_ERROR;
    return fs_queue_publish(svc->be, body, len);
}

enum fs_status fs_service_publish(struct fs_service *svc,
                                  const struct fs_booking *b)
{
    return publish_from(svc, b, svc->instance_id);
}

/* No daemon's origin: no worker counts it against its own pending. */
enum fs_status fs_service_republish(struct fs_service *svc,
                                    const struct fs_booking *b)
{
    return publish_from(svc, b, "audit");
}

enum fs_status fs_service_queue_depth(struct fs_service *svc, uint64_t *out)
{
    return fs_queue_depth(svc->be, out);
}

enum fs_status fs_service_user_booking(struct fs_service *svc, const char *sale,
                                       const char *user,
                                       char id[FS_ID_MAX + 1])
{
    return fs_inventory_find_user(svc->be, sale, user, id);
}
