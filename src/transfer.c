/*
 * transfer.c: one request of the API on a libcurl easy handle, and the
 * facts of how it ended (outcome.c makes them a record). A transfer is set
 * up once and reused: a GET like the status call changes only the URL and
 * the request id, so it rides the same connection and allocates nothing.
 * Callbacks never call Lua, so no Lua error unwinds through libcurl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kadoa.h"

/* a buffer grown past this is freed after the request, so one huge answer
 * does not pin its memory for the client's life */
#define KD_KEEP_BUFFER (256 * 1024)

static void drop_sink(kd_xfer *x) {
  if (!x->sink) return;
  kd_sink_close(x->sink);
  free(x->sink);
  x->sink = NULL;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  kd_xfer *x = ud;
  size_t n = size * nmemb;
  if (x->sink && !x->sink_checked) {
    /* only a success goes to the file; an error's body is for the message */
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    x->sink_checked = 1;
    if (status < 200 || status > 299) drop_sink(x);
  }
  if (x->sink) {
    if (kd_sink_feed(x->sink, &x->body, x->max_body, p, n) != 0) {
      x->too_large = x->sink->too_large;
      return 0;
    }
    return n;
  }
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
  /* the first letter tells which header it can be: most lines cost one test */
  switch (n > 0 ? p[0] | 0x20 : 0) {
  case 'x':
    if (kd_header_value(p, n, "x-request-id", &v, &vlen) ||
        (!x->request_id[0] && kd_header_value(p, n, "x-amzn-requestid", &v, &vlen)))
      kd_copy_value(x->request_id, sizeof x->request_id, v, vlen);
    break;
  case 'c':
    if (kd_header_value(p, n, "content-type", &v, &vlen))
      kd_copy_value(x->content_type, sizeof x->content_type, v, vlen);
    break;
  case 'r':
    if (kd_header_value(p, n, "retry-after", &v, &vlen))
      x->retry_after = kd_retry_after(v, vlen, time(NULL));
    break;
  }
  return n;
}

#define REQID_TEMPLATE "x-request-id: 00000000-0000-4000-8000-000000000000"

/* what libcurl would send for CURLOPT_ACCEPT_ENCODING "" */
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
  x->max_body = cfg->max_body;
  x->cfg = cfg;
  x->method = KD_GET;
  x->easy = e = curl_easy_init();
  if (!e) return -1;

  /* User-Agent and Accept-Encoding are our own lines: libcurl formats its
   * own afresh per request (about 1 us together); seeing ours, it adds
   * neither. The request id's line is rewritten per request. */
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

  /* a body's two lines, then the same list ("Expect:": no 100-continue) */
  if (!(l = curl_slist_append(NULL, "Content-Type: application/json"))) return -1;
  x->json = l;
  if (!curl_slist_append(x->json, "Expect:")) return -1;
  l->next->next = x->headers;

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
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_body);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  if (share) curl_easy_setopt(e, CURLOPT_SHARE, share);
  return 0;
}

/* zeroed first: one line holds the key */
static void free_lines(struct curl_slist *l) {
  struct curl_slist *p;
  for (p = l; p; p = p->next) kd_scrub(p->data, strlen(p->data));
  curl_slist_free_all(l);
}

void kd_xfer_free(kd_xfer *x) {
  drop_sink(x);
  if (x->easy) curl_easy_cleanup(x->easy);
  if (x->json) {   /* its tail is `headers`, freed below */
    if (x->json->next) x->json->next->next = NULL;
    free_lines(x->json);
  }
  free_lines(x->headers);
  kd_buf_free(&x->body);
  memset(x, 0, sizeof *x);   /* freeing again is safe */
}

void kd_xfer_reset(kd_xfer *x) {
  drop_sink(x);
  x->sink_checked = 0;
  x->too_large = x->oom = 0;
  x->retry_after = -1;
  x->request_id[0] = x->content_type[0] = x->errbuf[0] = '\0';
  if (x->body.cap > KD_KEEP_BUFFER) kd_buf_free(&x->body);
  x->body.len = 0;
}

/* Only when the method changes: a run of GETs sets nothing. A POST may not
 * be safe twice and libcurl resends on a reused connection that turns out
 * dead, so a POST goes out on a fresh one. */
static void set_method(kd_xfer *x, const kd_call *call) {
  CURL *e = x->easy;
  int m = call->route->method;
  if (m == KD_GET && x->method == KD_GET) return;
  if (m == KD_GET) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 0L);
  } else {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, call->body ? call->body : "");
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m == KD_DELETE ? "DELETE" : (char *)NULL);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->body ? x->json : x->headers);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, m == KD_POST ? 1L : 0L);
  }
  x->method = m;
}

int kd_xfer_prepare(lua_State *L, kd_xfer *x, kd_config *cfg, const kd_call *call) {
  kd_xfer_reset(x);
  if (call->file) {
    if (!(x->sink = malloc(sizeof *x->sink))) return -1;
    if (kd_sink_open(x->sink, call->file, call->field) != 0) {
      int e = x->sink->err;
      drop_sink(x);
      return e > 0 ? e : -1;
    }
  }
  /* a file may be larger than what we would hold in memory */
  if ((call->file != NULL) != x->unlimited) {
    x->unlimited = call->file != NULL;
    curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(x->unlimited ? 0 : cfg->max_body));
  }
  if (kd_build_url(L, &cfg->url, cfg->base, cfg->base_len, call) != 0) return -1;
  if (curl_easy_setopt(x->easy, CURLOPT_URL, cfg->url.data) != CURLE_OK) return -1;
  curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, call->timeout_ms > 0 ? call->timeout_ms : cfg->timeout_ms);
  set_method(x, call);
  kd_request_id(x->reqid, cfg->rng);
  return 0;
}

/* a class of errors.lua's failures */
static const char *curl_failure(CURLcode rc) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_COULDNT_CONNECT: return "refused";
  case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
  case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    return "reset";
  case CURLE_WEIRD_SERVER_REPLY: return "protocol";
  case CURLE_BAD_CONTENT_ENCODING: return "encoding";
  case CURLE_OUT_OF_MEMORY:   /* libcurl < 8.6 also says this for a header over 100 KB */
#if LIBCURL_VERSION_NUM >= 0x080600
  case CURLE_TOO_LARGE:
#endif
    return "too_large";
  case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL: return "usage";
  case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED: case CURLE_SSL_ENGINE_INITFAILED: case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_SHUTDOWN_FAILED: case CURLE_USE_SSL_FAILED:
    return "tls";
  default: return "network";
  }
}

/* May a byte of the request have left? libcurl stamps the pretransfer
 * time just before it writes the request. */
static int request_sent(const kd_xfer *x, CURLcode rc) {
  curl_off_t pre = 0;
  if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
      rc == CURLE_COULDNT_CONNECT || rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
    return 0;
  if (curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK) return 1;
  return pre > 0;
}

static int sink_failed(lua_State *L, kd_xfer *x, kd_outcome *o, int err) {
  o->sent = 1;
  drop_sink(x);
  return kd_push_failure(L, o, "io", strerror(err));
}

/* A 2xx body in a file: { bytes = n }; for one field, the rest of the
 * answer decoded with { bytes = n } as the field's value. */
static int push_sunk(lua_State *L, kd_xfer *x, kd_outcome *o, int dec, int null) {
  kd_sink *k = x->sink;
  int n = 1;
  if (kd_sink_close(k) != 0) return sink_failed(L, x, o, k->err);
  if (k->extract && ((n = kd_push_outcome(L, o, 0, dec, null)) != 1 || !k->done)) {
    drop_sink(x);
    return n;
  }
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, (lua_Integer)k->written);
  lua_setfield(L, -2, "bytes");
  if (k->extract) lua_setfield(L, -2, k->field);
  drop_sink(x);
  return 1;
}

int kd_xfer_push_result(lua_State *L, kd_xfer *x, CURLcode rc, int raw, int dec, int null) {
  kd_outcome o;
  memset(&o, 0, sizeof o);
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &o.status);
  o.body = x->body.data ? x->body.data : "";
  o.len = x->body.len;
  o.content_type = x->content_type;
  o.request_id = x->request_id;
  o.retry_after = x->retry_after;
  o.cfg = x->cfg;
  curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &o.elapsed);

  if (rc != CURLE_OK) {
    int big = x->too_large || rc == CURLE_FILESIZE_EXCEEDED;
    if (!big && x->sink && x->sink->err) return sink_failed(L, x, &o, x->sink->err);
    drop_sink(x);
    o.curl = (int)rc;
    o.sent = request_sent(x, rc);
    if (big) {
      o.max_body = x->max_body;
      return kd_push_failure(L, &o, "too_large", NULL);
    }
    if (x->oom) return kd_push_failure(L, &o, "memory", NULL);
    /* no text: libcurl < 8.6's word for a header line over 100 KB */
    return kd_push_failure(L, &o, curl_failure(rc), x->errbuf[0] ? x->errbuf
                           : rc == CURLE_OUT_OF_MEMORY ? NULL : curl_easy_strerror(rc));
  }
  if (x->sink && o.status >= 200 && o.status <= 299) return push_sunk(L, x, &o, dec, null);
  drop_sink(x);
  return kd_push_outcome(L, &o, raw, dec, null);
}
