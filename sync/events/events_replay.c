/*
 * events_replay.c - reading back from the log (events_read_since), for
 * clients that reconnect, with the numbers the log lacks yet filled from
 * the bells; see events.h, "Reading".
 */
#include "sync/events/events_internal.h"

#include <stdlib.h>

#include "sync/base/bsonx.h"

void events_free(event_t *events, size_t n) {
  for (size_t i = 0; i < n; i++) {
    event_cleanup(&events[i]);
  }
  bson_free(events);
}

static int event_seq_cmp(const void *a, const void *b) {
  int64_t x = ((const event_t *)a)->seq, y = ((const event_t *)b)->seq;
  return (x > y) - (x < y);
}

/* The numbers in (since, upto] that events (n of them, ascending) lack
 * are read from the bells, and merged in: an event the pollers delivered
 * before its publisher wrote its log copy (the copy waits on the database,
 * or the publisher died before it and the pump writes it seconds later).
 * A client resuming in that window saw nothing of it live (it was not
 * connected yet) and would not find it in the log.  At most RESUME_FILL
 * numbers are looked up (each an index search); a number in neither the
 * log nor the bells was lost and is skipped, as the pollers do.  Keeps at
 * most max events. */
#define RESUME_FILL 32
static void fill_from_bells(events_t *ev, int64_t since, int64_t upto,
                            size_t max, event_t **events, size_t *n) {
  if (*n == max && *n > 0 && (*events)[*n - 1].seq < upto) {
    upto = (*events)[*n - 1].seq; /* truncated: only gaps below its end */
  }
  int64_t missing[RESUME_FILL];
  size_t n_missing = 0, i = 0;
  for (int64_t seq = since + 1; seq <= upto && n_missing < RESUME_FILL; seq++) {
    while (i < *n && (*events)[i].seq < seq) {
      i++;
    }
    if (i >= *n || (*events)[i].seq != seq) {
      missing[n_missing++] = seq;
    }
  }
  if (n_missing == 0) {
    return;
  }
  *events = bson_realloc(*events, sizeof **events * (*n + n_missing + 1));
  size_t found = 0;
  for (size_t k = 0; k < n_missing; k++) {
    bson_t *bell = NULL;
    if (events_find_bell(ev, missing[k], &bell) && bell) {
      event_t *e = &(*events)[*n + found];
      if (event_from_bson(bell, e)) {
        found++;
      } else {
        event_cleanup(e);
      }
    }
    if (bell) {
      bson_destroy(bell);
    }
  }
  if (found == 0) {
    return;
  }
  *n += found;
  qsort(*events, *n, sizeof **events, event_seq_cmp);
  while (*n > max) {
    event_cleanup(&(*events)[--*n]);
  }
}

bool events_read_since(events_t *ev, int64_t since, size_t max,
                       event_t **events, size_t *n, bool *gone,
                       chorus_error_t *err) {
  *events = NULL;
  *n = 0;
  *gone = false;
  /* Every event delivered before the caller's client was registered is
   * numbered up to this, or one more: the poller stores the head after
   * its listener has run (fill_from_bells; the caller drops what it has
   * already sent, so one number too many is harmless, one too few not). */
  int64_t delivered = atomic_load(&ev->head) + 1;
  /* The oldest kept event must be at most since + 1. */
  bson_t empty = BSON_INITIALIZER;
  bson_t *asc = BCON_NEW("_id", BCON_INT32(1));
  bson_t *oldest = NULL;
  if (!events_find_first(ev, DB_LOG, &empty, asc, &oldest)) {
    bson_destroy(asc);
    chorus_error_set(err, 503, "db_unavailable",
                     "The database is unavailable; try again shortly");
    return false;
  }
  bson_iter_t it;
  int64_t first = 0;
  if (oldest && bson_iter_init_find(&it, oldest, "_id")) {
    first = bsonx_as_int64(&it);
  }
  if (oldest) {
    bson_destroy(oldest);
  }
  int64_t head = atomic_load(&ev->head);
  if ((first > since + 1) || (first == 0 && since < head)) {
    *gone = true;
    bson_destroy(asc);
    return true;
  }
  mongoc_client_t *client = db_acquire(ev->db);
  if (!client) {
    bson_destroy(asc);
    db_error_unavailable(err);
    return false;
  }
  bson_t *filter = BCON_NEW("_id", "{", "$gt", BCON_INT64(since), "}");
  mongoc_collection_t *coll = db_collection(ev->db, client, DB_LOG);
  bson_t opts = BSON_INITIALIZER;
  BSON_APPEND_DOCUMENT(&opts, "sort", asc);
  BSON_APPEND_INT64(&opts, "limit", (int64_t)max);
  mongoc_cursor_t *cursor =
      mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
  const bson_t *doc;
  *events = bson_malloc0(sizeof **events * (max + 1));
  while (*n < max && mongoc_cursor_next(cursor, &doc)) {
    if (event_from_bson(doc, &(*events)[*n])) {
      (*n)++;
    } else {
      event_cleanup(&(*events)[*n]);
    }
  }
  bson_error_t berr;
  bool ok = !mongoc_cursor_error(cursor, &berr);
  if (!ok) {
    chorus_error_from_bson(err, &berr, "read event log");
  }
  mongoc_cursor_destroy(cursor);
  bson_destroy(&opts);
  mongoc_collection_destroy(coll);
  db_release(ev->db, client);
  bson_destroy(filter);
  bson_destroy(asc);
  if (ok) {
    fill_from_bells(ev, since, delivered, max, events, n);
  }
  return ok;
}