/*
 * api.c - route table and dispatch; see api.h.
 */
#include "api.h"

#include <stdio.h>
#include <string.h>

#include "render.h"
#include "router.h"
#include "server.h"
#include "sessions.h"

static const route_t routes[] = {
    {"GET", "/healthz", api_healthz},
    {"GET", "/readyz", api_readyz},
    {"POST", "/api/register", api_register},
    {"POST", "/api/login", api_login},
    {"DELETE", "/api/login", api_logout},
    {"GET", "/api/me", api_me},
    {"GET", "/api/tweet", api_tweet_list},
    {"POST", "/api/tweet", api_tweet_create},
    {"PUT", "/api/tweet/:id", api_tweet_edit},
};

int api_dispatch(struct mg_connection *conn, void *cbdata) {
  http_request_t req;
  memset(&req, 0, sizeof req);
  req.conn = conn;
  req.info = mg_get_request_info(conn);
  req.server = cbdata;

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
  if (req.status >= 500) {
    fprintf(stderr, "chorusd[%s]: %s %s -> %d\n",
            req.server->config.server_id, req.info->request_method,
            req.info->local_uri, req.status);
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
  bool ok = sessions_resolve(db, client, token, &user_id, err);
  db_release(db, client);
  ok = ok && users_find_by_id(db, req->server->sync, &user_id, user, err);
  if (!ok && err && err->status == 404) {
    /* The session outlived its account. */
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
  }
  return ok;
}
