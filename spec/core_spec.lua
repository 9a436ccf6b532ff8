-- The core: kadoa.client / client:status / kadoa.status against the real
-- mock server, on whichever Lua busted runs.

local kadoa = require("kadoa")
local cjson = require("cjson")
local mock = require("spec.helpers.mock")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")

local KEY = "sk-test-5f1c0a9e"

describe("kadoa core", function()
  local fx = fixture.mock_client(KEY)
  local srv, client
  local new_client = fx.new_client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)

  describe("module", function()
    it("has a version and kadoa.null is cjson.null", function()
      assert.is_string(kadoa.version)
      assert.matches("^%d+%.%d+%.%d+", kadoa.version)
      assert.are.equal(cjson.null, kadoa.null)
    end)
  end)

  describe("a successful status", function()
    it("is a plain table with the API's fields", function()
      local res, err = client:status("sess-1")
      assert.is_nil(err)
      assert.are.equal("sess-1", res.sessionId)
      assert.are.equal(14, res.payload.crawledPages)
      assert.is_true(res.payload.finished)
      assert.is_nil(res.error)          -- JSON null in an object: absent
      assert.is_nil(getmetatable(res))
    end)

    it("turns whole numbers into integers where Lua has them", function()
      local res = assert(client:status("sess-2"))
      if math.type then
        assert.are.equal("integer", math.type(res.payload.crawledPages))
      end
      assert.are.equal("14", tostring(res.payload.crawledPages))
    end)

    it("drops nulls in objects and keeps them in arrays", function()
      local res = assert(client:status("nulls"))
      local p = res.payload
      assert.is_nil(p.a)
      assert.is_nil(p.nested.x)
      assert.are.equal(1, p.nested.y)
      assert.are.equal(3, #p.list)
      assert.are.equal(kadoa.null, p.list[2])
      assert.are.same({}, p.empty)
      for k in pairs(p) do assert.are_not.equal("a", k) end
    end)

    it("keeps numbers, UTF-8 and empty containers", function()
      local p = assert(client:status("types")).payload
      assert.are.equal(42, p.int)
      assert.are.equal(-7, p.neg)
      assert.are.equal(1.5, p.float)
      assert.are.equal(9007199254740992, p.big)   -- nearest double, as JSON parsers do
      assert.are.equal(1e300, p.exp)
      assert.are.equal("h\195\169llo \226\156\147 \230\151\165\230\156\172", p.unicode)
      assert.are.equal("\240\159\152\128", p.emoji)
      assert.are.same({}, p.emptyObj)
      assert.are.same({}, p.emptyArr)
      assert.are.same({ { 1, 2 }, {} }, p.nested)
      assert.is_false(p.bool)
    end)

    it("returns a 200 whose error is a string as the table it is", function()
      local res, err = client:status("failed")
      assert.is_nil(err)
      assert.are.equal("Crawl failed: target returned HTTP 500", res.error)
      assert.is_false(res.payload.finished)
    end)

    it("status_json gives the body exactly as sent", function()
      local body = assert(client:status_json("nulls"))
      assert.is_string(body)
      assert.matches('"a":null', body, 1, true)
      assert.are.same(cjson.decode(body).payload.list[3], 3)
    end)
  end)

  describe("the request on the wire", function()
    it("matches the contract", function()
      local req = assert(client:status("echo-contract")).payload.request
      assert.are.equal("GET", req.method)
      assert.are.equal("/v4/crawl/echo-contract/status", req.path)
      assert.are.equal("", req.query)
      local h = req.headers
      assert.are.equal("<ok>", h["x-api-key"])
      assert.are.equal("application/json", h["accept"])
      assert.are.equal("kadoa-lua/" .. kadoa.version, h["user-agent"])
      assert.matches("gzip", h["accept-encoding"], 1, true)
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$",
        h["x-request-id"])
    end)

    it("sends a fresh request id each time", function()
      local seen = {}
      for _ = 1, 20 do
        local id = assert(client:status("echo-rid")).payload.request.headers["x-request-id"]
        assert.is_nil(seen[id])
        seen[id] = true
      end
    end)

    it("appends user_agent to its own", function()
      local c = new_client({ user_agent = "myplugin/2.0" })
      local h = assert(c:status("echo-ua")).payload.request.headers
      assert.are.equal("kadoa-lua/" .. kadoa.version .. " myplugin/2.0", h["user-agent"])
      c:close()
    end)

    it("reuses one keep-alive connection for consecutive calls", function()
      local c = new_client()
      local a = assert(c:status("echo-ka")).payload.request
      local b = assert(c:status("echo-ka")).payload.request
      local d = assert(c:status("echo-ka")).payload.request
      assert.are.equal(a.connection, b.connection)
      assert.are.equal(a.connection, d.connection)
      assert.are.same({ 1, 2, 3 }, { a.index, b.index, d.index })
      c:close()
    end)

    local hostile = {
      "a/b", "../../v4/other", "..", ".", "x?y=1", "x#frag", "100%", "%2F", "%00",
      "with space", "tab\there", "new\nline", "cr\rlf", "caf\195\169", "\226\156\147\240\159\152\128",
      "semi;colon", "a&b=c", "plus+sign", "quote\"'", "<script>", "back\\slash",
      "\0nul", "\255\254 invalid utf8", string.rep("z", 2000),
    }
    for _, tail in ipairs(hostile) do
      it(("keeps the id %q one path segment"):format(tail:sub(1, 40)), function()
        local id = "echo" .. tail
        local res, err = client:status(id)
        assert.is_nil(err)
        assert.are.equal(id, res.sessionId)
        local req = res.payload.request
        assert.are.equal("", req.query)
        assert.matches("^/v4/crawl/[%w%%_~-]+/status$", req.path)
      end)
    end

    it("never follows a redirect", function()
      local res, err = client:status("redirect")
      assert.is_nil(res)
      assert.are.equal("http", err.kind)
      assert.are.equal(302, err.status)
    end)
  end)

  describe("errors", function()
    local cases = {
      { "status-400", "bad_request", 400, "mock 400: Bad Request" },
      { "status-403", "auth", 403, "mock 403: Forbidden" },
      { "status-404", "not_found", 404, "mock 404: Not Found" },
      { "status-418", "bad_request", 418 },
      { "status-429", "rate_limited", 429 },
      { "status-500", "server", 500, "mock 500: Internal Server Error" },
      { "status-503", "server", 503 },
      { "status-504", "server", 504 },
      { "old-shape-404", "not_found", 404, "mock old 404" },
      { "html-502", "server", 502, "502 Bad Gateway" },
      { "empty-500", "server", 500, "HTTP 500 Internal Server Error" },
      { "text-503", "server", 503, "HTTP 503 Service Unavailable: upstream connect error" },
      { "invalid-json", "decode", 200 },
      { "empty-200", "decode", 200 },
      { "json-array", "decode", 200 },
      { "json-string", "decode", 200 },
      { "json-null", "decode", 200 },
      { "html-200", "decode", 200 },
    }
    -- retries are spec/faults_spec.lua's business; here one attempt each
    local once
    setup(function() once = new_client({ retries = 0 }) end)
    teardown(function() once:close() end)

    for _, case in ipairs(cases) do
      local id, kind, status, message = case[1], case[2], case[3], case[4]
      it(id .. " is " .. kind, function()
        local res, err = once:status(id)
        assert.is_nil(res)
        assert.are.equal(kind, err.kind)
        assert.are.equal(status, err.status)
        if message then assert.are.equal(message, err.message) end
        assert.is_truthy(kadoa.errors.is(err))
        local line = tostring(err)
        assert.matches("^kadoa: " .. kind .. ": ", line)
        assert.is_nil(line:find("[\r\n<>]"))
        assert.is_true(#line < 400)
        -- the client still works afterwards
        assert.are.equal("after", assert(once:status("after")).sessionId)
      end)
    end

    it("carries the API's details", function()
      local _, err = client:status("status-400")
      assert.are.same({ code = 400 }, err.details)
    end)

    it("a wrong key is auth", function()
      local c = new_client({ api_key = "wrong-key" })
      local _, err = c:status("anything")
      assert.are.equal("auth", err.kind)
      assert.are.equal(401, err.status)
      assert.matches("Unauthorized", err.message)
      c:close()
    end)

    it("takes the request id from x-request-id or x-amzn-requestid", function()
      local _, e1 = client:status("request-id")
      assert.are.equal("req-mock-123", e1.request_id)
      assert.matches("request%-id req%-mock%-123", tostring(e1))
      local _, e2 = client:status("amzn-request-id")
      assert.are.equal("amzn-mock-456", e2.request_id)
    end)

    it("a slow answer past the timeout is timeout, and the client recovers", function()
      local c = new_client({ timeout = 0.3, retries = 0 })
      local res, err = c:status("slow-3000")
      assert.is_nil(res)
      assert.are.equal("timeout", err.kind)
      assert.are.equal("ok", assert(c:status("ok")).sessionId)
      c:close()
    end)

    it("a call's own timeout bounds that call only", function()
      local c = new_client({ retries = 0 })          -- the client's timeout: 30 s
      local res, err = c:status("slow-3000", { timeout = 0.3 })
      assert.is_nil(res)
      assert.are.equal("timeout", err.kind)
      -- libcurl counts from the transfer's own start, a moment after the
      -- timeout's: under valgrind it said 299
      assert.matches("^Operation timed out after [23]%d%d milliseconds", err.message)
      assert.is_table(c:status("slow-500"))           -- back to the client's 30 s
      assert.is_string(c:status_json("ok", { timeout = 5 }))
      c:close()
    end)

    it("a call's options are checked", function()
      for _, bad in ipairs({ { timout = 1 }, { timeout = 0 }, { timeout = "1" }, "1" }) do
        local res, err = client:status("x", bad)
        assert.is_nil(res)
        assert.are.equal("usage", err.kind)
        assert.matches("^status: ", err.message)
      end
    end)

    it("a closed port is network", function()
      local c = new_client({ base_url = "http://127.0.0.1:" .. mock.closed_port() })
      local _, err = c:status("x")
      assert.are.equal("network", err.kind)
      c:close()
    end)

    it("an unresolvable host is network", function()
      local c = new_client({ base_url = "https://kadoa-test.invalid", connect_timeout = 5 })
      local _, err = c:status("x")
      assert.are.equal("network", err.kind)
      c:close()
    end)

    it("a truncated body or a reset is network", function()
      for _, id in ipairs({ "truncated", "reset", "reset-mid-body", "chunked-cut" }) do
        local _, err = client:status(id)
        assert.are.equal("network", err.kind, id)
      end
      assert.is_table(client:status("ok"))
    end)

    it("a body over max_body is too_large, announced or not", function()
      local c = new_client({ max_body = 4096 })
      for _, id in ipairs({ "huge-100000", "huge-chunked-100000" }) do
        local res, err = c:status(id)
        assert.is_nil(res)
        assert.are.equal("too_large", err.kind, id)
        assert.are.equal("response body larger than max_body (4096 bytes)", err.message)
      end
      assert.is_table(c:status("huge-4000"))
      c:close()
    end)

    it("a body under the default max_body is fine", function()
      local res = assert(client:status("huge-2000000"))
      assert.is_table(res.payload)
    end)
  end)

  describe("the API key", function()
    it("never appears in an error, even when the server echoes it", function()
      local _, err = client:status("leak-key")
      assert.are.equal("bad_request", err.kind)
      assert.is_nil(err.message:find(KEY, 1, true))
      assert.matches("[redacted]", err.message, 1, true)
      assert.is_nil(tostring(err):find(KEY, 1, true))
    end)

    it("never appears in the client's printed form", function()
      assert.is_nil(tostring(client):find(KEY, 1, true))
      assert.is_nil(tostring(client.transport):find(KEY, 1, true))
      for k, v in pairs(client.settings) do
        assert.is_false(tostring(k):find(KEY, 1, true) ~= nil or tostring(v):find(KEY, 1, true) ~= nil)
      end
    end)

    it("must not contain line breaks", function()
      local c, err = kadoa.client({ api_key = "a\r\nx-evil: 1", base_url = srv.url })
      assert.is_nil(c)
      assert.are.equal("usage", err.kind)
      assert.is_nil(tostring(err):find("evil", 1, true))
    end)
  end)

  describe("usage", function()
    local function usage_of(opts)
      local c, err = kadoa.client(opts)
      assert.is_nil(c)
      assert.are.equal("usage", err.kind)
      return err.message
    end

    it("checks its options as the client group", function()
      -- the rules and messages themselves are options_spec's
      assert.matches("unknown option 'timout'", usage_of({ api_key = KEY, timout = 3 }))
      assert.matches("option 'timeout' must be a number, got string",
        usage_of({ api_key = KEY, timeout = "3" }))
      assert.matches("options must be a table", usage_of("http://x"))
    end)

    it("wants a key", function()
      assert.matches("no API key", usage_of({ api_key = "" }))
    end)

    it("checks the base URL", function()
      assert.matches("only allowed to loopback",
        usage_of({ api_key = KEY, base_url = "http://example.com" }))
      assert.matches("https", usage_of({ api_key = KEY, base_url = "ftp://127.0.0.1" }))
      assert.matches("credentials", usage_of({ api_key = KEY, base_url = "https://u:p@h.invalid" }))
      assert.matches("query", usage_of({ api_key = KEY, base_url = "https://h.invalid/?x=1" }))
      assert.matches("look like", usage_of({ api_key = KEY, base_url = "api.kadoa.com" }))
      assert.matches("no host", usage_of({ api_key = KEY, base_url = "https:///x" }))
    end)

    it("allows http to every loopback form, and elsewhere only when asked", function()
      for _, u in ipairs({ "http://localhost:1", "http://127.0.0.1", "http://127.1.2.3:8",
                           "http://[::1]:9", "http://LOCALHOST" }) do
        assert.is_table(kadoa.client({ api_key = KEY, base_url = u }), u)
      end
      assert.is_table(kadoa.client({ api_key = KEY, base_url = "http://example.com",
                                     allow_insecure = true }))
      assert.is_table(kadoa.client({ api_key = KEY, base_url = "https://api.example.com/" }))
    end)

    it("an empty id is usage and sends nothing", function()
      local c = new_client()
      local first = assert(c:status("echo-count")).payload.request.index
      local res, err = c:status("")
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.are.equal(first + 1, assert(c:status("echo-count")).payload.request.index)
      c:close()
    end)

    it("an id over 4096 bytes is usage and sends nothing", function()
      local res, err = client:status(string.rep("a", 4097))
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.are.equal("session id is longer than 4096 bytes", err.message)
      assert.are.equal("echo" .. string.rep("a", 4092),
        assert(client:status("echo" .. string.rep("a", 4092))).sessionId)
    end)

    it("a non-string id raises the usual bad argument error", function()
      for _, bad in ipairs({ 5, true, {} }) do
        local ok, msg = pcall(client.status, client, bad)
        assert.is_false(ok)
        assert.matches("bad argument #1 to 'status' %(string expected, got " .. type(bad) .. "%)", msg)
      end
      local ok, msg = pcall(kadoa.status, nil)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'status' %(string expected, got nil%)", msg)
    end)

    it("using a closed client is usage, and close is idempotent", function()
      local c = new_client()
      c:close()
      c:close()
      assert.is_true(c:closed())
      local res, err = c:status("x")
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.matches("closed", err.message)
    end)

    it("a dropped client is collected without trouble", function()
      for _ = 1, 20 do
        local c = new_client()
        assert.is_table(c:status("gc"))
      end
      collectgarbage()
      collectgarbage()
      assert.is_table(client:status("after-gc"))
    end)

    if _VERSION == "Lua 5.4" then
      it("closes with <close> on 5.4", function()
        local f = assert(load([[
          local kadoa, opts = ...
          local keep
          do
            local c <close> = assert(kadoa.client(opts))
            keep = c
            assert(c:status("x"))
          end
          return keep:closed()
        ]]))
        assert.is_true(f(kadoa, { api_key = KEY, base_url = srv.url }))
      end)
    end
  end)

  describe("kadoa.status", function()
    it("reuses its default client between calls", function()
      local opts = { api_key = KEY, base_url = srv.url }
      local a = assert(kadoa.status("echo-default", opts)).payload.request
      local b = assert(kadoa.status("echo-default", opts)).payload.request
      assert.are.equal(a.connection, b.connection)
      assert.are.equal(a.index + 1, b.index)
    end)

    it("reports bad options as usage", function()
      local res, err = kadoa.status("x", { api_key = KEY, bogus = 1 })
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
    end)

    it("reads KADOA_API_KEY and KADOA_BASE_URL", function()
      local out = sub.lua([[
        local kadoa = require("kadoa")
        local res, err = kadoa.status("echo-env")
        io.write(res and res.payload.request.headers["x-api-key"] or tostring(err))
      ]], { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url })
      assert.are.equal("<ok>", out)
    end)

    it("without any key says so and sends nothing", function()
      local out = sub.lua([[
        local res, err = require("kadoa").status("x")
        io.write(err.kind, " | ", err.message)
      ]], { KADOA_API_KEY = false, KADOA_BASE_URL = srv.url })
      assert.are.equal("usage | no API key: pass api_key or set KADOA_API_KEY", out)
    end)
  end)
end)
