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
--     unsafe = true,                           -- not idempotent (POSTs are)
--   }

local core = require("kadoa.core")
local options = require("kadoa.options")

local M = {}

M.calls = {
  status = { "GET", "/v4/crawl/{session id}/status",
    doc = "how far a crawl got: { payload = { crawledPages, activeJobs, waitingJobs, finished }, ... }" },
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
  return d
end

for name, d in pairs(M.calls) do compile(name, d) end

-- argument check for segments: a wrong type is a programming mistake and
-- raises at the caller of the API method, like Lua's own functions
local function check_arg(v, i, fname)
  if type(v) ~= "string" then
    error(("bad argument #%d to '%s' (string expected, got %s)"):format(i, fname, type(v)), 4)
  end
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

-- prepare(call, opts, fname) -> budget, retries, extra | nil, nil, nil, err
-- The per-invocation part of a call, from its options.
function M.prepare(d, opts, fname)
  local o, err = options.check("call", opts, fname, d.options)
  if not o then return nil, nil, nil, err end
  local extra
  local q = query_of(d, o)
  if q or o.raw then extra = { query = q, raw = o.raw or nil } end
  return o.timeout, o.retries, extra
end

-- args(d, fname, a, b): the segments must be strings (else raises).
function M.args(d, fname, a, b)
  if d.nsegs >= 1 then check_arg(a, 1, fname) end
  if d.nsegs >= 2 then check_arg(b, 2, fname) end
end

return M
