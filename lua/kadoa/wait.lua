-- Polling a crawl until it is over: finished, failed, out of time, or out
-- of patience with a flaky network.
--
-- The schedule: poll, then sleep `interval` (with a little jitter so many
-- watchers do not poll in lockstep). While the crawl's numbers stand still
-- the interval grows by `factor` up to `max_interval`; as soon as they move
-- it drops back to the start. Transient failures back off the same way,
-- honouring the server's Retry-After, and end the wait only after
-- `max_failures` of them in a row. No sleep ever goes past the deadline:
-- the last one stops at it, and one last poll decides.
--
-- Clock and sleep are injectable (tests, OpenResty, coroutine schedulers);
-- by default they come from the C core, loaded only when needed.

local errors = require("kadoa.errors")
local retry = require("kadoa.retry")

local M = {}

local null
do
  local ok, cjson = pcall(require, "cjson.safe")
  if ok and type(cjson) == "table" then null = cjson.null end
end

-- The least time a poll is given near the deadline (see the loop).
local MIN_POLL = 5

M.defaults = {
  timeout = 3600,
  interval = 2,
  factor = 1.5,
  max_interval = 30,
  jitter = 0.1,
  max_failures = 5,
}

-- The default random source. math.random is not seeded per process before
-- Lua 5.4 (nor in LuaJIT), so watchers started together would jitter in
-- lockstep; this small generator (Park-Miller, exact in doubles and in
-- integers alike) is seeded from what differs between processes and calls:
-- a heap address, the time, CPU time, the wait's start on its clock.
local MODULUS = 2147483647
local calls = 0

local function new_random(start)
  calls = calls + 1
  local seed = (os.time() + calls * 7919) % MODULUS
  local addr = tostring({})
  for i = 1, #addr do seed = (seed * 31 + addr:byte(i)) % MODULUS end
  seed = (seed + math.floor(os.clock() * 1e6)) % MODULUS
  if type(start) == "number" and start == start and start > -2 ^ 53 and start < 2 ^ 53 then
    seed = (seed + math.floor((start % 1) * 1e9) + math.floor(start)) % MODULUS
  end
  if seed == 0 then seed = 1 end
  return function()
    seed = (seed * 16807) % MODULUS
    return (seed - 1) / (MODULUS - 1)
  end
end

local function num(n)
  if n == math.floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then return string.format("%d", n) end
  return string.format("%.14g", n)
end

-- Each option: its type and, for numbers, the range it must lie in.
local OPTIONS = {
  timeout = { "number", ge = 0 },
  interval = { "number", gt = 0, finite = true },
  factor = { "number", ge = 1, finite = true },
  max_interval = { "number", gt = 0, finite = true },
  jitter = { "number", ge = 0, lt = 1 },
  max_failures = { "number", ge = 1, whole = true },
  random = { "function" },
  sleep = { "function" },
  clock = { "function" },
  done = { "function" },
  on_update = { "function" },
  on_error = { "function" },
}

local function usage(fmt, ...)
  return errors.new("usage", "wait: " .. string.format(fmt, ...))
end

local function check_options(opts)
  for name, v in pairs(opts) do
    local rule = OPTIONS[name]
    if type(name) ~= "string" or not rule then
      return usage("unknown option %s", type(name) == "string" and ("'" .. name .. "'") or
        ("of type " .. type(name)))
    end
    if type(v) ~= rule[1] then
      return usage("option '%s' must be a %s, got %s", name, rule[1], type(v))
    end
    if rule[1] == "number" then
      if v ~= v then return usage("option '%s' must be a number, got NaN", name) end
      if rule.finite and (v == math.huge or v == -math.huge) then
        return usage("option '%s' must be finite, got %s", name, num(v))
      end
      if rule.gt and v <= rule.gt then
        return usage("option '%s' must be greater than %s, got %s", name, num(rule.gt), num(v))
      end
      if rule.ge and v < rule.ge then
        return usage("option '%s' must be at least %s, got %s", name, num(rule.ge), num(v))
      end
      if rule.lt and v >= rule.lt then
        return usage("option '%s' must be less than %s, got %s", name, num(rule.lt), num(v))
      end
      if rule.whole and v ~= math.huge and v ~= math.floor(v) then
        return usage("option '%s' must be a whole number, got %s", name, num(v))
      end
    end
  end
  return nil
end

-- The numbers whose movement counts as progress.
local function numbers(res)
  local p = res.payload
  if type(p) ~= "table" then return {} end
  return { p.crawledPages, p.activeJobs, p.waitingJobs, p.finished }
end

local function same_numbers(a, b)
  for i = 1, 4 do
    if a[i] ~= b[i] then return false end
  end
  return true
end

local function crawl_error_message(e)
  if type(e) == "string" then return e end
  if type(e) == "table" then
    local ok, cjson = pcall(require, "cjson.safe")
    if ok and type(cjson) == "table" then
      local text = cjson.encode(e)
      if type(text) == "string" then return text end
    end
  end
  return tostring(e)
end

-- wait(client, id [, opts]) -> res | nil, err
-- client: anything with client:status(id) -> res | nil, err.
function M.wait(client, id, opts)
  if type(id) ~= "string" then
    error(string.format("bad argument #1 to 'wait' (string expected, got %s)", type(id)), 2)
  end
  if client == nil then error("bad argument to 'wait' (no client)", 2) end
  if id == "" then return nil, errors.new("usage", "wait: the session id is empty") end
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    return nil, usage("options must be a table, got %s", type(opts))
  end
  local bad = check_options(opts)
  if bad then return nil, bad end

  local d = M.defaults
  local timeout = opts.timeout or d.timeout
  local factor = opts.factor or d.factor
  local max_interval = opts.max_interval or d.max_interval
  local jitter = opts.jitter or d.jitter
  local max_failures = opts.max_failures or d.max_failures
  local random = opts.random
  local done, on_update, on_error = opts.done, opts.on_update, opts.on_error
  local base = math.min(opts.interval or d.interval, max_interval)

  local sleep, clock = opts.sleep, opts.clock
  if not (sleep and clock) then
    local ok, core = pcall(require, "kadoa.core")
    if not ok or type(core) ~= "table" then
      return nil, usage("the C core (kadoa.core) is not available, so pass opts.sleep and opts.clock (%s)",
        errors.one_line(tostring(core), 200))
    end
    sleep = sleep or core.sleep
    clock = clock or core.monotime
  end

  local function jittered(x)
    if jitter == 0 then return x end
    local r = random()
    if type(r) ~= "number" or r ~= r then r = 0.5 end
    local j = (2 * r - 1) * jitter
    if j > jitter then j = jitter elseif j < -jitter then j = -jitter end
    return x * (1 + j)
  end

  local start = clock()
  random = random or new_random(start)
  local deadline = start + timeout
  local interval = base
  local polls, failures = 0, 0
  local last_res, last_numbers, last_pages
  local first_pages, first_time, rate
  local last_chance, last_failure = false, nil

  local function timed_out(now)
    local elapsed = now - start
    return errors.new("timeout", string.format("crawl not finished after %.1f s", elapsed), {
      result = last_res,
      elapsed = elapsed,
      polls = polls,
      cause = last_failure,
      gave_up = "deadline",
    })
  end

  -- A client that says how long a call may take (kadoa's own have a
  -- timeout field) is asked for less near the deadline, so no poll
  -- outlives it by more than MIN_POLL seconds.
  local call_timeout = type(client) == "table" and rawget(client, "timeout")
  if type(call_timeout) ~= "number" then call_timeout = nil end

  while true do
    polls = polls + 1
    local per_call
    if call_timeout then
      local budget = math.max(deadline - clock(), MIN_POLL)
      if budget < call_timeout then per_call = { timeout = budget } end
    end
    local res, err = client:status(id, per_call)
    local now = clock()
    local elapsed = now - start
    local pause

    if res ~= nil and type(res) ~= "table" then
      return nil, errors.new("decode", "wait: status returned a " .. type(res) .. ", not a table")
    end

    if res then
      failures, last_failure = 0, nil
      local nums = numbers(res)
      local changed = last_numbers == nil or not same_numbers(nums, last_numbers)
      local pages = nums[1]
      if type(pages) ~= "number" or pages ~= pages then pages = nil end
      local delta = 0
      if pages and last_pages then delta = pages - last_pages end
      if pages and not first_pages then first_pages, first_time = pages, now end
      rate = nil
      if pages and first_time and now > first_time then
        rate = (pages - first_pages) / (now - first_time) * 60
      end
      if changed then interval = base else interval = math.min(interval * factor, max_interval) end
      last_res, last_numbers, last_pages = res, nums, pages

      if on_update then
        on_update(res, {
          poll = polls, elapsed = elapsed, pages = pages, pages_per_minute = rate,
          delta = delta, changed = changed, interval = interval, failures = 0,
        })
      end

      local e = res.error
      if e ~= nil and e ~= null and e ~= false then
        -- the server's own words, minus the key should it have echoed it
        local secret = type(client) == "table" and rawget(client, "_key") or nil
        return nil, errors.new("crawl_failed", errors.redact(crawl_error_message(e), secret),
          { result = res })
      end
      local finished
      if done then
        finished = done(res)
      else
        local p = res.payload
        finished = type(p) == "table" and p.finished == true
      end
      if finished then return res end
      if last_chance then return nil, timed_out(now) end
      pause = jittered(interval)
    else
      if type(err) ~= "table" then
        err = errors.new("usage", "wait: client:status failed without an error value: " ..
          errors.one_line(tostring(err), 200))
      end
      -- the same judgement the status call's own retries make
      if not retry.retryable(err) then return nil, err end
      failures = failures + 1
      last_failure = err
      interval = math.min(interval * factor, max_interval)
      local retry_after = err.retry_after
      if type(retry_after) ~= "number" or retry_after ~= retry_after or retry_after <= 0 then
        retry_after = nil
      end
      err.failures = failures
      if on_error then
        on_error(err, {
          poll = polls, elapsed = elapsed, pages = last_pages, pages_per_minute = rate,
          delta = 0, changed = false, interval = interval, failures = failures,
          retry_after = retry_after,
        })
      end
      if failures >= max_failures then
        err.result = last_res
        err.gave_up = "failures"
        return nil, err
      end
      if last_chance then return nil, timed_out(now) end
      pause = jittered(interval)
      if retry_after and retry_after > pause then pause = retry_after end
    end

    now = clock()
    local remaining = deadline - now
    if remaining <= 0 then return nil, timed_out(now) end
    if pause >= remaining then
      pause = remaining
      last_chance = true
    end
    sleep(pause)
  end
end

return M
