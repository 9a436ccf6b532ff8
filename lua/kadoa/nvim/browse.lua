-- kadoa.nvim.browse: crawled pages and crawl sessions in scratch buffers
-- (:KadoaPages, :KadoaSessions and the Markdown of one page).
--
-- A listing is the library's own loop (client:each_page, each_session)
-- run as a task of kadoa.nvim.async: each listing page is a non-blocking
-- request, and each item becomes a line as it comes, so a session of
-- thousands of pages never holds the editor, and the rules of when to
-- stop are the iterator's (a server that says "more" forever cannot loop
-- us). A crawl still running is followed (each_page's follow): its pages
-- are appended as they are crawled, on wait's schedule (setup's wait),
-- until it is over or the buffer is hidden or wiped, which cancels the
-- task: nothing more is sent. A pages buffer's first line says how it
-- stands (loading, following, paused: a kadoa.marks mark, done, the
-- error). Everything the server sends goes through kadoa.format before
-- it is a line, so no control character reaches the screen as such.
-- Each buffer has b:kadoa_state: "loading", "following" or "paused"
-- (pages of a running crawl), then "done", "failed" (an error is also
-- notified) or "stopped" (hidden), for statuslines and scripts.

local M = {}

local api = vim.api

local function kn() return require("kadoa.nvim") end
local function fmt() return require("kadoa.format") end

-- buffer -> { kind, id, ids = { [line] = page or session id | false },
-- count = lines filled, req = request in flight, state }. Dropped when
-- the buffer is wiped, which also cancels its request.
local states = {}

-- the default listing page size: the API's largest
M.page_size = 100

-- The options of pages, sessions and page.
---@class kadoa.nvim.BrowseOptions
---@field page_size? integer a listing's page size (default 100, the API's largest)
---@field split? boolean open in a new window

local function report(what, err)
  vim.notify("kadoa: " .. what .. ": " .. fmt().format_error(err), vim.log.levels.ERROR,
    { title = "kadoa" })
end

local function set_state(buf, st, state)
  st.state = state
  -- b:kadoa_state (loading, done, failed): for statuslines and scripts
  pcall(api.nvim_buf_set_var, buf, "kadoa_state", state)
end

-- put_lines(buf, first, last, lines): lines go in with 'modifiable' on for
-- just that moment: the buffer is a view of the server's answer (here and
-- in :KadoaTop), not something to edit.
---@param buf integer
---@param first integer as nvim_buf_set_lines takes it
---@param last integer
---@param lines string[]
function M.put_lines(buf, first, last, lines)
  api.nvim_buf_set_option(buf, "modifiable", true)
  api.nvim_buf_set_lines(buf, first, last, false, lines)
  api.nvim_buf_set_option(buf, "modifiable", false)
  api.nvim_buf_set_option(buf, "modified", false)
end
local put_lines = M.put_lines

local function close(buf)
  if #api.nvim_list_wins() > 1 and api.nvim_get_current_buf() == buf then
    -- 'bufhidden' is wipe: closing the window wipes the buffer too
    if pcall(vim.cmd, "close") then return end
  end
  pcall(api.nvim_buf_delete, buf, { force = true })
end

-- scratch(name, filetype) -> buffer: a fresh one; a buffer already of
-- that name (the same listing asked for again) is wiped first, which
-- stops its loading.
local function scratch(name, filetype, kind)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(b) == name then pcall(api.nvim_buf_delete, b, { force = true }) end
  end
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_option(buf, "buftype", "nofile")
  api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  api.nvim_buf_set_option(buf, "swapfile", false)
  api.nvim_buf_set_option(buf, "modifiable", false)
  api.nvim_buf_set_name(buf, name)
  api.nvim_buf_set_option(buf, "filetype", filetype)
  local st = { kind = kind, ids = {}, count = 0 }
  states[buf] = st
  set_state(buf, st, "loading")
  vim.keymap.set("n", "q", function() close(buf) end,
    { buffer = buf, nowait = true, silent = true, desc = "kadoa: close" })
  api.nvim_create_autocmd("BufWipeout", { buffer = buf, once = true, callback = function()
    states[buf] = nil
    if st.req then st.req:cancel() end
  end })
  return buf, st
end

-- Show buf in the current window, or in a new split when asked to (from
-- a listing, which stays open) or when the current buffer could not be
-- left without saving.
---@param buf integer
---@param split? boolean
function M.show(buf, split)
  if split or (vim.bo.modified and not vim.o.hidden and vim.bo.buftype == "") then
    vim.cmd("split")
  end
  api.nvim_win_set_buf(0, buf)
end

-- the request for buf still wanted? (not wiped, not replaced)
local function live(buf, st)
  return states[buf] == st and api.nvim_buf_is_valid(buf)
end

-- and not hidden meanwhile
local function wanted(buf, st)
  return not st.stopped and live(buf, st)
end

local function failed(buf, st, what, err)
  set_state(buf, st, "failed")
  report(what, err)
  if st.say then
    st.say("failed: " .. fmt().format_error(err))
  elseif st.count == 0 then
    -- an empty buffer would say nothing; the line is no entry (no <CR>)
    put_lines(buf, 0, -1, { "kadoa: " .. require("kadoa.text").one_line(fmt().format_error(err), 200) })
  end
end

local function append(buf, st, lines, ids)
  if #lines == 0 then return end
  -- the first lines replace the empty line a new buffer has
  put_lines(buf, st.count == 0 and 0 or -1, -1, lines)
  for i = 1, #lines do st.ids[st.count + i] = ids[i] end
  st.count = st.count + #lines
end

-- fill(buf, st, what, body): body(c, add) as a task over the editor's
-- client, c its proxy; add(line, id) appends a line, false once the
-- buffer is no longer wanted (body should return then). body returns
-- true, or nil and an error. Hiding the buffer cancels the task.
local function fill(buf, st, what, body)
  local client, cerr = kn().client()
  if not client then return failed(buf, st, what, cerr) end
  st.req = require("kadoa.nvim.async").run(client, function(c)
    return body(c, function(line, id)
      if not wanted(buf, st) then return false end
      append(buf, st, { line }, { id })
      return true
    end)
  end, function(res, err)
    st.req = nil
    if not live(buf, st) then return end
    if st.stopped then
      if st.say then st.say("stopped: the buffer was hidden") end
      return set_state(buf, st, "stopped")
    end
    if not res then return failed(buf, st, what, err) end
    set_state(buf, st, "done")
  end)
  api.nvim_create_autocmd("BufHidden", { buffer = buf, once = true, callback = function()
    if not st.req then return end
    st.stopped = true
    st.req:cancel()
  end })
end

local function field(t, k)
  if type(t) == "table" then return t[k] end
end

---------------------------------------------------------------------------
-- One page's Markdown

-- page(id, page_id [, opts]) -> buffer: kadoa://page/<id>/<page_id>,
-- filetype markdown, filled when the answer is in. opts.split: open in a
-- new window.
---@param id string session id
---@param page_id string
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf
function M.page(id, page_id, opts)
  opts = opts or {}
  local f = fmt()
  local buf, st = scratch("kadoa://page/" .. f.text(id) .. "/" .. f.text(page_id), "markdown", "page")
  st.id, st.page_id = id, page_id
  M.show(buf, opts.split)
  st.req = kn().call("page", function(res, err)
    st.req = nil
    if not live(buf, st) then return end
    if not res then return failed(buf, st, "page " .. f.text(page_id), err) end
    local md = field(res, "payload")
    if type(md) ~= "string" then md = f.text(md) end
    -- the buffer's lines: no line may hold a newline; \r\n ends a line too
    local lines = vim.split(md, "\n", { plain = true })
    for i, l in ipairs(lines) do lines[i] = l:gsub("\r$", "") end
    put_lines(buf, 0, -1, lines)
    st.count = #lines
    set_state(buf, st, "done")
  end, id, page_id, { format = "markdown" })
  return buf
end

---------------------------------------------------------------------------
-- The crawled pages of a session

local function page_line(item)
  local f = fmt()
  local id = field(item, "id")
  return ("%-9s %s"):format(f.text(field(item, "status"), 20), f.text(field(item, "url"))),
    type(id) == "string" and id or false
end

-- The id behind the cursor's line of a listing buffer (and the buffer's
-- state), or a warning that the line has none.
local function id_on_line(buf, what)
  local st = states[buf]
  local id = st and st.ids[api.nvim_win_get_cursor(0)[1]]
  if not id then
    vim.notify("kadoa: no " .. what .. " on this line", vim.log.levels.WARN, { title = "kadoa" })
  end
  return id, st
end

local function open_page(buf)
  local pid, st = id_on_line(buf, "page")
  if pid then return M.page(st.id, pid, { split = true }) end
end

-- the pages so far, for the first line
local function so_far(st)
  local n = st.count - 1
  return fmt().number(n) .. (n == 1 and " page" or " pages")
end

-- following(c, buf, st, size) -> each_page's follow (setup's wait
-- schedule) over c, its sleep (one per poll) first saying on the first
-- line whether the crawl is paused (a kadoa.marks mark), and ending the
-- follow quietly once the buffer is gone or hidden.
local function following(c, buf, st, size)
  local o = { follow = true, page_size = size }
  for k, v in pairs(kn().config.wait or {}) do
    if require("kadoa.paginate").schedule[k] then o[k] = v end
  end
  local function tell()
    local paused = require("kadoa.marks").paused(st.id)
    set_state(buf, st, paused and "paused" or "following")
    st.say((paused and "paused (" .. os.date("%H:%M", paused) .. "), waiting: " or "following: ")
      .. so_far(st) .. " so far")
  end
  tell()
  return setmetatable({ settings = setmetatable({ sleep = function(s)
    if not wanted(buf, st) then return false end
    tell()
    c.settings.sleep(s)
    return wanted(buf, st)
  end }, { __index = c.settings }) }, { __index = c }):each_page(st.id, o)
end

-- pages(id [, opts]) -> buffer: kadoa://pages/<id>, its first line how
-- the listing stands, then one line per crawled page ("STATUS  URL");
-- a crawl still running is followed until it is over (pages appended as
-- they are crawled). <CR> opens the page's Markdown, q closes.
-- opts.page_size (default M.page_size), opts.split.
---@param id string session id
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf
function M.pages(id, opts)
  opts = opts or {}
  local f = fmt()
  local buf, st = scratch("kadoa://pages/" .. f.text(id), "kadoa-pages", "pages")
  st.id = id
  function st.say(text)
    if live(buf, st) then put_lines(buf, 0, 1, { "kadoa: " .. require("kadoa.text").one_line(text, 200) }) end
  end
  append(buf, st, { "" }, { false })
  st.say("loading the pages of " .. f.short_id(id))
  vim.keymap.set("n", "<CR>", function() open_page(buf) end,
    { buffer = buf, silent = true, desc = "kadoa: open this page's Markdown" })
  M.show(buf, opts.split)
  local size = opts.page_size or M.page_size
  fill(buf, st, "pages of " .. f.short_id(id), function(c, add)
    local status, err = c:status(id)
    if not status then return nil, err end
    local broke = type(status.error) == "string" and status.error
    local over = broke or type(status.payload) == "table" and status.payload.finished == true
    for item, ierr in over and c:each_page(id, { page_size = size }) or following(c, buf, st, size) do
      if not item then return nil, ierr end
      if not add(page_line(item)) then return end
    end
    if not wanted(buf, st) then return end   -- hidden while following: fill's callback says so
    if broke then   -- its pages so far are listed
      vim.notify("kadoa: pages of " .. f.short_id(id) .. ": " .. f.text(broke, 200), vim.log.levels.WARN,
        { title = "kadoa" })
    end
    st.say("done: " .. so_far(st) .. (broke and "; the crawl failed: " .. f.text(broke, 160) or ""))
    return true
  end)
  return buf
end

---------------------------------------------------------------------------
-- The sessions of the account

local function session_line(item)
  local f = fmt()
  local sid = field(item, "sessionId")
  local n = field(item, "crawledPages")
  return ("%-13s %-30s %-8s %s"):format(f.short_id(sid), f.text(field(item, "domain"), 30),
      field(item, "finished") == true and "finished" or "running",
      (type(n) == "number" and f.number(n) or "?") .. (n == 1 and " page" or " pages")),
    type(sid) == "string" and sid or false
end

local function open_session(buf)
  local sid = id_on_line(buf, "session")
  if sid then return M.pages(sid, { split = true }) end
end

-- sessions([opts]) -> buffer: kadoa://sessions, one line per session
-- (short id, domain, running/finished, pages), <CR> lists its pages.
-- opts.page_size (default M.page_size), opts.split.
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf
function M.sessions(opts)
  opts = opts or {}
  local buf, st = scratch("kadoa://sessions", "kadoa-sessions", "sessions")
  vim.keymap.set("n", "<CR>", function() open_session(buf) end,
    { buffer = buf, silent = true, desc = "kadoa: list this session's pages" })
  M.show(buf, opts.split)
  local size = opts.page_size or M.page_size
  fill(buf, st, "sessions", function(c, add)
    for item, err in c:each_session({ page_size = size }) do
      if not item then return nil, err end
      if not add(session_line(item)) then return end
    end
    return true
  end)
  return buf
end

-- ids(buf) -> the page or session id of each line (false: none), for
-- tests and scripts
---@param buf integer
---@return (string|false)[]|nil ids by line
function M.ids(buf)
  local st = states[buf]
  return st and st.ids or nil
end

return M
