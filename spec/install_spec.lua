-- make install / make uninstall (install.mk) as a packager runs them: into
-- a temporary DESTDIR, for the Lua running this suite; the installed
-- command runs with only that tree on the module paths, the man page and
-- completions are where man and the shells look, and uninstall leaves no
-- file of ours behind.
local sub = require("spec.helpers.subprocess")
local q = sub.quote

describe("make install and make uninstall", function()
  local lua = sub.interpreter
  local ver = lua == "luajit" and "5.1" or lua:match("%d+%.%d+")

  it("install a working command, its man page and completions, and uninstall all of it", function()
    local dest = sub.sh("mktemp -d"):gsub("\n$", "")
    finally(function() sub.sh("rm -rf " .. q(dest)) end)
    local make = "make --no-print-directory LUA=" .. lua .. " PREFIX=/opt/k DESTDIR=" .. q(dest)
    local out = sub.sh(make .. " install 2>&1; echo rc=$?")
    assert.truthy(out:find("rc=0\n$"), out)
    local root = dest .. "/opt/k"
    for _, f in ipairs({
      "bin/kadoa", "lib/lua/" .. ver .. "/kadoa/core.so", "share/lua/" .. ver .. "/kadoa/init.lua",
      "share/lua/" .. ver .. "/kadoa/cli/commands/crawl.lua", "share/man/man1/kadoa.1",
      "share/bash-completion/completions/kadoa", "share/zsh/site-functions/_kadoa",
      "share/fish/vendor_completions.d/kadoa.fish",
    }) do
      assert.is_true(sub.exists(root .. "/" .. f), f .. " was not installed")
    end
    assert.are.equal(sub.read("completions/kadoa.bash"),
      sub.read(root .. "/share/bash-completion/completions/kadoa"))
    assert.are.equal("#!/usr/bin/env " .. lua .. "\n", sub.read(root .. "/bin/kadoa"):match("^[^\n]*\n"))

    -- the command from another folder, with only the installed tree on the paths
    local env = "cd / && LUA_PATH=" .. q(root .. "/share/lua/" .. ver .. "/?.lua;" .. root .. "/share/lua/"
      .. ver .. "/?/init.lua") .. " LUA_CPATH=" .. q(root .. "/lib/lua/" .. ver .. "/?.so") .. " "
    local kadoa = env .. q(root .. "/bin/kadoa")
    assert.are.equal("kadoa " .. require("kadoa").version .. " (",
      sub.sh(kadoa .. " --version 2>&1"):match("^kadoa [^ ]+ %("))
    assert.truthy(sub.sh(kadoa .. " --help 2>&1"):find("Usage: kadoa", 1, true))
    if sub.sh("command -v man") ~= "" then
      assert.truthy(sub.sh("MANPATH=" .. q(root .. "/share/man") .. " man -P cat kadoa 2>&1"):find("kadoa"))
    end

    out = sub.sh(make .. " uninstall 2>&1; echo rc=$?")
    assert.truthy(out:find("rc=0\n$"), out)
    assert.are.equal("", sub.sh("find " .. q(dest) .. " -type f"))
    assert.are.equal("", sub.sh("find " .. q(dest) .. " -name '*kadoa*'"))
  end)

  it("refuses several Lua versions at once", function()
    local out = sub.sh("make --no-print-directory install 'LUA=lua5.4 lua5.3' DESTDIR=/nonexistent 2>&1;"
      .. " echo rc=$?")
    assert.truthy(out:find("one Lua at a time", 1, true), out)
    assert.truthy(out:find("rc=2\n$"), out)
  end)
end)
