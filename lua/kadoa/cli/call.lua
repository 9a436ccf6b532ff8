-- kadoa.cli.call: one API call the command can interrupt. A blocking call
-- sits in C until the answer comes, and Ctrl-C (turned into an error by
-- the interpreter at the next Lua instruction) would wait for it. Here the
-- call is started with client:send and driven by req:await in steps of
-- 0.1 s, so an interruption lands within a tenth of a second even while a
-- server takes its time; it cancels the request. wait's polls and the
-- one-shot verbs (crawl, pause, resume, page, config) all go through it.
--
--   local res, err = call(client, tick, "crawl", body [, opts])
--
-- tick (optional) runs between steps: wait's spinner turns meanwhile.

---@param client kadoa.Client
---@param tick? fun() runs between steps
---@param name string a call of kadoa.api
---@param ... any its arguments and options
---@return any|nil res
---@return kadoa.Error|nil err
local function call(client, tick, name, ...)
  local req, err = client:send(name, ...)
  if not req then return nil, err end
  local ok, res
  ok, res, err = pcall(function()
    local r, e
    repeat
      r, e = req:await(0.1)
      if r == nil and e == nil and tick then tick() end
    until r ~= nil or e ~= nil or req:done()
    if r == nil and e == nil then return req:poll() end
    return r, e
  end)
  if not ok then
    req:cancel()
    error(res, 0)
  end
  return res, err
end

return call
