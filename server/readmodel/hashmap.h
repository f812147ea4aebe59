/*
 * hashmap.h - a hash table of pointers whose key lives inside the value.
 *
 * Each value is a caller's record holding its own key: key_len bytes at
 * key_off (an ObjectId, a token hash...), compared with memcmp.  The
 * table stores only the pointers (8 bytes a slot: open addressing, linear
 * probing, FNV-1a; it doubles past 3/4 full, and a deletion shifts the
 * rest of its probe chain back instead of leaving a tombstone), so the
 * read model's millions of records cost no more than their own size.
 *
 * Ownership: the table owns its slot array, never the values; the caller
 * frees its records (hashmap_next walks them).  A value's key must not
 * change while it is in the table.
 *
 * Not thread-safe: the caller locks (model.c holds its rwlock; readers
 * may call hashmap_get and hashmap_next concurrently).
 */
#ifndef CHORUS_HASHMAP_H
#define CHORUS_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hashmap {
  void **slots; /* cap pointers, NULL for empty */
  size_t cap;   /* 0 or a power of two */
  size_t n;     /* values held */
  size_t key_off, key_len;
} hashmap_t;

/* An empty table; allocates nothing until the first hashmap_put. */
void hashmap_init(hashmap_t *h, size_t key_off, size_t key_len);

/* Frees the slots (not the values) and leaves the table empty, ready for
 * use with the same key. */
void hashmap_clear(hashmap_t *h);

/* The value with this key (key_len bytes), or NULL. */
void *hashmap_get(const hashmap_t *h, const void *key);

/* Inserts value, whose key must not be in the table yet. */
void hashmap_put(hashmap_t *h, void *value);

/* Removes and returns the value with this key; NULL when absent. */
void *hashmap_del(hashmap_t *h, const void *key);

/* Values held. */
size_t hashmap_count(const hashmap_t *h);

/* Walks the values in no particular order: start with *at = 0; returns
 * the next value and advances *at, or NULL at the end.  The table must
 * not change during a walk (the values may be freed: they are not read
 * again). */
void *hashmap_next(const hashmap_t *h, size_t *at);

/* Checks the table's own invariants: the count, the load factor, no
 * duplicate key, every value reachable from its home slot.  Walks every
 * slot; false (saying why on stderr) on a violation. */
bool hashmap_check(const hashmap_t *h);

#endif
