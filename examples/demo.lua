-- make demo: the real client against the bundled mock server.
--
-- Starts spec/mock/server.py on a free loopback port, asks it for a
-- session's status through kadoa.status and prints the native Lua table
-- that comes back; then the everyday job with the real command: start a
-- crawl of https://example.com (the mock crawls 47 pages in about ten
-- seconds), watch it (on a terminal, a live line that ends in
-- "finished"), and export every page as Markdown into build/demo-out/.

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

-- The command, with this interpreter and this tree's library (make demo
-- sets LUA_PATH and LUA_CPATH). The mock's key is no secret; a real one
-- belongs in KADOA_API_KEY or a file (--api-key-file), never on a command
-- line, where every user of the machine can read it.
local lua = arg[-1]
local i = -1
while arg[i - 1] do i = i - 1 lua = arg[i] end
local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local env = ("KADOA_API_KEY=%s KADOA_BASE_URL=%s "):format(quote(KEY), quote(srv.url))
local kadoa_cmd = env .. quote(lua) .. " bin/kadoa "
local function run(shown, args)
  print("\n$ " .. shown)
  io.stdout:flush()
  local r = os.execute(kadoa_cmd .. args)
  return r == true or r == 0
end

print("\n$ id=$(kadoa crawl https://example.com)")
local p = assert(io.popen(kadoa_cmd .. "crawl https://example.com", "r"))
local id = (p:read("*a") or ""):match("^(%S+)")
p:close()
print("$ echo $id")
print(id)
local ok = id ~= nil
  and run("kadoa wait $id --interval 1", "wait " .. quote(id) .. " --interval 1")
  and run("kadoa export $id build/demo-out", "export " .. quote(id) .. " build/demo-out")
if ok then
  print("\n$ ls build/demo-out | head -5")
  io.stdout:flush()
  os.execute("ls build/demo-out | head -5")
end

srv:stop()
os.exit(ok and 0 or 1)
