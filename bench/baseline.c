/*
 * baseline.c - the yardstick of bench/run: a bare civetweb server.
 *
 * One handler answers every POST 202 and every other method 200, with the
 * same headers and the same 78-byte JSON body as flashsaled's accept answer
 * (Content-Type, Cache-Control, Location, Date, Connection), written the
 * way src/http/http_reply.c writes flashsaled's answers: the whole answer
 * assembled in one buffer and sent with one mg_write (civetweb's
 * mg_response_header_* would send each header line on its own), and no other
 * work: no token check, no JSON, no queue, no storage. It takes the same
 * civetweb options as src/http/http_api.c (num_threads, listen_backlog,
 * keep-alive, request timeout, max_request_size, tcp_nodelay, decode_url), so
 * a ratio to it measures flashsaled's own cost and nothing of civetweb's.
 *
 * Usage: baseline PORT THREADS [KEEP_ALIVE_MS]
 * Listens on 127.0.0.1:PORT until SIGTERM or SIGINT, then exits 0.
 *
 * Built by bench/run with cc directly:
 *   cc -std=c11 -O2 -Wall -Wextra -Werror baseline.c -o baseline -lcivetweb
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#define BASELINE_BODY                                                      \
    "{\"booking_id\":\"01M890BKY9Z4BQ17WSAE8FKJBG\",\"sale_id\":\"open\","   \
    "\"status\":\"queued\"}"
#define BASELINE_LOCATION \
    "/booking-service/book-item/open/01M890BKY9Z4BQ17WSAE8FKJBG"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Drains the request body as flashsaled does, so a client that sends one is
 * treated alike; the bytes themselves are not looked at. */
static void drain_body(struct mg_connection *conn)
{
    char buf[4096];

    while (mg_read(conn, buf, sizeof(buf)) > 0)
        ;
}

/* The Date header's value, formatted at most once a second per thread, as
 * src/http/http_reply.c does. */
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

static int handle(struct mg_connection *conn, void *data)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int post = strcmp(ri->request_method, "POST") == 0;
    int status = post ? 202 : 200;
    char answer[1024];
    int len;

    (void)data;
    drain_body(conn);
    len = snprintf(answer, sizeof(answer),
                   "HTTP/1.1 %d %s\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: %zu\r\n"
                   "Cache-Control: no-store\r\n"
                   "%s"
                   "Date: %s\r\n"
                   "Connection: keep-alive\r\n\r\n"
                   "%s",
                   status, mg_get_response_code_text(conn, status),
                   sizeof(BASELINE_BODY) - 1,
                   post ? "Location: " BASELINE_LOCATION "\r\n" : "",
                   date_now(), BASELINE_BODY);
    mg_write(conn, answer, (size_t)len);
    return status;
}

/* Accepts only a whole decimal number in [lo, hi]. */
static int parse_arg(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);

    if (end == text || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: baseline PORT THREADS [KEEP_ALIVE_MS]\n");
}

int main(int argc, char **argv)
{
    long port, threads, keep_alive_ms = 5000;
    char listen[32], nthreads[24], keep_alive[24];
    struct mg_callbacks callbacks;
    struct mg_context *ctx = NULL;
    struct sigaction sa;

    if (argc < 3 || argc > 4 || parse_arg(argv[1], 1, 65535, &port) ||
        parse_arg(argv[2], 1, 4096, &threads) ||
        (argc == 4 && parse_arg(argv[3], 0, 3600000, &keep_alive_ms))) {
        usage();
        return 2;
    }
    snprintf(listen, sizeof(listen), "127.0.0.1:%ld", port);
    snprintf(nthreads, sizeof(nthreads), "%ld", threads);
    snprintf(keep_alive, sizeof(keep_alive), "%ld", keep_alive_ms);
    const char *options[] = {
        "listening_ports", listen,
        "num_threads", nthreads,
        "listen_backlog", "1024",
        "enable_keep_alive", keep_alive_ms > 0 ? "yes" : "no",
        "keep_alive_timeout_ms", keep_alive,
        "request_timeout_ms", "10000",
        "max_request_size", "8192",
        "tcp_nodelay", "1",
        "decode_url", "no",
        NULL,
    };

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    mg_init_library(0);
    memset(&callbacks, 0, sizeof(callbacks));
    ctx = mg_start(&callbacks, NULL, options);
    if (!ctx) {
        fprintf(stderr, "baseline: cannot listen on %s\n", listen);
        goto fail;
    }
    mg_set_request_handler(ctx, "/", handle, NULL);
    fprintf(stderr, "baseline: listening on %s with %ld threads\n", listen,
            threads);
    while (!stop_requested)
        pause();
    mg_stop(ctx);
    mg_exit_library();
    return 0;

fail:
    mg_exit_library();
    return 1;
}
