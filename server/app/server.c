/*
 * server.c - bringing a chorusd up and down; see server.h.
 *
 * civetweb serves files of public_dir itself and calls api_dispatch for
 * /api, /healthz and /readyz.  Start-up waits for the database (logging
 * every few seconds) so that indexes, including the one that makes
 * usernames unique, exist before the first request is served.
 */
#include "server/app/server.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/api/api.h"
#include "server/domain/event_payloads.h"
#include "server/domain/schema.h"
#include "sync/events/events.h"
#include "server/realtime/hub.h"
#include "server/http/metrics.h"
#include "server/readmodel/model.h"
#include "server/readmodel/reads.h"
#include "server/realtime/ws.h"

_Static_assert(CONFIG_SHARDS_MAX == SHARDS_MAX, "one limit for shards");

/* Headers civetweb adds to the static files it serves. */
#define STATIC_HEADERS                                                      \
  "X-Content-Type-Options: nosniff\r\n"                                     \
  "Referrer-Policy: same-origin\r\n"                                        \
  "Content-Security-Policy: default-src 'self'; script-src 'self'; "        \
  "style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "   \
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static int log_message(const struct mg_connection *conn, const char *msg) {
  (void)conn;
  fprintf(stderr, "chorusd: civetweb: %s\n", msg);
  return 1;
}

/* The single-page app owns every path that is not an API route or a file:
 * /u/alice, /t/<id>, /search... are answered with index.html, so deep
 * links and reloads work.  A path whose last segment has a dot (a missing
 * file like /nope.js) stays a 404, and so does anything under /api. */
static int app_page(struct mg_connection *conn, void *cbdata) {
  chorus_server_t *srv = cbdata;
  const char *uri = mg_get_request_info(conn)->local_uri;
  if (!uri || !strcmp(uri, "/") || strstr(uri, "..") ||
      !strncmp(uri, "/api/", 5)) {
    return 0; /* civetweb's own handling */
  }
  char path[PATH_MAX + 1024];
  snprintf(path, sizeof path, "%s%s", srv->config.public_dir, uri);
  struct stat st;
  const char *last = strrchr(uri, '/');
  if (stat(path, &st) == 0 || (last && strchr(last, '.'))) {
    return 0; /* a real file (or a missing one): served or 404 */
  }
  snprintf(path, sizeof path, "%s/index.html", srv->config.public_dir);
  mg_send_mime_file(conn, path, "text/html; charset=utf-8");
  return 200;
}

/* Publication's enricher (event_payloads.h), on this server's database. */
static events_enrich_t enrich(void *ctx, const char *type,
                              const bson_t *skeleton, bson_t *data,
                              bson_t *model) {
  chorus_server_t *srv = ctx;
  return event_enrich(srv->db, srv->sync, type, skeleton, data, model);
}

/* Every event, in order: first the read model, then the WebSocket hub. */
static void on_event(void *ctx, const event_t *e) {
  chorus_server_t *srv = ctx;
  if (srv->model) {
    model_apply(srv->model, e->type, &e->model);
  }
  hub_on_event(srv->hub, e);
}

static bool wait_for_database(chorus_server_t *srv, chorus_error_t *err) {
  for (int attempt = 0;; attempt++) {
    if (schema_ensure_indexes(srv->db, sync_shards(srv->sync), err) &&
        sync_start(srv->sync, err)) {
      return true;
    }
    if (err->status != 503) {
      return false; /* the database answered with a real error */
    }
    if (attempt % 5 == 0) {
      fprintf(stderr, "chorusd[%s]: waiting for the database at %s\n",
              srv->config.server_id, srv->config.mongo_uri);
    }
    sleep(1);
  }
}

bool server_start(chorus_server_t *srv, const chorus_config_t *cfg,
                  chorus_error_t *err) {
  memset(srv, 0, sizeof *srv);
  srv->config = *cfg;
  srv->metrics = metrics_new();
  /* Each worker thread holds at most one client of a pool at a time; the
   * spare ones are for the recovery thread. */
  int pool_size = cfg->threads + 4;
  srv->db = db_new(cfg->mongo_uri, cfg->db_name, pool_size, err);
  if (!srv->db) {
    return false;
  }
  db_set_slow_ms(srv->db, cfg->db_slow_ms);
  db_set_write_limit(srv->db, cfg->db_write_gate);
  db_set_filters(srv->db, !strcmp(cfg->db_filters, "id")     ? DB_FILTERS_ID
                          : !strcmp(cfg->db_filters, "full") ? DB_FILTERS_FULL
                                                             : DB_FILTERS_AUTO);
  sync_config_t sc;
  memset(&sc, 0, sizeof sc);
  sc.n_shards = cfg->shards;
  for (int k = 0; k < cfg->shards && k < SHARDS_MAX; k++) {
    sc.shard_uris[k] = cfg->shard_uris[k][0] ? cfg->shard_uris[k] : NULL;
  }
  sc.server_id = srv->config.server_id;
  sc.failpoint = cfg->failpoint;
  sc.lease_ms = cfg->txn_lease_ms;
  sc.pool_size = pool_size;
  srv->sync = sync_new(srv->db, &sc, err);
  if (!srv->sync) {
    server_stop(srv);
    return false;
  }
  if (!wait_for_database(srv, err)) {
    server_stop(srv);
    return false;
  }

  /* Real time: the hub, the WebSocket server, then the event log that
   * feeds them. */
  srv->hub = hub_new(srv->db, srv->sync, cfg->test_resume_delay_ms);
  ws_callbacks_t cb;
  hub_ws_callbacks(srv->hub, &cb);
  ws_config_t wc;
  memset(&wc, 0, sizeof wc);
  wc.host = cfg->host;
  wc.port = cfg->ws_port;
  wc.threads = cfg->ws_threads;
  srv->ws = ws_server_start(&wc, &cb, err);
  if (!srv->ws) {
    server_stop(srv);
    return false;
  }
  hub_set_ws(srv->hub, srv->ws);
  if (cfg->read_model) {
    model_config_t mc = {(size_t)cfg->model_per_author,
                         (size_t)cfg->model_ring};
    srv->model = model_new(&mc);
  }
  if (!events_start(sync_events(srv->sync), enrich, srv, on_event, srv,
                    err)) {
    server_stop(srv);
    return false;
  }
  if (srv->model) {
    srv->loader = reads_loader_start(srv);
  }

  char ports[320], threads[16];
  snprintf(ports, sizeof ports, "%s:%d", cfg->host, cfg->port);
  snprintf(threads, sizeof threads, "%d", cfg->threads);
  const char *options[] = {
      "listening_ports", ports,
      "num_threads", threads,
      "document_root", cfg->public_dir,
      "enable_directory_listing", "no",
      "enable_keep_alive", "yes",
      /* Without it Nagle holds back the end of a response on a kept-alive
       * connection until the client's delayed ACK: ~40 ms per request. */
      "tcp_nodelay", "1",
      "keep_alive_timeout_ms", "5000",
      "request_timeout_ms", "10000",
      "additional_header", STATIC_HEADERS,
      /* Revalidate with the ETag every time, so a deploy is seen at once. */
      "static_file_cache_control", "no-cache",
      NULL,
  };
  struct mg_callbacks callbacks;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.log_message = log_message;
  srv->http = mg_start(&callbacks, srv, options);
  if (!srv->http) {
    chorus_error_set(err, 500, "listen_failed",
                     "cannot serve HTTP on %s (port in use?)", ports);
    server_stop(srv);
    return false;
  }
  mg_set_request_handler(srv->http, "/api", api_dispatch, srv);
  mg_set_request_handler(srv->http, "/healthz", api_dispatch, srv);
  mg_set_request_handler(srv->http, "/readyz", api_dispatch, srv);
  mg_set_request_handler(srv->http, "/metrics", api_dispatch, srv);
  mg_set_request_handler(srv->http, "/", app_page, srv);
  return true;
}

void server_stop(chorus_server_t *srv) {
  if (srv->http) {
    mg_stop(srv->http);
    srv->http = NULL;
  }
  if (srv->ws) {
    ws_server_stop(srv->ws); /* clients get 1001 "going away" */
    srv->ws = NULL;
  }
  reads_loader_stop(srv->loader);
  srv->loader = NULL;
  sync_destroy(srv->sync); /* stops recovery and events first */
  srv->sync = NULL;
  model_destroy(srv->model);
  srv->model = NULL;
  hub_destroy(srv->hub);
  srv->hub = NULL;
  metrics_destroy(srv->metrics);
  srv->metrics = NULL;
  db_destroy(srv->db);
  srv->db = NULL;
}
