/*
 * error.h - the one error type of Chorus.
 *
 * Every function that can fail takes a `chorus_error_t *err` as its last
 * argument, in the style of libbson's bson_error_t, and returns false (or
 * NULL) after filling it in.  The error carries what the HTTP layer needs to
 * answer the client: a status (400..599), a stable machine-readable code
 * ("invalid_json", "not_found", ...) and a human message.  `err` may be NULL
 * when the caller does not care.
 *
 * Thread-safety: an error value belongs to the caller; nothing is shared.
 */
#ifndef CHORUS_ERROR_H
#define CHORUS_ERROR_H

#include <bson/bson.h>
#include <stdbool.h>

typedef struct chorus_error {
  int status;        /* HTTP status; 0 means "no error" */
  char code[32];     /* stable, machine-readable, snake_case */
  char message[256]; /* for people; never contains secrets; always valid
                        UTF-8 (see chorus_error_set) */
} chorus_error_t;

void chorus_error_clear(chorus_error_t *err);

/* Fills in `err` (nothing when NULL).  The formatted message is cut to
 * the buffer and then made valid UTF-8: a byte that starts no complete,
 * valid sequence (text quoted from a client's body, a sequence cut by the
 * buffer's end) becomes '?', so that every error can be rendered as JSON. */
void chorus_error_set(chorus_error_t *err, int status, const char *code,
                      const char *fmt, ...) BSON_GNUC_PRINTF(4, 5);

/* Translates a driver error into a Chorus error: network and server
 * selection failures become 503 "db_unavailable" (the client may retry);
 * anything else becomes 500 "db_error".  `what` names the operation for the
 * server log; the client message stays generic. */
void chorus_error_from_bson(chorus_error_t *err, const bson_error_t *berr,
                            const char *what);

/* True when a driver error is a duplicate key (E11000) write error. */
bool chorus_bson_error_is_duplicate(const bson_error_t *berr);

#endif
