-- kadoa.engine: what happens around one request of the API, once for every
-- front end. A call gets a time budget (its `timeout`, retries included);
-- after a failed attempt the engine decides whether another may help (a
-- dropped connection, a timeout, 429/500/502/503/504) and is safe (a call
-- that is not idempotent only when it surely never left: `err.sent ==
-- false`), and how long to wait: full jitter from the client's own random
-- source (clients that fail together do not come back together), a
-- Retry-After as a floor, never past max_retry_wait nor the budget.
-- The Plan never reads a clock or sleeps by itself: run() here, the driver
-- (kadoa.request), Neovim and OpenResty move it with their own time. A
-- client here is anything with transport:fetch (the C core's or OpenResty's)
-- and settings (timeout, retries, retry_*, max_retry_wait, clock, sleep, random).

local errors = require("kadoa.errors")
local options = require("kadoa.options")

local M = {}

local D = options.declarations

-- what says "not now" rather than "not like this"
local RETRY_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }
local RETRY_KIND = { network = true, timeout = true }

-- retryable(err [, unsafe]): is sending it again worth it, and safe?
---@param err kadoa.Error
---@param unsafe? boolean the call must not run twice
---@return boolean
function M.retryable(err, unsafe)
  if type(err) ~= "table" then return false end
  if unsafe and err.sent ~= false then return false end
  local kind = err.kind
  if RETRY_KIND[kind] then return true end
  if kind == "rate_limited" or kind == "server" then
    return RETRY_STATUS[err.status] == true
  end
  return false
end

-- delay(policy, attempt, err, random) -> seconds to wait after failed
-- attempt `attempt`, or nil when the server asks for more than max_retry_wait
---@param policy table retry_base, retry_cap, max_retry_wait
---@param attempt integer 1 for the first failed attempt
---@param err kadoa.Error
---@param random? fun(): number
---@return number|nil seconds nil: do not retry
function M.delay(policy, attempt, err, random)
  local base = policy.retry_base or D.retry_base.default
  local cap = policy.retry_cap or D.retry_cap.default
  local max_wait = policy.max_retry_wait or D.max_retry_wait.default
  -- base * 2^(attempt-1), the exponent bounded so a silly attempt is no inf
  local window = math.min(cap, base * 2 ^ math.min(attempt - 1, 1000))
  local r = (random or math.random)()
  if type(r) ~= "number" or r ~= r or r < 0 then r = 0 elseif r >= 1 then r = 1 end
  local wait = window * r
  local after = type(err) == "table" and err.retry_after
  if type(after) == "number" and after >= 0 and after < math.huge then   -- not NaN either
    if after > max_wait then return nil end
    if after > wait then wait = after end
  end
  if wait > max_wait then wait = max_wait end
  return wait
end

-- A plan: the rest of one call's life after its first failure.
---@class kadoa.engine.Plan
local Plan = {}
Plan.__index = Plan
M.Plan = Plan

---@param s table the client's settings
---@param deadline number on the settings' clock
---@param retries integer
---@param unsafe boolean
---@return kadoa.engine.Plan
function M.plan(s, deadline, retries, unsafe)
  return setmetatable({ s = s, deadline = deadline, retries = retries or s.retries,
                        unsafe = unsafe, attempts = 1 }, Plan)
end

---@param err kadoa.Error
---@param now number
---@return number|nil seconds nil: err is final
function Plan:next(err, now)
  if self.attempts <= self.retries and M.retryable(err, self.unsafe) then
    local wait = M.delay(self.s, self.attempts, err, self.s.random)
    if wait and now + wait < self.deadline then return wait end
  end
  err.attempts = self.attempts
  return nil
end

---@param now number
---@return number|nil seconds the next attempt may take (it is counted); nil: past the deadline
function Plan:budget(now)
  local left = self.deadline - now
  if left <= 0 then return nil end
  self.attempts = self.attempts + 1
  return left
end

---@param err kadoa.Error
---@return kadoa.Error err with attempts set
function Plan:final(err)
  err.attempts = self.attempts
  return err
end

-- After a failed first attempt: the plan's retries with the client's sleep
-- (which a host may make yield).
local function retry(client, rq, r)
  local call, budget, retries = rq.call, rq.budget, rq.retries
  local err = errors.from_report(r)
  local s = client.settings
  if (retries or s.retries) == 0 or not M.retryable(err, call.unsafe) then
    err.attempts = 1
    return nil, err
  end
  -- the core says how long the first attempt took: only now is a clock read
  local clock, sleep, t = s.clock, s.sleep, client.transport
  local plan = M.plan(s, clock() - (r.elapsed or 0) + (budget or s.timeout), retries, call.unsafe)
  while true do
    local wait = plan:next(err, clock())
    if not wait then return nil, err end
    if sleep(wait) == false then return nil, plan:final(err) end   -- interrupted: let the host act
    local left = plan:budget(clock())
    if not left then return nil, plan:final(err) end
    local res
    res, r = t:fetch(call.route, left, rq.extra, rq[1], rq[2])
    if res ~= nil then return res end
    err = errors.from_report(r)
  end
end

---@param client kadoa.Client
---@param rq kadoa.api.Request
---@return any|nil value
---@return kadoa.Error|nil err
function M.run(client, rq)
  local res, r = client.transport:fetch(rq.call.route, rq.budget, rq.extra, rq[1], rq[2])
  if res ~= nil then return res end
  return retry(client, rq, r)
end

-- run_plain: client:status(id) without options, allocating nothing until it fails
---@param client kadoa.Client
---@param call table a compiled declaration of kadoa.api
---@param seg string its path segment
---@return any|nil value
---@return kadoa.Error|nil err
function M.run_plain(client, call, seg)
  local res, r = client.transport:fetch(call.route, nil, nil, seg)
  if res ~= nil then return res end
  return retry(client, { call = call, seg }, r)
end

return M
