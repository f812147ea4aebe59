/*
 * hub.c - see hub.h.
 */
#include "server/realtime/hub.h"

#include <civetweb.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/domain/event_payloads.h"
#include "server/domain/follows.h"
#include "server/domain/sessions.h"
#include "server/domain/tags.h"

/* An event that arrived while its client's resume job ran (hub_on_event):
 * whether the client may see it is decided when the job ends, once the
 * client's followees are known. */
typedef struct held {
  int64_t seq;
  char *json;
  size_t len;
  bson_t *audience;
  bson_t *follow; /* a follow event's data (replayed on the followees) */
} held_t;

static void held_free(held_t *h) {
  bson_free(h->json);
  bson_destroy(h->audience);
  if (h->follow) {
    bson_destroy(h->follow);
  }
}

typedef struct client {
  ws_conn_id_t id;
  bson_oid_t user;
  char session[SESSION_ID_LEN + 1]; /* its id (sessions_id), not the token */
  bson_oid_t *followees;            /* sorted */
  size_t n_followees;
  hub_watch_t watch; /* the tweets it watches (hub_message.h) */
  hub_tags_t tags;   /* the tags it watches (hub_message.h) */
  bool trends;       /* asked for the trends (?trends=1) */
  bool timeline;     /* watches every new tweet (?timeline=1, messages) */
  int64_t since;     /* resume point asked for (0: none) */
  int64_t last_sent;
  bool ready;   /* followees loaded and backlog sent */
  bool opening; /* in hub->opening: accepted, not open yet (on_open) */
  bool ended;   /* its session ended: closed, sent nothing more */
  bool closed;
  held_t *held;
  size_t n_held;
  bool overflow;
  int refs; /* the list, and a pending resume job */
  struct client *prev, *next;
  struct client *job_next;
} client_t;

struct hub {
  _Atomic uint64_t closes; /* on_close calls, from any service thread */
  db_t *db;
  sync_t *sync;
  reads_t *reads; /* whose session a cookie is (reads_session) */
  ws_server_t *ws;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  client_t *clients;
  client_t *opening; /* accepted upgrades not open yet */
  uint64_t endings;  /* "session.ended" events applied */
  client_t *jobs, *jobs_tail;
  int test_resume_delay_ms; /* hub_new */
  bool stopping;
  bool joined; /* the worker has been joined (hub_stop) */
  pthread_t worker;
  /* Trends (hub.h): the data last sent ("{ "items" : [...] }"), whether
   * an event may have changed them, and when the worker may compute
   * them next (CLOCK_MONOTONIC ms). */
  char *trends;
  bool trends_dirty;
  int64_t trends_next_ms, trends_due_ms;
};

static int oid_cmp(const void *a, const void *b) {
  return bson_oid_compare(a, b);
}

/* Under hub->mu: c into / out of a list (hub->clients, hub->opening). */
static void list_add(client_t **list, client_t *c) {
  c->prev = NULL;
  c->next = *list;
  if (*list) {
    (*list)->prev = c;
  }
  *list = c;
}

static void list_remove(client_t **list, client_t *c) {
  if (c->prev) {
    c->prev->next = c->next;
  } else if (*list == c) {
    *list = c->next;
  }
  if (c->next) {
    c->next->prev = c->prev;
  }
  c->prev = c->next = NULL;
}

static void client_unref(client_t *c) {
  if (--c->refs > 0) {
    return;
  }
  for (size_t i = 0; i < c->n_held; i++) {
    held_free(&c->held[i]);
  }
  bson_free(c->held);
  bson_free(c->followees);
  hub_watch_free(&c->watch);
  bson_free(c);
}

/* ---- who sees what ---- */

static bool oid_in_array(const bson_iter_t *array, const bson_oid_t *oid) {
  bson_iter_t it;
  if (!BSON_ITER_HOLDS_ARRAY(array) || !bson_iter_recurse(array, &it)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    if (BSON_ITER_HOLDS_OID(&it) && bson_oid_equal(bson_iter_oid(&it), oid)) {
      return true;
    }
  }
  return false;
}

/* Under hub->mu. */
static bool sees(const client_t *c, const bson_t *audience) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, audience, "users") &&
      oid_in_array(&it, &c->user)) {
    return true;
  }
  if (bson_iter_init_find(&it, audience, "author") &&
      BSON_ITER_HOLDS_OID(&it)) {
    const bson_oid_t *author = bson_iter_oid(&it);
    if (bson_oid_equal(author, &c->user) ||
        (c->n_followees > 0 && bsearch(author, c->followees, c->n_followees,
                                       sizeof(bson_oid_t), oid_cmp))) {
      return true;
    }
  }
  if (c->watch.n && bson_iter_init_find(&it, audience, "tweets")) {
    for (size_t i = 0; i < c->watch.n; i++) {
      if (oid_in_array(&it, &c->watch.ids[i])) {
        return true;
      }
    }
  }
  if (c->timeline && bson_iter_init_find(&it, audience, "timeline")) {
    return true;
  }
  bson_iter_t tag;
  if (c->tags.n && bson_iter_init_find(&it, audience, "tags") &&
      BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &tag)) {
    while (bson_iter_next(&tag)) {
      if (BSON_ITER_HOLDS_UTF8(&tag) &&
          hub_tags_has(&c->tags, bson_iter_utf8(&tag, NULL))) {
        return true;
      }
    }
  }
  return false;
}

static char *message_json(const event_t *e, size_t *len) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_INT64(&doc, "seq", e->seq);
  BSON_APPEND_UTF8(&doc, "type", e->type);
  BSON_APPEND_DOCUMENT(&doc, "data", &e->data);
  char *json = bson_as_relaxed_extended_json(&doc, len);
  bson_destroy(&doc);
  return json;
}

static void send_reload(hub_t *hub, client_t *c, int64_t head) {
  char json[96];
  int n =
      snprintf(json, sizeof json, "{\"seq\":%lld,\"type\":\"%s\",\"data\":{}}",
               (long long)head, event_type_name(EVENT_RELOAD));
  ws_server_send(hub->ws, c->id, json, (size_t)n);
}

/* Keeps a client's followee set in step with its own follows (data: a
 * follow event's).  Idempotent. */
static void apply_follow(client_t *c, const bson_t *data) {
  bson_oid_t follower, followee;
  bool following;
  if (!event_data_get_follow(data, &follower, &followee, &following) ||
      !bson_oid_equal(&follower, &c->user)) {
    return;
  }
  bson_oid_t *found = c->n_followees > 0
                          ? bsearch(&followee, c->followees, c->n_followees,
                                    sizeof(bson_oid_t), oid_cmp)
                          : NULL;
  if (following && !found) {
    c->followees =
        bson_realloc(c->followees, sizeof(bson_oid_t) * (c->n_followees + 1));
    c->followees[c->n_followees++] = followee;
    qsort(c->followees, c->n_followees, sizeof(bson_oid_t), oid_cmp);
  } else if (!following && found) {
    size_t i = (size_t)(found - c->followees);
    memmove(found, found + 1, sizeof(bson_oid_t) * (c->n_followees - i - 1));
    c->n_followees--;
  }
}

/* Whether a client whose followees are not loaded yet might see an event
 * (its audience names an author). */
static bool may_see(const client_t *c, const bson_t *audience) {
  bson_iter_t it;
  return sees(c, audience) || bson_iter_init_find(&it, audience, "author");
}

/* Under hub->mu: closes c at once (what is queued is dropped) if ended
 * ends its session. */
static void end_client(hub_t *hub, client_t *c, const sessions_ended_t *ended) {
  if (c->ended || !sessions_ended_includes(ended, c->session, &c->user)) {
    return;
  }
  c->ended = true;
  /* Ignored for a client not open yet: on_open closes it. */
  ws_server_close_now(hub->ws, c->id, EVENT_CLOSE_SESSION_ENDED,
                      "session ended");
}

/* A "session.ended" event: every client of what it ends, open or
 * opening, is closed, before any later event is looked at. */
static void end_sessions(hub_t *hub, const event_t *e) {
  sessions_ended_t ended;
  bool ok = event_model_get_session_ended(&e->model, &ended);
  pthread_mutex_lock(&hub->mu);
  hub->endings++;
  for (client_t *c = hub->clients; ok && c; c = c->next) {
    end_client(hub, c, &ended);
  }
  for (client_t *c = hub->opening; ok && c; c = c->next) {
    end_client(hub, c, &ended);
  }
  pthread_mutex_unlock(&hub->mu);
  sodium_memzero(&ended, sizeof ended);
}

void hub_on_event(void *ctx, const event_t *e) {
  hub_t *hub = ctx;
  event_type_t type = event_type_parse(e->type);
  if (type == EVENT_SESSION_ENDED) {
    end_sessions(hub, e);
  }
  if (type != EVENT_UNKNOWN &&
      !(event_type_receivers(type) & EVENT_TO_BROWSERS)) {
    return; /* for the read models and hubs only (its audience is nobody) */
  }
  size_t len = 0;
  char *json = NULL;
  bool is_follow = type == EVENT_FOLLOW;
  pthread_mutex_lock(&hub->mu);
  if (type == EVENT_TWEET_CREATED || type == EVENT_TWEET_UPDATED ||
      type == EVENT_TWEET_DELETED) {
    hub->trends_dirty = true; /* the worker looks (hub.h, "Trends") */
    pthread_cond_signal(&hub->cv);
  }
  for (client_t *c = hub->clients; c; c = c->next) {
    if (c->ended) {
      continue;
    }
    if (!c->ready) {
      /* Its resume job is loading its followees: whether it sees this is
       * decided when the job ends (run_job), and a follow is replayed
       * then.  Deciding here, with no followees yet, would drop every
       * tweet of a followed author that arrives in that window (an
       * acknowledged tweet that never reaches a client reconnecting under
       * load: integration.test_lb_failover). */
      if (e->seq <= c->last_sent || !(is_follow || may_see(c, &e->audience))) {
        continue;
      }
      if (c->n_held == HUB_HELD_MAX) {
        c->overflow = true;
        continue;
      }
      if (!json) {
        json = message_json(e, &len);
      }
      if (!c->held) {
        c->held = bson_malloc(sizeof *c->held * HUB_HELD_MAX);
      }
      c->held[c->n_held++] =
          (held_t){e->seq, bson_strdup(json), len, bson_copy(&e->audience),
                   is_follow ? bson_copy(&e->data) : NULL};
      continue;
    }
    if (is_follow) {
      apply_follow(c, &e->data);
    }
    if (e->seq <= c->last_sent || !sees(c, &e->audience)) {
      continue;
    }
    if (!json) {
      json = message_json(e, &len);
    }
    ws_server_send(hub->ws, c->id, json, len);
    c->last_sent = e->seq;
  }
  pthread_mutex_unlock(&hub->mu);
  bson_free(json);
}

/* ---- trends ---- */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under hub->mu: the trends to a ready client that asked for them, with
 * seq 0 (they are no event of the log: its resume point stays). */
static void send_trends(hub_t *hub, client_t *c) {
  if (!hub->trends || !c->trends || c->ended) {
    return;
  }
  size_t size = strlen(hub->trends) + 64;
  char *json = bson_malloc(size);
  int n = snprintf(json, size, "{\"seq\":0,\"type\":\"%s\",\"data\":%s}",
                   event_type_name(EVENT_TRENDS), hub->trends);
  ws_server_send(hub->ws, c->id, json, (size_t)n);
  bson_free(json);
}

/* ---- resume worker ---- */

static void run_job(hub_t *hub, client_t *c) {
  bson_oid_t *followees = NULL;
  size_t n = 0;
  chorus_error_t err;
  bool ok =
      follows_followees(hub->db, hub->sync, &c->user, &followees, &n, &err);
  if (ok && n > 1) {
    qsort(followees, n, sizeof *followees, oid_cmp);
  }
  event_t *backlog = NULL;
  size_t n_backlog = 0;
  bool gone = false;
  if (ok && c->since > 0) {
    /* The client may have seen numbers on another server that this one's
     * poller has yet to deliver: they are waited for, not a reload. */
    events_wait_delivered(sync_events(hub->sync), c->since,
                          HUB_RESUME_CATCH_UP_MS);
    ok = events_read_since(sync_events(hub->sync), c->since, HUB_RESUME_MAX,
                           &backlog, &n_backlog, &gone, &err);
    gone = gone || n_backlog == HUB_RESUME_MAX;
  }
  if (hub->test_resume_delay_ms > 0) {
    struct timespec pause = {hub->test_resume_delay_ms / 1000,
                             (long)(hub->test_resume_delay_ms % 1000) *
                                 1000000L};
    nanosleep(&pause, NULL);
  }
  pthread_mutex_lock(&hub->mu);
  if (!c->closed && !c->ended) {
    if (!ok) {
      ws_server_close(hub->ws, c->id, 1011, "try again");
    } else {
      bson_free(c->followees);
      c->followees = followees;
      c->n_followees = n;
      followees = NULL;
      int64_t head = events_head(sync_events(hub->sync));
      if (c->since > head) {
        gone = true; /* a point this log never reached: start over */
        c->last_sent = 0;
      }
      if (gone || c->overflow) {
        send_reload(hub, c, head);
        c->last_sent = head;
      }
      for (size_t i = 0; !gone && i < n_backlog; i++) {
        const event_t *e = &backlog[i];
        if (event_type_parse(e->type) == EVENT_FOLLOW) {
          apply_follow(c, &e->data); /* may postdate the followees read */
        }
        if (e->seq > c->last_sent && sees(c, &e->audience)) {
          size_t len;
          char *json = message_json(e, &len);
          ws_server_send(hub->ws, c->id, json, len);
          bson_free(json);
          c->last_sent = e->seq;
        }
      }
      for (size_t i = 0; i < c->n_held; i++) {
        held_t *h = &c->held[i];
        if (h->follow) {
          apply_follow(c, h->follow);
        }
        if (h->seq > c->last_sent && sees(c, h->audience)) {
          ws_server_send(hub->ws, c->id, h->json, h->len);
          c->last_sent = h->seq;
        }
        held_free(h);
      }
      c->n_held = 0;
      bson_free(c->held);
      c->held = NULL;
      c->ready = true;
      send_trends(hub, c); /* the trends as they are now */
    }
  }
  client_unref(c);
  pthread_mutex_unlock(&hub->mu);
  bson_free(followees);
  events_free(backlog, n_backlog);
}

/* On the worker, outside hub->mu: computes the trends (the model as
 * applied, else the database) and, when they changed, sends them to
 * every ready client.  The next computation waits HUB_TRENDS_MIN_MS, or
 * 20 times as long as this one took (a database that scans). */
static void update_trends(hub_t *hub) {
  int64_t t0 = mono_ms();
  trend_t top[TRENDS_MAX];
  size_t n = 0;
  chorus_error_t err;
  char *json = NULL;
  if (reads_trends(hub->reads, 0, READS_APPLIED, top, &n, &err)) {
    bson_t doc = BSON_INITIALIZER;
    event_data_trends(&doc, top, n);
    json = bson_as_relaxed_extended_json(&doc, NULL);
    bson_destroy(&doc);
  }
  int64_t now = mono_ms(), took = now - t0;
  pthread_mutex_lock(&hub->mu);
  hub->trends_next_ms =
      now + (took * 20 > HUB_TRENDS_MIN_MS ? took * 20 : HUB_TRENDS_MIN_MS);
  hub->trends_due_ms = now + HUB_TRENDS_EVERY_MS;
  if (!json) {
    hub->trends_dirty = true; /* the database failed: again later */
  } else if (!hub->trends || strcmp(hub->trends, json) != 0) {
    bson_free(hub->trends);
    hub->trends = json;
    json = NULL;
    for (client_t *c = hub->clients; c; c = c->next) {
      if (c->ready) {
        send_trends(hub, c);
      }
    }
  }
  pthread_mutex_unlock(&hub->mu);
  bson_free(json);
}

/* Resume jobs first; otherwise the trends when an event may have changed
 * them (no sooner than trends_next_ms) or the window moved on
 * (trends_due_ms). */
static void *worker_main(void *arg) {
  hub_t *hub = arg;
  pthread_mutex_lock(&hub->mu);
  while (!hub->stopping) {
    client_t *c = hub->jobs;
    if (c) {
      hub->jobs = c->job_next;
      if (!hub->jobs) {
        hub->jobs_tail = NULL;
      }
      pthread_mutex_unlock(&hub->mu);
      run_job(hub, c);
      pthread_mutex_lock(&hub->mu);
      continue;
    }
    int64_t at = hub->trends_due_ms;
    if (hub->trends_dirty && hub->trends_next_ms < at) {
      at = hub->trends_next_ms;
    }
    if (mono_ms() >= at) {
      hub->trends_dirty = false;
      pthread_mutex_unlock(&hub->mu);
      update_trends(hub);
      pthread_mutex_lock(&hub->mu);
      continue;
    }
    struct timespec until = {(time_t)(at / 1000), (long)(at % 1000) * 1000000L};
    pthread_cond_timedwait(&hub->cv, &hub->mu, &until);
  }
  pthread_mutex_unlock(&hub->mu);
  return NULL;
}

/* ---- WebSocket callbacks ---- */

static bool on_upgrade(void *ctx, ws_conn_id_t id, const char *cookie,
                       const char *query, void **user_data) {
  hub_t *hub = ctx;
  char token[SESSION_TOKEN_LEN + 2];
  if (!cookie ||
      mg_get_cookie(cookie, SESSION_COOKIE, token, sizeof token) <= 0) {
    return false;
  }
  char session[SESSION_ID_LEN + 1];
  if (!sessions_id(token, session)) {
    sodium_memzero(token, sizeof token);
    return false;
  }
  pthread_mutex_lock(&hub->mu);
  uint64_t endings = hub->endings;
  pthread_mutex_unlock(&hub->mu);
  /* The session cache as far as this server has applied the event log,
   * without waiting for it (a service thread); the database on a miss
   * (reads.h, READS_APPLIED). */
  bson_oid_t user;
  bool logged_in = false;
  bool ok =
      reads_session(hub->reads, token, READS_APPLIED, &user, &logged_in, NULL);
  sodium_memzero(token, sizeof token);
  if (!ok || !logged_in) {
    return false;
  }
  client_t *c = bson_malloc0(sizeof *c);
  c->id = id;
  c->user = user;
  memcpy(c->session, session, sizeof session);
  sodium_memzero(session, sizeof session);
  c->since = hub_since_parse(query);
  c->last_sent = c->since;
  c->refs = 1;
  c->trends = hub_trends_parse(query);
  c->timeline = hub_timeline_parse(query);
  /* ?tags=a,b: tag pages on screen, watched before the backlog is read. */
  hub_tags_parse(query, &c->tags);
  /* An ending applied while the session was looked up may have ended it
   * (the answer may predate the ending's delete): refuse, and the client
   * tries again.  From here on every ending finds it in hub->opening. */
  pthread_mutex_lock(&hub->mu);
  bool raced = hub->endings != endings;
  if (!raced) {
    c->opening = true;
    list_add(&hub->opening, c);
  }
  pthread_mutex_unlock(&hub->mu);
  if (raced) {
    client_unref(c);
    return false;
  }
  *user_data = c;
  return true;
}

static void on_open(void *ctx, ws_conn_id_t id, void *user_data) {
  hub_t *hub = ctx;
  client_t *c = user_data;
  pthread_mutex_lock(&hub->mu);
  list_remove(&hub->opening, c);
  c->opening = false;
  if (c->ended) {
    /* Ended while opening: closed now that the connection is known. */
    ws_server_close_now(hub->ws, id, EVENT_CLOSE_SESSION_ENDED,
                        "session ended");
    pthread_mutex_unlock(&hub->mu);
    return;
  }
  list_add(&hub->clients, c);
  c->refs++; /* the job */
  if (hub->jobs_tail) {
    hub->jobs_tail->job_next = c;
  } else {
    hub->jobs = c;
  }
  hub->jobs_tail = c;
  pthread_cond_signal(&hub->cv);
  pthread_mutex_unlock(&hub->mu);
}

static void reply_error(hub_t *hub, ws_conn_id_t id, const char *message) {
  bson_t doc = BSON_INITIALIZER, data;
  BSON_APPEND_INT64(&doc, "seq", 0);
  BSON_APPEND_UTF8(&doc, "type", event_type_name(EVENT_ERROR));
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "data", &data);
  BSON_APPEND_UTF8(&data, "message", message);
  bson_append_document_end(&doc, &data);
  size_t len;
  char *json = bson_as_relaxed_extended_json(&doc, &len);
  ws_server_send(hub->ws, id, json, len);
  bson_free(json);
  bson_destroy(&doc);
}

static void on_message(void *ctx, ws_conn_id_t id, void *user_data,
                       const char *data, size_t len) {
  hub_t *hub = ctx;
  client_t *c = user_data;
  hub_message_t msg;
  if (!hub_message_parse(data, len, &msg)) {
    reply_error(hub, id,
                "expected {\"type\":\"subscribe\"|\"unsubscribe\","
                "\"tweets\":[id...], \"tags\":[tag...], \"timeline\":true}");
    return;
  }
  pthread_mutex_lock(&hub->mu);
  hub_watch_apply(&c->watch, &msg);
  hub_tags_apply(&c->tags, &msg);
  c->timeline = hub_timeline_apply(c->timeline, &msg);
  pthread_mutex_unlock(&hub->mu);
  hub_message_free(&msg);
}

/* Give memory freed by departed clients back to the system now and then:
 * glibc keeps it in its arenas otherwise, and a server that saw 10,000
 * clients come and go several times would stay at its peak (measured:
 * 205 MB resident with 2 MB in use). */
#define HUB_TRIM_EVERY 1000

static void on_close(void *ctx, ws_conn_id_t id, void *user_data) {
  (void)id;
  hub_t *hub = ctx;
  client_t *c = user_data;
  if (!c) {
    return;
  }
  if (++hub->closes % HUB_TRIM_EVERY == 0) {
    malloc_trim(0); /* on a service thread, outside every lock */
  }
  pthread_mutex_lock(&hub->mu);
  c->closed = true;
  if (c->opening) {
    list_remove(&hub->opening, c); /* the handshake failed */
  } else if (c->prev || c->next || hub->clients == c) {
    list_remove(&hub->clients, c);
  }
  client_unref(c);
  pthread_mutex_unlock(&hub->mu);
}

void hub_ws_callbacks(hub_t *hub, ws_callbacks_t *cb) {
  memset(cb, 0, sizeof *cb);
  cb->ctx = hub;
  cb->on_upgrade = on_upgrade;
  cb->on_open = on_open;
  cb->on_message = on_message;
  cb->on_close = on_close;
}

void hub_set_ws(hub_t *hub, ws_server_t *ws) { hub->ws = ws; }

/* ---- life ---- */

hub_t *hub_new(db_t *db, sync_t *sync, reads_t *reads,
               int test_resume_delay_ms) {
  hub_t *hub = bson_malloc0(sizeof *hub);
  hub->db = db;
  hub->sync = sync;
  hub->reads = reads;
  hub->test_resume_delay_ms = test_resume_delay_ms;
  pthread_mutex_init(&hub->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* mono_ms's */
  pthread_cond_init(&hub->cv, &attr);
  pthread_condattr_destroy(&attr);
  hub->trends_dirty = true; /* the first ones as soon as the worker runs */
  pthread_create(&hub->worker, NULL, worker_main, hub);
  return hub;
}

void hub_stop(hub_t *hub) {
  if (!hub || hub->joined) {
    return;
  }
  pthread_mutex_lock(&hub->mu);
  hub->stopping = true;
  pthread_cond_signal(&hub->cv);
  pthread_mutex_unlock(&hub->mu);
  pthread_join(hub->worker, NULL);
  hub->joined = true;
}

void hub_destroy(hub_t *hub) {
  if (!hub) {
    return;
  }
  hub_stop(hub);
  while (hub->jobs) {
    client_t *c = hub->jobs;
    hub->jobs = c->job_next;
    client_unref(c);
  }
  while (hub->clients) {
    client_t *c = hub->clients;
    hub->clients = c->next;
    client_unref(c);
  }
  while (hub->opening) {
    client_t *c = hub->opening;
    hub->opening = c->next;
    client_unref(c);
  }
  pthread_cond_destroy(&hub->cv);
  pthread_mutex_destroy(&hub->mu);
  bson_free(hub->trends);
  bson_free(hub);
}
