/*
 * bench_common.h - what the benchmark programs share: the command line
 * (an option table, bench_parse_args: bench_tweets, bench_ws,
 * load_dataset), clocks and CPU from /proc, percentiles, and an HTTP
 * client on libcurl that registers the users a benchmark posts as.
 *
 * Benchmarks print figures and exit non-zero only when they cannot run;
 * these helpers follow that: a usage error exits 2 (bench_die_usage), what
 * makes the run impossible exits 1 (bench_die, bench_alloc), everything
 * else reports and lets the caller decide.  Messages start with the program's
 * name (bench_set_name).  Nothing here links cmocka or the server's code.
 *
 * Thread-safety: bench_http and bench_register_users may run on several
 * threads at once, each with its own CURL handle; the rest is for the
 * main thread (bench_set_name before any other thread starts).
 */
#ifndef CHORUS_BENCH_COMMON_H
#define CHORUS_BENCH_COMMON_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* The password every benchmark user is registered with. */
#define BENCH_PASSWORD "bench-password-1"

/* How much of an answer's body bench_http keeps. */
#define BENCH_BODY_MAX 8192

/* ------------------------------------------------------------ messages */

/* The program's name for messages ("bench_ws"); a string literal. */
void bench_set_name(const char *name);
const char *bench_name(void);

/* "NAME: <message> (see --help)" on stderr, then exit(2). */
__attribute__((format(printf, 1, 2), noreturn)) void
bench_die_usage(const char *fmt, ...);

/* "NAME: <message>" on stderr, then exit(1): the benchmark cannot run. */
__attribute__((format(printf, 1, 2), noreturn)) void bench_die(const char *fmt,
                                                               ...);

/* malloc(size) that exits(1) with a message when memory is out. */
void *bench_alloc(size_t size);

/* fopen(path, "w"), or NULL after "NAME: cannot write PATH: <why>" on
 * stderr: the benchmark goes on without that file. */
FILE *bench_open_output(const char *path);

/* ------------------------------------------------------------ options */

/* A whole number / number in [lo, hi] (the whole string); false when not. */
bool bench_parse_long(const char *s, long lo, long hi, long *out);
bool bench_parse_double(const char *s, double lo, double hi, double *out);

/* The value s of option flag as a whole number / a number in [lo, hi];
 * bench_die_usage ("FLAG must be from LO to HI, not 'S'") when it is not. */
long bench_arg_long(const char *flag, const char *s, long lo, long hi);
double bench_arg_double(const char *flag, const char *s, double lo, double hi);

/* The value s of option flag as a server's base URL (http:// or https://),
 * copied (never freed: it lives as long as the program) without one
 * trailing '/'; bench_die_usage when it is not one. */
const char *bench_arg_url(const char *flag, const char *s);

/* After getopt_long: dies (bench_die_usage) when it returned '?' or ':'
 * for argv's last option, or when arguments other than options are left
 * (optind < argc). */
__attribute__((noreturn)) void bench_die_bad_option(char **argv);
void bench_no_more_args(int argc, char **argv);

/* One option of a benchmark's command line, "--name": what its value
 * sets.  INT and LONG take a whole number in [lo, hi] (bench_arg_long),
 * DOUBLE a number in [min, max] (bench_arg_double), URL a server's base
 * URL (bench_arg_url), STRING the value as given (argv's, not copied);
 * FLAG takes no value and sets a bool to true; CALL passes the value to
 * call, which dies (bench_die_usage) when it is bad. */
typedef enum {
  BENCH_OPT_INT,    /* int *target */
  BENCH_OPT_LONG,   /* long *target */
  BENCH_OPT_DOUBLE, /* double *target */
  BENCH_OPT_URL,    /* const char **target */
  BENCH_OPT_STRING, /* const char **target */
  BENCH_OPT_FLAG,   /* bool *target */
  BENCH_OPT_CALL,   /* call(value) */
} bench_opt_kind_t;

typedef struct bench_opt {
  const char *name; /* without the "--" */
  bench_opt_kind_t kind;
  void *target;
  long lo, hi;
  double min, max;
  void (*call)(const char *value);
} bench_opt_t;

/* The entries of an option table, one per kind. */
#define BENCH_INT(flag, t, l, h)                                               \
  { .name = (flag), .kind = BENCH_OPT_INT, .target = (t), .lo = (l), .hi = (h) }
#define BENCH_LONG(flag, t, l, h)                                              \
  {                                                                            \
    .name = (flag), .kind = BENCH_OPT_LONG, .target = (t), .lo = (l),          \
    .hi = (h)                                                                  \
  }
#define BENCH_DOUBLE(flag, t, l, h)                                            \
  {                                                                            \
    .name = (flag), .kind = BENCH_OPT_DOUBLE, .target = (t), .min = (l),       \
    .max = (h)                                                                 \
  }
#define BENCH_URL(flag, t)                                                     \
  { .name = (flag), .kind = BENCH_OPT_URL, .target = (t) }
#define BENCH_STRING(flag, t)                                                  \
  { .name = (flag), .kind = BENCH_OPT_STRING, .target = (t) }
#define BENCH_FLAG(flag, t)                                                    \
  { .name = (flag), .kind = BENCH_OPT_FLAG, .target = (t) }
#define BENCH_CALL(flag, fn)                                                   \
  { .name = (flag), .kind = BENCH_OPT_CALL, .call = (fn) }

/* Parses argv (getopt_long; "--name value" and "--name=value") by
 * opts[0..n), in order: each option sets its target.  --help prints
 * usage(stdout) and exits 0; an unknown option, a missing or bad value,
 * or an argument that is not an option dies (bench_die_usage).  The
 * caller checks what the options must be together afterwards. */
void bench_parse_args(int argc, char **argv, const bench_opt_t *opts, size_t n,
                      void (*usage)(FILE *out));

/* NAME:PID (NAME shorter than name_size, PID positive) into name and pid;
 * false when arg is not one. */
bool bench_parse_name_pid(const char *arg, char *name, size_t name_size,
                          long *pid);

/* ------------------------------------------------------------ clocks, CPU */

/* Seconds on CLOCK_MONOTONIC. */
double bench_now_s(void);

/* Sleeps s seconds (nothing when s <= 0), through signals. */
void bench_sleep_s(double s);

/* CPU seconds (user + system) of process pid, or of its thread tid
 * (tid > 0), from /proc; -1 when unreadable (gone). */
double bench_proc_cpu_s(long pid);
double bench_thread_cpu_s(long pid, long tid);

/* The CPU this process and the whole machine used up to a moment; two of
 * them bound a window. */
typedef struct bench_cpu_mark {
  double at_s;        /* bench_now_s() */
  double self_s;      /* this process's CPU seconds */
  double busy, total; /* the machine's jiffies from /proc/stat */
  double steal;       /* of those, stolen (busy includes them) */
  bool machine;       /* false when /proc/stat was unreadable */
} bench_cpu_mark_t;

void bench_cpu_mark(bench_cpu_mark_t *m);

/* This process's CPU between two marks as % of one core, over window_s
 * seconds. */
double bench_self_cpu_pct(const bench_cpu_mark_t *a, const bench_cpu_mark_t *b,
                          double window_s);

/* The whole machine's CPU between two marks as % of one core (cores x the
 * busy share); -1 when unknown. */
double bench_machine_cpu_pct(const bench_cpu_mark_t *a,
                             const bench_cpu_mark_t *b);

/* Of that, the time the VM's host gave to other guests ("steal" in
 * /proc/stat), in the same unit: the machine was slower by as much, and
 * a benchmark's figures with it; -1 when unknown. */
double bench_steal_pct(const bench_cpu_mark_t *a, const bench_cpu_mark_t *b);

/* Online CPUs (at least 1). */
long bench_cores(void);

/* Processes whose CPU a benchmark reports over a window (--cpu NAME:PID,
 * repeatable: two chorusd, the database). */
#define BENCH_CPU_MAX 16
typedef struct bench_cpu_watch {
  char name[32];
  long pid;
  double start_s, used_s; /* used_s -1: unreadable (the process is gone) */
} bench_cpu_watch_t;

typedef struct bench_cpu_watches {
  bench_cpu_watch_t w[BENCH_CPU_MAX];
  int n;
} bench_cpu_watches_t;

/* Adds the process of a --cpu NAME:PID value; dies (bench_die_usage) when
 * the value is not one, or past BENCH_CPU_MAX. */
void bench_cpu_watch_add(bench_cpu_watches_t *ws, const char *value);

/* The window's start and end: each process's CPU seconds then. */
void bench_cpu_watch_start(bench_cpu_watches_t *ws);
void bench_cpu_watch_stop(bench_cpu_watches_t *ws);

/* Prints "\"NAME\":PCT," for each name (the processes of one name
 * summed), PCT the percent of one core over window_s seconds. */
void bench_cpu_watch_json(const bench_cpu_watches_t *ws, double window_s);

/* ------------------------------------------------------------ statistics */

/* A distribution of n values. */
typedef struct bench_dist {
  size_t n;
  double p50, p90, p99, max, min, mean; /* all 0 when n == 0 */
} bench_dist_t;

/* Sorts v[0..n) in place and returns its distribution (nearest-rank
 * percentiles). */
bench_dist_t bench_dist_of(double *v, size_t n);

/* ------------------------------------------------------------ HTTP */

/* One answer: the status, the chorus_session cookie it set (or ""), and
 * the start of its body (NUL-terminated). */
typedef struct bench_reply {
  long status;
  char cookie[512];
  char body[BENCH_BODY_MAX];
  size_t len;
} bench_reply_t;

/* A curl handle for one thread: no signals, TCP_NODELAY, a 5 s connect
 * timeout and a timeout_ms whole-request timeout.  Exits 1 when curl
 * cannot make one.  The caller cleans it up (curl_easy_cleanup). */
CURL *bench_curl_new(long timeout_ms);

/* method ("GET", "POST", "PUT", ...) url on h, with cookie (the
 * chorus_session value) when not NULL and body (JSON) when not NULL; the
 * answer into r.  False, with a message, on a transport error. */
bool bench_http(CURL *h, const char *method, const char *url,
                const char *cookie, const char *body, bench_reply_t *r);

/* The same with a body of any bytes, body[0..len), of content_type (an
 * upload's multipart/form-data). */
bool bench_http_typed(CURL *h, const char *method, const char *url,
                      const char *cookie, const char *content_type,
                      const void *body, size_t len, bench_reply_t *r);

/* The value of sample (a metric's name, with its labels if it has any)
 * in base's /metrics (GET base/metrics, however long); -1, with a
 * message, when it cannot be read or has no such line. */
double bench_metric(const char *base, const char *sample);

/* A user a benchmark registers: its name (filled in by the caller) and the
 * session cookie its registration answered with. */
typedef struct bench_user {
  char name[31];
  char cookie[512];
} bench_user_t;

/* Registers users[0..n) with BENCH_PASSWORD (POST /api/register; Argon2id
 * on the server, slow on purpose), users[i] on urls[i % n_urls], on up to
 * `threads` threads at once, filling in each cookie.  False (with a
 * message; the rest not tried) when one was not answered 201 with a
 * session cookie. */
bool bench_register_users(bench_user_t *users, int n, const char *const *urls,
                          int n_urls, int threads);

#endif
