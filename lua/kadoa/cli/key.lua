-- kadoa.cli.key: where the command's API key comes from: --api-key-file
-- (a file, or stdin for "-"), else KADOA_API_KEY. Messages name the file,
-- never a byte of what it holds.

local format = require("kadoa.format")
local shown = require("kadoa.cli.output").shown

local M = {}

---@param path string
---@param env table kadoa.cli.env's
---@return string|nil key
---@return string|nil message
function M.read(path, env)
  if path then
    local text, msg = env.read_key_file(path)
    if not text then return nil, "cannot read the API key file: " .. format.text(msg or path, 200) end
    local key = text:match("^%s*(.-)%s*$")
    local bad = #text > 65536 and "is too large" or key == "" and "is empty"
      or key:find("%c") and "must hold the key on one line"
    if bad then return nil, "the API key file " .. shown(path) .. " " .. bad end
    return key
  end
  local key = env.getenv("KADOA_API_KEY")
  if not key or key == "" then
    return nil, "no API key: set KADOA_API_KEY or use --api-key-file PATH"
  end
  return key
end

return M
