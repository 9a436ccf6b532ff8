-- kadoa.client: the client (one C transport and its settings: kadoa.options
-- resolved against the environment and the defaults), its blocking methods
-- made from kadoa.api, `send` (non-blocking: kadoa.request), default clients
-- and the shortcuts. Other modules use its public fields only.

local core = require("kadoa.core")
local codec = require("kadoa.codec")
local options = require("kadoa.options")
local errors = require("kadoa.errors")
local engine = require("kadoa.engine")
local api = require("kadoa.api")

local M = {}

local DEFAULT_BASE_URL = "https://api.kadoa.com"

local function usage(msg)
  return nil, errors.new("usage", msg)
end

local function is_loopback(host)
  host = host:lower()
  if host == "localhost" or host == "[::1]" then return true end
  local a, b, c, d = host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a then
    a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
    return a == 127 and b < 256 and c < 256 and d < 256
  end
  return false
end

-- the base URL without trailing slashes (http or https, a host, nothing
-- after the path), or nil and a message
local function check_base_url(url, allow_insecure)
  if url:find("[%c%s]") then return nil, "base_url must not contain spaces or control characters" end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "base_url must look like https://host" end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    return nil, "base_url must use https (or http for loopback), not " .. scheme
  end
  if rest:find("[?#]") then return nil, "base_url must not have a query or fragment" end
  local authority = rest:match("^([^/]*)")
  if authority:find("@", 1, true) then return nil, "base_url must not contain credentials" end
  local host = authority:match("^(%[[^%]]*%])") or authority:match("^([^:]*)")
  if not host or host == "" then return nil, "base_url has no host" end
  if scheme == "http" and not allow_insecure and not is_loopback(host) then
    return nil, "plain http is only allowed to loopback hosts; use https "
      .. "(or allow_insecure = true if you really mean it)"
  end
  return (url:gsub("/+$", ""))
end

-- settings(opts [, group]): the options checked, with the defaults, the
-- environment, the base URL and the full user agent; OpenResty's too ("resty").
---@param opts kadoa.ClientOptions|nil
---@param group? "client"|"resty" the option group (default "client")
---@return table|nil settings
---@return kadoa.Error|nil err
function M.settings(opts, group)
  local s, err = options.check(group or "client", opts)
  if not s then return nil, err end
  s.api_key = s.api_key or os.getenv("KADOA_API_KEY")
  if not s.api_key or s.api_key == "" then
    return usage("no API key: pass api_key or set KADOA_API_KEY")
  end
  if s.api_key:find("[%c]") then
    return usage("API key must not contain control characters")
  end
  local env_base = os.getenv("KADOA_BASE_URL")
  if env_base == "" then env_base = nil end
  local base, msg = check_base_url(s.base_url or env_base or DEFAULT_BASE_URL, s.allow_insecure)
  if not base then return usage(msg) end
  s.base_url = base
  s.user_agent = "kadoa-lua/" .. core.version .. (s.user_agent and (" " .. s.user_agent) or "")
  s.clock = s.clock or core.monotime
  s.sleep = s.sleep or core.sleep
  return s
end

-- The call methods are made below from kadoa.api; their annotations are in types/kadoa.lua.
---@class kadoa.Client
---@field base_url string as resolved, without trailing slashes
---@field timeout number seconds a call may take (the client's setting)
---@field settings table every client option, resolved (the key excepted)
---@field transport kadoa.core.Transport the C core's client
local Client = {}
Client.__index = Client
M.Client = Client

---@param opts? kadoa.ClientOptions
---@return kadoa.Client|nil client
---@return kadoa.Error|nil err
function M.new(opts)
  local s, err = M.settings(opts)
  if not s then return nil, err end
  local json, cerr = codec.get()
  if not json then return usage(cerr) end
  local t = core.new({
    api_key = s.api_key, base_url = s.base_url, user_agent = s.user_agent, ca_file = s.ca_file,
    timeout = s.timeout, connect_timeout = s.connect_timeout, max_body = s.max_body,
    decode = json.decode, null = json.null,
  })
  s.api_key = nil   -- the transport keeps it (and scrubs it when closed)
  if not s.random then s.random = function() return t:random() end end
  return setmetatable({ transport = t, settings = s, base_url = s.base_url, timeout = s.timeout }, Client)
end

local run, run_plain, prepare, args = engine.run, engine.run_plain, api.prepare, api.args

-- a call's positional arguments and its options
local function split(d, ...)
  local n = select("#", ...)
  local a, b = ...
  local opts = n > d.nargs and select(d.nargs + 1, ...) or nil
  return a, b, opts
end

-- A call with what follows it: a start with `wait` then waits (an error
-- names the session: err.session_id); one with `callback` returns its token
-- on the result, kept by a host with a receiver (OpenResty: client:remember)
-- from before the start, so no callback comes for a token it does not know.
local function run_and_wait(self, rq)
  local token, keep = rq.callback_token, self.remember
  if token and keep then
    local ok, kerr = keep(self, token)
    if not ok then return nil, kerr end
  end
  local started, err = run(self, rq)
  if token then
    if keep then keep(self, token, started and started.sessionId or false) end
    if started then started.callback_token = token end
  end
  -- the one place a pause or resume, in any host, leaves its mark
  if started and rq.call.mark ~= nil then require("kadoa.marks").note(rq.session, rq.call.mark, started) end
  if not rq.wait or not started then return started, err end
  local id = started.sessionId
  if type(id) ~= "string" or id == "" then
    return nil, errors.new("decode", rq.call.name .. ": the answer names no session (sessionId)")
  end
  local res, werr = self:wait(id, rq.wait)
  if werr then werr.session_id = id end
  if res then res.callback_token = token end
  return res, werr
end

local function blocking(d)
  local name = d.name
  if d.nsegs == 1 and not d.body and not d.raw then   -- the status call's shape: no varargs
    return function(self, a, opts)
      if type(a) ~= "string" then args(d, name, a) end
      if opts == nil then return run_plain(self, d, a) end   -- nothing checked or allocated
      local rq, err = prepare(d, opts, name, a)
      if not rq then return nil, err end
      return run(self, rq)
    end
  end
  return function(self, ...)
    local a, b, opts = split(d, ...)
    args(d, name, a, b)
    local rq, err = prepare(d, opts, name, a, b)
    if not rq then return nil, err end
    return run_and_wait(self, rq)
  end
end
for name, d in pairs(api.calls) do Client[name] = blocking(d) end

---@param id string session id
---@param opts? kadoa.EachPageOptions page_size (default 100), call options, follow
---@return fun(): (kadoa.PageItem|false|nil), kadoa.Error|nil iterator # false, err once on failure
function Client:each_page(id, opts)
  return require("kadoa.paginate").each_page(self, id, opts)
end

---@param opts? kadoa.SessionsOptions page_size (default 100), user_id and call options
---@return fun(): (kadoa.SessionItem|false|nil), kadoa.Error|nil iterator # false, err once on failure
function Client:each_session(opts)
  return require("kadoa.paginate").each_session(self, opts)
end

---@param id string session id
---@param dir string the folder the files go to
---@param opts? kadoa.ExportOptions
---@return kadoa.ExportResult|nil summary
---@return kadoa.Error|nil err
function Client:export(id, dir, opts)
  return require("kadoa.export").export(self, id, dir, opts)
end

local STATUS = api.calls.status

---@param id string session id
---@param opts? kadoa.CallOptions
---@return string|nil json the body exactly as the API sent it
---@return kadoa.Error|nil err
function Client:status_json(id, opts)
  if type(id) ~= "string" then args(STATUS, "status_json", id) end
  local rq, err = prepare(STATUS, opts, "status_json", id)
  if not rq then return nil, err end
  rq.extra = rq.extra or {}
  rq.extra.raw = true
  return run(self, rq)
end

-- send: any call, non-blocking; one with more than its exchange to do (a
-- start's wait or callback, a pause's mark) is a kadoa.task, the same face.
---@param name string a call of kadoa.api ("status", "pages", ...)
---@param ... any the call's arguments, then its options, as for the blocking method
---@return kadoa.Request|kadoa.Task|nil req
---@return kadoa.Error|nil err a usage error (bad options)
function Client:send(name, ...)
  local d = api.calls[name]
  if not d then
    error(("bad argument #1 to 'send' (no API call named '%s')"):format(tostring(name)), 2)
  end
  local a, b, opts = split(d, ...)
  args(d, name, a, b)
  local rq, err = prepare(d, opts, name, a, b)
  if not rq then return nil, err end
  if rq.wait or rq.callback_token or rq.call.mark ~= nil then
    return require("kadoa.task").start(self, run_and_wait, rq)
  end
  return self:driver():start(rq)
end

---@param id string session id
---@param opts? kadoa.CallOptions
---@return kadoa.Request|nil req
---@return kadoa.Error|nil err
function Client:start(id, opts)
  if type(id) ~= "string" then args(api.calls.status, "start", id) end
  return self:send("status", id, opts)
end

---@return kadoa.Driver
function Client:driver()
  self._driver = self._driver or require("kadoa.request").driver(self)
  return self._driver
end

---@param s string
---@return string s without the API key
function Client:redact(s)
  return self.transport:redact(s)
end

function Client:close()
  (self._driver or self.transport):close()   -- a loop may watch the sockets
end

---@return boolean
function Client:closed()
  return self.transport:closed()
end

Client.__close = Client.close

---@param id string session id
---@param opts? kadoa.WaitOptions
---@return kadoa.StatusResult|nil res the final status
---@return kadoa.Error|nil err (crawl_failed, timeout, or what the last poll got)
function Client:wait(id, opts)
  return require("kadoa.wait").wait(self, id, opts)
end

---@param ids string[]
---@param opts? kadoa.ManyOptions
---@return table<string, kadoa.StatusResult|string|kadoa.Error>|nil results by id
---@return kadoa.Error|nil err bad options
function Client:status_many(ids, opts)
  return require("kadoa.many").status_many(self, ids, opts)
end

---@param name string a call of kadoa.api
---@param calls any[][] each call's arguments
---@param opts? kadoa.ManyOptions concurrency and on_result
---@return table<integer, any|kadoa.Error>|nil results by index
---@return kadoa.Error|nil err bad options
function Client:many(name, calls, opts)
  return require("kadoa.many").many(self, name, calls, opts)
end

function Client:__tostring()
  return "kadoa.client (" .. self.base_url .. ")" .. (self:closed() and " closed" or "")
end

-- Default clients: one per set of options and environment, at most a few
-- kept (options made on the fly must not grow this forever).

local function options_key(opts)
  local parts = { os.getenv("KADOA_API_KEY") or "", os.getenv("KADOA_BASE_URL") or "" }
  local keys = {}
  for k in pairs(opts) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. "=" .. type(opts[k]) .. ":" .. tostring(opts[k])
  end
  return table.concat(parts, "\0")
end

local MAX_DEFAULTS = 16

local unpack = table.unpack or unpack   -- LuaJIT: the global

-- split_options(opts): the options only a client takes apart from a call's
-- own; how a shortcut's options pick its default client.
---@param opts any a call's options, client options among them
---@return table|nil client options
---@return any rest the call's options (opts itself when nothing was taken)
function M.split_options(opts)
  if type(opts) ~= "table" then return nil, opts end
  local groups = options.groups
  local picked, rest
  for k, v in pairs(opts) do
    if groups.client[k] and not groups.call[k] then
      picked = picked or {}
      picked[k] = v
    else
      rest = rest or {}
      rest[k] = v
    end
  end
  if not picked then return nil, opts end
  return picked, rest
end

-- shortcut(d, pick) -> kadoa.NAME (and kadoa.resty.NAME): the call on the
-- client pick(client options) gives; a wrong argument raises at its caller.
---@param d table a compiled declaration of kadoa.api
---@param pick fun(opts: table|nil): kadoa.Client|nil, kadoa.Error|nil
---@return function
function M.shortcut(d, pick)
  local name, nargs = d.name, d.nargs
  return function(...)
    args(d, name, ...)
    local n = select("#", ...)
    if n <= nargs then
      local c, err = pick(nil)
      if not c then return nil, err end
      return c[name](c, ...)
    end
    local a = { ... }
    local copts
    copts, a[nargs + 1] = M.split_options(a[nargs + 1])
    local c, err = pick(copts)
    if not c then return nil, err end
    return c[name](c, unpack(a, 1, n))
  end
end

-- default(cache, make, opts): without options only the two environment
-- variables are compared; with options, a key made of their names and values.
---@param cache table the caller's cache
---@param make fun(opts: table|nil): kadoa.Client|nil, kadoa.Error|nil
---@param opts table|nil client options
---@return kadoa.Client|nil
---@return kadoa.Error|nil err
function M.default(cache, make, opts)
  local env_key, env_base = os.getenv("KADOA_API_KEY"), os.getenv("KADOA_BASE_URL")
  local c, key
  if opts == nil then
    c = cache.plain
    if c and cache.env_key == env_key and cache.env_base == env_base and not c:closed() then
      return c
    end
  elseif type(opts) == "table" then
    key = options_key(opts)
    c = cache[key]
    if c and not c:closed() then return c end
  end
  local err
  c, err = make(opts)
  if not c then return nil, err end
  if opts == nil then
    cache.plain, cache.env_key, cache.env_base = c, env_key, env_base
  elseif key then
    cache.count = (cache.count or 0) + 1
    if cache.count > MAX_DEFAULTS then   -- forget them (still usable by whoever holds one)
      for k in pairs(cache) do if type(k) == "string" and k:find("\0", 1, true) then cache[k] = nil end end
      cache.count = 1
    end
    cache[key] = c
  end
  return c
end

return M
