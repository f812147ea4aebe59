/*
 * view.c - see view.h.
 *
 * Invariant: within one view_resolve call every transaction has one
 * answer (committed or not), whichever documents name it (an exclusive
 * stage or an escrow entry), so one call never shows two participants of
 * a transaction with different decisions.
 */
#include "sync/txn/view.h"

#include <assert.h>
#include <string.h>

#include "sync/base/bsonx.h"
#include "sync/txn/decisions.h"
#include "sync/txn/escrow.h"
#include "sync/txn/lock_field.h"

/* Finds key in doc (a document of staged fields); NULL when absent. */
static bool staged_find(const bson_t *staged, const char *key,
                        bson_iter_t *it) {
  return staged && bson_iter_init_find(it, staged, key);
}

static void append_sum(bson_t *out, const char *key, const bson_iter_t *a,
                       const bson_iter_t *b) {
  int64_t sum = (a ? bsonx_as_int64(a) : 0) + bsonx_as_int64(b);
  bson_append_int64(out, key, -1, sum);
}

static escrow_fate_t constant_fate(void *ctx, const char *txn_id) {
  (void)txn_id;
  return *(const bool *)ctx ? ESCROW_COMMITTED : ESCROW_UNDECIDED;
}

bool view_apply(const bson_t *doc, bool committed, bson_t *out) {
  if (escrow_count(doc) > 0) {
    escrow_view(doc, constant_fate, &committed, out);
    return true;
  }
  bson_iter_t it, lock;
  const char *kind = NULL;
  bson_t set, inc;
  bool has_set = false, has_inc = false;
  if (bson_iter_init_find(&it, doc, TXN_LOCK_FIELD) &&
      BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &lock)) {
    while (bson_iter_next(&lock)) {
      const char *k = bson_iter_key(&lock);
      uint32_t len;
      const uint8_t *data;
      if (!strcmp(k, "kind") && BSON_ITER_HOLDS_UTF8(&lock)) {
        kind = bson_iter_utf8(&lock, NULL);
      } else if (!strcmp(k, "set") && BSON_ITER_HOLDS_DOCUMENT(&lock)) {
        bson_iter_document(&lock, &len, &data);
        has_set = bson_init_static(&set, data, len);
      } else if (!strcmp(k, "inc") && BSON_ITER_HOLDS_DOCUMENT(&lock)) {
        bson_iter_document(&lock, &len, &data);
        has_inc = bson_init_static(&inc, data, len);
      }
    }
  }
  bool is_insert = kind && !strcmp(kind, "insert");
  bool is_delete = kind && !strcmp(kind, "delete");
  bool is_update = kind && !strcmp(kind, "update");
  if ((is_insert && !committed) || (is_delete && committed)) {
    return false;
  }
  bool apply = committed && is_update;
  bson_init(out);
  bson_iter_init(&it, doc);
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    bson_iter_t staged;
    if (!strcmp(key, TXN_LOCK_FIELD) || !strcmp(key, ESCROW_XV) ||
        !strcmp(key, TXN_CREATOR_FIELD) || !strcmp(key, ESCROW_FOLDED)) {
      continue;
    }
    if (apply && staged_find(has_set ? &set : NULL, key, &staged)) {
      bson_append_value(out, key, -1, bson_iter_value(&staged));
    } else if (apply && staged_find(has_inc ? &inc : NULL, key, &staged)) {
      append_sum(out, key, &it, &staged);
    } else if (apply && !strcmp(key, "version")) {
      bson_append_int64(out, key, -1, bsonx_as_int64(&it) + 1);
    } else {
      bson_append_value(out, key, -1, bson_iter_value(&it));
    }
  }
  /* A committed update creates version (as $inc would) when absent. */
  bson_iter_t has_version;
  if (apply && !bson_iter_init_find(&has_version, doc, "version") &&
      !staged_find(has_set ? &set : NULL, "version", &has_version) &&
      !staged_find(has_inc ? &inc : NULL, "version", &has_version)) {
    BSON_APPEND_INT64(out, "version", 1);
  }
  /* Staged fields the document did not have yet. */
  for (int pass = 0; apply && pass < 2; pass++) {
    bool has = pass == 0 ? has_set : has_inc;
    bson_t *staged = pass == 0 ? &set : &inc;
    if (!has || !bson_iter_init(&it, staged)) {
      continue;
    }
    while (bson_iter_next(&it)) {
      bson_iter_t present;
      if (bson_iter_init_find(&present, doc, bson_iter_key(&it)) ||
          !strcmp(bson_iter_key(&it), ESCROW_XV) ||
          !strcmp(bson_iter_key(&it), ESCROW_FOLDED)) {
        continue;
      }
      if (pass == 0) {
        bson_append_value(out, bson_iter_key(&it), -1, bson_iter_value(&it));
      } else {
        append_sum(out, bson_iter_key(&it), NULL, &it);
      }
    }
  }
  return true;
}

typedef struct decision {
  char id[TXN_ID_LEN + 1];
  bool committed;
} decision_t;

/* One view_resolve call's answers, one per distinct transaction. */
typedef struct answers {
  decision_t *list;
  size_t n, cap;
} answers_t;

static const decision_t *answer_of(const answers_t *a, const char *txn_id) {
  for (size_t i = 0; i < a->n; i++) {
    if (!strcmp(a->list[i].id, txn_id)) {
      return &a->list[i];
    }
  }
  return NULL;
}

/* Whether txn_id committed: this call's answer, else what this process
 * knows (decisions.h: an open transaction is not committed, nor one the
 * database said undecided a moment ago), else its decision read from the
 * database, kept for the rest of the call. */
static bool resolve(const txn_store_t *store, answers_t *a, const char *txn_id,
                    chorus_error_t *err) {
  if (answer_of(a, txn_id)) {
    return true;
  }
  bool committed = false;
  switch (decisions_get(store->decisions, txn_id)) {
  case DECISIONS_COMMITTED:
    committed = true;
    break;
  case DECISIONS_ABORTED:
  case DECISIONS_OPEN:
  case DECISIONS_UNDECIDED:
    break;
  case DECISIONS_UNKNOWN:
  default: {
    txn_state_t state;
    bool decided;
    uint64_t generation = decisions_generation(store->decisions);
    if (!store->get_decision(store->impl, txn_id, &state, &decided, err)) {
      return false;
    }
    if (decided) {
      decisions_put(store->decisions, txn_id, state);
    } else {
      decisions_undecided(store->decisions, txn_id, generation);
    }
    committed = decided && state == TXN_COMMITTED;
    break;
  }
  }
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 8;
    a->list = bson_realloc(a->list, sizeof *a->list * a->cap);
  }
  bson_strncpy(a->list[a->n].id, txn_id, sizeof a->list[a->n].id);
  a->list[a->n++].committed = committed;
  return true;
}

static escrow_fate_t answered_fate(void *ctx, const char *txn_id) {
  const decision_t *d = answer_of(ctx, txn_id);
  assert(d); /* every entry was resolved first */
  return d && d->committed ? ESCROW_COMMITTED : ESCROW_UNDECIDED;
}

/* Replaces *doc by out (a view built for it). */
static void replace_doc(bson_t **doc, bson_t *out) {
  bson_destroy(*doc);
  *doc = bson_copy(out);
  bson_destroy(out);
}

bool view_resolve(const txn_store_t *store, bson_t **docs, size_t n,
                  bool *visible, chorus_error_t *err) {
  answers_t a = {NULL, 0, 0};
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    bson_iter_t it;
    visible[i] = true;
    if (!bson_iter_init_find(&it, docs[i], TXN_LOCK_FIELD)) {
      if (bson_iter_init_find(&it, docs[i], ESCROW_XV) ||
          bson_iter_init_find(&it, docs[i], TXN_CREATOR_FIELD) ||
          bson_iter_init_find(&it, docs[i], ESCROW_FOLDED)) {
        bson_t out = BSON_INITIALIZER;
        bson_copy_to_excluding_noinit(docs[i], &out, ESCROW_XV,
                                      TXN_CREATOR_FIELD, ESCROW_FOLDED, NULL);
        replace_doc(&docs[i], &out);
      }
      continue;
    }
    size_t entries = escrow_count(docs[i]);
    bson_t out;
    if (entries > 0) {
      char id[TXN_ID_LEN + 1];
      for (size_t e = 0; ok && escrow_entry_id(docs[i], e, id); e++) {
        ok = resolve(store, &a, id, err);
      }
      if (ok) {
        escrow_view(docs[i], answered_fate, &a, &out);
        replace_doc(&docs[i], &out);
      }
      continue;
    }
    char txn_id[TXN_ID_LEN + 1];
    lock_field_read_owner(docs[i], txn_id);
    ok = resolve(store, &a, txn_id, err);
    if (ok) {
      visible[i] = view_apply(docs[i], answer_of(&a, txn_id)->committed, &out);
      if (visible[i]) {
        replace_doc(&docs[i], &out);
      }
    }
  }
  bson_free(a.list);
  return ok;
}

/* Reads at most `ask` raw documents. */
static bool find_raw(db_t *db, const char *coll_name, const bson_t *filter,
                     const bson_t *sort, size_t ask, bson_t **docs, size_t *n,
                     chorus_error_t *err) {
  bson_t opts = BSON_INITIALIZER;
  if (sort) {
    BSON_APPEND_DOCUMENT(&opts, "sort", sort);
  }
  BSON_APPEND_INT64(&opts, "limit", (int64_t)ask);
  *n = 0;
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    bson_destroy(&opts);
    db_error_unavailable(err);
    return false;
  }
  mongoc_collection_t *coll = db_collection(db, client, coll_name);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
  const bson_t *doc;
  *n = 0;
  while (*n < ask && mongoc_cursor_next(cursor, &doc)) {
    docs[(*n)++] = bson_copy(doc);
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, coll_name);
    for (size_t i = 0; i < *n; i++) {
      bson_destroy(docs[i]);
    }
    *n = 0;
  }
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(coll);
  db_release(db, client);
  bson_destroy(&opts);
  return ok;
}

/* Hides (visible[i] false) each of docs[0..n) that a transaction not
 * finished yet still stages. */
static bool hide_unfinished(const txn_store_t *store, bson_t **docs, size_t n,
                            bool *visible, chorus_error_t *err) {
  for (size_t i = 0; i < n; i++) {
    char owner[TXN_ID_LEN + 1];
    txn_state_t state;
    bool found, done;
    lock_field_read_owner(docs[i], owner);
    if (!owner[0]) {
      continue;
    }
    if (!store->get_state(store->impl, owner, &state, &found, &done, err)) {
      return false;
    }
    visible[i] = visible[i] && found && done;
  }
  return true;
}

/* How a page is read. */
typedef enum {
  PAGE_EXACT = 0, /* the committed view (view_find) */
  PAGE_FINISHED,  /* and staged documents only once finished */
  PAGE_FOLDED,    /* deferred increments left out (view_find_folded) */
} page_mode_t;

/* A page read again because a fold wrote one of its documents between
 * the store's reads (pending_increments) is read at most this many times
 * in a row; then 503. */
#define PAGE_FOLD_TRIES 8

/* Frees incs[0..n) (the deferred increments pending_increments found
 * for docs[0..n); incs may be NULL), first adding each to its document
 * when apply and the document is visible. */
static void add_pending(bson_t **docs, const bool *visible, size_t n,
                        bson_t **incs, bool apply) {
  for (size_t i = 0; incs && i < n; i++) {
    if (incs[i] && apply && visible[i]) {
      bson_t out;
      escrow_add_increments(docs[i], incs[i], &out);
      replace_doc(&docs[i], &out);
    }
    if (incs[i]) {
      bson_destroy(incs[i]);
    }
  }
  bson_free(incs);
}

static bool find_page(db_t *db, const txn_store_t *store, const char *coll,
                      const bson_t *filter, const bson_t *sort, size_t want,
                      page_mode_t mode, view_page_t *out, chorus_error_t *err) {
  out->docs = NULL;
  out->n = 0;
  if (want == 0) {
    return true;
  }
  bool exact = mode == PAGE_EXACT && store->pending_increments;
  for (size_t ask = want, tries = 0;;) {
    bson_t **docs = bson_malloc0(sizeof *docs * ask);
    bool *visible = bson_malloc0(sizeof *visible * ask);
    size_t got = 0;
    /* finished[i]: not staged by an unfinished transaction (only asked
     * with PAGE_FINISHED; the readers' pages skip it) */
    bool *finished = NULL;
    if (mode == PAGE_FINISHED) {
      finished = bson_malloc0(sizeof *finished * ask);
      for (size_t i = 0; i < ask; i++) {
        finished[i] = true;
      }
    }
    /* incs[i]: the deferred increments of docs[i] (exact) */
    bson_t **incs = exact ? bson_malloc0(sizeof *incs * ask) : NULL;
    bool again = false;
    bool ok = find_raw(db, coll, filter, sort, ask, docs, &got, err) &&
              (!exact || store->pending_increments(store->impl, coll, docs, got,
                                                   incs, &again, err));
    if (ok && again && ++tries >= PAGE_FOLD_TRIES) {
      ok = false;
      chorus_error_set(err, 503, "busy",
                       "%s: documents kept changing while read", coll);
    }
    ok = ok && !again &&
         (!finished || hide_unfinished(store, docs, got, finished, err)) &&
         view_resolve(store, docs, got, visible, err);
    for (size_t i = 0; ok && finished && i < got; i++) {
      visible[i] = visible[i] && finished[i];
    }
    add_pending(docs, visible, got, incs, ok);
    bson_free(finished);
    size_t shown = 0;
    for (size_t i = 0; i < got; i++) {
      if (ok && visible[i] && shown < want) {
        docs[shown++] = docs[i];
      } else {
        bson_destroy(docs[i]);
      }
    }
    bson_free(visible);
    if (!ok && again && tries < PAGE_FOLD_TRIES) {
      bson_free(docs);
      continue; /* the same page again */
    }
    if (!ok) {
      bson_free(docs); /* its documents were destroyed above */
      return false;
    }
    assert(shown <= want && got <= ask);
    if (shown == want || got < ask) {
      out->docs = docs;
      out->n = shown;
      return true;
    }
    for (size_t i = 0; i < shown; i++) {
      bson_destroy(docs[i]);
    }
    bson_free(docs);
    ask *= 2;
    tries = 0;
  }
}

bool view_find(db_t *db, const txn_store_t *store, const char *coll,
               const bson_t *filter, const bson_t *sort, size_t want,
               view_page_t *out, chorus_error_t *err) {
  return find_page(db, store, coll, filter, sort, want, PAGE_EXACT, out, err);
}

bool view_find_folded(db_t *db, const txn_store_t *store, const char *coll,
                      const bson_t *filter, const bson_t *sort, size_t want,
                      view_page_t *out, chorus_error_t *err) {
  return find_page(db, store, coll, filter, sort, want, PAGE_FOLDED, out, err);
}

bool view_find_finished(db_t *db, const txn_store_t *store, const char *coll,
                        const bson_t *filter, const bson_t *sort, size_t want,
                        view_page_t *out, chorus_error_t *err) {
  return find_page(db, store, coll, filter, sort, want, PAGE_FINISHED, out,
                   err);
}

void view_page_free(view_page_t *page) {
  for (size_t i = 0; i < page->n; i++) {
    bson_destroy(page->docs[i]);
  }
  bson_free(page->docs);
  page->docs = NULL;
  page->n = 0;
}
