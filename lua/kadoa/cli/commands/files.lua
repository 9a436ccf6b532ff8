-- kadoa.cli.commands.files: `kadoa files ID`, what is stored for a crawl's
-- pages (session_files), and `kadoa file NAME [-o FILE]`, one stored file
-- (file): to stdout as `kadoa page` writes it, or streamed into FILE.

local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")
local call = require("kadoa.cli.call").call
local pad = require("kadoa.text").pad

local M = {}

-- list(c): "STATUS  NAME  URL" a page
---@param c kadoa.cli.Context
---@return integer code the exit status
function M.list(c)
  local output, client, id, opts = c.out, c.client, c.ids[1], c.opts
  local res, err = call(client, nil, "session_files", id, opts.all and { include_all = true } or nil)
  if not res then return output:fail(err, format.text(id, 200)) end
  for _, e in ipairs(type(res.data) == "table" and res.data or {}) do
    if opts.json then
      output:json(e)
    else
      local name = type(e.html_filename) == "string" and format.text(e.html_filename, 1000) or "-"
      output:out(pad(format.text(e.status, 20), 8) .. "  " .. name .. "  "
        .. format.text(e.url, 2000))
    end
  end
  return exit.ok
end

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.fetch(c)
  local output, env, client, name, opts = c.out, c.env, c.client, c.ids[1], c.opts
  local res, err = call(client, nil, "file", name, opts.output and { path = opts.output } or nil)
  if not res then return output:fail(err, format.text(name, 200)) end
  if not opts.output then output:content(res, env.is_terminal()) end
  return exit.ok
end

return M
