-- kadoa.fleet: the model of every crawl at once, against a fake client
-- with an injected clock (states, rates, totals, order, stale rows, the
-- adaptive delay, marks, pagination, what status_many is asked) and
-- against the mock server (real crawls, a real pause, a faulty listing,
-- inside a coroutine as Neovim runs it).

local fleet = require("kadoa.fleet")
local errors = require("kadoa.errors")
local fixture = require("spec.helpers.fixture")
local core = require("kadoa.core")
local marks = require("kadoa.marks")

-- A fake client: `items` is the whole listing (served page by page with
-- the contract's pagination), `status[id]` what status_many gives for id.
local function fake(items)
  local c = { items = items or {}, status = {}, calls = {}, many = {}, controls = {}, now = 1000 }
  c.settings = { clock = function() return c.now end }
  function c:sessions(o)
    self.calls[#self.calls + 1] = o.page or 1
    if self.fail then return nil, self.fail end
    local page, size = o.page or 1, o.page_size or 25
    local data = {}
    for i = (page - 1) * size + 1, math.min(page * size, #self.items) do data[#data + 1] = self.items[i] end
    local pages = math.max(1, math.ceil(#self.items / size))
    return { data = data, pagination = { page = page, pageSize = size, totalItems = #self.items,
      totalPages = pages, hasMore = page < pages } }
  end
  function c:status_many(ids, o)
    self.many[#self.many + 1] = { ids = ids, opts = o }
    local out = {}
    for _, id in ipairs(ids) do
      out[id] = self.status[id] or errors.new("not_found", "no such session")
    end
    return out
  end
  function c:pause(id)
    self.controls[#self.controls + 1] = "pause " .. id
    if self.control_fail then return nil, self.control_fail end
    local res = { message = "Crawl paused" }
    marks.note(id, true, res)   -- as a real client's pause does
    return res
  end
  function c:resume(id)
    self.controls[#self.controls + 1] = "resume " .. id
    local res = { message = "Crawl resumed" }
    marks.note(id, false, res)
    return res
  end
  return c
end

local function item(id, pages, finished, extra)
  local t = { sessionId = id, domain = id .. ".example.com", crawledPages = pages, activeJobs = 3,
    waitingJobs = 10, finished = finished or false, createdAt = "2026-11-30T12:00:00Z" }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function running(pages)
  return { payload = { crawledPages = pages, activeJobs = 3, waitingJobs = 10, finished = false },
    error = nil }
end

local function by_id(snap)
  local t = {}
  for _, r in ipairs(snap.rows) do t[r.id] = r end
  return t
end

describe("kadoa.fleet with a fake client", function()
  it("checks its options like every other function", function()
    local m, err = fleet.new(fake(), { intervall = 3 })
    assert.is_nil(m)
    assert.are.equal("usage", err.kind)
    assert.matches("did you mean 'interval'", err.message)
    assert.is_nil(fleet.new({ sessions = function() end }, {}))   -- no clock anywhere
    assert.has_error(function() fleet.new(nil) end)
    assert.are.same({ concurrency = 16, interval = 2, max_interval = 30, min_interval = 1, factor = 1.5,
      page_size = 100 }, fleet.defaults)
  end)

  it("starts empty, due at once", function()
    local m = assert(fleet.new(fake()))
    local s = m:snapshot()
    assert.are.same({}, s.rows)
    assert.are.equal(0, s.totals.sessions)
    assert.are.equal(0, s.refreshes)
    assert.is_false(s.stale)
    assert.are.equal(0, m:delay())
  end)

  it("tells the states, pages per minute from consecutive looks, totals and the order", function()
    local c = fake({
      item("run-a", 10), item("run-b", 10), item("done", 14, true), item("bad", 3),
      item("nostats", nil, nil, { crawledPages = false }),
    })
    c.items[5].crawledPages = nil
    c.status["run-a"] = running(10)
    c.status["run-b"] = running(10)
    c.status.bad = { payload = { crawledPages = 3, finished = false, activeJobs = 0, waitingJobs = 0 },
      error = "Crawl failed: target returned HTTP 500" }
    local now = fleet.parse_time("2026-11-30T12:01:40Z")
    local m = assert(fleet.new(c, { wall_clock = function() return now end }))
    local s = m:refresh()
    local r = by_id(s)
    assert.are.equal("running", r["run-a"].state)
    assert.are.equal("finished", r.done.state)
    assert.are.equal("failed", r.bad.state)
    assert.are.equal("Crawl failed: target returned HTTP 500", r.bad.error)
    assert.are.equal("unknown", r.nostats.state)   -- no stats, and its status failed
    assert.is_nil(r["run-a"].pages_per_minute)     -- one look: no rate yet
    assert.are.equal(100, r["run-a"].elapsed)      -- from createdAt
    assert.are.equal(1000, r["run-a"].seen)
    assert.are.equal("run-a.example.com", r["run-a"].domain)
    -- the finished one is not asked about: the listing says all
    local asked = {}
    for _, id in ipairs(c.many[1].ids) do asked[id] = true end
    assert.are.same({ ["run-a"] = true, ["run-b"] = true, bad = true, nostats = true }, asked)
    assert.are.equal(16, c.many[1].opts.concurrency)

    c.now = 1030
    c.status["run-a"] = running(20)   -- +10 in 30 s: 20/min
    c.status["run-b"] = running(40)   -- +30 in 30 s: 60/min
    s = m:refresh()
    r = by_id(s)
    assert.are.equal(20, r["run-a"].pages_per_minute)
    assert.are.equal(60, r["run-b"].pages_per_minute)
    assert.are.equal(0, r.done.pages_per_minute)
    assert.are.same({ sessions = 5, running = 2, paused = 0, stalled = 0, finished = 1, failed = 1,
      pages = 20 + 40 + 14 + 3, pages_per_minute = 80, errors = 1 }, s.totals)
    -- running first, fastest first; the others by recency, then id
    assert.are.equal("run-b", s.rows[1].id)
    assert.are.equal("run-a", s.rows[2].id)
    assert.are.equal(1030, s.refreshed)
    assert.are.equal(2, s.refreshes)
  end)

  it("orders the still ones newest first", function()
    local c = fake({ item("old", 5, true, { createdAt = "2026-01-01T00:00:00Z" }),
      item("new", 5, true, { createdAt = "2026-06-01T00:00:00+02:00" }), item("mid", 5, true,
      { createdAt = "2026-03-01T00:00:00.250Z" }) })
    local s = assert(fleet.new(c)):refresh()
    assert.are.same({ "new", "mid", "old" }, { s.rows[1].id, s.rows[2].id, s.rows[3].id })
  end)

  it("keeps the rows, marks them stale and carries the error when a refresh fails", function()
    local c = fake({ item("a", 1) })
    c.status.a = running(1)
    local m = assert(fleet.new(c))
    m:refresh()
    c.fail = errors.new("server", "HTTP 503")
    c.now = 1002
    local s = m:refresh()
    assert.is_true(s.stale)
    assert.are.equal("server", s.error.kind)
    assert.are.equal(1, #s.rows)
    assert.are.equal("a", s.rows[1].id)
    assert.are.equal(1000, s.refreshed)   -- the last good one
    c.fail = nil
    s = m:refresh()
    assert.is_false(s.stale)
    assert.is_nil(s.error)
  end)

  it("refreshes fast while something moves, slower when still, never below the floor", function()
    local c = fake({ item("a", 1) })
    c.status.a = running(1)
    local m = assert(fleet.new(c, { interval = 2, factor = 2, max_interval = 10 }))
    m:refresh()
    assert.are.equal(2, m:delay())              -- first look: things "moved"
    m:refresh()
    assert.are.equal(4, m:delay())              -- still
    m:refresh()
    assert.are.equal(8, m:delay())
    m:refresh()
    assert.are.equal(10, m:delay())             -- capped
    c.status.a = running(2)
    m:refresh()
    assert.are.equal(2, m:delay())              -- moved: back to the start
    c.fail = errors.new("network", "down")
    m:refresh()
    assert.are.equal(4, m:delay())              -- a failure backs off the same way
    m:refresh()
    assert.are.equal(8, m:delay())
    -- the floor wins over a shorter interval
    local f = assert(fleet.new(fake({ item("b", 1) }), { interval = 0.1, min_interval = 1 }))
    f:refresh()
    assert.are.equal(1, f:delay())
  end)

  it("marks a row paused at once, keeps it until resumed, and undoes a failed call", function()
    finally(function() marks.set("a", false) end)
    local c = fake({ item("a", 1), item("b", 1) })
    c.status.a, c.status.b = running(1), running(1)
    local m = assert(fleet.new(c))
    m:refresh()
    assert.are.same({ message = "Crawl paused" }, m:pause("a"))
    assert.are.same({ "pause a" }, c.controls)
    assert.are.equal("paused", by_id(m:snapshot()).a.state)
    assert.are.equal(1, m:snapshot().totals.paused)
    m:refresh()                                  -- the listing cannot tell: the mark stays
    assert.are.equal("paused", by_id(m:snapshot()).a.state)
    m:resume("a")
    assert.are.equal("running", by_id(m:snapshot()).a.state)
    m:refresh()
    assert.are.equal("running", by_id(m:snapshot()).a.state)
    c.control_fail = errors.new("not_found", "no such session")
    local res, err = m:pause("b")
    assert.is_nil(res)
    assert.are.equal("not_found", err.kind)
    assert.are.equal("running", by_id(m:snapshot()).b.state)
    -- a paused crawl that finishes is finished
    c.control_fail = nil
    m:pause("a")
    c.items[1].finished, c.status.a = true, nil
    m:refresh()
    assert.are.equal("finished", by_id(m:snapshot()).a.state)
  end)

  it("shows the state file's paused marks, whoever made them, and stalled crawls", function()
    local id = "fleet-marked-" .. os.time()
    finally(function() marks.set(id, false) end)
    local c = fake({ item(id, 5), item("idle", 7, false, { activeJobs = 0 }) })
    c.status[id] = running(5)
    c.status.idle = { payload = { crawledPages = 7, activeJobs = 0, waitingJobs = 4, finished = false } }
    local m = assert(fleet.new(c))
    assert.are.equal("running", by_id(m:refresh())[id].state)
    assert(marks.set(id, true))                  -- `kadoa pause ID` in another process
    assert.are.equal("running", by_id(m:refresh()).idle.state)
    local s = m:refresh()
    assert.are.equal("paused", by_id(s)[id].state)
    assert.are.equal(1, s.totals.paused)
    -- not moving and no job active: stalled from the third look on
    assert.are.equal("stalled", by_id(s).idle.state)
    assert.are.equal(1, s.totals.stalled)
    assert(marks.set(id, false))                 -- `kadoa resume ID` elsewhere
    c.status.idle.payload.crawledPages = 8       -- it moved
    s = m:refresh()
    assert.are.equal("running", by_id(s)[id].state)
    assert.are.equal("running", by_id(s).idle.state)
    assert.are.equal(0, s.totals.stalled)
  end)

  it("keeps a pause itself when the client could not write its mark", function()
    local c = fake({ item("nomark", 1) })
    c.status.nomark = running(1)
    c.pause = function() return { message = "Crawl paused", mark_error = "marks: no HOME" } end
    local m = assert(fleet.new(c))
    m:refresh()
    assert(m:pause("nomark"))
    assert.are.equal("paused", by_id(m:refresh()).nomark.state)
    m:resume("nomark")
    assert.are.equal("running", by_id(m:refresh()).nomark.state)
  end)

  it("follows the listing over several pages", function()
    local items = {}
    for i = 1, 7 do items[i] = item(("s%02d"):format(i), i, true) end
    local c = fake(items)
    local s = assert(fleet.new(c, { page_size = 3 })):refresh()
    assert.are.same({ 1, 2, 3 }, c.calls)
    assert.are.equal(7, #s.rows)
    assert.are.equal(0, #c.many)                 -- all finished, all with stats: no status calls
  end)

  it("runs inside a coroutine whose client yields on every call", function()
    local c = fake({ item("a", 1), item("b", 2, true) })
    c.status.a = running(1)
    local yields = 0
    local proxy = { settings = c.settings }
    function proxy.sessions(_, o) coroutine.yield("sessions") return c:sessions(o) end
    function proxy.status_many(_, ids, o) coroutine.yield("status_many") return c:status_many(ids, o) end
    local m = assert(fleet.new(proxy))
    local co = coroutine.create(function() return m:refresh() end)
    local ok, v
    repeat
      ok, v = coroutine.resume(co)
      assert(ok, v)
      if coroutine.status(co) == "suspended" then yields = yields + 1 end
    until coroutine.status(co) == "dead"
    assert.are.equal(2, yields)
    assert.are.equal(2, #v.rows)
    assert.are.equal(m:snapshot(), v)
  end)

  it("gives a second caller the snapshot while a refresh waits, and forgets a refresh that died", function()
    local c = fake({ item("a", 1) })
    c.status.a = running(1)
    local proxy = { settings = c.settings }
    function proxy.sessions(_, o)
      local why = coroutine.yield("sessions")
      if why == "cancel" then error("cancelled") end
      return c:sessions(o)
    end
    function proxy.status_many(_, ids, o) return c:status_many(ids, o) end
    local m = assert(fleet.new(proxy))
    local co = coroutine.create(function() return m:refresh() end)
    assert(coroutine.resume(co))                          -- waiting on the listing
    local before = m:snapshot()
    local other = coroutine.create(function() return m:refresh() end)
    local ok, v = coroutine.resume(other)                  -- not a second listing
    assert.is_true(ok)
    assert.are.equal(before, v)
    assert.are.equal("dead", coroutine.status(other))
    assert.is_false((coroutine.resume(co, "cancel")))      -- the host cancels: the refresh raises
    local again = coroutine.create(function() return m:refresh() end)
    assert(coroutine.resume(again))
    ok, v = coroutine.resume(again, "go")
    assert.is_true(ok)
    assert.are.equal(1, #v.rows)
    assert.is_false(v.stale)
  end)

  it("does not ask again about a crawl known to have failed while its numbers stand", function()
    local c = fake({ item("bad", 3) })
    c.status.bad = { payload = { crawledPages = 3, finished = false }, error = "Crawl failed" }
    local m = assert(fleet.new(c))
    m:refresh()
    c.status.bad = nil
    local s = m:refresh()
    assert.are.equal(1, #c.many)
    assert.are.equal("failed", s.rows[1].state)
    assert.are.equal("Crawl failed", s.rows[1].error)
  end)
end)

describe("kadoa.fleet against the mock", function()
  local fx = fixture.mock_client("fleet-key")
  local client
  setup(function() client = select(2, fx.start()) end)
  teardown(fx.stop)

  it("sees crawls run, pause in the mock, finish and fail; counts status_many's concurrency", function()
    local ids = {}
    for i, url in ipairs({ "https://pages-40.seconds-20.run.example.com/",
        "https://pages-40.seconds-20.other.example.com/", "https://pages-5.seconds-0.done.example.com/",
        "https://pages-10.seconds-0.4.failing.example.com/" }) do
      ids[i] = assert(client:crawl(url)).sessionId
    end
    core.sleep(0.6)   -- the failing one dies at 0.24 s
    -- what the model asks status_many for, and with which limit
    local asked, limit = 0, nil
    local wrapper = setmetatable({
      status_many = function(_, list, o)
        asked, limit = asked + #list, o.concurrency
        return client:status_many(list, o)
      end,
    }, { __index = client })
    local m = assert(fleet.new(wrapper, { concurrency = 2 }))
    local s = m:refresh()
    assert.is_false(s.stale, tostring(s.error))
    local r = by_id(s)
    assert.are.equal("running", r[ids[1]].state)
    assert.are.equal("finished", r[ids[3]].state)
    assert.are.equal("failed", r[ids[4]].state)
    assert.are.equal("Crawl failed: target site blocked the crawler", r[ids[4]].error)
    assert.are.equal("done.example.com", r[ids[3]].domain:match("done%.example%.com"))
    assert.are.equal(3, asked)                  -- the finished one is not asked about
    assert.are.equal(2, limit)
    assert.is_true(r[ids[1]].elapsed >= 0 and r[ids[1]].elapsed < 60)

    assert.is_truthy(m:pause(ids[1]))
    assert.are.equal("paused", by_id(m:snapshot())[ids[1]].state)
    local a = assert(client:status(ids[1])).payload.crawledPages
    core.sleep(1.1)
    s = m:refresh()
    r = by_id(s)
    assert.are.equal("paused", r[ids[1]].state)
    assert.are.equal(a, r[ids[1]].pages)         -- nothing moves in the mock
    assert.are.equal(0, r[ids[1]].pages_per_minute)
    assert.is_true(r[ids[2]].pages_per_minute > 0)
    assert.are.equal(ids[2], s.rows[1].id)       -- the running one leads
    assert.is_truthy(m:resume(ids[1]))
    assert.are.equal("running", by_id(m:snapshot())[ids[1]].state)
  end)

  it("goes stale with the listing's error when the listing fails", function()
    local good = true
    local c2 = fx.new_client({ retries = 0 })
    finally(function() c2:close() end)
    -- the listing's faults are keyed on userId (the mock's FAULT INJECTION)
    local wrapper = setmetatable({
      sessions = function(_, o)
        if not good then o.user_id = "status-503" end
        return c2:sessions(o)
      end,
    }, { __index = c2 })
    local m = assert(fleet.new(wrapper))
    local before = m:refresh()
    assert.is_false(before.stale)
    good = false
    local s = m:refresh()
    assert.is_true(s.stale)
    assert.are.equal(503, s.error.status)
    assert.are.equal(#before.rows, #s.rows)
    assert.are.equal(before.refreshed, s.refreshed)
  end)

  it("follows pagination of the real listing", function()
    local m = assert(fleet.new(client, { page_size = 2 }))
    local s = m:refresh()
    local n = assert(client:sessions({ page_size = 100 })).pagination.totalItems
    assert.is_true(n >= 4)
    assert.are.equal(n, #s.rows)
  end)
end)
