/*
 * policy_helpers.h - the C side of the policies' `fs` table: windowed
 * counters keyed by anything (the only state shared across requests and
 * threads), a clock, a logger and an IPv4/IPv6 CIDR matcher, plus the
 * function that installs them into a Lua state.
 *
 * The counters are a sharded hash table with one mutex per shard and a fixed
 * capacity: when a shard is full its least recently used key is evicted, so
 * memory stays bounded whatever keys a policy (or a client steering it)
 * invents. A counter is a two-bucket sliding window: the hits of the current
 * fixed window plus the previous window's hits weighted by how much of it
 * still overlaps the sliding one, rounded up (never under-counts a burst).
 */
#ifndef FS_POLICY_HELPERS_H
#define FS_POLICY_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#define FS_COUNTER_KEY_MAX 256      /* bytes of a key, as given by the policy */
#define FS_COUNTERS_DEFAULT_CAPACITY 262144
#define FS_COUNTER_WINDOW_MAX_MS (7LL * 86400 * 1000)

struct fs_counters;

/* A table holding at most `capacity` keys (>= 1). NULL when out of memory. */
struct fs_counters *fs_counters_new(size_t capacity);
void fs_counters_free(struct fs_counters *c);

/* Counts one hit of `key` at now_ms and returns the hits within the last
 * window_ms (this one included). -1 when the key is too long or the window is
 * out of range (1 ms to FS_COUNTER_WINDOW_MAX_MS), or out of memory. now_ms
 * is a monotonic clock. */
int64_t fs_counters_hit(struct fs_counters *c, const char *key, size_t len,
                        int64_t window_ms, int64_t now_ms);
/* The same count without adding a hit (0 for an unknown key). */
int64_t fs_counters_peek(struct fs_counters *c, const char *key, size_t len,
                         int64_t window_ms, int64_t now_ms);

/* Keys held now: never more than the capacity. */
size_t fs_counters_size(struct fs_counters *c);

/* ---- addresses ---------------------------------------------------------- */

struct fs_cidr {
    int family;                 /* 4 or 6 */
    unsigned bits;              /* prefix length */
    unsigned char addr[16];     /* network bytes, host bits zeroed */
};

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is taken as IPv4. 0 or -1. */
int fs_cidr_parse(const char *text, struct fs_cidr *out);
/* 1 if the address `ip` (text) lies in `c`; 0 otherwise or when ip is not
 * an address. */
int fs_cidr_contains(const struct fs_cidr *c, const char *ip);
/* The network of `ip` with bits4 (IPv4) or bits6 (IPv6) prefix bits, as
 * "203.0.113.0/24" or "2001:db8:1:2::/64". 0, or -1 when ip is not an
 * address or a prefix is out of range. */
int fs_ip_prefix(const char *ip, unsigned bits4, unsigned bits6, char *out,
                 size_t outlen);

/* ---- the Lua side --------------------------------------------------------- */

/* Pushes a new `fs` table (hit, count, now, log, ip_in, prefix, cidrs)
 * whose counters are `c`. The caller adds `settings` and makes it read-only. */
void fs_policy_helpers_push(lua_State *L, struct fs_counters *c);

/* While set on the calling thread, fs.hit and fs.count raise an error (a
 * file's top level runs once per worker thread, so counting there would count
 * once per thread) and fs.log stays quiet when `quiet` is set (the same
 * message would be logged by every thread). */
void fs_policy_helpers_loading(int loading, int quiet);

#endif
