-- kadoa.export: a crawl's pages taken home, one file per page.
--
--   local summary, err = client:export(session_id, "out", {
--     format = "markdown",          -- or "html" (passed to the API as is)
--     concurrency = 16,
--     on_progress = function(p) print(p.done, p.total, p.rate) end,
--   })
--   -- out/example.com_blog_post-1.md ..., and out/index.jsonl
--
-- Every crawled page (status DONE or READY) is fetched concurrently on the
-- multi interface (kadoa.many) and its content streamed straight from the
-- answer's JSON into its file (the C core's sink), so memory does not
-- grow with the pages' sizes. A file is written under a temporary name
-- and renamed once whole, so a file that is there is complete.
--
-- index.jsonl has one JSON object per page: id, url, status ("written",
-- "failed" with its error, or "pending" for pages not crawled yet), file
-- and bytes. It is appended to as pages land, so an export cut short (a
-- Ctrl-C, a failure) is resumed by running it again: pages already
-- written are skipped, each page is written once. A failed page is
-- listed, never silently missing.
--
-- Names come from the page's URL, made safe for any file system: only
-- letters, digits, '.', '_' and '-'; no leading dot; no name Windows
-- reserves (CON, NUL, COM1, ...); at most 100 bytes; a query string or a
-- cut adds a short hash. Names that would clash (ignoring case) get the
-- hash too. Nothing can be written outside the folder: a name holds no
-- '/' and is never '.' or '..', and files are opened without following a
-- symbolic link.

local core = require("kadoa.core")
local json = require("kadoa.json")
local options = require("kadoa.options")
local errors = require("kadoa.errors")
local many = require("kadoa.many")

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

-- name_for(url, ext) -> a safe file name (before clashes are resolved)
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

local function read_index(client, path)
  local entries = {}
  local f = io.open(path, "rb")
  if not f then return entries end
  for line in f:lines() do
    local e = client.transport:decode(line)
    if type(e) == "table" and type(e.id) == "string" then entries[e.id] = e end
  end
  f:close()
  return entries
end

local function exists(path)
  local f = io.open(path, "rb")
  return f ~= nil and f:close() ~= nil
end

local function crawled(status)
  status = type(status) == "string" and status:upper() or ""
  return status == "DONE" or status == "READY"
end

local function usage(msg)
  return nil, errors.new("usage", "export: " .. msg)
end

-- export(client, id, dir [, opts]) -> summary | nil, err
-- summary: { total, written, skipped, failed, pending, index, dir }
---@class kadoa.ExportOptions: kadoa.CallOptions
---@field format? string "markdown" (default) or "html"
---@field concurrency? integer pages fetched at once (default 16)
---@field page_size? integer the listing's page size
---@field on_progress? fun(p: table) { done, total, written, skipped, failed, elapsed, rate }

---@class kadoa.ExportResult
---@field total integer pages listed
---@field written integer
---@field skipped integer already there (a resumed export)
---@field failed integer
---@field pending integer not crawled yet
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
  local o, err = options.check("many", opts, "export",
    { format = { "string", nocontrol = true }, on_progress = "function", page_size = "number" })
  if not o then return nil, err end
  if o.on_result or o.raw then return usage("options on_result and raw are not export's") end
  if id == "" then return usage("session id is empty") end
  if dir == "" or dir:find("\0", 1, true) then
    return usage("the folder name is empty or holds a NUL byte")
  end
  local format = o.format or "markdown"
  local ext = EXT[format:lower()] or "txt"
  dir = dir:gsub("(.)/+$", "%1")
  -- the folder and any missing parents, as mkdir -p
  local sofar = dir:sub(1, 1) == "/" and "" or "."
  for part in dir:gmatch("[^/]+") do
    sofar = sofar .. "/" .. part
    local ok, merr = core.mkdir(sofar)
    if not ok then return nil, errors.new("io", "export: " .. merr) end
  end

  local index_path = dir .. "/index.jsonl"
  local known = read_index(client, index_path)

  -- every page of the listing, in its order
  local pages = {}
  local listing = { page_size = o.page_size, timeout = o.timeout, retries = o.retries }
  for entry, lerr in client:each_page(id, listing) do
    if not entry then return nil, lerr end
    if type(entry) == "table" and type(entry.id) == "string" then pages[#pages + 1] = entry end
  end

  -- names: the ones an earlier run gave keep theirs
  local taken, final = {}, {}
  for _, e in pairs(known) do
    if type(e.file) == "string" then taken[e.file:lower()] = true end
  end
  local summary = { total = #pages, written = 0, skipped = 0, failed = 0, pending = 0,
                    index = index_path, dir = dir }
  local jobs, by_id = {}, {}   -- page ids to fetch
  for _, p in ipairs(pages) do
    local e = known[p.id]
    local name = e and type(e.file) == "string" and e.file
    if not name then
      name = M.name_for(p.url, ext)
      if taken[name:lower()] then
        name = name:gsub("(%.[^.]+)$", "-" .. hash(p.id .. "\0" .. tostring(p.url)) .. "%1")
      end
      local n = 1
      local base = name
      while taken[name:lower()] do
        n = n + 1
        name = base:gsub("(%.[^.]+)$", "-" .. n .. "%1")
      end
      taken[name:lower()] = true
    end
    local entry = { id = p.id, url = p.url, file = name, status = "pending", page_status = p.status }
    final[#final + 1] = entry
    by_id[p.id] = entry
    if e and e.status == "written" and exists(dir .. "/" .. name) then
      entry.status, entry.bytes = "written", e.bytes
      summary.skipped = summary.skipped + 1
    elseif crawled(p.status) then
      jobs[#jobs + 1] = p.id
    else
      summary.pending = summary.pending + 1
    end
  end

  local log = io.open(index_path, "ab")
  local function note(entry)
    if log then
      log:write(json.encode(entry) or "{}", "\n")
      log:flush()
    end
  end
  local clock = client.settings.clock
  local start, done = clock(), summary.skipped
  local on_progress = o.on_progress

  local function fetch(c, pid)
    return c:page(id, pid, { format = format, path = dir .. "/" .. by_id[pid].file .. ".part",
                             timeout = o.timeout, retries = o.retries })
  end
  local ran, rerr = pcall(many.run, client, jobs, fetch, {
    concurrency = o.concurrency,
    on_result = function(key, res, ferr)
      local entry = by_id[key]
      local path = dir .. "/" .. entry.file
      local content = type(res) == "table" and res.payload
      if type(content) == "table" and content.bytes then
        local renamed, why = os.rename(path .. ".part", path)
        if renamed then
          entry.status, entry.bytes, entry.error = "written", content.bytes, nil
          summary.written = summary.written + 1
        else
          ferr = errors.new("io", "export: " .. tostring(why))
        end
      elseif res then
        ferr = errors.new("decode", "export: the answer has no content (payload is not text)")
      end
      if entry.status ~= "written" then
        os.remove(path .. ".part")
        entry.status, entry.error = "failed", tostring(ferr)
        summary.failed = summary.failed + 1
      end
      note(entry)
      done = done + 1
      if on_progress then
        local elapsed = clock() - start
        on_progress({ done = done, total = summary.total, written = summary.written,
                      skipped = summary.skipped, failed = summary.failed, elapsed = elapsed,
                      rate = elapsed > 0 and (done - summary.skipped) / elapsed or nil })
      end
    end,
  })
  if log then log:close() end
  if not ran then error(rerr, 0) end   -- interrupted: what landed is in the index

  -- the index, compacted: one line a page, in the listing's order
  local tmp = index_path .. ".part"
  local f = io.open(tmp, "wb")
  if f then
    for _, entry in ipairs(final) do f:write(json.encode(entry) or "{}", "\n") end
    f:close()
    os.rename(tmp, index_path)
  end
  return summary
end

return M
