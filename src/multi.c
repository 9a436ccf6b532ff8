/*
 * multi.c: requests that progress without blocking.
 *
 * client:start(route, timeout, extra, seg...) puts a transfer on the
 * client's libcurl multi handle and returns a request. Whoever owns the
 * event loop drives them all:
 *   client:perform()   moves every transfer forward without waiting and
 *                      returns how many still run and the requests that
 *                      finished since the last perform: a completion queue,
 *                      so each finished request is reported exactly once;
 *   client:wait(ms)    sleeps until a socket is ready or curl's own timer is
 *                      due (at most ms), for loops that may block;
 *   client:timeout()   how long a non-blocking loop may wait before the
 *                      next perform (-1: no timer pending);
 *   req:result()       once done: the result (value, or nil and a report),
 *                      exactly what client:fetch returns; taken once.
 *
 * Ownership: a running request borrows a transfer from its client's pool
 * and gives it back when its result is taken, when it is cancelled, or when
 * it is collected. A request keeps its client alive (its user value). If
 * the client is closed first, it takes every transfer back and the request
 * only answers "client is closed". Nothing here calls Lua from libcurl.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kadoa.h"

enum { REQ_RUNNING, REQ_DONE, REQ_TAKEN, REQ_CANCELLED, REQ_CLOSED };

typedef struct kd_req {
  kd_client *c;              /* NULL once detached */
  kd_xfer *x;                /* borrowed while running or done */
  struct kd_req *prev, *next;          /* the client's active list */
  struct kd_req *done_next;            /* the client's completion queue */
  int queued;
  CURLcode rc;
  int state;
  int raw;
} kd_req;

/* registry[&REQS_KEY]: lightuserdata(req) -> req userdata, weak values, so
 * a finished transfer can be handed back to Lua as its request without
 * keeping requests alive that their owner dropped. Keyed by the address of
 * a static, which no other library can collide with. */
static char REQS_KEY;

static void push_reqs(lua_State *L) {
  lua_pushlightuserdata(L, &REQS_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
}

static kd_req *check_req(lua_State *L) {
  return (kd_req *)luaL_checkudata(L, 1, KD_REQ_MT);
}

static void free_xfer(kd_xfer *x) {
  kd_xfer_free(x);
  free(x);
}

static kd_xfer *take_xfer(kd_client *c) {
  kd_xfer *x = c->idle;
  if (x) {
    c->idle = x->next_idle;
    x->next_idle = NULL;
    return x;
  }
  if (!(x = malloc(sizeof *x))) return NULL;
  if (kd_xfer_init(x, &c->cfg, c->share) != 0) {
    free_xfer(x);
    return NULL;
  }
  /* On HTTP/2, wait for the connection being made and share it. Only
   * over TLS, where ALPN settles the protocol at the handshake: over plain
   * http a waiting transfer waits for the first response, so one hanging
   * request would hold up every other one (libcurl never speaks h2c here). */
  if (strncasecmp(c->cfg.base, "https:", 6) == 0)
    curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
  return x;
}

static void give_back(kd_client *c, kd_xfer *x) {
  kd_xfer_reset(x);
  x->next_idle = c->idle;
  c->idle = x;
}

static void unlink_req(kd_req *r) {
  if (r->prev) r->prev->next = r->next;
  else r->c->active = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

/* Take r off its client's completion queue, if it is on it. */
static void unqueue(kd_req *r) {
  kd_client *c = r->c;
  kd_req **p, *prev = NULL;
  if (!r->queued || !c) return;
  for (p = &c->done_head; *p; prev = *p, p = &(*p)->done_next) {
    if (*p == r) {
      *p = r->done_next;
      if (c->done_tail == r) c->done_tail = prev;
      break;
    }
  }
  r->done_next = NULL;
  r->queued = 0;
}

static void enqueue(kd_client *c, kd_req *r) {
  r->done_next = NULL;
  r->queued = 1;
  if (c->done_tail) c->done_tail->done_next = r;
  else c->done_head = r;
  c->done_tail = r;
}

/* Stop `r` if it runs, return its transfer, and leave it in `state`. */
static void release(kd_req *r, int state) {
  if (r->c) {
    if (r->state == REQ_RUNNING) curl_multi_remove_handle(r->c->multi, r->x->easy);
    unqueue(r);
    unlink_req(r);
    if (r->x) give_back(r->c, r->x);
  } else if (r->x) {
    free_xfer(r->x);
  }
  r->c = NULL;
  r->x = NULL;
  r->state = state;
}

void kd_multi_cleanup(kd_client *c) {
  kd_req *r = c->active;
  while (r) {
    kd_req *next = r->next;
    if (r->state == REQ_RUNNING) curl_multi_remove_handle(c->multi, r->x->easy);
    if (r->x) free_xfer(r->x);
    r->x = NULL;
    r->c = NULL;
    r->prev = r->next = r->done_next = NULL;
    r->queued = 0;
    r->state = REQ_CLOSED;
    r = next;
  }
  c->active = NULL;
  c->done_head = c->done_tail = NULL;
  while (c->idle) {
    kd_xfer *x = c->idle;
    c->idle = x->next_idle;
    free_xfer(x);
  }
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
}

static int ensure_multi(kd_client *c) {
  if (c->multi) return 0;
  if (!(c->multi = curl_multi_init())) return -1;
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  return 0;
}

/* Move every transfer forward; finished requests are marked done and
 * queued for the next perform(). */
static int drive(kd_client *c) {
  int running = 0, left;
  CURLMsg *m;
  curl_multi_perform(c->multi, &running);
  while ((m = curl_multi_info_read(c->multi, &left))) {
    kd_req *r = NULL;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    r->rc = m->data.result;
    r->state = REQ_DONE;
    /* the message is gone after this; the connection goes back to the pool */
    curl_multi_remove_handle(c->multi, m->easy_handle);
    enqueue(c, r);
  }
  return running;
}

/* client:start(route, timeout, extra, seg...) -> request | nil, report */
static int l_start(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  kd_call call;
  const char *bad = kd_read_call(L, 2, &call);
  kd_req *r;
  kd_xfer *x;
  if (c->closed) return kd_usage_failure(L, "client is closed");
  if (bad) return kd_usage_failure(L, bad);
  if (ensure_multi(c) != 0) return luaL_error(L, "kadoa: out of memory");

  r = (kd_req *)lua_newuserdata(L, sizeof *r);
  memset(r, 0, sizeof *r);
  r->state = REQ_CANCELLED;     /* detached until the transfer is added */
  luaL_getmetatable(L, KD_REQ_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 1, 0);     /* the request keeps its client alive */
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  kd_setuservalue(L, -2);

  if (!(x = take_xfer(c))) return luaL_error(L, "kadoa: out of memory");
  {
    int e = kd_xfer_prepare(L, x, &c->cfg, &call);
    if (e != 0) {
      give_back(c, x);
      lua_pop(L, 1);   /* the request, never started */
      return kd_prepare_failed(L, e, call.file);
    }
  }
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, r);
  r->x = x;
  r->c = c;
  r->raw = call.raw;
  r->next = c->active;
  if (c->active) c->active->prev = r;
  c->active = r;
  r->state = REQ_RUNNING;
  if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
    release(r, REQ_CANCELLED);
    return luaL_error(L, "kadoa: could not start a transfer");
  }

  push_reqs(L);
  lua_pushlightuserdata(L, r);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return 1;
}

/* client:perform() -> running, { requests finished since the last perform } */
static int l_perform(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  int running = 0, n = 0, t;
  if (!c->closed && c->multi) running = drive(c);
  lua_pushinteger(L, running);
  lua_newtable(L);
  t = lua_gettop(L);
  if (!c->closed && c->done_head) {
    push_reqs(L);
    while (c->done_head) {
      kd_req *r = c->done_head;
      c->done_head = r->done_next;
      r->done_next = NULL;
      r->queued = 0;
      lua_pushlightuserdata(L, r);
      lua_rawget(L, -2);
      if (!lua_isnil(L, -1)) lua_rawseti(L, t, ++n);   /* else dropped by its owner */
      else lua_pop(L, 1);
    }
    c->done_tail = NULL;
    lua_pop(L, 1);
  }
  return 2;
}

/* client:wait(ms): block until there is something to do, ms at most */
static int l_wait(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  lua_Number ms = luaL_optnumber(L, 2, 1000);
  int n = 0;
  if (ms < 0) ms = 0;
  if (ms > 86400000) ms = 86400000;
  if (!c->closed && c->multi) {
#if LIBCURL_VERSION_NUM >= 0x074200
    curl_multi_poll(c->multi, NULL, 0, (int)ms, &n);
#else
    curl_multi_wait(c->multi, NULL, 0, (int)ms, &n);
#endif
  }
  lua_pushinteger(L, n);
  return 1;
}

/* client:timeout() -> ms until curl wants perform called, -1 for none */
static int l_timeout(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  long ms = -1;
  if (!c->closed && c->multi) curl_multi_timeout(c->multi, &ms);
  lua_pushinteger(L, (lua_Integer)ms);
  return 1;
}

/* req:result() -> (nothing) while running | value | nil, report. It does
 * not drive: client:perform() does, for every request at once. */
static int l_result(lua_State *L) {
  kd_req *r = check_req(L);
  int n, dec;
  switch (r->state) {
  case REQ_RUNNING:
    return 0;
  case REQ_DONE:
    kd_getuservalue(L, 1);
    lua_rawgeti(L, -1, 1);   /* the client, whose codec decodes */
    dec = kd_push_codec(L, lua_gettop(L));
    n = kd_xfer_push_result(L, r->x, r->rc, r->raw, dec, dec + 1);
    release(r, REQ_TAKEN);
    return n;
  case REQ_TAKEN:
    return kd_usage_failure(L, "request result was already taken");
  case REQ_CLOSED:
    return kd_usage_failure(L, "client is closed");
  default:
    return kd_usage_failure(L, "request was cancelled");
  }
}

static int l_done(lua_State *L) {
  lua_pushboolean(L, check_req(L)->state != REQ_RUNNING);
  return 1;
}

static int l_cancel(lua_State *L) {
  kd_req *r = check_req(L);
  if (r->state == REQ_RUNNING || r->state == REQ_DONE) release(r, REQ_CANCELLED);
  return 0;
}

static int l_req_gc(lua_State *L) {
  kd_req *r = check_req(L);
  release(r, r->state == REQ_RUNNING || r->state == REQ_DONE ? REQ_CANCELLED : r->state);
  return 0;
}

static int l_req_tostring(lua_State *L) {
  static const char *names[] = {"running", "done", "taken", "cancelled", "closed"};
  kd_req *r = check_req(L);
  lua_pushfstring(L, "kadoa.request (%s): %p", names[r->state], (void *)r);
  return 1;
}

const luaL_Reg kd_multi_methods[] = {
  {"start", l_start},
  {"perform", l_perform},
  {"wait", l_wait},
  {"timeout", l_timeout},
  {NULL, NULL}
};

static const luaL_Reg req_methods[] = {
  {"result", l_result},
  {"done", l_done},
  {"cancel", l_cancel},
  {NULL, NULL}
};

void kd_open_multi(lua_State *L) {
  lua_pushlightuserdata(L, &REQS_KEY);
  lua_newtable(L);                      /* weak registry of live requests */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);

  {
    const luaL_Reg *methods[] = {req_methods, NULL};
    kd_new_class(L, KD_REQ_MT, l_req_gc, l_cancel, l_req_tostring, methods);
  }
}
