-- kadoa.cli.commands.control: `kadoa pause ID` and `kadoa resume ID`: one
-- line each, the id and the API's own message.

local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")
local call = require("kadoa.cli.call").call
local has_error = require("kadoa.cli.output").has_error

local M = {}

local DONE = { pause = "paused", resume = "resumed" }

-- run(c) -> exit code. c.verb: "pause" or "resume".
---@param c kadoa.cli.Context
---@return integer code the exit status
function M.run(c)
  local output, client, verb, id = c.out, c.client, c.verb, c.ids[1]
  local res, err = call(client, nil, verb, id)
  if not res then return output:fail(err, format.text(id, 200)) end
  if has_error(res.error) then
    output:say(format.text(id, 200) .. ": " .. format.text(res.error, 300))
    return exit.api
  end
  local message = type(res.message) == "string" and res.message ~= "" and format.text(res.message, 200)
    or ("crawl " .. DONE[verb])
  output:out(format.text(id, 200) .. "  " .. message)
  return exit.ok
end

return M
