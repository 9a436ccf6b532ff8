-- kadoa: the public API.
--
--   local kadoa = require("kadoa")
--   local res, err = kadoa.status(session_id)       -- a plain Lua table, or nil and an error
--   local client = assert(kadoa.client(opts))       -- a client of your own
--
-- This module only gathers: clients and their calls are kadoa.client's,
-- options kadoa.options', errors kadoa.errors'. Every call of the API
-- (kadoa.api) is here too as a shortcut on a default client made from the
-- environment (KADOA_API_KEY, KADOA_BASE_URL), kept between calls.

local core = require("kadoa.core")
local client = require("kadoa.client")
local codec = require("kadoa.codec")
local errors = require("kadoa.errors")
local options = require("kadoa.options")
local api = require("kadoa.api")

-- The call shortcuts (kadoa.pages, kadoa.crawl, ...) are made below from
-- kadoa.api; their annotations are in types/kadoa.lua.
---@class kadoa
---@field version string the library's version
---@field null any the JSON decoder's null
---@field errors table kadoa.errors
---@field Client kadoa.Client the client class (methods)
---@field defaults kadoa.ClientOptions the client options' defaults
local M = {
  version = core.version,
  null = (codec.get() or {}).null,
  errors = errors,
  Client = client.Client,
  defaults = options.defaults("client"),
}

-- client(opts) -> client | nil, err
M.client = client.new

local defaults = {}

-- default_client([opts]) -> the default client for these client options
-- (none: the environment's), made again only when they or the
-- environment change.
---@param opts? kadoa.ClientOptions
---@return kadoa.Client|nil client
---@return kadoa.Error|nil err
function M.default_client(opts)
  return client.default(defaults, client.new, opts)
end

-- Every call: kadoa.NAME(...) is default_client(opts):NAME(...), the
-- call's options holding client options too (api_key, base_url, ...:
-- they pick the default client), so kadoa.status(id, { api_key = key })
-- works as it always has.
for name, d in pairs(api.calls) do M[name] = client.shortcut(d, M.default_client) end

for _, name in ipairs({ "status_json", "wait", "status_many", "many", "each_page", "each_session",
                        "export" }) do
  M[name] = function(...)
    if name == "wait" and type((...)) ~= "string" then errors.check_id((...), "wait") end
    local c, err = M.default_client()
    if not c then return nil, err end
    return c[name](c, ...)
  end
end

---@param res kadoa.StatusResult|any
---@param opts? { style?: "short"|"long", id?: string }
---@return string
function M.format(res, opts)
  return require("kadoa.format").format(res, opts)
end

---@param err kadoa.Error|any
---@return string
function M.format_error(err)
  return require("kadoa.format").format_error(err)
end

return M
