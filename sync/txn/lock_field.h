/*
 * lock_field.h - the field by which a transaction holds a participant
 * document: _txn: {id, kind, set} (store_mongo.h says what each holds),
 * and the reading of who holds it and for what.
 *
 * Private to sync/: store_mongo.c writes it, view.c and query.c read it,
 * and nothing outside sync/ names it (readers get documents without it;
 * query.h keeps it in projections and leaves locked documents out of
 * counts).  Unit tests of the 2PC use it to build locked documents, and
 * their fake store reads locks with the same functions as store_mongo.c.
 *
 * Pure functions of the document; thread-safe; nothing allocated.
 */
#ifndef CHORUS_LOCK_FIELD_H
#define CHORUS_LOCK_FIELD_H

#include <bson/bson.h>

#include "sync/txn/txn.h"

#define TXN_LOCK_FIELD "_txn"

/* The field a fresh insert (txn_add_fresh_insert) carries: the id of the
 * transaction that inserted it, so that an exclusive change waits until
 * that transaction is finished (store_mongo.c, "fresh inserts").  Kept
 * on the document; readers through the view never see it. */
#define TXN_CREATOR_FIELD "_cx"

/* The id of the transaction whose lock doc carries, into owner: "" when
 * doc is NULL, carries no lock, or its lock has no string id. */
void lock_field_read_owner(const bson_t *doc, char owner[TXN_ID_LEN + 1]);

/* The kind of change doc's lock stages: TXN_INSERT for "insert",
 * TXN_UPDATE for "update", TXN_DELETE for any other string; 0 when doc
 * carries no lock or its lock has no string kind. */
txn_kind_t lock_field_read_kind(const bson_t *doc);

#endif
