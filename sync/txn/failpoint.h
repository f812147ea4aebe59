/*
 * failpoint.h - crash the process at a named step of the protocol, for
 * tests.
 *
 * The step (chorusd's --test-failpoint, CHORUS_TEST_FAILPOINT) is one
 * of txn.after_begin, txn.after_prepare, txn.after_decision,
 * txn.mid_apply, txn.mid_group, txn.after_increments (txn.h).  The first
 * time a
 * transaction reaches that step the process exits at once with _exit(86):
 * no cleanup, no flushing, as if killed, so tests can prove that another
 * server finishes what this one left.
 */
#ifndef CHORUS_FAILPOINT_H
#define CHORUS_FAILPOINT_H

#include <stdbool.h>

#include "sync/base/error.h"

#define FAILPOINT_EXIT_CODE 86

typedef struct failpoint {
  char step[32]; /* "" when none is armed */
} failpoint_t;

/* Arms spec (NULL or "" for none); 400 error for an unknown step name. */
bool failpoint_init(failpoint_t *fp, const char *spec, chorus_error_t *err);

/* A txn_step_fn: ctx is the failpoint_t. */
void failpoint_hit(void *ctx, const char *step);

#endif
