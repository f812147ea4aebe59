/*
 * lock_field.h - the field by which a transaction holds a participant
 * document: _txn: {id, kind, set} (store_mongo.h says what each holds).
 *
 * Private to sync/: store_mongo.c writes it, view.c and query.c read it,
 * and nothing outside sync/ names it (readers get documents without it;
 * query.h keeps it in projections and leaves locked documents out of
 * counts).  Unit tests of the 2PC use it to build locked documents.
 */
#ifndef CHORUS_LOCK_FIELD_H
#define CHORUS_LOCK_FIELD_H

#define TXN_LOCK_FIELD "_txn"

#endif
