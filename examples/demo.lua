-- make demo: the real client against the bundled mock server.
--
-- Starts spec/mock/server.py on a free loopback port, asks it for a
-- session's status through kadoa.status, and prints the native Lua table
-- that comes back.

package.path = "spec/?.lua;" .. package.path
local mock = require("spec.helpers.mock")
local kadoa = require("kadoa")

local KEY = "demo-key"
local srv = mock.start({ key = KEY })

-- Print a Lua value as Lua source, keys sorted, so the table reads as it is.
local function dump(v, indent)
  indent = indent or ""
  if type(v) ~= "table" then
    if v == kadoa.null then return "kadoa.null" end
    return type(v) == "string" and ("%q"):format(v) or tostring(v)
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local lines = { "{" }
  for _, k in ipairs(keys) do
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. dump(k) .. "]")
    lines[#lines + 1] = indent .. "  " .. key .. " = " .. dump(v[k], indent .. "  ") .. ","
  end
  lines[#lines + 1] = indent .. "}"
  return table.concat(lines, "\n")
end

local opts = { api_key = KEY, base_url = srv.url }
print(("kadoa %s -> mock Kadoa API at %s\n"):format(kadoa.version, srv.url))
print('local res, err = kadoa.status("3f2a9c4e-demo-session-e91c")')
local res, err = kadoa.status("3f2a9c4e-demo-session-e91c", opts)
print("res = " .. dump(res))
print("err = " .. tostring(err))
print('\nlocal res, err = kadoa.status("status-404")')
res, err = kadoa.status("status-404", opts)
print("res = " .. tostring(res))
print("err = " .. tostring(err))

srv:stop()
