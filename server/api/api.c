/*
 * api.c - route table and dispatch; see api.h.
 */
#include "server/api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/domain/render.h"
#include "server/http/metrics.h"
#include "server/http/router.h"
#include "server/app/server.h"
#include "server/domain/sessions.h"

static const route_t routes[] = {
    {"GET", "/healthz", api_healthz},
    {"GET", "/readyz", api_readyz},
    {"GET", "/metrics", api_metrics},
    {"POST", "/api/register", api_register},
    {"POST", "/api/login", api_login},
    {"DELETE", "/api/login", api_logout},
    {"GET", "/api/me", api_me},
    {"PATCH", "/api/me", api_me_update},
    {"GET", "/api/config", api_config},
    {"GET", "/api/tweet", api_tweet_list},
    {"POST", "/api/tweet", api_tweet_create},
    {"GET", "/api/tweet/:id", api_tweet_get},
    {"PUT", "/api/tweet/:id", api_tweet_edit},
    {"DELETE", "/api/tweet/:id", api_tweet_delete},
    {"GET", "/api/tweet/:id/replies", api_tweet_replies},
    {"POST", "/api/tweet/:id/like", api_tweet_like},
    {"DELETE", "/api/tweet/:id/like", api_tweet_unlike},
    {"GET", "/api/users/:name", api_user_get},
    {"GET", "/api/users/:name/tweets", api_user_tweets},
    {"POST", "/api/users/:name/follow", api_user_follow},
    {"DELETE", "/api/users/:name/follow", api_user_unfollow},
    {"GET", "/api/users/:name/followers", api_user_followers},
    {"GET", "/api/users/:name/following", api_user_following},
    {"GET", "/api/feed", api_feed},
    {"GET", "/api/search", api_search},
    {"GET", "/api/notifications", api_notifications},
    {"POST", "/api/notifications/read", api_notifications_read},
};

/* The request's id: the client's X-Request-Id when it is a plain token
 * (so a proxy's id carries through), else 16 random hex digits. */
static void assign_request_id(http_request_t *req) {
  const char *given = mg_get_header(req->conn, "X-Request-Id");
  size_t n = given ? strlen(given) : 0;
  bool plain = n > 0 && n < sizeof req->request_id &&
               strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                             "vwxyz0123456789._-") == n;
  if (plain) {
    memcpy(req->request_id, given, n + 1);
  } else {
    unsigned char raw[8];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(req->request_id, sizeof req->request_id, raw, sizeof raw);
  }
}

/* One JSON line per request on stderr. */
static void log_request(const http_request_t *req, const char *route,
                        int64_t us) {
  char t[RENDER_TIME_LEN + 1];
  render_time(db_now_ms(), t);
  fprintf(stderr,
          "{\"t\":\"%s\",\"server\":\"%s\",\"id\":\"%s\","
          "\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,"
          "\"ms\":%.3f}\n",
          t, req->server->config.server_id, req->request_id,
          req->info->request_method, route, req->status, (double)us / 1000);
}

int api_dispatch(struct mg_connection *conn, void *cbdata) {
  http_request_t req;
  memset(&req, 0, sizeof req);
  req.conn = conn;
  req.info = mg_get_request_info(conn);
  req.server = cbdata;
  int64_t started = bson_get_monotonic_time();
  metrics_request_started(req.server->metrics);
  assign_request_id(&req);

  const route_t *route;
  char allow[64];
  chorus_error_t err;
  chorus_error_clear(&err);
  switch (router_match(routes, sizeof routes / sizeof routes[0],
                       req.info->request_method, req.info->local_uri, &req,
                       &route, allow, sizeof allow)) {
  case ROUTE_FOUND:
    if (http_method_is_write(req.info->request_method) &&
        !http_check_write_allowed(&req, &err)) {
      http_reply_error(&req, &err);
    } else {
      route->fn(&req);
    }
    break;
  case ROUTE_BAD_METHOD: {
    char header[96];
    snprintf(header, sizeof header, "Allow: %s\r\n", allow);
    chorus_error_set(&err, 405, "method_not_allowed",
                     "%s is not allowed here; use %s",
                     req.info->request_method, allow);
    bson_t doc = BSON_INITIALIZER;
    render_error(&doc, &err);
    http_reply_json(&req, 405, &doc, header);
    bson_destroy(&doc);
    break;
  }
  case ROUTE_NOT_FOUND:
    chorus_error_set(&err, 404, "not_found", "No such API endpoint");
    http_reply_error(&req, &err);
    break;
  }
  if (req.status == 0) {
    /* A handler that forgot to answer is a bug; never leave the client
     * hanging. */
    http_reply_error(&req, NULL);
  }
  const char *pattern = route ? route->pattern : "unmatched";
  int64_t us = bson_get_monotonic_time() - started;
  metrics_record_request(req.server->metrics, pattern,
                         req.info->request_method, req.status, us);
  if (req.server->config.log_requests || req.status >= 500) {
    log_request(&req, pattern, us);
  }
  return req.status;
}

bool api_current_user(http_request_t *req, user_t *user, chorus_error_t *err) {
  char token[SESSION_TOKEN_LEN + 2];
  if (!http_cookie(req, SESSION_COOKIE, token, sizeof token)) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  db_t *db = req->server->db;
  mongoc_client_t *client = db_acquire(db);
  bson_oid_t user_id;
  bool ok = sessions_resolve(db, client, token, &user_id, NULL, err);
  db_release(db, client);
  ok = ok && users_find_by_id(db, req->server->sync, &user_id, user, err);
  if (!ok && err && err->status == 404) {
    /* The session outlived its account. */
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
  }
  return ok;
}

bool api_viewer(http_request_t *req, user_t *user, bool *logged_in,
                chorus_error_t *err) {
  chorus_error_t e;
  *logged_in = api_current_user(req, user, &e);
  if (!*logged_in && e.status >= 500) {
    *err = e;
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
  *has_before = http_query_param(req, "before", before, before_size, &bad,
                                 err);
  if (bad) {
    chorus_error_set(err, 400, "invalid_cursor",
                     "before is not a cursor this server issued");
    return false;
  }
  return true;
}

bool api_page_params(http_request_t *req, size_t *limit,
                     page_cursor_t *before, bool *has_before,
                     chorus_error_t *err) {
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

void api_reply_ok(http_request_t *req) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_BOOL(&doc, "ok", true);
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
