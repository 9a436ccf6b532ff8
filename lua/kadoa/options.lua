-- kadoa.options: every option of the library, declared once (type, range, default, meaning), and
-- the groups saying which function takes which, so a rule and its message are the same everywhere.
-- check never raises: bad options are the caller's usage error (nil, err).

local errors = require("kadoa.errors")

local M = {}

local huge = math.huge
local unpack = table.unpack or unpack   -- 5.1, LuaJIT: the global

-- name -> { type, [range checks], default, doc }
local D = {}
M.declarations = D

local function declare(name, spec) D[name] = spec; spec.name = name end

-- the client and its calls
declare("api_key", { "string", nocontrol = true, doc = "sent as x-api-key (default $KADOA_API_KEY)" })
declare("base_url", { "string", doc = "default $KADOA_BASE_URL, else https://api.kadoa.com" })
declare("timeout", { "number", gt = 0, finite = true, default = 30, doc = "seconds a call may take" })
declare("connect_timeout", { "number", gt = 0, finite = true, default = 10, doc = "seconds to connect" })
declare("max_body", { "number", ge = 1, le = 2 ^ 40, whole = true, default = 8 * 1024 * 1024,
  doc = "bytes; a larger answer is abandoned" })
declare("ca_file", { "string", nonul = true, doc = "PEM bundle to verify the server with" })
declare("user_agent", { "string", nocontrol = true, doc = "appended to kadoa-lua/<version>" })
declare("allow_insecure", { "boolean", default = false, doc = "plain http:// to a host not loopback" })
declare("retries", { "number", ge = 0, le = 100, whole = true, default = 2, doc = "extra attempts" })
declare("retry_base", { "number", gt = 0, finite = true, default = 0.25, doc = "first backoff window (s)" })
declare("retry_cap", { "number", gt = 0, finite = true, default = 8, doc = "largest backoff window (s)" })
declare("max_retry_wait", { "number", ge = 0, finite = true, default = 30, doc = "longest wait for a retry" })
declare("clock", { "function", doc = "() -> seconds on a monotonic clock" })
declare("sleep", { "function", doc = "(seconds) -> false to stop waiting" })
declare("random", { "function", doc = "() -> a number in [0, 1) for jitter" })
declare("raw", { "boolean", default = false, doc = "the answer's body as sent, not decoded" })
declare("callback", { "string", nocontrol = true, doc = "a start: the URL Kadoa calls when it is over" })

-- status_many and other many-at-once runs
declare("concurrency", { "number", ge = 1, whole = true, finite = true, default = 16, doc = "in flight" })
declare("on_result", { "function", doc = "(key, res, err) as each outcome lands" })

-- wait
declare("wait_timeout", { "number", ge = 0, default = 3600, key = "timeout", doc = "seconds to wait" })
declare("interval", { "number", gt = 0, finite = true, default = 2, doc = "first and shortest pause" })
declare("factor", { "number", ge = 1, finite = true, default = 1.5, doc = "the pause's growth" })
declare("max_interval", { "number", gt = 0, finite = true, default = 30, doc = "longest pause" })
declare("jitter", { "number", ge = 0, lt = 1, default = 0.1, doc = "random fraction of each pause" })
declare("max_failures", { "number", ge = 1, whole = true, default = 5, doc = "failures in a row" })
declare("grace", { "number", ge = 0, finite = true, default = 0, doc = "seconds a 404 is asked again" })
declare("done", { "function", doc = "(res) -> true when the crawl is over" })
declare("on_update", { "function", doc = "(res, info) after every successful poll" })
declare("on_error", { "function", doc = "(err, info) after every failed poll that is retried" })

-- fleet (kadoa.fleet: every crawl at once)
declare("min_interval", { "number", gt = 0, finite = true, default = 1, doc = "shortest refresh time" })
declare("fleet_page_size", { "number", ge = 1, le = 100, whole = true, default = 100, key = "page_size",
  doc = "sessions per listing page" })
declare("wall_clock", { "function", doc = "() -> seconds since the epoch" })

-- hosts
declare("notify", { "boolean", default = true, doc = "Neovim: watches report with vim.notify" })
declare("pool_size", { "number", ge = 1, whole = true, finite = true, default = 30, doc = "keepalive pool" })
declare("keepalive_timeout", { "number", gt = 0, finite = true, default = 60, doc = "idle seconds" })
declare("callback_dict", { "string", default = "kadoa_callbacks", doc = "the tokens' lua_shared_dict" })

-- kadoa.resty.callback's receiver
declare("receiver_dict", { "string", key = "dict", default = D.callback_dict.default, doc = "callback_dict" })
declare("on_finished", { "function", doc = "(status) once per crawl confirmed over" })
declare("confirm", { "number", ge = 0, finite = true, default = 60, doc = "seconds the status is asked" })
declare("callback_max_body", { "number", ge = 0, le = 1024 * 1024, whole = true, default = 16 * 1024,
  key = "max_body", doc = "bytes of a callback's body read at most" })
declare("client", { "table", doc = "client options for the confirming status calls" })

-- The option tables as editors see them: one class per group, the same as the declarations above.

---kadoa.client(opts), kadoa.status(id, opts).
---@class kadoa.ClientOptions
---@field api_key? string sent as x-api-key; default $KADOA_API_KEY; never printed, logged or put in an error
---@field base_url? string default $KADOA_BASE_URL, else https://api.kadoa.com; http:// only to loopback
---@field timeout? number seconds one call may take, its retries included (> 0; default 30)
---@field connect_timeout? number seconds to connect (> 0; default 10)
---@field max_body? integer bytes; a larger answer is abandoned (1..2^40; default 8 MiB)
---@field ca_file? string PEM bundle to verify the server with (default: the system's store)
---@field user_agent? string appended to kadoa-lua/<version>
---@field allow_insecure? boolean allow plain http:// to a host that is not loopback (default false)
---@field retries? integer extra attempts on failures that may pass (0..100; default 2)
---@field retry_base? number seconds: the first backoff window (> 0; default 0.25)
---@field retry_cap? number seconds: the largest backoff window (> 0; default 8)
---@field max_retry_wait? number seconds: the longest single wait before a retry (>= 0; default 30)
---@field clock? fun(): number seconds on a monotonic clock (default: the C core's)
---@field sleep? fun(seconds: number): boolean? false to stop waiting (default: the C core's)
---@field random? fun(): number a number in [0, 1) for jitter (default: the client's own generator)

---One call's options (client:status(id, opts), ...): unset, timeout and retries are the client's.
---@class kadoa.CallOptions
---@field timeout? number seconds this call may take, its retries included (> 0)
---@field retries? integer extra attempts (0..100)
---@field raw? boolean the answer's body as the API sent it, not decoded (default false)

---status_many(ids, opts).
---@class kadoa.ManyOptions: kadoa.CallOptions
---@field concurrency? integer at most this many requests in flight (>= 1; default 16)
---@field on_result? fun(id: string, res: kadoa.StatusResult|string|nil, err: kadoa.Error|nil) as each lands

---wait(id, opts), crawl's { wait = opts }.
---@class kadoa.WaitOptions
---@field timeout? number seconds to wait for the crawl; 0 polls once (>= 0; default 3600)
---@field interval? number seconds: the first and shortest pause between polls (> 0; default 2)
---@field factor? number the pause grows by this while nothing changes (>= 1; default 1.5)
---@field max_interval? number seconds: the longest pause between polls (> 0; default 30)
---@field jitter? number fraction of each pause that is random ([0, 1); default 0.1)
---@field max_failures? integer transient failures in a row that end the wait (>= 1; default 5)
---@field grace? number seconds during which a 404 (session not there yet) is asked again (default 0)
---@field random? fun(): number
---@field sleep? fun(seconds: number): boolean?
---@field clock? fun(): number
---@field done? fun(res: kadoa.StatusResult): boolean the crawl is over (default: payload.finished)
---@field on_update? fun(res: kadoa.StatusResult, info: table) after every successful poll
---@field on_error? fun(err: kadoa.Error, info: table) after every failed poll that is retried

---require("kadoa.fleet").new(client, opts): how often the model refreshes.
---@class kadoa.FleetOptions
---@field concurrency? integer status requests in flight during a refresh (>= 1; default 16)
---@field interval? number seconds between refreshes while crawls move; the first (> 0; default 2)
---@field factor? number that time grows by this while nothing moves or after a failure (>= 1; default 1.5)
---@field max_interval? number seconds: the longest time between refreshes (> 0; default 30)
---@field min_interval? number seconds: the shortest time between two refreshes, always (> 0; default 1)
---@field page_size? integer sessions per listing page (1..100; default 100, the fewest requests)
---@field clock? fun(): number seconds on a monotonic clock (default: the client's settings.clock)
---@field wall_clock? fun(): number seconds since the epoch, to age a crawl from createdAt (default: os.time)

---require("kadoa.nvim").setup(opts).
---@class kadoa.nvim.Options
---@field client? kadoa.ClientOptions for the editor's client
---@field wait? kadoa.WaitOptions for watches
---@field top? kadoa.nvim.TopOptions for :KadoaTop
---@field notify? boolean watches report with vim.notify (default true)

---require("kadoa.resty").client(opts): the client's options but ca_file.
---@class kadoa.resty.Options: kadoa.ClientOptions
---@field pool_size? integer idle keepalive connections kept per worker and server (>= 1; default 30)
---@field keepalive_timeout? number seconds an idle connection is kept (> 0; default 60)
---@field callback_dict? string the lua_shared_dict keeping start tokens (default "kadoa_callbacks")

-- Groups: which options a function takes (option name -> declaration). Names in `inherit` get no
-- default: unset, they fall back to the client's setting.
local INHERIT = {}
local function group(names, inherit)
  local g = {}
  for _, n in ipairs(names) do
    local d = assert(D[n], n)
    g[d.key or n] = d
  end
  INHERIT[g] = inherit or {}
  return g
end

local CLIENT = { "api_key", "base_url", "timeout", "connect_timeout", "max_body", "ca_file",
  "user_agent", "allow_insecure", "retries", "retry_base", "retry_cap", "max_retry_wait",
  "clock", "sleep", "random" }
local INHERITED = { timeout = true, retries = true }

M.groups = {
  client = group(CLIENT),
  call = group({ "timeout", "retries", "raw" }, INHERITED),
  many = group({ "timeout", "retries", "raw", "concurrency", "on_result" }, INHERITED),
  wait = group({ "wait_timeout", "interval", "factor", "max_interval", "jitter", "max_failures",
    "grace", "random", "sleep", "clock", "done", "on_update", "on_error" }),
  fleet = group({ "concurrency", "interval", "max_interval", "min_interval", "factor", "clock",
    "fleet_page_size", "wall_clock" }),
  nvim = group({ "notify" }),
  resty = group({ "pool_size", "keepalive_timeout", "callback_dict", unpack(CLIENT) }),
  callback = group({ "receiver_dict", "on_finished", "confirm", "callback_max_body", "client" }),
}
M.groups.resty.ca_file = nil   -- nginx's lua_ssl_trusted_certificate decides trust

local function num(n)
  if n == math.floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then return string.format("%d", n) end
  return string.format("%.14g", n)
end

-- What is wrong with value v for declaration d, or nil.
local function problem(d, v)
  local want = d[1]
  if type(v) ~= want then return ("must be a %s, got %s"):format(want, type(v)) end
  if want == "number" then
    if v ~= v then return "must be a number, got NaN" end
    if d.finite and (v == huge or v == -huge) then return "must be finite, got " .. num(v) end
    if d.gt and v <= d.gt then return ("must be greater than %s, got %s"):format(num(d.gt), num(v)) end
    if d.ge and v < d.ge then return ("must be at least %s, got %s"):format(num(d.ge), num(v)) end
    if d.lt and v >= d.lt then return ("must be less than %s, got %s"):format(num(d.lt), num(v)) end
    if d.le and v > d.le then return ("must be at most %s, got %s"):format(num(d.le), num(v)) end
    if d.whole and v ~= huge and v ~= math.floor(v) then
      return "must be a whole number, got " .. num(v)
    end
  elseif want == "string" then
    if d.nonul and v:find("\0", 1, true) then return "must not contain NUL bytes" end
    if d.nocontrol and v:find("%c") then return "must not contain control characters" end
  end
end

-- The Damerau-Levenshtein distance between two short strings.
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end

-- The known name a typo most likely meant: the same in another case, else the nearest within two
-- edits (a third of long names). The cost is the product of the lengths: over 100 bytes, no hint.
---@param name any
---@param known table<string, any> the known names (keys)
---@return string|nil
function M.closest(name, known)
  if type(name) ~= "string" or #name > 100 then return nil end
  local lower = name:lower()
  local best, best_d
  for k in pairs(known) do
    if type(k) == "string" then
      if k:lower() == lower then return k end
      local dist = distance(lower, k:lower())
      if dist <= math.max(2, math.floor(#k / 3)) and (not best_d or dist < best_d or
          (dist == best_d and k < best)) then
        best, best_d = k, dist
      end
    end
  end
  return best
end

local function usage(fname, fmt, ...)
  return nil, errors.new("usage", (fname and (fname .. ": ") or "") .. fmt:format(...))
end

-- extra: name -> declaration, or a type string for plain values such as a call's page number
---@param gname "client"|"call"|"many"|"wait"|"fleet"|"nvim"|"resty"|"callback"
---@param opts table|nil
---@param fname string|nil the function's name, for messages
---@param extra? table<string, table|string> further names this function takes
---@return table|nil options with defaults
---@return kadoa.Error|nil err a usage error
function M.check(gname, opts, fname, extra)
  local g = M.groups[gname] or error("no option group " .. tostring(gname))
  if opts ~= nil and type(opts) ~= "table" then
    return usage(fname, "options must be a table, got %s", type(opts))
  end
  local out = {}
  for k, v in pairs(opts or {}) do
    local d = g[k] or (extra and extra[k])
    if not d then
      if type(k) ~= "string" then return usage(fname, "unknown option of type %s", type(k)) end
      local known = {}
      for n in pairs(g) do known[n] = true end
      for n in pairs(extra or {}) do known[n] = true end
      local near = M.closest(k, known)
      return usage(fname, "unknown option '%s'%s", k, near and (" (did you mean '" .. near .. "'?)") or "")
    end
    if type(d) == "string" then d = { d } end
    local msg = problem(d, v)
    if msg then return usage(fname, "option '%s' %s", k, msg) end
    out[k] = v
  end
  local inherit = INHERIT[g]
  for k, d in pairs(g) do
    if out[k] == nil and d.default ~= nil and not inherit[k] then out[k] = d.default end
  end
  return out
end

---@param gname "client"|"call"|"many"|"wait"|"fleet"|"nvim"|"resty"|"callback"
---@return table
function M.defaults(gname)
  local t = {}
  for k, d in pairs(M.groups[gname]) do t[k] = d.default end
  return t
end

-- A deep copy of base with over's values on top, tables merged key by key (Neovim's setup).
---@param base table|nil
---@param over table|nil
---@return table
function M.merge(base, over)
  local t = {}
  for k, v in pairs(base or {}) do t[k] = v end
  for k, v in pairs(over or {}) do
    if type(v) == "table" and type(t[k]) == "table" and getmetatable(v) == nil then
      t[k] = M.merge(t[k], v)
    else
      t[k] = v
    end
  end
  return t
end

return M
