/*
 * api_users.c - profiles and follows:
 *   PATCH  /api/me  {"display_name"?, "bio"?}   200 profile
 *   GET    /api/users/:name                      200 profile
 *   GET    /api/users/:name/tweets               their tweets
 *   POST   /api/users/:name/follow               200 profile
 *   DELETE /api/users/:name/follow               200 profile
 *   GET    /api/users/:name/followers            user summaries
 *   GET    /api/users/:name/following            user summaries
 */
#include <string.h>

#include "server/api/api.h"
#include "server/domain/follows.h"
#include "server/domain/render.h"
#include "server/app/server.h"

static void reply_profile(http_request_t *req, const user_t *u,
                          bool followed_by_me) {
  bson_t doc = BSON_INITIALIZER;
  render_profile(&doc, u, followed_by_me);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}

/* The user named by the path, or 404. */
static bool path_user(http_request_t *req, user_t *u, chorus_error_t *err) {
  const char *name = req->params[0];
  return users_find_by_username(req->server->db, req->server->sync, name,
                                strlen(name), u, err);
}

void api_me_update(http_request_t *req) {
  chorus_error_t err;
  user_t me, updated;
  bson_t body;
  const char *display_name, *bio;
  size_t dn_len, bio_len;
  if (!api_current_user(req, &me, &err) ||
      !http_read_json(req, true, &body, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bool ok =
      json_get_string(&body, "display_name", false, &display_name, &dn_len,
                      &err) &&
      json_get_string(&body, "bio", false, &bio, &bio_len, &err) &&
      users_update_profile(req->server->db, req->server->sync, &me,
                           display_name, dn_len, bio, bio_len, &updated,
                           &err);
  bson_destroy(&body);
  if (ok) {
    reply_profile(req, &updated, false);
  } else {
    http_reply_error(req, &err);
  }
}

void api_user_get(http_request_t *req) {
  chorus_error_t err;
  user_t u, viewer;
  bool logged_in, following = false;
  if (!api_viewer(req, &viewer, &logged_in, &err) ||
      !path_user(req, &u, &err) ||
      (logged_in && !follows_check(req->server->db, req->server->sync,
                                   &viewer.id, &u.id, &following, &err))) {
    http_reply_error(req, &err);
    return;
  }
  reply_profile(req, &u, following);
}

void api_user_tweets(http_request_t *req) {
  chorus_error_t err;
  user_t u, viewer;
  bool logged_in, has_before;
  size_t limit;
  page_cursor_t before;
  tweet_page_t page;
  if (!api_page_params(req, &limit, &before, &has_before, &err) ||
      !api_viewer(req, &viewer, &logged_in, &err) ||
      !path_user(req, &u, &err)) {
    http_reply_error(req, &err);
    return;
  }
  tweet_query_t q = {.kind = TWEETS_BY_AUTHOR, .author = u.id};
  if (!tweets_list(req->server->db, req->server->sync, &q,
                   has_before ? &before : NULL, limit,
                   logged_in ? &viewer : NULL, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

static void set_follow(http_request_t *req, bool follow) {
  chorus_error_t err;
  user_t me, target;
  const char *name = req->params[0];
  if (!api_current_user(req, &me, &err) ||
      !follows_set(req->server->db, req->server->sync, &me, name,
                   strlen(name), follow, &target, &err)) {
    http_reply_error(req, &err);
    return;
  }
  reply_profile(req, &target, follow);
}

void api_user_follow(http_request_t *req) { set_follow(req, true); }
void api_user_unfollow(http_request_t *req) { set_follow(req, false); }

static void list_follows(http_request_t *req, bool followers) {
  chorus_error_t err;
  user_t u;
  size_t limit;
  char before[NAME_CURSOR_MAX + 1];
  bool has_before;
  user_page_t page;
  if (!api_list_params(req, &limit, before, sizeof before, &has_before,
                       &err) ||
      !path_user(req, &u, &err) ||
      !follows_list(req->server->db, req->server->sync, &u.id, followers,
                    has_before ? before : NULL, limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  render_user_page(&doc, &page);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
  user_page_destroy(&page);
}

void api_user_followers(http_request_t *req) { list_follows(req, true); }
void api_user_following(http_request_t *req) { list_follows(req, false); }
