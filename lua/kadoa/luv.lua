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
---@return table room with `wakes` (callbacks run so far) and `polls` (fd -> handle)
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

-- call(client, name, ..., callback) -> request | nil, err: client:send(name,
-- ...) on the loop. callback(res, err) is called exactly once, on the loop:
-- with what the blocking call would return, or the error send gave, or
-- "request was cancelled" after req:cancel().
---@param client kadoa.Client
---@param name string a call of kadoa.api
---@param ... any its arguments and options, then the callback
---@return kadoa.Request|nil
---@return kadoa.Error|nil err
function M.call(client, name, ...)
  local n = select("#", ...)
  local cb = select(n, ...)
  if type(cb) ~= "function" then
    error(("bad argument #%d to 'call' (function expected, got %s)"):format(n + 2, type(cb)), 2)
  end
  local room = M.room(client)
  local req, err = client:send(name, unpack({ ... }, 1, n - 1))
  if not req then
    room:post(function() cb(nil, err) end)
    return nil, err
  end
  M.track(room, req, cb)
  return req
end

-- track(room, req, cb): cb(res, err) once req settles, on the loop.
---@param room table from M.room
---@param req kadoa.Request
---@param cb fun(res: any, err: kadoa.Error|nil)
function M.track(room, req, cb)
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
-- raised by opts.on_result cancels the rest and is raised from the loop.
---@param client kadoa.Client
---@param ids string[]
---@param opts kadoa.ManyOptions|nil
---@param callback fun(results: table|nil, err: kadoa.Error|nil)
function M.status_many(client, ids, opts, callback)
  local room = M.room(client)
  local co
  local host = { wait = coroutine.yield }
  function host.wake()
    room:post(function()
      if coroutine.status(co) == "suspended" then assert(coroutine.resume(co)) end
    end)
  end
  co = coroutine.create(function()
    callback(require("kadoa.many").status_many(client, ids, opts, host))
  end)
  room:post(function() assert(coroutine.resume(co)) end)
end

return M
