-- Error values: one place that decides what kind of failure a response or
-- a transfer outcome is, and turns it into a table that prints well.
--
-- Every failure the library reports is made here, so the rules ("401 is
-- auth", "an HTML page never becomes a message") live in one file.

local cjson = require("cjson.safe")

local M = {}

-- The complete list of kinds. Anything else is a bug in this library.
M.kinds = {
  usage = true, auth = true, not_found = true, bad_request = true,
  rate_limited = true, server = true, http = true, timeout = true,
  network = true, tls = true, decode = true, too_large = true,
  crawl_failed = true,
}

-- Which failures are worth trying again is kadoa.retry's call (retryable).

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
  -- messages are cleaned when made here, but wait's crawl_failed carries
  -- the server's raw text: one line, whatever it holds
  local s = "kadoa: " .. tostring(self.kind) .. ": " .. M.one_line(tostring(self.message), 300)
  if #extra > 0 then s = s .. " (" .. table.concat(extra, ", ") .. ")" end
  return s
end

-- Make one line of at most `max` bytes out of untrusted text: control
-- characters become spaces, runs of blanks fold to one, and a cut never
-- splits a UTF-8 sequence.
local function one_line(s, max)
  s = s:gsub("[%c]", " "):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if #s > max then
    local cut = max
    -- step back over UTF-8 continuation bytes so the cut lands on a boundary
    while cut > 0 and s:byte(cut + 1) and s:byte(cut + 1) >= 0x80 and s:byte(cut + 1) < 0xC0 do
      cut = cut - 1
    end
    s = s:sub(1, cut) .. "..."
  end
  return s
end
M.one_line = one_line

-- Remove a secret from text that came from elsewhere (a server may echo
-- the key back in an error message; it must not reach a log through us).
local function redact(s, secret)
  if not secret or secret == "" or not s then return s end
  local out, i = {}, 1
  while true do
    local a, b = s:find(secret, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = "[redacted]"
    i = b + 1
  end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end
M.redact = redact

-- The same for anything a server sent that ends up on an error value:
-- strings are redacted, tables copied with their strings redacted.
local function redact_value(v, secret, depth)
  if type(v) == "string" then return redact(v, secret) end
  if type(v) ~= "table" or (depth or 0) > 1000 then return v end
  local t = {}
  for k, x in pairs(v) do
    t[redact_value(k, secret, 1001)] = redact_value(x, secret, (depth or 0) + 1)
  end
  return t
end

-- One clean line without the secret. Redacting first means a cut can never
-- leave half a key behind; again after, in case folding blanks made one.
local function clean(s, max, secret)
  return redact(one_line(redact(s, secret), max), secret)
end

-- new(kind, message [, fields]): fields are copied onto the error.
-- kind must be one of M.kinds: callers switch on it, so a kind outside
-- the list is a bug here, raised where it is made rather than found later.
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

function M.kind_of_status(status)
  if status == 401 or status == 403 then return "auth"
  elseif status == 404 then return "not_found"
  elseif status == 429 then return "rate_limited"
  elseif status >= 400 and status < 500 then return "bad_request"
  elseif status >= 500 and status < 600 then return "server"
  end
  return "http"
end

local function null_to_nil(v)
  if v == cjson.null then return nil end
  return v
end

-- The API answers errors as {"error": true, "message": "...", "details": ...};
-- older versions as {"message": "...", "error": "<string>"}. Anything else
-- (an HTML page from a load balancer, nothing at all) gets a short message
-- made from the status line, or the page's <title> when it has one.
local function message_from_body(status, body, content_type)
  body = body or ""
  local head = body:match("^%s*(.)")
  if head == "{" then
    local t = cjson.decode(body)
    if type(t) == "table" then
      local msg = null_to_nil(t.message)
      if type(msg) ~= "string" or msg == "" then
        msg = type(t.error) == "string" and t.error or nil
      end
      local details = null_to_nil(t.details)
      if details == nil and type(t.error) == "string" and t.error ~= msg then
        details = t.error
      end
      if msg then return msg, details end
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

-- from_response(r, secret): r is what the C core reports for a completed
-- exchange that was not a success: { status, body, content_type,
-- request_id, retry_after }.
function M.from_response(r, secret)
  local msg, details = message_from_body(r.status, r.body, r.content_type)
  return M.new(M.kind_of_status(r.status), clean(msg, 300, secret), {
    status = r.status,
    details = redact_value(details, secret),
    request_id = redact(r.request_id, secret),
    retry_after = r.retry_after,
  })
end

-- from_transfer(r, secret): r is { kind, message [, status, request_id] }
-- as the C core reports a transfer that failed below HTTP (connect,
-- TLS, timeout, size, decoding) or was refused before it started.
function M.from_transfer(r, secret)
  return M.new(r.kind, clean(r.message or r.kind, 300, secret), {
    status = r.status,
    request_id = redact(r.request_id, secret),
    retry_after = r.retry_after,
  })
end

-- from_report(r, secret): whatever the C core reported for a request that
-- did not succeed, as the error value every API of this library returns.
function M.from_report(r, secret)
  if r.kind == "response" then return M.from_response(r, secret) end
  return M.from_transfer(r, secret)
end

-- check_id(id, fname): a session id that is not a string is a programming
-- mistake, raised like Lua's own argument errors at the API function's
-- caller (level 3: past this function and the API function).
function M.check_id(id, fname)
  if type(id) ~= "string" then
    error(("bad argument #1 to '%s' (string expected, got %s)"):format(fname, type(id)), 3)
  end
end

return M
