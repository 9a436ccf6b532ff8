-- kadoa.request: non-blocking requests (client:start) against the real
-- mock server, on whichever Lua busted runs.

local kadoa = require("kadoa")
local core = require("kadoa.core")
local mock = require("spec.helpers.mock")
local fixture = require("spec.helpers.fixture")

local KEY = "sk-test-req-81d2"

-- Drive every request until all are done (or `limit` seconds pass).
local function drive_all(client, reqs, limit)
  local deadline = core.monotime() + (limit or 5)
  while true do
    client:driver():step()
    local pending = false
    for _, r in ipairs(reqs) do
      if not r:done() then pending = true end
    end
    if not pending then return true end
    if core.monotime() > deadline then return false end
    client:driver():wait(50)
  end
end

-- The fields of an error that must not depend on how it was fetched.
local function error_fields(err)
  local rid = err.request_id
  -- the mock echoes the id the client sent, which is new on every request
  if type(rid) == "string" and rid:match("^%x+%-%x+%-4%x+%-%x+%-%x+$") then rid = "<fresh uuid>" end
  return {
    kind = err.kind, message = err.message, status = err.status,
    request_id = rid, retry_after = err.retry_after, details = err.details, attempts = err.attempts,
    meta = getmetatable(err) == kadoa.errors.Error,
  }
end

describe("kadoa.request", function()
  local fx = fixture.mock_client(KEY)
  local client
  local new_client = fx.new_client
  setup(function() client = select(2, fx.start()) end)
  teardown(fx.stop)

  it("polls as nothing while in flight, then as the status table", function()
    local req = assert(client:start("slow-300"))
    local n = select("#", req:poll())
    assert.are.equal(0, n)
    assert.is_false(req:done())
    local res, err = req:await(5)
    assert.is_nil(err)
    assert.are.equal("slow-300", res.sessionId)
    assert.are.equal(14, res.payload.crawledPages)
    assert.is_true(req:done())
  end)

  it("gives the same result to every poll after completion", function()
    local req = assert(client:start("sess-again"))
    local first = assert(req:await(5))
    for _ = 1, 3 do
      local again, err = req:poll()
      assert.is_nil(err)
      assert.are.equal(first, again)
    end
    local failed = assert(client:start("status-404"))
    local _, e1 = failed:await(5)
    local r2, e2 = failed:poll()
    assert.is_nil(r2)
    assert.are.equal(e1, e2)
    assert.are.equal("not_found", e2.kind)
  end)

  it("runs several requests at once on one client, in about the time of one", function()
    local t0 = core.monotime()
    local reqs = {}
    for i = 0, 7 do reqs[#reqs + 1] = assert(client:start("slow-" .. (500 + i))) end
    assert.is_true(drive_all(client, reqs, 5))
    local elapsed = core.monotime() - t0
    for i, req in ipairs(reqs) do
      local res, err = req:poll()
      assert.is_nil(err)
      assert.are.equal("slow-" .. (500 + i - 1), res.sessionId)
    end
    -- eight 0.5 s calls one after another would take 4 s
    assert.is_true(elapsed < 1.2, ("8 concurrent 0.5 s requests took %.3f s"):format(elapsed))
  end)

  it("never blocks in poll, perform or timeout", function()
    -- a server that never answers: a call that blocked would wait out the
    -- 30 s budget and come back done; twenty that do not leave it running
    local req = assert(client:start("hang", { timeout = 30 }))
    for _ = 1, 20 do
      assert.is_nil(req:poll())
      client:driver():step()
      assert.is_number(req:timeout())
      core.sleep(0.005)
    end
    assert.is_false(req:done())
    req:cancel()
  end)

  describe("cancel", function()
    it("stops a request in flight and frees its transfer", function()
      local req = assert(client:start("hang"))
      client:driver():step()
      req:cancel()
      assert.is_true(req:done())
      local res, err = req:poll()
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.matches("cancelled", err.message)
      req:cancel()      -- idempotent
      assert.are.equal(err, select(2, req:poll()))
      assert.are.equal(0, client:driver():step())
      -- the client is still good for more
      assert.truthy(assert(client:start("after-cancel")):await(5))
    end)

    it("keeps the result of a request that had finished", function()
      local req = assert(client:start("done-then-cancel"))
      local res = assert(req:await(5))
      req:cancel()
      assert.are.equal(res, req:poll())
    end)

    it("happens when a request is dropped and collected", function()
      local c = new_client()
      for _ = 1, 4 do
        local req = assert(c:start("hang"))
        req:poll()
      end
      assert.are.equal(4, c:driver():step())
      collectgarbage()
      collectgarbage()
      assert.are.equal(0, c:driver():step())
      assert.are.equal("sess-after-gc", assert(c:start("sess-after-gc"):await(5)).sessionId)
      c:close()
    end)

    if _VERSION == "Lua 5.4" then
      it("happens when a to-be-closed request goes out of scope", function()
        local c = new_client()
        local chunk = assert(load([[
          local c = ...
          do local req <close> = assert(c:start("hang")); req:poll() end
        ]]))
        chunk(c)
        assert.are.equal(0, c:driver():step())
        c:close()
      end)
    end
  end)

  it("reports 'client is closed' when the client closes mid-flight", function()
    local c = new_client()
    local reqs = { assert(c:start("hang")), assert(c:start("slow-2000")) }
    c:driver():step()
    c:close()
    for _, req in ipairs(reqs) do
      assert.is_true(req:done())
      local res, err = req:poll()
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.matches("client is closed", err.message)
    end
    local res, err = c:start("after-close")
    assert.is_nil(res)
    assert.are.equal("usage", err.kind)
  end)

  describe("gives the same answers as status", function()
    local ids = {
      "types", "nulls", "failed", "status-404", "status-500", "status-400", "old-shape-401",
      "html-502", "text-503", "empty-404", "retry-after-7", "request-id", "amzn-request-id",
      "leak-key", "redirect", "invalid-json", "json-array", "empty-200", "gzip",
      "gzip-corrupt", "truncated", "reset", "chunked-cut", "huge-300000",
    }
    for _, id in ipairs(ids) do
      it(id, function()
        local c = new_client({ max_body = 200000, retries = 0 })
        local res1, err1 = c:status(id)
        local res2, err2 = assert(c:start(id)):await(5)
        if res1 then
          assert.are.same(res1, res2)
          assert.is_nil(err2)
        else
          assert.is_nil(res2)
          assert.are.same(error_fields(err1), error_fields(err2))
          assert.is_nil(tostring(err2):find(KEY, 1, true))
        end
        c:close()
      end)
    end

    it("after the same retries", function()
      local c = new_client({ retry_base = 0.05, retry_cap = 0.1 })
      local tag = tostring(os.time()) .. tostring(math.random(1e6))
      -- two 503s, then the answer
      local res = assert(assert(c:start("flaky-2-a" .. tag)):await(5))
      assert.are.equal("flaky-2-a" .. tag, res.sessionId)
      -- more 503s than the client retries: the last error, with its attempts
      local _, err1 = c:status("flaky-9-b" .. tag)
      local req = assert(c:start("flaky-9-c" .. tag))
      local seen_wait = false
      while not req:done() do
        req:poll()
        if tostring(req):find("waiting to retry", 1, true) then
          seen_wait = true
          local ms = req:timeout()
          assert.is_true(ms >= 0 and ms <= 100, "retry due in " .. ms .. " ms")
        end
        core.sleep(0.002)
      end
      local _, err2 = req:poll()
      assert.is_true(seen_wait)
      assert.are.equal(3, err2.attempts)
      assert.are.same(error_fields(err1), error_fields(err2))
      -- Retry-After is honoured as a floor
      local t0 = core.monotime()
      local _, err3 = assert(c:start("retry-after-1", { retries = 1 })):await(5)
      assert.are.equal(2, err3.attempts)
      assert.is_true(core.monotime() - t0 >= 0.95)
      -- and retries = 0 turns them off
      local _, err4 = assert(c:start("flaky-9-d" .. tag, { retries = 0 })):await(5)
      assert.are.equal(1, err4.attempts)
      -- a retry never starts past the request's timeout
      t0 = core.monotime()
      local _, err5 = assert(c:start("retry-after-1", { timeout = 0.5 })):await(5)
      assert.are.equal(1, err5.attempts)
      assert.is_true(core.monotime() - t0 < 0.4)
      c:close()
    end)

    it("raw, as status_json", function()
      local body = assert(client:status_json("types"))
      assert.are.equal(body, assert(client:start("types", { raw = true })):await(5))
    end)

    it("timeout, per client and per request", function()
      local c = new_client({ timeout = 0.3, retries = 0 })
      local t0 = core.monotime()
      local _, err = assert(c:start("hang")):await(5)
      assert.are.equal("timeout", err.kind)
      assert.is_true(core.monotime() - t0 < 2)
      local _, err2 = c:status("hang")
      assert.are.same(error_fields(err2).kind, error_fields(err).kind)
      t0 = core.monotime()
      local _, err3 = assert(client:start("hang", { timeout = 0.2 })):await(5)
      assert.are.equal("timeout", err3.kind)
      assert.is_true(core.monotime() - t0 < 1.5)
      c:close()
    end)

    it("network, to a closed port", function()
      local c = new_client({ base_url = "http://127.0.0.1:" .. mock.closed_port(), retry_base = 0.01 })
      local _, err1 = c:status("x")
      local _, err2 = assert(c:start("x")):await(5)
      assert.are.equal("network", err1.kind)
      assert.are.equal("network", err2.kind)
      assert.are.equal(err1.attempts, err2.attempts)
      c:close()
    end)

    it("auth, with the wrong key", function()
      local c = new_client({ api_key = "wrong" })
      local _, err = assert(c:start("x")):await(5)
      assert.are.equal("auth", err.kind)
      assert.are.equal(401, err.status)
      c:close()
    end)
  end)

  describe("usage", function()
    it("raises on a session id that is not a string", function()
      assert.has_error(function() client:start(42) end,
        "bad argument #1 to 'start' (string expected, got number)")
    end)

    it("returns usage errors for what cannot start", function()
      local res, err = client:start("")
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      res, err = client:start("x", { nope = 1 })
      assert.is_nil(res)
      assert.matches("unknown option 'nope'", err.message)
      res, err = client:start("x", { timeout = -1 })
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      res, err = client:start("x", "fast")
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
    end)

    it("await gives up after its own time, leaving the request running", function()
      local req = assert(client:start("slow-600"))
      local t0 = core.monotime()
      assert.are.equal(0, select("#", req:await(0.1)))
      assert.is_true(core.monotime() - t0 < 0.5)
      assert.is_false(req:done())
      assert.truthy(req:await(5))
    end)

    it("prints its state", function()
      local req = assert(client:start("slow-200"))
      assert.matches("running", tostring(req))
      req:await(5)
      assert.matches("done", tostring(req))
    end)
  end)
end)
