-- kadoa.cli in-process: main(argv, env) with a world of the spec's own
-- (streams that record, an environment table, a terminal or none, a key
-- file reader), and the parts main is made of. The real command, as a
-- subprocess and on a terminal, is spec/cli_spec.lua's.

local cli = require("kadoa.cli")
local args = require("kadoa.cli.args")
local help = require("kadoa.cli.help")
local exit = require("kadoa.cli.exit")
local kadoa = require("kadoa")
local fixture = require("spec.helpers.fixture")

local KEY = "sk-cli-unit-Hq4mT8-do-not-print"

local function contains(s, text) return s:find(text, 1, true) ~= nil end

local function lines(s)
  local t = {}
  for line in s:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  return t
end

-- A stream that keeps what is written to it.
local function recorder()
  local r = { text = "" }
  function r.write(self, s) self.text = self.text .. s end
  return r
end

-- run(argv [, vars [, world]]) -> { out, err, code }: main in-process with
-- vars as the whole environment and world's fields (is_terminal, width,
-- read_key_file, stdout, stderr) over the defaults; the key is never
-- in any output, checked each time.
local function run(argv, vars, world)
  local stdout, stderr = recorder(), recorder()
  local env = {
    stdout = stdout, stderr = stderr,
    getenv = function(name) return vars and vars[name] or nil end,
    is_terminal = function() return false end,
    width = function() return 80 end,
    read_key_file = function(path) error("no key file expected: " .. path) end,
  }
  for k, v in pairs(world or {}) do env[k] = v end
  local code = cli.main(argv, env)
  local r = { out = env.stdout.text or "", err = env.stderr.text or "", code = code }
  assert(not contains(r.out, KEY) and not contains(r.err, KEY), "the API key was printed")
  return r
end

describe("kadoa.cli", function()
  describe("args.parse", function()
    it("reads a command, its ids and options anywhere on the line", function()
      local cmd = assert(args.parse({ "--base-url", "http://x", "status", "a", "--json", "b" }))
      assert.are.equal("status", cmd.command)
      assert.are.same({ "a", "b" }, cmd.ids)
      assert.are.same({ ["base-url"] = "http://x", json = true }, cmd.options)
      cmd = assert(args.parse({ "wait", "--interval=2s", "x", "-h" }))
      assert.are.same({ interval = "2s", help = true }, cmd.options)
    end)

    it("takes everything after -- as ids, and - as an id", function()
      local cmd = assert(args.parse({ "status", "--", "-odd", "--json" }))
      assert.are.same({ "-odd", "--json" }, cmd.ids)
      assert.are.same({}, cmd.options)
      assert.are.same({ "-" }, assert(args.parse({ "status", "-" })).ids)
    end)

    it("refuses unknown commands and options, naming no value", function()
      local cmd, msg = args.parse({ "frob" })
      assert.is_nil(cmd)
      assert.are.equal("unknown command 'frob'", msg)
      local _, msg2, command = args.parse({ "status", "--token=hush", "x" })
      assert.are.equal("unknown option '--token'", msg2)
      assert.are.equal("status", command)
      assert.are.equal("unknown option '-x'", select(2, args.parse({ "-x" })))
      -- what a user typed is escaped before it is echoed
      assert.are.equal("unknown command 'a\\27[2J'", select(2, args.parse({ "a\27[2J" })))
    end)

    it("refuses --api-key, with or without a value, saying why", function()
      for _, argv in ipairs({ { "--api-key", KEY }, { "--api-key=" .. KEY } }) do
        local cmd, msg = args.parse(argv)
        assert.is_nil(cmd)
        assert.matches("^there is no %-%-api%-key option", msg)
        assert.is_false(contains(msg, KEY))
      end
    end)

    it("checks option values are present or absent as they should be", function()
      assert.are.equal("option --timeout needs a value", select(2, args.parse({ "wait", "x", "--timeout" })))
      assert.are.equal("option --json takes no value", select(2, args.parse({ "status", "--json=1" })))
    end)
  end)

  describe("args.check and args.early", function()
    it("catches options of the other command, and missing or empty ids", function()
      local function check(argv) return select(2, args.check(assert(args.parse(argv)))) end
      assert.are.equal("option --interval is for 'kadoa wait', 'kadoa crawl' and 'kadoa top', not 'status'",
        check({ "status", "--interval", "1", "x" }))
      assert.are.equal("option --long is for 'kadoa status', not 'wait'", check({ "wait", "--long", "x" }))
      assert.are.equal("status: give a session id", check({ "status" }))
      assert.are.equal("wait: one session id at a time", check({ "wait", "a", "b" }))
      assert.are.equal("status: a session id is empty", check({ "status", "a", "" }))
      assert.is_true(args.check(assert(args.parse({ "help" }))))
    end)

    it("lets --help and --version win, up to --", function()
      assert.are.equal("wait", args.early({ "wait", "--bogus", "-h" }, help))
      assert.are.equal("main", args.early({ "frob", "--help" }, help))
      local topic, version = args.early({ "status", "--version" }, help)
      assert.is_nil(topic)
      assert.is_true(version)
      topic, version = args.early({ "status", "--", "--help" }, help)
      assert.is_nil(topic)
      assert.is_falsy(version)
    end)
  end)

  describe("durations", function()
    it("reads seconds and ms, s, m, h", function()
      assert.are.equal(2, args.duration("2"))
      assert.are.equal(0.5, args.duration("500ms"))
      assert.are.equal(1.5, args.duration("1.5s"))
      assert.are.equal(300, args.duration("5m"))
      assert.are.equal(3600, args.duration("1h"))
      assert.are.equal(0.5, args.duration(".5"))
      for _, bad in ipairs({ "", ".", "soon", "5d", "-1", "1e3", "2 s", "1.2.3" }) do
        assert.is_nil(args.duration(bad), bad)
      end
    end)

    it("writes elapsed time and settings back", function()
      assert.are.equal("7.3s", args.elapsed(7.3))
      assert.are.equal("2m05s", args.elapsed(125))
      assert.are.equal("1h02m", args.elapsed(3720))
      assert.are.equal("500ms", args.setting(0.5))
      assert.are.equal("2s", args.setting(2))
      assert.are.equal("1.5s", args.setting(1.5))
      assert.are.equal("5m", args.setting(300))
      assert.are.equal("1h", args.setting(3600))
    end)

    it("gives wait its timing, checked", function()
      local d = require("kadoa.wait").defaults
      assert.are.same({ interval = d.interval, max_interval = d.max_interval, timeout = d.timeout },
        args.wait_options({}))
      assert.are.same({ interval = 0.2, max_interval = math.max(d.max_interval, 0.2), timeout = 5 },
        args.wait_options({ interval = "200ms", timeout = "5s" }))
      -- a short --max-interval alone pulls the interval down with it
      assert.are.same({ interval = 1, max_interval = 1, timeout = d.timeout },
        args.wait_options({ ["max-interval"] = "1" }))
      assert.are.equal(0, args.wait_options({ timeout = "0" }).timeout)
      local cmd = assert(args.parse({ "wait", "x", "--interval", "0" }))
      assert.matches("wants a positive duration", select(2, args.check(cmd)))
      assert.matches("must not be shorter",
        select(2, args.wait_options({ interval = "5", ["max-interval"] = "1" })))
    end)
  end)

  describe("help", function()
    it("has a text for each command and exits 0 on every way of asking", function()
      for _, name in ipairs({ "status", "wait" }) do
        for _, argv in ipairs({ { "help", name }, { name, "--help" }, { name, "x", "-h" } }) do
          local r = run(argv)
          assert.are.equal(exit.ok, r.code)
          assert.are.equal(help[name], r.out)
          assert.are.equal("", r.err)
        end
        assert.matches("^Usage: kadoa " .. name .. " ", help[name])
        assert.matches("\n  130 ", help[name])
      end
      for _, argv in ipairs({ { "help" }, { "--help" }, { "-h" }, { "help", "--help" } }) do
        assert.are.equal(help.main, run(argv).out)
      end
    end)

    it("lists every exit code in the main help", function()
      for _, code in pairs(exit) do
        assert.matches("\n  " .. code .. " ", help.main)
      end
    end)

    it("with no command goes to stderr, exit 2; an unknown topic is a usage error", function()
      local r = run({})
      assert.are.equal(exit.usage, r.code)
      assert.are.equal(help.main, r.err)
      assert.are.equal("", r.out)
      r = run({ "help", "frob" })
      assert.are.equal(exit.usage, r.code)
      assert.are.equal("kadoa: help: no such command 'frob'\nTry 'kadoa --help'.\n", r.err)
      assert.are.equal(exit.usage, run({ "help", "main" }).code)
    end)

    it("--version names the version", function()
      local r = run({ "--version" })
      assert.are.equal(0, r.code)
      assert.are.equal(cli.version_text() .. "\n", r.out)
      assert.is_true(contains(r.out, kadoa.version))
    end)
  end)

  describe("usage errors", function()
    it("exit 2 with the message and where to look", function()
      local r = run({ "status", "--frob", "x" }, { KADOA_API_KEY = KEY })
      assert.are.equal(exit.usage, r.code)
      assert.are.equal("kadoa: unknown option '--frob'\nTry 'kadoa status --help'.\n", r.err)
      assert.are.equal(exit.usage, run({ "wait", "--interval", "x", "id" }, { KADOA_API_KEY = KEY }).code)
      r = run({ "status", "x" }, { KADOA_API_KEY = KEY, KADOA_BASE_URL = "ftp://example.com" })
      assert.are.equal(exit.usage, r.code)
      assert.matches("base_url must use https", r.err)
    end)

    it("without a key: exit 2, saying where a key comes from", function()
      local r = run({ "status", "x" }, {})
      assert.are.equal(exit.usage, r.code)
      assert.matches("^kadoa: no API key: set KADOA_API_KEY or use %-%-api%-key%-file PATH\n", r.err)
      assert.are.equal(exit.usage, run({ "status", "x" }, { KADOA_API_KEY = "" }).code)
    end)

    it("checks what the key file reader gives, never echoing it", function()
      local function with_file(content, msg)
        return run({ "--api-key-file", "k.txt", "status", "x" }, {}, {
          read_key_file = function(path)
            assert.are.equal("k.txt", path)
            return content, msg
          end,
        })
      end
      local r = with_file(nil, "k.txt: No such file or directory")
      assert.are.equal(exit.usage, r.code)
      assert.matches("cannot read the API key file: k.txt: No such file", r.err)
      assert.matches("is empty", with_file(" \n").err)
      r = with_file(KEY .. "\nmore\n")
      assert.matches("must hold the key on one line", r.err)
      assert.matches("is too large", with_file(string.rep("k", 65537)).err)
    end)
  end)

  describe("the crawler verbs' parts", function()
    local crawl = require("kadoa.cli.commands.crawl")
    local progress = require("kadoa.cli.progress")
    local output = require("kadoa.cli.output")
    local sessions = require("kadoa.cli.commands.sessions")

    it("args: repeated options make lists, -o is --output, config takes an action", function()
      local cmd = assert(args.parse({ "crawl", "https://a/", "--filter-in", "x", "--filter-in=y",
        "--filter-out", "z", "--max-pages", "3" }))
      assert.are.same({ "x", "y" }, cmd.options["filter-in"])
      assert.are.same({ "z" }, cmd.options["filter-out"])
      assert.are.equal("3", cmd.options["max-pages"])
      assert.are.same({ "https://a/" }, cmd.ids)
      cmd = assert(args.parse({ "page", "s", "p1", "-o", "f.md" }))
      assert.are.equal("f.md", cmd.options.output)
      cmd = assert(args.parse({ "config", "get", "c1" }))
      assert.are.equal("get", cmd.action)
      assert.are.same({ "c1" }, cmd.ids)
      assert.are.equal("config: unknown action 'frob' (create, get or delete)",
        select(2, args.parse({ "config", "frob" })))
    end)

    it("args.check: each verb's words and options", function()
      local function check(argv) return select(2, args.check(assert(args.parse(argv)))) end
      assert.is_nil(check({ "crawl", "https://a/", "https://b/", "--max-depth", "0" }))
      assert.is_nil(check({ "crawl", "--body", "b.json", "--wait", "--timeout", "5" }))
      assert.is_nil(check({ "config", "create", "--body", "b.json" }))
      assert.is_nil(check({ "sessions", "--json" }))
      assert.is_nil(check({ "pages", "s", "--status", "READY", "--json" }))
      assert.is_nil(check({ "export", "s", "d", "--concurrency", "2", "--format", "html", "--plain" }))
      assert.are.equal("option --timeout needs --wait", check({ "crawl", "u", "--timeout", "1" }))
      assert.are.equal("option --max-pages wants a whole number of at least 1, not '1.5'",
        check({ "crawl", "u", "--max-pages", "1.5" }))
      assert.are.equal("option --wait is for 'kadoa crawl', not 'wait'", check({ "wait", "x", "--wait" }))
      assert.are.equal("option --json is for 'kadoa status', 'kadoa pages', 'kadoa sessions', "
        .. "'kadoa top' and 'kadoa files', not 'page'",
        check({ "page", "s", "p", "--json" }))
      assert.are.equal("page: give a session id and a page id, no more", check({ "page", "a", "b", "c" }))
      assert.are.equal("export: give a session id and a directory", check({ "export", "s" }))
      assert.are.equal("crawl: an argument is empty", check({ "crawl", "" }))
      assert.are.equal("pages: a session id is empty", check({ "pages", "" }))
      assert.are.equal("config delete: one config id at a time", check({ "config", "delete", "a", "b" }))
      assert.are.equal("--body - and --api-key-file - cannot both read standard input",
        check({ "crawl", "--body", "-", "--api-key-file", "-" }))
    end)

    it("crawl's body: the file's fields, then URLs and flags over them", function()
      local client = assert(kadoa.client({ api_key = KEY, base_url = "http://127.0.0.1:9" }))
      finally(function() client:close() end)
      local env = { read_file = function(path)
        assert.are.equal("b.json", path)
        return '{"url":"https://old/","startUrls":["https://x/"],"maxPages":9,"extraField":true}'
      end }
      local body = assert(crawl.body(env, client, { "https://a/", "https://b/" },
        { body = "b.json", ["max-pages"] = "3", ["filter-in"] = { "/docs" } }))
      assert.are.same({ startUrls = { "https://a/", "https://b/" }, maxPages = 3, extraField = true,
        pathsFilterIn = { "/docs" } }, body)
      body = assert(crawl.body(env, client, {}, { body = "b.json", ["max-depth"] = "0" }))
      assert.are.equal("https://old/", body.url)
      assert.are.equal(0, body.maxDepth)
      assert.are.same({ url = "https://a/" }, crawl.body(env, client, { "https://a/" }, {}))
      env.read_file = function() return "[1,2]" end
      assert.matches("must hold a JSON object", select(2, crawl.body(env, client, {}, { body = "b.json" })))
      env.read_file = function() return nil, "b.json: No such file or directory" end
      assert.are.equal("cannot read --body: b.json: No such file or directory",
        select(2, crawl.body(env, client, {}, { body = "b.json" })))
    end)

    it("json_line keeps the JSON and escapes what would drive a terminal", function()
      local s = require("kadoa.json").encode({ t = "a\27[2Jb\194\155c\226\128\174d\127" })
      local line = output.json_line(s)
      assert.is_nil(line:find("[\27\127]"))
      assert.is_nil(line:find("\194\155", 1, true))
      assert.is_nil(line:find("\226\128\174", 1, true))
      local client = assert(kadoa.client({ api_key = KEY, base_url = "http://127.0.0.1:9" }))
      finally(function() client:close() end)
      assert.are.same(client.transport:decode(s), client.transport:decode(line))
    end)

    it("sessions: a table line per session, the id shortened, server text cleaned", function()
      assert.are.equal("3f2a…e91c  example.com                    finished  47 pages",
        sessions.line({ sessionId = "3f2a0c4e-1111-2222-3333-44445555e91c", domain = "example.com",
          finished = true, crawledPages = 47 }))
      assert.are.equal("short      ev\\27[2Jil.com                 crawling  1 page",
        sessions.line({ sessionId = "short", domain = "ev\27[2Jil.com", finished = false, crawledPages = 1 }))
    end)

    -- a progress display on a recorder, its clock the real one
    local function progress_on(live, width)
      local rec = recorder()
      local out = output.new({ stdout = rec, stderr = recorder() })
      local env = { getenv = function(n) return n == "LANG" and "C.UTF-8" or nil end,
        width = function() return width or 80 end }
      return progress.new(live, out, env), rec
    end

    it("progress, plain: a line each tenth, then the summary", function()
      local show, rec = progress_on(false)
      for done = 1, 47 do
        show:update({ done = done, total = 47, written = done, skipped = 0, failed = 0, elapsed = done / 10,
          rate = 10 })
      end
      show:finish("summary")
      local out = lines(rec.text)
      assert.are.equal(11, #out)
      assert.are.equal("5/47 pages  10.0 pages/s  5s left", out[1])
      assert.are.equal("43/47 pages  10.0 pages/s", out[9])   -- 0.4 s left: not shown
      assert.are.equal("47/47 pages  10.0 pages/s", out[10])
      assert.are.equal("summary", out[11])
      assert.is_nil(rec.text:find("[\r\27]"))
      -- a total not known yet: a line every 100 pages
      show, rec = progress_on(false)
      for done = 1, 250 do show:update({ done = done, rate = 5 }) end
      assert.are.same({ "100 pages  5.0 pages/s", "200 pages  5.0 pages/s" }, lines(rec.text))
    end)

    it("progress: no time left under a second, however fast the pages come", function()
      local function numbers(done, rate)
        return progress.numbers({ done = done, total = 10000, rate = rate })
      end
      assert.are.equal("8001/10000 pages  2000.0 pages/s", numbers(8001, 2000))   -- 0.9995 s
      assert.are.equal("8000/10000 pages  2000.0 pages/s  1s left", numbers(8000, 2000))
      assert.are.equal("9999/10000 pages  0.5 pages/s  2s left", numbers(9999, 0.5))
      assert.are.equal("5000/10000 pages  2000.0 pages/s  3s left", numbers(5000, 2000))
    end)

    it("progress, live: a bar redrawn in place within the width, cleared for the summary", function()
      local show, rec = progress_on(true, 60)
      show:update({ done = 0, total = 40, rate = 0 })
      show:update({ done = 40, total = 40, failed = 2, rate = 8 })
      show:finish("summary")
      local frames = {}
      for f in rec.text:gmatch("\r([^\r]-)\27%[K") do frames[#frames + 1] = f end
      assert.are.equal("[" .. string.rep("░", 30) .. "] 0/40 pages  0.0 pages/s", frames[1])
      assert.matches("^%[" .. string.rep("█", 21) .. "%] 40/40 pages  8%.0 pages/s  2 failed$",
        frames[2])
      for _, f in ipairs(frames) do assert.is_true(require("kadoa.text").width(f) <= 59, f) end
      assert.matches("\r\27%[Ksummary\n$", rec.text)
    end)

    it("export: failed pages are exit 3, said on stderr; a library error exit 3 too", function()
      local export = require("kadoa.cli.commands.export")
      local rec, err = recorder(), recorder()
      local out = output.new({ stdout = rec, stderr = err })
      local env = { getenv = function() return nil end, width = function() return 80 end }
      local fake = { export = function(_, id, dir, o)
        assert.are.equal("s1", id)
        assert.are.equal("markdown", o.format)
        assert.are.equal(3, o.concurrency)
        o.on_progress({ done = 1, total = 2, written = 1, skipped = 0, failed = 0, rate = 1 })
        o.on_progress({ done = 2, total = 2, written = 1, skipped = 0, failed = 1, rate = 1 })
        return { total = 2, written = 1, skipped = 0, failed = 1, index = dir .. "/index.jsonl" }
      end }
      assert.are.equal(exit.api, export.run({ out = out, env = env, client = fake, ids = { "s1", "d" },
        opts = { concurrency = "3" }, live = function() return false end }))
      assert.are.equal("exported 2 pages to d: 1 written, 0 skipped, 1 failed; index d/index.jsonl",
        lines(rec.text)[#lines(rec.text)])
      assert.are.equal("kadoa: exporting s1 to d (markdown, 3 at a time)", lines(err.text)[1])
      assert.matches("\nkadoa: 1 pages could not be exported; the index lists them", err.text)
      fake.export = function() return nil, require("kadoa.errors").new("not_found", "no such session") end
      assert.are.equal(exit.api, export.run({ out = out, env = env, client = fake, ids = { "s\27[2J", "d" },
        opts = {}, live = function() return false end }))
      assert.matches("kadoa: s\\27%[2J: not found: no such session\n$", err.text)
    end)

    it("page and pages clean server text for a terminal; page keeps it as it came for a pipe", function()
      local pages = require("kadoa.cli.commands.pages")
      local evil = "# T\27]0;owned\7itle\n\tline \27[2J two\n"
      local fake = {
        page = function() error("not expected") end,
        each_page = function()
          local done = false
          return function()
            if done then return nil end
            done = true
            return { id = "p\27[1m1", url = "https://x/\27[2J", status = "DO\155NE" }
          end
        end,
      }
      local rec = recorder()
      local out = output.new({ stdout = rec, stderr = recorder() })
      assert.are.equal(exit.ok, pages.list({ out = out, client = fake, ids = { "s" }, opts = {} }))
      assert.is_nil(rec.text:find("[\27\155]"), rec.text)
      assert.matches("^p\\27%[1m1  DO\\xFFNE", rec.text:gsub("\\x9B", "\\xFF"))
      -- page: a fake method under kadoa.cli.call's proxy
      fake.page = function(_, id, page_id)
        assert.are.equal("s", id)
        assert.are.equal("p1", page_id)
        return { payload = evil }
      end
      for _, terminal in ipairs({ true, false }) do
        rec = recorder()
        out = output.new({ stdout = rec, stderr = recorder() })
        local env = { is_terminal = function() return terminal end }
        assert.are.equal(exit.ok, pages.show({ out = out, env = env, client = fake, ids = { "s", "p1" },
          opts = {} }))
        if terminal then
          assert.is_nil(rec.text:find("\27", 1, true))
          assert.are.equal("# T\\27]0;owned\\7itle\n\tline \\27[2J two\n", rec.text)
        else
          assert.are.equal(evil, rec.text)
        end
      end
    end)

    it("every verb has its help, and the main help lists them all", function()
      local verbs = { "crawl", "pause", "resume", "pages", "page", "sessions", "export", "config", "top" }
      for _, name in ipairs(verbs) do
        assert.is_string(help[name], name)
        assert.matches("^Usage: kadoa " .. name .. " ", help[name])
        assert.matches("\n  130 ", help[name])
        assert.matches("\n  " .. name .. " ", help.main)
        local r = run({ name, "--help" })
        assert.are.equal(exit.ok, r.code)
        assert.are.equal(help[name], r.out)
      end
      assert.are.equal(help.config, run({ "config", "create", "-h" }).out)
      assert.are.equal(help.export, run({ "help", "export" }).out)
      assert.are.equal(help.config, run({ "help", "config", "delete" }).out)
      assert.are.equal(exit.usage, run({ "help", "config", "frob" }).code)
    end)
  end)

  describe("against the mock server", function()
    local fx = fixture.mock_client(KEY)
    local srv
    setup(function() srv = fx.start() end)
    teardown(fx.stop)
    local count = 0
    local function tag()
      count = count + 1
      return "unit-" .. tostring(os.time()) .. "-" .. count
    end

    local function vars(extra)
      local v = { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url }
      for k, x in pairs(extra or {}) do v[k] = x end
      return v
    end

    -- what a verb loads, in a process of its own: only its module, and
    -- none of the help, the waiting, the body rules, the other verbs, the
    -- pause marks or many's workers (one id is one request)
    it("loads only what the verb uses: a status no help, wait, display, body or other verb", function()
      local sub = require("spec.helpers.subprocess")
      local function loaded(argv)
        local out = sub.lua(([[
          local code = require("kadoa.cli").main(%s)
          local t = {}
          for name in pairs(package.loaded) do
            if name:find("^kadoa") then t[#t + 1] = name end
          end
          table.sort(t)
          io.write("\ncode ", code, " ", table.concat(t, " "), "\n")
        ]]):format(("{%q, %q}"):format(argv[1], argv[2])), vars())
        local code, names = out:match("\ncode (%d+) ([^\n]*)\n$")
        assert.is_truthy(code, out)
        local set = {}
        for n in names:gmatch("%S+") do set[n] = true end
        return tonumber(code), set
      end
      local code, set = loaded({ "status", tag() })
      assert.are.equal(exit.ok, code)
      assert.is_true(set["kadoa.cli.commands.status"])
      for _, name in ipairs({ "kadoa.cli.help", "kadoa.cli.display", "kadoa.cli.progress", "kadoa.wait",
        "kadoa.body", "kadoa.schema", "kadoa.json", "kadoa.cli.commands.wait", "kadoa.cli.commands.api",
        "kadoa.cli.commands.crawl", "kadoa.cli.commands.top", "kadoa.cli.commands.export",
        "kadoa.many", "kadoa.task" }) do
        assert.is_nil(set[name], name .. " was loaded by a status")
      end
      -- the control case: the probe sees what a verb does load
      code, set = loaded({ "wait", tag() })
      assert.are.equal(exit.ok, code)
      assert.is_true(set["kadoa.cli.commands.wait"] and set["kadoa.cli.display"] and set["kadoa.wait"])
    end)

    it("status: one line per id in the order given, fetched at once; exit 0", function()
      local ids = { "status", "sess-c", "sess-a", "sess-b", "sess-a" }
      local r = run(ids, vars())
      assert.are.equal(exit.ok, r.code)
      assert.are.same({
        "sess-c  finished  14 pages (0 active, 0 waiting)",
        "sess-a  finished  14 pages (0 active, 0 waiting)",
        "sess-b  finished  14 pages (0 active, 0 waiting)",
        "sess-a  finished  14 pages (0 active, 0 waiting)",
      }, lines(r.out))
      assert.are.equal("", r.err)
    end)

    it("status: exit 1 for a failed crawl, 3 when one cannot be fetched", function()
      assert.are.equal(exit.failed, run({ "status", "sess-a", "failed" }, vars()).code)
      local r = run({ "status", "status-404", "sess-a", "failed" }, vars())
      assert.are.equal(exit.api, r.code)
      assert.are.equal(2, #lines(r.out))
      assert.matches("^kadoa: status%-404: not found", r.err)
    end)

    it("status --json: the API's bodies as they came, in order, one a line", function()
      local ids = { "types", "sess-j", "invalid-utf8", "nulls" }
      local want = {}
      for i, id in ipairs(ids) do want[i] = assert(fx.client:status_json(id)) .. "\n" end
      local r = run({ "status", "--json", ids[1], ids[2], ids[3], ids[4] }, vars())
      assert.are.equal(exit.ok, r.code)
      assert.are.equal(table.concat(want), r.out)
      r = run({ "status", "--json", "html-200", "failed" }, vars())
      assert.are.equal(exit.api, r.code)
      assert.are.equal(assert(fx.client:status_json("failed")) .. "\n", r.out)
      assert.matches("html%-200: decode: the answer is not a JSON object", r.err)
    end)

    it("the key, even echoed by the server, is never printed", function()
      local r = run({ "status", "leak-key" }, vars())
      assert.are.equal(exit.api, r.code)
      assert.matches("%[redacted%]", r.err)
      r = run({ "--api-key-file", "-", "status", "echo-keyfile" }, { KADOA_BASE_URL = srv.url }, {
        read_key_file = function(path)
          assert.are.equal("-", path)
          return KEY .. "\n"
        end,
      })
      assert.are.equal(exit.ok, r.code)
      assert.are.equal("echo-keyfile  finished  1 page\n", r.out)
    end)

    it("wait: plain lines, exit 0 when finished, 1 when failed, 3 when missing", function()
      local r = run({ "wait", "demo-finishing-1-" .. tag(), "--interval", "0.1" }, vars())
      assert.are.equal(exit.ok, r.code)
      assert.is_nil(r.out:find("[\r\27]"))
      assert.matches("  finished  47 pages", r.out)
      assert.matches("^kadoa: waiting for demo%-finishing%-1%-", r.err)
      r = run({ "wait", "demo-failing-1-" .. tag(), "--interval", "0.1" }, vars())
      assert.are.equal(exit.failed, r.code)
      r = run({ "wait", "status-404", "--interval", "0.1" }, vars())
      assert.are.equal(exit.api, r.code)
      assert.matches("kadoa: not found: ", r.err)
    end)

    it("wait: exit 4 when --timeout runs out", function()
      local r = run({ "wait", "demo-finishing-60-" .. tag(), "--interval", "0.1", "--timeout", "0.3" },
        vars())
      assert.are.equal(exit.timeout, r.code)
      assert.matches("kadoa: timed out: ", r.err)
    end)

    it("wait on a terminal: a live line within the width, ending in a mark", function()
      local r = run({ "wait", "demo-finishing-1-" .. tag(), "--interval", "0.1" },
        vars({ LANG = "C.UTF-8" }),
        { is_terminal = function() return true end, width = function() return 30 end })
      assert.are.equal(exit.ok, r.code, r.err)
      assert.are.equal("", r.err)
      assert.is_truthy(r.out:find("\r\27[36m", 1, true))
      local last = r.out:match("\r([^\r]*)$")
      assert.matches("^\27%[32m\226\156\147\27%[0m demo\226\128\166", last)
      assert.matches("\27%[K\n$", last)
      -- each line drawn: a mark or spinner, a space, at most width - 3 characters
      local frames = 0
      for drawn in r.out:gmatch("\r\27%[%d+m[^\27]+\27%[0m ([^\r]-)\27%[K") do
        frames = frames + 1
        assert.is_true(require("kadoa.text").width(drawn) <= 27, drawn)
      end
      assert.is_true(frames >= 2)
      -- NO_COLOR, TERM=dumb and --plain each turn the live line off
      local plain = { { {}, { NO_COLOR = "1" } }, { {}, { TERM = "dumb" } }, { { "--plain" }, {} } }
      for _, case in ipairs(plain) do
        local argv = { "wait", "sess-live", "--interval", "0.1" }
        for _, a in ipairs(case[1]) do argv[#argv + 1] = a end
        r = run(argv, vars(case[2]), { is_terminal = function() return true end })
        assert.are.equal(exit.ok, r.code)
        assert.is_nil(r.out:find("[\r\27]"))
      end
    end)

    it("crawl, pause, resume, pages, page, config: in-process, one line or the id each", function()
      local r = run({ "crawl", "https://pages-3.seconds-0.unit.example.com/" }, vars())
      assert.are.equal(exit.ok, r.code, r.err)
      local id = r.out:match("^(%x+%-%x+%-%x+%-%x+%-%x+)\n$")
      assert.is_string(id)
      assert.are.equal(id .. "  Crawl paused\n", run({ "pause", id }, vars()).out)
      assert.are.equal(id .. "  Crawl resumed\n", run({ "resume", id }, vars()).out)
      r = run({ "pages", id, "--status", "DONE" }, vars())
      assert.are.same({
        "p0000  DONE      https://pages-3.seconds-0.unit.example.com/",
        "p0001  DONE      https://pages-3.seconds-0.unit.example.com/blog/page-1",
        "p0002  DONE      https://pages-3.seconds-0.unit.example.com/products/page-2",
      }, lines(r.out))
      r = run({ "page", id, "p0000", "--format", "md" }, vars())
      assert.matches("^# Page 0 of pages%-3%.seconds%-0%.unit%.example%.com\n", r.out)
      r = run({ "config", "create", "https://unit.example.com/" }, vars())
      assert.are.equal(exit.ok, r.code)
      local cid = r.out:match("^(%S+)\n$")
      r = run({ "config", "get", cid }, vars())
      assert.matches('"url":"https://unit.example.com/"', r.out)
      assert.are.equal(exit.api, run({ "config", "get", "status-404" }, vars()).code)
    end)

    it("export of a crawl still running: what is there, and a word about the rest; exit 0", function()
      local r = run({ "crawl", "https://pages-40.seconds-30.example.com/" }, vars())
      local id = r.out:match("^(%S+)\n$")
      local dir = os.tmpname()
      os.remove(dir)
      finally(function() os.execute("rm -rf '" .. dir .. "'") end)
      r = run({ "export", id, dir }, vars())
      assert.are.equal(exit.ok, r.code, r.err)
      assert.matches(" not crawled yet; index ", r.out)
      assert.matches("kadoa: the crawl has not reached every page yet", r.err)
    end)

    it("sessions and pages --json: one object a line, as the API gave it", function()
      run({ "crawl", "https://pages-2.seconds-0.json.example.com/" }, vars())
      local r = run({ "sessions", "--json" }, vars())
      assert.are.equal(exit.ok, r.code)
      local first = fx.client.transport:decode(lines(r.out)[1])
      assert.are.equal("pages-2.seconds-0.json.example.com", first.domain)
      r = run({ "pages", "--json", first.sessionId }, vars())
      assert.are.equal(2, #lines(r.out))
      assert.are.equal("p0001", fx.client.transport:decode(lines(r.out)[2]).id)
    end)

    it("an interruption is exit 130; any other error is an internal one, exit 3", function()
      local function failing(msg)
        return { write = function() error(msg, 0) end }
      end
      local r = run({ "status", "sess-a" }, vars(), { stdout = failing("interrupted!") })
      assert.are.equal(exit.interrupted, r.code)
      assert.are.equal("kadoa: interrupted\n", r.err)
      r = run({ "status", "sess-a" }, vars(), { stdout = failing("disk full " .. KEY) })
      assert.are.equal(exit.api, r.code)
      assert.matches("^kadoa: internal error: disk full %[redacted%]", r.err)
    end)
  end)
end)
