# kadoa: build, test and demo.
#
#   make test            build and run the suite on every supported Lua
#   make test LUA=lua5.1 one Lua only (lua5.4 lua5.3 lua5.1 luajit)
#   make demo            the client against the bundled mock server
#
# Each Lua gets its own build folder: a module built for one version may
# load in another and misbehave.

SHELL   := /bin/bash
LUAS    ?= lua5.4 lua5.3 lua5.1 luajit
LUA     ?= $(LUAS)
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -pedantic -Wshadow -Wpointer-arith -Wcast-qual \
           -Wstrict-prototypes -Wmissing-prototypes -Wconversion -Wno-sign-conversion
CSTD     = -std=c99 -D_POSIX_C_SOURCE=200809L
SRC      = src/core.c src/route.c src/transfer.c src/outcome.c src/sink.c src/multi.c src/rand.c src/decode.c src/escape.c src/term.c
HDR      = src/kadoa.h
BUSTED  ?= busted
DEPS     = .ci/deps

LUA_PATH_DEV = lua/?.lua;lua/?/init.lua;;

.PHONY: all build test demo valgrind lint clean rock rock-core deps

all: build

# Each target asks .ci/deps for its own group only (make deps: all of them).
deps:
	@$(DEPS) all

build: $(foreach v,$(LUA),build/$(v)/kadoa/core.so)

build/%/kadoa/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) -fPIC -shared -fvisibility=hidden $$(pkg-config --cflags $*) \
	  -o $@ $(SRC) $$(pkg-config --libs libcurl) -lpthread

# The rock's build step (kadoa-scm-1.rockspec, build type "make"): the
# same C standard, warnings and visibility as `make build`, so a rock is
# the library the suite tested. LuaRocks passes CC, CFLAGS (its -O2 -fPIC),
# LIBFLAG (-shared), LUA_INCDIR, and CURL_INCDIR/CURL_LIBDIR (/usr/include
# and the multiarch lib dir by default on Debian; the compiler finds the
# multiarch curl/curl.h by itself; elsewhere pass CURL_INCDIR=... to
# luarocks). The rockspec installs the result; there is no install step.
ROCK_SO = build/rock/kadoa/core.so
rock-core:
	@mkdir -p $(dir $(ROCK_SO))
	$(CC) $(CSTD) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -I$(LUA_INCDIR) -I$(CURL_INCDIR) \
	  $(LIBFLAG) -o $(ROCK_SO) $(SRC) -L$(CURL_LIBDIR) -lcurl -lpthread

# luarocks make into a throw-away tree and load the installed rock (.ci/rock).
rock:
	@.ci/rock

# One busted run per Lua, then (with LuaJIT) the suites inside a real
# Neovim and a real nginx. The last line sums up every run for CI:
# "total: N passed, N failed". The specs' pauses leave their marks
# (kadoa.marks) under build/, not in the user's own state folder.
test:
	@$(DEPS) test
	@$(MAKE) --no-print-directory build LUA="$(LUA)"
	@rm -rf build/log; mkdir -p build/log; export XDG_STATE_HOME="$(CURDIR)/build/state"; \
	for v in $(LUA); do \
	  echo "== $$v"; \
	  $(BUSTED) --lua=$$v --cpath="build/$$v/?.so" spec 2>&1 | tee build/log/$$v.log; \
	done; \
	if [[ " $(LUA) " == *" luajit "* ]]; then \
	  $(MAKE) --no-print-directory test-nvim 2>&1 | tee build/log/nvim.log; \
	  $(MAKE) --no-print-directory test-nginx 2>&1 | tee build/log/nginx.log; \
	fi; \
	.ci/summary build/log/*.log | tee build/summary.txt; exit $${PIPESTATUS[0]}

demo:
	@$(DEPS) demo
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@LUA_PATH='$(LUA_PATH_DEV)' LUA_CPATH='build/lua5.4/?.so;;' lua5.4 examples/demo.lua

# The whole suite under valgrind on Lua 5.4: no errors, nothing lost.
valgrind: deps
	@$(MAKE) --no-print-directory build LUA=lua5.4
	KADOA_VALGRIND=1 valgrind --error-exitcode=3 --leak-check=full \
	  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	  --suppressions=spec/valgrind.supp --quiet \
	  lua5.4 $$(command -v busted) --cpath="build/lua5.4/?.so" spec

# luacheck, then the private-fields rule (spec/lint/private_fields.lua, a
# plain Lua 5.4 script): no module reads or writes another's _-prefixed
# fields, which luacheck cannot see. It lists file:line and fails (the
# bench's scripts are outside the rule's own tree, so they are named).
# Then the annotations rule (spec/lint/annotations.lua): every public
# function has its LuaCATS ---@param/---@return, and every call of
# kadoa.api an entry in types/kadoa.lua, so editors know the whole API.
lint:
	luacheck --no-color lua spec examples bench types completions/gen.lua .ci/luarocks-test.lua $(wildcard bin/* plugin)
	lua5.4 spec/lint/private_fields.lua
	lua5.4 spec/lint/private_fields.lua bench/*.lua
	lua5.4 spec/lint/annotations.lua

clean:
	rm -rf build kadoa src/*.o

# Each area keeps its own targets (see doc/HACKING.md).
-include bench/bench.mk spec/fuzz/fuzz.mk spec/hosts/hosts.mk spec/contract/contract.mk install.mk
