/*
 * failpoint.c - see failpoint.h.
 */
#include "sync/txn/failpoint.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const known_steps[] = {
    "txn.after_begin", "txn.after_prepare", "txn.after_decision",
    "txn.mid_apply",   "txn.mid_group",     "txn.after_increments",
};

bool failpoint_init(failpoint_t *fp, const char *spec, chorus_error_t *err) {
  memset(fp, 0, sizeof *fp);
  if (!spec || !spec[0]) {
    return true;
  }
  for (size_t i = 0; i < sizeof known_steps / sizeof known_steps[0]; i++) {
    if (!strcmp(spec, known_steps[i])) {
      bson_strncpy(fp->step, spec, sizeof fp->step);
      return true;
    }
  }
  chorus_error_set(err, 400, "bad_config",
                   "unknown failpoint '%s' (txn.after_begin, "
                   "txn.after_prepare, txn.after_decision, txn.mid_apply, "
                   "txn.mid_group, txn.after_increments)",
                   spec);
  return false;
}

void failpoint_hit(void *ctx, const char *step) {
  const failpoint_t *fp = ctx;
  if (fp && fp->step[0] && !strcmp(fp->step, step)) {
    static const char msg[] = "chorusd: failpoint reached, exiting now\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
      /* nothing more to do: we are exiting */
    }
    _exit(FAILPOINT_EXIT_CODE);
  }
}
