-- kadoa.cli.env: the outside world the command talks to, in one table so
-- that specs can run the command in-process with a world of their own.
--
--   env.stdout, env.stderr   streams: :write(s) (and :flush() when present)
--   env.getenv(name)         the environment (os.getenv)
--   env.is_terminal()        is stdout a terminal?
--   env.width()              the terminal's columns
--   env.read_key_file(path)  the start of a key file -> text | nil, message
--                            ("-" reads stdin; at most 65537 bytes)
--   env.read_file(path)      a whole file (crawl --body) -> text | nil, message
--                            ("-" reads stdin)
--
-- new(env) fills in whatever a given env leaves out with the real thing.

local M = {}

-- Is stdout a terminal? Plain Lua cannot ask; the C core can (isatty).
---@return boolean
function M.is_terminal() return require("kadoa.core").isatty(1) end

-- size() -> lines, columns of the terminal; 24, 80 when it does not say
-- or is smaller than 3 x 20. The one place the command asks; the C core
-- reads it from the terminal (no stty process).
---@return integer lines
---@return integer columns
function M.size()
  local lines, cols = require("kadoa.core").term_size()
  if not lines or lines < 3 or cols < 20 then return 24, 80 end
  return lines, cols
end

---@return integer columns
function M.width() return (select(2, M.size())) end

---@param path string "-": stdin
---@param limit? integer bytes to read at most (default: all)
---@return string|nil text
---@return string|nil message
function M.read_file(path, limit)
  local f, msg
  if path == "-" then f = io.stdin else f, msg = io.open(path, "rb") end
  if not f then return nil, msg or path end
  local text = f:read(limit or "*a") or (limit and "")
  if f ~= io.stdin then f:close() end
  if not text then return nil, path .. ": cannot be read" end
  return text
end

-- A key is short; /dev/zero is not: one byte past the limit is read, so
-- the caller can tell a key file that is too large.
---@param path string "-": stdin
---@return string|nil text at most 65537 bytes
---@return string|nil message
function M.read_key_file(path) return M.read_file(path, 65537) end

-- interrupted(e): e is the error Lua raises on Ctrl-C ("interrupted!")
---@param e any what pcall caught
---@return boolean
function M.interrupted(e)
  return type(e) == "string" and e:find("interrupted!", 1, true) ~= nil
end

---@param env? table overrides: stdout, stderr, getenv, is_terminal, width, ...
---@return table env
function M.new(env)
  env = env or {}
  return {
    stdout = env.stdout or io.stdout,
    stderr = env.stderr or io.stderr,
    getenv = env.getenv or os.getenv,
    is_terminal = env.is_terminal or M.is_terminal,
    width = env.width or M.width,
    read_key_file = env.read_key_file or M.read_key_file,
    read_file = env.read_file or M.read_file,
  }
end

return M
