-- kadoa.nvim.browse: crawled pages, crawl sessions and one page's Markdown in scratch
-- buffers (:KadoaPages, :KadoaSessions), and the scratch buffer :KadoaTop shares.
-- A listing is the library's own loop (each_page, each_session) as a task of
-- kadoa.nvim.async, a line per item as it comes; a running crawl is followed
-- (each_page's follow, on setup's wait schedule) until it is over. Hiding or wiping
-- the buffer cancels the task. Server text becomes a line only through kadoa.format.

local M = {}

local api = vim.api

local function kn() return require("kadoa.nvim") end
local function fmt() return require("kadoa.format") end

-- buffer -> { id, ids = { [line] = page or session id | false }, count = lines filled,
-- req = the task or request in flight, stopped = hidden, say = set the first line }
local states = {}

M.page_size = 100   -- the API's largest

-- The options of pages, sessions and page.
---@class kadoa.nvim.BrowseOptions
---@field page_size? integer a listing's page size (default 100, the API's largest)
---@field split? boolean open in a new window

local function report(what, err)
  vim.notify("kadoa: " .. what .. ": " .. fmt().format_error(err), vim.log.levels.ERROR,
    { title = "kadoa" })
end

-- b:kadoa_state, for statuslines and scripts
local function set_state(buf, state)
  pcall(api.nvim_buf_set_var, buf, "kadoa_state", state)
end

-- put_lines(buf, first, last, lines): 'modifiable' for just that moment: the buffer is
-- a view of the server's answer, not something to edit.
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

-- close(buf [, drop]): q. Closing the window wipes a listing ('bufhidden' wipe); a
-- buffer to drop is deleted either way.
---@param buf integer
---@param drop? boolean delete the buffer even when its window closed
function M.close(buf, drop)
  if #api.nvim_list_wins() > 1 and api.nvim_get_current_buf() == buf then
    if pcall(vim.cmd, "close") and not drop then return end
  end
  pcall(api.nvim_buf_delete, buf, { force = true })
end

-- scratch(name, filetype, bufhidden, keys) -> a fresh read-only buffer; one already of
-- that name (the same view asked for again) is wiped first, which stops its loading.
---@param name string
---@param filetype string
---@param bufhidden string
---@param keys table<string, { [1]: fun(buf: integer), [2]: string }> lhs -> { fn, description }
---@return integer buf
function M.scratch(name, filetype, bufhidden, keys)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(b) == name then pcall(api.nvim_buf_delete, b, { force = true }) end
  end
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_option(buf, "buftype", "nofile")
  api.nvim_buf_set_option(buf, "bufhidden", bufhidden)
  api.nvim_buf_set_option(buf, "swapfile", false)
  api.nvim_buf_set_option(buf, "modifiable", false)
  api.nvim_buf_set_name(buf, name)
  api.nvim_buf_set_option(buf, "filetype", filetype)
  for lhs, k in pairs(keys) do
    vim.keymap.set("n", lhs, function() k[1](buf) end,
      { buffer = buf, nowait = true, silent = true, desc = "kadoa: " .. k[2] })
  end
  return buf
end

-- The id behind the cursor's line of a listing, and its state; else a warning.
local function id_on_line(buf, what)
  local st = states[buf]
  local id = st and st.ids[api.nvim_win_get_cursor(0)[1]]
  if not id then
    vim.notify("kadoa: no " .. what .. " on this line", vim.log.levels.WARN, { title = "kadoa" })
  end
  return id, st
end

-- a listing's buffer: scratch, q closes, <CR> opens(id, st) the line's thing
local function listing(name, filetype, what, desc, open)
  local buf = M.scratch(name, filetype, "wipe", {
    q = { M.close, "close" },
    ["<CR>"] = open and { function(b)
      local id, st = id_on_line(b, what)
      if id then return open(id, st) end
    end, desc },
  })
  local st = { ids = {}, count = 0 }
  states[buf] = st
  set_state(buf, "loading")
  api.nvim_create_autocmd("BufWipeout", { buffer = buf, once = true, callback = function()
    states[buf] = nil
    if st.req then st.req:cancel() end
  end })
  return buf, st
end

-- show(buf [, split]): in the current window, or a new split when asked (from a
-- listing, which stays open) or when the current buffer cannot be left unsaved.
---@param buf integer
---@param split? boolean
function M.show(buf, split)
  if split or (vim.bo.modified and not vim.o.hidden and vim.bo.buftype == "") then
    vim.cmd("split")
  end
  api.nvim_win_set_buf(0, buf)
end

-- still wanted: not wiped, not replaced (live) and not hidden (wanted)
local function live(buf, st)
  return states[buf] == st and api.nvim_buf_is_valid(buf)
end

local function wanted(buf, st)
  return not st.stopped and live(buf, st)
end

local function failed(buf, st, what, err)
  set_state(buf, "failed")
  report(what, err)
  if st.say then
    st.say("failed: " .. fmt().format_error(err))
  elseif st.count == 0 then   -- an empty buffer would say nothing; the line is no entry
    put_lines(buf, 0, -1, { "kadoa: " .. require("kadoa.text").one_line(fmt().format_error(err), 200) })
  end
end

local function append(buf, st, lines, ids)
  -- the first lines replace the empty line a new buffer has
  put_lines(buf, st.count == 0 and 0 or -1, -1, lines)
  for i = 1, #lines do st.ids[st.count + i] = ids[i] end
  st.count = st.count + #lines
end

-- body(c, add) as a task over the editor's client (c its proxy): add(line, id) appends
-- a line, or gives false once the buffer is not wanted; body returns true | nil, err.
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
      return set_state(buf, "stopped")
    end
    if not res then return failed(buf, st, what, err) end
    set_state(buf, "done")
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

-- page(id, page_id [, opts]) -> kadoa://page/<id>/<page_id>, filetype markdown
---@param id string session id
---@param page_id string
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf
function M.page(id, page_id, opts)
  local f = fmt()
  local buf, st = listing("kadoa://page/" .. f.text(id) .. "/" .. f.text(page_id), "markdown")
  M.show(buf, (opts or {}).split)
  st.req = kn().call("page", function(res, err)
    st.req = nil
    if not live(buf, st) then return end
    if not res then return failed(buf, st, "page " .. f.text(page_id), err) end
    local md = field(res, "payload")
    if type(md) ~= "string" then md = f.text(md) end
    -- no line may hold a newline; \r\n ends a line too
    local lines = vim.split(md, "\n", { plain = true })
    for i, l in ipairs(lines) do lines[i] = l:gsub("\r$", "") end
    put_lines(buf, 0, -1, lines)
    st.count = #lines
    set_state(buf, "done")
  end, id, page_id, { format = "markdown" })
  return buf
end

local function so_far(st)
  local n = st.count - 1   -- the first line is how it stands
  return fmt().number(n) .. (n == 1 and " page" or " pages")
end

-- each_page's follow over c on setup's wait schedule; its sleep (one per poll) first
-- says whether the crawl is paused (a kadoa.marks mark), and ends the follow quietly
-- once the buffer is not wanted.
local function following(c, buf, st, size)
  local o = { follow = true, page_size = size }
  for k, v in pairs(kn().config.wait or {}) do
    if require("kadoa.paginate").schedule[k] then o[k] = v end
  end
  local function tell()
    local paused = require("kadoa.marks").paused(st.id)
    set_state(buf, paused and "paused" or "following")
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

-- pages(id [, opts]) -> kadoa://pages/<id>: how the listing stands, then "STATUS  URL"
-- per crawled page; <CR> opens the page's Markdown.
---@param id string session id
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf
function M.pages(id, opts)
  opts = opts or {}
  local f = fmt()
  local buf, st = listing("kadoa://pages/" .. f.text(id), "kadoa-pages", "page",
    "open this page's Markdown", function(pid, s) return M.page(s.id, pid, { split = true }) end)
  st.id = id
  function st.say(text)
    if live(buf, st) then put_lines(buf, 0, 1, { "kadoa: " .. require("kadoa.text").one_line(text, 200) }) end
  end
  append(buf, st, { "" }, { false })
  st.say("loading the pages of " .. f.short_id(id))
  M.show(buf, opts.split)
  local size = opts.page_size or M.page_size
  fill(buf, st, "pages of " .. f.short_id(id), function(c, add)
    local status, err = c:status(id)
    if not status then return nil, err end
    local broke = type(status.error) == "string" and status.error
    local over = broke or type(status.payload) == "table" and status.payload.finished == true
    for item, ierr in over and c:each_page(id, { page_size = size }) or following(c, buf, st, size) do
      if not item then return nil, ierr end
      local pid = field(item, "id")
      local line = ("%-9s %s"):format(f.text(field(item, "status"), 20), f.text(field(item, "url")))
      if not add(line, type(pid) == "string" and pid or false) then return end
    end
    if not wanted(buf, st) then return end   -- hidden while following: fill says so
    if broke then   -- its pages so far are listed
      vim.notify("kadoa: pages of " .. f.short_id(id) .. ": " .. f.text(broke, 200), vim.log.levels.WARN,
        { title = "kadoa" })
    end
    st.say("done: " .. so_far(st) .. (broke and "; the crawl failed: " .. f.text(broke, 160) or ""))
    return true
  end)
  return buf
end

-- sessions([opts]) -> kadoa://sessions: short id, domain, running/finished, pages per
-- session; <CR> lists its pages.
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf
function M.sessions(opts)
  opts = opts or {}
  local f = fmt()
  local buf, st = listing("kadoa://sessions", "kadoa-sessions", "session",
    "list this session's pages", function(sid) return M.pages(sid, { split = true }) end)
  M.show(buf, opts.split)
  fill(buf, st, "sessions", function(c, add)
    for item, err in c:each_session({ page_size = opts.page_size or M.page_size }) do
      if not item then return nil, err end
      local sid, n = field(item, "sessionId"), field(item, "crawledPages")
      local line = ("%-13s %-30s %-8s %s"):format(f.short_id(sid), f.text(field(item, "domain"), 30),
        field(item, "finished") == true and "finished" or "running",
        (type(n) == "number" and f.number(n) or "?") .. (n == 1 and " page" or " pages"))
      if not add(line, type(sid) == "string" and sid or false) then return end
    end
    return true
  end)
  return buf
end

-- ids(buf) -> the page or session id of each line (false: none), for tests and scripts
---@param buf integer
---@return (string|false)[]|nil ids by line
function M.ids(buf)
  local st = states[buf]
  return st and st.ids or nil
end

return M
