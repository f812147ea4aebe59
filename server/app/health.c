/*
 * health.c - see health.h.
 */
#include "server/app/health.h"

#include "server/app/server.h"

static void reply_status(http_request_t *req, int status, bool db_ok) {
  chorus_server_t *srv = req->ctx;
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "status", status == 200 ? "ok" : "unavailable");
  BSON_APPEND_UTF8(&doc, "server", srv->config.server_id);
  if (status != 200 || db_ok) {
    BSON_APPEND_BOOL(&doc, "database", db_ok);
  }
  http_reply_json(req, status, &doc, NULL);
  bson_destroy(&doc);
}

void health_healthz(http_request_t *req) { reply_status(req, 200, false); }

void health_readyz(http_request_t *req) {
  chorus_server_t *srv = req->ctx;
  chorus_error_t err;
  bool ok = db_ping(srv->db, &err); /* refused at once when down */
  reply_status(req, ok ? 200 : 503, ok);
}

void health_config(http_request_t *req) {
  chorus_server_t *srv = req->ctx;
  /* Where the WebSocket listens, relative to the page: the host the page
   * was loaded from (cookies are per host, not per port, so the upgrade
   * carries the session cookie), port ws_port, path ws_path.  Nothing of
   * the request goes into it: the page resolves it against its own
   * location (public/js/live.js), so no Host header can send it
   * elsewhere; a proxy serving /ws on the page's own origin answers
   * ws_port null itself (scripts/nginx.conf). */
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_INT32(&doc, "ws_port", srv->config.ws_port);
  BSON_APPEND_UTF8(&doc, "ws_path", "/ws");
  BSON_APPEND_UTF8(&doc, "server", srv->config.server_id);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
