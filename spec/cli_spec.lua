-- bin/kadoa end to end: the real command in a fresh interpreter of the
-- same Lua version, against the real mock server, its stdout, stderr and
-- exit code checked. One test drives it under a pseudo-terminal (tmux)
-- and reads the screen; two interrupt it with SIGINT.

local mock = require("spec.helpers.mock")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")
local write = sub.write
local function read(path) return sub.read(path) or "" end
local core = require("kadoa.core")
local kadoa = require("kadoa")

-- Distinctive, so a leak anywhere is found by a plain search.
local KEY = "sk-cli-Zq7vK3pX9wR2-do-not-print"

local function lines(s)
  local t = {}
  for line in s:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  return t
end

local function contains(s, text) return s:find(text, 1, true) ~= nil end

-- os.execute's success on every Lua: true (5.2+) or 0 (5.1, LuaJIT)
local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function no_key(...)
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    assert(not contains(s, KEY), "the API key was printed:\n" .. s)
  end
end

-- Poll until f() is true; a failure after `limit` seconds is a hung run,
-- never a timing assertion.
local function eventually(f, limit, what)
  local stop = core.monotime() + (limit or 30)
  while not f() do
    assert(core.monotime() < stop, "gave up waiting for " .. (what or "a condition"))
    core.sleep(0.05)
  end
end

describe("the kadoa command", function()
  local fx = fixture.mock_client(KEY)
  local srv, client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)
  local count = 0

  -- a fresh scripted crawl each time: the mock keeps state per exact id
  local function tag()
    count = count + 1
    return sub.interpreter .. "-" .. count
  end

  local function environment(env)
    local e = { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url, NO_COLOR = false }
    for k, v in pairs(env or {}) do e[k] = v end
    return e
  end

  local function command(args, env)
    local quoted = {}
    for i, a in ipairs(args) do quoted[i] = sub.quote(a) end
    return sub.command(environment(env)) .. " bin/kadoa " .. table.concat(quoted, " ")
  end

  -- run({ args }, env, stdin_path) -> { out, err, code }
  local function run(args, env, stdin)
    local o, e, rc = os.tmpname(), os.tmpname(), os.tmpname()
    os.execute(command(args, env) .. " <" .. (stdin or "/dev/null") .. " >" .. o .. " 2>" .. e
      .. "; echo $? >" .. rc)
    local r = { out = read(o), err = read(e), code = tonumber(read(rc):match("%d+")) }
    os.remove(o) os.remove(e) os.remove(rc)
    no_key(r.out, r.err)
    return r
  end

  -- Start the command in the background: returns its pid, a pipe that
  -- gives its exit code once it ends, and its output files.
  local function start(args)
    local o, e = os.tmpname(), os.tmpname()
    local p = assert(io.popen(command(args) .. " </dev/null >" .. o .. " 2>" .. e
      .. " & pid=$!; echo $pid; wait $pid; echo $?", "r"))
    local pid = assert(tonumber(p:read("*l")))
    return { pid = pid, pipe = p, out = o, err = e }
  end

  local function interrupt(job)
    assert.is_true(execute("kill -INT " .. job.pid))
    local code = tonumber(job.pipe:read("*l"))
    job.pipe:close()
    local r = { out = read(job.out), err = read(job.err), code = code }
    os.remove(job.out) os.remove(job.err)
    no_key(r.out, r.err)
    return r
  end

  describe("status", function()
    it("prints one line per id, in order, and exits 0", function()
      local r = run({ "status", "sess-a", "sess-b" })
      assert.are.equal(0, r.code)
      assert.are.same({
        "sess-a  finished  14 pages (0 active, 0 waiting)",
        "sess-b  finished  14 pages (0 active, 0 waiting)",
      }, lines(r.out))
      assert.are.equal("", r.err)
    end)

    it("reports an id that fails on stderr, prints the others and exits 3", function()
      local r = run({ "status", "sess-a", "status-404", "sess-b" })
      assert.are.equal(3, r.code)
      assert.are.same({
        "sess-a  finished  14 pages (0 active, 0 waiting)",
        "sess-b  finished  14 pages (0 active, 0 waiting)",
      }, lines(r.out))
      local err = lines(r.err)
      assert.are.equal(1, #err)
      assert.matches("^kadoa: status%-404: not found: mock 404: Not Found %(HTTP 404", err[1])
    end)

    it("exits 1 when a crawl failed", function()
      local r = run({ "status", "sess-a", "failed" })
      assert.are.equal(1, r.code)
      assert.are.same({
        "sess-a  finished  14 pages (0 active, 0 waiting)",
        "failed  failed: Crawl failed: target returned HTTP 500  3 pages",
      }, lines(r.out))
    end)

    it("--json prints exactly the API's body, one object per line", function()
      local ids = { "sess-json", "nulls", "types", "invalid-utf8" }
      local want = {}
      for i, id in ipairs(ids) do want[i] = assert(client:status_json(id)) .. "\n" end
      local r = run({ "status", "--json", ids[1], ids[2], ids[3], ids[4] })
      assert.are.equal(0, r.code)
      assert.are.equal(table.concat(want), r.out)
      assert.are.equal(4, #lines(r.out))
    end)

    it("--json leaves out what cannot be fetched, or is no JSON object", function()
      local r = run({ "status", "--json", "status-404", "html-200", "sess-j", "failed" })
      assert.are.equal(3, r.code)
      assert.are.equal(assert(client:status_json("sess-j")) .. "\n"
        .. assert(client:status_json("failed")) .. "\n", r.out)
      assert.matches("status%-404: not found", r.err)
      assert.matches("html%-200: decode: ", r.err)
    end)

    it("--long gives the aligned view, one block per id", function()
      local r = run({ "status", "--long", "failed", "types" })
      assert.are.equal(1, r.code)
      local out = lines(r.out)
      assert.are.same({
        "session       failed",
        "state         failed",
        "pages         3",
        "active jobs   -",
        "waiting jobs  -",
        "error         Crawl failed: target returned HTTP 500",
        "",
        "session       types",
        "state         crawling",
      }, { (table.unpack or unpack)(out, 1, 9) })
      -- fields the view does not know are listed, sorted
      assert.are.equal("big           9.007199254741e+15", out[13])
      assert.are.equal("unicode       h\195\169llo \226\156\147 \230\151\165\230\156\172", out[#out])
    end)
  end)

  describe("wait", function()
    local function check_plain(out)
      assert.is_nil(out:find("[\r\27]"), "plain output has no terminal control")
    end

    -- the state part of a plain line, without rate and elapsed time
    local function state(line)
      return (line:gsub("  %d+ pages/min", ""):gsub("  [%dhms.]+$", ""))
    end

    it("prints one plain line per change and exits 0 when the crawl finishes", function()
      local id = "demo-finishing-2-" .. tag()
      local r = run({ "wait", id, "--interval", "0.2" })
      assert.are.equal(0, r.code)
      check_plain(r.out)
      local out = lines(r.out)
      assert.is_true(#out >= 3)
      local last_pages = -1
      for i, line in ipairs(out) do
        local pages = tonumber(line:match("  (%d+) pages"))
        assert.is_true(pages >= last_pages, line)
        last_pages = pages
        if i > 1 then assert.are_not.equal(state(out[i - 1]), state(line)) end
        if i < #out then assert.matches("^demo…%S+  crawling  %d+ pages %(", line) end
        assert.matches("  %d+%.%ds$", line)
      end
      assert.matches("^demo…%S+  finished  47 pages %(0 active, 0 waiting%)  %d+ pages/min  "
        .. "%d+%.%ds$", out[#out])
      assert.matches("^kadoa: waiting for " .. id:gsub("%-", "%%-")
        .. " %(polling every 200ms, timeout 1h%)\n$", r.err)
    end)

    it("exits 1 when the crawl fails, the failure on the last line", function()
      local r = run({ "wait", "demo-failing-1-" .. tag(), "--interval=0.2" })
      assert.are.equal(1, r.code)
      check_plain(r.out)
      local out = lines(r.out)
      assert.matches("  failed: Crawl failed: target site blocked the crawler  27 pages", out[#out])
      for i = 1, #out - 1 do assert.matches("  crawling  ", out[i]) end
    end)

    it("exits 4 when --timeout runs out, saying so", function()
      local r = run({ "wait", "demo-finishing-60-" .. tag(), "--interval", "100ms", "--timeout", "0.5" })
      assert.are.equal(4, r.code)
      assert.matches("crawling  0 pages", r.out)
      assert.matches("\nkadoa: timed out: crawl not finished after %d+%.%d s\n$", r.err)
    end)

    it("exits 3 at once on a missing crawl", function()
      local r = run({ "wait", "status-404", "--interval", "0.05" })
      assert.are.equal(3, r.code)
      assert.are.equal("", r.out)
      assert.matches("\nkadoa: not found: mock 404: Not Found %(HTTP 404", r.err)
    end)

    it("retries transient failures and goes on", function()
      local r = run({ "wait", "flaky-2-" .. tag(), "--interval", "0.05" })
      assert.are.equal(0, r.code)
      assert.matches("  finished  14 pages", r.out)
      local _, retries = r.err:gsub("server: mock 503[^\n]*; trying again\n", "")
      assert.are.equal(2, retries)
    end)

    it("exits 3 when failures keep coming", function()
      local port = mock.closed_port()
      local r = run({ "wait", "sess-x", "--interval", "0.02", "--base-url", "http://127.0.0.1:" .. port })
      assert.are.equal(3, r.code)
      local _, retries = r.err:gsub("network: [^\n]*; trying again\n", "")
      assert.are.equal(4, retries)
      assert.matches("\nkadoa: network: [^\n]*%(5 failures in a row%)\n$", r.err)
    end)

    it("prints plain lines with NO_COLOR and with --plain", function()
      for _, r in ipairs({ run({ "wait", "sess-nc" }, { NO_COLOR = "1" }),
                           run({ "wait", "--plain", "sess-pl" }) }) do
        assert.are.equal(0, r.code)
        check_plain(r.out)
        assert.matches("^sess%-%a%a  finished  14 pages %(0 active, 0 waiting%)  %d+%.%ds\n$", r.out)
      end
    end)

    describe("interrupted with SIGINT", function()
      it("between polls: exits 130 with the last state printed", function()
        local job = start({ "wait", "demo-finishing-60-" .. tag(), "--interval", "0.2" })
        eventually(function() return contains(read(job.out), "\n") end, 30, "the first state line")
        local r = interrupt(job)
        assert.are.equal(130, r.code)
        local out = lines(r.out)
        assert.is_true(#out >= 2)
        assert.matches("^demo…%S+  crawling  %d+ pages %(%d+ active, %d+ waiting%)  ", out[#out])
        assert.matches("\nkadoa: interrupted after %d+%.%ds\n$", r.err)
      end)

      it("during a slow request: stops without waiting for the answer", function()
        -- demo-slow answers after 30 s; a blocking request would only see
        -- the interrupt then. The bound below is a third of that, far
        -- above the tenth of a second it takes.
        local job = start({ "wait", "demo-slow-30000-" .. tag() })
        eventually(function() return contains(read(job.err), "waiting for") end, 30, "the start")
        core.sleep(0.2)   -- let the request start
        local t0 = core.monotime()
        local r = interrupt(job)
        assert.is_true(core.monotime() - t0 < 10, "the interrupt waited for the answer")
        assert.are.equal(130, r.code)
        assert.matches("^demo…%S+  no answer yet  %d+%.%ds\n$", r.out)
        assert.matches("\nkadoa: interrupted after %d+%.%ds\n$", r.err)
      end)
    end)
  end)

  describe("status interrupted with SIGINT", function()
    it("stops a slow request at once: exit 130, nothing printed", function()
      local job = start({ "status", "demo-slow-30000-" .. tag() })
      -- the interpreter catches SIGINT once it runs the script
      eventually(function()
        local mask = read("/proc/" .. job.pid .. "/status"):match("\nSigCgt:%s*(%x+)")
        return mask and tonumber(mask:sub(-1), 16) % 4 >= 2
      end, 30, "the interpreter to catch SIGINT")
      core.sleep(0.2)   -- let the request start
      local t0 = core.monotime()
      local r = interrupt(job)
      assert.is_true(core.monotime() - t0 < 10, "the interrupt waited for the answer")
      assert.are.equal(130, r.code)
      assert.are.equal("", r.out)
      assert.are.equal("kadoa: interrupted\n", r.err)
    end)
  end)

  describe("on a terminal", function()
    local has_tmux = execute("command -v tmux >/dev/null 2>&1")

    it("redraws one live line that ends as finished, 47 pages", function()
      if not has_tmux then return pending("tmux is not installed") end
      local sock = ("kadoa-cli-spec-%s-%d-%s"):format(sub.interpreter, os.time(),
        tostring({}):match("0x(%x+)") or "0")
      local tmux = "tmux -L " .. sub.quote(sock) .. " -f /dev/null "
      finally(function() os.execute(tmux .. "kill-server >/dev/null 2>&1") end)
      -- the live wait, then the same command with NO_COLOR on the same terminal
      local script = command({ "wait", "demo-finishing-2-" .. tag(), "--interval", "0.2" })
        .. "; echo KADOA_EXIT=$?; "
        .. command({ "wait", "sess-nocolor" }, { NO_COLOR = "1" })
        .. "; echo KADOA_EXIT2=$?; sleep 60"
      assert.is_true(execute(tmux .. "new-session -d -x 100 -y 20 " .. sub.quote(script)))
      local screen
      eventually(function()
        local p = io.popen(tmux .. "capture-pane -p 2>/dev/null")
        screen = p:read("*a")
        p:close()
        return contains(screen, "KADOA_EXIT2=")
      end, 60, "the commands in tmux to end")
      no_key(screen)

      local rows = lines(screen)
      local exit_row
      for i, row in ipairs(rows) do
        if row:find("^KADOA_EXIT=") then exit_row = i break end
      end
      assert.are.equal("KADOA_EXIT=0", rows[exit_row])
      -- the live wait left exactly one line: the final state, drawn over
      -- every earlier one
      assert.are.equal(1, exit_row - 1, screen)
      assert.matches("^%S+ demo…%S+  finished  47 pages %(0 active, 0 waiting%)  %d+ pages/min  %d+%.%ds%s*$",
        rows[1])
      assert.is_nil(screen:find("crawling", 1, true))
      -- with NO_COLOR: the plain header and one plain line, no mark
      assert.matches("^kadoa: waiting for sess%-nocolor ", rows[exit_row + 1])
      assert.matches("^sess%-nocolor  finished  14 pages %(0 active, 0 waiting%)  %d+%.%ds%s*$",
        rows[exit_row + 2])
      assert.are.equal("KADOA_EXIT2=0", rows[exit_row + 3])
    end)
  end)

  describe("the crawler verbs", function()
    local UUID = "^%x+%-%x+%-%x+%-%x+%-%x+$"

    local function decode(s) return assert(client.transport:decode(s)) end

    -- start a crawl through the command, as a script would: its stdout
    -- is the id and a line break, nothing else
    local function crawl(url, ...)
      local r = run({ "crawl", url, ... })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("", r.err)
      local id = r.out:match("^(%S+)\n$")
      assert.matches(UUID, id)
      return id
    end

    local function tmpdir()
      local dir = os.tmpname()
      os.remove(dir)
      assert.is_true(execute("mkdir -p " .. sub.quote(dir)))
      return dir
    end

    local function files(dir)
      local t = {}
      local p = io.popen("cd " .. sub.quote(dir) .. " && find . -type f | sort")
      for line in p:lines() do t[#t + 1] = line:sub(3) end
      p:close()
      return t
    end

    describe("crawl", function()
      it("prints exactly the session id and a line break: id=$(kadoa crawl URL)", function()
        local r = run({ "crawl", "https://pages-7.seconds-0.example.com/" })
        assert.are.equal(0, r.code)
        assert.are.equal("", r.err)
        assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+\n$", r.out)
        -- and through a shell's command substitution, the id alone
        local out = sub.sh("id=$(" .. command({ "crawl", "https://pages-7.seconds-0.example.com/" })
          .. ") && printf '[%s]' \"$id\"")
        assert.matches("^%[%x+%-%x+%-%x+%-%x+%-%x+%]$", out)
        local res = assert(client:status((r.out:gsub("\n", ""))))
        assert.are.equal(7, res.payload.crawledPages)
      end)

      it("sends flags as the API's fields, over a --body file's", function()
        local body = os.tmpname()
        finally(function() os.remove(body) end)
        write(body, '{"url": "https://pages-50.seconds-0.example.com/", "maxPages": 9, "maxDepth": 2}')
        local id = crawl("--body", body)
        assert.are.equal(9, assert(client:status(id)).payload.crawledPages)
        id = crawl("--body", body, "--max-pages", "4", "--filter-in", "/docs/", "--filter-in", "/blog/",
          "--filter-out", "/about/")
        assert.are.equal(4, assert(client:status(id)).payload.crawledPages)
        -- several URLs become startUrls: the first pages are those URLs
        id = crawl("https://pages-5.seconds-0.example.com/a", "https://pages-5.seconds-0.example.com/b")
        local r = run({ "pages", id })
        assert.are.equal(0, r.code)
        local out = lines(r.out)
        assert.matches("  https://pages%-5%.seconds%-0%.example%.com/a$", out[1])
        assert.matches("  https://pages%-5%.seconds%-0%.example%.com/b$", out[2])
      end)

      it("--wait prints the id first, then watches to the end: exit 0", function()
        local r = run({ "crawl", "https://pages-12.seconds-1.example.com/", "--wait", "--interval", "0.2" })
        assert.are.equal(0, r.code, r.err)
        local out = lines(r.out)
        assert.matches(UUID, out[1])
        assert.is_true(#out >= 3)
        assert.is_nil(r.out:find("[\r\27]"))
        assert.matches("^%x+…%x+  finished  12 pages %(0 active, 0 waiting%)  ", out[#out])
        assert.matches("^kadoa: waiting for " .. out[1]:gsub("%-", "%%-") .. " %(polling every 200ms", r.err)
      end)

      it("--wait gives a fresh session time to appear (it answers 404 at first)", function()
        local r = run({ "crawl", "https://fresh404-1.pages-6.seconds-0.example.com/", "--wait",
          "--interval", "0.2" })
        assert.are.equal(0, r.code, r.err)
        assert.matches("  finished  6 pages %(0 active, 0 waiting%)", r.out)
      end)

      it("--wait on a failing crawl: the id, the failure, exit 1", function()
        local r = run({ "crawl", "https://failing.pages-10.seconds-1.example.com/", "--wait",
          "--interval", "0.2" })
        assert.are.equal(1, r.code)
        local out = lines(r.out)
        assert.matches(UUID, out[1])
        assert.matches("  failed: Crawl failed: target site blocked the crawler  6 pages", out[#out])
      end)

      it("Ctrl-C during a slow start stops at once: exit 130, no id", function()
        local job = start({ "crawl", "https://fault-slow-30000.example.com/" })
        eventually(function()
          local mask = read("/proc/" .. job.pid .. "/status"):match("\nSigCgt:%s*(%x+)")
          return mask and tonumber(mask:sub(-1), 16) % 4 >= 2
        end, 30, "the interpreter to catch SIGINT")
        core.sleep(0.3)   -- let the request start
        local t0 = core.monotime()
        local r = interrupt(job)
        assert.is_true(core.monotime() - t0 < 10, "the interrupt waited for the answer")
        assert.are.equal(130, r.code)
        assert.are.equal("", r.out)
        assert.are.equal("kadoa: interrupted\n", r.err)
      end)

      it("a start the API refuses is exit 3 with a clean message, nothing on stdout", function()
        local r = run({ "crawl", "https://fault-status-500.example.com/" })
        assert.are.equal(3, r.code)
        assert.are.equal("", r.out)
        assert.matches("^kadoa: server: mock 500", r.err)
      end)
    end)

    describe("pause and resume", function()
      it("say what happened in one line, and the status shows it", function()
        local id = crawl("https://pages-200.seconds-20.example.com/")
        local r = run({ "pause", id })
        assert.are.equal(0, r.code)
        assert.are.equal(id .. "  Crawl paused\n", r.out)
        local before = assert(client:status(id)).payload.crawledPages
        core.sleep(0.5)
        assert.are.equal(before, assert(client:status(id)).payload.crawledPages)
        r = run({ "resume", id })
        assert.are.equal(0, r.code)
        assert.are.equal(id .. "  Crawl resumed\n", r.out)
        eventually(function() return assert(client:status(id)).payload.crawledPages > before end, 30,
          "the resumed crawl to move")
      end)

      it("a missing crawl is exit 3", function()
        local r = run({ "pause", "status-404" })
        assert.are.equal(3, r.code)
        assert.are.equal("", r.out)
        assert.matches("^kadoa: status%-404: not found: mock 404", r.err)
      end)
    end)

    describe("pages and page", function()
      it("lists every page across listing pages; --status filters; --json lines parse", function()
        local id = crawl("https://pages-130.seconds-60.example.com/")
        -- a big finished crawl: 130 pages, two listing pages of 100
        local done = crawl("https://pages-130.seconds-0.example.com/")
        local r = run({ "pages", done })
        assert.are.equal(0, r.code)
        local out = lines(r.out)
        assert.are.equal(130, #out)
        assert.are.equal("p0000  DONE      https://pages-130.seconds-0.example.com/", out[1])
        assert.are.equal("p0129  DONE      https://pages-130.seconds-0.example.com/help/page-129", out[130])
        -- a running crawl: only some pages are DONE yet
        r = run({ "pages", id, "--status", "pending" })
        assert.are.equal(0, r.code)
        out = lines(r.out)
        assert.is_true(#out >= 1)
        for _, line in ipairs(out) do assert.matches("^p%d+  PENDING   https://", line) end
        r = run({ "pages", "--json", id })
        assert.are.equal(0, r.code)
        for _, line in ipairs(lines(r.out)) do
          local t = decode(line)
          assert.is_string(t.id)
          assert.is_string(t.url)
          assert.is_string(t.status)
        end
        -- statuses are open: READY too
        local ready = crawl("https://ready.pages-3.seconds-0.example.com/")
        r = run({ "pages", ready, "--status", "READY" })
        assert.are.equal(3, #lines(r.out))
      end)

      it("page writes the content to stdout as it came, or to -o FILE", function()
        local id = crawl("https://pages-3.seconds-0.example.com/")
        local want = assert(client:page(id, "p0001", { format = "markdown" })).payload
        local r = run({ "page", id, "p0001", "--format", "markdown" })
        assert.are.equal(0, r.code)
        assert.are.equal(want, r.out)
        assert.matches("^# Page 1 of pages%-3", r.out)
        local path = os.tmpname()
        finally(function() os.remove(path) end)
        r = run({ "page", id, "p0002", "-o", path })
        assert.are.equal(0, r.code)
        assert.are.equal("", r.out)
        assert.are.equal(assert(client:page(id, "p0002")).payload, read(path))
        assert.matches("<title>Page 2 of ", read(path))
      end)

      it("hostile page URLs: listed without a control byte, exported inside DIR only", function()
        local id = crawl("https://hostile.pages-40.seconds-0.example.com/")
        local r = run({ "pages", id })
        assert.are.equal(0, r.code)
        assert.are.equal(40, #lines(r.out))
        assert.is_nil(r.out:find("[%z\1-\9\11-\31\127]"), "a control byte in the listing")
        local dir = tmpdir()
        finally(function() os.execute("rm -rf " .. sub.quote(dir)) end)
        r = run({ "export", id, dir .. "/out" })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal(41, #files(dir .. "/out"))
        assert.are.equal(41, #files(dir))
      end)

      it("a page or a crawl that is not there is exit 3 with a clean message", function()
        local r = run({ "pages", "status-404" })
        assert.are.equal(3, r.code)
        assert.are.equal("", r.out)
        assert.matches("^kadoa: status%-404: not found: mock 404", r.err)
        local id = crawl("https://pages-3.seconds-0.example.com/")
        r = run({ "page", id, "p0099" })
        assert.are.equal(3, r.code)
        assert.matches("not found: no such page", r.err)
      end)
    end)

    describe("sessions", function()
      it("lists every session, a table line each, or JSON lines", function()
        local id = crawl("https://pages-4.seconds-0.sl.test/")
        local r = run({ "sessions" })
        assert.are.equal(0, r.code)
        local short = id:sub(1, 4) .. "…" .. id:sub(-4)
        assert.matches("\n?" .. short .. "  pages%-4%.seconds%-0%.sl%.test%s+finished  4 pages\n", r.out)
        r = run({ "sessions", "--json" })
        assert.are.equal(0, r.code)
        local found
        for _, line in ipairs(lines(r.out)) do
          local t = decode(line)
          if t.sessionId == id then found = t end
        end
        assert.is_table(found)
        assert.are.equal(4, found.crawledPages)
      end)
    end)

    describe("config", function()
      it("create prints the id; get the config as JSON; delete one line; then it is gone", function()
        local r = run({ "config", "create", "https://a.example.com/", "https://b.example.com/" })
        assert.are.equal(0, r.code, r.err)
        local cid = r.out:match("^(%S+)\n$")
        assert.matches(UUID, cid)
        r = run({ "config", "get", cid })
        assert.are.equal(0, r.code)
        local t = decode(r.out)
        assert.are.same({ "https://a.example.com/", "https://b.example.com/" }, t.startUrls)
        -- a crawl from it: the id alone, its pages those URLs
        r = run({ "crawl", "--config", cid })
        assert.are.equal(0, r.code, r.err)
        local id = r.out:match("^(%S+)\n$")
        assert.matches(UUID, id)
        eventually(function() return contains(run({ "pages", id }).out, "https://b.example.com/") end, 30,
          "the config's second URL among the pages")
        r = run({ "config", "delete", cid })
        assert.are.equal(0, r.code)
        assert.are.equal("deleted config " .. cid .. "\n", r.out)
        r = run({ "config", "get", cid })
        assert.are.equal(3, r.code)
        assert.matches("not found", r.err)
        r = run({ "crawl", "--config", cid })
        assert.are.equal(3, r.code)
        assert.are.equal("", r.out)
        assert.matches("^kadoa: " .. cid:gsub("%-", "%%-") .. ": not found", r.err)
      end)
    end)

    describe("export", function()
      it("writes every page and an index; a second run skips them; piped: plain lines", function()
        local id = crawl("https://pages-25.seconds-0.example.com/")
        local dir = tmpdir()
        finally(function() os.execute("rm -rf " .. sub.quote(dir)) end)
        local r = run({ "export", id, dir, "--concurrency", "4" })
        assert.are.equal(0, r.code, r.err)
        assert.is_nil(r.out:find("[\r\27]"), "piped output has no terminal control")
        local out = lines(r.out)
        assert.is_true(#out >= 2 and #out <= 12, r.out)
        assert.are.equal("exported 25 pages to " .. dir .. ": 25 written, 0 skipped, 0 failed; index "
          .. dir .. "/index.jsonl", out[#out])
        assert.are.equal("kadoa: exporting " .. id .. " to " .. dir .. " (markdown, 4 at a time)\n", r.err)
        local written = files(dir)
        assert.are.equal(26, #written)
        local index = read(dir .. "/index.jsonl")
        assert.are.equal(25, #lines(index))
        for _, line in ipairs(lines(index)) do assert.is_table(decode(line)) end
        r = run({ "export", id, dir })
        assert.are.equal(0, r.code)
        assert.matches("25 pages to .*: 0 written, 25 skipped, 0 failed", r.out)
      end)

      it("Ctrl-C: exit 130 saying how to resume; the same command again finishes the job", function()
        local id = crawl("https://pages-60.seconds-0.latency-100.example.com/")
        local dir = tmpdir()
        finally(function() os.execute("rm -rf " .. sub.quote(dir)) end)
        local job = start({ "export", id, dir, "--concurrency", "2" })
        eventually(function() return contains(read(job.out), "\n") end, 30, "the first progress line")
        local r = interrupt(job)
        assert.are.equal(130, r.code, r.err)
        assert.matches("kadoa: interrupted after [%d.]+s; run the same command again to resume\n$", r.err)
        local before = #files(dir)
        assert.is_true(before > 1 and before < 61, "some pages were written: " .. before)
        r = run({ "export", id, dir, "--concurrency", "8" })
        assert.are.equal(0, r.code, r.err)
        local written, skipped = r.out:match(": (%d+) written, (%d+) skipped, 0 failed")
        assert.are.equal(60, tonumber(written) + tonumber(skipped))
        assert.is_true(tonumber(skipped) > 0)
        assert.are.equal(61, #files(dir))
      end)

      it("exit 3 on a missing crawl, with a clean message", function()
        local dir = tmpdir()
        finally(function() os.execute("rm -rf " .. sub.quote(dir)) end)
        local r = run({ "export", "status-404", dir })
        assert.are.equal(3, r.code)
        assert.matches("kadoa: status%-404: not found", r.err)
      end)

      it("on a terminal redraws a progress bar in place", function()
        -- a window wide enough for the summary (it names a temporary dir)
        if not execute("command -v tmux >/dev/null 2>&1") then return pending("tmux is not installed") end
        local id = crawl("https://pages-40.seconds-0.latency-100.example.com/")
        local dir = tmpdir()
        finally(function() os.execute("rm -rf " .. sub.quote(dir)) end)
        local sock = ("kadoa-cli-export-%s-%d-%s"):format(sub.interpreter, os.time(),
          tostring({}):match("0x(%x+)") or "0")
        local tmux = "tmux -L " .. sub.quote(sock) .. " -f /dev/null "
        finally(function() os.execute(tmux .. "kill-server >/dev/null 2>&1") end)
        local script = command({ "export", id, dir, "--concurrency", "2" }, { LANG = "C.UTF-8" })
          .. "; echo KADOA_EXIT=$?; sleep 60"
        assert.is_true(execute(tmux .. "new-session -d -x 200 -y 20 " .. sub.quote(script)))
        local screen, bar
        eventually(function()
          local p = io.popen(tmux .. "capture-pane -p 2>/dev/null")
          screen = p:read("*a")
          p:close()
          bar = bar or screen:match("(%[[█░]+%] %d+/40 pages[^\n]*)")
          return contains(screen, "KADOA_EXIT=")
        end, 60, "the export in tmux to end")
        no_key(screen)
        assert.is_string(bar, "no progress bar was seen")
        assert.matches("pages/s", bar)
        local rows = lines(screen)
        -- the bar was drawn over in place: the summary is the first line
        assert.matches("^exported 40 pages to ", rows[1])
        assert.are.equal("KADOA_EXIT=0", rows[2])
      end)
    end)

    it("each verb has its usage errors: exit 2, nothing on stdout", function()
      local cases = {
        { { "crawl" }, "crawl: give a URL (or several), or --body FILE.json" },
        { { "crawl", "https://x.example/", "--max-pages", "0" }, "option --max-pages wants a whole number" },
        { { "crawl", "https://x.example/", "--interval", "1" }, "option --interval needs --wait" },
        { { "crawl", "--body", "/nonexistent/body.json" }, "cannot read --body" },
        { { "pause" }, "pause: give a session id" },
        { { "resume", "a", "b" }, "resume: one session id at a time" },
        { { "pages", "x", "--format", "md" }, "option --format is for 'kadoa page' and 'kadoa export'" },
        { { "page", "x" }, "page: give a session id and a page id" },
        { { "page", "x", "p1", "--format", "pdf" }, "option --format wants markdown, md or html" },
        { { "sessions", "x" }, "sessions: takes no arguments" },
        { { "export", "x" }, "export: give a session id and a directory" },
        { { "export", "x", "d", "--concurrency", "none" }, "option --concurrency wants a whole number" },
        { { "crawl", "--config", "c", "https://x.example/" }, "crawl: --config takes its settings" },
        { { "config" }, "config: give an action: create, get or delete" },
        { { "config", "frob" }, "config: unknown action 'frob'" },
        { { "config", "get" }, "config get: give a config id" },
        { { "config", "create" }, "config create: give a URL (or several), or --body FILE.json" },
        { { "config", "delete", "c", "--body", "b.json" }, "option --body is for 'kadoa config create'" },
      }
      for _, case in ipairs(cases) do
        local r = run(case[1])
        assert.are.equal(2, r.code, table.concat(case[1], " "))
        assert.are.equal("", r.out)
        assert.is_truthy(contains(r.err, "kadoa: " .. case[2]), r.err)
      end
    end)

    describe("files and file", function()
      it("list a crawl's stored files and fetch one, to stdout or streamed to -o FILE", function()
        local id = crawl("https://pages-3.seconds-0.example.com/")
        local r = run({ "files", id })
        assert.are.equal(0, r.code, r.err)
        local out = lines(r.out)
        assert.are.equal(3, #out)
        local name = out[1]:match("^DONE      (%S+)  https://pages%-3%.seconds%-0%.example%.com/$")
        assert.is_truthy(name, out[1])
        local page = assert(client:page(id, (assert(client:pages(id)).payload[1].id)))
        r = run({ "file", name })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal(page.payload, r.out)
        local dir = tmpdir()
        r = run({ "file", name, "-o", dir .. "/p.html" })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal("", r.out)
        assert.are.same({ "p.html" }, files(dir))
        assert.are.equal(page.payload, read(dir .. "/p.html"))
        r = run({ "files", "--json", "--all", id })
        assert.are.equal(3, #lines(r.out))
        assert.are.equal(name, decode(lines(r.out)[1]).html_filename)
      end)

      it("say what went wrong: exit 3 for the API's no, 2 for usage", function()
        local r = run({ "file", "bm8tc3VjaA" })
        assert.are.equal(3, r.code)
        assert.matches("^kadoa: bm8tc3VjaA: not found", r.err)
        assert.are.equal(3, run({ "files", "no-such-session" }).code)
        assert.are.equal(2, run({ "file" }).code)
        assert.are.equal(2, run({ "files", "a", "b" }).code)
        assert.matches("option %-%-output is for 'kadoa page' and 'kadoa file'",
          run({ "files", "a", "-o", "x" }).err)
      end)
    end)

    describe("api", function()
      it("makes any declared call with its words and options, the answer as the API sent it", function()
        local id = crawl("https://pages-5.seconds-0.example.com/")
        local r = run({ "api", "status", id })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal(5, decode(r.out).payload.crawledPages)
        -- options by their declared type: numbers stay numbers on the wire (pageSize=2)
        r = run({ "api", "pages", id, "--page", "2", "--page-size=2" })
        assert.are.equal(0, r.code, r.err)
        local res = decode(r.out)
        assert.are.equal(2, #res.payload)
        assert.are.equal(2, res.pagination.page)
        -- a boolean from its words; --raw false: the decoded answer, encoded again
        r = run({ "api", "session_files", id, "--include_all", "true", "--raw", "false" })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal(5, decode(r.out).totalPages)
        -- a body call: a shorthand word, or --body from a file or stdin
        r = run({ "api", "crawl", "https://pages-2.seconds-0.example.com/" })
        assert.are.equal(0, r.code, r.err)
        assert.matches(UUID, decode(r.out).sessionId)
        local body = os.tmpname()
        finally(function() os.remove(body) end)
        write(body, '{"url": "https://pages-2.seconds-0.example.com/"}')
        r = run({ "api", "config_create", "--body", "-" }, nil, body)
        assert.are.equal(0, r.code, r.err)
        local config = decode(r.out).configId
        r = run({ "api", "config", config })
        assert.are.equal("https://pages-2.seconds-0.example.com/", decode(r.out).url)
        r = run({ "api", "config_delete", config })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal(3, run({ "api", "config", config }).code)
      end)

      it("checks as the Lua call does: did-you-mean, types, counts; exit 2 (3: the API's no)", function()
        local cases = {
          { { "api", "statsu", "x" }, "api: no call named 'statsu' (did you mean 'status'?)" },
          { { "api", "pages", "x", "--pag", "2" },
            "api: pages: unknown option 'pag' (did you mean 'page'?)" },
          { { "api", "pages", "x", "--page", "two" },
            "api: pages: option --page must be a number, not 'two'" },
          { { "api", "pages", "x", "--page", "0.5" }, "api: pages: option 'page' must be a whole number" },
          { { "api", "session_files", "x", "--include_all", "yes" },
            "api: session_files: option --include_all must be true or false, not 'yes'" },
          { { "api", "pause" }, "api: pause takes 1 argument (sessionId), not 0" },
          { { "api", "status", "a", "b" }, "api: status takes 1 argument, not 2" },
          { { "api", "status", "a", "--body", "b.json" }, "api: status takes no --body" },
          { { "api", "config_create" }, "api: config_create takes its body from --body FILE.json" },
          { { "api" }, "api: give a call name" },
        }
        for _, case in ipairs(cases) do
          local r = run(case[1])
          assert.are.equal(2, r.code, table.concat(case[1], " "))
          assert.are.equal("", r.out)
          assert.is_truthy(contains(r.err, "kadoa: " .. case[2]), r.err)
        end
        local r = run({ "api", "status", "status-503", "--retries", "0" })
        assert.are.equal(3, r.code)
        assert.matches("HTTP 503", r.err)
      end)
    end)
  end)

  describe("crawl --wait on a terminal", function()
    it("keeps the id on its own line above the live line, which ends as finished", function()
      if not execute("command -v tmux >/dev/null 2>&1") then return pending("tmux is not installed") end
      local sock = ("kadoa-cli-crawl-%s-%d-%s"):format(sub.interpreter, os.time(),
        tostring({}):match("0x(%x+)") or "0")
      local tmux = "tmux -L " .. sub.quote(sock) .. " -f /dev/null "
      finally(function() os.execute(tmux .. "kill-server >/dev/null 2>&1") end)
      local script = command({ "crawl", "https://pages-9.seconds-1.example.com/", "--wait",
        "--interval", "0.2" }) .. "; echo KADOA_EXIT=$?; sleep 60"
      assert.is_true(execute(tmux .. "new-session -d -x 100 -y 20 " .. sub.quote(script)))
      local screen
      eventually(function()
        local p = io.popen(tmux .. "capture-pane -p 2>/dev/null")
        screen = p:read("*a")
        p:close()
        return contains(screen, "KADOA_EXIT=")
      end, 60, "the crawl in tmux to end")
      no_key(screen)
      local rows = lines(screen)
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+%s*$", rows[1])
      assert.matches("^%S+ %x+…%x+  finished  9 pages %(0 active, 0 waiting%)  ", rows[2])
      assert.are.equal("KADOA_EXIT=0", rows[3])
    end)
  end)

  describe("usage", function()
    it("exits 2 without a key, saying where a key comes from", function()
      local r = run({ "status", "sess-a" }, { KADOA_API_KEY = false })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.out)
      assert.matches("^kadoa: no API key: set KADOA_API_KEY or use %-%-api%-key%-file PATH\n", r.err)
    end)

    it("refuses --api-key with the reason, and without echoing the value", function()
      for _, args in ipairs({ { "--api-key", KEY, "status", "sess-a" },
                              { "status", "--api-key=" .. KEY, "sess-a" } }) do
        local r = run(args)
        assert.are.equal(2, r.code)
        assert.are.equal("", r.out)
        assert.matches("^kadoa: there is no %-%-api%-key option: a command's arguments can be read by "
          .. "every user of this machine", r.err)
        assert.matches("KADOA_API_KEY or use %-%-api%-key%-file PATH", r.err)
      end
    end)

    it("exits 2 on unknown commands and options, and misplaced options", function()
      local cases = {
        { { "frob" }, "unknown command 'frob'" },
        { { "status", "--frob", "x" }, "unknown option '--frob'" },
        { { "status", "--token=secret-ish", "x" }, "unknown option '--token'" },
        { { "status", "-x", "x" }, "unknown option '-x'" },
        { { "status", "--interval", "2", "x" },
          "option --interval is for 'kadoa wait', 'kadoa crawl' and 'kadoa top', not 'status'" },
        { { "wait", "--json", "x" },
          "option --json is for 'kadoa status', 'kadoa pages', 'kadoa sessions', 'kadoa top' and "
          .. "'kadoa files', not 'wait'" },
        { { "status" }, "status: give a session id" },
        { { "wait", "a", "b" }, "wait: one session id at a time" },
        { { "wait", "--interval", "0", "x" }, "option --interval wants a positive duration" },
        { { "wait", "--timeout", "soon", "x" }, "option --timeout wants a duration like 2, 500ms, 5m or 1h" },
        { { "wait", "--interval", "5", "--max-interval", "1", "x" }, "--max-interval must not be shorter" },
        { { "wait", "x", "--timeout" }, "option --timeout needs a value" },
        { { "status", "--json=yes", "x" }, "option --json takes no value" },
        { { "status", "--base-url", "ftp://example.com", "x" }, "base_url must use https" },
        { { "help", "frob" }, "help: no such command 'frob'" },
      }
      for _, case in ipairs(cases) do
        local r = run(case[1])
        assert.are.equal(2, r.code, table.concat(case[1], " "))
        assert.are.equal("", r.out)
        assert.is_truthy(contains(r.err, "kadoa: " .. case[2]), r.err)
        assert.is_falsy(contains(r.err, "secret-ish"))
      end
    end)

    it("with no command shows the help on stderr and exits 2", function()
      local r = run({})
      assert.are.equal(2, r.code)
      assert.are.equal("", r.out)
      assert.matches("^Usage: kadoa ", r.err)
    end)

    it("takes ids that look like options after --", function()
      local r = run({ "status", "--", "-odd-id" })
      assert.are.equal(0, r.code)
      assert.are.equal("-odd-id  finished  14 pages (0 active, 0 waiting)\n", r.out)
    end)
  end)

  describe("the API key", function()
    local path

    before_each(function() path = os.tmpname() end)
    after_each(function() os.remove(path) end)

    it("is read from --api-key-file, which wins over KADOA_API_KEY", function()
      write(path, KEY .. "\n")
      local r = run({ "--api-key-file", path, "status", "echo-keyfile" }, { KADOA_API_KEY = "wrong" })
      assert.are.equal(0, r.code)
      assert.are.equal("echo-keyfile  finished  1 page\n", r.out)
    end)

    it("is read from standard input with --api-key-file -", function()
      write(path, KEY)
      local r = run({ "status", "--api-key-file=-", "sess-stdin" }, { KADOA_API_KEY = false }, path)
      assert.are.equal(0, r.code)
      assert.matches("finished  14 pages", r.out)
    end)

    it("a wrong key is an API error, exit 3", function()
      local r = run({ "status", "sess-a" }, { KADOA_API_KEY = "not-the-key" })
      assert.are.equal(3, r.code)
      assert.matches("sess%-a: auth: Unauthorized", r.err)
    end)

    it("an empty, unreadable or multi-line key file is a usage error", function()
      write(path, "  \n")
      local r = run({ "--api-key-file", path, "status", "a" })
      assert.are.equal(2, r.code)
      assert.matches("is empty", r.err)
      write(path, KEY .. "\nsecond line\n")
      r = run({ "--api-key-file", path, "status", "a" })
      assert.are.equal(2, r.code)
      assert.matches("must hold the key on one line", r.err)
      r = run({ "--api-key-file", path .. "-missing", "status", "a" })
      assert.are.equal(2, r.code)
      assert.matches("cannot read the API key file: .*No such file", r.err)
    end)

    it("is never printed, even when the server echoes it", function()
      -- run() checks every output for the key; here the server sends it back
      local r = run({ "status", "leak-key" })
      assert.are.equal(3, r.code)
      assert.matches("bad key %[redacted%] for this session", r.err)
      r = run({ "wait", "leak-key" })
      assert.are.equal(3, r.code)
      assert.matches("bad key %[redacted%] for this session", r.err)
    end)
  end)

  describe("help and version", function()
    local EXIT_CODES = { "0 ", "1 ", "2 ", "3 ", "4 ", "130 " }

    it("--help documents the commands, the key and every exit code", function()
      for _, args in ipairs({ { "--help" }, { "-h" }, { "help" } }) do
        local r = run(args, { KADOA_API_KEY = false })
        assert.are.equal(0, r.code)
        assert.are.equal("", r.err)
        assert.matches("^Usage: kadoa %[OPTIONS%] COMMAND", r.out)
        assert.matches("\n  status ID %[ID%.%.%.%]", r.out)
        assert.matches("\n  wait ID", r.out)
        assert.matches("deliberately no %-%-api%-key option", r.out)
        assert.matches("KADOA_BASE_URL", r.out)
        for _, c in ipairs(EXIT_CODES) do assert.matches("\n  " .. c, r.out, 1, true) end
      end
    end)

    it("every command has its own --help", function()
      for _, case in ipairs({
        { { "status", "--help" }, "^Usage: kadoa status ", "%-%-json" },
        { { "status", "sess-a", "-h" }, "^Usage: kadoa status ", "%-%-long" },
        { { "help", "status" }, "^Usage: kadoa status ", "%-%-json" },
        { { "wait", "--help" }, "^Usage: kadoa wait ", "%-%-max%-interval" },
        { { "wait", "--bogus", "--help" }, "^Usage: kadoa wait ", "%-%-timeout" },
        { { "help", "wait" }, "^Usage: kadoa wait ", "130" },
      }) do
        local r = run(case[1], { KADOA_API_KEY = false })
        assert.are.equal(0, r.code)
        assert.matches(case[2], r.out)
        assert.matches(case[3], r.out)
        assert.matches("\n  130 ", r.out)
      end
    end)

    it("--version names kadoa's version", function()
      local r = run({ "--version" }, { KADOA_API_KEY = false })
      assert.are.equal(0, r.code)
      assert.matches("^kadoa " .. kadoa.version:gsub("%.", "%%.") .. " %(.+, libcurl [%d.]+%)\n$", r.out)
    end)
  end)
end)
