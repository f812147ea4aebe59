/*
 * fake_store.c - see fake_store.h.  Each vtable function mirrors the
 * function of the same name in sync/txn/store_mongo.c; the comments name the
 * MongoDB command being imitated.
 */
#include "tests/unit/fake_store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/base/bsonx.h"
#include "sync/base/error.h"
#include "sync/txn/escrow.h"
#include "sync/txn/lock_field.h"
#include "sync/txn/view.h"

#define KEY_MAX 160
#define OWNER_MAX 64
#define CLAIM_LIMIT 16 /* store_mongo.c's find limit */

typedef struct fake_doc {
  int shard;
  char coll[TXN_COLL_MAX];
  char key[KEY_MAX]; /* canonical form of _id */
  bson_t *doc;       /* NULL: absent */
  bool down;
  char latch[TXN_ID_LEN + 1]; /* who holds its latch ("" none) */
} fake_doc_t;

typedef struct fake_rec_op {
  txn_kind_t kind;
  bool shared;
  bool transient;
  bool fresh;
  bson_t *doc; /* a fresh insert's document (the record carries it) */
  int shard;
  char coll[TXN_COLL_MAX];
  bson_value_t id;
} fake_rec_op_t;

typedef struct fake_rec {
  char id[TXN_ID_LEN + 1];
  txn_state_t state;
  bool done;
  char owner[OWNER_MAX];
  int64_t lease;
  int64_t deadline;
  int64_t finished_at; /* fake clock time of the (last) finish */
  size_t n_ops;
  fake_rec_op_t ops[TXN_MAX_OPS];
} fake_rec_t;

struct fake_store {
  fake_doc_t *docs;
  size_t n_docs, cap_docs;
  fake_rec_t *recs;
  size_t n_recs, cap_recs;
  long calls[FAKE_N_FNS];
  long total_calls;
  long commits_in_lease; /* commit_op calls with op->in_lease */
  long budget;           /* calls left before failing; -1: never fail */
  bool fail_once;        /* fail only the call at budget 0, then heal */
  bool lost_reply;
  bool failed;
  void (*claim_hook)(void *ctx);
  void *claim_hook_ctx;
  void (*call_hook)(void *ctx, fake_fn_t fn);
  void *call_hook_ctx;
  bool in_call_hook;
  bool no_latch; /* latched writes skip the latch (FerretDB without it) */
  void (*rmw_hook)(void *ctx);
  void *rmw_hook_ctx;
  bool in_rmw_hook;
  long latched_writes;
};

/* ------------------------------------------------------------------ */
/* the clock                                                           */
/* ------------------------------------------------------------------ */

static int64_t clock_ms = 1000000;
static int64_t clock_tick = 0;

int64_t fake_clock_now(void) {
  int64_t t = clock_ms;
  clock_ms += clock_tick;
  return t;
}
void fake_clock_set(int64_t ms) { clock_ms = ms; }
void fake_clock_advance(int64_t ms) { clock_ms += ms; }
void fake_clock_set_tick(int64_t ms) { clock_tick = ms; }
int64_t fake_clock_peek(void) { return clock_ms; }

/* ------------------------------------------------------------------ */
/* plumbing                                                            */
/* ------------------------------------------------------------------ */

enum { GATE_OK, GATE_FAIL, GATE_LOSE };

static void unavailable(chorus_error_t *err) {
  chorus_error_set(err, 503, "db_unavailable",
                   "The database is unavailable; try again shortly");
}

/* Counts a call of fn and says whether it fails: before its effect
 * (GATE_FAIL, err filled in: the call returns at once), after it
 * (GATE_LOSE: the call makes its effect, then reply_lost says so) or not
 * at all (GATE_OK). */
static int gate(fake_store_t *fs, fake_fn_t fn, chorus_error_t *err) {
  if (fs->call_hook && !fs->in_call_hook) {
    fs->in_call_hook = true;
    fs->call_hook(fs->call_hook_ctx, fn);
    fs->in_call_hook = false;
  }
  if (getenv("FAKE_STORE_TRACE")) {
    fprintf(stderr, "fake_store: call %ld fn %d budget %ld\n", fs->total_calls,
            (int)fn, fs->budget);
  }
  fs->calls[fn]++;
  fs->total_calls++;
  if (fs->budget < 0) {
    return GATE_OK;
  }
  if (fs->budget > 0) {
    fs->budget--;
    return GATE_OK;
  }
  /* budget == 0: this call fails. */
  bool first = !fs->failed;
  fs->failed = true;
  bool lose = fs->lost_reply && (fs->fail_once || first);
  if (fs->fail_once) {
    fs->budget = -1;
    fs->fail_once = false;
  }
  if (!lose) {
    unavailable(err);
  }
  return lose ? GATE_LOSE : GATE_FAIL;
}

/* Whether the reply of a call that gate() let through as g is lost (its
 * effect made): then err says 503 and the call returns its failure. */
static bool reply_lost(int g, chorus_error_t *err) {
  if (g != GATE_LOSE) {
    return false;
  }
  unavailable(err);
  return true;
}

static void db_error(chorus_error_t *err, const char *what) {
  chorus_error_set(err, 500, "db_error", "A database error occurred (%s)",
                   what);
}

/* A canonical string for an _id: numbers of any type compare equal as in
 * MongoDB; everything else by canonical extended JSON. */
static void id_key(const bson_value_t *id, char key[KEY_MAX]) {
  switch (id->value_type) {
  case BSON_TYPE_INT32:
    snprintf(key, KEY_MAX, "n:%lld", (long long)id->value.v_int32);
    return;
  case BSON_TYPE_INT64:
    snprintf(key, KEY_MAX, "n:%lld", (long long)id->value.v_int64);
    return;
  case BSON_TYPE_UTF8:
    snprintf(key, KEY_MAX, "s:%.*s", (int)id->value.v_utf8.len,
             id->value.v_utf8.str);
    return;
  case BSON_TYPE_OID: {
    char hex[25];
    bson_oid_to_string(&id->value.v_oid, hex);
    snprintf(key, KEY_MAX, "o:%s", hex);
    return;
  }
  default: {
    bson_t tmp = BSON_INITIALIZER;
    bson_append_value(&tmp, "v", 1, id);
    char *json = bson_as_canonical_extended_json(&tmp, NULL);
    snprintf(key, KEY_MAX, "x:%s", json);
    bson_free(json);
    bson_destroy(&tmp);
    return;
  }
  }
}

static fake_doc_t *find_doc(const fake_store_t *fs, int shard, const char *coll,
                            const bson_value_t *id) {
  char key[KEY_MAX];
  id_key(id, key);
  for (size_t i = 0; i < fs->n_docs; i++) {
    fake_doc_t *d = &fs->docs[i];
    if (d->shard == shard && !strcmp(d->coll, coll) && !strcmp(d->key, key)) {
      return d;
    }
  }
  return NULL;
}

/* gate() for a participant step on op's document, which it finds into
 * *d (NULL when absent): a document marked down fails the call before its
 * effect, as GATE_FAIL does. */
static int gate_participant(fake_store_t *fs, fake_fn_t fn, const txn_op_t *op,
                            fake_doc_t **d, chorus_error_t *err) {
  *d = NULL;
  int g = gate(fs, fn, err);
  if (g == GATE_FAIL) {
    return g;
  }
  *d = find_doc(fs, op->shard, op->coll, &op->id);
  if (*d && (*d)->down) {
    unavailable(err);
    return GATE_FAIL;
  }
  return g;
}

static fake_doc_t *get_doc(fake_store_t *fs, int shard, const char *coll,
                           const bson_value_t *id) {
  fake_doc_t *d = find_doc(fs, shard, coll, id);
  if (d) {
    return d;
  }
  if (fs->n_docs == fs->cap_docs) {
    fs->cap_docs = fs->cap_docs ? fs->cap_docs * 2 : 16;
    fs->docs = bson_realloc(fs->docs, fs->cap_docs * sizeof *fs->docs);
  }
  d = &fs->docs[fs->n_docs++];
  memset(d, 0, sizeof *d);
  d->shard = shard;
  bson_strncpy(d->coll, coll, sizeof d->coll);
  id_key(id, d->key);
  return d;
}

static void set_doc(fake_doc_t *d, bson_t *doc) {
  if (d->doc) {
    bson_destroy(d->doc);
  }
  d->doc = doc;
}

static fake_rec_t *find_rec(const fake_store_t *fs, const char *txn_id) {
  for (size_t i = 0; i < fs->n_recs; i++) {
    if (!strcmp(fs->recs[i].id, txn_id)) {
      return &fs->recs[i];
    }
  }
  return NULL;
}

static bool locked_by(const fake_doc_t *d, const char *txn_id) {
  char owner[TXN_ID_LEN + 1];
  if (!d || !d->doc) {
    return false;
  }
  lock_field_read_owner(d->doc, owner);
  return !strcmp(owner, txn_id);
}

static bool has_field(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key);
}

/* A copy of doc without the field `drop` (NULL: a plain copy). */
static bson_t *copy_without(const bson_t *doc, const char *drop) {
  bson_t *out = bson_new();
  bson_iter_t it;
  if (bson_iter_init(&it, doc)) {
    while (bson_iter_next(&it)) {
      if (drop && !strcmp(bson_iter_key(&it), drop)) {
        continue;
      }
      bson_append_value(out, bson_iter_key(&it), -1, bson_iter_value(&it));
    }
  }
  return out;
}

/* {id, kind, set?, inc?}: append_lock(). */
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

/* ------------------------------------------------------------------ */
/* escrow entries (shared holders)                                     */
/* ------------------------------------------------------------------ */

/* An entry's fate from the records: a missing record is a collected one,
 * which only an aborted transaction can be while its entry remains. */
typedef struct fake_fates {
  const fake_store_t *fs;
  const char *mine;
  escrow_fate_t my_fate;
  bool missing_aborted; /* a missing record counts as aborted */
} fake_fates_t;

static escrow_fate_t fake_fate(void *ctx, const char *txn_id) {
  const fake_fates_t *f = ctx;
  if (f->mine && !strcmp(txn_id, f->mine)) {
    return f->my_fate;
  }
  const fake_rec_t *r = find_rec(f->fs, txn_id);
  if (!r) {
    return f->missing_aborted ? ESCROW_ABORTED : ESCROW_UNDECIDED;
  }
  return r->state == TXN_COMMITTED ? ESCROW_COMMITTED
         : r->state == TXN_ABORTED ? ESCROW_ABORTED
                                   : ESCROW_UNDECIDED;
}

/* What a latched write does to txn_id's entry. */
typedef enum { FAKE_STAGE, FAKE_FOLD, FAKE_DROP } fake_step_t;

/* release_lock() of a latch: a finish deletes the lock document of its
 * transaction, a latch left by a coordinator that stopped included. */
static void release_latch(fake_doc_t *d, const char *txn_id) {
  if (d && !strcmp(d->latch, txn_id)) {
    d->latch[0] = '\0';
  }
}

/* store_mongo's latched_write(): under d's latch, the document is read,
 * the rmw hook runs (a request "in flight" between the read and the
 * write), and the document computed from that read is written back whole,
 * as FerretDB writes it.  Another's latch votes LOCKED (store_mongo waits
 * for it until its limit).  With no_latch the latch is neither checked
 * nor taken: a write made in the hook is then lost. */
static txn_vote_t latched_write(fake_store_t *fs, fake_doc_t *d,
                                const char *txn_id, const txn_op_t *op,
                                fake_step_t step,
                                char lock_owner[TXN_ID_LEN + 1]) {
  if (!fs->no_latch && d && d->latch[0] && strcmp(d->latch, txn_id) != 0) {
    memcpy(lock_owner, d->latch, sizeof d->latch);
    return TXN_VOTE_LOCKED;
  }
  if (!d || !d->doc) {
    return step == FAKE_STAGE ? TXN_VOTE_MISSING : TXN_VOTE_YES;
  }
  char owner[TXN_ID_LEN + 1];
  lock_field_read_owner(d->doc, owner);
  if (owner[0]) {
    if (step != FAKE_STAGE) {
      return TXN_VOTE_YES; /* held exclusively: it folded ours */
    }
    memcpy(lock_owner, owner, sizeof owner);
    return TXN_VOTE_LOCKED;
  }
  if (step != FAKE_STAGE && !escrow_has(d->doc, txn_id)) {
    return TXN_VOTE_YES;
  }
  if (!fs->no_latch) {
    bson_strncpy(d->latch, txn_id, sizeof d->latch);
  }
  bson_t *read = bson_copy(d->doc);
  if (fs->rmw_hook && !fs->in_rmw_hook) {
    fs->in_rmw_hook = true;
    fs->rmw_hook(fs->rmw_hook_ctx);
    fs->in_rmw_hook = false;
  }
  fake_fates_t fates = {fs, txn_id,
                        step == FAKE_FOLD   ? ESCROW_COMMITTED
                        : step == FAKE_DROP ? ESCROW_ABORTED
                                            : ESCROW_UNDECIDED,
                        false};
  bson_t out, update;
  escrow_result_t res;
  escrow_add_t add = {txn_id, op->inc};
  escrow_rewrite(read, fake_fate, &fates, &add, step == FAKE_STAGE ? 1 : 0,
                 &out, &update, &res);
  if (res.changed && d->doc) { /* by _id: a deleted one matches nothing */
    set_doc(d, bson_copy(&out));
    fs->latched_writes++;
  }
  bson_destroy(&out);
  bson_destroy(&update);
  bson_destroy(read);
  if (!strcmp(d->latch, txn_id)) {
    d->latch[0] = '\0';
  }
  return TXN_VOTE_YES;
}

/* ------------------------------------------------------------------ */
/* participants                                                        */
/* ------------------------------------------------------------------ */

/* explain_refusal(): classifies a participant that refused our lock. */
static txn_vote_t explain_refusal(const fake_doc_t *d, const char *txn_id,
                                  const txn_op_t *op,
                                  char lock_owner[TXN_ID_LEN + 1]) {
  if (!d || !d->doc) {
    return op->kind == TXN_INSERT ? TXN_VOTE_LOCKED : TXN_VOTE_MISSING;
  }
  char owner[TXN_ID_LEN + 1];
  lock_field_read_owner(d->doc, owner);
  bson_iter_t it;
  if (!strcmp(owner, txn_id)) {
    return TXN_VOTE_YES;
  }
  if (owner[0]) {
    memcpy(lock_owner, owner, sizeof owner);
    return TXN_VOTE_LOCKED;
  }
  if (op->kind == TXN_INSERT) {
    return TXN_VOTE_EXISTS;
  }
  if (op->check_version && !escrow_version_current(d->doc, op->version)) {
    return TXN_VOTE_STALE;
  }
  (void)it;
  return TXN_VOTE_LOCKED;
}

/* The filter {_id, _txn: {$exists: false}, version?: v}. */
static bool lockable(const fake_doc_t *d, const txn_op_t *op) {
  bson_iter_t it;
  if (!d || !d->doc || has_field(d->doc, TXN_LOCK_FIELD)) {
    return false;
  }
  if (op->check_version) {
    return bson_iter_init_find(&it, d->doc, "version") &&
           BSON_ITER_HOLDS_NUMBER(&it) &&
           (!BSON_ITER_HOLDS_DOUBLE(&it) ||
            bson_iter_double(&it) == (double)op->version) &&
           escrow_version_current(d->doc, op->version);
  }
  return true;
}

/* Whether d was written by a fresh insert whose record is not done
 * (store_mongo: its open marker is there); creator names it. */
static bool creating(const fake_store_t *fs, const fake_doc_t *d,
                     char creator[TXN_ID_LEN + 1]) {
  bson_iter_t it;
  if (!d || !d->doc || !bson_iter_init_find(&it, d->doc, TXN_CREATOR_FIELD) ||
      !BSON_ITER_HOLDS_UTF8(&it)) {
    return false;
  }
  const fake_rec_t *r = find_rec(fs, bson_iter_utf8(&it, NULL));
  if (!r || r->done) {
    return false;
  }
  bson_strncpy(creator, r->id, TXN_ID_LEN + 1);
  return true;
}

static txn_vote_t fake_prepare(void *impl, const char *txn_id, txn_op_t *op,
                               char lock_owner[TXN_ID_LEN + 1],
                               chorus_error_t *err) {
  fake_store_t *fs = impl;
  fake_doc_t *d;
  int g = gate_participant(fs, FAKE_PREPARE, op, &d, err);
  if (g == GATE_FAIL) {
    return TXN_VOTE_ERROR;
  }
  txn_vote_t vote = TXN_VOTE_YES;
  if (op->fresh) { /* fresh_vote(): its database answered; nothing written */
    return reply_lost(g, err) ? TXN_VOTE_ERROR : TXN_VOTE_YES;
  }
  if (op->shared) {
    vote = latched_write(fs, d, txn_id, op, FAKE_STAGE, lock_owner);
    return reply_lost(g, err) ? TXN_VOTE_ERROR : vote;
  }
  if (op->kind != TXN_INSERT && creating(fs, d, lock_owner)) {
    /* store_mongo's creator_open: its fresh insert not finished yet */
    return reply_lost(g, err) ? TXN_VOTE_ERROR : TXN_VOTE_LOCKED;
  }
  if (op->kind != TXN_INSERT && d && d->doc && escrow_count(d->doc) > 0) {
    /* An exclusive prepare over entries: LOCKED while one is undecided
     * (store_mongo waits for it until its limit), else they are folded
     * in, the version checked on the result, and the stage written, all
     * in one write. */
    fake_fates_t fates = {fs, NULL, ESCROW_UNDECIDED, false};
    char id[TXN_ID_LEN + 1];
    for (size_t e = 0; escrow_entry_id(d->doc, e, id); e++) {
      if (fake_fate(&fates, id) == ESCROW_UNDECIDED) {
        memcpy(lock_owner, id, sizeof id);
        return reply_lost(g, err) ? TXN_VOTE_ERROR : TXN_VOTE_LOCKED;
      }
    }
    bson_t folded, update;
    escrow_result_t res;
    escrow_rewrite(d->doc, fake_fate, &fates, NULL, 0, &folded, &update, &res);
    if (op->check_version && !escrow_version_current(&folded, op->version)) {
      vote = TXN_VOTE_STALE;
    } else {
      bson_t *doc = copy_without(&folded, NULL);
      append_lock(doc, txn_id, op);
      set_doc(d, doc);
    }
    bson_destroy(&folded);
    bson_destroy(&update);
    return reply_lost(g, err) ? TXN_VOTE_ERROR : vote;
  }
  if (op->kind == TXN_INSERT) {
    /* insert_one(doc + lock); a duplicate key is explained. */
    if (d && d->doc) {
      vote = explain_refusal(d, txn_id, op, lock_owner);
    } else {
      bson_t *doc = bson_copy(op->doc);
      append_lock(doc, txn_id, op);
      set_doc(get_doc(fs, op->shard, op->coll, &op->id), doc);
    }
  } else if (lockable(d, op)) {
    /* update_one(filter, {$set: {_txn: lock}}) */
    bson_t *doc = copy_without(d->doc, NULL);
    append_lock(doc, txn_id, op);
    set_doc(d, doc);
  } else {
    vote = explain_refusal(d, txn_id, op, lock_owner);
  }
  return reply_lost(g, err) ? TXN_VOTE_ERROR : vote;
}

/* load_staged(): the set/inc in our lock; false when not locked by us. */
static bool load_staged(const fake_doc_t *d, const char *txn_id, bson_t *set,
                        bson_t *inc) {
  bson_init(set);
  bson_init(inc);
  if (!locked_by(d, txn_id)) {
    return false;
  }
  bson_iter_t it, child;
  if (bson_iter_init_find(&it, d->doc, TXN_LOCK_FIELD) &&
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
  return true;
}

/* $inc of one value as MongoDB does it: int32 stays int32 unless it
 * overflows, int64 wins over int32, double over both. */
static bool append_inc(bson_t *out, const char *key, const bson_iter_t *cur,
                       const bson_iter_t *by) {
  if (!BSON_ITER_HOLDS_NUMBER(by) || (cur && !BSON_ITER_HOLDS_NUMBER(cur))) {
    return false; /* "Cannot apply $inc to a value of non-numeric type" */
  }
  if (!cur) {
    bson_iter_t copy = *by;
    bson_append_value(out, key, -1, bson_iter_value(&copy));
    return true;
  }
  if (BSON_ITER_HOLDS_DOUBLE(cur) || BSON_ITER_HOLDS_DOUBLE(by)) {
    bson_append_double(out, key, -1,
                       bson_iter_as_double(cur) + bson_iter_as_double(by));
    return true;
  }
  int64_t a = bson_iter_as_int64(cur), b = bson_iter_as_int64(by);
  int64_t sum = (int64_t)((uint64_t)a + (uint64_t)b);
  if (BSON_ITER_HOLDS_INT32(cur) && BSON_ITER_HOLDS_INT32(by) &&
      sum >= INT32_MIN && sum <= INT32_MAX) {
    bson_append_int32(out, key, -1, (int32_t)sum);
  } else {
    bson_append_int64(out, key, -1, sum);
  }
  return true;
}

/* update_one({_id, _txn.id}, {$set: set, $inc: inc, $unset: {_txn: ""}}):
 * returns the new document or NULL (error) when MongoDB would refuse. */
static bson_t *apply_update(const bson_t *doc, const bson_t *set,
                            const bson_t *inc) {
  bson_iter_t it, other, staged;
  /* A path in two operators (or twice in one) is a conflict. */
  for (int pass = 0; pass < 2; pass++) {
    const bson_t *a = pass == 0 ? set : inc;
    if (!bson_iter_init(&it, a)) {
      continue;
    }
    int idx = 0;
    while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (!strcmp(key, "_id") || !strcmp(key, TXN_LOCK_FIELD)) {
        return NULL;
      }
      int j = 0;
      bson_iter_init(&other, a);
      while (bson_iter_next(&other) && j < idx) {
        if (!strcmp(bson_iter_key(&other), key)) {
          return NULL;
        }
        j++;
      }
      if (pass == 0 && bson_iter_init_find(&other, inc, key)) {
        return NULL;
      }
      idx++;
    }
  }
  bson_t *out = bson_new();
  bson_iter_init(&it, doc);
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, TXN_LOCK_FIELD)) {
      continue;
    }
    if (bson_iter_init_find(&staged, set, key)) {
      bson_append_value(out, key, -1, bson_iter_value(&staged));
    } else if (bson_iter_init_find(&staged, inc, key)) {
      if (!append_inc(out, key, &it, &staged)) {
        bson_destroy(out);
        return NULL;
      }
    } else {
      bson_append_value(out, key, -1, bson_iter_value(&it));
    }
  }
  for (int pass = 0; pass < 2; pass++) {
    const bson_t *a = pass == 0 ? set : inc;
    bson_iter_init(&staged, a);
    while (bson_iter_next(&staged)) {
      const char *key = bson_iter_key(&staged);
      if (has_field(doc, key)) {
        continue;
      }
      if (pass == 0) {
        bson_append_value(out, key, -1, bson_iter_value(&staged));
      } else if (!append_inc(out, key, NULL, &staged)) {
        bson_destroy(out);
        return NULL;
      }
    }
  }
  return out;
}

/* An op of kind 0 takes its kind from the lock (lock_field_read_kind) when
 * txn_id holds it; false when it does not (then nothing is to be done). */
static bool resolve_kind(const fake_doc_t *d, const char *txn_id,
                         const txn_op_t *given, txn_op_t *op) {
  *op = *given;
  if (given->kind != 0) {
    return true;
  }
  if (!locked_by(d, txn_id)) {
    return false;
  }
  op->kind = lock_field_read_kind(d->doc);
  return op->kind != 0;
}

static bool fake_commit_op(void *impl, const char *txn_id,
                           const txn_op_t *given, chorus_error_t *err) {
  fake_store_t *fs = impl;
  fake_doc_t *d;
  int g = gate_participant(fs, FAKE_COMMIT_OP, given, &d, err);
  if (g == GATE_FAIL) {
    return false;
  }
  if (given->in_lease) {
    fs->commits_in_lease++;
  }
  bool ok = true;
  txn_op_t resolved;
  const txn_op_t *op = &resolved;
  if (given->fresh) {
    /* insert_fresh(): the document and its creator; a duplicate key is
     * an earlier insert */
    if (!d || !d->doc) {
      bson_t *doc = bson_copy(given->doc);
      BSON_APPEND_UTF8(doc, TXN_CREATOR_FIELD, txn_id);
      set_doc(get_doc(fs, given->shard, given->coll, &given->id), doc);
    }
  } else if (d && d->doc && escrow_has(d->doc, txn_id)) {
    /* finish_shared(): our entry folded under the latch. */
    char holder[TXN_ID_LEN + 1];
    if (latched_write(fs, d, txn_id, given, FAKE_FOLD, holder) !=
        TXN_VOTE_YES) {
      chorus_error_set(err, 503, "busy", "2pc: latch not free in time");
      ok = false;
    }
  } else if (resolve_kind(d, txn_id, given, &resolved) &&
             locked_by(d, txn_id)) {
    if (op->kind == TXN_DELETE) {
      set_doc(d, NULL);
    } else if (op->kind == TXN_INSERT) {
      set_doc(d, copy_without(d->doc, TXN_LOCK_FIELD));
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
      } else {
        load_staged(d, txn_id, &set, &inc);
      }
      BSON_APPEND_INT64(&inc, "version", 1);
      bson_t *doc = apply_update(d->doc, &set, &inc);
      bson_iter_t xv, v;
      if (doc && bson_iter_init_find(&xv, doc, ESCROW_XV) &&
          bson_iter_init_find(&v, doc, "version")) {
        /* staged_values(): _xv follows an exclusive update's version. */
        bson_iter_overwrite_int64(&xv, bsonx_as_int64(&v));
      }
      if (doc) {
        set_doc(d, doc);
      } else {
        db_error(err, "2pc apply");
        ok = false;
      }
      bson_destroy(&set);
      bson_destroy(&inc);
    }
  }
  release_latch(d, txn_id);
  return !reply_lost(g, err) && ok;
}

static bool fake_abort_op(void *impl, const char *txn_id, const txn_op_t *given,
                          chorus_error_t *err) {
  fake_store_t *fs = impl;
  fake_doc_t *d;
  int g = gate_participant(fs, FAKE_ABORT_OP, given, &d, err);
  if (g == GATE_FAIL) {
    return false;
  }
  txn_op_t resolved;
  const txn_op_t *op = &resolved;
  bool ok = true;
  if (given->fresh) {
    /* never written before a commit: nothing to drop */
  } else if (d && d->doc && escrow_has(d->doc, txn_id)) {
    char holder[TXN_ID_LEN + 1];
    if (latched_write(fs, d, txn_id, given, FAKE_DROP, holder) !=
        TXN_VOTE_YES) {
      chorus_error_set(err, 503, "busy", "2pc: latch not free in time");
      ok = false;
    }
  } else if (resolve_kind(d, txn_id, given, &resolved) &&
             locked_by(d, txn_id)) {
    if (op->kind == TXN_INSERT) {
      set_doc(d, NULL);
    } else {
      set_doc(d, copy_without(d->doc, TXN_LOCK_FIELD));
    }
  }
  release_latch(d, txn_id);
  return !reply_lost(g, err) && ok;
}

/* ------------------------------------------------------------------ */
/* the decision log                                                    */
/* ------------------------------------------------------------------ */

static bool fake_begin(void *impl, const txn_t *txn, const char *owner,
                       int64_t deadline_ms, chorus_error_t *err) {
  fake_store_t *fs = impl;
  int g = gate(fs, FAKE_BEGIN, err);
  if (g == GATE_FAIL) {
    return false;
  }
  if (find_rec(fs, txn->id)) {
    db_error(err, "2pc begin: duplicate key");
    return false; /* insert_one of an existing _id: E11000 */
  }
  if (fs->n_recs == fs->cap_recs) {
    fs->cap_recs = fs->cap_recs ? fs->cap_recs * 2 : 16;
    fs->recs = bson_realloc(fs->recs, fs->cap_recs * sizeof *fs->recs);
  }
  fake_rec_t *r = &fs->recs[fs->n_recs++];
  memset(r, 0, sizeof *r);
  bson_strncpy(r->id, txn->id, sizeof r->id);
  r->state = TXN_PENDING;
  r->done = false;
  bson_strncpy(r->owner, owner, sizeof r->owner);
  r->lease = 1;
  r->deadline = deadline_ms;
  for (size_t i = 0; i < txn->n_ops && i < TXN_MAX_OPS; i++) {
    r->ops[i].kind = txn->ops[i].kind;
    r->ops[i].shared = txn->ops[i].shared;
    r->ops[i].transient = txn->ops[i].transient;
    r->ops[i].fresh = txn->ops[i].fresh;
    r->ops[i].doc = txn->ops[i].fresh ? bson_copy(txn->ops[i].doc) : NULL;
    r->ops[i].shard = txn->ops[i].shard;
    bson_strncpy(r->ops[i].coll, txn->ops[i].coll, sizeof r->ops[i].coll);
    bson_value_copy(&txn->ops[i].id, &r->ops[i].id);
  }
  r->n_ops = txn->n_ops;
  return !reply_lost(g, err);
}

static bool fake_decide(void *impl, const char *txn_id, txn_state_t to,
                        txn_state_t *actual, chorus_error_t *err) {
  fake_store_t *fs = impl;
  int g = gate(fs, FAKE_DECIDE, err);
  if (g == GATE_FAIL) {
    return false;
  }
  fake_rec_t *r = find_rec(fs, txn_id);
  bool ok = true;
  if (r && r->state == TXN_PENDING) {
    r->state = to; /* update_one({_id, state: pending}, {$set: {state}}) */
    *actual = to;
  } else if (!r) {
    /* collected: only an aborted one can be finished under a live
     * coordinator */
    *actual = TXN_ABORTED;
  } else {
    *actual = r->state;
  }
  return !reply_lost(g, err) && ok;
}

static bool fake_finish(void *impl, const char *txn_id, txn_state_t state,
                        chorus_error_t *err) {
  (void)state; /* the fake's record keeps the decision itself */
  fake_store_t *fs = impl;
  int g = gate(fs, FAKE_FINISH, err);
  if (g == GATE_FAIL) {
    return false;
  }
  fake_rec_t *r = find_rec(fs, txn_id);
  if (r) {
    r->done = true;
    r->finished_at = fake_clock_peek();
  }
  return !reply_lost(g, err);
}

static bool fake_get_state(void *impl, const char *txn_id, txn_state_t *state,
                           bool *found, bool *done, chorus_error_t *err) {
  fake_store_t *fs = impl;
  int g = gate(fs, FAKE_GET_STATE, err);
  if (g == GATE_FAIL || reply_lost(g, err)) { /* a read: nothing to lose */
    return false;
  }
  const fake_rec_t *r = find_rec(fs, txn_id);
  *found = r != NULL;
  *done = r && r->done;
  if (r) {
    *state = r->state;
  }
  return true;
}

static bool fake_get_decision(void *impl, const char *txn_id,
                              txn_state_t *state, bool *decided,
                              chorus_error_t *err) {
  fake_store_t *fs = impl;
  int g = gate(fs, FAKE_GET_DECISION, err);
  if (g == GATE_FAIL || reply_lost(g, err)) { /* a read: nothing to lose */
    return false;
  }
  const fake_rec_t *r = find_rec(fs, txn_id);
  *decided = r && r->state != TXN_PENDING;
  if (*decided) {
    *state = r->state;
  }
  return true;
}

static void load_record(const fake_rec_t *r, txn_t *txn, txn_state_t *state) {
  txn_init(txn);
  bson_strncpy(txn->id, r->id, sizeof txn->id);
  *state = r->state;
  for (size_t i = 0; i < r->n_ops; i++) {
    txn_op_t *op = &txn->ops[txn->n_ops++];
    memset(op, 0, sizeof *op); /* staged_known false, no set/inc/doc */
    op->kind = r->ops[i].kind;
    op->shared = r->ops[i].shared;
    op->transient = r->ops[i].transient;
    op->fresh = r->ops[i].fresh;
    op->doc = r->ops[i].doc ? bson_copy(r->ops[i].doc) : NULL;
    op->shard = r->ops[i].shard;
    bson_strncpy(op->coll, r->ops[i].coll, sizeof op->coll);
    bson_value_copy(&r->ops[i].id, &op->id);
  }
}

static bool fake_claim(void *impl, const char *txn_id, const char *owner,
                       int64_t now_ms, int64_t lease_ms, txn_t *txn,
                       txn_state_t *state, bool *found, chorus_error_t *err) {
  fake_store_t *fs = impl;
  *found = false;
  int g = gate(fs, FAKE_CLAIM, err);
  if (g == GATE_FAIL) {
    return false;
  }
  /* find({_id?, done: false, deadline: {$lt: now}}).limit(16) */
  size_t cand[CLAIM_LIMIT];
  size_t n_cand = 0;
  for (size_t i = 0; i < fs->n_recs && n_cand < CLAIM_LIMIT; i++) {
    const fake_rec_t *r = &fs->recs[i];
    if ((!txn_id || !strcmp(r->id, txn_id)) && !r->done &&
        r->deadline < now_ms) {
      cand[n_cand++] = i;
    }
  }
  bool ok = true;
  for (size_t c = 0; c < n_cand && !*found; c++) {
    int64_t lease = fs->recs[cand[c]].lease;
    txn_cleanup(txn);
    load_record(&fs->recs[cand[c]], txn, state);
    if (fs->claim_hook) {
      void (*hook)(void *) = fs->claim_hook;
      fs->claim_hook = NULL;
      hook(fs->claim_hook_ctx);
    }
    /* update_one({_id, lease, done: false}, {$set: {owner, deadline},
     *                                       $inc: {lease: 1}}) */
    fake_rec_t *r = &fs->recs[cand[c]];
    if (r->lease == lease && !r->done) {
      bson_strncpy(r->owner, owner, sizeof r->owner);
      r->deadline = now_ms + lease_ms;
      r->lease++;
      *found = true;
    }
    if (reply_lost(g, err)) {
      *found = false;
      ok = false;
      break;
    }
  }
  if (!*found) {
    txn_cleanup(txn);
  }
  if (ok && reply_lost(g, err)) { /* nothing matched: the reply failed */
    ok = false;
  }
  return ok;
}

/* ------------------------------------------------------------------ */
/* public                                                              */
/* ------------------------------------------------------------------ */

fake_store_t *fake_store_new(void) {
  fake_store_t *fs = bson_malloc0(sizeof *fs);
  fs->budget = -1;
  return fs;
}

void fake_store_free(fake_store_t *fs) {
  if (!fs) {
    return;
  }
  for (size_t i = 0; i < fs->n_docs; i++) {
    set_doc(&fs->docs[i], NULL);
  }
  for (size_t i = 0; i < fs->n_recs; i++) {
    for (size_t j = 0; j < fs->recs[i].n_ops; j++) {
      bson_value_destroy(&fs->recs[i].ops[j].id);
      if (fs->recs[i].ops[j].doc) {
        bson_destroy(fs->recs[i].ops[j].doc);
      }
    }
  }
  bson_free(fs->docs);
  bson_free(fs->recs);
  bson_free(fs);
}

fake_store_t *fake_store_start(txn_store_t *store) {
  fake_store_t *fs = fake_store_new();
  fake_store_bind(fs, store);
  fake_clock_set(1000000);
  fake_clock_set_tick(0);
  return fs;
}

bson_value_t fake_store_string_id(const char *s) {
  bson_value_t v;
  memset(&v, 0, sizeof v);
  v.value_type = BSON_TYPE_UTF8;
  v.value.v_utf8.str = (char *)s;
  v.value.v_utf8.len = (uint32_t)strlen(s);
  return v;
}

bool fake_store_fields_in(const bson_t *a, const bson_t *b) {
  bson_iter_t ia, ib;
  if (!bson_iter_init(&ia, a)) {
    return false;
  }
  while (bson_iter_next(&ia)) {
    if (!bson_iter_init_find(&ib, b, bson_iter_key(&ia))) {
      return false;
    }
    if (BSON_ITER_HOLDS_NUMBER(&ia) && BSON_ITER_HOLDS_NUMBER(&ib)) {
      if (bson_iter_as_int64(&ia) != bson_iter_as_int64(&ib) ||
          bson_iter_as_double(&ia) != bson_iter_as_double(&ib)) {
        return false;
      }
      continue;
    }
    bson_t va = BSON_INITIALIZER, vb = BSON_INITIALIZER;
    bson_append_value(&va, "v", 1, bson_iter_value(&ia));
    bson_append_value(&vb, "v", 1, bson_iter_value(&ib));
    bool same = bson_equal(&va, &vb);
    bson_destroy(&va);
    bson_destroy(&vb);
    if (!same) {
      return false;
    }
  }
  return true;
}

void fake_store_bind(fake_store_t *fs, txn_store_t *store) {
  memset(store, 0, sizeof *store);
  store->impl = fs;
  store->begin = fake_begin;
  store->decide = fake_decide;
  store->finish = fake_finish;
  store->prepare = fake_prepare;
  store->commit_op = fake_commit_op;
  store->abort_op = fake_abort_op;
  store->claim = fake_claim;
  store->get_state = fake_get_state;
  store->get_decision = fake_get_decision;
}

void fake_store_fail_after(fake_store_t *fs, long n) {
  fs->budget = n;
  fs->fail_once = false;
  fs->failed = false;
}

void fake_store_fail_nth(fake_store_t *fs, long n) {
  fs->budget = n;
  fs->fail_once = true;
  fs->failed = false;
}

void fake_store_set_lost_reply(fake_store_t *fs, bool on) {
  fs->lost_reply = on;
}

void fake_store_heal(fake_store_t *fs) {
  fs->budget = -1;
  fs->fail_once = false;
}

bool fake_store_failed(const fake_store_t *fs) { return fs->failed; }

void fake_store_set_down(fake_store_t *fs, int shard, const char *coll,
                         const bson_value_t *id, bool down) {
  get_doc(fs, shard, coll, id)->down = down;
}

void fake_store_set_claim_hook(fake_store_t *fs, void (*fn)(void *ctx),
                               void *ctx) {
  fs->claim_hook = fn;
  fs->claim_hook_ctx = ctx;
}

void fake_store_set_call_hook(fake_store_t *fs,
                              void (*fn)(void *ctx, fake_fn_t fn), void *ctx) {
  fs->call_hook = fn;
  fs->call_hook_ctx = ctx;
}

void fake_store_set_rmw_hook(fake_store_t *fs, void (*fn)(void *ctx),
                             void *ctx) {
  fs->rmw_hook = fn;
  fs->rmw_hook_ctx = ctx;
}

void fake_store_set_latch(fake_store_t *fs, bool on) { fs->no_latch = !on; }

long fake_store_latched_writes(const fake_store_t *fs) {
  return fs->latched_writes;
}

void fake_store_hold_latch(fake_store_t *fs, int shard, const char *coll,
                           const bson_value_t *id, const char *txn_id) {
  bson_strncpy(get_doc(fs, shard, coll, id)->latch, txn_id ? txn_id : "",
               TXN_ID_LEN + 1);
}

size_t fake_store_entries(const fake_store_t *fs, int shard, const char *coll,
                          const bson_value_t *id) {
  return escrow_count(fake_store_raw(fs, shard, coll, id));
}

long fake_store_calls(const fake_store_t *fs) { return fs->total_calls; }

long fake_store_calls_of(const fake_store_t *fs, fake_fn_t fn) {
  return fs->calls[fn];
}

long fake_store_commits_in_lease(const fake_store_t *fs) {
  return fs->commits_in_lease;
}

void fake_store_reset_calls(fake_store_t *fs) {
  memset(fs->calls, 0, sizeof fs->calls);
  fs->total_calls = 0;
  fs->commits_in_lease = 0;
}

void fake_store_put(fake_store_t *fs, int shard, const char *coll,
                    const bson_t *doc) {
  bson_iter_t it;
  BSON_ASSERT(bson_iter_init_find(&it, doc, "_id"));
  set_doc(get_doc(fs, shard, coll, bson_iter_value(&it)), bson_copy(doc));
}

void fake_store_remove(fake_store_t *fs, int shard, const char *coll,
                       const bson_value_t *id) {
  fake_doc_t *d = find_doc(fs, shard, coll, id);
  if (d) {
    set_doc(d, NULL);
  }
}

const bson_t *fake_store_raw(const fake_store_t *fs, int shard,
                             const char *coll, const bson_value_t *id) {
  const fake_doc_t *d = find_doc(fs, shard, coll, id);
  return d ? d->doc : NULL;
}

bool fake_store_exists(const fake_store_t *fs, int shard, const char *coll,
                       const bson_value_t *id) {
  return fake_store_raw(fs, shard, coll, id) != NULL;
}

bool fake_store_locked(const fake_store_t *fs, int shard, const char *coll,
                       const bson_value_t *id, char owner[TXN_ID_LEN + 1]) {
  const bson_t *doc = fake_store_raw(fs, shard, coll, id);
  bool locked = doc && has_field(doc, TXN_LOCK_FIELD);
  if (owner) {
    lock_field_read_owner(doc, owner);
  }
  return locked;
}

static bool numeric_field(const bson_t *doc, const char *field,
                          int64_t *value) {
  bson_iter_t it;
  if (!doc || !bson_iter_init_find(&it, doc, field) ||
      !BSON_ITER_HOLDS_NUMBER(&it)) {
    return false;
  }
  *value = bson_iter_as_int64(&it);
  return true;
}

bool fake_store_field(const fake_store_t *fs, int shard, const char *coll,
                      const bson_value_t *id, const char *field,
                      int64_t *value) {
  return numeric_field(fake_store_raw(fs, shard, coll, id), field, value);
}

int64_t fake_store_version(const fake_store_t *fs, int shard, const char *coll,
                           const bson_value_t *id) {
  int64_t v;
  return fake_store_field(fs, shard, coll, id, "version", &v) ? v : -1;
}

bool fake_store_visible(const fake_store_t *fs, int shard, const char *coll,
                        const bson_value_t *id, bson_t *out) {
  const bson_t *doc = fake_store_raw(fs, shard, coll, id);
  if (!doc) {
    return false;
  }
  char owner[TXN_ID_LEN + 1];
  lock_field_read_owner(doc, owner);
  const fake_rec_t *r = owner[0] ? find_rec(fs, owner) : NULL;
  bson_t tmp;
  if (escrow_count(doc) > 0) {
    fake_fates_t fates = {fs, NULL, ESCROW_UNDECIDED, false};
    escrow_view(doc, fake_fate, &fates, &tmp);
  } else if (!view_apply(doc, r && r->state == TXN_COMMITTED, &tmp)) {
    return false;
  }
  if (out) {
    bson_steal(out, &tmp);
  } else {
    bson_destroy(&tmp);
  }
  return true;
}

bool fake_store_view_field(const fake_store_t *fs, int shard, const char *coll,
                           const bson_value_t *id, const char *field,
                           int64_t *value) {
  bson_t view;
  if (!fake_store_visible(fs, shard, coll, id, &view)) {
    return false;
  }
  bool ok = numeric_field(&view, field, value);
  bson_destroy(&view);
  return ok;
}

size_t fake_store_doc_count(const fake_store_t *fs) {
  size_t n = 0;
  for (size_t i = 0; i < fs->n_docs; i++) {
    n += fs->docs[i].doc != NULL;
  }
  return n;
}

size_t fake_store_locked_count(const fake_store_t *fs) {
  size_t n = 0;
  for (size_t i = 0; i < fs->n_docs; i++) {
    n += fs->docs[i].doc && has_field(fs->docs[i].doc, TXN_LOCK_FIELD);
  }
  return n;
}

bool fake_store_record(const fake_store_t *fs, const char *txn_id,
                       txn_state_t *state, bool *done) {
  const fake_rec_t *r = find_rec(fs, txn_id);
  if (r) {
    if (state) {
      *state = r->state;
    }
    if (done) {
      *done = r->done;
    }
  }
  return r != NULL;
}

bool fake_store_record_owner(const fake_store_t *fs, const char *txn_id,
                             char *owner, size_t size, int64_t *lease,
                             int64_t *deadline) {
  const fake_rec_t *r = find_rec(fs, txn_id);
  if (!r) {
    return false;
  }
  if (owner) {
    bson_strncpy(owner, r->owner, size);
  }
  if (lease) {
    *lease = r->lease;
  }
  if (deadline) {
    *deadline = r->deadline;
  }
  return true;
}

size_t fake_store_record_count(const fake_store_t *fs) { return fs->n_recs; }

size_t fake_store_unfinished(const fake_store_t *fs) {
  size_t n = 0;
  for (size_t i = 0; i < fs->n_recs; i++) {
    n += !fs->recs[i].done;
  }
  return n;
}

/* store_mongo_collect(): first unlock, once more, every participant of an
 * aborted finished record (late locks), and apply the transient inserts
 * of a committed one still there, then delete finished records. */
bool fake_store_collect(fake_store_t *fs, int64_t older_than_ms,
                        int64_t *deleted) {
  *deleted = 0;
  for (size_t i = 0; i < fs->n_recs; i++) {
    fake_rec_t *r = &fs->recs[i];
    if (!r->done || r->state == TXN_PENDING ||
        r->finished_at >= older_than_ms) {
      continue;
    }
    for (size_t j = 0; j < r->n_ops; j++) {
      bool committed = r->state == TXN_COMMITTED;
      if (committed && !r->ops[j].transient) {
        continue;
      }
      txn_op_t op;
      memset(&op, 0, sizeof op);
      op.kind = r->ops[j].kind;
      op.shared = r->ops[j].shared;
      op.transient = r->ops[j].transient;
      op.fresh = r->ops[j].fresh;
      op.doc = r->ops[j].doc; /* borrowed */
      op.shard = r->ops[j].shard;
      bson_strncpy(op.coll, r->ops[j].coll, sizeof op.coll);
      op.id = r->ops[j].id; /* borrowed */
      chorus_error_t err;
      bool ok = committed ? fake_commit_op(fs, r->id, &op, &err)
                          : fake_abort_op(fs, r->id, &op, &err);
      if (!ok) {
        return false;
      }
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < fs->n_recs; i++) {
    fake_rec_t *r = &fs->recs[i];
    if (r->done && r->finished_at < older_than_ms) {
      for (size_t j = 0; j < r->n_ops; j++) {
        bson_value_destroy(&r->ops[j].id);
        if (r->ops[j].doc) {
          bson_destroy(r->ops[j].doc);
        }
      }
      (*deleted)++;
    } else {
      fs->recs[kept++] = *r;
    }
  }
  fs->n_recs = kept;
  return true;
}
