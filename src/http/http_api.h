/*
 * http_api.h - the HTTP layer as the rest of the daemon sees it: the REST
 * API on civetweb (src/http/http_api.c and the files beside it), started and
 * stopped by src/http/http_server.c, which owns civetweb's options, the
 * connection limit and shedding.
 */
#ifndef FS_HTTP_API_H
#define FS_HTTP_API_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "auth.h"
#include "booking.h"

struct mg_context;

struct fs_http {
    struct fs_service *svc;
    struct fs_auth auth;
    struct mg_context *ctx;
    /* Connections held by a civetweb thread: served ones (at most
     * max_connections) and those being answered 503 beyond the limit. */
    atomic_long served, shedding;
    long max_connections;
    atomic_int routes_ready;  /* the request handler is registered */
    /* Where fs_http_stop knocks to wake civetweb's master thread: each
     * listening socket as a client on this host reaches it. */
    struct sockaddr_storage wake[8];
    socklen_t wake_len[8];
    int n_wake;
};

/* Starts civetweb on cfg->listen. 0 on success; err says why not. */
int fs_http_start(struct fs_http *h, struct fs_service *svc, char *err,
                  size_t errlen);
/* Stops accepting, lets handlers in flight finish, joins civetweb's threads. */
void fs_http_stop(struct fs_http *h);

#endif
