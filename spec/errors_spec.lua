-- Every outcome against the exact error it must give: each HTTP status, each
-- class of failure below HTTP and each shape of an API's error body.
--
-- Where the mock can make the outcome for real, it does (the libcurl
-- client, its C record and kadoa.errors, as in use). The rest are outcome
-- records as a transport makes them, given to errors.from_report: the
-- classes a real failure cannot be made for here (out of memory), and the
-- records kadoa.resty.transport makes over cosockets (spec/hosts/nginx_test
-- holds the two transports' errors to each other in a real nginx).

local errors = require("kadoa.errors")
local kadoa = require("kadoa")
local mock = require("spec.helpers.mock")

local KEY = "sk-err-7c1e-SECRET"

describe("errors.kinds", function()
  it("is what errors.new accepts, and nothing else", function()
    for kind in pairs(errors.kinds) do
      assert.are.equal(kind, errors.new(kind, "m").kind)
    end
    for _, bad in ipairs({ "response", "oops", "", 1, false }) do
      assert.has_error(function() errors.new(bad, "m") end,
        "kadoa: internal error: unknown error kind " .. tostring(bad))
    end
    assert.has_error(function() errors.new(nil, "m") end)
  end)

  it("holds the kind of every HTTP status and of every failure class", function()
    for status = 100, 599 do
      assert.is_true(errors.kinds[errors.kind_of_status(status)] == true, tostring(status))
    end
    for class, f in pairs(errors.failures) do
      assert.is_true(errors.kinds[f[1]] == true, class)
    end
  end)

  it("refuses a record whose failure class it does not know", function()
    assert.has_error(function() errors.from_report({ failure = "oops", sent = true }) end,
      "kadoa: internal error: unknown failure oops")
  end)
end)

-- The reason phrases the mock (Python's http.HTTPStatus) gives.
local PHRASE = {
  [300] = "Multiple Choices", [400] = "Bad Request", [401] = "Unauthorized",
  [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [410] = "Gone", [418] = "I'm a Teapot", [422] = "Unprocessable Entity",
  [429] = "Too Many Requests", [500] = "Internal Server Error", [501] = "Not Implemented",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout",
  [599] = "Unknown Status",
}

-- status -> the kind it must give (the contract's codes, and others)
local STATUS = {
  { 400, "bad_request" }, { 401, "auth" }, { 403, "auth" }, { 404, "not_found" },
  { 405, "bad_request" }, { 409, "bad_request" }, { 410, "bad_request" },
  { 418, "bad_request" }, { 422, "bad_request" }, { 429, "rate_limited" },
  { 500, "server" }, { 501, "server" }, { 502, "server" }, { 503, "server" },
  { 504, "server" }, { 599, "server" }, { 300, "http" },
}

-- session id on the mock -> what the error must be. message: exact, or
-- pattern (libcurl's own words, which name ports and times).
local FROM_MOCK = {
  -- the shapes of an error body
  { "old-shape-400", "bad_request", "mock old 400", details = "Old style error" },
  { "html-502", "server", "502 Bad Gateway" },
  { "html-404", "not_found", "404 Not Found" },
  { "empty-503", "server", "HTTP 503 Service Unavailable" },
  { "text-502", "server", "HTTP 502 Bad Gateway: upstream connect error" },
  { "redirect", "http", "^HTTP 302: Found%. Redirecting to http://127%.0%.0%.1:%d+/v4/crawl/echo/status$",
    status = 302 },
  { "leak-key", "bad_request", "bad key [redacted] for this session", status = 400 },
  -- head facts
  { "request-id", "server", "mock 500: Internal Server Error", request_id = "req-mock-123" },
  { "amzn-request-id", "server", "mock 500: Internal Server Error", request_id = "amzn-mock-456" },
  { "retry-after-7", "rate_limited", "mock 429: Too Many Requests", retry_after = 7 },
  -- failures below HTTP, each class
  { "hang", "timeout", "^Operation timed out after %d+ milliseconds with 0 bytes received$",
    opts = { timeout = 0.3 } },
  { "reset", "network", "Recv failure: Connection reset by peer" },
  { "reset-mid-body", "network", "Recv failure: Connection reset by peer" },
  { "truncated", "network", "transfer closed with 950 bytes remaining to read" },
  { "chunked-cut", "network", "transfer closed with outstanding read data remaining" },
  { "huge-5000", "too_large", "response body larger than max_body (1000 bytes)", max_body = 1000 },
  { "huge-chunked-5000", "too_large", "response body larger than max_body (1000 bytes)", max_body = 1000 },
  { "big-header-200000", "too_large", "^response headers too large" },
  { "invalid-json", "decode", "^invalid JSON in response: .+" },
  { "json-array", "decode", "response is JSON but not an object" },
  { "json-string", "decode", "response is JSON but not an object" },
  { "empty-200", "decode", "empty response body" },
  { "gzip-corrupt", "decode", "^Error while processing content unencoding" },
  { "", "usage", "session id is empty", sent = false },
}

describe("an answer from the mock, through the libcurl client", function()
  local srv, client, small
  setup(function()
    srv = mock.start({ key = KEY })
    client = assert(kadoa.client({ api_key = KEY, base_url = srv.url, retries = 0 }))
    small = assert(kadoa.client({ api_key = KEY, base_url = srv.url, retries = 0, max_body = 1000 }))
  end)
  teardown(function()
    if client then client:close() end
    if small then small:close() end
    if srv then srv:stop() end
  end)

  for _, row in ipairs(STATUS) do
    local code, kind = row[1], row[2]
    it(("HTTP %d is %s"):format(code, kind), function()
      local res, e = client:status("status-" .. code)
      assert.is_nil(res)
      assert.is_true(errors.is(e))
      assert.are.same({ kind = kind, message = ("mock %d: %s"):format(code, PHRASE[code]),
                        status = code, details = { code = code }, sent = true, attempts = 1 },
                      { kind = e.kind, message = e.message, status = e.status,
                        details = e.details, sent = e.sent, attempts = e.attempts })
    end)
  end

  for _, row in ipairs(FROM_MOCK) do
    local id, kind, message = row[1], row[2], row[3]
    it(("%q is %s: %s"):format(id, kind, message), function()
      local c = row.max_body and small or client
      local res, e = c:status(id, row.opts)
      assert.is_nil(res)
      assert.is_true(errors.is(e))
      assert.are.equal(kind, e.kind, tostring(e))
      if message:sub(1, 1) == "^" then
        assert.matches(message, e.message)
      else
        assert.are.equal(message, e.message)
      end
      for _, k in ipairs({ "status", "details", "request_id", "retry_after" }) do
        if row[k] ~= nil then assert.are.same(row[k], e[k], k) end
      end
      assert.are.equal(row.sent ~= false, e.sent, "sent")
      assert.is_nil(tostring(e):find(KEY, 1, true))
    end)
  end

  it("a refused connection is network, not sent", function()
    local c = assert(kadoa.client({ api_key = KEY, retries = 0,
                                    base_url = "http://127.0.0.1:" .. mock.closed_port() }))
    local _, e = c:status("x")
    c:close()
    assert.are.equal("network", e.kind)
    assert.matches("^Failed to connect to 127%.0%.0%.1 port %d+", e.message)
    assert.is_false(e.sent)
  end)

  it("a host name that does not resolve is network, not sent", function()
    local c = assert(kadoa.client({ api_key = KEY, retries = 0, allow_insecure = true,
                                    base_url = "http://kadoa-errors.invalid" }))
    local _, e = c:status("x")
    c:close()
    assert.are.equal("network", e.kind)
    assert.are.equal("Could not resolve host: kadoa-errors.invalid", e.message)
    assert.is_false(e.sent)
  end)

  it("TLS spoken to a plain HTTP server is tls, not sent", function()
    local c = assert(kadoa.client({ api_key = KEY, retries = 0,
                                    base_url = "https://127.0.0.1:" .. srv.port }))
    local _, e = c:status("x")
    c:close()
    assert.are.equal("tls", e.kind)
    assert.matches("wrong version number", e.message, 1, true)
    assert.is_false(e.sent)
  end)

  it("a file that cannot be opened is io, not sent", function()
    local _, e = client:page("x", "p1", { path = "/nonexistent-kadoa-dir/page.html" })
    assert.are.equal("io", e.kind)
    assert.are.equal("cannot write /nonexistent-kadoa-dir/page.html: No such file or directory", e.message)
    assert.is_false(e.sent)
  end)

  it("a closed client is usage, not sent", function()
    local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
    c:close()
    local _, e = c:status("x")
    assert.are.same({ "usage", "client is closed", false }, { e.kind, e.message, e.sent })
  end)

  it("the non-blocking path gives the same errors", function()
    for _, id in ipairs({ "status-503", "html-502", "truncated", "json-array" }) do
      local want = select(2, client:status(id))
      local req = assert(client:send("status", id))
      local _, got = req:await(10)
      assert.are.same({ want.kind, want.message, want.status, want.sent },
                      { got.kind, got.message, got.status, got.sent }, id)
    end
  end)
end)

-- Outcome records as the transports make them -> the exact error. Rows
-- with `detail` texts like "connecting to ..." are kadoa.resty.transport's.
local RECORDS = {
  -- API error bodies
  { { status = 400, body = '{"error":true,"message":"m","details":{"f":1}}',
      json = { error = true, message = "m", details = { f = 1 } } },
    "bad_request", "m", details = { f = 1 } },
  { { status = 404, body = '{"message":"gone"}', json = { message = "gone" } }, "not_found", "gone" },
  { { status = 409, body = '{"error":"taken"}', json = { error = "taken" } }, "bad_request", "taken" },
  { { status = 400, body = '{"message":"m","error":"old"}', json = { message = "m", error = "old" } },
    "bad_request", "m", details = "old" },
  -- not the API's shape: the status line, never a guess at the list
  { { status = 422, body = '{"errors":[{"message":"url is required"}]}',
      json = { errors = { { message = "url is required" } } } },
    "bad_request", "HTTP 422 Unprocessable Entity" },
  { { status = 500, body = '{"error":true,"message":""}', json = { error = true, message = "" } },
    "server", "HTTP 500 Internal Server Error" },
  { { status = 502, body = "<html><head><title>Bad gateway</title></head></html>",
      content_type = "text/html" }, "server", "HTTP 502 Bad Gateway: Bad gateway" },
  { { status = 503, body = "<html><body>down</body></html>" }, "server", "HTTP 503 Service Unavailable" },
  { { status = 504, body = "" }, "server", "HTTP 504 Gateway Timeout" },
  { { status = 429, body = "slow down", content_type = "text/plain", retry_after = 3 },
    "rate_limited", "HTTP 429 Too Many Requests: slow down", retry_after = 3 },
  { { status = 451, body = "x", content_type = "application/octet-stream" }, "bad_request", "HTTP 451" },
  { { status = 302, body = "" }, "http", "HTTP 302" },
  { { status = 400, body = "{}", json = {}, request_id = "r-1" }, "bad_request", "HTTP 400 Bad Request",
    request_id = "r-1" },
  { { status = 400, json = { message = "a\n\tb  " .. ("x"):rep(400) } }, "bad_request",
    "a b " .. ("x"):rep(296) .. "..." },
  -- failures below HTTP: what the layer below said is the message
  { { failure = "refused", detail = "connecting to 127.0.0.1 port 9: connection refused", sent = false },
    "network", "connecting to 127.0.0.1 port 9: connection refused", sent = false },
  { { failure = "refused", curl = 7, sent = false }, "network", "connection refused", sent = false },
  { { failure = "dns", detail = "connecting to x.invalid port 80: x.invalid could not be resolved",
      sent = false }, "network", "connecting to x.invalid port 80: x.invalid could not be resolved",
    sent = false },
  { { failure = "dns", sent = false }, "network", "could not resolve the host", sent = false },
  { { failure = "timeout", detail = "reading the response headers: timeout", sent = true },
    "timeout", "reading the response headers: timeout" },
  { { failure = "timeout", sent = true }, "timeout", "timed out" },
  { { failure = "tls", detail = "TLS handshake with h failed: 20: unable to get local issuer certificate",
      sent = false }, "tls", "TLS handshake with h failed: 20: unable to get local issuer certificate",
    sent = false },
  { { failure = "tls", sent = false }, "tls", "TLS failure", sent = false },
  { { failure = "reset", detail = "reading the response body: closed", sent = true },
    "network", "reading the response body: closed" },
  { { failure = "reset", sent = true }, "network", "the connection broke" },
  { { failure = "protocol", detail = "bad chunk in the response body", sent = true, status = 200 },
    "network", "bad chunk in the response body", status = 200 },
  { { failure = "network", sent = true }, "network", "network failure" },
  { { failure = "too_large", max_body = 1000, status = 200, sent = true }, "too_large",
    "response body larger than max_body (1000 bytes)", status = 200 },
  { { failure = "too_large", curl = 27, sent = true }, "too_large",
    "response headers too large (over 100 KB), or out of memory" },
  { { failure = "too_large", detail = "response headers larger than 102400 bytes", sent = true },
    "too_large", "response headers larger than 102400 bytes" },
  { { failure = "encoding", detail = "unsupported Content-Encoding: br", status = 200, sent = true },
    "decode", "unsupported Content-Encoding: br", status = 200 },
  { { failure = "empty", status = 200, sent = true }, "decode", "empty response body", status = 200 },
  { { failure = "json", detail = "Expected value but found T_END at character 1", size = 1,
      status = 200, sent = true }, "decode",
    "invalid JSON in response: Expected value but found T_END at character 1", status = 200 },
  { { failure = "not_object", status = 200, sent = true }, "decode", "response is JSON but not an object",
    status = 200 },
  { { failure = "memory", size = 7, status = 200, sent = true }, "memory",
    "out of memory decoding a response of 7 bytes", status = 200 },
  { { failure = "memory", sent = true }, "memory", "out of memory while reading the response" },
  { { failure = "io", detail = "No such file or directory", file = "/x/y.html", sent = false },
    "io", "cannot write /x/y.html: No such file or directory", sent = false },
  { { failure = "io", detail = "No space left on device", status = 200, sent = true },
    "io", "cannot write the file: No space left on device", status = 200 },
  { { failure = "usage", detail = "client is closed", sent = false }, "usage", "client is closed",
    sent = false },
  { { failure = "usage", detail = "page id is longer than 4096 bytes", sent = false }, "usage",
    "page id is longer than 4096 bytes", sent = false },
}

describe("errors.from_report", function()
  for i, row in ipairs(RECORDS) do
    local r, kind, message = row[1], row[2], row[3]
    it(("record %d (%s) is %s: %s"):format(i, r.failure or ("HTTP " .. r.status), kind, message), function()
      local e = errors.from_report(r)
      assert.is_true(errors.is(e))
      assert.are.equal(kind, e.kind)
      assert.are.equal(message, e.message)
      assert.are.equal(row.sent ~= false, e.sent)
      assert.are.equal(row.status or r.status, e.status)
      for _, k in ipairs({ "details", "request_id", "retry_after" }) do
        assert.are.same(row[k], e[k], k)
      end
    end)
  end

  it("covers every failure class it knows", function()
    local seen = {}
    for _, row in ipairs(RECORDS) do
      if row[1].failure then seen[row[1].failure] = true end
    end
    for class in pairs(errors.failures) do assert.is_true(seen[class], class) end
  end)
end)

describe("the outcome record", function()
  local srv
  setup(function() srv = mock.start({ key = KEY }) end)
  teardown(function() if srv then srv:stop() end end)

  -- the records both kinds of transport make carry facts, never wording
  it("from libcurl holds the failure class and libcurl's code, no kind or message", function()
    local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url, retries = 0 }))
    local route = require("kadoa.api").calls.status.route
    local _, r = c.transport:fetch(route, 0.3, nil, "hang")
    assert.are.equal("timeout", r.failure)
    assert.are.equal(28, r.curl)   -- CURLE_OPERATION_TIMEDOUT
    assert.is_true(r.sent)
    assert.is_number(r.elapsed)
    assert.is_nil(r.kind)
    assert.is_nil(r.message)
    _, r = c.transport:fetch(route, nil, nil, "status-503")
    assert.is_nil(r.failure)
    assert.are.equal(503, r.status)
    assert.are.equal("mock 503: Service Unavailable", r.json.message)
    c:close()
  end)

  it("has the key redacted once, where it is made, even when a server spells it out", function()
    local c = assert(kadoa.client({ api_key = "sk-a b", base_url = srv.url }))
    -- a blank in the key matches any run of blanks, which one_line would fold
    local _, r = c.transport:finish(400, "x sk-a\r\n\tb y", { request_id = "id sk-a b" }, false)
    assert.are.equal("x [redacted] y", r.body)
    assert.are.equal("id [redacted]", r.request_id)
    -- a JSON body that makes the key only once decoded is not kept as json
    _, r = c.transport:finish(400, '{"message":"\\u0073k-a b"}', {}, false)
    assert.is_nil(r.json)
    local e = errors.from_report(r)
    assert.are.equal("HTTP 400 Bad Request", e.message)
    c:close()
  end)
end)
