/*
 * policy_helpers.c - the `fs` table of the Lua policies: bounded windowed
 * counters, clock, logger, CIDR matcher (see policy_helpers.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <uthash.h>
#include <utlist.h>

#include "log.h"
#include "policy_helpers.h"

/* Rounds up a positive number already checked to fit (no libm needed). */
static int64_t ceil_int(double x)
{
    int64_t i = (int64_t)x;
    return (double)i < x ? i + 1 : i;
}

#define SHARDS_MAX 64

/* The hash key is the window (8 bytes) followed by the policy's key, so that
 * one key counted over two windows is two counters. */
struct entry {
    UT_hash_handle hh;
    struct entry *prev, *next;  /* LRU order: head is the least recent */
    int64_t bucket_start;       /* ms, a multiple of the window */
    int64_t cur, prev_hits;
    size_t keylen;
    char key[];                 /* keylen bytes, then the value's NUL string */
};

struct shard {
    pthread_mutex_t lock;
    struct entry *table;        /* uthash head */
    struct entry *lru;          /* utlist head */
    size_t n, cap;
};

struct fs_counters {
    size_t n_shards;
    struct shard shards[];
};

struct fs_counters *fs_counters_new(size_t capacity)
{
    size_t n = capacity < SHARDS_MAX ? (capacity ? capacity : 1) : SHARDS_MAX;
    struct fs_counters *c = calloc(1, sizeof(*c) + n * sizeof(struct shard));

    if (!c)
        return NULL;
    c->n_shards = n;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_init(&c->shards[i].lock, NULL);
        /* Spread the remainder so the shards add up to the capacity. */
        c->shards[i].cap = capacity / n + (i < capacity % n ? 1 : 0);
        if (c->shards[i].cap == 0)
            c->shards[i].cap = 1;
    }
    return c;
}

void fs_counters_free(struct fs_counters *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_shards; i++) {
        struct shard *s = &c->shards[i];
        struct entry *e, *tmp;
        HASH_ITER(hh, s->table, e, tmp) {
            HASH_DELETE(hh, s->table, e);
            free(e);
        }
        pthread_mutex_destroy(&s->lock);
    }
    free(c);
}

size_t fs_counters_size(struct fs_counters *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_shards; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        n += c->shards[i].n;
        pthread_mutex_unlock(&c->shards[i].lock);
    }
    return n;
}

/* FNV-1a: picks the shard; uthash hashes again inside it. */
static size_t shard_of(const struct fs_counters *c, const char *k, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return (size_t)(h % c->n_shards);
}

/* The composite key in buf; its length, or 0 when the key is too long. */
static size_t make_key(char *buf, const char *key, size_t len, int64_t window)
{
    if (len > FS_COUNTER_KEY_MAX)
        return 0;
    memcpy(buf, &window, sizeof(window));
    memcpy(buf + sizeof(window), key, len);
    return sizeof(window) + len;
}

/* The entry of k, moved to the LRU tail; created (evicting the least recent
 * entry of a full shard) when `create`. Called with the shard locked. */
static struct entry *find(struct shard *s, const char *k, size_t klen,
                          int create)
{
    struct entry *e;

    HASH_FIND(hh, s->table, k, klen, e);
    if (e) {
        DL_DELETE(s->lru, e);
        DL_APPEND(s->lru, e);
        return e;
    }
    if (!create)
        return NULL;
    if (s->n >= s->cap && s->lru) {
        struct entry *old = s->lru;
        DL_DELETE(s->lru, old);
        HASH_DELETE(hh, s->table, old);
        free(old);
        s->n--;
    }
    e = calloc(1, sizeof(*e) + klen);
    if (!e)
        return NULL;
    memcpy(e->key, k, klen);
    e->keylen = klen;
    HASH_ADD_KEYPTR(hh, s->table, e->key, e->keylen, e);
    DL_APPEND(s->lru, e);
    s->n++;
    return e;
}

/* Moves the two buckets forward to now's window. */
static void roll(struct entry *e, int64_t window, int64_t now)
{
    int64_t bucket = now - now % window;
    if (bucket == e->bucket_start)
        return;
    e->prev_hits = bucket == e->bucket_start + window ? e->cur : 0;
    e->cur = 0;
    e->bucket_start = bucket;
}

static int64_t estimate(const struct entry *e, int64_t window, int64_t now)
{
    int64_t overlap = window - (now - e->bucket_start);
    /* Rounded up: a burst straddling two buckets is never under-counted. */
    return e->cur + (e->prev_hits * overlap + window - 1) / window;
}

static int64_t count(struct fs_counters *c, const char *key, size_t len,
                     int64_t window, int64_t now, int add)
{
    char k[sizeof(int64_t) + FS_COUNTER_KEY_MAX];
    size_t klen = make_key(k, key, len, window);
    struct shard *s;
    struct entry *e;
    int64_t n = 0;

    if (klen == 0 || window < 1 || window > FS_COUNTER_WINDOW_MAX_MS || now < 0)
        return -1;
    s = &c->shards[shard_of(c, k, klen)];
    pthread_mutex_lock(&s->lock);
    e = find(s, k, klen, add);
    if (e) {
        roll(e, window, now);
        if (add)
            e->cur++;
        n = estimate(e, window, now);
    } else if (add) {
        n = -1;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

int64_t fs_counters_hit(struct fs_counters *c, const char *key, size_t len,
                        int64_t window_ms, int64_t now_ms)
{
    return count(c, key, len, window_ms, now_ms, 1);
}

int64_t fs_counters_peek(struct fs_counters *c, const char *key, size_t len,
                         int64_t window_ms, int64_t now_ms)
{
    return count(c, key, len, window_ms, now_ms, 0);
}

/* ---- addresses ---------------------------------------------------------- */

/* Parses an address; IPv4-mapped IPv6 becomes IPv4. 4, 6, or 0. */
static int parse_ip(const char *text, unsigned char addr[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0xff, 0xff};
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1)
        return 4;
    if (inet_pton(AF_INET6, text, addr) != 1)
        return 0;
    if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        return 4;
    }
    return 6;
}

static void mask(unsigned char addr[16], unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits > 8 * i ? bits - 8 * i : 0;
        if (keep < 8)
            addr[i] &= (unsigned char)(0xff00u >> keep);
    }
}

int fs_cidr_parse(const char *text, struct fs_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    unsigned max;

    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, text, alen);
    buf[alen] = '\0';
    memset(out, 0, sizeof(*out));
    out->family = parse_ip(buf, out->addr);
    if (!out->family)
        return -1;
    max = out->family == 4 ? 32 : 128;
    /* A mapped IPv6 prefix (::ffff:10.0.0.0/104) counts its bits on 128. */
    if (out->family == 4 && strchr(buf, ':'))
        max = 128;
    out->bits = max;
    if (slash) {
        char *end;
        long b;
        errno = 0;
        b = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || errno || b < 0 || b > (long)max)
            return -1;
        out->bits = (unsigned)b;
        if (max == 128 && out->family == 4)
            out->bits = out->bits >= 96 ? out->bits - 96 : 0;
    }
    mask(out->addr, out->bits);
    return 0;
}

int fs_cidr_contains(const struct fs_cidr *c, const char *ip)
{
    unsigned char a[16];
    if (parse_ip(ip, a) != c->family)
        return 0;
    mask(a, c->bits);
    return memcmp(a, c->addr, 16) == 0;
}

int fs_ip_prefix(const char *ip, unsigned bits4, unsigned bits6, char *out,
                 size_t outlen)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    int family = parse_ip(ip, a);
    unsigned bits = family == 4 ? bits4 : bits6;

    if (!family || bits > (family == 4 ? 32u : 128u))
        return -1;
    mask(a, bits);
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, a, text, sizeof(text)))
        return -1;
    if ((size_t)snprintf(out, outlen, "%s/%u", text, bits) >= outlen)
        return -1;
    return 0;
}

/* ---- the Lua side --------------------------------------------------------- */

#define CIDRS_MT "fs.cidrs"
#define CIDRS_MAX 4096

static _Thread_local int t_loading, t_quiet;

void fs_policy_helpers_loading(int loading, int quiet)
{
    t_loading = loading;
    t_quiet = quiet;
}

struct cidr_set {
    size_t n;
    struct fs_cidr items[];
};

static int64_t mono_ms(void)
{
    return fs_mono_ns() / 1000000;
}

static int64_t window_arg(lua_State *L, int idx)
{
    lua_Number w = luaL_checknumber(L, idx);
    if (!(w >= 0.001 && w <= FS_COUNTER_WINDOW_MAX_MS / 1000))
        luaL_argerror(L, idx, "window must be 0.001 to 604800 seconds");
    return ceil_int(w * 1000);
}

static int l_count(lua_State *L, int add)
{
    struct fs_counters *c = lua_touserdata(L, lua_upvalueindex(1));
    size_t len;
    const char *key = luaL_checklstring(L, 1, &len);
    int64_t window = window_arg(L, 2), n;

    if (t_loading)
        return luaL_error(L, "fs.%s cannot be called while a policy file loads "
                          "(call it from a hook)", add ? "hit" : "count");
    if (len > FS_COUNTER_KEY_MAX)
        luaL_argerror(L, 1, "key longer than 256 bytes");
    n = add ? fs_counters_hit(c, key, len, window, mono_ms())
            : fs_counters_peek(c, key, len, window, mono_ms());
    if (n < 0)
        return luaL_error(L, "fs.%s: out of memory", add ? "hit" : "count");
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int l_hit(lua_State *L)
{
    return l_count(L, 1);
}

static int l_peek(lua_State *L)
{
    return l_count(L, 0);
}

static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_log(lua_State *L)
{
    static const char *const names[] = {"error", "warn", "info", "debug", NULL};
    static const enum fs_log_level levels[] = {FS_LOG_ERROR, FS_LOG_WARN,
                                               FS_LOG_INFO, FS_LOG_DEBUG};
    int level = luaL_checkoption(L, 1, NULL, names);
    size_t len;
    const char *msg = luaL_checklstring(L, 2, &len);
    char clean[512];
    size_t n = len < sizeof(clean) - 1 ? len : sizeof(clean) - 1;

    if (t_quiet)
        return 0;
    /* One line per message: no control bytes reach the log. */
    for (size_t i = 0; i < n; i++)
        clean[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? '?' : msg[i];
    clean[n] = '\0';
    luaL_where(L, 1);
    fs_log(levels[level], "policy %s%s%s", lua_tostring(L, -1), clean,
           len > n ? "..." : "");
    return 0;
}

/* Adds the CIDRs of a string ("a, b c") to set; -1 on a bad one. */
static int add_cidrs_text(lua_State *L, const char *text,
                          struct cidr_set *set, size_t cap)
{
    const char *p = text;
    while (*p) {
        char one[INET6_ADDRSTRLEN + 8];
        size_t len = strcspn(p, ", \t\n;");
        if (len == 0) {
            p++;
            continue;
        }
        if (len >= sizeof(one) || set->n >= cap)
            return luaL_error(L, "bad CIDR '%.*s'", (int)(len > 60 ? 60 : len), p);
        memcpy(one, p, len);
        one[len] = '\0';
        if (fs_cidr_parse(one, &set->items[set->n]) != 0)
            return luaL_error(L, "bad CIDR '%s'", one);
        set->n++;
        p += len;
    }
    return 0;
}

/* Counts the entries of a string or list argument, as an upper bound. */
static size_t cidr_bound(lua_State *L, int idx)
{
    size_t n = 0;
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        n = 1;
        for (; *s; s++)
            n += *s == ',' || *s == ' ' || *s == '\t' || *s == ';' || *s == '\n';
        return n;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    n = (size_t)lua_rawlen(L, idx);
    for (size_t i = 1; i <= n && i <= CIDRS_MAX; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "CIDR list item %d is not a string", (int)i);
        lua_pop(L, 1);
    }
    return n;
}

/* fs.cidrs(list) -> a compiled set for fast fs.ip_in. */
static int l_cidrs(lua_State *L)
{
    size_t cap = cidr_bound(L, 1);
    struct cidr_set *set;

    if (cap > CIDRS_MAX)
        return luaL_error(L, "more than %d CIDRs", CIDRS_MAX);
    set = lua_newuserdatauv(L, sizeof(*set) + cap * sizeof(struct fs_cidr), 0);
    set->n = 0;
    if (lua_type(L, 1) == LUA_TSTRING) {
        add_cidrs_text(L, lua_tostring(L, 1), set, cap);
    } else {
        for (size_t i = 1; i <= cap; i++) {
            lua_rawgeti(L, 1, (lua_Integer)i);
            add_cidrs_text(L, lua_tostring(L, -1), set, cap);
            lua_pop(L, 1);
        }
    }
    luaL_setmetatable(L, CIDRS_MT);
    return 1;
}

/* fs.ip_in(ip, cidrs) -> boolean; cidrs a compiled set, string or list. */
static int l_ip_in(lua_State *L)
{
    const char *ip = luaL_checkstring(L, 1);
    struct cidr_set *set = luaL_testudata(L, 2, CIDRS_MT);

    if (!set) {
        lua_settop(L, 2);
        lua_pushcfunction(L, l_cidrs);
        lua_pushvalue(L, 2);
        lua_call(L, 1, 1);
        set = lua_touserdata(L, -1);
    }
    for (size_t i = 0; i < set->n; i++)
        if (fs_cidr_contains(&set->items[i], ip)) {
            lua_pushboolean(L, 1);
            return 1;
        }
    lua_pushboolean(L, 0);
    return 1;
}

/* fs.prefix(ip, bits4 [, bits6 = 64]) -> "203.0.113.0/24", or nil. */
static int l_prefix(lua_State *L)
{
    const char *ip = luaL_checkstring(L, 1);
    lua_Integer b4 = luaL_checkinteger(L, 2);
    lua_Integer b6 = luaL_optinteger(L, 3, 64);
    char out[INET6_ADDRSTRLEN + 8];

    luaL_argcheck(L, b4 >= 0 && b4 <= 32, 2, "IPv4 prefix is 0 to 32 bits");
    luaL_argcheck(L, b6 >= 0 && b6 <= 128, 3, "IPv6 prefix is 0 to 128 bits");
    if (fs_ip_prefix(ip, (unsigned)b4, (unsigned)b6, out, sizeof(out)) != 0)
        lua_pushnil(L);
    else
        lua_pushstring(L, out);
    return 1;
}

void fs_policy_helpers_push(lua_State *L, struct fs_counters *c)
{
    static const luaL_Reg plain[] = {
        {"now", l_now}, {"log", l_log}, {"ip_in", l_ip_in},
        {"prefix", l_prefix}, {"cidrs", l_cidrs}, {NULL, NULL},
    };

    if (luaL_newmetatable(L, CIDRS_MT)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_setfuncs(L, plain, 0);
    lua_pushlightuserdata(L, c);
    lua_pushcclosure(L, l_hit, 1);
    lua_setfield(L, -2, "hit");
    lua_pushlightuserdata(L, c);
    lua_pushcclosure(L, l_peek, 1);
    lua_setfield(L, -2, "count");
}
