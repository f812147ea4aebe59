/*
 * feed.c - the hot reads, answered by the read model (reads.h):
 *   GET  /api/feed     tweets of followees and mine (401 logged out)
 *   GET  /api/tweet    the global timeline
 * Both: ?limit= and ?before=, {"items": [...], "next"}.
 */
#include "server/api/api.h"

/* A feed or timeline page: the page parameters and the cookies, then
 * one read-model function. */
typedef bool (*page_fn)(reads_t *r, const char *token, int64_t seen,
                        const page_cursor_t *before, size_t limit,
                        tweet_page_t *page, chorus_error_t *err);

static void reply_page(http_request_t *req, page_fn read_page) {
  api_t *api = req->ctx;
  chorus_error_t err;
  size_t limit;
  page_cursor_t before;
  bool has_before;
  char buf[API_TOKEN_SIZE];
  tweet_page_t page;
  if (!api_page_params(req, &limit, &before, &has_before, &err) ||
      !read_page(api->reads, api_session_token(req, buf), api_seen(req),
                 has_before ? &before : NULL, limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

void api_feed(http_request_t *req) { reply_page(req, reads_feed); }
void api_timeline(http_request_t *req) { reply_page(req, reads_timeline); }
