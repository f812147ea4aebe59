/*
 * test_reads_session.c - the freshness contract of the one session
 * resolver (reads.h, reads_session), with a real read model and a
 * database that is never reachable: whether the database was asked is
 * read from its pool's acquire counter (db_pool_stats), and an answer
 * that needed it is a 503.
 *
 * Covered: a missing or malformed token is "logged out" in every mode
 * without asking anyone; READS_APPLIED and READS_SYNCED answer a cached
 * session from the cache; READS_DATABASE asks the database even then;
 * after "session.ended" is applied (or the entry expired) the cache does
 * not answer and the database is asked; without a model
 * (--read-model 0) every mode asks the database; the cache holds the
 * token's hash, never the token; the cache answers only while the event
 * log has completed a poll begun at most SESSIONS_CACHE_TRUST_MS ago
 * (a fake of events_polled_within says whether it has).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <mongoc/mongoc.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "server/domain/event_types.h"
#include "server/domain/sessions.h"
#include "server/readmodel/reads.h"

/* 32 bytes of base64url, as sessions_create makes them. */
#define TOKEN "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80"
#define OTHER "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

typedef struct fixture {
  bool polled; /* what the fake events_polled_within says */
  int asked_within_ms;
  db_t *db;
  model_t *model;
  reads_t *reads;    /* with the model */
  reads_t *no_model; /* --read-model 0 */
  bson_oid_t user;
} fixture_t;

static bool fake_polled_within(void *ctx, int within_ms) {
  fixture_t *f = ctx;
  f->asked_within_ms = within_ms;
  return f->polled;
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->polled = true;
  chorus_error_t err;
  /* Nothing listens on port 1: every command fails (503). */
  f->db = db_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200",
                 "chorus_unit", 4, &err);
  assert_non_null(f->db);
  f->model = model_new(NULL);
  reads_config_t rc = {.db = f->db,
                       .model = f->model,
                       .server_id = "unit",
                       .polled_within = fake_polled_within,
                       .polled_ctx = f};
  f->reads = reads_new(&rc);
  rc.model = NULL;
  f->no_model = reads_new(&rc);
  bson_oid_init(&f->user, NULL);
  char sid[SESSION_ID_LEN + 1];
  assert_true(sessions_id(TOKEN, sid));
  model_session_put(f->model, sid, &f->user, db_now_ms() + 60000,
                    model_session_epoch(f->model));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  reads_destroy(f->reads);
  reads_destroy(f->no_model);
  model_destroy(f->model);
  db_destroy(f->db);
  free(f);
  return 0;
}

static int64_t acquires(fixture_t *f) {
  int64_t n, wait_us, slow;
  db_pool_stats(f->db, &n, &wait_us, &slow);
  return n;
}

typedef struct lookup {
  bool ok, logged_in, asked_database;
  bson_oid_t user;
  chorus_error_t err;
} lookup_t;

static lookup_t look(fixture_t *f, reads_t *r, const char *token,
                     reads_freshness_t fresh) {
  lookup_t l;
  memset(&l, 0, sizeof l);
  int64_t before = acquires(f);
  l.ok = reads_session(r, token, fresh, &l.user, &l.logged_in, &l.err);
  l.asked_database = acquires(f) > before;
  return l;
}

static const reads_freshness_t modes[] = {READS_DATABASE, READS_SYNCED,
                                          READS_APPLIED};

static void no_or_malformed_token_is_logged_out_without_asking(void **state) {
  fixture_t *f = *state;
  static const char *const tokens[] = {NULL, "", "short", TOKEN "x",
                                       "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
                                       "!!!!!!!!"};
  for (size_t m = 0; m < 3; m++) {
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
      lookup_t l = look(f, f->reads, tokens[i], modes[m]);
      assert_true(l.ok);
      assert_false(l.logged_in);
      assert_false(l.asked_database);
    }
  }
}

static void cached_session_answers_applied_and_synced(void **state) {
  fixture_t *f = *state;
  lookup_t l = look(f, f->reads, TOKEN, READS_APPLIED);
  assert_true(l.ok && l.logged_in);
  assert_false(l.asked_database);
  assert_true(bson_oid_equal(&l.user, &f->user));
  l = look(f, f->reads, TOKEN, READS_SYNCED);
  assert_true(l.ok && l.logged_in);
  assert_false(l.asked_database);
  assert_true(bson_oid_equal(&l.user, &f->user));
}

static void cache_answers_only_after_a_recent_poll(void **state) {
  fixture_t *f = *state;
  f->polled = false;
  for (size_t m = 1; m < 3; m++) {
    lookup_t l = look(f, f->reads, TOKEN, modes[m]);
    assert_true(l.asked_database);
    assert_false(l.ok);
    assert_int_equal(l.err.status, 503);
  }
  assert_int_equal(f->asked_within_ms, SESSIONS_CACHE_TRUST_MS);
  f->polled = true;
  lookup_t l = look(f, f->reads, TOKEN, READS_APPLIED);
  assert_true(l.ok && l.logged_in);
  assert_false(l.asked_database);
}

static void database_mode_asks_the_database_even_when_cached(void **state) {
  fixture_t *f = *state;
  lookup_t l = look(f, f->reads, TOKEN, READS_DATABASE);
  assert_true(l.asked_database);
  assert_false(l.ok);
  assert_int_equal(l.err.status, 503);
  /* The failure left the cache as it was. */
  l = look(f, f->reads, TOKEN, READS_APPLIED);
  assert_true(l.ok && l.logged_in);
}

static void unknown_token_asks_the_database(void **state) {
  fixture_t *f = *state;
  for (size_t m = 0; m < 3; m++) {
    lookup_t l = look(f, f->reads, OTHER, modes[m]);
    assert_true(l.asked_database);
    assert_false(l.ok);
    assert_int_equal(l.err.status, 503);
  }
}

static void without_model_every_mode_asks_the_database(void **state) {
  fixture_t *f = *state;
  for (size_t m = 0; m < 3; m++) {
    lookup_t l = look(f, f->no_model, TOKEN, modes[m]);
    assert_true(l.asked_database);
    assert_false(l.ok);
  }
}

static void ended_session_leaves_the_cache_at_once(void **state) {
  fixture_t *f = *state;
  char sid[SESSION_ID_LEN + 1];
  assert_true(sessions_id(TOKEN, sid));
  assert_true(look(f, f->reads, TOKEN, READS_APPLIED).logged_in);
  bson_t payload = BSON_INITIALIZER;
  event_model_session_ended(&payload, sid);
  model_apply(f->model, event_type_name(EVENT_SESSION_ENDED), &payload);
  bson_destroy(&payload);
  for (size_t m = 1; m < 3; m++) {
    lookup_t l = look(f, f->reads, TOKEN, modes[m]);
    assert_true(l.asked_database);
    assert_false(l.logged_in);
  }
}

static void expired_entry_is_not_an_answer(void **state) {
  fixture_t *f = *state;
  char sid[SESSION_ID_LEN + 1];
  assert_true(sessions_id(OTHER, sid));
  model_session_put(f->model, sid, &f->user, db_now_ms() - 1,
                    model_session_epoch(f->model));
  lookup_t l = look(f, f->reads, OTHER, READS_APPLIED);
  assert_true(l.asked_database);
  assert_false(l.logged_in);
}

static void the_cache_keys_by_hash_not_token(void **state) {
  (void)state;
  char sid[SESSION_ID_LEN + 1];
  assert_true(sessions_id(TOKEN, sid));
  assert_int_equal(strlen(sid), SESSION_ID_LEN);
  assert_null(strstr(sid, TOKEN));
  /* A cache entry put under the token itself is never found. */
  model_t *m = model_new(NULL);
  bson_oid_t u, got;
  bson_oid_init(&u, NULL);
  model_session_put(m, TOKEN, &u, db_now_ms() + 60000, model_session_epoch(m));
  assert_false(model_session_get(m, TOKEN, db_now_ms(), &got));
  model_destroy(m);
}

int main(void) {
  mongoc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(no_or_malformed_token_is_logged_out_without_asking),
      cmocka_unit_test(cached_session_answers_applied_and_synced),
      cmocka_unit_test(cache_answers_only_after_a_recent_poll),
      cmocka_unit_test(database_mode_asks_the_database_even_when_cached),
      cmocka_unit_test(unknown_token_asks_the_database),
      cmocka_unit_test(without_model_every_mode_asks_the_database),
      cmocka_unit_test(ended_session_leaves_the_cache_at_once),
      cmocka_unit_test(expired_entry_is_not_an_answer),
      cmocka_unit_test(the_cache_keys_by_hash_not_token),
  };
  int failed = cmocka_run_group_tests(tests, setup, teardown);
  mongoc_cleanup();
  return failed;
}
