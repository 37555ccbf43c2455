/*
 * inventory_redis.c - the Redis inventory plugin: per-sale stock, holds and
 * booked items in Redis, shared by every flashsaled instance that uses the
 * same Redis and prefix.
 *
 * Each operation of struct fs_inventory_ops is one Lua script (scripts/<op>.lua,
 * embedded at build time as redis_scripts.h), so every decision and the
 * writes it implies happen in one atomic step inside Redis. This file owns
 * the descriptor, the options, argument checks, and turning C arguments into
 * script arguments and script answers back into C; redis_pool.c owns the
 * connections.
 *
 * Keys of sale S under prefix P (the "{S}" hash tag puts them in one Redis
 * Cluster slot, so the scripts also run on a cluster):
 *   P:{S}:meta    hash  inventory, available, held, booked, epoch
 *   P:{S}:users   hash  user id -> booking id (one active item per user)
 *   P:{S}:holds   hash  booking id -> "H|<expires_ms>|<user>" (a hold) or
 *                                     "B|0|<user>" (a booked item); the user
 *                                     comes last because it may hold a '|'
 *   P:{S}:expiry  zset  booking id scored by expires_ms, holds only
 *   P:{S}:leases  zset  booking id scored by lease_until_ms, unconfirmed
 *                       claims only (fs_claim_ops)
 *
 * Claims live in the holds hash too, as "C|<lease_until_ms>|<user>" (taken
 * at accept time, awaiting the queue's confirm) or "Q|0|<user>" (durable:
 * the request is queued), and in the users hash like holds, so one atomic
 * script decides one per user and stock at accept time. meta.claimed counts
 * them: available + held + booked + claimed == inventory.
 *
 * Sale epoch: the meta hash is the sale's "installed" mark. Every script
 * answers not_found without writing when it is absent, so a Redis that lost
 * its data (restarted without persistence, flushed) never serves a
 * half-known sale: counts() answers FS_NOT_FOUND, the core rebuilds the sale
 * from storage with rebuild(), which installs it only if meta is still absent
 * (FS_CONFLICT otherwise, so concurrent daemons install it once), clears any
 * leftovers of the lost installation first, and writes meta last. meta.epoch
 * is the caller's clock (host now_ms) at that rebuild: it changes exactly
 * when the sale's state was re-installed.
 *
 * Time: every expiry decision uses the caller's expires_ms and now_ms, never
 * the Redis clock, so daemons agree whatever Redis' clock says. Times are
 * compared as Lua numbers (doubles): exact for |ms| < 2^53.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>

#include "flashsaled/fs_plugin.h"
#include "redis_feed.h"
#include "redis_pool.h"
#include "redis_scripts.h"
#include "redis_url.h"

#define INV_REDIS_NAME "redis"
#define INV_PREFIX_MAX 64
/* prefix ":{" sale "}:expiry" */
#define INV_KEY_MAX (INV_PREFIX_MAX + FS_ID_MAX + 16)
#define INV_KEYS 5
/* claim_durable marks at most this many claims per script call. */
#define INV_DURABLE_BATCH_MAX 1024
#define INV_NUM_MAX 24
/* expire_due asks for no more than this per call, whatever `max` says. */
#define INV_EXPIRE_BATCH_MAX 100000

/* ---- config ------------------------------------------------------------- */

struct inv_redis_config {
    const char *url;
    const char *prefix;
    int64_t pool_size;
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    int64_t reconnect_max_ms;
    int tls;
};

#define INV_DEFAULT_URL "redis://127.0.0.1:6379/0"

static const struct fs_option inv_redis_options[] = {
    {FS_OPT_STRING, "url", INV_DEFAULT_URL,
     offsetof(struct inv_redis_config, url),
     "redis://[user:password@]host[:port][/db]; user and password may be "
     "percent-encoded, ':password@' alone for a password without ACL user"},
    {FS_OPT_STRING, "prefix", "fs", offsetof(struct inv_redis_config, prefix),
     "first part of every key (prefix:{sale}:meta ...): deployments with "
     "different prefixes can share one Redis"},
    {FS_OPT_INT, "pool_size", "8", offsetof(struct inv_redis_config, pool_size),
     "connections shared by all threads (1 to 1024)"},
    {FS_OPT_INT, "connect_timeout_ms", "1000",
     offsetof(struct inv_redis_config, connect_timeout_ms),
     "bound on opening a connection"},
    {FS_OPT_INT, "command_timeout_ms", "1000",
     offsetof(struct inv_redis_config, command_timeout_ms),
     "bound on one operation's round trip and on waiting for a free "
     "connection; past it the operation answers unavailable"},
    {FS_OPT_INT, "reconnect_max_ms", "1000",
     offsetof(struct inv_redis_config, reconnect_max_ms),
     "longest pause between connect attempts while Redis is down (the pause "
     "doubles from 50 ms); operations answer unavailable at once meanwhile"},
    {FS_OPT_BOOL, "tls", "false", offsetof(struct inv_redis_config, tls),
     "not available: this build uses hiredis 0.14, which has no TLS; "
     "true is a config error"},
    {FS_OPT_END, NULL, NULL, 0, NULL},
};

/* What create() uses when the core passes no config. */
static const struct inv_redis_config inv_redis_defaults = {
    .url = INV_DEFAULT_URL, .prefix = "fs", .pool_size = 8,
    .connect_timeout_ms = 1000, .command_timeout_ms = 1000,
    .reconnect_max_ms = 1000, .tls = 0,
};

/* ---- scripts: one per operation ----------------------------------------- */

enum inv_script {
    INV_COUNTS, INV_REBUILD, INV_RESERVE, INV_CONFIRM, INV_RELEASE,
    INV_EXPIRE_DUE, INV_LOOKUP, INV_SET_INVENTORY, INV_FIND_USER,
    INV_CLAIM, INV_CLAIM_DURABLE, INV_CLAIM_TO_HOLD, INV_CLAIM_EXPIRE,
    INV_SYNC, INV_LIST_DURABLE, INV_SCRIPTS
};

static const char *const inv_script_text[INV_SCRIPTS] = {
    inv_redis_script_counts, inv_redis_script_rebuild,
    inv_redis_script_reserve, inv_redis_script_confirm,
    inv_redis_script_release, inv_redis_script_expire_due,
    inv_redis_script_lookup, inv_redis_script_set_inventory,
    inv_redis_script_find_user, inv_redis_script_claim,
    inv_redis_script_claim_durable, inv_redis_script_claim_to_hold,
    inv_redis_script_claim_expire, inv_redis_script_sync,
    inv_redis_script_list_durable,
};

static const char *const inv_script_name[INV_SCRIPTS] = {
    "counts", "rebuild", "reserve", "confirm", "release", "expire_due",
    "lookup", "set_inventory", "find_user", "claim", "claim_durable",
    "claim_to_hold", "claim_expire", "sync", "list_durable",
};

/* The scripts that can change a sale's counts: each runs inside
 * changes_head.lua + changes_tail.lua, which publish the counts it leaves
 * (redis_feed.h), so every daemon's replica follows without asking. */
static const int inv_script_changes_counts[INV_SCRIPTS] = {
    [INV_REBUILD] = 1, [INV_RESERVE] = 1, [INV_CONFIRM] = 1,
    [INV_RELEASE] = 1, [INV_EXPIRE_DUE] = 1, [INV_SET_INVENTORY] = 1,
    [INV_CLAIM] = 1, [INV_CLAIM_TO_HOLD] = 1, [INV_CLAIM_EXPIRE] = 1,
};

/* ---- state -------------------------------------------------------------- */

struct inv_redis {
    const struct fs_host *host;
    struct redis_url url;
    char prefix[INV_PREFIX_MAX + 1];
    int reconnect_max_ms;
    struct redis_pool *pool;
    /* What the pool runs: inv_script_text, wrapped where counts change. */
    const char *script[INV_SCRIPTS];
    char *wrapped[INV_SCRIPTS];
    struct redis_feed *feed;  /* between watch() and unwatch() */
};

/* The keys of one sale, in the order every script takes them. */
struct inv_keys {
    char buf[INV_KEYS][INV_KEY_MAX];
    const char *key[INV_KEYS];
};

/* ---- helpers ------------------------------------------------------------ */

/* Sale and booking ids: 1 to 64 of [A-Za-z0-9._-] (fs_plugin.h). The
 * charset matters here: a '{' or '}' in a sale id would break the hash tag. */
static int inv_id_ok(const char *s)
{
    size_t len;

    if (!s)
        return 0;
    len = strnlen(s, FS_ID_MAX + 1);
    if (len < 1 || len > FS_ID_MAX)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789._-") == len;
}

static int inv_user_ok(const char *s)
{
    size_t len;

    if (!s)
        return 0;
    len = strnlen(s, FS_USER_MAX + 1);
    return len >= 1 && len <= FS_USER_MAX;
}

static void inv_keys_make(const struct inv_redis *inv, const char *sale,
                          struct inv_keys *k)
{
    static const char *const part[INV_KEYS] = {"meta", "users", "holds",
                                               "expiry", "leases"};
    int i;

    for (i = 0; i < INV_KEYS; i++) {
        snprintf(k->buf[i], sizeof(k->buf[i]), "%s:{%s}:%s", inv->prefix, sale,
                 part[i]);
        k->key[i] = k->buf[i];
    }
}

/* Runs one script on the sale's keys; args are NUL-terminated strings. */
static enum fs_status inv_run(struct inv_redis *inv, enum inv_script script,
                              const char *sale, const char *const *args,
                              size_t nargs, redisReply **reply)
{
    struct inv_keys k;
    size_t lens[8];
    size_t i;

    inv_keys_make(inv, sale, &k);
    for (i = 0; i < nargs && i < 8; i++)
        lens[i] = strlen(args[i]);
    return redis_pool_eval(inv->pool, script, k.key, INV_KEYS, args, lens,
                           nargs, reply);
}

static int inv_reply_is(const redisReply *e, int type)
{
    return e && e->type == type;
}

/* The script's outcome: element 0 of its array answer. */
static enum fs_status inv_status(const redisReply *r)
{
    static const struct {
        const char *name;
        enum fs_status status;
    } outcomes[] = {
        {"ok", FS_OK}, {"not_found", FS_NOT_FOUND}, {"sold_out", FS_SOLD_OUT},
        {"duplicate", FS_DUPLICATE}, {"conflict", FS_CONFLICT},
        {"expired", FS_EXPIRED}, {"invalid", FS_INVALID},
        {"in_flight", FS_UNAVAILABLE},
    };
    size_t i;

    if (!inv_reply_is(r, REDIS_REPLY_ARRAY) || r->elements < 1 ||
        !inv_reply_is(r->element[0], REDIS_REPLY_STRING))
        return FS_ERROR;
    for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        if (strcmp(r->element[0]->str, outcomes[i].name) == 0)
            return outcomes[i].status;
    return FS_ERROR;
}

/* A whole decimal int64, as a bulk string (how scripts send numbers). */
static int inv_parse_i64(const redisReply *e, int64_t *out)
{
    char *end;
    long long v;

    if (inv_reply_is(e, REDIS_REPLY_INTEGER)) {
        *out = e->integer;
        return 0;
    }
    if (!inv_reply_is(e, REDIS_REPLY_STRING) || e->len == 0 || e->len > 20)
        return -1;
    errno = 0;
    v = strtoll(e->str, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Copies a bulk string of 1..max bytes into out[max + 1]. */
static int inv_copy_str(const redisReply *e, char *out, size_t max)
{
    if (!inv_reply_is(e, REDIS_REPLY_STRING) || e->len < 1 || e->len > max)
        return -1;
    memcpy(out, e->str, e->len);
    out[e->len] = '\0';
    return 0;
}

/* The "H"/"B", expires, user triple of lookup into out. */
static enum fs_status inv_hold_decode(const char *booking,
                                      redisReply *const *e,
                                      struct fs_hold *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->booking_id, sizeof(out->booking_id), "%s", booking);
    if (!inv_reply_is(e[0], REDIS_REPLY_STRING) || e[0]->len != 1 ||
        inv_parse_i64(e[1], &out->expires_ms) != 0 ||
        inv_copy_str(e[2], out->user_id, FS_USER_MAX) != 0)
        return FS_ERROR;
    if (e[0]->str[0] == 'H')
        out->state = FS_STATE_HOLD;
    else if (e[0]->str[0] == 'C' || e[0]->str[0] == 'Q')
        out->state = FS_STATE_QUEUED;  /* a claim */
    else if (e[0]->str[0] == 'B')
        out->state = FS_STATE_BOOKED;
    else
        return FS_ERROR;
    return FS_OK;
}

static int64_t inv_now_ms(const struct inv_redis *inv)
{
    struct timespec ts;

    if (inv->host && inv->host->now_ms)
        return inv->host->now_ms();
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int inv_check_range(const char *name, int64_t v, int64_t min,
                           int64_t max, const char **key, char *err,
                           size_t errlen)
{
    if (v >= min && v <= max)
        return 0;
    *key = name;
    snprintf(err, errlen, "%s: %" PRId64 " is out of range (%" PRId64
             " to %" PRId64 ")", name, v, min, max);
    return -1;
}

static int inv_check_prefix(const char *prefix, const char **key, char *err,
                            size_t errlen)
{
    size_t len = prefix ? strlen(prefix) : 0;

    if (len >= 1 && len <= INV_PREFIX_MAX &&
        strcspn(prefix, "{} \t\r\n") == len)
        return 0;
    *key = "prefix";
    snprintf(err, errlen,
             "prefix: expected 1 to %d characters without braces or spaces, "
             "got '%s'", INV_PREFIX_MAX, prefix ? prefix : "");
    return -1;
}

/* The descriptor's validate, and create()'s first step: every value,
 * the url's syntax included, without connecting. */
static int inv_redis_validate(const void *config, const char **key, char *err,
                              size_t errlen)
{
    const struct inv_redis_config *cfg = config ? config : &inv_redis_defaults;
    struct redis_url url;

    *key = NULL;
    if (cfg->tls) {
        *key = "tls";
        snprintf(err, errlen,
                 "tls: not supported: this build uses hiredis 0.14, which has "
                 "no TLS (it came with hiredis 1.0); reach a TLS-only Redis "
                 "through a local tunnel such as stunnel");
        return -1;
    }
    if (inv_check_range("pool_size", cfg->pool_size, 1, 1024, key, err,
                        errlen) ||
        inv_check_range("connect_timeout_ms", cfg->connect_timeout_ms, 1,
                        600000, key, err, errlen) ||
        inv_check_range("command_timeout_ms", cfg->command_timeout_ms, 1,
                        600000, key, err, errlen) ||
        inv_check_range("reconnect_max_ms", cfg->reconnect_max_ms, 1, 600000,
                        key, err, errlen) ||
        inv_check_prefix(cfg->prefix, key, err, errlen))
        return -1;
    if (redis_url_parse(cfg->url, &url, err, errlen) != 0) {
        *key = "url";
        return -1;
    }
    return 0;
}

static void inv_redis_destroy(void *ctx)
{
    struct inv_redis *inv = ctx;

    if (!inv)
        return;
    redis_feed_stop(inv->feed);  /* a core that never called unwatch() */
    redis_pool_free(inv->pool);
    for (size_t i = 0; i < INV_SCRIPTS; i++)
        free(inv->wrapped[i]);
    free(inv);
}

/* Wraps the scripts that change counts (see inv_script_changes_counts). */
static int inv_wrap_scripts(struct inv_redis *inv)
{
    for (size_t i = 0; i < INV_SCRIPTS; i++) {
        inv->script[i] = inv_script_text[i];
        if (!inv_script_changes_counts[i])
            continue;
        if (asprintf(&inv->wrapped[i], "%s%s%s", inv_redis_script_changes_head,
                     inv_script_text[i], inv_redis_script_changes_tail) < 0) {
            inv->wrapped[i] = NULL;
            return -1;
        }
        inv->script[i] = inv->wrapped[i];
    }
    return 0;
}

/* A Redis that is down at start is not an error: the pool connects when
 * asked and health() says why it cannot. */
static int inv_redis_create(const struct fs_host *host, const void *config,
                            void **ctx, char *err, size_t errlen)
{
    const struct inv_redis_config *cfg = config ? config : &inv_redis_defaults;
    struct redis_pool_options po;
    struct inv_redis *inv = NULL;
    char detail[256];
    const char *key;

    *ctx = NULL;
    if (inv_redis_validate(cfg, &key, err, errlen) != 0)
        goto fail;
    inv = calloc(1, sizeof(*inv));
    if (!inv) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    inv->host = host;
    memcpy(inv->prefix, cfg->prefix, strlen(cfg->prefix) + 1);
    inv->reconnect_max_ms = (int)cfg->reconnect_max_ms;
    if (inv_wrap_scripts(inv) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (redis_url_parse(cfg->url, &inv->url, err, errlen) != 0)
        goto fail;
    po = (struct redis_pool_options){
        .host = host, .url = &inv->url, .size = (size_t)cfg->pool_size,
        .connect_timeout_ms = (int)cfg->connect_timeout_ms,
        .command_timeout_ms = (int)cfg->command_timeout_ms,
        .reconnect_max_ms = (int)cfg->reconnect_max_ms,
        .scripts = inv->script, .script_names = inv_script_name,
        .n_scripts = INV_SCRIPTS,
    };
    inv->pool = redis_pool_new(&po);
    if (!inv->pool) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Connects one slot now, so that a wrong address or password is in the
     * log at start rather than at the first request. */
    redis_pool_ping(inv->pool, detail, sizeof(detail));
    *ctx = inv;
    return 0;

fail:
    inv_redis_destroy(inv);
    return -1;
}

static enum fs_status inv_redis_health(void *ctx, char *detail, size_t len)
{
    struct inv_redis *inv = ctx;
    char text[256];
    enum fs_status st = redis_pool_ping(inv->pool, text, sizeof(text));

    if (detail && len)
        snprintf(detail, len, "%s", text);
    return st;
}

/* ---- operations --------------------------------------------------------- */

static enum fs_status inv_redis_counts(void *ctx, const char *sale_id,
                                       struct fs_sale_counts *out)
{
    redisReply *r = NULL;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || !out)
        return FS_INVALID;
    st = inv_run(ctx, INV_COUNTS, sale_id, NULL, 0, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (st == FS_OK &&
        (r->elements != 5 || inv_parse_i64(r->element[1], &out->inventory) ||
         inv_parse_i64(r->element[2], &out->available) ||
         inv_parse_i64(r->element[3], &out->held) ||
         inv_parse_i64(r->element[4], &out->booked)))
        st = FS_ERROR;
    if (r)
        freeReplyObject(r);
    return st;
}

static int inv_entry_ok(const struct fs_hold *h)
{
    return inv_id_ok(h->booking_id) &&
           inv_user_ok(h->user_id) &&
           (h->state == FS_STATE_HOLD || h->state == FS_STATE_BOOKED ||
            h->state == FS_STATE_QUEUED);
}

static const char *inv_entry_letter(enum fs_booking_state state)
{
    return state == FS_STATE_HOLD ? "H" : state == FS_STATE_BOOKED ? "B" : "Q";
}

/* ARGV of rebuild.lua: inventory, epoch, then booking, user, state,
 * expires_ms per entry. The duplicate checks are the script's: it sees all
 * entries at once. */
static enum fs_status inv_redis_rebuild(void *ctx, const char *sale_id,
                                        int64_t inventory,
                                        const struct fs_hold *entries, size_t n)
{
    struct inv_redis *inv = ctx;
    struct inv_keys k;
    const char **args = NULL;
    size_t *lens = NULL, nargs = 2 + 4 * n, i;
    char (*num)[INV_NUM_MAX] = NULL;
    redisReply *r = NULL;
    enum fs_status st = FS_ERROR;

    if (!inv_id_ok(sale_id) || inventory < 0 || (n && !entries))
        return FS_INVALID;
    for (i = 0; i < n; i++)
        if (!inv_entry_ok(&entries[i]))
            return FS_INVALID;
    args = calloc(nargs, sizeof(*args));
    lens = calloc(nargs, sizeof(*lens));
    num = calloc(n + 2, sizeof(*num));
    if (!args || !lens || !num)
        goto done;
    snprintf(num[0], sizeof(num[0]), "%" PRId64, inventory);
    snprintf(num[1], sizeof(num[1]), "%" PRId64, inv_now_ms(inv));
    args[0] = num[0];
    args[1] = num[1];
    for (i = 0; i < n; i++) {
        snprintf(num[i + 2], sizeof(num[i + 2]), "%" PRId64,
                 entries[i].expires_ms);
        args[2 + 4 * i] = entries[i].booking_id;
        args[3 + 4 * i] = entries[i].user_id;
        args[4 + 4 * i] = inv_entry_letter(entries[i].state);
        args[5 + 4 * i] = num[i + 2];
    }
    for (i = 0; i < nargs; i++)
        lens[i] = strlen(args[i]);
    inv_keys_make(inv, sale_id, &k);
    st = redis_pool_eval(inv->pool, INV_REBUILD, k.key, INV_KEYS, args, lens,
                         nargs, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (st == FS_INVALID && r->elements > 1 &&
        inv_reply_is(r->element[1], REDIS_REPLY_STRING) && inv->host &&
        inv->host->log)
        inv->host->log(FS_LOG_WARN, "inventory.redis",
                       "rebuild of sale %s refused: %s", sale_id,
                       r->element[1]->str);

done:
    if (r)
        freeReplyObject(r);
    free(num);
    free(lens);
    free(args);
    return st;
}

/* reserve.lua and claim.lua: one per user, then one unit of stock, until
 * until_ms. FS_DUPLICATE names the user's booking in `existing`; so does
 * claim.lua's "in_flight" (FS_UNAVAILABLE with a reply) when
 * names_in_flight. */
static enum fs_status inv_take(void *ctx, enum inv_script script, const char *sale_id,
                               const char *user_id, const char *booking_id,
                               int64_t until_ms, int names_in_flight,
                               char existing[FS_ID_MAX + 1])
{
    char until[INV_NUM_MAX];
    const char *args[3] = {user_id, booking_id, until};
    redisReply *r = NULL;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || !inv_user_ok(user_id) || !inv_id_ok(booking_id))
        return FS_INVALID;
    snprintf(until, sizeof(until), "%" PRId64, until_ms);
    st = inv_run(ctx, script, sale_id, args, 3, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if ((st == FS_DUPLICATE || (names_in_flight && st == FS_UNAVAILABLE && r)) &&
        existing &&
        (r->elements != 2 ||
         inv_copy_str(r->element[1], existing, FS_ID_MAX) != 0))
        st = FS_ERROR;
    if (r)
        freeReplyObject(r);
    return st;
}

static enum fs_status inv_redis_reserve(void *ctx, const char *sale_id,
                                        const char *user_id,
                                        const char *booking_id,
                                        int64_t expires_ms,
                                        char existing[FS_ID_MAX + 1])
{
    return inv_take(ctx, INV_RESERVE, sale_id, user_id, booking_id, expires_ms,
                    0, existing);
}

/* confirm.lua and claim_to_hold.lua: one booking and one instant. */
static enum fs_status inv_booking_at(void *ctx, enum inv_script script,
                                     const char *sale_id,
                                     const char *booking_id, int64_t at_ms)
{
    char at[INV_NUM_MAX];
    const char *args[2] = {booking_id, at};
    redisReply *r = NULL;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || !inv_id_ok(booking_id))
        return FS_INVALID;
    snprintf(at, sizeof(at), "%" PRId64, at_ms);
    st = inv_run(ctx, script, sale_id, args, 2, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (r)
        freeReplyObject(r);
    return st;
}

static enum fs_status inv_redis_confirm(void *ctx, const char *sale_id,
                                        const char *booking_id, int64_t now_ms)
{
    return inv_booking_at(ctx, INV_CONFIRM, sale_id, booking_id, now_ms);
}

static enum fs_status inv_redis_release(void *ctx, const char *sale_id,
                                        const char *booking_id)
{
    const char *args[1] = {booking_id};
    redisReply *r = NULL;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || !inv_id_ok(booking_id))
        return FS_INVALID;
    st = inv_run(ctx, INV_RELEASE, sale_id, args, 1, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (r)
        freeReplyObject(r);
    return st;
}

/* The script answers booking, user, expires_ms per released hold. */
static enum fs_status inv_expired_decode(const redisReply *r,
                                         struct fs_hold *out, size_t max,
                                         size_t *n)
{
    size_t i, count = (r->elements - 1) / 3;

    if ((r->elements - 1) % 3 != 0 || count > max)
        return FS_ERROR;
    for (i = 0; i < count; i++) {
        redisReply *const *e = &r->element[1 + 3 * i];

        memset(&out[i], 0, sizeof(out[i]));
        out[i].state = FS_STATE_HOLD;
        if (inv_copy_str(e[0], out[i].booking_id, FS_ID_MAX) != 0 ||
            inv_copy_str(e[1], out[i].user_id, FS_USER_MAX) != 0 ||
            inv_parse_i64(e[2], &out[i].expires_ms) != 0)
            return FS_ERROR;
    }
    *n = count;
    return FS_OK;
}

/* expire_due.lua and claim_expire.lua: what lapsed by now_ms, at most max
 * (and INV_EXPIRE_BATCH_MAX) of it, decoded into out. */
static enum fs_status inv_expire_run(void *ctx, enum inv_script script,
                                     const char *sale_id, int64_t now_ms,
                                     struct fs_hold *out, size_t max, size_t *n)
{
    char now[INV_NUM_MAX], limit[INV_NUM_MAX];
    const char *args[2] = {now, limit};
    redisReply *r = NULL;
    enum fs_status st;

    if (n)
        *n = 0;
    if (!inv_id_ok(sale_id) || !n || (max && !out))
        return FS_INVALID;
    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    /* LIMIT 0 0 asks Redis for nothing: a max of 0 still tells whether the
     * sale exists. */
    snprintf(limit, sizeof(limit), "%zu",
             max < INV_EXPIRE_BATCH_MAX ? max : (size_t)INV_EXPIRE_BATCH_MAX);
    st = inv_run(ctx, script, sale_id, args, 2, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (st == FS_OK)
        st = inv_expired_decode(r, out, max, n);
    if (r)
        freeReplyObject(r);
    return st;
}

static enum fs_status inv_redis_expire_due(void *ctx, const char *sale_id,
                                           int64_t now_ms, struct fs_hold *out,
                                           size_t max, size_t *n)
{
    return inv_expire_run(ctx, INV_EXPIRE_DUE, sale_id, now_ms, out, max, n);
}

static enum fs_status inv_redis_lookup(void *ctx, const char *sale_id,
                                       const char *booking_id,
                                       struct fs_hold *out)
{
    const char *args[1] = {booking_id};
    redisReply *r = NULL;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || !inv_id_ok(booking_id) || !out)
        return FS_INVALID;
    st = inv_run(ctx, INV_LOOKUP, sale_id, args, 1, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (st == FS_OK)
        st = r->elements == 4 ? inv_hold_decode(booking_id, &r->element[1], out)
                              : FS_ERROR;
    if (r)
        freeReplyObject(r);
    return st;
}

static enum fs_status inv_redis_set_inventory(void *ctx, const char *sale_id,
                                              int64_t inventory)
{
    char total[INV_NUM_MAX];
    const char *args[1] = {total};
    redisReply *r = NULL;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || inventory < 0)
        return FS_INVALID;
    snprintf(total, sizeof(total), "%" PRId64, inventory);
    st = inv_run(ctx, INV_SET_INVENTORY, sale_id, args, 1, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (r)
        freeReplyObject(r);
    return st;
}

static enum fs_status inv_redis_find_user(void *ctx, const char *sale_id,
                                          const char *user_id,
                                          char booking_id[FS_ID_MAX + 1])
{
    const char *args[1] = {user_id};
    redisReply *r = NULL;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || !user_id || !*user_id ||
        strlen(user_id) > FS_USER_MAX || !booking_id)
        return FS_INVALID;
    st = inv_run(ctx, INV_FIND_USER, sale_id, args, 1, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (st == FS_OK)
        st = r->elements == 2 &&
                     inv_copy_str(r->element[1], booking_id, FS_ID_MAX) == 0
                 ? FS_OK
                 : FS_ERROR;
    if (r)
        freeReplyObject(r);
    return st;
}

/* ---- claims (fs_claim_ops) ---------------------------------------------- */

static enum fs_status inv_redis_claim(void *ctx, const char *sale_id,
                                      const char *user_id,
                                      const char *booking_id,
                                      int64_t lease_until_ms,
                                      char existing[FS_ID_MAX + 1])
{
    return inv_take(ctx, INV_CLAIM, sale_id, user_id, booking_id,
                    lease_until_ms, 1, existing);
}

/* Each element after the first is "ok" or "expired", one per booking. */
static enum fs_status inv_durable_decode(const redisReply *r, size_t n,
                                         enum fs_status *results)
{
    if (r->elements != n + 1)
        return FS_ERROR;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i + 1];
        if (!inv_reply_is(e, REDIS_REPLY_STRING))
            return FS_ERROR;
        results[i] = strcmp(e->str, "ok") == 0 ? FS_OK : FS_EXPIRED;
    }
    return FS_OK;
}

/* One script call per slice of INV_DURABLE_BATCH_MAX: a confirm window's
 * worth of claims costs one round trip. */
static enum fs_status inv_redis_claim_durable(void *ctx, const char *sale_id,
                                              const char *const *booking_ids,
                                              size_t n, enum fs_status *results)
{
    struct inv_redis *inv = ctx;
    struct inv_keys k;
    size_t lens[INV_DURABLE_BATCH_MAX];
    enum fs_status st = FS_OK;

    if (!inv_id_ok(sale_id) || (n && (!booking_ids || !results)))
        return FS_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!inv_id_ok(booking_ids[i]))
            return FS_INVALID;
    inv_keys_make(inv, sale_id, &k);
    for (size_t at = 0; at < n && st == FS_OK; at += INV_DURABLE_BATCH_MAX) {
        size_t m = n - at < INV_DURABLE_BATCH_MAX ? n - at
                                                  : INV_DURABLE_BATCH_MAX;
        redisReply *r = NULL;

        for (size_t i = 0; i < m; i++)
            lens[i] = strlen(booking_ids[at + i]);
        st = redis_pool_eval(inv->pool, INV_CLAIM_DURABLE, k.key, INV_KEYS,
                             booking_ids + at, lens, m, &r);
        if (st == FS_OK)
            st = inv_status(r);
        if (st == FS_OK)
            st = inv_durable_decode(r, m, results + at);
        if (r)
            freeReplyObject(r);
    }
    return st;
}

static enum fs_status inv_redis_claim_to_hold(void *ctx, const char *sale_id,
                                              const char *booking_id,
                                              int64_t expires_ms)
{
    return inv_booking_at(ctx, INV_CLAIM_TO_HOLD, sale_id, booking_id,
                          expires_ms);
}

static enum fs_status inv_redis_claim_expire(void *ctx, const char *sale_id,
                                             int64_t now_ms,
                                             struct fs_hold *out, size_t max,
                                             size_t *n)
{
    enum fs_status st = inv_expire_run(ctx, INV_CLAIM_EXPIRE, sale_id, now_ms,
                                       out, max, n);

    for (size_t i = 0; st == FS_OK && i < *n; i++)
        out[i].state = FS_STATE_QUEUED;
    return st;
}

/* list_durable.lua answers booking, user per durable claim, all of the
 * sale's in one call (at most `inventory` of them). The whole answer is
 * checked before cb sees any of it, so a malformed one is FS_ERROR with
 * nothing reported. */
static enum fs_status inv_redis_list_durable(void *ctx, const char *sale_id,
                                             int (*cb)(void *arg,
                                                       const struct fs_hold *c),
                                             void *arg)
{
    redisReply *r = NULL;
    struct fs_hold c;
    enum fs_status st;

    if (!inv_id_ok(sale_id) || !cb)
        return FS_INVALID;
    st = inv_run(ctx, INV_LIST_DURABLE, sale_id, NULL, 0, &r);
    if (st == FS_OK)
        st = inv_status(r);
    if (st == FS_OK && (r->elements - 1) % 2 != 0)
        st = FS_ERROR;
    for (size_t i = 1; st == FS_OK && i < r->elements; i += 2)
        if (inv_copy_str(r->element[i], c.booking_id, FS_ID_MAX) != 0 ||
            !inv_id_ok(c.booking_id) ||
            inv_copy_str(r->element[i + 1], c.user_id, FS_USER_MAX) != 0)
            st = FS_ERROR;
    for (size_t i = 1; st == FS_OK && i < r->elements; i += 2) {
        memset(&c, 0, sizeof(c));
        (void)inv_copy_str(r->element[i], c.booking_id, FS_ID_MAX);
        (void)inv_copy_str(r->element[i + 1], c.user_id, FS_USER_MAX);
        c.state = FS_STATE_QUEUED;
        c.expires_ms = 0;
        if (cb(arg, &c))
            break;
    }
    if (r)
        freeReplyObject(r);
    return st;
}

static const struct fs_claim_ops inv_redis_claim_ops = {
    .struct_size = sizeof(struct fs_claim_ops),
    .claim = inv_redis_claim,
    .claim_durable = inv_redis_claim_durable,
    .claim_to_hold = inv_redis_claim_to_hold,
    .claim_expire = inv_redis_claim_expire,
    .list_durable = inv_redis_list_durable,
};

/* ---- the change feed (fs_change_ops, redis_feed.h) ---------------------- */

/* One channel for every sale ("<prefix>:changes"), not one per sale: every
 * daemon keeps every sale's counts, so a channel per sale would only add a
 * SUBSCRIBE per sale (and per reload) for the same messages. On a Redis
 * Cluster, SPUBLISH to "<prefix>:{sale}:changes" would keep each message on
 * its sale's shard instead of broadcasting it over the cluster bus. */
static enum fs_status inv_redis_watch(void *ctx,
                                      const struct fs_change_hooks *hooks)
{
    struct inv_redis *inv = ctx;

    if (!hooks || inv->feed)
        return FS_INVALID;
    inv->feed = redis_feed_start(inv->pool, inv->host, inv->prefix,
                                 inv->reconnect_max_ms, hooks);
    return inv->feed ? FS_OK : FS_ERROR;
}

static void inv_redis_unwatch(void *ctx)
{
    struct inv_redis *inv = ctx;

    redis_feed_stop(inv->feed);
    inv->feed = NULL;
}

/* sync.lua on every sale's meta hash: one round trip, reports published to
 * this process's own channel (they travel with the changes, in order). */
static enum fs_status inv_redis_sync(void *ctx, const char *const *sale_ids,
                                     size_t n, int with_holders)
{
    struct inv_redis *inv = ctx;
    char (*keys)[INV_KEY_MAX] = NULL;
    const char **key = NULL;
    const char *args[2];
    size_t lens[2];
    redisReply *r = NULL;
    enum fs_status st = FS_ERROR;

    if (!inv->feed)
        return FS_INVALID;
    args[0] = redis_feed_sync_channel(inv->feed);
    lens[0] = strlen(args[0]);
    args[1] = with_holders ? "1" : "0";
    lens[1] = 1;
    keys = calloc(n ? n : 1, sizeof(*keys));
    key = calloc(n ? n : 1, sizeof(*key));
    if (!keys || !key)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (!inv_id_ok(sale_ids[i])) {
            st = FS_INVALID;
            goto done;
        }
        snprintf(keys[i], INV_KEY_MAX, "%s:{%s}:meta", inv->prefix,
                 sale_ids[i]);
        key[i] = keys[i];
    }
    st = redis_pool_eval(inv->pool, INV_SYNC, key, n, args, lens, 2, &r);
    if (st == FS_OK)
        st = inv_status(r);
done:
    if (r)
        freeReplyObject(r);
    free(keys);
    free(key);
    return st;
}

static enum fs_status inv_redis_announce(void *ctx,
                                         const char *const *booking_ids,
                                         size_t n)
{
    struct inv_redis *inv = ctx;
    char channel[INV_PREFIX_MAX + 16];
    char (*text)[FS_ID_MAX + 3] = calloc(n ? n : 1, sizeof(*text));
    const char **msg = calloc(n ? n : 1, sizeof(*msg));
    enum fs_status st = FS_ERROR;

    if (!text || !msg)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (!inv_id_ok(booking_ids[i])) {
            st = FS_INVALID;
            goto done;
        }
        snprintf(text[i], sizeof(text[i]), "b %s", booking_ids[i]);
        msg[i] = text[i];
    }
    snprintf(channel, sizeof(channel), "%s:changes", inv->prefix);
    st = redis_pool_publish(inv->pool, channel, msg, n);
done:
    free(text);
    free(msg);
    return st;
}

static const struct fs_change_ops inv_redis_change_ops = {
    .struct_size = sizeof(struct fs_change_ops),
    .watch = inv_redis_watch,
    .unwatch = inv_redis_unwatch,
    .sync = inv_redis_sync,
    .announce = inv_redis_announce,
};

static const struct fs_inventory_ops inv_redis_ops = {
    .counts = inv_redis_counts,
    .rebuild = inv_redis_rebuild,
    .reserve = inv_redis_reserve,
    .confirm = inv_redis_confirm,
    .release = inv_redis_release,
    .expire_due = inv_redis_expire_due,
    .lookup = inv_redis_lookup,
    .set_inventory = inv_redis_set_inventory,
    .find_user = inv_redis_find_user,
};

const struct fs_plugin fs_plugin_descriptor = {
    .abi_version = FS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct fs_plugin),
    .kind = FS_PLUGIN_INVENTORY,
    .name = INV_REDIS_NAME,
    .description = "stock and holds in Redis, one Lua script per operation; "
                   "shared by every daemon on the same Redis and prefix",
    .version = "1.0.0",
    .flags = FS_PLUGIN_THREAD_SAFE,
    .options = inv_redis_options,
    .config_size = sizeof(struct inv_redis_config),
    .create = inv_redis_create,
    .destroy = inv_redis_destroy,
    .health = inv_redis_health,
    .inventory = &inv_redis_ops,
    .claims = &inv_redis_claim_ops,
    .validate = inv_redis_validate,
    .changes = &inv_redis_change_ops,
};
