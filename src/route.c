/*
 * route.c: the URL of one API call. A route (core.route("GET",
 * "/v4/crawl/{session id}")) is made once per call of the API; each segment
 * value is percent-encoded as exactly one segment, the query too, so an id
 * can never add a segment, a query or a dot segment. libcurl and OpenResty
 * (client:path) send byte for byte the same request line.
 */
#include <stdio.h>
#include <string.h>

#include "kadoa.h"

static kd_route *check_route(lua_State *L, int i) {
  return (kd_route *)luaL_checkudata(L, i, KD_ROUTE_MT);
}

static const char *const methods[] = {"GET", "POST", "DELETE", NULL};

int kd_route_new(lua_State *L) {
  int method = luaL_checkoption(L, 1, NULL, methods);
  size_t n, i;
  const char *t = luaL_checklstring(L, 2, &n);
  kd_route *r;
  char *o;
  int k = 0;
  if (n == 0 || t[0] != '/') return luaL_argerror(L, 2, "a path starting with '/'");
  r = (kd_route *)lua_newuserdata(L, sizeof *r + 2 * n + 9);   /* pieces, then tostring's */
  memset(r, 0, sizeof *r);
  r->method = method;
  o = r->text;
  r->lit[0] = o;
  for (i = 0; i < n; i++) {
    if (t[i] == '{') {
      const char *end = memchr(t + i, '}', n - i);
      if (!end || end == t + i + 1) return luaL_argerror(L, 2, "a '{' without its name and '}'");
      if (k == KD_MAX_SEGS) return luaL_argerror(L, 2, "too many segments");
      r->litlen[k] = (size_t)(o - r->lit[k]);
      *o++ = '\0';
      r->name[k] = o;
      memcpy(o, t + i + 1, (size_t)(end - t - i - 1));
      o += end - t - i - 1;
      *o++ = '\0';
      k++;
      r->lit[k] = o;
      i = (size_t)(end - t);
    } else {
      *o++ = t[i];
    }
  }
  r->litlen[k] = (size_t)(o - r->lit[k]);
  *o = '\0';
  r->nsegs = k;
  r->whole = o + 1;
  sprintf(r->whole, "%s %s", methods[method], t);
  luaL_getmetatable(L, KD_ROUTE_MT);
  lua_setmetatable(L, -2);
  return 1;
}

int kd_route_tostring(lua_State *L) {
  lua_pushstring(L, check_route(L, 1)->whole);
  return 1;
}

long kd_ms(double s) {
  if (s < 0.001) return 1;
  if (s > 86400.0 * 365) return 86400L * 365 * 1000;
  return (long)(s * 1000 + 0.5);
}

const char *kd_read_call(lua_State *L, int i, kd_call *call) {
  int k;
  memset(call, 0, sizeof *call);
  call->route = check_route(L, i);
  if (!lua_isnoneornil(L, i + 1)) call->timeout_ms = kd_ms(luaL_checknumber(L, i + 1));
  if (!lua_isnoneornil(L, i + 2)) {
    int x = i + 2;
    luaL_checktype(L, x, LUA_TTABLE);
    lua_getfield(L, x, "raw");
    call->raw = lua_toboolean(L, -1);
    lua_getfield(L, x, "body");
    if (!lua_isnil(L, -1)) call->body = luaL_checklstring(L, -1, &call->body_len);
    lua_getfield(L, x, "file");
    if (!lua_isnil(L, -1)) call->file = luaL_checkstring(L, -1);
    lua_getfield(L, x, "field");
    if (!lua_isnil(L, -1)) call->field = luaL_checkstring(L, -1);
    lua_pop(L, 4);   /* the table keeps the strings alive */
    lua_getfield(L, x, "query");   /* stays on the stack, above the segments */
    if (!lua_isnil(L, -1)) {
      luaL_checktype(L, -1, LUA_TTABLE);
      call->query = lua_gettop(L);
    }
  }
  call->seg = i + 3;
  for (k = 0; k < call->route->nsegs; k++) {
    size_t len;
    luaL_checklstring(L, call->seg + k, &len);
    if (len == 0) return lua_pushfstring(L, "%s is empty", call->route->name[k]);
    if (len > KD_MAX_ID)
      return lua_pushfstring(L, "%s is longer than %d bytes", call->route->name[k], KD_MAX_ID);
  }
  return NULL;
}

static int add_escaped(kd_buf *u, const char *s, size_t n) {
  if (kd_buf_add(u, NULL, 3 * n) != 0) return -1;
  u->len += kd_escape(u->data + u->len, s, n);
  return 0;
}

int kd_build_url(lua_State *L, kd_buf *u, const char *base, size_t blen, const kd_call *call) {
  const kd_route *r = call->route;
  int k;
  u->len = 0;
  if (kd_buf_add(u, base, blen) != 0) return -1;
  for (k = 0; k <= r->nsegs; k++) {
    if (kd_buf_add(u, r->lit[k], r->litlen[k]) != 0) return -1;
    if (k < r->nsegs) {
      size_t len;
      const char *s = lua_tolstring(L, call->seg + k, &len);
      if (add_escaped(u, s, len) != 0) return -1;
    }
  }
  if (call->query) {
    int n = (int)kd_rawlen(L, call->query) & ~1, j;   /* whole pairs only */
    for (j = 1; j <= n; j++) {
      size_t len;
      const char *s;
      if (kd_buf_add(u, j == 1 ? "?" : j % 2 ? "&" : "=", 1) != 0) return -1;
      lua_rawgeti(L, call->query, j);
      s = lua_tolstring(L, -1, &len);
      if (s && add_escaped(u, s, len) != 0) return (lua_pop(L, 1), -1);
      lua_pop(L, 1);
    }
  }
  return kd_buf_add(u, "", 1);   /* the NUL libcurl wants, not counted below */
}
