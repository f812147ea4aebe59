/*
 * hashmap.c - see hashmap.h.
 *
 * Invariants (between any two calls): cap is 0 or a power of two; n
 * slots are non-NULL and n * 4 <= cap * 3; every value is found by
 * probing from its key's home slot without crossing an empty slot, and no
 * two values share a key.
 */
#include "server/readmodel/hashmap.h"

#include <assert.h>
#include <bson/bson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HASHMAP_MIN_CAP 64

static const uint8_t *key_of(const hashmap_t *h, const void *value) {
  return (const uint8_t *)value + h->key_off;
}

static size_t key_hash(const uint8_t *key, size_t len) {
  uint64_t x = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    x = (x ^ key[i]) * 1099511628211ULL;
  }
  return (size_t)(x ^ (x >> 29));
}

/* The slot of key, or of the empty place where it would go (cap > 0). */
static size_t slot_of(const hashmap_t *h, const void *key) {
  size_t mask = h->cap - 1, i = key_hash(key, h->key_len) & mask;
  while (h->slots[i] && memcmp(key_of(h, h->slots[i]), key, h->key_len) != 0) {
    i = (i + 1) & mask;
  }
  return i;
}

void hashmap_init(hashmap_t *h, size_t key_off, size_t key_len) {
  assert(key_len > 0);
  memset(h, 0, sizeof *h);
  h->key_off = key_off;
  h->key_len = key_len;
}

void hashmap_clear(hashmap_t *h) {
  bson_free(h->slots);
  h->slots = NULL;
  h->cap = h->n = 0;
}

void *hashmap_get(const hashmap_t *h, const void *key) {
  return h->cap ? h->slots[slot_of(h, key)] : NULL;
}

static void grow(hashmap_t *h) {
  hashmap_t bigger = *h;
  bigger.cap = h->cap ? h->cap * 2 : HASHMAP_MIN_CAP;
  bigger.slots = bson_malloc0(sizeof(void *) * bigger.cap);
  for (size_t i = 0; i < h->cap; i++) {
    if (h->slots[i]) {
      bigger.slots[slot_of(&bigger, key_of(h, h->slots[i]))] = h->slots[i];
    }
  }
  bson_free(h->slots);
  *h = bigger;
}

void hashmap_put(hashmap_t *h, void *value) {
  if ((h->n + 1) * 4 > h->cap * 3) {
    grow(h);
  }
  size_t i = slot_of(h, key_of(h, value));
  assert(h->slots[i] == NULL); /* the key was not in the table */
  h->slots[i] = value;
  h->n++;
}

void *hashmap_del(hashmap_t *h, const void *key) {
  if (!h->cap) {
    return NULL;
  }
  size_t mask = h->cap - 1, i = slot_of(h, key);
  void *value = h->slots[i];
  if (!value) {
    return NULL;
  }
  h->slots[i] = NULL;
  h->n--;
  /* Backward-shift deletion: move j back to the hole at i when its home
   * is not cyclically in (i, j], so no probe chain has a gap. */
  for (size_t j = (i + 1) & mask; h->slots[j]; j = (j + 1) & mask) {
    size_t home = key_hash(key_of(h, h->slots[j]), h->key_len) & mask;
    bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!between) {
      h->slots[i] = h->slots[j];
      h->slots[j] = NULL;
      i = j;
    }
  }
  return value;
}

size_t hashmap_count(const hashmap_t *h) { return h->n; }

void *hashmap_next(const hashmap_t *h, size_t *at) {
  while (*at < h->cap) {
    void *value = h->slots[(*at)++];
    if (value) {
      return value;
    }
  }
  return NULL;
}

bool hashmap_check(const hashmap_t *h) {
  if (h->cap & (h->cap - 1)) {
    fprintf(stderr, "hashmap: capacity %zu is not a power of two\n", h->cap);
    return false;
  }
  if (h->n * 4 > h->cap * 3) {
    fprintf(stderr, "hashmap: %zu values in %zu slots\n", h->n, h->cap);
    return false;
  }
  size_t n = 0;
  for (size_t i = 0; i < h->cap; i++) {
    if (!h->slots[i]) {
      continue;
    }
    n++;
    if (h->slots[slot_of(h, key_of(h, h->slots[i]))] != h->slots[i]) {
      fprintf(stderr,
              "hashmap: the value in slot %zu is unreachable or shares "
              "its key\n",
              i);
      return false;
    }
  }
  if (n != h->n) {
    fprintf(stderr, "hashmap: %zu values counted, %zu recorded\n", n, h->n);
    return false;
  }
  return true;
}
