/*
 * harness.h - real chorusd processes and direct database checks for the
 * integration tests that crash servers on purpose.
 *
 * tc_server_* start `chorusd` (the binary in CHORUS_TEST_CHORUSD) on a
 * free port against CHORUS_TEST_MONGO_URI, wait for /healthz, and kill or
 * stop it.  tc_db_* open the test database with mongo-c-driver to check
 * invariants that no API shows (locks, unfinished transactions, stored
 * counters against true counts).  tc_nginx_* put nginx in front of
 * servers, tc_dbserver_* start a database server of the test's own.
 * These are test tools: they abort the test on unexpected failures.
 */
#ifndef CHORUS_HARNESS_H
#define CHORUS_HARNESS_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sync/txn/store_mongo.h"

typedef struct tc_server {
  pid_t pid; /* 0 when not running */
  int port;
  int ws_port; /* chosen free too: never HTTP port + 1000 by chance */
  char url[64];
  char id[32];
  char db[64];
  char log[256];
  char failpoint[32];
  int shards;
  char extra[512]; /* further flags, space-separated */
} tc_server_t;

/* A TCP port nobody listens on now. */
int tc_free_port(void);

/* Prepares s (no process yet): a fresh port, the given id and database. */
void tc_server_init(tc_server_t *s, const char *id, const char *db);

/* Starts it (failpoint "" for none) and waits up to 20 s for /healthz;
 * false if it did not come up (its log is printed). */
bool tc_server_start(tc_server_t *s);

/* Sends sig and reaps the process; returns its wait status. */
int tc_server_kill(tc_server_t *s, int sig);

/* Waits up to timeout_ms for the process to exit by itself; returns its
 * exit code, or -1 if it is still running (then it is left running). */
int tc_server_wait_exit(tc_server_t *s, int timeout_ms);

/* Two servers of a test's own on a fresh database, with extra flags. */
typedef struct tc_pair {
  tc_server_t s[2];
  char db[64];
} tc_pair_t;

/* Starts servers "<tag>_a" and "<tag>_b" with the flags in extra on the
 * database "<prefix>_<tag>_<pid>" (asserting that both came up).  A
 * pair is remembered until tc_pair_stop, so that tc_pairs_stop_all (a
 * group teardown) stops the pairs of tests that failed: p must outlive
 * the test (static). */
void tc_pair_start(tc_pair_t *p, const char *prefix, const char *tag,
                   const char *extra);

/* Stops both servers (SIGTERM) and drops the database. */
void tc_pair_stop(tc_pair_t *p);

/* Stops every pair still running. */
void tc_pairs_stop_all(void);

typedef struct tc_db {
  mongoc_client_t *client;
  mongoc_database_t *db;
  char name[64];
} tc_db_t;

/* Opens database name at CHORUS_TEST_MONGO_URI (or uri when not NULL). */
void tc_db_open(tc_db_t *d, const char *uri, const char *name);
void tc_db_close(tc_db_t *d);
void tc_db_drop(tc_db_t *d);

/* Whether d's deployment is FerretDB (buildInfo says so). */
bool tc_db_is_ferretdb(tc_db_t *d);

int64_t tc_db_count(tc_db_t *d, const char *coll, const bson_t *filter);

/* Transactions not finished: a record not done whose open marker is
 * still there (a group's finish deletes only the marker). */
int64_t tc_db_unfinished_txns(tc_db_t *d);

/* tc_db_count of the log's collection `which` (records, decisions,
 * claims) of the minute of txn_id (store_mongo_log_coll). */
int64_t tc_db_count_log(tc_db_t *d, store_mongo_log_t which, const char *txn_id,
                        const bson_t *filter);

/* The same over every minute of the log. */
int64_t tc_db_count_logs(tc_db_t *d, store_mongo_log_t which,
                         const bson_t *filter);

/* Documents carrying a lock, over users and tweets_0..n_shards-1 (dbs[k]
 * is shard k's database, NULL for d). */
int64_t tc_db_locked_docs(tc_db_t *d, int n_shards, tc_db_t **dbs);

/* Checks that every user's stored tweet_count equals the number of its
 * tweets over all shards.  Returns the number of users that disagree and
 * prints each. */
int tc_db_tweet_count_mismatches(tc_db_t *d, int n_shards, tc_db_t **dbs);

/* Current milliseconds (monotonic). */
int64_t tc_now_ms(void);
/* Wall-clock milliseconds since the epoch: for dates written to the
 * database (tc_now_ms is monotonic, for measuring intervals). */
int64_t tc_wall_ms(void);
void tc_sleep_ms(int ms);

/* ---- social counters (follows, likes, replies) ---- */

/* Documents carrying a lock in the main database's collection coll. */
int64_t tc_db_locked_in(tc_db_t *d, const char *coll);

/* Waits up to timeout_ms until no transaction is unfinished, no document
 * carries a staged change (users, tweet shards, follows, likes,
 * notifications) and no lock document is left (collection "locks" of
 * the main and the shard databases); false on timeout. */
bool tc_db_wait_settled(tc_db_t *d, int n_shards, tc_db_t **dbs,
                        int timeout_ms);

/* Counts the documents matching filter over tweets_0..n_shards-1. */
int64_t tc_db_count_tweets(tc_db_t *d, int n_shards, tc_db_t **dbs,
                           const bson_t *filter);

/* Whether the tweet whose id is id_hex exists (once) over
 * tweets_0..n_shards-1 (dbs as in tc_db_count_tweets). */
bool tc_db_has_tweet(tc_db_t *d, int n_shards, tc_db_t **dbs,
                     const char *id_hex);

/* The _id of the user named username (any letter case); false if none. */
bool tc_db_user_oid(tc_db_t *d, const char *username, bson_oid_t *out);

/* Recounts every stored counter from the documents it counts and returns
 * how many disagree, printing each: users.followers_count (follows with
 * that followee_id), users.following_count (follows with that
 * follower_id), users.tweet_count (tweets by author_id over all shards),
 * and for every tweet like_count (likes with that tweet_id),
 * reply_count (existing tweets whose reply_to is its _id), repost_count
 * (reposts with that tweet_id) and quote_count (existing tweets whose
 * quote_of is its _id).  An absent counter reads as 0.  Call it once
 * tc_db_wait_settled is true. */
int tc_db_counter_mismatches(tc_db_t *d, int n_shards, tc_db_t **dbs);

/* ---- nginx in front of chorusd servers (scripts/nginx.conf) ---- */

typedef struct tc_nginx {
  pid_t pid;        /* 0 when not running */
  int port;         /* where it listens, on 127.0.0.1 */
  char url[64];     /* http://127.0.0.1:port */
  char prefix[256]; /* its directory: nginx.conf, nginx.pid, logs/, tmp/ */
} tc_nginx_t;

/* The nginx binary: the one on PATH, else /usr/sbin/nginx; false when
 * there is none. */
bool tc_nginx_find(char *path, size_t size);

/* Prepares n (no process yet): a free port and its url, for servers that
 * must know nginx's origin (--public-origin) before it starts. */
void tc_nginx_init(tc_nginx_t *n);

/* Renders the template (scripts/nginx.conf: @PREFIX@, @LISTEN@, and one
 * line per server for lines holding @HTTP_SERVER@ / @WS_SERVER@, from
 * servers[k].port and .ws_port) into a fresh directory under
 * CHORUS_TEST_LOG_DIR (else /tmp), starts nginx there on n's port
 * (tc_nginx_init; a free one when n is zeroed) in
 * the foreground as a child of this process (it gets SIGTERM should this
 * process die first) and waits up to 10 s for GET /healthz through it to
 * answer 200.  False when nginx is missing or did not come up (its error
 * log is printed). */
bool tc_nginx_start(tc_nginx_t *n, const char *template_path,
                    const tc_server_t *servers, int n_servers);

/* Stops it (TERM, then KILL after 5 s) and reaps it; fine when it is not
 * running. */
void tc_nginx_stop(tc_nginx_t *n);

/* ---- a database server of the test's own (scripts/mongo-setup.sh) ---- */

typedef struct tc_dbserver {
  char dir[200]; /* its directory: data, logs, pid files */
  int port;
  char uri[160]; /* set by tc_dbserver_start */
} tc_dbserver_t;

/* Prepares d (no process yet): a free port, and the directory
 * CHORUS_TEST_LOG_DIR/<name>-<port> (else under /tmp), where
 * scripts/test.sh finds and stops it should the test die first. */
void tc_dbserver_init(tc_dbserver_t *d, const char *name);

/* Runs CHORUS_TEST_MONGO_SETUP (scripts/mongo-setup.sh) verb ("start",
 * "stop") on d, its output on stderr; returns the command's status (0:
 * done). */
int tc_dbserver_run(const tc_dbserver_t *d, const char *verb);

/* Starts it (asserting that it did) and sets d->uri to its URI. */
void tc_dbserver_start(tc_dbserver_t *d);

/* ---- the end of two-phase commits ---- */

/* Waits up to timeout_ms until no transaction is unfinished and no user or
 * tweet (tweets_0..n_shards-1, dbs as in tc_db_locked_docs) is locked;
 * false on timeout. */
bool tc_db_wait_finished(tc_db_t *d, int n_shards, tc_db_t **dbs,
                         int timeout_ms);

#endif
