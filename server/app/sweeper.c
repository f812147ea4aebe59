/*
 * sweeper.c - see sweeper.h.
 */
#include "server/app/sweeper.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

struct sweeper {
  media_store_t *store;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool stopping;
  media_sweep_stats_t stats;
};

/* The period of the unattached sweep, in ms. */
static int64_t unattached_period_ms(const media_store_t *store) {
  int64_t p = media_store_config(store)->unattached_ms / 10;
  return p < 1000 ? 1000 : p > 60000 ? 60000 : p;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits ms or until stopped; false when stopping. */
static bool nap(sweeper_t *s, int64_t ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&s->lock);
  while (!s->stopping &&
         pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT) {
  }
  bool go_on = !s->stopping;
  pthread_mutex_unlock(&s->lock);
  return go_on;
}

static void *sweeper_main(void *arg) {
  sweeper_t *s = arg;
  int64_t next_unattached = 0;
  db_write_priority(WRITE_PRIORITY_BACKGROUND);
  while (nap(s, SWEEPER_TRASH_MS)) {
    media_sweep_stats_t got = {0, 0, 0};
    chorus_error_t err;
    /* A failure is tried again at the next tick; the database's outage
     * is logged where it is noticed. */
    media_sweep_trash(s->store, &got, &err);
    if (mono_ms() >= next_unattached) {
      media_sweep_unattached(s->store, &got, &err);
      next_unattached = mono_ms() + unattached_period_ms(s->store);
    }
    pthread_mutex_lock(&s->lock);
    s->stats.removed += got.removed;
    s->stats.purged += got.purged;
    s->stats.files += got.files;
    pthread_mutex_unlock(&s->lock);
  }
  return NULL;
}

sweeper_t *sweeper_start(media_store_t *store, chorus_error_t *err) {
  sweeper_t *s = bson_malloc0(sizeof *s);
  s->store = store;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->wake, NULL);
  if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
    chorus_error_set(err, 500, "internal", "cannot start the media sweeper");
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    bson_free(s);
    return NULL;
  }
  return s;
}

void sweeper_stop(sweeper_t *s) {
  if (!s) {
    return;
  }
  pthread_mutex_lock(&s->lock);
  s->stopping = true;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->lock);
  bson_free(s);
}

void sweeper_stats(sweeper_t *s, media_sweep_stats_t *out) {
  pthread_mutex_lock(&s->lock);
  *out = s->stats;
  pthread_mutex_unlock(&s->lock);
}
