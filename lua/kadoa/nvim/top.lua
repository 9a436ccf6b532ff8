-- kadoa.nvim.top: :KadoaTop, every crawl of the account in one live buffer
-- (kadoa://top), the Neovim face of kadoa.fleet (what `kadoa top` shows).
--
-- kadoa.fleet is host-neutral: it does I/O only through its client's
-- sessions/status_many/pause/resume and never sleeps. Here each refresh
-- (and each pause or resume) runs as a task of kadoa.nvim.async, over the
-- client's task proxy, as kadoa.nvim.watch runs kadoa.wait; status_many
-- is kadoa.many's, its workers tasks too. When a refresh is over the
-- table is redrawn in place and the next one is due after m:delay()
-- seconds, on a libuv timer.
--
-- Nobody looking, nothing running: when the buffer leaves its last window
-- the timer stops and a refresh in flight is cancelled; when it is shown
-- again a refresh starts at once. Keys: p pauses and r resumes the session
-- on the cursor's line (after a confirm, unless setup's top.confirm is
-- false), <CR> lists its pages (:KadoaPages), q closes. b:kadoa_state is
-- "loading" until the first refresh is in, then "live" or "stale".

local uv = vim.uv or vim.loop
local api = vim.api
local async = require("kadoa.nvim.async")
local task = require("kadoa.task")

local M = {}

-- the buffer's name: there is one top view
M.name = "kadoa://top"

-- The options of open() and setup's top: the view's own, then
-- kadoa.fleet's (every other name goes to fleet.new, which checks it).
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

-- options of the view itself; the rest of top's options go to kadoa.fleet
local VIEW_OPTS = { confirm = true, split = true }

-- buffer -> view { model, snap, timer, task, visible, ids, refreshing }
local views = {}

local function kn() return require("kadoa.nvim") end
local function fmt() return require("kadoa.format") end

-- The model's client: the task proxy of kadoa.nvim's current client (a
-- setup with new client options moves the view to the new client).
local last_client, last_proxy
local model_client = setmetatable({}, { __index = function(_, k)
  local c = kn().client()
  if not c then   -- the model still reads its clock
    return k == "settings" and { clock = function() return uv.hrtime() / 1e9 end } or nil
  end
  if c ~= last_client then last_client, last_proxy = c, task.proxy(c) end
  return last_proxy[k]
end })

-- spawn(fn, on_crash): fn() as a task over the current client; an error
-- it raises (a bug in the model) or no client goes to on_crash
local function spawn(fn, on_crash)
  local client, cerr = kn().client()
  if not client then return on_crash(cerr) end
  return async.run(client, fn, function(_, err)
    if err ~= nil then on_crash(err) end
  end)
end

---------------------------------------------------------------------------
-- Drawing

-- The table is kadoa.fleet.view's, as in `kadoa top` and the dashboard
-- (the totals line, the heading, one row per session, the optional
-- columns dropped as on a narrow terminal); only the line under the
-- totals is the buffer's: when it was refreshed, or STALE and why.

local view_text = require("kadoa.fleet.view")
local err_text = view_text.error_text

-- the width the rows are cut to: the widest window showing the buffer
local function width_of(buf)
  local w = 0
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    w = math.max(w, api.nvim_win_get_width(win))
  end
  return w > 0 and w or 100
end

local function header(view, width)
  local snap = view.snap
  local lines = {}
  lines[1] = snap and view_text.totals_line(snap) or "kadoa top: loading..."
  if snap and snap.stale then
    lines[2] = "STALE since " .. (view.good_at or "-") .. ": "
      .. err_text(snap.error or "refresh failed", 160)
  else
    lines[2] = "refreshed " .. (view.good_at or "-") .. "   p pause  r resume  <CR> pages  q close"
  end
  lines[3] = view_text.heading(width)
  return lines
end

-- Redraw the whole table; each window's cursor stays on the session it
-- was on (rows may move as sessions come and go).
local function draw(buf, view)
  if not api.nvim_buf_is_valid(buf) then return end
  local cursors = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    local row = api.nvim_win_get_cursor(win)[1]
    cursors[win] = { id = view.ids[row], row = row }
  end
  local width = width_of(buf)
  local lines, ids = header(view, width), {}
  local rows = view.snap and view.snap.rows or {}
  for _, r in ipairs(rows) do
    lines[#lines + 1] = view_text.row_line(r, width)
    ids[#lines] = r.id
  end
  require("kadoa.nvim.browse").put_lines(buf, 0, -1, lines)
  view.ids = ids
  for win, c in pairs(cursors) do
    local target = c.row
    if c.id then
      for line, id in pairs(ids) do if id == c.id then target = line end end
    end
    pcall(api.nvim_win_set_cursor, win, { math.min(target, #lines), 0 })
  end
end

local function set_state(buf, state)
  pcall(api.nvim_buf_set_var, buf, "kadoa_state", state)
end

---------------------------------------------------------------------------
-- The refresh loop

local schedule_next

-- A broken model (or drawing) must not end the view: keep the rows, say
-- why, try again later.
local function broken(buf, view, e)
  if views[buf] ~= view then return end
  view.snap = setmetatable({ stale = true, error = "kadoa: top failed: " .. tostring(e) },
    { __index = view.snap or {} })
  pcall(draw, buf, view)
  set_state(buf, "stale")
  schedule_next(buf, view)
end

-- one refresh of the model in a task; its snapshot is drawn unless the
-- view was hidden (its task cancelled: it winds down, drawing nothing) or wiped.
local function refresh(buf, view)
  if view.refreshing or not view.visible or views[buf] ~= view then return end
  view.refreshing = true
  local t
  t = spawn(function()
    local snap = view.model:refresh()
    -- hidden meanwhile (sleep cancelled it and let it go) or wiped
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
    if view.task ~= t then return end   -- hidden meanwhile: sleep() let it go
    view.refreshing, view.task = false, nil
    broken(buf, view, e)
  end)
  if view.refreshing then view.task = t end
end

function schedule_next(buf, view)
  if not view.visible or views[buf] ~= view then return end
  local ok, d = pcall(view.model.delay, view.model)
  if not ok or type(d) ~= "number" or d ~= d then d = 5 end
  local ms = math.max(0, math.floor(d * 1000 + 0.5))
  view.timer:stop()
  view.timer:start(ms, 0, function()
    vim.schedule(function() refresh(buf, view) end)
  end)
end

-- shown: refresh now (a view shown again is out of date)
local function wake(buf, view)
  if view.visible then return end
  view.visible = true
  refresh(buf, view)
end

-- hidden: no timer, and the refresh in flight is cancelled (its
-- coroutine ends on the cancellations, without drawing)
local function sleep(view)
  if not view.visible then return end
  view.visible = false
  if view.timer and not view.timer:is_closing() then view.timer:stop() end
  local t = view.task
  if t then
    view.task, view.refreshing = nil, false
    t:cancel()   -- the refresh winds down at once, and draws nothing
  end
end

local function visible(buf)
  return #vim.fn.win_findbuf(buf) > 0
end

---------------------------------------------------------------------------
-- Keys

local function row_id(buf)
  local view = views[buf]
  local id = view and view.ids[api.nvim_win_get_cursor(0)[1]]
  if not id then
    vim.notify("kadoa: no session on this line", vim.log.levels.WARN, { title = "kadoa" })
  end
  return id, view
end

local function row_of(view, id)
  for _, r in ipairs(view.snap and view.snap.rows or {}) do
    if r.id == id then return r end
  end
end

-- p / r: after a confirm, m:pause(id) or m:resume(id) in a coroutine of
-- its own (its request is not cancelled by hiding: the user asked for it)
local function control(buf, what)
  local id, view = row_id(buf)
  if not id then return end
  local f = fmt()
  local r = row_of(view, id)
  if r and (r.state == "finished" or r.state == "failed") then
    vim.notify("kadoa: " .. f.short_id(id) .. " is " .. r.state .. ": nothing to " .. what,
      vim.log.levels.WARN, { title = "kadoa" })
    return
  end
  if view.confirm then
    local verb = what == "pause" and "Pause" or "Resume"
    if vim.fn.confirm(verb .. " crawl " .. f.text(id) .. "?", "&Yes\n&No", 2) ~= 1 then return end
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
    -- show the effect soon, unless a refresh is already on its way
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

local function open_pages(buf)
  local id = row_id(buf)
  if id then return kn().pages(id, { split = true }) end
end

local function close(buf)
  if #api.nvim_list_wins() > 1 and api.nvim_get_current_buf() == buf then
    pcall(vim.cmd, "close")
  end
  pcall(api.nvim_buf_delete, buf, { force = true })
end

---------------------------------------------------------------------------

local function existing()
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(b) == M.name and views[b] then return b end
  end
end

local show = require("kadoa.nvim.browse").show   -- one way to put a buffer on screen

-- open([opts]) -> buffer: kadoa://top, shown in the current window (or a
-- split: opts.split) | nil, err (bad options, no client: also notified).
-- opts (over setup's top): confirm (default true: p and r ask first),
-- split, and kadoa.fleet's own options (interval, min_interval,
-- max_interval, concurrency, ...). Asked for again while it exists, the
-- same buffer is shown; new options make a new model.
---@param opts? kadoa.nvim.TopOptions
---@return integer|nil buf
---@return kadoa.Error|nil err
function M.open(opts)
  local defaults = kn().config.top or {}
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local buf = existing()
  if buf and not opts then
    show(buf, o.split)
    return buf
  end
  local fopts = {}
  for k, v in pairs(o) do if not VIEW_OPTS[k] then fopts[k] = v end end
  local view = { ids = {}, visible = false, confirm = o.confirm ~= false }
  -- no client, no model
  local _, lerr = kn().client()
  local model, merr = nil, lerr
  if not lerr then model, merr = require("kadoa.fleet").new(model_client, fopts) end
  if not model then
    -- bad options: the view already open (if any) goes on as it was
    vim.notify("kadoa: top: " .. err_text(merr, 300), vim.log.levels.ERROR, { title = "kadoa" })
    return nil, merr
  end
  view.model, view.timer = model, uv.new_timer()

  if buf then pcall(api.nvim_buf_delete, buf, { force = true }) end
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(b) == M.name then pcall(api.nvim_buf_delete, b, { force = true }) end
  end

  buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_option(buf, "buftype", "nofile")
  -- hidden, not wiped: shown again, it picks up where it was
  api.nvim_buf_set_option(buf, "bufhidden", "hide")
  api.nvim_buf_set_option(buf, "swapfile", false)
  api.nvim_buf_set_option(buf, "modifiable", false)
  api.nvim_buf_set_name(buf, M.name)
  api.nvim_buf_set_option(buf, "filetype", "kadoa-top")
  views[buf] = view
  set_state(buf, "loading")

  local map = function(lhs, fn, desc)
    vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, silent = true, desc = "kadoa: " .. desc })
  end
  map("p", function() control(buf, "pause") end, "pause the crawl on this line")
  map("r", function() control(buf, "resume") end, "resume the crawl on this line")
  map("<CR>", function() open_pages(buf) end, "list the pages of the crawl on this line")
  map("q", function() close(buf) end, "close")

  local group = api.nvim_create_augroup("kadoa_top_" .. buf, { clear = true })
  api.nvim_create_autocmd("BufWinEnter", { group = group, buffer = buf,
    callback = function() wake(buf, view) end })
  api.nvim_create_autocmd("BufHidden", { group = group, buffer = buf,
    callback = function() sleep(view) end })
  -- leaving one window of several: still seen elsewhere? look once the
  -- window is gone
  api.nvim_create_autocmd("BufWinLeave", { group = group, buffer = buf, callback = function()
    vim.schedule(function()
      if views[buf] == view and not visible(buf) then sleep(view) end
    end)
  end })
  -- the rows are cut to the window: a resized editor gets them again now,
  -- not at the next refresh
  api.nvim_create_autocmd("VimResized", { group = group, callback = function()
    if views[buf] == view and view.visible then pcall(draw, buf, view) end
  end })
  api.nvim_create_autocmd("BufWipeout", { group = group, buffer = buf, once = true, callback = function()
    sleep(view)
    views[buf] = nil
    if not view.timer:is_closing() then view.timer:close() end
    pcall(api.nvim_del_augroup_by_id, group)
  end })

  draw(buf, view)
  show(buf, o.split)
  -- BufWinEnter has fired in show(); a split that did not fire it still
  -- starts here
  wake(buf, view)
  return buf
end

-- state(buf) -> { model, snap, visible, refreshing, timer (active?),
-- pending (requests of the refresh in flight), ids (line -> session id) }
-- for tests and scripts; nil for a buffer that is not a top view.
---@param buf? integer the view's buffer (default: kadoa://top)
---@return kadoa.nvim.TopState|nil state
function M.state(buf)
  local view = views[buf or existing() or -1]
  if not view then return nil end
  local pending = view.task and not view.task:ready() and 1 or 0
  return { model = view.model, snap = view.snap, visible = view.visible,
           refreshing = view.refreshing, timer = view.timer:is_active(),
           pending = pending, ids = view.ids }
end

return M
