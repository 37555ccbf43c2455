/*
 * policy.h - the Lua 5.4 policies of DESIGN.md section 7: loading a folder of
 * policy files into a checked, immutable set, publishing it, and calling its
 * hooks from any HTTP worker thread. policies/README.md is the admins' side.
 *
 * A published set is compiled into one sandboxed lua_State per calling
 * thread, built lazily on the thread's first call after each publish (a
 * generation number says when), so calls take no global lock. Every state
 * has a memory cap (its own allocator), every call and every file's top
 * level an instruction budget (a count hook), and every call runs under
 * lua_pcall. A failing call never crashes or stalls the caller: the verdict
 * says FS_POLICY_ERROR and why, and the HTTP layer answers per
 * policies.fail_open.
 */
#ifndef FS_POLICY_H
#define FS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define FS_POLICY_FILES_MAX 64
#define FS_POLICY_FILE_BYTES_MAX (1024 * 1024)
#define FS_POLICY_REASON_MAX 160
#define FS_POLICY_RETRY_MAX 86400

struct fs_policy_limits {
    int64_t instructions_max;   /* per hook call and per file's top level */
    int64_t memory_max_bytes;   /* per Lua state (one per worker thread) */
};

struct fs_policy_header {
    const char *name;           /* as the client sent it */
    const char *value;
};

/* What the hooks see as `req`; NULL strings are nil. */
struct fs_policy_request {
    const char *user, *ip, *user_agent, *sale, *method, *path;
    const char *booking_id;     /* confirm and cancel only */
    const struct fs_policy_header *headers;
    size_t n_headers;
};

enum fs_policy_hook {
    FS_POLICY_ON_BOOK,
    FS_POLICY_ON_CONFIRM,
    FS_POLICY_ON_CANCEL,
};

enum fs_policy_action {
    FS_POLICY_ALLOW,
    FS_POLICY_DENY,             /* 403 forbidden, with reason */
    FS_POLICY_SLOW,             /* 429 rate_limited, Retry-After retry_after */
    FS_POLICY_ERROR,            /* the policy failed: reason says why (log it,
                                   never send it: it names files and lines) */
};

struct fs_policy_verdict {
    enum fs_policy_action action;
    uint32_t retry_after;       /* SLOW: whole seconds, 1..FS_POLICY_RETRY_MAX */
    char reason[FS_POLICY_REASON_MAX + 1]; /* DENY: printable ASCII */
    char error[512];            /* ERROR: file:line: message */
};

struct fs_policy_set;

/* Reads every *.lua of `dir` (file-name order, byte-wise; names starting
 * with '.' skipped), and checks each in a fresh sandbox: it compiles, its top
 * level runs within the budget and memory cap, and it defines at least one
 * hook, each a function. On success *out holds the set (one reference) and
 * 0 is returned; a missing folder is an empty set (see
 * fs_policy_set_note). On failure -1 and "file:line: reason" in err. */
int fs_policy_set_load(const char *dir, const struct fs_config_kv *settings,
                       size_t n_settings, const struct fs_policy_limits *lim,
                       struct fs_policy_set **out, char *err, size_t errlen);
/* The same from a config's policies block. */
int fs_policy_set_load_config(const struct fs_config *cfg,
                              struct fs_policy_set **out, char *err,
                              size_t errlen);
/* Drops one reference. */
void fs_policy_set_release(struct fs_policy_set *set);
size_t fs_policy_set_count(const struct fs_policy_set *set);
/* The i-th file's name (no folder). */
const char *fs_policy_set_name(const struct fs_policy_set *set, size_t i);
/* A warning worth logging about the set (its folder is missing), or NULL. */
const char *fs_policy_set_note(const struct fs_policy_set *set);

/* Makes `set` the one every thread uses from its next call on, taking the
 * caller's reference (NULL: no policies). Threads rebuild their state
 * lazily; the set before is freed once no thread uses it. */
void fs_policy_publish(struct fs_policy_set *set);
/* The number of publishes so far. */
uint64_t fs_policy_generation(void);
/* Loads the config's policies and publishes them, or keeps the set in force
 * and logs why not (file and line). With `reread`, the policies block
 * (dir, settings, limits) is first read again from the config file, so that
 * SIGHUP applies new settings; the rest of the file is not applied.
 * 0 when published. */
int fs_policy_reload(const struct fs_config *cfg, int reread);
/* Unpublishes and frees the shared counters. Call after every thread that
 * called a hook has ended or called fs_policy_thread_release(). */
void fs_policy_shutdown(void);

/* Runs the hook of every file that has it, in file-name order; the first
 * deny or slow-down wins. An absent hook (or no set) allows. */
void fs_policy_check(enum fs_policy_hook hook,
                     const struct fs_policy_request *req,
                     struct fs_policy_verdict *out);
/* The hold time for a booking: the first file whose hold_seconds hook
 * returns a number decides. 0 and *seconds set (0: the sale's own), or -1
 * with out->error set when a policy failed. */
int fs_policy_hold_seconds(const struct fs_policy_request *req,
                           uint32_t *seconds, struct fs_policy_verdict *out);
/* The booking request's hooks in one go, sharing one request table: the
 * on_book verdict, then (when it allows) the hold time as with
 * fs_policy_hold_seconds. */
void fs_policy_book(const struct fs_policy_request *req,
                    struct fs_policy_verdict *out, uint32_t *seconds);
/* Closes the calling thread's Lua state now (threads that exit do it
 * themselves). */
void fs_policy_thread_release(void);

#endif
