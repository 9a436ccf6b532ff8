-- kadoa.cli.commands.sessions: `kadoa sessions`, every crawl session of the
-- account (client:each_session): a table line or a JSON object each.

local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")

local M = {}

local pad = require("kadoa.text").pad

-- line(s): columns are fixed, so lines stream out as they come
---@param s kadoa.SessionItem
---@return string
function M.line(s)
  local id = format.short_id(s.sessionId)
  local domain = format.text(s.domain, 28)   -- at most 29 with the ellipsis
  local pages = type(s.crawledPages) == "number"
    and (format.number(s.crawledPages) .. (s.crawledPages == 1 and " page" or " pages")) or "-"
  local state = s.finished == true and "finished" or "crawling"
  return pad(id, 9) .. "  " .. pad(domain, 29) .. "  " .. pad(state, 8) .. "  " .. pages
end

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.run(c)
  local output, client, opts = c.out, c.client, c.opts
  for s, err in client:each_session() do
    if not s then return output:fail(err) end
    if opts.json then
      output:json(s)
    else
      output:out(M.line(s))
    end
  end
  return exit.ok
end

return M
