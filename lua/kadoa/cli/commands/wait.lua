-- kadoa.cli.commands.wait: `kadoa wait ID` (and `crawl --wait`): kadoa.wait on
-- kadoa.cli.poller with kadoa.cli.display, an exit code for each way it ends.

local core = require("kadoa.core")
local format = require("kadoa.format")
local waiter = require("kadoa.wait")
local args = require("kadoa.cli.args")
local poller = require("kadoa.cli.poller")
local display = require("kadoa.cli.display")
local exit = require("kadoa.cli.exit")
local shown = require("kadoa.cli.output").shown

local M = {}

local interrupted = require("kadoa.cli.env").interrupted

---@param c kadoa.cli.Context
---@param id? string the session (default: the first word; crawl --wait: the new one)
---@return integer code the exit status
function M.run(c, id)
  local output, env, client, o = c.out, c.env, c.client, c.wopts
  id = id or c.ids[1]
  local show = display.new(id, o.live, output, env)
  if not o.live then
    output:say(("waiting for %s (polling every %s, timeout %s)"):format(shown(id),
      args.setting(o.interval), args.setting(o.timeout)))
  end
  local p = poller(client, function() show:tick() end, function(mark) show.crawl_mark = mark end)
  local ok, res, err = pcall(waiter.wait, p, id, {
    interval = o.interval,
    max_interval = o.max_interval,
    timeout = o.timeout,
    grace = o.grace,
    sleep = p.settings.sleep,
    clock = core.monotime,
    on_update = function(r, info) show:update(r, info) end,
    on_error = function(e, info) show:problem(e, info) end,
  })

  if not ok then
    if interrupted(res) then
      show:finish("stopped", true)
      output:say("interrupted after " .. args.elapsed(core.monotime() - show.start))
      return exit.interrupted
    end
    error(res, 0)
  end
  if res then
    show:finish("finished")
    return exit.ok
  end
  if err.kind == "crawl_failed" then
    show:finish("failed")
    return exit.failed
  end
  show:finish("stopped")
  if err.kind == "timeout" and err.gave_up == "deadline" then
    output:say("timed out: " .. format.text(err.message, 200))
    return exit.timeout
  end
  output:say(format.format_error(err))
  return err.kind == "usage" and exit.usage or exit.api
end

return M
