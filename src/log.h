/*
 * log.h - the daemon's logger (stderr, one line per event, with level and UTC
 * timestamp) and its clocks. Also builds the host API handed to plugins.
 */
#ifndef FS_LOG_H
#define FS_LOG_H

#include <stdint.h>

#include "flashsaled/fs_plugin.h"

void fs_log_set_level(enum fs_log_level level);
/* -1 when `name` is no level. */
int fs_log_level_parse(const char *name);
void fs_log(enum fs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define fs_log_error(...) fs_log(FS_LOG_ERROR, __VA_ARGS__)
#define fs_log_warn(...) fs_log(FS_LOG_WARN, __VA_ARGS__)
#define fs_log_info(...) fs_log(FS_LOG_INFO, __VA_ARGS__)
#define fs_log_debug(...) fs_log(FS_LOG_DEBUG, __VA_ARGS__)

/* Wall clock in Unix milliseconds (booking times, hold expiry). */
int64_t fs_now_ms(void);
/* Monotonic clock in nanoseconds (latencies, timeouts). */
int64_t fs_mono_ns(void);

/* The host API every plugin receives. */
extern const struct fs_host fs_host_api;

#endif
