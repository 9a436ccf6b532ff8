-- kadoa.cli.display: what `kadoa wait` (and `crawl --wait`) shows: live, one
-- line redrawn with a spinner; plain, a line per change; last, the final state.

local core = require("kadoa.core")
local format = require("kadoa.format")
local text = require("kadoa.text")
local waiter = require("kadoa.wait")
local args = require("kadoa.cli.args")

local M = {}

local Display = {}
Display.__index = Display

local SPIN_UTF8 = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" }
local SPIN_ASCII = { "|", "/", "-", "\\" }

-- utf8(getenv): the locale promises UTF-8: braille spinner, marks, block bar
---@param getenv fun(name: string): string|nil
---@return boolean
function M.utf8(getenv)
  local v = getenv("LC_ALL")
  if not v or v == "" then v = getenv("LC_CTYPE") end
  if not v or v == "" then v = getenv("LANG") end
  return v ~= nil and (v:lower():find("utf%-?8") ~= nil)
end

-- live(opts, env): not with --plain, NO_COLOR, TERM=dumb or no terminal
---@param opts table the parsed options (plain)
---@param env table kadoa.cli.env's
---@return boolean
function M.live(opts, env)
  local no_color = env.getenv("NO_COLOR")
  return not opts.plain and (no_color == nil or no_color == "") and env.getenv("TERM") ~= "dumb"
    and env.is_terminal() and true or false
end

---@param id string session id
---@param live boolean
---@param output table kadoa.cli.output's
---@param env table kadoa.cli.env's
---@return table display
function M.new(id, live, output, env)
  local utf8 = M.utf8(env.getenv)
  return setmetatable({
    id = id, live = live, start = core.monotime(), output = output,
    frame = 0, drawn = 0, width = live and env.width() or 80,
    max_failures = waiter.defaults.max_failures,
    spin = utf8 and SPIN_UTF8 or SPIN_ASCII,
    mark = utf8 and { finished = "✓", failed = "✗", stopped = "■" }
      or { finished = "+", failed = "x", stopped = "-" },
  }, Display)
end

-- The state: the formatted status, pages per minute, a note, elapsed.
---@param elapsed number seconds
---@param final? boolean the last line (no spinner)
---@return string
function Display:line(elapsed, final)
  local parts = {}
  if self.res then
    parts[1] = format.format(self.res, { id = self.id, mark = self.crawl_mark })
  else
    parts[1] = format.short_id(self.id) .. (final and "  no answer yet" or "  waiting for the first answer")
  end
  local rate = self.info and self.info.pages_per_minute
  if type(rate) == "number" and rate == rate and rate >= 0 and rate < math.huge then
    parts[#parts + 1] = format.number(math.floor(rate + 0.5)) .. " pages/min"
  end
  if self.note then parts[#parts + 1] = self.note end
  parts[#parts + 1] = args.elapsed(elapsed or (core.monotime() - self.start))
  return table.concat(parts, "  ")
end

function Display:draw()
  if not self.live then return end
  self.frame = self.frame % #self.spin + 1
  self.drawn = core.monotime()
  -- the spinner and a space, and the last column free: some terminals wrap there
  local line = text.cut(self:line(), self.width - 3)
  self.output:write(self.output.stdout, "\r\27[36m" .. self.spin[self.frame] .. "\27[0m " .. line .. "\27[K")
end

-- Called often while waiting: the spinner turns ten times a second.
function Display:tick()
  if self.live and core.monotime() - self.drawn >= 0.1 then self:draw() end
end

---@param res table
---@param info table
function Display:update(res, info)
  self.res, self.info, self.note = res, info, nil
  if self.live then
    self:draw()
  elseif info.changed then
    self.output:out(self:line(info.elapsed))
  end
end

---@param err kadoa.Error
---@param info table
function Display:problem(err, info)
  local msg = format.format_error(err)
  self.note = "retrying after " .. format.text(msg, 60)
  if self.live then
    self:draw()
  elseif (info.failures or 0) < self.max_failures then
    self.output:say(msg .. "; trying again")   -- the last one is reported as the wait's end
  end
end

-- The last word: live, the line becomes a final one; plain, the state again
-- only when asked (an interruption).
---@param how "finished"|"failed"|"timeout"|"interrupted"|string
---@param again? boolean print the state again (plain mode)
function Display:finish(how, again)
  local color = how == "finished" and "32" or how == "failed" and "31" or "33"
  local output = self.output
  if self.live and not self.res and not again then
    output:write(output.stdout, "\r\27[K")   -- nothing known: the error says it all
  elseif self.live then
    local line = text.cut(self:line(nil, true), self.width - 3)
    output:write(output.stdout, "\r\27[" .. color .. "m" .. self.mark[how] .. "\27[0m " .. line .. "\27[K\n")
  elseif again then
    output:out(self:line(nil, true))
  end
end

return M
