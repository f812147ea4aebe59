/*
 * ratelimit.h - how often something may happen, exact across servers:
 * failed logins, and the writes a public service limits (registrations,
 * tweets, follows, likes).  Each counter ("rule") is a key (an account,
 * an address, a username), a limit and a sliding window; a request over
 * any of its rules is refused with 429 "rate_limited" and the seconds
 * until it would pass, and a refused request does not count.  Both
 * mechanisms below rest only on inserts of a unique _id (one winner,
 * however many servers race: FerretDB's conditional updates are not
 * atomic, docs/SYNC.md) and reads; each policy has collections of its own
 * (DB_LOGIN_FAILURES, DB_RATE_<ACTION>), whose documents older than their
 * window are deleted in bulk at most once a minute per server.
 *
 * Logins: insert-then-count (ratelimit_take).  An attempt first records
 * itself, one document per key ({_id: ObjectId, key, at}, one insert for
 * all), then counts each key's documents in its window (one aggregation).
 * The j-th recorded attempt always counts at least j, so no more than the
 * limit get past.  An attempt over a limit deletes its documents again;
 * so does one whose password was right (ratelimit_forget), so that only
 * failures count.  Failures per username and address and per address are
 * refused over their limits; failures per username, from anywhere, only
 * make its attempts wait (a delay that doubles with each further failure,
 * up to a bound), so that nobody can lock an owner out by failing for
 * them.  A count reads the whole collection on FerretDB (its time grows
 * with the failures of the window, which are few).
 *
 * Writes: a numbered log per key (ratelimit_gate_pass; ratelimit.c says
 * how): an admitted write takes the next numbered slot of its key, an
 * insert of a unique _id, and goes only when the write `limit` numbers
 * before it is older than the window; everything is read by _id, so a
 * write costs the same however many others the window holds.  Nothing is
 * forgotten: a write counts once admitted, whatever its outcome.
 * Registrations per address; tweets (creations and replies), follows and
 * unfollows, likes and unlikes per account and per address; each with its
 * own window, all switched off by --rate-limits 0 (load tests).
 *
 * Thread-safe.
 */
#ifndef CHORUS_RATELIMIT_H
#define CHORUS_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "sync/base/db.h"
#include "sync/base/error.h"

/* ---- rules, and insert-then-count ---- */

#define RATELIMIT_RULES_MAX 3
#define RATELIMIT_KEY_MAX 128

/* One counter a request falls under. */
typedef struct ratelimit_rule {
  char key[RATELIMIT_KEY_MAX]; /* e.g. "a:<address>" */
  int limit;        /* records allowed in the window, the request's own
                     * included; 0: counted only, never refused */
  int window_s;     /* the sliding window, seconds (at least 1) */
  const char *what; /* for the 429's message: "tweets from this account" */
} ratelimit_rule_t;

/* What a request recorded. */
typedef struct ratelimit_ticket {
  const char *coll;
  size_t n;
  bson_oid_t ids[RATELIMIT_RULES_MAX];
  /* Records of each rule's key in its window, the request's own
   * included, when ratelimit_take counted them; else 0. */
  int64_t counts[RATELIMIT_RULES_MAX];
  bool recorded;
} ratelimit_ticket_t;

/* Records a request under rules[0..n) (n <= RATELIMIT_RULES_MAX) in the
 * collection coll and decides whether it may go on: false with 429
 * "rate_limited" and *retry_after seconds when a rule is over its limit
 * (the request is then forgotten again); false with 503/500 when the
 * database failed (the request is forgotten when the database still
 * answers).  The ticket tells ratelimit_forget what to delete. */
bool ratelimit_take(db_t *db, const char *coll, const ratelimit_rule_t *rules,
                    size_t n, ratelimit_ticket_t *ticket, int *retry_after,
                    chorus_error_t *err);

/* Deletes a request's records, so that it no longer counts. */
void ratelimit_forget(db_t *db, ratelimit_ticket_t *ticket);

/* ---- logins ---- */

#define DB_LOGIN_FAILURES "login_failures"

typedef struct ratelimit_login {
  int per_user_address; /* failed logins for one username from one
                         * address per window before 429 */
  int per_address;      /* failed logins from one address per window
                         * before 429 */
  int slow_user;        /* failed logins for one username per window, from
                         * any address, before its logins wait */
  int delay_max_ms;     /* the longest such a wait */
  int window_s;
} ratelimit_login_t;

/* The wait before a login's password is checked, when user_failures
 * records of its username (its own attempt included) are in the window:
 * none up to cfg->slow_user, then 250 ms for the first one over,
 * doubling with each further one, never over cfg->delay_max_ms. */
int ratelimit_login_delay_ms(const ratelimit_login_t *cfg,
                             int64_t user_failures);

/* Records a login attempt for name_lc (the folded username, or "invalid")
 * from address; false with 429 "rate_limited" and *retry_after when the
 * pair or the address has failed too often (the attempt is then
 * forgotten).  *delay_ms: how long the caller waits before checking the
 * password (ratelimit_login_delay_ms). */
bool ratelimit_login_begin(db_t *db, const ratelimit_login_t *cfg,
                           const char *name_lc, const char *address,
                           ratelimit_ticket_t *ticket, int *delay_ms,
                           int *retry_after, chorus_error_t *err);

/* Ends an attempt: a failed one keeps counting, any other is forgotten. */
void ratelimit_login_end(db_t *db, ratelimit_ticket_t *ticket, bool failed);

/* ---- writes ---- */

typedef enum ratelimit_action {
  RATELIMIT_REGISTER, /* per address only */
  RATELIMIT_TWEET,    /* creations and replies */
  RATELIMIT_FOLLOW,   /* follows and unfollows */
  RATELIMIT_LIKE,     /* likes and unlikes */
  RATELIMIT_ACTIONS
} ratelimit_action_t;

#define DB_RATE_REGISTRATIONS "rate_registrations"
#define DB_RATE_TWEETS "rate_tweets"
#define DB_RATE_FOLLOWS "rate_follows"
#define DB_RATE_LIKES "rate_likes"

typedef struct ratelimit_limit {
  int per_account; /* actions per account per window; 0: no limit */
  int per_address; /* actions per client address per window; 0: none */
  int window_s;
} ratelimit_limit_t;

typedef struct ratelimit_writes {
  bool enabled; /* false: no write is limited (--rate-limits 0) */
  ratelimit_limit_t of[RATELIMIT_ACTIONS];
} ratelimit_writes_t;

/* Who writes: what a limited write of the domain is counted under.  The
 * API fills one per request (api.h); NULL limits: nothing is limited. */
typedef struct ratelimit_gate {
  db_t *db;
  const ratelimit_writes_t *limits;
  const bson_oid_t *account; /* NULL: none (a registration) */
  char address[64];          /* the client's */
  int retry_after;           /* out: seconds, with a 429 */
} ratelimit_gate_t;

/* Records one action for the gate's account and address and lets it
 * pass, or refuses it: 429 "rate_limited" with gate->retry_after (the
 * action then does not count).  Called by the domain's writes once the
 * request is valid, before they write; an admitted action counts
 * whatever its outcome.  A NULL gate, or limits that are NULL or
 * disabled, pass without asking the database. */
bool ratelimit_gate_pass(ratelimit_gate_t *gate, ratelimit_action_t action,
                         chorus_error_t *err);

/* Creates the index (key, then at) of DB_LOGIN_FAILURES and of every
 * DB_RATE_* collection. */
bool ratelimit_ensure_indexes(db_t *db, chorus_error_t *err);

#endif
