/*
 * cursor.c - see cursor.h.  Base64 is libsodium's.
 */
#include "cursor.h"

#include <sodium.h>
#include <string.h>

#define CURSOR_RAW_LEN 20 /* 8 bytes of time + 12 bytes of ObjectId */

void page_cursor_encode(const page_cursor_t *c,
                        char out[PAGE_CURSOR_LEN + 1]) {
  unsigned char raw[CURSOR_RAW_LEN];
  uint64_t t = (uint64_t)c->ts_ms;
  for (int i = 7; i >= 0; i--) {
    raw[i] = (unsigned char)(t & 0xff);
    t >>= 8;
  }
  memcpy(raw + 8, c->id.bytes, 12);
  sodium_bin2base64(out, PAGE_CURSOR_LEN + 1, raw, sizeof raw,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool page_cursor_decode(const char *s, page_cursor_t *c) {
  if (!s || strlen(s) != PAGE_CURSOR_LEN) {
    return false;
  }
  unsigned char raw[CURSOR_RAW_LEN];
  size_t n = 0;
  if (sodium_base642bin(raw, sizeof raw, s, PAGE_CURSOR_LEN, NULL, &n, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      n != sizeof raw) {
    return false;
  }
  uint64_t t = 0;
  for (int i = 0; i < 8; i++) {
    t = (t << 8) | raw[i];
  }
  if (t > (uint64_t)INT64_MAX) {
    return false;
  }
  c->ts_ms = (int64_t)t;
  memcpy(c->id.bytes, raw + 8, 12);
  return true;
}
