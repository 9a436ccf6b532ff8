-- kadoa.paginate: every item of a paginated listing, one at a time (`for entry, err in
-- client:each_page(id)`), and following a running crawl's pages as they are crawled.
-- The listings disagree with themselves ({ page, totalItems, hasMore } in the contract,
-- { currentPage, totalRecords } in older answers, numbered from 1 or 0): the first request asks
-- for the server's own first page and the numbering is read from its answer. Iteration ends when
-- the server says so, at its last page, or at a page with nothing new (so a server saying hasMore
-- forever cannot loop it); an error reaches the loop once as `false, err` (nil would end it mutely).

local M = {}

local function number(v)
  if type(v) == "number" and v == v and v > -math.huge and v < math.huge then return v end
end

-- Where a listing page stands: its number, the last page's (nil: unknown), whether more follow.
local function position(p, base)
  if type(p) ~= "table" then return nil end
  local page = number(p.page) or number(p.currentPage)
  local total = number(p.totalPages)
  local last = total and page and (base or page) + total - 1
  local more = p.hasMore
  if type(more) ~= "boolean" then more = nil end
  return page, last, more
end

-- The loop's state without the fetch, so a caller that cannot block (a callback per listing page)
-- follows the same rules: page() (nil: the server's first), take(listing) -> the items not seen
-- before, finished once nothing more should be asked for.
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
    -- nothing new, or nothing says there is more
    if #fresh == 0 or more == false or (more == nil and (not last or current >= last)) then
      pager.finished = true
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

-- Following a crawl. Entries are appended in discovery order and change status in place, so the
-- pages before the first holding an entry not yet taken never change: a poll reads from there to
-- the end. Items are told apart by id, so a reordering listing is still read right (at the end,
-- with fewer taken than counted, it is read again from the start). A fresh session may answer
-- 404, list nothing or say finished with nothing done (not believed during `grace`); after the
-- status says finished the listing is read to its end until that brings nothing new (and the
-- count is met, or stood unmet for UNMET polls). The schedule is wait's; faults are the engine's,
-- what it gives up on ends the follow; a host's sleep returning false ends it quietly.

local QUICK = 0.25      -- of the interval: the pause after a poll that brought pages
local UNMET = 3         -- finished polls a count may stand unmet before it is not believed
local SCHEDULE = { interval = true, factor = true, max_interval = true, jitter = true, grace = true }
M.schedule = SCHEDULE   -- follow's options that are wait's (the rest are the listing call's)

---@param status any the page's status, an open string
---@return boolean
local function taken_status(status)
  status = type(status) == "string" and status:upper() or ""
  return status == "DONE" or status == "READY"
end
M.crawled = taken_status

local Follower = {}
Follower.__index = Follower

-- One poll at a time, for callers that work between polls (export): f:poll(), f:pause(), f.over
-- once the crawl is over and its last pages handed out; f.crawled, f.taken, f.polls, f.status.
---@param client kadoa.Client
---@param id string session id
---@param opts? kadoa.EachPageOptions
---@param fname? string the function to name in errors (default "each_page")
---@return table|nil follower
---@return kadoa.Error|nil err bad options
function M.follower(client, id, opts, fname)
  local errors = require("kadoa.errors")
  errors.check_arg(id, "string", 1, "each_page", 4)
  local call, sched = {}, {}
  for k, v in pairs(opts or {}) do
    if SCHEDULE[k] then sched[k] = v elseif k ~= "follow" then call[k] = v end
  end
  local w, err = require("kadoa.options").check("wait", sched, fname or "each_page")
  if not w then return nil, err end
  call.page_size = call.page_size or 100
  local s = client.settings
  local status_opts
  if call.timeout or call.retries then status_opts = { timeout = call.timeout, retries = call.retries } end
  return setmetatable({
    client = client, id = id, call = call, w = w, status_opts = status_opts, seen = {}, taken = 0, polls = 0,
    clock = s.clock, sleep = s.sleep, random = s.random or math.random,
    start = s.clock(), interval = w.interval, quiet = 0, over = false,
  }, Follower)
end

-- One read of the listing from `from` to its end or until `enough` were taken; self.from: the
-- lowest page holding an entry still to come (where the next read starts).
---@param from integer|nil the listing page to start at (nil: the server's first)
---@param enough number|nil stop once this many pages were taken (nil: read to the end)
---@return table[]|nil fresh the pages new in this read
---@return number|kadoa.Error|nil total the listing's count (or the error)
function Follower:read(from, enough)
  local fresh, here, call, base = {}, {}, self.call, self.base
  local page, next_from, total = from, nil, nil
  while true do
    call.page = page
    local listing, err = self.client:pages(self.id, call)
    if not listing then
      if err.kind == "not_found" and self:young() then break end
      return nil, err
    end
    local items = type(listing.payload) == "table" and listing.payload or {}
    local p = listing.pagination
    local at, last, more = position(p, base)
    if at and not base then base, self.base = at, at end
    at = at or page or base or 1
    if type(p) == "table" then total = number(p.totalItems) or number(p.totalRecords) or total end
    local new = false
    for _, item in ipairs(items) do
      local k = type(item) == "table" and item.id
      if k ~= nil and not here[k] then
        here[k], new = true, true
        if not self.seen[k] then
          if taken_status(item.status) then
            self.seen[k] = true
            fresh[#fresh + 1] = item
          elseif not next_from then
            next_from = at
          end
        end
      end
    end
    -- nothing unseen in this read (an endless or repeating listing) ends it like an empty page
    if #items == 0 or not new then break end
    self.last_page = at
    if more == false or (more == nil and (not last or at >= last)) then break end
    if enough and self.taken + #fresh >= enough then break end
    page = at + 1
  end
  self.taken = self.taken + #fresh
  self.from = next_from or self.last_page or from
  return fresh, total
end

---@return boolean young within grace of the follow's start
function Follower:young()
  return self.clock() - self.start < self.w.grace
end

---@return table[]|nil pages the pages new since the last poll (DONE or READY)
---@return kadoa.Error|nil err what ended the follow (once; then f.over)
function Follower:poll()
  if self.over then return {} end
  self.polls = self.polls + 1
  local errors = require("kadoa.errors")
  local status, err = self.client:status(self.id, self.status_opts)
  if not status and not (err.kind == "not_found" and self:young()) then
    self.over = true
    return nil, err
  end
  local p = status and type(status.payload) == "table" and status.payload or {}
  local failed = status and status.error
  if failed == (require("kadoa.codec").get() or {}).null or failed == false then failed = nil end
  local finished = p.finished == true and not (self:young() and self.taken == 0)
  local crawled = number(p.crawledPages)
  local moved = self.status == nil or crawled ~= self.crawled or p.activeJobs ~= self.active
    or p.waitingJobs ~= self.waiting
  self.status, self.crawled, self.active, self.waiting = status, crawled, p.activeJobs, p.waitingJobs

  local fresh, total = self:read(self.from, not (finished or failed) and crawled or nil)
  if not fresh then
    self.over = true
    return nil, total
  end
  if (finished or failed) and #fresh == 0 and (not total or self.taken < total) and self.from ~= nil then
    -- the counts say more than was taken: a reordered listing moved some before `from`
    local again
    again, total = self:read(nil)
    if not again then
      self.over = true
      return nil, total
    end
    fresh = again
  end

  if failed then
    self.over = true
    local text = errors.crawl_error_text(failed)
    if type(self.client.redact) == "function" then text = self.client:redact(text) end
    self.failure = errors.new("crawl_failed", text, { result = status })
    return fresh
  end
  if finished and #fresh == 0 then
    self.quiet = self.quiet + 1
    if not crawled or self.taken >= crawled or self.quiet >= UNMET then self.over = true end
  end
  if #fresh > 0 or moved then
    self.quiet = finished and self.quiet or 0
    self.interval = self.w.interval
  else
    self.interval = math.min(self.interval * self.w.factor, self.w.max_interval)
  end
  self.finished, self.fresh = finished, #fresh
  return fresh
end

---@return number seconds to sleep before the next poll
function Follower:pause()
  if self.finished and self.fresh > 0 then return 0 end   -- confirm the end at once
  local x = self.fresh > 0 and self.w.interval * QUICK or self.interval
  local j, r = self.w.jitter, self.random()
  if type(r) ~= "number" or r ~= r then r = 0.5 end
  return x * (1 + (2 * r - 1) * j)
end

local function follow(f)
  local queue, qi, first, err = {}, 1, true, nil
  return function()
    while true do
      if qi <= #queue then
        qi = qi + 1
        return queue[qi - 1]
      end
      if not f then return nil end
      if f.failure then
        err, f = f.failure, nil
        return false, err
      end
      if f.over then return nil end
      if not first and f.sleep(f:pause()) == false then return nil end   -- the host stopped it
      first = false
      local fresh, perr = f:poll()
      if not fresh then
        f = nil
        return false, perr
      end
      queue, qi = fresh, 1
    end
  end
end

---each_page's options: the listing call's, and with follow = true wait's schedule.
---@class kadoa.EachPageOptions: kadoa.PagesOptions
---@field follow? boolean follow a running crawl: pages as they are crawled, until it is over
---@field interval? number seconds between polls while things move (default 2; a quarter after new pages)
---@field factor? number the pause grows by this while nothing moves (default 1.5)
---@field max_interval? number seconds: the longest pause (default 30)
---@field jitter? number fraction of each pause that is random (default 0.1)
---@field grace? number seconds a fresh session's 404 or empty "finished" is not believed (default 0)

-- Every crawled page of a session (page_size 100 unless given); follow = true: as they are crawled.
---@param client kadoa.Client
---@param id string session id
---@param opts? kadoa.EachPageOptions
---@return fun(): (kadoa.PageItem|false|nil), kadoa.Error|nil iterator
function M.each_page(client, id, opts)
  require("kadoa.errors").check_arg(id, "string", 1, "each_page", 3)
  if type(opts) == "table" and opts.follow then
    local f, err = M.follower(client, id, opts)
    if not f then
      local once = true
      return function() if once then once = false return false, err end end
    end
    return follow(f)
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.follow = nil
  o.page_size = o.page_size or 100
  return M.each(function(page)
    o.page = page
    return client:pages(id, o)
  end, M.listings.pages.items, M.listings.pages.key)
end

-- Every crawl session of the account (page_size 100, the API's largest, unless given).
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
