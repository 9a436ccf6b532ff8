-- Generator for lua/kadoa/schema.lua: the request-body schemas of Kadoa's
-- crawler OpenAPI contract as a plain Lua table, so kadoa.body can check a
-- body before anything is sent, without a JSON or YAML parser at run time.
--
--   lua5.4 spec/contract/gen_schema.lua spec/contract/crawler.openapi.json > lua/kadoa/schema.lua
--   (or: make schema)
--
-- Runs on Lua 5.4 with lua-cjson. The output is deterministic (keys sorted,
-- fixed field order in every node) so that spec/body_spec.lua can compare
-- the committed file with a fresh run and the file never drifts from the
-- contract.
--
-- Every schema keyword the generator meets must be one it understands: an
-- unknown one (allOf, pattern, ...) stops it, because silently dropping a
-- rule would make the client accept bodies the server refuses.

local cjson = require("cjson")

local path = arg[1]
if not path then
  io.stderr:write("usage: lua5.4 gen_schema.lua crawler.openapi.json > lua/kadoa/schema.lua\n")
  os.exit(2)
end

local f = assert(io.open(path, "rb"))
local doc = cjson.decode(f:read("a"))
f:close()

local null = cjson.null

local function fail(where, msg)
  io.stderr:write("gen_schema: ", where, ": ", msg, "\n")
  os.exit(1)
end

-- Resolve a local "$ref" ("#/components/schemas/X") to the node it names.
local function deref(ref, where)
  if type(ref) ~= "string" or ref:sub(1, 2) ~= "#/" then fail(where, "unsupported $ref " .. tostring(ref)) end
  local node = doc
  for part in ref:sub(3):gmatch("[^/]+") do
    part = part:gsub("~1", "/"):gsub("~0", "~")
    if type(node) ~= "table" then fail(where, "dangling $ref " .. ref) end
    node = node[part]
  end
  if type(node) ~= "table" then fail(where, "dangling $ref " .. ref) end
  return node
end

-- Keywords copied or interpreted; anything else is an error (see header).
-- title, format and example(s) carry no rule kadoa.body enforces; format is
-- kept as documentation ("uri"), title is the schema's own name.
local known = {
  type = true, nullable = true, enum = true, minimum = true, maximum = true,
  minLength = true, required = true, default = true, description = true,
  properties = true, additionalProperties = true, items = true, oneOf = true,
  format = true, title = true, example = true, examples = true, ["$ref"] = true,
}
local types = { string = true, number = true, integer = true, boolean = true, array = true, object = true }

-- Turn one OpenAPI schema node into the plain form kadoa.body reads.
local function convert(node, where, depth)
  if depth > 50 then fail(where, "$ref cycle or schema nested too deep") end
  if type(node) ~= "table" then fail(where, "schema is not an object") end
  if node["$ref"] ~= nil then
    local target = deref(node["$ref"], where)
    if next(node, nil) ~= nil then
      for k in pairs(node) do
        if k ~= "$ref" and k ~= "description" then fail(where, "keywords beside $ref: " .. k) end
      end
    end
    local out = convert(target, where, depth + 1)
    -- a description beside the $ref describes this use of it
    if node.description then out.description = node.description end
    return out
  end
  for k in pairs(node) do
    if not known[k] then fail(where, "unsupported schema keyword " .. tostring(k)) end
  end
  local out = {}
  if node.oneOf ~= nil then
    if node.type ~= nil then fail(where, "type beside oneOf") end
    out.type = "one_of"
    out.one_of = {}
    for i, alt in ipairs(node.oneOf) do
      out.one_of[i] = convert(alt, where .. ".oneOf[" .. i .. "]", depth + 1)
    end
  elseif node.type == nil then
    out.type = "any"
  elseif types[node.type] then
    out.type = node.type
  else
    fail(where, "unsupported type " .. tostring(node.type))
  end
  if node.nullable == true then out.nullable = true end
  if node.enum ~= nil then
    out.enum = {}
    for i, v in ipairs(node.enum) do out.enum[i] = v end
  end
  out.default = node.default
  out.minimum = node.minimum
  out.maximum = node.maximum
  out.minLength = node.minLength
  out.format = node.format
  if node.required ~= nil then
    out.required = {}
    for i, v in ipairs(node.required) do out.required[i] = v end
    table.sort(out.required)
  end
  local ap = node.additionalProperties
  if ap == true or ap == false then
    out.additionalProperties = ap
  elseif ap ~= nil then
    out.additionalProperties = convert(ap, where .. ".additionalProperties", depth + 1)
  end
  if node.items ~= nil then
    out.items = convert(node.items, where .. "[]", depth + 1)
  elseif out.type == "array" then
    out.items = { type = "any" }
  end
  if node.properties ~= nil then
    out.properties = {}
    for name, sub in pairs(node.properties) do
      out.properties[name] = convert(sub, where .. "." .. name, depth + 1)
    end
  end
  out.description = node.description
  return out
end

-- The request bodies: every operation's application/json requestBody that
-- names a component schema. Each schema remembers the calls that use it.
local schemas, used_by = {}, {}
for p, item in pairs(doc.paths or {}) do
  for method, op in pairs(item) do
    local rb = type(op) == "table" and op.requestBody
    if rb and rb ~= null then
      local media = rb.content and rb.content["application/json"]
      local ref = media and media.schema and media.schema["$ref"]
      if not ref then fail(method .. " " .. p, "request body is not a $ref to a component schema") end
      local name = ref:match("^#/components/schemas/(.+)$")
      schemas[name] = schemas[name] or convert(deref(ref, name), name, 0)
      used_by[name] = used_by[name] or {}
      table.insert(used_by[name], method:upper() .. " " .. p)
    end
  end
end

-- Writing: strings quoted with only the escapes Lua needs, so descriptions
-- stay readable; numbers without a needless ".0".
local function str(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == "\n" then return "\\n" end
    if c == '"' or c == "\\" then return "\\" .. c end
    return string.format("\\%03d", c:byte())
  end) .. '"'
end

local function num(n)
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then return string.format("%d", math.floor(n)) end
  return string.format("%.17g", n)
end

local function scalar(v, where)
  if type(v) == "string" then return str(v) end
  if type(v) == "number" then return num(v) end
  if type(v) == "boolean" then return tostring(v) end
  fail(where, "unsupported literal of type " .. type(v))
end

-- Lua's reserved words cannot be bare keys.
local reserved = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do reserved[w] = true end

local function key(k)
  if k:match("^[%a_][%w_]*$") and not reserved[k] then return k end
  return "[" .. str(k) .. "]"
end

local wrapped

local order = {
  "type", "nullable", "enum", "default", "minimum", "maximum", "minLength", "format",
  "required", "additionalProperties", "items", "one_of", "properties", "description",
}

local out = {}
local function w(s) out[#out + 1] = s end

local function list(t, where)
  local parts = {}
  for i, v in ipairs(t) do parts[i] = scalar(v, where) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- A long string (a description) as "..." .. "..." over several lines, cut
-- after spaces, so no line passes 100 columns (.luacheckrc allows 110).
local WIDTH = 100
wrapped = function(v, used, ind)
  local q = str(v)
  if used + #q + 1 <= WIDTH then return q end
  local pieces, piece = {}, ""
  for word in v:gmatch("%S+%s*") do
    local room = (#pieces == 0 and WIDTH - used or WIDTH - #ind - 3) - 3
    if piece ~= "" and #str(piece .. word) > room then
      pieces[#pieces + 1] = piece
      piece = ""
    end
    piece = piece .. word
  end
  if v:match("^%s") then pieces[1] = v:match("^%s*") .. (pieces[1] or "") end
  pieces[#pieces + 1] = piece
  for i, pc in ipairs(pieces) do pieces[i] = str(pc) end
  return table.concat(pieces, "\n" .. ind .. ".. ")
end

local emit
local function emit_field(name, v, ind, where)
  if name == "enum" or name == "required" then
    w(ind .. name .. " = " .. list(v, where) .. ",\n")
  elseif name == "additionalProperties" and type(v) == "boolean" then
    w(ind .. name .. " = " .. tostring(v) .. ",\n")
  elseif name == "additionalProperties" or name == "items" then
    w(ind .. name .. " = ")
    emit(v, ind, where .. "." .. name)
    w(",\n")
  elseif name == "one_of" then
    w(ind .. "one_of = {\n")
    for _, alt in ipairs(v) do
      w(ind .. "  ")
      emit(alt, ind .. "  ", where)
      w(",\n")
    end
    w(ind .. "},\n")
  elseif name == "properties" then
    local names = {}
    for k in pairs(v) do names[#names + 1] = k end
    table.sort(names)
    w(ind .. "properties = {\n")
    for _, k in ipairs(names) do
      w(ind .. "  " .. key(k) .. " = ")
      emit(v[k], ind .. "  ", where .. "." .. k)
      w(",\n")
    end
    w(ind .. "},\n")
  elseif type(v) == "string" then
    w(ind .. name .. " = " .. wrapped(v, #ind + #name + 3, ind .. "  ") .. ",\n")
  else
    w(ind .. name .. " = " .. scalar(v, where .. "." .. name) .. ",\n")
  end
end

function emit(node, ind, where)
  w("{\n")
  for _, name in ipairs(order) do
    if node[name] ~= nil then emit_field(name, node[name], ind .. "  ", where) end
  end
  w(ind .. "}")
end

w("-- GENERATED by spec/contract/gen_schema.lua from spec/contract/crawler.openapi.json: do not edit.\n")
w("-- Regenerate with `make schema`, i.e.\n")
w("--   lua5.4 spec/contract/gen_schema.lua spec/contract/crawler.openapi.json > lua/kadoa/schema.lua\n")
w("-- spec/body_spec.lua fails when this file differs from what the generator makes.\n")
w("--\n")
w("-- The request-body schemas of Kadoa's crawler API, read by kadoa.body. Per node: type (string,\n")
w("-- number, integer, boolean, array, object, one_of, or any when the contract gives none), then\n")
w("-- the contract's own rules. $refs are resolved. An object without additionalProperties is\n")
w("-- closed: kadoa.body refuses fields it does not list.\n")
w("return {\n")
local names = {}
for k in pairs(schemas) do names[#names + 1] = k end
table.sort(names)
for _, name in ipairs(names) do
  table.sort(used_by[name])
  w("  -- " .. table.concat(used_by[name], ", ") .. "\n")
  w("  " .. key(name) .. " = ")
  emit(schemas[name], "  ", name)
  w(",\n")
end
w("}\n")
io.write(table.concat(out))
