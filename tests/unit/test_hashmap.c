/*
 * test_hashmap.c - unit tests for hashmap.h: the read model's table of
 * records keyed by bytes inside them.
 *
 * An empty table (never allocated, or cleared) finds nothing, deletes
 * nothing and walks nothing.  Puts are found again by key, with the key
 * anywhere inside the record; the count follows puts and deletions.
 * Growth keeps every record.  Deletions inside long probe chains (1-byte
 * keys: at most 256 distinct, so chains are long) keep every other
 * record reachable: checked against a reference after every operation of
 * a long random sequence, with hashmap_check.  A walk visits each record
 * exactly once and may free them.  hashmap_check accepts every table
 * built by the functions.
 *
 * Pure memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include <cmocka.h>

#include "server/readmodel/hashmap.h"

typedef struct rec {
  uint32_t payload;
  uint8_t key[12]; /* not the first member: key_off matters */
  uint32_t visits;
} rec_t;

static rec_t *rec_new(uint32_t n) {
  rec_t *r = bson_malloc0(sizeof *r);
  r->payload = n;
  memcpy(r->key, &n, sizeof n);
  r->key[11] = 0x5a;
  return r;
}

static void key_of(uint32_t n, uint8_t key[12]) {
  memset(key, 0, 12);
  memcpy(key, &n, sizeof n);
  key[11] = 0x5a;
}

static void empty_tables(void **state) {
  (void)state;
  hashmap_t h;
  hashmap_init(&h, offsetof(rec_t, key), 12);
  uint8_t key[12];
  key_of(1, key);
  assert_null(hashmap_get(&h, key));
  assert_null(hashmap_del(&h, key));
  assert_int_equal(hashmap_count(&h), 0);
  size_t at = 0;
  assert_null(hashmap_next(&h, &at));
  assert_true(hashmap_check(&h));
  hashmap_clear(&h);
  assert_null(hashmap_get(&h, key));
  assert_true(hashmap_check(&h));
}

static void puts_gets_dels_and_growth(void **state) {
  (void)state;
  enum { N = 20000 };
  hashmap_t h;
  hashmap_init(&h, offsetof(rec_t, key), 12);
  for (uint32_t n = 0; n < N; n++) {
    hashmap_put(&h, rec_new(n));
    assert_int_equal(hashmap_count(&h), n + 1);
  }
  assert_true(hashmap_check(&h));
  uint8_t key[12];
  for (uint32_t n = 0; n < N; n++) {
    key_of(n, key);
    rec_t *r = hashmap_get(&h, key);
    assert_non_null(r);
    assert_int_equal(r->payload, n);
  }
  key_of(N, key);
  assert_null(hashmap_get(&h, key));
  for (uint32_t n = 0; n < N; n += 2) {
    key_of(n, key);
    rec_t *r = hashmap_del(&h, key);
    assert_non_null(r);
    assert_int_equal(r->payload, n);
    bson_free(r);
    assert_null(hashmap_del(&h, key));
  }
  assert_int_equal(hashmap_count(&h), N / 2);
  assert_true(hashmap_check(&h));
  for (uint32_t n = 0; n < N; n++) {
    key_of(n, key);
    rec_t *r = hashmap_get(&h, key);
    if (n % 2) {
      assert_non_null(r);
      assert_int_equal(r->payload, n);
    } else {
      assert_null(r);
    }
  }
  /* A walk sees each record once, and may free them. */
  rec_t *r;
  size_t seen = 0;
  for (size_t at = 0; (r = hashmap_next(&h, &at));) {
    assert_int_equal(r->payload % 2, 1);
    assert_int_equal(r->visits, 0);
    r->visits++;
    seen++;
  }
  assert_int_equal(seen, N / 2);
  for (size_t at = 0; (r = hashmap_next(&h, &at));) {
    bson_free(r);
  }
  hashmap_clear(&h);
  assert_int_equal(hashmap_count(&h), 0);
  /* Usable again after a clear. */
  hashmap_put(&h, rec_new(7));
  key_of(7, key);
  r = hashmap_get(&h, key);
  assert_non_null(r);
  bson_free(hashmap_del(&h, key));
  hashmap_clear(&h);
}

/* Records keyed by one byte: 256 keys at most, long probe chains. */
typedef struct small {
  uint8_t key;
  uint8_t alive;
} small_t;

static void deletions_in_long_chains(void **state) {
  (void)state;
  hashmap_t h;
  hashmap_init(&h, offsetof(small_t, key), 1);
  small_t *ref[256] = {NULL};
  size_t held = 0;
  srand(12345);
  for (int step = 0; step < 100000; step++) {
    uint8_t k = (uint8_t)(rand() % 200);
    if (ref[k] && rand() % 2) {
      small_t *got = hashmap_del(&h, &k);
      assert_ptr_equal(got, ref[k]);
      bson_free(got);
      ref[k] = NULL;
      held--;
    } else if (!ref[k]) {
      ref[k] = bson_malloc0(sizeof *ref[k]);
      ref[k]->key = k;
      hashmap_put(&h, ref[k]);
      held++;
    }
    assert_int_equal(hashmap_count(&h), held);
    if (step % 97 == 0) {
      assert_true(hashmap_check(&h));
      for (int j = 0; j < 256; j++) {
        uint8_t kj = (uint8_t)j;
        assert_ptr_equal(hashmap_get(&h, &kj), ref[j]);
      }
    }
  }
  assert_true(hashmap_check(&h));
  for (int j = 0; j < 256; j++) {
    bson_free(ref[j]);
  }
  hashmap_clear(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_tables),
      cmocka_unit_test(puts_gets_dels_and_growth),
      cmocka_unit_test(deletions_in_long_chains),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
