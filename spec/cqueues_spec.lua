-- kadoa.cqueues in a real cqueues controller (Debian's lua-cqueues): a call
-- yields to the controller until its socket events arrive, and returns what
-- the blocking call returns.

local has_cq, cqueues = pcall(require, "cqueues")
local fixture = require("spec.helpers.fixture")

local KEY = "cq-key"

describe("kadoa.cqueues", function()
  if not has_cq then
    pending("lua-cqueues is not installed for this Lua")
    return
  end
  local kc = require("kadoa.cqueues")
  local fx = fixture.mock_client(KEY, { retries = 0 })
  local client
  setup(function() client = select(2, fx.start()) end)
  teardown(fx.stop)

  -- run f in a coroutine of a fresh controller beside a 10 ms ticker;
  -- returns the ticks and the widest gap between two (s)
  local function run(f)
    local cq = cqueues.new()
    local stop, ticks, worst = false, 0, 0
    cq:wrap(function()
      local last = cqueues.monotime()
      while not stop do
        cqueues.sleep(0.01)
        local now = cqueues.monotime()
        ticks, worst, last = ticks + 1, math.max(worst, now - last), now
      end
    end)
    -- no pcall here: Lua 5.1 cannot yield across it; the controller hands
    -- back a coroutine's error
    cq:wrap(function()
      f()
      stop = true
    end)
    local ok, err = cq:loop()
    stop = true
    if not ok then error(err, 0) end
    return ticks, worst
  end

  it("returns what the blocking call returns while a 10 ms timer keeps ticking", function()
    local res, err
    local ticks = run(function() res, err = kc.call(client, "status", "slow-600") end)
    assert.is_nil(err)
    assert.are.same(client:status("slow-600"), res)
    assert.is_true(ticks >= 30, "ticks: " .. ticks)
    local r2, e2
    run(function() r2, e2 = kc.call(client, "status", "x", { nope = 1 }) end)
    local _, e3 = client:status("x", { nope = 1 })
    assert.is_nil(r2)
    assert.are.equal(tostring(e3), tostring(e2))
    assert.has_error(function() kc.call(client, "status", "x") end,
      "kadoa.cqueues: call it from a coroutine run by a cqueues controller")
  end)

  it("cancelling mid-flight closes the socket", function()
    local fd, before, after
    local function link(n) return io.popen("readlink /proc/$PPID/fd/" .. n):read("*a") end
    run(function()
      local req = assert(client:send("status", "hang"))
      local room = kc.room(client)
      local cond = require("cqueues.condition").new()
      cond:wait(0.2)
      fd = next(room.socks)
      before = link(fd)
      assert.matches("^socket:", before)
      req:cancel()
      assert.is_nil(next(room.socks))
      after = link(fd)   -- gone, or the number given to readlink's pipe
    end)
    assert.is_truthy(fd)
    assert.are_not.equal(before, after)
  end)

  it("waits for a retry on a timer, not by polling", function()
    local c = fx.new_client({ retries = 1 })
    local err, elapsed, wakes
    run(function()
      local t0 = cqueues.monotime()
      err = select(2, kc.call(c, "status", "retry-after-1"))
      elapsed = cqueues.monotime() - t0
      wakes = kc.room(c).wakes
    end)
    assert.are.equal(2, err.attempts)
    assert.is_true(elapsed >= 0.95, "Retry-After kept: " .. elapsed)
    assert.is_true(wakes <= 12, "wakes: " .. wakes)
    c:close()
  end)

  it("runs 100 calls at once, and status_many", function()
    local done, results = 0, nil
    run(function()
      local cq = cqueues.running()
      local left = 100
      local all = require("cqueues.condition").new()
      for i = 1, 100 do
        cq:wrap(function()
          local res = assert(kc.call(client, "status", "echo-q" .. i))
          assert.are.equal("echo-q" .. i, res.sessionId)
          done = done + 1
          left = left - 1
          if left == 0 then all:signal() end
        end)
      end
      while left > 0 do all:wait() end
      local ids = {}
      for i = 1, 150 do ids[i] = "echo-n" .. i end
      results = assert(kc.status_many(client, ids, { concurrency = 100 }))
    end)
    assert.are.equal(100, done)
    for i = 1, 150 do assert.are.equal("echo-n" .. i, results["echo-n" .. i].sessionId) end
  end)

  it("lets a dropped request be collected", function()
    local weak = setmetatable({}, { __mode = "k" })
    run(function()
      kc.room(client)
      weak[assert(client:send("status", "hang"))] = true
      collectgarbage()
      collectgarbage()
      -- the next call lets go of the dropped one's socket
      assert(kc.call(client, "status", "echo-after"))
    end)
    assert.is_nil(next(weak))
  end)
end)
