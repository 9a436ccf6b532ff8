/*
 * kadoa.h: what the C files of kadoa.core share.
 *
 * One job per file: core.c (luaopen, the client's lifecycle and its Lua
 * bindings), route.c (an API path template and the URL of one call),
 * transfer.c (one HTTP exchange on a libcurl easy handle, and the facts of
 * how it ended), outcome.c (those facts as the outcome record Lua gets,
 * the API key redacted from it), sink.c (a 2xx body streamed to a file),
 * multi.c (non-blocking exchanges and their completion queue), rand.c (a
 * client's random source and request ids), decode.c (JSON text to native
 * Lua values), escape.c (pure byte-level helpers: percent-encoding,
 * response-header parsing, scrubbing, buffers; free of Lua and libcurl
 * state so they can be fuzzed alone) and term.c (the controlling terminal:
 * its size and raw mode, for kadoa top).
 */
#ifndef KADOA_H
#define KADOA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <curl/curl.h>

#include "lua.h"
#include "lauxlib.h"

#define KADOA_VERSION "0.2.0"

/* The longest path segment (a session, page or config id) accepted, in
 * bytes (Kadoa's ids are 36-byte UUIDs): anything longer is a usage error,
 * not a multi-megabyte URL. */
#define KD_MAX_ID 4096
#define KD_XSTR(x) #x
#define KD_STR(x) KD_XSTR(x)

/* Lua 5.1 and LuaJIT lack a few 5.2 names; prefixed so they never clash
 * with LuaJIT's own luaL_setfuncs. */
#if LUA_VERSION_NUM < 502
#define kd_rawlen(L, i) lua_objlen((L), (i))
#define kd_getuservalue(L, i) lua_getfenv((L), (i))
#define kd_setuservalue(L, i) ((void)lua_setfenv((L), (i)))
#else
#define kd_rawlen(L, i) lua_rawlen((L), (i))
#define kd_getuservalue(L, i) ((void)lua_getuservalue((L), (i)))
#define kd_setuservalue(L, i) lua_setuservalue((L), (i))
#endif
void kd_setfuncs(lua_State *L, const luaL_Reg *l, int nup);

/* Register metatable `name`: __gc and __close (5.4) unless NULL,
 * __tostring, and an __index of every method list in `methods`
 * (NULL-terminated). */
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

/* Percent-encode `n` bytes of `in` as one URL path segment (or one query
 * name or value) into `out`, which must hold 3*n bytes. Only ALPHA, DIGIT,
 * '-', '_' and '~' stay as they are; everything else (including '.', so
 * ".." can never be a dot segment) becomes %XX. Returns the length. */
size_t kd_escape(char *out, const char *in, size_t n);

/* If the header line `p[0..n)` is `name: value` (name compared without
 * case), store the value with surrounding blanks and CRLF trimmed and
 * return 1; else return 0. */
int kd_header_value(const char *p, size_t n, const char *name,
                    const char **val, size_t *vlen);

/* Retry-After as seconds from `now`: delta-seconds or an HTTP-date.
 * Returns -1 when absent or unreadable; a date in the past gives 0. */
double kd_retry_after(const char *v, size_t n, time_t now);

/* Copy a header value into dst (cap bytes), keeping printable ASCII only
 * (it goes to logs); anything else becomes '?'. */
void kd_copy_value(char *dst, size_t cap, const char *v, size_t n);

/* Overwrite n bytes with zeros in a way the compiler may not remove (a
 * memset before free is dead code to an optimiser). */
void kd_scrub(void *p, size_t n);

/* Seconds as whole milliseconds for libcurl: at least 1, at most a year. */
long kd_ms(double s);

/* ---- buffers ---------------------------------------------------------- */

typedef struct kd_buf {
  char *data;
  size_t len, cap;
} kd_buf;

/* escape.c: append n bytes (0, or -1 when out of memory); free. */
int kd_buf_add(kd_buf *b, const char *p, size_t n);
void kd_buf_free(kd_buf *b);

/* ---- sink.c: a body streamed to a file ------------------------------- */

typedef struct kd_sink {
  int active, fd, err, too_large;
  int extract;                /* 1: only the string field `field` goes to the file */
  char field[32];
  size_t field_len;
  size_t written;             /* bytes in the file */
  /* the scanner of the answer's top level */
  int depth, in_str, esc, in_field, done, key_state, key_match;
  char key[32];
  size_t klen;
  int nhex;
  unsigned long cp, high;
  size_t olen;
  char out[16384];
} kd_sink;

/* Open `path` (never through a symbolic link) for a whole body, or for the
 * string field `field` of a JSON answer. Returns 0, or -1 (k->err). */
int kd_sink_open(kd_sink *k, const char *path, const char *field);
/* Stream n bytes; what is not extracted goes to `rest` (max bytes in all). */
int kd_sink_feed(kd_sink *k, kd_buf *rest, size_t max, const char *p, size_t n);
int kd_sink_close(kd_sink *k);
/* Write all n bytes to fd, again where a signal cut a write short (also for
 * core.private_file). Returns 0, or -1 (errno; EIO for a write of 0). */
int kd_write_all(int fd, const char *p, size_t n);

/* ---- route.c: an API path template ------------------------------------ */

enum { KD_GET, KD_POST, KD_DELETE };

#define KD_MAX_SEGS 4

/* "/v4/crawl/{session id}/pages/{page id}": literal pieces around named
 * segments. Made once per API call (core.route), shared by every client. */
typedef struct kd_route {
  int method;
  int nsegs;
  const char *lit[KD_MAX_SEGS + 1];   /* into text[] */
  size_t litlen[KD_MAX_SEGS + 1];
  const char *name[KD_MAX_SEGS];      /* "session id", for messages */
  char text[1];                       /* the template's pieces, NUL-separated */
} kd_route;

#define KD_ROUTE_MT "kadoa.route"

kd_route *kd_check_route(lua_State *L, int i);
int kd_route_new(lua_State *L);        /* core.route(method, template) */
int kd_route_tostring(lua_State *L);

/* What a call adds to its route: the values of the route's segments
 * (stack indices), an optional query (a Lua array name, value, ...), an
 * optional JSON body, and whether the body comes back raw. */
typedef struct kd_call {
  const kd_route *route;
  int seg;          /* stack index of the first segment value */
  int query;        /* stack index of the query array, 0: none */
  const char *body; /* NULL: none */
  size_t body_len;
  int raw;
  long timeout_ms;  /* 0: the client's */
  const char *file; /* stream a 2xx body to this file, */
  const char *field;/* or only this string field of its JSON */
} kd_call;

/* Read `route, timeout, extra, seg...` from the stack at index i into
 * *call. Returns NULL, or the usage message for a bad segment (empty, too
 * long). Raises for programming mistakes (a wrong type). */
const char *kd_read_call(lua_State *L, int i, kd_call *call);

/* Write base + path (+ query) of `call` into u. Returns 0, or -1 when out
 * of memory. */
int kd_build_url(lua_State *L, kd_buf *u, const char *base, size_t blen, const kd_call *call);

/* ---- transfer.c: one exchange on one easy handle ---------------------- */

struct kd_config;

/* A transfer: an easy handle with everything one request needs, reused
 * from request to request so connections and buffers are kept. */
typedef struct kd_xfer {
  CURL *easy;
  struct curl_slist *headers; /* owned; the request-id line is rewritten in place */
  struct curl_slist *json;    /* Content-Type and Expect lines, then `headers` */
  char *reqid;                /* the 36 uuid characters inside that line */
  const struct kd_config *cfg;
  int method;                 /* what the handle is set up for now */
  kd_buf body;
  size_t max_body;
  int too_large;
  int oom;
  kd_sink *sink;              /* when the body goes to a file; NULL otherwise */
  int sink_checked;           /* the status was looked at (only a 2xx goes there) */
  int unlimited;              /* MAXFILESIZE is off for this request */
  double retry_after;         /* seconds, -1 when the server sent none */
  char request_id[128];       /* the server's x-request-id / x-amzn-requestid */
  char content_type[128];
  char errbuf[CURL_ERROR_SIZE];
  struct kd_xfer *next_idle;  /* the client's pool of idle transfers */
} kd_xfer;

/* The settings every transfer of a client shares. */
typedef struct kd_config {
  char *key;                 /* the API key, for redaction; scrubbed when freed */
  size_t key_len;
  char *api_key_header;      /* "x-api-key: ..."; scrubbed when freed */
  char *base;                /* base_url, no trailing slash */
  size_t base_len;
  char *user_agent_header;   /* "User-Agent: ..." */
  char *ca_file;             /* NULL: the system's store */
  long timeout_ms;
  long connect_timeout_ms;
  size_t max_body;
  uint64_t rng[2];           /* request ids and retry jitter */
  kd_buf url;                /* scratch for building URLs */
} kd_config;

/* Set up `x` for `cfg`. Returns 0, or -1 when out of memory (whatever
 * was made is freed by kd_xfer_free, which is always safe to call). */
int kd_xfer_init(kd_xfer *x, kd_config *cfg, CURLSH *share);
void kd_xfer_free(kd_xfer *x);

/* Point `x` at `call` with a fresh request id. Returns 0, -1 when out of
 * memory, or an errno when its file cannot be opened. */
int kd_xfer_prepare(lua_State *L, kd_xfer *x, kd_config *cfg, const kd_call *call);

/* Push what the finished exchange means for Lua: the decoded table (or the
 * body string when `raw`), or nil and its outcome record. Returns the number
 * of values pushed. Stack slots `dec` and `null` hold the decoder and its
 * null value. */
int kd_xfer_push_result(lua_State *L, kd_xfer *x, CURLcode rc, int raw, int dec, int null);

/* Drop per-exchange state (keeps the buffer's memory unless it grew big). */
void kd_xfer_reset(kd_xfer *x);

/* ---- outcome.c: the outcome record ------------------------------------ */

/* The facts of one finished exchange, from libcurl (kd_xfer_push_result)
 * or from another host's transport (client:finish). No wording: Lua's
 * errors.lua makes the kind and message from the record. */
typedef struct kd_outcome {
  long status;                /* 0: no answer */
  const char *body;
  size_t len;
  const char *content_type;   /* "" or NULL when none */
  const char *request_id;     /* "" or NULL when none */
  double retry_after;         /* -1: none */
  double elapsed;
  int sent;                   /* a failure: may the request have left? */
  int curl;                   /* the CURLcode of a failed transfer, 0: none */
  size_t max_body;            /* too_large: the limit the body crossed */
  size_t size;                /* a body that would not decode: its bytes */
  const char *file;           /* io: the path, when known */
  const struct kd_config *cfg; /* the key to redact; may be NULL */
} kd_outcome;

/* What an answer means for Lua: the decoded table (the body string when
 * `raw`), or nil and a record. Stack slots `dec` and `null` hold the
 * decoder and its null. Returns the number of values pushed. */
int kd_push_outcome(lua_State *L, const kd_outcome *o, int raw, int dec, int null);

/* nil and the record of a failure: `failure` is its class (errors.lua's
 * table of failures lists them), `detail` what the layer below said, or
 * NULL. Returns 2. */
int kd_push_failure(lua_State *L, const kd_outcome *o, const char *failure, const char *detail);

/* nil and a usage record (a call refused before it started). */
int kd_usage_failure(lua_State *L, const char *msg);
/* What a failed kd_xfer_prepare means: out of memory (raises) or a file
 * that cannot be written (nil and an io record). */
int kd_prepare_failed(lua_State *L, int e, const char *file);

/* Push s[0..n) with every occurrence of the client's key replaced. */
void kd_push_redacted(lua_State *L, const struct kd_config *cfg, const char *s, size_t n);

/* ---- rand.c: a client's random source --------------------------------- */

void kd_seed(uint64_t rng[2], const void *salt);   /* from /dev/urandom */
uint64_t kd_random(uint64_t s[2]);                  /* xorshift128+ */
void kd_request_id(char *out, uint64_t rng[2]);     /* 36 chars, no NUL */
int kd_token(lua_State *L);                        /* core.token: a secret, hex */

/* ---- core.c / multi.c: the client and its non-blocking requests ----- */

struct kd_req;

typedef struct kd_client {
  kd_config cfg;
  kd_xfer main;            /* the blocking fetch's transfer, made on first use */
  CURLM *multi;            /* made on first start() */
  CURLSH *share;           /* DNS and TLS sessions for all of the client's handles */
  kd_xfer *idle;           /* transfers kept for the next start() */
  struct kd_req *active;   /* requests started and not yet taken or cancelled */
  struct kd_req *done_head, *done_tail;   /* finished, not yet reported by perform */
  struct kd_loop *loop;    /* multi.c: the sockets and timer libcurl asked for */
  int closed;
} kd_client;

#define KD_CLIENT_MT "kadoa.client"
#define KD_REQ_MT "kadoa.request"

kd_client *kd_check_client(lua_State *L, int i);

/* Push the client's decoder and null (from its user value) and return the
 * index of the decoder; the null is just above it. */
int kd_push_codec(lua_State *L, int client);

/* Register the request metatable. */
void kd_open_multi(lua_State *L);
/* The client methods multi.c adds: start, perform, wait, timeout. */
extern const luaL_Reg kd_multi_methods[];
/* Cancel every request of `c` and free the multi machinery. */
void kd_multi_cleanup(kd_client *c);

/* ---- term.c: the terminal (size, raw mode) ---------------------------- */

int kd_term_size(lua_State *L);   /* core.term_size() */
int kd_isatty(lua_State *L);      /* core.isatty(fd) */
int kd_terminal(lua_State *L);    /* core.terminal() */
/* Register the tty metatable. */
void kd_open_term(lua_State *L);

/* ---- decode.c --------------------------------------------------------- */

/* Decode the JSON text s[0..n) with the decode function at absolute stack
 * index `dec` (whose null value is at absolute index `null`). On success leave the normalised
 * value on the stack and return 1; on failure leave a message and return
 * 0, or -1 when the decoder ran out of memory. */
int kd_decode(lua_State *L, int dec, int null, const char *s, size_t n);

#endif
