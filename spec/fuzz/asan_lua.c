/*
 * asan_lua.c: a minimal Lua 5.x interpreter for `make asan`, built with
 * AddressSanitizer and UBSan so the sanitizer runtime is part of the
 * executable and the instrumented kadoa/core.so can be loaded into it.
 *
 * Why not LD_PRELOAD the runtime into the system lua5.4: every process the
 * specs start inherits LD_PRELOAD, and the mock server (python3) and curl
 * hung under it. With this host only the interpreter is instrumented.
 *
 *   asan_lua script.lua [args...]     like `lua script.lua args...`
 *   asan_lua -e 'chunk' script.lua    the one option spec helpers use
 *
 * Errors print with a traceback and exit 1; os.exit works as usual. Like
 * lua.c, Ctrl-C (SIGINT) while a chunk runs becomes an "interrupted!"
 * error raised from a debug hook (a second one kills the process).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lualib.h"
#include "lauxlib.h"

static lua_State *L;   /* reachable to the end: the leak checker should not blame it */

static void stop_hook(lua_State *S, lua_Debug *ar) {
  (void)ar;
  lua_sethook(S, NULL, 0, 0);
  luaL_error(S, "interrupted!");
}

/* Only lua_sethook is safe here, which is why lua.c does the same. */
static void on_sigint(int sig) {
  signal(sig, SIG_DFL);
  lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int traceback(lua_State *S) {
  const char *msg = lua_tostring(S, 1);
  luaL_traceback(S, S, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

static int run(int status) {
  if (status != 0) {
    fprintf(stderr, "asan_lua: %s\n", lua_tostring(L, -1));
    return 1;
  }
  return 0;
}

static int docall(int nargs) {
  int base = lua_gettop(L) - nargs, status;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  signal(SIGINT, on_sigint);
  status = lua_pcall(L, nargs, 0, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return run(status);
}

int main(int argc, char **argv) {
  int i = 1, script, n;
  L = luaL_newstate();
  if (!L) return 1;
  luaL_openlibs(L);
  while (i + 1 < argc && strcmp(argv[i], "-e") == 0) {
    if (run(luaL_loadstring(L, argv[i + 1])) || docall(0)) return 1;
    i += 2;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: %s [-e chunk] script [args]\n", argv[0]);
    return 1;
  }
  script = i;
  lua_createtable(L, argc - script, script + 1);   /* arg, as lua.c builds it */
  for (n = 0; n < argc; n++) {
    lua_pushstring(L, argv[n]);
    lua_rawseti(L, -2, n - script);
  }
  lua_setglobal(L, "arg");
  if (run(luaL_loadfile(L, argv[script]))) return 1;
  luaL_checkstack(L, argc - script, "too many arguments");
  for (n = script + 1; n < argc; n++) lua_pushstring(L, argv[n]);
  n = docall(argc - script - 1);
  lua_close(L);
  L = NULL;
  return n;
}
