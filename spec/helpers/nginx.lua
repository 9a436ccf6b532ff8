-- Start and stop a private nginx on loopback for the specs (TLS, the
-- nginx host suite) and the soak run: its own prefix, config, logs and
-- temp folders in a temp dir, nothing of the system's nginx set-up used.
-- This is the one place the specs start nginx.
--
--   local nginx = require("spec.helpers.nginx")
--   local dir = nginx.tempdir()
--   local srv = nginx.start(dir, [[ server { listen 127.0.0.1:%PORT% ssl; ... } ]])
--   srv.port, srv.pid, srv.url; srv:stop()
--   nginx.start(dir, conf, { port = srv.port })  -- the same port again
--   srv:wait_http("/ping", 200)   -- until it answers; raises with its log
--   srv:log_tail()                -- the end of what nginx said
--
-- "%PORT%" in the server blocks is replaced by the port (a free one unless
-- given). The server blocks go inside an http block this helper writes.
-- Options (all optional):
--   port          the port for %PORT%
--   lua = true    load the Lua module (ndk_http_module.so and
--                 ngx_http_lua_module.so from M.modules)
--   lua_package_path, lua_package_cpath   set in the http block
--   env = { NAME = value }   an `env NAME;` line each, and set in nginx's
--                 environment (nginx clears its workers' environment)
--   user          the `user` directive (only a root master uses it)
--   master = true a master and one worker, as nginx runs in production;
--                 else one process (no master), the default
--   conf          a whole configuration to use as it is instead (%PORT% is
--                 still replaced); then `pid` names the pid file it sets
--
-- nginx runs in the foreground, started from a shell that also watches
-- this Lua process: if the test run dies, the watcher stops nginx, so
-- nothing is left behind. When nginx does not come up, or does not answer
-- as wanted, the error carries the tail of its logs: a 500 from a worker
-- that could not read a file says why only there.
--
-- nginx is looked up as $KADOA_NGINX, /usr/sbin/nginx, then nginx on PATH;
-- its dynamic modules in $KADOA_NGINX_MODULES, else /usr/lib/nginx/modules
-- (Debian's nginx-extras).

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

M.modules = os.getenv("KADOA_NGINX_MODULES") or "/usr/lib/nginx/modules"

-- Run as root, nginx's workers become `nobody` unless told otherwise.
M.as_root = sh("id -u"):match("^0%s") ~= nil

local Server = {}
Server.__index = Server

local serial = 0

-- The main context and the http block around the caller's server blocks.
local function config(run, servers, opts)
  local main = {}
  if opts.lua then
    main[#main + 1] = "load_module " .. M.modules .. "/ndk_http_module.so;"
    main[#main + 1] = "load_module " .. M.modules .. "/ngx_http_lua_module.so;"
  end
  if opts.user then main[#main + 1] = "user " .. opts.user .. ";" end
  local names = {}
  for k in pairs(opts.env or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do main[#main + 1] = "env " .. k .. ";" end
  return table.concat({
    table.concat(main, "\n"),
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
    opts.lua_package_path and ('  lua_package_path "%s";'):format(opts.lua_package_path) or "",
    opts.lua_package_cpath and ('  lua_package_cpath "%s";'):format(opts.lua_package_cpath) or "",
    servers,
    "}",
  }, "\n")
end

-- The last n lines (default 30) of nginx's error log and its stdout/stderr.
local function log_tail(run, n)
  return sh(("tail -n %d %s %s 2>/dev/null"):format(n or 30,
    q(run .. "/error.log"), q(run .. "/out.log")))
end

function M.start(dir, servers, opts)
  opts = opts or {}
  serial = serial + 1
  local port = opts.port or mock.closed_port()
  local run = ("%s/nginx-%d"):format(dir, serial)
  os.execute("mkdir -p " .. q(run .. "/tmp"))
  local conf = opts.conf or config(run, servers, opts)
  conf = conf:gsub("%%PORT%%", tostring(port))
  local pidfile = opts.conf and assert(opts.pid, "nginx.start: a whole conf needs opts.pid")
    or run .. "/nginx.pid"
  local f = assert(io.open(run .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()

  local envs = {}
  for k, v in pairs(opts.env or {}) do envs[#envs + 1] = q(k .. "=" .. v) end
  -- nginx in the foreground, and a watcher that ends it when we go away
  local cmd = ("env %s %s -p %s -c %s -e %s -g %s >%s 2>&1 &"
    .. " n=$!; echo $n; ( while kill -0 %s 2>/dev/null && kill -0 $n 2>/dev/null; do sleep 0.5; done;"
    .. " kill $n 2>/dev/null ) >/dev/null 2>&1 &"):format(
    table.concat(envs, " "), q(M.binary), q(run), q(run .. "/nginx.conf"), q(run .. "/error.log"),
    q(opts.master and "daemon off;" or "daemon off; master_process off;"), q(run .. "/out.log"),
    self_pid())
  local pid = tonumber(sh(cmd):match("%d+"))
  assert(pid, "could not start nginx")

  -- nginx writes its pid file only once its sockets listen
  for _ = 1, 250 do
    if exists(pidfile) then break end
    local state = sh("awk '{print $3}' /proc/" .. pid .. "/stat 2>/dev/null")
    if state == "" or state:match("Z") then break end   -- it died: say why below
    os.execute("sleep 0.02")
  end
  if not exists(pidfile) then
    local log = log_tail(run)
    os.execute("kill " .. pid .. " 2>/dev/null")
    error("nginx did not start; its log ends:\n" .. log, 2)
  end
  return setmetatable({ port = port, pid = pid, dir = run,
                        url = "http://127.0.0.1:" .. port }, Server)
end

function Server:log_tail(n)
  return log_tail(self.dir, n)
end

-- GET url_path on loopback with curl (no proxy, whatever the environment
-- says): the HTTP status (nil when nothing answered) and the body.
function Server:get(path)
  local body = self.dir .. "/get.body"
  local code = sh(("curl -s --noproxy '*' -m 5 -o %s -w '%%{http_code}' %s 2>/dev/null"):format(
    q(body), q(self.url .. path)))
  local got = sub.read(body)
  os.remove(body)
  code = tonumber(code)
  if not code or code == 0 then return nil end
  return code, got
end

-- Wait (up to `seconds`, default 5) until nginx answers GET path, then
-- insist on `want` (a status): a server that answers otherwise, or never,
-- raises an error with what it answered and the tail of its logs.
function Server:wait_http(path, want, seconds)
  local code, body
  local tries = math.floor((seconds or 5) / 0.02)
  for _ = 1, tries do
    code, body = self:get(path)
    if code then break end
    os.execute("sleep 0.02")
  end
  if code == want then return body end
  error(("nginx %s: GET %s answered %s, not %s: %s\nits log ends:\n%s"):format(
    self.url, path, code and ("HTTP " .. code) or "nothing", tostring(want),
    tostring(body or ""):sub(1, 300), self:log_tail()), 2)
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
