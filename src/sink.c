/*
 * sink.c: a 2xx body streamed to a file, or one string field of a JSON
 * answer (a page's `payload`) decoded into it as it arrives, the rest ("" in
 * its place) kept to be decoded: a 1 MiB page costs a 16 KiB buffer. The
 * scanner reads only the top level. Lua renames the file on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "kadoa.h"

int kd_sink_open(kd_sink *k, const char *path, const char *field) {
  memset(k, 0, sizeof *k);
  k->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (k->fd < 0) {
    k->err = errno;
    return -1;
  }
  if ((k->extract = field != NULL)) {
    strncpy(k->field, field, sizeof k->field - 1);   /* the rest stays 0 */
    k->field_len = strlen(k->field);
  }
  return 0;
}

int kd_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int flush(kd_sink *k) {
  if (kd_write_all(k->fd, k->out, k->olen) != 0) {
    k->err = errno;
    return -1;
  }
  k->written += k->olen;
  k->olen = 0;
  return 0;
}

static int put(kd_sink *k, const char *p, size_t n) {
  while (n > 0) {
    size_t room = sizeof k->out - k->olen, m = n < room ? n : room;
    memcpy(k->out + k->olen, p, m);
    k->olen += m;
    p += m;
    n -= m;
    if (k->olen == sizeof k->out && flush(k) != 0) return -1;
  }
  return 0;
}

/* UTF-8 of code point cp: continuation bytes from the end, then the lead */
static int put_cp(kd_sink *k, unsigned long cp) {
  static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
  size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4, i;
  char b[4];
  for (i = n - 1; i > 0; i--, cp >>= 6) b[i] = (char)(0x80 | (cp & 0x3F));
  b[0] = (char)(lead[n] | cp);
  return put(k, b, n);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* One byte of the field's string value (after its opening quote). Returns
 * 1 when the closing quote was seen, 0 to go on, -1 on a write error or
 * a broken escape. */
static int string_byte(kd_sink *k, int c) {
  if (k->nhex > 0) {   /* inside \uXXXX */
    int h = hexval(c);
    if (h < 0) return -1;
    k->cp = (k->cp << 4) | (unsigned long)h;
    if (--k->nhex > 0) return 0;
    if (k->cp >= 0xD800 && k->cp <= 0xDBFF) {   /* a high surrogate: its pair follows */
      k->high = k->cp;
      return 0;
    }
    if (k->cp >= 0xDC00 && k->cp <= 0xDFFF && k->high)
      k->cp = 0x10000 + ((k->high - 0xD800) << 10) + (k->cp - 0xDC00);
    k->high = 0;
    return put_cp(k, k->cp);
  }
  if (k->esc) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *e;
    k->esc = 0;
    if (c == 'u') {
      k->nhex = 4;
      k->cp = 0;
      return 0;
    }
    if (!(e = strchr(from, c)) || c == 0) return -1;
    return put(k, &to[e - from], 1);
  }
  if (c == '\\') {
    k->esc = 1;
    return 0;
  }
  if (c == '"') return 1;
  {
    char b = (char)c;
    return put(k, &b, 1);
  }
}

int kd_sink_feed(kd_sink *k, kd_buf *rest, size_t max, const char *p, size_t n) {
  size_t i, from = 0;
  if (!k->extract) return put(k, p, n);
  for (i = 0; i < n; i++) {
    int c = (unsigned char)p[i];
    if (k->in_field) {
      int r;
      if (!k->esc && !k->nhex) {   /* a run of plain bytes goes out in one piece */
        size_t j = i;
        while (j < n && p[j] != '"' && p[j] != '\\') j++;
        if (j > i && put(k, p + i, j - i) != 0) return -1;
        if (j == n) break;
        i = j;
        c = (unsigned char)p[i];
      }
      r = string_byte(k, c);
      if (r < 0) {
        if (!k->err) k->err = EILSEQ;
        return -1;
      }
      if (r == 1) {   /* the closing quote goes to `rest`, after the opening one */
        k->in_field = 0;
        k->done = 1;
        from = i;
      }
      continue;
    }
    if (k->in_str) {
      if (k->esc) k->esc = 0;
      else if (c == '\\') k->esc = 1;
      else if (c == '"') {
        k->in_str = 0;
        if (k->depth == 1 && k->key_state == 1) {   /* a key at the top ended */
          k->key_state = 2;
          k->key_match = k->klen == k->field_len && memcmp(k->key, k->field, k->klen) == 0;
        }
      } else if (k->depth == 1 && k->key_state == 1) {
        if (k->klen < sizeof k->key) k->key[k->klen] = (char)c;
        k->klen++;
      }
      continue;
    }
    switch (c) {
    case '"':
      if (k->depth == 1 && k->key_state == 3 && k->key_match && !k->done) {
        /* the field's value: its opening quote stays, its content goes */
        if (i + 1 - from > max - rest->len || kd_buf_add(rest, p + from, i + 1 - from) != 0) {
          k->too_large = 1;
          return -1;
        }
        from = i + 1;
        k->in_field = 1;
        k->key_state = 0;
        continue;
      }
      k->in_str = 1;
      if (k->depth == 1 && k->key_state == 0) {
        k->key_state = 1;
        k->klen = 0;
      } else if (k->depth == 1 && k->key_state == 3) {
        k->key_state = 4;   /* a string value */
      }
      break;
    case ':':
      if (k->depth == 1 && k->key_state == 2) k->key_state = 3;
      break;
    case ',':
      if (k->depth == 1) k->key_state = 0;
      break;
    case '{': case '[':
      if (k->depth == 1 && k->key_state == 3) k->key_state = 4;   /* a nested value */
      k->depth++;
      break;
    case '}': case ']':
      k->depth--;
      break;
    default:
      if (k->depth == 1 && k->key_state == 3 && c > ' ') k->key_state = 4;   /* another value */
      break;
    }
  }
  if (k->in_field) from = n;   /* the field's bytes went to the file, not to `rest` */
  if (n - from > max - rest->len || kd_buf_add(rest, p + from, n - from) != 0) {
    k->too_large = 1;
    return -1;
  }
  return 0;
}

int kd_sink_close(kd_sink *k) {
  int r = 0;
  if (k->fd < 0) return 0;
  if (k->olen && flush(k) != 0) r = -1;
  if (close(k->fd) != 0 && !k->err) {
    k->err = errno;
    r = -1;
  }
  k->fd = -1;
  return r;
}
