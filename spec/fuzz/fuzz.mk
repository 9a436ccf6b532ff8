# spec/fuzz/fuzz.mk: fuzzing, sanitizers and the soak run (included by the
# Makefile; see doc/HACKING.md and SECURITY.md).
#
#   make fuzz             every libFuzzer target for FUZZ_SECONDS (10) each
#   make fuzz-ci          the same for 60 s each (what CI runs)
#   make fuzz-corpus      merge what the runs found into the committed corpus
#   make asan             the module and a Lua 5.4 host built with ASan+UBSan,
#                         the whole busted suite run under them
#   make soak             200,000 status calls; RSS must stay flat
#
# Fuzz targets are spec/fuzz/fuzz_<name>.c; their seed corpus is
# spec/fuzz/corpus/<name>/ and their dictionary spec/fuzz/<name>.dict.
# Everything built or found goes under build/ (never into the tree).

FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 10
FUZZ_TARGETS   = escape headers decode response sink
FUZZ_OUT       = build/fuzz
FUZZ_SAN       = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS    = -g -O1 $(CSTD) $(WARN) -fsanitize=fuzzer $(FUZZ_SAN) -Isrc -Ispec/fuzz \
                 $$(pkg-config --cflags lua5.4 libcurl) -DKADOA_LUA_DIR='"$(CURDIR)/lua"'
# lua-cjson linked statically: the fuzz binaries need no module search path
FUZZ_LIBS      = -l:liblua5.4-cjson.a $$(pkg-config --libs lua5.4 libcurl) -lm
FUZZ_BINS      = $(addprefix $(FUZZ_OUT)/fuzz_,$(FUZZ_TARGETS))

ASAN_LUA      ?= lua5.4
ASAN_BUILD     = build/asan-$(ASAN_LUA)
# The interpreter is our own small host built with the sanitizers (see
# spec/fuzz/asan_lua.c), in $(ASAN_BUILD)/bin first on PATH so specs that
# start a fresh interpreter get the sanitized one too. The helper processes
# specs start (python3, curl, nginx, sh) run as they are. Leaks are checked.
ASAN_ENV       = ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1 \
                 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: fuzz fuzz-ci fuzz-build fuzz-corpus asan soak

fuzz-build: $(FUZZ_BINS)

$(FUZZ_OUT)/fuzz_%: spec/fuzz/fuzz_%.c spec/fuzz/fuzz_check.h spec/fuzz/fuzz_lua.h $(SRC) $(HDR)
	@mkdir -p $(FUZZ_OUT)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< src/escape.c src/decode.c src/route.c src/sink.c \
	  src/outcome.c src/rand.c $(FUZZ_LIBS)

# Each target runs from the committed corpus plus what earlier runs found
# (build/fuzz/corpus); any crash, leak, sanitizer report or failed
# property stops the run and leaves the input in build/fuzz/artifacts.
fuzz: $(FUZZ_BINS)
	@set -e; mkdir -p $(FUZZ_OUT)/artifacts; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_OUT)/corpus/$$t; \
	  dict=""; [ -f spec/fuzz/$$t.dict ] && dict="-dict=spec/fuzz/$$t.dict"; \
	  if ! $(FUZZ_OUT)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	      -print_final_stats=1 -artifact_prefix=$(FUZZ_OUT)/artifacts/$$t- $$dict \
	      $(FUZZ_OUT)/corpus/$$t spec/fuzz/corpus/$$t >$(FUZZ_OUT)/$$t.log 2>&1; then \
	    tail -60 $(FUZZ_OUT)/$$t.log; echo "fuzz $$t: FAILED (input in $(FUZZ_OUT)/artifacts)"; exit 1; \
	  fi; \
	  printf 'fuzz %-9s ok: %s runs in %s s, corpus %s inputs\n' $$t \
	    "$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_OUT)/$$t.log)" $(FUZZ_SECONDS) \
	    "$$(find $(FUZZ_OUT)/corpus/$$t spec/fuzz/corpus/$$t -type f | wc -l)"; \
	done

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60

fuzz-corpus: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_OUT)/corpus/$$t; \
	  $(FUZZ_OUT)/fuzz_$$t -merge=1 spec/fuzz/corpus/$$t $(FUZZ_OUT)/corpus/$$t 2>&1 | tail -1; \
	done

$(ASAN_BUILD)/kadoa/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) -g -O1 $(WARN) $(FUZZ_SAN) -fPIC -shared -fvisibility=hidden \
	  $$(pkg-config --cflags $(ASAN_LUA)) -o $@ $(SRC) $$(pkg-config --libs libcurl) -lpthread

$(ASAN_BUILD)/bin/$(ASAN_LUA): spec/fuzz/asan_lua.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) -g -O1 $(WARN) $(FUZZ_SAN) $$(pkg-config --cflags $(ASAN_LUA)) \
	  -o $@ $< $$(pkg-config --libs $(ASAN_LUA)) -lm -ldl

asan: deps $(ASAN_BUILD)/kadoa/core.so $(ASAN_BUILD)/bin/$(ASAN_LUA)
	$(ASAN_ENV) KADOA_ASAN=1 PATH="$(CURDIR)/$(ASAN_BUILD)/bin:$$PATH" \
	  $(ASAN_BUILD)/bin/$(ASAN_LUA) $$(command -v $(BUSTED)) \
	  --lpath='$(LUA_PATH_DEV)' --cpath="$(ASAN_BUILD)/?.so" spec

soak: deps
	@$(MAKE) --no-print-directory build LUA=lua5.4
	LUA_PATH='$(LUA_PATH_DEV)' LUA_CPATH='build/lua5.4/?.so;;' lua5.4 spec/fuzz/soak.lua
