/*
 * fuzz_escape.c: the session-id percent-encoder (kd_escape).
 *
 * Properties, for any bytes:
 *  - the output is at most 3 bytes per input byte;
 *  - it holds only ALPHA DIGIT '-' '_' '~' and "%XX" (two upper-case hex
 *    digits), so it is one path segment: no '/', '?', '#', '.', and no '%'
 *    that does not start an escape;
 *  - an unreserved byte stays itself and every other byte is escaped (the
 *    encoding is canonical, so the server sees one spelling per id);
 *  - percent-decoding the output gives the input back exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kadoa.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '~';
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;   /* lower case is not what kd_escape writes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *out = malloc(3 * size + 1);
  size_t n, i = 0, o = 0;
  FZ_CHECK(out != NULL, "malloc");
  n = kd_escape(out, (const char *)data, size);
  FZ_CHECK(n <= 3 * size, "output longer than 3 bytes per input byte");
  while (o < n) {
    unsigned char c = (unsigned char)out[o];
    FZ_CHECK(i < size, "output decodes to more bytes than the input");
    if (c == '%') {
      int hi, lo;
      FZ_CHECK(o + 3 <= n, "escape cut short");
      hi = hexval((unsigned char)out[o + 1]);
      lo = hexval((unsigned char)out[o + 2]);
      FZ_CHECK(hi >= 0 && lo >= 0, "'%' not followed by two upper-case hex digits");
      FZ_CHECK((unsigned char)(hi * 16 + lo) == data[i], "escape decodes to another byte");
      FZ_CHECK(!unreserved(data[i]), "an unreserved byte was escaped");
      o += 3;
    } else {
      FZ_CHECK(unreserved(c), "a reserved byte left unescaped");
      FZ_CHECK(c == data[i], "a byte changed");
      o += 1;
    }
    i++;
  }
  FZ_CHECK(i == size, "output decodes to fewer bytes than the input");
  free(out);
  return 0;
}
