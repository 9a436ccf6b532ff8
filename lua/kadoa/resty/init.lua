-- kadoa.resty: the client inside nginx (OpenResty), never blocking the worker: kadoa.status(id),
-- kadoa.client(opts), every call of kadoa.api, wait, status_many and many (on ngx.thread).
-- Only the host is here (cosockets, ngx.sleep); the rest is the libcurl client's own code, so both
-- give the same answers and errors. Usable where cosockets are (rewrite, access, content, timers,
-- threads). Trust is nginx's (lua_ssl_trusted_certificate, not ca_file), a host name needs its
-- `resolver`, and the environment needs `env KADOA_API_KEY;` since nginx clears its workers'.

local client = require("kadoa.client")
local codec = require("kadoa.codec")
local errors = require("kadoa.errors")
local api = require("kadoa.api")
local transport = require("kadoa.resty.transport")

local ngx = ngx
local unpack = table.unpack or unpack   -- LuaJIT: the global

local M = {}

---@class kadoa.resty.Client: kadoa.Client
local Client = {}
Client.__index = Client
M.Client = Client

local function usage(msg)
  return nil, errors.new("usage", msg)
end

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
  -- the C core's clock and sleep would block the worker; ones given are the caller's (tests)
  if not opts or opts.sleep == nil then s.sleep = ngx.sleep end
  if not opts or opts.clock == nil then s.clock = transport.now end
  if s.random == nil then s.random = function() return t:random() end end
  return setmetatable({ transport = t, settings = s, base_url = s.base_url, timeout = s.timeout }, Client)
end

-- The libcurl client's methods are host-neutral (the engine over client.transport, the settings'
-- sleep; close without a driver is the transport's); export and send are its own only (below).
for name in pairs(api.calls) do Client[name] = client.Client[name] end
for _, name in ipairs({ "status_json", "wait", "each_page", "each_session", "status_many", "many",
                        "redact", "close", "closed" }) do
  Client[name] = client.Client[name]
end

-- kadoa.many's host face: workers are light threads (ngx.thread) calling this client's methods.
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

-- A start's callback token is kept in the shared dict kadoa.resty.callback checks, in any worker.
Client.remember = require("kadoa.resty.callback").remember

---@param _ kadoa.resty.Client
---@param name string
---@return nil
---@return kadoa.Error err
function Client.send(_, name)
  return usage("send is not available in kadoa.resty: client:" .. tostring(name)
    .. "(...) already yields to nginx instead of blocking; many at once: client:many")
end

-- export writes files: disk I/O blocking the worker, bodies streamed by the C core (cosockets have
-- no such sink), files owned by nginx's user. Refused, whatever it is given.
---@return nil
---@return kadoa.Error err
function Client.export()
  return usage("export is not available in kadoa.resty: it writes files, which would block the nginx "
    .. "worker on disk; take the pages with client:each_page(id, { follow = true }), "
    .. "or run `kadoa export` outside nginx")
end

function Client:__tostring()
  return "kadoa.resty.client (" .. self.base_url .. ")" .. (self:closed() and " closed" or "")
end

-- The per-worker default clients, one per set of client options among a call's (as kadoa.NAME).
local defaults = {}
local function default(opts) return client.default(defaults, M.client, opts) end
for name, d in pairs(api.calls) do M[name] = client.shortcut(d, default) end

-- opts: kadoa.wait's, plus client (client options; default: the environment's).
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
