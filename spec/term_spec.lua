-- The C core's terminal (src/term.c): core.isatty, core.term_size and
-- core.terminal as people meet them, in a terminal (a tmux pane, whose mode is read from
-- outside with stty while the script runs), and without one (setsid).

local sub = require("spec.helpers.subprocess")
local core = require("kadoa.core")

local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function eventually(f, limit, what)
  local stop = core.monotime() + (limit or 20)
  while not f() do
    assert(core.monotime() < stop, "gave up waiting for " .. (what or "a condition"))
    core.sleep(0.05)
  end
end

describe("core.term_size and core.terminal", function()
  it("say nil and why where there is no terminal", function()
    if not execute("command -v setsid >/dev/null 2>&1") then return pending("setsid is not installed") end
    local script = os.tmpname()
    sub.write(script, [[
      local core = require("kadoa.core")
      print(core.term_size())
      print(core.terminal())
    ]])
    -- a new session has no controlling terminal: /dev/tty cannot open
    local out = sub.sh("setsid -w " .. sub.command() .. " " .. sub.quote(script) .. " </dev/null 2>&1")
    os.remove(script)
    assert.matches("^nil\tno terminal %(/dev/tty%): [^\n]+\nnil\tno terminal %(/dev/tty%): ", out)
  end)

  it("say nil and why when the terminal does not know its size", function()
    if not execute("command -v script >/dev/null 2>&1") then return pending("script is not installed") end
    local script = os.tmpname()
    sub.write(script, [[print(require("kadoa.core").term_size())]])
    -- script's terminal is 0 x 0 until someone sets it
    local run = sub.command() .. " " .. sub.quote(script)
    local out = sub.sh("script -qec " .. sub.quote(run) .. " /dev/null </dev/null")
    os.remove(script)
    assert.matches("^nil\tthe terminal does not say its size\r?\n$", out)
  end)

  it("core.isatty: true for a terminal, false for a pipe or /dev/null; a bad fd raises", function()
    if not execute("command -v script >/dev/null 2>&1") then return pending("script is not installed") end
    local script = os.tmpname()
    finally(function() os.remove(script) end)
    sub.write(script, [[
      local core = require("kadoa.core")
      print(core.isatty(1), core.isatty(0), core.isatty(9))
    ]])
    local run = sub.command() .. " " .. sub.quote(script)
    -- script gives its command a terminal for stdin and stdout
    local out = sub.sh("script -qec " .. sub.quote(run) .. " /dev/null </dev/null")
    assert.matches("^true\ttrue\tfalse\r?\n$", out)
    assert.are.equal("false\tfalse\tfalse\n", sub.sh(run .. " </dev/null"))
    assert.has_error(function() core.isatty(-1) end)
    assert.has_error(function() core.isatty("one") end)
  end)

  it("in a tmux pane: the size, raw mode, keys, Ctrl-C as a byte, the mode back on close "
    .. "and on an error nobody catches", function()
    if not execute("command -v tmux >/dev/null 2>&1") then return pending("tmux is not installed") end
    local script = os.tmpname()
    finally(function() os.remove(script) end)
    sub.write(script, [=[
      local core = require("kadoa.core")
      local function say(...) io.write(table.concat({ ... }, " "), "\n") io.flush() end
      say("SIZE", table.concat({ core.term_size() }, "x"))
      local t = assert(core.terminal())
      assert(t:raw())
      say("RAW", tostring(t))
      local got, stop = "", core.monotime() + 20
      while #got < 2 and core.monotime() < stop do got = got .. assert(t:read(8, 0.5)) end
      say("KEYS", (got:gsub("%c", function(c) return "<" .. c:byte() .. ">" end)))
      local t0 = core.monotime()
      local none = t:read(1, 0.3)
      say("NONE", ("%q"):format(none), core.monotime() - t0 >= 0.25 and "waited" or "did not wait")
      say("BAD", tostring(pcall(t.read, t, 0)), tostring(pcall(t.read, t, 257)))
      t:close()
      t:close()
      local ok, msg = pcall(t.raw, t)
      say("CLOSED", tostring(t), tostring(ok), msg:match("closed") or msg)
      io.read("*l")
      say("SIZE2", table.concat({ core.term_size() }, "x"))
      local t2 = assert(core.terminal())
      assert(t2:raw())
      say("RAW2")
      error("boom")
    ]=])
    local sock = ("kadoa-term-spec-%s-%d-%s"):format(sub.interpreter, os.time(),
      tostring({}):match("0x(%x+)") or "0")
    local tmux = "tmux -L " .. sub.quote(sock) .. " -f /dev/null "
    finally(function() os.execute(tmux .. "kill-server >/dev/null 2>&1") end)
    assert.is_true(execute(tmux .. "new-session -d -x 91 -y 17 "
      .. sub.quote(sub.command() .. " " .. sub.quote(script) .. "; echo EXIT=$?; sleep 60")))
    local pane = sub.sh(tmux .. "display -p '#{pane_tty}'"):match("%S+")
    assert.matches("^/dev/", pane)
    local function screen() return sub.sh(tmux .. "capture-pane -p -S -50 2>/dev/null") end
    local function line(tag)
      local s
      eventually(function()
        s = screen():match("\n?" .. tag .. " ?([^\n]*)")
        return s ~= nil
      end, 20, tag .. " in:\n" .. screen())
      return s
    end
    -- the pane's mode, as stty reads it from outside: the flags that matter
    local function mode()
      local flags = {}
      for w in sub.sh("stty -a -F " .. sub.quote(pane)):gmatch("[^%s;]+") do
        local flag = w:gsub("^%-", "")
        if flag == "icanon" or flag == "echo" or flag == "isig" then flags[#flags + 1] = w end
      end
      table.sort(flags)
      return table.concat(flags, " ")
    end
    assert.are.equal("17x91", line("SIZE"))
    assert.are.equal("kadoa.tty (raw)", line("RAW"))
    assert.are.equal("-echo -icanon -isig", mode())
    assert.is_true(execute(tmux .. "send-keys x"))
    assert.is_true(execute(tmux .. "send-keys C-c"))
    assert.are.equal("x<3>", line("KEYS"))   -- Ctrl-C is a key now, not a signal
    assert.are.equal('"" waited', line("NONE"))
    assert.are.equal("false false", line("BAD"))
    assert.are.equal("kadoa.tty (closed) false closed", line("CLOSED"))
    assert.are.equal("echo icanon isig", mode())
    assert.is_true(execute(tmux .. "resize-window -x 70 -y 12"))
    eventually(function()
      return sub.sh(tmux .. "display -p '#{pane_width}x#{pane_height}'"):match("70x12")
    end)
    assert.is_true(execute(tmux .. "send-keys Enter"))
    assert.are.equal("12x70", line("SIZE2"))
    line("RAW2")
    -- the script died of its error; the interpreter's closing put the mode back
    assert.are.equal("1", line("EXIT="))
    assert.matches("boom", screen())
    assert.are.equal("echo icanon isig", mode())
  end)
end)
