/*
 * outcome.c: the outcome record of one exchange: facts only, worded in
 * lua/kadoa/errors.lua. Every string a server or the layer below could have
 * influenced is redacted here as the record is made, the only redaction an
 * error gets; OpenResty's answers (client:finish) take the same path.
 */
#include <string.h>

#include "kadoa.h"

static int blank(unsigned char c) { return c == ' ' || c < 0x20 || c == 0x7f; }

/* The length of the key's occurrence at p, or 0. A blank in the key also
 * matches a run of blanks and control bytes: errors.lua folds such runs to
 * one space, which must not make a key of what was not one here. */
static size_t key_at(const char *p, const char *end, const char *key, size_t k) {
  const char *s = p;
  size_t i;
  for (i = 0; i < k; i++) {
    if (key[i] == ' ' && s < end && blank((unsigned char)*s)) {
      while (s < end && blank((unsigned char)*s)) s++;
    } else if (s < end && *s == key[i]) {
      s++;
    } else {
      return 0;
    }
  }
  return (size_t)(s - p);
}

static const char *find_key(const kd_config *cfg, const char *s, size_t n, size_t *len) {
  const char *p, *end = s + n;
  size_t k = cfg ? cfg->key_len : 0;
  if (k == 0) return NULL;
  for (p = s; p < end; p++) {
    if ((*p == cfg->key[0] || (cfg->key[0] == ' ' && blank((unsigned char)*p))) &&
        (*len = key_at(p, end, cfg->key, k)) > 0)
      return p;
  }
  return NULL;
}

void kd_push_redacted(lua_State *L, const kd_config *cfg, const char *s, size_t n) {
  luaL_Buffer b;
  const char *p = s, *end = s + n, *hit;
  size_t len = 0;
  if (!(hit = find_key(cfg, s, n, &len))) {
    lua_pushlstring(L, s, n);
    return;
  }
  luaL_buffinit(L, &b);
  while (hit) {
    luaL_addlstring(&b, p, (size_t)(hit - p));
    luaL_addstring(&b, "[redacted]");
    p = hit + len;
    hit = find_key(cfg, p, (size_t)(end - p), &len);
  }
  luaL_addlstring(&b, p, (size_t)(end - p));
  luaL_pushresult(&b);
}

/* Does a string in the table at the top, at any depth, hold the key? JSON
 * can spell it with \u escapes. cjson bounds the depth (1000). */
static int holds_key(lua_State *L, const kd_config *cfg) {
  int t = lua_gettop(L), found = 0;
  luaL_checkstack(L, 4, "JSON nested too deep");
  lua_pushnil(L);
  while (!found && lua_next(L, t)) {
    int i;
    for (i = -2; i <= -1 && !found; i++) {
      size_t n, len;
      if (lua_type(L, i) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, i, &n);
        found = find_key(cfg, s, n, &len) != NULL;
      } else if (i == -1 && lua_type(L, -1) == LUA_TTABLE) {
        found = holds_key(L, cfg);
      }
    }
    lua_pop(L, 1);
  }
  if (found) lua_settop(L, t);
  return found;
}

static void set_str(lua_State *L, const kd_config *cfg, const char *k, const char *v) {
  kd_push_redacted(L, cfg, v, strlen(v));
  lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void set_common(lua_State *L, const kd_outcome *o, int sent) {
  if (o->content_type && o->content_type[0]) set_str(L, o->cfg, "content_type", o->content_type);
  if (o->request_id && o->request_id[0]) set_str(L, o->cfg, "request_id", o->request_id);
  if (o->retry_after >= 0) set_num(L, "retry_after", o->retry_after);
  set_num(L, "elapsed", o->elapsed);
  lua_pushboolean(L, sent);
  lua_setfield(L, -2, "sent");
}

int kd_push_failure(lua_State *L, const kd_outcome *o, const char *failure, const char *detail) {
  lua_pushnil(L);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, failure);
  lua_setfield(L, -2, "failure");
  if (detail) set_str(L, o->cfg, "detail", detail);
  if (o->curl) set_int(L, "curl", o->curl);
  if (o->status > 0) set_int(L, "status", (lua_Integer)o->status);
  if (o->max_body) set_int(L, "max_body", (lua_Integer)o->max_body);
  if (o->size) set_int(L, "size", (lua_Integer)o->size);
  if (o->file) {
    lua_pushstring(L, o->file);   /* the caller's own path */
    lua_setfield(L, -2, "file");
  }
  set_common(L, o, o->sent);
  return 2;
}

/* An answer that is not a success; a JSON body decoded here (`json`), so
 * Lua needs no decoder of its own. */
static int push_response(lua_State *L, const kd_outcome *o, int dec, int null) {
  const char *p = o->body, *end = o->body + o->len;
  lua_pushnil(L);
  lua_createtable(L, 0, 9);
  set_int(L, "status", (lua_Integer)o->status);
  kd_push_redacted(L, o->cfg, o->body, o->len);
  lua_setfield(L, -2, "body");
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  if (p < end && *p == '{') {   /* the redacted text, checked once more once decoded */
    size_t n;
    const char *s;
    lua_getfield(L, -1, "body");
    s = lua_tolstring(L, -1, &n);
    if (kd_decode(L, dec, null, s, n) == 1 && lua_type(L, -1) == LUA_TTABLE && !holds_key(L, o->cfg))
      lua_setfield(L, -3, "json");
    else
      lua_pop(L, 1);
    lua_pop(L, 1);   /* the body */
  }
  set_common(L, o, 1);
  return 2;
}

static int bad_body(lua_State *L, const kd_outcome *o, const char *failure, const char *detail) {
  kd_outcome f = *o;
  f.sent = 1;
  f.size = o->len;
  return kd_push_failure(L, &f, failure, detail);
}

int kd_push_outcome(lua_State *L, const kd_outcome *o, int raw, int dec, int null) {
  int r;
  if (o->status < 200 || o->status > 299) return push_response(L, o, dec, null);
  if (raw) {
    lua_pushlstring(L, o->body, o->len);
    return 1;
  }
  if (o->len == 0) return bad_body(L, o, "empty", NULL);
  r = kd_decode(L, dec, null, o->body, o->len);
  if (r != 1) {
    r = bad_body(L, o, r < 0 ? "memory" : "json", r < 0 ? NULL : lua_tostring(L, -1));
    lua_remove(L, -3);   /* the decoder's message */
    return r;
  }
  if (lua_type(L, -1) != LUA_TTABLE || kd_rawlen(L, -1) > 0) {
    lua_pop(L, 1);
    return bad_body(L, o, "not_object", NULL);
  }
  return 1;
}

static int unsent(lua_State *L, const char *failure, const char *detail, const char *file) {
  kd_outcome o;
  memset(&o, 0, sizeof o);
  o.retry_after = -1;
  o.file = file;
  return kd_push_failure(L, &o, failure, detail);
}

int kd_usage_failure(lua_State *L, const char *msg) {
  return unsent(L, "usage", msg, NULL);
}

int kd_prepare_failed(lua_State *L, int e, const char *file) {
  if (e < 0) return luaL_error(L, "kadoa: out of memory preparing a request");
  return unsent(L, "io", strerror(e), file);
}
