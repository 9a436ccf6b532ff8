/*
 * floor.c: the least a status GET can cost on this machine.
 *
 * One libcurl easy handle, reused for every request, the same GET each
 * time, the body copied into one reused buffer, no Lua. Whatever a client
 * spends above this is its own overhead; `make bench` compares every row
 * of its first table with it.
 *
 *   floor URL COUNT [CA_FILE [headers]]
 *
 * prints the mean microseconds per request (after a warm-up that is not
 * counted). With "headers" it also sends the request headers the kadoa
 * client sends (Accept, User-Agent, Accept-Encoding with decoding on, a
 * request id), to show what they cost libcurl and the server apart from
 * everything else the client does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

static char body[65536];
static size_t body_len;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  size_t n = size * nmemb;
  (void)ud;
  if (n > sizeof body - body_len) return 0;
  memcpy(body + body_len, p, n);
  body_len += n;
  return n;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int get(CURL *e) {
  long status = 0;
  CURLcode rc;
  body_len = 0;
  rc = curl_easy_perform(e);
  if (rc != CURLE_OK) {
    fprintf(stderr, "floor: %s\n", curl_easy_strerror(rc));
    return -1;
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 || body_len == 0) {
    fprintf(stderr, "floor: HTTP %ld, %lu bytes\n", status, (unsigned long)body_len);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  CURL *e;
  struct curl_slist *h = NULL;
  long i, count, warm;
  double t0;
  if (argc < 3 || (count = atol(argv[2])) <= 0) {
    fprintf(stderr, "usage: floor URL COUNT [CA_FILE [headers]]\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  e = curl_easy_init();
  h = curl_slist_append(h, "x-api-key: bench-key");
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  if (argc > 3 && argv[3][0]) curl_easy_setopt(e, CURLOPT_CAINFO, argv[3]);
  if (argc > 4 && strcmp(argv[4], "headers") == 0) {
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "User-Agent: kadoa-lua/0.1.0");
    h = curl_slist_append(h, "Accept-Encoding: deflate, gzip, br, zstd");
    h = curl_slist_append(h, "x-request-id: 5b0e3c1a-8f2d-4e6b-9a7c-1d2e3f4a5b6c");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  }
  warm = count / 10 < 20 ? 20 : count / 10;
  for (i = 0; i < warm; i++)
    if (get(e) != 0) return 1;
  t0 = now();
  for (i = 0; i < count; i++)
    if (get(e) != 0) return 1;
  printf("%.3f\n", (now() - t0) * 1e6 / (double)count);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  curl_global_cleanup();
  return 0;
}
