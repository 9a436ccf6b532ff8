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
-- A field's rules that several request schemas share word for word (the
-- start of a crawl and a saved config take the same fields) are written
-- once, as shared.<name>, and referred to.
local shared_name, shared_fields
local function emit_field(name, v, ind, where)
  if name == "enum" or name == "required" then
    w(ind .. name .. " = " .. list(v, where) .. ",\n")
  elseif name == "additionalProperties" and type(v) == "boolean" then
    w(ind .. name .. " = " .. tostring(v) .. ",\n")
  elseif name == "additionalProperties" or name == "items" then
    w(ind .. name .. " = ")
    emit(v, ind, where .. "." .. name, #ind + #name + 3)
    w(",\n")
  elseif name == "one_of" then
    w(ind .. "one_of = {\n")
    for _, alt in ipairs(v) do
      w(ind .. "  ")
      emit(alt, ind .. "  ", where)
      w(",\n")
    end
    w(ind .. "},\n")
  elseif name == "properties" and shared_fields and shared_fields(v) then
    w(ind .. "properties = " .. shared_fields(v) .. ",\n")
  elseif name == "properties" then
    local names = {}
    for k in pairs(v) do names[#names + 1] = k end
    table.sort(names)
    w(ind .. "properties = {\n")
    for _, k in ipairs(names) do
      w(ind .. "  " .. key(k) .. " = ")
      local s = shared_name and shared_name(v[k])
      if s then w("shared." .. s) else emit(v[k], ind .. "  ", where .. "." .. k, #ind + #key(k) + 5) end
      w(",\n")
    end
    w(ind .. "},\n")
  elseif type(v) == "string" then
    w(ind .. name .. " = " .. wrapped(v, #ind + #name + 3, ind .. "  ") .. ",\n")
  else
    w(ind .. name .. " = " .. scalar(v, where .. "." .. name) .. ",\n")
  end
end

-- A leaf (nothing but scalar rules) that fits on one line is written on
-- one: { type = "string", description = "Config ID" }.
local inline
inline = function(node, col, where)
  local parts = {}
  for _, name in ipairs(order) do
    local v = node[name]
    if type(v) == "table" then
      local text
      if name == "enum" or name == "required" then
        text = list(v, where)
      elseif name == "items" or name == "additionalProperties" then
        text = inline(v, 0, where)
      end
      if not text then return nil end
      parts[#parts + 1] = name .. " = " .. text
    elseif v ~= nil then
      parts[#parts + 1] = name .. " = " .. scalar(v, where .. "." .. name)
    end
  end
  local text = "{ " .. table.concat(parts, ", ") .. " }"
  if col + #text + 1 <= 110 then return text end   -- .luacheckrc's width
end

-- emit(node, ind, where [, col]): col is the column the node starts at
function emit(node, ind, where, col)
  local one = inline(node, col or (#ind + 40), where)
  if one then return w(one) end
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
local names = {}
for k in pairs(schemas) do names[#names + 1] = k end
table.sort(names)

-- the text of a node on its own, to find the ones written twice
local function render(node)
  local saved = out
  out = {}
  emit(node, "", "shared")
  local text = table.concat(out)
  out = saved
  return text
end
-- whole field lists first: the start of a crawl and a saved config take
-- the very same fields
local function render_props(props)
  local saved = out
  out = {}
  emit_field("properties", props, "", "fields")
  local text = table.concat(out)
  out = saved
  return text
end
local props_seen, props_name, field_lists = {}, {}, {}
for _, name in ipairs(names) do
  local props = schemas[name].properties
  if props then
    local text = render_props(props)
    if props_seen[text] and not props_name[text] then
      props_name[text] = props_seen[text]
      field_lists[#field_lists + 1] = { props_seen[text], props }
    end
    props_seen[text] = props_seen[text] or name
  end
end
local seen, texts, by_text = {}, {}, {}
local counted = {}
for _, name in ipairs(names) do
  local props = schemas[name].properties or {}
  local ptext = render_props(props)
  if props_name[ptext] then
    if counted[ptext] then props = {} end   -- a shared list counts once
    counted[ptext] = true
  end
  local keys = {}
  for k in pairs(props) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local text = render(props[k])
    local _, lines = text:gsub("\n", "")
    if lines >= 3 then
      if seen[text] and not by_text[text] then
        by_text[text] = k
        texts[#texts + 1] = { k, props[k] }
      end
      seen[text] = true
    end
  end
end
if #texts > 0 then
  table.sort(texts, function(a, b) return a[1] < b[1] end)
  w("local shared = {}\n")
  for _, t in ipairs(texts) do
    w("shared." .. t[1] .. " = ")
    emit(t[2], "", "shared." .. t[1])
    w("\n")
  end
  w("\n")
end
shared_name = function(node) return by_text[render(node)] end
if #field_lists > 0 then
  w("local fields = {}\n")
  for _, list_of in ipairs(field_lists) do
    local text, users = render_props(list_of[2]), {}
    for _, n in ipairs(names) do
      local props = schemas[n].properties
      if props and render_props(props) == text then users[#users + 1] = n end
    end
    w("-- the fields of " .. table.concat(users, " and ") .. "\n")
    w("fields." .. list_of[1] .. " = {\n")
    local keys = {}
    for k in pairs(list_of[2]) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      w("  " .. key(k) .. " = ")
      local s = shared_name(list_of[2][k])
      if s then w("shared." .. s) else emit(list_of[2][k], "  ", "fields." .. k, #key(k) + 5) end
      w(",\n")
    end
    w("}\n")
  end
  w("\n")
end
local share_of = {}
for _, n in ipairs(names) do
  local props = schemas[n].properties
  local first = props and props_name[render_props(props)]
  if first then share_of[props] = "fields." .. first end
end
shared_fields = function(props) return share_of[props] end

w("return {\n")
for _, name in ipairs(names) do
  table.sort(used_by[name])
  w("  -- " .. table.concat(used_by[name], ", ") .. "\n")
  w("  " .. key(name) .. " = ")
  emit(schemas[name], "  ", name)
  w(",\n")
end
w("}\n")
io.write(table.concat(out))
