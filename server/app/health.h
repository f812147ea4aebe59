/*
 * health.h - probes for load balancers and operators, and what the web
 * client needs to know:
 *   GET /healthz     200 while the process serves HTTP (no database
 *                    access)
 *   GET /readyz      200 when the database answers a ping, else 503 (at
 *                    once while db.h knows it is down)
 *   GET /api/config  where the WebSocket listens, relative to the page
 *                    ({"ws_port", "ws_path"}: the page's own host name)
 *                    and the server's id
 *
 * Route handlers (router.h) whose req->ctx is the chorus_server_t.
 * Thread-safe.
 */
#ifndef CHORUS_HEALTH_H
#define CHORUS_HEALTH_H

#include "server/http/http.h"

void health_healthz(http_request_t *req);
void health_readyz(http_request_t *req);
void health_config(http_request_t *req);

#endif
