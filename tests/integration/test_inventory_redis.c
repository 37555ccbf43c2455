/*
 * test_inventory_redis.c - the Redis inventory plugin (inventory_redis.so)
 * against real redis-servers: the inventory contract (tests/contract, every
 * operation of fs_plugin.h and the invariants of DESIGN.md section 4 under
 * 16 threads) run through a fixture that empties the server for each test,
 * and what is Redis' own: keys and hash tags, the prefix, the id grammar,
 * URLs and AUTH, script reloading, timeouts, a pool of one connection, and
 * the server going away and coming back empty.
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
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
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
#include "hang_bound.h"
#include "plugin_fixture.h"
#include "../contract/inventory_contract.h"

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

#define mono_ms fs_test_now_ms

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
    int64_t deadline = mono_ms() + fs_test_hang_bound_ms(CONTROL_TIMEOUT_MS);

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
    inventory_contract_assert_counts(x->ops, x->f.ctx, sale, inventory,
                                     available, held, booked);
}

static void assert_counts(struct inv_test *t, const char *sale,
                          int64_t inventory, int64_t available, int64_t held,
                          int64_t booked)
{
    assert_counts_of(&t->a, sale, inventory, available, held, booked);
}

#define entry inventory_contract_hold

/* Polls counts until Redis answers again, within RECOVER_TIMEOUT_MS. */
static enum fs_status counts_once_back(struct inv *x, const char *sale,
                                       struct fs_sale_counts *c)
{
    int64_t deadline = mono_ms() + fs_test_hang_bound_ms(RECOVER_TIMEOUT_MS);
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

    /* Kind, size and operations: the contract's descriptor test. */
    assert_string_equal(p->name, "redis");
    assert_true(p->flags & FS_PLUGIN_THREAD_SAFE);
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
    /* The backoff answers without waiting (a hang would show here). */
    assert_true(mono_ms() - start < fs_test_hang_bound_ms(10000));
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
    assert_true(took >= 250);  /* it waited for its command timeout */
    assert_true(took < fs_test_hang_bound_ms(10000));  /* and no longer */
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

/* ---- what Redis adds to the contract ------------------------------------ */

static void test_expire_due_reports_the_earliest_expiry_first(void **state)
{
    struct inv_test *t = *state;
    struct fs_hold out[8];
    size_t n = 0;

    make_sale(t, SALE, 10);
    /* Reserved latest expiry first: the order comes from the expiry index. */
    assert_int_equal(reserve(t, "carol", "later", NOW + 1), FS_OK);
    assert_int_equal(reserve(t, "bob", "edge", NOW), FS_OK);
    assert_int_equal(reserve(t, "alice", "due", NOW - 10), FS_OK);
    assert_int_equal(t->a.ops->expire_due(t->a.f.ctx, SALE, NOW, out, 8, &n),
                     FS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].booking_id, "due");
    assert_string_equal(out[0].user_id, "alice");
    assert_int_equal(out[0].expires_ms, NOW - 10);
    assert_string_equal(out[1].booking_id, "edge");
}

static void test_confirm_takes_the_hold_off_the_expiry_index(void **state)
{
    struct inv_test *t = *state;

    make_sale(t, SALE, 10);
    assert_int_equal(reserve(t, "alice", "b1", NOW + 1), FS_OK);
    assert_int_equal(admin_int("ZCARD %s", "fs:{launch}:expiry"), 1);
    assert_int_equal(t->a.ops->confirm(t->a.f.ctx, SALE, "b1", NOW), FS_OK);
    assert_int_equal(admin_int("ZCARD %s", "fs:{launch}:expiry"), 0);
}

/* ---- Redis going away --------------------------------------------------- */

static int no_claim_expected(void *arg, const struct fs_hold *c)
{
    (void)arg;
    fail_msg("list_durable reported %s while Redis was down", c->booking_id);
    return 1;
}

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
    assert_int_equal(t->a.f.plugin->claims->list_durable(
                         t->a.f.ctx, SALE, no_claim_expected, NULL),
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
    /* Down means "no", never a hang. */
    assert_true(mono_ms() - start < fs_test_hang_bound_ms(10000));

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

/* ---- the inventory contract, run against Redis -------------------------- */

/* A fixture's plugin options; kv[0] is the url, filled in at create. */
struct redis_fixture_options {
    struct kv *kv;
    size_t n;
};

/* A fresh instance on an emptied server, like setup(). */
static void redis_create(const struct inventory_fixture *fx,
                         struct inventory_instance *out)
{
    const struct redis_fixture_options *o = fx->arg;
    struct inv *x = calloc(1, sizeof(*x));

    assert_non_null(x);
    out->fixture_data = x;
    admin_ok("FLUSHALL");
    o->kv[0].value = env_or_fail("FS_REDIS_URL");
    inv_open(x, o->kv, o->n);
    out->plugin = x->f.plugin;
    out->ctx = x->f.ctx;
}

static void redis_destroy(const struct inventory_fixture *fx,
                          struct inventory_instance *in)
{
    (void)fx;
    inv_close(in->fixture_data);
    free(in->fixture_data);
}

static void redis_assert_stores_nothing(const struct inventory_fixture *fx,
                                        const struct inventory_instance *in)
{
    (void)fx;
    (void)in;
    assert_int_equal(admin_dbsize(), 0);
}

static struct kv pool_of_one_kv[] = {
    {"url", NULL},
    {"pool_size", "1"},
};

static const struct redis_fixture_options default_options = {default_kv, 2};
static const struct redis_fixture_options pool_of_one_options = {
    pool_of_one_kv, 2};

static const struct inventory_fixture redis_fixture = {
    .name = "redis",
    .create = redis_create,
    .destroy = redis_destroy,
    .assert_stores_nothing = redis_assert_stores_nothing,
    .race_users_per_thread = 150,
    .arg = &default_options,
};

/* For the reserve race alone, which needs nothing more. */
static const struct inventory_fixture redis_pool_of_one_fixture = {
    .name = "redis, pool_size 1",
    .create = redis_create,
    .destroy = redis_destroy,
    .arg = &pool_of_one_options,
};

/* The contract's reserve race, every thread waiting for the one connection. */
static void test_a_pool_of_one_connection_serves_sixteen_threads(void **state)
{
    inventory_contract_test_concurrent_reserves_never_oversell(state);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define B(name) cmocka_unit_test_setup_teardown(name, setup_bare, teardown)
/* A contract test under another fixture of this plugin. */
#define P(name, fixture)                                                   \
    cmocka_unit_test_prestate_setup_teardown(name, inventory_contract_setup, \
                                             inventory_contract_teardown,  \
                                             (void *)&fixture)

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
        T(test_expire_due_reports_the_earliest_expiry_first),
        T(test_confirm_takes_the_hold_off_the_expiry_index),
        P(test_a_pool_of_one_connection_serves_sixteen_threads,
          redis_pool_of_one_fixture),
        /* Last: it restarts the server. */
        T(test_redis_killed_and_restarted_empty_is_rebuilt),
    };
    int failed = inventory_contract_run(&redis_fixture);

    failed += cmocka_run_group_tests_name("inventory_redis", tests, NULL,
                                          NULL);
    /* Not the count: 77 and 99 mean "skipped" and "hard error" to automake. */
    return failed ? 1 : 0;
}
