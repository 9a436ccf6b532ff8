-- The promises of SECURITY.md that no other spec states on its own: the key
-- stays out of every error field a server can influence, and the key goes
-- only where it was meant to go. (TLS: spec/tls_spec.lua; faults, memory
-- and time bounds: spec/faults_spec.lua; the rest: spec/core_spec.lua.)
local kadoa = require("kadoa")
local errors = require("kadoa.errors")
local mock = require("spec.helpers.mock")

local KEY = "sk-sec-2f9a-SECRET"

local function no_key(v, where)
  if type(v) == "string" then
    assert.is_nil(v:find(KEY, 1, true), "the key in " .. where .. ": " .. v)
  elseif type(v) == "table" then
    for k, x in pairs(v) do
      no_key(k, where .. " (a key)")
      no_key(x, where .. "." .. tostring(k))
    end
  end
end

local function no_key_in_error(e)
  no_key(tostring(e), "tostring")
  for k, v in pairs(e) do no_key(v, "err." .. tostring(k)) end
end

describe("the API key in errors", function()
  -- What a server sent goes through the C core's report (client:finish
  -- judges an answer exactly as a fetch does) and errors.lua, as in use.
  local c = assert(kadoa.client({ api_key = KEY, base_url = "http://127.0.0.1:9" }))
  local function answer(status, body, head)
    local res, r = c.transport:finish(status, body, head or {}, false)
    assert.is_nil(res)
    return errors.from_report(r)
  end

  it("is redacted from a request id a server echoes it in", function()
    local e = answer(500, "", { request_id = KEY })
    no_key_in_error(e)
    assert.are.equal("[redacted]", e.request_id)
    -- a failure below HTTP (a 200 that is not JSON) carries the echo too
    local _, r = c.transport:finish(200, "not json", { request_id = "id-" .. KEY }, false)
    e = errors.from_report(r)
    no_key_in_error(e)
    assert.are.equal("id-[redacted]", e.request_id)
  end)

  it("is redacted from the details of an API error, at any depth", function()
    local body = '{"error":true,"message":"no","details":{"key":"' .. KEY .. '","list":["a ' .. KEY
      .. '"],"' .. KEY .. '":1}}'
    local e = answer(400, body)
    no_key_in_error(e)
    assert.are.equal("[redacted]", e.details.key)
    e = answer(400, '{"message":"m","error":"old ' .. KEY .. '"}')
    no_key_in_error(e)
  end)

  it("never leaves part of a key where a long message is cut", function()
    for pad = 280, 300 do
      local msg = ("x"):rep(pad) .. KEY .. " tail"
      local e = answer(400, '{"message":"' .. msg .. '"}')
      no_key_in_error(e)
      assert.is_nil(tostring(e):find(KEY:sub(1, 8), 1, true), "a piece of the key at " .. pad)
    end
  end)

  it("is redacted when a server echoes it between line breaks", function()
    local e = answer(400, '{"message":"a\\n' .. KEY .. '\\r\\nb"}')
    no_key_in_error(e)
    assert.are.equal("a [redacted] b", e.message)
  end)

  it("is redacted from a failed crawl's error text by wait", function()
    local fake = setmetatable({ status = function(_, id)
      return { sessionId = id, error = "blocked for key " .. KEY }
    end }, { __index = c })
    local _, err = kadoa.Client.wait(fake, "x", { sleep = function() end, clock = function() return 0 end })
    assert.are.equal("crawl_failed", err.kind)
    no_key(err.message, "err.message")          -- err.result is the API's own answer, as it came
    no_key(tostring(err), "tostring")
  end)
end)

describe("the API key on the wire", function()
  local srv

  setup(function() srv = mock.start({ key = KEY }) end)
  teardown(function() if srv then srv:stop() end end)

  it("is sent once, in its header only, never in the URL", function()
    local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
    local res = assert(c:status("echo-" .. KEY:sub(1, 3)))
    local req = res.payload.request
    assert.are.equal("<ok>", req.headers["x-api-key"])   -- the mock hides it, having checked it
    no_key(req.path, "the path")
    no_key(req.query, "the query")
  end)

  it("an error from a server that echoes the key has no key in any field", function()
    local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
    local _, e = c:status("leak-key")
    assert.are.equal("bad_request", e.kind)
    no_key_in_error(e)
    assert.matches("[redacted]", e.message, 1, true)
  end)

  it("does not go to another host by a redirect", function()
    local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
    local _, e = c:status("redirect")
    assert.are.equal(302, e.status)
    assert.are.equal(1, e.attempts)
  end)

  it("is not in the client's printed form nor in a usage error", function()
    local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
    no_key(tostring(c), "tostring(client)")
    local _, e = kadoa.client({ api_key = KEY, base_url = "http://example.com" })
    no_key_in_error(e)
  end)
end)
