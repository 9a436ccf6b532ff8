-- kadoa.paginate: every item of a paginated listing, one at a time.
--
--   for entry, err in client:each_page(id) do
--     if not entry then print(tostring(err)) break end
--     print(entry.status, entry.url)
--   end
--
-- The official SDKs hand out one listing page per call and leave the loop
-- to everyone. The listings do not even agree with themselves: the crawled
-- pages come as { page, pageSize, totalItems, totalPages, hasMore } in the
-- contract and as { currentPage, pageSize, totalRecords, totalPages } in
-- older answers, numbered from 1 or (older prose) from 0. So the first
-- request asks for the server's own first page, and the numbering is read
-- from its answer.
--
-- The iterator ends when the server says there is no more, at the last
-- page it announced, at an empty page, or at a page that brings nothing
-- new: a server that says hasMore forever cannot make it loop forever.
-- An error reaches the loop body once, as `false, err` (a nil first value
-- would end the loop without a word), and then the iterator ends.

local M = {}

local function number(v)
  if type(v) == "number" and v == v and v > -math.huge and v < math.huge then return v end
end

-- What a listing page says about where it stands: its number, the last
-- page's number (nil: unknown) and whether more follow (nil: unknown).
local function position(p, base)
  if type(p) ~= "table" then return nil end
  local page = number(p.page) or number(p.currentPage)
  local total = number(p.totalPages)
  local last = total and page and (base or page) + total - 1
  local more = p.hasMore
  if type(more) ~= "boolean" then more = nil end
  return page, last, more
end

-- pager(items_of, key_of) -> pager: the loop's state without the fetch,
-- so a caller that cannot block (Neovim's driver, a callback per listing
-- page) follows the pagination with the same rules as the iterator:
--   pager.page()        the page number to ask for next (nil: the server's first)
--   pager.take(listing) -> the items not seen before, in order; sets pager.finished
--   pager.finished      true once nothing more should be asked for
--   items_of(listing) -> array of items; key_of(item) -> a key for "new"
---@param items_of fun(listing: table): table[]|nil the items of one answer
---@param key_of fun(item: table): any an item's identity (new items only)
---@return table pager { page(), take(listing), finished }
function M.pager(items_of, key_of)
  local seen = {}
  local next_page, base
  local pager = { finished = false }

  function pager.page() return next_page end

  function pager.take(listing)
    local items = type(listing) == "table" and items_of(listing)
    if type(items) ~= "table" or #items == 0 then pager.finished = true return {} end
    local fresh = {}
    for _, item in ipairs(items) do
      local k = key_of(item)
      if k == nil or not seen[k] then
        if k ~= nil then seen[k] = true end
        fresh[#fresh + 1] = item
      end
    end
    local page, last, more = position(listing.pagination, base)
    if page and not base then base = page end
    local current = page or next_page or base or 1
    if #fresh == 0 or more == false or (more == nil and last and current >= last) then
      pager.finished = true
    elseif more == nil and not last then
      pager.finished = true   -- nothing says there is more: this was all
    end
    next_page = current + 1
    return fresh
  end

  return pager
end

-- The two listings: where their items are and what makes an item new.
M.listings = {
  pages = { items = function(l) return l.payload end,
            key = function(item) return type(item) == "table" and item.id end },
  sessions = { items = function(l) return l.data end,
               key = function(item) return type(item) == "table" and item.sessionId end },
}

-- each(fetch, items_of, key_of) -> iterator
--   fetch(page_number_or_nil) -> listing | nil, err
--   items_of(listing) -> array of items; key_of(item) -> a key for "new"
---@param fetch fun(page: integer|nil): table|nil, kadoa.Error|nil one listing page
---@param items_of fun(listing: table): table[]|nil
---@param key_of fun(item: table): any
---@return fun(): (table|false|nil), kadoa.Error|nil iterator
function M.each(fetch, items_of, key_of)
  local pager = M.pager(items_of, key_of)
  local queue, qi = {}, 1

  return function()
    while true do
      if qi <= #queue then
        local item = queue[qi]
        qi = qi + 1
        return item
      end
      if pager.finished then return nil end
      local listing, err = fetch(pager.page())
      if not listing then
        pager.finished = true
        return false, err
      end
      queue, qi = pager.take(listing), 1
    end
  end
end

-- each_page(client, id [, opts]): every crawled page of a session.
-- opts: page_size (default 100) and the call options (timeout, retries).
---@param client kadoa.Client
---@param id string session id
---@param opts? kadoa.PagesOptions
---@return fun(): (kadoa.PageItem|false|nil), kadoa.Error|nil iterator
function M.each_page(client, id, opts)
  require("kadoa.errors").check_arg(id, "string", 1, "each_page", 3)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.page_size = o.page_size or 100
  return M.each(function(page)
    o.page = page
    return client:pages(id, o)
  end, M.listings.pages.items, M.listings.pages.key)
end

-- each_session(client [, opts]): every crawl session of the account.
-- opts: page_size (default 100, the API's largest), user_id and the call
-- options.
---@param client kadoa.Client
---@param opts? kadoa.SessionsOptions
---@return fun(): (kadoa.SessionItem|false|nil), kadoa.Error|nil iterator
function M.each_session(client, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.page_size = o.page_size or 100
  return M.each(function(page)
    o.page = page
    return client:sessions(o)
  end, M.listings.sessions.items, M.listings.sessions.key)
end

return M
