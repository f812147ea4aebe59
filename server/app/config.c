/*
 * config.c - see config.h.
 *
 * Each option is one row of `options`: the long flag, its environment
 * twin, the default, where it is stored and how it is checked.  Parsing
 * reads argv first, then takes for each option its flag, else its
 * variable, else its default, and validates that one value with the same
 * setter whatever its source.
 */
#include "server/app/config.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/http/origin.h"

#define CHORUS_VERSION "0.1.0"

/* OPT_LIST: a comma-separated list; each occurrence of the flag adds its
 * entries, the variable gives the whole list. */
typedef enum { OPT_STRING, OPT_LIST, OPT_INT, OPT_SHARD_URIS } opt_kind_t;

typedef struct option_spec {
  const char *flag;
  const char *env;
  const char *def;
  opt_kind_t kind;
  size_t offset; /* into chorus_config_t */
  size_t size;   /* of the string buffer */
  long min, max; /* for OPT_INT */
  const char *help;
} option_spec_t;

#define STR_OPT(field)                                                         \
  OPT_STRING, offsetof(chorus_config_t, field),                                \
      sizeof(((chorus_config_t *)0)->field), 0, 0
#define LIST_OPT(field)                                                        \
  OPT_LIST, offsetof(chorus_config_t, field),                                  \
      sizeof(((chorus_config_t *)0)->field), 0, 0
#define INT_OPT(field, lo, hi)                                                 \
  OPT_INT, offsetof(chorus_config_t, field), 0, lo, hi

static const option_spec_t options[] = {
    {"host", "CHORUS_HOST", "127.0.0.1", STR_OPT(host),
     "address to listen on (0.0.0.0 for every interface)"},
    {"port", "CHORUS_PORT", "8080", INT_OPT(port, 1, 65535), "HTTP port"},
    {"ws-port", "CHORUS_WS_PORT", "0", INT_OPT(ws_port, 0, 65535),
     "WebSocket port (0: the HTTP port + 1000)"},
    {"ws-threads", "CHORUS_WS_THREADS", "0", INT_OPT(ws_threads, 0, 16),
     "WebSocket service threads sharing the port (0: one per CPU)"},
    {"mongo-uri", "CHORUS_MONGO_URI",
     "mongodb://127.0.0.1:27017/?replicaSet=rs0", STR_OPT(mongo_uri),
     "MongoDB connection string (a replica set or FerretDB)"},
    {"db", "CHORUS_DB", "chorus", STR_OPT(db_name), "database name"},
    {"server-id", "CHORUS_SERVER_ID", "", STR_OPT(server_id),
     "name of this server in logs and the X-Chorus-Server header"},
    {"public-dir", "CHORUS_PUBLIC_DIR", "public", STR_OPT(public_dir),
     "directory of the web client's files"},
    {"threads", "CHORUS_THREADS", "128", INT_OPT(threads, 2, 1024),
     "HTTP worker threads (also the database pool size); civetweb holds "
     "one per open connection, so keep it well above --http-per-address"},
    {"shards", "CHORUS_SHARDS", "4", INT_OPT(shards, 1, CONFIG_SHARDS_MAX),
     "number of tweet shard collections (fixed per database)"},
    {"shard", "CHORUS_SHARD_URIS", "", OPT_SHARD_URIS, 0, 0, 0, 0,
     "K=URI: keep shard K in another deployment (repeatable; the "
     "variable takes K=URI;K=URI)"},
    {"txn-lease-ms", "CHORUS_TXN_LEASE_MS", "2000",
     INT_OPT(txn_lease_ms, 1000, 600000),
     "ms before another server may finish a transaction"},
    {"login-limit-user-address", "CHORUS_LOGIN_LIMIT_USER_ADDRESS", "10",
     INT_OPT(login_limit_user_address, 1, 1000000),
     "failed logins for one username from one client address per window "
     "before 429"},
    {"login-limit-address", "CHORUS_LOGIN_LIMIT_ADDRESS", "50",
     INT_OPT(login_limit_address, 1, 1000000),
     "failed logins per client address per window before 429"},
    {"login-slow-user", "CHORUS_LOGIN_SLOW_USER", "10",
     INT_OPT(login_slow_user, 1, 1000000),
     "failed logins for one username from any address per window after "
     "which its logins wait (250 ms, doubling per further failure; never "
     "refused)"},
    {"login-delay-max-ms", "CHORUS_LOGIN_DELAY_MAX_MS", "2000",
     INT_OPT(login_delay_max_ms, 0, 10000),
     "the longest such a wait, ms (0: no wait)"},
    {"login-window-s", "CHORUS_LOGIN_WINDOW_S", "300",
     INT_OPT(login_window_s, 1, 86400), "login rate-limit window, seconds"},
    {"rate-limits", "CHORUS_RATE_LIMITS", "1", INT_OPT(rate_limits, 0, 1),
     "limit registrations, tweets, follows and likes as the --limit-* "
     "options say (0: no write is limited, for load tests and benchmarks; "
     "the login limits stay)"},
    {"limit-register-address", "CHORUS_LIMIT_REGISTER_ADDRESS", "10",
     INT_OPT(limit_register_address, 0, 1000000),
     "registrations per client address per window (0: no limit)"},
    {"limit-register-window-s", "CHORUS_LIMIT_REGISTER_WINDOW_S", "3600",
     INT_OPT(limit_register_window_s, 1, 86400),
     "registration limit window, seconds"},
    {"limit-tweet-account", "CHORUS_LIMIT_TWEET_ACCOUNT", "30",
     INT_OPT(limit_tweet_account, 0, 1000000),
     "tweets and replies per account per window (0: no limit)"},
    {"limit-tweet-address", "CHORUS_LIMIT_TWEET_ADDRESS", "150",
     INT_OPT(limit_tweet_address, 0, 1000000),
     "tweets and replies per client address per window (0: no limit)"},
    {"limit-tweet-window-s", "CHORUS_LIMIT_TWEET_WINDOW_S", "600",
     INT_OPT(limit_tweet_window_s, 1, 86400), "tweet limit window, seconds"},
    {"limit-follow-account", "CHORUS_LIMIT_FOLLOW_ACCOUNT", "30",
     INT_OPT(limit_follow_account, 0, 1000000),
     "follows and unfollows per account per window (0: no limit)"},
    {"limit-follow-address", "CHORUS_LIMIT_FOLLOW_ADDRESS", "150",
     INT_OPT(limit_follow_address, 0, 1000000),
     "follows and unfollows per client address per window (0: no limit)"},
    {"limit-follow-window-s", "CHORUS_LIMIT_FOLLOW_WINDOW_S", "600",
     INT_OPT(limit_follow_window_s, 1, 86400), "follow limit window, seconds"},
    {"limit-like-account", "CHORUS_LIMIT_LIKE_ACCOUNT", "60",
     INT_OPT(limit_like_account, 0, 1000000),
     "likes and unlikes per account per window (0: no limit)"},
    {"limit-like-address", "CHORUS_LIMIT_LIKE_ADDRESS", "300",
     INT_OPT(limit_like_address, 0, 1000000),
     "likes and unlikes per client address per window (0: no limit)"},
    {"limit-like-window-s", "CHORUS_LIMIT_LIKE_WINDOW_S", "600",
     INT_OPT(limit_like_window_s, 1, 86400), "like limit window, seconds"},
    {"log-requests", "CHORUS_LOG_REQUESTS", "1", INT_OPT(log_requests, 0, 1),
     "one JSON line per API request on stderr (5xx are always logged)"},
    {"trusted-proxy", "CHORUS_TRUSTED_PROXIES", "", LIST_OPT(trusted_proxies),
     "comma-separated proxy addresses (e.g. 127.0.0.1 for the nginx of "
     "run.sh --lb) whose X-Real-IP header is taken as the client's "
     "address (login rate limit, logs); repeatable, each adds"},
    {"public-origin", "CHORUS_PUBLIC_ORIGINS", "", LIST_OPT(public_origins),
     "comma-separated origins (scheme://host[:port]) of the pages that may "
     "change state and open WebSockets, e.g. https://chorus.example, or "
     "http://localhost:8000 for the nginx of run.sh --lb; repeatable, each "
     "adds"},
    {"read-model", "CHORUS_READ_MODEL", "1", INT_OPT(read_model, 0, 1),
     "answer the home feed, the timeline and session lookups from memory "
     "kept in step with the event log (0: always ask the database)"},
    {"model-per-author", "CHORUS_MODEL_PER_AUTHOR", "64",
     INT_OPT(model_per_author, 1, 100000),
     "read model: newest tweets kept per author"},
    {"model-ring", "CHORUS_MODEL_RING", "1024",
     INT_OPT(model_ring, 1, 10000000),
     "read model: newest tweets of everyone kept for the timeline"},
    {"read-staleness-ms", "CHORUS_READ_STALENESS_MS", "20",
     INT_OPT(read_staleness_ms, 0, 1000),
     "read model: a read may miss another server's writes acknowledged "
     "less than this many ms before it, unless its client knows of them "
     "(the chorus_seen cookie of their answers) and never this server's "
     "own; saves a database round trip per read (0: exact)"},
    {"db-slow-ms", "CHORUS_DB_SLOW_MS", "0", INT_OPT(db_slow_ms, 0, 600000),
     "log every database command that takes at least this many ms (one "
     "JSON line on stderr; 0: off)"},
    {"db-write-gate", "CHORUS_DB_WRITE_GATE", "-1",
     INT_OPT(db_write_gate, -1, 4096),
     "write commands in flight at once from this server to the database; "
     "the rest wait for a free place, not in arrival order, at most 1 s "
     "each (-1: 1 on FerretDB, whose SQLite writes one at a time, no "
     "limit on MongoDB; 0: no limit)"},
    {"db-filters", "CHORUS_DB_FILTERS", "auto", STR_OPT(db_filters),
     "how 2PC writes find their document: id (by _id alone, after a "
     "read; what FerretDB can do fast), full (the write's own filter "
     "checks the lock; MongoDB), auto (id on FerretDB, else full)"},
    /* What one slow, idle or greedy HTTP client may hold of the workers
     * (server/http/guard.h; docs/OPERATIONS.md, "Slow and hostile
     * clients"). */
    {"http-per-address", "CHORUS_HTTP_PER_ADDRESS", "32",
     INT_OPT(http_per_address, 0, 1000000),
     "HTTP connections open at once from one client address (IPv6: one "
     "/64); a new one at the cap closes that address's longest-idle "
     "kept-alive connection, or gets 503 when it has none (0: no cap; "
     "--trusted-proxy peers are never capped)"},
    {"http-head-timeout-ms", "CHORUS_HTTP_HEAD_TIMEOUT_MS", "5000",
     INT_OPT(http_head_timeout_ms, 100, 600000),
     "ms for a whole request head, however it trickles in, from the moment "
     "a worker takes the connection; then the connection is closed"},
    {"http-body-timeout-ms", "CHORUS_HTTP_BODY_TIMEOUT_MS", "10000",
     INT_OPT(http_body_timeout_ms, 100, 600000),
     "ms for a whole request body from the end of its head; then 408 and "
     "the connection is closed"},
    {"http-idle-timeout-ms", "CHORUS_HTTP_IDLE_TIMEOUT_MS", "5000",
     INT_OPT(http_idle_timeout_ms, 100, 600000),
     "ms a kept-alive connection may take to send its next whole request "
     "head"},
    {"http-spare-workers", "CHORUS_HTTP_SPARE_WORKERS", "-1",
     INT_OPT(http_spare_workers, -1, 1024),
     "while fewer HTTP workers than this are free, kept-alive connections "
     "idle for 100 ms are closed and every answer closes its connection "
     "(-1: an eighth of --threads, at least 1; 0: never)"},
    /* Uploaded images (server/domain/media.h). */
    {"media-quota-mb", "CHORUS_MEDIA_QUOTA_MB", "100",
     INT_OPT(media_quota_mb, 1, 1048576),
     "MiB of images (originals and thumbnails as stored) each user may "
     "keep; an upload past it is refused with 413"},
    {"media-uploads", "CHORUS_MEDIA_UPLOADS", "4",
     INT_OPT(media_uploads, 1, 256),
     "uploads read and processed at once by this server (each holds its "
     "body, up to 8 MiB, and a libvips thread); more get 503 busy"},
    {"media-cache-mb", "CHORUS_MEDIA_CACHE_MB", "64",
     INT_OPT(media_cache_mb, 0, 65536),
     "MiB of served image files kept in memory, least recently used out "
     "first (0: none)"},
    {"media-unattached-s", "CHORUS_MEDIA_UNATTACHED_S", "3600",
     INT_OPT(media_unattached_s, 1, 604800),
     "seconds an upload no tweet or profile uses is kept; then it is "
     "removed"},
    /* Testing only: last, named test-* (config_usage's heading). */
    {"test-failpoint", "CHORUS_TEST_FAILPOINT", "", STR_OPT(test.failpoint),
     "exit abruptly at a 2PC step (see docs/SYNC.md)"},
    {"test-resume-delay-ms", "CHORUS_TEST_RESUME_DELAY_MS", "0",
     INT_OPT(test.resume_delay_ms, 0, 60000),
     "a WebSocket resume waits this long between reading its backlog and "
     "going live (the window in which live events are held)"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

static bool option_is_for_tests(const option_spec_t *o) {
  return strncmp(o->flag, "test-", 5) == 0;
}

/* "K=URI" into cfg->shard_uris[K]. */
static bool shard_uri_set(chorus_config_t *cfg, const char *value,
                          const char *source, chorus_error_t *err) {
  char *end = NULL;
  errno = 0;
  long k = strtol(value, &end, 10);
  if (errno || end == value || *end != '=' || k < 0 || k >= CONFIG_SHARDS_MAX ||
      !end[1] || strlen(end + 1) >= sizeof cfg->shard_uris[0]) {
    chorus_error_set(err, 400, "bad_config",
                     "%s: --shard takes K=URI with K from 0 to %d, not '%s'",
                     source, CONFIG_SHARDS_MAX - 1, value);
    return false;
  }
  strcpy(cfg->shard_uris[k], end + 1);
  return true;
}

/* "K=URI;K=URI" (the variable form). */
static bool shard_uris_set(chorus_config_t *cfg, const char *value,
                           const char *source, chorus_error_t *err) {
  char *copy = bson_strdup(value), *save = NULL;
  bool ok = true;
  for (char *item = strtok_r(copy, ";", &save); ok && item;
       item = strtok_r(NULL, ";", &save)) {
    ok = shard_uri_set(cfg, item, source, err);
  }
  bson_free(copy);
  return ok;
}

/* One occurrence of a list flag: its value added to the list (", "
 * between entries); an empty value adds nothing. */
static bool list_add(chorus_config_t *cfg, const option_spec_t *o,
                     const char *value, chorus_error_t *err) {
  char *field = (char *)cfg + o->offset;
  size_t used = strlen(field), len = strlen(value);
  if (len == 0) {
    return true;
  }
  if (used + (used ? 2 : 0) + len >= o->size) {
    chorus_error_set(err, 400, "bad_config",
                     "command line: --%s is too long (every occurrence "
                     "together)",
                     o->flag);
    return false;
  }
  if (used) {
    memcpy(field + used, ", ", 2);
    used += 2;
  }
  memcpy(field + used, value, len + 1);
  return true;
}

static bool option_set(chorus_config_t *cfg, const option_spec_t *o,
                       const char *value, const char *source,
                       chorus_error_t *err) {
  if (o->kind == OPT_SHARD_URIS) {
    return shard_uris_set(cfg, value, source, err);
  }
  char *field = (char *)cfg + o->offset;
  if (o->kind == OPT_STRING || o->kind == OPT_LIST) {
    if (strlen(value) >= o->size) {
      chorus_error_set(err, 400, "bad_config", "%s: --%s is too long", source,
                       o->flag);
      return false;
    }
    strcpy(field, value);
    return true;
  }
  char *end = NULL;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (errno || !*value || *end || v < o->min || v > o->max) {
    chorus_error_set(err, 400, "bad_config",
                     "%s: --%s must be a whole number from %ld to %ld, "
                     "not '%s'",
                     source, o->flag, o->min, o->max, value);
    return false;
  }
  *(int *)field = (int)v;
  return true;
}

static void option_usage(FILE *out, const option_spec_t *o) {
  const char *def = o->def[0]                       ? o->def
                    : !strcmp(o->flag, "server-id") ? "HOST:PORT"
                    : !strcmp(o->flag, "public-origin")
                        ? "http://HOST:PORT, with localhost "
                          "and 127.0.0.1 for a loopback "
                          "HOST and every interface's "
                          "address for 0.0.0.0"
                        : "none";
  fprintf(out, "  --%s, %s\n      %s (default: %s)\n", o->flag, o->env, o->help,
          def);
}

void config_usage(FILE *out) {
  fprintf(out, "Usage: chorusd [options]\n"
               "Chorus microblog server " CHORUS_VERSION ".\n\n"
               "Every option may also be given as an environment variable;\n"
               "a flag wins over its variable.\n\n");
  size_t first_test = 0;
  while (first_test < N_OPTIONS && !option_is_for_tests(&options[first_test])) {
    option_usage(out, &options[first_test++]);
  }
  fprintf(out, "  --help\n      show this help\n"
               "  --version\n      show the version\n"
               "\nTesting (for the test suites; never set in production):\n");
  for (size_t i = first_test; i < N_OPTIONS; i++) {
    assert(option_is_for_tests(&options[i])); /* the rows for tests last */
    option_usage(out, &options[i]);
  }
}

config_result_t config_parse(chorus_config_t *cfg, int argc, char **argv,
                             FILE *out, chorus_error_t *err) {
  memset(cfg, 0, sizeof *cfg);
  struct option longopts[N_OPTIONS + 3];
  for (size_t i = 0; i < N_OPTIONS; i++) {
    longopts[i] =
        (struct option){options[i].flag, required_argument, NULL, (int)i};
  }
  longopts[N_OPTIONS] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[N_OPTIONS + 1] = (struct option){"version", no_argument, NULL, 'V'};
  longopts[N_OPTIONS + 2] = (struct option){NULL, 0, NULL, 0};

  /* First pass: collect flags (the last one of a name wins, but every
   * occurrence of a list's or of --shard counts).  optind = 0 is glibc's
   * full reset, so parsing twice in one process works. */
  const char *flag_value[N_OPTIONS] = {0};
  bool saw_shard_flag = false;
  optind = 0;
  opterr = 0;
  for (;;) {
    int before = optind ? optind : 1;
    int c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1) {
      break;
    }
    if (c == 'h') {
      config_usage(out);
      return CONFIG_EXIT;
    }
    if (c == 'V') {
      fprintf(out, "chorusd " CHORUS_VERSION "\n");
      return CONFIG_EXIT;
    }
    if (c == '?' || c == ':') {
      int at = optind > before ? optind - 1 : before;
      chorus_error_set(err, 400, "bad_config",
                       "unknown option or missing value: %s (see --help)",
                       at < argc ? argv[at] : "?");
      return CONFIG_ERROR;
    }
    if (options[c].kind == OPT_SHARD_URIS) {
      /* Repeatable: every occurrence counts; the variable is then unused. */
      if (!shard_uri_set(cfg, optarg, "command line", err)) {
        return CONFIG_ERROR;
      }
      saw_shard_flag = true;
      continue;
    }
    if (options[c].kind == OPT_LIST &&
        !list_add(cfg, &options[c], optarg, err)) {
      return CONFIG_ERROR;
    }
    flag_value[c] = optarg;
  }
  if (optind < argc) {
    chorus_error_set(err, 400, "bad_config", "unexpected argument: %s",
                     argv[optind]);
    return CONFIG_ERROR;
  }
  /* Second pass: each option from its flag, else its variable, else the
   * default; only the value in force is validated. */
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const char *env = getenv(options[i].env);
    if ((options[i].kind == OPT_SHARD_URIS && saw_shard_flag) ||
        (options[i].kind == OPT_LIST && flag_value[i])) {
      continue; /* set by the first pass */
    }
    const char *value = flag_value[i] ? flag_value[i]
                        : env         ? env
                                      : options[i].def;
    const char *source = flag_value[i] ? "command line"
                         : env         ? options[i].env
                                       : "default";
    if (!option_set(cfg, &options[i], value, source, err)) {
      return CONFIG_ERROR;
    }
  }
  for (int k = cfg->shards; k < CONFIG_SHARDS_MAX; k++) {
    if (cfg->shard_uris[k][0]) {
      chorus_error_set(err, 400, "bad_config",
                       "--shard %d names a shard beyond --shards %d", k,
                       cfg->shards);
      return CONFIG_ERROR;
    }
  }
  if (cfg->ws_port == 0) {
    cfg->ws_port =
        cfg->port + 1000 <= 65535 ? cfg->port + 1000 : cfg->port - 1000;
  }
  if (cfg->ws_port == cfg->port) {
    chorus_error_set(err, 400, "bad_config",
                     "--ws-port must differ from --port");
    return CONFIG_ERROR;
  }
  if (strcmp(cfg->db_filters, "auto") && strcmp(cfg->db_filters, "id") &&
      strcmp(cfg->db_filters, "full")) {
    chorus_error_set(err, 400, "bad_config",
                     "--db-filters must be auto, id or full, not '%s'",
                     cfg->db_filters);
    return CONFIG_ERROR;
  }
  if (cfg->public_origins[0]) {
    origins_t *o = origins_parse(cfg->public_origins, err);
    if (!o) {
      return CONFIG_ERROR;
    }
    origins_destroy(o);
  }
  if (!cfg->server_id[0]) {
    snprintf(cfg->server_id, sizeof cfg->server_id, "%.40s:%d", cfg->host,
             cfg->port);
  }
  return CONFIG_OK;
}
