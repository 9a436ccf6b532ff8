# make bench: speed side by side (see bench/run.lua and bench/RESULTS.md).
# Not part of make test: it measures, it does not pass or fail.
#
#   make bench                 about three to four minutes
#   make bench BENCH_ROUNDS=3  fewer rounds

BENCH_ROUNDS ?= 5

.PHONY: bench

bench/out/floor: bench/floor.c
	@mkdir -p bench/out
	$(CC) $(CSTD) -O2 $(WARN) -o $@ bench/floor.c $$(pkg-config --cflags --libs libcurl)

bench: deps
	@bench/deps
	@$(MAKE) --no-print-directory build LUA="lua5.4 luajit"
	@$(MAKE) --no-print-directory bench/out/floor
	BENCH_ROUNDS=$(BENCH_ROUNDS) lua5.4 bench/run.lua

# make bench-top: one fleet refresh of 200 running sessions (status_many at
# 16) and the CPU share of an idle `kadoa top --json` (bench/top.lua)
.PHONY: bench-top
bench-top:
	@$(MAKE) --no-print-directory build LUA="lua5.4"
	lua5.4 bench/top.lua
