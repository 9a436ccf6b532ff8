-- kadoa.codec: the JSON decoder every answer goes through (the C core is handed it), and its null:
-- a private lua-cjson (cjson.new(), so a program's own cjson settings never change how we decode),
-- else Neovim's vim.json (null: vim.NIL).

local M = {}

local found

---@return { decode: fun(text: string): any, null: any, name: string }|nil codec
---@return string|nil message
function M.get()
  if found then return found end
  local ok, cjson = pcall(require, "cjson")
  if ok and type(cjson) == "table" then
    local inst = type(cjson.new) == "function" and cjson.new() or cjson
    found = { decode = inst.decode, null = cjson.null, name = "lua-cjson" }
    return found
  end
  local vim = rawget(_G, "vim")
  if type(vim) == "table" and type(vim.json) == "table" then
    found = { decode = vim.json.decode, null = vim.NIL, name = "vim.json" }
    return found
  end
  return nil, "no JSON decoder: install lua-cjson (" .. tostring(cjson) .. ")"
end

return M
