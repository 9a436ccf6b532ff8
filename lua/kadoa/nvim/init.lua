-- kadoa.nvim: the client inside Neovim, never blocking the editor; `:help kadoa`.
-- A thin layer over the library: loader finds the C core, driver and async move
-- requests and tasks on vim.loop, watch, browse and top are the views, commands the
-- :Kadoa* commands. Callbacks always run on the main loop (vim.schedule).

local options = require("kadoa.options")
local errors = require("kadoa.errors")
local loader = require("kadoa.nvim.loader")
local driver = require("kadoa.nvim.driver")
local watch = require("kadoa.nvim.watch")

---@class kadoa.nvim
local M = {}

---@type kadoa.nvim.Options
M.config = { client = {}, wait = {}, top = {}, notify = options.declarations.notify.default }

M.root = loader.root
M.load_info = loader.info   -- how the pieces were found, for :checkhealth
M.load = loader.load
M.watches = watch.list      -- in the order they were started
M.statusline = watch.statusline
M.stop = watch.stop

local client_obj

-- a bad option raises as setup always has: the library's message, at the caller
local function check(group, opts, fname, extra)
  local _, err = options.check(group, opts, fname, extra)
  if err then error(err.message, 3) end
end

-- setup([opts]): checked, then merged deeply into M.config, so a later setup changes
-- only what it names (top's kadoa.fleet options are checked when the view opens). New
-- client options make a new client on next use; requests running keep theirs.
---@param opts? kadoa.nvim.Options
function M.setup(opts)
  check("nvim", opts, "kadoa.nvim.setup", { client = "table", wait = "table", top = "table" })
  opts = opts or {}
  check("client", opts.client, "kadoa.nvim.setup (client)")
  check("wait", opts.wait, "kadoa.nvim.setup (wait)")
  -- in place: other modules and users may hold M.config
  for k, v in pairs(options.merge(M.config, opts)) do M.config[k] = v end
  if opts.client then client_obj = nil end
end

-- client() -> the client of M.config.client (and the environment) | nil, err
---@return kadoa.Client|nil client
---@return kadoa.Error|nil err
function M.client()
  if client_obj and not client_obj:closed() then return client_obj end
  local kadoa, err = loader.load()
  if not kadoa then return nil, errors.new("usage", err) end
  local c, cerr = kadoa.client(M.config.client)
  if not c then return nil, cerr end
  client_obj = c
  return c
end

-- The client a call's options pick, by kadoa.status's rule: their client options over
-- setup's (kadoa.client.default), else M.client(); and the options left for the call.
local defaults = {}
local function client_for(opts)
  local kadoa, lerr = loader.load()
  if not kadoa then return nil, errors.new("usage", lerr) end
  local cl = require("kadoa.client")
  local picked, rest = cl.split_options(opts)
  local c, err
  if picked then
    c, err = cl.default(defaults, kadoa.client, options.merge(M.config.client, picked))
  else
    c, err = M.client()
  end
  if not c then return nil, err end
  return c, rest
end

-- a failure before any request: to the callback too, on the main loop
local function refused(callback, err)
  vim.schedule(function() callback(nil, err) end)
  return nil, err
end

-- status(id, callback [, opts]) -> request | nil, err; callback(res, err) exactly once
---@param id string session id
---@param callback fun(res: kadoa.StatusResult|nil, err: kadoa.Error|nil)
---@param opts? kadoa.CallOptions
---@return kadoa.Request|nil req cancel with req:cancel()
---@return kadoa.Error|nil err
function M.status(id, callback, opts)
  errors.check_arg(id, "string", 1, "status", 2)
  errors.check_arg(callback, "function", 2, "status", 2)
  local client, rest = client_for(opts)
  if not client then return refused(callback, rest) end
  return driver.call(client, callback, "status", id, rest)
end

-- call(name, callback, ...) -> request | nil, err: any call of kadoa.api, client:send's
-- arguments; callback and options as for status.
---@param name string a call of kadoa.api ("pages", "crawl", ...)
---@param callback fun(res: any, err: kadoa.Error|nil)
---@param ... any the call's arguments and options, as for client:send
---@return kadoa.Request|nil req
---@return kadoa.Error|nil err
function M.call(name, callback, ...)
  errors.check_arg(callback, "function", 2, "call", 2)
  local _, lerr = loader.load()
  if lerr then return refused(callback, errors.new("usage", lerr)) end
  local d = require("kadoa.api").calls[name]
  local n, args = select("#", ...), { ... }
  local client, rest
  if d and n > d.nargs then
    client, rest = client_for(args[d.nargs + 1])
    args[d.nargs + 1] = rest
  else
    client, rest = M.client()
  end
  if not client then return refused(callback, rest) end
  if d and d.starts and type(rest) == "table" and rest.wait ~= nil then
    -- a start and its wait: a task, so wait's callbacks run on the main loop
    return require("kadoa.nvim.async").run(client, function(c) return c[name](c, unpack(args, 1, n)) end,
      callback)
  end
  return driver.call(client, callback, name, unpack(args, 1, n))
end

-- pages(id [, opts]) -> the crawled pages of a session in a buffer
---@param id string session id
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf the listing's buffer
function M.pages(id, opts)
  errors.check_arg(id, "string", 1, "pages", 2)
  return require("kadoa.nvim.browse").pages(id, opts)
end

-- each_page(id, opts, callback) -> task | nil, err: client:each_page without blocking;
-- callback(page) each, then callback(nil), or callback(false, err) once.
---@param id string session id
---@param opts? kadoa.EachPageOptions
---@param callback fun(page: kadoa.PageItem|false|nil, err: kadoa.Error|nil)
---@return kadoa.Task|nil task
---@return kadoa.Error|nil err
function M.each_page(id, opts, callback)
  errors.check_arg(id, "string", 1, "each_page", 2)
  errors.check_arg(callback, "function", 3, "each_page", 2)
  local client, rest = client_for(opts)
  if not client then return refused(function(_, e) callback(false, e) end, rest) end
  local t, ended
  local function over() return ended or (t and t.cancelled) end
  t = require("kadoa.nvim.async").run(client, function(c)
    for page, err in c:each_page(id, rest) do
      if over() then return end
      if not page then ended = true return callback(false, err) end
      callback(page)
    end
    if not over() then ended = true callback(nil) end
  end, function(_, err)
    -- a callback that raised ended the task: said once, as a failure
    if not over() then ended = true callback(false, err) end
  end)
  return t
end

---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf the listing's buffer
function M.sessions(opts)
  return require("kadoa.nvim.browse").sessions(opts)
end

---@param id string session id
---@param page_id string
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf the page's buffer (filetype markdown)
function M.page(id, page_id, opts)
  if type(id) ~= "string" or type(page_id) ~= "string" then
    error("bad argument to 'page' (session id and page id expected as strings)", 2)
  end
  return require("kadoa.nvim.browse").page(id, page_id, opts)
end

-- top([opts]) -> kadoa://top, every crawl, live (kadoa.nvim.top)
---@param opts? kadoa.nvim.TopOptions
---@return integer|nil buf
---@return kadoa.Error|nil err
function M.top(opts)
  if opts ~= nil then errors.check_arg(opts, "table", 1, "top", 2) end
  return require("kadoa.nvim.top").open(opts)
end

-- watch(id [, opts]) -> watch | nil, err: kadoa.wait's polls until the crawl is over
---@param id string session id
---@param opts? kadoa.nvim.WatchOptions
---@return kadoa.nvim.Watch|nil watch
---@return kadoa.Error|nil err
function M.watch(id, opts)
  errors.check_arg(id, "string", 1, "watch", 2)
  local client, err = M.client()
  if not client then return nil, err end
  return watch.start(client, id, opts, M.config)
end

-- show_status(id [, long]): what :KadoaStatus does
---@param id string session id
---@param long? boolean the long form
---@return kadoa.Request|nil req
function M.show_status(id, long)
  return require("kadoa.nvim.commands").show_status(id, long)
end

return M
