-- kadoa.cli.env: the outside world the command talks to, in one table, so
-- specs can run the command in-process in a world of their own: stdout,
-- stderr, getenv, is_terminal, width, read_key_file, read_file ("-": stdin).
-- new(env) fills in what a given env leaves out with the real thing.

local M = {}

---@return boolean stdout is a terminal (plain Lua cannot ask; the core can)
function M.is_terminal() return require("kadoa.core").isatty(1) end

-- size(): the one place the command asks (an ioctl); 24 x 80 when the
-- terminal does not say or is smaller than 3 x 20.
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

-- One byte past the limit is read, so a key file too large shows (/dev/zero).
---@param path string "-": stdin
---@return string|nil text at most 65537 bytes
---@return string|nil message
function M.read_key_file(path) return M.read_file(path, 65537) end

---@param e any what pcall caught
---@return boolean it is the error Lua raises on Ctrl-C
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
