-- Status results and errors as text for people. Every function is total: any
-- value (cyclic, hostile metatables) gives a string and nothing raises; server
-- text is escaped, so it can never drive the terminal.

local ktext = require("kadoa.text")

local M = {}

-- lua-cjson's null, in a decoded table a caller hands us
local has_cjson, cjson = pcall(require, "cjson.safe")
local null = has_cjson and type(cjson) == "table" and cjson.null or nil

local ELLIPSIS = ktext.ELLIPSIS
local ERROR_MAX = 200  -- characters of a crawl error in the short style
local MESSAGE_MAX = 300 -- characters of an error message in format_error
local VALUE_MAX = 120  -- characters of one value in the long view
local LONG_ERROR_MAX = 1000
local KEY_MAX = 40     -- characters of one field name in the long view
local ROWS_MAX = 100   -- extra fields listed in the long view
local DEPTH_MAX = 4    -- nesting shown inside a value

local function absent(v) return v == nil or v == null end
local clean, width_of, short_id_text = ktext.clean, ktext.width, ktext.short_id

local function fmt_number(n)
  if n ~= n then return "nan" end
  if n == math.huge or n == -math.huge then return n > 0 and "inf" or "-inf" end
  if n == math.floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then return string.format("%d", n) end
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
  return count > 0 and count or nil
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

-- v on one line, JSON-ish, at most about `max` characters; a top-level
-- string bare unless `quoted`
local function render(v, max, quoted)
  local buf, count, full, seen = {}, 0, false, {}

  local function put(text)
    if full then return end
    full = count + #text > max
    buf[#buf + 1] = full and ELLIPSIS or text
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
      local keys = not n and sorted_keys(x)
      put(n and "[" or "{")
      for i = 1, n or #keys do
        if i > 1 then put(",") end
        local k = n and i or keys[i].key
        if not n then
          if type(k) == "string" then put('"') put_text(k) put('":') else put(keys[i].label) put(":") end
        end
        value(rawget(x, k), depth + 1, true)
        if full then break end
      end
      put(n and "]" or "}")
      seen[x] = nil
    else
      put("<" .. t .. ">")
    end
  end

  value(v, 0, quoted)
  return table.concat(buf)
end

local KNOWN_PAYLOAD = { crawledPages = true, activeJobs = true, waitingJobs = true, finished = true }
local KNOWN_TOP = { sessionId = true, payload = true, error = true }

local function has_error(e) return not absent(e) and e ~= false end

-- Any value as text: a string cleaned, anything else rendered.
local function as_text(v, max)
  if type(v) == "string" then return (clean(v, max)) end
  return render(v, max or VALUE_MAX)
end

local function id_text(id, short)
  if type(id) == "string" then
    if short then return short_id_text(id) end
    return (clean(id, VALUE_MAX))
  end
  return render(id, short and 24 or VALUE_MAX)
end

-- The API has no paused state: a mark from kadoa.marks says it instead.
local MARKS = { paused = true, stalled = true }
local function state(err, p, mark)
  if has_error(err) then return "failed" end
  if p and rawget(p, "finished") == true then return "finished" end
  return MARKS[mark] and mark or "crawling"
end

local function short_view(res, id, mark)
  local parts = {}
  if not absent(id) and id ~= "" then parts[#parts + 1] = id_text(id, true) end
  local err = rawget(res, "error")
  local payload = rawget(res, "payload")
  if type(payload) ~= "table" then payload = nil end
  local st = state(err, payload, mark)
  if st == "failed" then
    local text = as_text(err, ERROR_MAX)
    if text ~= "" then st = "failed: " .. text end
  end
  parts[#parts + 1] = st
  if payload then
    local pages, active, waiting = rawget(payload, "crawledPages"), rawget(payload, "activeJobs"),
      rawget(payload, "waitingJobs")
    local jobs = {}
    if not absent(active) then jobs[#jobs + 1] = render(active, 40) .. " active" end
    if not absent(waiting) then jobs[#jobs + 1] = render(waiting, 40) .. " waiting" end
    local text = not absent(pages) and render(pages, 40) .. (pages == 1 and " page" or " pages") or nil
    if jobs[1] then
      local j = table.concat(jobs, ", ")
      text = text and text .. " (" .. j .. ")" or j
    end
    parts[#parts + 1] = text
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
  add("state", state(err, p, mark))
  add("pages", num(p and rawget(p, "crawledPages")))
  add("active jobs", num(p and rawget(p, "activeJobs")))
  add("waiting jobs", num(p and rawget(p, "waitingJobs")))
  if has_error(err) then add("error", as_text(err, LONG_ERROR_MAX)) end

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
  for _, row in ipairs(rows) do width = math.max(width, width_of(row[1])) end
  for i, row in ipairs(rows) do
    rows[i] = row[1] .. string.rep(" ", width - width_of(row[1]) + 2) .. row[2]
  end
  return table.concat(rows, "\n")
end

-- f(...) when it gives a string, else the fallback: nothing here raises
local function total(fallback, f, ...)
  local ok, text = pcall(f, ...)
  return ok and type(text) == "string" and text or fallback
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

-- style "short" (one line) or "long" (aligned rows); id names the session
-- when res does not; mark (kadoa.marks) replaces "crawling".
---@param res kadoa.StatusResult|any
---@param opts? { style?: "short"|"long", id?: string, mark?: "paused"|"stalled" }
---@return string
function M.format(res, opts)
  return total("unprintable status", format_impl, res, opts)
end

local function error_impl(err)
  if absent(err) then return "unknown error" end
  local t = type(err)
  if t == "string" then
    local text = clean(err, MESSAGE_MAX)
    return text ~= "" and text or "unknown error"
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
    head[1] = type(kind) == "string" and clean((kind:gsub("_", " ")), 40) or render(kind, 40)
  end
  local message_text = absent(message) and "" or as_text(message, MESSAGE_MAX)
  if message_text ~= "" then head[#head + 1] = message_text end

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
    extra[#extra + 1] = "request-id " .. as_text(request_id, 100)
  end

  local text = table.concat(head, ": ")
  if text == "" then text = "unknown error" end
  if #extra > 0 then text = text .. " (" .. table.concat(extra, ", ") .. ")" end
  return text
end

-- One line for a person, from an error of kadoa.errors or anything else.
---@param err kadoa.Error|any
---@return string
function M.format_error(err)
  return total("unprintable error", error_impl, err)
end

-- Untrusted text (any value) safe to print, for the other front ends.
---@param s any untrusted text (anything: it is rendered)
---@param max? number bytes at most
---@return string
function M.text(s, max)
  if type(max) ~= "number" or max ~= max or max < 0 then max = nil end
  return total("?", as_text, s, max)
end

---@param id any
---@return string
function M.short_id(id)
  return total("?", id_text, id, true)
end

-- Time gone by as the views show it: 7.3s, 2m05s, 1h02m.
---@param s number seconds
---@return string
function M.elapsed(s)
  if s < 60 then return ("%.1fs"):format(s) end
  s = math.floor(s + 0.5)
  if s < 3600 then return ("%dm%02ds"):format(math.floor(s / 60), s % 60) end
  return ("%dh%02dm"):format(math.floor(s / 3600), math.floor(s % 3600 / 60))
end

-- A number as the views show it (14, not 14.0; nan; inf).
---@param n number|any
---@return string
function M.number(n)
  if type(n) ~= "number" then return M.text(n) end
  return fmt_number(n)
end

return M
