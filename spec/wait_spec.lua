-- kadoa.wait: the polling schedule, asserted exactly with a fake client,
-- a fake clock whose time moves only when the waiter sleeps, and a
-- scripted random source.

local errors = require("kadoa.errors")
local wait = require("kadoa.wait").wait
local unpack = table.unpack or unpack

local function near(expected, actual, what)
  assert(type(actual) == "number" and math.abs(expected - actual) < 1e-9,
    string.format("%s: expected %.12g, got %s", what or "value", expected, tostring(actual)))
end

local function sum(list)
  local s = 0
  for _, v in ipairs(list) do s = s + v end
  return s
end

-- Script steps: each is a function(world) -> res | nil, err.
local function ok(pages, active, waiting, finished)
  return function()
    return {
      sessionId = "s1",
      payload = { crawledPages = pages, activeJobs = active, waitingJobs = waiting, finished = finished },
    }
  end
end

-- A failing poll, shaped like the client's: server and rate_limited
-- errors carry the HTTP status they come from (503 and 429 unless given).
local DEFAULT_STATUS = { server = 503, rate_limited = 429 }
local function fail(kind, fields)
  local f = { status = DEFAULT_STATUS[kind] }
  for k, v in pairs(fields or {}) do f[k] = v end
  return function() return nil, errors.new(kind, kind .. " failure", f) end
end

local function raw(res) return function() return res end end

local function rep(step, n)
  local list = {}
  for i = 1, n do list[i] = step end
  return list
end

local function cat(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, step in ipairs(list) do out[#out + 1] = step end
  end
  return out
end

-- A world: fake clock and sleep, a random source giving j = 0, and a
-- client that plays the script (its last step repeats forever).
local function world(script, opts)
  local w = { t = 0, sleeps = {}, polls = 0, returned = {}, ids = {}, updates = {}, failures = {} }
  w.client = { settings = opts and opts.client_timeout and { timeout = opts.client_timeout } }
  w.call_opts, w.call_retries = {}, {}
  function w.client.status(_, id, call_opts)
    w.polls = w.polls + 1
    w.ids[#w.ids + 1] = id
    w.call_opts[w.polls] = call_opts.timeout
    w.call_retries[w.polls] = call_opts.retries
    local step = script[math.min(w.polls, #script)]
    local res, err = step(w)
    w.returned[w.polls] = res or err
    return res, err
  end
  opts = opts or {}
  opts.client_timeout = nil
  if opts.clock == nil then opts.clock = function() return w.t end end
  if opts.sleep == nil then
    opts.sleep = function(s)
      w.sleeps[#w.sleeps + 1] = s
      w.t = w.t + s
    end
  end
  if opts.random == nil then opts.random = function() return 0.5 end end
  w.opts = opts
  function w.run(id) return wait(w.client, id or "s1", opts) end
  return w
end

describe("kadoa.wait", function()
  describe("each poll's own time", function()
    it("asks a client with a timeout for no more than is left, but at least 5 s", function()
      -- client timeout 30: far from the deadline the client's own applies,
      -- near it the call gets what is left, never under 5 s
      local w = world({ ok(1), ok(2), ok(3), ok(4), ok(5, 0, 0, true) },
        { client_timeout = 30, timeout = 40, interval = 10, factor = 1 })
      local res = w.run()
      assert.is_table(res)
      -- polls at 0, 10, 20, 30 and (the last chance) 40 s
      assert.are.same({ 30, 30, 20, 10, 5 }, { unpack(w.call_opts, 1, 5) })
    end)

    it("makes each poll one request: no retries inside a poll, whatever the client", function()
      local w = world({ ok(1), ok(2, 0, 0, true) }, { timeout = 3 })
      w.run()
      assert.are.same({ 5, 5 }, w.call_opts)       -- a foreign client: 30 s, cut to what is left
      assert.are.same({ 0, 0 }, w.call_retries)
    end)
  end)

  describe("finishing", function()
    it("returns the final table at once when the first poll says finished", function()
      local w = world({ ok(14, 0, 0, true) })
      local res, err = w.run("abc")
      assert.is_nil(err)
      assert.are.equal(w.returned[1], res)
      assert.are.same({}, w.sleeps)
      assert.are.same({ "abc" }, w.ids)
    end)

    it("polls until payload.finished is true", function()
      local w = world({ ok(1), ok(2), ok(3, 0, 0, true) })
      local res = w.run()
      assert.are.equal(w.returned[3], res)
      assert.are.equal(3, w.polls)
      assert.are.same({ 2, 2 }, w.sleeps)
    end)

    it("keeps polling when the payload is missing or not a table", function()
      local w = world({ raw({ sessionId = "s1" }), raw({ payload = "weird" }), raw({ payload = 42 }),
        ok(1, 0, 0, true) })
      local res = w.run()
      assert.are.equal(w.returned[4], res)
      assert.are.same({ 2, 3, 4.5 }, w.sleeps)
    end)

    it("takes only finished == true as the end", function()
      local w = world({ ok(1, 0, 0, "true"), ok(1, 0, 0, 1), ok(1, 0, 0, false), ok(1, 0, 0, true) })
      local res = w.run()
      assert.are.equal(w.returned[4], res)
      assert.are.equal(4, w.polls)
    end)

    it("does not take a null, false or absent error as a failure", function()
      local null = require("cjson.safe").null
      local w = world({ raw({ error = null, payload = {} }), raw({ error = false, payload = {} }),
        raw({ payload = { finished = true } }) })
      local res, err = w.run()
      assert.is_nil(err)
      assert.are.equal(w.returned[3], res)
    end)
  end)

  describe("schedule", function()
    it("grows the interval by the factor while nothing moves, up to max_interval", function()
      local w = world(cat(rep(ok(5, 1, 1), 10), { ok(5, 1, 1, true) }))
      assert.is_table(w.run())
      assert.are.same({ 2, 3, 4.5, 6.75, 10.125, 15.1875, 22.78125, 30, 30, 30 }, w.sleeps)
    end)

    it("drops back to the start as soon as the numbers move", function()
      local w = world({ ok(0), ok(0), ok(0), ok(5), ok(5), ok(5), ok(9), ok(9, 0, 0, true) })
      assert.is_table(w.run())
      assert.are.same({ 2, 3, 4.5, 2, 3, 4.5, 2 }, w.sleeps)
    end)

    it("counts crawledPages, activeJobs, waitingJobs and finished as the numbers", function()
      local w = world({
        ok(1, 1, 1), ok(1, 1, 1), -- 2, then 3 (no change)
        ok(1, 2, 1),              -- active moved: 2
        ok(1, 2, 1),              -- 3
        ok(1, 2, 3),              -- waiting moved: 2
        ok(1, 2, 3, false),       -- finished moved from nil to false: 2
        raw({ payload = { crawledPages = 1, activeJobs = 2, waitingJobs = 3, finished = false, other = 9 } }),
        ok(1, 2, 3, true),
      })
      assert.is_table(w.run())
      assert.are.same({ 2, 3, 2, 3, 2, 2, 3 }, w.sleeps)
    end)

    it("uses interval, factor and max_interval from opts", function()
      local w = world(cat(rep(ok(1), 6), { ok(1, 0, 0, true) }),
        { interval = 1, factor = 2, max_interval = 5 })
      assert.is_table(w.run())
      assert.are.same({ 1, 2, 4, 5, 5, 5 }, w.sleeps)
    end)

    it("starts at max_interval when interval is above it", function()
      local w = world(cat(rep(ok(1), 3), { ok(1, 0, 0, true) }), { interval = 10, max_interval = 4 })
      assert.is_table(w.run())
      assert.are.same({ 4, 4, 4 }, w.sleeps)
    end)

    it("keeps a fixed interval with factor 1", function()
      local w = world(cat(rep(ok(1), 4), { ok(1, 0, 0, true) }), { factor = 1, interval = 7 })
      assert.is_table(w.run())
      assert.are.same({ 7, 7, 7, 7 }, w.sleeps)
    end)
  end)

  describe("jitter", function()
    it("gives interval * (1 - jitter) for random 0", function()
      local w = world({ ok(1), ok(1, 0, 0, true) }, { random = function() return 0 end })
      assert.is_table(w.run())
      near(1.8, w.sleeps[1], "sleep")
    end)

    it("gives just under interval * (1 + jitter) for random 0.999", function()
      local w = world({ ok(1), ok(1, 0, 0, true) }, { random = function() return 0.999 end })
      assert.is_table(w.run())
      near(2 * (1 + 0.998 * 0.1), w.sleeps[1], "sleep")
      assert.is_true(w.sleeps[1] < 2.2)
    end)

    it("stays within the bounds for a whole schedule, also at max_interval", function()
      local values, n = { 0, 0.999, 0.25, 0.75, 0.5 }, 0
      local w = world(cat(rep(ok(1), 14), { ok(1, 0, 0, true) }), {
        random = function()
          n = n + 1
          return values[(n - 1) % #values + 1]
        end,
      })
      assert.is_table(w.run())
      local bases = { 2, 3, 4.5, 6.75, 10.125, 15.1875, 22.78125, 30, 30, 30, 30, 30, 30, 30 }
      assert.are.equal(#bases, #w.sleeps)
      for i, base in ipairs(bases) do
        local s = w.sleeps[i]
        assert.is_true(s >= base * 0.9 - 1e-9 and s < base * 1.1, "sleep " .. i .. " = " .. s)
        assert.is_true(s <= 30 * 1.1)
      end
      near(30 * 0.9, w.sleeps[11], "random 0 at the cap")
      near(30 * 1.0998, w.sleeps[12], "random 0.999 at the cap")
    end)

    it("honours a custom jitter", function()
      local w = world({ ok(1), ok(1, 0, 0, true) }, { jitter = 0.5, random = function() return 0 end })
      assert.is_table(w.run())
      near(1, w.sleeps[1], "sleep")
    end)

    it("does not call random when jitter is 0", function()
      local w = world({ ok(1), ok(1), ok(1, 0, 0, true) }, {
        jitter = 0,
        random = function() error("random called") end,
      })
      assert.is_table(w.run())
      assert.are.same({ 2, 3 }, w.sleeps)
    end)

    it("clamps a random source that strays outside [0, 1)", function()
      local w = world({ ok(1), ok(1), ok(1, 0, 0, true) }, {
        random = (function()
          local n = 0
          return function()
            n = n + 1
            return n == 1 and 7 or -3
          end
        end)(),
      })
      assert.is_table(w.run())
      near(2.2, w.sleeps[1], "sleep 1")
      near(2.7, w.sleeps[2], "sleep 2")
    end)

    it("has a random source of its own by default, different on every wait", function()
      local runs = {}
      for r = 1, 2 do
        local w = world(cat(rep(ok(1), 20), { ok(1, 0, 0, true) }), { max_interval = 2 })
        w.opts.random = nil
        assert.is_table(w.run())
        local distinct = {}
        for _, s in ipairs(w.sleeps) do
          assert.is_true(s >= 1.8 - 1e-9 and s < 2.2)
          distinct[s] = true
        end
        assert.is_not_nil(next(distinct, next(distinct)), "all 20 sleeps were equal")
        runs[r] = w.sleeps
      end
      assert.are_not.same(runs[1], runs[2])
    end)
  end)

  describe("timeout", function()
    it("sleeps only up to the deadline, polls once more, then gives up with the last table", function()
      local w = world({ ok(3, 1, 1) }, { timeout = 12 })
      local res, err = w.run()
      assert.is_nil(res)
      assert.are.equal("timeout", err.kind)
      assert.are.equal("crawl not finished after 12.0 s", err.message)
      assert.are.equal(w.returned[5], err.result)
      assert.are.equal("deadline", err.gave_up)
      assert.are.equal(5, err.polls)
      assert.are.equal(12, err.elapsed)
      assert.are.same({ 2, 3, 4.5, 2.5 }, w.sleeps)
      assert.are.equal(12, w.t)
      assert.is_true(errors.is(err))
    end)

    it("returns the result when the last-chance poll finishes", function()
      local w = world({ ok(1), ok(1), ok(1), ok(1), ok(1, 0, 0, true) }, { timeout = 12 })
      local res = w.run()
      assert.are.equal(w.returned[5], res)
      assert.are.same({ 2, 3, 4.5, 2.5 }, w.sleeps)
    end)

    it("never sleeps past the deadline, even at the top of the jitter", function()
      local w = world({ ok(1) }, { timeout = 20, random = function() return 0.999 end })
      local _, err = w.run()
      assert.are.equal("timeout", err.kind)
      near(20, w.t, "clock at the end")
      for i, s in ipairs(w.sleeps) do assert.is_true(s > 0, "sleep " .. i) end
      assert.are.equal(#w.sleeps + 1, w.polls)
    end)

    it("polls once and gives up at timeout 0", function()
      local w = world({ ok(1) }, { timeout = 0 })
      local res, err = w.run()
      assert.is_nil(res)
      assert.are.equal("timeout", err.kind)
      assert.are.equal("crawl not finished after 0.0 s", err.message)
      assert.are.equal(w.returned[1], err.result)
      assert.are.same({}, w.sleeps)
      assert.are.equal(1, w.polls)
    end)

    it("gives up without another poll when a slow answer ran past the deadline", function()
      local w = world({ function(world_)
        world_.t = world_.t + 10
        return { payload = { crawledPages = 1 } }
      end }, { timeout = 15 })
      local _, err = w.run()
      assert.are.equal("timeout", err.kind)
      assert.are.equal("crawl not finished after 22.0 s", err.message)
      assert.are.equal(2, w.polls)
      assert.are.same({ 2 }, w.sleeps)
    end)

    it("defaults to 3600 s with the default schedule", function()
      local w = world({ ok(1) })
      local _, err = w.run()
      assert.are.equal("timeout", err.kind)
      assert.are.equal("crawl not finished after 3600.0 s", err.message)
      near(3600, w.t, "clock")
      near(3600, sum(w.sleeps), "sum of sleeps")
      assert.are.equal(125, #w.sleeps)
      assert.are.equal(126, w.polls)
      near(3600 - 64.34375 - 117 * 30, w.sleeps[125], "the clipped last sleep")
      for _, s in ipairs(w.sleeps) do assert.is_true(s <= 30) end
    end)

    it("reports a transient failure on the last chance as a timeout with its cause", function()
      local w = world({ ok(1), ok(1), fail("server") }, { timeout = 4 })
      local _, err = w.run()
      assert.are.equal("timeout", err.kind)
      assert.are.equal(w.returned[2], err.result)
      assert.are.equal(w.returned[3], err.cause)
      assert.are.same({ 2, 2 }, w.sleeps)
    end)

    it("has no result when no poll ever succeeded", function()
      local w = world({ fail("network") }, { timeout = 10, max_failures = math.huge })
      local _, err = w.run()
      assert.are.equal("timeout", err.kind)
      assert.is_nil(err.result)
      assert.are.equal(w.returned[w.polls], err.cause)
      assert.are.same({ 3, 4.5, 2.5 }, w.sleeps)
    end)

    it("waits forever with timeout = math.huge until the crawl ends", function()
      local w = world(cat(rep(ok(1), 200), { ok(1, 0, 0, true) }), { timeout = math.huge })
      assert.is_table(w.run())
      assert.are.equal(201, w.polls)
    end)
  end)

  describe("failures", function()
    it("gives up after 5 transient failures in a row with the last error", function()
      local w = world({ ok(1), fail("network") })
      local res, err = w.run()
      assert.is_nil(res)
      assert.are.equal(w.returned[6], err)
      assert.are.equal("network", err.kind)
      assert.are.equal(5, err.failures)
      assert.are.equal("failures", err.gave_up)
      assert.are.equal(w.returned[1], err.result)
      assert.are.same({ 2, 3, 4.5, 6.75, 10.125 }, w.sleeps)
    end)

    it("has no result when every poll failed", function()
      local w = world({ fail("server") })
      local _, err = w.run()
      assert.are.equal("server", err.kind)
      assert.is_nil(err.result)
      assert.are.equal(5, w.polls)
      assert.are.same({ 3, 4.5, 6.75, 10.125 }, w.sleeps)
    end)

    it("goes on after 4 failures and a success, which resets the count", function()
      local w = world(cat({ ok(1) }, rep(fail("timeout"), 4), { ok(2) }, rep(fail("network"), 4),
        { ok(3, 0, 0, true) }))
      local res, err = w.run()
      assert.is_nil(err)
      assert.are.equal(w.returned[11], res)
      assert.are.same({ 2, 3, 4.5, 6.75, 10.125, 2, 3, 4.5, 6.75, 10.125 }, w.sleeps)
    end)

    it("keeps growing when the success after a failure brings no change", function()
      local w = world({ ok(1), fail("network"), ok(1), ok(1, 0, 0, true) })
      assert.is_table(w.run())
      assert.are.same({ 2, 3, 4.5 }, w.sleeps)
    end)

    for _, kind in ipairs({ "network", "timeout", "server", "rate_limited" }) do
      it("retries a " .. kind .. " failure", function()
        local w = world({ fail(kind), ok(1, 0, 0, true) })
        local res, err = w.run()
        assert.is_nil(err)
        assert.are.equal(w.returned[2], res)
        assert.are.same({ 3 }, w.sleeps)
      end)
    end

    local fatal = { "auth", "not_found", "bad_request", "usage", "http", "tls", "decode", "too_large" }
    for _, kind in ipairs(fatal) do
      it("ends at once on a " .. kind .. " failure, returning it as is", function()
        local w = world({ ok(1), fail(kind, { status = 400 }), ok(1, 0, 0, true) })
        local res, err = w.run()
        assert.is_nil(res)
        assert.are.equal(w.returned[2], err)
        assert.are.equal(kind, err.kind)
        assert.is_nil(err.result)
        assert.is_nil(err.failures)
        assert.are.same({ 2 }, w.sleeps)
      end)
    end

    it("never repeats the client's key in a crawl's error", function()
      local client = { status = function(_, id)
        return { sessionId = id, error = "bad key sk-secret-123 here" }
      end, redact = function(_, s) return (s:gsub("sk%-secret%-123", "[redacted]")) end }
      local _, err = wait(client, "x", { sleep = function() end, clock = function() return 0 end })
      assert.are.equal("crawl_failed", err.kind)
      assert.are.equal("bad key [redacted] here", err.message)
    end)

    it("ends at once on a server error that retrying cannot fix (501)", function()
      local w = world({ ok(1), fail("server", { status = 501 }), ok(1, 0, 0, true) })
      local _, err = w.run()
      assert.are.equal("server", err.kind)
      assert.are.equal(501, err.status)
      assert.are.same({ 2 }, w.sleeps)
    end)

    it("ends at once on a fatal failure that follows transient ones", function()
      local w = world({ fail("network"), fail("auth") })
      local _, err = w.run()
      assert.are.equal("auth", err.kind)
      assert.are.equal(2, w.polls)
      assert.are.same({ 3 }, w.sleeps)
    end)

    it("makes no sleep at all when the first poll is fatal", function()
      local w = world({ fail("not_found", { status = 404 }) })
      local _, err = w.run()
      assert.are.equal("not_found", err.kind)
      assert.are.same({}, w.sleeps)
    end)

    it("gives up at the first failure with max_failures = 1", function()
      local w = world({ ok(1), fail("network") }, { max_failures = 1 })
      local _, err = w.run()
      assert.are.equal("network", err.kind)
      assert.are.equal(1, err.failures)
      assert.are.same({ 2 }, w.sleeps)
    end)

    it("treats a client failing without an error value as a usage error", function()
      local w = world({ function() return nil, "boom" end })
      local _, err = w.run()
      assert.are.equal("usage", err.kind)
      assert.matches("boom", err.message, 1, true)
      assert.are.equal(1, w.polls)
    end)

    it("treats a status that is not a table as a decode error", function()
      local w = world({ raw("a string") })
      local _, err = w.run()
      assert.are.equal("decode", err.kind)
      assert.are.equal(1, w.polls)
    end)

    it("calls on_error with the error and info for each transient failure", function()
      local seen = {}
      local script = { ok(7), fail("server"), fail("rate_limited", { retry_after = 9 }), ok(7, 0, 0, true) }
      local w = world(script, {
        on_error = function(err, info) seen[#seen + 1] = { err = err, info = info } end,
      })
      assert.is_table(w.run())
      assert.are.equal(2, #seen)
      assert.are.equal(w.returned[2], seen[1].err)
      assert.are.same({ poll = 2, elapsed = 2, pages = 7, delta = 0, changed = false, interval = 3,
        failures = 1 }, seen[1].info)
      assert.are.equal(w.returned[3], seen[2].err)
      assert.are.same({ poll = 3, elapsed = 5, pages = 7, delta = 0, changed = false,
        interval = 4.5, failures = 2, retry_after = 9 }, seen[2].info)
      assert.are.same({ 2, 3, 9 }, w.sleeps)
    end)
  end)

  describe("retry_after", function()
    it("sleeps as long as the server asks when that is longer than the backoff", function()
      local w = world({ fail("rate_limited", { retry_after = 20 }), ok(1, 0, 0, true) })
      assert.is_table(w.run())
      assert.are.same({ 20 }, w.sleeps)
    end)

    it("keeps the backoff when retry_after is shorter", function()
      local w = world({ fail("rate_limited", { retry_after = 1 }), ok(1, 0, 0, true) })
      assert.is_table(w.run())
      assert.are.same({ 3 }, w.sleeps)
    end)

    it("is honoured above max_interval", function()
      local w = world({ fail("server", { retry_after = 100 }), ok(1, 0, 0, true) })
      assert.is_table(w.run())
      assert.are.same({ 100 }, w.sleeps)
    end)

    it("stops at the deadline, polls once more and times out", function()
      local w = world({ fail("rate_limited", { retry_after = 100 }), ok(1) }, { timeout = 50 })
      local _, err = w.run()
      assert.are.equal("timeout", err.kind)
      assert.are.same({ 50 }, w.sleeps)
      assert.are.equal(2, w.polls)
      assert.are.equal(w.returned[2], err.result)
    end)

    it("is not shortened by jitter", function()
      local w = world({ fail("rate_limited", { retry_after = 20 }), ok(1, 0, 0, true) },
        { random = function() return 0 end })
      assert.is_table(w.run())
      assert.are.same({ 20 }, w.sleeps)
    end)

    it("gives way to a jittered backoff that is longer", function()
      local w = world({ fail("rate_limited", { retry_after = 3 }), ok(1, 0, 0, true) },
        { random = function() return 0.999 end })
      assert.is_table(w.run())
      near(3 * 1.0998, w.sleeps[1], "sleep")
    end)

    it("does not raise the interval that follows", function()
      local w = world({ ok(1), fail("rate_limited", { retry_after = 25 }), ok(1), ok(1, 0, 0, true) })
      assert.is_table(w.run())
      assert.are.same({ 2, 25, 4.5 }, w.sleeps)
    end)

    it("ignores a retry_after that is not a positive number", function()
      local w = world({ fail("rate_limited", { retry_after = "60" }), fail("server", { retry_after = -5 }),
        ok(1, 0, 0, true) })
      assert.is_table(w.run())
      assert.are.same({ 3, 4.5 }, w.sleeps)
    end)
  end)

  describe("crawl failed", function()
    it("returns crawl_failed with the error and the last table", function()
      local failed = { sessionId = "s1", error = "Proxy blocked", payload = { crawledPages = 2 } }
      local w = world({ ok(1), raw(failed) })
      local res, err = w.run()
      assert.is_nil(res)
      assert.are.equal("crawl_failed", err.kind)
      assert.are.equal("Proxy blocked", err.message)
      assert.are.equal(w.returned[2], err.result)
      assert.is_true(errors.is(err))
      assert.are.same({ 2 }, w.sleeps)
    end)

    it("turns an error that is not a string into text", function()
      local w = world({ raw({ error = 42 }) })
      local _, err = w.run()
      assert.are.equal("crawl_failed", err.kind)
      assert.are.equal("42", err.message)

      w = world({ raw({ error = { code = "E1" } }) })
      _, err = w.run()
      assert.are.equal("crawl_failed", err.kind)
      assert.are.equal('{"code":"E1"}', err.message)

      w = world({ raw({ error = true }) })
      _, err = w.run()
      assert.are.equal("true", err.message)
    end)

    it("wins over finished", function()
      local w = world({ raw({ error = "boom", payload = { finished = true } }) })
      local _, err = w.run()
      assert.are.equal("crawl_failed", err.kind)
    end)

    it("wins over opts.done", function()
      local w = world({ raw({ error = "boom", payload = {} }) }, { done = function() return true end })
      local _, err = w.run()
      assert.are.equal("crawl_failed", err.kind)
    end)

    it("still reports the failing table to on_update", function()
      local got
      local w = world({ raw({ error = "boom", payload = { crawledPages = 3 } }) },
        { on_update = function(res) got = res end })
      w.run()
      assert.are.equal(w.returned[1], got)
    end)
  end)

  describe("opts.done", function()
    it("replaces the finish test", function()
      local w = world({ ok(1), ok(2), ok(3), ok(4) }, {
        done = function(res) return res.payload.crawledPages >= 3 end,
      })
      local res = w.run()
      assert.are.equal(w.returned[3], res)
      assert.are.equal(3, w.polls)
    end)

    it("keeps polling past finished when it says not done", function()
      local calls = 0
      local w = world({ ok(1, 0, 0, true) }, {
        done = function(res)
          calls = calls + 1
          assert.is_table(res.payload)
          return calls == 3
        end,
      })
      local res = w.run()
      assert.are.equal(w.returned[3], res)
      assert.are.same({ 2, 3 }, w.sleeps)
    end)
  end)

  describe("on_update", function()
    it("reports poll, elapsed, pages, rate, delta, changed, interval and failures", function()
      local infos, results = {}, {}
      local w = world({ ok(0), ok(10), ok(10), fail("network"), ok(40, 0, 0, true) }, {
        on_update = function(res, info)
          results[#results + 1] = res
          infos[#infos + 1] = info
        end,
      })
      local res = w.run()
      assert.are.equal(w.returned[5], res)
      assert.are.equal(4, #infos)
      assert.are.equal(w.returned[1], results[1])
      assert.are.equal(w.returned[5], results[4])
      assert.are.same({ poll = 1, elapsed = 0, pages = 0, delta = 0, changed = true, interval = 2,
        failures = 0 }, infos[1])
      assert.are.same({ poll = 2, elapsed = 2, pages = 10, pages_per_minute = 300, delta = 10, changed = true,
        interval = 2, failures = 0 }, infos[2])
      assert.are.same({ poll = 3, elapsed = 4, pages = 10, pages_per_minute = 150, delta = 0, changed = false,
        interval = 3, failures = 0 }, infos[3])
      local last = infos[4]
      near(40 / 11.5 * 60, last.pages_per_minute, "pages_per_minute")
      last.pages_per_minute = nil
      assert.are.same({ poll = 5, elapsed = 11.5, pages = 40, delta = 30, changed = true, interval = 2,
        failures = 0 }, last)
      assert.are.same({ 2, 2, 3, 4.5 }, w.sleeps)
    end)

    it("measures the rate from the first poll that had a page count", function()
      local infos = {}
      local w = world({ raw({ payload = {} }), ok(5), ok(11, 0, 0, true) },
        { on_update = function(_, info) infos[#infos + 1] = info end })
      w.run()
      assert.is_nil(infos[1].pages)
      assert.is_nil(infos[1].pages_per_minute)
      assert.are.equal(5, infos[2].pages)
      assert.is_nil(infos[2].pages_per_minute)
      assert.are.equal(0, infos[2].delta)
      assert.are.equal(180, infos[3].pages_per_minute)
      assert.are.equal(6, infos[3].delta)
    end)

    it("counts elapsed time from the start of the wait", function()
      local infos = {}
      local w = world({ ok(1), ok(2, 0, 0, true) },
        { on_update = function(_, info) infos[#infos + 1] = info end })
      w.t = 1000
      w.run()
      assert.are.equal(0, infos[1].elapsed)
      assert.are.equal(2, infos[2].elapsed)
    end)
  end)

  describe("arguments and options", function()
    local function no_poll_usage(opts, pattern)
      local w = world({ ok(1, 0, 0, true) })
      local res, err = wait(w.client, "s1", opts)
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      if pattern then assert.matches(pattern, err.message) end
      assert.are.equal(0, w.polls)
      return err
    end

    it("refuses bad options before it polls", function()
      -- which options are bad, and what the message says, is options_spec's
      no_poll_usage({ intervall = 2 }, "unknown option 'intervall'")
      no_poll_usage({ interval = 0 }, "option 'interval' must be greater than 0")
      no_poll_usage(5, "options must be a table, got number")
    end)

    it("accepts the edge values", function()
      local w = world({ ok(1, 0, 0, true) },
        { timeout = math.huge, max_failures = math.huge, jitter = 0, factor = 1, interval = 0.001 })
      assert.is_table(w.run())
    end)

    it("refuses an empty id without polling", function()
      local w = world({ ok(1, 0, 0, true) })
      local res, err = w.run("")
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.are.equal(0, w.polls)
    end)

    it("raises on an id that is not a string", function()
      local w = world({ ok(1, 0, 0, true) })
      assert.has_error(function() wait(w.client, 42, {}) end,
        "bad argument #1 to 'wait' (string expected, got number)")
      assert.has_error(function() wait(w.client, nil) end,
        "bad argument #1 to 'wait' (string expected, got nil)")
      assert.are.equal(0, w.polls)
    end)

    it("leaves the caller's options table alone", function()
      local opts = { interval = 1, sleep = function() end, clock = function() return 0 end }
      local w = world({ ok(1, 0, 0, true) }, opts)
      w.run()
      assert.are.equal(1, opts.interval)
      assert.is_nil(opts.timeout)
    end)
  end)

  describe("the C core's clock and sleep", function()
    local saved_loaded, saved_preload
    before_each(function()
      saved_loaded, saved_preload = package.loaded["kadoa.core"], package.preload["kadoa.core"]
      package.loaded["kadoa.core"] = nil
    end)
    after_each(function()
      package.loaded["kadoa.core"], package.preload["kadoa.core"] = saved_loaded, saved_preload
    end)

    it("is not loaded when both are injected", function()
      package.preload["kadoa.core"] = function() error("kadoa.core must not be loaded") end
      local w = world({ ok(1), ok(1, 0, 0, true) })
      assert.is_table(w.run())
      assert.is_nil(package.loaded["kadoa.core"])
    end)

    it("supplies what the caller did not inject", function()
      local t, slept = 50, {}
      package.preload["kadoa.core"] = function()
        return {
          monotime = function() return t end,
          sleep = function(s)
            slept[#slept + 1] = s
            t = t + s
          end,
        }
      end
      local client = { status = (function()
        local n = 0
        return function()
          n = n + 1
          return { payload = { crawledPages = 1, finished = n == 3 } }
        end
      end)() }
      local res = wait(client, "s1", { random = function() return 0.5 end })
      assert.is_table(res)
      assert.are.same({ 2, 3 }, slept)
      assert.are.equal(55, t)
    end)

    it("is a usage error when it is missing and nothing was injected", function()
      package.preload["kadoa.core"] = function() error("no such module") end
      local w = world({ ok(1, 0, 0, true) })
      local res, err = wait(w.client, "s1", { clock = function() return 0 end })
      assert.is_nil(res)
      assert.are.equal("usage", err.kind)
      assert.matches("opts.sleep", err.message, 1, true)
      assert.are.equal(0, w.polls)
    end)
  end)
end)
