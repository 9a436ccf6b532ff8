-- kadoa.many: many calls at once, for every host, written once.
--
--   local results = client:status_many(ids [, opts])   -- or kadoa.status_many
--   local pages = client:many("page", { { id, p1 }, { id, p2, { format = "html" } } })
--
-- status_many: ids is an array of session ids (a non-string element raises
-- before anything starts; duplicates are fetched once). opts: concurrency
-- (default 16), timeout and retries (each id's, as for status), raw (each
-- success as the body the API sent, as status_json gives), on_result(id,
-- res, err) as each lands. The result is keyed by id; each value is exactly
-- what client:status(id) gives: the result table, or its error value
-- (kadoa.errors.is(v); results never carry a metatable). Bad opts: nil and
-- a usage error, nothing fetched. many(name, calls, opts) is the same for
-- any call: calls[i] one call's arguments (its options last), results[i].
-- An error raised by on_result stops the rest and is raised again. An id
-- waiting for its retry keeps its worker (its slot).
--
-- Over the host's face (client.host; the libcurl client's is kadoa.task):
--   host.spawn(client, fn) -> worker   fn(c) calls c's methods blocking-style
--   host.join(workers, stop) -> true | false, why   until all are over or stop()
--   host.kill(worker)                  its request abandoned
-- Workers are coroutines over the client's multi handle (kadoa.task: one
-- keep-alive pool, HTTP/2 streams on one connection; inside a task, as in
-- Neovim, join yields), or ngx.thread's in OpenResty.

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
