-- kadoa.marks: what the API does not say about a crawl, kept on this machine.
-- Kadoa has no paused state (a paused crawl looks like a running one whose
-- numbers stand still), so a pause made through this client, in any host, is
-- remembered in $XDG_STATE_HOME/kadoa/marks.json (else ~/.local/state/kadoa/):
-- ids and times only, 0600 in a 0700 folder, replaced whole by a rename; a
-- missing or corrupt file is no marks; of two writers the last wins. A pause
-- made elsewhere is judged `stalled` once the crawl stops moving. In nginx the
-- write blocks the worker for one small file's fsync and rename: accepted, as
-- pauses are rare and made by a person (a timer would block it just as well).

local M = {}

local MAX_MARKS = 1000       -- the newest kept: the file cannot grow forever
M.STALLED_AFTER = 3          -- observations without a move or an active job

local function nonempty(v) return type(v) == "string" and v ~= "" and v or nil end
local function io_error(why) return nil, require("kadoa.errors").new("io", "marks: " .. tostring(why)) end

---@param getenv? fun(name: string): string|nil the environment (default os.getenv)
---@return string|nil path
---@return kadoa.Error|nil err no HOME and no XDG_STATE_HOME
function M.path(getenv)
  getenv = getenv or os.getenv
  local state = nonempty(getenv("XDG_STATE_HOME"))
  if state and state:sub(1, 1) ~= "/" then state = nil end   -- the spec wants it absolute
  if not state then
    local home = nonempty(getenv("HOME"))
    if not home then return io_error("neither XDG_STATE_HOME nor HOME is set") end
    state = home .. "/.local/state"
  end
  return state .. "/kadoa/marks.json"
end

-- { [session id] = time paused }
---@param path? string the state file (default: path())
---@return table<string, number> paused
function M.read(path)
  path = path or M.path()
  local f = path and io.open(path, "rb")
  if not f then return {} end
  local text = f:read("*a")
  f:close()
  local codec = require("kadoa.codec").get()
  local ok, t = pcall(codec and codec.decode or error, text or "")
  local out = {}
  if ok and type(t) == "table" and type(t.paused) == "table" then
    for id, at in pairs(t.paused) do
      if nonempty(id) and type(at) == "number" and at == at then out[id] = at end
    end
  end
  return out
end

local function write(path, paused)
  local ids = {}
  for id in pairs(paused) do ids[#ids + 1] = id end
  table.sort(ids, function(a, b) return paused[a] > paused[b] or (paused[a] == paused[b] and a < b) end)
  local json = require("kadoa.json")
  local keep = {}
  for i = 1, math.min(#ids, MAX_MARKS) do keep[ids[i]] = paused[ids[i]] end
  local text = assert(json.encode({ paused = keep }))
  local core = require("kadoa.core")
  local made, merr = core.mkdir(path:match("^(.*)/[^/]*$"), true)
  if not made then return io_error(merr) end
  local tmp = ("%s.%d%06d.tmp"):format(path, os.time(), math.floor(math.random() * 1e6))
  local ok, err = core.private_file(tmp, text .. "\n")
  if ok then ok, err = os.rename(tmp, path) end
  if not ok then
    os.remove(tmp)
    return io_error(err)
  end
  return true
end

-- A pause remembered, or its mark cleared (paused false: a resume).
---@param id string session id
---@param paused boolean
---@param path? string the state file (default: path())
---@param now? number the time to record (default os.time())
---@return true|nil ok
---@return kadoa.Error|nil err
function M.set(id, paused, path, now)
  require("kadoa.errors").check_arg(id, "string", 1, "marks.set", 2)
  local err
  if not path then
    path, err = M.path()
    if not path then return nil, err end
  end
  local all = M.read(path)
  if paused then
    all[id] = now or os.time()
  elseif all[id] == nil then
    return true            -- nothing to clear: the file is left alone
  else
    all[id] = nil
  end
  return write(path, all)
end

-- The time it was paused through this client, or nil.
---@param id string session id
---@param paused? table<string, number> what read() gave (default: read it now)
---@return number|nil at
function M.paused(id, paused)
  return (paused or M.read())[id]
end

-- Over the last n observations (payloads or session items, oldest first) the
-- crawl never finished, its pages never moved and no job was active.
---@param observations table[] payloads: crawledPages, activeJobs, waitingJobs, finished
---@param n? integer how many (default STALLED_AFTER)
---@return boolean
function M.stalled(observations, n)
  n = n or M.STALLED_AFTER
  local count = type(observations) == "table" and #observations or 0
  if count < n or n < 1 then return false end
  local first = observations[count - n + 1]
  for i = count - n + 1, count do
    local o = observations[i]
    if type(o) ~= "table" or o.finished == true or o.activeJobs ~= 0
      or type(first) ~= "table" or o.crawledPages ~= first.crawledPages then
      return false
    end
  end
  return true
end

-- The mark kadoa.format shows for a crawl neither finished nor failed.
---@param id string session id
---@param observations? table[] payloads, oldest first (see stalled)
---@param paused? table<string, number> what read() gave (default: read it now)
---@return "paused"|"stalled"|nil mark
function M.of(id, observations, paused)
  if M.paused(id, paused) then return "paused" end
  if observations and M.stalled(observations) then return "stalled" end
  return nil
end

-- A call declared with `mark` succeeded (kadoa.client's run of it, in every
-- host, calls this once). A mark not written never fails the call (the crawl
-- was paused): res.mark_error says why.
---@param id any the session id the call named
---@param paused boolean
---@param res any the call's result
function M.note(id, paused, res)
  if type(id) ~= "string" then return end
  local ok, why = M.set(id, paused)
  if not ok and type(res) == "table" then res.mark_error = tostring(why) end
end

return M
