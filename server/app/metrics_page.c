/*
 * metrics_page.c - see metrics_page.h.
 */
#include "server/app/metrics_page.h"

#include <stdio.h>

#include "server/app/server.h"
#include "sync/events/events.h"

/* One family of samples by deployment: its HELP and TYPE lines (head),
 * then name{deployment="names[i]"} values[i] for each of the n. */
static void render_by_deployment(bson_string_t *out, const char *head,
                                 const char *name, char (*names)[16],
                                 const int64_t *values, size_t n) {
  bson_string_append(out, head);
  for (size_t i = 0; i < n; i++) {
    bson_string_append_printf(out, "%s{deployment=\"%s\"} %lld\n", name,
                              names[i], (long long)values[i]);
  }
}

/* The health of every deployment (db.h): the main database and each
 * tweet shard kept in its own.  Each family's samples stay together, as
 * the text format requires. */
static void render_db_health(bson_string_t *out, chorus_server_t *srv) {
  db_t *dbs[1 + SHARDS_MAX];
  char names[1 + SHARDS_MAX][16];
  size_t n = 0;
  dbs[n] = srv->db;
  bson_strncpy(names[n++], "main", sizeof names[0]);
  shards_t *shards = sync_shards(srv->sync);
  for (int k = 0; k < shards_count(shards); k++) {
    if (shards_db(shards, k) != srv->db) {
      dbs[n] = shards_db(shards, k);
      snprintf(names[n++], sizeof names[0], "shard%d", k);
    }
  }
  int64_t up[1 + SHARDS_MAX], outages[1 + SHARDS_MAX], refused[1 + SHARDS_MAX];
  for (size_t i = 0; i < n; i++) {
    db_health_t health;
    db_health(dbs[i], &health);
    up[i] = health.up ? 1 : 0;
    outages[i] = health.outages;
    refused[i] = health.refused;
  }
  render_by_deployment(out,
                       "# HELP chorus_db_up 1 while the deployment answers, 0 "
                       "while it is known to be down (what needs it gets 503 "
                       "at once).\n# TYPE chorus_db_up gauge\n",
                       "chorus_db_up", names, up, n);
  render_by_deployment(out,
                       "# HELP chorus_db_outages_total Times the "
                       "deployment went down.\n"
                       "# TYPE chorus_db_outages_total counter\n",
                       "chorus_db_outages_total", names, outages, n);
  render_by_deployment(out,
                       "# HELP chorus_db_refused_total Database "
                       "operations refused untried while the deployment "
                       "was down.\n"
                       "# TYPE chorus_db_refused_total counter\n",
                       "chorus_db_refused_total", names, refused, n);
}

static void render_model(bson_string_t *out, chorus_server_t *srv) {
  if (!srv->model) {
    return;
  }
  model_stats_t st;
  model_get_stats(srv->model, &st);
  bson_string_append_printf(
      out,
      "# HELP chorus_model_ready 1 when the read model is loaded.\n"
      "# TYPE chorus_model_ready gauge\nchorus_model_ready %d\n"
      "# HELP chorus_model_loads_total Completed loads of the read model.\n"
      "# TYPE chorus_model_loads_total counter\n"
      "chorus_model_loads_total %llu\n"
      "# HELP chorus_model_events_total Events applied to the read model.\n"
      "# TYPE chorus_model_events_total counter\n"
      "chorus_model_events_total %llu\n"
      "# HELP chorus_model_reads_total Feed and timeline pages, by who "
      "answered.\n# TYPE chorus_model_reads_total counter\n"
      "chorus_model_reads_total{source=\"memory\"} %llu\n"
      "chorus_model_reads_total{source=\"database\"} %llu\n"
      "# HELP chorus_model_tweets Tweet records held in memory.\n"
      "# TYPE chorus_model_tweets gauge\nchorus_model_tweets %llu\n"
      "# HELP chorus_model_users Users known to the read model.\n"
      "# TYPE chorus_model_users gauge\nchorus_model_users %llu\n"
      "# HELP chorus_model_sessions Sessions cached.\n"
      "# TYPE chorus_model_sessions gauge\nchorus_model_sessions %llu\n",
      st.ready ? 1 : 0, (unsigned long long)st.loads,
      (unsigned long long)st.applied, (unsigned long long)st.answered,
      (unsigned long long)st.declined, (unsigned long long)st.tweets,
      (unsigned long long)st.users, (unsigned long long)st.sessions);
}

/* The connection guard (guard.h): connections, and what it refused or
 * cut off. */
static void render_guard(bson_string_t *out, chorus_server_t *srv) {
  guard_stats_t g;
  guard_get_stats(srv->guard, &g);
  bson_string_append_printf(
      out,
      "# HELP chorus_http_connections HTTP connections open, and those of "
      "them holding a worker.\n# TYPE chorus_http_connections gauge\n"
      "chorus_http_connections{state=\"open\"} %lld\n"
      "chorus_http_connections{state=\"busy\"} %lld\n"
      "# HELP chorus_http_workers HTTP worker threads (--threads).\n"
      "# TYPE chorus_http_workers gauge\nchorus_http_workers %d\n"
      "# HELP chorus_http_connections_closed_total HTTP connections the "
      "server refused or closed, by why: over the per-address cap "
      "(refused), idle and closed for a new one of their address "
      "(evicted), a head or body past its deadline, idle past the idle "
      "timeout, idle while workers were scarce.\n"
      "# TYPE chorus_http_connections_closed_total counter\n"
      "chorus_http_connections_closed_total{reason=\"refused\"} %lld\n"
      "chorus_http_connections_closed_total{reason=\"evicted\"} %lld\n"
      "chorus_http_connections_closed_total{reason=\"head_timeout\"} %lld\n"
      "chorus_http_connections_closed_total{reason=\"body_timeout\"} %lld\n"
      "chorus_http_connections_closed_total{reason=\"idle_timeout\"} %lld\n"
      "chorus_http_connections_closed_total{reason=\"idle_scarce\"} %lld\n",
      (long long)g.open, (long long)g.busy, srv->config.threads,
      (long long)g.refused, (long long)g.evicted, (long long)g.head_timeouts,
      (long long)g.body_timeouts, (long long)g.idle_timeouts,
      (long long)g.idle_scarce);
}

/* What the media sweeper removed (sweeper.h). */
static void render_media(bson_string_t *out, chorus_server_t *srv) {
  media_sweep_stats_t st;
  sweeper_stats(srv->sweeper, &st);
  bson_string_append_printf(
      out,
      "# HELP chorus_media_swept_total What this server's media sweeper "
      "removed: uploads left unattached (their media), records of files to "
      "remove that it emptied, and GridFS files.\n"
      "# TYPE chorus_media_swept_total counter\n"
      "chorus_media_swept_total{what=\"unattached\"} %lld\n"
      "chorus_media_swept_total{what=\"trash\"} %lld\n"
      "chorus_media_swept_total{what=\"files\"} %lld\n",
      (long long)st.removed, (long long)st.purged, (long long)st.files);
}

void metrics_page(http_request_t *req) {
  chorus_server_t *srv = req->ctx;
  bson_string_t *out = bson_string_new("");
  metrics_render_requests(srv->metrics, out);
  const sync_stats_t *st = sync_get_stats(srv->sync);
  bson_string_append_printf(
      out,
      "# HELP chorus_txn_total Two-phase commit outcomes on this server.\n"
      "# TYPE chorus_txn_total counter\n"
      "chorus_txn_total{outcome=\"committed\"} %ld\n"
      "chorus_txn_total{outcome=\"aborted\"} %ld\n"
      "chorus_txn_total{outcome=\"failed\"} %ld\n"
      "chorus_txn_total{outcome=\"gave_up\"} %ld\n"
      "# HELP chorus_txn_conflicts_total Attempts that met a lock or a stale "
      "version.\n# TYPE chorus_txn_conflicts_total counter\n"
      "chorus_txn_conflicts_total %ld\n"
      "# HELP chorus_txn_recoveries_total Orphaned transactions finished "
      "here.\n# TYPE chorus_txn_recoveries_total counter\n"
      "chorus_txn_recoveries_total %ld\n"
      "# HELP chorus_txn_groups_total Groups of transactions committed "
      "together (group commit).\n# TYPE chorus_txn_groups_total counter\n"
      "chorus_txn_groups_total %ld\n"
      "# HELP chorus_txn_grouped_total Transactions run in those groups.\n"
      "# TYPE chorus_txn_grouped_total counter\n"
      "chorus_txn_grouped_total %ld\n",
      atomic_load(&st->commits), atomic_load(&st->aborts),
      atomic_load(&st->failures), atomic_load(&st->retries_exhausted),
      atomic_load(&st->conflicts), atomic_load(&st->recoveries),
      atomic_load(&st->groups), atomic_load(&st->grouped));
  events_t *ev = sync_events(srv->sync);
  int64_t head = events_head(ev), published = events_published(ev);
  bson_string_append_printf(
      out,
      "# HELP chorus_ws_clients WebSocket clients connected here.\n"
      "# TYPE chorus_ws_clients gauge\nchorus_ws_clients %zu\n"
      "# HELP chorus_event_head Last event delivered to this server's "
      "clients.\n# TYPE chorus_event_head gauge\nchorus_event_head %lld\n"
      "# HELP chorus_event_lag Events known to be published but not yet "
      "delivered here.\n# TYPE chorus_event_lag gauge\n"
      "chorus_event_lag %lld\n",
      srv->ws ? ws_server_connections(srv->ws) : (size_t)0, (long long)head,
      (long long)(published - head));
  events_sync_stats_t bar;
  events_get_sync_stats(ev, &bar);
  bson_string_append_printf(
      out,
      "# HELP chorus_read_barrier_total Read-model reads by how their "
      "freshness was settled: at once (within --read-staleness-ms and the "
      "client's token), after a poll of the event log, or not (the "
      "database answered).\n"
      "# TYPE chorus_read_barrier_total counter\n"
      "chorus_read_barrier_total{result=\"at_once\"} %llu\n"
      "chorus_read_barrier_total{result=\"waited\"} %llu\n"
      "chorus_read_barrier_total{result=\"failed\"} %llu\n",
      (unsigned long long)bar.at_once, (unsigned long long)bar.waited,
      (unsigned long long)bar.failed);
  int64_t acquires, wait_us, slow;
  db_pool_stats(srv->db, &acquires, &wait_us, &slow);
  bson_string_append_printf(
      out,
      "# HELP chorus_db_pool_acquires_total Database clients borrowed.\n"
      "# TYPE chorus_db_pool_acquires_total counter\n"
      "chorus_db_pool_acquires_total %lld\n"
      "# HELP chorus_db_pool_wait_seconds_total Time spent waiting for a "
      "free database client.\n"
      "# TYPE chorus_db_pool_wait_seconds_total counter\n"
      "chorus_db_pool_wait_seconds_total %.6f\n"
      "# HELP chorus_db_pool_slow_waits_total Waits over 1 ms.\n"
      "# TYPE chorus_db_pool_slow_waits_total counter\n"
      "chorus_db_pool_slow_waits_total %lld\n",
      (long long)acquires, (double)wait_us / 1e6, (long long)slow);
  int gate_limit;
  write_gate_stats_t gate;
  db_write_gate_stats(srv->db, &gate_limit, &gate);
  bson_string_append_printf(
      out,
      "# HELP chorus_db_write_gate_limit Write commands this server may "
      "have in flight at once (0: no limit; --db-write-gate).\n"
      "# TYPE chorus_db_write_gate_limit gauge\n"
      "chorus_db_write_gate_limit %d\n"
      "# HELP chorus_db_write_gate_waits_total Write commands that waited "
      "for their turn.\n"
      "# TYPE chorus_db_write_gate_waits_total counter\n"
      "chorus_db_write_gate_waits_total %lld\n"
      "# HELP chorus_db_write_gate_wait_seconds_total Time write commands "
      "spent waiting for their turn.\n"
      "# TYPE chorus_db_write_gate_wait_seconds_total counter\n"
      "chorus_db_write_gate_wait_seconds_total %.6f\n"
      "# HELP chorus_db_write_gate_timeouts_total Waits given up after "
      "1 s (the write was sent anyway).\n"
      "# TYPE chorus_db_write_gate_timeouts_total counter\n"
      "chorus_db_write_gate_timeouts_total %lld\n"
      "# HELP chorus_db_write_gate_held_seconds_total Time write commands "
      "held their place, from their turn to their answer.\n"
      "# TYPE chorus_db_write_gate_held_seconds_total counter\n"
      "chorus_db_write_gate_held_seconds_total %.6f\n",
      gate_limit, (long long)gate.waited, (double)gate.wait_us / 1e6,
      (long long)gate.timeouts, (double)gate.held_us / 1e6);
  render_db_health(out, srv);
  render_model(out, srv);
  render_guard(out, srv);
  render_media(out, srv);
  char length[32];
  snprintf(length, sizeof length, "%u", out->len);
  mg_response_header_start(req->conn, 200);
  mg_response_header_add(req->conn, "Content-Type",
                         "text/plain; version=0.0.4; charset=utf-8", -1);
  mg_response_header_add(req->conn, "Content-Length", length, -1);
  mg_response_header_add(req->conn, "Cache-Control", "no-store", -1);
  mg_response_header_add(req->conn, "X-Request-Id", req->request_id, -1);
  mg_response_header_send(req->conn);
  mg_write(req->conn, out->str, out->len);
  bson_string_free(out, true);
  req->status = 200;
}
