/* sale_replica.c - see sale_replica.h. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "sale_replica.h"

struct fs_replica_holder {
    UT_hash_handle hh;
    char user_id[];  /* the key */
};

void fs_sale_replica_init(struct fs_sale_replica *r)
{
    pthread_rwlock_init(&r->holders_lock, NULL);
    r->holders = NULL;
    atomic_init(&r->version, 0);
    atomic_init(&r->inventory, 0);
    atomic_init(&r->available, 0);
    atomic_init(&r->held, 0);
    atomic_init(&r->booked, 0);
    atomic_init(&r->known, 0);
}

void fs_sale_replica_store(struct fs_sale_replica *r,
                           const struct fs_sale_counts *c)
{
    atomic_fetch_add(&r->version, 1);  /* odd: readers retry */
    atomic_store(&r->inventory, c->inventory);
    atomic_store(&r->available, c->available);
    atomic_store(&r->held, c->held);
    atomic_store(&r->booked, c->booked);
    atomic_store(&r->known, 1);
    atomic_fetch_add(&r->version, 1);
}

void fs_sale_replica_forget(struct fs_sale_replica *r)
{
    atomic_store(&r->known, 0);
}

void fs_sale_replica_free(struct fs_sale_replica *r)
{
    struct fs_replica_holder *h, *tmp;

    HASH_ITER(hh, r->holders, h, tmp) {
        HASH_DEL(r->holders, h);
        free(h);
    }
    pthread_rwlock_destroy(&r->holders_lock);
}

int fs_sale_replica_add_holder(struct fs_sale_replica *r, const char *user_id)
{
    size_t len = strnlen(user_id, FS_USER_MAX);
    struct fs_replica_holder *h;
    int rc = 0;

    pthread_rwlock_wrlock(&r->holders_lock);
    HASH_FIND(hh, r->holders, user_id, len, h);
    if (!h) {
        h = malloc(sizeof(*h) + len + 1);
        if (h) {
            memcpy(h->user_id, user_id, len);
            h->user_id[len] = '\0';
            HASH_ADD_KEYPTR(hh, r->holders, h->user_id, len, h);
        } else {
            rc = -1;
        }
    }
    pthread_rwlock_unlock(&r->holders_lock);
    return rc;
}

int fs_sale_replica_may_hold(struct fs_sale_replica *r, const char *user_id)
{
    struct fs_replica_holder *h;

    pthread_rwlock_rdlock(&r->holders_lock);
    HASH_FIND(hh, r->holders, user_id, strnlen(user_id, FS_USER_MAX), h);
    pthread_rwlock_unlock(&r->holders_lock);
    return h != NULL;
}

int fs_sale_replica_read(struct fs_sale_replica *r, struct fs_sale_counts *out)
{
    unsigned before, after;

    /* Sequentially consistent atomics: the loads cannot move across the
     * version reads, so equal even versions mean one writer's whole set. */
    for (;;) {
        before = atomic_load(&r->version);
        if (before & 1u) {
            sched_yield();
            continue;
        }
        out->inventory = atomic_load(&r->inventory);
        out->available = atomic_load(&r->available);
        out->held = atomic_load(&r->held);
        out->booked = atomic_load(&r->booked);
        after = atomic_load(&r->version);
        if (before == after)
            return atomic_load(&r->known);
    }
}
