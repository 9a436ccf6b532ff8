-- Retries of the status call: the policy (kadoa.engine) on its own, then the
-- client's retry loop against the mock server with a fake clock and sleep,
-- so nothing here waits for real.
local retry = require("kadoa.engine")
local kadoa = require("kadoa")
local errors = require("kadoa.errors")
local mock = require("spec.helpers.mock")

local KEY = "test-key"

local function err(kind, status, fields)
  local f = fields or {}
  f.status = status
  return errors.new(kind, "test", f)
end

local function const(x) return function() return x end end

describe("kadoa.engine: the retry policy", function()
  describe("retryable", function()
    it("retries failures that may pass by themselves", function()
      assert.is_true(retry.retryable(err("network")))
      assert.is_true(retry.retryable(err("network", 200)))   -- cut off mid-body
      assert.is_true(retry.retryable(err("timeout")))
      for _, s in ipairs({ 429, 500, 502, 503, 504 }) do
        assert.is_true(retry.retryable(err(errors.kind_of_status(s), s)), "HTTP " .. s)
      end
    end)

    it("never retries what will fail the same way again", function()
      for _, s in ipairs({ 400, 401, 403, 404, 405, 409, 422, 501, 505, 302 }) do
        assert.is_false(retry.retryable(err(errors.kind_of_status(s), s)), "HTTP " .. s)
      end
      for _, k in ipairs({ "decode", "usage", "tls", "too_large", "crawl_failed", "auth" }) do
        assert.is_false(retry.retryable(err(k, 200)), k)
        assert.is_false(retry.retryable(err(k)), k)
      end
      assert.is_false(retry.retryable(nil))
      assert.is_false(retry.retryable("network"))
      assert.is_false(retry.retryable(err("server")))   -- a server error without a status
    end)
  end)

  describe("delay", function()
    local policy = { retry_base = 0.25, retry_cap = 8, max_retry_wait = 30 }

    it("doubles the window per attempt up to the cap, with full jitter", function()
      local top = const(1 - 2 ^ -20)
      local expect = { 0.25, 0.5, 1, 2, 4, 8, 8, 8 }
      for attempt, w in ipairs(expect) do
        local d = retry.delay(policy, attempt, err("network"), top)
        assert.is_true(d < w and d > w * 0.999, ("attempt %d: %s"):format(attempt, d))
        assert.are.equal(0, retry.delay(policy, attempt, err("network"), const(0)))
        assert.are.equal(w / 2, retry.delay(policy, attempt, err("network"), const(0.5)))
      end
    end)

    it("stays finite for absurd attempt numbers", function()
      assert.are.equal(4, retry.delay(policy, 1e6, err("network"), const(0.5)))
      assert.are.equal(4, retry.delay(policy, math.huge, err("network"), const(0.5)))
    end)

    it("uses the defaults for what the policy leaves out", function()
      assert.are.equal(0.125, retry.delay({}, 1, err("network"), const(0.5)))
      assert.are.equal(4, retry.delay({}, 10, err("network"), const(0.5)))
    end)

    it("treats a broken random source as the middle or the ends", function()
      for _, r in ipairs({ 0 / 0, "x", -1 }) do
        assert.are.equal(0, retry.delay(policy, 1, err("network"), const(r)))
      end
      assert.are.equal(0.25, retry.delay(policy, 1, err("network"), const(7)))
    end)

    it("waits at least what Retry-After asks", function()
      local e = err("rate_limited", 429, { retry_after = 3 })
      assert.are.equal(3, retry.delay(policy, 1, e, const(0.5)))
      e.retry_after = 0
      assert.are.equal(0.125, retry.delay(policy, 1, e, const(0.5)))
      e.retry_after = 0.1
      assert.are.equal(4, retry.delay(policy, 10, e, const(0.5)))   -- backoff is larger
    end)

    it("gives up when Retry-After is longer than max_retry_wait", function()
      local e = err("rate_limited", 429, { retry_after = 31 })
      assert.is_nil(retry.delay(policy, 1, e, const(0.5)))
      assert.are.equal(31, retry.delay({ max_retry_wait = 31 }, 1, e, const(0.5)))
    end)

    it("never waits longer than max_retry_wait", function()
      local p = { retry_base = 10, retry_cap = 100, max_retry_wait = 2 }
      assert.are.equal(2, retry.delay(p, 5, err("network"), const(0.9)))
      assert.are.equal(0, retry.delay({ max_retry_wait = 0 }, 5, err("network"), const(0.9)))
    end)

    it("ignores a Retry-After that is not a usable number", function()
      for _, v in ipairs({ -1, 0 / 0, math.huge, "5" }) do
        local e = err("rate_limited", 429, { retry_after = v })
        assert.are.equal(0.125, retry.delay(policy, 1, e, const(0.5)))
      end
    end)
  end)
end)

describe("client retries", function()
  local srv, tag

  setup(function() srv = mock.start({ key = KEY }) end)
  teardown(function() if srv then srv:stop() end end)

  local n = 0
  before_each(function()
    n = n + 1
    tag = ("%d-%d"):format(os.time(), n)
  end)

  -- A client whose clock only moves when it sleeps; every sleep and every
  -- attempt's timeout argument is recorded.
  local function client(opts)
    local t = { now = 100, sleeps = {}, timeouts = {} }
    local o = { api_key = KEY, base_url = srv.url, timeout = 20,
                clock = function() return t.now end,
                sleep = function(s) t.sleeps[#t.sleeps + 1] = s; t.now = t.now + s; return true end,
                random = const(0.5) }
    for k, v in pairs(opts or {}) do o[k] = v end
    local c = assert(kadoa.client(o))
    -- the transport, seen through a recorder of each attempt's timeout
    local real = c.transport
    c.transport = setmetatable({
      fetch = function(_, route, timeout, ...)
        t.timeouts[#t.timeouts + 1] = timeout or false
        return real:fetch(route, timeout, ...)
      end,
    }, { __index = function(_, k) return function(_, ...) return real[k](real, ...) end end })
    return c, t
  end

  it("503 twice then 200: one call succeeds on its third attempt", function()
    local c, t = client()
    local res, e = c:status("flaky-2-" .. tag)
    assert.is_nil(e)
    assert.is_true(res.payload.finished)
    assert.are.same({ 0.125, 0.25 }, t.sleeps)
    assert.are.equal(3, #t.timeouts)
    assert.is_false(t.timeouts[1])                      -- the first uses the client's own
    assert.is_true(t.timeouts[2] <= 20 - 0.125)
    assert.is_true(t.timeouts[3] <= 20 - 0.375)
  end)

  it("reports the attempts on the final error", function()
    local c, t = client({ retries = 1 })
    local res, e = c:status("flaky-2-" .. tag)
    assert.is_nil(res)
    assert.are.equal("server", e.kind)
    assert.are.equal(503, e.status)
    assert.are.equal(2, e.attempts)
    assert.are.equal(1, #t.sleeps)
    assert.matches("2 attempts", tostring(e), 1, true)
    -- the next call gets its own attempts: the third request of this id is a 200
    assert.is_table(c:status("flaky-2-" .. tag))
  end)

  it("status_json retries too", function()
    local c, t = client()
    local body = assert(c:status_json("flaky-1-" .. tag))
    assert.matches('"sessionId":"flaky%-1%-', body)
    assert.are.equal(1, #t.sleeps)
  end)

  it("retries = 0 turns it off", function()
    local c, t = client({ retries = 0 })
    local _, e = c:status("flaky-1-" .. tag)
    assert.are.equal("server", e.kind)
    assert.are.equal(1, e.attempts)
    assert.are.equal(0, #t.sleeps)
  end)

  it("does not retry what cannot succeed", function()
    local c, t = client()
    for _, id in ipairs({ "status-400", "status-401", "status-403", "status-404",
                          "invalid-json", "gzip-corrupt", "status-501", "redirect" }) do
      local _, e = c:status(id)
      assert.are.equal(1, e.attempts, id)
    end
    local bad = assert(kadoa.client({ api_key = "wrong", base_url = srv.url,
                                      sleep = function() error("must not sleep") end }))
    local _, e = bad:status("x")
    assert.are.equal("auth", e.kind)
    assert.are.equal(1, e.attempts)
    assert.are.equal(0, #t.sleeps)
  end)

  it("honours Retry-After in seconds and keeps it on the error", function()
    local c, t = client()
    local _, e = c:status("retry-after-1")
    assert.are.equal("rate_limited", e.kind)
    assert.are.equal(3, e.attempts)
    assert.are.equal(1, e.retry_after)
    assert.are.same({ 1, 1 }, t.sleeps)
  end)

  it("honours Retry-After as an HTTP-date", function()
    local c, t = client({ retries = 1 })
    local _, e = c:status("retry-after-date")
    assert.are.equal("rate_limited", e.kind)
    -- 2 to 3 s ahead when the mock writes it, read against time(2)'s whole
    -- seconds: a busy machine may see a second more (as in faults_spec)
    assert.is_true(e.retry_after >= 1 and e.retry_after <= 4, tostring(e.retry_after))
    assert.are.equal(1, #t.sleeps)
    assert.is_true(t.sleeps[1] >= 1 and t.sleeps[1] <= 4, tostring(t.sleeps[1]))
  end)

  it("does not retry when Retry-After is longer than max_retry_wait", function()
    local c, t = client({ max_retry_wait = 0.5 })
    local _, e = c:status("retry-after-1")
    assert.are.equal(1, e.attempts)
    assert.are.equal(1, e.retry_after)
    assert.are.equal(0, #t.sleeps)
  end)

  it("never sleeps past the client's timeout", function()
    local c, t = client({ timeout = 1.5 })
    local _, e = c:status("retry-after-1")
    -- 1 s wait fits in 1.5 s once; the second would end at 2 s: not started
    assert.are.equal(2, e.attempts)
    assert.are.same({ 1 }, t.sleeps)
    assert.is_true(t.timeouts[2] <= 0.5 and t.timeouts[2] > 0)
    local c2, t2 = client({ timeout = 1 })
    local _, e2 = c2:status("retry-after-1")
    assert.are.equal(1, e2.attempts)
    assert.are.equal(0, #t2.sleeps)
  end)

  it("gives every attempt only what is left of the budget", function()
    local c, t = client({ timeout = 10, retries = 5, retry_base = 1, retry_cap = 1, random = const(0.99) })
    local _, e = c:status("status-503")
    assert.are.equal(6, e.attempts)
    local slept = 0
    for i = 2, #t.timeouts do
      slept = slept + t.sleeps[i - 1]
      assert.is_true(t.timeouts[i] <= 10 - slept + 1e-9, ("attempt %d: %s"):format(i, t.timeouts[i]))
    end
  end)

  it("a timeout that used the whole budget is not retried", function()
    local c, t = client({ timeout = 0.3 })
    local _, e = c:status("hang")
    assert.are.equal("timeout", e.kind)
    assert.are.equal(1, e.attempts)
    assert.are.equal(0, #t.sleeps)
  end)

  it("retries a reset connection, then works on the next call", function()
    local c, t = client()
    local _, e = c:status("reset")
    assert.are.equal("network", e.kind)
    assert.are.equal(3, e.attempts)
    assert.are.equal(2, #t.sleeps)
    assert.is_table(c:status("after-reset"))
  end)

  it("stops when the sleep is interrupted", function()
    local calls = 0
    local c = client({ sleep = function() calls = calls + 1; return false, "interrupted" end })
    local _, e = c:status("status-503")
    assert.are.equal(1, e.attempts)
    assert.are.equal(1, calls)
  end)

  it("uses the real sleep and clock when none is injected", function()
    local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url, retry_base = 0.01,
                                    retry_cap = 0.01 }))
    local res = assert(c:status("flaky-2-" .. tag))
    assert.is_true(res.payload.finished)
  end)

  it("the one-shot kadoa.status retries too", function()
    local opts = { api_key = KEY, base_url = srv.url, retry_base = 0.01, retry_cap = 0.01 }
    assert.is_table(kadoa.status("flaky-1-" .. tag, opts))
    local _, e = kadoa.status("status-502", opts)
    assert.are.equal(3, e.attempts)
  end)

  it("checks the new options", function()
    local function usage_of(o)
      o.api_key = KEY
      local c, e = kadoa.client(o)
      assert.is_nil(c)
      assert.are.equal("usage", e.kind)
      return e.message
    end
    assert.matches("'retries'", usage_of({ retries = -1 }))
    assert.matches("'retries'", usage_of({ retries = 1.5 }))
    assert.matches("'retries'", usage_of({ retries = "2" }))
    assert.matches("'retries'", usage_of({ retries = 101 }))
    assert.matches("'retry_base'", usage_of({ retry_base = 0 }))
    assert.matches("'retry_cap'", usage_of({ retry_cap = 0 / 0 }))
    assert.matches("'max_retry_wait'", usage_of({ max_retry_wait = -1 }))
    assert.matches("'max_retry_wait'", usage_of({ max_retry_wait = math.huge }))
    assert.is_table(kadoa.client({ api_key = KEY, retries = 0, max_retry_wait = 0 }))
    assert.are.equal(2, kadoa.defaults.retries)
  end)
end)
