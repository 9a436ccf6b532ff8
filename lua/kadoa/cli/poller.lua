-- kadoa.cli.poller: the client as the command's long loops see it (kadoa
-- wait, export --follow, crawl --export, pages --follow). Each status and
-- listing call is driven in steps (kadoa.cli.call) and each sleep cut
-- into tenths, with tick() between, so Ctrl-C lands at once and a spinner
-- turns; kadoa.wait and kadoa.paginate's follower run on it unchanged.
-- Every status is an observation: with on_mark, the session's mark
-- (kadoa.marks: "paused", "stalled" or nil) is handed on after each one,
-- which is how --follow says "paused" while it keeps waiting.

local core = require("kadoa.core")
local call = require("kadoa.cli.call")

-- poller(client [, tick [, on_mark]]) -> the client, its calls and sleeps interruptible
---@param client kadoa.Client
---@param tick? fun() runs between steps and while sleeping
---@param on_mark? fun(mark: "paused"|"stalled"|nil) after each status
---@return kadoa.Client poller
return function(client, tick, on_mark)
  local seen = {}   -- the last statuses' payloads, for marks.stalled
  return setmetatable({
    real = client,   -- kadoa.task's workers (export's fetches) run on the client itself
    settings = setmetatable({ sleep = function(s) return call.sleep(s, tick) end, clock = core.monotime },
      { __index = client.settings }),
    status = function(_, id, opts)
      local res, err = call.call(client, tick, "status", id, opts)
      if on_mark and res then
        local marks = require("kadoa.marks")
        seen[#seen + 1] = type(res.payload) == "table" and res.payload or {}
        if #seen > marks.STALLED_AFTER then table.remove(seen, 1) end
        on_mark(marks.of(id, seen))
      end
      return res, err
    end,
    pages = function(_, id, opts) return call.call(client, tick, "pages", id, opts) end,
  }, { __index = client })
end
