-- kadoa.resty.transport: HTTP/1.1 over nginx cosockets with the C core's transport face (fetch),
-- so kadoa.engine drives both. Only the bytes on the wire are here: the request target, the head's
-- reading and the answer's (decoding, error bodies, redaction) are the core's, so the answers are
-- the libcurl client's to the byte. Failures below HTTP are the core's outcome records, redacted
-- where they are made; `sent` is false only when no byte left (the engine repeats a POST only then).
-- A GET may ride a pooled connection and is sent again when one found closed fails before any byte
-- of an answer; a POST or DELETE always gets a connection of its own (libcurl's FRESH_CONNECT),
-- since a reused one cannot tell "never arrived" from "arrived, then the server went away".

local core = require("kadoa.core")

local ngx = ngx
local tcp = ngx.socket.tcp

local M = {}

local MAX_HEADERS = 100 * 1024   -- what libcurl allows for all response headers
local BLOCK = 65536
local STALE_TRIES = 3            -- a GET on connections found dead in the pool

-- ngx.now() is cached per event loop turn; a deadline needs the time as it is now
---@return number seconds
function M.now()
  ngx.update_time()
  return ngx.now()
end
local now = M.now

---@class kadoa.resty.Transport
local T = {}
T.__index = T
M.Transport = T

---@param s table kadoa.client.settings(opts, "resty"), the key still in
---@param json table kadoa.codec.get()'s codec
---@return kadoa.resty.Transport
function M.new(s, json)
  local core_t = core.new({
    api_key = s.api_key, base_url = s.base_url, user_agent = s.user_agent,
    timeout = s.timeout, connect_timeout = s.connect_timeout, max_body = s.max_body,
    decode = json.decode, null = json.null,
  })
  local scheme, authority, prefix = s.base_url:match("^(%a[%w+.-]*)://([^/]*)(.*)$")
  scheme = scheme:lower()
  local host, port = authority:match("^%[([^%]]*)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]*):?(%d*)$") end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  return setmetatable({
    _core = core_t,
    _prefix = prefix,   -- a base URL's own path, before every target
    _tls = scheme == "https", _host = host, _port = port,
    _pool = ("kadoa:%s:%s:%d"):format(scheme, host, port),
    -- never given to setkeepalive, so always empty: a connection of its own
    _fresh_pool = ("kadoa-fresh:%s:%s:%d"):format(scheme, host, port),
    _pool_size = s.pool_size,
    _keepalive_ms = math.floor(s.keepalive_timeout * 1000),
    _timeout = s.timeout,
    _connect_ms = math.floor(s.connect_timeout * 1000),
    _max_body = s.max_body,
    _head = "Host: " .. authority .. "\r\nUser-Agent: " .. s.user_agent
      .. "\r\nAccept: application/json\r\nx-api-key: " .. s.api_key,
  }, T)
end

-- The record of a failure of exchange x (its start, what was sent, its head), the key redacted.
local function report(self, x, failure, detail)
  local r = { failure = failure, detail = detail and self._core:redact(detail),
              elapsed = now() - x.start, sent = x.sent }
  local h = x.head
  if h then
    r.status, r.retry_after = h.status, h.retry_after
    r.request_id = h.request_id and self._core:redact(h.request_id)
    r.content_type = h.content_type and self._core:redact(h.content_type)
  end
  return nil, r
end

-- the failure class of a cosocket error, as src/transfer.c classes libcurl's
local function io_failure(err, connecting)
  if err == "timeout" then return "timeout" end
  if not connecting then return "reset" end
  if err:find("refused", 1, true) then return "refused" end
  if err:find("resolve", 1, true) then return "dns" end
  return "network"
end

local function left_ms(x)
  return math.max(1, math.floor((x.deadline - now()) * 1000))
end

-- The head of one answer (1xx ones skipped), as core.head reads it; x.early: not one byte came.
local function read_head(self, x, sock)
  local got = 0
  while true do
    local read_block = sock:receiveuntil("\r\n\r\n")
    local parts, size = {}, 0
    while true do
      sock:settimeout(left_ms(x))
      local data, err, partial = read_block(8192)
      if err then
        x.early = got == 0 and (partial or "") == ""
        return report(self, x, io_failure(err), "reading the response headers: " .. err)
      end
      if not data then break end
      size, got = size + #data, got + #data
      parts[#parts + 1] = data
      if size > MAX_HEADERS then
        -- what was read still tells the status and the request id
        local seen = table.concat(parts)
        x.head = core.head(seen:sub(1, (seen:find("\r\n[^\r\n]*$") or #seen + 1) - 1))
        return report(self, x, "too_large", "response headers larger than " .. MAX_HEADERS .. " bytes")
      end
    end
    local block = table.concat(parts)
    local head = core.head(block)
    if not head then
      return report(self, x, "protocol", "not an HTTP response: "
        .. (block:sub(1, 60):gsub("[^\32-\126]", "?")))
    end
    if head.status >= 200 or head.status < 100 then
      x.head = head
      return head
    end
  end
end

local function too_large(self, x)
  local _, r = report(self, x, "too_large")
  r.max_body = self._max_body
  return nil, r
end

local function read_chunked(self, x, sock)
  local parts, size, max = {}, 0, self._max_body
  while true do
    sock:settimeout(left_ms(x))
    local line, err = sock:receive("*l")
    if not line then return report(self, x, io_failure(err), "reading the response body: " .. err) end
    local n = tonumber(line:match("^%s*(%x+)"), 16)
    if not n then return report(self, x, "protocol", "bad chunk in the response body") end
    if n == 0 then
      repeat   -- trailers, up to the empty line
        sock:settimeout(left_ms(x))
        line, err = sock:receive("*l")
        if not line then return report(self, x, io_failure(err), "reading the response body: " .. err) end
      until line == ""
      return table.concat(parts)
    end
    if n > max - size then return too_large(self, x) end
    sock:settimeout(left_ms(x))
    local data
    data, err = sock:receive(n)
    if not data then return report(self, x, io_failure(err), "reading the response body: " .. err) end
    parts[#parts + 1] = data
    size = size + n
    sock:settimeout(left_ms(x))
    line, err = sock:receive("*l")
    if line ~= "" then
      return report(self, x, err and io_failure(err) or "protocol", "bad chunk in the response body")
    end
  end
end

-- The body, by the head's framing; x.until_close when it ends with the connection.
local function read_body(self, x, sock)
  local h = x.head
  if h.status == 204 or h.status == 304 then return "" end
  if h.chunked then return read_chunked(self, x, sock) end
  local n = h.content_length
  if n then
    if n < 0 then return report(self, x, "protocol", "bad Content-Length in the response") end
    if n > self._max_body then return too_large(self, x) end
    if n == 0 then return "" end
    sock:settimeout(left_ms(x))
    local data, err = sock:receive(n)
    if not data then return report(self, x, io_failure(err), "reading the response body: " .. err) end
    return data
  end
  x.until_close = true
  local parts, size = {}, 0
  while true do
    sock:settimeout(left_ms(x))
    local data, err = sock:receiveany(BLOCK)
    if not data then
      if err == "closed" then return table.concat(parts) end
      return report(self, x, io_failure(err), "reading the response body: " .. err)
    end
    size = size + #data
    if size > self._max_body then return too_large(self, x) end
    parts[#parts + 1] = data
  end
end

-- One exchange on one connection: body | nil, report
local function exchange(self, x, request)
  x.sent, x.head, x.early, x.until_close = false, nil, nil, nil
  local sock = tcp()
  sock:settimeout(math.min(left_ms(x), self._connect_ms))
  local ok, err = sock:connect(self._host, self._port, { pool = x.fresh and self._fresh_pool or self._pool })
  if not ok then
    return report(self, x, io_failure(err, true),
      ("connecting to %s port %d: %s"):format(self._host, self._port, err))
  end
  x.reused = sock:getreusedtimes() > 0
  if self._tls and not x.reused then
    sock:settimeout(math.min(left_ms(x), self._connect_ms))
    local sess
    sess, err = sock:sslhandshake(nil, self._host, true)
    if not sess then
      sock:close()
      if err == "timeout" then return report(self, x, "timeout", "TLS handshake: timeout") end
      err = tostring(err)
      -- "20: unable to get local issuer certificate" & co. are about trust
      local hint = err:match("^%d+:") and " (lua_ssl_trusted_certificate says what to trust)" or ""
      return report(self, x, "tls", "TLS handshake with " .. self._host .. " failed: " .. err .. hint)
    end
  end
  -- from here on the server may have the request, or part of it
  x.sent = true
  sock:settimeout(left_ms(x))
  ok, err = sock:send(request)
  if not ok then
    sock:close()
    x.early = err ~= "timeout"
    return report(self, x, io_failure(err), "sending the request: " .. err)
  end
  local body, r
  body, r = read_head(self, x, sock)
  if body then body, r = read_body(self, x, sock) end
  if not body then
    sock:close()
    return nil, r
  end
  -- a connection of its own (x.fresh) goes when its call is done
  if x.fresh or x.until_close or x.head.close then
    sock:close()
  else
    sock:setkeepalive(self._keepalive_ms, self._pool_size)
  end
  return body
end

-- What the C core's fetch returns for the same call.
---@param route kadoa.core.Route
---@param timeout number seconds
---@param extra kadoa.core.Extra|nil
---@param ... string path segments
---@return any|nil value
---@return kadoa.core.Report|nil report
function T:fetch(route, timeout, extra, ...)
  if self._closed then
    return nil, { failure = "usage", detail = "client is closed", sent = false }
  end
  if extra and extra.file then
    -- said, not ignored: a call's `path` is a known option elsewhere
    return nil, { failure = "usage", sent = false, detail = "option 'path' is not available in "
      .. "kadoa.resty: writing the file would block the nginx worker; the result holds the content" }
  end
  local target, bad = self._core:path(route, timeout, extra, ...)
  if not target then return nil, bad end
  local method = tostring(route):match("^(%u+) ") or "GET"   -- tostring: "GET /v4/..."
  local lines = { method .. " " .. self._prefix .. target .. " HTTP/1.1", self._head,
                  "x-request-id: " .. self._core:request_id() }
  local body = extra and extra.body
  if method ~= "GET" then
    if body then lines[#lines + 1] = "Content-Type: application/json" end
    lines[#lines + 1] = "Content-Length: " .. (body and #body or 0)
  else
    body = nil
  end
  lines[#lines + 1] = "\r\n"
  local request = table.concat(lines, "\r\n") .. (body or "")

  local start = now()
  local x = { start = start, deadline = start + (timeout or self._timeout),
              fresh = method ~= "GET" }
  local res, r
  for _ = 1, x.fresh and 1 or STALE_TRIES do
    res, r = exchange(self, x, request)
    -- a pooled connection found closed before one byte of an answer: asking again is harmless
    if res or not (x.reused and x.early and r.failure ~= "timeout") then break end
  end
  if not res then return nil, r end
  local h = x.head
  local ce = h.content_encoding
  if ce and ce:lower() ~= "identity" then
    -- nothing was asked for in any encoding (no Accept-Encoding)
    return report(self, x, "encoding", "unsupported Content-Encoding: " .. ce)
  end
  return self._core:finish(h.status, res, h, extra and extra.raw or false, now() - start)
end

---@return number in [0, 1)
function T:random() return self._core:random() end
---@param s string
---@return string s without the API key
function T:redact(s) return self._core:redact(s) end

-- Pooled connections are nginx's; closing retires the transport and forgets the key.
function T:close()
  self._closed = true
  self._head = nil
  self._core:close()
end

---@return boolean
function T:closed() return self._closed == true end

return M
