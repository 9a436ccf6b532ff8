-- kadoa.resty.callback: Kadoa's call when a crawl is over, received in nginx (README: the
-- location with `handle`, the `lua_shared_dict`). The callback is not signed and its payload
-- documented nowhere, so it is a hint: a start sends a secret per crawl in the URL (kadoa_token)
-- and keeps it here; a missing, wrong or used token is 403 before any body is read, a body over
-- max_body 413, else 204 at once. Then, in a timer, the session the TOKEN names (never the body)
-- is asked until its status says it is over, and on_finished(status) runs once per session.

local errors = require("kadoa.errors")
local options = require("kadoa.options")

local ngx = ngx

local M = {}

M.TTL = 7 * 24 * 3600   -- seconds a token is kept: longer than a crawl should run

-- keys in the dict: a token's session id ("" while its start is on the way); sessions done
local TOKEN, DONE = "token:", "done:"

---kadoa.resty.callback.handle(opts).
---@class kadoa.CallbackOptions
---@field dict? string the lua_shared_dict of the tokens (default: the clients' callback_dict's)
---@field on_finished? fun(status: kadoa.StatusResult) once per crawl, in a timer, once a status says over
---@field confirm? number seconds the status is asked until it says the crawl is over; 0: once (default 60)
---@field max_body? integer bytes of a callback's body read at most; a larger one gets 413 (default 16 KiB)
---@field client? kadoa.resty.Options for the confirming status calls (default: the environment's)

-- A start's token kept for the receiver: before the start (id nil: not yet known), then its
-- session id, or forgotten (id false: the start failed). kadoa.client's run_and_wait calls it.
---@param client kadoa.resty.Client
---@param token string
---@param id? string|false
---@return true|nil ok
---@return kadoa.Error|nil err the dict is missing (before the start: no crawl starts)
function M.remember(client, token, id)
  local name = client.settings.callback_dict
  local dict = ngx.shared[name]
  if not dict then
    return nil, errors.new("usage", ("kadoa.resty: option 'callback' needs `lua_shared_dict %s 1m;`"
      .. " in nginx's http block: kadoa.resty.callback checks the token there"):format(name))
  end
  if id == false then
    dict:delete(TOKEN .. token)
    return true
  end
  -- set, not safe_set: a full dict forgets the oldest tokens, whose crawls the next poll shows
  local ok, err = dict:set(TOKEN .. token, id or "", M.TTL)
  if not ok then
    return nil, errors.new("usage", "kadoa.resty: cannot keep a callback token in " .. name .. ": "
      .. tostring(err))
  end
  return true
end

-- After the response: the truth from the status call, then on_finished once.
local function confirm(premature, o, id)
  if premature then return end
  local res, err = require("kadoa.resty").wait(id, { client = o.client, timeout = o.confirm,
    interval = 1, max_interval = 5 })
  -- a failed crawl is over too: its status (with its error) is the news
  local status = res or (err and err.kind == "crawl_failed" and err.result)
  if not status then
    ngx.log(ngx.WARN, "kadoa callback: session ", id, " not confirmed over: ", tostring(err))
    return
  end
  if not ngx.shared[o.dict]:add(DONE .. id, true, M.TTL) then return end   -- once per session
  if o.on_finished then
    local ok, e = pcall(o.on_finished, status)
    if not ok then ngx.log(ngx.ERR, "kadoa callback: on_finished: ", tostring(e)) end
  end
end

-- One callback: the status to answer it with, the confirmation started.
local function receive(o, dict)
  -- the token first: a stranger costs one dict lookup, and no body is read
  local token = ngx.var.arg_kadoa_token
  local key = type(token) == "string" and #token == 32 and token:match("^%x+$") and TOKEN .. token:lower()
  local id = key and dict:get(key)
  if not id then return ngx.HTTP_FORBIDDEN end

  local max = o.max_body
  local len = tonumber(ngx.var.http_content_length or "")
  if len and len > max then return 413 end
  ngx.req.read_body()
  -- a chunked body has no length to check first: client_max_body_size bounds it, a large one is a file
  if ngx.req.get_body_file() or #(ngx.req.get_body_data() or "") > max then return 413 end

  -- Kadoa called before the start's answer came back: the token is not used up; it may call again
  if id == "" then return ngx.HTTP_SERVICE_UNAVAILABLE end
  local ok, err = ngx.timer.at(0, confirm, o, id)
  if not ok then
    ngx.log(ngx.ERR, "kadoa callback: no timer: ", err)
    return ngx.HTTP_SERVICE_UNAVAILABLE
  end
  dict:delete(key)   -- used: the same token again is a 403
  return ngx.HTTP_NO_CONTENT
end

-- The content handler of the callback's location. A bad option or a missing dict is the
-- configuration's mistake: it raises (500, and nginx's error log says why).
---@param opts? kadoa.CallbackOptions
function M.handle(opts)
  local o, err = options.check("callback", opts, "kadoa.resty.callback.handle")
  if not o then error(tostring(err), 2) end
  local dict = ngx.shared[o.dict]
  if not dict then error("kadoa.resty.callback: no `lua_shared_dict " .. o.dict .. "`", 2) end
  ngx.exit(receive(o, dict))
end

return M
