-- kadoa.nvim.async: the one coroutine adapter of the Neovim side. Library
-- code written blocking-style (kadoa.wait for watch, kadoa.fleet's refresh
-- for top, many at once inside it) runs as a kadoa.task over the client,
-- and is moved on here, always on the main loop (so it may use vim.api):
-- while it waits for an exchange, kadoa.nvim.driver's timer watches for
-- the answer (task:ready() runs none of its code); while it sleeps, a
-- libuv timer waits for the time, and nothing polls.
--
--   local t = async.run(client, function(c) return c:status(id) end, cb)
--   t:cancel()   -- its request cancelled; cb(nil, "request was cancelled")

local uv = vim.uv or vim.loop
local task = require("kadoa.task")
local driver = require("kadoa.nvim.driver")

local M = {}

local function drive(client, t, cb)
  if t:done() then return cb(t:poll()) end
  local again = function() drive(client, t, cb) end
  if t.wake then
    local timer = uv.new_timer()
    timer:start(math.max(0, t:timeout()), 0, function()
      timer:close()
      vim.schedule(again)
    end)
  else
    driver.track(client, { done = function() return t:ready() end, poll = function() end,
                           cancel = function() t:cancel() end }, again)
  end
end

-- run(client, fn, cb) -> task: fn(c) with c the client's task proxy (its
-- calls yield); cb(res, err) once, on the main loop, with what fn returned
-- (or nil and "request was cancelled" after task:cancel()).
---@param client kadoa.Client
---@param fn fun(c: kadoa.Client): any, any
---@param cb fun(res: any, err: any)
---@return kadoa.Task
function M.run(client, fn, cb)
  local t = task.start(client, fn)
  drive(client, t, function(res, err) vim.schedule(function() cb(res, err) end) end)
  return t
end

return M
