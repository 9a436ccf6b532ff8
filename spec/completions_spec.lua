-- The shell completions and the man page: written from the table the
-- parser reads (kadoa.cli.verbs), so what they offer is what the command
-- takes; the committed files equal to what completions/gen.lua writes, the
-- bash completion run in a real bash, zsh's and fish's read by those
-- shells, and the man page read by man with its warnings on.
local sub = require("spec.helpers.subprocess")
local verbs = require("kadoa.cli.verbs")
local args = require("kadoa.cli.args")
local help = require("kadoa.cli.help")

local function have(cmd)
  return sub.sh("command -v " .. cmd .. " >/dev/null 2>&1 && echo yes") == "yes\n"
end

describe("kadoa.cli.verbs drives the command", function()
  -- the words a verb needs to pass check, and a flag's value that passes
  local WORDS = { page = { "s", "p" }, export = { "s", "d" }, file = { "n" }, status = { "s" },
    wait = { "s" }, pause = { "s" }, resume = { "s" }, pages = { "s" }, files = { "s" },
    api = { "status", "s" }, crawl = { "https://a/" }, config = { "create", "https://a/" } }
  local function value(f)
    if f.whole then return "3" elseif f.duration then return "2s"
    elseif type(f.kind) == "table" then return f.kind[1] end
    return "x"
  end

  it("the parser takes each flag with the verbs the table gives it, and refuses it elsewhere", function()
    for _, v in ipairs(verbs.verbs) do
      for _, f in ipairs(verbs.flags) do
        if f.name ~= "help" and f.name ~= "version" and v.name ~= "help" then
          local argv = { v.name }
          for _, w in ipairs(WORDS[v.name] or {}) do argv[#argv + 1] = w end
          argv[#argv + 1] = "--" .. f.name
          if f.value or v.any_option then argv[#argv + 1] = value(f) end
          if v.name == "crawl" and f.name ~= "wait" then argv[#argv + 1] = "--wait" end
          local cmd, msg = args.parse(argv)
          local ok
          if cmd then ok, msg = args.check(cmd) end
          local label = table.concat(argv, " ")
          if verbs.takes(f, v.name) then
            assert.is_nil(msg and msg:find("is for", 1, true), label .. ": " .. tostring(msg))
          elseif v.any_option then
            -- kadoa api: a flag of other verbs is one of the call's options
            assert.are.same({ { f.name, value(f) } }, cmd.options.fields, label)
          else
            assert.is_nil(ok, label)
            assert.matches("option %-%-" .. f.name:gsub("%-", "%%-") .. " is for", msg, 1, label)
          end
        end
      end
    end
  end)

  it("the main help lists every verb in the table's order, each verb's help names its flags", function()
    local at = 0
    for _, v in ipairs(verbs.verbs) do
      local i = help.main:find("\n  " .. v.name .. "[ \n]")
      assert.is_truthy(i and i > at, v.name)
      at = i
      assert.is_string(help[v.name], v.name)
      if v.name ~= "help" then
        assert.matches("^Usage: kadoa " .. v.name .. " ", help[v.name])
        for _, f in ipairs(verbs.flags_of(v.name)) do
          if f.name ~= "version" then
            assert.truthy(help[v.name]:find("--" .. f.name, 1, true), v.name .. " --" .. f.name)
          end
        end
      end
    end
  end)

  it("the words a verb offers are the ones its parser takes", function()
    for _, v in ipairs(verbs.verbs) do
      if v.actions then
        local words = {}
        for _, w in ipairs(v.words) do words[w] = true end
        for w in pairs(v.actions) do assert.is_true(words[w], w) end
        for w in pairs(words) do assert.is_truthy(args.parse({ v.name, w }), w) end
        assert.is_nil(args.parse({ v.name, "frob" }))
      end
    end
  end)
end)

describe("completions/ and doc/kadoa.1", function()
  local gen = dofile("completions/gen.lua")

  it("are what completions/gen.lua writes (run `make completions` after changing the CLI)", function()
    for _, f in ipairs(gen.files) do
      assert.are.equal(f[2](), sub.read(f[1]), f[1] .. " is stale")
    end
  end)

  it("name the version of the C core in the man page", function()
    assert.are.equal(require("kadoa").version, gen.version())
    assert.truthy(sub.read("doc/kadoa.1"):find('"kadoa ' .. gen.version() .. '"', 1, true))
  end)
end)

describe("the bash completion, in a real bash", function()
  -- What _kadoa offers for the words typed so far (the last one is being completed).
  local function offers(...)
    local words = {}
    for i, w in ipairs({ ... }) do words[i] = sub.quote(w) end
    local script = "source completions/kadoa.bash; COMP_WORDS=(" .. table.concat(words, " ")
      .. "); COMP_CWORD=" .. (#words - 1) .. '; _kadoa; printf "%s\\n" "${COMPREPLY[@]}"'
    local out = sub.sh("bash --norc --noprofile -c " .. sub.quote(script) .. " 2>&1")
    local t = {}
    for line in out:gmatch("[^\n]+") do t[#t + 1] = line end
    table.sort(t)
    return t
  end

  it("offers the verbs", function()
    assert.are.same({ "export" }, offers("kadoa", "ex"))
    assert.are.same({ "page", "pages", "pause" }, offers("kadoa", "pa"))
    assert.are.equal(#verbs.verbs, #offers("kadoa", ""))
    assert.are.same({ "status" }, offers("kadoa", "--base-url", "http://x", "st"))
  end)

  it("offers each verb's own flags, and only the common ones before a verb", function()
    assert.are.same({ "--max-depth", "--max-interval", "--max-pages" }, offers("kadoa", "crawl", "--max"))
    assert.are.same({ "--json", "--long" },
      { offers("kadoa", "status", "--j")[1], offers("kadoa", "status", "--l")[1] })
    assert.are.same({ "--format", "--output" },
      { offers("kadoa", "page", "--f")[1], offers("kadoa", "page", "x", "--o")[1] })
    assert.are.same({ "--concurrency", "--config" },
      { offers("kadoa", "export", "--co")[1], offers("kadoa", "crawl", "--co")[1] })
    assert.are.same({}, offers("kadoa", "--j"))
    assert.are.same({ "--version" }, offers("kadoa", "--v"))
  end)

  it("offers a flag's values: format names, files for file options, nothing for ids and numbers", function()
    assert.are.same({ "html", "markdown", "md" }, offers("kadoa", "page", "--format", ""))
    assert.are.same({ "markdown", "md" }, offers("kadoa", "export", "--format", "=", "m"))
    assert.are.same({ "completions/kadoa.bash" }, offers("kadoa", "crawl", "--body", "completions/kadoa.b"))
    assert.are.same({ "completions/kadoa.bash" }, offers("kadoa", "page", "-o", "completions/kadoa.b"))
    assert.are.same({ "completions/kadoa.bash" }, offers("kadoa", "--api-key-file", "completions/kadoa.b"))
    assert.are.same({}, offers("kadoa", "crawl", "--max-pages", ""))
    assert.are.same({}, offers("kadoa", "crawl", "--config", ""))
  end)

  it("never offers session ids (no request from a completion), offers directories to export", function()
    assert.are.same({}, offers("kadoa", "status", ""))
    assert.are.same({}, offers("kadoa", "wait", "--interval", "2", ""))
    assert.are.same({}, offers("kadoa", "export", ""))
    assert.are.same({ "completions" }, offers("kadoa", "export", "some-id", "completion"))
    assert.are.same({ "create", "delete", "get" }, offers("kadoa", "config", ""))
    assert.are.same({}, offers("kadoa", "config", "get", ""))
    assert.are.same({ "page", "pages", "pause" }, offers("kadoa", "help", "pa"))
  end)
end)

describe("the zsh and fish completions", function()
  it("are read by zsh without an error", function()
    if not have("zsh") then return pending("zsh is not installed (.ci/deps installs it)") end
    assert.are.equal("ok\n", sub.sh("zsh -n completions/_kadoa 2>&1 && echo ok"))
  end)

  it("offer, in a real zsh line editor, verbs, each verb's flags and values, and no ids", function()
    if not have("zsh") then return pending("zsh is not installed (.ci/deps installs it)") end
    local function offers(line)
      local t = {}
      local out = sub.sh("timeout 20 zsh -f spec/helpers/zsh_complete.zsh " .. sub.quote(line) .. " 2>&1")
      for w in out:gmatch("[^\n]+") do t[#t + 1] = w end
      return t, out
    end
    local function set(t) local s = {} for _, w in ipairs(t) do s[w] = true end return s end
    assert.are.same({ "export" }, offers("kadoa ex"))
    assert.are.same({ "page", "pages", "pause" }, offers("kadoa help pa"))
    assert.are.same({ "html", "markdown", "md" }, offers("kadoa page --format "))
    assert.are.same({ "create", "delete", "get" }, offers("kadoa config "))
    local status = set(offers("kadoa status --"))
    assert.is_true(status["--json"] and status["--long"] and not status["--wait"])
    local crawl = set(offers("kadoa crawl --"))
    assert.is_true(crawl["--max-pages"] and crawl["--filter-in"] and crawl["--wait"] and not crawl["--json"])
    assert.is_true(set(offers("kadoa export id compl"))["completions"])
    for _, w in ipairs(offers("kadoa status ")) do
      assert.are.equal("-", w:sub(1, 1), "a session id offered: " .. w)
    end
  end)

  it("are read by fish, and offer verbs, flags and values", function()
    if not have("fish") then return pending("fish is not installed (.ci/deps installs it)") end
    assert.are.equal("ok\n", sub.sh("fish -n completions/kadoa.fish 2>&1 && echo ok"))
    local out = sub.sh("fish --no-config -c " .. sub.quote("source completions/kadoa.fish; "
      .. "complete -C 'kadoa ex'; complete -C 'kadoa page --format '; complete -C 'kadoa crawl --max-p'; "
      .. "complete -C 'kadoa config '") .. " 2>&1")
    for _, want in ipairs({ "export\t", "\nmarkdown\t", "\n%-%-max%-pages\t", "\ncreate\n" }) do
      assert.truthy(out:find(want), want .. " in:\n" .. out)
    end
  end)
end)

describe("doc/kadoa.1", function()
  it("is read by man with no warning, and lists every flag", function()
    if not have("man") then return pending("man is not installed (.ci/deps installs man-db)") end
    assert.are.equal("", sub.sh("man --warnings -l doc/kadoa.1 2>&1 >/dev/null"))
    local text = sub.sh("MANWIDTH=200 man -l doc/kadoa.1 2>/dev/null")
    for _, f in ipairs(verbs.flags) do
      assert.truthy(text:find("--" .. f.name, 1, true), f.name)
    end
  end)
end)
