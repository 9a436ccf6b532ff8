-- The whole crawler API against the stateful mock: every call's success,
-- each error status of the contract, a malformed answer and a cut
-- connection; the iterators over both pagination shapes; a crawl and its
-- wait; a start is never sent twice; export, resumed, with hostile names.
local kadoa = require("kadoa")
local core = require("kadoa.core")
local errors = require("kadoa.errors")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")

local KEY = "sk-crawler-77e1"

local function fetch_json(url)
  local out = sub.sh("curl -s " .. sub.quote(url))
  return assert(require("cjson").decode(out))
end

describe("the crawler API", function()
  local fx = fixture.mock_client(KEY, { retries = 0 })
  local srv, client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)

  local function starts() return fetch_json(srv.url .. "/mock/starts").count end

  -- a crawl that is over at once: n pages, all DONE
  local function finished_crawl(n, labels)
    local res = assert(client:crawl(("https://pages-%d.seconds-0.%sexample.com/"):format(n, labels or "")))
    return res.sessionId
  end

  describe("each call", function()
    local sid, cfg
    setup(function()
      sid = finished_crawl(5)
      cfg = assert(client:config_create({ url = "https://pages-2.seconds-0.example.com/", maxPages = 2 }))
    end)

    it("crawl: a URL or the API's fields, the session id back", function()
      local res = assert(client:crawl({ startUrls = { "https://pages-3.example.com/" }, maxDepth = 2,
                                        pathsFilterIn = {}, strictDomain = false }))
      assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", res.sessionId)
      assert.is_string(res.message)
      assert.is_nil(res.error)
      assert.is_table(client:status(res.sessionId))
    end)

    it("pause and resume", function()
      local id = assert(client:crawl("https://pages-40.seconds-30.example.com/")).sessionId
      assert.are.equal(id, assert(client:pause(id)).sessionId)
      local a = assert(client:status(id)).payload.crawledPages
      core.sleep(0.3)
      assert.are.equal(a, assert(client:status(id)).payload.crawledPages)   -- frozen
      assert.are.equal(id, assert(client:resume(id)).sessionId)
    end)

    it("pages: one listing page, with its pagination", function()
      local p = assert(client:pages(sid, { page = 1, page_size = 2 }))
      assert.are.equal(2, #p.payload)
      assert.are.equal("DONE", p.payload[1].status)
      assert.are.equal(5, p.pagination.totalItems)
      assert.is_true(p.pagination.hasMore)
    end)

    it("page: one page's content in the format asked", function()
      local md = assert(client:page(sid, "p0000", { format = "markdown" }))
      assert.are.equal("markdown", md.pageFormat)
      assert.is_string(md.payload)
      local html = assert(client:page(sid, "p0000", { format = "html" }))
      assert.matches("<html", html.payload, 1, true)
    end)

    it("page: its content streamed to a file", function()
      local path = os.tmpname()
      local res = assert(client:page(sid, "p0001", { format = "html", path = path }))
      local whole = assert(client:page(sid, "p0001", { format = "html" })).payload
      assert.are.equal(#whole, res.payload.bytes)
      assert.are.equal(whole, sub.read(path))
      assert.are.equal("html", res.pageFormat)
      os.remove(path)
    end)

    it("session_files and file: what is stored, and its bytes", function()
      local l = assert(client:session_files(sid))
      assert.are.equal(5, l.totalPages)
      local name = l.data[1].html_filename
      local bytes = assert(client:file(name))
      assert.are.equal(assert(client:page(sid, "p0000", { format = "html" })).payload, bytes)
      local path = os.tmpname()
      assert.are.equal(#bytes, assert(client:file(name, { path = path })).bytes)
      assert.are.equal(bytes, sub.read(path))
      os.remove(path)
    end)

    it("sessions: the account's crawls with their live stats", function()
      local s = assert(client:sessions({ page = 1, page_size = 100 }))
      local found
      for _, item in ipairs(s.data) do if item.sessionId == sid then found = item end end
      assert.is_table(found)
      assert.are.equal(5, found.crawledPages)
      assert.is_true(found.finished)
    end)

    it("configs: create, get, start from, delete", function()
      assert.are.equal(cfg.configId, assert(client:config(cfg.configId)).configId)
      local started = assert(client:crawl_with_config(cfg.configId))
      assert.are.equal(cfg.configId, started.configId)
      assert.is_true(assert(client:config_delete(cfg.configId)).deleted)
      local _, err = client:config(cfg.configId)
      assert.are.equal("not_found", err.kind)
    end)

    it("every call is a shortcut on the default client too", function()
      for name in pairs(require("kadoa.api").calls) do assert.is_function(kadoa[name], name) end
    end)
  end)

  describe("failures, call by call", function()
    -- how to make each call meet a behaviour of the mock (its fault table)
    local CALLS = {
      status = function(c, f) return c:status(f) end,
      pages = function(c, f) return c:pages(f) end,
      page = function(c, f) return c:page(f, "p0000") end,
      session_files = function(c, f) return c:session_files(f) end,
      sessions = function(c, f) return c:sessions({ user_id = f }) end,
      pause = function(c, f) return c:pause(f) end,
      resume = function(c, f) return c:resume(f) end,
      crawl = function(c, f) return c:crawl("https://fault-" .. f .. ".example.com/") end,
      crawl_with_config = function(c, f) return c:crawl_with_config(f) end,
      config = function(c, f) return c:config(f) end,
      config_delete = function(c, f) return c:config_delete(f) end,
      file = function(c, f) return c:file(f) end,
    }
    local CASES = {
      { "status-400", "bad_request", 400 }, { "status-401", "auth", 401 },
      { "status-404", "not_found", 404 }, { "status-500", "server", 500 },
      { "html-502", "server", 502 }, { "invalid-json", "decode" }, { "reset", "network" },
      { "truncated", "network" },
    }
    for name, call in pairs(CALLS) do
      for _, case in ipairs(CASES) do
        -- a file is bytes, not JSON: "invalid JSON" is a fine file
        if not (name == "file" and case[1] == "invalid-json") then
          it(name .. " meets " .. case[1], function()
            local res, err = call(client, case[1])
            assert.is_nil(res)
            assert.is_true(errors.is(err))
            assert.are.equal(case[2], err.kind, tostring(err))
            if case[3] then assert.are.equal(case[3], err.status) end
            assert.is_nil(tostring(err):find(KEY, 1, true))
            assert.is_nil(tostring(err):find("\n", 1, true))
          end)
        end
      end
    end

    it("a body is checked before anything is sent", function()
      local before = starts()
      local _, err = client:crawl({ url = "https://x.example/", maxpages = 3 })
      assert.are.equal("usage", err.kind)
      assert.matches("did you mean maxPages", err.message, 1, true)
      _, err = client:crawl({ maxPages = 3 })
      assert.matches("url or startUrls", err.message, 1, true)
      _, err = client:pause("")
      assert.matches("sessionId is empty", err.message, 1, true)
      assert.are.equal(before, starts())
      assert.has_error(function() client:crawl(42) end,
        "bad argument #1 to 'crawl' (table or string expected, got number)")
      assert.has_error(function() client:page("s", 7) end,
        "bad argument #2 to 'page' (string expected, got number)")
    end)

    it("fields this version does not know go in `extra`", function()
      local res = assert(client:crawl("https://pages-1.seconds-0.example.com/",
        { extra = { futureFlag = true } }))
      assert.is_string(res.sessionId)
      local _, err = client:crawl("https://x.example/", { extra = { maxPages = 1 } })
      assert.matches("known field", err.message, 1, true)
    end)
  end)

  describe("a start is never sent twice", function()
    it("not after a timeout: err.sent, one start", function()
      local c = fx.new_client({ retries = 3, retry_base = 0.01, timeout = 0.5 })
      local before = starts()
      local _, err = c:crawl("https://fault-hang.example.com/")
      assert.are.equal("timeout", err.kind)
      assert.is_true(err.sent)
      assert.are.equal(1, err.attempts)
      assert.are.equal(before + 1, starts())
      c:close()
    end)

    it("not after a reset or a 503, though a status call would retry those", function()
      local c = fx.new_client({ retries = 3, retry_base = 0.01 })
      local before = starts()
      local _, e1 = c:crawl("https://fault-reset.example.com/")
      local _, e2 = c:crawl("https://fault-status-503.example.com/")
      assert.are.equal(1, e1.attempts)
      assert.are.equal(1, e2.attempts)
      assert.are.equal(before + 2, starts())
      local _, e3 = c:status("status-503")
      assert.are.equal(4, e3.attempts)
      c:close()
    end)

    it("not by libcurl on a pooled connection that died", function()
      -- the mock answers a status, keeps the connection, then drops it as
      -- soon as the next request (the start) arrives, unanswered
      local c = fx.new_client({ retries = 3, retry_base = 0.01 })
      local before = starts()
      assert.is_table(c:status("close-after-next"))
      local _, err = c:crawl("https://pages-1.seconds-0.example.com/")
      if err then assert.are.equal(1, err.attempts) end
      assert.are.equal(before + 1, starts())
      c:close()
    end)

    it("retried when the request surely never left (connection refused)", function()
      local sleeps = 0
      local c = fx.new_client({ base_url = "http://127.0.0.1:" .. require("spec.helpers.mock").closed_port(),
                                retries = 2, sleep = function() sleeps = sleeps + 1 end })
      local _, err = c:crawl("https://x.example/")
      assert.are.equal("network", err.kind)
      assert.is_false(err.sent)
      assert.are.equal(3, err.attempts)
      assert.are.equal(2, sleeps)
    end)
  end)

  describe("iterators", function()
    local function ids_of(iter)
      local out = {}
      for entry, err in iter do
        assert(entry, tostring(err))
        out[#out + 1] = entry.id or entry.sessionId
      end
      return out
    end

    it("each_page walks every listing page, both shapes, from 0 or 1", function()
      for _, labels in ipairs({ "", "oldpages.", "zeropage.", "oldpages.zeropage." }) do
        local id = finished_crawl(23, labels)
        local got = ids_of(client:each_page(id, { page_size = 5 }))
        assert.are.equal(23, #got, labels)
        assert.are.equal("p0000", got[1])
        assert.are.equal("p0022", got[23])
      end
    end)

    it("takes statuses as open strings (READY)", function()
      local id = finished_crawl(4, "ready.")
      for entry in client:each_page(id) do assert.are.equal("READY", entry.status) end
    end)

    it("never loops forever on a server that always says hasMore", function()
      local id = finished_crawl(7, "endless.")
      assert.are.equal(7, #ids_of(client:each_page(id, { page_size = 3 })))
    end)

    it("gives an error to the loop body once, then stops", function()
      local n, seen = 0, nil
      for entry, err in client:each_page("status-500") do
        n = n + 1
        assert.is_false(entry)
        seen = err
      end
      assert.are.equal(1, n)
      assert.are.equal("server", seen.kind)
      n = 0
      for entry, err in client:each_page("s", { page_size = 0 }) do
        n = n + 1
        assert.is_false(entry)
        assert.are.equal("usage", err.kind)
      end
      assert.are.equal(1, n)
    end)

    it("each_session walks every session", function()
      local mine = finished_crawl(1)
      local found = false
      local count = 0
      for item, err in client:each_session({ page_size = 2 }) do
        assert(item, tostring(err))
        count = count + 1
        if item.sessionId == mine then found = true end
      end
      assert.is_true(found)
      assert.are.equal(assert(client:sessions()).pagination.totalItems, count)
    end)
  end)

  describe("a crawl and its wait", function()
    it("starts, waits with on_update, and returns the final status", function()
      local updates = 0
      local res, err = client:crawl("https://pages-9.seconds-1.example.com/",
        { wait = { interval = 0.1, on_update = function() updates = updates + 1 end } })
      assert.is_table(res, tostring(err))
      assert.is_true(res.payload.finished)
      assert.are.equal(9, res.payload.crawledPages)
      assert.is_string(res.sessionId)
      assert.is_true(updates >= 2)
    end)

    it("polls a fresh session again while it answers 404", function()
      local res, err = client:crawl("https://pages-3.seconds-0.fresh404-1.example.com/",
        { wait = { interval = 0.2 } })
      assert.is_table(res, tostring(err))
      assert.is_true(res.payload.finished)
    end)

    it("names the session in the error when the crawl fails", function()
      local res, err = client:crawl("https://pages-5.seconds-0.5.failing.example.com/",
        { wait = { interval = 0.1 } })
      assert.is_nil(res)
      assert.are.equal("crawl_failed", err.kind)
      assert.matches("^%x+%-", err.session_id)
    end)
  end)

  describe("export", function()
    local function ls(dir)
      local out = {}
      for name in sub.sh("ls -A " .. sub.quote(dir)):gmatch("[^\n]+") do out[#out + 1] = name end
      return out
    end
    local function tmpdir() return (sub.sh("mktemp -d"):gsub("%s+$", "")) end

    it("writes every page into its own file, and an index", function()
      local id = finished_crawl(12)
      local dir = tmpdir()
      local progress = 0
      local s = assert(client:export(id, dir .. "/out", { concurrency = 4,
        on_progress = function(p) progress = p.done end }))
      assert.are.same({ 12, 12, 0, 0 }, { s.total, s.written, s.skipped, s.failed })
      assert.are.equal(12, progress)
      assert.are.equal(13, #ls(dir .. "/out"))
      local lines = 0
      for line in io.lines(dir .. "/out/index.jsonl") do
        local e = assert(client.transport:decode(line))
        assert.are.equal("written", e.status)
        assert.are.equal(e.bytes, #sub.read(dir .. "/out/" .. e.file))
        lines = lines + 1
      end
      assert.are.equal(12, lines)
      local first = assert(client:page(id, "p0003", { format = "markdown" })).payload
      local e4
      for line in io.lines(dir .. "/out/index.jsonl") do
        local e = client.transport:decode(line)
        if e.id == "p0003" then e4 = e end
      end
      assert.are.equal(first, sub.read(dir .. "/out/" .. e4.file))
      os.execute("rm -rf " .. sub.quote(dir))
    end)

    it("resumes after an interruption, writing each page exactly once", function()
      local id = finished_crawl(20)
      local dir = tmpdir()
      local ok = pcall(client.export, client, id, dir, { concurrency = 2,
        on_progress = function(p) if p.done == 8 then error("interrupted!") end end })
      assert.is_false(ok)
      local inode = {}
      for _, name in ipairs(ls(dir)) do
        if name:match("%.md$") then
          inode[name] = sub.sh("stat -c %i.%Y " .. sub.quote(dir .. "/" .. name))
        end
      end
      local written = 0
      for _ in pairs(inode) do written = written + 1 end
      assert.is_true(written >= 8 and written < 20, tostring(written))
      local s = assert(client:export(id, dir))
      assert.are.equal(written, s.skipped)
      assert.are.equal(20 - written, s.written)
      for name, stamp in pairs(inode) do
        assert.are.equal(stamp, sub.sh("stat -c %i.%Y " .. sub.quote(dir .. "/" .. name)), name)
      end
      local md = 0
      for _, name in ipairs(ls(dir)) do
        assert.is_nil(name:match("%.part$"), name)
        if name:match("%.md$") then md = md + 1 end
      end
      assert.are.equal(20, md)
      os.execute("rm -rf " .. sub.quote(dir))
    end)

    it("keeps every hostile URL's file inside the folder", function()
      local id = finished_crawl(30, "hostile.")
      local root = tmpdir()
      local dir = root .. "/inside"
      local s = assert(client:export(id, dir))
      assert.are.equal(30, s.written)
      assert.are.equal("inside", sub.sh("ls " .. sub.quote(root)):gsub("%s+$", ""))
      local seen = {}
      for _, name in ipairs(ls(dir)) do
        assert.is_nil(name:find("/", 1, true))
        assert.is_falsy(name:match("^%."), name)
        assert.is_true(#name <= 120, name)
        local stem = name:match("^([^.]*)"):upper()
        assert.is_falsy(stem:match("^CON$") or stem:match("^NUL$") or stem:match("^AUX$")
          or stem:match("^COM%d$") or stem:match("^LPT%d$"), name)
        assert.is_nil(seen[name:lower()], "two names differ only by case: " .. name)
        seen[name:lower()] = true
      end
      os.execute("rm -rf " .. sub.quote(root))
    end)

    it("lists a page that failed, and pages not crawled yet", function()
      local id = assert(client:crawl("https://pages-30.seconds-30.example.com/")).sessionId
      core.sleep(0.3)
      local dir = tmpdir()
      local s = assert(client:export(id, dir))
      assert.is_true(s.pending > 0)
      assert.are.equal(s.total, s.written + s.pending + s.failed)
      local statuses = {}
      for line in io.lines(dir .. "/index.jsonl") do
        local e = client.transport:decode(line)
        statuses[e.status] = (statuses[e.status] or 0) + 1
      end
      assert.are.equal(s.pending, statuses.pending)
      os.execute("rm -rf " .. sub.quote(dir))
    end)

    it("streams pages larger than max_body: memory holds only the rest of the answer", function()
      local id = finished_crawl(3, "bytes-200000.")
      local small = fx.new_client({ max_body = 16384 })
      local _, err = small:page(id, "p0000")
      assert.are.equal("too_large", err.kind)          -- in memory it does not fit
      local dir = tmpdir()
      local s = assert(small:export(id, dir))
      assert.are.equal(3, s.written)
      for line in io.lines(dir .. "/index.jsonl") do
        local e = small.transport:decode(line)
        assert.is_true(e.bytes > 190000, tostring(e.bytes))
        assert.are.equal(assert(client:page(id, e.id, { format = "markdown" })).payload,
          sub.read(dir .. "/" .. e.file))
      end
      small:close()
      os.execute("rm -rf " .. sub.quote(dir))
    end)

    it("reports a folder it cannot make", function()
      local _, err = client:export("x", "/proc/kadoa-cannot/here")
      assert.are.equal("io", err.kind)
    end)
  end)
end)
