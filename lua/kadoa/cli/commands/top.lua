-- kadoa.cli.commands.top: `kadoa top [--once] [--json] [--plain]`: kadoa.fleet's
-- model in kadoa.fleet.view's table. On a terminal a full-screen view redrawn
-- line by line, keys read in raw mode, the terminal put back however it ends;
-- elsewhere and with --once one snapshot; --json one line per refresh.

local core = require("kadoa.core")
local fleet = require("kadoa.fleet")
local view_text = require("kadoa.fleet.view")
local text = require("kadoa.text")
local args = require("kadoa.cli.args")
local call = require("kadoa.cli.call")
local display = require("kadoa.cli.display")
local environment = require("kadoa.cli.env")
local exit = require("kadoa.cli.exit")
local output_module = require("kadoa.cli.output")

local M = {}

local cell, error_text = view_text.cell, view_text.error_text

-- The keys that are not characters; an escape sequence by what follows
-- ESC [ or ESC O, its modifiers left out (ESC [1;5A is up).
local NAMED = { ["\3"] = "ctrl-c", ["\r"] = "enter", ["\n"] = "enter", ["\127"] = "backspace",
  ["\8"] = "backspace", ["\27"] = "esc", A = "up", B = "down", H = "home", F = "end",
  ["1~"] = "home", ["7~"] = "home", ["4~"] = "end", ["8~"] = "end", ["5~"] = "pgup", ["6~"] = "pgdn" }

-- keys(s) -> the keys in one read: a name of NAMED, a character (a UTF-8 one
-- whole), or "ignored" for an escape sequence without a name.
---@param s string bytes read from the terminal
---@return string[]
function M.keys(s)
  local out, i = {}, 1
  while i <= #s do
    local seq, tail = s:match("^(\27[%[O]([%d;]*[%a~]))", i)
    local k = seq or s:match("^[\192-\247][\128-\191]*", i) or s:sub(i, i)
    if seq then
      out[#out + 1] = NAMED[tail:match("%a$") or (tail:match("^%d*") .. "~")] or "ignored"
    else
      out[#out + 1] = NAMED[k] or k
    end
    i = i + #k
  end
  return out
end

-- The full-screen view's state.
---@class kadoa.cli.top.View
---@field sort integer index in kadoa.fleet.view.SORTS
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

---@alias kadoa.cli.top.FrameLine { [1]: string, [2]: string } a line's text and SGR ("" for none)

---@param utf8 boolean the terminal takes UTF-8 (display.utf8)
---@return kadoa.cli.top.View
function M.new_view(utf8)
  return setmetatable({ sort = 1, filter = "", message_until = 0, top = 1, prev = {}, lines = 0, cols = 0,
    utf8 = utf8 }, View)
end

local STATE_COLOR = { running = "32", paused = "33", stalled = "35", failed = "31", finished = "2",
  unknown = "2" }

-- frame(...) -> exactly `lines` lines
---@param snap kadoa.fleet.Snapshot
---@param lines integer the terminal's lines
---@param cols integer the terminal's columns
---@param now number monotonic seconds (the model's clock)
---@return kadoa.cli.top.FrameLine[]
function View:frame(snap, lines, cols, now)
  local out = {}
  local w = cols - 1   -- the last column stays empty: some terminals wrap there
  local when = snap.stale and ("STALE (" .. error_text(snap.error) .. ")")
    or snap.refreshed and ("refreshed %ds ago"):format(math.max(0, math.floor(now - snap.refreshed)))
    or "refreshing..."
  -- the refresh marker before the totals' tail, so a narrow terminal keeps it
  local totals = view_text.totals_line(snap)
  local head, tail = totals:match("^(.-)  |  (.*)$")
  out[1] = { text.cut("kadoa top  " .. head .. "  " .. when .. "  |  " .. tail, w),
    snap.stale and "1;31" or "1" }
  local filter = self.filter ~= "" and ("  filter: " .. cell(self.filter, 30)) or ""
  out[2] = { text.cut(("sort: %s (s)%s  %s select  p pause  r resume  / filter  q quit"):format(
    view_text.SORTS[self.sort], filter, self.utf8 and "↑↓ j k" or "up/down j k"), w), "2" }
  out[3] = { view_text.heading(w), "7" }
  local rows = view_text.rows(snap, view_text.SORTS[self.sort], self.filter)
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
      local line = view_text.row_line(r, w)   -- the selection's colour across the whole width
      out[#out + 1] = { line .. string.rep(" ", w - text.width(line)), sgr }
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

-- draw(term, frame) -> how many lines were written: those that changed
---@param term { write: fun(self: table, s: string) } where the screen goes
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

-- msg on the bottom line for five seconds, in red for an error
local function say(view, msg, is_error, now)
  view.message, view.message_error, view.message_until = msg, is_error, now + 5
end

---@param k string one of keys()
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
    if k ~= "y" and k ~= "Y" then
      say(self, "cancelled", false, now)
    else
      local res, err = m[p.what](m, p.id)
      say(self, res and ((p.what == "pause" and "paused " or "resumed ") .. text.short_id(p.id))
        or (p.what .. " failed: " .. error_text(err)), not res, now)
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
  elseif k == "s" then self.sort = self.sort % #view_text.SORTS + 1
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

-- The loop: refresh when due, re-read the size (an ioctl) every frame, draw
-- what changed, wait for keys until the next refresh (a quarter of a second
-- at most: the clock on the top line moves, a message ends, a resize).
local function full_screen(output, env, m)
  local tty, msg = core.terminal()
  local raw
  if tty then raw, msg = tty:raw() end
  if not raw then
    if tty then tty:close() end
    output:say(msg .. "; printing one snapshot instead")
    return nil
  end
  local term = { write = function(_, s) output:write(output.stdout, s) end }
  term:write("\27[?1049h\27[?25l\27[2J")   -- the alternate screen, no cursor
  local view = M.new_view(display.utf8(env.getenv))
  local ok, result = pcall(function()
    local due = 0
    while true do
      local now = core.monotime()
      local snap
      if now >= due then
        snap = m:refresh()
        now = core.monotime()
        due = now + m:delay()
      else
        snap = m:snapshot()   -- a pause or resume marks rows between refreshes
      end
      local lines, cols = environment.size()
      if lines ~= view.lines or cols ~= view.cols then
        view.lines, view.cols, view.prev = lines, cols, {}
        term:write("\27[0m\27[2J")
      end
      view:draw(term, view:frame(snap, view.lines, view.cols, now))
      -- a terminal that is gone raises: the view cannot go on
      for _, k in ipairs(M.keys(assert(tty:read(64, math.min(math.max(due - now, 0), 0.25))))) do
        local what = view:key(k, m, core.monotime())
        if what == "quit" then return exit.ok end
        if what == "interrupt" then return exit.interrupted end
      end
    end
  end)
  tty:close()   -- the mode first: it matters most
  term:write("\27[0m\27[?25h\27[?1049l")
  -- the screen is back: now an interruption or an error may be told
  if not ok then error(result, 0) end
  if result == exit.interrupted then output:say("interrupted") end
  return result
end

-- options(opts) -> fleet options | nil, message (values checked by args.check)
---@param opts table the parsed options
---@return kadoa.FleetOptions|nil options without a clock
---@return string|nil message what is wrong
function M.options(opts)
  local o = {
    interval = opts.interval and args.duration(opts.interval),
    max_interval = opts["max-interval"] and args.duration(opts["max-interval"]),
  }
  if o.interval and o.interval < fleet.defaults.min_interval then o.min_interval = o.interval end
  if o.max_interval and o.max_interval < (o.interval or fleet.defaults.interval) then
    if opts.interval then return nil, "--max-interval must not be shorter than --interval" end
    o.interval = o.max_interval
    o.min_interval = math.min(o.max_interval, fleet.defaults.min_interval)
  end
  o.concurrency = tonumber(opts.concurrency)
  return o
end

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.run(c)
  local output, env, client, opts = c.out, c.env, c.client, c.opts
  local fo, msg = M.options(opts)
  if not fo then return output:usage_error(msg, "top") end
  fo.clock = core.monotime
  local m, err = fleet.new(client, fo)
  if not m then return output:fail(err, "top") end

  if opts.json then
    -- until Ctrl-C, which kadoa.cli turns into "interrupted" and exit 130
    while true do
      local snap = m:refresh()
      output:out(output_module.json_line(view_text.json(snap)))
      if opts.once then return snap.stale and exit.api or exit.ok end
      call.sleep(m:delay())
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
  local width = env.is_terminal() and env.width() or 160
  output:out(view_text.totals_line(snap))
  output:out(view_text.heading(width))
  for _, r in ipairs(snap.rows) do output:out(view_text.row_line(r, width)) end
  return exit.ok
end

return M
