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
 * concurrent reposts and unreposts through both servers; tag pages
 * (GET /api/tags/<tag>: any letter case, any script, pages, edits,
 * deletions, 400 for what is no tag) and the trends (GET /api/trends:
 * distinct authors, edits, the tie rule), alike on both servers.
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
  /* A combining mark, a family of three emoji joined by ZWJ and a flag
   * before a mention: 1 + 1 + 1 + 5 + 1 + 2 + 1 code points. */
  snprintf(
      json, sizeof json,
      "{\"text\":\"e\xcc\x81 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa9"
      "\xe2\x80\x8d\xf0\x9f\x91\xa7 \xf0\x9f\x87\xab\xf0\x9f\x87\xb7 @%s\"}",
      bob);
  char id2[25];
  post_json(a, json, id2);
  snprintf(path, sizeof path, "/api/tweet/%s", id2);
  tc_response_t r2;
  tc_get_ok(b, path, &r2);
  assert_int_equal(tc_json_int(&r2, "entities.0.start"), 12);
  assert_int_equal(tc_json_int(&r2, "entities.0.end"), 13 + (int64_t)bl);
  tc_response_free(&r2);
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

/* The most a tweet's transaction carries without images: a reply that
 * quotes its parent and mentions ten accounts (each notified, live too). */
static void test_reply_quoting_and_mentioning_ten_commits_whole(void **state) {
  (void)state;
  char alice[31], names[10][31], parent[25], id[25], json[512];
  tc_client_t *a = tc_new_user(tc_url_a(), "ten", alice);
  tc_client_t *m[10];
  char text[300] = "";
  for (int i = 0; i < 10; i++) {
    m[i] = tc_new_user(tc_url_b(), "t", names[i]);
    strcat(text, "@");
    strcat(text, names[i]);
    strcat(text, " ");
  }
  tc_post_tweet(m[0], "the parent", parent);
  snprintf(json, sizeof json,
           "{\"text\":\"%s\",\"reply_to\":\"%s\",\"quote_of\":\"%s\"}", text,
           parent, parent);
  post_json(a, json, id);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(count_notifications(m[i], "mention", alice), 1);
  }
  assert_int_equal(count_notifications(m[0], "reply", alice), 1);
  assert_int_equal(count_notifications(m[0], "quote", alice), 1);
  assert_int_equal(tc_tweet_int(a, parent, "reply_count"), 1);
  assert_int_equal(tc_tweet_int(a, parent, "quote_count"), 1);
  for (int i = 0; i < 10; i++) {
    tc_client_destroy(m[i]);
  }
  tc_client_destroy(a);
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

/* A reply that quotes its own parent changes two counts of one tweet in
 * one transaction (one op naming the document once), and its deletion
 * takes both back. */
static void test_reply_quoting_its_parent(void **state) {
  (void)state;
  char alice[31], bob[31], id[25], rid[25], json[160];
  tc_client_t *a = tc_new_user(tc_url_a(), "rqp", alice);
  tc_client_t *b = tc_new_user(tc_url_b(), "rqp", bob);
  tc_post_tweet(a, "a parent", id);
  snprintf(json, sizeof json,
           "{\"text\":\"both\",\"reply_to\":\"%s\",\"quote_of\":\"%s\"}", id,
           id);
  post_json(b, json, rid);
  assert_int_equal(tc_tweet_int(a, id, "reply_count"), 1);
  assert_int_equal(tc_tweet_int(a, id, "quote_count"), 1);
  assert_int_equal(count_notifications(a, "reply", bob), 1);
  assert_int_equal(count_notifications(a, "quote", bob), 1);
  tc_response_t r;
  tc_delete_tweet(b, rid, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  assert_int_equal(tc_tweet_int(a, id, "reply_count"), 0);
  assert_int_equal(tc_tweet_int(a, id, "quote_count"), 0);
  tc_client_destroy(a);
  tc_client_destroy(b);
}

/* The author a reply replies to (reply_to_user) of item id in the list
 * at path, as c reads it: that username, or NULL when it is null. */
static const char *replied_to(tc_client_t *c, const char *path, const char *id,
                              tc_response_t *r) {
  tc_get_ok(c, path, r);
  int i = tc_item_index(r, id);
  if (i < 0) {
    print_error("%s: %s is not listed: %s\n", path, id, r->body);
  }
  assert_true(i >= 0);
  assert_true(tc_json_has(r, "items"));
  return tc_item_is_null(r, i, "reply_to_user")
             ? NULL
             : tc_item_str(r, i, "reply_to_user.username");
}

/* Every list names the author each reply replies to (reply_to_user), from
 * memory (the timeline) and from the database (a user's tweets, a
 * tweet's replies, search), on both servers; null for a tweet that is no
 * reply and once the parent is deleted. */
static void test_lists_name_the_author_replied_to(void **state) {
  (void)state;
  char alice[31], bob[31], word[31], text[80], pid[25], rid[25], r2id[25];
  char path[200];
  tc_client_t *a = tc_new_user(tc_url_a(), "rtu", alice);
  tc_client_t *b = tc_new_user(tc_url_b(), "rtu", bob);
  tc_unique_name("w", word);
  snprintf(text, sizeof text, "the parent %s", word);
  tc_post_tweet(a, text, pid);
  snprintf(text, sizeof text, "a reply %s", word);
  tc_post_reply(b, text, pid, rid);
  snprintf(text, sizeof text, "a reply to the reply %s", word);
  tc_post_reply(a, text, rid, r2id);

  const char *urls[] = {tc_url_a(), tc_url_b()};
  for (int k = 0; k < 2; k++) {
    tc_client_t *c = tc_client_new(urls[k]);
    tc_response_t r;
    assert_string_equal(replied_to(c, "/api/tweet", rid, &r), alice);
    tc_response_free(&r);
    assert_string_equal(replied_to(c, "/api/tweet", r2id, &r), bob);
    tc_response_free(&r);
    assert_null(replied_to(c, "/api/tweet", pid, &r));
    tc_response_free(&r);
    snprintf(path, sizeof path, "/api/users/%s/tweets", bob);
    assert_string_equal(replied_to(c, path, rid, &r), alice);
    tc_response_free(&r);
    snprintf(path, sizeof path, "/api/tweet/%s/replies", rid);
    assert_string_equal(replied_to(c, path, r2id, &r), bob);
    tc_response_free(&r);
    snprintf(path, sizeof path, "/api/search?q=%s", word);
    assert_string_equal(replied_to(c, path, rid, &r), alice);
    tc_response_free(&r);
    snprintf(path, sizeof path, "/api/tweet/%s", rid);
    tc_get_ok(c, path, &r);
    assert_string_equal(tc_json_str(&r, "reply_to_user.username"), alice);
    tc_response_free(&r);
    tc_client_destroy(c);
  }

  tc_response_t r;
  tc_delete_tweet(a, pid, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  for (int k = 0; k < 2; k++) {
    tc_client_t *c = tc_client_new(urls[k]);
    assert_null(replied_to(c, "/api/tweet", rid, &r));
    tc_response_free(&r);
    snprintf(path, sizeof path, "/api/users/%s/tweets", bob);
    assert_null(replied_to(c, path, rid, &r));
    tc_response_free(&r);
    assert_string_equal(replied_to(c, "/api/tweet", r2id, &r), bob);
    tc_response_free(&r);
    tc_client_destroy(c);
  }
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

/* GET path as c: the ids of its items into ids (at most 8), how many. */
static int list_ids(tc_client_t *c, const char *path, char ids[8][25]) {
  tc_response_t r;
  tc_get_ok(c, path, &r);
  int n = tc_json_array_len(&r, "items");
  for (int i = 0; i < n && i < 8; i++) {
    snprintf(ids[i], 25, "%s", tc_item_str(&r, i, "id"));
  }
  tc_response_free(&r);
  return n;
}

/* GET /api/tags/<tag> on A and B (as a and b): both exactly want[0..n),
 * newest first. */
static void expect_tag(tc_client_t *a, tc_client_t *b, const char *tag,
                       const char *const *want, int n) {
  char path[160];
  snprintf(path, sizeof path, "/api/tags/%s", tag);
  tc_assert_list(a, path, "id", want, n);
  tc_assert_list(b, path, "id", want, n);
}

static void test_tag_pages_list_tagged_tweets(void **state) {
  (void)state;
  char alice[31], bob[31], tag[31], upper[31], id1[25], id2[25], id3[25];
  char text[128], path[192], ids[8][25];
  tc_client_t *a = tc_new_user(tc_url_a(), "tga", alice);
  tc_client_t *b = tc_new_user(tc_url_b(), "tgb", bob);
  tc_unique_name("tg", tag);
  tc_upper(tag, upper);
  snprintf(text, sizeof text, "first #%s", tag);
  tc_post_tweet(a, text, id1);
  snprintf(text, sizeof text, "second #%s!", upper);
  tc_post_tweet(b, text, id2);
  snprintf(text, sizeof text, "another tag #%sx", tag);
  tc_post_tweet(a, text, id3);
  const char *both[] = {id2, id1};
  expect_tag(a, b, tag, both, 2);
  expect_tag(a, b, upper, both, 2); /* any letter case */
  /* Pages of one, like every list. */
  snprintf(path, sizeof path, "/api/tags/%s?limit=1", tag);
  tc_response_t r;
  tc_get_ok(b, path, &r);
  assert_string_equal(tc_item_str(&r, 0, "id"), id2);
  snprintf(path, sizeof path, "/api/tags/%s?limit=1&before=%s", tag,
           tc_json_str(&r, "next"));
  tc_response_free(&r);
  assert_int_equal(list_ids(a, path, ids), 1);
  assert_string_equal(ids[0], id1);
  snprintf(path, sizeof path, "/api/tags/%s", tag);
  tc_expect_paging_errors(a, path, "nonsense");
  /* An edit that drops the tag, a deletion. */
  snprintf(path, sizeof path, "/api/tweet/%s", id1);
  tc_expect_status(a, "PUT", path, "{\"text\":\"no tag now\"}", 200);
  expect_tag(a, b, tag, both, 1);
  tc_delete_tweet(b, id2, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  expect_tag(a, b, tag, NULL, 0);
  /* Letters of any script, folded. */
  snprintf(text, sizeof text, "#Caf\xc3\xa9%s", tag);
  tc_post_tweet(a, text, id1);
  snprintf(path, sizeof path, "/api/tags/CAF%%C3%%89%s", upper);
  assert_int_equal(list_ids(b, path, ids), 1);
  assert_string_equal(ids[0], id1);
  /* Not tags: 400; an unused tag: an empty list. */
  static const char *const bad[] = {
      "2024",
      "a-b",
      "%23abc",
      "a%20b",
      "_",
      "%C3",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(path, sizeof path, "/api/tags/%s", bad[i]);
    tc_expect_error(b, "GET", path, NULL, 400, "invalid_tag");
  }
  tc_expect_status(a, "GET", "/api/tags/", NULL, 404);
  snprintf(path, sizeof path, "/api/tags/%s_unused", tag);
  assert_int_equal(list_ids(a, path, ids), 0);
  tc_client_destroy(a);
  tc_client_destroy(b);
}

/* GET /api/trends on A and B: the same answer; the rank (0-based) and
 * count of tag, -1 when it is not among them. */
static int trend_rank(tc_client_t *a, tc_client_t *b, const char *tag,
                      int64_t *count) {
  tc_response_t ra, rb;
  tc_get_ok(a, "/api/trends", &ra);
  tc_get_ok(b, "/api/trends", &rb);
  assert_string_equal(ra.body, rb.body);
  tc_response_free(&rb);
  int n = tc_json_array_len(&ra, "items"), rank = -1;
  assert_true(n <= 10);
  for (int i = 0; i < n; i++) {
    if (i > 0) { /* more authors first, then the smaller tag */
      int64_t prev = tc_item_int(&ra, i - 1, "count");
      int64_t cur = tc_item_int(&ra, i, "count");
      assert_true(prev > cur ||
                  (prev == cur && strcmp(tc_item_str(&ra, i - 1, "tag"),
                                         tc_item_str(&ra, i, "tag")) < 0));
    }
    if (!strcmp(tc_item_str(&ra, i, "tag"), tag)) {
      rank = i;
      *count = tc_item_int(&ra, i, "count");
    }
  }
  tc_response_free(&ra);
  return rank;
}

#define TREND_USERS 7

static void test_trends_rank_tags_by_distinct_authors(void **state) {
  (void)state;
  char x[31], y[31], name[31], text[96], ids[TREND_USERS][25], path[64];
  tc_unique_name("zt", x); /* "zt..." sorts after "yt..." */
  tc_unique_name("yt", y);
  tc_client_t *c[TREND_USERS];
  for (int i = 0; i < TREND_USERS; i++) {
    c[i] = tc_new_user(i % 2 ? tc_url_b() : tc_url_a(), "trd", name);
    snprintf(text, sizeof text, "#%s", x);
    tc_post_tweet(c[i], text, ids[i]);
    if (i < TREND_USERS - 1) {
      snprintf(text, sizeof text, "#%s and #%s", y, y);
      tc_post_tweet(c[i], text, ids[i]); /* ids[i]: its #y tweet */
    }
  }
  char again[25];
  snprintf(text, sizeof text, "#%s again", x);
  tc_post_tweet(c[0], text, again);
  int64_t nx = 0, ny = 0;
  int rx = trend_rank(c[0], c[1], x, &nx), ry = trend_rank(c[0], c[1], y, &ny);
  assert_true(rx >= 0 && ry >= 0);
  assert_int_equal(nx, TREND_USERS); /* c[0] used it twice: one author */
  assert_int_equal(ny, TREND_USERS - 1);
  assert_true(rx < ry);
  /* c[5] drops #y from its tweet: y loses an author. */
  snprintf(path, sizeof path, "/api/tweet/%s", ids[5]);
  tc_expect_status(c[5], "PUT", path, "{\"text\":\"untagged\"}", 200);
  ry = trend_rank(c[0], c[1], y, &ny);
  assert_int_equal(ny, TREND_USERS - 2);
  /* Now with as many authors: the ranking's tie goes to the smaller tag. */
  tc_client_t *more = tc_new_user(tc_url_b(), "trd", name);
  snprintf(text, sizeof text, "#%s", y);
  tc_post_tweet(more, text, ids[0]);
  tc_client_t *more2 = tc_new_user(tc_url_a(), "trd", name);
  tc_post_tweet(more2, text, ids[0]);
  ry = trend_rank(c[0], c[1], y, &ny);
  rx = trend_rank(c[0], c[1], x, &nx);
  assert_int_equal(ny, TREND_USERS);
  assert_int_equal(nx, TREND_USERS);
  assert_true(ry >= 0 && ry < rx);
  tc_client_destroy(more2);
  tc_client_destroy(more);
  for (int i = 0; i < TREND_USERS; i++) {
    tc_client_destroy(c[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_entities_are_returned_on_every_server),
      cmocka_unit_test(test_mentions_notify_and_edits_only_new_ones),
      cmocka_unit_test(test_reply_quoting_and_mentioning_ten_commits_whole),
      cmocka_unit_test(test_history_lists_versions_newest_first),
      cmocka_unit_test(test_reposts_count_attribute_and_go_with_the_tweet),
      cmocka_unit_test(test_quotes_embed_count_and_survive_deletion),
      cmocka_unit_test(test_reply_quoting_its_parent),
      cmocka_unit_test(test_lists_name_the_author_replied_to),
      cmocka_unit_test(test_repost_count_exact_under_concurrency),
      cmocka_unit_test(test_tag_pages_list_tagged_tweets),
      cmocka_unit_test(test_trends_rank_tags_by_distinct_authors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
