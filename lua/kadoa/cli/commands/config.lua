-- kadoa.cli.commands.config: `kadoa config create|get|delete`: create prints
-- only the new id (for scripts), get one JSON object, delete one line.

local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")
local call = require("kadoa.cli.call").call
local crawl = require("kadoa.cli.commands.crawl")

local M = {}

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.run(c)
  local output, env, client, action, ids, opts = c.out, c.env, c.client, c.action, c.ids, c.opts
  if action == "create" then
    local body, msg = crawl.body(env, client, ids, opts)
    if not body then return output:usage_error(msg, "config") end
    local res, err = call(client, nil, "config_create", body)
    if not res then return output:fail(err) end
    if type(res.configId) ~= "string" then
      output:say("the answer has no config id")
      return exit.api
    end
    output:out(format.text(res.configId, 1000))
    return exit.ok
  end
  local id = ids[1]
  if action == "get" then
    local res, err = call(client, nil, "config", id)
    if not res then return output:fail(err, format.text(id, 200)) end
    output:json(res)
    return exit.ok
  end
  local res, err = call(client, nil, "config_delete", id)
  if not res then return output:fail(err, format.text(id, 200)) end
  output:out("deleted config " .. format.text(id, 200))
  return exit.ok
end

return M
