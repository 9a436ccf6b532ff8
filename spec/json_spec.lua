-- kadoa.json, the request-body encoder: exact text for every kind of value,
-- and a clear refusal (naming the path) for anything JSON cannot carry.
-- What a caller hands in is checked by kadoa.body first, cycles and depth
-- included (spec/body_spec.lua "body any").

local json = require("kadoa.json")
local cjson = require("cjson")

local function enc(v)
  local text, err = json.encode(v)
  assert(text, err)
  return text
end

local function refuses(v, pattern)
  local text, err = json.encode(v)
  assert.is_nil(text)
  assert.is_string(err)
  if pattern then
    assert.truthy(err:find(pattern, 1, true), "message was: " .. err)
  end
  return err
end

describe("kadoa.json strings", function()
  it("escapes quote and backslash, and leaves / alone", function()
    assert.equal([["a\"b\\c/d"]], enc('a"b\\c/d'))
  end)

  for c = 0, 31 do
    it(("escapes control character %d as \\u%04x"):format(c, c), function()
      assert.equal(('"x\\u%04xy"'):format(c), enc("x" .. string.char(c) .. "y"))
      assert.equal("x" .. string.char(c) .. "y", cjson.decode(enc("x" .. string.char(c) .. "y")))
    end)
  end

  it("writes DEL (not a JSON control character) as it is", function()
    assert.equal('"\127"', enc("\127"))
  end)

  it("keeps valid UTF-8 bytes as they are, up to U+10FFFF", function()
    for _, s in ipairs({ "é", "€", "\239\191\191", "😀", "\244\143\191\191", "mixé€😀d" }) do
      assert.equal('"' .. s .. '"', enc(s))
    end
  end)

  local bad = {
    { "lone continuation byte", "\128" },
    { "0xff", "a\255" },
    { "0xf5 lead byte", "\245\128\128\128" },
    { "overlong 2-byte form", "\192\128" },
    { "overlong 2-byte form C1", "\193\191" },
    { "overlong 3-byte form", "\224\128\128" },
    { "overlong 4-byte form", "\240\128\128\128" },
    { "UTF-16 surrogate", "\237\160\128" },
    { "above U+10FFFF", "\244\144\128\128" },
    { "sequence cut short", "ab\226\130" },
    { "sequence cut by ASCII", "\226\130a" },
  }
  for _, case in ipairs(bad) do
    it("refuses invalid UTF-8: " .. case[1], function()
      local err = refuses({ s = case[2] }, "value.s is not valid UTF-8")
      assert.truthy(err:find("position", 1, true))
    end)
  end

  it("refuses an object key that is not valid UTF-8", function()
    refuses({ ["\255"] = 1 }, "value has a key that is not valid UTF-8")
  end)

  it("escapes keys like strings", function()
    assert.equal('{"a\\"b\\u000a":1}', enc({ ['a"b\n'] = 1 }))
  end)
end)

describe("kadoa.json numbers", function()
  it("writes whole numbers as integers", function()
    assert.equal("5", enc(5))
    assert.equal("5", enc(5.0))
    assert.equal("-3", enc(-3.0))
    assert.equal("0", enc(0))
    assert.equal("1000000000000000", enc(1e15))
    assert.equal("9007199254740992", enc(2 ^ 53))
    assert.equal("-9007199254740992", enc(-(2 ^ 53)))
    assert.equal("[1,2,3]", enc({ 1, 2.0, 3 }))
  end)

  it("writes Lua 5.3+ integers exactly, beyond 2^53 too", function()
    if not math.type then return end
    assert.equal("9223372036854775807", enc(math.maxinteger))
    assert.equal("-9223372036854775808", enc(math.mininteger))
    assert.equal("9007199254740993", enc(9007199254740993))
  end)

  it("writes other numbers with %.17g, which reads back exactly", function()
    for _, x in ipairs({ 0.1, 1.5, -2.25, 1 / 3, 1e300, -1e-300, 2 ^ 60, 5e-324, 1.7976931348623157e308 }) do
      local text = enc(x)
      assert.equal(string.format("%.17g", x), text)
      assert.equal(x, cjson.decode(text))
    end
    assert.equal("0.10000000000000001", enc(0.1))
  end)

  it("refuses NaN and infinities", function()
    refuses(0 / 0, "value is NaN")
    refuses(math.huge, "value is infinity")
    refuses(-math.huge, "value is -infinity")
    refuses({ a = { 1, 0 / 0 } }, "value.a[2] is NaN")
  end)
end)

describe("kadoa.json other scalars", function()
  it("writes booleans and null", function()
    assert.equal("true", enc(true))
    assert.equal("false", enc(false))
    assert.equal("null", enc(json.null))
    assert.equal("[null,true]", enc({ json.null, true }))
  end)

  it("accepts cjson.null as null", function()
    assert.equal('{"a":null}', enc({ a = cjson.null }))
  end)

  it("has a null that prints as null and cannot be written to", function()
    assert.equal("null", tostring(json.null))
    assert.has_error(function() json.null.x = 1 end)
    assert.is_true(json.is_null(json.null))
    assert.is_true(json.is_null(cjson.null))
    assert.is_false(json.is_null(false))
  end)

  it("refuses nil, functions, userdata and threads", function()
    refuses(nil, "value is a nil, which JSON cannot carry")
    refuses({ f = print }, "value.f is a function, which JSON cannot carry")
    refuses({ io.stdout }, "value[1] is a userdata, which JSON cannot carry")
    refuses(coroutine.create(function() end), "value is a thread, which JSON cannot carry")
  end)

  it("names the root as asked", function()
    local _, err = json.encode({ x = "\255" }, "body")
    assert.equal("body.x is not valid UTF-8 (at position 1, byte 0xff)", err)
  end)
end)

describe("kadoa.json tables", function()
  it("writes an empty unmarked table as {} and a marked one as []", function()
    assert.equal("{}", enc({}))
    assert.equal("[]", enc(json.array()))
    assert.equal("[]", enc(json.array({})))
    assert.equal('{"a":[],"b":{}}', enc({ a = json.array(), b = {} }))
  end)

  it("json.array returns its table, marked", function()
    local t = { 1 }
    assert.equal(t, json.array(t))
    assert.is_true(json.is_array(t))
    assert.is_false(json.is_array({ 1 }))
  end)

  it("writes a non-empty sequence as an array", function()
    assert.equal('[1,"a",[2],{"k":false}]', enc({ 1, "a", { 2 }, { k = false } }))
  end)

  it("writes object keys in sorted order", function()
    assert.equal('{"A":1,"B":2,"a":3,"aa":4,"b":5}', enc({ b = 5, aa = 4, a = 3, B = 2, A = 1 }))
    local big = {}
    for i = 1, 200 do big["k" .. i] = i end
    local first = enc(big)
    for _ = 1, 5 do assert.equal(first, enc(big)) end
    local last = ""
    for k in first:gmatch('"(k%d+)"') do
      assert.is_true(k > last)
      last = k
    end
  end)

  it("refuses a sparse array, mixed keys and keys that are not strings", function()
    refuses({ 1, nil, 3 }, "value is a sparse array or mixes items and fields")
    refuses({ a = { 1, b = 2 } }, "value.a is a sparse array or mixes items and fields")
    refuses({ [1.5] = 1 }, "value has the key 1.5: keys must be strings")
    refuses({ a = 1, [true] = 1 }, "value has the key true: keys must be strings")
    refuses(json.array({ a = 1 }), "value is a sparse array or mixes items and fields")
  end)

  it("writes a table used twice twice", function()
    local shared = { 1 }
    assert.equal('{"x":[1],"y":[1]}', enc({ x = shared, y = shared }))
  end)

  it("names awkward keys readably in messages", function()
    refuses({ ["a b"] = { "\255" } }, 'value["a b"][1] is not valid UTF-8')
  end)

  it("reads back the same with cjson", function()
    local v = { s = "é\n", n = { 1, 2.5, -7 }, o = { t = true, f = false }, z = json.null }
    local back = cjson.decode(enc(v))
    assert.same({ s = "é\n", n = { 1, 2.5, -7 }, o = { t = true, f = false }, z = cjson.null }, back)
  end)
end)
