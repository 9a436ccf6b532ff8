-- A JSON encoder in pure Lua, for request bodies (decoding stays with
-- lua-cjson). Written here rather than taken from cjson because cjson
-- cannot tell an empty array from an empty object, writes whole floats as
-- 5.0 on some builds and 1e+15 on others, passes invalid UTF-8 through, and
-- orders keys by hash: a body must be exact, safe and the same every time.
--
--   local json = require("kadoa.json")
--   json.encode(value [, root]) -> text | nil, message
--   json.null                   the JSON null (cjson.null is accepted too)
--   json.array([t])             marks t (or a new table) as an array; returns it
--   json.is_array(t)            true when t is marked as an array
--
-- Rules:
--   strings    RFC 8259 escapes: \" \\ and every control character as \u00XX;
--              valid UTF-8 is written as it is, invalid UTF-8 is an error
--   numbers    whole numbers up to 2^53 (and Lua 5.3+ integers) as integers,
--              other numbers with %.17g (exact on reading back); NaN and
--              infinities are errors
--   booleans   true / false
--   tables     marked with json.array, or a non-empty sequence 1..n: an array;
--              an empty unmarked table: {}; otherwise an object whose keys
--              must all be strings, written in sorted order. A sparse array,
--              mixed or non-string keys, a cycle or nesting deeper than 100
--              are errors
--   anything else (functions, userdata, threads) is an error
--
-- Error messages name where the problem is, from `root` (default "value"):
-- `value.a[2] is not valid UTF-8 (bad byte 0xff at position 3)`.

local M = {}

local type, pairs, tostring = type, pairs, tostring
local getmetatable, setmetatable = getmetatable, setmetatable
local format, byte, concat, sort = string.format, string.byte, table.concat, table.sort
local floor, huge = math.floor, math.huge
local mtype = math.type -- nil before 5.3

M.MAX_DEPTH = 100

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
M.array_mt = array_mt

-- array([t]) -> t marked as a JSON array, so an empty one encodes as []
---@param t? table
---@return table
function M.array(t)
  t = t or {}
  if type(t) ~= "table" then error("json.array: expected a table, got " .. type(t), 2) end
  return setmetatable(t, array_mt)
end

-- is_array(t): t carries an array mark (ours, or cjson's on decoded arrays)
---@param t any
---@return boolean
function M.is_array(t)
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

-- Where a string stops being valid UTF-8 (RFC 3629: no overlong forms, no
-- surrogates, nothing above U+10FFFF), or nil when all of it is valid.
---@param s string
---@return string|nil what is wrong and where ("bad byte 0x.. at position n"); nil: all valid
local function utf8_error(s)
  local i, n = 1, #s
  while true do
    -- skip ASCII in one step: most strings are plain
    local j = s:find("[\128-\255]", i)
    if not j then return nil end
    i = j
    local c = byte(s, i)
    local need
    local lo, hi = 0x80, 0xBF
    if c >= 0xC2 and c <= 0xDF then need = 1
    elseif c == 0xE0 then need, lo = 2, 0xA0
    elseif c >= 0xE1 and c <= 0xEC then need = 2
    elseif c == 0xED then need, hi = 2, 0x9F      -- no UTF-16 surrogates
    elseif c >= 0xEE and c <= 0xEF then need = 2
    elseif c == 0xF0 then need, lo = 3, 0x90      -- no overlong 4-byte forms
    elseif c >= 0xF1 and c <= 0xF3 then need = 3
    elseif c == 0xF4 then need, hi = 3, 0x8F      -- nothing above U+10FFFF
    else
      return format("bad byte 0x%02x at position %d", c, i)
    end
    for k = 1, need do
      local d = byte(s, i + k)
      if not d then return format("sequence cut short at position %d", i) end
      if d < lo or d > hi then return format("bad byte 0x%02x at position %d", d, i + k) end
      lo, hi = 0x80, 0xBF
    end
    i = i + need + 1
    if i > n then return nil end
  end
end
M.utf8_error = utf8_error

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

local function key_text(k)
  if type(k) == "number" then
    local s = number_text(k)
    return s or tostring(k)
  end
  return tostring(k)
end

---@param value any
---@param root? string the name paths in messages start from (default "value")
---@return string|nil text
---@return string|nil message what could not be encoded, and where
function M.encode(value, root)
  root = root or "value"
  local buf, nb = {}, 0
  local keys, depth = {}, 0
  local open = {} -- tables on the current path: a repeat is a cycle

  local function fail(msg, n)
    return nil, path_text(root, keys, n or depth) .. " " .. msg
  end

  local enc

  local function enc_array(t, n)
    nb = nb + 1; buf[nb] = "["
    for i = 1, n do
      if i > 1 then nb = nb + 1; buf[nb] = "," end
      keys[depth] = i
      local ok, err = enc(t[i])
      if not ok then return nil, err end
    end
    nb = nb + 1; buf[nb] = "]"
    return true
  end

  local function enc_table(t)
    if open[t] then return fail("refers back to itself (a cycle)") end
    if depth >= M.MAX_DEPTH then return fail("is nested deeper than " .. M.MAX_DEPTH .. " levels") end
    -- sort out what the table is before writing anything
    local marked = M.is_array(t)
    local n, max, strs, others = 0, 0, {}, nil
    for k in pairs(t) do
      n = n + 1
      local tk = type(k)
      if tk == "string" then
        strs[#strs + 1] = k
      elseif tk == "number" and k >= 1 and k == floor(k) then
        if k > max then max = k end
      elseif not others then
        others = k
      end
    end
    if others ~= nil then
      local shown = type(others) == "number" and key_text(others) or type(others)
      return fail("has a key JSON cannot carry (" .. shown .. "): object keys must be strings")
    end
    local is_arr = marked or (#strs == 0 and n > 0)
    if is_arr and #strs > 0 then
      return fail('is an array but has the string key "' .. strs[1] .. '"')
    end
    if not is_arr and #strs < n then
      return fail("mixes array items and object fields")
    end
    if is_arr and max ~= n then
      -- find the first hole for the message
      local hole = 1
      while t[hole] ~= nil do hole = hole + 1 end
      return fail("is a sparse array (nothing at [" .. hole .. "], items up to [" .. key_text(max) .. "])")
    end
    open[t] = true
    depth = depth + 1
    local ok, err
    if is_arr then
      ok, err = enc_array(t, n)
    else
      sort(strs)
      nb = nb + 1; buf[nb] = "{"
      ok = true
      for i = 1, #strs do
        local k = strs[i]
        keys[depth] = k
        local bad = utf8_error(k)
        if bad then ok, err = fail("has a key that is not valid UTF-8 (" .. bad .. ")", depth - 1) break end
        if i > 1 then nb = nb + 1; buf[nb] = "," end
        nb = nb + 1; buf[nb] = quote(k)
        nb = nb + 1; buf[nb] = ":"
        ok, err = enc(t[k])
        if not ok then break end
      end
      if ok then nb = nb + 1; buf[nb] = "}" end
    end
    keys[depth] = nil
    depth = depth - 1
    open[t] = nil
    if not ok then return nil, err end
    return true
  end

  function enc(v)
    local t = type(v)
    if t == "string" then
      local bad = utf8_error(v)
      if bad then return fail("is not valid UTF-8 (" .. bad .. ")") end
      nb = nb + 1; buf[nb] = quote(v)
    elseif t == "number" then
      local s, why = number_text(v)
      if not s then return fail(why) end
      nb = nb + 1; buf[nb] = s
    elseif t == "boolean" then
      nb = nb + 1; buf[nb] = v and "true" or "false"
    elseif M.is_null(v) then
      nb = nb + 1; buf[nb] = "null"
    elseif t == "table" then
      return enc_table(v)
    elseif cjson_empty_array ~= nil and v == cjson_empty_array then
      nb = nb + 1; buf[nb] = "[]"
    elseif v == nil then
      return fail("is nil (use json.null for a JSON null)")
    else
      return fail("is a " .. t .. ", which JSON cannot carry")
    end
    return true
  end

  local ok, err = enc(value)
  if not ok then return nil, err end
  return concat(buf, "", 1, nb)
end

return M
