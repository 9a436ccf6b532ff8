-- kadoa.cli.commands.top: `kadoa top [--once] [--json] [--plain]`, every
-- crawl of the account at once, on kadoa.fleet's model.
--
-- On a terminal: a full-screen view on the alternate screen, redrawn line
-- by line (only the lines that changed are written), sized from the
-- terminal at every frame check, with keys read in raw mode without
-- blocking the refresh: `stty raw -echo min 0 time 1` makes a read of
-- /dev/tty return after a tenth of a second with nothing, so plain Lua
-- needs no poll(2) and no C. The terminal is put back (screen, cursor,
-- mode) however the loop ends: q, Ctrl-C, an error.
--
-- Elsewhere (a pipe, --plain, NO_COLOR, TERM=dumb) and with --once: one
-- snapshot as a table. --json: the model as JSON lines, one per refresh
-- (--once: one line).

local core = require("kadoa.core")
local fleet = require("kadoa.fleet")
local format = require("kadoa.format")
local json = require("kadoa.json")
local text = require("kadoa.text")
local args = require("kadoa.cli.args")
local display = require("kadoa.cli.display")
local exit = require("kadoa.cli.exit")
local output_module = require("kadoa.cli.output")

local M = {}

---------------------------------------------------------------------------
-- Text of the model (shared by the table and the full-screen view)

-- Server text for one cell: one line, escaped, at most max characters.
local function cell(s, max)
  if type(s) ~= "string" then return "" end
  return (text.clean(text.one_line(s, 4 * max + 8), max))
end

local function pad(s, n)
  local w = text.width(s)
  if w >= n then return text.cut(s, n) end
  return s .. string.rep(" ", n - w)
end

local function rpad(s, n)
  local w = text.width(s)
  if w >= n then return s end
  return string.rep(" ", n - w) .. s
end

local function whole(n)
  if type(n) ~= "number" or n ~= n then return "-" end
  return format.number(math.floor(n + 0.5))
end

local function rate(n)
  if type(n) ~= "number" or n ~= n then return "-" end
  if n > 0 and n < 10 then return ("%.1f"):format(n) end
  return whole(n)
end

-- The columns, in order; narrow terminals drop the ones marked `optional`
-- (from the last) before the domain gets less than 16 characters.
local COLUMNS = {
  { "SESSION", 9, function(r) return text.short_id(r.id) end },
  { "STATE", 8, function(r) return r.state end },
  { "PAGES", 7, function(r) return whole(r.pages) end, right = true },
  { "PG/MIN", 7, function(r) return rate(r.pages_per_minute) end, right = true },
  { "ACTIVE", 6, function(r) return whole(r.active) end, right = true, optional = 2 },
  { "WAIT", 6, function(r) return whole(r.waiting) end, right = true, optional = 3 },
  { "ELAPSED", 7, function(r) return r.elapsed and args.elapsed(r.elapsed) or "-" end,
    right = true, optional = 1 },
}

-- Which columns fit in `width`: the optional ones go, last first.
local function columns(width)
  local cols = {}
  for _, c in ipairs(COLUMNS) do cols[#cols + 1] = c end
  local function used()
    local w = 0
    for _, c in ipairs(cols) do w = w + c[2] + 2 end
    return w
  end
  for drop = 1, 3 do
    if width - used() >= 16 + 12 then break end
    for i, c in ipairs(cols) do
      if c.optional == drop then table.remove(cols, i) break end
    end
  end
  return cols, math.max(width - used(), 8)
end

-- One row as text, `width` characters at most.
---@param r kadoa.fleet.Row
---@param width integer columns
---@return string
function M.row_line(r, width)
  local cols, rest = columns(width)
  local parts = {}
  for _, c in ipairs(cols) do
    local v = c[3](r)
    parts[#parts + 1] = c.right and rpad(v, c[2]) or pad(v, c[2])
  end
  local domain = cell(r.domain, 40)
  local tail = domain
  if r.error then tail = domain .. "  " .. cell(r.error, rest) end
  parts[#parts + 1] = tail
  return text.cut(table.concat(parts, "  "), width)
end

-- The column headings over row_line's columns, `width` characters at most.
---@param width integer columns
---@return string
function M.heading(width)
  local cols = columns(width)
  local parts = {}
  for _, c in ipairs(cols) do parts[#parts + 1] = c.right and rpad(c[1], c[2]) or pad(c[1], c[2]) end
  parts[#parts + 1] = "DOMAIN"
  return text.cut(table.concat(parts, "  "), width)
end

local function count(n, one, many) return ("%s %s"):format(whole(n), n == 1 and one or many) end

-- The totals as one line, what matters most first (a narrow terminal cuts
-- the end): "2 running  1,234 pages/min  1 error  |  12 sessions, 1 paused,
-- 8 finished, 1 failed, 5,678 pages".
---@param snap kadoa.fleet.Snapshot
---@return string
function M.totals_line(snap)
  local t = snap.totals
  return ("%s running  %s pages/min  %s  |  %s, %s paused, %s finished, %s failed, %s"):format(
    whole(t.running), rate(t.pages_per_minute), count(t.errors, "error", "errors"),
    count(t.sessions, "session", "sessions"), whole(t.paused), whole(t.finished), whole(t.failed),
    count(t.pages, "page", "pages"))
end

local function error_text(err)
  if err == nil then return "" end
  return cell(format.format_error(err), 200)
end

---------------------------------------------------------------------------
-- JSON lines

-- A value the JSON encoder takes: the error value as its fields; a string
-- that is not valid UTF-8 escaped (the encoder refuses those).
local function plain(v, depth)
  if type(v) == "table" then
    if depth > 20 then return nil end
    local t = {}
    if getmetatable(v) ~= nil then   -- an error value
      return { kind = v.kind, message = plain(v.message, depth + 1), status = v.status,
        request_id = plain(v.request_id, depth + 1) }
    end
    for k, x in pairs(v) do t[k] = plain(x, depth + 1) end
    return t
  end
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then return nil end
  return v
end

-- json_line(snap) -> the snapshot as one line of JSON (kadoa.cli.output's
-- json_line: no raw controls): the error as kind, message, status and
-- request_id; rows always an array; NaN and infinities left out.
---@param snap kadoa.fleet.Snapshot
---@return string
function M.json_line(snap)
  local v = plain(snap, 0)
  v.rows = json.array(v.rows)
  local s, msg = json.encode(v)
  if not s then
    -- invalid UTF-8 from the server: escape every string and try once more
    local function fix(x)
      if type(x) == "string" then return (text.clean(x)) end
      if type(x) == "table" then for k, y in pairs(x) do x[k] = fix(y) end end
      return x
    end
    v = fix(v)
    v.rows = json.array(v.rows)
    s, msg = json.encode(v)
  end
  return output_module.json_line(assert(s, msg))
end

---------------------------------------------------------------------------
-- The plain table (--once, and any run that is not on a terminal)

local function print_table(output, snap, width)
  output:out(M.totals_line(snap))
  output:out(M.heading(width))
  for _, r in ipairs(snap.rows) do output:out(M.row_line(r, width)) end
end

---------------------------------------------------------------------------
-- Sorting and filtering (the view's own: the model's order is "activity")

---@alias kadoa.cli.top.Sort "activity"|"pages"|"domain"|"newest"

-- The sort orders the view steps through (s), the first the model's own.
---@type kadoa.cli.top.Sort[]
M.SORTS = { "activity", "pages", "domain", "newest" }
local SORT_FN = {
  pages = function(a, b)
    local pa, pb = a.pages or -1, b.pages or -1
    if pa ~= pb then return pa > pb end
    return a.id < b.id
  end,
  domain = function(a, b)
    local da, db = tostring(a.domain):lower(), tostring(b.domain):lower()
    if da ~= db then return da < db end
    return a.id < b.id
  end,
  newest = function(a, b)
    local ca, cb = a.created or -math.huge, b.created or -math.huge
    if ca ~= cb then return ca > cb end
    return a.id < b.id
  end,
}

-- view_rows(snap, sort, filter) -> the rows to show, in order
---@param snap kadoa.fleet.Snapshot
---@param sort kadoa.cli.top.Sort|string "activity" (or any unknown name) keeps the model's order
---@param filter string|nil rows whose domain holds this, any case ("" or nil: every row)
---@return kadoa.fleet.Row[]
function M.view_rows(snap, sort, filter)
  local out = {}
  local needle = filter and filter ~= "" and filter:lower() or nil
  for _, r in ipairs(snap.rows) do
    if not needle or tostring(r.domain):lower():find(needle, 1, true) then out[#out + 1] = r end
  end
  if SORT_FN[sort] then table.sort(out, SORT_FN[sort]) end
  return out
end

---------------------------------------------------------------------------
-- The terminal

-- The terminal in raw mode (open_terminal).
---@class kadoa.cli.top.Term
---@field output table kadoa.cli.output's: where the screen is written
---@field saved string `stty -g`: the mode to put back
---@field tty file* /dev/tty, read for keys
---@field open boolean until close()
local Term = {}
Term.__index = Term

local function shell(cmd)
  local p = io.popen(cmd)
  if not p then return nil end
  local s = p:read("*a")
  p:close()
  return s
end

-- open(output) -> term | nil, message: raw mode on /dev/tty, the alternate
-- screen, the cursor hidden. term:close() undoes all of it (idempotent).
---@param output table kadoa.cli.output's
---@return kadoa.cli.top.Term|nil term
---@return string|nil message why not
function M.open_terminal(output)
  local saved = shell("stty -g </dev/tty 2>/dev/null")
  saved = saved and saved:match("^%s*(.-)%s*$")
  if not saved or saved == "" or saved:find("[^%w:=%-]") then
    return nil, "cannot read the terminal's mode"
  end
  local tty = io.open("/dev/tty", "rb")
  if not tty then return nil, "cannot open /dev/tty" end
  tty:setvbuf("no")
  local t = setmetatable({ output = output, saved = saved, tty = tty, open = true }, Term)
  os.execute("stty raw -echo min 0 time 1 </dev/tty 2>/dev/null")
  t:write("\27[?1049h\27[?25l\27[2J")
  return t
end

-- write(s): bytes to the screen (standard output).
---@param s string text and escape sequences
function Term:write(s) self.output:write(self.output.stdout, s) end

-- close(): the terminal's mode, screen and cursor back.
function Term:close()
  if not self.open then return end
  self.open = false
  self:write("\27[0m\27[?25h\27[?1049l")
  os.execute("stty " .. self.saved .. " </dev/tty 2>/dev/null")
  self.tty:close()
end

-- size() -> lines, columns (re-read: the window may have been resized);
-- 24, 80 when the terminal does not say or is smaller than 3 x 20
---@return integer lines
---@return integer columns
function Term.size()
  local s = shell("stty size </dev/tty 2>/dev/null") or ""
  local lines, cols = s:match("^(%d+) (%d+)")
  lines, cols = tonumber(lines), tonumber(cols)
  if not lines or lines < 3 or not cols or cols < 20 then return 24, 80 end
  return lines, cols
end

-- byte() -> one byte as a string, or nil after a tenth of a second without one
---@return string|nil
function Term:byte()
  local b = self.tty:read(1)
  if b == "" then return nil end
  return b
end

-- key() -> a key name ("up", "down", "pgup", "pgdn", "home", "end",
-- "enter", "esc", "backspace", "ctrl-c") or the character typed, or nil
-- when nothing came within a tenth of a second.
---@return string|nil key a name, a character, or "ignored" for an unknown escape sequence
function Term:key()
  local b = self:byte()
  if not b then return nil end
  if b == "\3" then return "ctrl-c" end
  if b == "\r" or b == "\n" then return "enter" end
  if b == "\127" or b == "\8" then return "backspace" end
  if b ~= "\27" then
    -- a UTF-8 character comes whole (a filter may hold one)
    local c = b:byte()
    local n = c >= 0xF0 and 3 or c >= 0xE0 and 2 or c >= 0xC0 and 1 or 0
    for _ = 1, n do b = b .. (self:byte() or "") end
    return b
  end
  local b2 = self:byte()
  if b2 ~= "[" and b2 ~= "O" then return "esc" end
  local seq = ""
  for _ = 1, 8 do
    local c = self:byte()
    if not c then break end
    seq = seq .. c
    if c:match("[%a~]") then break end
  end
  local final = seq:sub(-1)
  if final == "A" then return "up" end
  if final == "B" then return "down" end
  if final == "H" or seq == "1~" or seq == "7~" then return "home" end
  if final == "F" or seq == "4~" or seq == "8~" then return "end" end
  if seq == "5~" then return "pgup" end
  if seq == "6~" then return "pgdn" end
  return "ignored"
end

---------------------------------------------------------------------------
-- The full-screen view

-- The full-screen view's state: sort, filter, selection, scrolling, the
-- prompt and message of the bottom line, and the last frame drawn.
---@class kadoa.cli.top.View
---@field sort integer index in M.SORTS
---@field filter string "" for none
---@field typing? string the filter being typed after /
---@field prompt? { what: "pause"|"resume", id: string, text: string } the question awaiting y/n
---@field message? string the bottom line's message
---@field message_error? boolean the message is a failure
---@field message_until number until when the message shows (monotonic seconds)
---@field selected? string the selected row's session id
---@field index? integer the selected row's place in rows
---@field top integer the first row shown
---@field rows? kadoa.fleet.Row[] the rows of the last frame, in view order
---@field prev table<integer, string> the lines last drawn, escapes included
---@field lines integer the terminal's size as last read
---@field cols integer
---@field utf8 boolean arrows may be drawn as UTF-8
local View = {}
View.__index = View

-- One line of a frame: its text and its SGR parameters ("" for none).
---@class kadoa.cli.top.FrameLine
---@field [1] string
---@field [2] string

-- new_view(utf8) -> a view with nothing drawn yet
---@param utf8 boolean the terminal takes UTF-8 (display.utf8)
---@return kadoa.cli.top.View
function M.new_view(utf8)
  return setmetatable({
    sort = 1, filter = "", typing = nil, prompt = nil, message = nil, message_until = 0,
    selected = nil, top = 1, prev = {}, lines = 0, cols = 0, utf8 = utf8,
  }, View)
end

local STATE_COLOR = { running = "32", paused = "33", failed = "31", finished = "2", unknown = "2" }

-- frame(snap, lines, cols, now) -> array of { text, sgr } lines, exactly `lines` long
---@param snap kadoa.fleet.Snapshot
---@param lines integer the terminal's lines
---@param cols integer the terminal's columns
---@param now number monotonic seconds (the model's clock)
---@return kadoa.cli.top.FrameLine[]
function View:frame(snap, lines, cols, now)
  local out = {}
  local w = cols - 1   -- the last column stays empty: some terminals wrap there
  local when
  if snap.stale then
    when = "STALE (" .. error_text(snap.error) .. ")"
  elseif snap.refreshed then
    when = ("refreshed %ds ago"):format(math.max(0, math.floor(now - snap.refreshed)))
  else
    when = "refreshing..."
  end
  -- the refresh marker before the totals' tail, so a narrow terminal keeps it
  local totals = M.totals_line(snap)
  local head, tail = totals:match("^(.-)  |  (.*)$")
  out[1] = { text.cut("kadoa top  " .. head .. "  " .. when .. "  |  " .. tail, w),
    snap.stale and "1;31" or "1" }
  local filter = self.filter ~= "" and ("  filter: " .. cell(self.filter, 30)) or ""
  out[2] = { text.cut(("sort: %s (s)%s  %s select  p pause  r resume  / filter  q quit"):format(
    M.SORTS[self.sort], filter, self.utf8 and "↑↓ j k" or "up/down j k"), w), "2" }
  out[3] = { M.heading(w), "7" }
  local rows = M.view_rows(snap, M.SORTS[self.sort], self.filter)
  self.rows = rows
  -- the selection follows its session through re-sorting; a session gone
  -- hands it to the row in its place
  local index
  for i, r in ipairs(rows) do
    if r.id == self.selected then index = i break end
  end
  if not index then
    index = math.min(math.max(self.index or 1, 1), #rows)
    self.selected = rows[index] and rows[index].id or nil
  end
  self.index = index
  local room = math.max(lines - 4, 1)
  if index < self.top then self.top = index end
  if index >= self.top + room then self.top = index - room + 1 end
  if self.top > math.max(#rows - room + 1, 1) then self.top = math.max(#rows - room + 1, 1) end
  for i = 0, room - 1 do
    local r = rows[self.top + i]
    if r then
      local sgr = STATE_COLOR[r.state] or ""
      if r.id == self.selected then sgr = "7" .. (sgr ~= "" and (";" .. sgr) or "") end
      out[#out + 1] = { pad(M.row_line(r, w), w), sgr }
    elseif i == 0 and #rows == 0 then
      out[#out + 1] = { self.filter ~= "" and "no session matches the filter" or "no sessions", "2" }
    else
      out[#out + 1] = { "", "" }
    end
  end
  local bottom, bsgr = "", ""
  if self.typing then
    bottom, bsgr = "/" .. cell(self.typing, w - 2), "1"
  elseif self.prompt then
    bottom, bsgr = self.prompt.text .. " y/n", "1;33"
  elseif self.message and now < self.message_until then
    bottom, bsgr = self.message, self.message_error and "31" or ""
  elseif #rows > room then
    local last = math.min(self.top + room - 1, #rows)
    bottom, bsgr = ("rows %d-%d of %d"):format(self.top, last, #rows), "2"
  end
  out[#out + 1] = { text.cut(bottom, w), bsgr }
  while #out > lines do table.remove(out) end
  return out
end

-- draw(term, frame) -> how many lines were written: only the lines that
-- differ from the last frame
---@param term kadoa.cli.top.Term
---@param frame kadoa.cli.top.FrameLine[] View:frame's
---@return integer
function View:draw(term, frame)
  local buf = {}
  for i, l in ipairs(frame) do
    local s = (l[2] ~= "" and ("\27[" .. l[2] .. "m") or "") .. l[1] .. "\27[0m"
    if self.prev[i] ~= s then
      buf[#buf + 1] = ("\27[%d;1H"):format(i) .. s .. "\27[K"
      self.prev[i] = s
    end
  end
  for i = #frame + 1, #self.prev do self.prev[i] = nil end
  if #buf > 0 then term:write(table.concat(buf)) end
  return #buf
end

-- say(msg, is_error, now): msg on the bottom line for five seconds
---@param msg string
---@param is_error boolean drawn in red
---@param now number monotonic seconds
function View:say(msg, is_error, now)
  self.message, self.message_error, self.message_until = msg, is_error, now + 5
end

-- key(k, m, now) -> "quit" | "interrupt" | nil: one key
---@param k string Term:key's
---@param m kadoa.fleet.Fleet the model: y to a prompt pauses or resumes through it
---@param now number monotonic seconds
---@return "quit"|"interrupt"|nil
function View:key(k, m, now)
  if k == "ctrl-c" then return "interrupt" end
  if self.typing then
    if k == "enter" then self.filter, self.typing = self.typing, nil
    elseif k == "esc" then self.filter, self.typing = "", nil
    elseif k == "backspace" then self.typing = text.cut(self.typing, math.max(text.width(self.typing) - 1, 0))
    elseif #k == 1 and k:byte() >= 32 or #k > 1 and k:byte() >= 0xC0 then self.typing = self.typing .. k
    end
    return nil
  end
  if self.prompt then
    local p = self.prompt
    self.prompt = nil
    if k == "y" or k == "Y" then
      local res, err = m[p.what](m, p.id)
      if res then
        local done = p.what == "pause" and "paused" or "resumed"
        self:say(done .. " " .. text.short_id(p.id), false, now)
      else
        self:say(p.what .. " failed: " .. error_text(err), true, now)
      end
    else
      self:say("cancelled", false, now)
    end
    return nil
  end
  local rows = self.rows or {}
  local function go(i)
    i = math.max(1, math.min(i, #rows))
    if rows[i] then self.index, self.selected = i, rows[i].id end
  end
  if k == "q" or k == "Q" then return "quit" end
  if k == "down" or k == "j" then go((self.index or 0) + 1)
  elseif k == "up" or k == "k" then go((self.index or 2) - 1)
  elseif k == "pgdn" then go((self.index or 1) + math.max(self.lines - 5, 1))
  elseif k == "pgup" then go((self.index or 1) - math.max(self.lines - 5, 1))
  elseif k == "home" or k == "g" then go(1)
  elseif k == "end" or k == "G" then go(#rows)
  elseif k == "s" then self.sort = self.sort % #M.SORTS + 1
  elseif k == "/" then self.typing = ""
  elseif k == "esc" then self.filter = ""
  elseif (k == "p" or k == "r") and self.selected then
    local what = k == "p" and "pause" or "resume"
    local r = rows[self.index]
    self.prompt = { what = what, id = self.selected,
      text = ("%s %s (%s)?"):format(what == "pause" and "Pause" or "Resume", text.short_id(self.selected),
        r and cell(r.domain, 30) or "") }
  end
  return nil
end

-- The loop: refresh when due, re-read the size, draw what changed, read a
-- key (a tenth of a second at most), act on it.
local function full_screen(output, env, m)
  local term, msg = M.open_terminal(output)
  if not term then
    output:say(msg .. "; printing one snapshot instead")
    return nil
  end
  local view = M.new_view(display.utf8(env.getenv))
  local ok, result = pcall(function()
    local due, size_due = 0, 0
    local snap
    while true do
      local now = core.monotime()
      if now >= due then
        snap = m:refresh()
        now = core.monotime()
        due = now + m:delay()
      else
        snap = m:snapshot()   -- a pause or resume marks rows between refreshes
      end
      if now >= size_due then
        local lines, cols = term:size()
        if lines ~= view.lines or cols ~= view.cols then
          view.lines, view.cols, view.prev = lines, cols, {}
          term:write("\27[0m\27[2J")
        end
        size_due = now + 0.5
      end
      view:draw(term, view:frame(snap, view.lines, view.cols, now))
      local k = term:key()
      if k then
        local what = view:key(k, m, core.monotime())
        if what == "quit" then return exit.ok end
        if what == "interrupt" then return exit.interrupted end
        size_due = 0   -- look at the size again at once: keys often follow a resize
      end
    end
  end)
  term:close()
  -- the screen is back: now an interruption (SIGINT: kadoa.cli says it)
  -- or an error may be told
  if not ok then error(result, 0) end
  if result == exit.interrupted then output:say("interrupted") end
  return result
end

---------------------------------------------------------------------------

-- options(opts) -> fleet options | nil, message (--interval, --max-interval,
-- --concurrency)
---@param opts table the parsed options
---@return kadoa.FleetOptions|nil options without a clock
---@return string|nil message what is wrong
function M.options(opts)
  local o = {}
  for _, name in ipairs({ "interval", "max-interval" }) do
    if opts[name] then
      local v = args.duration(opts[name])
      if not v or v <= 0 or v > 1e9 then
        return nil, ("option --%s wants a positive duration like 2, 500ms, 5m or 1h, not '%s'"):format(
          name, output_module.shown(opts[name]))
      end
      o[(name:gsub("%-", "_"))] = v
    end
  end
  if o.interval and o.interval < fleet.defaults.min_interval then o.min_interval = o.interval end
  if o.max_interval and o.max_interval < (o.interval or fleet.defaults.interval) then
    if opts.interval then return nil, "--max-interval must not be shorter than --interval" end
    o.interval = o.max_interval
    o.min_interval = math.min(o.max_interval, fleet.defaults.min_interval)
  end
  o.concurrency = tonumber(opts.concurrency)
  return o
end

-- run(output, env, client, opts) -> exit code
---@param output table kadoa.cli.output's
---@param env table kadoa.cli.env's
---@param client kadoa.Client
---@param opts table the parsed options
---@return integer code the exit status
function M.run(output, env, client, opts)
  local fo, msg = M.options(opts)
  if not fo then return output:usage_error(msg, "top") end
  fo.clock = core.monotime
  local m, err = fleet.new(client, fo)
  if not m then return output:fail(err, "top") end

  if opts.json then
    -- until Ctrl-C, which kadoa.cli turns into "interrupted" and exit 130
    while true do
      local snap = m:refresh()
      output:out(M.json_line(snap))
      if opts.once then return snap.stale and exit.api or exit.ok end
      local due = core.monotime() + m:delay()
      -- sleep to a point on the clock: a signal may end a nanosleep early
      while core.monotime() < due do core.sleep(due - core.monotime()) end
    end
  end

  if not opts.once and display.live(opts, env) then
    local code = full_screen(output, env, m)
    if code then return code end
  end

  local snap = m:refresh()
  if snap.stale then
    output:say("top: " .. error_text(snap.error))
    return exit.api
  end
  print_table(output, snap, env.is_terminal() and env.width() or 160)
  return exit.ok
end

return M
