-- kadoa.api: the calls of the Kadoa API, each one declaration.
--
-- A declaration says what the call sends: its method and path (segments
-- in braces are percent-encoded by the C core, one segment each), the
-- call options that become query parameters, and whether it is safe to
-- repeat. From it kadoa.client makes the blocking method
-- (`client:status(id [, opts])`), `client:send(name, ...)` the
-- non-blocking request and `client:many(name, calls)` many at once;
-- Neovim and OpenResty take the same methods. Adding a GET or POST of the
-- API is adding an entry here (and its mock route): see doc/HACKING.md.
--
--   name = {
--     "GET", "/v4/crawl/{session id}/status",   -- method, path
--     query = { page = { "currentPage", "number", ge = 1, whole = true } },
--                                              -- call option -> parameter
--     body = "StartCrawlerSessionRequest",     -- a JSON body of this schema
--                                              -- (kadoa.schema), checked first
--     args = { "sessionId" },                  -- positional strings that fill
--                                              -- the body's fields
--     raw = true,                              -- the answer is bytes, not JSON
--     field = "payload",                       -- opts.path streams this string
--                                              -- field of the answer to a file
--     starts = true,                           -- the answer names a session:
--                                              -- opts.wait waits for it
--     callback = "callbackUrl",                -- the body field opts.callback
--                                              -- fills (the URL, a token added)
--     unsafe = true,                           -- not idempotent (POSTs are)
--     mark = true,                             -- once the API said yes, the
--                                              -- session's paused mark is set
--                                              -- (true) or cleared (false):
--                                              -- kadoa.marks, by kadoa.client
--   }
--
-- Query parameters go out sorted by parameter name (`page=2&pageSize=10`),
-- the same every time, whatever order the options were given in.
--
-- One invocation of a call is described by one REQUEST table, made by
-- prepare() and taken as it is by kadoa.engine, the driver
-- (kadoa.request) and every transport:
--   { call = <declaration>, [1] = segment, [2] = segment,
--     extra = { query, body, raw, file, field } or nil (kadoa.core's),
--     budget = seconds or nil, retries = n or nil,
--     wait = kadoa.wait's options or nil (a call that `starts`),
--     callback_token = the secret in the callback URL sent, or nil,
--     session = the session id of a call with `mark` }

local core = require("kadoa.core")
local options = require("kadoa.options")
local errors = require("kadoa.errors")

local M = {}

local PAGE = { "currentPage", "number", ge = 0, whole = true, finite = true }
local PAGE_SIZE = { "pageSize", "number", ge = 1, whole = true, finite = true }

M.calls = {
  status = { "GET", "/v4/crawl/{session id}/status",
    doc = "how far a crawl got: { payload = { crawledPages, activeJobs, waitingJobs, finished }, ... }" },
  crawl = { "POST", "/v4/crawl/", body = "StartCrawlerSessionRequest", shorthand = "url", starts = true,
    callback = "callbackUrl",
    doc = "start a crawl; body: the API's fields (url or startUrls, maxPages, ...) or a URL" },
  crawl_with_config = { "POST", "/v4/crawl/start", body = "StartSessionWithConfigRequest",
    args = { "configId" }, starts = true, doc = "start a crawl from a saved config" },
  pause = { "POST", "/v4/crawl/pause", body = "PauseCrawlerSessionRequest", args = { "sessionId" },
    mark = true, doc = "pause a crawl" },
  resume = { "POST", "/v4/crawl/resume", body = "ResumeCrawlerSessionRequest", args = { "sessionId" },
    mark = false, doc = "resume a paused crawl" },
  pages = { "GET", "/v4/crawl/{session id}/pages", query = { page = PAGE, page_size = PAGE_SIZE },
    doc = "one page of the list of crawled pages: { payload = { { id, url, status } ... }, pagination }" },
  page = { "GET", "/v4/crawl/{session id}/pages/{page id}", field = "payload",
    query = { format = { "format", "string", nocontrol = true } },
    doc = "one crawled page's content: { payload = <text>, pageFormat, ... }" },
  session_files = { "GET", "/v4/crawl/{session id}/list",
    query = { include_all = { "includeAll", "boolean" } },
    doc = "everything stored for a session: { totalPages, data = { { url, status, html_filename ... } } }" },
  file = { "GET", "/v4/crawl/bucket/data/{file name}", raw = true,
    doc = "a stored file's bytes (name: a *_filename of session_files)" },
  sessions = { "GET", "/v4/crawl/sessions", query = { page = { "page", "number", ge = 1, whole = true },
      page_size = { "pageSize", "number", ge = 1, le = 100, whole = true },
      user_id = { "userId", "string", nocontrol = true } },
    doc = "one page of your crawl sessions: { data = { ... }, pagination }" },
  config_create = { "POST", "/v4/crawl/config", body = "CreateCrawlerConfigRequest",
    doc = "save a crawl config" },
  config = { "GET", "/v4/crawl/config/{config id}", doc = "a saved crawl config" },
  config_delete = { "DELETE", "/v4/crawl/config", body = "DeleteCrawlerConfigRequest",
    args = { "configId" }, doc = "delete a saved crawl config" },
}

-- Compile each declaration once: its route in the C core, its options.
local function compile(name, d)
  d.name = name
  d.method, d.path = d[1], d[2]
  d.route = core.route(d.method, d.path)
  d.nsegs = select(2, d.path:gsub("{", ""))
  if d.unsafe == nil then d.unsafe = d.method == "POST" end
  d.options = {}   -- the call's own options, beside timeout, retries and raw
  d.params = {}    -- the query options, by parameter name (the wire order)
  for opt, q in pairs(d.query or {}) do
    local decl = { q[2] }
    for k, v in pairs(q) do if type(k) == "string" then decl[k] = v end end
    d.options[opt] = decl
    d.params[#d.params + 1] = { opt, q[1] }
  end
  table.sort(d.params, function(x, y) return x[2] < y[2] end)
  if d.starts then d.options.wait = "any" end   -- true or wait's options: checked in prepare
  if d.callback then d.options.callback = options.declarations.callback end
  if d.body then d.options.extra = "table" end     -- fields this version does not know
  if d.raw or d.field then d.options.path = { "string", nonul = true } end   -- stream to a file
  -- the positional arguments: path segments, or body fields, or a body
  d.nargs = d.body and (d.args and #d.args or 1) or d.nsegs
  return d
end

for name, d in pairs(M.calls) do compile(name, d) end

-- argument check for segments: a wrong type is a programming mistake and
-- raises at the caller of the API method, like Lua's own functions
local function check_arg(v, i, fname)
  errors.check_arg(v, "string", i, fname, 4)
end

-- The query array the core encodes: name, value, ... sorted by name.
local function query_of(d, o)
  local q
  for _, p in ipairs(d.params) do
    local v = o[p[1]]
    if v ~= nil then
      q = q or {}
      if type(v) == "number" and v == math.floor(v) then v = string.format("%d", v) end
      q[#q + 1] = p[2]
      q[#q + 1] = tostring(v)
    end
  end
  return q
end

local function usage(fname, msg)
  return nil, errors.new("usage", fname .. ": " .. msg)
end

-- A start's `wait`: true, or kadoa.wait's options (a session fresh from
-- its start may answer 404 for a while: `grace`, 10 s unless given).
local function wait_of(fname, w)
  if w ~= true and type(w) ~= "table" then
    return usage(fname, "option 'wait' must be true or a table of wait's options, got " .. type(w))
  end
  local o, err = options.check("wait", w ~= true and w or nil, fname .. " (wait)")
  if not o then return nil, err end
  local wo = {}
  if w ~= true then for k, v in pairs(w) do wo[k] = v end end
  if wo.grace == nil then wo.grace = 10 end
  return wo
end

-- A start's `callback`: the URL with a fresh secret added as kadoa_token,
-- so a receiver can tell Kadoa's call from anyone else's (the callback is
-- not signed), and the token. 128 bits from the OS, one per crawl.
local function callback_of(fname, o)
  local url = o.callback
  if o.raw then
    return usage(fname, "option 'callback' returns its token on the decoded result: not with raw")
  end
  local scheme, host = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    return usage(fname, "option 'callback' must be an http:// or https:// URL")
  end
  if host:gsub("^.*@", "") == "" or url:find("%s") then
    return usage(fname, "option 'callback' must name a host and hold no spaces")
  end
  if url:find("#", 1, true) then return usage(fname, "option 'callback' must not have a fragment") end
  local q = url:match("%?(.*)$")
  if q and ("&" .. q):find("&kadoa_token=", 1, true) then
    return usage(fname, "option 'callback' already has a kadoa_token: the client adds its own")
  end
  local token, terr = core.token(16)
  if not token then return nil, errors.new("io", fname .. ": no callback token: " .. terr) end
  local sep = not q and "?" or (q == "" or q:sub(-1) == "&") and "" or "&"
  return url .. sep .. "kadoa_token=" .. token, token
end

-- The JSON body of a body call, from its positional argument(s): a table
-- of the API's fields (or, with `shorthand`, a string for that field), or
-- strings naming the fields in `args`; cb: a start's callback URL for the
-- field d.callback.
local function body_of(d, fname, o, a, b, cb)
  local fields
  if d.args then
    fields = {}
    local vals = { a, b }
    for i, name in ipairs(d.args) do
      local v = vals[i]
      if v == "" then return nil, name .. " is empty" end
      fields[name] = v
    end
  elseif type(a) == "string" and d.shorthand then
    fields = { [d.shorthand] = a }
  else
    fields = a
  end
  if cb and type(fields) == "table" then
    if fields[d.callback] ~= nil then
      return nil, ("give the callback URL as option 'callback' or as body field %s, not both")
        :format(d.callback)
    end
    local f = { [d.callback] = cb }
    for k, v in pairs(fields) do f[k] = v end
    fields = f
  end
  return require("kadoa.body").check(d.body, fields, fname, o.extra)
end

---@class kadoa.api.Request
---@field call table the compiled declaration
---@field extra? kadoa.core.Extra
---@field budget? number seconds (nil: the client's timeout)
---@field retries? integer (nil: the client's)
---@field wait? table kadoa.wait's options (a start with opts.wait)
---@field callback_token? string the secret in the callback URL (a start with opts.callback)
---@field session? string the session a call with `mark` pauses or resumes

-- prepare(call, opts, fname, a, b) -> request | nil, err
-- One invocation of a call as a request table (see the top): its options
-- checked, its query, its body checked against the contract and encoded.
-- a, b: the positional arguments (for a body call, what becomes the body).
---@param d table a compiled declaration of M.calls
---@param opts table|nil the call's options
---@param fname string the call's name, for messages
---@param a any first positional argument (a segment, or the body)
---@param b any second positional argument
---@return kadoa.api.Request|nil request
---@return kadoa.Error|nil err a usage error
function M.prepare(d, opts, fname, a, b)
  if d.starts and not d.callback and type(opts) == "table" and opts.callback ~= nil then
    return usage(fname, "option 'callback' is not available: the API's start from a saved config "
      .. "takes only configId, so no token can be added (save callbackUrl in the config instead)")
  end
  local w = d.starts and type(opts) == "table" and opts.wait or nil
  if w ~= nil then
    local o = {}
    for k, v in pairs(opts) do if k ~= "wait" then o[k] = v end end
    local err
    if w == false then w = nil else w, err = wait_of(fname, w) end
    if err then return nil, err end
    opts = o
  end
  local o, err = options.check("call", opts, fname, d.options)
  if not o then return nil, err end
  local rq = { call = d, budget = o.timeout, retries = o.retries, wait = w or nil,
    session = d.mark ~= nil and a or nil }
  local cb, token
  if o.callback then
    cb, token = callback_of(fname, o)
    if not cb then return nil, token end
    rq.callback_token = token
  end
  if not d.body then rq[1], rq[2] = a, b end
  local extra
  local q = query_of(d, o)
  if q or o.raw or d.raw then extra = { query = q, raw = o.raw or d.raw or nil } end
  if d.body then
    local text, berr = body_of(d, fname, o, a, b, cb)
    if not text then
      if type(berr) == "string" then return usage(fname, berr) end
      return nil, berr
    end
    extra = extra or {}
    extra.body = text
  end
  if o.path then
    extra = extra or {}
    extra.file, extra.field = o.path, d.field
  end
  rq.extra = extra
  return rq
end

-- args(d, fname, a, b): the positional arguments must be strings (a body
-- call's single argument: a table, or a string with a shorthand); else
-- raises, like Lua's own functions.
---@param d table a compiled declaration of M.calls
---@param fname string the call's name, for messages
---@param a any first positional argument
---@param b any second positional argument
function M.args(d, fname, a, b)
  if d.body and not d.args then
    if type(a) ~= "table" and not (d.shorthand and type(a) == "string") then
      error(("bad argument #1 to '%s' (table%s expected, got %s)"):format(fname,
        d.shorthand and " or string" or "", type(a)), 3)
    end
    return
  end
  if d.nargs >= 1 then check_arg(a, 1, fname) end
  if d.nargs >= 2 then check_arg(b, 2, fname) end
end

return M
