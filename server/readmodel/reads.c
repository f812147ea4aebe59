/*
 * reads.c - see reads.h.
 */
#include "server/readmodel/reads.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/domain/follows.h"
#include "server/domain/likes.h"
#include "server/domain/reposts.h"
#include "server/domain/sessions.h"
#include "server/domain/tags.h"
#include "sync/events/events.h"

struct reads {
  db_t *db;
  sync_t *sync;
  model_t *model; /* NULL: disabled */
  int staleness_ms;
  const char *server_id;
  bool (*polled_within)(void *ctx, int within_ms);
  void *polled_ctx;
  atomic_bool live; /* reads_start was called: the cache may be filled */
  pthread_t loader; /* while loader_started */
  bool loader_started;
  atomic_bool stopping;
};

reads_t *reads_new(const reads_config_t *cfg) {
  reads_t *r = bson_malloc0(sizeof *r);
  r->db = cfg->db;
  r->sync = cfg->sync;
  r->model = cfg->model;
  r->staleness_ms = cfg->staleness_ms;
  r->server_id = cfg->server_id;
  r->polled_within = cfg->polled_within;
  r->polled_ctx = cfg->polled_ctx;
  return r;
}

void reads_destroy(reads_t *r) {
  if (!r) {
    return;
  }
  if (r->loader_started) {
    /* A scan in progress stops at its next document (or when the
     * database answers or times out). */
    atomic_store(&r->stopping, true);
    pthread_join(r->loader, NULL);
  }
  bson_free(r);
}

/* ---- loading ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The scans' callbacks: ctx is the reads_t; false stops a scan when the
 * server is stopping (a load of a big database takes minutes). */
static bool load_name(void *ctx, const user_name_t *name) {
  reads_t *r = ctx;
  model_load_user(r->model, name);
  return !atomic_load(&r->stopping);
}

static bool load_follow(void *ctx, const bson_oid_t *a, const bson_oid_t *b) {
  reads_t *r = ctx;
  model_load_follow(r->model, a, b);
  return !atomic_load(&r->stopping);
}

static bool load_like(void *ctx, const bson_oid_t *a, const bson_oid_t *b) {
  reads_t *r = ctx;
  model_load_like(r->model, a, b);
  return !atomic_load(&r->stopping);
}

static bool load_repost(void *ctx, const repost_t *repost) {
  reads_t *r = ctx;
  model_load_repost(r->model, repost);
  return !atomic_load(&r->stopping);
}

static bool load_tweet(void *ctx, const tweet_t *t) {
  reads_t *r = ctx;
  model_load_tweet(r->model, t);
  return !atomic_load(&r->stopping);
}

static bool load_once(reads_t *r, chorus_error_t *err) {
  model_t *m = r->model;
  model_load_begin(m);
  /* Users last: everyone who wrote a scanned tweet is then named (names
   * are never taken from stored tweets; see model.c). */
  bool ok = follows_scan(r->db, r->sync, load_follow, r, err) &&
            likes_scan(r->db, r->sync, load_like, r, err) &&
            reposts_scan(r->db, r->sync, load_repost, r, err) &&
            tweets_scan(r->sync, load_tweet, r, err) &&
            users_scan_names(r->db, r->sync, load_name, r, err);
  if (ok && atomic_load(&r->stopping)) {
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

/* After the load: settle the follow, like and repost pairs that events
 * touched (model.h, "settling"), reading each one's committed state. */
#define SETTLE_BATCH 256
#define SETTLE_IDLE_MS 20

/* A repost's committed state, and its tweet's (t: scratch space). */
static bool settle_repost(reads_t *r, const model_check_t *c, tweet_t *t,
                          chorus_error_t *err) {
  repost_t repost;
  bool found;
  if (!reposts_get(r->db, r->sync, &c->a, &c->b, &repost, &found, err)) {
    return false;
  }
  if (found) {
    char hex[25];
    bson_oid_to_string(&c->b, hex);
    if (!tweets_get(r->db, r->sync, NULL, hex, t, err)) {
      if (err->status != 404) {
        return false;
      }
      found = false; /* the tweet is gone: no repost to show */
    }
  }
  model_settle_repost(r->model, c, found ? &repost : NULL, found ? t : NULL);
  if (found) {
    tweet_release(t);
  }
  return true;
}

static void settle_loop(reads_t *r) {
  model_check_t *checks = bson_malloc(sizeof *checks * SETTLE_BATCH);
  tweet_t *t = bson_malloc(sizeof *t);
  while (!atomic_load(&r->stopping)) {
    size_t n = model_take_checks(r->model, checks, SETTLE_BATCH);
    for (size_t i = 0; i < n && !atomic_load(&r->stopping); i++) {
      bool present;
      chorus_error_t err;
      model_check_t *c = &checks[i];
      /* A failed read leaves the event's state; the pair's next event
       * (or the next load) settles it.  Rare: the database was down. */
      if (c->kind == MODEL_CHECK_REPOST) {
        settle_repost(r, c, t, &err);
      } else if (c->kind == MODEL_CHECK_FOLLOW
                     ? follows_check(r->db, r->sync, &c->a, &c->b, &present,
                                     &err)
                     : likes_check(r->db, r->sync, &c->a, &c->b, &present,
                                   &err)) {
        model_settle_check(r->model, c, present);
      }
    }
    if (n == 0) {
      usleep(SETTLE_IDLE_MS * 1000);
    }
  }
  bson_free(t);
  bson_free(checks);
}

static void *loader_main(void *arg) {
  reads_t *r = arg;
  for (int attempt = 0; !atomic_load(&r->stopping); attempt++) {
    double t0 = now_s();
    chorus_error_t err;
    if (load_once(r, &err)) {
      model_stats_t st;
      model_get_stats(r->model, &st);
      fprintf(stderr,
              "chorusd[%s]: read model loaded in %.1f s: %llu users, %llu "
              "tweets held\n",
              r->server_id, now_s() - t0, (unsigned long long)st.users,
              (unsigned long long)st.tweets);
      settle_loop(r);
      return NULL;
    }
    if (atomic_load(&r->stopping)) {
      break;
    }
    if (attempt % 10 == 0) {
      fprintf(stderr,
              "chorusd[%s]: read model: load failed (%s); "
              "retrying\n",
              r->server_id, err.message);
    }
    for (int i = 0; i < 10 && !atomic_load(&r->stopping); i++) {
      usleep(100 * 1000);
    }
  }
  return NULL;
}

bool reads_start(reads_t *r) {
  assert(!atomic_load(&r->live));
  if (!r->model) {
    return true;
  }
  atomic_store(&r->live, true);
  r->loader_started = pthread_create(&r->loader, NULL, loader_main, r) == 0;
  return r->loader_started;
}

/* ---- freshness ---- */

int64_t reads_token_parse(const char *value) {
  if (!value || value[0] < '1' || value[0] > '9') {
    return 0;
  }
  char *end;
  errno = 0;
  long long v = strtoll(value, &end, 10);
  return errno == 0 && *end == '\0' ? (int64_t)v : 0;
}

int64_t reads_token_for_write(reads_t *r, int64_t own) {
  events_t *ev = sync_events(r->sync);
  if (!ev) {
    return 0;
  }
  int64_t seq = events_published(ev);
  return own > seq ? own : seq;
}

void reads_database_after(reads_t *r, int64_t seen) {
  events_read_after(sync_events(r->sync), seen);
}

bool reads_fresh(reads_t *r, int64_t after_seq) {
  /* While the database is known to be down no poll can complete: do not
   * wait for one (the request is answered 503 at once). */
  return r->model && db_is_up(r->db) &&
         events_sync(sync_events(r->sync), READS_SYNC_TIMEOUT_MS,
                     r->staleness_ms, after_seq);
}

/* ---- sessions ---- */

/* Whether the session cache may answer: sessions.h, step 3. */
static bool cache_trusted(reads_t *r) {
  return r->polled_within
             ? r->polled_within(r->polled_ctx, SESSIONS_CACHE_TRUST_MS)
             : events_polled_within(sync_events(r->sync),
                                    SESSIONS_CACHE_TRUST_MS);
}

bool reads_session(reads_t *r, const char *token, reads_freshness_t fresh,
                   bson_oid_t *user, bool *logged_in, chorus_error_t *err) {
  char sid[SESSION_ID_LEN + 1];
  *logged_in = false;
  if (!token || !sessions_id(token, sid)) {
    return true;
  }
  bool cache = r->model && fresh != READS_DATABASE && cache_trusted(r);
  if (cache && model_session_get(r->model, sid, db_now_ms(), user)) {
    *logged_in = true;
    return true;
  }
  /* Both taken before asking the database.  The answer is cached only
   * when the log fed the model before the lookup began (reads_start), so
   * the event of any logout that races the lookup reaches the model; and
   * not when that event was applied meanwhile (the epoch,
   * model_session_put). */
  bool fill = cache && atomic_load(&r->live);
  uint64_t epoch = fill ? model_session_epoch(r->model) : 0;
  int64_t expires_at = 0;
  mongoc_client_t *client = db_acquire(r->db);
  chorus_error_t e;
  bool ok = sessions_resolve(r->db, client, token, user, &expires_at, &e);
  db_release(r->db, client);
  if (ok) {
    *logged_in = true;
    if (fill) {
      model_session_put(r->model, sid, user, expires_at, epoch);
    }
    return true;
  }
  if (e.status >= 500) {
    if (err) {
      *err = e;
    }
    return false;
  }
  return true; /* unknown or expired: logged out */
}

bool reads_session_user(reads_t *r, const char *token, reads_freshness_t fresh,
                        user_t *user, bool *logged_in, chorus_error_t *err) {
  bson_oid_t id;
  if (!reads_session(r, token, fresh, &id, logged_in, err)) {
    return false;
  }
  if (!*logged_in) {
    return true;
  }
  chorus_error_t e;
  if (users_find_account(r->db, r->sync, &id, user, &e)) {
    return true;
  }
  *logged_in = false;
  if (e.status == 404) {
    return true; /* the session outlived its account */
  }
  if (err) {
    *err = e;
  }
  return false;
}

/* ---- pages ---- */

/* Waits for freshness and resolves the viewer: *fresh says whether the
 * model may answer. */
static bool page_viewer(reads_t *r, const char *token, int64_t seen,
                        bool *fresh, bson_oid_t *viewer, bool *logged_in,
                        chorus_error_t *err) {
  *fresh = reads_fresh(r, seen);
  return reads_session(r, token, *fresh ? READS_SYNCED : READS_DATABASE, viewer,
                       logged_in, err);
}

bool reads_feed(reads_t *r, const char *token, int64_t seen,
                const page_cursor_t *before, size_t limit, tweet_page_t *page,
                chorus_error_t *err) {
  bool fresh, logged_in;
  bson_oid_t viewer;
  if (!page_viewer(r, token, seen, &fresh, &viewer, &logged_in, err)) {
    return false;
  }
  if (!logged_in) {
    chorus_error_set(err, 401, "not_logged_in", "You are not logged in");
    return false;
  }
  if (fresh && model_feed(r->model, &viewer, before, limit, page)) {
    return true;
  }
  bson_oid_t *ids = NULL;
  size_t n = 0;
  if (!follows_followees(r->db, r->sync, &viewer, &ids, &n, err)) {
    return false;
  }
  ids[n++] = viewer; /* follows_followees leaves room for one more */
  tweet_query_t q = {.kind = TWEETS_BY_AUTHORS, .authors = ids, .n_authors = n};
  user_t me;
  memset(&me, 0, sizeof me);
  me.id = viewer;
  bool ok = tweets_list(r->db, r->sync, &q, before, limit, &me, page, err);
  bson_free(ids);
  return ok;
}

/* A public list (the timeline, a tag's tweets) as the token's user, or
 * anyone logged out, sees it: from the model (tag NULL: the timeline)
 * when it may answer, else the database's query q. */
static bool public_list(reads_t *r, const char *token, int64_t seen,
                        const tweet_query_t *q, const page_cursor_t *before,
                        size_t limit, tweet_page_t *page, chorus_error_t *err) {
  bool fresh, logged_in;
  bson_oid_t viewer;
  if (!page_viewer(r, token, seen, &fresh, &viewer, &logged_in, err)) {
    return false;
  }
  const bson_oid_t *v = logged_in ? &viewer : NULL;
  if (fresh && (q->kind == TWEETS_ALL
                    ? model_timeline(r->model, v, before, limit, page)
                    : model_tag(r->model, v, q->tag, before, limit, page))) {
    return true;
  }
  user_t me;
  memset(&me, 0, sizeof me);
  me.id = viewer;
  return tweets_list(r->db, r->sync, q, before, limit, logged_in ? &me : NULL,
                     page, err);
}

bool reads_timeline(reads_t *r, const char *token, int64_t seen,
                    const page_cursor_t *before, size_t limit,
                    tweet_page_t *page, chorus_error_t *err) {
  tweet_query_t q = {.kind = TWEETS_ALL};
  return public_list(r, token, seen, &q, before, limit, page, err);
}

bool reads_tag(reads_t *r, const char *token, int64_t seen, const char *tag,
               const page_cursor_t *before, size_t limit, tweet_page_t *page,
               chorus_error_t *err) {
  tweet_query_t q = {.kind = TWEETS_WITH_TAG, .tag = tag};
  return public_list(r, token, seen, &q, before, limit, page, err);
}

bool reads_trends(reads_t *r, int64_t seen, reads_freshness_t fresh,
                  trend_t top[TRENDS_MAX], size_t *n, chorus_error_t *err) {
  if (r->model && fresh == READS_APPLIED) {
    if (model_trends(r->model, top, n)) {
      return true;
    }
    chorus_error_set(err, 503, "not_ready", "The read model is loading");
    return false;
  }
  if (r->model && fresh == READS_SYNCED && reads_fresh(r, seen) &&
      model_trends(r->model, top, n)) {
    return true;
  }
  return tags_trends(r->db, r->sync, db_now_ms(), top, n, err);
}
