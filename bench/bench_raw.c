/*
 * bench_raw.c - the database's raw single-document insert rate, the
 * yardstick of the creation benchmark (bench/run-sync-bench.sh prints
 * each creation rate as a ratio to it).
 *
 *   bench_raw --mongo-uri URI --db NAME [--clients 16] [--duration 5]
 *             [--json]
 *
 * --clients threads, each on its own client of one pool (sync/base/db.h:
 * the driver, the write concern w:majority and read concern of chorusd),
 * insert one small document at a time (an ObjectId _id, a number and 100
 * bytes of text, about a tweet's size) into the collection bench_raw for
 * --duration seconds, as fast as the database answers; then the
 * collection is dropped.  Without chorusd's write gate (one write in
 * flight per process on FerretDB): every client's insert is sent at once,
 * so the figure is what the database takes from 16 writers, not what one
 * process's gate lets through.  Prints inserts/s (--json: one JSON line).
 * Exits non-zero only when it cannot run.
 */
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_common.h"
#include "sync/base/db.h"

#define RAW_COLL "bench_raw"
#define MAX_CLIENTS 256

static struct {
  const char *uri;
  const char *db;
  int clients;
  double duration;
  bool json;
} opt = {.clients = 16, .duration = 5};

static db_t *db;
static atomic_long inserted, failed;
static double stop_at;

static void usage(FILE *out) {
  fprintf(out, "usage: bench_raw --mongo-uri URI --db NAME [--clients N] "
               "[--duration S] [--json]\n");
}

static void *client_main(void *arg) {
  (void)arg;
  mongoc_client_t *client = db_acquire(db);
  if (!client) {
    atomic_fetch_add(&failed, 1);
    return NULL;
  }
  mongoc_collection_t *coll = db_collection(db, client, RAW_COLL);
  for (long n = 0; bench_now_s() < stop_at; n++) {
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    bson_t *doc = BCON_NEW("_id", BCON_OID(&oid), "n", BCON_INT64(n), "text",
                           BCON_UTF8("0123456789012345678901234567890123456789"
                                     "0123456789012345678901234567890123456789"
                                     "01234567890123456789"));
    bson_error_t berr;
    if (mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr)) {
      atomic_fetch_add(&inserted, 1);
    } else {
      atomic_fetch_add(&failed, 1);
    }
    bson_destroy(doc);
  }
  mongoc_collection_destroy(coll);
  db_release(db, client);
  return NULL;
}

int main(int argc, char **argv) {
  bench_set_name("bench_raw");
  const bench_opt_t opts[] = {
      BENCH_STRING("mongo-uri", &opt.uri),
      BENCH_STRING("db", &opt.db),
      BENCH_INT("clients", &opt.clients, 1, MAX_CLIENTS),
      BENCH_DOUBLE("duration", &opt.duration, 0.5, 3600),
      BENCH_FLAG("json", &opt.json),
  };
  bench_parse_args(argc, argv, opts, sizeof opts / sizeof opts[0], usage);
  if (!opt.uri || !opt.db) {
    bench_die_usage("--mongo-uri and --db are needed");
  }
  mongoc_init();
  db_log_init();
  chorus_error_t err;
  db = db_new(opt.uri, opt.db, opt.clients, &err);
  if (!db) {
    bench_die("cannot use %s: %s", opt.uri, err.message);
  }
  db_set_write_limit(db, 0);
  if (!db_ping(db, &err)) {
    bench_die("the database does not answer: %s", err.message);
  }
  pthread_t threads[MAX_CLIENTS];
  double start = bench_now_s();
  stop_at = start + opt.duration;
  for (int i = 0; i < opt.clients; i++) {
    if (pthread_create(&threads[i], NULL, client_main, NULL) != 0) {
      bench_die("cannot start a thread");
    }
  }
  for (int i = 0; i < opt.clients; i++) {
    pthread_join(threads[i], NULL);
  }
  double took = bench_now_s() - start;
  mongoc_client_t *client = db_acquire(db);
  if (client) {
    mongoc_collection_t *coll = db_collection(db, client, RAW_COLL);
    bson_error_t berr;
    mongoc_collection_drop(coll, &berr); /* best effort */
    mongoc_collection_destroy(coll);
    db_release(db, client);
  }
  db_destroy(db);
  double rate = (double)atomic_load(&inserted) / took;
  if (opt.json) {
    printf("{\"clients\": %d, \"duration_s\": %.2f, \"inserted\": %ld, "
           "\"failed\": %ld, \"inserts_per_s\": %.1f}\n",
           opt.clients, took, atomic_load(&inserted), atomic_load(&failed),
           rate);
  } else {
    printf("raw single-document inserts: %d clients, %.1f s: %ld inserted "
           "(%ld failed) = %.1f/s\n",
           opt.clients, took, atomic_load(&inserted), atomic_load(&failed),
           rate);
  }
  mongoc_cleanup();
  return 0;
}
