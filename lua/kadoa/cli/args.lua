-- kadoa.cli.args: the command line read into a command, its ids and options,
-- and durations (2, 500ms, 5m, 1h) read and written back. Pure: no output.

local verbs = require("kadoa.cli.verbs")
local shown = require("kadoa.cli.output").shown

local M = {}

local FLAG, VERB = verbs.flag, verbs.by_name
local SHORT = {}
for _, f in ipairs(verbs.flags) do
  if f.short and f.short ~= "h" then SHORT[f.short] = f.name end
end

local API_KEY_REFUSED = "there is no --api-key option: a command's arguments can be read by "
  .. "every user of this machine (ps, /proc) and stay in shell history. "
  .. "Set KADOA_API_KEY or use --api-key-file PATH instead"

-- Options may come anywhere; "--" ends them. A message never echoes what
-- follows "=" in an unknown option: it might be a secret. After a verb with
-- any_option (kadoa api), every other --NAME VALUE lands in options.fields.
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
        if not VERB[a] then return nil, "unknown command '" .. shown(a) .. "'" end
        command = a
      elseif VERB[command].actions and not action then
        if not VERB[command].actions[a] then
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
      local spec = name and FLAG[name]
      if name and VERB[command or ""] and VERB[command].any_option
        and not (spec and verbs.takes(spec, command)) then
        spec = { value = true, list = true, field = true }
      end
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
          local key = spec.field and "fields" or name
          opts[key] = opts[key] or {}
          table.insert(opts[key], spec.field and { name, value } or value)
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

-- early(argv, topics) -> help topic | nil, wants version: --help and --version
-- win over everything before "--", even over mistakes.
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

-- "a", "a and b", "a, b and c" (conj: "and", "or"), each as fmt says
local function list(t, conj, fmt)
  local s = {}
  for i, n in ipairs(t) do s[i] = fmt:format(n) end
  if #s == 1 then return s[1] end
  return table.concat(s, ", ", 1, #s - 1) .. " " .. conj .. " " .. s[#s]
end

-- The options of crawl that only mean something while it waits.
local WAIT_ONLY = { "interval", "max-interval", "timeout", "plain" }

-- What is wrong with the value of flag f, by its declaration (kadoa.cli.verbs).
local function bad_value(f, v)
  if f.whole then
    local n = v:match("^%d+$") and tonumber(v)
    if not n or n < f.whole or n > 1e9 then
      return ("option --%s wants a whole number of at least %d, not '%s'"):format(f.name, f.whole, shown(v))
    end
  elseif f.duration then
    local d = M.duration(v)
    if not d or (f.duration == "positive" and d <= 0) or d > 1e9 then
      return ("option --%s wants a %sduration like 2, 500ms, 5m or 1h, not '%s'"):format(
        f.name, f.duration == "positive" and "positive " or "", shown(v))
    end
  elseif type(f.kind) == "table" then
    for _, w in ipairs(f.kind) do if w == v then return nil end end
    return ("option --%s wants %s, not '%s'"):format(f.name, list(f.kind, "or", "%s"), shown(v))
  elseif v == "" and f.name == "status" then
    return "option --status wants a status like DONE"
  elseif v == "" and f.kind == "dir" then
    return "option --" .. f.name .. " wants a directory"
  end
end

-- check(cmd) -> true | nil, message: what parse cannot see alone.
---@param cmd table what parse gave
---@return true|nil ok
---@return string|nil message
function M.check(cmd)
  local command, ids, opts = cmd.command, cmd.ids, cmd.options
  local names = {}
  for name in pairs(opts) do if FLAG[name] then names[#names + 1] = name end end
  table.sort(names)   -- the same message on every run
  for _, name in ipairs(names) do
    local f = FLAG[name]
    if not verbs.takes(f, command) then
      return nil, ("option --%s is for %s, not '%s'"):format(name, list(f.verbs, "and", "'kadoa %s'"),
        command)
    end
  end
  if command == "help" then return true end
  if opts.body == "-" and opts["api-key-file"] == "-" then
    return nil, "--body - and --api-key-file - cannot both read standard input"
  end
  if command == "crawl" and opts.wait and opts.export then
    return nil, "crawl: --export follows the crawl to its end: no --wait"
  end
  if command == "crawl" and not opts.wait then
    for _, name in ipairs(WAIT_ONLY) do
      if opts[name] and not (name == "plain" and opts.export) then
        return nil, ("option --%s needs --wait"):format(name)
      end
    end
  end
  local verb, what = VERB[command], command
  if verb.actions then
    if not cmd.action then return nil, command .. ": give an action: create, get or delete" end
    what = command .. " " .. cmd.action
    verb = verb.actions[cmd.action]
    if opts.body and cmd.action ~= "create" then
      return nil, "option --body is for 'kadoa config create', not '" .. what .. "'"
    end
  end
  for _, name in ipairs(names) do
    local v = opts[name]
    local msg = type(v) == "string" and bad_value(FLAG[name], v)
    if msg then return nil, msg end
  end
  local takes = verb.takes or {}
  local all = "give a " .. table.concat(takes, " and a ")
  if #ids < #takes then return nil, what .. ": " .. all end
  if #ids > (verb.max or #takes) then
    return nil, what .. ": " .. (#takes == 0 and "takes no arguments"
      or #takes == 1 and ("one " .. takes[1] .. " at a time") or (all .. ", no more"))
  end
  if command == "crawl" and opts.config then
    if #ids > 0 or opts.body or opts["max-pages"] or opts["max-depth"] or opts["filter-in"]
      or opts["filter-out"] then
      return nil, "crawl: --config takes its settings from the config: no URL, --body or crawl options"
    end
    if opts.config == "" then return nil, "crawl: the config id is empty" end
    return true
  end
  if (command == "crawl" or what == "config create") and #ids == 0 and not opts.body then
    return nil, what .. ": give a URL (or several), or --body FILE.json"
  end
  if command == "api" then return true end   -- the call's own rules check its arguments
  for _, id in ipairs(ids) do
    if id == "" then
      return nil, what .. ": " .. ((command == "crawl" or command == "config") and "an argument"
        or command == "file" and "the file name" or "a session id") .. " is empty"
    end
  end
  return true
end

local UNITS = { [""] = 1, s = 1, ms = 0.001, m = 60, h = 3600 }

---@param text string "90", "1.5s", "500ms", "5m", "1h"
---@return number|nil seconds
function M.duration(text)
  local n, unit = text:match("^(%d*%.?%d*)(%a*)$")
  local v = n and n ~= "" and n ~= "." and tonumber(n)
  local scale = unit and UNITS[unit]
  if not v or not scale then return nil end
  return v * scale
end

-- elapsed(seconds): kadoa.format's, loaded only when a command shows a time.
---@param s number seconds
---@return string
function M.elapsed(s) return require("kadoa.format").elapsed(s) end

-- setting(seconds): a duration as one would type it.
---@param s number seconds
---@return string
function M.setting(s)
  local format = require("kadoa.format")
  local function n(v) return format.number(math.floor(v * 1000 + 0.5) / 1000) end
  if s < 1 and s > 0 then return n(s * 1000) .. "ms" end
  if s >= 3600 and s % 3600 == 0 then return n(s / 3600) .. "h" end
  if s >= 60 and s % 60 == 0 then return n(s / 60) .. "m" end
  return n(s) .. "s"
end

-- wait_options(opts): wait's timing from its options (checked by M.check
-- first) and kadoa.wait's defaults.
---@param opts table the parsed options
---@return { interval: number, max_interval: number, timeout: number }|nil timing
---@return string|nil message
function M.wait_options(opts)
  local o = {}
  for _, name in ipairs({ "interval", "max-interval", "timeout" }) do
    o[(name:gsub("%-", "_"))] = opts[name] and M.duration(opts[name])
  end
  local d = require("kadoa.wait").defaults
  o.interval = o.interval or d.interval
  o.timeout = o.timeout or d.timeout
  if o.max_interval and not opts.interval then o.interval = math.min(o.interval, o.max_interval) end
  if o.max_interval then
    if o.max_interval < o.interval then return nil, "--max-interval must not be shorter than --interval" end
  else
    o.max_interval = math.max(d.max_interval, o.interval)
  end
  return o
end

return M
