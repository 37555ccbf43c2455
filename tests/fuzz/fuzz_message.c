/*
 * fuzz_message.c - the queue message codec (message.c) on arbitrary bytes:
 * the worker decodes whatever the queue hands it, and with a shared broker
 * that is not only what this daemon wrote.
 *
 * A message that decodes must hold valid ids and a hold in 1..86400 s, must
 * encode within FS_MESSAGE_MAX, and must decode again to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz_check.h"
#include "ids.h"
#include "message.h"

static void check_fields(const struct fs_message *m)
{
    FUZZ_CHECK(fs_id_valid(m->booking_id));
    FUZZ_CHECK(fs_id_valid(m->sale_id));
    FUZZ_CHECK(fs_user_id_valid(m->user_id));
    FUZZ_CHECK(m->hold_seconds >= 1 && m->hold_seconds <= 86400);
    FUZZ_CHECK(strlen(m->origin) <= FS_INSTANCE_ID_LEN);
}

static void check_same(const struct fs_message *a, const struct fs_message *b)
{
    FUZZ_CHECK(strcmp(a->booking_id, b->booking_id) == 0);
    FUZZ_CHECK(strcmp(a->sale_id, b->sale_id) == 0);
    FUZZ_CHECK(strcmp(a->user_id, b->user_id) == 0);
    FUZZ_CHECK(strcmp(a->origin, b->origin) == 0);
    FUZZ_CHECK(a->hold_seconds == b->hold_seconds);
    FUZZ_CHECK(a->created_ms == b->created_ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fs_message m, again;
    char out[FS_MESSAGE_MAX];
    /* An exact-size copy: a read past the end is an ASan report. */
    char *body = malloc(size ? size : 1);
    size_t n;

    if (!body)
        return 0;
    memcpy(body, data, size);
    if (fs_message_decode(body, size, &m) != 0)
        goto done;
    check_fields(&m);
    n = fs_message_encode(&m, out, sizeof(out));
    FUZZ_CHECK(n > 0 && n <= sizeof(out));
    /* One byte short must be refused, not truncated. */
    FUZZ_CHECK(fs_message_encode(&m, out, n - 1) == 0);
    n = fs_message_encode(&m, out, sizeof(out));
    FUZZ_CHECK(fs_message_decode(out, n, &again) == 0);
    check_same(&m, &again);
done:
    free(body);
    return 0;
}
