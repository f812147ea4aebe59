/*
 * test_txn.c - unit tests for the two-phase commit state machine (txn.h)
 * and its recovery (recovery.h), over the in-memory fake store
 * (fake_store.h), which mirrors store_mongo.c.
 *
 * Covers: building transactions (copies, two ops on one document refused,
 * including numeric _ids of different types); a multi-op commit across
 * the main database and two shards (every effect, version bumps, no
 * locks, record committed and done, the exact sequence of store calls);
 * every vote-no reason (LOCKED with its owner, STALE, MISSING, EXISTS)
 * aborting with the right outcome and failed_op, leaving everything
 * unchanged and never preparing later ops; idempotence of prepare,
 * commit_op and abort_op; an outage after every store call, a lost reply
 * at every call and a blip at every call, and a crash at every named
 * step, each followed by recovery by another server: the committed view
 * is all-or-nothing and follows the decision before recovery, the end
 * state is all-or-nothing with no locks and the record done, and an
 * acknowledged commit is never lost; prepare errors (the failed
 * participant left to recovery); decide as a compare-and-set against
 * recovery (abort first: CONFLICT and rollback; claim first but decision
 * first: roll forward, effects applied once); late prepares landing after
 * recovery finished (undone by their coordinator; left by a crashed one,
 * resolved through a kind-0 op and swept by the collector); decide on a
 * collected record; the prepare margin (min(lease/4, 500 ms)) and its
 * boundaries; claim exclusivity (sequential and racing), deadlines,
 * takeover of a takeover, claims of one record, max, a fresh clock per
 * claim; recovery crashing midway and being finished by another pass; an
 * unreachable participant; interleaved transactions; and a randomized
 * model test of 2000 transfers between counters with random faults,
 * crashes, interleavings and recovery passes, checking the committed sum
 * after each and, at the end, every counter, version and inserted
 * document against the decisions; and group commit
 * (txn_execute_group): every member committed, increments of one document
 * by several members, a member voting no aborted alone, and a crash at
 * every store call of a group followed by recovery leaving each member
 * fully created or absent.
 *
 * CHORUS_TXN_SEED=<n> picks the random test's seed (printed).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sync/txn/decisions.h"
#include "sync/txn/escrow.h"
#include "sync/txn/lock_field.h"
#include "sync/txn/recovery.h"
#include "sync/txn/txn.h"
#include "sync/txn/view.h"
#include "tests/unit/fake_store.h"

#define LEASE 2000
#define OTHER_TXN "aaaaaaaaaaaaaaaaaaaaaaaa"

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

/* A fresh store and clock in the middle of a test, as setup() makes. */
static void restart(void) {
  fake_store_free(fs);
  fs = fake_store_start(&store);
}

typedef struct loc {
  int shard;
  const char *coll;
  const char *id;
} loc_t;

/* Silences recovery_pass's log line for each recovered transaction. */
static int quiet_fd = -1;
static void quiet(bool on) {
  fflush(stderr);
  if (on && quiet_fd < 0) {
    quiet_fd = dup(2);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    close(null);
  } else if (!on && quiet_fd >= 0) {
    dup2(quiet_fd, 2);
    close(quiet_fd);
    quiet_fd = -1;
  }
}

/* A clock stopped at a given time, for recovery passes "at" that time
 * without moving the fake clock. */
static int64_t pinned_ms;
static int64_t pinned_now(void) { return pinned_ms; }

static bool recover(const char *owner, int64_t now, int max,
                    recovery_result_t *r, chorus_error_t *err) {
  quiet(true);
  pinned_ms = now;
  bool ok =
      recovery_pass(&store, NULL, owner, LEASE, pinned_now, max, NULL, r, err);
  quiet(false);
  return ok;
}

static bool recover_one(const char *txn_id, const char *owner, int64_t now,
                        recovery_result_t *r, chorus_error_t *err) {
  quiet(true);
  pinned_ms = now;
  bool ok =
      recovery_pass(&store, txn_id, owner, LEASE, pinned_now, 1, NULL, r, err);
  quiet(false);
  return ok;
}

/* A recovery pass by "B" once the lease has run out (the fake clock not
 * moved) succeeds, recovering `recovered` transactions and rolling
 * `rolled_back` of them back. */
static void expect_recovery(int recovered, int rolled_back) {
  recovery_result_t rr;
  chorus_error_t err;
  assert_true(recover("B", fake_clock_peek() + LEASE + 1, 64, &rr, &err));
  assert_int_equal(rr.recovered, recovered);
  assert_int_equal(rr.rolled_back, rolled_back);
}

static txn_exec_opts_t opts_for(const char *owner) {
  txn_exec_opts_t o;
  memset(&o, 0, sizeof o);
  o.owner = owner;
  o.lease_ms = LEASE;
  o.now_ms = fake_clock_now;
  return o;
}

typedef struct result {
  txn_outcome_t outcome;
  size_t failed_op;
  char lock_owner[TXN_ID_LEN + 1];
  chorus_error_t err;
} result_t;

static txn_outcome_t run_opts(txn_t *txn, const txn_exec_opts_t *o,
                              result_t *r) {
  memset(r, 0, sizeof *r);
  r->failed_op = 99;
  memset(r->lock_owner, 'X', TXN_ID_LEN);
  r->outcome =
      txn_execute(&store, txn, o, &r->failed_op, r->lock_owner, &r->err);
  return r->outcome;
}

static txn_outcome_t run(txn_t *txn, result_t *r) {
  txn_exec_opts_t o = opts_for("A");
  return run_opts(txn, &o, r);
}

/* A document {_id, <field>: n (int64), version: v (int64)}. */
static void put_counter(int shard, const char *coll, const char *id,
                        const char *field, int64_t n, int64_t version) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", id);
  BSON_APPEND_INT64(&doc, field, n);
  BSON_APPEND_INT64(&doc, "version", version);
  fake_store_put(fs, shard, coll, &doc);
  bson_destroy(&doc);
}

/* The same document locked by txn_id for kind. */
static void put_locked(int shard, const char *coll, const char *id,
                       const char *txn_id, const char *kind) {
  bson_t doc = BSON_INITIALIZER, lock;
  BSON_APPEND_UTF8(&doc, "_id", id);
  BSON_APPEND_INT64(&doc, "n", 1);
  BSON_APPEND_INT64(&doc, "version", 1);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, TXN_LOCK_FIELD, &lock);
  BSON_APPEND_UTF8(&lock, "id", txn_id);
  BSON_APPEND_UTF8(&lock, "kind", kind);
  bson_append_document_end(&doc, &lock);
  fake_store_put(fs, shard, coll, &doc);
  bson_destroy(&doc);
}

static void add_inc(txn_t *txn, int shard, const char *coll, const char *id,
                    const char *field, int64_t by,
                    const int64_t *expect_version) {
  bson_value_t v = fake_store_string_id(id);
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, field, by);
  txn_add_update(txn, shard, coll, &v, NULL, &inc, expect_version);
  bson_destroy(&inc);
}

static int64_t version(int shard, const char *coll, const char *id);

/* An exclusive increment: add_inc checking the document's current
 * version (an update with a version check is never shared, txn.h), for
 * the tests of the exclusive mode. */
static void add_inc_x(txn_t *txn, int shard, const char *coll, const char *id,
                      const char *field, int64_t by) {
  int64_t v = version(shard, coll, id);
  add_inc(txn, shard, coll, id, field, by, &v);
}

/* An exclusive increment without a version check: inc with a set of
 * "touched" (an update with a set is never shared). */
static void add_inc_set(txn_t *txn, int shard, const char *coll, const char *id,
                        const char *field, int64_t by) {
  bson_value_t v = fake_store_string_id(id);
  bson_t inc = BSON_INITIALIZER, set = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, field, by);
  BSON_APPEND_BOOL(&set, "touched", true);
  txn_add_update(txn, shard, coll, &v, &set, &inc, NULL);
  bson_destroy(&inc);
  bson_destroy(&set);
}

static void add_set_text(txn_t *txn, int shard, const char *coll,
                         const char *id, const char *text,
                         const int64_t *expect_version) {
  bson_value_t v = fake_store_string_id(id);
  bson_t set = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&set, "text", text);
  txn_add_update(txn, shard, coll, &v, &set, NULL, expect_version);
  bson_destroy(&set);
}

/* A document {_id: id, text: "inserted", version: 1} added to txn by add
 * (txn_add_insert, txn_add_fresh_insert). */
static void add_doc(txn_t *txn, int shard, const char *coll, const char *id,
                    void (*add)(txn_t *, int, const char *, const bson_t *)) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", id);
  BSON_APPEND_UTF8(&doc, "text", "inserted");
  BSON_APPEND_INT64(&doc, "version", 1);
  add(txn, shard, coll, &doc);
  bson_destroy(&doc);
}

static void add_insert(txn_t *txn, int shard, const char *coll,
                       const char *id) {
  add_doc(txn, shard, coll, id, txn_add_insert);
}

/* add_insert's document as a fresh insert (txn_add_fresh_insert). */
static void add_fresh(txn_t *txn, int shard, const char *coll, const char *id) {
  add_doc(txn, shard, coll, id, txn_add_fresh_insert);
}

static void add_delete(txn_t *txn, int shard, const char *coll, const char *id,
                       const int64_t *expect_version) {
  bson_value_t v = fake_store_string_id(id);
  txn_add_delete(txn, shard, coll, &v, expect_version);
}

static bool exists(int shard, const char *coll, const char *id) {
  bson_value_t v = fake_store_string_id(id);
  return fake_store_exists(fs, shard, coll, &v);
}

static bool locked(int shard, const char *coll, const char *id,
                   char owner[TXN_ID_LEN + 1]) {
  bson_value_t v = fake_store_string_id(id);
  return fake_store_locked(fs, shard, coll, &v, owner);
}

static int64_t field(int shard, const char *coll, const char *id,
                     const char *name) {
  bson_value_t v = fake_store_string_id(id);
  int64_t n = -12345;
  assert_true(fake_store_field(fs, shard, coll, &v, name, &n));
  return n;
}

static int64_t version(int shard, const char *coll, const char *id) {
  bson_value_t v = fake_store_string_id(id);
  return fake_store_version(fs, shard, coll, &v);
}

static const char *text_of(int shard, const char *coll, const char *id) {
  bson_value_t v = fake_store_string_id(id);
  const bson_t *doc = fake_store_raw(fs, shard, coll, &v);
  bson_iter_t it;
  if (!doc || !bson_iter_init_find(&it, doc, "text") ||
      !BSON_ITER_HOLDS_UTF8(&it)) {
    return NULL;
  }
  return bson_iter_utf8(&it, NULL);
}

static void assert_record(const char *txn_id, txn_state_t want_state,
                          bool want_done) {
  txn_state_t st = TXN_PENDING;
  bool done = !want_done;
  assert_true(fake_store_record(fs, txn_id, &st, &done));
  assert_string_equal(txn_state_name(st), txn_state_name(want_state));
  assert_int_equal(done, want_done);
}

/* Snapshots of a set of documents: raw (as stored) or committed view. */
#define SNAP_MAX 16
typedef struct snap {
  bson_t *docs[SNAP_MAX];
  size_t n;
  bool view; /* committed view: compared by content, not field order */
} snap_t;

static void snap_take(snap_t *s, const loc_t *locs, size_t n, bool view) {
  BSON_ASSERT(n <= SNAP_MAX);
  s->n = n;
  s->view = view;
  for (size_t i = 0; i < n; i++) {
    bson_value_t v = fake_store_string_id(locs[i].id);
    s->docs[i] = NULL;
    if (view) {
      bson_t out;
      if (fake_store_visible(fs, locs[i].shard, locs[i].coll, &v, &out)) {
        s->docs[i] = bson_copy(&out);
        bson_destroy(&out);
      }
    } else {
      const bson_t *raw = fake_store_raw(fs, locs[i].shard, locs[i].coll, &v);
      s->docs[i] = raw ? bson_copy(raw) : NULL;
    }
  }
}

static void snap_free(snap_t *s) {
  for (size_t i = 0; i < s->n; i++) {
    if (s->docs[i]) {
      bson_destroy(s->docs[i]);
    }
  }
  s->n = 0;
}

/* Whether a and b hold the same fields (either order), _xv left out:
 * the committed view never shows it (escrow.h). */
static bool same_fields_but_xv(const bson_t *a, const bson_t *b) {
  bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
  bson_copy_to_excluding_noinit(a, &x, ESCROW_XV, NULL);
  bson_copy_to_excluding_noinit(b, &y, ESCROW_XV, NULL);
  bool same = fake_store_fields_in(&x, &y) && fake_store_fields_in(&y, &x);
  bson_destroy(&x);
  bson_destroy(&y);
  return same;
}

/* The same document content; field order counts unless a view is
 * involved (where new fields may come in another order than MongoDB's,
 * and _xv is not shown). */
static bool snap_equal(const snap_t *a, const snap_t *b) {
  if (a->n != b->n) {
    return false;
  }
  for (size_t i = 0; i < a->n; i++) {
    if (!a->docs[i] != !b->docs[i]) {
      return false;
    }
    if (!a->docs[i]) {
      continue;
    }
    if (a->view || b->view) {
      if (!same_fields_but_xv(a->docs[i], b->docs[i])) {
        return false;
      }
    } else if (!bson_equal(a->docs[i], b->docs[i])) {
      return false;
    }
  }
  return true;
}

static void snap_print(const char *what, const snap_t *s) {
  print_message("%s:\n", what);
  for (size_t i = 0; i < s->n; i++) {
    char *json =
        s->docs[i] ? bson_as_relaxed_extended_json(s->docs[i], NULL) : NULL;
    print_message("  [%zu] %s\n", i, json ? json : "(absent)");
    bson_free(json);
  }
}

static void assert_snap_equal(const snap_t *want, const snap_t *got) {
  if (!snap_equal(want, got)) {
    snap_print("expected", want);
    snap_print("actual", got);
    fail_msg("documents differ");
  }
}

/* The documents at locs[0..n) (raw, or their committed view) are want. */
static void assert_docs(const snap_t *want, const loc_t *locs, size_t n,
                        bool view) {
  snap_t got;
  snap_take(&got, locs, n, view);
  assert_snap_equal(want, &got);
  snap_free(&got);
}

/* Steps: records the steps seen, may run an action or crash (longjmp). */
typedef struct steps {
  char seen[8][32];
  int n_seen;
  const char *crash_at; /* longjmp at this step */
  jmp_buf *jb;
  void (*action)(struct steps *s, const char *step);
  void *data;
} steps_t;

static void crashed_txn(txn_t *txn, const char *step);
static void seed_five(void);

static void on_step(void *ctx, const char *step) {
  steps_t *s = ctx;
  if (s->n_seen < 8) {
    bson_strncpy(s->seen[s->n_seen++], step, sizeof s->seen[0]);
  }
  if (s->action) {
    s->action(s, step);
  }
  if (s->crash_at && !strcmp(step, s->crash_at)) {
    longjmp(*s->jb, 1);
  }
}

/* Runs txn with o (whose step_ctx is s) until s->crash_at longjmps back
 * here; false when it ran to the end without crashing.  The setjmp sits
 * alone in this function, so no variable of a caller lives across it
 * (-Wclobbered at -O2: a loop counter kept in a register). */
static bool run_until_crash(txn_t *txn, const txn_exec_opts_t *o, steps_t *s) {
  jmp_buf jb;
  s->jb = &jb;
  if (setjmp(jb) != 0) {
    s->jb = NULL;
    return true;
  }
  result_t r;
  run_opts(txn, o, &r);
  s->jb = NULL;
  return false;
}

/* Options for "A" whose steps go to s, reset here: s records them, calls
 * action (NULL: none) with data at each, and crashes at crash_at (NULL:
 * never). */
static txn_exec_opts_t stepped(steps_t *s, const char *crash_at,
                               void (*action)(steps_t *s, const char *step),
                               void *data) {
  memset(s, 0, sizeof *s);
  s->crash_at = crash_at;
  s->action = action;
  s->data = data;
  txn_exec_opts_t o = opts_for("A");
  o.on_step = on_step;
  o.step_ctx = s;
  return o;
}

/* A transaction adding 1 to n of (shard, "c", id), left crashed at step
 * (its id in txn->id). */
static void crashed_inc(txn_t *txn, int shard, const char *id,
                        const char *step) {
  txn_init(txn);
  add_inc(txn, shard, "c", id, "n", 1, NULL);
  crashed_txn(txn, step);
}

/* ------------------------------------------------------------------ */
/* the standard scenario: four ops over three databases                */
/* ------------------------------------------------------------------ */

/* ops: 0 insert t-new (shard 0), 1 inc u1 (main), 2 set t-edit (shard 1,
 * expecting version 3), 3 delete t-del (shard 1, expecting version 2). */
static const loc_t std_locs[] = {
    {0, "tweets_0", "t-new"},
    {TXN_MAIN_SHARD, "users", "u1"},
    {1, "tweets_1", "t-edit"},
    {1, "tweets_1", "t-del"},
};
#define N_STD 4

static void std_seed(void) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", "u1");
  BSON_APPEND_UTF8(&doc, "name", "ann");
  BSON_APPEND_INT64(&doc, "tweet_count", 4);
  BSON_APPEND_INT64(&doc, "version", 7);
  fake_store_put(fs, TXN_MAIN_SHARD, "users", &doc);
  bson_reinit(&doc);
  BSON_APPEND_UTF8(&doc, "_id", "t-edit");
  BSON_APPEND_UTF8(&doc, "text", "old");
  BSON_APPEND_INT64(&doc, "version", 3);
  fake_store_put(fs, 1, "tweets_1", &doc);
  bson_reinit(&doc);
  BSON_APPEND_UTF8(&doc, "_id", "t-del");
  BSON_APPEND_UTF8(&doc, "text", "bye");
  BSON_APPEND_INT64(&doc, "version", 2);
  fake_store_put(fs, 1, "tweets_1", &doc);
  bson_destroy(&doc);
}

/* stale: op 2 expects version 2 (it is 3) and votes STALE. */
static void std_build(txn_t *txn, bool stale) {
  txn_init(txn);
  add_insert(txn, 0, "tweets_0", "t-new");
  bson_value_t u1 = fake_store_string_id("u1");
  bson_t inc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&inc, "tweet_count", 1);
  BSON_APPEND_INT64(&inc, "score", 10);
  txn_add_update(txn, TXN_MAIN_SHARD, "users", &u1, NULL, &inc, NULL);
  bson_destroy(&inc);
  bson_value_t te = fake_store_string_id("t-edit");
  bson_t set = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&set, "text", "new");
  BSON_APPEND_INT64(&set, "edited_at", 123);
  int64_t v3 = stale ? 2 : 3;
  txn_add_update(txn, 1, "tweets_1", &te, &set, NULL, &v3);
  bson_destroy(&set);
  int64_t v2 = 2;
  add_delete(txn, 1, "tweets_1", "t-del", &v2);
}

/* Before and after snapshots of the standard scenario, computed by running
 * it on a scratch store. */
static void std_expect(snap_t *before, snap_t *after) {
  fake_store_t *saved = fs;
  txn_store_t saved_store = store;
  fs = fake_store_new();
  fake_store_bind(fs, &store);
  std_seed();
  snap_take(before, std_locs, N_STD, false);
  txn_t txn;
  std_build(&txn, false);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  txn_cleanup(&txn);
  snap_take(after, std_locs, N_STD, false);
  fake_store_free(fs);
  fs = saved;
  store = saved_store;
}

/* The standard scenario ready to run: its expected documents before and
 * after (std_expect), the store seeded and txn built to commit. */
static void std_ready(txn_t *txn, snap_t *before, snap_t *after) {
  std_expect(before, after);
  std_seed();
  std_build(txn, false);
}

/* The standard scenario's end: txn_id's record done with its decision, no
 * lock left, and the documents as after the commit, or as before. */
static void expect_std_end(const char *txn_id, bool commit,
                           const snap_t *before, const snap_t *after) {
  assert_record(txn_id, commit ? TXN_COMMITTED : TXN_ABORTED, true);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_docs(commit ? after : before, std_locs, N_STD, false);
}

/* ------------------------------------------------------------------ */
/* building transactions                                               */
/* ------------------------------------------------------------------ */

static void add_functions_copy_their_arguments(void **state) {
  (void)state;
  txn_t txn;
  txn_init(&txn);
  assert_int_equal(txn.n_ops, 0);
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_INT32(&doc, "_id", 42);
  BSON_APPEND_UTF8(&doc, "text", "x");
  txn_add_insert(&txn, 3, "tweets_3", &doc);
  bson_t set = BSON_INITIALIZER, inc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&set, "a", "b");
  BSON_APPEND_INT64(&inc, "c", 1);
  char idbuf[8] = "u9";
  bson_value_t id = fake_store_string_id(idbuf);
  int64_t v = 5;
  txn_add_update(&txn, TXN_MAIN_SHARD, "users", &id, &set, &inc, &v);
  txn_add_update(&txn, TXN_MAIN_SHARD, "users", &id, NULL, NULL, NULL);
  txn_add_delete(&txn, 1, "tweets_1", &id, NULL);
  /* Mutating the arguments afterwards changes nothing. */
  bson_reinit(&doc);
  bson_reinit(&set);
  bson_reinit(&inc);
  idbuf[0] = 'Z';
  v = 6;
  assert_int_equal(txn.n_ops, 4);
  assert_int_equal(txn.ops[0].kind, TXN_INSERT);
  assert_int_equal(txn.ops[0].shard, 3);
  assert_string_equal(txn.ops[0].coll, "tweets_3");
  assert_int_equal(txn.ops[0].id.value_type, BSON_TYPE_INT32);
  assert_int_equal(txn.ops[0].id.value.v_int32, 42);
  assert_true(txn.ops[0].staged_known);
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, txn.ops[0].doc, "text"));
  assert_int_equal(txn.ops[1].kind, TXN_UPDATE);
  assert_string_equal(txn.ops[1].id.value.v_utf8.str, "u9");
  assert_true(txn.ops[1].check_version);
  assert_int_equal(txn.ops[1].version, 5);
  assert_true(bson_iter_init_find(&it, txn.ops[1].set, "a"));
  assert_true(bson_iter_init_find(&it, txn.ops[1].inc, "c"));
  assert_false(txn.ops[2].check_version);
  assert_null(txn.ops[2].set);
  assert_null(txn.ops[2].inc);
  assert_int_equal(txn.ops[3].kind, TXN_DELETE);
  assert_false(txn.ops[3].check_version);
  assert_true(txn.ops[3].staged_known);
  bson_destroy(&doc);
  bson_destroy(&set);
  bson_destroy(&inc);
  txn_cleanup(&txn);
  assert_int_equal(txn.n_ops, 0);
  txn_cleanup(&txn); /* twice is harmless */
}

static void names_of_states_and_kinds(void **state) {
  (void)state;
  static const struct {
    txn_state_t state;
    txn_kind_t kind;
    const char *state_name, *kind_name;
  } names[] = {
      {TXN_PENDING, TXN_INSERT, "pending", "insert"},
      {TXN_COMMITTED, TXN_UPDATE, "committed", "update"},
      {TXN_ABORTED, TXN_DELETE, "aborted", "delete"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    assert_string_equal(txn_state_name(names[i].state), names[i].state_name);
    assert_string_equal(txn_kind_name(names[i].kind), names[i].kind_name);
  }
}

/* ------------------------------------------------------------------ */
/* commit                                                              */
/* ------------------------------------------------------------------ */

static void commit_applies_every_op_across_shards(void **state) {
  (void)state;
  std_seed();
  txn_t txn;
  std_build(&txn, false);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(r.failed_op, 0);
  assert_string_equal(r.lock_owner, "");
  /* A fresh ObjectId as the id. */
  assert_int_equal(strlen(txn.id), TXN_ID_LEN);
  assert_true(bson_oid_is_valid(txn.id, TXN_ID_LEN));
  /* insert */
  assert_true(exists(0, "tweets_0", "t-new"));
  assert_string_equal(text_of(0, "tweets_0", "t-new"), "inserted");
  assert_int_equal(version(0, "tweets_0", "t-new"), 1);
  /* inc: existing field incremented, missing one created */
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "u1", "tweet_count"), 5);
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "u1", "score"), 10);
  assert_int_equal(version(TXN_MAIN_SHARD, "users", "u1"), 8);
  /* set: replaced and added */
  assert_string_equal(text_of(1, "tweets_1", "t-edit"), "new");
  assert_int_equal(field(1, "tweets_1", "t-edit", "edited_at"), 123);
  assert_int_equal(version(1, "tweets_1", "t-edit"), 4);
  /* delete */
  assert_false(exists(1, "tweets_1", "t-del"));
  /* no locks, record finished */
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(fake_store_unfinished(fs), 0);
  char owner[32];
  int64_t lease, deadline;
  assert_true(fake_store_record_owner(fs, txn.id, owner, sizeof owner, &lease,
                                      &deadline));
  assert_string_equal(owner, "A");
  assert_int_equal(lease, 1);
  assert_int_equal(deadline, 1000000 + LEASE);
  /* exactly: begin, 4 prepares, decide, 4 commits, finish */
  assert_int_equal(fake_store_calls_of(fs, FAKE_BEGIN), 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_PREPARE), 4);
  assert_int_equal(fake_store_calls_of(fs, FAKE_DECIDE), 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 4);
  assert_int_equal(fake_store_calls_of(fs, FAKE_ABORT_OP), 0);
  assert_int_equal(fake_store_calls_of(fs, FAKE_FINISH), 1);
  assert_int_equal(fake_store_calls(fs), 11);
  /* the result equals the reference run */
  snap_t before, after;
  std_expect(&before, &after);
  assert_docs(&after, std_locs, N_STD, false);
  snap_free(&before);
  snap_free(&after);
  txn_cleanup(&txn);
}

static void commit_keeps_field_order_and_untouched_fields(void **state) {
  (void)state;
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", "d");
  BSON_APPEND_UTF8(&doc, "a", "keep");
  BSON_APPEND_INT64(&doc, "n", 1);
  BSON_APPEND_INT64(&doc, "version", 1);
  BSON_APPEND_BOOL(&doc, "z", true);
  fake_store_put(fs, 0, "c", &doc);
  bson_destroy(&doc);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "d", "n", 2, NULL);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  bson_value_t id = fake_store_string_id("d");
  const bson_t *got = fake_store_raw(fs, 0, "c", &id);
  /* An increment (shared): folded in, and _xv, the version before the
   * first increment, added last (escrow.h). */
  bson_t *want = BCON_NEW("_id", BCON_UTF8("d"), "a", BCON_UTF8("keep"), "n",
                          BCON_INT64(3), "version", BCON_INT64(2), "z",
                          BCON_BOOL(true), ESCROW_XV, BCON_INT64(1));
  assert_true(bson_equal(got, want));
  bson_destroy(want);
  txn_cleanup(&txn);
}

static void commit_of_update_without_version_creates_it(void **state) {
  (void)state;
  /* Like a users document: MongoDB's $inc creates version: 1. */
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", "u");
  BSON_APPEND_INT64(&doc, "tweet_count", 0);
  fake_store_put(fs, TXN_MAIN_SHARD, "users", &doc);
  bson_destroy(&doc);
  assert_int_equal(version(TXN_MAIN_SHARD, "users", "u"), -1);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, TXN_MAIN_SHARD, "users", "u", "tweet_count", 1, NULL);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "u", "tweet_count"), 1);
  assert_int_equal(version(TXN_MAIN_SHARD, "users", "u"), 1);
  txn_cleanup(&txn);
  /* and an expected version of that document is then checked */
  txn_init(&txn);
  int64_t v = 1;
  add_inc(&txn, TXN_MAIN_SHARD, "users", "u", "tweet_count", 1, &v);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(version(TXN_MAIN_SHARD, "users", "u"), 2);
  txn_cleanup(&txn);
}

static void commit_of_empty_transaction(void **state) {
  (void)state;
  txn_t txn;
  txn_init(&txn);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(fake_store_calls(fs), 3); /* begin, decide, finish */
  txn_cleanup(&txn);
}

static void commit_with_eight_ops(void **state) {
  (void)state;
  txn_t txn;
  txn_init(&txn);
  char ids[TXN_MAX_OPS][8];
  for (int i = 0; i < TXN_MAX_OPS; i++) {
    snprintf(ids[i], sizeof ids[i], "c%d", i);
    put_counter(i % 3 - 1, "ctr", ids[i], "n", 10, 1);
    add_inc(&txn, i % 3 - 1, "ctr", ids[i], "n", i, NULL);
  }
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  for (int i = 0; i < TXN_MAX_OPS; i++) {
    assert_int_equal(field(i % 3 - 1, "ctr", ids[i], "n"), 10 + i);
    assert_int_equal(version(i % 3 - 1, "ctr", ids[i]), 2);
  }
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&txn);
}

/* A document {_id: id, version: 1} added to txn as a transient insert
 * into the main shard's "outbox". */
static void add_transient(txn_t *txn, const char *id) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", id);
  BSON_APPEND_INT64(&doc, "version", 1);
  txn_add_transient_insert(txn, TXN_MAIN_SHARD, "outbox", &doc);
  bson_destroy(&doc);
}

/* Whether the outbox document id is staged by txn_id and visible in the
 * committed view. */
static bool staged_and_visible(const char *id, const char *txn_id) {
  char owner[TXN_ID_LEN + 1] = "";
  bson_value_t v = fake_store_string_id(id);
  return locked(TXN_MAIN_SHARD, "outbox", id, owner) &&
         !strcmp(owner, txn_id) &&
         fake_store_visible(fs, TXN_MAIN_SHARD, "outbox", &v, NULL);
}

/* A transient insert (txn.h): a commit leaves it staged and the view
 * shows it from the decision on, while the other insert is applied; an
 * abort deletes it as any insert; recovery rolling a commit forward
 * leaves it staged too. */
static void transient_insert_is_left_staged_by_a_commit(void **state) {
  (void)state;
  txn_t txn;
  txn_init(&txn);
  add_insert(&txn, 0, "tweets_0", "t-new");
  add_transient(&txn, "o-1");
  assert_false(txn.ops[0].transient);
  assert_true(txn.ops[1].transient);
  assert_int_equal(txn.ops[1].kind, TXN_INSERT);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  assert_false(locked(0, "tweets_0", "t-new", NULL));
  assert_true(staged_and_visible("o-1", txn.id));
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 1); /* t-new */
  assert_record(txn.id, TXN_COMMITTED, true);
  txn_cleanup(&txn);

  /* aborted (its other op votes MISSING): deleted */
  txn_init(&txn);
  add_transient(&txn, "o-2");
  add_set_text(&txn, 0, "tweets_0", "t-missing", "x", NULL);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_MISSING);
  assert_false(exists(TXN_MAIN_SHARD, "outbox", "o-2"));
  txn_cleanup(&txn);

  /* the coordinator stops after its decision: recovery rolls it forward
   * and leaves the transient insert staged, visible */
  txn_init(&txn);
  add_insert(&txn, 0, "tweets_0", "t-late");
  add_transient(&txn, "o-3");
  fake_store_fail_after(fs, 4); /* begin, 2 prepares, decide */
  quiet(true);
  run(&txn, &r);
  quiet(false);
  fake_store_heal(fs);
  assert_true(locked(0, "tweets_0", "t-late", NULL));
  expect_recovery(1, 0);
  assert_false(locked(0, "tweets_0", "t-late", NULL));
  assert_true(staged_and_visible("o-3", txn.id));
  assert_record(txn.id, TXN_COMMITTED, true);
  txn_cleanup(&txn);

  /* the collector applies those still there before their records and
   * decisions go: never a staged document without its decision */
  int64_t deleted;
  assert_true(fake_store_collect(fs, fake_clock_peek() + 1, &deleted));
  assert_true(deleted >= 3);
  assert_true(exists(TXN_MAIN_SHARD, "outbox", "o-1"));
  assert_false(locked(TXN_MAIN_SHARD, "outbox", "o-1", NULL));
  assert_false(locked(TXN_MAIN_SHARD, "outbox", "o-3", NULL));
  assert_int_equal(fake_store_locked_count(fs), 0);
}

static bool fresh_absent_at_prepare;
static void check_fresh_absent(void *ctx, const char *step) {
  if (!strcmp(step, "txn.after_prepare")) {
    fresh_absent_at_prepare = !exists(0, "tweets_0", (const char *)ctx);
  }
}

/* The creator a fresh document carries (raw), "" when none. */
static void creator_of(const char *id, char out[TXN_ID_LEN + 1]) {
  bson_value_t v = fake_store_string_id(id);
  const bson_t *raw = fake_store_raw(fs, 0, "tweets_0", &v);
  bson_iter_t it;
  out[0] = '\0';
  if (raw && bson_iter_init_find(&it, raw, TXN_CREATOR_FIELD) &&
      BSON_ITER_HOLDS_UTF8(&it)) {
    bson_strncpy(out, bson_iter_utf8(&it, NULL), TXN_ID_LEN + 1);
  }
}

/* A fresh insert (txn_add_fresh_insert): nothing written before the
 * decision (its prepare only votes), inserted unlocked by the commit with
 * its creator (which the view leaves out), nothing at all after an abort,
 * not committed when its database is down, inserted by recovery after a
 * stop past the decision, and not deleted while its transaction is
 * unfinished (its delete votes LOCKED naming it). */
static void fresh_insert_is_written_by_the_commit_only(void **state) {
  (void)state;
  txn_t txn;
  txn_init(&txn);
  add_fresh(&txn, 0, "tweets_0", "t-fresh");
  assert_true(txn.ops[0].fresh && txn_groupable(&txn));
  txn_exec_opts_t o = opts_for("A");
  o.on_step = check_fresh_absent;
  o.step_ctx = "t-fresh";
  result_t r;
  fresh_absent_at_prepare = false;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
  assert_true(fresh_absent_at_prepare);
  assert_int_equal(fake_store_calls_of(fs, FAKE_PREPARE), 1); /* a vote */
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 1);
  assert_true(exists(0, "tweets_0", "t-fresh"));
  assert_false(locked(0, "tweets_0", "t-fresh", NULL));
  char creator[TXN_ID_LEN + 1];
  creator_of("t-fresh", creator);
  assert_string_equal(creator, txn.id);
  bson_value_t v = fake_store_string_id("t-fresh");
  bson_t shown;
  assert_true(fake_store_visible(fs, 0, "tweets_0", &v, &shown));
  bson_iter_t it;
  assert_false(bson_iter_init_find(&it, &shown, TXN_CREATOR_FIELD));
  assert_true(bson_iter_init_find(&it, &shown, "text"));
  bson_destroy(&shown);
  assert_record(txn.id, TXN_COMMITTED, true);
  txn_cleanup(&txn);

  /* aborted (its other op votes MISSING): never written */
  txn_init(&txn);
  add_fresh(&txn, 0, "tweets_0", "t-never");
  add_set_text(&txn, 0, "tweets_0", "t-missing", "x", NULL);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_MISSING);
  assert_false(exists(0, "tweets_0", "t-never"));
  txn_cleanup(&txn);

  /* its database down: no commit, nothing written */
  bson_value_t down = fake_store_string_id("t-down");
  fake_store_set_down(fs, 0, "tweets_0", &down, true);
  txn_init(&txn);
  add_fresh(&txn, 0, "tweets_0", "t-down");
  quiet(true);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  quiet(false);
  assert_int_equal(r.err.status, 503);
  fake_store_set_down(fs, 0, "tweets_0", &down, false);
  txn_state_t st;
  bool done;
  assert_true(fake_store_record(fs, txn.id, &st, &done));
  assert_int_equal(st, TXN_ABORTED);
  expect_recovery(1, 1); /* left to recovery after a prepare error */
  assert_record(txn.id, TXN_ABORTED, true);
  assert_false(exists(0, "tweets_0", "t-down"));
  txn_cleanup(&txn);

  /* the database fails after the decision, before the insert: answered
   * FAILED (503), since nothing could read it until recovery inserts it
   * from the record (11) */
  txn_init(&txn);
  add_fresh(&txn, 0, "tweets_0", "t-late");
  fake_store_fail_after(fs, 3); /* begin, its vote, decide */
  quiet(true);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  quiet(false);
  assert_int_equal(r.err.status, 503);
  assert_true(txn.fresh_unwritten);
  fake_store_heal(fs);
  assert_false(exists(0, "tweets_0", "t-late"));
  char late_id[TXN_ID_LEN + 1];
  memcpy(late_id, txn.id, sizeof late_id);
  txn_cleanup(&txn);

  /* unfinished: a delete of another fresh one waits for its creator */
  txn_init(&txn);
  add_fresh(&txn, 0, "tweets_0", "t-busy");
  add_inc(&txn, 0, "tweets_0", "t-fresh", "like_count", 1, NULL);
  o = opts_for("A");
  o.defer_apply = true;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
  assert_true(txn.apply_pending); /* its increment and finish to come */
  assert_true(exists(0, "tweets_0", "t-busy"));
  txn_t del;
  txn_init(&del);
  add_delete(&del, 0, "tweets_0", "t-busy", NULL);
  assert_int_equal(run(&del, &r), TXN_OUTCOME_CONFLICT);
  assert_string_equal(r.lock_owner, txn.id);
  txn_cleanup(&del);
  chorus_error_t err;
  assert_true(txn_complete(&store, &txn, &o, &err));
  txn_init(&del);
  add_delete(&del, 0, "tweets_0", "t-busy", NULL);
  assert_int_equal(run(&del, &r), TXN_OUTCOME_COMMITTED);
  assert_false(exists(0, "tweets_0", "t-busy"));
  txn_cleanup(&del);
  txn_cleanup(&txn);

  expect_recovery(1, 0);
  assert_true(exists(0, "tweets_0", "t-late"));
  creator_of("t-late", creator);
  assert_string_equal(creator, late_id);
  assert_record(late_id, TXN_COMMITTED, true);
  assert_int_equal(fake_store_locked_count(fs), 0);
}

static void ids_are_distinct_across_transactions(void **state) {
  (void)state;
  char first[TXN_ID_LEN + 1];
  txn_t txn;
  txn_init(&txn);
  result_t r;
  run(&txn, &r);
  memcpy(first, txn.id, sizeof first);
  txn_cleanup(&txn);
  txn_init(&txn);
  run(&txn, &r);
  assert_string_not_equal(first, txn.id);
  assert_int_equal(fake_store_record_count(fs), 2);
  txn_cleanup(&txn);
}

static void two_ops_on_one_document_are_refused(void **state) {
  (void)state;
  /* The second op would find the first's lock, take it for its own and
   * never stage its change: such a transaction is refused up front. */
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  add_delete(&txn, 0, "c", "a", NULL);
  assert_true(txn.invalid);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  assert_int_equal(r.err.status, 500);
  assert_int_equal(fake_store_calls(fs), 0);
  assert_int_equal(fake_store_record_count(fs), 0);
  txn_cleanup(&txn);
  assert_false(txn.invalid); /* cleanup resets */
  /* insert then update of the same new document */
  txn_init(&txn);
  add_insert(&txn, 1, "c", "new");
  add_set_text(&txn, 1, "c", "new", "t", NULL);
  assert_true(txn.invalid);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  assert_int_equal(fake_store_calls(fs), 0);
  txn_cleanup(&txn);
  /* distinct documents (other id, collection or shard) are fine */
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  add_insert(&txn, 1, "c", "a");
  add_insert(&txn, 0, "d", "a");
  assert_false(txn.invalid);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  txn_cleanup(&txn);
}

static void numeric_ids_of_different_types_name_one_document(void **state) {
  (void)state;
  /* MongoDB matches _id 7, NumberLong(7) and 7.0 as the same document,
   * so a transaction naming it twice that way is just as invalid. */
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_INT32(&doc, "_id", 7);
  BSON_APPEND_INT64(&doc, "n", 1);
  BSON_APPEND_INT64(&doc, "version", 1);
  fake_store_put(fs, 0, "c", &doc);
  bson_destroy(&doc);
  bson_value_t i32 = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 7};
  bson_value_t i64 = {.value_type = BSON_TYPE_INT64, .value.v_int64 = 7};
  assert_true(fake_store_exists(fs, 0, "c", &i64)); /* one document */
  bson_t *inc = BCON_NEW("n", BCON_INT64(1));
  txn_t txn;
  txn_init(&txn);
  txn_add_update(&txn, 0, "c", &i32, NULL, inc, NULL);
  txn_add_update(&txn, 0, "c", &i64, NULL, inc, NULL);
  bson_destroy(inc);
  result_t r;
  txn_outcome_t outcome = run(&txn, &r);
  int64_t n = 0;
  assert_true(fake_store_field(fs, 0, "c", &i32, "n", &n));
  txn_cleanup(&txn);
  /* Either refused, or both increments applied: never one silently
   * dropped while reporting a commit. */
  if (outcome == TXN_OUTCOME_COMMITTED) {
    assert_int_equal(n, 3);
  } else {
    assert_int_equal(outcome, TXN_OUTCOME_FAILED);
    assert_int_equal(n, 1);
  }
}

/* ------------------------------------------------------------------ */
/* vote no                                                             */
/* ------------------------------------------------------------------ */

/* How many prepares a transaction sends up to and with ops[failed]:
 * its position in the order of preparation, every op that is not shared
 * before the shared ones (txn.h). */
static long prepares_through(const txn_t *txn, size_t failed) {
  long n = 0;
  for (int shared = 0; shared < 2; shared++) {
    for (size_t i = 0; i < txn->n_ops; i++) {
      if (txn->ops[i].shared == (shared == 1)) {
        n++;
        if (i == failed) {
          return n;
        }
      }
    }
  }
  return n;
}

/* Runs txn on the current store and checks the abort: outcome, failed_op,
 * lock owner, nothing changed at locs, no lock of ours, only ops up to
 * failed_op in the order of preparation prepared, record aborted and
 * done. */
static void expect_abort(txn_t *txn, const loc_t *locs, size_t n_locs,
                         txn_outcome_t want, size_t failed_op,
                         const char *lock_owner) {
  snap_t before;
  snap_take(&before, locs, n_locs, false);
  fake_store_reset_calls(fs);
  result_t r;
  assert_int_equal(run(txn, &r), want);
  assert_int_equal(r.failed_op, failed_op);
  assert_string_equal(r.lock_owner, lock_owner);
  assert_docs(&before, locs, n_locs, false);
  snap_free(&before);
  long prepared = prepares_through(txn, failed_op);
  assert_int_equal(fake_store_calls_of(fs, FAKE_PREPARE), prepared);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 0);
  assert_int_equal(fake_store_calls_of(fs, FAKE_ABORT_OP), prepared);
  assert_record(txn->id, TXN_ABORTED, true);
  for (size_t i = 0; i < n_locs; i++) {
    char owner[TXN_ID_LEN + 1];
    locked(locs[i].shard, locs[i].coll, locs[i].id, owner);
    assert_string_not_equal(owner, txn->id);
  }
}

static const loc_t five_locs[] = {
    {0, "c", "a"},
    {0, "c", "b"},
    {1, "c", "x"},
    {1, "c", "y"},
    {TXN_MAIN_SHARD, "c", "z"},
};

static void seed_five(void) {
  put_counter(0, "c", "a", "n", 1, 1);
  put_counter(0, "c", "b", "n", 2, 1);
  put_counter(1, "c", "x", "n", 3, 5);
  put_counter(1, "c", "y", "n", 4, 1);
  put_counter(TXN_MAIN_SHARD, "c", "z", "n", 5, 1);
}

/* seed_five(), and before a snapshot of the five as seeded (the caller
 * frees it). */
static void seed_five_snap(snap_t *before) {
  seed_five();
  snap_take(before, five_locs, 5, false);
}

static void vote_locked_aborts_with_conflict_and_owner(void **state) {
  (void)state;
  seed_five();
  put_locked(1, "c", "x", OTHER_TXN, "update");
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_delete(&txn, 0, "c", "b", NULL);
  add_inc(&txn, 1, "c", "x", "n", 1, NULL); /* locked */
  add_inc(&txn, 1, "c", "y", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  expect_abort(&txn, five_locs, 5, TXN_OUTCOME_CONFLICT, 2, OTHER_TXN);
  char owner[TXN_ID_LEN + 1];
  assert_true(locked(1, "c", "x", owner));
  assert_string_equal(owner, OTHER_TXN);   /* the other's lock is kept */
  assert_false(locked(1, "c", "y", NULL)); /* never prepared */
  assert_false(exists(0, "c", "new"));
  assert_int_equal(fake_store_locked_count(fs), 1);
  txn_cleanup(&txn);
}

static void vote_locked_on_first_op(void **state) {
  (void)state;
  seed_five();
  put_locked(0, "c", "a", OTHER_TXN, "delete");
  txn_t txn;
  txn_init(&txn);
  add_delete(&txn, 0, "c", "a", NULL);
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  expect_abort(&txn, five_locs, 5, TXN_OUTCOME_CONFLICT, 0, OTHER_TXN);
  txn_cleanup(&txn);
}

static void vote_locked_for_insert_over_staged_insert(void **state) {
  (void)state;
  seed_five();
  /* Another transaction's uncommitted insert of the same _id. */
  put_locked(0, "c", "new", OTHER_TXN, "insert");
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  const loc_t locs[] = {{0, "c", "a"}, {0, "c", "new"}, {0, "c", "b"}};
  expect_abort(&txn, locs, 3, TXN_OUTCOME_CONFLICT, 1, OTHER_TXN);
  txn_cleanup(&txn);
}

static void vote_stale_on_update_and_delete(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  int64_t v4 = 4; /* x is at 5 */
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_inc(&txn, 1, "c", "x", "n", 1, &v4);
  add_inc(&txn, 1, "c", "y", "n", 1, NULL);
  expect_abort(&txn, five_locs, 5, TXN_OUTCOME_CONFLICT, 1, "");
  txn_cleanup(&txn);

  txn_init(&txn);
  int64_t v1 = 1, v6 = 6;
  add_set_text(&txn, 0, "c", "a", "t", &v1); /* right version */
  add_delete(&txn, 1, "c", "y", &v1);
  add_delete(&txn, 1, "c", "x", &v6); /* stale */
  add_delete(&txn, 0, "c", "b", NULL);
  expect_abort(&txn, five_locs, 5, TXN_OUTCOME_CONFLICT, 2, "");
  assert_true(exists(1, "c", "y"));
  txn_cleanup(&txn);
}

static void vote_stale_when_version_field_is_absent(void **state) {
  (void)state;
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "_id", "nv");
  fake_store_put(fs, 0, "c", &doc);
  bson_destroy(&doc);
  txn_t txn;
  txn_init(&txn);
  int64_t v1 = 1;
  add_set_text(&txn, 0, "c", "nv", "t", &v1);
  const loc_t locs[] = {{0, "c", "nv"}};
  expect_abort(&txn, locs, 1, TXN_OUTCOME_CONFLICT, 0, "");
  txn_cleanup(&txn);
}

static void vote_missing_on_update_and_delete(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_insert(&txn, 0, "c", "new");
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_inc(&txn, 0, "c", "ghost", "n", 1, NULL);
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  const loc_t locs[] = {
      {0, "c", "new"}, {0, "c", "a"}, {0, "c", "ghost"}, {0, "c", "b"}};
  expect_abort(&txn, locs, 4, TXN_OUTCOME_MISSING, 2, "");
  assert_false(exists(0, "c", "new")); /* staged insert rolled back */
  txn_cleanup(&txn);

  txn_init(&txn);
  add_delete(&txn, 0, "c", "ghost", NULL);
  add_delete(&txn, 0, "c", "a", NULL);
  expect_abort(&txn, locs, 4, TXN_OUTCOME_MISSING, 0, "");
  txn_cleanup(&txn);

  /* with an expected version too: missing beats stale */
  txn_init(&txn);
  int64_t v = 9;
  add_delete(&txn, 0, "c", "a", NULL);
  add_delete(&txn, 1, "c", "ghost", &v);
  expect_abort(&txn, five_locs, 5, TXN_OUTCOME_MISSING, 1, "");
  txn_cleanup(&txn);
}

static void vote_exists_on_insert(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 1, "c", "y"); /* present */
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  expect_abort(&txn, five_locs, 5, TXN_OUTCOME_EXISTS, 1, "");
  assert_int_equal(field(1, "c", "y", "n"), 4); /* not replaced */
  txn_cleanup(&txn);
}

static void same_id_in_other_collection_or_shard_is_distinct(void **state) {
  (void)state;
  put_counter(0, "c", "a", "n", 1, 1);
  txn_t txn;
  txn_init(&txn);
  add_insert(&txn, 1, "c", "a"); /* other shard */
  add_insert(&txn, 0, "d", "a"); /* other collection */
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  assert_true(exists(1, "c", "a"));
  assert_true(exists(0, "d", "a"));
  assert_int_equal(field(0, "c", "a", "n"), 1);
  txn_cleanup(&txn);
}

static void lock_of_aborted_txn_still_blocks_until_resolved(void **state) {
  (void)state;
  /* An exclusive lock left behind blocks writers (LOCKED) whatever its
   * record says; abort_op by its owner (what sync.c does for a finished
   * record) releases it.  (A shared entry left behind blocks nobody:
   * entry_of_aborted_txn_blocks_nobody.) */
  seed_five();
  txn_t a;
  txn_init(&a);
  add_inc_x(&a, 0, "c", "a", "n", 1);
  chorus_error_t err;
  char owner[TXN_ID_LEN + 1] = "";
  bson_strncpy(a.id, "ffffffffffffffffffffffff", sizeof a.id);
  assert_true(store.begin(store.impl, &a, "A", 0, &err));
  /* begin is an insert: a second one with the same id is refused */
  assert_false(store.begin(store.impl, &a, "A", 0, &err));
  assert_int_equal(store.prepare(store.impl, a.id, &a.ops[0], owner, &err),
                   TXN_VOTE_YES);
  txn_state_t actual;
  assert_true(store.decide(store.impl, a.id, TXN_ABORTED, &actual, &err));
  assert_true(store.finish(store.impl, a.id, TXN_ABORTED, &err));
  txn_t b;
  txn_init(&b);
  add_inc_x(&b, 0, "c", "a", "n", 1);
  result_t r;
  assert_int_equal(run(&b, &r), TXN_OUTCOME_CONFLICT);
  assert_string_equal(r.lock_owner, a.id);
  txn_op_t where = a.ops[0];
  where.staged_known = false;
  assert_true(store.abort_op(store.impl, a.id, &where, &err));
  txn_cleanup(&b);
  txn_init(&b);
  add_inc_x(&b, 0, "c", "a", "n", 1);
  assert_int_equal(run(&b, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  txn_cleanup(&a);
  txn_cleanup(&b);
}

/* ------------------------------------------------------------------ */
/* idempotence of the participant steps                                */
/* ------------------------------------------------------------------ */

static void prepare_repeated_votes_yes(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 5, NULL);
  int64_t v5 = 5;
  add_delete(&txn, 1, "c", "x", &v5);
  add_insert(&txn, 0, "c", "new");
  bson_strncpy(txn.id, "bbbbbbbbbbbbbbbbbbbbbbbb", sizeof txn.id);
  chorus_error_t err;
  assert_true(store.begin(store.impl, &txn, "A", 1 << 30, &err));
  for (size_t i = 0; i < txn.n_ops; i++) {
    for (int rep = 0; rep < 3; rep++) {
      char owner[TXN_ID_LEN + 1] = "";
      assert_int_equal(
          store.prepare(store.impl, txn.id, &txn.ops[i], owner, &err),
          TXN_VOTE_YES);
      assert_string_equal(owner, "");
    }
  }
  /* a's increment is shared: one escrow entry of ours, not three */
  bson_value_t a = fake_store_string_id("a");
  const bson_t *raw = fake_store_raw(fs, 0, "c", &a);
  assert_true(escrow_has(raw, txn.id));
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 1);
  assert_true(locked(1, "c", "x", NULL));
  assert_true(locked(0, "c", "new", NULL));
  assert_int_equal(fake_store_locked_count(fs), 3);
  assert_int_equal(bson_count_keys(raw), 4); /* _id n version _txn */
  /* commit repeated: applied once */
  txn_state_t actual;
  assert_true(store.decide(store.impl, txn.id, TXN_COMMITTED, &actual, &err));
  for (int rep = 0; rep < 3; rep++) {
    for (size_t i = 0; i < txn.n_ops; i++) {
      assert_true(store.commit_op(store.impl, txn.id, &txn.ops[i], &err));
    }
  }
  assert_int_equal(field(0, "c", "a", "n"), 6);
  assert_int_equal(version(0, "c", "a"), 2);
  assert_false(exists(1, "c", "x"));
  assert_true(exists(0, "c", "new"));
  assert_int_equal(fake_store_locked_count(fs), 0);
  /* abort after commit: nothing (the inserted doc is not ours any more) */
  for (size_t i = 0; i < txn.n_ops; i++) {
    assert_true(store.abort_op(store.impl, txn.id, &txn.ops[i], &err));
  }
  assert_true(exists(0, "c", "new"));
  assert_int_equal(field(0, "c", "a", "n"), 6);
  /* decide and finish repeated */
  assert_true(store.decide(store.impl, txn.id, TXN_COMMITTED, &actual, &err));
  assert_int_equal(actual, TXN_COMMITTED);
  assert_true(store.decide(store.impl, txn.id, TXN_ABORTED, &actual, &err));
  assert_int_equal(actual, TXN_COMMITTED);
  assert_true(store.finish(store.impl, txn.id, TXN_COMMITTED, &err));
  assert_true(store.finish(store.impl, txn.id, TXN_COMMITTED, &err));
  assert_record(txn.id, TXN_COMMITTED, true);
  txn_cleanup(&txn);
}

static void abort_op_repeated_is_a_no_op(void **state) {
  (void)state;
  snap_t before;
  seed_five_snap(&before);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 5, NULL);
  add_delete(&txn, 1, "c", "x", NULL);
  add_insert(&txn, 0, "c", "new");
  bson_strncpy(txn.id, "cccccccccccccccccccccccc", sizeof txn.id);
  chorus_error_t err;
  char owner[TXN_ID_LEN + 1];
  for (size_t i = 0; i < txn.n_ops; i++) {
    assert_int_equal(
        store.prepare(store.impl, txn.id, &txn.ops[i], owner, &err),
        TXN_VOTE_YES);
  }
  assert_true(exists(0, "c", "new"));
  for (int rep = 0; rep < 3; rep++) {
    for (size_t i = 0; i < txn.n_ops; i++) {
      assert_true(store.abort_op(store.impl, txn.id, &txn.ops[i], &err));
    }
  }
  assert_false(exists(0, "c", "new"));
  assert_docs(&before, five_locs, 5, false);
  /* commit after abort: nothing */
  for (size_t i = 0; i < txn.n_ops; i++) {
    assert_true(store.commit_op(store.impl, txn.id, &txn.ops[i], &err));
  }
  assert_docs(&before, five_locs, 5, false);
  assert_false(exists(0, "c", "new"));
  snap_free(&before);
  txn_cleanup(&txn);
}

static void steps_of_another_txn_leave_a_lock_alone(void **state) {
  (void)state;
  seed_five();
  put_locked(0, "c", "a", OTHER_TXN, "update");
  put_locked(0, "c", "ins", OTHER_TXN, "insert");
  snap_t before;
  const loc_t locs[] = {{0, "c", "a"}, {0, "c", "ins"}};
  snap_take(&before, locs, 2, false);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 5, NULL);
  add_insert(&txn, 0, "c", "ins");
  add_delete(&txn, 0, "c", "a", NULL);
  bson_strncpy(txn.id, "dddddddddddddddddddddddd", sizeof txn.id);
  chorus_error_t err;
  for (size_t i = 0; i < txn.n_ops; i++) {
    assert_true(store.commit_op(store.impl, txn.id, &txn.ops[i], &err));
    assert_true(store.abort_op(store.impl, txn.id, &txn.ops[i], &err));
    txn.ops[i].staged_known = false;
    assert_true(store.commit_op(store.impl, txn.id, &txn.ops[i], &err));
  }
  /* and on absent documents */
  txn_t ghost;
  txn_init(&ghost);
  add_inc(&ghost, 0, "c", "nothing", "n", 1, NULL);
  add_insert(&ghost, 0, "c", "nothing2");
  for (size_t i = 0; i < ghost.n_ops; i++) {
    assert_true(store.commit_op(store.impl, txn.id, &ghost.ops[i], &err));
    assert_true(store.abort_op(store.impl, txn.id, &ghost.ops[i], &err));
  }
  assert_docs(&before, locs, 2, false);
  assert_false(exists(0, "c", "nothing"));
  assert_false(exists(0, "c", "nothing2"));
  snap_free(&before);
  txn_cleanup(&txn);
  txn_cleanup(&ghost);
}

static void commit_op_reads_staged_change_when_unknown(void **state) {
  (void)state;
  /* A recovered op (staged_known false) applies what the lock staged,
   * not anything of its own. */
  put_counter(0, "c", "a", "n", 10, 1);
  txn_t txn;
  txn_init(&txn);
  bson_value_t a = fake_store_string_id("a");
  bson_t set = BSON_INITIALIZER, inc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&set, "s", "staged");
  BSON_APPEND_INT64(&inc, "n", 7);
  BSON_APPEND_INT64(&inc, "m", -2);
  txn_add_update(&txn, 0, "c", &a, &set, &inc, NULL);
  bson_destroy(&set);
  bson_destroy(&inc);
  bson_strncpy(txn.id, "eeeeeeeeeeeeeeeeeeeeeeee", sizeof txn.id);
  chorus_error_t err;
  char owner[TXN_ID_LEN + 1];
  assert_int_equal(store.prepare(store.impl, txn.id, &txn.ops[0], owner, &err),
                   TXN_VOTE_YES);
  txn_t rec;
  txn_init(&rec);
  bson_strncpy(rec.id, txn.id, sizeof rec.id);
  add_inc(&rec, 0, "c", "a", "n", 1000, NULL); /* must be ignored */
  rec.ops[0].staged_known = false;
  assert_true(store.commit_op(store.impl, rec.id, &rec.ops[0], &err));
  assert_int_equal(field(0, "c", "a", "n"), 17);
  assert_int_equal(field(0, "c", "a", "m"), -2);
  assert_int_equal(version(0, "c", "a"), 2);
  assert_false(locked(0, "c", "a", NULL));
  bson_value_t id = fake_store_string_id("a");
  bson_t view;
  assert_true(fake_store_visible(fs, 0, "c", &id, &view));
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, &view, "s"));
  assert_string_equal(bson_iter_utf8(&it, NULL), "staged");
  bson_destroy(&view);
  /* repeated: nothing more */
  assert_true(store.commit_op(store.impl, rec.id, &rec.ops[0], &err));
  assert_int_equal(field(0, "c", "a", "n"), 17);
  txn_cleanup(&txn);
  txn_cleanup(&rec);
}

/* ------------------------------------------------------------------ */
/* crashes: fault injection at every store call                        */
/* ------------------------------------------------------------------ */

typedef enum { FAULT_OUTAGE, FAULT_LOST_REPLY, FAULT_BLIP } fault_t;

static const char *fault_name(fault_t f) {
  return f == FAULT_OUTAGE       ? "outage"
         : f == FAULT_LOST_REPLY ? "lost reply"
                                 : "blip";
}

/* After a failure at call k: the committed view must be the before or the
 * after state, following the record; then recovery by "B" must end it. */
static void check_crash(const txn_t *txn, txn_outcome_t outcome, bool stale,
                        fault_t fault, const snap_t *before,
                        const snap_t *after) {
  txn_state_t st = TXN_PENDING;
  bool done = false;
  bool has_rec = fake_store_record(fs, txn->id, &st, &done);
  /* 1. The committed view now: all or nothing, by the decision. */
  snap_t view;
  snap_take(&view, std_locs, N_STD, true);
  if (has_rec && st == TXN_COMMITTED) {
    assert_snap_equal(after, &view);
  } else {
    assert_snap_equal(before, &view);
  }
  snap_free(&view);
  /* 2. The outcome agrees with the decision. */
  if (outcome == TXN_OUTCOME_COMMITTED) {
    assert_true(has_rec);
    assert_int_equal(st, TXN_COMMITTED);
  } else if (outcome != TXN_OUTCOME_FAILED) {
    assert_true(has_rec);
    assert_int_equal(st, TXN_ABORTED);
  } else if (fault != FAULT_LOST_REPLY) {
    /* A failure before its effect never leaves a commit behind a FAILED. */
    assert_true(!has_rec || st != TXN_COMMITTED);
  }
  if (stale) {
    assert_true(outcome == TXN_OUTCOME_CONFLICT ||
                outcome == TXN_OUTCOME_FAILED);
  }
  if (!has_rec) {
    assert_int_equal(outcome, TXN_OUTCOME_FAILED);
    assert_int_equal(fake_store_locked_count(fs), 0);
  }
  /* 3. Recovery by another server once the lease has passed. */
  fake_store_heal(fs);
  size_t unfinished = fake_store_unfinished(fs);
  fake_clock_advance(LEASE + 1);
  recovery_result_t rr;
  chorus_error_t err;
  assert_true(recover("B", fake_clock_peek(), 64, &rr, &err));
  assert_int_equal(rr.recovered, (int)unfinished);
  /* 4. The end: all or nothing, no locks, nothing unfinished. */
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_int_equal(fake_store_unfinished(fs), 0);
  bool final_has = fake_store_record(fs, txn->id, &st, &done);
  assert_int_equal(final_has, has_rec);
  snap_t end;
  snap_take(&end, std_locs, N_STD, false);
  if (final_has && st == TXN_COMMITTED) {
    assert_false(stale);
    assert_snap_equal(after, &end);
    assert_int_equal(rr.rolled_back, 0);
  } else {
    assert_snap_equal(before, &end);
    /* an acknowledged commit is never lost */
    assert_int_not_equal(outcome, TXN_OUTCOME_COMMITTED);
    assert_int_equal(rr.rolled_back, rr.recovered);
  }
  if (final_has) {
    assert_true(done);
  }
  snap_free(&end);
}

static void crash_at_every_store_call(bool stale, fault_t fault) {
  snap_t before, after;
  std_expect(&before, &after);
  /* For the aborting scenario, the end state is the start state. */
  const snap_t *end = stale ? &before : &after;
  /* commit: begin, 4 prepares, decide, 4 commits, finish;
   * abort: begin, 2 prepares (t-new, then t-edit votes STALE; u1's
   * increment, shared, comes last and is never prepared), decide, 2
   * aborts, finish. */
  long full = stale ? 7 : 11;
  long decide_call = stale ? 3 : 5;
  int committed = 0;
  for (long k = 0; k <= full; k++) {
    restart();
    std_seed();
    txn_t txn;
    std_build(&txn, stale);
    if (fault == FAULT_BLIP) {
      fake_store_fail_nth(fs, k);
    } else {
      fake_store_fail_after(fs, k);
      fake_store_set_lost_reply(fs, fault == FAULT_LOST_REPLY);
    }
    result_t r;
    run(&txn, &r);
    assert_int_equal(fake_store_failed(fs), k < full);
    if (k == full) {
      assert_int_equal(r.outcome,
                       stale ? TXN_OUTCOME_CONFLICT : TXN_OUTCOME_COMMITTED);
    } else if (k <= decide_call) {
      /* a failure up to the decision is reported as such */
      assert_int_equal(r.outcome, TXN_OUTCOME_FAILED);
    } else {
      /* after the decision, the decision is reported */
      assert_int_equal(r.outcome,
                       stale ? TXN_OUTCOME_CONFLICT : TXN_OUTCOME_COMMITTED);
    }
    if (r.outcome == TXN_OUTCOME_FAILED) {
      assert_int_equal(r.err.status, 503);
    }
    check_crash(&txn, r.outcome, stale, fault, &before, end);
    txn_state_t st;
    if (fake_store_record(fs, txn.id, &st, NULL) && st == TXN_COMMITTED) {
      committed++;
    }
    txn_cleanup(&txn);
  }
  /* Committed: every run whose decide got through (k > decide_call), and
   * with a lost reply also the one whose decide took effect unseen. */
  int want =
      stale ? 0
            : (int)(full - decide_call) + (fault == FAULT_LOST_REPLY ? 1 : 0);
  assert_int_equal(committed, want);
  print_message("  %s after each of %ld calls (%s): %d committed\n",
                fault_name(fault), full, stale ? "abort" : "commit", committed);
  snap_free(&before);
  snap_free(&after);
}

/* One run of crash_at_every_store_call, a test's initial state. */
typedef struct fault_run {
  bool stale;
  fault_t fault;
} fault_run_t;

static void fault_at_every_store_call(void **state) {
  const fault_run_t *run = *state;
  crash_at_every_store_call(run->stale, run->fault);
}

static void failed_begin_writes_nothing(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  fake_store_fail_after(fs, 0);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  assert_int_equal(r.err.status, 503);
  assert_string_equal(r.err.code, "db_unavailable");
  assert_int_equal(fake_store_calls(fs), 1);
  assert_int_equal(fake_store_record_count(fs), 0);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_int_equal(field(0, "c", "a", "n"), 1);
  txn_cleanup(&txn);
}

/* After a prepare that failed on a database error, txn_execute rolls back
 * the participants before it, leaves the failed one (its database is
 * probably down; its change may or may not be staged) and the finish to
 * recovery, and reports the error. */
static void prepare_error_aborts_and_reports_it(void **state) {
  (void)state;
  snap_t before;
  seed_five_snap(&before);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  add_inc(&txn, 1, "c", "x", "n", 1, NULL);
  fake_store_fail_nth(fs, 3); /* begin, prepare, prepare, [prepare] */
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  assert_int_equal(r.failed_op, 2);
  assert_int_equal(r.err.status, 503);
  assert_string_equal(r.err.code, "db_unavailable");
  assert_int_equal(fake_store_calls_of(fs, FAKE_PREPARE), 3); /* not x */
  assert_int_equal(fake_store_calls_of(fs, FAKE_ABORT_OP), 2);
  assert_record(txn.id, TXN_ABORTED, false);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_false(exists(0, "c", "new"));
  assert_docs(&before, five_locs, 5, false);
  /* Recovery finishes it. */
  expect_recovery(1, 1);
  assert_record(txn.id, TXN_ABORTED, true);
  assert_docs(&before, five_locs, 5, false);
  snap_free(&before);
  txn_cleanup(&txn);
}

static void
prepare_error_with_lost_reply_rolls_back_the_staged_op(void **state) {
  (void)state;
  /* The insert happened but its reply was lost: it stays staged (and
   * invisible) until recovery removes it. */
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc_x(&txn, 0, "c", "a", "n", 1);
  add_insert(&txn, 0, "c", "new");
  fake_store_fail_nth(fs, 2);
  fake_store_set_lost_reply(fs, true);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  assert_int_equal(r.failed_op, 1);
  assert_int_equal(r.err.status, 503);
  assert_record(txn.id, TXN_ABORTED, false);
  assert_false(locked(0, "c", "a", NULL));
  char owner[TXN_ID_LEN + 1];
  assert_true(locked(0, "c", "new", owner));
  assert_string_equal(owner, txn.id);
  bson_value_t nid = fake_store_string_id("new");
  assert_false(fake_store_visible(fs, 0, "c", &nid, NULL));
  expect_recovery(1, 1);
  assert_record(txn.id, TXN_ABORTED, true);
  assert_false(exists(0, "c", "new"));
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_int_equal(field(0, "c", "a", "n"), 1);
  txn_cleanup(&txn);
}

/* ------------------------------------------------------------------ */
/* crashes at the named steps                                          */
/* ------------------------------------------------------------------ */

static const char *const step_names[] = {"txn.after_begin", "txn.after_prepare",
                                         "txn.after_decision", "txn.mid_apply"};

static void step_order_of_commit_and_abort(void **state) {
  (void)state;
  for (int stale = 0; stale < 2; stale++) {
    restart();
    std_seed();
    txn_t txn;
    std_build(&txn, stale);
    steps_t s;
    txn_exec_opts_t o = stepped(&s, NULL, NULL, NULL);
    result_t r;
    run_opts(&txn, &o, &r);
    assert_int_equal(s.n_seen, 4);
    for (int i = 0; i < 4; i++) {
      assert_string_equal(s.seen[i], step_names[i]);
    }
    txn_cleanup(&txn);
  }
}

static void crash_at_every_step(void **state) {
  (void)state;
  snap_t before, after;
  std_expect(&before, &after);
  for (int stale = 0; stale < 2; stale++) {
    for (int i = 0; i < 4; i++) {
      restart();
      std_seed();
      txn_t txn;
      std_build(&txn, stale);
      crashed_txn(&txn, step_names[i]);
      /* Before recovery: the record is unfinished and locks may remain. */
      txn_state_t st;
      bool done;
      assert_true(fake_store_record(fs, txn.id, &st, &done));
      assert_false(done);
      bool commit = !stale && i >= 2;
      assert_int_equal(st, i < 2    ? TXN_PENDING
                           : commit ? TXN_COMMITTED
                                    : TXN_ABORTED);
      assert_docs(commit ? &after : &before, std_locs, N_STD, true);
      if (i == 0) {
        assert_int_equal(fake_store_locked_count(fs), 0);
      } else if (i < 3) {
        /* all four prepared, or (stale) t-new alone: t-edit votes STALE
         * and u1's increment, shared, would come last */
        assert_int_equal(fake_store_locked_count(fs), stale ? 1 : 4);
      }
      /* Not claimable before the deadline. */
      recovery_result_t rr;
      chorus_error_t err;
      assert_true(recover("B", fake_clock_peek() + LEASE - 1, 64, &rr, &err));
      assert_int_equal(rr.recovered, 0);
      /* After it. */
      assert_true(recover("B", fake_clock_peek() + LEASE + 1, 64, &rr, &err));
      assert_int_equal(rr.recovered, 1);
      assert_int_equal(rr.rolled_back, commit ? 0 : 1);
      expect_std_end(txn.id, commit, &before, &after);
      txn_cleanup(&txn);
    }
  }
  snap_free(&before);
  snap_free(&after);
}

/* Between prepare and apply every participant carries our lock (u1, an
 * increment, our escrow entry) and still shows its committed fields. */
static void locks_held_between_prepare_and_apply(void **state) {
  (void)state;
  std_seed();
  txn_t txn;
  std_build(&txn, false);
  crashed_txn(&txn, "txn.after_prepare");
  for (size_t i = 0; i < N_STD; i++) {
    char owner[TXN_ID_LEN + 1];
    assert_true(
        locked(std_locs[i].shard, std_locs[i].coll, std_locs[i].id, owner));
    if (txn.ops[i].shared) {
      bson_value_t v = fake_store_string_id(std_locs[i].id);
      assert_true(escrow_has(
          fake_store_raw(fs, std_locs[i].shard, std_locs[i].coll, &v), txn.id));
    } else {
      assert_string_equal(owner, txn.id);
    }
  }
  /* The locked docs keep their committed fields: u1 is still at 4. */
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "u1", "tweet_count"), 4);
  assert_true(exists(1, "tweets_1", "t-del"));
  txn_cleanup(&txn);
}

/* ------------------------------------------------------------------ */
/* decide is a compare-and-set                                         */
/* ------------------------------------------------------------------ */

typedef struct race {
  const char *at;
  int mode; /* 0: a whole recovery pass; 2: only a claim (kept) */
  txn_t claimed;
  txn_state_t claimed_state;
  bool claimed_found;
  recovery_result_t rr;
  bool ok;
} race_t;

static void race_action(steps_t *s, const char *step) {
  race_t *race = s->data;
  if (strcmp(step, race->at)) {
    return;
  }
  chorus_error_t err;
  int64_t later = fake_clock_peek() + LEASE + 1;
  if (race->mode == 0) {
    race->ok = recover("B", later, 64, &race->rr, &err);
  } else {
    txn_init(&race->claimed);
    race->ok = store.claim(store.impl, NULL, "B", later, LEASE, &race->claimed,
                           &race->claimed_state, &race->claimed_found, &err);
  }
}

static void recovery_abort_first_makes_commit_a_conflict(void **state) {
  (void)state;
  snap_t before, after;
  txn_t txn;
  std_ready(&txn, &before, &after);
  race_t race = {.at = "txn.after_prepare", .mode = 0};
  steps_t s;
  txn_exec_opts_t o = stepped(&s, NULL, race_action, &race);
  result_t r;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_CONFLICT);
  assert_true(race.ok);
  assert_int_equal(race.rr.recovered, 1);
  assert_int_equal(race.rr.rolled_back, 1);
  expect_std_end(txn.id, false, &before, &after);
  snap_free(&before);
  snap_free(&after);
  txn_cleanup(&txn);
}

/* The action decides abort for the running transaction (running_txn), as
 * a recovery on another server would. */
static txn_t *running_txn;
static void decide_abort_action(steps_t *s, const char *step) {
  (void)s;
  if (!strcmp(step, "txn.after_prepare")) {
    txn_state_t actual;
    chorus_error_t err;
    assert_true(
        store.decide(store.impl, running_txn->id, TXN_ABORTED, &actual, &err));
    assert_int_equal(actual, TXN_ABORTED);
  }
}

static void decide_cas_lost_to_outside_abort(void **state) {
  (void)state;
  snap_t before;
  seed_five_snap(&before);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 1, "c", "new");
  add_delete(&txn, 1, "c", "x", NULL);
  running_txn = &txn;
  steps_t s;
  txn_exec_opts_t o = stepped(&s, NULL, decide_abort_action, NULL);
  result_t r;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_CONFLICT);
  /* the coordinator rolled back its own locks and finished */
  assert_record(txn.id, TXN_ABORTED, true);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_false(exists(1, "c", "new"));
  assert_docs(&before, five_locs, 5, false);
  assert_int_equal(fake_store_calls_of(fs, FAKE_ABORT_OP), 3);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 0);
  snap_free(&before);
  txn_cleanup(&txn);
}

static void recovery_claims_first_but_commit_decides_first(void **state) {
  (void)state;
  /* Recovery claims the record while it is pending; the coordinator then
   * decides commit; recovery's decide(abort) loses and it rolls forward.
   * Both apply: the effects must happen exactly once. */
  snap_t before, after;
  txn_t txn;
  std_ready(&txn, &before, &after);
  race_t race = {.at = "txn.after_prepare", .mode = 2};
  steps_t s;
  /* the crash: then recovery runs before apply */
  txn_exec_opts_t o = stepped(&s, "txn.after_decision", race_action, &race);
  if (!run_until_crash(&txn, &o, &s)) {
    fail_msg("no crash");
  }
  assert_true(race.ok);
  assert_true(race.claimed_found);
  assert_int_equal(race.claimed_state, TXN_PENDING);
  assert_string_equal(race.claimed.id, txn.id);
  txn_state_t final_state;
  chorus_error_t err;
  assert_true(txn_recover(&store, &race.claimed, race.claimed_state,
                          &final_state, NULL, &err));
  assert_int_equal(final_state, TXN_COMMITTED);
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_docs(&after, std_locs, N_STD, false);
  txn_cleanup(&race.claimed);
  txn_cleanup(&txn);

  /* Same race, but the coordinator goes on applying after recovery did:
   * still exactly once. */
  restart();
  std_seed();
  std_build(&txn, false);
  race = (race_t){.at = "txn.after_prepare", .mode = 2};
  o = stepped(&s, NULL, race_action, &race);
  result_t r;
  run_opts(&txn, &o, &r);
  assert_int_equal(r.outcome, TXN_OUTCOME_COMMITTED);
  assert_true(race.claimed_found);
  assert_true(txn_recover(&store, &race.claimed, race.claimed_state,
                          &final_state, NULL, &err));
  assert_int_equal(final_state, TXN_COMMITTED);
  assert_docs(&after, std_locs, N_STD, false);
  txn_cleanup(&race.claimed);
  txn_cleanup(&txn);
  snap_free(&before);
  snap_free(&after);
}

static void recovery_during_apply_rolls_forward_once(void **state) {
  (void)state;
  /* The coordinator is slow after the decision: recovery claims the
   * committed record and applies everything, then the coordinator goes
   * on applying.  The effects happen once. */
  snap_t before, after;
  txn_t txn;
  std_ready(&txn, &before, &after);
  for (int at = 2; at < 4; at++) {
    restart();
    std_seed();
    race_t race = {.at = step_names[at], .mode = 0};
    steps_t s;
    txn_exec_opts_t o = stepped(&s, NULL, race_action, &race);
    result_t r;
    assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
    assert_int_equal(race.rr.recovered, 1);
    assert_int_equal(race.rr.rolled_back, 0);
    expect_std_end(txn.id, true, &before, &after);
  }
  txn_cleanup(&txn);
  snap_free(&before);
  snap_free(&after);
}

/* ------------------------------------------------------------------ */
/* late locks, collected records, locks of unknown kind                */
/* ------------------------------------------------------------------ */

/* Runs a recovery pass "later" (past the deadline) just before the n-th
 * prepare reaches the store: that prepare was in flight while recovery
 * aborted and finished the transaction, and lands after it. */
typedef struct in_flight {
  int prepares_left;
  bool collect;
  recovery_result_t rr;
  bool ran;
} in_flight_t;

static void in_flight_hook(void *ctx, fake_fn_t fn) {
  in_flight_t *f = ctx;
  if (fn != FAKE_PREPARE || f->ran || --f->prepares_left > 0) {
    return;
  }
  f->ran = true;
  chorus_error_t err;
  assert_true(recover("B", fake_clock_peek() + LEASE + 1, 64, &f->rr, &err));
  if (f->collect) {
    int64_t deleted;
    assert_true(fake_store_collect(fs, fake_clock_peek() + 1, &deleted));
    assert_int_equal(deleted, 1);
  }
}

static void late_prepare_is_undone_by_its_coordinator(void **state) {
  (void)state;
  for (int collect = 0; collect < 2; collect++) {
    restart();
    snap_t before;
    seed_five_snap(&before);
    txn_t txn;
    txn_init(&txn);
    add_inc(&txn, 0, "c", "a", "n", 1, NULL);
    add_insert(&txn, 0, "c", "new");
    add_delete(&txn, 1, "c", "x", NULL);
    in_flight_t f = {.prepares_left = 2, .collect = collect};
    fake_store_set_call_hook(fs, in_flight_hook, &f);
    result_t r;
    /* decide finds the record aborted (or, collected, missing: aborted
     * too), and the coordinator drops what it prepared, late ones
     * included */
    assert_int_equal(run(&txn, &r), TXN_OUTCOME_CONFLICT);
    fake_store_set_call_hook(fs, NULL, NULL);
    assert_true(f.ran);
    assert_int_equal(f.rr.recovered, 1);
    assert_int_equal(f.rr.rolled_back, 1);
    assert_int_equal(fake_store_locked_count(fs), 0);
    assert_false(exists(0, "c", "new"));
    assert_docs(&before, five_locs, 5, false);
    snap_free(&before);
    if (collect) {
      assert_false(fake_store_record(fs, txn.id, NULL, NULL));
    } else {
      assert_record(txn.id, TXN_ABORTED, true);
    }
    txn_cleanup(&txn);
  }
}

static void late_lock_of_a_crashed_coordinator_is_resolved(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc_x(&txn, 0, "c", "a", "n", 1);
  add_insert(&txn, 0, "c", "new");
  add_inc_x(&txn, 1, "c", "x", "n", 1);
  in_flight_t f = {.prepares_left = 2};
  fake_store_set_call_hook(fs, in_flight_hook, &f);
  /* the coordinator dies right after its (late) prepares */
  crashed_txn(&txn, "txn.after_prepare");
  fake_store_set_call_hook(fs, NULL, NULL);
  /* Finished and aborted, yet "new" and x carry its locks. */
  assert_record(txn.id, TXN_ABORTED, true);
  char owner[TXN_ID_LEN + 1];
  assert_true(locked(0, "c", "new", owner));
  assert_string_equal(owner, txn.id);
  assert_true(locked(1, "c", "x", NULL));
  assert_false(locked(0, "c", "a", NULL)); /* recovery dropped that one */
  /* Recovery never claims a finished record. */
  recovery_result_t rr;
  chorus_error_t err;
  assert_true(recover("C", fake_clock_peek() + 10 * LEASE, 64, &rr, &err));
  assert_int_equal(rr.recovered, 0);
  /* Readers see the aborted state. */
  bson_value_t nid = fake_store_string_id("new"),
               xid = fake_store_string_id("x");
  int64_t n;
  assert_false(fake_store_visible(fs, 0, "c", &nid, NULL));
  assert_true(fake_store_view_field(fs, 1, "c", &xid, "n", &n));
  assert_int_equal(n, 3);
  /* A writer is blocked and told by whom... */
  txn_t w;
  txn_init(&w);
  add_inc_x(&w, 1, "c", "x", "n", 1);
  result_t r;
  assert_int_equal(run(&w, &r), TXN_OUTCOME_CONFLICT);
  assert_string_equal(r.lock_owner, txn.id);
  txn_cleanup(&w);
  /* ...and resolves it as sync.c does for a finished aborted record: an
   * abort_op of kind 0 at the location only. */
  txn_op_t where;
  memset(&where, 0, sizeof where);
  where.shard = 1;
  bson_strncpy(where.coll, "c", sizeof where.coll);
  where.id = xid;
  assert_true(store.abort_op(store.impl, txn.id, &where, &err));
  assert_false(locked(1, "c", "x", NULL));
  assert_int_equal(field(1, "c", "x", "n"), 3);
  txn_init(&w);
  add_inc_x(&w, 1, "c", "x", "n", 1);
  assert_int_equal(run(&w, &r), TXN_OUTCOME_COMMITTED);
  txn_cleanup(&w);
  /* The collector sweeps the rest (the staged insert) before deleting
   * the record; not before the record is old enough. */
  int64_t deleted;
  assert_true(fake_store_collect(fs, fake_clock_peek() - 1, &deleted));
  assert_int_equal(deleted, 0);
  assert_true(locked(0, "c", "new", NULL));
  fake_clock_advance(1);
  assert_true(fake_store_collect(fs, fake_clock_peek(), &deleted));
  assert_int_equal(deleted, 3); /* txn's and w's two attempts */
  assert_false(exists(0, "c", "new"));
  assert_false(fake_store_record(fs, txn.id, NULL, NULL));
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&txn);
}

static void kind_zero_op_resolves_through_the_lock(void **state) {
  (void)state;
  /* For each staged kind: commit_op / abort_op given only the location
   * (kind 0, staged_known false) do what the lock says. */
  for (int commit = 0; commit < 2; commit++) {
    restart();
    seed_five();
    txn_t txn;
    txn_init(&txn);
    bson_strncpy(txn.id, "abcdefabcdefabcdefabcdef", sizeof txn.id);
    add_insert(&txn, 0, "c", "new");
    add_inc(&txn, 0, "c", "a", "n", 5, NULL);
    add_delete(&txn, 0, "c", "b", NULL);
    chorus_error_t err;
    char owner[TXN_ID_LEN + 1];
    for (size_t i = 0; i < txn.n_ops; i++) {
      assert_int_equal(
          store.prepare(store.impl, txn.id, &txn.ops[i], owner, &err),
          TXN_VOTE_YES);
    }
    for (size_t i = 0; i < txn.n_ops; i++) {
      txn_op_t where;
      memset(&where, 0, sizeof where);
      where.shard = txn.ops[i].shard;
      bson_strncpy(where.coll, txn.ops[i].coll, sizeof where.coll);
      where.id = txn.ops[i].id;
      /* someone else's id: nothing */
      assert_true(store.commit_op(store.impl, OTHER_TXN, &where, &err));
      assert_true(store.abort_op(store.impl, OTHER_TXN, &where, &err));
      for (int rep = 0; rep < 2; rep++) {
        assert_true(commit ? store.commit_op(store.impl, txn.id, &where, &err)
                           : store.abort_op(store.impl, txn.id, &where, &err));
      }
    }
    assert_int_equal(fake_store_locked_count(fs), 0);
    assert_int_equal(exists(0, "c", "new"), commit);
    assert_int_equal(field(0, "c", "a", "n"), commit ? 6 : 1);
    assert_int_equal(version(0, "c", "a"), commit ? 2 : 1);
    assert_int_equal(exists(0, "c", "b"), !commit);
    /* and on an unlocked or absent document: nothing */
    txn_op_t where;
    memset(&where, 0, sizeof where);
    bson_strncpy(where.coll, "c", sizeof where.coll);
    where.id = fake_store_string_id("y");
    where.shard = 1;
    assert_true(store.commit_op(store.impl, txn.id, &where, &err));
    assert_true(store.abort_op(store.impl, txn.id, &where, &err));
    where.id = fake_store_string_id("ghost");
    assert_true(store.abort_op(store.impl, txn.id, &where, &err));
    assert_true(exists(1, "c", "y"));
    assert_false(exists(1, "c", "ghost"));
    txn_cleanup(&txn);
  }
}

static void decide_on_a_collected_record_is_abort(void **state) {
  (void)state;
  chorus_error_t err;
  txn_state_t actual = TXN_PENDING;
  assert_true(store.decide(store.impl, "000000000000000000000000",
                           TXN_COMMITTED, &actual, &err));
  assert_int_equal(actual, TXN_ABORTED);
  assert_int_equal(fake_store_record_count(fs), 0);
}

static void recovery_reads_the_clock_for_every_claim(void **state) {
  (void)state;
  /* Two expired records; the second cannot be finished (a participant is
   * down): its new lease must start from when it was claimed, not from
   * when the pass began. */
  seed_five();
  txn_t t1, t2;
  crashed_inc(&t1, 0, "a", "txn.after_prepare");
  crashed_inc(&t2, 1, "y", "txn.after_prepare");
  bson_value_t y = fake_store_string_id("y");
  fake_store_set_down(fs, 1, "c", &y, true);
  fake_clock_advance(LEASE + 1);
  int64_t start = fake_clock_peek();
  fake_clock_set_tick(300);
  recovery_result_t rr;
  chorus_error_t err;
  quiet(true);
  bool ok = recovery_pass(&store, NULL, "B", LEASE, fake_clock_now, 64, NULL,
                          &rr, &err);
  quiet(false);
  fake_clock_set_tick(0);
  assert_false(ok);
  assert_int_equal(rr.recovered, 1);
  assert_record(t1.id, TXN_ABORTED, true);
  assert_record(t2.id, TXN_ABORTED, false);
  int64_t deadline;
  assert_true(fake_store_record_owner(fs, t2.id, NULL, 0, NULL, &deadline));
  assert_int_equal(deadline, start + 300 + LEASE);
  txn_cleanup(&t1);
  txn_cleanup(&t2);
}

/* ------------------------------------------------------------------ */
/* the prepare margin                                                  */
/* ------------------------------------------------------------------ */

static void slow_prepare_past_margin_aborts(void **state) {
  (void)state;
  snap_t before;
  seed_five_snap(&before);
  txn_t txn;
  txn_init(&txn);
  add_inc_x(&txn, 0, "c", "a", "n", 1);
  add_insert(&txn, 0, "c", "new");
  add_inc_x(&txn, 0, "c", "b", "n", 1);
  add_inc_x(&txn, 1, "c", "y", "n", 1);
  /* lease 2000: margin 500.  now_ms reads: deadline (t), op0 (t+600),
   * op1 (t+1200), op2 (t+1800 > t+2000-500): op 2 is never prepared. */
  fake_clock_set_tick(600);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_CONFLICT);
  fake_clock_set_tick(0);
  assert_int_equal(r.failed_op, 2);
  assert_string_equal(r.lock_owner, "");
  assert_int_equal(fake_store_calls_of(fs, FAKE_PREPARE), 2);
  assert_int_equal(fake_store_calls_of(fs, FAKE_ABORT_OP), 2);
  assert_record(txn.id, TXN_ABORTED, true);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_false(exists(0, "c", "new"));
  assert_docs(&before, five_locs, 5, false);
  snap_free(&before);
  txn_cleanup(&txn);
}

/* Runs a three-op transaction of exclusive increments with the given
 * lease while every read of the clock advances it by tick; returns the
 * outcome.  (Shared ops past the lease: shared_apply_past_the_lease.) */
static txn_outcome_t run_ticking(int64_t lease, int64_t tick, result_t *r) {
  txn_t txn;
  txn_init(&txn);
  add_inc_x(&txn, 0, "c", "a", "n", 1);
  add_inc_x(&txn, 0, "c", "b", "n", 1);
  add_inc_x(&txn, 0, "c", "b2", "n", 1);
  txn_exec_opts_t o = opts_for("A");
  o.lease_ms = lease;
  fake_clock_set_tick(tick);
  run_opts(&txn, &o, r);
  fake_clock_set_tick(0);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_record(
      txn.id, r->outcome == TXN_OUTCOME_COMMITTED ? TXN_COMMITTED : TXN_ABORTED,
      true);
  txn_cleanup(&txn);
  return r->outcome;
}

/* The documents run_ticking's transaction changes: a, b (seed_five) and
 * b2. */
static void seed_ticking(void) {
  seed_five();
  put_counter(0, "c", "b2", "n", 0, 1);
}

/* run_ticking(lease, tick) ends in want; an abort at op failed_op
 * (n_ops: no op refused). */
static void expect_ticking(int64_t lease, int64_t tick, txn_outcome_t want,
                           size_t failed_op) {
  result_t r;
  assert_int_equal(run_ticking(lease, tick, &r), want);
  if (want != TXN_OUTCOME_COMMITTED) {
    assert_int_equal(r.failed_op, failed_op);
  }
}

static void prepare_margin_boundaries(void **state) {
  (void)state;
  seed_ticking();
  /* lease 2000, margin 500: reads t, t+700, t+1400, t+2100 > t+1500 */
  expect_ticking(2000, 700, TXN_OUTCOME_CONFLICT, 2);
  /* reads t, t+500, t+1000, t+1500 == deadline - margin: allowed */
  expect_ticking(2000, 500, TXN_OUTCOME_COMMITTED, 0);
  /* one more millisecond: op 2 is too late */
  expect_ticking(2000, 501, TXN_OUTCOME_CONFLICT, 2);
  /* the first read after the deadline's: too late at once */
  expect_ticking(2000, 1501, TXN_OUTCOME_CONFLICT, 0);
  assert_int_equal(field(0, "c", "a", "n"), 2); /* one commit */
}

static void prepare_margin_is_a_quarter_of_a_short_lease(void **state) {
  (void)state;
  seed_ticking();
  /* lease 400: margin 100.  t, t+100, t+200, t+300 == 400-100: allowed */
  expect_ticking(400, 100, TXN_OUTCOME_COMMITTED, 0);
  /* t+101, t+202, t+303 > t+300 */
  expect_ticking(400, 101, TXN_OUTCOME_CONFLICT, 2);
  /* a tiny lease still commits when nothing is slow */
  expect_ticking(4, 0, TXN_OUTCOME_COMMITTED, 0);
  /* lease 4: margin 1.  t, t+2, t+4 > t+3 */
  expect_ticking(4, 2, TXN_OUTCOME_CONFLICT, 1);
}

static void prepare_margin_is_capped_at_500_ms(void **state) {
  (void)state;
  seed_ticking();
  /* lease 8000: margin 500, not a quarter (2000).  Reads t, t+2500,
   * t+5000, t+7500 == t+8000-500: every prepare is allowed (a 2000 margin
   * would stop op 2, t+7500 > t+6000).  The decision then reads t+10000,
   * past the lease, so the coordinator aborts instead of committing:
   * failed_op == n_ops says no op refused. */
  expect_ticking(8000, 2500, TXN_OUTCOME_CONFLICT, 3);
  expect_ticking(8000, 2501, TXN_OUTCOME_CONFLICT, 2);
}

/* op->in_lease (the store may then commit without reading the document
 * back, store_mongo.c) is set only while the coordinator's clock is
 * before deadline - margin when it starts that op, and never by
 * recovery: after that, recovery may have applied the op and another
 * transaction staged the document. */
static void commit_in_lease_only_before_the_margin(void **state) {
  (void)state;
  seed_ticking();
  result_t r;
  /* lease 2000, margin 500, three ops.  tick 0: every commit in lease */
  fake_store_reset_calls(fs);
  assert_int_equal(run_ticking(2000, 0, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 3);
  assert_int_equal(fake_store_commits_in_lease(fs), 3);
  /* tick 250: deadline t, prepares t+250..t+750, decision t+1000, applies
   * start t+1250 (in lease), t+1500 (== deadline - margin: not), t+1750 */
  fake_store_reset_calls(fs);
  assert_int_equal(run_ticking(2000, 250, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 3);
  assert_int_equal(fake_store_commits_in_lease(fs), 1);
  /* tick 300: the decision (t+1200) commits, no apply starts in lease */
  fake_store_reset_calls(fs);
  assert_int_equal(run_ticking(2000, 300, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(fake_store_commits_in_lease(fs), 0);
  assert_int_equal(field(0, "c", "a", "n"), 4); /* three commits */
  assert_int_equal(field(0, "c", "b2", "n"), 3);

  /* Recovery rolling a decided commit forward: never in lease. */
  txn_t txn;
  txn_init(&txn);
  add_inc_x(&txn, 0, "c", "a", "n", 1);
  add_inc_x(&txn, 0, "c", "b", "n", 1);
  fake_store_reset_calls(fs);
  long decide_and_before = 1 + 2 + 1; /* begin, two prepares, decide */
  fake_store_fail_after(fs, decide_and_before);
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  fake_store_heal(fs);
  assert_int_equal(fake_store_commits_in_lease(fs), 0); /* none got through */
  fake_store_reset_calls(fs);
  expect_recovery(1, 0);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 2);
  assert_int_equal(fake_store_commits_in_lease(fs), 0);
  assert_int_equal(field(0, "c", "a", "n"), 5);
  txn_cleanup(&txn);
}

static void no_mid_apply_when_nothing_was_prepared(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  steps_t s;
  txn_exec_opts_t o = stepped(&s, NULL, NULL, NULL);
  /* the first prepare check already comes past deadline - margin */
  fake_clock_set_tick(LEASE);
  result_t r;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_CONFLICT);
  fake_clock_set_tick(0);
  assert_int_equal(r.failed_op, 0);
  assert_int_equal(s.n_seen, 3);
  assert_string_equal(s.seen[0], "txn.after_begin");
  assert_string_equal(s.seen[1], "txn.after_prepare");
  assert_string_equal(s.seen[2], "txn.after_decision");
  assert_int_equal(fake_store_calls_of(fs, FAKE_PREPARE), 0);
  assert_int_equal(fake_store_calls_of(fs, FAKE_ABORT_OP), 0);
  assert_record(txn.id, TXN_ABORTED, true);
  txn_cleanup(&txn);
}

/* ------------------------------------------------------------------ */
/* recovery                                                            */
/* ------------------------------------------------------------------ */

/* Leaves a transaction crashed at `step` (its id in txn->id). */
static void crashed_txn(txn_t *txn, const char *step) {
  steps_t s;
  txn_exec_opts_t o = stepped(&s, step, NULL, NULL);
  if (!run_until_crash(txn, &o, &s)) {
    fail_msg("no crash at %s", step);
  }
}

static void claim_is_exclusive(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  crashed_inc(&txn, 0, "a", "txn.after_prepare");
  int64_t deadline;
  assert_true(fake_store_record_owner(fs, txn.id, NULL, 0, NULL, &deadline));
  int64_t now = deadline + 1;
  chorus_error_t err;
  txn_t b, c;
  txn_state_t sb, sc;
  bool fb, fc;
  txn_init(&b);
  txn_init(&c);
  assert_true(
      store.claim(store.impl, NULL, "B", now, LEASE, &b, &sb, &fb, &err));
  assert_true(
      store.claim(store.impl, NULL, "C", now, LEASE, &c, &sc, &fc, &err));
  assert_true(fb);
  assert_false(fc);
  assert_int_equal(c.n_ops, 0);
  assert_string_equal(b.id, txn.id);
  assert_int_equal(sb, TXN_PENDING);
  assert_int_equal(b.n_ops, 1);
  assert_int_equal(b.ops[0].kind, TXN_UPDATE);
  assert_false(b.ops[0].staged_known);
  assert_null(b.ops[0].inc);
  assert_string_equal(b.ops[0].coll, "c");
  assert_int_equal(b.ops[0].shard, 0);
  assert_string_equal(b.ops[0].id.value.v_utf8.str, "a");
  char owner[32];
  int64_t lease;
  assert_true(fake_store_record_owner(fs, txn.id, owner, sizeof owner, &lease,
                                      &deadline));
  assert_string_equal(owner, "B");
  assert_int_equal(lease, 2);
  assert_int_equal(deadline, now + LEASE);
  /* B's lease: C still cannot; after it, C takes over (B died too). */
  assert_true(store.claim(store.impl, txn.id, "C", now + LEASE, LEASE, &c, &sc,
                          &fc, &err));
  assert_false(fc);
  assert_true(store.claim(store.impl, txn.id, "C", now + LEASE + 1, LEASE, &c,
                          &sc, &fc, &err));
  assert_true(fc);
  assert_true(
      fake_store_record_owner(fs, txn.id, owner, sizeof owner, &lease, NULL));
  assert_string_equal(owner, "C");
  assert_int_equal(lease, 3);
  /* C finishes it; B's late recovery is harmless. */
  txn_state_t fin;
  assert_true(txn_recover(&store, &c, sc, &fin, NULL, &err));
  assert_int_equal(fin, TXN_ABORTED);
  assert_true(txn_recover(&store, &b, sb, &fin, NULL, &err));
  assert_int_equal(fin, TXN_ABORTED);
  assert_record(txn.id, TXN_ABORTED, true);
  assert_int_equal(field(0, "c", "a", "n"), 1);
  assert_int_equal(fake_store_locked_count(fs), 0);
  /* done: never claimed again */
  assert_true(store.claim(store.impl, NULL, "D", now + 100 * LEASE, LEASE, &c,
                          &sc, &fc, &err));
  assert_false(fc);
  txn_cleanup(&b);
  txn_cleanup(&c);
  txn_cleanup(&txn);
}

typedef struct claim_race {
  txn_t txn;
  txn_state_t state;
  bool found;
  bool ok;
  int64_t now;
} claim_race_t;

static void competing_claim(void *ctx) {
  claim_race_t *cr = ctx;
  chorus_error_t err;
  txn_init(&cr->txn);
  cr->ok = store.claim(store.impl, NULL, "C", cr->now, LEASE, &cr->txn,
                       &cr->state, &cr->found, &err);
}

static void racing_claims_exactly_one_wins(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  crashed_inc(&txn, 0, "a", "txn.after_prepare");
  int64_t now = fake_clock_peek() + LEASE + 1;
  claim_race_t cr;
  memset(&cr, 0, sizeof cr);
  cr.now = now;
  /* C claims in the window between B's read and B's compare-and-set. */
  fake_store_set_claim_hook(fs, competing_claim, &cr);
  txn_t b;
  txn_state_t sb;
  bool fb = true;
  chorus_error_t err;
  txn_init(&b);
  assert_true(
      store.claim(store.impl, NULL, "B", now, LEASE, &b, &sb, &fb, &err));
  assert_true(cr.ok);
  assert_true(cr.found);
  assert_false(fb);
  assert_int_equal(b.n_ops, 0); /* cleaned */
  char owner[32];
  int64_t lease;
  assert_true(
      fake_store_record_owner(fs, txn.id, owner, sizeof owner, &lease, NULL));
  assert_string_equal(owner, "C");
  assert_int_equal(lease, 2);
  txn_cleanup(&cr.txn);
  txn_cleanup(&b);
  txn_cleanup(&txn);
}

static void racing_claim_moves_on_to_next_record(void **state) {
  (void)state;
  /* Losing the race for one record, a claim takes the next expired one. */
  seed_five();
  txn_t t1, t2;
  crashed_inc(&t1, 0, "a", "txn.after_prepare");
  crashed_inc(&t2, 0, "b", "txn.after_decision");
  claim_race_t cr;
  memset(&cr, 0, sizeof cr);
  cr.now = fake_clock_peek() + LEASE + 1;
  fake_store_set_claim_hook(fs, competing_claim, &cr);
  txn_t b;
  txn_state_t sb;
  bool fb;
  chorus_error_t err;
  txn_init(&b);
  assert_true(
      store.claim(store.impl, NULL, "B", cr.now, LEASE, &b, &sb, &fb, &err));
  assert_true(cr.found);
  assert_string_equal(cr.txn.id, t1.id);
  assert_true(fb);
  assert_string_equal(b.id, t2.id);
  assert_int_equal(sb, TXN_COMMITTED);
  txn_cleanup(&cr.txn);
  txn_cleanup(&b);
  txn_cleanup(&t1);
  txn_cleanup(&t2);
}

static void unexpired_record_is_not_claimed(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  crashed_inc(&txn, 0, "a", "txn.after_begin");
  int64_t deadline;
  assert_true(fake_store_record_owner(fs, txn.id, NULL, 0, NULL, &deadline));
  recovery_result_t rr;
  chorus_error_t err;
  assert_true(recover("B", deadline - 1, 64, &rr, &err));
  assert_int_equal(rr.recovered, 0);
  assert_true(recover("B", deadline, 64, &rr, &err)); /* $lt: strict */
  assert_int_equal(rr.recovered, 0);
  assert_int_equal(fake_store_unfinished(fs), 1);
  assert_true(recover("B", deadline + 1, 64, &rr, &err));
  assert_int_equal(rr.recovered, 1);
  assert_int_equal(rr.rolled_back, 1);
  txn_cleanup(&txn);
}

static void pending_record_is_aborted_by_recovery(void **state) {
  (void)state;
  snap_t before;
  seed_five_snap(&before);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  add_delete(&txn, 1, "c", "x", NULL);
  crashed_txn(&txn, "txn.after_prepare");
  assert_true(exists(0, "c", "new"));
  /* the committed view hides the staged insert and keeps x */
  bson_value_t nid = fake_store_string_id("new"),
               xid = fake_store_string_id("x");
  assert_false(fake_store_visible(fs, 0, "c", &nid, NULL));
  assert_true(fake_store_visible(fs, 1, "c", &xid, NULL));
  expect_recovery(1, 1);
  assert_record(txn.id, TXN_ABORTED, true);
  assert_false(exists(0, "c", "new"));
  assert_docs(&before, five_locs, 5, false);
  snap_free(&before);
  txn_cleanup(&txn);
}

static void committed_record_is_rolled_forward(void **state) {
  (void)state;
  snap_t before, after;
  txn_t txn;
  std_ready(&txn, &before, &after);
  crashed_txn(&txn, "txn.after_decision");
  /* nothing applied yet, but the view already shows the commit */
  assert_int_equal(fake_store_locked_count(fs), 4);
  assert_docs(&after, std_locs, N_STD, true);
  fake_store_reset_calls(fs);
  expect_recovery(1, 0);
  /* claim, commit x4, finish, and the claim that finds nothing */
  assert_int_equal(fake_store_calls_of(fs, FAKE_CLAIM), 2);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 4);
  assert_int_equal(fake_store_calls_of(fs, FAKE_FINISH), 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_DECIDE), 0);
  assert_docs(&after, std_locs, N_STD, false);
  assert_record(txn.id, TXN_COMMITTED, true);
  snap_free(&before);
  snap_free(&after);
  txn_cleanup(&txn);
}

static void recovery_crashing_midway_is_finished_by_another(void **state) {
  (void)state;
  snap_t before, after;
  std_expect(&before, &after);
  for (int commit = 0; commit < 2; commit++) {
    /* a full recovery: claim, [decide], 4 apply, finish, claim (none) */
    long full = commit ? 7 : 8;
    for (long k = 0; k < full; k++) {
      for (int lost = 0; lost < 2; lost++) {
        restart();
        std_seed();
        txn_t txn;
        std_build(&txn, false);
        crashed_txn(&txn, commit ? "txn.after_decision" : "txn.after_prepare");
        fake_clock_advance(LEASE + 1);
        fake_store_fail_after(fs, k);
        fake_store_set_lost_reply(fs, lost);
        recovery_result_t rr;
        chorus_error_t err;
        bool ok = recover("B", fake_clock_peek(), 64, &rr, &err);
        /* every k < full fails somewhere, the last one in the final claim
         * that would have found nothing */
        assert_false(ok);
        assert_int_equal(err.status, 503);
        fake_store_heal(fs);
        /* the view stays consistent with the decision */
        txn_state_t st;
        bool done;
        assert_true(fake_store_record(fs, txn.id, &st, &done));
        assert_docs(st == TXN_COMMITTED ? &after : &before, std_locs, N_STD,
                    true);
        /* done once finish took effect: it succeeded, or its reply was
         * the one lost */
        assert_int_equal(done, k >= full - 1 || (lost && k == full - 2));
        if (!done) {
          /* Once B's claim got through (it did unless it was the failed
           * call itself, without effect), nobody else may take over before
           * B's lease runs out. */
          bool b_holds = !(k == 0 && !lost);
          recovery_result_t r2;
          assert_true(recover("C", fake_clock_peek(), 64, &r2, &err));
          assert_int_equal(r2.recovered, b_holds ? 0 : 1);
          fake_clock_advance(LEASE + 1);
          assert_true(recover("C", fake_clock_peek(), 64, &r2, &err));
          assert_int_equal(r2.recovered, b_holds ? 1 : 0);
        }
        expect_std_end(txn.id, commit, &before, &after);
        txn_cleanup(&txn);
      }
    }
  }
  snap_free(&before);
  snap_free(&after);
}

static void recovery_pass_respects_max_and_txn_id(void **state) {
  (void)state;
  seed_five();
  txn_t t[3];
  const char *ids[] = {"a", "b", "y"};
  for (int i = 0; i < 3; i++) {
    crashed_inc(&t[i], i == 2 ? 1 : 0, ids[i],
                i == 1 ? "txn.after_decision" : "txn.after_prepare");
  }
  int64_t later = fake_clock_peek() + LEASE + 1;
  recovery_result_t rr;
  chorus_error_t err;
  /* only t[2] */
  assert_true(recover_one(t[2].id, "B", later, &rr, &err));
  assert_int_equal(rr.recovered, 1);
  assert_record(t[2].id, TXN_ABORTED, true);
  assert_int_equal(fake_store_unfinished(fs), 2);
  /* again: nothing (it is done) */
  assert_true(recover_one(t[2].id, "B", later, &rr, &err));
  assert_int_equal(rr.recovered, 0);
  /* max 1 */
  assert_true(recover("B", later, 1, &rr, &err));
  assert_int_equal(rr.recovered, 1);
  assert_int_equal(fake_store_unfinished(fs), 1);
  assert_true(recover("B", later, 64, &rr, &err));
  assert_int_equal(rr.recovered, 1);
  assert_int_equal(rr.rolled_back, 0); /* t[1] was committed */
  assert_int_equal(fake_store_unfinished(fs), 0);
  assert_int_equal(field(0, "c", "a", "n"), 1);
  assert_int_equal(field(0, "c", "b", "n"), 3);
  assert_int_equal(field(1, "c", "y", "n"), 4);
  /* max 0: nothing at all */
  assert_true(recover("B", later, 0, &rr, &err));
  assert_int_equal(rr.recovered, 0);
  for (int i = 0; i < 3; i++) {
    txn_cleanup(&t[i]);
  }
}

static void recovery_of_many_records(void **state) {
  (void)state;
  /* More expired records than one claim query returns (16). */
  txn_t t[40];
  char ids[40][8];
  for (int i = 0; i < 40; i++) {
    snprintf(ids[i], sizeof ids[i], "k%d", i);
    put_counter(0, "c", ids[i], "n", 0, 1);
    crashed_inc(&t[i], 0, ids[i], i % 2 ? "txn.mid_apply" : "txn.after_begin");
  }
  expect_recovery(40, 20);
  assert_int_equal(fake_store_unfinished(fs), 0);
  assert_int_equal(fake_store_locked_count(fs), 0);
  for (int i = 0; i < 40; i++) {
    assert_int_equal(field(0, "c", ids[i], "n"), i % 2);
    txn_cleanup(&t[i]);
  }
}

/* ------------------------------------------------------------------ */
/* an unreachable participant                                          */
/* ------------------------------------------------------------------ */

static void down_participant_at_prepare_fails_and_rolls_back(void **state) {
  (void)state;
  snap_t before;
  seed_five_snap(&before);
  bson_value_t y = fake_store_string_id("y");
  fake_store_set_down(fs, 1, "c", &y, true);
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  add_inc(&txn, 1, "c", "y", "n", 1, NULL);
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_FAILED);
  assert_int_equal(r.failed_op, 2);
  assert_int_equal(r.err.status, 503);
  /* aborted; the reachable participants rolled back at once, the
   * unreachable one (and the finish) left to recovery */
  assert_record(txn.id, TXN_ABORTED, false);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_false(exists(0, "c", "new"));
  assert_docs(&before, five_locs, 5, false);
  /* while y is down, recovery cannot finish it */
  recovery_result_t rr;
  chorus_error_t err;
  fake_clock_advance(LEASE + 1);
  assert_false(recover("B", fake_clock_peek(), 64, &rr, &err));
  assert_int_equal(err.status, 503);
  assert_record(txn.id, TXN_ABORTED, false);
  /* once it is back (and B's lease is over), it is finished */
  fake_store_set_down(fs, 1, "c", &y, false);
  fake_clock_advance(LEASE + 1);
  assert_true(recover("C", fake_clock_peek(), 64, &rr, &err));
  assert_int_equal(rr.recovered, 1);
  assert_int_equal(rr.rolled_back, 1);
  assert_record(txn.id, TXN_ABORTED, true);
  assert_docs(&before, five_locs, 5, false);
  snap_free(&before);
  txn_cleanup(&txn);
}

static void pull_plug_action(steps_t *s, const char *step) {
  if (!strcmp(step, "txn.after_decision")) {
    fake_store_set_down(fs, 1, "c", s->data, true);
  }
}

static void down_participant_at_apply_keeps_the_commit(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_inc(&txn, 1, "c", "y", "n", 1, NULL);
  add_inc(&txn, 0, "c", "b", "n", 1, NULL);
  /* y's deployment becomes unreachable right after the decision. */
  bson_value_t y = fake_store_string_id("y");
  steps_t s;
  txn_exec_opts_t o = stepped(&s, NULL, pull_plug_action, &y);
  result_t r;
  /* The decision is durable: the commit is acknowledged. */
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
  assert_record(txn.id, TXN_COMMITTED, false);
  assert_int_equal(field(0, "c", "a", "n"), 2); /* applied */
  assert_true(locked(1, "c", "y", NULL));       /* not reachable */
  assert_true(locked(0, "c", "b", NULL));       /* apply stopped at y */
  assert_int_equal(fake_store_calls_of(fs, FAKE_FINISH), 0);
  /* Readers already see the whole commit. */
  int64_t n;
  assert_true(fake_store_view_field(fs, 1, "c", &y, "n", &n));
  assert_int_equal(n, 5);
  bson_value_t b = fake_store_string_id("b");
  assert_true(fake_store_view_field(fs, 0, "c", &b, "n", &n));
  assert_int_equal(n, 3);
  /* Another transaction crashes meanwhile. */
  txn_t other;
  crashed_inc(&other, 1, "x", "txn.after_prepare");
  /* Recovery cannot finish the first while y is down, and says so. */
  recovery_result_t rr;
  chorus_error_t err;
  fake_clock_advance(LEASE + 1);
  assert_false(recover("B", fake_clock_peek(), 64, &rr, &err));
  assert_int_equal(err.status, 503);
  assert_int_equal(rr.recovered, 0);
  assert_record(txn.id, TXN_COMMITTED, false);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  /* The other is recovered by the next pass, while B holds the lease of
   * the stuck one. */
  fake_clock_advance(1);
  assert_true(recover("C", fake_clock_peek(), 64, &rr, &err));
  assert_int_equal(rr.recovered, 1);
  assert_record(other.id, TXN_ABORTED, true);
  assert_record(txn.id, TXN_COMMITTED, false);
  /* y comes back; after B's lease, the record is finished. */
  fake_store_set_down(fs, 1, "c", &y, false);
  fake_clock_advance(LEASE + 1);
  assert_true(recover("C", fake_clock_peek(), 64, &rr, &err));
  assert_int_equal(rr.recovered, 1);
  assert_int_equal(rr.rolled_back, 0);
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  assert_int_equal(field(1, "c", "y", "n"), 5);
  assert_int_equal(field(0, "c", "b", "n"), 3);
  assert_int_equal(field(1, "c", "x", "n"), 3);
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&txn);
  txn_cleanup(&other);
}

static void down_participant_during_txn_recover(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_inc(&txn, 1, "c", "y", "n", 1, NULL);
  bson_value_t y = fake_store_string_id("y");
  /* Committed, then y goes down before anything is applied: txn_recover
   * fails at y, and succeeds (idempotently) once y is back. */
  crashed_txn(&txn, "txn.after_decision");
  fake_store_set_down(fs, 1, "c", &y, true);
  txn_t claimed;
  txn_state_t st;
  bool found;
  chorus_error_t err;
  txn_init(&claimed);
  assert_true(store.claim(store.impl, txn.id, "A",
                          fake_clock_peek() + LEASE + 1, LEASE, &claimed, &st,
                          &found, &err));
  assert_true(found);
  txn_state_t fin;
  assert_false(txn_recover(&store, &claimed, st, &fin, NULL, &err));
  assert_int_equal(err.status, 503);
  assert_int_equal(fin, TXN_COMMITTED);
  assert_record(txn.id, TXN_COMMITTED, false);
  fake_store_set_down(fs, 1, "c", &y, false);
  assert_true(txn_recover(&store, &claimed, st, &fin, NULL, &err));
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(field(1, "c", "y", "n"), 5);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  txn_cleanup(&claimed);
  txn_cleanup(&txn);
}

/* ------------------------------------------------------------------ */
/* interleaved transactions                                            */
/* ------------------------------------------------------------------ */

typedef struct nested {
  const char *at;
  txn_t txn;
  result_t r;
  bool ran;
  snap_t view;
} nested_t;

static void nested_action(steps_t *s, const char *step) {
  nested_t *n = s->data;
  if (n->ran || strcmp(step, n->at)) {
    return;
  }
  n->ran = true;
  snap_take(&n->view, five_locs, 5, true);
  txn_exec_opts_t o = opts_for("B");
  run_opts(&n->txn, &o, &n->r);
}

static void interleaved_txn_sees_lock_and_conflicts(void **state) {
  (void)state;
  for (int at = 0; at < 4; at++) {
    restart();
    snap_t before;
    seed_five_snap(&before);
    txn_t a;
    txn_init(&a);
    add_inc(&a, 0, "c", "a", "n", -1, NULL); /* shared */
    add_inc_set(&a, 1, "c", "x", "n", 1);    /* exclusive */
    nested_t n;
    memset(&n, 0, sizeof n);
    n.at = step_names[at];
    txn_init(&n.txn);
    add_inc(&n.txn, 0, "c", "b", "n", 1, NULL);
    add_inc_set(&n.txn, 1, "c", "x", "n", 10);
    steps_t s;
    txn_exec_opts_t o = stepped(&s, NULL, nested_action, &n);
    result_t r;
    assert_int_equal(run_opts(&a, &o, &r), TXN_OUTCOME_COMMITTED);
    assert_true(n.ran);
    int64_t x = field(1, "c", "x", "n");
    if (at == 0) {
      /* after A's begin, nothing is locked: B commits, A sees it */
      assert_int_equal(n.r.outcome, TXN_OUTCOME_COMMITTED);
      assert_int_equal(x, 3 + 10 + 1);
      assert_snap_equal(&before, &n.view);
    } else if (at == 3) {
      /* mid-apply: op 0 (a) applied, x still locked by A */
      assert_int_equal(n.r.outcome, TXN_OUTCOME_CONFLICT);
      assert_int_equal(n.r.failed_op, 1);
      assert_string_equal(n.r.lock_owner, a.id);
      assert_int_equal(x, 4);
    } else {
      assert_int_equal(n.r.outcome, TXN_OUTCOME_CONFLICT);
      assert_int_equal(n.r.failed_op, 1);
      assert_string_equal(n.r.lock_owner, a.id);
      assert_int_equal(x, 4);
      if (at == 1) {
        /* undecided: B's view was the old state */
        assert_snap_equal(&before, &n.view);
      }
    }
    if (at != 0) {
      assert_int_equal(field(0, "c", "b", "n"), 2); /* B rolled back */
      assert_record(n.txn.id, TXN_ABORTED, true);
    }
    assert_int_equal(field(0, "c", "a", "n"), 0);
    assert_int_equal(fake_store_locked_count(fs), 0);
    assert_int_equal(fake_store_unfinished(fs), 0);
    snap_free(&before);
    snap_free(&n.view);
    txn_cleanup(&a);
    txn_cleanup(&n.txn);
  }
}

static void version_check_detects_interleaved_update(void **state) {
  (void)state;
  /* Read version 5 of x; someone commits an update; our update expecting
   * 5 is stale. */
  seed_five();
  int64_t v = version(1, "c", "x");
  assert_int_equal(v, 5);
  txn_t other;
  txn_init(&other);
  add_set_text(&other, 1, "c", "x", "theirs", &v);
  result_t r;
  assert_int_equal(run(&other, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(version(1, "c", "x"), 6);
  txn_t mine;
  txn_init(&mine);
  add_set_text(&mine, 1, "c", "x", "mine", &v);
  assert_int_equal(run(&mine, &r), TXN_OUTCOME_CONFLICT);
  assert_string_equal(text_of(1, "c", "x"), "theirs");
  txn_cleanup(&other);
  txn_cleanup(&mine);
}

/* ------------------------------------------------------------------ */
/* the shared (escrow) mode: increments                                */
/* ------------------------------------------------------------------ */

/* The committed view of n at (shard, "c", id), through view_resolve. */
static int64_t view_n(int shard, const char *id) {
  bson_value_t v = fake_store_string_id(id);
  const bson_t *raw = fake_store_raw(fs, shard, "c", &v);
  assert_non_null(raw);
  bson_t *doc = bson_copy(raw);
  bool visible;
  chorus_error_t err;
  assert_true(view_resolve(&store, &doc, 1, &visible, &err));
  assert_true(visible);
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, doc, "n"));
  int64_t n = bson_iter_as_int64(&it);
  bson_destroy(doc);
  return n;
}

/* The version of the committed view at (shard, "c", id). */
static int64_t view_version(int shard, const char *id) {
  bson_value_t v = fake_store_string_id(id);
  int64_t version = -1;
  assert_true(fake_store_view_field(fs, shard, "c", &v, "version", &version));
  return version;
}

static void increment_ops_are_shared(void **state) {
  (void)state;
  txn_t txn;
  txn_init(&txn);
  int64_t v = 3;
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);   /* 0: shared */
  add_inc(&txn, 0, "c", "b", "n", 1, &v);     /* 1: a version check */
  add_inc_set(&txn, 0, "c", "x", "n", 1);     /* 2: a set */
  add_set_text(&txn, 0, "c", "y", "t", NULL); /* 3: no inc */
  add_delete(&txn, 0, "c", "z", NULL);        /* 4 */
  add_insert(&txn, 0, "c", "new");            /* 5 */
  bool want[] = {true, false, false, false, false, false};
  for (size_t i = 0; i < txn.n_ops; i++) {
    assert_int_equal(txn.ops[i].shared, want[i]);
    assert_int_equal(txn_op_is_shared(&txn.ops[i]), want[i]);
  }
  /* an empty inc is no increment */
  bson_value_t id = fake_store_string_id("e");
  bson_t empty = BSON_INITIALIZER;
  txn_add_update(&txn, 0, "c", &id, NULL, &empty, NULL);
  assert_false(txn.ops[6].shared);
  txn_cleanup(&txn);
}

/* Every op but the shared ones first, then the shared ones, each group in
 * op order: a transaction whose shared op comes first still stages its
 * insert before it. */
static void shared_ops_are_prepared_last(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  add_inc(&txn, 1, "c", "x", "n", 1, NULL);
  add_delete(&txn, 1, "c", "y", NULL);
  crashed_txn(&txn, "txn.after_prepare");
  assert_int_equal(fake_store_entries(fs, 0, "c", &txn.ops[0].id), 1);
  assert_true(locked(0, "c", "new", NULL));
  /* the delete of y took y's lock (before x's entry, but both are there) */
  assert_true(locked(1, "c", "y", NULL));
  assert_int_equal(fake_store_entries(fs, 1, "c", &txn.ops[2].id), 1);
  txn_cleanup(&txn);
  /* a refusal by the insert stops before any entry is written */
  restart();
  seed_five();
  put_locked(0, "c", "new", OTHER_TXN, "insert");
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_CONFLICT);
  assert_int_equal(r.failed_op, 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_PREPARE), 1);
  assert_int_equal(fake_store_latched_writes(fs), 0);
  txn_cleanup(&txn);
}

/* B, incrementing a by 10, run at step `at` of A (which increments a by
 * 1): no step of A makes B conflict. */
typedef struct sharer {
  const char *at;
  const char *crash_at; /* B crashes there (NULL: runs to the end) */
  txn_t txn;
  result_t r;
  bool ran, crashed;
  int64_t view_before; /* a's committed view when B started */
} sharer_t;

static void sharer_action(steps_t *s, const char *step) {
  sharer_t *b = s->data;
  if (b->ran || strcmp(step, b->at)) {
    return;
  }
  b->ran = true;
  b->view_before = view_n(0, "a");
  txn_init(&b->txn);
  add_inc(&b->txn, 0, "c", "a", "n", 10, NULL);
  add_insert(&b->txn, 1, "c", "b-log");
  if (b->crash_at) {
    steps_t bs;
    txn_exec_opts_t o = stepped(&bs, b->crash_at, NULL, NULL);
    o.owner = "B";
    b->crashed = run_until_crash(&b->txn, &o, &bs);
  } else {
    txn_exec_opts_t o = opts_for("B");
    run_opts(&b->txn, &o, &b->r);
  }
}

static void shared_increments_of_one_document_never_conflict(void **state) {
  (void)state;
  for (int at = 0; at < 4; at++) {
    restart();
    seed_five();
    txn_t a;
    txn_init(&a);
    add_inc(&a, 0, "c", "a", "n", 1, NULL);
    add_insert(&a, 1, "c", "a-log");
    sharer_t b;
    memset(&b, 0, sizeof b);
    b.at = step_names[at];
    steps_t s;
    txn_exec_opts_t o = stepped(&s, NULL, sharer_action, &b);
    result_t r;
    assert_int_equal(run_opts(&a, &o, &r), TXN_OUTCOME_COMMITTED);
    assert_true(b.ran);
    assert_int_equal(b.r.outcome, TXN_OUTCOME_COMMITTED);
    /* B saw A's increment only once A's decision was made */
    assert_int_equal(b.view_before, at >= 2 ? 2 : 1);
    assert_int_equal(field(0, "c", "a", "n"), 1 + 1 + 10);
    assert_int_equal(version(0, "c", "a"), 1 + 2);
    assert_int_equal(fake_store_locked_count(fs), 0);
    assert_int_equal(fake_store_unfinished(fs), 0);
    txn_cleanup(&a);
    txn_cleanup(&b.txn);
  }
}

/* Two transactions incrementing one document, each crashed (or not) at
 * any step, the second started at any step of the first: before recovery
 * the committed view counts exactly the decided commits, and after it
 * the stored counter does, with one version per commit and no entry or
 * lock left.  (The crash and chaos tests prove the same on the real
 * database: tests/integration/test_sync_crash.c.) */
static void crash_with_shared_holders_at_every_step(void **state) {
  (void)state;
  static const char *const b_crash[] = {"txn.after_begin", "txn.after_prepare",
                                        "txn.after_decision", "txn.mid_apply",
                                        NULL};
  int runs = 0;
  for (int crash = 0; crash < 4; crash++) {
    for (int at = 0; at <= crash; at++) {
      for (int bc = 0; bc < 5; bc++) {
        restart();
        seed_five();
        txn_t a;
        txn_init(&a);
        add_inc(&a, 0, "c", "a", "n", 1, NULL);
        add_insert(&a, 1, "c", "a-log");
        sharer_t b;
        memset(&b, 0, sizeof b);
        b.at = step_names[at];
        b.crash_at = b_crash[bc];
        steps_t s;
        txn_exec_opts_t o = stepped(&s, step_names[crash], sharer_action, &b);
        assert_true(run_until_crash(&a, &o, &s));
        assert_true(b.ran);
        bool a_commit = crash >= 2;
        bool b_commit = bc >= 2;
        int64_t want = 1 + (a_commit ? 1 : 0) + (b_commit ? 10 : 0);
        assert_int_equal(view_n(0, "a"), want);
        assert_int_equal(view_version(0, "a"),
                         1 + (a_commit ? 1 : 0) + (b_commit ? 1 : 0));
        /* recovery by another server, once both leases have passed */
        fake_clock_advance(2 * LEASE + 1);
        recovery_result_t rr;
        chorus_error_t err;
        assert_true(recover("R", fake_clock_peek(), 64, &rr, &err));
        assert_int_equal(fake_store_unfinished(fs), 0);
        assert_int_equal(fake_store_locked_count(fs), 0);
        assert_int_equal(field(0, "c", "a", "n"), want);
        assert_int_equal(version(0, "c", "a"),
                         1 + (a_commit ? 1 : 0) + (b_commit ? 1 : 0));
        assert_int_equal(view_n(0, "a"), want);
        assert_int_equal(exists(1, "c", "a-log"), a_commit);
        assert_int_equal(exists(1, "c", "b-log"), b_commit);
        txn_cleanup(&a);
        txn_cleanup(&b.txn);
        runs++;
      }
    }
  }
  assert_int_equal(runs, (1 + 2 + 3 + 4) * 5);
}

/* Many holders at once, each left at a different step: the view counts
 * the committed ones; a later increment commits beside all of them and
 * folds the ones this store knows decided. */
static void many_holders_and_a_late_increment(void **state) {
  (void)state;
  seed_five();
  txn_t held[8];
  int64_t committed = 0;
  for (int i = 0; i < 8; i++) {
    txn_init(&held[i]);
    add_inc(&held[i], 0, "c", "a", "n", 1 << i, NULL);
    crashed_txn(&held[i], i % 2 ? "txn.after_decision" : "txn.after_prepare");
    committed += i % 2 ? 1 << i : 0;
  }
  /* (Each stage write also folded the entries decided by then.) */
  bson_value_t a = fake_store_string_id("a");
  assert_true(fake_store_entries(fs, 0, "c", &a) >= 4);
  assert_int_equal(view_n(0, "a"), 1 + committed);
  assert_int_equal(view_version(0, "a"), 1 + 4);
  txn_t late;
  txn_init(&late);
  add_inc(&late, 0, "c", "a", "n", 1000, NULL);
  result_t r;
  assert_int_equal(run(&late, &r), TXN_OUTCOME_COMMITTED);
  /* the fake knows every decision: the late one's writes folded the four
   * committed entries and its own; the undecided four remain */
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 4);
  assert_int_equal(field(0, "c", "a", "n"), 1 + committed + 1000);
  assert_int_equal(version(0, "c", "a"), 1 + 5);
  assert_int_equal(view_n(0, "a"), 1 + committed + 1000);
  /* recovery aborts the undecided four, finds the committed ones folded */
  expect_recovery(8, 4);
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 0);
  assert_int_equal(field(0, "c", "a", "n"), 1 + committed + 1000);
  assert_int_equal(version(0, "c", "a"), 1 + 5);
  assert_int_equal(fake_store_locked_count(fs), 0);
  for (int i = 0; i < 8; i++) {
    txn_cleanup(&held[i]);
  }
  txn_cleanup(&late);
}

/* An exclusive change of a document with entries: LOCKED (the undecided
 * holder named) while one is undecided; once every one is decided its
 * stage write folds the committed ones and drops the aborted ones; the
 * holders' own recovery then finds nothing left to do (never applied
 * twice); and increments since the version it read never make it stale. */
static void exclusive_change_folds_decided_entries(void **state) {
  (void)state;
  seed_five(); /* a: n 1, version 1 */
  /* Three holders staged, then two decided (as their coordinators would
   * have, before they stopped): no write of the document came since. */
  txn_t committed, aborted, pending;
  txn_init(&committed);
  add_inc(&committed, 0, "c", "a", "n", 5, NULL);
  crashed_txn(&committed, "txn.after_prepare");
  txn_init(&aborted);
  add_inc(&aborted, 0, "c", "a", "n", 50, NULL);
  crashed_txn(&aborted, "txn.after_prepare");
  txn_init(&pending);
  add_inc(&pending, 0, "c", "a", "n", 500, NULL);
  crashed_txn(&pending, "txn.after_prepare");
  txn_state_t decided;
  chorus_error_t derr;
  assert_true(
      store.decide(store.impl, committed.id, TXN_COMMITTED, &decided, &derr));
  assert_true(
      store.decide(store.impl, aborted.id, TXN_ABORTED, &decided, &derr));
  bson_value_t a = fake_store_string_id("a");
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 3);
  assert_int_equal(view_n(0, "a"), 6);
  /* An edit, having read the committed view at version 1 (before the
   * committed increment): */
  int64_t v = 1;
  txn_t edit;
  txn_init(&edit);
  add_set_text(&edit, 0, "c", "a", "edited", &v);
  result_t r;
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_CONFLICT);
  assert_string_equal(r.lock_owner, pending.id);
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 3);
  txn_cleanup(&edit);
  /* The pending one is aborted (by its recovery, or its coordinator). */
  txn_state_t actual;
  chorus_error_t err;
  assert_true(store.decide(store.impl, pending.id, TXN_ABORTED, &actual, &err));
  txn_init(&edit);
  add_set_text(&edit, 0, "c", "a", "edited", &v);
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 0);
  assert_int_equal(field(0, "c", "a", "n"), 6); /* 5 folded, 50 not */
  assert_int_equal(version(0, "c", "a"), 3);    /* fold, then edit */
  assert_string_equal(text_of(0, "c", "a"), "edited");
  int64_t xv = -1;
  assert_true(fake_store_field(fs, 0, "c", &a, ESCROW_XV, &xv));
  assert_int_equal(xv, 3); /* the edit's version */
  /* Recovery of the three: nothing left to apply, nothing applied twice */
  expect_recovery(3, 2);
  assert_int_equal(field(0, "c", "a", "n"), 6);
  assert_int_equal(version(0, "c", "a"), 3);
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&edit);
  txn_cleanup(&committed);
  txn_cleanup(&aborted);
  txn_cleanup(&pending);
}

/* Increments bump the version, yet an exclusive change that read the
 * document before them is not stale (escrow.h, _xv); one that read it
 * before another exclusive change is. */
static void version_check_counts_exclusive_changes_only(void **state) {
  (void)state;
  seed_five(); /* a: version 1 */
  int64_t read = view_version(0, "a");
  assert_int_equal(read, 1);
  for (int i = 0; i < 3; i++) {
    txn_t inc;
    txn_init(&inc);
    add_inc(&inc, 0, "c", "a", "n", 1, NULL);
    result_t r;
    assert_int_equal(run(&inc, &r), TXN_OUTCOME_COMMITTED);
    txn_cleanup(&inc);
  }
  assert_int_equal(view_version(0, "a"), 4);
  txn_t edit;
  txn_init(&edit);
  add_set_text(&edit, 0, "c", "a", "first", &read);
  result_t r;
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_COMMITTED); /* not stale */
  txn_cleanup(&edit);
  assert_int_equal(version(0, "c", "a"), 5);
  /* the same read again: an exclusive change came since */
  txn_init(&edit);
  add_set_text(&edit, 0, "c", "a", "second", &read);
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_CONFLICT);
  txn_cleanup(&edit);
  /* a delete that read version 4 (after the increments, before the
   * edit) is stale too; one that read 5 is not, nor one that read 5 then
   * saw two more increments */
  int64_t four = 4, five = 5;
  txn_init(&edit);
  add_delete(&edit, 0, "c", "a", &four);
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_CONFLICT);
  txn_cleanup(&edit);
  for (int i = 0; i < 2; i++) {
    txn_t inc;
    txn_init(&inc);
    add_inc(&inc, 0, "c", "a", "n", 1, NULL);
    assert_int_equal(run(&inc, &r), TXN_OUTCOME_COMMITTED);
    txn_cleanup(&inc);
  }
  assert_int_equal(version(0, "c", "a"), 7);
  /* a version from the future is stale as well */
  int64_t eight = 8;
  txn_init(&edit);
  add_delete(&edit, 0, "c", "a", &eight);
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_CONFLICT);
  txn_cleanup(&edit);
  txn_init(&edit);
  add_delete(&edit, 0, "c", "a", &five);
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_COMMITTED);
  assert_false(exists(0, "c", "a"));
  txn_cleanup(&edit);
}

/* An exclusive holder blocks new increments (LOCKED, never waited for:
 * they back off and retry in sync.c) until it is applied. */
static void exclusive_holder_blocks_increments(void **state) {
  (void)state;
  seed_five();
  txn_t edit;
  txn_init(&edit);
  add_set_text(&edit, 0, "c", "a", "held", NULL);
  crashed_txn(&edit, "txn.after_prepare");
  txn_t inc;
  txn_init(&inc);
  add_inc(&inc, 0, "c", "a", "n", 1, NULL);
  add_insert(&inc, 0, "c", "new");
  result_t r;
  assert_int_equal(run(&inc, &r), TXN_OUTCOME_CONFLICT);
  assert_int_equal(r.failed_op, 0);
  assert_string_equal(r.lock_owner, edit.id);
  assert_false(exists(0, "c", "new"));
  txn_cleanup(&inc);
  expect_recovery(1, 1);
  txn_init(&inc);
  add_inc(&inc, 0, "c", "a", "n", 1, NULL);
  assert_int_equal(run(&inc, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  txn_cleanup(&inc);
  txn_cleanup(&edit);
}

/* An entry of an aborted transaction (a late stage) blocks nobody: other
 * increments commit beside it, the next write drops it; one whose record
 * was collected is resolved through a kind-0 abort_op, as sync.c does. */
static void entry_of_aborted_txn_blocks_nobody(void **state) {
  (void)state;
  seed_five();
  txn_t gone;
  txn_init(&gone);
  add_inc(&gone, 0, "c", "a", "n", 100, NULL);
  add_inc(&gone, 0, "c", "missing", "n", 1, NULL);
  crashed_txn(&gone, "txn.after_decision"); /* aborted, entry left */
  txn_t inc;
  txn_init(&inc);
  add_inc(&inc, 0, "c", "a", "n", 1, NULL);
  result_t r;
  assert_int_equal(run(&inc, &r), TXN_OUTCOME_COMMITTED);
  bson_value_t a = fake_store_string_id("a");
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 0); /* dropped */
  assert_int_equal(field(0, "c", "a", "n"), 2);
  txn_cleanup(&inc);
  /* the same, its record collected: an exclusive change is told whose
   * entry it is, and a kind-0 abort_op drops it */
  expect_recovery(1, 1);
  int64_t deleted;
  fake_clock_advance(1);
  assert_true(fake_store_collect(fs, fake_clock_peek(), &deleted));
  assert_false(fake_store_record(fs, gone.id, NULL, NULL));
  bson_t doc = BSON_INITIALIZER, lock, esc, entry, deltas;
  BSON_APPEND_UTF8(&doc, "_id", "a");
  BSON_APPEND_INT64(&doc, "n", 2);
  BSON_APPEND_INT64(&doc, "version", 2);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, TXN_LOCK_FIELD, &lock);
  BSON_APPEND_ARRAY_BEGIN(&lock, ESCROW_FIELD, &esc);
  BSON_APPEND_DOCUMENT_BEGIN(&esc, "0", &entry);
  BSON_APPEND_UTF8(&entry, "id", gone.id);
  BSON_APPEND_DOCUMENT_BEGIN(&entry, "inc", &deltas);
  BSON_APPEND_INT64(&deltas, "n", 100);
  bson_append_document_end(&entry, &deltas);
  bson_append_document_end(&esc, &entry);
  bson_append_array_end(&lock, &esc);
  bson_append_document_end(&doc, &lock);
  fake_store_put(fs, 0, "c", &doc);
  bson_destroy(&doc);
  assert_int_equal(view_n(0, "a"), 2); /* no decision: not committed */
  txn_t edit;
  txn_init(&edit);
  add_set_text(&edit, 0, "c", "a", "x", NULL);
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_CONFLICT);
  assert_string_equal(r.lock_owner, gone.id);
  txn_cleanup(&edit);
  txn_op_t where;
  memset(&where, 0, sizeof where);
  bson_strncpy(where.coll, "c", sizeof where.coll);
  where.id = a;
  chorus_error_t err;
  assert_true(store.abort_op(store.impl, gone.id, &where, &err));
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 0);
  txn_init(&edit);
  add_set_text(&edit, 0, "c", "a", "x", NULL);
  assert_int_equal(run(&edit, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  txn_cleanup(&edit);
  txn_cleanup(&gone);
}

/* A second increment of one document sent while the first one's write is
 * in flight (between its read and its write: store_mongo's read, then
 * whole-document write, as FerretDB applies every update). */
typedef struct rmw_race {
  txn_t txn;
  result_t r;
  bool ran;
} rmw_race_t;

static void rmw_race_hook(void *ctx) {
  rmw_race_t *race = ctx;
  if (race->ran) {
    return;
  }
  race->ran = true;
  txn_exec_opts_t o = opts_for("B");
  run_opts(&race->txn, &o, &race->r);
}

static void latch_keeps_concurrent_entry_writes_apart(void **state) {
  (void)state;
  for (int latch = 1; latch >= 0; latch--) {
    restart();
    seed_five();
    fake_store_set_latch(fs, latch);
    rmw_race_t race;
    memset(&race, 0, sizeof race);
    txn_init(&race.txn);
    add_inc(&race.txn, 0, "c", "a", "n", 10, NULL);
    fake_store_set_rmw_hook(fs, rmw_race_hook, &race);
    txn_t txn;
    txn_init(&txn);
    add_inc(&txn, 0, "c", "a", "n", 1, NULL);
    result_t r;
    assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
    fake_store_set_rmw_hook(fs, NULL, NULL);
    assert_true(race.ran);
    if (latch) {
      /* The second found the latch held (store_mongo waits for it; here
       * it votes LOCKED and sync.c would retry): nothing is lost. */
      assert_int_equal(race.r.outcome, TXN_OUTCOME_CONFLICT);
      assert_string_equal(race.r.lock_owner, txn.id);
      assert_int_equal(field(0, "c", "a", "n"), 2);
    } else {
      /* Without the latch both "commit", and the first's write, computed
       * from its earlier read, overwrote the second's entry: its +10 is
       * lost (what FerretDB does to concurrent updates of one document,
       * docs/SYNC.md §1). */
      assert_int_equal(race.r.outcome, TXN_OUTCOME_COMMITTED);
      assert_int_equal(field(0, "c", "a", "n"), 2);
      assert_int_not_equal(field(0, "c", "a", "n"), 1 + 1 + 10);
    }
    txn_cleanup(&race.txn);
    txn_cleanup(&txn);
  }
}

/* A latch left by a coordinator that stopped within its write: other
 * increments are refused (store_mongo waits, then votes LOCKED with the
 * holder named) until recovery, acting for that transaction, finishes and
 * lets go of it. */
static void latch_left_by_a_crash_is_released_by_recovery(void **state) {
  (void)state;
  seed_five();
  txn_t stuck;
  txn_init(&stuck);
  add_inc(&stuck, 0, "c", "a", "n", 7, NULL);
  crashed_txn(&stuck, "txn.after_prepare");
  bson_value_t a = fake_store_string_id("a");
  fake_store_hold_latch(fs, 0, "c", &a, stuck.id);
  txn_t inc;
  txn_init(&inc);
  add_inc(&inc, 0, "c", "a", "n", 1, NULL);
  result_t r;
  assert_int_equal(run(&inc, &r), TXN_OUTCOME_CONFLICT);
  assert_string_equal(r.lock_owner, stuck.id);
  txn_cleanup(&inc);
  expect_recovery(1, 1); /* stuck (inc's aborted attempt was finished) */
  txn_init(&inc);
  add_inc(&inc, 0, "c", "a", "n", 1, NULL);
  assert_int_equal(run(&inc, &r), TXN_OUTCOME_COMMITTED);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&inc);
  txn_cleanup(&stuck);
}

/* The coordinator applies a shared op only before its deadline minus the
 * margin: past it, a recoverer may be rewriting the same entry, and two
 * read-then-write appliers of one transaction must not interleave.  It
 * leaves the op (and the finish) to recovery, which applies it once. */
static void shared_apply_past_the_lease_is_left_to_recovery(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_insert(&txn, 0, "c", "new");
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  /* lease 2000, margin 500; reads: deadline t, prepares t+400, t+800,
   * decision t+1200, applies t+1600 (insert: past the margin, written
   * after a read) and t+2000 (a: past it, left) */
  fake_clock_set_tick(400);
  result_t r;
  assert_int_equal(run(&txn, &r), TXN_OUTCOME_COMMITTED);
  fake_clock_set_tick(0);
  assert_true(exists(0, "c", "new"));
  assert_false(locked(0, "c", "new", NULL));
  bson_value_t a = fake_store_string_id("a");
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 1);
  assert_record(txn.id, TXN_COMMITTED, false);
  assert_int_equal(view_n(0, "a"), 2); /* committed all the same */
  expect_recovery(1, 0);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  assert_int_equal(fake_store_locked_count(fs), 0);
  assert_record(txn.id, TXN_COMMITTED, true);
  txn_cleanup(&txn);
}

/* defer_apply: txn_execute returns at the commit point with every op but
 * the shared ones applied (raw readers see those at once), the shared ones
 * still staged yet counted by the view; txn_complete folds them
 * (txn.after_increments then) and finishes; a crash in it (after its first
 * op) is finished by recovery.
 * A transaction without shared ops, and an abort, are applied at once. */
static void deferred_apply_answers_at_the_commit_point(void **state) {
  (void)state;
  seed_five();
  txn_t txn;
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  steps_t s;
  txn_exec_opts_t o = stepped(&s, NULL, NULL, NULL);
  o.defer_apply = true;
  result_t r;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
  assert_true(txn.apply_pending);
  assert_int_equal(s.n_seen, 4); /* mid_apply: after the insert */
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 1);
  assert_true(exists(0, "c", "new"));
  assert_false(locked(0, "c", "new", NULL)); /* applied before the answer */
  bson_value_t a = fake_store_string_id("a");
  assert_int_equal(fake_store_entries(fs, 0, "c", &a), 1);
  assert_int_equal(view_n(0, "a"), 2); /* counted already */
  assert_record(txn.id, TXN_COMMITTED, false);
  chorus_error_t err;
  assert_true(txn_complete(&store, &txn, &o, &err));
  assert_false(txn.apply_pending);
  assert_int_equal(s.n_seen, 5); /* no second mid_apply */
  assert_string_equal(s.seen[4], "txn.after_increments");
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&txn);

  /* Only shared ops: all after the answer, and a crash there. */
  restart();
  seed_five();
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_inc(&txn, 1, "c", "x", "n", 1, NULL);
  o = stepped(&s, "txn.mid_apply", NULL, NULL);
  o.defer_apply = true;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
  assert_true(txn.apply_pending);
  assert_int_equal(s.n_seen, 3);
  assert_int_equal(fake_store_calls_of(fs, FAKE_COMMIT_OP), 0);
  jmp_buf jb;
  s.jb = &jb;
  if (setjmp(jb) == 0) {
    txn_complete(&store, &txn, &o, &err);
    fail_msg("no crash in txn_complete");
  }
  assert_string_equal(s.seen[3], "txn.mid_apply");
  assert_record(txn.id, TXN_COMMITTED, false);
  assert_int_equal(view_n(0, "a"), 2);
  assert_int_equal(view_n(1, "x"), 4);
  expect_recovery(1, 0);
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(field(0, "c", "a", "n"), 2);
  assert_int_equal(field(1, "c", "x", "n"), 4);
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&txn);

  /* A crash once the increments are applied, before the finish:
   * recovery finishes it, and applies nothing twice. */
  restart();
  seed_five();
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  o = stepped(&s, "txn.after_increments", NULL, NULL);
  o.defer_apply = true;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
  s.jb = &jb;
  if (setjmp(jb) == 0) {
    txn_complete(&store, &txn, &o, &err);
    fail_msg("no crash in txn_complete");
  }
  assert_string_equal(s.seen[s.n_seen - 1], "txn.after_increments");
  assert_int_equal(field(0, "c", "a", "n"), 2); /* applied */
  assert_record(txn.id, TXN_COMMITTED, false);
  expect_recovery(1, 0);
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(field(0, "c", "a", "n"), 2); /* once */
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&txn);

  /* No shared op: applied and finished at once. */
  restart();
  seed_five();
  txn_init(&txn);
  add_set_text(&txn, 0, "c", "a", "t", NULL);
  add_insert(&txn, 0, "c", "new");
  o = opts_for("A");
  o.defer_apply = true;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_COMMITTED);
  assert_false(txn.apply_pending);
  assert_record(txn.id, TXN_COMMITTED, true);
  assert_int_equal(fake_store_locked_count(fs), 0);
  txn_cleanup(&txn);

  /* An abort is applied at once, deferred or not. */
  restart();
  seed_five();
  put_locked(0, "c", "new", OTHER_TXN, "insert");
  txn_init(&txn);
  add_inc(&txn, 0, "c", "a", "n", 1, NULL);
  add_insert(&txn, 0, "c", "new");
  o = opts_for("A");
  o.defer_apply = true;
  assert_int_equal(run_opts(&txn, &o, &r), TXN_OUTCOME_CONFLICT);
  assert_false(txn.apply_pending);
  assert_record(txn.id, TXN_ABORTED, true);
  txn_cleanup(&txn);
}

/* What the process knows of decisions (decisions.h) spares readers the
 * database: an open transaction is not committed, a decided one is known;
 * only an unknown one is looked up, once. */
static void readers_ask_only_for_unknown_decisions(void **state) {
  (void)state;
  decisions_t *known = decisions_new();
  store.decisions = known;
  seed_five();
  txn_t mine, theirs;
  txn_init(&mine);
  add_inc(&mine, 0, "c", "a", "n", 1, NULL);
  crashed_txn(&mine, "txn.after_prepare"); /* open here */
  assert_int_equal(decisions_get(known, mine.id), DECISIONS_OPEN);
  fake_store_reset_calls(fs);
  assert_int_equal(view_n(0, "a"), 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 0);
  /* decided elsewhere (its recovery, another process): not known here */
  store.decisions = NULL;
  txn_init(&theirs);
  add_inc(&theirs, 0, "c", "a", "n", 10, NULL);
  crashed_txn(&theirs, "txn.after_decision");
  store.decisions = known;
  assert_int_equal(decisions_get(known, theirs.id), DECISIONS_UNKNOWN);
  fake_store_reset_calls(fs);
  assert_int_equal(view_n(0, "a"), 11);
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 1);
  assert_int_equal(decisions_get(known, theirs.id), DECISIONS_COMMITTED);
  fake_store_reset_calls(fs);
  assert_int_equal(view_n(0, "a"), 11);
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 0);
  /* its own decision: known without asking */
  txn_t again;
  txn_init(&again);
  add_inc(&again, 0, "c", "b", "n", 1, NULL);
  crashed_txn(&again, "txn.after_decision");
  assert_int_equal(decisions_get(known, again.id), DECISIONS_COMMITTED);
  store.decisions = NULL;
  decisions_free(known);
  txn_cleanup(&mine);
  txn_cleanup(&theirs);
  txn_cleanup(&again);
}

static int64_t fake_clock_ms;
static int64_t fake_clock(void) { return fake_clock_ms; }

/* A transaction the database said undecided is taken for undecided by
 * this process's readers for DECISIONS_UNDECIDED_MS of its clock and
 * within one generation, without asking again; after either (an event
 * delivered), they ask, and see its commit. */
static void readers_ask_for_an_undecided_one_once_a_moment(void **state) {
  (void)state;
  decisions_t *known = decisions_new();
  decisions_set_clock(known, fake_clock);
  fake_clock_ms = 1000;
  seed_five();
  txn_t theirs;
  txn_init(&theirs);
  add_inc(&theirs, 0, "c", "a", "n", 10, NULL);
  crashed_txn(&theirs, "txn.after_prepare"); /* its entry staged, undecided */
  store.decisions = known;
  fake_store_reset_calls(fs);
  assert_int_equal(view_n(0, "a"), 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 1);
  assert_int_equal(decisions_get(known, theirs.id), DECISIONS_UNDECIDED);
  fake_store_reset_calls(fs);
  assert_int_equal(view_n(0, "a"), 1);
  assert_int_equal(view_n(0, "a"), 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 0);
  /* the moment over: asked again */
  fake_clock_ms += DECISIONS_UNDECIDED_MS;
  assert_int_equal(decisions_get(known, theirs.id), DECISIONS_UNKNOWN);
  fake_store_reset_calls(fs);
  assert_int_equal(view_n(0, "a"), 1);
  assert_int_equal(fake_store_calls_of(fs, FAKE_GET_DECISION), 1);
  /* it commits (its coordinator's decision); a reader within the moment
   * may still take it for undecided, one after an event may not */
  txn_state_t actual;
  chorus_error_t err;
  assert_true(
      store.decide(store.impl, theirs.id, TXN_COMMITTED, &actual, &err));
  assert_int_equal(view_n(0, "a"), 1);
  decisions_new_generation(known);
  assert_int_equal(decisions_get(known, theirs.id), DECISIONS_UNKNOWN);
  assert_int_equal(view_n(0, "a"), 11);
  assert_int_equal(decisions_get(known, theirs.id), DECISIONS_COMMITTED);
  /* a decision once known is kept: no mark replaces it */
  decisions_undecided(known, theirs.id, decisions_generation(known));
  assert_int_equal(decisions_get(known, theirs.id), DECISIONS_COMMITTED);
  assert_int_equal(view_n(0, "a"), 11);
  store.decisions = NULL;
  decisions_free(known);
  txn_cleanup(&theirs);
}

static void undecided_marks_never_hide_what_is_known(void **state) {
  (void)state;
  decisions_t *d = decisions_new();
  decisions_set_clock(d, fake_clock);
  fake_clock_ms = 5000;
  const char *x = "0123456789abcdef01234567";
  const char *y = "76543210fedcba9876543210";
  /* an open mark (coordinated here) stays open */
  decisions_open(d, x);
  decisions_undecided(d, x, decisions_generation(d));
  assert_int_equal(decisions_get(d, x), DECISIONS_OPEN);
  /* a mark asked in an earlier generation is not kept */
  uint64_t before = decisions_generation(d);
  decisions_new_generation(d);
  decisions_undecided(d, y, before);
  assert_int_equal(decisions_get(d, y), DECISIONS_UNKNOWN);
  decisions_undecided(d, y, decisions_generation(d));
  assert_int_equal(decisions_get(d, y), DECISIONS_UNDECIDED);
  /* a decision replaces the mark; an open does too */
  decisions_put(d, y, TXN_ABORTED);
  assert_int_equal(decisions_get(d, y), DECISIONS_ABORTED);
  /* a commit known here starts a new generation */
  const char *z = "00000000000000000000000z";
  decisions_undecided(d, z, decisions_generation(d));
  assert_int_equal(decisions_get(d, z), DECISIONS_UNDECIDED);
  decisions_put(d, "11111111111111111111111w", TXN_COMMITTED);
  assert_int_equal(decisions_get(d, z), DECISIONS_UNKNOWN);
  decisions_close(d, x);
  decisions_undecided(d, x, decisions_generation(d));
  decisions_open(d, x);
  assert_int_equal(decisions_get(d, x), DECISIONS_OPEN);
  decisions_free(d);
  decisions_undecided(NULL, x, 0); /* none at all: harmless */
  decisions_new_generation(NULL);
  assert_int_equal(decisions_generation(NULL), 0);
}

/* A folded mark: kept with a commit only, per document, at most
 * DECISIONS_FOLDED_MAX a transaction; forgotten with its slot. */
static void folded_marks_are_kept_with_their_commit_only(void **state) {
  (void)state;
  decisions_t *d = decisions_new();
  const char *x = "0123456789abcdef01234567";
  /* unknown, open, aborted: not kept */
  decisions_folded(d, x, 1);
  assert_false(decisions_was_folded(d, x, 1));
  decisions_open(d, x);
  decisions_folded(d, x, 1);
  assert_false(decisions_was_folded(d, x, 1));
  decisions_put(d, x, TXN_ABORTED);
  decisions_folded(d, x, 1);
  assert_false(decisions_was_folded(d, x, 1));
  /* committed: kept, for that document only */
  const char *y = "76543210fedcba9876543210";
  decisions_put(d, y, TXN_COMMITTED);
  assert_false(decisions_was_folded(d, y, 7));
  for (uint64_t w = 1; w <= DECISIONS_FOLDED_MAX + 1; w++) {
    decisions_folded(d, y, w);
  }
  for (uint64_t w = 1; w <= DECISIONS_FOLDED_MAX; w++) {
    assert_true(decisions_was_folded(d, y, w));
  }
  assert_false(decisions_was_folded(d, y, DECISIONS_FOLDED_MAX + 1));
  assert_false(decisions_was_folded(d, x, 1));
  /* the commit put again keeps them; another id in the slot drops them */
  decisions_put(d, y, TXN_COMMITTED);
  assert_true(decisions_was_folded(d, y, 1));
  char id[TXN_ID_LEN + 1];
  for (int i = 0; i < 4 * DECISIONS_SLOTS; i++) {
    snprintf(id, sizeof id, "%024d", i);
    decisions_put(d, id, TXN_COMMITTED);
  }
  assert_false(decisions_was_folded(d, y, 1));
  decisions_put(d, y, TXN_COMMITTED);
  assert_false(decisions_was_folded(d, y, 1)); /* a new mark is needed */
  decisions_free(d);
  decisions_folded(NULL, y, 1); /* none at all: harmless */
  assert_false(decisions_was_folded(NULL, y, 1));
}

static void decisions_table_forgets_safely(void **state) {
  (void)state;
  decisions_t *d = decisions_new();
  const char *x = "0123456789abcdef01234567";
  assert_int_equal(decisions_get(d, x), DECISIONS_UNKNOWN);
  decisions_open(d, x);
  assert_int_equal(decisions_get(d, x), DECISIONS_OPEN);
  decisions_close(d, x);
  assert_int_equal(decisions_get(d, x), DECISIONS_UNKNOWN);
  decisions_put(d, x, TXN_COMMITTED);
  assert_int_equal(decisions_get(d, x), DECISIONS_COMMITTED);
  /* a decision is never turned open, nor cleared by a close */
  decisions_open(d, x);
  decisions_close(d, x);
  assert_int_equal(decisions_get(d, x), DECISIONS_COMMITTED);
  /* a full table forgets (then the database is asked), never confuses */
  char id[TXN_ID_LEN + 1];
  int kept = 0;
  for (int i = 0; i < 4 * DECISIONS_SLOTS; i++) {
    snprintf(id, sizeof id, "%024d", i);
    decisions_put(d, id, i % 2 ? TXN_COMMITTED : TXN_ABORTED);
  }
  for (int i = 0; i < 4 * DECISIONS_SLOTS; i++) {
    snprintf(id, sizeof id, "%024d", i);
    decisions_fate_t f = decisions_get(d, id);
    if (f != DECISIONS_UNKNOWN) {
      kept++;
      assert_int_equal(f, i % 2 ? DECISIONS_COMMITTED : DECISIONS_ABORTED);
    }
  }
  assert_true(kept > 0 && kept <= DECISIONS_SLOTS);
  decisions_free(d);
  decisions_open(NULL, x); /* none at all: harmless */
  assert_int_equal(decisions_get(NULL, x), DECISIONS_UNKNOWN);
}

/* ------------------------------------------------------------------ */
/* the randomized model test                                           */
/* ------------------------------------------------------------------ */

#define N_CTR 6
#define CTR_START 100
#define N_RANDOM_TXNS 2000
#define MAX_LOGS (N_RANDOM_TXNS * 2)

static uint64_t rng_state;
static uint64_t rng(void) {
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545F4914F6CDD1DULL;
}
static unsigned pick(unsigned n) { return (unsigned)(rng() % n); }
static bool chance(unsigned percent) { return pick(100) < percent; }

static const loc_t ctr_locs[N_CTR] = {
    {TXN_MAIN_SHARD, "users", "c0"}, {TXN_MAIN_SHARD, "users", "c1"},
    {0, "tweets_0", "c2"},           {0, "tweets_0", "c3"},
    {1, "tweets_1", "c4"},           {1, "tweets_1", "c5"},
};

/* What each transaction meant to do, to replay the committed ones. */
typedef struct intent {
  char id[TXN_ID_LEN + 1];
  int from, to;
  int insert_log; /* -1 or log number */
  int delete_log; /* -1 or log number */
  txn_outcome_t outcome;
  bool crashed;
} intent_t;

typedef struct model {
  intent_t *intents;
  size_t n_intents;
  int n_logs;    /* log documents ever attempted */
  int depth;     /* nesting of running transactions */
  txn_t txns[3]; /* the running transaction at each depth */
  jmp_buf jb;
  const char *crash_at;
  const char *nest_at;
  const char *race_at;
  long n_nested, n_crashes, n_races, n_faults, n_recoveries;
} model_t;

static model_t M;

static void log_id(int n, char buf[16]) { snprintf(buf, 16, "log%d", n); }

/* Sum and presence in the committed view, through view_resolve. */
static int64_t committed_sum(void) {
  bson_t *docs[N_CTR];
  bool visible[N_CTR];
  for (int i = 0; i < N_CTR; i++) {
    bson_value_t id = fake_store_string_id(ctr_locs[i].id);
    const bson_t *raw =
        fake_store_raw(fs, ctr_locs[i].shard, ctr_locs[i].coll, &id);
    assert_non_null(raw);
    docs[i] = bson_copy(raw);
  }
  chorus_error_t err;
  assert_true(view_resolve(&store, docs, N_CTR, visible, &err));
  int64_t sum = 0;
  for (int i = 0; i < N_CTR; i++) {
    bson_iter_t it;
    assert_true(visible[i]);
    assert_false(bson_iter_init_find(&it, docs[i], TXN_LOCK_FIELD));
    assert_true(bson_iter_init_find(&it, docs[i], "n"));
    sum += bson_iter_as_int64(&it);
    bson_destroy(docs[i]);
  }
  return sum;
}

static void random_txn(int depth);

static void random_step(void *ctx, const char *step) {
  (void)ctx;
  if (M.depth != 1) {
    return; /* nested transactions run without tricks */
  }
  if (M.race_at && !strcmp(step, M.race_at)) {
    /* The coordinator stalls past its deadline; another server recovers. */
    M.race_at = NULL;
    M.n_races++;
    recovery_result_t rr;
    chorus_error_t err;
    fake_clock_advance(LEASE + 1);
    recover("R", fake_clock_peek(), 64, &rr, &err);
  }
  if (M.nest_at && !strcmp(step, M.nest_at)) {
    M.nest_at = NULL;
    M.n_nested++;
    random_txn(2);
  }
  if (M.crash_at && !strcmp(step, M.crash_at)) {
    M.crash_at = NULL;
    M.n_crashes++;
    longjmp(M.jb, 1);
  }
}

static int existing_log(void) {
  /* a log document that exists in the committed view, or -1 */
  for (int tries = 0; tries < 4 && M.n_logs > 0; tries++) {
    int n = (int)pick((unsigned)M.n_logs);
    char id[16];
    log_id(n, id);
    bson_value_t v = fake_store_string_id(id);
    if (fake_store_visible(fs, 0, "logs", &v, NULL)) {
      return n;
    }
  }
  return -1;
}

static void random_txn(int depth) {
  BSON_ASSERT(M.n_intents < MAX_LOGS);
  intent_t *in = &M.intents[M.n_intents++];
  memset(in, 0, sizeof *in);
  in->from = (int)pick(N_CTR);
  in->to = (int)((in->from + 1 + pick(N_CTR - 1)) % N_CTR);
  in->insert_log = chance(30) ? M.n_logs++ : -1;
  in->delete_log = chance(20) ? existing_log() : -1;
  in->crashed = true;
  /* the ops, in a random order */
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; i--) {
    int j = (int)pick((unsigned)i + 1);
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  txn_t *txn = &M.txns[depth];
  txn_init(txn);
  for (int k = 0; k < 4; k++) {
    int which = order[k];
    if (which < 2) {
      const loc_t *l = &ctr_locs[which == 0 ? in->from : in->to];
      int64_t v;
      bool check = chance(30);
      if (check) {
        /* the version of the committed view, as a reader would see */
        bson_value_t id = fake_store_string_id(l->id);
        if (!fake_store_view_field(fs, l->shard, l->coll, &id, "version", &v)) {
          check = false;
        }
        if (chance(10)) {
          v--; /* deliberately stale now and then */
        }
      }
      add_inc(txn, l->shard, l->coll, l->id, "n", which == 0 ? -1 : 1,
              check ? &v : NULL);
    } else if (which == 2 && in->insert_log >= 0) {
      char id[16];
      log_id(in->insert_log, id);
      add_insert(txn, 0, "logs", id);
    } else if (which == 3 && in->delete_log >= 0) {
      char id[16];
      log_id(in->delete_log, id);
      add_delete(txn, 0, "logs", id, NULL);
    }
  }
  txn_exec_opts_t o = opts_for(depth == 1 ? "A" : "N");
  o.on_step = random_step;
  size_t failed_op;
  char holder[TXN_ID_LEN + 1];
  chorus_error_t err;
  M.depth = depth;
  in->outcome = txn_execute(&store, txn, &o, &failed_op, holder, &err);
  M.depth = depth - 1;
  in->crashed = false;
  bson_strncpy(in->id, txn->id, sizeof in->id);
  txn_cleanup(txn);
}

/* Runs one outer transaction with random tricks; a crash longjmps here. */
static void random_round(void) {
  M.crash_at = chance(10) ? step_names[pick(4)] : NULL;
  M.nest_at = chance(15) ? step_names[pick(4)] : NULL;
  M.race_at = chance(5) ? step_names[pick(4)] : NULL;
  if (chance(25)) {
    M.n_faults++;
    fake_store_set_lost_reply(fs, chance(50));
    if (chance(50)) {
      fake_store_fail_after(fs, (long)pick(16));
    } else {
      fake_store_fail_nth(fs, (long)pick(16));
    }
  }
  static size_t first_intent; /* static: survives the longjmp */
  first_intent = M.n_intents;
  if (setjmp(M.jb) == 0) {
    random_txn(1);
  } else {
    /* The outer transaction (this round's first intent) crashed at a step;
     * any nested one had finished.  Its id was set by txn_execute. */
    M.depth = 0;
    intent_t *in = &M.intents[first_intent];
    in->crashed = true;
    bson_strncpy(in->id, M.txns[1].id, sizeof in->id);
    txn_cleanup(&M.txns[1]);
  }
  fake_store_heal(fs);
  fake_store_set_lost_reply(fs, false);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static void random_transfers_keep_the_sum(void **state) {
  (void)state;
  const char *env = getenv("CHORUS_TXN_SEED");
  uint64_t seed = env && *env ? strtoull(env, NULL, 10) : 20240607ULL;
  if (!seed) {
    seed = 1;
  }
  print_message("random_transfers_keep_the_sum: CHORUS_TXN_SEED=%llu\n",
                (unsigned long long)seed);
  rng_state = seed * 0x9E3779B97F4A7C15ULL | 1;
  memset(&M, 0, sizeof M);
  M.intents = bson_malloc0(MAX_LOGS * sizeof *M.intents);
  for (int i = 0; i < N_CTR; i++) {
    put_counter(ctr_locs[i].shard, ctr_locs[i].coll, ctr_locs[i].id, "n",
                CTR_START, 1);
  }
  const int64_t total = (int64_t)N_CTR * CTR_START;
  for (int round = 0; round < N_RANDOM_TXNS; round++) {
    fake_clock_advance((int64_t)pick(300));
    random_round();
    if (chance(30)) {
      /* a periodic recovery pass, sometimes itself failing */
      M.n_recoveries++;
      fake_clock_advance((int64_t)pick(3 * LEASE));
      if (chance(20)) {
        fake_store_fail_after(fs, (long)pick(10));
        fake_store_set_lost_reply(fs, chance(50));
      }
      recovery_result_t rr;
      chorus_error_t err;
      recover(chance(50) ? "R1" : "R2", fake_clock_peek(), 1 + (int)pick(8),
              &rr, &err);
      fake_store_heal(fs);
      fake_store_set_lost_reply(fs, false);
    }
    int64_t sum = committed_sum();
    if (sum != total) {
      fail_msg("round %d (seed %llu): committed sum %lld != %lld", round,
               (unsigned long long)seed, (long long)sum, (long long)total);
    }
  }
  /* The end: recover everything. */
  for (int pass = 0; pass < 8 && fake_store_unfinished(fs); pass++) {
    fake_clock_advance(LEASE + 1);
    recovery_result_t rr;
    chorus_error_t err;
    assert_true(recover("END", fake_clock_peek(), 1 << 20, &rr, &err));
  }
  assert_int_equal(fake_store_unfinished(fs), 0);
  /* Locks can remain only from a prepare that came after its own record
   * was finished (a coordinator that stalled past the margin); none of
   * those here since prepares are instantaneous. */
  assert_int_equal(fake_store_locked_count(fs), 0);
  /* Replay the committed intents. */
  int64_t want[N_CTR], want_version[N_CTR];
  for (int i = 0; i < N_CTR; i++) {
    want[i] = CTR_START;
    want_version[i] = 1;
  }
  bool *log_exists = bson_malloc0((size_t)(M.n_logs + 1) * sizeof(bool));
  size_t n_committed = 0, n_ack = 0, n_no_record = 0;
  /* ids must be unique */
  char(*ids)[TXN_ID_LEN + 1] = bson_malloc0((M.n_intents + 1) * sizeof *ids);
  size_t n_ids = 0;
  for (size_t i = 0; i < M.n_intents; i++) {
    memcpy(ids[n_ids++], M.intents[i].id, sizeof ids[0]);
  }
  qsort(ids, n_ids, sizeof ids[0], cmp_str);
  for (size_t i = 1; i < n_ids; i++) {
    assert_string_not_equal(ids[i - 1], ids[i]);
  }
  bson_free(ids);
  /* Replay the committed ones in intent order (a log document is only
   * deleted by a transaction built after its insert was decided). */
  for (size_t i = 0; i < M.n_intents; i++) {
    intent_t *in = &M.intents[i];
    txn_state_t st;
    bool done;
    bool has = fake_store_record(fs, in->id, &st, &done);
    if (in->crashed) {
      assert_true(has); /* a step is only reached after begin */
    } else if (in->outcome == TXN_OUTCOME_COMMITTED) {
      n_ack++;
      assert_true(has);
      assert_int_equal(st, TXN_COMMITTED);
    } else if (in->outcome != TXN_OUTCOME_FAILED) {
      assert_true(has);
      assert_int_equal(st, TXN_ABORTED);
    }
    if (has) {
      assert_true(done);
    } else {
      n_no_record++; /* begin failed */
      assert_int_equal(in->outcome, TXN_OUTCOME_FAILED);
    }
    if (has && st == TXN_COMMITTED) {
      n_committed++;
      want[in->from]--;
      want[in->to]++;
      want_version[in->from]++;
      want_version[in->to]++;
      if (in->insert_log >= 0) {
        log_exists[in->insert_log] = true;
      }
      if (in->delete_log >= 0) {
        log_exists[in->delete_log] = false;
      }
    }
  }
  long n_crashed = 0;
  for (size_t i = 0; i < M.n_intents; i++) {
    n_crashed += M.intents[i].crashed;
  }
  print_message("  %zu txns (%zu acknowledged, %zu committed incl. "
                "ambiguous, %ld crashed), %ld nested, %ld races, %ld "
                "faults, %ld recovery passes, %zu records\n",
                M.n_intents, n_ack, n_committed, n_crashed, M.n_nested,
                M.n_races, M.n_faults, M.n_recoveries,
                fake_store_record_count(fs));
  for (int i = 0; i < N_CTR; i++) {
    assert_int_equal(
        field(ctr_locs[i].shard, ctr_locs[i].coll, ctr_locs[i].id, "n"),
        want[i]);
    assert_int_equal(
        version(ctr_locs[i].shard, ctr_locs[i].coll, ctr_locs[i].id),
        want_version[i]);
  }
  for (int n = 0; n < M.n_logs; n++) {
    char id[16];
    log_id(n, id);
    if (exists(0, "logs", id) != log_exists[n]) {
      fail_msg("seed %llu: %s exists=%d, expected %d", (unsigned long long)seed,
               id, !log_exists[n], log_exists[n]);
    }
  }
  /* Every record is accounted for by an intent. */
  assert_int_equal(fake_store_record_count(fs), M.n_intents - n_no_record);
  int64_t sum = 0;
  for (int i = 0; i < N_CTR; i++) {
    sum += field(ctr_locs[i].shard, ctr_locs[i].coll, ctr_locs[i].id, "n");
  }
  assert_int_equal(sum, total);
  assert_int_equal(committed_sum(), total);
  bson_free(log_exists);
  bson_free(M.intents);
}

/* ------------------------------------------------------------------ */
/* group commit (txn_execute_group), over the fake store's single calls */
/* ------------------------------------------------------------------ */

#define GROUP_N 4

/* A creation as a group member: its document ("tw", "t<i>"), author
 * a<i % 2>'s count + 1 (shared: two members share each author), its
 * outbox ("ob", "o<i>"). */
static void group_build(txn_t *txn, int i) {
  char id[16];
  txn_init(txn);
  snprintf(id, sizeof id, "t%d", i);
  if (i % 3 == 1) {
    add_fresh(txn, 1, "tw", id); /* beside staged inserts of "tw" */
  } else {
    add_insert(txn, 1, "tw", id);
  }
  snprintf(id, sizeof id, "a%d", i % 2);
  add_inc(txn, TXN_MAIN_SHARD, "users", id, "n", 1, NULL);
  snprintf(id, sizeof id, "o%d", i);
  add_insert(txn, TXN_MAIN_SHARD, "ob", id);
  assert_true(txn_groupable(txn));
}

static void group_seed(void) {
  put_counter(TXN_MAIN_SHARD, "users", "a0", "n", 0, 1);
  put_counter(TXN_MAIN_SHARD, "users", "a1", "n", 0, 1);
}

/* Each member fully there (its document, its outbox, its author's count)
 * or not at all; *n_created how many are. */
static void group_expect_all_or_nothing(int *n_created) {
  int per_author[2] = {0, 0};
  *n_created = 0;
  for (int i = 0; i < GROUP_N; i++) {
    char t[16], o[16];
    snprintf(t, sizeof t, "t%d", i);
    snprintf(o, sizeof o, "o%d", i);
    assert_int_equal(exists(1, "tw", t), exists(TXN_MAIN_SHARD, "ob", o));
    if (exists(1, "tw", t)) {
      per_author[i % 2]++;
      (*n_created)++;
      assert_false(locked(1, "tw", t, NULL));
    }
  }
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "a0", "n"), per_author[0]);
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "a1", "n"), per_author[1]);
}

static void group_run(txn_t *txns, txn_member_t *members,
                      const txn_exec_opts_t *o) {
  for (int i = 0; i < GROUP_N; i++) {
    memset(&members[i], 0, sizeof members[i]);
    members[i].txn = &txns[i];
  }
  txn_execute_group(&store, members, GROUP_N, o);
}

static void group_commits_every_member_and_coalesces(void **state) {
  (void)state;
  group_seed();
  txn_t txns[GROUP_N];
  txn_member_t members[GROUP_N];
  for (int i = 0; i < GROUP_N; i++) {
    group_build(&txns[i], i);
  }
  txn_exec_opts_t o = opts_for("A");
  o.defer_apply = true;
  group_run(txns, members, &o);
  txn_t *pending[GROUP_N];
  for (int i = 0; i < GROUP_N; i++) {
    assert_int_equal(members[i].outcome, TXN_OUTCOME_COMMITTED);
    assert_true(txns[i].apply_pending); /* the increment after the answer */
    assert_true(exists(1, "tw", txns[i].ops[0].id.value.v_utf8.str));
    assert_false(locked(1, "tw", txns[i].ops[0].id.value.v_utf8.str, NULL));
    pending[i] = &txns[i];
  }
  /* ids are distinct */
  assert_string_not_equal(txns[0].id, txns[1].id);
  txn_complete_group(&store, pending, GROUP_N, &o);
  int n;
  group_expect_all_or_nothing(&n);
  assert_int_equal(n, GROUP_N);
  for (int i = 0; i < GROUP_N; i++) {
    assert_record(txns[i].id, TXN_COMMITTED, true);
    txn_cleanup(&txns[i]);
  }
}

static void group_member_voting_no_aborts_alone(void **state) {
  (void)state;
  group_seed();
  txn_t pre;
  txn_init(&pre);
  add_insert(&pre, 1, "tw", "t2"); /* member 2's document exists already */
  result_t r;
  assert_int_equal(run(&pre, &r), TXN_OUTCOME_COMMITTED);
  txn_cleanup(&pre);
  txn_t txns[GROUP_N];
  txn_member_t members[GROUP_N];
  for (int i = 0; i < GROUP_N; i++) {
    group_build(&txns[i], i);
  }
  txn_exec_opts_t o = opts_for("A");
  group_run(txns, members, &o); /* applied at once (no defer_apply) */
  for (int i = 0; i < GROUP_N; i++) {
    assert_int_equal(members[i].outcome,
                     i == 2 ? TXN_OUTCOME_EXISTS : TXN_OUTCOME_COMMITTED);
    assert_record(txns[i].id, i == 2 ? TXN_ABORTED : TXN_COMMITTED, true);
    txn_cleanup(&txns[i]);
  }
  assert_int_equal(members[2].failed_op, 0);
  assert_false(exists(TXN_MAIN_SHARD, "ob", "o2"));               /* dropped */
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "a0", "n"), 1); /* t0 */
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "a1", "n"), 2);
}

/* At "txn.after_prepare" every store call from then on fails (a
 * coordinator stopped there, as by kill -9). */
static void stop_after_prepare(steps_t *s, const char *step) {
  (void)s;
  if (!strcmp(step, "txn.after_prepare")) {
    fake_store_fail_after(fs, 0);
  }
}

/* A group's lease grows with its size (one lease per 16 members): a
 * group of 40 stopped after its prepare is left alone by recovery for
 * three leases, then rolled back whole. */
static void group_lease_grows_with_its_size(void **state) {
  (void)state;
  assert_int_equal(txn_group_lease_ms(2000, 1), 2000);
  assert_int_equal(txn_group_lease_ms(2000, 16), 2000);
  assert_int_equal(txn_group_lease_ms(2000, 17), 4000);
  assert_int_equal(txn_group_lease_ms(2000, 64), 8000);
  enum { BIG = 40 };
  group_seed();
  txn_t txns[BIG];
  txn_member_t members[BIG];
  for (int i = 0; i < BIG; i++) {
    group_build(&txns[i], i);
    memset(&members[i], 0, sizeof members[i]);
    members[i].txn = &txns[i];
  }
  steps_t s;
  txn_exec_opts_t o = stepped(&s, NULL, stop_after_prepare, NULL);
  int64_t t0 = fake_clock_peek();
  quiet(true);
  txn_execute_group(&store, members, BIG, &o);
  quiet(false);
  fake_store_heal(fs);
  for (int i = 0; i < BIG; i++) {
    assert_int_not_equal(members[i].outcome, TXN_OUTCOME_COMMITTED);
    char owner[32];
    int64_t lease, deadline;
    assert_true(fake_store_record_owner(fs, txns[i].id, owner, sizeof owner,
                                        &lease, &deadline));
    assert_int_equal(deadline, t0 + 3 * LEASE);
  }
  recovery_result_t rr;
  chorus_error_t err;
  /* One lease on: the coordinator may still be at work. */
  assert_true(recover("B", t0 + LEASE + 1, 64, &rr, &err));
  assert_int_equal(rr.recovered, 0);
  assert_true(recover("B", t0 + 3 * LEASE - 1, 64, &rr, &err));
  assert_int_equal(rr.recovered, 0);
  /* Past its lease: every member rolled back. */
  assert_true(recover("B", t0 + 3 * LEASE + 1, 64, &rr, &err));
  assert_int_equal(rr.recovered, BIG);
  assert_int_equal(rr.rolled_back, BIG);
  for (int i = 0; i < BIG; i++) {
    char t[16];
    snprintf(t, sizeof t, "t%d", i);
    assert_false(exists(1, "tw", t));
    assert_record(txns[i].id, TXN_ABORTED, true);
    txn_cleanup(&txns[i]);
  }
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "a0", "n"), 0);
  assert_int_equal(field(TXN_MAIN_SHARD, "users", "a1", "n"), 0);
}

/* Runs a fresh group of GROUP_N with every store call after the n-th
 * failing (n < 0: none), then lets the finisher run; returns the store
 * calls made.  txns and members are the caller's (cleaned up by it). */
static long group_crashed(long n, bool defer, txn_t *txns,
                          txn_member_t *members) {
  restart();
  group_seed();
  for (int i = 0; i < GROUP_N; i++) {
    group_build(&txns[i], i);
  }
  txn_exec_opts_t o = opts_for("A");
  o.defer_apply = defer;
  long before = fake_store_calls(fs);
  if (n >= 0) {
    fake_store_fail_after(fs, n);
  }
  group_run(txns, members, &o);
  txn_t *pending[GROUP_N];
  size_t n_pending = 0;
  for (int i = 0; i < GROUP_N; i++) {
    if (txns[i].apply_pending) {
      pending[n_pending++] = &txns[i];
    }
  }
  if (n_pending) {
    txn_complete_group(&store, pending, n_pending, &o);
  }
  return fake_store_calls(fs) - before;
}

/* A crash (every store call after the n-th fails, as after kill -9) at
 * every point of a group, in its steps and between its writes, with or
 * without the answer before the increments; then recovery by another
 * server: every member fully created or absent, the counts exact, no
 * lock, every record done; a member answered COMMITTED is there. */
static void group_crash_at_every_store_call(void **state) {
  (void)state;
  txn_t txns[GROUP_N];
  txn_member_t members[GROUP_N];
  long total = group_crashed(-1, true, txns, members);
  for (int i = 0; i < GROUP_N; i++) {
    txn_cleanup(&txns[i]);
  }
  assert_true(total > 10);
  for (long n = 0; n <= total; n++) {
    for (int defer = 0; defer < 2; defer++) {
      group_crashed(n, defer == 1, txns, members);
      /* A member answered COMMITTED is readable at once, before any
       * recovery: its fresh insert is written (11). */
      for (int i = 0; i < GROUP_N; i++) {
        if (members[i].outcome == TXN_OUTCOME_COMMITTED) {
          assert_true(exists(1, "tw", txns[i].ops[0].id.value.v_utf8.str));
        }
      }
      fake_store_heal(fs);
      fake_clock_advance(LEASE + 1);
      recovery_result_t rr;
      chorus_error_t err;
      for (int pass = 0; pass < 3; pass++) {
        recover("B", fake_clock_peek() + LEASE + 1, 64, &rr, &err);
      }
      int created;
      group_expect_all_or_nothing(&created);
      for (int i = 0; i < GROUP_N; i++) {
        if (members[i].outcome == TXN_OUTCOME_COMMITTED) {
          assert_true(exists(1, "tw", txns[i].ops[0].id.value.v_utf8.str));
        }
        txn_state_t st;
        bool done = false;
        if (fake_store_record(fs, txns[i].id, &st, &done)) {
          assert_true(done);
        }
        txn_cleanup(&txns[i]);
      }
    }
  }
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  /* A named fault_at_every_store_call with its run as initial state. */
#define FAULT_T(test, stale, fault)                                            \
  {                                                                            \
    .name = #test, .test_func = fault_at_every_store_call,                     \
    .setup_func = setup, .teardown_func = teardown,                            \
    .initial_state = &(fault_run_t) {                                          \
      stale, fault                                                             \
    }                                                                          \
  }
  const struct CMUnitTest tests[] = {
      T(add_functions_copy_their_arguments),
      T(names_of_states_and_kinds),
      T(commit_applies_every_op_across_shards),
      T(commit_keeps_field_order_and_untouched_fields),
      T(commit_of_update_without_version_creates_it),
      T(commit_of_empty_transaction),
      T(commit_with_eight_ops),
      T(transient_insert_is_left_staged_by_a_commit),
      T(fresh_insert_is_written_by_the_commit_only),
      T(ids_are_distinct_across_transactions),
      T(vote_locked_aborts_with_conflict_and_owner),
      T(vote_locked_on_first_op),
      T(vote_locked_for_insert_over_staged_insert),
      T(vote_stale_on_update_and_delete),
      T(vote_stale_when_version_field_is_absent),
      T(vote_missing_on_update_and_delete),
      T(vote_exists_on_insert),
      T(same_id_in_other_collection_or_shard_is_distinct),
      T(two_ops_on_one_document_are_refused),
      T(numeric_ids_of_different_types_name_one_document),
      T(lock_of_aborted_txn_still_blocks_until_resolved),
      T(prepare_repeated_votes_yes),
      T(abort_op_repeated_is_a_no_op),
      T(steps_of_another_txn_leave_a_lock_alone),
      T(commit_op_reads_staged_change_when_unknown),
      FAULT_T(outage_after_every_call_of_a_commit, false, FAULT_OUTAGE),
      FAULT_T(outage_after_every_call_of_an_abort, true, FAULT_OUTAGE),
      FAULT_T(lost_reply_at_every_call_of_a_commit, false, FAULT_LOST_REPLY),
      FAULT_T(lost_reply_at_every_call_of_an_abort, true, FAULT_LOST_REPLY),
      FAULT_T(blip_at_every_call_of_a_commit, false, FAULT_BLIP),
      FAULT_T(blip_at_every_call_of_an_abort, true, FAULT_BLIP),
      T(failed_begin_writes_nothing),
      T(prepare_error_aborts_and_reports_it),
      T(prepare_error_with_lost_reply_rolls_back_the_staged_op),
      T(step_order_of_commit_and_abort),
      T(crash_at_every_step),
      T(locks_held_between_prepare_and_apply),
      T(recovery_abort_first_makes_commit_a_conflict),
      T(decide_cas_lost_to_outside_abort),
      T(recovery_claims_first_but_commit_decides_first),
      T(recovery_during_apply_rolls_forward_once),
      T(late_prepare_is_undone_by_its_coordinator),
      T(late_lock_of_a_crashed_coordinator_is_resolved),
      T(kind_zero_op_resolves_through_the_lock),
      T(decide_on_a_collected_record_is_abort),
      T(recovery_reads_the_clock_for_every_claim),
      T(slow_prepare_past_margin_aborts),
      T(prepare_margin_boundaries),
      T(prepare_margin_is_a_quarter_of_a_short_lease),
      T(prepare_margin_is_capped_at_500_ms),
      T(commit_in_lease_only_before_the_margin),
      T(no_mid_apply_when_nothing_was_prepared),
      T(claim_is_exclusive),
      T(racing_claims_exactly_one_wins),
      T(racing_claim_moves_on_to_next_record),
      T(unexpired_record_is_not_claimed),
      T(pending_record_is_aborted_by_recovery),
      T(committed_record_is_rolled_forward),
      T(recovery_crashing_midway_is_finished_by_another),
      T(recovery_pass_respects_max_and_txn_id),
      T(recovery_of_many_records),
      T(down_participant_at_prepare_fails_and_rolls_back),
      T(down_participant_at_apply_keeps_the_commit),
      T(down_participant_during_txn_recover),
      T(interleaved_txn_sees_lock_and_conflicts),
      T(version_check_detects_interleaved_update),
      T(increment_ops_are_shared),
      T(shared_ops_are_prepared_last),
      T(shared_increments_of_one_document_never_conflict),
      T(crash_with_shared_holders_at_every_step),
      T(many_holders_and_a_late_increment),
      T(exclusive_change_folds_decided_entries),
      T(version_check_counts_exclusive_changes_only),
      T(exclusive_holder_blocks_increments),
      T(entry_of_aborted_txn_blocks_nobody),
      T(latch_keeps_concurrent_entry_writes_apart),
      T(latch_left_by_a_crash_is_released_by_recovery),
      T(shared_apply_past_the_lease_is_left_to_recovery),
      T(deferred_apply_answers_at_the_commit_point),
      T(readers_ask_only_for_unknown_decisions),
      T(readers_ask_for_an_undecided_one_once_a_moment),
      T(undecided_marks_never_hide_what_is_known),
      T(decisions_table_forgets_safely),
      T(folded_marks_are_kept_with_their_commit_only),
      T(random_transfers_keep_the_sum),
      T(group_commits_every_member_and_coalesces),
      T(group_member_voting_no_aborts_alone),
      T(group_crash_at_every_store_call),
      T(group_lease_grows_with_its_size),
  };
#undef FAULT_T
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
