-- The request engine under every front end: what a call may repeat, the
-- client's own random source, the core's completion queue, an
-- out-of-memory decode. (kadoa.options has its own spec.)
local kadoa = require("kadoa")
local core = require("kadoa.core")
local engine = require("kadoa.engine")
local errors = require("kadoa.errors")
local api = require("kadoa.api")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")

local KEY = "sk-engine-4a1c"

local function err(kind, status, fields)
  local f = fields or {}
  f.status = status
  return errors.new(kind, "test", f)
end

describe("kadoa.engine", function()
  describe("a call that must not run twice", function()
    it("is retried only when the request surely never left", function()
      assert.is_true(engine.retryable(err("network", nil, { sent = false }), true))
      assert.is_false(engine.retryable(err("network", nil, { sent = true }), true))
      assert.is_false(engine.retryable(err("timeout", nil, { sent = true }), true))
      assert.is_false(engine.retryable(err("server", 503, { sent = true }), true))
      assert.is_false(engine.retryable(err("network"), true))   -- unknown counts as sent
      -- a safe call retries the same failures whether sent or not
      assert.is_true(engine.retryable(err("timeout", nil, { sent = true })))
      assert.is_true(engine.retryable(err("server", 503, { sent = true })))
    end)

    it("plans no retry after a timeout, and retries a refused connection", function()
      local s = { retries = 2, retry_base = 0.1, retry_cap = 1, max_retry_wait = 5,
                  random = function() return 0.5 end }
      local e1 = err("timeout", nil, { sent = true })
      assert.is_nil(engine.plan(s, 100, nil, true):next(e1, 0))
      assert.are.equal(1, e1.attempts)
      local e2 = err("network", nil, { sent = false })
      assert.are.equal(0.05, engine.plan(s, 100, nil, true):next(e2, 0))
    end)
  end)

  describe("reports of the core", function()
    local fx = fixture.mock_client(KEY, { retries = 0 })
    local client
    setup(function() client = select(2, fx.start()) end)
    teardown(fx.stop)

    it("say whether the request was sent", function()
      local closed = "http://127.0.0.1:" .. require("spec.helpers.mock").closed_port()
      local _, refused = fx.new_client({ base_url = closed }):status("x")
      assert.are.equal("network", refused.kind)
      assert.is_false(refused.sent)
      local _, timed = client:status("hang", { timeout = 0.2 })
      assert.are.equal("timeout", timed.kind)
      assert.is_true(timed.sent)
      local _, answered = client:status("status-404")
      assert.is_true(answered.sent)
      local _, usage = client:status("")
      assert.is_false(usage.sent)
    end)

    it("each completion is reported once, whoever drives", function()
      local a = assert(client:start("slow-50"))
      local b = assert(client:start("sess-b"))
      assert.truthy(a:await(5))          -- drives both; b lands on the way
      local deadline = core.monotime() + 5
      while not b:done() and core.monotime() < deadline do
        client:driver():wait(10)
        client:driver():step()
      end
      assert.are.equal("sess-b", assert(b:poll()).sessionId)
      -- and on the core itself: every handle once, none lost
      local t = client.transport
      local route = api.calls.status.route
      local hs, seen = {}, {}   -- the requests are kept alive until they land
      for i = 1, 5 do hs[i] = assert(t:start(route, nil, nil, "q" .. i)) end
      assert.are.equal(5, #hs)
      local count = 0
      deadline = core.monotime() + 5
      while count < 5 and core.monotime() < deadline do
        local _, done = t:perform()
        for _, h in ipairs(done) do
          assert.is_nil(seen[h], "reported twice")
          seen[h] = true
          count = count + 1
          assert.is_table((h:result()))
        end
        t:wait(20)
      end
      assert.are.equal(5, count)
    end)
  end)

  describe("random", function()
    it("comes from each client's own generator, different in every process", function()
      local code = [[
        local kadoa = require("kadoa")
        local c = assert(kadoa.client({ api_key = "k", base_url = "http://127.0.0.1:9" }))
        local r = {}
        for i = 1, 4 do r[i] = string.format("%.12f", c.settings.random()) end
        io.write(table.concat(r, " "))
      ]]
      local a = sub.lua(code)
      local b = sub.lua(code)
      assert.matches("^[%d. ]+$", a)
      assert.are_not.equal(a, b)
      local c1 = assert(kadoa.client({ api_key = "k", base_url = "http://127.0.0.1:9" }))
      local c2 = assert(kadoa.client({ api_key = "k", base_url = "http://127.0.0.1:9" }))
      assert.are_not.equal(c1.settings.random(), c2.settings.random())
      for _ = 1, 1000 do
        local x = c1.settings.random()
        assert.is_true(x >= 0 and x < 1)
      end
    end)
  end)

  describe("a decoder that runs out of memory", function()
    it("is kind memory, not bad JSON", function()
      -- a real allocation failure (the address space is limited for the
      -- child), raised inside the decoder the core calls
      local code = [[
        local core = require("kadoa.core")
        local cjson = require("cjson")
        local t = core.new({ api_key = "k", base_url = "http://127.0.0.1:9", user_agent = "t",
          timeout = 1, connect_timeout = 1, max_body = 100,
          decode = function(s)
            local grow = {}
            for i = 1, 1e10 do grow[i] = s .. i end
          end, null = cjson.null })
        local _, r = t:finish(200, '{"a":1}', {}, false)
        local e = require("kadoa.errors").from_report(r)
        io.write(e.kind, "|", e.message)
      ]]
      if os.getenv("KADOA_ASAN") then
        return pending("AddressSanitizer reserves more address space than this limit allows")
      end
      local out = sub.sh("ulimit -v 400000; " .. sub.command() .. " -e " .. sub.quote(code) .. " 2>&1")
      if rawget(_G, "jit") and not out:find("|", 1, true) then
        return pending("LuaJIT cannot start under this address-space limit: " .. out)
      end
      assert.matches("^memory|out of memory decoding a response of 7 bytes", out)
    end)
  end)
end)

