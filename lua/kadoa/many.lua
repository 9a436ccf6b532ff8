-- kadoa.many: the status of many sessions at once.
--
--   local results = client:status_many(ids [, opts])   -- or kadoa.status_many
--   for id, v in pairs(results) do
--     if kadoa.errors.is(v) then print(id, tostring(v)) else print(id, v.payload) end
--   end
--
-- Every request runs on the client's libcurl multi handle (kadoa.core's
-- start/perform/wait), so connections are kept and reused between ids and
-- between calls: a keep-alive pool over HTTP/1.1, streams multiplexed over
-- one connection when the server speaks HTTP/2.
--
-- ids     an array (1..#ids) of session ids. Anything but a table, or an
--         element that is not a string, is a programming mistake and raises
--         before any request starts. Duplicates are fetched once. An empty
--         string is fetched like any id and gets the usage error that
--         client:status("") returns.
-- opts    concurrency  at most this many requests in flight (default 16)
--         timeout      seconds each id may take, its retries included
--                      (default: the client's timeout, as for status)
--         on_result    function(id, res, err), called once per distinct id
--                      as its outcome lands (completion order, not ids
--                      order): res is the result table or nil, err the error
--                      value or nil. An error it raises cancels every request
--                      still in flight and is re-raised from status_many.
--         raw          true: each success is the response body exactly as
--                      the API sent it (a string, as client:status_json
--                      gives), not the decoded table
--
-- Returns a table keyed by id. Each value is exactly what client:status(id)
-- (client:status_json(id) with raw) would have given: the decoded result table on success, else the error
-- value it returns second (a kadoa.errors.Error: `kadoa.errors.is(v)`,
-- `v.kind`, `v.message`, `tostring(v)`). Results come from the JSON decoder
-- and never carry a metatable, so errors.is can never mistake one for an
-- error. One failed id never hides the others. Bad opts give nil and a
-- usage error instead of the table, and nothing is fetched.
--
-- Retries follow the client's policy (kadoa.retry) exactly as status does,
-- and a failed value carries `attempts` as status's does. An id waiting
-- for its retry gives its slot to the next id, so a backoff never stalls
-- the rest.

local errors = require("kadoa.errors")
local retry = require("kadoa.retry")

local M = {}

M.defaults = { concurrency = 16 }

-- The C core's wait() never blocks longer than this, so retry timers are
-- looked at often enough even when curl has no timer of its own pending.
local MAX_WAIT_MS = 1000

local function usage(fmt, ...)
  return nil, errors.new("usage", "status_many: " .. string.format(fmt, ...))
end

local function check_options(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then return usage("options must be a table, got %s", type(opts)) end
  for k, v in pairs(opts) do
    if k == "concurrency" then
      if type(v) ~= "number" or v ~= v or v < 1 or v % 1 ~= 0 or v == math.huge then
        return usage("option 'concurrency' must be a whole number of at least 1, got %s", tostring(v))
      end
    elseif k == "timeout" then
      if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
        return usage("option 'timeout' must be a positive number of seconds, got %s", tostring(v))
      end
    elseif k == "raw" then
      if type(v) ~= "boolean" then
        return usage("option 'raw' must be a boolean, got %s", type(v))
      end
    elseif k == "on_result" then
      if type(v) ~= "function" then
        return usage("option 'on_result' must be a function, got %s", type(v))
      end
    else
      return usage("unknown option '%s'", tostring(k))
    end
  end
  return opts
end

-- The distinct ids in first-seen order; raises on a non-string.
local function distinct(ids)
  local list, seen = {}, {}
  for i = 1, #ids do
    local id = ids[i]
    if type(id) ~= "string" then
      error(("bad argument #1 to 'status_many' (ids[%d] is a %s, string expected)")
        :format(i, type(id)), 3)
    end
    if not seen[id] then
      seen[id] = true
      list[#list + 1] = id
    end
  end
  return list
end

-- The one place retries plug in, by the rules client:status follows (see
-- retry_after_failure in kadoa/init.lua): after failed attempt number
-- `job.attempt`, wait retry.delay before the next, while attempts are
-- left, the failure is worth another try and the wait ends before the
-- id's deadline (its first attempt's start plus its timeout). Returns the
-- seconds to wait, or nil to give up.
local function retry_wait(client, job, err, t)
  if job.attempt > (client._retries or 0) or not retry.retryable(err) then return nil end
  local wait = retry.delay(client._policy or {}, job.attempt, err, client._random or math.random)
  if not wait or t + wait >= job.deadline then return nil end
  return wait
end

-- One run of status_many. A job is one distinct id on its way: { id,
-- attempt, deadline } while it runs, plus { at, err } while it waits for a
-- retry.
local function run(st)
  local client, core, clock = st.client, st.core, st.clock
  local ids, results, on_result = st.ids, st.results, st.on_result
  local inflight, waiting = st.inflight, st.waiting
  local concurrency, timeout = st.concurrency, st.timeout
  local nids, nextid, ninflight = #ids, 1, 0

  local function deliver(id, res, err)
    results[id] = res or err
    if on_result then on_result(id, res, err) end
  end

  local function land(job, res, r)
    if res then return deliver(job.id, res, nil) end
    local err = errors.from_report(r, client._key)
    local t = clock()
    local wait = retry_wait(client, job, err, t)
    if wait then
      job.at, job.err = t + wait, err
      waiting[#waiting + 1] = job
      return
    end
    err.attempts = job.attempt
    deliver(job.id, nil, err)
  end

  local function launch(job)
    local budget = timeout
    if job.attempt > 1 then
      budget = job.deadline - clock()
      if budget <= 0 then   -- its retry waited for a free slot past the deadline
        job.err.attempts = job.attempt - 1
        return deliver(job.id, nil, job.err)
      end
      job.err = nil
    end
    local req, r = core:start(job.id, st.raw, budget)
    if req then
      inflight[req] = job
      ninflight = ninflight + 1
    else
      land(job, nil, r)
    end
  end

  -- Land a finished request of ours; counted in `landed`.
  local landed = 0
  local function take(req)
    local job = inflight[req]
    if job then   -- else a request of someone else's on the same client
      inflight[req] = nil
      ninflight = ninflight - 1
      landed = landed + 1
      land(job, req:poll())
    end
  end

  -- The retry due first (its index and time), or nil.
  local function earliest()
    local best, at
    for i = 1, #waiting do
      if not at or waiting[i].at < at then best, at = i, waiting[i].at end
    end
    return best, at
  end

  while true do
    -- fill the free slots: retries that are due first, then fresh ids
    while ninflight < concurrency do
      local i, at = earliest()
      if i and at <= clock() then
        local job = table.remove(waiting, i)
        job.attempt = job.attempt + 1
        launch(job)
      elseif nextid <= nids then
        local id = ids[nextid]
        nextid = nextid + 1
        launch({ id = id, attempt = 1, deadline = clock() + timeout })
      else
        break
      end
    end

    if ninflight > 0 then
      local _, done = core:perform()
      landed = 0
      for k = 1, #done do take(done[k]) end
      if landed == 0 then
        -- Ours may have finished without being reported here: when someone
        -- else drove the client (a kadoa.request polled, a status_many in
        -- on_result), or when the client was closed under us (each then
        -- answers "client is closed").
        local finished = {}
        for req in pairs(inflight) do
          if req:done() then finished[#finished + 1] = req end
        end
        for k = 1, #finished do take(finished[k]) end
      end
      if landed == 0 then
        local ms = MAX_WAIT_MS
        local _, at = earliest()
        if at then ms = math.max(0, math.min(ms, (at - clock()) * 1000)) end
        core:wait(ms)
      end
    else
      local _, at = earliest()
      if not at then break end
      local s = at - clock()
      if s > 0 and st.sleep(s) == false then
        -- interrupted (a signal): like status, stop waiting and report the
        -- last failure of everything that was waiting for a retry
        for i = #waiting, 1, -1 do
          local job = table.remove(waiting, i)
          job.err.attempts = job.attempt
          deliver(job.id, nil, job.err)
        end
      end
    end
  end
end

function M.status_many(client, ids, opts)
  if type(ids) ~= "table" then
    error(("bad argument #1 to 'status_many' (table expected, got %s)"):format(type(ids)), 2)
  end
  local o, err = check_options(opts)
  if not o then return nil, err end
  local core = require("kadoa.core")
  local st = {
    client = client,
    core = client._core,
    ids = distinct(ids),
    results = {},
    on_result = o.on_result,
    raw = o.raw == true,
    concurrency = o.concurrency or M.defaults.concurrency,
    timeout = o.timeout or client.timeout,
    inflight = {},   -- request -> job
    waiting = {},    -- jobs waiting for a retry
    clock = client._clock or core.monotime,
    sleep = client._sleep or core.sleep,
  }
  local ok, e = pcall(run, st)
  if not ok then
    -- an error in on_result (or an out-of-memory raise from the core) must
    -- not leave transfers running on the client
    for req in pairs(st.inflight) do req:cancel() end
    error(e, 0)
  end
  return st.results
end

return M
