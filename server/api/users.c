/*
 * users.c - profiles and follows:
 *   PATCH  /api/me  {"display_name"?, "bio"?, "avatar"?, "header"?}
 *                                                200 profile
 *          (avatar, header: an upload's id, or null for none)
 *   GET    /api/users/:name                      200 profile
 *   GET    /api/users/:name/tweets               their tweets
 *   POST   /api/users/:name/follow               200 profile
 *   DELETE /api/users/:name/follow               200 profile
 *   GET    /api/users/:name/followers            user summaries
 *   GET    /api/users/:name/following            user summaries
 *   GET    /api/suggestions                      user summaries: people
 *                                                to follow
 */
#include <string.h>

#include "server/api/api.h"
#include "server/domain/follows.h"

void api_me_update(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me, updated;
  bson_t body;
  users_profile_change_t c;
  memset(&c, 0, sizeof c);
  if (!api_current_user(req, &me, &err) ||
      !http_read_json(req, true, &body, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bool ok =
      json_get_string(&body, "display_name", false, &c.display_name, &c.dn_len,
                      &err) &&
      json_get_string(&body, "bio", false, &c.bio, &c.bio_len, &err) &&
      api_profile_image(&body, "avatar", &c.avatar_set, &c.avatar_hex, &err) &&
      api_profile_image(&body, "header", &c.header_set, &c.header_hex, &err) &&
      users_update_profile(api->db, api->sync, &me, &c, &updated, &err);
  bson_destroy(&body);
  if (ok) {
    api_reply_profile(req, &updated, false);
  } else {
    http_reply_error(req, &err);
  }
}

void api_user_get(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t u, viewer;
  bool logged_in, following;
  const char *name = req->params[0];
  if (!api_viewer(req, &viewer, &logged_in, &err) ||
      !follows_get_profile(api->db, api->sync, name, strlen(name),
                           logged_in ? &viewer.id : NULL, &u, &following,
                           &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_profile(req, &u, following);
}

void api_user_tweets(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  api_page_t p;
  tweet_page_t page;
  const char *name = req->params[0];
  if (!api_page_request(req, &p, &err) ||
      !tweets_list_by_name(api->db, api->sync, name, strlen(name), p.before,
                           p.limit, p.viewer, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

static void set_follow(http_request_t *req, bool follow) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me, target;
  const char *name = req->params[0];
  ratelimit_gate_t gate = {.retry_after = 0};
  bool ok = api_read_no_body(req, &err) && api_current_user(req, &me, &err);
  if (ok) {
    api_gate(req, &me, &gate);
    ok = follows_set(api->db, api->sync, &me, name, strlen(name), follow, &gate,
                     &target, &err);
  }
  if (!ok) {
    api_reply_error(req, &err, gate.retry_after);
    return;
  }
  api_reply_profile(req, &target, follow);
}

void api_user_follow(http_request_t *req) { set_follow(req, true); }
void api_user_unfollow(http_request_t *req) { set_follow(req, false); }

static void list_follows(http_request_t *req, bool followers) {
  api_t *api = req->ctx;
  chorus_error_t err;
  size_t limit;
  char before[NAME_CURSOR_MAX + 1];
  bool has_before;
  user_page_t page;
  const char *name = req->params[0];
  if (!api_list_params(req, &limit, before, sizeof before, &has_before, &err) ||
      !follows_list_by_name(api->db, api->sync, name, strlen(name), followers,
                            has_before ? before : NULL, limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_user_page(req, &page);
}

void api_user_followers(http_request_t *req) { list_follows(req, true); }
void api_user_following(http_request_t *req) { list_follows(req, false); }

void api_suggestions(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  size_t limit;
  char before[NAME_CURSOR_MAX + 1];
  bool has_before, logged_in;
  user_t viewer;
  user_page_t page;
  if (!api_list_params(req, &limit, before, sizeof before, &has_before, &err) ||
      !api_viewer(req, &viewer, &logged_in, &err) ||
      !follows_suggestions(api->db, api->sync, logged_in ? &viewer.id : NULL,
                           limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_user_page(req, &page);
}
