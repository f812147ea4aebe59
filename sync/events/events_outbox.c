/*
 * events_outbox.c - a transaction's events, as an outbox document it
 * inserts along with its other operations (events.h, "Writing"):
 * {_id: ObjectId, events: [{type, data, audience}...], created_at,
 * version: 1}.  Publishing (events_publish.c) reads it back after the
 * commit and deletes it.
 */
#include "sync/events/events_internal.h"

#include <assert.h>
#include <string.h>

void event_batch_init(event_batch_t *b) { memset(b, 0, sizeof *b); }

bson_t *event_batch_add(event_batch_t *b, const char *type, bson_t **audience) {
  if (b->n == EVENTS_PER_TXN) {
    *audience = NULL;
    return NULL;
  }
  size_t i = b->n++;
  b->types[i] = type;
  bson_init(&b->skeletons[i]);
  bson_init(&b->audiences[i]);
  *audience = &b->audiences[i];
  return &b->skeletons[i];
}

void event_batch_cleanup(event_batch_t *b) {
  for (size_t i = 0; i < b->n; i++) {
    bson_destroy(&b->skeletons[i]);
    bson_destroy(&b->audiences[i]);
  }
  b->n = 0;
}

/* The outbox document of b's events, added to txn as a transient insert:
 * every reader reads it through the view, and publishing deletes it, so
 * a commit writes nothing more of it (txn.h). */
static void add_outbox(const event_batch_t *b, txn_t *txn) {
  bson_oid_t id;
  bson_oid_init(&id, NULL);
  bson_t doc = BSON_INITIALIZER, list;
  BSON_APPEND_OID(&doc, "_id", &id);
  BSON_APPEND_ARRAY_BEGIN(&doc, "events", &list);
  for (size_t i = 0; i < b->n; i++) {
    char buf[16];
    const char *key;
    bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
    bson_t e;
    BSON_APPEND_DOCUMENT_BEGIN(&list, key, &e);
    BSON_APPEND_UTF8(&e, "type", b->types[i]);
    BSON_APPEND_DOCUMENT(&e, "data", &b->skeletons[i]);
    BSON_APPEND_DOCUMENT(&e, "audience", &b->audiences[i]);
    bson_append_document_end(&list, &e);
  }
  bson_append_array_end(&doc, &list);
  BSON_APPEND_DATE_TIME(&doc, "created_at", db_now_ms());
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_transient_insert(txn, TXN_MAIN_SHARD, DB_OUTBOX, &doc);
  bson_destroy(&doc);
}

void event_batch_commit(event_batch_t *b, txn_t *txn) {
  assert(b->n <= EVENTS_PER_TXN);
  if (b->n > 0) {
    add_outbox(b, txn);
  }
  event_batch_cleanup(b);
}

bool events_is_outbox(const txn_op_t *op, bson_oid_t *outbox_id) {
  if (op->kind != TXN_INSERT || op->shard != TXN_MAIN_SHARD ||
      strcmp(op->coll, DB_OUTBOX) != 0 || op->id.value_type != BSON_TYPE_OID) {
    return false;
  }
  bson_oid_copy(&op->id.value.v_oid, outbox_id);
  return true;
}