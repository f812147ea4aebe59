/*
 * lock_field.c - see lock_field.h.
 */
#include "sync/txn/lock_field.h"

#include <string.h>

#include "sync/base/bsonx.h"

void lock_field_read_owner(const bson_t *doc, char owner[TXN_ID_LEN + 1]) {
  bson_iter_t it, id;
  owner[0] = '\0';
  if (doc && bson_iter_init(&it, doc) &&
      bson_iter_find_descendant(&it, TXN_LOCK_FIELD ".id", &id) &&
      BSON_ITER_HOLDS_UTF8(&id)) {
    bsonx_copy_utf8(&id, owner, TXN_ID_LEN + 1);
  }
}

txn_kind_t lock_field_read_kind(const bson_t *doc) {
  bson_iter_t it, kind;
  if (!bson_iter_init(&it, doc) ||
      !bson_iter_find_descendant(&it, TXN_LOCK_FIELD ".kind", &kind) ||
      !BSON_ITER_HOLDS_UTF8(&kind)) {
    return 0;
  }
  const char *k = bson_iter_utf8(&kind, NULL);
  return !strcmp(k, "insert")   ? TXN_INSERT
         : !strcmp(k, "update") ? TXN_UPDATE
                                : TXN_DELETE;
}
