/*
 * test_sync_crash.c - a coordinator killed at every step of the two-phase
 * commit, on the real database with real servers.
 *
 * For each failpoint, server A (armed with it) coordinates a tweet
 * creation (tweet insert on a shard + the author's tweet_count) and exits
 * abruptly at that step.  Then either server B, already running, or A
 * itself, restarted, must finish the transaction within 5 s: roll it back
 * when it was undecided (after_begin, after_prepare), roll it forward when
 * it was decided (after_decision, mid_apply).  While that happens a client
 * keeps reading, and must never see the tweet of an undecided transaction
 * nor see a decided tweet disappear again.  At the end no document is
 * locked, no transaction unfinished, and the stored count is the true one.
 * A commit is answered once its ops but the increments are applied, and
 * its increments (the author's tweet_count) are applied after the answer
 * (sync.c, finishers): a 201 means the transaction is finished soon after,
 * not that it already is, and a crash at mid_apply of a transaction of
 * increments alone would follow its answer (a creation's comes before:
 * its first op is the tweet).  (Crashes with increments of one document
 * pending: test_sync_hot.c.)  At txn.after_increments the author's
 * deferred tweet_count is folded into the account, the transaction's open
 * marker still there: the recovery that follows must not count it twice.
 * Then the same in a group of concurrent creations (crash_group_at): each
 * member fully created or absent.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

#define RECOVERY_BOUND_MS 5000

/* Whether the first page of the timeline shows a tweet with this text. */
static bool timeline_has(tc_client_t *c, const char *text, bool *ok) {
  tc_response_t r;
  *ok = tc_try_request(c, "GET", "/api/tweet?limit=20", NULL, 0, NULL, &r) &&
        r.status == 200;
  bool seen = false;
  for (int i = 0; *ok && i < tc_json_array_len(&r, "items"); i++) {
    seen = seen || !strcmp(tc_item_str(&r, i, "text"), text);
  }
  tc_response_free(&r);
  return seen;
}

static void crash_at(const char *step, bool restart_same, bool committed) {
  char db_name[64], text[96];
  snprintf(db_name, sizeof db_name, "crash_%d_%s_%s", (int)getpid(), step + 4,
           restart_same ? "self" : "peer");
  for (char *p = db_name; *p; p++) {
    if (*p == '.') {
      *p = '_';
    }
  }
  snprintf(text, sizeof text, "written through a crash at %s", step);

  tc_server_t a, b;
  tc_server_init(&a, "a", db_name);
  bson_strncpy(a.failpoint, step, sizeof a.failpoint);
  assert_true(tc_server_start(&a));
  if (!restart_same) {
    tc_server_init(&b, "b", db_name);
    assert_true(tc_server_start(&b));
  }
  char name[31];

  tc_client_t *writer = tc_new_user(a.url, "crash", name);
  char token[128];
  tc_session_token(writer, token, sizeof token);

  /* The write that kills A. */
  char body[160];
  snprintf(body, sizeof body, "{\"text\":\"%s\"}", text);
  tc_response_t r;
  bool answered = tc_try_request(writer, "POST", "/api/tweet", body,
                                 strlen(body), NULL, &r);
  if (!strcmp(step, "txn.after_increments")) {
    assert_true(answered); /* the increments come after the answer */
    assert_int_equal(r.status, 201);
  } else if (strcmp(step, "txn.mid_apply") != 0) {
    assert_false(answered); /* A died before it could answer */
  } else if (answered) {
    assert_int_equal(r.status, 201); /* answered at the commit point */
  }
  tc_response_free(&r);
  assert_int_equal(tc_server_wait_exit(&a, 5000), 86);
  int64_t crashed_at = tc_now_ms();

  if (restart_same) {
    a.failpoint[0] = '\0';
    assert_true(tc_server_start(&a));
  }
  tc_server_t *survivor = restart_same ? &a : &b;
  tc_client_t *reader = tc_client_new(survivor->url);

  tc_db_t db;
  tc_db_open(&db, NULL, db_name);
  bool ever_seen = false, finished = false;
  while (!finished) {
    bool ok;
    bool seen = timeline_has(reader, text, &ok);
    assert_true(ok);
    if (!committed) {
      assert_false(seen); /* never a tweet of an undecided transaction */
    } else if (ever_seen) {
      assert_true(seen); /* once visible, visible for good */
    }
    ever_seen = ever_seen || seen;
    finished =
        tc_db_unfinished_txns(&db) == 0 && tc_db_locked_docs(&db, 4, NULL) == 0;
    if (!finished) {
      assert_true(tc_now_ms() - crashed_at < RECOVERY_BOUND_MS);
      tc_sleep_ms(50);
    }
  }
  bool ok;
  assert_int_equal(timeline_has(reader, text, &ok), committed);
  assert_true(ok);
  assert_int_equal(tc_db_tweet_count_mismatches(&db, 4, NULL), 0);

  /* The author's session works on the survivor, and writes go on (their
   * transactions finished shortly after their answer). */
  tc_client_t *again = tc_client_with_session(survivor->url, token);
  char id[25];
  tc_post_tweet(again, "after the crash", id);
  assert_true(tc_db_wait_finished(&db, 4, NULL, RECOVERY_BOUND_MS));
  assert_int_equal(tc_db_tweet_count_mismatches(&db, 4, NULL), 0);

  tc_client_destroy(again);
  tc_client_destroy(reader);
  tc_client_destroy(writer);
  tc_server_kill(&a, SIGTERM);
  if (!restart_same) {
    tc_server_kill(&b, SIGTERM);
  }
  tc_db_drop(&db);
  tc_db_close(&db);
}

/* The log's collection `which` of txn_id's minute (a static buffer: one
 * use at a time). */
static const char *log_coll(store_mongo_log_t which, const char *txn_id) {
  static char coll[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(which, txn_id, coll);
  return coll;
}

static void insert_doc(tc_db_t *db, const char *coll_name, bson_t *doc) {
  mongoc_collection_t *coll = mongoc_database_get_collection(db->db, coll_name);
  bson_error_t err;
  if (!mongoc_collection_insert_one(coll, doc, NULL, NULL, &err)) {
    fail_msg("insert into %s: %s", coll_name, err.message);
  }
  mongoc_collection_destroy(coll);
  bson_destroy(doc);
}

/* An empty database named crash_<pid>_<what> (db_name, 64 bytes) whose
 * collections a server created, open in *db for a test to seed; *a is
 * that server, stopped, to start again over what the test seeded. */
static void seed_database(const char *what, char *db_name, tc_server_t *a,
                          tc_db_t *db) {
  snprintf(db_name, 64, "crash_%d_%s", (int)getpid(), what);
  tc_server_init(a, "a", db_name);
  assert_true(tc_server_start(a)); /* creates the collections */
  tc_server_kill(a, SIGTERM);
  tc_db_open(db, NULL, db_name);
}

/* Open markers (txn_open, sync/txn/store_mongo.c), through which recovery
 * finds abandoned records, and the markers it must drop: a server started
 * there recovers an abandoned record through its marker, drops a marker
 * whose record is done and one whose record never came, and leaves no
 * marker behind but a young one. */
static void test_records_are_recovered_through_markers(void **state) {
  (void)state;
  char db_name[64];
  tc_server_t a;
  tc_db_t db;
  seed_database("markers", db_name, &a, &db);
  int64_t now = tc_wall_ms();
  /* Abandoned 10 s ago, with the marker its begin wrote; no ops. */
  insert_doc(&db, log_coll(STORE_MONGO_RECORDS, "0000000000000000000000a1"),
             BCON_NEW("_id", BCON_UTF8("0000000000000000000000a1"), "state",
                      BCON_UTF8("pending"), "done", BCON_BOOL(false), "owner",
                      BCON_UTF8("old"), "lease", BCON_INT64(1), "deadline",
                      BCON_DATE_TIME(now - 10000), "created_at",
                      BCON_DATE_TIME(now - 12000), "ops", "[", "]"));
  insert_doc(&db, "txn_open",
             BCON_NEW("_id", BCON_UTF8("0000000000000000000000a1"), "deadline",
                      BCON_DATE_TIME(now - 10000), "at",
                      BCON_DATE_TIME(now - 12000)));
  /* Done, but its marker was not deleted (a failed finish). */
  insert_doc(&db, log_coll(STORE_MONGO_RECORDS, "0000000000000000000000a2"),
             BCON_NEW("_id", BCON_UTF8("0000000000000000000000a2"), "state",
                      BCON_UTF8("committed"), "done", BCON_BOOL(true), "owner",
                      BCON_UTF8("old"), "lease", BCON_INT64(1), "deadline",
                      BCON_DATE_TIME(now - 10000), "created_at",
                      BCON_DATE_TIME(now - 12000), "finished_at",
                      BCON_DATE_TIME(now - 9000), "ops", "[", "]"));
  insert_doc(&db, "txn_open",
             BCON_NEW("_id", BCON_UTF8("0000000000000000000000a2"), "deadline",
                      BCON_DATE_TIME(now - 10000), "at",
                      BCON_DATE_TIME(now - 12000)));
  /* A marker whose record never came, a minute ago. */
  insert_doc(&db, "txn_open",
             BCON_NEW("_id", BCON_UTF8("0000000000000000000000a3"), "deadline",
                      BCON_DATE_TIME(now - 58000), "at",
                      BCON_DATE_TIME(now - 60000)));
  /* A marker whose record may still be on its way: left alone. */
  insert_doc(&db, "txn_open",
             BCON_NEW("_id", BCON_UTF8("0000000000000000000000a4"), "deadline",
                      BCON_DATE_TIME(now - 1000), "at",
                      BCON_DATE_TIME(now - 3000)));
  assert_int_equal(tc_db_unfinished_txns(&db), 1);

  assert_true(tc_server_start(&a));
  int64_t started = tc_now_ms();
  while (tc_db_unfinished_txns(&db) > 0 ||
         tc_db_count(&db, "txn_open", NULL) > 1) {
    assert_true(tc_now_ms() - started < RECOVERY_BOUND_MS);
    tc_sleep_ms(50);
  }
  bson_t *young = BCON_NEW("_id", BCON_UTF8("0000000000000000000000a4"));
  assert_int_equal(tc_db_count(&db, "txn_open", young), 1);
  bson_destroy(young);
  bson_t *abandoned = BCON_NEW("_id", BCON_UTF8("0000000000000000000000a1"),
                               "done", BCON_BOOL(true));
  assert_int_equal(tc_db_count_log(&db, STORE_MONGO_RECORDS,
                                   "0000000000000000000000a1", abandoned),
                   1);
  bson_destroy(abandoned);
  bson_t *decided = BCON_NEW("_id", BCON_UTF8("0000000000000000000000a1"),
                             "state", BCON_UTF8("aborted"));
  assert_int_equal(tc_db_count_log(&db, STORE_MONGO_DECISIONS,
                                   "0000000000000000000000a1", decided),
                   1);
  bson_destroy(decided);

  /* New transactions leave no marker once done (shortly after their
   * answer). */
  char name[31], id[25];
  tc_client_t *c = tc_new_user(a.url, "marker", name);
  tc_post_tweet(c, "a transaction with a marker", id);
  assert_true(tc_db_wait_finished(&db, 4, NULL, RECOVERY_BOUND_MS));
  bson_t *other =
      BCON_NEW("_id", "{", "$ne", BCON_UTF8("0000000000000000000000a4"), "}");
  for (int64_t t0 = tc_now_ms(); tc_db_count(&db, "txn_open", other) > 0;) {
    assert_true(tc_now_ms() - t0 < RECOVERY_BOUND_MS); /* deleted after done */
    tc_sleep_ms(20);
  }
  bson_destroy(other);
  /* Its record is finished (a group's finish deletes its marker and
   * writes nothing to it), its decision committed, and nothing is left
   * unfinished. */
  bson_t *mine = BCON_NEW("done", BCON_BOOL(false), "_id", "{", "$ne",
                          BCON_UTF8("0000000000000000000000a4"), "}");
  assert_true(tc_db_count_logs(&db, STORE_MONGO_RECORDS, mine) >= 1);
  bson_destroy(mine);
  bson_t *committed = BCON_NEW("state", BCON_UTF8("committed"));
  assert_true(tc_db_count_logs(&db, STORE_MONGO_DECISIONS, committed) >= 1);
  bson_destroy(committed);
  assert_int_equal(tc_db_unfinished_txns(&db), 0);
  tc_client_destroy(c);

  tc_server_kill(&a, SIGTERM);
  tc_db_drop(&db);
  tc_db_close(&db);
}

/* Group commit: concurrent creations on A share each step's writes
 * (sync.c, txn_execute_group).  GROUP_WRITERS authors post at once to A,
 * armed with step, which kills it inside a group (txn.mid_group: between
 * the group's writes of one step, some documents of its members written
 * and others not; or at a step of the group).  B finishes every member:
 * each tweet is then fully created (in the database, counted in its
 * author's tweet_count, its event delivered to B's read model, which
 * serves the timeline) or absent, never half; an undecided group leaves
 * none, and a tweet answered 201 is there. */
#define GROUP_WRITERS 6

typedef struct group_writer {
  tc_client_t *client;
  char text[96];
  int status; /* 0: no answer */
} group_writer_t;

static void *group_post(void *arg) {
  group_writer_t *w = arg;
  char body[160];
  snprintf(body, sizeof body, "{\"text\":\"%s\"}", w->text);
  tc_response_t r;
  if (tc_try_request(w->client, "POST", "/api/tweet", body, strlen(body), NULL,
                     &r)) {
    w->status = r.status;
  }
  tc_response_free(&r);
  return NULL;
}

static void crash_group_at(const char *step, bool decided) {
  char db_name[64];
  snprintf(db_name, sizeof db_name, "crash_%d_group_%s", (int)getpid(),
           step + 4);
  tc_server_t a, b;
  tc_server_init(&a, "a", db_name);
  bson_strncpy(a.failpoint, step, sizeof a.failpoint);
  assert_true(tc_server_start(&a));
  tc_server_init(&b, "b", db_name);
  assert_true(tc_server_start(&b));
  group_writer_t w[GROUP_WRITERS];
  pthread_t th[GROUP_WRITERS];
  for (int i = 0; i < GROUP_WRITERS; i++) {
    char name[31];
    memset(&w[i], 0, sizeof w[i]);
    w[i].client = tc_new_user(a.url, "group", name);
    snprintf(w[i].text, sizeof w[i].text, "group %d through %s", i, step);
  }
  for (int i = 0; i < GROUP_WRITERS; i++) {
    assert_int_equal(pthread_create(&th[i], NULL, group_post, &w[i]), 0);
  }
  for (int i = 0; i < GROUP_WRITERS; i++) {
    pthread_join(th[i], NULL);
  }
  assert_int_equal(tc_server_wait_exit(&a, 5000), 86);

  tc_db_t db;
  tc_db_open(&db, NULL, db_name);
  assert_true(tc_db_wait_finished(&db, 4, NULL, RECOVERY_BOUND_MS));
  assert_int_equal(tc_db_tweet_count_mismatches(&db, 4, NULL), 0);
  tc_client_t *reader = tc_client_new(b.url);
  int present = 0;
  for (int i = 0; i < GROUP_WRITERS; i++) {
    bson_t *q = BCON_NEW("text", BCON_UTF8(w[i].text));
    int64_t stored = 0;
    for (int shard = 0; shard < 4; shard++) {
      char coll[16];
      snprintf(coll, sizeof coll, "tweets_%d", shard);
      stored += tc_db_count(&db, coll, q);
    }
    bson_destroy(q);
    /* in the database: delivered to B's model within the bound */
    bool ok, seen = false;
    for (int64_t t0 = tc_now_ms(); !seen;) {
      seen = timeline_has(reader, w[i].text, &ok);
      assert_true(ok);
      if (seen || stored == 0 || tc_now_ms() - t0 > RECOVERY_BOUND_MS) {
        break;
      }
      tc_sleep_ms(50);
    }
    assert_int_equal(seen, stored == 1);
    assert_true(stored <= 1);
    if (w[i].status != 0) {
      assert_int_equal(w[i].status, 201); /* answered: durable */
      assert_int_equal(stored, 1);
    }
    present += (int)stored;
    tc_client_destroy(w[i].client);
  }
  if (!decided) {
    assert_int_equal(present, 0); /* a group undecided: none of it */
  } else {
    assert_true(present >= 1); /* the member that reached the step */
  }
  tc_client_destroy(reader);
  tc_server_kill(&b, SIGTERM);
  tc_db_drop(&db);
  tc_db_close(&db);
}

/* The collector (store_mongo_collect) and a record a group's finish
 * ended: its marker deleted, nothing written to the record (done false),
 * its transaction committed, its outbox, a transient insert, still
 * staged (its events never published).  A server started there drops
 * the record's minute of the log, and never before the outbox is applied
 * or gone: a staged document never outlives the decision that shows it;
 * nor before the late lock of an aborted record of that minute is
 * dropped.  A record not done whose marker is still there (of another
 * minute) is not collected as finished: recovery claims and finishes it,
 * and its minute stays. */
static void test_collector_takes_records_finished_by_a_group(void **state) {
  (void)state;
  char db_name[64];
  tc_server_t a;
  tc_db_t db;
  seed_database("collect", db_name, &a, &db);
  int64_t old = tc_wall_ms() - 6 * 60 * 1000; /* any server's to collect */
  bson_oid_t outbox;
  bson_oid_init(&outbox, NULL);
  const char *txn = "0000000000000000000000b1";
  insert_doc(&db, log_coll(STORE_MONGO_RECORDS, txn),
             BCON_NEW("_id", BCON_UTF8(txn), "state", BCON_UTF8("pending"),
                      "done", BCON_BOOL(false), "owner", BCON_UTF8("gone"),
                      "lease", BCON_INT64(1), "deadline", BCON_DATE_TIME(old),
                      "created_at", BCON_DATE_TIME(old - 2000), "ops", "[", "{",
                      "kind", BCON_UTF8("insert"), "transient", BCON_BOOL(true),
                      "shard", BCON_INT32(-1), "coll", BCON_UTF8("outbox"),
                      "id", BCON_OID(&outbox), "}", "]"));
  insert_doc(&db, log_coll(STORE_MONGO_DECISIONS, txn),
             BCON_NEW("_id", BCON_UTF8(txn), "state", BCON_UTF8("committed"),
                      "decided_at", BCON_DATE_TIME(old - 1000)));
  insert_doc(&db, "outbox",
             BCON_NEW("_id", BCON_OID(&outbox), "events", "[", "]",
                      "created_at", BCON_DATE_TIME(old - 2000), "version",
                      BCON_INT64(1), "_txn", "{", "id", BCON_UTF8(txn), "kind",
                      BCON_UTF8("insert"), "}"));
  /* Aborted and finished, in the same minute, with a late lock: the
   * staged insert of a prepare that landed after recovery dropped its op
   * (SYNC.md §7); the collector drops it once more before the minute
   * goes. */
  const char *late_txn = "0000000000000000000000b3";
  bson_oid_t late;
  bson_oid_init(&late, NULL);
  insert_doc(&db, log_coll(STORE_MONGO_RECORDS, late_txn),
             BCON_NEW("_id", BCON_UTF8(late_txn), "state", BCON_UTF8("aborted"),
                      "done", BCON_BOOL(true), "owner", BCON_UTF8("gone"),
                      "lease", BCON_INT64(2), "deadline", BCON_DATE_TIME(old),
                      "created_at", BCON_DATE_TIME(old - 2000), "finished_at",
                      BCON_DATE_TIME(old), "ops", "[", "{", "kind",
                      BCON_UTF8("insert"), "shard", BCON_INT32(-1), "coll",
                      BCON_UTF8("probe_late"), "id", BCON_OID(&late), "}",
                      "]"));
  insert_doc(&db, log_coll(STORE_MONGO_DECISIONS, late_txn),
             BCON_NEW("_id", BCON_UTF8(late_txn), "state", BCON_UTF8("aborted"),
                      "decided_at", BCON_DATE_TIME(old - 1000)));
  insert_doc(&db, "probe_late",
             BCON_NEW("_id", BCON_OID(&late), "_txn", "{", "id",
                      BCON_UTF8(late_txn), "kind", BCON_UTF8("insert"), "}"));
  /* Not done, its marker there: abandoned, not finished; of another
   * minute (a minute goes whole, once each of its records is finished). */
  const char *open_txn = "0000100000000000000000b2";
  insert_doc(&db, log_coll(STORE_MONGO_RECORDS, open_txn),
             BCON_NEW("_id", BCON_UTF8(open_txn), "state", BCON_UTF8("pending"),
                      "done", BCON_BOOL(false), "owner", BCON_UTF8("gone"),
                      "lease", BCON_INT64(1), "deadline", BCON_DATE_TIME(old),
                      "created_at", BCON_DATE_TIME(old - 2000), "ops", "[",
                      "]"));
  insert_doc(&db, "txn_open",
             BCON_NEW("_id", BCON_UTF8(open_txn), "deadline",
                      BCON_DATE_TIME(old), "at", BCON_DATE_TIME(old - 2000)));
  assert_int_equal(tc_db_unfinished_txns(&db), 1);

  assert_true(tc_server_start(&a));
  bson_t *rec = BCON_NEW("_id", BCON_UTF8(txn));
  bson_t *staged = BCON_NEW("_id", BCON_OID(&outbox), "_txn", "{", "$exists",
                            BCON_BOOL(true), "}");
  int64_t started = tc_now_ms();
  for (;;) {
    bool has_decision =
        tc_db_count_log(&db, STORE_MONGO_DECISIONS, txn, rec) == 1;
    bool still_staged = tc_db_count(&db, "outbox", staged) == 1;
    assert_true(has_decision || !still_staged); /* never staged without it */
    bool minute_gone =
        tc_db_count_log(&db, STORE_MONGO_RECORDS, late_txn, NULL) == 0;
    assert_true(!minute_gone || tc_db_count(&db, "probe_late", NULL) == 0);
    if (!has_decision &&
        tc_db_count_log(&db, STORE_MONGO_RECORDS, txn, rec) == 0 &&
        tc_db_unfinished_txns(&db) == 0) {
      break;
    }
    assert_true(tc_now_ms() - started < RECOVERY_BOUND_MS + 4000);
    tc_sleep_ms(20);
  }
  /* the abandoned one was recovered (aborted: no decision) and finished
   * the single way, not taken for one a group finished */
  bson_t *done = BCON_NEW("_id", BCON_UTF8(open_txn), "done", BCON_BOOL(true));
  assert_int_equal(tc_db_count_log(&db, STORE_MONGO_RECORDS, open_txn, done),
                   1);
  bson_destroy(done);
  bson_destroy(staged);
  bson_destroy(rec);
  /* the whole minute went, the late lock first */
  assert_int_equal(tc_db_count(&db, "probe_late", NULL), 0);
  assert_int_equal(tc_db_count_log(&db, STORE_MONGO_DECISIONS, late_txn, NULL),
                   0);
  assert_int_equal(tc_db_count_log(&db, STORE_MONGO_CLAIMS, late_txn, NULL), 0);

  tc_server_kill(&a, SIGTERM);
  tc_db_drop(&db);
  tc_db_close(&db);
}

static void test_crash_mid_group(void **state) {
  (void)state;
  crash_group_at("txn.mid_group", false);
}
static void test_crash_group_after_decision(void **state) {
  (void)state;
  crash_group_at("txn.after_decision", true);
}
static void test_crash_group_mid_apply(void **state) {
  (void)state;
  crash_group_at("txn.mid_apply", true);
}

/* After the author's deferred tweet_count was folded in (sync/txn/
 * store_mongo.c, "deferred increments"), before the markers went: B
 * claims the members again, and must not fold their increments twice. */
static void test_crash_group_after_increments(void **state) {
  (void)state;
  crash_group_at("txn.after_increments", true);
}
static void test_crash_after_increments_peer(void **state) {
  (void)state;
  crash_at("txn.after_increments", false, true);
}
static void test_crash_after_increments_self(void **state) {
  (void)state;
  crash_at("txn.after_increments", true, true);
}
static void test_crash_after_begin_peer(void **state) {
  (void)state;
  crash_at("txn.after_begin", false, false);
}
static void test_crash_after_begin_self(void **state) {
  (void)state;
  crash_at("txn.after_begin", true, false);
}
static void test_crash_after_prepare_peer(void **state) {
  (void)state;
  crash_at("txn.after_prepare", false, false);
}
static void test_crash_after_prepare_self(void **state) {
  (void)state;
  crash_at("txn.after_prepare", true, false);
}
static void test_crash_after_decision_peer(void **state) {
  (void)state;
  crash_at("txn.after_decision", false, true);
}
static void test_crash_after_decision_self(void **state) {
  (void)state;
  crash_at("txn.after_decision", true, true);
}
static void test_crash_mid_apply_peer(void **state) {
  (void)state;
  crash_at("txn.mid_apply", false, true);
}
static void test_crash_mid_apply_self(void **state) {
  (void)state;
  crash_at("txn.mid_apply", true, true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash_after_increments_peer),
      cmocka_unit_test(test_crash_after_increments_self),
      cmocka_unit_test(test_crash_group_after_increments),
      cmocka_unit_test(test_crash_after_begin_peer),
      cmocka_unit_test(test_crash_after_begin_self),
      cmocka_unit_test(test_crash_after_prepare_peer),
      cmocka_unit_test(test_crash_after_prepare_self),
      cmocka_unit_test(test_crash_after_decision_peer),
      cmocka_unit_test(test_crash_after_decision_self),
      cmocka_unit_test(test_crash_mid_apply_peer),
      cmocka_unit_test(test_crash_mid_apply_self),
      cmocka_unit_test(test_records_are_recovered_through_markers),
      cmocka_unit_test(test_collector_takes_records_finished_by_a_group),
      cmocka_unit_test(test_crash_mid_group),
      cmocka_unit_test(test_crash_group_after_decision),
      cmocka_unit_test(test_crash_group_mid_apply),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
