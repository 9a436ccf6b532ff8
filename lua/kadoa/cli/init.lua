-- kadoa.cli: the kadoa command, callable in-process:
--   local code = require("kadoa.cli").main(argv [, env])   -- env: kadoa.cli.env's
-- A verb's module is loaded only when it runs: a status loads no help, wait or
-- export. Everything printed goes through output, which blanks the API key.

local args = require("kadoa.cli.args")
local environment = require("kadoa.cli.env")
local exit = require("kadoa.cli.exit")
local output = require("kadoa.cli.output")
local verbs = require("kadoa.cli.verbs")

local M = {}

local shown = output.shown
local interrupted = environment.interrupted

---@return string
function M.version_text()
  local lua = rawget(_G, "jit") and jit.version or _VERSION
  local ok, info = pcall(function() return require("kadoa.core").curl_info() end)
  local curl = ok and type(info) == "table" and info.version and (", libcurl " .. info.version) or ""
  return ("kadoa %s (%s%s)"):format(require("kadoa").version, lua, curl)
end

local function run(argv, env, out)
  local topic, want_version = args.early(argv, verbs.by_name)
  if topic then
    out:write(out.stdout, require("kadoa.cli.help")[topic])
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
    out:write(out.stderr, require("kadoa.cli.help").main)
    return exit.usage
  end
  local fine
  fine, msg = args.check(cmd)
  if not fine then return out:usage_error(msg, command) end

  if command == "help" then
    local name = ids[1]
    local verb = verbs.by_name[name or "main"]
    -- `kadoa help config create` is config's help
    if verb and verb.actions and #ids == 2 and verb.actions[ids[2]] then ids = { name } end
    if #ids > 1 or (name and not verb) then
      return out:usage_error("help: no such command '" .. shown(table.concat(ids, " ")) .. "'")
    end
    out:write(out.stdout, require("kadoa.cli.help")[name or "main"])
    return exit.ok
  end

  local function live() return require("kadoa.cli.display").live(opts, env) end
  local wopts
  if command == "wait" or (command == "crawl" and opts.wait) then
    wopts, msg = args.wait_options(opts)
    if not wopts then return out:usage_error(msg, command) end
    wopts.live = live()
  end

  local api_key
  api_key, msg = require("kadoa.cli.key").read(opts["api-key-file"], env)
  if not api_key then return out:usage_error(msg, command) end
  out:hide(api_key)
  local base_url = opts["base-url"] or env.getenv("KADOA_BASE_URL")
  if base_url == "" then base_url = nil end
  local client, err = require("kadoa.client").new({ api_key = api_key, base_url = base_url })
  if not client then
    return out:usage_error(shown(type(err) == "table" and err.message or err, 300), command)
  end

  local verb = verbs.by_name[command]
  local c = { out = out, env = env, client = client, verb = command, action = cmd.action, ids = ids,
    opts = opts, wopts = wopts, live = live }
  local ok, code = pcall(function()
    return require("kadoa.cli.commands." .. (verb.module or command))[verb.fn or "run"](c)
  end)
  client:close()
  if not ok then error(code, 0) end
  return code
end

-- main never raises: Ctrl-C is exit 130, anything unexpected an "internal error", 3.
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
  out:say("internal error: " .. shown(code, 2000))
  return exit.api
end

return M
