/*
 * gzip.c - see gzip.h.
 */
#include "server/http/gzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

bool gzip_smaller(const void *in, size_t len, int level, char **out,
                  size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  /* 15 + 16: a zlib window of 32 KiB with a gzip header and trailer. */
  if (len > UINT32_MAX || deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9,
                                       Z_DEFAULT_STRATEGY) != Z_OK) {
    return false;
  }
  size_t cap = deflateBound(&z, (uLong)len);
  char *buf = malloc(cap);
  bool ok = buf != NULL;
  if (ok) {
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    ok = deflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out < len;
  }
  if (ok) {
    *out = buf;
    *out_len = z.total_out;
  } else {
    free(buf);
  }
  deflateEnd(&z);
  return ok;
}

bool gzip_accepted(const char *accept_encoding) {
  static const char token[] = "gzip";
  const size_t len = sizeof token - 1;
  const char *value = accept_encoding;
  for (const char *p = value; p && (p = strstr(p, token)) != NULL; p += len) {
    bool start = p == value || p[-1] == ' ' || p[-1] == ',';
    bool stop =
        p[len] == '\0' || p[len] == ',' || p[len] == ';' || p[len] == ' ';
    if (start && stop) {
      return true;
    }
  }
  return false;
}
