-- TLS material for the specs, made with openssl at test time in `dir`:
--
--   ca.pem / ca.key       a CA
--   self.pem / self.key   a self-signed leaf for 127.0.0.1
--   good.pem / good.key   a leaf the CA signs for 127.0.0.1
--   wrong.pem / wrong.key a leaf the CA signs for wrong.example
--
--   require("spec.helpers.certs").make(dir [, san])
--
-- san is the subjectAltName of the self-signed and the good leaf
-- (default "IP:127.0.0.1"). Both name 127.0.0.1 in their CN as well:
-- nginx checks a host with X509_check_host, which never matches IP SANs
-- but falls back to the CN when there is no DNS SAN.

local M = {}

local q = require("spec.helpers.subprocess").quote

local function openssl(args)
  local f = assert(io.popen("openssl " .. args .. " 2>&1; echo \"exit=$?\"", "r"))
  local out = f:read("*a")
  f:close()
  assert(out:match("exit=0\n$"), "openssl " .. args .. ":\n" .. out)
end

function M.make(dir, san)
  san = san or "IP:127.0.0.1"
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  openssl(("req -x509 %s -keyout %s/ca.key -out %s/ca.pem -days 2 -subj '/CN=kadoa test CA'"
    .. " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign")
    :format(ec, q(dir), q(dir)))
  openssl(("req -x509 %s -keyout %s/self.key -out %s/self.pem -days 2 -subj '/CN=127.0.0.1'"
    .. " -addext subjectAltName=%s"):format(ec, q(dir), q(dir), san))
  for name, leaf_san in pairs({ good = san, wrong = "DNS:wrong.example" }) do
    local ext = dir .. "/" .. name .. ".ext"
    local f = assert(io.open(ext, "w"))
    f:write("subjectAltName=", leaf_san, "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    f:close()
    openssl(("req %s -keyout %s/%s.key -out %s/%s.csr -subj '/CN=%s'"):format(
      ec, q(dir), name, q(dir), name, name == "good" and "127.0.0.1" or "wrong.example"))
    openssl(("x509 -req -in %s/%s.csr -CA %s/ca.pem -CAkey %s/ca.key -CAcreateserial"
      .. " -out %s/%s.pem -days 2 -extfile %s"):format(q(dir), name, q(dir), q(dir), q(dir), name, q(ext)))
  end
end

return M
