/*
 * test_store_log.c - the decision log's minutes (sync/txn/store_mongo.h,
 * store_mongo_log_coll): which collection holds a transaction's record,
 * decision and claims.  The collector drops a minute's collections
 * whole, so every transaction begun in one minute must name the same
 * three, and transactions of two minutes never share one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "sync/txn/store_mongo.h"

/* A transaction id made at unix time secs (the ObjectId's first four
 * bytes), the rest of its bytes `fill`. */
static void id_at(uint32_t secs, char fill, char out[TXN_ID_LEN + 1]) {
  snprintf(out, TXN_ID_LEN + 1, "%08x", (unsigned)secs);
  memset(out + 8, fill, TXN_ID_LEN - 8);
  out[TXN_ID_LEN] = '\0';
}

static void test_a_minute_names_one_collection_each(void **state) {
  (void)state;
  char a[TXN_ID_LEN + 1], b[TXN_ID_LEN + 1], c[TXN_ID_LEN + 1];
  char ca[STORE_MONGO_LOG_COLL_LEN], cb[STORE_MONGO_LOG_COLL_LEN],
      cc[STORE_MONGO_LOG_COLL_LEN];
  /* 1,764,950,400 s is minute 29,415,840 exactly */
  id_at(1764950400u, 'a', a);      /* its first second */
  id_at(1764950400u + 59, 'b', b); /* its last */
  id_at(1764950400u + 60, 'c', c); /* the next minute's first */
  store_mongo_log_coll(STORE_MONGO_RECORDS, a, ca);
  store_mongo_log_coll(STORE_MONGO_RECORDS, b, cb);
  store_mongo_log_coll(STORE_MONGO_RECORDS, c, cc);
  assert_string_equal(ca, "txns_29415840");
  assert_string_equal(cb, ca);
  assert_string_equal(cc, "txns_29415841");
  store_mongo_log_coll(STORE_MONGO_DECISIONS, b, cb);
  assert_string_equal(cb, "txn_decisions_29415840");
  store_mongo_log_coll(STORE_MONGO_CLAIMS, c, cc);
  assert_string_equal(cc, "txn_claims_29415841");
}

static void test_ids_that_are_no_object_id_go_to_minute_zero(void **state) {
  (void)state;
  char coll[STORE_MONGO_LOG_COLL_LEN];
  store_mongo_log_coll(STORE_MONGO_RECORDS, "", coll);
  assert_string_equal(coll, "txns_0");
  store_mongo_log_coll(STORE_MONGO_DECISIONS, "not-an-object-id", coll);
  assert_string_equal(coll, "txn_decisions_0");
  store_mongo_log_coll(STORE_MONGO_CLAIMS, "zz5f0000000000000000000a", coll);
  assert_string_equal(coll, "txn_claims_0");
  /* the largest time an ObjectId holds still fits the name */
  store_mongo_log_coll(STORE_MONGO_DECISIONS, "ffffffff0000000000000000", coll);
  assert_string_equal(coll, "txn_decisions_71582788");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_minute_names_one_collection_each),
      cmocka_unit_test(test_ids_that_are_no_object_id_go_to_minute_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
