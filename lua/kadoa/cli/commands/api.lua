-- kadoa.cli.commands.api: `kadoa api CALL [ARG...] [--OPTION VALUE...]
-- [--body FILE|-]`, any call of kadoa.api, in the manner of `gh api`: option
-- values converted by their declared types (never guessed), then the call's
-- own checks (client:send): its messages, did-you-mean and exit codes.

local api = require("kadoa.api")
local options = require("kadoa.options")
local exit = require("kadoa.cli.exit")
local call = require("kadoa.cli.call").call
local output_module = require("kadoa.cli.output")

local shown = output_module.shown
local unpack = table.unpack or unpack   -- LuaJIT, 5.1: the global

local M = {}

-- value(decl, v) -> v as the declared type | nil, what is wrong
local function value(decl, v)
  local want = type(decl) == "table" and decl[1] or decl
  if want == "string" then return v end
  if want == "number" then return tonumber(v), "must be a number" end
  if want == "boolean" and (v == "true" or v == "false") then return v == "true" end
  return nil, want == "boolean" and "must be true or false" or ("cannot come from a shell (" .. want .. ")")
end

-- call_options(d, fields) -> the call's options | nil, message. A name
-- neither the call nor the call group declares passes as it is: the
-- call's own check refuses it, with a suggestion.
local function call_options(d, fields)
  local o = {}
  for _, f in ipairs(fields or {}) do
    local name = f[1]:gsub("%-", "_")
    local decl = d.options[name] or options.groups.call[name]
    local v, why = f[2], nil
    if decl then v, why = value(decl, f[2]) end
    if v == nil then return nil, ("option --%s %s, not '%s'"):format(shown(f[1]), why, shown(f[2])) end
    o[name] = v
  end
  -- the answer as the API wrote it, unless --raw or --path say otherwise
  if o.raw == nil and o.path == nil then o.raw = true end
  return o
end

-- run(c) -> exit code. c.ids: the call's name, then its arguments.
---@param c kadoa.cli.Context
---@return integer code the exit status
function M.run(c)
  local output, env, client, words, opts = c.out, c.env, c.client, c.ids, c.opts
  local name, a = words[1], { unpack(words, 2) }
  local d = api.calls[name]
  local function usage(msg) return output:usage_error("api: " .. msg, "api") end
  if not d then
    local near = options.closest(name, api.calls)
    return usage(("no call named '%s'%s"):format(shown(name),
      near and (" (did you mean '" .. near .. "'?)") or ""))
  end
  local o, msg = call_options(d, opts.fields)
  if not o then return usage(name .. ": " .. msg) end
  local body_call = d.body and not d.args
  if opts.body then
    if not body_call then return usage(name .. " takes no --body") end
    if #a > 0 then return usage(name .. ": --body or a " .. d.shorthand .. ", not both") end
    a[1], msg = require("kadoa.cli.commands.crawl").body(env, client, {}, { body = opts.body })
    if not a[1] then return usage(msg) end
  elseif body_call and not (d.shorthand and #a == 1) then
    return usage(name .. " takes its body from --body FILE.json"
      .. (d.shorthand and (" or one " .. d.shorthand) or ""))
  elseif #a ~= d.nargs then
    return usage(("%s takes %d argument%s%s, not %d"):format(name, d.nargs, d.nargs == 1 and "" or "s",
      d.args and (" (" .. table.concat(d.args, ", ") .. ")") or "", #a))
  end
  a[d.nargs + 1] = o
  local res, err = call(client, nil, name, unpack(a, 1, d.nargs + 1))
  if not res then return err.kind == "usage" and usage(err.message) or output:fail(err, name) end
  if type(res) == "string" then
    output:content(res, env.is_terminal())
    return exit.ok
  end
  local ok, jerr = output:json(res)
  if ok then return exit.ok end
  output:say(name .. ": the answer cannot be written as JSON: " .. shown(jerr, 300))
  return exit.api
end

return M
