-- kadoa.cli.args: the command line read into a command, its ids and its
-- options, and durations read (2, 500ms, 5m, 1h) and written back. Pure:
-- no output, no environment, so every rule can be tested on its own.

local format = require("kadoa.format")
local waiter = require("kadoa.wait")
local shown = require("kadoa.cli.output").shown

local M = {}

-- name -> { value = takes a value, list = may be given again (a list),
-- commands = the only commands that take it (none: every command) }.
-- One table, so --help texts and the checks below read the same truth.
M.OPTIONS = {
  ["api-key-file"] = { value = true },
  ["base-url"] = { value = true },
  help = {},
  version = {},
  json = { commands = { "status", "pages", "sessions", "top" } },
  long = { commands = { "status" } },
  plain = { commands = { "wait", "crawl", "export", "top" } },
  once = { commands = { "top" } },
  interval = { value = true, commands = { "wait", "crawl", "top" } },
  ["max-interval"] = { value = true, commands = { "wait", "crawl", "top" } },
  timeout = { value = true, commands = { "wait", "crawl" } },
  wait = { commands = { "crawl" } },
  ["max-pages"] = { value = true, commands = { "crawl" } },
  ["max-depth"] = { value = true, commands = { "crawl" } },
  ["filter-in"] = { value = true, list = true, commands = { "crawl" } },
  ["filter-out"] = { value = true, list = true, commands = { "crawl" } },
  body = { value = true, commands = { "crawl", "config" } },
  config = { value = true, commands = { "crawl" } },
  status = { value = true, commands = { "pages" } },
  format = { value = true, commands = { "page", "export" } },
  output = { value = true, commands = { "page" } },
  concurrency = { value = true, commands = { "export", "top" } },
}
local OPTIONS = M.OPTIONS

-- One-letter spellings (besides -h): -o FILE is what people type for an
-- output file.
M.SHORT = { o = "output" }
local SHORT = M.SHORT

M.COMMANDS = {
  status = true, wait = true, crawl = true, pause = true, resume = true, pages = true,
  page = true, sessions = true, export = true, config = true, help = true, top = true,
}
local COMMANDS = M.COMMANDS

-- config's actions: `kadoa config create|get|delete ...`. The action is
-- the first word after "config", kept apart from the ids.
M.CONFIG_ACTIONS = { create = true, get = true, delete = true }
local CONFIG_ACTIONS = M.CONFIG_ACTIONS

local API_KEY_REFUSED = "there is no --api-key option: a command's arguments can be read by "
  .. "every user of this machine (ps, /proc) and stay in shell history. "
  .. "Set KADOA_API_KEY or use --api-key-file PATH instead"

-- parse(argv) -> { command, action, ids, options } | nil, message, command
-- Options may come anywhere; "--" ends them. A message never echoes what
-- follows "=" in an unknown option: it might be a secret.
---@param argv string[]
---@return { command: string, action?: string, ids: string[], options: table }|nil cmd
---@return string|nil message
---@return string|nil command the command the mistake is in, for its help
function M.parse(argv)
  local opts, ids, command, action = {}, {}, nil, nil
  local i, only_ids = 1, false
  while i <= #argv do
    local a = argv[i]
    if only_ids or a == "-" or a:sub(1, 1) ~= "-" then
      if not command and not only_ids then
        if not COMMANDS[a] then return nil, "unknown command '" .. shown(a) .. "'" end
        command = a
      elseif command == "config" and not action then
        if not CONFIG_ACTIONS[a] then
          return nil, "config: unknown action '" .. shown(a) .. "' (create, get or delete)", command
        end
        action = a
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
      if not name and SHORT[a:sub(2)] then name = SHORT[a:sub(2)] end
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
        if spec.list then
          opts[name] = opts[name] or {}
          table.insert(opts[name], value)
        else
          opts[name] = value
        end
      else
        if value ~= nil then return nil, "option --" .. name .. " takes no value", command end
        opts[name] = true
      end
    end
    i = i + 1
  end
  return { command = command, action = action, ids = ids, options = opts }
end

-- early(argv) -> help topic | nil, wants version: --help and --version win
-- over everything else on the line (up to "--"), even over mistakes, so
-- help is always one flag away. The topic is the first word when it names
-- a help text, else "main".
---@param argv string[]
---@param topics table<string, any> the help texts by topic
---@return string|nil topic
---@return boolean|nil wants_version
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

-- What each command takes besides options: at least min and at most max
-- words, and what to say when there are too few or too many.
local ARITY = {
  status = { 1, math.huge, "give a session id" },
  wait = { 1, 1, "give a session id", "one session id at a time" },
  pause = { 1, 1, "give a session id", "one session id at a time" },
  resume = { 1, 1, "give a session id", "one session id at a time" },
  pages = { 1, 1, "give a session id", "one session id at a time" },
  page = { 2, 2, "give a session id and a page id", "give a session id and a page id, no more" },
  sessions = { 0, 0, nil, "takes no arguments" },
  top = { 0, 0, nil, "takes no arguments" },
  export = { 2, 2, "give a session id and a directory", "give a session id and a directory, no more" },
  crawl = { 0, math.huge },
  ["config create"] = { 0, math.huge },
  ["config get"] = { 1, 1, "give a config id", "one config id at a time" },
  ["config delete"] = { 1, 1, "give a config id", "one config id at a time" },
}

-- "'kadoa a'", "'kadoa a' and 'kadoa b'", "'kadoa a', 'kadoa b' and 'kadoa c'"
local function command_list(names)
  local t = {}
  for i, n in ipairs(names) do t[i] = "'kadoa " .. n .. "'" end
  if #t == 1 then return t[1] end
  return table.concat(t, ", ", 1, #t - 1) .. " and " .. t[#t]
end

-- Whole-number options and their least value.
local WHOLE = { { "max-pages", 1 }, { "max-depth", 0 }, { "concurrency", 1 } }

-- The page formats the API knows (checked here so a typo is a usage
-- error, exit 2, before any request).
local FORMATS = { markdown = true, md = true, html = true }

-- The options of crawl that only mean something while it waits.
local WAIT_ONLY = { "interval", "max-interval", "timeout", "plain" }

-- check(cmd) -> true | nil, message: what parse cannot see alone (an
-- option of the wrong command, ids missing, empty or too many).
---@param cmd table what parse gave
---@return true|nil ok
---@return string|nil message
function M.check(cmd)
  local command, ids, opts = cmd.command, cmd.ids, cmd.options
  local names = {}
  for name in pairs(opts) do names[#names + 1] = name end
  table.sort(names)   -- the same message on every run
  for _, name in ipairs(names) do
    local only = OPTIONS[name].commands
    if only then
      local fits = false
      for _, c in ipairs(only) do fits = fits or c == command end
      if not fits then
        return nil, ("option --%s is for %s, not '%s'"):format(name, command_list(only), command)
      end
    end
  end
  if command == "help" then return true end
  if opts.body == "-" and opts["api-key-file"] == "-" then
    return nil, "--body - and --api-key-file - cannot both read standard input"
  end
  if command == "crawl" and not opts.wait then
    for _, name in ipairs(WAIT_ONLY) do
      if opts[name] then return nil, ("option --%s needs --wait"):format(name) end
    end
  end
  local key, what = command, command
  if command == "config" then
    if not cmd.action then return nil, "config: give an action: create, get or delete" end
    key = "config " .. cmd.action
    what = key
    if opts.body and cmd.action ~= "create" then
      return nil, "option --body is for 'kadoa config create', not '" .. key .. "'"
    end
  end
  for _, w in ipairs(WHOLE) do
    local _, msg = M.whole(opts, w[1], w[2])
    if msg then return nil, msg end
  end
  if opts.format and not FORMATS[opts.format] then
    return nil, "option --format wants markdown, md or html, not '" .. shown(opts.format) .. "'"
  end
  if opts.status == "" then return nil, "option --status wants a status like DONE" end
  local arity = ARITY[key]
  if #ids < arity[1] then return nil, what .. ": " .. arity[3] end
  if #ids > arity[2] then return nil, what .. ": " .. arity[4] end
  if command == "crawl" and opts.config then
    if #ids > 0 or opts.body or opts["max-pages"] or opts["max-depth"] or opts["filter-in"]
      or opts["filter-out"] then
      return nil, "crawl: --config takes its settings from the config: no URL, --body or crawl options"
    end
    if opts.config == "" then return nil, "crawl: the config id is empty" end
    return true
  end
  if (command == "crawl" or key == "config create") and #ids == 0 and not opts.body then
    return nil, what .. ": give a URL (or several), or --body FILE.json"
  end
  for _, id in ipairs(ids) do
    if id == "" then
      return nil, what .. ": " .. ((command == "crawl" or command == "config") and "an argument"
        or "a session id") .. " is empty"
    end
  end
  return true
end

-- whole(opts, name, min) -> number | nil | nil, message: a whole-number
-- option (absent: nil), at least min.
---@param opts table the parsed options
---@param name string
---@param min number
---@return number|nil value nil: absent (or wrong, with a message)
---@return string|nil message
function M.whole(opts, name, min)
  local v = opts[name]
  if v == nil then return nil end
  local n = v:match("^%d+$") and tonumber(v)
  if not n or n < min or n > 1e9 then
    return nil, ("option --%s wants a whole number of at least %d, not '%s'"):format(name, min, shown(v))
  end
  return n
end

---------------------------------------------------------------------------
-- Durations

local UNITS = { [""] = 1, s = 1, ms = 0.001, m = 60, h = 3600 }

-- duration(text) -> seconds | nil: seconds, or a number with a unit.
---@param text string "90", "1.5s", "500ms", "5m", "1h"
---@return number|nil seconds
function M.duration(text)
  local n, unit = text:match("^(%d*%.?%d*)(%a*)$")
  local v = n and n ~= "" and n ~= "." and tonumber(n)
  local scale = unit and UNITS[unit]
  if not v or not scale then return nil end
  return v * scale
end

-- elapsed(seconds): kadoa.format's (the fleet's views show it too).
M.elapsed = format.elapsed

-- setting(seconds): a duration as one would type it: 500ms, 2s, 1.5s, 5m, 1h.
---@param s number seconds
---@return string
function M.setting(s)
  local function n(v) return format.number(math.floor(v * 1000 + 0.5) / 1000) end
  if s < 1 and s > 0 then return n(s * 1000) .. "ms" end
  if s >= 3600 and s % 3600 == 0 then return n(s / 3600) .. "h" end
  if s >= 60 and s % 60 == 0 then return n(s / 60) .. "m" end
  return n(s) .. "s"
end

-- wait_options(opts) -> { interval, max_interval, timeout } | nil, message:
-- wait's timing, from its options and kadoa.wait's defaults.
---@param opts table the parsed options
---@return { interval: number, max_interval: number, timeout: number }|nil timing
---@return string|nil message
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
