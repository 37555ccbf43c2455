/* states.c - booking state names and the transition table. */
#include <string.h>

#include "states.h"

static const char *const state_names[] = {
    [FS_STATE_NONE] = "none",       [FS_STATE_QUEUED] = "queued",
    [FS_STATE_HOLD] = "hold",       [FS_STATE_BOOKED] = "booked",
    [FS_STATE_DELETED] = "deleted", [FS_STATE_EXPIRED] = "expired",
    [FS_STATE_REJECTED] = "rejected",
};

const char *fs_state_name(enum fs_booking_state state)
{
    if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
        return "none";
    return state_names[state];
}

enum fs_booking_state fs_state_parse(const char *name)
{
    for (size_t i = 1; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(name, state_names[i]) == 0)
            return (enum fs_booking_state)i;
    return FS_STATE_NONE;
}

int fs_state_is_final(enum fs_booking_state state)
{
    return state == FS_STATE_BOOKED || state == FS_STATE_DELETED ||
           state == FS_STATE_EXPIRED || state == FS_STATE_REJECTED;
}

int fs_state_is_active(enum fs_booking_state state)
{
    return state == FS_STATE_QUEUED || state == FS_STATE_HOLD ||
           state == FS_STATE_BOOKED;
}

int fs_state_transition_allowed(enum fs_booking_state from,
                                enum fs_booking_state to)
{
    switch (from) {
    case FS_STATE_QUEUED:
        return to == FS_STATE_HOLD || to == FS_STATE_REJECTED ||
               to == FS_STATE_DELETED;
    case FS_STATE_HOLD:
        return to == FS_STATE_BOOKED || to == FS_STATE_DELETED ||
               to == FS_STATE_EXPIRED;
    default:
        return 0;
    }
}

const char *fs_status_name(enum fs_status status)
{
    switch (status) {
    case FS_OK: return "ok";
    case FS_NOT_FOUND: return "not_found";
    case FS_SOLD_OUT: return "sold_out";
    case FS_DUPLICATE: return "duplicate";
    case FS_CONFLICT: return "conflict";
    case FS_EXPIRED: return "expired";
    case FS_UNAVAILABLE: return "unavailable";
    case FS_TIMEOUT: return "timeout";
    case FS_INVALID: return "invalid";
    case FS_ERROR: return "error";
    case FS_CLOSED: return "closed";
    case FS_QUEUE_FULL: return "queue_full";
    }
    return "error";
}
