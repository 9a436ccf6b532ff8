-- kadoa.cli.commands.export: `kadoa export ID DIR`: client:export with
-- kadoa.cli.progress; --follow (and `crawl --export`) on kadoa.cli.poller.

local core = require("kadoa.core")
local format = require("kadoa.format")
local args = require("kadoa.cli.args")
local exit = require("kadoa.cli.exit")
local progress = require("kadoa.cli.progress")
local poller = require("kadoa.cli.poller")
local interrupted = require("kadoa.cli.env").interrupted

local M = {}

local function count(n) return format.number(type(n) == "number" and n or 0) end

-- summary(s, dir) -> the last line
---@param s kadoa.ExportResult
---@param dir string
---@return string
function M.summary(s, dir)
  local pending = (s.pending or 0) > 0 and (", " .. count(s.pending) .. " not crawled yet") or ""
  return ("exported %s pages to %s: %s written, %s skipped, %s failed%s; index %s"):format(
    count(s.total), format.text(dir, 300), count(s.written), count(s.skipped), count(s.failed),
    pending, format.text(s.index or (dir .. "/index.jsonl"), 300))
end

---@param c kadoa.cli.Context
---@param id? string the session (default: the first word)
---@param dir? string the folder (default: the second word)
---@param follow? { grace: number, again: string }
---@return integer code the exit status
function M.run(c, id, dir, follow)
  local output, env, client, opts = c.out, c.env, c.client, c.opts
  id, dir = id or c.ids[1], dir or c.ids[2]
  local show = progress.new(c.live(), output, env)
  local last
  local eopts = {
    format = opts.format or "markdown",
    concurrency = opts.concurrency and tonumber(opts.concurrency) or nil,
    on_progress = function(p)
      last = p
      show:update(p)
    end,
  }
  follow = follow or (opts.follow and { again = "run the same command again to resume" })
  if follow then
    eopts.follow, eopts.grace = true, follow.grace
    client = poller(client, nil, function(mark) show.mark = mark end)
  end
  show:begin(("%s %s to %s (%s, %s at a time)"):format(follow and "following" or "exporting",
    format.text(id, 200), format.text(dir, 300), eopts.format,
    eopts.concurrency and format.number(eopts.concurrency) or "16"))
  local ok, res, err = pcall(client.export, client, id, dir, eopts)
  if not ok then
    if interrupted(res) then
      show:finish(last and progress.numbers(last) or nil)
      output:say("interrupted after " .. args.elapsed(core.monotime() - show.start) .. "; "
        .. (follow and follow.again or "run the same command again to resume"))
      return exit.interrupted
    end
    error(res, 0)
  end
  if not res then
    show:finish(err.summary and M.summary(err.summary, dir))
    local code = output:fail(err, format.text(id, 200))
    return err.kind == "crawl_failed" and exit.failed or code
  end
  show:finish(M.summary(res, dir))
  if (res.failed or 0) > 0 then
    output:say(count(res.failed) .. " pages could not be exported; the index lists them, "
      .. "and running the same command again retries them")
    return exit.api
  end
  if (res.pending or 0) > 0 then
    -- not a failure: the crawl is still going; the index lists them
    output:say("the crawl has not reached every page yet; run the same command again later "
      .. "to fetch the rest")
  end
  return exit.ok
end

return M
