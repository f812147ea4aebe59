/*
 * ratelimit.h - slowing down password guessing.
 *
 * Every login attempt first records itself (collection "login_failures":
 * {_id: ObjectId, key: "u:<name>" or "a:<address>", at: Date}, one per
 * key), then counts the attempts of its username and of its address in
 * the sliding window.  Since the j-th recorded attempt always counts at
 * least j, no more than the limit of attempts can get past the check,
 * however many arrive at once, on however many servers.  An attempt that
 * is refused (429) or whose password is right removes its records again,
 * so only failed guesses count.  Inserts and counts are the only
 * operations used: they are exact on every database (FerretDB's
 * conditional updates are not atomic, see docs/SYNC.md).  Thread-safe.
 */
#ifndef CHORUS_RATELIMIT_H
#define CHORUS_RATELIMIT_H

#include <stdbool.h>

#include "sync/base/db.h"
#include "sync/base/error.h"

#define DB_LOGIN_FAILURES "login_failures"

typedef struct ratelimit_config {
  int per_user;    /* failed logins per username per window */
  int per_address; /* failed logins per address per window */
  int window_s;
} ratelimit_config_t;

/* One login attempt's records. */
typedef struct ratelimit_attempt {
  bson_oid_t ids[2];
  bool recorded;
} ratelimit_attempt_t;

/* Records an attempt for name_lc and address and decides whether it may
 * go on: 429 "rate_limited" with *retry_after seconds when either has
 * reached its limit (the attempt is then forgotten again). */
bool ratelimit_begin(db_t *db, const ratelimit_config_t *cfg,
                     const char *name_lc, const char *address,
                     ratelimit_attempt_t *attempt, int *retry_after,
                     chorus_error_t *err);

/* Ends an attempt: a failed one keeps counting, any other is forgotten. */
void ratelimit_end(db_t *db, ratelimit_attempt_t *attempt, bool failed);

/* Creates the index of DB_LOGIN_FAILURES: key, then at. */
bool ratelimit_ensure_indexes(db_t *db, chorus_error_t *err);

#endif
