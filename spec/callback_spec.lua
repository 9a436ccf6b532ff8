-- A start's `callback` option against the mock: the secret token added to
-- the URL sent as callbackUrl (the mock calls it back when the crawl is over
-- and records the URL it called), returned on the result, one per crawl;
-- every bad URL a usage error before anything is sent. The receiver in
-- nginx (kadoa.resty.callback) is tested in spec/hosts/dashboard_test.lua.
local kadoa = require("kadoa")
local core = require("kadoa.core")
local mock = require("spec.helpers.mock")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")

local KEY = "sk-callback-5d0e"

local function fetch_json(url)
  return assert(require("cjson").decode(sub.sh("curl -s --noproxy '*' " .. sub.quote(url))))
end

describe("core.token", function()
  it("is hex from the OS, 2 digits a byte, never the same twice", function()
    local seen = {}
    for _ = 1, 200 do
      local t = assert(core.token())
      assert.matches("^[0-9a-f]+$", t)
      assert.are.equal(32, #t)
      assert.is_nil(seen[t])
      seen[t] = true
    end
    assert.are.equal(2, #core.token(1))
    assert.are.equal(512, #core.token(256))
    for _, bad in ipairs({ 0, 257, -1 }) do
      local ok, e = pcall(core.token, bad)
      assert.is_false(ok)
      assert.matches("bad argument #1 to '[%w.?]*' %(between 1 and 256 bytes expected%)", e)
    end
    assert.has_error(function() core.token("x") end)
  end)
end)

describe("a start's callback option", function()
  local fx = fixture.mock_client(KEY, { retries = 0 })
  local srv, client, hook
  setup(function()
    srv, client = fx.start()
    -- nobody listens there: the mock's call fails, and it records the URL
    hook = "http://127.0.0.1:" .. mock.closed_port() .. "/hook"
  end)
  teardown(fx.stop)

  local function starts() return fetch_json(srv.url .. "/mock/starts").count end

  -- the URL the mock called back for session id (once its crawl is over)
  local function called(id)
    for _ = 1, 100 do
      for _, c in ipairs(fetch_json(srv.url .. "/mock/callbacks").calls) do
        if c.sessionId == id then return c.url end
      end
      core.sleep(0.05)
    end
    error("the mock never called back for " .. id)
  end

  it("sends the URL with a fresh secret added, and returns the secret", function()
    local body = { url = "https://pages-2.seconds-0.example.com/" }
    local a = assert(client:crawl(body, { callback = hook }))
    local b = assert(client:crawl("https://pages-2.seconds-0.example.com/", { callback = hook .. "?x=1" }))
    assert.matches("^%x+$", a.callback_token)
    assert.are.equal(32, #a.callback_token)
    assert.are_not.equal(a.callback_token, b.callback_token)
    assert.are.equal(hook .. "?kadoa_token=" .. a.callback_token, called(a.sessionId))
    assert.are.equal(hook .. "?x=1&kadoa_token=" .. b.callback_token, called(b.sessionId))
    -- the caller's body is not touched
    assert.are.same({ url = "https://pages-2.seconds-0.example.com/" }, body)
  end)

  it("joins any query as it is", function()
    for _, case in ipairs({ { "?", "?kadoa_token=" }, { "?a=1&", "?a=1&kadoa_token=" },
                            { "?xkadoa_token=1", "?xkadoa_token=1&kadoa_token=" } }) do
      local r = assert(client:crawl("https://pages-1.seconds-0.example.com/", { callback = hook .. case[1] }))
      assert.are.equal(hook .. case[2] .. r.callback_token, called(r.sessionId))
    end
  end)

  it("puts the token on the final status with wait, and on send's result", function()
    local w = assert(client:crawl("https://pages-3.seconds-0.2.example.com/",
      { callback = hook, wait = { interval = 0.1, jitter = 0 } }))
    assert.is_true(w.payload.finished)
    assert.are.equal(hook .. "?kadoa_token=" .. w.callback_token, called(w.sessionId))

    local req = assert(client:send("crawl", "https://pages-1.seconds-0.example.com/", { callback = hook }))
    local r = assert(req:await(10))
    assert.are.equal(hook .. "?kadoa_token=" .. r.callback_token, called(r.sessionId))

    local s = assert(kadoa.crawl("https://pages-1.seconds-0.example.com/",
      { callback = hook, api_key = KEY, base_url = srv.url }))
    assert.are.equal(hook .. "?kadoa_token=" .. s.callback_token, called(s.sessionId))
  end)

  it("refuses a bad URL, or a callback twice, before anything is sent", function()
    local before = starts()
    local url = "https://pages-1.seconds-0.example.com/"
    for _, case in ipairs({
      { { callback = "ftp://127.0.0.1/x" }, "must be an http:// or https:// URL" },
      { { callback = "127.0.0.1/x" }, "must be an http:// or https:// URL" },
      { { callback = "http:///x" }, "must name a host" },
      { { callback = "http://user@/x" }, "must name a host" },
      { { callback = "http://127.0.0.1/a b" }, "hold no spaces" },
      { { callback = "http://127.0.0.1/a\r\nX: y" }, "must not contain control characters" },
      { { callback = "http://127.0.0.1/a#top" }, "must not have a fragment" },
      { { callback = "http://127.0.0.1/a?kadoa_token=00" }, "already has a kadoa_token" },
      { { callback = "http://127.0.0.1/a?b=1&kadoa_token=00" }, "already has a kadoa_token" },
      { { callback = 7 }, "option 'callback' must be a string, got number" },
      { { callback = hook, raw = true }, "not with raw" },
      { { callback = hook, wait = true, raw = true }, "not with raw" },
    }) do
      local res, err = client:crawl(url, case[1])
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.matches("^crawl: ", err.message)
      assert.is_truthy(err.message:find(case[2], 1, true), err.message)
    end
    local _, both = client:crawl({ url = url, callbackUrl = hook }, { callback = hook })
    assert.are.equal("usage", both.kind)
    assert.matches("option 'callback' or as body field callbackUrl, not both", both.message)
    local _, cfg = client:crawl_with_config("cfg-1", { callback = hook })
    assert.are.equal("usage", cfg.kind)
    assert.matches("^crawl_with_config: option 'callback' is not available: .* only configId", cfg.message)
    local _, sent = client:send("crawl", url, { callback = "gopher://x" })
    assert.are.equal("usage", sent.kind)
    assert.are.equal(before, starts())
  end)
end)
