-- Start and stop a private nginx on loopback for the TLS specs and the
-- soak run: its own prefix, config, logs and temp folders in a temp dir,
-- nothing of the system's nginx set-up used.
--
--   local nginx = require("spec.helpers.nginx")
--   local dir = nginx.tempdir()
--   local srv = nginx.start(dir, [[ server { listen 127.0.0.1:%PORT% ssl; ... } ]])
--   srv.port, srv.pid; srv:stop()
--   nginx.start(dir, conf, { port = srv.port })  -- the same port again
--
-- "%PORT%" in the server blocks is replaced by the port (a free one unless
-- given). nginx runs as one process in the foreground (no daemon, no
-- master), started from a shell that also watches this Lua process: if the
-- test run dies, the watcher stops nginx, so nothing is left behind.
--
-- nginx is looked up as $KADOA_NGINX, /usr/sbin/nginx, then nginx on PATH.

local mock = require("spec.helpers.mock")
local sub = require("spec.helpers.subprocess")
local exists = sub.exists

local M = {}

local q = sub.quote
M.quote = q

local sh = sub.sh
M.sh = sh

M.binary = os.getenv("KADOA_NGINX")
  or (exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
  or "nginx"

-- true if nginx can be run here
function M.available()
  return sh(q(M.binary) .. " -v 2>&1"):find("nginx version", 1, true) ~= nil
end

-- A fresh private temp folder (removed by M.remove).
function M.tempdir()
  local d = sh("mktemp -d 2>/dev/null"):gsub("%s+$", "")
  assert(d ~= "" and d:sub(1, 1) == "/", "mktemp -d failed")
  return d
end

function M.remove(dir)
  if dir and dir:match("^/tmp/") then os.execute("rm -rf " .. q(dir)) end
end

-- The pid of this Lua process: the parent of the shell io.popen starts.
local lua_pid
local function self_pid()
  lua_pid = lua_pid or sh("echo $PPID"):match("%d+")
  return lua_pid
end

local Server = {}
Server.__index = Server

local serial = 0

function M.start(dir, servers, opts)
  opts = opts or {}
  serial = serial + 1
  local port = opts.port or mock.closed_port()
  local run = ("%s/nginx-%d"):format(dir, serial)
  os.execute("mkdir -p " .. q(run .. "/tmp"))
  local conf = table.concat({
    "worker_processes 1;",
    "pid " .. run .. "/nginx.pid;",
    "error_log " .. run .. "/error.log warn;",
    "events { worker_connections 1024; }",
    "http {",
    "  access_log off;",
    "  client_body_temp_path " .. run .. "/tmp/body;",
    "  proxy_temp_path " .. run .. "/tmp/proxy;",
    "  fastcgi_temp_path " .. run .. "/tmp/fastcgi;",
    "  uwsgi_temp_path " .. run .. "/tmp/uwsgi;",
    "  scgi_temp_path " .. run .. "/tmp/scgi;",
    "  keepalive_requests 1000000;",
    (servers:gsub("%%PORT%%", tostring(port))),
    "}",
  }, "\n")
  local f = assert(io.open(run .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()

  -- nginx in the foreground, and a watcher that ends it when we go away
  local cmd = ("%s -p %s -c %s -e %s -g 'daemon off; master_process off;' >%s 2>&1 &"
    .. " n=$!; echo $n; ( while kill -0 %s 2>/dev/null && kill -0 $n 2>/dev/null; do sleep 0.5; done;"
    .. " kill $n 2>/dev/null ) >/dev/null 2>&1 &"):format(
    q(M.binary), q(run), q(run .. "/nginx.conf"), q(run .. "/error.log"), q(run .. "/out.log"),
    self_pid())
  local pid = tonumber(sh(cmd):match("%d+"))
  assert(pid, "could not start nginx")

  -- nginx writes its pid file only once its sockets listen
  for _ = 1, 200 do
    if exists(run .. "/nginx.pid") then break end
    local state = sh("awk '{print $3}' /proc/" .. pid .. "/stat 2>/dev/null")
    if state == "" or state:match("Z") then break end   -- it died: say why below
    os.execute("sleep 0.02")
  end
  if not exists(run .. "/nginx.pid") then
    local log = sh("cat " .. q(run .. "/error.log") .. " " .. q(run .. "/out.log") .. " 2>/dev/null")
    os.execute("kill " .. pid .. " 2>/dev/null")
    error("nginx did not start: " .. log, 2)
  end
  return setmetatable({ port = port, pid = pid, dir = run,
                        url = "http://127.0.0.1:" .. port }, Server)
end

-- SIGTERM (QUIT would wait for keep-alive clients) and wait until it is gone.
function Server:stop()
  if not self.pid then return end
  local pid = string.format("%d", self.pid)
  self.pid = nil
  os.execute("kill -TERM " .. pid .. " 2>/dev/null; i=0; while [ $i -lt 100 ]; do"
    .. " s=$(awk '{print $3}' /proc/" .. pid .. "/stat 2>/dev/null);"
    .. " { [ -z \"$s\" ] || [ \"$s\" = Z ]; } && break; sleep 0.02; i=$((i+1)); done;"
    .. " [ $i -lt 100 ] || kill -KILL " .. pid .. " 2>/dev/null")
end

return M
