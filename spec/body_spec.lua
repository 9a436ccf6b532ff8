-- kadoa.body against the contract: most of these tests are generated from
-- lua/kadoa/schema.lua, one set per field of every request schema, so a
-- field added to the contract (and regenerated) is tested without anyone
-- writing a test for it. The last block makes sure schema.lua is exactly
-- what spec/contract/gen_schema.lua makes of the contract.

local body = require("kadoa.body")
local json = require("kadoa.json")
local schemas = require("kadoa.schema")
local cjson = require("cjson")
local sub = require("spec.helpers.subprocess")

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- A body that passes on its own: required fields, and a URL for the
-- schemas that start a crawl.
local function base(name)
  local s = schemas[name]
  local b = {}
  for _, r in ipairs(s.required or {}) do b[r] = "id-" .. r end
  if name == "StartCrawlerSessionRequest" then b.url = "https://example.com/" end
  return b
end

-- Values a schema node accepts, each with what cjson should read back.
local function valid_values(s)
  local out = {}
  local function add(v, back)
    if back == nil then back = v end
    out[#out + 1] = { v, back }
  end
  if s.nullable then add(json.null, cjson.null) end
  local t = s.type
  if t == "string" then
    if s.enum then
      for _, e in ipairs(s.enum) do add(e) end
    else
      add(string.rep("a", math.max(s.minLength or 0, 1)))
      add("https://example.com/é?q=\"x\"\n")
    end
  elseif t == "number" or t == "integer" then
    local lo, hi = s.minimum, s.maximum
    if lo then add(lo) end
    if hi then add(hi) end
    if t == "number" then
      local mid = lo and hi and (lo + hi) / 2 or (lo or 0) + 1.5
      add(mid)
    end
    add((lo or 0) + (hi and 0 or 1000))
  elseif t == "boolean" then
    add(true)
    add(false)
  elseif t == "array" then
    add(json.array(), {})
    local iv = valid_values(s.items)[1]
    if iv then add({ iv[1] }, { iv[2] }) end
  elseif t == "object" then
    add({}, {})
    local props = sorted_keys(s.properties)
    if props[1] then
      local iv = valid_values(s.properties[props[1]])[1]
      add({ [props[1]] = iv[1] }, { [props[1]] = iv[2] })
    end
  elseif t == "any" then
    add("text")
    add(12)
    add({ a = { 1, true } })
  elseif t == "one_of" then
    for _, alt in ipairs(s.one_of) do
      for _, iv in ipairs(valid_values(alt)) do add(iv[1], iv[2]) end
    end
  end
  return out
end

-- Values of the wrong type for a node, each with the words the message
-- must hold after the path.
local function matches(s, v)
  if json.is_null(v) then return s.nullable == true end
  local t = s.type
  if t == "any" then return true end
  if t == "one_of" then
    for _, alt in ipairs(s.one_of) do
      if matches(alt, v) then return true end
    end
    return false
  end
  if t == "string" then return type(v) == "string" end
  if t == "number" then return type(v) == "number" end
  if t == "integer" then return type(v) == "number" and v == math.floor(v) end
  if t == "boolean" then return type(v) == "boolean" end
  if type(v) ~= "table" then return false end
  if t == "array" then return json.is_array(v) or type(next(v)) ~= "string" end
  if t == "object" then return not json.is_array(v) and type(next(v)) ~= "number" end
end

local function wrong_values(s)
  local candidates = {
    { "a string", "text" }, { "a number", 7 }, { "a fraction", 1.5 }, { "true", true },
    { "0", 0 }, { "1", 1 }, { '"true"', "true" }, { '"5"', "5" },
    { "an object", { k = "v" } }, { "an array", json.array({ 1 }) }, { "a sequence", { 1, 2 } },
    { "null", json.null },
  }
  local out = {}
  for _, c in ipairs(candidates) do
    if not matches(s, c[2]) then out[#out + 1] = { c[1], c[2], " must be " } end
  end
  if s.type == "number" or s.type == "integer" then
    out[#out + 1] = { "NaN", 0 / 0, " must be a finite number, got NaN" }
    out[#out + 1] = { "infinity", math.huge, " must be a finite number, got inf" }
    out[#out + 1] = { "-infinity", -math.huge, " must be a finite number, got -inf" }
    if s.minimum then out[#out + 1] = { "below minimum", s.minimum - 1, " must be at least " } end
    if s.maximum then out[#out + 1] = { "above maximum", s.maximum + 0.5, " must be at most " } end
  end
  if s.type == "string" and s.enum then
    out[#out + 1] = { "not in the enum", "no-such-value", " must be one of " }
  end
  if s.type == "string" and s.minLength then
    out[#out + 1] = { "too short", string.rep("a", s.minLength - 1), " must be at least " }
  end
  if s.type == "any" then
    out[#out + 1] = { "a function", print, " is a function" }
    out[#out + 1] = { "NaN inside", { x = 0 / 0 }, ".x is NaN" }
  end
  return out
end

-- Put v at a path of the body ({"a", "[]", "*"}: field a, its first item,
-- some key of an open object), on top of the base body.
local function place(b, path, v)
  local function build(i)
    if i > #path then return v end
    local p = path[i]
    if p == "[]" then return { build(i + 1) } end
    if p == "*" then return { someNewKey = build(i + 1) } end
    return { [p] = build(i + 1) }
  end
  local top = build(1)
  for k, x in pairs(b) do
    if top[k] == nil then top[k] = x end
  end
  return top
end

local function path_text(path)
  local s = "body"
  for _, p in ipairs(path) do
    if p == "[]" then s = s .. "[1]"
    elseif p == "*" then s = s .. ".someNewKey"
    else s = s .. "." .. p end
  end
  return s
end

local function extend(path, k)
  local p = {}
  for i, x in ipairs(path) do p[i] = x end
  p[#p + 1] = k
  return p
end

local function walk(s, path, visit)
  if #path > 0 then visit(s, path) end
  if s.type == "object" then
    for _, k in ipairs(sorted_keys(s.properties)) do
      walk(s.properties[k], extend(path, k), visit)
    end
    if type(s.additionalProperties) == "table" then
      walk(s.additionalProperties, extend(path, "*"), visit)
    end
  elseif s.type == "array" then
    walk(s.items, extend(path, "[]"), visit)
  end
end

local function usage(text, err, fname, needle)
  assert.is_nil(text)
  assert.equal("usage", err.kind)
  assert.equal(fname .. ": ", err.message:sub(1, #fname + 2))
  if needle then
    assert.truthy(err.message:find(needle, 1, true), "message was: " .. err.message)
  end
  return err.message
end

local function as_read_back(v)
  if json.is_null(v) then return cjson.null end
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = as_read_back(x) end
  return t
end

local request_schemas = {
  "CreateCrawlerConfigRequest", "DeleteCrawlerConfigRequest", "PauseCrawlerSessionRequest",
  "ResumeCrawlerSessionRequest", "StartCrawlerSessionRequest", "StartSessionWithConfigRequest",
}

describe("kadoa.schema", function()
  it("has exactly the contract's six request schemas", function()
    assert.same(request_schemas, sorted_keys(schemas))
  end)
end)

for _, name in ipairs(request_schemas) do
  describe("body " .. name, function()
    it("accepts the base body", function()
      local b = base(name)
      local text, err = body.check(name, b, "f")
      assert.is_nil(err)
      assert.same(b, cjson.decode(text))
    end)

    for _, r in ipairs(schemas[name].required or {}) do
      it("refuses a body without required field " .. r, function()
        local b = base(name)
        b[r] = nil
        local text, err = body.check(name, b, "f")
        usage(text, err, "f")
        assert.equal("f: missing required field body." .. r, err.message)
      end)
    end

    walk(schemas[name], {}, function(s, path)
      local where = path_text(path)
      for i, vv in ipairs(valid_values(s)) do
        it(("accepts %s (valid value %d) and encodes it exactly"):format(where, i), function()
          local b = place(base(name), path, vv[1])
          local text, err = body.check(name, b, "f")
          assert.is_nil(err, err and err.message)
          local expect = as_read_back(place(base(name), path, vv[2]))
          assert.same(expect, cjson.decode(text))
          if json.is_array(vv[1]) and #vv[1] == 0 and path[#path] ~= "[]" and path[#path] ~= "*" then
            assert.truthy(text:find('"' .. path[#path] .. '":[]', 1, true), text)
          end
        end)
      end
      for _, wv in ipairs(wrong_values(s)) do
        it(("refuses %s: %s"):format(where, wv[1]), function()
          local b = place(base(name), path, wv[2])
          local text, err = body.check(name, b, "f")
          usage(text, err, "f")
          assert.truthy(err.message:find("f: " .. where .. wv[3], 1, true), err.message)
        end)
      end
    end)
  end)
end

describe("body messages", function()
  local S = "StartCrawlerSessionRequest"
  local function msg(v, extra, schema)
    local text, err = body.check(schema or S, v, "crawl", extra)
    assert.is_nil(text)
    assert.equal("usage", err.kind)
    return err.message
  end

  it("name the path, the expected type and what came", function()
    assert.equal("crawl: body.startUrls[2] must be a string, got number",
      msg({ startUrls = { "https://a/", 2 } }))
    assert.equal("crawl: body.maxPages must be at least 1, got 0", msg({ url = "u", maxPages = 0 }))
    assert.equal('crawl: body.crawlMethod.mode must be one of "auto", "browser", got "fast"',
      msg({ url = "u", crawlMethod = { mode = "fast" } }))
    assert.equal("crawl: body.matchThreshold must be at most 1, got 1.5",
      msg({ url = "u", matchThreshold = 1.5 }))
    assert.equal('crawl: body.startUrls[1] must be at least 1 character long, got ""',
      msg({ startUrls = { "" } }))
    assert.equal("crawl: body.loadImages must be a boolean, got number", msg({ url = "u", loadImages = 1 }))
    assert.equal("crawl: body.loadImages must be a boolean, got string",
      msg({ url = "u", loadImages = "true" }))
    assert.equal("crawl: body.callbackUrl must be a string, got boolean",
      msg({ url = "u", callbackUrl = true }))
    assert.equal("crawl: body.url must be a string, got null", msg({ url = json.null }))
  end)

  it("suggest the closest known field", function()
    assert.equal("crawl: unknown field body.maxpages (did you mean maxPages?)",
      msg({ url = "u", maxpages = 1 }))
    assert.equal("crawl: unknown field body.starturls (did you mean startUrls?)",
      msg({ url = "u", starturls = {} }))
    assert.equal("crawl: unknown field body.pathFilterIn (did you mean pathsFilterIn?)",
      msg({ url = "u", pathFilterIn = {} }))
    assert.equal("crawl: unknown field body.MAXDEPTH (did you mean maxDepth?)",
      msg({ url = "u", MAXDEPTH = 1 }))
    assert.equal("crawl: unknown field body.maxPgaes (did you mean maxPages?)",
      msg({ url = "u", maxPgaes = 1 }))
    assert.equal("crawl: unknown field body.navigationOptions.scrolHtml (did you mean scrollHtml?)",
      msg({ url = "u", navigationOptions = { scrolHtml = true } }))
    assert.equal("crawl: unknown field body.outputOptions.includeHTML (did you mean includeHtml?)",
      msg({ url = "u", outputOptions = { includeHTML = true } }))
  end)

  it("point to extra when no known field is close", function()
    assert.equal("crawl: unknown field body.frobnicate"
      .. " (a field this version does not know goes in the extra option)",
      msg({ url = "u", frobnicate = 1 }))
    assert.equal("crawl: unknown field body.artifactOptions.zzz",
      msg({ url = "u", artifactOptions = { zzz = 1 } }))
  end)

  it("refuse bodies that are not tables of fields", function()
    assert.equal("crawl: body must be a table of fields, got string", msg("x"))
    assert.equal("crawl: body must be a table of fields, got nil", msg(nil))
    assert.equal("crawl: body must be a table of fields, got null", msg(json.null))
    assert.equal("crawl: body must be an object, got array", msg({ "u" }))
    assert.equal("crawl: body has the key true: field names must be strings", msg({ url = "u", [true] = 1 }))
    assert.equal("crawl: body.crawlMethod has the key true: field names must be strings",
      msg({ url = "u", crawlMethod = { [true] = 1 } }))
    assert.equal("crawl: body.startUrls must be an array, got table with mixed keys",
      msg({ startUrls = { [true] = "a" } }))
  end)

  it("refuse arrays with holes or named keys, and objects given as arrays", function()
    assert.equal("crawl: body.startUrls must be an array without holes, but has nothing at [2]",
      msg({ startUrls = { "a", nil, "c" } }))
    assert.equal("crawl: body.startUrls must be an array, got object", msg({ startUrls = { a = "x" } }))
    assert.equal("crawl: body.startUrls must be an array, got table with mixed keys",
      msg({ startUrls = { "x", a = "x" } }))
    assert.equal("crawl: body.startUrls must be an array, but has the key 0",
      msg({ startUrls = { [0] = "a", "b" } }))
    assert.equal("crawl: body.startUrls must be an array, but has the key 1.5",
      msg({ startUrls = { [1.5] = "a" } }))
    assert.equal("crawl: body.crawlMethod must be an object, got array",
      msg({ url = "u", crawlMethod = json.array() }))
  end)

  it("check nested objects, open objects and arrays of objects", function()
    assert.equal("crawl: body.blueprint[2].name must be a string, got number",
      msg({ url = "u", blueprint = { { name = "a" }, { name = 2 } } }))
    assert.equal("crawl: body.extractionOptions.extractions.tables must be a boolean, got string",
      msg({ url = "u", extractionOptions = { extractions = { tables = "yes" } } }))
    assert.equal("crawl: body.extractionOptions.schema.f is a function, which JSON cannot carry",
      msg({ url = "u", extractionOptions = { schema = { f = print } } }))
    assert.equal("crawl: body.navigationOptions.cachedCookieAccept must be a boolean or a string, got number",
      msg({ url = "u", navigationOptions = { cachedCookieAccept = 1 } }))
    -- crawlMethod and blueprint items take fields the contract does not list
    local text = assert(body.check(S, {
      url = "u",
      crawlMethod = { mode = "browser", futureKnob = json.null },
      blueprint = { { name = "price", selector = ".p", hint = { 1, 2 } } },
      navigationOptions = {
        browserActions = { { type = "click", selector = "#go" } }, preBrowserActions = {},
      },
    }, "crawl"))
    assert.equal('{"blueprint":[{"hint":[1,2],"name":"price","selector":".p"}],'
      .. '"crawlMethod":{"futureKnob":null,"mode":"browser"},'
      .. '"navigationOptions":{"browserActions":[{"selector":"#go","type":"click"}],"preBrowserActions":[]},'
      .. '"url":"u"}', text)
  end)
end)

describe("body url or startUrls", function()
  local S = "StartCrawlerSessionRequest"
  it("is not in the contract's required list (so kadoa.body adds the rule)", function()
    assert.is_nil(schemas[S].required)
  end)

  it("needs one of them with at least one URL", function()
    local need = "crawl: body needs url or startUrls (at least one URL to start from)"
    assert.equal(need, select(2, body.check(S, {}, "crawl")).message)
    assert.equal(need, select(2, body.check(S, { startUrls = {} }, "crawl")).message)
    assert.equal(need, select(2, body.check(S, { maxPages = 3 }, "crawl")).message)
    assert.equal('{"url":"https://a/"}', body.check(S, { url = "https://a/" }, "crawl"))
    assert.equal('{"startUrls":["https://a/"]}', body.check(S, { startUrls = { "https://a/" } }, "crawl"))
    assert.equal('{"startUrls":[],"url":"https://a/"}',
      body.check(S, { url = "https://a/", startUrls = {} }, "crawl"))
  end)

  it("does not apply to saved configs, where the contract requires nothing", function()
    assert.equal("{}", body.check("CreateCrawlerConfigRequest", {}, "config_create"))
  end)
end)

describe("body extra", function()
  local S = "StartCrawlerSessionRequest"
  it("merges raw fields into the top level, unchecked", function()
    local extra = { newKnob = { deep = json.array(), x = 1.5 }, zz = "s" }
    local text = body.check(S, { url = "u" }, "crawl", extra)
    assert.equal('{"newKnob":{"deep":[],"x":1.5},"url":"u","zz":"s"}', text)
  end)

  it("refuses a field the schema knows (it belongs in the body, where it is checked)", function()
    local _, err = body.check(S, { url = "u" }, "crawl", { maxPages = 0 })
    assert.equal("crawl: extra.maxPages is a known field: set body.maxPages instead", err.message)
    _, err = body.check(S, { url = "u" }, "crawl", { url = "v" })
    assert.equal("crawl: extra.url is a known field: set body.url instead", err.message)
  end)

  it("must be a table of named, encodable fields", function()
    local _, err = body.check(S, { url = "u" }, "crawl", "x")
    assert.equal("crawl: extra must be a table of fields, got string", err.message)
    _, err = body.check(S, { url = "u" }, "crawl", { 1 })
    assert.equal("crawl: extra has the key 1: field names must be strings", err.message)
    _, err = body.check(S, { url = "u" }, "crawl", { f = { 0 / 0 } })
    assert.equal("crawl: extra.f[1] is NaN, which JSON cannot carry", err.message)
  end)

  it("does not count toward url or startUrls", function()
    local _, err = body.check(S, {}, "crawl", { urls = { "https://a/" } })
    assert.equal("crawl: body needs url or startUrls (at least one URL to start from)", err.message)
  end)
end)

describe("body any", function()
  -- what the contract leaves open (extra, extractionOptions.schema) must
  -- still be JSON: refused with its path, never raised by the encoder
  local S = "StartCrawlerSessionRequest"
  local function msg(extra)
    local text, err = body.check(S, { url = "u" }, "crawl", extra)
    assert.is_nil(text)
    assert.equal("usage", err.kind)
    return err.message
  end
  local function nest(n)
    local v = 1
    for _ = 1, n do v = { v } end
    return v
  end

  it("refuses sparse arrays, mixed and non-string keys", function()
    assert.equal("crawl: extra.a must be an array without holes, but has nothing at [2]",
      msg({ a = { 1, nil, 3 } }))
    assert.equal("crawl: extra.a has the key 1: field names must be strings", msg({ a = { 1, b = 2 } }))
    assert.equal("crawl: extra.a has the key true: field names must be strings", msg({ a = { [true] = 1 } }))
    assert.equal("crawl: extra.a must be an array, but has the key 1.5", msg({ a = { [1.5] = 1 } }))
  end)

  it("refuses what JSON cannot carry, naming where", function()
    assert.equal("crawl: extra.a[1] is a thread, which JSON cannot carry",
      msg({ a = { coroutine.create(function() end) } }))
    assert.equal("crawl: extra.a is a userdata, which JSON cannot carry", msg({ a = io.stdout }))
    assert.equal('crawl: extra["a b"] is not valid UTF-8 (at position 2, byte 0xff)',
      msg({ ["a b"] = "x\255" }))
    assert.equal("crawl: extra.a.b has a key that is not valid UTF-8 (at position 1, byte 0xff)",
      msg({ a = { b = { ["\255"] = 1 } } }))
  end)

  it("takes nesting 99 deep and refuses deeper or a cycle", function()
    assert.equal('{"a":' .. string.rep("[", 99) .. "1" .. string.rep("]", 99) .. ',"url":"u"}',
      body.check(S, { url = "u" }, "crawl", { a = nest(99) }))
    assert.truthy(msg({ a = nest(100) }):find("is nested deeper than 100 levels", 1, true))
    local t = {}
    t.self = t
    assert.truthy(msg({ a = t }):find("^crawl: extra.a.self.self.*is nested deeper than 100 levels"))
  end)

  it("sends an open value as it is, arrays and empty ones too", function()
    assert.equal('{"a":{"k":[1,"x",null,[],{}]},"url":"u"}',
      body.check(S, { url = "u" }, "crawl", { a = { k = { 1, "x", json.null, json.array(), {} } } }))
  end)
end)

describe("body integers", function()
  -- the contract types every number as number; integer support is tested
  -- with a schema of our own so it is ready when the contract uses it
  setup(function()
    schemas.TestInteger = { type = "object", properties = { n = { type = "integer", minimum = 0 } } }
  end)
  teardown(function() schemas.TestInteger = nil end)

  it("accepts whole numbers, as integers, and refuses fractions", function()
    assert.equal('{"n":5}', body.check("TestInteger", { n = 5.0 }, "t"))
    assert.equal('{"n":0}', body.check("TestInteger", { n = 0 }, "t"))
    local _, err = body.check("TestInteger", { n = 2.5 }, "t")
    assert.equal("t: body.n must be a whole number, got 2.5", err.message)
    _, err = body.check("TestInteger", { n = "5" }, "t")
    assert.equal("t: body.n must be a whole number, got string", err.message)
  end)
end)

describe("body.check", function()
  it("raises on a schema name that does not exist (a bug in the caller)", function()
    assert.has_error(function() body.check("NoSuchRequest", {}, "f") end)
  end)

  it("leaves the caller's tables as they were", function()
    local urls = {}
    local v = { url = "u", startUrls = urls, crawlMethod = { mode = "auto" } }
    assert.equal('{"crawlMethod":{"mode":"auto"},"startUrls":[],"url":"u"}',
      body.check("StartCrawlerSessionRequest", v, "f"))
    assert.is_nil(getmetatable(urls))
    assert.same({ url = "u", startUrls = {}, crawlMethod = { mode = "auto" } }, v)
  end)

  it("refuses invalid UTF-8 with the path", function()
    local _, err = body.check("PauseCrawlerSessionRequest", { sessionId = "a\255" }, "pause")
    assert.equal("pause: body.sessionId is not valid UTF-8 (at position 2, byte 0xff)", err.message)
  end)

  it("finds close names by Damerau-Levenshtein distance", function()
    local function hint(name)
      local _, err = body.check("StartCrawlerSessionRequest", { url = "u", [name] = 1 }, "crawl")
      return err.message:match("did you mean (%w+)%?")
    end
    assert.is_nil(hint("zzzzzz"))
    assert.equal("maxPages", hint("MaxPages"))
  end)
end)

describe("lua/kadoa/schema.lua", function()
  -- Read the contract here too, in whatever Lua runs the specs, and compare
  -- rule by rule: this checks the generator itself, not only its output.
  it("holds every rule and description of the contract's request schemas", function()
    local doc = cjson.decode((assert(sub.read("spec/contract/crawler.openapi.json"))))
    local function deref(node)
      while node["$ref"] do
        local target = doc
        for part in node["$ref"]:sub(3):gmatch("[^/]+") do target = target[part] end
        node = target
      end
      return node
    end
    local function sorted(list)
      if list == nil then return nil end
      local copy = {}
      for i, v in ipairs(list) do copy[i] = v end
      table.sort(copy)
      return copy
    end
    local compare
    function compare(c, s, where)
      c = deref(c)
      assert(type(s) == "table", where .. " is missing from schema.lua")
      if c.oneOf then
        assert.equal("one_of", s.type, where)
        assert.equal(#c.oneOf, #s.one_of, where)
        for i, alt in ipairs(c.oneOf) do compare(alt, s.one_of[i], where .. ".oneOf") end
      else
        assert.equal(c.type or "any", s.type, where)
      end
      assert.equal(c.nullable == true, s.nullable == true, where .. " nullable")
      for _, k in ipairs({ "description", "default", "minimum", "maximum", "minLength", "format" }) do
        assert.equal(c[k], s[k], where .. " " .. k)
      end
      assert.same(c.enum, s.enum, where .. " enum")
      assert.same(sorted(c.required), s.required, where .. " required")
      local cap = c.additionalProperties
      if type(cap) == "table" then
        compare(cap, s.additionalProperties, where .. ".*")
      else
        assert.equal(cap, s.additionalProperties, where .. " additionalProperties")
      end
      if c.items then compare(c.items, s.items, where .. "[]") end
      assert.same(sorted_keys(c.properties), sorted_keys(s.properties), where .. " properties")
      for k, sub_c in pairs(c.properties or {}) do compare(sub_c, s.properties[k], where .. "." .. k) end
    end
    local seen = {}
    for _, item in pairs(doc.paths) do
      for _, op in pairs(item) do
        local rb = type(op) == "table" and op.requestBody
        if type(rb) == "table" then
          local ref = rb.content["application/json"].schema["$ref"]
          local name = ref:match("([^/]+)$")
          seen[#seen + 1] = name
          compare(deref({ ["$ref"] = ref }), schemas[name], name)
        end
      end
    end
    assert.same(request_schemas, sorted(seen))
  end)

  it("is exactly what gen_schema.lua makes of the contract", function()
    local out = sub.sh("lua5.4 spec/contract/gen_schema.lua spec/contract/crawler.openapi.json 2>&1")
    local committed = sub.read("lua/kadoa/schema.lua")
    assert.is_true(#out > 1000, out)
    -- not assert.equal: a diff of 20 KB of text helps nobody; say where
    if out ~= committed then
      local line = 1
      for i = 1, math.min(#out, #committed) do
        if out:byte(i) ~= committed:byte(i) then break end
        if out:byte(i) == 10 then line = line + 1 end
      end
      error("lua/kadoa/schema.lua differs from the generator's output from line " .. line
        .. ": run `make schema`")
    end
  end)
end)
