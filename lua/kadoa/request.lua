-- kadoa.request: calls that progress without blocking.
--
--   local req = assert(client:send("status", id))   -- or client:start(id)
--   ...                                             -- whoever owns the loop:
--   local res, err = req:poll()                     -- nothing while in flight
--
-- Each client has one driver (client:driver()) that owns its requests in
-- flight. driver:step() moves all of them forward at once: one perform on
-- the C core's multi handle, then every completion the core queued since
-- the last step is handed to its request, and retries that fell due are
-- started. A failed attempt goes through the engine's plan
-- (kadoa.engine): the same retries, budget and errors as the blocking
-- call, except that a retry's wait is not a sleep, the request just stays
-- pending until it is due and timeout() says when.
--
-- Nothing here blocks except driver:wait() and req:await(), which are for
-- scripts outside any event loop. A loop waits between steps with a
-- timer: driver:timeout() gives the delay libcurl or a pending retry asks
-- for, to be capped by the loop so data arriving on a socket is noticed.
--
-- A request may belong to a group ({ running = 0, limit = n }): then a due
-- retry starts only while fewer than `limit` of the group's transfers run
-- (status_many's concurrency).

local engine = require("kadoa.engine")
local errors = require("kadoa.errors")

local M = {}

-- A client's driver of non-blocking requests (client:driver()).
---@class kadoa.Driver
---@field client kadoa.Client
local Driver = {}
Driver.__index = Driver
M.Driver = Driver

-- One non-blocking call (client:send, client:start, kadoa.nvim.call).
---@class kadoa.Request
---@field driver kadoa.Driver
local Request = {}
Request.__index = Request
M.Request = Request

-- driver(client) -> a new driver (kadoa.client keeps one per client)
---@param client kadoa.Client
---@return kadoa.Driver
function M.driver(client)
  return setmetatable({
    client = client,
    t = client.transport,
    s = client.settings,
    -- C request -> Request while its transfer runs; weak, so a request its
    -- owner drops is collected and its C request cancels the transfer
    by_handle = setmetatable({}, { __mode = "v" }),
    waiting = {},     -- Requests waiting for a retry
  }, Driver)
end

local function launch(self, req, budget)
  local rq = req.rq
  local h, r = self.t:start(rq.call.route, budget, rq.extra, rq[1], rq[2])
  if not h then return false, r end
  req.handle = h
  self.by_handle[h] = req
  local g = req.group
  if g then g.running = g.running + 1 end
  return true
end

local function settle(req, res, err)
  req.handle, req.retry_at = nil, nil
  req.result = { res, err }
  if req.on_done then req.on_done(res, err) end
end

-- start(request [, group]) -> request object | nil, err
---@param rq kadoa.api.Request a request of kadoa.api (api.prepare's)
---@param group? { running: integer, limit: integer } a concurrency group
---@return kadoa.Request|nil
---@return kadoa.Error|nil err
function Driver:start(rq, group)
  local now, budget = self.s.clock(), rq.budget
  local req = setmetatable({
    driver = self, rq = rq, call = rq.call, group = group,
    deadline = now + (budget or self.s.timeout), retries = rq.retries,
  }, Request)
  local ok, r = launch(self, req, budget)
  if not ok then
    local err = errors.from_report(r)
    err.attempts = 1
    return nil, err
  end
  return req
end

-- A finished attempt of req: its result, or a retry planned for later.
local function land(self, req, res, r)
  local g = req.group
  if g then g.running = g.running - 1 end
  if res ~= nil then return settle(req, res, nil) end
  local err = errors.from_report(r)
  local now = self.s.clock()
  req.plan = req.plan or engine.plan(self.s, req.deadline, req.retries, req.call.unsafe)
  local wait = req.plan:next(err, now)
  if not wait then return settle(req, nil, err) end
  req.retry_at, req.last_err = now + wait, err
  self.waiting[#self.waiting + 1] = req
end

-- Start the retries that are due (and have room in their group).
local function start_due(self)
  local w = self.waiting
  if #w == 0 then return end
  local now = self.s.clock()
  local i = 1
  while i <= #w do
    local req = w[i]
    local g = req.group
    if req.retry_at <= now and (not g or g.running < g.limit) then
      table.remove(w, i)
      local budget = req.plan:budget(now)
      local ok, r = false, nil
      if budget then ok, r = launch(self, req, budget) end
      if ok then
        req.retry_at = nil
      elseif r then
        settle(req, nil, req.plan:final(errors.from_report(r)))   -- closed meanwhile
      else
        settle(req, nil, req.plan:final(req.last_err))
      end
    else
      i = i + 1
    end
  end
end

-- driver:step() -> how many requests are still pending (running or
-- waiting for a retry). Never blocks.
---@return integer running transfers still running
function Driver:step()
  start_due(self)
  local _, done = self.t:perform()
  for k = 1, #done do
    local h = done[k]
    local req = self.by_handle[h]
    if req then
      self.by_handle[h] = nil
      land(self, req, h:result())
    end
  end
  -- a client closed under us ended its transfers without a word: each
  -- request answers "client is closed", a retry included
  if self.t:closed() then
    for h, req in pairs(self.by_handle) do
      self.by_handle[h] = nil
      land(self, req, h:result())
    end
    for _, req in ipairs(self.waiting) do req.retry_at = -math.huge end
  end
  start_due(self)
  local n = #self.waiting
  for _ in pairs(self.by_handle) do n = n + 1 end
  return n
end

-- driver:timeout() -> ms until the next step is needed for a timer's sake
-- (libcurl's own, or a retry falling due); -1 for none.
---@return integer ms until the driver next needs a step; -1 for none
function Driver:timeout()
  local ms = self.t:timeout()
  if #self.waiting > 0 then
    local now, soonest = self.s.clock(), math.huge
    for _, req in ipairs(self.waiting) do
      if req.retry_at < soonest then soonest = req.retry_at end
    end
    local due = math.max(0, math.ceil((soonest - now) * 1000))
    if ms < 0 or due < ms then ms = due end
  end
  return ms
end

-- driver:wait(ms): block until a socket is ready, a timer is due or ms
-- pass. For loops that may block (scripts, status_many).
---@param ms number
function Driver:wait(ms)
  local t = self:timeout()
  if t >= 0 and t < ms then ms = t end
  if next(self.by_handle) then
    self.t:wait(ms)
  elseif ms > 0 then
    self.s.sleep(ms / 1000)
  end
end

---------------------------------------------------------------------------
-- A request

-- req:poll() -> (nothing) while in flight; res | nil, err once done. The
-- result is kept: polling again gives the same answer.
---@return any res nothing while in flight; the result once done
---@return kadoa.Error|nil err
function Request:poll()
  if not self.result then self.driver:step() end
  local r = self.result
  if r then return r[1], r[2] end
end

-- req:done() -> true once a result is there (or it was cancelled). It does
-- not drive: poll and the driver's step do.
---@return boolean
function Request:done()
  if not self.result and self.driver.t:closed() then self.driver:step() end
  return self.result ~= nil
end

-- req:cancel(): stop the transfer and free it; idempotent. A request that
-- had not finished then polls as the usage error "request was cancelled";
-- one that had keeps its result.
function Request:cancel()
  if self.result then return end
  local d = self.driver
  if self.handle then
    d.by_handle[self.handle] = nil
    self.handle:cancel()
    if self.group then self.group.running = self.group.running - 1 end
  end
  for i, w in ipairs(d.waiting) do
    if w == self then table.remove(d.waiting, i) break end
  end
  self.handle, self.retry_at = nil, nil
  self.result = { nil, errors.new("usage", "request was cancelled") }
end

-- req:timeout() -> ms until the request next needs driving for a timer's
-- sake; -1 for none.
---@return integer ms -1 for none
function Request:timeout()
  if self.result then return -1 end
  if self.retry_at then
    return math.max(0, math.ceil((self.retry_at - self.driver.s.clock()) * 1000))
  end
  return self.driver.t:timeout()
end

-- req:await([seconds]) -> res | nil, err: block until done, at most
-- `seconds` (then nothing is returned and the request keeps going).
-- For scripts outside any event loop; never call it from one.
---@param seconds? number at most this long (none: until done)
---@return any res nothing when the time ran out first
---@return kadoa.Error|nil err
function Request:await(seconds)
  local clock = self.driver.s.clock
  local deadline = seconds and clock() + seconds
  while true do
    local r1, r2 = self:poll()
    if self.result then return r1, r2 end
    local ms = self:timeout()
    if ms < 0 or ms > 1000 then ms = 1000 end
    if deadline then
      local left = deadline - clock()
      if left <= 0 then return end
      ms = math.min(ms, math.ceil(left * 1000))
    end
    self.driver:wait(ms)
  end
end

function Request:__tostring()
  local state = self.result and "done" or (self.retry_at and "waiting to retry") or "running"
  return "kadoa.request (" .. state .. ")"
end

Request.__close = Request.cancel

return M
