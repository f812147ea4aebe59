/*
 * api_tweets.c - the tweet routes of the original API:
 *   GET  /api/tweet?limit=&before=   200 {"items":[tweet...],"next"}
 *   POST /api/tweet      {"text"}    201 tweet (logged in)
 *   PUT  /api/tweet/:id  {"text"}    200 tweet (author only)
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "render.h"
#include "server.h"
#include "tweets.h"

/* Parses ?limit= (default TWEET_PAGE_DEFAULT) and ?before=. */
static bool read_page_params(http_request_t *req, size_t *limit,
                             page_cursor_t *before, bool *has_before,
                             chorus_error_t *err) {
  char buf[64];
  bool bad;
  *limit = TWEET_PAGE_DEFAULT;
  if (http_query_param(req, "limit", buf, sizeof buf, &bad, err)) {
    char *end;
    long v = strtol(buf, &end, 10);
    if (!buf[0] || *end || v < 1 || v > TWEET_PAGE_MAX) {
      chorus_error_set(err, 400, "invalid_limit",
                       "limit must be a whole number from 1 to %d",
                       TWEET_PAGE_MAX);
      return false;
    }
    *limit = (size_t)v;
  } else if (bad) {
    return false;
  }
  *has_before = false;
  if (http_query_param(req, "before", buf, sizeof buf, &bad, err)) {
    if (!page_cursor_decode(buf, before)) {
      chorus_error_set(err, 400, "invalid_cursor",
                       "before is not a cursor this server issued");
      return false;
    }
    *has_before = true;
  } else if (bad) {
    return false;
  }
  return true;
}

void api_tweet_list(http_request_t *req) {
  chorus_error_t err;
  size_t limit;
  page_cursor_t before;
  bool has_before;
  tweet_page_t page;
  if (!read_page_params(req, &limit, &before, &has_before, &err) ||
      !tweets_list(req->server->db, req->server->sync,
                   has_before ? &before : NULL, limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  render_tweet_page(&doc, &page);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
  tweet_page_destroy(&page);
}

/* Reads {"text"} from the body. */
static bool read_text(http_request_t *req, bson_t *body, const char **text,
                      size_t *len, chorus_error_t *err) {
  if (!http_read_json(req, true, body, err)) {
    return false;
  }
  if (!json_get_string(body, "text", true, text, len, err)) {
    bson_destroy(body);
    return false;
  }
  return true;
}

static void reply_tweet(http_request_t *req, int status, const tweet_t *t) {
  bson_t doc = BSON_INITIALIZER;
  render_tweet(&doc, t);
  http_reply_json(req, status, &doc, NULL);
  bson_destroy(&doc);
}

void api_tweet_create(http_request_t *req) {
  chorus_error_t err;
  user_t me;
  bson_t body;
  const char *text;
  size_t len;
  if (!api_current_user(req, &me, &err) ||
      !read_text(req, &body, &text, &len, &err)) {
    http_reply_error(req, &err);
    return;
  }
  tweet_t t;
  bool ok = tweets_create(req->server->db, req->server->sync, &me, text, len,
                          &t, &err);
  bson_destroy(&body);
  if (ok) {
    reply_tweet(req, 201, &t);
  } else {
    http_reply_error(req, &err);
  }
}

void api_tweet_edit(http_request_t *req) {
  chorus_error_t err;
  user_t me;
  bson_t body;
  const char *text;
  size_t len;
  if (!api_current_user(req, &me, &err) ||
      !read_text(req, &body, &text, &len, &err)) {
    http_reply_error(req, &err);
    return;
  }
  tweet_t t;
  bool ok = tweets_edit(req->server->db, req->server->sync, &me,
                        req->params[0], text, len, &t, &err);
  bson_destroy(&body);
  if (ok) {
    reply_tweet(req, 200, &t);
  } else {
    http_reply_error(req, &err);
  }
}
