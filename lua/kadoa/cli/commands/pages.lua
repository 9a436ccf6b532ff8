-- kadoa.cli.commands.pages: `kadoa pages ID` (client:each_page; --follow: as
-- they are crawled) and `kadoa page ID PAGE_ID`, one page's content.

local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")
local call = require("kadoa.cli.call").call
local poller = require("kadoa.cli.poller")

local M = {}

local pad = require("kadoa.text").pad

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.list(c)
  local output, client, id, opts = c.out, c.client, c.ids[1], c.opts
  -- statuses are an open set: compared as given, without regard to case
  local want = opts.status and opts.status:upper()
  local iopts
  if opts.follow then
    -- a mark (paused, stalled) said on stderr when it comes and goes
    local said
    client = poller(client, nil, function(mark)
      if mark == said then return end
      said = mark
      output:say(format.text(id, 200) .. ": " .. (mark and (mark .. "; still following")
        or "moving again"))
    end)
    iopts = { follow = true }
  end
  for entry, err in client:each_page(id, iopts) do
    if not entry then return output:fail(err, format.text(id, 200)) end
    local status = type(entry.status) == "string" and entry.status or ""
    if not want or status:upper() == want then
      if opts.json then
        output:json(entry)
      else
        output:out(pad(format.text(entry.id, 40), 5) .. "  " .. pad(format.text(status, 20), 8)
          .. "  " .. format.text(entry.url, 2000))
      end
    end
  end
  return exit.ok
end

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.show(c)
  local output, env, client, id, page_id, opts = c.out, c.env, c.client, c.ids[1], c.ids[2], c.opts
  -- -o FILE: the payload streamed into it by the core (FILE.part, renamed)
  local res, err = call(client, nil, "page", id, page_id, { format = opts.format, path = opts.output })
  if not res then return output:fail(err, format.text(id, 200) .. " " .. format.text(page_id, 200)) end
  if opts.output then return exit.ok end
  local content = res.payload
  if type(content) ~= "string" then
    output:say(format.text(page_id, 200) .. ": the answer holds no page content")
    return exit.api
  end
  output:content(content, env.is_terminal())
  return exit.ok
end

return M
