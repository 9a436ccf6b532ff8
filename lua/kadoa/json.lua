-- The JSON encoder (decoding is lua-cjson's). Not cjson's: it cannot tell []
-- from {}, writes whole floats differently per build, passes invalid UTF-8 and
-- orders keys by hash, and a body must be exact and the same every time.
-- Arrays: marked with json.array, or a non-empty sequence; object keys sorted;
-- whole numbers up to 2^53 as integers, others %.17g. What JSON cannot carry is
-- refused with its path from `root`: `value.a[2] is not valid UTF-8 (...)`.
-- Nothing looks for cycles or depth: kadoa.body checks what callers hand in.

local text = require("kadoa.text")

local M = {}

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local getmetatable, setmetatable = getmetatable, setmetatable
local format, concat, sort = string.format, table.concat, table.sort
local floor, huge = math.floor, math.huge
local mtype = math.type -- nil before 5.3

-- A table of its own (some hosts lack or share lightuserdata), read-only.
M.null = setmetatable({}, {
  __tostring = function() return "null" end,
  __newindex = function() error("json.null is read-only", 2) end,
  __metatable = "json.null",
})

-- cjson's null and array marks mean the same, so decoded values can be sent
-- back unchanged. cjson is optional.
local has_cjson, cjson = pcall(require, "cjson")
if not has_cjson or type(cjson) ~= "table" then cjson = {} end
local cjson_null, cjson_empty_array, cjson_array_mts = cjson.null, cjson.empty_array, {}
if cjson.array_mt then cjson_array_mts[cjson.array_mt] = true end
if cjson.empty_array_mt then cjson_array_mts[cjson.empty_array_mt] = true end

-- v is JSON null (ours or cjson's)
---@param v any
---@return boolean
function M.is_null(v)
  return v == M.null or (cjson_null ~= nil and v == cjson_null)
end

local array_mt = {}

-- t (or a new table) marked as a JSON array, so an empty one encodes as []
---@param t? table
---@return table
function M.array(t)
  t = t or {}
  if type(t) ~= "table" then error("json.array: expected a table, got " .. type(t), 2) end
  return setmetatable(t, array_mt)
end

-- t carries an array mark (ours or cjson's), or is cjson's empty array
---@param t any
---@return boolean
function M.is_array(t)
  if cjson_empty_array ~= nil and t == cjson_empty_array then return true end
  local mt = getmetatable(t)
  return mt == array_mt or (mt ~= nil and cjson_array_mts[mt] == true)
end

-- Where a value is, for messages (made only when something fails).
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

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\" }
for c = 0, 31 do escapes[string.char(c)] = format("\\u%04x", c) end

local function quote(s)
  -- %z: 5.1 patterns cannot hold a literal NUL (later versions accept %z too)
  return '"' .. s:gsub('[%z\1-\31"\\]', escapes) .. '"'
end

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

  -- a string (or a key of the object above) as JSON text
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
