-- kadoa.nvim.driver: non-blocking requests driven by Neovim's own loop.
--
-- Each client's driver (kadoa.request) is served by kadoa.luv's room over
-- vim.loop: a poll handle per socket libcurl wants watched and one timer
-- for libcurl's timer and the retries. The editor wakes only when a socket
-- is ready or that timer falls due, never to look for nothing. A socket
-- libcurl closes is closed only after its poll handle stopped (the core
-- waits for the room's word), so libuv never watches a closed fd.
-- Each request that settles is handed to its callback on the main loop
-- (vim.schedule), where every vim.api function may be used.

local uv = vim.uv or vim.loop
local luv = require("kadoa.luv")

local M = {}

local function deliver(cb, res, err)
  vim.schedule(function() cb(res, err) end)
end

-- track(client, req, cb): cb(res, err) once req settles (or is
-- cancelled), on the main loop. req must come from client:send.
---@param client kadoa.Client
---@param req kadoa.Request
---@param cb fun(res: any, err: kadoa.Error|nil)
function M.track(client, req, cb)
  local room = luv.room(client, uv)
  if req:done() then
    deliver(cb, req:poll())
    return
  end
  luv.track(room, req, function(res, err) deliver(cb, res, err) end)
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
  luv.room(client, uv)
  local req, err = client:send(name, ...)
  if not req then
    deliver(cb, nil, err)
    return nil, err
  end
  M.track(client, req, cb)
  return req
end

-- stats(client) -> { wakes, pending, sockets, timer }: how often the loop
-- woke the driver, the requests and tasks (kadoa.nvim.async's too) not yet
-- settled, the sockets watched and whether the timer is armed; for
-- :checkhealth and tests.
---@param client kadoa.Client
---@return { wakes: integer, pending: integer, sockets: integer, timer: boolean }
function M.stats(client)
  local room = luv.room(client, uv)
  local n, live = 0, 0
  for _ in pairs(room.polls) do n = n + 1 end
  for _ in pairs(room.live) do live = live + 1 end
  return { wakes = room.wakes, pending = live, sockets = n,
           timer = room.t ~= nil and room.t:is_active() }
end

return M
