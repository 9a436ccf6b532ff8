-- kadoa.cli.call: API calls Ctrl-C can end. A blocking call sits in C until
-- the answer comes, and Ctrl-C (an error raised at the next Lua instruction)
-- would wait for it. Here the call's own method runs on a proxy of the client
-- whose exchanges are awaited in poll(2) steps of 0.1 s and whose sleeps are
-- cut into tenths; tick (optional) runs between steps: a spinner turns.

local core = require("kadoa.core")

local M = {}

-- sleep(seconds [, tick]): to a point on the clock (a window resize may
-- end a nanosleep early), in tenths.
---@param seconds number
---@param tick? fun() runs after each tenth
function M.sleep(seconds, tick)
  local target = core.monotime() + seconds
  while true do
    local left = target - core.monotime()
    if left <= 0 then return end
    core.sleep(math.min(left, 0.1))
    if tick then tick() end
  end
end

---@param client kadoa.Client
---@param tick? fun() runs between steps
---@param name string a call of kadoa.api
---@param ... any its arguments and options
---@return any|nil res
---@return kadoa.Error|nil err
function M.call(client, tick, name, ...)
  local t = client.transport
  local function fetch(_, route, timeout, extra, ...)
    local h, r = t:start(route, timeout, extra, ...)
    if not h then return nil, r end
    while not h:done() do
      t:wait(100)
      t:perform()
      if tick and not h:done() then tick() end
    end
    return h:result()
  end
  local proxy = setmetatable({
    -- the transport's other methods (redact, decode, ...) as they are
    transport = setmetatable({ fetch = fetch }, { __index = function(_, k)
      return function(_, ...) return t[k](t, ...) end
    end }),
    settings = setmetatable({ sleep = function(s) return M.sleep(s, tick) end },
      { __index = client.settings }),
  }, { __index = client })
  return proxy[name](proxy, ...)
end

return M
