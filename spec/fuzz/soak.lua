-- make soak: does memory stay flat over a long run?
--
--   phase 1: SOAK_CALLS (100,000) status calls through one client
--   phase 2: SOAK_CALLS one-shot kadoa.status calls (the default client)
--
-- against the local mock server. Most calls succeed; one in ten takes an
-- error path (404, invalid JSON, an empty 200, a key echoed back...), one
-- in seven asks for the raw body, one in a hundred goes through the
-- non-blocking path. Every 10,000 calls a full GC runs and the process's
-- RSS is sampled. The run fails if RSS ever grows by more than
-- SOAK_MAX_GROWTH KiB (2048) over the first sample (after the first 10,000
-- calls, when everything has been allocated once). Prints the curve; exits
-- 1 on failure.
--
-- Run from the repository root with the module built for Lua 5.4:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua5.4/?.so;;' lua5.4 spec/fuzz/soak.lua
package.path = "./?.lua;" .. package.path
local kadoa = require("kadoa")
local core = require("kadoa.core")
local mock = require("spec.helpers.mock")

local CALLS = tonumber(os.getenv("SOAK_CALLS") or "") or 100000
local EVERY = tonumber(os.getenv("SOAK_EVERY") or "") or 10000
local MAX_GROWTH = tonumber(os.getenv("SOAK_MAX_GROWTH") or "") or 2048
local KEY = "sk-soak-4d1f"

local ERROR_IDS = { "status-404", "invalid-json", "empty-200", "json-array", "leak-key",
                    "nulls", "types", "failed", "status-401", "old-shape-400" }

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+) kB")), tonumber(s:match("VmHWM:%s*(%d+) kB"))
end

local function id_for(i)
  if i % 10 == 0 then return ERROR_IDS[(i / 10) % #ERROR_IDS + 1] end
  return "soak-" .. (i % 97)
end

local srv = mock.start({ key = KEY })
local opts = { api_key = KEY, base_url = srv.url, retries = 0 }

-- Every call answers; none may fail below HTTP against a healthy server.
local function check(id, res, err)
  if res == nil and (type(err) ~= "table" or not err.kind) then
    error("call " .. id .. " gave neither a result nor an error value")
  end
  if err and (err.kind == "network" or err.kind == "timeout") then
    error("call " .. id .. ": unexpected " .. tostring(err))
  end
end

local function blocking_call(c, i)
  local id = id_for(i)
  if i % 7 == 0 then
    check(id, c:status_json(id))
  else
    check(id, c:status(id))
  end
  if i % 100 == 50 then   -- the non-blocking path: start, drive, take
    check(id, assert(c:start(id)):await(10))
  end
end

local client = assert(kadoa.client(opts))
local phases = {
  { name = "one client", call = function(i) blocking_call(client, i) end },
  { name = "one-shot kadoa.status", call = function(i)
      local id = id_for(i)
      check(id, kadoa.status(id, opts))
    end },
}

local failed, base = false, nil
local t_start = core.monotime()
print(("soak: %d calls per phase, RSS sampled every %d after a full GC, limit +%d KiB")
  :format(CALLS, EVERY, MAX_GROWTH))
for _, phase in ipairs(phases) do
  print(("\n%s\n%9s %10s %10s %10s %8s"):format(phase.name, "calls", "RSS KiB", "growth", "Lua KiB", "s"))
  local t0 = core.monotime()
  for i = 1, CALLS do
    phase.call(i)
    if i % EVERY == 0 then
      collectgarbage()
      collectgarbage()
      local rss = rss_kib()
      base = base or rss
      local growth = rss - base
      print(("%9d %10d %+10d %10.0f %8.1f"):format(i, rss, growth, collectgarbage("count"),
        core.monotime() - t0))
      io.stdout:flush()
      if growth > MAX_GROWTH then failed = true end
    end
  end
end
srv:stop()
local _, hwm = rss_kib()
print(("\npeak RSS %d KiB, %d calls in %.1f s"):format(hwm, 2 * CALLS, core.monotime() - t_start))
if failed then
  print("soak: FAILED: RSS grew by more than " .. MAX_GROWTH .. " KiB after the first sample")
  os.exit(1)
end
print("soak: ok")
