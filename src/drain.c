/* drain.c - a sale's draining after a rebuild of its inventory state (see
 * drain.h for why). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "drain.h"
#include "log.h"

/* A marker not back after this long is published again; a later marker is
 * behind the old messages as well, so this only shortens a lost one's wait. */
#define DRAIN_RESEND_MS 5000
/* Another daemon's marker is passed on at most this often: its daemon may
 * have died, and then its draining died with it. */
#define DRAIN_MAX_HOPS 16

static size_t marker_encode(const struct fs_drain_marker *m, char *out,
                            size_t cap)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:i}", "drain",
                          (json_int_t)m->token, "s", m->sale_id, "o",
                          m->origin, "n", (int)m->hops);
    size_t n;

    if (!o)
        return 0;
    n = json_dumpb(o, out, cap, JSON_COMPACT);
    json_decref(o);
    return n <= cap ? n : 0;
}

static enum fs_status marker_publish(struct fs_service *svc,
                                     const struct fs_drain_marker *m)
{
    char body[FS_MESSAGE_MAX];
    size_t len = marker_encode(m, body, sizeof(body));

    return len ? fs_queue_publish(svc->be, body, len) : FS_ERROR;
}

static void drain_send(struct fs_service *svc, struct fs_sale *sale)
{
    struct fs_drain_marker m = {.token = atomic_load(&sale->drain_token)};

    snprintf(m.sale_id, sizeof(m.sale_id), "%s", sale->id);
    memcpy(m.origin, svc->instance_id, sizeof(m.origin));
    if (marker_publish(svc, &m) == FS_OK)
        atomic_store(&sale->drain_sent_ms, fs_now_ms());
    else
        fs_log_warn("sale %s: drain marker not published yet; the sweeper "
                    "tries again", sale->id);
}

void fs_drain_begin(struct fs_service *svc, struct fs_sale *sale)
{
    atomic_fetch_add(&sale->drain_token, 1);
    atomic_store(&sale->drain_sent_ms, 0);
    atomic_store(&sale->draining, 1);
    fs_log_warn("sale %s: inventory state rebuilt from storage; accepting "
                "nothing (503) until the requests queued before it are "
                "processed", sale->id);
    drain_send(svc, sale);
}

int fs_drain_active(const struct fs_sale *sale)
{
    return atomic_load(&sale->draining) != 0;
}

void fs_drain_tick(struct fs_service *svc, int64_t now_ms)
{
    for (size_t s = 0; s < fs_sales_count(&svc->sales); s++) {
        struct fs_sale *sale = fs_sales_at(&svc->sales, s);
        int64_t sent = atomic_load(&sale->drain_sent_ms);

        if (fs_drain_active(sale) && (sent == 0 || now_ms - sent >= DRAIN_RESEND_MS))
            drain_send(svc, sale);
    }
}

static int all_drained(struct fs_service *svc)
{
    for (size_t s = 0; s < fs_sales_count(&svc->sales); s++)
        if (fs_drain_active(fs_sales_at(&svc->sales, s)))
            return 0;
    return 1;
}

int fs_drain_wait(struct fs_service *svc, int64_t bound_ms)
{
    int64_t until = fs_mono_ns() / 1000000 + bound_ms;
    struct timespec step = {0, 5 * 1000000L};

    while (!all_drained(svc) && fs_mono_ns() / 1000000 < until)
        nanosleep(&step, NULL);
    return all_drained(svc) ? 0 : -1;
}

static int copy_text(json_t *o, const char *key, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));

    if (!v || strlen(v) >= cap)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int fs_drain_decode(const char *body, size_t len, struct fs_drain_marker *m)
{
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *token = json_object_get(o, "drain");
    json_t *hops = json_object_get(o, "n");
    int rc = -1;

    memset(m, 0, sizeof(*m));
    if (json_is_integer(token) && json_is_integer(hops) &&
        json_integer_value(hops) >= 0 &&
        copy_text(o, "s", m->sale_id, sizeof(m->sale_id)) == 0 &&
        copy_text(o, "o", m->origin, sizeof(m->origin)) == 0) {
        m->token = (uint64_t)json_integer_value(token);
        m->hops = (unsigned)json_integer_value(hops);
        rc = 0;
    }
    json_decref(o);
    return rc;
}

void fs_drain_marker_done(struct fs_service *svc,
                          const struct fs_drain_marker *m)
{
    struct fs_sale *sale = fs_service_sale(svc, m->sale_id);
    struct fs_drain_marker next = *m;

    if (strcmp(m->origin, svc->instance_id) != 0) {
        next.hops++;
        if (next.hops <= DRAIN_MAX_HOPS)
            marker_publish(svc, &next);
        return;
    }
    /* An older marker (a rebuild since, or a re-sent one) ends nothing. */
    if (!sale || m->token != atomic_load(&sale->drain_token))
        return;
    if (atomic_exchange(&sale->draining, 0))
        fs_log_info("sale %s: the requests queued before the rebuild are "
                    "processed: accepting again", sale->id);
}
