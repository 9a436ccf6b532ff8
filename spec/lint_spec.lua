-- The private-fields lint rule (spec/lint/private_fields.lua, run by
-- `make lint`): it catches every form of reaching into another module's
-- `_`-prefixed fields, on small sample files, and stays quiet on clean
-- code, comments and strings of every form. The script runs as `make lint`
-- runs it (lua5.4, exit status and file:line listing); its checker is
-- also called directly for the line numbers.

local sub = require("spec.helpers.subprocess")
local lint = require("spec.lint.private_fields")

local SCRIPT = "spec/lint/private_fields.lua"
local LUA54 = sub.exists("/usr/bin/lua5.4") and "/usr/bin/lua5.4" or "lua5.4"

-- the "what" of every report in src, in order
local function found(src)
  local out = {}
  for _, v in ipairs(lint.check(src)) do out[#out + 1] = v.what end
  return out
end

-- run the script on files holding these sources: its output and exit status
local function run(sources, cwd)
  local dir = sub.sh("mktemp -d"):gsub("%s+$", "")
  local names = {}
  for i, src in ipairs(sources) do
    names[i] = dir .. "/sample" .. i .. ".lua"
    sub.write(names[i], src)
  end
  local cmd = ("%s%s %s"):format(cwd and ("cd " .. sub.quote(cwd) .. " && ") or "", LUA54,
    sub.quote(os.getenv("PWD") .. "/" .. SCRIPT))
  for _, n in ipairs(names) do cmd = cmd .. " " .. sub.quote(n) end
  local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  os.execute("rm -rf " .. sub.quote(dir))
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc, names
end

describe("lint: private fields", function()
  describe("catches", function()
    local cases = {
      { "local k = client._key", "client._key" },
      { "client._core = nil", "client._core" },
      { "client:_reset()", "client:_reset(" },
      { "client:_reset 'x'", "client:_reset(" },
      { "local k = rawget(client, \"_key\")", 'rawget(client, "_key")' },
      { "rawset(client, '_key', 1)", 'rawset(client, "_key")' },
      { "local k = rawget(make(a, b), [[_key]])", 'rawget(..., "_key")' },
      { "local c = new()._core", "(...)._core" },
      { "local c = list[1]._core", "(...)._core" },
      { "local c = self.client._core", "client._core" },
      { "local k = client[\"_key\"]", 'client["_key"]' },
      { "local x = a.b._c.d", "b._c" },
      { "return _client._core", "_client._core" },
      { "function M._helper() end", "M._helper" },
      { "local v = x._", "x._" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        assert.are.same({ case[2] }, found(case[1]))
      end)
    end
  end)

  describe("passes", function()
    local clean = {
      own = "local v = self._core; self._n = 1; self:_reset(); local k = rawget(self, '_key')",
      metamethods = "mt.__index = mt; local g = x.__gc; x:__close(); rawget(t, '__mode')",
      globals = "local v = _VERSION; local g = _G.print; local e = _ENV; local w = _G._VERSION",
      constructor = "local o = setmetatable({ _pipe = f, _n = 0 }, Server)",
      locals = "local _ = 1; local _x = 2; print(_x, _)",
      other_args = "local v = rawget(t, '_key' .. n); local w = rawget(t, name); rawset(t, k, '_v')",
      numbers = "local a, b, c = 1.5, .5, 3 .. '_x'; local d = 0x1p4, 1e-3",
      line_comment = "-- client._core and rawget(c, '_key')\nlocal a = 1",
      long_comment = "--[[ client._core\n c:_x() ]] local a = 1",
      level_comment = "--[==[ ]] client._core ]=] ]==] local a = 1",
      dq_string = 'local s = "client._core"',
      sq_string = "local s = 'x:_y('",
      escaped_quote = 'local s = "a\\"b._c"',
      escape_z = 'local s = "a\\z\n   b._c"',
      long_string = "local s = [[client._core]]",
      level_string = "local s = [=[ ]] a._b ]=]",
      shebang = "#!/usr/bin/env lua\nlocal a = self._x",
      labels = "::_retry:: goto _retry",
    }
    for name, src in pairs(clean) do
      it(name, function() assert.are.same({}, found(src)) end)
    end
  end)

  it("gives the line of each violation, after comments and strings over lines", function()
    local src = table.concat({
      "--[[ one",                   -- 1
      "two ]] local a = c._x",      -- 2
      "local s = [==[",             -- 3
      "c._y ]==]",                  -- 4
      "local t = 'a\\",             -- 5: an escaped newline inside a string
      "b' .. d._z",                 -- 6
      "#!/not/a/shebang/here",      -- 7 (not first: an op, no report)
    }, "\n")
    local lines = {}
    for _, v in ipairs(lint.check(src)) do lines[#lines + 1] = v.line .. " " .. v.what end
    assert.are.same({ "2 c._x", "6 d._z" }, lines)
  end)

  it("exits 1 and lists file:line for each violation, as make lint runs it", function()
    local out, rc, names = run({ "local ok = 1\nlocal k = client._key\n", "x:_y()\n" }, "/")
    assert.are.equal(1, rc, out)
    assert.matches(names[1]:gsub("%p", "%%%0") .. ":2: client._key", out)
    assert.matches(names[2]:gsub("%p", "%%%0") .. ":1: x:_y%(", out)
    assert.matches("2 violations in 2 files", out)
  end)

  it("exits 0 and says nothing on clean files", function()
    local out, rc = run({ "local v = self._core\n-- client._core\n" })
    assert.are.equal(0, rc, out)
    assert.are.equal("", out)
  end)

  it("covers lua/, bin/ (suffix or not), plugin/, examples/ and spec/, nothing else", function()
    local root = sub.sh("mktemp -d"):gsub("%s+$", "")
    for _, f in ipairs({ "lua/a/b.lua", "bin/tool", "plugin/p.lua", "examples/e.lua",
                         "spec/s_spec.lua", "spec/x/y.lua", "doc/d.lua", "lua/notes.txt", "x.lua" }) do
      os.execute("mkdir -p " .. sub.quote(root .. "/" .. (f:match("^(.*)/") or ".")))
      sub.write(root .. "/" .. f, "return 1\n")
    end
    local files = lint.tree_files(root)
    os.execute("rm -rf " .. sub.quote(root))
    assert.are.same({ "bin/tool", "examples/e.lua", "lua/a/b.lua", "plugin/p.lua",
                      "spec/s_spec.lua", "spec/x/y.lua" }, files)
  end)
end)
