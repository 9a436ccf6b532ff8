/*
 * fuzz_sink.c: a page's content streamed from its JSON answer into a file
 * (kd_sink_feed in src/sink.c), on any bytes cut into any chunks.
 *
 *   byte 0     chunk size for the feed (0: all at once)
 *   the rest   the answer
 *
 * Properties:
 *  - it never crashes, never writes past its buffers, and never keeps more
 *    than `max` bytes of the rest in memory;
 *  - when the answer is JSON that lua-cjson reads and names "payload" once,
 *    with a string: the file holds exactly that string (escapes decoded,
 *    surrogate pairs joined), and the rest decodes to the same document
 *    with "" in its place;
 *  - the result does not depend on how the bytes were cut.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "kadoa.h"
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static char *read_all(size_t *n) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long len;
  FZ_CHECK(f != NULL, "the file is not there");
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)len + 1);
  FZ_CHECK(buf && fread(buf, 1, (size_t)len, f) == (size_t)len, "read");
  fclose(f);
  *n = (size_t)len;
  return buf;
}

/* Feed the answer in chunks of `chunk`; returns the rest (caller frees). */
static int feed(const char *doc, size_t size, size_t chunk, kd_buf *rest, kd_sink *k) {
  size_t off = 0;
  FZ_CHECK(kd_sink_open(k, path, "payload") == 0, "open");
  while (off < size) {
    size_t m = chunk ? chunk : size;
    if (m > size - off) m = size - off;
    if (kd_sink_feed(k, rest, 1 << 20, doc + off, m) != 0) {
      kd_sink_close(k);
      return -1;
    }
    FZ_CHECK(rest->len <= (1 << 20), "rest beyond max");
    off += m;
  }
  FZ_CHECK(kd_sink_close(k) == 0, "close");
  return 0;
}

static const char *CHECK =
  "local doc, rest, file = ...\n"
  "local cjson = require('cjson.safe')\n"
  "local d = cjson.decode(doc)\n"
  "if type(d) ~= 'table' or type(d.payload) ~= 'string' then return end\n"
  "local _, count = doc:gsub('\"payload\"', '')\n"
  "if count ~= 1 then return end\n"
  "assert(file == d.payload, 'the file is not the payload')\n"
  "local r = assert(cjson.decode(rest), 'the rest is no longer JSON')\n"
  "assert(r.payload == '', 'the payload is still in the rest')\n"
  "for k, v in pairs(d) do\n"
  "  if k ~= 'payload' and type(v) ~= 'table' then assert(r[k] == v, 'a field changed: ' .. k) end\n"
  "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fz_lua();
  kd_sink *k1 = malloc(sizeof *k1), *k2 = malloc(sizeof *k2);
  kd_buf r1 = {NULL, 0, 0}, r2 = {NULL, 0, 0};
  const char *doc = (const char *)data + 1;
  size_t n = size ? size - 1 : 0, f1n, f2n;
  int a, b;
  char *f1, *f2;
  if (size < 1 || !k1 || !k2) {
    free(k1);
    free(k2);
    return 0;
  }
  if (!path[0]) snprintf(path, sizeof path, "/tmp/kadoa-fuzz-sink-%ld", (long)getpid());

  a = feed(doc, n, data[0], &r1, k1);
  f1 = read_all(&f1n);
  b = feed(doc, n, 0, &r2, k2);
  f2 = read_all(&f2n);
  FZ_CHECK(a == b, "the cut changed success");
  if (a == 0) {
    FZ_CHECK(f1n == f2n && memcmp(f1, f2, f1n) == 0, "the cut changed the file");
    FZ_CHECK(r1.len == r2.len && (r1.len == 0 || memcmp(r1.data, r2.data, r1.len) == 0),
             "the cut changed the rest");
    lua_settop(L, 0);
    FZ_CHECK(luaL_loadstring(L, CHECK) == 0, "CHECK does not compile");
    lua_pushlstring(L, doc, n);
    lua_pushlstring(L, r1.data ? r1.data : "", r1.len);
    lua_pushlstring(L, f1, f1n);
    if (lua_pcall(L, 3, 0, 0) != 0) {
      fprintf(stderr, "sink: %s\n", lua_tostring(L, -1));
      FZ_CHECK(0, "a property of the extraction broke");
    }
    lua_settop(L, 0);
  }
  free(f1);
  free(f2);
  kd_buf_free(&r1);
  kd_buf_free(&r2);
  free(k1);
  free(k2);
  return 0;
}
