-- kadoa.cli.progress: what `kadoa export` shows: live, a bar redrawn in place;
-- plain, a line per tenth of the pages (a log stays short); a summary last.
-- When a redraw is due is decided here: on_progress comes once a page.

local core = require("kadoa.core")
local format = require("kadoa.format")
local text = require("kadoa.text")
local args = require("kadoa.cli.args")
local display = require("kadoa.cli.display")

local M = {}

local Progress = {}
Progress.__index = Progress

-- Without a known total a plain line comes every this many pages.
local PLAIN_EVERY = 100

---@param live boolean
---@param output table kadoa.cli.output's
---@param env table kadoa.cli.env's
---@return table progress
function M.new(live, output, env)
  local utf8 = display.utf8(env.getenv)
  return setmetatable({
    live = live, output = output, width = live and env.width() or 80,
    start = core.monotime(), drawn = -1, tenth = 0, plain_at = 0,
    full = utf8 and "█" or "#", empty = utf8 and "░" or "-", dots = utf8 and "…" or "...",
  }, Progress)
end

local number = format.number

-- left(p) -> "12s left" | nil: none under a second (rounded up, "1s left"
-- would show to the end of a fast export and never be true).
local function left(p)
  local rate, total, done = p.rate, p.total, p.done or 0
  if type(total) ~= "number" or type(rate) ~= "number" or rate ~= rate or rate <= 0 then return nil end
  local s = (total - done) / rate
  if s < 1 or s > 1e7 then return nil end
  return args.elapsed(math.ceil(s)):gsub("%.0s$", "s") .. " left"
end

-- numbers(p, mark): "12/47 pages  3.2 pages/s  11s left"; following a crawl
-- (p.crawled), "120 crawled  96 exported  3.2 pages/s", and its mark.
---@param p table export's progress
---@param mark? string kadoa.marks' mark of the crawl
---@return string
function M.numbers(p, mark)
  local done = p.done or 0
  local parts = { number(done) .. (type(p.total) == "number" and ("/" .. number(p.total)) or "") .. " pages" }
  if p.crawled then parts[1] = number(p.crawled) .. " crawled  " .. number(p.exported or 0) .. " exported" end
  if type(p.rate) == "number" and p.rate == p.rate and p.rate < math.huge then
    parts[#parts + 1] = ("%.1f pages/s"):format(p.rate)
  end
  if (p.failed or 0) > 0 then parts[#parts + 1] = number(p.failed) .. " failed" end
  parts[#parts + 1] = mark
  if not p.crawled then parts[#parts + 1] = left(p) end
  return table.concat(parts, "  ")
end

---@param p table export's progress
---@param cells integer
---@return string
function Progress:bar(p, cells)
  local total, done = p.total, p.done or 0
  if type(total) ~= "number" or total <= 0 then return string.rep(self.empty, cells) end
  local n = math.floor(cells * math.min(done, total) / total)
  return string.rep(self.full, n) .. string.rep(self.empty, cells - n)
end

-- begin(what): before the first page, which may take a while (the listing
-- comes first): live, a line the bar replaces; plain, a message on stderr.
---@param what string
function Progress:begin(what)
  if self.live then
    self.output:write(self.output.stdout, "\r" .. text.cut(what .. self.dots, self.width - 1) .. "\27[K")
    self.open = true
  else
    self.output:say(what)
  end
end

-- update(p): following (p.crawled), no bar (the total grows); plain, a line
-- every PLAIN_EVERY pages and whenever the mark (self.mark) comes or goes.
---@param p table { done, total, written, skipped, failed, elapsed, rate, crawled, exported }
function Progress:update(p)
  local done, total = p.done or 0, not p.crawled and p.total or nil
  if self.live then
    local now = core.monotime()
    -- ten redraws a second are plenty; the last page is always drawn
    if now - self.drawn < 0.1 and done ~= total then return end
    self.drawn = now
    local numbers = M.numbers(p, self.mark)
    -- the bar gets what the numbers leave; the last column stays free
    local cells = math.max(0, math.min(30, self.width - text.width(numbers) - 5))
    local line = (cells > 0 and total and ("[" .. self:bar(p, cells) .. "] ") or "") .. numbers
    self.output:write(self.output.stdout, "\r" .. text.cut(line, self.width - 1) .. "\27[K")
    self.open = true
  elseif type(total) == "number" and total > 0 then
    local tenth = math.floor(10 * done / total)
    if tenth > self.tenth then
      self.tenth = tenth
      self.output:out(M.numbers(p))
    end
  elseif done - self.plain_at >= PLAIN_EVERY or self.mark ~= self.said then
    self.plain_at, self.said = done, self.mark
    self.output:out(M.numbers(p, self.mark))
  end
end

---@param line string the summary, on a line of its own
function Progress:finish(line)
  if self.live and self.open then self.output:write(self.output.stdout, "\r\27[K") end
  self.open = false
  if line then self.output:out(line) end
end

return M
