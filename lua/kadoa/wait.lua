-- kadoa.wait: polling a crawl until it is over (finished, failed, out of time or of patience).
-- The pause grows by `factor` while the crawl's numbers stand still and drops back when they
-- move; transient failures back off the same way (Retry-After a floor) and end the wait after
-- `max_failures` in a row. No sleep goes past the deadline: the last stops at it, one poll decides.

local errors = require("kadoa.errors")
local one_line = require("kadoa.text").one_line
local engine = require("kadoa.engine")
local options = require("kadoa.options")

local M = {}

local MIN_POLL = 5   -- seconds: the least a poll is given near the deadline

M.defaults = options.defaults("wait")

-- The decoder's null, should a foreign client hand over undecoded nulls.
local null = (require("kadoa.codec").get() or {}).null

local function same_numbers(a, b)
  for i = 1, 4 do
    if a[i] ~= b[i] then return false end
  end
  return true
end

---@param client kadoa.Client|table anything with client:status(id, opts)
---@param id string session id
---@param opts? kadoa.WaitOptions
---@return kadoa.StatusResult|nil res the final status
---@return kadoa.Error|nil err
function M.wait(client, id, opts)
  errors.check_arg(id, "string", 1, "wait", 2)
  if client == nil then error("bad argument to 'wait' (no client)", 2) end
  if id == "" then return nil, errors.new("usage", "wait: the session id is empty") end
  local o, bad = options.check("wait", opts, "wait")
  if not o then return nil, bad end

  -- a kadoa client brings its clock, sleep and random source; anything else with status() needs
  -- them given, or gets the C core's clock and sleep and math.random
  local s = type(client) == "table" and type(client.settings) == "table" and client.settings or {}
  local timeout, factor, max_interval, jitter = o.timeout, o.factor, o.max_interval, o.jitter
  local max_failures, done, on_update, on_error = o.max_failures, o.done, o.on_update, o.on_error
  local base = math.min(o.interval, max_interval)
  local random = o.random or s.random or math.random

  local sleep, clock = o.sleep or s.sleep, o.clock or s.clock
  if not (sleep and clock) then
    local ok, core = pcall(require, "kadoa.core")
    if not ok or type(core) ~= "table" then
      return nil, errors.new("usage", "wait: the C core (kadoa.core) is not available, so pass opts.sleep "
        .. "and opts.clock (" .. one_line(tostring(core), 200) .. ")")
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
  local deadline, interval = start + timeout, base
  local polls, failures = 0, 0
  local last_res, last_numbers, last_pages
  local first_pages, first_time, rate
  local last_chance, last_failure = false, nil

  local function timed_out(now)
    local elapsed = now - start
    return errors.new("timeout", string.format("crawl not finished after %.1f s", elapsed),
      { result = last_res, elapsed = elapsed, polls = polls, cause = last_failure, gave_up = "deadline" })
  end

  -- Every poll is one request (the wait counts failures itself: max_failures = 5 is five requests
  -- in every host), given at most what is left (at least MIN_POLL), so none outlives the wait much.
  local call_timeout = type(s.timeout) == "number" and s.timeout or 30

  while true do
    polls = polls + 1
    local per_call = { timeout = math.min(call_timeout, math.max(deadline - clock(), MIN_POLL)), retries = 0 }
    local res, err = client:status(id, per_call)
    local now = clock()
    local elapsed = now - start
    local pause

    if res ~= nil and type(res) ~= "table" then
      return nil, errors.new("decode", "wait: status returned a " .. type(res) .. ", not a table")
    end

    if res then
      failures, last_failure = 0, nil
      local p = type(res.payload) == "table" and res.payload or {}
      local nums = { p.crawledPages, p.activeJobs, p.waitingJobs, p.finished }   -- their moves are progress
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
        local text = errors.crawl_error_text(e)
        if type(client) == "table" and type(client.redact) == "function" then text = client:redact(text) end
        return nil, errors.new("crawl_failed", text, { result = res })
      end
      local finished = p.finished == true
      if done then finished = done(res) end
      if finished then return res end
      if last_chance then return nil, timed_out(now) end
      pause = jittered(interval)
    else
      if type(err) ~= "table" then
        err = errors.new("usage", "wait: client:status failed without an error value: " ..
          one_line(tostring(err), 200))
      end
      -- the status call's own retries' judgement; a fresh session may answer 404 for a while
      local young = err.kind == "not_found" and elapsed < o.grace
      if not young and not engine.retryable(err) then return nil, err end
      if not young then failures = failures + 1 end
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
