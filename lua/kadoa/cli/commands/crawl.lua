-- kadoa.cli.commands.crawl: `kadoa crawl URL...` or `--config CONFIG_ID`:
-- the session id alone on stdout (`id=$(kadoa crawl URL)`), then with --wait
-- `kadoa wait`'s run, with --export `kadoa export ID DIR --follow`'s.
-- body(...) also makes `kadoa config create`'s body.

local format = require("kadoa.format")
local exit = require("kadoa.cli.exit")
local shown = require("kadoa.cli.output").shown
local has_error = require("kadoa.cli.output").has_error
local call = require("kadoa.cli.call").call
local wait_command = require("kadoa.cli.commands.wait")

local M = {}

local GRACE = 10

-- body(...): the --body file's fields, then the flags' over them (URLs
-- replace both url and startUrls).
---@param env table kadoa.cli.env's
---@param client kadoa.Client
---@param urls string[]
---@param opts table the parsed options
---@return table|nil body the API's fields
---@return string|nil message a usage error
function M.body(env, client, urls, opts)
  local body = {}
  if opts.body then
    local text, msg = env.read_file(opts.body)
    if not text then return nil, "cannot read --body: " .. format.text(msg or opts.body, 200) end
    local t, err = client.transport:decode(text)
    if type(t) ~= "table" or (next(t) ~= nil and t[1] ~= nil) then
      return nil, "--body " .. shown(opts.body) .. " must hold a JSON object"
        .. (err and (": " .. format.text(err, 200)) or "")
    end
    body = t
  end
  if #urls == 1 then
    body.url, body.startUrls = urls[1], nil
  elseif #urls > 1 then
    body.url, body.startUrls = nil, urls
  end
  if opts["max-pages"] then body.maxPages = tonumber(opts["max-pages"]) end
  if opts["max-depth"] then body.maxDepth = tonumber(opts["max-depth"]) end
  if opts["filter-in"] then body.pathsFilterIn = opts["filter-in"] end
  if opts["filter-out"] then body.pathsFilterOut = opts["filter-out"] end
  return body
end

---@param c kadoa.cli.Context
---@return integer code the exit status
function M.run(c)
  local output, env, client, urls, opts, wopts = c.out, c.env, c.client, c.ids, c.opts, c.wopts
  local res, err
  if opts.config then
    res, err = call(client, nil, "crawl_with_config", opts.config)
  else
    local body, msg = M.body(env, client, urls, opts)
    if not body then return output:usage_error(msg, "crawl") end
    res, err = call(client, nil, "crawl", body)
  end
  if not res then return output:fail(err, opts.config and format.text(opts.config, 200) or nil) end
  local id = res.sessionId
  if has_error(res.error) or type(id) ~= "string" or id == "" then
    output:say("the crawl did not start: " .. format.text(has_error(res.error) and res.error
      or res.message or "the answer has no session id", 300))
    return exit.api
  end
  -- whole: a script needs it (one that could drive a terminal is no id anyway)
  output:out(format.text(id, 1000))
  -- a fresh session may not be found at once: a 404 is not the end for GRACE s
  if opts.export then
    return require("kadoa.cli.commands.export").run(c, id, opts.export, { grace = GRACE,
      again = "go on with: kadoa export " .. format.text(id, 1000) .. " " .. shown(opts.export, 1000)
        .. " --follow" })
  end
  if not wopts then return exit.ok end
  wopts.grace = wopts.grace or GRACE
  return wait_command.run(c, id)
end

return M
