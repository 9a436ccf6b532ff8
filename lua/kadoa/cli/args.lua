-- kadoa.cli.args: the command line read into a command, its ids and its
-- options, and durations read (2, 500ms, 5m, 1h) and written back. Pure:
-- no output, no environment, so every rule can be tested on its own.

local format = require("kadoa.format")
local waiter = require("kadoa.wait")
local shown = require("kadoa.cli.output").shown

local M = {}

-- name -> { value = takes a value, command = only for that command }
M.OPTIONS = {
  ["api-key-file"] = { value = true },
  ["base-url"] = { value = true },
  help = {},
  version = {},
  json = { command = "status" },
  long = { command = "status" },
  plain = { command = "wait" },
  interval = { value = true, command = "wait" },
  ["max-interval"] = { value = true, command = "wait" },
  timeout = { value = true, command = "wait" },
}
local OPTIONS = M.OPTIONS

M.COMMANDS = { status = true, wait = true, help = true }
local COMMANDS = M.COMMANDS

local API_KEY_REFUSED = "there is no --api-key option: a command's arguments can be read by "
  .. "every user of this machine (ps, /proc) and stay in shell history. "
  .. "Set KADOA_API_KEY or use --api-key-file PATH instead"

-- parse(argv) -> { command, ids, options } | nil, message, command
-- Options may come anywhere; "--" ends them. A message never echoes what
-- follows "=" in an unknown option: it might be a secret.
function M.parse(argv)
  local opts, ids, command = {}, {}, nil
  local i, only_ids = 1, false
  while i <= #argv do
    local a = argv[i]
    if only_ids or a == "-" or a:sub(1, 1) ~= "-" then
      if not command and not only_ids then
        if not COMMANDS[a] then return nil, "unknown command '" .. shown(a) .. "'" end
        command = a
      else
        ids[#ids + 1] = a
      end
    elseif a == "--" then
      only_ids = true
    elseif a == "-h" then
      opts.help = true
    else
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      if not name then name = a:match("^%-%-(.+)$") end
      if name == "api-key" then return nil, API_KEY_REFUSED, command end
      local spec = name and OPTIONS[name]
      if not spec then
        return nil, "unknown option '" .. shown(name and ("--" .. name) or a) .. "'", command
      end
      if spec.value then
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, "option --" .. name .. " needs a value", command end
        end
        opts[name] = value
      else
        if value ~= nil then return nil, "option --" .. name .. " takes no value", command end
        opts[name] = true
      end
    end
    i = i + 1
  end
  return { command = command, ids = ids, options = opts }
end

-- early(argv) -> help topic | nil, wants version: --help and --version win
-- over everything else on the line (up to "--"), even over mistakes, so
-- help is always one flag away. The topic is the first word when it names
-- a help text, else "main".
function M.early(argv, topics)
  local want_help, want_version, first
  for _, a in ipairs(argv) do
    if a == "--" then break end
    if a == "-h" or a == "--help" then want_help = true
    elseif a == "--version" then want_version = true
    elseif not first and a:sub(1, 1) ~= "-" then first = a
    end
  end
  if want_help then return first and topics[first] and first or "main" end
  return nil, want_version
end

-- check(cmd) -> true | nil, message: what parse cannot see alone (an
-- option of the wrong command, ids missing or empty).
function M.check(cmd)
  local command, ids = cmd.command, cmd.ids
  for name in pairs(cmd.options) do
    local only = OPTIONS[name].command
    if only and only ~= command then
      return nil, ("option --%s is for 'kadoa %s', not '%s'"):format(name, only, command)
    end
  end
  if command == "help" then return true end
  if #ids == 0 then return nil, command .. ": give a session id" end
  if command == "wait" and #ids > 1 then return nil, "wait: one session id at a time" end
  for _, id in ipairs(ids) do
    if id == "" then return nil, command .. ": a session id is empty" end
  end
  return true
end

---------------------------------------------------------------------------
-- Durations

local UNITS = { [""] = 1, s = 1, ms = 0.001, m = 60, h = 3600 }

-- duration(text) -> seconds | nil: seconds, or a number with a unit.
function M.duration(text)
  local n, unit = text:match("^(%d*%.?%d*)(%a*)$")
  local v = n and n ~= "" and n ~= "." and tonumber(n)
  local scale = unit and UNITS[unit]
  if not v or not scale then return nil end
  return v * scale
end

-- elapsed(seconds): time gone by, as the live line shows it: 7.3s, 2m05s, 1h02m.
function M.elapsed(s)
  if s < 60 then return ("%.1fs"):format(s) end
  s = math.floor(s + 0.5)
  if s < 3600 then return ("%dm%02ds"):format(math.floor(s / 60), s % 60) end
  return ("%dh%02dm"):format(math.floor(s / 3600), math.floor(s % 3600 / 60))
end

-- setting(seconds): a duration as one would type it: 500ms, 2s, 1.5s, 5m, 1h.
function M.setting(s)
  local function n(v) return format.number(math.floor(v * 1000 + 0.5) / 1000) end
  if s < 1 and s > 0 then return n(s * 1000) .. "ms" end
  if s >= 3600 and s % 3600 == 0 then return n(s / 3600) .. "h" end
  if s >= 60 and s % 60 == 0 then return n(s / 60) .. "m" end
  return n(s) .. "s"
end

-- wait_options(opts) -> { interval, max_interval, timeout } | nil, message:
-- wait's timing, from its options and kadoa.wait's defaults.
function M.wait_options(opts)
  local o = {}
  for _, name in ipairs({ "interval", "max-interval", "timeout" }) do
    if opts[name] then
      local v = M.duration(opts[name])
      if not v or (name ~= "timeout" and v <= 0) or v > 1e9 then
        return nil, ("option --%s wants a %sduration like 2, 500ms, 5m or 1h, not '%s'"):format(
          name, name == "timeout" and "" or "positive ", shown(opts[name]))
      end
      o[(name:gsub("%-", "_"))] = v
    end
  end
  local d = waiter.defaults
  o.interval = o.interval or d.interval
  o.timeout = o.timeout or d.timeout
  if o.max_interval and not opts.interval then
    o.interval = math.min(o.interval, o.max_interval)
  end
  if o.max_interval then
    if o.max_interval < o.interval then
      return nil, "--max-interval must not be shorter than --interval"
    end
  else
    o.max_interval = math.max(d.max_interval, o.interval)
  end
  return o
end

return M
