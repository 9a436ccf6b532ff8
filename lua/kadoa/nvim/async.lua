-- kadoa.nvim.async: the one coroutine adapter of the Neovim side. Library
-- code written blocking-style (kadoa.wait for watch, kadoa.fleet's refresh
-- for top, many at once inside it) runs as a kadoa.task over the client,
-- moved on by kadoa.luv over vim.loop, but always on the main loop (so it
-- may use vim.api): an exchange that lands wakes it through the driver's
-- socket events, a sleep through a libuv timer, and nothing polls.
--
--   local t = async.run(client, function(c) return c:status(id) end, cb)
--   t:cancel()   -- its request cancelled; cb(nil, "request was cancelled")

local uv = vim.uv or vim.loop
local task = require("kadoa.task")
local luv = require("kadoa.luv")

local M = {}

-- run(client, fn, cb) -> task: fn(c) with c the client's task proxy (its
-- calls yield); cb(res, err) once, on the main loop, with what fn returned
-- (or nil and "request was cancelled" after task:cancel()).
---@param client kadoa.Client
---@param fn fun(c: kadoa.Client): any, any
---@param cb fun(res: any, err: any)
---@return kadoa.Task
function M.run(client, fn, cb)
  local room = luv.room(client, uv)
  local t = task.start(client, fn)
  luv.follow(room, t, cb, vim.schedule)
  return t
end

return M
