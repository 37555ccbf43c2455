/*
 * test_policy.c - the Lua sandbox and the hooks of src/policy.c: what a
 * policy cannot reach, what stops it (instruction budget, memory cap), how
 * files load, compose and reload, and that failures are verdicts, not
 * crashes.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hang_bound.h"
#include "log.h"
#include "policy.h"

#define BUDGET 100000
#define MEMORY (2 * 1024 * 1024)

struct fixture {
    char dir[64];
};

static struct fixture fx;

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", fx.dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void clear_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -f %s/*.lua", fx.dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/fs-policy-test-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    fs_log_set_level(FS_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    fs_policy_thread_release();
    fs_policy_shutdown();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static const struct fs_policy_limits LIMITS = {BUDGET, MEMORY};

static int load_dir(struct fs_policy_set **set, char *err, size_t errlen,
                    const struct fs_config_kv *kv, size_t n_kv)
{
    return fs_policy_set_load(fx.dir, kv, n_kv, &LIMITS, set, err, errlen);
}

/* Loads one file with `src`; asserts it is refused with `expect` (and the
 * file name) in the message. */
static void assert_load_refused(const char *src, const char *expect)
{
    struct fs_policy_set *set = NULL;
    char err[1024] = "";
    clear_dir();
    write_file("p.lua", src);
    if (load_dir(&set, err, sizeof(err), NULL, 0) == 0) {
        fs_policy_set_release(set);
        fail_msg("loaded, expected a refusal with '%s':\n%s", expect, src);
    }
    if (!strstr(err, expect) || !strstr(err, "p.lua"))
        fail_msg("error '%s' lacks '%s' or the file name (for:\n%s)", err,
                 expect, src);
}

static void publish_files(const char *const *names, const char *const *srcs,
                          size_t n, const struct fs_config_kv *kv, size_t n_kv)
{
    struct fs_policy_set *set = NULL;
    char err[1024] = "";
    clear_dir();
    for (size_t i = 0; i < n; i++)
        write_file(names[i], srcs[i]);
    if (load_dir(&set, err, sizeof(err), kv, n_kv) != 0)
        fail_msg("load: %s", err);
    fs_policy_publish(set);
}

static void publish_one(const char *src)
{
    const char *name = "p.lua";
    publish_files(&name, &src, 1, NULL, 0);
}

/* A policies folder deeper than Lua's LUA_IDSIZE (60) with `src` in
 * p.lua; returns its path (static). */
static const char *deep_dir_with(const char *src)
{
    static char dir[256], path[300];
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/policies-of-a-rather-long-deployment-path", fx.dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/p.lua", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(src, f);
    fclose(f);
    return dir;
}

static struct fs_policy_request request(const char *user)
{
    static const struct fs_policy_header headers[] = {
        {"User-Agent", "Mozilla/5.0"}, {"X-Test", "one"}, {"x-test", "two"}};
    struct fs_policy_request r = {
        .user = user, .ip = "192.0.2.7", .user_agent = "Mozilla/5.0",
        .sale = "launch", .method = "POST",
        .path = "/booking-service/book-item/launch",
        .headers = headers, .n_headers = 3,
    };
    return r;
}

static struct fs_policy_verdict book_as(const char *user)
{
    struct fs_policy_request r = request(user);
    struct fs_policy_verdict v;
    fs_policy_check(FS_POLICY_ON_BOOK, &r, &v);
    return v;
}

/* The budget stops a runaway call in milliseconds; this bound only catches a
 * budget that never fires (hang_bound.h). */
#define HANG_BOUND_S ((double)fs_test_hang_bound_ms(30000) / 1000.0)

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- what a policy cannot reach ------------------------------------------ */

static void test_each_forbidden_function_is_refused_at_load(void **state)
{
    static const char *const cases[][2] = {
        {"io.open('/etc/passwd')", "global 'io'"},
        {"os.execute('true')", "field 'execute'"},
        {"os.exit(1)", "field 'exit'"},
        {"os.getenv('HOME')", "field 'getenv'"},
        {"os.remove('/tmp/x')", "field 'remove'"},
        {"require('os')", "global 'require'"},
        {"dofile('/etc/passwd')", "global 'dofile'"},
        {"loadfile('/etc/passwd')", "global 'loadfile'"},
        {"debug.getinfo(1)", "global 'debug'"},
        {"package.loaded.x = 1", "global 'package'"},
        {"print('x')", "global 'print'"},
        {"rawset(string, 'rep', nil)", "global 'rawset'"},
        {"coroutine.wrap(function() end)()", "global 'coroutine'"},
        {"string.dump(function() end)", "field 'dump'"},
        {"collectgarbage('collect')", "only \"count\""},
        {"collectgarbage('stop')", "only \"count\""},
        {"assert(load(string.char(27) .. 'Lua'))", "attempt to load a binary chunk"},
        {"load(function() return nil end)", "only a string"},
        {"setmetatable({}, {__gc = function() end})", "__gc"},
        {"getmetatable('').__index.rep = nil", "index a boolean"},
        {"string.rep = nil", "read-only"},
        {"fs.hit = nil", "read-only"},
        {"fs.settings.x = 1", "read-only"},
        {"os.time = nil", "read-only"},
        {"assert(load('return io'))().open('/etc/passwd')", "a nil value"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char src[512];
        snprintf(src, sizeof(src), "%s\nfunction on_book(req) end\n",
                 cases[i][0]);
        assert_load_refused(src, cases[i][1]);
    }
}

static void test_allowed_libraries_work(void **state)
{
    (void)state;
    publish_one(
        "local n = math.floor(3.7) + #string.rep('a', 3) + utf8.len('\xc3\xa9')\n"
        "local t = {3, 1, 2}; table.sort(t)\n"
        "assert(n == 7 and t[1] == 1 and os.time() > 0 and os.clock() >= 0)\n"
        "assert(type(os.date('!%Y')) == 'string')\n"
        "assert(collectgarbage('count') > 0)\n"
        "assert(load('return 1 + 1')() == 2)\n"
        "assert(pcall(error, 'x') == false)\n"
        "function on_book(req) return 'deny', string.format('%d', n) end\n");
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "7");
}

static void test_global_write_in_a_hook_is_refused(void **state)
{
    (void)state;
    publish_one("seen = 0\n"
                "function on_book(req) seen = seen + 1 end\n");
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "read-only"));
    assert_non_null(strstr(v.error, "p.lua:2:"));
}

static void test_new_global_in_a_hook_is_refused(void **state)
{
    (void)state;
    publish_one("function on_book(req) cache = {} end\n");
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "cannot set global 'cache'"));
}

static void test_files_do_not_see_each_others_globals(void **state)
{
    static const char *const names[] = {"a.lua", "b.lua"};
    static const char *const srcs[] = {
        "helper = 42\nfunction on_book(req) end\n",
        "function on_book(req) if helper == nil then return 'deny', 'isolated' end end\n"};
    (void)state;
    publish_files(names, srcs, 2, NULL, 0);
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "isolated");
}

/* ---- what stops a policy ------------------------------------------------- */

static void test_infinite_loop_in_a_hook_is_stopped_within_its_budget(void **state)
{
    struct timespec t0;
    (void)state;
    publish_one("function on_book(req) while true do end end\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "instruction limit"));
    assert_non_null(strstr(v.error, "p.lua:1:"));
    assert_true(seconds_since(&t0) < HANG_BOUND_S);
    /* The state stays usable: the next call is stopped the same way. */
    v = book_as("bob");
    assert_int_equal(v.action, FS_POLICY_ERROR);
}

static void test_a_pathological_pattern_is_refused_not_run(void **state)
{
    struct timespec t0;
    (void)state;
    /* Backtracks about n^4 steps: hours if it ran. */
    publish_one("function on_book(req)\n"
                "  local s = string.rep('a', 100000)\n"
                "  if string.find(s, '.-.-.-b') then return 'deny', 'x' end\n"
                "end\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "too costly"));
    assert_true(seconds_since(&t0) < HANG_BOUND_S);
}

static void test_ordinary_patterns_and_plain_finds_still_work(void **state)
{
    (void)state;
    publish_one("function on_book(req)\n"
                "  local ua = string.rep('x', 5000) .. ' HeadlessChrome/120'\n"
                "  if string.match(req.user, '^a.*e$') and\n"
                "     string.find(ua, 'HeadlessChrome', 1, true) and\n"
                "     string.gsub('a-b', '%-', '+') == 'a+b' then\n"
                "    return 'deny', 'matched'\n"
                "  end\n"
                "end\n");
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "matched");
}

static void test_loop_that_catches_the_stop_with_pcall_is_still_stopped(void **state)
{
    struct timespec t0;
    (void)state;
    publish_one("function on_book(req)\n"
                "  while true do pcall(function() while true do end end) end\n"
                "end\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "instruction limit"));
    assert_true(seconds_since(&t0) < HANG_BOUND_S);
}

static void test_memory_bomb_is_stopped_and_the_next_call_works(void **state)
{
    (void)state;
    publish_one("local keep = {}\n"
                "function on_book(req)\n"
                "  if req.user ~= 'bomber' then return 'deny', 'fine' end\n"
                "  local s = 'x'\n"
                "  while true do s = s .. s; keep[#keep + 1] = s end\n"
                "end\n");
    struct fs_policy_verdict v = book_as("bomber");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "out of memory"));
    v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "fine");
}

static void test_one_huge_allocation_is_refused(void **state)
{
    (void)state;
    publish_one("function on_book(req) return 'deny', string.rep('x', 1e9) end\n");
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "out of memory"));
}

static void test_top_level_loop_is_refused_at_load(void **state)
{
    (void)state;
    assert_load_refused("local i = 0\nwhile true do i = i + 1 end\n",
                        "instruction limit");
}

static void test_top_level_memory_bomb_is_refused_at_load(void **state)
{
    (void)state;
    assert_load_refused("local s = 'x'\nfor i = 1, 40 do s = s .. s end\n"
                        "function on_book() end\n",
                        "out of memory");
}

static void test_top_level_error_names_file_and_line(void **state)
{
    (void)state;
    assert_load_refused("-- comment\n\nerror('boom')\n", "p.lua:3: boom");
}

static void test_syntax_error_names_file_and_line(void **state)
{
    (void)state;
    assert_load_refused("function on_book(req)\n  return 'deny',\nend end\n",
                        "p.lua:3:");
}

static void test_hooks_must_be_functions_and_one_must_exist(void **state)
{
    (void)state;
    assert_load_refused("on_book = 5\n", "on_book must be a function");
    assert_load_refused("local x = 1\n", "defines no hook");
}

static void test_hooks_cannot_count_at_top_level(void **state)
{
    (void)state;
    assert_load_refused("fs.hit('k', 60)\nfunction on_book() end\n",
                        "while a policy file loads");
}

/* ---- verdicts and composition --------------------------------------------- */

static void test_return_conventions(void **state)
{
    (void)state;
    publish_one("function on_book(req)\n"
                "  local u = req.user\n"
                "  if u == 'a' then return nil end\n"
                "  if u == 'b' then return true end\n"
                "  if u == 'c' then return 'allow' end\n"
                "  if u == 'd' then return 'deny', 'no\\nway' end\n"
                "  if u == 'e' then return 'slow', 2.5 end\n"
                "  if u == 'f' then return 'slow', 1e12 end\n"
                "  if u == 'g' then return 'deny' end\n"
                "  return 'maybe'\n"
                "end\n");
    assert_int_equal(book_as("a").action, FS_POLICY_ALLOW);
    assert_int_equal(book_as("b").action, FS_POLICY_ALLOW);
    assert_int_equal(book_as("c").action, FS_POLICY_ALLOW);
    struct fs_policy_verdict v = book_as("d");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "no?way");  /* no control bytes go out */
    v = book_as("e");
    assert_int_equal(v.action, FS_POLICY_SLOW);
    assert_int_equal(v.retry_after, 3);
    v = book_as("f");
    assert_int_equal(v.retry_after, FS_POLICY_RETRY_MAX);
    v = book_as("g");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_true(v.reason[0] != '\0');
    v = book_as("h");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_non_null(strstr(v.error, "returned something else"));
}

static void test_files_compose_in_name_order_and_first_decision_wins(void **state)
{
    static const char *const names[] = {"20-deny.lua", "10-slow.lua",
                                        "30-never.lua"};
    static const char *const srcs[] = {
        "function on_book(req) return 'deny', 'second' end\n",
        "function on_book(req) if req.user == 'x' then return 'slow', 7 end end\n",
        "function on_book(req) error('never reached') end\n"};
    (void)state;
    publish_files(names, srcs, 3, NULL, 0);
    struct fs_policy_verdict v = book_as("x");
    assert_int_equal(v.action, FS_POLICY_SLOW);
    assert_int_equal(v.retry_after, 7);
    v = book_as("y");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "second");
}

static void test_hold_seconds_first_number_wins(void **state)
{
    static const char *const names[] = {"a.lua", "b.lua", "c.lua"};
    static const char *const srcs[] = {
        "function hold_seconds(req) if req.user == 'vip' then return 600 end end\n",
        "function hold_seconds(req) if req.user ~= 'plain' then return 90.2 end end\n",
        "function hold_seconds(req) if req.user == 'bad' then return -1 end end\n"};
    struct fs_policy_request r = request("vip");
    struct fs_policy_verdict v;
    uint32_t secs = 1;
    (void)state;
    publish_files(names, srcs, 3, NULL, 0);
    assert_int_equal(fs_policy_hold_seconds(&r, &secs, &v), 0);
    assert_int_equal(secs, 600);
    r.user = "other";
    assert_int_equal(fs_policy_hold_seconds(&r, &secs, &v), 0);
    assert_int_equal(secs, 91);
    r.user = "plain";
    assert_int_equal(fs_policy_hold_seconds(&r, &secs, &v), 0);
    assert_int_equal(secs, 0);  /* the sale's own */
}

static void test_bad_hold_seconds_is_an_error(void **state)
{
    struct fs_policy_request r = request("u");
    struct fs_policy_verdict v;
    uint32_t secs = 5;
    (void)state;
    publish_one("function hold_seconds(req) return 'long' end\n");
    assert_int_equal(fs_policy_hold_seconds(&r, &secs, &v), -1);
    assert_int_equal(v.action, FS_POLICY_ERROR);
    assert_int_equal(secs, 0);
}

static void test_book_runs_on_book_then_hold_seconds(void **state)
{
    struct fs_policy_request r = request("u");
    struct fs_policy_verdict v;
    uint32_t secs = 0;
    (void)state;
    publish_one("function on_book(req) if req.user == 'no' then return 'deny', 'x' end end\n"
                "function hold_seconds(req) return 42 end\n");
    fs_policy_book(&r, &v, &secs);
    assert_int_equal(v.action, FS_POLICY_ALLOW);
    assert_int_equal(secs, 42);
    r.user = "no";
    fs_policy_book(&r, &v, &secs);
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_int_equal(secs, 0);
}

static void test_request_table_carries_every_field(void **state)
{
    (void)state;
    publish_one(
        "function on_book(req)\n"
        "  assert(req.user == 'alice' and req.ip == '192.0.2.7')\n"
        "  assert(req.user_agent == 'Mozilla/5.0' and req.sale == 'launch')\n"
        "  assert(req.method == 'POST' and req.path == '/booking-service/book-item/launch')\n"
        "  assert(req.headers['user-agent'] == 'Mozilla/5.0')\n"
        "  assert(req.headers['x-test'] == 'one, two')\n"
        "  return 'deny', 'all there'\n"
        "end\n");
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "all there");
}

static void test_settings_are_typed(void **state)
{
    static const struct fs_config_kv kv[] = {
        {"limit", "20", 1}, {"name", "strict", 2}, {"on", "true", 3},
        {"ratio", "0.5", 4}};
    static const char *const names[] = {"p.lua"};
    static const char *const srcs[] = {
        "local s = fs.settings\n"
        "assert(s.limit == 20 and math.type(s.limit) == 'integer')\n"
        "assert(s.name == 'strict' and s.on == true and s.ratio == 0.5)\n"
        "assert(s.missing == nil)\n"
        "local n = 0; for k, v in pairs(s) do n = n + 1 end; assert(n == 4)\n"
        "function on_book(req) return 'deny', 'ok' end\n"};
    (void)state;
    publish_files(names, srcs, 1, kv, 4);
    assert_int_equal(book_as("a").action, FS_POLICY_DENY);
}

static void test_confirm_and_cancel_hooks(void **state)
{
    struct fs_policy_request r = request("u");
    struct fs_policy_verdict v;
    (void)state;
    r.booking_id = "B1";
    publish_one("function on_confirm(req) return 'deny', req.booking_id end\n"
                "function on_cancel(req) return 'slow', 4 end\n");
    fs_policy_check(FS_POLICY_ON_CONFIRM, &r, &v);
    assert_int_equal(v.action, FS_POLICY_DENY);
    assert_string_equal(v.reason, "B1");
    fs_policy_check(FS_POLICY_ON_CANCEL, &r, &v);
    assert_int_equal(v.action, FS_POLICY_SLOW);
    /* No on_book anywhere: booking is allowed. */
    assert_int_equal(book_as("u").action, FS_POLICY_ALLOW);
}

/* ---- sets and reload ------------------------------------------------------------ */

static void test_publish_takes_effect_on_the_next_call(void **state)
{
    uint64_t gen = fs_policy_generation();
    (void)state;
    publish_one("function on_book(req) return 'deny', 'one' end\n");
    assert_string_equal(book_as("a").reason, "one");
    publish_one("function on_book(req) return 'deny', 'two' end\n");
    assert_string_equal(book_as("a").reason, "two");
    assert_int_equal(fs_policy_generation(), gen + 2);
    fs_policy_publish(NULL);
    assert_int_equal(book_as("a").action, FS_POLICY_ALLOW);
}

static void test_missing_folder_is_an_empty_set_with_a_note(void **state)
{
    struct fs_policy_set *set = NULL;
    char err[256] = "";
    (void)state;
    assert_int_equal(fs_policy_set_load("/nonexistent/policies", NULL, 0,
                                        &LIMITS, &set, err, sizeof(err)), 0);
    assert_int_equal(fs_policy_set_count(set), 0);
    assert_non_null(strstr(fs_policy_set_note(set), "does not exist"));
    fs_policy_set_release(set);
}

static void test_only_lua_files_load_in_byte_order(void **state)
{
    struct fs_policy_set *set = NULL;
    char err[256] = "";
    (void)state;
    clear_dir();
    write_file("b.lua", "function on_book() end\n");
    write_file("A.lua", "function on_book() end\n");
    write_file(".hidden.lua", "error('never')\n");
    write_file("notes.txt", "error('never')\n");
    assert_int_equal(load_dir(&set, err, sizeof(err), NULL, 0), 0);
    assert_int_equal(fs_policy_set_count(set), 2);
    assert_string_equal(fs_policy_set_name(set, 0), "A.lua");
    assert_string_equal(fs_policy_set_name(set, 1), "b.lua");
    fs_policy_set_release(set);
}

/* ---- threads -------------------------------------------------------------------- */

#define THREADS 4
#define CALLS 200

static void *caller(void *arg)
{
    int *denied = arg;
    for (int i = 0; i < CALLS; i++)
        *denied += book_as("same-user").action == FS_POLICY_SLOW;
    fs_policy_thread_release();
    return NULL;
}

static void test_threads_have_own_states_but_share_counters(void **state)
{
    pthread_t t[THREADS];
    int denied[THREADS] = {0}, total = 0;
    (void)state;
    publish_one("function on_book(req)\n"
                "  if fs.hit('u:' .. req.user, 3600) > 100 then return 'slow', 1 end\n"
                "end\n");
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, caller, &denied[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += denied[i];
    }
    /* 800 hits on one shared counter, the first 100 allowed. */
    assert_int_equal(total, THREADS * CALLS - 100);
}

static void test_errors_name_the_policy_file_by_its_full_path(void **state)
{
    struct fs_policy_set *set = NULL;
    char err[1024] = "", want[400];
    const char *dir = deep_dir_with("local x = nil\nx.y = 1\n");
    (void)state;

    snprintf(want, sizeof(want), "%s/p.lua:2:", dir);
    assert_true(strlen(want) > 60);
    assert_int_not_equal(fs_policy_set_load(dir, NULL, 0, &LIMITS, &set, err,
                                            sizeof(err)), 0);
    if (!strstr(err, want))
        fail_msg("load error '%s' lacks the full path '%s'", err, want);
}

static void test_hook_errors_name_the_policy_file_by_its_full_path(void **state)
{
    struct fs_policy_set *set = NULL;
    char err[1024] = "", want[400];
    const char *dir = deep_dir_with("function on_book(req)\n  error('boom')\nend\n");
    (void)state;

    snprintf(want, sizeof(want), "%s/p.lua:2: boom", dir);
    if (fs_policy_set_load(dir, NULL, 0, &LIMITS, &set, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    fs_policy_publish(set);
    struct fs_policy_verdict v = book_as("alice");
    assert_int_equal(v.action, FS_POLICY_ERROR);
    if (!strstr(v.error, want))
        fail_msg("hook error '%s' lacks '%s'", v.error, want);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_each_forbidden_function_is_refused_at_load),
        T(test_allowed_libraries_work),
        T(test_global_write_in_a_hook_is_refused),
        T(test_new_global_in_a_hook_is_refused),
        T(test_files_do_not_see_each_others_globals),
        T(test_infinite_loop_in_a_hook_is_stopped_within_its_budget),
        T(test_errors_name_the_policy_file_by_its_full_path),
        T(test_hook_errors_name_the_policy_file_by_its_full_path),
        T(test_a_pathological_pattern_is_refused_not_run),
        T(test_ordinary_patterns_and_plain_finds_still_work),
        T(test_loop_that_catches_the_stop_with_pcall_is_still_stopped),
        T(test_memory_bomb_is_stopped_and_the_next_call_works),
        T(test_one_huge_allocation_is_refused),
        T(test_top_level_loop_is_refused_at_load),
        T(test_top_level_memory_bomb_is_refused_at_load),
        T(test_top_level_error_names_file_and_line),
        T(test_syntax_error_names_file_and_line),
        T(test_hooks_must_be_functions_and_one_must_exist),
        T(test_hooks_cannot_count_at_top_level),
        T(test_return_conventions),
        T(test_files_compose_in_name_order_and_first_decision_wins),
        T(test_hold_seconds_first_number_wins),
        T(test_bad_hold_seconds_is_an_error),
        T(test_book_runs_on_book_then_hold_seconds),
        T(test_request_table_carries_every_field),
        T(test_settings_are_typed),
        T(test_confirm_and_cancel_hooks),
        T(test_publish_takes_effect_on_the_next_call),
        T(test_missing_folder_is_an_empty_set_with_a_note),
        T(test_only_lua_files_load_in_byte_order),
        T(test_threads_have_own_states_but_share_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
