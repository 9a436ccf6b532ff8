-- kadoa.many: many calls at once, for every host, written once: client:status_many
-- (ids deduplicated, results keyed by id, each exactly what client:status gives)
-- and client:many(name, calls) (results[i]). An error raised by on_result
-- stops the rest and is raised again; an id waiting for its retry keeps its
-- worker. The workers run over the host's face (client.host: spawn(client,
-- fn), join(workers, stop), kill(worker)): kadoa.task's coroutines over the
-- client's multi handle (one keep-alive pool), or ngx.thread's in OpenResty.

local api = require("kadoa.api")
local errors = require("kadoa.errors")
local options = require("kadoa.options")

local M = {}

local unpack = table.unpack or unpack   -- LuaJIT: the global

-- run(client, keys, call, o) -> results[key]: call(c, key)'s value or error
-- value, on at most o.concurrency workers.
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
  local list, seen = {}, {}   -- the distinct ids in first-seen order
  for i = 1, #ids do
    local id = ids[i]
    if type(id) ~= "string" then
      error(("bad argument #1 to 'status_many' (ids[%d] is a %s, string expected)")
        :format(i, type(id)), 2)
    end
    if not seen[id] then
      seen[id] = true
      list[#list + 1] = id
    end
  end
  local copts = { timeout = o.timeout, retries = o.retries }
  local fetch = o.raw and client.status_json or client.status
  return M.run(client, list, function(c, id) return fetch(c, id, copts) end, o)
end

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
