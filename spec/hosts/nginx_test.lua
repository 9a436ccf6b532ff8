-- The OpenResty / nginx-lua host suite: kadoa.resty inside a real nginx
-- (Debian's nginx-extras, lua-nginx-module on LuaJIT) started by this
-- spec with its own configuration on loopback and exactly one worker,
-- against the real mock server. Run by `make test-nginx`:
--
--   busted --lua=luajit --cpath='build/luajit/?.so' spec/hosts/nginx_test.lua
--
-- (not named *_spec.lua, so `make test` does not run it on every Lua).
-- The requests to nginx are made with LuaSocket, from outside, the way
-- browsers and dashboards would. Measured numbers are printed.

local kadoa = require("kadoa")
local mock = require("spec.helpers.mock")
local face = require("spec.helpers.face")
local certs = require("spec.helpers.certs")
local cjson = require("cjson")
local socket = require("socket")

local KEY = "sk-nginx-test-3a9f"
local ROOT = os.getenv("PWD")

local sub = require("spec.helpers.subprocess")
local q, sh, write = sub.quote, sub.sh, sub.write

local nginx = require("spec.helpers.nginx")
local MODULES = nginx.modules

---------------------------------------------------------------------------
-- HTTP from outside: HTTP/1.0, so nginx answers plainly and closes

local function send_get(port, path)
  local c = assert(socket.tcp())
  c:settimeout(15)
  assert(c:connect("127.0.0.1", port))
  assert(c:send("GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
  return c
end

local function read_response(c)
  local data, err, partial = c:receive("*a")
  c:close()
  data = data or partial
  assert(data and data ~= "", "no response: " .. tostring(err))
  local status = tonumber(data:match("^HTTP/%d%.%d (%d%d%d)"))
  local head, body = data:match("^(.-)\r\n\r\n(.*)$")
  return status, body, head
end

local function get(port, path)
  local t0 = socket.gettime()
  local status, body, head = read_response(send_get(port, path))
  return status, body, socket.gettime() - t0, head
end

local function get_json(port, path)
  local status, body, elapsed = get(port, path)
  local ok, v = pcall(cjson.decode, body)
  assert(ok, "not JSON (HTTP " .. tostring(status) .. "): " .. tostring(body))
  return v, status, elapsed
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-_.~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function query(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = k .. "=" .. urlencode(v) end
  table.sort(parts)
  return table.concat(parts, "&")
end

---------------------------------------------------------------------------
-- The configuration under test

local LOCATIONS = [=[
    default_type application/json;

    location = /ping {
      content_by_lua_block { ngx.say(ngx.worker.pid()) }
    }

    # kadoa.resty.status with the options in the query; the result as JSON
    location = /status {
      content_by_lua_block {
        local kadoa = require("kadoa.resty")
        local t = require("kadoa_test")
        local a = ngx.req.get_uri_args()
        ngx.update_time()
        local t0 = ngx.now()
        local res, err = kadoa.status(a.id, t.options(a))
        ngx.update_time()
        t.reply(res, err, { ms = (ngx.now() - t0) * 1000 })
      }
    }

    # the blocking C core inside nginx: what kadoa.resty exists to avoid
    location = /blocking {
      content_by_lua_block {
        local c = require("kadoa").client({ retries = 0 })
        local res, err = c:status(ngx.var.arg_id)
        c:close()
        require("kadoa_test").reply(res, err, {})
      }
    }

    # n status calls at once from one request, on light threads
    location = /many {
      content_by_lua_block {
        local kadoa = require("kadoa.resty")
        local n, id = tonumber(ngx.var.arg_n), ngx.var.arg_id
        ngx.update_time()
        local t0 = ngx.now()
        local threads = {}
        for i = 1, n do
          threads[i] = ngx.thread.spawn(function() return kadoa.status(id .. "-" .. i) end)
        end
        local good = 0
        for i = 1, n do
          local _, res = ngx.thread.wait(threads[i])
          if type(res) == "table" and res.sessionId == id .. "-" .. i then good = good + 1 end
        end
        ngx.update_time()
        ngx.say(require("cjson").encode({ good = good, ms = (ngx.now() - t0) * 1000 }))
      }
    }

    # client:status_many on light threads: each id's value as /status
    # replies it, the order on_result saw, the time taken; raise=<id>: an
    # on_result that raises at that id
    location = /status_many {
      content_by_lua_block {
        local a = ngx.req.get_uri_args()
        local t = require("kadoa_test")
        local c = assert(require("kadoa.resty").client({ retries = 0 }))
        local ids = {}
        for id in a.ids:gmatch("[^,]+") do ids[#ids + 1] = id end
        local order = {}
        ngx.update_time()
        local t0 = ngx.now()
        local ok, res, err = pcall(c.status_many, c, ids, {
          concurrency = tonumber(a.concurrency), raw = a.raw == "1",
          on_result = function(id)
            order[#order + 1] = id
            if id == a.raise then error("stop at " .. id, 0) end
          end })
        ngx.update_time()
        local out = { order = order, ms = (ngx.now() - t0) * 1000, raised = not ok and res or nil,
                      values = {} }
        if ok and res then
          for id, v in pairs(res) do out.values[id] = t.value(v) end
        end
        t.reply(nil, err, out)
      }
    }

    # any route through kadoa.resty's client and kadoa.engine: the method,
    # body and unsafe flag from the query
    location = /call {
      content_by_lua_block {
        local a = ngx.req.get_uri_args()
        local t = require("kadoa_test")
        local c = assert(require("kadoa.resty").client(t.options(a)))
        local call = { route = require("kadoa.core").route(a.method, "/v4/crawl/{session id}/status"),
                       unsafe = a.method == "POST" }
        local rq = { call = call, a.id, extra = a.body and { body = a.body } }
        local res, err = require("kadoa.engine").run(c, rq)
        t.reply(res, err, {})
      }
    }

    # the outcome record the cosocket transport makes for a status call
    location = /record {
      content_by_lua_block {
        local a = ngx.req.get_uri_args()
        local t = require("kadoa_test")
        local c = assert(require("kadoa.resty").client(t.options(a)))
        local route = require("kadoa.api").calls.status.route
        local res, r = c.transport:fetch(route, tonumber(a.timeout), nil, a.id)
        c:close()
        if res ~= nil then r = { value = true } end
        r.elapsed, r.json = nil, r.json and true
        ngx.say(require("cjson").encode(r))
      }
    }

    # client:status_json's body as it is; which calls of kadoa.api the
    # client lacks as methods
    location = /json {
      content_by_lua_block {
        local c = assert(require("kadoa.resty").client())
        local missing = {}
        for name in pairs(require("kadoa.api").calls) do
          if type(c[name]) ~= "function" then missing[#missing + 1] = name end
        end
        local body, err = c:status_json(ngx.var.arg_id, { timeout = 5 })
        c:close()
        ngx.header["x-missing"] = "[" .. table.concat(missing, ",") .. "]"
        ngx.header["x-closed"] = tostring(c:closed())
        ngx.print(body or tostring(err))
      }
    }

    # a GET that leaves its connection in the pool, a POST, a GET again:
    # against the spec's own little server, which counts what arrives
    location = /post-after-pool {
      content_by_lua_block {
        local t = require("kadoa_test")
        local c = assert(require("kadoa.resty").client(t.options(ngx.req.get_uri_args())))
        local warm, werr = c:status("warm")
        local call = { route = require("kadoa.core").route("POST", "/v4/crawl/{session id}/status"),
                       unsafe = true }
        local rq = { call = call, "post-1", extra = { body = '{"n":1}' } }
        local res, err = require("kadoa.engine").run(c, rq)
        local again, aerr = c:status("again")
        t.reply(res, err, { warm = warm and warm.sessionId or tostring(werr),
                            again = again and again.sessionId or tostring(aerr) })
      }
    }

    # the face walk (spec/helpers/face.lua) over kadoa.resty's front ends:
    # the method, the kadoa.resty.NAME shortcut, many; `path` refused
    # naming kadoa.resty, and so is send. The ids come in the query.
    location = /face {
      content_by_lua_block {
        local a = ngx.req.get_uri_args()
        local face = require("spec.helpers.face")
        local errors = require("kadoa.errors")
        local kr = require("kadoa.resty")
        local c = assert(kr.client({ retries = 0 }))
        local fronts = {
          method = function(name, args) return c[name](c, unpack(args)) end,
          shortcut = function(name, args) return kr[name](unpack(args)) end,
          many = function(name, args)
            local r, e = c:many(name, { args })
            if not r then return nil, e end
            if errors.is(r[1]) then return nil, r[1] end
            return r[1]
          end,
        }
        local failures, n = {}, 0
        for fname, front in pairs(fronts) do
          for _, case in ipairs(face.cases(a, a.dir, { path = "kadoa.resty" })) do
            n = n + 1
            local ok, why = face.judge(case, front(case.name, case.args))
            if not ok then failures[#failures + 1] = fname .. ": " .. why end
          end
        end
        local _, serr = c:send("status", a.session)
        if not (serr and serr.kind == "usage" and serr.message:find("kadoa.resty", 1, true)) then
          failures[#failures + 1] = "send: " .. tostring(serr)
        end
        ngx.say(require("cjson").encode({ n = n, failures = failures }))
      }
    }

    # a crawl started with a callback to the URL in the query (dict: the
    # client's callback_dict), its result
    location = /cb/start {
      content_by_lua_block {
        local a = ngx.req.get_uri_args()
        local c = assert(require("kadoa.resty").client({ retries = 0, callback_dict = a.dict }))
        local res, err = c:crawl(a.url, { callback = a.callback })
        require("kadoa_test").reply(res, err, {})
      }
    }

    # the receiver, with nginx's own body limit left at 1m so that its own
    # is what refuses; on_finished counts per session
    location = /cb/hook {
      content_by_lua_block {
        require("kadoa.resty.callback").handle({ confirm = 2, on_finished = function(status)
          ngx.shared.cb_seen:incr(status.sessionId, 1, 0)
        end })
      }
    }

    location = /cb/seen {
      content_by_lua_block { ngx.say(ngx.shared.cb_seen:get(ngx.var.arg_id) or 0) }
    }

    # client:each_page with follow: every page as it is crawled, on the
    # schedule in the query; the ids in the order they came, the time to
    # the first and to the end. typo=1: a misspelt option's error instead
    location = /follow {
      content_by_lua_block {
        local a = ngx.req.get_uri_args()
        local t = require("kadoa_test")
        local c = assert(require("kadoa.resty").client({ retries = 1 }))
        local opts = { follow = true, interval = tonumber(a.interval), max_interval = 0.3, jitter = 0,
                       page_size = tonumber(a.page_size) }
        if a.typo then opts.intervl = 1 end
        ngx.update_time()
        local t0, first = ngx.now(), nil
        local ids, err = {}, nil
        for page, e in c:each_page(a.id, opts) do
          if not page then err = e break end
          ngx.update_time()
          first = first or (ngx.now() - t0) * 1000
          ids[#ids + 1] = page.id
        end
        ngx.update_time()
        t.reply(nil, err, { ids = ids, first_ms = first, ms = (ngx.now() - t0) * 1000 })
      }
    }

    # client:export: refused inside nginx, whatever it is given
    location = /export {
      content_by_lua_block {
        local c = assert(require("kadoa.resty").client())
        local res, err = c:export(ngx.var.arg_id, ngx.var.arg_dir, { follow = true })
        require("kadoa_test").reply(res, err, {})
      }
    }

    location = /wait {
      content_by_lua_block {
        local kadoa = require("kadoa.resty")
        local t = require("kadoa_test")
        local a = ngx.req.get_uri_args()
        local updates = 0
        ngx.update_time()
        local t0 = ngx.now()
        local res, err = kadoa.wait(a.id, { interval = tonumber(a.interval), jitter = 0,
          timeout = tonumber(a.timeout), on_update = function() updates = updates + 1 end })
        ngx.update_time()
        t.reply(res, err, { updates = updates, ms = (ngx.now() - t0) * 1000 })
      }
    }
]=]

local TEST_MODULE = [=[
-- helpers for the test locations
local cjson = require("cjson").new()
local M = {}
function M.options(a)
  local o = {}
  if a.base then o.base_url = a.base end
  for _, k in ipairs({ "timeout", "retries", "max_body", "retry_base", "retry_cap",
                       "connect_timeout", "pool_size" }) do
    if a[k] then o[k] = tonumber(a[k]) end
  end
  if a.ca_file then o.ca_file = a.ca_file end
  return o
end
-- an error value as the facts to compare, anything else as it is
function M.value(v)
  if require("kadoa.errors").is(v) then
    return { err = { kind = v.kind, message = v.message, status = v.status, attempts = v.attempts } }
  end
  return { res = v }
end
function M.reply(res, err, extra)
  local out = { res = res, pid = ngx.worker.pid() }
  if err then
    out.err = { kind = err.kind, message = err.message, status = err.status,
                request_id = err.request_id, retry_after = err.retry_after,
                details = err.details, attempts = err.attempts, sent = err.sent,
                is_error = getmetatable(err) == require("kadoa.errors").Error,
                text = tostring(err) }
  end
  for k, v in pairs(extra) do out[k] = v end
  ngx.say(cjson.encode(out))
end
return M
]=]

-- The server blocks; nginx.start writes the rest (modules, env, paths).
local function servers(dir, ports)
  local out = {
    "  lua_ssl_trusted_certificate " .. dir .. "/ca.pem;",
    "  lua_ssl_verify_depth 2;",
    -- a host name is never looked up off this machine, even by mistake:
    -- the resolver is a closed loopback port
    "  resolver 127.0.0.1:" .. ports.dns .. " valid=1s;",
    "  resolver_timeout 1s;",
    "  lua_shared_dict kadoa_callbacks 1m;",
    "  lua_shared_dict cb_seen 1m;",
    "  server {",
    "    listen 127.0.0.1:%PORT%;",
    LOCATIONS,
    "  }",
  }
  -- TLS in front of the mock server, with three certificates
  for _, cert in ipairs({ "good", "wrong", "self" }) do
    out[#out + 1] = ([[
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s/%s.pem;
    ssl_certificate_key %s/%s.key;
    location / {
      proxy_pass http://127.0.0.1:%d;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }]]):format(ports[cert], dir, cert, dir, cert, ports.mock)
  end
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------

describe("kadoa.resty in nginx", function()
  local srv, dir, ngx_srv, ports, core_client
  local measured = {}

  setup(function()
    srv = mock.start({ key = KEY })
    dir = sh("mktemp -d"):gsub("%s+$", "")
    assert(dir:match("^/tmp/"), "mktemp -d failed")
    -- when run as root, nginx's worker runs as nobody and must read in here
    os.execute("chmod 755 " .. q(dir))
    -- the good leaf has an IP SAN only (spec/helpers/certs.lua says why):
    -- host names would need nginx's resolver, which a test cannot rely on
    certs.make(dir)
    write(dir .. "/kadoa_test.lua", TEST_MODULE)
    ports = { mock = srv.port }
    for _, k in ipairs({ "http", "good", "wrong", "self", "dns" }) do ports[k] = mock.closed_port() end
    ngx_srv = nginx.start(dir, servers(dir, ports), {
      port = ports.http, lua = true, master = true,
      -- as root, the worker would be nobody, who may not read this tree
      user = nginx.as_root and "root" or nil,
      env = { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url },
      lua_package_path = ("%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;%s/?.lua;;"):format(ROOT, ROOT, dir, ROOT),
      lua_package_cpath = ("%s/build/luajit/?.so;;"):format(ROOT),
    })
    -- the worker may still be starting: wait until it answers
    ngx_srv:wait_http("/ping", 200)
    core_client = assert(kadoa.client({ api_key = KEY, base_url = srv.url, retries = 0,
                                        max_body = 200000 }))
  end)

  teardown(function()
    if core_client then core_client:close() end
    if ngx_srv then ngx_srv:stop() end
    if srv then srv:stop() end
    -- nginx's own complaints, if any, help more than a 500 page
    local log = ngx_srv
      and sh("grep -v ' \\[notice\\] ' " .. q(ngx_srv.dir .. "/error.log") .. " 2>/dev/null") or ""
    if log ~= "" and os.getenv("KADOA_NGINX_LOG") then io.stderr:write("\nnginx error.log:\n", log) end
    if dir and dir:match("^/tmp/") then os.execute("rm -rf " .. q(dir)) end
    if next(measured) then
      io.stderr:write("\n")
      for _, k in ipairs({ "pings", "blocking", "one", "twenty", "many", "wait", "follow" }) do
        if measured[k] then io.stderr:write("measured: ", measured[k], "\n") end
      end
    end
  end)

  local function status(id, opts)
    local o = { id = id }
    for k, v in pairs(opts or {}) do o[k] = v end
    return get_json(ports.http, "/status?" .. query(o))
  end

  describe("gives the core's results and errors", function()
    -- the error text of these comes from the response, the decoder or the
    -- facts of the outcome record (kadoa.errors words both transports'), so
    -- it must match word for word; for the others (libcurl's own words
    -- against the socket's) the kind and facts do
    local same_message = {
      ["status-404"] = true, ["status-500"] = true, ["status-400"] = true,
      ["old-shape-401"] = true, ["html-502"] = true, ["text-503"] = true, ["empty-404"] = true,
      ["retry-after-7"] = true, ["request-id"] = true, ["amzn-request-id"] = true,
      ["leak-key"] = true, redirect = true, ["invalid-json"] = true, ["json-array"] = true,
      ["empty-200"] = true, ["json-string"] = true, ["json-null"] = true,
      ["huge-300000"] = true, ["huge-chunked-300000"] = true,
    }
    local ids = {
      "sess-1", "types", "nulls", "failed", "invalid-utf8", "gzip", "huge-chunked-100000",
      "huge-150000", "nested-50", "big-header-50000", "json-string", "json-null",
      "status-404", "status-500", "status-400", "old-shape-401", "html-502", "text-503",
      "empty-404", "retry-after-7", "retry-after-junk", "request-id", "amzn-request-id",
      "leak-key", "redirect", "invalid-json", "json-array", "empty-200", "gzip-corrupt",
      "truncated", "reset", "reset-mid-body", "chunked-cut", "huge-300000",
      "huge-chunked-300000", "big-header-200000", "nested-2000", "%2F..%2F", "..", "a b/c?d#e",
    }
    local function fresh(rid)
      if type(rid) == "string" and rid:match("^%x+%-%x+%-4%x+%-%x+%-%x+$") then return "<uuid>" end
      return rid
    end
    for _, id in ipairs(ids) do
      it(id, function()
        local want, werr = core_client:status(id)
        local got = status(id, { retries = 0, max_body = 200000 })
        if want then
          assert.is_nil(got.err and got.err.text)
          -- compare as JSON would carry them
          assert.are.same(cjson.decode(cjson.encode(want)), got.res)
        else
          assert.is_nil(got.res)
          local e = got.err
          assert.is_true(e.is_error)
          assert.are.equal(werr.kind, e.kind, tostring(werr) .. " / " .. e.text)
          assert.are.equal(werr.status, e.status)
          assert.are.equal(werr.retry_after, e.retry_after)
          assert.are.equal(fresh(werr.request_id), fresh(e.request_id))
          assert.are.equal(werr.sent, e.sent, id)
          if same_message[id] then assert.are.equal(werr.message, e.message) end
          assert.is_nil(e.text:find(KEY, 1, true))
        end
      end)
    end
  end)

  it("makes the outcome records the libcurl core makes: the same facts, no wording", function()
    local route = require("kadoa.api").calls.status.route
    local closed = "http://127.0.0.1:" .. mock.closed_port()
    -- id, options; `detail` is each layer's own text, compared only where
    -- neither transport's words are in it (an answer's record has none)
    for _, row in ipairs({
      { "status-503" }, { "html-502" }, { "empty-404" }, { "leak-key" }, { "request-id" },
      { "retry-after-7" }, { "redirect" }, { "empty-200" }, { "json-array" }, { "invalid-json" },
      { "reset" }, { "truncated" }, { "chunked-cut" }, { "gzip-corrupt" }, { "big-header-200000" },
      { "huge-300000" }, { "huge-chunked-300000" }, { "hang", timeout = 0.3 }, { "x", base = closed },
    }) do
      local id = row[1]
      local c = row.base and assert(kadoa.client({ api_key = KEY, base_url = row.base, retries = 0 }))
        or core_client
      local _, want = c.transport:fetch(route, row.timeout, nil, id)
      local got = get_json(ports.http, "/record?" .. query({ id = id, timeout = row.timeout,
                                                             base = row.base, max_body = 200000 }))
      for _, k in ipairs({ "failure", "status", "body", "content_type", "retry_after", "sent",
                           "max_body", "size" }) do
        assert.are.equal(want[k], got[k], id .. ": " .. k)
      end
      assert.are.equal(want.json ~= nil, got.json == true, id .. ": json")
      assert.are.equal(want.request_id ~= nil, got.request_id ~= nil, id .. ": request_id")
      assert.is_nil(got.kind or got.message, id .. ": wording in a record")
      if row.base then c:close() end
    end
  end)

  it("sends the same request as the core, and keeps the connection", function()
    local a = status("echo-1")
    local b = status("echo-2")
    local ra, rb = a.res.payload.request, b.res.payload.request
    assert.are.equal("GET", ra.method)
    assert.are.equal("/v4/crawl/echo-1/status", ra.path)
    assert.are.equal("<ok>", ra.headers["x-api-key"])
    assert.are.equal("application/json", ra.headers.accept)
    assert.matches("^kadoa%-lua/" .. kadoa.version:gsub("%p", "%%%0") .. "$", ra.headers["user-agent"])
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", ra.headers["x-request-id"])
    assert.are_not.equal(ra.headers["x-request-id"], rb.headers["x-request-id"])
    -- the second call rode the first one's connection (the keepalive pool)
    assert.are.equal(ra.connection, rb.connection)
    assert.are.equal(ra.index + 1, rb.index)
  end)

  it("retries like the core, sleeping with ngx.sleep", function()
    local tag = tostring(os.time()) .. tostring(math.random(1e6))
    local ok = status("flaky-2-" .. tag, { retry_base = 0.05, retry_cap = 0.1 })
    assert.are.equal("flaky-2-" .. tag, ok.res.sessionId)
    local bad = status("flaky-9-" .. tag, { retry_base = 0.05, retry_cap = 0.1 })
    assert.are.equal("server", bad.err.kind)
    assert.are.equal(503, bad.err.status)
    assert.are.equal(3, bad.err.attempts)
    local t0 = socket.gettime()
    local ra = status("retry-after-1", { retries = 1 })
    assert.are.equal(2, ra.err.attempts)
    assert.is_true(socket.gettime() - t0 >= 0.95)
  end)

  it("times out and reports network failures like the core", function()
    local t = status("hang", { timeout = 0.3, retries = 0 })
    assert.are.equal("timeout", t.err.kind)
    assert.is_true(t.ms < 600, t.ms .. " ms")
    -- the request had left: a POST must not be sent again after this
    assert.is_true(t.err.sent)
    local base = "http://127.0.0.1:" .. mock.closed_port()
    local n = status("x", { base = base, retries = 0 })
    assert.are.equal("network", n.err.kind)
    -- refused: nothing left, so even a POST may be tried again
    assert.is_false(n.err.sent)
    local c = assert(kadoa.client({ api_key = KEY, base_url = base, retries = 0 }))
    local _, cerr = c:status("x")
    c:close()
    assert.is_false(cerr.sent)
    assert.are.equal(cerr.kind, n.err.kind)
  end)

  it("reports a host name it cannot resolve as not sent", function()
    local r = status("x", { base = "http://localhost:" .. ports.mock, retries = 0, timeout = 3 })
    assert.is_nil(r.res)
    assert.is_false(r.err.sent)
    assert.matches("resolve", r.err.message)
  end)

  it("has every call of kadoa.api as a method, and status_json gives the body as it came", function()
    for _, id in ipairs({ "types", "nulls", "invalid-utf8" }) do
      local code, body, _, head = get(ports.http, "/json?id=" .. urlencode(id))
      assert.are.equal(200, code)
      assert.are.equal(assert(core_client:status_json(id)), body)
      assert.matches("\r\nx%-missing: %[%]\r\n", head .. "\r\n")
      assert.matches("\r\nx%-closed: true\r\n", head .. "\r\n")
    end
  end)

  it("one face: every call takes its options in every front end, path is refused naming the host", function()
    local ids = face.prepare(core_client)
    ids.dir = dir
    local got = get_json(ports.http, "/face?" .. query(ids))
    assert.is_true(got.n > 3 * #face.calls(), "cases walked: " .. tostring(got.n))
    assert.are.same({}, got.failures)
  end)

  it("status_many on light threads gives what the libcurl client's status_many gives", function()
    local ids = { "sess-a", "status-404", "failed", "status-500", "nulls", "sess-a", "slow-300",
                  "old-shape-401", "empty-404", "types" }
    local want = {}
    for id, v in pairs(assert(core_client:status_many(ids))) do
      if kadoa.errors.is(v) then
        want[id] = { err = { kind = v.kind, message = v.message, status = v.status, attempts = v.attempts } }
      else
        want[id] = { res = v }
      end
    end
    local got = get_json(ports.http, "/status_many?" .. query({ ids = table.concat(ids, ","),
                                                               concurrency = 4 }))
    assert.is_nil(got.err)
    -- the JSON round trip makes both sides' numbers and nulls alike
    assert.are.same(cjson.decode(cjson.encode(want)), got.values)
    assert.are.equal(9, #got.order, "on_result once per distinct id")

    -- raw: the bodies as the API sent them, like status_json
    local raw = get_json(ports.http, "/status_many?ids=sess-b&raw=1")
    assert.are.equal(core_client:status_json("sess-b"), raw.values["sess-b"].res)

    -- concurrency bounds the requests in flight: six 0.3 s ids
    local slow = {}
    for i = 1, 6 do slow[i] = "demo-slow-300-sm" .. i end
    local wide = get_json(ports.http, "/status_many?" .. query({ ids = table.concat(slow, ","),
                                                                concurrency = 6 }))
    local narrow = get_json(ports.http, "/status_many?" .. query({ ids = table.concat(slow, ","),
                                                                  concurrency = 2 }))
    assert.is_true(wide.ms < 550, wide.ms .. " ms")
    assert.is_true(narrow.ms > 850, narrow.ms .. " ms")

    -- an error raised by on_result stops the rest and is raised again
    local stopped = get_json(ports.http, "/status_many?" .. query({
      ids = table.concat(slow, ","), concurrency = 1, raise = "demo-slow-300-sm2" }))
    assert.are.equal("stop at demo-slow-300-sm2", stopped.raised)
    assert.are.same({ "demo-slow-300-sm1", "demo-slow-300-sm2" }, stopped.order)

    -- bad options are a usage error, as in the libcurl client
    local bad = get_json(ports.http, "/status_many?ids=x&concurrency=0")
    assert.are.equal("usage", bad.err.kind)
    assert.are.equal(select(2, core_client:status_many({ "x" }, { concurrency = 0 })).message,
                     bad.err.message)
  end)

  it("sends a session id's path byte for byte as the libcurl client does", function()
    for _, id in ipairs({ "echo-a b/c?d#e", "echo-%2F..%2F", "echo-..", "echo-/",
                          "echo-\195\169\226\130\172\240\159\152\128",
                          "echo- ~!*'();:@&=+$,[]<>\"{}|\\^`", "echo-\t\r\n\1\127\255",
                          "echo-" .. ("%"):rep(300) }) do
      local want = assert(core_client:status(id)).payload.request
      local got = status(id)
      assert.is_nil(got.err and got.err.text)
      assert.are.equal(want.path, got.res.payload.request.path, id)
      assert.are.equal(want.query, got.res.payload.request.query, id)
      assert.are.equal(id, got.res.sessionId)
    end
  end)

  it("sends POST and DELETE and reads their answers as the libcurl client does", function()
    -- the mock answers no POST or DELETE but with its 404: the same error
    -- from both clients says the method, target and answer went the same way
    for _, m in ipairs({ { "POST", '{"url":"https://example.com/\\u00e9"}' }, { "POST" }, { "DELETE" } }) do
      local route = require("kadoa.core").route(m[1], "/v4/crawl/{session id}/status")
      local _, want = core_client.transport:fetch(route, nil, m[2] and { body = m[2] }, "echo-" .. m[1])
      want = require("kadoa.errors").from_report(want)
      local got = get_json(ports.http, "/call?" .. query({ method = m[1], body = m[2], id = "echo-" .. m[1],
                                                           retries = 0 }))
      assert.is_nil(got.res)
      for _, k in ipairs({ "kind", "status", "message", "sent" }) do
        assert.are.equal(want[k], got.err[k], m[1] .. " " .. k)
      end
    end
  end)

  -- A tiny HTTP server in this process, on loopback: the first request on
  -- a connection is a GET answered (keep-alive); anything more on that
  -- connection is read, counted and met with a closed connection and not
  -- one byte (a pooled connection gone dead, or so it looks); any other
  -- request on a new connection gets half a status line, then the close.
  -- Runs until nginx answers `c`, so every attempt made is seen.
  local function counting_server(path)
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    server:settimeout(0)
    local c = send_get(ports.http, (path:gsub("PORT", port)))
    local conns, seen = {}, {}
    local serial = 0
    local t_end = socket.gettime() + 20
    while socket.gettime() < t_end do
      local watch = { server, c }
      for _, k in ipairs(conns) do watch[#watch + 1] = k.sock end
      local ready = socket.select(watch, nil, 0.5)
      if ready[c] then break end
      if ready[server] then
        local s = server:accept()
        if s then
          serial = serial + 1
          s:settimeout(2)
          conns[#conns + 1] = { sock = s, serial = serial, n = 0 }
        end
      end
      for i = #conns, 1, -1 do
        local k = conns[i]
        if ready[k.sock] then
          local line = k.sock:receive("*l")
          local drop = not line
          if line then
            local method, target = line:match("^(%u+) (%S+)")
            local len = 0
            repeat
              local h = k.sock:receive("*l")
              local n = h and h:lower():match("^content%-length:%s*(%d+)")
              if n then len = tonumber(n) end
            until not h or h == ""
            if len > 0 then k.sock:receive(len) end
            k.n = k.n + 1
            seen[#seen + 1] = { method = method, target = target, conn = k.serial, index = k.n }
            if k.n == 1 and method == "GET" then
              local body = ('{"sessionId":"%s","payload":{}}'):format(target:match("crawl/([^/]+)"))
              k.sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                .. #body .. "\r\n\r\n" .. body)
            else
              if k.n == 1 then k.sock:send("HTTP/1.1 20") end
              drop = true
            end
          end
          if drop then
            k.sock:close()
            table.remove(conns, i)
          end
        end
      end
    end
    local _, body = read_response(c)
    for _, k in ipairs(conns) do k.sock:close() end
    server:close()
    return cjson.decode(body), seen
  end

  it("never sends a POST twice, even when a pooled connection is dead", function()
    local r, seen = counting_server("/post-after-pool?" .. query({ base = "http://127.0.0.1:PORT",
      retries = 3, retry_base = 0.01, retry_cap = 0.02, timeout = 5 }))
    local posts = {}
    for _, s in ipairs(seen) do if s.method == "POST" then posts[#posts + 1] = s end end
    assert.are.equal("warm", r.warm)
    assert.are.equal(1, #posts, cjson.encode(seen))
    -- on a connection of its own, not the pooled one the warm-up left
    assert.are.equal(1, posts[1].index)
    assert.are_not.equal(seen[1].conn, posts[1].conn)
    assert.is_nil(r.res)
    assert.are.equal("network", r.err.kind)
    assert.is_true(r.err.sent)
    assert.are.equal(1, r.err.attempts)
    -- a GET still rides the pool, and a dead pooled connection costs it
    -- nothing: it is sent again on a new one
    assert.are.equal("again", r.again, cjson.encode(seen))
    local last, before = seen[#seen], seen[#seen - 1]
    assert.are.same({ "GET", 1 }, { last.method, last.index })
    assert.are.same({ "GET", 2, seen[1].conn }, { before.method, before.index, before.conn })
  end)

  describe("TLS", function()
    it("verifies the certificate and answers like over plain HTTP", function()
      local base = "https://127.0.0.1:" .. ports.good
      local a = status("types", { base = base })
      assert.is_nil(a.err and a.err.text)
      assert.are.same(cjson.decode(cjson.encode((assert(core_client:status("types"))))), a.res)
      local b = status("sess-tls", { base = base })
      assert.are.equal("sess-tls", b.res.sessionId)
    end)

    it("refuses a certificate for another name, or one nobody vouches for", function()
      for _, which in ipairs({ "wrong", "self" }) do
        local r = status("types", { base = "https://127.0.0.1:" .. ports[which], retries = 0 })
        assert.is_nil(r.res)
        assert.are.equal("tls", r.err.kind, which .. ": " .. r.err.text)
      assert.matches(which == "wrong" and "host mismatch" or "self%-signed", r.err.message)
      end
    end)

    it("https to a plain HTTP server is a failure, not a request in clear", function()
      local r = status("echo", { base = "https://127.0.0.1:" .. ports.mock, retries = 0, timeout = 2 })
      assert.is_nil(r.res)
      assert.are.equal("tls", r.err.kind, r.err.text)
    end)

    it("has no ca_file: trust is nginx's lua_ssl_trusted_certificate", function()
      local r = status("x", { ca_file = "/etc/ssl/certs/ca-certificates.crt" })
      assert.are.equal("usage", r.err.kind)
      assert.matches("lua_ssl_trusted_certificate", r.err.message)
    end)
  end)

  it("checks options as kadoa.client does", function()
    local r = status("x", { base = "http://example.com" })
    assert.are.equal("usage", r.err.kind)
    assert.matches("loopback", r.err.message)
  end)

  it("answers 50 other requests in under 50 ms each while a location waits 1 s", function()
    local t0 = socket.gettime()
    local slow = send_get(ports.http, "/status?id=slow-1000")
    socket.sleep(0.05)     -- the worker is now waiting on the mock
    local times, pids = {}, {}
    for i = 1, 50 do
      local status_code, body, elapsed = get(ports.http, "/ping")
      assert.are.equal(200, status_code)
      times[i] = elapsed
      pids[body:match("%d+")] = true
    end
    local pings_done = socket.gettime()
    local _, body = read_response(slow)
    local slow_done = socket.gettime()
    local s = cjson.decode(body)
    assert.are.equal("slow-1000", s.res.sessionId)
    pids[tostring(s.pid)] = true
    table.sort(times)
    local worst, median = times[#times], times[25]
    measured.pings = ("50 requests while a location waited %.3f s on slow-1000: median %.1f ms, "
      .. "worst %.1f ms"):format(slow_done - t0, median * 1000, worst * 1000)
    assert.is_true(pings_done < slow_done, "the pings waited for the slow call")
    assert.is_true(slow_done - t0 >= 1.0)
    assert.is_true(worst < 0.05, ("a request took %.1f ms"):format(worst * 1000))
    local n = 0
    for _ in pairs(pids) do n = n + 1 end
    assert.are.equal(1, n, "more than one worker answered")
  end)

  it("(control) the blocking core in nginx does hold other requests up", function()
    local slow = send_get(ports.http, "/blocking?id=slow-500")
    socket.sleep(0.05)
    local _, _, elapsed = get(ports.http, "/ping")
    read_response(slow)
    measured.blocking = ("a request behind a blocking 0.5 s core call inside nginx: %.0f ms")
      :format(elapsed * 1000)
    assert.is_true(elapsed > 0.3, ("the ping took %.1f ms"):format(elapsed * 1000))
  end)

  it("completes 20 concurrent status calls in about the time of one", function()
    local one = status("slow-500")
    assert.are.equal("slow-500", one.res.sessionId)
    local _, _, single = get(ports.http, "/status?id=slow-500")
    local t0 = socket.gettime()
    local conns = {}
    for i = 1, 20 do conns[i] = send_get(ports.http, "/status?id=demo-slow-500-c" .. i) end
    local pids = {}
    for i = 1, 20 do
      local code, body = read_response(conns[i])
      assert.are.equal(200, code)
      local r = cjson.decode(body)
      assert.are.equal("demo-slow-500-c" .. i, r.res and r.res.sessionId, body)
      pids[r.pid] = true
    end
    local total = socket.gettime() - t0
    local n = 0
    for _ in pairs(pids) do n = n + 1 end
    assert.are.equal(1, n)
    measured.one = ("one status call on slow-500 through nginx: %.0f ms"):format(single * 1000)
    measured.twenty = ("20 concurrent status calls on 0.5 s sessions, one worker: %.0f ms "
      .. "(one after another: ~%.0f ms)"):format(total * 1000, 20 * single * 1000)
    assert.is_true(total < single + 0.4, ("20 took %.3f s, one %.3f s"):format(total, single))

    local many = get_json(ports.http, "/many?n=20&id=demo-slow-500-m")
    measured.many = ("20 status calls on light threads inside one request: %.0f ms"):format(many.ms)
    assert.are.equal(20, many.good)
    assert.is_true(many.ms < 900, many.ms .. " ms")
  end)

  it("waits with the wait schedule, sleeping with ngx.sleep, and others go on", function()
    local id = "demo-finishing-1-" .. tostring(os.time()) .. tostring(math.random(1e6))
    local c = send_get(ports.http, "/wait?" .. query({ id = id, interval = 0.2, timeout = 10 }))
    socket.sleep(0.1)
    local worst = 0
    for _ = 1, 20 do
      local _, _, elapsed = get(ports.http, "/ping")
      worst = math.max(worst, elapsed)
      socket.sleep(0.02)
    end
    local _, body = read_response(c)
    local r = cjson.decode(body)
    assert.is_nil(r.err and r.err.text)
    assert.is_true(r.res.payload.finished)
    assert.are.equal(47, r.res.payload.crawledPages)
    assert.is_true(r.updates >= 3, "updates: " .. r.updates)
    measured.wait = ("wait on a 1 s crawl: %.0f ms, %d polls; pings meanwhile at worst %.1f ms")
      :format(r.ms, r.updates, worst * 1000)
    assert.is_true(worst < 0.05)

    local failing = get_json(ports.http, "/wait?" .. query({ id = "demo-failing-0.3-" .. id,
                                                              interval = 0.1, timeout = 10 }))
    assert.are.equal("crawl_failed", failing.err.kind)
    assert.matches("blocked", failing.err.message)
    local timeout = get_json(ports.http, "/wait?" .. query({ id = "demo-finishing-30-" .. id,
                                                              interval = 0.1, timeout = 0.5 }))
    assert.are.equal("timeout", timeout.err.kind)
  end)

  describe("callbacks (kadoa.resty.callback)", function()
    local hook

    local function start(url, extra)
      local o = { url = url, callback = hook }
      for k, v in pairs(extra or {}) do o[k] = v end
      return get_json(ports.http, "/cb/start?" .. query(o))
    end

    -- a POST to a full URL of this nginx: its status. chunked: the body in
    -- one chunk, no Content-Length
    local function post(url, body, chunked)
      local c = assert(socket.tcp())
      c:settimeout(15)
      assert(c:connect("127.0.0.1", ports.http))
      -- HTTP/1.1 (chunked needs it), closed after the answer
      local head = "POST " .. url:match("^https?://[^/]+(.*)$") .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        .. "Connection: close\r\nContent-Type: application/json\r\n"
      if chunked then
        assert(c:send(head .. "Transfer-Encoding: chunked\r\n\r\n"
          .. ("%x\r\n"):format(#body) .. body .. "\r\n0\r\n\r\n"))
      else
        assert(c:send(head .. "Content-Length: " .. #body .. "\r\n\r\n" .. body))
      end
      return (read_response(c))
    end

    local function seen(id)
      local _, body = get(ports.http, "/cb/seen?id=" .. urlencode(id))
      return tonumber(body)
    end

    -- the mock's record of its callback for session id, once it made it
    local function called(id)
      for _ = 1, 200 do
        for _, c in ipairs(get_json(ports.mock, "/mock/callbacks").calls) do
          if c.sessionId == id then return c end
        end
        socket.sleep(0.05)
      end
      error("the mock never called back for " .. id)
    end

    local function worker_pid()
      return (select(2, get(ports.http, "/ping")))
    end

    -- the Lua errors and worse in nginx's log so far
    local function lua_errors()
      return sh("grep -E '\\[(error|crit|alert|emerg)\\].*(lua|runtime error)' "
        .. q(ngx_srv.dir .. "/error.log") .. " 2>/dev/null")
    end

    setup(function() hook = ngx_srv.url .. "/cb/hook" end)

    it("answers Kadoa's callback 204, confirms it, and runs on_finished once", function()
      local r = start("https://pages-3.seconds-0.3.example.com/")
      assert.is_nil(r.err and r.err.text)
      local id, token = r.res.sessionId, r.res.callback_token
      assert.matches("^%x+$", token)
      assert.are.equal(32, #token)
      local rec = called(id)
      assert.are.equal(hook .. "?kadoa_token=" .. token, rec.url)
      assert.are.equal(204, rec.code)
      local n
      for _ = 1, 100 do
        n = seen(id)
        if n > 0 then break end
        socket.sleep(0.05)
      end
      assert.are.equal(1, n)
      -- the token was used: the same call again is refused
      assert.are.equal(403, post(rec.url, '{"sessionId":"' .. id .. '","finished":true}'))
      socket.sleep(0.3)
      assert.are.equal(1, seen(id))
    end)

    it("refuses forged callbacks, and none of them runs on_finished or hurts the worker", function()
      local pid, errors_before = worker_pid(), lua_errors()
      -- a crawl that runs on: its token is good, its status says not over
      local r = start("https://pages-100.seconds-120.example.com/")
      local id, token = r.res.sessionId, r.res.callback_token
      local good = hook .. "?kadoa_token=" .. token
      local done = '{"sessionId":"' .. id .. '","finished":true,"crawledPages":100}'
      local other = "0123456789abcdef0123456789abcdef"
      for _, case in ipairs({
        { 403, hook, done },                                        -- no token
        { 403, hook .. "?kadoa_token=", done },
        { 403, hook .. "?kadoa_token=" .. other, done },            -- one never made
        { 403, hook .. "?kadoa_token=" .. token:sub(1, 31), done },
        { 403, hook .. "?kadoa_token=" .. token .. "0", done },
        { 403, hook .. "?token=" .. token, done },
        -- an unknown session, named by the body: only the token names one
        { 403, hook .. "?kadoa_token=" .. other, '{"sessionId":"nobody","finished":true}' },
        -- too big: refused before anything is done, the token kept
        { 413, good, ("x"):rep(16 * 1024 + 1) },
        { 413, good, ("x"):rep(20000), true },
      }) do
        assert.are.equal(case[1], post(case[2], case[3], case[4]), case[2])
      end
      -- a good token with a body of no JSON: taken (the body is a hint
      -- only), but the status says the crawl runs: nothing happens
      assert.are.equal(204, post(good, "\0\255 not json"))
      assert.are.equal(403, post(good, done))   -- used
      socket.sleep(2.5)                         -- the receiver's confirm: 2 s
      assert.are.equal(0, seen(id))
      assert.are.equal(pid, worker_pid())
      assert.are.equal(errors_before, lua_errors())
    end)

    it("needs its shared dict: a usage error naming it, and no crawl starts", function()
      local before = get_json(ports.mock, "/mock/starts").count
      local r = start("https://pages-1.seconds-0.example.com/", { dict = "no_such_dict" })
      assert.is_nil(r.res)
      assert.are.equal("usage", r.err.kind)
      assert.matches("lua_shared_dict no_such_dict", r.err.message)
      assert.are.equal(before, get_json(ports.mock, "/mock/starts").count)
    end)
  end)

  it("each_page follows a running crawl: every page once, as crawled, until it is over", function()
    local tag = tostring(os.time()) .. tostring(math.random(1e6))
    local id = assert(core_client:crawl("https://pages-30.seconds-1.5.r" .. tag .. ".example.com/")).sessionId
    local c = send_get(ports.http, "/follow?" .. query({ id = id, interval = 0.1, page_size = 7 }))
    socket.sleep(0.1)
    local worst = 0
    for _ = 1, 20 do
      local _, _, elapsed = get(ports.http, "/ping")
      worst = math.max(worst, elapsed)
      socket.sleep(0.02)
    end
    local _, body = read_response(c)
    local r = cjson.decode(body)
    assert.is_nil(r.err and r.err.text)
    assert.are.equal(30, #r.ids)
    local once = {}
    for _, pid in ipairs(r.ids) do
      assert.is_nil(once[pid], pid .. " twice")
      once[pid] = true
    end
    for i = 0, 29 do assert.is_true(once[("p%04d"):format(i)]) end
    -- with the crawl, not after it
    assert.is_true(r.first_ms < 1000, "the first page after " .. r.first_ms .. " ms")
    assert.is_true(r.ms >= 1400, "over after " .. r.ms .. " ms")
    assert.is_true(worst < 0.05, "a ping took " .. worst .. " s")
    measured.follow = ("each_page follow of a 30-page 1.5 s crawl: first page %.0f ms, over %.0f ms; "
      .. "pings meanwhile at worst %.1f ms"):format(r.first_ms, r.ms, worst * 1000)
    -- over: it asks nothing more
    local hits = get_json(ports.mock, "/mock/hits/" .. id)
    socket.sleep(0.4)
    local later = get_json(ports.mock, "/mock/hits/" .. id)
    assert.are.equal(hits.status, later.status)
    assert.are.equal(hits.pages, later.pages)

    -- a crawl that fails: its pages, then its error once
    local failing = assert(core_client:crawl("https://failing.pages-10.seconds-0.5.r" .. tag
      .. ".example.com/")).sessionId
    r = get_json(ports.http, "/follow?" .. query({ id = failing, interval = 0.1 }))
    assert.are.equal("crawl_failed", r.err.kind)
    assert.matches("blocked", r.err.message)
    assert.are.equal(6, #r.ids)

    -- the same options as the libcurl client's: a misspelt one, the same error
    r = get_json(ports.http, "/follow?" .. query({ id = id, typo = 1 }))
    local _, want = core_client:each_page(id, { follow = true, intervl = 1 })()
    assert.are.equal("usage", r.err.kind)
    assert.are.equal(want.message, r.err.message)
    assert.matches("unknown option 'intervl'", r.err.message, 1, true)
  end)

  it("export is refused with a usage error naming kadoa.resty, and writes nothing", function()
    local out = dir .. "/export-refused"
    local r = get_json(ports.http, "/export?" .. query({ id = "sess-dash", dir = out }))
    assert.is_nil(r.res)
    assert.are.equal("usage", r.err.kind)
    assert.matches("export is not available in kadoa.resty", r.err.message, 1, true)
    assert.matches("each_page(id, { follow = true })", r.err.message, 1, true)
    assert.is_nil(io.open(out))
  end)

  it("examples/nginx.conf serves a crawl's status as JSON", function()
    local edir = dir .. "/example"
    os.execute("mkdir -p " .. q(edir))
    local f = assert(io.open(ROOT .. "/examples/nginx.conf"))
    local conf = f:read("*a")
    f:close()
    conf = conf:gsub("127%.0%.0%.1:8080", "127.0.0.1:%%PORT%%")
      :gsub("/tmp/kadoa%-nginx", edir .. "/nginx")
      :gsub("%$prefix", ROOT)
      :gsub("/usr/lib/nginx/modules", MODULES)
      -- a test never sends DNS queries off this machine, even by mistake
      :gsub("\n%s*resolver [^;]*;", "\n  resolver 127.0.0.1:1 valid=1s;")
    assert.matches("resolver 127.0.0.1:1", conf, 1, true)
    -- started as the README says, with no `user` line: as root its worker
    -- runs as nobody, who may not read this tree (a private checkout)
    local n = nginx.start(edir, nil, { conf = conf, pid = edir .. "/nginx.pid", master = true,
                                       env = { KADOA_API_KEY = KEY, KADOA_BASE_URL = srv.url } })
    local ok, err = pcall(function()
      -- raises with nginx's log when it answers anything else (a 500 says
      -- why only there), or nothing at all
      n:wait_http("/crawl/sess-dash/status", 200)
      local r, code = get_json(n.port, "/crawl/sess-dash/status")
      assert.are.equal(200, code)
      assert.are.same({ session = "sess-dash", finished = true, pages = 14, active_jobs = 0,
                        waiting_jobs = 0 }, r)
      r, code = get_json(n.port, "/crawl/status-404/status")
      assert.are.equal(404, code)
      assert.are.equal("not_found", r.error)
      r, code = get_json(n.port, "/crawl/demo-finishing-1-ex" .. os.time() .. "/wait?timeout=10")
      assert.are.equal(200, code)
      assert.is_true(r.finished)
      assert.are.equal(47, r.pages)
    end)
    n:stop()
    assert(ok, err)
  end)
end)
