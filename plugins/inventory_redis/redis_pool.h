/*
 * redis_pool.h - a fixed pool of hiredis connections shared by every thread
 * of the plugin, and the one way to run the plugin's Lua scripts on it.
 *
 * A caller takes a connection for one command and gives it back; a broken
 * connection is dropped and re-opened by the next caller that takes its slot.
 * While Redis is unreachable, connects are gated by an exponential backoff so
 * that operations answer FS_UNAVAILABLE at once instead of each waiting for a
 * connect timeout.
 */
#ifndef FS_INVENTORY_REDIS_POOL_H
#define FS_INVENTORY_REDIS_POOL_H

#include <stddef.h>

#include <hiredis.h>

#include "flashsaled/fs_plugin.h"
#include "redis_url.h"

struct redis_pool_options {
    const struct fs_host *host;  /* for log(); may be NULL */
    const struct redis_url *url;
    size_t size;                 /* connections, >= 1 */
    int connect_timeout_ms;
    int command_timeout_ms;      /* also the bound on waiting for a free slot */
    int reconnect_max_ms;        /* backoff cap while Redis is down */
    const char *const *scripts;  /* Lua texts, SCRIPT LOADed on each connect */
    const char *const *script_names;  /* for messages */
    size_t n_scripts;
};

struct redis_pool;

/* Allocates the pool; connects lazily (Redis may be down at start). */
struct redis_pool *redis_pool_new(const struct redis_pool_options *opt);
void redis_pool_free(struct redis_pool *p);

/* Runs scripts[script] with EVALSHA (EVAL when Redis answers NOSCRIPT) on
 * `nkeys` keys and `nargs` arguments (args[i] holds arglens[i] bytes). On
 * FS_OK, *reply is the script's answer (free it with freeReplyObject). Error
 * replies and lost connections are mapped to FS_UNAVAILABLE or FS_ERROR. */
enum fs_status redis_pool_eval(struct redis_pool *p, size_t script,
                               const char *const *keys, size_t nkeys,
                               const char *const *args, const size_t *arglens,
                               size_t nargs, redisReply **reply);

/* A connection of its own (logged in, no scripts), outside the pool, for a
 * caller that keeps it in a mode the pool's commands cannot share, such as
 * SUBSCRIBE. NULL with the reason in err. The caller redisFree()s it. */
redisContext *redis_pool_connect_dedicated(struct redis_pool *p, char *err,
                                           size_t errlen);

/* PUBLISH of n messages on one channel, pipelined in one round trip. */
enum fs_status redis_pool_publish(struct redis_pool *p, const char *channel,
                                  const char *const *messages, size_t n);

/* PING: FS_OK, or FS_UNAVAILABLE with the reason in detail. */
enum fs_status redis_pool_ping(struct redis_pool *p, char *detail, size_t len);

#endif
