/*
 * auth.c - accounts and sessions:
 *   POST   /api/register  {"username","password"}  201 user, logged in;
 *                                                  429 when rate limited
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
#include "server/domain/render.h"

/* The body {"username","password"} of a registration or a login: both
 * required strings, which point into body. */
typedef struct credentials {
  bson_t body; /* owns the strings; credentials_free */
  const char *username, *password;
  size_t username_len, password_len;
} credentials_t;

/* Reads the request's credentials into c (then the caller's:
 * credentials_free).  On failure answers the request with the error and
 * returns false; there is nothing to free. */
static bool read_credentials(http_request_t *req, credentials_t *c) {
  chorus_error_t err;
  if (!http_read_json(req, true, &c->body, &err)) {
    http_reply_error(req, &err);
    return false;
  }
  if (!json_get_string(&c->body, "username", true, &c->username,
                       &c->username_len, &err) ||
      !json_get_string(&c->body, "password", true, &c->password,
                       &c->password_len, &err)) {
    bson_destroy(&c->body);
    http_reply_error(req, &err);
    return false;
  }
  return true;
}

static void credentials_free(credentials_t *c) { bson_destroy(&c->body); }

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
  credentials_t c;
  if (!read_credentials(req, &c)) {
    return;
  }
  chorus_error_t err;
  user_t u;
  char token[SESSION_TOKEN_LEN + 1];
  ratelimit_gate_t gate;
  api_gate(req, NULL, &gate);
  bool ok = sessions_register(api->db, c.username, c.username_len, c.password,
                              c.password_len, &gate, &u, token, &err);
  credentials_free(&c);
  if (ok) {
    reply_logged_in(req, 201, &u, token);
  } else {
    api_reply_error(req, &err, gate.retry_after);
  }
}

void api_login(http_request_t *req) {
  api_t *api = req->ctx;
  credentials_t c;
  if (!read_credentials(req, &c)) {
    return;
  }
  char address[64];
  http_request_address(req, address, sizeof address);
  chorus_error_t err;
  user_t u;
  char token[SESSION_TOKEN_LEN + 1];
  int retry_after = 0;
  bool ok = sessions_login(api->db, api->sync, &api->login_limits, address,
                           c.username, c.username_len, c.password,
                           c.password_len, &u, token, &retry_after, &err);
  credentials_free(&c);
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
  if (!api_read_no_body(req, &err) ||
      (token && !sessions_end(api->db, api->sync, token, &err))) {
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
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t u;
  if (!api_current_user(req, &u, &err)) {
    http_reply_error(req, &err);
    return;
  }
  /* The account as others see it, and what its images take of its
   * quota (media.h): media_bytes is never a deferred increment, so the
   * session's account (reads.h) has it exact. */
  bson_t doc = BSON_INITIALIZER;
  render_user(&doc, &u);
  BSON_APPEND_INT64(&doc, "media_bytes", u.media_bytes);
  BSON_APPEND_INT64(&doc, "media_quota",
                    media_store_config(api->media)->quota_bytes);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
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
    api_reply_error(req, &err, retry_after);
  }
}

void api_sessions_end_others(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  char buf[API_TOKEN_SIZE];
  if (api_read_no_body(req, &err) && api_current_user(req, &me, &err) &&
      sessions_end_others(api->sync, &me.id, api_session_token(req, buf),
                          &err)) {
    api_reply_ok(req);
  } else {
    http_reply_error(req, &err);
  }
}
