-- kadoa.fleet.view: what every view of kadoa.fleet's model shows, in any
-- host: the table's text (totals_line, heading, row_line, for `kadoa top`
-- and :KadoaTop), a view's orders and filter (rows), and the JSON snapshot
-- (`kadoa top --json` and the web dashboard). Each host keeps only its
-- loop, its keys and its medium. Server text (a domain, an error) is made
-- safe for a screen here (one line, escaped, cut by characters) and left
-- as it is in the JSON, where a reader puts it on its medium as text.
--
-- The JSON snapshot, one shape everywhere (a field with no value, NaN or
-- an infinity left out): { rows = [ { id, domain, state, pages, active,
-- waiting, pages_per_minute, elapsed, seen, error, created, created_at } ]
-- (always an array), totals = { sessions, running, paused, finished,
-- failed, pages, pages_per_minute, errors, stalled }, refreshed, stale, refreshes,
-- error = { kind, message, status, request_id } } and the host's own
-- top-level fields. error.kind is a kadoa.ErrorKind, or "internal" when
-- the host's own code failed.

local format = require("kadoa.format")
local json = require("kadoa.json")
local text = require("kadoa.text")

local M = {}

---------------------------------------------------------------------------
-- Cells

-- cell(s, max) -> server text for one cell: one line, escaped, at most max characters
---@param s any the text ("" when not a string)
---@param max integer characters
---@return string
function M.cell(s, max)
  if type(s) ~= "string" then return "" end
  return (text.clean(text.one_line(s, 4 * max + 8), max))
end
local cell = M.cell

-- error_text(err [, max]) -> an error value (or a host's message) as one cell
---@param err kadoa.Error|string|nil
---@param max? integer characters (200)
---@return string
function M.error_text(err, max)
  if err == nil then return "" end
  return cell(format.format_error(err), max or 200)
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

-- The columns, in order; narrow views drop the ones marked `optional`
-- (from the last) before the domain gets less than 16 characters.
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

-- row_line(r, width) -> one row as text, `width` characters at most
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
  local tail = cell(r.domain, 40)
  if r.error then tail = tail .. "  " .. cell(r.error, rest) end
  parts[#parts + 1] = tail
  return text.cut(table.concat(parts, "  "), width)
end

-- heading(width) -> the column headings over row_line's columns, `width` characters at most
---@param width integer columns
---@return string
function M.heading(width)
  local parts = {}
  for _, c in ipairs((columns(width))) do
    parts[#parts + 1] = c.right and rpad(c[1], c[2]) or pad(c[1], c[2])
  end
  parts[#parts + 1] = "DOMAIN"
  return text.cut(table.concat(parts, "  "), width)
end

local function count(n, one, many) return ("%s %s"):format(whole(n), n == 1 and one or many) end

-- totals_line(snap) -> the totals as one line, what matters most first (a
-- narrow view cuts the end): "2 running  1234 pages/min  1 error  |  12
-- sessions, 1 paused, 8 finished, 1 failed, 5678 pages" (", 1 stalled"
-- after the paused ones when there are such).
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

---------------------------------------------------------------------------
-- Sorting and filtering (a view's own: the model's order is "activity")

---@alias kadoa.fleet.view.Sort "activity"|"pages"|"domain"|"newest"

-- The sort orders a view steps through, the first the model's own.
---@type kadoa.fleet.view.Sort[]
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

-- rows(snap, sort, filter) -> the rows to show, in order (a new array)
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

---------------------------------------------------------------------------
-- The JSON snapshot

local ROW = { "id", "domain", "state", "pages", "active", "waiting", "pages_per_minute", "elapsed",
  "seen", "error", "created", "created_at" }
local TOTALS = { "sessions", "running", "paused", "stalled", "finished", "failed", "pages",
  "pages_per_minute", "errors" }

-- what JSON may carry of a value: text (escaped when it is not UTF-8, which
-- the encoder refuses), a finite number, a boolean; else nothing
local function plain(v)
  local t = type(v)
  if t == "string" then return json.utf8_error(v) and (text.clean(v)) or v end
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

-- the failure of the last refresh: an error value's fields, or a host's
-- own message (its code failed: "internal")
local function failure(e)
  if e == nil then return nil end
  if type(e) == "table" and type(e.kind) == "string" then
    local out = pick(e, { "kind", "message", "status", "request_id" })
    out.message = out.message or format.format_error(e)
    return out
  end
  return { kind = "internal", message = type(e) == "string" and plain(e) or format.format_error(e) }
end

-- json(snap [, extra]) -> the snapshot as one line of JSON text, in the
-- shape the header describes; extra's fields (values JSON takes) join
-- the top level.
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
