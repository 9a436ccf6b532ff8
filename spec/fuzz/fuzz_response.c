/*
 * fuzz_response.c: everything the core does with what a server sends back,
 * from header lines to the error value a program sees.
 *
 * transfer.c is compiled into this harness (so its static callbacks are
 * reachable) with curl_easy_getinfo replaced by a stub that reports the
 * status code and time the input chooses. One input is one exchange:
 *
 *   byte 0     the CURLcode the transfer ended with (mod 100)
 *   bytes 1-2  the HTTP status (big endian, mod 1000)
 *   byte 3     flags: 1 raw (status_json), 2 an error text in errbuf,
 *              4 the key is appended to the body, 8 ... to the header block
 *   byte 4     body chunk size for the write callback (0: all at once)
 *   byte 5     max_body: 0 is 1 MiB, n is 8*n bytes
 *   the rest   header lines, a blank line ("\r\n\r\n"), then the body
 *
 * Header lines go through on_header one by one, the body through on_body
 * in chunks (a refused chunk ends the transfer as libcurl would, with
 * CURLE_WRITE_ERROR); then kd_xfer_push_result makes the outcome record
 * (outcome.c) and lua/kadoa/errors.lua turns it into the error value.
 * Properties:
 *  - one result (a table that is a JSON object, or the raw body string)
 *    only for CURLE_OK and a 2xx status; else nil and a record: an answer
 *    (a status and its body, no failure) exactly for CURLE_OK and another
 *    status, else a failure class errors.lua knows;
 *  - no string anywhere in the record holds the key (it is redacted where
 *    the record is made, and nowhere else);
 *  - the body is never kept beyond max_body; header values copied into
 *    the record are short, printable ASCII;
 *  - the error value's kind is a known one and tostring(err) is one line,
 *    at most a few hundred bytes, and never contains the key.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdint.h>
#include <string.h>

static long fz_status;

static CURLcode fz_getinfo(CURL *e, CURLINFO info, void *p) {
  (void)e;
  if (info == CURLINFO_RESPONSE_CODE) *(long *)p = fz_status;
  else if (info == CURLINFO_TOTAL_TIME) *(double *)p = 0.25;
  else return CURLE_UNKNOWN_OPTION;
  return CURLE_OK;
}
#undef curl_easy_getinfo
#define curl_easy_getinfo(e, i, p) fz_getinfo((e), (i), (p))

#include "../../src/transfer.c"
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "sk-fuzz-SECRET-4242"

static char fz_key[] = SECRET;
static kd_config fz_cfg = { fz_key, sizeof fz_key - 1, NULL, NULL, 0, NULL, NULL, 0, 0, 0, {0, 0},
                            {NULL, 0, 0} };

static void printable_field(lua_State *L, int t, const char *name) {
  size_t n, i;
  const char *s;
  lua_getfield(L, t, name);
  if (!lua_isnil(L, -1)) {
    FZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "header field is not a string");
    s = lua_tolstring(L, -1, &n);
    FZ_CHECK(n < 128, "header field too long");
    for (i = 0; i < n; i++)
      FZ_CHECK(s[i] >= 0x20 && s[i] < 0x7f, "header field not printable ASCII");
  }
  lua_pop(L, 1);
}

/* [decoder, xfer*, rc, raw] -> the results of kd_xfer_push_result */
static int run_push(lua_State *L) {
  kd_xfer *x = (kd_xfer *)lua_touserdata(L, 2);
  lua_pushlightuserdata(L, NULL);   /* 5: cjson's null */
  CURLcode rc = (CURLcode)lua_tointeger(L, 3);
  int raw = lua_toboolean(L, 4);
  return kd_xfer_push_result(L, x, rc, raw, 1, 5);
}

/* errors.from_report over the record, then checks on the error value. */
static const char *TO_ERROR =
  "local r, secret = ...\n"
  "local function clean(v, d)\n"
  "  if type(v) == 'string' then assert(not v:find(secret, 1, true), 'the key in the record') end\n"
  "  if type(v) == 'table' and d < 50 then for k, x in pairs(v) do clean(k, d + 1); clean(x, d + 1) end end\n"
  "end\n"
  "clean(r, 0)\n"
  "local errors = require('kadoa.errors')\n"
  "assert(r.failure == nil or errors.failures[r.failure], 'unknown failure ' .. tostring(r.failure))\n"
  "local e = errors.from_report(r)\n"
  "assert(errors.is(e), 'not an error value')\n"
  "assert(errors.kinds[e.kind], 'unknown kind ' .. tostring(e.kind))\n"
  "assert(type(e.message) == 'string', 'message')\n"
  "local s = tostring(e)\n"
  "assert(not s:find('%c'), 'control character in tostring')\n"
  "assert(not s:find(secret, 1, true), 'the key in tostring')\n"
  "assert(not e.message:find(secret, 1, true), 'the key in the message')\n"
  "assert(#e.message <= 303, 'message too long')\n"
  "assert(#s <= 600, 'tostring too long')\n";

static void setup_lua(lua_State *L) {
  static int done;
  if (done) return;
  done = 1;
  lua_getglobal(L, "package");
  lua_pushliteral(L, KADOA_LUA_DIR "/?.lua;" KADOA_LUA_DIR "/?/init.lua");
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  FZ_CHECK(luaL_loadstring(L, TO_ERROR) == 0, "TO_ERROR does not compile");
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.to_error");
}

static void feed_headers(kd_xfer *x, char *p, size_t n) {
  size_t start = 0, i;
  for (i = 0; i < n; i++) {
    if (p[i] == '\n') {
      FZ_CHECK(on_header(p + start, 1, i + 1 - start, x) == i + 1 - start, "on_header refused");
      start = i + 1;
    }
  }
  if (start < n) on_header(p + start, 1, n - start, x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fz_lua();
  kd_xfer x;
  CURLcode rc;
  int flags, raw, nret, t;
  size_t chunk, hlen, blen, off;
  const char *msg, *sep;
  char *head, *body;

  if (size < 6) return 0;
  setup_lua(L);
  rc = (CURLcode)(data[0] % 100);
  fz_status = ((long)data[1] << 8 | data[2]) % 1000;
  flags = data[3];
  raw = flags & 1;
  chunk = data[4];
  memset(&x, 0, sizeof x);
  x.retry_after = -1;
  x.cfg = &fz_cfg;   /* the client's key, so the core redacts as in use */
  x.max_body = data[5] ? (size_t)data[5] * 8 : 1024 * 1024;

  /* split the rest into a header block and a body, each in its own heap
   * copy (with room for the key) so ASan sees any overread */
  msg = (const char *)data + 6;
  size -= 6;
  sep = NULL;
  for (off = 0; off + 4 <= size; off++)
    if (memcmp(msg + off, "\r\n\r\n", 4) == 0) { sep = msg + off; break; }
  hlen = sep ? (size_t)(sep - msg) + 2 : size;
  blen = sep ? size - hlen - 2 : 0;
  head = malloc(hlen + sizeof SECRET + 16);
  body = malloc(blen + sizeof SECRET);
  FZ_CHECK(head && body, "malloc");
  memcpy(head, msg, hlen);
  if (flags & 8) {
    memcpy(head + hlen, "x-request-id: " SECRET "\r\n", strlen(SECRET) + 16);
    hlen += strlen(SECRET) + 16;
  }
  if (sep) memcpy(body, sep + 4, blen);
  if (flags & 4) {
    memcpy(body + blen, SECRET, strlen(SECRET));
    blen += strlen(SECRET);
  }
  if (flags & 2) strcpy(x.errbuf, "error text from libcurl: " SECRET);

  feed_headers(&x, head, hlen);
  for (off = 0; off < blen;) {
    size_t n = chunk ? chunk : blen;
    if (n > blen - off) n = blen - off;
    if (on_body(body + off, 1, n, &x) != n) {
      if (rc == CURLE_OK) rc = CURLE_WRITE_ERROR;
      break;
    }
    off += n;
  }
  FZ_CHECK(x.body.len <= x.max_body, "body kept beyond max_body");
  FZ_CHECK(!x.too_large || rc != CURLE_OK, "too large but OK");

  lua_settop(L, 0);
  lua_pushcfunction(L, run_push);
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.decoder");
  lua_pushlightuserdata(L, &x);
  lua_pushinteger(L, rc);
  lua_pushboolean(L, raw);
  FZ_CHECK(lua_pcall(L, 4, LUA_MULTRET, 0) == 0, "kd_xfer_push_result raised an error");
  nret = lua_gettop(L);
  if (nret == 1) {
    FZ_CHECK(rc == CURLE_OK && fz_status >= 200 && fz_status <= 299, "a result for a failure");
    if (raw) {
      size_t n;
      const char *s = lua_tolstring(L, 1, &n);
      FZ_CHECK(s && n == x.body.len && memcmp(s, x.body.data ? x.body.data : "", n) == 0,
               "raw body changed");
    } else {
      FZ_CHECK(lua_type(L, 1) == LUA_TTABLE && kd_rawlen(L, 1) == 0, "result is not an object");
    }
  } else {
    int answer;
    FZ_CHECK(nret == 2 && lua_isnil(L, 1) && lua_type(L, 2) == LUA_TTABLE, "not nil, record");
    t = 2;
    lua_getfield(L, t, "failure");
    FZ_CHECK(lua_isnil(L, -1) || lua_type(L, -1) == LUA_TSTRING, "failure is not a string");
    answer = lua_isnil(L, -1);
    FZ_CHECK(answer == (rc == CURLE_OK && (fz_status < 200 || fz_status > 299)),
             "an answer's record for the wrong outcome");
    lua_pop(L, 1);
    lua_getfield(L, t, answer ? "body" : "detail");
    FZ_CHECK(lua_type(L, -1) == LUA_TSTRING || (!answer && lua_isnil(L, -1)),
             "an answer without its body, or a detail that is not text");
    lua_pop(L, 1);
    printable_field(L, t, "request_id");
    printable_field(L, t, "content_type");

    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.to_error");
    lua_pushvalue(L, t);
    lua_pushliteral(L, SECRET);
    if (lua_pcall(L, 2, 0, 0) != 0) {
      fprintf(stderr, "errors.lua: %s\n", lua_tostring(L, -1));
      FZ_CHECK(0, "the error value broke a property");
    }
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCSTEP, 0);
  kd_buf_free(&x.body);
  free(head);
  free(body);
  return 0;
}
