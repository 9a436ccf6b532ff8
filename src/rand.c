/*
 * rand.c: a client's random source (xorshift128+ seeded from the OS) and
 * the version 4 UUIDs every request sends: unique and spread, not secret.
 * A secret (core.token) is read from the OS every time, with no fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kadoa.h"

static const char hexd[] = "0123456789abcdef";

void kd_seed(uint64_t rng[2], const void *salt) {
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(rng, sizeof(uint64_t), 2, f) != 2) {
    rng[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng[1] = (uint64_t)(uintptr_t)salt ^ (uint64_t)clock();
  }
  if (f) fclose(f);
  if (!rng[0] && !rng[1]) rng[1] = 0x9e3779b97f4a7c15ULL;
}

uint64_t kd_random(uint64_t s[2]) {
  uint64_t a = s[0], b = s[1];
  s[0] = b;
  a ^= a << 23;
  s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
  return s[1] + b;
}

void kd_request_id(char *out, uint64_t rng[2]) {
  uint64_t r[2];
  unsigned char b[16];
  int i, o = 0;
  r[0] = kd_random(rng);
  r[1] = kd_random(rng);
  memcpy(b, r, 16);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hexd[b[i] >> 4];
    out[o++] = hexd[b[i] & 15];
  }
}

/* core.token([nbytes]) -> hex | nil, message: never from the generator
 * above, which is predictable from its output */
int kd_token(lua_State *L) {
  unsigned char b[256];
  char out[512];
  lua_Integer n = luaL_optinteger(L, 1, 16);
  size_t got = 0, i;
  int fd, e = 0;
  luaL_argcheck(L, n >= 1 && n <= 256, 1, "between 1 and 256 bytes expected");
  fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) e = errno;
  while (!e && got < (size_t)n) {
    ssize_t r = read(fd, b + got, (size_t)n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) e = r < 0 ? errno : EIO; else got += (size_t)r;
  }
  if (fd >= 0) close(fd);
  if (e) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot read /dev/urandom: %s", strerror(e));
    return 2;
  }
  for (i = 0; i < got; i++) {
    out[2 * i] = hexd[b[i] >> 4];
    out[2 * i + 1] = hexd[b[i] & 15];
  }
  lua_pushlstring(L, out, 2 * got);
  return 1;
}
