-- A JSON encoder in pure Lua (decoding stays with lua-cjson). Written here
-- rather than taken from cjson because cjson cannot tell an empty array from
-- an empty object, writes whole floats as 5.0 on some builds and 1e+15 on
-- others, passes invalid UTF-8 through, and orders keys by hash: a body must
-- be exact and the same every time. Whether a value is the right shape is
-- for whoever builds it (kadoa.body checks request bodies); this file only
-- writes it.
--
--   local json = require("kadoa.json")
--   json.encode(value [, root]) -> text | nil, message
--   json.null                   the JSON null (cjson.null is accepted too)
--   json.array([t])             marks t (or a new table) as an array; returns it
--   json.is_array(t)            true when t is marked as an array
--
-- Rules:
--   strings    RFC 8259 escapes: \" \\ and every control character as \u00XX;
--              valid UTF-8 is written as it is
--   numbers    whole numbers up to 2^53 (and Lua 5.3+ integers) as integers,
--              other numbers with %.17g (exact on reading back)
--   booleans   true / false
--   tables     marked with json.array, or a non-empty sequence 1..n: an array;
--              otherwise an object (an empty unmarked table is {}), its keys
--              written in sorted order
-- What JSON cannot carry (invalid UTF-8, NaN, infinities, a function or
-- userdata, a non-string key, a sparse or mixed table) is refused with a
-- message naming where, from `root` (default "value"):
-- `value.a[2] is not valid UTF-8 (at position 3, byte 0xff)`. Nothing looks
-- for cycles or depth: kadoa.body checks what a caller hands in, and
-- everything else encoded is decoded JSON or built by this library.

local text = require("kadoa.text")

local M = {}

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local getmetatable, setmetatable = getmetatable, setmetatable
local format, concat, sort = string.format, table.concat, table.sort
local floor, huge = math.floor, math.huge
local mtype = math.type -- nil before 5.3

-- The null sentinel: a table of its own (not lightuserdata, which some
-- hosts lack or share), read-only so nobody stores fields on it by mistake.
M.null = setmetatable({}, {
  __tostring = function() return "null" end,
  __newindex = function() error("json.null is read-only", 2) end,
  __metatable = "json.null",
})

-- cjson's null (a lightuserdata) means the same, so values decoded by cjson
-- can be sent back unchanged. cjson is optional.
local cjson_null, cjson_array_mts, cjson_empty_array
do
  local ok, cjson = pcall(require, "cjson")
  if ok and type(cjson) == "table" then
    cjson_null = cjson.null
    cjson_empty_array = cjson.empty_array
    -- newer cjson marks decoded arrays with these metatables
    cjson_array_mts = {}
    if cjson.array_mt then cjson_array_mts[cjson.array_mt] = true end
    if cjson.empty_array_mt then cjson_array_mts[cjson.empty_array_mt] = true end
  end
end

-- is_null(v): v is JSON null (ours, or the cjson null a decoded answer holds)
---@param v any
---@return boolean
function M.is_null(v)
  return v == M.null or (cjson_null ~= nil and v == cjson_null)
end

-- The mark json.array puts on a table (its metatable; nothing else in it).
local array_mt = {}

-- array([t]) -> t marked as a JSON array, so an empty one encodes as []
---@param t? table
---@return table
function M.array(t)
  t = t or {}
  if type(t) ~= "table" then error("json.array: expected a table, got " .. type(t), 2) end
  return setmetatable(t, array_mt)
end

-- is_array(t): t carries an array mark (ours, or cjson's on decoded arrays),
-- or is cjson's empty array
---@param t any
---@return boolean
function M.is_array(t)
  if cjson_empty_array ~= nil and t == cjson_empty_array then return true end
  local mt = getmetatable(t)
  return mt == array_mt or (cjson_array_mts ~= nil and mt ~= nil and cjson_array_mts[mt] == true)
end

-- Paths for messages: the keys from the root down, turned into text only
-- when something fails.
---@param root string the name of the root ("body")
---@param keys (string|number)[] the keys from the root down
---@param n integer how many of them
---@return string
local function path_text(root, keys, n)
  local parts = { root }
  for i = 1, n do
    local k = keys[i]
    if type(k) == "number" then
      parts[#parts + 1] = "[" .. format("%d", k) .. "]"
    elseif k:match("^[%a_][%w_]*$") then
      parts[#parts + 1] = "." .. k
    else
      parts[#parts + 1] = "[" .. format("%q", k):gsub("\\\n", "\\n") .. "]"
    end
  end
  return concat(parts)
end
M.path_text = path_text

-- kadoa.fleet.view escapes text that is not UTF-8 before it gets here
M.utf8_error = text.utf8_error

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\" }
for c = 0, 31 do escapes[string.char(c)] = format("\\u%04x", c) end

local function quote(s)
  -- %z: 5.1 patterns cannot hold a literal NUL (later versions accept %z too)
  return '"' .. s:gsub('[%z\1-\31"\\]', escapes) .. '"'
end

-- A number as JSON text, or nil and why not.
---@param x number
---@return string|nil text
---@return string|nil why not (NaN, infinity)
local function number_text(x)
  if x ~= x then return nil, "is NaN, which JSON cannot carry" end
  if x == huge or x == -huge then
    return nil, "is " .. (x > 0 and "" or "-") .. "infinity, which JSON cannot carry"
  end
  if mtype and mtype(x) == "integer" then return format("%d", x) end
  if x == floor(x) and x >= -2 ^ 53 and x <= 2 ^ 53 then
    -- %.0f: exact for whole doubles in this range, on every Lua
    return format("%.0f", x)
  end
  -- a locale may use a decimal comma; JSON wants a point
  return (format("%.17g", x):gsub(",", "."))
end
M.number_text = number_text

---@param value any
---@param root? string the name paths in messages start from (default "value")
---@return string|nil text
---@return string|nil message what JSON cannot carry, and where
function M.encode(value, root)
  root = root or "value"
  local buf, nb = {}, 0
  local keys, depth = {}, 0

  local function where(n) return path_text(root, keys, n or depth) end
  local function refuse(msg) return nil, where() .. " " .. msg end

  local function add(s) nb = nb + 1; buf[nb] = s end

  -- a string (or, from the object above, a key) as JSON text
  local function string_text(s, key)
    local bad = text.utf8_error(s)
    if not bad then return quote(s) end
    if key then return nil, where(depth - 1) .. " has a key that is not valid UTF-8 (" .. bad .. ")" end
    return nil, where() .. " is not valid UTF-8 (" .. bad .. ")"
  end

  local enc

  local function enc_table(t)
    local ok, err = true, nil
    if M.is_array(t) or t[1] ~= nil then
      local n, count = #t, 0
      for _ in pairs(t) do count = count + 1 end
      if count ~= n then return refuse("is a sparse array or mixes items and fields") end
      depth = depth + 1
      add("[")
      for i = 1, n do
        if i > 1 then add(",") end
        keys[depth] = i
        ok, err = enc(t[i])
        if not ok then break end
      end
      add("]")
    else
      local names = {}
      for k in pairs(t) do
        if type(k) ~= "string" then
          return refuse("has the key " .. tostring(k) .. ": keys must be strings")
        end
        names[#names + 1] = k
      end
      sort(names)
      depth = depth + 1
      add("{")
      for i, k in ipairs(names) do
        keys[depth] = k
        local s
        s, err = string_text(k, true)
        if not s then ok = false break end
        if i > 1 then add(",") end
        add(s)
        add(":")
        ok, err = enc(t[k])
        if not ok then break end
      end
      add("}")
    end
    keys[depth] = nil
    depth = depth - 1
    return ok, err
  end

  function enc(v)
    local t = type(v)
    local s, why
    if t == "string" then
      s, why = string_text(v)
      if not s then return nil, why end
    elseif t == "number" then
      s, why = number_text(v)
      if not s then return refuse(why) end
    elseif t == "boolean" then
      s = v and "true" or "false"
    elseif M.is_null(v) then
      s = "null"
    elseif M.is_array(v) and t ~= "table" then
      s = "[]" -- cjson.empty_array
    elseif t == "table" then
      return enc_table(v)
    else
      return refuse("is a " .. t .. ", which JSON cannot carry")
    end
    add(s)
    return true
  end

  local ok, err = enc(value)
  if not ok then return nil, err end
  return concat(buf, "", 1, nb)
end

return M
