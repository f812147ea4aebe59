/*
 * api.c - the route table and what the handlers share; see api.h.
 */
#include "server/api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/domain/render.h"

static const route_t routes[] = {
    {"POST", "/api/register", api_register},
    {"POST", "/api/login", api_login},
    {"DELETE", "/api/login", api_logout},
    {"GET", "/api/me", api_me},
    {"PATCH", "/api/me", api_me_update},
    {"PUT", "/api/me/password", api_password_change},
    {"DELETE", "/api/me/sessions", api_sessions_end_others},
    {"GET", "/api/tweet", api_timeline},
    {"POST", "/api/tweet", api_tweet_create},
    {"GET", "/api/tweet/:id", api_tweet_get},
    {"PUT", "/api/tweet/:id", api_tweet_edit},
    {"DELETE", "/api/tweet/:id", api_tweet_delete},
    {"GET", "/api/tweet/:id/replies", api_tweet_replies},
    {"POST", "/api/tweet/:id/like", api_tweet_like},
    {"DELETE", "/api/tweet/:id/like", api_tweet_unlike},
    {"POST", "/api/tweet/:id/repost", api_tweet_repost},
    {"DELETE", "/api/tweet/:id/repost", api_tweet_unrepost},
    {"GET", "/api/tweet/:id/history", api_tweet_history},
    {"GET", "/api/users/:name", api_user_get},
    {"GET", "/api/users/:name/tweets", api_user_tweets},
    {"POST", "/api/users/:name/follow", api_user_follow},
    {"DELETE", "/api/users/:name/follow", api_user_unfollow},
    {"GET", "/api/users/:name/followers", api_user_followers},
    {"GET", "/api/users/:name/following", api_user_following},
    {"GET", "/api/suggestions", api_suggestions},
    {"GET", "/api/feed", api_feed},
    {"GET", "/api/search", api_search},
    {"GET", "/api/tags/:tag", api_tag},
    {"GET", "/api/trends", api_trends},
    {"GET", "/api/notifications", api_notifications},
    {"POST", "/api/notifications/read", api_notifications_read},
    {"GET", "/media/:id/:variant", api_media_get},
};

static const route_t upload_routes[] = {
    {"POST", "/api/media", api_media_upload},
};

const route_t *api_routes(size_t *n) {
  *n = sizeof routes / sizeof routes[0];
  return routes;
}

const route_t *api_upload_routes(size_t *n) {
  *n = sizeof upload_routes / sizeof upload_routes[0];
  return upload_routes;
}

void api_write_headers(void *ctx, const http_request_t *req, char *buf,
                       size_t size) {
  api_t *api = ctx;
  int64_t seq = reads_token_for_write(api->reads, api_seen(req));
  if (seq > 0) {
    /* A minute is plenty: once --read-staleness-ms has passed after an
     * event, every server's shortcut includes it anyway (its poll began
     * later). */
    snprintf(buf, size,
             "Set-Cookie: " READS_SEEN_COOKIE "=%lld; Path=/; Max-Age=60; "
             "SameSite=Lax\r\n",
             (long long)seq);
  }
}

void api_before_handler(void *ctx, const http_request_t *req) {
  api_t *api = ctx;
  reads_database_after(api->reads, api_seen(req));
}

bool api_read_no_body(http_request_t *req, chorus_error_t *err) {
  bson_t body;
  if (!http_read_json(req, false, &body, err)) {
    return false;
  }
  bson_destroy(&body);
  return true;
}

const char *api_session_token(const http_request_t *req, char *buf) {
  return http_cookie(req, SESSION_COOKIE, buf, API_TOKEN_SIZE) ? buf : NULL;
}

int64_t api_seen(const http_request_t *req) {
  char buf[24];
  return reads_token_parse(
      http_cookie(req, READS_SEEN_COOKIE, buf, sizeof buf) ? buf : NULL);
}

bool api_viewer(http_request_t *req, user_t *user, bool *logged_in,
                chorus_error_t *err) {
  api_t *api = req->ctx;
  char buf[API_TOKEN_SIZE];
  return reads_session_user(api->reads, api_session_token(req, buf),
                            READS_DATABASE, user, logged_in, err);
}

bool api_current_user(http_request_t *req, user_t *user, chorus_error_t *err) {
  bool logged_in;
  if (!api_viewer(req, user, &logged_in, err)) {
    return false;
  }
  if (!logged_in) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
  }
  return logged_in;
}

bool api_media_request(const bson_t *body, media_request_t *media,
                       chorus_error_t *err) {
  bson_iter_t it, items;
  if (!bson_iter_init_find(&it, body, "media")) {
    return true;
  }
  if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &items)) {
    chorus_error_set(err, 400, "invalid_type", "media must be an array");
    return false;
  }
  while (bson_iter_next(&items)) {
    const char *id = NULL, *alt = NULL;
    size_t id_len = 0, alt_len = 0;
    if (BSON_ITER_HOLDS_UTF8(&items)) {
      uint32_t n;
      id = bson_iter_utf8(&items, &n);
      id_len = n;
    } else if (BSON_ITER_HOLDS_DOCUMENT(&items)) {
      uint32_t doc_len;
      const uint8_t *data;
      bson_t item;
      bson_iter_document(&items, &doc_len, &data);
      if (!bson_init_static(&item, data, doc_len) ||
          !json_get_string(&item, "id", true, &id, &id_len, err) ||
          !json_get_string(&item, "alt", false, &alt, &alt_len, err)) {
        return false;
      }
    } else {
      chorus_error_set(err, 400, "invalid_type",
                       "each media item must be an id or {\"id\", \"alt\"}");
      return false;
    }
    if (!media_request_add(media, id, id_len, alt, alt_len, err)) {
      return false;
    }
  }
  return true;
}

bool api_profile_image(const bson_t *body, const char *key, bool *set,
                       const char **hex, chorus_error_t *err) {
  bson_iter_t it;
  size_t len;
  *set = bson_iter_init_find(&it, body, key);
  *hex = NULL;
  if (!*set || BSON_ITER_HOLDS_NULL(&it)) {
    return true;
  }
  if (!json_get_string(body, key, true, hex, &len, err)) {
    chorus_error_set(err, 400, "invalid_type",
                     "%s must be an upload's id or null", key);
    return false;
  }
  return true;
}

bool api_list_params(http_request_t *req, size_t *limit, char *before,
                     size_t before_size, bool *has_before,
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
  *has_before = http_query_param(req, "before", before, before_size, &bad, err);
  if (bad) {
    chorus_error_set(err, 400, "invalid_cursor",
                     "before is not a cursor this server issued");
    return false;
  }
  return true;
}

bool api_page_params(http_request_t *req, size_t *limit, page_cursor_t *before,
                     bool *has_before, chorus_error_t *err) {
  char buf[NAME_CURSOR_MAX + 1];
  if (!api_list_params(req, limit, buf, sizeof buf, has_before, err)) {
    return false;
  }
  if (*has_before && !page_cursor_decode(buf, before)) {
    chorus_error_set(err, 400, "invalid_cursor",
                     "before is not a cursor this server issued");
    return false;
  }
  return true;
}

bool api_page_request(http_request_t *req, api_page_t *p, chorus_error_t *err) {
  bool has_before, logged_in;
  if (!api_page_params(req, &p->limit, &p->before_value, &has_before, err) ||
      !api_viewer(req, &p->viewer_value, &logged_in, err)) {
    return false;
  }
  p->before = has_before ? &p->before_value : NULL;
  p->viewer = logged_in ? &p->viewer_value : NULL;
  return true;
}

void api_gate(http_request_t *req, const user_t *me, ratelimit_gate_t *gate) {
  const api_t *api = req->ctx;
  memset(gate, 0, sizeof *gate);
  gate->db = api->db;
  gate->limits = &api->write_limits;
  gate->account = me ? &me->id : NULL;
  http_request_address(req, gate->address, sizeof gate->address);
}

void api_reply_error(http_request_t *req, const chorus_error_t *err,
                     int retry_after) {
  if (err && err->status == 429) {
    char header[64];
    snprintf(header, sizeof header, "Retry-After: %d\r\n",
             retry_after > 0 ? retry_after : 1);
    http_reply_error_headers(req, err, header);
  } else {
    http_reply_error(req, err);
  }
}

void api_reply_ok(http_request_t *req) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_BOOL(&doc, "ok", true);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}

void api_reply_user(http_request_t *req, int status, const user_t *u,
                    const char *extra_headers) {
  bson_t doc = BSON_INITIALIZER;
  render_user(&doc, u);
  http_reply_json(req, status, &doc, extra_headers);
  bson_destroy(&doc);
}

void api_reply_profile(http_request_t *req, const user_t *u,
                       bool followed_by_me) {
  bson_t doc = BSON_INITIALIZER;
  render_profile(&doc, u, followed_by_me);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}

void api_reply_tweet(http_request_t *req, int status, const tweet_t *t) {
  bson_t doc = BSON_INITIALIZER;
  render_tweet(&doc, t);
  http_reply_json(req, status, &doc, NULL);
  bson_destroy(&doc);
}

void api_reply_tweet_page(http_request_t *req, tweet_page_t *page) {
  size_t len;
  char *json = render_tweet_page_json(page, &len);
  http_reply_json_text(req, 200, json, len, NULL);
  bson_free(json);
  tweet_page_destroy(page);
}

void api_reply_user_page(http_request_t *req, user_page_t *page) {
  bson_t doc = BSON_INITIALIZER;
  render_user_page(&doc, page);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
  user_page_destroy(page);
}
