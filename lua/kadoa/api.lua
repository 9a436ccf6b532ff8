-- kadoa.api: the calls of the Kadoa API, one declaration each, from which kadoa.client makes the
-- method, `send` and `many` (Neovim and OpenResty take the same). Adding a call: doc/HACKING.md.
--   "GET", "/v4/crawl/{session id}/status"  method, path: each {segment} percent-encoded by the core
--   query = { page = { "currentPage", "number", ge = 1 } }   call option -> parameter (sent sorted)
--   body = "StartCrawlerSessionRequest"     a JSON body of this schema (kadoa.schema), checked first
--   args = { "sessionId" }                  positional strings that fill the body's fields
--   raw = true                              the answer is bytes, not JSON
--   field = "payload"                       opts.path streams this string field to a file
--   starts = true                           the answer names a session: opts.wait waits for it
--   callback = "callbackUrl"                the body field opts.callback fills (a token added)
--   unsafe = true                           not idempotent (POSTs are)
--   mark = true|false                       once the API said yes, the paused mark set or cleared
-- prepare() makes one invocation's request table (kadoa.api.Request), taken as it is by the engine,
-- the driver (kadoa.request) and every transport.

local core = require("kadoa.core")
local options = require("kadoa.options")
local errors = require("kadoa.errors")

local M = {}

local PAGE = { "currentPage", "number", ge = 0, whole = true, finite = true }
local PAGE_SIZE = { "pageSize", "number", ge = 1, whole = true, finite = true }

M.calls = {
  status = { "GET", "/v4/crawl/{session id}/status", doc = "how far a crawl got" },
  crawl = { "POST", "/v4/crawl/", body = "StartCrawlerSessionRequest", shorthand = "url", starts = true,
    callback = "callbackUrl", doc = "start a crawl; body: the API's fields or a URL" },
  crawl_with_config = { "POST", "/v4/crawl/start", body = "StartSessionWithConfigRequest",
    args = { "configId" }, starts = true, doc = "start a crawl from a saved config" },
  pause = { "POST", "/v4/crawl/pause", body = "PauseCrawlerSessionRequest", args = { "sessionId" },
    mark = true, doc = "pause a crawl" },
  resume = { "POST", "/v4/crawl/resume", body = "ResumeCrawlerSessionRequest", args = { "sessionId" },
    mark = false, doc = "resume a paused crawl" },
  pages = { "GET", "/v4/crawl/{session id}/pages", query = { page = PAGE, page_size = PAGE_SIZE },
    doc = "one page of the list of crawled pages" },
  page = { "GET", "/v4/crawl/{session id}/pages/{page id}", field = "payload",
    query = { format = { "format", "string", nocontrol = true } }, doc = "one crawled page's content" },
  session_files = { "GET", "/v4/crawl/{session id}/list", doc = "everything stored for a session",
    query = { include_all = { "includeAll", "boolean" } } },
  file = { "GET", "/v4/crawl/bucket/data/{file name}", raw = true, doc = "a stored file's bytes" },
  sessions = { "GET", "/v4/crawl/sessions", query = { page = { "page", "number", ge = 1, whole = true },
      page_size = { "pageSize", "number", ge = 1, le = 100, whole = true },
      user_id = { "userId", "string", nocontrol = true } }, doc = "one page of your crawl sessions" },
  config_create = { "POST", "/v4/crawl/config", body = "CreateCrawlerConfigRequest", doc = "save a config" },
  config = { "GET", "/v4/crawl/config/{config id}", doc = "a saved crawl config" },
  config_delete = { "DELETE", "/v4/crawl/config", body = "DeleteCrawlerConfigRequest",
    args = { "configId" }, doc = "delete a saved crawl config" },
}

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
  d.nargs = d.body and (d.args and #d.args or 1) or d.nsegs
  return d
end

for name, d in pairs(M.calls) do compile(name, d) end

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

-- A start's `wait`: true, or wait's options (a fresh session may answer 404 a while: grace 10 s).
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

-- A start's `callback` URL with a fresh secret (128 bits from the OS) added as kadoa_token, so a
-- receiver can tell Kadoa's unsigned call from anyone else's; and the token.
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

-- The JSON body from the positional argument(s): a table of the API's fields (or, with `shorthand`,
-- a string for that field), or strings for the fields in `args`; cb: the callback URL.
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

-- One invocation as a request table: options checked, the query, the body checked and encoded.
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

-- The positional arguments are strings (a body call's one: a table, or a string with a shorthand);
-- else raises, like Lua's own functions.
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
  if d.nargs >= 1 then errors.check_arg(a, "string", 1, fname, 3) end
  if d.nargs >= 2 then errors.check_arg(b, "string", 2, fname, 3) end
end

return M
