/*
 * api_feed.c - what is for me:
 *   GET  /api/feed                        tweets of followees and mine
 *   GET  /api/tweet                       the global timeline
 *   GET  /api/search?q=&type=users|tweets users by prefix, tweets by words
 *   GET  /api/notifications               notifications and unread count
 *   POST /api/notifications/read          {"ok":true,"unread":0}
 */
#include <string.h>

#include "server/api/api.h"
#include "server/domain/follows.h"
#include "server/domain/notifications.h"
#include "server/readmodel/reads.h"
#include "server/domain/render.h"
#include "server/domain/search.h"
#include "server/domain/sessions.h"
#include "server/app/server.h"

/* What a feed or timeline request asks for, and who asks. */
typedef struct page_request {
  size_t limit;
  page_cursor_t before;
  bool has_before;
  bool fresh; /* the read model may answer (reads_fresh) */
  bool logged_in;
  bson_oid_t viewer;
} page_request_t;

/* Parses the page parameters, waits for freshness, finds the viewer;
 * false with err (400, 503) otherwise. */
static bool read_page_request(http_request_t *req, page_request_t *pr,
                              chorus_error_t *err) {
  char token[SESSION_TOKEN_LEN + 2];
  if (!api_page_params(req, &pr->limit, &pr->before, &pr->has_before, err)) {
    return false;
  }
  pr->fresh = reads_fresh(req->server, reads_seen(req));
  return reads_viewer(
      req->server, pr->fresh,
      http_cookie(req, SESSION_COOKIE, token, sizeof token) ? token : NULL,
      &pr->viewer, &pr->logged_in, err);
}

void api_feed(http_request_t *req) {
  chorus_error_t err;
  page_request_t pr;
  tweet_page_t page;
  if (!read_page_request(req, &pr, &err)) {
    http_reply_error(req, &err);
    return;
  }
  if (!pr.logged_in) {
    chorus_error_set(&err, 401, "not_logged_in", "You are not logged in");
    http_reply_error(req, &err);
    return;
  }
  if (!reads_feed(req->server, pr.fresh, &pr.viewer,
                  pr.has_before ? &pr.before : NULL, pr.limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

void api_tweet_list(http_request_t *req) {
  chorus_error_t err;
  page_request_t pr;
  tweet_page_t page;
  if (!read_page_request(req, &pr, &err) ||
      !reads_timeline(req->server, pr.fresh, pr.logged_in ? &pr.viewer : NULL,
                      pr.has_before ? &pr.before : NULL, pr.limit, &page,
                      &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

/* ?q= : 1..SEARCH_QUERY_MAX code points of valid UTF-8. */
static bool read_query(http_request_t *req, char *q, size_t size,
                       chorus_error_t *err) {
  bool bad;
  if (!http_query_param(req, "q", q, size, &bad, err) || !q[0] ||
      !utf8_is_valid(q, strlen(q)) ||
      utf8_count_code_points(q, strlen(q)) > SEARCH_QUERY_MAX) {
    chorus_error_set(err, 400, "invalid_query",
                     "q must be 1 to %d characters of text",
                     SEARCH_QUERY_MAX);
    return false;
  }
  return true;
}

static void search_users(http_request_t *req, const char *q) {
  chorus_error_t err;
  size_t limit;
  char before[NAME_CURSOR_MAX + 1], after[USERNAME_MAX * 4 + 1];
  bool has_before;
  if (!api_list_params(req, &limit, before, sizeof before, &has_before,
                       &err)) {
    http_reply_error(req, &err);
    return;
  }
  if (has_before && !name_cursor_decode(before, after, sizeof after)) {
    chorus_error_set(&err, 400, "invalid_cursor",
                     "before is not a cursor this server issued");
    http_reply_error(req, &err);
    return;
  }
  user_page_t page;
  if (!users_search(req->server->db, req->server->sync, q, strlen(q),
                    has_before ? after : NULL, limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  render_user_page(&doc, &page);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
  user_page_destroy(&page);
}

static void search_tweets(http_request_t *req, const char *q) {
  chorus_error_t err;
  size_t limit;
  page_cursor_t before;
  bool has_before, logged_in;
  user_t viewer;
  if (!api_page_params(req, &limit, &before, &has_before, &err) ||
      !api_viewer(req, &viewer, &logged_in, &err)) {
    http_reply_error(req, &err);
    return;
  }
  char *words[SEARCH_MAX_WORDS];
  size_t n = search_words(q, strlen(q), words, SEARCH_MAX_WORDS);
  tweet_page_t page;
  bool ok;
  if (n == 0) {
    /* Only punctuation or symbols: no word can match. */
    memset(&page, 0, sizeof page);
    ok = true;
  } else {
    tweet_query_t tq = {.kind = TWEETS_WITH_WORDS, .words = words,
                        .n_words = n};
    ok = tweets_list(req->server->db, req->server->sync, &tq,
                     has_before ? &before : NULL, limit,
                     logged_in ? &viewer : NULL, &page, &err);
  }
  search_words_free(words, n);
  if (!ok) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

void api_search(http_request_t *req) {
  chorus_error_t err;
  char q[SEARCH_QUERY_MAX * 4 + 1], type[16];
  bool bad;
  if (!read_query(req, q, sizeof q, &err)) {
    http_reply_error(req, &err);
    return;
  }
  if (!http_query_param(req, "type", type, sizeof type, &bad, &err)) {
    if (bad) {
      chorus_error_set(&err, 400, "invalid_type",
                       "type must be users or tweets");
      http_reply_error(req, &err);
      return;
    }
    strcpy(type, "tweets"); /* the default */
  }
  if (!strcmp(type, "users")) {
    search_users(req, q);
  } else if (!strcmp(type, "tweets")) {
    search_tweets(req, q);
  } else {
    chorus_error_set(&err, 400, "invalid_type",
                     "type must be users or tweets");
    http_reply_error(req, &err);
  }
}

void api_notifications(http_request_t *req) {
  chorus_error_t err;
  user_t me;
  size_t limit;
  page_cursor_t before;
  bool has_before;
  notification_page_t page;
  if (!api_current_user(req, &me, &err) ||
      !api_page_params(req, &limit, &before, &has_before, &err) ||
      !notifications_list(req->server->db, req->server->sync, &me,
                          has_before ? &before : NULL, limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  render_notification_page(&doc, &page);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
  notification_page_destroy(&page);
}

void api_notifications_read(http_request_t *req) {
  chorus_error_t err;
  user_t me;
  if (!api_current_user(req, &me, &err) ||
      !notifications_mark_read(req->server->db, req->server->sync, &me,
                               &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_BOOL(&doc, "ok", true);
  BSON_APPEND_INT64(&doc, "unread", 0);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
