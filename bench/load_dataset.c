/*
 * load_dataset.c - seeds a realistic Chorus data set for the throughput
 * benchmark (bench/run-throughput.sh).
 *
 *   load_dataset --mongo-uri URI --db NAME [--users 10000] [--follows 100]
 *                [--tweets 1000000] [--shards 4] [--days 30] [--seed 42]
 *                [--batch 1000] [--threads 2] [--drop] [--check]
 *
 * Writes straight into the database with the driver's unordered bulk
 * inserts (batches of --batch documents), the documents exactly as the
 * server writes them (docs/DATA.md):
 *
 *   users     "bench00000".."bench<N-1>", display name = username (as at
 *             registration), bio "", one Argon2id hash of the password
 *             "benchpass123" made once with the server's parameters and
 *             shared by every account; followers_count, following_count
 *             and tweet_count equal to the true counts; created 31-32 days
 *             ago; version 1.
 *   follows   every user follows --follows distinct others, picked at
 *             random (seeded); _id "<follower hex>:<followee hex>"
 *             (bsonx_pair_id), created_at in the last --days days.
 *   tweets_K  --tweets tweets, authors picked uniformly at random, text of
 *             4-30 words from a fixed vocabulary (a few hashtags), words
 *             folded by the server's own search_append_words, shard K =
 *             shards_of_user(author) and an id from shards_new_tweet_id
 *             (byte 4 = K) whose timestamp is then set to the tweet's
 *             created_at (as if the server had made it then); created_at
 *             spread over the last --days days; edited_at and reply_to
 *             null, reply_count and like_count 0, version 1.
 *   meta      {_id: "shards", n} and every index the server declares,
 *             through the server's own shards_check_count,
 *             schema_ensure_indexes (the domain's collections and every
 *             tweet shard), store_mongo_ensure_indexes and
 *             events_ensure_indexes.
 *
 * Everything random comes from --seed, per item, so the same arguments
 * give the same data set (except ObjectId counters and the times, which
 * are relative to now).  When it has finished it writes a marker
 * {_id: "dataset", users, follows, tweets, shards, seed, complete: true}
 * into the collection bench_dataset, which no server reads.
 *
 * --sessions FILE also logs every account in, with the server's own
 * sessions_create (no password hashed, no request sent), and writes one
 * line "USERNAME TOKEN" per account to FILE, in account order: the
 * session cookies of a benchmark that acts as many users
 * (bench/run-like-bench.sh).  Only with a load (refused, exit 2, when
 * the data set is there already).
 *
 * Idempotent: when that marker matches the arguments it says so and exits
 * 0 without writing.  Into a database that holds anything else (a partial
 * load, other data) it refuses (exit 3) unless --drop, which drops the
 * whole database first.  --check only tells: exit 0 when a complete data
 * set with these arguments is there, 3 when not.
 *
 * Prints progress and documents per second; exit status non-zero only
 * when it could not do the job.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "server/domain/schema.h"
#include "server/domain/search.h"
#include "server/domain/sessions.h"
#include "server/domain/users.h"
#include "server/domain/validate.h"
#include "sync/base/bsonx.h"
#include "sync/base/db.h"
#include "sync/events/events.h"
#include "sync/txn/shards.h"
#include "sync/txn/store_mongo.h"

/* The server's Argon2id parameters (server/users.c PWHASH_OPSLIMIT and
 * PWHASH_MEMLIMIT; docs/DATA.md: t=2, m=19 MiB). */
#define PWHASH_OPSLIMIT 2
#define PWHASH_MEMLIMIT (19u << 20)
#define PASSWORD "benchpass123"
#define USERNAME_FMT "bench%05d"
#define MARKER_COLL "bench_dataset"
#define DAY_MS (24LL * 3600 * 1000)
#define MAX_THREADS 16

static struct {
  const char *uri;
  const char *db;
  long users, follows, tweets, shards, days, batch, threads;
  uint64_t seed;
  bool drop, check;
  const char *sessions;
} opt = {.uri = "mongodb://127.0.0.1:27017/?replicaSet=rs0",
         .db = "chorus_tp",
         .users = 10000,
         .follows = 100,
         .tweets = 1000000,
         .shards = 4,
         .days = 30,
         .batch = 1000,
         .threads = 2,
         .seed = 42};

/* ------------------------------------------------------------ random */

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A generator for item `index` of stream `stream`: the same numbers
 * whatever the thread count. */
static uint64_t rng_for(uint64_t stream, uint64_t index) {
  uint64_t s = opt.seed ^ (stream * 0xd1b54a32d192ed03ULL);
  s ^= splitmix64(&s) + index * 0x9e3779b97f4a7c15ULL;
  splitmix64(&s);
  return s;
}

static uint64_t below(uint64_t *s, uint64_t n) { return splitmix64(s) % n; }

/* ------------------------------------------------------------ output */

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("[load] ");
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
}

static void usage(FILE *out) {
  fprintf(out,
          "Usage: load_dataset --mongo-uri URI --db NAME [options]\n"
          "Seeds users, follows and tweets for the throughput benchmark.\n\n"
          "  --users N      accounts (default 10000)\n"
          "  --follows F    followees per account (default 100)\n"
          "  --tweets T     tweets in all (default 1000000)\n"
          "  --shards S     tweet shards; must be the servers' --shards\n"
          "                 (default 4)\n"
          "  --days D       tweets and follows spread over the last D days\n"
          "                 (default 30)\n"
          "  --seed X       random seed (default 42)\n"
          "  --batch B      documents per bulk insert (default 1000)\n"
          "  --threads T    inserting connections (default 2)\n"
          "  --drop         drop the database first when it is not this\n"
          "                 complete data set\n"
          "  --check        exit 0 when this data set is complete, 3 when\n"
          "                 not; writes nothing\n"
          "  --sessions F   log every account in and write \"USERNAME TOKEN\"\n"
          "                 lines to file F\n"
          "  --help\n"
          "Every account's password is \"" PASSWORD "\".\n");
}

/* --seed X: any whole number from 0 to LONG_MAX. */
static void set_seed(const char *value) {
  opt.seed = (uint64_t)bench_arg_long("--seed", value, 0, LONG_MAX);
}

static void parse_args(int argc, char **argv) {
  const bench_opt_t opts[] = {
      BENCH_STRING("mongo-uri", &opt.uri),
      BENCH_STRING("db", &opt.db),
      BENCH_LONG("users", &opt.users, 2, 99999),
      BENCH_LONG("follows", &opt.follows, 0, 99998),
      BENCH_LONG("tweets", &opt.tweets, 0, 100000000),
      BENCH_LONG("shards", &opt.shards, 1, SHARDS_MAX),
      BENCH_LONG("days", &opt.days, 1, 3650),
      BENCH_CALL("seed", set_seed),
      BENCH_LONG("batch", &opt.batch, 1, 100000),
      BENCH_LONG("threads", &opt.threads, 1, MAX_THREADS),
      BENCH_FLAG("drop", &opt.drop),
      BENCH_FLAG("check", &opt.check),
      BENCH_STRING("sessions", &opt.sessions),
  };
  bench_parse_args(argc, argv, opts, sizeof opts / sizeof opts[0], usage);
  if (opt.follows >= opt.users) {
    fprintf(stderr, "load_dataset: --follows must be below --users\n");
    exit(2);
  }
}

/* ------------------------------------------------------------ data model */

static bson_oid_t *user_ids;   /* [users] */
static uint32_t *followees;    /* [users * follows]: user i follows these */
static uint32_t *tweet_author; /* [tweets] */
static int64_t *followers_count, *tweet_count;
static int64_t now_ms, users_created_ms;

static void username_of(long i, char out[USERNAME_MAX + 1]) {
  snprintf(out, USERNAME_MAX + 1, USERNAME_FMT, (int)i);
}

/* A time in the last --days days, uniformly. */
static int64_t recent_ms(uint64_t *s) {
  return now_ms - 1 - (int64_t)below(s, (uint64_t)(opt.days * DAY_MS));
}

static void build_graph(void) {
  long n = opt.users, f = opt.follows;
  user_ids = bson_malloc0(sizeof *user_ids * (size_t)n);
  followees = bson_malloc0(sizeof *followees * (size_t)(n * f + 1));
  tweet_author = bson_malloc0(sizeof *tweet_author * (size_t)(opt.tweets + 1));
  followers_count = bson_malloc0(sizeof *followers_count * (size_t)n);
  tweet_count = bson_malloc0(sizeof *tweet_count * (size_t)n);
  for (long i = 0; i < n; i++) {
    bson_oid_init(&user_ids[i], NULL);
  }
  for (long i = 0; i < n; i++) {
    uint64_t s = rng_for(1, (uint64_t)i);
    uint32_t *mine = &followees[i * f];
    for (long k = 0; k < f;) {
      uint32_t v = (uint32_t)below(&s, (uint64_t)n);
      bool dup = v == (uint32_t)i;
      for (long j = 0; !dup && j < k; j++) {
        dup = mine[j] == v;
      }
      if (!dup) {
        mine[k++] = v;
        followers_count[v]++;
      }
    }
  }
  for (long t = 0; t < opt.tweets; t++) {
    uint64_t s = rng_for(2, (uint64_t)t);
    uint32_t a = (uint32_t)below(&s, (uint64_t)n);
    tweet_author[t] = a;
    tweet_count[a]++;
  }
}

static const char *const vocabulary[] = {
    "the",      "a",           "and",      "to",       "of",         "in",
    "is",       "it",          "for",      "on",       "with",       "this",
    "that",     "my",          "just",     "so",       "what",       "about",
    "new",      "today",       "tomorrow", "time",     "day",        "night",
    "morning",  "coffee",      "tea",      "code",     "bug",        "fix",
    "release",  "deploy",      "build",    "test",     "server",     "database",
    "query",    "index",       "shard",    "latency",  "throughput", "memory",
    "cache",    "network",     "cloud",    "linux",    "kernel",     "compiler",
    "rust",     "go",          "python",   "java",     "music",      "album",
    "song",     "concert",     "movie",    "book",     "reading",    "writing",
    "walk",     "run",         "bike",     "train",    "bus",        "rain",
    "sun",      "snow",        "weather",  "city",     "park",       "river",
    "mountain", "beach",       "holiday",  "weekend",  "friday",     "monday",
    "lunch",    "dinner",      "pizza",    "pasta",    "bread",      "cheese",
    "soup",     "salad",       "cat",      "dog",      "bird",       "garden",
    "flowers",  "spring",      "summer",   "autumn",   "winter",     "happy",
    "tired",    "excited",     "great",    "good",     "bad",        "terrible",
    "amazing",  "interesting", "funny",    "weird",    "quiet",      "loud",
    "fast",     "slow",        "really",   "very",     "maybe",      "never",
    "always",   "again",       "finally",  "still",    "already",    "think",
    "know",     "see",         "look",     "want",     "need",       "love",
    "hate",     "like",        "try",      "make",     "take",       "give",
    "find",     "tell",        "ask",      "work",     "play",       "learn",
    "teach",    "meet",        "call",     "wait",     "start",      "stop",
    "open",     "close",       "everyone", "someone",  "nobody",     "friends",
    "family",   "team",        "people",   "world",    "home",       "office",
    "school",   "project",     "idea",     "question", "answer",     "problem",
    "solution", "news",        "story",    "photo",    "video",      "game",
    "match",    "score",       "win",      "lose",     "café",       "naïve",
    "Zürich",   "résumé",      "#chorus",  "#c",       "#mongodb",   "#perf",
    "#monday",  "#coffee",     "#weekend", "#music",   "#news",      "#bench",
    "@friend",  "2026",        "42",       "100",      "!",          "?",
    "...",      ":)",          "—",        "well,",    "ok.",        "yes!",
    "no.",      "hmm,",
};
#define VOCAB_N (sizeof vocabulary / sizeof vocabulary[0])

/* Text of tweet t: 4-30 words, at most TWEET_TEXT_MAX characters. */
static size_t tweet_text(long t, char *out, size_t size) {
  uint64_t s = rng_for(3, (uint64_t)t);
  int words = 4 + (int)below(&s, 27);
  size_t len = 0;
  for (int w = 0; w < words; w++) {
    const char *v = vocabulary[below(&s, VOCAB_N)];
    size_t vl = strlen(v);
    /* Characters are counted in bytes here: at most 280 bytes is at
     * most 280 code points. */
    if (len + (w ? 1 : 0) + vl > TWEET_TEXT_MAX || len + vl + 2 > size) {
      break;
    }
    if (w) {
      out[len++] = ' ';
    }
    memcpy(out + len, v, vl);
    len += vl;
  }
  out[len] = '\0';
  return len;
}

/* ------------------------------------------------------------ inserting */

typedef struct inserter {
  mongoc_client_t *client;
  mongoc_collection_t *colls[SHARDS_MAX + 1];
  mongoc_bulk_operation_t *bulks[SHARDS_MAX + 1];
  long pending[SHARDS_MAX + 1];
  int n_colls;
} inserter_t;

static atomic_long inserted;

static void inserter_init(inserter_t *ins, const char *const *names, int n) {
  memset(ins, 0, sizeof *ins);
  ins->client = mongoc_client_new(opt.uri);
  if (!ins->client) {
    bench_die("invalid --mongo-uri '%s'", opt.uri);
  }
  mongoc_client_set_appname(ins->client, "load_dataset");
  ins->n_colls = n;
  for (int i = 0; i < n; i++) {
    ins->colls[i] = mongoc_client_get_collection(ins->client, opt.db, names[i]);
  }
}

static void flush_one(inserter_t *ins, int i) {
  if (!ins->bulks[i]) {
    return;
  }
  bson_t reply;
  bson_error_t berr;
  uint32_t ok = mongoc_bulk_operation_execute(ins->bulks[i], &reply, &berr);
  if (!ok) {
    char *json = bson_as_relaxed_extended_json(&reply, NULL);
    bench_die("bulk insert into %s failed: %s (%s)",
              mongoc_collection_get_name(ins->colls[i]), berr.message,
              json ? json : "");
  }
  bson_destroy(&reply);
  mongoc_bulk_operation_destroy(ins->bulks[i]);
  ins->bulks[i] = NULL;
  atomic_fetch_add(&inserted, ins->pending[i]);
  ins->pending[i] = 0;
}

static void insert(inserter_t *ins, int i, const bson_t *doc) {
  if (!ins->bulks[i]) {
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    ins->bulks[i] =
        mongoc_collection_create_bulk_operation_with_opts(ins->colls[i], opts);
    bson_destroy(opts);
  }
  bson_error_t berr;
  if (!mongoc_bulk_operation_insert_with_opts(ins->bulks[i], doc, NULL,
                                              &berr)) {
    bench_die("bulk insert: %s", berr.message);
  }
  if (++ins->pending[i] >= opt.batch) {
    flush_one(ins, i);
  }
}

static void inserter_finish(inserter_t *ins) {
  for (int i = 0; i < ins->n_colls; i++) {
    flush_one(ins, i);
    mongoc_collection_destroy(ins->colls[i]);
  }
  mongoc_client_destroy(ins->client);
}

/* Runs fn(thread, first, end, arg) on opt.threads threads over [0, n),
 * printing progress every 5 s. */
typedef void (*range_fn)(long first, long end, void *arg);

typedef struct range_job {
  range_fn fn;
  long first, end;
  void *arg;
} range_job_t;

static void *range_main(void *p) {
  range_job_t *j = p;
  j->fn(j->first, j->end, j->arg);
  return NULL;
}

static double run_phase(const char *what, long n, range_fn fn, void *arg) {
  atomic_store(&inserted, 0);
  double t0 = bench_now_s();
  long nthreads = n < opt.threads ? 1 : opt.threads;
  pthread_t th[MAX_THREADS];
  range_job_t jobs[MAX_THREADS];
  for (long i = 0; i < nthreads; i++) {
    jobs[i] = (range_job_t){fn, n * i / nthreads, n * (i + 1) / nthreads, arg};
    if (pthread_create(&th[i], NULL, range_main, &jobs[i]) != 0) {
      bench_die("pthread_create failed");
    }
  }
  /* Progress: the workers count flushed documents. */
  double last = t0;
  long last_n = 0;
  for (;;) {
    long done = atomic_load(&inserted);
    if (done >= n) {
      break;
    }
    usleep(200 * 1000);
    double t = bench_now_s();
    if (t - last >= 5.0) {
      done = atomic_load(&inserted);
      double rate = (double)(done - last_n) / (t - last);
      double avg = (double)done / (t - t0);
      say("%s: %ld of %ld (%.1f%%), %.0f docs/s now, %.0f on average, "
          "about %.0f s to go",
          what, done, n, 100.0 * (double)done / (double)n, rate, avg,
          avg > 0 ? (double)(n - done) / avg : 0.0);
      last = t;
      last_n = done;
    }
  }
  for (long i = 0; i < nthreads; i++) {
    pthread_join(th[i], NULL);
  }
  double secs = bench_now_s() - t0;
  say("%s: %ld documents in %.1f s = %.0f docs/s", what, n, secs,
      secs > 0 ? (double)n / secs : 0.0);
  return secs;
}

static char password_hash[crypto_pwhash_STRBYTES];

static void load_users(long first, long end, void *arg) {
  (void)arg;
  const char *names[] = {DB_USERS};
  inserter_t ins;
  inserter_init(&ins, names, 1);
  for (long i = first; i < end; i++) {
    char name[USERNAME_MAX + 1], folded[USERNAME_MAX + 1];
    username_of(i, name);
    username_fold(name, strlen(name), folded);
    uint64_t s = rng_for(4, (uint64_t)i);
    int64_t created = users_created_ms - (int64_t)below(&s, (uint64_t)DAY_MS);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &user_ids[i]);
    BSON_APPEND_UTF8(&doc, "username", name);
    BSON_APPEND_UTF8(&doc, "username_lc", folded);
    BSON_APPEND_UTF8(&doc, "display_name", name);
    BSON_APPEND_UTF8(&doc, "display_name_lc", folded);
    BSON_APPEND_UTF8(&doc, "bio", "");
    BSON_APPEND_UTF8(&doc, "password_hash", password_hash);
    BSON_APPEND_DATE_TIME(&doc, "created_at", created);
    BSON_APPEND_INT64(&doc, "followers_count", followers_count[i]);
    BSON_APPEND_INT64(&doc, "following_count", opt.follows);
    BSON_APPEND_INT64(&doc, "tweet_count", tweet_count[i]);
    BSON_APPEND_DATE_TIME(&doc, "notifications_read_at", created);
    BSON_APPEND_INT64(&doc, "version", 1);
    insert(&ins, 0, &doc);
    bson_destroy(&doc);
  }
  inserter_finish(&ins);
}

/* Follow edges [first, end) of users * follows. */
static void load_follows(long first, long end, void *arg) {
  (void)arg;
  const char *names[] = {"follows"};
  inserter_t ins;
  inserter_init(&ins, names, 1);
  for (long e = first; e < end; e++) {
    long follower = e / opt.follows;
    uint32_t followee = followees[e];
    char id[BSONX_PAIR_ID_LEN + 1];
    bsonx_pair_id(&user_ids[follower], &user_ids[followee], id);
    uint64_t s = rng_for(5, (uint64_t)e);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_OID(&doc, "follower_id", &user_ids[follower]);
    BSON_APPEND_OID(&doc, "followee_id", &user_ids[followee]);
    BSON_APPEND_DATE_TIME(&doc, "created_at", recent_ms(&s));
    BSON_APPEND_INT64(&doc, "version", 1);
    insert(&ins, 0, &doc);
    bson_destroy(&doc);
  }
  inserter_finish(&ins);
}

static void load_tweets(long first, long end, void *arg) {
  shards_t *shards = arg;
  int n = shards_count(shards);
  char names_buf[SHARDS_MAX][SHARDS_COLL_LEN];
  const char *names[SHARDS_MAX];
  for (int k = 0; k < n; k++) {
    shards_tweet_coll(k, names_buf[k]);
    names[k] = names_buf[k];
  }
  inserter_t ins;
  inserter_init(&ins, names, n);
  for (long t = first; t < end; t++) {
    uint32_t a = tweet_author[t];
    int shard = shards_of_user(shards, &user_ids[a]);
    uint64_t s = rng_for(6, (uint64_t)t);
    int64_t created = recent_ms(&s);
    bson_oid_t id;
    shards_new_tweet_id(shards, shard, &id);
    /* As if made at created_at: the id's timestamp (bytes 0-3, big
     * endian seconds) says when, as it does for the server's tweets. */
    uint32_t secs = (uint32_t)(created / 1000);
    id.bytes[0] = (uint8_t)(secs >> 24);
    id.bytes[1] = (uint8_t)(secs >> 16);
    id.bytes[2] = (uint8_t)(secs >> 8);
    id.bytes[3] = (uint8_t)secs;
    char text[TWEET_TEXT_MAX + 8], name[USERNAME_MAX + 1];
    size_t len = tweet_text(t, text, sizeof text);
    username_of(a, name);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &id);
    BSON_APPEND_OID(&doc, "author_id", &user_ids[a]);
    BSON_APPEND_UTF8(&doc, "author", name);
    bson_append_utf8(&doc, "text", 4, text, (int)len);
    search_append_words(&doc, "words", text, len);
    BSON_APPEND_DATE_TIME(&doc, "created_at", created);
    BSON_APPEND_NULL(&doc, "edited_at");
    BSON_APPEND_NULL(&doc, "reply_to");
    BSON_APPEND_INT64(&doc, "reply_count", 0);
    BSON_APPEND_INT64(&doc, "like_count", 0);
    BSON_APPEND_INT64(&doc, "version", 1);
    insert(&ins, shard, &doc);
    bson_destroy(&doc);
  }
  inserter_finish(&ins);
}

/* ------------------------------------------------------------ the marker */

/* 0: the complete data set of these arguments is there; 1: the database
 * is empty (no collections); 2: it holds something else. */
static int database_state(mongoc_client_t *client) {
  mongoc_database_t *db = mongoc_client_get_database(client, opt.db);
  bson_error_t berr;
  char **names =
      mongoc_database_get_collection_names_with_opts(db, NULL, &berr);
  if (!names) {
    bench_die("cannot list the collections of %s: %s", opt.db, berr.message);
  }
  bool any = names[0] != NULL;
  bson_strfreev(names);
  mongoc_database_destroy(db);
  if (!any) {
    return 1;
  }
  mongoc_collection_t *coll =
      mongoc_client_get_collection(client, opt.db, MARKER_COLL);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8("dataset"));
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
  const bson_t *doc;
  int state = 2;
  if (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it;
    struct {
      const char *key;
      long want;
    } fields[] = {{"users", opt.users},   {"follows", opt.follows},
                  {"tweets", opt.tweets}, {"shards", opt.shards},
                  {"days", opt.days},     {"seed", (long)opt.seed}};
    bool same = bson_iter_init_find(&it, doc, "complete") &&
                BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    for (size_t i = 0; same && i < sizeof fields / sizeof fields[0]; i++) {
      same = bson_iter_init_find(&it, doc, fields[i].key) &&
             BSON_ITER_HOLDS_NUMBER(&it) &&
             bson_iter_as_int64(&it) == fields[i].want;
    }
    if (same) {
      state = 0;
    } else {
      char *json = bson_as_relaxed_extended_json(doc, NULL);
      say("the database holds another data set: %s", json);
      bson_free(json);
    }
  }
  if (mongoc_cursor_error(cursor, &berr)) {
    bench_die("cannot read %s.%s: %s", opt.db, MARKER_COLL, berr.message);
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  return state;
}

static void write_marker(mongoc_client_t *client, double load_s,
                         double index_s) {
  mongoc_collection_t *coll =
      mongoc_client_get_collection(client, opt.db, MARKER_COLL);
  bson_t *doc = BCON_NEW(
      "_id", BCON_UTF8("dataset"), "users", BCON_INT64(opt.users), "follows",
      BCON_INT64(opt.follows), "tweets", BCON_INT64(opt.tweets), "shards",
      BCON_INT64(opt.shards), "days", BCON_INT64(opt.days), "seed",
      BCON_INT64((int64_t)opt.seed), "password", BCON_UTF8(PASSWORD),
      "username_format", BCON_UTF8(USERNAME_FMT), "load_seconds",
      BCON_DOUBLE(load_s), "index_seconds", BCON_DOUBLE(index_s), "loaded_at",
      BCON_DATE_TIME(now_ms), "complete", BCON_BOOL(true));
  bson_error_t berr;
  if (!mongoc_collection_insert_one(coll, doc, NULL, NULL, &berr)) {
    bench_die("cannot write the marker: %s", berr.message);
  }
  bson_destroy(doc);
  mongoc_collection_destroy(coll);
}

/* ------------------------------------------------------------ sessions */

/* --sessions: a session of every account, as POST /api/login makes it,
 * one "USERNAME TOKEN" line each. */
static void write_sessions(db_t *db) {
  FILE *f = fopen(opt.sessions, "w");
  if (!f) {
    bench_die("cannot write %s", opt.sessions);
  }
  double t0 = bench_now_s();
  for (long i = 0; i < opt.users; i++) {
    char name[USERNAME_MAX + 1], token[SESSION_TOKEN_LEN + 1];
    chorus_error_t err;
    username_of(i, name);
    if (!sessions_create(db, &user_ids[i], token, &err)) {
      bench_die("session of %s: %s", name, err.message);
    }
    fprintf(f, "%s %s\n", name, token);
  }
  if (fclose(f) != 0) {
    bench_die("cannot write %s", opt.sessions);
  }
  say("sessions: %ld written to %s in %.1f s", opt.users, opt.sessions,
      bench_now_s() - t0);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
  bench_set_name("load_dataset");
  parse_args(argc, argv);
  if (sodium_init() < 0) {
    bench_die("libsodium failed to initialize");
  }
  mongoc_init();
  db_log_init();
  setvbuf(stdout, NULL, _IOLBF, 0);

  mongoc_client_t *client = mongoc_client_new(opt.uri);
  if (!client) {
    bench_die("invalid --mongo-uri '%s'", opt.uri);
  }
  mongoc_client_set_appname(client, "load_dataset");
  int state = database_state(client);
  if (opt.check) {
    say("%s: %s", opt.db,
        state == 0   ? "the complete data set is there"
        : state == 1 ? "empty"
                     : "not this complete data set");
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return state == 0 ? 0 : 3;
  }
  if (state == 0 && opt.sessions) {
    fprintf(stderr,
            "load_dataset: --sessions needs a load, and %s already "
            "holds this data set\n",
            opt.db);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return 2;
  }
  if (state == 0) {
    say("%s already holds this complete data set (%ld users x %ld follows, "
        "%ld tweets, %ld shards, seed %" PRIu64 "); nothing to do",
        opt.db, opt.users, opt.follows, opt.tweets, opt.shards, opt.seed);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return 0;
  }
  if (state == 2) {
    if (!opt.drop) {
      fprintf(stderr,
              "load_dataset: database %s is not empty and is not this "
              "complete data set; run again with --drop to replace it\n",
              opt.db);
      mongoc_client_destroy(client);
      mongoc_cleanup();
      return 3;
    }
    mongoc_database_t *d = mongoc_client_get_database(client, opt.db);
    bson_error_t berr;
    say("dropping database %s", opt.db);
    if (!mongoc_database_drop_with_opts(d, NULL, &berr)) {
      bench_die("cannot drop %s: %s", opt.db, berr.message);
    }
    mongoc_database_destroy(d);
  }

  /* The server's own routing and schema code, on a db_t with generous
   * timeouts: creating an index over a million documents takes a while. */
  char uri_long[2048];
  snprintf(uri_long, sizeof uri_long, "%s%ssocketTimeoutMS=3600000", opt.uri,
           strchr(opt.uri, '?') ? "&"
                                : (strchr(opt.uri + 10, '/') ? "?" : "/?"));
  chorus_error_t err;
  db_t *db = db_new(uri_long, opt.db, 4, &err);
  if (!db) {
    bench_die("%s", err.message);
  }
  shards_t *shards = shards_new(db, (int)opt.shards, NULL, 4, &err);
  if (!shards) {
    bench_die("%s", err.message);
  }

  say("data set: %ld users, each following %ld others (%ld follows), "
      "%ld tweets over the last %ld days in %ld shards, seed %" PRIu64
      "; into %s (%d inserting connections, batches of %ld)",
      opt.users, opt.follows, opt.users * opt.follows, opt.tweets, opt.days,
      opt.shards, opt.seed, opt.db, (int)opt.threads, opt.batch);
  double t0 = bench_now_s();
  say("hashing the password \"%s\" once (Argon2id, t=%d, m=%u MiB)", PASSWORD,
      PWHASH_OPSLIMIT, PWHASH_MEMLIMIT >> 20);
  if (crypto_pwhash_str(password_hash, PASSWORD, strlen(PASSWORD),
                        PWHASH_OPSLIMIT, PWHASH_MEMLIMIT) != 0) {
    bench_die("crypto_pwhash_str failed (out of memory)");
  }
  now_ms = db_now_ms();
  users_created_ms = now_ms - (opt.days + 1) * DAY_MS;
  build_graph();
  say("follow graph and authors drawn in %.1f s", bench_now_s() - t0);

  double load_t0 = bench_now_s();
  double users_s = run_phase("users", opt.users, load_users, NULL);
  double follows_s =
      run_phase("follows", opt.users * opt.follows, load_follows, NULL);
  double tweets_s = run_phase("tweets", opt.tweets, load_tweets, shards);
  double load_s = bench_now_s() - load_t0;

  say("creating the indexes (schema_ensure_indexes, "
      "store_mongo_ensure_indexes, events_ensure_indexes)");
  double i0 = bench_now_s();
  if (!shards_check_count(shards, &err) ||
      !schema_ensure_indexes(db, shards, &err) ||
      !store_mongo_ensure_indexes(shards, &err) ||
      !events_ensure_indexes(db, &err)) {
    bench_die("indexes: %s", err.message);
  }
  double index_s = bench_now_s() - i0;
  say("indexes created in %.1f s", index_s);
  write_marker(client, load_s, index_s);

  long docs = opt.users + opt.users * opt.follows + opt.tweets;
  say("done: %ld documents in %.1f s (%.0f docs/s; users %.1f s, follows "
      "%.1f s, tweets %.1f s), indexes %.1f s, total %.1f s",
      docs, load_s, load_s > 0 ? (double)docs / load_s : 0.0, users_s,
      follows_s, tweets_s, index_s, bench_now_s() - t0);
  printf("LOAD users=%ld follows=%ld tweets=%ld load_s=%.1f users_s=%.1f "
         "follows_s=%.1f tweets_s=%.1f index_s=%.1f\n",
         opt.users, opt.users * opt.follows, opt.tweets, load_s, users_s,
         follows_s, tweets_s, index_s);

  if (opt.sessions) {
    write_sessions(db);
  }
  shards_destroy(shards);
  db_destroy(db);
  mongoc_client_destroy(client);
  bson_free(user_ids);
  bson_free(followees);
  bson_free(tweet_author);
  bson_free(followers_count);
  bson_free(tweet_count);
  mongoc_cleanup();
  return 0;
}
