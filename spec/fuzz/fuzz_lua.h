/*
 * fuzz_lua.h: what the harnesses that need Lua share: one Lua 5.4 state
 * for the whole run, with lua-cjson linked in statically (the module under
 * test never links liblua; only these fuzz binaries do), and a way to fail
 * loudly. Included by exactly one .c file per binary.
 */
#ifndef KADOA_FUZZ_LUA_H
#define KADOA_FUZZ_LUA_H

#include "fuzz_check.h"
#include "lua.h"
#include "lualib.h"
#include "lauxlib.h"

int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

static lua_State *fz_L;

/* A state with the standard libraries and cjson / cjson.safe preloadable,
 * made once; the decoder (a private cjson instance's decode, as core.c
 * makes it) is left in the registry under "fuzz.decoder". */
static lua_State *fz_lua(void) {
  lua_State *L;
  if (fz_L) return fz_L;
  L = fz_L = luaL_newstate();
  FZ_CHECK(L != NULL, "luaL_newstate");
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pushcfunction(L, luaopen_cjson_safe);
  lua_setfield(L, -2, "cjson.safe");
  lua_pop(L, 2);
  FZ_CHECK(luaL_dostring(L, "local cjson = require('cjson').new()\n"
                            "return cjson.decode") == 0, "cjson");
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.decoder");
  return L;
}

#endif
