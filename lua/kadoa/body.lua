-- Request bodies checked against Kadoa's contract (lua/kadoa/schema.lua, made
-- from spec/contract/) before anything is sent: a mistyped field would cost a
-- round trip or, ignored by the server, run a crawl with defaults. Types are
-- exact (no 0/1 for booleans, no "5" for numbers); enum, minimum, maximum and
-- minLength (in characters) as the contract says; null only where nullable;
-- arrays always sent as arrays; unknown fields refused (with a did-you-mean)
-- unless additionalProperties allows them; an open value is anything JSON
-- carries, at most 100 deep. Defaults are the server's. A start body needs url
-- or startUrls, which the contract does not say. `extra` (the call option)
-- holds fields this version does not know: sent unchecked, but JSON.

local json = require("kadoa.json")
local errors = require("kadoa.errors")
local options = require("kadoa.options")
local schemas = require("kadoa.schema")

local M = {}

local type, pairs, next, tostring = type, pairs, next, tostring
local floor, huge = math.floor, math.huge
local format, concat, sort = string.format, table.concat, table.sort

-- Why a check stops: thrown, caught once in M.check (no plumbing per level).
local Fail = {}

local function fail(message)
  error(setmetatable({ message = message }, Fail), 0)
end

-- keys.root names where the path starts: "body", or "extra" for its fields
local function path_of(keys, n)
  return json.path_text(keys.root or "body", keys, n)
end

local function must(keys, n, what, got)
  fail(path_of(keys, n) .. " must be " .. what .. ", got " .. got)
end

-- A value as a message shows it: strings quoted, numbers as JSON writes them.
local function show(v)
  if type(v) == "string" then
    if #v > 60 then v = v:sub(1, 57) .. "..." end
    return (format("%q", v):gsub("\\\n", "\\n"))
  end
  if type(v) == "number" then
    return json.number_text(v) or (v ~= v and "NaN" or v > 0 and "inf" or "-inf")
  end
  return tostring(v)
end

-- What a value is, in JSON words, for "got ...".
local function kind(v)
  if json.is_null(v) then return "null" end
  local t = type(v)
  if t ~= "table" then return t end
  if json.is_array(v) then return "array" end
  if next(v) == nil then return "empty table" end
  local nums, strs, others = false, false, false
  for k in pairs(v) do
    local tk = type(k)
    if tk == "string" then strs = true elseif tk == "number" then nums = true else others = true end
  end
  if others or (nums and strs) then return "table with mixed keys" end
  return strs and "object" or "array"
end

-- Each check returns the value to encode: arrays marked, objects copied (the
-- caller's tables stay untouched). Invalid UTF-8 is left to kadoa.json.
local check, check_any

local MAX_DEPTH = 100

local function check_string(s, v, keys, n)
  if s.minLength then
    -- characters: the bytes that start a UTF-8 sequence
    local _, chars = v:gsub("[^\128-\191]", "")
    if chars < s.minLength then
      local unit = s.minLength == 1 and "character" or "characters"
      must(keys, n, format("at least %d %s long", s.minLength, unit), show(v))
    end
  end
end

local function check_number(s, v, keys, n)
  if v ~= v or v == huge or v == -huge then must(keys, n, "a finite number", show(v)) end
  if s.type == "integer" and v ~= floor(v) then must(keys, n, "a whole number", show(v)) end
  if s.minimum and v < s.minimum then must(keys, n, "at least " .. show(s.minimum), show(v)) end
  if s.maximum and v > s.maximum then must(keys, n, "at most " .. show(s.maximum), show(v)) end
end

local function check_enum(s, v, keys, n)
  local shown = {}
  for i, e in ipairs(s.enum) do
    if e == v then return end
    shown[i] = show(e)
  end
  must(keys, n, "one of " .. concat(shown, ", "), show(v))
end

-- v is an array or an empty table (check's matches, check_any's kind)
local function check_array(s, v, keys, n)
  local count, max, bad = 0, 0, nil
  for key in pairs(v) do
    -- kind() said every key is a number
    if key < 1 or key ~= floor(key) then
      if bad == nil or key < bad then bad = key end -- the smallest: the same message every time
    else
      count = count + 1
      if key > max then max = key end
    end
  end
  if bad ~= nil then
    fail(format("%s must be an array, but has the key %s", path_of(keys, n), show(bad)))
  end
  if max ~= count then
    local hole = 1
    while v[hole] ~= nil do hole = hole + 1 end
    fail(format("%s must be an array without holes, but has nothing at [%d]", path_of(keys, n), hole))
  end
  local out = json.array({})
  for i = 1, count do
    keys[n + 1] = i
    out[i] = check(s.items, v[i], keys, n + 1)
  end
  keys[n + 1] = nil
  return out
end

local function check_object(s, v, keys, n)
  local k = kind(v)
  if k ~= "object" and k ~= "empty table" and k ~= "table with mixed keys" then
    must(keys, n, "an object", k)
  end
  local props = s.properties or {}
  local ap = s.additionalProperties
  local names, bad = {}, {}
  for key in pairs(v) do
    if type(key) == "string" then names[#names + 1] = key else bad[#bad + 1] = show(key) end
  end
  if bad[1] then
    sort(bad) -- the same message every time, whatever pairs() order is
    fail(format("%s has the key %s: field names must be strings", path_of(keys, n), bad[1]))
  end
  sort(names)
  local out = {}
  for _, key in ipairs(names) do
    keys[n + 1] = key
    local fs = props[key]
    if fs == nil then
      if ap == nil or ap == false then
        local hint = options.closest(key, props)
        fail("unknown field " .. path_of(keys, n + 1) .. (hint and " (did you mean " .. hint .. "?)"
          or n == 0 and " (a field this version does not know goes in the extra option)" or ""))
      elseif ap ~= true then
        fs = ap
      end
    end
    -- additionalProperties: true: sent as it is (check gives back false as false)
    out[key] = fs and check(fs, v[key], keys, n + 1) or v[key]
  end
  for _, req in ipairs(s.required or {}) do
    if v[req] == nil then
      keys[n + 1] = req
      fail("missing required field " .. path_of(keys, n + 1))
    end
  end
  keys[n + 1] = nil
  return out
end

-- A value the contract leaves open: the same walk, "any" all the way down.
local ANY = { type = "any", nullable = true }
local ANY_ARRAY, ANY_OBJECT = { items = ANY }, { additionalProperties = ANY }

function check_any(v, keys, n)
  local t = type(v)
  if t == "table" and not json.is_null(v) then
    if n >= MAX_DEPTH then fail(path_of(keys, n) .. " is nested deeper than " .. MAX_DEPTH .. " levels") end
    if kind(v) == "array" then return check_array(ANY_ARRAY, v, keys, n) end
    return check_object(ANY_OBJECT, v, keys, n)
  elseif not (t == "string" or t == "number" or t == "boolean" or json.is_null(v) or json.is_array(v)) then
    fail(path_of(keys, n) .. " is a " .. t .. ", which JSON cannot carry")
  end
  return v
end

local function matches(s, v)
  local t = type(v)
  if json.is_null(v) then return s.nullable == true end
  if s.type == "any" then return true end
  if s.type == "string" then return t == "string" end
  if s.type == "number" or s.type == "integer" then return t == "number" end
  if s.type == "boolean" then return t == "boolean" end
  local k = kind(v)
  if s.type == "array" then return k == "array" or k == "empty table" end
  -- mixed keys pass here so that check_object can name the bad key
  if s.type == "object" then return k == "object" or k == "empty table" or k == "table with mixed keys" end
  return false
end

local function type_name(s)
  if s.type == "integer" then return "a whole number" end
  if s.type == "one_of" then
    local names = {}
    for i, alt in ipairs(s.one_of) do names[i] = type_name(alt) end
    return concat(names, " or ")
  end
  if s.type == "array" or s.type == "object" or s.type == "any" then return "an " .. s.type end
  return "a " .. s.type
end

function check(s, v, keys, n)
  if json.is_null(v) then
    if s.nullable then return v end
    must(keys, n, type_name(s), "null")
  end
  local t = s.type
  if t == "any" then return check_any(v, keys, n) end
  if t == "one_of" then
    -- exactly one alternative fits (the contract's exclude each other)
    local hit, hits = nil, 0
    for _, alt in ipairs(s.one_of) do
      if matches(alt, v) then hit, hits = alt, hits + 1 end
    end
    if hits == 1 then return check(hit, v, keys, n) end
  end
  if t == "one_of" or not matches(s, v) then must(keys, n, type_name(s), kind(v)) end
  if t == "array" then return check_array(s, v, keys, n) end
  if t == "object" then return check_object(s, v, keys, n) end
  if t == "string" then check_string(s, v, keys, n) end
  if t == "number" or t == "integer" then check_number(s, v, keys, n) end
  if s.enum then check_enum(s, v, keys, n) end
  return v
end

-- Rules the contract does not state.
local extra_rules = {
  StartCrawlerSessionRequest = function(v)
    local urls = v.startUrls
    if v.url == nil and (urls == nil or json.is_null(urls) or urls[1] == nil) then
      fail("body needs url or startUrls (at least one URL to start from)")
    end
  end,
}

local function merge_extra(s, out, extra)
  if type(extra) ~= "table" or json.is_null(extra) or json.is_array(extra) then
    fail("extra must be a table of fields, got " .. kind(extra))
  end
  local names = {}
  for key in pairs(extra) do
    if type(key) ~= "string" then
      fail("extra has the key " .. show(key) .. ": field names must be strings")
    end
    names[#names + 1] = key
  end
  sort(names)
  local props = s.properties or {}
  local fields, keys = {}, { root = "extra" }
  for _, key in ipairs(names) do
    keys[1] = key
    -- out holds known fields only (unknown ones were refused)
    if props[key] ~= nil then
      fail(format("%s is a known field: set %s instead", path_of(keys, 1), json.path_text("body", keys, 1)))
    end
    -- JSON all the same, encoded alone so a problem is named extra.<field>
    fields[key] = check_any(extra[key], keys, 1)
  end
  local _, err = json.encode(fields, "extra")
  if err then fail(err) end
  for _, key in ipairs(names) do out[key] = fields[key] end
end

-- value checked against a request schema and encoded; fname starts messages.
---@param schema_name string a request schema of kadoa.schema
---@param value any the body's fields
---@param fname? string the call's name, for messages
---@param extra? table
---@return string|nil text
---@return kadoa.Error|nil err a usage error
function M.check(schema_name, value, fname, extra)
  local s = schemas[schema_name]
  if type(s) ~= "table" then
    error("kadoa.body: no request schema named " .. tostring(schema_name), 2)
  end
  local ok, res = pcall(function()
    if type(value) ~= "table" or json.is_null(value) then
      fail("body must be a table of fields, got " .. kind(value))
    end
    local out = check_object(s, value, {}, 0)
    if extra_rules[schema_name] then extra_rules[schema_name](value) end
    if extra ~= nil then merge_extra(s, out, extra) end
    local text, err = json.encode(out, "body")
    if not text then fail(err) end
    return text
  end)
  if ok then return res end
  if getmetatable(res) ~= Fail then error(res, 0) end -- a bug here, not a usage error
  return nil, errors.new("usage", (fname or "kadoa") .. ": " .. res.message)
end

return M
