/*
 * server.c - bringing a chorusd up and down; see server.h.
 *
 * Composition, bottom up: the database and sync, the read model and its
 * reads, the hub and the WebSocket server, the event log that feeds the
 * model then the hub, and HTTP: the web client's files, read from
 * public_dir into memory at start (static.h), and the dispatch (dispatch.h)
 * answers /api, /media, /healthz, /readyz and /metrics from three route
 * tables, the app's own (health.h, metrics_page.h) and the API's (api.h:
 * JSON routes, and the upload's, which takes multipart/form-data).
 * Start-up waits for the database (logging every few seconds) so that
 * indexes, including the one that makes usernames unique, exist before the
 * first request is served.
 */
#include "server/app/server.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/api/api.h"
#include "server/app/health.h"
#include "server/app/metrics_page.h"
#include "server/domain/event_payloads.h"
#include "server/domain/image.h"
#include "server/domain/passwords.h"
#include "server/domain/schema.h"
#include "server/domain/users.h"
#include "server/http/static.h"
#include "sync/events/events.h"

_Static_assert(CONFIG_SHARDS_MAX == SHARDS_MAX, "one limit for shards");

/* The app's own routes; their handlers get the chorus_server_t. */
static const route_t app_routes[] = {
    {"GET", "/healthz", health_healthz},
    {"GET", "/readyz", health_readyz},
    {"GET", "/metrics", metrics_page},
    {"GET", "/api/config", health_config},
};

const route_t *server_app_routes(size_t *n) {
  *n = sizeof app_routes / sizeof app_routes[0];
  return app_routes;
}

static int log_message(const struct mg_connection *conn, const char *msg) {
  (void)conn;
  fprintf(stderr, "chorusd: civetweb: %s\n", msg);
  return 1;
}

/* Publication's enricher (event_payloads.h), on this server's database. */
static events_enrich_t enrich(void *ctx, const char *type,
                              const bson_t *skeleton, bson_t *data,
                              bson_t *model) {
  chorus_server_t *srv = ctx;
  return event_enrich(srv->db, srv->sync, type, skeleton, data, model);
}

/* The WebSocket server's Origin check: the same public origins as the
 * CSRF rule of HTTP writes. */
static bool ws_origin_allowed(void *ctx, const char *origin) {
  return origins_allow(ctx, origin);
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
  srv->origins = cfg->public_origins[0]
                     ? origins_parse(cfg->public_origins, err)
                     : origins_default(cfg->host, cfg->port, err);
  if (!srv->origins) {
    return false;
  }
  char described[2048];
  origins_describe(srv->origins, described, sizeof described);
  fprintf(stderr, "chorusd[%s]: public origins: %s\n", srv->config.server_id,
          described);
  srv->metrics = metrics_new();
  passwords_load(); /* the common passwords' set, before any registration */
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
  sc.failpoint = cfg->test.failpoint;
  sc.lease_ms = cfg->txn_lease_ms;
  sc.pool_size = pool_size;
  sc.deferred_colls = users_deferred_colls();
  srv->sync = sync_new(srv->db, &sc, err);
  if (!srv->sync) {
    server_stop(srv);
    return false;
  }
  if (!wait_for_database(srv, err)) {
    server_stop(srv);
    return false;
  }
  /* Images: libvips once for the process, the store, its sweeper. */
  if (!image_init(err)) {
    server_stop(srv);
    return false;
  }
  media_config_t mcfg = {
      .quota_bytes = (int64_t)cfg->media_quota_mb << 20,
      .uploads = cfg->media_uploads,
      .cache_bytes = (size_t)cfg->media_cache_mb << 20,
      .unattached_ms = (int64_t)cfg->media_unattached_s * 1000,
  };
  srv->media = media_store_new(srv->db, srv->sync, &mcfg);
  srv->sweeper = sweeper_start(srv->media, err);
  if (!srv->sweeper) {
    server_stop(srv);
    return false;
  }

  /* The read model and its reads (which the hub's session lookups use
   * too), then real time: the hub, the WebSocket server, then the event
   * log that feeds them. */
  if (cfg->read_model) {
    model_config_t mc = {.per_author = (size_t)cfg->model_per_author,
                         .ring = (size_t)cfg->model_ring};
    srv->model = model_new(&mc);
  }
  reads_config_t rc = {
      .db = srv->db,
      .sync = srv->sync,
      .model = srv->model,
      .staleness_ms = cfg->read_staleness_ms,
      .server_id = srv->config.server_id,
  };
  srv->reads = reads_new(&rc);
  srv->hub = hub_new(srv->db, srv->sync, srv->reads, cfg->test.resume_delay_ms);
  ws_callbacks_t cb;
  hub_ws_callbacks(srv->hub, &cb);
  ws_config_t wc;
  memset(&wc, 0, sizeof wc);
  wc.host = cfg->host;
  wc.port = cfg->ws_port;
  wc.threads = cfg->ws_threads;
  wc.origin_allowed = ws_origin_allowed;
  wc.origin_ctx = srv->origins;
  srv->ws = ws_server_start(&wc, &cb, err);
  if (!srv->ws) {
    server_stop(srv);
    return false;
  }
  hub_set_ws(srv->hub, srv->ws);
  if (!events_start(sync_events(srv->sync), enrich, srv, on_event, srv, err)) {
    server_stop(srv);
    return false;
  }
  /* The model is fed from here on: it may load, and cache sessions.  On
   * failure the database answers every read. */
  reads_start(srv->reads);

  /* HTTP: the transport's settings, the route tables, civetweb. */
  srv->api.db = srv->db;
  srv->api.sync = srv->sync;
  srv->api.reads = srv->reads;
  srv->api.media = srv->media;
  srv->api.login_limits = (ratelimit_login_t){
      .per_user_address = cfg->login_limit_user_address,
      .per_address = cfg->login_limit_address,
      .slow_user = cfg->login_slow_user,
      .delay_max_ms = cfg->login_delay_max_ms,
      .window_s = cfg->login_window_s,
  };
  srv->api.write_limits = (ratelimit_writes_t){
      .enabled = cfg->rate_limits != 0,
      .of[RATELIMIT_REGISTER] = {0, cfg->limit_register_address,
                                 cfg->limit_register_window_s},
      .of[RATELIMIT_TWEET] = {cfg->limit_tweet_account,
                              cfg->limit_tweet_address,
                              cfg->limit_tweet_window_s},
      .of[RATELIMIT_FOLLOW] = {cfg->limit_follow_account,
                               cfg->limit_follow_address,
                               cfg->limit_follow_window_s},
      .of[RATELIMIT_LIKE] = {cfg->limit_like_account, cfg->limit_like_address,
                             cfg->limit_like_window_s},
  };
  http_transport_t transport = {
      .server_id = srv->config.server_id,
      .trusted_proxies = srv->config.trusted_proxies,
      .origins = srv->origins,
      .log_requests = cfg->log_requests != 0,
      .metrics = srv->metrics,
      /* The client's causal token on every successful write (reads.h). */
      .write_headers = api_write_headers,
      .write_headers_ctx = &srv->api,
      /* ... and the reads of every request as fresh as it asks. */
      .before_handler = api_before_handler,
      .before_handler_ctx = &srv->api,
  };
  srv->dispatch = dispatch_new(&transport);
  size_t n_app;
  const route_t *app = server_app_routes(&n_app);
  dispatch_add_routes(srv->dispatch, app, n_app, srv);
  size_t n_api;
  const route_t *api = api_routes(&n_api);
  dispatch_add_routes(srv->dispatch, api, n_api, &srv->api);
  api = api_upload_routes(&n_api);
  dispatch_add_routes_typed(srv->dispatch, api, n_api, &srv->api,
                            API_UPLOAD_TYPE);

  srv->files = static_load(cfg->public_dir, err);
  if (!srv->files) {
    server_stop(srv);
    return false;
  }

  /* The connection guard (guard.h) follows every connection from
   * accept() on, so it guards the port before civetweb listens. */
  guard_config_t gc = {
      .name = srv->config.server_id,
      .workers = cfg->threads,
      .per_address = cfg->http_per_address,
      .head_timeout_ms = cfg->http_head_timeout_ms,
      .body_timeout_ms = cfg->http_body_timeout_ms,
      .idle_timeout_ms = cfg->http_idle_timeout_ms,
      .spare_workers = cfg->http_spare_workers >= 0 ? cfg->http_spare_workers
                       : cfg->threads >= 16         ? cfg->threads / 8
                                                    : 1,
      .trusted_proxies = srv->config.trusted_proxies,
  };
  srv->guard = guard_new(&gc);
  if (!guard_start(srv->guard, cfg->port, err)) {
    server_stop(srv);
    return false;
  }

  char ports[320], threads[16], head_ms[16], idle_ms[16];
  snprintf(ports, sizeof ports, "%s:%d", cfg->host, cfg->port);
  snprintf(threads, sizeof threads, "%d", cfg->threads);
  /* civetweb's own timeouts back the guard's up: its request timeout
   * bounds each read and write, its keep-alive timeout the next head. */
  snprintf(head_ms, sizeof head_ms, "%d", cfg->http_head_timeout_ms);
  snprintf(idle_ms, sizeof idle_ms, "%d", cfg->http_idle_timeout_ms);
  const char *options[] = {
      "listening_ports",
      ports,
      "num_threads",
      threads,
      "document_root",
      cfg->public_dir,
      "enable_directory_listing",
      "no",
      "enable_keep_alive",
      "yes",
      /* Without it Nagle holds back the end of a response on a kept-alive
       * connection until the client's delayed ACK: ~40 ms per request. */
      "tcp_nodelay",
      "1",
      "keep_alive_timeout_ms",
      idle_ms,
      "request_timeout_ms",
      head_ms,
      "additional_header",
      STATIC_HEADERS,
      /* What civetweb serves itself (static.h serves the client's files
       * from memory): revalidated with the ETag every time. */
      "static_file_cache_control",
      "no-cache",
      /* No CORS: civetweb's default "*" answers every preflight (OPTIONS
       * with Origin and Access-Control-Request-Method) itself, before any
       * handler, with Access-Control-Allow-Origin: *, and adds that
       * header to every file served to a request with an Origin.  The
       * page and the API share one origin, which needs no CORS. */
      "access_control_allow_origin",
      "",
      "access_control_allow_methods",
      "",
      NULL,
  };
  struct mg_callbacks callbacks;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.log_message = log_message;
  callbacks.http_error = http_civetweb_error; /* JSON, as every answer */
  guard_set_callbacks(&callbacks);
  srv->http = mg_start(&callbacks, srv, options);
  if (!srv->http) {
    chorus_error_set(err, 500, "listen_failed",
                     "cannot serve HTTP on %s (port in use?)", ports);
    server_stop(srv);
    return false;
  }
  mg_set_request_handler(srv->http, "/api", dispatch_serve, srv->dispatch);
  mg_set_request_handler(srv->http, "/healthz", dispatch_serve, srv->dispatch);
  mg_set_request_handler(srv->http, "/readyz", dispatch_serve, srv->dispatch);
  mg_set_request_handler(srv->http, "/metrics", dispatch_serve, srv->dispatch);
  mg_set_request_handler(srv->http, "/media", dispatch_serve, srv->dispatch);
  mg_set_request_handler(srv->http, "/", static_serve_app, srv->files);
  return true;
}

void server_stop(chorus_server_t *srv) {
  if (srv->http) {
    mg_stop(srv->http);
    srv->http = NULL;
  }
  guard_destroy(srv->guard); /* after civetweb: no connection is left */
  srv->guard = NULL;
  static_destroy(srv->files);
  srv->files = NULL;
  sweeper_stop(srv->sweeper);
  srv->sweeper = NULL;
  if (srv->ws) {
    ws_server_stop(srv->ws); /* clients get 1001 "going away" */
    srv->ws = NULL;
  }
  hub_stop(srv->hub);        /* its worker reads the trends from reads */
  reads_destroy(srv->reads); /* stops the loader */
  srv->reads = NULL;
  sync_destroy(srv->sync); /* stops recovery and events first */
  srv->sync = NULL;
  model_destroy(srv->model);
  srv->model = NULL;
  hub_destroy(srv->hub);
  srv->hub = NULL;
  dispatch_destroy(srv->dispatch);
  srv->dispatch = NULL;
  media_store_destroy(srv->media); /* after civetweb and the sweeper */
  srv->media = NULL;
  metrics_destroy(srv->metrics);
  srv->metrics = NULL;
  origins_destroy(srv->origins);
  srv->origins = NULL;
  db_destroy(srv->db);
  srv->db = NULL;
}
