/*
 * core.c: luaopen_kadoa_core, the client userdata and its Lua bindings;
 * sleep, a clock, mkdir, a response head. The client's user value holds the
 * JSON decoder and its null, handed in by Lua (the module loads nothing).
 * Options arrive checked by lua/kadoa/options.lua; checks here keep C safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kadoa.h"

void kd_setfuncs(lua_State *L, const luaL_Reg *l) {
  for (; l && l->name; l++) {
    lua_pushcfunction(L, l->func);
    lua_setfield(L, -2, l->name);
  }
}

void kd_new_class(lua_State *L, const char *name, lua_CFunction gc,
                  lua_CFunction tostring, const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
#endif
  }
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  kd_setfuncs(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

/* libcurl's process-wide set-up, exactly once */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

kd_client *kd_check_client(lua_State *L, int i) {
  return (kd_client *)luaL_checkudata(L, i, KD_CLIENT_MT);
}

int kd_push_codec(lua_State *L, int client) {
  kd_getuservalue(L, client);
  lua_rawgeti(L, -1, 1);
  lua_rawgeti(L, -2, 2);
  lua_remove(L, -3);
  return lua_gettop(L) - 1;
}

/* prefix .. v[0..n), NUL-terminated, or NULL: out of memory */
static char *join(const char *prefix, const char *v, size_t n) {
  size_t k = strlen(prefix);
  char *d = malloc(k + n + 1);
  if (d) {
    memcpy(d, prefix, k);
    memcpy(d + k, v, n);
    d[k + n] = '\0';
  }
  return d;
}

static void client_cleanup(kd_client *c) {
  kd_multi_cleanup(c);
  kd_xfer_free(&c->main);
  if (c->share) curl_share_cleanup(c->share);   /* after every handle using it */
  c->share = NULL;
  if (c->cfg.api_key_header) {   /* and the key inside it */
    kd_scrub(c->cfg.api_key_header, strlen(c->cfg.api_key_header));
    free(c->cfg.api_key_header);
  }
  free(c->cfg.base);
  free(c->cfg.user_agent_header);
  free(c->cfg.ca_file);
  if (c->cfg.url.data) kd_scrub(c->cfg.url.data, c->cfg.url.cap);
  kd_buf_free(&c->cfg.url);
  kd_scrub(&c->cfg, sizeof c->cfg);
  c->closed = 1;
}

static const char *opt_string(lua_State *L, const char *k, int required, size_t *len) {
  const char *s;
  lua_getfield(L, 1, k);
  s = required ? luaL_checklstring(L, -1, len) : luaL_optlstring(L, -1, NULL, len);
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

/* core.new(cfg) -> client. The userdata is zeroed and has its metatable
 * before anything is allocated, so __gc frees whatever exists. */
static int l_new(lua_State *L) {
  const char *key, *base, *ua, *ca;
  double timeout, ctimeout, max_body;
  kd_client *c;
  size_t keylen, blen, ualen, calen;
  luaL_checktype(L, 1, LUA_TTABLE);
  key = opt_string(L, "api_key", 1, &keylen);
  base = opt_string(L, "base_url", 1, &blen);
  ua = opt_string(L, "user_agent", 1, &ualen);
  ca = opt_string(L, "ca_file", 0, &calen);
  timeout = opt_number(L, "timeout");
  ctimeout = opt_number(L, "connect_timeout");
  max_body = opt_number(L, "max_body");
  lua_getfield(L, 1, "decode");
  luaL_argcheck(L, lua_isfunction(L, -1), 1, "cfg.decode must be a function");
  lua_pop(L, 1);
  if (strpbrk(key, "\r\n") || strlen(key) != keylen)
    return luaL_error(L, "api_key must not contain line breaks or NUL bytes");
  if (strpbrk(ua, "\r\n") || strlen(ua) != ualen)
    return luaL_error(L, "user_agent must not contain line breaks or NUL bytes");
  if (ca && strlen(ca) != calen) return luaL_error(L, "ca_file must not contain NUL bytes");
  if (max_body < 1 || max_body > 1e15)
    return luaL_error(L, "max_body out of range");

  c = (kd_client *)lua_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = 1;   /* until fully built: __gc then frees only what exists */
  luaL_getmetatable(L, KD_CLIENT_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 2, 0);   /* the user value: decoder, null */
  lua_getfield(L, 1, "decode");
  lua_rawseti(L, -2, 1);
  lua_getfield(L, 1, "null");
  lua_rawseti(L, -2, 2);
  kd_setuservalue(L, -2);

  c->cfg.timeout_ms = kd_ms(timeout);
  c->cfg.connect_timeout_ms = kd_ms(ctimeout);
  c->cfg.max_body = (size_t)max_body;
  kd_seed(c->cfg.rng, c);

  c->cfg.api_key_header = join("x-api-key: ", key, keylen);
  c->cfg.key = c->cfg.api_key_header ? c->cfg.api_key_header + strlen("x-api-key: ") : NULL;
  c->cfg.key_len = keylen;
  c->cfg.base = join("", base, blen);
  c->cfg.base_len = blen;
  c->cfg.user_agent_header = join("User-Agent: ", ua, ualen);
  if (ca) c->cfg.ca_file = join("", ca, calen);
  if ((c->share = curl_share_init())) {
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  if (!c->cfg.api_key_header || !c->cfg.base || !c->cfg.user_agent_header ||
      (ca && !c->cfg.ca_file) || !c->share) {
    client_cleanup(c);
    return luaL_error(L, "kadoa: out of memory creating a client");
  }
  c->closed = 0;
  return 1;
}

/* the status call's path: it does no more than it must */
static int l_fetch(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  kd_call call;
  const char *bad = kd_read_call(L, 2, &call);
  int dec;
  CURLcode rc;
  if (c->closed) bad = "client is closed";
  if (bad) return kd_usage_failure(L, bad);
  if (!c->main.easy && kd_xfer_init(&c->main, &c->cfg, c->share) != 0) {
    kd_xfer_free(&c->main);
    return luaL_error(L, "kadoa: out of memory preparing a request");
  }
  if ((rc = (CURLcode)kd_xfer_prepare(L, &c->main, &c->cfg, &call)) != 0)
    return kd_prepare_failed(L, (int)rc, call.file);
  rc = curl_easy_perform(c->main.easy);
  dec = kd_push_codec(L, 1);
  return kd_xfer_push_result(L, &c->main, rc, call.raw, dec, dec + 1);
}

static int l_path(lua_State *L) {
  kd_call call;
  const char *bad;
  kd_buf u = {NULL, 0, 0};
  kd_check_client(L, 1);
  bad = kd_read_call(L, 2, &call);
  if (bad) return kd_usage_failure(L, bad);
  if (kd_build_url(L, &u, "", 0, &call) != 0) {
    kd_buf_free(&u);
    return luaL_error(L, "kadoa: out of memory");
  }
  lua_pushlstring(L, u.data, u.len - 1);
  kd_buf_free(&u);
  return 1;
}

/* what fetch would return for an answer OpenResty received */
static int l_finish(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  kd_outcome o;
  int dec;
  memset(&o, 0, sizeof o);
  o.status = (long)luaL_checkinteger(L, 2);
  o.body = luaL_checklstring(L, 3, &o.len);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_getfield(L, 4, "content_type");
  o.content_type = luaL_optstring(L, -1, "");
  lua_getfield(L, 4, "request_id");
  o.request_id = luaL_optstring(L, -1, "");
  lua_getfield(L, 4, "retry_after");
  o.retry_after = luaL_optnumber(L, -1, -1);
  lua_pop(L, 3);   /* the head table keeps the strings */
  o.elapsed = luaL_optnumber(L, 6, 0);
  o.cfg = c->closed ? NULL : &c->cfg;
  dec = kd_push_codec(L, 1);
  return kd_push_outcome(L, &o, lua_toboolean(L, 5), dec, dec + 1);
}

/* each client seeded on its own: those that fail together retry apart */
static int l_random(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  lua_pushnumber(L, (lua_Number)(kd_random(c->cfg.rng) >> 11) * (1.0 / 9007199254740992.0));
  return 1;
}

static int l_request_id(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  char id[36];
  kd_request_id(id, c->cfg.rng);
  lua_pushlstring(L, id, sizeof id);
  return 1;
}

static int l_redact(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  kd_push_redacted(L, c->closed ? NULL : &c->cfg, s, n);
  return 1;
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
  lua_pushfstring(L, "kadoa.core.client%s: %p", c->closed ? " (closed)" : "", (void *)c);
  return 1;
}

/* a signal ends the sleep on purpose, so the interpreter's Ctrl-C handler runs */
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

double kd_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int l_monotime(lua_State *L) {
  lua_pushnumber(L, kd_now());
  return 1;
}

static int l_decode(lua_State *L) {
  size_t n;
  const char *s;
  int dec, r;
  kd_check_client(L, 1);
  s = luaL_checklstring(L, 2, &n);
  dec = kd_push_codec(L, 1);
  r = kd_decode(L, dec, dec + 1, s, n);
  if (r == 1) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  if (r < 0) lua_pushliteral(L, "memory");
  return r < 0 ? 3 : 2;
}

/* Does v[0..n) contain the word w, ignoring case? */
static int contains_ci(const char *v, size_t n, const char *w) {
  size_t k = strlen(w), i, j;
  for (i = 0; i + k <= n; i++) {
    for (j = 0; j < k && (v[i + j] | 0x20) == w[j]; j++) {}
    if (j == k) return 1;
  }
  return 0;
}

static void set_value(lua_State *L, const char *k, const char *v, size_t n) {
  char buf[128];
  kd_copy_value(buf, sizeof buf, v, n);
  lua_pushstring(L, buf);
  lua_setfield(L, -2, k);
}

/* A response head read by the rules of transfer.c's header callback, for
 * transports that read the bytes themselves (OpenResty). */
static int l_head(lua_State *L) {
  size_t n, vlen;
  const char *p = luaL_checklstring(L, 1, &n), *end = p + n, *v;
  int major, minor = 0, status, keep_alive = 0, close = 0, have_rid = 0;
  if (n < 12 || memcmp(p, "HTTP/", 5) != 0) return 0;
  if (sscanf(p, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 &&
      sscanf(p, "HTTP/%d %3d", &major, &status) != 2)
    return 0;
  lua_createtable(L, 0, 9);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  lua_pushfstring(L, "%d.%d", major, minor);
  lua_setfield(L, -2, "version");
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t len = eol ? (size_t)(eol - p + 1) : (size_t)(end - p);
    int rid = kd_header_value(p, len, "x-request-id", &v, &vlen);
    if (rid || (!have_rid && kd_header_value(p, len, "x-amzn-requestid", &v, &vlen))) {
      set_value(L, "request_id", v, vlen);
      have_rid = have_rid || rid;
    } else if (kd_header_value(p, len, "content-type", &v, &vlen)) {
      set_value(L, "content_type", v, vlen);
    } else if (kd_header_value(p, len, "content-encoding", &v, &vlen)) {
      set_value(L, "content_encoding", v, vlen);
    } else if (kd_header_value(p, len, "content-length", &v, &vlen)) {
      double d = vlen ? 0 : -1;
      size_t i;
      for (i = 0; i < vlen && d >= 0; i++)
        d = (v[i] < '0' || v[i] > '9' || d > 1e15) ? -1 : d * 10 + (v[i] - '0');
      lua_pushnumber(L, d);
      lua_setfield(L, -2, "content_length");
    } else if (kd_header_value(p, len, "connection", &v, &vlen)) {
      close = close || contains_ci(v, vlen, "close");
      keep_alive = keep_alive || contains_ci(v, vlen, "keep-alive");
    } else if (kd_header_value(p, len, "transfer-encoding", &v, &vlen)) {
      lua_pushboolean(L, contains_ci(v, vlen, "chunked"));
      lua_setfield(L, -2, "chunked");
    } else if (kd_header_value(p, len, "retry-after", &v, &vlen)) {
      double s = kd_retry_after(v, vlen, time(NULL));
      if (s >= 0) {
        lua_pushnumber(L, s);
        lua_setfield(L, -2, "retry_after");
      }
    }
    p += len;
  }
  /* HTTP/1.0 keeps the connection only when asked to */
  lua_pushboolean(L, close || (major == 1 && minor == 0 && !keep_alive));
  lua_setfield(L, -2, "close");
  return 1;
}

/* as mkdir -p: missing parents 0755, the folder itself 0700 when private;
 * one already there is fine */
static int l_mkdir(lua_State *L) {
  size_t n;
  const char *path = luaL_checklstring(L, 1, &n);
  int private = lua_toboolean(L, 2);
  char *s = (char *)lua_newuserdata(L, n + 1), *p;
  memcpy(s, path, n + 1);
  for (p = s + 1;; p++) {
    int last = *p == '\0';
    if (*p != '/' && !last) continue;
    *p = '\0';
    if (mkdir(s, last && private ? 0700 : 0755) != 0 && errno != EEXIST) {
      int e = errno;
      lua_pushnil(L);
      lua_pushfstring(L, "cannot make the folder %s: %s", s, strerror(e));
      return 2;
    }
    if (last) break;
    *p = '/';
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* a file's size, modification time and inode as one string, or nothing: what a
 * kept compile of it is checked against (kadoa.cli.cache) */
static int l_stamp(lua_State *L) {
  struct stat st;
  char buf[96];
  if (stat(luaL_checkstring(L, 1), &st) != 0) return 0;
  snprintf(buf, sizeof buf, "%lld %lld.%09ld %llu", (long long)st.st_size,
           (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
  lua_pushstring(L, buf);
  return 1;
}

/* never an existing file or a link; synced: the first half of an atomic
 * write (the caller renames it into place) */
static int l_private_file(lua_State *L) {
  size_t n;
  const char *path = luaL_checkstring(L, 1);
  const char *bytes = luaL_checklstring(L, 2, &n);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  int failed = fd < 0 || kd_write_all(fd, bytes, n) != 0;
  if (!failed && fsync(fd) != 0) failed = 1;
  if (fd >= 0 && close(fd) != 0) failed = 1;
  if (failed) {
    int e = errno;
    if (fd >= 0) unlink(path);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot write %s: %s", path, strerror(e));
    return 2;
  }
  lua_pushboolean(L, 1);
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

static const luaL_Reg client_methods[] = {
  {"fetch", l_fetch}, {"path", l_path}, {"finish", l_finish}, {"decode", l_decode},
  {"random", l_random}, {"request_id", l_request_id}, {"redact", l_redact},
  {"close", l_close}, {"closed", l_closed}, {NULL, NULL}
};

static const luaL_Reg module_funcs[] = {
  {"new", l_new}, {"route", kd_route_new}, {"head", l_head}, {"sleep", l_sleep},
  {"monotime", l_monotime}, {"mkdir", l_mkdir}, {"stamp", l_stamp}, {"private_file", l_private_file},
  {"curl_info", l_curl_info}, {"token", kd_token}, {"term_size", kd_term_size},
  {"isatty", kd_isatty}, {"terminal", kd_terminal}, {NULL, NULL}
};

int luaopen_kadoa_core(lua_State *L) {
  pthread_once(&global_once, global_init);
  if (global_rc != CURLE_OK)
    return luaL_error(L, "kadoa: curl_global_init failed: %s", curl_easy_strerror(global_rc));

  kd_new_class(L, KD_CLIENT_MT, l_close, l_tostring, client_methods);
  kd_open_multi(L);
  kd_open_term(L);
  kd_new_class(L, KD_ROUTE_MT, NULL, kd_route_tostring, NULL);
  lua_newtable(L);
  kd_setfuncs(L, module_funcs);
  lua_pushliteral(L, KADOA_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
