/*
 * test_inventory_redis.c - the Redis inventory plugin (inventory_redis.so)
 * against real redis-servers: the inventory contract of fs_plugin.h case by
 * case as test_inventory_memory.c states it, the invariants of DESIGN.md
 * section 4 under 16 threads, and what is Redis' own: keys and hash tags,
 * the prefix, URLs and AUTH, script reloading, timeouts, and the server going
 * away and coming back empty.
 *
 * Run it through test_inventory_redis.py, which starts the servers and sets:
 *   FS_REDIS_URL          a server without password (flushed before each test)
 *   FS_REDIS_AUTH_URL     a server with requirepass, as redis://:pw@...
 *   FS_REDIS_ACL_URL      the same server as an ACL user, database 1, with a
 *                         percent-encoded password
 *   FS_REDIS_NOAUTH_URL   the same server without credentials
 *   FS_REDIS_BADAUTH_URL  the same server with a wrong password
 *   FS_REDIS_CONTROL      "W:R": pipe fds to ask the driver to "kill" and
 *                         "start" the first server (answers "ok" or "error")
 * A test whose variable is missing fails and says so; none is skipped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* pthread_barrier */
#endif
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis.h>

#include "config.h"
#include "plugin_fixture.h"

#define PLUGIN_FILE "inventory_redis.so"
#define SALE "launch"
#define FAR_FUTURE 4102444800000LL /* 2100-01-01 */
#define NOW 1767225600000LL        /* 2026-01-01 */
#define CONTROL_TIMEOUT_MS 20000
#define RECOVER_TIMEOUT_MS 10000

struct kv {
    const char *key;
    const char *value;
};

/* One plugin instance configured through the core's own option parser. */
struct inv {
    struct plugin_fixture f;
    const struct fs_inventory_ops *ops;
    void *config;
    struct fs_option_values *values;
};

struct inv_test {
    struct inv a;
};

/* ---- environment and helpers -------------------------------------------- */

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);

    if (!v || !v[0])
        fail_msg("%s is not set: run this test through "
                 "tests/integration/test_inventory_redis.py, which starts "
                 "the redis-servers it needs", name);
    return v;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills a zeroed config from `kv` with fs_config_apply_options(), exactly as
 * the daemon does; NULL (with the parser's message in err) if refused. */
static void *config_make(const struct fs_plugin *p, const struct kv *kv,
                         size_t n, struct fs_option_values **values, char *err,
                         size_t errlen)
{
    struct fs_config_kv items[16];
    struct fs_plugin_config block = {.name = "redis", .line = 1, .kv = items,
                                     .n_kv = n};
    void *config;
    size_t i;

    assert_true(n <= 16);
    for (i = 0; i < n; i++)
        items[i] = (struct fs_config_kv){(char *)kv[i].key,
                                         (char *)kv[i].value, (int)i + 2};
    config = calloc(1, p->config_size);
    assert_non_null(config);
    *values = fs_config_apply_options(&block, "inventory", p->options, config,
                                      "/", "test.yaml", err, errlen);
    if (!*values) {
        free(config);
        return NULL;
    }
    return config;
}

/* Opens and creates an instance; create() must succeed. */
static void inv_open(struct inv *x, const struct kv *kv, size_t n)
{
    char err[512] = "";

    fixture_open(&x->f, PLUGIN_FILE, FS_PLUGIN_INVENTORY);
    x->config = config_make(x->f.plugin, kv, n, &x->values, err, sizeof(err));
    if (!x->config)
        fail_msg("the option parser refused the config: %s", err);
    fixture_create(&x->f, x->config);
    x->ops = x->f.plugin->inventory;
}

static void inv_close(struct inv *x)
{
    fixture_close(&x->f);
    free(x->config);
    fs_config_options_free(x->values);
    memset(x, 0, sizeof(*x));
}

/* create() on options that must be refused; returns its message. */
static void create_must_fail(const struct kv *kv, size_t n, char *err,
                             size_t errlen)
{
    struct plugin_fixture f;
    struct fs_option_values *values = NULL;
    void *config, *ctx = NULL;

    fixture_open(&f, PLUGIN_FILE, FS_PLUGIN_INVENTORY);
    err[0] = '\0';
    config = config_make(f.plugin, kv, n, &values, err, errlen);
    assert_non_null(config);
    assert_int_not_equal(f.plugin->create(&test_host, config, &ctx, err,
                                          errlen),
                         0);
    assert_null(ctx);
    assert_true(err[0] != '\0');
    free(config);
    fs_config_options_free(values);
    fixture_close(&f);
}

/* One command on a fresh connection to the plain server; never NULL. */
static redisReply *admin(const char *fmt, ...)
{
    const char *url = env_or_fail("FS_REDIS_URL");
    char host[64];
    int port;
    redisContext *c;
    redisReply *r;
    va_list ap;

    if (sscanf(url, "redis://%63[^:]:%d", host, &port) != 2)
        fail_msg("FS_REDIS_URL '%s' is not redis://HOST:PORT/DB", url);
    c = redisConnect(host, port);
    if (!c || c->err)
        fail_msg("cannot reach %s: %s", url, c ? c->errstr : "no memory");
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r)
        fail_msg("%s: %s", fmt, c->errstr);
    redisFree(c);
    return r;
}

static long long admin_int(const char *fmt, const char *arg)
{
    redisReply *r = admin(fmt, arg);
    long long v;

    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

static long long admin_dbsize(void)
{
    redisReply *r = admin("DBSIZE");
    long long v;

    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

static void admin_ok(const char *cmd)
{
    redisReply *r = admin(cmd);

    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", cmd, r->str);
    freeReplyObject(r);
}

/* Asks the driver to act on the plain server; waits for its answer. */
static void control(const char *what)
{
    const char *spec = env_or_fail("FS_REDIS_CONTROL");
    int wfd, rfd;
    char line[256];
    size_t got = 0;
    int64_t deadline = mono_ms() + CONTROL_TIMEOUT_MS;

    if (sscanf(spec, "%d:%d", &wfd, &rfd) != 2)
        fail_msg("FS_REDIS_CONTROL '%s' is not W:R", spec);
    snprintf(line, sizeof(line), "%s\n", what);
    assert_int_equal(write(wfd, line, strlen(line)), (ssize_t)strlen(line));
    while (got < sizeof(line) - 1) {
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        int64_t left = deadline - mono_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
            fail_msg("the driver did not answer '%s' within %d ms", what,
                     CONTROL_TIMEOUT_MS);
        n = read(rfd, line + got, 1);
        if (n != 1)
            fail_msg("the driver closed the control pipe during '%s'", what);
        if (line[got++] == '\n')
            break;
    }
    line[got] = '\0';
    if (strcmp(line, "ok\n") != 0)
        fail_msg("the driver could not '%s': %s", what, line);
}

/* ---- fixtures ----------------------------------------------------------- */

static struct kv default_kv[] = {
    {"url", NULL},
    {"reconnect_max_ms", "200"},
};

static int setup(void **state)
{
    struct inv_test *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    admin_ok("FLUSHALL");
    default_kv[0].value = env_or_fail("FS_REDIS_URL");
    inv_open(&t->a, default_kv, 2);
    *state = t;
    return 0;
}

/* For tests that open their own instances. */
static int setup_bare(void **state)
{
    struct inv_test *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct inv_test *t = *state;

    if (t->a.f.handle)
        inv_close(&t->a);
    free(t);
    return 0;
}

static void make_sale(struct inv_test *t, const char *sale, int64_t inventory)
{
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, sale, inventory, NULL, 0),
                     FS_OK);
}

static enum fs_status reserve(struct inv_test *t, const char *user,
                              const char *booking, int64_t expires_ms)
{
    char existing[FS_ID_MAX + 1] = "";
    return t->a.ops->reserve(t->a.f.ctx, SALE, user, booking, expires_ms,
                             existing);
}

static void assert_counts_of(struct inv *x, const char *sale,
                             int64_t inventory, int64_t available,
                             int64_t held, int64_t booked)
{
    struct fs_sale_counts c;

    assert_int_equal(x->ops->counts(x->f.ctx, sale, &c), FS_OK);
    assert_int_equal(c.inventory, inventory);
    assert_int_equal(c.available, available);
    assert_int_equal(c.held, held);
    assert_int_equal(c.booked, booked);
}

static void assert_counts(struct inv_test *t, const char *sale,
                          int64_t inventory, int64_t available, int64_t held,
                          int64_t booked)
{
    assert_counts_of(&t->a, sale, inventory, available, held, booked);
}

static struct fs_hold entry(const char *booking, const char *user,
                            enum fs_booking_state state, int64_t expires_ms)
{
    struct fs_hold h;

    memset(&h, 0, sizeof(h));
    snprintf(h.booking_id, sizeof(h.booking_id), "%s", booking);
    snprintf(h.user_id, sizeof(h.user_id), "%s", user);
    h.state = state;
    h.expires_ms = expires_ms;
    return h;
}

/* Polls counts until Redis answers again, within RECOVER_TIMEOUT_MS. */
static enum fs_status counts_once_back(struct inv *x, const char *sale,
                                       struct fs_sale_counts *c)
{
    int64_t deadline = mono_ms() + RECOVER_TIMEOUT_MS;
    enum fs_status st;

    do {
        st = x->ops->counts(x->f.ctx, sale, c);
    } while (st == FS_UNAVAILABLE && mono_ms() < deadline);
    return st;
}

/* ---- descriptor, options, create ---------------------------------------- */

static const struct fs_option *option(const struct fs_plugin *p,
                                      const char *name)
{
    const struct fs_option *o;

    for (o = p->options; o->type != FS_OPT_END; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    fail_msg("option %s is not declared", name);
    return NULL;
}

static void test_descriptor_is_thread_safe_redis_inventory(void **state)
{
    struct inv_test *t = *state;
    const struct fs_plugin *p = t->a.f.plugin;

    assert_string_equal(p->name, "redis");
    assert_int_equal(p->kind, FS_PLUGIN_INVENTORY);
    assert_int_equal(p->struct_size, sizeof(struct fs_plugin));
    assert_true(p->flags & FS_PLUGIN_THREAD_SAFE);
    assert_non_null(p->inventory);
    assert_null(p->queue);
    assert_null(p->storage);
}

static void test_options_declare_the_documented_defaults(void **state)
{
    struct inv_test *t = *state;
    const struct fs_plugin *p = t->a.f.plugin;

    assert_string_equal(option(p, "url")->default_value,
                        "redis://127.0.0.1:6379/0");
    assert_string_equal(option(p, "prefix")->default_value, "fs");
    assert_string_equal(option(p, "pool_size")->default_value, "8");
    assert_string_equal(option(p, "connect_timeout_ms")->default_value, "1000");
    assert_string_equal(option(p, "command_timeout_ms")->default_value, "1000");
    assert_int_equal(option(p, "tls")->type, FS_OPT_BOOL);
    assert_string_equal(option(p, "tls")->default_value, "false");
    for (const struct fs_option *o = p->options; o->type != FS_OPT_END; o++) {
        assert_true(o->offset < p->config_size);
        assert_non_null(o->description);
    }
}

static void test_health_answers_ping(void **state)
{
    struct inv_test *t = *state;
    char detail[256] = "";

    assert_int_equal(t->a.f.plugin->health(t->a.f.ctx, detail, sizeof(detail)),
                     FS_OK);
    assert_non_null(strstr(detail, "PING"));
}

static void test_create_refuses_tls_saying_hiredis_has_none(void **state)
{
    struct kv kv[] = {{"url", env_or_fail("FS_REDIS_URL")}, {"tls", "true"}};
    char err[512];

    (void)state;
    create_must_fail(kv, 2, err, sizeof(err));
    assert_non_null(strstr(err, "tls"));
    assert_non_null(strstr(err, "hiredis 0.14"));
}

static void test_create_refuses_malformed_urls_with_a_reason(void **state)
{
    static const char *const bad[] = {
        "http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:0",
        "redis://127.0.0.1:65536", "redis://127.0.0.1:63x9",
        "redis://alice@127.0.0.1", "redis://127.0.0.1/one",
        "redis://127.0.0.1/0?timeout=1", "redis://[::1", "redis://:%zz@h",
        "redis://alice:@127.0.0.1", "redis://127.0.0.1:6379:1",
    };
    struct kv kv[] = {{"url", NULL}};
    char err[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kv[0].value = bad[i];
        create_must_fail(kv, 1, err, sizeof(err));
        if (strncmp(err, "url: ", 5) != 0)
            fail_msg("url '%s': message '%s' does not start with 'url: '",
                     bad[i], err);
    }
    kv[0].value = "rediss://127.0.0.1:6379";
    create_must_fail(kv, 1, err, sizeof(err));
    assert_non_null(strstr(err, "TLS"));
}

static void test_create_refuses_bad_numbers_and_prefixes(void **state)
{
    static const struct kv bad[] = {
        {"pool_size", "0"}, {"pool_size", "100000"},
        {"connect_timeout_ms", "0"}, {"command_timeout_ms", "-5"},
        {"reconnect_max_ms", "0"}, {"prefix", ""}, {"prefix", "a{b}"},
        {"prefix", "two words"},
    };
    struct kv kv[2] = {{"url", NULL}, {NULL, NULL}};
    char err[512];
    size_t i;

    (void)state;
    kv[0].value = env_or_fail("FS_REDIS_URL");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kv[1] = bad[i];
        create_must_fail(kv, 2, err, sizeof(err));
        if (strncmp(err, bad[i].key, strlen(bad[i].key)) != 0)
            fail_msg("%s '%s': message '%s' does not name the option",
                     bad[i].key, bad[i].value, err);
    }
}

/* A port that refuses connections: bound, never listening. */
static int refusing_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void test_create_succeeds_while_redis_is_down_and_ops_fail_fast(
    void **state)
{
    struct inv_test *t = *state;
    char url[64], detail[256] = "";
    struct kv kv[] = {{"url", url}, {"reconnect_max_ms", "1000"}};
    struct fs_sale_counts c;
    int fd, i;
    int64_t start;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", refusing_port(&fd));
    inv_open(&t->a, kv, 2);
    assert_int_equal(t->a.f.plugin->health(t->a.f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    assert_non_null(strstr(detail, "refused"));
    start = mono_ms();
    for (i = 0; i < 200; i++)
        assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c),
                         FS_UNAVAILABLE);
    /* The backoff answers at once: no connect per call. */
    assert_true(mono_ms() - start < 1000);
    close(fd);
}

/* ---- keys, prefix, epoch ------------------------------------------------- */

static void test_keys_of_a_sale_share_its_hash_tag_under_the_prefix(
    void **state)
{
    struct inv_test *t = *state;
    redisReply *r;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b2", NOW), FS_OK);
    assert_int_equal(admin_int("EXISTS %s", "fs:{launch}:meta"), 1);
    assert_int_equal(admin_int("EXISTS %s", "fs:{launch}:users"), 1);
    assert_int_equal(admin_int("EXISTS %s", "fs:{launch}:holds"), 1);
    assert_int_equal(admin_int("EXISTS %s", "fs:{launch}:expiry"), 1);
    assert_int_equal(admin_int("ZCARD %s", "fs:{launch}:expiry"), 1);
    r = admin("HGET fs:{launch}:users alice");
    assert_string_equal(r->str, "b1");
    freeReplyObject(r);
    r = admin("HGET fs:{launch}:holds b1");
    assert_string_equal(r->str, "H|4102444800000|alice");
    freeReplyObject(r);
    r = admin("HGET fs:{launch}:holds b2");
    assert_string_equal(r->str, "B|0|bob");
    freeReplyObject(r);
    r = admin("HMGET fs:{launch}:meta inventory available held booked");
    assert_int_equal(r->elements, 4);
    assert_string_equal(r->element[0]->str, "10");
    assert_string_equal(r->element[1]->str, "8");
    assert_string_equal(r->element[2]->str, "1");
    assert_string_equal(r->element[3]->str, "1");
    freeReplyObject(r);
    assert_int_equal(admin_dbsize(), 4);
}

static void test_rebuild_stamps_the_sale_epoch_with_the_callers_clock(
    void **state)
{
    struct inv_test *t = *state;
    redisReply *r;

    test_clock_ms = NOW + 42;
    make_sale(t, SALE, 10);
    test_clock_ms = 0;
    r = admin("HGET fs:{launch}:meta epoch");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "1767225600042");
    freeReplyObject(r);
}

static void test_prefixes_keep_two_deployments_apart(void **state)
{
    struct inv_test *t = *state;
    struct kv kv[] = {{"url", env_or_fail("FS_REDIS_URL")}, {"prefix", "other"}};
    struct inv b;
    struct fs_sale_counts c;

    memset(&b, 0, sizeof(b));
    inv_open(&b, kv, 2);
    make_sale(t, SALE, 10);
    assert_int_equal(b.ops->counts(b.f.ctx, SALE, &c), FS_NOT_FOUND);
    assert_int_equal(b.ops->rebuild(b.f.ctx, SALE, 3, NULL, 0), FS_OK);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts_of(&b, SALE, 3, 3, 0, 0);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(admin_int("EXISTS %s", "other:{launch}:meta"), 1);
    inv_close(&b);
}

static void test_two_instances_on_one_prefix_share_the_sale(void **state)
{
    struct inv_test *t = *state;
    struct inv b;
    char existing[FS_ID_MAX + 1] = "";

    memset(&b, 0, sizeof(b));
    inv_open(&b, default_kv, 2);
    make_sale(t, SALE, 10);
    assert_int_equal(b.ops->rebuild(b.f.ctx, SALE, 10, NULL, 0), FS_CONFLICT);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(b.ops->reserve(b.f.ctx, SALE, "alice", "b2", FAR_FUTURE,
                                    existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
    assert_counts_of(&b, SALE, 10, 9, 1, 0);
    inv_close(&b);
}

static void test_a_lost_meta_key_makes_the_sale_unknown_until_rebuilt(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_sale_counts c;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    admin_ok("DEL fs:{launch}:meta");
    assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c), FS_NOT_FOUND);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_NOT_FOUND);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h),
                     FS_NOT_FOUND);
    /* Storage no longer knows b1: the rebuild drops the leftovers. */
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, NULL, 0), FS_OK);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(reserve(t, "alice", "b3", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h),
                     FS_NOT_FOUND);
}

static void test_scripts_flushed_from_redis_are_sent_again(void **state)
{
    struct inv_test *t = *state;
    int i;

    make_sale(t, SALE, 20);
    admin_ok("SCRIPT FLUSH");
    /* Every pooled connection meets NOSCRIPT once and falls back to EVAL. */
    for (i = 0; i < 20; i++) {
        char user[16], booking[16];

        snprintf(user, sizeof(user), "u%d", i);
        snprintf(booking, sizeof(booking), "b%d", i);
        assert_int_equal(reserve(t, user, booking, FAR_FUTURE), FS_OK);
    }
    assert_counts(t, SALE, 20, 0, 20, 0);
}

static void test_connections_closed_by_redis_are_replaced_unnoticed(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_sale_counts c;
    int i;

    make_sale(t, SALE, 10);
    for (i = 0; i < 3; i++) {
        admin_ok("CLIENT KILL TYPE normal");
        assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c), FS_OK);
        assert_int_equal(reserve(t, i == 0 ? "a" : i == 1 ? "b" : "c",
                                 i == 0 ? "b0" : i == 1 ? "b1" : "b2",
                                 FAR_FUTURE),
                         FS_OK);
    }
    assert_counts(t, SALE, 10, 7, 3, 0);
}

static void test_times_come_from_the_caller_not_the_redis_clock(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[2];
    size_t n = 9;

    make_sale(t, SALE, 10);
    /* Long past by any real clock, yet in the caller's future. */
    assert_int_equal(reserve(t, "alice", "b1", 1000), FS_OK);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, 999, out, 2, &n),
                     FS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", 999), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_a_slow_redis_answers_unavailable_within_the_timeout(
    void **state)
{
    struct inv_test *t = *state;
    struct kv kv[] = {{"url", env_or_fail("FS_REDIS_URL")},
                      {"command_timeout_ms", "300"}};
    struct fs_sale_counts c;
    struct inv b;
    int64_t start, took;
    enum fs_status st;

    memset(&b, 0, sizeof(b));
    inv_open(&b, kv, 2);
    make_sale(t, SALE, 10);
    assert_int_equal(b.ops->counts(b.f.ctx, SALE, &c), FS_OK);
    /* WRITE pauses every script (none is flagged no-writes) but lets the
     * UNPAUSE below through. */
    admin_ok("CLIENT PAUSE 10000 WRITE");
    start = mono_ms();
    st = b.ops->counts(b.f.ctx, SALE, &c);
    took = mono_ms() - start;
    admin_ok("CLIENT UNPAUSE");
    assert_int_equal(st, FS_UNAVAILABLE);
    assert_true(took >= 250);
    assert_true(took < 3000);
    assert_int_equal(counts_once_back(&b, SALE, &c), FS_OK);
    assert_int_equal(c.available, 10);
    inv_close(&b);
}

/* ---- AUTH and SELECT ---------------------------------------------------- */

static void test_password_in_the_url_authenticates(void **state)
{
    struct inv_test *t = *state;
    struct kv kv[] = {{"url", env_or_fail("FS_REDIS_AUTH_URL")}};
    char detail[256] = "";

    inv_open(&t->a, kv, 1);
    assert_int_equal(t->a.f.plugin->health(t->a.f.ctx, detail, sizeof(detail)),
                     FS_OK);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, "pw-sale", 2, NULL, 0),
                     FS_OK);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, "pw-sale", "alice", "b1",
                                       FAR_FUTURE, NULL),
                     FS_OK);
    assert_counts(t, "pw-sale", 2, 1, 1, 0);
}

static void test_acl_user_with_encoded_password_and_database_works(
    void **state)
{
    struct inv_test *t = *state;
    struct kv acl[] = {{"url", env_or_fail("FS_REDIS_ACL_URL")}};
    struct kv db0[] = {{"url", env_or_fail("FS_REDIS_AUTH_URL")}};
    struct fs_sale_counts c;
    struct inv b;
    char detail[256] = "";

    inv_open(&t->a, acl, 1);
    assert_int_equal(t->a.f.plugin->health(t->a.f.ctx, detail, sizeof(detail)),
                     FS_OK);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, "acl-sale", 3, NULL, 0),
                     FS_OK);
    assert_counts(t, "acl-sale", 3, 3, 0, 0);
    /* The ACL url selects database 1: database 0 does not see the sale. */
    memset(&b, 0, sizeof(b));
    inv_open(&b, db0, 1);
    assert_int_equal(b.ops->counts(b.f.ctx, "acl-sale", &c), FS_NOT_FOUND);
    inv_close(&b);
}

static void test_wrong_or_missing_password_is_unavailable_with_a_reason(
    void **state)
{
    struct inv_test *t = *state;
    struct kv bad[] = {{"url", env_or_fail("FS_REDIS_BADAUTH_URL")}};
    struct kv none[] = {{"url", env_or_fail("FS_REDIS_NOAUTH_URL")}};
    struct fs_sale_counts c;
    struct inv b;
    char detail[256] = "";

    inv_open(&t->a, bad, 1);
    assert_int_equal(t->a.f.plugin->health(t->a.f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    assert_non_null(strstr(detail, "AUTH"));
    assert_int_equal(t->a.ops->counts(t->a.f.ctx, "x", &c), FS_UNAVAILABLE);
    memset(&b, 0, sizeof(b));
    inv_open(&b, none, 1);
    assert_int_equal(b.f.plugin->health(b.f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    assert_non_null(strstr(detail, "NOAUTH"));
    inv_close(&b);
}

/* ---- counts and rebuild ------------------------------------------------- */

static void test_counts_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;
    struct fs_sale_counts c;

    assert_int_equal(t->a.ops->counts(t->a.f.ctx, "nope", &c), FS_NOT_FOUND);
}

static void test_rebuild_installs_empty_sale_with_every_item_available(
    void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_counts_held_and_booked_entries(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e[3] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "bob", FS_STATE_BOOKED, 0),
        entry("b3", "carol", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_hold h;

    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 5, e, 3), FS_OK);
    assert_counts(t, SALE, 5, 2, 2, 1);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b2", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_BOOKED);
    assert_string_equal(h.user_id, "bob");
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_HOLD);
    assert_int_equal(h.expires_ms, FAR_FUTURE);
}

static void test_rebuild_refuses_sale_already_present(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE);

    make_sale(t, SALE, 10);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 3, &e, 1),
                     FS_CONFLICT);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_refuses_more_entries_than_inventory(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "bob", FS_STATE_BOOKED, 0),
    };
    struct fs_sale_counts c;

    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 1, e, 2), FS_INVALID);
    assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c), FS_NOT_FOUND);
    assert_int_equal(admin_dbsize(), 0);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 2, e, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 1, 1);
}

static void test_rebuild_refuses_entries_that_break_the_rules(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold same_user[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b2", "alice", FS_STATE_BOOKED, 0),
    };
    struct fs_hold same_booking[2] = {
        entry("b1", "alice", FS_STATE_HOLD, FAR_FUTURE),
        entry("b1", "bob", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_hold queued = entry("b1", "alice", FS_STATE_QUEUED, 0);
    struct fs_hold no_user = entry("b1", "", FS_STATE_HOLD, FAR_FUTURE);
    struct fs_hold bad_id = entry("b{1}", "alice", FS_STATE_HOLD, FAR_FUTURE);
    struct fs_sale_counts c;

    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, same_user, 2),
                     FS_INVALID);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, same_booking, 2),
                     FS_INVALID);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, &queued, 1),
                     FS_INVALID);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, &no_user, 1),
                     FS_INVALID);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, &bad_id, 1),
                     FS_INVALID);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, -1, NULL, 0),
                     FS_INVALID);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, "a}b", 1, NULL, 0),
                     FS_INVALID);
    assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c), FS_NOT_FOUND);
    /* Refused in the script too: nothing was written. */
    assert_int_equal(admin_dbsize(), 0);
}

static void test_rebuild_restores_the_one_per_user_rule(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_BOOKED, 0);
    char existing[FS_ID_MAX + 1] = "";

    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, &e, 1), FS_OK);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, SALE, "alice", "b9",
                                       FAR_FUTURE, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
}

static void test_rebuilt_holds_expire_like_reserved_ones(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e = entry("b1", "alice", FS_STATE_HOLD, NOW);
    struct fs_hold out[4];
    size_t n = 0;

    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, &e, 1), FS_OK);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 4, &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].booking_id, "b1");
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_rebuild_installs_thousands_of_entries_in_one_step(
    void **state)
{
    struct inv_test *t = *state;
    enum { N = 5000 };
    struct fs_hold *e = calloc(N, sizeof(*e));
    char booking[32], user[32];
    int i;

    assert_non_null(e);
    for (i = 0; i < N; i++) {
        snprintf(booking, sizeof(booking), "b%d", i);
        snprintf(user, sizeof(user), "user|%d", i);  /* '|' is data too */
        e[i] = entry(booking, user, i % 2 ? FS_STATE_BOOKED : FS_STATE_HOLD,
                     FAR_FUTURE);
    }
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, N + 1, e, N), FS_OK);
    assert_counts(t, SALE, N + 1, 1, N / 2, N / 2);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b4999", e), FS_OK);
    assert_string_equal(e[0].user_id, "user|4999");
    free(e);
}

/* ---- reserve ------------------------------------------------------------ */

static void test_reserve_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;

    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_NOT_FOUND);
    assert_int_equal(admin_dbsize(), 0);
}

static void test_reserve_takes_one_item_and_records_the_hold(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h), FS_OK);
    assert_string_equal(h.booking_id, "b1");
    assert_string_equal(h.user_id, "alice");
    assert_int_equal(h.state, FS_STATE_HOLD);
    assert_int_equal(h.expires_ms, FAR_FUTURE);
}

static void test_reserve_is_idempotent_by_booking_id(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_reserve_refuses_second_booking_for_same_user(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, SALE, "alice", "b2",
                                       FAR_FUTURE, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
    assert_counts(t, SALE, 10, 9, 1, 0);
}

static void test_reserve_refuses_user_who_booked(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, SALE, "alice", "b2",
                                       FAR_FUTURE, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
}

static void test_reserve_refuses_user_whose_hold_expired_until_swept(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[1];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_DUPLICATE);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 1, &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_OK);
}

static void test_reserve_refuses_booking_id_of_another_user(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b1", FAR_FUTURE), FS_CONFLICT);
    assert_counts(t, SALE, 10, 9, 1, 0);
}

static void test_reserve_refuses_when_sold_out(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 2);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_SOLD_OUT);
    assert_counts(t, SALE, 2, 0, 2, 0);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b3", &h),
                     FS_NOT_FOUND);
}

static void test_reserve_checks_duplicate_before_sold_out(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 1);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, SALE, "alice", "b2",
                                       FAR_FUTURE, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
}

static void test_reserve_refuses_malformed_ids(void **state)
{
    struct inv_test *t = *state;
    char long_id[FS_ID_MAX + 2];
    char long_user[FS_USER_MAX + 2];

    memset(long_id, 'b', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(long_user, 'u', sizeof(long_user) - 1);
    long_user[sizeof(long_user) - 1] = '\0';
    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "", "b1", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, "alice", "", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, "alice", long_id, FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, long_user, "b1", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, NULL, "b1", FAR_FUTURE), FS_INVALID);
    assert_int_equal(reserve(t, "alice", "b 1", FAR_FUTURE), FS_INVALID);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_reserve_accepts_ids_of_maximum_length(void **state)
{
    struct inv_test *t = *state;
    char id[FS_ID_MAX + 1];
    char user[FS_USER_MAX + 1];
    struct fs_hold h;

    memset(id, 'b', FS_ID_MAX);
    id[FS_ID_MAX] = '\0';
    memset(user, 'u', FS_USER_MAX);
    user[FS_USER_MAX] = '\0';
    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, user, id, FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, id, &h), FS_OK);
    assert_string_equal(h.booking_id, id);
    assert_string_equal(h.user_id, user);
}

static void test_reserve_keeps_any_bytes_of_a_user_id(void **state)
{
    struct inv_test *t = *state;
    static const char user[] = "\"ali|ce\" {x} \\ \xc3\xa9";
    struct fs_hold h;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, user, "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h), FS_OK);
    assert_string_equal(h.user_id, user);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, SALE, user, "b2",
                                       FAR_FUTURE, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
}

static void test_reserve_lets_user_book_again_after_release(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 1);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"), FS_OK);
    assert_int_equal(reserve(t, "alice", "b2", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 1, 0, 1, 0);
}

/* ---- confirm ------------------------------------------------------------ */

static void test_confirm_books_a_live_hold(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_BOOKED);
    assert_int_equal(admin_int("ZCARD %s", "fs:{launch}:expiry"), 0);
}

static void test_confirm_is_idempotent_when_already_booked(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW + 5000),
                     FS_OK);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_confirm_reports_expired_without_giving_item_back(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW),
                     FS_EXPIRED);
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h), FS_OK);
    assert_int_equal(h.state, FS_STATE_HOLD);
}

static void test_confirm_reports_not_found_without_a_hold(void **state)
{
    struct inv_test *t = *state;

    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW),
                     FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW),
                     FS_NOT_FOUND);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW),
                     FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_confirm_after_expiry_is_swept_reports_not_found(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[2];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW),
                     FS_EXPIRED);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 2, &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW - 1),
                     FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* ---- release ------------------------------------------------------------ */

static void test_release_gives_the_item_back_exactly_once(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"), FS_OK);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"), FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h),
                     FS_NOT_FOUND);
}

static void test_release_refuses_a_booked_item(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"), FS_CONFLICT);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_release_reports_not_found_without_a_hold(void **state)
{
    struct inv_test *t = *state;

    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "never"),
                     FS_NOT_FOUND);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_release_of_an_expired_hold_wins_over_the_sweep(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[2];
    size_t n = 9;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"), FS_OK);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 2, &n),
                     FS_OK);
    assert_int_equal(n, 0);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

/* ---- expire_due --------------------------------------------------------- */

static void test_expire_due_releases_only_due_holds_and_reports_each_once(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[8];
    size_t n = 0;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "due", NOW - 10), FS_OK);
    assert_int_equal(reserve(t, "bob", "edge", NOW), FS_OK);
    assert_int_equal(reserve(t, "carol", "later", NOW + 1), FS_OK);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 8, &n),
                     FS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].state, FS_STATE_HOLD);
    /* Earliest expiry first. */
    assert_string_equal(out[0].booking_id, "due");
    assert_string_equal(out[0].user_id, "alice");
    assert_int_equal(out[0].expires_ms, NOW - 10);
    assert_string_equal(out[1].booking_id, "edge");
    assert_counts(t, SALE, 10, 9, 1, 0);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 8, &n),
                     FS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW + 1, out, 8,
                                          &n),
                     FS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].booking_id, "later");
    assert_string_equal(out[0].user_id, "carol");
    assert_int_equal(out[0].expires_ms, NOW + 1);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_expire_due_reports_at_most_max_per_call(void **state)
{
    struct inv_test *t = *state;
    char user[16], booking[16];
    struct fs_hold out[3];
    size_t n = 0, total = 0;
    int i, calls = 0;

    make_sale(t, SALE, 10);
    for (i = 0; i < 7; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        snprintf(booking, sizeof(booking), "b%d", i);
        assert_int_equal(reserve(t, user, booking, NOW - i), FS_OK);
    }
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 0, &n),
                     FS_OK);
    assert_int_equal(n, 0);
    do {
        assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 3,
                                              &n),
                         FS_OK);
        assert_true(n <= 3);
        total += n;
        calls++;
    } while (n > 0 && calls < 10);
    assert_int_equal(total, 7);
    assert_int_equal(calls, 4);
    assert_counts(t, SALE, 10, 10, 0, 0);
}

static void test_expire_due_never_touches_booked_items(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[2];
    size_t n = 9;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, FAR_FUTURE, out, 2,
                                          &n),
                     FS_OK);
    assert_int_equal(n, 0);
    assert_counts(t, SALE, 10, 9, 0, 1);
}

static void test_expire_due_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[1];
    size_t n = 9;

    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, "nope", NOW, out, 1, &n),
                     FS_NOT_FOUND);
    assert_int_equal(n, 0);
}

/* ---- lookup and set_inventory ------------------------------------------- */

static void test_lookup_reports_not_found_for_unknown_booking_or_sale(
    void **state)
{
    struct inv_test *t = *state;
    struct fs_hold h;

    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h),
                     FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", &h),
                     FS_NOT_FOUND);
}

static void test_find_user_names_the_held_or_booked_item_and_forgets_it_when_released(
    void **state)
{
    struct inv_test *t = *state;
    char id[FS_ID_MAX + 1] = "";
    void *c = t->a.f.ctx;

    assert_int_equal(t->a.ops->find_user(c, SALE, "alice", id), FS_NOT_FOUND);
    make_sale(t, SALE, 10);
    assert_int_equal(t->a.ops->find_user(c, SALE, "alice", id), FS_NOT_FOUND);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->find_user(c, SALE, "alice", id), FS_OK);
    assert_string_equal(id, "b1");
    assert_int_equal(t->a.ops->confirm(c, SALE, "b1", NOW), FS_OK);
    assert_int_equal(t->a.ops->find_user(c, SALE, "alice", id), FS_OK);
    assert_string_equal(id, "b1");
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->release(c, SALE, "b2"), FS_OK);
    assert_int_equal(t->a.ops->find_user(c, SALE, "bob", id), FS_NOT_FOUND);
    assert_int_equal(t->a.ops->find_user(c, SALE, "", id), FS_INVALID);
}

static void test_set_inventory_adjusts_available(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b2", NOW), FS_OK);
    assert_int_equal(t->a.ops->set_inventory(t->a.f.ctx, SALE, 20), FS_OK);
    assert_counts(t, SALE, 20, 18, 1, 1);
    assert_int_equal(t->a.ops->set_inventory(t->a.f.ctx, SALE, 2), FS_OK);
    assert_counts(t, SALE, 2, 0, 1, 1);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_SOLD_OUT);
}

static void test_set_inventory_refuses_below_held_plus_booked(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b2", NOW), FS_OK);
    assert_int_equal(t->a.ops->set_inventory(t->a.f.ctx, SALE, 1), FS_CONFLICT);
    assert_int_equal(t->a.ops->set_inventory(t->a.f.ctx, SALE, -1), FS_INVALID);
    assert_counts(t, SALE, 10, 8, 1, 1);
}

static void test_set_inventory_reports_not_found_for_unknown_sale(void **state)
{
    struct inv_test *t = *state;
    struct fs_sale_counts c;

    assert_int_equal(t->a.ops->set_inventory(t->a.f.ctx, SALE, 5),
                     FS_NOT_FOUND);
    assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c), FS_NOT_FOUND);
    assert_int_equal(admin_dbsize(), 0);
}

static void test_sales_keep_separate_stock_and_users(void **state)
{
    struct inv_test *t = *state;
    char existing[FS_ID_MAX + 1] = "";

    make_sale(t, "a", 1);
    make_sale(t, "b", 1);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, "a", "alice", "a1",
                                       FAR_FUTURE, existing),
                     FS_OK);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, "b", "alice", "b1",
                                       FAR_FUTURE, existing),
                     FS_OK);
    assert_counts(t, "a", 1, 0, 1, 0);
    assert_counts(t, "b", 1, 0, 1, 0);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, "b", "a1"), FS_NOT_FOUND);
}

/* ---- Redis going away --------------------------------------------------- */

static void assert_every_op_unavailable(struct inv_test *t)
{
    struct fs_sale_counts c;
    struct fs_hold h[2];
    size_t n = 9;
    char detail[256] = "";

    assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c), FS_UNAVAILABLE);
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 5, NULL, 0),
                     FS_UNAVAILABLE);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_UNAVAILABLE);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW),
                     FS_UNAVAILABLE);
    assert_int_equal(t->a.ops->release(t->a.f.ctx, SALE, "b1"),
                     FS_UNAVAILABLE);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, h, 2, &n),
                     FS_UNAVAILABLE);
    assert_int_equal(n, 0);
    assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, "b1", h),
                     FS_UNAVAILABLE);
    assert_int_equal(t->a.ops->set_inventory(t->a.f.ctx, SALE, 20),
                     FS_UNAVAILABLE);
    assert_int_equal(t->a.f.plugin->health(t->a.f.ctx, detail, sizeof(detail)),
                     FS_UNAVAILABLE);
    assert_true(detail[0] != '\0');
}

static void test_redis_killed_and_restarted_empty_is_rebuilt(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold e[2] = {
        entry("b1", "alice", FS_STATE_BOOKED, 0),
        entry("b2", "bob", FS_STATE_HOLD, FAR_FUTURE),
    };
    struct fs_sale_counts c;
    char existing[FS_ID_MAX + 1] = "";
    int64_t start;
    int i;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", FAR_FUTURE), FS_OK);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(reserve(t, "bob", "b2", FAR_FUTURE), FS_OK);

    control("kill");
    start = mono_ms();
    assert_every_op_unavailable(t);
    for (i = 0; i < 100; i++)
        assert_int_equal(t->a.ops->counts(t->a.f.ctx, SALE, &c),
                         FS_UNAVAILABLE);
    /* Down means "no" at once, never a hang. */
    assert_true(mono_ms() - start < 2000);

    control("start");
    /* Back, without persistence: the sale is gone, not half there. */
    assert_int_equal(counts_once_back(&t->a, SALE, &c), FS_NOT_FOUND);
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_NOT_FOUND);
    assert_int_equal(admin_dbsize(), 0);
    /* What the core does next: rebuild from storage's truth. */
    assert_int_equal(t->a.ops->rebuild(t->a.f.ctx, SALE, 10, e, 2), FS_OK);
    assert_counts(t, SALE, 10, 8, 1, 1);
    assert_int_equal(t->a.ops->reserve(t->a.f.ctx, SALE, "alice", "b9",
                                       FAR_FUTURE, existing),
                     FS_DUPLICATE);
    assert_string_equal(existing, "b1");
    assert_int_equal(reserve(t, "carol", "b3", FAR_FUTURE), FS_OK);
    assert_counts(t, SALE, 10, 7, 2, 1);
}

/* ---- concurrency -------------------------------------------------------- */

#define THREADS 16
#define USERS_PER_THREAD 150
#define ITEMS 100

struct race {
    struct inv *x;
    pthread_barrier_t go;
    atomic_int done;
    atomic_int ok, sold_out, other;
    atomic_int violations;
    atomic_int confirmed[ITEMS], released[ITEMS], expired[ITEMS];
    atomic_int confirm_errors, release_errors, expire_errors;
};

struct worker {
    struct race *r;
    int id;
};

static void *reserve_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char user[32], booking[32], existing[FS_ID_MAX + 1];
    int i;

    pthread_barrier_wait(&r->go);
    for (i = 0; i < USERS_PER_THREAD; i++) {
        snprintf(user, sizeof(user), "user-%d-%d", w->id, i);
        snprintf(booking, sizeof(booking), "bk-%d-%d", w->id, i);
        switch (r->x->ops->reserve(r->x->f.ctx, SALE, user, booking,
                                   FAR_FUTURE, existing)) {
        case FS_OK: atomic_fetch_add(&r->ok, 1); break;
        case FS_SOLD_OUT: atomic_fetch_add(&r->sold_out, 1); break;
        default: atomic_fetch_add(&r->other, 1); break;
        }
    }
    return NULL;
}

static void *counts_watcher(void *arg)
{
    struct race *r = arg;
    struct fs_sale_counts c;

    pthread_barrier_wait(&r->go);
    while (!atomic_load(&r->done)) {
        if (r->x->ops->counts(r->x->f.ctx, SALE, &c) != FS_OK ||
            c.held + c.booked > c.inventory ||
            c.available + c.held + c.booked != c.inventory || c.available < 0)
            atomic_fetch_add(&r->violations, 1);
    }
    return NULL;
}

static void run_race(struct race *r, void *(*fn)(void *))
{
    struct worker w[THREADS];
    pthread_t th[THREADS], watcher;
    int i;

    pthread_barrier_init(&r->go, NULL, THREADS + 1);
    for (i = 0; i < THREADS; i++) {
        w[i] = (struct worker){r, i};
        assert_int_equal(pthread_create(&th[i], NULL, fn, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&watcher, NULL, counts_watcher, r), 0);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&r->done, 1);
    pthread_join(watcher, NULL);
    pthread_barrier_destroy(&r->go);
}

static void reserve_race(struct inv_test *t)
{
    struct race *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->x = &t->a;
    make_sale(t, SALE, ITEMS);
    run_race(r, reserve_worker);
    assert_int_equal(atomic_load(&r->ok), ITEMS);
    assert_int_equal(atomic_load(&r->sold_out),
                     THREADS * USERS_PER_THREAD - ITEMS);
    assert_int_equal(atomic_load(&r->other), 0);
    assert_int_equal(atomic_load(&r->violations), 0);
    assert_counts(t, SALE, ITEMS, 0, ITEMS, 0);
    free(r);
}

static void test_concurrent_reserves_never_oversell(void **state)
{
    reserve_race(*state);
}

static void test_a_pool_of_one_connection_serves_sixteen_threads(void **state)
{
    struct inv_test *t = *state;
    struct kv kv[] = {{"url", env_or_fail("FS_REDIS_URL")},
                      {"pool_size", "1"}};

    inv_close(&t->a);
    inv_open(&t->a, kv, 2);
    reserve_race(t);
}

static void *same_user_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    char booking[32], existing[FS_ID_MAX + 1] = "";
    struct fs_hold h;

    snprintf(booking, sizeof(booking), "bk-%d", w->id);
    pthread_barrier_wait(&r->go);
    switch (r->x->ops->reserve(r->x->f.ctx, SALE, "alice", booking, FAR_FUTURE,
                               existing)) {
    case FS_OK: atomic_fetch_add(&r->ok, 1); break;
    case FS_DUPLICATE:
        if (strncmp(existing, "bk-", 3) == 0 &&
            r->x->ops->lookup(r->x->f.ctx, SALE, existing, &h) == FS_OK)
            atomic_fetch_add(&r->sold_out, 1);
        else
            atomic_fetch_add(&r->other, 1);
        break;
    default: atomic_fetch_add(&r->other, 1); break;
    }
    return NULL;
}

static void test_concurrent_reserves_by_one_user_take_one_item(void **state)
{
    struct inv_test *t = *state;
    struct race *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->x = &t->a;
    make_sale(t, SALE, ITEMS);
    run_race(r, same_user_worker);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->sold_out), THREADS - 1);
    assert_int_equal(atomic_load(&r->other), 0);
    assert_counts(t, SALE, ITEMS, ITEMS - 1, 1, 0);
    free(r);
}

static void *rebuild_worker(void *arg)
{
    struct worker *w = arg;
    struct race *r = w->r;
    enum fs_status st;

    pthread_barrier_wait(&r->go);
    st = r->x->ops->rebuild(r->x->f.ctx, "fresh", ITEMS + w->id, NULL, 0);
    if (st == FS_OK)
        atomic_fetch_add(&r->ok, 1);
    else if (st == FS_CONFLICT)
        atomic_fetch_add(&r->sold_out, 1);
    else
        atomic_fetch_add(&r->other, 1);
    return NULL;
}

static void test_concurrent_rebuilds_install_the_sale_once(void **state)
{
    struct inv_test *t = *state;
    struct race *r = calloc(1, sizeof(*r));
    struct fs_sale_counts c;

    assert_non_null(r);
    r->x = &t->a;
    make_sale(t, SALE, 1);
    run_race(r, rebuild_worker);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->sold_out), THREADS - 1);
    assert_int_equal(atomic_load(&r->other), 0);
    assert_int_equal(t->a.ops->counts(t->a.f.ctx, "fresh", &c), FS_OK);
    assert_int_equal(c.available, c.inventory);
    free(r);
}

static void confirm_all(struct race *r, int offset)
{
    char booking[16];
    int i, b;
    enum fs_status st;

    for (i = 0; i < ITEMS; i++) {
        b = (i + offset) % ITEMS;
        snprintf(booking, sizeof(booking), "b%03d", b);
        st = r->x->ops->confirm(r->x->f.ctx, SALE, booking, NOW - 1);
        if (st == FS_OK)
            atomic_fetch_add(&r->confirmed[b], 1);
        else if (st != FS_NOT_FOUND)
            atomic_fetch_add(&r->confirm_errors, 1);
    }
}

static void release_all(struct race *r, int offset)
{
    char booking[16];
    int i, b;
    enum fs_status st;

    for (i = 0; i < ITEMS; i++) {
        b = (i + offset) % ITEMS;
        snprintf(booking, sizeof(booking), "b%03d", b);
        st = r->x->ops->release(r->x->f.ctx, SALE, booking);
        if (st == FS_OK)
            atomic_fetch_add(&r->released[b], 1);
        else if (st != FS_NOT_FOUND && st != FS_CONFLICT)
            atomic_fetch_add(&r->release_errors, 1);
    }
}

static void expire_all(struct race *r)
{
    struct fs_hold out[7];
    size_t n, i;
    int b;

    do {
        if (r->x->ops->expire_due(r->x->f.ctx, SALE, NOW, out, 7, &n) !=
            FS_OK) {
            atomic_fetch_add(&r->expire_errors, 1);
            return;
        }
        for (i = 0; i < n; i++) {
            if (sscanf(out[i].booking_id, "b%d", &b) == 1 && b >= 0 &&
                b < ITEMS)
                atomic_fetch_add(&r->expired[b], 1);
            else
                atomic_fetch_add(&r->expire_errors, 1);
        }
    } while (n > 0);
}

static void *settle_worker(void *arg)
{
    struct worker *w = arg;

    pthread_barrier_wait(&w->r->go);
    switch (w->id % 3) {
    case 0: confirm_all(w->r, w->id * 7); break;
    case 1: release_all(w->r, w->id * 7); break;
    default: expire_all(w->r); break;
    }
    return NULL;
}

static void test_concurrent_confirm_release_expire_settle_each_hold_once(
    void **state)
{
    struct inv_test *t = *state;
    struct race *r = calloc(1, sizeof(*r));
    char user[16], booking[16];
    int b, booked = 0, returned = 0, given_back;
    struct fs_hold h;

    assert_non_null(r);
    r->x = &t->a;
    make_sale(t, SALE, ITEMS);
    for (b = 0; b < ITEMS; b++) {
        snprintf(user, sizeof(user), "u%03d", b);
        snprintf(booking, sizeof(booking), "b%03d", b);
        assert_int_equal(reserve(t, user, booking, NOW), FS_OK);
    }
    run_race(r, settle_worker);
    assert_int_equal(atomic_load(&r->confirm_errors), 0);
    assert_int_equal(atomic_load(&r->release_errors), 0);
    assert_int_equal(atomic_load(&r->expire_errors), 0);
    assert_int_equal(atomic_load(&r->violations), 0);
    for (b = 0; b < ITEMS; b++) {
        snprintf(booking, sizeof(booking), "b%03d", b);
        given_back = atomic_load(&r->released[b]) + atomic_load(&r->expired[b]);
        assert_true(given_back <= 1);
        if (atomic_load(&r->confirmed[b])) {
            assert_int_equal(given_back, 0);
            assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, booking, &h),
                             FS_OK);
            assert_int_equal(h.state, FS_STATE_BOOKED);
            booked++;
        } else {
            assert_int_equal(given_back, 1);
            assert_int_equal(t->a.ops->lookup(t->a.f.ctx, SALE, booking, &h),
                             FS_NOT_FOUND);
            returned++;
        }
    }
    assert_int_equal(booked + returned, ITEMS);
    assert_counts(t, SALE, ITEMS, ITEMS - booked, 0, booked);
    free(r);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define B(name) cmocka_unit_test_setup_teardown(name, setup_bare, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor_is_thread_safe_redis_inventory),
        T(test_options_declare_the_documented_defaults),
        T(test_health_answers_ping),
        B(test_create_refuses_tls_saying_hiredis_has_none),
        B(test_create_refuses_malformed_urls_with_a_reason),
        B(test_create_refuses_bad_numbers_and_prefixes),
        B(test_create_succeeds_while_redis_is_down_and_ops_fail_fast),
        T(test_keys_of_a_sale_share_its_hash_tag_under_the_prefix),
        T(test_rebuild_stamps_the_sale_epoch_with_the_callers_clock),
        T(test_prefixes_keep_two_deployments_apart),
        T(test_two_instances_on_one_prefix_share_the_sale),
        T(test_a_lost_meta_key_makes_the_sale_unknown_until_rebuilt),
        T(test_scripts_flushed_from_redis_are_sent_again),
        T(test_connections_closed_by_redis_are_replaced_unnoticed),
        T(test_times_come_from_the_caller_not_the_redis_clock),
        T(test_a_slow_redis_answers_unavailable_within_the_timeout),
        B(test_password_in_the_url_authenticates),
        B(test_acl_user_with_encoded_password_and_database_works),
        B(test_wrong_or_missing_password_is_unavailable_with_a_reason),
        T(test_counts_reports_not_found_for_unknown_sale),
        T(test_rebuild_installs_empty_sale_with_every_item_available),
        T(test_rebuild_counts_held_and_booked_entries),
        T(test_rebuild_refuses_sale_already_present),
        T(test_rebuild_refuses_more_entries_than_inventory),
        T(test_rebuild_refuses_entries_that_break_the_rules),
        T(test_rebuild_restores_the_one_per_user_rule),
        T(test_rebuilt_holds_expire_like_reserved_ones),
        T(test_rebuild_installs_thousands_of_entries_in_one_step),
        T(test_reserve_reports_not_found_for_unknown_sale),
        T(test_reserve_takes_one_item_and_records_the_hold),
        T(test_reserve_is_idempotent_by_booking_id),
        T(test_reserve_refuses_second_booking_for_same_user),
        T(test_reserve_refuses_user_who_booked),
        T(test_reserve_refuses_user_whose_hold_expired_until_swept),
        T(test_reserve_refuses_booking_id_of_another_user),
        T(test_reserve_refuses_when_sold_out),
        T(test_reserve_checks_duplicate_before_sold_out),
        T(test_reserve_refuses_malformed_ids),
        T(test_reserve_accepts_ids_of_maximum_length),
        T(test_reserve_keeps_any_bytes_of_a_user_id),
        T(test_reserve_lets_user_book_again_after_release),
        T(test_confirm_books_a_live_hold),
        T(test_confirm_is_idempotent_when_already_booked),
        T(test_confirm_reports_expired_without_giving_item_back),
        T(test_confirm_reports_not_found_without_a_hold),
        T(test_confirm_after_expiry_is_swept_reports_not_found),
        T(test_release_gives_the_item_back_exactly_once),
        T(test_release_refuses_a_booked_item),
        T(test_release_reports_not_found_without_a_hold),
        T(test_release_of_an_expired_hold_wins_over_the_sweep),
        T(test_expire_due_releases_only_due_holds_and_reports_each_once),
        T(test_expire_due_reports_at_most_max_per_call),
        T(test_expire_due_never_touches_booked_items),
        T(test_expire_due_reports_not_found_for_unknown_sale),
        T(test_lookup_reports_not_found_for_unknown_booking_or_sale),
        T(test_find_user_names_the_held_or_booked_item_and_forgets_it_when_released),
        T(test_set_inventory_adjusts_available),
        T(test_set_inventory_refuses_below_held_plus_booked),
        T(test_set_inventory_reports_not_found_for_unknown_sale),
        T(test_sales_keep_separate_stock_and_users),
        T(test_concurrent_reserves_never_oversell),
        T(test_a_pool_of_one_connection_serves_sixteen_threads),
        T(test_concurrent_reserves_by_one_user_take_one_item),
        T(test_concurrent_rebuilds_install_the_sale_once),
        T(test_concurrent_confirm_release_expire_settle_each_hold_once),
        T(test_redis_killed_and_restarted_empty_is_rebuilt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
