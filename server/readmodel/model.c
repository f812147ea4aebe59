/*
 * model.c - see model.h.
 *
 * Layout.  Five hash tables (hashmap.h: the key lives inside the
 * record):
 *   tweets:     id -> mtweet_t    every tweet record held
 *   users:      id -> muser_t     names, followees, likes, newest tweets
 *   tombs:      id -> tomb_t      tweets seen deleted (the last
 *                                 TOMBSTONES_MAX, oldest first in a FIFO)
 *   sessions:   token hash -> msession_t
 *   pairs:      kind, a, b -> mpair_t   follow and like pairs with events
 *                                       since the load (settling)
 * A tweet record is referenced by its author's list, by the ring, or by
 * both (in_author, in_ring); it is freed, and leaves the tweets table,
 * when neither holds it.
 *
 * Invariants, true between any two calls (model_check_invariants walks
 * them all; assert() checks the cheap ones where they must hold):
 *   - not ready and loading at once; events are queued only during a
 *     load; outside both, no tweet or user is held;
 *   - every list (tlist_t) is sorted newest first: created_at desc, id
 *     desc, no tweet twice (during a load the lists are unsorted until
 *     model_load_end);
 *   - a list that never dropped a tweet (!truncated) holds all of them (an
 *     author's list: all the author's tweets; the ring: all tweets); one
 *     that did holds ALL of them strictly newer than its floor, the newest
 *     tweet it ever dropped, and nothing else.  Deletions do not move the
 *     floor, so a list emptied by deletions still takes new tweets;
 *   - bounds: an author's list holds at most 2 * per_author tweets and
 *     the ring ring_max (during a load per_author + per_author / 4 and
 *     2 * ring_max - 1);
 *   - a record is in the tweets table exactly when a list holds it, and
 *     in_author / in_ring say which; its author is in the users table;
 *   - no record held is tombstoned: a deleted id never returns while it
 *     is remembered;
 *   - versions only rise: a record's version, and a user's name_version,
 *     are replaced only by one at least as high (put_tweet,
 *     user_set_names);
 *   - followees and likes are sorted by bson_oid_compare, no duplicates;
 *   - at most MODEL_SESSIONS_MAX sessions and TOMBSTONES_MAX tombstones.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "server/readmodel/model.h"

#include <assert.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "server/domain/event_payloads.h"
#include "server/domain/event_types.h"
#include "server/domain/follows.h"
#include "server/readmodel/hashmap.h"

#define TOMBSTONES_MAX 65536

/* ---- records ---- */

typedef struct mtweet {
  bson_oid_t id; /* the key: first member */
  bson_oid_t author;
  bson_oid_t reply_to;
  bool has_reply_to;
  bool in_author, in_ring;
  int64_t created_at_ms, edited_at_ms, reply_count, like_count, version;
  int64_t repost_count, quote_count, edit_count;
  bool has_quote_of;
  bson_oid_t quote_of;
  char *text;
  tweet_entity_t *entities; /* n_entities of them; NULL when none */
  size_t n_entities;
} mtweet_t;

typedef struct tlist {
  mtweet_t **items; /* newest first */
  size_t n, cap;
  bool truncated;      /* it has dropped tweets: floor is valid */
  page_cursor_t floor; /* the newest tweet ever dropped (its key) */
} tlist_t;

typedef struct oidvec {
  bson_oid_t *ids; /* sorted */
  size_t n, cap;
} oidvec_t;

typedef struct muser {
  bson_oid_t id; /* the key */
  bool named;
  int64_t name_version; /* of the account document the names came from */
  char username[USERNAME_MAX + 1];
  char display_name[UTF8_BYTES(DISPLAY_NAME_MAX) + 1];
  oidvec_t followees;
  oidvec_t likes;
  tlist_t tweets;
  bool reposted; /* has reposted something since the load (model.h) */
} muser_t;

typedef struct tomb {
  bson_oid_t id; /* the key */
} tomb_t;

typedef struct msession {
  uint8_t key[32]; /* the token hash */
  bson_oid_t user;
  int64_t expires_at_ms;
} msession_t;

/* The last event applied for a follow or like pair (model_settle_check). */
typedef struct mpair {
  uint8_t key[25]; /* kind, a, b */
  uint64_t last;   /* pair_ticket when its last event was applied */
} mpair_t;

/* An event that arrived during a load (model_load_end replays it). */
typedef struct queued {
  event_type_t type;
  bson_t *payload;
} queued_t;

struct model {
  pthread_rwlock_t lock;
  size_t per_author, ring_max;
  bool ready, loading;
  hashmap_t tweets, users, tombs, sessions;
  tomb_t **tomb_fifo; /* ring of TOMBSTONES_MAX, oldest at tomb_at */
  size_t tomb_at;
  tlist_t ring;
  queued_t *queue;
  size_t n_queue, cap_queue;
  uint64_t epoch;        /* session.ended events applied */
  hashmap_t pairs;       /* mpair_t: pairs with events since the load */
  uint64_t pair_ticket;  /* counts pair events */
  model_check_t *checks; /* queued, oldest first */
  size_t n_checks, cap_checks;
  atomic_ullong loads, applied, answered, declined;
};

/* Timeline order: negative when a comes first (is newer). */
static int tweet_order(const mtweet_t *a, const mtweet_t *b) {
  if (a->created_at_ms != b->created_at_ms) {
    return a->created_at_ms > b->created_at_ms ? -1 : 1;
  }
  return -bson_oid_compare(&a->id, &b->id);
}

static int tweet_order_qsort(const void *a, const void *b) {
  return tweet_order(*(mtweet_t *const *)a, *(mtweet_t *const *)b);
}

/* The order of a tweet against a cursor: negative when t is newer. */
static int order_vs_cursor(const mtweet_t *t, const page_cursor_t *c) {
  if (t->created_at_ms != c->ts_ms) {
    return t->created_at_ms > c->ts_ms ? -1 : 1;
  }
  return -bson_oid_compare(&t->id, &c->id);
}

/* ---- oid vectors ---- */

static int oid_cmp(const void *a, const void *b) {
  return bson_oid_compare(a, b);
}

static size_t oidvec_lower(const oidvec_t *v, const bson_oid_t *id) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (bson_oid_compare(&v->ids[mid], id) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

static bool oidvec_has(const oidvec_t *v, const bson_oid_t *id) {
  size_t at = oidvec_lower(v, id);
  return at < v->n && bson_oid_equal(&v->ids[at], id);
}

static void oidvec_set(oidvec_t *v, const bson_oid_t *id, bool present) {
  size_t at = oidvec_lower(v, id);
  bool has = at < v->n && bson_oid_equal(&v->ids[at], id);
  if (present && !has) {
    if (v->n == v->cap) {
      v->cap = v->cap ? v->cap * 2 : 4;
      v->ids = bson_realloc(v->ids, sizeof *v->ids * v->cap);
    }
    memmove(&v->ids[at + 1], &v->ids[at], sizeof *v->ids * (v->n - at));
    bson_oid_copy(id, &v->ids[at]);
    v->n++;
    assert(at == 0 || bson_oid_compare(&v->ids[at - 1], id) < 0);
    assert(at + 1 == v->n || bson_oid_compare(id, &v->ids[at + 1]) < 0);
  } else if (!present && has) {
    memmove(&v->ids[at], &v->ids[at + 1], sizeof *v->ids * (v->n - at - 1));
    v->n--;
  }
}

/* Appends without keeping order (loading; oidvec_sort afterwards). */
static void oidvec_push(oidvec_t *v, const bson_oid_t *id) {
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 4;
    v->ids = bson_realloc(v->ids, sizeof *v->ids * v->cap);
  }
  bson_oid_copy(id, &v->ids[v->n++]);
}

static void oidvec_sort(oidvec_t *v) {
  if (v->n < 2) {
    return;
  }
  qsort(v->ids, v->n, sizeof *v->ids, oid_cmp);
  size_t w = 1;
  for (size_t r = 1; r < v->n; r++) {
    if (!bson_oid_equal(&v->ids[r], &v->ids[w - 1])) {
      v->ids[w++] = v->ids[r];
    }
  }
  v->n = w;
}

/* ---- tweet records and lists ---- */

static void tweet_release(model_t *m, mtweet_t *t) {
  if (t->in_author || t->in_ring) {
    return;
  }
  mtweet_t *gone = hashmap_del(&m->tweets, &t->id);
  assert(gone == t); /* every record held is in the table */
  (void)gone;
  bson_free(t->text);
  bson_free(t->entities);
  bson_free(t);
}

static void tlist_sort(tlist_t *l) {
  if (l->n > 1) {
    qsort(l->items, l->n, sizeof *l->items, tweet_order_qsort);
  }
}

static void tlist_push(tlist_t *l, mtweet_t *t) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->items = bson_realloc(l->items, sizeof *l->items * l->cap);
  }
  l->items[l->n++] = t;
}

/* Inserts t at its place; false (nothing done) when the list is
 * truncated and t is not newer than its floor: that region is unknown,
 * and holding t there would break the list's invariant. */
static bool tlist_insert(tlist_t *l, mtweet_t *t) {
  if (l->truncated && order_vs_cursor(t, &l->floor) >= 0) {
    return false;
  }
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tweet_order(l->items[mid], t) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  tlist_push(l, t);
  memmove(&l->items[lo + 1], &l->items[lo], sizeof *l->items * (l->n - 1 - lo));
  l->items[lo] = t;
  assert(lo == 0 || tweet_order(l->items[lo - 1], t) < 0);
  assert(lo + 1 == l->n || tweet_order(t, l->items[lo + 1]) < 0);
  return true;
}

/* Removes t, which the list holds. */
static void tlist_remove(tlist_t *l, const mtweet_t *t) {
  for (size_t i = 0; i < l->n; i++) {
    if (l->items[i] == t) {
      memmove(&l->items[i], &l->items[i + 1],
              sizeof *l->items * (l->n - i - 1));
      l->n--;
      return;
    }
  }
  assert(!"a record flagged as held is not in its list");
}

/* Drops the oldest items beyond keep (the list becomes truncated);
 * in_ring says which membership flag the dropped records lose. */
static void tlist_trim(model_t *m, tlist_t *l, size_t keep, bool in_ring) {
  while (l->n > keep) {
    mtweet_t *t = l->items[--l->n];
    if (in_ring) {
      t->in_ring = false;
    } else {
      t->in_author = false;
    }
    if (!l->truncated || order_vs_cursor(t, &l->floor) < 0) {
      l->floor.ts_ms = t->created_at_ms;
      bson_oid_copy(&t->id, &l->floor.id);
    }
    l->truncated = true;
    tweet_release(m, t);
  }
}

static muser_t *user_get(model_t *m, const bson_oid_t *id, bool create) {
  muser_t *u = hashmap_get(&m->users, id);
  if (!u && create) {
    u = bson_malloc0(sizeof *u);
    bson_oid_copy(id, &u->id);
    hashmap_put(&m->users, u);
  }
  return u;
}

static void user_free(model_t *m, muser_t *u) {
  for (size_t i = 0; i < u->tweets.n; i++) {
    u->tweets.items[i]->in_author = false;
    tweet_release(m, u->tweets.items[i]);
  }
  bson_free(u->tweets.items);
  bson_free(u->followees.ids);
  bson_free(u->likes.ids);
  bson_free(u);
}

/* Names read at an older version of the account than the ones held lose
 * (a rename's event published after a later rename's); version 0 means
 * unknown and only names a user no versioned source has named. */
static void user_set_names(muser_t *u, const char *username,
                           const char *display_name, int64_t version) {
  if (version < u->name_version) {
    return;
  }
  u->name_version = version;
  bson_strncpy(u->username, username, sizeof u->username);
  bson_strncpy(u->display_name, display_name, sizeof u->display_name);
  u->named = u->username[0] != '\0';
}

static bool is_tombstoned(model_t *m, const bson_oid_t *id) {
  return hashmap_get(&m->tombs, id) != NULL;
}

static void tombstone(model_t *m, const bson_oid_t *id) {
  if (is_tombstoned(m, id)) {
    return;
  }
  tomb_t **slot = &m->tomb_fifo[m->tomb_at];
  if (*slot) {
    hashmap_del(&m->tombs, &(*slot)->id);
    bson_free(*slot);
  }
  *slot = bson_malloc0(sizeof **slot);
  bson_oid_copy(id, &(*slot)->id);
  hashmap_put(&m->tombs, *slot);
  m->tomb_at = (m->tomb_at + 1) % TOMBSTONES_MAX;
  assert(hashmap_count(&m->tombs) <= TOMBSTONES_MAX);
}

/* ---- life ---- */

model_t *model_new(const model_config_t *cfg) {
  model_t *m = bson_malloc0(sizeof *m);
  m->per_author =
      cfg && cfg->per_author ? cfg->per_author : MODEL_PER_AUTHOR_DEFAULT;
  m->ring_max = cfg && cfg->ring ? cfg->ring : MODEL_RING_DEFAULT;
  /* Writer-preferring: with glibc's default, a stream of readers keeps
   * the event poller (the writer) waiting, and every reader's
   * events_sync waits for the poller (measured: 261 ms for one apply
   * under 3 reading threads). */
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&m->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  hashmap_init(&m->tweets, offsetof(mtweet_t, id), sizeof(bson_oid_t));
  hashmap_init(&m->users, offsetof(muser_t, id), sizeof(bson_oid_t));
  hashmap_init(&m->tombs, offsetof(tomb_t, id), sizeof(bson_oid_t));
  hashmap_init(&m->sessions, offsetof(msession_t, key), 32);
  hashmap_init(&m->pairs, offsetof(mpair_t, key), 25);
  m->tomb_fifo = bson_malloc0(sizeof *m->tomb_fifo * TOMBSTONES_MAX);
  return m;
}

static void clear_queue(model_t *m) {
  for (size_t i = 0; i < m->n_queue; i++) {
    bson_destroy(m->queue[i].payload);
  }
  bson_free(m->queue);
  m->queue = NULL;
  m->n_queue = m->cap_queue = 0;
}

/* Empties tweets, users and tombstones (not sessions). */
static void clear_world(model_t *m) {
  for (size_t i = 0; i < m->ring.n; i++) {
    m->ring.items[i]->in_ring = false;
    tweet_release(m, m->ring.items[i]);
  }
  bson_free(m->ring.items);
  memset(&m->ring, 0, sizeof m->ring);
  muser_t *u;
  for (size_t at = 0; (u = hashmap_next(&m->users, &at));) {
    user_free(m, u);
  }
  hashmap_clear(&m->users);
  BSON_ASSERT(hashmap_count(&m->tweets) == 0);
  hashmap_clear(&m->tweets);
  mpair_t *p;
  for (size_t at = 0; (p = hashmap_next(&m->pairs, &at));) {
    bson_free(p);
  }
  hashmap_clear(&m->pairs);
  bson_free(m->checks);
  m->checks = NULL;
  m->n_checks = m->cap_checks = 0;
  for (size_t i = 0; i < TOMBSTONES_MAX; i++) {
    bson_free(m->tomb_fifo[i]);
    m->tomb_fifo[i] = NULL;
  }
  m->tomb_at = 0;
  hashmap_clear(&m->tombs);
}

static void clear_sessions(model_t *m) {
  msession_t *s;
  for (size_t at = 0; (s = hashmap_next(&m->sessions, &at));) {
    sodium_memzero(s, sizeof *s);
    bson_free(s);
  }
  hashmap_clear(&m->sessions);
}

void model_destroy(model_t *m) {
  if (!m) {
    return;
  }
  clear_world(m);
  clear_sessions(m);
  clear_queue(m);
  bson_free(m->tomb_fifo);
  pthread_rwlock_destroy(&m->lock);
  bson_free(m);
}

/* ---- applying changes (write lock held) ---- */

/* Adds or updates a tweet as the database (or an event) says it is. */
/* The fields of a record that change: text, entities, counts, version. */
static void record_set_state(mtweet_t *r, const tweet_t *t) {
  bson_free(r->text);
  r->text = bson_strdup(t->text);
  bson_free(r->entities);
  r->entities = NULL;
  r->n_entities = t->n_entities;
  if (t->n_entities) {
    r->entities = bson_malloc(sizeof *r->entities * t->n_entities);
    memcpy(r->entities, t->entities, sizeof *r->entities * t->n_entities);
  }
  r->edited_at_ms = t->edited_at_ms;
  r->reply_count = t->reply_count;
  r->like_count = t->like_count;
  r->repost_count = t->repost_count;
  r->quote_count = t->quote_count;
  r->edit_count = t->edit_count;
  r->version = t->version;
}

static void put_tweet(model_t *m, const tweet_t *t, bool may_create) {
  if (is_tombstoned(m, &t->id)) {
    return;
  }
  /* Names come from the users scan and from events, never from a stored
   * tweet (it has the username only): a user who registered during the
   * load is named by the queued event of their tweet. */
  if (!m->loading && t->author.username[0]) {
    muser_t *author = user_get(m, &t->author.id, true);
    if (!author->named) {
      user_set_names(author, t->author.username, t->author.display_name, 0);
    }
  }
  mtweet_t *r = hashmap_get(&m->tweets, &t->id);
  if (r) {
    if (t->version < r->version) {
      return; /* an older state published late */
    }
    record_set_state(r, t);
    return;
  }
  if (!may_create) {
    return;
  }
  r = bson_malloc0(sizeof *r);
  bson_oid_copy(&t->id, &r->id);
  bson_oid_copy(&t->author.id, &r->author);
  r->has_reply_to = t->has_reply_to;
  if (t->has_reply_to) {
    bson_oid_copy(&t->reply_to, &r->reply_to);
  }
  r->created_at_ms = t->created_at_ms;
  r->has_quote_of = t->has_quote_of;
  if (t->has_quote_of) {
    bson_oid_copy(&t->quote.id, &r->quote_of);
  }
  record_set_state(r, t);
  hashmap_put(&m->tweets, r);
  muser_t *u = user_get(m, &t->author.id, true);
  if (m->loading && !m->ready) {
    /* Loading: append, sort and trim in bulk (model_load_end). */
    tlist_push(&u->tweets, r);
    tlist_push(&m->ring, r);
    r->in_author = r->in_ring = true;
    /* Trim early: a held record costs ~200 bytes, and the benchmark's
     * authors have 100 tweets each (a trim at twice per_author would hold
     * every tweet of the database until the end of the load). */
    if (u->tweets.n >= m->per_author + m->per_author / 4 + 1) {
      tlist_sort(&u->tweets);
      tlist_trim(m, &u->tweets, m->per_author, false);
    }
    if (m->ring.n >= 2 * m->ring_max) {
      tlist_sort(&m->ring);
      tlist_trim(m, &m->ring, m->ring_max, true);
    }
    assert(u->tweets.n <= m->per_author + m->per_author / 4);
    assert(m->ring.n < 2 * m->ring_max);
    return;
  }
  r->in_author = tlist_insert(&u->tweets, r);
  r->in_ring = tlist_insert(&m->ring, r);
  if (u->tweets.n > 2 * m->per_author) {
    tlist_trim(m, &u->tweets, m->per_author, false);
  }
  if (m->ring.n > m->ring_max) {
    tlist_trim(m, &m->ring, m->ring_max, true);
  }
  assert(u->tweets.n <= 2 * m->per_author && m->ring.n <= m->ring_max);
  tweet_release(m, r); /* held by neither: both regions unknown */
}

static void delete_tweet(model_t *m, const bson_oid_t *id) {
  tombstone(m, id);
  mtweet_t *r = hashmap_get(&m->tweets, id);
  if (!r) {
    return;
  }
  if (r->in_author) {
    muser_t *u = user_get(m, &r->author, false);
    assert(u); /* a record in an author's list has its author */
    if (u) {
      tlist_remove(&u->tweets, r);
    }
    r->in_author = false;
  }
  if (r->in_ring) {
    tlist_remove(&m->ring, r);
    r->in_ring = false;
  }
  tweet_release(m, r);
}

static bool session_key(const char *session_id, uint8_t key[32]) {
  size_t n = 0;
  return session_id && strlen(session_id) == SESSION_ID_LEN &&
         sodium_hex2bin(key, 32, session_id, SESSION_ID_LEN, NULL, &n, NULL) ==
             0 &&
         n == 32;
}

static void session_free(msession_t *s) {
  sodium_memzero(s, sizeof *s);
  bson_free(s);
}

/* Drops the cached sessions an ending ends: one by its key, or those of
 * an account but one, found by a walk of the cache (at most
 * MODEL_SESSIONS_MAX entries; endings are rare). */
static void end_sessions(model_t *m, const sessions_ended_t *e) {
  uint8_t key[32];
  if (!e->by_user) {
    msession_t *s =
        session_key(e->session, key) ? hashmap_del(&m->sessions, key) : NULL;
    if (s) {
      session_free(s);
    }
    return;
  }
  bool keep = e->except[0] && session_key(e->except, key);
  msession_t *s, **gone = NULL;
  size_t n = 0, cap = 0;
  for (size_t at = 0; (s = hashmap_next(&m->sessions, &at));) {
    if (bson_oid_equal(&s->user, &e->user) &&
        !(keep && !memcmp(s->key, key, sizeof key))) {
      if (n == cap) {
        cap = cap ? cap * 2 : 8;
        gone = bson_realloc(gone, sizeof *gone * cap);
      }
      gone[n++] = s; /* deleted after the walk: it must not change */
    }
  }
  for (size_t i = 0; i < n; i++) {
    session_free(hashmap_del(&m->sessions, gone[i]->key));
  }
  bson_free(gone);
}

static void pair_key(model_check_kind_t kind, const bson_oid_t *a,
                     const bson_oid_t *b, uint8_t key[25]) {
  key[0] = (uint8_t)kind;
  memcpy(key + 1, a->bytes, 12);
  memcpy(key + 13, b->bytes, 12);
}

static void set_pair(model_t *m, model_check_kind_t kind, const bson_oid_t *a,
                     const bson_oid_t *b, bool on) {
  muser_t *u = user_get(m, a, true);
  oidvec_set(kind == MODEL_CHECK_FOLLOW ? &u->followees : &u->likes, b, on);
}

/* An event for a pair: apply its state, remember when, queue a check. */
static void pair_event(model_t *m, model_check_kind_t kind, const bson_oid_t *a,
                       const bson_oid_t *b, bool on) {
  set_pair(m, kind, a, b, on);
  uint8_t key[25];
  pair_key(kind, a, b, key);
  mpair_t *p = hashmap_get(&m->pairs, key);
  if (!p) {
    p = bson_malloc0(sizeof *p);
    memcpy(p->key, key, sizeof key);
    hashmap_put(&m->pairs, p);
  }
  p->last = ++m->pair_ticket;
  if (m->n_checks == m->cap_checks) {
    m->cap_checks = m->cap_checks ? m->cap_checks * 2 : 16;
    m->checks = bson_realloc(m->checks, sizeof *m->checks * m->cap_checks);
  }
  model_check_t *c = &m->checks[m->n_checks++];
  c->kind = kind;
  bson_oid_copy(a, &c->a);
  bson_oid_copy(b, &c->b);
}

/* Applies one event of a type for the read models (not queued). */
static void apply_locked(model_t *m, event_type_t type, const bson_t *p) {
  assert(!(m->ready && m->loading));
  bson_oid_t a, b;
  bool flag;
  if (type == EVENT_SESSION_ENDED) {
    sessions_ended_t ended;
    m->epoch++;
    if (event_model_get_session_ended(p, &ended)) {
      end_sessions(m, &ended);
    }
    sodium_memzero(&ended, sizeof ended);
    return;
  }
  if (!m->ready && !m->loading) {
    return; /* nothing held: the next load reads it from the database */
  }
  switch (type) {
  case EVENT_TWEET_CREATED:
  case EVENT_TWEET_UPDATED: {
    tweet_t *t = bson_malloc(sizeof *t);
    if (event_model_get_tweet(p, t)) {
      put_tweet(m, t, type == EVENT_TWEET_CREATED);
    }
    bson_free(t);
    break;
  }
  case EVENT_TWEET_DELETED:
    if (event_model_get_tweet_deleted(p, &a)) {
      delete_tweet(m, &a);
    }
    break;
  case EVENT_FOLLOW:
    if (event_model_get_follow(p, &a, &b, &flag)) {
      pair_event(m, MODEL_CHECK_FOLLOW, &a, &b, flag);
    }
    break;
  case EVENT_LIKE:
    if (event_model_get_like(p, &a, &b, &flag)) {
      pair_event(m, MODEL_CHECK_LIKE, &a, &b, flag);
    }
    break;
  case EVENT_REPOST: {
    event_repost_t r;
    if (event_model_get_repost(p, &r)) {
      user_get(m, &r.user, true)->reposted = true;
    }
    break;
  }
  case EVENT_USER_UPDATED: {
    user_name_t name;
    if (event_model_get_user(p, &name)) {
      user_set_names(user_get(m, &name.id, true), name.username,
                     name.display_name, name.version);
    }
    break;
  }
  default:
    break; /* not for the read models */
  }
}

void model_apply(model_t *m, const char *type_name, const bson_t *payload) {
  event_type_t type = event_type_parse(type_name);
  if (!(event_type_receivers(type) & EVENT_TO_READ_MODELS)) {
    atomic_fetch_add(&m->applied, 1);
    return; /* a notification, or a type this table does not know */
  }
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading && type != EVENT_SESSION_ENDED) {
    if (m->n_queue == m->cap_queue) {
      m->cap_queue = m->cap_queue ? m->cap_queue * 2 : 64;
      m->queue = bson_realloc(m->queue, sizeof *m->queue * m->cap_queue);
    }
    queued_t *q = &m->queue[m->n_queue++];
    q->type = type;
    q->payload = bson_copy(payload);
  } else {
    apply_locked(m, type, payload);
  }
  atomic_fetch_add(&m->applied, 1);
  pthread_rwlock_unlock(&m->lock);
}

/* ---- loading ---- */

void model_load_begin(model_t *m) {
  pthread_rwlock_wrlock(&m->lock);
  clear_world(m);
  clear_queue(m);
  m->ready = false;
  m->loading = true;
  pthread_rwlock_unlock(&m->lock);
}

void model_load_user(model_t *m, const user_name_t *user) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading) {
    user_set_names(user_get(m, &user->id, true), user->username,
                   user->display_name, user->version);
  }
  pthread_rwlock_unlock(&m->lock);
}

void model_load_follow(model_t *m, const bson_oid_t *follower,
                       const bson_oid_t *followee) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading) {
    oidvec_push(&user_get(m, follower, true)->followees, followee);
  }
  pthread_rwlock_unlock(&m->lock);
}

void model_load_like(model_t *m, const bson_oid_t *user,
                     const bson_oid_t *tweet) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading) {
    oidvec_push(&user_get(m, user, true)->likes, tweet);
  }
  pthread_rwlock_unlock(&m->lock);
}

void model_load_repost(model_t *m, const bson_oid_t *user,
                       const bson_oid_t *tweet) {
  (void)tweet;
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading) {
    user_get(m, user, true)->reposted = true;
  }
  pthread_rwlock_unlock(&m->lock);
}

void model_load_tweet(model_t *m, const tweet_t *t) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading) {
    put_tweet(m, t, true);
  }
  pthread_rwlock_unlock(&m->lock);
}

void model_load_end(model_t *m) {
  pthread_rwlock_wrlock(&m->lock);
  if (!m->loading) {
    pthread_rwlock_unlock(&m->lock);
    return;
  }
  muser_t *u;
  for (size_t at = 0; (u = hashmap_next(&m->users, &at));) {
    oidvec_sort(&u->followees);
    oidvec_sort(&u->likes);
    tlist_sort(&u->tweets);
    tlist_trim(m, &u->tweets, m->per_author, false);
  }
  tlist_sort(&m->ring);
  tlist_trim(m, &m->ring, m->ring_max, true);
  /* Ready first (so put_tweet inserts in place), then the queued events. */
  m->loading = false;
  m->ready = true;
  for (size_t i = 0; i < m->n_queue; i++) {
    apply_locked(m, m->queue[i].type, m->queue[i].payload);
  }
  clear_queue(m);
  atomic_fetch_add(&m->loads, 1);
  pthread_rwlock_unlock(&m->lock);
  malloc_trim(0); /* give back what the trimmed records used */
}

void model_load_abort(model_t *m) {
  pthread_rwlock_wrlock(&m->lock);
  clear_world(m);
  clear_queue(m);
  m->loading = false;
  m->ready = false;
  pthread_rwlock_unlock(&m->lock);
}

/* ---- reading (read lock held) ---- */

/* A list being merged (its items older than the cursor), at its current
 * item, whose order key is kept here:
 * comparing keys in the heap then touches only the heap, not tweet
 * records scattered over the model (heap_down's pointer chasing was 16 %
 * of chorusd's samples in the feed benchmark, plus 8 % in memcmp).  The id
 * is held as two big-endian integers, so the key compares as integers in
 * tweet_order's order. */
typedef struct source {
  const tlist_t *list;
  size_t at;
  int64_t ts;
  uint64_t id_hi;
  uint32_t id_lo;
} source_t;

static void src_load(source_t *s) {
  const mtweet_t *t = s->list->items[s->at];
  const uint8_t *b = t->id.bytes;
  s->ts = t->created_at_ms;
  s->id_hi = 0;
  for (int i = 0; i < 8; i++) {
    s->id_hi = s->id_hi << 8 | b[i];
  }
  s->id_lo = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 |
             (uint32_t)b[10] << 8 | b[11];
}

/* First index of l holding a tweet older than c (all when c is NULL). */
static size_t first_after(const tlist_t *l, const page_cursor_t *c) {
  if (!c) {
    return 0;
  }
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (order_vs_cursor(l->items[mid], c) <= 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* The merge's binary heap orders sources by their current item:
 * tweet_order(a's item, b's item) < 0, from the keys. */
static bool src_before(const source_t *a, const source_t *b) {
  if (a->ts != b->ts) {
    return a->ts > b->ts;
  }
  if (a->id_hi != b->id_hi) {
    return a->id_hi > b->id_hi;
  }
  return a->id_lo > b->id_lo;
}

static void heap_down(source_t *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, best = i;
    if (l < n && src_before(&h[l], &h[best])) {
      best = l;
    }
    if (r < n && src_before(&h[r], &h[best])) {
      best = r;
    }
    if (best == i) {
      return;
    }
    source_t tmp = h[i];
    h[i] = h[best];
    h[best] = tmp;
    i = best;
  }
}

/* src into dst (size bytes), cut to size - 1: only the string's bytes are
 * written (strncpy, and so bson_strncpy, pads the whole buffer with zeros:
 * 1.5 KB per item, with a memset before it, was a tenth of the feed's
 * CPU). */
static void copy_str(char *dst, size_t size, const char *src) {
  size_t n = strnlen(src, size - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* What a quote shows of the tweet it quotes; false when the model does
 * not know it (neither held nor remembered deleted). */
static bool copy_quote(const model_t *m, const mtweet_t *r, tweet_quoted_t *q) {
  bson_oid_copy(&r->quote_of, &q->id);
  const mtweet_t *quoted = hashmap_get(&m->tweets, &r->quote_of);
  if (!quoted) {
    q->available = false;
    return hashmap_get(&m->tombs, &r->quote_of) != NULL;
  }
  const muser_t *author = hashmap_get(&m->users, &quoted->author);
  if (!author || !author->named) {
    return false;
  }
  q->available = true;
  bson_oid_copy(&quoted->author, &q->author.id);
  copy_str(q->author.username, sizeof q->author.username, author->username);
  copy_str(q->author.display_name, sizeof q->author.display_name,
           author->display_name);
  q->author.version = 0;
  copy_str(q->text, sizeof q->text, quoted->text);
  q->created_at_ms = quoted->created_at_ms;
  return true;
}

/* Sets every field of *t (no memset of the struct: keep this list
 * complete when tweet_t grows); false when the model cannot show it
 * exactly (a quote of a tweet it does not know). */
static bool copy_out(const model_t *m, const mtweet_t *r, const muser_t *author,
                     const muser_t *viewer, tweet_t *t) {
  bson_oid_copy(&r->id, &t->id);
  bson_oid_copy(&r->author, &t->author.id);
  copy_str(t->author.username, sizeof t->author.username, author->username);
  copy_str(t->author.display_name, sizeof t->author.display_name,
           author->display_name);
  t->author.version = 0;
  copy_str(t->text, sizeof t->text, r->text);
  t->created_at_ms = r->created_at_ms;
  t->edited_at_ms = r->edited_at_ms;
  t->has_reply_to = r->has_reply_to;
  if (r->has_reply_to) {
    bson_oid_copy(&r->reply_to, &t->reply_to);
  } else {
    memset(&t->reply_to, 0, sizeof t->reply_to);
  }
  t->reply_count = r->reply_count;
  t->like_count = r->like_count;
  t->version = r->version;
  t->liked_by_me = viewer && oidvec_has(&viewer->likes, &r->id);
  t->repost_count = r->repost_count;
  t->quote_count = r->quote_count;
  t->edit_count = r->edit_count;
  t->reposted_by_me = false; /* a viewer who reposted is declined */
  t->n_entities = r->n_entities;
  if (r->n_entities) {
    memcpy(t->entities, r->entities, sizeof *r->entities * r->n_entities);
  }
  t->is_repost = false;
  t->has_quote_of = r->has_quote_of;
  return !r->has_quote_of || copy_quote(m, r, &t->quote);
}

/* Merges lists[0..n) newest first into a page.  floor is the newest of
 * the floors of the truncated lists (NULL: none): everything strictly
 * newer is known, the rest is not, so every returned item must be newer.
 * False when the page cannot be proved. */
static bool merge_page(const model_t *m, const tlist_t *const *lists, size_t n,
                       const page_cursor_t *floor, const page_cursor_t *before,
                       size_t limit, const muser_t *viewer,
                       tweet_page_t *page) {
  source_t *heap = bson_malloc(sizeof *heap * (n ? n : 1));
  size_t h = 0;
  for (size_t i = 0; i < n; i++) {
    size_t at = first_after(lists[i], before);
    if (at < lists[i]->n) {
      heap[h] = (source_t){.list = lists[i], .at = at};
      src_load(&heap[h++]);
    }
  }
  for (size_t i = h / 2; i-- > 0;) {
    heap_down(heap, h, i);
  }
  tweet_t *items = bson_malloc(sizeof *items * limit);
  size_t got = 0;
  bool ok = true, more = false;
  const mtweet_t *prev = NULL; /* the item before r: not older */
  while (h > 0) {
    const mtweet_t *r = heap[0].list->items[heap[0].at];
    assert(!prev || tweet_order(prev, r) <= 0); /* the heap's order */
    if (got == limit) {
      more = true; /* a real tweet exists after the page */
      break;
    }
    const muser_t *author = hashmap_get(&m->users, &r->author);
    if ((floor && order_vs_cursor(r, floor) >= 0) || !author ||
        !author->named) {
      ok = false; /* in the unknown region, or an author without a name */
      break;
    }
    if (!copy_out(m, r, author, viewer, &items[got++])) {
      ok = false; /* quotes a tweet the model does not know */
      break;
    }
    prev = r;
    if (++heap[0].at == heap[0].list->n) {
      heap[0] = heap[--h];
    } else {
      src_load(&heap[0]);
    }
    heap_down(heap, h, 0);
  }
  (void)prev;
  if (ok && !more && floor) {
    ok = false; /* ran out: older tweets may exist that are not held */
  }
  bson_free(heap);
  if (!ok) {
    bson_free(items);
    return false;
  }
  page->items = items;
  page->n = got;
  page->has_next = more;
  if (more) {
    page->next.ts_ms = items[got - 1].created_at_ms;
    page->next.id = items[got - 1].id;
  }
  return true;
}

/* Of two floors the newer one: at or below it some list is incomplete. */
static const page_cursor_t *newer(const page_cursor_t *a,
                                  const page_cursor_t *b) {
  if (!a) {
    return b;
  }
  if (a->ts_ms != b->ts_ms) {
    return a->ts_ms > b->ts_ms ? a : b;
  }
  return bson_oid_compare(&a->id, &b->id) > 0 ? a : b;
}

static bool finish_read(model_t *m, bool ok) {
  atomic_fetch_add(ok ? &m->answered : &m->declined, 1);
  return ok;
}

bool model_feed(model_t *m, const bson_oid_t *viewer,
                const page_cursor_t *before, size_t limit, tweet_page_t *page) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX || !viewer) {
    return false;
  }
  pthread_rwlock_rdlock(&m->lock);
  bool ok = m->ready;
  const muser_t *me = ok ? hashmap_get(&m->users, viewer) : NULL;
  size_t n_followees = me ? me->followees.n : 0;
  if (n_followees > FOLLOWS_FEED_MAX) {
    ok = false;
  }
  const tlist_t **lists = NULL;
  size_t n = 0;
  const page_cursor_t *floor = NULL;
  if (ok) {
    lists = bson_malloc(sizeof *lists * (n_followees + 1));
    for (size_t i = 0; ok && i <= n_followees; i++) {
      const muser_t *a =
          i < n_followees ? hashmap_get(&m->users, &me->followees.ids[i]) : me;
      if (!a) {
        continue; /* unknown to the model: no tweets, no reposts */
      }
      if (a->reposted) {
        ok = false; /* its reposts are the database's to list */
        break;
      }
      if (a->tweets.truncated) {
        floor = newer(floor, &a->tweets.floor);
      }
      if (a->tweets.n == 0) {
        continue;
      }
      lists[n++] = &a->tweets;
    }
  }
  ok = ok && merge_page(m, lists, n, floor, before, limit, me, page);
  bson_free(lists);
  pthread_rwlock_unlock(&m->lock);
  return finish_read(m, ok);
}

bool model_timeline(model_t *m, const bson_oid_t *viewer,
                    const page_cursor_t *before, size_t limit,
                    tweet_page_t *page) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX) {
    return false;
  }
  pthread_rwlock_rdlock(&m->lock);
  bool ok = m->ready;
  if (ok) {
    const muser_t *me = viewer ? hashmap_get(&m->users, viewer) : NULL;
    const tlist_t *lists[1] = {&m->ring};
    const page_cursor_t *floor = m->ring.truncated ? &m->ring.floor : NULL;
    ok = !(me && me->reposted) && /* reposted_by_me: the database's */
         merge_page(m, lists, 1, floor, before, limit, me, page);
  }
  pthread_rwlock_unlock(&m->lock);
  return finish_read(m, ok);
}

/* ---- sessions ---- */

uint64_t model_session_epoch(model_t *m) {
  pthread_rwlock_rdlock(&m->lock);
  uint64_t e = m->epoch;
  pthread_rwlock_unlock(&m->lock);
  return e;
}

bool model_session_get(model_t *m, const char *session_id, int64_t now_ms,
                       bson_oid_t *user) {
  uint8_t key[32];
  if (!session_key(session_id, key)) {
    return false;
  }
  pthread_rwlock_rdlock(&m->lock);
  const msession_t *s = hashmap_get(&m->sessions, key);
  bool ok = s && now_ms < s->expires_at_ms;
  if (ok) {
    bson_oid_copy(&s->user, user);
  }
  pthread_rwlock_unlock(&m->lock);
  return ok;
}

void model_session_put(model_t *m, const char *session_id,
                       const bson_oid_t *user, int64_t expires_at_ms,
                       uint64_t epoch) {
  uint8_t key[32];
  if (!session_key(session_id, key)) {
    return;
  }
  pthread_rwlock_wrlock(&m->lock);
  if (epoch == m->epoch) {
    if (hashmap_count(&m->sessions) >= MODEL_SESSIONS_MAX) {
      clear_sessions(m); /* rare; they come back on their next request */
    }
    msession_t *s = hashmap_get(&m->sessions, key);
    if (!s) {
      s = bson_malloc0(sizeof *s);
      memcpy(s->key, key, sizeof key);
      hashmap_put(&m->sessions, s);
    }
    bson_oid_copy(user, &s->user);
    s->expires_at_ms = expires_at_ms;
    assert(hashmap_count(&m->sessions) <= MODEL_SESSIONS_MAX);
  }
  pthread_rwlock_unlock(&m->lock);
  sodium_memzero(key, sizeof key);
}

/* ---- checking the invariants (read lock held) ---- */

/* Says on stderr which invariant failed (where: a part of the model;
 * id: the record concerned, or NULL); returns false. */
static bool broken(const char *where, const char *what, const bson_oid_t *id) {
  char hex[25] = "-";
  if (id) {
    bson_oid_to_string(id, hex);
  }
  fprintf(stderr, "model: invariant broken: %s: %s (%s)\n", where, what, hex);
  return false;
}

static bool check_oidvec(const oidvec_t *v, const char *where,
                         const bson_oid_t *owner) {
  for (size_t i = 1; i < v->n; i++) {
    if (bson_oid_compare(&v->ids[i - 1], &v->ids[i]) >= 0) {
      return broken(where, "not sorted, or an id repeated", owner);
    }
  }
  return true;
}

/* A list (author: its owner; NULL for the ring): at most max records,
 * each held in the table and flagged as in this list; outside a load
 * also newest first and all newer than the floor. */
static bool check_tlist(const model_t *m, const tlist_t *l, size_t max,
                        const bson_oid_t *author) {
  const char *where = author ? "an author's list" : "the ring";
  if (l->n > max) {
    return broken(where, "too long", author);
  }
  for (size_t i = 0; i < l->n; i++) {
    const mtweet_t *t = l->items[i];
    if (hashmap_get(&m->tweets, &t->id) != t ||
        !(author ? t->in_author : t->in_ring)) {
      return broken(where, "holds a record not flagged as in it", &t->id);
    }
    if (author && !bson_oid_equal(&t->author, author)) {
      return broken(where, "holds another author's tweet", &t->id);
    }
    if (m->loading) {
      continue; /* unsorted until model_load_end */
    }
    if (i > 0 && tweet_order(l->items[i - 1], t) >= 0) {
      return broken(where, "not newest first", &t->id);
    }
    if (l->truncated && order_vs_cursor(t, &l->floor) >= 0) {
      return broken(where, "holds a tweet at or below its floor", &t->id);
    }
  }
  return true;
}

static bool check_locked(const model_t *m) {
  if (m->ready && m->loading) {
    return broken("state", "ready while loading", NULL);
  }
  if (!m->loading && m->n_queue > 0) {
    return broken("state", "events queued outside a load", NULL);
  }
  if (!m->ready && !m->loading &&
      (hashmap_count(&m->tweets) || hashmap_count(&m->users))) {
    return broken("state", "tweets or users held while not loaded", NULL);
  }
  const hashmap_t *maps[] = {&m->tweets, &m->users, &m->tombs, &m->sessions,
                             &m->pairs};
  for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
    if (!hashmap_check(maps[i])) {
      return broken("a hash table", "inconsistent", NULL);
    }
  }
  if (hashmap_count(&m->sessions) > MODEL_SESSIONS_MAX) {
    return broken("sessions", "more than MODEL_SESSIONS_MAX cached", NULL);
  }

  /* Lists: each within its bound, ordered, above its floor. */
  size_t author_max =
      m->loading ? m->per_author + m->per_author / 4 : 2 * m->per_author;
  size_t ring_max = m->loading ? 2 * m->ring_max - 1 : m->ring_max;
  if (!check_tlist(m, &m->ring, ring_max, NULL)) {
    return false;
  }
  size_t in_authors = 0;
  const muser_t *u;
  for (size_t at = 0; (u = hashmap_next(&m->users, &at));) {
    if (!check_tlist(m, &u->tweets, author_max, &u->id) ||
        !check_oidvec(&u->followees, "a user's followees", &u->id) ||
        !check_oidvec(&u->likes, "a user's likes", &u->id)) {
      return false;
    }
    if (u->named != (u->username[0] != '\0')) {
      return broken("a user", "named flag disagrees with the name", &u->id);
    }
    in_authors += u->tweets.n;
  }

  /* Records: each held by a list that holds it (the lists' walk above
   * found every list item here); none deleted; outside a load, every
   * list holds every record newer than its floor. */
  size_t flagged_author = 0, flagged_ring = 0;
  const mtweet_t *t;
  for (size_t at = 0; (t = hashmap_next(&m->tweets, &at));) {
    if (!t->in_author && !t->in_ring) {
      return broken("a tweet record", "held by no list", &t->id);
    }
    if (hashmap_get(&m->tombs, &t->id)) {
      return broken("a tweet record", "deleted, yet held", &t->id);
    }
    flagged_author += t->in_author;
    flagged_ring += t->in_ring;
    const muser_t *author = hashmap_get(&m->users, &t->author);
    if (!author) {
      return broken("a tweet record", "its author is unknown", &t->id);
    }
    if (m->loading) {
      continue;
    }
    if (!t->in_ring &&
        (!m->ring.truncated || order_vs_cursor(t, &m->ring.floor) < 0)) {
      return broken("the ring", "lacks a tweet newer than its floor", &t->id);
    }
    if (!t->in_author && (!author->tweets.truncated ||
                          order_vs_cursor(t, &author->tweets.floor) < 0)) {
      return broken("an author's list", "lacks a tweet newer than its floor",
                    &t->id);
    }
  }
  if (flagged_author != in_authors || flagged_ring != m->ring.n) {
    return broken("tweet records", "flags disagree with the lists", NULL);
  }

  /* Tombstones: the FIFO and the table hold the same ones. */
  if (m->tomb_at >= TOMBSTONES_MAX) {
    return broken("tombstones", "FIFO position out of range", NULL);
  }
  size_t tombs = 0;
  for (size_t i = 0; i < TOMBSTONES_MAX; i++) {
    const tomb_t *tb = m->tomb_fifo[i];
    if (tb && hashmap_get(&m->tombs, &tb->id) != tb) {
      return broken("tombstones", "one in the FIFO is not in the table",
                    &tb->id);
    }
    tombs += tb != NULL;
  }
  if (tombs != hashmap_count(&m->tombs)) {
    return broken("tombstones", "the table and the FIFO disagree", NULL);
  }

  /* Settling: tickets given out only rise. */
  const mpair_t *p;
  for (size_t at = 0; (p = hashmap_next(&m->pairs, &at));) {
    if (p->last > m->pair_ticket) {
      return broken("settling", "a pair's ticket is in the future", NULL);
    }
  }
  for (size_t i = 0; i < m->n_checks; i++) {
    if (m->checks[i].kind != MODEL_CHECK_FOLLOW &&
        m->checks[i].kind != MODEL_CHECK_LIKE) {
      return broken("settling", "a queued check of no kind", NULL);
    }
  }
  return true;
}

bool model_check_invariants(model_t *m) {
  pthread_rwlock_rdlock(&m->lock);
  bool ok = check_locked(m);
  pthread_rwlock_unlock(&m->lock);
  return ok;
}

void model_get_stats(model_t *m, model_stats_t *out) {
  memset(out, 0, sizeof *out);
  pthread_rwlock_rdlock(&m->lock);
  out->ready = m->ready;
  out->tweets = hashmap_count(&m->tweets);
  out->users = hashmap_count(&m->users);
  out->sessions = hashmap_count(&m->sessions);
  pthread_rwlock_unlock(&m->lock);
  out->loads = atomic_load(&m->loads);
  out->applied = atomic_load(&m->applied);
  out->answered = atomic_load(&m->answered);
  out->declined = atomic_load(&m->declined);
}

/* ---- settling follows and likes ---- */

size_t model_take_checks(model_t *m, model_check_t *out, size_t max) {
  pthread_rwlock_wrlock(&m->lock);
  size_t n = m->n_checks < max ? m->n_checks : max;
  for (size_t i = 0; i < n; i++) {
    out[i] = m->checks[i];
    out[i].ticket = m->pair_ticket;
  }
  if (n > 0) {
    memmove(m->checks, m->checks + n, sizeof *m->checks * (m->n_checks - n));
    m->n_checks -= n;
  }
  pthread_rwlock_unlock(&m->lock);
  return n;
}

void model_settle_check(model_t *m, const model_check_t *check, bool present) {
  uint8_t key[25];
  pair_key(check->kind, &check->a, &check->b, key);
  pthread_rwlock_wrlock(&m->lock);
  const mpair_t *p = m->ready ? hashmap_get(&m->pairs, key) : NULL;
  if (p && p->last <= check->ticket) {
    set_pair(m, check->kind, &check->a, &check->b, present);
  }
  pthread_rwlock_unlock(&m->lock);
}
