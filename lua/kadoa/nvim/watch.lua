-- kadoa.nvim.watch: watching crawls without blocking the editor. A watch is kadoa.wait
-- as a task of kadoa.nvim.async, so its callbacks run on the main loop; progress shows
-- in one vim.notify replaced as it goes, in statusline() and as User KadoaUpdate.

local options = require("kadoa.options")
local async = require("kadoa.nvim.async")

local M = {}

M.list = {}   -- the watches, in the order they were started
local by_id = {}

-- What watch() takes: kadoa.wait's options, and these.
---@class kadoa.nvim.WatchOptions: kadoa.WaitOptions
---@field notify? boolean report with vim.notify (default: setup's notify)
---@field on_done? fun(res: kadoa.StatusResult|nil, err: kadoa.Error|nil) once, when it is over

local EXTRA = { notify = options.declarations.notify, on_done = "function" }

local function short_text(w)
  local fmt = require("kadoa.format")
  local parts = { fmt.short_id(w.id) }
  local p = type(w.result) == "table" and type(w.result.payload) == "table" and w.result.payload
  if p and type(p.crawledPages) == "number" then
    parts[#parts + 1] = fmt.number(p.crawledPages) .. "p"
  end
  parts[#parts + 1] = w.state ~= "running" and w.state or w.retrying and "retrying" or "crawling"
  return table.concat(parts, " ")
end

-- statusline() -> "" when nothing is watched, else e.g. "kadoa: 8f3a…91c2 24p crawling"
---@return string
function M.statusline()
  if #M.list == 0 then return "" end
  local items = {}
  for _, w in ipairs(M.list) do items[#items + 1] = short_text(w) end
  return "kadoa: " .. table.concat(items, ", ")
end

local function changed(w)
  pcall(vim.cmd, "redrawstatus")
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "KadoaUpdate", modeline = false })
  if not w.notify then return end
  local fmt = require("kadoa.format")
  local text
  if w.state == "failed" then
    text = fmt.format_error(w.err)
  elseif w.result and w.state ~= "stopped" then
    text = fmt.format(w.result, { id = w.id })
  else
    text = short_text(w)
  end
  local ok, rec = pcall(vim.notify, "kadoa: " .. text,
    w.state == "failed" and vim.log.levels.ERROR or vim.log.levels.INFO,
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

-- watch:stop(): no more polls or callbacks; the request in flight is cancelled. Idempotent.
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

-- start(client, id, opts, defaults) -> watch | nil, err; kadoa.wait's options over
-- setup's wait. Watching an id again replaces its earlier watch.
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
  local wopts = options.merge(defaults.wait, opts)
  wopts.notify, wopts.on_done = nil, nil
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

-- stop([id]) -> whether anything was stopped: one watch, or every watch
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
