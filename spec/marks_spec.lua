-- kadoa.marks: the paused marks' state file (where, mode, atomic, corrupt),
-- the stalled judgement, kadoa.format showing them, and the client's pause
-- and resume leaving and clearing the mark against the real mock.
local core = require("kadoa.core")
local marks = require("kadoa.marks")
local format = require("kadoa.format")
local fixture = require("spec.helpers.fixture")
local sub = require("spec.helpers.subprocess")

local KEY = "sk-marks-9d2a"

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(core.mkdir(d))
  return d
end

local function mode(path) return (sub.sh("stat -c %a " .. sub.quote(path)):gsub("%s+$", "")) end

describe("marks", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() sub.sh("rm -rf " .. sub.quote(dir)) end)

  it("lives under XDG_STATE_HOME, else ~/.local/state; a relative XDG_STATE_HOME is not used", function()
    local env = { XDG_STATE_HOME = "/s", HOME = "/h" }
    local function getenv(k) return env[k] end
    assert.are.equal("/s/kadoa/marks.json", marks.path(getenv))
    env.XDG_STATE_HOME = "rel"
    assert.are.equal("/h/.local/state/kadoa/marks.json", marks.path(getenv))
    env.XDG_STATE_HOME, env.HOME = "", nil
    local p, err = marks.path(getenv)
    assert.is_nil(p)
    assert.are.equal("io", err.kind)
  end)

  it("remembers a pause with its time, clears it on resume; mode 0600 in a 0700 folder", function()
    local path = dir .. "/state/kadoa/marks.json"
    assert.is_true(marks.set("s-1", true, path, 1700000000))
    assert.is_true(marks.set("s-2", true, path, 1700000100))
    assert.are.same({ ["s-1"] = 1700000000, ["s-2"] = 1700000100 }, marks.read(path))
    assert.are.equal("600", mode(path))
    assert.are.equal("700", mode(dir .. "/state/kadoa"))
    assert.are.equal(1700000000, marks.paused("s-1", marks.read(path)))
    assert.is_true(marks.set("s-1", false, path))
    assert.are.same({ ["s-2"] = 1700000100 }, marks.read(path))
    -- only ids and times: nothing else is in the file
    local text = sub.read(path)
    assert.are.equal('{"paused":{"s-2":1700000100}}\n', text)
    -- a resume of what was never paused leaves the file alone
    local before = sub.sh("ls -i " .. sub.quote(path))
    assert.is_true(marks.set("never", false, path))
    assert.are.equal(before, sub.sh("ls -i " .. sub.quote(path)))
  end)

  it("reads a missing or corrupt file as no marks, and a write replaces a corrupt one", function()
    local path = dir .. "/marks.json"
    assert.are.same({}, marks.read(path))
    local junks = { "", "{", "[1,2]", '{"paused":[1]}', '{"paused":{"a":"x","":1,"b":2}}', "\0\255" }
    for _, junk in ipairs(junks) do
      sub.write(path, junk)
      local got = marks.read(path)
      if junk:find('"b":2', 1, true) then assert.are.same({ b = 2 }, got) else assert.are.same({}, got) end
    end
    sub.write(path, "garbage")
    assert.is_true(marks.set("s", true, path, 5))
    assert.are.same({ s = 5 }, marks.read(path))
  end)

  it("is replaced whole: a reader never sees a partial file, and no temporary is left", function()
    local path = dir .. "/marks.json"
    assert.is_true(marks.set("first", true, path))
    -- another process writes 150 times while this one reads
    local code = ([[
      local marks = require("kadoa.marks")
      for i = 1, 150 do assert(marks.set(("session-%%03d-"):format(i) .. ("x"):rep(200), i %% 3 ~= 0, %q)) end
      io.write("ok")
    ]]):format(path)
    local script = os.tmpname()
    sub.write(script, code)
    finally(function() os.remove(script) end)
    local bg = io.popen(sub.command({}) .. " " .. sub.quote(script) .. " 2>&1", "r")
    local reads, decoded = 0, 0
    local cjson = require("cjson")
    for _ = 1, 3000 do
      local text = sub.read(path)
      if text then
        reads = reads + 1
        local ok, t = pcall(cjson.decode, text)
        assert.is_true(ok and type(t.paused) == "table", "a torn read: " .. text:sub(1, 80))
        decoded = decoded + 1
      end
    end
    assert.are.equal("ok", bg:read("*a"))
    bg:close()
    assert.are.equal(reads, decoded)
    assert.is_true(reads > 0)
    assert.are.equal("", sub.sh("ls " .. sub.quote(dir) .. " | grep -v '^marks.json$'"))
    assert.are.equal("600", mode(path))
  end)

  it("judges stalled: no move and no active job over several observations", function()
    local still = { crawledPages = 5, activeJobs = 0, waitingJobs = 4, finished = false }
    assert.is_false(marks.stalled({ still, still }))              -- too few to say
    assert.is_true(marks.stalled({ still, still, still }))
    assert.is_false(marks.stalled({ still, still, { crawledPages = 6, activeJobs = 0, finished = false } }))
    assert.is_false(marks.stalled({ still, still, { crawledPages = 5, activeJobs = 1, finished = false } }))
    assert.is_false(marks.stalled({ still, still, { crawledPages = 5, activeJobs = 0, finished = true } }))
    -- only the last n count: it moved before, then stood
    assert.is_true(marks.stalled({ { crawledPages = 1, activeJobs = 3 }, still, still, still }))
    assert.is_true(marks.stalled({ still, still }, 2))
    assert.is_false(marks.stalled(nil))
    assert.is_false(marks.stalled({ still, "junk", still }))
    assert.are.equal("paused", marks.of("a", { still, still, still }, { a = 1 }))
    assert.are.equal("stalled", marks.of("b", { still, still, still }, { a = 1 }))
    assert.is_nil(marks.of("b", { still }, {}))
  end)

  it("shows in kadoa.format's status text instead of crawling, never over finished or failed", function()
    local running = { sessionId = "sess-1", payload = { crawledPages = 3, activeJobs = 0, finished = false } }
    assert.matches("^sess%-1  paused  3 pages", format.format(running, { mark = "paused" }))
    assert.matches("  stalled  ", format.format(running, { mark = "stalled" }))
    assert.matches("state%s+paused", format.format(running, { style = "long", mark = "paused" }))
    assert.matches("  crawling  ", format.format(running, { mark = "bogus" }))
    local done = { sessionId = "s", payload = { finished = true } }
    assert.matches("  finished", format.format(done, { mark = "paused" }))
    local failed = { sessionId = "s", payload = {}, error = "boom" }
    assert.matches("failed: boom", format.format(failed, { mark = "paused" }))
  end)
end)

describe("a client's pause and resume", function()
  local fx = fixture.mock_client(KEY)
  local srv, client
  setup(function() srv, client = fx.start() end)
  teardown(fx.stop)

  it("leave and clear the mark, in the state file of XDG_STATE_HOME", function()
    local state = tmpdir()
    finally(function() sub.sh("rm -rf " .. sub.quote(state)) end)
    local id = assert(client:crawl("https://pages-40.seconds-30.example.com/")).sessionId
    local code = ([[
      local kadoa, marks = require("kadoa"), require("kadoa.marks")
      local c = assert(kadoa.client({ api_key = %q, base_url = %q }))
      local id = %q
      assert(c:pause(id))
      local at = marks.paused(id)
      io.write(type(at), " ", tostring(at and math.abs(at - os.time()) < 5), " ")
      local _, err = c:pause("no-such-session")
      io.write(tostring(marks.paused("no-such-session")), " ", err.kind, " ")
      assert(c:resume(id))
      io.write(tostring(marks.paused(id)))
    ]]):format(KEY, srv.url, id)
    local out, ok = sub.lua(code, { XDG_STATE_HOME = state })
    assert.is_true(ok, out)
    assert.are.equal("number true nil not_found nil", out)
    assert.are.equal("600", mode(state .. "/kadoa/marks.json"))
    assert.are.equal('{"paused":{}}\n', sub.read(state .. "/kadoa/marks.json"))
  end)

  it("are left the same way by send (a task) and the kadoa.pause/resume shortcuts", function()
    local state = tmpdir()
    finally(function() sub.sh("rm -rf " .. sub.quote(state)) end)
    local id = assert(client:crawl("https://pages-40.seconds-30.example.com/")).sessionId
    local code = ([[
      local kadoa, marks = require("kadoa"), require("kadoa.marks")
      local c = assert(kadoa.client())
      local id = %q
      local req = assert(c:send("pause", id))
      io.write(tostring(marks.paused(id)), " ")          -- not before the API said yes
      local res = assert(req:await(10))
      io.write(res.message, " ", type(marks.paused(id)), " ")
      res = assert(c:send("resume", id)):await(10)
      io.write(res.message, " ", tostring(marks.paused(id)), " ")
      local _, err = assert(c:send("pause", "no-such-session")):await(10)
      io.write(err.kind, " ", tostring(marks.paused("no-such-session")), " ")
      assert(kadoa.pause(id))
      io.write(type(marks.paused(id)), " ")
      assert(kadoa.resume(id, { timeout = 5 }))
      io.write(tostring(marks.paused(id)))
    ]]):format(id)
    local out, ok = sub.lua(code, { XDG_STATE_HOME = state, KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url })
    assert.is_true(ok, out)
    assert.are.equal("nil Crawl paused number Crawl resumed nil not_found nil number nil", out)
  end)

  it("a crawl paused elsewhere is judged stalled once it stops moving", function()
    local id = assert(client:crawl("https://pages-400.seconds-20.example.com/")).sessionId
    local seen = {}
    for _ = 1, 2 do seen[#seen + 1] = assert(client:status(id)).payload core.sleep(0.1) end
    assert.is_false(marks.stalled(seen))
    -- paused by someone else: straight through the API, no mark here
    assert(client.transport:fetch(require("kadoa.core").route("POST", "/v4/crawl/pause"), 5,
      { body = ('{"sessionId":%q}'):format(id) }))
    for _ = 1, 3 do seen[#seen + 1] = assert(client:status(id)).payload core.sleep(0.1) end
    assert.is_true(marks.stalled(seen))
    assert.are.equal("stalled", marks.of(id, seen, {}))
  end)
end)
