-- kadoa.fleet.view: what every view of kadoa.fleet's model shows, in any host:
-- the table's text (`kadoa top`, :KadoaTop), the orders and filter, and the
-- JSON snapshot (`kadoa top --json`, the dashboard). Server text is made safe
-- for a screen here and left as it is in the JSON (a reader puts it as text).
-- The JSON: rows (always an array) of ROW's fields, totals of TOTALS', refreshed,
-- stale, refreshes, error { kind ("internal": the host's code failed), message,
-- status, request_id } and the host's own fields; no value, NaN or inf: left out.

local format = require("kadoa.format")
local json = require("kadoa.json")
local text = require("kadoa.text")

local M = {}

-- Server text for one cell: one line, escaped, at most max characters.
---@param s any the text ("" when not a string)
---@param max integer characters
---@return string
function M.cell(s, max)
  if type(s) ~= "string" then return "" end
  return (text.clean(text.one_line(s, 4 * max + 8), max))
end
local cell = M.cell

-- An error value (or a host's message) as one cell.
---@param err kadoa.Error|string|nil
---@param max? integer characters (200)
---@return string
function M.error_text(err, max)
  if err == nil then return "" end
  return cell(format.format_error(err), max or 200)
end

local function whole(n)
  if type(n) ~= "number" or n ~= n then return "-" end
  return format.number(math.floor(n + 0.5))
end

local function rate(n)
  if type(n) == "number" and n > 0 and n < 10 then return ("%.1f"):format(n) end
  return whole(n)
end

-- Narrow views drop the `optional` columns (by number) before the domain
-- gets less than 16 characters.
local COLUMNS = {
  { "SESSION", 9, function(r) return text.short_id(r.id) end },
  { "STATE", 8, function(r) return r.state end },
  { "PAGES", 7, function(r) return whole(r.pages) end, right = true },
  { "PG/MIN", 7, function(r) return rate(r.pages_per_minute) end, right = true },
  { "ACTIVE", 6, function(r) return whole(r.active) end, right = true, optional = 2 },
  { "WAIT", 6, function(r) return whole(r.waiting) end, right = true, optional = 3 },
  { "ELAPSED", 7, function(r) return r.elapsed and format.elapsed(r.elapsed) or "-" end,
    right = true, optional = 1 },
}

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

-- One column's cell: numbers right-aligned, text cut to the column.
local function fit(c, v)
  return c.right and text.pad(v, c[2], true) or text.pad(text.cut(v, c[2]), c[2])
end

-- One row as text, `width` characters at most.
---@param r kadoa.fleet.Row
---@param width integer columns
---@return string
function M.row_line(r, width)
  local cols, rest = columns(width)
  local parts = {}
  for _, c in ipairs(cols) do
    parts[#parts + 1] = fit(c, c[3](r))
  end
  local tail = cell(r.domain, 40)
  if r.error then tail = tail .. "  " .. cell(r.error, rest) end
  parts[#parts + 1] = tail
  return text.cut(table.concat(parts, "  "), width)
end

-- The headings over row_line's columns, `width` characters at most.
---@param width integer columns
---@return string
function M.heading(width)
  local parts = {}
  for _, c in ipairs((columns(width))) do
    parts[#parts + 1] = fit(c, c[1])
  end
  parts[#parts + 1] = "DOMAIN"
  return text.cut(table.concat(parts, "  "), width)
end

local function count(n, one, many) return ("%s %s"):format(whole(n), n == 1 and one or many) end

-- The totals as one line, what matters most first (a narrow view cuts the end).
---@param snap kadoa.fleet.Snapshot
---@return string
function M.totals_line(snap)
  local t = snap.totals
  return ("%s running  %s pages/min  %s  |  %s, %s paused%s, %s finished, %s failed, %s"):format(
    whole(t.running), rate(t.pages_per_minute), count(t.errors, "error", "errors"),
    count(t.sessions, "session", "sessions"), whole(t.paused),
    (t.stalled or 0) > 0 and (", " .. whole(t.stalled) .. " stalled") or "", whole(t.finished),
    whole(t.failed), count(t.pages, "page", "pages"))
end

---@alias kadoa.fleet.view.Sort "activity"|"pages"|"domain"|"newest"

-- The sort orders a view steps through, the first the model's own.
---@type kadoa.fleet.view.Sort[]
M.SORTS = { "activity", "pages", "domain", "newest" }
-- A comparator by key(row), greatest first when `desc`; the id breaks ties.
local function by(key, desc)
  return function(a, b)
    local x, y = key(a), key(b)
    if x == y then return a.id < b.id end
    if desc then return x > y end
    return x < y
  end
end
local SORT_FN = {
  pages = by(function(r) return r.pages or -1 end, true),
  domain = by(function(r) return tostring(r.domain):lower() end),
  newest = by(function(r) return r.created or -math.huge end, true),
}

-- The rows to show, in order (a new array).
---@param snap kadoa.fleet.Snapshot
---@param sort? kadoa.fleet.view.Sort|string "activity" (or nil, or any unknown name) keeps the model's order
---@param filter? string rows whose domain holds this, any case ("" or nil: every row)
---@return kadoa.fleet.Row[]
function M.rows(snap, sort, filter)
  local out = {}
  local needle = filter and filter ~= "" and filter:lower() or nil
  for _, r in ipairs(snap.rows) do
    if not needle or tostring(r.domain):lower():find(needle, 1, true) then out[#out + 1] = r end
  end
  if SORT_FN[sort] then table.sort(out, SORT_FN[sort]) end
  return out
end

local ROW = { "id", "domain", "state", "pages", "active", "waiting", "pages_per_minute", "elapsed",
  "seen", "error", "created", "created_at" }
local TOTALS = { "sessions", "running", "paused", "stalled", "finished", "failed", "pages",
  "pages_per_minute", "errors" }

-- What JSON may carry of a value: text (escaped when not UTF-8, which the
-- encoder refuses), a finite number, a boolean; else nothing.
local function plain(v)
  local t = type(v)
  if t == "string" then return text.utf8_error(v) and (text.clean(v)) or v end
  if t == "boolean" then return v end
  if t == "number" and v == v and v > -math.huge and v < math.huge then return v end
  return nil
end

local function pick(from, names)
  local out = {}
  if type(from) == "table" then
    for _, k in ipairs(names) do out[k] = plain(from[k]) end
  end
  return out
end

local function failure(e)
  if e == nil then return nil end
  if type(e) == "table" and type(e.kind) == "string" then
    local out = pick(e, { "kind", "message", "status", "request_id" })
    out.message = out.message or format.format_error(e)
    return out
  end
  return { kind = "internal", message = type(e) == "string" and plain(e) or format.format_error(e) }
end

-- The snapshot as one line of JSON; extra's fields join the top level.
---@param snap kadoa.fleet.Snapshot
---@param extra? table<string, string|number|boolean> the host's own fields
---@return string
function M.json(snap, extra)
  local v = {}
  for k, x in pairs(extra or {}) do v[k] = plain(x) end
  local rows = json.array()
  for i, r in ipairs(type(snap.rows) == "table" and snap.rows or {}) do rows[i] = pick(r, ROW) end
  v.rows = rows
  v.totals = pick(snap.totals, TOTALS)
  v.refreshed, v.refreshes = plain(snap.refreshed), plain(snap.refreshes)
  v.stale = snap.stale == true
  v.error = failure(snap.error)
  return assert(json.encode(v))
end

return M
