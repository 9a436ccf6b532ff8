-- :checkhealth kadoa: whether the C module loads into this Neovim's Lua, its libcurl and TLS, an
-- API key configured (never its value) and the base URL answering. Neovim 0.10+ has
-- vim.health.ok & co.; 0.7 to 0.9 the health module's report_*.

local M = {}

local function reporter()
  local h = vim.health
  if h and h.ok then
    return { start = h.start, ok = h.ok, warn = h.warn, error = h.error, info = h.info }
  end
  h = h or require("health")
  return { start = h.report_start, ok = h.report_ok, warn = h.report_warn,
           error = h.report_error, info = h.report_info }
end

-- A status call sent (client:send) and waited for with vim.wait, so the editor stays responsive.
---@param client kadoa.Client
---@param timeout number seconds
---@return kadoa.StatusResult|nil res
---@return kadoa.Error|nil err
function M.reachable(client, timeout)
  local req, err = client:send("status", "kadoa-health-check", { timeout = timeout, retries = 0 })
  if not req then return nil, err end
  local res, rerr
  vim.wait(timeout * 1000 + 500, function()
    res, rerr = req:poll()
    return req:done()
  end, 10)
  if not req:done() then
    req:cancel()
    return nil, require("kadoa.errors").new("timeout", "no answer in " .. timeout .. " s")
  end
  return res, rerr
end

function M.check()
  local r = reporter()
  local kn = require("kadoa.nvim")

  r.start("kadoa: the C module")
  local kadoa, lerr = kn.load()
  if not kadoa then
    r.error(lerr, { "Run `make build LUA=luajit` in the plugin's directory (your plugin "
      .. "manager's build step), or copy a LuaJIT build of kadoa/core.so to lua/kadoa/core.so." })
    return
  end
  local core = require("kadoa.core")
  r.ok(("kadoa %s loaded into %s"):format(kadoa.version, jit and jit.version or _VERSION))
  r.info("kadoa.core: " .. tostring(kn.load_info.core))
  r.info("JSON: " .. tostring(kn.load_info.cjson))
  local ci = core.curl_info()
  r.ok(("libcurl %s, TLS: %s%s"):format(ci.version, ci.ssl, ci.http2 and ", HTTP/2" or ""))
  if ci.ssl == "none" then r.error("libcurl has no TLS support: https will not work") end
  r.info(("event loop: %s; requests wake it by socket events only"):format(
    vim.uv and "vim.uv" or "vim.loop"))

  r.start("kadoa: configuration")
  local copts = kn.config.client or {}
  local key_from
  if type(copts.api_key) == "string" and copts.api_key ~= "" then
    key_from = "setup({ client = { api_key = ... } })"
  elseif (os.getenv("KADOA_API_KEY") or "") ~= "" then
    key_from = "the KADOA_API_KEY environment variable"
  end
  if key_from then
    r.ok("API key is set (from " .. key_from .. ")")
  else
    r.error("no API key", { "Set KADOA_API_KEY in the environment Neovim starts from, or pass "
      .. "client = { api_key = ... } to require('kadoa.nvim').setup()." })
  end

  -- the key only matters for the answer, not for reaching the server
  local probe = {}
  for k, v in pairs(copts) do probe[k] = v end
  if not key_from then probe.api_key = "no-key-configured" end
  probe.retries = 0
  local client, cerr = kadoa.client(probe)
  if not client then
    r.error("client options: " .. tostring(cerr))
    return
  end
  r.info("base URL: " .. client.base_url)

  r.start("kadoa: network")
  local res, err = M.reachable(client, 5)
  client:close()
  if res or (err and err.status) then
    local how = res and "answered" or ("answered HTTP " .. tostring(err.status))
    r.ok(client.base_url .. " is reachable (" .. how .. ")")
    if err and err.kind == "auth" and key_from then
      r.warn("the server does not accept the API key (" .. tostring(err.message) .. ")")
    end
  else
    r.error(client.base_url .. " is not reachable: " .. tostring(err and err.message or err),
      { "Check the network, a proxy (https_proxy), and base_url / KADOA_BASE_URL." })
  end
end

return M
