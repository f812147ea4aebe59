/*
 * notifications.c - what happened to me:
 *   GET  /api/notifications               notifications and unread count
 *   POST /api/notifications/read          {"ok":true,"unread":0}
 */
#include "server/domain/notifications.h"
#include "server/api/api.h"
#include "server/domain/render.h"

void api_notifications(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  size_t limit;
  page_cursor_t before;
  bool has_before;
  notification_page_t page;
  if (!api_current_user(req, &me, &err) ||
      !api_page_params(req, &limit, &before, &has_before, &err) ||
      !notifications_list(api->db, api->sync, &me, has_before ? &before : NULL,
                          limit, &page, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  render_notification_page(&doc, &page);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
  notification_page_destroy(&page);
}

void api_notifications_read(http_request_t *req) {
  api_t *api = req->ctx;
  chorus_error_t err;
  user_t me;
  if (!api_current_user(req, &me, &err) || !api_no_body(req, &err) ||
      !notifications_mark_read(api->db, api->sync, &me, &err)) {
    http_reply_error(req, &err);
    return;
  }
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_BOOL(&doc, "ok", true);
  BSON_APPEND_INT64(&doc, "unread", 0);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
