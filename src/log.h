/*
 * log.h - the daemon's logger (stderr, one line per event, with level and UTC
 * timestamp) and its clocks. Also builds the host API handed to plugins.
 *
 * Two formats (log.format): `text`, for a person at a terminal, and `json`,
 * one JSON object per line for a log shipper: {"time", "level", "message"},
 * plus "source" for a plugin's lines and "request_id" for every line written
 * while a thread serves an HTTP request (the id the answer's X-Request-Id
 * header carries), so an operator finds every line of one request.
 */
#ifndef FS_LOG_H
#define FS_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "flashsaled/fs_plugin.h"

enum fs_log_format { FS_LOG_TEXT, FS_LOG_JSON };

/* Longest request id a line carries (X-Request-Id, src/http/http_request_id.c). */
#define FS_REQUEST_ID_MAX 64

void fs_log_set_level(enum fs_log_level level);
/* -1 when `name` is no level. */
int fs_log_level_parse(const char *name);
void fs_log_set_format(enum fs_log_format format);
/* -1 when `name` is no format ("text", "json"). */
int fs_log_format_parse(const char *name);
/* Where lines go: stderr unless a test says otherwise (NULL: stderr). */
void fs_log_set_stream(FILE *stream);

void fs_log(enum fs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define fs_log_error(...) fs_log(FS_LOG_ERROR, __VA_ARGS__)
#define fs_log_warn(...) fs_log(FS_LOG_WARN, __VA_ARGS__)
#define fs_log_info(...) fs_log(FS_LOG_INFO, __VA_ARGS__)
#define fs_log_debug(...) fs_log(FS_LOG_DEBUG, __VA_ARGS__)

/* 1 when a line of `level` would be written: lets a caller skip building
 * what it would log. */
int fs_log_enabled(enum fs_log_level level);

/* The request the calling thread serves: every line it logs until
 * fs_log_request_end() carries this id (at most FS_REQUEST_ID_MAX bytes;
 * longer is cut). fs_log_request_id() is NULL outside a request. */
void fs_log_request_begin(const char *request_id);
void fs_log_request_end(void);
const char *fs_log_request_id(void);

/* The access line of one answered request, at debug level: "GET /path 202
 * 1.250 ms", and in JSON the same as fields method, path, status and
 * duration_ms beside the request id. */
void fs_log_access(const char *method, const char *path, int status,
                   double duration_ms);

/* Wall clock in Unix milliseconds (booking times, hold expiry). */
int64_t fs_now_ms(void);
/* Monotonic clock in nanoseconds (latencies, timeouts). */
int64_t fs_mono_ns(void);

/* The host API every plugin receives. */
extern const struct fs_host fs_host_api;

#endif
