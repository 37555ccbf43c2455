-- users.lua - the wrk script of bench/run: one distinct user per request.
--
-- Owns: handing each request its own bearer token from a file minted up
-- front (bench/mint_tokens.py), counting every answer by status, and
-- printing one JSON line of results (BENCH_RESULT {...}) that bench/run
-- parses.
--
--   wrk -t2 -c64 -d10s -s users.lua URL -- METHOD FILE THREADS MODE [DONE]
--
-- METHOD  POST or GET.
-- FILE    one request per line: "TOKEN" (the request goes to URL's path) or
--         "TOKEN PATH" (status polling: the owner's token and its booking).
-- THREADS the -t value: thread k takes lines k, k+THREADS, ... so no two
--         threads share a user.
-- MODE    loop: when a thread has used all its lines it starts again, and
--         `wrapped` counts the repeats (a repeated POST is a 409
--         already_booked, not an accept: bench/run reports it).
--         once: each line exactly once (the spike); a connection with no
--         user left sends GET /healthz (counted apart, as `filler`), and the
--         thread stops when every one of its users has an answer.
-- DONE    once mode: the thread writes DONE.<k> when it stops, so bench/run
--         can end wrk (whose main thread sleeps the whole -d) at once.
--
-- t_first and t_last (CLOCK_MONOTONIC, the machine's, not the process's) let
-- bench/run join several wrk processes, one per daemon, into one spike.
--
-- The same script loads the baseline, so the client's work per request is
-- the same on both sides of a ratio.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")

local function now()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- ---- main state: one record per thread, read back in done() -----------

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- ---- thread state --------------------------------------------------------

local method, mode, done_file
local tokens, paths = {}, {}
local n, i = 0, 0
wrapped, filler, answered, share = 0, 0, 0, 0
t_first, t_last = 0, 0
status = {}

function init(args)
   method, mode, done_file = args[1], args[4], args[5]
   local file, nthreads = args[2], tonumber(args[3])
   local k = 0
   for line in io.lines(file) do
      if k % nthreads == tid then
         local tok, path = line:match("^(%S+)%s+(%S+)$")
         n = n + 1
         tokens[n] = tok or line
         paths[n] = path
      end
      k = k + 1
   end
   share = n
   if n == 0 then
      error("users.lua: thread " .. tid .. " got no lines from " .. file)
   end
end

local verified = false

function request()
   -- wrk calls request() once on thread 0 before the run, only to check
   -- what it returns: that call must not use up a user.
   if tid == 0 and not verified then
      verified = true
      return wrk.format(method, paths[1] or wrk.path,
                        { ["Authorization"] = "Bearer " .. tokens[1] }, nil)
   end
   if t_first == 0 then t_first = now() end
   if i >= n then
      if mode == "once" then
         return wrk.format("GET", "/healthz")
      end
      i = 0
      wrapped = wrapped + 1
   end
   i = i + 1
   -- A plain client name: the shipped bot policy refuses an empty agent.
   local headers = { ["Authorization"] = "Bearer " .. tokens[i],
                     ["User-Agent"] = "flashsaled-bench/1.0" }
   return wrk.format(method, paths[i] or wrk.path, headers, nil)
end

function response(code, headers, body)
   if mode == "once" and code == 200 then
      filler = filler + 1
      return
   end
   status[code] = (status[code] or 0) + 1
   answered = answered + 1
   if mode == "once" and answered == share then
      t_last = now()
      if done_file then
         local f = io.open(done_file .. "." .. tid, "w")
         if f then f:write(string.format("%.6f\n", t_last - t_first)); f:close() end
      end
      wrk.thread:stop()
   end
end

-- ---- main state again: the summary ---------------------------------------

local function json_counts(t)
   local parts = {}
   for code, count in pairs(t) do
      table.insert(parts, string.format('"%d":%d', code, count))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local total, wraps, fill, users, answers = {}, 0, 0, 0, 0
   local first, last = math.huge, 0
   for _, t in ipairs(threads) do
      for code, count in pairs(t:get("status") or {}) do
         total[code] = (total[code] or 0) + count
      end
      wraps = wraps + (t:get("wrapped") or 0)
      fill = fill + (t:get("filler") or 0)
      users = users + (t:get("share") or 0)
      answers = answers + (t:get("answered") or 0)
      local f, l = t:get("t_first") or 0, t:get("t_last") or 0
      if f > 0 and f < first then first = f end
      if l > last then last = l end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"rps":%.1f,' ..
      '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"status":%s,"wrapped":%d,"filler":%d,"users":%d,"answered":%d,' ..
      '"span_s":%.3f,"t_first":%.6f,"t_last":%.6f}\n',
      summary.requests, summary.duration,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.connect, e.read, e.write, e.status, e.timeout,
      json_counts(total), wraps, fill, users, answers,
      (last > 0 and first < math.huge) and (last - first) or 0,
      first < math.huge and first or 0, last))
end
