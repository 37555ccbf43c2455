/*
 * http_reply.h - a whole HTTP/1.1 answer written in one piece.
 */
#ifndef FS_HTTP_REPLY_H
#define FS_HTTP_REPLY_H

#include <stddef.h>

#include <jansson.h>

struct mg_connection;

/* Whether the server keeps connections open (civetweb's enable_keep_alive);
 * said once before the server starts, so that the Connection header of each
 * answer matches what civetweb will do. */
void fs_http_reply_keep_alive(int enabled);

/* Sends status, Content-Type, Content-Length, Cache-Control: no-store, the
 * NULL-terminated name/value pairs of `headers`, Date and Connection
 * (unless `headers` names one), then
 * the body (not for HEAD). A header whose name or value holds CR or LF is
 * dropped. Returns `status`. */
int fs_http_reply(struct mg_connection *conn, int status, const char *type,
                  const char *body, size_t len, const char *const *headers);

/* Sends `obj` as application/json, ending in a newline (so that a shell
 * prompt does not stick to what curl prints), and drops the reference;
 * obj NULL, or no memory to print it: 500. Returns the status sent. */
int fs_http_reply_json(struct mg_connection *conn, int status, json_t *obj,
                       const char *const *headers);

/* The value of a comma-separated header holds `token` (case-insensitive):
 * "keep-alive" in "Keep-Alive, Upgrade". */
int fs_http_header_has_token(const char *value, const char *token);

#endif
