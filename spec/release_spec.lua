-- A release says one version everywhere: the C core's KADOA_VERSION (what
-- kadoa.version and `kadoa --version` print), the versioned rockspec's
-- version, file name and tag, and CHANGELOG.md's newest entry. The
-- versioned rockspec builds, installs and tests exactly as
-- kadoa-scm-1.rockspec does, and LuaRocks' own lint passes both.
local sub = require("spec.helpers.subprocess")
local kadoa = require("kadoa")

-- A rockspec's fields, as LuaRocks reads them (a Lua chunk of globals).
local function rockspec(path)
  local text = assert(sub.read(path), path)
  local env, chunk = {}
  if rawget(_G, "setfenv") then
    chunk = assert(loadstring(text, path))
    setfenv(chunk, env)
  else
    chunk = assert(load(text, path, "t", env))
  end
  chunk()
  return env
end

local version = kadoa.version
local released = "kadoa-" .. version .. "-1.rockspec"

describe("the release " .. version, function()
  it("is the C core's KADOA_VERSION, and what kadoa --version prints", function()
    assert.are.equal(version, sub.read("src/kadoa.h"):match('#define KADOA_VERSION "([^"]+)"'))
    local out = sub.sh(sub.interpreter .. " bin/kadoa --version 2>&1")
    assert.are.equal("kadoa " .. version .. " (", out:match("^kadoa [^ ]+ %("), out)
  end)

  it("has its rockspec, pointing at its tag, and the scm one beside it", function()
    local r = rockspec(released)
    assert.are.equal(version .. "-1", r.version)
    assert.are.equal("kadoa", r.package)
    assert.are.equal("v" .. version, r.source.tag)
    assert.are.equal("git+https://github.com/kadoa-lua/kadoa.git", r.source.url)
    local scm = rockspec("kadoa-scm-1.rockspec")
    assert.are.equal("scm-1", scm.version)
    assert.is_nil(scm.source.tag)
    -- no other versioned rockspec lingers next to them
    assert.are.equal("kadoa-" .. version .. "-1.rockspec\nkadoa-scm-1.rockspec\n",
      sub.sh("ls kadoa-*.rockspec"))
  end)

  it("builds, installs and tests as kadoa-scm-1.rockspec does: only version and source differ", function()
    local r, scm = rockspec(released), rockspec("kadoa-scm-1.rockspec")
    r.version, scm.version = nil, nil
    r.source.tag = nil
    assert.are.same(scm, r)
    assert.is_true(sub.exists(scm.test.script), scm.test.script)
  end)

  it("is the newest entry of CHANGELOG.md, which has 0.1.0 too", function()
    local log = assert(sub.read("CHANGELOG.md"))
    assert.are.equal(version, log:match("\n## %[(%d+%.%d+%.%d+)%]"))
    assert.truthy(log:find("\n## [0.1.0]", 1, true))
    assert.truthy(log:find("\n[" .. version .. "]: ", 1, true), "a link for " .. version)
  end)

  it("passes luarocks lint, both rockspecs", function()
    if sub.sh("command -v luarocks") == "" then return pending("luarocks is not installed") end
    for _, path in ipairs({ released, "kadoa-scm-1.rockspec" }) do
      -- lint prints nothing when all is well; under `make asan` luarocks's
      -- probe of the lua5.4 on PATH (the sanitised host) prints its usage
      -- first, which is no lint finding
      local out = sub.sh("luarocks --lua-version=5.4 lint " .. path .. " 2>&1 && echo ok")
      assert.truthy(out:match("\nok\n$") or out == "ok\n", path .. ": " .. out)
      assert.is_nil(out:find("rockspec", 1, true), path .. ": " .. out)
    end
  end)
end)

describe("luarocks test", function()
  it("runs the specs it is given and fails when one fails", function()
    if sub.sh("command -v luarocks") == "" then return pending("luarocks is not installed") end
    if sub.interpreter ~= "lua5.4" then return pending("runs once, in the Lua 5.4 run") end
    local failing = os.tmpname() .. "_spec.lua"
    finally(function() os.remove(failing) end)
    sub.write(failing, 'describe("x", function() it("fails", function() assert.are.equal(1, 2) end) end)\n')
    local cmd = "luarocks --lua-version=5.4 test kadoa-scm-1.rockspec -- "
    local out = sub.sh(cmd .. "spec/json_spec.lua 2>&1; echo rc=$?")
    assert.truthy(out:find(" 0 failures", 1, true) and out:find("rc=0\n$"), out)
    out = sub.sh(cmd .. sub.quote(failing) .. " 2>&1; echo rc=$?")
    assert.truthy(out:find("1 failure", 1, true) and not out:find("rc=0\n$"), out)
  end)
end)
