-- kadoa.api: the calls of the Kadoa API, each one declaration.
--
-- A declaration says what the call sends: its method and path (segments
-- in braces are percent-encoded by the C core, one segment each), the
-- call options that become query parameters, and whether it is safe to
-- repeat. From it kadoa.client makes the blocking method
-- (`client:status(id [, opts])`), and `client:send(name, ...)` the
-- non-blocking request; status_many, Neovim and OpenResty take the same
-- declarations. Adding a GET or POST of the API is adding an entry here
-- (and its tests): see doc/HACKING.md.
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
--     unsafe = true,                           -- not idempotent (POSTs are)
--   }

local core = require("kadoa.core")
local options = require("kadoa.options")
local errors = require("kadoa.errors")

local M = {}

local PAGE = { "currentPage", "number", ge = 0, whole = true, finite = true }
local PAGE_SIZE = { "pageSize", "number", ge = 1, whole = true, finite = true }

M.calls = {
  status = { "GET", "/v4/crawl/{session id}/status",
    doc = "how far a crawl got: { payload = { crawledPages, activeJobs, waitingJobs, finished }, ... }" },
  crawl = { "POST", "/v4/crawl/", body = "StartCrawlerSessionRequest", shorthand = "url",
    doc = "start a crawl; body: the API's fields (url or startUrls, maxPages, ...) or a URL" },
  crawl_with_config = { "POST", "/v4/crawl/start", body = "StartSessionWithConfigRequest",
    args = { "configId" }, doc = "start a crawl from a saved config" },
  pause = { "POST", "/v4/crawl/pause", body = "PauseCrawlerSessionRequest", args = { "sessionId" },
    doc = "pause a crawl" },
  resume = { "POST", "/v4/crawl/resume", body = "ResumeCrawlerSessionRequest", args = { "sessionId" },
    doc = "resume a paused crawl" },
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
  for opt, q in pairs(d.query or {}) do
    local decl = { q[2] }
    for k, v in pairs(q) do if type(k) == "string" then decl[k] = v end end
    d.options[opt] = decl
  end
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

-- The query array the core encodes: name, value, ... in a fixed order.
local function query_of(d, o)
  local q
  for opt, spec in pairs(d.query or {}) do
    local v = o[opt]
    if v ~= nil then
      q = q or {}
      if type(v) == "number" and v == math.floor(v) then v = string.format("%d", v) end
      q[#q + 1] = spec[1]
      q[#q + 1] = tostring(v)
    end
  end
  return q
end

local function usage(fname, msg)
  return nil, nil, nil, errors.new("usage", fname .. ": " .. msg)
end

-- The JSON body of a body call, from its positional argument(s): a table
-- of the API's fields (or, with `shorthand`, a string for that field), or
-- strings naming the fields in `args`.
local function body_of(d, fname, o, a, b)
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
  return require("kadoa.body").check(d.body, fields, fname, o.extra)
end

-- prepare(call, opts, fname, a, b) -> budget, retries, extra | nil, nil, nil, err
-- The per-invocation part of a call: its options checked, its query, its
-- body checked against the contract and encoded. a, b: the positional
-- arguments (for a body call, what becomes the body).
---@param d table a compiled declaration of M.calls
---@param opts table|nil the call's options
---@param fname string the call's name, for messages
---@param a any first positional argument (a segment, or the body)
---@param b any second positional argument
---@return number|nil budget seconds (nil: the client's timeout)
---@return integer|nil retries (nil: the client's)
---@return kadoa.core.Extra|nil extra for the transport
---@return kadoa.Error|nil err a usage error
function M.prepare(d, opts, fname, a, b)
  local o, err = options.check("call", opts, fname, d.options)
  if not o then return nil, nil, nil, err end
  local extra
  local q = query_of(d, o)
  if q or o.raw or d.raw then extra = { query = q, raw = o.raw or d.raw or nil } end
  if d.body then
    local text, berr = body_of(d, fname, o, a, b)
    if not text then
      if type(berr) == "string" then return usage(fname, berr) end
      return nil, nil, nil, berr
    end
    extra = extra or {}
    extra.body = text
  end
  if o.path then
    extra = extra or {}
    extra.file, extra.field = o.path, d.field
  end
  return o.timeout, o.retries, extra
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
