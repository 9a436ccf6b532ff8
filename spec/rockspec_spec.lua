-- The rock installs every module of the library, and only files that exist
-- (each rockspec: the scm one and the release's):
-- a module added to lua/kadoa/ and forgotten in the rockspec would be
-- missing from every LuaRocks install.
local sub = require("spec.helpers.subprocess")

for rockspec in sub.sh("ls kadoa-*.rockspec"):gmatch("[^\n]+") do
  describe(rockspec, function()
    it("lists every Lua module of lua/kadoa, each under its own name", function()
      local spec = assert(sub.read(rockspec))
      local listed = {}
      for mod, path in spec:gmatch('%["(kadoa[%w_.]*)"%]%s*=%s*"(lua/[^"]+%.lua)"') do
        assert.are.equal(mod, (path:sub(5, -5):gsub("/", ".")), path)
        assert.is_true(sub.exists(path), path .. " is listed but does not exist")
        listed[path] = true
      end
      for path in sub.sh("find lua/kadoa -name '*.lua' | sort"):gmatch("[^\n]+") do
        assert.is_true(listed[path] == true, path .. " is not in the rockspec")
      end
    end)
  end)
end
