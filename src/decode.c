/*
 * decode.c: JSON text to Lua values with the decoder handed in, then one
 * pass: a null in an object is an absent key (so `if res.error` means what
 * it says), in an array the decoder's null (the length stays true); on Lua
 * 5.3+ an integral number is an integer (14 pages, not 14.0).
 */
#include "kadoa.h"

/* If the number at the top is a float with an integral value that fits,
 * leave its integer in its place and return 1 (Lua 5.3+). */
static int to_integer(lua_State *L) {
#if LUA_VERSION_NUM >= 503
  lua_Number d = lua_tonumber(L, -1);
  lua_Integer i;
  if (lua_isinteger(L, -1) || !lua_numbertointeger(d, &i) || (lua_Number)i != d) return 0;
  lua_pop(L, 1);
  lua_pushinteger(L, i);
  return 1;
#else
  (void)L;
  return 0;
#endif
}

/* The table at the top, in place: object keys are strings, array keys
 * integers. cjson's depth bound (1000) bounds the recursion. */
static void normalise(lua_State *L, int null) {
  int t = lua_gettop(L);
  luaL_checkstack(L, 4, "JSON nested too deep");
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int type = lua_type(L, -1);
    if (type == LUA_TTABLE) {
      normalise(L, null);
      lua_pop(L, 1);
    } else if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, null)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, t);
    } else if (type == LUA_TNUMBER && to_integer(L)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, t);
    } else {
      lua_pop(L, 1);
    }
  }
}

int kd_decode(lua_State *L, int dec, int null, const char *s, size_t n) {
  int rc;
  lua_pushvalue(L, dec);
  lua_pushlstring(L, s, n);
  rc = lua_pcall(L, 1, 1, 0);
  if (rc != 0) {
    if (!lua_isstring(L, -1)) {
      lua_pop(L, 1);
      lua_pushliteral(L, "JSON decoder failed");
    }
    /* running out of memory is not bad JSON: the caller must say so */
    return rc == LUA_ERRMEM ? -1 : 0;
  }
  if (lua_type(L, -1) == LUA_TTABLE) normalise(L, null);
  else if (lua_type(L, -1) == LUA_TNUMBER) to_integer(L);
  return 1;
}
