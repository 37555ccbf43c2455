/* message.c - queue message codec (jansson). */
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "ids.h"
#include "message.h"

size_t fs_message_encode(const struct fs_message *m, char *out, size_t cap)
{
    size_t n;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "b", m->booking_id,
                          "s", m->sale_id, "u", m->user_id, "h",
                          (json_int_t)m->hold_seconds, "t",
                          (json_int_t)m->created_ms, "o", m->origin);
    if (!o)
        return 0;
    n = json_dumpb(o, out, cap, JSON_COMPACT);
    json_decref(o);
    return n <= cap ? n : 0;
}

static int copy_field(json_t *o, const char *key, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));
    size_t len;
    if (!v)
        return -1;
    len = strlen(v);
    if (len >= cap)
        return -1;
    memcpy(dst, v, len + 1);
    return 0;
}

int fs_message_decode(const char *body, size_t len, struct fs_message *m)
{
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *h, *t;
    int rc = -1;

    memset(m, 0, sizeof(*m));
    if (!json_is_object(o))
        goto done;
    if (copy_field(o, "b", m->booking_id, sizeof(m->booking_id)) ||
        copy_field(o, "s", m->sale_id, sizeof(m->sale_id)) ||
        copy_field(o, "u", m->user_id, sizeof(m->user_id)) ||
        copy_field(o, "o", m->origin, sizeof(m->origin)))
        goto done;
    h = json_object_get(o, "h");
    t = json_object_get(o, "t");
    if (!json_is_integer(h) || !json_is_integer(t) ||
        json_integer_value(h) <= 0 || json_integer_value(h) > 86400)
        goto done;
    m->hold_seconds = (uint32_t)json_integer_value(h);
    m->created_ms = json_integer_value(t);
    if (fs_id_valid(m->booking_id) && fs_id_valid(m->sale_id) &&
        fs_user_id_valid(m->user_id))
        rc = 0;
done:
    json_decref(o);
    return rc;
}
