-- kadoa.nvim.top: :KadoaTop, every crawl of the account in one live buffer
-- (kadoa://top), the Neovim face of kadoa.fleet (what `kadoa top` shows).
--
-- kadoa.fleet is host-neutral: it does I/O only through its client's
-- sessions/status_many/pause/resume and never sleeps. Here it gets a PROXY
-- client whose methods start the non-blocking call on kadoa.nvim's driver
-- and yield until it settles, so m:refresh() runs in a coroutine that the
-- driver's timer moves forward one answer at a time (the same pattern as
-- kadoa.nvim.watch). When a refresh is over the table is redrawn in place
-- and the next one is due after m:delay() seconds, on a libuv timer.
--
-- Nobody looking, nothing running: when the buffer leaves its last window
-- the timer stops and a refresh in flight is cancelled; when it is shown
-- again a refresh starts at once. Keys: p pauses and r resumes the session
-- on the cursor's line (after a confirm, unless setup's top.confirm is
-- false), <CR> lists its pages (:KadoaPages), q closes. b:kadoa_state is
-- "loading" until the first refresh is in, then "live" or "stale".

local uv = vim.uv or vim.loop
local api = vim.api
local driver = require("kadoa.nvim.driver")

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
---@field pending integer requests of the refresh in flight
---@field ids table<integer, string> buffer line -> session id

-- options of the view itself; the rest of top's options go to kadoa.fleet
local VIEW_OPTS = { confirm = true, split = true }

-- buffer -> view { model, snap, gen, timer, reqs, visible, ids, refreshing }
local views = {}

local function kn() return require("kadoa.nvim") end
local function fmt() return require("kadoa.format") end

local function cancelled()
  return require("kadoa.errors").new("usage", "kadoa: request was cancelled (view hidden)")
end

local function err_text(err, max) return require("kadoa.fleet.view").error_text(err, max) end

---------------------------------------------------------------------------
-- The proxy client: each call starts a non-blocking request and yields
-- until it settles. `gen` ties the requests of one refresh to the view:
-- once the view is hidden (its gen moves on) they are cancelled and no
-- new one starts, so the model's refresh ends at once with errors and its
-- snapshot is dropped. Pause and resume pass gen = nil: a confirmed pause
-- goes through even if the view is hidden meanwhile.

-- resume(co, ...): the coroutine in which the proxy was called, resumed
-- with the outcome. An error raised inside it (a bug in the model) goes to
-- the handler the coroutine was made with, never into the scheduler's
-- hands. No pcall inside the coroutines: a Neovim on PUC Lua 5.1 cannot
-- yield across one.
local crash_handlers = setmetatable({}, { __mode = "k" })

local function resume(co, ...)
  local ok, e = coroutine.resume(co, ...)
  if not ok and crash_handlers[co] then crash_handlers[co](e) end
end

local function spawn(fn, on_crash)
  local co = coroutine.create(fn)
  crash_handlers[co] = on_crash
  resume(co)
end

-- await(view, gen, name, ...) -> what the call gives (res | nil, err)
local function await(view, gen, name, ...)
  if gen and view.gen ~= gen then return nil, cancelled() end
  local client, cerr = kn().client()
  if not client then return nil, cerr end
  local co = coroutine.running()
  if not co then error("kadoa.nvim.top: a proxy call outside a coroutine", 2) end
  local req
  -- the callback always comes on the main loop, after the yield below
  req = driver.call(client, function(res, err)
    if req then view.reqs[req] = nil end
    resume(co, res, err)
  end, name, ...)
  if req and gen then view.reqs[req] = true end
  return coroutine.yield()
end

-- status_many over the driver: one send("status", id) per distinct id,
-- at most opts.concurrency at once, and the table status_many returns
-- (id -> result or error value).
local function await_many(view, gen, ids, opts)
  opts = opts or {}
  local client, cerr = kn().client()
  if not client then return nil, cerr end
  local co = coroutine.running()
  if not co then error("kadoa.nvim.top: a proxy call outside a coroutine", 2) end
  local list, seen = {}, {}
  for i, id in ipairs(ids) do
    -- raised here, in the model's coroutine, as status_many raises: not
    -- later from a driver callback
    if type(id) ~= "string" then
      error(("bad argument #1 to 'status_many' (ids[%d] is a %s, string expected)")
        :format(i, type(id)), 3)
    end
    if not seen[id] then seen[id] = true list[#list + 1] = id end
  end
  local results = {}
  if #list == 0 then return results end
  local limit = tonumber(opts.concurrency) or 16
  local copts = { timeout = opts.timeout, retries = opts.retries, raw = opts.raw }
  if next(copts) == nil then copts = nil end
  local nextid, running, left = 1, 0, #list
  local waiting = false
  local fill
  local function landed(id, res, err)
    results[id] = res or err
    left = left - 1
    if opts.on_result then pcall(opts.on_result, id, res, err) end
  end
  function fill()
    while running < limit and nextid <= #list do
      local id = list[nextid]
      nextid = nextid + 1
      if gen and view.gen ~= gen then
        landed(id, nil, cancelled())
      else
        running = running + 1
        local req
        req = driver.call(client, function(res, err)
          if req then view.reqs[req] = nil end
          running = running - 1
          landed(id, res, err)
          fill()
          if left == 0 and waiting then
            waiting = false
            resume(co, results)
          end
        end, "status", id, copts)
        if req and gen then view.reqs[req] = true end
      end
    end
  end
  fill()
  if left == 0 then return results end
  waiting = true
  return coroutine.yield()
end

-- the model's one client: sessions and status_many belong to the refresh
-- running (view.refresh_gen), pause and resume to nobody
local function proxy_for(view)
  return setmetatable({
    sessions = function(_, opts) return await(view, view.refresh_gen, "sessions", opts) end,
    status_many = function(_, ids, opts) return await_many(view, view.refresh_gen, ids, opts) end,
    pause = function(_, id) return await(view, nil, "pause", id) end,
    resume = function(_, id) return await(view, nil, "resume", id) end,
    -- the model takes the key out of the server's text with it
    redact = function(_, text)
      local c = kn().client()
      return c and c:redact(text) or text
    end,
  }, { __index = function(_, k)
    -- settings (the model's clock) and anything else: the current client's
    if k == "settings" then
      local c = kn().client()
      return c and c.settings or { clock = function() return uv.hrtime() / 1e9 end }
    end
  end })
end

---------------------------------------------------------------------------
-- Drawing

-- The table is kadoa.fleet.view's, as in `kadoa top` and the dashboard
-- (the totals line, the heading, one row per session, the optional
-- columns dropped as on a narrow terminal); only the line under the
-- totals is the buffer's: when it was refreshed, or STALE and why.

local view_text = require("kadoa.fleet.view")

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

-- one refresh of the model in a coroutine; its snapshot is drawn unless
-- the view was hidden or wiped meanwhile. One at a time: a view shown
-- again while its cancelled refresh is still winding down starts the next
-- one when that ends.
local function refresh(buf, view)
  if view.refreshing or not view.visible or views[buf] ~= view then return end
  view.refreshing = true
  local gen = view.gen
  view.refresh_gen = gen
  spawn(function()
    local snap = view.model:refresh()
    view.refreshing = false
    if views[buf] ~= view then return end
    if view.gen ~= gen then
      -- hidden meanwhile (its answers were cancelled): drop the snapshot
      if view.visible then refresh(buf, view) end
      return
    end
    if type(snap) ~= "table" then error("refresh gave " .. type(snap)) end
    view.snap = snap
    if not snap.stale then view.good_at = os.date("%H:%M:%S") end
    draw(buf, view)
    set_state(buf, snap.stale and "stale" or "live")
    pcall(api.nvim_exec_autocmds, "User", { pattern = "KadoaTopUpdate", modeline = false })
    schedule_next(buf, view)
  end, function(e)
    view.refreshing = false
    if view.gen == gen then
      broken(buf, view, e)
    elseif view.visible then
      refresh(buf, view)   -- shown again while this one wound down
    end
  end)
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
  view.gen = view.gen + 1
  if view.timer and not view.timer:is_closing() then view.timer:stop() end
  for req in pairs(view.reqs) do req:cancel() end
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
  local view = { gen = 0, reqs = {}, ids = {}, visible = false, confirm = o.confirm ~= false }
  -- no client, no model
  local _, lerr = kn().client()
  local model, merr = nil, lerr
  if not lerr then model, merr = require("kadoa.fleet").new(proxy_for(view), fopts) end
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
  local pending = 0
  for _ in pairs(view.reqs) do pending = pending + 1 end
  return { model = view.model, snap = view.snap, visible = view.visible,
           refreshing = view.refreshing, timer = view.timer:is_active(),
           pending = pending, ids = view.ids }
end

return M
