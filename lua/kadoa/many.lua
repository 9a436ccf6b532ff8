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
-- waiting for its retry keeps its worker, so a backoff holds its slot.
--
-- client:many(name, calls [, opts]) is the same for any call of kadoa.api:
-- calls[i] holds one call's arguments (its options last), results[i] its
-- outcome, on_result(i, res, err).
--
-- Written once for every host, over its HOST face (client.host; the
-- libcurl client's is kadoa.task):
--   host.spawn(client, fn) -> worker   fn(c) runs beside the caller and
--                                      calls c's methods blocking-style
--   host.join(workers, stop) -> true | false, what a worker raised:
--                                      until all are over or stop() is true
--   host.kill(worker)                  its request abandoned
-- kadoa.task runs workers as coroutines over the multi handle (inside a
-- task, as Neovim's are, join yields); OpenResty's are ngx.thread's.

local api = require("kadoa.api")
local errors = require("kadoa.errors")
local options = require("kadoa.options")

local M = {}

local unpack = table.unpack or unpack   -- LuaJIT: the global

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

-- run(client, keys, call, o) -> results: call(c, key) -> res | nil, err
-- for each key, on at most o.concurrency workers; results[key] = value or
-- error value. An error raised by o.on_result (or by a worker) stops the
-- rest and is raised again from here.
---@param client kadoa.Client|table a client with a host face (see above)
---@param keys any[] what each call is for, in order
---@param call fun(c: kadoa.Client, key: any): any, kadoa.Error|nil
---@param o table checked "many" options (concurrency, on_result)
---@return table<any, any|kadoa.Error> results by key
function M.run(client, keys, call, o)
  local host = client.host or require("kadoa.task")
  local results, on_result = {}, o.on_result
  local nextkey, failure = 1, nil
  -- an error of on_result is kept, not raised in the worker, so no host
  -- logs it as a worker's crash
  local function worker(c)
    while not failure and nextkey <= #keys do
      local key = keys[nextkey]
      nextkey = nextkey + 1
      local res, err = call(c, key)
      if failure then return end
      results[key] = res or err
      if on_result then
        local ok, e = pcall(on_result, key, res, err)
        if not ok then failure = { e } end
      end
    end
  end
  local workers = {}
  for i = 1, math.min(o.concurrency, #keys) do workers[i] = host.spawn(client, worker) end
  local ok, why = host.join(workers, function() return failure ~= nil end)
  if failure or not ok then
    failure = failure or { why }   -- no worker goes on
    for _, w in ipairs(workers) do host.kill(w) end
    error(failure[1], 0)
  end
  return results
end

---@param client kadoa.Client
---@param ids string[]
---@param opts? kadoa.ManyOptions
---@return table<string, kadoa.StatusResult|string|kadoa.Error>|nil results by id
---@return kadoa.Error|nil err
function M.status_many(client, ids, opts)
  errors.check_arg(ids, "table", 1, "status_many", 2)
  local o, err = options.check("many", opts, "status_many")
  if not o then return nil, err end
  local list = distinct(ids)
  local copts = { timeout = o.timeout, retries = o.retries }
  local fetch = o.raw and client.status_json or client.status
  return M.run(client, list, function(c, id) return fetch(c, id, copts) end, o)
end

-- many(client, name, calls [, opts]): client:many (see the top).
---@param client kadoa.Client
---@param name string a call of kadoa.api
---@param calls any[][] each call's arguments
---@param opts? kadoa.ManyOptions concurrency and on_result
---@return table<integer, any|kadoa.Error>|nil results by index
---@return kadoa.Error|nil err
function M.many(client, name, calls, opts)
  if not api.calls[name] then
    local near = options.closest(name, api.calls)
    error(("bad argument #1 to 'many' (no API call named '%s'%s)"):format(tostring(name),
      near and (", did you mean '" .. near .. "'?") or ""), 3)
  end
  errors.check_arg(calls, "table", 2, "many", 3)
  local o, err = options.check("many", opts, "many")
  if not o then return nil, err end
  if o.timeout or o.retries or o.raw then
    return nil, errors.new("usage", "many: timeout, retries and raw are each call's own options")
  end
  local keys = {}
  for i = 1, #calls do
    if type(calls[i]) ~= "table" then
      error(("bad argument #2 to 'many' (calls[%d] is a %s, table expected)"):format(i, type(calls[i])), 3)
    end
    keys[i] = i
  end
  return M.run(client, keys, function(c, i)
    local a = calls[i]
    return c[name](c, unpack(a, 1, a.n or #a))
  end, o)
end

return M
