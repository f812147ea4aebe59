/*
 * test_config.c - unit tests for config.h: config_parse over argv arrays
 * and the environment.  Covers every default (and the derived server_id),
 * "--flag value" and "--flag=value" for every option, environment twins,
 * the precedence flag > environment > default, integer ranges (port
 * 1-65535, threads 2-1024) with messages naming the flag, string length
 * limits, unknown options, missing values, stray positional arguments,
 * --public-origin's list checked at parse time, the list flags
 * (--public-origin, --trusted-proxy) adding up over their occurrences,
 * --help and --version
 * output, the switches for tests (named --test-*,
 * kept in cfg.test, listed last under their own heading), and repeated
 * calls in one process (getopt state must be reset by config_parse
 * itself).
 *
 * The tests clear every CHORUS_* variable before and after each test, so
 * they neither depend on nor leak into the caller's environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <getopt.h>

#include <cmocka.h>

#include "server/app/config.h"

static const char *const env_names[] = {
    "CHORUS_HOST",
    "CHORUS_PORT",
    "CHORUS_MONGO_URI",
    "CHORUS_DB",
    "CHORUS_SERVER_ID",
    "CHORUS_PUBLIC_DIR",
    "CHORUS_THREADS",
    "CHORUS_DB_FILTERS",
    "CHORUS_DB_SLOW_MS",
    "CHORUS_PUBLIC_ORIGINS",
    "CHORUS_TRUSTED_PROXIES",
    "CHORUS_HTTP_PER_ADDRESS",
    "CHORUS_HTTP_HEAD_TIMEOUT_MS",
    "CHORUS_HTTP_BODY_TIMEOUT_MS",
    "CHORUS_HTTP_IDLE_TIMEOUT_MS",
    "CHORUS_HTTP_SPARE_WORKERS",
    "CHORUS_TEST_FAILPOINT",
    "CHORUS_TEST_RESUME_DELAY_MS",
    "CHORUS_RATE_LIMITS", /* scripts/test.sh sets it */
    "CHORUS_LIMIT_TWEET_ACCOUNT",
    "CHORUS_LOGIN_LIMIT_USER_ADDRESS",
};
#define N_ENV (sizeof env_names / sizeof env_names[0])

#define DEFAULT_URI "mongodb://127.0.0.1:27017/?replicaSet=rs0"

static int clear_env(void **state) {
  (void)state;
  for (size_t i = 0; i < N_ENV; i++) {
    unsetenv(env_names[i]);
  }
  return 0;
}

/* Sets the environment variable name (clear_env unsets it after the
 * test). */
static void set_env(const char *name, const char *value) {
  assert_int_equal(setenv(name, value, 1), 0);
}

/* One parse: its result, the config, the error and what was printed. */
typedef struct parsed {
  config_result_t result;
  chorus_config_t cfg;
  chorus_error_t err;
  char *out; /* malloc'd by open_memstream */
  size_t out_len;
} parsed_t;

static parsed_t *parse_argv(char **argv) {
  int argc = 0;
  while (argv[argc]) {
    argc++;
  }
  parsed_t *p = calloc(1, sizeof *p);
  assert_non_null(p);
  FILE *out = open_memstream(&p->out, &p->out_len);
  assert_non_null(out);
  chorus_error_clear(&p->err);
  memset(&p->cfg, 0x5A, sizeof p->cfg);
  p->result = config_parse(&p->cfg, argc, argv, out, &p->err);
  assert_int_equal(fclose(out), 0);
  return p;
}

static void parsed_free(parsed_t *p) {
  free(p->out);
  free(p);
}

/* PARSE("--port", "9000") runs config_parse on {"chorusd", ..., NULL}. */
#define PARSE(...) parse_argv((char *[]){"chorusd", __VA_ARGS__, NULL})
#define PARSE_NONE() parse_argv((char *[]){"chorusd", NULL})

static void assert_ok(const parsed_t *p) {
  if (p->result != CONFIG_OK) {
    fail_msg("expected CONFIG_OK, got %d: %s", (int)p->result, p->err.message);
  }
  assert_int_equal(p->err.status, 0);
  assert_int_equal(p->out_len, 0); /* prints nothing */
}

/* CONFIG_ERROR whose message contains each of the given strings. */
static void assert_error(const parsed_t *p, const char *must1,
                         const char *must2) {
  assert_int_equal(p->result, CONFIG_ERROR);
  assert_true(p->err.message[0] != '\0');
  assert_string_equal(p->err.code, "bad_config");
  if (must1 && !strstr(p->err.message, must1)) {
    fail_msg("message \"%s\" does not mention \"%s\"", p->err.message, must1);
  }
  if (must2 && !strstr(p->err.message, must2)) {
    fail_msg("message \"%s\" does not mention \"%s\"", p->err.message, must2);
  }
}

/* assert_error(p, must1, must2), then p freed. */
static void expect_error(parsed_t *p, const char *must1, const char *must2) {
  assert_error(p, must1, must2);
  parsed_free(p);
}

/* The config of a parse that must succeed (assert_ok); p is freed. */
static chorus_config_t parsed_ok(parsed_t *p) {
  assert_ok(p);
  chorus_config_t cfg = p->cfg;
  parsed_free(p);
  return cfg;
}

/* cfg holds these values of the seven main options. */
static void assert_main_options(const chorus_config_t *cfg, const char *host,
                                int port, const char *mongo_uri,
                                const char *db_name, const char *server_id,
                                const char *public_dir, int threads) {
  assert_string_equal(cfg->host, host);
  assert_int_equal(cfg->port, port);
  assert_string_equal(cfg->mongo_uri, mongo_uri);
  assert_string_equal(cfg->db_name, db_name);
  assert_string_equal(cfg->server_id, server_id);
  assert_string_equal(cfg->public_dir, public_dir);
  assert_int_equal(cfg->threads, threads);
}

static void assert_defaults(const chorus_config_t *cfg) {
  assert_main_options(cfg, "127.0.0.1", 8080, DEFAULT_URI, "chorus",
                      "127.0.0.1:8080", "public", 128);
}

/* PARSE("--help"), which must exit (CONFIG_EXIT) having printed the
 * usage; the caller frees it. */
static parsed_t *parse_help(void) {
  parsed_t *p = PARSE("--help");
  assert_int_equal(p->result, CONFIG_EXIT);
  return p;
}

/* A malloc'd string of n copies of c. */
static char *string_of(size_t n, char c) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* A malloc'd "--flag=value". */
static char *flag_eq(const char *flag, const char *value) {
  size_t n = strlen(flag) + 1 + strlen(value) + 1;
  char *s = malloc(n);
  assert_non_null(s);
  snprintf(s, n, "%s=%s", flag, value);
  return s;
}

/* ------------------------------------------------------------------ */
/* defaults                                                            */
/* ------------------------------------------------------------------ */

static void no_arguments_gives_defaults(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(PARSE_NONE());
  assert_defaults(&cfg);
}

static void server_id_defaults_to_host_colon_port(void **state) {
  (void)state;
  assert_string_equal(
      parsed_ok(PARSE("--host", "0.0.0.0", "--port", "9001")).server_id,
      "0.0.0.0:9001");
}

static void server_id_default_truncates_long_host(void **state) {
  (void)state;
  char *host = string_of(100, 'h');
  parsed_t *p = PARSE("--host", host);
  assert_ok(p);
  assert_string_equal(p->cfg.host, host);
  char expected[64];
  snprintf(expected, sizeof expected, "%.40s:8080", host);
  assert_string_equal(p->cfg.server_id, expected);
  assert_int_equal(strlen(p->cfg.server_id), 45);
  parsed_free(p);
  free(host);
}

static void explicit_server_id_is_kept(void **state) {
  (void)state;
  assert_string_equal(
      parsed_ok(PARSE("--server-id", "A", "--port", "9001")).server_id, "A");
}

/* ------------------------------------------------------------------ */
/* flags                                                               */
/* ------------------------------------------------------------------ */

static void port_flag_with_separate_value(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(PARSE("--port", "9000"));
  assert_int_equal(cfg.port, 9000);
  assert_string_equal(cfg.server_id, "127.0.0.1:9000");
  assert_string_equal(cfg.db_name, "chorus"); /* others untouched */
}

static void port_flag_with_equals_value(void **state) {
  (void)state;
  assert_int_equal(parsed_ok(PARSE("--port=9000")).port, 9000);
}

static void port_bounds_are_accepted(void **state) {
  (void)state;
  assert_int_equal(parsed_ok(PARSE("--port", "1")).port, 1);
  assert_int_equal(parsed_ok(PARSE("--port", "65535")).port, 65535);
}

static void every_flag_sets_its_field(void **state) {
  (void)state;
  chorus_config_t cfg =
      parsed_ok(PARSE("--host", "0.0.0.0", "--port", "81", "--mongo-uri",
                      "mongodb://db:27017/", "--db", "test_db", "--server-id",
                      "srv-a", "--public-dir", "/srv/www", "--threads", "4"));
  assert_main_options(&cfg, "0.0.0.0", 81, "mongodb://db:27017/", "test_db",
                      "srv-a", "/srv/www", 4);
}

static void every_flag_accepts_equals_form(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(
      PARSE("--host=::1", "--port=82", "--mongo-uri=mongodb://x/?a=b", "--db=d",
            "--server-id=s", "--public-dir=p", "--threads=1024"));
  /* Only the first '=' separates: the URI keeps its own. */
  assert_main_options(&cfg, "::1", 82, "mongodb://x/?a=b", "d", "s", "p", 1024);
}

static void last_flag_wins(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(
      PARSE("--port", "1000", "--port=2000", "--db", "a", "--db", "b"));
  assert_int_equal(cfg.port, 2000);
  assert_string_equal(cfg.db_name, "b");
}

static void double_dash_ends_options(void **state) {
  (void)state;
  assert_int_equal(parsed_ok(PARSE("--port", "9000", "--")).port, 9000);
}

static void empty_string_value_is_accepted_for_strings(void **state) {
  (void)state;
  assert_string_equal(parsed_ok(PARSE("--public-dir=")).public_dir, "");
}

/* ------------------------------------------------------------------ */
/* environment                                                         */
/* ------------------------------------------------------------------ */

static void env_port_is_used_without_flag(void **state) {
  (void)state;
  set_env("CHORUS_PORT", "9100");
  chorus_config_t cfg = parsed_ok(PARSE_NONE());
  assert_int_equal(cfg.port, 9100);
  assert_string_equal(cfg.server_id, "127.0.0.1:9100");
}

static void flag_beats_env(void **state) {
  (void)state;
  set_env("CHORUS_PORT", "9100");
  set_env("CHORUS_DB", "from_env");
  chorus_config_t cfg = parsed_ok(PARSE("--port", "9200", "--db=from_flag"));
  assert_int_equal(cfg.port, 9200);
  assert_string_equal(cfg.db_name, "from_flag");
}

static void every_env_twin_sets_its_field(void **state) {
  (void)state;
  set_env("CHORUS_HOST", "10.0.0.1");
  set_env("CHORUS_PORT", "8443");
  set_env("CHORUS_MONGO_URI", "mongodb://env/");
  set_env("CHORUS_DB", "envdb");
  set_env("CHORUS_SERVER_ID", "env-id");
  set_env("CHORUS_PUBLIC_DIR", "/env/pub");
  set_env("CHORUS_THREADS", "2");
  chorus_config_t cfg = parsed_ok(PARSE_NONE());
  assert_main_options(&cfg, "10.0.0.1", 8443, "mongodb://env/", "envdb",
                      "env-id", "/env/pub", 2);
}

static void env_host_feeds_default_server_id(void **state) {
  (void)state;
  set_env("CHORUS_HOST", "192.168.1.2");
  assert_string_equal(parsed_ok(PARSE("--port", "7000")).server_id,
                      "192.168.1.2:7000");
}

static void invalid_env_port_is_an_error_naming_the_variable(void **state) {
  (void)state;
  set_env("CHORUS_PORT", "abc");
  parsed_t *p = PARSE_NONE();
  assert_error(p, "CHORUS_PORT", "--port");
  assert_non_null(strstr(p->err.message, "abc"));
  parsed_free(p);
}

static void too_long_env_value_is_an_error(void **state) {
  (void)state;
  char *db = string_of(64, 'd');
  set_env("CHORUS_DB", db);
  expect_error(PARSE_NONE(), "CHORUS_DB", "--db");
  free(db);
}

static void unset_env_restores_defaults(void **state) {
  (void)state;
  set_env("CHORUS_PORT", "9100");
  assert_int_equal(parsed_ok(PARSE_NONE()).port, 9100);
  assert_int_equal(unsetenv("CHORUS_PORT"), 0);
  chorus_config_t cfg = parsed_ok(PARSE_NONE());
  assert_defaults(&cfg);
}

/* ------------------------------------------------------------------ */
/* invalid values                                                      */
/* ------------------------------------------------------------------ */

static void invalid_port_values_are_errors_naming_port(void **state) {
  (void)state;
  static const char *const bad[] = {"0",
                                    "70000",
                                    "abc",
                                    "",
                                    "-1",
                                    "65536",
                                    "80x",
                                    "8 0",
                                    "0x50",
                                    "1.5",
                                    "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    expect_error(PARSE("--port", (char *)bad[i]), "--port", NULL);

    char *eq = flag_eq("--port", bad[i]);
    expect_error(PARSE(eq), "--port", NULL);
    free(eq);
  }
}

static void invalid_port_message_quotes_the_value(void **state) {
  (void)state;
  parsed_t *p = PARSE("--port", "70000");
  assert_error(p, "--port", "'70000'");
  assert_non_null(strstr(p->err.message, "65535"));
  parsed_free(p);
}

static void threads_range_is_2_to_1024(void **state) {
  (void)state;
  expect_error(PARSE("--threads", "1"), "--threads", NULL);
  expect_error(PARSE("--threads", "1025"), "--threads", NULL);
  assert_int_equal(parsed_ok(PARSE("--threads", "2")).threads, 2);
}

static void too_long_db_name_is_an_error(void **state) {
  (void)state;
  char *ok = string_of(63, 'd');
  char *bad = string_of(64, 'd');
  assert_string_equal(parsed_ok(PARSE("--db", ok)).db_name, ok);
  expect_error(PARSE("--db", bad), "--db", "too long");
  free(ok);
  free(bad);
}

static void too_long_strings_are_errors_for_every_string_flag(void **state) {
  (void)state;
  static const struct {
    const char *flag;
    size_t size;
  } limits[] = {
      {"--host", 256},     {"--mongo-uri", 2048},      {"--db", 64},
      {"--server-id", 64}, {"--public-dir", PATH_MAX},
  };
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    char *fits = string_of(limits[i].size - 1, 'a');
    char *over = string_of(limits[i].size, 'a');
    parsed_t *p = PARSE((char *)limits[i].flag, fits);
    assert_ok(p);
    parsed_free(p);
    expect_error(PARSE((char *)limits[i].flag, over), limits[i].flag, NULL);
    free(fits);
    free(over);
  }
}

static void db_filters_is_auto_id_or_full(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(PARSE_NONE());
  assert_string_equal(cfg.db_filters, "auto");
  assert_int_equal(cfg.db_slow_ms, 0);
  static const char *const good[] = {"auto", "id", "full"};
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(
        parsed_ok(PARSE("--db-filters", (char *)good[i])).db_filters, good[i]);
  }
  static const char *const bad[] = {"", "ID", "fast", "autox", "full "};
  for (size_t i = 0; i < 5; i++) {
    expect_error(PARSE("--db-filters", (char *)bad[i]), "--db-filters",
                 "auto, id or full");
  }
  set_env("CHORUS_DB_FILTERS", "never");
  expect_error(PARSE_NONE(), "--db-filters", "never");
}

/* --public-origin (CHORUS_PUBLIC_ORIGINS): comma-separated origins,
 * each checked at parse time; none given means the server's own. */
static void public_origin_takes_a_list_of_origins(void **state) {
  (void)state;
  parsed_t *p = PARSE_NONE();
  assert_ok(p);
  assert_string_equal(p->cfg.public_origins, "");
  parsed_free(p);
  p = PARSE("--public-origin",
            "https://chorus.example, http://localhost:8000/");
  assert_ok(p);
  assert_string_equal(p->cfg.public_origins,
                      "https://chorus.example, http://localhost:8000/");
  parsed_free(p);
  static const char *const bad[] = {
      "null",
      "chorus.example",
      "ftp://chorus.example",
      "https://chorus.example/app",
      "http://localhost:8000,http://evil.example:0",
      "http://user@chorus.example",
      " , ",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p = PARSE("--public-origin", (char *)bad[i]);
    assert_error(p, "--public-origin", NULL);
    parsed_free(p);
  }
  assert_int_equal(setenv("CHORUS_PUBLIC_ORIGINS", "http://lb:8000", 1), 0);
  p = PARSE_NONE();
  assert_ok(p);
  assert_string_equal(p->cfg.public_origins, "http://lb:8000");
  parsed_free(p);
  assert_int_equal(setenv("CHORUS_PUBLIC_ORIGINS", "http://lb:8000/x", 1), 0);
  p = PARSE_NONE();
  assert_error(p, "--public-origin", "http://lb:8000/x");
  parsed_free(p);
}

/* --public-origin and --trusted-proxy are lists: every occurrence of the
 * flag adds to it (none is dropped for a later one), and the flags,
 * however many, replace the variable's list. */
static void list_flags_add_up(void **state) {
  (void)state;
  set_env("CHORUS_PUBLIC_ORIGINS", "http://lb:8000");
  set_env("CHORUS_TRUSTED_PROXIES", "10.0.0.1");
  chorus_config_t cfg = parsed_ok(PARSE(
      "--public-origin", "https://chorus.example", "--trusted-proxy",
      "127.0.0.1", "--public-origin=http://localhost:8000, http://[::1]:8000",
      "--trusted-proxy", "::1", "--public-origin", ""));
  assert_string_equal(cfg.public_origins,
                      "https://chorus.example, http://localhost:8000, "
                      "http://[::1]:8000");
  assert_string_equal(cfg.trusted_proxies, "127.0.0.1, ::1");
  cfg = parsed_ok(PARSE_NONE());
  assert_string_equal(cfg.public_origins, "http://lb:8000");
  assert_string_equal(cfg.trusted_proxies, "10.0.0.1");
  /* Each origin is still checked, whichever occurrence brought it. */
  expect_error(PARSE("--public-origin", "https://chorus.example",
                     "--public-origin", "null"),
               "--public-origin", "null");
  /* Together they must fit the list's room. */
  char *half = string_of(300, 'a');
  expect_error(PARSE("--trusted-proxy", half, "--trusted-proxy", half),
               "--trusted-proxy", "too long");
  free(half);
}

static void db_slow_ms_range_is_0_to_600000(void **state) {
  (void)state;
  assert_int_equal(parsed_ok(PARSE("--db-slow-ms", "600000")).db_slow_ms,
                   600000);
  expect_error(PARSE("--db-slow-ms", "-1"), "db-slow-ms", NULL);
  expect_error(PARSE("--db-slow-ms", "600001"), "db-slow-ms", NULL);
}

/* The connection guard's limits (server/http/guard.h): defaults, flags,
 * environment twins, ranges. */
static void http_limits_have_defaults_twins_and_ranges(void **state) {
  (void)state;
  parsed_t *p = PARSE_NONE();
  assert_ok(p);
  assert_int_equal(p->cfg.http_per_address, 32);
  assert_int_equal(p->cfg.http_head_timeout_ms, 5000);
  assert_int_equal(p->cfg.http_body_timeout_ms, 10000);
  assert_int_equal(p->cfg.http_idle_timeout_ms, 5000);
  assert_int_equal(p->cfg.http_spare_workers, -1);
  parsed_free(p);
  assert_int_equal(setenv("CHORUS_HTTP_PER_ADDRESS", "0", 1), 0);
  assert_int_equal(setenv("CHORUS_HTTP_BODY_TIMEOUT_MS", "100", 1), 0);
  assert_int_equal(setenv("CHORUS_HTTP_SPARE_WORKERS", "3", 1), 0);
  p = PARSE("--http-head-timeout-ms", "600000", "--http-idle-timeout-ms=250",
            "--http-spare-workers", "0");
  assert_ok(p);
  assert_int_equal(p->cfg.http_per_address, 0);
  assert_int_equal(p->cfg.http_head_timeout_ms, 600000);
  assert_int_equal(p->cfg.http_body_timeout_ms, 100);
  assert_int_equal(p->cfg.http_idle_timeout_ms, 250);
  assert_int_equal(p->cfg.http_spare_workers, 0);
  parsed_free(p);
  static char *const bad[][2] = {
      {"--http-per-address", "-1"},    {"--http-head-timeout-ms", "99"},
      {"--http-body-timeout-ms", "0"}, {"--http-idle-timeout-ms", "600001"},
      {"--http-spare-workers", "-2"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p = PARSE(bad[i][0], bad[i][1]);
    assert_error(p, bad[i][0], NULL);
    parsed_free(p);
  }
}

static void rate_limits_default_on_with_published_defaults(void **state) {
  (void)state;
  parsed_t *p = PARSE_NONE();
  assert_ok(p);
  const chorus_config_t *c = &p->cfg;
  assert_int_equal(c->rate_limits, 1);
  assert_int_equal(c->limit_register_address, 10);
  assert_int_equal(c->limit_register_window_s, 3600);
  assert_int_equal(c->limit_tweet_account, 30);
  assert_int_equal(c->limit_tweet_address, 150);
  assert_int_equal(c->limit_tweet_window_s, 600);
  assert_int_equal(c->limit_follow_account, 30);
  assert_int_equal(c->limit_follow_address, 150);
  assert_int_equal(c->limit_follow_window_s, 600);
  assert_int_equal(c->limit_like_account, 60);
  assert_int_equal(c->limit_like_address, 300);
  assert_int_equal(c->limit_like_window_s, 600);
  assert_int_equal(c->login_limit_user_address, 10);
  assert_int_equal(c->login_limit_address, 50);
  assert_int_equal(c->login_slow_user, 10);
  assert_int_equal(c->login_delay_max_ms, 2000);
  assert_int_equal(c->login_window_s, 300);
  parsed_free(p);
}

static void rate_limits_switch_off_by_flag_or_variable(void **state) {
  (void)state;
  parsed_t *p = PARSE("--rate-limits", "0", "--limit-tweet-account", "0");
  assert_ok(p);
  assert_int_equal(p->cfg.rate_limits, 0);
  assert_int_equal(p->cfg.limit_tweet_account, 0); /* 0: no limit */
  parsed_free(p);
  setenv("CHORUS_RATE_LIMITS", "0", 1);
  setenv("CHORUS_LIMIT_TWEET_ACCOUNT", "7", 1);
  p = PARSE_NONE();
  assert_ok(p);
  assert_int_equal(p->cfg.rate_limits, 0);
  assert_int_equal(p->cfg.limit_tweet_account, 7);
  parsed_free(p);
  p = PARSE("--rate-limits", "1"); /* a flag wins over its variable */
  assert_ok(p);
  assert_int_equal(p->cfg.rate_limits, 1);
  parsed_free(p);
  p = PARSE("--rate-limits", "2");
  assert_error(p, "rate-limits", NULL);
  parsed_free(p);
  p = PARSE("--limit-tweet-window-s", "0"); /* a window is >= 1 s */
  assert_error(p, "limit-tweet-window-s", NULL);
  parsed_free(p);
}

/* ------------------------------------------------------------------ */
/* unknown options and arguments                                       */
/* ------------------------------------------------------------------ */

/* Unknown options, flags without their value and arguments that are not
 * options are errors whose message names the culprit. */
static void bad_arguments_are_errors_naming_them(void **state) {
  (void)state;
  static const struct {
    const char *args[4]; /* after "chorusd", up to a NULL */
    const char *named;
  } bad[] = {
      {{"--bogus"}, "--bogus"},
      {{"--bogus=1"}, "--bogus"},
      {{"-p"}, "-p"},
      {{"--port"}, "--port"}, /* no value */
      {{"--db"}, "--db"},
      {{"extra"}, "extra"},
      {{"--port", "9000", "extra"}, "extra"},
      {{"extra", "--port", "9000"}, "extra"},
      {{"--", "--port"}, "--port"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *argv[6] = {"chorusd"};
    for (size_t k = 0; k < 4 && bad[i].args[k]; k++) {
      argv[k + 1] = (char *)bad[i].args[k];
    }
    expect_error(parse_argv(argv), bad[i].named, NULL);
  }
}

static void
flag_value_is_taken_literally_even_if_it_looks_like_a_flag(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(PARSE("--db", "--port"));
  assert_string_equal(cfg.db_name, "--port");
  assert_int_equal(cfg.port, 8080);
}

static void help_flag_with_argument_is_an_error(void **state) {
  (void)state;
  parsed_t *p = PARSE("--help=yes");
  assert_int_equal(p->result, CONFIG_ERROR);
  parsed_free(p);
}

/* ------------------------------------------------------------------ */
/* --help and --version                                                */
/* ------------------------------------------------------------------ */

static void help_prints_usage_and_exits(void **state) {
  (void)state;
  parsed_t *p = parse_help();
  assert_non_null(p->out);
  assert_true(p->out_len > 0);
  assert_non_null(strstr(p->out, "--mongo-uri"));
  assert_non_null(strstr(p->out, "CHORUS_MONGO_URI"));
  parsed_free(p);
}

static void help_lists_every_flag_variable_and_default(void **state) {
  (void)state;
  parsed_t *p = parse_help();
  static const char *const must[] = {"--host",
                                     "--port",
                                     "--mongo-uri",
                                     "--db",
                                     "--server-id",
                                     "--public-dir",
                                     "--threads",
                                     "--help",
                                     "--version",
                                     "CHORUS_HOST",
                                     "CHORUS_PORT",
                                     "CHORUS_MONGO_URI",
                                     "CHORUS_DB",
                                     "CHORUS_SERVER_ID",
                                     "CHORUS_PUBLIC_DIR",
                                     "CHORUS_THREADS",
                                     "8080",
                                     DEFAULT_URI,
                                     "128"};
  for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
    if (!strstr(p->out, must[i])) {
      fail_msg("--help output lacks \"%s\"", must[i]);
    }
  }
  parsed_free(p);
}

static void config_usage_prints_the_same_text_as_help(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  assert_non_null(out);
  config_usage(out);
  assert_int_equal(fclose(out), 0);
  parsed_t *p = PARSE("--help");
  assert_int_equal(len, p->out_len);
  assert_string_equal(buf, p->out);
  parsed_free(p);
  free(buf);
}

static void help_wins_over_later_flags(void **state) {
  (void)state;
  parsed_t *p = PARSE("--port", "9000", "--help", "--bogus");
  assert_int_equal(p->result, CONFIG_EXIT);
  assert_non_null(strstr(p->out, "CHORUS_MONGO_URI"));
  parsed_free(p);
}

static void version_prints_version_and_exits(void **state) {
  (void)state;
  parsed_t *p = PARSE("--version");
  assert_int_equal(p->result, CONFIG_EXIT);
  assert_string_equal(p->out, "chorusd 0.1.0\n");
  parsed_free(p);
}

/* ------------------------------------------------------------------ */
/* switches for tests                                                  */
/* ------------------------------------------------------------------ */

static void test_switches_default_to_off(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(PARSE_NONE());
  assert_string_equal(cfg.test.failpoint, "");
  assert_int_equal(cfg.test.resume_delay_ms, 0);
}

static void test_switches_set_the_test_group(void **state) {
  (void)state;
  chorus_config_t cfg = parsed_ok(PARSE("--test-failpoint", "txn.after_prepare",
                                        "--test-resume-delay-ms", "250"));
  assert_string_equal(cfg.test.failpoint, "txn.after_prepare");
  assert_int_equal(cfg.test.resume_delay_ms, 250);
  set_env("CHORUS_TEST_FAILPOINT", "txn.mid_apply");
  set_env("CHORUS_TEST_RESUME_DELAY_MS", "7");
  cfg = parsed_ok(PARSE_NONE());
  assert_string_equal(cfg.test.failpoint, "txn.mid_apply");
  assert_int_equal(cfg.test.resume_delay_ms, 7);
}

static void failpoint_without_test_prefix_is_unknown(void **state) {
  (void)state;
  expect_error(PARSE("--failpoint", "txn.after_begin"), "--failpoint", NULL);
}

static void help_lists_test_switches_last_under_a_heading(void **state) {
  (void)state;
  parsed_t *p = parse_help();
  const char *heading = strstr(p->out, "\nTesting");
  assert_non_null(heading);
  const char *failpoint = strstr(p->out, "--test-failpoint, "
                                         "CHORUS_TEST_FAILPOINT");
  const char *delay = strstr(p->out, "--test-resume-delay-ms, "
                                     "CHORUS_TEST_RESUME_DELAY_MS");
  assert_non_null(failpoint);
  assert_non_null(delay);
  assert_true(failpoint > heading && delay > heading);
  /* Every other flag, --help and --version come before the heading. */
  static const char *const before[] = {"--host,", "--db-write-gate,",
                                       "--db-filters,", "--help\n",
                                       "--version\n"};
  for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
    const char *at = strstr(p->out, before[i]);
    assert_non_null(at);
    assert_true(at < heading);
  }
  /* After the heading only --test-* switches. */
  for (const char *at = strstr(heading, "\n  --"); at;
       at = strstr(at + 1, "\n  --")) {
    assert_int_equal(strncmp(at, "\n  --test-", 10), 0);
  }
  parsed_free(p);
}

static void write_gate_help_does_not_promise_arrival_order(void **state) {
  (void)state;
  parsed_t *p = PARSE("--help");
  const char *at = strstr(p->out, "--db-write-gate,");
  assert_non_null(at);
  const char *end = strstr(at, "\n  --");
  assert_non_null(end);
  char *text = strndup(at, (size_t)(end - at));
  assert_non_null(strstr(text, "not in arrival order"));
  assert_null(strstr(text, "queue in order"));
  free(text);
  parsed_free(p);
}

/* ------------------------------------------------------------------ */
/* repeated calls                                                      */
/* ------------------------------------------------------------------ */

static void repeated_calls_start_from_scratch(void **state) {
  (void)state;
  assert_int_equal(parsed_ok(PARSE("--port", "9000", "--db", "one")).port,
                   9000);

  chorus_config_t cfg = parsed_ok(PARSE_NONE());
  assert_defaults(&cfg);

  cfg = parsed_ok(PARSE("--port=1234"));
  assert_int_equal(cfg.port, 1234);
  assert_string_equal(cfg.db_name, "chorus");
}

static void parse_after_early_exit_starts_from_scratch(void **state) {
  (void)state;
  /* --help returns with getopt part-way through argv. */
  parsed_t *p = PARSE("--port", "1", "--help", "--db", "x");
  assert_int_equal(p->result, CONFIG_EXIT);
  parsed_free(p);
  chorus_config_t cfg = parsed_ok(PARSE("--threads", "8"));
  assert_int_equal(cfg.threads, 8);
  assert_int_equal(cfg.port, 8080);

  expect_error(PARSE("--port", "0", "--db", "x"), "--port", NULL);
  assert_string_equal(parsed_ok(PARSE("--db", "y")).db_name, "y");

  expect_error(PARSE("extra", "--port", "5"), "extra", NULL);
  assert_int_equal(parsed_ok(PARSE("--port", "6")).port, 6);
}

/* Fully resets glibc's getopt (optind = 0 re-initialises it), so that one
 * test's leftovers cannot fail the next one. */
static void reset_getopt(void) {
  static const struct option none[] = {{NULL, 0, NULL, 0}};
  char *argv[] = {"reset", NULL};
  optind = 0;
  opterr = 0;
  while (getopt_long(1, argv, "", none, NULL) != -1) {
  }
  optind = 1;
}

static void unknown_short_option_cluster_names_the_option(void **state) {
  (void)state;
  parsed_t *p = PARSE("-xy");
  assert_int_equal(p->result, CONFIG_ERROR);
  bool names_option = strstr(p->err.message, "-x") != NULL;
  bool names_program = strstr(p->err.message, "chorusd") != NULL;
  char message[sizeof p->err.message];
  strcpy(message, p->err.message);
  parsed_free(p);
  reset_getopt();
  if (!names_option || names_program) {
    fail_msg("message names the wrong argument: \"%s\"", message);
  }
}

static void parse_after_unknown_short_option_cluster_is_clean(void **state) {
  (void)state;
  /* "-xy" stops getopt in the middle of an argument ('y' is next). */
  parsed_t *p = PARSE("-xy");
  assert_int_equal(p->result, CONFIG_ERROR);
  parsed_free(p);
  p = PARSE_NONE();
  config_result_t r = p->result;
  char message[sizeof p->err.message];
  strcpy(message, p->err.message);
  chorus_config_t cfg = p->cfg;
  parsed_free(p);
  reset_getopt();
  if (r != CONFIG_OK) {
    fail_msg("second config_parse failed: %s", message);
  }
  assert_defaults(&cfg);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, clear_env, clear_env)
  const struct CMUnitTest tests[] = {
      T(no_arguments_gives_defaults),
      T(server_id_defaults_to_host_colon_port),
      T(server_id_default_truncates_long_host),
      T(explicit_server_id_is_kept),
      T(port_flag_with_separate_value),
      T(port_flag_with_equals_value),
      T(port_bounds_are_accepted),
      T(every_flag_sets_its_field),
      T(every_flag_accepts_equals_form),
      T(last_flag_wins),
      T(double_dash_ends_options),
      T(empty_string_value_is_accepted_for_strings),
      T(env_port_is_used_without_flag),
      T(flag_beats_env),
      T(every_env_twin_sets_its_field),
      T(env_host_feeds_default_server_id),
      T(invalid_env_port_is_an_error_naming_the_variable),
      T(too_long_env_value_is_an_error),
      T(unset_env_restores_defaults),
      T(invalid_port_values_are_errors_naming_port),
      T(invalid_port_message_quotes_the_value),
      T(threads_range_is_2_to_1024),
      T(too_long_db_name_is_an_error),
      T(db_filters_is_auto_id_or_full),
      T(public_origin_takes_a_list_of_origins),
      T(list_flags_add_up),
      T(db_slow_ms_range_is_0_to_600000),
      T(http_limits_have_defaults_twins_and_ranges),
      T(rate_limits_default_on_with_published_defaults),
      T(rate_limits_switch_off_by_flag_or_variable),
      T(too_long_strings_are_errors_for_every_string_flag),
      T(bad_arguments_are_errors_naming_them),
      T(flag_value_is_taken_literally_even_if_it_looks_like_a_flag),
      T(help_flag_with_argument_is_an_error),
      T(help_prints_usage_and_exits),
      T(help_lists_every_flag_variable_and_default),
      T(config_usage_prints_the_same_text_as_help),
      T(help_wins_over_later_flags),
      T(version_prints_version_and_exits),
      T(test_switches_default_to_off),
      T(test_switches_set_the_test_group),
      T(failpoint_without_test_prefix_is_unknown),
      T(help_lists_test_switches_last_under_a_heading),
      T(write_gate_help_does_not_promise_arrival_order),
      T(repeated_calls_start_from_scratch),
      T(parse_after_early_exit_starts_from_scratch),
      T(unknown_short_option_cluster_names_the_option),
      T(parse_after_unknown_short_option_cluster_is_clean),
  };
#undef T
  return cmocka_run_group_tests(tests, clear_env, clear_env);
}
