-- kadoa.cli.cache: the command's Lua compiled once. Every command is a new
-- process, and compiling the modules it loads is most of what it costs
-- beyond loading libcurl. As Python's __pycache__ and Neovim's vim.loader
-- do, each kadoa module's bytecode is kept (unstripped: tracebacks are the
-- same) beside the exact path and source it came from, in the user's own
-- $XDG_CACHE_HOME/kadoa (0700, files 0600), and used only while that source
-- is byte for byte the same. Anything else, unreadable or unwritable, is a
-- miss: the module is compiled from source as without the cache.

local M = {}

local load = (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) and loadstring or load
local dump = string.dump

-- the folder for this interpreter, or nil (no HOME): Lua 5.4's and LuaJIT's
-- bytecode differ, and load() refuses another's, which is only a miss
local function folder(env)
  local base = env("XDG_CACHE_HOME")
  if not base or base == "" then
    local home = env("HOME")
    if not home or home == "" then return nil end
    base = home .. "/.cache"
  end
  local v = rawget(_G, "jit") and jit.version or _VERSION
  return base .. "/kadoa/" .. v:gsub("[^%w.]", "-")
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- an entry: "<path>\n<#source>\n<source><bytecode>"; the new one is written
-- whole and renamed into place, so a reader never sees half of one
local function store(dir, file, head, src, fn)
  local core = require("kadoa.core")
  local token = core.mkdir(dir, true) and core.token(8)
  if not token then return end
  local tmp = file .. "." .. token
  if core.private_file(tmp, head .. src .. dump(fn)) and not os.rename(tmp, file) then
    os.remove(tmp)
  end
end

---A searcher, put before the interpreter's own, for the modules named kadoa.*.
---@param env? fun(name: string): string|nil the environment (default os.getenv)
function M.install(env)
  local dir = package.searchpath and folder(env or os.getenv)   -- Lua 5.1: none
  if not dir then return end
  local searchers = package.searchers or package.loaders
  table.insert(searchers, 2, function(name)
    if name:sub(1, 6) ~= "kadoa." then return nil end
    local path = package.searchpath(name, package.path)
    local src = path and slurp(path)
    -- a first line "#..." or a byte-order mark: the interpreter's own loader
    if not src or src:find("^[#\239]") then return nil end
    local file = dir .. "/" .. name .. ".luac"
    local head = path .. "\n" .. #src .. "\n"
    local entry = slurp(file)
    local fn = entry and entry:sub(1, #head + #src) == head .. src
      and load(entry:sub(#head + #src + 1), "@" .. path, "b")
    if not fn then
      -- a syntax error is left to the interpreter's loader to report
      fn = load(src, "@" .. path)
      if not fn then return nil end
      pcall(store, dir, file, head, src, fn)
    end
    return fn, path
  end)
end

return M
