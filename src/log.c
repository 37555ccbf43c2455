/* log.c - stderr logger (text or JSON lines), the request id of the calling
 * thread, clocks and the plugin host API. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"

#define LOG_LINE_MAX 2048

static atomic_int log_threshold = FS_LOG_INFO;
static atomic_int log_format = FS_LOG_TEXT;
static FILE *_Atomic log_stream;
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"text", "json"};

/* The request this thread serves; "" outside one. A civetweb worker thread
 * serves one connection, and so one request, at a time. */
static _Thread_local char request_id[FS_REQUEST_ID_MAX + 1];

void fs_log_set_level(enum fs_log_level level)
{
    atomic_store(&log_threshold, (int)level);
}

int fs_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void fs_log_set_format(enum fs_log_format format)
{
    atomic_store(&log_format, (int)format);
}

int fs_log_format_parse(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(name, format_names[i]) == 0)
            return i;
    return -1;
}

void fs_log_set_stream(FILE *stream)
{
    atomic_store(&log_stream, stream);
}

int fs_log_enabled(enum fs_log_level level)
{
    return (int)level <= atomic_load(&log_threshold);
}

void fs_log_request_begin(const char *id)
{
    snprintf(request_id, sizeof(request_id), "%s", id ? id : "");
}

void fs_log_request_end(void)
{
    request_id[0] = '\0';
}

const char *fs_log_request_id(void)
{
    return request_id[0] ? request_id : NULL;
}

/* One write per line: stdio locks the stream, so lines never interleave. */
static void emit(const char *line)
{
    FILE *out = atomic_load(&log_stream);

    fprintf(out ? out : stderr, "%s\n", line);
}

static void format_time(char out[64])
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* jansson takes UTF-8 only; a message may quote a client's bytes (a user
 * agent, a path), so anything else is written as '?' rather than lost. */
static json_t *json_text(const char *s)
{
    json_t *v = json_string(s);
    char *copy;

    if (v || !(copy = strdup(s)))
        return v;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* The fields every JSON line has; `source` and the request id when set.
 * `extra` (may be NULL) adds fields of its own and is consumed. */
static void emit_json(enum fs_log_level level, const char *source,
                      const char *message, json_t *extra)
{
    char when[64];
    json_t *o = json_object();
    char *text;

    format_time(when);
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "level", json_string(level_names[level & 3]));
    if (source)
        json_object_set_new(o, "source", json_text(source));
    json_object_set_new(o, "message", json_text(message));
    if (request_id[0])
        json_object_set_new(o, "request_id", json_string(request_id));
    if (extra)
        json_object_update(o, extra);
    json_decref(extra);
    /* Durations to the nanosecond, not to 17 digits of binary noise. */
    text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                 JSON_REAL_PRECISION(9)) : NULL;
    if (text)
        emit(text);
    free(text);
    json_decref(o);
}

static void emit_text(enum fs_log_level level, const char *source,
                      const char *message)
{
    char when[64], line[LOG_LINE_MAX + 160];

    format_time(when);
    snprintf(line, sizeof(line), "%s %-5s %s%s%s%s%s%s", when,
             level_names[level & 3], source ? source : "", source ? ": " : "",
             message, request_id[0] ? " [request_id=" : "", request_id,
             request_id[0] ? "]" : "");
    emit(line);
}

static void log_line(enum fs_log_level level, const char *source,
                     const char *fmt, va_list ap)
{
    char message[LOG_LINE_MAX];

    vsnprintf(message, sizeof(message), fmt, ap);
    if (atomic_load(&log_format) == FS_LOG_JSON)
        emit_json(level, source, message, NULL);
    else
        emit_text(level, source, message);
}

void fs_log(enum fs_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (!fs_log_enabled(level))
        return;
    va_start(ap, fmt);
    log_line(level, NULL, fmt, ap);
    va_end(ap);
}

/* A client's bytes, bounded, with control bytes as '?': a path must not
 * start a forged line or steer a terminal. */
static void client_text(char *out, size_t cap, const char *in)
{
    size_t n = 0;

    for (; in && in[n] && n + 1 < cap; n++)
        out[n] = (unsigned char)in[n] < 0x20 || in[n] == 0x7f ? '?' : in[n];
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "-");
}

void fs_log_access(const char *raw_method, const char *raw_path, int status,
                   double duration_ms)
{
    char message[LOG_LINE_MAX], method[32], path[1024];

    if (!fs_log_enabled(FS_LOG_DEBUG))
        return;
    client_text(method, sizeof(method), raw_method);
    client_text(path, sizeof(path), raw_path);
    snprintf(message, sizeof(message), "%s %s %d %.3f ms", method, path, status,
             duration_ms);
    if (atomic_load(&log_format) != FS_LOG_JSON) {
        emit_text(FS_LOG_DEBUG, NULL, message);
        return;
    }
    emit_json(FS_LOG_DEBUG, NULL, message,
              json_pack("{s:o, s:o, s:i, s:f}", "method", json_text(method),
                        "path", json_text(path), "status", status,
                        "duration_ms", duration_ms));
}

static void host_log(enum fs_log_level level, const char *plugin,
                     const char *fmt, ...)
{
    va_list ap;
    if (!fs_log_enabled(level))
        return;
    va_start(ap, fmt);
    log_line(level, plugin ? plugin : "plugin", fmt, ap);
    va_end(ap);
}

int64_t fs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fs_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const struct fs_host fs_host_api = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_host),
    .log = host_log,
    .now_ms = fs_now_ms,
};
