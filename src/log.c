/* log.c - stderr logger, clocks and the plugin host API. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static atomic_int log_threshold = FS_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

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

static void log_line(enum fs_log_level level, const char *prefix,
                     const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_names[level & 3], prefix);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    /* One fputs per line: stdio locks the stream, so lines never interleave. */
    fprintf(stderr, "%s\n", line);
}

void fs_log(enum fs_log_level level, const char *fmt, ...)
{
    va_list ap;
    if ((int)level > atomic_load(&log_threshold))
        return;
    va_start(ap, fmt);
    log_line(level, "", fmt, ap);
    va_end(ap);
}

static void host_log(enum fs_log_level level, const char *plugin,
                     const char *fmt, ...)
{
    char prefix[96];
    va_list ap;
    if ((int)level > atomic_load(&log_threshold))
        return;
    snprintf(prefix, sizeof(prefix), "%s: ", plugin ? plugin : "plugin");
    va_start(ap, fmt);
    log_line(level, prefix, fmt, ap);
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
