/*
 * model.c - see model.h.
 *
 * Layout.  Three hash tables (open addressing, linear probing, 8-byte
 * slots holding a pointer; the key lives inside the value):
 *   tweets:     id -> mtweet_t   every tweet record held
 *   users:      id -> muser_t    names, followees, likes, newest tweets
 *   tombstones: id -> tomb_t     tweets seen deleted (bounded, FIFO)
 *   sessions:   token hash -> msession_t
 * A tweet record is referenced by its author's list, by the ring, or by
 * both (in_author, in_ring); it is freed, and leaves the tweets table,
 * when neither holds it.
 *
 * Invariants (under the write lock, true between any two calls):
 *   - every list (tlist_t) is sorted newest first: created_at desc, id desc;
 *   - a list that never dropped a tweet (!truncated) holds all of them (an
 *     author's list: all the author's tweets; the ring: all tweets); one
 *     that did holds ALL of them strictly newer than its floor, the newest
 *     tweet it ever dropped, and nothing else.  Deletions do not move the
 *     floor, so a list emptied by deletions still takes new tweets;
 *   - a tweet in any list is in the tweets table, and vice versa;
 *   - followees and likes are sorted by bson_oid_compare, no duplicates.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "server/readmodel/model.h"

#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "sync/base/bsonx.h"
#include "server/domain/follows.h"

#define TOMBSTONES_MAX 65536

/* ---- keymap: pointer table keyed by bytes inside the value ---- */

typedef struct keymap {
  void **slots;
  size_t cap; /* power of two */
  size_t n;
  size_t key_off, key_len;
} keymap_t;

static void keymap_init(keymap_t *km, size_t key_off, size_t key_len) {
  memset(km, 0, sizeof *km);
  km->key_off = key_off;
  km->key_len = key_len;
}

static void keymap_clear(keymap_t *km) {
  bson_free(km->slots);
  km->slots = NULL;
  km->cap = km->n = 0;
}

static const uint8_t *key_of(const keymap_t *km, void *value) {
  return (const uint8_t *)value + km->key_off;
}

static size_t key_hash(const uint8_t *key, size_t len) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h = (h ^ key[i]) * 1099511628211ULL;
  }
  return (size_t)(h ^ (h >> 29));
}

/* The slot of key, or of the empty place where it would go. */
static size_t keymap_slot(const keymap_t *km, const void *key) {
  size_t mask = km->cap - 1, i = key_hash(key, km->key_len) & mask;
  while (km->slots[i] &&
         memcmp(key_of(km, km->slots[i]), key, km->key_len) != 0) {
    i = (i + 1) & mask;
  }
  return i;
}

static void *keymap_get(const keymap_t *km, const void *key) {
  return km->cap ? km->slots[keymap_slot(km, key)] : NULL;
}

/* Inserts value (its key must not be present). */
static void keymap_put(keymap_t *km, void *value) {
  if ((km->n + 1) * 4 > km->cap * 3) {
    keymap_t bigger = *km;
    bigger.cap = km->cap ? km->cap * 2 : 64;
    bigger.slots = bson_malloc0(sizeof(void *) * bigger.cap);
    bigger.n = 0;
    for (size_t i = 0; i < km->cap; i++) {
      if (km->slots[i]) {
        bigger.slots[keymap_slot(&bigger, key_of(km, km->slots[i]))] =
            km->slots[i];
        bigger.n++;
      }
    }
    bson_free(km->slots);
    *km = bigger;
  }
  km->slots[keymap_slot(km, key_of(km, value))] = value;
  km->n++;
}

/* Removes key (backward-shift deletion keeps probe chains whole). */
static void *keymap_del(keymap_t *km, const void *key) {
  if (!km->cap) {
    return NULL;
  }
  size_t mask = km->cap - 1, i = keymap_slot(km, key);
  void *value = km->slots[i];
  if (!value) {
    return NULL;
  }
  km->slots[i] = NULL;
  km->n--;
  for (size_t j = (i + 1) & mask; km->slots[j]; j = (j + 1) & mask) {
    size_t home = key_hash(key_of(km, km->slots[j]), km->key_len) & mask;
    /* Move j back to i when its home is not in (i, j] cyclically. */
    bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!between) {
      km->slots[i] = km->slots[j];
      km->slots[j] = NULL;
      i = j;
    }
  }
  return value;
}

/* ---- records ---- */

typedef struct mtweet {
  bson_oid_t id; /* the key: first member */
  bson_oid_t author;
  bson_oid_t reply_to;
  bool has_reply_to;
  bool in_author, in_ring;
  int64_t created_at_ms, edited_at_ms, reply_count, like_count, version;
  char *text;
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

typedef struct queued {
  char type[32];
  bson_t *payload;
} queued_t;

struct model {
  pthread_rwlock_t lock;
  size_t per_author, ring_max;
  bool ready, loading;
  keymap_t tweets, users, tombs, sessions;
  tomb_t **tomb_fifo; /* ring of TOMBSTONES_MAX, oldest at tomb_at */
  size_t tomb_at;
  tlist_t ring;
  queued_t *queue;
  size_t n_queue, cap_queue;
  uint64_t epoch; /* session.ended events applied */
  keymap_t pairs;        /* mpair_t: pairs with events since the load */
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
  keymap_del(&m->tweets, &t->id);
  bson_free(t->text);
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
  return true;
}

static void tlist_remove(tlist_t *l, const mtweet_t *t) {
  for (size_t i = 0; i < l->n; i++) {
    if (l->items[i] == t) {
      memmove(&l->items[i], &l->items[i + 1],
              sizeof *l->items * (l->n - i - 1));
      l->n--;
      return;
    }
  }
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
  muser_t *u = keymap_get(&m->users, id);
  if (!u && create) {
    u = bson_malloc0(sizeof *u);
    bson_oid_copy(id, &u->id);
    keymap_put(&m->users, u);
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
  return keymap_get(&m->tombs, id) != NULL;
}

static void tombstone(model_t *m, const bson_oid_t *id) {
  if (is_tombstoned(m, id)) {
    return;
  }
  tomb_t **slot = &m->tomb_fifo[m->tomb_at];
  if (*slot) {
    keymap_del(&m->tombs, &(*slot)->id);
    bson_free(*slot);
  }
  *slot = bson_malloc0(sizeof **slot);
  bson_oid_copy(id, &(*slot)->id);
  keymap_put(&m->tombs, *slot);
  m->tomb_at = (m->tomb_at + 1) % TOMBSTONES_MAX;
}

/* ---- life ---- */

model_t *model_new(const model_config_t *cfg) {
  model_t *m = bson_malloc0(sizeof *m);
  m->per_author = cfg && cfg->per_author ? cfg->per_author
                                         : MODEL_PER_AUTHOR_DEFAULT;
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
  keymap_init(&m->tweets, offsetof(mtweet_t, id), sizeof(bson_oid_t));
  keymap_init(&m->users, offsetof(muser_t, id), sizeof(bson_oid_t));
  keymap_init(&m->tombs, offsetof(tomb_t, id), sizeof(bson_oid_t));
  keymap_init(&m->sessions, offsetof(msession_t, key), 32);
  keymap_init(&m->pairs, offsetof(mpair_t, key), 25);
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
  for (size_t i = 0; i < m->users.cap; i++) {
    if (m->users.slots[i]) {
      user_free(m, m->users.slots[i]);
    }
  }
  keymap_clear(&m->users);
  BSON_ASSERT(m->tweets.n == 0);
  keymap_clear(&m->tweets);
  for (size_t i = 0; i < m->pairs.cap; i++) {
    bson_free(m->pairs.slots[i]);
  }
  keymap_clear(&m->pairs);
  bson_free(m->checks);
  m->checks = NULL;
  m->n_checks = m->cap_checks = 0;
  for (size_t i = 0; i < TOMBSTONES_MAX; i++) {
    bson_free(m->tomb_fifo[i]);
    m->tomb_fifo[i] = NULL;
  }
  m->tomb_at = 0;
  keymap_clear(&m->tombs);
}

static void clear_sessions(model_t *m) {
  for (size_t i = 0; i < m->sessions.cap; i++) {
    if (m->sessions.slots[i]) {
      sodium_memzero(m->sessions.slots[i], sizeof(msession_t));
      bson_free(m->sessions.slots[i]);
    }
  }
  keymap_clear(&m->sessions);
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
  mtweet_t *r = keymap_get(&m->tweets, &t->id);
  if (r) {
    if (t->version < r->version) {
      return; /* an older state published late */
    }
    bson_free(r->text);
    r->text = bson_strdup(t->text);
    r->edited_at_ms = t->edited_at_ms;
    r->reply_count = t->reply_count;
    r->like_count = t->like_count;
    r->version = t->version;
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
  r->edited_at_ms = t->edited_at_ms;
  r->reply_count = t->reply_count;
  r->like_count = t->like_count;
  r->version = t->version;
  r->text = bson_strdup(t->text);
  keymap_put(&m->tweets, r);
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
  tweet_release(m, r); /* held by neither: both regions unknown */
}

static void delete_tweet(model_t *m, const bson_oid_t *id) {
  tombstone(m, id);
  mtweet_t *r = keymap_get(&m->tweets, id);
  if (!r) {
    return;
  }
  if (r->in_author) {
    muser_t *u = user_get(m, &r->author, false);
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

static bool iter_bool(const bson_t *doc, const char *key, bool *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_BOOL(&it)) {
    *out = bson_iter_bool(&it);
    return true;
  }
  return false;
}

static bool iter_utf8(const bson_t *doc, const char *key, char *out,
                      size_t size) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
    bsonx_copy_utf8(&it, out, size);
    return true;
  }
  return false;
}

static bool iter_date(const bson_t *doc, const char *key, int64_t *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    *out = bson_iter_date_time(&it);
    return true;
  }
  return false;
}

static bool iter_int(const bson_t *doc, const char *key, int64_t *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) &&
      (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it))) {
    *out = bsonx_as_int64(&it);
    return true;
  }
  return false;
}

/* The tweet of a tweet.created/updated payload; false when malformed. */
static bool parse_tweet(const bson_t *p, tweet_t *t) {
  memset(t, 0, sizeof *t);
  t->has_reply_to = bsonx_find_oid(p, "reply_to", &t->reply_to);
  iter_date(p, "edited_at", &t->edited_at_ms);
  iter_utf8(p, "author", t->author.username, sizeof t->author.username);
  iter_utf8(p, "display_name", t->author.display_name,
            sizeof t->author.display_name);
  return bsonx_find_oid(p, "id", &t->id) && bsonx_find_oid(p, "author_id", &t->author.id) &&
         iter_utf8(p, "text", t->text, sizeof t->text) &&
         iter_date(p, "created_at", &t->created_at_ms) &&
         iter_int(p, "reply_count", &t->reply_count) &&
         iter_int(p, "like_count", &t->like_count) &&
         iter_int(p, "version", &t->version);
}

static bool session_key(const char *session_id, uint8_t key[32]) {
  size_t n = 0;
  return session_id && strlen(session_id) == MODEL_SESSION_ID_LEN &&
         sodium_hex2bin(key, 32, session_id, MODEL_SESSION_ID_LEN, NULL, &n,
                        NULL) == 0 &&
         n == 32;
}

static void pair_key(model_check_kind_t kind, const bson_oid_t *a,
                     const bson_oid_t *b, uint8_t key[25]) {
  key[0] = (uint8_t)kind;
  memcpy(key + 1, a->bytes, 12);
  memcpy(key + 13, b->bytes, 12);
}

static void set_pair(model_t *m, model_check_kind_t kind,
                     const bson_oid_t *a, const bson_oid_t *b, bool on) {
  muser_t *u = user_get(m, a, true);
  oidvec_set(kind == MODEL_CHECK_FOLLOW ? &u->followees : &u->likes, b, on);
}

/* An event for a pair: apply its state, remember when, queue a check. */
static void pair_event(model_t *m, model_check_kind_t kind,
                       const bson_oid_t *a, const bson_oid_t *b, bool on) {
  set_pair(m, kind, a, b, on);
  uint8_t key[25];
  pair_key(kind, a, b, key);
  mpair_t *p = keymap_get(&m->pairs, key);
  if (!p) {
    p = bson_malloc0(sizeof *p);
    memcpy(p->key, key, sizeof key);
    keymap_put(&m->pairs, p);
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

static void apply_locked(model_t *m, const char *type, const bson_t *p) {
  bson_oid_t a, b;
  bool flag;
  if (!strcmp(type, "session.ended")) {
    char id[MODEL_SESSION_ID_LEN + 1];
    uint8_t key[32];
    m->epoch++;
    if (iter_utf8(p, "session", id, sizeof id) && session_key(id, key)) {
      msession_t *s = keymap_del(&m->sessions, key);
      if (s) {
        sodium_memzero(s, sizeof *s);
        bson_free(s);
      }
    }
    return;
  }
  if (!m->ready && !m->loading) {
    return; /* nothing held: the next load reads it from the database */
  }
  if (!strcmp(type, "tweet.created") || !strcmp(type, "tweet.updated")) {
    tweet_t *t = bson_malloc(sizeof *t);
    if (parse_tweet(p, t)) {
      put_tweet(m, t, !strcmp(type, "tweet.created"));
    }
    bson_free(t);
  } else if (!strcmp(type, "tweet.deleted")) {
    if (bsonx_find_oid(p, "id", &a)) {
      delete_tweet(m, &a);
    }
  } else if (!strcmp(type, "follow")) {
    if (bsonx_find_oid(p, "follower", &a) && bsonx_find_oid(p, "followee", &b) &&
        iter_bool(p, "following", &flag)) {
      pair_event(m, MODEL_CHECK_FOLLOW, &a, &b, flag);
    }
  } else if (!strcmp(type, "like")) {
    if (bsonx_find_oid(p, "user", &a) && bsonx_find_oid(p, "tweet", &b) &&
        iter_bool(p, "liked", &flag)) {
      pair_event(m, MODEL_CHECK_LIKE, &a, &b, flag);
    }
  } else if (!strcmp(type, "user.updated")) {
    char username[USERNAME_MAX + 1], display[UTF8_BYTES(DISPLAY_NAME_MAX) + 1];
    bson_iter_t v;
    int64_t version = bson_iter_init_find(&v, p, "version")
                          ? bsonx_as_int64(&v)
                          : 0;
    if (bsonx_find_oid(p, "id", &a) && iter_utf8(p, "username", username,
                                           sizeof username) &&
        iter_utf8(p, "display_name", display, sizeof display)) {
      user_set_names(user_get(m, &a, true), username, display, version);
    }
  }
}

void model_apply(model_t *m, const char *type, const bson_t *payload) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading && strcmp(type, "session.ended") != 0) {
    if (m->n_queue == m->cap_queue) {
      m->cap_queue = m->cap_queue ? m->cap_queue * 2 : 64;
      m->queue = bson_realloc(m->queue, sizeof *m->queue * m->cap_queue);
    }
    queued_t *q = &m->queue[m->n_queue++];
    bson_strncpy(q->type, type, sizeof q->type);
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
  for (size_t i = 0; i < m->users.cap; i++) {
    muser_t *u = m->users.slots[i];
    if (!u) {
      continue;
    }
    oidvec_sort(&u->followees);
    oidvec_sort(&u->likes);
    tlist_sort(&u->tweets);
    tlist_trim(m, &u->tweets, m->per_author, false);
  }
  tlist_sort(&m->ring);
  tlist_trim(m, &m->ring, m->ring_max, true);
  /* Ready now (so put_tweet inserts in place), then the queued events. */
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

bool model_ready(model_t *m) {
  pthread_rwlock_rdlock(&m->lock);
  bool ready = m->ready;
  pthread_rwlock_unlock(&m->lock);
  return ready;
}

/* ---- payloads ---- */

void model_payload_tweet(bson_t *out, const tweet_t *t) {
  BSON_APPEND_OID(out, "id", &t->id);
  BSON_APPEND_OID(out, "author_id", &t->author.id);
  BSON_APPEND_UTF8(out, "author", t->author.username);
  BSON_APPEND_UTF8(out, "display_name", t->author.display_name);
  BSON_APPEND_UTF8(out, "text", t->text);
  BSON_APPEND_DATE_TIME(out, "created_at", t->created_at_ms);
  if (t->edited_at_ms) {
    BSON_APPEND_DATE_TIME(out, "edited_at", t->edited_at_ms);
  }
  if (t->has_reply_to) {
    BSON_APPEND_OID(out, "reply_to", &t->reply_to);
  }
  BSON_APPEND_INT64(out, "reply_count", t->reply_count);
  BSON_APPEND_INT64(out, "like_count", t->like_count);
  BSON_APPEND_INT64(out, "version", t->version);
}

void model_payload_tweet_deleted(bson_t *out, const bson_oid_t *id) {
  BSON_APPEND_OID(out, "id", id);
}

void model_payload_follow(bson_t *out, const bson_oid_t *follower,
                          const bson_oid_t *followee, bool following) {
  BSON_APPEND_OID(out, "follower", follower);
  BSON_APPEND_OID(out, "followee", followee);
  BSON_APPEND_BOOL(out, "following", following);
}

void model_payload_like(bson_t *out, const bson_oid_t *user,
                        const bson_oid_t *tweet, bool liked) {
  BSON_APPEND_OID(out, "user", user);
  BSON_APPEND_OID(out, "tweet", tweet);
  BSON_APPEND_BOOL(out, "liked", liked);
}

void model_payload_user(bson_t *out, const user_name_t *user) {
  BSON_APPEND_OID(out, "id", &user->id);
  BSON_APPEND_UTF8(out, "username", user->username);
  BSON_APPEND_UTF8(out, "display_name", user->display_name);
  BSON_APPEND_INT64(out, "version", user->version);
}

void model_payload_session_ended(bson_t *out, const char *session_id) {
  BSON_APPEND_UTF8(out, "session", session_id);
}

/* ---- reading (read lock held) ---- */

/* One list taking part in a merge: its items older than the cursor. */
/* A list being merged, at its current item, whose order key is kept here:
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

/* A binary heap of sources by the order of their current item. */
/* tweet_order(a's item, b's item) < 0, from the keys. */
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

/* Sets every field of *t (no memset of the 1.5 KB struct: keep this list
 * complete when tweet_t grows). */
static void copy_out(const model_t *m, const mtweet_t *r,
                     const muser_t *author, const muser_t *viewer,
                     tweet_t *t) {
  (void)m;
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
}

/* Merges lists[0..n) newest first into a page.  floor is the newest of
 * the floors of the truncated lists (NULL: none): everything strictly
 * newer is known, the rest is not, so every returned item must be newer.
 * False when the page cannot be proved. */
static bool merge_page(const model_t *m, const tlist_t *const *lists,
                       size_t n, const page_cursor_t *floor,
                       const page_cursor_t *before, size_t limit,
                       const muser_t *viewer, tweet_page_t *page) {
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
  while (h > 0) {
    const mtweet_t *r = heap[0].list->items[heap[0].at];
    if (got == limit) {
      more = true; /* a real tweet exists after the page */
      break;
    }
    const muser_t *author = keymap_get(&m->users, &r->author);
    if ((floor && order_vs_cursor(r, floor) >= 0) || !author ||
        !author->named) {
      ok = false; /* in the unknown region, or an author without a name */
      break;
    }
    copy_out(m, r, author, viewer, &items[got++]);
    if (++heap[0].at == heap[0].list->n) {
      heap[0] = heap[--h];
    } else {
      src_load(&heap[0]);
    }
    heap_down(heap, h, 0);
  }
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
                const page_cursor_t *before, size_t limit,
                tweet_page_t *page) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX || !viewer) {
    return false;
  }
  pthread_rwlock_rdlock(&m->lock);
  bool ok = m->ready;
  const muser_t *me = ok ? keymap_get(&m->users, viewer) : NULL;
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
          i < n_followees ? keymap_get(&m->users, &me->followees.ids[i]) : me;
      if (!a) {
        continue; /* unknown to the model: no tweets */
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
    const muser_t *me = viewer ? keymap_get(&m->users, viewer) : NULL;
    const tlist_t *lists[1] = {&m->ring};
    const page_cursor_t *floor = m->ring.truncated ? &m->ring.floor : NULL;
    ok = merge_page(m, lists, 1, floor, before, limit, me, page);
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
  const msession_t *s = keymap_get(&m->sessions, key);
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
    if (m->sessions.n >= MODEL_SESSIONS_MAX) {
      clear_sessions(m); /* rare; they come back on their next request */
    }
    msession_t *s = keymap_get(&m->sessions, key);
    if (!s) {
      s = bson_malloc0(sizeof *s);
      memcpy(s->key, key, sizeof key);
      keymap_put(&m->sessions, s);
    }
    bson_oid_copy(user, &s->user);
    s->expires_at_ms = expires_at_ms;
  }
  pthread_rwlock_unlock(&m->lock);
  sodium_memzero(key, sizeof key);
}

void model_get_stats(model_t *m, model_stats_t *out) {
  memset(out, 0, sizeof *out);
  pthread_rwlock_rdlock(&m->lock);
  out->ready = m->ready;
  out->tweets = m->tweets.n;
  out->users = m->users.n;
  out->sessions = m->sessions.n;
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
    memmove(m->checks, m->checks + n,
            sizeof *m->checks * (m->n_checks - n));
    m->n_checks -= n;
  }
  pthread_rwlock_unlock(&m->lock);
  return n;
}

void model_settle_check(model_t *m, const model_check_t *check,
                        bool present) {
  uint8_t key[25];
  pair_key(check->kind, &check->a, &check->b, key);
  pthread_rwlock_wrlock(&m->lock);
  const mpair_t *p = m->ready ? keymap_get(&m->pairs, key) : NULL;
  if (p && p->last <= check->ticket) {
    set_pair(m, check->kind, &check->a, &check->b, present);
  }
  pthread_rwlock_unlock(&m->lock);
}
