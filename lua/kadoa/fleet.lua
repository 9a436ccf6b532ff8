-- kadoa.fleet: one model of "all my crawls" for any view (`kadoa top`, Neovim,
-- the dashboard). A host that must not block hands in a proxy client whose
-- methods yield, so all I/O goes through client:sessions, status_many, pause
-- and resume and the given clock, never inside a pcall or an iterator's `for`
-- (Lua 5.1 cannot yield across them). Server text (domain, error) is kept as
-- sent, the key redacted: every view cleans it for its medium.

local errors = require("kadoa.errors")
local options = require("kadoa.options")
local paginate = require("kadoa.paginate")
local marks = require("kadoa.marks")

---A row's state: the crawl's; "paused" for a pause made through this client
---(kadoa.marks, or the model's own while its call runs); "stalled" for a crawl
---that has not moved, with no active job, over several refreshes.
---@alias kadoa.fleet.State "running"|"paused"|"stalled"|"finished"|"failed"|"unknown"

---One crawl of the account.
---@class kadoa.fleet.Row
---@field id string the session id
---@field domain string the listing's domain, else its first start URL's host ("" when neither); server text
---@field state kadoa.fleet.State
---@field pages? number pages crawled so far (crawledPages)
---@field active? number pages being crawled now (activeJobs)
---@field waiting? number pages queued (waitingJobs)
---@field pages_per_minute? number since the refresh before (nil until two refreshes saw the crawl)
---@field elapsed? number seconds since createdAt (on wall_clock), else since the model first saw it
---@field seen number when the last refresh listed it, on the model's clock
---@field error? string why the crawl failed, as the server said it (the key redacted); server text
---@field created? number createdAt as seconds since the epoch (nil: absent or unreadable)
---@field created_at? string createdAt as the server sent it

---The sums over every row.
---@class kadoa.fleet.Totals
---@field sessions integer rows
---@field running integer rows in state "running"
---@field paused integer rows in state "paused"
---@field stalled integer rows in state "stalled"
---@field finished integer rows in state "finished"
---@field failed integer rows in state "failed"
---@field pages number pages crawled, all rows
---@field pages_per_minute number the rows' rates added up
---@field errors integer rows with an error

---The model at one moment: a new table after every refresh or mark, never
---changed afterwards (a view may keep it to compare).
---@class kadoa.fleet.Snapshot
---@field rows kadoa.fleet.Row[] in the model's order (fleet.by_activity)
---@field totals kadoa.fleet.Totals
---@field refreshed? number when the last successful refresh ended, on the model's clock (nil before one)
---@field stale boolean the last refresh failed: the rows are the ones before it
---@field error? kadoa.Error why the last refresh failed (with stale)
---@field refreshes integer refreshes started so far

---require("kadoa.fleet").
---@class kadoa.fleet
local M = {}

---The options' defaults.
---@type kadoa.FleetOptions
M.defaults = options.defaults("fleet")

-- The decoder's null: a listing's or status's JSON null is not an error.
local null = (require("kadoa.codec").get() or {}).null

local function number(v)
  if type(v) == "number" and v == v and v > -math.huge and v < math.huge then return v end
end

local function present(v) return v ~= nil and v ~= null and v ~= false end

-- Days since 1970-01-01, by hand: os.time reads a local time, stamps are UTC.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

---@param s any an ISO 8601 stamp (createdAt): 2026-11-30T23:40:00.123Z, or with an offset
---@return number|nil seconds since the epoch, fractions kept
function M.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  local frac = rest:match("^%.(%d+)")
  if frac then rest = rest:sub(#frac + 2) end
  local offset = 0
  if rest ~= "Z" and rest ~= "z" and rest ~= "" then
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  local t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
  if frac then t = t + tonumber("0." .. frac) end
  return t
end

local error_text = errors.crawl_error_text

local function is_error(v)
  return errors.is(v) or (type(v) == "table" and type(v.kind) == "string" and type(v.message) == "string"
    and v.payload == nil)
end

-- The model; its state is private: read it through snapshot().
---@class kadoa.fleet.Fleet
---@field client kadoa.Client|table what new() was given
---@field options kadoa.FleetOptions checked, defaults filled in
local Fleet = {}
Fleet.__index = Fleet
M.Fleet = Fleet

local list, schedule, merge, build, rebuild

-- A proxy client that gave neither a value nor an error: a usage error.
local function nothing(err, what)
  return err or errors.new("usage", "fleet: client:" .. what .. " returned nothing")
end

---@param client kadoa.Client|table anything with sessions, status_many, pause and resume (see above)
---@param opts? kadoa.FleetOptions
---@return kadoa.fleet.Fleet|nil model
---@return kadoa.Error|nil err a usage error (a bad option, no clock)
function M.new(client, opts)
  if type(client) ~= "table" and type(client) ~= "userdata" then
    error("bad argument #1 to 'fleet.new' (client expected, got " .. type(client) .. ")", 2)
  end
  local o, err = options.check("fleet", opts, "fleet.new")
  if not o then return nil, err end
  local clock = o.clock or (type(client.settings) == "table" and client.settings.clock)
  if type(clock) ~= "function" then
    return nil, errors.new("usage", "fleet.new: no clock: pass opts.clock or a client with settings.clock")
  end
  -- _rows: id -> the row's live state; _marks: id -> what a pause/resume in flight says
  local self = setmetatable({ client = client, options = o, _clock = clock, _wall = o.wall_clock or os.time,
    _rows = {}, _marks = {}, _refreshes = 0 }, Fleet)
  self._snap = build(self, nil, false, nil)
  return self
end

-- Every page of the listing: each_session's pager, without its `for`.
function list(self)
  local L = paginate.listings.sessions
  local pager = paginate.pager(L.items, L.key)
  local items = {}
  for _ = 1, 10000 do   -- a bound: a server might never end its listing
    if pager.finished then break end
    local listing, err = self.client:sessions({ page = pager.page(), page_size = self.options.page_size })
    if not listing then return nil, nothing(err, "sessions") end
    for _, item in ipairs(pager.take(listing)) do
      if type(item) == "table" and type(item.sessionId) == "string" then items[#items + 1] = item end
    end
  end
  return items
end

-- A failed refresh keeps the rows, marks the snapshot stale and carries the
-- error: never raises on an API failure.
---@return kadoa.fleet.Snapshot snap the new one (the current one while another coroutine refreshes)
function Fleet:refresh()
  -- One refresh at a time: another coroutine asking meanwhile gets the
  -- snapshot; a dead one (a raise, a cancel) holds nothing.
  local co, main = coroutine.running()
  local me = (co and not main) and co or "main"
  local owner = self._busy
  if type(owner) == "thread" and owner ~= me and coroutine.status(owner) ~= "dead" then
    return self._snap
  end
  self._busy = me
  self._refreshes = self._refreshes + 1
  local items, err = list(self)
  local statuses
  if items then
    local ids = {}
    for _, item in ipairs(items) do
      local prev = self._rows[item.sessionId]
      -- a failed crawl whose numbers stand is not asked again
      local known_failed = prev and prev.error and prev.pages == number(item.crawledPages)
      if number(item.crawledPages) == nil or (item.finished ~= true and not known_failed) then
        ids[#ids + 1] = item.sessionId
      end
    end
    if #ids > 0 then
      statuses, err = self.client:status_many(ids, { concurrency = self.options.concurrency })
      if type(statuses) ~= "table" then
        items, err = nil, nothing(err, "status_many")
      end
    end
  end
  local now = self._clock()
  local moved
  if items then
    moved = merge(self, items, statuses or {}, now, marks.read())
    self._refreshed = now
  end
  schedule(self, items ~= nil, moved)
  self._snap = build(self, items and nil or err, not items, now)
  self._busy = nil
  return self._snap
end

-- Back to `interval` when something moved, else (and after a failure) grown
-- by `factor` up to max_interval; never below min_interval.
function schedule(self, ok, moved)
  local o = self.options
  local d = self._delay
  local base = math.min(o.interval, o.max_interval)
  if ok and (moved or d == nil) then
    d = base
  else
    d = math.min((d or base) * o.factor, o.max_interval)
  end
  self._delay = math.max(d, o.min_interval)
end

-- How long after the last refresh the next is due (0 before the first).
---@return number seconds
function Fleet:delay() return self._delay or 0 end

-- Fold a listing and its statuses into the rows, with kadoa.marks' paused
-- marks; returns whether anything moved.
function merge(self, items, statuses, now, paused)
  local old = self._rows
  local rows = {}
  local moved = false
  local redact = type(self.client.redact) == "function" and self.client or nil
  for _, item in ipairs(items) do
    local id = item.sessionId
    local prev = old[id]
    local st = statuses[id]
    local res = (type(st) == "table" and not is_error(st)) and st or nil
    local p = res and type(res.payload) == "table" and res.payload or {}
    local pages = number(p.crawledPages) or number(item.crawledPages)
    local active = number(p.activeJobs) or number(item.activeJobs)
    local waiting = number(p.waitingJobs) or number(item.waitingJobs)
    local finished = p.finished
    if finished == nil then finished = item.finished end
    local err_text
    if res and present(res.error) then
      err_text = error_text(res.error)
      if redact then err_text = redact:redact(err_text) end
    elseif prev and prev.error and not res then
      err_text = prev.error   -- a failed status tells nothing new
    end
    -- what this model saw of it lately, for marks.stalled
    local seen = { { crawledPages = pages, activeJobs = active, finished = finished } }
    for i = 1, math.min(#(prev and prev.seen_jobs or {}), marks.STALLED_AFTER - 1) do
      seen[i + 1] = prev.seen_jobs[i]
    end
    local state
    if err_text then state = "failed"
    elseif finished == true then state = "finished"
    elseif self._marks[id] == "paused" or (paused[id] and self._marks[id] ~= "running") then state = "paused"
    elseif marks.stalled(seen) then state = "stalled"
    elseif pages ~= nil then state = "running"
    else state = "unknown" end

    local rate
    if prev and prev.pages and pages and prev.at and now > prev.at then
      rate = math.max(0, (pages - prev.pages) / (now - prev.at) * 60)
    end
    local domain = item.domain
    if type(domain) ~= "string" then
      domain = type(item.startUrls) == "table" and type(item.startUrls[1]) == "string"
        and (item.startUrls[1]:match("^%a[%w+.-]*://([^/?#]+)") or item.startUrls[1]) or ""
    end
    if not prev or prev.pages ~= pages or prev.active ~= active or prev.waiting ~= waiting
        or prev.state ~= state then
      moved = true
    end
    rows[id] = {
      id = id, domain = domain, state = state, pages = pages, active = active, waiting = waiting,
      pages_per_minute = rate, seen = now, error = err_text, created = M.parse_time(item.createdAt),
      first = prev and prev.first or now, at = now, seen_jobs = seen,
      created_at = type(item.createdAt) == "string" and item.createdAt or nil,
    }
  end
  for id in pairs(old) do
    if not rows[id] then moved = true end
  end
  self._rows = rows
  return moved
end

-- The model's order (a table.sort comparator): running first, fastest first;
-- then newest first; the id breaks ties so the order never flickers.
---@param a kadoa.fleet.Row
---@param b kadoa.fleet.Row
---@return boolean
function M.by_activity(a, b)
  local ra, rb = a.state == "running" and 0 or 1, b.state == "running" and 0 or 1
  if ra ~= rb then return ra < rb end
  if ra == 0 then
    local pa, pb = a.pages_per_minute or 0, b.pages_per_minute or 0
    if pa ~= pb then return pa > pb end
  end
  local ca, cb = a.created or -math.huge, b.created or -math.huge
  if ca ~= cb then return ca > cb end
  return a.id < b.id
end

-- A fresh snapshot from the rows (copied: a view may keep an old one).
function build(self, err, stale, now)
  local out = {}
  local wall = self._wall()
  local t = { sessions = 0, running = 0, paused = 0, stalled = 0, finished = 0, failed = 0, pages = 0,
    pages_per_minute = 0, errors = 0 }
  for _, r in pairs(self._rows) do
    local row = {}
    for k, v in pairs(r) do row[k] = v end
    row.at, row.first, row.seen_jobs = nil, nil, nil
    -- the mark shows at once, before the next refresh confirms it
    local mark = self._marks[r.id]
    if mark and r.state ~= "finished" and r.state ~= "failed" then
      row.state = mark
    end
    if r.created and type(wall) == "number" then
      row.elapsed = math.max(0, wall - r.created)
    elseif r.first and (now or self._refreshed) then
      row.elapsed = math.max(0, (now or self._refreshed) - r.first)
    end
    out[#out + 1] = row
    t.sessions = t.sessions + 1
    if t[row.state] then t[row.state] = t[row.state] + 1 end
    t.pages = t.pages + (row.pages or 0)
    t.pages_per_minute = t.pages_per_minute + (row.pages_per_minute or 0)
    if row.error then t.errors = t.errors + 1 end
  end
  table.sort(out, M.by_activity)
  return {
    rows = out, totals = t, refreshed = self._refreshed, stale = stale or false,
    error = err, refreshes = self._refreshes,
  }
end

-- The current model (no I/O).
---@return kadoa.fleet.Snapshot
function Fleet:snapshot() return self._snap end

-- The call through the client; the row shows the new state at once and keeps
-- it (paused until resumed or over); a failed call puts the old mark back.
local function control(self, what, id)
  errors.check_arg(id, "string", 1, what, 3)
  local before = self._marks[id]
  self._marks[id] = what == "pause" and "paused" or "running"
  rebuild(self)
  local res, err = self.client[what](self.client, id)
  if res == nil then
    self._marks[id] = before
    rebuild(self)
    return nil, nothing(err, what)
  end
  -- from here kadoa.marks says it (a resume elsewhere shows at the next
  -- refresh); a pause whose mark could not be written stays the model's
  self._marks[id] = what == "pause" and type(res) == "table" and res.mark_error and "paused" or nil
  local r = self._rows[id]
  if r and r.state ~= "finished" and r.state ~= "failed" then
    r.state = what == "pause" and "paused" or "running"
  end
  rebuild(self)
  return res
end

-- The snapshot again with the same refresh facts.
function rebuild(self)
  self._snap = build(self, self._snap.error, self._snap.stale, nil)
end

---@param id string session id
---@return kadoa.ControlResult|nil res
---@return kadoa.Error|nil err
function Fleet:pause(id) return control(self, "pause", id) end
---@param id string session id
---@return kadoa.ControlResult|nil res
---@return kadoa.Error|nil err
function Fleet:resume(id) return control(self, "resume", id) end

return M
