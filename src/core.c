/*
 * core.c: luaopen_kadoa_core, the client userdata and the small utilities
 * the Lua side needs from C (a real sleep, a monotonic clock).
 *
 * The client is a userdata owning one kd_config and one transfer for
 * blocking requests. It is zeroed and given its metatable before anything
 * is allocated, so __gc can always clean up whatever exists; close, __gc
 * and __close share one idempotent cleanup.
 *
 * Options arrive already validated by lua/kadoa/init.lua; the checks here
 * only keep the C side safe if it is called directly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kadoa.h"


void kd_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

void kd_new_class(lua_State *L, const char *name, lua_CFunction gc,
                  lua_CFunction close, lua_CFunction tostring,
                  const luaL_Reg *const *methods) {
  luaL_newmetatable(L, name);
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__close");
#else
  (void)close;
#endif
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  for (; *methods; methods++) {
    lua_pushvalue(L, -3);   /* the upvalue, below the metatable */
    kd_setfuncs(L, *methods, 1);
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

/* ---- process-wide libcurl set-up, exactly once ------------------------ */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- the client ------------------------------------------------------- */

kd_client *kd_check_client(lua_State *L, int i) {
  return (kd_client *)luaL_checkudata(L, i, KD_CLIENT_MT);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void free_secret(char *s) {
  if (!s) return;
  memset(s, 0, strlen(s));  /* the key should not linger in freed memory */
  free(s);
}

static void client_cleanup(kd_client *c) {
  kd_multi_cleanup(c);
  kd_xfer_free(&c->main);
  if (c->share) curl_share_cleanup(c->share);   /* after every handle using it */
  c->share = NULL;
  free_secret(c->cfg.api_key_header);
  free(c->cfg.prefix);
  free(c->cfg.user_agent_header);
  free(c->cfg.ca_file);
  kd_buf_free(&c->cfg.url);
  memset(&c->cfg, 0, sizeof c->cfg);
  c->closed = 1;
}

static void seed(uint64_t rng[2], const void *salt) {
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(rng, sizeof(uint64_t), 2, f) != 2) {
    rng[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng[1] = (uint64_t)(uintptr_t)salt ^ (uint64_t)clock();
  }
  if (f) fclose(f);
  if (!rng[0] && !rng[1]) rng[1] = 0x9e3779b97f4a7c15ULL;
}

static const char *opt_string(lua_State *L, const char *k, int required) {
  const char *s;
  lua_getfield(L, 1, k);
  s = required ? luaL_checkstring(L, -1) : luaL_optstring(L, -1, NULL);
  lua_pop(L, 1);   /* the table still holds the string */
  return s;
}

static double opt_number(lua_State *L, const char *k) {
  double d;
  lua_getfield(L, 1, k);
  d = luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return d;
}

static long to_ms(double s) {
  if (s < 0.001) return 1;
  if (s > 86400.0 * 365) return 86400L * 365 * 1000;
  return (long)(s * 1000 + 0.5);
}

/* core.new(cfg) -> client */
static int l_new(lua_State *L) {
  const char *key, *base, *ua, *ca;
  double timeout, ctimeout, max_body;
  kd_client *c;
  size_t n, keylen;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "api_key");
  key = luaL_checklstring(L, -1, &keylen);
  lua_pop(L, 1);
  base = opt_string(L, "base_url", 1);
  ua = opt_string(L, "user_agent", 1);
  ca = opt_string(L, "ca_file", 0);
  timeout = opt_number(L, "timeout");
  ctimeout = opt_number(L, "connect_timeout");
  max_body = opt_number(L, "max_body");
  if (strpbrk(key, "\r\n") || strlen(key) != keylen)
    return luaL_error(L, "api_key must not contain line breaks or NUL bytes");
  if (strpbrk(ua, "\r\n"))
    return luaL_error(L, "user_agent must not contain line breaks");
  if (max_body < 1 || max_body > 1e15)
    return luaL_error(L, "max_body out of range");

  c = (kd_client *)lua_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = 1;   /* until fully built: __gc then frees only what exists */
  luaL_getmetatable(L, KD_CLIENT_MT);
  lua_setmetatable(L, -2);

  c->cfg.timeout_ms = to_ms(timeout);
  c->cfg.connect_timeout_ms = to_ms(ctimeout);
  c->cfg.max_body = (size_t)max_body;
  seed(c->cfg.rng, c);

  n = strlen(base);
  if ((c->cfg.api_key_header = malloc(strlen(key) + sizeof "x-api-key: ")))
    sprintf(c->cfg.api_key_header, "x-api-key: %s", key);
  if ((c->cfg.prefix = malloc(n + sizeof "/v4/crawl/"))) {
    memcpy(c->cfg.prefix, base, n);
    memcpy(c->cfg.prefix + n, "/v4/crawl/", sizeof "/v4/crawl/");
    c->cfg.prefix_len = n + strlen("/v4/crawl/");
  }
  if ((c->cfg.user_agent_header = malloc(strlen(ua) + sizeof "User-Agent: ")))
    sprintf(c->cfg.user_agent_header, "User-Agent: %s", ua);
  if (ca) c->cfg.ca_file = dup_str(ca);
  /* DNS answers and TLS sessions are shared by all of the client's handles */
  if ((c->share = curl_share_init())) {
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  if (!c->cfg.api_key_header || !c->cfg.prefix || !c->cfg.user_agent_header ||
      (ca && !c->cfg.ca_file) || !c->share ||
      kd_xfer_init(&c->main, &c->cfg, c->share) != 0) {
    client_cleanup(c);
    return luaL_error(L, "kadoa: out of memory creating a client");
  }
  c->closed = 0;
  return 1;
}

int kd_usage_failure(lua_State *L, const char *msg) {
  lua_pushnil(L);
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "usage");
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  return 2;
}

long kd_opt_timeout(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return 0;
  return to_ms(luaL_checknumber(L, i));
}

/* client:fetch(id [, raw [, timeout]]) -> table | string | nil, report */
static int l_fetch(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  size_t len;
  const char *id = luaL_checklstring(L, 2, &len);
  int raw = lua_toboolean(L, 3);
  CURLcode rc;
  if (c->closed) return kd_usage_failure(L, "client is closed");
  if (len == 0) return kd_usage_failure(L, "session id is empty");
  if (len > KD_MAX_ID) return kd_usage_failure(L, "session id is longer than " KD_STR(KD_MAX_ID) " bytes");
  if (kd_xfer_prepare(&c->main, &c->cfg, id, len, kd_opt_timeout(L, 4)) != 0)
    return luaL_error(L, "kadoa: out of memory preparing a request");
  rc = curl_easy_perform(c->main.easy);
  return kd_xfer_push_result(L, &c->main, rc, raw, lua_upvalueindex(1));
}

static int l_close(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  if (!c->closed) client_cleanup(c);
  return 0;
}

static int l_closed(lua_State *L) {
  lua_pushboolean(L, kd_check_client(L, 1)->closed);
  return 1;
}

static int l_tostring(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  if (c->closed) lua_pushfstring(L, "kadoa.client (closed): %p", (void *)c);
  else lua_pushfstring(L, "kadoa.client: %p", (void *)c);
  return 1;
}

/* ---- utilities -------------------------------------------------------- */

/* core.sleep(seconds) -> true | false, "interrupted". A signal ends the
 * sleep early on purpose: it lets the interpreter's Ctrl-C handler run. */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  struct timespec ts;
  if (s > 0) {
    if (s > 1e9) s = 1e9;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    if (nanosleep(&ts, NULL) != 0 && errno == EINTR) {
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "interrupted");
      return 2;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_monotime(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* core.decode(text) -> value | nil, message: the same decoding fetch uses */
static int l_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (kd_decode(L, lua_upvalueindex(1), s, n)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

static int l_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *out = malloc(3 * n + 1);
  if (!out) return luaL_error(L, "kadoa: out of memory");
  n = kd_escape(out, s, n);
  luaL_buffinit(L, &b);   /* copy into Lua before anything can raise */
  luaL_addlstring(&b, out, n);
  free(out);
  luaL_pushresult(&b);
  return 1;
}

static int l_curl_info(lua_State *L) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, v->version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, v->ssl_version ? v->ssl_version : "none");
  lua_setfield(L, -2, "ssl");
  lua_pushstring(L, v->libz_version ? v->libz_version : "none");
  lua_setfield(L, -2, "zlib");
  lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
  lua_setfield(L, -2, "http2");
  lua_pushboolean(L, (v->features & CURL_VERSION_BROTLI) != 0);
  lua_setfield(L, -2, "brotli");
  return 1;
}

/* ---- module ----------------------------------------------------------- */

static const luaL_Reg client_methods[] = {
  {"fetch", l_fetch},
  {"close", l_close},
  {"closed", l_closed},
  {NULL, NULL}
};

static const luaL_Reg module_funcs[] = {
  {"new", l_new},
  {"sleep", l_sleep},
  {"monotime", l_monotime},
  {"decode", l_decode},
  {"escape", l_escape},
  {"curl_info", l_curl_info},
  {NULL, NULL}
};

/* Push the decode function of a private cjson instance, so settings a
 * program makes on its own cjson never change how we decode. */
static void push_decoder(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  if (lua_isfunction(L, -1)) {
    lua_call(L, 0, 1);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
  }
  lua_getfield(L, -1, "null");
  lua_setfield(L, LUA_REGISTRYINDEX, "kadoa.null");
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
}

int luaopen_kadoa_core(lua_State *L) {
  pthread_once(&global_once, global_init);
  if (global_rc != CURLE_OK)
    return luaL_error(L, "kadoa: curl_global_init failed: %s", curl_easy_strerror(global_rc));

  push_decoder(L);                       /* [dec] */

  {
    const luaL_Reg *methods[] = {client_methods, kd_multi_methods, NULL};
    kd_new_class(L, KD_CLIENT_MT, l_close, l_close, l_tostring, methods);
  }
  kd_open_multi(L);

  lua_newtable(L);                       /* [dec, M] */
  lua_pushvalue(L, -2);
  kd_setfuncs(L, module_funcs, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "kadoa.null");
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, KADOA_VERSION);
  lua_setfield(L, -2, "version");
  lua_remove(L, -2);
  return 1;
}
