/*
 * message.h - the queue message that carries an accepted booking from the
 * accept path to the worker: JSON, at most FS_MESSAGE_MAX bytes.
 */
#ifndef FS_MESSAGE_H
#define FS_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

#define FS_INSTANCE_ID_LEN 16

struct fs_message {
    char booking_id[FS_ID_MAX + 1];
    char sale_id[FS_ID_MAX + 1];
    char user_id[FS_USER_MAX + 1];
    uint32_t hold_seconds;
    int64_t created_ms;
    /* The daemon that accepted it, so only that one counts it as pending. */
    char origin[FS_INSTANCE_ID_LEN + 1];
};

/* Returns the length written into out, or 0 if it does not fit. */
size_t fs_message_encode(const struct fs_message *m, char *out, size_t cap);
/* 0 on success, -1 if the body is not a valid message. */
int fs_message_decode(const char *body, size_t len, struct fs_message *m);

#endif
