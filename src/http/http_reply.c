/*
 * http_reply.c - writes a whole answer (status line, headers, body) to a
 * civetweb connection with one mg_write.
 *
 * Why not civetweb's mg_response_header_start/add/send: civetweb 1.15 sends
 * every header line with its own send(), nine system calls and nine TCP
 * segments for one small JSON answer, and on loopback each one runs the whole
 * TCP send and receive path. Under load that was the largest single cost of
 * the accept path (a quarter of the daemon's samples in __send). Writing the
 * answer ourselves is the classic civetweb way (mg_write of a raw response);
 * what civetweb would add, Date and Connection, is added here, with the same
 * keep-alive rule civetweb applies after the handler returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>
#include <jansson.h>

#include "http_reply.h"
#include "http_request_id.h"

/* The head of an answer is assembled on the stack and the body joins it
 * when both fit: one write. A bigger body (the OpenAPI document, the admin
 * page) follows in a second write. */
#define REPLY_STACK_BYTES 4096

static int keep_alive_enabled = 1;

void fs_http_reply_keep_alive(int enabled)
{
    keep_alive_enabled = enabled != 0;
}

/* An output buffer that counts what did not fit, so that a second pass can
 * size the heap buffer exactly. */
struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n > 0 && o->len + n <= o->cap)
        memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_header(struct out *o, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n"))
        return;  /* a header split in two would be response splitting */
    put_str(o, name);
    put(o, ": ", 2);
    put_str(o, value);
    put(o, "\r\n", 2);
}

int fs_http_header_has_token(const char *value, const char *token)
{
    size_t n = strlen(token);

    while (value && *value) {
        value += strspn(value, " \t,");
        size_t len = strcspn(value, ",");
        size_t end = len;
        while (end > 0 && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end == n && strncasecmp(value, token, n) == 0)
            return 1;
        value += len;
    }
    return 0;
}

/* civetweb's rule (should_keep_alive): the server allows it, then the
 * client's Connection header decides, else HTTP/1.1 keeps and 1.0 closes. */
static int keeps_alive(const struct mg_connection *conn,
                       const struct mg_request_info *ri)
{
    const char *asked = mg_get_header(conn, "Connection");

    if (!keep_alive_enabled)
        return 0;
    if (asked)
        return fs_http_header_has_token(asked, "keep-alive");
    return ri && ri->http_version && strcmp(ri->http_version, "1.1") == 0;
}

/* The Date header's value, formatted at most once a second per thread. */
static const char *date_now(void)
{
    static _Thread_local time_t formatted_at = -1;
    static _Thread_local char text[64];
    time_t now = time(NULL);
    struct tm tm;

    if (now != formatted_at && gmtime_r(&now, &tm) &&
        strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0)
        formatted_at = now;
    return text;
}

static void put_head(struct out *o, struct mg_connection *conn, int status,
                     const char *type, size_t len, const char *const *headers)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *version = ri && ri->http_version ? ri->http_version : "1.1";
    char number[32];
    int own_connection = 0;  /* the caller chose: a shed answer closes */

    put(o, "HTTP/", 5);
    put_str(o, strcmp(version, "1.0") == 0 ? "1.0" : "1.1");
    put(o, " ", 1);
    snprintf(number, sizeof(number), "%d ", status);
    put_str(o, number);
    put_str(o, mg_get_response_code_text(conn, status));
    put(o, "\r\n", 2);
    put_header(o, "Content-Type", type);
    snprintf(number, sizeof(number), "%zu", len);
    put_header(o, "Content-Length", number);
    put_header(o, "Cache-Control", "no-store");
    put_header(o, "X-Request-Id", fs_http_request_id());
    for (size_t i = 0; headers && headers[i]; i += 2) {
        put_header(o, headers[i], headers[i + 1]);
        own_connection |= strcasecmp(headers[i], "Connection") == 0;
    }
    put_header(o, "Date", date_now());
    if (!own_connection)
        put_header(o, "Connection",
                   keeps_alive(conn, ri) ? "keep-alive" : "close");
    put(o, "\r\n", 2);
}

static int is_head(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    return ri && ri->request_method && strcmp(ri->request_method, "HEAD") == 0;
}

/* Only for a head over REPLY_STACK_BYTES, which our headers never reach. */
static int send_big_head(struct mg_connection *conn, int status,
                          const char *type, size_t len,
                          const char *const *headers, size_t need)
{
    static const char fallback[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                   "Content-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
    struct out o = {malloc(need), 0, need};

    if (o.p == NULL) {
        mg_write(conn, fallback, sizeof(fallback) - 1);
        return -1;
    }
    put_head(&o, conn, status, type, len, headers);
    mg_write(conn, o.p, o.len);
    free(o.p);
    return 0;
}

int fs_http_reply(struct mg_connection *conn, int status, const char *type,
                  const char *body, size_t len, const char *const *headers)
{
    char stack[REPLY_STACK_BYTES];
    struct out o = {stack, 0, sizeof(stack)};
    size_t body_len = body && !is_head(conn) ? len : 0;

    put_head(&o, conn, status, type, len, headers);
    if (o.len + body_len <= o.cap) {
        put(&o, body, body_len);
        mg_write(conn, o.p, o.len);
        return status;
    }
    if (o.len <= o.cap)
        mg_write(conn, o.p, o.len);
    else if (send_big_head(conn, status, type, len, headers, o.len) != 0)
        return 500;
    if (body_len > 0)
        mg_write(conn, body, body_len);
    return status;
}

int fs_http_reply_json(struct mg_connection *conn, int status, json_t *obj,
                       const char *const *headers)
{
    static const char oom[] =
        "{\"error\":\"internal\",\"message\":\"out of memory\"}\n";
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;

    if (!line) {
        free(text);
        json_decref(obj);
        return fs_http_reply(conn, 500, "application/json", oom,
                             sizeof(oom) - 1, NULL);
    }
    line[len] = '\n';
    line[len + 1] = '\0';
    status = fs_http_reply(conn, status, "application/json", line, len + 1,
                           headers);
    free(line);
    json_decref(obj);
    return status;
}
