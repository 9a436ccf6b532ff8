-- The set-up most specs share: a mock server and a client on it for a
-- describe block's tests, both stopped after them.
--
--   local fx = require("spec.helpers.fixture").mock_client(KEY [, opts])
--   local srv, client
--   setup(function() srv, client = fx.start() end)
--   teardown(fx.stop)
--
-- opts are client options every client of the fixture gets (say
-- { retries = 0 }); fx.new_client(extra) makes a further client with those
-- options plus `extra`. (busted's setup and teardown live in the spec
-- file's environment, so the spec registers them itself.)

local kadoa = require("kadoa")
local mock = require("spec.helpers.mock")

local M = {}

function M.mock_client(key, base)
  local fx = {}

  function fx.new_client(extra)
    local opts = { api_key = key, base_url = fx.srv.url }
    for k, v in pairs(base or {}) do opts[k] = v end
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert(kadoa.client(opts))
  end

  function fx.start()
    fx.srv = mock.start({ key = key })
    fx.client = fx.new_client()
    return fx.srv, fx.client
  end

  function fx.stop()
    if fx.client then fx.client:close() end
    if fx.srv then fx.srv:stop() end
  end

  return fx
end

return M
