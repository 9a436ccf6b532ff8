-- bench/top.lua: what `kadoa top` costs. Against a fresh mock server with
-- 200 running crawls: the wall time of one fleet refresh (every listing
-- page, then status_many over the 200 at concurrency 16), of a whole
-- `kadoa top --once`, and the CPU share of an idle `kadoa top --json` and
-- of the full-screen view in a tmux pane, over 10 s each (utime + stime of
-- the process and of the children it waited for, from /proc/<pid>/stat,
-- before and after). Not part of make test: it measures, it does not pass
-- or fail.
--
--   make build LUA=lua5.4 && lua5.4 bench/top.lua [SESSIONS] [SECONDS]
--
-- Run from the source tree: it finds lua/ and build/<interpreter>/ itself.

local lua = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "build/" .. lua .. "/?.so;" .. package.cpath

local N, SECONDS = tonumber(arg[1]) or 200, tonumber(arg[2]) or 10
local KEY = "bench-top-key"

local core = require("kadoa.core")
local kadoa = require("kadoa")
local fleet = require("kadoa.fleet")
local mock = require("spec.helpers.mock")

local srv = mock.start({ key = KEY })
local client = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
-- long crawls, so every one is still running (and asked about) throughout
for i = 1, N do assert(client:crawl(("https://pages-1000.seconds-3600.c%d.example.com/"):format(i))) end

local m = assert(fleet.new(client, { concurrency = 16 }))
m:refresh()   -- warm: connections made, code loaded
local times = {}
for i = 1, 5 do
  local t0 = core.monotime()
  local snap = m:refresh()
  times[i] = core.monotime() - t0
  assert(not snap.stale and #snap.rows == N, tostring(snap.error))
end
table.sort(times)
io.write(("one refresh of %d sessions at concurrency 16: median %.1f ms (best %.1f, worst %.1f, of 5)\n")
  :format(N, times[3] * 1000, times[1] * 1000, times[5] * 1000))

-- the whole command, interpreter start included
do
  local t0 = core.monotime()
  assert(os.execute(("env KADOA_API_KEY=%s KADOA_BASE_URL=%s %s bin/kadoa top --once >/dev/null")
    :format(KEY, srv.url, lua)))
  io.write(("`kadoa top --once` over %d sessions: %.0f ms, process start included\n")
    :format(N, (core.monotime() - t0) * 1000))
end

-- CPU of an idle `kadoa top --json`: the crawls run, the view refreshes on
-- its own schedule (2 s while they move)
local function ticks(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  -- fields after the command name (which may hold spaces) close with ")"
  local rest = s:match("%) (.*)$")
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  -- utime, stime, cutime, cstime (fields 14 to 17): a child it started
  -- (a process per frame) is its cost too
  return tonumber(fields[12]) + tonumber(fields[13]) + tonumber(fields[14]) + tonumber(fields[15])
end

local hz = tonumber((io.popen("getconf CLK_TCK"):read("*a"))) or 100
local cmd = ("env KADOA_API_KEY=%s KADOA_BASE_URL=%s %s bin/kadoa top --json >/dev/null 2>&1 & echo $!")
  :format(KEY, srv.url, lua)
local function idle(pid, what)
  core.sleep(1)   -- started, first refresh done
  local c0, t0 = ticks(pid), core.monotime()
  core.sleep(SECONDS)
  local c1, t1 = ticks(pid), core.monotime()
  io.write(("idle %s over %.0f s: %.2f%% of one CPU (%d ticks at %d Hz)\n")
    :format(what, t1 - t0, (c1 - c0) / hz / (t1 - t0) * 100, c1 - c0, hz))
end
local p = io.popen(cmd)
local pid = assert(tonumber(p:read("*l")))
p:close()
idle(pid, "`kadoa top --json`")
os.execute("kill -INT " .. pid)

-- the full-screen view as people meet it: in a terminal (a tmux pane)
if os.execute("command -v tmux >/dev/null 2>&1") then
  local tmux = ("tmux -L kadoa-bench-top-%d -f /dev/null "):format(os.time())
  os.execute(tmux .. ("new-session -d -x 120 -y 40 'env KADOA_API_KEY=%s KADOA_BASE_URL=%s %s bin/kadoa top'")
    :format(KEY, srv.url, lua))
  local pp = io.popen(tmux .. "display -p '#{pane_pid}'")
  local shell = assert(tonumber(pp:read("*l")))
  pp:close()
  idle(shell, "full-screen `kadoa top` in tmux")
  os.execute(tmux .. "kill-server")
end

client:close()
srv:stop()
