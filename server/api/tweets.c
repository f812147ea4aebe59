/*
 * tweets.c - tweets:
 *   POST   /api/tweet  {"text","reply_to"?,"quote_of"?,"media"?}
 *                                           201 tweet
 *          (media: up to 4 uploads, each its id or {"id","alt"?}; text
 *          may be empty or absent when there is one)
 *   GET    /api/tweet/:id                   tweet
 *   PUT    /api/tweet/:id  {"text"}         edited tweet (author only)
 *   DELETE /api/tweet/:id                   {"ok":true} (author only)
 *   GET    /api/tweet/:id/replies           replies, oldest first
 *   POST   /api/tweet/:id/like              tweet, liked
 *   DELETE /api/tweet/:id/like              tweet, not liked
 *   POST   /api/tweet/:id/repost            tweet, reposted
 *   DELETE /api/tweet/:id/repost            tweet, not reposted
 *   GET    /api/tweet/:id/history           {items: [{text, created_at,
 *                                           current}]}, newest first
 * The global timeline, GET /api/tweet, is in feed.c.
 */
#include <string.h>

#include "server/api/api.h"
#include "server/domain/likes.h"
#include "server/domain/render.h"
#include "server/domain/reposts.h"

void api_tweet_replies(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  api_page_t p;
  tweet_page_t page;
  if (!api_page_request(req, &p, &err) ||
      !tweets_list_replies(api->db, api->sync, req->params[0], p.before,
                           p.limit, p.viewer, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

/* Reads {"text"} (and, when reply_to is not NULL, the optional
 * "reply_to", "quote_of" and "media", into media) from the body; body
 * is then the caller's (media's ids and alt texts point into it).  A new
 * tweet with images may leave its text out (""). */
static bool read_text(http_request_t *req, bson_t *body, const char **text,
                      size_t *len, const char **reply_to, const char **quote_of,
                      media_request_t *media, chorus_error_t *err) {
  if (!http_read_json(req, true, body, err)) {
    return false;
  }
  size_t other_len;
  if (!json_get_string(body, "text", !reply_to, text, len, err) ||
      (reply_to &&
       (!json_get_string(body, "reply_to", false, reply_to, &other_len, err) ||
        !json_get_string(body, "quote_of", false, quote_of, &other_len, err) ||
        !api_media_request(body, media, err)))) {
    bson_destroy(body);
    return false;
  }
  if (!*text && !(media && media->n > 0)) {
    chorus_error_set(err, 400, "missing_field", "text is required");
    bson_destroy(body);
    return false;
  }
  if (!*text) {
    *text = ""; /* images alone */
  }
  return true;
}

void api_tweet_create(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  bson_t body;
  const char *text, *reply_to = NULL, *quote_of = NULL;
  size_t len;
  media_request_t media = {.n = 0};
  if (!api_current_user(req, &me, &err) ||
      !read_text(req, &body, &text, &len, &reply_to, &quote_of, &media, &err)) {
    http_reply_error(req, &err);
    return;
  }
  tweet_t t;
  ratelimit_gate_t gate;
  api_gate(req, &me, &gate);
  bool ok = tweets_create(api->db, api->sync, &me, text, len, reply_to,
                          quote_of, &media, &gate, &t, &err);
  bson_destroy(&body);
  if (ok) {
    api_reply_tweet(req, 201, &t);
    tweet_release(&t);
  } else {
    api_reply_error(req, &err, gate.retry_after);
  }
}

void api_tweet_get(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t viewer;
  bool logged_in;
  tweet_t t;
  if (!api_viewer(req, &viewer, &logged_in, &err) ||
      !tweets_get(api->db, api->sync, logged_in ? &viewer : NULL,
                  req->params[0], &t, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet(req, 200, &t);
  tweet_release(&t);
}

void api_tweet_edit(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  bson_t body;
  const char *text;
  size_t len;
  if (!api_current_user(req, &me, &err) ||
      !read_text(req, &body, &text, &len, NULL, NULL, NULL, &err)) {
    http_reply_error(req, &err);
    return;
  }
  tweet_t t;
  bool ok =
      tweets_edit(api->db, api->sync, &me, req->params[0], text, len, &t, &err);
  bson_destroy(&body);
  if (ok) {
    api_reply_tweet(req, 200, &t);
    tweet_release(&t);
  } else {
    http_reply_error(req, &err);
  }
}

void api_tweet_delete(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  if (!api_read_no_body(req, &err) || !api_current_user(req, &me, &err) ||
      !tweets_delete(api->db, api->sync, &me, req->params[0], &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_ok(req);
}

/* A like or a repost (set) being made or undone (on), as the route
 * says. */
static void set_mark(http_request_t *req,
                     bool (*set)(db_t *, sync_t *, const user_t *, const char *,
                                 bool, ratelimit_gate_t *, tweet_t *,
                                 chorus_error_t *),
                     bool on) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  tweet_t t;
  ratelimit_gate_t gate = {.retry_after = 0};
  bool ok = api_read_no_body(req, &err) && api_current_user(req, &me, &err);
  if (ok) {
    api_gate(req, &me, &gate);
    ok = set(api->db, api->sync, &me, req->params[0], on, &gate, &t, &err);
  }
  if (!ok) {
    api_reply_error(req, &err, gate.retry_after);
    return;
  }
  api_reply_tweet(req, 200, &t);
  tweet_release(&t);
}

void api_tweet_like(http_request_t *req) { set_mark(req, likes_set, true); }
void api_tweet_unlike(http_request_t *req) { set_mark(req, likes_set, false); }
void api_tweet_repost(http_request_t *req) { set_mark(req, reposts_set, true); }
void api_tweet_unrepost(http_request_t *req) {
  set_mark(req, reposts_set, false);
}

void api_tweet_history(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  tweet_history_t h;
  if (!tweets_history(api->db, api->sync, req->params[0], &h, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  render_history(&doc, &h);
  tweet_history_destroy(&h);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
