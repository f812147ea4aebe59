/*
 * test_db_indexes.c - the indexes chorusd keeps, by kind of database
 * (sync/base/db_index.c, docs/DATABASE.md "Indexes on FerretDB").
 *
 * On MongoDB every declared index exists after a start.  On FerretDB
 * only the unique ones do: there no query but one by _id uses an index,
 * and SQLite maintains every index on every write; a declared index that
 * is not unique is dropped at start even when an earlier start (or
 * anyone) created it.  The queries those indexes would serve on MongoDB
 * still answer (a tweet found by author, word and tag; a user by name),
 * and the unique ones still refuse duplicates (a second account with the
 * same name in other case).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

typedef struct declared {
  const char *coll, *name, *keys;
  bool unique;
} declared_t;

/* A sample of what the modules declare (DATA.md, "Indexes"). */
static const declared_t declared[] = {
    {"users", "username_lc_1", "{\"username_lc\": 1}", true},
    {"users", "display_name_lc_1", "{\"display_name_lc\": 1}", false},
    {"tweets_0", "author_id_1_created_at_-1",
     "{\"author_id\": 1, \"created_at\": -1}", false},
    {"tweets_0", "words_1_created_at_-1", "{\"words\": 1, \"created_at\": -1}",
     false},
    {"event_bells", "key_1", "{\"key\": 1}", true},
    {"event_bells", "at_1", "{\"at\": 1}", false},
    {"txn_open", "deadline_1", "{\"deadline\": 1}", false},
};
#define N_DECLARED (sizeof declared / sizeof declared[0])

/* Whether coll has an index called name. */
static bool has_index(tc_db_t *db, const char *coll, const char *name) {
  mongoc_collection_t *c = mongoc_database_get_collection(db->db, coll);
  mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(c, NULL);
  const bson_t *index;
  bool found = false;
  while (mongoc_cursor_next(cursor, &index)) {
    bson_iter_t it;
    found = found || (bson_iter_init_find(&it, index, "name") &&
                      BSON_ITER_HOLDS_UTF8(&it) &&
                      !strcmp(bson_iter_utf8(&it, NULL), name));
  }
  bson_error_t err;
  assert_false(mongoc_cursor_error(cursor, &err));
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(c);
  return found;
}

static void create_index(tc_db_t *db, const declared_t *d) {
  bson_error_t err;
  bson_t *keys = bson_new_from_json((const uint8_t *)d->keys, -1, &err);
  assert_non_null(keys);
  bson_t *cmd =
      BCON_NEW("createIndexes", BCON_UTF8(d->coll), "indexes", "[", "{", "key",
               BCON_DOCUMENT(keys), "name", BCON_UTF8(d->name), "unique",
               BCON_BOOL(d->unique), "}", "]");
  assert_true(mongoc_database_command_simple(db->db, cmd, NULL, NULL, &err));
  bson_destroy(cmd);
  bson_destroy(keys);
}

/* The number of items of GET path. */
static int items_of(tc_client_t *c, const char *path) {
  tc_response_t r;
  tc_request(c, "GET", path, NULL, 0, NULL, &r);
  assert_int_equal(r.status, 200);
  int n = tc_json_array_len(&r, "items");
  tc_response_free(&r);
  return n;
}

static void test_indexes_by_kind(void **state) {
  (void)state;
  char db_name[64];
  snprintf(db_name, sizeof db_name, "indexes_%d", (int)getpid());
  tc_db_t db;
  tc_db_open(&db, NULL, db_name);
  bool ferretdb = tc_db_is_ferretdb(&db);
  /* As an earlier start, or an operator, would have left them. */
  for (size_t i = 0; i < N_DECLARED; i++) {
    create_index(&db, &declared[i]);
    assert_true(has_index(&db, declared[i].coll, declared[i].name));
  }

  tc_server_t a;
  tc_server_init(&a, "a", db_name);
  assert_true(tc_server_start(&a));
  for (size_t i = 0; i < N_DECLARED; i++) {
    const declared_t *d = &declared[i];
    bool want = d->unique || !ferretdb;
    if (has_index(&db, d->coll, d->name) != want) {
      fail_msg("%s.%s: %s after the start (%s)", d->coll, d->name,
               want ? "missing" : "still there",
               ferretdb ? "FerretDB" : "MongoDB");
    }
  }

  /* What those indexes serve on MongoDB still answers. */
  char name[31], id[25];
  tc_client_t *c = tc_new_user(a.url, "idx", name);
  tc_post_tweet(c, "indexed #indexless wordsearch", id);
  char path[160];
  snprintf(path, sizeof path, "/api/users/%s/tweets", name);
  assert_int_equal(items_of(c, path), 1);
  assert_int_equal(items_of(c, "/api/search?q=wordsearch"), 1);
  assert_int_equal(items_of(c, "/api/tags/indexless"), 1);
  snprintf(path, sizeof path, "/api/users/%s", name);
  tc_response_t r;
  tc_request(c, "GET", path, NULL, 0, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(tc_json_int(&r, "tweet_count"), 1);
  tc_response_free(&r);

  /* The unique index still refuses a name taken in another case. */
  for (char *p = name; *p; p++) {
    *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
  }
  char body[128];
  snprintf(body, sizeof body,
           "{\"username\":\"%s\",\"password\":\"another-password-1\"}", name);
  tc_client_t *other = tc_client_new(a.url);
  tc_request(other, "POST", "/api/register", body, strlen(body), NULL, &r);
  assert_int_equal(r.status, 409);
  tc_response_free(&r);

  tc_client_destroy(other);
  tc_client_destroy(c);
  tc_server_kill(&a, SIGTERM);
  tc_db_drop(&db);
  tc_db_close(&db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_indexes_by_kind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
