-- kadoa: the Neovim commands (`:help kadoa-commands`); what they do is
-- kadoa.nvim.commands', loaded when one is first used. Ids complete from the watches.

if vim.g.loaded_kadoa then return end
vim.g.loaded_kadoa = 1

local function cmds() return require("kadoa.nvim.commands") end
local function ids(lead) return cmds().watched_ids(lead) end

vim.api.nvim_create_user_command("KadoaStatus", function(o) cmds().show_status(o.args, o.bang) end,
  { nargs = 1, bang = true, complete = ids, desc = "kadoa: show a crawl's status" })
vim.api.nvim_create_user_command("KadoaWatch", function(o) cmds().watch(o.args) end,
  { nargs = 1, desc = "kadoa: watch a crawl until it is over" })
vim.api.nvim_create_user_command("KadoaStop", function(o) cmds().stop(o.args) end,
  { nargs = "?", complete = ids, desc = "kadoa: stop watching (one id or all)" })
vim.api.nvim_create_user_command("KadoaCrawl", function(o) cmds().crawl(o.args) end,
  { nargs = 1, desc = "kadoa: start a crawl and watch it" })
vim.api.nvim_create_user_command("KadoaPages", function(o) cmds().pages(o.args) end,
  { nargs = 1, complete = ids, desc = "kadoa: list a crawl's pages" })
vim.api.nvim_create_user_command("KadoaSessions", function() cmds().sessions() end,
  { nargs = 0, desc = "kadoa: list your crawl sessions" })
vim.api.nvim_create_user_command("KadoaTop", function(o) cmds().top(o.args) end,
  { nargs = "*", desc = "kadoa: every crawl, live (p pause, r resume, <CR> pages)" })
