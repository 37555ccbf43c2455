/*
 * http_request_id.c - X-Request-Id: take the client's when sane, else make
 * one, and bind it to the log lines of the thread serving the request.
 *
 * A made id is 16 hexadecimal digits: splitmix64 of a per-thread counter,
 * seeded once per thread from getrandom(). It needs to be unique, not
 * secret, so the accept path pays no system call for it.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <civetweb.h>

#include "http_request_id.h"
#include "log.h"

static _Thread_local uint64_t id_state;
static _Thread_local int seeded;
static _Thread_local int64_t started_ns;
static _Thread_local int in_request;  /* between begin and end */

int fs_request_id_sane(const char *s)
{
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789._~:+/=-";
    size_t len = s ? strlen(s) : 0;

    return len >= 1 && len <= FS_REQUEST_ID_MAX && strspn(s, safe) == len;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void make_id(char out[17])
{
    if (!seeded) {
        /* Without randomness the thread's address still separates threads. */
        if (getrandom(&id_state, sizeof(id_state), 0) != sizeof(id_state))
            id_state = (uint64_t)(uintptr_t)&id_state ^ (uint64_t)fs_mono_ns();
        seeded = 1;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)splitmix64(&id_state));
}

void fs_http_request_id_begin(const struct mg_connection *conn)
{
    const char *asked = mg_get_header(conn, "X-Request-Id");
    char made[17];

    started_ns = fs_mono_ns();
    in_request = 1;
    if (fs_request_id_sane(asked)) {
        fs_log_request_begin(asked);
        return;
    }
    make_id(made);
    fs_log_request_begin(made);
}

void fs_http_request_id_end(const struct mg_connection *conn, int status)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);

    if (fs_log_enabled(FS_LOG_DEBUG) && ri)
        fs_log_access(ri->request_method, ri->local_uri_raw ? ri->local_uri_raw
                                                            : ri->local_uri,
                      status, (double)(fs_mono_ns() - started_ns) / 1e6);
    fs_log_request_end();
    in_request = 0;
}

void fs_http_request_id_after_error(void)
{
    if (!in_request)
        fs_log_request_end();
}

const char *fs_http_request_id(void)
{
    char made[17];

    if (!fs_log_request_id()) {
        make_id(made);
        fs_log_request_begin(made);
    }
    return fs_log_request_id();
}
