-- kadoa.export: a crawl's pages taken home, one file per page (client:export(id, dir, opts)).
-- Every crawled page is fetched many at once and its content streamed from the answer's JSON into
-- its file (the core's sink), so memory does not grow with the pages; a file is written under a
-- temporary name and renamed once whole. index.jsonl gets a line per page (written, failed with its
-- error, or pending) as pages land, so running an export again resumes it: each page is written
-- once, a failed one is listed, never silently missing. Names come from the URL, safe on any file
-- system (letters, digits, '.', '_', '-'; no leading dot or name Windows reserves; at most 100
-- bytes; a query, a cut or a clash ignoring case adds a short hash), never leave the folder.

local core = require("kadoa.core")
local json = require("kadoa.json")
local options = require("kadoa.options")
local errors = require("kadoa.errors")
local many = require("kadoa.many")
local paginate = require("kadoa.paginate")

local M = {}

local EXT = { markdown = "md", md = "md", html = "html" }
local STEM_MAX = 100
local RESERVED = { con = true, prn = true, aux = true, nul = true }
for i = 0, 9 do RESERVED["com" .. i] = true; RESERVED["lpt" .. i] = true end

-- A short, stable hash of s (8 hex digits), the same on every Lua.
local function hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 4294967291 end
  return string.format("%08x", h)
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end))
end

-- A safe file name for url (before clashes are resolved).
---@param url string
---@param ext string the extension, without the dot
---@return string
function M.name_for(url, ext)
  url = type(url) == "string" and url or ""
  local rest = url:gsub("^%a[%w+.-]*://", "")
  local path, query = rest:match("^([^?#]*)%??([^#]*)")
  local stem = unescape(path or ""):gsub("[^%w._-]+", "_"):gsub("_+", "_")
  stem = stem:gsub("^[._%-]+", ""):gsub("[._%-]+$", "")
  local tag
  if query and query ~= "" then tag = hash(url) end
  if #stem > STEM_MAX then
    stem = stem:sub(1, STEM_MAX):gsub("[._%-]+$", "")
    tag = hash(url)
  end
  if stem == "" then stem = "page" end
  if RESERVED[(stem:match("^[^.]*")):lower()] then stem = "_" .. stem end
  if tag then stem = stem .. "-" .. tag end
  return stem .. "." .. ext
end

-- The index so far, the last line of each page winning, and the ids in the order they first came;
-- a line cut short by a kill is skipped and ended, so the next line is not glued onto it.
local function read_index(client, path)
  local entries, order = {}, {}
  local f = io.open(path, "rb")
  if not f then return entries, order end
  local last
  for line in f:lines() do
    local e = client.transport:decode(line)
    if type(e) == "table" and type(e.id) == "string" then
      if not entries[e.id] then order[#order + 1] = e.id end
      entries[e.id] = e
    end
    last = line
  end
  f:close()
  if last and client.transport:decode(last) == nil then
    f = io.open(path, "ab")
    if f then f:write("\n") f:close() end
  end
  return entries, order
end

local function exists(path)
  local f = io.open(path, "rb")
  return f ~= nil and f:close() ~= nil
end

local function usage(msg)
  return nil, errors.new("usage", "export: " .. msg)
end

-- With follow = true the crawl is followed (kadoa.paginate's follower): each poll's new pages are
-- fetched at once, until the crawl is over; a failed crawl's error has err.summary.
---@class kadoa.ExportOptions: kadoa.CallOptions
---@field format? string "markdown" (default) or "html"
---@field concurrency? integer pages fetched at once (default 16)
---@field page_size? integer the listing's page size
---@field follow? boolean follow a running crawl (then each_page's follow options too)
---@field interval? number see kadoa.EachPageOptions (follow only)
---@field factor? number see kadoa.EachPageOptions (follow only)
---@field max_interval? number see kadoa.EachPageOptions (follow only)
---@field jitter? number see kadoa.EachPageOptions (follow only)
---@field grace? number see kadoa.EachPageOptions (follow only)
---@field on_progress? fun(p: table) done, total, written, skipped, failed, elapsed, rate; crawled, exported

---@class kadoa.ExportResult
---@field total integer pages listed
---@field written integer
---@field skipped integer already there (a resumed export)
---@field failed integer
---@field pending integer not crawled yet
---@field stopped? boolean following: the host's sleep said stop before the crawl was over
---@field index string the index.jsonl path
---@field dir string

---@param client kadoa.Client
---@param id string session id
---@param dir string
---@param opts? kadoa.ExportOptions
---@return kadoa.ExportResult|nil summary
---@return kadoa.Error|nil err
function M.export(client, id, dir, opts)
  errors.check_arg(id, "string", 1, "export", 3)
  errors.check_arg(dir, "string", 2, "export", 3)
  local extra = { format = { "string", nocontrol = true }, on_progress = "function", page_size = "number",
    follow = "boolean" }
  for k in pairs(paginate.schedule) do extra[k] = "number" end
  local o, err = options.check("many", opts, "export", extra)
  if not o then return nil, err end
  if o.on_result or o.raw then return usage("options on_result and raw are not export's") end
  if id == "" then return usage("session id is empty") end
  if dir == "" or dir:find("\0", 1, true) then
    return usage("the folder name is empty or holds a NUL byte")
  end
  local listing = { page_size = o.page_size, timeout = o.timeout, retries = o.retries }
  local follower
  if o.follow then
    for k in pairs(paginate.schedule) do listing[k] = o[k] end
    follower, err = paginate.follower(client, id, listing, "export")
    if not follower then return nil, err end
  end
  local format = o.format or "markdown"
  local ext = EXT[format:lower()] or "txt"
  dir = dir:gsub("(.)/+$", "%1")
  local made, merr = core.mkdir(dir)
  if not made then return nil, errors.new("io", "export: " .. merr) end

  local index_path = dir .. "/index.jsonl"
  local known = read_index(client, index_path)

  -- names: the ones an earlier run gave keep theirs
  local taken = {}
  for _, e in pairs(known) do
    if type(e.file) == "string" then taken[e.file:lower()] = true end
  end
  local summary = { total = 0, written = 0, skipped = 0, failed = 0, pending = 0,
                    index = index_path, dir = dir }
  local final = {}      -- the listing's order, for the compacted index (not following)

  local function name_of(p)
    local e = known[p.id]
    local name = e and type(e.file) == "string" and e.file
    if name then return name end
    name = M.name_for(p.url, ext)
    if taken[name:lower()] then
      name = name:gsub("(%.[^.]+)$", "-" .. hash(p.id .. "\0" .. tostring(p.url)) .. "%1")
    end
    local n, base = 1, name
    while taken[name:lower()] do
      n = n + 1
      name = base:gsub("(%.[^.]+)$", "-" .. n .. "%1")
    end
    taken[name:lower()] = true
    return name
  end

  -- plan(pages) -> jobs: the pages not home yet, as fetches into files
  local by_id = {}
  local function plan(pages)
    local jobs = {}
    for _, p in ipairs(pages) do
      summary.total = summary.total + 1
      local e = known[p.id]
      local entry = { id = p.id, url = p.url, file = name_of(p), status = "pending", page_status = p.status }
      if not follower then final[#final + 1] = entry end
      if e and e.status == "written" and exists(dir .. "/" .. entry.file) then
        entry.status, entry.bytes = "written", e.bytes
        summary.skipped = summary.skipped + 1
      elseif paginate.crawled(p.status) then
        jobs[#jobs + 1] = p.id
        by_id[p.id] = entry
      else
        summary.pending = summary.pending + 1
      end
      known[p.id] = nil   -- each page is planned once; what stays is the earlier runs'
    end
    return jobs
  end

  local log = io.open(index_path, "ab")
  local function note(entry)
    if log then
      log:write(json.encode(entry) or "{}", "\n")
      log:flush()
    end
  end
  local clock = client.settings.clock
  local start, done = clock(), 0
  local on_progress = o.on_progress
  local function progress()
    if not on_progress then return end
    local elapsed = clock() - start
    local exported = summary.written + summary.skipped
    on_progress({ done = done + summary.skipped, total = summary.total, written = summary.written,
                  skipped = summary.skipped, failed = summary.failed, elapsed = elapsed,
                  rate = elapsed > 0 and done / elapsed or nil,
                  crawled = follower and math.max(follower.crawled or 0, follower.taken) or nil,
                  exported = follower and exported or nil })
  end

  -- A page is home once its file has its final name. Its index line is written first: a run killed
  -- between the two fetches the page again; a file never lacks its line.
  local function landed(key, res, ferr)
    local entry = by_id[key]
    by_id[key] = nil
    local path = dir .. "/" .. entry.file
    local content = type(res) == "table" and res.payload
    if type(content) == "table" and content.bytes then
      entry.status, entry.bytes, entry.error = "written", content.bytes, nil
      note(entry)
      local renamed, why = os.rename(path .. ".part", path)
      if renamed then
        summary.written = summary.written + 1
      else
        entry.status, entry.bytes = "pending", nil
        ferr = errors.new("io", "export: " .. tostring(why))
      end
    elseif res then
      ferr = errors.new("decode", "export: the answer has no content (payload is not text)")
    end
    if entry.status ~= "written" then
      os.remove(path .. ".part")
      entry.status, entry.error = "failed", tostring(ferr)
      summary.failed = summary.failed + 1
      note(entry)
    end
    done = done + 1
    progress()
  end

  local function get(c, pid)
    return c:page(id, pid, { format = format, path = dir .. "/" .. by_id[pid].file .. ".part",
                             timeout = o.timeout, retries = o.retries })
  end
  local function fetch(jobs)
    if #jobs == 0 then return true end
    return pcall(many.run, client, jobs, get, { concurrency = o.concurrency, on_result = landed })
  end

  local ran, rerr, failure = true, nil, nil
  if follower then
    while true do
      local t0 = clock()
      local fresh, ferr = follower:poll()
      if not fresh then failure = ferr break end
      ran, rerr = fetch(plan(fresh))
      if not ran then break end
      if #fresh == 0 then progress() end
      if follower.failure then failure = follower.failure break end
      if follower.over then break end
      local pause = follower:pause() - (clock() - t0)
      if pause > 0 and client.settings.sleep(pause) == false then   -- the host stopped it
        summary.stopped = true
        break
      end
    end
  else
    local pages = {}
    for entry, lerr in client:each_page(id, listing) do
      if not entry then
        if log then log:close() end
        return nil, lerr
      end
      if type(entry) == "table" and type(entry.id) == "string" then pages[#pages + 1] = entry end
    end
    ran, rerr = fetch(plan(pages))
  end
  if log then log:close() end
  if not ran then error(rerr, 0) end   -- interrupted: what landed is in the index

  -- the index, compacted: one line a page (following: the order they came in)
  if follower then
    local last, order = read_index(client, index_path)
    final = {}
    for i, k in ipairs(order) do final[i] = last[k] end
  end
  local tmp = index_path .. ".part"
  local f = io.open(tmp, "wb")
  if f then
    for _, entry in ipairs(final) do f:write(json.encode(entry) or "{}", "\n") end
    f:close()
    os.rename(tmp, index_path)
  end
  if failure then
    failure.summary = summary
    return nil, failure
  end
  return summary
end

return M
