/*
 * policy.c - the Lua sandbox, the policy sets and their hooks (policy.h).
 *
 * Owns: reading a policy folder into an immutable, reference-counted set;
 * building sandboxed states from a set (allow-listed libraries, read-only
 * globals, capped allocator, count hook); the published set and its
 * generation; each thread's state; the shared counters.
 *
 * The sandbox follows Redis' scripting state: only base functions that
 * cannot reach the host (no dofile, loadfile, require, print, rawset), the
 * string (without dump), table, math and utf8 libraries, os reduced to time,
 * clock and date, load of text chunks only, collectgarbage("count") only, no
 * debug, io, package or coroutine (a coroutine gets a fresh instruction
 * count, so a loop of coroutines would escape the budget), and setmetatable
 * refusing __gc (finalizers run with hooks off, outside any budget). Each file
 * runs in its own environment, frozen after its top level: the hooks of one
 * file cannot change another's world, and no Lua value outlives a call except
 * in the file's own upvalues (per thread) or the C counters (shared).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "log.h"
#include "policy.h"
#include "policy_helpers.h"

/* Rounds up a positive number already checked to fit (no libm needed). */
static int64_t ceil_int(double x)
{
    int64_t i = (int64_t)x;
    return (double)i < x ? i + 1 : i;
}

#define HOOKS 4
enum { H_BOOK, H_CONFIRM, H_CANCEL, H_HOLD };
static const char *const HOOK_NAMES[HOOKS] = {"on_book", "on_confirm",
                                              "on_cancel", "hold_seconds"};
#define HOLD_SECONDS_MAX 86400

struct policy_file {
    char *name;                 /* file name, for messages */
    char *path;                 /* absolute: the chunk name, so errors say file:line */
    char *src;
    size_t len;
};

struct fs_policy_set {
    atomic_int refs;
    size_t n;
    struct policy_file *files;
    struct fs_config_kv *settings;  /* copies */
    size_t n_settings;
    struct fs_policy_limits lim;
    int has[HOOKS];             /* files defining each hook */
    char note[320];
};

/* One sandboxed state built from a set. */
struct lstate {
    lua_State *L;
    size_t used, max;           /* bytes, for the capped allocator */
    int64_t budget;
    struct fs_policy_set *set;  /* a reference; NULL: no policies */
    uint64_t gen;
    int broken;                 /* a memory error: rebuild before the next call */
    int (*refs)[HOOKS];         /* per file: registry refs, LUA_NOREF if absent */
};

/* ---- the set ------------------------------------------------------------- */

static void set_free(struct fs_policy_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->files[i].name);
        free(set->files[i].path);
        free(set->files[i].src);
    }
    free(set->files);
    for (size_t i = 0; i < set->n_settings; i++) {
        free(set->settings[i].key);
        free(set->settings[i].value);
    }
    free(set->settings);
    free(set);
}

void fs_policy_set_release(struct fs_policy_set *set)
{
    if (set && atomic_fetch_sub(&set->refs, 1) == 1)
        set_free(set);
}

size_t fs_policy_set_count(const struct fs_policy_set *set)
{
    return set ? set->n : 0;
}

const char *fs_policy_set_name(const struct fs_policy_set *set, size_t i)
{
    return set && i < set->n ? set->files[i].name : NULL;
}

const char *fs_policy_set_note(const struct fs_policy_set *set)
{
    return set && set->note[0] ? set->note : NULL;
}

static int read_file(const char *path, struct policy_file *f, char *err,
                     size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;

    if (!fp || fstat(fileno(fp), &st) != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (st.st_size > FS_POLICY_FILE_BYTES_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path,
                 FS_POLICY_FILE_BYTES_MAX);
        goto fail;
    }
    f->src = malloc((size_t)st.st_size + 1);
    if (!f->src) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    f->len = fread(f->src, 1, (size_t)st.st_size, fp);
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    fclose(fp);
    return 0;
fail:
    if (fp)
        fclose(fp);
    return -1;
}

static int is_policy_name(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return d->d_name[0] != '.' && len > 4 &&
           strcmp(d->d_name + len - 4, ".lua") == 0;
}

/* Byte order, whatever the locale: the documented composition order. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int read_dir(struct fs_policy_set *set, const char *dir, char *err,
                    size_t errlen)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_policy_name, by_name), rc = -1;

    if (n < 0) {
        if (errno == ENOENT) {
            snprintf(set->note, sizeof(set->note),
                     "policies folder %s does not exist: no policies loaded",
                     dir);
            return 0;
        }
        snprintf(err, errlen, "%s: cannot list the policies folder: %s", dir,
                 strerror(errno));
        return -1;
    }
    if (n > FS_POLICY_FILES_MAX) {
        snprintf(err, errlen, "%s: %d policy files, at most %d", dir, n,
                 FS_POLICY_FILES_MAX);
        goto out;
    }
    set->files = calloc((size_t)n + 1, sizeof(*set->files));
    if (!set->files) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        struct policy_file *f = &set->files[set->n];
        size_t plen = strlen(dir) + strlen(names[i]->d_name) + 2;
        f->name = strdup(names[i]->d_name);
        f->path = malloc(plen);
        if (!f->name || !f->path) {
            free(f->name);
            free(f->path);
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        snprintf(f->path, plen, "%s/%s", dir, names[i]->d_name);
        set->n++;
        if (read_file(f->path, f, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int copy_settings(struct fs_policy_set *set,
                         const struct fs_config_kv *kv, size_t n)
{
    set->settings = calloc(n + 1, sizeof(*set->settings));
    if (!set->settings)
        return -1;
    for (size_t i = 0; i < n; i++) {
        set->settings[i].key = strdup(kv[i].key);
        set->settings[i].value = strdup(kv[i].value ? kv[i].value : "");
        set->settings[i].line = kv[i].line;
        set->n_settings++;
        if (!set->settings[i].key || !set->settings[i].value)
            return -1;
    }
    return 0;
}

/* ---- the sandbox ------------------------------------------------------------ */

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lstate *ls = ud;
    size_t old = ptr ? osize : 0;
    void *p;

    if (nsize == 0) {
        free(ptr);
        ls->used -= old;
        return NULL;
    }
    if (nsize > old && ls->used + (nsize - old) > ls->max)
        return NULL;
    p = realloc(ptr, nsize);
    if (p)
        ls->used = ls->used - old + nsize;
    return p;
}

static struct lstate *lstate_of(lua_State *L)
{
    return *(struct lstate **)lua_getextraspace(L);
}

/* Past the budget every further instruction raises again, so a policy's own
 * pcall cannot swallow the stop and carry on. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct lstate *ls = lstate_of(L);
    lua_getinfo(L, "Sl", ar);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    lua_pushfstring(L, "%s:%d: instruction limit of %I exceeded "
                    "(policies.instructions_max)", ar->short_src,
                    ar->currentline, (lua_Integer)ls->budget);
    lua_error(L);
}

static void arm_budget(struct lstate *ls)
{
    lua_sethook(ls->L, count_hook, LUA_MASKCOUNT,
                ls->budget > INT32_MAX ? INT32_MAX : (int)ls->budget);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(an error that is not a string)", 1);
    return 1;
}

static int ro_newindex(lua_State *L)
{
    return luaL_error(L, "%s is read-only (cannot set '%s')",
                      lua_tostring(L, lua_upvalueindex(1)),
                      luaL_tolstring(L, 2, NULL));
}

static int ro_pairs(lua_State *L)
{
    lua_getglobal(L, "next");  /* the real globals: never the sandbox's */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushnil(L);
    return 3;
}

static int ro_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
    return 1;
}

/* Replaces the table on top with an empty proxy that reads through to it and
 * refuses writes; its metatable is hidden from getmetatable/setmetatable. */
static void make_readonly(lua_State *L, const char *what)
{
    lua_newtable(L);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, what);
    lua_pushcclosure(L, ro_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, ro_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, ro_len, 1);
    lua_setfield(L, -2, "__len");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}

static int safe_setmetatable(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushliteral(L, "__gc");
    if (lua_type(L, 2) == LUA_TTABLE && lua_rawget(L, 2) != LUA_TNIL)
        return luaL_error(L, "setmetatable: __gc is not allowed in policies");
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

static int safe_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "count");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage: only \"count\" is allowed in "
                          "policies");
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                          (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024);
    return 1;
}

/* load(text [, chunkname]): text chunks only, in the read-only base
 * environment (upvalue 1). */
static int safe_load(lua_State *L)
{
    size_t len;
    const char *text;
    const char *name;

    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "load: only a string of Lua source is allowed "
                          "in policies");
    text = lua_tolstring(L, 1, &len);
    name = luaL_optstring(L, 2, "=(load)");
    if (luaL_loadbufferx(L, text, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setupvalue(L, -2, 1);
    return 1;
}

static void copy_global(lua_State *L, int dst, const char *name)
{
    lua_getglobal(L, name);
    lua_setfield(L, dst, name);
}

static void push_lib(lua_State *L, const char *lib, const char *ro_name)
{
    lua_getglobal(L, lib);
    make_readonly(L, ro_name);
}

static void push_os(lua_State *L)
{
    static const char *const keep[] = {"time", "clock", "date", NULL};
    lua_newtable(L);
    lua_getglobal(L, "os");
    for (size_t i = 0; keep[i]; i++) {
        lua_getfield(L, -1, keep[i]);
        lua_setfield(L, -3, keep[i]);
    }
    lua_pop(L, 1);
    make_readonly(L, "os");
}

/* fs.settings: strings, numbers when they read as numbers, booleans for
 * true/false. */
static void push_settings(lua_State *L, const struct fs_policy_set *set)
{
    lua_createtable(L, 0, (int)set->n_settings);
    for (size_t i = 0; i < set->n_settings; i++) {
        const char *v = set->settings[i].value;
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
            lua_pushboolean(L, v[0] == 't');
        else if (lua_stringtonumber(L, v) == 0)
            lua_pushstring(L, v);
        lua_setfield(L, -2, set->settings[i].key);
    }
    make_readonly(L, "fs.settings");
}

/* Lua's pattern matcher runs inside one C call, where the instruction
 * budget cannot stop it, and backtracks: a subject of n bytes and a pattern
 * with k repetition items can cost about n^(k+1) steps (each start position
 * times each way to split the subject). Calls whose bound is past this
 * budget are refused with an error instead of stalling a request thread. */
#define PATTERN_STEPS_MAX 1e8

static int pattern_repetitions(const char *p, size_t len)
{
    int k = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '%') {
            i++;  /* an escaped character is literal */
            continue;
        }
        if (p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?')
            k++;
    }
    return k;
}

/* string.find/match/gmatch/gsub with the cost check; the original is the
 * closure's upvalue. find's fourth argument `plain` skips patterns. */
static int guarded_pattern(lua_State *L)
{
    size_t n = 0, plen = 0;
    const char *subject = lua_tolstring(L, 1, &n);
    const char *pattern = lua_tolstring(L, 2, &plen);
    int plain = lua_toboolean(L, 4) && lua_tointeger(L, lua_upvalueindex(2));

    if (subject && pattern && !plain) {
        int k = pattern_repetitions(pattern, plen);
        int anchored = plen > 0 && pattern[0] == '^';
        double steps = 1;
        for (int i = 0; i < k + !anchored; i++)
            steps *= (double)n + 1;
        if (k > 0 && steps > PATTERN_STEPS_MAX)
            return luaL_error(L, "pattern with %d repetition(s) is too costly "
                              "on %d bytes; use a plain find or a shorter "
                              "subject", k, (int)n);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void guard_patterns(lua_State *L)
{
    static const char *const names[] = {"find", "match", "gmatch", "gsub"};
    lua_getglobal(L, "string");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        lua_getfield(L, -1, names[i]);
        lua_pushinteger(L, i == 0);  /* only find has `plain` */
        lua_pushcclosure(L, guarded_pattern, 2);
        lua_setfield(L, -2, names[i]);
    }
    lua_pop(L, 1);
}

/* Builds the read-only base environment every file reads through; leaves
 * it in the registry at ls->base_ref (returned). */
static int build_base(lua_State *L, const struct fs_policy_set *set,
                      struct fs_counters *counters)
{
    static const char *const funcs[] = {
        "assert", "error", "getmetatable", "ipairs", "next", "pairs",
        "pcall", "rawequal", "rawget", "rawlen", "select", "tonumber",
        "tostring", "type", "xpcall", "_VERSION", NULL};
    int b;

    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
    lua_settop(L, 0);
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    guard_patterns(L);
    /* getmetatable("") would hand out the real string table. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_settop(L, 0);

    lua_newtable(L);
    b = lua_gettop(L);
    for (size_t i = 0; funcs[i]; i++)
        copy_global(L, b, funcs[i]);
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setfield(L, b, "setmetatable");
    lua_pushcfunction(L, safe_collectgarbage);
    lua_setfield(L, b, "collectgarbage");
    push_lib(L, "string", "string");
    lua_setfield(L, b, "string");
    push_lib(L, "table", "table");
    lua_setfield(L, b, "table");
    push_lib(L, "math", "math");
    lua_setfield(L, b, "math");
    push_lib(L, "utf8", "utf8");
    lua_setfield(L, b, "utf8");
    push_os(L);
    lua_setfield(L, b, "os");
    fs_policy_helpers_push(L, counters);
    push_settings(L, set);
    lua_setfield(L, -2, "settings");
    make_readonly(L, "fs");
    lua_setfield(L, b, "fs");
    make_readonly(L, "the base environment");
    /* load's chunks see the base environment and nothing else. */
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, safe_load, 1);
    lua_getmetatable(L, -2);
    lua_getfield(L, -1, "__index");
    lua_insert(L, -3);
    lua_pop(L, 1);
    lua_setfield(L, -2, "load");
    lua_pop(L, 1);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int global_write(lua_State *L)
{
    return luaL_error(L, "cannot set global '%s' after the file loaded: "
                      "globals are read-only (use a local, or fs.hit for "
                      "counts shared between requests)",
                      luaL_tolstring(L, 2, NULL));
}

/* Moves the file environment's contents (at env) into a hidden table it
 * reads through to, and refuses new writes. */
static void freeze_env(lua_State *L, int env, int base_ref)
{
    int frozen;
    lua_newtable(L);
    frozen = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, env)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, frozen);
    }
    lua_pushnil(L);
    while (lua_next(L, frozen)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, env);
    }
    lua_createtable(L, 0, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, base_ref);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, frozen);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, frozen);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, global_write);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, env);
    lua_pop(L, 1);
}

static void first_line(char *out, size_t outlen, const char *text)
{
    size_t n = strcspn(text ? text : "?", "\n");
    snprintf(out, outlen, "%.*s", (int)n, text ? text : "?");
}

/* The first line of a Lua error about one of the set's files, with the
 * file's name expanded to its full path. Chunks are named by the file name
 * alone because Lua cuts a longer chunk name to its last LUA_IDSIZE bytes
 * ("...r/flashsaled/p.lua:3:"), which names no file an admin can open. */
static void error_line(char *out, size_t outlen, const char *text,
                       const struct fs_policy_set *set)
{
    size_t n = strcspn(text ? text : "?", "\n");

    for (size_t k = 0; text && k < set->n; k++) {
        size_t len = strlen(set->files[k].name);
        if (n > len && strncmp(text, set->files[k].name, len) == 0 &&
            text[len] == ':') {
            snprintf(out, outlen, "%s%.*s", set->files[k].path,
                     (int)(n - len), text + len);
            return;
        }
    }
    first_line(out, outlen, text);
}

static void memory_error(char *err, size_t errlen, const struct lstate *ls,
                         const char *file)
{
    snprintf(err, errlen, "%s: out of memory: the policy state's cap of %zu "
             "KiB was reached (policies.memory_max_kb)", file, ls->max / 1024);
}

/* Compiles and runs one file in its own environment, freezes it and takes
 * references to its hooks. */
static int load_file(struct lstate *ls, size_t idx, int base_ref, char *err,
                     size_t errlen)
{
    lua_State *L = ls->L;
    const struct policy_file *f = &ls->set->files[idx];
    char chunkname[4096];
    int env, rc, found = 0;

    lua_settop(L, 0);
    lua_pushcfunction(L, traceback);
    lua_newtable(L);
    env = lua_gettop(L);
    lua_createtable(L, 0, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, base_ref);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, env);
    snprintf(chunkname, sizeof(chunkname), "@%s", f->name);
    rc = luaL_loadbufferx(L, f->src, f->len, chunkname, "t");
    if (rc == LUA_OK) {
        lua_pushvalue(L, env);
        lua_setupvalue(L, -2, 1);
        arm_budget(ls);
        rc = lua_pcall(L, 0, 0, 1);
        lua_sethook(L, NULL, 0, 0);
    }
    if (rc == LUA_ERRMEM) {
        memory_error(err, errlen, ls, f->path);
        return -1;
    }
    if (rc != LUA_OK) {
        error_line(err, errlen, lua_tostring(L, -1), ls->set);
        return -1;
    }
    for (int h = 0; h < HOOKS; h++) {
        int t = lua_rawget(L, (lua_pushstring(L, HOOK_NAMES[h]), env));
        if (t == LUA_TFUNCTION) {
            ls->refs[idx][h] = luaL_ref(L, LUA_REGISTRYINDEX);
            found++;
            continue;
        }
        lua_pop(L, 1);
        if (t != LUA_TNIL) {
            snprintf(err, errlen, "%s: %s must be a function, not a %s",
                     f->path, HOOK_NAMES[h], lua_typename(L, t));
            return -1;
        }
    }
    if (!found) {
        snprintf(err, errlen, "%s: defines no hook (on_book, hold_seconds, "
                 "on_confirm or on_cancel)", f->path);
        return -1;
    }
    freeze_env(L, env, base_ref);
    lua_settop(L, 0);
    return 0;
}

static void lstate_free(struct lstate *ls)
{
    if (!ls)
        return;
    if (ls->L)
        lua_close(ls->L);
    free(ls->refs);
    fs_policy_set_release(ls->set);
    free(ls);
}

struct build_args {
    struct lstate *ls;
    struct fs_counters *counters;
    char *err;
    size_t errlen;
};

/* Everything that allocates in the new state runs here, under lua_pcall: an
 * allocation refused by the cap raises instead of aborting. Returns 0, or -1
 * with args->err set. */
static int build_all(lua_State *L)
{
    struct build_args *a = lua_touserdata(L, 1);
    int base_ref = build_base(L, a->ls->set, a->counters), rc = 0;

    for (size_t i = 0; i < a->ls->set->n && rc == 0; i++)
        rc = load_file(a->ls, i, base_ref, a->err, a->errlen);
    lua_settop(L, 0);
    lua_pushinteger(L, rc);
    return 1;
}

/* A state running `set` (whose reference the state takes). quiet: fs.log
 * at top level is silent (every worker thread runs it again). */
static struct lstate *lstate_new(struct fs_policy_set *set,
                                 struct fs_counters *counters, int quiet,
                                 char *err, size_t errlen)
{
    struct lstate *ls = calloc(1, sizeof(*ls));
    struct build_args args = {ls, counters, err, errlen};
    int rc;

    if (!ls) {
        fs_policy_set_release(set);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ls->set = set;
    ls->max = (size_t)set->lim.memory_max_bytes;
    ls->budget = set->lim.instructions_max;
    ls->refs = calloc(set->n + 1, sizeof(*ls->refs));
    ls->L = ls->refs ? lua_newstate(capped_alloc, ls) : NULL;
    if (!ls->L) {
        memory_error(err, errlen, ls, "policies");
        goto fail;
    }
    *(struct lstate **)lua_getextraspace(ls->L) = ls;
    for (size_t i = 0; i < set->n; i++)
        for (int h = 0; h < HOOKS; h++)
            ls->refs[i][h] = LUA_NOREF;
    lua_pushcfunction(ls->L, build_all);
    lua_pushlightuserdata(ls->L, &args);
    fs_policy_helpers_loading(1, quiet);
    rc = lua_pcall(ls->L, 1, 1, 0);
    fs_policy_helpers_loading(0, 0);
    if (rc == LUA_ERRMEM)
        memory_error(err, errlen, ls, "policies");
    else if (rc != LUA_OK)
        first_line(err, errlen, lua_tostring(ls->L, -1));
    else if (lua_tointeger(ls->L, -1) != 0)
        rc = -1;
    if (rc != LUA_OK)
        goto fail;
    lua_settop(ls->L, 0);
    lua_gc(ls->L, LUA_GCCOLLECT);
    return ls;
fail:
    lstate_free(ls);
    return NULL;
}

/* ---- the engine --------------------------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_policy_set *g_set;            /* under g_lock */
static _Atomic uint64_t g_gen;
static _Atomic(struct fs_counters *) g_counters;

static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static _Thread_local struct lstate *t_state;

static void thread_exit(void *p)
{
    lstate_free(p);
}

static void make_key(void)
{
    pthread_key_create(&g_key, thread_exit);
}

/* Created on first use, under g_lock; freed by fs_policy_shutdown. */
static struct fs_counters *shared(_Atomic(struct fs_counters *) *slot,
                                  size_t capacity)
{
    struct fs_counters *c = atomic_load(slot);
    if (c)
        return c;
    pthread_mutex_lock(&g_lock);
    c = atomic_load(slot);
    if (!c) {
        c = fs_counters_new(capacity);
        atomic_store(slot, c);
    }
    pthread_mutex_unlock(&g_lock);
    return c;
}

int fs_policy_set_load(const char *dir, const struct fs_config_kv *settings,
                       size_t n_settings, const struct fs_policy_limits *lim,
                       struct fs_policy_set **out, char *err, size_t errlen)
{
    struct fs_policy_set *set = calloc(1, sizeof(*set));
    struct fs_counters *counters = shared(&g_counters,
                                          FS_COUNTERS_DEFAULT_CAPACITY);
    struct lstate *check;

    *out = NULL;
    if (!set || !counters || copy_settings(set, settings, n_settings) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    atomic_init(&set->refs, 1);
    set->lim = *lim;
    if (read_dir(set, dir, err, errlen) != 0)
        goto fail;
    /* The self-check: a full state, built once and thrown away. */
    atomic_fetch_add(&set->refs, 1);
    check = lstate_new(set, counters, 0, err, errlen);
    if (!check)
        goto fail;
    for (size_t i = 0; i < set->n; i++)
        for (int h = 0; h < HOOKS; h++)
            set->has[h] += check->refs[i][h] != LUA_NOREF;
    lstate_free(check);
    *out = set;
    return 0;
fail:
    if (set)
        fs_policy_set_release(set);
    return -1;
}

int fs_policy_set_load_config(const struct fs_config *cfg,
                              struct fs_policy_set **out, char *err,
                              size_t errlen)
{
    struct fs_policy_limits lim = {
        .instructions_max = cfg->policy_instructions_max,
        .memory_max_bytes = cfg->policy_memory_max_kb * 1024,
    };
    return fs_policy_set_load(cfg->policies_dir, cfg->policy_settings,
                              cfg->n_policy_settings, &lim, out, err, errlen);
}

void fs_policy_publish(struct fs_policy_set *set)
{
    struct fs_policy_set *old;
    pthread_mutex_lock(&g_lock);
    old = g_set;
    g_set = set;
    atomic_fetch_add(&g_gen, 1);
    pthread_mutex_unlock(&g_lock);
    fs_policy_set_release(old);
}

uint64_t fs_policy_generation(void)
{
    return atomic_load(&g_gen);
}

static void list_names(const struct fs_policy_set *set, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < set->n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
                                 set->files[i].name);
}

int fs_policy_reload(const struct fs_config *cfg, int reread)
{
    char err[1024], names[512];
    struct fs_config *fresh = NULL;
    struct fs_policy_set *set;
    int rc = -1;

    if (reread && !(fresh = fs_config_load(cfg->path, err, sizeof(err)))) {
        fs_log_error("policies not reloaded, the ones in force stay: %s", err);
        return -1;
    }
    if (fresh)
        cfg = fresh;
    if (fs_policy_set_load_config(cfg, &set, err, sizeof(err)) != 0) {
        fs_log_error("policies not reloaded, the ones in force stay: %s", err);
        goto out;
    }
    if (fs_policy_set_note(set))
        fs_log_warn("%s", fs_policy_set_note(set));
    list_names(set, names, sizeof(names));
    fs_policy_publish(set);
    fs_log_info("policies loaded from %s: %zu files (%s), %zu settings, "
                "generation %llu", cfg->policies_dir, fs_policy_set_count(set),
                names, cfg->n_policy_settings,
                (unsigned long long)fs_policy_generation());
    rc = 0;
out:
    fs_config_free(fresh);
    return rc;
}

void fs_policy_thread_release(void)
{
    pthread_once(&g_key_once, make_key);
    lstate_free(t_state);
    t_state = NULL;
    pthread_setspecific(g_key, NULL);
}

void fs_policy_shutdown(void)
{
    fs_policy_publish(NULL);
    fs_counters_free(atomic_exchange(&g_counters, NULL));
}

/* The calling thread's state for the published set, rebuilt when a newer
 * set was published or after a memory error. NULL with err on failure. */
static struct lstate *thread_state(char *err, size_t errlen)
{
    uint64_t gen = atomic_load(&g_gen);
    struct fs_policy_set *set;
    struct lstate *ls;

    if (t_state && t_state->gen == gen && !t_state->broken)
        return t_state;
    fs_policy_thread_release();
    pthread_mutex_lock(&g_lock);
    set = g_set;
    gen = atomic_load(&g_gen);
    if (set)
        atomic_fetch_add(&set->refs, 1);
    pthread_mutex_unlock(&g_lock);
    if (set) {
        ls = lstate_new(set, shared(&g_counters, FS_COUNTERS_DEFAULT_CAPACITY),
                        1, err, errlen);
    } else {
        ls = calloc(1, sizeof(*ls));  /* no policies: nothing to run */
        if (!ls)
            snprintf(err, errlen, "out of memory");
    }
    if (!ls)
        return NULL;
    ls->gen = gen;
    t_state = ls;
    pthread_setspecific(g_key, ls);
    return ls;
}

static void set_field(lua_State *L, const char *key, const char *value)
{
    if (!value)
        return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

/* req.headers: names lower-cased; a repeated header's values joined with
 * ", " as HTTP allows. */
static void push_headers(lua_State *L, const struct fs_policy_request *r)
{
    lua_createtable(L, 0, (int)r->n_headers);
    for (size_t i = 0; i < r->n_headers; i++) {
        char name[128];
        size_t n = 0;
        for (const char *p = r->headers[i].name; p && *p && n < sizeof(name) - 1; p++)
            name[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        name[n] = '\0';
        if (lua_getfield(L, -1, name) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, r->headers[i].value ? r->headers[i].value : "");
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, r->headers[i].value ? r->headers[i].value : "");
        }
        lua_setfield(L, -2, name);
    }
}

static int push_request(lua_State *L)
{
    const struct fs_policy_request *r = lua_touserdata(L, 1);
    lua_createtable(L, 0, 9);
    set_field(L, "user", r->user);
    set_field(L, "ip", r->ip);
    set_field(L, "user_agent", r->user_agent);
    set_field(L, "sale", r->sale);
    set_field(L, "method", r->method);
    set_field(L, "path", r->path);
    set_field(L, "booking_id", r->booking_id);
    push_headers(L, r);
    lua_setfield(L, -2, "headers");
    return 1;
}

static void fail(struct fs_policy_verdict *v, const char *fmt, const char *a,
                 const char *b)
{
    v->action = FS_POLICY_ERROR;
    snprintf(v->error, sizeof(v->error), fmt, a, b);
}

/* Client-visible text from a policy: printable ASCII, bounded. */
static void clean_reason(char *out, size_t outlen, const char *in)
{
    size_t n = 0;
    for (; in && *in && n + 1 < outlen; in++)
        out[n++] = *in >= 0x20 && *in < 0x7f ? *in : '?';
    out[n] = '\0';
}

/* Reads an on_* hook's answer (2 values on the stack). 1 if it decides,
 * 0 to go on, -1 on a bad answer. */
static int read_verdict(lua_State *L, struct fs_policy_verdict *v,
                        const char *file, const char *hook)
{
    const char *what;
    if (lua_isnil(L, -2) || (lua_isboolean(L, -2) && lua_toboolean(L, -2)))
        return 0;
    what = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (what && strcmp(what, "allow") == 0)
        return 0;
    if (what && strcmp(what, "deny") == 0) {
        v->action = FS_POLICY_DENY;
        clean_reason(v->reason, sizeof(v->reason),
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                    : "refused by policy");
        return 1;
    }
    if (what && strcmp(what, "slow") == 0 && lua_type(L, -1) == LUA_TNUMBER) {
        lua_Number s = lua_tonumber(L, -1);
        v->action = FS_POLICY_SLOW;
        v->retry_after = !(s >= 1) ? 1
                         : s > FS_POLICY_RETRY_MAX ? FS_POLICY_RETRY_MAX
                                                   : (uint32_t)ceil_int(s);
        return 1;
    }
    fail(v, "%s: %s returned something else than nil, \"deny\", reason or "
         "\"slow\", seconds", file, hook);
    return -1;
}

/* Calls hook h of file i with req (at index 2; traceback at 1), nret
 * results left on the stack. */
static int call_hook(struct lstate *ls, size_t i, int h, int nret,
                     struct fs_policy_verdict *v)
{
    lua_State *L = ls->L;
    int rc;

    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->refs[i][h]);
    lua_pushvalue(L, 2);
    arm_budget(ls);
    rc = lua_pcall(L, 1, nret, 1);
    lua_sethook(L, NULL, 0, 0);
    if (rc == LUA_OK)
        return 0;
    if (rc == LUA_ERRMEM) {
        ls->broken = 1;
        memory_error(v->error, sizeof(v->error), ls, ls->set->files[i].path);
    } else {
        error_line(v->error, sizeof(v->error), lua_tostring(L, -1), ls->set);
        fs_log_debug("policy %s: %s", HOOK_NAMES[h], lua_tostring(L, -1));
    }
    v->action = FS_POLICY_ERROR;
    return -1;
}

/* Logs policy failures at most once a second: a broken policy on a busy
 * daemon must not flood the log. */
static void log_failure(const struct fs_policy_verdict *v)
{
    static _Atomic int64_t last_ms;
    static atomic_long suppressed;
    int64_t now = fs_mono_ns() / 1000000, last = atomic_load(&last_ms);

    if (now - last < 1000 || !atomic_compare_exchange_strong(&last_ms, &last, now)) {
        atomic_fetch_add(&suppressed, 1);
        return;
    }
    long more = atomic_exchange(&suppressed, 0);
    if (more)
        fs_log_warn("policy failed: %s (and %ld failures not logged since the "
                    "last line)", v->error, more);
    else
        fs_log_warn("policy failed: %s", v->error);
}

/* The state with the traceback handler and the request table on its stack,
 * or NULL with v set (ALLOW when hook h, or -1: on_book and hold_seconds,
 * has nothing to run). */
static struct lstate *prepare(int h, const struct fs_policy_request *req,
                              struct fs_policy_verdict *v)
{
    struct lstate *ls;
    memset(v, 0, sizeof(*v));
    v->action = FS_POLICY_ALLOW;
    ls = thread_state(v->error, sizeof(v->error));
    if (!ls) {
        v->action = FS_POLICY_ERROR;
        log_failure(v);
        return NULL;
    }
    if (!ls->set || (h >= 0 && !ls->set->has[h]) ||
        (h < 0 && !ls->set->has[H_BOOK] && !ls->set->has[H_HOLD]))
        return NULL;
    lua_settop(ls->L, 0);
    lua_pushcfunction(ls->L, traceback);
    lua_pushcfunction(ls->L, push_request);
    lua_pushlightuserdata(ls->L, (void *)req);
    if (lua_pcall(ls->L, 1, 1, 0) != LUA_OK) {
        ls->broken = 1;
        memory_error(v->error, sizeof(v->error), ls, "request table");
        v->action = FS_POLICY_ERROR;
        log_failure(v);
        return NULL;
    }
    return ls;
}

/* Runs hook h of every file until one decides (the request table at 2). */
static void run_verdict(struct lstate *ls, int h, struct fs_policy_verdict *out)
{
    for (size_t i = 0; i < ls->set->n; i++) {
        int rc;
        if (ls->refs[i][h] == LUA_NOREF)
            continue;
        if (call_hook(ls, i, h, 2, out) != 0)
            return;
        rc = read_verdict(ls->L, out, ls->set->files[i].path, HOOK_NAMES[h]);
        lua_settop(ls->L, 2);
        if (rc != 0)
            return;
    }
}

/* The first hold_seconds hook that returns a number decides. */
static void run_hold(struct lstate *ls, uint32_t *seconds,
                     struct fs_policy_verdict *out)
{
    for (size_t i = 0; i < ls->set->n; i++) {
        lua_Number s;
        if (ls->refs[i][H_HOLD] == LUA_NOREF)
            continue;
        if (call_hook(ls, i, H_HOLD, 1, out) != 0)
            return;
        if (lua_isnil(ls->L, -1)) {
            lua_settop(ls->L, 2);
            continue;
        }
        s = lua_type(ls->L, -1) == LUA_TNUMBER ? lua_tonumber(ls->L, -1) : -1;
        if (s >= 1 && s <= HOLD_SECONDS_MAX)
            *seconds = (uint32_t)ceil_int(s);
        else
            fail(out, "%s: hold_seconds returned a %s, not nil or a number "
                 "of seconds from 1 to 86400", ls->set->files[i].path,
                 lua_typename(ls->L, lua_type(ls->L, -1)));
        return;
    }
}

static void finish(struct lstate *ls, struct fs_policy_verdict *out)
{
    if (out->action == FS_POLICY_ERROR)
        log_failure(out);
    lua_settop(ls->L, 0);
}

void fs_policy_check(enum fs_policy_hook hook,
                     const struct fs_policy_request *req,
                     struct fs_policy_verdict *out)
{
    int h = hook == FS_POLICY_ON_CONFIRM  ? H_CONFIRM
            : hook == FS_POLICY_ON_CANCEL ? H_CANCEL
                                          : H_BOOK;
    struct lstate *ls = prepare(h, req, out);

    if (!ls)
        return;
    run_verdict(ls, h, out);
    finish(ls, out);
}

int fs_policy_hold_seconds(const struct fs_policy_request *req,
                           uint32_t *seconds, struct fs_policy_verdict *out)
{
    struct lstate *ls = prepare(H_HOLD, req, out);

    *seconds = 0;
    if (!ls)
        return out->action == FS_POLICY_ERROR ? -1 : 0;
    run_hold(ls, seconds, out);
    finish(ls, out);
    return out->action == FS_POLICY_ERROR ? -1 : 0;
}

void fs_policy_book(const struct fs_policy_request *req,
                    struct fs_policy_verdict *out, uint32_t *seconds)
{
    struct lstate *ls;

    *seconds = 0;
    ls = prepare(-1, req, out);
    if (!ls)
        return;
    if (ls->set->has[H_BOOK])
        run_verdict(ls, H_BOOK, out);
    if (out->action == FS_POLICY_ALLOW && ls->set->has[H_HOLD])
        run_hold(ls, seconds, out);
    if (out->action == FS_POLICY_ERROR)
        *seconds = 0;
    finish(ls, out);
}

