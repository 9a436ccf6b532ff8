-- Error values: every failure the library reports is made here from the
-- transports' outcome records (already redacted), so the rules ("401 is auth",
-- "an HTML page never becomes a message") live in one file. No JSON library:
-- an error body arrives decoded, the same under cjson, vim.json and OpenResty.

local one_line = require("kadoa.text").one_line

local M = {}

-- Every kind (the alias is the same list for editors: keep them together).
---@alias kadoa.ErrorKind
---| "usage"        # a bad argument or option, caught before sending
---| "auth"         # HTTP 401 or 403: the key
---| "not_found"    # HTTP 404
---| "bad_request"  # another 4xx
---| "rate_limited" # HTTP 429
---| "server"       # HTTP 5xx
---| "http"         # any other status that is not 2xx
---| "timeout"      # the call's budget ran out
---| "network"      # could not connect, or the connection broke
---| "tls"          # certificate or handshake
---| "decode"       # the answer is not what was expected (bad JSON, ...)
---| "too_large"    # the answer crossed max_body
---| "memory"       # out of memory
---| "io"           # a file could not be written or read
---| "crawl_failed" # wait: the crawl itself failed
---@type table<kadoa.ErrorKind, true>
M.kinds = {
  usage = true, auth = true, not_found = true, bad_request = true,
  rate_limited = true, server = true, http = true, timeout = true,
  network = true, tls = true, decode = true, too_large = true,
  memory = true, io = true, crawl_failed = true,
}

-- Every failure this library returns (never raises); fields beside kind
-- and message when known.
---@class kadoa.Error
---@field kind kadoa.ErrorKind what kind of failure: switch on this
---@field message string one clean line, the key redacted
---@field status? integer the HTTP status, when there was an answer
---@field details? any what the API said beside its message
---@field request_id? string the x-request-id, for support
---@field retry_after? number seconds the server asked to wait
---@field sent? boolean whether any of the request may have reached the server
---@field attempts? integer how many attempts were made (retries)
---@field session_id? string crawl with wait: the session that was started
local Error = {}
Error.__index = Error
M.Error = Error

function Error:__tostring()
  local extra = {}
  if self.status then extra[#extra + 1] = "HTTP " .. self.status end
  if self.attempts and self.attempts > 1 then
    extra[#extra + 1] = self.attempts .. " attempts"
  end
  if self.request_id then extra[#extra + 1] = "request-id " .. self.request_id end
  -- wait's crawl_failed carries the server's raw text
  local s = "kadoa: " .. tostring(self.kind) .. ": " .. one_line(tostring(self.message), 300)
  if #extra > 0 then s = s .. " (" .. table.concat(extra, ", ") .. ")" end
  return s
end

-- s with every `secret` blanked, for what the command writes.
---@param s string|nil
---@param secret string|nil
---@return string|nil
function M.redact(s, secret)
  if not secret or secret == "" or type(s) ~= "string" then return s end
  return (s:gsub(secret:gsub("%p", "%%%0"), "[redacted]"))
end

-- A kind outside M.kinds is a bug here: raised where it is made.
---@param kind kadoa.ErrorKind
---@param message string
---@param fields? table copied onto the error
---@return kadoa.Error
function M.new(kind, message, fields)
  if not M.kinds[kind] then
    error("kadoa: internal error: unknown error kind " .. tostring(kind), 2)
  end
  local e = {}
  if fields then for k, v in pairs(fields) do e[k] = v end end
  e.kind = kind
  e.message = message
  return setmetatable(e, Error)
end

---@param v any
---@return boolean # v is one of this library's error values
function M.is(v) return getmetatable(v) == Error end

local reasons = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout",
  [409] = "Conflict", [410] = "Gone", [413] = "Payload Too Large",
  [418] = "I'm a teapot", [422] = "Unprocessable Entity",
  [429] = "Too Many Requests", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

---@param status integer
---@return kadoa.ErrorKind
function M.kind_of_status(status)
  if status == 401 or status == 403 then return "auth"
  elseif status == 404 then return "not_found"
  elseif status == 429 then return "rate_limited"
  elseif status >= 400 and status < 500 then return "bad_request"
  elseif status >= 500 and status < 600 then return "server"
  end
  return "http"
end

-- The API answers {"error": true, "message", "details"}, older versions
-- {"message", "error": "<string>"} (`t`: decoded). Anything else (a load
-- balancer's HTML page, nothing) gets the status line, or the page's <title>.
local function message_from_body(status, body, content_type, t)
  body = body or ""
  local head = body:match("^%s*(.)")
  if type(t) == "table" then
    local e = type(t.error) == "string" and t.error or nil
    local msg = type(t.message) == "string" and t.message ~= "" and t.message or e
    if msg then
      local details = t.details
      if details == nil and e ~= msg then details = e end
      return msg, details
    end
  end
  local ctype = (content_type or ""):lower()
  local base = "HTTP " .. status .. (reasons[status] and (" " .. reasons[status]) or "")
  if head == "<" or ctype:find("html", 1, true) then
    local title = body:sub(1, 65536):match("<[Tt][Ii][Tt][Ll][Ee][^>]*>(.-)</[Tt][Ii][Tt][Ll][Ee]>")
    if title and title:find("%S") then
      title = one_line(title, 120)
      if title:find(tostring(status), 1, true) then return title end
      return base .. ": " .. title
    end
    return base
  end
  if head and ctype:find("text/plain", 1, true) and #body <= 200 then
    return base .. ": " .. body
  end
  return base
end

-- Every failure class of an outcome record: { kind, message }, the message
-- made from the record's facts, or the layer below's `detail`, else this line.
---@type table<string, { [1]: kadoa.ErrorKind, [2]: string|fun(r: table): string }>
M.failures = {
  refused = { "network", "connection refused" },
  dns = { "network", "could not resolve the host" },
  reset = { "network", "the connection broke" },
  protocol = { "network", "not an HTTP answer" },
  network = { "network", "network failure" },
  timeout = { "timeout", "timed out" },
  tls = { "tls", "TLS failure" },
  too_large = { "too_large", function(r)
    return r.max_body and ("response body larger than max_body (%d bytes)"):format(r.max_body)
      or r.detail or "response headers too large (over 100 KB), or out of memory"
  end },
  encoding = { "decode", "cannot undo the answer's Content-Encoding" },
  empty = { "decode", function() return "empty response body" end },
  json = { "decode", function(r) return "invalid JSON in response: " .. tostring(r.detail) end },
  not_object = { "decode", function() return "response is JSON but not an object" end },
  memory = { "memory", function(r)
    return r.size and ("out of memory decoding a response of %d bytes"):format(r.size)
      or "out of memory while reading the response"
  end },
  io = { "io", function(r)
    return ("cannot write %s: %s"):format(r.file or "the file", tostring(r.detail))
  end },
  usage = { "usage", "not a valid call" },
}

-- A transport's record of a request that failed as an error value: without
-- `failure`, an HTTP answer that is not 2xx. An unknown class is a bug.
---@param r kadoa.core.Report
---@return kadoa.Error
function M.from_report(r)
  local kind, msg, details
  if r.failure == nil then
    kind = M.kind_of_status(r.status)
    msg, details = message_from_body(r.status, r.body, r.content_type, r.json)
  else
    local f = M.failures[r.failure]
    if not f then error("kadoa: internal error: unknown failure " .. tostring(r.failure), 2) end
    kind, msg = f[1], f[2]
    if type(msg) == "function" then msg = msg(r) else msg = r.detail or msg end
  end
  return M.new(kind, one_line(msg, 300), { status = r.status, details = details,
    request_id = r.request_id, retry_after = r.retry_after, sent = r.sent ~= false })
end

-- A crawl's own error (a 200 answer's `error`): a string as it is, else JSON.
---@param e any
---@return string
function M.crawl_error_text(e)
  if type(e) == "string" then return e end
  if type(e) == "table" then
    local text = require("kadoa.json").encode(e)
    if type(text) == "string" then return text end
  end
  return tostring(e)
end

-- A wrong type is a programming mistake, raised like Lua's own argument
-- errors; level is what the caller would pass to error() itself.
---@param v any
---@param want string
---@param i number
---@param fname string
---@param level number
function M.check_arg(v, want, i, fname, level)
  if type(v) ~= want then
    error(("bad argument #%d to '%s' (%s expected, got %s)"):format(i, fname, want, type(v)), level + 1)
  end
end

-- A session id must be a string, raised at the API function's caller.
---@param id string
---@param fname string
function M.check_id(id, fname)
  M.check_arg(id, "string", 1, fname, 3)
end

return M
