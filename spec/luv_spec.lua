-- kadoa.luv in a real libuv loop (Debian's lua-luv): calls ride on socket
-- events and one timer, never on a polling timer, and the loop keeps
-- running meanwhile.

local has_luv, uv = pcall(require, "luv")
local fixture = require("spec.helpers.fixture")

local KEY = "luv-key"

-- every fd of this process, as "/proc/self/fd" lists it
local function fd_open(fd)
  return uv.fs_readlink("/proc/self/fd/" .. fd)
end

describe("kadoa.luv", function()
  if not has_luv then
    pending("lua-luv is not installed for this Lua")
    return
  end
  local kl = require("kadoa.luv")
  local fx = fixture.mock_client(KEY, { retries = 0 })
  local client
  setup(function() client = select(2, fx.start()) end)
  teardown(fx.stop)

  -- a host timer every 10 ms while f runs the loop: how many ticks, the
  -- widest gap between two (ms)
  local function with_ticker(f)
    local t = uv.new_timer()
    local ticks, last, worst = 0, uv.hrtime(), 0
    t:start(10, 10, function()
      local now = uv.hrtime()
      ticks, worst, last = ticks + 1, math.max(worst, (now - last) / 1e6), now
    end)
    f(function() t:stop() t:close() end)
    uv.run()
    return ticks, worst
  end

  it("answers a slow call once, on the loop, while a 10 ms timer keeps ticking", function()
    local got, calls = nil, 0
    local room = kl.room(client)
    local w0 = room.wakes
    local ticks = with_ticker(function(stop)
      assert(kl.call(client, "status", "slow-600", function(res, err)
        calls = calls + 1
        got = { res, err }
        stop()
      end))
      assert.is_nil(got, "the callback ran inside call")
    end)
    assert.are.equal(1, calls)
    assert.are.equal("slow-600", got[1].sessionId)
    assert.is_nil(got[2])
    -- the loop was free: a blocked loop would have ticked once or twice
    assert.is_true(ticks >= 30, "ticks: " .. ticks)
    -- woken by the connect, the answer and the first timer, not by polling
    assert.is_true(room.wakes - w0 <= 10, "wakes: " .. room.wakes - w0)
    assert.are.same({}, room.polls)
    assert.is_nil(room.t)
  end)

  it("gives the same answers and errors as the blocking call", function()
    local got
    kl.call(client, "status", "x", { nope = 1 }, function(res, err) got = { res, err } end)
    assert.is_nil(got)
    uv.run()
    local _, err = client:status("x", { nope = 1 })
    assert.are.same(tostring(err), tostring(got[2]))
    assert.has_error(function() kl.call(client, "status", "x") end,
      "bad argument #3 to 'call' (function expected, got string)")
  end)

  it("cancelling mid-flight closes the socket, and the callback hears of it", function()
    local got, fd
    local req = assert(kl.call(client, "status", "hang", function(res, err) got = { res, err } end))
    local t = uv.new_timer()
    t:start(200, 0, function()
      t:close()
      fd = next(kl.room(client).polls)
      assert.matches("^socket:", fd_open(fd))
      req:cancel()
      assert.is_nil(next(kl.room(client).polls))
      assert.is_nil(fd_open(fd))
    end)
    uv.run()
    assert.is_truthy(fd)
    assert.are.equal("request was cancelled", got[2].message)
  end)

  it("waits for a retry on a timer, not by polling", function()
    local c = fx.new_client({ retries = 1 })
    local room = kl.room(c)
    local got
    local t0 = uv.hrtime()
    kl.call(c, "status", "retry-after-1", function(res, err) got = { res, err } end)
    uv.run()
    local elapsed = (uv.hrtime() - t0) / 1e9
    assert.are.equal(2, got[2].attempts)
    assert.is_true(elapsed >= 0.95, "Retry-After kept: " .. elapsed)
    -- two exchanges and one timer for the wait: a poll would wake ~100 times
    assert.is_true(room.wakes <= 12, "wakes: " .. room.wakes)
    c:close()
  end)

  it("runs 100 calls at once, and status_many, on the loop", function()
    local done = 0
    for i = 1, 100 do
      kl.call(client, "status", "echo-c" .. i, function(res, err)
        assert.is_nil(err)
        assert.are.equal("echo-c" .. i, res.sessionId)
        done = done + 1
      end)
    end
    uv.run()
    assert.are.equal(100, done)
    local ids = {}
    for i = 1, 150 do ids[i] = "echo-m" .. i end
    local results
    kl.status_many(client, ids, { concurrency = 100 }, function(res, err)
      assert.is_nil(err)
      results = res
    end)
    assert.is_nil(results)
    uv.run()
    for i = 1, 150 do assert.are.equal(ids[i], results[ids[i]].sessionId) end
  end)

  it("holds a request until its callback ran, then lets it be collected", function()
    local weak = setmetatable({}, { __mode = "k" })
    local got
    weak[assert(kl.call(client, "status", "slow-100", function(res) got = res end))] = true
    collectgarbage()
    collectgarbage()
    assert.is_truthy(next(weak), "a request with a callback to run was collected")
    uv.run()
    assert.are.equal("slow-100", got.sessionId)
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(weak))
  end)

  it("lets a dropped request of client:send be collected, its transfer cancelled", function()
    local weak = setmetatable({}, { __mode = "k" })
    kl.room(client)
    weak[assert(client:send("status", "hang"))] = true
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(weak))
    -- the next call's first event lets go of the dropped one's socket, and
    -- the loop ends when that call is answered
    local got
    kl.call(client, "status", "echo-after", function(res) got = res end)
    uv.run()
    assert.are.equal("echo-after", got.sessionId)
    assert.is_nil(next(kl.room(client).polls))
  end)

  it("closing a client mid-flight stops the watches, closes every socket, answers every call", function()
    local function count()
      local n, h = 0, uv.fs_scandir("/proc/self/fd")
      while uv.fs_scandir_next(h) do n = n + 1 end
      return n
    end
    local c = fx.new_client()
    c:status("warm")
    local base = count()
    local errs = {}
    for i = 1, 10 do
      kl.call(c, "status", "hang", function(_, err) errs[#errs + 1] = err.message end)
      if i == 5 then c:status("echo-between") end
    end
    local t = uv.new_timer()
    t:start(200, 0, function()
      t:close()
      assert.is_truthy(next(kl.room(c).polls))
      c:close()
      assert.is_nil(next(kl.room(c).polls))
    end)
    uv.run()
    assert.are.equal(10, #errs)
    for _, m in ipairs(errs) do assert.are.equal("client is closed", m) end
    -- the blocking call's own connection went with the client too
    assert.is_true(count() <= base - 1, ("fds: %d, before the calls %d"):format(count(), base))
  end)
end)
