-- bench/export.lua: one run of table 4 (client:export), in its own process
-- so its peak RSS is its own (run by bench/run.lua, against the mock
-- server spec/mock/server.py).
--
--   lua bench/export.lua BASE_URL PAGES BYTES LATENCY_MS CONCURRENCY DIR
--
-- Starts a crawl of PAGES pages, all done at once, each about BYTES bytes
-- of Markdown and answered LATENCY_MS late (the mock's host labels), then
-- times client:export(id, DIR, { concurrency = CONCURRENCY }). DIR must not
-- exist (an index there would make the export skip pages). Prints one line:
--
--   seconds written failed bytes peak_kib growth_kib reset
--
-- bytes: the file sizes the export reports, summed from DIR/index.jsonl;
-- peak_kib: VmHWM after the export, the peak having been reset just
-- before (writing "5" to /proc/self/clear_refs); growth_kib: that peak less
-- VmRSS before the export, the figure that means the same whether or not
-- the reset was allowed; reset: 1 when it was (VmHWM fell to VmRSS).
-- Pages that failed are counted in `failed` and the first errors written
-- to DIR.errors.

local BASE, PAGES, BYTES, LATENCY, CONC, DIR = arg[1], tonumber(arg[2]), tonumber(arg[3]),
  tonumber(arg[4]), tonumber(arg[5]), arg[6]
assert(BASE and PAGES and BYTES and LATENCY and CONC and DIR, "usage: see the header of bench/export.lua")

local kadoa = require("kadoa")
local core = require("kadoa.core")
local cjson = require("cjson")

local memory = require("bench.memory")
local status_kib, reset_peak = memory.kib, memory.reset_peak

-- the client's default retries, as a user's export gets them: a page the
-- mock drops once under load is fetched again, not counted a failure
local client = assert(kadoa.client({ api_key = "bench-key", base_url = BASE }))
local url = ("https://pages-%d.seconds-0.bytes-%d.latency-%d.example.com/"):format(PAGES, BYTES, LATENCY)
local started = assert(client:crawl(url))
local id = assert(started.sessionId, "the crawl answer has no sessionId")

collectgarbage()
collectgarbage()
local rss0 = status_kib("VmRSS")
local reset = reset_peak()
local t0 = core.monotime()
local summary = assert(client:export(id, DIR, { concurrency = CONC }))
local t = core.monotime() - t0
local peak = status_kib("VmHWM")

-- the first few failures' errors go to DIR.errors (not to stdout or
-- stderr, whose numbers bench/run.lua reads), so the table can say why
local bytes, errs = 0, {}
for line in io.lines(DIR .. "/index.jsonl") do
  local e = cjson.decode(line)
  if e.status == "written" then
    bytes = bytes + (tonumber(e.bytes) or 0)
  elseif #errs < 3 then
    errs[#errs + 1] = tostring(e.id) .. ": " .. tostring(e.error or e.status)
  end
end
if #errs > 0 then
  local f = assert(io.open(DIR .. ".errors", "w"))
  f:write(table.concat(errs, "\n"), "\n")
  f:close()
end
io.write(string.format("%.6f %d %d %d %d %d %d\n", t, summary.written, summary.failed + summary.pending,
  bytes, peak, peak - rss0, reset and 1 or 0))
