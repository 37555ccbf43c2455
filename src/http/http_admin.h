/*
 * http_admin.h - the live admin page (DESIGN.md section 2, docs/admin.md):
 * its routes under /admin, their token check, and the stats snapshot they
 * serve as JSON and as server-sent events.
 */
#ifndef FS_HTTP_ADMIN_H
#define FS_HTTP_ADMIN_H

#include <stddef.h>

struct fs_http;
struct mg_connection;

/* Answers one request whose path is "/admin" followed by the segments
 * seg[0..n_seg) ("/admin/stats": {"stats"}). 404 when admin.token is unset,
 * 401 without the token. Returns the HTTP status it answered. */
int fs_http_admin_route(struct fs_http *http, struct mg_connection *conn,
                        char *const *seg, size_t n_seg);

/* 1 when `authorization` (an Authorization header's value, or NULL) carries
 * `token`, as "Bearer <token>" or as the password of "Basic
 * base64(user:password)". Compares in time independent of the token's
 * contents. */
int fs_http_admin_authorized(const char *authorization, const char *token);

#endif
