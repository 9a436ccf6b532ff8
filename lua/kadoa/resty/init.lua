-- kadoa.resty: the client inside nginx (lua-nginx-module / OpenResty),
-- never blocking the worker.
--
--   local kadoa = require("kadoa.resty")
--   local res, err = kadoa.status(id)            -- client from the environment
--   local res, err = kadoa.wait(id, { timeout = 600 })
--   local c = kadoa.client({ api_key = key })    -- or a client of your own
--   c:status(id); c:status_json(id); c:wait(id, opts)   -- every call of kadoa.api
--   c:status_many(ids, { concurrency = 8 })  -- on light threads (ngx.thread)
--   c:many("page", { { id, p1 }, { id, p2 } })  -- any call, many at once
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
-- with its wait, the iterators (each_page's follow too: its polls sleep
-- with ngx.sleep), and many at once (kadoa.many, over the host face
-- below). export and send are the libcurl client's only (see below).
for name in pairs(api.calls) do Client[name] = client.Client[name] end
for _, name in ipairs({ "status_json", "wait", "each_page", "each_session", "status_many", "many" }) do
  Client[name] = client.Client[name]
end

-- kadoa.many's host face (status_many, many): workers are light threads
-- (ngx.thread), each calling this client's methods on its cosockets.
-- Usable where ngx.thread is (request handlers, ngx.timer callbacks).
Client.host = {
  spawn = function(c, fn) return ngx.thread.spawn(fn, c) end,
  kill = function(t) ngx.thread.kill(t) end,
  join = function(threads, stop)
    while #threads > 0 do
      local ok, e = ngx.thread.wait(unpack(threads))
      if not ok then return false, e end
      if stop() then return true end
      local alive = {}
      for _, t in ipairs(threads) do
        if coroutine.status(t) ~= "dead" then alive[#alive + 1] = t end
      end
      threads = alive
    end
    return true
  end,
}

-- A start's callback token is kept where kadoa.resty.callback's receiver,
-- in any worker, checks it: the shared dict named by callback_dict.
Client.remember = require("kadoa.resty.callback").remember

-- send is the libcurl client's (its requests move on libcurl's multi
-- handle); here every call is already non-blocking.
---@param _ kadoa.resty.Client
---@param name string
---@return nil
---@return kadoa.Error err
function Client.send(_, name)
  return usage("send is not available in kadoa.resty: client:" .. tostring(name)
    .. "(...) already yields to nginx instead of blocking; many at once: client:many")
end

-- export writes files: from a worker that is disk I/O blocking nginx,
-- the page bodies streamed to files by the C core (which cosockets do
-- not have), and files owned by nginx's user. Refused, whatever it is
-- given; each_page (follow = true for a running crawl) hands the pages
-- to the caller instead.
---@return nil
---@return kadoa.Error err
function Client.export()
  return usage("export is not available in kadoa.resty: it writes files, which would block the nginx "
    .. "worker on disk; take the pages with client:each_page(id, { follow = true }), "
    .. "or run `kadoa export` outside nginx")
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

-- Every call: kadoa.resty.NAME(...) on the worker's default client for
-- the client options among the call's options (as kadoa.NAME).
local function default(opts) return client.default(defaults, M.client, opts) end
for name, d in pairs(api.calls) do M[name] = client.shortcut(d, default) end

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
  local c, err = default(copts)
  if not c then return nil, err end
  return c:wait(id, wopts)
end

return M
