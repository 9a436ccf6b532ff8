-- kadoa.nvim.driver: non-blocking requests driven by Neovim's own loop: each client's
-- driver is served by kadoa.luv's room over vim.loop, so the editor wakes only when a
-- socket is ready or the timer falls due. Outcomes reach callbacks on the main loop.

local uv = vim.uv or vim.loop
local luv = require("kadoa.luv")

local M = {}

local function deliver(cb, res, err)
  vim.schedule(function() cb(res, err) end)
end

-- call(client, cb, name, ...) -> request | nil, err: client:send(name, ...), cb(res, err)
-- once it settles; an error send gives goes to cb too, so cb is the one place for outcomes.
---@param client kadoa.Client
---@param cb fun(res: any, err: kadoa.Error|nil)
---@param name string a call of kadoa.api
---@param ... any its arguments and options
---@return kadoa.Request|nil
---@return kadoa.Error|nil err
function M.call(client, cb, name, ...)
  local room = luv.room(client, uv)
  local req, err = client:send(name, ...)
  if not req then
    deliver(cb, nil, err)
    return nil, err
  end
  if req:done() then
    deliver(cb, req:poll())
  else
    luv.track(room, req, function(res, rerr) deliver(cb, res, rerr) end)
  end
  return req
end

-- stats(client) -> { wakes, pending, sockets, timer }: how often the loop woke the
-- driver, the requests and tasks not yet settled, the sockets watched and whether the
-- timer is armed; for :checkhealth and tests.
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
