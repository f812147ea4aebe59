/*
 * reads.c - see reads.h.
 */
#include "server/readmodel/reads.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sync/events/events.h"
#include "server/domain/follows.h"
#include "server/domain/likes.h"
#include "server/readmodel/model.h"
#include "server/domain/sessions.h"
#include "server/domain/users.h"

/* ---- loading ---- */

struct model_loader {
  chorus_server_t *srv;
  pthread_t thread;
  atomic_bool stopping;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The scans' callbacks: ctx is the loader; false stops a scan when the
 * server is stopping (a load of a big database takes minutes). */
static bool load_name(void *ctx, const user_name_t *name) {
  model_loader_t *l = ctx;
  model_load_user(l->srv->model, name);
  return !atomic_load(&l->stopping);
}

static bool load_follow(void *ctx, const bson_oid_t *a, const bson_oid_t *b) {
  model_loader_t *l = ctx;
  model_load_follow(l->srv->model, a, b);
  return !atomic_load(&l->stopping);
}

static bool load_like(void *ctx, const bson_oid_t *a, const bson_oid_t *b) {
  model_loader_t *l = ctx;
  model_load_like(l->srv->model, a, b);
  return !atomic_load(&l->stopping);
}

static bool load_tweet(void *ctx, const tweet_t *t) {
  model_loader_t *l = ctx;
  model_load_tweet(l->srv->model, t);
  return !atomic_load(&l->stopping);
}

static bool load_once(model_loader_t *l, chorus_error_t *err) {
  chorus_server_t *srv = l->srv;
  model_t *m = srv->model;
  model_load_begin(m);
  /* Users last: everyone who wrote a scanned tweet is then named (names
   * are never taken from stored tweets; see model.c). */
  bool ok = follows_scan(srv->db, srv->sync, load_follow, l, err) &&
            likes_scan(srv->db, srv->sync, load_like, l, err) &&
            tweets_scan(srv->sync, load_tweet, l, err) &&
            users_scan_names(srv->db, srv->sync, load_name, l, err);
  if (ok && atomic_load(&l->stopping)) {
    chorus_error_set(err, 503, "stopping", "the server is stopping");
    ok = false;
  }
  if (ok) {
    model_load_end(m);
  } else {
    model_load_abort(m);
  }
  return ok;
}

/* After the load: settle the follow and like pairs that events touched
 * (model.h, "settling"), reading each one's committed state. */
#define SETTLE_BATCH 256
#define SETTLE_IDLE_MS 20

static void settle_loop(model_loader_t *l) {
  chorus_server_t *srv = l->srv;
  model_check_t *checks = bson_malloc(sizeof *checks * SETTLE_BATCH);
  while (!atomic_load(&l->stopping)) {
    size_t n = model_take_checks(srv->model, checks, SETTLE_BATCH);
    for (size_t i = 0; i < n && !atomic_load(&l->stopping); i++) {
      bool present;
      chorus_error_t err;
      model_check_t *c = &checks[i];
      bool ok = c->kind == MODEL_CHECK_FOLLOW
                    ? follows_check(srv->db, srv->sync, &c->a, &c->b,
                                    &present, &err)
                    : likes_check(srv->db, srv->sync, &c->a, &c->b,
                                  &present, &err);
      if (ok) {
        model_settle_check(srv->model, c, present);
      }
      /* A failed read leaves the event's state; the pair's next event
       * (or the next load) settles it.  Rare: the database was down. */
    }
    if (n == 0) {
      usleep(SETTLE_IDLE_MS * 1000);
    }
  }
  bson_free(checks);
}

static void *loader_main(void *arg) {
  model_loader_t *l = arg;
  chorus_server_t *srv = l->srv;
  for (int attempt = 0; !atomic_load(&l->stopping); attempt++) {
    double t0 = now_s();
    chorus_error_t err;
    if (load_once(l, &err)) {
      model_stats_t st;
      model_get_stats(srv->model, &st);
      fprintf(stderr,
              "chorusd[%s]: read model loaded in %.1f s: %llu users, %llu "
              "tweets held\n",
              srv->config.server_id, now_s() - t0,
              (unsigned long long)st.users, (unsigned long long)st.tweets);
      settle_loop(l);
      return NULL;
    }
    if (atomic_load(&l->stopping)) {
      break;
    }
    if (attempt % 10 == 0) {
      fprintf(stderr, "chorusd[%s]: read model: load failed (%s); "
                      "retrying\n",
              srv->config.server_id, err.message);
    }
    for (int i = 0; i < 10 && !atomic_load(&l->stopping); i++) {
      usleep(100 * 1000);
    }
  }
  return NULL;
}

model_loader_t *reads_loader_start(chorus_server_t *srv) {
  model_loader_t *l = bson_malloc0(sizeof *l);
  l->srv = srv;
  if (pthread_create(&l->thread, NULL, loader_main, l) != 0) {
    bson_free(l);
    return NULL;
  }
  return l;
}

void reads_loader_stop(model_loader_t *l) {
  if (!l) {
    return;
  }
  /* A scan in progress stops at its next document (or when the database
   * answers or times out). */
  atomic_store(&l->stopping, true);
  pthread_join(l->thread, NULL);
  bson_free(l);
}

/* ---- reading ---- */

bool reads_fresh(chorus_server_t *srv, int64_t after_seq) {
  /* While the database is known to be down no poll can complete: do not
   * wait for one (the request is answered 503 at once). */
  return srv->model && db_is_up(srv->db) &&
         events_sync(sync_events(srv->sync), READS_SYNC_TIMEOUT_MS,
                     srv->config.read_staleness_ms, after_seq);
}

int64_t reads_seen(const http_request_t *req) {
  char buf[24];
  if (!http_cookie(req, READS_SEEN_COOKIE, buf, sizeof buf) ||
      buf[0] < '1' || buf[0] > '9') {
    return 0;
  }
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  return errno == 0 && *end == '\0' ? (int64_t)v : 0;
}

void reads_seen_header(const http_request_t *req, char *buf, size_t size) {
  buf[0] = '\0';
  events_t *ev = req->server->sync ? sync_events(req->server->sync) : NULL;
  if (!ev) {
    return;
  }
  int64_t seq = events_published(ev), own = reads_seen(req);
  if (own > seq) {
    seq = own;
  }
  if (seq > 0) {
    /* A minute is plenty: once stale_ms has passed after an event, every
     * server's shortcut includes it anyway (its poll began later). */
    snprintf(buf, size,
             "Set-Cookie: " READS_SEEN_COOKIE "=%lld; Path=/; Max-Age=60; "
             "SameSite=Lax\r\n",
             (long long)seq);
  }
}

bool reads_viewer(chorus_server_t *srv, bool fresh, const char *token,
                  bson_oid_t *viewer, bool *logged_in, chorus_error_t *err) {
  char sid[SESSION_ID_LEN + 1];
  *logged_in = false;
  if (!token || !sessions_id(token, sid)) {
    return true;
  }
  if (fresh && model_session_get(srv->model, sid, db_now_ms(), viewer)) {
    *logged_in = true;
    return true;
  }
  uint64_t epoch = fresh ? model_session_epoch(srv->model) : 0;
  int64_t expires_at = 0;
  mongoc_client_t *client = db_acquire(srv->db);
  chorus_error_t e;
  bool ok = sessions_resolve(srv->db, client, token, viewer, &expires_at, &e);
  db_release(srv->db, client);
  if (ok) {
    *logged_in = true;
    if (fresh) {
      model_session_put(srv->model, sid, viewer, expires_at, epoch);
    }
    return true;
  }
  if (e.status >= 500) {
    *err = e;
    return false;
  }
  return true; /* unknown or expired: logged out */
}

bool reads_feed(chorus_server_t *srv, bool fresh, const bson_oid_t *viewer,
                const page_cursor_t *before, size_t limit,
                tweet_page_t *page, chorus_error_t *err) {
  if (fresh && model_feed(srv->model, viewer, before, limit, page)) {
    return true;
  }
  bson_oid_t *ids = NULL;
  size_t n = 0;
  if (!follows_followees(srv->db, srv->sync, viewer, &ids, &n, err)) {
    return false;
  }
  ids[n++] = *viewer; /* follows_followees leaves room for one more */
  tweet_query_t q = {.kind = TWEETS_BY_AUTHORS, .authors = ids,
                     .n_authors = n};
  user_t me;
  memset(&me, 0, sizeof me);
  me.id = *viewer;
  bool ok = tweets_list(srv->db, srv->sync, &q, before, limit, &me, page,
                        err);
  bson_free(ids);
  return ok;
}

bool reads_timeline(chorus_server_t *srv, bool fresh,
                    const bson_oid_t *viewer, const page_cursor_t *before,
                    size_t limit, tweet_page_t *page, chorus_error_t *err) {
  if (fresh && model_timeline(srv->model, viewer, before, limit, page)) {
    return true;
  }
  tweet_query_t q = {.kind = TWEETS_ALL};
  user_t me;
  memset(&me, 0, sizeof me);
  if (viewer) {
    me.id = *viewer;
  }
  return tweets_list(srv->db, srv->sync, &q, before, limit,
                     viewer ? &me : NULL, page, err);
}
