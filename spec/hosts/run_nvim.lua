-- Run spec/hosts/nvim_test.lua inside Neovim so that any error, even one
-- before its first test, ends Neovim with a non-zero status instead of
-- leaving a headless editor waiting forever.
local ok, err = xpcall(dofile, debug.traceback, "spec/hosts/nvim_test.lua")
if not ok then
  io.stderr:write("nvim_test: ", tostring(err), "\n")
  vim.cmd("cquit 2")
end
