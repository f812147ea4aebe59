/*
 * auth.c - accounts and sessions:
 *   POST   /api/register  {"username","password"}  201 user, logged in
 *   POST   /api/login     {"username","password"}  200 user, logged in;
 *                                                  429 when rate limited
 *   DELETE /api/login                              200 {"ok":true}
 *   GET    /api/me                                 200 user or 401
 *   PUT    /api/me/password {"current_password","new_password"}
 *                                                  200 {"ok":true}; 403,
 *                                                  429 when rate limited
 *   DELETE /api/me/sessions                        200 {"ok":true}
 * Every ending (logout, password change, other sessions) is answered
 * only once every server refuses what it ended (sessions.h).
 */
#include <stdio.h>

#include "server/api/api.h"

/* Parses {"username","password"} (both required strings); body is then
 * the caller's (bson_destroy). */
static bool read_credentials(http_request_t *req, bson_t *body,
                             const char **username, size_t *username_len,
                             const char **password, size_t *password_len,
                             chorus_error_t *err) {
  if (!http_read_json(req, true, body, err)) {
    return false;
  }
  if (!json_get_string(body, "username", true, username, username_len, err) ||
      !json_get_string(body, "password", true, password, password_len, err)) {
    bson_destroy(body);
    return false;
  }
  return true;
}

/* An error, with Retry-After when it is 429 (rate limited). */
static void reply_error_retry(http_request_t *req, const chorus_error_t *err,
                              int retry_after) {
  if (err->status == 429) {
    char header[64];
    snprintf(header, sizeof header, "Retry-After: %d\r\n", retry_after);
    http_reply_error_headers(req, err, header);
  } else {
    http_reply_error(req, err);
  }
}

/* Answers status with the user and the cookie of its session token. */
static void reply_logged_in(http_request_t *req, int status, const user_t *u,
                            const char *token) {
  char cookie[160];
  snprintf(cookie, sizeof cookie,
           "Set-Cookie: " SESSION_COOKIE "=%s; Path=/; HttpOnly; "
           "SameSite=Lax; Max-Age=%d\r\n",
           token, SESSION_TTL_SECONDS);
  api_reply_user(req, status, u, cookie);
}

void api_register(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  bson_t body;
  const char *username, *password;
  size_t ulen, plen;
  if (!read_credentials(req, &body, &username, &ulen, &password, &plen, &err)) {
    http_reply_error(req, &err);
    return;
  }
  user_t u;
  char token[SESSION_TOKEN_LEN + 1];
  bool ok = sessions_register(api->db, username, ulen, password, plen, &u,
                              token, &err);
  bson_destroy(&body);
  if (ok) {
    reply_logged_in(req, 201, &u, token);
  } else {
    http_reply_error(req, &err);
  }
}

void api_login(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  bson_t body;
  const char *username, *password;
  size_t ulen, plen;
  if (!read_credentials(req, &body, &username, &ulen, &password, &plen, &err)) {
    http_reply_error(req, &err);
    return;
  }
  char address[64];
  http_request_address(req, address, sizeof address);
  user_t u;
  char token[SESSION_TOKEN_LEN + 1];
  int retry_after = 0;
  bool ok =
      sessions_login(api->db, api->sync, &api->login_limits, address, username,
                     ulen, password, plen, &u, token, &retry_after, &err);
  bson_destroy(&body);
  if (ok) {
    reply_logged_in(req, 200, &u, token);
  } else {
    reply_error_retry(req, &err, retry_after);
  }
}

void api_logout(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  char buf[API_TOKEN_SIZE];
  const char *token = api_session_token(req, buf);
  if (token && !sessions_end(api->db, api->sync, token, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_BOOL(&doc, "ok", true);
  http_reply_json(req, 200, &doc,
                  "Set-Cookie: " SESSION_COOKIE "=; Path=/; HttpOnly; "
                  "SameSite=Lax; Max-Age=0\r\n");
  bson_destroy(&doc);
}

void api_me(http_request_t *req) {
  chorus_error_t err;
  user_t u;
  if (!api_current_user(req, &u, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_user(req, 200, &u, NULL);
}

void api_password_change(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  bson_t body;
  if (!api_current_user(req, &me, &err) ||
      !http_read_json(req, true, &body, &err)) {
    http_reply_error(req, &err);
    return;
  }
  const char *current, *password;
  size_t clen, plen;
  if (!json_get_string(&body, "current_password", true, &current, &clen,
                       &err) ||
      !json_get_string(&body, "new_password", true, &password, &plen, &err)) {
    bson_destroy(&body);
    http_reply_error(req, &err);
    return;
  }
  char buf[API_TOKEN_SIZE], address[64];
  http_request_address(req, address, sizeof address);
  int retry_after = 0;
  bool ok =
      sessions_change_password(api->db, api->sync, &api->login_limits, address,
                               &me, api_session_token(req, buf), current, clen,
                               password, plen, &retry_after, &err);
  bson_destroy(&body);
  if (ok) {
    api_reply_ok(req);
  } else {
    reply_error_retry(req, &err, retry_after);
  }
}

void api_sessions_end_others(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  char buf[API_TOKEN_SIZE];
  if (api_current_user(req, &me, &err) &&
      sessions_end_others(api->sync, &me.id, api_session_token(req, buf),
                          &err)) {
    api_reply_ok(req);
  } else {
    http_reply_error(req, &err);
  }
}
