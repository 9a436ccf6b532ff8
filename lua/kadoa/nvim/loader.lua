-- kadoa.nvim.loader: finding the library inside this Neovim's LuaJIT.
--
-- kadoa.core (the C module) is looked for where require looks (a luarocks
-- tree on package.cpath, or lua/kadoa/core.so in any 'runtimepath'
-- directory), then in this plugin's own build/luajit (what `make build
-- LUA=luajit` makes), loaded with package.loadlib. JSON needs nothing
-- here: kadoa.codec picks lua-cjson or Neovim's vim.json by itself, so no
-- stand-in "cjson" is ever put where other plugins could see it.

local uv = vim.uv or vim.loop

local M = {}

-- The plugin's root directory (this file is <root>/lua/kadoa/nvim/loader.lua).
local function plugin_root()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  return (src:sub(2):match("^(.*)[/\\]lua[/\\]kadoa[/\\]nvim[/\\]loader%.lua$"))
end
M.root = plugin_root()

M.info = {}   -- how the pieces were found, for :checkhealth

-- what :checkhealth says about each decoder kadoa.codec may pick
local CODEC_NAMES = { ["vim.json"] = "vim.json (Neovim's own lua-cjson)" }

local loaded, load_error

-- The C module: by require, else the plugin's own build.
local function load_core()
  local info = M.info
  local ok, err = pcall(require, "kadoa.core")
  if ok then
    info.core = vim.api.nvim_get_runtime_file("lua/kadoa/core.so", false)[1]
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
      info.core = so
      return pcall(require, "kadoa.core")
    end
  end
  return false, err
end

-- load() -> the kadoa module | nil, message. The outcome is kept: a
-- failed load is not retried on every call (the message says how to fix
-- it, and a restart picks up a new build).
---@return kadoa|nil kadoa the module
---@return string|nil message how to fix it
function M.load()
  if loaded then return loaded end
  if load_error then return nil, load_error end
  local ok, err = load_core()
  local kadoa
  if ok then
    ok, kadoa = pcall(require, "kadoa")
    if not ok then err = kadoa end
  end
  if ok then
    local codec = require("kadoa.codec").get()
    M.info.cjson = codec and (CODEC_NAMES[codec.name] or codec.name) or "none"
  else
    load_error = "kadoa: cannot load the C module kadoa.core for this Neovim's Lua ("
      .. (jit and jit.version or _VERSION) .. "); build it with `make build LUA=luajit` "
      .. "in the plugin's directory or put a LuaJIT build at lua/kadoa/core.so.\n"
      .. tostring(err)
    return nil, load_error
  end
  loaded = kadoa
  return kadoa
end

return M
