-- kadoa: Neovim commands. Nothing is loaded until a command is used.
--
--   :KadoaStatus {id}    the crawl's status (! for the long form)
--   :KadoaWatch {id}     poll until the crawl is over, with an updating
--                        notification and require("kadoa.nvim").statusline()
--   :KadoaStop [id]      stop one watch, or all of them

if vim.g.loaded_kadoa then return end
vim.g.loaded_kadoa = 1

local function kn() return require("kadoa.nvim") end

local function report(err)
  vim.notify("kadoa: " .. require("kadoa.format").format_error(err), vim.log.levels.ERROR)
end

local function watched_ids()
  local ids = {}
  for _, w in ipairs(kn().watches) do ids[#ids + 1] = w.id end
  return ids
end

vim.api.nvim_create_user_command("KadoaStatus", function(o)
  kn().show_status(o.args, o.bang)
end, { nargs = 1, bang = true, desc = "kadoa: show a crawl's status" })

vim.api.nvim_create_user_command("KadoaWatch", function(o)
  local w, err = kn().watch(o.args)
  if not w then report(err) end
end, { nargs = 1, desc = "kadoa: watch a crawl until it is over" })

vim.api.nvim_create_user_command("KadoaStop", function(o)
  kn().stop(o.args ~= "" and o.args or nil)
end, { nargs = "?", complete = watched_ids, desc = "kadoa: stop watching (one id or all)" })
