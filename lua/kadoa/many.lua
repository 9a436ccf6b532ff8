-- kadoa.many: the status of many sessions at once.
--
--   local results = client:status_many(ids [, opts])   -- or kadoa.status_many
--   for id, v in pairs(results) do
--     if kadoa.errors.is(v) then print(id, tostring(v)) else print(id, v.payload) end
--   end
--
-- Every request is a non-blocking call on the client's driver
-- (kadoa.request), on the client's libcurl multi handle, so connections
-- are kept and reused between ids and between calls: a keep-alive pool
-- over HTTP/1.1, streams multiplexed over one connection when the server
-- speaks HTTP/2.
--
-- ids     an array (1..#ids) of session ids. Anything but a table, or an
--         element that is not a string, is a programming mistake and raises
--         before any request starts. Duplicates are fetched once. An empty
--         string is fetched like any id and gets the usage error that
--         client:status("") returns.
-- opts    concurrency  at most this many requests in flight (default 16)
--         timeout      seconds each id may take, its retries included
--                      (default: the client's timeout, as for status)
--         retries      as for status (default: the client's)
--         raw          true: each success is the response body exactly as
--                      the API sent it (a string, as client:status_json
--                      gives), not the decoded table
--         on_result    function(id, res, err), called once per distinct id
--                      as its outcome lands (completion order, not ids
--                      order): res is the result table or nil, err the error
--                      value or nil. An error it raises cancels every request
--                      still in flight and is re-raised from status_many.
--
-- Returns a table keyed by id. Each value is exactly what client:status(id)
-- would have given: the decoded result table on success, else the error
-- value it returns second (a kadoa.errors.Error: `kadoa.errors.is(v)`,
-- `v.kind`, `v.message`, `tostring(v)`). Results come from the JSON decoder
-- and never carry a metatable, so errors.is can never mistake one for an
-- error. One failed id never hides the others. Bad opts give nil and a
-- usage error instead of the table, and nothing is fetched.
--
-- Retries follow the client's policy (kadoa.engine) exactly as status
-- does, and a failed value carries `attempts` as status's does. An id
-- waiting for its retry gives its slot to the next id, so a backoff never
-- stalls the rest.

local api = require("kadoa.api")
local options = require("kadoa.options")

local M = {}

-- The distinct ids in first-seen order; raises on a non-string. Shared
-- with kadoa.resty's status_many, so both reject the same ids the same way.
---@param ids string[]
---@return string[] ids each once
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
M.distinct = distinct

-- The driver never blocks longer than this in one wait, so a loop keeps
-- looking at the clock even when curl has no timer of its own pending.
local MAX_WAIT_MS = 1000

-- run(client, jobs, opts [, host]) -> results: each job { key, call,
-- extra, a, b } runs as a non-blocking call; at most opts.concurrency
-- transfers at once. opts: checked "many" options; results[key] = value or
-- error value. host: how to wait for the next answer inside an event loop
-- (kadoa.luv, kadoa.cqueues): host.wait() returns once host.wake() was
-- called, which each request does as it settles; none: block on the driver.
---@param client kadoa.Client
---@param jobs table[] each { key, call, extra, a, b }
---@param o table checked "many" options
---@param host? { wait: fun(), wake: fun() }
---@return table<any, any|kadoa.Error> results by key
function M.run(client, jobs, o, host)
  local driver = client:driver()
  local group = { running = 0, limit = o.concurrency }
  local results, pending, on_result = {}, {}, o.on_result
  local nextjob, npending = 1, 0

  -- an error in on_result (or an out-of-memory raise from the core) must
  -- not leave transfers running on the client. Only these calls are
  -- protected, never a host's wait, which may yield (Lua 5.1 cannot yield
  -- across pcall).
  local function check(ok, ...)
    if ok then return ... end
    for req in pairs(pending) do req:cancel() end
    error((...), 0)
  end

  local function deliver(key, res, err)
    results[key] = res or err
    if on_result then check(pcall(on_result, key, res, err)) end
  end

  -- each request says when it settles (on_done): nothing is scanned
  local landed = {}
  while true do
    -- fill the free slots
    while group.running < group.limit and nextjob <= #jobs do
      local job = jobs[nextjob]
      nextjob = nextjob + 1
      local req, err = check(pcall(driver.start, driver, job.call, o.timeout, o.retries,
        job.extra, job.a, job.b, group))
      if req then
        pending[req] = job.key
        npending = npending + 1
        req.on_done = function()
          landed[#landed + 1] = req
          if host then host.wake() end
        end
      else
        deliver(job.key, nil, err)
      end
    end
    if npending == 0 and nextjob > #jobs then break end
    if #landed == 0 and host then host.wait() end
    if #landed == 0 and not host then check(pcall(driver.step, driver)) end
    if #landed == 0 and not host then check(pcall(driver.wait, driver, MAX_WAIT_MS)) end
    while #landed > 0 do
      local req = table.remove(landed, 1)
      local key = pending[req]
      pending[req] = nil
      npending = npending - 1
      deliver(key, req:poll())
    end
  end
  return results
end

---@param client kadoa.Client
---@param ids string[]
---@param opts? kadoa.ManyOptions
---@param host? { wait: fun(), wake: fun() } see run
---@return table<string, kadoa.StatusResult|string|kadoa.Error>|nil results by id
---@return kadoa.Error|nil err
function M.status_many(client, ids, opts, host)
  require("kadoa.errors").check_arg(ids, "table", 1, "status_many", 2)
  local o, err = options.check("many", opts, "status_many")
  if not o then return nil, err end
  local list = distinct(ids)
  local call = api.calls.status
  local extra = o.raw and { raw = true } or nil
  local jobs = {}
  for i, id in ipairs(list) do jobs[i] = { key = id, call = call, extra = extra, a = id } end
  return M.run(client, jobs, o, host)
end

return M
