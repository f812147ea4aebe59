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

#include "server/domain/cursor.h"
#include "server/http/http.h"
#include "server/domain/tweets.h"
#include "server/domain/users.h"

/* civetweb handler; cbdata is the chorus_server_t. */
int api_dispatch(struct mg_connection *conn, void *cbdata);

/* The logged-in user of the request (session cookie), or 401. */
bool api_current_user(http_request_t *req, user_t *user, chorus_error_t *err);

/* The viewer of a public page: *logged_in says whether there is one (a
 * missing or stale cookie is simply "logged out"); false only on a
 * database failure. */
bool api_viewer(http_request_t *req, user_t *user, bool *logged_in,
                chorus_error_t *err);

/* ?limit= (1..TWEET_PAGE_MAX, default TWEET_PAGE_DEFAULT) and a time
 * cursor ?before=; 400 when malformed. */
bool api_page_params(http_request_t *req, size_t *limit,
                     page_cursor_t *before, bool *has_before,
                     chorus_error_t *err);

/* ?limit= and ?before= as an opaque string (into before, *has_before). */
bool api_list_params(http_request_t *req, size_t *limit, char *before,
                     size_t before_size, bool *has_before,
                     chorus_error_t *err);

/* Common answers. */
void api_reply_ok(http_request_t *req);
void api_reply_tweet(http_request_t *req, int status, const tweet_t *t);
void api_reply_tweet_page(http_request_t *req, tweet_page_t *page);

/* Handlers, by file. */
void api_register(http_request_t *req);       /* api_auth.c */
void api_login(http_request_t *req);
void api_logout(http_request_t *req);
void api_me(http_request_t *req);
void api_tweet_list(http_request_t *req);     /* api_feed.c */
void api_tweet_create(http_request_t *req);
void api_tweet_edit(http_request_t *req);
void api_tweet_get(http_request_t *req);
void api_tweet_delete(http_request_t *req);
void api_tweet_replies(http_request_t *req);
void api_tweet_like(http_request_t *req);
void api_tweet_unlike(http_request_t *req);
void api_me_update(http_request_t *req);      /* api_users.c */
void api_user_get(http_request_t *req);
void api_user_tweets(http_request_t *req);
void api_user_follow(http_request_t *req);
void api_user_unfollow(http_request_t *req);
void api_user_followers(http_request_t *req);
void api_user_following(http_request_t *req);
void api_feed(http_request_t *req);           /* api_feed.c */
void api_search(http_request_t *req);
void api_notifications(http_request_t *req);
void api_notifications_read(http_request_t *req);
void api_healthz(http_request_t *req);        /* api_health.c */
void api_readyz(http_request_t *req);
void api_config(http_request_t *req);
void api_metrics(http_request_t *req);

#endif
