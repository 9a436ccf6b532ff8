# make bench: speed side by side (see bench/run.lua and bench/RESULTS.md).
# Not part of make test: it measures, it does not pass or fail.
#
#   make bench                 about four minutes (table 4 exports 1 GB through the Python mock)
#   make bench BENCH_ROUNDS=3  fewer rounds
#   make bench BENCH_BASELINE=<commit>   the "before" rows of table 1 on another commit

BENCH_ROUNDS ?= 5
# The last commit before the request engine: table 1's "before" rows run
# the same client row on it, so "no slower than before" is measured in the
# same run as the new code, side by side.
BENCH_BASELINE ?= e818612
BEFORE = bench/out/before

.PHONY: bench bench-before

bench/out/floor: bench/floor.c
	@mkdir -p bench/out
	$(CC) $(CSTD) -O2 $(WARN) -o $@ bench/floor.c $$(pkg-config --cflags --libs libcurl)

# The baseline's lua/ and src/ from git, its core built for lua5.4 and
# luajit with the Makefile's flags into $(BEFORE)/build/<lua>/kadoa/core.so.
# Kept while BENCH_BASELINE names the same commit. Without the history (an
# archive, a shallow clone) or when the build fails, it writes the reason
# to $(BEFORE)/UNAVAILABLE and succeeds: bench/run.lua then leaves the rows
# out with that note instead of failing the whole bench.
bench-before:
	@set -o pipefail; rev=$$(git rev-parse -q --verify '$(BENCH_BASELINE)^{commit}' 2>/dev/null); \
	if [ -n "$$rev" ] && [ "$$(cat $(BEFORE)/COMMIT 2>/dev/null)" = "$$rev" ] \
	  && [ -f $(BEFORE)/build/lua5.4/kadoa/core.so ] && [ -f $(BEFORE)/build/luajit/kadoa/core.so ]; then \
	  exit 0; \
	fi; \
	rm -rf $(BEFORE); mkdir -p $(BEFORE); \
	if [ -z "$$rev" ]; then \
	  echo "$(BENCH_BASELINE) is not a commit of this clone (no git history?)" >$(BEFORE)/UNAVAILABLE; \
	elif ! git archive $(BENCH_BASELINE) lua src 2>$(BEFORE)/archive.log | tar -x -C $(BEFORE); then \
	  echo "git archive $(BENCH_BASELINE) failed: $$(tail -c 200 $(BEFORE)/archive.log)" \
	    | tr '\n' ' ' >$(BEFORE)/UNAVAILABLE; \
	fi; \
	if [ -f $(BEFORE)/UNAVAILABLE ]; then \
	  echo "bench: the before rows are left out: $$(cat $(BEFORE)/UNAVAILABLE)"; exit 0; \
	fi; \
	for v in lua5.4 luajit; do \
	  mkdir -p $(BEFORE)/build/$$v/kadoa; \
	  $(CC) $(CSTD) $(CFLAGS) $(WARN) -fPIC -shared -fvisibility=hidden $$(pkg-config --cflags $$v) \
	    -o $(BEFORE)/build/$$v/kadoa/core.so $(BEFORE)/src/*.c $$(pkg-config --libs libcurl) -lpthread \
	    2>$(BEFORE)/build-$$v.log \
	  || { echo "the core of $(BENCH_BASELINE) did not build for $$v: $$(tail -c 200 $(BEFORE)/build-$$v.log)" \
	         | tr '\n' ' ' >$(BEFORE)/UNAVAILABLE; \
	       echo "bench: the before rows are left out: $$(cat $(BEFORE)/UNAVAILABLE)"; exit 0; }; \
	done; \
	echo "$$rev" >$(BEFORE)/COMMIT; \
	echo "bench: baseline $(BENCH_BASELINE) ($$rev) built in $(BEFORE)"

bench: deps
	@bench/deps
	@$(MAKE) --no-print-directory build LUA="lua5.4 luajit"
	@$(MAKE) --no-print-directory bench/out/floor
	@$(MAKE) --no-print-directory bench-before
	BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_BASELINE=$(BENCH_BASELINE) lua5.4 bench/run.lua
	lua5.4 bench/cold.lua
	@$(MAKE) --no-print-directory bench-loops

# make bench-cold: `kadoa status ID` from a cold start beside curl making the
# same request, hyperfine side by side (bench/cold.lua); its table goes into
# bench/RESULTS.md between the bench:cold markers. BENCH_COLD_ROUNDS=10, BENCH_COLD_RUNS=20.
.PHONY: bench-cold
bench-cold:
	@bench/deps
	@$(MAKE) --no-print-directory build LUA="lua5.4 luajit"
	lua5.4 bench/cold.lua

# make bench-top: one fleet refresh of 200 running sessions (status_many at
# 16) and the CPU share of an idle `kadoa top --json` (bench/top.lua)
.PHONY: bench-top
bench-top:
	@$(MAKE) --no-print-directory build LUA="lua5.4"
	lua5.4 bench/top.lua

# make bench-follow: export with follow = true while a crawl runs (issue 17):
# 1,000 pages at 40 a second, 150 ms per page's content (bench/follow.lua)
.PHONY: bench-follow
bench-follow:
	@$(MAKE) --no-print-directory build LUA="lua5.4"
	LUA_CPATH='build/lua5.4/?.so;;' lua5.4 bench/follow.lua

# make bench-loops: a request in flight in Neovim, luv and cqueues, before
# (a timer stepping the driver) and after (socket events), and 1,000 calls
# 100 at once on luv and cqueues beside status_many (bench/loops.lua); also
# run by make bench. Rewrites the bench:loops block of bench/RESULTS.md.
.PHONY: bench-loops
bench-loops:
	@$(MAKE) --no-print-directory build LUA="lua5.4 luajit"
	LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/lua5.4/?.so;;' lua5.4 bench/loops.lua
