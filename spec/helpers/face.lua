-- The face walk, shared by spec/face_spec.lua and the Neovim and nginx
-- suites: for every call of kadoa.api, arguments that work against the
-- mock, a good value for each option it declares, and the checks every
-- front end (a function that makes the call by name) must pass.
--
--   local face = require("spec.helpers.face")
--   local ids = face.prepare(client)             -- a crawl, a page, a file, a config
--   for _, c in ipairs(face.cases(ids, tmpdir)) do
--     local res, err = front(c.name, c.args)     -- c.args: the call's arguments, opts last
--     assert(face.judge(c, res, err))            -- nil + why when the front end failed it
--   end
--
-- Cases per call: its plain form, one per declared option (the call group's
-- timeout, retries and raw included), and a misspelt option that must be
-- refused with did-you-mean. `refuse` names options a host refuses: their
-- case must then be a usage error that names the host.

local api = require("kadoa.api")

local M = {}

local FAST = "https://pages-2.seconds-0.example.com/"

-- prepare(client) -> ids: a finished crawl, one of its pages and stored
-- files, a running crawl (pause, resume), saved configs (start; delete)
function M.prepare(client)
  local ids = {}
  ids.session = assert(client:crawl({ url = FAST })).sessionId
  assert(client:wait(ids.session, { timeout = 10, interval = 0.05, jitter = 0 }))
  ids.running = assert(client:crawl({ url = "https://pages-50.seconds-600.example.com/" })).sessionId
  local pages = assert(client:pages(ids.session))
  ids.page = pages.payload[1].id
  local files = assert(client:session_files(ids.session))
  for _, item in ipairs(files.data) do
    for k, v in pairs(item) do
      if not ids.file and type(v) == "string" and k:match("_filename$") then ids.file = v end
    end
  end
  ids.config = assert(client:config_create({ url = FAST, maxPages = 2 })).configId
  ids.doomed = assert(client:config_create({ url = FAST, maxPages = 2 })).configId
  return ids
end

-- the positional arguments of each call
local ARGS = {
  status = function(i) return { i.session } end,
  crawl = function() return { { url = FAST } } end,
  crawl_with_config = function(i) return { i.config } end,
  pause = function(i) return { i.running } end,
  resume = function(i) return { i.running } end,
  pages = function(i) return { i.session } end,
  page = function(i) return { i.session, i.page } end,
  session_files = function(i) return { i.session } end,
  file = function(i) return { i.file } end,
  sessions = function() return {} end,
  config_create = function() return { { url = FAST, maxPages = 2 } } end,
  config = function(i) return { i.config } end,
  config_delete = function(i) return { i.doomed } end,
}
M.ARGS = ARGS

-- a good value for every option a call may declare
local function value(opt, dir, name)
  local v = ({ page = 1, page_size = 10, format = "markdown", include_all = true, user_id = "face",
    extra = {}, timeout = 10, retries = 0, raw = true,
    wait = { timeout = 10, interval = 0.05, jitter = 0 },
    callback = "http://127.0.0.1:9/face" })[opt]   -- loopback, nobody there
  if opt == "path" then v = dir .. "/" .. name .. ".out" end
  return v
end

-- a misspelling did-you-mean must see through: the last two letters swapped
local function misspell(s)
  return s:sub(1, -3) .. s:sub(-1) .. s:sub(-2, -2)
end

-- calls() -> every call's name, sorted
function M.calls()
  local names = {}
  for name in pairs(api.calls) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- cases(ids, dir [, refuse]) -> { name, what, args, opt?, typo?, refused?, file? }
function M.cases(ids, dir, refuse)
  local out = {}
  for _, name in ipairs(M.calls()) do
    local d = api.calls[name]
    assert(ARGS[name], "the face walk has no arguments for the call " .. name)
    local opts = { "timeout", "retries", "raw" }
    for opt in pairs(d.options) do opts[#opts + 1] = opt end
    table.sort(opts)
    local function case(what, o, extra)
      local args = ARGS[name](ids)
      args[#args + 1] = o
      local c = { name = name, what = what, args = args }
      for k, v in pairs(extra or {}) do c[k] = v end
      out[#out + 1] = c
    end
    case("plain")
    for _, opt in ipairs(opts) do
      local v = value(opt, dir, name)
      assert(v ~= nil, "the face walk has no value for option " .. opt .. " of " .. name)
      case("option " .. opt, { [opt] = v }, { opt = opt, refused = refuse and refuse[opt],
        file = opt == "path" and v or nil })
    end
    local known = opts[#opts]   -- the last by name: a call's own when it has one
    case("misspelt " .. known, { [misspell(known)] = 1 }, { typo = known })
  end
  return out
end

-- judge(case, res, err) -> true | nil, why
function M.judge(c, res, err)
  local where = c.name .. " (" .. c.what .. "): "
  local usage = type(err) == "table" and err.kind == "usage"
  local msg = type(err) == "table" and tostring(err.message) or tostring(err)
  if c.typo then
    if not usage then return nil, where .. "a misspelt option was not refused: " .. msg end
    if not msg:find("did you mean '" .. c.typo .. "'", 1, true) then
      return nil, where .. "no did-you-mean: " .. msg
    end
    return true
  end
  if c.refused then
    if not usage or not msg:find(c.refused, 1, true) then
      return nil, where .. "not refused with a usage error naming " .. c.refused .. ": " .. msg
    end
    return true
  end
  if usage then return nil, where .. "refused: " .. msg end
  if res == nil and err == nil then return nil, where .. "neither a result nor an error" end
  if c.file and res ~= nil then
    local f = io.open(c.file, "rb")
    if not f then return nil, where .. "no file at " .. c.file end
    f:close()
    os.remove(c.file)
  end
  return true
end

return M
