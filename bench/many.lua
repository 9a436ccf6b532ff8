-- bench/many.lua: one run of the many-sessions and scale tables, in its own
-- process (run by bench/run.lua).
--
--   lua bench/many.lua seq       BASE_URL N FIRST [CA_FILE]  client:status in a loop
--   lua bench/many.lua many      BASE_URL N FIRST [CA_FILE] CONCURRENCY
--   lua bench/many.lua luasocket BASE_URL N FIRST             socket.http + cjson in a loop
--   lua bench/many.lua scale     BASE_URL N FIRST [CA_FILE]  status_many, default concurrency
--
-- Ids are "s<FIRST>" .. "s<FIRST+N-1>", all distinct. Prints one line:
-- "seconds failures" for the first three, and for scale
-- "seconds failures peak_growth_kib results_kib": how far the process's
-- peak RSS rose during the call (VmHWM after, less VmRSS before, with the
-- peak reset first) and what the result tables themselves take in the Lua
-- heap (collectgarbage("count") with them alive, less without).

local MODE, BASE, N, FIRST, CA, CONC = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5], arg[6]
if CA == "" then CA = nil end
local KEY = "bench-key"

local ids = {}
for i = 1, N do ids[i] = "s" .. (FIRST + i - 1) end

local memory = require("bench.memory")
local status_kib, reset_peak = memory.kib, memory.reset_peak

if MODE == "luasocket" then
  local http, ltn12, cjson = require("socket.http"), require("ltn12"), require("cjson")
  local t0 = require("socket").gettime()
  local failures = 0
  for i = 1, N do
    local out = {}
    local ok, code = http.request({ url = BASE .. "/v4/crawl/" .. ids[i] .. "/status",
                                    headers = { ["x-api-key"] = KEY }, sink = ltn12.sink.table(out) })
    if not (ok and code == 200 and cjson.decode(table.concat(out)).sessionId == ids[i]) then
      failures = failures + 1
    end
  end
  io.write(string.format("%.6f %d\n", require("socket").gettime() - t0, failures))
  return
end

local kadoa = require("kadoa")
local core = require("kadoa.core")
local client = assert(kadoa.client({ api_key = KEY, base_url = BASE, ca_file = CA, retries = 0 }))

local function check(res)
  local failures = 0
  for i = 1, N do
    local v = res[ids[i]]
    if type(v) ~= "table" or kadoa.errors.is(v) or v.sessionId ~= ids[i] then failures = failures + 1 end
  end
  return failures
end

if MODE == "seq" then
  local res = {}
  local t0 = core.monotime()
  for i = 1, N do
    local id = ids[i]
    local r, err = client:status(id)
    res[id] = r or err
  end
  io.write(string.format("%.6f %d\n", core.monotime() - t0, check(res)))
elseif MODE == "many" then
  local t0 = core.monotime()
  local res = assert(client:status_many(ids, { concurrency = tonumber(CONC) }))
  io.write(string.format("%.6f %d\n", core.monotime() - t0, check(res)))
elseif MODE == "scale" then
  collectgarbage()
  collectgarbage()
  local heap0 = collectgarbage("count")
  local rss0 = status_kib("VmRSS")
  reset_peak()
  local t0 = core.monotime()
  local res = assert(client:status_many(ids))
  local t = core.monotime() - t0
  local peak = status_kib("VmHWM")
  collectgarbage()
  collectgarbage()
  local results = collectgarbage("count") - heap0
  io.write(string.format("%.6f %d %d %.1f\n", t, check(res), peak - rss0, results))
else
  error("unknown mode " .. tostring(MODE))
end
