/*
 * auth.c - accounts and sessions:
 *   POST   /api/register  {"username","password"}  201 user, logged in;
 *                                                  429 when rate limited
 *   POST   /api/login     {"username","password"}  200 user, logged in;
 *                                                  429 when rate limited
 *   DELETE /api/login                              200 {"ok":true}
 *   GET    /api/me                                 200 user or 401
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
  ratelimit_gate_t gate;
  api_gate(req, NULL, &gate);
  bool ok = sessions_register(api->db, username, ulen, password, plen, &gate,
                              &u, token, &err);
  bson_destroy(&body);
  if (ok) {
    reply_logged_in(req, 201, &u, token);
  } else {
    api_reply_error(req, &err, gate.retry_after);
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
  bool ok = sessions_login(api->db, &api->login_limits, address, username, ulen,
                           password, plen, &u, token, &retry_after, &err);
  bson_destroy(&body);
  if (ok) {
    reply_logged_in(req, 200, &u, token);
  } else {
    api_reply_error(req, &err, retry_after);
  }
}

void api_logout(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  char buf[API_TOKEN_SIZE];
  const char *token = api_session_token(req, buf);
  if (token && !sessions_delete(api->sync, token, &err)) {
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
