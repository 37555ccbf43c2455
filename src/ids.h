/*
 * ids.h - sale and booking ids: validation (1..64 of [A-Za-z0-9._-]) and
 * generation of booking ids.
 */
#ifndef FS_IDS_H
#define FS_IDS_H

#include <stddef.h>

#include "flashsaled/fs_plugin.h"

/* 1 if s[0..len) is a valid id. */
int fs_id_valid_n(const char *s, size_t len);
int fs_id_valid(const char *s);

/* A new booking id, 26 characters like a ULID: 10 base32 digits of the
 * millisecond clock (so ids sort by acceptance and index well), then 16 of
 * randomness from getrandom() (so they cannot be guessed). Returns 0, or -1 if no randomness. */
int fs_id_generate(char out[FS_ID_MAX + 1]);

#endif
