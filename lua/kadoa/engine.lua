-- kadoa.engine: what happens around one request of the API, once for
-- every front end.
--
-- A call gets a time budget (its `timeout`, retries included). When an
-- attempt fails, the engine decides whether another one may help and is
-- safe, and how long to wait first:
--
--  * worth it: a dropped connection, a timeout, a rate limit, an
--    overloaded gateway (429, 500, 502, 503, 504) may be gone a moment
--    later; a bad key, an unknown session, a body we cannot read or a
--    certificate we do not trust will be the same next time;
--  * safe: a call that is not idempotent (a POST: starting a crawl twice
--    starts two crawls) is repeated only when the request surely never
--    reached the server (`err.sent == false`: refused, DNS, the TLS
--    handshake), never after a timeout or a reset;
--  * when: exponential backoff with full jitter (attempt n waits a random
--    time in [0, min(cap, base * 2^(n-1)))), drawn from the client's own
--    random source seeded from the OS, so clients that fail together do
--    not come back together; a Retry-After is a floor; no wait is longer
--    than max_retry_wait (a server asking for more gets no retry: its
--    error carries retry_after) and none ends past the budget.
--
-- The Plan below is that decision as a small state machine that never
-- reads a clock or sleeps by itself; the blocking run() here, the
-- non-blocking driver (kadoa.request), status_many (kadoa.many), Neovim and
-- OpenResty all move it forward with their own notion of time. A success
-- on the first attempt costs nothing here: the plan is only made after a
-- failure.
--
-- A "client" for the engine is anything with:
--   client.transport   :fetch(route, timeout, extra, seg...) -> value | nil, report
--                      (the C core's, or OpenResty's cosocket transport)
--   client.settings    timeout, retries, retry_base, retry_cap,
--                      max_retry_wait, clock, sleep, random

local errors = require("kadoa.errors")
local options = require("kadoa.options")

local M = {}

local D = options.declarations

-- HTTP statuses that say "not now" rather than "not like this".
local RETRY_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

-- Failures below HTTP that may pass by themselves.
local RETRY_KIND = { network = true, timeout = true }

-- retryable(err [, unsafe]) -> boolean: is sending the same request again
-- worth it, and (for a call that must not run twice) safe?
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

local function valid(x)
  return type(x) == "number" and x == x and x >= 0 and x ~= math.huge
end

-- delay(policy, attempt, err, random) -> seconds | nil
-- How long to wait after failed attempt number `attempt` (1 for the first)
-- before the next one, or nil when the wait the server asks for is longer
-- than policy.max_retry_wait (then: do not retry). policy holds
-- retry_base, retry_cap and max_retry_wait (missing ones: the defaults);
-- random() returns a number in [0, 1) (default math.random).
---@param policy table retry_base, retry_cap, max_retry_wait
---@param attempt integer 1 for the first failed attempt
---@param err kadoa.Error
---@param random? fun(): number
---@return number|nil seconds nil: do not retry
function M.delay(policy, attempt, err, random)
  local base = policy.retry_base or D.retry_base.default
  local cap = policy.retry_cap or D.retry_cap.default
  local max_wait = policy.max_retry_wait or D.max_retry_wait.default

  -- base * 2^(attempt-1), without overflowing to inf for silly attempts
  local window = base
  for _ = 2, attempt do
    window = window * 2
    if window >= cap then break end
  end
  if window > cap then window = cap end

  local r = (random or math.random)()
  if type(r) ~= "number" or r ~= r or r < 0 then r = 0 elseif r >= 1 then r = 1 end
  local wait = window * r

  local after = type(err) == "table" and err.retry_after or nil
  if valid(after) then
    if after > max_wait then return nil end
    if after > wait then wait = after end
  end
  if wait > max_wait then wait = max_wait end
  return wait
end

---------------------------------------------------------------------------
-- A plan: the rest of one call's life after its first failure.

---@class kadoa.engine.Plan
local Plan = {}
Plan.__index = Plan
M.Plan = Plan

-- plan(settings, deadline, retries, unsafe) -> plan. deadline: on the
-- settings' clock, when the call's budget runs out.
---@param s table the client's settings
---@param deadline number on the settings' clock
---@param retries integer
---@param unsafe boolean
---@return kadoa.engine.Plan
function M.plan(s, deadline, retries, unsafe)
  return setmetatable({ s = s, deadline = deadline, retries = retries or s.retries,
                        unsafe = unsafe, attempts = 1 }, Plan)
end

-- plan:next(err, now) -> seconds to wait before the next attempt, or nil:
-- err is final (err.attempts is set).
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

-- plan:budget(now) -> seconds the next attempt may take (and it is
-- counted), or nil when the deadline has passed.
---@param now number
---@return number|nil seconds nil: past the deadline
function Plan:budget(now)
  local left = self.deadline - now
  if left <= 0 then return nil end
  self.attempts = self.attempts + 1
  return left
end

-- plan:final(err) -> err, marked with the attempts made
---@param err kadoa.Error
---@return kadoa.Error err with attempts set
function Plan:final(err)
  err.attempts = self.attempts
  return err
end

---------------------------------------------------------------------------
-- The blocking call.

-- After a failed first attempt: the plan's retries, blocking (sleeping
-- with the client's sleep, which a host may make yield).
local function retry(client, rq, r)
  local call, budget, retries = rq.call, rq.budget, rq.retries
  local err = errors.from_report(r)
  local s = client.settings
  if (retries or s.retries) == 0 or not M.retryable(err, call.unsafe) then
    err.attempts = 1
    return nil, err
  end
  -- the first attempt ran with the whole budget and the core says how long
  -- it took: only now is a clock read
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

-- run(client, request) -> value | nil, err: a request of kadoa.api
-- (api.prepare's table: call, segments, extra, budget, retries).
---@param client kadoa.Client
---@param rq kadoa.api.Request
---@return any|nil value
---@return kadoa.Error|nil err
function M.run(client, rq)
  local res, r = client.transport:fetch(rq.call.route, rq.budget, rq.extra, rq[1], rq[2])
  if res ~= nil then return res end
  return retry(client, rq, r)
end

-- run_plain(client, call, seg) -> value | nil, err: a call of one segment
-- without options (client:status(id)), allocating nothing until it fails.
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
