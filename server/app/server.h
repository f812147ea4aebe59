/*
 * server.h - the one server context of a chorusd process, and bringing
 * it up and down.
 *
 * A chorus_server_t holds everything the process runs: the configuration,
 * the database pool, the transaction layer and its event log, the read
 * model and its reads, the WebSocket hub and server, and the HTTP server
 * with its dispatch.  There is no other process-wide state.  The layers
 * below never see it: each gets its own context (reads_t, api_t, the
 * HTTP transport's settings, the hub), made here.  Only the app's own
 * handlers (health.h, metrics_page.h) get the whole server as their
 * context.  It is filled by server_start() before any thread runs and is
 * read-only afterwards, except for members that are thread-safe objects
 * in their own right.
 */
#ifndef CHORUS_SERVER_H
#define CHORUS_SERVER_H

#include <civetweb.h>
#include <stdbool.h>

#include "server/api/api.h"
#include "server/app/config.h"
#include "server/app/sweeper.h"
#include "server/http/dispatch.h"
#include "server/http/guard.h"
#include "server/http/metrics.h"
#include "server/http/origin.h"
#include "server/http/static.h"
#include "server/readmodel/model.h"
#include "server/readmodel/reads.h"
#include "server/realtime/hub.h"
#include "server/realtime/ws.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

typedef struct chorus_server {
  chorus_config_t config;
  origins_t *origins;   /* the public origins (CSRF rule, WS upgrades) */
  db_t *db;             /* the main database */
  sync_t *sync;         /* transactions, tweet shards, recovery, events */
  model_t *model;       /* the read model; NULL when --read-model 0 */
  reads_t *reads;       /* the hot reads and the session resolver */
  hub_t *hub;           /* which WebSocket client gets which event */
  ws_server_t *ws;      /* the WebSocket server (libwebsockets) */
  media_store_t *media; /* uploads, their files and quotas */
  sweeper_t *sweeper;   /* removes unused uploads and deleted files */
  api_t api;            /* the API handlers' context */
  metrics_t *metrics;   /* request counters for GET /metrics */
  dispatch_t *dispatch; /* routes HTTP requests to the handlers */
  guard_t *guard;       /* what one HTTP client may hold of the workers */
  static_set_t *files;  /* the web client's files, in memory (static.h) */
  struct mg_context *http;
} chorus_server_t;

/* Connects the pool, waits for the database (logging every few seconds)
 * until every index exists and the 2PC has started, then starts the read
 * model, real time and HTTP.  On failure (a database that answers with an
 * error, a port in use) everything started is stopped again. */
bool server_start(chorus_server_t *srv, const chorus_config_t *cfg,
                  chorus_error_t *err);

/* Stops serving (waiting for in-flight requests) and frees everything. */
void server_stop(chorus_server_t *srv);

/* The app's own route table (/healthz, /readyz, /metrics, /api/config),
 * whose handlers get the chorus_server_t as req->ctx; the API's are
 * api_routes and api_upload_routes (api.h).  Static: docs/openapi.yaml is
 * checked against all three (unit.test_openapi_routes). */
const route_t *server_app_routes(size_t *n);

#endif
