/*
 * server.h - the one server context of a chorusd process.
 *
 * Everything a request needs is reachable from the chorus_server_t it is
 * given (civetweb hands it to every handler as callback data): the
 * configuration, the database pool, the transaction layer and the HTTP
 * server.  There is no other
 * process-wide state.  The context is created by server_start() before any
 * thread runs and is read-only afterwards, except for members that are
 * thread-safe objects in their own right (db).
 */
#ifndef CHORUS_SERVER_H
#define CHORUS_SERVER_H

#include <civetweb.h>
#include <stdbool.h>

#include "server/app/config.h"
#include "sync/base/db.h"
#include "sync/base/error.h"
#include "sync/sync.h"

struct hub;
struct ws_server;
struct metrics;
struct model;
struct model_loader;

typedef struct chorus_server {
  chorus_config_t config;
  db_t *db;            /* the main database */
  sync_t *sync;        /* transactions, tweet shards, recovery, events */
  struct hub *hub;     /* which WebSocket client gets which event */
  struct ws_server *ws;/* the WebSocket server (libwebsockets) */
  struct mg_context *http;
  struct metrics *metrics; /* request counters for GET /metrics */
  struct model *model; /* the read model (model.h); NULL when disabled */
  struct model_loader *loader; /* loads it in the background */
} chorus_server_t;

/* Connects the pool, creates indexes when the database is reachable (and
 * again on the first /readyz that finds it reachable), and starts serving.
 * On failure everything started is stopped again. */
bool server_start(chorus_server_t *srv, const chorus_config_t *cfg,
                  chorus_error_t *err);

/* Stops serving (waiting for in-flight requests) and frees everything. */
void server_stop(chorus_server_t *srv);

#endif
