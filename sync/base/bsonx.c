/*
 * bsonx.c - see bsonx.h.
 */
#include "sync/base/bsonx.h"

#include <string.h>

void bsonx_copy_utf8(const bson_iter_t *it, char *dst, size_t size) {
  uint32_t len = 0;
  const char *s = bson_iter_utf8(it, &len);
  if (len >= size) {
    len = (uint32_t)size - 1;
  }
  memcpy(dst, s, len);
  dst[len] = '\0';
}

int64_t bsonx_as_int64(const bson_iter_t *it) {
  return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_int64(it) : 0;
}

void bsonx_array_append_oid(bson_t *array, uint32_t i, const bson_oid_t *oid) {
  char buf[16];
  const char *key;
  size_t len = bson_uint32_to_string(i, &key, buf, sizeof buf);
  bson_append_oid(array, key, (int)len, oid);
}

void bsonx_array_append_utf8(bson_t *array, uint32_t i, const char *s) {
  char buf[16];
  const char *key;
  size_t len = bson_uint32_to_string(i, &key, buf, sizeof buf);
  bson_append_utf8(array, key, (int)len, s, -1);
}

void bsonx_pair_id(const bson_oid_t *a, const bson_oid_t *b,
                   char out[BSONX_PAIR_ID_LEN + 1]) {
  bson_oid_to_string(a, out);
  out[24] = ':';
  bson_oid_to_string(b, out + 25);
}

bool bsonx_find_oid(const bson_t *doc, const char *key, bson_oid_t *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_OID(&it)) {
    bson_oid_copy(bson_iter_oid(&it), out);
    return true;
  }
  return false;
}
