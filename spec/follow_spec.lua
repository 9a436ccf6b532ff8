-- Following a crawl as it runs (each_page and export with follow = true),
-- against the real mock: a listing that grows while it is read, one that
-- reorders its entries, a failing crawl, a session that looks finished too
-- early or lists late, the listing traffic it costs, and an export killed
-- with SIGKILL at a random moment and run again.
local core = require("kadoa.core")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")

local KEY = "sk-follow-51c0"
-- quick polls for the tests (wait's schedule, scaled down)
local QUICK = { follow = true, interval = 0.2, max_interval = 0.5, grace = 3 }

local function fetch_json(url)
  return assert(require("cjson").decode(sub.sh("curl -s " .. sub.quote(url))))
end

local function with(opts, more)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  for k, v in pairs(more or {}) do o[k] = v end
  return o
end

describe("following a crawl", function()
  local fx = fixture.mock_client(KEY)
  local srv, client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)

  local function start(labels)
    return assert(client:crawl("https://" .. labels .. ".example.com/")).sessionId
  end

  -- every page the follow yields, checked to come once; and what ended it
  local function follow(id, opts)
    local got, n, last_err = {}, 0, nil
    for page, err in client:each_page(id, opts or QUICK) do
      if not page then last_err = err break end
      assert.is_nil(got[page.id], "page " .. tostring(page.id) .. " yielded twice")
      assert.is_true(page.status == "DONE" or page.status == "READY")
      got[page.id] = true
      n = n + 1
    end
    return got, n, last_err
  end

  local function all_of(n, got)
    for i = 0, n - 1 do assert.is_true(got[("p%04d"):format(i)], ("p%04d missing"):format(i)) end
  end

  it("yields each page once as it is crawled, on a listing that grows while it is read", function()
    local id = start("pages-60.seconds-1.5")
    local t0 = core.monotime()
    local got, n, err = follow(id, with(QUICK, { page_size = 7 }))
    assert.is_nil(err)
    assert.are.equal(60, n)
    all_of(60, got)
    -- it ran with the crawl, not after it: the first pages came before the end
    assert.is_true(core.monotime() - t0 >= 1.4)
    assert.is_true(assert(client:status(id)).payload.finished)
  end)

  it("reads only the listing pages that can hold new entries", function()
    local id = start("pages-200.seconds-3")
    local got, n, err = follow(id, with(QUICK, { page_size = 10 }))
    assert.is_nil(err)
    assert.are.equal(200, n)
    all_of(200, got)
    local hits = fetch_json(srv.url .. "/mock/hits/" .. id)
    -- one status call per poll; the listing: at most one request per poll
    -- plus the listing pages that took new entries (20 of them, each
    -- crossed into once or twice while its entries were still pending)
    assert.is_true(hits.pages <= hits.status + 2 * 20,
      ("listing requests %d for %d polls"):format(hits.pages, hits.status))
    -- the early pages were not read again once all their entries were home
    assert.is_true((hits.listing["1"] or 0) < hits.status / 2,
      ("page 1 read %d times in %d polls"):format(hits.listing["1"] or 0, hits.status))
  end)

  it("yields each page once from a listing that reorders its entries between polls", function()
    local id = start("pages-80.seconds-1.5.shuffle")
    local got, n, err = follow(id, with(QUICK, { page_size = 9 }))
    assert.is_nil(err)
    assert.are.equal(80, n)
    all_of(80, got)
  end)

  it("gives a failed crawl's error once, after the pages crawled before it failed", function()
    local id = start("pages-40.seconds-1.failing")
    local calls, pages, errs = 0, 0, 0
    local it = client:each_page(id, QUICK)
    while true do
      local page, err = it()
      calls = calls + 1
      if page == nil then break end
      if page then pages = pages + 1 else
        errs = errs + 1
        assert.are.equal("crawl_failed", err.kind)
        assert.matches("blocked the crawler", err.message)
      end
      assert.is_true(calls < 200)
    end
    assert.are.equal(1, errs)
    assert.are.equal(24, pages)   -- floor(0.6 * 40) DONE before it died
    assert.is_nil(it())           -- and it stays ended
  end)

  it("does not end on a fresh session that looks finished and empty (within grace)", function()
    local id = start("pages-30.seconds-1.early-0.5")
    local got, n, err = follow(id)
    assert.is_nil(err)
    assert.are.equal(30, n)
    all_of(30, got)
  end)

  it("waits out a fresh session's 404 within grace, and a listing that lags the counts", function()
    local id = start("pages-30.seconds-0.5.fresh404-0.4.lag-0.6")
    local got, n, err = follow(id)
    assert.is_nil(err)
    assert.are.equal(30, n)
    all_of(30, got)
  end)

  it("ends with the 404 after grace, and checks its options", function()
    local got, n, err = follow("no-such-session-" .. os.time(), with(QUICK, { grace = 0 }))
    assert.are.equal(0, n)
    assert.is_nil(next(got))
    assert.are.equal("not_found", err.kind)
    local _, _, bad = follow("x", with(QUICK, { interval = -1 }))
    assert.are.equal("usage", bad.kind)
    assert.matches("interval", bad.message)
  end)

  it("sleeps with the client's sleep, and ends when that sleep says stop", function()
    local naps = 0
    local c = fx.new_client({ sleep = function(s) naps = naps + 1 core.sleep(s) return naps < 3 end })
    finally(function() c:close() end)
    local id = start("pages-100.seconds-20")
    local n = 0
    for page in c:each_page(id, QUICK) do if page then n = n + 1 end end
    assert.are.equal(3, naps)
    assert.is_true(n < 100)
  end)
end)

describe("export with follow", function()
  local fx = fixture.mock_client(KEY)
  local srv, client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)

  local function tmpdir()
    local d = os.tmpname()
    os.remove(d)
    assert(core.mkdir(d))
    return d
  end

  local function files(dir)
    local out = {}
    for line in sub.sh("cd " .. sub.quote(dir) .. " && ls -i1 | sort -k2"):gmatch("[^\n]+") do
      local inode, name = line:match("^%s*(%d+)%s+(.+)$")
      if name then out[name] = inode end
    end
    return out
  end

  -- the index after a finished export: one line a page, each written, its
  -- file there and whole; no file without its line, no .part left
  local function check_home(dir, n)
    local lines, ids = 0, {}
    for line in io.lines(dir .. "/index.jsonl") do
      local e = require("cjson").decode(line)
      lines = lines + 1
      assert.is_nil(ids[e.id], "twice in the index: " .. e.id)
      ids[e.id] = true
      assert.are.equal("written", e.status)
      local body = assert(sub.read(dir .. "/" .. e.file))
      assert.are.equal(e.bytes, #body)
      assert.matches("^# Page %d+ of ", body)
    end
    assert.are.equal(n, lines)
    local on_disk = 0
    for name in pairs(files(dir)) do
      assert.is_nil(name:find("%.part$"), "left behind: " .. name)
      if name ~= "index.jsonl" then on_disk = on_disk + 1 end
    end
    assert.are.equal(n, on_disk)
  end

  it("brings every page home once while the crawl runs, and reports crawled and exported", function()
    local id = assert(client:crawl("https://pages-90.seconds-1.5.latency-100.example.com/")).sessionId
    local dir = tmpdir()
    finally(function() sub.sh("rm -rf " .. sub.quote(dir)) end)
    local seen_midway, last = false, nil
    local t0 = core.monotime()
    local summary = assert(client:export(id, dir, with(QUICK, {
      on_progress = function(p)
        last = p
        assert.is_number(p.crawled)
        if p.exported > 0 and p.crawled < 90 then seen_midway = true end
      end,
    })))
    assert.are.equal(90, summary.written)
    assert.are.equal(0, summary.failed)
    assert.are.equal(90, last.exported)
    assert.are.equal(90, last.crawled)
    assert.is_true(seen_midway, "pages came home while the crawl ran")
    -- it cannot have ended before the crawl did (its speed is bench/follow.lua's)
    assert.is_true(core.monotime() - t0 >= 1.4)
    check_home(dir, 90)
    assert.are.equal(90, fetch_json(srv.url .. "/mock/hits/" .. id).page)
  end)

  it("checks its options before anything is fetched or made", function()
    local dir = os.tmpname()
    os.remove(dir)
    local s, err = client:export("x", dir, { follow = true, max_interval = 0 })
    assert.is_nil(s)
    assert.are.equal("usage", err.kind)
    assert.matches("^export: .*max_interval", err.message)
    s, err = client:export("x", dir, { follow = true, folow = 1 })
    assert.is_nil(s)
    assert.matches("folow", err.message)
    assert.is_false(sub.exists(dir))
  end)

  it("gives a failed crawl's error, with what came home in err.summary", function()
    local id = assert(client:crawl("https://pages-20.seconds-0.5.failing.example.com/")).sessionId
    local dir = tmpdir()
    finally(function() sub.sh("rm -rf " .. sub.quote(dir)) end)
    local summary, err = client:export(id, dir, QUICK)
    assert.is_nil(summary)
    assert.are.equal("crawl_failed", err.kind)
    assert.are.equal(12, err.summary.written)
    check_home(dir, 12)
  end)

  it("resumes after a SIGKILL at a random moment: nothing torn, lost or fetched again once home", function()
    math.randomseed(os.time())
    for round = 1, 2 do
      local id = assert(client:crawl("https://pages-120.seconds-2.latency-80.example.com/")).sessionId
      local dir = tmpdir()
      finally(function() sub.sh("rm -rf " .. sub.quote(dir)) end)
      local code = ([[
        local kadoa = require("kadoa")
        local c = assert(kadoa.client({ api_key = %q, base_url = %q }))
        local s, err = c:export(%q, %q,
          { follow = true, interval = 0.2, max_interval = 0.5, concurrency = 4 })
        io.write(s and "done" or tostring(err))
      ]]):format(KEY, srv.url, id, dir)
      local script = os.tmpname()
      sub.write(script, code)
      finally(function() os.remove(script) end)
      -- the first round kills it surely midway, the second anywhere
      local delay = round == 1 and 0.7 + math.random() * 0.8 or 0.1 + math.random() * 2
      -- run it in the background and kill it, no goodbye
      sub.sh(sub.command({}) .. " " .. sub.quote(script) .. " >/dev/null 2>&1 & pid=$!; sleep "
        .. ("%.2f"):format(delay) .. "; kill -KILL $pid; wait $pid 2>/dev/null")
      local before, home = files(dir), 0
      for name in pairs(before) do
        if name ~= "index.jsonl" and not name:find("%.part$") then home = home + 1 end
      end
      if round == 1 then assert.is_true(home > 0 and home < 120, home .. " home at the kill") end
      local out = sub.sh(sub.command({}) .. " " .. sub.quote(script) .. " 2>&1")
      assert.are.equal("done", out, "round " .. round)
      check_home(dir, 120)
      -- every file home before the kill is the very same file (not written again)
      local after = files(dir)
      for name, inode in pairs(before) do
        if name ~= "index.jsonl" and not name:find("%.part$") then
          assert.are.equal(inode, after[name], name .. " was written again")
        end
      end
      -- fetched: once each, plus at most what was in flight at the kill
      local fetched = fetch_json(srv.url .. "/mock/hits/" .. id).page
      assert.is_true(fetched >= 120 and fetched <= 120 + 4, "fetched " .. fetched)
    end
  end)
end)

describe("the mock's completion callback", function()
  local fx = fixture.mock_client(KEY)
  local srv, client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)

  it("POSTs once to a loopback callbackUrl when the crawl is over, and never elsewhere", function()
    local receiver = require("spec.helpers.mock").start({ key = "other" })
    finally(function() receiver:stop() end)
    -- the receiver is a second mock: a POST to its start route is counted there, key or not
    local hook = receiver.url .. "/v4/crawl/"
    local id = assert(client:crawl({ url = "https://pages-5.seconds-0.3.example.com/", callbackUrl = hook }))
      .sessionId
    local far = assert(client:crawl({ url = "https://pages-2.seconds-0.example.com/",
                                      callbackUrl = "http://hook.invalid/x" })).sessionId
    local tls = assert(client:crawl({ url = "https://pages-2.seconds-0.example.com/",
                                      callbackUrl = "https://127.0.0.1:1/x" })).sessionId
    assert.are.equal(0, fetch_json(receiver.url .. "/mock/starts").count)   -- not before it is over
    local calls
    for _ = 1, 60 do
      calls = fetch_json(srv.url .. "/mock/callbacks")
      if calls.count == 3 then break end
      core.sleep(0.05)
    end
    assert.are.equal(3, calls.count)
    local by = {}
    for _, c in ipairs(calls.calls) do by[c.sessionId] = c end
    assert.are.equal(401, by[id].code)                 -- delivered (and refused: no key)
    assert.are.equal("not loopback", by[far].error)
    assert.are.equal("not loopback", by[tls].error)
    assert.are.equal(1, fetch_json(receiver.url .. "/mock/starts").count)
    assert.is_true(assert(client:status(id)).payload.finished)
  end)
end)
