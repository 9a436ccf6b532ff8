-- kadoa.nvim.commands: what the :Kadoa* commands of plugin/kadoa.lua do. Outcomes go
-- to vim.notify or scratch buffers; nothing here waits.

local M = {}

local function kn() return require("kadoa.nvim") end

local function report(err)
  vim.notify("kadoa: " .. require("kadoa.format").format_error(err), vim.log.levels.ERROR,
    { title = "kadoa" })
end

-- Is the command's argument there? Says the command's usage when not.
local function given(arg, usage)
  if type(arg) == "string" and arg ~= "" then return true end
  vim.notify("kadoa: usage: " .. usage, vim.log.levels.ERROR)
  return false
end

-- :KadoaStatus[!] {id}
---@param id string session id
---@param long? boolean the long form (:KadoaStatus!)
---@return kadoa.Request|nil req
function M.show_status(id, long)
  if not given(id, ":KadoaStatus {session-id}") then return end
  return kn().status(id, function(res, err)
    if not res then return report(err) end
    local text = require("kadoa.format").format(res, { id = id, style = long and "long" or "short" })
    vim.notify(text, vim.log.levels.INFO, { title = "kadoa" })
  end)
end

-- :KadoaWatch {id}
---@param id string session id
---@return kadoa.nvim.Watch|nil watch
function M.watch(id)
  local w, err = kn().watch(id)
  if not w then report(err) end
  return w
end

-- :KadoaStop [id]
---@param id string session id, or "" for every watch
---@return boolean stopped
function M.stop(id)
  return kn().stop(id ~= "" and id or nil)
end

-- :KadoaCrawl {url}: start it, say its session id, then watch it as :KadoaWatch
---@param url string
---@return kadoa.Request|nil req
function M.crawl(url)
  if not given(url, ":KadoaCrawl {url}") then return end
  return kn().call("crawl", function(res, err)
    if not res then return report(err) end
    local id = type(res) == "table" and res.sessionId
    if type(id) ~= "string" or id == "" then
      return report(require("kadoa.errors").new("decode",
        "kadoa: the crawl's answer has no session id"))
    end
    local fmt = require("kadoa.format")
    vim.notify("kadoa: crawl started: " .. fmt.text(id) .. " (" .. fmt.text(url, 200) .. ")",
      vim.log.levels.INFO, { title = "kadoa" })
    M.watch(id)
  end, url)
end

-- :KadoaPages {id}
---@param id string session id
---@return integer|nil buf
function M.pages(id)
  if not given(id, ":KadoaPages {session-id}") then return end
  return kn().pages(id)
end

-- :KadoaSessions
---@return integer buf
function M.sessions()
  return kn().sessions()
end

-- :KadoaTop [name=value ...]: options over setup's top (numbers and true/false as such)
---@param args string the command's words
---@return integer|nil buf
function M.top(args)
  local opts
  for word in (args or ""):gmatch("%S+") do
    local k, v = word:match("^([%w_]+)=(.*)$")
    if not k then
      vim.notify("kadoa: usage: :KadoaTop [name=value ...]", vim.log.levels.ERROR)
      return
    end
    if tonumber(v) then v = tonumber(v)
    elseif v == "true" then v = true
    elseif v == "false" then v = false end
    opts = opts or {}
    opts[k] = v
  end
  local ok, res = pcall(kn().top, opts)
  if ok then return res end
  vim.notify("kadoa: " .. tostring(res), vim.log.levels.ERROR, { title = "kadoa" })
end

-- the watched ids (crawls started with :KadoaCrawl among them) that begin with lead
---@param lead string what is typed so far
---@return string[] ids
function M.watched_ids(lead)
  lead = type(lead) == "string" and lead or ""
  local ids = {}
  for _, w in ipairs(kn().watches) do
    if w.id:sub(1, #lead) == lead then ids[#ids + 1] = w.id end
  end
  return ids
end

return M
