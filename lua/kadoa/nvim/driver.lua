-- kadoa.nvim.driver: non-blocking requests driven from Neovim's loop.
--
-- Each client's requests (client:send) are moved forward by ONE libuv
-- timer per client, running only while one of them is pending. A tick
-- calls the client's driver:step() once: one perform on the C multi
-- handle for every request of that client, and every completion landed.
-- Then each request that settled is handed to its callback on the main
-- loop (vim.schedule), where every vim.api function may be used.
--
-- The next tick comes after min(driver:timeout(), gap): libcurl's own
-- timer or a retry falling due, else the gap, which starts at 1 ms and
-- doubles up to poll_interval, so a fast answer is seen at once and a
-- slow one costs ~100 cheap wake-ups a second. The sockets are not handed
-- to libuv poll handles on purpose: libcurl closes and reopens them
-- inside its own calls, and libuv aborts the editor when an fd it watches
-- is closed under it.

local uv = vim.uv or vim.loop
local errors = require("kadoa.errors")

local M = {}

-- ms: the longest gap between two ticks (setup's poll_interval)
M.poll_interval = 10

-- client -> runner { pending = { {req, cb}... }, timer, gap, ticks }. The
-- runner holds its client only through the timer's callback, which exists
-- only while something is pending: LuaJIT's weak keys are no ephemerons,
-- so a value pointing at its key would keep every client alive forever.
local runners = setmetatable({}, { __mode = "k" })

local function deliver(cb, res, err)
  vim.schedule(function() cb(res, err) end)
end

local arm

-- In libuv's callback: nothing here may call vim.api; results go to the
-- main loop.
local function tick(r, client)
  r.ticks = r.ticks + 1
  -- looked up on the driver each time (not cached), so a wrapper put on
  -- it sees every step
  local d = client:driver()
  local ok, perr = pcall(d.step, d)
  local still = {}
  for _, p in ipairs(r.pending) do
    if p.req:done() then
      deliver(p.cb, p.req:poll())
    elseif not ok then
      -- a broken step would fail every tick: end the requests instead
      p.req:cancel()
      deliver(p.cb, nil, errors.new("usage", "kadoa: " .. tostring(perr)))
    else
      still[#still + 1] = p
    end
  end
  r.pending = still
  if #still > 0 then
    arm(r, client)
  else
    -- idle: no timer left behind (a client dropped later leaks nothing)
    r.timer:close()
    r.timer, r.tick = nil, nil
  end
end

function arm(r, client)
  if not r.timer then
    r.timer = uv.new_timer()
    r.tick = function() tick(r, client) end
  end
  local ms = r.gap
  local t = client:driver():timeout()
  if t >= 0 and t < ms then ms = t end
  r.gap = math.min(r.gap * 2, M.poll_interval)
  r.timer:start(ms, 0, r.tick)
end

local function runner_for(client)
  local r = runners[client]
  if not r then
    r = { pending = {}, gap = 1, ticks = 0 }
    runners[client] = r
  end
  return r
end

-- track(client, req, cb): cb(res, err) once req settles (or is
-- cancelled), on the main loop. req must come from client:send.
---@param client kadoa.Client
---@param req kadoa.Request
---@param cb fun(res: any, err: kadoa.Error|nil)
function M.track(client, req, cb)
  local r = runner_for(client)
  r.pending[#r.pending + 1] = { req = req, cb = cb }
  r.gap = 1   -- something new: look again soon
  arm(r, client)
end

-- call(client, cb, name, ...) -> request | nil, err: client:send(name,
-- ...) tracked; when send refuses (a bad option, a closed client) the
-- error goes to cb as well, so the caller has one place for outcomes.
---@param client kadoa.Client
---@param cb fun(res: any, err: kadoa.Error|nil)
---@param name string a call of kadoa.api
---@param ... any its arguments and options
---@return kadoa.Request|nil
---@return kadoa.Error|nil err
function M.call(client, cb, name, ...)
  local req, err = client:send(name, ...)
  if not req then
    deliver(cb, nil, err)
    return nil, err
  end
  M.track(client, req, cb)
  return req
end

-- stats(client) -> { ticks, pending, running }: how the timer behaved,
-- for :checkhealth and tests.
---@param client kadoa.Client
---@return { ticks: integer, pending: integer, running: integer }
function M.stats(client)
  local r = runners[client]
  if not r then return { ticks = 0, pending = 0, running = false } end
  return { ticks = r.ticks, pending = #r.pending, running = r.timer ~= nil }
end

return M
