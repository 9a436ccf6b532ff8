-- The mock server itself, driven through spec/helpers/mock.lua and curl.
local mock = require("spec.helpers.mock")
local sh = require("spec.helpers.subprocess").sh


-- curl -s, with the status code appended as "\n<code>"
local function get(srv, path, extra)
  local out = sh("curl -s -w '\\n%{http_code}' " .. (extra or "")
    .. " -H 'x-api-key: " .. srv.key .. "' '" .. srv.url .. path .. "'")
  local body, code = out:match("^(.*)\n(%d+)$")
  return body, tonumber(code)
end

local function has(s, needle)
  return s:find(needle, 1, true) ~= nil
end

describe("mock server", function()
  local srv

  setup(function() srv = mock.start() end)
  teardown(function() srv:stop() end)

  it("starts on a loopback port", function()
    assert.is_number(srv.port)
    assert.is_true(srv.port > 0)
    assert.are.equal("http://127.0.0.1:" .. srv.port, srv.url)
    assert.are.equal("test-key", srv.key)
  end)

  it("answers the default 200 body", function()
    local body, code = get(srv, "/v4/crawl/abc/status")
    assert.are.equal(200, code)
    assert.are.equal('{"payload":{"crawledPages":14,"finished":true,"activeJobs":0,'
      .. '"waitingJobs":0},"sessionId":"abc","error":null}', body)
  end)

  it("wants the key", function()
    local body, code = get({ key = "wrong", url = srv.url }, "/v4/crawl/abc/status")
    assert.are.equal(401, code)
    assert.is_true(has(body, "Unauthorized: invalid or missing API key"))
  end)

  it("404s anything but the one route", function()
    local body, code = get(srv, "/v4/crawl/abc/status?x=1")
    assert.are.equal(404, code)
    assert.is_true(has(body, "no such route: /v4/crawl/abc/status?x=1"))
  end)

  it("decodes the id and echoes the raw path, never the key", function()
    local body, code = get(srv, "/v4/crawl/echo%2Fb%3Fc/status")
    assert.are.equal(200, code)
    assert.is_true(has(body, '"sessionId":"echo/b?c"'))
    assert.is_true(has(body, '"path":"/v4/crawl/echo%2Fb%3Fc/status"'))
    assert.is_true(has(body, '"x-api-key":"<ok>"'))
    assert.is_false(has(body, srv.key))
  end)

  it("keeps a connection alive across requests", function()
    local out = sh("curl -s -H 'x-api-key: test-key' '" .. srv.url .. "/v4/crawl/echo-1/status' '"
      .. srv.url .. "/v4/crawl/echo-2/status'")
    local c1, i1, c2, i2 = out:match('"connection":(%d+),"index":(%d+).*"connection":(%d+),"index":(%d+)')
    assert.is_not_nil(c1)
    assert.are.equal(c1, c2)
    assert.are.equal("1", i1)
    assert.are.equal("2", i2)
  end)

  it("sends error statuses and headers", function()
    local body, code = get(srv, "/v4/crawl/status-503/status")
    assert.are.equal(503, code)
    assert.is_true(has(body, '"message":"mock 503: Service Unavailable"'))
    local head = sh("curl -s -D - -o /dev/null -H 'x-api-key: test-key' '"
      .. srv.url .. "/v4/crawl/retry-after-7/status'")
    assert.is_true(has(head, "429"))
    assert.is_true(has(head, "Retry-After: 7\r\n"))
  end)

  it("is flaky per id", function()
    local _, a = get(srv, "/v4/crawl/flaky-1-spec/status")
    local _, b = get(srv, "/v4/crawl/flaky-1-spec/status")
    assert.are.equal(503, a)
    assert.are.equal(200, b)
  end)

  it("stays responsive while a connection hangs", function()
    local f = io.popen("curl -s -m 1 -H 'x-api-key: test-key' '" .. srv.url
      .. "/v4/crawl/hang/status'; echo done", "r")
    os.execute("sleep 0.2")
    local _, code = get(srv, "/v4/crawl/abc/status", "-m 1")
    assert.are.equal(200, code)
    f:close()
  end)

  it("takes another key, stops idempotently, and frees its port", function()
    local other = mock.start({ key = "it's a key" })
    assert.are.not_equal(srv.port, other.port)
    local _, code = get({ key = "it'\\''s a key", url = other.url }, "/v4/crawl/abc/status")
    assert.are.equal(200, code)
    other:stop()
    other:stop()
    local _, gone = get({ key = "x", url = other.url }, "/v4/crawl/abc/status")
    assert.are.equal(0, gone)
  end)

  it("finds a port with nothing listening", function()
    local port = mock.closed_port()
    assert.is_number(port)
    local out = sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" .. port .. "/; echo \" $?\"")
    assert.are.equal("000 7", (out:gsub("%s+$", "")))
  end)
end)
