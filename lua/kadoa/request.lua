-- kadoa.request: one status request that progresses without blocking.
--
--   local req = assert(client:start(id))   -- nil, err when it cannot start
--   ...                                    -- whoever owns the loop drives:
--   local res, err = req:poll()            -- nothing while in flight
--
-- This wraps the core's multi-handle requests (src/multi.c) so that they
-- answer exactly like client:status: a table, or nil and an error of
-- kadoa.errors, after the same retries (the client's policy, kadoa.retry,
-- within the client's timeout). A retry's wait is not a sleep: the
-- request just stays "in flight" until it is due, and timeout() says when.
-- The result is kept, so polling again after completion gives the same
-- answer. Several requests may run at once on one client; every poll (or
-- kadoa.request.perform) moves all of that client's transfers forward.
--
-- Nothing here blocks except await(), which is for scripts outside any
-- event loop. A loop waits between polls with a timer: req:timeout()
-- gives the delay libcurl or a pending retry asks for, to be capped by the
-- loop so data arriving on a socket is noticed soon.

local core = require("kadoa.core")
local errors = require("kadoa.errors")
local retry = require("kadoa.retry")

local M = {}

local Request = {}
Request.__index = Request
M.Request = Request

-- What the core reported, as the error client:status would give.
local function failure(client, r)
  return errors.from_report(r, client._key)
end

local function usage(msg)
  return nil, errors.new("usage", "start: " .. msg)
end

-- The options start takes, checked as kadoa.client checks its own.
local checks = require("kadoa")._checks
local OPTIONS = {
  timeout = checks.positive,
  raw = checks.boolean,
  retries = checks.retries,
}

-- start(client, id [, opts]) -> request | nil, err
-- opts.timeout: seconds for the whole request, retries included (default:
-- the client's); opts.retries: extra attempts (default: the client's);
-- opts.raw: the result is the body text, as client:status_json gives.
function M.start(client, id, opts)
  errors.check_id(id, "start")
  if opts ~= nil and type(opts) ~= "table" then
    return usage("options must be a table, got " .. type(opts))
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    local check = OPTIONS[k]
    if not check then return usage("unknown option '" .. tostring(k) .. "'") end
    local msg = check(v)
    if msg then return usage("option '" .. k .. "' " .. msg) end
  end
  local budget = opts.timeout or client.timeout
  local req, r = client._core:start(id, opts.raw == true, budget)
  if not req then return nil, failure(client, r) end
  local clock = client._clock or core.monotime
  return setmetatable({
    id = id,
    _req = req,
    _client = client,
    _raw = opts.raw == true,
    _clock = clock,
    _deadline = clock() + budget,
    _left = opts.retries or client._retries or 0,
    _attempts = 1,
  }, Request)
end

-- A failed attempt: wait for another one, or settle on the error.
local function failed(self, r)
  local client = self._client
  local err = failure(client, r)
  if self._left > 0 and retry.retryable(err) then
    local wait = retry.delay(client._policy or {}, self._attempts, err, client._random or math.random)
    local now = self._clock()
    if wait and now + wait < self._deadline then
      self._req, self._last_err, self._retry_at = nil, err, now + wait
      return
    end
  end
  err.attempts = self._attempts
  self._result = { nil, err }
end

-- Start the next attempt once its wait is over. Returns false while it
-- is not due yet.
local function attempt_due(self)
  local now = self._clock()
  if now < self._retry_at then return false end
  local client = self._client
  local err = self._last_err
  self._retry_at, self._last_err = nil, nil
  local budget = self._deadline - now
  if budget > 0 then
    local req, r = client._core:start(self.id, self._raw, budget)
    if req then
      self._req = req
      self._attempts = self._attempts + 1
      self._left = self._left - 1
      return true
    end
    err = failure(client, r)   -- the client was closed meanwhile
  end
  err.attempts = self._attempts
  self._result = { nil, err }
  return true
end

-- req:poll() -> (nothing) while in flight; res | nil, err once done.
function Request:poll()
  local result = self._result
  if not result then
    if self._retry_at and not attempt_due(self) then return end
    if self._result then return self._result[1], self._result[2] end
    local res, r = self._req:poll()
    if res == nil and r == nil then return end   -- still running
    if res ~= nil then
      self._result = { res }
    else
      failed(self, r)
      if not self._result then return end        -- a retry is due later
    end
    result = self._result
  end
  return result[1], result[2]
end

-- req:done() -> true once a result is ready (or the request was
-- cancelled). It does not drive the transfer; poll or perform do.
function Request:done()
  if self._result then return true end
  if self._retry_at then return false end
  return self._req:done()
end

-- req:cancel(): stop the transfer and free it; idempotent. A request that
-- had not finished then polls as the usage error "request was cancelled";
-- one that had keeps its result.
function Request:cancel()
  if self._result then return end
  if self._req then self._req:cancel() end
  self._retry_at = nil
  self._result = { nil, errors.new("usage", "request was cancelled") }
end

-- req:timeout() -> milliseconds until the request next needs driving for
-- a timer's sake (libcurl's own, or a retry falling due); -1 for none.
-- While data is awaited it can be large: a timer-driven loop caps it.
function Request:timeout()
  if self._result then return -1 end
  if self._retry_at then
    return math.max(0, math.ceil((self._retry_at - self._clock()) * 1000))
  end
  return self._client._core:timeout()
end

-- req:await([seconds]) -> res | nil, err: block until done, at most
-- `seconds` (then nothing is returned and the request keeps going).
-- For scripts outside any event loop; never call it from one.
function Request:await(seconds)
  local deadline = seconds and core.monotime() + seconds
  while true do
    local r1, r2 = self:poll()
    if self._result then return r1, r2 end
    local ms = self:timeout()
    if ms < 0 or ms > 1000 then ms = 1000 end
    if deadline then
      local left = deadline - core.monotime()
      if left <= 0 then return end
      ms = math.min(ms, math.ceil(left * 1000))
    end
    if self._retry_at then
      core.sleep(ms / 1000)
    else
      self._client._core:wait(ms)
    end
  end
end

function Request:__tostring()
  local state = self._result and "done"
    or (self._retry_at and "waiting to retry")
    or (self._req:done() and "ready" or "running")
  return "kadoa.request (" .. state .. ")"
end

Request.__close = Request.cancel

-- perform(client) -> running: move every request of the client forward
-- once, without waiting; returns how many transfers still run.
function M.perform(client)
  return (client._core:perform())
end

return M
