/*
 * states.h - booking state and status names, and the legal transitions of
 * DESIGN.md section 2: queued -> hold -> booked | deleted | expired, and
 * queued -> rejected | deleted.
 */
#ifndef FS_STATES_H
#define FS_STATES_H

#include "flashsaled/fs_plugin.h"

/* "queued", "hold", ... ; "none" for FS_STATE_NONE. */
const char *fs_state_name(enum fs_booking_state state);
/* FS_STATE_NONE when `name` is no state. */
enum fs_booking_state fs_state_parse(const char *name);
/* booked, deleted, expired and rejected are final. */
int fs_state_is_final(enum fs_booking_state state);
/* queued, hold and booked count against the one-per-user rule. */
int fs_state_is_active(enum fs_booking_state state);
int fs_state_transition_allowed(enum fs_booking_state from,
                                enum fs_booking_state to);
/* "ok", "not_found", ... for logs. */
const char *fs_status_name(enum fs_status status);

#endif
