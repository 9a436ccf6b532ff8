# The host suites: kadoa inside a real headless Neovim and a real nginx
# with the Lua module, each against the mock server, on the LuaJIT build.
#
#   make test-nvim    Neovim (Debian: neovim), twice: with lua-cjson, and
#                     with none found (vim.json stands in); then the help
#                     file (test-nvim-help: every tag of doc/kadoa.txt opens)
#   make test-nginx   nginx-extras (lua-nginx-module), driven from busted on
#                     LuaJIT with LuaSocket (lua-socket); openssl for certs;
#                     then examples/dashboard, with headless chromium when
#                     installed (pending otherwise)
#   make test-hosts   both
#
# NVIM and NGINX (KADOA_NGINX) name other binaries; a non-Debian layout
# sets KADOA_NGINX_MODULES to the folder holding ngx_http_lua_module.so.

NVIM      ?= nvim
NVIM_TEST  = $(NVIM) --headless -u NONE -i NONE -n -c 'luafile spec/hosts/run_nvim.lua'

.PHONY: test-hosts test-nvim test-nvim-help test-nginx

test-hosts: test-nvim test-nginx

test-nvim:
	@$(MAKE) --no-print-directory build LUA=luajit
	@echo "== neovim ($$($(NVIM) --version | head -1))"
	@$(NVIM_TEST)
	@echo "== neovim, without lua-cjson"
	@KADOA_NVIM_NO_CJSON=1 $(NVIM_TEST)
	@$(MAKE) --no-print-directory test-nvim-help

# doc/kadoa.txt: :helptags on a temporary copy, :help of every tag it
# declares, a tag for every :Kadoa* command (spec/hosts/help_test.lua).
test-nvim-help:
	@echo "== neovim, :help kadoa"
	@$(NVIM) --headless -u NONE -i NONE -n -c 'luafile spec/hosts/help_test.lua'

test-nginx:
	@$(MAKE) --no-print-directory build LUA=luajit
	@echo "== nginx ($$($${KADOA_NGINX:-nginx} -v 2>&1))"
	@$(BUSTED) --lua=luajit --cpath='build/luajit/?.so' spec/hosts/nginx_test.lua
	@echo "== the dashboard example"
	@$(BUSTED) --lua=luajit --cpath='build/luajit/?.so' spec/hosts/dashboard_test.lua
