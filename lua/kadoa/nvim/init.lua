-- kadoa.nvim: the client inside Neovim, never blocking the editor.
--
--   local kn = require("kadoa.nvim")
--   kn.setup({ client = { base_url = ... }, wait = { interval = 5 } })
--   kn.status(id, function(res, err) ... end)   -- on the main loop
--   kn.watch(id)                                -- :KadoaWatch
--   kn.statusline()                             -- for 'statusline'
--   kn.call("pages", cb, id, { page = 1 })      -- any API call, non-blocking
--   kn.pages(id) / kn.sessions()                -- :KadoaPages, :KadoaSessions
--   kn.each_page(id, { follow = true }, cb)     -- client:each_page, cb(page) as they come
--   kn.top()                                    -- :KadoaTop, every crawl, live
--
-- A thin layer: the work is the library's (kadoa.client, kadoa.wait,
-- kadoa.options), each Neovim concern has its own module:
--   kadoa.nvim.loader    finding the C core for this Neovim's LuaJIT
--   kadoa.nvim.driver    socket events on vim.loop drive each client's requests
--   kadoa.nvim.watch     kadoa.wait in a coroutine, statusline, notifications
--   kadoa.nvim.browse    crawled pages and sessions in scratch buffers
--   kadoa.nvim.top       every crawl in one live buffer (kadoa.fleet)
--   kadoa.nvim.commands  what the :Kadoa* commands do
--
-- Callbacks are always called on the main loop (vim.schedule), where
-- every vim.api function may be used. Works with Neovim 0.7 (vim.loop,
-- LuaJIT) and later (vim.uv).

local options = require("kadoa.options")
local errors = require("kadoa.errors")
local loader = require("kadoa.nvim.loader")
local driver = require("kadoa.nvim.driver")
local watch = require("kadoa.nvim.watch")

---@class kadoa.nvim
local M = {}

---@type kadoa.nvim.Options
M.config = {
  client = {},          -- options for kadoa.client (api_key, base_url, timeout, ...)
  wait = {},            -- options for kadoa.wait used by watch (interval, timeout, ...)
  top = {},             -- :KadoaTop: confirm (p/r ask first), split, kadoa.fleet's options
  notify = options.declarations.notify.default,                 -- watches use vim.notify
}

M.root = loader.root
M.load_info = loader.info   -- how the pieces were found, for :checkhealth
M.load = loader.load
M.watches = watch.list      -- in the order they were started
M.statusline = watch.statusline
M.stop = watch.stop

---------------------------------------------------------------------------
-- Setup and the client

local client_obj

-- Raise a bad option as setup always has: the library's own message,
-- pointing at the caller.
local function check(group, opts, fname, extra)
  local _, err = options.check(group, opts, fname, extra)
  if err then error(err.message, 3) end
end

-- setup([opts]): opts.client (kadoa.client options), opts.wait (watch's
-- kadoa.wait options) and opts.notify, checked
-- with kadoa.options and merged deeply into M.config; opts.top (the
-- :KadoaTop view's: confirm, split, and kadoa.fleet's own options, which
-- fleet checks when the view is opened): a later setup
-- changes only what it names. A new client is made on next use when
-- opts.client is given; requests already running keep theirs.
---@param opts? kadoa.nvim.Options
function M.setup(opts)
  check("nvim", opts, "kadoa.nvim.setup", { client = "table", wait = "table", top = "table" })
  opts = opts or {}
  check("client", opts.client, "kadoa.nvim.setup (client)")
  check("wait", opts.wait, "kadoa.nvim.setup (wait)")
  -- in place: other modules and users may hold M.config
  local merged = options.merge(M.config, opts)
  for k, v in pairs(merged) do M.config[k] = v end
  if opts.client then client_obj = nil end
end

-- client() -> the client made from M.config.client (and the environment)
-- | nil, err
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

-- The client a call's options pick: their client options (api_key,
-- base_url, ...) over setup's client, under kadoa.status's rule
-- (kadoa.client.split_options, kadoa.client.default); none: M.client().
-- Returns the client and the options left for the call.
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

---------------------------------------------------------------------------
-- Calls

-- status(id, callback [, opts]) -> request | nil, err
-- callback(res, err) is called exactly once, on the main loop: with the
-- status table, or nil and an error of kadoa.errors (the same ones
-- client:status gives, after the same retries; "request was cancelled"
-- when req:cancel() stopped it; a usage error for bad options). opts are
-- client:status's call options (timeout, retries, raw) and, as for
-- kadoa.status, client options (api_key, base_url, ...). Never blocks.
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

-- call(name, callback, ...) -> request | nil, err
-- Any call of kadoa.api (client:send's name and arguments: "crawl", url;
-- "pages", id, { page = n }; "page", id, page_id, { format = "markdown" };
-- "sessions", ...), non-blocking; callback(res, err) exactly once, on the
-- main loop, as for status; the options take client options too, as for
-- status. An unknown name or a bad argument raises, as client:send does.
---@param name string a call of kadoa.api ("pages", "crawl", ...)
---@param callback fun(res: any, err: kadoa.Error|nil)
---@param ... any the call's arguments and options, as for client:send
---@return kadoa.Request|nil req
---@return kadoa.Error|nil err
function M.call(name, callback, ...)
  if type(callback) ~= "function" then
    error(("bad argument #2 to 'call' (function expected, got %s)"):format(type(callback)), 2)
  end
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
    -- a start and its wait: a task moved on from the main loop, where
    -- wait's callbacks may use vim.api
    return require("kadoa.nvim.async").run(client, function(c) return c[name](c, unpack(args, 1, n)) end,
      callback)
  end
  return driver.call(client, callback, name, unpack(args, 1, n))
end

-- pages(id [, opts]) -> buffer: the crawled pages of a session listed in
-- a scratch buffer, filled without blocking; <CR> opens a page's Markdown.
-- sessions([opts]) -> buffer: the account's crawl sessions, <CR> lists
-- one's pages. page(id, page_id [, opts]) -> buffer: one page's Markdown.
-- opts: page_size (listings), split (open in a new window).
---@param id string session id
---@param opts? kadoa.nvim.BrowseOptions
---@return integer buf the listing's buffer
function M.pages(id, opts)
  if type(id) ~= "string" then
    error(("bad argument #1 to 'pages' (string expected, got %s)"):format(type(id)), 2)
  end
  return require("kadoa.nvim.browse").pages(id, opts)
end

-- each_page(id, opts, callback) -> task | nil, err: client:each_page(id,
-- opts) without blocking, the iterator's values handed to callback on
-- the main loop: callback(page) for each page, in order, then
-- callback(nil) at the end, or callback(false, err) once when it fails.
-- opts: each_page's (page_size, call options; follow = true follows a
-- running crawl on wait's schedule: interval, factor, max_interval,
-- jitter, grace) and, as for status, client options. task:cancel()
-- stops it: nothing more is asked of the server, no more callbacks.
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

-- top([opts]) -> buffer: kadoa://top, every crawl of the account with
-- its state, pages and rate, refreshed in place while it is shown; p/r
-- pause/resume the crawl on the cursor's line, <CR> lists its pages.
-- opts over setup's top (see kadoa.nvim.top).
---@param opts? kadoa.nvim.TopOptions
---@return integer|nil buf
---@return kadoa.Error|nil err
function M.top(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to 'top' (table expected, got %s)"):format(type(opts)), 2)
  end
  return require("kadoa.nvim.top").open(opts)
end

-- watch(id [, opts]) -> watch | nil, err
-- Polls the crawl with kadoa.wait's schedule until it is over, without
-- blocking. opts: any kadoa.wait option (over M.config.wait), plus
-- on_update(res, info), on_error(err, info) and on_done(res, err), all
-- called on the main loop, and notify (default M.config.notify).
-- Watching an id again replaces its earlier watch.
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
