-- The web dashboard (examples/dashboard/): its nginx.conf started as it
-- is (ports, temp paths, the tree's location and one worker put in),
-- against the mock server, read from outside the way browsers do: the
-- event stream over a raw LuaSocket connection, then a real headless
-- Chromium. Run by `make test-nginx`, on LuaJIT:
--
--   busted --lua=luajit --cpath='build/luajit/?.so' spec/hosts/dashboard_test.lua
--
-- Without chromium (Debian: chromium) the browser test is pending.
-- KADOA_DASHBOARD_PNG=doc/dashboard.png also writes the screenshot there
-- (the README's picture); otherwise it goes to a temp folder and is only
-- checked. Measured numbers are printed.

local kadoa = require("kadoa")
local mock = require("spec.helpers.mock")
local nginx = require("spec.helpers.nginx")
local sub = require("spec.helpers.subprocess")
local cjson = require("cjson")
local socket = require("socket")

local KEY = "sk-dashboard-test-51c2"
local ROOT = os.getenv("PWD")
local q, sh = sub.quote, sub.sh

---------------------------------------------------------------------------
-- HTTP from outside: HTTP/1.0, so nginx streams plainly and closes

local function open(port, path, headers)
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  assert(c:send("GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n" .. (headers or "") .. "\r\n"))
  return c
end

local function get(port, path)
  local t0 = socket.gettime()
  local c = open(port, path)
  local data, err, partial = c:receive("*a")
  c:close()
  data = data or partial
  assert(data and data ~= "", "no response: " .. tostring(err))
  return tonumber(data:match("^HTTP/%d%.%d (%d%d%d)")), data:match("\r\n\r\n(.*)$"),
    socket.gettime() - t0, data:match("^(.-)\r\n\r\n")
end

-- a POST: the status and body. chunked: the body in one chunk, without a
-- Content-Length (HTTP/1.1 then; else 1.0, so the answer is not chunked)
local function post(port, path, body, chunked)
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  local head = "POST " .. path .. (chunked and " HTTP/1.1" or " HTTP/1.0")
    .. "\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    .. "Content-Type: application/json\r\n"
  assert(c:send(head .. (chunked and ("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n")
    :format(#body, body) or ("Content-Length: %d\r\n\r\n%s"):format(#body, body))))
  local data, err, partial = c:receive("*a")
  c:close()
  data = data or partial
  assert(data and data ~= "", "no response: " .. tostring(err))
  return tonumber(data:match("^HTTP/%d%.%d (%d%d%d)")), data:match("\r\n\r\n(.*)$")
end

local function get_json(port, path)
  local code, body = get(port, path)
  assert(code == 200, path .. ": HTTP " .. tostring(code) .. " " .. tostring(body))
  return cjson.decode(body)
end

-- An event stream: its head read, then one event at a time.
local Stream = {}
Stream.__index = Stream

local function stream(port, query)
  local c = open(port, "/dashboard/events" .. (query or ""))
  local head = {}
  while true do
    local line = assert(c:receive("*l"))
    if line == "" then break end
    head[#head + 1] = line
  end
  return setmetatable({ c = c, head = table.concat(head, "\n"), comments = 0 }, Stream)
end

-- the next event with data (comments and the retry line counted and
-- skipped): the decoded snapshot and its id, or nil when `seconds` pass
function Stream:next(seconds)
  local deadline = socket.gettime() + (seconds or 10)
  local id, data = nil, {}
  while true do
    local left = deadline - socket.gettime()
    if left <= 0 then return nil end
    self.c:settimeout(left)
    local line, err = self.c:receive("*l")
    if not line then
      if err == "timeout" then return nil end
      error("the event stream ended: " .. tostring(err))
    end
    if line == "" then
      if #data > 0 then return cjson.decode(table.concat(data, "\n")), id end
    elseif line:sub(1, 1) == ":" then
      self.comments = self.comments + 1
    elseif line:match("^data: ") then
      data[#data + 1] = line:sub(7)
    elseif line:match("^id: ") then
      id = line:sub(5)
    end
  end
end

function Stream:close() self.c:close() end

local function row_of(snap, id)
  for _, r in ipairs(snap.rows) do
    if r.id == id then return r end
  end
end

-- the next event whose rows hold every id in ids (and pass ok(snap), if given)
local function wait_for(s, ids, seconds, ok)
  local deadline = socket.gettime() + (seconds or 15)
  while socket.gettime() < deadline do
    local snap = s:next(deadline - socket.gettime())
    if not snap then break end
    local all = true
    for _, id in ipairs(ids) do all = all and row_of(snap, id) ~= nil end
    if all and (not ok or ok(snap)) then return snap end
  end
  error("no snapshot with the sessions " .. table.concat(ids, ", ") .. " came")
end

---------------------------------------------------------------------------

-- examples/dashboard/nginx.conf started as it is (ports, temp paths, the
-- tree's location and the workers put in) against the mock srv, with its
-- callback URL (KADOA_CALLBACK_URL) this nginx's own. opts: workers
-- (default 1: the refresher, every stream and the pings share it), fleet
-- (Lua text: kadoa.fleet's options, the refresh schedule)
local function start_dashboard(dir, srv, opts)
  opts = opts or {}
  os.execute("chmod 755 " .. q(dir))
  local f = assert(io.open(ROOT .. "/examples/dashboard/nginx.conf"))
  local conf = f:read("*a")
  f:close()
  local n
  conf, n = conf:gsub("listen 127%.0%.0%.1:8090", "listen 127.0.0.1:%%PORT%%")
  assert(n == 1, "the listen line moved")
  conf = conf:gsub("/tmp/kadoa%-dashboard", dir .. "/dash")
    :gsub("%$prefix", ROOT)
    :gsub('ngx%.config%.prefix%(%) %.%. "', '"' .. ROOT .. '/')
    :gsub("/usr/lib/nginx/modules", nginx.modules)
    :gsub("worker_processes auto;", "worker_processes " .. (opts.workers or 1) .. ";")
  if opts.fleet then
    conf, n = conf:gsub('require%("kadoa%.fleet"%)%.new%(client%)',
      'require("kadoa.fleet").new(client, ' .. opts.fleet .. ')')
    assert(n == 1, "the model's line moved")
  end
  -- a test never sends DNS queries off this machine, even by mistake
  assert(conf:match("\n%s*resolver 127%.0%.0%.1:1 "), "the example's resolver must point nowhere")
  assert(conf:match('"' .. ROOT:gsub("%p", "%%%0") .. '/examples/dashboard/index.html"'))
  -- started as the README says, with no `user` line: as root its worker
  -- runs as nobody, who may not read this tree
  local port = mock.closed_port()
  local dash = nginx.start(dir, nil, { conf = conf, pid = dir .. "/dash.pid", master = true, port = port,
    env = { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url,
            KADOA_CALLBACK_URL = "http://127.0.0.1:" .. port .. "/dashboard/callback" } })
  dash:wait_http("/ping", 200)
  return dash
end

describe("examples/dashboard", function()
  local srv, dir, dash, api
  local measured = {}

  setup(function()
    srv = mock.start({ key = KEY })
    dir = nginx.tempdir()
    dash = start_dashboard(dir, srv)
    api = assert(kadoa.client({ api_key = KEY, base_url = srv.url, retries = 0 }))
  end)

  teardown(function()
    if api then api:close() end
    if dash then dash:stop() end
    if srv then srv:stop() end
    nginx.remove(dir)
    if next(measured) then
      io.stderr:write("\n")
      for _, k in ipairs({ "viewers", "pings", "browser" }) do
        if measured[k] then io.stderr:write("measured: ", measured[k], "\n") end
      end
    end
  end)

  local function crawl(url)
    return assert(api:crawl({ url = url })).sessionId
  end

  it("serves the page, self-contained, with a policy that loads nothing from elsewhere", function()
    local code, body, _, head = get(dash.port, "/")
    assert.are.equal(200, code)
    assert.matches("text/html", head)
    assert.matches("Content%-Security%-Policy: default%-src 'none'", head)
    assert.matches("<table", body)
    -- nothing fetched from another place, nothing written as HTML
    assert.is_nil(body:find("https?://"), "the page names an outside address")
    assert.is_nil(body:find("<script src", 1, true))
    assert.is_nil(body:find("innerHTML", 1, true))
    assert.is_nil(body:find("insertAdjacentHTML", 1, true))
  end)

  it("streams snapshots: rows appear, pages grow, totals agree with the mock's sessions", function()
    local a = crawl("https://pages-40.seconds-20.alpha.example.com/")
    local b = crawl("https://pages-100.seconds-30.shop.example.org/")
    local c = crawl("https://pages-30.seconds-2.failing.blog.example.net/")
    local s = stream(dash.port)
    assert.matches("Content%-Type: text/event%-stream", s.head)
    local first = wait_for(s, { a, b, c })
    local ra = row_of(first, a)
    assert.are.equal("pages-40.seconds-20.alpha.example.com", ra.domain)
    assert.is_string(ra.state)
    assert.is_number(ra.pages)

    -- pages grow from one event to the next
    local grown
    for _ = 1, 20 do
      local snap = assert(s:next(30), "no next event")
      if row_of(snap, a).pages > ra.pages then grown = snap break end
    end
    assert.is_truthy(grown, "crawl a's pages never grew")
    assert.is_true(grown.version > first.version)

    -- freeze every crawl (c fails at 1.2 s), then a snapshot refreshed
    -- after that must match the mock's own listing exactly
    api:pause(a)
    api:pause(b)
    socket.sleep(1.5)
    local t = socket.gettime()
    local frozen
    repeat frozen = assert(s:next(30), "no event after the pause") until frozen.at > t + 0.05
    s:close()
    local listing = assert(api:sessions({ page_size = 100 }))
    local pages = 0
    for _, x in ipairs(listing.data) do
      pages = pages + x.crawledPages
      local r = row_of(frozen, x.sessionId)
      assert.is_truthy(r, "session " .. x.sessionId .. " is not shown")
      assert.are.equal(x.crawledPages, r.pages)
      assert.are.equal(x.domain, r.domain)
    end
    assert.are.equal(listing.pagination.totalItems, frozen.totals.sessions)
    assert.are.equal(#listing.data, #frozen.rows)
    assert.are.equal(pages, frozen.totals.pages)
    local t2 = frozen.totals
    assert.are.equal(t2.sessions, t2.running + t2.paused + t2.stalled + t2.finished + t2.failed)
    assert.are.equal("failed", row_of(frozen, c).state)
    assert.matches("blocked", row_of(frozen, c).error)

    -- `kadoa top`, run now against the same mock, sees the very rows the
    -- page was sent: two views, one model
    -- (with no paused marks: the page's worker, another user, cannot read
    -- this user's 0600 state file)
    local out = sh(("XDG_STATE_HOME=%s KADOA_API_KEY=%s KADOA_BASE_URL=%s %s %s top --once --json 2>&1")
      :format(
      q(dir .. "/no-marks"), q(KEY), q(srv.url), sub.interpreter, q(ROOT .. "/bin/kadoa")))
    local cli = assert(cjson.decode(out:match("[^\n]+")), out)
    -- one JSON shape (kadoa.fleet.view's): the page's has only the
    -- stream's own fields (version, at, next) beside
    local keys = {}
    for k in pairs(frozen) do keys[#keys + 1] = k end
    for k in pairs(cli) do keys[#keys + 1] = "cli " .. k end
    table.sort(keys)
    assert.are.equal("at cli refreshed cli refreshes cli rows cli stale cli totals next refreshed refreshes "
      .. "rows stale totals version", table.concat(keys, " "))
    assert.are.equal(#frozen.rows, #cli.rows)
    for _, r in ipairs(cli.rows) do
      local w = assert(row_of(frozen, r.id), "the command shows " .. r.id .. ", the page does not")
      -- one look (--once) cannot tell stalled from running; the page's many can
      local state = w.state == "stalled" and "running" or w.state
      assert.are.same({ r.state, r.pages, r.domain }, { state, w.pages, w.domain })
    end
    assert.are.same({ cli.totals.sessions, cli.totals.running, cli.totals.failed, cli.totals.pages },
      { t2.sessions, t2.running, t2.failed, t2.pages })
  end)

  it("has one refresher: 20 viewers cost the API what one does", function()
    -- two crawls that keep running through both windows
    crawl("https://pages-400.seconds-120.one.example.com/")
    crawl("https://pages-400.seconds-120.two.example.com/")
    -- the refresher is awake (a viewer came recently): measure from here,
    -- over a window of a few of the model's refresh intervals
    local one = stream(dash.port)
    local first = assert(one:next(30), "no first event")
    local WINDOW = math.min(math.max(4, 3 * (first.next or 1)), 20)
    local s0 = get_json(dash.port, "/dashboard/stats")
    local events1 = 0
    local deadline = socket.gettime() + WINDOW
    while socket.gettime() < deadline do
      if one:next(deadline - socket.gettime()) then events1 = events1 + 1 end
    end
    local s1 = get_json(dash.port, "/dashboard/stats")

    local many = {}
    for i = 1, 20 do many[i] = stream(dash.port) end
    one:close()
    local s2 = get_json(dash.port, "/dashboard/stats")
    socket.sleep(WINDOW)
    local s3 = get_json(dash.port, "/dashboard/stats")
    -- every viewer got the snapshots (buffered in its socket meanwhile)
    local fewest = math.huge
    for i = 1, 20 do
      local n = 0
      while many[i]:next(0.3) do n = n + 1 end
      fewest = math.min(fewest, n)
      many[i]:close()
    end

    local r1, q1 = s1.refreshes - s0.refreshes, s1.requests - s0.requests
    local r20, q20 = s3.refreshes - s2.refreshes, s3.requests - s2.requests
    measured.viewers = ("%d s with 1 viewer: %d refreshes, %d API requests, %d events; "
      .. "%d s with 20 viewers: %d refreshes, %d API requests, each viewer >= %d events")
      :format(WINDOW, r1, q1, events1, WINDOW, r20, q20, fewest)
    assert.is_true(r1 >= 2 and events1 >= 2, measured.viewers)
    assert.is_true(fewest >= 2, measured.viewers)
    -- one refresher: the same order, not twenty times
    assert.is_true(r20 <= r1 * 1.5 + 2, measured.viewers)
    assert.is_true(q20 <= q1 * 1.5 + 10, measured.viewers)
  end)

  it("stays responsive with 100 open event streams", function()
    local streams = {}
    for i = 1, 100 do streams[i] = stream(dash.port) end
    -- each got its snapshot: all 100 handlers are running
    for i = 1, 100 do assert(streams[i]:next(10), "stream " .. i .. " got nothing") end
    local times = {}
    for i = 1, 20 do
      local code, body, elapsed = get(dash.port, "/ping")
      assert.are.equal(200, code)
      assert.are.equal("pong\n", body)
      times[i] = elapsed
      socket.sleep(0.05)
    end
    -- and they still stream: a new snapshot reaches the last one opened
    assert(streams[100]:next(10), "the streams went quiet")
    for i = 1, 100 do streams[i]:close() end
    table.sort(times)
    local sum = 0
    for _, t in ipairs(times) do sum = sum + t end
    measured.pings = ("20 pings with 100 event streams open: median %.1f ms, mean %.1f ms, worst %.1f ms")
      :format(times[10] * 1000, sum / 20 * 1000, times[20] * 1000)
    assert.is_true(times[20] < 0.05, measured.pings)
  end)

  it("shows the table in a real browser, rows updated as crawls move", function()
    -- KADOA_CHROMIUM names another browser binary (or a missing one, to see this pending)
    local chromium = os.getenv("KADOA_CHROMIUM")
      or sh("command -v chromium chromium-browser 2>/dev/null | head -1"):gsub("%s+$", "")
    if chromium == "" or not sub.exists(chromium) then
      pending("chromium is not installed (Debian: chromium; .ci/deps installs it)")
      return
    end
    local ids = {
      crawl("https://pages-120.seconds-90.docs.example.com/"),
      crawl("https://pages-60.seconds-40.shop.example.org/"),
      crawl("https://pages-200.seconds-150.news.example.net/"),
      crawl("https://pages-12.seconds-1.small.example.com/"),
    }
    local flags = "--headless --disable-gpu --no-sandbox --hide-scrollbars --no-first-run"
      .. " --user-data-dir=" .. q(dir .. "/chromium")
    -- ?once=1: the page long-polls, so the virtual clock runs (it stops
    -- while a request is open: a stream would hold the dump forever)
    local function dump()
      local html = sh(("timeout 60 %s %s --virtual-time-budget=4000 --dump-dom %s 2>/dev/null")
        :format(q(chromium), flags, q(dash.url .. "/?once=1")))
      local rows = {}
      for id, tr in html:gmatch('<tr data%-id="([^"]+)">(.-)</tr>') do
        rows[id] = {
          pages = tonumber(tr:match('class="col%-pages num"><span[^>]*>(%d+)</span>')),
          state = tr:match('data%-state="([^"]+)"'),
          domain = tr:match('<td class="col%-domain"[^>]*>([^<]*)</td>'),
        }
      end
      return rows, html
    end
    local t0 = socket.gettime()
    local before, html = dump()
    local took = socket.gettime() - t0
    for _, id in ipairs(ids) do
      assert.is_truthy(before[id], "no row for " .. id .. " in:\n" .. html:sub(1, 3000))
    end
    assert.are.equal("docs.example.com", before[ids[1]].domain:match("[%w]+%.example%.com$"))
    assert.matches('id="t%-sessions">%d+<', html)
    -- past the next refresh (the snapshot says when it is due)
    local due = get_json(dash.port, "/dashboard/snapshot").next or 2
    socket.sleep(math.max(3, due + 1))
    local after = dump()
    assert.is_true(after[ids[1]].pages > before[ids[1]].pages,
      ("pages did not grow: %s -> %s"):format(before[ids[1]].pages, after[ids[1]].pages))
    assert.are.equal("finished", after[ids[4]].state)

    local png = os.getenv("KADOA_DASHBOARD_PNG") or (dir .. "/dashboard.png")
    os.remove(png)
    sh(("timeout 60 %s %s --window-size=1200,700 --timeout=4000 --screenshot=%s %s >/dev/null 2>&1")
      :format(q(chromium), flags, q(png), q(dash.url .. "/")))
    local f = assert(io.open(png, "rb"), "no screenshot")
    local data = f:read("*a")
    f:close()
    assert.are.equal("\137PNG", data:sub(1, 4))
    assert.is_true(#data > 10000, "a blank screenshot? " .. #data .. " bytes")
    -- server text is text: markup in a domain lands escaped, never as an
    -- element (after the screenshot, which stays a plain picture)
    local hostile = crawl("https://x<img src=q onerror=alert(1)>.example.com/")
    local probe = stream(dash.port)
    wait_for(probe, { hostile }, 30)
    probe:close()
    local _, shown = dump()
    assert.matches("x&lt;img src=q onerror=alert%(1%)&gt;%.example%.com", shown)
    -- an element would be serialized with its attributes quoted; the
    -- text (or a title attribute, by an older Chromium) keeps src=q bare
    assert.is_nil(shown:find('<img src="q"', 1, true), "markup from the server became an element")
    measured.browser = ("a headless chromium dump of the live page: %.1f s; rows %d -> %d pages; "
      .. "screenshot %s"):format(took, before[ids[1]].pages, after[ids[1]].pages, png)
  end)
end)

describe("examples/dashboard, pushed by Kadoa's callback", function()
  local srv, dir, dash, api, pushed
  local measured

  setup(function()
    srv = mock.start({ key = KEY })
    dir = nginx.tempdir()
    -- two workers (a callback may land in either; worker 0 refreshes), and
    -- a refresh every 30 s: anything sooner is the callback's doing
    dash = start_dashboard(dir, srv, { workers = 2, fleet = "{ interval = 30, max_interval = 30 }" })
    api = assert(kadoa.client({ api_key = KEY, base_url = srv.url, retries = 0 }))
  end)

  teardown(function()
    if api then api:close() end
    if dash then dash:stop() end
    if srv then srv:stop() end
    nginx.remove(dir)
    if measured then io.stderr:write("\nmeasured: ", measured, "\n") end
  end)

  -- the mock's record of its callback for session id, once it made it
  local function called(id)
    for _ = 1, 200 do
      for _, c in ipairs(get_json(srv.port, "/mock/callbacks").calls) do
        if c.sessionId == id then return c end
      end
      socket.sleep(0.05)
    end
    error("the mock never called back for " .. id)
  end

  local function workers()
    return (sh("ps -o pid= --ppid " .. string.format("%d", dash.pid) .. " | sort"):gsub("%s+", " "))
  end

  -- the Lua errors (and worse) nginx has logged so far
  local function lua_errors()
    return sh("cat " .. q(dash.dir .. "/error.log") .. " " .. q(dash.dir .. "/out.log")
      .. " 2>/dev/null | grep -E '\\[(error|crit|alert|emerg)\\].*(lua|runtime error)'")
  end

  it("shows a crawl started with a callback finished at once, not at the next refresh", function()
    local s = stream(dash.port)
    local first = assert(s:next(10), "no first snapshot")
    -- the control: a crawl without a callback, over 1 s from now
    local plain = assert(api:crawl("https://pages-5.seconds-1.plain.example.com/")).sessionId
    local code, body = post(dash.port, "/dashboard/start",
      '{"url":"https://pages-8.seconds-3.pushed.example.com/"}')
    local started = socket.gettime()
    assert.are.equal(200, code, body .. "\n" .. sh("cat " .. q(dash.dir .. "/error.log")))
    local res = cjson.decode(body)
    assert.is_true(res.callback)
    pushed = res.sessionId
    -- the start's own push shows its row
    assert.are.equal("running", row_of(wait_for(s, { pushed, plain }, 10), pushed).state)
    -- past the plain crawl's end: no refresh since, so it is not shown over
    socket.sleep(math.max(0, started + 2.5 - socket.gettime()))
    local latest = get_json(dash.port, "/dashboard/snapshot")
    assert.are.equal("running", row_of(latest, plain).state)
    -- the pushed crawl is over 3 s after its start: Kadoa's call, confirmed,
    -- wakes the refresher, and the stream carries it
    local shown = wait_for(s, { pushed }, 20,
      function(snap) return row_of(snap, pushed).state == "finished" end)
    local t = socket.gettime()
    s:close()
    assert.are.equal(204, called(pushed).code)
    assert.are.equal("finished", row_of(shown, plain).state)
    measured = ("a crawl with a callback shown finished %.2f s after it was over "
      .. "(the mock ends it 3 s after its start; the refresh interval is 30 s)"):format(t - started - 3)
    -- before the refresh after the first could have come
    assert.is_true(shown.at - first.at < 30, measured)
    assert.is_true(first.next >= 29, "the refresh interval is not 30 s: " .. tostring(first.next))
  end)

  it("refuses forged callbacks: none changes the dashboard or hurts a worker", function()
    assert(pushed, "needs the crawl of the test before")
    local pids, errs = workers(), lua_errors()
    assert.matches("^ ?%d+ %d+ ?$", pids)
    local before = get_json(dash.port, "/dashboard/stats")
    local hook = "/dashboard/callback"
    local replay = called(pushed).url:match("^https?://[^/]+(.*)$")
    local done = '{"sessionId":"' .. pushed .. '","finished":true}'
    local other = "0123456789abcdef0123456789abcdef"
    for _, case in ipairs({
      { 403, hook, done },                                       -- no token
      { 403, hook .. "?kadoa_token=" .. other, done },           -- a wrong one
      { 403, hook .. "?kadoa_token=" .. other, "not json at all \0\255" },
      { 403, hook .. "?kadoa_token=" .. other, '{"sessionId":"nobody-knows","finished":true}' },
      { 403, replay, done },                                     -- used already
      -- too big: refused by the token before the body is read (a good
      -- token's big body is spec/hosts/nginx_test.lua's), or by nginx's
      -- client_max_body_size
      { 403, hook .. "?kadoa_token=" .. other, ("x"):rep(20000), or_413 = true },
      { 403, hook .. "?kadoa_token=" .. other, ("x"):rep(20000), true, or_413 = true },
    }) do
      local got = post(dash.port, case[2], case[3], case[4])
      if case.or_413 and got == 413 then got = 403 end
      assert.are.equal(case[1], got, case[2])
    end
    -- a start from elsewhere than this machine is refused by the example:
    -- only the method is checkable here (the test runs on loopback)
    assert.are.equal(403, (get(dash.port, "/dashboard/start")))
    socket.sleep(1.5)   -- past the watchers' looks and any refresh a kick would start
    local after = get_json(dash.port, "/dashboard/stats")
    assert.are.same({ before.version, before.refreshes }, { after.version, after.refreshes })
    assert.are.equal(pids, workers())
    assert.are.equal(errs, lua_errors())
  end)
end)
