-- kadoa.nvim: the client inside Neovim, never blocking the editor.
--
--   local kn = require("kadoa.nvim")
--   kn.setup({ client = { base_url = ... }, wait = { interval = 5 } })
--   kn.status(id, function(res, err) ... end)   -- on the main loop
--   kn.watch(id)                                -- :KadoaWatch
--   kn.statusline()                             -- for 'statusline'
--
-- Requests run on the client's libcurl multi handle (kadoa.request) and
-- are driven by one libuv timer per client, only while something is in
-- flight: each tick moves every transfer forward without waiting, and the
-- next tick comes when libcurl or a retry asks for it, at most
-- poll_interval ms later (the gap starts at 1 ms and doubles, so a fast
-- answer is seen at once and a slow one costs ~100 cheap wake-ups a
-- second). The sockets are not handed to libuv poll handles on purpose:
-- libcurl closes and reopens them inside its own calls, and libuv aborts
-- the editor when an fd it watches is closed under it.
--
-- Callbacks are always called on the main loop (vim.schedule), where
-- every vim.api function may be used. Watching runs kadoa.wait's schedule
-- in a coroutine: its status calls and sleeps yield to the loop.
--
-- Works with Neovim 0.7 (vim.loop, LuaJIT) and later (vim.uv).

local uv = vim.uv or vim.loop

local M = {}

M.config = {
  client = {},          -- options for kadoa.client (api_key, base_url, timeout, ...)
  wait = {},            -- options for kadoa.wait used by watch (interval, timeout, ...)
  poll_interval = 10,   -- ms: the longest gap between two looks at the sockets
  notify = true,        -- watch reports progress with vim.notify
}

---------------------------------------------------------------------------
-- Loading the library into this Neovim's LuaJIT.

-- The plugin's root directory (this file is <root>/lua/kadoa/nvim.lua).
local function plugin_root()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  return (src:sub(2):match("^(.*)[/\\]lua[/\\]kadoa[/\\]nvim%.lua$"))
end
M.root = plugin_root()

-- Neovim's own lua-cjson (vim.json), shaped like the cjson modules the
-- library loads. Its decode is asked to drop nulls in objects, which is
-- what the core's normalising pass does (that pass only knows cjson's
-- lightuserdata null; vim.json's null is vim.NIL).
local function json_shim(safe)
  local json = vim.json
  local function decode(s)
    return json.decode(s, { luanil = { object = true } })
  end
  if not safe then
    return { decode = decode, encode = json.encode, null = vim.NIL }
  end
  return {
    decode = function(s)
      local ok, v = pcall(decode, s)
      if ok then return v end
      return nil, v
    end,
    encode = function(v)
      local ok, s = pcall(json.encode, v)
      if ok then return s end
      return nil, s
    end,
    null = vim.NIL,
  }
end

local loaded, load_error
M.load_info = {}   -- how the pieces were found, for :checkhealth

-- load() -> the kadoa module | nil, message
-- kadoa.core is looked for where require looks (a luarocks tree, or
-- lua/kadoa/core.so in any 'runtimepath' directory), then in this
-- plugin's own build/luajit (what `make build LUA=luajit` makes). The
-- core needs lua-cjson: a real one is used when require finds it,
-- else vim.json stands in while the library loads and is removed again,
-- so no other plugin ever sees the stand-in as "cjson".
function M.load()
  if loaded then return loaded end
  if load_error then return nil, load_error end
  local info = M.load_info

  local shims = {}
  for _, name in ipairs({ "cjson", "cjson.safe" }) do
    if not package.loaded[name] and not pcall(require, name) then
      if not vim.json then break end
      local mod = json_shim(name == "cjson.safe")
      package.preload[name] = function() return mod end
      shims[#shims + 1] = name
    end
  end
  info.cjson = #shims > 0 and "vim.json (Neovim's own lua-cjson)" or "lua-cjson"

  local ok, err = pcall(require, "kadoa.core")
  if ok then
    info.core = vim.api.nvim_get_runtime_file("lua/kadoa/core.so", false)[1]
      or (package.searchpath and package.searchpath("kadoa.core", package.cpath))
      or "found by require"
  elseif M.root then
    local so = M.root .. "/build/luajit/kadoa/core.so"
    if uv.fs_stat(so) then
      local open, lerr = package.loadlib(so, "luaopen_kadoa_core")
      if open then
        package.preload["kadoa.core"] = open
        ok, err = pcall(require, "kadoa.core")
        info.core = so
      else
        err = err .. "\n" .. tostring(lerr)
      end
    end
  end

  local kadoa
  if ok then
    ok, kadoa = pcall(function()
      local k = require("kadoa")
      -- everything that needs cjson loads while the stand-in is there
      require("kadoa.request")
      require("kadoa.wait")
      require("kadoa.format")
      return k
    end)
    if not ok then err = kadoa end
  end

  for _, name in ipairs(shims) do
    package.preload[name] = nil
    package.loaded[name] = nil
  end

  if not ok then
    load_error = "kadoa: cannot load the C module kadoa.core for this Neovim's Lua ("
      .. (jit and jit.version or _VERSION) .. "); build it with `make build LUA=luajit` "
      .. "in the plugin's directory or put a LuaJIT build at lua/kadoa/core.so.\n"
      .. tostring(err)
    return nil, load_error
  end
  loaded = kadoa
  return kadoa
end

local function usage_error(msg)
  local ok, errors = pcall(require, "kadoa.errors")
  if ok then return errors.new("usage", msg) end
  return { kind = "usage", message = msg }
end

---------------------------------------------------------------------------
-- Setup and the client

local client_obj

local SETUP_KEYS = { client = "table", wait = "table", poll_interval = "number", notify = "boolean" }

-- setup([opts]): opts.client (kadoa.client options), opts.wait (default
-- options of watch), opts.poll_interval (ms, 1-1000), opts.notify.
-- Requests already running keep the client they started on.
function M.setup(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("kadoa.nvim.setup: options must be a table", 2) end
  for k, v in pairs(opts) do
    local want = SETUP_KEYS[k]
    if not want then error("kadoa.nvim.setup: unknown option '" .. tostring(k) .. "'", 2) end
    if type(v) ~= want then
      error(("kadoa.nvim.setup: option '%s' must be a %s, got %s"):format(k, want, type(v)), 2)
    end
  end
  if opts.poll_interval and (opts.poll_interval < 1 or opts.poll_interval > 1000) then
    error("kadoa.nvim.setup: poll_interval must be between 1 and 1000 ms", 2)
  end
  for k, v in pairs(opts) do M.config[k] = v end
  if opts.client then client_obj = nil end
end

-- client() -> the client made from M.config.client (and the environment)
function M.client()
  if client_obj and not client_obj:closed() then return client_obj end
  local kadoa, err = M.load()
  if not kadoa then return nil, usage_error(err) end
  local c, cerr = kadoa.client(M.config.client)
  if not c then return nil, cerr end
  client_obj = c
  return c
end

---------------------------------------------------------------------------
-- Driving requests with a libuv timer

local drivers = setmetatable({}, { __mode = "k" })   -- client -> driver

local function deliver(cb, res, err)
  vim.schedule(function() cb(res, err) end)
end

local function driver_for(client)
  local d = drivers[client]
  if d then return d end
  d = { pending = {}, timer = uv.new_timer(), gap = 1 }
  drivers[client] = d

  local function arm()
    local ms = d.gap
    for _, p in ipairs(d.pending) do
      local t = p.req:timeout()
      if t >= 0 and t < ms then ms = t end
    end
    d.gap = math.min(d.gap * 2, M.config.poll_interval)
    d.timer:start(ms, 0, d.tick)
  end
  d.arm = arm

  -- In libuv's callback: nothing here may call vim.api; results go to
  -- the main loop.
  function d.tick()
    local still = {}
    for _, p in ipairs(d.pending) do
      local ok, res, err = pcall(p.req.poll, p.req)
      if not ok then
        deliver(p.cb, nil, usage_error("kadoa: " .. tostring(res)))
      elseif p.req:done() then
        deliver(p.cb, res, err)
      else
        still[#still + 1] = p
      end
    end
    d.pending = still
    if #still > 0 then arm() else d.timer:stop() end
  end
  return d
end

-- status(id, callback [, opts]) -> request | nil, err
-- callback(res, err) is called exactly once, on the main loop: with the
-- status table, or nil and an error of kadoa.errors (the same ones
-- client:status gives, after the same retries; "request was cancelled"
-- when req:cancel() stopped it). opts as for client:start (timeout,
-- retries). Never blocks.
function M.status(id, callback, opts)
  if type(id) ~= "string" then
    error(("bad argument #1 to 'status' (string expected, got %s)"):format(type(id)), 2)
  end
  if type(callback) ~= "function" then
    error(("bad argument #2 to 'status' (function expected, got %s)"):format(type(callback)), 2)
  end
  local client, err = M.client()
  local req
  if client then req, err = require("kadoa.request").start(client, id, opts) end
  if not req then
    deliver(callback, nil, err)
    return nil, err
  end
  local d = driver_for(client)
  d.pending[#d.pending + 1] = { req = req, cb = callback }
  d.gap = 1
  d.arm()
  return req
end

---------------------------------------------------------------------------
-- Watching a crawl

M.watches = {}   -- in the order they were started
local watch_by_id = {}

local function short_text(w)
  local fmt = require("kadoa.format")
  local parts = { fmt.short_id(w.id) }
  local p = type(w.result) == "table" and type(w.result.payload) == "table" and w.result.payload
  if p and type(p.crawledPages) == "number" then
    parts[#parts + 1] = fmt.number(p.crawledPages) .. "p"
  end
  if w.state == "running" then
    parts[#parts + 1] = w.retrying and "retrying" or "crawling"
  else
    parts[#parts + 1] = w.state
  end
  return table.concat(parts, " ")
end

-- statusline() -> "" when nothing is watched, else one short item per
-- watch, e.g. "kadoa: 8f3a…91c2 24p crawling". Cheap: reads state only.
function M.statusline()
  if #M.watches == 0 then return "" end
  local items = {}
  for _, w in ipairs(M.watches) do items[#items + 1] = short_text(w) end
  return "kadoa: " .. table.concat(items, ", ")
end

local function changed(w)
  pcall(vim.cmd, "redrawstatus")
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "KadoaUpdate", modeline = false })
  if w.notify then
    local level = (w.state == "failed") and vim.log.levels.ERROR or vim.log.levels.INFO
    local text
    if w.state == "failed" then
      text = require("kadoa.format").format_error(w.err)
    elseif w.result then
      text = require("kadoa.format").format(w.result, { id = w.id })
    else
      text = short_text(w)
    end
    if w.state == "stopped" then text = short_text(w) end
    local ok, rec = pcall(vim.notify, "kadoa: " .. text, level,
      { title = "kadoa", replace = w.notification })
    if ok and type(rec) == "table" then w.notification = rec end   -- nvim-notify & co.
  end
end

local Watch = {}
Watch.__index = Watch

-- watch:stop(): no more polls or callbacks; the request in flight is
-- cancelled. Idempotent.
function Watch:stop()
  if self.state == "running" then
    self.state = "stopped"
    if self.req then self.req:cancel() end
    changed(self)
  end
  if self.timer and not self.timer:is_closing() then self.timer:close() end
  for i, w in ipairs(M.watches) do
    if w == self then table.remove(M.watches, i) break end
  end
  if watch_by_id[self.id] == self then watch_by_id[self.id] = nil end
end

-- watch(id [, opts]) -> watch | nil, err
-- Polls the crawl with kadoa.wait's schedule until it is over, without
-- blocking. opts: any kadoa.wait option (over M.config.wait), plus
-- on_update(res, info), on_error(err, info) and on_done(res, err), all
-- called on the main loop, and notify (default M.config.notify).
-- Watching an id again replaces its earlier watch.
function M.watch(id, opts)
  if type(id) ~= "string" then
    error(("bad argument #1 to 'watch' (string expected, got %s)"):format(type(id)), 2)
  end
  opts = opts or {}
  local kadoa, lerr = M.load()
  if not kadoa then return nil, usage_error(lerr) end
  local client, cerr = M.client()
  if not client then return nil, cerr end
  if watch_by_id[id] then watch_by_id[id]:stop() end

  local w = setmetatable({ id = id, state = "running", notify = M.config.notify,
                           timer = uv.new_timer() }, Watch)
  if opts.notify ~= nil then w.notify = opts.notify end
  local co

  local function resume(...)
    if w.state ~= "running" then return end
    local ok, e = coroutine.resume(co, ...)
    if not ok then
      w.state, w.err = "failed", usage_error("kadoa: watch failed: " .. tostring(e))
      changed(w)
      if opts.on_done then opts.on_done(nil, w.err) end
    end
  end

  -- what kadoa.wait needs: a client whose status yields until the answer
  -- is in, a sleep that yields to a timer, and a clock
  local proxy = {
    status = function(_, sid)
      w.req = M.status(sid, function(res, err)
        w.req = nil
        resume(res, err)
      end)
      return coroutine.yield()
    end,
  }
  local wopts = {}
  for k, v in pairs(M.config.wait) do wopts[k] = v end
  for k, v in pairs(opts) do
    if k ~= "notify" and k ~= "on_done" then wopts[k] = v end
  end
  local user_update, user_error = wopts.on_update, wopts.on_error
  wopts.on_update = function(res, info)
    w.result, w.info, w.retrying = res, info, false
    changed(w)
    if user_update then user_update(res, info) end
  end
  wopts.on_error = function(err, info)
    w.retrying, w.last_error = true, err
    changed(w)
    if user_error then user_error(err, info) end
  end
  wopts.sleep = function(seconds)
    w.timer:start(math.max(0, math.floor(seconds * 1000 + 0.5)), 0, function()
      vim.schedule(resume)
    end)
    coroutine.yield()
  end
  wopts.clock = function() return uv.hrtime() / 1e9 end

  co = coroutine.create(function()
    local res, err = require("kadoa.wait").wait(proxy, id, wopts)
    if w.state ~= "running" then return end
    if res then
      w.state, w.result = "finished", res
    else
      w.state, w.err = "failed", err
      if type(err) == "table" and type(err.result) == "table" then w.result = err.result end
    end
    if not w.timer:is_closing() then w.timer:close() end
    changed(w)
    if opts.on_done then opts.on_done(res, err) end
  end)

  M.watches[#M.watches + 1] = w
  watch_by_id[id] = w
  -- start on the main loop, so everything in the coroutine may use vim.api
  vim.schedule(resume)
  return w
end

-- stop([id]): stop one watch, or every watch; finished ones are cleared
-- from the statusline too.
function M.stop(id)
  if id then
    local w = watch_by_id[id]
    if w then w:stop() return true end
    return false
  end
  local all = { unpack(M.watches) }
  for _, w in ipairs(all) do w:stop() end
  return #all > 0
end

---------------------------------------------------------------------------
-- What the commands do

-- :KadoaStatus {id}: the formatted status (long form with !)
function M.show_status(id, long)
  if type(id) ~= "string" or id == "" then
    vim.notify("kadoa: usage: :KadoaStatus {session-id}", vim.log.levels.ERROR)
    return
  end
  return M.status(id, function(res, err)
    local fmt = require("kadoa.format")
    if res then
      vim.notify(fmt.format(res, { id = id, style = long and "long" or "short" }), vim.log.levels.INFO,
        { title = "kadoa" })
    else
      vim.notify("kadoa: " .. fmt.format_error(err), vim.log.levels.ERROR, { title = "kadoa" })
    end
  end)
end

return M
