-- bench/cold.lua: `make bench-cold` (and the last part of `make bench`):
-- `kadoa status ID` from a cold start, a new process each time, side by
-- side with `curl` making the same request to the same mock server
-- (spec/mock/server.py). The goal (issue 15): the command within 1.25x
-- curl. Loading libcurl is paid by both; what is left is the interpreter
-- and the modules a status loads. hyperfine -N runs every row in each of
-- several rounds, so a busy moment of the machine hits every row alike;
-- the medians are over every run of every round. Each row is also counted
-- once in instructions (callgrind), which the load cannot move. Writes its
-- table into bench/RESULTS.md between the bench:cold markers.
--
--   make build LUA="lua5.4 luajit" && lua5.4 bench/cold.lua [ROUNDS] [RUNS]

package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "build/lua5.4/?.so;" .. package.cpath

local mock = require("spec.helpers.mock")

local ROUNDS = tonumber(arg[1] or os.getenv("BENCH_COLD_ROUNDS") or "") or 10
local RUNS = tonumber(arg[2] or os.getenv("BENCH_COLD_RUNS") or "") or 20
local KEY = "bench-cold-key"
local OUT = "bench/out/cold.json"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local srv = mock.start({ key = KEY })
-- The command keeps its modules' bytecode (kadoa.cli.cache): a folder of the
-- bench's own, emptied first, so the warm-up runs are the ones that fill it.
-- The rows "no cache" point it at /dev/null, where nothing can be kept: each
-- run compiles every module, as a first run does.
local CACHE = "bench/out/cache"
local NONE = "/dev/null"
local rows = {
  { "curl -s -H 'x-api-key: " .. KEY .. "' " .. srv.url .. "/v4/crawl/cold/status",
    "curl, the same request", CACHE },
  { "lua5.4 bin/kadoa status cold", "kadoa status, Lua 5.4", CACHE },
  { "luajit bin/kadoa status cold", "kadoa status, LuaJIT", CACHE },
  { "lua5.4 bin/kadoa status cold", "kadoa status, Lua 5.4, no cache", NONE },
  { "luajit bin/kadoa status cold", "kadoa status, LuaJIT, no cache", NONE },
}
local function env(cache)
  return "KADOA_API_KEY=" .. q(KEY) .. " KADOA_BASE_URL=" .. q(srv.url) .. " XDG_CACHE_HOME=" .. q(cache)
end
os.execute("rm -rf " .. CACHE .. " && mkdir -p bench/out")

-- one hyperfine a cache setting, both in every round; hyperfine's JSON is
-- read for the few numbers this needs (no JSON library here): each
-- result's "times" array, in the order of the rows
local times = {}
for i = 1, #rows do times[i] = {} end
for _ = 1, ROUNDS do
  for _, cache in ipairs({ CACHE, NONE }) do
    local cmd, at = { env(cache), "hyperfine", "-N", "--warmup 5", "--runs", tostring(RUNS),
      "--style none", "--export-json", OUT }, {}
    for i, r in ipairs(rows) do
      if r[3] == cache then cmd[#cmd + 1], at[#at + 1] = q(r[1]), i end
    end
    local ok = os.execute(table.concat(cmd, " ") .. " >&2")
    assert(ok == true or ok == 0, "hyperfine failed (is it installed? bench/deps installs it)")
    local f = assert(io.open(OUT, "r"))
    local text = f:read("*a")
    f:close()
    local n = 0
    for list in text:gmatch('"times":%s*%[([^%]]*)%]') do
      n = n + 1
      for v in list:gmatch("[%d.e%-]+") do table.insert(times[at[n]], tonumber(v)) end
    end
    assert(n == #at, "hyperfine's JSON holds " .. n .. " results")
  end
end

-- The same rows counted in instructions (valgrind's callgrind, once each):
-- exact, and blind to the machine's load, which the times above are not.
local function instructions(command, cache)
  local p = io.popen(env(cache) .. " valgrind --tool=callgrind --callgrind-out-file=/dev/null " .. command
    .. " 2>&1 >/dev/null")
  local text = p and p:read("*a") or ""
  if p then p:close() end
  local n = text:match("Collected%s*:%s*(%d+)")
  return n and tonumber(n)
end
local counts = {}
for i, r in ipairs(rows) do counts[i] = instructions(r[1], r[3]) end
srv:stop()

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local curl = median(times[1])
local load = io.open("/proc/loadavg", "r")
local loadavg = load and load:read("*l"):match("^(%S+ %S+ %S+)") or "?"
if load then load:close() end
local lines = {
  ("Measured %s; hyperfine -N --warmup 5, %d rounds of %d runs per row (every row each round),"
    .. " medians of all runs; load average after: %s."):format(os.date("!%Y-%m-%d %H:%M UTC"), ROUNDS,
    RUNS, loadavg), "",
  "| row | median ms | × curl | instructions (callgrind) | × curl |", "|---|---:|---:|---:|---:|",
}
for i, r in ipairs(rows) do
  local m, n = median(times[i]), counts[i]
  local count = n and counts[1] and ("%.1f M | %.2f"):format(n / 1e6, n / counts[1]) or "? | ?"
  lines[#lines + 1] = ("| %s | %.1f | %.2f | %s |"):format(r[2], m * 1000, m / curl, count)
end
local table_text = table.concat(lines, "\n")
io.write(table_text, "\n")

local path = "bench/RESULTS.md"
local h = assert(io.open(path, "r"))
local doc = h:read("*a")
h:close()
local b, e = "<!-- bench:cold -->", "<!-- /bench:cold -->"
local i, j = doc:find(b, 1, true), doc:find(e, 1, true)
if i and j then
  doc = doc:sub(1, i + #b) .. table_text .. "\n" .. doc:sub(j)
else
  doc = doc .. "\n### `kadoa status` from a cold start, beside curl (bench/cold.lua)\n\n" .. b .. "\n"
    .. table_text .. "\n" .. e .. "\n"
end
h = assert(io.open(path, "w"))
h:write(doc)
h:close()
