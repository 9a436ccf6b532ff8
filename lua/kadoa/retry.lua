-- Retry policy for the status call: which failures are worth another try,
-- and how long to wait before it.
--
-- The status GET is idempotent, so trying again is always safe; the
-- question is only whether it can help. A dropped connection, a timeout,
-- a rate limit or an overloaded gateway may well be gone a moment later;
-- a bad key, an unknown session, a body we cannot read or a certificate we
-- do not trust will be exactly the same next time.
--
-- The schedule is exponential backoff with "full jitter": attempt n waits
-- a uniformly random time in [0, min(cap, base * 2^(n-1))), so many clients
-- that failed together do not come back together. A Retry-After from the
-- server is a floor for that wait. No single wait is longer than
-- max_retry_wait: when the server asks for more, we do not retry at all
-- (asking again early would only earn another refusal) and the caller gets
-- the error with its retry_after to decide for itself.
--
-- Pure Lua, no state: the client (lua/kadoa/init.lua) runs the loop and
-- owns the clock, the sleep and the overall time budget.

local M = {}

M.defaults = {
  retries = 2,          -- extra attempts after the first; 0 turns retrying off
  retry_base = 0.25,    -- seconds: the first backoff window
  retry_cap = 8,        -- seconds: the largest backoff window
  max_retry_wait = 30,  -- seconds: the longest single wait, Retry-After included
}

-- HTTP statuses that say "not now" rather than "not like this".
local RETRY_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

-- Failures below HTTP that may pass by themselves.
local RETRY_KIND = { network = true, timeout = true }

-- retryable(err) -> boolean: is the same request worth sending again?
-- err is an error value from kadoa.errors (anything with kind/status).
function M.retryable(err)
  if type(err) ~= "table" then return false end
  if RETRY_KIND[err.kind] then return true end
  local kind = err.kind
  if kind == "rate_limited" or kind == "server" then
    return RETRY_STATUS[err.status] == true
  end
  return false
end

local function valid(x)
  return type(x) == "number" and x == x and x >= 0 and x ~= math.huge
end

-- delay(policy, attempt, err [, random]) -> seconds | nil
-- How long to wait after failed attempt number `attempt` (1 for the first)
-- before the next one, or nil when the wait the server asks for is longer
-- than policy.max_retry_wait (then: do not retry). policy holds
-- retry_base, retry_cap and max_retry_wait (missing ones take the
-- defaults); random() returns a number in [0, 1) (math.random by default).
function M.delay(policy, attempt, err, random)
  local d = M.defaults
  local base = policy.retry_base or d.retry_base
  local cap = policy.retry_cap or d.retry_cap
  local max_wait = policy.max_retry_wait or d.max_retry_wait

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

return M
