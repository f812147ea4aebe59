/*
 * escrow.c - see escrow.h.
 *
 * Entries are an array of {id: <txn id>, inc: {<field>: delta}}, the
 * transaction's id a value and not a key: FerretDB 1.24 skips a $set of
 * an embedded document whose field values equal the old ones in order,
 * whatever their names (types.Identical compares values only), so
 * {esc: {A: {n: 1}}} set over {esc: {B: {n: 1}}} would leave B's entry
 * in place (measured; docs/SYNC.md §1).
 *
 * Invariants of the documents written here (checked with assert()):
 *   1. a lock field holds an exclusive stage or entries, never both;
 *   2. every entry's id is a transaction id (TXN_ID_LEN characters), at
 *      most one entry per id, and its inc a document of numeric deltas;
 *   3. a document with no entry left carries no lock field;
 *   4. _fd is an array of distinct transaction ids.
 */
#include "sync/txn/escrow.h"

#include <assert.h>
#include <string.h>

#include "sync/base/bsonx.h"
#include "sync/txn/lock_field.h"

/* At most this many distinct fields are incremented on one document (the
 * busiest, a user, has three counters). */
#define SUMS_MAX 16

typedef struct sums {
  const char *key[SUMS_MAX];
  int64_t delta[SUMS_MAX];
  size_t n;
  size_t entries; /* committed entries added up */
} sums_t;

static void sums_add(sums_t *s, const char *key, int64_t delta) {
  for (size_t i = 0; i < s->n; i++) {
    if (!strcmp(s->key[i], key)) {
      s->delta[i] += delta;
      return;
    }
  }
  assert(s->n < SUMS_MAX);
  if (s->n < SUMS_MAX) {
    s->key[s->n] = key;
    s->delta[s->n++] = delta;
  }
}

static bool sums_find(const sums_t *s, const char *key, int64_t *delta) {
  for (size_t i = 0; i < s->n; i++) {
    if (!strcmp(s->key[i], key)) {
      *delta = s->delta[i];
      return true;
    }
  }
  return false;
}

/* The entries document of doc's lock, into *esc (static, borrowing doc);
 * false when doc has none. */
static bool entries_of(const bson_t *doc, bson_t *esc) {
  bson_iter_t it, lock;
  if (!doc || !bson_iter_init_find(&it, doc, TXN_LOCK_FIELD) ||
      !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &lock)) {
    return false;
  }
  bool has_id = false, has_esc = false;
  while (bson_iter_next(&lock)) {
    const char *k = bson_iter_key(&lock);
    if (!strcmp(k, "id")) {
      has_id = true;
    } else if (!strcmp(k, ESCROW_FIELD) && BSON_ITER_HOLDS_ARRAY(&lock)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_array(&lock, &len, &data);
      has_esc = bson_init_static(esc, data, len);
    }
  }
  assert(!(has_id && has_esc)); /* 1 */
  return has_esc && !has_id;
}

/* The id (into id) and the deltas (into *inc, static) of the entry at
 * `entry` (an element of the entries array); false when malformed. */
static bool entry_read(const bson_iter_t *entry, char id[TXN_ID_LEN + 1],
                       bson_t *inc) {
  bson_iter_t e;
  bool has_id = false, has_inc = false;
  id[0] = '\0';
  if (!BSON_ITER_HOLDS_DOCUMENT(entry) || !bson_iter_recurse(entry, &e)) {
    return false;
  }
  while (bson_iter_next(&e)) {
    if (!strcmp(bson_iter_key(&e), "id") && BSON_ITER_HOLDS_UTF8(&e)) {
      bsonx_copy_utf8(&e, id, TXN_ID_LEN + 1);
      has_id = true;
    } else if (!strcmp(bson_iter_key(&e), "inc") &&
               BSON_ITER_HOLDS_DOCUMENT(&e)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&e, &len, &data);
      has_inc = bson_init_static(inc, data, len);
    }
  }
  return has_id && has_inc;
}

/* Appends the entry {id, inc} to the array kept as its element *n. */
static void entry_append(bson_t *array, size_t *n, const char *id,
                         const bson_t *inc) {
  char key[16];
  const char *k;
  bson_uint32_to_string((uint32_t)*n, &k, key, sizeof key);
  bson_t entry;
  BSON_APPEND_DOCUMENT_BEGIN(array, k, &entry);
  BSON_APPEND_UTF8(&entry, "id", id);
  BSON_APPEND_DOCUMENT(&entry, "inc", inc);
  bson_append_document_end(array, &entry);
  (*n)++;
}

size_t escrow_count(const bson_t *doc) {
  bson_t esc;
  return entries_of(doc, &esc) ? bson_count_keys(&esc) : 0;
}

bool escrow_has(const bson_t *doc, const char *txn_id) {
  bson_t esc, inc;
  bson_iter_t it;
  char id[TXN_ID_LEN + 1];
  if (!entries_of(doc, &esc) || !bson_iter_init(&it, &esc)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    if (entry_read(&it, id, &inc) && !strcmp(id, txn_id)) {
      return true;
    }
  }
  return false;
}

bool escrow_entry_id(const bson_t *doc, size_t i, char id[TXN_ID_LEN + 1]) {
  bson_t esc, inc;
  bson_iter_t it;
  if (!entries_of(doc, &esc) || !bson_iter_init(&it, &esc)) {
    return false;
  }
  for (size_t k = 0; bson_iter_next(&it); k++) {
    if (k == i) {
      return entry_read(&it, id, &inc);
    }
  }
  return false;
}

/* Adds the deltas of every committed entry of esc to s; copies every
 * undecided one into kept (when not NULL, as its elements *n_kept on);
 * counts the aborted ones. */
static void sort_entries(const bson_t *esc, escrow_fate_fn fate, void *ctx,
                         sums_t *s, bson_t *kept, size_t *n_kept,
                         size_t *dropped) {
  bson_iter_t it, d;
  if (!bson_iter_init(&it, esc)) {
    return;
  }
  while (bson_iter_next(&it)) {
    char id[TXN_ID_LEN + 1];
    bson_t inc;
    if (!entry_read(&it, id, &inc)) {
      assert(false); /* 2 */
      continue;
    }
    assert(strlen(id) == TXN_ID_LEN); /* 2 */
    escrow_fate_t f = fate(ctx, id);
    if (f == ESCROW_COMMITTED) {
      if (bson_iter_init(&d, &inc)) {
        while (bson_iter_next(&d)) {
          sums_add(s, bson_iter_key(&d), bsonx_as_int64(&d));
        }
      }
      s->entries++;
    } else if (f == ESCROW_ABORTED) {
      (*dropped)++;
    } else if (kept) {
      entry_append(kept, n_kept, id, &inc);
    } else {
      (*n_kept)++;
    }
  }
}

/* doc's fields with s folded in (version + s->entries), without the lock
 * field, into out; also into set (when not NULL) the fields that changed.
 * xv: whether to keep/write _xv (a write) or leave it out (a view). */
static void fold_fields(const bson_t *doc, const sums_t *s, bool xv,
                        bson_t *out, bson_t *set) {
  bson_iter_t it;
  int64_t version = 0, delta;
  bool has_version = false, has_xv = false;
  if (bson_iter_init_find(&it, doc, "version")) {
    version = bsonx_as_int64(&it);
    has_version = true;
  }
  has_xv = bson_iter_init_find(&it, doc, ESCROW_XV);
  bson_iter_init(&it, doc);
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (!strcmp(key, TXN_LOCK_FIELD) ||
        (!xv && (!strcmp(key, ESCROW_XV) || !strcmp(key, TXN_CREATOR_FIELD) ||
                 !strcmp(key, ESCROW_FOLDED)))) {
      continue; /* a view shows no sync-private field */
    }
    if (s->entries && !strcmp(key, "version")) {
      bson_append_int64(out, key, -1, version + (int64_t)s->entries);
      if (set) {
        bson_append_int64(set, key, -1, version + (int64_t)s->entries);
      }
    } else if (s->entries && sums_find(s, key, &delta)) {
      bson_append_int64(out, key, -1, bsonx_as_int64(&it) + delta);
      if (set) {
        bson_append_int64(set, key, -1, bsonx_as_int64(&it) + delta);
      }
    } else {
      bson_append_value(out, key, -1, bson_iter_value(&it));
    }
  }
  if (!s->entries) {
    return;
  }
  /* Counters and version the document did not have yet (as $inc). */
  for (size_t i = 0; i < s->n; i++) {
    if (!bson_iter_init_find(&it, doc, s->key[i])) {
      bson_append_int64(out, s->key[i], -1, s->delta[i]);
      if (set) {
        bson_append_int64(set, s->key[i], -1, s->delta[i]);
      }
    }
  }
  if (!has_version) {
    BSON_APPEND_INT64(out, "version", (int64_t)s->entries);
    if (set) {
      BSON_APPEND_INT64(set, "version", (int64_t)s->entries);
    }
  }
  if (xv && !has_xv) {
    BSON_APPEND_INT64(out, ESCROW_XV, version); /* before the first fold */
    if (set) {
      BSON_APPEND_INT64(set, ESCROW_XV, version);
    }
  }
}

/* {$unset: {_txn: ""}} into update: the last entry is gone (3). */
static void append_unset_lock(bson_t *update) {
  bson_t unset;
  BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &unset);
  BSON_APPEND_UTF8(&unset, TXN_LOCK_FIELD, "");
  bson_append_document_end(update, &unset);
}

/* Whether adds[0..n) names txn_id. */
static bool added_before(const escrow_add_t *adds, size_t n,
                         const char *txn_id) {
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(adds[i].id, txn_id)) {
      return true;
    }
  }
  return false;
}

void escrow_rewrite(const bson_t *doc, escrow_fate_fn fate, void *ctx,
                    const escrow_add_t *adds, size_t n_adds, bson_t *out,
                    bson_t *update, escrow_result_t *res) {
  memset(res, 0, sizeof *res);
  bson_init(out);
  bson_init(update);
  bson_t esc, empty = BSON_INITIALIZER;
  bson_iter_t it;
  bool had_lock = bson_iter_init_find(&it, doc, TXN_LOCK_FIELD);
  if (had_lock && !entries_of(doc, &esc)) {
    /* An exclusive stage: nothing here may change it. */
    assert(n_adds == 0);
    bson_copy_to(doc, out);
    bson_destroy(&empty);
    return;
  }
  if (!had_lock) {
    esc = empty;
  }
  sums_t s;
  memset(&s, 0, sizeof s);
  bson_t kept = BSON_INITIALIZER;
  sort_entries(&esc, fate, ctx, &s, &kept, &res->kept, &res->dropped);
  bool add = false;
  for (size_t i = 0; i < n_adds; i++) {
    if (!escrow_has(doc, adds[i].id) && !added_before(adds, i, adds[i].id)) {
      entry_append(&kept, &res->kept, adds[i].id, adds[i].inc);
      add = true;
    }
  }
  res->folded = s.entries;
  res->changed = add || res->folded || res->dropped;
  bson_t set = BSON_INITIALIZER;
  fold_fields(doc, &s, true, out, &set);
  if (res->kept) {
    bson_t lock;
    BSON_APPEND_DOCUMENT_BEGIN(out, TXN_LOCK_FIELD, &lock);
    BSON_APPEND_ARRAY(&lock, ESCROW_FIELD, &kept);
    bson_append_document_end(out, &lock);
    if (res->changed) {
      BSON_APPEND_DOCUMENT_BEGIN(&set, TXN_LOCK_FIELD, &lock);
      BSON_APPEND_ARRAY(&lock, ESCROW_FIELD, &kept);
      bson_append_document_end(&set, &lock);
    }
  }
  if (res->changed) {
    if (!bson_empty(&set)) {
      BSON_APPEND_DOCUMENT(update, "$set", &set);
    }
    if (!res->kept && had_lock) {
      append_unset_lock(update);
    }
  }
  assert(res->kept || !bson_iter_init_find(&it, out, TXN_LOCK_FIELD)); /* 3 */
  bson_destroy(&set);
  bson_destroy(&kept);
  bson_destroy(&empty);
}

void escrow_view(const bson_t *doc, escrow_fate_fn fate, void *ctx,
                 bson_t *out) {
  bson_init(out);
  bson_t esc;
  sums_t s;
  memset(&s, 0, sizeof s);
  size_t kept = 0, dropped = 0;
  if (entries_of(doc, &esc)) {
    sort_entries(&esc, fate, ctx, &s, NULL, &kept, &dropped);
  }
  fold_fields(doc, &s, false, out, NULL);
}

bool escrow_version_current(const bson_t *doc, int64_t expected) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "version")) {
    return false;
  }
  int64_t version = bsonx_as_int64(&it);
  int64_t xv =
      bson_iter_init_find(&it, doc, ESCROW_XV) ? bsonx_as_int64(&it) : version;
  return xv <= expected && expected <= version;
}

/* The _fd array of doc, into *fd (static, borrowing doc); false when
 * absent. */
static bool folded_of(const bson_t *doc, bson_t *fd) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, ESCROW_FOLDED) ||
      !BSON_ITER_HOLDS_ARRAY(&it)) {
    return false;
  }
  uint32_t len;
  const uint8_t *data;
  bson_iter_array(&it, &len, &data);
  return bson_init_static(fd, data, len);
}

bool escrow_deferred_folded(const bson_t *doc, const char *txn_id) {
  bson_t fd;
  bson_iter_t it;
  if (!folded_of(doc, &fd) || !bson_iter_init(&it, &fd)) {
    return false;
  }
  while (bson_iter_next(&it)) {
    if (BSON_ITER_HOLDS_UTF8(&it) &&
        !strcmp(bson_iter_utf8(&it, NULL), txn_id)) {
      return true;
    }
  }
  return false;
}

void escrow_fold_deferred(const bson_t *doc, escrow_fate_fn fate, void *ctx,
                          const escrow_add_t *adds, size_t n_adds,
                          escrow_live_fn live, void *live_ctx, bson_t *update,
                          escrow_result_t *res) {
  memset(res, 0, sizeof *res);
  bson_init(update);
  bson_t esc, empty = BSON_INITIALIZER;
  bson_iter_t it;
  bool had_lock = bson_iter_init_find(&it, doc, TXN_LOCK_FIELD);
  bool has_entries = had_lock && entries_of(doc, &esc);
  assert(!had_lock || has_entries); /* no exclusive stage: the caller's */
  if (!has_entries) {
    esc = empty;
  }
  sums_t s;
  memset(&s, 0, sizeof s);
  bson_t kept = BSON_INITIALIZER, fd = BSON_INITIALIZER, old;
  sort_entries(&esc, fate, ctx, &s, &kept, &res->kept, &res->dropped);
  res->folded = s.entries;
  size_t n_fd = 0;
  if (folded_of(doc, &old) && bson_iter_init(&it, &old)) {
    while (bson_iter_next(&it)) {
      assert(BSON_ITER_HOLDS_UTF8(&it)); /* 4 */
      if (BSON_ITER_HOLDS_UTF8(&it) &&
          live(live_ctx, bson_iter_utf8(&it, NULL))) {
        bsonx_array_append_utf8(&fd, (uint32_t)n_fd++,
                                bson_iter_utf8(&it, NULL));
      }
    }
  }
  for (size_t i = 0; i < n_adds; i++) {
    if (escrow_deferred_folded(doc, adds[i].id) ||
        added_before(adds, i, adds[i].id)) {
      continue;
    }
    assert(strlen(adds[i].id) == TXN_ID_LEN); /* 4 */
    bson_iter_t d;
    if (bson_iter_init(&d, adds[i].inc)) {
      while (bson_iter_next(&d)) {
        sums_add(&s, bson_iter_key(&d), bsonx_as_int64(&d));
      }
    }
    s.entries++;
    bsonx_array_append_utf8(&fd, (uint32_t)n_fd++, adds[i].id);
    res->deferred++;
  }
  res->changed = res->deferred || res->folded || res->dropped;
  if (res->changed) {
    bson_t out = BSON_INITIALIZER, set = BSON_INITIALIZER, lock;
    fold_fields(doc, &s, true, &out, &set);
    BSON_APPEND_ARRAY(&set, ESCROW_FOLDED, &fd);
    if (res->kept) {
      BSON_APPEND_DOCUMENT_BEGIN(&set, TXN_LOCK_FIELD, &lock);
      BSON_APPEND_ARRAY(&lock, ESCROW_FIELD, &kept);
      bson_append_document_end(&set, &lock);
    }
    BSON_APPEND_DOCUMENT(update, "$set", &set);
    if (!res->kept && had_lock) {
      append_unset_lock(update);
    }
    bson_destroy(&set);
    bson_destroy(&out);
  }
  bson_destroy(&fd);
  bson_destroy(&kept);
  bson_destroy(&empty);
}

void escrow_add_increments(const bson_t *doc, const bson_t *inc, bson_t *out) {
  bson_init(out);
  bson_iter_t it, d;
  if (bson_iter_init(&it, doc)) {
    while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      if (strcmp(key, "version") != 0 && bson_iter_init_find(&d, inc, key)) {
        bson_append_int64(out, key, -1,
                          bsonx_as_int64(&it) + bsonx_as_int64(&d));
      } else {
        bson_append_value(out, key, -1, bson_iter_value(&it));
      }
    }
  }
  if (bson_iter_init(&d, inc)) {
    while (bson_iter_next(&d)) {
      if (!bson_iter_init_find(&it, doc, bson_iter_key(&d))) {
        bson_append_int64(out, bson_iter_key(&d), -1, bsonx_as_int64(&d));
      }
    }
  }
}
