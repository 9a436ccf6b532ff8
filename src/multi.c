/*
 * multi.c: requests that progress without blocking, on libcurl's socket
 * interface. Its callbacks only write down, in the client's kd_loop, the
 * sockets and timer libcurl wants; a loop reads that (client:changes) and
 * answers (client:action), or poll(2) does (client:wait, client:perform).
 * A request borrows a pooled transfer until it is taken, cancelled or
 * collected, and keeps its client alive; closing the client takes every
 * transfer back. Nothing here calls Lua from libcurl.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <unistd.h>

#include "kadoa.h"

#define KD_REQ_MT "kadoa.request"

enum { REQ_RUNNING, REQ_DONE, REQ_TAKEN, REQ_CANCELLED, REQ_CLOSED };

typedef struct kd_req {
  kd_client *c;              /* NULL once detached */
  kd_xfer *x;                /* borrowed while running or done */
  struct kd_req *prev, *next;          /* the client's active list */
  struct kd_req *done_next;            /* the client's completion queue */
  CURLcode rc;
  int state;
  int raw;
} kd_req;

/* registry[&REQS_KEY]: lightuserdata(req) -> req userdata, weak values: a
 * finished transfer is handed back as its request, which its owner may
 * have dropped. The address of a static collides with no other library. */
static char REQS_KEY;

static void push_reqs(lua_State *L) {
  lua_pushlightuserdata(L, &REQS_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
}

static kd_req *check_req(lua_State *L) {
  return (kd_req *)luaL_checkudata(L, 1, KD_REQ_MT);
}

typedef struct kd_sock {
  curl_socket_t fd;
  int want;       /* 1 read, 2 write, 3 both; 0: forget it */
  int dirty;      /* want changed since the last changes() */
  int told;       /* a loop was given it to watch and has not let go */
  int closed;     /* libcurl closed it; the real close waits for release() */
  int revents;    /* what the last wait() saw (CURL_CSELECT_*) */
} kd_sock;

static kd_sock *find_sock(kd_loop *lp, curl_socket_t fd) {
  size_t i;
  for (i = 0; i < lp->n; i++)
    if (lp->s[i].fd == fd) return &lp->s[i];
  return NULL;
}

static void drop_sock(kd_loop *lp, kd_sock *k) {
  *k = lp->s[--lp->n];
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *up, void *sp) {
  kd_loop *lp = &((kd_client *)up)->loop;
  kd_sock *k = find_sock(lp, fd);
  int want = what == CURL_POLL_REMOVE ? 0 : what;   /* CURL_POLL_IN 1, OUT 2, INOUT 3 */
  (void)e;
  (void)sp;
  if (!k) {
    if (want == 0) return 0;
    if (lp->n == lp->cap) {
      size_t cap = lp->cap ? 2 * lp->cap : 8;
      kd_sock *s = (kd_sock *)realloc(lp->s, cap * sizeof *s);
      if (!s) return -1;   /* libcurl fails the transfers: out of memory */
      lp->s = s;
      lp->cap = cap;
    }
    k = &lp->s[lp->n++];
    memset(k, 0, sizeof *k);
    k->fd = fd;
  }
  if (want == 0 && !k->told) {   /* no loop ever watched it: just forget */
    drop_sock(lp, k);
    return 0;
  }
  k->dirty = k->dirty || k->want != want;
  k->want = want;
  return 0;
}

static int on_timer(CURLM *m, long ms, void *up) {
  kd_loop *lp = &((kd_client *)up)->loop;
  (void)m;
  lp->timer_calls++;
  lp->due = ms < 0 ? -1 : kd_now() + (double)ms / 1000;
  return 0;
}

/* libcurl closes a socket right after telling us to forget it, but a loop
 * outside may watch it until it reads the change; closed now, the number
 * could be reused under it (libuv aborts then). So a socket a loop was told
 * about is closed when the loop let go (client:release()): unlike a dup()
 * per socket, free when no loop watches. */
static int on_close(void *up, curl_socket_t fd) {
  kd_loop *lp = &((kd_client *)up)->loop;
  kd_sock *k = find_sock(lp, fd);
  if (k && k->told && lp->external) {
    k->closed = 1;
    k->want = 0;
    return 0;
  }
  if (k) drop_sock(lp, k);
  return close(fd);
}

static void free_loop(kd_loop *lp) {
  size_t i;
  for (i = 0; i < lp->n; i++)
    if (lp->s[i].closed) close(lp->s[i].fd);
  free(lp->s);
  memset(lp, 0, sizeof *lp);
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
  /* HTTP/2: wait for the connection being made and share it; only over TLS,
   * where ALPN settles it at the handshake (over plain http one hanging
   * request would hold up every other one) */
  if (strncasecmp(c->cfg.base, "https:", 6) == 0)
    curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
  curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETDATA, c);
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

static void unqueue(kd_req *r) {
  kd_client *c = r->c;
  kd_req **p, *prev = NULL;
  for (p = &c->done_head; *p; prev = *p, p = &(*p)->done_next) {
    if (*p == r) {
      *p = r->done_next;
      if (c->done_tail == r) c->done_tail = prev;
      break;
    }
  }
  r->done_next = NULL;
}

static void enqueue(kd_client *c, kd_req *r) {
  r->done_next = NULL;
  if (c->done_tail) c->done_tail->done_next = r;
  else c->done_head = r;
  c->done_tail = r;
}

/* Stop `r` if it runs, return its transfer, and leave it in `state`. */
static void release(kd_req *r, int state) {
  if (r->c) {
    if (r->state == REQ_RUNNING) {
      curl_multi_remove_handle(r->c->multi, r->x->easy);
      /* perform() reports the count of the last action: one fewer now */
      if (r->c->loop.running > 0) r->c->loop.running--;
    }
    unqueue(r);
    unlink_req(r);
    if (r->x) give_back(r->c, r->x);
  }
  r->c = NULL;
  r->x = NULL;
  r->state = state;
}

void kd_multi_cleanup(kd_client *c) {
  c->loop.external = 0;   /* the client is going: close for real */
  while (c->active) release(c->active, REQ_CLOSED);
  while (c->idle) {
    kd_xfer *x = c->idle;
    c->idle = x->next_idle;
    free_xfer(x);
  }
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  free_loop(&c->loop);
}

static int ensure_multi(kd_client *c) {
  if (c->multi) return 0;
  c->loop.due = -1;
  if (!(c->multi = curl_multi_init())) return -1;
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  /* libcurl's default pool (4 per transfer) dips as transfers finish one
   * socket at a time and closes connections the next ones want */
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 128L);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  return 0;
}

/* One socket_action (fd CURL_SOCKET_TIMEOUT: the timer); finished requests
 * are queued for the next finished(). */
static int act(kd_client *c, curl_socket_t fd, int ev) {
  int running = 0, left;
  CURLMsg *m;
  int told = c->loop.timer_calls;
  curl_multi_socket_action(c->multi, fd, ev, &running);
  /* on_timer is called only when the expiry changes: a timer that fired a
   * little early changes nothing, and would be lost (or fire again and
   * again when none is left) unless asked for */
  if (fd == CURL_SOCKET_TIMEOUT && c->loop.timer_calls == told) {
    long ms = -1;
    curl_multi_timeout(c->multi, &ms);
    on_timer(c->multi, ms, c);
  }
  while ((m = curl_multi_info_read(c->multi, &left))) {
    kd_req *r = NULL;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    r->rc = m->data.result;
    r->state = REQ_DONE;
    curl_multi_remove_handle(c->multi, m->easy_handle);
    enqueue(c, r);
  }
  c->loop.running = running;
  return running;
}

static int l_start(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  kd_call call;
  const char *bad = kd_read_call(L, 2, &call);
  kd_req *r;
  kd_xfer *x;
  int e;
  if (c->closed) bad = "client is closed";
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
  if ((e = kd_xfer_prepare(L, x, &c->cfg, &call)) != 0) {
    give_back(c, x);
    lua_pop(L, 1);   /* the request, never started */
    return kd_prepare_failed(L, e, call.file);
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

/* Push { requests finished since the last call }, but those dropped. */
static void push_finished(lua_State *L, kd_client *c) {
  int n = 0, t;
  lua_newtable(L);
  t = lua_gettop(L);
  if (!c->done_head) return;
  push_reqs(L);
  while (c->done_head) {
    kd_req *r = c->done_head;
    c->done_head = r->done_next;
    r->done_next = NULL;
    lua_pushlightuserdata(L, r);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) lua_rawseti(L, t, ++n);
    else lua_pop(L, 1);
  }
  c->done_tail = NULL;
  lua_pop(L, 1);
}

/* ms until curl's timer is due, -1 for none */
static lua_Integer timer_ms(kd_client *c) {
  double left;
  if (!c->multi || c->loop.due < 0) return -1;
  left = (c->loop.due - kd_now()) * 1000;
  return left <= 0 ? 0 : (lua_Integer)left + 1;
}

/* poll(2) curl's sockets for at most ms, keeping what is ready for the
 * next perform(). Returns how many are ready, -1: out of memory. */
static int scan(kd_client *c, int ms) {
  struct pollfd some[16], *p = some;
  kd_loop *lp = &c->loop;
  size_t i, n = 0;
  int ready;
  if (lp->n > 16 && !(p = (struct pollfd *)malloc(lp->n * sizeof *p))) return -1;
  for (i = 0; i < lp->n; i++) {
    kd_sock *k = &lp->s[i];
    if (k->want == 0 || k->closed) continue;
    p[n].fd = k->fd;
    p[n].events = (short)(((k->want & 1) ? POLLIN : 0) | ((k->want & 2) ? POLLOUT : 0));
    p[n].revents = 0;
    n++;
  }
  ready = poll(p, (nfds_t)n, ms);
  for (i = 0; ready > 0 && i < n; i++) {
    short r = p[i].revents;
    kd_sock *k = find_sock(lp, p[i].fd);
    if (!k || !r) continue;
    k->revents |= ((r & (POLLIN | POLLHUP)) ? CURL_CSELECT_IN : 0) |
                  ((r & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                  ((r & (POLLERR | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
  }
  if (p != some) free(p);
  return ready > 0 ? ready : 0;
}

/* the ready sockets and a due timer, without waiting */
static int l_perform(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  int running = 0;
  if (c->multi) {
    kd_loop *lp = &c->loop;
    size_t i = 0;
    if (scan(c, 0) < 0) return luaL_error(L, "kadoa: out of memory");
    running = c->loop.running;
    /* an action may add or drop sockets: look again from the start */
    while (i < lp->n) {
      kd_sock *k = &lp->s[i];
      if (k->revents && !k->closed) {
        int ev = k->revents;
        k->revents = 0;
        running = act(c, k->fd, ev);
        i = 0;
      } else {
        i++;
      }
    }
    if (lp->due >= 0 && lp->due <= kd_now()) running = act(c, CURL_SOCKET_TIMEOUT, 0);
  }
  lua_pushinteger(L, running);
  push_finished(L, c);
  return 2;
}

static int l_wait(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  lua_Number ms = luaL_optnumber(L, 2, 1000);
  lua_Integer t;
  int n = 0;
  if (ms < 0) ms = 0;
  if (ms > 86400000) ms = 86400000;
  if (c->multi) {
    t = timer_ms(c);
    if (t >= 0 && (lua_Number)t < ms) ms = (lua_Number)t;
    if ((n = scan(c, (int)ms)) < 0) return luaL_error(L, "kadoa: out of memory");
  }
  lua_pushinteger(L, n);
  return 1;
}

static int l_timeout(lua_State *L) {
  lua_pushinteger(L, timer_ms(kd_check_client(L, 1)));
  return 1;
}

static int l_changes(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  int n = 0;
  size_t i;
  lua_newtable(L);
  if (c->multi) {
    kd_loop *lp = &c->loop;
    lp->external = 1;
    for (i = 0; i < lp->n; i++) {
      kd_sock *k = &lp->s[i];
      if (!k->dirty) continue;
      k->dirty = 0;
      if (k->want) k->told = 1;
      lua_pushinteger(L, (lua_Integer)k->fd);
      lua_rawseti(L, -2, ++n);
      lua_pushinteger(L, k->want);
      lua_rawseti(L, -2, ++n);
    }
  }
  lua_pushinteger(L, timer_ms(c));
  return 2;
}

/* client:release(): the loop let go of every socket reported as want 0 */
static int l_release(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  size_t i = 0;
  while (i < c->loop.n) {
    kd_sock *k = &c->loop.s[i];
    if (k->told && k->want == 0 && !k->dirty) {
      if (k->closed) close(k->fd);
      drop_sock(&c->loop, k);
    } else {
      i++;
    }
  }
  return 0;
}

/* ev's bits are CURL_CSELECT_IN 1, OUT 2, ERR 4 */
static int l_action(lua_State *L) {
  kd_client *c = kd_check_client(L, 1);
  lua_Integer fd = luaL_checkinteger(L, 2);
  lua_Integer ev = luaL_optinteger(L, 3, 0);
  int running = 0;
  luaL_argcheck(L, ev >= 0 && ev <= 7, 3, "events must be 0..7");
  if (c->multi)
    running = fd < 0 ? act(c, CURL_SOCKET_TIMEOUT, 0) : act(c, (curl_socket_t)fd, (int)ev);
  lua_pushinteger(L, running);
  return 1;
}

static int l_finished(lua_State *L) {
  push_finished(L, kd_check_client(L, 1));
  return 1;
}

/* it does not drive: client:perform() does */
static int l_result(lua_State *L) {
  static const char *const gone[] = {NULL, NULL, "request result was already taken",
                                     "request was cancelled", "client is closed"};
  kd_req *r = check_req(L);
  int n, dec;
  if (r->state == REQ_RUNNING) return 0;
  if (r->state != REQ_DONE) return kd_usage_failure(L, gone[r->state]);
  kd_getuservalue(L, 1);
  lua_rawgeti(L, -1, 1);   /* the client, whose codec decodes */
  dec = kd_push_codec(L, lua_gettop(L));
  n = kd_xfer_push_result(L, r->x, r->rc, r->raw, dec, dec + 1);
  release(r, REQ_TAKEN);
  return n;
}

static int l_done(lua_State *L) {
  lua_pushboolean(L, check_req(L)->state != REQ_RUNNING);
  return 1;
}

/* also __gc and __close */
static int l_cancel(lua_State *L) {
  kd_req *r = check_req(L);
  if (r->state == REQ_RUNNING || r->state == REQ_DONE) release(r, REQ_CANCELLED);
  return 0;
}

static int l_req_tostring(lua_State *L) {
  static const char *names[] = {"running", "done", "taken", "cancelled", "closed"};
  kd_req *r = check_req(L);
  lua_pushfstring(L, "kadoa.request (%s): %p", names[r->state], (void *)r);
  return 1;
}

static const luaL_Reg kd_multi_methods[] = {   /* the client's, added to its class */
  {"start", l_start}, {"perform", l_perform}, {"wait", l_wait}, {"timeout", l_timeout},
  {"changes", l_changes}, {"action", l_action}, {"release", l_release},
  {"finished", l_finished}, {NULL, NULL}
};

static const luaL_Reg req_methods[] = {
  {"result", l_result}, {"done", l_done}, {"cancel", l_cancel}, {NULL, NULL}
};

void kd_open_multi(lua_State *L) {
  lua_pushlightuserdata(L, &REQS_KEY);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  kd_new_class(L, KD_REQ_MT, l_cancel, l_req_tostring, req_methods);
  luaL_getmetatable(L, KD_CLIENT_MT);
  lua_getfield(L, -1, "__index");
  kd_setfuncs(L, kd_multi_methods);
  lua_pop(L, 2);
}
