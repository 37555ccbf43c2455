/*
 * http_api.h - the REST API on civetweb: routing, request limits,
 * authentication, and the one place where fs_status becomes an HTTP status.
 */
#ifndef FS_HTTP_API_H
#define FS_HTTP_API_H

#include "auth.h"
#include "booking.h"

struct mg_context;

struct fs_http {
    struct fs_service *svc;
    struct fs_auth auth;
    struct mg_context *ctx;
};

/* Starts civetweb on cfg->listen. 0 on success; err says why not. */
int fs_http_start(struct fs_http *h, struct fs_service *svc, char *err,
                  size_t errlen);
/* Stops accepting, lets handlers in flight finish, joins civetweb's threads. */
void fs_http_stop(struct fs_http *h);

#endif
