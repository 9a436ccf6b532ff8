-- kadoa.nvim.async: the one coroutine adapter of the Neovim side: blocking-style
-- library code (kadoa.wait, kadoa.fleet's refresh) as a kadoa.task moved on by
-- kadoa.luv over vim.loop, its code always run on the main loop (so it may use vim.api).

local uv = vim.uv or vim.loop
local task = require("kadoa.task")
local luv = require("kadoa.luv")

local M = {}

-- run(client, fn, cb) -> task: fn(c), c the client's task proxy; cb(res, err) once, on
-- the main loop (nil and "request was cancelled" after task:cancel()).
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
