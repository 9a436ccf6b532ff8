-- kadoa.many: status_many against the real mock server, on whichever Lua
-- busted runs. Behaviour only; how fast it is lives in `make bench`.

local errors = require("kadoa.errors")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")

local KEY = "sk-many-7d2e91"

-- a fresh tag per run, so the mock's per-id counters (flaky-*) start at 0
local RUN = tostring(os.time()) .. "-" .. tostring(math.random(1e6))

-- Most tests want each failure as it first comes; the retry tests below
-- turn retries on. The client has retry options: no probe for them, so
-- losing them fails these tests instead of turning them pending.
local NO_RETRY = { retries = 0 }

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("status_many", function()
  local fx = fixture.mock_client(KEY, NO_RETRY)
  local srv, client
  local new_client = fx.new_client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)

  -- nothing left on the client's multi handle: no request of the driver
  -- pending, then no transfer of anyone's running (many's workers' too)
  local function idle(c)
    return c:driver():step() == 0 and c.transport:perform() == 0
  end

  -- the probe above must be able to say no, or every assert on it passes
  it("(control) idle sees a request still running", function()
    local c = new_client()
    local req = assert(c:start("slow-300"))
    assert.is_false(idle(c))
    req:cancel()
    assert.is_true(idle(c))
    -- a task's transfer is not the driver's, and is seen too
    local t = assert(c:send("crawl", "https://pages-2.seconds-5.example.com/", { wait = { timeout = 10 } }))
    assert.is_false(idle(c))
    t:cancel()
    assert.is_true(idle(c))
    c:close()
  end)

  describe("results", function()
    it("keys every id to its result table or its error value", function()
      local ids = { "ok-1", "status-404", "status-500", "ok-2", "failed", "invalid-json", "leak-key" }
      local res = assert(client:status_many(ids))
      assert.are.equal(#ids, count(res))

      assert.is_false(errors.is(res["ok-1"]))
      assert.are.equal("ok-1", res["ok-1"].sessionId)
      assert.are.equal(14, res["ok-1"].payload.crawledPages)
      assert.is_true(res["ok-1"].payload.finished)
      assert.is_nil(res["ok-1"].error)          -- JSON null becomes absent, as in status
      assert.are.equal("ok-2", res["ok-2"].sessionId)

      assert.is_true(errors.is(res["status-404"]))
      assert.are.equal("not_found", res["status-404"].kind)
      assert.are.equal(404, res["status-404"].status)
      assert.is_true(errors.is(res["status-500"]))
      assert.are.equal("server", res["status-500"].kind)
      assert.is_true(errors.is(res["invalid-json"]))
      assert.are.equal("decode", res["invalid-json"].kind)
      -- a 200 reporting a failed crawl is what status gives too
      assert.are.equal("Crawl failed: target returned HTTP 500", res["failed"].error)
      -- the key the server echoed back is redacted with the client's key
      assert.is_true(errors.is(res["leak-key"]))
      assert.is_nil(tostring(res["leak-key"]):find(KEY, 1, true))
      assert.is_nil(res["leak-key"].message:find(KEY, 1, true))
    end)

    it("gives each id what client:status gives it", function()
      local ids = { "nulls", "types", "status-401", "html-502", "old-shape-400", "request-id", "json-array" }
      local res = assert(client:status_many(ids, { concurrency = 3 }))
      for _, id in ipairs(ids) do
        local one, err = client:status(id)
        local v = res[id]
        if one then
          assert.is_false(errors.is(v), id)
          assert.are.same(one, v)
        else
          assert.is_true(errors.is(v), id)
          assert.are.equal(err.kind, v.kind)
          assert.are.equal(err.message, v.message)
          assert.are.equal(err.status, v.status)
          assert.are.same(err.details, v.details)
          if id == "request-id" then assert.are.equal("req-mock-123", v.request_id) end
        end
      end
    end)

    it("never mistakes a result for an error", function()
      local res = assert(client:status_many({ "plain" }))
      assert.is_nil(getmetatable(res.plain))
      assert.is_false(errors.is(res.plain))
    end)

    it("with raw, gives each success as the body status_json gives", function()
      local ids = { "nulls", "invalid-utf8", "status-404", "invalid-json" }
      local res = assert(client:status_many(ids, { raw = true }))
      for _, id in ipairs(ids) do
        local one, err = client:status_json(id)
        local v = res[id]
        if one then
          assert.are.equal("string", type(v), id)
          assert.are.equal(one, v)
        else
          assert.is_true(errors.is(v), id)
          assert.are.equal(err.kind, v.kind)
          assert.are.equal(err.status, v.status)
        end
      end
      assert.is_true(errors.is(res["status-404"]))
      -- raw takes the body as it is: not JSON is not a decode error here
      assert.are.equal("string", type(res["invalid-json"]))
      local _, e = client:status_many({ "x" }, { raw = "yes" })
      assert.are.equal("usage", e.kind)
      assert.matches("option 'raw' must be a boolean", e.message)
      assert.is_true(idle(client))
    end)

    it("fetches duplicate ids once", function()
      -- flaky-2 answers 503 twice, then 200: fetched once, the next
      -- status still sees the second 503
      local flaky = "flaky-2-dup" .. RUN
      local calls = {}
      local res = assert(client:status_many({ flaky, "d", flaky, "d", "d", flaky }, {
        on_result = function(id) calls[#calls + 1] = id end,
      }))
      assert.are.equal(2, count(res))
      assert.are.equal(2, #calls)
      assert.are.equal("d", res.d.sessionId)
      assert.are.equal("server", res[flaky].kind)
      local _, err = client:status(flaky)
      assert.are.equal(503, err and err.status)
      assert.are.equal(flaky, assert(client:status(flaky)).sessionId)
    end)

    it("returns an empty table for no ids", function()
      assert.are.same({}, client:status_many({}))
    end)

    it("handles hundreds of ids over a few reused connections", function()
      local ids = {}
      for i = 1, 250 do ids[i] = "echo-" .. i end
      local res = assert(client:status_many(ids, { concurrency = 8 }))
      assert.are.equal(250, count(res))
      local conns, reused = {}, 0
      for i = 1, 250 do
        local v = res[ids[i]]
        assert.is_false(errors.is(v), ids[i])
        assert.are.equal(ids[i], v.sessionId)
        local rq = v.payload.request
        assert.are.equal("/v4/crawl/echo-" .. i .. "/status", rq.path)
        assert.are.equal("<ok>", rq.headers["x-api-key"])
        assert.matches("^kadoa%-lua/", rq.headers["user-agent"])
        conns[rq.connection] = true
        if rq.index > 1 then reused = reused + 1 end
      end
      assert.is_true(count(conns) <= 8, "at most one connection per slot")
      assert.is_true(reused >= 250 - 8, "connections are kept alive")
      assert.is_true(idle(client))
    end)

    it("sends a fresh request id with every request", function()
      local ids = { "echo-r1", "echo-r2", "echo-r3" }
      local res = assert(client:status_many(ids))
      local seen = {}
      for _, id in ipairs(ids) do
        local rid = res[id].payload.request.headers["x-request-id"]
        assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", rid)
        assert.is_nil(seen[rid])
        seen[rid] = true
      end
    end)
  end)

  describe("timing out", function()
    it("times out a hanging id without holding up the others", function()
      local landed = {}
      local res = assert(client:status_many({ "hang", "a", "status-404", "b" }, {
        timeout = 0.3,
        on_result = function(id) landed[#landed + 1] = id end,
      }))
      assert.are.equal("timeout", res.hang.kind)
      assert.are.equal("a", res.a.sessionId)
      assert.are.equal("b", res.b.sessionId)
      assert.are.equal("not_found", res["status-404"].kind)
      assert.are.equal("hang", landed[4], "the hanging id lands last")
      assert.is_true(idle(client))
    end)

    it("uses the client's timeout when no timeout is given", function()
      local c = new_client({ timeout = 0.3 })
      local res = assert(c:status_many({ "hang", "x" }))
      assert.are.equal("timeout", res.hang.kind)
      assert.are.equal("x", res.x.sessionId)
      c:close()
    end)
  end)

  describe("concurrency", function()
    it("at 1 runs the ids one by one, in order", function()
      local order = {}
      local ids = { "slow-150", "c1", "echo-c2", "status-404", "slow-50", "c3" }
      local res = assert(client:status_many(ids, {
        concurrency = 1,
        on_result = function(id) order[#order + 1] = id end,
      }))
      assert.are.same(ids, order)
      assert.are.equal(#ids, count(res))
      -- one request at a time needs one connection
      local c = new_client()
      local r2 = assert(c:status_many({ "echo-s1", "echo-s2", "echo-s3", "echo-s4" }, { concurrency = 1 }))
      local conn = r2["echo-s1"].payload.request.connection
      for i = 1, 4 do
        assert.are.equal(conn, r2["echo-s" .. i].payload.request.connection)
        assert.are.equal(i, r2["echo-s" .. i].payload.request.index)
      end
      c:close()
    end)

    it("streams results as they land, before the slow ones", function()
      local order = {}
      local res = assert(client:status_many({ "slow-600", "fast-1", "fast-2" }, {
        concurrency = 3,
        on_result = function(id, r, err)
          order[#order + 1] = id
          assert.is_table(r)
          assert.is_nil(err)
        end,
      }))
      assert.are.equal("slow-600", order[3])
      assert.are.equal(3, count(res))
    end)

    it("passes nil and the error to on_result for a failed id", function()
      local seen = {}
      client:status_many({ "status-404", "ok" }, {
        on_result = function(id, r, err) seen[id] = { r = r, err = err } end,
      })
      assert.is_nil(seen["status-404"].r)
      assert.are.equal("not_found", seen["status-404"].err.kind)
      assert.is_nil(seen.ok.err)
      assert.are.equal("ok", seen.ok.r.sessionId)
    end)

    it("never has more requests in flight than asked", function()
      -- every id needs its own connection while it runs, so the number of
      -- connections the server saw bounds how many ran at once
      local c = new_client()
      local ids = {}
      for i = 1, 30 do ids[i] = "echo-k" .. i end
      local res = assert(c:status_many(ids, { concurrency = 3 }))
      local conns = {}
      for _, id in ipairs(ids) do conns[res[id].payload.request.connection] = true end
      assert.is_true(count(conns) <= 3)
      c:close()
    end)
  end)

  describe("retries", function()
    local function retrying(extra)
      local opts = { retries = 2, retry_base = 0.01, retry_cap = 0.05 }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return new_client(opts)
    end

    it("retries a transient failure as status does", function()
      local c = retrying()
      local ok1, ok2, gone = "flaky-1-a" .. RUN, "flaky-2-b" .. RUN, "flaky-5-c" .. RUN
      local calls = 0
      local res = assert(c:status_many({ ok1, ok2, gone, "status-404", "z" }, {
        on_result = function() calls = calls + 1 end,
      }))
      assert.are.equal(5, calls)
      assert.are.equal(ok1, res[ok1].sessionId)
      assert.are.equal(ok2, res[ok2].sessionId)
      assert.are.equal("server", res[gone].kind)
      assert.are.equal(3, res[gone].attempts)        -- the first and two retries
      assert.are.equal(1, res["status-404"].attempts) -- not worth a retry
      assert.are.equal("z", res.z.sessionId)
      c:close()
    end)

    it("does not retry when retries is 0", function()
      local c = retrying({ retries = 0 })
      local flaky = "flaky-1-d" .. RUN
      local res = assert(c:status_many({ flaky }))
      assert.are.equal("server", res[flaky].kind)
      assert.are.equal(1, res[flaky].attempts)
      c:close()
    end)

    it("keeps the slot while an id waits (as on every host), and keeps to the id's time budget", function()
      -- 429 with Retry-After: 1 every time. Budget 1.5 s: one retry fits
      -- (at 1 s), the next would end past the budget, so two attempts.
      local c = retrying({ timeout = 1.5 })
      local order = {}
      local res = assert(c:status_many({ "retry-after-1", "next" }, {
        concurrency = 1,
        on_result = function(id) order[#order + 1] = id end,
      }))
      assert.are.same({ "retry-after-1", "next" }, order)
      assert.are.equal("rate_limited", res["retry-after-1"].kind)
      assert.are.equal(2, res["retry-after-1"].attempts)
      assert.are.equal(1, res["retry-after-1"].retry_after)
      assert.is_true(idle(c))
      c:close()
    end)

    it("does not retry when the server asks for a longer wait than max_retry_wait", function()
      local c = retrying({ max_retry_wait = 0.5 })
      local res = assert(c:status_many({ "retry-after-1" }))
      assert.are.equal(1, res["retry-after-1"].attempts)
      c:close()
    end)
  end)

  describe("an error raised in on_result", function()
    it("cancels what is in flight and is re-raised as it was", function()
      local boom = setmetatable({}, { __tostring = function() return "boom" end })
      local ok, e = pcall(client.status_many, client, { "hang", "slow-300", "first", "slow-200" }, {
        on_result = function(id) if id == "first" then error(boom) end end,
      })
      assert.is_false(ok)
      assert.are.equal(boom, e)
      assert.is_true(idle(client))
      -- and the client still works
      assert.are.equal("after", assert(client:status("after")).sessionId)
      assert.are.equal("after2", assert(client:status_many({ "after2" })).after2.sessionId)
    end)

    it("keeps a string error's message", function()
      local ok, e = pcall(client.status_many, client, { "x" }, {
        on_result = function() error("stop here") end,
      })
      assert.is_false(ok)
      assert.matches("stop here", e)
      assert.is_true(idle(client))
    end)
  end)

  describe("sharing the client", function()
    it("runs a status_many started from on_result, and finishes both", function()
      local inner
      local res = assert(client:status_many({ "o-1", "slow-200", "o-2" }, {
        on_result = function(id)
          if id == "o-1" then inner = assert(client:status_many({ "i-1", "slow-100", "i-2" })) end
        end,
      }))
      for _, id in ipairs({ "o-1", "slow-200", "o-2" }) do assert.are.equal(id, res[id].sessionId) end
      for _, id in ipairs({ "i-1", "slow-100", "i-2" }) do assert.are.equal(id, inner[id].sessionId) end
      assert.is_true(idle(client))
    end)

    it("leaves a non-blocking request of the same client to its owner", function()
      local req = assert(client:start("slow-50"))
      local res = assert(client:status_many({ "m-1", "slow-300", "m-2" }))
      assert.are.equal("slow-300", res["slow-300"].sessionId)
      assert.is_nil(res["slow-50"])
      local r = req:await(5)
      assert.are.equal("slow-50", r.sessionId)
      assert.is_true(idle(client))
    end)
  end)

  describe("a client closed while it runs", function()
    it("gives what was left 'client is closed', and returns", function()
      local c = new_client()
      local res = assert(c:status_many({ "first", "slow-300", "hang", "later-1", "later-2" }, {
        concurrency = 3,
        on_result = function(id) if id == "first" then c:close() end end,
      }))
      assert.are.equal("first", res.first.sessionId)
      for _, id in ipairs({ "slow-300", "hang", "later-1", "later-2" }) do
        assert.is_true(errors.is(res[id]), id)
        assert.are.equal("usage", res[id].kind)
        assert.matches("closed", res[id].message)
      end
    end)
  end)

  describe("arguments", function()
    it("raises when ids is not a table", function()
      assert.has_error(function() client:status_many("abc") end,
        "bad argument #1 to 'status_many' (table expected, got string)")
      assert.has_error(function() client:status_many(nil) end,
        "bad argument #1 to 'status_many' (table expected, got nil)")
    end)

    it("raises on an id that is not a string, before fetching anything", function()
      local called = false
      local ok, e = pcall(client.status_many, client, { "a", 5 }, {
        on_result = function() called = true end,
      })
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'status_many' %(ids%[2%] is a number, string expected%)", e)
      assert.is_false(called)
      assert.is_true(idle(client))
    end)

    it("gives an empty id the usage error status gives it", function()
      local res = assert(client:status_many({ "", "ok" }))
      local _, err = client:status("")
      assert.is_true(errors.is(res[""]))
      assert.are.equal("usage", res[""].kind)
      assert.are.equal(err.message, res[""].message)
      assert.are.equal("ok", res.ok.sessionId)
    end)

    it("returns nil and a usage error for bad options", function()
      local bad = {
        "nope",
        { concurrency = 0 },
        { concurrency = 1.5 },
        { concurrency = "8" },
        { concurrency = 0 / 0 },
        { concurrency = math.huge },
        { timeout = 0 },
        { timeout = -1 },
        { on_result = "print" },
        { concurency = 4 },
      }
      for _, opts in ipairs(bad) do
        local res, err = client:status_many({ "a" }, opts)
        assert.is_nil(res)
        assert.is_true(errors.is(err))
        assert.are.equal("usage", err.kind)
        assert.matches("^status_many: ", err.message)
      end
    end)

    it("gives every id 'client is closed' on a closed client", function()
      local c = new_client()
      c:close()
      local res = assert(c:status_many({ "a", "b" }))
      assert.are.equal("usage", res.a.kind)
      assert.matches("closed", res.a.message)
      assert.are.equal("usage", res.b.kind)
    end)
  end)

  describe("kadoa.status_many", function()
    it("uses the default client from the environment", function()
      local out = sub.lua([[
        local kadoa = require("kadoa")
        local res = assert(kadoa.status_many({ "e1", "status-404", "e1" }))
        io.write(res.e1.sessionId, " ", res["status-404"].kind)
      ]], { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url })
      assert.are.equal("e1 not_found", out)
    end)

    it("gives nil and the usage error without a key", function()
      local out = sub.lua([[
        local kadoa = require("kadoa")
        local res, err = kadoa.status_many({ "a" })
        io.write(tostring(res), " ", err.kind)
      ]], { KADOA_API_KEY = false })
      assert.are.equal("nil usage", out)
    end)
  end)
end)
