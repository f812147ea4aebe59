/*
 * tags.c - hashtags:
 *   GET /api/tags/:tag   tweets with the tag (tags.h), newest first;
 *                        ?limit= and ?before= as every list; 400
 *                        "invalid_tag" when :tag is not a tag
 *   GET /api/trends      {"items": [{"tag", "count"}]}: the tags used by
 *                        the most distinct authors in the last 24 hours
 * Both answered by the read model when it may (reads.h).
 */
#include <string.h>

#include "server/api/api.h"
#include "server/domain/render.h"
#include "server/domain/tags.h"

void api_tag(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  size_t limit;
  page_cursor_t before;
  bool has_before;
  char tag[TAG_SIZE], buf[API_TOKEN_SIZE];
  tweet_page_t page;
  const char *name = req->params[0];
  if (!tags_parse(name, strlen(name), tag, &err) ||
      !api_page_params(req, &limit, &before, &has_before, &err) ||
      !reads_tag(api->reads, api_session_token(req, buf), api_seen(req), tag,
                 has_before ? &before : NULL, limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  api_reply_tweet_page(req, &page);
}

void api_trends(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  trend_t top[TRENDS_MAX];
  size_t n;
  if (!reads_trends(api->reads, api_seen(req), READS_SYNCED, top, &n, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  render_trends(&doc, top, n);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
