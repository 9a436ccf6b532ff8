-- kadoa.request: calls that progress without blocking. Each client has one
-- driver (client:driver()) owning its requests in flight; a failed attempt
-- goes through kadoa.engine's plan, a retry's wait being a time at which
-- the request starts again, not a sleep. An event loop serves the driver
-- (attach, ready, fire: README "Bring your own event loop"); scripts use
-- step(), wait(ms) or req:await(), poll(2) on the same sockets.

local engine = require("kadoa.engine")
local errors = require("kadoa.errors")

local M = {}

---@class kadoa.Driver
---@field client kadoa.Client
---@field loop? table the event loop serving it (attach), if any
local Driver = {}
Driver.__index = Driver
M.Driver = Driver

-- One non-blocking call (client:send, client:start).
---@class kadoa.Request
---@field driver kadoa.Driver
local Request = {}
Request.__index = Request
M.Request = Request

---@param client kadoa.Client
---@return kadoa.Driver
function M.driver(client)
  return setmetatable({
    client = client,
    t = client.transport,
    s = client.settings,
    -- C request -> its Request, or the owner of a bare exchange (kadoa.task);
    -- weak, so a request its owner drops is collected and its transfer cancelled
    by_handle = setmetatable({}, { __mode = "v" }),
    bare = setmetatable({}, { __mode = "v" }),
    waiting = {},     -- Requests waiting for a retry
    watching = {},    -- fd -> want, as the loop was told
  }, Driver)
end

local function launch(self, req, budget)
  local rq = req.rq
  local h, r = self.t:start(rq.call.route, budget, rq.extra, rq[1], rq[2])
  if not h then return false, r end
  req.handle = h
  self.by_handle[h] = req
  return true
end

local function settle(req, res, err)
  req.handle, req.retry_at = nil, nil
  req.result = { res, err }
  if req.on_done then req.on_done(res, err) end
end

local function until_ms(self, at)
  return math.max(0, math.ceil((at - self.s.clock()) * 1000))
end

-- Tell the loop what changed. Calls nothing but the loop's own two
-- functions, so no request's callback can run in the middle of it.
local function sync(self)
  local loop = self.loop
  if not loop then return end
  local ch = self.t:changes()
  local forgot = false
  for i = 1, #ch, 2 do
    local fd, want = ch[i], ch[i + 1]
    loop:watch(fd, want)
    if want == 0 then forgot = true end
    self.watching[fd] = want > 0 and want or nil
  end
  if forgot then self.t:release() end   -- the loop let go: the core may close them
  loop:timer(self:timeout())
end

---@param rq kadoa.api.Request a request of kadoa.api (api.prepare's)
---@return kadoa.Request|nil
---@return kadoa.Error|nil err
function Driver:start(rq)
  local budget = rq.budget
  local req = setmetatable({
    driver = self, rq = rq, call = rq.call,
    deadline = self.s.clock() + (budget or self.s.timeout), retries = rq.retries,
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

-- exchange(owner, route, timeout, extra, seg...): one attempt, no plan (a
-- kadoa.task's engine does that); owner:landed() once it is over.
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

-- drop(h): a bare exchange stopped and freed; idempotent.
---@param h kadoa.core.Handle
function Driver:drop(h)
  self.bare[h] = nil
  h:cancel()
  sync(self)
end

-- A finished attempt of req: its result, or a retry planned for later.
local function land(self, req, res, r)
  if res ~= nil then return settle(req, res, nil) end
  local err = errors.from_report(r)
  local now = self.s.clock()
  req.plan = req.plan or engine.plan(self.s, req.deadline, req.retries, req.call.unsafe)
  local wait = req.plan:next(err, now)
  if not wait then return settle(req, nil, err) end
  req.retry_at, req.last_err = now + wait, err
  self.waiting[#self.waiting + 1] = req
end

local function start_due(self)
  local w = self.waiting
  if #w == 0 then return end
  local now = self.s.clock()
  local i = 1
  while i <= #w do
    local req = w[i]
    if req.retry_at <= now then
      table.remove(w, i)
      local budget = req.plan:budget(now)
      local ok, r = false, nil
      if budget then ok, r = launch(self, req, budget) end
      if ok then
        req.retry_at = nil
      else   -- past its deadline, or the client closed meanwhile
        settle(req, nil, req.plan:final(r and errors.from_report(r) or req.last_err))
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
  -- a client closed under us ended its transfers without a word
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

-- step() never blocks.
---@return integer pending requests still running or waiting for a retry
function Driver:step()
  start_due(self)
  local _, done = self.t:perform()
  return after(self, done)
end

-- attach(loop): one loop per driver (changes are told once: a new loop
-- could not learn what the old one watches); nil detaches.
---@param loop? { watch: fun(self, fd: integer, want: integer), timer: fun(self, ms: integer) }
function Driver:attach(loop)
  local busy = next(self.by_handle) or next(self.bare) or next(self.watching)
  if self.loop and loop and self.loop ~= loop and busy then
    error("kadoa: this client's requests are already driven by another loop", 2)
  end
  self.loop = loop
  sync(self)
end

-- close(): the loop stops watching every socket first, and every request
-- in flight settles as "client is closed" now, not at some later event.
function Driver:close()
  local loop = self.loop
  if loop then
    for fd in pairs(self.watching) do loop:watch(fd, 0) end
  end
  self.watching = {}
  self.t:close()
  after(self, {})
end

---@param fd integer
---@param ev integer 1 read, 2 write, 4 error, any sum
---@return integer pending requests still running or waiting for a retry
function Driver:ready(fd, ev)
  self.t:action(fd, ev)
  return after(self, self.t:finished())
end

---@return integer pending requests still running or waiting for a retry
function Driver:fire()
  start_due(self)
  if self.t:timeout() == 0 then self.t:action(-1, 0) end
  return after(self, self.t:finished())
end

---@return integer ms until the driver next needs a step (libcurl's timer, a retry); -1 for none
function Driver:timeout()
  local ms, soonest = self.t:timeout(), math.huge
  for _, req in ipairs(self.waiting) do soonest = math.min(soonest, req.retry_at) end
  if soonest < math.huge then
    local due = until_ms(self, soonest)
    if ms < 0 or due < ms then ms = due end
  end
  return ms
end

-- wait(ms): block until a socket is ready, a timer is due or ms pass.
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

-- drive(list, stop, seconds) -> true once every request or task of list is
-- over or stop() says so; false when seconds passed first. Blocks.
---@param list (kadoa.Request|kadoa.Task)[]
---@param stop? fun(): boolean
---@param seconds? number
---@return boolean
function Driver:drive(list, stop, seconds)
  local clock = self.s.clock
  local deadline = seconds and clock() + seconds
  while true do
    self:step()
    local ms, over = 1000, true
    for _, w in ipairs(list) do
      if not w:done() then
        over = false
        local tm = w:timeout()
        if tm >= 0 and tm < ms then ms = tm end
      end
    end
    if over or (stop and stop()) then return true end
    if deadline then
      local left = deadline - clock()
      if left <= 0 then return false end
      ms = math.min(ms, math.ceil(left * 1000))
    end
    self:wait(ms)
  end
end

-- serve(room, f, ...): f(room.driver, ...) from a loop's callback (kadoa.luv,
-- kadoa.cqueues), counted in room.wakes; what the room queued meanwhile
-- (room.queue: callbacks of requests settled) runs right after.
---@param room { driver: kadoa.Driver, wakes: integer, busy: boolean?, queue: function[] }
---@param f function a method of the driver
---@param ... any its arguments
function M.serve(room, f, ...)
  room.wakes = room.wakes + 1
  room.busy = true
  local ok, e = pcall(f, room.driver, ...)
  room.busy = false
  local q = room.queue
  if #q > 0 then
    room.queue = {}
    for i = 1, #q do q[i]() end
  end
  if not ok then error(e, 0) end
end

-- The face of a request, which a kadoa.task shares (poll and await).

-- req:poll() -> nothing while in flight; res | nil, err once done, kept.
---@return any res nothing while in flight; the result once done
---@return kadoa.Error|nil err
function Request:poll()
  if not self.result then
    self.driver:step()
    self:done()
  end
  local r = self.result
  if r then return r[1], r[2] end
end

-- req:done() does not drive (poll and the driver's step do), but notices a
-- closed client.
---@return boolean
function Request:done()
  if not self.result and self.driver.t:closed() then self.driver:step() end
  return self.result ~= nil
end

-- req:cancel(): the transfer stopped and freed; idempotent. One that had not
-- finished then polls as "request was cancelled" (on_done gets it too).
function Request:cancel()
  if self.result then return end
  local d = self.driver
  if self.handle then
    d.by_handle[self.handle] = nil
    self.handle:cancel()
  end
  for i, w in ipairs(d.waiting) do
    if w == self then table.remove(d.waiting, i) break end
  end
  sync(d)
  settle(self, nil, errors.new("usage", "request was cancelled"))
end

---@return integer ms until it next needs driving for a timer's sake; -1 for none
function Request:timeout()
  if self.result then return -1 end
  if self.retry_at then return until_ms(self.driver, self.retry_at) end
  return self.driver.t:timeout()
end

-- A request never sleeps: its retries fall due on the driver's timer.
---@return integer ms -1
function Request.sleep_ms() return -1 end

-- req:await([seconds]) -> res | nil, err: block until done, at most
-- `seconds` (then nothing, and it keeps going). Never from an event loop.
---@param seconds? number at most this long (none: until done)
---@return any res nothing when the time ran out first
---@return kadoa.Error|nil err
function Request:await(seconds)
  if not self.result and not self.driver:drive({ self }, nil, seconds) then return end
  return self:poll()
end

function Request:__tostring()
  local state = self.result and "done" or (self.retry_at and "waiting to retry") or "running"
  return "kadoa.request (" .. state .. ")"
end

Request.__close = Request.cancel

return M
