-- kadoa.nvim.commands: what :KadoaStatus, :KadoaWatch and :KadoaStop do
-- (plugin/kadoa.lua defines them and calls here). Outcomes are shown
-- with vim.notify; nothing here waits.

local M = {}

local function kn() return require("kadoa.nvim") end

local function report(err)
  vim.notify("kadoa: " .. require("kadoa.format").format_error(err), vim.log.levels.ERROR,
    { title = "kadoa" })
end

-- :KadoaStatus {id}: the formatted status (long form with !)
function M.show_status(id, long)
  if type(id) ~= "string" or id == "" then
    vim.notify("kadoa: usage: :KadoaStatus {session-id}", vim.log.levels.ERROR)
    return
  end
  return kn().status(id, function(res, err)
    if not res then return report(err) end
    local text = require("kadoa.format").format(res, { id = id, style = long and "long" or "short" })
    vim.notify(text, vim.log.levels.INFO, { title = "kadoa" })
  end)
end

-- :KadoaWatch {id}
function M.watch(id)
  local w, err = kn().watch(id)
  if not w then report(err) end
  return w
end

-- :KadoaStop [id]
function M.stop(id)
  return kn().stop(id ~= "" and id or nil)
end

-- the ids :KadoaStop completes
function M.watched_ids()
  local ids = {}
  for _, w in ipairs(kn().watches) do ids[#ids + 1] = w.id end
  return ids
end

return M
