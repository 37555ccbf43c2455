/*
 * test_config.c - the config loader: the shipped sample, defaults, every
 * class of error with its line and key, path resolution, the JWT secret
 * file, RFC 3339, and plugin option tables.
 *
 * Each test writes its YAML into a private temporary folder (mkdtemp and
 * mkstemp), so relative paths and secret files can sit beside the config.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "jwks.h"

#define MAX_FILES 16

struct tmp {
    char dir[64];
    char files[MAX_FILES][96];
    size_t n;
    char err[FS_CONFIG_ERR_MAX];
};

static int setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/fs_test_config.XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;
    for (size_t i = 0; i < t->n; i++)
        unlink(t->files[i]);
    rmdir(t->dir);
    free(t);
    return 0;
}

/* Writes text into a new file of the test's folder and returns its path. */
static const char *write_file(struct tmp *t, const char *text)
{
    char dir[sizeof(t->dir)];
    char *path;
    int fd;
    assert_true(t->n < MAX_FILES);
    path = t->files[t->n];
    /* Through a copy: GCC cannot tell that dir and files do not overlap. */
    memcpy(dir, t->dir, sizeof(dir));
    snprintf(path, sizeof(t->files[0]), "%s/cfgXXXXXX", dir);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    t->n++;
    return path;
}

/* A file with a fixed name, for configs that refer to it. */
static void write_named(struct tmp *t, const char *name, const char *text)
{
    char dir[sizeof(t->dir)];
    FILE *f;
    assert_true(t->n < MAX_FILES);
    memcpy(dir, t->dir, sizeof(dir));
    snprintf(t->files[t->n], sizeof(t->files[0]), "%s/%s", dir, name);
    f = fopen(t->files[t->n], "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    t->n++;
}

static struct fs_config *load(struct tmp *t, const char *text)
{
    t->err[0] = '\0';
    return fs_config_load(write_file(t, text), t->err, sizeof(t->err));
}

#define SECRET "auth:\n  jwt_secret: \"0123456789abcdef-secret\"\n"

/* Asserts that text fails with ":<line>: " and every given fragment. */
static void expect_error(struct tmp *t, const char *text, int line, ...)
{
    struct fs_config *cfg = load(t, text);
    char at[32];
    va_list ap;
    const char *frag;
    if (cfg)
        fail_msg("loaded, but expected an error on line %d:\n%s", line, text);
    snprintf(at, sizeof(at), ":%d: ", line);
    if (!strstr(t->err, at))
        fail_msg("expected line %d in: %s", line, t->err);
    va_start(ap, line);
    while ((frag = va_arg(ap, const char *)))
        if (!strstr(t->err, frag))
            fail_msg("expected '%s' in: %s", frag, t->err);
    va_end(ap);
    /* Every message starts with the file name the caller gave. */
    assert_memory_equal(t->err, t->files[t->n - 1], strlen(t->files[t->n - 1]));
}

#define EXPECT_ERROR(t, text, line, ...) \
    expect_error(t, text, line, __VA_ARGS__, (const char *)NULL)

static const char *kv_value(const struct fs_config_kv *kv, size_t n,
                            const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

/* ---- the sample and the defaults ----------------------------------------- */

static void test_sample_config_loads_with_documented_values(void **state)
{
    char path[PATH_MAX], err[FS_CONFIG_ERR_MAX], expect[PATH_MAX + 16];
    const char *src = getenv("FS_SRCDIR");
    struct fs_config *cfg;
    (void)state;
    snprintf(path, sizeof(path), "%s/etc/flashsaled.yaml", src ? src : ".");
    cfg = fs_config_load(path, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    /* The sample shows every default: a crowd needs no http edits. */
    assert_int_equal(cfg->http.threads, 2048);
    assert_int_equal(cfg->http.max_connections, 0);
    assert_int_equal(cfg->http.listen_backlog, 4096);
    assert_int_equal(cfg->http.keep_alive_timeout_ms, 5000);
    assert_int_equal(cfg->http.request_timeout_ms, 5000);
    assert_int_equal(cfg->http.max_streams, 256);
    assert_int_equal(cfg->sales[0].max_queued, FS_SALE_MAX_QUEUED_DEFAULT);
    /* The journal queue: a 202 without waiting for storage (issue 15). */
    assert_string_equal(cfg->queue.name, "journal");
    assert_string_equal(kv_value(cfg->queue.kv, cfg->queue.n_kv, "sync"),
                        "interval");
    assert_string_equal(cfg->inventory.name, "memory");
    assert_string_equal(cfg->storage.name, "sqlite");
    /* The sample leaves the data paths to the plugins' defaults, outside the
     * config folder ($(localstatedir)/lib/flashsaled). */
    assert_null(kv_value(cfg->storage.kv, cfg->storage.n_kv, "path"));
    assert_null(kv_value(cfg->queue.kv, cfg->queue.n_kv, "path"));
    assert_null(cfg->plugins_dir);
    assert_true(strlen(cfg->jwt_secret) >= 16);
    assert_null(cfg->admin_token);
    assert_null(cfg->trusted_user_header);
    snprintf(expect, sizeof(expect), "%s/policies", cfg->dir);
    assert_string_equal(cfg->policies_dir, expect);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->n_sales, 1);
    assert_string_equal(cfg->sales[0].id, "launch");
    assert_int_equal(cfg->sales[0].inventory, 1000);
    assert_int_equal(cfg->sales[0].hold_seconds, 300);
    assert_int_equal(cfg->sales[0].starts_at_ms, 0);
    assert_int_equal(cfg->sales[0].ends_at_ms, 0);
    assert_int_equal(cfg->sales[0].max_queued, FS_SALE_MAX_QUEUED_DEFAULT);
    fs_config_free(cfg);
}

static void test_max_connections_above_threads_names_its_line(void **state)
{
    EXPECT_ERROR(*state, SECRET "http:\n  threads: 8\n  max_connections: 9\n",
                 5, "http.max_connections", "more than http.threads (8)");
}

static void test_sale_max_queued_is_read_and_checked(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t, SECRET "sales:\n  - {id: a, inventory: 5, "
                                 "max_queued: 3}\n  - {id: b, inventory: 5, "
                                 "max_queued: 0}\n");
    if (!cfg)
        fail_msg("%s", t->err);
    assert_int_equal(cfg->sales[0].max_queued, 3);
    assert_int_equal(cfg->sales[1].max_queued, 0);
    fs_config_free(cfg);
    EXPECT_ERROR(t, SECRET "sales:\n  - {id: a, inventory: 5, max_queued: -1}\n",
                 4, "sales[0].max_queued", "got '-1'");
}

static void test_minimal_file_gets_every_default(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t, SECRET);
    char expect[128];
    assert_non_null(cfg);
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    assert_int_equal(cfg->http.threads, 2048);
    assert_int_equal(cfg->http.listen_backlog, 4096);
    assert_int_equal(cfg->http.keep_alive_timeout_ms, 5000);
    assert_int_equal(cfg->http.request_timeout_ms, 5000);
    assert_int_equal(cfg->http.max_body_bytes, 4096);
    assert_int_equal(cfg->http.max_header_bytes, 8192);
    assert_int_equal(cfg->http.max_streams, 256);
    assert_int_equal(cfg->http.max_streams_per_user, 2);
    assert_int_equal(cfg->http.max_connections, 0);
    assert_null(cfg->plugins_dir);
    assert_string_equal(cfg->queue.name, "memory");
    assert_int_equal(cfg->queue.n_kv, 0);
    assert_string_equal(cfg->inventory.name, "memory");
    assert_string_equal(cfg->storage.name, "sqlite");
    assert_int_equal(cfg->storage.n_kv, 0);
    assert_string_equal(cfg->jwt_secret, "0123456789abcdef-secret");
    assert_null(cfg->trusted_user_header);
    snprintf(expect, sizeof(expect), "%s/policies", cfg->dir);
    assert_string_equal(cfg->policies_dir, expect);
    assert_int_equal(cfg->n_policy_settings, 0);
    assert_int_equal(cfg->policy_fail_open, 0);
    assert_int_equal(cfg->policy_instructions_max, 1000000);
    assert_int_equal(cfg->policy_memory_max_kb, 4096);
    assert_null(cfg->admin_token);
    assert_int_equal(cfg->worker.batch, 128);
    assert_int_equal(cfg->worker.sweep_interval_ms, 200);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->n_sales, 0);
    fs_config_free(cfg);
}

static void test_path_and_dir_are_absolute_and_real(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t, SECRET);
    char real[PATH_MAX];
    assert_non_null(cfg);
    assert_non_null(realpath(t->dir, real));
    assert_string_equal(cfg->dir, real);
    assert_int_equal(strncmp(cfg->path, real, strlen(real)), 0);
    assert_int_equal(cfg->path[strlen(real)], '/');
    fs_config_free(cfg);
}

static void test_every_key_is_read(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t,
        "listen: \"0.0.0.0:9090\"\n"
        "http: {threads: 8, listen_backlog: 10, keep_alive_timeout_ms: 0,\n"
        "       request_timeout_ms: 100, max_body_bytes: 256, max_header_bytes: 1024, max_connections: 6}\n"
        "plugins:\n"
        "  queue: {name: rabbitmq, url: \"amqp://localhost\", queue: q1}\n"
        "  inventory: {name: redis, url: \"redis://localhost\"}\n"
        "  storage: {name: mongo, uri: \"mongodb://x\", database: fs}\n"
        SECRET
        "  trusted_user_header: X-User\n"
        "policies:\n"
        "  settings: {limit: 20, mode: strict}\n"
        "  fail_open: true\n"
        "  instructions_max: 5000\n"
        "  memory_max_kb: 512\n"
        "admin: {token: \"abcdefghijklmnop\"}\n"
        "worker: {batch: 1, sweep_interval_ms: 10}\n"
        "log: {level: debug}\n"
        "sales:\n"
        "  - {id: a.b_c-1, inventory: 0, hold_seconds: 86400,\n"
        "     starts_at: \"2026-12-01T10:00:00Z\", ends_at: \"2026-12-01T12:00:00Z\"}\n"
        "  - id: second\n"
        "    inventory: 5\n");
    if (!cfg)
        fail_msg("%s", t->err);
    assert_string_equal(cfg->listen, "0.0.0.0:9090");
    assert_int_equal(cfg->http.threads, 8);
    assert_int_equal(cfg->http.keep_alive_timeout_ms, 0);
    assert_int_equal(cfg->http.request_timeout_ms, 100);
    assert_int_equal(cfg->http.max_connections, 6);
    assert_int_equal(cfg->http.max_header_bytes, 1024);
    assert_string_equal(cfg->queue.name, "rabbitmq");
    assert_int_equal(cfg->queue.n_kv, 2);
    assert_string_equal(cfg->queue.kv[1].key, "queue");
    assert_string_equal(cfg->queue.kv[1].value, "q1");
    assert_int_equal(cfg->queue.kv[1].line, 5);
    assert_int_equal(cfg->queue.line, 5);
    assert_string_equal(cfg->storage.name, "mongo");
    assert_string_equal(kv_value(cfg->storage.kv, cfg->storage.n_kv, "database"), "fs");
    assert_string_equal(cfg->trusted_user_header, "X-User");
    assert_int_equal(cfg->n_policy_settings, 2);
    assert_string_equal(kv_value(cfg->policy_settings, 2, "limit"), "20");
    assert_int_equal(cfg->policy_fail_open, 1);
    assert_int_equal(cfg->policy_instructions_max, 5000);
    assert_int_equal(cfg->policy_memory_max_kb, 512);
    assert_string_equal(cfg->admin_token, "abcdefghijklmnop");
    assert_int_equal(cfg->worker.batch, 1);
    assert_string_equal(cfg->log_level, "debug");
    assert_int_equal(cfg->n_sales, 2);
    assert_int_equal(cfg->sales[0].inventory, 0);
    assert_int_equal(cfg->sales[0].hold_seconds, 86400);
    assert_int_equal(cfg->sales[0].starts_at_ms, 1796119200000LL);
    assert_int_equal(cfg->sales[0].ends_at_ms, 1796119200000LL + 7200000);
    assert_int_equal(cfg->sales[1].line, 22);
    assert_int_equal(cfg->sales[1].hold_seconds, 300);
    assert_ptr_equal(fs_config_sale(cfg, "second"), &cfg->sales[1]);
    assert_null(fs_config_sale(cfg, "third"));
    fs_config_free(cfg);
}

static void test_empty_sections_are_accepted_as_defaults(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t, SECRET "admin:\n  # token: x\nhttp:\nsales:\n");
    if (!cfg)
        fail_msg("%s", t->err);
    assert_null(cfg->admin_token);
    assert_int_equal(cfg->http.threads, 2048);
    assert_int_equal(cfg->n_sales, 0);
    fs_config_free(cfg);
}

/* ---- the shape of the file ----------------------------------------------- */

static void test_empty_file_is_an_error(void **state)
{
    EXPECT_ERROR(*state, "", 1, "empty");
    EXPECT_ERROR(*state, "# only a comment\n\n", 1, "empty");
}

static void test_file_that_is_not_a_mapping_is_an_error(void **state)
{
    EXPECT_ERROR(*state, "\n- listen\n- auth\n", 2, "top level", "a list");
    EXPECT_ERROR(*state, "just words\n", 1, "top level", "a single value");
}

static void test_missing_file_is_an_error_naming_it(void **state)
{
    struct tmp *t = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/nope.yaml", t->dir);
    assert_null(fs_config_load(path, t->err, sizeof(t->err)));
    assert_non_null(strstr(t->err, path));
    assert_non_null(strstr(t->err, "No such file"));
    assert_null(fs_config_load(t->dir, t->err, sizeof(t->err)));
    assert_non_null(strstr(t->err, "not a regular file"));
}

static void test_yaml_syntax_error_names_its_line(void **state)
{
    EXPECT_ERROR(*state, SECRET "listen: [1, 2\nlog: {level: info}\n", 4,
                 "invalid YAML");
    EXPECT_ERROR(*state, SECRET "http:\n  threads: 3\n threads: 4\n", 5,
                 "invalid YAML");
}

static void test_invalid_utf8_names_its_line(void **state)
{
    EXPECT_ERROR(*state, SECRET "listen: \"\xff\"\n", 3, "invalid YAML");
}

static void test_second_document_is_an_error(void **state)
{
    EXPECT_ERROR(*state, SECRET "---\nlisten: x\n", 3, "second YAML document");
}

static void test_unknown_top_level_key_suggests_the_closest(void **state)
{
    EXPECT_ERROR(*state, SECRET "lsten: \"127.0.0.1:1\"\n", 3, "'lsten'",
                 "did you mean 'listen'?");
    EXPECT_ERROR(*state, SECRET "polices: {dir: p}\n", 3,
                 "did you mean 'policies'?");
}

static void test_unknown_key_far_from_all_lists_the_known_keys(void **state)
{
    EXPECT_ERROR(*state, SECRET "zebra: 1\n", 3, "unknown top-level key 'zebra'",
                 "known keys: listen, http,");
}

static void test_unknown_section_key_suggests_the_closest(void **state)
{
    EXPECT_ERROR(*state, SECRET "http:\n  thread: 4\n", 4, "http: unknown key 'thread'",
                 "did you mean 'threads'?");
    EXPECT_ERROR(*state, SECRET "worker:\n  sweep_interval_s: 4\n", 4,
                 "worker: unknown key", "did you mean 'sweep_interval_ms'?");
    EXPECT_ERROR(*state, "auth:\n  jwt_secrt: 0123456789abcdef\n", 2,
                 "did you mean 'jwt_secret'?");
    EXPECT_ERROR(*state, SECRET "plugins:\n  storag: {name: sqlite}\n", 4,
                 "plugins: unknown key 'storag'", "did you mean 'storage'?");
}

static void test_key_set_twice_is_an_error(void **state)
{
    EXPECT_ERROR(*state, SECRET "listen: a\nlog: {level: info}\nlisten: b\n", 5,
                 "listen: set twice (first on line 3)");
    EXPECT_ERROR(*state, SECRET "plugins:\n  queue:\n    name: memory\n"
                 "    capacity: 1\n    capacity: 2\n", 7,
                 "plugins.queue.capacity: set twice (first on line 6)");
}

static void test_wrong_node_type_is_an_error(void **state)
{
    EXPECT_ERROR(*state, SECRET "listen:\n  host: x\n", 4, "listen",
                 "expected a single value, got a mapping");
    EXPECT_ERROR(*state, SECRET "http: 5\n", 3, "http", "expected a mapping");
    EXPECT_ERROR(*state, SECRET "log:\n  - level\n", 4, "log", "got a list");
    EXPECT_ERROR(*state, SECRET "sales: {id: x}\n", 3, "sales",
                 "expected a list of sales");
    EXPECT_ERROR(*state, SECRET "sales:\n  - launch\n", 4, "sales[0]",
                 "expected a mapping");
    EXPECT_ERROR(*state, SECRET "? [a, b]\n: 1\n", 3, "expected a key name");
    EXPECT_ERROR(*state, SECRET "listen:\n", 3, "listen: expected a value");
}

static void test_integers_must_be_whole_numbers_in_range(void **state)
{
    static const struct {
        const char *yaml, *key, *range;
    } cases[] = {
        {"http: {threads: 0}", "http.threads", "from 1 to 16384, got '0'"},
        {"http: {threads: 16385}", "http.threads", "got '16385'"},
        {"http: {threads: ten}", "http.threads", "whole number"},
        {"http: {threads: 1.5}", "http.threads", "got '1.5'"},
        {"http: {threads: 0x10}", "http.threads", "got '0x10'"},
        {"http: {threads: 99999999999999999999}", "http.threads", "whole number"},
        {"http: {listen_backlog: 65536}", "http.listen_backlog", "from 1 to 65535"},
        {"http: {keep_alive_timeout_ms: -1}", "http.keep_alive_timeout_ms", "got '-1'"},
        {"http: {keep_alive_timeout_ms: 3600001}", "http.keep_alive_timeout_ms",
         "from 0 to 3600000"},
        {"http: {request_timeout_ms: -5}", "http.request_timeout_ms", "got '-5'"},
        {"http: {request_timeout_ms: 0}", "http.request_timeout_ms",
         "from 100 to 3600000, got '0'"},
        {"http: {max_connections: -1}", "http.max_connections", "got '-1'"},
        {"http: {max_body_bytes: 255}", "http.max_body_bytes", "from 256 to 1048576"},
        {"http: {max_body_bytes: 1048577}", "http.max_body_bytes", "1048577"},
        {"http: {max_header_bytes: 1023}", "http.max_header_bytes", "from 1024 to 65536"},
        {"http: {max_streams_per_user: 0}", "http.max_streams_per_user", "from 1 to 64"},
        {"worker: {batch: 4097}", "worker.batch", "from 1 to 4096"},
        {"worker: {batch: 0}", "worker.batch", "from 1 to 4096"},
        {"worker: {sweep_interval_ms: 9}", "worker.sweep_interval_ms", "from 10 to 60000"},
        {"sales: [{id: a, inventory: -1}]", "sales[0].inventory", ">= 0, got '-1'"},
        {"sales: [{id: a, inventory: 1, hold_seconds: 0}]", "sales[0].hold_seconds",
         "from 1 to 86400"},
        {"sales: [{id: a, inventory: 1, hold_seconds: 86401}]",
         "sales[0].hold_seconds", "86401"},
    };
    char yaml[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(yaml, sizeof(yaml), SECRET "%s\n", cases[i].yaml);
        EXPECT_ERROR(*state, yaml, 3, cases[i].key, cases[i].range);
        teardown(state);
        setup(state);
    }
}

static void test_listen_must_not_be_empty(void **state)
{
    EXPECT_ERROR(*state, SECRET "listen: \"\"\n", 3, "listen: must not be empty");
}

static void test_log_level_must_be_known(void **state)
{
    EXPECT_ERROR(*state, SECRET "log:\n  level: verbose\n", 4, "log.level",
                 "error, warn, info, debug", "'verbose'");
    EXPECT_ERROR(*state, SECRET "log:\n  level: wrn\n", 4, "did you mean 'warn'?");
}

static void test_trusted_user_header_must_be_a_header_name(void **state)
{
    EXPECT_ERROR(*state, SECRET "  trusted_user_header: \"X User\"\n", 3,
                 "auth.trusted_user_header", "not an HTTP header name");
}

/* ---- sales --------------------------------------------------------------- */

static void test_sale_id_must_be_valid(void **state)
{
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: \"bad id!\"\n    inventory: 1\n", 4,
                 "sales[0].id", "'bad id!'", "not a valid sale id");
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: "
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n"
                 "    inventory: 1\n", 4, "sales[0].id", "not a valid sale id");
}

static void test_sale_ids_must_be_unique(void **state)
{
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: x\n    inventory: 1\n"
                 "  - id: y\n    inventory: 1\n  - id: x\n    inventory: 2\n", 8,
                 "sales[2].id", "duplicate sale id 'x' (first on line 4)");
}

static void test_sale_requires_id_and_inventory(void **state)
{
    EXPECT_ERROR(*state, SECRET "sales:\n  - inventory: 1\n", 4, "sales[0]",
                 "missing required key 'id'");
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: x\n    hold_seconds: 5\n", 4,
                 "sales[0] (x)", "missing required key 'inventory'");
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: x\n    inventroy: 5\n", 5,
                 "sales[0]: unknown key 'inventroy'", "did you mean 'inventory'?");
}

static void test_sale_times_must_be_rfc3339_and_ordered(void **state)
{
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: x\n    inventory: 1\n"
                 "    starts_at: \"2026-12-01 10:00\"\n", 6, "sales[0].starts_at",
                 "RFC 3339", "'2026-12-01 10:00'");
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: x\n    inventory: 1\n"
                 "    starts_at: \"2026-12-01T12:00:00Z\"\n"
                 "    ends_at: \"2026-12-01T12:00:00Z\"\n", 7, "sales[0].ends_at",
                 "must be after starts_at (line 6)");
    EXPECT_ERROR(*state, SECRET "sales:\n  - id: x\n    inventory: 1\n"
                 "    ends_at: \"1970-01-01T00:00:00Z\"\n", 6, "sales[0].ends_at",
                 "after 1970");
}

/* ---- secrets ------------------------------------------------------------- */

static void test_jwt_secret_is_required(void **state)
{
    EXPECT_ERROR(*state, "listen: \"127.0.0.1:1\"\n", 1,
                 "auth.jwt_secret is required", "jwt_secret_file");
    EXPECT_ERROR(*state, "auth: {}\n", 1, "auth.jwt_secret is required");
}

/* ---- an identity provider's keys ----------------------------------------- */

/* RFC 8037's example Ed25519 public key. */
#define ED25519_JWKS \
    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k1\"," \
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}"

static void test_jwks_keys_load_without_a_secret(void **state)
{
    struct tmp *t = *state;
    write_named(t, "jwks.json", ED25519_JWKS);
    struct fs_config *cfg = load(t, "auth:\n  jwks_file: jwks.json\n"
                                    "  issuer: https://idp.test/realms/shop\n"
                                    "  audience: flashsaled\n  leeway_s: 30\n");
    if (!cfg)
        fail_msg("%s", t->err);
    assert_null(cfg->jwt_secret);
    assert_string_equal(cfg->auth.jwks_file + strlen(cfg->auth.jwks_file) - 10,
                        "/jwks.json");
    assert_true(cfg->auth.jwks_file[0] == '/');
    assert_string_equal(cfg->auth.issuer, "https://idp.test/realms/shop");
    assert_string_equal(cfg->auth.audience, "flashsaled");
    assert_int_equal(cfg->auth.leeway_s, 30);
    assert_int_equal(cfg->auth.jwks_refresh_s, 300);
    assert_int_equal(cfg->auth.jwks_min_interval_s, 10);
    /* The default allow-list: what the configured keys can verify. */
    assert_int_equal(cfg->auth.algorithms, FS_JWT_ASYMMETRIC);
    fs_config_free(cfg);
}

static void test_secret_and_jwks_url_allow_both_kinds(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t, SECRET "  jwks_url: https://idp.test/jwks\n"
                                    "  jwks_ca_file: ca.pem\n");
    if (!cfg)
        fail_msg("%s", t->err);
    assert_string_equal(cfg->auth.jwks_url, "https://idp.test/jwks");
    assert_true(cfg->auth.jwks_ca_file[0] == '/');
    assert_int_equal(cfg->auth.algorithms, FS_JWT_HS256 | FS_JWT_ASYMMETRIC);
    fs_config_free(cfg);
    cfg = load(t, SECRET "  jwks_url: https://idp.test/jwks\n"
                  "  algorithms: [ES256, HS256]\n");
    assert_non_null(cfg);
    assert_int_equal(cfg->auth.algorithms, FS_JWT_HS256 | FS_JWT_ES256);
    fs_config_free(cfg);
}

static void test_bad_jwks_settings_are_refused_with_the_reason(void **state)
{
    struct tmp *t = *state;
    EXPECT_ERROR(t, "auth:\n  jwks_url: http://idp.test/jwks\n", 2,
                 "auth.jwks_url", "expected an https:// URL");
    EXPECT_ERROR(t, "auth:\n  jwks_url: https://idp.test/jwks\n"
                    "  algorithms: [RS256, HS256]\n", 3, "auth.algorithms",
                 "HS256 needs auth.jwt_secret");
    EXPECT_ERROR(t, SECRET "  algorithms: [RS256]\n", 3, "auth.algorithms",
                 "auth.jwks_file or auth.jwks_url");
    EXPECT_ERROR(t, "auth:\n  jwks_url: https://idp.test/jwks\n"
                    "  algorithms: [RS256, rs512]\n", 3, "auth.algorithms",
                 "'rs512' is not an accepted algorithm");
    EXPECT_ERROR(t, "auth:\n  jwks_url: https://idp.test/jwks\n"
                    "  algorithms: []\n", 3, "auth.algorithms",
                 "expected a list");
    EXPECT_ERROR(t, SECRET "  issuer: https://idp.test\n", 3, "auth.issuer",
                 "set auth.jwks_file or auth.jwks_url");
    EXPECT_ERROR(t, "auth:\n  jwks_url: https://idp.test/jwks\n"
                    "  leeway_s: 3601\n", 3, "auth.leeway_s");
}

static void test_a_bad_jwks_file_is_refused_with_the_reason(void **state)
{
    struct tmp *t = *state;
    write_named(t, "empty.json", "{\"keys\":[]}");
    EXPECT_ERROR(t, "auth:\n  jwks_file: empty.json\n", 2, "auth.jwks_file",
                 "empty.json", "no usable key");
    EXPECT_ERROR(t, "auth:\n  jwks_file: missing.json\n", 2, "auth.jwks_file",
                 "cannot read");
}

static void test_short_jwt_secret_is_refused_with_the_reason(void **state)
{
    EXPECT_ERROR(*state, "log: {level: info}\nauth:\n  jwt_secret: change-me\n", 3,
                 "auth.jwt_secret", "is 9 bytes long", "at least 16",
                 "sign tokens for any user");
}

static void test_jwt_secret_and_file_are_exclusive(void **state)
{
    EXPECT_ERROR(*state, SECRET "  jwt_secret_file: secret.txt\n", 3,
                 "either jwt_secret or jwt_secret_file, not both", "line 2");
}

static void test_jwt_secret_file_is_read_beside_the_config(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg;
    write_named(t, "secret.txt", "file-secret-0123456789\r\n\n");
    cfg = load(t, "auth:\n  jwt_secret_file: secret.txt\n");
    if (!cfg)
        fail_msg("%s", t->err);
    assert_string_equal(cfg->jwt_secret, "file-secret-0123456789");
    fs_config_free(cfg);
}

static void test_jwt_secret_file_errors_name_the_file(void **state)
{
    struct tmp *t = *state;
    /* A device or FIFO would block the start: refused before it is opened. */
    EXPECT_ERROR(t, "auth:\n  jwt_secret_file: /dev/null\n", 2,
                 "auth.jwt_secret_file", "is not a regular file");
    EXPECT_ERROR(t, "\nauth:\n  jwt_secret_file: missing.txt\n", 3,
                 "auth.jwt_secret_file", "missing.txt", "No such file");
    write_named(t, "short.txt", "short\n");
    EXPECT_ERROR(t, "auth:\n  jwt_secret_file: short.txt\n", 2,
                 "auth.jwt_secret", "is 5 bytes long");
}

static void test_admin_token_must_be_long_enough(void **state)
{
    EXPECT_ERROR(*state, SECRET "admin:\n  token: short\n", 4, "admin.token",
                 "is 5 bytes long", "at least 16");
}

/* ---- paths --------------------------------------------------------------- */

static void test_relative_paths_resolve_against_the_config_folder(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t, SECRET "policies: {dir: my/pol}\n"
                                           "plugins: {dir: /opt/plugins}\n");
    char expect[PATH_MAX + 16];
    if (!cfg)
        fail_msg("%s", t->err);
    snprintf(expect, sizeof(expect), "%s/my/pol", cfg->dir);
    assert_string_equal(cfg->policies_dir, expect);
    assert_string_equal(cfg->plugins_dir, "/opt/plugins");
    fs_config_free(cfg);
    cfg = load(t, SECRET "plugins: {dir: lib}\npolicies: {dir: /etc/p}\n");
    assert_non_null(cfg);
    snprintf(expect, sizeof(expect), "%s/lib", cfg->dir);
    assert_string_equal(cfg->plugins_dir, expect);
    assert_string_equal(cfg->policies_dir, "/etc/p");
    fs_config_free(cfg);
}

/* ---- plugin blocks and policy settings ----------------------------------- */

static void test_plugin_block_requires_a_name(void **state)
{
    EXPECT_ERROR(*state, SECRET "plugins:\n  storage:\n    path: x.db\n", 4,
                 "plugins.storage", "missing required key 'name'");
    EXPECT_ERROR(*state, SECRET "plugins:\n  queue: memory\n", 4, "plugins.queue",
                 "expected a mapping");
    EXPECT_ERROR(*state, SECRET "plugins:\n  queue: {name: ../evil}\n", 4,
                 "plugins.queue.name", "not a plugin name");
}

static void test_plugin_values_must_be_scalars(void **state)
{
    EXPECT_ERROR(*state, SECRET "plugins:\n  queue:\n    name: rabbitmq\n"
                 "    url:\n      host: x\n", 7, "plugins.queue.url",
                 "expected a single value, got a mapping");
    EXPECT_ERROR(*state, SECRET "plugins:\n  storage:\n    name: mongo\n"
                 "    hosts: [a, b]\n", 6, "plugins.storage.hosts", "got a list");
}

static void test_policy_settings_must_be_flat(void **state)
{
    EXPECT_ERROR(*state, SECRET "policies:\n  settings:\n    a: 1\n    b: {c: 2}\n", 6,
                 "policies.settings.b", "expected a single value");
    EXPECT_ERROR(*state, SECRET "policies:\n  settings: [1]\n", 4,
                 "policies.settings", "expected a mapping");
}

static void test_policy_limits_are_checked(void **state)
{
    EXPECT_ERROR(*state, SECRET "policies:\n  fail_open: maybe\n", 4,
                 "policies.fail_open", "expected true or false");
    EXPECT_ERROR(*state, SECRET "policies:\n  instructions_max: 10\n", 4,
                 "policies.instructions_max", "whole number");
    EXPECT_ERROR(*state, SECRET "policies:\n  memory_max_kb: 1\n", 4,
                 "policies.memory_max_kb", "whole number");
}

/* ---- RFC 3339 ------------------------------------------------------------ */

static void test_rfc3339_parses_utc_offsets_and_fractions(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(fs_parse_rfc3339("2026-12-01T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1796119200000LL);
    assert_int_equal(fs_parse_rfc3339("2026-12-01T11:30:00+01:30", &ms), 0);
    assert_int_equal(ms, 1796119200000LL);
    assert_int_equal(fs_parse_rfc3339("2026-12-01T05:00:00-05:00", &ms), 0);
    assert_int_equal(ms, 1796119200000LL);
    assert_int_equal(fs_parse_rfc3339("2026-12-01T10:00:00.25Z", &ms), 0);
    assert_int_equal(ms, 1796119200250LL);
    assert_int_equal(fs_parse_rfc3339("2026-12-01t10:00:00.123456789z", &ms), 0);
    assert_int_equal(ms, 1796119200123LL);
    assert_int_equal(fs_parse_rfc3339("2024-02-29T23:59:59Z", &ms), 0);
    assert_int_equal(ms, 1709251199000LL);
}

static void test_rfc3339_rejects_anything_else(void **state)
{
    static const char *const bad[] = {
        "", "2026-12-01", "2026-12-01T10:00Z", "2026-12-01T10:00:00",
        "2026-12-01 10:00:00Z", "2026-12-01T10:00:00+0100", "2026-13-01T10:00:00Z",
        "2026-02-29T10:00:00Z", "2026-04-31T10:00:00Z", "2026-12-00T10:00:00Z",
        "2026-12-01T24:00:00Z", "2026-12-01T10:60:00Z", "2026-12-01T10:00:61Z",
        "2026-12-01T10:00:00.Z", "2026-12-01T10:00:00Zjunk", "26-12-01T10:00:00Z",
        "2026-12-01T10:00:00+24:00", "+2026-12-01T10:00:00Z", "2026-1-01T10:00:00Z",
    };
    int64_t ms = 42;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (fs_parse_rfc3339(bad[i], &ms) == 0)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(ms, 42);
}

static void test_rfc3339_format_round_trips(void **state)
{
    static const char *const texts[] = {
        "2026-12-01T10:00:00Z", "1970-01-01T00:00:00Z", "2000-02-29T23:59:59Z",
        "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
    };
    char out[32];
    int64_t ms;
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(fs_parse_rfc3339(texts[i], &ms), 0);
        fs_format_rfc3339(ms, out);
        assert_string_equal(out, texts[i]);
    }
    fs_format_rfc3339(1796119200999LL, out);  /* whole seconds, truncated */
    assert_string_equal(out, "2026-12-01T10:00:00Z");
    fs_format_rfc3339(-1, out);  /* floor, not toward zero */
    assert_string_equal(out, "1969-12-31T23:59:59Z");
}

/* ---- plugin option tables ------------------------------------------------ */

struct demo_config {
    char *path;
    char *mode;
    char *url;
    int64_t retries;
    int64_t no_default;
    int verbose;
    int fast;
};

static const struct fs_option demo_options[] = {
    {FS_OPT_PATH, "path", "data/demo.db", offsetof(struct demo_config, path), "file"},
    {FS_OPT_STRING, "mode", "safe", offsetof(struct demo_config, mode), "mode"},
    {FS_OPT_STRING, "url", NULL, offsetof(struct demo_config, url), "required"},
    {FS_OPT_INT, "retries", "3", offsetof(struct demo_config, retries), "n"},
    {FS_OPT_INT, "no_default", NULL, offsetof(struct demo_config, no_default), "n"},
    {FS_OPT_BOOL, "verbose", "off", offsetof(struct demo_config, verbose), "b"},
    {FS_OPT_BOOL, "fast", NULL, offsetof(struct demo_config, fast), "b"},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

static struct fs_option_values *apply(struct fs_config_kv *kv, size_t n,
                                      struct demo_config *out, char *err)
{
    struct fs_plugin_config block = {.name = "demo", .line = 7, .kv = kv, .n_kv = n};
    memset(out, 0, sizeof(*out));
    return fs_config_apply_options(&block, "storage", demo_options, out, "/base",
                                   "my.yaml", err, FS_CONFIG_ERR_MAX);
}

static void test_options_take_defaults_then_block_values(void **state)
{
    struct fs_config_kv kv[] = {{"url", "http://x", 8}, {"retries", "-2", 9},
                                {"mode", "", 10}};
    struct demo_config c;
    char err[FS_CONFIG_ERR_MAX];
    struct fs_option_values *v = apply(kv, 1, &c, err);
    (void)state;
    if (!v)
        fail_msg("%s", err);
    assert_string_equal(c.path, "/base/data/demo.db");
    assert_string_equal(c.mode, "safe");
    assert_string_equal(c.url, "http://x");
    assert_int_equal(c.retries, 3);
    assert_int_equal(c.no_default, 0);
    assert_int_equal(c.verbose, 0);
    assert_int_equal(c.fast, 0);
    fs_config_options_free(v);
    v = apply(kv, 3, &c, err);
    assert_non_null(v);
    assert_int_equal(c.retries, -2);
    assert_string_equal(c.mode, "");
    fs_config_options_free(v);
}

static void test_options_path_is_made_absolute_unless_it_is(void **state)
{
    struct fs_config_kv kv[] = {{"url", "u", 8}, {"path", "/abs/x.db", 9}};
    struct demo_config c;
    char err[FS_CONFIG_ERR_MAX];
    struct fs_option_values *v = apply(kv, 2, &c, err);
    (void)state;
    assert_non_null(v);
    assert_string_equal(c.path, "/abs/x.db");
    fs_config_options_free(v);
}

static void test_options_accept_every_bool_form(void **state)
{
    static const struct {
        const char *text;
        int value;
    } forms[] = {{"true", 1}, {"yes", 1}, {"on", 1}, {"1", 1}, {"TRUE", 1},
                 {"false", 0}, {"no", 0}, {"off", 0}, {"0", 0}, {"Off", 0}};
    struct demo_config c;
    char err[FS_CONFIG_ERR_MAX];
    (void)state;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct fs_config_kv kv[] = {{"url", "u", 8}, {"fast", (char *)forms[i].text, 9},
                                    {"verbose", (char *)forms[i].text, 10}};
        struct fs_option_values *v = apply(kv, 3, &c, err);
        if (!v)
            fail_msg("'%s': %s", forms[i].text, err);
        assert_int_equal(c.fast, forms[i].value);
        assert_int_equal(c.verbose, forms[i].value);
        fs_config_options_free(v);
    }
}

static void test_options_reject_bad_values_naming_line_and_type(void **state)
{
    struct fs_config_kv bad_int[] = {{"url", "u", 8}, {"retries", "3x", 9}};
    struct fs_config_kv big_int[] = {{"url", "u", 8}, {"retries", "9223372036854775808", 9}};
    struct fs_config_kv bad_bool[] = {{"url", "u", 8}, {"fast", "maybe", 11}};
    struct fs_config_kv empty_path[] = {{"url", "u", 8}, {"path", "", 12}};
    struct demo_config c;
    char err[FS_CONFIG_ERR_MAX];
    (void)state;
    assert_null(apply(bad_int, 2, &c, err));
    assert_string_equal(err, "my.yaml:9: plugins.storage.demo.retries: expected "
                             "a whole number, got '3x'");
    assert_null(apply(big_int, 2, &c, err));
    assert_non_null(strstr(err, "my.yaml:9: "));
    assert_null(apply(bad_bool, 2, &c, err));
    assert_non_null(strstr(err, "my.yaml:11: plugins.storage.demo.fast: expected true or false"));
    assert_null(apply(empty_path, 2, &c, err));
    assert_non_null(strstr(err, "my.yaml:12: plugins.storage.demo.path: expected a path"));
}

static void test_options_missing_required_string_is_an_error(void **state)
{
    struct demo_config c;
    char err[FS_CONFIG_ERR_MAX];
    (void)state;
    assert_null(apply(NULL, 0, &c, err));
    assert_non_null(strstr(err, "my.yaml:7: plugins.storage: missing required key 'url'"));
}

static void test_options_unknown_key_suggests_the_closest(void **state)
{
    struct fs_config_kv typo[] = {{"url", "u", 8}, {"pth", "x", 9}};
    struct fs_config_kv far[] = {{"url", "u", 8}, {"zzzzzzzz", "x", 10}};
    struct fs_plugin_config block = {.name = "memory", .line = 3, .kv = far + 1,
                                     .n_kv = 1};
    static const struct fs_option none[] = {{FS_OPT_END, NULL, NULL, 0, NULL}};
    struct demo_config c;
    char err[FS_CONFIG_ERR_MAX];
    (void)state;
    assert_null(apply(typo, 2, &c, err));
    assert_string_equal(err, "my.yaml:9: plugins.storage.demo: unknown key 'pth'; "
                             "did you mean 'path'?");
    assert_null(apply(far, 2, &c, err));
    assert_non_null(strstr(err, "my.yaml:10: plugins.storage.demo: unknown key "
                                "'zzzzzzzz'; known keys: path, mode, url,"));
    assert_null(fs_config_apply_options(&block, "inventory", none, &c, "/b", "f.yaml",
                                        err, sizeof(err)));
    assert_non_null(strstr(err, "f.yaml:10: plugins.inventory.memory: unknown key "
                                "'zzzzzzzz'; this block takes no other keys"));
}

static void test_options_work_with_a_loaded_config(void **state)
{
    struct tmp *t = *state;
    struct fs_config *cfg = load(t, SECRET "plugins:\n  storage:\n    name: demo\n"
                                           "    url: \"http://h\"\n    path: db/x.db\n"
                                           "    verbose: yes\n");
    struct demo_config c = {0};
    struct fs_option_values *v;
    char expect[PATH_MAX + 16];
    if (!cfg)
        fail_msg("%s", t->err);
    v = fs_config_apply_options(&cfg->storage, "storage", demo_options, &c, cfg->dir,
                                cfg->path, t->err, sizeof(t->err));
    if (!v)
        fail_msg("%s", t->err);
    snprintf(expect, sizeof(expect), "%s/db/x.db", cfg->dir);
    assert_string_equal(c.path, expect);
    assert_string_equal(c.url, "http://h");
    assert_int_equal(c.verbose, 1);
    fs_config_options_free(v);
    fs_config_free(cfg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sample_config_loads_with_documented_values),
        T(test_minimal_file_gets_every_default),
        T(test_max_connections_above_threads_names_its_line),
        T(test_sale_max_queued_is_read_and_checked),
        T(test_path_and_dir_are_absolute_and_real),
        T(test_every_key_is_read),
        T(test_empty_sections_are_accepted_as_defaults),
        T(test_empty_file_is_an_error),
        T(test_file_that_is_not_a_mapping_is_an_error),
        T(test_missing_file_is_an_error_naming_it),
        T(test_yaml_syntax_error_names_its_line),
        T(test_invalid_utf8_names_its_line),
        T(test_second_document_is_an_error),
        T(test_unknown_top_level_key_suggests_the_closest),
        T(test_unknown_key_far_from_all_lists_the_known_keys),
        T(test_unknown_section_key_suggests_the_closest),
        T(test_key_set_twice_is_an_error),
        T(test_wrong_node_type_is_an_error),
        T(test_integers_must_be_whole_numbers_in_range),
        T(test_listen_must_not_be_empty),
        T(test_log_level_must_be_known),
        T(test_trusted_user_header_must_be_a_header_name),
        T(test_sale_id_must_be_valid),
        T(test_sale_ids_must_be_unique),
        T(test_sale_requires_id_and_inventory),
        T(test_sale_times_must_be_rfc3339_and_ordered),
        T(test_jwt_secret_is_required),
        T(test_jwks_keys_load_without_a_secret),
        T(test_secret_and_jwks_url_allow_both_kinds),
        T(test_bad_jwks_settings_are_refused_with_the_reason),
        T(test_a_bad_jwks_file_is_refused_with_the_reason),
        T(test_short_jwt_secret_is_refused_with_the_reason),
        T(test_jwt_secret_and_file_are_exclusive),
        T(test_jwt_secret_file_is_read_beside_the_config),
        T(test_jwt_secret_file_errors_name_the_file),
        T(test_admin_token_must_be_long_enough),
        T(test_relative_paths_resolve_against_the_config_folder),
        T(test_plugin_block_requires_a_name),
        T(test_plugin_values_must_be_scalars),
        T(test_policy_settings_must_be_flat),
        T(test_policy_limits_are_checked),
        T(test_rfc3339_parses_utc_offsets_and_fractions),
        T(test_rfc3339_rejects_anything_else),
        T(test_rfc3339_format_round_trips),
        T(test_options_take_defaults_then_block_values),
        T(test_options_path_is_made_absolute_unless_it_is),
        T(test_options_accept_every_bool_form),
        T(test_options_reject_bad_values_naming_line_and_type),
        T(test_options_missing_required_string_is_an_error),
        T(test_options_unknown_key_suggests_the_closest),
        T(test_options_work_with_a_loaded_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
