/*
 * test_view.c - unit tests for view.h: the committed view of documents
 * that transactions may have locked.
 *
 * view_apply: an unlocked document is copied unchanged whatever the
 * decision; an insert is visible only when committed, a delete invisible
 * only when committed; a committed update applies its set (replacing
 * fields in place and appending new ones) and inc (adding to int32 and
 * int64 fields, creating missing ones) and bumps version, an uncommitted
 * one shows the original values; the lock field never appears in the
 * output wherever it sits, and field order is preserved.
 *
 * escrow.h: a rewrite folds committed entries (version + 1 each, _xv set
 * at the first fold), drops aborted ones, keeps undecided ones, adds one
 * once, and takes the lock off with the last; a view counts committed
 * entries only; an exclusive op's version is current when only increments
 * came since; and an entry's transaction id is a value, which FerretDB's
 * comparison of embedded documents (values only) needs.
 *
 * view_resolve, over the fake store (fake_store.h): rewrites locked
 * documents in place and leaves unlocked ones alone, looks each distinct
 * transaction's decision up once (counting get_decision calls: a reader
 * reads the decision alone), treats a missing record
 * (or a lock without an id) as aborted, reports a store failure, and its
 * result equals what the participant becomes once the decision is
 * applied (commit_op / abort_op), for every kind and every state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sync/txn/escrow.h"
#include "sync/txn/lock_field.h"
#include "sync/txn/txn.h"
#include "sync/txn/view.h"
#include "tests/unit/fake_store.h"

#define TXN_X "aaaaaaaaaaaaaaaaaaaaaaaa"
#define TXN_Y "bbbbbbbbbbbbbbbbbbbbbbbb"
#define TXN_Z "cccccccccccccccccccccccc"

static fake_store_t *fs;
static txn_store_t store;

static int setup(void **state) {
  (void)state;
  fs = fake_store_start(&store);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fake_store_free(fs);
  fs = NULL;
  return 0;
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static void assert_bson_equal(const bson_t *want, const bson_t *got) {
  if (!bson_equal(want, got)) {
    char *w = bson_as_relaxed_extended_json(want, NULL);
    char *g = bson_as_relaxed_extended_json(got, NULL);
    print_message("expected: %s\nactual:   %s\n", w, g);
    bson_free(w);
    bson_free(g);
    fail_msg("documents differ");
  }
}

static bool has_key(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key);
}

/* The same fields and values, in any order: the order in which MongoDB
 * appends fields an update creates is its own business. */
static bool same_content(const bson_t *a, const bson_t *b) {
  if (!fake_store_fields_in(a, b) || !fake_store_fields_in(b, a)) {
    char *ja = bson_as_relaxed_extended_json(a, NULL);
    char *jb = bson_as_relaxed_extended_json(b, NULL);
    print_message("one:   %s\nother: %s\n", ja, jb);
    bson_free(ja);
    bson_free(jb);
    return false;
  }
  return true;
}

/* Appends _txn: {id, kind, set?, inc?} (set/inc may be NULL). */
static void append_lock(bson_t *doc, const char *txn_id, const char *kind,
                        const bson_t *set, const bson_t *inc) {
  bson_t lock;
  BSON_APPEND_DOCUMENT_BEGIN(doc, TXN_LOCK_FIELD, &lock);
  if (txn_id) {
    BSON_APPEND_UTF8(&lock, "id", txn_id);
  }
  BSON_APPEND_UTF8(&lock, "kind", kind);
  if (set) {
    BSON_APPEND_DOCUMENT(&lock, "set", set);
  }
  if (inc) {
    BSON_APPEND_DOCUMENT(&lock, "inc", inc);
  }
  bson_append_document_end(doc, &lock);
}

/* {_id, text, n: int64, version: int64} */
static bson_t *plain(const char *id, const char *text, int64_t n,
                     int64_t version) {
  return BCON_NEW("_id", BCON_UTF8(id), "text", BCON_UTF8(text), "n",
                  BCON_INT64(n), "version", BCON_INT64(version));
}

/* plain() with a lock appended. */
static bson_t *locked_doc(const char *id, const char *txn_id, const char *kind,
                          const bson_t *set, const bson_t *inc) {
  bson_t *doc = plain(id, "orig", 10, 3);
  append_lock(doc, txn_id, kind, set, inc);
  return doc;
}

/* A decision record for txn_id in state (PENDING: left undecided). */
static void make_record(const char *txn_id, txn_state_t state) {
  txn_t txn;
  txn_init(&txn);
  bson_strncpy(txn.id, txn_id, sizeof txn.id);
  chorus_error_t err;
  assert_true(store.begin(store.impl, &txn, "A", 1 << 30, &err));
  if (state != TXN_PENDING) {
    txn_state_t actual;
    assert_true(store.decide(store.impl, txn_id, state, &actual, &err));
  }
  txn_cleanup(&txn);
}

/* view_apply(doc, committed) shows want (without the lock field), or
 * nothing when want is NULL. */
static void expect_view(const bson_t *doc, bool committed, const bson_t *want) {
  bson_t out;
  bool visible = view_apply(doc, committed, &out);
  assert_int_equal(visible, want != NULL);
  if (visible) {
    assert_bson_equal(want, &out);
    assert_false(has_key(&out, TXN_LOCK_FIELD));
    bson_destroy(&out);
  }
}

/* doc is plain(id, text, n, version). */
static void expect_plain(const bson_t *doc, const char *id, const char *text,
                         int64_t n, int64_t version) {
  bson_t *want = plain(id, text, n, version);
  assert_bson_equal(want, doc);
  bson_destroy(want);
}

/* ------------------------------------------------------------------ */
/* view_apply                                                          */
/* ------------------------------------------------------------------ */

static void unlocked_doc_is_copied_unchanged(void **state) {
  (void)state;
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, "0102030405060708090a0b0c");
  bson_t *doc = BCON_NEW(
      "_id", BCON_OID(&oid), "text", BCON_UTF8("hello"), "n32", BCON_INT32(-5),
      "n64", BCON_INT64(INT64_MAX), "d", BCON_DOUBLE(1.5), "flag",
      BCON_BOOL(false), "none", BCON_NULL, "when", BCON_DATE_TIME(1234567),
      "sub", "{", "a", BCON_INT32(1), "}", "arr", "[", BCON_UTF8("x"),
      BCON_UTF8("y"), "]", "version", BCON_INT64(9));
  for (int committed = 0; committed < 2; committed++) {
    bson_t out;
    assert_true(view_apply(doc, committed, &out));
    assert_bson_equal(doc, &out);
    bson_destroy(&out);
  }
  bson_destroy(doc);
}

static void empty_doc_is_copied(void **state) {
  (void)state;
  bson_t empty = BSON_INITIALIZER;
  bson_t out;
  assert_true(view_apply(&empty, true, &out));
  assert_true(bson_empty(&out));
  bson_destroy(&out);
  bson_destroy(&empty);
}

static void insert_and_delete_follow_the_decision(void **state) {
  (void)state;
  /* An insert exists only once committed, a delete is gone only then;
   * shown, the document is its fields without the lock. */
  static const struct {
    const char *kind;
    bool committed, visible;
  } cases[] = {
      {"insert", true, true},
      {"insert", false, false},
      {"delete", true, false},
      {"delete", false, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bson_t *doc = locked_doc("x", TXN_X, cases[i].kind, NULL, NULL);
    bson_t *want = cases[i].visible ? plain("x", "orig", 10, 3) : NULL;
    expect_view(doc, cases[i].committed, want);
    if (want) {
      bson_destroy(want);
    }
    bson_destroy(doc);
  }
}

static void committed_update_applies_set_inc_and_version(void **state) {
  (void)state;
  /* The lock sits in the middle: fields after it keep their place. */
  bson_t *set = BCON_NEW("a", BCON_UTF8("new"), "added", BCON_BOOL(true), "sub",
                         "{", "k", BCON_INT32(1), "}");
  bson_t *inc = BCON_NEW("n32", BCON_INT32(2), "n64", BCON_INT64(-3), "fresh",
                         BCON_INT64(7), "fresh32", BCON_INT32(4));
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8("u"), "a", BCON_UTF8("old"), "n32",
               BCON_INT32(5), "n64", BCON_INT64(10), "version", BCON_INT64(3));
  append_lock(doc, TXN_X, "update", set, inc);
  BSON_APPEND_UTF8(doc, "z", "last");
  bson_t *want = BCON_NEW(
      "_id", BCON_UTF8("u"), "a", BCON_UTF8("new"), "n32", BCON_INT64(7), "n64",
      BCON_INT64(7), "version", BCON_INT64(4), "z", BCON_UTF8("last"),
      /* new fields: set's, then inc's, in their order */
      "added", BCON_BOOL(true), "sub", "{", "k", BCON_INT32(1), "}", "fresh",
      BCON_INT64(7), "fresh32", BCON_INT64(4));
  expect_view(doc, true, want);
  bson_destroy(want);
  bson_destroy(doc);
  bson_destroy(set);
  bson_destroy(inc);
}

static void uncommitted_update_shows_original_values(void **state) {
  (void)state;
  bson_t *set = BCON_NEW("text", BCON_UTF8("new"), "added", BCON_BOOL(true));
  bson_t *inc = BCON_NEW("n", BCON_INT64(5), "fresh", BCON_INT64(1));
  bson_t *doc = locked_doc("u", TXN_X, "update", set, inc);
  bson_t *want = plain("u", "orig", 10, 3);
  expect_view(doc, false, want);
  bson_destroy(want);
  bson_destroy(doc);
  bson_destroy(set);
  bson_destroy(inc);
}

static void committed_update_with_only_set_only_inc_or_nothing(void **state) {
  (void)state;
  bson_t *set = BCON_NEW("text", BCON_UTF8("new"));
  bson_t *inc = BCON_NEW("n", BCON_INT64(-10));
  struct {
    const bson_t *set, *inc;
    const char *text;
    int64_t n;
  } cases[] = {
      {set, NULL, "new", 10},
      {NULL, inc, "orig", 0},
      {NULL, NULL, "orig", 10},
      {set, inc, "new", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bson_t *doc = locked_doc("u", TXN_X, "update", cases[i].set, cases[i].inc);
    bson_t *want = plain("u", cases[i].text, cases[i].n, 4);
    expect_view(doc, true, want);
    bson_destroy(want);
    bson_destroy(doc);
  }
  bson_destroy(set);
  bson_destroy(inc);
}

static void version_of_any_integer_type_is_bumped(void **state) {
  (void)state;
  bson_t *doc = BCON_NEW("_id", BCON_UTF8("u"), "version", BCON_INT32(41));
  append_lock(doc, TXN_X, "update", NULL, NULL);
  bson_t out;
  assert_true(view_apply(doc, true, &out));
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, &out, "version"));
  assert_int_equal(bson_iter_as_int64(&it), 42);
  bson_destroy(&out);
  bson_destroy(doc);
}

static void set_wins_over_the_existing_value_of_any_type(void **state) {
  (void)state;
  /* set replaces whatever type was there; inc on a missing field starts
   * from zero; negative increments subtract. */
  bson_t *set = BCON_NEW("n", BCON_UTF8("now a string"), "text", BCON_NULL);
  bson_t *inc = BCON_NEW("m", BCON_INT64(-4));
  bson_t *doc = locked_doc("u", TXN_X, "update", set, inc);
  bson_t *want = BCON_NEW("_id", BCON_UTF8("u"), "text", BCON_NULL, "n",
                          BCON_UTF8("now a string"), "version", BCON_INT64(4),
                          "m", BCON_INT64(-4));
  expect_view(doc, true, want);
  bson_destroy(want);
  bson_destroy(doc);
  bson_destroy(set);
  bson_destroy(inc);
}

static void lock_field_never_appears_wherever_it_is(void **state) {
  (void)state;
  const char *kinds[] = {"insert", "update", "delete", "bogus"};
  for (size_t k = 0; k < 4; k++) {
    for (int pos = 0; pos < 3; pos++) {
      for (int committed = 0; committed < 2; committed++) {
        bson_t *doc = bson_new();
        if (pos == 0) {
          append_lock(doc, TXN_X, kinds[k], NULL, NULL);
        }
        BSON_APPEND_UTF8(doc, "_id", "x");
        if (pos == 1) {
          append_lock(doc, TXN_X, kinds[k], NULL, NULL);
        }
        BSON_APPEND_INT64(doc, "version", 1);
        if (pos == 2) {
          append_lock(doc, TXN_X, kinds[k], NULL, NULL);
        }
        bson_t out;
        if (view_apply(doc, committed, &out)) {
          assert_false(has_key(&out, TXN_LOCK_FIELD));
          assert_true(has_key(&out, "_id"));
          /* order: _id before version */
          bson_iter_t it;
          assert_true(bson_iter_init(&it, &out));
          assert_true(bson_iter_next(&it));
          assert_string_equal(bson_iter_key(&it), "_id");
          bson_destroy(&out);
        }
        bson_destroy(doc);
      }
    }
  }
}

static void malformed_lock_is_dropped_and_doc_shown_as_is(void **state) {
  (void)state;
  /* _txn that is not a document, or without a kind: shown unchanged
   * apart from the lock field. */
  bson_t *a = BCON_NEW("_id", BCON_UTF8("x"), TXN_LOCK_FIELD, BCON_UTF8("junk"),
                       "n", BCON_INT64(1));
  bson_t *b = BCON_NEW("_id", BCON_UTF8("x"), TXN_LOCK_FIELD, "{", "id",
                       BCON_UTF8(TXN_X), "}", "n", BCON_INT64(1));
  bson_t *want = BCON_NEW("_id", BCON_UTF8("x"), "n", BCON_INT64(1));
  const bson_t *docs[] = {a, b};
  for (int i = 0; i < 2; i++) {
    for (int committed = 0; committed < 2; committed++) {
      expect_view(docs[i], committed, want);
    }
  }
  bson_destroy(a);
  bson_destroy(b);
  bson_destroy(want);
}

static void staged_fields_of_wrong_type_are_ignored(void **state) {
  (void)state;
  /* set/inc that are not documents stage nothing (the version still
   * counts the update). */
  bson_t *doc = plain("u", "orig", 10, 3);
  bson_t lock;
  BSON_APPEND_DOCUMENT_BEGIN(doc, TXN_LOCK_FIELD, &lock);
  BSON_APPEND_UTF8(&lock, "id", TXN_X);
  BSON_APPEND_UTF8(&lock, "kind", "update");
  BSON_APPEND_UTF8(&lock, "set", "not a doc");
  BSON_APPEND_INT32(&lock, "inc", 5);
  bson_append_document_end(doc, &lock);
  bson_t *want = plain("u", "orig", 10, 4);
  expect_view(doc, true, want);
  bson_destroy(want);
  bson_destroy(doc);
}

/* ------------------------------------------------------------------ */
/* view_resolve                                                        */
/* ------------------------------------------------------------------ */

static void resolve_rewrites_locked_docs_in_place(void **state) {
  (void)state;
  make_record(TXN_X, TXN_COMMITTED);
  make_record(TXN_Y, TXN_ABORTED);
  make_record(TXN_Z, TXN_PENDING);
  bson_t *set = BCON_NEW("text", BCON_UTF8("edited"));
  bson_t *inc = BCON_NEW("n", BCON_INT64(1));
  enum { N = 8 };
  bson_t *docs[N] = {
      plain("p", "plain", 1, 1),                     /* unlocked */
      locked_doc("cu", TXN_X, "update", set, inc),   /* applied */
      locked_doc("ci", TXN_X, "insert", NULL, NULL), /* visible */
      locked_doc("cd", TXN_X, "delete", NULL, NULL), /* gone */
      locked_doc("au", TXN_Y, "update", set, inc),   /* original */
      locked_doc("ai", TXN_Y, "insert", NULL, NULL), /* gone */
      locked_doc("pd", TXN_Z, "delete", NULL, NULL), /* visible */
      locked_doc("pu", TXN_Z, "update", set, inc),   /* original */
  };
  bson_t *orig[N];
  for (int i = 0; i < N; i++) {
    orig[i] = docs[i];
  }
  bson_t *copies[N];
  for (int i = 0; i < N; i++) {
    copies[i] = bson_copy(docs[i]);
  }
  bool visible[N];
  memset(visible, 0xA5, sizeof visible);
  chorus_error_t err;
  assert_true(view_resolve(&store, docs, N, visible, &err));
  bool want_visible[N] = {true, true, true, false, true, false, true, true};
  for (int i = 0; i < N; i++) {
    assert_int_equal(visible[i], want_visible[i]);
    if (visible[i]) {
      assert_false(has_key(docs[i], TXN_LOCK_FIELD));
    } else {
      /* an invisible one is left as it was, for the caller to skip */
      assert_ptr_equal(docs[i], orig[i]);
      assert_bson_equal(copies[i], docs[i]);
    }
  }
  /* the unlocked one is not even copied */
  assert_ptr_equal(docs[0], orig[0]);
  expect_plain(docs[0], "p", "plain", 1, 1);
  expect_plain(docs[1], "cu", "edited", 11, 4);
  expect_plain(docs[2], "ci", "orig", 10, 3);
  expect_plain(docs[4], "au", "orig", 10, 3);
  expect_plain(docs[6], "pd", "orig", 10, 3);
  expect_plain(docs[7], "pu", "orig", 10, 3);
  /* one lookup per distinct transaction */
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 3);
  for (int i = 0; i < N; i++) {
    bson_destroy(docs[i]);
    bson_destroy(copies[i]);
  }
  bson_destroy(set);
  bson_destroy(inc);
}

static void resolve_looks_each_txn_up_once(void **state) {
  (void)state;
  make_record(TXN_X, TXN_COMMITTED);
  make_record(TXN_Y, TXN_ABORTED);
  /* TXN_Z has no record */
  enum { N = 12 };
  const char *owners[N] = {TXN_X, NULL,  TXN_Y, TXN_X, TXN_Z, TXN_Y,
                           TXN_Z, TXN_X, NULL,  TXN_Y, TXN_X, TXN_Z};
  bson_t *docs[N];
  for (int i = 0; i < N; i++) {
    char id[8];
    snprintf(id, sizeof id, "d%d", i);
    docs[i] = owners[i] ? locked_doc(id, owners[i], "insert", NULL, NULL)
                        : plain(id, "plain", 0, 1);
  }
  bool visible[N];
  chorus_error_t err;
  assert_true(view_resolve(&store, docs, N, visible, &err));
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 3);
  for (int i = 0; i < N; i++) {
    bool want = owners[i] == NULL || !strcmp(owners[i], TXN_X);
    assert_int_equal(visible[i], want);
    bson_destroy(docs[i]);
  }
}

static void resolve_with_many_distinct_txns(void **state) {
  (void)state;
  /* More distinct transactions than view.c caches (16): every document
   * still gets its own transaction's decision. */
  enum { N_TXN = 24, N = 2 * N_TXN };
  char ids[N_TXN][TXN_ID_LEN + 1];
  for (int t = 0; t < N_TXN; t++) {
    snprintf(ids[t], sizeof ids[t], "%024d", t + 1);
    if (t % 3 != 2) {
      make_record(ids[t], t % 3 == 0 ? TXN_COMMITTED : TXN_ABORTED);
    }
  }
  bson_t *docs[N];
  for (int i = 0; i < N; i++) {
    char id[8];
    snprintf(id, sizeof id, "d%d", i);
    docs[i] = locked_doc(id, ids[i % N_TXN], "insert", NULL, NULL);
  }
  bool visible[N];
  chorus_error_t err;
  assert_true(view_resolve(&store, docs, N, visible, &err));
  for (int i = 0; i < N; i++) {
    assert_int_equal(visible[i], (i % N_TXN) % 3 == 0);
    bson_destroy(docs[i]);
  }
  /* view.h: "Looks each distinct transaction up once". */
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), N_TXN);
}

/* Decides TXN_Z committed once its first lookup has been answered (the
 * hook runs at the start of the next get_decision call). */
typedef struct flip {
  long lookups_before; /* get_decision calls up to and including TXN_Z's */
  bool flipped;
} flip_t;

static void flip_hook(void *ctx, fake_fn_t fn) {
  flip_t *f = ctx;
  if (fn == FAKE_GET_DECISION && !f->flipped &&
      fake_store_calls_of(fs, FAKE_GET_DECISION) == f->lookups_before) {
    txn_state_t actual;
    chorus_error_t err;
    assert_true(store.decide(store.impl, TXN_Z, TXN_COMMITTED, &actual, &err));
    f->flipped = true;
  }
}

static void resolve_never_shows_half_a_transaction(void **state) {
  (void)state;
  /* TXN_Z moves one unit from "from" to "to" and commits while a reader
   * resolves a page: [k docs of other transactions] from [a doc of one
   * more transaction] to.  Z's decision lands between the lookups of
   * "from" and of the next transaction.  The page must show both of Z's
   * documents before, or both after, whatever k. */
  for (int others = 0; others <= 24; others += 4) {
    fake_store_free(fs);
    fs = fake_store_start(&store);
    make_record(TXN_Z, TXN_PENDING);
    int n = others + 3;
    bson_t **docs = bson_malloc0((size_t)n * sizeof *docs);
    bool *visible = bson_malloc0((size_t)n * sizeof *visible);
    for (int i = 0; i <= others; i++) {
      char id[TXN_ID_LEN + 1], doc_id[8];
      snprintf(id, sizeof id, "%024d", i + 1);
      make_record(id, TXN_ABORTED);
      snprintf(doc_id, sizeof doc_id, "o%d", i);
      /* docs 0..others-1, and the one between from and to */
      docs[i < others ? i : others + 1] =
          locked_doc(doc_id, id, "delete", NULL, NULL);
    }
    bson_t *dec = BCON_NEW("n", BCON_INT64(-1));
    bson_t *inc = BCON_NEW("n", BCON_INT64(1));
    docs[others] = locked_doc("from", TXN_Z, "update", NULL, dec);
    docs[others + 2] = locked_doc("to", TXN_Z, "update", NULL, inc);
    fake_store_reset_calls(fs);
    flip_t f = {.lookups_before = others + 1};
    fake_store_set_call_hook(fs, flip_hook, &f);
    chorus_error_t err;
    bool ok = view_resolve(&store, docs, (size_t)n, visible, &err);
    fake_store_set_call_hook(fs, NULL, NULL);
    int64_t from = 0, to = 0;
    bson_iter_t it;
    if (bson_iter_init_find(&it, docs[others], "n")) {
      from = bson_iter_as_int64(&it);
    }
    if (bson_iter_init_find(&it, docs[others + 2], "n")) {
      to = bson_iter_as_int64(&it);
    }
    bool shown = visible[others] && visible[others + 2];
    for (int i = 0; i < n; i++) {
      bson_destroy(docs[i]);
    }
    bson_free(docs);
    bson_free(visible);
    bson_destroy(dec);
    bson_destroy(inc);
    assert_true(ok);
    assert_true(f.flipped);
    assert_true(shown);
    if (from + to != 20) {
      fail_msg("with %d other locked transactions first, the page shows "
               "from=%lld to=%lld: half of a transaction",
               others, (long long)from, (long long)to);
    }
  }
}

static void resolve_treats_missing_record_as_aborted(void **state) {
  (void)state;
  bson_t *set = BCON_NEW("text", BCON_UTF8("edited"));
  enum { N = 4 };
  bson_t *docs[N] = {
      locked_doc("i", TXN_X, "insert", NULL, NULL),
      locked_doc("u", TXN_X, "update", set, NULL),
      locked_doc("d", TXN_X, "delete", NULL, NULL),
      locked_doc("noid", NULL, "insert", NULL, NULL), /* lock without id */
  };
  bool visible[N];
  chorus_error_t err;
  assert_true(view_resolve(&store, docs, N, visible, &err));
  assert_false(visible[0]);
  assert_true(visible[1]);
  assert_true(visible[2]);
  assert_false(visible[3]);
  expect_plain(docs[1], "u", "orig", 10, 3);
  expect_plain(docs[2], "d", "orig", 10, 3);
  for (int i = 0; i < N; i++) {
    bson_destroy(docs[i]);
  }
  bson_destroy(set);
}

static void resolve_done_records_count_by_their_state(void **state) {
  (void)state;
  /* A finished record still decides (a lock may outlive it). */
  make_record(TXN_X, TXN_COMMITTED);
  make_record(TXN_Y, TXN_ABORTED);
  chorus_error_t err;
  assert_true(store.finish(store.impl, TXN_X, TXN_COMMITTED, &err));
  assert_true(store.finish(store.impl, TXN_Y, TXN_ABORTED, &err));
  bson_t *docs[2] = {locked_doc("a", TXN_X, "insert", NULL, NULL),
                     locked_doc("b", TXN_Y, "insert", NULL, NULL)};
  bool visible[2];
  assert_true(view_resolve(&store, docs, 2, visible, &err));
  assert_true(visible[0]);
  assert_false(visible[1]);
  bson_destroy(docs[0]);
  bson_destroy(docs[1]);
}

static void resolve_reports_store_failure(void **state) {
  (void)state;
  make_record(TXN_X, TXN_COMMITTED);
  bson_t *docs[2] = {plain("p", "plain", 1, 1),
                     locked_doc("a", TXN_X, "insert", NULL, NULL)};
  bool visible[2];
  chorus_error_t err;
  memset(&err, 0, sizeof err);
  fake_store_fail_after(fs, 0);
  assert_false(view_resolve(&store, docs, 2, visible, &err));
  assert_int_equal(err.status, 503);
  fake_store_heal(fs);
  bson_destroy(docs[0]);
  bson_destroy(docs[1]);
}

static void resolve_of_nothing_and_of_unlocked_docs(void **state) {
  (void)state;
  bool visible[3];
  chorus_error_t err;
  assert_true(view_resolve(&store, NULL, 0, visible, &err));
  bson_t *docs[3] = {plain("a", "x", 1, 1), plain("b", "y", 2, 2), bson_new()};
  bson_t *orig[3] = {docs[0], docs[1], docs[2]};
  assert_true(view_resolve(&store, docs, 3, visible, &err));
  for (int i = 0; i < 3; i++) {
    assert_true(visible[i]);
    assert_ptr_equal(docs[i], orig[i]);
    bson_destroy(docs[i]);
  }
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 0);
}

/* ------------------------------------------------------------------ */
/* the view is what applying the decision produces                     */
/* ------------------------------------------------------------------ */

static void view_equals_the_applied_decision(void **state) {
  (void)state;
  /* For each kind and each fate (committed, aborted, pending, no record):
   * stage the op through the store, resolve the raw document, then apply
   * the decision as recovery would (commit_op when committed, else
   * abort_op) and compare. */
  const txn_state_t fates[] = {TXN_COMMITTED, TXN_ABORTED, TXN_PENDING};
  for (int kind = TXN_INSERT; kind <= TXN_DELETE; kind++) {
    for (int f = 0; f < 4; f++) {
      fake_store_free(fs);
      fs = fake_store_start(&store);
      bson_t *doc = BCON_NEW("_id", BCON_UTF8("d"), "text", BCON_UTF8("orig"),
                             "n", BCON_INT64(10), "m", BCON_INT64(-1),
                             "version", BCON_INT64(3));
      if (kind != TXN_INSERT) {
        fake_store_put(fs, 0, "c", doc);
      }
      txn_t txn;
      txn_init(&txn);
      bson_strncpy(txn.id, TXN_X, sizeof txn.id);
      bson_value_t id = fake_store_string_id("d");
      bson_t *set =
          BCON_NEW("text", BCON_UTF8("new"), "extra", BCON_BOOL(true));
      bson_t *inc =
          BCON_NEW("n", BCON_INT64(5), "m", BCON_INT64(1), "k", BCON_INT64(2));
      int64_t v3 = 3;
      if (kind == TXN_INSERT) {
        txn_add_insert(&txn, 0, "c", doc);
      } else if (kind == TXN_UPDATE) {
        txn_add_update(&txn, 0, "c", &id, set, inc, &v3);
      } else {
        txn_add_delete(&txn, 0, "c", &id, &v3);
      }
      chorus_error_t err;
      if (f < 3) {
        assert_true(store.begin(store.impl, &txn, "A", 1 << 30, &err));
        if (fates[f] != TXN_PENDING) {
          txn_state_t actual;
          assert_true(
              store.decide(store.impl, txn.id, fates[f], &actual, &err));
        }
      }
      char owner[TXN_ID_LEN + 1];
      assert_int_equal(
          store.prepare(store.impl, txn.id, &txn.ops[0], owner, &err),
          TXN_VOTE_YES);
      bson_t *raw[1] = {bson_copy(fake_store_raw(fs, 0, "c", &id))};
      bool visible[1];
      assert_true(view_resolve(&store, raw, 1, visible, &err));
      txn_op_t op = txn.ops[0];
      op.staged_known = false; /* as recovery sees it */
      if (f == 0) {
        assert_true(store.commit_op(store.impl, txn.id, &op, &err));
      } else {
        assert_true(store.abort_op(store.impl, txn.id, &op, &err));
      }
      const bson_t *applied = fake_store_raw(fs, 0, "c", &id);
      assert_int_equal(visible[0], applied != NULL);
      if (applied) {
        assert_true(same_content(applied, raw[0]));
        /* existing fields keep their order */
        bson_iter_t a, v;
        assert_true(bson_iter_init(&a, applied) && bson_iter_init(&v, raw[0]));
        for (int k = 0; k < 5; k++) {
          assert_true(bson_iter_next(&a) && bson_iter_next(&v));
          assert_string_equal(bson_iter_key(&a), bson_iter_key(&v));
        }
      }
      bson_destroy(raw[0]);
      txn_cleanup(&txn);
      bson_destroy(doc);
      bson_destroy(set);
      bson_destroy(inc);
    }
  }
}

static void committed_update_creates_missing_version(void **state) {
  (void)state;
  /* Like MongoDB's $inc on apply: a committed update of a document
   * without "version" (a user) shows version 1; uncommitted, none. */
  bson_t *inc = BCON_NEW("tweet_count", BCON_INT64(1));
  bson_t *doc = BCON_NEW("_id", BCON_UTF8("u"), "tweet_count", BCON_INT64(4));
  append_lock(doc, TXN_X, "update", NULL, inc);
  bson_t out;
  assert_true(view_apply(doc, true, &out));
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, &out, "version"));
  assert_int_equal(bson_iter_as_int64(&it), 1);
  assert_true(bson_iter_init_find(&it, &out, "tweet_count"));
  assert_int_equal(bson_iter_as_int64(&it), 5);
  assert_int_equal(bson_count_keys(&out), 3);
  bson_destroy(&out);
  assert_true(view_apply(doc, false, &out));
  assert_false(has_key(&out, "version"));
  bson_destroy(&out);
  bson_destroy(doc);
  bson_destroy(inc);
}

static void view_of_update_without_version_field(void **state) {
  (void)state;
  /* The same through the store: the view of the committed, unapplied
   * update has the content the applied document gets (an increment: the
   * applied document also keeps _xv, which readers never see). */
  bson_t *doc = BCON_NEW("_id", BCON_UTF8("u"), "tweet_count", BCON_INT64(4));
  fake_store_put(fs, TXN_MAIN_SHARD, "users", doc);
  txn_t txn;
  txn_init(&txn);
  bson_strncpy(txn.id, TXN_X, sizeof txn.id);
  bson_value_t id = fake_store_string_id("u");
  bson_t *inc = BCON_NEW("tweet_count", BCON_INT64(1));
  txn_add_update(&txn, TXN_MAIN_SHARD, "users", &id, NULL, inc, NULL);
  chorus_error_t err;
  assert_true(store.begin(store.impl, &txn, "A", 1 << 30, &err));
  char owner[TXN_ID_LEN + 1];
  assert_int_equal(store.prepare(store.impl, txn.id, &txn.ops[0], owner, &err),
                   TXN_VOTE_YES);
  txn_state_t actual;
  assert_true(store.decide(store.impl, txn.id, TXN_COMMITTED, &actual, &err));
  bson_t view;
  assert_true(fake_store_visible(fs, TXN_MAIN_SHARD, "users", &id, &view));
  assert_true(store.commit_op(store.impl, txn.id, &txn.ops[0], &err));
  const bson_t *raw = fake_store_raw(fs, TXN_MAIN_SHARD, "users", &id);
  bson_t applied = BSON_INITIALIZER;
  bson_copy_to_excluding_noinit(raw, &applied, ESCROW_XV, NULL);
  assert_true(same_content(&applied, &view));
  bson_destroy(&applied);
  bson_destroy(&view);
  txn_cleanup(&txn);
  bson_destroy(doc);
  bson_destroy(inc);
}

/* ------------------------------------------------------------------ */
/* escrow entries (escrow.h)                                           */
/* ------------------------------------------------------------------ */

#define TXN_A "a00000000000000000000000"
#define TXN_B "b00000000000000000000000"
#define TXN_C "c00000000000000000000000"
#define TXN_D "d00000000000000000000000"

/* {_id: "e", n: 10, version: 3, _txn: {esc: [{id, inc: {n: d}}...]}} with
 * the entries (ids[i], deltas[i]); no _txn when n == 0. */
static bson_t *escrow_doc(const char *const *ids, const int64_t *deltas,
                          size_t n) {
  bson_t *doc = BCON_NEW("_id", BCON_UTF8("e"), "n", BCON_INT64(10), "version",
                         BCON_INT64(3));
  if (n) {
    bson_t lock, esc;
    BSON_APPEND_DOCUMENT_BEGIN(doc, TXN_LOCK_FIELD, &lock);
    BSON_APPEND_ARRAY_BEGIN(&lock, ESCROW_FIELD, &esc);
    for (size_t i = 0; i < n; i++) {
      char key[24];
      snprintf(key, sizeof key, "%zu", i);
      bson_t entry, inc;
      BSON_APPEND_DOCUMENT_BEGIN(&esc, key, &entry);
      BSON_APPEND_UTF8(&entry, "id", ids[i]);
      BSON_APPEND_DOCUMENT_BEGIN(&entry, "inc", &inc);
      BSON_APPEND_INT64(&inc, "n", deltas[i]);
      bson_append_document_end(&entry, &inc);
      bson_append_document_end(&esc, &entry);
    }
    bson_append_array_end(&lock, &esc);
    bson_append_document_end(doc, &lock);
  }
  return doc;
}

/* A: committed, B: aborted, anything else undecided. */
static escrow_fate_t abc_fate(void *ctx, const char *txn_id) {
  (void)ctx;
  return !strcmp(txn_id, TXN_A)   ? ESCROW_COMMITTED
         : !strcmp(txn_id, TXN_B) ? ESCROW_ABORTED
                                  : ESCROW_UNDECIDED;
}

static int64_t int_at(const bson_t *doc, const char *path) {
  bson_iter_t it, f;
  assert_true(bson_iter_init(&it, doc));
  assert_true(bson_iter_find_descendant(&it, path, &f));
  return bson_iter_as_int64(&f);
}

static void escrow_rewrite_folds_drops_keeps_and_adds(void **state) {
  (void)state;
  const char *ids[] = {TXN_A, TXN_B, TXN_C};
  const int64_t deltas[] = {2, 5, 7};
  bson_t *doc = escrow_doc(ids, deltas, 3);
  assert_int_equal(escrow_count(doc), 3);
  assert_true(escrow_has(doc, TXN_B));
  assert_false(escrow_has(doc, TXN_D));
  char id[TXN_ID_LEN + 1];
  assert_true(escrow_entry_id(doc, 2, id));
  assert_string_equal(id, TXN_C);
  assert_false(escrow_entry_id(doc, 3, id));
  bson_t *add = BCON_NEW("n", BCON_INT64(1));
  bson_t out, update;
  escrow_result_t res;
  escrow_add_t d = {TXN_D, add};
  escrow_rewrite(doc, abc_fate, NULL, &d, 1, &out, &update, &res);
  assert_int_equal(res.folded, 1);
  assert_int_equal(res.dropped, 1);
  assert_int_equal(res.kept, 2);
  assert_true(res.changed);
  /* A folded (+2, version +1), B dropped, C kept, D added; _xv is the
   * version before the first fold */
  assert_int_equal(int_at(&out, "n"), 12);
  assert_int_equal(int_at(&out, "version"), 4);
  assert_int_equal(int_at(&out, ESCROW_XV), 3);
  assert_int_equal(escrow_count(&out), 2);
  assert_true(escrow_has(&out, TXN_C));
  assert_true(escrow_has(&out, TXN_D));
  /* the write: those fields, and the lock, in one $set */
  assert_int_equal(int_at(&update, "$set.n"), 12);
  assert_int_equal(int_at(&update, "$set.version"), 4);
  assert_int_equal(int_at(&update, "$set." ESCROW_XV), 3);
  assert_true(has_key(&update, "$set"));
  assert_false(has_key(&update, "$unset"));
  /* applying it again (the same writer once more) adds nothing */
  bson_t again, update2;
  escrow_rewrite(&out, abc_fate, NULL, &d, 1, &again, &update2, &res);
  assert_false(res.changed);
  assert_true(bson_empty(&update2));
  assert_int_equal(int_at(&again, "n"), 12);
  bson_destroy(&again);
  bson_destroy(&update2);
  /* once C is decided too, the last write takes the lock off */
  bson_t last, update3;
  escrow_rewrite(&out, abc_fate, NULL, NULL, 0, &last, &update3, &res);
  assert_false(res.changed); /* C and D undecided: nothing to do */
  bson_destroy(&last);
  bson_destroy(&update3);
  bson_destroy(&out);
  bson_destroy(&update);
  const char *two[] = {TXN_A, TXN_B};
  bson_t *decided = escrow_doc(two, deltas, 2);
  escrow_rewrite(decided, abc_fate, NULL, NULL, 0, &last, &update3, &res);
  assert_true(res.changed);
  assert_int_equal(res.kept, 0);
  assert_false(has_key(&last, TXN_LOCK_FIELD));
  assert_true(has_key(&update3, "$unset"));
  assert_int_equal(int_at(&last, "n"), 12);
  bson_destroy(&last);
  bson_destroy(&update3);
  bson_destroy(decided);
  bson_destroy(add);
  bson_destroy(doc);
}

static void escrow_view_counts_committed_entries_only(void **state) {
  (void)state;
  const char *ids[] = {TXN_A, TXN_B, TXN_C};
  const int64_t deltas[] = {2, 5, 7};
  bson_t *doc = escrow_doc(ids, deltas, 3);
  BSON_APPEND_INT64(doc, ESCROW_XV, 1);
  bson_t out;
  escrow_view(doc, abc_fate, NULL, &out);
  assert_int_equal(int_at(&out, "n"), 12);
  assert_int_equal(int_at(&out, "version"), 4);
  assert_false(has_key(&out, TXN_LOCK_FIELD));
  assert_false(has_key(&out, ESCROW_XV));
  bson_destroy(&out);
  /* view_apply of a document with entries: all committed, or none */
  assert_true(view_apply(doc, true, &out));
  assert_int_equal(int_at(&out, "n"), 24);
  assert_int_equal(int_at(&out, "version"), 6);
  bson_destroy(&out);
  assert_true(view_apply(doc, false, &out));
  assert_int_equal(int_at(&out, "n"), 10);
  assert_int_equal(int_at(&out, "version"), 3);
  bson_destroy(&out);
  bson_destroy(doc);
}

static void escrow_version_current_allows_increments_only(void **state) {
  (void)state;
  bson_t *doc = BCON_NEW("version", BCON_INT64(7), ESCROW_XV, BCON_INT64(4));
  for (int64_t v = 2; v <= 9; v++) {
    assert_int_equal(escrow_version_current(doc, v), v >= 4 && v <= 7);
  }
  bson_destroy(doc);
  doc = BCON_NEW("version", BCON_INT64(7)); /* no _xv: exactly 7 */
  assert_true(escrow_version_current(doc, 7));
  assert_false(escrow_version_current(doc, 6));
  assert_false(escrow_version_current(doc, 8));
  bson_destroy(doc);
  doc = BCON_NEW("n", BCON_INT64(1)); /* no version at all: never */
  assert_false(escrow_version_current(doc, 0));
  bson_destroy(doc);
}

#define TXN_E "e00000000000000000000000"
#define TXN_F "f00000000000000000000000"

/* Markers live: C, D, E (F's is gone). */
static bool cde_live(void *ctx, const char *txn_id) {
  (void)ctx;
  return !strcmp(txn_id, TXN_C) || !strcmp(txn_id, TXN_D) ||
         !strcmp(txn_id, TXN_E);
}

/* The ids of the array at key of doc, concatenated. */
static void ids_at(const bson_t *doc, const char *key, char *out, size_t size) {
  bson_iter_t it, a;
  out[0] = '\0';
  assert_true(bson_iter_init(&it, doc));
  assert_true(bson_iter_find_descendant(&it, key, &a));
  assert_true(BSON_ITER_HOLDS_ARRAY(&a));
  bson_iter_t e;
  assert_true(bson_iter_recurse(&a, &e));
  while (bson_iter_next(&e)) {
    strncat(out, bson_iter_utf8(&e, NULL), size - strlen(out) - 1);
    strncat(out, " ", size - strlen(out) - 1);
  }
}

/* Deferred increments (escrow.h): a fold adds each increment not listed in
 * _fd (version + 1 each), folds and drops escrow entries as a rewrite
 * does, keeps in _fd the ids whose markers are there and adds its own; a
 * second fold of the same adds nothing; the view leaves _fd out, and
 * escrow_add_increments adds to the fields and not to version. */
static void deferred_increments_fold_once(void **state) {
  (void)state;
  const char *ids[] = {TXN_A, TXN_B, TXN_C};
  const int64_t deltas[] = {2, 5, 7};
  bson_t *doc = escrow_doc(ids, deltas, 3);
  bson_t fd;
  BSON_APPEND_ARRAY_BEGIN(doc, ESCROW_FOLDED, &fd);
  BSON_APPEND_UTF8(&fd, "0", TXN_E); /* its marker is there */
  BSON_APPEND_UTF8(&fd, "1", TXN_F); /* gone: let go */
  bson_append_array_end(doc, &fd);
  assert_true(escrow_deferred_folded(doc, TXN_E));
  assert_true(escrow_deferred_folded(doc, TXN_F));
  assert_false(escrow_deferred_folded(doc, TXN_D));

  bson_t *one = BCON_NEW("n", BCON_INT64(1));
  bson_t *hundred = BCON_NEW("n", BCON_INT64(100), "m", BCON_INT64(3));
  escrow_add_t adds[] = {
      {TXN_D, hundred}, /* folded now */
      {TXN_E, one},     /* listed: folded before */
      {TXN_D, one},     /* the same id again: once */
  };
  bson_t update;
  escrow_result_t res;
  escrow_fold_deferred(doc, abc_fate, NULL, adds, 3, cde_live, NULL, &update,
                       &res);
  assert_true(res.changed);
  assert_int_equal(res.deferred, 1);
  assert_int_equal(res.folded, 1);  /* A's entry */
  assert_int_equal(res.dropped, 1); /* B's */
  assert_int_equal(res.kept, 1);    /* C's, undecided */
  /* 10 + A's 2 + D's 100; version 3 + A + D; m created */
  assert_int_equal(int_at(&update, "$set.n"), 112);
  assert_int_equal(int_at(&update, "$set.m"), 3);
  assert_int_equal(int_at(&update, "$set.version"), 5);
  assert_int_equal(int_at(&update, "$set." ESCROW_XV), 3);
  char list[128];
  ids_at(&update, "$set." ESCROW_FOLDED, list, sizeof list);
  assert_string_equal(list, TXN_E " " TXN_D " ");
  assert_true(has_key(&update, "$set"));
  assert_false(has_key(&update, "$unset")); /* C's entry stays */

  /* The document as written: the same fold again changes nothing. */
  bson_t written = BSON_INITIALIZER;
  bson_iter_t it;
  assert_true(bson_iter_init(&it, doc));
  while (bson_iter_next(&it)) {
    bson_iter_t set;
    char path[64];
    snprintf(path, sizeof path, "$set.%s", bson_iter_key(&it));
    if (bson_iter_init(&set, &update) &&
        bson_iter_find_descendant(&set, path, &set)) {
      bson_append_value(&written, bson_iter_key(&it), -1,
                        bson_iter_value(&set));
    } else {
      bson_append_value(&written, bson_iter_key(&it), -1, bson_iter_value(&it));
    }
  }
  bson_t *m3 = BCON_NEW("m", BCON_INT64(3));
  bson_concat(&written, m3);
  bson_destroy(m3);
  bson_t update2;
  escrow_fold_deferred(&written, abc_fate, NULL, adds, 1, cde_live, NULL,
                       &update2, &res);
  assert_false(res.changed); /* D listed, A and B gone, C undecided */
  assert_int_equal(res.deferred, 0);
  assert_true(bson_empty(&update2));
  bson_destroy(&update2);

  /* The view: no _fd; the increments not folded added to the fields. */
  bson_t out;
  escrow_view(&written, abc_fate, NULL, &out);
  assert_false(has_key(&out, ESCROW_FOLDED));
  assert_false(has_key(&out, ESCROW_XV));
  bson_t more;
  escrow_add_increments(&out, hundred, &more);
  assert_int_equal(int_at(&more, "n"), 212);
  assert_int_equal(int_at(&more, "m"), 6);
  assert_int_equal(int_at(&more, "version"), 5); /* folded ones only */
  bson_destroy(&more);
  bson_t *fresh = BCON_NEW("_id", BCON_UTF8("f"), "version", BCON_INT64(1));
  escrow_add_increments(fresh, one, &more);
  assert_int_equal(int_at(&more, "n"), 1); /* created */
  assert_int_equal(int_at(&more, "version"), 1);
  bson_destroy(&more);
  bson_destroy(fresh);
  assert_true(view_apply(&written, true, &out)); /* C's entry committed */
  assert_false(has_key(&out, ESCROW_FOLDED));
  assert_int_equal(int_at(&out, "n"), 119);
  bson_destroy(&out);

  bson_destroy(&written);
  bson_destroy(&update);
  bson_destroy(hundred);
  bson_destroy(one);
  bson_destroy(doc);
}

/* FerretDB 1.24 skips a $set whose new value is "identical" to the old
 * one, and its types.Identical compares an embedded document's values in
 * order, not its field names.  This is that comparison. */
static bool ferretdb_identical(const bson_iter_t *a, const bson_iter_t *b) {
  if (bson_iter_type(a) != bson_iter_type(b)) {
    return false;
  }
  if (BSON_ITER_HOLDS_DOCUMENT(a) || BSON_ITER_HOLDS_ARRAY(a)) {
    bson_iter_t ca, cb;
    assert_true(bson_iter_recurse(a, &ca));
    assert_true(bson_iter_recurse(b, &cb));
    for (;;) {
      bool na = bson_iter_next(&ca), nb = bson_iter_next(&cb);
      if (na != nb) {
        return false;
      }
      if (!na) {
        return true;
      }
      if (!ferretdb_identical(&ca, &cb)) {
        return false;
      }
    }
  }
  bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
  bson_append_iter(&x, "v", 1, a);
  bson_append_iter(&y, "v", 1, b);
  bool same = bson_equal(&x, &y);
  bson_destroy(&x);
  bson_destroy(&y);
  return same;
}

/* An entry's transaction id is a value, so a rewrite that changes which
 * transactions hold entries always changes the lock field's values, and
 * FerretDB applies it even when every delta is the same (docs/SYNC.md
 * §1: with ids as field names, likes of one tweet were lost and counted
 * twice). */
static void escrow_entries_differ_by_value_for_ferretdb(void **state) {
  (void)state;
  const char *before[] = {TXN_A, TXN_C};
  const int64_t ones[] = {1, 1, 1};
  bson_t *doc = escrow_doc(before, ones, 2); /* A committed, C undecided */
  bson_t *add = BCON_NEW("n", BCON_INT64(1));
  bson_t out, update;
  escrow_result_t res;
  escrow_add_t d = {TXN_D, add};
  escrow_rewrite(doc, abc_fate, NULL, &d, 1, &out, &update, &res);
  assert_int_equal(escrow_count(&out), 2); /* [C, D] over [A, C] */
  bson_iter_t old_lock, new_lock;
  assert_true(bson_iter_init_find(&old_lock, doc, TXN_LOCK_FIELD));
  assert_true(bson_iter_init(&new_lock, &update));
  assert_true(
      bson_iter_find_descendant(&new_lock, "$set." TXN_LOCK_FIELD, &new_lock));
  assert_false(ferretdb_identical(&old_lock, &new_lock));
  /* the shape that FerretDB would skip: ids as names, equal deltas */
  bson_t *keyed_old = BCON_NEW("esc", "{", TXN_A, "{", "n", BCON_INT64(1), "}",
                               TXN_C, "{", "n", BCON_INT64(1), "}", "}");
  bson_t *keyed_new = BCON_NEW("esc", "{", TXN_C, "{", "n", BCON_INT64(1), "}",
                               TXN_D, "{", "n", BCON_INT64(1), "}", "}");
  bson_t wrap_old = BSON_INITIALIZER, wrap_new = BSON_INITIALIZER;
  BSON_APPEND_DOCUMENT(&wrap_old, "v", keyed_old);
  BSON_APPEND_DOCUMENT(&wrap_new, "v", keyed_new);
  bson_iter_t ko, kn;
  assert_true(bson_iter_init_find(&ko, &wrap_old, "v"));
  assert_true(bson_iter_init_find(&kn, &wrap_new, "v"));
  assert_true(ferretdb_identical(&ko, &kn));
  bson_destroy(&wrap_old);
  bson_destroy(&wrap_new);
  bson_destroy(keyed_old);
  bson_destroy(keyed_new);
  bson_destroy(&out);
  bson_destroy(&update);
  bson_destroy(add);
  bson_destroy(doc);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(unlocked_doc_is_copied_unchanged),
      T(empty_doc_is_copied),
      T(insert_and_delete_follow_the_decision),
      T(committed_update_applies_set_inc_and_version),
      T(uncommitted_update_shows_original_values),
      T(committed_update_with_only_set_only_inc_or_nothing),
      T(version_of_any_integer_type_is_bumped),
      T(set_wins_over_the_existing_value_of_any_type),
      T(lock_field_never_appears_wherever_it_is),
      T(malformed_lock_is_dropped_and_doc_shown_as_is),
      T(staged_fields_of_wrong_type_are_ignored),
      T(resolve_rewrites_locked_docs_in_place),
      T(resolve_looks_each_txn_up_once),
      T(resolve_with_many_distinct_txns),
      T(resolve_never_shows_half_a_transaction),
      T(resolve_treats_missing_record_as_aborted),
      T(resolve_done_records_count_by_their_state),
      T(resolve_reports_store_failure),
      T(resolve_of_nothing_and_of_unlocked_docs),
      T(view_equals_the_applied_decision),
      T(committed_update_creates_missing_version),
      T(view_of_update_without_version_field),
      T(escrow_rewrite_folds_drops_keeps_and_adds),
      T(escrow_view_counts_committed_entries_only),
      T(escrow_version_current_allows_increments_only),
      T(deferred_increments_fold_once),
      T(escrow_entries_differ_by_value_for_ferretdb),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
