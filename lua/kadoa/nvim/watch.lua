-- kadoa.nvim.watch: watching crawls without blocking the editor.
--
-- A watch runs kadoa.wait, the library's own schedule, as a task
-- (kadoa.nvim.async): its status calls go out as non-blocking requests
-- and its sleeps are libuv timers, and each yields to the loop until the
-- answer or the timer is in. Everything in it runs on the main loop, so
-- callbacks, notifications and autocommands may use vim.api.
-- Progress shows in vim.notify (one notification replaced as it goes),
-- in statusline() and as the User KadoaUpdate autocommand.

local options = require("kadoa.options")
local async = require("kadoa.nvim.async")

local M = {}

M.list = {}   -- the watches, in the order they were started
local by_id = {}

-- What watch() takes: kadoa.wait's options, and these.
---@class kadoa.nvim.WatchOptions: kadoa.WaitOptions
---@field notify? boolean report with vim.notify (default: setup's notify)
---@field on_done? fun(res: kadoa.StatusResult|nil, err: kadoa.Error|nil) once, when it is over

-- what watch takes besides kadoa.wait's own options
local EXTRA = { notify = options.declarations.notify, on_done = "function" }

local function short_text(w)
  local fmt = require("kadoa.format")
  local parts = { fmt.short_id(w.id) }
  local p = type(w.result) == "table" and type(w.result.payload) == "table" and w.result.payload
  if p and type(p.crawledPages) == "number" then
    parts[#parts + 1] = fmt.number(p.crawledPages) .. "p"
  end
  if w.state == "running" then
    parts[#parts + 1] = w.retrying and "retrying" or "crawling"
  else
    parts[#parts + 1] = w.state
  end
  return table.concat(parts, " ")
end

-- statusline() -> "" when nothing is watched, else one short item per
-- watch, e.g. "kadoa: 8f3a…91c2 24p crawling". Cheap: reads state only.
---@return string
function M.statusline()
  if #M.list == 0 then return "" end
  local items = {}
  for _, w in ipairs(M.list) do items[#items + 1] = short_text(w) end
  return "kadoa: " .. table.concat(items, ", ")
end

-- Tell the user: statusline, autocommand and (when asked) a notification
-- that replaces the watch's previous one.
local function changed(w)
  pcall(vim.cmd, "redrawstatus")
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "KadoaUpdate", modeline = false })
  if not w.notify then return end
  local fmt = require("kadoa.format")
  local level = (w.state == "failed") and vim.log.levels.ERROR or vim.log.levels.INFO
  local text
  if w.state == "failed" then
    text = fmt.format_error(w.err)
  elseif w.result and w.state ~= "stopped" then
    text = fmt.format(w.result, { id = w.id })
  else
    text = short_text(w)
  end
  local ok, rec = pcall(vim.notify, "kadoa: " .. text, level,
    { title = "kadoa", replace = w.notification })
  if ok and type(rec) == "table" then w.notification = rec end   -- nvim-notify & co.
end

-- A running (or finished) watch, as watch() returns it.
---@class kadoa.nvim.Watch
---@field id string the session id
---@field state "running"|"finished"|"failed"|"stopped"
---@field result? kadoa.StatusResult the last status seen
---@field err? kadoa.Error why it failed
---@field retrying? boolean the last poll failed and is being retried
local Watch = {}
Watch.__index = Watch

-- watch:stop(): no more polls or callbacks; the request in flight is
-- cancelled. Idempotent.
function Watch:stop()
  if self.state == "running" then
    self.state = "stopped"
    if self.task then self.task:cancel() end
    changed(self)
  end
  for i, w in ipairs(M.list) do
    if w == self then table.remove(M.list, i) break end
  end
  if by_id[self.id] == self then by_id[self.id] = nil end
end

-- start(client, id, opts, defaults) -> watch | nil, err
-- opts: kadoa.wait's options over `defaults` (setup's wait), plus notify
-- and on_done(res, err). Watching an id again replaces its earlier watch.
---@param client kadoa.Client
---@param id string
---@param opts? kadoa.nvim.WatchOptions
---@param defaults kadoa.nvim.Options setup's configuration
---@return kadoa.nvim.Watch|nil
---@return kadoa.Error|nil err
function M.start(client, id, opts, defaults)
  local _, bad = options.check("wait", opts, "watch", EXTRA)
  if bad then return nil, bad end
  opts = opts or {}
  if by_id[id] then by_id[id]:stop() end

  local w = setmetatable({ id = id, state = "running", notify = defaults.notify }, Watch)
  if opts.notify ~= nil then w.notify = opts.notify end
  local on_done = opts.on_done

  local wopts = {}
  for k, v in pairs(defaults.wait or {}) do wopts[k] = v end
  for k, v in pairs(opts) do
    if EXTRA[k] == nil then wopts[k] = v end
  end
  local user_update, user_error = wopts.on_update, wopts.on_error
  wopts.on_update = function(res, info)
    w.result, w.info, w.retrying = res, info, false
    changed(w)
    if user_update then user_update(res, info) end
  end
  wopts.on_error = function(err, info)
    w.retrying, w.last_error = true, err
    changed(w)
    if user_error then user_error(err, info) end
  end

  M.list[#M.list + 1] = w
  by_id[id] = w
  -- its polls are the task's (retries = 0 each, so max_failures counts
  -- requests as in the library and the command), its sleeps yield
  w.task = async.run(client, function(c) return require("kadoa.wait").wait(c, id, wopts) end,
    function(res, err)
      if w.state ~= "running" then return end
      if res then
        w.state, w.result = "finished", res
      else
        w.state, w.err = "failed", err
        if type(err) == "table" and type(err.result) == "table" then w.result = err.result end
      end
      changed(w)
      if on_done then on_done(res, err) end
    end)
  return w
end

-- stop([id]) -> whether anything was stopped: one watch, or every watch;
-- finished ones are cleared from the statusline too.
---@param id? string one session id; none: every watch
---@return boolean stopped
function M.stop(id)
  if id then
    local w = by_id[id]
    if w then w:stop() return true end
    return false
  end
  local all = { unpack(M.list) }
  for _, w in ipairs(all) do w:stop() end
  return #all > 0
end

return M
