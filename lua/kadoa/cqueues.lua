-- kadoa.cqueues: calls that yield to a cqueues controller (the loop under
-- lua-http) instead of blocking it: from a coroutine the controller runs,
-- call(...) returns what the blocking call returns. One pump per client, a
-- coroutine on the same controller, serves the client's driver: it polls the
-- sockets libcurl wants watched and one timeout (libcurl's and the retries'),
-- and nothing else. No retry, option or error logic lives here.
--
--   cq:wrap(function() local res, err = require("kadoa.cqueues").call(client, "status", id) end)

local serve = require("kadoa.request").serve

local M = {}

local unpack = table.unpack or unpack   -- luacheck: ignore

local Room = {}
Room.__index = Room

local EVENTS = { "r", "w", "rw" }

-- a socket as cqueues' pollable object
local Sock = {}
Sock.__index = Sock
---@return integer fd
function Sock:pollfd() return self.fd end
---@return string events "r", "w" or "rw"
function Sock:events() return EVENTS[self.want] end

-- the driver's loop face (kadoa.request: Driver:attach)
---@param fd integer
---@param want integer 1 read, 2 write, 3 both, 0 stop
function Room:watch(fd, want)
  local s = self.socks[fd]
  if want == 0 then
    if s then
      self.socks[fd] = nil
      require("cqueues").cancel(fd)   -- out of cqueues' own set: the core closes it right after
    end
  elseif s then
    s.want = want
  else
    self.socks[fd] = setmetatable({ fd = fd, want = want }, Sock)
  end
  if not self.busy then self.changed:signal() end
end

---@param ms integer -1: none
function Room:timer(ms)
  self.due = ms >= 0 and require("cqueues").monotime() + ms / 1000 or nil
  if not self.busy then self.changed:signal() end
end

-- The pump: while the driver has a socket to watch or a time to wake,
-- wait for one of them (or for a change of the set) and tell the driver.
local function pump(self)
  local cqueues = require("cqueues")
  while next(self.socks) or self.due do
    local list = { self.changed }
    for _, s in pairs(self.socks) do list[#list + 1] = s end
    if self.due then list[#list + 1] = math.max(0, self.due - cqueues.monotime()) end
    local ready = { cqueues.poll(unpack(list)) }
    for _, s in ipairs(ready) do
      if getmetatable(s) == Sock and self.socks[s.fd] == s then
        serve(self, self.driver.ready, s.fd, s.want)
      end
    end
    if self.due and self.due <= cqueues.monotime() then serve(self, self.driver.fire) end
  end
  self.pumping = false
end

-- room(client) -> the room serving client's driver on the running
-- controller, its pump started if it is not running.
---@param client kadoa.Client
---@return table room with `wakes` (pump turns so far)
function M.room(client)
  local controller = require("cqueues").running()
  if not controller then
    error("kadoa.cqueues: call it from a coroutine run by a cqueues controller", 3)
  end
  local d = client:driver()
  local room = d.loop
  if not (room and getmetatable(room) == Room) then
    room = setmetatable({ driver = d, socks = {}, wakes = 0, queue = {},
      changed = require("cqueues.condition").new() }, Room)
    d:attach(room)
  end
  if not room.pumping and (next(room.socks) or room.due) then
    room.pumping = true
    controller:wrap(function() pump(room) end)
  end
  return room
end

-- run(client, fn, ...) -> what fn(c, ...) returns as a kadoa.task, this
-- coroutine sleeping on a condition until the task moves.
---@param client kadoa.Client
---@param fn fun(c: kadoa.Client, ...): any, any
---@param ... any fn's further arguments
---@return any res
---@return any err
function M.run(client, fn, ...)
  M.room(client)
  local moved = require("cqueues.condition").new()
  local t = require("kadoa.task").start(client, fn, ...)
  t.notify = function() moved:signal() end
  while not t:done() do
    M.room(client)   -- the pump again, if it had nothing left to watch
    local ms = t:sleep_ms()
    if ms >= 0 then moved:wait(ms / 1000) else moved:wait() end
  end
  return t:poll()
end

---@param client kadoa.Client
---@param name string a call of kadoa.api
---@param ... any its arguments and options
---@return any res
---@return kadoa.Error|nil err
function M.call(client, name, ...)
  if not require("kadoa.api").calls[name] then
    error(("bad argument #2 to 'call' (no API call named '%s')"):format(tostring(name)), 2)
  end
  return M.run(client, function(c, ...) return c[name](c, ...) end, ...)
end

---@param client kadoa.Client
---@param ids string[]
---@param opts? kadoa.ManyOptions
---@return table|nil results
---@return kadoa.Error|nil err
function M.status_many(client, ids, opts)
  return M.run(client, function(c) return c:status_many(ids, opts) end)
end

return M
