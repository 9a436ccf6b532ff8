/*
 * rand.c: a client's random source: xorshift128+ seeded from the OS, and
 * the version 4 UUIDs every request sends as its x-request-id.
 *
 * Request ids and retry jitter need to be unique and spread, not secret:
 * a small fast generator per client is enough, and clients that fail
 * together do not retry together because each is seeded on its own.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kadoa.h"

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
  static const char hexd[] = "0123456789abcdef";
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
