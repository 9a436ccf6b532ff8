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
