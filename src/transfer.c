/*
 * transfer.c: one status request on a libcurl easy handle, and what its
 * outcome means.
 *
 * A transfer is set up once (options, header list, buffers) and then
 * reused: each request only changes the URL and the request id, so
 * consecutive requests ride the same connection and allocate nothing in
 * the common case. The same code serves the blocking fetch and the
 * transfers driven by a multi handle.
 *
 * Callbacks never call into Lua, so no Lua error can unwind through
 * libcurl: they only fill buffers and set flags that are read after the
 * transfer is over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kadoa.h"

/* Idle buffers larger than this are released after a request, so one huge
 * response does not pin its memory for the life of the client. */
#define KD_KEEP_BUFFER (256 * 1024)

int kd_buf_add(kd_buf *b, const char *p, size_t n) {
  if (n > b->cap - b->len) {
    size_t cap = b->cap ? b->cap : 4096;
    char *d;
    while (cap - b->len < n) {
      if (cap > ((size_t)-1) / 2) return -1;
      cap *= 2;
    }
    d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void kd_buf_free(kd_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  kd_xfer *x = ud;
  size_t n = size * nmemb;
  if (n > x->max_body - x->body.len) {
    x->too_large = 1;   /* abandon now: returning short aborts the transfer */
    return 0;
  }
  if (kd_buf_add(&x->body, p, n) != 0) {
    x->oom = 1;
    return 0;
  }
  return n;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
  size_t i;
  if (n >= cap) n = cap - 1;
  for (i = 0; i < n; i++) {   /* keep only printable ASCII: it goes to logs */
    unsigned char c = (unsigned char)v[i];
    dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  kd_xfer *x = ud;
  size_t n = size * nmemb, vlen;
  const char *v;
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    /* a new response (after a 1xx): forget the previous one's headers */
    x->request_id[0] = x->content_type[0] = '\0';
    x->retry_after = -1;
    return n;
  }
  /* Every line of every response comes here: the first letter says which
   * of the four headers we read it can be, so most lines cost one test. */
  switch (n > 0 ? p[0] | 0x20 : 0) {
  case 'x':
    if (kd_header_value(p, n, "x-request-id", &v, &vlen) ||
        (!x->request_id[0] && kd_header_value(p, n, "x-amzn-requestid", &v, &vlen)))
      copy_value(x->request_id, sizeof x->request_id, v, vlen);
    break;
  case 'c':
    if (kd_header_value(p, n, "content-type", &v, &vlen))
      copy_value(x->content_type, sizeof x->content_type, v, vlen);
    break;
  case 'r':
    if (kd_header_value(p, n, "retry-after", &v, &vlen))
      x->retry_after = kd_retry_after(v, vlen, time(NULL));
    break;
  default:
    break;
  }
  return n;
}

#define REQID_TEMPLATE "x-request-id: 00000000-0000-4000-8000-000000000000"

/* The Accept-Encoding line libcurl would send for CURLOPT_ACCEPT_ENCODING
 * "": every encoding this libcurl can decode. */
static void accept_encoding_line(char *out, size_t cap) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  char *o = out;
  *o = '\0';
  if (v->features & CURL_VERSION_LIBZ) o += snprintf(o, cap, "deflate, gzip");
  if (v->features & CURL_VERSION_BROTLI)
    o += snprintf(o, cap - (size_t)(o - out), "%sbr", o > out ? ", " : "");
#ifdef CURL_VERSION_ZSTD
  if (v->features & CURL_VERSION_ZSTD)
    o += snprintf(o, cap - (size_t)(o - out), "%szstd", o > out ? ", " : "");
#endif
}

int kd_xfer_init(kd_xfer *x, kd_config *cfg, CURLSH *share) {
  CURL *e;
  struct curl_slist *l;
  char ae[96];
  memset(x, 0, sizeof *x);
  x->retry_after = -1;
  x->max_body = cfg->max_body;
  x->easy = e = curl_easy_init();
  if (!e) return -1;

  /* The header list: key, accept, user agent, encodings, and a request id
   * rewritten per request. User-Agent and Accept-Encoding are lines of our
   * own because libcurl formats its own afresh for every request (about
   * 1 us a request together); seeing ours, it adds neither. */
  strcpy(ae, "Accept-Encoding: ");
  accept_encoding_line(ae + strlen(ae), sizeof ae - strlen(ae));
  if (!(l = curl_slist_append(NULL, cfg->api_key_header))) return -1;
  x->headers = l;
  if (!(l = curl_slist_append(x->headers, "Accept: application/json"))) return -1;
  if (!(l = curl_slist_append(x->headers, cfg->user_agent_header))) return -1;
  if (ae[strlen("Accept-Encoding: ")] && !(l = curl_slist_append(x->headers, ae))) return -1;
  if (!(l = curl_slist_append(x->headers, REQID_TEMPLATE))) return -1;
  while (l->next) l = l->next;
  x->reqid = l->data + strlen("x-request-id: ");

  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  /* still set, so libcurl decodes what it is sent in those encodings */
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);          /* hosts own their signals */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);    /* the key stays with its host */
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (cfg->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_body);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  if (share) curl_easy_setopt(e, CURLOPT_SHARE, share);
  return 0;
}

void kd_xfer_free(kd_xfer *x) {
  if (x->easy) curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->headers);
  kd_buf_free(&x->body);
  x->easy = NULL;
  x->headers = NULL;
  x->reqid = NULL;
}

/* xorshift128+: request ids need to be unique, not secret */
static uint64_t next_random(uint64_t s[2]) {
  uint64_t a = s[0], b = s[1];
  s[0] = b;
  a ^= a << 23;
  s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
  return s[1] + b;
}

static void new_request_id(char *out, uint64_t rng[2]) {
  static const char hexd[] = "0123456789abcdef";
  uint64_t r[2];
  unsigned char b[16];
  int i, o = 0;
  r[0] = next_random(rng);
  r[1] = next_random(rng);
  memcpy(b, r, 16);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hexd[b[i] >> 4];
    out[o++] = hexd[b[i] & 15];
  }
}

void kd_xfer_reset(kd_xfer *x) {
  x->too_large = x->oom = 0;
  x->retry_after = -1;
  x->request_id[0] = x->content_type[0] = x->errbuf[0] = '\0';
  if (x->body.cap > KD_KEEP_BUFFER) kd_buf_free(&x->body);
  x->body.len = 0;
}

int kd_xfer_prepare(kd_xfer *x, kd_config *cfg, const char *id, size_t len,
                    long timeout_ms) {
  static const char suffix[] = "/status";
  kd_buf *u = &cfg->url;
  size_t need = cfg->prefix_len + 3 * len + sizeof suffix;
  kd_xfer_reset(x);
  if (need > u->cap) {
    char *d = realloc(u->data, need);
    if (!d) return -1;
    u->data = d;
    u->cap = need;
  }
  memcpy(u->data, cfg->prefix, cfg->prefix_len);
  u->len = cfg->prefix_len + kd_escape(u->data + cfg->prefix_len, id, len);
  memcpy(u->data + u->len, suffix, sizeof suffix);   /* with its NUL */
  if (curl_easy_setopt(x->easy, CURLOPT_URL, u->data) != CURLE_OK) return -1;
  curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : cfg->timeout_ms);
  new_request_id(x->reqid, cfg->rng);
  return 0;
}

/* What a failed transfer is, in the library's own words. */
static const char *curl_kind(CURLcode rc, const kd_xfer *x) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return "timeout";
  case CURLE_FILESIZE_EXCEEDED:
    return "too_large";
  case CURLE_WRITE_ERROR:
    return x->too_large ? "too_large" : "network";
  case CURLE_BAD_CONTENT_ENCODING:
    return "decode";
  case CURLE_OUT_OF_MEMORY:   /* libcurl < 8.6 also says this for a header over 100 KB */
#if LIBCURL_VERSION_NUM >= 0x080600
  case CURLE_TOO_LARGE:
#endif
    return "too_large";
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return "usage";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED:
    return "tls";
  default:
    return "network";
  }
}

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, long v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

/* Seconds the exchange took, so a caller retrying it can keep to its
 * overall budget without reading a clock before every request. */
static double elapsed(const kd_xfer *x) {
  double t = 0;
  curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &t);
  return t;
}

/* nil, { kind = ..., message = ..., status = ..., request_id = ..., elapsed = ... } */
static int push_failure(lua_State *L, const kd_xfer *x, const char *kind,
                        const char *msg, long status) {
  lua_pushnil(L);
  lua_createtable(L, 0, 6);
  set_str(L, "kind", kind);
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  if (status > 0) set_int(L, "status", status);
  if (x->request_id[0]) set_str(L, "request_id", x->request_id);
  if (x->retry_after >= 0) set_num(L, "retry_after", x->retry_after);
  set_num(L, "elapsed", elapsed(x));
  return 2;
}

int kd_xfer_push_result(lua_State *L, kd_xfer *x, CURLcode rc, int raw, int decoder) {
  long status = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);

  if (rc != CURLE_OK) {
    const char *kind = curl_kind(rc, x);
    if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      char n[32];   /* %f would print "8388608.0" on Lua 5.3+ */
      snprintf(n, sizeof n, "%lu", (unsigned long)x->max_body);
      lua_pushfstring(L, "response body larger than max_body (%s bytes)", n);
    } else if (x->oom) {
      lua_pushliteral(L, "out of memory while reading the response");
    } else if (rc == CURLE_OUT_OF_MEMORY && !x->errbuf[0]) {
      lua_pushliteral(L, "response headers too large (over 100 KB), or out of memory");
    } else {
      lua_pushstring(L, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
    push_failure(L, x, kind, lua_tostring(L, -1), status);
    lua_remove(L, -3);
    return 2;
  }

  if (status < 200 || status > 299) {   /* an answer, but not a success */
    lua_pushnil(L);
    lua_createtable(L, 0, 7);
    set_str(L, "kind", "response");
    set_int(L, "status", status);
    lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
    lua_setfield(L, -2, "body");
    if (x->content_type[0]) set_str(L, "content_type", x->content_type);
    if (x->request_id[0]) set_str(L, "request_id", x->request_id);
    if (x->retry_after >= 0) set_num(L, "retry_after", x->retry_after);
    set_num(L, "elapsed", elapsed(x));
    return 2;
  }

  if (raw) {
    lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
    return 1;
  }
  if (x->body.len == 0)
    return push_failure(L, x, "decode", "empty response body", status);
  if (!kd_decode(L, decoder, x->body.data, x->body.len)) {
    lua_pushfstring(L, "invalid JSON in response: %s", lua_tostring(L, -1));
    push_failure(L, x, "decode", lua_tostring(L, -1), status);
    lua_remove(L, -3);
    lua_remove(L, -3);
    return 2;
  }
  if (lua_type(L, -1) != LUA_TTABLE || kd_rawlen(L, -1) > 0) {
    lua_pop(L, 1);
    return push_failure(L, x, "decode", "response is JSON but not an object", status);
  }
  return 1;
}
