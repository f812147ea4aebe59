/*
 * main.c - chorusd: parse the configuration, start, wait for SIGINT or
 * SIGTERM, stop.
 *
 * The signals are blocked before any thread starts, so every thread
 * inherits the mask and only sigwait() below ever receives them.
 */
#include <mongoc/mongoc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>

#include "server/app/server.h"

int main(int argc, char **argv) {
  chorus_error_t err;
  chorus_config_t cfg;
  chorus_error_clear(&err);
  switch (config_parse(&cfg, argc, argv, stdout, &err)) {
  case CONFIG_EXIT:
    return 0;
  case CONFIG_ERROR:
    fprintf(stderr, "chorusd: %s\n", err.message);
    return 2;
  case CONFIG_OK:
    break;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "chorusd: libsodium failed to initialise\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  mongoc_init();
  db_log_init();
  mg_init_library(0);
  chorus_server_t srv;
  if (!server_start(&srv, &cfg, &err)) {
    fprintf(stderr, "chorusd: %s\n", err.message);
    mg_exit_library();
    mongoc_cleanup();
    return 1;
  }
  fprintf(stderr, "chorusd[%s]: serving http://%s:%d/ (database %s at %s)\n",
          cfg.server_id, cfg.host, cfg.port, cfg.db_name, cfg.mongo_uri);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  fprintf(stderr, "chorusd[%s]: signal %d, stopping\n", cfg.server_id, sig);
  server_stop(&srv);
  mg_exit_library();
  mongoc_cleanup();
  return 0;
}
