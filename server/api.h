/*
 * api.h - the JSON API: route table, dispatch, and the handlers.
 *
 * api_dispatch() is the one civetweb request handler for /api, /healthz
 * and /readyz.  It matches the route, applies the CSRF rule to every
 * state-changing request (http_check_write_allowed) and calls the
 * handler.  Handlers are thin: parse and validate the request, call one
 * domain function (users_*, sessions_*, tweets_*), render the answer.
 */
#ifndef CHORUS_API_H
#define CHORUS_API_H

#include <civetweb.h>

#include "http.h"
#include "users.h"

/* civetweb handler; cbdata is the chorus_server_t. */
int api_dispatch(struct mg_connection *conn, void *cbdata);

/* The logged-in user of the request (session cookie), or 401. */
bool api_current_user(http_request_t *req, user_t *user, chorus_error_t *err);

/* Handlers, by file. */
void api_register(http_request_t *req);       /* api_auth.c */
void api_login(http_request_t *req);
void api_logout(http_request_t *req);
void api_me(http_request_t *req);
void api_tweet_list(http_request_t *req);     /* api_tweets.c */
void api_tweet_create(http_request_t *req);
void api_tweet_edit(http_request_t *req);
void api_healthz(http_request_t *req);        /* api_health.c */
void api_readyz(http_request_t *req);

#endif
