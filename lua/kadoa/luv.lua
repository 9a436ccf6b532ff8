-- kadoa.luv: non-blocking calls on a libuv loop (luv; Neovim's vim.loop
-- through kadoa.nvim.driver). A room serves the client's driver with one
-- poll handle per socket libcurl wants watched and one timer (libcurl's and
-- the retries'), each only while needed, so an idle client holds nothing on
-- the loop. No retry, option or error logic lives here: that is the driver's.
--
--   local req = require("kadoa.luv").call(client, "status", id, function(res, err) end)
--   require("luv").run()   -- the callback runs once, on the loop; req:cancel() stops it

local serve = require("kadoa.request").serve

local M = {}

local unpack = table.unpack or unpack   -- luacheck: ignore

local Room = {}
Room.__index = Room

local EVENTS = { "r", "w", "rw" }

-- luv's event string ("r", "w", "rw", "d" for a disconnect) as the driver's bits
local function bits(err, ev)
  if err then return 4 end
  return (ev:find("[rd]") and 1 or 0) + (ev:find("w", 1, true) and 2 or 0)
end

-- the driver's loop face (kadoa.request: Driver:attach)
---@param fd integer
---@param want integer 1 read, 2 write, 3 both, 0 stop
function Room:watch(fd, want)
  local p = self.polls[fd]
  if want == 0 then
    if p then
      -- stop is synchronous: the fd leaves libuv's set before the core closes it
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
    -- libuv stops the handle on a socket error (a refused connect); libcurl
    -- decides whether it still wants the socket
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

-- follow(room, t, cb [, post]): a kadoa.task (or request) moved on from the
-- loop until it is over, then cb(res, err) once. Its exchanges wake it
-- through the driver, its sleeps through a timer of its own; post runs its
-- code (default: room:post, never inside the driver's work; Neovim passes
-- its main loop). It is held until then: a callback is a promise to answer.
---@param room table from M.room
---@param t kadoa.Task|kadoa.Request
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

-- track(room, req, cb): cb(res, err) once req (client:send's) settles, on the loop.
---@param room table from M.room
---@param req kadoa.Request|kadoa.Task
---@param cb fun(res: any, err: kadoa.Error|nil)
function M.track(room, req, cb) M.follow(room, req, cb) end

-- run(client, fn, cb [, uv]) -> task: fn(c) as a kadoa.task, cb(res, err)
-- once with what it returned; task:cancel() stops it.
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

-- call(client, name, ..., callback) -> task: client[name](client, ...) on
-- the loop; callback(res, err) exactly once, on the loop, with what the
-- blocking call would return, or "request was cancelled" after cancel().
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

-- status_many(client, ids, opts, callback): client:status_many on the loop;
-- callback(results | nil, err) once, on the loop (an error raised by
-- opts.on_result comes as the task's error).
---@param client kadoa.Client
---@param ids string[]
---@param opts kadoa.ManyOptions|nil
---@param callback fun(results: table|nil, err: kadoa.Error|nil)
---@return kadoa.Task
function M.status_many(client, ids, opts, callback)
  return M.run(client, function(c) return c:status_many(ids, opts) end, callback)
end

return M
