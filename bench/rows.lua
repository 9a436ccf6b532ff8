-- bench/rows.lua: one row of the sequential table, measured in its own
-- process (run by bench/run.lua, pinned to a CPU with taskset).
--
--   lua bench/rows.lua ROW BASE_URL COUNT [CA_FILE]
--
-- Prints the mean microseconds per status call over COUNT calls, after a
-- warm-up that is not counted (connections made, code and caches hot).
-- Every row fetches the same session id and decodes the JSON body, except
-- `decode`, which only decodes a status body (no network) and prints the
-- microseconds per decode, and `raw`, which leaves the body undecoded.

local ROW, BASE, COUNT, CA = arg[1], arg[2], tonumber(arg[3]), arg[4]
if CA == "" then CA = nil end
local ID = "3f2a9c4e-1b7d-4e0a-9c1f-2d8e5b6ae91c"
local KEY = "bench-key"
local URL = BASE .. "/v4/crawl/" .. ID .. "/status"
local BODY = '{"payload":{"crawledPages":14,"finished":true,"activeJobs":0,"waitingJobs":0},'
  .. '"sessionId":"' .. ID .. '","error":null}'

local cjson = require("cjson")

-- a monotonic clock: the core's when it is there, else luasocket's
local now
do
  local ok, core = pcall(require, "kadoa.core")
  if ok then now = core.monotime else now = require("socket").gettime end
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Each row: a function returning one call's decoded result.
local rows = {}

function rows.decode()
  local decode = cjson.decode
  return function() return decode(BODY) end
end

function rows.client()
  local kadoa = require("kadoa")
  local c = assert(kadoa.client({ api_key = KEY, base_url = BASE, ca_file = CA }))
  return function() return c:status(ID) end
end

-- diagnostics: the C transport's fetch of the status route with the body
-- as it came (extra.raw: no decoding), and that body decoded by
-- cjson.decode in Lua, as a minimal binding would. Only the public
-- client.transport and kadoa.api's route, required here and not at the
-- top, so the `client` row still runs on a tree from before the engine
-- (bench/run.lua's "before" rows), which has neither.
local function transport()
  local kadoa = require("kadoa")
  local route = require("kadoa.api").calls.status.route
  local t = assert(kadoa.client({ api_key = KEY, base_url = BASE, ca_file = CA })).transport
  return t, route, { raw = true }
end

function rows.raw()
  local t, route, extra = transport()
  return function() return (t:fetch(route, nil, extra, ID)) end
end

function rows.rawdecode()
  local t, route, extra = transport()
  local decode = cjson.decode
  return function() return decode((assert(t:fetch(route, nil, extra, ID)))) end
end

function rows.default()
  local kadoa = require("kadoa")
  -- the environment gives key and URL; a CA file can only come as an option
  local opts = CA and { ca_file = CA } or nil
  return function() return kadoa.status(ID, opts) end
end

function rows.luasocket()
  local ltn12 = require("ltn12")
  local request = BASE:match("^https:") and require("ssl.https").request or require("socket.http").request
  local decode = cjson.decode
  return function()
    local out = {}
    local ok, code = request({ url = URL, headers = { ["x-api-key"] = KEY }, sink = ltn12.sink.table(out),
                               cafile = CA, verify = CA and "peer" or nil, protocol = CA and "any" or nil })
    assert(ok and code == 200, "luasocket: " .. tostring(code))
    return decode(table.concat(out))
  end
end

function rows.luahttp()
  local client = require("http.client")
  local new_headers = require("http.headers").new
  local decode = cjson.decode
  local tls = BASE:match("^https:") ~= nil
  local host, port = BASE:match("^%a+://([^:/]+):(%d+)")
  local ctx
  if tls then
    ctx = require("http.tls").new_client_context()
    local store = require("openssl.x509.store").new()
    store:add(CA)
    ctx:setStore(store)
  end
  local conn = assert(client.connect({ host = host, port = tonumber(port), tls = tls, ctx = ctx,
                                       version = tls and 2 or 1.1 }))
  local path = URL:match("^%a+://[^/]+(/.*)$")
  return function()
    local h = new_headers()
    h:append(":method", "GET")
    h:append(":scheme", tls and "https" or "http")
    h:append(":authority", host .. ":" .. port)
    h:append(":path", path)
    h:append("x-api-key", KEY)
    local stream = assert(conn:new_stream())
    assert(stream:write_headers(h, true))
    local rh = assert(stream:get_headers())
    assert(rh:get(":status") == "200")
    local body = assert(stream:get_body_as_string())
    return decode(body)
  end
end

function rows.popen()
  local decode = cjson.decode
  local cmd = "curl -sS -H 'x-api-key: " .. KEY .. "' "
    .. (CA and ("--http2 --cacert " .. shell_quote(CA) .. " ") or "") .. shell_quote(URL)
  return function()
    local f = assert(io.popen(cmd, "r"))
    local body = f:read("*a")
    f:close()
    return decode(body)
  end
end

local make = rows[ROW] or error("unknown row " .. tostring(ROW))
local call = make()
local warm = math.max(5, math.floor(COUNT / 10))
for _ = 1, warm do
  local r = call()
  assert((type(r) == "table" and r.sessionId == ID) or (type(r) == "string" and r:find(ID, 1, true)),
    ROW .. ": bad result")
end
collectgarbage()
local t0 = now()
for _ = 1, COUNT do
  if not call() then error(ROW .. ": a call failed") end
end
io.write(string.format("%.3f\n", (now() - t0) * 1e6 / COUNT))
