-- kadoa.cli.cache: the command's compiled modules, kept per user. Each test
-- runs the real command (or a script that installs the cache as bin/kadoa
-- does) in a fresh interpreter of this Lua, with XDG_CACHE_HOME pointing at
-- a folder of the test's own, and looks at what was kept and what was used.

local sub = require("spec.helpers.subprocess")

local JIT = rawget(_G, "jit")
local FOLDER = ((JIT and JIT.version or _VERSION):gsub("[^%w.]", "-"))
local HAS_CACHE = JIT or _VERSION ~= "Lua 5.1"   -- plain Lua 5.1 has no package.searchpath: no cache

local function mode(path)
  local p = io.popen("stat -c %a " .. sub.quote(path) .. " 2>/dev/null")
  local m = p:read("*l")
  p:close()
  return m
end

local function fresh()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. sub.quote(d)))
  return d
end

-- kadoa --version with the cache in `home`: { out, err, ok }
local function version(home)
  local env = { XDG_CACHE_HOME = home, KADOA_API_KEY = false }
  -- the exit status echoed: LuaJIT's popen close does not give it
  local p = io.popen(sub.command(env) .. " bin/kadoa --version 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  local text, rc = out:match("^(.*)rc=(%d+)\n$")
  return text, rc == "0"
end

-- an entry as the cache writes it: the path and stamp of the source it was
-- made from, then its bytecode
local function parse(entry)
  return entry:match("^([^\n]*)\n([^\n]*)\n(.*)$")
end

describe("the command's module cache", function()
  local home
  before_each(function() home = fresh() end)
  after_each(function() os.execute("rm -rf " .. sub.quote(home)) end)

  local function entry_of(name) return home .. "/kadoa/" .. FOLDER .. "/" .. name .. ".luac" end

  it("keeps each module it compiled, in a private folder, and runs as without it", function()
    local out, ok = version(home)
    assert.is_true(ok, out)
    assert.truthy(out:find("^kadoa %d"), out)
    if not HAS_CACHE then
      assert.is_nil(sub.read(entry_of("kadoa.cli.args")))
      return
    end
    assert.are.equal("700", mode(home .. "/kadoa/" .. FOLDER))
    local core = require("kadoa.core")
    for _, name in ipairs({ "kadoa.cli.args", "kadoa.cli.verbs", "kadoa.client", "kadoa.format" }) do
      local entry = assert(sub.read(entry_of(name)), name .. " was not kept")
      assert.are.equal("600", mode(entry_of(name)))
      local path, stamp, bytecode = parse(entry)
      assert.are.equal(package.searchpath(name, "./lua/?.lua"), path)
      assert.are.equal(core.stamp(path), stamp)
      assert.are.equal("function", type(load(bytecode, "=kept", "b")), name)
    end
    -- the second run reads what the first kept, and prints the same
    local again, ok2 = version(home)
    assert.is_true(ok2, again)
    assert.are.equal(out, again)
  end)

  if not HAS_CACHE then return end

  it("runs a module's kept bytecode while its source has the stamp it was made from", function()
    assert(version(home))
    local file = entry_of("kadoa.cli.exit")
    local path, stamp = parse(assert(sub.read(file)))
    local trap = string.dump(assert(load('error("the kept kadoa.cli.exit ran")')))
    sub.write(file, path .. "\n" .. stamp .. "\n" .. trap)
    local out, ok = version(home)
    assert.is_false(ok)
    assert.truthy(out:find("the kept kadoa.cli.exit ran", 1, true), out)
  end)

  it("compiles again, and keeps anew, a module whose source changed or whose entry is broken", function()
    assert(version(home))
    local file = entry_of("kadoa.cli.exit")
    local path, stamp, bytecode = parse(assert(sub.read(file)))
    local trap = string.dump(assert(load('error("a stale entry ran")')))
    local size, rest = stamp:match("^(%d+)(.*)$")
    for _, entry in ipairs({
      path .. "\n" .. (size + 1) .. rest .. "\n" .. trap,       -- another size
      path .. "\n" .. size .. " 1.000000000" .. rest:match(" %d+$") .. "\n" .. trap,  -- another time
      "/elsewhere/exit.lua\n" .. stamp .. "\n" .. trap,           -- another path
      path .. "\n" .. stamp .. "\n" .. "\27Lua not bytecode",       -- broken bytecode
      path .. "\n" .. stamp .. "\n" .. bytecode:sub(1, 10),         -- cut short
      path .. "\n" .. stamp .. "\n" .. 'error("text ran")',         -- text, never loaded
      path .. "\n" .. stamp,                                        -- no bytecode at all
    }) do
      sub.write(file, entry)
      local out, ok = version(home)
      assert.is_true(ok, out)
      assert.truthy(out:find("^kadoa %d"), out)
      local kept_path, kept_stamp, kept = parse(assert(sub.read(file)))
      assert.are.equal(path, kept_path)
      assert.are.equal(stamp, kept_stamp)
      assert.are.equal("function", type(load(kept, "=kept", "b")))
    end
  end)

  it("works the same with nowhere to keep anything", function()
    for _, where in ipairs({ "/dev/null", "/dev/null/below" }) do
      local out, ok = version(where)
      assert.is_true(ok, out)
      assert.truthy(out:find("^kadoa %d[^\n]*\n$"), out)
    end
  end)

  it("keeps functions' source and lines, so tracebacks read as without it", function()
    local code = [[
      if arg[1] == "cache" then require("kadoa.cli.cache").install() end
      local info = debug.getinfo(require("kadoa.text").width, "S")
      local ok, err = pcall(require("kadoa.text").width, 42)
      io.write(info.source, ":", info.linedefined, " ", tostring(ok), " ", tostring(err))
    ]]
    local env = { XDG_CACHE_HOME = home }
    local plain = sub.lua(code, env, "plain")
    local first = sub.lua(code, env, "cache")
    local kept = sub.lua(code, env, "cache")
    assert.truthy(plain:find("text.lua:%d+ "), plain)
    assert.truthy(sub.read(entry_of("kadoa.text")), "kadoa.text was not kept")
    assert.are.equal(plain, first)
    assert.are.equal(plain, kept)
  end)
end)
