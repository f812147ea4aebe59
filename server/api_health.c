/*
 * api_health.c - probes for load balancers and operators:
 *   GET /healthz  200 while the process serves HTTP (no database access)
 *   GET /readyz   200 when the database answers a ping, else 503
 *   GET /api/config  what the web client needs to know: the WebSocket URL
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "server.h"

static void reply_status(http_request_t *req, int status, bool db_ok) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "status", status == 200 ? "ok" : "unavailable");
  BSON_APPEND_UTF8(&doc, "server", req->server->config.server_id);
  if (status != 200 || db_ok) {
    BSON_APPEND_BOOL(&doc, "database", db_ok);
  }
  http_reply_json(req, status, &doc, NULL);
  bson_destroy(&doc);
}

void api_healthz(http_request_t *req) { reply_status(req, 200, false); }

void api_readyz(http_request_t *req) {
  chorus_error_t err;
  bool ok = db_ping(req->server->db, &err);
  reply_status(req, ok ? 200 : 503, ok);
}

void api_config(http_request_t *req) {
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
  snprintf(url, sizeof url, "ws://%s:%d/ws", name,
           req->server->config.ws_port);
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "ws_url", url);
  BSON_APPEND_UTF8(&doc, "server", req->server->config.server_id);
  http_reply_json(req, 200, &doc, NULL);
  bson_destroy(&doc);
}
