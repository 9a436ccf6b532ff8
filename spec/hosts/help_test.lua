-- The help file inside a real headless Neovim: doc/kadoa.txt is indexed
-- with :helptags (a duplicate or malformed tag fails there), `:help kadoa`
-- opens it, and every tag it declares (*tag*) opens at its own definition,
-- so no link of the table of contents or of the README leads nowhere.
-- Every user command plugin/kadoa.lua defines must have its *:Command*
-- tag, so a new command cannot ship undocumented; so must every command
-- and kadoa.nvim function the README names, so the two stay in step,
-- and setup's own options carry kadoa.options' defaults.
--
--   nvim --headless -u NONE -i NONE -n -c "luafile spec/hosts/help_test.lua"
--
-- from the repository root (make test-nvim runs it). doc/ is copied to a
-- temporary folder put first on 'runtimepath', so no doc/tags is ever
-- written into the tree. Exits 0 when every check passed, else 1; one
-- line per check to stderr.

local root = vim.fn.getcwd()
local failures, passed = 0, 0

local function say(fmt, ...) io.stderr:write(string.format(fmt, ...) .. "\n") end

local function check(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
    say("ok    %s", name)
  else
    failures = failures + 1
    say("FAIL  %s\n%s", name, tostring(err))
  end
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The tags a help text declares: *tag* with blanks or the line's ends on
-- both sides and no blank, '*' or '|' inside (Vim's own rule), in order.
local function declared(text)
  local tags, seen = {}, {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    for tag in (" " .. line .. " "):gmatch("%s%*([^%s%*|]+)%*%f[%s]") do
      if not seen[tag] then
        seen[tag] = true
        tags[#tags + 1] = tag
      end
    end
  end
  return tags
end

local ok, err = xpcall(function()
  local tmp = vim.fn.tempname()
  vim.fn.mkdir(tmp .. "/doc", "p")
  for _, path in ipairs(vim.fn.glob(root .. "/doc/*.txt", false, true)) do
    local out = assert(io.open(tmp .. "/doc/" .. vim.fn.fnamemodify(path, ":t"), "wb"))
    out:write(read(path))
    out:close()
  end
  vim.opt.runtimepath:prepend(tmp)
  vim.opt.runtimepath:append(root)     -- the plugin, for its commands
  local help_file = tmp .. "/doc/kadoa.txt"
  local tags = declared(read(help_file))

  check(":helptags indexes doc/kadoa.txt without an error", function()
    vim.cmd("helptags " .. vim.fn.fnameescape(tmp .. "/doc"))
    local indexed = {}
    for line in io.lines(tmp .. "/doc/tags") do
      local tag, file = line:match("^([^\t]+)\t([^\t]+)\t")
      if file == "kadoa.txt" then indexed[#indexed + 1] = tag end
    end
    table.sort(indexed)
    local mine = { unpack(tags) }
    table.sort(mine)
    -- what this test parses is what Neovim indexed: none missed, none extra
    assert(vim.deep_equal(mine, indexed), "parsed " .. table.concat(mine, " ")
      .. "\nindexed " .. table.concat(indexed, " "))
    assert(#tags >= 20, "only " .. #tags .. " tags")
  end)

  check("the help file starts with *kadoa.txt* and ends with the help modeline", function()
    local text = read(help_file)
    assert(text:match("^%*kadoa%.txt%*"), "first line")
    assert(text:match("\n%s*vim:tw=78:ts=8:ft=help:norl:%s*$"), "modeline")
  end)

  check(":help kadoa opens doc/kadoa.txt", function()
    vim.cmd("help kadoa")
    assert(vim.bo.buftype == "help", "not a help buffer")
    assert(vim.fn.expand("%:p") == vim.fn.resolve(help_file) or vim.fn.expand("%:p") == help_file,
      "opened " .. vim.fn.expand("%:p"))
    vim.cmd("helpclose")
  end)

  for _, tag in ipairs(tags) do
    check(":help " .. tag, function()
      vim.cmd("help " .. vim.fn.escape(tag, " \\|\""))
      assert(vim.fn.expand("%:t") == "kadoa.txt", "opened " .. vim.fn.expand("%:p"))
      local line = vim.api.nvim_get_current_line()
      assert(line:find("*" .. tag .. "*", 1, true), "landed on: " .. line)
      vim.cmd("helpclose")
    end)
  end

  check("every :Kadoa* command of plugin/kadoa.lua has a *:Command* tag", function()
    vim.cmd("runtime plugin/kadoa.lua")
    local have = {}
    for _, t in ipairs(tags) do have[t] = true end
    local names, missing = {}, {}
    for name in pairs(vim.api.nvim_get_commands({})) do
      if name:match("^Kadoa") then
        names[#names + 1] = name
        if not have[":" .. name] then missing[#missing + 1] = ":" .. name end
      end
    end
    -- the plugin's own source names them too: a command defined some other
    -- way must not slip past
    for name in read(root .. "/plugin/kadoa.lua"):gmatch("nvim_create_user_command%(%s*[\"'](%w+)[\"']") do
      if not have[":" .. name] and not vim.tbl_contains(missing, ":" .. name) then
        missing[#missing + 1] = ":" .. name
      end
    end
    assert(#names >= 6, "the plugin defined " .. #names .. " commands")
    assert(#missing == 0, "no tag for " .. table.concat(missing, ", "))
  end)

  check("setup's own options are documented with kadoa.options' defaults", function()
    local text = read(help_file)
    local options = require("kadoa.options")
    for name, d in pairs(options.groups.nvim) do
      -- the paragraph after the option's tag, up to the next tag line
      local para = text:match("%*kadoa%-option%-" .. name .. "%*\n(.-)\n%s*%*")
      assert(para, "no *kadoa-option-" .. name .. "* paragraph")
      assert(para:find("default " .. tostring(d.default), 1, true),
        name .. ": the default " .. tostring(d.default) .. " is not in: " .. para)
    end
  end)

  check("every :Kadoa* command and kadoa.nvim function the README names has its tag", function()
    local readme = read(root .. "/README.md")
    local have, missing = {}, {}
    for _, t in ipairs(tags) do have[t] = true end
    for name in readme:gmatch(":(Kadoa%w+)") do
      if not have[":" .. name] then missing[#missing + 1] = ":" .. name end
    end
    -- kn.name( in the README's examples is require("kadoa.nvim").name
    for name in readme:gmatch("kn%.([%w_]+)%(") do
      local tag = "kadoa.nvim." .. name .. "()"
      if not have[tag] then missing[#missing + 1] = tag end
    end
    assert(#missing == 0, "the README names, the help file lacks: " .. table.concat(missing, ", "))
  end)

  vim.fn.delete(tmp, "rf")
end, debug.traceback)

if not ok then
  say("help_test: %s", tostring(err))
  failures = failures + 1
end
-- the closing line .ci/summary counts: "OK|FAILED: N passed, N failed"
say("%s: %d passed, %d failed (help)", failures == 0 and "OK" or "FAILED", passed, failures)
vim.cmd(failures == 0 and "qall!" or "cquit 1")
