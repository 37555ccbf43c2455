/*
 * http_server.c - the one file that knows civetweb as a server: its options,
 * start and stop, the connection limit and load shedding (DESIGN.md section
 * 9, invariant 8). The routes beside it never call mg_start.
 *
 * civetweb 1.15 gives each open connection one worker thread for its whole
 * life, idle keep-alive time included; a connection that finds every thread
 * busy waits, unanswered, in civetweb's queue and then the kernel's backlog.
 * So the guarantees are built from three parts, as HAProxy builds them from
 * maxconn and its timeouts:
 *   - many threads (they cost about 16 KiB resident each), so that idle and
 *     slow sockets do not use them up;
 *   - deadlines: the request line and headers must arrive within
 *     http.request_timeout_ms of the thread taking the connection, the next
 *     request of a keep-alive connection within http.keep_alive_timeout_ms,
 *     the body within http.request_timeout_ms of the headers (checked between
 *     reads, src/http/http_request.c); then the connection is closed;
 *   - a limit, http.max_connections, below http.threads: a connection that
 *     arrives while that many are being served is answered 503 with
 *     Retry-After and Connection: close as soon as its request is read, by
 *     one of the threads kept in reserve, and counted in /metrics.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "http_api.h"
#include "http_reply.h"
#include "http_request.h"
#include "http_request_id.h"
#include "http_tls.h"
#include "log.h"
#include "metrics.h"

/* Seconds a shed client is asked to wait: long enough for a keep-alive
 * timeout to free a thread, short enough to keep the sale moving. */
#define SHED_RETRY_AFTER "1"

/* Tags for civetweb's per-connection user data: which count the connection
 * is in, so that its close undoes exactly what its start did. */
static char tag_served, tag_shed;

static struct fs_http *server_of(const struct mg_connection *conn)
{
    return mg_get_user_data(mg_get_context(conn));
}

/* Called by the worker thread that takes a new connection, before it reads
 * anything. */
static int on_connection_start(const struct mg_connection *conn, void **data)
{
    struct fs_http *h = server_of(conn);

    if (atomic_fetch_add(&h->served, 1) < h->max_connections) {
        *data = &tag_served;
        fs_metrics_http_connections(1, 0);
    } else {
        atomic_fetch_sub(&h->served, 1);
        atomic_fetch_add(&h->shedding, 1);
        *data = &tag_shed;
        fs_metrics_http_connections(0, 1);
    }
    return 0;
}

/* Called once per connection that on_connection_start saw (and also after a
 * failed TLS handshake, which it did not: the tag tells them apart). */
static void on_connection_close(const struct mg_connection *conn)
{
    struct fs_http *h = server_of(conn);
    void *tag = mg_get_user_connection_data(conn);

    if (tag == &tag_served) {
        atomic_fetch_sub(&h->served, 1);
        fs_metrics_http_connections(-1, 0);
    } else if (tag == &tag_shed) {
        atomic_fetch_sub(&h->shedding, 1);
        fs_metrics_http_connections(0, -1);
    }
}

/* civetweb accepts as soon as mg_start has bound the port, while it is
 * still creating threads (seconds, for thousands), and the handler can only
 * be registered once mg_start has returned: a request in between would get
 * civetweb's own 404. It waits instead, for as long as mg_start runs. */
static void wait_for_routes(struct fs_http *h)
{
    const struct timespec pause = {0, 1000000};

    while (!atomic_load_explicit(&h->routes_ready, memory_order_acquire))
        nanosleep(&pause, NULL);
}

/* Every request, once its headers are in. A shed connection gets 503 and
 * Connection: close; a client that sends another request on it anyway gets
 * 503 again, until it closes or its keep-alive time runs out. */
static int on_request(struct mg_connection *conn)
{
    static const char body[] =
        "{\"error\":\"unavailable\",\"message\":\"the server is at its "
        "connection limit; nothing was done, retry after Retry-After "
        "seconds\"}\n";
    static const char *const headers[] = {
        "Retry-After", SHED_RETRY_AFTER, "Connection", "close", NULL};

    fs_http_request_id_begin(conn);
    if (mg_get_user_connection_data(conn) != &tag_shed) {
        wait_for_routes(server_of(conn));
        return 0;  /* civetweb goes on to fs_http_handle_request */
    }
    fs_http_reply(conn, 503, "application/json", body, sizeof(body) - 1,
                  headers);
    fs_metrics_http_shed();
    fs_metrics_request(FS_ROUTE_OTHER, 503);
    return 503;
}

/* Every request that on_request began, once answered. */
static void on_request_end(const struct mg_connection *conn, int status)
{
    fs_http_request_id_end(conn, status);
}

static int on_http_error(struct mg_connection *conn, int status,
                         const char *msg)
{
    int rc = fs_http_handle_error(conn, status, msg);

    fs_http_request_id_after_error();
    return rc;
}

/* civetweb's SSL_CTX for the TLS ports: the certificate is ours to set. */
static int on_init_ssl(void *ssl_ctx, void *user_data)
{
    struct fs_http *h = user_data;

    return fs_tls_setup_ctx(ssl_ctx, h->svc->cfg);
}

static int log_civetweb(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    fs_log_debug("civetweb: %s", message);
    return 1;
}

/* Each connection is a descriptor: raise the soft limit to what the
 * threads, civetweb's queue and the backlog can hold, as far as the hard
 * limit allows, and say so when it does not reach. */
static void raise_open_files(const struct fs_config *cfg)
{
    rlim_t want = (rlim_t)(cfg->http.threads + cfg->http.listen_backlog + 256);
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
                      ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        fs_log_warn("open files limited to %llu, below the %llu that "
                    "http.threads and http.listen_backlog need: raise "
                    "LimitNOFILE (ulimit -n)", (unsigned long long)rl.rlim_cur,
                    (unsigned long long)want);
}

static void callbacks_init(struct mg_callbacks *cb, const struct fs_config *cfg)
{
    memset(cb, 0, sizeof(*cb));
    cb->init_connection = on_connection_start;
    cb->connection_close = on_connection_close;
    cb->begin_request = on_request;
    cb->end_request = on_request_end;
    cb->http_error = on_http_error;
    cb->log_message = log_civetweb;
    if (cfg->tls.cert_file)
        cb->init_ssl = on_init_ssl;
}

/* 0 for max_connections means: all threads but a reserve of one in eight
 * (at least one) for answering 503 beyond the limit. */
static long connection_limit(const struct fs_config *cfg)
{
    int64_t reserve = cfg->http.threads / 8 ? cfg->http.threads / 8 : 1;

    if (cfg->http.max_connections > 0)
        return (long)cfg->http.max_connections;
    return (long)(cfg->http.threads > reserve ? cfg->http.threads - reserve
                                              : cfg->http.threads);
}

/* ---- waking civetweb's master thread at stop ----------------------------
 * civetweb 1.15's master thread polls the listening sockets in 2 s slices
 * and only looks at the stop flag between them; mg_stop sets the flag and
 * waits. So an idle daemon's stop took 2 s on average, up to 4 s under load.
 * While mg_stop runs, a waker thread connects to each listening socket and
 * closes at once: poll returns, and the master sees the flag, closes the
 * listening sockets and joins the workers.
 *
 * The waker first knocks 30 ms after mg_stop began, which set the flag
 * before anything else, and again every 100 ms, until the knock is refused
 * (the master closed that socket) or mg_stop returns. A knock that arrives
 * before the flag is set (the stopping thread was held up for 30 ms) is an
 * ordinary connection closed without a request: a worker reads EOF and
 * closes it, and the next knock wakes the master again. So the stop is never
 * slower than without the waker, and the waker never outlives fs_http_stop.
 * Its connects are non-blocking: a full backlog cannot hold it up. */

/* The address a client on this host connects to for the listen entry
 * `entry` (up to its comma) on `port`: its own address, or loopback for a
 * wildcard one. Resolved at start, so that the stop never waits on DNS. */
static socklen_t wake_address(const char *entry, const struct mg_server_port *p,
                              struct sockaddr_storage *out)
{
    int family = p->protocol == 3 ? AF_INET6 : AF_INET;
    size_t len = strcspn(entry, ",");
    char host[256] = "";
    const char *colon = NULL;
    struct addrinfo hints, *res = NULL;
    socklen_t n = 0;

    /* civetweb's syntax: "port", "+port", "ip:port", "host:port",
     * "[ipv6]:port", each maybe with an 's' or 'r' suffix. */
    for (const char *c = entry; c < entry + len; c++)
        if (*c == ':')
            colon = c;
    if (entry[0] == '[' && memchr(entry, ']', len)) {
        size_t hl = (size_t)((const char *)memchr(entry, ']', len) - entry) - 1;
        if (hl < sizeof(host))
            memcpy(host, entry + 1, hl), host[hl] = '\0';
    } else if (colon && (size_t)(colon - entry) < sizeof(host)) {
        memcpy(host, entry, (size_t)(colon - entry));
        host[colon - entry] = '\0';
    }
    memset(out, 0, sizeof(*out));
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    if (host[0] && getaddrinfo(host, NULL, &hints, &res) == 0 && res &&
        res->ai_addrlen <= sizeof(*out)) {
        memcpy(out, res->ai_addr, res->ai_addrlen);
        n = res->ai_addrlen;
    }
    if (res)
        freeaddrinfo(res);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        if (!n || IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr)) {
            memset(a, 0, sizeof(*a));
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
        }
        a->sin6_port = htons((uint16_t)p->port);
        return sizeof(*a);
    }
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    if (!n || a->sin_addr.s_addr == htonl(INADDR_ANY)) {
        memset(a, 0, sizeof(*a));
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    a->sin_port = htons((uint16_t)p->port);
    return sizeof(*a);
}

/* One knock per listening socket that mg_get_server_ports reports; they
 * come in the order of the entries in `listen`, one socket each. */
static void find_wake_addresses(struct fs_http *h, const char *listen)
{
    struct mg_server_port ports[sizeof(h->wake) / sizeof(h->wake[0])];
    int n = mg_get_server_ports(h->ctx, (int)(sizeof(ports) / sizeof(ports[0])),
                                ports);
    const char *entry = listen;

    h->n_wake = 0;
    for (int i = 0; i < n; i++) {
        h->wake_len[h->n_wake] = wake_address(entry, &ports[i],
                                              &h->wake[h->n_wake]);
        h->n_wake++;
        entry += strcspn(entry, ",");
        if (*entry == ',')
            entry++;
    }
}

struct waker {
    const struct fs_http *h;
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* on CLOCK_MONOTONIC */
    int stopped;          /* mg_stop returned */
};

/* Connects and closes at once. 1 if the connection was refused: nothing
 * listens there any more. */
static int knock(const struct sockaddr_storage *a, socklen_t len)
{
    int s = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int refused = 0, e = 0;
    socklen_t el = sizeof(e);

    if (s < 0)
        return 0;
    if (connect(s, (const struct sockaddr *)a, len) == 0) {
        refused = 0;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = s, .events = POLLOUT};
        if (poll(&p, 1, 50) == 1 &&
            getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0)
            refused = e == ECONNREFUSED;
    } else {
        refused = errno == ECONNREFUSED;
    }
    close(s);
    return refused;
}

static void *wake_master(void *arg)
{
    struct waker *w = arg;
    int refused[sizeof(w->h->wake) / sizeof(w->h->wake[0])] = {0};
    int left = w->h->n_wake;
    long wait_ms = 30;
    struct timespec at;

    pthread_mutex_lock(&w->lock);
    while (left > 0) {
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_nsec += wait_ms * 1000000L;
        at.tv_sec += at.tv_nsec / 1000000000L;
        at.tv_nsec %= 1000000000L;
        while (!w->stopped &&
               pthread_cond_timedwait(&w->cond, &w->lock, &at) != ETIMEDOUT)
            ;
        if (w->stopped)
            break;
        pthread_mutex_unlock(&w->lock);
        for (int i = 0; i < w->h->n_wake; i++)
            if (!refused[i] && knock(&w->h->wake[i], w->h->wake_len[i]))
                refused[i] = 1, left--;
        pthread_mutex_lock(&w->lock);
        wait_ms = 100;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* mg_stop, with the waker knocking while it waits. Without a thread for the
 * waker, mg_stop alone: as slow as before, as correct. */
static void stop_civetweb(struct fs_http *h)
{
    struct waker w = {.h = h, .stopped = 0};
    pthread_condattr_t attr;
    pthread_t thread;
    int started = 0;

    pthread_mutex_init(&w.lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (h->n_wake > 0)
        started = pthread_create(&thread, NULL, wake_master, &w) == 0;
    mg_stop(h->ctx);
    if (started) {
        pthread_mutex_lock(&w.lock);
        w.stopped = 1;
        pthread_cond_signal(&w.cond);
        pthread_mutex_unlock(&w.lock);
        pthread_join(thread, NULL);
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
}

int fs_http_start(struct fs_http *h, struct fs_service *svc, char *err,
                  size_t errlen)
{
    const struct fs_config *cfg = svc->cfg;
    char threads[24], backlog[24], keepalive_ms[24], request_ms[24], header[24];
    struct mg_callbacks callbacks;
    const char *options[] = {
        "listening_ports", cfg->listen,
        "num_threads", threads,
        "listen_backlog", backlog,
        "enable_keep_alive", cfg->http.keep_alive_timeout_ms > 0 ? "yes" : "no",
        "keep_alive_timeout_ms", keepalive_ms,
        "request_timeout_ms", request_ms,
        "max_request_size", header,
        "tcp_nodelay", "1",
        /* Raw paths: an id with any %-escape is refused as a bad id, and an
         * encoded NUL can never cut an id short. */
        "decode_url", "no",
        /* civetweb's floor (4: TLS 1.2, 5: TLS 1.3), as on_init_ssl's. */
        cfg->tls.cert_file ? "ssl_protocol_version" : NULL,
        fs_tls_wants_13(cfg) ? "5" : "4",
        NULL,
    };

    memset(h, 0, sizeof(*h));
    h->svc = svc;
    h->max_connections = connection_limit(cfg);
    fs_metrics_http_limit(h->max_connections);
    fs_http_reply_keep_alive(cfg->http.keep_alive_timeout_ms > 0);
    if (fs_auth_init_config(&h->auth, cfg, err, errlen) != 0)
        return -1;
    snprintf(threads, sizeof(threads), "%" PRId64, cfg->http.threads);
    snprintf(backlog, sizeof(backlog), "%" PRId64, cfg->http.listen_backlog);
    snprintf(keepalive_ms, sizeof(keepalive_ms), "%" PRId64,
             cfg->http.keep_alive_timeout_ms);
    snprintf(request_ms, sizeof(request_ms), "%" PRId64,
             cfg->http.request_timeout_ms);
    snprintf(header, sizeof(header), "%" PRId64, cfg->http.max_header_bytes);
    raise_open_files(cfg);
    callbacks_init(&callbacks, cfg);
    h->ctx = mg_start(&callbacks, h, options);
    if (!h->ctx) {
        if (cfg->tls.cert_file && fs_tls_error())
            snprintf(err, errlen, "cannot set up TLS: %s", fs_tls_error());
        else if (strchr(cfg->listen, '[') && !mg_check_feature(8))
            snprintf(err, errlen, "cannot listen on %s: this civetweb is "
                     "built without IPv6", cfg->listen);
        else
            snprintf(err, errlen, "cannot listen on %s (in use, or not an "
                     "address:port?)", cfg->listen);
        fs_auth_free(&h->auth);
        return -1;
    }
    mg_set_request_handler(h->ctx, "/", fs_http_handle_request, h);
    find_wake_addresses(h, cfg->listen);
    atomic_store_explicit(&h->routes_ready, 1, memory_order_release);
    return 0;
}

void fs_http_stop(struct fs_http *h)
{
    if (h->ctx)
        stop_civetweb(h);
    h->ctx = NULL;
    fs_auth_free(&h->auth);
}
