# install.mk: `make install` and `make uninstall`, as packagers expect,
# and `make completions` (the shell completions and the man page again
# from lua/kadoa/cli/spec.lua). Included by the Makefile.
#
#   make install                          Lua 5.4, into /usr/local
#   make install LUA=luajit PREFIX=/usr DESTDIR=/tmp/pkg
#   make uninstall                        the same variables as install
#
# One Lua per invocation: the C core is built for one interpreter, and the
# command's first line names it. Lua modules go to share/lua/VER, the core
# to lib/lua/VER/kadoa/core.so (Lua's default paths under PREFIX), the
# command to bin, the man page to share/man/man1, the completions where
# bash-completion, zsh and fish look for a package's own. What was
# installed is listed in PREFIX/share/kadoa/manifest-VER, relative to
# PREFIX; uninstall removes exactly those files (and our own folders once
# empty), not what a newer tree would have installed.

PREFIX  ?= /usr/local
DESTDIR ?=

# LUA is the whole list unless it was given: then install for Lua 5.4.
KD_LUA    := $(if $(filter file default,$(origin LUA)),lua5.4,$(LUA))
KD_LUAVER  = $(if $(filter luajit,$(KD_LUA)),5.1,$(patsubst lua%,%,$(KD_LUA)))
KD_ROOT    = $(DESTDIR)$(PREFIX)
KD_MANIFEST = share/kadoa/manifest-$(KD_LUAVER)

# source=destination pairs, the destination relative to PREFIX.
KD_FILES = $(foreach f,$(sort $(shell find lua/kadoa -name '*.lua')),$(f)=share/lua/$(KD_LUAVER)/$(f:lua/%=%)) \
  build/$(KD_LUA)/kadoa/core.so=lib/lua/$(KD_LUAVER)/kadoa/core.so \
  bin/kadoa=bin/kadoa \
  doc/kadoa.1=share/man/man1/kadoa.1 \
  completions/kadoa.bash=share/bash-completion/completions/kadoa \
  completions/_kadoa=share/zsh/site-functions/_kadoa \
  completions/kadoa.fish=share/fish/vendor_completions.d/kadoa.fish \
  $(if $(wildcard doc/kadoa.txt),doc/kadoa.txt=share/nvim/site/doc/kadoa.txt)

.PHONY: install uninstall completions install-check-lua

install-check-lua:
	@[ $(words $(KD_LUA)) = 1 ] || { echo "make install: one Lua at a time (LUA=lua5.4, lua5.3, lua5.1 or luajit)" >&2; exit 2; }

# The command's first line names the interpreter the core was built for,
# so `kadoa` never starts under a Lua that cannot load it.
install: install-check-lua
	@$(MAKE) --no-print-directory build LUA=$(KD_LUA)
	@set -e; root='$(KD_ROOT)'; list=$$(mktemp); trap 'rm -f "$$list"' EXIT; \
	for pair in $(KD_FILES); do \
	  src=$${pair%%=*}; dst=$${pair#*=}; mode=644; \
	  case $$dst in bin/*|*.so) mode=755;; esac; \
	  install -d "$$root/$${dst%/*}"; \
	  install -m $$mode "$$src" "$$root/$$dst"; \
	  echo "$$dst" >> "$$list"; \
	done; \
	sed -i '1s|.*|#!/usr/bin/env $(KD_LUA)|' "$$root/bin/kadoa"; \
	echo '$(KD_MANIFEST)' >> "$$list"; \
	install -d "$$root/$(dir $(KD_MANIFEST))"; install -m 644 "$$list" "$$root/$(KD_MANIFEST)"; \
	echo "installed kadoa for $(KD_LUA) into $$root ($$(wc -l < "$$list") files, listed in $(KD_MANIFEST))"

# Folders are removed only when empty and only our own (a kadoa in their
# path): share/man/man1 and the like belong to everyone.
uninstall: install-check-lua
	@set -e; root='$(KD_ROOT)'; manifest="$$root/$(KD_MANIFEST)"; \
	[ -f "$$manifest" ] || { echo "make uninstall: no $$manifest (nothing installed there for Lua $(KD_LUAVER))" >&2; exit 1; }; \
	files=$$(cat "$$manifest"); \
	for f in $$files; do rm -f "$$root/$$f"; done; \
	for f in $$files; do \
	  d=$${f%/*}; \
	  while [ "$$d" != "$$f" ] && [ -n "$$d" ]; do \
	    case "/$$d" in */kadoa|*/kadoa/*) rmdir "$$root/$$d" 2>/dev/null || break;; *) break;; esac; \
	    case $$d in */*) d=$${d%/*};; *) d=;; esac; \
	  done; \
	done; \
	echo "removed kadoa for Lua $(KD_LUAVER) from $$root"

completions:
	lua5.4 completions/gen.lua write
