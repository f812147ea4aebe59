/*
 * store_mongo.c - see store_mongo.h.
 */
#include "store_mongo.h"

#include <string.h>

#include "bsonx.h"

/* Runs fn with a client of the shard's database and the collection. */
typedef struct target {
  db_t *db;
  mongoc_client_t *client;
  mongoc_collection_t *coll;
} target_t;

static void target_open(shards_t *shards, int shard, const char *coll,
                        target_t *t) {
  t->db = shards_db(shards, shard);
  t->client = db_acquire(t->db);
  t->coll = db_collection(t->db, t->client, coll);
}

static void target_close(target_t *t) {
  mongoc_collection_destroy(t->coll);
  db_release(t->db, t->client);
}

static void append_id(bson_t *doc, const bson_value_t *id) {
  bson_append_value(doc, "_id", 3, id);
}

/* {_id: id, "_txn.id": txn_id} */
static void locked_filter(bson_t *filter, const bson_value_t *id,
                          const char *txn_id) {
  bson_init(filter);
  append_id(filter, id);
  BSON_APPEND_UTF8(filter, TXN_LOCK_FIELD ".id", txn_id);
}

static int64_t matched_count(const bson_t *reply) {
  bson_iter_t it;
  return bson_iter_init_find(&it, reply, "matchedCount")
             ? bson_iter_as_int64(&it)
             : 0;
}

/* Reads one document by _id into *doc (caller destroys) or sets *found. */
static bool read_doc(mongoc_collection_t *coll, const bson_value_t *id,
                     bson_t **doc, bool *found, chorus_error_t *err) {
  bson_t filter = BSON_INITIALIZER;
  append_id(&filter, id);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *d;
  *found = mongoc_cursor_next(cursor, &d);
  *doc = *found ? bson_copy(d) : NULL;
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc read participant");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  return ok;
}

/* The id of the transaction locking doc into owner ("" if unlocked). */
static void lock_of(const bson_t *doc, char owner[TXN_ID_LEN + 1]) {
  bson_iter_t it, id;
  owner[0] = '\0';
  if (bson_iter_init(&it, doc) &&
      bson_iter_find_descendant(&it, TXN_LOCK_FIELD ".id", &id) &&
      BSON_ITER_HOLDS_UTF8(&id)) {
    bsonx_copy_utf8(&id, owner, TXN_ID_LEN + 1);
  }
}

/* Classifies a participant that did not accept our conditional lock. */
static txn_vote_t explain_refusal(mongoc_collection_t *coll,
                                  const char *txn_id, const txn_op_t *op,
                                  char lock_owner[TXN_ID_LEN + 1],
                                  chorus_error_t *err) {
  bson_t *doc;
  bool found;
  if (!read_doc(coll, &op->id, &doc, &found, err)) {
    return TXN_VOTE_ERROR;
  }
  txn_vote_t vote;
  char owner[TXN_ID_LEN + 1];
  if (!found) {
    vote = op->kind == TXN_INSERT ? TXN_VOTE_LOCKED : TXN_VOTE_MISSING;
  } else {
    lock_of(doc, owner);
    bson_iter_t it;
    if (!strcmp(owner, txn_id)) {
      vote = TXN_VOTE_YES; /* we locked it before: prepare repeated */
    } else if (owner[0]) {
      memcpy(lock_owner, owner, sizeof owner);
      vote = TXN_VOTE_LOCKED;
    } else if (op->kind == TXN_INSERT) {
      vote = TXN_VOTE_EXISTS;
    } else if (op->check_version &&
               !(bson_iter_init_find(&it, doc, "version") &&
                 bsonx_as_int64(&it) == op->version)) {
      vote = TXN_VOTE_STALE;
    } else {
      vote = TXN_VOTE_LOCKED; /* it was unlocked in between: retry */
    }
  }
  if (doc) {
    bson_destroy(doc);
  }
  return vote;
}

/* {id, kind, set?, inc?} */
static void append_lock(bson_t *doc, const char *txn_id, const txn_op_t *op) {
  bson_t lock;
  BSON_APPEND_DOCUMENT_BEGIN(doc, TXN_LOCK_FIELD, &lock);
  BSON_APPEND_UTF8(&lock, "id", txn_id);
  BSON_APPEND_UTF8(&lock, "kind", txn_kind_name(op->kind));
  if (op->set) {
    BSON_APPEND_DOCUMENT(&lock, "set", op->set);
  }
  if (op->inc) {
    BSON_APPEND_DOCUMENT(&lock, "inc", op->inc);
  }
  bson_append_document_end(doc, &lock);
}

static txn_vote_t mongo_prepare(void *impl, const char *txn_id,
                                const txn_op_t *op,
                                char lock_owner[TXN_ID_LEN + 1],
                                chorus_error_t *err) {
  target_t t;
  target_open(impl, op->shard, op->coll, &t);
  bson_error_t berr;
  txn_vote_t vote = TXN_VOTE_YES;
  if (op->kind == TXN_INSERT) {
    bson_t doc = BSON_INITIALIZER;
    bson_concat(&doc, op->doc);
    append_lock(&doc, txn_id, op);
    if (!mongoc_collection_insert_one(t.coll, &doc, NULL, NULL, &berr)) {
      if (chorus_bson_error_is_duplicate(&berr)) {
        vote = explain_refusal(t.coll, txn_id, op, lock_owner, err);
      } else {
        chorus_error_from_bson(err, &berr, "2pc prepare insert");
        vote = TXN_VOTE_ERROR;
      }
    }
    bson_destroy(&doc);
  } else {
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, exists;
    append_id(&filter, &op->id);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, TXN_LOCK_FIELD, &exists);
    BSON_APPEND_BOOL(&exists, "$exists", false);
    bson_append_document_end(&filter, &exists);
    if (op->check_version) {
      BSON_APPEND_INT64(&filter, "version", op->version);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    append_lock(&set, txn_id, op);
    bson_append_document_end(&update, &set);
    bson_t reply;
    if (!mongoc_collection_update_one(t.coll, &filter, &update, NULL, &reply,
                                      &berr)) {
      chorus_error_from_bson(err, &berr, "2pc prepare update");
      vote = TXN_VOTE_ERROR;
    } else if (matched_count(&reply) != 1) {
      vote = explain_refusal(t.coll, txn_id, op, lock_owner, err);
    }
    bson_destroy(&reply);
    bson_destroy(&filter);
    bson_destroy(&update);
  }
  target_close(&t);
  return vote;
}

/* Loads the staged set/inc of a participant we locked; *locked false when
 * it no longer carries our lock (already applied or dropped). */
static bool load_staged(mongoc_collection_t *coll, const char *txn_id,
                        const txn_op_t *op, bson_t *set, bson_t *inc,
                        bool *locked, chorus_error_t *err) {
  bson_t *doc;
  bool found;
  bson_init(set);
  bson_init(inc);
  if (!read_doc(coll, &op->id, &doc, &found, err)) {
    return false;
  }
  char owner[TXN_ID_LEN + 1] = "";
  if (found) {
    lock_of(doc, owner);
  }
  *locked = found && !strcmp(owner, txn_id);
  bson_iter_t it, child;
  if (*locked && bson_iter_init_find(&it, doc, TXN_LOCK_FIELD) &&
      bson_iter_recurse(&it, &child)) {
    while (bson_iter_next(&child)) {
      bool is_set = !strcmp(bson_iter_key(&child), "set");
      bool is_inc = !strcmp(bson_iter_key(&child), "inc");
      if ((is_set || is_inc) && BSON_ITER_HOLDS_DOCUMENT(&child)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&child, &len, &data);
        bson_t sub;
        if (bson_init_static(&sub, data, len)) {
          bson_concat(is_set ? set : inc, &sub);
        }
      }
    }
  }
  if (doc) {
    bson_destroy(doc);
  }
  return true;
}

static bool run_update(mongoc_collection_t *coll, const bson_t *filter,
                       const bson_t *update, chorus_error_t *err) {
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(coll, filter, update, NULL, NULL,
                                         &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc apply");
  }
  return ok;
}

static bool run_delete(mongoc_collection_t *coll, const bson_t *filter,
                       chorus_error_t *err) {
  bson_error_t berr;
  bool ok = mongoc_collection_delete_one(coll, filter, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc apply delete");
  }
  return ok;
}

static void append_unlock(bson_t *update) {
  bson_t unset;
  BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &unset);
  BSON_APPEND_UTF8(&unset, TXN_LOCK_FIELD, "");
  bson_append_document_end(update, &unset);
}

/* For an op of unknown kind (0): takes the kind from the document's lock
 * when txn_id holds it; *locked false when it does not. */
static bool lock_kind(mongoc_collection_t *coll, const char *txn_id,
                      const txn_op_t *op, txn_op_t *resolved, bool *locked,
                      chorus_error_t *err) {
  *resolved = *op;
  *locked = true;
  if (op->kind != 0) {
    return true;
  }
  bson_t *doc;
  bool found;
  if (!read_doc(coll, &op->id, &doc, &found, err)) {
    return false;
  }
  char owner[TXN_ID_LEN + 1] = "";
  bson_iter_t it, kind;
  if (found) {
    lock_of(doc, owner);
  }
  *locked = found && !strcmp(owner, txn_id);
  if (*locked && bson_iter_init(&it, doc) &&
      bson_iter_find_descendant(&it, TXN_LOCK_FIELD ".kind", &kind) &&
      BSON_ITER_HOLDS_UTF8(&kind)) {
    const char *k = bson_iter_utf8(&kind, NULL);
    resolved->kind = !strcmp(k, "insert")   ? TXN_INSERT
                     : !strcmp(k, "update") ? TXN_UPDATE
                                            : TXN_DELETE;
  } else {
    *locked = false;
  }
  if (doc) {
    bson_destroy(doc);
  }
  return true;
}

static bool mongo_commit_op(void *impl, const char *txn_id,
                            const txn_op_t *given, chorus_error_t *err) {
  target_t t;
  target_open(impl, given->shard, given->coll, &t);
  txn_op_t resolved;
  bool locked;
  if (!lock_kind(t.coll, txn_id, given, &resolved, &locked, err) ||
      !locked) {
    target_close(&t);
    return !locked; /* not ours any more: nothing to do */
  }
  const txn_op_t *op = &resolved;
  bson_t filter;
  locked_filter(&filter, &op->id, txn_id);
  bool ok;
  if (op->kind == TXN_DELETE) {
    ok = run_delete(t.coll, &filter, err);
  } else if (op->kind == TXN_INSERT) {
    bson_t update = BSON_INITIALIZER;
    append_unlock(&update);
    ok = run_update(t.coll, &filter, &update, err);
    bson_destroy(&update);
  } else {
    bson_t set, inc;
    if (op->staged_known) {
      bson_init(&set);
      bson_init(&inc);
      if (op->set) {
        bson_concat(&set, op->set);
      }
      if (op->inc) {
        bson_concat(&inc, op->inc);
      }
      ok = true;
    } else {
      ok = load_staged(t.coll, txn_id, op, &set, &inc, &locked, err);
    }
    if (ok && locked) {
      bson_t update = BSON_INITIALIZER;
      if (!bson_empty(&set)) {
        BSON_APPEND_DOCUMENT(&update, "$set", &set);
      }
      BSON_APPEND_INT64(&inc, "version", 1);
      BSON_APPEND_DOCUMENT(&update, "$inc", &inc);
      append_unlock(&update);
      ok = run_update(t.coll, &filter, &update, err);
      bson_destroy(&update);
    }
    bson_destroy(&set);
    bson_destroy(&inc);
  }
  bson_destroy(&filter);
  target_close(&t);
  return ok;
}

static bool mongo_abort_op(void *impl, const char *txn_id,
                           const txn_op_t *given, chorus_error_t *err) {
  target_t t;
  target_open(impl, given->shard, given->coll, &t);
  txn_op_t resolved;
  bool locked;
  if (!lock_kind(t.coll, txn_id, given, &resolved, &locked, err) ||
      !locked) {
    target_close(&t);
    return !locked;
  }
  const txn_op_t *op = &resolved;
  bson_t filter;
  locked_filter(&filter, &op->id, txn_id);
  bool ok;
  if (op->kind == TXN_INSERT) {
    ok = run_delete(t.coll, &filter, err);
  } else {
    bson_t update = BSON_INITIALIZER;
    append_unlock(&update);
    ok = run_update(t.coll, &filter, &update, err);
    bson_destroy(&update);
  }
  bson_destroy(&filter);
  target_close(&t);
  return ok;
}

/* ---- the decision log ---- */

static bool mongo_begin(void *impl, const txn_t *txn, const char *owner,
                        int64_t deadline_ms, chorus_error_t *err) {
  bson_t doc = BSON_INITIALIZER, ops;
  BSON_APPEND_UTF8(&doc, "_id", txn->id);
  BSON_APPEND_UTF8(&doc, "state", txn_state_name(TXN_PENDING));
  BSON_APPEND_BOOL(&doc, "done", false);
  BSON_APPEND_UTF8(&doc, "owner", owner);
  BSON_APPEND_INT64(&doc, "lease", 1);
  BSON_APPEND_DATE_TIME(&doc, "deadline", deadline_ms);
  BSON_APPEND_DATE_TIME(&doc, "created_at", db_now_ms());
  BSON_APPEND_ARRAY_BEGIN(&doc, "ops", &ops);
  for (size_t i = 0; i < txn->n_ops; i++) {
    const txn_op_t *op = &txn->ops[i];
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    bson_t o;
    BSON_APPEND_DOCUMENT_BEGIN(&ops, k, &o);
    BSON_APPEND_UTF8(&o, "kind", txn_kind_name(op->kind));
    BSON_APPEND_INT32(&o, "shard", op->shard);
    BSON_APPEND_UTF8(&o, "coll", op->coll);
    bson_append_value(&o, "id", 2, &op->id);
    bson_append_document_end(&ops, &o);
  }
  bson_append_array_end(&doc, &ops);

  shards_t *shards = impl;
  target_t t;
  target_open(shards, TXN_MAIN_SHARD, DB_TXNS, &t);
  bson_error_t berr;
  bool ok = mongoc_collection_insert_one(t.coll, &doc, NULL, NULL, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc begin");
  }
  target_close(&t);
  bson_destroy(&doc);
  return ok;
}

static bool parse_state(const char *s, txn_state_t *state) {
  if (!strcmp(s, "pending")) {
    *state = TXN_PENDING;
  } else if (!strcmp(s, "committed")) {
    *state = TXN_COMMITTED;
  } else if (!strcmp(s, "aborted")) {
    *state = TXN_ABORTED;
  } else {
    return false;
  }
  return true;
}

static bool read_state(mongoc_collection_t *coll, const char *txn_id,
                       txn_state_t *state, bool *found, bool *done,
                       chorus_error_t *err) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(txn_id));
  bson_t *opts = BCON_NEW("projection", "{", "state", BCON_INT32(1), "done",
                          BCON_INT32(1), "}");
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, opts, NULL);
  const bson_t *doc;
  bson_iter_t it;
  *found = false;
  *done = false;
  if (mongoc_cursor_next(cursor, &doc) &&
      bson_iter_init_find(&it, doc, "state") && BSON_ITER_HOLDS_UTF8(&it)) {
    *found = parse_state(bson_iter_utf8(&it, NULL), state);
    *done = bson_iter_init_find(&it, doc, "done") &&
            BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc read state");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  bson_destroy(filter);
  return ok;
}

static bool mongo_decide(void *impl, const char *txn_id, txn_state_t to,
                         txn_state_t *actual, chorus_error_t *err) {
  target_t t;
  target_open(impl, TXN_MAIN_SHARD, DB_TXNS, &t);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(txn_id), "state",
                            BCON_UTF8(txn_state_name(TXN_PENDING)));
  bson_t *update = BCON_NEW("$set", "{", "state",
                            BCON_UTF8(txn_state_name(to)), "decided_at",
                            BCON_DATE_TIME(db_now_ms()), "}");
  bson_t reply;
  bson_error_t berr;
  bool ok = mongoc_collection_update_one(t.coll, filter, update, NULL, &reply,
                                         &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "2pc decide");
  } else if (matched_count(&reply) == 1) {
    *actual = to;
  } else {
    bool found, done;
    ok = read_state(t.coll, txn_id, actual, &found, &done, err);
    if (ok && !found) {
      /* Collected: it was finished long ago, and only aborted ones can be
       * finished by someone else while their coordinator still runs. */
      *actual = TXN_ABORTED;
    } else if (ok && *actual == TXN_PENDING) {
      chorus_error_set(err, 500, "txn_lost",
                       "transaction %s stayed pending after a decide",
                       txn_id);
      ok = false;
    }
  }
  bson_destroy(&reply);
  bson_destroy(update);
  bson_destroy(filter);
  target_close(&t);
  return ok;
}

static bool mongo_finish(void *impl, const char *txn_id, chorus_error_t *err) {
  target_t t;
  target_open(impl, TXN_MAIN_SHARD, DB_TXNS, &t);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(txn_id));
  bson_t *update = BCON_NEW("$set", "{", "done", BCON_BOOL(true),
                            "finished_at", BCON_DATE_TIME(db_now_ms()), "}");
  bool ok = run_update(t.coll, filter, update, err);
  bson_destroy(update);
  bson_destroy(filter);
  target_close(&t);
  return ok;
}

static bool mongo_get_state(void *impl, const char *txn_id,
                            txn_state_t *state, bool *found, bool *done,
                            chorus_error_t *err) {
  target_t t;
  target_open(impl, TXN_MAIN_SHARD, DB_TXNS, &t);
  bool ok = read_state(t.coll, txn_id, state, found, done, err);
  target_close(&t);
  return ok;
}

/* Fills txn (ops with staged_known false) and state from a record. */
static bool load_record(const bson_t *rec, txn_t *txn, txn_state_t *state,
                        int64_t *lease) {
  bson_iter_t it, ops, o;
  txn_init(txn);
  *lease = 0;
  *state = TXN_PENDING;
  if (!bson_iter_init(&it, rec)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
      bsonx_copy_utf8(&it, txn->id, sizeof txn->id);
    } else if (!strcmp(key, "state") && BSON_ITER_HOLDS_UTF8(&it)) {
      parse_state(bson_iter_utf8(&it, NULL), state);
    } else if (!strcmp(key, "lease")) {
      *lease = bsonx_as_int64(&it);
    } else if (!strcmp(key, "ops") && BSON_ITER_HOLDS_ARRAY(&it) &&
               bson_iter_recurse(&it, &ops)) {
      while (bson_iter_next(&ops) && txn->n_ops < TXN_MAX_OPS) {
        if (!bson_iter_recurse(&ops, &o)) {
          continue;
        }
        txn_op_t *op = &txn->ops[txn->n_ops++];
        memset(op, 0, sizeof *op);
        while (bson_iter_next(&o)) {
          const char *k = bson_iter_key(&o);
          if (!strcmp(k, "kind") && BSON_ITER_HOLDS_UTF8(&o)) {
            const char *kind = bson_iter_utf8(&o, NULL);
            op->kind = !strcmp(kind, "insert")   ? TXN_INSERT
                       : !strcmp(kind, "update") ? TXN_UPDATE
                                                 : TXN_DELETE;
          } else if (!strcmp(k, "shard")) {
            op->shard = (int)bsonx_as_int64(&o);
          } else if (!strcmp(k, "coll") && BSON_ITER_HOLDS_UTF8(&o)) {
            bsonx_copy_utf8(&o, op->coll, sizeof op->coll);
          } else if (!strcmp(k, "id")) {
            bson_value_copy(bson_iter_value(&o), &op->id);
          }
        }
      }
    }
  }
  return txn->id[0] != '\0';
}

static bool mongo_claim(void *impl, const char *txn_id, const char *owner,
                        int64_t now_ms, int64_t lease_ms, txn_t *txn,
                        txn_state_t *state, bool *found, chorus_error_t *err) {
  *found = false;
  target_t t;
  target_open(impl, TXN_MAIN_SHARD, DB_TXNS, &t);
  bson_t filter = BSON_INITIALIZER, lt;
  if (txn_id) {
    BSON_APPEND_UTF8(&filter, "_id", txn_id);
  }
  BSON_APPEND_BOOL(&filter, "done", false);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "deadline", &lt);
  BSON_APPEND_DATE_TIME(&lt, "$lt", now_ms);
  bson_append_document_end(&filter, &lt);
  bson_t *opts = BCON_NEW("limit", BCON_INT64(16));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(t.coll, &filter, opts, NULL);
  const bson_t *rec;
  bool ok = true;
  while (!*found && mongoc_cursor_next(cursor, &rec)) {
    int64_t lease;
    txn_cleanup(txn);
    if (!load_record(rec, txn, state, &lease)) {
      continue;
    }
    /* Take it over only if nobody else did since we read it. */
    bson_t *cas = BCON_NEW("_id", BCON_UTF8(txn->id), "lease",
                           BCON_INT64(lease), "done", BCON_BOOL(false));
    bson_t *update = BCON_NEW("$set", "{", "owner", BCON_UTF8(owner),
                              "deadline", BCON_DATE_TIME(now_ms + lease_ms),
                              "}", "$inc", "{", "lease", BCON_INT64(1), "}");
    bson_t reply;
    bson_error_t berr;
    if (!mongoc_collection_update_one(t.coll, cas, update, NULL, &reply,
                                      &berr)) {
      chorus_error_from_bson(err, &berr, "2pc claim");
      ok = false;
    } else {
      *found = matched_count(&reply) == 1;
    }
    bson_destroy(&reply);
    bson_destroy(update);
    bson_destroy(cas);
    if (!ok) {
      break;
    }
  }
  if (!*found) {
    txn_cleanup(txn);
  }
  bson_error_t berr;
  if (ok && mongoc_cursor_error(cursor, &berr)) {
    chorus_error_from_bson(err, &berr, "2pc find expired");
    ok = false;
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(opts);
  bson_destroy(&filter);
  target_close(&t);
  return ok;
}

/* Drops, once more, every lock an aborted, finished record's transaction
 * may still hold: the late locks of a coordinator that prepared after
 * recovery had aborted it (see store_mongo.h). */
static bool sweep_aborted(shards_t *shards, mongoc_collection_t *txns,
                          int64_t older_than_ms, chorus_error_t *err) {
  bson_t *filter = BCON_NEW("done", BCON_BOOL(true), "state",
                            BCON_UTF8(txn_state_name(TXN_ABORTED)),
                            "finished_at", "{", "$lt",
                            BCON_DATE_TIME(older_than_ms), "}");
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(txns, filter, NULL, NULL);
  const bson_t *rec;
  bool ok = true;
  while (ok && mongoc_cursor_next(cursor, &rec)) {
    txn_t txn;
    txn_state_t state;
    int64_t lease;
    if (load_record(rec, &txn, &state, &lease)) {
      for (size_t i = 0; ok && i < txn.n_ops; i++) {
        ok = mongo_abort_op(shards, txn.id, &txn.ops[i], err);
      }
    }
    txn_cleanup(&txn);
  }
  bson_error_t berr;
  if (ok && mongoc_cursor_error(cursor, &berr)) {
    chorus_error_from_bson(err, &berr, "2pc sweep aborted records");
    ok = false;
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(filter);
  return ok;
}

bool store_mongo_collect(shards_t *shards, int64_t older_than_ms,
                         int64_t *deleted, chorus_error_t *err) {
  *deleted = 0;
  target_t t;
  target_open(shards, TXN_MAIN_SHARD, DB_TXNS, &t);
  bool ok = sweep_aborted(shards, t.coll, older_than_ms, err);
  bson_t *filter = BCON_NEW("done", BCON_BOOL(true), "finished_at", "{",
                            "$lt", BCON_DATE_TIME(older_than_ms), "}");
  bson_t reply;
  bson_error_t berr;
  if (ok) {
    ok = mongoc_collection_delete_many(t.coll, filter, NULL, &reply, &berr);
    bson_iter_t it;
    *deleted = ok && bson_iter_init_find(&it, &reply, "deletedCount")
                   ? bson_iter_as_int64(&it)
                   : 0;
    if (!ok) {
      chorus_error_from_bson(err, &berr, "2pc collect finished records");
    }
    bson_destroy(&reply);
  }
  bson_destroy(filter);
  target_close(&t);
  return ok;
}

void store_mongo_init(txn_store_t *store, shards_t *shards) {
  memset(store, 0, sizeof *store);
  store->impl = shards;
  store->begin = mongo_begin;
  store->decide = mongo_decide;
  store->finish = mongo_finish;
  store->prepare = mongo_prepare;
  store->commit_op = mongo_commit_op;
  store->abort_op = mongo_abort_op;
  store->claim = mongo_claim;
  store->get_state = mongo_get_state;
}
