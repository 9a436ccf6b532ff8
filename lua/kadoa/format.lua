-- Turning status results and errors into text for people.
--
-- Every function here is total: any value at all (nil, a number, a table
-- of any shape, a table that contains itself, one with hostile
-- metatables) gives back a string, and nothing raises. Text that came
-- from the server is escaped on the way out, so it can never move the
-- cursor, clear the screen or retitle the terminal.

local ktext = require("kadoa.text")

local M = {}

-- The JSON null of lua-cjson, when a caller hands us an undecoded table.
local null
do
  local ok, cjson = pcall(require, "cjson.safe")
  if ok and type(cjson) == "table" then null = cjson.null end
end

local ELLIPSIS = ktext.ELLIPSIS
local ERROR_MAX = 200  -- characters of a crawl error in the short style
local MESSAGE_MAX = 300 -- characters of an error message in format_error
local VALUE_MAX = 120  -- characters of one value in the long view
local LONG_ERROR_MAX = 1000
local KEY_MAX = 40     -- characters of one field name in the long view
local ROWS_MAX = 100   -- extra fields listed in the long view
local DEPTH_MAX = 4    -- nesting shown inside a value

local function absent(v) return v == nil or v == null end

-- Text rules (escaping, widths, short ids) live in kadoa.text.
local clean, width_of, short_id_text = ktext.clean, ktext.width, ktext.short_id

---------------------------------------------------------------------------
-- Values: compact, JSON-ish, capped, cycle-safe.
---------------------------------------------------------------------------

local function fmt_number(n)
  if n ~= n then return "nan" end
  if n == math.huge then return "inf" end
  if n == -math.huge then return "-inf" end
  if n == math.floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then
    return string.format("%d", n)
  end
  return string.format("%.14g", n)
end

-- The keys 1..n when t is a non-empty sequence with no other keys.
local function array_length(t)
  local count = 0
  for k in next, t do
    if type(k) ~= "number" or k ~= math.floor(k) or k < 1 then return nil end
    count = count + 1
  end
  for i = 1, count do
    if rawget(t, i) == nil then return nil end
  end
  if count == 0 then return nil end
  return count
end

local function key_label(k)
  local t = type(k)
  if t == "string" then return (clean(k, KEY_MAX)) end
  if t == "number" then return "[" .. fmt_number(k) .. "]" end
  if t == "boolean" then return "[" .. (k and "true" or "false") .. "]" end
  return "[" .. t .. "]"
end

-- The keys of t for which keep(k) holds, with their labels, in label order.
local function sorted_keys(t, keep)
  local list = {}
  for k in next, t do
    if not keep or keep(k) then
      list[#list + 1] = { key = k, label = key_label(k) }
    end
  end
  table.sort(list, function(a, b) return a.label < b.label end)
  return list
end

-- render(v, max [, quoted]) -> text: v on one line, at most about `max`
-- characters. Top-level strings are shown bare unless `quoted`.
local function render(v, max, quoted)
  local buf, count, full = {}, 0, false
  local seen = {}

  local function put(text)
    if full then return end
    if count + #text > max then
      buf[#buf + 1] = ELLIPSIS
      full = true
      return
    end
    buf[#buf + 1] = text
    count = count + #text
  end

  local function put_text(s)
    if full then return end
    local text, w, cut = clean(s, max - count)
    buf[#buf + 1] = text
    count = count + w
    if cut then full = true end
  end

  local function value(x, depth, quote)
    if full then return end
    local t = type(x)
    if absent(x) then
      put("null")
    elseif t == "boolean" then
      put(x and "true" or "false")
    elseif t == "number" then
      put(fmt_number(x))
    elseif t == "string" then
      if quote then put('"') end
      put_text(x)
      if quote then put('"') end
    elseif t == "table" then
      if seen[x] then put("<cycle>") return end
      local n = array_length(x)
      if depth >= DEPTH_MAX then put(n and "[" .. ELLIPSIS .. "]" or "{" .. ELLIPSIS .. "}") return end
      seen[x] = true
      if n then
        put("[")
        for i = 1, n do
          if i > 1 then put(",") end
          value(rawget(x, i), depth + 1, true)
          if full then break end
        end
        put("]")
      else
        put("{")
        for idx, item in ipairs(sorted_keys(x)) do
          if idx > 1 then put(",") end
          local k = item.key
          if type(k) == "string" then put('"') put_text(k) put('":') else put(item.label) put(":") end
          value(rawget(x, k), depth + 1, true)
          if full then break end
        end
        put("}")
      end
      seen[x] = nil
    else
      put("<" .. t .. ">")
    end
  end

  value(v, 0, quoted)
  return table.concat(buf)
end

---------------------------------------------------------------------------
-- Status results.
---------------------------------------------------------------------------

local KNOWN_PAYLOAD = { crawledPages = true, activeJobs = true, waitingJobs = true, finished = true }
local KNOWN_TOP = { sessionId = true, payload = true, error = true }

local function has_error(e) return not absent(e) and e ~= false end

local function error_text(e, max)
  if type(e) == "string" then return (clean(e, max)) end
  return render(e, max)
end

local function id_text(id, short)
  if type(id) == "string" then
    if short then return short_id_text(id) end
    return (clean(id, VALUE_MAX))
  end
  return render(id, short and 24 or VALUE_MAX)
end

local function count_text(v, one, many)
  local text = render(v, 40)
  if v == 1 then return text .. " " .. one end
  return text .. " " .. many
end

-- What a crawl that is neither failed nor finished is doing: the API has
-- no paused state, so a mark from kadoa.marks ("paused", "stalled") says it.
local MARKS = { paused = true, stalled = true }
local function running(mark)
  return MARKS[mark] and mark or "crawling"
end

local function short_view(res, id, mark)
  local parts = {}
  if not absent(id) and id ~= "" then parts[#parts + 1] = id_text(id, true) end
  local err = rawget(res, "error")
  local payload = rawget(res, "payload")
  if type(payload) ~= "table" then payload = nil end
  if has_error(err) then
    local text = error_text(err, ERROR_MAX)
    parts[#parts + 1] = text == "" and "failed" or ("failed: " .. text)
  elseif payload and rawget(payload, "finished") == true then
    parts[#parts + 1] = "finished"
  else
    parts[#parts + 1] = running(mark)
  end
  if payload then
    local pages, active, waiting = rawget(payload, "crawledPages"), rawget(payload, "activeJobs"),
      rawget(payload, "waitingJobs")
    local jobs = {}
    if not absent(active) then jobs[#jobs + 1] = render(active, 40) .. " active" end
    if not absent(waiting) then jobs[#jobs + 1] = render(waiting, 40) .. " waiting" end
    local jobs_text = #jobs > 0 and table.concat(jobs, ", ") or nil
    if not absent(pages) then
      local text = count_text(pages, "page", "pages")
      if jobs_text then text = text .. " (" .. jobs_text .. ")" end
      parts[#parts + 1] = text
    elseif jobs_text then
      parts[#parts + 1] = jobs_text
    end
  end
  return table.concat(parts, "  ")
end

local function long_view(res, id, mark)
  local rows = {}
  local function add(label, text) rows[#rows + 1] = { label, text } end
  local function num(v) if absent(v) then return "-" end return render(v, VALUE_MAX) end

  local err = rawget(res, "error")
  local payload = rawget(res, "payload")
  local p = type(payload) == "table" and payload or nil
  local finished = p and rawget(p, "finished")

  add("session", (absent(id) or id == "") and "-" or id_text(id, false))
  if has_error(err) then
    add("state", "failed")
  elseif finished == true then
    add("state", "finished")
  else
    add("state", running(mark))
  end
  add("pages", num(p and rawget(p, "crawledPages")))
  add("active jobs", num(p and rawget(p, "activeJobs")))
  add("waiting jobs", num(p and rawget(p, "waitingJobs")))
  if has_error(err) then add("error", error_text(err, LONG_ERROR_MAX)) end

  local extra = {}
  if p then
    for _, item in ipairs(sorted_keys(p, function(k)
      if k == "finished" then return not absent(finished) and type(finished) ~= "boolean" end
      return not KNOWN_PAYLOAD[k]
    end)) do
      extra[#extra + 1] = { item.label, render(rawget(p, item.key), VALUE_MAX) }
    end
  elseif not absent(payload) then
    extra[#extra + 1] = { "payload", render(payload, VALUE_MAX) }
  end
  for _, item in ipairs(sorted_keys(res, function(k) return not KNOWN_TOP[k] end)) do
    extra[#extra + 1] = { item.label, render(rawget(res, item.key), VALUE_MAX) }
  end
  for i = 1, math.min(#extra, ROWS_MAX) do rows[#rows + 1] = extra[i] end
  if #extra > ROWS_MAX then
    rows[#rows + 1] = { ELLIPSIS, string.format("%d more fields", #extra - ROWS_MAX) }
  end

  local width = 0
  for _, row in ipairs(rows) do
    row[3] = width_of(row[1])
    if row[3] > width then width = row[3] end
  end
  local lines = {}
  for i, row in ipairs(rows) do
    lines[i] = row[1] .. string.rep(" ", width - row[3] + 2) .. row[2]
  end
  return table.concat(lines, "\n")
end

local function format_impl(res, opts)
  if type(opts) ~= "table" then opts = nil end
  local style = opts and rawget(opts, "style")
  local id = opts and rawget(opts, "id")
  local mark = opts and rawget(opts, "mark")
  if type(res) ~= "table" then
    local text = absent(res) and "no status" or ("not a status: " .. render(res, VALUE_MAX, true))
    if not absent(id) then text = id_text(id, style ~= "long") .. "  " .. text end
    return text
  end
  if absent(id) then id = rawget(res, "sessionId") end
  if style == "long" then return long_view(res, id, mark) end
  return short_view(res, id, mark)
end

-- format(res [, opts]) -> string. opts.style = "short" (default, one line)
-- or "long" (aligned rows); opts.id names the session when res does not;
-- opts.mark ("paused" or "stalled", from kadoa.marks) is shown instead of
-- "crawling" for a crawl that is neither finished nor failed.
---@param res kadoa.StatusResult|any
---@param opts? { style?: "short"|"long", id?: string, mark?: "paused"|"stalled" }
---@return string
function M.format(res, opts)
  local ok, text = pcall(format_impl, res, opts)
  if ok and type(text) == "string" then return text end
  return "unprintable status"
end

---------------------------------------------------------------------------
-- Errors.
---------------------------------------------------------------------------

local function error_impl(err)
  if absent(err) then return "unknown error" end
  local t = type(err)
  if t == "string" then
    local text = clean(err, MESSAGE_MAX)
    if text == "" then return "unknown error" end
    return text
  end
  if t ~= "table" then return "error: " .. render(err, MESSAGE_MAX, true) end

  local kind, message = rawget(err, "kind"), rawget(err, "message")
  if absent(kind) and absent(message) then
    local mt = getmetatable(err)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      local ok, s = pcall(tostring, err)
      if ok and type(s) == "string" then return (clean(s, MESSAGE_MAX)) end
    end
    return "error: " .. render(err, MESSAGE_MAX)
  end

  local head = {}
  if not absent(kind) then
    if type(kind) == "string" then
      head[#head + 1] = (clean((kind:gsub("_", " ")), 40))
    else
      head[#head + 1] = render(kind, 40)
    end
  end
  local message_text = ""
  if not absent(message) then
    message_text = error_text(message, MESSAGE_MAX)
    if message_text ~= "" then head[#head + 1] = message_text end
  end

  local extra = {}
  local status = rawget(err, "status")
  if type(status) == "number" then
    local s = "HTTP " .. fmt_number(status)
    if not message_text:find(s, 1, true) then extra[#extra + 1] = s end
  end
  local attempts = rawget(err, "attempts")
  if type(attempts) == "number" and attempts > 1 then
    extra[#extra + 1] = fmt_number(attempts) .. " attempts"
  end
  local failures = rawget(err, "failures")
  if type(failures) == "number" and failures > 0 then
    extra[#extra + 1] = fmt_number(failures) .. (failures == 1 and " failure" or " failures") .. " in a row"
  end
  local retry_after = rawget(err, "retry_after")
  if type(retry_after) == "number" and retry_after > 0 then
    extra[#extra + 1] = "retry after " .. fmt_number(retry_after) .. " s"
  end
  local request_id = rawget(err, "request_id")
  if not absent(request_id) then
    local rid = type(request_id) == "string" and (clean(request_id, 100)) or render(request_id, 100)
    extra[#extra + 1] = "request-id " .. rid
  end

  local text = table.concat(head, ": ")
  if text == "" then text = "unknown error" end
  if #extra > 0 then text = text .. " (" .. table.concat(extra, ", ") .. ")" end
  return text
end

-- format_error(err) -> string: one line for a person, from an error of
-- kadoa.errors or from anything else (a string, nil, a foreign table).
---@param err kadoa.Error|any
---@return string
function M.format_error(err)
  local ok, text = pcall(error_impl, err)
  if ok and type(text) == "string" then return text end
  return "unprintable error"
end

-- Helpers for other front ends (the CLI's live line): text(s [, max])
-- makes untrusted text safe to print, short_id(id) shortens a session id.
---@param s any untrusted text (anything: it is rendered)
---@param max? number bytes at most
---@return string
function M.text(s, max)
  if type(max) ~= "number" or max ~= max or max < 0 then max = nil end
  local ok, text
  if type(s) == "string" then
    ok, text = pcall(clean, s, max)
  else
    ok, text = pcall(render, s, max or VALUE_MAX)
  end
  if ok and type(text) == "string" then return text end
  return "?"
end

---@param id any
---@return string
function M.short_id(id)
  local ok, text = pcall(id_text, id, true)
  if ok then return text end
  return "?"
end

-- elapsed(seconds): time gone by, as the views show it: 7.3s, 2m05s, 1h02m.
---@param s number seconds
---@return string
function M.elapsed(s)
  if s < 60 then return ("%.1fs"):format(s) end
  s = math.floor(s + 0.5)
  if s < 3600 then return ("%dm%02ds"):format(math.floor(s / 60), s % 60) end
  return ("%dh%02dm"):format(math.floor(s / 3600), math.floor(s % 3600 / 60))
end

-- number(n): a number as the views show it (14, not 14.0; nan; inf).
---@param n number|any
---@return string
function M.number(n)
  if type(n) ~= "number" then return M.text(n) end
  return fmt_number(n)
end

return M
