/*
 * kadoa.h: what the C files of kadoa.core share (doc/HACKING.md maps each
 * file to its job). A declaration's contract is here; a file's own comments
 * say how.
 */
#ifndef KADOA_H
#define KADOA_H

#include <stdint.h>
#include <time.h>
#include <curl/curl.h>

#include "lua.h"
#include "lauxlib.h"

#define KADOA_VERSION "0.2.0"

/* the longest path segment (ids are 36 bytes): longer is a usage error */
#define KD_MAX_ID 4096

/* 5.2 names Lua 5.1 and LuaJIT lack, prefixed so they never clash with LuaJIT's */
#if LUA_VERSION_NUM < 502
#define kd_rawlen(L, i) lua_objlen((L), (i))
#define kd_getuservalue(L, i) lua_getfenv((L), (i))
#define kd_setuservalue(L, i) ((void)lua_setfenv((L), (i)))
#else
#define kd_rawlen(L, i) lua_rawlen((L), (i))
#define kd_getuservalue(L, i) ((void)lua_getuservalue((L), (i)))
#define kd_setuservalue(L, i) lua_setuservalue((L), (i))
#endif
void kd_setfuncs(lua_State *L, const luaL_Reg *l);

/* metatable `name`: __gc and __close gc (if any), __tostring, __index methods */
void kd_new_class(lua_State *L, const char *name, lua_CFunction gc,
                  lua_CFunction tostring, const luaL_Reg *methods);

/* the one export: the build hides the rest (-fvisibility=hidden: GCC, Clang) */
__attribute__((visibility("default"))) int luaopen_kadoa_core(lua_State *L);

/* ---- escape.c: pure helpers over bytes, fuzzed alone ------------------ */
/* n bytes percent-encoded as one path segment or query word into out (3*n
 * bytes): only ALPHA DIGIT - _ ~ stay, so ".." is never a dot segment. */
size_t kd_escape(char *out, const char *in, size_t n);
/* 1 and the value (blanks trimmed) if p[0..n) is `name: value` (any case), else 0 */
int kd_header_value(const char *p, size_t n, const char *name,
                    const char **val, size_t *vlen);
/* Retry-After (seconds or an HTTP-date) from now: -1 unreadable, 0 a past date */
double kd_retry_after(const char *v, size_t n, time_t now);
/* A header value for logs: at most cap-1 bytes, printable ASCII, else '?'. */
void kd_copy_value(char *dst, size_t cap, const char *v, size_t n);
/* Zero n bytes where the compiler may not drop the write. */
void kd_scrub(void *p, size_t n);
/* Seconds as whole milliseconds for libcurl: at least 1, at most a year. */
long kd_ms(double s);

typedef struct kd_buf {
  char *data;
  size_t len, cap;
} kd_buf;

/* 0, or -1: out of memory; p NULL: only room for n more */
int kd_buf_add(kd_buf *b, const char *p, size_t n);
void kd_buf_free(kd_buf *b);

/* ---- sink.c: a 2xx body streamed to a file ---------------------------- */
typedef struct kd_sink {
  int fd, err, too_large;     /* fd -1: closed */
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

/* path (never through a link) for the body or its string field: 0 or -1 (err) */
int kd_sink_open(kd_sink *k, const char *path, const char *field);
/* what is not extracted goes to rest (max in all): 0 or -1 (err, too_large) */
int kd_sink_feed(kd_sink *k, kd_buf *rest, size_t max, const char *p, size_t n);
int kd_sink_close(kd_sink *k);   /* 0, or -1 (k->err) */
/* Write all n bytes, again after a signal. 0, or -1 (errno; EIO for 0). */
int kd_write_all(int fd, const char *p, size_t n);

/* ---- route.c: an API path template and the URL of one call ------------ */
enum { KD_GET, KD_POST, KD_DELETE };
#define KD_MAX_SEGS 4
#define KD_ROUTE_MT "kadoa.route"

typedef struct kd_route {
  int method;
  int nsegs;
  const char *lit[KD_MAX_SEGS + 1];   /* into text[] */
  size_t litlen[KD_MAX_SEGS + 1];
  const char *name[KD_MAX_SEGS];      /* "session id", for messages */
  char *whole;                        /* "GET /v4/crawl/{session id}" */
  char text[1];                       /* the template's pieces, NUL-separated */
} kd_route;

int kd_route_new(lua_State *L);        /* core.route(method, template) */
int kd_route_tostring(lua_State *L);

typedef struct kd_call {
  const kd_route *route;
  int seg;          /* stack index of the first segment value */
  int query;        /* stack index of the query array { name, value, ... }, 0: none */
  const char *body; /* NULL: none */
  size_t body_len;
  int raw;
  long timeout_ms;  /* 0: the client's */
  const char *file; /* stream a 2xx body to this file, */
  const char *field;/* or only this string field of its JSON */
} kd_call;

/* `route, timeout, extra, seg...` from index i: NULL or a bad segment's usage
 * message; raises for a wrong type */
const char *kd_read_call(lua_State *L, int i, kd_call *call);
/* base + path (+ query) of call into u, NUL-terminated: 0 or -1 (memory) */
int kd_build_url(lua_State *L, kd_buf *u, const char *base, size_t blen, const kd_call *call);

/* ---- transfer.c: one exchange on one easy handle ---------------------- */
/* The settings every transfer of a client shares. */
typedef struct kd_config {
  char *key;                 /* the API key (for redaction), inside api_key_header */
  size_t key_len;
  char *api_key_header;      /* "x-api-key: KEY"; scrubbed when freed */
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

/* An easy handle set up for a client's requests, reused from one to the
 * next so connections and buffers are kept. */
typedef struct kd_xfer {
  CURL *easy;
  struct curl_slist *headers; /* owned; the request-id line is rewritten in place */
  struct curl_slist *json;    /* Content-Type and Expect lines, then `headers` */
  char *reqid;                /* the 36 uuid characters inside that line */
  const kd_config *cfg;
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

/* 0, or -1: out of memory (kd_xfer_free, always safe, frees the rest). */
int kd_xfer_init(kd_xfer *x, kd_config *cfg, CURLSH *share);
void kd_xfer_free(kd_xfer *x);
/* Drop per-exchange state (the buffer's memory stays unless it grew big). */
void kd_xfer_reset(kd_xfer *x);
/* x aimed at call with a fresh request id: 0, -1 (memory) or a file's errno */
int kd_xfer_prepare(lua_State *L, kd_xfer *x, kd_config *cfg, const kd_call *call);
/* as kd_push_outcome, or nil and the record of a failure below HTTP */
int kd_xfer_push_result(lua_State *L, kd_xfer *x, CURLcode rc, int raw, int dec, int null);

/* ---- outcome.c: the outcome record ------------------------------------ */
/* one exchange's facts (libcurl's or client:finish's); errors.lua words them */
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
  const kd_config *cfg;       /* the key to redact; may be NULL */
} kd_outcome;

/* The decoded table (the body string when raw), or nil and a record; slots
 * dec and null hold the decoder and its null. Returns the values pushed. */
int kd_push_outcome(lua_State *L, const kd_outcome *o, int raw, int dec, int null);
/* nil and the record of a failure of class `failure` (errors.lua's table
 * lists them); detail: what the layer below said, or NULL. Returns 2. */
int kd_push_failure(lua_State *L, const kd_outcome *o, const char *failure, const char *detail);
/* nil and a usage record: a call refused before it started. */
int kd_usage_failure(lua_State *L, const char *msg);
/* A failed kd_xfer_prepare: out of memory raises, a file nil and a record. */
int kd_prepare_failed(lua_State *L, int e, const char *file);
/* Push s[0..n) with every occurrence of the client's key replaced. */
void kd_push_redacted(lua_State *L, const kd_config *cfg, const char *s, size_t n);

/* ---- rand.c: a client's random source --------------------------------- */
void kd_seed(uint64_t rng[2], const void *salt);   /* from /dev/urandom */
uint64_t kd_random(uint64_t s[2]);                  /* xorshift128+ */
void kd_request_id(char *out, uint64_t rng[2]);     /* 36 chars, no NUL */
int kd_token(lua_State *L);                         /* core.token */

/* ---- core.c, multi.c: the client and its non-blocking requests -------- */
/* multi.c: the sockets (struct kd_sock there) and timer libcurl asked for */
typedef struct kd_loop {
  struct kd_sock *s;
  size_t n, cap;
  double due;              /* monotonic seconds when curl's timer falls due; <0 none */
  int running;             /* transfers running after the last action */
  int timer_calls;
  int external;            /* changes() was called: a loop outside watches sockets */
} kd_loop;

typedef struct kd_client {
  kd_config cfg;
  kd_xfer main;            /* the blocking fetch's transfer, made on first use */
  CURLM *multi;            /* made on first start() */
  CURLSH *share;           /* DNS and TLS sessions for all of the client's handles */
  kd_xfer *idle;           /* transfers kept for the next start() */
  struct kd_req *active;   /* requests started and not yet taken or cancelled */
  struct kd_req *done_head, *done_tail;   /* finished, not yet reported */
  kd_loop loop;
  int closed;
} kd_client;

#define KD_CLIENT_MT "kadoa.client"

kd_client *kd_check_client(lua_State *L, int i);
/* Push the client's decoder, then its null; returns the decoder's index. */
int kd_push_codec(lua_State *L, int client);
/* The request class, and the client's methods for it (start, perform...). */
void kd_open_multi(lua_State *L);
/* Cancel every request of c and free the multi machinery. */
void kd_multi_cleanup(kd_client *c);
double kd_now(void);   /* monotonic seconds */

/* ---- term.c: the terminal --------------------------------------------- */
int kd_term_size(lua_State *L);   /* core.term_size() */
int kd_isatty(lua_State *L);      /* core.isatty(fd) */
int kd_terminal(lua_State *L);    /* core.terminal() */
void kd_open_term(lua_State *L);  /* the tty class */

/* ---- decode.c --------------------------------------------------------- */
/* s[0..n) through the decoder at absolute index dec (its null at null),
 * normalised: 1 and the value, or 0 (bad JSON) or -1 (memory) and a message */
int kd_decode(lua_State *L, int dec, int null, const char *s, size_t n);

#endif
