-- kadoa.luv: non-blocking calls on a libuv loop (luv; Neovim's vim.loop
-- through kadoa.nvim.driver).
--
--   local uv = require("luv")
--   local kl = require("kadoa.luv")
--   local req = kl.call(client, "status", id, function(res, err) ... end)
--   uv.run()      -- the callback runs once, on the loop; req:cancel() stops it
--
-- A room serves the client's driver (kadoa.request) with what libuv has:
-- one poll handle per socket libcurl wants watched, one timer for libcurl's
-- timer and the retries. Nothing wakes the loop but a socket or that timer.
-- Handles exist only while needed (closed when the driver lets go), so an
-- idle client holds nothing on the loop and a dropped one is collected.
-- No retry, option or error logic lives here: that is the driver's.

local M = {}

local unpack = table.unpack or unpack   -- luacheck: ignore

local Room = {}
Room.__index = Room

local EVENTS = { "r", "w", "rw" }

-- ev: luv's event string ("r", "w", "rw", with "d" for a disconnect) as
-- the driver's bits
local function bits(err, ev)
  if err then return 4 end
  local b = 0
  if ev:find("r", 1, true) or ev:find("d", 1, true) then b = 1 end
  if ev:find("w", 1, true) then b = b + 2 end
  return b
end

-- A driver call from a libuv callback: counts the wake-up; the callbacks
-- of requests settled meanwhile run right after, still in this callback,
-- once the driver is done with its own work.
local function serve(self, f, ...)
  self.wakes = self.wakes + 1
  self.busy = true
  local ok, e = pcall(f, self.driver, ...)
  self.busy = false
  local q = self.queue
  if #q > 0 then
    self.queue = {}
    for i = 1, #q do q[i]() end
  end
  if not ok then error(e, 0) end
end

-- the driver's loop face (kadoa.request: Driver:attach)
---@param fd integer
---@param want integer 1 read, 2 write, 3 both, 0 stop
function Room:watch(fd, want)
  local p = self.polls[fd]
  if want == 0 then
    if p then
      -- stop is synchronous: the fd leaves libuv's set before the core
      -- closes it (release); the close of the handle may come later
      self.polls[fd] = nil
      p:stop()
      p:close()
    end
    return
  end
  if not p then
    p = self.uv.new_socket_poll(fd)
    self.polls[fd] = p
  end
  local function on_ready(err, ev)
    serve(self, self.driver.ready, fd, bits(err, ev))
    -- libuv reports a socket error (a refused connect) as EBADF and stops
    -- the handle (luv also prints it); libcurl decides whether it still
    -- wants the socket, so a handle it still wants watches on
    if err and self.polls[fd] == p then p:start(EVENTS[want], on_ready) end
  end
  p:start(EVENTS[want], on_ready)
end

---@param ms integer -1: none
function Room:timer(ms)
  local t = self.t
  if ms < 0 then
    if t then
      self.t = nil
      t:stop()
      t:close()
    end
    return
  end
  if not t then
    t = self.uv.new_timer()
    self.t = t
  end
  t:start(ms, 0, self.on_timer)
end

-- Run f on the loop: right after the driver's work when called from it,
-- else on the next turn (a failed send's error, a cancel's callback).
---@param f function
function Room:post(f)
  if self.busy then
    self.queue[#self.queue + 1] = f
    return
  end
  local t = self.uv.new_timer()
  t:start(0, 0, function()
    t:close()
    f()
  end)
end

-- room(client [, uv]) -> the room serving client's driver on uv's loop
-- (default: require("luv")), made and attached on first use.
---@param client kadoa.Client
---@param uv? table the luv module (Neovim: vim.loop)
---@return table room with `wakes` (callbacks run so far), `polls` (fd -> handle) and
---  `live` (the requests and tasks followed, not yet settled)
function M.room(client, uv)
  local d = client:driver()
  local room = d.loop
  if room and getmetatable(room) == Room and (not uv or room.uv == uv) then return room end
  room = setmetatable({ uv = uv or require("luv"), driver = d, polls = {}, wakes = 0,
    queue = {}, live = {} }, Room)
  room.on_timer = function() serve(room, d.fire) end
  d:attach(room)
  return room
end

-- follow(room, t, cb [, post]): a kadoa.task moved on from the loop until
-- it is over, then cb(res, err) once. Its exchanges wake it through the
-- driver (task:landed), its sleeps through a timer of its own; post runs
-- task code (default: room:post, so never inside the driver's work;
-- Neovim passes its main loop).
---@param room table from M.room
---@param t kadoa.Task
---@param cb fun(res: any, err: any)
---@param post? fun(f: function)
function M.follow(room, t, cb, post)
  post = post or function(f) room:post(f) end
  local timer
  room.live[t] = true
  local function move()
    if t:done() then return end
    local ms = t:sleep_ms()
    if ms < 0 then return end
    timer = timer or room.uv.new_timer()
    timer:start(ms, 0, function() post(move) end)
  end
  t.notify = function() post(move) end
  t.on_done = function(res, err)
    room.live[t] = nil
    if timer then
      timer:close()
      timer = nil
    end
    post(function() cb(res, err) end)
  end
  if t.result then t.on_done(t.result[1], t.result[2]) else move() end
end

-- run(client, fn, cb [, uv]) -> task: fn(c) as a kadoa.task (c: the
-- client as task code sees it, its calls and sleeps yielding to the loop),
-- cb(res, err) once with what fn returned; task:cancel() stops it.
---@param client kadoa.Client
---@param fn fun(c: kadoa.Client): any, any
---@param cb fun(res: any, err: any)
---@param uv? table the luv module (default: require("luv"))
---@return kadoa.Task
function M.run(client, fn, cb, uv)
  local room = M.room(client, uv)
  local t = require("kadoa.task").start(client, fn)
  M.follow(room, t, cb)
  return t
end

-- call(client, name, ..., callback) -> request: client[name](client, ...)
-- on the loop, as a task; callback(res, err) is called exactly once, on
-- the loop: with what the blocking call would return, or "request was
-- cancelled" after req:cancel(). Retries wait on a timer of the loop.
---@param client kadoa.Client
---@param name string a call of kadoa.api
---@param ... any its arguments and options, then the callback
---@return kadoa.Task
function M.call(client, name, ...)
  local n = select("#", ...)
  local cb = select(n, ...)
  if type(cb) ~= "function" then
    error(("bad argument #%d to 'call' (function expected, got %s)"):format(n + 2, type(cb)), 2)
  end
  if not require("kadoa.api").calls[name] then
    error(("bad argument #2 to 'call' (no API call named '%s')"):format(tostring(name)), 2)
  end
  local args = { ... }
  return M.run(client, function(c) return c[name](c, unpack(args, 1, n - 1)) end, cb)
end

-- track(room, req, cb): cb(res, err) once req (a kadoa.request, or a task
-- as client:send gives for a start with wait) settles, on the loop.
---@param room table from M.room
---@param req kadoa.Request|kadoa.Task
---@param cb fun(res: any, err: kadoa.Error|nil)
function M.track(room, req, cb)
  if getmetatable(req) == require("kadoa.task").Task then
    M.follow(room, req, cb)
    return
  end
  -- held until it settles: a callback is a promise to answer (the
  -- driver's own table is weak, so a request nobody waits for is dropped)
  room.live[req] = true
  req.on_done = function(res, err)
    room.live[req] = nil
    room:post(function() cb(res, err) end)
  end
end

-- status_many(client, ids, opts, callback): client:status_many(ids, opts)
-- on the loop; callback(results | nil, err) once, on the loop. An error
-- raised by opts.on_result comes to callback as the task's error.
---@param client kadoa.Client
---@param ids string[]
---@param opts kadoa.ManyOptions|nil
---@param callback fun(results: table|nil, err: kadoa.Error|nil)
---@return kadoa.Task
function M.status_many(client, ids, opts, callback)
  return M.run(client, function(c) return c:status_many(ids, opts) end, callback)
end

return M
