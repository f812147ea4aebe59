/*
 * search.c - GET /api/search?q=&type=users|tweets (default tweets):
 * users whose username or display name starts with q, or tweets
 * containing every word of q; ?limit= and ?before= as every list.
 */
#include <string.h>

#include "server/api/api.h"
#include "server/domain/search.h"

/* ?q= : 1..SEARCH_QUERY_MAX code points of valid UTF-8. */
static bool read_query(http_request_t *req, char *q, size_t size,
                       chorus_error_t *err) {
  bool bad;
  if (!http_query_param(req, "q", q, size, &bad, err) || !q[0] ||
      !utf8_is_valid(q, strlen(q)) ||
      utf8_count_code_points(q, strlen(q)) > SEARCH_QUERY_MAX) {
    chorus_error_set(err, 400, "invalid_query",
                     "q must be 1 to %d characters of text", SEARCH_QUERY_MAX);
    return false;
  }
  return true;
}

static void search_users(http_request_t *req, const char *q) {
  api_t *api = req->ctx;
  chorus_error_t err;
  size_t limit;
  char before[NAME_CURSOR_MAX + 1], after[USERNAME_MAX * 4 + 1];
  bool has_before;
  if (!api_list_params(req, &limit, before, sizeof before, &has_before, &err)) {
    http_reply_error(req, &err);
    return;
  }
  if (has_before && !name_cursor_decode(before, after, sizeof after)) {
    chorus_error_set(&err, 400, "invalid_cursor",
                     "before is not a cursor this server issued");
    http_reply_error(req, &err);
    return;
  }
  user_page_t page;
  if (!users_search(api->db, api->sync, q, strlen(q), has_before ? after : NULL,
                    limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_user_page(req, &page);
}

static void search_tweets(http_request_t *req, const char *q) {
  api_t *api = req->ctx;
  chorus_error_t err;
  api_page_t p;
  tweet_page_t page;
  if (!api_page_request(req, &p, &err) ||
      !tweets_search(api->db, api->sync, q, strlen(q), p.before, p.limit,
                     p.viewer, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

void api_search(http_request_t *req) {
  chorus_error_t err;
  char q[SEARCH_QUERY_MAX * 4 + 1], type[16];
  bool bad;
  if (!read_query(req, q, sizeof q, &err)) {
    http_reply_error(req, &err);
    return;
  }
  if (!http_query_param(req, "type", type, sizeof type, &bad, &err)) {
    if (bad) {
      chorus_error_set(&err, 400, "invalid_type",
                       "type must be users or tweets");
      http_reply_error(req, &err);
      return;
    }
    strcpy(type, "tweets"); /* the default */
  }
  if (!strcmp(type, "users")) {
    search_users(req, q);
  } else if (!strcmp(type, "tweets")) {
    search_tweets(req, q);
  } else {
    chorus_error_set(&err, 400, "invalid_type", "type must be users or tweets");
    http_reply_error(req, &err);
  }
}
