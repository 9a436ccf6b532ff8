-- bench/cold.lua: `make bench-cold` (and the last part of `make bench`):
-- `kadoa status ID` from a cold start, a new process each time, side by
-- side in one hyperfine run with `curl` making the same request to the
-- same mock server (spec/mock/server.py). The goal (issue 15): the
-- command within 1.25x curl. Loading libcurl is paid by both; what is
-- left is the interpreter and the modules a status loads. Writes its table
-- into bench/RESULTS.md between the bench:cold markers.
--
--   make build LUA="lua5.4 luajit" && lua5.4 bench/cold.lua [RUNS]

package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "build/lua5.4/?.so;" .. package.cpath

local mock = require("spec.helpers.mock")

local RUNS = tonumber(arg[1] or os.getenv("BENCH_COLD_RUNS") or "") or 100
local KEY = "bench-cold-key"
local OUT = "bench/out/cold.json"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local srv = mock.start({ key = KEY })
local url = srv.url .. "/v4/crawl/cold/status"
local rows = {
  { "curl -s -H 'x-api-key: " .. KEY .. "' " .. url, "curl, the same request" },
  { "lua5.4 bin/kadoa status cold", "kadoa status, Lua 5.4" },
  { "luajit bin/kadoa status cold", "kadoa status, LuaJIT" },
}
local cmd = { "KADOA_API_KEY=" .. q(KEY), "KADOA_BASE_URL=" .. q(srv.url), "hyperfine", "-N", "--warmup 5",
  "--runs", tostring(RUNS), "--style basic", "--export-json", OUT }
for _, r in ipairs(rows) do cmd[#cmd + 1] = q(r[1]) end
os.execute("mkdir -p bench/out")
local ok = os.execute(table.concat(cmd, " ") .. " >&2")
srv:stop()
assert(ok == true or ok == 0, "hyperfine failed (is it installed? bench/deps installs it)")

local f = assert(io.open(OUT, "r"))
local text = f:read("*a")
f:close()
-- hyperfine's JSON, read for the few numbers this needs (no JSON library here)
local results = {}
for block in text:gmatch('"command":(.-)"exit_codes"') do
  results[#results + 1] = { median = tonumber(block:match('"median":%s*([%d.e%-]+)')),
    mean = tonumber(block:match('"mean":%s*([%d.e%-]+)')),
    stddev = tonumber(block:match('"stddev":%s*([%d.e%-]+)')) }
end
assert(#results == #rows, "hyperfine's JSON holds " .. #results .. " results")

local curl = results[1].median
local lines = {
  ("Measured %s; hyperfine -N --warmup 5, %d runs each, one run side by side; medians."):format(
    os.date("!%Y-%m-%d %H:%M UTC"), RUNS), "",
  "| row | median ms | mean ± σ ms | × curl |", "|---|---:|---:|---:|",
}
for i, r in ipairs(results) do
  lines[#lines + 1] = ("| %s | %.1f | %.1f ± %.1f | %.2f |"):format(rows[i][2], r.median * 1000,
    r.mean * 1000, r.stddev * 1000, r.median / curl)
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
