-- kadoa.cli.commands.control: `kadoa pause ID` and `kadoa resume ID`:
-- one call each, one line saying what happened (the API's own message,
-- cleaned, and the id).

local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")
local call = require("kadoa.cli.call")
local has_error = require("kadoa.cli.output").has_error

local M = {}

local DONE = { pause = "paused", resume = "resumed" }

-- run(output, client, verb, id) -> exit code. verb: "pause" or "resume".
---@param output table kadoa.cli.output's
---@param client kadoa.Client
---@param verb string
---@param id string
---@return integer code the exit status
function M.run(output, client, verb, id)
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
