/*
 * config.c - YAML -> struct fs_config, with "file:line: what is wrong" in
 * every error.
 *
 * Owns: reading the file with libyaml's document API, the key tables of every
 * core section (one table per section parses, validates and names the keys
 * for "did you mean"), the defaults, path resolution against the config
 * file's folder, the raw plugin blocks and their later typed parsing against
 * a plugin's struct fs_option table, and the RFC 3339 helpers.
 *
 * Walking is bounded by the key tables (never a generic recursion over the
 * document), so aliases that form cycles or fan out cannot make it loop.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <yaml.h>

#include "config.h"
#include "ids.h"
#include "jwks.h"
#include "suggest.h"

#define JWT_SECRET_MIN 16
#define ADMIN_TOKEN_MIN 16
#define SECRET_FILE_MAX (64 * 1024)
#define QNAME_MAX 160
#define HINT_NAMES_MAX 64

/* ---- small helpers ------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *file, int line,
                    const char *fmt, va_list ap)
{
    int n;
    if (!err || errlen == 0)
        return;
    if (line > 0)
        n = snprintf(err, errlen, "%s:%d: ", file, line);
    else
        n = snprintf(err, errlen, "%s: ", file);
    if (n < 0 || (size_t)n >= errlen)
        return;
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static void errorf(char *err, size_t errlen, const char *file, int line,
                   const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void errorf(char *err, size_t errlen, const char *file, int line,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_err(err, errlen, file, line, fmt, ap);
    va_end(ap);
}

/* The suggestion for an unknown word: the closest known one, else the
 * list, so that every unknown-key error says what would work. */
static void unknown_hint(const char *word, const char *const *names, size_t n,
                         char *out, size_t outlen)
{
    if (n == 0)
        snprintf(out, outlen, "; this block takes no other keys");
    else
        fs_suggest(word, names, n, "keys", out, outlen);
}

/* Strict base-10 int64: optional '-', digits, nothing else. */
static int parse_int64(const char *text, int64_t *out)
{
    char *end = NULL;
    long long v;
    const char *p = text[0] == '-' ? text + 1 : text;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Absolute paths stay; relative ones hang off base (the config's folder). */
static char *resolve_path(const char *base, const char *p)
{
    char *out = NULL;
    size_t lb;
    if (p[0] == '/' || !base || !base[0])
        return strdup(p);
    lb = strlen(base);
    if (asprintf(&out, "%s%s%s", base, base[lb - 1] == '/' ? "" : "/", p) < 0)
        return NULL;
    return out;
}

static void range_text(int64_t min, int64_t max, char *out, size_t len)
{
    if (max == INT64_MAX)
        snprintf(out, len, ">= %lld", (long long)min);
    else
        snprintf(out, len, "from %lld to %lld", (long long)min, (long long)max);
}

static void kv_free(struct fs_config_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static int kv_append(struct fs_config_kv **kv, size_t *n, const char *key,
                     const char *value, int line)
{
    struct fs_config_kv *grown = realloc(*kv, (*n + 1) * sizeof(**kv));
    if (!grown)
        return -1;
    *kv = grown;
    grown[*n].key = strdup(key);
    grown[*n].value = strdup(value);
    grown[*n].line = line;
    (*n)++;
    return grown[*n - 1].key && grown[*n - 1].value ? 0 : -1;
}

static void plugin_config_clear(struct fs_plugin_config *pc)
{
    free(pc->name);
    kv_free(pc->kv, pc->n_kv);
    memset(pc, 0, sizeof(*pc));
}

/* ---- the loader: document, file name for messages, result --------------- */

struct loader {
    const char *file;     /* as the caller named it: what the admin typed */
    yaml_document_t *doc;
    struct fs_config *cfg;
    char *err;
    size_t errlen;
    int jwt_line;         /* where the secret came from, 0 if not yet */
    int jwks_file_line, jwks_url_line, algorithms_line, issuer_line,
        audience_line;    /* auth keys' lines, 0 when unset */
    int max_connections_line; /* http.max_connections, 0 if unset */
};

static int fail(struct loader *ld, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct loader *ld, const yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_err(ld->err, ld->errlen, ld->file,
            at ? (int)at->start_mark.line + 1 : 0, fmt, ap);
    va_end(ap);
    return -1;
}

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static int out_of_memory(struct loader *ld)
{
    errorf(ld->err, ld->errlen, ld->file, 0, "out of memory");
    return -1;
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a single value";
    }
}

static const char *scalar_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* The plain scalars YAML reads as null: "key:" with nothing after it. */
static int is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(scalar_text(n), nulls[i]) == 0)
            return 1;
    return 0;
}

static int expect_scalar(struct loader *ld, const char *qname,
                         const yaml_node_t *v, const char **text)
{
    if (v->type != YAML_SCALAR_NODE)
        return fail(ld, v, "%s: expected a single value, got %s", qname,
                    node_kind(v));
    if (is_null(v))
        return fail(ld, v, "%s: expected a value, got none", qname);
    *text = scalar_text(v);
    return 0;
}

static void qualify(char *out, const char *prefix, const char *name)
{
    if (prefix[0])
        snprintf(out, QNAME_MAX, "%s.%s", prefix, name);
    else
        snprintf(out, QNAME_MAX, "%s", name);
}

/* A mapping key must be a scalar and appear once: libyaml would silently
 * keep both, and the admin would not know which one counts. */
static int check_key(struct loader *ld, const yaml_node_t *map,
                     const yaml_node_pair_t *pair, const char *prefix,
                     const char **name)
{
    yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
    const char *where = prefix[0] ? prefix : "top level";
    if (k->type != YAML_SCALAR_NODE)
        return fail(ld, k, "%s: expected a key name, got %s", where,
                    node_kind(k));
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *e = yaml_document_get_node(ld->doc, p->key);
        if (e->type == YAML_SCALAR_NODE && strcmp(scalar_text(e), scalar_text(k)) == 0) {
            char q[QNAME_MAX];
            qualify(q, prefix, scalar_text(k));
            return fail(ld, k, "%s: set twice (first on line %d)", q, line_of(e));
        }
    }
    *name = scalar_text(k);
    return 0;
}

/* ---- key tables ---------------------------------------------------------- */

struct key_spec;
typedef int (*key_parser)(struct loader *ld, const struct key_spec *spec,
                          const char *qname, const yaml_node_t *key,
                          const yaml_node_t *value, void *target);

struct key_spec {
    const char *name;
    key_parser parse;
    size_t offset;                   /* of the field in the target struct */
    int64_t min, max;                /* integers: range; strings: min length */
    const struct key_spec *section;  /* keys of a nested mapping */
};

static int unknown_key(struct loader *ld, const yaml_node_t *k,
                       const char *prefix, const char *name,
                       const struct key_spec *keys)
{
    const char *names[HINT_NAMES_MAX];
    char hint[256];
    size_t n = 0;
    for (; n < HINT_NAMES_MAX && keys[n].name; n++)
        names[n] = keys[n].name;
    unknown_hint(name, names, n, hint, sizeof(hint));
    if (prefix[0])
        return fail(ld, k, "%s: unknown key '%s'%s", prefix, name, hint);
    return fail(ld, k, "unknown top-level key '%s'%s", name, hint);
}

static int walk_mapping(struct loader *ld, const yaml_node_t *map,
                        const char *prefix, const struct key_spec *keys,
                        void *target)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
        const struct key_spec *spec = keys;
        const char *name;
        char qname[QNAME_MAX];
        if (check_key(ld, map, p, prefix, &name) != 0)
            return -1;
        while (spec->name && strcmp(spec->name, name) != 0)
            spec++;
        if (!spec->name)
            return unknown_key(ld, k, prefix, name, keys);
        qualify(qname, prefix, name);
        if (spec->parse(ld, spec, qname, k, v, target) != 0)
            return -1;
    }
    return 0;
}

#define FIELD(target, spec, type) ((type *)((char *)(target) + (spec)->offset))

static int parse_section(struct loader *ld, const struct key_spec *spec,
                         const char *qname, const yaml_node_t *key,
                         const yaml_node_t *v, void *target)
{
    (void)key;
    if (is_null(v))  /* "admin:" with every child commented out */
        return 0;
    if (v->type != YAML_MAPPING_NODE)
        return fail(ld, v, "%s: expected a mapping of settings, got %s",
                    qname, node_kind(v));
    return walk_mapping(ld, v, qname, spec->section, target);
}

static int parse_int(struct loader *ld, const struct key_spec *spec,
                     const char *qname, const yaml_node_t *key,
                     const yaml_node_t *v, void *target)
{
    const char *text;
    int64_t n;
    char range[64];
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (parse_int64(text, &n) != 0 || n < spec->min || n > spec->max) {
        range_text(spec->min, spec->max, range, sizeof(range));
        return fail(ld, v, "%s: expected a whole number %s, got '%s'", qname,
                    range, text);
    }
    *FIELD(target, spec, int64_t) = n;
    return 0;
}

static int parse_bool_key(struct loader *ld, const struct key_spec *spec,
                          const char *qname, const yaml_node_t *key,
                          const yaml_node_t *v, void *target)
{
    const char *text;
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (parse_bool(text, FIELD(target, spec, int)) != 0)
        return fail(ld, v, "%s: expected true or false, got '%s'", qname, text);
    return 0;
}

static int store_string(struct loader *ld, char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return out_of_memory(ld);
    free(*slot);
    *slot = copy;
    return 0;
}

static int parse_string(struct loader *ld, const struct key_spec *spec,
                        const char *qname, const yaml_node_t *key,
                        const yaml_node_t *v, void *target)
{
    const char *text;
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if ((int64_t)strlen(text) < spec->min)
        return fail(ld, v, "%s: must not be empty", qname);
    return store_string(ld, FIELD(target, spec, char *), text);
}

static int parse_path(struct loader *ld, const struct key_spec *spec,
                      const char *qname, const yaml_node_t *key,
                      const yaml_node_t *v, void *target)
{
    const char *text;
    char *abs;
    char **slot = FIELD(target, spec, char *);
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (!text[0])
        return fail(ld, v, "%s: expected a path, got an empty value", qname);
    abs = resolve_path(ld->cfg->dir, text);
    if (!abs)
        return out_of_memory(ld);
    free(*slot);
    *slot = abs;
    return 0;
}

static int parse_log_level(struct loader *ld, const struct key_spec *spec,
                           const char *qname, const yaml_node_t *key,
                           const yaml_node_t *v, void *target)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    const char *text;
    char hint[128];
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(text, levels[i]) == 0)
            return store_string(ld, FIELD(target, spec, char *), text);
    unknown_hint(text, levels, 4, hint, sizeof(hint));
    return fail(ld, v, "%s: expected one of error, warn, info, debug, got '%s'%s",
                qname, text,
                strstr(hint, "did you mean") ? hint : "");
}

/* RFC 7230 token characters: the name goes straight into header lookups. */
static int parse_header_name(struct loader *ld, const struct key_spec *spec,
                             const char *qname, const yaml_node_t *key,
                             const yaml_node_t *v, void *target)
{
    const char *text;
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (!text[0] || strspn(text, "!#$%&'*+-.^_`|~0123456789"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz") != strlen(text))
        return fail(ld, v, "%s: '%s' is not an HTTP header name", qname, text);
    return store_string(ld, FIELD(target, spec, char *), text);
}

static int parse_admin_token(struct loader *ld, const struct key_spec *spec,
                             const char *qname, const yaml_node_t *key,
                             const yaml_node_t *v, void *target)
{
    const char *text;
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (strlen(text) < ADMIN_TOKEN_MIN)
        return fail(ld, v,
                    "%s: is %zu bytes long; at least %d are needed because it "
                    "alone guards every admin route (try: openssl rand -hex 16), "
                    "or remove the key to disable /admin",
                    qname, strlen(text), ADMIN_TOKEN_MIN);
    return store_string(ld, FIELD(target, spec, char *), text);
}

/* ---- auth: the secret, inline or from a file ----------------------------- */

static int jwt_conflict(struct loader *ld, const yaml_node_t *key)
{
    return fail(ld, key,
                "auth: set either jwt_secret or jwt_secret_file, not both "
                "(the other is on line %d)", ld->jwt_line);
}

static int parse_jwt_secret(struct loader *ld, const struct key_spec *spec,
                            const char *qname, const yaml_node_t *key,
                            const yaml_node_t *v, void *target)
{
    const char *text;
    if (ld->jwt_line)
        return jwt_conflict(ld, key);
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    ld->jwt_line = line_of(key);
    return store_string(ld, FIELD(target, spec, char *), text);
}

/* Reads at most SECRET_FILE_MAX bytes; the secret is a C string, so a NUL
 * inside would silently shorten it. */
static int read_secret_file(struct loader *ld, const char *qname,
                            const yaml_node_t *v, const char *path, char **out)
{
    char *buf = NULL;
    size_t len;
    struct stat st;
    FILE *f;

    /* A FIFO or a device (/dev/stdin) would block the start, or never end. */
    if (stat(path, &st) != 0)
        return fail(ld, v, "%s: cannot read '%s': %s", qname, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(ld, v, "%s: '%s' is not a regular file", qname, path);
    f = fopen(path, "rb");
    if (!f)
        return fail(ld, v, "%s: cannot read '%s': %s", qname, path, strerror(errno));
    buf = malloc(SECRET_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return out_of_memory(ld);
    }
    len = fread(buf, 1, SECRET_FILE_MAX + 1, f);
    if (ferror(f)) {
        fail(ld, v, "%s: cannot read '%s': %s", qname, path, strerror(errno));
        goto fail;
    }
    if (len > SECRET_FILE_MAX) {
        fail(ld, v, "%s: '%s' is larger than %d bytes: is it the right file?",
             qname, path, SECRET_FILE_MAX);
        goto fail;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (memchr(buf, '\0', len)) {
        fail(ld, v, "%s: '%s' contains a NUL byte; store the secret as text "
             "(for example base64)", qname, path);
        goto fail;
    }
    buf[len] = '\0';
    fclose(f);
    *out = buf;
    return 0;
fail:
    fclose(f);
    free(buf);
    return -1;
}

static int parse_jwt_secret_file(struct loader *ld, const struct key_spec *spec,
                                 const char *qname, const yaml_node_t *key,
                                 const yaml_node_t *v, void *target)
{
    const char *text;
    char *path = NULL, *secret = NULL;
    char **slot = FIELD(target, spec, char *);
    if (ld->jwt_line)
        return jwt_conflict(ld, key);
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (!text[0])
        return fail(ld, v, "%s: expected a path, got an empty value", qname);
    path = resolve_path(ld->cfg->dir, text);
    if (!path)
        return out_of_memory(ld);
    if (read_secret_file(ld, qname, v, path, &secret) != 0)
        goto fail;
    free(path);
    free(*slot);
    *slot = secret;
    ld->jwt_line = line_of(key);
    return 0;
fail:
    free(path);
    return -1;
}

/* ---- auth: an identity provider's keys and rules ------------------------- */

static int parse_jwks_file(struct loader *ld, const struct key_spec *spec,
                           const char *qname, const yaml_node_t *key,
                           const yaml_node_t *v, void *target)
{
    ld->jwks_file_line = line_of(key);
    return parse_path(ld, spec, qname, key, v, target);
}

/* Keys fetched over plain HTTP could be swapped by anyone on the path. */
static int parse_jwks_url(struct loader *ld, const struct key_spec *spec,
                          const char *qname, const yaml_node_t *key,
                          const yaml_node_t *v, void *target)
{
    const char *text;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (strncasecmp(text, "https://", 8) != 0 || !text[8])
        return fail(ld, v, "%s: expected an https:// URL, got '%s' (the keys "
                    "that sign tokens must not travel unprotected)", qname, text);
    ld->jwks_url_line = line_of(key);
    return store_string(ld, FIELD(target, spec, char *), text);
}

static int parse_claim_value(struct loader *ld, const struct key_spec *spec,
                             const char *qname, const yaml_node_t *key,
                             const yaml_node_t *v, void *target)
{
    *(strcmp(spec->name, "issuer") == 0 ? &ld->issuer_line
                                        : &ld->audience_line) = line_of(key);
    return parse_string(ld, spec, qname, key, v, target);
}

static int parse_algorithm(struct loader *ld, const char *qname,
                           const yaml_node_t *item, unsigned *algs)
{
    static const char *const names[] = {"HS256", "RS256", "ES256", "EdDSA"};
    const char *text;
    char hint[128];
    if (expect_scalar(ld, qname, item, &text) != 0)
        return -1;
    unsigned a = fs_jwt_alg_parse(text, strlen(text));
    if (a == 0) {
        unknown_hint(text, names, 4, hint, sizeof(hint));
        return fail(ld, item, "%s: '%s' is not an accepted algorithm (HS256, "
                    "RS256, ES256, EdDSA)%s", qname, text,
                    strstr(hint, "did you mean") ? hint : "");
    }
    *algs |= a;
    return 0;
}

static int parse_algorithms(struct loader *ld, const struct key_spec *spec,
                            const char *qname, const yaml_node_t *key,
                            const yaml_node_t *v, void *target)
{
    unsigned algs = 0;
    if (v->type != YAML_SEQUENCE_NODE ||
        v->data.sequence.items.top == v->data.sequence.items.start)
        return fail(ld, v, "%s: expected a list such as [RS256, ES256, EdDSA], "
                    "got %s", qname, is_null(v) ? "nothing" : node_kind(v));
    for (yaml_node_item_t *i = v->data.sequence.items.start;
         i < v->data.sequence.items.top; i++)
        if (parse_algorithm(ld, qname, yaml_document_get_node(ld->doc, *i),
                            &algs) != 0)
            return -1;
    ld->algorithms_line = line_of(key);
    *FIELD(target, spec, unsigned) = algs;
    return 0;
}

/* ---- flat key -> scalar blocks: plugins and policy settings -------------- */

static int parse_flat_pair(struct loader *ld, const yaml_node_t *map,
                           const yaml_node_pair_t *p, const char *prefix,
                           struct fs_config_kv **kv, size_t *n)
{
    const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
    const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
    const char *name, *text;
    char qname[QNAME_MAX];
    if (check_key(ld, map, p, prefix, &name) != 0)
        return -1;
    qualify(qname, prefix, name);
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (kv_append(kv, n, name, text, line_of(k)) != 0)
        return out_of_memory(ld);
    return 0;
}

/* The name becomes part of a file name (<kind>_<name>.so): ids' alphabet
 * keeps it inside the plugin directory. */
static int parse_plugin_name(struct loader *ld, const char *prefix,
                             const yaml_node_t *v, struct fs_plugin_config *pc)
{
    const char *text;
    char qname[QNAME_MAX];
    qualify(qname, prefix, "name");
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (!fs_id_valid(text) || strchr(text, '.'))
        return fail(ld, v, "%s: '%s' is not a plugin name (letters, digits, "
                    "'_', '-')", qname, text);
    pc->name = strdup(text);
    pc->name_line = line_of(v);
    return pc->name ? 0 : out_of_memory(ld);
}

static int parse_plugin_pairs(struct loader *ld, const yaml_node_t *v,
                              const char *qname, struct fs_plugin_config *pc)
{
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
         p < v->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar_text(k), "name") == 0) {
            const char *dummy;
            if (check_key(ld, v, p, qname, &dummy) != 0 ||
                parse_plugin_name(ld, qname, yaml_document_get_node(ld->doc, p->value),
                                  pc) != 0)
                return -1;
        } else if (parse_flat_pair(ld, v, p, qname, &pc->kv, &pc->n_kv) != 0) {
            return -1;
        }
    }
    return 0;
}

static int parse_plugin_block(struct loader *ld, const struct key_spec *spec,
                              const char *qname, const yaml_node_t *key,
                              const yaml_node_t *v, void *target)
{
    struct fs_plugin_config pc = {.line = line_of(key)};
    struct fs_plugin_config *slot = FIELD(target, spec, struct fs_plugin_config);
    if (v->type != YAML_MAPPING_NODE)
        return fail(ld, v, "%s: expected a mapping such as { name: ... }, got %s",
                    qname, is_null(v) ? "nothing" : node_kind(v));
    if (parse_plugin_pairs(ld, v, qname, &pc) != 0)
        goto fail;
    if (!pc.name) {
        fail(ld, key, "%s: missing required key 'name' (which %s plugin to load)",
             qname, spec->name);
        goto fail;
    }
    plugin_config_clear(slot);
    *slot = pc;
    return 0;
fail:
    plugin_config_clear(&pc);
    return -1;
}

static int parse_policy_settings(struct loader *ld, const struct key_spec *spec,
                                 const char *qname, const yaml_node_t *key,
                                 const yaml_node_t *v, void *target)
{
    struct fs_config *cfg = target;
    (void)spec;
    (void)key;
    if (is_null(v))
        return 0;
    if (v->type != YAML_MAPPING_NODE)
        return fail(ld, v, "%s: expected a mapping of key: value, got %s",
                    qname, node_kind(v));
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
         p < v->data.mapping.pairs.top; p++)
        if (parse_flat_pair(ld, v, p, qname, &cfg->policy_settings,
                            &cfg->n_policy_settings) != 0)
            return -1;
    return 0;
}

/* ---- sales --------------------------------------------------------------- */

struct sale_parse {
    struct fs_sale_config sale;
    int has_inventory;
    int starts_line, ends_line;
};

static int parse_sale_id(struct loader *ld, const struct key_spec *spec,
                         const char *qname, const yaml_node_t *key,
                         const yaml_node_t *v, void *target)
{
    const char *text;
    (void)key;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (!fs_id_valid(text))
        return fail(ld, v, "%s: '%s' is not a valid sale id (1 to %d characters "
                    "of A-Z a-z 0-9 . _ -)", qname, text, FS_ID_MAX);
    return store_string(ld, FIELD(target, spec, char *), text);
}

static int parse_sale_inventory(struct loader *ld, const struct key_spec *spec,
                                const char *qname, const yaml_node_t *key,
                                const yaml_node_t *v, void *target)
{
    ((struct sale_parse *)target)->has_inventory = 1;
    return parse_int(ld, spec, qname, key, v, target);
}

static int parse_sale_time(struct loader *ld, const struct key_spec *spec,
                           const char *qname, const yaml_node_t *v, void *target)
{
    const char *text;
    int64_t ms;
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    if (fs_parse_rfc3339(text, &ms) != 0)
        return fail(ld, v, "%s: expected an RFC 3339 time such as "
                    "2026-12-01T10:00:00Z, got '%s'", qname, text);
    if (ms <= 0)  /* 0 means "unset" in struct fs_sale_config */
        return fail(ld, v, "%s: must be after 1970-01-01T00:00:00Z", qname);
    *FIELD(target, spec, int64_t) = ms;
    return 0;
}

static int parse_starts_at(struct loader *ld, const struct key_spec *spec,
                           const char *qname, const yaml_node_t *key,
                           const yaml_node_t *v, void *target)
{
    ((struct sale_parse *)target)->starts_line = line_of(key);
    return parse_sale_time(ld, spec, qname, v, target);
}

static int parse_ends_at(struct loader *ld, const struct key_spec *spec,
                         const char *qname, const yaml_node_t *key,
                         const yaml_node_t *v, void *target)
{
    ((struct sale_parse *)target)->ends_line = line_of(key);
    return parse_sale_time(ld, spec, qname, v, target);
}

#define SALE(field) offsetof(struct sale_parse, sale.field)
static const struct key_spec sale_keys[] = {
    {"id", parse_sale_id, SALE(id), 0, 0, NULL},
    {"inventory", parse_sale_inventory, SALE(inventory), 0, INT64_MAX, NULL},
    {"hold_seconds", parse_int, SALE(hold_seconds), 1, 86400, NULL},
    {"max_queued", parse_int, SALE(max_queued), 0, INT32_MAX, NULL},
    {"starts_at", parse_starts_at, SALE(starts_at_ms), 0, 0, NULL},
    {"ends_at", parse_ends_at, SALE(ends_at_ms), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static int check_sale(struct loader *ld, const yaml_node_t *item,
                      const char *prefix, const struct sale_parse *sp)
{
    const struct fs_config *cfg = ld->cfg;
    if (!sp->sale.id)
        return fail(ld, item, "%s: missing required key 'id'", prefix);
    if (!sp->has_inventory)
        return fail(ld, item, "%s (%s): missing required key 'inventory'",
                    prefix, sp->sale.id);
    if (sp->sale.starts_at_ms && sp->sale.ends_at_ms &&
        sp->sale.ends_at_ms <= sp->sale.starts_at_ms) {
        errorf(ld->err, ld->errlen, ld->file, sp->ends_line,
               "%s.ends_at: must be after starts_at (line %d)", prefix,
               sp->starts_line);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_sales; i++)
        if (strcmp(cfg->sales[i].id, sp->sale.id) == 0)
            return fail(ld, item, "%s.id: duplicate sale id '%s' (first on line %d)",
                        prefix, sp->sale.id, cfg->sales[i].line);
    return 0;
}

static int parse_sale(struct loader *ld, const yaml_node_t *item, size_t index)
{
    struct sale_parse sp = {.sale = {.hold_seconds = 300,
                                     .max_queued = FS_SALE_MAX_QUEUED_DEFAULT,
                                     .line = line_of(item)}};
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "sales[%zu]", index);
    if (item->type != YAML_MAPPING_NODE) {
        fail(ld, item, "%s: expected a mapping such as { id: launch, inventory: "
             "100 }, got %s", prefix, node_kind(item));
        goto fail;
    }
    if (walk_mapping(ld, item, prefix, sale_keys, &sp) != 0 ||
        check_sale(ld, item, prefix, &sp) != 0)
        goto fail;
    ld->cfg->sales[ld->cfg->n_sales++] = sp.sale;
    return 0;
fail:
    free(sp.sale.id);
    return -1;
}

static int parse_sales(struct loader *ld, const struct key_spec *spec,
                       const char *qname, const yaml_node_t *key,
                       const yaml_node_t *v, void *target)
{
    struct fs_config *cfg = target;
    size_t n;
    (void)spec;
    (void)key;
    if (is_null(v))
        return 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(ld, v, "%s: expected a list of sales (lines starting with "
                    "'- id: ...'), got %s", qname, node_kind(v));
    n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    cfg->sales = calloc(n ? n : 1, sizeof(*cfg->sales));
    if (!cfg->sales)
        return out_of_memory(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc,
                                                   v->data.sequence.items.start[i]);
        if (parse_sale(ld, item, i) != 0)
            return -1;
    }
    return 0;
}

/* ---- listen, tls and log ------------------------------------------------ */

/* One of `choices` (n of them), else an error listing them. */
static int parse_choice(struct loader *ld, const char *qname,
                        const yaml_node_t *v, const char *const *choices,
                        size_t n, char **slot)
{
    const char *text;
    char hint[128], list[128] = "";
    if (expect_scalar(ld, qname, v, &text) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(text, choices[i]) == 0)
            return store_string(ld, slot, text);
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                 i == 0 ? "" : i + 1 == n ? " or " : ", ", choices[i]);
    }
    unknown_hint(text, choices, n, hint, sizeof(hint));
    return fail(ld, v, "%s: expected %s, got '%s'%s", qname, list, text,
                strstr(hint, "did you mean") ? hint : "");
}

static int parse_log_format(struct loader *ld, const struct key_spec *spec,
                            const char *qname, const yaml_node_t *key,
                            const yaml_node_t *v, void *target)
{
    static const char *const formats[] = {"text", "json"};
    (void)key;
    return parse_choice(ld, qname, v, formats, 2, FIELD(target, spec, char *));
}

/* The line is kept: tls ports are checked against the tls block at the end. */
static int parse_listen(struct loader *ld, const struct key_spec *spec,
                        const char *qname, const yaml_node_t *key,
                        const yaml_node_t *v, void *target)
{
    ld->cfg->listen_line = line_of(v);
    return parse_string(ld, spec, qname, key, v, target);
}

/* The files' contents are checked with OpenSSL by src/http/http_tls.c,
 * which names these lines. */
static int parse_tls_cert(struct loader *ld, const struct key_spec *spec,
                          const char *qname, const yaml_node_t *key,
                          const yaml_node_t *v, void *target)
{
    ld->cfg->tls.cert_line = line_of(v);
    return parse_path(ld, spec, qname, key, v, target);
}

static int parse_tls_key(struct loader *ld, const struct key_spec *spec,
                         const char *qname, const yaml_node_t *key,
                         const yaml_node_t *v, void *target)
{
    ld->cfg->tls.key_line = line_of(v);
    return parse_path(ld, spec, qname, key, v, target);
}

/* Only what OpenSSL 3 still negotiates at its default security level:
 * TLS 1.0 and 1.1 are refused there anyway. */
static int parse_tls_min_version(struct loader *ld, const struct key_spec *spec,
                                 const char *qname, const yaml_node_t *key,
                                 const yaml_node_t *v, void *target)
{
    static const char *const versions[] = {"1.2", "1.3"};
    (void)key;
    ld->cfg->tls.min_version_line = line_of(v);
    return parse_choice(ld, qname, v, versions, 2, FIELD(target, spec, char *));
}

/* 1 if `listen` names a TLS port: civetweb's syntax ends one with 's'
 * ("0.0.0.0:8443s"). */
static int listen_has_tls_port(const char *listen)
{
    for (const char *p = listen; *p;) {
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end > 0 && p[end - 1] == 's')
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* A TLS port needs a certificate, and a certificate a TLS port to serve. */
static int check_tls_ports(struct loader *ld)
{
    struct fs_config *cfg = ld->cfg;
    int tls_port = listen_has_tls_port(cfg->listen);
    int tls_line = cfg->tls.cert_line   ? cfg->tls.cert_line
                   : cfg->tls.key_line  ? cfg->tls.key_line
                                        : cfg->tls.min_version_line;

    if (tls_port && !cfg->tls.cert_file) {
        errorf(ld->err, ld->errlen, ld->file, cfg->listen_line,
               "listen: '%s' has a TLS port (one ending in 's'), but "
               "tls.cert_file is not set: it needs a certificate and its key",
               cfg->listen);
        return -1;
    }
    if (!tls_port && tls_line) {
        errorf(ld->err, ld->errlen, ld->file, tls_line,
               "tls: is set, but no port in listen ('%s') is a TLS port: add "
               "one ending in 's' (for example \"0.0.0.0:8443s\"), beside the "
               "plain ones if you like", cfg->listen);
        return -1;
    }
    if (tls_line && !cfg->tls.cert_file) {
        errorf(ld->err, ld->errlen, ld->file, tls_line,
               "tls.cert_file is required in the tls block: the PEM "
               "certificate (then its intermediates) served on the TLS ports");
        return -1;
    }
    return 0;
}

/* ---- the tables of the core's sections ----------------------------------- */

/* Checked against http.threads once the whole section is read (finish). */
static int parse_max_connections(struct loader *ld, const struct key_spec *spec,
                                 const char *qname, const yaml_node_t *key,
                                 const yaml_node_t *v, void *target)
{
    ld->max_connections_line = line_of(v);
    return parse_int(ld, spec, qname, key, v, target);
}

#define CFG(field) offsetof(struct fs_config, field)
static const struct key_spec http_keys[] = {
    {"threads", parse_int, CFG(http.threads), 1, 16384, NULL},
    {"listen_backlog", parse_int, CFG(http.listen_backlog), 1, 65535, NULL},
    /* At most an hour, as request_timeout_ms: an idle connection holds a
     * thread all that time (0 turns keep-alive off). */
    {"keep_alive_timeout_ms", parse_int, CFG(http.keep_alive_timeout_ms), 0,
     3600000, NULL},
    /* No 0: a connection must never hold a thread without a deadline. */
    {"request_timeout_ms", parse_int, CFG(http.request_timeout_ms), 100,
     3600000, NULL},
    {"max_body_bytes", parse_int, CFG(http.max_body_bytes), 256, 1048576, NULL},
    {"max_header_bytes", parse_int, CFG(http.max_header_bytes), 1024, 65536, NULL},
    {"max_streams", parse_int, CFG(http.max_streams), 0, 65536, NULL},
    {"max_streams_per_user", parse_int, CFG(http.max_streams_per_user), 1, 64, NULL},
    {"max_connections", parse_max_connections, CFG(http.max_connections), 0,
     16384, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec plugins_keys[] = {
    {"dir", parse_path, CFG(plugins_dir), 0, 0, NULL},
    {"queue", parse_plugin_block, CFG(queue), 0, 0, NULL},
    {"inventory", parse_plugin_block, CFG(inventory), 0, 0, NULL},
    {"storage", parse_plugin_block, CFG(storage), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec auth_keys[] = {
    {"jwt_secret", parse_jwt_secret, CFG(jwt_secret), 0, 0, NULL},
    {"jwt_secret_file", parse_jwt_secret_file, CFG(jwt_secret), 0, 0, NULL},
    {"trusted_user_header", parse_header_name, CFG(trusted_user_header), 0, 0, NULL},
    {"jwks_file", parse_jwks_file, CFG(auth.jwks_file), 0, 0, NULL},
    {"jwks_url", parse_jwks_url, CFG(auth.jwks_url), 0, 0, NULL},
    {"jwks_ca_file", parse_path, CFG(auth.jwks_ca_file), 0, 0, NULL},
    {"jwks_refresh_s", parse_int, CFG(auth.jwks_refresh_s), 10, 86400, NULL},
    {"jwks_min_interval_s", parse_int, CFG(auth.jwks_min_interval_s), 1, 3600,
     NULL},
    {"issuer", parse_claim_value, CFG(auth.issuer), 1, 0, NULL},
    {"audience", parse_claim_value, CFG(auth.audience), 1, 0, NULL},
    {"algorithms", parse_algorithms, CFG(auth.algorithms), 0, 0, NULL},
    {"leeway_s", parse_int, CFG(auth.leeway_s), 0, 600, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec policies_keys[] = {
    {"dir", parse_path, CFG(policies_dir), 0, 0, NULL},
    {"settings", parse_policy_settings, 0, 0, 0, NULL},
    {"fail_open", parse_bool_key, CFG(policy_fail_open), 0, 0, NULL},
    {"instructions_max", parse_int, CFG(policy_instructions_max), 1000,
     100000000, NULL},
    {"memory_max_kb", parse_int, CFG(policy_memory_max_kb), 256, 1048576, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec admin_keys[] = {
    {"token", parse_admin_token, CFG(admin_token), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec worker_keys[] = {
    {"batch", parse_int, CFG(worker.batch), 1, 4096, NULL},
    {"sweep_interval_ms", parse_int, CFG(worker.sweep_interval_ms), 10, 60000, NULL},
    {"claim_lease_ms", parse_int, CFG(worker.claim_lease_ms), 100, 600000, NULL},
    {"resync_interval_ms", parse_int, CFG(worker.resync_interval_ms), 100, 600000, NULL},
    {"claim_audit_interval_ms", parse_int, CFG(worker.claim_audit_interval_ms), 100, 3600000, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec log_keys[] = {
    {"level", parse_log_level, CFG(log_level), 0, 0, NULL},
    {"format", parse_log_format, CFG(log_format), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec tls_keys[] = {
    {"cert_file", parse_tls_cert, CFG(tls.cert_file), 0, 0, NULL},
    {"key_file", parse_tls_key, CFG(tls.key_file), 0, 0, NULL},
    {"min_version", parse_tls_min_version, CFG(tls.min_version), 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

static const struct key_spec top_keys[] = {
    {"listen", parse_listen, CFG(listen), 1, 0, NULL},
    {"http", parse_section, 0, 0, 0, http_keys},
    {"tls", parse_section, 0, 0, 0, tls_keys},
    {"plugins", parse_section, 0, 0, 0, plugins_keys},
    {"auth", parse_section, 0, 0, 0, auth_keys},
    {"policies", parse_section, 0, 0, 0, policies_keys},
    {"admin", parse_section, 0, 0, 0, admin_keys},
    {"worker", parse_section, 0, 0, 0, worker_keys},
    {"log", parse_section, 0, 0, 0, log_keys},
    {"sales", parse_sales, 0, 0, 0, NULL},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* ---- loading ------------------------------------------------------------- */

static int set_defaults(struct fs_config *cfg)
{
    cfg->http.threads = 2048;
    cfg->http.listen_backlog = 4096;
    cfg->http.keep_alive_timeout_ms = 5000;
    cfg->http.request_timeout_ms = 5000;
    cfg->http.max_body_bytes = 4096;
    cfg->http.max_header_bytes = 8192;
    cfg->http.max_streams = 256;
    cfg->http.max_streams_per_user = 2;
    cfg->worker.batch = 128;
    cfg->worker.sweep_interval_ms = 200;
    cfg->worker.claim_lease_ms = 15000;
    cfg->worker.resync_interval_ms = 1000;
    cfg->worker.claim_audit_interval_ms = 10000;
    cfg->policy_instructions_max = 1000000;
    cfg->policy_memory_max_kb = 4096;
    cfg->auth.jwks_refresh_s = 300;
    cfg->auth.jwks_min_interval_s = 10;
    cfg->listen = strdup("127.0.0.1:8080");
    cfg->log_level = strdup("info");
    cfg->log_format = strdup("text");
    cfg->tls.min_version = strdup("1.2");
    cfg->queue.name = strdup("memory");
    cfg->inventory.name = strdup("memory");
    /* No kv: the sqlite plugin's own default path applies. */
    cfg->storage.name = strdup("sqlite");
    return cfg->listen && cfg->log_level && cfg->log_format &&
                   cfg->tls.min_version && cfg->queue.name &&
                   cfg->inventory.name && cfg->storage.name
               ? 0
               : -1;
}

/* cfg->path is the file's realpath, cfg->dir its folder: relative paths must
 * not change meaning when the daemon's working directory does. */
static int set_location(struct fs_config *cfg, const char *path, char *err,
                        size_t errlen)
{
    struct stat st;
    char *slash;
    if (stat(path, &st) != 0 || !(cfg->path = realpath(path, NULL))) {
        errorf(err, errlen, path, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        errorf(err, errlen, path, 0, "not a regular file");
        return -1;
    }
    cfg->dir = strdup(cfg->path);
    if (!cfg->dir) {
        errorf(err, errlen, path, 0, "out of memory");
        return -1;
    }
    slash = strrchr(cfg->dir, '/');
    slash[slash == cfg->dir ? 1 : 0] = '\0';
    return 0;
}

/* The reader reports a byte offset (bad UTF-8 has no line yet): count. */
static int line_at_offset(FILE *f, size_t offset)
{
    int line = 1, c;
    rewind(f);
    for (size_t i = 0; i < offset && (c = getc(f)) != EOF; i++)
        line += c == '\n';
    return line;
}

static void yaml_error(const yaml_parser_t *p, FILE *f, const char *file,
                       char *err, size_t errlen)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        errorf(err, errlen, file, 0, "out of memory while reading YAML");
        break;
    case YAML_READER_ERROR:
        errorf(err, errlen, file, line_at_offset(f, p->problem_offset),
               "invalid YAML: %s (byte %zu of the file)", problem,
               p->problem_offset);
        break;
    default:
        if (p->context)
            errorf(err, errlen, file, (int)p->problem_mark.line + 1,
                   "invalid YAML: %s (%s started on line %d)", problem, p->context,
                   (int)p->context_mark.line + 1);
        else
            errorf(err, errlen, file, (int)p->problem_mark.line + 1,
                   "invalid YAML: %s", problem);
    }
}

/* Loads the one document of the file; a second document is an error, as it
 * would otherwise be ignored without a word. */
static int load_document(FILE *f, const char *file, yaml_document_t *doc,
                         char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int rc = -1;
    if (!yaml_parser_initialize(&parser)) {
        errorf(err, errlen, file, 0, "out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, doc)) {
        yaml_error(&parser, f, file, err, errlen);
        goto out;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_error(&parser, f, file, err, errlen);
        yaml_document_delete(doc);
        goto out;
    }
    if (yaml_document_get_root_node(&extra)) {
        errorf(err, errlen, file, (int)extra.start_mark.line + 1,
               "a second YAML document ('---') starts here; put every setting "
               "in one document");
        yaml_document_delete(&extra);
        yaml_document_delete(doc);
        goto out;
    }
    yaml_document_delete(&extra);
    rc = 0;
out:
    yaml_parser_delete(&parser);
    return rc;
}

/* The JWKS file is read and its keys built now, so that --check-config and
 * a start both say what is wrong with it (the refresher re-reads it). */
static int check_jwks_file(struct loader *ld)
{
    char why[FS_CONFIG_ERR_MAX];
    struct fs_jwks *set = fs_jwks_load_file(ld->cfg->auth.jwks_file, why,
                                            sizeof(why));
    if (set == NULL) {
        errorf(ld->err, ld->errlen, ld->file, ld->jwks_file_line,
               "auth.jwks_file: '%s': %s", ld->cfg->auth.jwks_file, why);
        return -1;
    }
    fs_jwks_unref(set);
    return 0;
}

/* Which algorithms are allowed: HS256 only with a secret (a key from a
 * JWKS never serves as an HMAC secret), the others only with keys. */
static int check_algorithms(struct loader *ld)
{
    struct fs_config *cfg = ld->cfg;
    int jwks = cfg->auth.jwks_file || cfg->auth.jwks_url;
    unsigned usable = (cfg->jwt_secret ? FS_JWT_HS256 : 0) |
                      (jwks ? FS_JWT_ASYMMETRIC : 0);
    if (!ld->algorithms_line) {
        cfg->auth.algorithms = usable;
        return 0;
    }
    if (cfg->auth.algorithms & ~usable) {
        errorf(ld->err, ld->errlen, ld->file, ld->algorithms_line,
               "auth.algorithms: %s needs %s",
               cfg->auth.algorithms & ~usable & FS_JWT_HS256
                   ? "HS256" : "RS256, ES256 and EdDSA each",
               cfg->auth.algorithms & ~usable & FS_JWT_HS256
                   ? "auth.jwt_secret (or jwt_secret_file)"
                   : "auth.jwks_file or auth.jwks_url");
        return -1;
    }
    return 0;
}

static int check_auth(struct loader *ld, const yaml_node_t *root)
{
    struct fs_config *cfg = ld->cfg;
    int jwks = cfg->auth.jwks_file || cfg->auth.jwks_url;
    int claim_line = ld->issuer_line ? ld->issuer_line : ld->audience_line;
    if (!cfg->jwt_secret && !jwks)
        return fail(ld, root,
                    "auth.jwt_secret is required (or auth.jwt_secret_file), "
                    "unless an identity provider's keys are set (auth.jwks_file "
                    "or auth.jwks_url): it is the HS256 key that client tokens "
                    "are signed with");
    if (claim_line && !jwks) {
        errorf(ld->err, ld->errlen, ld->file, claim_line,
               "auth.issuer and auth.audience apply to an identity provider's "
               "tokens: set auth.jwks_file or auth.jwks_url too");
        return -1;
    }
    if (check_algorithms(ld) != 0)
        return -1;
    return cfg->auth.jwks_file ? check_jwks_file(ld) : 0;
}

static int finish(struct loader *ld, const yaml_node_t *root)
{
    struct fs_config *cfg = ld->cfg;
    if (check_auth(ld, root) != 0)
        return -1;
    if (cfg->jwt_secret && strlen(cfg->jwt_secret) < JWT_SECRET_MIN) {
        errorf(ld->err, ld->errlen, ld->file, ld->jwt_line,
               "auth.jwt_secret: is %zu bytes long; at least %d are needed "
               "because anyone who guesses the HS256 secret can sign tokens for "
               "any user (use 32 random bytes: openssl rand -base64 32)",
               strlen(cfg->jwt_secret), JWT_SECRET_MIN);
        return -1;
    }
    if (cfg->http.max_connections > cfg->http.threads) {
        errorf(ld->err, ld->errlen, ld->file, ld->max_connections_line,
               "http.max_connections: %lld is more than http.threads (%lld): "
               "every served connection holds a thread, and the rest are "
               "needed to answer 503 past the limit",
               (long long)cfg->http.max_connections,
               (long long)cfg->http.threads);
        return -1;
    }
    if (check_tls_ports(ld) != 0)
        return -1;
    if (!cfg->policies_dir && !(cfg->policies_dir = resolve_path(cfg->dir, "policies")))
        return out_of_memory(ld);
    return 0;
}

static int load_root(struct loader *ld)
{
    const yaml_node_t *root = yaml_document_get_root_node(ld->doc);
    if (!root) {
        errorf(ld->err, ld->errlen, ld->file, 1,
               "the file is empty; expected a mapping of settings with at least "
               "auth: { jwt_secret: ... }");
        return -1;
    }
    if (root->type != YAML_MAPPING_NODE || is_null(root))
        return fail(ld, root, "expected a mapping of settings (key: value) at "
                    "the top level, got %s", node_kind(root));
    if (walk_mapping(ld, root, "", top_keys, ld->cfg) != 0)
        return -1;
    return finish(ld, root);
}

struct fs_config *fs_config_load(const char *path, char *err, size_t errlen)
{
    struct fs_config *cfg = calloc(1, sizeof(*cfg));
    yaml_document_t doc;
    struct loader ld = {.file = path, .doc = &doc, .cfg = cfg, .err = err,
                        .errlen = errlen};
    FILE *f = NULL;
    int loaded = 0;
    if (!cfg || set_defaults(cfg) != 0) {
        errorf(err, errlen, path, 0, "out of memory");
        goto fail;
    }
    if (set_location(cfg, path, err, errlen) != 0)
        goto fail;
    if (!(f = fopen(cfg->path, "rb"))) {
        errorf(err, errlen, path, 0, "cannot read: %s", strerror(errno));
        goto fail;
    }
    if (load_document(f, path, &doc, err, errlen) != 0)
        goto fail;
    loaded = 1;
    if (load_root(&ld) != 0)
        goto fail;
    yaml_document_delete(&doc);
    fclose(f);
    return cfg;
fail:
    if (loaded)
        yaml_document_delete(&doc);
    if (f)
        fclose(f);
    fs_config_free(cfg);
    return NULL;
}

int fs_config_uses_sample_secret(const struct fs_config *cfg)
{
    return cfg->jwt_secret && strcmp(cfg->jwt_secret, FS_SAMPLE_JWT_SECRET) == 0;
}

void fs_config_free(struct fs_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->dir);
    free(cfg->listen);
    free(cfg->plugins_dir);
    plugin_config_clear(&cfg->queue);
    plugin_config_clear(&cfg->inventory);
    plugin_config_clear(&cfg->storage);
    free(cfg->jwt_secret);
    free(cfg->trusted_user_header);
    free(cfg->auth.jwks_file);
    free(cfg->auth.jwks_url);
    free(cfg->auth.jwks_ca_file);
    free(cfg->auth.issuer);
    free(cfg->auth.audience);
    free(cfg->policies_dir);
    kv_free(cfg->policy_settings, cfg->n_policy_settings);
    free(cfg->admin_token);
    free(cfg->log_level);
    free(cfg->log_format);
    free(cfg->tls.cert_file);
    free(cfg->tls.key_file);
    free(cfg->tls.min_version);
    for (size_t i = 0; i < cfg->n_sales; i++)
        free(cfg->sales[i].id);
    free(cfg->sales);
    free(cfg);
}

const struct fs_sale_config *fs_config_sale(const struct fs_config *cfg,
                                            const char *sale_id)
{
    if (!cfg || !sale_id)
        return NULL;
    for (size_t i = 0; i < cfg->n_sales; i++)
        if (strcmp(cfg->sales[i].id, sale_id) == 0)
            return &cfg->sales[i];
    return NULL;
}

/* ---- plugin options ------------------------------------------------------ */

struct fs_option_values {
    char **strings;  /* every string handed to the plugin's config struct */
    size_t n;
};

struct options_ctx {
    const struct fs_plugin_config *block;
    const char *kind;
    const char *base_dir;
    const char *file;
    char *err;
    size_t errlen;
    struct fs_option_values *values;
};

static int track_string(struct options_ctx *oc, char *s)
{
    char **grown = realloc(oc->values->strings,
                           (oc->values->n + 1) * sizeof(char *));
    if (!grown) {
        free(s);
        return -1;
    }
    oc->values->strings = grown;
    grown[oc->values->n++] = s;
    return 0;
}

static int option_error(struct options_ctx *oc, int line, const char *name,
                        const char *expected, const char *text)
{
    errorf(oc->err, oc->errlen, oc->file, line,
           "plugins.%s.%s.%s: expected %s, got '%s'", oc->kind,
           oc->block->name, name, expected, text);
    return -1;
}

/* Writes one value into the plugin's struct; line 0 means it is the
 * plugin's own default (a bad default is the plugin author's bug). */
static int option_set(struct options_ctx *oc, const struct fs_option *opt,
                      const char *text, int line, void *out)
{
    char *field = (char *)out + opt->offset;
    char *s;
    switch (opt->type) {
    case FS_OPT_INT:
        if (parse_int64(text, (int64_t *)(void *)field) != 0)
            return option_error(oc, line, opt->name, "a whole number", text);
        return 0;
    case FS_OPT_BOOL:
        if (parse_bool(text, (int *)(void *)field) != 0)
            return option_error(oc, line, opt->name,
                                "true or false (also yes/no, on/off, 1/0)", text);
        return 0;
    case FS_OPT_PATH:
        if (!text[0])
            return option_error(oc, line, opt->name, "a path", text);
        s = resolve_path(oc->base_dir, text);
        break;
    case FS_OPT_STRING:
        s = strdup(text);
        break;
    default:
        errorf(oc->err, oc->errlen, oc->file, line,
               "plugins.%s.%s: option '%s' has an unknown type %d", oc->kind,
               oc->block->name, opt->name ? opt->name : "?", (int)opt->type);
        return -1;
    }
    if (!s || track_string(oc, s) != 0) {
        errorf(oc->err, oc->errlen, oc->file, line, "out of memory");
        return -1;
    }
    *(char **)(void *)field = s;
    return 0;
}

static const struct fs_option *option_find(const struct fs_option *options,
                                           const char *name)
{
    for (; options->type != FS_OPT_END; options++)
        if (strcmp(options->name, name) == 0)
            return options;
    return NULL;
}

static int check_unknown_keys(struct options_ctx *oc,
                              const struct fs_option *options)
{
    const char *names[HINT_NAMES_MAX];
    char hint[256];
    size_t n = 0;
    for (size_t i = 0; i < oc->block->n_kv; i++) {
        const struct fs_config_kv *kv = &oc->block->kv[i];
        if (option_find(options, kv->key))
            continue;
        for (; n < HINT_NAMES_MAX && options[n].type != FS_OPT_END; n++)
            names[n] = options[n].name;
        unknown_hint(kv->key, names, n, hint, sizeof(hint));
        errorf(oc->err, oc->errlen, oc->file, kv->line,
               "plugins.%s.%s: unknown key '%s'%s", oc->kind, oc->block->name,
               kv->key, hint);
        return -1;
    }
    return 0;
}

static const struct fs_config_kv *block_find(const struct fs_plugin_config *b,
                                             const char *name)
{
    for (size_t i = 0; i < b->n_kv; i++)
        if (strcmp(b->kv[i].key, name) == 0)
            return &b->kv[i];
    return NULL;
}

/* The block's value if present, else the default; each option is written
 * once, so no default string is allocated only to be replaced. */
static int apply_one(struct options_ctx *oc, const struct fs_option *opt,
                     void *out)
{
    const struct fs_config_kv *kv = block_find(oc->block, opt->name);
    int is_string = opt->type == FS_OPT_STRING || opt->type == FS_OPT_PATH;
    if (kv)
        return option_set(oc, opt, kv->value, kv->line, out);
    if (opt->default_value)
        return option_set(oc, opt, opt->default_value, oc->block->line, out);
    if (is_string) {
        errorf(oc->err, oc->errlen, oc->file, oc->block->line,
               "plugins.%s: missing required key '%s' (plugin '%s' needs it)",
               oc->kind, opt->name, oc->block->name);
        return -1;
    }
    return 0;  /* numbers and booleans without a default stay zero */
}

struct fs_option_values *fs_config_apply_options(
    const struct fs_plugin_config *block, const char *kind,
    const struct fs_option *options, void *out, const char *base_dir,
    const char *file, char *err, size_t errlen)
{
    struct options_ctx oc = {.block = block, .kind = kind, .base_dir = base_dir,
                             .file = file ? file : "config", .err = err,
                             .errlen = errlen};
    oc.values = calloc(1, sizeof(*oc.values));
    if (!oc.values) {
        errorf(err, errlen, oc.file, 0, "out of memory");
        return NULL;
    }
    if (check_unknown_keys(&oc, options) != 0)
        goto fail;
    for (const struct fs_option *opt = options; opt->type != FS_OPT_END; opt++)
        if (apply_one(&oc, opt, out) != 0)
            goto fail;
    return oc.values;
fail:
    fs_config_options_free(oc.values);
    return NULL;
}

void fs_config_options_free(struct fs_option_values *values)
{
    if (!values)
        return;
    for (size_t i = 0; i < values->n; i++)
        free(values->strings[i]);
    free(values->strings);
    free(values);
}

/* ---- RFC 3339 ------------------------------------------------------------ */

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect_char(const char **p, char a, char b)
{
    if (**p != a && **p != b)
        return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Milliseconds of an optional ".fraction": any number of digits, the ones
 * past the millisecond are dropped. */
static int fraction_ms(const char **p, int *ms)
{
    int scale = 100;
    *ms = 0;
    if (**p != '.')
        return 0;
    (*p)++;
    if (**p < '0' || **p > '9')
        return -1;
    for (; **p >= '0' && **p <= '9'; (*p)++) {
        *ms += (**p - '0') * scale;
        scale /= 10;
    }
    return 0;
}

static int zone_offset(const char **p, int *seconds)
{
    int sign, hh, mm;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *seconds = 0;
        return 0;
    }
    if (**p != '+' && **p != '-')
        return -1;
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (digits(p, 2, &hh) || expect_char(p, ':', ':') || digits(p, 2, &mm) ||
        hh > 23 || mm > 59)
        return -1;
    *seconds = sign * (hh * 3600 + mm * 60);
    return 0;
}

/* RFC 3339 section 5.6 allows lower-case 't' and 'z' and a leap second (60),
 * which timegm() folds into the next minute. */
int fs_parse_rfc3339(const char *text, int64_t *out_ms)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, s, ms, off;
    const char *p = text;
    time_t t;
    if (!text || digits(&p, 4, &y) || expect_char(&p, '-', '-') ||
        digits(&p, 2, &mo) || expect_char(&p, '-', '-') || digits(&p, 2, &d) ||
        expect_char(&p, 'T', 't') || digits(&p, 2, &h) ||
        expect_char(&p, ':', ':') || digits(&p, 2, &mi) ||
        expect_char(&p, ':', ':') || digits(&p, 2, &s) || fraction_ms(&p, &ms) ||
        zone_offset(&p, &off) || *p != '\0')
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || s > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    t = timegm(&tm);
    *out_ms = ((int64_t)t - off) * 1000 + ms;
    return 0;
}

void fs_format_rfc3339(int64_t ms, char out[32])
{
    struct tm tm;
    int64_t secs = ms / 1000 - (ms % 1000 < 0);  /* floor, also before 1970 */
    time_t t = (time_t)secs;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "1970-01-01T00:00:00Z");
}
