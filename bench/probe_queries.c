/*
 * probe_queries.c - times, one at a time, the database queries that
 * chorusd makes for one home feed, one global timeline page and the reads
 * of one tweet creation, on a data set made by load_dataset.
 *
 *   probe_queries --mongo-uri URI --db NAME [--user bench00000]
 *                 [--shards 4] [--repeat 1]
 *
 * The queries have the shapes chorusd sends (server/api.c, follows.c,
 * tweets.c, users.c, likes.c, sync/): filter, sort, limit and projection
 * as there, through the same driver.  For each it prints the collection,
 * its size, the documents returned and the time of each repetition; then
 * the sum per request kind.  It says where a request's time goes in the
 * database; the whole request adds the server's own work (small) and, in
 * a transaction, the writes.  No write is made.
 *
 * The time limit of every query is an hour (socketTimeoutMS), so slow
 * queries are measured instead of cut off.  Exit status non-zero only
 * when it cannot run.
 */
#include <errno.h>
#include <getopt.h>
#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_common.h"
#include "sync/base/db.h"
#include "sync/txn/shards.h"

#define MAX_IDS 5000
#define PAGE 50

static struct {
  const char *uri, *db, *user;
  int shards, repeat;
} opt = {"mongodb://127.0.0.1:27017/?replicaSet=rs0", "chorus_tp", "bench00000",
         4, 1};

static mongoc_client_t *client;
static shards_t *shards; /* routing only (shards_of_user) */

typedef struct found {
  bson_t **docs;
  size_t n;
} found_t;

static void found_free(found_t *f) {
  for (size_t i = 0; i < f->n; i++) {
    bson_destroy(f->docs[i]);
  }
  bson_free(f->docs);
  f->docs = NULL;
  f->n = 0;
}

/* Runs the query opt.repeat times, prints a line; returns the mean ms and
 * the documents of the last run. */
static double timed(const char *label, const char *coll_name,
                    const bson_t *filter, const bson_t *sort,
                    const bson_t *projection, int64_t limit, found_t *out) {
  mongoc_collection_t *coll =
      mongoc_client_get_collection(client, opt.db, coll_name);
  bson_error_t berr;
  /* collStats, not count: FerretDB answers count by reading every
   * document, which would load the database between the timed queries. */
  int64_t size = -1;
  bson_t *cmd = BCON_NEW("collStats", BCON_UTF8(coll_name));
  bson_t reply;
  if (mongoc_client_command_simple(client, opt.db, cmd, NULL, &reply, &berr)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, &reply, "count") &&
        BSON_ITER_HOLDS_NUMBER(&it)) {
      size = bson_iter_as_int64(&it);
    }
  }
  bson_destroy(&reply);
  bson_destroy(cmd);
  bson_t opts = BSON_INITIALIZER;
  if (sort) {
    BSON_APPEND_DOCUMENT(&opts, "sort", sort);
  }
  if (projection) {
    BSON_APPEND_DOCUMENT(&opts, "projection", projection);
  }
  BSON_APPEND_INT64(&opts, "limit", limit);
  double sum = 0;
  char times[512] = "";
  size_t tl = 0;
  found_t f = {NULL, 0};
  for (int r = 0; r < opt.repeat; r++) {
    found_free(&f);
    f.docs = bson_malloc0(sizeof *f.docs * (size_t)limit);
    double t0 = 1000.0 * bench_now_s();
    mongoc_cursor_t *cursor =
        mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
    const bson_t *doc;
    while (f.n < (size_t)limit && mongoc_cursor_next(cursor, &doc)) {
      f.docs[f.n++] = bson_copy(doc);
    }
    if (mongoc_cursor_error(cursor, &berr)) {
      bench_die("%s: %s", label, berr.message);
    }
    mongoc_cursor_destroy(cursor);
    double ms = 1000.0 * bench_now_s() - t0;
    sum += ms;
    if (tl < sizeof times - 16) {
      tl += (size_t)snprintf(times + tl, sizeof times - tl, "%s%.0f",
                             r ? " " : "", ms);
    }
  }
  double mean = sum / opt.repeat;
  printf("  %-44s %-10s %9lld docs -> %4zu  %9.0f ms  (%s)\n", label, coll_name,
         (long long)size, f.n, mean, times);
  fflush(stdout);
  if (out) {
    *out = f;
  } else {
    found_free(&f);
  }
  bson_destroy(&opts);
  mongoc_collection_destroy(coll);
  return mean;
}

static bool get_oid(const bson_t *doc, const char *key, bson_oid_t *out) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_OID(&it)) {
    bson_oid_copy(bson_iter_oid(&it), out);
    return true;
  }
  return false;
}

static int64_t get_date(const bson_t *doc, const char *key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    return bson_iter_date_time(&it);
  }
  return 0;
}

typedef struct tweet_ref {
  bson_oid_t id, author;
  int64_t at;
} tweet_ref_t;

static int newest_first(const void *a, const void *b) {
  const tweet_ref_t *x = a, *y = b;
  if (x->at != y->at) {
    return x->at > y->at ? -1 : 1;
  }
  return -bson_oid_compare(&x->id, &y->id);
}

/* users_get_names and tweets_mark (liked_by_me) of a page. */
static double join(const bson_oid_t *me, tweet_ref_t *page, size_t n) {
  double ms = 0;
  bson_t filter = BSON_INITIALIZER, id_doc, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id_doc);
  BSON_APPEND_ARRAY_BEGIN(&id_doc, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    char k[24];
    snprintf(k, sizeof k, "%zu", i);
    BSON_APPEND_OID(&in, k, &page[i].author);
  }
  bson_append_array_end(&id_doc, &in);
  bson_append_document_end(&filter, &id_doc);
  bson_t *proj =
      BCON_NEW("username", BCON_INT32(1), "display_name", BCON_INT32(1));
  ms += timed("authors' names: _id $in page authors", "users", &filter, NULL,
              proj, (int64_t)(n ? n : 1), NULL);
  bson_destroy(proj);
  bson_destroy(&filter);

  bson_init(&filter);
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id_doc);
  BSON_APPEND_ARRAY_BEGIN(&id_doc, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    char k[24], id[24 * 2 + 2], a[25], b[25];
    snprintf(k, sizeof k, "%zu", i);
    bson_oid_to_string(me, a);
    bson_oid_to_string(&page[i].id, b);
    snprintf(id, sizeof id, "%s:%s", a, b);
    BSON_APPEND_UTF8(&in, k, id);
  }
  bson_append_array_end(&id_doc, &in);
  bson_append_document_end(&filter, &id_doc);
  ms += timed("viewer's likes: _id $in page", "likes", &filter, NULL, NULL,
              (int64_t)(n ? n : 1), NULL);
  bson_destroy(&filter);
  return ms;
}

/* Each shard's first PAGE + 1 of its filter, newest first, merged; as
 * tweets.c tweets_list.  authors NULL: all tweets; else only the authors
 * routed to the shard, and a shard with none is not asked. */
static double list(const char *what, const bson_oid_t *authors,
                   size_t n_authors, tweet_ref_t *page, size_t *n) {
  double ms = 0;
  tweet_ref_t *all =
      bson_malloc0(sizeof *all * (PAGE + 1) * (size_t)opt.shards);
  size_t got = 0;
  bson_t *sort = BCON_NEW("created_at", BCON_INT32(-1), "_id", BCON_INT32(-1));
  for (int k = 0; k < opt.shards; k++) {
    char coll[32], label[64];
    snprintf(coll, sizeof coll, "tweets_%d", k);
    bson_t filter = BSON_INITIALIZER;
    uint32_t mine = 0;
    if (authors) {
      bson_t in_doc, in;
      BSON_APPEND_DOCUMENT_BEGIN(&filter, "author_id", &in_doc);
      BSON_APPEND_ARRAY_BEGIN(&in_doc, "$in", &in);
      for (size_t i = 0; i < n_authors; i++) {
        if (shards_of_user(shards, &authors[i]) == k) {
          char key[16];
          snprintf(key, sizeof key, "%u", mine++);
          BSON_APPEND_OID(&in, key, &authors[i]);
        }
      }
      bson_append_array_end(&in_doc, &in);
      bson_append_document_end(&filter, &in_doc);
      if (mine == 0) {
        bson_destroy(&filter);
        continue;
      }
      snprintf(label, sizeof label, "%s (%u here), newest %d", what, mine,
               PAGE + 1);
    } else {
      snprintf(label, sizeof label, "%s, newest %d", what, PAGE + 1);
    }
    found_t f;
    ms += timed(label, coll, &filter, sort, NULL, PAGE + 1, &f);
    bson_destroy(&filter);
    for (size_t i = 0; i < f.n; i++) {
      get_oid(f.docs[i], "_id", &all[got].id);
      get_oid(f.docs[i], "author_id", &all[got].author);
      all[got].at = get_date(f.docs[i], "created_at");
      got++;
    }
    found_free(&f);
  }
  bson_destroy(sort);
  qsort(all, got, sizeof *all, newest_first);
  *n = got < PAGE ? got : PAGE;
  memcpy(page, all, sizeof *page * *n);
  bson_free(all);
  return ms;
}

/* The two reads every logged-in request starts with: its session (by the
 * token's hash) and the viewer's account; their milliseconds. */
static double session_and_viewer(const bson_oid_t *me) {
  bson_t *f = BCON_NEW("_id", BCON_UTF8("0000000000000000000000000000000000"
                                        "000000000000000000000000000000"));
  double ms =
      timed("session: _id = token hash", "sessions", f, NULL, NULL, 1, NULL);
  bson_destroy(f);
  f = BCON_NEW("_id", BCON_OID(me));
  ms += timed("viewer: _id = id", "users", f, NULL, NULL, 1, NULL);
  bson_destroy(f);
  return ms;
}

int main(int argc, char **argv) {
  bench_set_name("probe_queries");
  static const struct option longopts[] = {
      {"mongo-uri", required_argument, NULL, 'u'},
      {"db", required_argument, NULL, 'd'},
      {"user", required_argument, NULL, 'n'},
      {"shards", required_argument, NULL, 's'},
      {"repeat", required_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'u':
      opt.uri = optarg;
      break;
    case 'd':
      opt.db = optarg;
      break;
    case 'n':
      opt.user = optarg;
      break;
    case 's':
      opt.shards = atoi(optarg);
      break;
    case 'r':
      opt.repeat = atoi(optarg);
      break;
    case 'h':
      printf("Usage: probe_queries --mongo-uri URI --db NAME [--user NAME] "
             "[--shards 4] [--repeat 1]\n");
      return 0;
    default:
      return 2;
    }
  }
  if (opt.shards < 1 || opt.shards > 64 || opt.repeat < 1 || opt.repeat > 50) {
    fprintf(stderr, "probe_queries: --shards 1-64, --repeat 1-50\n");
    return 2;
  }
  mongoc_init();
  db_log_init(); /* drops FerretDB's harmless endSessions warning */
  char uri[2048];
  snprintf(uri, sizeof uri, "%s%ssocketTimeoutMS=3600000", opt.uri,
           strchr(opt.uri, '?') ? "&"
                                : (strchr(opt.uri + 10, '/') ? "?" : "/?"));
  client = mongoc_client_new(uri);
  if (!client) {
    bench_die("invalid --mongo-uri '%s'", opt.uri);
  }
  mongoc_client_set_appname(client, "probe_queries");
  shards = shards_new(NULL, opt.shards, NULL, 1, NULL);
  if (!shards) {
    bench_die("bad --shards");
  }

  /* Who: the user's id (not timed: the server has it from the session). */
  bson_t *f = BCON_NEW("username_lc", BCON_UTF8(opt.user));
  found_t u;
  printf("setup:\n");
  timed("login: username_lc = name", "users", f, NULL, NULL, 1, &u);
  bson_destroy(f);
  if (u.n != 1) {
    bench_die("no user %s in %s", opt.user, opt.db);
  }
  bson_oid_t me;
  get_oid(u.docs[0], "_id", &me);
  found_free(&u);

  /* ---- GET /api/feed ---- */
  printf("\nGET /api/feed?limit=50 as %s:\n", opt.user);
  double feed = session_and_viewer(&me);
  f = BCON_NEW("follower_id", BCON_OID(&me));
  found_t fl;
  feed += timed("followees: follower_id = id", "follows", f, NULL, NULL,
                MAX_IDS, &fl);
  bson_destroy(f);
  bson_oid_t *ids = bson_malloc0(sizeof *ids * (fl.n + 1));
  size_t n_ids = 0;
  for (size_t i = 0; i < fl.n; i++) {
    if (get_oid(fl.docs[i], "followee_id", &ids[n_ids])) {
      n_ids++;
    }
  }
  ids[n_ids++] = me; /* api_feed: followees and me */
  found_free(&fl);
  tweet_ref_t page[PAGE];
  size_t n;
  feed += list("tweets: author_id $in followees", ids, n_ids, page, &n);
  bson_free(ids);
  feed += join(&me, page, n);
  printf("  %-44s %-10s %20s  %9.0f ms\n", "feed: database time in all", "", "",
         feed);

  /* ---- GET /api/tweet ---- */
  printf("\nGET /api/tweet?limit=50 (global timeline):\n");
  double tl = session_and_viewer(&me);
  tl += list("tweets: all", NULL, 0, page, &n);
  tl += join(&me, page, n);
  printf("  %-44s %-10s %20s  %9.0f ms\n", "timeline: database time in all", "",
         "", tl);

  /* ---- POST /api/tweet: the reads of one creation ---- */
  printf("\nPOST /api/tweet: reads by _id in one creation (2PC; writes "
         "not made here):\n");
  double cr = 0;
  if (n > 0) {
    char coll[32];
    snprintf(coll, sizeof coll, "tweets_%d", page[0].id.bytes[4]);
    f = BCON_NEW("_id", BCON_OID(&page[0].id));
    cr += timed("a tweet: _id = id", coll, f, NULL, NULL, 1, NULL);
    bson_destroy(f);
  }
  f = BCON_NEW("_id", BCON_OID(&me));
  cr += timed("the author: _id = id", "users", f, NULL, NULL, 1, NULL);
  bson_destroy(f);
  printf("  each step of the 2PC that touches the new tweet (insert with "
         "_txn, apply, clear) reads or updates it by _id in its shard, and "
         "the author likewise in users: see docs/PERFORMANCE.md\n");

  shards_destroy(shards);
  mongoc_client_destroy(client);
  mongoc_cleanup();
  return 0;
}
