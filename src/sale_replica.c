/* sale_replica.c - see sale_replica.h. */
#include <sched.h>

#include "sale_replica.h"

void fs_sale_replica_init(struct fs_sale_replica *r)
{
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
