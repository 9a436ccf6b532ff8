-- `kadoa top` end to end: the real command in a fresh interpreter against a
-- mock server of its own (the session listing holds every crawl started on
-- a mock, so this file's crawls are the only ones), the table of --once,
-- JSON lines, exit codes, and one run of the full-screen view under tmux:
-- keys, a pause that reaches the mock, a resize, and the terminal restored.

local mock = require("spec.helpers.mock")
local sub = require("spec.helpers.subprocess")
local core = require("kadoa.core")
local kadoa = require("kadoa")
local top = require("kadoa.cli.commands.top")
local view_text = require("kadoa.fleet.view")

local KEY = "sk-top-Hh4kQ9wL2-do-not-print"

local function lines(s)
  local t = {}
  for line in s:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  return t
end

local function contains(s, text) return s:find(text, 1, true) ~= nil end

local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function eventually(f, limit, what)
  local stop = core.monotime() + (limit or 30)
  while not f() do
    assert(core.monotime() < stop, "gave up waiting for " .. (what or "a condition"))
    core.sleep(0.05)
  end
end

local function no_key(...)
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    assert(not contains(s, KEY), "the API key was printed:\n" .. s)
  end
end

describe("kadoa top", function()
  local srv, client
  local ids = {}
  setup(function()
    srv = mock.start({ key = KEY })
    client = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
    -- newest last: the listing shows the newest first
    for i, url in ipairs({ "https://pages-5.seconds-0.done.example.com/",
        "https://pages-10.seconds-0.4.failing.example.com/",
        "https://pages-400.seconds-400.slow.example.com/",
        "https://pages-400.seconds-200.fast.example.com/" }) do
      ids[i] = assert(client:crawl(url)).sessionId
      core.sleep(0.01)   -- createdAt has milliseconds: keep the order unambiguous
    end
    core.sleep(0.5)   -- the failing one dies at 0.24 s
  end)
  teardown(function()
    if client then client:close() end
    if srv then srv:stop() end
  end)

  local function command(argv, env)
    local e = { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url, NO_COLOR = false }
    for k, v in pairs(env or {}) do e[k] = v end
    local quoted = {}
    for i, a in ipairs(argv) do quoted[i] = sub.quote(a) end
    return sub.command(e) .. " bin/kadoa " .. table.concat(quoted, " ")
  end

  local function run(argv, env)
    local o, e, rc = os.tmpname(), os.tmpname(), os.tmpname()
    os.execute(command(argv, env) .. " </dev/null >" .. o .. " 2>" .. e .. "; echo $? >" .. rc)
    local r = { out = sub.read(o) or "", err = sub.read(e) or "",
      code = tonumber((sub.read(rc) or ""):match("%d+")) }
    os.remove(o) os.remove(e) os.remove(rc)
    no_key(r.out, r.err)
    return r
  end

  local function decode(s) return assert(client.transport:decode(s)) end

  it("--once prints the totals, a heading and one row per session, running first", function()
    local r = run({ "top", "--once" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("", r.err)
    local t = lines(r.out)
    assert.are.equal(6, #t, r.out)
    assert.matches("^2 running  %S+ pages/min  1 error  |  4 sessions, 0 paused, 1 finished, 1 failed, ",
      t[1])
    assert.matches("^SESSION%s+STATE%s+PAGES%s+PG/MIN%s+ACTIVE%s+WAIT%s+ELAPSED%s+DOMAIN$", t[2])
    -- running first (one look has no rate: newest first), then the others newest first
    assert.matches("^%x+…%x+  running .* pages%-400%.seconds%-200%.fast%.example%.com$", t[3])
    assert.matches("^%x+…%x+  running .* pages%-400%.seconds%-400%.slow%.example%.com$", t[4])
    assert.matches("^%x+…%x+  failed .* pages%-10%.seconds%-0%.4%.failing%.example%.com  "
      .. "Crawl failed: target site blocked the crawler$", t[5])
    assert.matches("^%x+…%x+  finished +5 .* pages%-5%.seconds%-0%.done%.example%.com$", t[6])
    -- off a terminal without --once it is the same table, and so with --plain
    local r2 = run({ "top" })
    assert.are.equal(0, r2.code)
    assert.are.equal(6, #lines(r2.out))
    assert.are.equal(6, #lines(run({ "top", "--plain" }).out))
  end)

  it("--once on a terminal that does not say its size: 80 columns", function()
    if not execute("command -v script >/dev/null 2>&1") then return pending("script is not installed") end
    -- script's terminal is 0 x 0 until someone sets it
    local out = sub.sh("script -qec " .. sub.quote(command({ "top", "--once" }) .. "; echo EXIT=$?")
      .. " /dev/null </dev/null"):gsub("\r", "")
    no_key(out)
    assert.matches("\nEXIT=0\n", out)
    local t = lines(out)
    assert.matches("^SESSION +STATE +PAGES +PG/MIN +WAIT +DOMAIN$", t[2])
    for i = 2, #t - 1 do assert.is_true(#t[i]:gsub("[\128-\191]", "") <= 80, t[i]) end   -- the table
  end)

  it("--once --json prints the model as one JSON line", function()
    local r = run({ "top", "--once", "--json" })
    assert.are.equal(0, r.code, r.err)
    local t = lines(r.out)
    assert.are.equal(1, #t)
    local snap = decode(t[1])
    assert.are.equal(4, #snap.rows)
    assert.are.equal(4, snap.totals.sessions)
    assert.are.equal(2, snap.totals.running)
    assert.are.equal(false, snap.stale)
    assert.are.equal(1, snap.refreshes)
    local states = {}
    for _, row in ipairs(snap.rows) do states[row.id] = row.state end
    assert.are.same({ [ids[1]] = "finished", [ids[2]] = "failed", [ids[3]] = "running",
      [ids[4]] = "running" }, states)
  end)

  it("--json prints one line per refresh until interrupted (130), each line JSON", function()
    local o, e = os.tmpname(), os.tmpname()
    local p = assert(io.popen(command({ "top", "--json", "--interval", "0.3" }) .. " </dev/null >" .. o
      .. " 2>" .. e .. " & pid=$!; echo $pid; wait $pid; echo $?", "r"))
    local pid = assert(tonumber(p:read("*l")))
    eventually(function() return #lines(sub.read(o) or "") >= 3 end, 30, "three JSON lines")
    assert.is_true(execute("kill -INT " .. pid))
    local code = tonumber(p:read("*l"))
    p:close()
    local out, err = sub.read(o) or "", sub.read(e) or ""
    os.remove(o) os.remove(e)
    no_key(out, err)
    assert.are.equal(130, code)
    local t = lines(out)
    for i, line in ipairs(t) do
      local snap = decode(line)
      assert.are.equal(i, snap.refreshes)
      assert.are.equal(4, #snap.rows)
    end
    -- the first look has no rate (it takes two); from the second on, every row has one
    for _, row in ipairs(decode(t[1]).rows) do assert.is_nil(row.pages_per_minute) end
    for _, row in ipairs(decode(t[2]).rows) do assert.is_number(row.pages_per_minute) end
  end)

  it("exits 3 when the refresh fails and 2 on usage errors", function()
    local r = run({ "top", "--once" }, { KADOA_API_KEY = "wrong-key" })
    assert.are.equal(3, r.code)
    assert.are.equal("", r.out)
    assert.matches("^kadoa: top: auth", r.err)
    for _, argv in ipairs({ { "top", "extra" }, { "top", "--interval", "0" }, { "top", "--concurrency", "0" },
        { "top", "--long" }, { "top", "--once", "--interval", "5", "--max-interval", "1" } }) do
      r = run(argv)
      assert.are.equal(2, r.code, table.concat(argv, " "))
      assert.are.equal("", r.out)
    end
    assert.are.equal(0, run({ "top", "--help" }).code)
    -- --json says the failure in kadoa.fleet.view's one shape
    r = run({ "top", "--once", "--json" }, { KADOA_API_KEY = "wrong-key" })
    assert.are.equal(3, r.code)
    local snap = decode(r.out:match("[^\n]+"))
    assert.is_true(snap.stale)
    assert.are.same({ 0, "auth", 401 }, { #snap.rows, snap.error.kind, snap.error.status })
    assert.is_string(snap.error.message)
  end)

  it("keeps server text on one clean line", function()
    local row = { id = "x", domain = "evil\27]0;owned\7.example.com\nnext", state = "failed",
      error = "boom\27[2J\r\nagain", pages = 1 }
    local line = view_text.row_line(row, 200)
    assert.is_nil(line:find("[%c]"))
    assert.is_true(contains(line, "boom"))
  end)

  it("reads keys out of what the terminal sent, several in one read", function()
    assert.are.same({ "up", "down", "up", "down", "pgup", "pgdn", "home", "home", "end", "end" },
      top.keys("\27[A\27OB\27[1;5A\27[1;2B\27[5~\27[6~\27[H\27[1~\27OF\27[4~"))
    assert.are.same({ "j", "k", "q", "é", "日", "enter", "enter", "backspace", "backspace", "ctrl-c" },
      top.keys("jkqé日\r\n\127\8\3"))
    -- a lone Esc, Alt+x (Esc then x), a sequence without a name (a paste's start)
    assert.are.same({ "esc" }, top.keys("\27"))
    assert.are.same({ "esc", "x" }, top.keys("\27x"))
    assert.are.same({ "ignored", "a" }, top.keys("\27[200~a"))
    assert.are.same({}, top.keys(""))
  end)

  it("the view: writes only the lines that changed, sorts, filters, selects, asks before pausing", function()
    local function row(id, domain, state, pages, created)
      return { id = id, domain = domain, state = state, pages = pages, created = created,
        pages_per_minute = state == "running" and pages or nil }
    end
    local snap = { rows = { row("r1", "b.example", "running", 50, 3),
      row("r2", "a.example", "running", 10, 4), row("f1", "c.example", "finished", 90, 1) },
      totals = { sessions = 3, running = 2, paused = 0, finished = 1, failed = 0, pages = 150,
        pages_per_minute = 60, errors = 0 },
      refreshed = 100, stale = false, refreshes = 1 }
    local written = {}
    local term = { write = function(_, str) written[#written + 1] = str end }
    local v = top.new_view(true)
    v.lines, v.cols = 10, 100
    local frame = v:frame(snap, 10, 100, 101)
    assert.are.equal(10, #frame)
    assert.are.equal(10, v:draw(term, frame))               -- the first frame: every line
    assert.are.equal(0, v:draw(term, v:frame(snap, 10, 100, 101.5)))   -- nothing changed
    assert.are.equal(1, v:draw(term, v:frame(snap, 10, 100, 103)))     -- "refreshed 3s ago"
    assert.is_true(contains(written[#written], "refreshed 3s ago"))
    -- selection moves down, and follows its session when the order changes
    assert.are.equal("r1", v.selected)
    v:key("down", nil, 103)
    assert.are.equal("r2", v.selected)
    v:key("s", nil, 103)                                    -- by pages
    v:frame(snap, 10, 100, 103)
    assert.are.same({ "f1", "r1", "r2" }, { v.rows[1].id, v.rows[2].id, v.rows[3].id })
    assert.are.equal("r2", v.selected)
    v:key("s", nil, 103)                                    -- by domain
    v:frame(snap, 10, 100, 103)
    assert.are.same({ "r2", "r1", "f1" }, { v.rows[1].id, v.rows[2].id, v.rows[3].id })
    -- filter: typed, applied on Enter, cleared with Esc
    for _, k in ipairs({ "/", "c", ".", "e", "enter" }) do v:key(k, nil, 103) end
    v:frame(snap, 10, 100, 103)
    assert.are.equal(1, #v.rows)
    assert.are.equal("f1", v.selected)
    v:key("esc", nil, 103)
    v:frame(snap, 10, 100, 103)
    assert.are.equal(3, #v.rows)
    -- p asks; n cancels; y pauses through the model
    local calls = {}
    local m = { pause = function(_, id) calls[#calls + 1] = id return { ok = true } end }
    v:key("p", m, 103)
    assert.matches("^Pause f1 %(c%.example%)%? y/n$", v:frame(snap, 10, 100, 103)[10][1])
    v:key("n", m, 103)
    assert.are.same({}, calls)
    v:key("p", m, 103)
    v:key("y", m, 103)
    assert.are.same({ "f1" }, calls)
    assert.are.equal("paused f1", v:frame(snap, 10, 100, 103)[10][1])
    assert.are.equal("quit", v:key("q", m, 103))
    assert.are.equal("interrupt", v:key("ctrl-c", m, 103))
  end)

  it("draws the view on a terminal, pauses the selected crawl in the mock, adapts to a resize, "
    .. "and restores the screen on q", function()
    if not execute("command -v tmux >/dev/null 2>&1") then return pending("tmux is not installed") end
    local sock = ("kadoa-top-spec-%s-%d-%s"):format(sub.interpreter, os.time(),
      tostring({}):match("0x(%x+)") or "0")
    local tmux = "tmux -L " .. sub.quote(sock) .. " -f /dev/null "
    finally(function() os.execute(tmux .. "kill-server >/dev/null 2>&1") end)
    local mode = "$(stty -a </dev/tty | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo -e icanon -e -icanon "
      .. "| tr '\\n' ' ')"
    -- twice: the second run ends with Ctrl-C
    local script = "echo BEFORE-TOP; " .. command({ "top" }, { LANG = "C.UTF-8" })
      .. "; echo TOP_EXIT=$?; echo TTY=" .. mode .. "; read go; " .. command({ "top" }, { LANG = "C.UTF-8" })
      .. " 2>/dev/null; echo TOP_EXIT2=$?; echo TTY2=" .. mode .. "; sleep 60"
    assert.is_true(execute(tmux .. "new-session -d -x 120 -y 20 " .. sub.quote(script)))
    local function screen()
      local p = io.popen(tmux .. "capture-pane -p 2>/dev/null")
      local s = p:read("*a")
      p:close()
      no_key(s)
      return s
    end
    local function alternate()
      return sub.sh(tmux .. "display -p '#{alternate_on}' 2>/dev/null"):match("%d")
    end
    local s
    eventually(function()
      s = screen()
      return contains(s, "SESSION") and contains(s, "fast.example.com")
    end, 30, "the view to draw")
    assert.are.equal("1", alternate())
    assert.is_nil(s:find("BEFORE-TOP", 1, true))
    local t = lines(s)
    assert.matches("^kadoa top  2 running  ", t[1])
    assert.is_true(contains(t[1], "refreshed") and contains(t[1], "4 sessions"))
    assert.matches("^SESSION", t[3])
    assert.is_true(contains(t[4], "fast.example.com") or contains(t[4], "slow.example.com"))

    -- the second row: whichever crawl is there when the key lands
    assert.is_true(execute(tmux .. "send-keys Down"))
    core.sleep(0.4)
    assert.is_true(execute(tmux .. "send-keys p"))
    local prompt
    eventually(function()
      local rows = lines(screen())
      prompt = rows[#rows] or ""
      return contains(prompt, "y/n")
    end, 10, "the confirmation prompt")
    local short = assert(prompt:match("^Pause (%S+) %("), prompt)
    local paused
    for _, id in ipairs({ ids[3], ids[4] }) do
      if id:sub(1, 4) .. "…" .. id:sub(-4) == short then paused = id end
    end
    assert.is_string(paused, prompt)
    assert.is_true(execute(tmux .. "send-keys y"))
    eventually(function() return contains(screen(), "paused " .. short) end, 10, "the pause to be said")
    -- the mock's crawl stands still: its pages do not move
    local a = assert(client:status(paused)).payload.crawledPages
    core.sleep(0.6)
    assert.are.equal(a, assert(client:status(paused)).payload.crawledPages)
    eventually(function()
      for _, row in ipairs(lines(screen())) do
        if row:find("^" .. short:gsub("%W", "%%%0") .. "%s+paused") then return true end
      end
    end, 10, "the row to show paused")

    -- a narrower window: the optional columns go, the lines fit
    assert.is_true(execute(tmux .. "resize-window -x 70 -y 12"))
    eventually(function()
      local rows = lines(screen())
      return rows[3] and rows[3]:match("^SESSION%s+STATE%s+PAGES%s+PG/MIN%s+DOMAIN") ~= nil
    end, 10, "the view to fit 70 columns")
    for _, row in ipairs(lines(screen())) do
      assert.is_true(#row:gsub("[\128-\191]", "") <= 70, row)
    end

    assert.is_true(execute(tmux .. "send-keys q"))
    eventually(function() return contains(screen(), "TTY=") end, 10, "top to quit")
    s = screen()
    assert.is_true(contains(s, "BEFORE-TOP"), s)
    assert.is_true(contains(s, "TOP_EXIT=0"), s)
    assert.is_nil(s:find("SESSION", 1, true))
    assert.are.equal("0", alternate())
    -- the terminal's mode is back: echo on, canonical input
    assert.matches("TTY=icanon echo%s", s)

    -- again (Enter lets the script go on), and Ctrl-C: the same restoring, exit 130
    assert.is_true(execute(tmux .. "send-keys Enter"))
    eventually(function()
      local now = screen()
      return contains(now, "SESSION") and not contains(now, "TTY=")
    end, 30, "the second view to draw")
    assert.are.equal("1", alternate())
    assert.is_true(execute(tmux .. "send-keys C-c"))
    eventually(function() return contains(screen(), "TTY2=") end, 10, "top to end on Ctrl-C")
    s = screen()
    assert.is_true(contains(s, "TOP_EXIT2=130"), s)
    assert.is_true(contains(s, "TTY=icanon echo"), s)   -- the first run's lines are back too
    assert.matches("TTY2=icanon echo%s", s)
    assert.are.equal("0", alternate())
  end)
end)
