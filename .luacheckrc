-- luacheck configuration: the library must run on 5.1 to 5.4 and LuaJIT.
std = "max"
max_line_length = 110
-- what make bench builds: a copy of an older tree (make bench-before)
exclude_files = { "bench/out/**" }
files["spec/"] = { std = "max+busted" }
files["lua/kadoa/nvim/"] = { globals = { "vim" } }
files["lua/kadoa/health.lua"] = { globals = { "vim" } }
files["plugin/"] = { globals = { "vim" } }
files["lua/kadoa/resty/"] = { globals = { "ngx" } }
files["spec/hosts/nvim_test.lua"] = { globals = { "vim" } }
files["spec/hosts/run_nvim.lua"] = { globals = { "vim" } }
files["spec/hosts/help_test.lua"] = { globals = { "vim" } }
-- definition files (---@meta): stubs whose arguments and tables exist only
-- for the language server to read
files["types/"] = { ignore = { "212", "241" } }
