/*
 * kadoa.h: what the C files of kadoa.core share.
 *
 * The core is four files, one job each: core.c (the Lua bindings and the
 * client's lifecycle), transfer.c (one HTTP exchange on a libcurl easy
 * handle), decode.c (JSON text to native Lua values) and escape.c (the
 * pure byte-level helpers: id encoding and response-header parsing, kept
 * free of Lua and libcurl state so they can be fuzzed alone).
 */
#ifndef KADOA_H
#define KADOA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <curl/curl.h>

#include "lua.h"
#include "lauxlib.h"

#define KADOA_VERSION "0.1.0"

/* The longest session id accepted, in bytes (Kadoa's are 36-byte UUIDs):
 * anything longer is a usage error, not a multi-megabyte URL. */
#define KD_MAX_ID 4096
#define KD_XSTR(x) #x
#define KD_STR(x) KD_XSTR(x)

/* Lua 5.1 and LuaJIT lack a few 5.2 names; prefixed so they never clash
 * with LuaJIT's own luaL_setfuncs. */
#if LUA_VERSION_NUM < 502
#define kd_rawlen(L, i) lua_objlen((L), (i))
#else
#define kd_rawlen(L, i) lua_rawlen((L), (i))
#endif
void kd_setfuncs(lua_State *L, const luaL_Reg *l, int nup);

/* Register metatable `name`: __gc, __close (5.4), __tostring, and an
 * __index of every method list in `methods` (NULL-terminated), each method
 * with the value at the top of the stack as its upvalue. */
void kd_new_class(lua_State *L, const char *name, lua_CFunction gc,
                  lua_CFunction close, lua_CFunction tostring,
                  const luaL_Reg *const *methods);

/* The module is built with hidden visibility: this is its one export. */
#if defined(__GNUC__)
#define KD_EXPORT __attribute__((visibility("default")))
#else
#define KD_EXPORT
#endif
KD_EXPORT int luaopen_kadoa_core(lua_State *L);

/* ---- escape.c: pure helpers over bytes -------------------------------- */

/* Percent-encode `n` bytes of `in` as one URL path segment into `out`,
 * which must hold 3*n bytes. Only ALPHA, DIGIT, '-', '_' and '~' stay as
 * they are; everything else (including '.', so ".." can never be a dot
 * segment) becomes %XX. Returns the encoded length. */
size_t kd_escape(char *out, const char *in, size_t n);

/* If the header line `p[0..n)` is `name: value` (name compared without
 * case), store the value with surrounding blanks and CRLF trimmed and
 * return 1; else return 0. */
int kd_header_value(const char *p, size_t n, const char *name,
                    const char **val, size_t *vlen);

/* Retry-After as seconds from `now`: delta-seconds or an HTTP-date.
 * Returns -1 when absent or unreadable; a date in the past gives 0. */
double kd_retry_after(const char *v, size_t n, time_t now);

/* ---- transfer.c: one exchange on one easy handle ---------------------- */

typedef struct kd_buf {
  char *data;
  size_t len, cap;
} kd_buf;

int kd_buf_add(kd_buf *b, const char *p, size_t n);
void kd_buf_free(kd_buf *b);

struct kd_client;

/* A transfer: an easy handle with everything one request needs, reused
 * from request to request so connections and buffers are kept. */
typedef struct kd_xfer {
  CURL *easy;
  struct curl_slist *headers; /* owned; the request-id line is rewritten in place */
  char *reqid;                /* the 36 uuid characters inside that line */
  kd_buf body;
  size_t max_body;
  int too_large;
  int oom;
  double retry_after;         /* seconds, -1 when the server sent none */
  char request_id[128];       /* the server's x-request-id / x-amzn-requestid */
  char content_type[128];
  char errbuf[CURL_ERROR_SIZE];
  struct kd_xfer *next_idle;  /* the client's pool of idle transfers */
} kd_xfer;

/* The settings every transfer of a client shares. */
typedef struct kd_config {
  char *api_key_header;      /* "x-api-key: ..." */
  char *prefix;              /* base_url + "/v4/crawl/" */
  size_t prefix_len;
  char *user_agent_header;   /* "User-Agent: ..." */
  char *ca_file;             /* NULL: the system's store */
  long timeout_ms;
  long connect_timeout_ms;
  size_t max_body;
  uint64_t rng[2];           /* request ids */
  kd_buf url;                /* scratch for building URLs */
} kd_config;

/* Set up `x` for `cfg`. Returns 0, or -1 when out of memory (whatever
 * was made is freed by kd_xfer_free, which is always safe to call). */
int kd_xfer_init(kd_xfer *x, kd_config *cfg, CURLSH *share);
void kd_xfer_free(kd_xfer *x);

/* Point `x` at the status URL of `id` with a fresh request id and a
 * whole-request timeout of `timeout_ms` (0: the client's). Returns 0, or
 * -1 when out of memory. */
int kd_xfer_prepare(kd_xfer *x, kd_config *cfg, const char *id, size_t len,
                    long timeout_ms);

/* The optional per-request timeout argument (seconds) at stack index i,
 * in ms; 0 when absent. */
long kd_opt_timeout(lua_State *L, int i);

/* Push what the finished exchange means for Lua: the decoded table (or the
 * body string when `raw`), or nil and a report table. Returns the number
 * of values pushed. Stack slot `decoder` holds cjson's decode. */
int kd_xfer_push_result(lua_State *L, kd_xfer *x, CURLcode rc, int raw, int decoder);

/* Drop per-exchange state (keeps the buffer's memory unless it grew big). */
void kd_xfer_reset(kd_xfer *x);

/* ---- core.c / multi.c: the client and its non-blocking requests ----- */

struct kd_req;

typedef struct kd_client {
  kd_config cfg;
  kd_xfer main;            /* the blocking fetch's transfer */
  CURLM *multi;            /* made on first start() */
  CURLSH *share;           /* DNS and TLS sessions for the multi's transfers */
  kd_xfer *idle;           /* transfers kept for the next start() */
  struct kd_req *active;   /* requests started and not yet taken or cancelled */
  int closed;
} kd_client;

#define KD_CLIENT_MT "kadoa.client"
#define KD_REQ_MT "kadoa.request"

kd_client *kd_check_client(lua_State *L, int i);
int kd_usage_failure(lua_State *L, const char *msg);

/* Register the request metatable (decoder at the top of the stack). */
void kd_open_multi(lua_State *L);
/* The client methods multi.c adds: start, perform, wait, timeout. */
extern const luaL_Reg kd_multi_methods[];
/* Cancel every request of `c` and free the multi machinery. */
void kd_multi_cleanup(kd_client *c);

/* ---- decode.c --------------------------------------------------------- */

/* Decode the JSON text s[0..n) with the decode function at stack index
 * `decoder`. On success leave the normalised value on the stack and
 * return 1; on failure leave an error message and return 0. */
int kd_decode(lua_State *L, int decoder, const char *s, size_t n);

#endif
