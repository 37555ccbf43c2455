/*
 * config.h - the daemon's YAML config (DESIGN.md section 3) as a struct.
 *
 * fs_config_load() reads a file with libyaml and fills struct fs_config, with
 * every default applied. Errors name the file and the line ("flashsaled.yaml:7:
 * sales[0].inventory: expected a whole number >= 0, got 'ten'"). Relative paths
 * are made absolute against the config file's folder.
 *
 * Plugin blocks are kept as raw key/value pairs with their line numbers: only
 * the plugin's own option table (struct fs_option) can say which keys are
 * valid, so the plugin loader checks them with fs_config_apply_options().
 */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "flashsaled/fs_plugin.h"

#define FS_CONFIG_ERR_MAX 512
/* sales[].max_queued when unset. */
#define FS_SALE_MAX_QUEUED_DEFAULT 10000

struct fs_config_kv {
    char *key;
    char *value;  /* scalar text as written */
    int line;     /* 1-based line of the key */
};

struct fs_plugin_config {
    char *name;                 /* plugins.<kind>.name */
    int line;                   /* line of the block, for messages */
    int name_line;              /* line of its name (the block's by default) */
    struct fs_config_kv *kv;    /* every other key of the block */
    size_t n_kv;
};

struct fs_sale_config {
    char *id;                   /* validated: 1..64 of [A-Za-z0-9._-] */
    int64_t inventory;          /* >= 0 */
    int64_t hold_seconds;       /* > 0, default 300 */
    int64_t starts_at_ms;       /* 0 when unset (open from start) */
    int64_t ends_at_ms;         /* 0 when unset (never closes) */
    int64_t max_queued;         /* queue depth limit, default 10000; 0: none */
    int line;
};

struct fs_config {
    char *path;                 /* absolute path of the file read */
    char *dir;                  /* its folder: base of relative paths */

    char *listen;               /* "127.0.0.1:8080"; civetweb listening_ports syntax */
    int listen_line;            /* 0 when not in the file */
    struct {
        int64_t threads;              /* civetweb num_threads, default 2048 */
        int64_t listen_backlog;       /* default 1024 */
        int64_t keep_alive_timeout_ms;/* default 5000; 0 disables keep-alive */
        int64_t request_timeout_ms;   /* default 5000; 100 at least */
        int64_t max_body_bytes;       /* default 4096 */
        int64_t max_header_bytes;     /* default 8192 (civetweb max_request_size) */
        int64_t max_streams;          /* open event streams, default 256; each holds a thread */
        int64_t max_streams_per_user; /* default 2 */
        int64_t max_connections;      /* served at once; 0 (default): threads
                                         minus a reserve of threads / 8 */
    } http;

    char *plugins_dir;          /* plugins.dir; NULL: compiled-in default */
    struct fs_plugin_config queue;      /* default name "memory" */
    struct fs_plugin_config inventory;  /* default name "memory" */
    struct fs_plugin_config storage;    /* default name "sqlite" (its path: FS_DATA_DIR) */

    char *jwt_secret;           /* auth.jwt_secret, or the contents of auth.jwt_secret_file
                                   (trailing newline stripped); >= 16 bytes; NULL
                                   when unset (then a JWKS source is required) */
    struct {
        char *jwks_file;            /* auth.jwks_file, absolute; NULL: none */
        char *jwks_url;             /* auth.jwks_url, https:// only; NULL: none */
        char *jwks_ca_file;         /* auth.jwks_ca_file; NULL: the system's CAs */
        char *issuer;               /* auth.issuer; NULL: iss not checked */
        char *audience;             /* auth.audience; NULL: aud not checked */
        unsigned algorithms;        /* auth.algorithms as enum fs_jwt_alg bits;
                                       default: HS256 with a secret, RS256,
                                       ES256 and EdDSA with a JWKS source */
        int64_t leeway_s;           /* auth.leeway_s, default 0, at most 600 */
        int64_t jwks_refresh_s;     /* auth.jwks_refresh_s, default 300 */
        int64_t jwks_min_interval_s;/* auth.jwks_min_interval_s, default 10 */
    } auth;
    char *trusted_user_header;  /* auth.trusted_user_header; NULL = off (default) */

    char *policies_dir;         /* policies.dir, default "policies", made absolute */
    struct fs_config_kv *policy_settings; /* policies.settings: flat key -> scalar */
    size_t n_policy_settings;
    int policy_fail_open;       /* policies.fail_open: a failing policy allows
                                   (default 0: answers 503 unavailable) */
    int64_t policy_instructions_max; /* policies.instructions_max, default 1000000 */
    int64_t policy_memory_max_kb;    /* policies.memory_max_kb, per Lua state, default 4096 */

    char *admin_token;          /* admin.token; NULL when unset */

    struct {
        int64_t batch;              /* worker.batch, default 128 */
        int64_t sweep_interval_ms;  /* worker.sweep_interval_ms, default 200 */
        /* worker.claim_lease_ms, default 15000: how long a claim whose
         * request was never confirmed by the queue (its daemon died) keeps
         * its item before any daemon's sweeper gives it back. */
        int64_t claim_lease_ms;
        /* worker.resync_interval_ms, default 1000: how often the sale
         * replicas are read again from an inventory with a change feed,
         * which bounds how long a missed change can leave one stale. */
        int64_t resync_interval_ms;
        /* worker.claim_audit_interval_ms, default 10000: how often the
         * durable claims are checked against an empty queue (a broker that
         * lost confirmed messages; claim_audit.h). */
        int64_t claim_audit_interval_ms;
    } worker;

    char *log_level;            /* log.level: error|warn|info|debug, default info */
    char *log_format;           /* log.format: text|json, default text */

    /* tls: the certificate served on the TLS ports of `listen` (those
     * ending in 's'). Read and checked with OpenSSL by src/http/http_tls.c;
     * the lines are for its messages. */
    struct {
        char *cert_file;        /* PEM, leaf first, then intermediates; NULL: no TLS */
        char *key_file;         /* PEM private key; NULL: the key is in cert_file */
        char *min_version;      /* "1.2" (default) or "1.3" */
        int cert_line, key_line, min_version_line;  /* 0: not set */
    } tls;

    struct fs_sale_config *sales;
    size_t n_sales;
};

/* Reads and validates `path`. Returns NULL and writes "file:line: message"
 * into err on the first error. */
struct fs_config *fs_config_load(const char *path, char *err, size_t errlen);
void fs_config_free(struct fs_config *cfg);

/* The secret the sample configs ship with: public, so anyone could mint a
 * token for any user. Allowed (the samples must run as shipped), warned of. */
#define FS_SAMPLE_JWT_SECRET "change-me-this-sample-secret-is-public"
#define FS_SAMPLE_SECRET_WARNING \
    "auth.jwt_secret is the sample config's, which is public: anyone can " \
    "mint a token for any user. Before a real sale set your own " \
    "(openssl rand -base64 32 > jwt_secret; auth: { jwt_secret_file: jwt_secret })"

int fs_config_uses_sample_secret(const struct fs_config *cfg);

/* Finds a sale by id, NULL if none. */
const struct fs_sale_config *fs_config_sale(const struct fs_config *cfg,
                                            const char *sale_id);

/* Fills the zeroed struct `out` (of the plugin's config_size) from a plugin
 * block and the plugin's option table: defaults first, then the block's keys.
 * An unknown key is an error naming the closest known key ("did you mean
 * 'path'?"); a bad value names the expected type. FS_OPT_PATH values are made
 * absolute against base_dir. Allocated strings are recorded in the returned
 * handle; free them with fs_config_options_free(). Returns NULL on error. */
struct fs_option_values;
struct fs_option_values *fs_config_apply_options(
    const struct fs_plugin_config *block, const char *kind,
    const struct fs_option *options, void *out, const char *base_dir,
    const char *file, char *err, size_t errlen);
void fs_config_options_free(struct fs_option_values *values);

/* Parses RFC 3339 ("2026-12-01T10:00:00Z", with optional fraction and offset)
 * to Unix ms. Returns 0 on success. */
int fs_parse_rfc3339(const char *text, int64_t *out_ms);
/* Formats Unix ms as "2026-12-01T10:00:00Z" (UTC, whole seconds). */
void fs_format_rfc3339(int64_t ms, char out[32]);

#endif
