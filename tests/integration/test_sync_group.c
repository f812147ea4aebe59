/*
 * test_sync_group.c - large groups of the two-phase commit on the real
 * database, driven through the store itself (no server): every member of
 * a group larger than the database's connection pool commits, and two
 * coordinators committing large groups at the same moment both finish.
 *
 * FerretDB 1.24 keeps each statement of an update command reading from
 * one of its (at most 100) SQLite connections until the whole command
 * ends, and takes one more for each statement's write: an update command
 * of 100 statements, or two of 60 at once, waits for a connection that
 * only its own end would free, until the client's socket times out
 * (docs/DATABASE.md, "Bulk updates").  A group's apply of 150 inserts is
 * such a command unless the store splits it.
 *
 * Each member inserts its own document into probe_docs and increments
 * the shared counter probe_counts/hot (a shared op: an escrow entry,
 * folded by the apply).  Every outcome is COMMITTED, every document is
 * there without a staged change, no lock document is left, and the
 * counter equals the members committed.  And a group's finish, by its
 * members' markers, with a transient insert left staged.  And a group's
 * applies skip the documents whose entries a later stage folded.  And
 * deferred increments, step by step.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sync/base/db.h"
#include "sync/txn/recovery.h"
#include "sync/txn/shards.h"
#include "sync/txn/store_mongo.h"
#include "sync/txn/txn.h"
#include "sync/txn/view.h"
#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define BIG_GROUP 150  /* more statements than FerretDB has connections */
#define PAIR_GROUP 64  /* SYNC_GROUP_MAX: what one coordinator sends */
#define LEASE_MS 60000 /* no member may run out of lease in the test */

typedef struct coordinator {
  const char *db_name;
  const char *owner;
  const char *prefix; /* of the inserted documents' ids */
  size_t n;
  size_t committed; /* out */
  char first_error[320];
} coordinator_t;

/* Builds n transactions (insert probe_docs/<prefix>-<i>, increment
 * probe_counts/hot by 1) and runs them as one group with a store of its
 * own (its own pool, as a server has). */
static void *coordinate(void *arg) {
  coordinator_t *c = arg;
  chorus_error_t err = {0};
  db_t *db = db_new(tc_env("CHORUS_TEST_MONGO_URI"), c->db_name, 8, &err);
  assert_non_null(db);
  shards_t *shards = shards_new(db, 1, NULL, 8, &err);
  assert_non_null(shards);
  txn_store_t store;
  store_mongo_init(&store, shards);

  txn_t *txns = bson_malloc0(sizeof *txns * c->n);
  txn_member_t *members = bson_malloc0(sizeof *members * c->n);
  bson_value_t hot = {.value_type = BSON_TYPE_UTF8};
  hot.value.v_utf8.str = "hot";
  hot.value.v_utf8.len = 3;
  bson_t *inc = BCON_NEW("n", BCON_INT64(1));
  for (size_t i = 0; i < c->n; i++) {
    char id[48];
    snprintf(id, sizeof id, "%s-%zu", c->prefix, i);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "i", BCON_INT64((int64_t)i));
    txn_init(&txns[i]);
    txn_add_insert(&txns[i], TXN_MAIN_SHARD, "probe_docs", doc);
    txn_add_update(&txns[i], TXN_MAIN_SHARD, "probe_counts", &hot, NULL, inc,
                   NULL);
    bson_destroy(doc);
    members[i].txn = &txns[i];
  }
  bson_destroy(inc);

  txn_exec_opts_t opts = {
      .owner = c->owner, .lease_ms = LEASE_MS, .now_ms = db_now_ms};
  txn_execute_group(&store, members, c->n, &opts);
  for (size_t i = 0; i < c->n; i++) {
    if (members[i].outcome == TXN_OUTCOME_COMMITTED) {
      c->committed++;
    } else if (!c->first_error[0]) {
      snprintf(c->first_error, sizeof c->first_error,
               "member %zu: outcome %d, %s", i, (int)members[i].outcome,
               members[i].err.message);
    }
    txn_cleanup(&txns[i]);
  }
  bson_free(members);
  bson_free(txns);
  store_mongo_cleanup(&store);
  shards_destroy(shards);
  db_destroy(db);
  return NULL;
}

/* A database of the test's own with the 2PC's indexes and the counter. */
static void setup_db(tc_db_t *d, char *name, size_t size, const char *tag) {
  snprintf(name, size, "group_%d_%s", (int)getpid(), tag);
  tc_db_open(d, NULL, name);
  chorus_error_t err = {0};
  db_t *db = db_new(tc_env("CHORUS_TEST_MONGO_URI"), name, 2, &err);
  assert_non_null(db);
  shards_t *shards = shards_new(db, 1, NULL, 2, &err);
  assert_non_null(shards);
  assert_true(store_mongo_ensure_indexes(shards, &err));
  shards_destroy(shards);
  db_destroy(db);

  mongoc_collection_t *counts =
      mongoc_database_get_collection(d->db, "probe_counts");
  bson_t *hot = BCON_NEW("_id", BCON_UTF8("hot"), "n", BCON_INT64(0));
  bson_error_t berr;
  assert_true(mongoc_collection_insert_one(counts, hot, NULL, NULL, &berr));
  bson_destroy(hot);
  mongoc_collection_destroy(counts);
}

/* Checks what every committed member left: n documents, none staged, no
 * lock, the counter at n. */
static void check_settled(tc_db_t *d, int64_t n) {
  bson_t all = BSON_INITIALIZER;
  assert_int_equal(tc_db_count(d, "probe_docs", &all), n);
  bson_destroy(&all);
  assert_int_equal(tc_db_locked_in(d, "probe_docs"), 0);
  assert_int_equal(tc_db_locked_in(d, "probe_counts"), 0);
  assert_int_equal(tc_db_unfinished_txns(d), 0);

  mongoc_collection_t *counts =
      mongoc_database_get_collection(d->db, "probe_counts");
  bson_t *q = BCON_NEW("_id", BCON_UTF8("hot"));
  mongoc_cursor_t *cur =
      mongoc_collection_find_with_opts(counts, q, NULL, NULL);
  const bson_t *doc;
  int64_t value = -1;
  if (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "n")) {
      value = bson_iter_as_int64(&it);
    }
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(q);
  mongoc_collection_destroy(counts);
  assert_int_equal(value, n);
}

static void test_group_larger_than_the_pool(void **state) {
  (void)state;
  tc_db_t d;
  char name[64];
  setup_db(&d, name, sizeof name, "big");
  coordinator_t c = {
      .db_name = name, .owner = "group-a", .prefix = "a", .n = BIG_GROUP};
  coordinate(&c);
  if (c.committed != BIG_GROUP) {
    fprintf(stderr, "committed %zu of %d; %s\n", c.committed, BIG_GROUP,
            c.first_error);
  }
  assert_int_equal(c.committed, BIG_GROUP);
  check_settled(&d, BIG_GROUP);
  tc_db_drop(&d);
  tc_db_close(&d);
}

static void test_two_coordinators_at_once(void **state) {
  (void)state;
  tc_db_t d;
  char name[64];
  setup_db(&d, name, sizeof name, "pair");
  coordinator_t c[2] = {
      {.db_name = name, .owner = "group-a", .prefix = "a", .n = PAIR_GROUP},
      {.db_name = name, .owner = "group-b", .prefix = "b", .n = PAIR_GROUP},
  };
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(pthread_create(&th[i], NULL, coordinate, &c[i]), 0);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(th[i], NULL);
    if (c[i].committed != PAIR_GROUP) {
      fprintf(stderr, "%s committed %zu of %d; %s\n", c[i].owner,
              c[i].committed, PAIR_GROUP, c[i].first_error);
    }
    assert_int_equal(c[i].committed, PAIR_GROUP);
  }
  check_settled(&d, 2 * PAIR_GROUP);
  tc_db_drop(&d);
  tc_db_close(&d);
}

/* A test's own database (setup_db), with the pool and shards a store
 * runs on. */
typedef struct probe {
  tc_db_t d;
  char name[64];
  db_t *db;
  shards_t *shards;
} probe_t;

static void probe_open(probe_t *p, const char *tag) {
  setup_db(&p->d, p->name, sizeof p->name, tag);
  chorus_error_t err = {0};
  p->db = db_new(tc_env("CHORUS_TEST_MONGO_URI"), p->name, 4, &err);
  assert_non_null(p->db);
  p->shards = shards_new(p->db, 1, NULL, 4, &err);
  assert_non_null(p->shards);
  /* and learns what the deployment is, as a server does at start-up (on
   * FerretDB the store writes by _id alone: db_filters_by_id_only) */
  assert_true(store_mongo_ensure_indexes(p->shards, &err));
}

static void probe_close(probe_t *p) {
  shards_destroy(p->shards);
  db_destroy(p->db);
  tc_db_drop(&p->d);
  tc_db_close(&p->d);
}

/* A string _id value borrowing s. */
static bson_value_t string_id(const char *s) {
  bson_value_t v = {.value_type = BSON_TYPE_UTF8};
  v.value.v_utf8.str = (char *)s;
  v.value.v_utf8.len = (uint32_t)strlen(s);
  return v;
}

/* A group's finish deletes its members' open markers and writes nothing
 * to their records (SYNC.md §3): each record stays done: false, no marker
 * is left, and get_state reports each member finished and committed.  A
 * transient insert of theirs is left staged by the commit, and the view
 * shows it. */
static void test_group_finish_by_markers(void **state) {
  (void)state;
  enum { N = 4 };
  probe_t p;
  probe_open(&p, "finish");
  chorus_error_t err = {0};
  txn_store_t store;
  store_mongo_init(&store, p.shards);

  txn_t txns[N];
  txn_member_t members[N];
  memset(members, 0, sizeof members);
  bson_value_t hot = string_id("hot");
  bson_t *inc = BCON_NEW("n", BCON_INT64(1));
  for (int i = 0; i < N; i++) {
    char id[32];
    txn_init(&txns[i]);
    snprintf(id, sizeof id, "f-%d", i);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(id));
    txn_add_insert(&txns[i], TXN_MAIN_SHARD, "probe_docs", doc);
    bson_destroy(doc);
    snprintf(id, sizeof id, "o-%d", i);
    doc = BCON_NEW("_id", BCON_UTF8(id), "version", BCON_INT64(1));
    txn_add_transient_insert(&txns[i], TXN_MAIN_SHARD, "probe_out", doc);
    bson_destroy(doc);
    txn_add_update(&txns[i], TXN_MAIN_SHARD, "probe_counts", &hot, NULL, inc,
                   NULL);
    members[i].txn = &txns[i];
  }
  bson_destroy(inc);
  txn_exec_opts_t opts = {
      .owner = "group-f", .lease_ms = LEASE_MS, .now_ms = db_now_ms};
  txn_execute_group(&store, members, N, &opts);

  for (int i = 0; i < N; i++) {
    assert_int_equal(members[i].outcome, TXN_OUTCOME_COMMITTED);
    txn_state_t st;
    bool found, done;
    assert_true(
        store.get_state(store.impl, txns[i].id, &st, &found, &done, &err));
    assert_true(found);
    assert_true(done); /* its marker gone */
    assert_int_equal(st, TXN_COMMITTED);
  }
  for (int i = 0; i < N; i++) { /* the records were not written */
    bson_t *not_done =
        BCON_NEW("_id", BCON_UTF8(txns[i].id), "done", BCON_BOOL(false));
    assert_int_equal(
        tc_db_count_log(&p.d, STORE_MONGO_RECORDS, txns[i].id, not_done), 1);
    bson_destroy(not_done);
  }
  assert_int_equal(tc_db_count(&p.d, "txn_open", NULL), 0);
  assert_int_equal(tc_db_unfinished_txns(&p.d), 0);
  assert_int_equal(tc_db_locked_in(&p.d, "probe_docs"), 0);
  assert_int_equal(tc_db_locked_in(&p.d, "probe_out"), N); /* left staged */
  view_page_t page;
  bson_t all = BSON_INITIALIZER;
  assert_true(
      view_find(p.db, &store, "probe_out", &all, NULL, 16, &page, &err));
  assert_int_equal(page.n, N); /* shown from the decision on */
  view_page_free(&page);
  check_settled(&p.d, N);

  for (int i = 0; i < N; i++) {
    txn_cleanup(&txns[i]);
  }
  store_mongo_cleanup(&store);
  probe_close(&p);
}

/* Fresh inserts (txn_add_fresh_insert) in a group: each member's
 * document is inserted by the commit, unlocked, naming its creator (which
 * the view leaves out), and its record carries it for recovery; while a
 * member is unfinished (its increment still to fold) a delete of its
 * document votes LOCKED naming it, and goes through once it is finished. */
static void test_fresh_inserts_in_a_group(void **state) {
  (void)state;
  enum { N = 4 };
  probe_t p;
  probe_open(&p, "fresh");
  chorus_error_t err = {0};
  txn_store_t store;
  store_mongo_init(&store, p.shards);

  txn_t txns[N];
  txn_t *pending[N];
  txn_member_t members[N];
  memset(members, 0, sizeof members);
  bson_value_t hot = string_id("hot");
  bson_t *inc = BCON_NEW("n", BCON_INT64(1));
  for (int i = 0; i < N; i++) {
    char id[32];
    txn_init(&txns[i]);
    snprintf(id, sizeof id, "g-%d", i);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "version", BCON_INT64(1));
    txn_add_fresh_insert(&txns[i], TXN_MAIN_SHARD, "probe_docs", doc);
    bson_destroy(doc);
    txn_add_update(&txns[i], TXN_MAIN_SHARD, "probe_counts", &hot, NULL, inc,
                   NULL);
    members[i].txn = &txns[i];
  }
  bson_destroy(inc);
  txn_exec_opts_t opts = {.owner = "group-g",
                          .lease_ms = LEASE_MS,
                          .now_ms = db_now_ms,
                          .defer_apply = true};
  txn_execute_group(&store, members, N, &opts);

  for (int i = 0; i < N; i++) {
    assert_int_equal(members[i].outcome, TXN_OUTCOME_COMMITTED);
    assert_true(txns[i].apply_pending); /* the increments to fold */
    pending[i] = &txns[i];
    char id[32];
    snprintf(id, sizeof id, "g-%d", i);
    bson_t *mine = BCON_NEW("_id", BCON_UTF8(id), "_cx", BCON_UTF8(txns[i].id));
    assert_int_equal(tc_db_count(&p.d, "probe_docs", mine), 1);
    bson_destroy(mine);
    bson_t *carried = BCON_NEW("_id", BCON_UTF8(txns[i].id), "ops.0.fresh",
                               BCON_BOOL(true), "ops.0.doc._id", BCON_UTF8(id));
    assert_int_equal(
        tc_db_count_log(&p.d, STORE_MONGO_RECORDS, txns[i].id, carried), 1);
    bson_destroy(carried);
  }
  assert_int_equal(tc_db_locked_in(&p.d, "probe_docs"), 0);
  view_page_t page;
  bson_t all = BSON_INITIALIZER;
  assert_true(
      view_find(p.db, &store, "probe_docs", &all, NULL, 16, &page, &err));
  assert_int_equal(page.n, N);
  for (size_t k = 0; k < page.n; k++) {
    bson_iter_t it;
    assert_false(bson_iter_init_find(&it, page.docs[k], "_cx"));
  }
  view_page_free(&page);

  /* a delete waits for the creation to finish */
  bson_value_t g0 = string_id("g-0");
  txn_exec_opts_t alone = {
      .owner = "group-g", .lease_ms = LEASE_MS, .now_ms = db_now_ms};
  txn_t del;
  txn_init(&del);
  txn_add_delete(&del, TXN_MAIN_SHARD, "probe_docs", &g0, NULL);
  size_t failed;
  char owner[TXN_ID_LEN + 1];
  assert_int_equal(txn_execute(&store, &del, &alone, &failed, owner, &err),
                   TXN_OUTCOME_CONFLICT);
  assert_string_equal(owner, txns[0].id);
  txn_cleanup(&del);
  txn_complete_group(&store, pending, N, &opts);
  assert_int_equal(tc_db_unfinished_txns(&p.d), 0);
  txn_init(&del);
  txn_add_delete(&del, TXN_MAIN_SHARD, "probe_docs", &g0, NULL);
  assert_int_equal(txn_execute(&store, &del, &alone, &failed, owner, &err),
                   TXN_OUTCOME_COMMITTED);
  txn_cleanup(&del);
  assert_int_equal(tc_db_count(&p.d, "probe_docs", &all), N - 1);
  assert_int_equal(tc_db_locked_in(&p.d, "probe_docs"), 0);
  assert_int_equal(tc_db_locked_in(&p.d, "probe_counts"), 0);
  assert_int_equal(tc_db_unfinished_txns(&p.d), 0);

  for (int i = 0; i < N; i++) {
    txn_cleanup(&txns[i]);
  }
  store_mongo_cleanup(&store);
  probe_close(&p);
}

static void put(tc_db_t *d, const char *coll_name, bson_t *doc) {
  mongoc_collection_t *coll = mongoc_database_get_collection(d->db, coll_name);
  bson_error_t berr;
  assert_true(mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr));
  mongoc_collection_destroy(coll);
  bson_destroy(doc);
}

/* probe_counts/id's stored n (entries not folded in), and whether it
 * carries entries. */
static int64_t stored_n(tc_db_t *d, const char *id, bool *entries) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "_txn", "{", "$exists",
                       BCON_BOOL(true), "}");
  *entries = tc_db_count(d, "probe_counts", q) == 1;
  bson_destroy(q);
  for (int64_t n = 0; n < 16; n++) {
    q = BCON_NEW("_id", BCON_UTF8(id), "n", BCON_INT64(n));
    bool is = tc_db_count(d, "probe_counts", q) == 1;
    bson_destroy(q);
    if (is) {
      return n;
    }
  }
  return -1;
}

/* A group of increments of ids[0..n) (each one transaction), committed
 * by store with their folds left to txn_complete_group. */
static void increments(txn_store_t *store, const char *owner, txn_t *txns,
                       const char *const *ids, size_t n) {
  txn_member_t members[4];
  assert_true(n <= 4);
  memset(members, 0, sizeof members);
  bson_t *inc = BCON_NEW("n", BCON_INT64(1));
  for (size_t i = 0; i < n; i++) {
    txn_init(&txns[i]);
    for (const char *id = ids[i]; *id; id += strlen(id) + 1) {
      bson_value_t v = string_id(id);
      txn_add_update(&txns[i], TXN_MAIN_SHARD, "probe_counts", &v, NULL, inc,
                     NULL);
    }
    members[i].txn = &txns[i];
  }
  bson_destroy(inc);
  txn_exec_opts_t opts = {.owner = owner,
                          .lease_ms = LEASE_MS,
                          .now_ms = db_now_ms,
                          .defer_apply = true};
  txn_execute_group(store, members, n, &opts);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(members[i].outcome, TXN_OUTCOME_COMMITTED);
    assert_true(txns[i].apply_pending);
  }
}

/* The apply of a group's increments writes only what is left to fold:
 * a later stage of the same document folds every committed entry it
 * finds; the apply then skips that document (this store's mark, or a
 * read when another store folded it) and still folds the others. */
static void test_applies_skip_what_later_stages_folded(void **state) {
  (void)state;
  probe_t p;
  probe_open(&p, "skip");
  bson_t *cold = BCON_NEW("_id", BCON_UTF8("cold"), "n", BCON_INT64(0));
  put(&p.d, "probe_counts", cold);
  txn_store_t a, b;
  store_mongo_init(&a, p.shards);
  store_mongo_init(&b, p.shards);
  txn_exec_opts_t opts = {.owner = "group-s",
                          .lease_ms = LEASE_MS,
                          .now_ms = db_now_ms,
                          .defer_apply = true};
  bool entries;
  /* T1: hot and cold; T2: hot.  Then T3's stage of hot folds theirs. */
  txn_t first[2], third[1], fourth[1];
  const char *const both[] = {"hot\0cold\0", "hot\0"};
  const char *const hot[] = {"hot\0"};
  increments(&a, "group-s", first, both, 2);
  assert_int_equal(stored_n(&p.d, "hot", &entries), 0);
  assert_true(entries);
  increments(&a, "group-s", third, hot, 1);
  assert_int_equal(stored_n(&p.d, "hot", &entries), 2);
  assert_true(entries); /* T3's */
  txn_t *pending[2] = {&first[0], &first[1]};
  txn_complete_group(&a, pending, 2, &opts);
  assert_int_equal(stored_n(&p.d, "cold", &entries), 1);
  assert_false(entries); /* folded by T1's apply: the mark is hot's */
  assert_int_equal(stored_n(&p.d, "hot", &entries), 2);
  assert_true(entries); /* T3's still */
  assert_int_equal(tc_db_unfinished_txns(&p.d), 1);

  /* Another store learns T3's commit (a read), and its T4 folds it. */
  view_page_t page;
  chorus_error_t err = {0};
  bson_t *q = BCON_NEW("_id", BCON_UTF8("hot"));
  assert_true(view_find(p.db, &b, "probe_counts", q, NULL, 1, &page, &err));
  assert_int_equal(page.n, 1);
  view_page_free(&page);
  bson_destroy(q);
  increments(&b, "group-t", fourth, hot, 1);
  assert_int_equal(stored_n(&p.d, "hot", &entries), 3);
  pending[0] = &third[0];
  txn_complete_group(&a, pending, 1, &opts); /* read: nothing left */
  assert_int_equal(stored_n(&p.d, "hot", &entries), 3);
  assert_true(entries); /* T4's */
  pending[0] = &fourth[0];
  txn_complete_group(&b, pending, 1, &opts);
  assert_int_equal(stored_n(&p.d, "hot", &entries), 4);
  assert_false(entries);
  assert_int_equal(tc_db_locked_in(&p.d, "probe_counts"), 0);
  assert_int_equal(tc_db_unfinished_txns(&p.d), 0);

  for (int i = 0; i < 2; i++) {
    txn_cleanup(&first[i]);
  }
  txn_cleanup(&third[0]);
  txn_cleanup(&fourth[0]);
  store_mongo_cleanup(&b);
  store_mongo_cleanup(&a);
  probe_close(&p);
}

/* A committed, done record of txn and its decision, finished at
 * finished_at, in the log's collections of its minute. */
static void put_finished(tc_db_t *d, const char *txn, int64_t finished_at) {
  char coll[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(STORE_MONGO_RECORDS, txn, coll);
  put(d, coll,
      BCON_NEW("_id", BCON_UTF8(txn), "state", BCON_UTF8("committed"), "done",
               BCON_BOOL(true), "owner", BCON_UTF8("A"), "lease", BCON_INT64(1),
               "deadline", BCON_DATE_TIME(finished_at + 1000), "created_at",
               BCON_DATE_TIME(finished_at - 1000), "finished_at",
               BCON_DATE_TIME(finished_at), "ops", "[", "]"));
  store_mongo_log_coll(STORE_MONGO_DECISIONS, txn, coll);
  put(d, coll,
      BCON_NEW("_id", BCON_UTF8(txn), "state", BCON_UTF8("committed"),
               "decided_at", BCON_DATE_TIME(finished_at - 500)));
}

/* One server sweeps a minute of the log at a time (store_mongo_collect,
 * its insert-once "collect" claim): a minute A claimed and left (a record
 * finished too recently) is left alone by B while A's claim is young,
 * and dropped whole by A's next pass once ready; a minute whose claim is
 * older than orphans_before_ms (its server gone) is B's. */
static void test_one_collector_a_minute(void **state) {
  (void)state;
  probe_t p;
  probe_open(&p, "collect");
  chorus_error_t err = {0};
  txn_store_t a, b;
  store_mongo_init(&a, p.shards);
  store_mongo_init(&b, p.shards);
  int64_t now = db_now_ms(), deleted;
  const char *t1 = "000000000000000000000ca1"; /* minute 0 */
  put_finished(&p.d, t1, now - 1000);
  bson_t *mine = BCON_NEW("_id", BCON_UTF8("collect"), "owner", BCON_UTF8("A"));

  /* A: minute 0 is old, but its record finished a second ago */
  assert_true(
      store_mongo_collect(&a, "A", now - 30000, now - 300000, &deleted, &err));
  assert_int_equal(deleted, 0);
  assert_int_equal(tc_db_count_log(&p.d, STORE_MONGO_RECORDS, t1, NULL), 1);
  assert_int_equal(tc_db_count_log(&p.d, STORE_MONGO_CLAIMS, t1, mine), 1);
  /* B, for which the record is old enough: A's claim is young */
  assert_true(
      store_mongo_collect(&b, "B", now + 60000, now - 300000, &deleted, &err));
  assert_int_equal(deleted, 0);
  assert_int_equal(tc_db_count_log(&p.d, STORE_MONGO_DECISIONS, t1, NULL), 1);
  /* A again, the record old enough: the minute goes whole */
  assert_true(
      store_mongo_collect(&a, "A", now + 60000, now - 300000, &deleted, &err));
  assert_int_equal(deleted, 1);
  assert_int_equal(tc_db_count_log(&p.d, STORE_MONGO_RECORDS, t1, NULL), 0);
  assert_int_equal(tc_db_count_log(&p.d, STORE_MONGO_DECISIONS, t1, NULL), 0);
  assert_int_equal(tc_db_count_log(&p.d, STORE_MONGO_CLAIMS, t1, NULL), 0);

  /* minute 68, claimed six minutes ago by a server gone since: B's */
  const char *t2 = "000010000000000000000ca2";
  put_finished(&p.d, t2, now - 60000);
  char coll[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(STORE_MONGO_CLAIMS, t2, coll);
  put(&p.d, coll,
      BCON_NEW("_id", BCON_UTF8("collect"), "owner", BCON_UTF8("gone"), "at",
               BCON_DATE_TIME(now - 360000)));
  assert_true(
      store_mongo_collect(&b, "B", now - 30000, now - 300000, &deleted, &err));
  assert_int_equal(deleted, 1);
  assert_int_equal(tc_db_count_log(&p.d, STORE_MONGO_RECORDS, t2, NULL), 0);
  assert_int_equal(tc_db_count_logs(&p.d, STORE_MONGO_RECORDS, NULL), 0);

  bson_destroy(mine);
  store_mongo_cleanup(&b);
  store_mongo_cleanup(&a);
  probe_close(&p);
}

/* The raw hot counter document (the caller's). */
static bson_t *hot_doc(probe_t *p) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8("hot"));
  mongoc_collection_t *coll =
      mongoc_database_get_collection(p->d.db, "probe_counts");
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, q, NULL, NULL);
  const bson_t *doc;
  bson_t *out = mongoc_cursor_next(cur, &doc) ? bson_copy(doc) : NULL;
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(coll);
  bson_destroy(q);
  return out;
}

/* The raw hot counter: n, version and how many ids its _fd lists (-1
 * each when absent), and whether it carries a lock field. */
static void hot_raw(probe_t *p, int64_t *n, int64_t *version, int *folded,
                    bool *locked) {
  bson_t *doc = hot_doc(p);
  bson_iter_t it;
  *n = doc && bson_iter_init_find(&it, doc, "n") ? bson_iter_as_int64(&it) : -1;
  *version = doc && bson_iter_init_find(&it, doc, "version")
                 ? bson_iter_as_int64(&it)
                 : -1;
  *folded = -1;
  if (doc && bson_iter_init_find(&it, doc, "_fd") &&
      BSON_ITER_HOLDS_ARRAY(&it)) {
    uint32_t len;
    const uint8_t *data;
    bson_iter_array(&it, &len, &data);
    bson_t a;
    *folded = bson_init_static(&a, data, len) ? (int)bson_count_keys(&a) : -1;
  }
  *locked = doc && bson_iter_init_find(&it, doc, "_txn");
  if (doc) {
    bson_destroy(doc);
  }
}

/* n and version of hot as view_find (folded: view_find_folded) shows
 * them, and whether the view shows a sync-private field. */
static void hot_view(probe_t *p, const txn_store_t *store, bool folded,
                     int64_t *n, int64_t *version, bool *private_field) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8("hot"));
  view_page_t page;
  chorus_error_t err = {0};
  bool ok =
      folded ? view_find_folded(p->db, store, "probe_counts", q, NULL, 1, &page,
                                &err)
             : view_find(p->db, store, "probe_counts", q, NULL, 1, &page, &err);
  assert_true(ok);
  assert_int_equal(page.n, 1);
  bson_iter_t it;
  *n = bson_iter_init_find(&it, page.docs[0], "n") ? bson_iter_as_int64(&it)
                                                   : -1;
  *version = bson_iter_init_find(&it, page.docs[0], "version")
                 ? bson_iter_as_int64(&it)
                 : -1;
  *private_field = bson_iter_init_find(&it, page.docs[0], "_fd") ||
                   bson_iter_init_find(&it, page.docs[0], "_xv") ||
                   bson_iter_init_find(&it, page.docs[0], "_txn");
  view_page_free(&page);
  bson_destroy(q);
}

/* Commits "insert probe_docs/<id>, hot.n + 1" with its increment's apply
 * left pending (as a server's answer does): returns the increment's op. */
static txn_op_t *commit_deferred(const txn_store_t *store, txn_t *txn,
                                 const char *id) {
  txn_init(txn);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id));
  txn_add_insert(txn, TXN_MAIN_SHARD, "probe_docs", doc);
  bson_destroy(doc);
  bson_value_t hot = string_id("hot");
  bson_t *inc = BCON_NEW("n", BCON_INT64(1));
  txn_add_deferred_increment(txn, "probe_counts", &hot, inc);
  bson_destroy(inc);
  txn_exec_opts_t opts = {.owner = "deferred",
                          .lease_ms = LEASE_MS,
                          .now_ms = db_now_ms,
                          .defer_apply = true};
  size_t failed;
  char owner[TXN_ID_LEN + 1];
  chorus_error_t err = {0};
  assert_int_equal(txn_execute(store, txn, &opts, &failed, owner, &err),
                   TXN_OUTCOME_COMMITTED);
  assert_true(txn->apply_pending);
  return &txn->ops[1];
}

/* Deferred increments (store_mongo_defer; store_mongo.c, "deferred
 * increments"), step by step on the real database: a commit writes
 * nothing to the counter, and the view counts it from the decision on;
 * the fold adds it (version + 1, _fd naming it) while the marker is
 * still there, and the view does not count it twice; a fold again (a
 * retry, a recovery) adds nothing, nor one after the marker went and a
 * later fold let go of its id; a reader holding a document read before a
 * fold is told to read again; an exclusive change checked against the
 * version a reader saw goes through with increments pending, and one
 * checked against a version before it is stale; and a group with a
 * deferred and a staged increment of one document counts both. */
static void test_deferred_increments_fold_once(void **state) {
  (void)state;
  probe_t p;
  probe_open(&p, "deferred");
  txn_store_t store;
  store_mongo_init(&store, p.shards);
  store_mongo_defer(&store, "probe_counts");
  chorus_error_t err = {0};
  int64_t n, version;
  int folded;
  bool locked, private_field;

  /* The counter starts at {n: 0, version: 1} (setup_db has n only). */
  mongoc_collection_t *counts =
      mongoc_database_get_collection(p.d.db, "probe_counts");
  bson_t *q = BCON_NEW("_id", BCON_UTF8("hot"));
  bson_t *up = BCON_NEW("$set", "{", "version", BCON_INT64(1), "}");
  assert_true(mongoc_collection_update_one(counts, q, up, NULL, NULL, NULL));
  bson_destroy(up);
  bson_destroy(q);
  mongoc_collection_destroy(counts);

  txn_t t1;
  txn_op_t *op1 = commit_deferred(&store, &t1, "d1");
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 0); /* nothing staged on it */
  assert_false(locked);
  hot_view(&p, &store, false, &n, &version, &private_field);
  assert_int_equal(n, 1);       /* counted from the decision on */
  assert_int_equal(version, 1); /* a version counts it once folded */
  assert_false(private_field);
  hot_view(&p, &store, true, &n, &version, &private_field);
  assert_int_equal(n, 0); /* folded only */

  bson_t *before = hot_doc(&p);
  assert_true(store.commit_op(store.impl, t1.id, op1, &err));
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 1);
  assert_int_equal(version, 2);
  assert_int_equal(folded, 1); /* its marker is still there */
  hot_view(&p, &store, false, &n, &version, &private_field);
  assert_int_equal(n, 1); /* not twice */
  assert_int_equal(version, 2);
  assert_false(private_field);
  /* A reader that read the document before the fold reads again. */
  bson_t *inc = NULL;
  bool again = false;
  assert_true(store.pending_increments(store.impl, "probe_counts", &before, 1,
                                       &inc, &again, &err));
  assert_true(again);
  if (inc) {
    bson_destroy(inc);
  }
  bson_destroy(before);

  assert_true(store.commit_op(store.impl, t1.id, op1, &err)); /* a retry */
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 1);
  assert_int_equal(version, 2);
  assert_true(store.finish(store.impl, t1.id, TXN_COMMITTED, &err));

  txn_t t2;
  txn_op_t *op2 = commit_deferred(&store, &t2, "d2");
  assert_true(store.commit_op(store.impl, t2.id, op2, &err));
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 2);
  assert_int_equal(folded, 1); /* t1's marker gone: its id let go */
  assert_true(store.commit_op(store.impl, t1.id, op1, &err)); /* late */
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 2); /* finished: not again */
  assert_int_equal(version, 3);
  assert_true(store.finish(store.impl, t2.id, TXN_COMMITTED, &err));

  /* An exclusive change checked against the version a reader saw, with
   * an increment pending: current; then one against an older version:
   * stale. */
  txn_t t3;
  commit_deferred(&store, &t3, "d3");
  hot_view(&p, &store, false, &n, &version, &private_field);
  assert_int_equal(n, 3);
  assert_int_equal(version, 3);
  bson_value_t hot = string_id("hot");
  bson_t *set = BCON_NEW("label", BCON_UTF8("checked"));
  txn_exec_opts_t opts = {
      .owner = "deferred", .lease_ms = LEASE_MS, .now_ms = db_now_ms};
  size_t failed;
  char owner[TXN_ID_LEN + 1];
  txn_t x;
  txn_init(&x);
  txn_add_update(&x, TXN_MAIN_SHARD, "probe_counts", &hot, set, NULL, &version);
  assert_int_equal(txn_execute(&store, &x, &opts, &failed, owner, &err),
                   TXN_OUTCOME_COMMITTED);
  txn_cleanup(&x);
  txn_init(&x);
  txn_add_update(&x, TXN_MAIN_SHARD, "probe_counts", &hot, set, NULL, &version);
  assert_int_equal(txn_execute(&store, &x, &opts, &failed, owner, &err),
                   TXN_OUTCOME_CONFLICT);
  txn_cleanup(&x);
  bson_destroy(set);
  hot_view(&p, &store, false, &n, &version, &private_field);
  assert_int_equal(n, 3); /* t3 still pending, still counted */
  assert_int_equal(version, 4);
  assert_true(txn_complete(&store, &t3, &opts, &err));
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 3);
  assert_int_equal(version, 5);
  assert_false(locked);
  assert_int_equal(tc_db_unfinished_txns(&p.d), 0);
  assert_int_equal(tc_db_locked_in(&p.d, "probe_counts"), 0);

  /* A group whose members increment the counter, one deferred and one
   * staged (an escrow entry): each applied its own way, both counted. */
  txn_t g[2];
  txn_member_t members[2];
  memset(members, 0, sizeof members);
  bson_t *one = BCON_NEW("n", BCON_INT64(1));
  for (int i = 0; i < 2; i++) {
    txn_init(&g[i]);
    char id[8];
    snprintf(id, sizeof id, "g%d", i);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(id));
    txn_add_insert(&g[i], TXN_MAIN_SHARD, "probe_docs", doc);
    bson_destroy(doc);
    if (i == 0) {
      txn_add_deferred_increment(&g[i], "probe_counts", &hot, one);
    } else {
      txn_add_update(&g[i], TXN_MAIN_SHARD, "probe_counts", &hot, NULL, one,
                     NULL);
    }
    members[i].txn = &g[i];
  }
  bson_destroy(one);
  txn_exec_opts_t gopts = opts;
  gopts.defer_apply = true;
  txn_execute_group(&store, members, 2, &gopts);
  txn_t *pending[2];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(members[i].outcome, TXN_OUTCOME_COMMITTED);
    assert_true(g[i].apply_pending);
    pending[i] = &g[i];
  }
  hot_view(&p, &store, false, &n, &version, &private_field);
  assert_int_equal(n, 5);
  txn_complete_group(&store, pending, 2, &gopts);
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 5);
  assert_false(locked);
  assert_int_equal(tc_db_unfinished_txns(&p.d), 0);
  for (int i = 0; i < 2; i++) {
    txn_cleanup(&g[i]);
  }

  txn_cleanup(&t3);
  txn_cleanup(&t2);
  txn_cleanup(&t1);
  store_mongo_cleanup(&store);
  probe_close(&p);
}

/* A clock two leases ahead: every marker of the test is past its
 * deadline for the recovery passes below. */
static int64_t later_ms(void) { return db_now_ms() + 2 * LEASE_MS; }

/* Sets the deadline of txn's open marker (coll "txn_open") or record
 * (its minute's "txns_<m>") to at. */
static void set_deadline(probe_t *p, const char *coll, const char *txn,
                         int64_t at) {
  mongoc_collection_t *c = mongoc_database_get_collection(p->d.db, coll);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(txn));
  bson_t *up = BCON_NEW("$set", "{", "deadline", BCON_DATE_TIME(at), "}");
  bson_t reply;
  bson_error_t err;
  assert_true(mongoc_collection_update_one(c, q, up, NULL, &reply, &err));
  bson_iter_t it;
  assert_true(bson_iter_init_find(&it, &reply, "matchedCount") &&
              bson_iter_as_int64(&it) == 1);
  bson_destroy(&reply);
  bson_destroy(up);
  bson_destroy(q);
  mongoc_collection_destroy(c);
}

/* Recovery takes the transaction longest past its deadline first, so an
 * abandoned one further back than a pass's first 16 markers is reached:
 * here the one whose name a crashed fold left on the counter's latch,
 * which every other recovery waits for (store_mongo.c,
 * claim_from_markers).  20 commits with their increments pending, the
 * latch left in the name of the last, whose deadline is the oldest: the
 * first pass recovers it (and so frees the latch), the next ones all the
 * others, and the counter ends exact. */
#define STARVED 20
static void test_recovery_takes_the_longest_expired_first(void **state) {
  (void)state;
  probe_t p;
  probe_open(&p, "starve");
  txn_store_t store;
  store_mongo_init(&store, p.shards);
  store_mongo_defer(&store, "probe_counts");
  txn_t *txns = bson_malloc0(sizeof *txns * STARVED);
  for (int i = 0; i < STARVED; i++) {
    char id[16];
    snprintf(id, sizeof id, "s%d", i);
    commit_deferred(&store, &txns[i], id);
  }
  const char *last = txns[STARVED - 1].id;
  char records[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(STORE_MONGO_RECORDS, last, records);
  int64_t oldest = db_now_ms();
  set_deadline(&p, "txn_open", last, oldest);
  set_deadline(&p, records, last, oldest);
  mongoc_collection_t *locks = mongoc_database_get_collection(p.d.db, "locks");
  bson_t *latch = BCON_NEW("_id", BCON_UTF8("-1|probe_counts|s:hot"), "txn",
                           BCON_UTF8(last), "at", BCON_DATE_TIME(oldest),
                           "latch", BCON_BOOL(true));
  bson_error_t berr;
  assert_true(mongoc_collection_insert_one(locks, latch, NULL, NULL, &berr));
  bson_destroy(latch);

  recovery_result_t r;
  chorus_error_t err = {0};
  assert_true(recovery_pass(&store, NULL, "recoverer", LEASE_MS, later_ms, 1,
                            NULL, &r, &err));
  assert_int_equal(r.recovered, 1);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(last));
  assert_int_equal(tc_db_count(&p.d, "txn_open", q), 0); /* it went first */
  bson_destroy(q);
  bson_t empty = BSON_INITIALIZER;
  assert_int_equal(tc_db_count(&p.d, "locks", &empty), 0); /* latch freed */
  int64_t n, version;
  int folded;
  bool locked;
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, 1);

  for (int pass = 0; pass < 4 && tc_db_count(&p.d, "txn_open", &empty) > 0;
       pass++) {
    assert_true(recovery_pass(&store, NULL, "recoverer", LEASE_MS, later_ms,
                              STARVED, NULL, &r, &err));
  }
  assert_int_equal(tc_db_count(&p.d, "txn_open", &empty), 0);
  hot_raw(&p, &n, &version, &folded, &locked);
  assert_int_equal(n, STARVED);
  assert_false(locked);

  mongoc_collection_destroy(locks);
  for (int i = 0; i < STARVED; i++) {
    txn_cleanup(&txns[i]);
  }
  bson_free(txns);
  store_mongo_cleanup(&store);
  probe_close(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_group_larger_than_the_pool),
      cmocka_unit_test(test_two_coordinators_at_once),
      cmocka_unit_test(test_group_finish_by_markers),
      cmocka_unit_test(test_fresh_inserts_in_a_group),
      cmocka_unit_test(test_one_collector_a_minute),
      cmocka_unit_test(test_applies_skip_what_later_stages_folded),
      cmocka_unit_test(test_deferred_increments_fold_once),
      cmocka_unit_test(test_recovery_takes_the_longest_expired_first),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
