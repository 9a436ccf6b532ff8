-- The mock server itself, driven through spec/helpers/mock.lua and curl:
-- only what proves it faithful. Its answers have the contract's shape, its
-- self-check turns drift into a 500, the fault routes and labels do what
-- the other specs rely on. Whatever a client spec already proves through
-- the mock (the key, echo, keep-alive, status-N, flaky, hang, closed_port,
-- fresh404, ready, bytes-B, a paused crawl standing still) is not repeated
-- here, and nothing judges how fast a crawl moves, only that it does.
local mock = require("spec.helpers.mock")
local sub = require("spec.helpers.subprocess")
local cjson = require("cjson")
local sh, quote = sub.sh, sub.quote

-- curl -s, with the status code appended as "\n<code>"
local function get(srv, path)
  local out = sh("curl -s -w '\\n%{http_code}'"
    .. " -H 'x-api-key: " .. srv.key .. "' '" .. srv.url .. path .. "'")
  local body, code = out:match("^(.*)\n(%d+)$")
  return body, tonumber(code)
end

describe("mock server", function()
  local srv

  setup(function() srv = mock.start() end)
  teardown(function() srv:stop() end)

  it("answers the default 200 body", function()
    local body, code = get(srv, "/v4/crawl/abc/status")
    assert.are.equal(200, code)
    assert.are.equal('{"payload":{"crawledPages":14,"finished":true,"activeJobs":0,'
      .. '"waitingJobs":0},"sessionId":"abc","error":null}', body)
  end)

  it("takes another key, stops idempotently, and frees its port", function()
    local other = mock.start({ key = "it's a key" })
    assert.are.not_equal(srv.port, other.port)
    local _, code = get({ key = "it'\\''s a key", url = other.url }, "/v4/crawl/abc/status")
    assert.are.equal(200, code)
    other:stop()
    other:stop()
    local _, gone = get({ key = "x", url = other.url }, "/v4/crawl/abc/status")
    assert.are.equal(0, gone)
  end)
end)


-- ---------------------------------------------------------------- the crawler API

-- curl -X method with an optional JSON body; returns body, code, seconds taken
local function call(srv, method, path, body, extra)
  local out = sh("curl -s -w '\\n%{http_code} %{time_total}' -X " .. method
    .. (body and (" -H 'content-type: application/json' --data-binary " .. quote(body)) or "")
    .. " " .. (extra or "") .. " -H 'x-api-key: " .. srv.key .. "' " .. quote(srv.url .. path))
  local text, code, secs = out:match("^(.*)\n(%d+) ([%d.]+)$")
  return text, tonumber(code), tonumber(secs)
end

local function json(text)
  return cjson.decode(text)
end

-- call() that wants a 200 and gives the decoded answer
local function ok(srv, method, path, body)
  local text, code = call(srv, method, path, body)
  assert.are.equal(200, code, text)
  return json(text)
end

local function start(srv, url)
  return ok(srv, "POST", "/v4/crawl/", cjson.encode({ url = url })).sessionId
end

local function keys(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return table.concat(list, ",")
end

local function statuses(srv, sid, query)
  local list = {}
  for _, p in ipairs(ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages" .. (query or "")).payload) do
    list[#list + 1] = p.status
  end
  return table.concat(list, ",")
end

local function sleep(s)
  os.execute("sleep " .. s)
end

-- polls a session's status until it says finished (at most 20 s), handing
-- each unfinished payload to each; returns the finished answer
local function until_finished(srv, sid, each)
  for _ = 1, 200 do
    local s = ok(srv, "GET", "/v4/crawl/" .. sid .. "/status")
    if s.payload.finished then return s end
    if each then each(s.payload) end
    sleep(0.1)
  end
  error("session " .. sid .. " never finished")
end

local function b64(s)
  return (sh("printf '%s' " .. quote(s) .. " | base64 -w0"))
end

local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

describe("mock crawler API", function()
  local srv

  setup(function() srv = mock.start() end)
  teardown(function() srv:stop() end)

  describe("starts", function()
    it("answers a start with a uuid4 session, with or without the slash", function()
      for _, path in ipairs({ "/v4/crawl/", "/v4/crawl" }) do
        local a = ok(srv, "POST", path, '{"url":"https://example.com"}')
        assert.are.equal("error,message,sessionId", keys(a))
        assert.are.equal(cjson.null, a.error)
        assert.are.equal("Crawl started", a.message)
        assert.truthy(a.sessionId:match(UUID4), a.sessionId)
      end
      local a = ok(srv, "POST", "/v4/crawl/", '{"startUrls":["https://pages-2.example.com/a","https://x/b"]}')
      local pages = ok(srv, "GET", "/v4/crawl/" .. a.sessionId .. "/pages").payload
      assert.are.equal("https://pages-2.example.com/a", pages[1].url)
      assert.are.equal("https://x/b", pages[2].url)
    end)

    it("400s bodies that are not JSON, lack a url or have wrong types", function()
      for _, body in ipairs({ "not json", "[1]", "{}", '{"startUrls":[]}', '{"url":3}',
                              '{"url":"https://x","maxPages":"5"}', '{"startUrls":"https://x"}',
                              '{"url":"https://x","crawlMethod":{"mode":"warp"}}' }) do
        local text, code = call(srv, "POST", "/v4/crawl/", body)
        assert.are.equal(400, code, body)
        local e = json(text)
        assert.are.equal(true, e.error)
        assert.is_string(e.message)
      end
      local _, code = call(srv, "POST", "/v4/crawl/")
      assert.are.equal(400, code)
    end)

    it("wants the key on every new route, and still 404s unknown ones", function()
      local nokey = { key = "wrong", url = srv.url }
      for _, r in ipairs({ { "POST", "/v4/crawl/", '{"url":"https://x"}' }, { "GET", "/v4/crawl/sessions" },
                           { "POST", "/v4/crawl/pause", '{"sessionId":"x"}' },
                           { "GET", "/v4/crawl/config/x" }, { "GET", "/v4/crawl/x/pages" } }) do
        local text, code = call(nokey, r[1], r[2], r[3])
        assert.are.equal(401, code, r[2])
        assert.are.equal('{"error":true,"message":"Unauthorized: invalid or missing API key",'
          .. '"details":null}', text)
      end
      for _, r in ipairs({ { "GET", "/v4/crawl/x/nope" }, { "PUT", "/v4/crawl/" }, { "GET", "/v4/crawl/" },
                           { "POST", "/v4/crawl/abc/status" }, { "GET", "/v4/crawl/../pages" } }) do
        local text, code = call(nokey, r[1], r[2])
        assert.are.equal(404, code, r[2])
        assert.truthy(text:find("no such route: ", 1, true))
      end
    end)
  end)

  describe("a crawl", function()
    it("moves its pages PENDING -> CRAWLING -> DONE and then finishes; maxPages caps it", function()
      local sid = start(srv, "https://pages-4.seconds-2.example.com/") -- a page per 0.5 s
      local s = ok(srv, "GET", "/v4/crawl/" .. sid .. "/status")
      assert.are.equal("error,payload,sessionId", keys(s))
      assert.are.equal(sid, s.sessionId)
      assert.are.equal("activeJobs,crawledPages,finished,waitingJobs", keys(s.payload))
      assert.is_false(s.payload.finished)
      assert.matches("^[A-Z,]*PENDING$", statuses(srv, sid))
      -- progress, however slowly the machine lets us look: never backwards, then done
      local last = s.payload.crawledPages
      s = until_finished(srv, sid, function(p)
        assert.is_true(p.crawledPages >= last)
        last = p.crawledPages
      end)
      assert.are.same({ crawledPages = 4, activeJobs = 0, waitingJobs = 0, finished = true }, s.payload)
      assert.are.equal(cjson.null, s.error)
      assert.are.equal("DONE,DONE,DONE,DONE", statuses(srv, sid))
      local capped = ok(srv, "POST", "/v4/crawl/", '{"url":"https://seconds-0.example.com","maxPages":5}')
      s = ok(srv, "GET", "/v4/crawl/" .. capped.sessionId .. "/status").payload
      assert.are.same({ crawledPages = 5, activeJobs = 0, waitingJobs = 0, finished = true }, s)
    end)

    it("answers pause and resume, and goes on after resume", function()
      local sid = start(srv, "https://pages-4.seconds-0.6.example.com/")
      local body = cjson.encode({ sessionId = sid })
      local a = ok(srv, "POST", "/v4/crawl/pause", body)
      assert.are.same({ message = "Crawl paused", sessionId = sid, error = cjson.null }, a)
      -- that a paused crawl stands still is crawler_spec's "pause and resume"
      a = ok(srv, "POST", "/v4/crawl/resume", body)
      assert.are.same({ message = "Crawl resumed", sessionId = sid, error = cjson.null }, a)
      until_finished(srv, sid)
      for _, path in ipairs({ "/v4/crawl/pause", "/v4/crawl/resume" }) do
        local _, code = call(srv, "POST", path, '{"sessionId":"no-such-session"}')
        assert.are.equal(404, code)
        _, code = call(srv, "POST", path, '{"session":"x"}')
        assert.are.equal(400, code)
      end
    end)

    it("fails with a top-level error when the URL says failing", function()
      local sid = start(srv, "https://failing.pages-10.seconds-0.example.com/")
      local s = ok(srv, "GET", "/v4/crawl/" .. sid .. "/status")
      assert.are.equal("Crawl failed: target site blocked the crawler", s.error)
      assert.are.same({ crawledPages = 6, activeJobs = 0, waitingJobs = 0, finished = false }, s.payload)
      assert.are.equal(6, #ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages").payload)
    end)
  end)

  describe("page listing", function()
    it("paginates in the contract's shape", function()
      local sid = start(srv, "https://pages-7.seconds-0.example.com/")
      local a = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=3")
      assert.are.equal("error,pagination,payload,sessionId", keys(a))
      assert.are.same({ page = 1, pageSize = 3, totalItems = 7, totalPages = 3, hasMore = true },
        a.pagination)
      assert.are.same({ id = "p0000", url = "https://pages-7.seconds-0.example.com/", status = "DONE" },
        a.payload[1])
      a = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=3&currentPage=3")
      assert.are.equal(1, #a.payload)
      assert.are.equal("p0006", a.payload[1].id)
      assert.is_false(a.pagination.hasMore)
      assert.are.equal(0, #ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=3&currentPage=4").payload)
      for _, q in ipairs({ "?currentPage=0", "?pageSize=0", "?pageSize=abc", "?currentPage=1.5" }) do
        local _, code = call(srv, "GET", "/v4/crawl/" .. sid .. "/pages" .. q)
        assert.are.equal(400, code, q)
      end
      local _, code = call(srv, "GET", "/v4/crawl/no-such-session/pages")
      assert.are.equal(404, code)
    end)

    it("paginates in the old shape for oldpages", function()
      local sid = start(srv, "https://oldpages.pages-5.seconds-0.example.com/")
      local a = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=2&currentPage=2")
      assert.are.same({ currentPage = 2, pageSize = 2, totalRecords = 5, totalPages = 3 }, a.pagination)
      assert.are.equal("p0002", a.payload[1].id)
    end)

    it("numbers pages from 0 for zeropage", function()
      local sid = start(srv, "https://zeropage.pages-5.seconds-0.example.com/")
      local a = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=2")
      assert.are.equal(0, a.pagination.page)
      assert.are.equal("p0000", a.payload[1].id)
      a = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=2&currentPage=2")
      assert.are.equal("p0004", a.payload[1].id)
      assert.is_false(a.pagination.hasMore)
    end)

    it("never ends for endless, repeating the last page", function()
      local sid = start(srv, "https://endless.pages-5.seconds-0.example.com/")
      local last = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=2&currentPage=3")
      local far = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages?pageSize=2&currentPage=99")
      assert.is_true(last.pagination.hasMore)
      assert.is_true(far.pagination.hasMore)
      assert.are.equal(100, far.pagination.totalPages)
      assert.are.same(last.payload, far.payload)
      assert.are.equal("p0004", far.payload[1].id)
    end)

    it("builds hostile URLs for hostile", function()
      local sid = start(srv, "https://hostile.pages-40.seconds-0.example.com/")
      local urls = {}
      for _, p in ipairs(ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages").payload) do
        urls[#urls + 1] = p.url
      end
      local all = table.concat(urls, "\n")
      for _, bad in ipairs({ "/../", "..%2f", "%00", "/CON\n", "/aux.txt", "/nul\n", "//etc/",
                             "/Case/Page", "/case/page", "?x=1", "?x=2", "caf\195\169",
                             "trailing-dot.\n" }) do
        assert.truthy(all:find(bad, 1, true), bad)
      end
      local long = false
      for _, u in ipairs(urls) do long = long or #u > 300 end
      assert.is_true(long)
    end)
  end)

  describe("page content", function()
    it("serves html, md and markdown, 400s other formats, 404s pages not done", function()
      local sid = start(srv, "https://pages-3.seconds-0.example.com/")
      local a = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages/p0001")
      assert.are.equal("error,pageFormat,pageId,payload,sessionId", keys(a))
      assert.are.equal("html", a.pageFormat)
      assert.are.equal("p0001", a.pageId)
      assert.truthy(a.payload:find("<title>Page 1 of pages-3.seconds-0.example.com</title>", 1, true))
      for _, fmt in ipairs({ "md", "markdown" }) do
        a = ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages/p0001?format=" .. fmt)
        assert.are.equal(fmt, a.pageFormat)
        assert.truthy(a.payload:find("# Page 1 of pages-3.seconds-0.example.com\n", 1, true))
        assert.falsy(a.payload:find("<p>", 1, true))
      end
      local _, code = call(srv, "GET", "/v4/crawl/" .. sid .. "/pages/p0001?format=pdf")
      assert.are.equal(400, code)
      _, code = call(srv, "GET", "/v4/crawl/" .. sid .. "/pages/p0009")
      assert.are.equal(404, code)
      local slow = start(srv, "https://pages-3.seconds-30.example.com/")
      local text
      text, code = call(srv, "GET", "/v4/crawl/" .. slow .. "/pages/p0002")
      assert.are.equal(404, code)
      assert.truthy(text:find("not crawled yet", 1, true))
    end)

    it("delays pages by latency-MS", function()
      local sid = start(srv, "https://latency-300.pages-2.seconds-0.example.com/")
      local _, code, secs = call(srv, "GET", "/v4/crawl/" .. sid .. "/pages/p0001")
      assert.are.equal(200, code)
      assert.is_true(secs >= 0.3, tostring(secs))   -- a lower bound: load only adds to it
    end)
  end)

  describe("stored data", function()
    it("lists DONE pages (or all) and serves their html from the bucket", function()
      local sid = start(srv, "https://pages-20.seconds-6.example.com/")   -- a page per 0.3 s
      local done
      for _ = 1, 100 do   -- until some page is DONE (on any sane machine, not all of them)
        done = ok(srv, "GET", "/v4/crawl/" .. sid .. "/list")
        if #done.data > 0 then break end
        sleep(0.1)
      end
      assert.are.equal("data,totalPages", keys(done))
      assert.is_true(#done.data >= 1 and #done.data < 20, tostring(#done.data))
      assert.are.equal(#done.data, done.totalPages)
      local row = done.data[1]
      assert.are.equal("created_at,html_filename,is_match,json_filename,match_score,matched_fields,"
        .. "processed_html_filename,screenshot_filename,status,total_fields,url", keys(row))
      assert.are.equal(b64(sid .. "/p0000.html"), row.html_filename)
      local every = ok(srv, "GET", "/v4/crawl/" .. sid .. "/list?includeAll=true")
      assert.is_true(#every.data > #done.data)
      assert.are.equal(cjson.null, every.data[#every.data].html_filename)
      local _, code = call(srv, "GET", "/v4/crawl/" .. sid .. "/list?includeAll=maybe")
      assert.are.equal(400, code)

      local head = sh("curl -s -D - -o /dev/null -H 'x-api-key: test-key' '" .. srv.url
        .. "/v4/crawl/bucket/data/" .. row.html_filename .. "'")
      assert.truthy(head:find("Content-Type: text/html; charset=utf-8\r\n", 1, true))
      local html = call(srv, "GET", "/v4/crawl/bucket/data/" .. row.html_filename)
      assert.are.equal(ok(srv, "GET", "/v4/crawl/" .. sid .. "/pages/p0000").payload, html)
      _, code = call(srv, "GET", "/v4/crawl/bucket/data/" .. b64(sid .. "/p0019.html"))
      assert.are.equal(404, code)
      _, code = call(srv, "GET", "/v4/crawl/bucket/data/bm9wZQ==")
      assert.are.equal(404, code)
    end)
  end)

  describe("sessions and configs", function()
    it("lists sessions newest first, in pages, with live stats", function()
      local own = mock.start()
      local ids = {}
      for i = 1, 3 do ids[i] = start(own, "https://pages-3.seconds-0.site" .. i .. ".example/") end
      local a = ok(own, "GET", "/v4/crawl/sessions?pageSize=2")
      assert.are.equal("data,pagination", keys(a))
      assert.are.same({ page = 1, pageSize = 2, totalItems = 3, totalPages = 2, hasMore = true },
        a.pagination)
      local item = a.data[1]
      assert.are.equal(ids[3], item.sessionId)
      assert.are.equal("activeJobs,configId,crawledPages,createdAt,domain,finished,sessionId,startUrls,"
        .. "userId,waitingJobs", keys(item))
      assert.are.equal("pages-3.seconds-0.site3.example", item.domain)
      assert.are.equal(3, item.crawledPages)
      assert.is_true(item.finished)
      a = ok(own, "GET", "/v4/crawl/sessions?pageSize=2&page=2")
      assert.are.equal(ids[1], a.data[1].sessionId)
      assert.is_false(a.pagination.hasMore)
      assert.are.equal(25, ok(own, "GET", "/v4/crawl/sessions").pagination.pageSize)
      assert.are.equal(0, #ok(own, "GET", "/v4/crawl/sessions?userId=someone-else").data)
      assert.are.equal(3, #ok(own, "GET", "/v4/crawl/sessions?userId=mock-user").data)
      for _, q in ipairs({ "?pageSize=101", "?pageSize=0", "?page=0", "?page=x" }) do
        local _, code = call(own, "GET", "/v4/crawl/sessions" .. q)
        assert.are.equal(400, code, q)
      end
      own:stop()
    end)

    it("creates, gets, starts from and deletes configs", function()
      local c = ok(srv, "POST", "/v4/crawl/config",
        '{"url":"https://pages-9.seconds-0.example.com/","maxPages":2,"strictDomain":false}')
      assert.are.equal("configId,createdAt,maxPages,strictDomain,url,userId", keys(c))
      assert.truthy(c.configId:match(UUID4))
      assert.are.same(c, ok(srv, "GET", "/v4/crawl/config/" .. c.configId))
      local s = ok(srv, "POST", "/v4/crawl/start", cjson.encode({ configId = c.configId }))
      assert.are.equal("configId,error,message,sessionId", keys(s))
      assert.are.equal(c.configId, s.configId)
      assert.are.equal(2, #ok(srv, "GET", "/v4/crawl/" .. s.sessionId .. "/pages").payload)
      local d = ok(srv, "DELETE", "/v4/crawl/config", cjson.encode({ configId = c.configId }))
      assert.are.same({ configId = c.configId, deleted = true }, d)
      local _, code = call(srv, "GET", "/v4/crawl/config/" .. c.configId)
      assert.are.equal(404, code)
      _, code = call(srv, "DELETE", "/v4/crawl/config", cjson.encode({ configId = c.configId }))
      assert.are.equal(404, code)
      _, code = call(srv, "POST", "/v4/crawl/start", cjson.encode({ configId = c.configId }))
      assert.are.equal(404, code)
      for _, r in ipairs({ { "POST", "/v4/crawl/config", '{"maxPages":0,"url":"https://x"}' },
                           { "POST", "/v4/crawl/config",
                             '{"extractionOptions":{"bogus":1},"url":"https://x"}' },
                           { "POST", "/v4/crawl/config", "{}" },
                           { "POST", "/v4/crawl/start", '{"configId":7}' },
                           { "DELETE", "/v4/crawl/config", "nope" } }) do
        _, code = call(srv, r[1], r[2], r[3])
        assert.are.equal(400, code, r[3])
      end
    end)
  end)

  describe("faults and introspection", function()
    it("lets ids, config ids, file names and userId pick a behaviour on the new routes", function()
      local _, code = call(srv, "GET", "/v4/crawl/status-503/pages")
      assert.are.equal(503, code)
      _, code = call(srv, "GET", "/v4/crawl/status-502/pages/p0001?format=md")
      assert.are.equal(502, code)
      _, code = call(srv, "POST", "/v4/crawl/pause", '{"sessionId":"status-409"}')
      assert.are.equal(409, code)
      _, code = call(srv, "GET", "/v4/crawl/config/old-shape-500")
      assert.are.equal(500, code)
      _, code = call(srv, "DELETE", "/v4/crawl/config", '{"configId":"status-500"}')
      assert.are.equal(500, code)
      _, code = call(srv, "GET", "/v4/crawl/bucket/data/html-504")
      assert.are.equal(504, code)
      _, code = call(srv, "GET", "/v4/crawl/sessions?userId=retry-after-3")
      assert.are.equal(429, code)
      local text
      text, code = call(srv, "GET", "/v4/crawl/invalid-json/list")
      assert.are.equal(200, code)
      assert.are.equal('{"payload": {"crawledPages": 14,', text)
      -- "the default 200" of a behaviour is the route's own answer
      _, code = call(srv, "GET", "/v4/crawl/flaky-1-pages/pages")
      assert.are.equal(503, code)
      local a = ok(srv, "GET", "/v4/crawl/flaky-1-pages/pages")
      assert.are.equal(14, a.pagination.totalItems)
      assert.are.equal("flaky-1-pages", a.sessionId)
      _, code, a = call(srv, "GET", "/v4/crawl/slow-300/pages/p0002")
      assert.are.equal(200, code)
      assert.is_true(a >= 0.3)
    end)

    it("records a faulted start before acting the fault out, and counts starts at /mock/starts", function()
      local own = mock.start()
      local function starts()
        local text = sh("curl -s '" .. own.url .. "/mock/starts'")
        return json(text)
      end
      assert.are.same({ count = 0, urls = {} }, starts())
      local text, code = call(own, "POST", "/v4/crawl/", '{"url":"https://fault-status-503.example/"}')
      assert.are.equal(503, code)
      assert.are.equal('{"error":true,"message":"mock 503: Service Unavailable",'
        .. '"details":{"code":503}}', text)
      local _
      _, code = call(own, "POST", "/v4/crawl/", '{"url":"https://fault-hang.example/"}', "-m 0.5")
      assert.are.equal(0, code)
      _, code = call({ key = "bad", url = own.url }, "POST", "/v4/crawl/", '{"url":"https://a.example/"}')
      assert.are.equal(401, code)
      -- a flaky start: each try starts a crawl; the retry gets the real answer
      _, code = call(own, "POST", "/v4/crawl/", '{"url":"https://fault-flaky-1-s.example/"}')
      assert.are.equal(503, code)
      local a = ok(own, "POST", "/v4/crawl/", '{"url":"https://fault-flaky-1-s.example/"}')
      assert.truthy(a.sessionId:match(UUID4))
      local s = starts()
      assert.are.equal(5, s.count)
      assert.are.same({ "https://fault-status-503.example/", "https://fault-hang.example/",
                        "https://a.example/", "https://fault-flaky-1-s.example/",
                        "https://fault-flaky-1-s.example/" }, s.urls)
      -- the 503s and the hang started crawls all the same (the 401 did not)
      local domains = {}
      for _, item in ipairs(ok(own, "GET", "/v4/crawl/sessions").data) do
        domains[#domains + 1] = item.domain
      end
      assert.are.equal("fault-flaky-1-s.example,fault-flaky-1-s.example,fault-hang.example,"
        .. "fault-status-503.example", table.concat(domains, ","))
      assert.are.equal(a.sessionId, ok(own, "GET", "/v4/crawl/sessions").data[1].sessionId)
      own:stop()
    end)

    -- raw sockets, so nothing on the client side retries or reconnects
    local function raw(script)
      return sh(mock.python .. " -c " .. quote([[
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
def get(path):
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\n\r\n" % path).encode())
def read():
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(4096)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < n:
        body += s.recv(4096)
    return head
]] .. script) .. " " .. srv.port)
    end

    it("close-after answers keep-alive style, then closes the connection", function()
      local out = raw([[
get("/v4/crawl/close-after/status")
head = read()
print(b"200 OK" in head, b"connection: close" in head.lower())
print(repr(s.recv(10)))
]])
      assert.are.equal("True False\nb''\n", out)
    end)

    it("close-after-next serves the next request on that connection but drops its answer", function()
      local before = json(sh("curl -s '" .. srv.url .. "/mock/starts'")).count
      local out = raw([[
get("/v4/crawl/close-after-next/status")
head = read()
print(b"200 OK" in head, b"connection: close" in head.lower())
body = b'{"url":"https://lost.example/"}'
s.sendall(b"POST /v4/crawl/ HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\nContent-Length: %d\r\n\r\n%s"
          % (len(body), body))
print(repr(s.recv(10)))
]])
      assert.are.equal("True False\nb''\n", out)
      local after = json(sh("curl -s '" .. srv.url .. "/mock/starts'"))
      assert.are.equal(before + 1, after.count)
      assert.are.equal("https://lost.example/", after.urls[#after.urls])
    end)
  end)

  describe("contract self-check", function()
    it("turns an answer that breaks the contract into a 500", function()
      local broken = mock.start({ args = { "--break-contract" } })
      local text, code = call(broken, "POST", "/v4/crawl/", '{"url":"https://example.com"}')
      assert.are.equal(500, code)
      assert.are.equal('{"error":true,"message":"mock contract violation: $: required message is missing"}',
        text)
      text, code = call(broken, "GET", "/v4/crawl/sessions")
      assert.are.equal(500, code)
      assert.truthy(text:find("mock contract violation: ", 1, true))
      -- the legacy status table and the faults are not checked
      local _
      _, code = call(broken, "GET", "/v4/crawl/abc/status")
      assert.are.equal(200, code)
      _, code = call(broken, "GET", "/v4/crawl/status-503/pages")
      assert.are.equal(503, code)
      broken:stop()
    end)

    it("has a validator that catches each kind of drift", function()
      local dir = mock.server_path:gsub("/[^/]*$", "")
      local out = sh("cd " .. quote(dir) .. " && " .. mock.python .. " -B -c " .. quote([[
import server as m
P = "/v4/crawl/{sessionId}/pages"
good = {"payload": [{"id": "a", "url": "u", "status": "DONE"}], "sessionId": "s", "error": None,
        "pagination": {"page": 1, "pageSize": 1, "totalItems": 1, "totalPages": 1, "hasMore": False}}
def bad(**change):
    v = dict(good, **change)
    return m.check_response(("GET", P), 200, v)
print(m.check_response(("GET", P), 200, good))
print(bad(error=3))
print(bad(sessionId=None))
print(bad(payload=[{"id": "a", "url": "u", "status": "READY"}]))
print(bad(pagination={"currentPage": 1}))
print(bad(extra=1))
print(m.check_response(("GET", P), 200, {k: v for k, v in good.items() if k != "error"}))
print(m.check_response(("GET", "/v4/crawl/sessions"), 404, {"error": True, "message": "x"}))
print(m.check_response(("GET", P), 404, {"error": True, "message": "x", "details": None}))
print(m.check_response(("GET", P), 400, {"error": "yes", "message": "x"}))
]]))
      assert.are.equal(table.concat({
        "None",
        "$.error: int where string is wanted",
        "$.sessionId: null where string is wanted",
        "$.payload[0].status: 'READY' is not one of ['DONE', 'CRAWLING', 'PENDING']",
        "$.pagination: required page is missing",
        "$: extra is not in the contract",
        "$: required error is missing",
        "GET /v4/crawl/sessions does not answer 404",
        "None",
        "$.error: str where boolean is wanted", "" }, "\n"), out)
    end)
  end)
end)
