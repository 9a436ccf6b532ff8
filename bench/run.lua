-- bench/run.lua: `make bench`. Starts nginx on loopback (plain HTTP, and
-- HTTPS with HTTP/2 on a certificate made for this run), measures every
-- row of the four tables in interleaved rounds, prints them, and writes
-- them into bench/RESULTS.md (between its bench:tables markers) and the
-- chart bench/results.png.
--
--   lua5.4 bench/run.lua          (from the repository root, after make build)
--   BENCH_ROUNDS=3 make bench     fewer rounds, for a quick look
--
-- Table 4 (client:export) runs against the project's mock server
-- (spec/mock/server.py, started by spec/helpers/mock.lua), which makes a
-- crawl of any size from its start URL.
--
-- Each measurement runs in its own process (bench/rows.lua, bench/many.lua,
-- bench/export.lua, bench/requests_row.py, bench/out/floor) so no row inherits another's
-- heap, and all rows of a table are measured round by round, in the same
-- order every round, so a slow moment of the machine hits every row alike.
-- Table 1 pins the server and every client to CPU 0.

local socket = require("socket")

local OUT = "bench/out"
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "") or 5
local SCALE_ROUNDS = 3
local MANY_IDS = 1000
local PYTHON = "/usr/bin/python3"   -- Debian's, where python3-requests lives
local BEFORE = OUT .. "/before"      -- the baseline tree (make bench-before)
local BASELINE = os.getenv("BENCH_BASELINE") or "e818612"
local T_START = socket.gettime()

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function log(fmt, ...) io.stderr:write(string.format(fmt, ...), "\n") end

-- Run a shell command; its stdout, and whether it exited 0.
local function sh(cmd)
  local f = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = f:read("*a")
  local a, _, c = f:close()
  local ok = (a == true) or (a == 0) or (c == 0)
  return out, ok
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local files = require("spec.helpers.subprocess")   -- one read and write for the tree
local read_file, write_file = files.read, files.write

---------------------------------------------------------------------------
-- The server

local server = {}

function server.start()
  sh("mkdir -p " .. OUT .. "/tmp")
  local out = sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
    .. "-keyout %s/key.pem -out %s/cert.pem -days 2 -subj /CN=127.0.0.1 "
    .. "-addext subjectAltName=IP:127.0.0.1,DNS:localhost"):format(OUT, OUT))
  assert(read_file(OUT .. "/cert.pem"), "openssl could not make a certificate: " .. out)
  local abs = sh("cd " .. OUT .. " && pwd"):gsub("%s+$", "")
  server.http, server.https = free_port(), free_port()
  local conf = assert(read_file("bench/nginx.conf.in"))
    :gsub("@OUT@", abs):gsub("@HTTP@", server.http):gsub("@HTTPS@", server.https)
  write_file(OUT .. "/nginx.conf", conf)
  local pid = sh(("taskset -c 0 nginx -e %s/nginx-error.log -p %s/ -c %s/nginx.conf"
    .. " >%s/nginx.out 2>&1 & echo $!"):format(abs, abs, abs, abs)):match("(%d+)")
  server.pid = assert(tonumber(pid), "could not start nginx")
  for _ = 1, 100 do
    local c1, c2 = socket.connect("127.0.0.1", server.http), socket.connect("127.0.0.1", server.https)
    if c1 then c1:close() end
    if c2 then c2:close() end
    if c1 and c2 then
      server.base = "http://127.0.0.1:" .. server.http
      server.tls_base = "https://127.0.0.1:" .. server.https
      server.ca = abs .. "/cert.pem"
      return
    end
    socket.sleep(0.05)
  end
  error("nginx did not come up: " .. (read_file(OUT .. "/nginx.out") or "")
    .. (read_file(OUT .. "/nginx-error.log") or ""))
end

function server.stop()
  if server.pid then
    os.execute(("kill %d 2>/dev/null; i=0; while kill -0 %d 2>/dev/null && [ $i -lt 50 ];"
      .. " do sleep 0.1; i=$((i+1)); done"):format(server.pid, server.pid))
    server.pid = nil
  end
end

-- Connections nginx has accepted so far (this query's own included).
function server.accepts()
  local c = assert(socket.connect("127.0.0.1", server.http))
  c:send("GET /nginx_status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
  local s = c:receive("*a")
  c:close()
  return tonumber(s:match("accepts handled requests%s+(%d+)"))
end

---------------------------------------------------------------------------
-- Running a measurement

-- tree: nil for this tree, or a folder holding lua/ and build/ (the
-- baseline of the "before" rows, made by `make bench-before`)
local function lua_cmd(lua, script, args, env, tree)
  local root = tree and (tree .. "/") or ""
  local e = { "LUA_PATH=" .. q(root .. "lua/?.lua;" .. root .. "lua/?/init.lua;;"),
              "LUA_CPATH=" .. q(root .. "build/" .. lua .. "/?.so;;") }
  for k, v in pairs(env or {}) do e[#e + 1] = k .. "=" .. q(v) end
  return "env " .. table.concat(e, " ") .. " " .. lua .. " " .. script .. " " .. args
end

-- Run cmd and read its numbers; nil and the output when it failed.
local function measure(cmd)
  local out, ok = sh(cmd)
  local nums = {}
  for n in out:gmatch("[%d%.]+") do nums[#nums + 1] = tonumber(n) end
  if not ok or #nums == 0 then return nil, out end
  return nums
end

---------------------------------------------------------------------------
-- Table 1: sequential status calls on one connection, pinned to CPU 0

local PROTOS = {
  { key = "http", title = "plain HTTP/1.1" },
  { key = "https", title = "HTTPS with HTTP/2" },
}

-- count: calls per measurement, per protocol
local T1 = {
  -- the floor sends the same GET as the client: the same URL and headers
  { key = "floor", label = "floor: C, one reused libcurl handle, the same request", count = { 4000, 3000 } },
  { key = "dec54", lua = "lua5.4", row = "decode", count = { 100000, 100000 }, hidden = true },
  { key = "decjit", lua = "luajit", row = "decode", count = { 100000, 100000 }, hidden = true },
  { key = "client54", label = "client:status, Lua 5.4", lua = "lua5.4", row = "client",
    count = { 4000, 3000 } },
  { key = "clientjit", label = "client:status, LuaJIT", lua = "luajit", row = "client",
    count = { 4000, 3000 } },
  -- the same row on the tree before the request engine (bench/bench.mk's
  -- bench-before): the issue's "no slower than before", in the same run
  { key = "before54", label = "client:status before the engine change, Lua 5.4", lua = "lua5.4",
    row = "client", tree = BEFORE, new = "client54", count = { 4000, 3000 } },
  { key = "beforejit", label = "client:status before the engine change, LuaJIT", lua = "luajit",
    row = "client", tree = BEFORE, new = "clientjit", count = { 4000, 3000 } },
  { key = "fbare", label = "diagnostic: floor with only the x-api-key header (C)", count = { 4000, 3000 } },
  { key = "raw", label = "diagnostic: core fetch, body undecoded, Lua 5.4", lua = "lua5.4", row = "raw",
    count = { 4000, 3000 } },
  { key = "rawdec", label = "diagnostic: core fetch + cjson.decode in Lua 5.4", lua = "lua5.4",
    row = "rawdecode", count = { 4000, 3000 } },
  { key = "default", label = "kadoa.status (default client), Lua 5.4", lua = "lua5.4", row = "default",
    count = { 4000, 3000 } },
  { key = "luahttp", label = "lua-http, one reused connection, LuaJIT", lua = "luajit", row = "luahttp",
    count = { 2000, 1000 } },
  { key = "luasocket", label = "luasocket socket.http + cjson, Lua 5.4", lua = "lua5.4", row = "luasocket",
    count = { 1000, 10 } },
  { key = "requests", label = "Python requests.Session + .json()", count = { 400, 300 } },
  { key = "popen", label = "io.popen(\"curl ...\") + cjson, Lua 5.4", lua = "lua5.4", row = "popen",
    count = { 40, 30 } },
}

local T1_NOTES = {
  https = {
    luasocket = "ssl.https (LuaSec): HTTP/1.1, a new TCP+TLS connection per call",
    requests = "HTTP/1.1 over TLS (requests has no HTTP/2), kept alive",
    popen = "curl --http2: a new process, connection and TLS handshake per call",
    default = "with { ca_file = ... } as options on every call",
  },
  http = {
    luasocket = "a new connection per call (socket.http does not keep alive)",
    popen = "a new process and connection per call",
  },
}

local function t1_cmd(r, p, base, ca)
  local n = r.count[p]
  if r.key == "floor" or r.key == "fbare" then
    local url = base .. "/v4/crawl/3f2a9c4e-1b7d-4e0a-9c1f-2d8e5b6ae91c/status"
    return ("taskset -c 0 %s/floor %s %d %s %s"):format(OUT, q(url), n, q(ca or ""),
      r.key == "floor" and "headers" or "")
  elseif r.key == "requests" then
    return ("taskset -c 0 %s bench/requests_row.py %s %d %s"):format(PYTHON, q(base), n, ca and q(ca) or "")
  end
  return "taskset -c 0 " .. lua_cmd(r.lua, "bench/rows.lua", ("%s %s %d %s"):format(r.row, q(base), n,
    ca and q(ca) or ""), { KADOA_API_KEY = "bench-key", KADOA_BASE_URL = base }, r.tree)
end

-- The baseline as the table names it: the commit make bench-before built.
local function before_label()
  local rev = (read_file(BEFORE .. "/COMMIT") or ""):match("%x+")
  return rev and rev:sub(1, 7) or BASELINE
end

-- Why the baseline tree cannot be used (its UNAVAILABLE note, or nothing
-- built), or nil when it can.
local function before_missing()
  local why = read_file(BEFORE .. "/UNAVAILABLE")
  if why then return (why:gsub("%s+$", "")) end
  for _, lua in ipairs({ "lua5.4", "luajit" }) do
    if not read_file(BEFORE .. "/build/" .. lua .. "/kadoa/core.so") then
      return "no baseline build in " .. BEFORE .. " (run make bench-before)"
    end
  end
end

local function table1()
  local res, missing = {}, {}
  local why = before_missing()
  if why then
    -- left out, not failed: a clone without history still benches
    missing.before = why
    for _, r in ipairs(T1) do
      if r.tree then missing[r.key] = why end
    end
    log("table 1: the before rows are left out: %s", why)
  end
  for p, proto in ipairs(PROTOS) do
    local base = p == 1 and server.base or server.tls_base
    local ca = p == 2 and server.ca or nil
    res[proto.key] = {}
    for _, r in ipairs(T1) do res[proto.key][r.key] = {} end
    for round = 1, ROUNDS do
      log("table 1, %s: round %d of %d", proto.title, round, ROUNDS)
      for _, r in ipairs(T1) do
        if not missing[r.key] then
          local nums, out = measure(t1_cmd(r, p, base, ca))
          if nums then
            table.insert(res[proto.key][r.key], nums[1])
          else
            missing[r.key] = (out or ""):gsub("%s+$", ""):sub(-300)
            log("  %s: left out: %s", r.key, missing[r.key])
          end
        end
      end
    end
  end
  return res, missing
end

---------------------------------------------------------------------------
-- Table 2: 1,000 ids against a 20 ms endpoint

local T2 = {
  { key = "seq", label = "client:status in a loop", mode = "seq", split = true },
  { key = "c1", label = "status_many, concurrency 1", mode = "many", conc = 1, split = true },
  { key = "c8", label = "status_many, concurrency 8", mode = "many", conc = 8 },
  { key = "c32", label = "status_many, concurrency 32", mode = "many", conc = 32 },
  { key = "c100", label = "status_many, concurrency 100", mode = "many", conc = 100 },
  { key = "luasocket", label = "luasocket socket.http + cjson in a loop", mode = "luasocket", split = true,
    http_only = true },
}

local function table2()
  local res = {}
  local first = 1
  for _, proto in ipairs(PROTOS) do
    res[proto.key] = {}
    for _, r in ipairs(T2) do res[proto.key][r.key] = { times = {}, conns = 0, failures = 0 } end
  end
  for round = 1, ROUNDS do
    for p, proto in ipairs(PROTOS) do
      log("table 2, %s: round %d of %d", proto.title, round, ROUNDS)
      local base = (p == 1 and server.base or server.tls_base) .. "/slow"
      local ca = p == 2 and server.ca or ""
      for _, r in ipairs(T2) do
        if not (r.http_only and p == 2) then
          -- a loop's 1,000 ids are spread over the rounds (each round a
          -- share), so it costs one pass in all; the others do all 1,000
          -- every round
          local n = MANY_IDS
          if r.split then
            n = math.floor(MANY_IDS / ROUNDS)
            if round == ROUNDS then n = MANY_IDS - n * (ROUNDS - 1) end
          end
          local cmd
          if r.mode == "luasocket" then
            cmd = lua_cmd("lua5.4", "bench/many.lua", ("luasocket %s %d %d"):format(q(base), n, first))
          else
            cmd = lua_cmd("lua5.4", "bench/many.lua", ("%s %s %d %d %s %s"):format(r.mode, q(base), n, first,
              q(ca), r.conc or ""))
          end
          first = first + n
          local a = server.accepts()
          local nums, out = measure(cmd)
          local b = server.accepts()
          if not nums then error("table 2, " .. r.key .. ": " .. tostring(out)) end
          local cell = res[proto.key][r.key]
          table.insert(cell.times, nums[1])
          cell.failures = cell.failures + nums[2]
          cell.conns = math.max(cell.conns, b - a - 1)
        end
      end
    end
  end
  return res
end

---------------------------------------------------------------------------
-- Table 3: scale

local SIZES = { 10, 100, 1000, 10000 }

local function table3()
  local res = {}
  local first = 1
  for _, n in ipairs(SIZES) do res[n] = { t = {}, peak = {}, results = {}, failures = 0 } end
  for round = 1, SCALE_ROUNDS do
    log("table 3: round %d of %d", round, SCALE_ROUNDS)
    for _, n in ipairs(SIZES) do
      local args = ("scale %s %d %d"):format(q(server.base), n, first)
      local nums, out = measure(lua_cmd("lua5.4", "bench/many.lua", args))
      if not nums then error("table 3: " .. tostring(out)) end
      first = first + n
      local c = res[n]
      table.insert(c.t, nums[1])
      c.failures = c.failures + nums[2]
      table.insert(c.peak, nums[3])
      table.insert(c.results, nums[4])
    end
  end
  return res
end

---------------------------------------------------------------------------
-- Table 4: client:export against the mock server (spec/mock/server.py)

-- The mock makes the crawl from its start URL's host labels: 1,000 pages,
-- all done at once, each answered 20 ms late (bench/export.lua).
local EXPORT = { pages = 1000, conc = 32, latency = 20, rounds = math.min(ROUNDS, 3) }
local T4 = {
  { key = "10k", label = "10 KiB", bytes = 10240 },
  { key = "1m", label = "1 MiB", bytes = 1048576 },
}

-- CPU seconds the process pid has used (user + system), from /proc.
local function cpu_seconds(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  if not s then return nil end
  local rest = s:match("%) (.*)$")
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  -- after the command: state is field 3, utime 14, stime 15 (man 5 proc)
  local tck = tonumber(sh("getconf CLK_TCK"):match("%d+")) or 100
  return (tonumber(f[12]) + tonumber(f[13])) / tck
end

-- The mock's own time for one page of `bytes` without added latency: a
-- plain curl of it, the median of 5. It shows what the mock costs per
-- page before any client is involved.
local function curl_page(base, bytes)
  local start = ("https://pages-10.seconds-0.bytes-%d.example.com/"):format(bytes)
  local out = sh(("curl -sS -H 'x-api-key: bench-key' -H 'content-type: application/json' -d %s %s")
    :format(q('{"url":"' .. start .. '"}'), q(base .. "/v4/crawl/")))
  local id = out:match('"sessionId"%s*:%s*"([^"]+)"')
  if not id then return nil end
  local t = {}
  for i = 1, 5 do
    local o = sh(("curl -sS -o /dev/null -w '%%{time_total} %%{size_download}' -H 'x-api-key: bench-key' %s")
      :format(q(("%s/v4/crawl/%s/pages/p%04d?format=md"):format(base, id, i))))
    t[#t + 1] = tonumber(o:match("^([%d.]+)"))
  end
  return median(t)
end

local function table4()
  local mock = require("spec.helpers.mock")
  local srv = mock.start({ key = "bench-key" })
  local ok, res = pcall(function()
    local res = { curl = {} }
    for _, r in ipairs(T4) do
      res[r.key] = { t = {}, peak = {}, growth = {}, bytes = 0, written = 0, failures = 0, reset = true,
                     mock = {} }
    end
    local dir = OUT .. "/export"
    for round = 1, EXPORT.rounds do
      log("table 4: round %d of %d", round, EXPORT.rounds)
      for _, r in ipairs(T4) do
        sh("rm -rf " .. q(dir) .. " " .. q(dir .. ".errors"))
        local c0 = cpu_seconds(srv.pid)
        local nums, out = measure(lua_cmd("lua5.4", "bench/export.lua", ("%s %d %d %d %d %s"):format(
          q(srv.url), EXPORT.pages, r.bytes, EXPORT.latency, EXPORT.conc, q(dir))))
        local c1 = cpu_seconds(srv.pid)
        sh("rm -rf " .. q(dir))   -- up to 1 GB: not left on the disk
        local errs = read_file(dir .. ".errors")
        if errs then
          res[r.key].errors = res[r.key].errors or errs:gsub("%s+$", ""):gsub("\n", "; ")
          os.remove(dir .. ".errors")
        end
        if not nums then error("table 4, " .. r.key .. ": " .. tostring(out) .. "\n" .. srv:log_tail()) end
        local c = res[r.key]
        table.insert(c.t, nums[1])
        c.written, c.failures, c.bytes = nums[2], c.failures + nums[3], nums[4]
        table.insert(c.peak, nums[5])
        table.insert(c.growth, nums[6])
        c.reset = c.reset and nums[7] == 1
        if c0 and c1 then table.insert(c.mock, c1 - c0) end
      end
    end
    for _, r in ipairs(T4) do res.curl[r.key] = curl_page(srv.url, r.bytes) end
    return res
  end)
  srv:stop()
  if not ok then error(res, 0) end
  return res
end

---------------------------------------------------------------------------
-- Output

local function fmt_us(v)
  if not v then return "n/a" end
  if v >= 1000 then return string.format("%.0f", v) end
  return string.format("%.1f", v)
end

-- 1000 -> "1,000", as the tables write counts
local function thousands(n)
  local s = string.format("%d", n)
  repeat
    local k
    s, k = s:gsub("^(%d+)(%d%d%d)", "%1,%2")
  until k == 0
  return s
end

local function versions()
  local v = {}
  local function first_line(cmd) return (sh(cmd):match("[^\n]*")) end
  local cpu = sh("lscpu"):match("Model name:%s*([^\n]+)") or "?"
  v[#v + 1] = ("- machine: %s, %s CPUs, %s"):format(cpu, first_line("nproc"), first_line("uname -sr"))
  v[#v + 1] = "- " .. first_line("lua5.4 -v") .. "; " .. first_line("luajit -v")
  v[#v + 1] = "- libcurl: " .. first_line(lua_cmd("lua5.4", "-e",
    q("local i = require('kadoa.core').curl_info() "
      .. "print(i.version .. ' (' .. i.ssl .. ', http2 ' .. tostring(i.http2) .. ')')")))
  v[#v + 1] = "- nginx: " .. first_line("nginx -v"):gsub("^nginx version: ", "")
  local pk = sh("dpkg-query -W -f='${Package} ${Version}\\n' "
    .. "lua-cjson lua-socket lua-sec lua-http python3-requests curl")
  v[#v + 1] = "- packages: " .. pk:gsub("\n$", ""):gsub("\n", ", ")
  v[#v + 1] = "- " .. first_line(PYTHON .. " --version")
  return table.concat(v, "\n")
end

local function render(t1, missing, t2, t3, t4)
  local L = {}
  local function add(s) L[#L + 1] = s end
  local function ratio(a, b) return (a and b) and string.format("%.2f", a / b) or "n/a" end
  local targets = {}

  add(("Measured %s; %d interleaved rounds (table 3: %d), medians."):format(os.date("!%Y-%m-%d %H:%M UTC"),
    ROUNDS, SCALE_ROUNDS))
  add("")
  add(versions())
  add("")

  for _, proto in ipairs(PROTOS) do
    local r = t1[proto.key]
    local m = {}
    for _, row in ipairs(T1) do m[row.key] = median(r[row.key]) end
    -- floor + decode, per round, so both halves come from the same moment
    local fd54, fdjit = {}, {}
    for i = 1, #r.floor do
      if r.dec54[i] then fd54[i] = r.floor[i] + r.dec54[i] end
      if r.decjit[i] then fdjit[i] = r.floor[i] + r.decjit[i] end
    end
    m.fd54, m.fdjit = median(fd54), median(fdjit)
    -- new / before, per round (both measured at the same moment), median
    local before_ratio = {}
    for _, row in ipairs(T1) do
      if row.new then
        local ratios, new, old = {}, r[row.new], r[row.key]
        for i = 1, math.min(#new, #old) do ratios[i] = new[i] / old[i] end
        before_ratio[row.key] = median(ratios)
      end
    end
    add(("### Table 1 (%s): sequential status calls on one connection"):format(proto.title))
    add("")
    add("Server (nginx, one process) and client pinned to CPU 0 with `taskset -c 0`.")
    add("")
    add("| row | µs per call | calls/s | × floor | note |")
    add("|---|---:|---:|---:|---|")
    local order = {
      { "floor", T1[1].label },
      { "fd54", "floor + cjson.decode in Lua 5.4 (" .. fmt_us(m.dec54) .. " µs)" },
      { "fdjit", "floor + cjson.decode in LuaJIT (" .. fmt_us(m.decjit) .. " µs)" },
    }
    -- the comparison rows, then the diagnostics that split the client's cost
    for pass = 1, 2 do
      for _, row in ipairs(T1) do
        local diag = row.label and row.label:find("^diagnostic") ~= nil
        if not row.hidden and row.key ~= "floor" and (pass == 2) == diag
            and not (row.tree and missing.before) then
          order[#order + 1] = { row.key, row.label }
        end
      end
    end
    for _, o in ipairs(order) do
      local v = m[o[1]]
      local note = T1_NOTES[proto.key][o[1]] or ""
      if not v and missing[o[1]] then note = "left out: " .. missing[o[1]]:gsub("[\n|]", " ") end
      if o[1] == "client54" then note = "× floor+decode: " .. ratio(v, m.fd54) end
      if o[1] == "clientjit" then note = "× floor+decode: " .. ratio(v, m.fdjit) end
      if before_ratio[o[1]] then
        note = ("new / before: %.3f (%s µs now)"):format(before_ratio[o[1]], fmt_us(m[o[1] == "before54"
          and "client54" or "clientjit"]))
      end
      local per_s = v and string.format("%.0f", 1e6 / v) or "n/a"
      add(("| %s | %s | %s | %s | %s |"):format(o[2], fmt_us(v), per_s, ratio(v, m.floor), note))
    end
    if missing.before then
      add("")
      add("The rows of client:status before the engine change are left out: " .. missing.before)
    else
      add("")
      add(("Before the engine change: the same `client` row of bench/rows.lua on the tree of %s"
        .. " (`make bench-before`); new / before is the median of the rounds' ratios.")
        :format(before_label()))
    end
    add("")
    t1[proto.key].medians = m
    if proto.key == "http" then
      local function nb(new, old)
        local x = before_ratio[old]
        if not x then return "n/a" end
        return ("%s µs now, %s µs before, %.3f (%s)"):format(fmt_us(m[new]), fmt_us(m[old]), x,
          x <= 1.01 and "met" or "not met")
      end
      targets[#targets + 1] = missing.before
        and ("- plain HTTP/1.1: client:status no slower than before the engine change: not measured (%s)")
          :format(missing.before)
        or ("- plain HTTP/1.1: client:status no slower than before the engine change (new / before ≤ 1.01):"
          .. " Lua 5.4 %s; LuaJIT %s"):format(nb("client54", "before54"), nb("clientjit", "beforejit"))
    end
    local c54, cjit = m.client54 and m.client54 / m.fd54, m.clientjit and m.clientjit / m.fdjit
    targets[#targets + 1] = ("- %s: client:status ≤ 1.15 × floor+decode: Lua 5.4 %s, LuaJIT %s")
      :format(proto.title,
      c54 and string.format("%.2f× (%s)", c54, c54 <= 1.15 and "met" or "not met") or "n/a",
      cjit and string.format("%.2f× (%s)", cjit, cjit <= 1.15 and "met" or "not met") or "n/a")
    if m.luasocket and m.client54 then
      local x = m.luasocket / m.client54
      targets[#targets + 1] = ("- %s: throughput ≥ 3 × luasocket + cjson: %.1f× (%s)"):format(proto.title, x,
        x >= 3 and "met" or "not met")
    end
    if m.requests and m.client54 then
      local x = m.requests / m.client54
      targets[#targets + 1] = ("- %s: throughput ≥ 20 × Python requests: %.1f× (%s)"):format(proto.title, x,
        x >= 20 and "met" or "not met")
    end
  end

  add("### Table 2: 1,000 ids, each answered after 20 ms")
  add("")
  add("Client not pinned. A loop's 1,000 ids are spread over the rounds and its time is their sum;")
  add("the other rows fetch all 1,000 every round (median). Connections: the most one run opened (nginx's")
  add("accept counter), and for the spread rows, per process.")
  add("")
  add("| row | protocol | seconds for 1,000 ids | ids/s | × faster than the loop | connections | failures |")
  add("|---|---|---:|---:|---:|---:|---:|")
  for _, proto in ipairs(PROTOS) do
    local r = t2[proto.key]
    local function total(cell)
      local s = 0
      for _, v in ipairs(cell.times) do s = s + v end
      return s
    end
    local seq = total(r.seq)
    for _, row in ipairs(T2) do
      local cell = r[row.key]
      if #cell.times > 0 then
        local t = row.split and total(cell) or median(cell.times)
        cell.value = t
        add(("| %s | %s | %.3f | %.0f | %.1f | %d | %d |"):format(row.label, proto.title, t,
          MANY_IDS / t, seq / t, cell.conns, cell.failures))
      end
    end
    local c100 = r.c100.value
    targets[#targets + 1] = ("- %s: 1,000 ids at concurrency 100 under 0.5 s and ≥ 30× the loop:"
      .. " %.3f s, %.0f× (%s)")
      :format(proto.title, c100, seq / c100, (c100 < 0.5 and seq / c100 >= 30) and "met" or "not met")
    if proto.key == "https" then
      targets[#targets + 1] = ("- HTTP/2 uses one connection: %d at concurrency 100 (%s)")
        :format(r.c100.conns, r.c100.conns == 1 and "met" or "not met")
    end
  end
  add("")

  add("### Table 3: status_many at scale (plain HTTP, no added latency, default concurrency 16)")
  add("")
  add("Peak RSS growth: the process's peak resident size during the call (reset just before) less its")
  add("size before; results: what the returned tables take in the Lua heap.")
  add("")
  add("| ids | wall ms | µs per id | peak RSS growth KiB | results KiB | above results, KiB per id"
    .. " | failures |")
  add("|---:|---:|---:|---:|---:|---:|---:|")
  local worst = 0
  for _, n in ipairs(SIZES) do
    local c = t3[n]
    local t, peak, results = median(c.t), median(c.peak), median(c.results)
    local per = (peak - results) / n
    if n >= 1000 and per > worst then worst = per end
    c.value = t
    add(("| %d | %.1f | %.1f | %d | %.0f | %.2f | %d |"):format(n, t * 1000, t * 1e6 / n, peak, results, per,
      c.failures))
  end
  targets[#targets + 1] = ("- peak RSS above the results ≤ 10 KiB per id (1,000 and 10,000 ids):"
    .. " %.2f KiB (%s)")
    :format(worst, worst <= 10 and "met" or "not met")
  add("")

  add(("### Table 4: client:export, %s pages answered after %d ms, concurrency %d (mock server)")
    :format(thousands(EXPORT.pages), EXPORT.latency, EXPORT.conc))
  add("")
  add(("Each run in its own process (bench/export.lua) against spec/mock/server.py (Python, one thread a"
    .. " connection), %d round%s, medians; every page's Markdown written to its own file. Peak RSS: the"
    .. " process's VmHWM after the export, %s; growth: that peak less the RSS just before the export."
    .. " Mock CPU: the mock server's user + system seconds during the export.")
    :format(EXPORT.rounds, EXPORT.rounds == 1 and "" or "s",
      (t4["10k"].reset and t4["1m"].reset) and "reset just before it"
      or "NOT reset (clear_refs refused: the peak includes start-up)"))
  add("")
  add("| page size | seconds | pages/s | MiB written | peak RSS KiB | peak growth KiB | mock CPU s"
    .. " | failures |")
  add("|---|---:|---:|---:|---:|---:|---:|---:|")
  for _, r in ipairs(T4) do
    local c = t4[r.key]
    local t = median(c.t)
    c.value, c.growth_m = t, median(c.growth)
    local mock_s = c.mock[1] and string.format("%.2f", median(c.mock)) or "n/a"
    add(("| %s | %.3f | %.0f | %.1f | %d | %d | %s | %d |"):format(r.label, t, c.written / t,
      c.bytes / 1048576, median(c.peak), c.growth_m, mock_s, c.failures))
  end
  for _, r in ipairs(T4) do
    if t4[r.key].errors then
      add("")
      add(("Failures with %s pages (the first): %s"):format(r.label, t4[r.key].errors:gsub("[\n|]", " ")))
    end
  end
  add("")
  local k10, m1 = t4["10k"], t4["1m"]
  local cm = t4.curl["1m"]
  add(("The mock's own share: a plain curl of one page without added latency takes %s ms (10 KiB) and %s ms"
    .. " (1 MiB). The mock is Python, whose threads share one lock, so it serves one page at a time: %s"
    .. " pages of 1 MiB cost it about %s s (the curl time × %s; its CPU seconds during the export are the"
    .. " mock CPU column), a floor under that row that no client can go below.")
    :format(t4.curl["10k"] and string.format("%.1f", t4.curl["10k"] * 1000) or "n/a",
      cm and string.format("%.1f", cm * 1000) or "n/a", thousands(EXPORT.pages),
      cm and string.format("%.1f", cm * EXPORT.pages) or "n/a", thousands(EXPORT.pages)))
  add("")
  targets[#targets + 1] = ("- export of 1,000 pages at 20 ms, concurrency 32, under 1.5 s:"
    .. " 10 KiB pages %.2f s (%s); 1 MiB pages %.2f s (%s)"):format(k10.value,
    k10.value < 1.5 and "met" or "not met", m1.value, m1.value < 1.5 and "met" or "not met")
  local grew = m1.growth_m - k10.growth_m
  targets[#targets + 1] = ("- export's peak memory does not grow with the page size (1 MiB pages' peak growth"
    .. " within 1 MiB, one page, of 10 KiB pages'): %d KiB vs %d KiB, %+d KiB (%s)")
    :format(m1.growth_m, k10.growth_m, grew, grew <= 1024 and "met" or "not met")
  add("### Targets")
  add("")
  for _, t in ipairs(targets) do add(t) end
  add("")
  return table.concat(L, "\n")
end

local function chart(t1, t2)
  local d1 = { "# row http https" }
  local names = {
    { "floor", "floor (C)" }, { "fd54", "floor+decode" }, { "client54", "client 5.4" },
    { "clientjit", "client LuaJIT" }, { "default", "kadoa.status" }, { "luahttp", "lua-http" },
    { "luasocket", "luasocket" }, { "requests", "requests" }, { "popen", "popen curl" },
  }
  for _, n in ipairs(names) do
    local a, b = t1.http.medians[n[1]], t1.https.medians[n[1]]
    d1[#d1 + 1] = ('"%s" %s %s'):format(n[2], a and string.format("%.2f", a) or "NaN",
      b and string.format("%.2f", b) or "NaN")
  end
  write_file(OUT .. "/t1.dat", table.concat(d1, "\n") .. "\n")
  local d2 = { "# row http https" }
  for _, row in ipairs(T2) do
    local a, b = t2.http[row.key].value, t2.https[row.key].value
    local name = row.key == "seq" and "loop" or row.key == "luasocket" and "luasocket loop"
      or ("many c" .. row.conc)
    d2[#d2 + 1] = ('"%s" %s %s'):format(name, a and string.format("%.4f", a) or "NaN",
      b and string.format("%.4f", b) or "NaN")
  end
  write_file(OUT .. "/t2.dat", table.concat(d2, "\n") .. "\n")
  local out, ok = sh("gnuplot -e " .. q("out='" .. OUT .. "'") .. " bench/plot.gp")
  if not ok then log("gnuplot failed: %s", out) end
end

local function update_results(md)
  local path = "bench/RESULTS.md"
  local cur = read_file(path)
  local b, e = "<!-- bench:tables -->", "<!-- /bench:tables -->"
  local block = b .. "\n" .. md .. "\n" .. e
  if cur and cur:find(b, 1, true) and cur:find(e, 1, true) then
    local i = cur:find(b, 1, true)
    local _, j = cur:find(e, 1, true)
    cur = cur:sub(1, i - 1) .. block .. cur:sub(j + 1)
  else
    cur = "# kadoa benchmark results\n\n" .. block .. "\n"
  end
  write_file(path, cur)
end

---------------------------------------------------------------------------

local function main()
  server.start()
  log("nginx on 127.0.0.1:%d (http) and :%d (https, h2), pid %d", server.http, server.https, server.pid)
  local t1, missing = table1()
  local t2 = table2()
  local t3 = table3()
  local t4 = table4()
  local md = render(t1, missing, t2, t3, t4)
  print(md)
  write_file(OUT .. "/tables.md", md)
  chart(t1, t2)
  update_results(md)
end

local ok, err = xpcall(main, debug.traceback)
server.stop()
if not ok then
  io.stderr:write("bench: ", tostring(err), "\n")
  os.exit(1)
end
log("bench: done in %.0f s; tables in bench/RESULTS.md, chart in bench/results.png",
  socket.gettime() - T_START)
