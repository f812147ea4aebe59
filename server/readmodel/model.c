/*
 * model.c - see model.h.
 *
 * Layout.  Hash tables (hashmap.h: the key lives inside the record):
 *   tweets:   id -> mtweet_t      every tweet record held
 *   users:    id -> muser_t       names, followees, likes, reposted
 *                                 tweets, newest tweets, newest reposts
 *   reposts:  repost id -> mrepost_t   every repost entry held
 *   tags:     folded tag -> mtag_t     a tag's newest tweets, and how
 *                                      many authors used it in the window
 *   window:   id -> mwin_t        the tweets of the trends' window
 *   uses:     (tag, author) -> muse_t  how many window tweets of an
 *                                      author have the tag
 *   tombs:    id -> tomb_t        tweets seen deleted (the last
 *                                 TOMBSTONES_MAX, oldest first in a FIFO)
 *   sessions: token hash -> msession_t
 *   pairs:    kind, a, b -> mpair_t   follow, like and repost pairs with
 *                                     events since the load (settling)
 *   load_pins: id -> mpin_t       during a load, repost entries waiting
 *                                 for their tweet's record
 * A list (tlist_t) holds items by their key (mkey_t, the first member of
 * both kinds of item: an id and a time): an author's list, the ring and a
 * tag's list hold tweet records, a user's reposts hold repost entries.  A
 * tweet record is held by its author's list (in_author), by the ring
 * (in_ring) and by pins (the tag lists and repost entries that hold it);
 * it is freed, and leaves the tweets table, when nothing holds it.  A
 * repost entry is held by its user's list alone and holds its tweet's
 * record.  The window's tweets are kept in a table and in an array in
 * created_at order (win_order[win_head..win_n)), so that the oldest
 * leave first; a deleted one leaves the table at once and the array when
 * it would have expired.
 *
 * Invariants, true between any two calls (model_check_invariants walks
 * them all; assert() checks the cheap ones where they must hold):
 *   - not ready and loading at once; events are queued only during a
 *     load; outside both, no tweet, user, repost or tag is held;
 *   - every list is sorted newest first: key time desc, id desc, no item
 *     twice (during a load the lists are unsorted until model_load_end);
 *   - a list that never dropped an item (!truncated) holds all of them (an
 *     author's list: all the author's tweets; the ring: all tweets; a
 *     tag's list: all tweets with the tag; a user's reposts: all of the
 *     user's reposts of existing tweets); one that did holds ALL of them
 *     strictly newer than its floor, the newest key it ever dropped (or
 *     was cut at), and nothing else.  Deletions do not move the floor, so
 *     a list emptied by deletions still takes new items;
 *   - bounds: an author's list, a tag's list and a user's reposts hold at
 *     most 2 * per_author items and the ring ring_max (during a load
 *     per_author + per_author / 4 and 2 * ring_max - 1; a user's reposts
 *     are not bounded during a load);
 *   - a record is in the tweets table exactly when something holds it,
 *     in_author / in_ring say which lists, and pins counts the tag lists
 *     and repost entries holding it (outside a load, where a record's
 *     pins also count entries waiting for it); its author is in the users
 *     table; a tag list holds only records whose tags include its tag;
 *   - a repost entry is in the reposts table exactly when its user's list
 *     holds it; outside a load it shows a record that lists it among its
 *     entries, and its user's reposted tweets include that tweet;
 *   - no record or entry held is tombstoned: a deleted id never returns
 *     while it is remembered;
 *   - versions only rise: a record's version, a window tweet's, and a
 *     user's name_version, are replaced only by one at least as high
 *     (put_tweet, win_put, user_set_names);
 *   - a window tweet's uses are counted once per tag it has (uses), a
 *     tag's authors is the number of its uses with a count, and a tag
 *     without authors whose list is empty and not truncated is not held;
 *   - followees, likes and reposted tweets are sorted by
 *     bson_oid_compare, no duplicates;
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
#include "sync/base/db.h"

#define TOMBSTONES_MAX 65536

/* ---- records ---- */

/* The key of a list item: first member of a tweet record (its id and
 * created_at) and of a repost entry (its id and time). */
typedef struct mkey {
  bson_oid_t id; /* the hash key of both */
  int64_t ts;
} mkey_t;

typedef struct mrepost mrepost_t;

typedef struct mtweet {
  mkey_t key; /* first member: id, created_at */
  bson_oid_t author;
  bson_oid_t reply_to;
  bool has_reply_to;
  bool in_author, in_ring;
  uint32_t pins; /* tag lists and repost entries holding it */
  int64_t edited_at_ms, reply_count, like_count, version;
  int64_t repost_count, quote_count, edit_count;
  bool has_quote_of;
  bson_oid_t quote_of;
  char *text;
  tweet_entity_t *entities; /* n_entities of them; NULL when none */
  size_t n_entities;
  char *tags; /* n_tags folded tags, each NUL-terminated, back to back */
  size_t n_tags;
  media_list_t *media; /* its images; NULL when none */
  mrepost_t **reposts; /* the entries showing it */
  size_t n_reposts, cap_reposts;
} mtweet_t;

struct mrepost {
  mkey_t key; /* first member: the repost's id (reposts_id) and time */
  bson_oid_t user;
  bson_oid_t tweet_id;
  mtweet_t *tweet; /* NULL during a load until model_load_end */
};

/* What holding an item of a list means, and what dropping it undoes. */
typedef enum {
  HOLD_AUTHOR = 1, /* mtweet_t, in_author */
  HOLD_RING,       /* mtweet_t, in_ring */
  HOLD_TAG,        /* mtweet_t, a pin */
  HOLD_REPOSTS,    /* mrepost_t, its entry */
} hold_t;

typedef struct tlist {
  mkey_t **items; /* newest first */
  size_t n, cap;
  hold_t hold;
  bool truncated;      /* it has dropped items: floor is valid */
  page_cursor_t floor; /* the newest key ever dropped */
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
  bool has_avatar; /* its avatar, as the names' version says */
  bson_oid_t avatar;
  oidvec_t followees;
  oidvec_t likes;
  oidvec_t reposted; /* every tweet the user has reposted */
  tlist_t tweets;
  tlist_t reposts; /* the newest reposts (mrepost_t) */
} muser_t;

typedef struct mtag {
  char key[TAG_SIZE]; /* the folded tag, zero-padded: the key */
  tlist_t tweets;
  int64_t authors; /* of the window's tweets with it */
} mtag_t;

/* A tweet of the trends' window. */
typedef struct mwin {
  bson_oid_t id; /* the key */
  bson_oid_t author;
  int64_t created_at_ms, version;
  mtag_t **tags; /* its tags (each counted in uses) */
  size_t n_tags;
  bool gone; /* deleted: out of the table, still in win_order */
} mwin_t;

/* How many window tweets of an author have a tag. */
typedef struct muse {
  uint8_t key[sizeof(mtag_t *) + 12]; /* the tag's address, the author */
  int64_t count;
} muse_t;

/* Repost entries of a load waiting for their tweet's record. */
typedef struct mpin {
  bson_oid_t id; /* the key: the tweet */
  uint32_t count;
} mpin_t;

typedef struct tomb {
  bson_oid_t id; /* the key */
} tomb_t;

typedef struct msession {
  uint8_t key[32]; /* the token hash */
  bson_oid_t user;
  int64_t expires_at_ms;
} msession_t;

/* The last event applied for a follow, like or repost pair
 * (model_settle_check). */
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
  int64_t (*now_ms)(void);
  bool ready, loading;
  hashmap_t tweets, users, reposts, tags, window, uses, tombs, sessions;
  hashmap_t load_pins;
  tomb_t **tomb_fifo; /* ring of TOMBSTONES_MAX, oldest at tomb_at */
  size_t tomb_at;
  tlist_t ring;
  mwin_t **win_order; /* [win_head, win_n): by created_at */
  size_t win_head, win_n, win_cap;
  int64_t win_cutoff; /* tweets created before it are not in the window */
  uint64_t trend_gen; /* changes of some tag's authors */
  uint64_t cache_gen; /* trend_gen of the cached trends */
  trend_t cache[TRENDS_MAX];
  size_t cache_n;
  queued_t *queue;
  size_t n_queue, cap_queue;
  uint64_t epoch;        /* session.ended events applied */
  hashmap_t pairs;       /* mpair_t: pairs with events since the load */
  uint64_t pair_ticket;  /* counts pair events */
  model_check_t *checks; /* queued, oldest first */
  size_t n_checks, cap_checks;
  atomic_ullong loads, applied, answered, declined;
};

/* List order: negative when a comes first (is newer). */
static int key_order(const mkey_t *a, const mkey_t *b) {
  if (a->ts != b->ts) {
    return a->ts > b->ts ? -1 : 1;
  }
  return -bson_oid_compare(&a->id, &b->id);
}

static int key_order_qsort(const void *a, const void *b) {
  return key_order(*(mkey_t *const *)a, *(mkey_t *const *)b);
}

/* The order of a key against a cursor: negative when k is newer. */
static int key_vs_cursor(const mkey_t *k, const page_cursor_t *c) {
  if (k->ts != c->ts_ms) {
    return k->ts > c->ts_ms ? -1 : 1;
  }
  return -bson_oid_compare(&k->id, &c->id);
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

/* Appends without keeping order (loading; oidvec_sort afterwards). */
static void oidvec_push(oidvec_t *v, const bson_oid_t *id) {
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 4;
    v->ids = bson_realloc(v->ids, sizeof *v->ids * v->cap);
  }
  bson_oid_copy(id, &v->ids[v->n++]);
}

static void oidvec_set(oidvec_t *v, const bson_oid_t *id, bool present) {
  size_t at = oidvec_lower(v, id);
  bool has = at < v->n && bson_oid_equal(&v->ids[at], id);
  if (present && !has) {
    oidvec_push(v, id); /* room, then its place */
    memmove(&v->ids[at + 1], &v->ids[at], sizeof *v->ids * (v->n - 1 - at));
    bson_oid_copy(id, &v->ids[at]);
    assert(at == 0 || bson_oid_compare(&v->ids[at - 1], id) < 0);
    assert(at + 1 == v->n || bson_oid_compare(id, &v->ids[at + 1]) < 0);
  } else if (!present && has) {
    memmove(&v->ids[at], &v->ids[at + 1], sizeof *v->ids * (v->n - at - 1));
    v->n--;
  }
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

/* ---- tweet records ---- */

/* The next of a record's tags (tags, back to back): the first when s is
 * NULL, NULL after the last. */
static const char *next_tag(const mtweet_t *r, const char *s, size_t *i) {
  if (!s) {
    *i = 0;
    return r->n_tags ? r->tags : NULL;
  }
  return ++*i < r->n_tags ? s + strlen(s) + 1 : NULL;
}

static bool has_tag(const mtweet_t *r, const char *tag) {
  size_t i;
  for (const char *s = next_tag(r, NULL, &i); s; s = next_tag(r, s, &i)) {
    if (!strcmp(s, tag)) {
      return true;
    }
  }
  return false;
}

/* Frees r when nothing holds it; true when it did. */
static bool record_release(model_t *m, mtweet_t *t) {
  if (t->in_author || t->in_ring || t->pins > 0) {
    return false;
  }
  assert(t->n_reposts == 0); /* each entry pins it */
  mtweet_t *gone = hashmap_del(&m->tweets, &t->key.id);
  assert(gone == t); /* every record held is in the table */
  (void)gone;
  bson_free(t->text);
  bson_free(t->entities);
  bson_free(t->tags);
  bson_free(t->reposts);
  media_list_free(t->media);
  bson_free(t);
  return true;
}

static void unpin(model_t *m, mtweet_t *t) {
  assert(t->pins > 0);
  t->pins--;
  record_release(m, t);
}

/* ---- repost entries ---- */

static void entry_attach(mrepost_t *e, mtweet_t *t) {
  e->tweet = t;
  if (t->n_reposts == t->cap_reposts) {
    t->cap_reposts = t->cap_reposts ? t->cap_reposts * 2 : 2;
    t->reposts = bson_realloc(t->reposts, sizeof *t->reposts * t->cap_reposts);
  }
  t->reposts[t->n_reposts++] = e;
}

/* Frees an entry its list no longer holds, and its pin of its tweet. */
static void entry_drop(model_t *m, mrepost_t *e) {
  mrepost_t *gone = hashmap_del(&m->reposts, &e->key.id);
  assert(gone == e);
  (void)gone;
  mtweet_t *t = e->tweet;
  if (t) {
    for (size_t i = 0; i < t->n_reposts; i++) {
      if (t->reposts[i] == e) {
        t->reposts[i] = t->reposts[--t->n_reposts];
        break;
      }
    }
    unpin(m, t);
  }
  bson_free(e);
}

/* ---- lists ---- */

/* Undoes what holding k in a list of this kind meant. */
static void unhold(model_t *m, hold_t hold, mkey_t *k) {
  mtweet_t *t = (mtweet_t *)k;
  switch (hold) {
  case HOLD_AUTHOR:
    t->in_author = false;
    record_release(m, t);
    break;
  case HOLD_RING:
    t->in_ring = false;
    record_release(m, t);
    break;
  case HOLD_TAG:
    unpin(m, t);
    break;
  case HOLD_REPOSTS:
    entry_drop(m, (mrepost_t *)k);
    break;
  }
}

static void tlist_sort(tlist_t *l) {
  if (l->n > 1) {
    qsort(l->items, l->n, sizeof *l->items, key_order_qsort);
  }
}

static void tlist_push(tlist_t *l, mkey_t *k) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->items = bson_realloc(l->items, sizeof *l->items * l->cap);
  }
  l->items[l->n++] = k;
}

/* The first index of a sorted list whose item is not newer than k. */
static size_t tlist_lower(const tlist_t *l, const mkey_t *k) {
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (key_order(l->items[mid], k) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* The index of k in l, or l->n; sorted says whether l is (a load's lists
 * are not until its end). */
static size_t tlist_index(const tlist_t *l, const mkey_t *k, bool sorted) {
  if (sorted) {
    size_t at = tlist_lower(l, k);
    return at < l->n && l->items[at] == k ? at : l->n;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (l->items[i] == k) {
      return i;
    }
  }
  return l->n;
}

/* Whether k is in the unknown region of l (at or below its floor). */
static bool below_floor(const tlist_t *l, const mkey_t *k) {
  return l->truncated && key_vs_cursor(k, &l->floor) >= 0;
}

/* Inserts k at its place; false (nothing done) when the list is
 * truncated and k is not newer than its floor: that region is unknown,
 * and holding k there would break the list's invariant. */
static bool tlist_insert(tlist_t *l, mkey_t *k) {
  if (below_floor(l, k)) {
    return false;
  }
  size_t lo = tlist_lower(l, k);
  tlist_push(l, k);
  memmove(&l->items[lo + 1], &l->items[lo], sizeof *l->items * (l->n - 1 - lo));
  l->items[lo] = k;
  assert(lo == 0 || key_order(l->items[lo - 1], k) < 0);
  assert(lo + 1 == l->n || key_order(k, l->items[lo + 1]) < 0);
  return true;
}

/* Removes the item at i (not unheld: the caller's). */
static void tlist_remove_at(tlist_t *l, size_t i) {
  assert(i < l->n);
  memmove(&l->items[i], &l->items[i + 1], sizeof *l->items * (l->n - i - 1));
  l->n--;
}

/* Raises the floor to key (when newer) and makes the list truncated. */
static void raise_floor(tlist_t *l, const mkey_t *k) {
  if (!l->truncated || key_vs_cursor(k, &l->floor) < 0) {
    l->floor.ts_ms = k->ts;
    bson_oid_copy(&k->id, &l->floor.id);
  }
  l->truncated = true;
}

/* Drops the oldest items beyond keep (the list becomes truncated). */
static void tlist_trim(model_t *m, tlist_t *l, size_t keep) {
  while (l->n > keep) {
    mkey_t *k = l->items[--l->n];
    raise_floor(l, k);
    unhold(m, l->hold, k);
  }
}

/* Makes everything at or below k unknown (a sorted list): the list may
 * lack an item there that it cannot be given. */
static void tlist_cut(model_t *m, tlist_t *l, const mkey_t *k) {
  size_t keep = tlist_lower(l, k);
  raise_floor(l, k);
  while (l->n > keep) {
    unhold(m, l->hold, l->items[--l->n]);
  }
}

/* The most a list holds before it is trimmed, and what a trim keeps:
 * outside a load and during one (model.c's bounds). */
static size_t list_max(const model_t *m, const tlist_t *l) {
  if (l->hold == HOLD_RING) {
    return m->loading ? 2 * m->ring_max - 1 : m->ring_max;
  }
  if (m->loading) {
    return l->hold == HOLD_REPOSTS ? SIZE_MAX
                                   : m->per_author + m->per_author / 4;
  }
  return 2 * m->per_author;
}

static size_t list_keep(const model_t *m, const tlist_t *l) {
  return l->hold == HOLD_RING ? m->ring_max : m->per_author;
}

/* Adds k to l (false when l refuses it: below its floor), and trims l
 * when it grew past its bound.  During a load: appended, sorted before a
 * trim. */
static bool list_add(model_t *m, tlist_t *l, mkey_t *k) {
  if (m->loading) {
    tlist_push(l, k);
  } else if (!tlist_insert(l, k)) {
    return false;
  }
  if (l->n > list_max(m, l)) {
    if (m->loading) {
      tlist_sort(l);
    }
    tlist_trim(m, l, list_keep(m, l));
  }
  assert(l->n <= list_max(m, l));
  return true;
}

static void tlist_init(tlist_t *l, hold_t hold) {
  memset(l, 0, sizeof *l);
  l->hold = hold;
}

/* ---- users and tags ---- */

static muser_t *user_get(model_t *m, const bson_oid_t *id, bool create) {
  muser_t *u = hashmap_get(&m->users, id);
  if (!u && create) {
    u = bson_malloc0(sizeof *u);
    bson_oid_copy(id, &u->id);
    tlist_init(&u->tweets, HOLD_AUTHOR);
    tlist_init(&u->reposts, HOLD_REPOSTS);
    hashmap_put(&m->users, u);
  }
  return u;
}

/* Names (and the avatar) read at an older version of the account than
 * the ones held lose (a rename's event published after a later rename's);
 * version 0 means unknown and only names a user no versioned source has
 * named. */
static void user_set_names(muser_t *u, const user_name_t *name,
                           int64_t version) {
  if (version < u->name_version) {
    return;
  }
  u->name_version = version;
  bson_strncpy(u->username, name->username, sizeof u->username);
  bson_strncpy(u->display_name, name->display_name, sizeof u->display_name);
  u->has_avatar = name->has_avatar;
  u->avatar = name->avatar;
  u->named = u->username[0] != '\0';
}

/* The key of a tag: zero-padded. */
static void tag_key(const char *tag, char key[TAG_SIZE]) {
  memset(key, 0, TAG_SIZE);
  bson_strncpy(key, tag, TAG_SIZE);
}

static mtag_t *tag_find(const model_t *m, const char *tag) {
  char key[TAG_SIZE];
  tag_key(tag, key);
  return hashmap_get(&m->tags, key);
}

static mtag_t *tag_get(model_t *m, const char *tag, bool create) {
  char key[TAG_SIZE];
  tag_key(tag, key);
  mtag_t *g = hashmap_get(&m->tags, key);
  if (!g && create) {
    g = bson_malloc0(sizeof *g);
    memcpy(g->key, key, sizeof key);
    tlist_init(&g->tweets, HOLD_TAG);
    hashmap_put(&m->tags, g);
  }
  return g;
}

/* Frees a tag that says nothing any more: no tweet held, none unknown,
 * no author in the window (its absence says the same). */
static void tag_tidy(model_t *m, mtag_t *g) {
  if (g->tweets.n || g->tweets.truncated || g->authors) {
    return;
  }
  hashmap_del(&m->tags, g->key);
  bson_free(g->tweets.items);
  bson_free(g);
}

static bool is_tombstoned(const model_t *m, const bson_oid_t *id) {
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

/* ---- the trends' window ---- */

/* Counts one more (delta 1) or one fewer (-1) window tweet of author
 * with tag g; a tag's authors change when a count leaves or reaches 0. */
static void use_add(model_t *m, mtag_t *g, const bson_oid_t *author,
                    int delta) {
  uint8_t key[sizeof(mtag_t *) + 12];
  memcpy(key, &g, sizeof g);
  memcpy(key + sizeof g, author->bytes, 12);
  muse_t *u = hashmap_get(&m->uses, key);
  if (!u) {
    assert(delta > 0);
    u = bson_malloc0(sizeof *u);
    memcpy(u->key, key, sizeof key);
    hashmap_put(&m->uses, u);
  }
  u->count += delta;
  assert(u->count >= 0);
  if (u->count == 1 && delta > 0) {
    g->authors++;
    m->trend_gen++;
  } else if (u->count == 0) {
    g->authors--;
    m->trend_gen++;
    hashmap_del(&m->uses, key);
    bson_free(u);
    tag_tidy(m, g);
  }
}

/* Sets a window tweet's tags to those of t (none: NULL). */
static void win_set_tags(model_t *m, mwin_t *e, const tweet_t *t) {
  mtag_t **now = NULL;
  size_t n = 0;
  if (t) {
    char(*tags)[TAG_SIZE] = bson_malloc(sizeof *tags * TWEET_ENTITIES_MAX);
    n = tweets_tags(t, tags);
    now = n ? bson_malloc(sizeof *now * n) : NULL;
    for (size_t i = 0; i < n; i++) {
      now[i] = tag_get(m, tags[i], true);
    }
    bson_free(tags);
  }
  /* Tags gained first: a tag kept never drops to 0 uses on the way. */
  for (size_t i = 0; i < n; i++) {
    bool had = false;
    for (size_t k = 0; k < e->n_tags && !had; k++) {
      had = e->tags[k] == now[i];
    }
    if (!had) {
      use_add(m, now[i], &e->author, 1);
    }
  }
  for (size_t k = 0; k < e->n_tags; k++) {
    bool keeps = false;
    for (size_t i = 0; i < n && !keeps; i++) {
      keeps = e->tags[k] == now[i];
    }
    if (!keeps) {
      use_add(m, e->tags[k], &e->author, -1);
    }
  }
  bson_free(e->tags);
  e->tags = now;
  e->n_tags = n;
}

/* Puts e into win_order at its place (appended during a load). */
static void win_order_add(model_t *m, mwin_t *e) {
  if (m->win_n == m->win_cap) {
    if (m->win_head > m->win_n / 2) { /* reuse the expired front */
      memmove(m->win_order, m->win_order + m->win_head,
              sizeof *m->win_order * (m->win_n - m->win_head));
      m->win_n -= m->win_head;
      m->win_head = 0;
    } else {
      m->win_cap = m->win_cap ? m->win_cap * 2 : 64;
      m->win_order =
          bson_realloc(m->win_order, sizeof *m->win_order * m->win_cap);
    }
  }
  size_t at = m->win_n;
  while (!m->loading && at > m->win_head &&
         m->win_order[at - 1]->created_at_ms > e->created_at_ms) {
    at--;
  }
  memmove(&m->win_order[at + 1], &m->win_order[at],
          sizeof *m->win_order * (m->win_n - at));
  m->win_order[at] = e;
  m->win_n++;
}

static int win_order_qsort(const void *a, const void *b) {
  int64_t x = (*(mwin_t *const *)a)->created_at_ms;
  int64_t y = (*(mwin_t *const *)b)->created_at_ms;
  return (x > y) - (x < y);
}

/* A state of a tweet: a window tweet takes it unless it is older than
 * the one it has. */
static void win_put(model_t *m, const tweet_t *t) {
  if (t->created_at_ms < m->win_cutoff) {
    return;
  }
  mwin_t *e = hashmap_get(&m->window, &t->id);
  if (e && t->version < e->version) {
    return;
  }
  if (!e) {
    e = bson_malloc0(sizeof *e);
    bson_oid_copy(&t->id, &e->id);
    bson_oid_copy(&t->author.id, &e->author);
    e->created_at_ms = t->created_at_ms;
    hashmap_put(&m->window, e);
    win_order_add(m, e);
  }
  e->version = t->version;
  win_set_tags(m, e, t);
}

static void win_delete(model_t *m, const bson_oid_t *id) {
  mwin_t *e = hashmap_del(&m->window, id);
  if (e) {
    win_set_tags(m, e, NULL);
    e->gone = true;
  }
}

static bool win_expired(const model_t *m, int64_t now) {
  return m->win_head < m->win_n &&
         m->win_order[m->win_head]->created_at_ms < now - TRENDS_WINDOW_MS;
}

/* Lets go of the tweets created before now - TRENDS_WINDOW_MS. */
static void win_expire(model_t *m, int64_t now) {
  int64_t cutoff = now - TRENDS_WINDOW_MS;
  while (win_expired(m, now)) {
    mwin_t *e = m->win_order[m->win_head++];
    if (!e->gone) {
      hashmap_del(&m->window, &e->id);
      win_set_tags(m, e, NULL);
    }
    bson_free(e);
  }
  if (cutoff > m->win_cutoff) {
    m->win_cutoff = cutoff;
  }
}

/* The trends from the tags' authors (write lock held). */
static void trends_compute(model_t *m) {
  m->cache_n = 0;
  const mtag_t *g;
  for (size_t at = 0; (g = hashmap_next(&m->tags, &at));) {
    if (g->authors > 0) {
      tags_trends_offer(m->cache, &m->cache_n, g->key, g->authors);
    }
  }
  m->cache_gen = m->trend_gen;
}

/* ---- life ---- */

model_t *model_new(const model_config_t *cfg) {
  model_t *m = bson_malloc0(sizeof *m);
  m->per_author =
      cfg && cfg->per_author ? cfg->per_author : MODEL_PER_AUTHOR_DEFAULT;
  m->ring_max = cfg && cfg->ring ? cfg->ring : MODEL_RING_DEFAULT;
  m->now_ms = cfg && cfg->now_ms ? cfg->now_ms : db_now_ms;
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
  hashmap_init(&m->tweets, offsetof(mtweet_t, key.id), sizeof(bson_oid_t));
  hashmap_init(&m->users, offsetof(muser_t, id), sizeof(bson_oid_t));
  hashmap_init(&m->reposts, offsetof(mrepost_t, key.id), sizeof(bson_oid_t));
  hashmap_init(&m->tags, offsetof(mtag_t, key), TAG_SIZE);
  hashmap_init(&m->window, offsetof(mwin_t, id), sizeof(bson_oid_t));
  hashmap_init(&m->uses, offsetof(muse_t, key), sizeof(mtag_t *) + 12);
  hashmap_init(&m->load_pins, offsetof(mpin_t, id), sizeof(bson_oid_t));
  hashmap_init(&m->tombs, offsetof(tomb_t, id), sizeof(bson_oid_t));
  hashmap_init(&m->sessions, offsetof(msession_t, key), 32);
  hashmap_init(&m->pairs, offsetof(mpair_t, key), 25);
  tlist_init(&m->ring, HOLD_RING);
  m->tomb_fifo = bson_malloc0(sizeof *m->tomb_fifo * TOMBSTONES_MAX);
  m->cache_gen = UINT64_MAX;
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

/* Frees every value of h with free_fn (NULL: bson_free) and empties h. */
static void free_all(hashmap_t *h, void (*free_fn)(void *)) {
  void *v;
  for (size_t at = 0; (v = hashmap_next(h, &at));) {
    (free_fn ? free_fn : bson_free)(v);
  }
  hashmap_clear(h);
}

static void free_record(void *v) {
  mtweet_t *t = v;
  bson_free(t->text);
  bson_free(t->entities);
  bson_free(t->tags);
  bson_free(t->reposts);
  media_list_free(t->media);
  bson_free(t);
}

static void free_user(void *v) {
  muser_t *u = v;
  bson_free(u->tweets.items);
  bson_free(u->reposts.items);
  bson_free(u->followees.ids);
  bson_free(u->likes.ids);
  bson_free(u->reposted.ids);
  bson_free(u);
}

static void free_tag(void *v) {
  mtag_t *g = v;
  bson_free(g->tweets.items);
  bson_free(g);
}

/* Empties tweets, users, reposts, tags, the window and tombstones (not
 * sessions): everything is freed at once, nothing is released. */
static void clear_world(model_t *m) {
  free_all(&m->tweets, free_record);
  free_all(&m->users, free_user);
  free_all(&m->reposts, NULL);
  free_all(&m->tags, free_tag);
  free_all(&m->uses, NULL);
  free_all(&m->load_pins, NULL);
  hashmap_clear(&m->window); /* its values are all in win_order */
  for (size_t i = m->win_head; i < m->win_n; i++) {
    bson_free(m->win_order[i]->tags);
    bson_free(m->win_order[i]);
  }
  bson_free(m->win_order);
  m->win_order = NULL;
  m->win_head = m->win_n = m->win_cap = 0;
  m->win_cutoff = 0;
  m->trend_gen++;
  bson_free(m->ring.items);
  tlist_init(&m->ring, HOLD_RING);
  free_all(&m->pairs, NULL);
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

/* The folded tags of t, back to back (NULL when none) and how many. */
static char *tags_blob(const tweet_t *t, size_t *n) {
  char(*tags)[TAG_SIZE] = bson_malloc(sizeof *tags * TWEET_ENTITIES_MAX);
  *n = tweets_tags(t, tags);
  size_t len = 0;
  for (size_t i = 0; i < *n; i++) {
    len += strlen(tags[i]) + 1;
  }
  char *blob = *n ? bson_malloc(len) : NULL;
  for (size_t i = 0, at = 0; i < *n; i++) {
    size_t l = strlen(tags[i]) + 1;
    memcpy(blob + at, tags[i], l);
    at += l;
  }
  bson_free(tags);
  return blob;
}

/* The fields of a record that change: text, entities, tags, counts,
 * version.  A record leaves the lists of the tags it no longer has (the
 * caller holds it: it may lose its last pin here). */
static void record_set_state(model_t *m, mtweet_t *r, const tweet_t *t) {
  size_t n_tags;
  char *tags = tags_blob(t, &n_tags);
  size_t i;
  for (const char *s = next_tag(r, NULL, &i); s; s = next_tag(r, s, &i)) {
    bool keeps = false;
    for (size_t k = 0, at = 0; k < n_tags && !keeps; k++) {
      keeps = !strcmp(tags + at, s);
      at += strlen(tags + at) + 1;
    }
    mtag_t *g = keeps ? NULL : tag_find(m, s);
    size_t x = g ? tlist_index(&g->tweets, &r->key, !m->loading) : 0;
    if (g && x < g->tweets.n) {
      tlist_remove_at(&g->tweets, x);
      unpin(m, r);
      tag_tidy(m, g);
    }
  }
  bson_free(r->tags);
  r->tags = tags;
  r->n_tags = n_tags;
  bson_free(r->text);
  r->text = bson_strdup(t->text);
  bson_free(r->entities);
  r->entities = NULL;
  r->n_entities = t->n_entities;
  if (t->n_entities) {
    r->entities = bson_malloc(sizeof *r->entities * t->n_entities);
    memcpy(r->entities, t->entities, sizeof *r->entities * t->n_entities);
  }
  if (!media_list_equal(r->media, t->media)) {
    media_list_free(r->media);
    r->media = media_list_copy(t->media);
  }
  r->edited_at_ms = t->edited_at_ms;
  r->reply_count = t->reply_count;
  r->like_count = t->like_count;
  r->repost_count = t->repost_count;
  r->quote_count = t->quote_count;
  r->edit_count = t->edit_count;
  r->version = t->version;
}

/* Puts r into every list it belongs in and is not in yet (one that is
 * truncated takes it only above its floor).  fresh: a new record, in no
 * list yet.  The caller holds r (a trim may drop it from every list). */
static void place(model_t *m, mtweet_t *r, bool fresh) {
  muser_t *u = user_get(m, &r->author, true);
  /* Each flag before list_add: its trim may drop r at once. */
  if (!r->in_author) {
    r->in_author = true;
    r->in_author = list_add(m, &u->tweets, &r->key) && r->in_author;
  }
  if (!r->in_ring) {
    r->in_ring = true;
    r->in_ring = list_add(m, &m->ring, &r->key) && r->in_ring;
  }
  size_t i;
  for (const char *s = next_tag(r, NULL, &i); s; s = next_tag(r, s, &i)) {
    mtag_t *g = tag_get(m, s, true);
    if (fresh || tlist_index(&g->tweets, &r->key, !m->loading) == g->tweets.n) {
      r->pins++; /* before list_add likewise */
      if (!list_add(m, &g->tweets, &r->key)) {
        r->pins--;
      }
    }
    tag_tidy(m, g);
  }
}

/* An update of a tweet the model holds no record of: it cannot make one
 * (an update may carry a state older than one applied before, of which
 * nothing was kept), so a tag list that would have to hold it can no
 * longer know its region: it is cut there. */
static void cut_for_unheld(model_t *m, const tweet_t *t) {
  char(*tags)[TAG_SIZE] = bson_malloc(sizeof *tags * TWEET_ENTITIES_MAX);
  size_t n = tweets_tags(t, tags);
  mkey_t k = {t->id, t->created_at_ms};
  for (size_t i = 0; i < n; i++) {
    mtag_t *g = tag_get(m, tags[i], true);
    if (!below_floor(&g->tweets, &k)) {
      tlist_cut(m, &g->tweets, &k);
    }
  }
  bson_free(tags);
}

/* Adds or updates a tweet as the database (or an event) says it is;
 * may_create: a record may be made for it.  With pin, the record is
 * returned with a pin the caller owns (NULL when there is none: deleted,
 * or not made); else NULL. */
static mtweet_t *put_tweet(model_t *m, const tweet_t *t, bool may_create,
                           bool pin) {
  if (is_tombstoned(m, &t->id)) {
    return NULL;
  }
  /* Names come from the users scan and from events, never from a stored
   * tweet (it has the username only): a user who registered during the
   * load is named by the queued event of their tweet. */
  if (!m->loading && t->author.username[0]) {
    muser_t *author = user_get(m, &t->author.id, true);
    if (!author->named) {
      user_set_names(author, &t->author, 0);
    }
  }
  win_put(m, t);
  mtweet_t *r = hashmap_get(&m->tweets, &t->id);
  bool fresh = !r;
  if (!r && !may_create) {
    cut_for_unheld(m, t);
    return NULL;
  }
  if (!r) {
    r = bson_malloc0(sizeof *r);
    r->key.id = t->id;
    r->key.ts = t->created_at_ms;
    bson_oid_copy(&t->author.id, &r->author);
    r->has_reply_to = t->has_reply_to;
    if (t->has_reply_to) {
      bson_oid_copy(&t->reply_to, &r->reply_to);
    }
    r->has_quote_of = t->has_quote_of;
    if (t->has_quote_of) {
      bson_oid_copy(&t->quote.id, &r->quote_of);
    }
    hashmap_put(&m->tweets, r);
    mpin_t *waiting = m->loading ? hashmap_del(&m->load_pins, &t->id) : NULL;
    if (waiting) {
      r->pins += waiting->count;
      bson_free(waiting);
    }
  }
  r->pins++;                               /* ours while it is placed */
  if (fresh || t->version >= r->version) { /* else an older state, late */
    record_set_state(m, r, t);
    place(m, r, fresh);
  }
  if (pin) {
    return r;
  }
  unpin(m, r); /* frees it when held by nothing: both regions unknown */
  return NULL;
}

static void delete_tweet(model_t *m, const bson_oid_t *id) {
  tombstone(m, id);
  win_delete(m, id);
  mtweet_t *r = hashmap_get(&m->tweets, id);
  if (!r) {
    return;
  }
  r->pins++;
  if (r->in_author) {
    muser_t *u = user_get(m, &r->author, false);
    assert(u); /* a record in an author's list has its author */
    tlist_remove_at(&u->tweets, tlist_index(&u->tweets, &r->key, true));
    r->in_author = false;
  }
  if (r->in_ring) {
    tlist_remove_at(&m->ring, tlist_index(&m->ring, &r->key, true));
    r->in_ring = false;
  }
  size_t i;
  for (const char *s = next_tag(r, NULL, &i); s; s = next_tag(r, s, &i)) {
    mtag_t *g = tag_find(m, s);
    size_t x = g ? tlist_index(&g->tweets, &r->key, true) : 0;
    if (g && x < g->tweets.n) {
      tlist_remove_at(&g->tweets, x);
      r->pins--;
      tag_tidy(m, g);
    }
  }
  /* Its reposts go with it (the deletion removed them: reposts.h). */
  while (r->n_reposts > 0) {
    mrepost_t *e = r->reposts[r->n_reposts - 1];
    muser_t *u = user_get(m, &e->user, false);
    assert(u);
    tlist_remove_at(&u->reposts, tlist_index(&u->reposts, &e->key, true));
    entry_drop(m, e);
  }
  unpin(m, r);
}

/* The state of one user's repost of one tweet, from an event or the
 * database: present (r->reposted, with its id and time; state: the
 * tweet, or NULL when unknown) or not. */
static void repost_set(model_t *m, const event_repost_t *r,
                       const tweet_t *state) {
  muser_t *u = user_get(m, &r->user, true);
  oidvec_set(&u->reposted, &r->tweet, r->reposted);
  mrepost_t *e = hashmap_get(&m->reposts, &r->id);
  if (e && (!r->reposted || e->key.ts != r->created_at_ms)) {
    tlist_remove_at(&u->reposts,
                    tlist_index(&u->reposts, &e->key, !m->loading));
    entry_drop(m, e);
    e = NULL;
  }
  if (!r->reposted) {
    return;
  }
  mtweet_t *t = state && bson_oid_equal(&state->id, &r->tweet)
                    ? put_tweet(m, state, true, true)
                    : NULL;
  if (!t && (t = hashmap_get(&m->tweets, &r->tweet))) {
    t->pins++;
  }
  if (e || !t) {
    mkey_t k = {r->id, r->created_at_ms};
    if (!e && !is_tombstoned(m, &r->tweet) && !below_floor(&u->reposts, &k)) {
      tlist_cut(m, &u->reposts, &k); /* a repost it cannot show */
    }
    if (t) {
      unpin(m, t);
    }
    return;
  }
  e = bson_malloc0(sizeof *e);
  e->key.id = r->id;
  e->key.ts = r->created_at_ms;
  e->user = r->user;
  e->tweet_id = r->tweet;
  hashmap_put(&m->reposts, e);
  entry_attach(e, t); /* it owns the pin put_tweet gave */
  if (!list_add(m, &u->reposts, &e->key)) {
    entry_drop(m, e); /* below the list's floor */
  }
  /* (Else held; or, the oldest of a list past its bound, trimmed and
   * dropped already.) */
}

/* ---- sessions (write lock held) ---- */

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

/* ---- pairs: follows, likes, reposts (write lock held) ---- */

static void pair_key(model_check_kind_t kind, const bson_oid_t *a,
                     const bson_oid_t *b, uint8_t key[25]) {
  key[0] = (uint8_t)kind;
  memcpy(key + 1, a->bytes, 12);
  memcpy(key + 13, b->bytes, 12);
}

/* A follow's or a like's state. */
static void set_pair(model_t *m, model_check_kind_t kind, const bson_oid_t *a,
                     const bson_oid_t *b, bool on) {
  assert(kind == MODEL_CHECK_FOLLOW || kind == MODEL_CHECK_LIKE);
  muser_t *u = user_get(m, a, true);
  oidvec_set(kind == MODEL_CHECK_FOLLOW ? &u->followees : &u->likes, b, on);
}

/* An event for a pair was applied: remember when, queue a check. */
static void note_pair(model_t *m, model_check_kind_t kind, const bson_oid_t *a,
                      const bson_oid_t *b) {
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
      put_tweet(m, t, type == EVENT_TWEET_CREATED, false);
    }
    tweet_release(t);
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
      set_pair(m, MODEL_CHECK_FOLLOW, &a, &b, flag);
      note_pair(m, MODEL_CHECK_FOLLOW, &a, &b);
    }
    break;
  case EVENT_LIKE:
    if (event_model_get_like(p, &a, &b, &flag)) {
      set_pair(m, MODEL_CHECK_LIKE, &a, &b, flag);
      note_pair(m, MODEL_CHECK_LIKE, &a, &b);
    }
    break;
  case EVENT_REPOST: {
    event_repost_t r;
    if (event_model_get_repost(p, &r)) {
      tweet_t *t = bson_malloc(sizeof *t);
      bool has_state = event_model_get_repost_state(p, t);
      repost_set(m, &r, has_state ? t : NULL);
      note_pair(m, MODEL_CHECK_REPOST, &r.user, &r.tweet);
      tweet_release(t);
      bson_free(t);
    }
    break;
  }
  case EVENT_USER_UPDATED: {
    user_name_t name;
    if (event_model_get_user(p, &name)) {
      user_set_names(user_get(m, &name.id, true), &name, name.version);
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
  int64_t now = m->now_ms();
  pthread_rwlock_wrlock(&m->lock);
  clear_world(m);
  clear_queue(m);
  m->ready = false;
  m->loading = true;
  m->win_cutoff = now - TRENDS_WINDOW_MS;
  pthread_rwlock_unlock(&m->lock);
}

void model_load_user(model_t *m, const user_name_t *user) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading) {
    user_set_names(user_get(m, &user->id, true), user, user->version);
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

void model_load_repost(model_t *m, const repost_t *r) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading && !hashmap_get(&m->reposts, &r->id)) {
    muser_t *u = user_get(m, &r->user, true);
    oidvec_push(&u->reposted, &r->tweet);
    mrepost_t *e = bson_malloc0(sizeof *e);
    e->key.id = r->id;
    e->key.ts = r->created_at_ms;
    e->user = r->user;
    e->tweet_id = r->tweet;
    mtweet_t *t = hashmap_get(&m->tweets, &r->tweet);
    if (t) {
      t->pins++;
      entry_attach(e, t);
    } else { /* its record, when it comes, starts with this pin */
      mpin_t *p = hashmap_get(&m->load_pins, &r->tweet);
      if (!p) {
        p = bson_malloc0(sizeof *p);
        p->id = r->tweet;
        hashmap_put(&m->load_pins, p);
      }
      p->count++;
    }
    hashmap_put(&m->reposts, e);
    tlist_push(&u->reposts, &e->key);
  }
  pthread_rwlock_unlock(&m->lock);
}

void model_load_tweet(model_t *m, const tweet_t *t) {
  pthread_rwlock_wrlock(&m->lock);
  if (m->loading) {
    put_tweet(m, t, true, false);
  }
  pthread_rwlock_unlock(&m->lock);
}

/* The end of a load for a user's reposts: each entry shows its tweet's
 * record (pinned since the record came), or goes when there is none (a
 * repost of a deleted tweet, which feeds skip). */
static void attach_reposts(model_t *m, muser_t *u) {
  size_t w = 0;
  for (size_t i = 0; i < u->reposts.n; i++) {
    mrepost_t *e = (mrepost_t *)u->reposts.items[i];
    if (!e->tweet) {
      mtweet_t *t = hashmap_get(&m->tweets, &e->tweet_id);
      if (!t) {
        hashmap_del(&m->reposts, &e->key.id);
        bson_free(e);
        continue;
      }
      entry_attach(e, t);
    }
    u->reposts.items[w++] = &e->key;
  }
  u->reposts.n = w;
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
    oidvec_sort(&u->reposted);
    attach_reposts(m, u);
  }
  free_all(&m->load_pins, NULL); /* of tweets that do not exist */
  /* Ready first (so trims keep the bounds outside a load, and events
   * insert in place), then sorted and trimmed, then the queued events. */
  m->loading = false;
  m->ready = true;
  for (size_t at = 0; (u = hashmap_next(&m->users, &at));) {
    tlist_sort(&u->tweets);
    tlist_trim(m, &u->tweets, m->per_author);
    tlist_sort(&u->reposts);
    tlist_trim(m, &u->reposts, m->per_author);
  }
  mtag_t *g;
  for (size_t at = 0; (g = hashmap_next(&m->tags, &at));) {
    tlist_sort(&g->tweets);
    tlist_trim(m, &g->tweets, m->per_author);
  }
  tlist_sort(&m->ring);
  tlist_trim(m, &m->ring, m->ring_max);
  if (m->win_n > m->win_head) {
    qsort(m->win_order + m->win_head, m->win_n - m->win_head,
          sizeof *m->win_order, win_order_qsort);
  }
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
 * comparing keys in the heap then touches only the heap, not records
 * scattered over the model (heap_down's pointer chasing was 16 % of
 * chorusd's samples in the feed benchmark, plus 8 % in memcmp).  The id
 * is held as two big-endian integers, so the key compares as integers in
 * key_order's order. */
typedef struct source {
  const tlist_t *list;
  size_t at;
  int64_t ts;
  uint64_t id_hi;
  uint32_t id_lo;
} source_t;

static void src_load(source_t *s) {
  const mkey_t *k = s->list->items[s->at];
  const uint8_t *b = k->id.bytes;
  s->ts = k->ts;
  s->id_hi = 0;
  for (int i = 0; i < 8; i++) {
    s->id_hi = s->id_hi << 8 | b[i];
  }
  s->id_lo = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 |
             (uint32_t)b[10] << 8 | b[11];
}

/* First index of l holding an item older than c (all when c is NULL). */
static size_t first_after(const tlist_t *l, const page_cursor_t *c) {
  if (!c) {
    return 0;
  }
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (key_vs_cursor(l->items[mid], c) <= 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* The merge's binary heap orders sources by their current item:
 * key_order(a's item, b's item) < 0, from the keys. */
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

static void copy_name(user_name_t *dst, const muser_t *u) {
  bson_oid_copy(&u->id, &dst->id);
  copy_str(dst->username, sizeof dst->username, u->username);
  copy_str(dst->display_name, sizeof dst->display_name, u->display_name);
  dst->version = 0;
  dst->has_avatar = u->has_avatar;
  dst->avatar = u->avatar;
}

/* A user who names something shown; NULL when unknown or unnamed. */
static const muser_t *named(const model_t *m, const bson_oid_t *id) {
  const muser_t *u = hashmap_get(&m->users, id);
  return u && u->named ? u : NULL;
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
  const muser_t *author = named(m, &quoted->author);
  if (!author) {
    return false;
  }
  q->available = true;
  copy_name(&q->author, author);
  copy_str(q->text, sizeof q->text, quoted->text);
  q->created_at_ms = quoted->key.ts;
  return true;
}

/* The author of the tweet r replies to, as the database's read shows it:
 * the parent held, or none when it was deleted; false when the model
 * knows neither. */
static bool copy_reply_to_user(const model_t *m, const mtweet_t *r,
                               tweet_t *t) {
  t->has_reply_to_user = false;
  if (!r->has_reply_to) {
    return true;
  }
  const mtweet_t *parent = hashmap_get(&m->tweets, &r->reply_to);
  if (!parent) {
    return is_tombstoned(m, &r->reply_to);
  }
  const muser_t *author = named(m, &parent->author);
  if (!author) {
    return false;
  }
  copy_name(&t->reply_to_user, author);
  t->has_reply_to_user = true;
  return true;
}

/* Sets every field of *t (no memset of the struct: keep this list
 * complete when tweet_t grows) from a record, shown as an item of list
 * item k (the record itself, or a repost entry of it); false when the
 * model cannot show it exactly (an author without a name, a quote of a
 * tweet it does not know).  t then holds a copy of the record's images
 * (tweet_release), or nothing when this returns false. */
static bool copy_out(const model_t *m, const mkey_t *k, bool is_repost,
                     const muser_t *viewer, tweet_t *t) {
  const mrepost_t *e = is_repost ? (const mrepost_t *)k : NULL;
  const mtweet_t *r = e ? e->tweet : (const mtweet_t *)k;
  const muser_t *author = named(m, &r->author);
  const muser_t *by = e ? named(m, &e->user) : NULL;
  t->media = NULL;
  if (!author || (e && !by)) {
    return false;
  }
  bson_oid_copy(&r->key.id, &t->id);
  copy_name(&t->author, author);
  copy_str(t->text, sizeof t->text, r->text);
  t->created_at_ms = r->key.ts;
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
  t->liked_by_me = viewer && oidvec_has(&viewer->likes, &r->key.id);
  t->repost_count = r->repost_count;
  t->quote_count = r->quote_count;
  t->edit_count = r->edit_count;
  t->reposted_by_me = viewer && oidvec_has(&viewer->reposted, &r->key.id);
  t->n_entities = r->n_entities;
  if (r->n_entities) {
    memcpy(t->entities, r->entities, sizeof *r->entities * r->n_entities);
  }
  t->is_repost = is_repost;
  if (e) {
    copy_name(&t->reposted_by, by);
    t->reposted_at_ms = e->key.ts;
    bson_oid_copy(&e->key.id, &t->repost_id);
  }
  t->has_quote_of = r->has_quote_of;
  if (!copy_reply_to_user(m, r, t) ||
      (r->has_quote_of && !copy_quote(m, r, &t->quote))) {
    return false;
  }
  t->media = media_list_copy(r->media);
  return true;
}

/* Whether user's items are in viewer's home feed: the viewer's own and
 * those of the accounts the viewer follows. */
static bool in_feed(const muser_t *viewer, const bson_oid_t *user) {
  return bson_oid_equal(&viewer->id, user) ||
         oidvec_has(&viewer->followees, user);
}

/* Whether viewer's home feed holds a newer item of the tweet that item k
 * shows (a record, or a repost entry when is_repost): the tweet itself,
 * or a repost by someone of the feed (tweets.h, TWEETS_BY_AUTHORS).  The
 * entries of the tweet's record are every repost of it held; one not
 * held is at or below its list's floor, so older than any item a page
 * may return (merge_page). */
static bool superseded(const muser_t *viewer, const mkey_t *k, bool is_repost) {
  const mrepost_t *e = is_repost ? (const mrepost_t *)k : NULL;
  const mtweet_t *r = e ? e->tweet : (const mtweet_t *)k;
  if (e && key_order(&r->key, k) < 0 && in_feed(viewer, &r->author)) {
    return true; /* a repost stamped before its tweet (two servers' clocks) */
  }
  for (size_t i = 0; i < r->n_reposts; i++) {
    const mrepost_t *o = r->reposts[i];
    if (o != e && key_order(&o->key, k) < 0 && in_feed(viewer, &o->user)) {
      return true;
    }
  }
  return false;
}

/* Merges lists[0..n) newest first into a page.  floor is the newest of
 * the floors of the truncated lists (NULL: none): everything strictly
 * newer is known, the rest is not, so every returned item must be newer.
 * A home feed (feed: viewer's) leaves out every item that is not its
 * tweet's newest (superseded), so each item it looks at, also the one
 * that would prove a next page, must be newer than floor.  False when the
 * page cannot be proved. */
static bool merge_page(const model_t *m, const tlist_t *const *lists, size_t n,
                       const page_cursor_t *floor, const page_cursor_t *before,
                       size_t limit, const muser_t *viewer, bool feed,
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
  const mkey_t *prev = NULL; /* the item before k: not older */
  while (h > 0) {
    const mkey_t *k = heap[0].list->items[heap[0].at];
    bool is_repost = heap[0].list->hold == HOLD_REPOSTS;
    assert(!prev || key_order(prev, k) <= 0); /* the heap's order */
    if (feed && floor && key_vs_cursor(k, floor) >= 0) {
      ok = false; /* whether it is shown is not known here */
      break;
    }
    if (!feed || !superseded(viewer, k, is_repost)) {
      if (got == limit) {
        more = true; /* a real item exists after the page */
        break;
      }
      if ((floor && key_vs_cursor(k, floor) >= 0) ||
          !copy_out(m, k, is_repost, viewer, &items[got++])) {
        ok = false; /* in the unknown region, or not to be shown from here */
        break;
      }
    }
    prev = k;
    if (++heap[0].at == heap[0].list->n) {
      heap[0] = heap[--h];
    } else {
      src_load(&heap[0]);
    }
    heap_down(heap, h, 0);
  }
  (void)prev;
  if (ok && !more && floor) {
    ok = false; /* ran out: older items may exist that are not held */
  }
  bson_free(heap);
  if (!ok) {
    for (size_t i = 0; i < got; i++) {
      tweet_release(&items[i]);
    }
    bson_free(items);
    return false;
  }
  page->items = items;
  page->n = got;
  page->has_next = more;
  if (more) {
    tweets_item_key(&items[got - 1], &page->next);
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

/* Adds l to lists[*n] when it holds something; its floor to *floor. */
static void add_list(const tlist_t *l, const tlist_t **lists, size_t *n,
                     const page_cursor_t **floor) {
  if (l->truncated) {
    *floor = newer(*floor, &l->floor);
  }
  if (l->n > 0) {
    lists[(*n)++] = l;
  }
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
    /* Each followee's tweets and reposts, and the viewer's. */
    lists = bson_malloc(sizeof *lists * 2 * (n_followees + 1));
    for (size_t i = 0; i <= n_followees; i++) {
      const muser_t *a =
          i < n_followees ? hashmap_get(&m->users, &me->followees.ids[i]) : me;
      if (a) { /* else unknown to the model: no tweets, no reposts */
        add_list(&a->tweets, lists, &n, &floor);
        add_list(&a->reposts, lists, &n, &floor);
      }
    }
  }
  ok =
      ok && merge_page(m, lists, n, floor, before, limit, me, me != NULL, page);
  bson_free(lists);
  pthread_rwlock_unlock(&m->lock);
  return finish_read(m, ok);
}

/* A page of one list as viewer sees it. */
static bool one_list(model_t *m, const bson_oid_t *viewer, const tlist_t *l,
                     const page_cursor_t *before, size_t limit,
                     tweet_page_t *page) {
  const muser_t *me = viewer ? hashmap_get(&m->users, viewer) : NULL;
  const tlist_t *lists[1];
  size_t n = 0;
  const page_cursor_t *floor = NULL;
  add_list(l, lists, &n, &floor);
  return merge_page(m, lists, n, floor, before, limit, me, false, page);
}

bool model_timeline(model_t *m, const bson_oid_t *viewer,
                    const page_cursor_t *before, size_t limit,
                    tweet_page_t *page) {
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX) {
    return false;
  }
  pthread_rwlock_rdlock(&m->lock);
  bool ok = m->ready && one_list(m, viewer, &m->ring, before, limit, page);
  pthread_rwlock_unlock(&m->lock);
  return finish_read(m, ok);
}

bool model_tag(model_t *m, const bson_oid_t *viewer, const char *tag,
               const page_cursor_t *before, size_t limit, tweet_page_t *page) {
  static const tlist_t none = {.hold = HOLD_TAG}; /* a tag not held */
  memset(page, 0, sizeof *page);
  if (limit < 1 || limit > TWEET_PAGE_MAX || strlen(tag) >= TAG_SIZE) {
    return false;
  }
  pthread_rwlock_rdlock(&m->lock);
  bool ok = m->ready;
  if (ok) {
    const mtag_t *g = tag_find(m, tag);
    ok = one_list(m, viewer, g ? &g->tweets : &none, before, limit, page);
  }
  pthread_rwlock_unlock(&m->lock);
  return finish_read(m, ok);
}

bool model_trends(model_t *m, trend_t top[TRENDS_MAX], size_t *n) {
  int64_t now = m->now_ms();
  *n = 0;
  pthread_rwlock_rdlock(&m->lock);
  bool ok = m->ready;
  bool cached = ok && m->cache_gen == m->trend_gen && !win_expired(m, now);
  if (cached) {
    memcpy(top, m->cache, sizeof *top * m->cache_n);
    *n = m->cache_n;
  }
  pthread_rwlock_unlock(&m->lock);
  if (ok && !cached) { /* the window moved, or a count changed */
    pthread_rwlock_wrlock(&m->lock);
    ok = m->ready;
    if (ok) {
      win_expire(m, now);
      if (m->cache_gen != m->trend_gen) {
        trends_compute(m);
      }
      memcpy(top, m->cache, sizeof *top * m->cache_n);
      *n = m->cache_n;
    }
    pthread_rwlock_unlock(&m->lock);
  }
  return ok;
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

static const char *list_name(hold_t hold) {
  switch (hold) {
  case HOLD_AUTHOR:
    return "an author's list";
  case HOLD_RING:
    return "the ring";
  case HOLD_TAG:
    return "a tag's list";
  case HOLD_REPOSTS:
    return "a user's reposts";
  }
  return "a list of no kind";
}

/* One item of a list: held as its kind of list says (owner: the user of
 * an author's list or of reposts; tag: of a tag's list). */
static bool check_item(const model_t *m, const tlist_t *l, const mkey_t *k,
                       const muser_t *owner, const char *tag) {
  const char *where = list_name(l->hold);
  if (l->hold == HOLD_REPOSTS) {
    const mrepost_t *e = (const mrepost_t *)k;
    if (hashmap_get(&m->reposts, &k->id) != e ||
        !bson_oid_equal(&e->user, &owner->id)) {
      return broken(where, "holds an entry not in the table", &k->id);
    }
    if (!m->loading && !oidvec_has(&owner->reposted, &e->tweet_id)) {
      return broken(where, "its user's reposted tweets lack one", &k->id);
    }
    if (is_tombstoned(m, &e->tweet_id)) {
      return broken(where, "shows a deleted tweet", &k->id);
    }
    if (m->loading && !e->tweet) {
      return true; /* waiting for its record */
    }
    const mtweet_t *t = e->tweet;
    bool listed = false;
    for (size_t i = 0; t && i < t->n_reposts; i++) {
      listed = listed || t->reposts[i] == e;
    }
    if (!t || hashmap_get(&m->tweets, &e->tweet_id) != t || !listed) {
      return broken(where, "an entry without its record", &k->id);
    }
    return true;
  }
  const mtweet_t *t = (const mtweet_t *)k;
  bool flagged = l->hold == HOLD_AUTHOR ? t->in_author
                 : l->hold == HOLD_RING ? t->in_ring
                                        : t->pins > 0;
  if (hashmap_get(&m->tweets, &k->id) != t || !flagged) {
    return broken(where, "holds a record not flagged as in it", &k->id);
  }
  if (l->hold == HOLD_AUTHOR && !bson_oid_equal(&t->author, &owner->id)) {
    return broken(where, "holds another author's tweet", &k->id);
  }
  if (l->hold == HOLD_TAG && !has_tag(t, tag)) {
    return broken(where, "holds a tweet without its tag", &k->id);
  }
  return true;
}

/* A list: within its bound, each item held as its kind says; outside a
 * load also newest first and all newer than the floor. */
static bool check_tlist(const model_t *m, const tlist_t *l,
                        const muser_t *owner, const char *tag) {
  const char *where = list_name(l->hold);
  if (l->n > list_max(m, l)) {
    return broken(where, "too long", owner ? &owner->id : NULL);
  }
  for (size_t i = 0; i < l->n; i++) {
    const mkey_t *k = l->items[i];
    if (!check_item(m, l, k, owner, tag)) {
      return false;
    }
    if (m->loading) {
      continue; /* unsorted until model_load_end */
    }
    if (i > 0 && key_order(l->items[i - 1], k) >= 0) {
      return broken(where, "not newest first", &k->id);
    }
    if (below_floor(l, k)) {
      return broken(where, "holds an item at or below its floor", &k->id);
    }
  }
  return true;
}

static bool check_users(const model_t *m, size_t *in_authors, size_t *entries) {
  const muser_t *u;
  for (size_t at = 0; (u = hashmap_next(&m->users, &at));) {
    if (u->tweets.hold != HOLD_AUTHOR || u->reposts.hold != HOLD_REPOSTS) {
      return broken("a user", "a list of the wrong kind", &u->id);
    }
    if (!check_tlist(m, &u->tweets, u, NULL) ||
        !check_tlist(m, &u->reposts, u, NULL) ||
        (!m->loading &&
         (!check_oidvec(&u->followees, "a user's followees", &u->id) ||
          !check_oidvec(&u->likes, "a user's likes", &u->id) ||
          !check_oidvec(&u->reposted, "a user's reposted tweets", &u->id)))) {
      return false;
    }
    if (u->named != (u->username[0] != '\0')) {
      return broken("a user", "named flag disagrees with the name", &u->id);
    }
    *in_authors += u->tweets.n;
    *entries += u->reposts.n;
  }
  return true;
}

/* Tags: each list checked; none that says nothing; the uses counted. */
static bool check_tags(const model_t *m, int64_t *authors) {
  const mtag_t *g;
  for (size_t at = 0; (g = hashmap_next(&m->tags, &at));) {
    if (g->tweets.hold != HOLD_TAG ||
        !check_tlist(m, &g->tweets, NULL, g->key)) {
      return broken("a tag", "its list is broken", NULL);
    }
    if (!g->tweets.n && !g->tweets.truncated && !g->authors) {
      return broken("a tag", "held though it says nothing", NULL);
    }
    if (g->authors < 0) {
      return broken("a tag", "fewer than no authors", NULL);
    }
    *authors += g->authors;
  }
  return true;
}

/* A record outside a load: in every list it belongs in unless below
 * its floor; pinned exactly by its tag lists and entries. */
static bool check_record_lists(const model_t *m, const mtweet_t *t,
                               const muser_t *author) {
  if (!t->in_ring && !below_floor(&m->ring, &t->key)) {
    return broken("the ring", "lacks a tweet newer than its floor", &t->key.id);
  }
  if (!t->in_author && !below_floor(&author->tweets, &t->key)) {
    return broken("an author's list", "lacks a tweet newer than its floor",
                  &t->key.id);
  }
  uint32_t pins = (uint32_t)t->n_reposts;
  size_t i;
  for (const char *s = next_tag(t, NULL, &i); s; s = next_tag(t, s, &i)) {
    const mtag_t *g = tag_find(m, s);
    bool in = g && tlist_index(&g->tweets, &t->key, true) < g->tweets.n;
    if (!in && !(g && below_floor(&g->tweets, &t->key))) {
      return broken("a tag's list", "lacks a tweet newer than its floor",
                    &t->key.id);
    }
    pins += in;
  }
  for (size_t k = 0; k < t->n_reposts; k++) {
    if (hashmap_get(&m->reposts, &t->reposts[k]->key.id) != t->reposts[k] ||
        t->reposts[k]->tweet != t) {
      return broken("a tweet record", "lists an entry not showing it",
                    &t->key.id);
    }
  }
  if (pins != t->pins) {
    return broken("a tweet record", "pins disagree with what holds it",
                  &t->key.id);
  }
  return true;
}

/* Records: each held by something, none deleted, its author known;
 * outside a load, in every list it belongs in and pinned exactly. */
static bool check_records(const model_t *m, size_t in_authors) {
  size_t flagged_author = 0, flagged_ring = 0;
  const mtweet_t *t;
  for (size_t at = 0; (t = hashmap_next(&m->tweets, &at));) {
    if (!t->in_author && !t->in_ring && !t->pins) {
      return broken("a tweet record", "held by nothing", &t->key.id);
    }
    if (hashmap_get(&m->tombs, &t->key.id)) {
      return broken("a tweet record", "deleted, yet held", &t->key.id);
    }
    flagged_author += t->in_author;
    flagged_ring += t->in_ring;
    const muser_t *author = hashmap_get(&m->users, &t->author);
    if (!author) {
      return broken("a tweet record", "its author is unknown", &t->key.id);
    }
    if (!m->loading && !check_record_lists(m, t, author)) {
      return false;
    }
  }
  if (flagged_author != in_authors || flagged_ring != m->ring.n) {
    return broken("tweet records", "flags disagree with the lists", NULL);
  }
  return true;
}

/* The window: its table and its order agree, each tweet's uses are
 * counted, and the tags' authors are the uses. */
static bool check_window(const model_t *m, int64_t tag_authors) {
  size_t alive = 0;
  int64_t tag_uses = 0;
  for (size_t i = m->win_head; i < m->win_n; i++) {
    const mwin_t *e = m->win_order[i];
    if (!m->loading && i > m->win_head &&
        m->win_order[i - 1]->created_at_ms > e->created_at_ms) {
      return broken("the window", "not in created_at order", &e->id);
    }
    if (e->gone) {
      continue;
    }
    alive++;
    if (hashmap_get(&m->window, &e->id) != e ||
        e->created_at_ms < m->win_cutoff) {
      return broken("the window", "a tweet not in its table", &e->id);
    }
    for (size_t k = 0; k < e->n_tags; k++) {
      uint8_t key[sizeof(mtag_t *) + 12];
      memcpy(key, &e->tags[k], sizeof e->tags[k]);
      memcpy(key + sizeof e->tags[k], e->author.bytes, 12);
      const muse_t *u = hashmap_get(&m->uses, key);
      if (!u || u->count < 1 ||
          hashmap_get(&m->tags, e->tags[k]->key) != e->tags[k]) {
        return broken("the window", "a tag of a tweet not counted", &e->id);
      }
    }
    tag_uses += (int64_t)e->n_tags;
  }
  if (alive != hashmap_count(&m->window)) {
    return broken("the window", "its table and its order disagree", NULL);
  }
  int64_t counted = 0;
  const muse_t *u;
  for (size_t at = 0; (u = hashmap_next(&m->uses, &at));) {
    if (u->count < 1) {
      return broken("the window", "a use of no tweet", NULL);
    }
    counted += u->count;
  }
  if (counted != tag_uses || (int64_t)hashmap_count(&m->uses) != tag_authors) {
    return broken("the window", "uses disagree with its tweets' tags", NULL);
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
      (hashmap_count(&m->tweets) || hashmap_count(&m->users) ||
       hashmap_count(&m->reposts) || hashmap_count(&m->tags))) {
    return broken("state", "tweets or users held while not loaded", NULL);
  }
  const hashmap_t *maps[] = {
      &m->tweets, &m->users, &m->reposts,  &m->tags,  &m->window,
      &m->uses,   &m->tombs, &m->sessions, &m->pairs, &m->load_pins};
  for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
    if (!hashmap_check(maps[i])) {
      return broken("a hash table", "inconsistent", NULL);
    }
  }
  if (hashmap_count(&m->sessions) > MODEL_SESSIONS_MAX) {
    return broken("sessions", "more than MODEL_SESSIONS_MAX cached", NULL);
  }
  if (!m->loading && hashmap_count(&m->load_pins)) {
    return broken("state", "pins waiting outside a load", NULL);
  }

  size_t in_authors = 0, entries = 0;
  int64_t tag_authors = 0;
  if (m->ring.hold != HOLD_RING || !check_tlist(m, &m->ring, NULL, NULL) ||
      !check_users(m, &in_authors, &entries) || !check_tags(m, &tag_authors) ||
      !check_records(m, in_authors) || !check_window(m, tag_authors)) {
    return false;
  }
  if (entries != hashmap_count(&m->reposts)) {
    return broken("reposts", "entries held by no list", NULL);
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
        m->checks[i].kind != MODEL_CHECK_LIKE &&
        m->checks[i].kind != MODEL_CHECK_REPOST) {
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

/* ---- settling follows, likes and reposts ---- */

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

/* Whether a settlement of check may apply: ready, and no event for its
 * pair was applied after the check was taken. */
static bool may_settle(model_t *m, const model_check_t *check) {
  uint8_t key[25];
  pair_key(check->kind, &check->a, &check->b, key);
  const mpair_t *p = m->ready ? hashmap_get(&m->pairs, key) : NULL;
  return p && p->last <= check->ticket;
}

void model_settle_check(model_t *m, const model_check_t *check, bool present) {
  pthread_rwlock_wrlock(&m->lock);
  if (check->kind != MODEL_CHECK_REPOST && may_settle(m, check)) {
    set_pair(m, check->kind, &check->a, &check->b, present);
  }
  pthread_rwlock_unlock(&m->lock);
}

void model_settle_repost(model_t *m, const model_check_t *check,
                         const repost_t *r, const tweet_t *t) {
  event_repost_t state = {.user = check->a, .tweet = check->b};
  if (r && t) {
    state.id = r->id;
    state.reposted = true;
    state.created_at_ms = r->created_at_ms;
  } else {
    reposts_id(&check->a, &check->b, &state.id);
  }
  pthread_rwlock_wrlock(&m->lock);
  if (check->kind == MODEL_CHECK_REPOST && may_settle(m, check)) {
    repost_set(m, &state, r && t ? t : NULL);
  }
  pthread_rwlock_unlock(&m->lock);
}
