/*
 * api_auth.c - accounts and sessions:
 *   POST   /api/register  {"username","password"}  201 user, logged in
 *   POST   /api/login     {"username","password"}  200 user, logged in;
 *                                                  429 when rate limited
 *   DELETE /api/login                              200 {"ok":true}
 *   GET    /api/me                                 200 user or 401
 */
#include <stdio.h>

#include "server/api/api.h"
#include "server/domain/ratelimit.h"
#include "server/domain/render.h"
#include "server/app/server.h"
#include "server/domain/sessions.h"

/* Parses {"username","password"} (both required strings). */
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

/* Starts a session for u and answers status with the user and the cookie. */
static void reply_logged_in(http_request_t *req, int status, const user_t *u) {
  chorus_error_t err;
  char token[SESSION_TOKEN_LEN + 1];
  if (!sessions_create(req->server->db, &u->id, token, &err)) {
    http_reply_error(req, &err);
    return;
  }
  char cookie[160];
  snprintf(cookie, sizeof cookie,
           "Set-Cookie: " SESSION_COOKIE "=%s; Path=/; HttpOnly; "
           "SameSite=Lax; Max-Age=%d\r\n",
           token, SESSION_TTL_SECONDS);
  bson_t doc = BSON_INITIALIZER;
  render_user(&doc, u);
  http_reply_json(req, status, &doc, cookie);
  bson_destroy(&doc);
}

void api_register(http_request_t *req) {
  chorus_error_t err;
  bson_t body;
  const char *username, *password;
  size_t ulen, plen;
  if (!read_credentials(req, &body, &username, &ulen, &password, &plen,
                        &err)) {
    http_reply_error(req, &err);
    return;
  }
  user_t u;
  bool ok = users_register(req->server->db, username, ulen, password, plen,
                           &u, &err);
  bson_destroy(&body);
  if (ok) {
    reply_logged_in(req, 201, &u);
  } else {
    http_reply_error(req, &err);
  }
}

void api_login(http_request_t *req) {
  chorus_error_t err;
  bson_t body;
  const char *username, *password;
  size_t ulen, plen;
  if (!read_credentials(req, &body, &username, &ulen, &password, &plen,
                        &err)) {
    http_reply_error(req, &err);
    return;
  }
  const chorus_config_t *cfg = &req->server->config;
  ratelimit_config_t limits = {cfg->login_limit_user,
                               cfg->login_limit_address, cfg->login_window_s};
  /* The counter key: the folded name when it could be one, else the
   * shared key "invalid" (such logins always fail; never stored
   * verbatim). */
  char name_lc[USERNAME_MAX + 1];
  if (validate_username(username, ulen, NULL)) {
    username_fold(username, ulen, name_lc);
  } else {
    snprintf(name_lc, sizeof name_lc, "invalid");
  }
  char address[64];
  http_request_address(req, address, sizeof address);
  int retry_after = 0;
  ratelimit_attempt_t attempt;
  user_t u;
  bool ok = ratelimit_begin(req->server->db, &limits, name_lc, address,
                            &attempt, &retry_after, &err);
  if (!ok && err.status == 429) {
    bson_destroy(&body);
    char header[64];
    snprintf(header, sizeof header, "Retry-After: %d\r\n", retry_after);
    bson_t doc = BSON_INITIALIZER;
    render_error(&doc, &err);
    http_reply_json(req, 429, &doc, header);
    bson_destroy(&doc);
    return;
  }
  ok = ok && users_authenticate(req->server->db, username, ulen, password,
                                plen, &u, &err);
  bson_destroy(&body);
  /* Only a wrong password keeps counting. */
  ratelimit_end(req->server->db, &attempt, !ok && err.status == 401);
  if (ok) {
    reply_logged_in(req, 200, &u);
  } else {
    http_reply_error(req, &err);
  }
}

void api_logout(http_request_t *req) {
  chorus_error_t err;
  char token[SESSION_TOKEN_LEN + 2];
  if (http_cookie(req, SESSION_COOKIE, token, sizeof token) &&
      !sessions_delete(req->server->sync, token, &err)) {
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
  bson_t doc = BSON_INITIALIZER;
  render_user(&doc, &u);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
