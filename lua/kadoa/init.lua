-- kadoa: the public API.
--
--   local kadoa = require("kadoa")
--   local res, err = kadoa.status(session_id)
--
-- Options are checked here, once, so the C core (kadoa.core) can trust
-- them; results come back from C as plain tables, failures are turned
-- into error values by kadoa.errors.

local core = require("kadoa.core")
local errors = require("kadoa.errors")
local retry = require("kadoa.retry")

local M = {
  version = core.version,
  null = core.null,
  errors = errors,
}

local DEFAULT_BASE_URL = "https://api.kadoa.com"

-- name -> checker(value) returning an error message or nil
local function positive(v)
  if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
    return "must be a positive number"
  end
end

local function str(v)
  if type(v) ~= "string" then return "must be a string" end
end

local function seconds(v)
  if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
    return "must be a number of seconds, 0 or more"
  end
end

local function boolean(v)
  if type(v) ~= "boolean" then return "must be a boolean" end
end

local option_checks = {
  api_key = str,
  base_url = str,
  timeout = positive,
  connect_timeout = positive,
  max_body = function(v)
    if type(v) ~= "number" or v < 1 or v > 2 ^ 40 or v % 1 ~= 0 then
      return "must be a whole number of bytes between 1 and 2^40"
    end
  end,
  ca_file = function(v)
    return str(v) or (v:find("\0", 1, true) and "must not contain NUL bytes") or nil
  end,
  -- it becomes part of a header line: no line breaks, no control bytes
  user_agent = function(v)
    return str(v) or (v:find("%c") and "must not contain control characters") or nil
  end,
  allow_insecure = boolean,
  retries = function(v)
    if type(v) ~= "number" or v < 0 or v > 100 or v % 1 ~= 0 then
      return "must be a whole number from 0 to 100"
    end
  end,
  retry_base = positive,
  retry_cap = positive,
  max_retry_wait = seconds,
}

-- The checkers, for the modules that take some of the same options.
M._checks = { positive = positive, boolean = boolean, retries = option_checks.retries }

M.defaults = {
  timeout = 30,
  connect_timeout = 10,
  max_body = 8 * 1024 * 1024,
  retries = retry.defaults.retries,
  retry_base = retry.defaults.retry_base,
  retry_cap = retry.defaults.retry_cap,
  max_retry_wait = retry.defaults.max_retry_wait,
}

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

-- Check a base URL: http or https, a host, nothing after the path.
-- Returns the URL without trailing slashes, or nil and a message.
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

-- Validate opts and fill in defaults and the environment. Returns the
-- complete settings table, or nil and a usage error.
local function settings(opts)
  if opts ~= nil and type(opts) ~= "table" then
    return usage("options must be a table, got " .. type(opts))
  end
  opts = opts or {}
  local s = {}
  for k, v in pairs(opts) do
    local check = option_checks[k]
    if not check then
      return usage("unknown option '" .. tostring(k) .. "'")
    end
    local msg = check(v)
    if msg then return usage("option '" .. k .. "' " .. msg .. ", got " .. type(v)) end
    s[k] = v
  end
  for k, v in pairs(M.defaults) do
    if s[k] == nil then s[k] = v end
  end
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
  return s
end

---------------------------------------------------------------------------
-- The client

local Client = {}
Client.__index = Client
M.Client = Client

function M.client(opts)
  local s, err = settings(opts)
  if not s then return nil, err end
  local c = setmetatable({ _core = core.new(s), _key = s.api_key, base_url = s.base_url,
                           timeout = s.timeout, _retries = s.retries,
                           _policy = { retry_base = s.retry_base, retry_cap = s.retry_cap,
                                       max_retry_wait = s.max_retry_wait } }, Client)
  return c
end

local check_id = errors.check_id

-- Turn what the core reported into an error value.
local function failure(self, r)
  return errors.from_report(r, self._key)
end

-- After a failed first attempt (report r): retry while the failure is
-- worth it (kadoa.retry), attempts are left and the client's timeout
-- allows. The first attempt ran with the whole budget and the core says
-- how long it took, so a success never pays for reading a clock. Each
-- later attempt gets what is left of the budget; a wait that would end
-- past it is not started, and the last error is returned instead.
-- Clock, sleep and random can be replaced on the client (_clock, _sleep,
-- _random) by tests and by hosts that must not block.
local function retry_after_failure(self, id, raw, r, budget)
  local err = failure(self, r)
  local attempts = 1
  local left = self._retries
  if left > 0 and retry.retryable(err) then
    local clock = self._clock or core.monotime
    local sleep = self._sleep or core.sleep
    local random = self._random or math.random
    local deadline = clock() - (r.elapsed or 0) + (budget or self.timeout)
    while left > 0 and retry.retryable(err) do
      local wait = retry.delay(self._policy, attempts, err, random)
      if not wait or clock() + wait >= deadline then break end
      if sleep(wait) == false then break end   -- interrupted: let the host act
      local left_time = deadline - clock()
      if left_time <= 0 then break end
      local res
      res, r = self._core:fetch(id, raw, left_time)
      attempts, left = attempts + 1, left - 1
      if res then return res end
      err = failure(self, r)
    end
  end
  err.attempts = attempts
  return nil, err
end

-- The time one call may take, retries included: opts.timeout, else the
-- client's. Returns nil and a usage error for bad opts. Shared with the
-- OpenResty client (kadoa.resty).
function M._call_budget(self, opts, fname)
  if type(opts) ~= "table" then
    return nil, errors.new("usage", fname .. ": options must be a table, got " .. type(opts))
  end
  for k, v in pairs(opts) do
    if k ~= "timeout" then
      return nil, errors.new("usage", fname .. ": unknown option '" .. tostring(k) .. "'")
    end
    local msg = positive(v)
    if msg then return nil, errors.new("usage", fname .. ": option 'timeout' " .. msg) end
  end
  return opts.timeout or self.timeout
end
local call_budget = M._call_budget

-- client:status(id [, opts]) -> table | nil, err
-- opts.timeout: seconds for this call, retries included (default: the
-- client's timeout); kadoa.wait uses it so no poll outlives its deadline.
function Client:status(id, opts)
  check_id(id, "status")
  local budget, err
  if opts ~= nil then
    budget, err = call_budget(self, opts, "status")
    if not budget then return nil, err end
  end
  local res, r = self._core:fetch(id, false, budget)
  if res then return res end
  return retry_after_failure(self, id, false, r, budget)
end

-- client:status_json(id [, opts]) -> the response body exactly as the API
-- sent it | nil, err
function Client:status_json(id, opts)
  check_id(id, "status_json")
  local budget, err
  if opts ~= nil then
    budget, err = call_budget(self, opts, "status_json")
    if not budget then return nil, err end
  end
  local body, r = self._core:fetch(id, true, budget)
  if body then return body end
  return retry_after_failure(self, id, true, r, budget)
end

function Client:close()
  self._core:close()
end

function Client:closed()
  return self._core:closed()
end

Client.__close = Client.close

-- Watching, many at once and non-blocking use each live in their own
-- module; they are loaded on first use.
function Client:wait(id, opts)
  return require("kadoa.wait").wait(self, id, opts)
end

function Client:status_many(ids, opts)
  return require("kadoa.many").status_many(self, ids, opts)
end

function Client:start(id, opts)
  return require("kadoa.request").start(self, id, opts)
end

function Client:__tostring()
  return "kadoa.client (" .. self.base_url .. ")" .. (self:closed() and " closed" or "")
end

---------------------------------------------------------------------------
-- The default client, reused between calls to kadoa.status. It is made
-- again only when the options or the environment it was made from change.

local default                       -- the client
local made_env_key, made_env_base    -- the environment it was made from
local made_opts_key                  -- what the options held (nil: none given)

local function options_key(opts)
  local keys = {}
  for k in pairs(opts) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    parts[i] = k .. "=" .. type(opts[k]) .. ":" .. tostring(opts[k])
  end
  return table.concat(parts, "\0")
end

-- Is the default client still the one these options and this environment
-- would make? Cheap when nothing changed: no options (or the same table
-- with the same contents) and the same two environment variables.
local function still_fits(opts, env_key, env_base)
  if not default or default:closed() then return false end
  if env_key ~= made_env_key or env_base ~= made_env_base then return false end
  if opts == nil then return made_opts_key == nil end
  return type(opts) == "table" and made_opts_key ~= nil and options_key(opts) == made_opts_key
end

function M.default_client(opts)
  local env_key, env_base = os.getenv("KADOA_API_KEY"), os.getenv("KADOA_BASE_URL")
  if still_fits(opts, env_key, env_base) then return default end
  local c, err = M.client(opts)
  if not c then return nil, err end
  if default then default:close() end
  default, made_env_key, made_env_base = c, env_key, env_base
  made_opts_key = opts and options_key(opts)
  return c
end

function M.status(id, opts)
  check_id(id, "status")
  local c, err = M.default_client(opts)
  if not c then return nil, err end
  return c:status(id)
end

-- The shortcuts below use the default client made from the environment
-- (KADOA_API_KEY, KADOA_BASE_URL); their opts are the operation's own.
function M.wait(id, opts)
  check_id(id, "wait")
  local c, err = M.default_client()
  if not c then return nil, err end
  return c:wait(id, opts)
end

function M.status_many(ids, opts)
  local c, err = M.default_client()
  if not c then return nil, err end
  return c:status_many(ids, opts)
end

function M.format(res, opts)
  return require("kadoa.format").format(res, opts)
end

function M.format_error(err)
  return require("kadoa.format").format_error(err)
end

return M
