-- kadoa.codec: the JSON decoder every answer goes through, and its null.
--
-- The C core loads nothing by itself: it is handed a decode function and
-- the value that decoder gives for JSON null (core.new's cfg.decode and
-- cfg.null). This is where they are found: a private instance of lua-cjson
-- (cjson.new(), so settings a program makes on its own cjson never change
-- how we decode), else Neovim's own lua-cjson (vim.json, whose null is
-- vim.NIL) when running inside Neovim.

local M = {}

local found

-- get() -> { decode = f, null = v, name = "lua-cjson" | "vim.json" } | nil, message
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
