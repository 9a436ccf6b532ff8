-- .ci/luarocks-test.lua: what `luarocks test` runs (the rockspecs' test
-- section: type "command" with a script, which LuaRocks starts with the
-- interpreter of its --lua-version). Without arguments it is `make test`
-- for that one Lua: the build, then every spec, with the closing "total"
-- line. Arguments after `--` are handed to busted instead of the whole
-- suite, after the build:
--
--   luarocks --lua-version=5.4 test --deps-mode=none kadoa-scm-1.rockspec
--   luarocks --lua-version=5.4 test kadoa-scm-1.rockspec -- spec/json_spec.lua
--
-- The exit code is the suite's, so LuaRocks reports a failure as one.

local lua = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- os.execute's result as an exit code, on 5.1 (a number) and 5.2+ (three values).
local function run(cmd)
  local a, _, code = os.execute(cmd)
  if type(a) == "number" then return a == 0 and 0 or 1 end
  return a and 0 or (code ~= 0 and code or 1)
end

local cmd
if select("#", ...) == 0 then
  cmd = "make test LUA=" .. lua
else
  local t = {}
  for i = 1, select("#", ...) do t[i] = q((select(i, ...))) end
  cmd = "make --no-print-directory build LUA=" .. lua .. " && busted --lua=" .. lua
    .. " --cpath=" .. q("build/" .. lua .. "/?.so") .. " " .. table.concat(t, " ")
end
io.stderr:write("luarocks test: " .. cmd .. "\n")
os.exit(run(cmd))
