-- bench/follow.lua: export with follow = true against a crawl that runs
-- (issue 17's "follow end to end"): PAGES pages crawled at RATE pages a
-- second, each page's content answered LATENCY ms late, exported at the
-- default concurrency and schedule while the crawl runs.
--
--   make bench-follow     (or: lua5.4 bench/follow.lua [PAGES [RATE [LATENCY]]])
--
-- Starts its own mock (spec/mock/server.py). Prints, per size (PAGES/4,
-- then PAGES, to show memory does not grow with the pages):
--
--   pages  crawl_s  end_after_last_done_s  written  listing_requests  polls  growth_kib
--
-- end_after_last_done_s: when the export returned, less when the mock's
-- crawl made its last page DONE (its start + PAGES/RATE s). growth_kib: the
-- peak RSS during the export less the RSS before it (bench.memory).

package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
local PAGES, RATE, LATENCY = tonumber(arg[1]) or 1000, tonumber(arg[2]) or 40, tonumber(arg[3]) or 150

local kadoa = require("kadoa")
local core = require("kadoa.core")
local cjson = require("cjson")
local mock = require("spec.helpers.mock")
local memory = require("bench.memory")

local srv = mock.start({ key = "bench-key" })
local client = assert(kadoa.client({ api_key = "bench-key", base_url = srv.url }))

local function hits(id)
  local f = assert(io.popen("curl -s " .. srv.url .. "/mock/hits/" .. id))
  local t = cjson.decode(f:read("*a"))
  f:close()
  return t
end

print("pages  crawl_s  end_after_last_done_s  written  listing_requests  polls  growth_kib")
for _, n in ipairs({ math.floor(PAGES / 4), PAGES }) do
  local seconds = n / RATE
  local dir = os.tmpname()
  os.remove(dir)
  local url = ("https://pages-%d.seconds-%s.latency-%d.example.com/")
    :format(n, ("%g"):format(seconds), LATENCY)
  collectgarbage()
  collectgarbage()
  local rss0 = memory.kib("VmRSS")
  memory.reset_peak()
  local t0 = core.monotime()
  local id = assert(client:crawl(url)).sessionId
  local summary = assert(client:export(id, dir, { follow = true, grace = 10 }))
  local lag = core.monotime() - (t0 + seconds)
  local peak = memory.kib("VmHWM")
  local h = hits(id)
  print(("%5d  %7.1f  %21.2f  %7d  %16d  %5d  %10d"):format(n, seconds, lag, summary.written, h.pages,
    h.status, peak - rss0))
  os.execute("rm -rf '" .. dir .. "'")
end
client:close()
srv:stop()
