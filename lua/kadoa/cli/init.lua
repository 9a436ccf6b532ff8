-- kadoa.cli: the kadoa command, callable in-process.
--
--   local code = require("kadoa.cli").main(argv [, env])
--
-- argv is the command's arguments (no program name); the result is the
-- exit code (kadoa.cli.exit). env, optional, replaces the outside world
-- (see kadoa.cli.env): stdout, stderr, getenv, is_terminal(), width(),
-- read_key_file(path). bin/kadoa is this and os.exit.
--
-- The jobs live next door: args (the command line, durations), help (the
-- texts), key (the API key), output (every write; blanks the key), display
-- (wait's live or plain lines), progress (export's bar or plain lines),
-- and one module per command under commands/ (crawl and config share the
-- body rules; pages holds pages and page; control pause and resume).
-- Everything printed goes through kadoa.format or kadoa.text (server text
-- is escaped there) and, last, through output, which blanks the API key,
-- so the key cannot reach a terminal or a log.

local kadoa = require("kadoa")
local core = require("kadoa.core")
local format = require("kadoa.format")
local args = require("kadoa.cli.args")
local display = require("kadoa.cli.display")
local environment = require("kadoa.cli.env")
local exit = require("kadoa.cli.exit")
local help = require("kadoa.cli.help")
local key = require("kadoa.cli.key")
local output = require("kadoa.cli.output")
local wait_command = require("kadoa.cli.commands.wait")

-- Each command's module, loaded when it runs: `kadoa status` need not
-- load export's code.
local function command_module(name)
  return require("kadoa.cli.commands." .. name)
end

local M = {}

local shown = output.shown
local interrupted = wait_command.interrupted

---@return string
function M.version_text()
  local lua = rawget(_G, "jit") and jit.version or _VERSION
  local ok, info = pcall(core.curl_info)
  local curl = ok and type(info) == "table" and info.version and (", libcurl " .. info.version) or ""
  return ("kadoa %s (%s%s)"):format(kadoa.version, lua, curl)
end

local function run(argv, env, out)
  local topic, want_version = args.early(argv, help)
  if topic then
    out:write(out.stdout, help[topic])
    return exit.ok
  end
  if want_version then
    out:out(M.version_text())
    return exit.ok
  end

  local cmd, msg, in_command = args.parse(argv)
  if not cmd then return out:usage_error(msg, in_command) end
  local command, opts, ids = cmd.command, cmd.options, cmd.ids
  if not command then
    out:write(out.stderr, help.main)
    return exit.usage
  end
  local fine
  fine, msg = args.check(cmd)
  if not fine then return out:usage_error(msg, command) end

  if command == "help" then
    local name = ids[1]
    -- `kadoa help config create` is config's help, as `kadoa config create -h` is
    if name == "config" and #ids == 2 and args.CONFIG_ACTIONS[ids[2]] then ids = { name } end
    if #ids > 1 or (name and not help[name]) or name == "main" then
      return out:usage_error("help: no such command '" .. shown(table.concat(ids, " ")) .. "'")
    end
    out:write(out.stdout, help[name or "main"])
    return exit.ok
  end

  local wopts
  if command == "wait" or (command == "crawl" and opts.wait) then
    wopts, msg = args.wait_options(opts)
    if not wopts then return out:usage_error(msg, command) end
    wopts.live = display.live(opts, env)
  end

  local api_key
  api_key, msg = key.read(opts["api-key-file"], env)
  if not api_key then return out:usage_error(msg, command) end
  out:hide(api_key)
  local base_url = opts["base-url"] or env.getenv("KADOA_BASE_URL")
  if base_url == "" then base_url = nil end
  local client, err = kadoa.client({ api_key = api_key, base_url = base_url })
  if not client then
    return out:usage_error(format.text(type(err) == "table" and err.message or err, 300), command)
  end

  local ok, code = pcall(function()
    if command == "status" then return command_module("status").run(out, client, ids, opts) end
    if command == "wait" then return wait_command.run(out, env, client, ids[1], wopts) end
    if command == "crawl" then return command_module("crawl").run(out, env, client, ids, opts, wopts) end
    if command == "pause" or command == "resume" then
      return command_module("control").run(out, client, command, ids[1])
    end
    if command == "pages" then return command_module("pages").list(out, client, ids[1], opts) end
    if command == "page" then return command_module("pages").show(out, env, client, ids[1], ids[2], opts) end
    if command == "sessions" then return command_module("sessions").run(out, client, opts) end
    if command == "top" then return command_module("top").run(out, env, client, opts) end
    if command == "export" then
      return command_module("export").run(out, env, client, ids[1], ids[2], opts, display.live(opts, env))
    end
    return command_module("config").run(out, env, client, cmd.action, ids, opts)
  end)
  client:close()
  if not ok then error(code, 0) end
  return code
end

-- main(argv [, env]) -> exit code. Never raises: an interruption (Ctrl-C)
-- is exit 130, anything unexpected an "internal error" and exit 3.
---@param argv string[]
---@param env? table kadoa.cli.env's overrides
---@return integer code the exit status
function M.main(argv, env)
  env = environment.new(env)
  local out = output.new(env)
  local ok, code = xpcall(function() return run(argv, env, out) end, function(e)
    if interrupted(e) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then return code end
  if interrupted(code) then
    out:say("interrupted")
    return exit.interrupted
  end
  out:say("internal error: " .. format.text(code, 2000))
  return exit.api
end

return M
