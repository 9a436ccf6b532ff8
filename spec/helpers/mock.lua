-- Start and stop the mock Kadoa server (spec/mock/server.py) from a spec.
--
--   local mock = require("spec.helpers.mock")
--   local srv = mock.start({ key = "test-key" })  -- every option is optional
--   srv.port, srv.url, srv.key, srv.pid           -- url = "http://127.0.0.1:PORT"
--   srv:stop()                                    -- idempotent
--   srv:log_tail()                                -- the end of its stderr
--   mock.closed_port()                            -- a loopback port nobody listens on
--
-- mock.start options: key (default "test-key"), port (default 0: any free
-- port), verbose (server logs to stderr), args (a list of extra server flags,
-- each "--name" or "--name=value", e.g. { "--break-contract" }).  The interpreter is
-- $KADOA_MOCK_PYTHON, else /usr/bin/python3, else python3 from PATH.
--
-- The server is started with --die-with-parent, so it goes away with the
-- Lua process even when a spec forgets to stop it or the run crashes.
--
-- Plain Lua for 5.1, 5.3, 5.4 and LuaJIT.

local M = {}

local function shell_quote(s)
  return "'" .. (s:gsub("'", "'\\''")) .. "'"
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- spec/mock/server.py, found next to this file so the cwd does not matter.
local function server_path()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)[/\\]helpers[/\\][^/\\]+$")
  if dir then return dir .. "/mock/server.py" end
  return "spec/mock/server.py"
end

M.server_path = server_path()

M.python = os.getenv("KADOA_MOCK_PYTHON")
  or (file_exists("/usr/bin/python3") and "/usr/bin/python3")
  or "python3"

local Server = {}
Server.__index = Server

function M.start(opts)
  opts = opts or {}
  local key = opts.key
  if key == nil then key = "test-key" end
  if type(key) ~= "string" or key:find("\0", 1, true) then
    error("mock.start: key must be a string without NUL bytes", 2)
  end
  local port = tonumber(opts.port or 0)
  if not port or port < 0 or port > 65535 or port % 1 ~= 0 then
    error("mock.start: bad port " .. tostring(opts.port), 2)
  end

  local extra = ""
  for _, a in ipairs(opts.args or {}) do
    if type(a) ~= "string" or not a:match("^%-%-") then
      error("mock.start: args must be strings starting with \"--\"", 2)
    end
    extra = extra .. " " .. shell_quote(a)
  end

  local cmd = "exec " .. shell_quote(M.python) .. " " .. shell_quote(M.server_path)
    .. " --port " .. string.format("%d", port)
    .. " --key=" .. shell_quote(key)
    .. " --die-with-parent"
    .. (opts.verbose and " --verbose" or "")
    .. extra
  -- what the server says on stderr is kept (unless verbose, when it goes
  -- to the terminal), so a server that never comes up can say why
  local errlog = not opts.verbose and os.tmpname() or nil
  if errlog then cmd = cmd .. " 2>" .. shell_quote(errlog) end
  local f, err = io.popen(cmd, "r")
  if not f then
    error("mock.start: cannot run " .. cmd .. ": " .. tostring(err), 2)
  end
  local line = f:read("*l")
  local p, pid = (line or ""):match("^(%d+) (%d+)$")
  if not p then
    f:close()
    local said = ""
    if errlog then
      local ef = io.open(errlog, "r")
      if ef then said = ef:read("*a"):sub(-2000) ef:close() end
      os.remove(errlog)
    end
    error("mock.start: the mock server did not start (expected \"PORT PID\", got "
      .. (line and ("%q"):format(line) or "nothing")
      .. "; is python3 installed? command: " .. cmd .. ")"
      .. (said ~= "" and ("\nits stderr ends:\n" .. said) or ""), 2)
  end

  return setmetatable({
    port = tonumber(p),
    pid = tonumber(pid),
    url = "http://127.0.0.1:" .. p,
    key = key,
    _pipe = f,
    _errlog = errlog,
  }, Server)
end

-- SIGTERM, then wait (pclose) for the exit.  The server exits at once on
-- SIGTERM; should it not within 2 s, it gets SIGKILL so a run never hangs
-- here.  The pid cannot have been reused: it is our unreaped child.
function Server:stop()
  local f = self._pipe
  if not f then return end
  self._pipe = nil
  local pid = string.format("%d", self.pid)
  os.execute("kill -TERM " .. pid .. " 2>/dev/null; i=0; while [ $i -lt 40 ]; do"
    .. " s=$(awk '{print $3}' /proc/" .. pid .. "/stat 2>/dev/null);"
    .. " { [ -z \"$s\" ] || [ \"$s\" = Z ]; } && break; sleep 0.05; i=$((i+1)); done;"
    .. " [ $i -lt 40 ] || kill -KILL " .. pid .. " 2>/dev/null")
  f:close()
  if self._errlog then os.remove(self._errlog) self._errlog = nil end
end

-- The tail of what the server wrote to stderr (empty when verbose).
function Server:log_tail()
  local ef = self._errlog and io.open(self._errlog, "r")
  if not ef then return "" end
  local s = ef:read("*a")
  ef:close()
  return s:sub(-2000)
end

-- A loopback port with nothing listening on it: bound to port 0 by a short
-- python process that prints the port and exits, releasing it.
function M.closed_port()
  local f = io.popen(shell_quote(M.python) .. " -c " .. shell_quote(
    "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
    .. "print(s.getsockname()[1]); s.close()"), "r")
  local line = f and f:read("*l")
  if f then f:close() end
  local port = tonumber(line or "")
  if not port then error("mock.closed_port: could not get a free port from " .. M.python, 2) end
  return port
end

return M
