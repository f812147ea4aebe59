/*
 * error.c - filling in chorus_error_t, and mapping driver errors onto HTTP.
 *
 * The mapping is deliberately coarse: a client can do one of two things
 * with a database failure, retry later (503) or give up (500).  The driver's
 * own message goes to the server log, never to the client.
 */
#include "sync/base/error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mongoc/mongoc.h>

void chorus_error_clear(chorus_error_t *err) {
  if (err) {
    memset(err, 0, sizeof *err);
  }
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_sequence_length(const char *s, size_t n) {
  unsigned char lead = (unsigned char)s[0];
  size_t len = lead < 0x80   ? 1
               : lead < 0xC2 ? 0
               : lead < 0xE0 ? 2
               : lead < 0xF0 ? 3
               : lead < 0xF5 ? 4
                             : 0;
  if (len == 0 || len > n || !bson_utf8_validate(s, len, false)) {
    return 0;
  }
  return len;
}

static void utf8_repair(char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t len = utf8_sequence_length(s + i, n - i);
    if (len == 0) {
      s[i] = '?';
      len = 1;
    }
    i += len;
  }
  assert(bson_utf8_validate(s, n, false));
}

void chorus_error_set(chorus_error_t *err, int status, const char *code,
                      const char *fmt, ...) {
  if (!err) {
    return;
  }
  err->status = status;
  bson_strncpy(err->code, code, sizeof err->code);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  utf8_repair(err->message);
}

bool chorus_bson_error_is_duplicate(const bson_error_t *berr) {
  return berr->code == 11000 || berr->code == 11001 ||
         strstr(berr->message, "E11000") != NULL;
}

static bool bson_error_is_unavailable(const bson_error_t *berr) {
  switch (berr->domain) {
  case MONGOC_ERROR_STREAM:
  case MONGOC_ERROR_SERVER_SELECTION:
  case MONGOC_ERROR_CLIENT:
    return true;
  default:
    break;
  }
  /* Server-side "not primary" and shutdown codes: a replica set election
   * or a restarting server.  Retrying later is the right answer. */
  switch (berr->code) {
  case 91:    /* ShutdownInProgress */
  case 189:   /* PrimarySteppedDown */
  case 10107: /* NotWritablePrimary */
  case 11600: /* InterruptedAtShutdown */
  case 11602: /* InterruptedDueToReplStateChange */
  case 13435: /* NotPrimaryNoSecondaryOk */
  case 13436: /* NotPrimaryOrSecondary */
    return true;
  default:
    return false;
  }
}

void chorus_error_from_bson(chorus_error_t *err, const bson_error_t *berr,
                            const char *what) {
  fprintf(stderr, "chorusd: database error during %s: %s (domain %u code %u)\n",
          what, berr->message, berr->domain, berr->code);
  if (bson_error_is_unavailable(berr)) {
    chorus_error_set(err, 503, "db_unavailable",
                     "The database is unavailable; try again shortly");
  } else {
    chorus_error_set(err, 500, "db_error", "A database error occurred");
  }
}
