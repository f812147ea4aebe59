/*
 * health.c - see health.h.
 */
#include "server/app/health.h"

#include <stdio.h>
#include <string.h>

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
  /* The WebSocket listens on the same host name the page was loaded from
   * (cookies are per host, not per port, so it gets the session cookie). */
  const char *host = mg_get_header(req->conn, "Host");
  char name[256] = "localhost";
  if (host) {
    size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    if (n > 0 && n < sizeof name) {
      memcpy(name, host, n);
      name[n] = '\0';
    }
  }
  char url[320];
  snprintf(url, sizeof url, "ws://%s:%d/ws", name, srv->config.ws_port);
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "ws_url", url);
  BSON_APPEND_UTF8(&doc, "server", srv->config.server_id);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
