/*
 * fuzz_decode.c: JSON text to Lua values (kd_decode in src/decode.c):
 * lua-cjson's parse, then the pass that drops nulls inside objects and
 * turns integral numbers into integers.
 *
 * Properties, for any bytes:
 *  - kd_decode never raises and never crashes; it succeeds exactly when
 *    plain cjson.decode does (the pass adds no failure of its own);
 *  - after it, no object (string-keyed) field holds cjson.null, while
 *    arrays keep their nulls (their length stays true);
 *  - no float with an integral value that fits an integer is left (5.3+);
 *  - every other value is what cjson gave: the pass only removes nulls
 *    and changes number subtypes.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kadoa.h"
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_null(lua_State *L, int i) {
  return lua_type(L, i) == LUA_TLIGHTUSERDATA && lua_touserdata(L, i) == NULL;
}

static int is_integral_float(lua_State *L, int i) {
  lua_Integer n;
  lua_Number d;
  if (lua_type(L, i) != LUA_TNUMBER || lua_isinteger(L, i)) return 0;
  d = lua_tonumber(L, i);
  return lua_numbertointeger(d, &n) && (lua_Number)n == d;
}

/* Compare the normalised value at `a` with cjson's raw value at `b`. */
static void same(lua_State *L, int a, int b, int depth) {
  FZ_CHECK(depth < 1100, "deeper than cjson allows");
  luaL_checkstack(L, 6, "compare");
  if (lua_type(L, b) != LUA_TTABLE) {
    if (lua_type(L, b) == LUA_TNUMBER) {
      FZ_CHECK(lua_type(L, a) == LUA_TNUMBER, "a number changed type");
      FZ_CHECK(lua_tonumber(L, a) == lua_tonumber(L, b) ||
               (isnan(lua_tonumber(L, a)) && isnan(lua_tonumber(L, b))), "a number changed value");
      FZ_CHECK(!is_integral_float(L, a), "an integral float was left as a float");
    } else {
      FZ_CHECK(lua_rawequal(L, a, b), "a value changed");
    }
    return;
  }
  FZ_CHECK(lua_type(L, a) == LUA_TTABLE, "a table changed type");
  /* every key of the raw table: present and the same, or a dropped null */
  lua_pushnil(L);
  while (lua_next(L, b)) {
    int v = lua_gettop(L), k = v - 1;
    lua_pushvalue(L, k);
    lua_rawget(L, a);
    if (lua_type(L, k) == LUA_TSTRING && is_null(L, v)) {
      FZ_CHECK(lua_isnil(L, -1), "a null inside an object was kept");
    } else {
      FZ_CHECK(!lua_isnil(L, -1), "a value went missing");
      same(L, lua_gettop(L), v, depth + 1);
    }
    lua_pop(L, 2);
  }
  /* and nothing new */
  lua_pushnil(L);
  while (lua_next(L, a)) {
    lua_pushvalue(L, -2);
    lua_rawget(L, b);
    FZ_CHECK(!lua_isnil(L, -1), "a key appeared");
    lua_pop(L, 2);
  }
}

/* kd_decode under pcall: [decoder, text] -> ok, value-or-message (cjson's
 * null, a NULL lightuserdata, is handed over as the core gets it) */
static int run_decode(lua_State *L) {
  size_t n;
  const char *s = lua_tolstring(L, 2, &n);
  int ok;
  lua_pushlightuserdata(L, NULL);
  ok = kd_decode(L, 1, 3, s, n) == 1;
  lua_remove(L, 3);
  lua_pushboolean(L, ok);
  lua_insert(L, -2);
  return 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fz_lua();
  int ok, raw_ok;
  lua_settop(L, 0);
  lua_pushcfunction(L, run_decode);                     /* 1 */
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.decoder");   /* 2 */
  lua_pushlstring(L, (const char *)data, size);         /* 3 */
  FZ_CHECK(lua_pcall(L, 2, 2, 0) == 0, "kd_decode raised an error");
  ok = lua_toboolean(L, 1);                             /* 1: ok, 2: value */
  if (!ok) FZ_CHECK(lua_type(L, 2) == LUA_TSTRING, "failure without a message");

  /* what plain cjson makes of the same text */
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.decoder");
  lua_pushlstring(L, (const char *)data, size);
  raw_ok = lua_pcall(L, 1, 1, 0) == 0;                  /* 3 */
  FZ_CHECK(ok == raw_ok, "kd_decode and cjson disagree about success");
  if (ok) same(L, 2, 3, 0);
  lua_settop(L, 0);
  /* keep the heap of a long run small and exercise the GC between inputs */
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
