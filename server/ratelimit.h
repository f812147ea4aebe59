/*
 * ratelimit.h - slowing down password guessing.
 *
 * Failed logins are counted per username and per client address in fixed
 * windows, in the database (collection "login_failures": {_id: "u:<name>"
 * or "a:<address>", count, window_start: Date}), so every server sees the
 * same counts.  While either count has reached its limit within the
 * window, logins for that name or from that address are refused with 429
 * and a Retry-After, even with the right password; a successful login
 * clears its username's count.  Counting is single-document and slightly
 * approximate under races (two first failures at once may count as one),
 * which is fine for a rate limit.  Thread-safe.
 */
#ifndef CHORUS_RATELIMIT_H
#define CHORUS_RATELIMIT_H

#include <stdbool.h>

#include "db.h"
#include "error.h"

#define DB_LOGIN_FAILURES "login_failures"

typedef struct ratelimit_config {
  int per_user;    /* failures per username per window */
  int per_address; /* failures per address per window */
  int window_s;
} ratelimit_config_t;

/* 429 "rate_limited" (with *retry_after seconds) when name_lc or address
 * is blocked now. */
bool ratelimit_check(db_t *db, const ratelimit_config_t *cfg,
                     const char *name_lc, const char *address,
                     int *retry_after, chorus_error_t *err);

/* Counts one failure against both. */
void ratelimit_record_failure(db_t *db, const ratelimit_config_t *cfg,
                              const char *name_lc, const char *address);

/* Forgets the username's failures (after a successful login). */
void ratelimit_reset(db_t *db, const char *name_lc);

#endif
