-- kadoa.cli.cache: the command's Lua compiled once. Every command is a new
-- process, and compiling the modules it loads is most of what it costs
-- beyond loading libcurl. As Python's __pycache__ and Neovim's vim.loader
-- do, each kadoa module's bytecode is kept (unstripped: tracebacks are the
-- same) in the user's own $XDG_CACHE_HOME/kadoa (0700, files 0600), beside
-- the path and the stamp (size, modification time, inode) of the source it
-- came from, and used only while the source has that stamp. Anything else,
-- unreadable or unwritable, is a miss: the module is compiled as without
-- the cache.

local M = {}

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

-- an entry: "<path>\n<stamp>\n<bytecode>", the stamp (core.stamp: size,
-- modification time, inode) of the source it was compiled from; written
-- whole and renamed into place, so a reader never sees half of one
local function store(core, dir, file, head, fn)
  local token = core.mkdir(dir, true) and core.token(8)
  if not token then return end
  local tmp = file .. "." .. token
  if core.private_file(tmp, head .. dump(fn)) and not os.rename(tmp, file) then
    os.remove(tmp)
  end
end

---A searcher, put before the interpreter's own, for the modules named kadoa.*.
---It loads kadoa.core (libcurl) to read the files' stamps: a command that
---talks to the API loads it anyway.
---@param env? fun(name: string): string|nil the environment (default os.getenv)
function M.install(env)
  local dir = package.searchpath and folder(env or os.getenv)   -- Lua 5.1: none
  if not dir then return end
  local ok, core = pcall(require, "kadoa.core")
  if not ok then return end
  local searchers = package.searchers or package.loaders
  table.insert(searchers, 2, function(name)
    if name:sub(1, 6) ~= "kadoa." then return nil end
    local path = package.searchpath(name, package.path)
    local stamp = path and core.stamp(path)
    if not stamp then return nil end
    local file = dir .. "/" .. name .. ".luac"
    local head = path .. "\n" .. stamp .. "\n"
    local entry = slurp(file)
    local fn = entry and entry:sub(1, #head) == head and load(entry:sub(#head + 1), "@" .. path, "b")
    if not fn then
      -- compiled as the interpreter's own loader does; a syntax error is
      -- left to that loader to report
      fn = loadfile(path)
      if not fn then return nil end
      pcall(store, core, dir, file, head, fn)
    end
    return fn, path
  end)
end

return M
