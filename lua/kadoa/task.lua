-- kadoa.task: blocking-style code in coroutines over a client's multi handle.
-- fn's client is a proxy whose exchanges and sleeps yield, so the engine's
-- retries, kadoa.wait, a start with its wait and kadoa.many's workers run
-- unchanged, moved on by whoever owns the loop (client:send, kadoa.many,
-- kadoa.luv, kadoa.cqueues). A task has a request's face; what its code
-- raises ends it with a usage error and is kept in task.crash for join.

local errors = require("kadoa.errors")
local Request = require("kadoa.request").Request

local M = {}

---@class kadoa.Task
---@field client kadoa.Client the client it runs over
---@field driver kadoa.Driver that client's driver (its steps perform every exchange)
---@field wake? number on the client's clock: when its sleep is over (sleeping)
---@field crash? any what its code raised
---@field cancelled? boolean task:cancel() was called
local Task = {}
Task.__index = Task
M.Task = Task

local current        -- the task whose code is running now, if any
local YIELD = coroutine.yield
-- PUC 5.1 cannot yield across pcall (on_result's, say) nor tell: there a
-- join inside a task blocks instead
local yieldable = coroutine.isyieldable or function() return false end
local unpack = table.unpack or unpack   -- LuaJIT: the global
local CANCELLED = "request was cancelled"

-- proxy(client) -> the client as task code sees it (proxy.real: the client)
---@param client kadoa.Client a client, or a proxy of one
---@return kadoa.Client proxy
function M.proxy(client)
  client = client.real or client
  local fetch = function(_, route, timeout, extra, ...)
    local h, r = client:driver():exchange(current, route, timeout, extra, ...)
    if not h then return nil, r end
    return YIELD("handle", h)   -- resumed with h:result()
  end
  local settings = setmetatable({ sleep = function(s) YIELD("sleep", s) end },
    { __index = client.settings })
  return setmetatable({
    real = client, transport = { fetch = fetch }, settings = settings, host = M,
    driver = function() return client:driver() end,
    redact = function(_, s) return client:redact(s) end,
    closed = function() return client:closed() end,
  }, { __index = client })
end

local function all_done(list)
  for _, w in ipairs(list) do if not w.result then return false end end
  return true
end

-- task:ready() -> whether moving it on would do something (or it is over);
-- runs none of its code, so a host may ask from anywhere.
---@return boolean
function Task:ready()
  if self.result then return true end
  if self.h then return self.h:done() end
  if self.wake then return self.client.settings.clock() >= self.wake end
  local g = self.group
  if g then
    if all_done(g) or (self.stop and self.stop()) then return true end
    for _, w in ipairs(g) do if w:ready() then return true end end
    return false
  end
  return true   -- not started
end

local function finish(t, result)
  t.result = result
  if t.on_done then t.on_done(result[1], result[2]) end
end

-- abandon(t): its exchange cancelled, its code never resumed (a worker
-- kadoa.many gives up on, or one of a cancelled task's)
---@param t kadoa.Task
local function abandon(t)
  if t.result then return end
  if t.h then t.driver:drop(t.h) end
  for _, w in ipairs(t.group or {}) do abandon(w) end
  t.h, t.wake, t.group = nil, nil, nil
  finish(t, { nil, errors.new("usage", CANCELLED) })
end

local function advance(t)
  while not t.result do
    local g, h, gone = t.group, t.h, t.cancelled
    if g then for _, w in ipairs(g) do if gone then abandon(w) else advance(w) end end end
    if not gone and (not t:ready() or (g and not (all_done(g) or (t.stop and t.stop())))) then return end
    if coroutine.status(t.co) ~= "suspended" then return end   -- cancelled from its own code
    t.h, t.wake, t.group, t.stop = nil, nil, nil, nil
    local a, b
    if h and gone then
      t.driver:drop(h)
      a, b = nil, { failure = "usage", detail = CANCELLED, sent = true, elapsed = 0 }
    elseif h then
      a, b = h:result()
    end
    local outer = current
    current = t
    local ok, what, x, y = coroutine.resume(t.co, a, b)
    current = outer
    if not ok then
      t.crash = what
      finish(t, { nil, errors.new("usage", "kadoa: task failed: " .. tostring(what)) })
    elseif coroutine.status(t.co) == "dead" then
      finish(t, gone and { nil, errors.new("usage", CANCELLED) } or { what, x })
    elseif what == "handle" then t.h = x
    elseif what == "sleep" then t.wake = t.client.settings.clock() + (tonumber(x) or 0)
    elseif what == "join" then t.group, t.stop = x, y
    end
  end
end

-- start(client, fn, ...) -> task: fn(proxy, ...), its first exchange out now.
---@param client kadoa.Client a client (or a task's proxy of one)
---@param fn fun(c: kadoa.Client, ...): any, any
---@param ... any fn's further arguments
---@return kadoa.Task
function M.start(client, fn, ...)
  local p = M.proxy(client)
  local real = p.real
  local n, args = select("#", ...), { ... }
  local t = setmetatable({ client = real, driver = real:driver(),
    co = coroutine.create(function() return fn(p, unpack(args, 1, n)) end) }, Task)
  t.root = current and current.root or t   -- a worker's exchanges wake its root
  advance(t)
  return t
end

-- task:landed(): the driver says its exchange is over; its root's notify, if
-- a loop set one, moves it on from the loop.
function Task:landed()
  local notify = self.root.notify
  if notify then notify() end
end

-- until_ms(t, base) -> ms until t, or a task it joined, needs moving on:
-- its sleep's end; base (-1: none) for one waiting on an exchange
local function until_ms(t, base)
  if t.result then return -1 end
  if t.wake then
    return math.max(0, math.ceil((t.wake - t.client.settings.clock()) * 1000))
  end
  local ms = base
  for _, w in ipairs(t.group or {}) do
    local m = until_ms(w, base)
    if m >= 0 and (ms < 0 or m < ms) then ms = m end
  end
  return ms
end

-- The loop's timer for a sleep, beside the driver's own.
---@return integer ms until it (or a task it joined) is done sleeping; -1 when none sleeps
function Task:sleep_ms() return until_ms(self, -1) end

M.spawn = M.start   -- kadoa.many's host face: a worker is a task
M.kill = abandon

-- join(tasks, stop) -> true | false, why: until every task is over or
-- stop() is true. Inside a task it yields that task meanwhile (false, its
-- cancellation when it is cancelled); elsewhere it blocks (false, the
-- interruption when one comes).
---@param list kadoa.Task[]
---@param stop fun(): boolean
---@return boolean ok
---@return any why what a task raised, or what stopped the wait
function M.join(list, stop)
  if #list > 0 then
    if current and yieldable() then
      local me = current
      YIELD("join", list, stop)
      if me.cancelled then return false, CANCELLED end
    else
      local d = list[1].driver
      local ok, e = pcall(d.drive, d, list, stop)
      if not ok then return false, e end
    end
  end
  for _, w in ipairs(list) do
    if w.crash ~= nil then return false, w.crash end
  end
  return true
end

Task.poll, Task.await = Request.poll, Request.await

---@return boolean over
function Task:done()
  advance(self)
  return self.result ~= nil
end

---@return integer ms until it needs moving on for a timer's sake (libcurl's, a sleep's end); -1 for none
function Task:timeout() return until_ms(self, self.client.transport:timeout()) end

-- task:cancel(): its exchange cancelled and its code run down at once: every
-- call it still makes answers "request was cancelled" and every sleep is
-- over, so what it holds is let go. Idempotent.
function Task:cancel()
  if self.result or self.cancelled then return end
  self.cancelled = true
  advance(self)
end

function Task:__tostring()
  return "kadoa.task (" .. (self.result and "done" or self.wake and "sleeping" or "running") .. ")"
end

Task.__close = Task.cancel

return M
