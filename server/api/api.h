/*
 * api.h - the JSON API: its route table, the handlers' context, and the
 * parsing and rendering the handlers share.
 *
 * The app adds api_routes() to the HTTP dispatch (dispatch.h) with an
 * api_t as the handlers' context (req->ctx), and installs
 * api_write_headers as the transport's hook for successful writes.
 * Handlers are thin, one file per resource (auth.c, users.c, tweets.c,
 * feed.c, search.c, tags.c, notifications.c, media.c): parse and validate the
 * request, call one domain (or read-model) function, render the answer.
 *
 * Sessions.  Every route but the home feed, the timeline and tag pages,
 * and every write, checks the session cookie in the database
 * (api_current_user, api_viewer: reads_session with READS_DATABASE);
 * those three leave it to the read model (reads_feed, reads_timeline,
 * reads_tag).
 *
 * Thread-safety: an api_t is set up before the first request and
 * read-only afterwards; its members are thread-safe objects.
 */
#ifndef CHORUS_API_H
#define CHORUS_API_H

#include <stddef.h>

#include "server/domain/cursor.h"
#include "server/domain/media.h"
#include "server/domain/ratelimit.h"
#include "server/domain/sessions.h"
#include "server/domain/tweets.h"
#include "server/domain/users.h"
#include "server/http/http.h"
#include "server/http/router.h"
#include "server/readmodel/reads.h"
#include "sync/base/db.h"
#include "sync/sync.h"

/* What the handlers need; borrowed from the app, which outlives them. */
typedef struct api {
  db_t *db;
  sync_t *sync;
  reads_t *reads;
  ratelimit_login_t login_limits;  /* --login-*: failed logins */
  ratelimit_writes_t write_limits; /* --rate-limits, --limit-*: writes */
  media_store_t *media;            /* uploads and their files */
} api_t;

/* The API's routes (static), in match order; *n their number.  Their
 * writes take JSON bodies. */
const route_t *api_routes(size_t *n);

/* The routes whose writes take API_UPLOAD_TYPE bodies (POST
 * /api/media), for dispatch_add_routes_typed. */
#define API_UPLOAD_TYPE "multipart/form-data"
const route_t *api_upload_routes(size_t *n);

/* The largest upload body: the largest image and room for the form
 * around it (its boundaries, headers and alt text). */
#define API_MEDIA_BODY_MAX (MEDIA_FILE_MAX + 64 * 1024)

/* http_write_headers_fn (ctx: the api_t): the causal-token cookie
 * (READS_SEEN_COOKIE) that makes the client's later reads on any server
 * include this write (reads.h); nothing when there is no token to
 * give. */
void api_write_headers(void *ctx, const http_request_t *req, char *buf,
                       size_t size);

/* http_before_handler_fn (ctx: the api_t): what the request reads from
 * the database includes every commit its causal token names
 * (reads_database_after), as its reads of the model do (reads_fresh). */
void api_before_handler(void *ctx, const http_request_t *req);

/* The session cookie's token into buf (SESSION_TOKEN_LEN + 2 bytes);
 * NULL when there is none (or it is too long to be one), else buf. */
#define API_TOKEN_SIZE (SESSION_TOKEN_LEN + 2)
const char *api_session_token(const http_request_t *req, char *buf);

/* The client's causal token (READS_SEEN_COOKIE); 0 when none. */
int64_t api_seen(const http_request_t *req);

/* The optional "media" of a new tweet's body: absent (media left as it
 * is), or an array of up to MEDIA_PER_TWEET items, each an upload's id or
 * {"id", "alt"?}, added to media (media_request_add: 400
 * "invalid_media", "too_long"; its alt texts point into body); 400
 * "invalid_type" for any other shape. */
bool api_media_request(const bson_t *body, media_request_t *media,
                       chorus_error_t *err);

/* An image field of a profile change (key "avatar" or "header"): absent
 * (*set false), null (*set, *hex NULL) or a string (*set, *hex pointing
 * into body: the domain checks that it is an id); 400 "invalid_type" for
 * any other type. */
bool api_profile_image(const bson_t *body, const char *key, bool *set,
                       const char **hex, chorus_error_t *err);

/* For a route that takes no body: none (an empty body) or a JSON object
 * (its fields ignored, as unknown fields always are) passes; anything
 * else, whitespace alone too, fails as http_read_json says (400
 * "invalid_json", 408, 413). */
bool api_read_no_body(http_request_t *req, chorus_error_t *err);

/* The logged-in user of the request (session cookie, checked in the
 * database), or 401 "not_logged_in"; 503 when the database failed. */
bool api_current_user(http_request_t *req, user_t *user, chorus_error_t *err);

/* The viewer of a public page: *logged_in says whether there is one (a
 * missing or stale cookie is simply "logged out"); false only on a
 * database failure. */
bool api_viewer(http_request_t *req, user_t *user, bool *logged_in,
                chorus_error_t *err);

/* ?limit= (1..TWEET_PAGE_MAX, default TWEET_PAGE_DEFAULT) and a time
 * cursor ?before=; 400 when malformed. */
bool api_page_params(http_request_t *req, size_t *limit, page_cursor_t *before,
                     bool *has_before, chorus_error_t *err);

/* What a page of a public tweet list asks for, and who asks: ?limit=,
 * ?before= and the viewer.  before and viewer point into the struct
 * itself, or are NULL (the first page; logged out): it is not to be
 * copied. */
typedef struct api_page {
  size_t limit;
  const page_cursor_t *before;
  const user_t *viewer;
  page_cursor_t before_value;
  user_t viewer_value;
} api_page_t;

/* api_page_params, then api_viewer; 400 or 503 into err. */
bool api_page_request(http_request_t *req, api_page_t *p, chorus_error_t *err);

/* ?limit= and ?before= as an opaque string (into before, *has_before). */
bool api_list_params(http_request_t *req, size_t *limit, char *before,
                     size_t before_size, bool *has_before, chorus_error_t *err);

/* The gate of a write by me (NULL: nobody yet, a registration) from the
 * request's client address, under the API's write limits (ratelimit.h);
 * the domain's limited writes take it. */
void api_gate(http_request_t *req, const user_t *me, ratelimit_gate_t *gate);

/* Common answers. */
/* http_reply_error, with Retry-After: retry_after seconds on a 429. */
void api_reply_error(http_request_t *req, const chorus_error_t *err,
                     int retry_after);
void api_reply_ok(http_request_t *req);
void api_reply_user(http_request_t *req, int status, const user_t *u,
                    const char *extra_headers);
void api_reply_profile(http_request_t *req, const user_t *u,
                       bool followed_by_me);
void api_reply_tweet(http_request_t *req, int status, const tweet_t *t);
/* Both take the page and destroy it. */
void api_reply_tweet_page(http_request_t *req, tweet_page_t *page);
void api_reply_user_page(http_request_t *req, user_page_t *page);

/* Handlers, by file. */
void api_register(http_request_t *req); /* auth.c */
void api_login(http_request_t *req);
void api_logout(http_request_t *req);
void api_me(http_request_t *req);
void api_password_change(http_request_t *req);
void api_sessions_end_others(http_request_t *req);
void api_me_update(http_request_t *req); /* users.c */
void api_user_get(http_request_t *req);
void api_user_tweets(http_request_t *req);
void api_user_follow(http_request_t *req);
void api_user_unfollow(http_request_t *req);
void api_user_followers(http_request_t *req);
void api_user_following(http_request_t *req);
void api_suggestions(http_request_t *req);
void api_tweet_create(http_request_t *req); /* tweets.c */
void api_tweet_get(http_request_t *req);
void api_tweet_edit(http_request_t *req);
void api_tweet_delete(http_request_t *req);
void api_tweet_replies(http_request_t *req);
void api_tweet_like(http_request_t *req);
void api_tweet_unlike(http_request_t *req);
void api_tweet_repost(http_request_t *req);
void api_tweet_unrepost(http_request_t *req);
void api_tweet_history(http_request_t *req);
void api_feed(http_request_t *req); /* feed.c */
void api_timeline(http_request_t *req);
void api_search(http_request_t *req); /* search.c */
void api_tag(http_request_t *req);    /* tags.c */
void api_trends(http_request_t *req);
void api_notifications(http_request_t *req); /* notifications.c */
void api_notifications_read(http_request_t *req);
void api_media_upload(http_request_t *req); /* media.c */
void api_media_get(http_request_t *req);

#endif
