-- bench/loops.lua: what a request in flight costs each event loop host, now
-- (socket events and one timer) and before (a timer stepping the driver every
-- 1 to 10 ms, as kadoa.nvim.driver did), and how many calls at once the luv
-- and cqueues adapters run next to status_many. Writes its table between the
-- `bench:loops` markers of bench/RESULTS.md (make bench, make bench-loops).
--
--   lua5.4 bench/loops.lua                      the whole table
--   lua5.4 bench/loops.lua HOST MODE BASE_URL   one row, in its own process:
--     HOST luv|cqueues, MODE events|polling; prints "cpu_ms wakes"
--   lua5.4 bench/loops.lua many HOST BASE_URL   1,000 status calls at 20 ms,
--     100 at once: "host_s status_many_s worst_slip_ms"
-- Neovim's row is bench/nvim_loops.lua, run in a headless nvim.

local REQ_MS = 3000
local KEY = "bench-key"

local function client_for(base)
  return assert(require("kadoa").client({ api_key = KEY, base_url = base, retries = 0 }))
end

local function cpu_ms(uv)
  local r = uv.getrusage()
  return (r.utime.sec + r.stime.sec) * 1e3 + (r.utime.usec + r.stime.usec) / 1e3
end

-- The polling driver of before: step, then wait min(timeout, gap) with the
-- gap doubling from 1 ms to 10 ms, on a host timer.
local function polling(arm, d)
  local gap, wakes = 1, 0
  local function tick()
    wakes = wakes + 1
    local pending = d:step()
    if pending == 0 then return end
    local ms = d:timeout()
    if ms < 0 or ms > gap then ms = gap end
    gap = math.min(gap * 2, 10)
    arm(ms, tick)
  end
  arm(0, tick)
  return function() return wakes end
end

local function row(host, mode, base)
  local uv = require("luv")
  local c = client_for(base)
  c:status("warm")   -- libcurl and the connection ready, as in a running host
  -- and the non-blocking path loaded (its modules, the multi handle)
  local warm = c:send("status", "warm")
  while not warm:done() do
    c:driver():step()
    uv.sleep(1)
  end
  -- the adapters' modules loaded before the clock starts: a host loads
  -- them once, and compiling them is no cost of a request in flight
  require("kadoa.task")
  if host == "cqueues" then
    require("kadoa.cqueues")
    require("cqueues.condition")
  else
    require("kadoa.luv")
  end
  local got, wakes
  local t0 = cpu_ms(uv)
  if host == "luv" then
    local kl = require("kadoa.luv")
    if mode == "events" then
      local room = kl.room(c)
      local w0 = room.wakes
      kl.call(c, "status", "slow-" .. REQ_MS, function(res) got = res end)
      uv.run()
      wakes = room.wakes - w0
    else
      local t = uv.new_timer()
      local req = c:send("status", "slow-" .. REQ_MS)
      local count = polling(function(ms, f) t:start(ms, 0, f) end, c:driver())
      uv.run()
      t:close()
      uv.run()   -- the close lands: luv crashes at exit on a close still pending
      got, wakes = req:poll(), count()
    end
  else
    local cqueues = require("cqueues")
    local cq = cqueues.new()
    if mode == "events" then
      local kc = require("kadoa.cqueues")
      cq:wrap(function()
        got = kc.call(c, "status", "slow-" .. REQ_MS)
        wakes = kc.room(c).wakes
      end)
    else
      cq:wrap(function()
        local req = c:send("status", "slow-" .. REQ_MS)
        local next_f, next_ms
        local count = polling(function(ms, f) next_f, next_ms = f, ms end, c:driver())
        while next_f do
          local f = next_f
          next_f = nil
          cqueues.sleep(next_ms / 1000)
          f()
        end
        got, wakes = req:poll(), count()
      end)
    end
    assert(cq:loop())
  end
  assert(got and got.sessionId == "slow-" .. REQ_MS, "no answer")
  io.write(("%.3f %d\n"):format(cpu_ms(uv) - t0, wakes))
end

local function many(host, base)
  local uv = require("luv")
  local c = client_for(base)
  local ids = {}
  for i = 1, 1000 do ids[i] = "demo-slow-20-" .. i end
  local opts = { concurrency = 100 }
  c:status("warm")
  local t0 = uv.hrtime()
  local res = assert(c:status_many(ids, opts))
  local blocking = (uv.hrtime() - t0) / 1e9
  local n = 0
  for _, v in pairs(res) do if v.sessionId then n = n + 1 end end
  assert(n == 1000, "status_many: " .. n)
  local worst, elapsed = 0, 0
  if host == "luv" then
    local kl = require("kadoa.luv")
    local t = uv.new_timer()
    local last = uv.hrtime()
    t:start(10, 10, function()
      local now = uv.hrtime()
      worst = math.max(worst, (now - last) / 1e6 - 10)
      last = now
    end)
    t0 = uv.hrtime()
    kl.status_many(c, ids, opts, function(r)
      res = r
      elapsed = (uv.hrtime() - t0) / 1e9
      t:stop()
      t:close()
    end)
    uv.run()
  else
    local cqueues = require("cqueues")
    local kc = require("kadoa.cqueues")
    local cq = cqueues.new()
    local stop = false
    cq:wrap(function()
      local last = cqueues.monotime()
      while not stop do
        cqueues.sleep(0.01)
        local now = cqueues.monotime()
        worst = math.max(worst, (now - last) * 1e3 - 10)
        last = now
      end
    end)
    cq:wrap(function()
      t0 = cqueues.monotime()
      res = assert(kc.status_many(c, ids, opts))
      elapsed = cqueues.monotime() - t0
      stop = true
    end)
    assert(cq:loop())
  end
  n = 0
  for _, v in pairs(res) do if v.sessionId then n = n + 1 end end
  assert(n == 1000, host .. ": " .. n)
  io.write(("%.4f %.4f %.2f\n"):format(elapsed, blocking, worst))
end

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function main()
  package.path = "./?.lua;" .. package.path
  local mock = require("spec.helpers.mock")
  local srv = mock.start({ key = KEY })
  local env = "LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/lua5.4/?.so;;' "
  local function run(args)
    return sh(env .. "lua5.4 bench/loops.lua " .. args .. " " .. srv.url)
  end
  local rows = {}
  for _, host in ipairs({ "luv", "cqueues" }) do
    for _, mode in ipairs({ "polling", "events" }) do
      local cpu, wakes = run(host .. " " .. mode):match("(%S+) (%S+)")
      rows[#rows + 1] = { host = host, mode = mode, cpu = tonumber(cpu), wakes = tonumber(wakes) }
    end
  end
  for _, mode in ipairs({ "polling", "events" }) do
    local out = sh("cd . && KADOA_BENCH_URL=" .. srv.url .. " KADOA_BENCH_MODE=" .. mode ..
      " nvim --headless -u NONE -i NONE -n -c 'luafile bench/nvim_loops.lua' 2>&1")
    local cpu, wakes, idle = out:match("loops: (%S+) (%S+) (%S+)")
    assert(cpu, "nvim: " .. out)
    rows[#rows + 1] = { host = "neovim", mode = mode, cpu = tonumber(cpu) - tonumber(idle),
      wakes = tonumber(wakes), idle = tonumber(idle) }
  end
  local manys = {}
  for _, host in ipairs({ "luv", "cqueues" }) do
    local a, b, w = run("many " .. host):match("(%S+) (%S+) (%S+)")
    manys[host] = { tonumber(a), tonumber(b), tonumber(w) }
  end
  srv:stop()

  local by = {}
  for _, r in ipairs(rows) do by[r.host .. r.mode] = r end
  local out = {
    "<!-- bench:loops -->",
    ("Measured %s by `bench/loops.lua`: one status call answered after %d s (the mock's"
      .. " `slow-%d`), on a warm client; CPU from getrusage, less a headless Neovim's own"
      .. " idle 3 s for its rows. Before: a timer steps the driver every 1 to 10 ms (what"
      .. " kadoa.nvim did, and what a luv or cqueues program had to do). After: socket events and"
      .. " one timer."):format(os.date("!%Y-%m-%d %H:%M UTC"), REQ_MS / 1000, REQ_MS),
    "",
    "| host | CPU per second in flight, before | after | wake-ups per request, before | after |",
    "|---|---:|---:|---:|---:|",
  }
  for _, host in ipairs({ "neovim", "luv", "cqueues" }) do
    local b, a = by[host .. "polling"], by[host .. "events"]
    out[#out + 1] = ("| %s | %.2f ms | %.2f ms | %d | %d |"):format(host, b.cpu / (REQ_MS / 1000),
      a.cpu / (REQ_MS / 1000), b.wakes, a.wakes)
  end
  out[#out + 1] = ""
  out[#out + 1] = ("A %d s request costs in all: Neovim %.1f ms (idle 3 s: %.1f ms), luv %.1f ms,"
    .. " cqueues %.1f ms (targets: ≤ 3 ms each; Neovim ≤ 20 wake-ups).")
    :format(REQ_MS / 1000, by.neovimevents.cpu, by.neovimevents.idle, by.luvevents.cpu,
      by.cqueuesevents.cpu)
  out[#out + 1] = ""
  out[#out + 1] = "| 1,000 status calls, 20 ms each, 100 at once | host | status_many | × |"
    .. " host's 10 ms timer, worst slip |"
  out[#out + 1] = "|---|---:|---:|---:|---:|"
  for _, host in ipairs({ "luv", "cqueues" }) do
    local m = manys[host]
    out[#out + 1] = ("| %s | %.3f s | %.3f s | %.2f | %.1f ms |"):format(host, m[1], m[2], m[1] / m[2], m[3])
  end
  out[#out + 1] = ""
  out[#out + 1] = "Targets: × ≤ 1.2, slip ≤ 15 ms."
  out[#out + 1] = "<!-- /bench:loops -->"
  local block = table.concat(out, "\n")
  print(block)
  local f = assert(io.open("bench/RESULTS.md"))
  local md = f:read("*a")
  f:close()
  local s, e = md:find("<!%-%- bench:loops %-%->.-<!%-%- /bench:loops %-%->")
  if s then
    md = md:sub(1, s - 1) .. block .. md:sub(e + 1)
  else
    md = md .. "\n## Event loops\n\n" .. block .. "\n"
  end
  f = assert(io.open("bench/RESULTS.md", "w"))
  f:write(md)
  f:close()
end

if arg[1] == "many" then
  many(arg[2], arg[3])
elseif arg[1] then
  row(arg[1], arg[2], arg[3])
else
  main()
end
