-- bench/wrk/common.lua - shared by feed.lua, timeline.lua and create.lua
-- (loaded with dofile from the script's own directory).
--
-- wrk -s bench/wrk/feed.lua URL -- SESSIONS_FILE SLICE SLICES THREADS
--
--   SESSIONS_FILE  one chorus_session token a line (bench/run-throughput.sh
--                  logs the users in with POST /api/login and writes it)
--   SLICE/SLICES   this wrk process uses slice SLICE (0-based) of SLICES
--                  equal parts of the tokens, so that two wrk processes run
--                  at once never act as the same user
--   THREADS        wrk's -t, so that each thread takes its own part of the
--                  slice and rotates through it, one token per request
--
-- Every request carries a real session cookie; writes also send
-- Content-Type: application/json and a same-site Origin (the Host they are
-- sent to), as the server's CSRF rules ask (docs/API.md).
--
-- done() prints one line that bench/run-throughput.sh parses:
--   CHORUS_RESULT requests=.. duration_s=.. rps=.. p50_ms=.. p90_ms=..
--   p99_ms=.. max_ms=.. mean_ms=.. non2xx=.. connect=.. read=.. write=..
--   timeout=.. sent=.. in_flight=.. late=.. paced=R statuses=200:N,503:N
-- Latency is wrk's, over every completed response (any status).  sent is
-- how many requests were written: the calls of request() less one, as wrk
-- 4.1 calls it once more per process than it sends (checked against a
-- server counting what it receives); in_flight is how many of them had no
-- answer when wrk stopped (slower than the run, or than --timeout).  wrk's own
-- "timeout" counter counts, every 2 s, each connection whose request is
-- older than --timeout, so it is not a number of requests.
--
-- Pacing.  With CHORUS_TP_RATE=R in the environment (requests/s for this
-- wrk process) each thread sends its share of R on an even schedule of
-- slots, as wrk2 does, instead of a new request as soon as an answer comes
-- back: a latency measured at a given load, not at the most the machine
-- can push.  wrk times a request from when it is written, so a slot that
-- no connection was free for would hide its wait ("coordinated
-- omission"); such slots are counted: late= in the result line is the
-- number of requests sent more than 1 ms after their slot (0 or nearly: the
-- latencies are what a client at that rate sees).

local threads = {}

local pace_rate = tonumber(os.getenv("CHORUS_TP_RATE") or "")
if pace_rate and pace_rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } chorus_timespec_t;
    int clock_gettime(int clock, chorus_timespec_t *ts);
  ]]
  local ts = ffi.new("chorus_timespec_t")
  local CLOCK_MONOTONIC = 1
  local function now_us()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
  end
  -- Called by wrk (in the thread) before each request: ms to wait.
  function delay()
    local now = now_us()
    if not next_slot then
      next_slot = now
      slot_us = 1e6 * nthreads / pace_rate
    end
    local at = next_slot
    next_slot = next_slot + slot_us
    if at < now - 1000 then
      late = late + 1
    end
    return at > now and math.floor((at - now) / 1000) or 0
  end
end

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function read_tokens(path)
  local tokens = {}
  local f = io.open(path, "r")
  if not f then
    error("cannot open sessions file " .. tostring(path))
  end
  for line in f:lines() do
    local t = line:match("^%s*(%S+)%s*$")
    if t then
      table.insert(tokens, t)
    end
  end
  f:close()
  if #tokens == 0 then
    error("no session tokens in " .. path)
  end
  return tokens
end

-- tokens[first..last] of n split in parts equal parts: part i (0-based).
local function part(list, i, parts)
  local n = #list
  local first = math.floor(n * i / parts) + 1
  local last = math.floor(n * (i + 1) / parts)
  local out = {}
  for k = first, last do
    table.insert(out, list[k])
  end
  if #out == 0 then -- fewer tokens than parts: share them
    return list
  end
  return out
end

function init(args)
  local all = read_tokens(args[1] or os.getenv("CHORUS_TP_SESSIONS"))
  local slice = tonumber(args[2] or "0")
  local slices = tonumber(args[3] or "1")
  nthreads = tonumber(args[4] or "1")
  local mine = part(part(all, slice, slices), (tid - 1) % nthreads, nthreads)
  cookies = {}
  for i, t in ipairs(mine) do
    cookies[i] = "chorus_session=" .. t
  end
  next_cookie = 0
  host = wrk.host .. (wrk.port and (":" .. wrk.port) or "")
  origin = "http://" .. host
  sent = 0
  statuses = {}
  seq = 0
  late = 0
end

-- The next session cookie of this thread.
function chorus_cookie()
  next_cookie = next_cookie % #cookies + 1
  return cookies[next_cookie]
end

-- A request as a logged-in user; body (a JSON string) makes it a write.
function chorus_request(method, path, body)
  sent = sent + 1
  local headers = {["Host"] = host, ["Cookie"] = chorus_cookie(),
                   ["Accept"] = "application/json"}
  if body then
    headers["Content-Type"] = "application/json"
    headers["Origin"] = origin
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
  local total_sent, by_status, total_late = -1, {}, 0 -- see "sent" above
  for _, t in ipairs(threads) do
    total_sent = total_sent + (t:get("sent") or 0)
    total_late = total_late + (t:get("late") or 0)
    for k, v in pairs(t:get("statuses") or {}) do
      by_status[k] = (by_status[k] or 0) + v
    end
  end
  local keys = {}
  for k in pairs(by_status) do
    table.insert(keys, k)
  end
  table.sort(keys)
  local parts, non2xx = {}, 0
  for _, k in ipairs(keys) do
    table.insert(parts, k .. ":" .. by_status[k])
    if not k:match("^2") then
      non2xx = non2xx + by_status[k]
    end
  end
  local secs = summary.duration / 1e6
  local n = summary.requests
  local function ms(us)
    return string.format("%.1f", us / 1000)
  end
  local e = summary.errors
  io.write(string.format(
    "CHORUS_RESULT requests=%d duration_s=%.1f rps=%.2f p50_ms=%s p90_ms=%s " ..
    "p99_ms=%s max_ms=%s mean_ms=%s non2xx=%d connect=%d read=%d write=%d " ..
    "timeout=%d sent=%d in_flight=%d late=%d paced=%s statuses=%s\n",
    n, secs, secs > 0 and n / secs or 0,
    n > 0 and ms(latency:percentile(50)) or "-",
    n > 0 and ms(latency:percentile(90)) or "-",
    n > 0 and ms(latency:percentile(99)) or "-",
    n > 0 and ms(latency.max) or "-",
    n > 0 and ms(latency.mean) or "-",
    non2xx, e.connect, e.read, e.write, e.timeout, math.max(0, total_sent),
    math.max(0, total_sent - n), total_late,
    pace_rate and string.format("%g", pace_rate) or "0", #parts > 0 and table.concat(parts, ",") or "-"))
end
