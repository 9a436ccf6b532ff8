-- kadoa.request: calls that progress without blocking.
--
--   local req = assert(client:send("status", id))   -- or client:start(id)
--   ...                                             -- whoever owns the loop:
--   local res, err = req:poll()                     -- nothing while in flight
--
-- Each client has one driver (client:driver()) that owns its requests in
-- flight. A failed attempt goes through the engine's plan (kadoa.engine):
-- the same retries, budget and errors as the blocking call, except that a
-- retry's wait is not a sleep, the request just stays pending until it is
-- due.
--
-- An event loop serves the driver (driver:attach(loop)): the driver tells
-- it which sockets to watch (loop:watch(fd, want), want 1 read, 2 write,
-- 3 both, 0 stop) and when to wake it (loop:timer(ms), -1 none: libcurl's
-- own timer or a retry falling due, one timer for both); the loop tells the
-- driver when a socket is ready (driver:ready(fd, ev)) or the timer fired
-- (driver:fire()). Nothing runs between events: no polling.
--
-- Scripts outside any event loop use driver:step() (never blocks) and
-- driver:wait(ms), or req:await(): the core waits with poll(2) on the same
-- sockets.
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
---@field loop? table the event loop serving it (attach), if any
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
    watching = {},    -- fd -> want, as the loop was told
    -- C request -> owner of a bare exchange (kadoa.task's); weak as above
    bare = setmetatable({}, { __mode = "v" }),
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

-- ms until the first retry falls due; -1 for none
local function retry_ms(self)
  local w = self.waiting
  if #w == 0 then return -1 end
  local soonest = math.huge
  for i = 1, #w do
    if w[i].retry_at < soonest then soonest = w[i].retry_at end
  end
  return math.max(0, math.ceil((soonest - self.s.clock()) * 1000))
end

-- Tell the loop what changed: sockets to watch or forget (a forgotten one
-- is closed by the core only once the loop let go of it: release), and
-- when to wake. Calls nothing but the loop's own two functions, so no
-- request's callback can run in the middle of it.
local function sync(self)
  local loop = self.loop
  if not loop then return end
  local t = self.t
  local ch, ms = t:changes()
  local forgot = false
  local watching = self.watching
  for i = 1, #ch, 2 do
    local fd, want = ch[i], ch[i + 1]
    loop:watch(fd, want)
    if want == 0 then forgot = true end
    watching[fd] = want > 0 and want or nil
  end
  if forgot then t:release() end
  local r = retry_ms(self)
  if r >= 0 and (ms < 0 or r < ms) then ms = r end
  loop:timer(ms)
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
  sync(self)
  return req
end

-- exchange(owner, route, timeout, extra, seg...) -> C request | nil,
-- record: one attempt and nothing more (no plan, no retry: a kadoa.task's
-- engine does that), its sockets told to the loop like a request's.
-- owner:landed() is called once it is over, so a loop knows to move the
-- task that waits for it on.
---@param owner { landed: fun(self) }
---@param route kadoa.core.Route
---@param timeout number|nil
---@param extra kadoa.core.Extra|nil
---@param ... string the path's segments
---@return kadoa.core.Handle|nil
---@return kadoa.core.Report|nil record
function Driver:exchange(owner, route, timeout, extra, ...)
  local h, r = self.t:start(route, timeout, extra, ...)
  if not h then return nil, r end
  self.bare[h] = owner
  sync(self)
  return h
end

-- drop(h): a bare exchange stopped and freed (its sockets let go by the
-- loop first); idempotent.
---@param h kadoa.core.Handle
function Driver:drop(h)
  self.bare[h] = nil
  h:cancel()
  sync(self)
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

-- Land what finished, notice a closed client, start due retries, and tell
-- the loop what changed.
local function after(self, done)
  for k = 1, #done do
    local h = done[k]
    local req = self.by_handle[h]
    if req then
      self.by_handle[h] = nil
      land(self, req, h:result())
    else
      local owner = self.bare[h]
      self.bare[h] = nil
      if owner then owner:landed() end
    end
  end
  -- a client closed under us ended its transfers without a word: each
  -- request answers "client is closed", a retry included
  if self.t:closed() then
    for h, req in pairs(self.by_handle) do
      self.by_handle[h] = nil
      land(self, req, h:result())
    end
    for h, owner in pairs(self.bare) do
      self.bare[h] = nil
      owner:landed()
    end
    for _, req in ipairs(self.waiting) do req.retry_at = -math.huge end
  end
  start_due(self)
  sync(self)
  local n = #self.waiting
  for _ in pairs(self.by_handle) do n = n + 1 end
  return n
end

-- driver:step() -> how many requests are still pending (running or
-- waiting for a retry). Never blocks.
---@return integer pending requests still running or waiting for a retry
function Driver:step()
  start_due(self)
  local _, done = self.t:perform()
  return after(self, done)
end

-- driver:attach(loop): let an event loop drive the requests. `loop` has
-- watch(self, fd, want) (want 1 read, 2 write, 3 both, 0 stop watching:
-- stop before returning, the core closes the socket right after) and
-- timer(self, ms) (wake the driver with fire() after ms; -1: no wake-up
-- wanted). One loop per driver; nil detaches (only while nothing is
-- watched).
---@param loop? { watch: fun(self, fd: integer, want: integer), timer: fun(self, ms: integer) }
function Driver:attach(loop)
  -- changes are told once: a new loop could not learn what the old one watches
  local busy = next(self.by_handle) or next(self.bare) or next(self.watching)
  if self.loop and loop and self.loop ~= loop and busy then
    error("kadoa: this client's requests are already driven by another loop", 2)
  end
  self.loop = loop
  sync(self)
end

-- driver:close(): close the client. Its loop stops watching every socket
-- first (the core then closes them at once), and every request in flight
-- settles as "client is closed" now, not at some later event.
function Driver:close()
  local loop = self.loop
  if loop then
    for fd in pairs(self.watching) do loop:watch(fd, 0) end
  end
  self.watching = {}
  self.t:close()
  after(self, {})
end

-- driver:ready(fd, ev) -> pending: the loop saw fd ready (ev: 1 read,
-- 2 write, 4 error, any sum).
---@param fd integer
---@param ev integer
---@return integer pending requests still running or waiting for a retry
function Driver:ready(fd, ev)
  self.t:action(fd, ev)
  return after(self, self.t:finished())
end

-- driver:fire() -> pending: the loop's timer fired.
---@return integer pending requests still running or waiting for a retry
function Driver:fire()
  start_due(self)
  if self.t:timeout() == 0 then self.t:action(-1, 0) end
  return after(self, self.t:finished())
end

-- driver:timeout() -> ms until the next step is needed for a timer's sake
-- (libcurl's own, or a retry falling due); -1 for none.
---@return integer ms until the driver next needs a step; -1 for none
function Driver:timeout()
  local ms, due = self.t:timeout(), retry_ms(self)
  if due >= 0 and (ms < 0 or due < ms) then ms = due end
  return ms
end

-- driver:wait(ms): block until a socket is ready, a timer is due or ms
-- pass. For loops that may block (scripts, status_many).
---@param ms number
function Driver:wait(ms)
  local t = self:timeout()
  if t >= 0 and t < ms then ms = t end
  if next(self.by_handle) or next(self.bare) then
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

-- req:cancel(): stop the transfer and free it (its socket too, once the
-- loop let go of it); idempotent. A request that had not finished then
-- polls as the usage error "request was cancelled", which on_done gets
-- too; one that had keeps its result.
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
  sync(d)
  settle(self, nil, errors.new("usage", "request was cancelled"))
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
