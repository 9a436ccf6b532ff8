-- kadoa: the public API (kadoa.status(id), kadoa.client(opts), ...). It only gathers: clients are
-- kadoa.client's, options kadoa.options', errors kadoa.errors'; every call of kadoa.api is a
-- shortcut on a default client made from the environment (KADOA_API_KEY, KADOA_BASE_URL).

local core = require("kadoa.core")
local client = require("kadoa.client")
local codec = require("kadoa.codec")
local errors = require("kadoa.errors")
local options = require("kadoa.options")
local api = require("kadoa.api")

-- The call shortcuts (kadoa.pages, ...) are made below; their annotations are in types/kadoa.lua.
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

M.client = client.new

local defaults = {}

-- The default client for these client options (none: the environment's), made again only when
-- they or the environment change.
---@param opts? kadoa.ClientOptions
---@return kadoa.Client|nil client
---@return kadoa.Error|nil err
function M.default_client(opts)
  return client.default(defaults, client.new, opts)
end

-- kadoa.NAME(...) is default_client(opts):NAME(...), the client options among the call's picking it.
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
