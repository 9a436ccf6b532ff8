/*
 * fuzz_headers.c: the response-header parsers, kd_header_value and
 * kd_retry_after, on arbitrary header lines.
 *
 * The input is cut into lines at '\n' (each line keeps its "\r\n", as
 * libcurl hands them over) and every line is tried against each header
 * name the core looks for. Properties:
 *  - a match points inside the line, with no blank at either end, and only
 *    when the line starts with the name (any case) and a colon;
 *  - Retry-After is -1 (unreadable) or a finite number of seconds, 0 or
 *    more; all digits means exactly that number (saturating near 1e10),
 *    digits followed by anything else are unreadable;
 *  - nothing reads outside the line (ASan).
 * The whole input is also given to kd_retry_after as one value.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kadoa.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *names[] = {
  "x-request-id", "x-amzn-requestid", "content-type", "retry-after", NULL
};

/* Mon, 01 Jan 2024 00:00:00 GMT: a fixed "now" keeps runs reproducible */
#define NOW ((time_t)1704067200)

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static void check_retry_after(const char *v, size_t n) {
  double s = kd_retry_after(v, n, NOW);
  size_t i;
  int digits = n > 0;
  FZ_CHECK(s == -1 || (s >= 0 && isfinite(s)), "Retry-After negative or not finite");
  for (i = 0; i < n; i++)
    if (v[i] < '0' || v[i] > '9') digits = 0;
  if (digits && n <= 9) {
    double want = 0;
    for (i = 0; i < n; i++) want = want * 10 + (v[i] - '0');
    FZ_CHECK(s == want, "delta-seconds misread");
  }
  if (digits) FZ_CHECK(s <= 1e10, "delta-seconds not saturated");
  if (n > 0 && v[0] >= '0' && v[0] <= '9' && !digits)
    FZ_CHECK(s == -1, "digits followed by junk accepted");
}

static void check_line(const char *p, size_t n) {
  int k;
  for (k = 0; names[k]; k++) {
    const char *v = NULL;
    size_t vlen = 0, len = strlen(names[k]), i;
    int hit = kd_header_value(p, n, names[k], &v, &vlen);
    int expect = n > len && p[len] == ':';
    for (i = 0; expect && i < len; i++)
      if (lower((unsigned char)p[i]) != names[k][i]) expect = 0;
    FZ_CHECK(hit == expect, "header name matched wrongly");
    if (!hit) continue;
    FZ_CHECK(v >= p + len + 1 && v + vlen <= p + n, "value outside the line");
    if (vlen > 0) FZ_CHECK(!blank(v[0]) && !blank(v[vlen - 1]), "value not trimmed");
    if (k == 3) check_retry_after(v, vlen);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a heap copy of exactly `size` bytes, so ASan sees any overread */
  char *buf = malloc(size ? size : 1);
  size_t start = 0, i;
  FZ_CHECK(buf != NULL, "malloc");
  memcpy(buf, data, size);
  for (i = 0; i < size; i++) {
    if (buf[i] == '\n') {
      check_line(buf + start, i + 1 - start);
      start = i + 1;
    }
  }
  if (start < size) check_line(buf + start, size - start);
  check_retry_after(buf, size);
  free(buf);
  return 0;
}
