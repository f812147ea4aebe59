/*
 * metrics_page.h - GET /metrics: Prometheus text exposition of the whole
 * server: the HTTP request series (metrics.h), 2PC outcomes
 * (sync_get_stats), WebSocket clients (ws.h), event-log head and lag and
 * the read barrier (events.h), the database pool, the write gate and the
 * health of every deployment (db.h), and the read model (model.h).
 * Every value is read from the module that owns it when the page is
 * asked for.
 *
 * A route handler (router.h) whose req->ctx is the chorus_server_t.
 * Thread-safe.
 */
#ifndef CHORUS_METRICS_PAGE_H
#define CHORUS_METRICS_PAGE_H

#include "server/http/http.h"

void metrics_page(http_request_t *req);

#endif
