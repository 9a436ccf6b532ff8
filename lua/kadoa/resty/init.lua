-- kadoa.resty: the client inside nginx (lua-nginx-module / OpenResty),
-- never blocking the worker.
--
--   local kadoa = require("kadoa.resty")
--   local res, err = kadoa.status(id)            -- client from the environment
--   local res, err = kadoa.wait(id, { timeout = 600 })
--   local c = kadoa.client({ api_key = key })    -- or a client of your own
--   c:status(id); c:status_json(id); c:wait(id, opts)   -- every call of kadoa.api
--   c:status_many(ids, { concurrency = 8 })  -- on light threads (ngx.thread)
--
-- Only the host is here: the exchange runs on cosockets
-- (kadoa.resty.transport) and sleeps with ngx.sleep. The rest is the
-- libcurl client's own code, so both give the same answers and errors:
-- options and environment (kadoa.client.settings, group "resty"), the
-- methods (kadoa.client.Client's, over kadoa.api's declarations), retries and
-- budgets (kadoa.engine), the request target and the reading of answers
-- (the C core), default clients (kadoa.client.default).
--
-- Usable where cosockets are: rewrite, access and content phases, ngx.timer
-- callbacks, ngx.thread. Trust comes from nginx, not from ca_file:
--   lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
--   lua_ssl_verify_depth 3;
-- and a host name needs nginx's `resolver` directive. The environment
-- variables need `env KADOA_API_KEY;` (and KADOA_BASE_URL) in the main
-- configuration, since nginx clears the environment of its workers.

local client = require("kadoa.client")
local codec = require("kadoa.codec")
local errors = require("kadoa.errors")
local api = require("kadoa.api")
local options = require("kadoa.options")
local many = require("kadoa.many")
local transport = require("kadoa.resty.transport")

local ngx = ngx
local unpack = table.unpack or unpack   -- LuaJIT: the global

local M = {}

-- The libcurl client's methods over a cosocket transport.
---@class kadoa.resty.Client: kadoa.Client
local Client = {}
Client.__index = Client
M.Client = Client

local function usage(msg)
  return nil, errors.new("usage", msg)
end

-- ngx.now() is cached per event loop turn; a retry budget needs the time
-- as it is now
local function clock()
  ngx.update_time()
  return ngx.now()
end

-- client(opts) -> client | nil, err. opts: kadoa.client's options
-- (ca_file excepted: nginx's lua_ssl_trusted_certificate decides trust),
-- plus pool_size and keepalive_timeout (seconds).
---@param opts? kadoa.resty.Options
---@return kadoa.resty.Client|nil client
---@return kadoa.Error|nil err
function M.client(opts)
  if type(opts) == "table" and opts.ca_file ~= nil then
    -- said plainly, not as an unknown option: it is a known one elsewhere
    return usage("option 'ca_file' is not used inside nginx: set lua_ssl_trusted_certificate")
  end
  local s, err = client.settings(opts, "resty")
  if not s then return nil, err end
  local json, cerr = codec.get()
  if not json then return usage(cerr) end
  local t = transport.new(s, json)
  s.api_key = nil   -- the transport keeps it
  -- the C core's clock and sleep would block the worker; ones given in
  -- opts are the caller's choice (tests)
  if not opts or opts.sleep == nil then s.sleep = ngx.sleep end
  if not opts or opts.clock == nil then s.clock = clock end
  if s.random == nil then s.random = function() return t:random() end end
  return setmetatable({ transport = t, settings = s, base_url = s.base_url, timeout = s.timeout }, Client)
end

-- Every call of the API as a blocking method: the libcurl client's own,
-- being host-neutral (they drive the engine over client.transport), and
-- so are status_json, wait (with ngx.sleep from the settings), a crawl
-- with its wait, and the iterators. export needs the multi interface and
-- is the libcurl client's only.
for name in pairs(api.calls) do Client[name] = client.Client[name] end
for _, name in ipairs({ "status_json", "wait", "each_page", "each_session" }) do
  Client[name] = client.Client[name]
end

-- status_many(ids [, opts]) -> { [id] = result or error value } | nil, err:
-- kadoa.many's contract (the libcurl client's status_many: distinct ids,
-- opts concurrency, timeout, retries, raw, on_result; an error raised by
-- on_result stops the rest and is raised again from here), without a
-- libcurl multi handle: up to `concurrency` light threads (ngx.thread),
-- each taking the next id and calling status on this client's cosockets.
-- One difference: an id waiting for its retry keeps its thread, so a
-- backoff holds its slot. Usable where ngx.thread is (request handlers,
-- ngx.timer callbacks).
---@param ids string[]
---@param opts? kadoa.ManyOptions
---@return table<string, kadoa.StatusResult|string|kadoa.Error>|nil results by id
---@return kadoa.Error|nil err bad options
function Client:status_many(ids, opts)
  errors.check_arg(ids, "table", 1, "status_many", 2)
  local o, err = options.check("many", opts, "status_many")
  if not o then return nil, err end
  local list = many.distinct(ids)
  local copts = { timeout = o.timeout, retries = o.retries }
  local fetch = o.raw and self.status_json or self.status
  local results, on_result = {}, o.on_result
  local nextid, failure = 1, nil

  -- one light thread: ids until none is left or on_result has failed; an
  -- error of on_result is returned, not raised, so nginx logs nothing
  local function worker()
    while not failure and nextid <= #list do
      local id = list[nextid]
      nextid = nextid + 1
      local res, e = fetch(self, id, copts)
      results[id] = res or e
      if on_result then
        local ok, oerr = pcall(on_result, id, res, e)
        if not ok then failure = failure or { oerr }; return end
      end
    end
  end

  local threads = {}
  for i = 1, math.min(o.concurrency, #list) do
    threads[i] = ngx.thread.spawn(worker)
  end
  -- wait for any thread; once on_result has failed, the others are killed
  -- (their requests abandoned, as the libcurl client cancels its own)
  while #threads > 0 do
    ngx.thread.wait(unpack(threads))
    if failure then
      for _, t in ipairs(threads) do ngx.thread.kill(t) end
      error(failure[1], 0)
    end
    local alive = {}
    for _, t in ipairs(threads) do
      if coroutine.status(t) ~= "dead" then alive[#alive + 1] = t end
    end
    threads = alive
  end
  return results
end

---@param s string
---@return string s without the API key
function Client:redact(s)
  return self.transport:redact(s)
end

-- Pooled connections belong to nginx; closing retires the client.
function Client:close() self.transport:close() end
---@return boolean
function Client:closed() return self.transport:closed() end

function Client:__tostring()
  return "kadoa.resty.client (" .. self.base_url .. ")" .. (self:closed() and " closed" or "")
end

---------------------------------------------------------------------------
-- The per-worker default clients, one per set of options.

local defaults = {}

-- status(id [, opts]) -> table | nil, err; opts: client options.
---@param id string session id
---@param opts? kadoa.resty.Options client options (the default client's)
---@return kadoa.StatusResult|nil res
---@return kadoa.Error|nil err
function M.status(id, opts)
  if type(id) ~= "string" then api.args(api.calls.status, "status", id) end
  local c, err = client.default(defaults, M.client, opts)
  if not c then return nil, err end
  return c:status(id)
end

-- wait(id [, opts]) -> res | nil, err; opts: kadoa.wait's options, plus
-- opts.client (client options; default: from the environment).
---@param id string session id
---@param opts? kadoa.WaitOptions
---@return kadoa.StatusResult|nil res the final status
---@return kadoa.Error|nil err
function M.wait(id, opts)
  if type(id) ~= "string" then api.args(api.calls.status, "wait", id) end
  if opts ~= nil and type(opts) ~= "table" then
    return usage("wait: options must be a table, got " .. type(opts))
  end
  local wopts, copts = {}, nil
  for k, v in pairs(opts or {}) do
    if k == "client" then copts = v else wopts[k] = v end
  end
  local c, err = client.default(defaults, M.client, copts)
  if not c then return nil, err end
  return c:wait(id, wopts)
end

return M
