-- bin/kadoa following running crawls, end to end against the real mock:
-- `export ID DIR --follow`, `crawl URL --export DIR` (also on a terminal,
-- interrupted with Ctrl-C and finished by export --follow), `pages ID
-- --follow` (lines and JSON lines), and the marks the command shows:
-- paused after `kadoa pause`, gone after `kadoa resume`, stalled for a
-- crawl paused behind kadoa's back. XDG_STATE_HOME is a folder under
-- build/, never the user's own.

local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")
local core = require("kadoa.core")
local text = require("kadoa.text")

local KEY = "sk-follow-cli-R4t8Lm2Q-do-not-print"
local STATE = (os.getenv("PWD") or ".") .. "/build/state-cli-follow-" .. sub.interpreter
local UUID = "^%x+%-%x+%-%x+%-%x+%-%x+$"

local function contains(s, t) return s:find(t, 1, true) ~= nil end

local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function lines(s)
  local t = {}
  for line in s:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  return t
end

-- Poll until f() is true; giving up is a hung run, never a timing assertion.
local function eventually(f, limit, what)
  local stop = core.monotime() + (limit or 60)
  while not f() do
    assert(core.monotime() < stop, "gave up waiting for " .. (what or "a condition"))
    core.sleep(0.05)
  end
end

local function tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert.is_true(execute("mkdir -p " .. sub.quote(dir)))
  finally(function() execute("rm -rf " .. sub.quote(dir)) end)
  return dir
end

-- Every page home exactly once: one index line per page, each written,
-- its file there, no two lines for one page, no stray files.
local function all_home(client, dir, n)
  local index = assert(sub.read(dir .. "/index.jsonl"))
  local ids, names = {}, {}
  for _, line in ipairs(lines(index)) do
    local e = assert(client.transport:decode(line))
    assert.is_nil(ids[e.id], "a page listed twice: " .. tostring(e.id))
    ids[e.id] = true
    assert.are.equal("written", e.status)
    assert.is_true(sub.exists(dir .. "/" .. e.file), e.file)
    names[#names + 1] = e.file
  end
  assert.are.equal(n, #names)
  local found = lines(sub.sh("cd " .. sub.quote(dir) .. " && find . -type f ! -name index.jsonl | sort"))
  assert.are.equal(n, #found)
end

describe("the kadoa command following a crawl", function()
  local fx = fixture.mock_client(KEY)
  local srv, client
  setup(function()
    srv, client = fx.start()
    execute("mkdir -p " .. sub.quote(STATE))
  end)
  teardown(function()
    fx.stop()
    execute("rm -rf " .. sub.quote(STATE))
  end)

  local function command(args, env)
    local e = { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url, NO_COLOR = false, XDG_STATE_HOME = STATE }
    for k, v in pairs(env or {}) do e[k] = v end
    local quoted = {}
    for i, a in ipairs(args) do quoted[i] = sub.quote(a) end
    return sub.command(e) .. " bin/kadoa " .. table.concat(quoted, " ")
  end

  -- run(args) -> { out, err, code }
  local function run(args)
    local o, e = os.tmpname(), os.tmpname()
    local p = io.popen(command(args) .. " </dev/null >" .. o .. " 2>" .. e .. "; echo $?")
    local code = tonumber(p:read("*a"):match("%d+"))
    p:close()
    local r = { out = sub.read(o) or "", err = sub.read(e) or "", code = code }
    os.remove(o) os.remove(e)
    assert(not contains(r.out .. r.err, KEY), "the API key was printed")
    return r
  end

  -- start(args) -> a job in the background; stop(job) interrupts it (SIGINT)
  local function start(args)
    local o, e = os.tmpname(), os.tmpname()
    local p = assert(io.popen(command(args) .. " </dev/null >" .. o .. " 2>" .. e
      .. " & pid=$!; echo $pid; wait $pid; echo $?", "r"))
    return { pid = assert(tonumber(p:read("*l"))), pipe = p, out = o, err = e }
  end
  local function stop(job)
    execute("kill -INT " .. job.pid)
    local code = tonumber(job.pipe:read("*l"))
    job.pipe:close()
    local r = { out = sub.read(job.out) or "", err = sub.read(job.err) or "", code = code }
    os.remove(job.out) os.remove(job.err)
    return r
  end

  local function crawl(url)
    return assert(client:crawl(url)).sessionId
  end

  it("export --follow on a running crawl brings every page home once, then exits 0", function()
    local id = crawl("https://pages-60.seconds-4.latency-20.example.com/")
    local dir = tmpdir()
    local r = run({ "export", id, dir, "--follow", "--concurrency", "4" })
    assert.are.equal(0, r.code, r.err)
    assert.matches("^exported 60 pages to .*: 60 written, 0 skipped, 0 failed; index ", r.out)
    assert.matches("^kadoa: following ", r.err)
    all_home(client, dir, 60)
    -- the crawl was running when the export began: it did not wait for its end
    assert.is_true(assert(client:status(id)).payload.finished)
  end)

  it("crawl URL --export DIR: the id, then every page home, exit 0", function()
    local dir = tmpdir() .. "/new/sub"
    local r = run({ "crawl", "https://pages-40.seconds-2.example.com/", "--export", dir, "--plain" })
    assert.are.equal(0, r.code, r.err)
    local t = lines(r.out)
    assert.matches(UUID, t[1])
    assert.matches("^exported 40 pages to ", t[#t])
    all_home(client, dir, 40)
  end)

  it("crawl --export of a crawl that fails: exit 1, what was crawled home, the reason said", function()
    local dir = tmpdir()
    local r = run({ "crawl", "https://pages-20.seconds-2.failing.example.com/", "--export", dir })
    assert.are.equal(1, r.code, r.err)
    assert.matches("target site blocked the crawler", r.err)
    assert.matches(": 12 written, 0 skipped, 0 failed", r.out)
    all_home(client, dir, 12)
  end)

  it("crawl --export refuses --wait and an empty DIR, starting nothing", function()
    local r = run({ "crawl", "https://x.example/", "--export", "d", "--wait" })
    assert.are.equal(2, r.code)
    assert.matches("kadoa: crawl: %-%-export follows the crawl to its end: no %-%-wait", r.err)
    r = run({ "crawl", "https://x.example/", "--export", "" })
    assert.are.equal(2, r.code)
    assert.matches("option %-%-export wants a directory", r.err)
    r = run({ "pages", "x", "--export", "d" })
    assert.are.equal(2, r.code)
    assert.matches("option %-%-export is for 'kadoa crawl'", r.err)
  end)

  it("pages --follow prints each page once as it finishes; --json, JSON lines", function()
    local id = crawl("https://pages-30.seconds-3.example.com/")
    local r = run({ "pages", id, "--follow" })
    assert.are.equal(0, r.code, r.err)
    local seen, t = {}, lines(r.out)
    assert.are.equal(30, #t)
    for _, line in ipairs(t) do
      local pid, status = line:match("^(p%d+)%s+(%u+)%s+https://")
      assert.are.equal("DONE", status, line)
      assert.is_nil(seen[pid])
      seen[pid] = true
    end
    id = crawl("https://pages-12.seconds-1.example.com/")
    r = run({ "pages", id, "--follow", "--json" })
    assert.are.equal(0, r.code, r.err)
    t = lines(r.out)
    assert.are.equal(12, #t)
    for _, line in ipairs(t) do
      local e = assert(client.transport:decode(line))
      assert.are.equal("DONE", e.status)
    end
  end)

  it("status and top --once say paused after kadoa pause, and no longer after kadoa resume", function()
    local id = crawl("https://pages-400.seconds-60.example.com/")
    local short = text.short_id(id)
    local function top_row()
      local r = run({ "top", "--once" })
      assert.are.equal(0, r.code, r.err)
      for _, line in ipairs(lines(r.out)) do
        if contains(line, short) then return line end
      end
      error("no row for " .. id .. " in:\n" .. r.out)
    end
    assert.are.equal(0, run({ "pause", id }).code)
    local r = run({ "status", id })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(short .. "  paused  ", r.out:sub(1, #short + 10))
    assert.matches("%spaused%s", top_row())
    -- and the --follow of a paused crawl says so and keeps waiting
    local job = start({ "pages", id, "--follow" })
    eventually(function() return contains(sub.read(job.err) or "", "paused; still following") end, 30,
      "pages --follow to say paused")
    assert.are.equal(0, run({ "resume", id }).code)
    eventually(function() return contains(sub.read(job.err) or "", "moving again") end, 30,
      "pages --follow to see the resume")
    local f = stop(job)
    assert.are.equal(130, f.code, f.err)
    r = run({ "status", id })
    assert.are.equal(short .. "  crawling  ", r.out:sub(1, #short + 12))
    assert.is_nil(top_row():match("%spaused%s"))
  end)

  it("top shows stalled for a crawl paused behind kadoa's back, once it stops moving", function()
    local id = crawl("https://pages-400.seconds-60.example.com/")
    -- straight through the API, not kadoa's pause: no mark
    assert(client.transport:fetch(core.route("POST", "/v4/crawl/pause"), 5,
      { body = ('{"sessionId":%q}'):format(id) }))
    local job = start({ "top", "--json", "--interval", "0.2" })
    local state
    eventually(function()
      for _, line in ipairs(lines(sub.read(job.out) or "")) do
        local snap = client.transport:decode(line)
        for _, row in ipairs(type(snap) == "table" and snap.rows or {}) do
          if row.id == id then state = row.state end
        end
      end
      return state == "stalled"
    end, 30, "top to show the crawl stalled")
    stop(job)
    local r = run({ "status", id })
    assert.matches("  crawling  ", r.out)   -- one look cannot tell stalled; no mark, no paused
  end)

  it("on a terminal: Ctrl-C leaves a resumable folder, and export --follow finishes it", function()
    if not execute("command -v tmux >/dev/null 2>&1") then return pending("tmux is not installed") end
    local dir = tmpdir()
    local sock = ("kadoa-follow-%s-%d-%s"):format(sub.interpreter, os.time(),
      tostring({}):match("0x(%x+)") or "0")
    local tmux = "tmux -L " .. sub.quote(sock) .. " -f /dev/null "
    finally(function() execute(tmux .. "kill-server >/dev/null 2>&1") end)
    local script = command({ "crawl", "https://pages-80.seconds-8.example.com/", "--export", dir },
      { LANG = "C.UTF-8" }) .. "; echo KADOA_EXIT=$?; sleep 60"
    assert.is_true(execute(tmux .. "new-session -d -x 160 -y 20 " .. sub.quote(script)))
    local screen
    local function look()
      local p = io.popen(tmux .. "capture-pane -p 2>/dev/null")
      screen = p:read("*a")
      p:close()
      return screen
    end
    -- the live line: crawled and exported counts and the rate
    eventually(function()
      local c, e = look():match("(%d+) crawled  (%d+) exported  [%d.]+ pages/s")
      return c and tonumber(e) >= 5
    end, 60, "the live line with some pages exported")
    assert.is_true(execute(tmux .. "send-keys C-c"))
    eventually(function() return contains(look(), "KADOA_EXIT=") end, 30, "the crawl to stop")
    assert(not contains(screen, KEY))
    local id = screen:match("(%x+%-%x+%-%x+%-%x+%-%x+)")
    assert.is_string(id)
    assert.is_truthy(contains(screen, "KADOA_EXIT=130"), screen)
    assert.is_truthy(contains(screen:gsub("\n", ""), "go on with: kadoa export " .. id), screen)
    local before = #lines(sub.read(dir .. "/index.jsonl") or "")
    assert.is_true(before > 0 and before < 80, "some pages were home: " .. before)
    local r = run({ "export", id, dir, "--follow" })
    assert.are.equal(0, r.code, r.err)
    local written, skipped = r.out:match(": (%d+) written, (%d+) skipped, 0 failed")
    assert.are.equal(80, tonumber(written) + tonumber(skipped))
    all_home(client, dir, 80)
  end)
end)
