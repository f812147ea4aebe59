/*
 * test_shutdown.c - SIGTERM while clients are busy.
 *
 * A server under a stream of tweet creations and with WebSocket clients
 * gets SIGTERM.  It must exit on its own within 10 s with status 0; every
 * request it answered 201 must have a tweet that exists (an acknowledged
 * write is never lost), no request may get a 5xx from the shutdown, and
 * WebSocket clients must be closed with 1001 "going away".
 *
 * And a start that fails (its WebSocket port taken) stops what it had
 * started in order: the process exits with an error and no sanitizer
 * report (the hub's worker, which reads the trends, stopped before the
 * read model goes).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/client/harness.h"
#include "tests/client/testclient.h"
#include "tests/client/wsclient.h"

#define WRITERS 3
#define MAX_ACKED 2000

typedef struct writer {
  const char *url;
  char cookie_token[100];
  atomic_bool *stop;
  char acked[MAX_ACKED][25];
  int n_acked;
  int server_errors;
} writer_t;

static void *writer_main(void *arg) {
  writer_t *w = arg;
  for (int n = 0; !atomic_load(w->stop) && w->n_acked < MAX_ACKED; n++) {
    tc_client_t *c = tc_client_with_session(w->url, w->cookie_token);
    tc_client_set_timeout_ms(c, 15000);
    char body[64];
    snprintf(body, sizeof body, "{\"text\":\"shutdown %d\"}", n);
    tc_response_t r;
    bool sent =
        tc_try_request(c, "POST", "/api/tweet", body, strlen(body), NULL, &r);
    if (sent && r.status == 201) {
      bson_strncpy(w->acked[w->n_acked++], tc_json_str(&r, "id"), 25);
    } else if (sent && r.status >= 500 && r.status != 503) {
      print_error("during shutdown: %ld %s\n", r.status, r.body);
      w->server_errors++;
    }
    tc_response_free(&r);
    tc_client_destroy(c);
    if (!sent) {
      break; /* the server is gone: stop */
    }
  }
  return NULL;
}

static void test_sigterm_is_graceful(void **state) {
  (void)state;
  char db_name[64];
  snprintf(db_name, sizeof db_name, "shutdown_%d", (int)getpid());
  tc_server_t s;
  tc_server_init(&s, "a", db_name);
  assert_true(tc_server_start(&s));

  char name[31], token[100], ws_url[256], cookie[128];
  tc_client_t *c = tc_new_user(s.url, "bye", name);
  tc_session_token(c, token, sizeof token);
  tc_ws_url(s.url, ws_url, sizeof ws_url);
  tc_session_cookie(c, cookie, sizeof cookie);
  int status = 0;
  tc_ws_t *ws = tc_ws_connect(ws_url, cookie, &status);
  assert_non_null(ws);

  atomic_bool stop = false;
  static writer_t writers[WRITERS];
  pthread_t threads[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    memset(&writers[i], 0, sizeof writers[i]);
    writers[i].url = s.url;
    writers[i].stop = &stop;
    bson_strncpy(writers[i].cookie_token, token,
                 sizeof writers[i].cookie_token);
    pthread_create(&threads[i], NULL, writer_main, &writers[i]);
  }
  tc_sleep_ms(1500); /* writes in flight */

  int64_t t0 = tc_now_ms();
  kill(s.pid, SIGTERM);
  int code = 0;
  assert_true(tc_ws_wait_closed(ws, 10000, &code));
  assert_int_equal(code, 1001);
  int exit_code = tc_server_wait_exit(&s, 10000);
  int64_t took = tc_now_ms() - t0;
  fprintf(stderr, "shutdown took %lld ms, exit %d\n", (long long)took,
          exit_code);
  assert_int_equal(exit_code, 0);
  assert_true(took < 10000);
  atomic_store(&stop, true);
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(threads[i], NULL);
  }
  tc_ws_close(ws);

  /* Every acknowledged tweet exists; no 5xx came from the shutdown. */
  tc_db_t db;
  tc_db_open(&db, NULL, db_name);
  int acked = 0;
  for (int i = 0; i < WRITERS; i++) {
    assert_int_equal(writers[i].server_errors, 0);
    for (int k = 0; k < writers[i].n_acked; k++) {
      if (!tc_db_has_tweet(&db, 4, NULL, writers[i].acked[k])) {
        fail_msg("acknowledged tweet %s is missing", writers[i].acked[k]);
      }
      acked++;
    }
  }
  fprintf(stderr, "%d acknowledged tweets all present\n", acked);
  assert_true(acked > 0);
  tc_db_drop(&db);
  tc_db_close(&db);
  tc_client_destroy(c);
}

/* A listening socket on 127.0.0.1:port (the caller closes it). */
static int occupy(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 4), 0);
  return fd;
}

static bool file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  if (!f) {
    return false;
  }
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    found = strstr(line, needle) != NULL;
  }
  fclose(f);
  return found;
}

static void test_failed_start_is_clean(void **state) {
  (void)state;
  char db_name[64];
  snprintf(db_name, sizeof db_name, "failstart_%d", (int)getpid());
  for (int round = 0; round < 3; round++) {
    tc_server_t s;
    tc_server_init(&s, "a", db_name);
    int fd = occupy(s.ws_port);
    assert_false(tc_server_start(&s)); /* exits: the port is taken */
    close(fd);
    assert_true(file_contains(s.log, "chorusd"));
    assert_false(file_contains(s.log, "AddressSanitizer"));
    assert_false(file_contains(s.log, "runtime error"));
    assert_false(file_contains(s.log, "LeakSanitizer"));
  }
  tc_db_t db;
  tc_db_open(&db, NULL, db_name);
  tc_db_drop(&db);
  tc_db_close(&db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigterm_is_graceful),
      cmocka_unit_test(test_failed_start_is_clean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
