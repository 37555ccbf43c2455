/*
 * fuzz_policy.c - the Lua policies (src/policy.c and the shipped
 * policies/ folder) on what a client controls: its headers, its User-Agent,
 * its address as civetweb reports it, the path, and the ids the HTTP layer
 * has already validated.
 *
 * Input: one byte choosing the hook (on_book with hold_seconds, on_confirm,
 * on_cancel), then LF-separated fields: user, ip, user agent, sale, path,
 * booking id, then "Name: value" headers. Inputs whose ids the HTTP layer
 * would refuse are skipped, as those never reach a policy.
 * Invariants: the verdict is one of the four actions; a slow-down carries a
 * Retry-After in 1..FS_POLICY_RETRY_MAX; a deny's reason is printable ASCII
 * (it is sent to the client); a hold time is at most a day; every Lua state
 * is freed (LeakSanitizer). The policies keep counters across inputs, as
 * they do across requests: unbounded growth shows up as -rss_limit_mb.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz_check.h"
#include "ids.h"
#include "log.h"
#include "policy.h"

#ifndef FS_FUZZ_POLICIES_DIR
#error "run.sh defines FS_FUZZ_POLICIES_DIR (the repo's policies/ folder)"
#endif

#define HEADERS_MAX 16

static void shutdown_policies(void)
{
    fs_policy_thread_release();
    fs_policy_shutdown();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct fs_policy_limits lim = {.instructions_max = 1000000,
                                   .memory_max_bytes = 4096 * 1024};
    /* Trusted proxies, so that X-Forwarded-For is parsed; deny lists, so
     * that the CIDR matching runs on every address. */
    static const struct fs_config_kv settings[] = {
        {"bot_trusted_proxies", "10.0.0.0/8, 127.0.0.1, fd00::/8, ::1", 1},
        {"bot_deny_cidrs", "192.0.2.0/24, 2001:db8::/32", 2},
        {"bot_exempt_cidrs", "", 3},
    };
    struct fs_policy_set *set = NULL;
    char err[1024];

    (void)argc;
    (void)argv;
    fs_log_set_level(FS_LOG_ERROR);
    if (fs_policy_set_load(FS_FUZZ_POLICIES_DIR, settings,
                           sizeof(settings) / sizeof(settings[0]), &lim, &set, err,
                           sizeof(err)) != 0) {
        fprintf(stderr, "cannot load %s: %s\n", FS_FUZZ_POLICIES_DIR, err);
        abort();
    }
    if (fs_policy_set_count(set) == 0) {
        fprintf(stderr, "no policies in %s\n", FS_FUZZ_POLICIES_DIR);
        abort();
    }
    fs_policy_publish(set);
    atexit(shutdown_policies);
    return 0;
}

static char *field(char **p, char *end)
{
    char *s = *p, *lf = memchr(s, '\n', (size_t)(end - s));
    if (lf) {
        *lf = '\0';
        *p = lf + 1;
    } else {
        *p = end;
    }
    return s;
}

static void check_verdict(const struct fs_policy_verdict *v)
{
    FUZZ_CHECK(v->action == FS_POLICY_ALLOW || v->action == FS_POLICY_DENY ||
               v->action == FS_POLICY_SLOW || v->action == FS_POLICY_ERROR);
    if (v->action == FS_POLICY_SLOW)
        FUZZ_CHECK(v->retry_after >= 1 && v->retry_after <= FS_POLICY_RETRY_MAX);
    if (v->action == FS_POLICY_DENY) {
        FUZZ_CHECK(memchr(v->reason, '\0', sizeof(v->reason)) != NULL);
        for (const char *c = v->reason; *c; c++)
            FUZZ_CHECK(*c >= ' ' && *c <= '~');
    }
    if (v->action == FS_POLICY_ERROR)
        fprintf(stderr, "policy error: %s\n", v->error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fs_policy_header headers[HEADERS_MAX];
    struct fs_policy_request req;
    struct fs_policy_verdict v;
    char *text, *p, *end;
    uint32_t hold = 0;

    if (size < 1)
        return 0;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    p = text;
    end = text + size - 1;
    memset(&req, 0, sizeof(req));
    req.user = field(&p, end);
    req.ip = field(&p, end);
    req.user_agent = field(&p, end);
    req.sale = field(&p, end);
    req.path = field(&p, end);
    req.booking_id = field(&p, end);
    req.method = data[0] % 3 == 0 ? "POST" : data[0] % 3 == 1 ? "PUT" : "DELETE";
    req.headers = headers;
    while (p < end && req.n_headers < HEADERS_MAX) {
        char *line = field(&p, end), *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[req.n_headers].name = line;
        headers[req.n_headers++].value = colon + 1;
    }
    if (!req.user_agent[0])
        req.user_agent = NULL;  /* no User-Agent header: nil */
    if (!fs_user_id_valid(req.user) || !fs_id_valid(req.sale) ||
        (data[0] % 3 != 0 && !fs_id_valid(req.booking_id)))
        goto done;
    if (data[0] % 3 == 0) {
        req.booking_id = NULL;
        fs_policy_book(&req, &v, &hold);
        check_verdict(&v);
        FUZZ_CHECK(hold <= 86400);
    } else {
        fs_policy_check(data[0] % 3 == 1 ? FS_POLICY_ON_CONFIRM
                                         : FS_POLICY_ON_CANCEL, &req, &v);
        check_verdict(&v);
    }
done:
    free(text);
    return 0;
}
