-- The Neovim host suite, run inside a real headless Neovim (0.7 has no
-- `nvim -l`, so this is a plain script with its own small runner):
--
--   nvim --headless -u NONE -i NONE -n -c "luafile spec/hosts/run_nvim.lua"
--
-- from the repository root (make test-nvim does this, twice: once as is,
-- once with KADOA_NVIM_NO_CJSON=1, where no lua-cjson can be found and
-- Neovim's vim.json has to stand in). The plugin is loaded from this tree
-- the way a plugin manager would (the tree on 'runtimepath'), and finds
-- the LuaJIT build of the core in build/luajit by itself. Exits 0 when
-- every test passed, else 1; prints one line per test and the measured
-- numbers to stderr.

local uv = vim.uv or vim.loop
local root = vim.fn.getcwd()
local NO_CJSON = os.getenv("KADOA_NVIM_NO_CJSON") == "1"

-- a watchdog: a hung loop must not hang CI
local watchdog = uv.new_timer()
watchdog:start(180000, 0, function()
  io.stderr:write("nvim_test: watchdog: still running after 180 s, giving up\n")
  os.exit(3)
end)

local function say(fmt, ...) io.stderr:write(string.format(fmt, ...) .. "\n") end

-- relative entries ("./?.so") would find whatever a concurrent `luarocks
-- make` leaves in the tree's ./kadoa/; the suite wants this tree's build
do
  local keep = {}
  for entry in package.cpath:gmatch("[^;]+") do
    if entry:sub(1, 1) == "/" then keep[#keep + 1] = entry end
  end
  package.cpath = table.concat(keep, ";")
end

if NO_CJSON then
  -- hide every lua-cjson the default paths could find
  local keep = {}
  for entry in package.cpath:gmatch("[^;]+") do
    local probe = entry:gsub("%?", "cjson")
    if not uv.fs_stat(probe) then keep[#keep + 1] = entry end
  end
  package.cpath = table.concat(keep, ";")
  assert(not pcall(require, "cjson"), "cjson is still found")
end

vim.opt.runtimepath:prepend(root)
package.path = root .. "/?.lua;" .. package.path    -- spec.helpers.mock
vim.cmd("runtime plugin/kadoa.lua")

local mock = require("spec.helpers.mock")
local KEY = "sk-nvim-test-7c1e"
local srv = mock.start({ key = KEY })
local kn = require("kadoa.nvim")
kn.setup({ client = { api_key = KEY, base_url = srv.url } })

-- every notification, as {msg, level, opts}; returns a record like
-- nvim-notify does, so `replace` chaining can be checked
local notes = {}
vim.notify = function(msg, level, opts)
  notes[#notes + 1] = { msg = msg, level = level, opts = opts or {} }
  return { id = #notes }
end

local failures, passed = 0, 0
local measured = {}

local function test(name, fn)
  local t0 = uv.hrtime()
  local ok, err = xpcall(fn, debug.traceback)
  local ms = (uv.hrtime() - t0) / 1e6
  if ok then
    passed = passed + 1
    say("ok    %-70s %6.0f ms", name, ms)
  else
    failures = failures + 1
    say("FAIL  %s\n%s", name, tostring(err))
  end
end

local function eq(want, got, what)
  if want ~= got then
    error(("%s: expected %s, got %s"):format(what or "value", tostring(want), tostring(got)), 2)
  end
end

local function check(cond, what)
  if not cond then error(what or "check failed", 2) end
end

-- pump the loop until cond() holds (or ms pass)
local function wait_for(ms, cond)
  return vim.wait(ms, cond, 5)
end

-- a repeating 10 ms timer; returns a stop() giving ticks and the largest gap
local function ticker()
  local t = uv.new_timer()
  local ticks, last, worst = 0, uv.hrtime(), 0
  t:start(10, 10, function()
    local now = uv.hrtime()
    ticks = ticks + 1
    worst = math.max(worst, (now - last) / 1e6)
    last = now
  end)
  return function()
    t:stop()
    t:close()
    return ticks, worst
  end
end

local tag = tostring(uv.hrtime())

local function kadoa_errors() return require("kadoa.errors") end

---------------------------------------------------------------------------

test("the core is found in build/luajit without any path set up", function()
  local kadoa = assert(kn.load())
  check(type(kadoa.version) == "string", "no version")
  check(tostring(kn.load_info.core):find("build/luajit/kadoa/core.so", 1, true)
        or tostring(kn.load_info.core):find("lua/kadoa/core.so", 1, true),
        "core from " .. tostring(kn.load_info.core))
  if NO_CJSON then
    eq("vim.json (Neovim's own lua-cjson)", kn.load_info.cjson, "json")
    eq(vim.NIL, kadoa.null, "kadoa.null")
    check(package.loaded.cjson == nil and package.preload.cjson == nil, "the cjson stand-in leaked")
  else
    eq("lua-cjson", kn.load_info.cjson, "json")
  end
end)

test("a blocking status does stop the timer (the measurement can fail)", function()
  local stop = ticker()
  local t0 = uv.hrtime()
  assert(kn.client():status("slow-300"))
  local elapsed = (uv.hrtime() - t0) / 1e9
  wait_for(1, function() return false end)
  local ticks = stop()
  measured.blocking = ("blocking status of 0.3 s: %d ticks (%.2f s)"):format(ticks, elapsed)
  check(ticks <= 2, "the timer ticked during a blocking call: " .. ticks)
end)

test("status: a 10 ms timer keeps ticking during a 1 s call; callback gets the table", function()
  local stop = ticker()
  local t0 = uv.hrtime()
  local got, t1, fast, api_ok
  local req = kn.status("slow-1000", function(res, err)
    t1 = uv.hrtime()
    got = { res, err }
    fast = vim.in_fast_event()
    api_ok = pcall(vim.api.nvim_buf_set_lines, 0, 0, -1, false, { "kadoa" })
  end)
  check(req, "no request")
  wait_for(5000, function() return got ~= nil end)
  local ticks, worst = stop()
  check(got, "no callback")
  local elapsed = (t1 - t0) / 1e9
  measured.ticks = ("%d ticks of a 10 ms timer during a %.3f s status call (largest gap %.1f ms)")
    :format(ticks, elapsed, worst)
  local res, err = got[1], got[2]
  eq(nil, err, "err")
  eq("slow-1000", res.sessionId, "sessionId")
  eq(14, res.payload.crawledPages, "crawledPages")
  eq(true, res.payload.finished, "finished")
  eq(nil, res.error, "error")
  eq(false, fast, "callback in a fast event")
  eq(true, api_ok, "vim.api usable in the callback")
  check(elapsed >= 0.99 and elapsed < 1.5, ("the call took %.3f s"):format(elapsed))
  check(ticks >= 60, "only " .. ticks .. " ticks")
  check(worst < 60, ("a gap of %.1f ms between ticks"):format(worst))
end)

test("status: errors are kadoa errors, on the main loop", function()
  local got
  kn.status("status-404", function(res, err) got = { res, err, vim.in_fast_event() } end)
  wait_for(3000, function() return got ~= nil end)
  eq(nil, got[1], "res")
  eq("not_found", got[2].kind, "kind")
  eq(404, got[2].status, "status")
  eq("mock 404: Not Found", got[2].message, "message")
  eq(false, got[3], "fast event")
  local ok = pcall(kn.status, 42, function() end)
  eq(false, ok, "a number as id raises")
end)

test("status: decoding is the core's (nulls, numbers, text)", function()
  local got = {}
  kn.status("nulls", function(res, err) got.nulls = { res, err } end)
  kn.status("types", function(res, err) got.types = { res, err } end)
  wait_for(3000, function() return got.nulls and got.types end)
  local kadoa = assert(kn.load())
  local p = assert(got.nulls[1], tostring(got.nulls[2])).payload
  eq(nil, p.a, "null in an object")
  eq(3, #p.list, "array length")
  eq(kadoa.null, p.list[2], "null in an array")
  eq(nil, p.nested.x, "nested null")
  eq(1, p.nested.y, "nested.y")
  local t = assert(got.types[1], tostring(got.types[2])).payload
  eq(42, t.int, "int")
  eq(1.5, t.float, "float")
  eq("h\195\169llo \226\156\147 \230\151\165\230\156\172", t.unicode, "unicode")
  eq(false, t.bool, "bool")
end)

test("status: 10 at once take about the time of one", function()
  local done, t0 = 0, uv.hrtime()
  local ids = {}
  for i = 0, 9 do
    local id = "slow-" .. (500 + i)
    kn.status(id, function(res)
      if res and res.sessionId == id then ids[#ids + 1] = id end
      done = done + 1
    end)
  end
  wait_for(5000, function() return done == 10 end)
  local elapsed = (uv.hrtime() - t0) / 1e9
  measured.ten = ("10 concurrent 0.5 s status calls: %.3f s"):format(elapsed)
  eq(10, #ids, "answers")
  check(elapsed < 1.0, ("took %.3f s"):format(elapsed))
end)

test("status: cancel calls back once with 'request was cancelled'", function()
  local calls = {}
  local req = kn.status("hang", function(res, err) calls[#calls + 1] = { res, err } end)
  wait_for(30, function() return false end)
  req:cancel()
  wait_for(2000, function() return #calls > 0 end)
  wait_for(50, function() return false end)
  eq(1, #calls, "callbacks")
  eq("usage", calls[1][2].kind, "kind")
  check(calls[1][2].message:find("cancelled"), calls[1][2].message)
end)

test(":KadoaStatus shows the formatted status, errors as errors", function()
  local n = #notes
  vim.cmd("KadoaStatus sess-nvim-1")
  wait_for(3000, function() return #notes > n end)
  local note = notes[n + 1]
  check(note, "no notification")
  check(note.msg:find("sess-nvim-1", 1, true) and note.msg:find("finished", 1, true)
        and note.msg:find("14 pages", 1, true), note.msg)
  eq(vim.log.levels.INFO, note.level, "level")

  vim.cmd("KadoaStatus! sess-nvim-2")
  wait_for(3000, function() return #notes > n + 1 end)
  check(notes[n + 2].msg:find("session", 1, true) and notes[n + 2].msg:find("\n", 1, true),
        "long form: " .. tostring(notes[n + 2].msg))

  vim.cmd("KadoaStatus status-404")
  wait_for(3000, function() return #notes > n + 2 end)
  eq(vim.log.levels.ERROR, notes[n + 3].level, "error level")
  check(notes[n + 3].msg:find("not found", 1, true), notes[n + 3].msg)
end)

test(":KadoaWatch polls with the wait schedule, updating a notification and the statusline", function()
  kn.setup({ wait = { interval = 0.15, max_interval = 0.3, jitter = 0, timeout = 20 } })
  local updates = 0
  local au = vim.api.nvim_create_autocmd("User", {
    pattern = "KadoaUpdate", callback = function() updates = updates + 1 end })
  local stop = ticker()
  local id = "demo-finishing-2-" .. tag
  local n = #notes
  local t0 = uv.hrtime()
  vim.cmd("KadoaWatch " .. id)
  local lines = {}
  wait_for(8000, function()
    local s = kn.statusline()
    if lines[#lines] ~= s then lines[#lines + 1] = s end
    return s:find("finished", 1, true) ~= nil
  end)
  local elapsed = (uv.hrtime() - t0) / 1e9
  local ticks, worst = stop()
  vim.api.nvim_del_autocmd(au)
  measured.watch = ("watch of a 2 s crawl: %.2f s, %d ticks of the 10 ms timer (largest gap %.1f ms), "
    .. "%d statusline states"):format(elapsed, ticks, worst, #lines)
  check(lines[#lines]:find("finished", 1, true) and lines[#lines]:find("47p", 1, true),
        "last statusline: " .. lines[#lines])
  local crawling = false
  for _, s in ipairs(lines) do
    if s:find("crawling", 1, true) and s:find("^kadoa: ") then crawling = true end
  end
  check(crawling, "never showed crawling: " .. table.concat(lines, " | "))
  check(#notes - n >= 3, "notifications: " .. (#notes - n))
  for i = n + 2, #notes do
    eq(i - 1, notes[i].opts.replace and notes[i].opts.replace.id, "replace chain at " .. i)
  end
  check(notes[#notes].msg:find("finished", 1, true), notes[#notes].msg)
  check(updates >= 3, "User KadoaUpdate fired " .. updates .. " times")
  check(ticks >= elapsed * 100 * 0.6, ("only %d ticks in %.2f s"):format(ticks, elapsed))
  check(elapsed >= 1.9 and elapsed < 4, ("took %.2f s"):format(elapsed))
  eq(1, #kn.watches, "watches")
  eq("finished", kn.watches[1].state, "state")
end)

test(":KadoaWatch reports a failed crawl as an error", function()
  local id = "demo-failing-0.3-" .. tag
  local n = #notes
  vim.cmd("KadoaWatch " .. id)
  wait_for(5000, function()
    for _, w in ipairs(kn.watches) do
      if w.id == id and w.state ~= "running" then return true end
    end
  end)
  local note = notes[#notes]
  check(#notes > n, "no notification")
  eq(vim.log.levels.ERROR, note.level, "level")
  check(note.msg:find("blocked the crawler", 1, true), note.msg)
  check(kn.statusline():find("failed", 1, true), kn.statusline())
end)

test(":KadoaStop stops watches, in flight or asleep, and clears the statusline", function()
  vim.cmd("KadoaStop")
  eq("", kn.statusline(), "statusline after stop")
  -- one asleep between polls, one with its first request in flight
  -- max_interval too: setup merges deeply, and the earlier test's 0.3 s
  -- cap would keep this watch from ever sleeping long
  kn.setup({ wait = { interval = 5, max_interval = 30, jitter = 0 } })
  local asleep = "demo-finishing-30-" .. tag
  vim.cmd("KadoaWatch " .. asleep)
  vim.cmd("KadoaWatch slow-1500")
  wait_for(3000, function() return kn.watches[1].result ~= nil end)
  check(kn.statusline():find("crawling", 1, true), kn.statusline())
  local w1, w2 = kn.watches[1], kn.watches[2]
  check(w2.task and not w2.task:ready(), "the slow watch has no request in flight")
  vim.cmd("KadoaStop " .. asleep)
  eq("stopped", w1.state, "stopped asleep")
  eq(1, #kn.watches, "one left")
  vim.cmd("KadoaStop")
  eq("stopped", w2.state, "stopped in flight")
  eq("", kn.statusline(), "statusline")
  local n = #notes
  wait_for(1800, function() return false end)
  eq(n, #notes, "notifications after stop")
  eq("stopped", w2.state, "still stopped")
end)

test("setup merges deeply and raises the library's message for bad options", function()
  local saved_timeout = kn.config.client.timeout
  kn.setup({ client = { timeout = 5 } })
  kn.setup({ wait = { interval = 3 } })
  eq(5, kn.config.client.timeout, "client.timeout kept")
  eq(KEY, kn.config.client.api_key, "client.api_key kept")
  eq(srv.url, kn.config.client.base_url, "client.base_url kept")
  eq(3, kn.config.wait.interval, "wait.interval")
  eq(5, kn.client().timeout, "the new client has the timeout")
  kn.setup({ notify = false })
  eq(5, kn.config.client.timeout, "a setup without client keeps it")
  eq(false, kn.config.notify, "notify")
  kn.setup({ notify = true, client = { timeout = saved_timeout or 30 } })
  local bad = {
    { { client = { timeot = 5 } }, "unknown option 'timeot' (did you mean 'timeout'?)" },
    { { wait = { interval = -1 } }, "option 'interval' must be greater than 0" },
    { { poll_interval = 10 }, "unknown option 'poll_interval'" },
    { { notfy = true }, "unknown option 'notfy' (did you mean 'notify'?)" },
    { { client = 5 }, "option 'client' must be a table" },
    { 42, "options must be a table" },
  }
  for _, b in ipairs(bad) do
    local ok, msg = pcall(kn.setup, b[1])
    eq(false, ok, "raised for " .. b[2])
    check(tostring(msg):find(b[2], 1, true), "message: " .. tostring(msg))
    check(tostring(msg):find("kadoa.nvim.setup", 1, true), "message names setup: " .. tostring(msg))
  end
  eq(3, kn.config.wait.interval, "a bad setup changes nothing")
  eq(30, kn.config.client.timeout, "nor does a bad client option")
end)

test("status: call options are honoured (retries = 0 fails at once, default retries pass)", function()
  local got = {}
  kn.status("flaky-1-a" .. tag, function(res, err) got.once = { res, err } end, { retries = 0 })
  kn.status("flaky-1-b" .. tag, function(res, err) got.retried = { res, err } end)
  local t0 = uv.hrtime()
  kn.status("slow-2000", function(res, err) got.slow = { res, err, (uv.hrtime() - t0) / 1e9 } end,
    { timeout = 0.3, retries = 0 })
  kn.status("sess-raw", function(res, err) got.raw = { res, err } end, { raw = true })
  wait_for(5000, function() return got.once and got.retried and got.slow and got.raw end)
  eq("string", type(got.raw[1]), "raw = true: the body as sent")
  check(got.raw[1]:find('"sess-raw"', 1, true), "raw body: " .. tostring(got.raw[1]))
  local err = got.once[2]
  eq(nil, got.once[1], "retries = 0: no result")
  eq("server", err.kind, "retries = 0: kind")
  eq(503, err.status, "retries = 0: status")
  eq(1, err.attempts, "retries = 0: attempts")
  check(kadoa_errors().is(err), "retries = 0: a kadoa error")
  eq("flaky-1-b" .. tag, got.retried[1] and got.retried[1].sessionId, "default retries: answer")
  eq("timeout", got.slow[2] and got.slow[2].kind, "timeout = 0.3: kind")
  check(got.slow[3] < 1.0, ("timeout = 0.3 took %.2f s"):format(got.slow[3]))
end)

test("status: a bad call option is a usage error through the callback", function()
  local errors = kadoa_errors()
  for _, o in ipairs({ { retires = 1 }, { timeout = -1 }, { api_key = 5 }, { base_url = "ftp://x" }, 5 }) do
    local got, fast
    local req, rerr = kn.status("sess-bad-opts", function(res, err)
      got, fast = { res, err }, vim.in_fast_event()
    end, o)
    eq(nil, req, "no request")
    wait_for(1000, function() return got ~= nil end)
    check(got, "no callback")
    eq(nil, got[1], "res")
    eq("usage", got[2].kind, "kind")
    check(errors.is(got[2]), "errors.is: " .. tostring(got[2]))
    eq(rerr, got[2], "the same error returned and called back")
    eq(false, fast, "fast event")
  end
end)

-- the face walk (spec/helpers/face.lua) over Neovim's front ends: kn.call
-- (and kn.status for status), and many at once in a task of kadoa.nvim.async
test("one face: every call takes its options through kn.call, kn.status and many", function()
  local face = require("spec.helpers.face")
  local async = require("kadoa.nvim.async")
  local c = assert(require("kadoa").client({ api_key = KEY, base_url = srv.url, retries = 0 }))
  local ids = face.prepare(c)
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, "p")
  local fronts = {
    call = function(name, args, cb) kn.call(name, cb, unpack(args)) end,
    status = function(_, args, cb) kn.status(args[1], cb, args[2]) end,
    many = function(name, args, cb)
      async.run(kn.client(), function(tc)
        local r, e = tc:many(name, { args })
        if not r then return nil, e end
        if kadoa_errors().is(r[1]) then return nil, r[1] end
        return r[1]
      end, cb)
    end,
  }
  local fails, n = {}, 0
  for fname, front in pairs(fronts) do
    for _, case in ipairs(face.cases(ids, dir)) do
      if fname ~= "status" or case.name == "status" then
        local out
        front(case.name, case.args, function(res, err) out = { res, err } end)
        wait_for(10000, function() return out ~= nil end)
        n = n + 1
        local ok, why = false, "no callback"
        if out then ok, why = face.judge(case, out[1], out[2]) end
        if not ok then fails[#fails + 1] = fname .. ": " .. tostring(why) end
      end
    end
  end
  c:close()
  vim.fn.delete(dir, "rf")
  check(n > 3 * #face.calls(), "cases: " .. n)
  eq("", table.concat(fails, "\n"), "failures")
end)

test("many at once in Neovim raises an error of on_result again, as everywhere", function()
  local out
  require("kadoa.nvim.async").run(kn.client(), function(tc)
    return tc:status_many({ "sess-m1", "sess-m2", "sess-m3" }, { concurrency = 1,
      on_result = function(id) if id == "sess-m2" then error("boom at " .. id, 0) end end })
  end, function(res, err) out = { res, err } end)
  wait_for(5000, function() return out ~= nil end)
  check(out, "no callback")
  eq(nil, out[1], "res")
  check(tostring(out[2]):find("boom at sess-m2", 1, true), tostring(out[2]))
end)

test("kn.call: a crawl with wait, its callbacks on the main loop", function()
  local out, updates, fast = nil, 0, false
  kn.call("crawl", function(res, err) out = { res, err } end, "https://pages-3.seconds-0.3.example.com/",
    { wait = { interval = 0.05, jitter = 0, on_update = function()
      updates = updates + 1
      fast = fast or vim.in_fast_event()
      vim.api.nvim_get_current_buf()
    end } })
  wait_for(5000, function() return out ~= nil end)
  check(out and out[1], "no final status: " .. tostring(out and out[2]))
  eq(true, out[1].payload.finished, "finished")
  check(updates >= 1, "updates: " .. updates)
  eq(false, fast, "on_update in a fast event")
end)

test("kn.status and kn.call take client options as kadoa.status does", function()
  local closed = "http://127.0.0.1:" .. mock.closed_port()
  local got = {}
  kn.status("sess-copts", function(res, err) got.status = { res, err } end, { base_url = closed })
  kn.call("pages", function(res, err) got.call = { res, err } end, "sess-copts",
    { base_url = closed, page = 1 })
  kn.status("sess-key", function(res, err) got.key = { res, err } end, { api_key = "sk-wrong", retries = 0 })
  kn.status("sess-same", function(res, err) got.same = { res, err } end, { api_key = KEY, timeout = 5 })
  wait_for(5000, function() return got.status and got.call and got.key and got.same end)
  eq("network", got.status[2] and got.status[2].kind, "status with another base_url")
  eq("network", got.call[2] and got.call[2].kind, "call with another base_url")
  eq("auth", got.key[2] and got.key[2].kind, "status with another key")
  eq("sess-same", got.same[1] and got.same[1].sessionId, "status with the same key")
end)

test("status: ten at once settle by socket events, a few wake-ups each", function()
  local driver = require("kadoa.nvim.driver")
  local client = kn.client()
  local before = driver.stats(client).wakes
  local done = 0
  for i = 0, 9 do
    kn.status("slow-" .. (300 + i), function(res, err)
      if res and not err then done = done + 1 end
    end)
  end
  local st = driver.stats(client)
  eq(10, st.pending, "pending after the calls")
  eq(true, st.timer, "the timer is armed to start them")
  wait_for(3000, function() return done == 10 end)
  wait_for(30, function() return false end)
  local after = driver.stats(client)
  local wakes = after.wakes - before
  measured.wakes = ("10 concurrent 0.3 s calls: %d wake-ups"):format(wakes)
  eq(10, done, "answers")
  -- a connect, a write and an answer per request, and the first timer: a
  -- polling timer would have woken ~30 times in 0.3 s
  check(wakes >= 3 and wakes <= 40, "wakes: " .. wakes)
  eq(0, after.pending, "pending at the end")
  eq(false, after.timer, "no timer when nothing is pending")
  eq(0, after.sockets, "no socket watched when nothing is pending")
end)

test("cancelling mid-flight closes the socket once libuv let go of it", function()
  local driver = require("kadoa.nvim.driver")
  local client = kn.client()
  local function open(fd) return vim.loop.fs_readlink("/proc/self/fd/" .. fd) end
  local got
  local req = kn.status("hang", function(res, err) got = { res, err } end)
  wait_for(2000, function() return driver.stats(client).sockets > 0 end)
  local fd = next(require("kadoa.luv").room(client, vim.loop).polls)
  check(fd and (open(fd) or ""):find("^socket:"), "the request's socket is open: " .. tostring(fd))
  req:cancel()
  eq(0, driver.stats(client).sockets, "no poll handle left")
  eq(nil, open(fd), "the socket is closed")
  wait_for(1000, function() return got ~= nil end)
  eq("request was cancelled", got and got[2] and got[2].message, "the callback hears of it")
end)

test("closing the client stops the watches first and settles its requests", function()
  local driver = require("kadoa.nvim.driver")
  local client = require("kadoa").client({ api_key = KEY, base_url = srv.url })
  local got
  driver.call(client, function(res, err) got = { res, err } end, "status", "hang")
  wait_for(2000, function() return driver.stats(client).sockets > 0 end)
  client:close()
  eq(0, driver.stats(client).sockets, "no poll handle left")
  wait_for(1000, function() return got ~= nil end)
  eq("client is closed", got and got[2] and got[2].message, "the callback hears of it")
end)

test("watch: every poll is one request (retries = 0) and max_failures counts requests", function()
  local client = kn.client()
  local seen = {}
  -- the watch's task calls the client's methods (over its proxy)
  client.status = function(self, id, o)
    seen[#seen + 1] = { name = "status", id = id, opts = o }
    return getmetatable(client).status(self, id, o)
  end
  local ok, res1, err1 = pcall(function()
    local out
    kn.watch("demo-finishing-0.4-w" .. tag, { interval = 0.1, jitter = 0, notify = false,
      on_done = function(res, err) out = { res, err } end })
    wait_for(5000, function() return out ~= nil end)
    return out and out[1], out and out[2]
  end)
  client.status = nil
  assert(ok, res1)
  check(res1, "watch failed: " .. tostring(err1))
  check(#seen >= 2, "polls: " .. #seen)
  for i, s in ipairs(seen) do
    eq("status", s.name, "call " .. i)
    eq(0, type(s.opts) == "table" and s.opts.retries, "retries of poll " .. i)
    check(type(s.opts.timeout) == "number" and s.opts.timeout > 0, "timeout of poll " .. i)
  end

  local out
  kn.watch("flaky-1-w" .. tag, { max_failures = 1, notify = false,
    on_done = function(res, err) out = { res, err } end })
  wait_for(5000, function() return out ~= nil end)
  check(out, "no on_done")
  local err = out[2]
  eq(nil, out[1], "res")
  eq("server", err.kind, "kind")
  eq(1, err.attempts, "attempts")
  eq("failures", err.gave_up, "gave_up")
  check(kadoa_errors().is(err), "errors.is")
  kn.stop()
end)

test("watch: bad options are usage errors; a failing callback ends the watch with one", function()
  local errors = kadoa_errors()
  local w, err = kn.watch("sess-w-bad", { intervl = 1 })
  eq(nil, w, "no watch")
  eq("usage", err.kind, "kind")
  check(errors.is(err), "errors.is")
  check(err.message:find("did you mean 'interval'", 1, true), err.message)

  local out
  kn.watch("sess-w-boom", { notify = false, on_update = function() error("boom") end,
    on_done = function(res, e) out = { res, e } end })
  wait_for(3000, function() return out ~= nil end)
  check(out, "no on_done")
  eq("usage", out[2].kind, "kind")
  check(errors.is(out[2]), "errors.is")
  check(out[2].message:find("boom", 1, true), out[2].message)
  kn.stop()
end)

test("health: the reachability timeout is a kadoa error", function()
  local health = require("kadoa.health")
  local kadoa = assert(kn.load())
  local c = assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
  local real = vim.wait
  vim.wait = function() return false end   -- as if nothing came in time
  local ok, res, err = pcall(health.reachable, c, 1)
  vim.wait = real
  c:close()
  assert(ok, res)
  eq(nil, res, "res")
  eq("timeout", err.kind, "kind")
  check(kadoa_errors().is(err), "errors.is")
end)

test(":checkhealth kadoa reports the module, libcurl, the key (not its value) and the network", function()
  vim.cmd("checkhealth kadoa")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("bwipeout!")
  for _, want in ipairs({ "loaded into LuaJIT", "libcurl ", "TLS: ", "API key is set",
                          "is reachable" }) do
    check(text:find(want, 1, true), "missing '" .. want .. "' in:\n" .. text)
  end
  check(not text:find("ERROR", 1, true), "an error in:\n" .. text)
  check(not text:find(KEY, 1, true), "the key is in the report")
  measured.health = text:match("libcurl [^\n]*")
end)

test(":checkhealth kadoa says when the base URL is not reachable or no key is set", function()
  local saved = kn.config.client
  -- setup merges deeply, so the key set at the top stays unless cleared
  kn.setup({ client = { base_url = "http://127.0.0.1:" .. mock.closed_port(), api_key = "" } })
  local env_key = os.getenv("KADOA_API_KEY")
  vim.env.KADOA_API_KEY = nil
  vim.cmd("checkhealth kadoa")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("bwipeout!")
  vim.env.KADOA_API_KEY = env_key
  kn.setup({ client = saved })
  check(text:find("no API key", 1, true), text)
  check(text:find("not reachable", 1, true), text)
end)

---------------------------------------------------------------------------
-- Crawls, pages and sessions in buffers

local function buf_named(name)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(b) == name then return b end
  end
end

local function buf_state(b)
  local ok, v = pcall(vim.api.nvim_buf_get_var, b, "kadoa_state")
  return ok and v or nil
end

-- the buffer of that name, once it is no longer loading
local function settled(name, ms)
  local b
  wait_for(ms or 5000, function()
    b = buf_named(name)
    return b ~= nil and buf_state(b) ~= "loading"
  end)
  return b
end

local function lines_of(b) return vim.api.nvim_buf_get_lines(b, 0, -1, false) end

-- the mock's count of the requests a crawl's routes answered
local function hits_of(id)
  local out = vim.fn.system({ "curl", "-s", srv.url .. "/mock/hits/" .. id })
  return vim.json.decode(out)
end

-- a blocking client of its own, for setting up and for comparing: never
-- the editor's, whose requests the driver moves
local function side_client()
  local kadoa = assert(kn.load())
  return assert(kadoa.client({ api_key = KEY, base_url = srv.url }))
end

local crawled   -- the session id :KadoaCrawl started

test(":KadoaCrawl starts the crawl without blocking, says its id and watches it to the end", function()
  kn.stop()
  kn.setup({ wait = { interval = 0.2, max_interval = 0.4, jitter = 0, timeout = 20 } })
  local n = #notes
  local stop = ticker()
  local t0 = uv.hrtime()
  vim.cmd("KadoaCrawl https://pages-12.seconds-0.5." .. tag .. ".example.com/")
  local back = (uv.hrtime() - t0) / 1e6
  wait_for(8000, function()
    local w = kn.watches[#kn.watches]
    return w and w.state ~= "running"
  end)
  local elapsed = (uv.hrtime() - t0) / 1e9
  local ticks = stop()
  check(back < 50, ("the command took %.1f ms to return"):format(back))
  local started
  for i = n + 1, #notes do
    started = started or notes[i].msg:match("^kadoa: crawl started: (%S+)")
  end
  check(started, "no 'crawl started' notification")
  local w = kn.watches[#kn.watches]
  eq(started, w.id, "the watched id")
  eq("finished", w.state, "state")
  eq(12, w.result.payload.crawledPages, "crawledPages")
  check(kn.statusline():find("12p finished", 1, true), kn.statusline())
  check(notes[#notes].msg:find("finished", 1, true), notes[#notes].msg)
  check(ticks >= elapsed * 100 * 0.5, ("only %d ticks in %.2f s"):format(ticks, elapsed))
  eq(started, require("kadoa.nvim.commands").watched_ids(started:sub(1, 4))[1], "completion")
  crawled = started
end)

test(":KadoaPages lists every page of a finished 12-page crawl, the editor ticking", function()
  check(crawled, "no crawl from the test before")
  local name = "kadoa://pages/" .. crawled
  local stop = ticker()
  local t0 = uv.hrtime()
  vim.cmd("KadoaPages " .. crawled)
  local b = settled(name)
  local elapsed = (uv.hrtime() - t0) / 1e9
  local ticks = stop()
  check(b, "no buffer " .. name)
  eq("done", buf_state(b), "state")
  local lines = lines_of(b)
  eq(13, #lines, "lines")
  eq("kadoa: done: 12 pages", table.remove(lines, 1), "the first line")
  for i, l in ipairs(lines) do
    check(l:match("^DONE%s+https://pages%-12%.seconds%-0%.5%." .. tag .. "%.example%.com/"),
      "line " .. i .. ": " .. l)
  end
  eq(b, vim.api.nvim_get_current_buf(), "shown")
  eq("nofile", vim.bo[b].buftype, "buftype")
  eq("wipe", vim.bo[b].bufhidden, "bufhidden")
  eq(false, vim.bo[b].modifiable, "modifiable")
  eq("kadoa-pages", vim.bo[b].filetype, "filetype")
  check(ticks >= math.floor(elapsed * 100 * 0.5), ("only %d ticks in %.3f s"):format(ticks, elapsed))

  -- 14 pages behind a 0.4 s answer: the timer must keep going meanwhile
  stop = ticker()
  t0 = uv.hrtime()
  vim.cmd("KadoaPages slow-400")
  b = settled("kadoa://pages/slow-400")
  elapsed = (uv.hrtime() - t0) / 1e9
  ticks = stop()
  measured.pages = ("a 0.4 s pages listing: %d ticks of the 10 ms timer in %.2f s"):format(ticks, elapsed)
  eq(15, #lines_of(b), "lines of slow-400")
  check(elapsed >= 0.39, ("took %.2f s"):format(elapsed))
  check(ticks >= elapsed * 100 * 0.5, ("only %d ticks in %.2f s"):format(ticks, elapsed))
end)

test("pages: the loop follows both pagination shapes page by page and stops on an endless server", function()
  local c = side_client()
  for _, label in ipairs({ "", "oldpages.", "zeropage.", "endless." }) do
    local res = assert(c:crawl("https://pages-12.seconds-0." .. label .. "b" .. tag .. ".example.com/"))
    local b = kn.pages(res.sessionId, { page_size = 5 })
    wait_for(5000, function() return buf_state(b) ~= "loading" end)
    eq("done", buf_state(b), label .. "state")
    eq(13, #lines_of(b), label .. "lines")
    local ids = require("kadoa.nvim.browse").ids(b)
    eq(false, ids[1], label .. "the first line is no page")
    eq("p0000", ids[2], label .. "first id")
    eq("p0011", ids[13], label .. "last id")
    -- one status; 3 listing pages; the endless server's 4th repeats the 3rd: no new items, stop
    local hits = hits_of(res.sessionId)
    eq(1, hits.status, label .. "status requests")
    eq(label == "endless." and 4 or 3, hits.pages, label .. "listing requests")
    vim.api.nvim_buf_delete(b, { force = true })
  end
  c:close()
end)

test("pages: hostile URLs are cleaned, a failed crawl's pages come with a warning", function()
  local c = side_client()
  local hostile = assert(c:crawl("https://hostile.pages-40.seconds-0.h" .. tag .. ".example.com/"))
  local failing = assert(c:crawl("https://failing.pages-10.seconds-0.1.f" .. tag .. ".example.com/"))
  -- start URLs are listed as they were sent: an escape sequence and a newline in one
  local ctl = assert(c:crawl({ startUrls = { "https://pages-3.seconds-0.c" .. tag .. ".example.com/",
    "https://c.example.com/a\27[2Jb\nc\rd\0e" } }))
  c:close()
  local b = kn.pages(ctl.sessionId)
  wait_for(5000, function() return buf_state(b) ~= "loading" end)
  eq("done", buf_state(b), "ctl state")
  local lines = lines_of(b)
  eq(4, #lines, "ctl lines")
  check(lines[3]:find("https://c.example.com/a", 1, true), lines[2])
  for i, l in ipairs(lines) do
    check(not l:find("[%z\1-\31\127]"), "a control character on line " .. i .. ": " .. l)
  end
  vim.api.nvim_buf_delete(b, { force = true })
  b = kn.pages(hostile.sessionId)
  wait_for(5000, function() return buf_state(b) ~= "loading" end)
  eq("done", buf_state(b), "hostile state")
  lines = lines_of(b)
  eq(41, #lines, "hostile lines")
  for i, l in ipairs(lines) do
    check(not l:find("[%z\1-\31\127]"), "a control character on line " .. i .. ": " .. l)
  end
  wait_for(300, function() return false end)   -- the crawl dies at 0.06 s
  local n = #notes
  b = kn.pages(failing.sessionId)
  wait_for(5000, function() return buf_state(b) ~= "loading" end)
  eq("done", buf_state(b), "failing state")
  eq(7, #lines_of(b), "the pages done before it failed")
  check(lines_of(b)[1]:find("the crawl failed: ", 1, true), lines_of(b)[1])
  local warned
  for i = n + 1, #notes do
    if notes[i].level == vim.log.levels.WARN and notes[i].msg:find("blocked the crawler", 1, true) then
      warned = true
    end
  end
  check(warned, "no warning about the failed crawl")
  vim.api.nvim_buf_delete(b, { force = true })
end)

test("pages: wiping the buffer while it loads cancels the request, quietly", function()
  local driver = require("kadoa.nvim.driver")
  local client = kn.client()
  local n = #notes
  local b = kn.pages("slow-1500")
  wait_for(50, function() return false end)
  eq(1, driver.stats(client).pending, "pending while loading")
  vim.api.nvim_buf_delete(b, { force = true })
  wait_for(1000, function() return driver.stats(client).pending == 0 end)
  eq(0, driver.stats(client).pending, "pending after the wipe")
  wait_for(100, function() return false end)
  eq(n, #notes, "notifications after the wipe")
end)

test(":KadoaPages follows a running crawl: lines come as pages finish, the editor ticking", function()
  kn.setup({ wait = { interval = 0.1, max_interval = 0.3, jitter = 0 } })
  local c = side_client()
  local id = assert(c:crawl("https://pages-30.seconds-1.5.g" .. tag .. ".example.com/")).sessionId
  c:close()
  local stop = ticker()
  local t0 = uv.hrtime()
  vim.cmd("KadoaPages " .. id)
  local b = buf_named("kadoa://pages/" .. id)
  check(b, "no buffer")
  -- the counts seen while it runs: they must grow, not jump from 0 to 30
  local seen, following = {}, false
  wait_for(8000, function()
    local n = #lines_of(b) - 1
    if seen[#seen] ~= n then seen[#seen + 1] = n end
    following = following or buf_state(b) == "following"
      and lines_of(b)[1]:find("^kadoa: following: ") ~= nil
    return buf_state(b) ~= "loading" and buf_state(b) ~= "following"
  end)
  local elapsed = (uv.hrtime() - t0) / 1e9
  local ticks = stop()
  measured.follow = ("a 30-page crawl over 1.5 s followed: %d counts seen, "
    .. "%d ticks of the 10 ms timer in %.2f s"):format(#seen, ticks, elapsed)
  eq("done", buf_state(b), "state")
  check(following, "never said following")
  eq("kadoa: done: 30 pages", lines_of(b)[1], "the first line")
  check(#seen >= 4, "the lines came in " .. #seen .. " steps: " .. table.concat(seen, " "))
  check(elapsed >= 1.3, ("over in %.2f s: not followed"):format(elapsed))
  check(ticks >= elapsed * 100 * 0.5, ("only %d ticks in %.2f s"):format(ticks, elapsed))
  local ids = require("kadoa.nvim.browse").ids(b)
  local once = {}
  for line = 2, 31 do
    local pid = ids[line]
    check(pid and not once[pid], "line " .. line .. ": " .. tostring(pid))
    once[pid] = true
    check(lines_of(b)[line]:match("^DONE%s+https://"), lines_of(b)[line])
  end
  eq(31, #lines_of(b), "lines")
  -- over: nothing more is asked for
  local hits = hits_of(id)
  wait_for(500, function() return false end)
  eq(hits.status + hits.pages, hits_of(id).status + hits_of(id).pages, "requests after the end")
  -- <CR> on an appended line opens that page
  vim.api.nvim_win_set_cursor(0, { 31, 0 })
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<CR>", true, false, true), "x", false)
  local pb = settled("kadoa://page/" .. id .. "/" .. ids[31])
  check(pb, "no page buffer for the last line")
  eq("done", buf_state(pb), "page state")
  vim.api.nvim_feedkeys("q", "x", false)
  vim.api.nvim_feedkeys("q", "x", false)
end)

test(":KadoaPages of a running crawl: paused says so, hiding the buffer stops every request", function()
  kn.setup({ wait = { interval = 0.1, max_interval = 0.2, jitter = 0 } })
  local state = vim.fn.tempname()
  local saved = vim.env.XDG_STATE_HOME
  vim.env.XDG_STATE_HOME = state
  local c = side_client()
  local id = assert(c:crawl("https://pages-400.seconds-40.h" .. tag .. ".example.com/")).sessionId
  vim.cmd("KadoaPages " .. id)
  local b = buf_named("kadoa://pages/" .. id)
  wait_for(5000, function() return #lines_of(b) > 2 end)
  eq("following", buf_state(b), "state")
  assert(c:pause(id))   -- marked in the state file, as from any host
  wait_for(3000, function() return buf_state(b) == "paused" end)
  eq("paused", buf_state(b), "state after the pause")
  check(lines_of(b)[1]:find("^kadoa: paused %(%d%d:%d%d%), waiting: "), lines_of(b)[1])
  assert(c:resume(id))
  wait_for(3000, function() return buf_state(b) == "following" end)
  eq("following", buf_state(b), "state after the resume")
  c:close()
  vim.env.XDG_STATE_HOME = saved
  -- hidden ('bufhidden' wipe): the task is cancelled, nothing more is sent
  vim.cmd("enew")
  check(not vim.api.nvim_buf_is_valid(b), "the listing was not wiped")
  wait_for(100, function() return false end)   -- a request in flight lands
  local before = hits_of(id)
  wait_for(800, function() return false end)
  local after = hits_of(id)
  eq(before.status, after.status, "status requests after the buffer went")
  eq(before.pages, after.pages, "listing requests after the buffer went")
  check(before.status >= 3, "it polled only " .. before.status .. " times")
  vim.cmd("bwipeout!")
end)

test(":KadoaPages of a running crawl kept when hidden ('bufhidden' hide): stopped, and says so", function()
  local c = side_client()
  local id = assert(c:crawl("https://pages-400.seconds-40.k" .. tag .. ".example.com/")).sessionId
  c:close()
  vim.cmd("KadoaPages " .. id)
  local b = buf_named("kadoa://pages/" .. id)
  wait_for(5000, function() return #lines_of(b) > 2 end)
  vim.bo[b].bufhidden = "hide"
  vim.cmd("enew")
  wait_for(1000, function() return buf_state(b) == "stopped" end)
  eq("stopped", buf_state(b), "state")
  eq("kadoa: stopped: the buffer was hidden", lines_of(b)[1], "the first line")
  local before = hits_of(id)
  wait_for(600, function() return false end)
  eq(before.status + before.pages, hits_of(id).status + hits_of(id).pages, "requests while hidden")
  vim.api.nvim_buf_delete(b, { force = true })
  vim.cmd("bwipeout!")
end)

test("kn.each_page follows a crawl as client:each_page does, by callback; cancel stops it", function()
  local c = side_client()
  local id = assert(c:crawl("https://pages-20.seconds-1.e" .. tag .. ".example.com/")).sessionId
  local long = assert(c:crawl("https://pages-400.seconds-40.e" .. tag .. ".example.com/")).sessionId
  c:close()
  local got, order, ended, failed = {}, {}, false, nil
  local stop = ticker()
  local t0 = uv.hrtime()
  local t = assert(kn.each_page(id, { follow = true, interval = 0.1, jitter = 0, page_size = 7 },
    function(page, err)
      check(not ended, "a callback after the end")
      if page == nil then ended = true return end
      if page == false then failed = err return end
      check(not got[page.id], page.id .. " twice")
      got[page.id] = true
      order[#order + 1] = page.id
    end))
  wait_for(8000, function() return ended or failed ~= nil end)
  local elapsed = (uv.hrtime() - t0) / 1e9
  local ticks = stop()
  eq(nil, failed, "error")
  eq(true, ended, "ended")
  eq(20, #order, "pages")
  check(elapsed >= 0.9, ("over in %.2f s: not followed"):format(elapsed))
  check(ticks >= elapsed * 100 * 0.5, ("only %d ticks in %.2f s"):format(ticks, elapsed))
  check(t:done(), "the task is not over")

  -- cancelled: no more callbacks, nothing more sent
  local calls = 0
  t = assert(kn.each_page(long, { follow = true, interval = 0.1 }, function() calls = calls + 1 end))
  wait_for(3000, function() return calls > 0 end)
  check(calls > 0, "no page came")
  t:cancel()
  wait_for(100, function() return false end)
  local n, before = calls, hits_of(long)
  wait_for(600, function() return false end)
  eq(n, calls, "callbacks after cancel")
  eq(before.status + before.pages, hits_of(long).status + hits_of(long).pages, "requests after cancel")

  -- each_page's options, checked as the Lua face checks them
  local bad
  kn.each_page(id, { follow = true, pagesize = 5 }, function(page, err) bad = { page, err } end)
  wait_for(1000, function() return bad ~= nil end)
  eq(false, bad[1], "a bad option's first value")
  eq("usage", bad[2].kind, "a bad option's error")
  check(bad[2].message:find("page_size", 1, true), bad[2].message)
  check(not pcall(kn.each_page, id, {}, nil), "no callback did not raise")
end)

test("<CR> on a page opens its Markdown in kadoa://page/<id>/<page id>; q closes", function()
  -- the listing was wiped when the next one took its window ('bufhidden')
  local name = "kadoa://pages/" .. crawled
  vim.cmd("KadoaPages " .. crawled)
  local b = settled(name)
  check(b, "no listing")
  vim.api.nvim_win_set_cursor(0, { 4, 0 })
  local wins = #vim.api.nvim_list_wins()
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<CR>", true, false, true), "x", false)
  local pname = "kadoa://page/" .. crawled .. "/p0002"
  local pb = settled(pname)
  check(pb, "no buffer " .. pname)
  eq("done", buf_state(pb), "state")
  eq(pb, vim.api.nvim_get_current_buf(), "shown")
  eq(wins + 1, #vim.api.nvim_list_wins(), "in a new window")
  eq("markdown", vim.bo[pb].filetype, "filetype")
  eq("nofile", vim.bo[pb].buftype, "buftype")
  eq(false, vim.bo[pb].modifiable, "modifiable")
  local text = table.concat(lines_of(pb), "\n")
  check(text:sub(1, 1) == "#", "starts with: " .. text:sub(1, 40))
  local c = side_client()
  local want = assert(c:page(crawled, "p0002", { format = "markdown" }))
  c:close()
  if type(want) == "table" then want = want.payload end
  eq(want:gsub("\n$", ""), text:gsub("\n$", ""), "the Markdown")

  -- <CR> on a line without a page says so
  vim.api.nvim_feedkeys("q", "x", false)
  eq(nil, buf_named(pname), "q wiped the page")
  eq(wins, #vim.api.nvim_list_wins(), "q closed its window")
  eq(b, vim.api.nvim_get_current_buf(), "back on the listing")
  vim.api.nvim_feedkeys("q", "x", false)
  eq(nil, buf_named(name), "q wiped the listing")
end)

test(":KadoaSessions lists the crawl; <CR> lists its pages", function()
  vim.cmd("KadoaSessions")
  local b = settled("kadoa://sessions")
  check(b, "no sessions buffer")
  eq("done", buf_state(b), "state")
  eq("kadoa-sessions", vim.bo[b].filetype, "filetype")
  local ids = require("kadoa.nvim.browse").ids(b)
  local row
  for i, id in ipairs(ids) do if id == crawled then row = i end end
  check(row, "the crawl is not listed")
  local line = lines_of(b)[row]
  local short = require("kadoa.format").short_id(crawled)
  check(line:find(short, 1, true) and line:find("finished", 1, true)
        and line:find("12 pages", 1, true) and line:find("pages-12", 1, true), line)
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<CR>", true, false, true), "x", false)
  local pb = settled("kadoa://pages/" .. crawled)
  check(pb, "no pages buffer")
  eq(13, #lines_of(pb), "lines")
  vim.api.nvim_feedkeys("q", "x", false)
  vim.api.nvim_feedkeys("q", "x", false)
end)

test(":KadoaPages of a failing session reports an error and does not crash", function()
  local n = #notes
  vim.cmd("KadoaPages status-404")
  local b = settled("kadoa://pages/status-404")
  check(b, "no buffer")
  eq("failed", buf_state(b), "state")
  local err
  for i = n + 1, #notes do
    if notes[i].level == vim.log.levels.ERROR then err = notes[i] end
  end
  check(err, "no error notification")
  check(err.msg:find("not found", 1, true), err.msg)
  eq(1, #lines_of(b), "one line")
  check(lines_of(b)[1]:find("not found", 1, true), lines_of(b)[1])
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<CR>", true, false, true), "x", false)
  check(notes[#notes].msg:find("no page on this line", 1, true), notes[#notes].msg)
  -- a URL the server refuses: :KadoaCrawl reports it too
  n = #notes
  vim.cmd("KadoaCrawl https://fault-status-400.example/")
  wait_for(3000, function() return #notes > n end)
  eq(vim.log.levels.ERROR, notes[#notes].level, "crawl error level")
  vim.api.nvim_feedkeys("q", "x", false)
  eq(true, vim.api.nvim_get_mode().blocking == false, "editor responsive")
end)

---------------------------------------------------------------------------
-- :KadoaTop, every crawl live

local top_crawls = {}   -- the crawls the top tests watch: fast, paused, done
local top_buf

-- the line of the top buffer that shows session id, and its fields
local function top_row(b, id)
  local ids = require("kadoa.nvim.top").state(b).ids
  for line, sid in pairs(ids) do
    if sid == id then
      local text = lines_of(b)[line]
      local fields = {}
      for w in text:gmatch("%S+") do fields[#fields + 1] = w end
      -- kadoa top's columns: SESSION STATE PAGES PG/MIN ... DOMAIN
      return line, { state = fields[2], pages = tonumber((fields[3] or ""):gsub(",", ""), 10),
                     text = text }
    end
  end
end

-- crawl time of a session, read twice `gap` seconds apart through a
-- blocking client of its own: did it move?
local function moving(id, gap)
  local c = side_client()
  local a = assert(c:status(id)).payload.crawledPages
  wait_for(gap * 1000, function() return false end)
  local b = assert(c:status(id)).payload.crawledPages
  c:close()
  return b > a, a, b
end

-- every top refresh the view says it drew
local top_updates = 0
vim.api.nvim_create_autocmd("User", { pattern = "KadoaTopUpdate",
  callback = function() top_updates = top_updates + 1 end })

test(":KadoaTop lists every crawl and refreshes in place, the editor ticking", function()
  local c = side_client()
  for _, k in ipairs({ "fast", "paused" }) do
    top_crawls[k] = assert(c:crawl("https://pages-400.seconds-40." .. k .. tag .. ".example.com/")).sessionId
  end
  top_crawls.done = assert(c:crawl("https://pages-5.seconds-0.done" .. tag .. ".example.com/")).sessionId
  c:close()
  -- min_interval too: fleet's floor (1 s) would hold the 0.2 s up
  kn.setup({ top = { interval = 0.2, min_interval = 0.1, confirm = false } })
  local stop = ticker()
  local t0 = uv.hrtime()
  vim.cmd("KadoaTop")
  local back = (uv.hrtime() - t0) / 1e6
  local b = buf_named("kadoa://top")
  check(b, "no kadoa://top buffer")
  top_buf = b
  eq(b, vim.api.nvim_get_current_buf(), "shown")
  wait_for(5000, function()
    return top_row(b, top_crawls.fast) and top_row(b, top_crawls.paused) and top_row(b, top_crawls.done)
  end)
  local _, fast1 = top_row(b, top_crawls.fast)
  check(fast1, "the crawls are not listed:\n" .. table.concat(lines_of(b), "\n"))
  local u1 = top_updates
  -- two more refreshes: the fast crawl (10 pages/s) has grown
  local fast2
  wait_for(5000, function()
    local _, r = top_row(b, top_crawls.fast)
    fast2 = r
    return top_updates >= u1 + 2 and r and r.pages and fast1.pages and r.pages > fast1.pages
  end)
  local elapsed = (uv.hrtime() - t0) / 1e9
  local ticks, worst = stop()
  measured.top = ("top: %d refreshes drawn in %.2f s, %d ticks of the 10 ms timer (largest gap %.1f ms)")
    :format(top_updates, elapsed, ticks, worst)
  check(back < 50, ("the command took %.1f ms to return"):format(back))
  check(top_updates >= u1 + 2, "refreshes drawn: " .. (top_updates - u1))
  check(fast2.pages > fast1.pages, ("pages did not grow: %s -> %s"):format(fast1.text, fast2.text))
  eq(b, buf_named("kadoa://top"), "the same buffer")
  eq("running", fast2.state, "state of the fast crawl")
  local _, done = top_row(b, top_crawls.done)
  eq("finished", done.state, "state of the finished crawl")
  eq(5, done.pages, "pages of the finished crawl")
  local lines = lines_of(b)
  check(lines[1]:find("running", 1, true) and lines[1]:find("sessions", 1, true), "totals: " .. lines[1])
  check(lines[2]:find("^refreshed "), "refreshed line: " .. lines[2])
  check(lines[3]:find("PG/MIN", 1, true), "column heading: " .. lines[3])
  local width = vim.api.nvim_win_get_width(0)
  for i = 3, #lines do
    check(vim.fn.strdisplaywidth(lines[i]) <= width,
      ("line %d is wider than the window: %s"):format(i, lines[i]))
  end
  check(done.text:find(require("kadoa.format").short_id(top_crawls.done), 1, true), done.text)
  check(done.text:find("pages-5", 1, true), "domain: " .. done.text)
  eq("live", buf_state(b), "b:kadoa_state")
  eq("nofile", vim.bo[b].buftype, "buftype")
  eq(false, vim.bo[b].modifiable, "modifiable")
  eq("kadoa-top", vim.bo[b].filetype, "filetype")
  check(ticks >= elapsed * 100 * 0.5, ("only %d ticks in %.2f s"):format(ticks, elapsed))
  -- drawn by kadoa.fleet.view, with none of the command's modules loaded
  check(package.loaded["kadoa.fleet.view"], "kadoa.fleet.view is not loaded")
  for name in pairs(package.loaded) do
    check(name ~= "kadoa.cli" and not name:find("^kadoa%.cli%."), "Neovim loaded " .. name)
  end
end)

test(":KadoaTop: p pauses the crawl on the cursor's line in the mock, r resumes it", function()
  local b = assert(top_buf, "no top buffer")
  local id = top_crawls.paused
  local line = top_row(b, id)
  check(line, "the crawl is not listed")
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  check(moving(id, 0.3), "the crawl does not move before the pause")
  vim.api.nvim_feedkeys("p", "x", false)
  wait_for(3000, function()
    local _, r = top_row(b, id)
    return r and r.state == "paused"
  end)
  local _, r = top_row(b, id)
  eq("paused", r.state, "row state after p")
  -- the row is marked while the call is in flight; the mark on disk is
  -- written once the API said yes, and only then must the crawl stand still
  check(wait_for(5000, function() return require("kadoa.marks").read()[id] ~= nil end),
    "the pause was never confirmed (no mark written)")
  local moved, a, z = moving(id, 0.4)
  check(not moved, ("still crawling after p: %d -> %d pages"):format(a, z))
  line = top_row(b, id)
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  vim.api.nvim_feedkeys("r", "x", false)
  wait_for(3000, function()
    local _, rr = top_row(b, id)
    return rr and rr.state == "running"
  end)
  _, r = top_row(b, id)
  eq("running", r.state, "row state after r")
  check(moving(id, 0.4), "not crawling again after r")
  -- p on a line without a session says so, and sends nothing
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local n = #notes
  vim.api.nvim_feedkeys("p", "x", false)
  check(#notes > n and notes[#notes].msg:find("no session on this line", 1, true),
    "no warning for p on the header")
end)

test(":KadoaTop with confirm: p asks, and No pauses nothing", function()
  local b = kn.top({ interval = 0.2, confirm = true })
  wait_for(5000, function() return top_row(b, top_crawls.paused) ~= nil end)
  local id = top_crawls.paused
  local client = kn.client()
  local sent = {}
  client.send = function(self, name, ...)
    sent[#sent + 1] = name
    return getmetatable(self).send(self, name, ...)
  end
  local real, asked = vim.fn.confirm, {}
  local answer = 2
  vim.fn.confirm = function(msg, choices, default)
    asked[#asked + 1] = { msg, choices, default }
    return answer
  end
  local ok, err = pcall(function()
    vim.api.nvim_win_set_cursor(0, { top_row(b, id), 0 })
    vim.api.nvim_feedkeys("p", "x", false)
    wait_for(300, function() return false end)
    eq(1, #asked, "asked once")
    check(asked[1][1]:find(id, 1, true), "the question names the crawl: " .. asked[1][1])
    eq(2, asked[1][3], "No is the default")
    for _, name in ipairs(sent) do check(name ~= "pause", "a pause was sent after No") end
    check(moving(id, 0.3), "paused after No")
    answer = 1
    vim.api.nvim_win_set_cursor(0, { top_row(b, id), 0 })
    vim.api.nvim_feedkeys("p", "x", false)
    wait_for(3000, function()
      local _, r = top_row(b, id)
      return r and r.state == "paused"
    end)
    -- the row is marked at once; the pause itself lands a moment later
    -- (later still on a loaded machine): the crawl must stop within 4.5 s
    local stopped = false
    for _ = 1, 15 do
      if not moving(id, 0.3) then stopped = true break end
    end
    check(stopped, "not paused after Yes")
    vim.api.nvim_win_set_cursor(0, { top_row(b, id), 0 })
    vim.api.nvim_feedkeys("r", "x", false)
    wait_for(3000, function()
      local _, r = top_row(b, id)
      return r and r.state == "running"
    end)
  end)
  vim.fn.confirm = real
  client.send = nil
  assert(ok, err)
  eq(3, #asked, "asked for p, p again and r")
  top_buf = b
end)

test(":KadoaTop stops refreshing while hidden and starts again when shown", function()
  local top = require("kadoa.nvim.top")
  local b = assert(top_buf, "no top buffer")
  eq(b, vim.api.nvim_get_current_buf(), "top is shown")
  local client = kn.client()
  local sent = 0
  -- the refresh's task calls the client's methods (over its proxy)
  for _, name in ipairs({ "sessions", "status" }) do
    client[name] = function(self, ...)
      sent = sent + 1
      return getmetatable(client)[name](self, ...)
    end
  end
  local ok, err = pcall(function()
    local u0 = top_updates
    wait_for(3000, function() return top_updates >= u0 + 1 end)
    vim.cmd("enew")
    wait_for(100, function() return false end)   -- a refresh in flight winds down
    local st = top.state(b)
    check(st, "the view is gone: hiding must not wipe it")
    eq(false, st.visible, "visible")
    eq(false, st.timer, "a timer while hidden")
    eq(0, st.pending, "requests while hidden")
    local s0, u1 = sent, top_updates
    wait_for(600, function() return false end)
    eq(s0, sent, "requests sent while hidden")
    eq(u1, top_updates, "refreshes drawn while hidden")
    vim.cmd("buffer " .. b)
    wait_for(3000, function() return top_updates >= u1 + 2 end)
    check(top_updates >= u1 + 2, "no refresh after showing it again")
    check(sent > s0, "no request after showing it again")
    eq(true, top.state(b).visible, "visible again")
    -- shown in two windows, one closed: it still refreshes
    vim.cmd("split")
    vim.cmd("close")
    local u2 = top_updates
    wait_for(3000, function() return top_updates >= u2 + 1 end)
    check(top_updates >= u2 + 1, "stopped while still shown in a window")
  end)
  client.sessions, client.status = nil, nil
  assert(ok, err)
end)

test(":KadoaTop: hiding it cancels the refresh in flight, and nothing lands in the buffer", function()
  local top = require("kadoa.nvim.top")
  local driver = require("kadoa.nvim.driver")
  local b = assert(top_buf, "no top buffer")
  eq(b, vim.api.nvim_get_current_buf(), "top is shown")
  local client = kn.client()
  -- the listing now takes 1.5 s (a slow status stands in for it): hide
  -- the view while it is out
  local slow = 0
  client.sessions = function(self)
    slow = slow + 1
    return getmetatable(client).status(self, "slow-1500")
  end
  local ok, err = pcall(function()
    wait_for(3000, function() return top.state(b).pending > 0 and slow > 0 end)
    check(top.state(b).pending > 0, "no refresh in flight")
    local u0, before = top_updates, table.concat(lines_of(b), "\n")
    vim.cmd("hide enew")
    -- the cancellation lands on the main loop, after the driver's tick
    wait_for(1000, function()
      return driver.stats(client).pending == 0 and top.state(b).pending == 0
    end)
    eq(0, driver.stats(client).pending, "requests left after hiding")
    eq(0, top.state(b).pending, "the view's requests after hiding")
    eq(false, top.state(b).refreshing, "a refresh still running")
    wait_for(300, function() return false end)
    eq(u0, top_updates, "a cancelled refresh was drawn")
    eq(before, table.concat(lines_of(b), "\n"), "the buffer changed while hidden")
    eq("live", buf_state(b), "b:kadoa_state after a cancelled refresh")
  end)
  client.sessions = nil
  assert(ok, err)
  local u1 = top_updates
  vim.cmd("buffer " .. b)
  wait_for(3000, function() return top_updates > u1 end)
  check(top_updates > u1, "no refresh after showing it again")
  eq("live", buf_state(b), "b:kadoa_state when shown again")
end)

test(":KadoaTop: a failed refresh keeps the rows, says STALE with the error, recovers", function()
  local b = assert(top_buf, "no top buffer")
  local n = #notes
  kn.setup({ client = { base_url = "http://127.0.0.1:" .. mock.closed_port(), retries = 0 } })
  wait_for(5000, function() return buf_state(b) == "stale" end)
  local text = table.concat(lines_of(b), "\n")
  kn.setup({ client = { base_url = srv.url, retries = 2 } })
  eq("stale", buf_state(b), "b:kadoa_state")
  check(lines_of(b)[2]:find("^STALE"), "no stale line:\n" .. text)
  check(text:lower():find("connect", 1, true) or text:lower():find("refused", 1, true),
    "no error in:\n" .. text)
  check(top_row(b, top_crawls.fast), "the rows are gone:\n" .. text)
  for i = n + 1, #notes do
    check(notes[i].level ~= vim.log.levels.ERROR, "an error notification: " .. notes[i].msg)
  end
  wait_for(5000, function() return buf_state(b) == "live" end)
  eq("live", buf_state(b), "b:kadoa_state after the server is back")
  check(lines_of(b)[2]:find("^refreshed"), lines_of(b)[2])
end)

test(":KadoaTop: <CR> lists the pages of the crawl on the line; q closes and stops it all", function()
  local top = require("kadoa.nvim.top")
  local b = assert(top_buf, "no top buffer")
  vim.api.nvim_win_set_cursor(0, { top_row(b, top_crawls.done), 0 })
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<CR>", true, false, true), "x", false)
  local pb = settled("kadoa://pages/" .. top_crawls.done)
  check(pb, "no pages buffer")
  eq(6, #lines_of(pb), "the first line and the pages")
  vim.api.nvim_feedkeys("q", "x", false)
  eq(b, vim.api.nvim_get_current_buf(), "back on top")
  vim.api.nvim_feedkeys("q", "x", false)
  eq(nil, buf_named("kadoa://top"), "q wiped the view")
  eq(nil, top.state(b), "the view is forgotten")
  local u = top_updates
  wait_for(500, function() return false end)
  eq(u, top_updates, "refreshes after q")
  local client = kn.client()
  wait_for(1000, function() return require("kadoa.nvim.driver").stats(client).pending == 0 end)
  eq(0, require("kadoa.nvim.driver").stats(client).pending, "requests left after q")
  local n
  -- fleet's options are checked: a bad one is an error and no view
  n = #notes
  eq(nil, kn.top({ intervl = 1 }), "a view with a misspelt option")
  check(#notes > n and notes[#notes].msg:find("did you mean 'interval'", 1, true),
    "no did-you-mean: " .. tostring(notes[#notes] and notes[#notes].msg))
  eq(nil, buf_named("kadoa://top"), "a view after a bad option")
  -- words that are no name=value: a usage message, no view
  n = #notes
  vim.cmd("KadoaTop fast")
  check(#notes > n and notes[#notes].msg:find("usage: :KadoaTop", 1, true), "no usage message")
  eq(nil, buf_named("kadoa://top"), "a view after a usage error")
end)

---------------------------------------------------------------------------

srv:stop()
watchdog:stop()
say("")
for _, k in ipairs({ "blocking", "ticks", "ten", "steps", "watch", "pages", "follow", "top", "health" }) do
  if measured[k] then say("measured: %s", measured[k]) end
end
say("%s: %d passed, %d failed%s", failures == 0 and "OK" or "FAILED", passed, failures,
  NO_CJSON and " (without lua-cjson: vim.json stands in)" or "")
if failures > 0 then vim.cmd("cquit 1") else vim.cmd("qall!") end
