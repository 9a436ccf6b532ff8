-- TLS against a real TLS server: a private nginx on loopback with
-- certificates this spec makes with openssl in a temp folder.
--
--   self-signed   a self-signed certificate for 127.0.0.1 / localhost
--   good          signed by our own test CA, for 127.0.0.1 / localhost
--   wrong-name    signed by the same CA, for wrong.example only
--
-- Certificates are always verified: nothing here is trusted by the system
-- store, so every server is refused by default (kind "tls"); ca_file makes
-- the matching ones acceptable, and never one for another host name.
local kadoa = require("kadoa")
local nginx = require("spec.helpers.nginx")
local mock = require("spec.helpers.mock")
local certs = require("spec.helpers.certs")

local KEY = "sk-tls-5b0d-SECRET"
local BODY = '{"payload":{"crawledPages":14,"finished":true},"sessionId":"tls","error":null}'

local function server_block(dir, cert)
  return ([[
  server {
    listen 127.0.0.1:%%PORT%% ssl;
    ssl_certificate %s/%s.pem;
    ssl_certificate_key %s/%s.key;
    location / { default_type application/json; return 200 '%s'; }
  }]]):format(dir, cert, dir, cert, BODY)
end

describe("TLS", function()
  local dir, servers = nil, {}

  setup(function()
    assert(nginx.available(), "the TLS specs need nginx (Debian package nginx or nginx-extras)")
    dir = nginx.tempdir()
    certs.make(dir, "IP:127.0.0.1,DNS:localhost")
    for _, cert in ipairs({ "self", "good", "wrong" }) do
      servers[cert] = nginx.start(dir, server_block(dir, cert))
    end
  end)

  teardown(function()
    for _, s in pairs(servers) do s:stop() end
    nginx.remove(dir)
  end)

  local function client(cert, opts)
    local o = { api_key = KEY, base_url = "https://127.0.0.1:" .. servers[cert].port, timeout = 5,
                sleep = function() error("a TLS failure must not be retried") end }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(kadoa.client(o))
  end

  local function refused(c, what)
    local res, err = c:status("x")
    assert.is_nil(res, what)
    assert.are.equal("tls", err.kind, what .. ": " .. tostring(err))
    assert.are.equal(1, err.attempts)
    assert.is_nil(tostring(err):find(KEY, 1, true))
    return err
  end

  it("refuses a self-signed server by default", function()
    local c = client("self")
    refused(c, "self-signed")
    refused(c, "self-signed, again on the same client")   -- no state kept from the failure
  end)

  it("refuses a server signed by a CA the system does not know", function()
    refused(client("good"), "unknown CA")
  end)

  it("accepts the self-signed server with its certificate as ca_file", function()
    local c = client("self", { ca_file = dir .. "/self.pem" })
    local res = assert(c:status("x"))
    assert.are.equal(14, res.payload.crawledPages)
    assert.is_table(c:status("y"))
  end)

  it("accepts a server signed by the CA given as ca_file, by IP and by name", function()
    assert.is_table(client("good", { ca_file = dir .. "/ca.pem" }):status("x"))
    local c = assert(kadoa.client({ api_key = KEY, ca_file = dir .. "/ca.pem",
                                    base_url = "https://localhost:" .. servers.good.port }))
    assert.is_table(c:status("x"))
  end)

  it("refuses a certificate for the wrong host name, even from a trusted CA", function()
    local c = client("wrong", { ca_file = dir .. "/ca.pem" })
    local err = refused(c, "wrong name")
    assert.is_nil(err.status)
    -- the server fixes its certificate: the same client works on its next call
    local port = servers.wrong.port
    servers.wrong:stop()
    servers.wrong = nginx.start(dir, server_block(dir, "good"), { port = port })
    assert.is_table(c:status("x"))
  end)

  it("refuses a ca_file that is not there, without trying another store", function()
    refused(client("good", { ca_file = dir .. "/missing.pem" }), "missing ca_file")
  end)

  it("refuses a ca_file that does not sign the server", function()
    refused(client("self", { ca_file = dir .. "/ca.pem" }), "other CA")
  end)

  it("https to a plain HTTP server is a TLS failure, not a request in clear", function()
    local srv = mock.start({ key = KEY })
    local c = assert(kadoa.client({ api_key = KEY, base_url = "https://127.0.0.1:" .. srv.port,
                                    sleep = function() error("must not retry") end }))
    local _, err = c:status("echo")
    srv:stop()
    assert.are.equal("tls", err.kind, tostring(err))
  end)
end)
