/*
 * escape.c: the core's byte helpers (percent-encoding, header values,
 * Retry-After, scrubbing, buffers), apart from Lua and libcurl handles so
 * the fuzz harnesses drive them directly. Nothing a server sent is trusted.
 */
#include <stdlib.h>
#include <string.h>

#include "kadoa.h"

static const char hex[] = "0123456789ABCDEF";

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~';
}

size_t kd_escape(char *out, const char *in, size_t n) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (unreserved(c)) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  return o;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int blank(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int kd_header_value(const char *p, size_t n, const char *name,
                    const char **val, size_t *vlen) {
  size_t k = strlen(name), i;
  if (n <= k || p[k] != ':') return 0;
  for (i = 0; i < k; i++)
    if (lower((unsigned char)p[i]) != name[i]) return 0;
  p += k + 1;
  n -= k + 1;
  while (n > 0 && blank((unsigned char)p[0])) p++, n--;
  while (n > 0 && blank((unsigned char)p[n - 1])) n--;
  *val = p;
  *vlen = n;
  return 1;
}

double kd_retry_after(const char *v, size_t n, time_t now) {
  char date[64];
  size_t i;
  time_t t;
  if (n == 0) return -1;
  if (v[0] >= '0' && v[0] <= '9') {
    double s = 0;
    for (i = 0; i < n; i++) {
      if (v[i] < '0' || v[i] > '9') return -1;
      if (s < 1e9) s = s * 10 + (v[i] - '0');  /* saturate: no overflow */
    }
    return s;
  }
  if (n >= sizeof date) return -1;
  memcpy(date, v, n);
  date[n] = '\0';
  t = curl_getdate(date, NULL);
  if (t == (time_t)-1) return -1;
  return t > now ? (double)(t - now) : 0;
}

void kd_copy_value(char *dst, size_t cap, const char *v, size_t n) {
  size_t i;
  if (n >= cap) n = cap - 1;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  dst[n] = '\0';
}

/* writes through a volatile pointer cannot be optimised away, unlike a
 * memset right before free */
void kd_scrub(void *p, size_t n) {
  volatile unsigned char *v = (volatile unsigned char *)p;
  while (n--) *v++ = 0;
}

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
  if (!p) return 0;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void kd_buf_free(kd_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
