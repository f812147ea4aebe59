/*
 * cursor.c - see cursor.h.  Base64 is libsodium's.
 */
#include "server/domain/cursor.h"

#include <sodium.h>
#include <string.h>

#define CURSOR_RAW_LEN 20 /* 8 bytes of time + 12 bytes of ObjectId */

/* True when s[0..len) is only characters of base64url.  libsodium
 * 1.0.18's decoder takes every byte above 0x7F for a character of the
 * alphabet (0xCF decodes as '_'), so a cursor is checked character by
 * character first: one position has one cursor, the one we issued. */
static bool is_base64url(const char *s, size_t len) {
  return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789-_") == len;
}

void page_cursor_encode(const page_cursor_t *c, char out[PAGE_CURSOR_LEN + 1]) {
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
  if (!s || strlen(s) != PAGE_CURSOR_LEN || !is_base64url(s, PAGE_CURSOR_LEN)) {
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

void page_cursor_append_filter_on(bson_t *filter, const page_cursor_t *c,
                                  bool oldest_first, const char *id_field) {
  const char *op = oldest_first ? "$gt" : "$lt";
  bson_t or, a, b, cmp_ts, cmp_id;
  BSON_APPEND_ARRAY_BEGIN(filter, "$or", & or);
  BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
  BSON_APPEND_DOCUMENT_BEGIN(&a, "created_at", &cmp_ts);
  BSON_APPEND_DATE_TIME(&cmp_ts, op, c->ts_ms);
  bson_append_document_end(&a, &cmp_ts);
  bson_append_document_end(& or, &a);
  BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
  BSON_APPEND_DATE_TIME(&b, "created_at", c->ts_ms);
  bson_append_document_begin(&b, id_field, -1, &cmp_id);
  BSON_APPEND_OID(&cmp_id, op, &c->id);
  bson_append_document_end(&b, &cmp_id);
  bson_append_document_end(& or, &b);
  bson_append_array_end(filter, & or);
}

void page_cursor_append_filter(bson_t *filter, const page_cursor_t *c,
                               bool oldest_first) {
  page_cursor_append_filter_on(filter, c, oldest_first, "_id");
}

void name_cursor_encode(const char *key, char out[NAME_CURSOR_MAX + 1]) {
  size_t len = strlen(key);
  size_t max_raw = (NAME_CURSOR_MAX / 4) * 3;
  if (len > max_raw) {
    len = max_raw;
  }
  sodium_bin2base64(out, NAME_CURSOR_MAX + 1, (const unsigned char *)key, len,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool name_cursor_decode(const char *s, char *key, size_t size) {
  size_t n = 0;
  size_t len = strlen(s);
  if (len == 0 || len > NAME_CURSOR_MAX || !is_base64url(s, len) ||
      sodium_base642bin((unsigned char *)key, size - 1, s, len, NULL, &n, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return false;
  }
  key[n] = '\0';
  return bson_utf8_validate(key, n, false);
}
