-- kadoa.resty: the client inside nginx (lua-nginx-module / OpenResty),
-- never blocking the worker.
--
--   local kadoa = require("kadoa.resty")
--   local res, err = kadoa.status(id)            -- client from the environment
--   local res, err = kadoa.wait(id, { timeout = 600 })
--   local c = kadoa.client({ api_key = key })    -- or a client of your own
--   c:status(id); c:wait(id, opts)
--
-- The exchange runs on nginx cosockets (ngx.socket.tcp): a small HTTP/1.1
-- GET with a keepalive pool, TLS through nginx's OpenSSL with the
-- certificate and host name verified, and a deadline over the whole
-- exchange. The body is decoded by the C core's own decoder
-- (kadoa.core.decode) and every failure is made by kadoa.errors from the
-- same reports the core makes, so results and error kinds are the ones
-- client:status gives; retries follow the same policy (kadoa.retry),
-- sleeping with ngx.sleep. Options are checked by kadoa.client itself.
--
-- Usable where cosockets are: rewrite, access and content phases, ngx.timer
-- callbacks, ngx.thread. Trust comes from nginx, not from ca_file:
--   lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
--   lua_ssl_verify_depth 3;
-- and a host name needs nginx's `resolver` directive. The environment
-- variables need `env KADOA_API_KEY;` (and KADOA_BASE_URL) in the main
-- configuration, since nginx clears the environment of its workers.

local core = require("kadoa.core")
local errors = require("kadoa.errors")
local retry = require("kadoa.retry")

local ngx = ngx
local tcp = ngx.socket.tcp

local M = {}

-- Options of this host only; every other option is kadoa.client's.
M.defaults = {
  pool_size = 30,          -- idle keepalive connections kept per worker and server
  keepalive_timeout = 60,  -- seconds an idle connection is kept
}

local MAX_HEADERS = 100 * 1024   -- what libcurl allows for all response headers
local BLOCK = 65536

local Client = {}
Client.__index = Client
M.Client = Client

local function usage(msg)
  return nil, errors.new("usage", msg)
end

-- Printable ASCII only, at most 127 bytes: these values end up in logs.
local function header_text(v)
  return (v:sub(1, 127):gsub("[^\32-\126]", "?"))
end

-- Retry-After as seconds from now: delta-seconds or an HTTP-date; nil
-- when unreadable; a date in the past gives 0.
local function retry_after(v)
  v = v:match("^%s*(.-)%s*$")
  if v:match("^%d+$") then return tonumber(v) end
  local t = ngx.parse_http_time(v)
  if not t then return nil end
  return math.max(0, t - ngx.time())
end

-- Request ids: random version 4 UUIDs from the kernel's generator.
local urandom
local function request_id()
  urandom = urandom or io.open("/dev/urandom", "rb")
  local b = urandom and urandom:read(16)
  if not b or #b ~= 16 then
    b = string.char(math.random(0, 255), math.random(0, 255), math.random(0, 255),
      math.random(0, 255), math.random(0, 255), math.random(0, 255), math.random(0, 255),
      math.random(0, 255), math.random(0, 255), math.random(0, 255), math.random(0, 255),
      math.random(0, 255), math.random(0, 255), math.random(0, 255), math.random(0, 255),
      math.random(0, 255))
  end
  local x = { b:byte(1, 16) }
  x[7] = x[7] % 16 + 0x40
  x[9] = x[9] % 64 + 0x80
  return ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x"):format(unpack(x))
end

---------------------------------------------------------------------------
-- The client

-- client(opts) -> client | nil, err. opts: kadoa.client's options
-- (ca_file excepted: nginx's lua_ssl_trusted_certificate decides trust),
-- plus pool_size and keepalive_timeout (seconds).
function M.client(opts)
  if opts ~= nil and type(opts) ~= "table" then
    return usage("options must be a table, got " .. type(opts))
  end
  opts = opts or {}
  local copts = {}
  for k, v in pairs(opts) do copts[k] = v end
  local pool_size, keepalive = copts.pool_size, copts.keepalive_timeout
  copts.pool_size, copts.keepalive_timeout = nil, nil
  if pool_size ~= nil and (type(pool_size) ~= "number" or pool_size < 1 or pool_size % 1 ~= 0) then
    return usage("option 'pool_size' must be a whole number, 1 or more")
  end
  if keepalive ~= nil and (type(keepalive) ~= "number" or keepalive ~= keepalive or keepalive < 0) then
    return usage("option 'keepalive_timeout' must be a number of seconds, 0 or more")
  end
  if copts.ca_file ~= nil then
    return usage("option 'ca_file' is not used inside nginx: set lua_ssl_trusted_certificate")
  end

  -- kadoa.client checks the options (and reads the environment) exactly
  -- as everywhere else; its libcurl handles are not needed here.
  local kadoa = require("kadoa")
  local probe, err = kadoa.client(copts)
  if not probe then return nil, err end
  probe:close()

  local d = kadoa.defaults
  local scheme, authority, path = probe.base_url:match("^(%a[%w+.-]*)://([^/]*)(.*)$")
  scheme = scheme:lower()
  local host, port = authority:match("^%[([^%]]*)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]*):?(%d*)$") end
  port = tonumber(port) or (scheme == "https" and 443 or 80)

  local self = setmetatable({
    base_url = probe.base_url,
    timeout = probe.timeout,
    _key = probe._key,
    _retries = probe._retries,
    _policy = probe._policy,
    _connect_timeout = copts.connect_timeout or d.connect_timeout,
    _max_body = copts.max_body or d.max_body,
    _tls = scheme == "https",
    _host = host,
    _port = port,
    _pool = ("kadoa:%s:%s:%d"):format(scheme, host, port),
    _pool_size = pool_size or M.defaults.pool_size,
    _keepalive_ms = math.floor((keepalive or M.defaults.keepalive_timeout) * 1000),
  }, Client)
  self._head = table.concat({
    "Host: " .. authority,
    "User-Agent: kadoa-lua/" .. core.version .. (copts.user_agent and (" " .. copts.user_agent) or ""),
    "Accept: application/json",
    "x-api-key: " .. probe._key,
  }, "\r\n")
  self._prefix = path .. "/v4/crawl/"
  return self
end

---------------------------------------------------------------------------
-- One exchange. Returns the body and the response's facts, or nil and a
-- report shaped like the core's ({ kind, message, ... }).

local function fail(kind, message, resp)
  local r = { kind = kind, message = message }
  if resp then
    r.status, r.request_id, r.retry_after = resp.status, resp.request_id, resp.retry_after
  end
  return nil, r
end

-- the kind of a cosocket error
local function io_kind(err)
  if err == "timeout" then return "timeout" end
  return "network"
end

-- The facts of a response head: status, version, the headers we use.
local function parse_head(block)
  local version, status = block:match("^HTTP/(%d%.?%d?) (%d%d%d)")
  if not status then return nil end
  local resp = { status = tonumber(status), version = version, headers = {} }
  for name, value in block:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
    name = name:lower()
    value = value:gsub("[ \t]+$", "")
    if name == "x-request-id" then
      resp.request_id = header_text(value)
    elseif name == "x-amzn-requestid" then
      resp.amzn_id = header_text(value)
    elseif name == "content-type" then
      resp.content_type = header_text(value)
    elseif name == "retry-after" then
      resp.retry_after = retry_after(value)
    else
      local prev = resp.headers[name]
      resp.headers[name] = prev and (prev .. ", " .. value) or value
    end
  end
  resp.request_id = resp.request_id or resp.amzn_id
  return resp
end

-- Read the status line and headers of one response (1xx ones skipped).
-- A failure before the first byte is marked `early`.
local function read_head(sock, left_ms)
  local got = 0
  while true do
    local read_block = sock:receiveuntil("\r\n\r\n")
    local parts, size = {}, 0
    while true do
      sock:settimeout(left_ms())
      local data, err, partial = read_block(8192)
      if err then
        local _, r = fail(io_kind(err), "reading the response headers: " .. err)
        r.early = got == 0 and (partial or "") == ""
        return nil, r
      end
      if not data then break end
      size = size + #data
      got = got + #data
      parts[#parts + 1] = data
      if size > MAX_HEADERS then
        -- what was read still tells the status and the request id
        local seen = table.concat(parts)
        return fail("too_large", "response headers larger than " .. MAX_HEADERS .. " bytes",
          parse_head(seen:sub(1, (seen:find("\r\n[^\r\n]*$") or #seen + 1) - 1)))
      end
    end
    local block = table.concat(parts)
    local resp = parse_head(block)
    if not resp then
      return fail("network", "not an HTTP response: " .. errors.one_line(block:sub(1, 60), 60))
    end
    if resp.status >= 200 or resp.status < 100 then return resp end
  end
end

local function too_large(self, resp)
  return fail("too_large", ("response body larger than max_body (%d bytes)"):format(self._max_body), resp)
end

local function read_body(self, sock, resp, left_ms)
  local h = resp.headers
  local status = resp.status
  if status == 204 or status == 304 then return "" end
  local te = h["transfer-encoding"]
  if te and te:lower():find("chunked", 1, true) then
    local parts, size = {}, 0
    while true do
      sock:settimeout(left_ms())
      local line, err = sock:receive("*l")
      if not line then return fail(io_kind(err), "reading the response body: " .. err, resp) end
      local n = tonumber(line:match("^%s*(%x+)"), 16)
      if not n then return fail("network", "bad chunk in the response body", resp) end
      if n == 0 then
        repeat   -- trailers, up to the empty line
          sock:settimeout(left_ms())
          line, err = sock:receive("*l")
          if not line then return fail(io_kind(err), "reading the response body: " .. err, resp) end
        until line == ""
        return table.concat(parts)
      end
      if n > self._max_body - size then return too_large(self, resp) end
      sock:settimeout(left_ms())
      local data
      data, err = sock:receive(n)
      if not data then return fail(io_kind(err), "reading the response body: " .. err, resp) end
      parts[#parts + 1] = data
      size = size + n
      sock:settimeout(left_ms())
      line, err = sock:receive("*l")
      if line ~= "" then
        return fail(err and io_kind(err) or "network", "bad chunk in the response body", resp)
      end
    end
  end
  local len = h["content-length"]
  if len then
    local n = tonumber(len:match("^%s*(%d+)%s*$"))
    if not n then return fail("network", "bad Content-Length in the response", resp) end
    if n > self._max_body then return too_large(self, resp) end
    if n == 0 then return "" end
    sock:settimeout(left_ms())
    local data, err = sock:receive(n)
    if not data then return fail(io_kind(err), "reading the response body: " .. err, resp) end
    return data
  end
  -- no length: the body ends when the server closes
  resp.close = true
  local parts, size = {}, 0
  while true do
    sock:settimeout(left_ms())
    local data, err = sock:receiveany(BLOCK)
    if not data then
      if err == "closed" then return table.concat(parts) end
      return fail(io_kind(err), "reading the response body: " .. err, resp)
    end
    size = size + #data
    if size > self._max_body then return too_large(self, resp) end
    parts[#parts + 1] = data
  end
end

-- Connect (or take a pooled connection), TLS, send, read. `fresh` means
-- the failure happened before the server could have answered on a pooled
-- connection that turned out to be closed: worth one more connection.
local function exchange(self, path, deadline)
  local function left_ms()
    return math.max(1, math.floor((deadline - ngx.now()) * 1000))
  end
  local sock = tcp()
  sock:settimeout(math.min(left_ms(), math.floor(self._connect_timeout * 1000)))
  local ok, err = sock:connect(self._host, self._port, { pool = self._pool })
  if not ok then
    return fail(io_kind(err), ("connecting to %s port %d: %s"):format(self._host, self._port, err))
  end
  local reused = sock:getreusedtimes()
  if self._tls and reused == 0 then
    sock:settimeout(math.min(left_ms(), math.floor(self._connect_timeout * 1000)))
    local sess
    sess, err = sock:sslhandshake(nil, self._host, true)
    if not sess then
      sock:close()
      if err == "timeout" then return fail("timeout", "TLS handshake: timeout") end
      err = tostring(err)
      -- "20: unable to get local issuer certificate" & co. are about trust
      local hint = err:match("^%d+:") and " (lua_ssl_trusted_certificate says what to trust)" or ""
      return fail("tls", "TLS handshake with " .. self._host .. " failed: " .. err .. hint)
    end
  end
  sock:settimeout(left_ms())
  local sent
  sent, err = sock:send("GET " .. path .. " HTTP/1.1\r\n" .. self._head .. "\r\nx-request-id: "
    .. request_id() .. "\r\n\r\n")
  if not sent then
    sock:close()
    return fail(io_kind(err), "sending the request: " .. err), reused > 0 and err ~= "timeout"
  end
  local resp, r = read_head(sock, left_ms)
  if not resp then
    sock:close()
    local stale = reused > 0 and r.early and r.kind == "network"
    r.early = nil
    return nil, r, stale
  end
  local body
  body, r = read_body(self, sock, resp, left_ms)
  if not body then
    sock:close()
    return nil, r
  end
  local conn = (resp.headers.connection or ""):lower()
  local keep = not resp.close and not conn:find("close", 1, true)
    and (resp.version ~= "1.0" or conn:find("keep-alive", 1, true))
  if not keep then
    sock:close()
  else
    sock:setkeepalive(self._keepalive_ms, self._pool_size)
  end
  resp.body = body
  return resp
end

-- One attempt, with the whole-exchange budget `budget` (seconds): what
-- kd_xfer_push_result makes of it in the core.
local function attempt(self, id, raw, budget)
  if #id == 0 then return fail("usage", "session id is empty") end
  if #id > 4096 then return fail("usage", "session id is longer than 4096 bytes") end  -- as the core
  local path = self._prefix .. core.escape(id) .. "/status"
  local deadline = ngx.now() + budget
  local resp, r, stale
  for _ = 1, 3 do
    resp, r, stale = exchange(self, path, deadline)
    if resp or not stale then break end
  end
  if not resp then return nil, r end

  local ce = resp.headers["content-encoding"]
  if ce and ce:lower() ~= "identity" then
    return fail("decode", "unsupported Content-Encoding: " .. header_text(ce), resp)
  end
  if resp.status < 200 or resp.status > 299 then
    return nil, { kind = "response", status = resp.status, body = resp.body,
                  content_type = resp.content_type, request_id = resp.request_id,
                  retry_after = resp.retry_after }
  end
  if raw then return resp.body end
  if resp.body == "" then return fail("decode", "empty response body", resp) end
  local v, msg = core.decode(resp.body)
  if v == nil then return fail("decode", "invalid JSON in response: " .. tostring(msg), resp) end
  if type(v) ~= "table" or #v > 0 then
    return fail("decode", "response is JSON but not an object", resp)
  end
  return v
end

local function failure(self, r)
  return errors.from_report(r, self._key)
end

local function fetch(self, id, raw, budget)
  if self._closed then return nil, errors.new("usage", "client is closed") end
  budget = budget or self.timeout
  local start = ngx.now()
  local deadline = start + budget
  local res, r = attempt(self, id, raw, budget)
  if res ~= nil then return res end
  local err = failure(self, r)
  local attempts, left = 1, self._retries
  while left > 0 and retry.retryable(err) do
    local wait = retry.delay(self._policy, attempts, err)
    if not wait then break end
    ngx.update_time()
    if ngx.now() + wait >= deadline then break end
    ngx.sleep(wait)
    local left_time = deadline - ngx.now()
    if left_time <= 0 then break end
    res, r = attempt(self, id, raw, left_time)
    attempts, left = attempts + 1, left - 1
    if res ~= nil then return res end
    err = failure(self, r)
  end
  err.attempts = attempts
  return nil, err
end

local check_id = errors.check_id

-- opts.timeout for one call, checked as kadoa's client checks it
local function call_budget(self, opts, fname)
  if opts == nil then return self.timeout end
  return require("kadoa")._call_budget(self, opts, fname)
end

-- client:status(id [, opts]) -> table | nil, err (opts.timeout: this call's)
function Client:status(id, opts)
  check_id(id, "status")
  local budget, err = call_budget(self, opts, "status")
  if not budget then return nil, err end
  return fetch(self, id, false, budget)
end

-- client:status_json(id [, opts]) -> the body as the API sent it | nil, err
function Client:status_json(id, opts)
  check_id(id, "status_json")
  local budget, err = call_budget(self, opts, "status_json")
  if not budget then return nil, err end
  return fetch(self, id, true, budget)
end

-- client:wait(id [, opts]) -> res | nil, err: kadoa.wait's schedule,
-- sleeping with ngx.sleep.
function Client:wait(id, opts)
  check_id(id, "wait")
  if opts ~= nil and type(opts) ~= "table" then
    return usage("wait: options must be a table, got " .. type(opts))
  end
  local w = {}
  for k, v in pairs(opts or {}) do w[k] = v end
  w.sleep = w.sleep or ngx.sleep
  w.clock = w.clock or function()
    ngx.update_time()
    return ngx.now()
  end
  return require("kadoa.wait").wait(self, id, w)
end

-- Pooled connections belong to nginx; closing only retires the client.
function Client:close() self._closed = true end
function Client:closed() return self._closed == true end

function Client:__tostring()
  return "kadoa.resty.client (" .. self.base_url .. ")" .. (self._closed and " closed" or "")
end

---------------------------------------------------------------------------
-- The per-worker default clients, one per set of options.

local defaults, ndefaults = {}, 0
local MAX_DEFAULTS = 16   -- options made on the fly must not grow this forever

local function options_key(opts)
  local parts = { os.getenv("KADOA_API_KEY") or "", os.getenv("KADOA_BASE_URL") or "" }
  local keys = {}
  for k in pairs(opts or {}) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. "=" .. type(opts[k]) .. ":" .. tostring(opts[k])
  end
  return table.concat(parts, "\0")
end

local function default_client(opts)
  local key = options_key(opts)
  local c = defaults[key]
  if c then return c end
  local err
  c, err = M.client(opts)
  if not c then return nil, err end
  if ndefaults >= MAX_DEFAULTS then defaults, ndefaults = {}, 0 end
  defaults[key], ndefaults = c, ndefaults + 1
  return c
end

-- status(id [, opts]) -> table | nil, err; opts: client options.
function M.status(id, opts)
  check_id(id, "status")
  local c, err = default_client(opts)
  if not c then return nil, err end
  return fetch(c, id, false)
end

-- wait(id [, opts]) -> res | nil, err; opts: kadoa.wait's options, plus
-- opts.client (client options; default: from the environment).
function M.wait(id, opts)
  check_id(id, "wait")
  if opts ~= nil and type(opts) ~= "table" then
    return usage("wait: options must be a table, got " .. type(opts))
  end
  local wopts, copts = {}, nil
  for k, v in pairs(opts or {}) do
    if k == "client" then copts = v else wopts[k] = v end
  end
  local c, err = default_client(copts)
  if not c then return nil, err end
  return c:wait(id, wopts)
end

return M
