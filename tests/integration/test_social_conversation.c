/*
 * test_social_conversation.c - mentions, hashtags and URLs, edit
 * history, reposts and quotes (docs/API.md), on both servers and the
 * real database: entities with code-point offsets on every tweet
 * (mentions of existing users only, in their spelling); "mention"
 * notifications (not oneself; an edit notifies only new mentions);
 * GET /api/tweet/<id>/history; reposts idempotent, counted, attributed
 * in followers' home feeds and gone with the original, notifying the
 * author; quotes embedding the quoted tweet, counted, notifying, and
 * showing it unavailable once deleted; repost_count exact under
 * concurrent reposts and unreposts through both servers.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"

/* POSTs json to /api/tweet as c; 201; its id into id. */
static void post_json(tc_client_t *c, const char *json, char id[25]) {
  tc_response_t r;
  tc_send(c, "POST", "/api/tweet", json, &r);
  tc_assert_status(&r, 201);
  snprintf(id, 25, "%s", tc_json_str(&r, "id"));
  tc_response_free(&r);
}

/* How many notifications of type by actor c's user has. */
static int count_notifications(tc_client_t *c, const char *type,
                               const char *actor) {
  tc_response_t r;
  tc_get_ok(c, "/api/notifications", &r);
  int n = 0, len = tc_json_array_len(&r, "items");
  for (int i = 0; i < len; i++) {
    if (!strcmp(tc_item_str(&r, i, "type"), type) &&
        !strcmp(tc_item_str(&r, i, "actor.username"), actor)) {
      n++;
    }
  }
  tc_response_free(&r);
  return n;
}

static void test_entities_are_returned_on_every_server(void **state) {
  (void)state;
  char alice[31], bob[31], id[25], json[512], upper[31];
  tc_client_t *a = tc_new_user(tc_url_a(), "ent", alice);
  tc_client_t *b = tc_new_user(tc_url_b(), "ent", bob);
  tc_upper(bob, upper);
  /* "é" is one code point of two bytes: offsets count code points. */
  snprintf(json, sizeof json,
           "{\"text\":\"\xc3\xa9 @%s @nobody_here_zz #Chorus "
           "https://x.org/a.\"}",
           upper);
  post_json(a, json, id);
  char path[64];
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_response_t r;
  tc_get_ok(b, path, &r);
  assert_int_equal(tc_json_array_len(&r, "entities"), 3);
  size_t bl = strlen(bob);
  assert_string_equal(tc_json_str(&r, "entities.0.type"), "mention");
  assert_int_equal(tc_json_int(&r, "entities.0.start"), 2);
  assert_int_equal(tc_json_int(&r, "entities.0.end"), 3 + (int64_t)bl);
  assert_string_equal(tc_json_str(&r, "entities.0.username"), bob);
  assert_string_equal(tc_json_str(&r, "entities.1.type"), "hashtag");
  assert_string_equal(tc_json_str(&r, "entities.1.tag"), "chorus");
  int64_t tag_start = 3 + (int64_t)bl + 1 + 15 + 1;
  assert_int_equal(tc_json_int(&r, "entities.1.start"), tag_start);
  assert_int_equal(tc_json_int(&r, "entities.1.end"), tag_start + 7);
  assert_string_equal(tc_json_str(&r, "entities.2.type"), "url");
  assert_string_equal(tc_json_str(&r, "entities.2.url"), "https://x.org/a");
  tc_response_free(&r);
  /* The same entities in lists. */
  snprintf(path, sizeof path, "/api/users/%s/tweets", alice);
  tc_get_ok(a, path, &r);
  assert_string_equal(tc_json_str(&r, "items.0.entities.0.username"), bob);
  tc_response_free(&r);
  tc_client_destroy(a);
  tc_client_destroy(b);
}

static void test_mentions_notify_and_edits_only_new_ones(void **state) {
  (void)state;
  char alice[31], bob[31], carol[31], id[25], json[256], path[64];
  tc_client_t *a = tc_new_user(tc_url_a(), "men", alice);
  tc_client_t *b = tc_new_user(tc_url_b(), "men", bob);
  tc_client_t *c = tc_new_user(tc_url_b(), "men", carol);
  snprintf(json, sizeof json, "{\"text\":\"hi @%s and me @%s\"}", bob, alice);
  post_json(a, json, id);
  assert_int_equal(count_notifications(b, "mention", alice), 1);
  assert_int_equal(count_notifications(a, "mention", alice), 0); /* self */
  /* An edit naming bob again and carol newly notifies carol only. */
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  snprintf(json, sizeof json, "{\"text\":\"hi @%s and @%s\"}", bob, carol);
  tc_expect_status(a, "PUT", path, json, 200);
  assert_int_equal(count_notifications(b, "mention", alice), 1);
  assert_int_equal(count_notifications(c, "mention", alice), 1);
  tc_response_t r;
  tc_get_ok(c, "/api/notifications", &r);
  assert_string_equal(tc_json_str(&r, "items.0.tweet"), id);
  tc_response_free(&r);
  tc_client_destroy(a);
  tc_client_destroy(b);
  tc_client_destroy(c);
}

static void test_history_lists_versions_newest_first(void **state) {
  (void)state;
  char alice[31], id[25], path[96];
  tc_client_t *a = tc_new_user(tc_url_a(), "his", alice);
  post_json(a, "{\"text\":\"first\"}", id);
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_expect_status(a, "PUT", path, "{\"text\":\"second\"}", 200);
  tc_client_t *b = tc_same_user_on(a, tc_url_b());
  tc_expect_status(b, "PUT", path, "{\"text\":\"third\"}", 200);
  snprintf(path, sizeof path, "/api/tweet/%s/history", id);
  tc_response_t r;
  tc_get_ok(b, path, &r);
  assert_int_equal(tc_json_array_len(&r, "items"), 3);
  assert_string_equal(tc_json_str(&r, "items.0.text"), "third");
  assert_true(tc_json_bool(&r, "items.0.current"));
  assert_string_equal(tc_json_str(&r, "items.1.text"), "second");
  assert_false(tc_json_bool(&r, "items.1.current"));
  assert_string_equal(tc_json_str(&r, "items.2.text"), "first");
  assert_true(tc_is_rfc3339(tc_json_str(&r, "items.2.created_at")));
  tc_response_free(&r);
  tc_expect_status(a, "GET", "/api/tweet/000000000000000000000000/history",
                   NULL, 404);
  tc_client_destroy(a);
  tc_client_destroy(b);
}

static void test_reposts_count_attribute_and_go_with_the_tweet(void **state) {
  (void)state;
  char alice[31], bob[31], carol[31], id[25], path[96];
  tc_client_t *a = tc_new_user(tc_url_a(), "rep", alice);
  tc_client_t *b = tc_new_user(tc_url_b(), "rep", bob);
  tc_client_t *c = tc_new_user(tc_url_a(), "rep", carol);
  tc_follow(c, bob); /* carol follows the reposter, not the author */
  tc_post_tweet(a, "worth sharing", id);
  snprintf(path, sizeof path, "/api/tweet/%s/repost", id);
  tc_response_t r;
  for (int i = 0; i < 2; i++) { /* idempotent */
    tc_post_empty(b, path, &r);
    tc_assert_status(&r, 200);
    assert_int_equal(tc_json_int(&r, "repost_count"), 1);
    assert_true(tc_json_bool(&r, "reposted_by_me"));
    tc_response_free(&r);
  }
  assert_int_equal(count_notifications(a, "repost", bob), 1);
  tc_get_ok(c, "/api/feed", &r);
  int at = tc_item_index(&r, id);
  assert_true(at >= 0);
  assert_string_equal(tc_item_str(&r, at, "reposted_by.username"), bob);
  int count = 0;
  for (int i = 0; i < tc_json_array_len(&r, "items"); i++) {
    count += !strcmp(tc_item_str(&r, i, "id"), id);
  }
  assert_int_equal(count, 1);
  tc_response_free(&r);
  /* Unrepost, twice: idempotent. */
  for (int i = 0; i < 2; i++) {
    tc_send(b, "DELETE", path, NULL, &r);
    tc_assert_status(&r, 200);
    assert_int_equal(tc_json_int(&r, "repost_count"), 0);
    assert_false(tc_json_bool(&r, "reposted_by_me"));
    tc_response_free(&r);
  }
  tc_get_ok(c, "/api/feed", &r);
  assert_int_equal(tc_item_index(&r, id), -1);
  tc_response_free(&r);
  /* Reposted again, then the original deleted: out of the feed. */
  tc_post_empty(b, path, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_delete_tweet(a, id, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_get_ok(c, "/api/feed", &r);
  assert_int_equal(tc_item_index(&r, id), -1);
  tc_response_free(&r);
  tc_post_empty(b, path, &r);
  tc_assert_status(&r, 404);
  tc_response_free(&r);
  tc_client_destroy(a);
  tc_client_destroy(b);
  tc_client_destroy(c);
}

static void test_quotes_embed_count_and_survive_deletion(void **state) {
  (void)state;
  char alice[31], bob[31], id[25], qid[25], json[128], path[64];
  tc_client_t *a = tc_new_user(tc_url_a(), "quo", alice);
  tc_client_t *b = tc_new_user(tc_url_b(), "quo", bob);
  tc_post_tweet(a, "the original", id);
  snprintf(json, sizeof json, "{\"text\":\"so true\",\"quote_of\":\"%s\"}", id);
  tc_response_t r;
  tc_send(b, "POST", "/api/tweet", json, &r);
  tc_assert_status(&r, 201);
  snprintf(qid, sizeof qid, "%s", tc_json_str(&r, "id"));
  assert_string_equal(tc_json_str(&r, "quote_of"), id);
  assert_true(tc_json_bool(&r, "quote.available"));
  assert_string_equal(tc_json_str(&r, "quote.text"), "the original");
  assert_string_equal(tc_json_str(&r, "quote.author.username"), alice);
  tc_response_free(&r);
  assert_int_equal(tc_tweet_int(a, id, "quote_count"), 1);
  assert_int_equal(count_notifications(a, "quote", bob), 1);
  tc_expect_error(b, "POST", "/api/tweet",
                  "{\"text\":\"x\",\"quote_of\":\"000000000000000000000000\"}",
                  404, "tweet_not_found");
  tc_expect_error(b, "POST", "/api/tweet", "{\"text\":\"x\",\"quote_of\":7}",
                  400, "invalid_type");
  tc_delete_tweet(a, id, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  snprintf(path, sizeof path, "/api/tweet/%s", qid);
  tc_get_ok(a, path, &r);
  assert_false(tc_json_bool(&r, "quote.available"));
  assert_string_equal(tc_json_str(&r, "quote.id"), id);
  assert_false(tc_json_has(&r, "quote.text"));
  tc_response_free(&r);
  tc_client_destroy(a);
  tc_client_destroy(b);
}

#define REPOSTERS 8

typedef struct reposter {
  tc_client_t *c;
  const char *path;
  const char *method;
} reposter_t;

static void *repost_main(void *arg) {
  reposter_t *w = arg;
  tc_response_t r;
  if (!strcmp(w->method, "POST")) {
    tc_post_empty(w->c, w->path, &r);
  } else {
    tc_send(w->c, w->method, w->path, NULL, &r);
  }
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  return NULL;
}

/* Every reposter at once, half through each server. */
static void burst(reposter_t *w, const char *method) {
  pthread_t th[REPOSTERS];
  for (int i = 0; i < REPOSTERS; i++) {
    w[i].method = method;
    assert_int_equal(pthread_create(&th[i], NULL, repost_main, &w[i]), 0);
  }
  for (int i = 0; i < REPOSTERS; i++) {
    pthread_join(th[i], NULL);
  }
}

static void test_repost_count_exact_under_concurrency(void **state) {
  (void)state;
  char alice[31], id[25], path[96], name[31];
  tc_client_t *a = tc_new_user(tc_url_a(), "hot", alice);
  tc_post_tweet(a, "everyone repost this", id);
  snprintf(path, sizeof path, "/api/tweet/%s/repost", id);
  reposter_t w[REPOSTERS];
  for (int i = 0; i < REPOSTERS; i++) {
    w[i].c = tc_new_user(i % 2 ? tc_url_b() : tc_url_a(), "hot", name);
    w[i].path = path;
  }
  burst(w, "POST");
  assert_int_equal(tc_tweet_int(a, id, "repost_count"), REPOSTERS);
  burst(w, "POST"); /* idempotent under concurrency too */
  assert_int_equal(tc_tweet_int(a, id, "repost_count"), REPOSTERS);
  burst(w, "DELETE");
  assert_int_equal(tc_tweet_int(a, id, "repost_count"), 0);
  for (int i = 0; i < REPOSTERS; i++) {
    tc_client_destroy(w[i].c);
  }
  tc_client_destroy(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_entities_are_returned_on_every_server),
      cmocka_unit_test(test_mentions_notify_and_edits_only_new_ones),
      cmocka_unit_test(test_history_lists_versions_newest_first),
      cmocka_unit_test(test_reposts_count_attribute_and_go_with_the_tweet),
      cmocka_unit_test(test_quotes_embed_count_and_survive_deletion),
      cmocka_unit_test(test_repost_count_exact_under_concurrency),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
