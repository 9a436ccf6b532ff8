-- kadoa: Neovim commands. Nothing is loaded until a command is used.
--
--   :KadoaStatus {id}    the crawl's status (! for the long form)
--   :KadoaWatch {id}     poll until the crawl is over, with an updating
--                        notification and require("kadoa.nvim").statusline()
--   :KadoaStop [id]      stop one watch, or all of them
--
-- What they do is kadoa.nvim.commands'.

if vim.g.loaded_kadoa then return end
vim.g.loaded_kadoa = 1

local function cmds() return require("kadoa.nvim.commands") end

vim.api.nvim_create_user_command("KadoaStatus", function(o)
  cmds().show_status(o.args, o.bang)
end, { nargs = 1, bang = true, desc = "kadoa: show a crawl's status" })

vim.api.nvim_create_user_command("KadoaWatch", function(o)
  cmds().watch(o.args)
end, { nargs = 1, desc = "kadoa: watch a crawl until it is over" })

vim.api.nvim_create_user_command("KadoaStop", function(o)
  cmds().stop(o.args)
end, { nargs = "?", complete = function() return cmds().watched_ids() end,
       desc = "kadoa: stop watching (one id or all)" })
