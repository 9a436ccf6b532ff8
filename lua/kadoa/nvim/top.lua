-- kadoa.nvim.top: :KadoaTop, kadoa.fleet (what `kadoa top` shows) live in one buffer,
-- kadoa://top. Each refresh, pause and resume is a task of kadoa.nvim.async over the
-- client's task proxy; the next refresh is due m:delay() seconds after one is over.
-- Nobody looking, nothing running: hidden, its timer stops and the refresh in flight
-- is cancelled; shown again, it refreshes at once.

local uv = vim.uv or vim.loop
local api = vim.api
local async = require("kadoa.nvim.async")
local browse = require("kadoa.nvim.browse")
local view_text = require("kadoa.fleet.view")
local err_text = view_text.error_text

local M = {}

M.name = "kadoa://top"

-- The options of open() and setup's top: the view's own, then kadoa.fleet's.
---@class kadoa.nvim.TopOptions: kadoa.FleetOptions
---@field confirm? boolean p and r ask first (default true)
---@field split? boolean open in a new window

-- What state() tells about a view.
---@class kadoa.nvim.TopState
---@field model kadoa.fleet.Fleet
---@field snap? kadoa.fleet.Snapshot the one drawn last (after a broken refresh: stale, error a string)
---@field visible boolean shown in some window
---@field refreshing? boolean a refresh is in flight
---@field timer boolean the next refresh is scheduled
---@field pending integer refreshes in flight (0 or 1)
---@field ids table<integer, string> buffer line -> session id

local views = {}   -- buffer -> { model, snap, timer, task, visible, ids, refreshing, good_at }

local function kn() return require("kadoa.nvim") end

-- The model's client: the task proxy of kadoa.nvim's current client, so a setup with
-- new client options moves the view to the new client.
local last_client, last_proxy
local model_client = setmetatable({}, { __index = function(_, k)
  local c = kn().client()
  if not c then   -- the model still reads its clock
    return k == "settings" and { clock = function() return uv.hrtime() / 1e9 end } or nil
  end
  if c ~= last_client then last_client, last_proxy = c, require("kadoa.task").proxy(c) end
  return last_proxy[k]
end })

-- fn() as a task over the current client; what it raises (a bug in the model), or no
-- client, goes to on_crash
local function spawn(fn, on_crash)
  local client, cerr = kn().client()
  if not client then return on_crash(cerr) end
  return async.run(client, fn, function(_, err)
    if err ~= nil then on_crash(err) end
  end)
end

local function set_state(buf, state)
  pcall(api.nvim_buf_set_var, buf, "kadoa_state", state)
end

-- The table is kadoa.fleet.view's, cut to the widest window showing the buffer; only
-- the line under the totals is the buffer's own. Each window's cursor stays on its
-- session as rows move.
local function draw(buf, view)
  if not api.nvim_buf_is_valid(buf) then return end
  local cursors, width = {}, 0
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    local row = api.nvim_win_get_cursor(win)[1]
    cursors[win] = { id = view.ids[row], row = row }
    width = math.max(width, api.nvim_win_get_width(win))
  end
  if width == 0 then width = 100 end
  local snap, at = view.snap, view.good_at or "-"
  local lines, ids = {
    snap and view_text.totals_line(snap) or "kadoa top: loading...",
    snap and snap.stale and "STALE since " .. at .. ": " .. err_text(snap.error or "refresh failed", 160)
      or "refreshed " .. at .. "   p pause  r resume  <CR> pages  q close",
    view_text.heading(width),
  }, {}
  for _, r in ipairs(snap and snap.rows or {}) do
    lines[#lines + 1] = view_text.row_line(r, width)
    ids[#lines] = r.id
  end
  browse.put_lines(buf, 0, -1, lines)
  view.ids = ids
  for win, c in pairs(cursors) do
    local target = c.row
    for line, id in pairs(ids) do if id == c.id then target = line end end
    pcall(api.nvim_win_set_cursor, win, { math.min(target, #lines), 0 })
  end
end

local schedule_next

-- A broken model (or drawing) must not end the view: keep the rows, say why, try later.
local function broken(buf, view, e)
  if views[buf] ~= view then return end
  view.snap = setmetatable({ stale = true, error = "kadoa: top failed: " .. tostring(e) },
    { __index = view.snap or {} })
  pcall(draw, buf, view)
  set_state(buf, "stale")
  schedule_next(buf, view)
end

-- one refresh in a task; a view hidden meanwhile (its task cancelled) or wiped draws nothing
local function refresh(buf, view)
  if view.refreshing or not view.visible or views[buf] ~= view then return end
  view.refreshing = true
  local t
  t = spawn(function()
    local snap = view.model:refresh()
    if view.task ~= t or views[buf] ~= view then return end
    view.refreshing, view.task = false, nil
    if type(snap) ~= "table" then error("refresh gave " .. type(snap)) end
    view.snap = snap
    if not snap.stale then view.good_at = os.date("%H:%M:%S") end
    draw(buf, view)
    set_state(buf, snap.stale and "stale" or "live")
    pcall(api.nvim_exec_autocmds, "User", { pattern = "KadoaTopUpdate", modeline = false })
    schedule_next(buf, view)
  end, function(e)
    if view.task ~= t then return end
    view.refreshing, view.task = false, nil
    broken(buf, view, e)
  end)
  if view.refreshing then view.task = t end
end

function schedule_next(buf, view)
  if not view.visible or views[buf] ~= view then return end
  local ok, d = pcall(view.model.delay, view.model)
  if not ok or type(d) ~= "number" or d ~= d then d = 5 end
  view.timer:stop()
  view.timer:start(math.max(0, math.floor(d * 1000 + 0.5)), 0, function()
    vim.schedule(function() refresh(buf, view) end)
  end)
end

local function wake(buf, view)
  if view.visible then return end
  view.visible = true
  refresh(buf, view)
end

local function sleep(view)
  if not view.visible then return end
  view.visible = false
  if not view.timer:is_closing() then view.timer:stop() end
  local t = view.task
  if t then
    view.task, view.refreshing = nil, false
    t:cancel()
  end
end

local function row_id(buf)
  local view = views[buf]
  local id = view and view.ids[api.nvim_win_get_cursor(0)[1]]
  if not id then
    vim.notify("kadoa: no session on this line", vim.log.levels.WARN, { title = "kadoa" })
  end
  return id, view
end

-- p / r: m:pause(id) or m:resume(id) in a task of its own, which hiding does not
-- cancel: the user asked for it
local function control(buf, what)
  local id, view = row_id(buf)
  if not id then return end
  local f = require("kadoa.format")
  for _, r in ipairs(view.snap and view.snap.rows or {}) do
    if r.id == id and (r.state == "finished" or r.state == "failed") then
      return vim.notify("kadoa: " .. f.short_id(id) .. " is " .. r.state .. ": nothing to " .. what,
        vim.log.levels.WARN, { title = "kadoa" })
    end
  end
  local verb = what == "pause" and "Pause" or "Resume"
  if view.confirm and vim.fn.confirm(verb .. " crawl " .. f.text(id) .. "?", "&Yes\n&No", 2) ~= 1 then
    return
  end
  local function failed(err)
    vim.notify("kadoa: " .. what .. " " .. f.short_id(id) .. ": " .. err_text(err, 200),
      vim.log.levels.ERROR, { title = "kadoa" })
  end
  spawn(function()
    local res, err = view.model[what](view.model, id)
    if not res and err ~= nil then failed(err) end
    if views[buf] ~= view then return end
    view.snap = view.model:snapshot()   -- the call's outcome (a failed one unmarks)
    draw(buf, view)
    if view.visible and not view.refreshing then
      view.timer:stop()
      refresh(buf, view)
    end
  end, failed)
  -- the model marked the row before its request went out: show it now
  if views[buf] == view then
    view.snap = view.model:snapshot()
    draw(buf, view)
  end
end

local function existing()
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(b) == M.name and views[b] then return b end
  end
end

-- open([opts]) -> kadoa://top | nil, err (bad options, no client: also notified).
-- Asked for again while it exists, the same buffer is shown; new options make a new model.
---@param opts? kadoa.nvim.TopOptions
---@return integer|nil buf
---@return kadoa.Error|nil err
function M.open(opts)
  local o = require("kadoa.options").merge(kn().config.top, opts)
  local buf = existing()
  if buf and not opts then
    browse.show(buf, o.split)
    return buf
  end
  local view = { ids = {}, visible = false, confirm = o.confirm ~= false }
  local split = o.split
  o.confirm, o.split = nil, nil   -- the rest is kadoa.fleet's
  local _, merr = kn().client()
  local model
  if not merr then model, merr = require("kadoa.fleet").new(model_client, o) end
  if not model then   -- the view already open (if any) goes on as it was
    vim.notify("kadoa: top: " .. err_text(merr, 300), vim.log.levels.ERROR, { title = "kadoa" })
    return nil, merr
  end
  view.model, view.timer = model, uv.new_timer()
  -- hidden, not wiped: shown again, it picks up where it was
  buf = browse.scratch(M.name, "kadoa-top", "hide", {
    p = { function(b) control(b, "pause") end, "pause the crawl on this line" },
    r = { function(b) control(b, "resume") end, "resume the crawl on this line" },
    ["<CR>"] = { function(b)
      local id = row_id(b)
      if id then return kn().pages(id, { split = true }) end
    end, "list the pages of the crawl on this line" },
    q = { function(b) browse.close(b, true) end, "close" },
  })
  views[buf] = view
  set_state(buf, "loading")

  local group = api.nvim_create_augroup("kadoa_top_" .. buf, { clear = true })
  local function on(event, fn, all)
    api.nvim_create_autocmd(event, { group = group, buffer = not all and buf or nil, callback = fn })
  end
  on("BufWinEnter", function() wake(buf, view) end)
  on("BufHidden", function() sleep(view) end)
  -- leaving one window of several: is it still seen elsewhere, once the window is gone?
  on("BufWinLeave", function()
    vim.schedule(function()
      if views[buf] == view and #vim.fn.win_findbuf(buf) == 0 then sleep(view) end
    end)
  end)
  on("VimResized", function()   -- the rows are cut to the window
    if views[buf] == view and view.visible then pcall(draw, buf, view) end
  end, true)
  on("BufWipeout", function()
    sleep(view)
    views[buf] = nil
    if not view.timer:is_closing() then view.timer:close() end
    pcall(api.nvim_del_augroup_by_id, group)
  end)

  draw(buf, view)
  browse.show(buf, split)
  wake(buf, view)   -- a split that did not fire BufWinEnter
  return buf
end

-- state([buf]) -> what a top view is doing, for tests and scripts; nil: not a top view
---@param buf? integer the view's buffer (default: kadoa://top)
---@return kadoa.nvim.TopState|nil state
function M.state(buf)
  local view = views[buf or existing() or -1]
  if not view then return nil end
  return { model = view.model, snap = view.snap, visible = view.visible,
           refreshing = view.refreshing, timer = view.timer:is_active(),
           pending = view.task and not view.task:ready() and 1 or 0, ids = view.ids }
end

return M
