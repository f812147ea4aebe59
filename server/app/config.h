/*
 * config.h - chorusd's settings: command-line flags with environment twins.
 *
 * Precedence: flag, then environment variable, then built-in default.
 * The table in config.c is the single source of the flags, their variables,
 * defaults and --help text (also reproduced in README.md).  The switches
 * that exist only for tests are named --test-* (CHORUS_TEST_*), come last
 * in the table and in --help (under their own heading), and live in
 * chorus_config_t.test.
 */
#ifndef CHORUS_CONFIG_H
#define CHORUS_CONFIG_H

#include <limits.h>
#include <stdio.h>

#include "sync/base/error.h"

#define CONFIG_SHARDS_MAX 64

typedef struct chorus_config {
  char host[256];            /* --host, CHORUS_HOST */
  int port;                  /* --port, CHORUS_PORT */
  int ws_port;               /* --ws-port, CHORUS_WS_PORT (0: port + 1000) */
  int ws_threads;            /* --ws-threads, CHORUS_WS_THREADS (0: CPUs) */
  char mongo_uri[2048];      /* --mongo-uri, CHORUS_MONGO_URI */
  char db_name[64];          /* --db, CHORUS_DB */
  char server_id[64];        /* --server-id, CHORUS_SERVER_ID */
  char public_dir[PATH_MAX]; /* --public-dir, CHORUS_PUBLIC_DIR */
  int threads;               /* --threads, CHORUS_THREADS */
  int shards;                /* --shards, CHORUS_SHARDS */
  /* --shard K=URI (repeatable), CHORUS_SHARD_URIS="K=URI;K=URI" */
  char shard_uris[CONFIG_SHARDS_MAX][512];
  int txn_lease_ms;             /* --txn-lease-ms, CHORUS_TXN_LEASE_MS */
  int login_limit_user_address; /* --login-limit-user-address */
  int login_limit_address;      /* --login-limit-address */
  int login_slow_user;          /* --login-slow-user */
  int login_delay_max_ms;       /* --login-delay-max-ms */
  int login_window_s;           /* --login-window-s */
  int rate_limits;              /* --rate-limits 0|1: the --limit-* below */
  int limit_register_address;   /* --limit-register-address */
  int limit_register_window_s;  /* --limit-register-window-s */
  int limit_tweet_account;      /* --limit-tweet-account */
  int limit_tweet_address;      /* --limit-tweet-address */
  int limit_tweet_window_s;     /* --limit-tweet-window-s */
  int limit_follow_account;     /* --limit-follow-account */
  int limit_follow_address;     /* --limit-follow-address */
  int limit_follow_window_s;    /* --limit-follow-window-s */
  int limit_like_account;       /* --limit-like-account */
  int limit_like_address;       /* --limit-like-address */
  int limit_like_window_s;      /* --limit-like-window-s */
  int log_requests;             /* --log-requests 0|1 */
  /* --trusted-proxy, CHORUS_TRUSTED_PROXIES: comma-separated addresses of
   * proxies whose X-Real-IP names the client ("" : none) */
  char trusted_proxies[512];
  /* --public-origin, CHORUS_PUBLIC_ORIGINS: comma-separated origins of
   * the pages that may write and open WebSockets ("": this server's own
   * addresses, origins_default) */
  char public_origins[1024];
  int read_model;        /* --read-model 0|1 (model.h) */
  int model_per_author;  /* --model-per-author: tweets kept per author */
  int model_ring;        /* --model-ring: newest tweets kept overall */
  int read_staleness_ms; /* --read-staleness-ms (events_sync) */
  int db_slow_ms;        /* --db-slow-ms, CHORUS_DB_SLOW_MS (0: off) */
  char db_filters[8];    /* --db-filters auto|id|full (db.h) */
  int db_write_gate;     /* --db-write-gate (-1: auto; db.h) */
  /* --http-*: what one HTTP client may hold (server/http/guard.h) */
  int http_per_address;     /* --http-per-address (0: no cap) */
  int http_head_timeout_ms; /* --http-head-timeout-ms */
  int http_body_timeout_ms; /* --http-body-timeout-ms */
  int http_idle_timeout_ms; /* --http-idle-timeout-ms */
  int http_spare_workers;   /* --http-spare-workers (-1: threads / 8) */
  /* --media-*: uploads and their storage (server/domain/media.h) */
  int media_quota_mb;     /* --media-quota-mb: per user */
  int media_uploads;      /* --media-uploads: processed at once */
  int media_cache_mb;     /* --media-cache-mb: files kept in memory */
  int media_unattached_s; /* --media-unattached-s: unused uploads kept */
  /* Switches that exist only for the tests (--test-*; never set in
   * production). */
  struct {
    char failpoint[32];  /* --test-failpoint (failpoint.h) */
    int resume_delay_ms; /* --test-resume-delay-ms (hub.h) */
  } test;
} chorus_config_t;

typedef enum {
  CONFIG_OK,    /* run the server */
  CONFIG_EXIT,  /* --help or --version was printed; exit 0 */
  CONFIG_ERROR, /* err says what is wrong; exit 2 */
} config_result_t;

/* Fills cfg from defaults, the environment and argv. */
config_result_t config_parse(chorus_config_t *cfg, int argc, char **argv,
                             FILE *out, chorus_error_t *err);

void config_usage(FILE *out);

#endif
