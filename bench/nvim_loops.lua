-- luacheck: globals vim
-- bench/nvim_loops.lua: Neovim's row of bench/loops.lua, in a headless
-- nvim. KADOA_BENCH_MODE=events: kadoa.nvim as it is; polling: the stepping
-- timer it had before (1 to 10 ms), on the same driver. Prints
-- "loops: CPU_MS WAKES IDLE_MS": the CPU of one 3 s status call, how often
-- the plugin's callbacks ran, and the CPU of 3 s of idle.

local uv = vim.loop
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/luajit/?.so;" .. package.cpath

local function cpu_ms()
  local r = uv.getrusage()
  return (r.utime.sec + r.stime.sec) * 1e3 + (r.utime.usec + r.stime.usec) / 1e3
end

local kadoa = require("kadoa")
local client = assert(kadoa.client({ api_key = "bench-key", base_url = os.getenv("KADOA_BENCH_URL"),
  retries = 0 }))
client:status("warm")
-- the non-blocking path loaded too (its modules, the multi handle), as in
-- an editor that has made a call before
local warm = client:send("status", "warm")
vim.wait(1000, function() client:driver():step() return warm:done() end, 1)

local function idle()
  local t0 = cpu_ms()
  vim.wait(3000, function() return false end, 1000)
  return cpu_ms() - t0
end

local done, wakes = false, 0
local idle_ms = idle()
local t0 = cpu_ms()
if os.getenv("KADOA_BENCH_MODE") == "events" then
  local driver = require("kadoa.nvim.driver")
  local w0 = driver.stats(client).wakes
  driver.call(client, function() done = true end, "status", "slow-3000")
  vim.wait(10000, function() return done end, 1000)
  wakes = driver.stats(client).wakes - w0
else
  local d = client:driver()
  local req = client:send("status", "slow-3000")
  local timer, gap = uv.new_timer(), 1
  local function tick()
    wakes = wakes + 1
    d:step()
    if req:done() then
      timer:close()
      vim.schedule(function() done = true end)
      return
    end
    local ms = d:timeout()
    if ms < 0 or ms > gap then ms = gap end
    gap = math.min(gap * 2, 10)
    timer:start(ms, 0, tick)
  end
  timer:start(0, 0, tick)
  vim.wait(10000, function() return done end, 1000)
end
local used = cpu_ms() - t0
io.stdout:write(("loops: %.3f %d %.3f\n"):format(used, wakes, idle_ms))
vim.cmd("qa!")
