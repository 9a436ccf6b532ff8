-- kadoa.cli.commands.status: `kadoa status [--json | --long] ID [ID...]`: every
-- id fetched at once (client:status_many), then printed in the order given; a
-- message on stderr for each id that could not be fetched.

local errors = require("kadoa.errors")
local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")
local shown = require("kadoa.cli.output").shown
local has_error = require("kadoa.cli.output").has_error

local M = {}

-- A body passed on as it came must still be a status: a JSON object.
local function check_body(client, body)
  local t = client.transport:decode(body)
  if type(t) ~= "table" or t[1] ~= nil then
    return nil, errors.new("decode", "the answer is not a JSON object")
  end
  return t
end

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.run(c)
  local output, client, ids, opts = c.out, c.client, c.ids, c.opts
  local code = exit.ok
  -- the worst outcome decides: API error, usage error, failed crawl
  local function worse(n) code = math.max(code, n) end
  local function problem(id, err)
    output:say(shown(id) .. ": " .. format.format_error(err))
    worse(err and err.kind == "usage" and exit.usage or exit.api)
  end

  -- one id is one call, interruptible (kadoa.cli.call): no workers to load on a cold start
  local results, err
  if #ids == 1 then
    local v, e = require("kadoa.cli.call").call(client, nil, "status", ids[1],
      opts.json and { raw = true } or nil)
    results = { [ids[1]] = v or e }   -- as status_many keeps it
  else
    results, err = client:status_many(ids, { raw = opts.json == true })
  end
  if not results then
    output:say(format.format_error(err))
    return exit.usage
  end

  local paused
  for n, id in ipairs(ids) do
    local v = results[id]
    if errors.is(v) then
      problem(id, v)
    elseif opts.json then
      local t, bad = check_body(client, v)
      if t then
        -- a raw line break in JSON is only whitespace: keep one object a line
        output:out((v:gsub("[\r\n]+", " "):gsub("%s+$", "")))
        if has_error(t.error) then worse(exit.failed) end
      else
        problem(id, bad)
      end
    else
      -- the API has no paused state: a pause made through kadoa says it
      -- (kadoa.marks); format decides when a mark shows
      paused = paused or require("kadoa.marks").read()
      local mark = require("kadoa.marks").of(id, nil, paused)
      if opts.long and n > 1 then output:out("") end
      output:out(format.format(v, { id = id, style = opts.long and "long" or nil, mark = mark }))
      if has_error(v.error) then worse(exit.failed) end
    end
  end
  return code
end

return M
