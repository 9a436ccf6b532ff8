-- kadoa.nvim.loader: the C core kadoa.core for this Neovim's LuaJIT, where require
-- looks, else the plugin's own build/luajit. JSON needs nothing here: kadoa.codec
-- picks lua-cjson or vim.json, so no stand-in "cjson" is put where plugins could see it.

local uv = vim.uv or vim.loop

local M = {}

-- the plugin's root directory: this file is <root>/lua/kadoa/nvim/loader.lua
local src = debug.getinfo(1, "S").source
M.root = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)[/\\]lua[/\\]kadoa[/\\]nvim[/\\]loader%.lua$")
  or nil

M.info = {}   -- how the pieces were found, for :checkhealth

-- what :checkhealth says about each decoder kadoa.codec may pick
local CODEC_NAMES = { ["vim.json"] = "vim.json (Neovim's own lua-cjson)" }

local loaded, load_error

local function load_core()
  local ok, err = pcall(require, "kadoa.core")
  if ok then
    M.info.core = vim.api.nvim_get_runtime_file("lua/kadoa/core.so", false)[1]
      or (package.searchpath and package.searchpath("kadoa.core", package.cpath))
      or "found by require"
    return true
  end
  if M.root then
    local so = M.root .. "/build/luajit/kadoa/core.so"
    if uv.fs_stat(so) then
      local open, lerr = package.loadlib(so, "luaopen_kadoa_core")
      if not open then return false, err .. "\n" .. tostring(lerr) end
      package.preload["kadoa.core"] = open
      M.info.core = so
      return pcall(require, "kadoa.core")
    end
  end
  return false, err
end

-- load() -> the kadoa module | nil, message. A failure is kept, not retried on every
-- call: its message says how to fix it, and a restart picks up a new build.
---@return kadoa|nil kadoa the module
---@return string|nil message how to fix it
function M.load()
  if loaded then return loaded end
  if load_error then return nil, load_error end
  local ok, res = load_core()
  if ok then ok, res = pcall(require, "kadoa") end
  if not ok then
    load_error = "kadoa: cannot load the C module kadoa.core for this Neovim's Lua ("
      .. (jit and jit.version or _VERSION) .. "); build it with `make build LUA=luajit` "
      .. "in the plugin's directory or put a LuaJIT build at lua/kadoa/core.so.\n"
      .. tostring(res)
    return nil, load_error
  end
  local codec = require("kadoa.codec").get()
  M.info.cjson = codec and (CODEC_NAMES[codec.name] or codec.name) or "none"
  loaded = res
  return res
end

return M
