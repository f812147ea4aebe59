/*
 * chorusctl - small operator commands that speak to the database through
 * mongo-c-driver, for machines without mongosh.
 *
 *   chorusctl ping      --uri URI            exit 0 when the server answers
 *   chorusctl rs-init   --uri URI --members host:port[,host:port...]
 *                                            replSetInitiate as set "rs0"
 *                                            (or --set NAME); already
 *                                            initiated is success
 *   chorusctl rs-status --uri URI            prints each member and state;
 *                                            exit 0 when a PRIMARY exists
 *   chorusctl media --uri URI [--db NAME]    counts the images stored and
 *                                            what awaits removal (database
 *                                            chorus unless --db)
 *
 * URI should use directConnection=true for a member not yet initiated.
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr, "usage: chorusctl ping --uri URI\n"
                  "       chorusctl rs-init --uri URI --members h:p[,h:p...] "
                  "[--set NAME]\n"
                  "       chorusctl rs-status --uri URI\n"
                  "       chorusctl media --uri URI [--db NAME]\n");
  return 2;
}

static const char *arg_value(int argc, char **argv, const char *name) {
  for (int i = 2; i + 1 < argc; i++) {
    if (!strcmp(argv[i], name)) {
      return argv[i + 1];
    }
  }
  return NULL;
}

static bool run_admin(mongoc_client_t *client, const bson_t *cmd, bson_t *reply,
                      bson_error_t *err) {
  return mongoc_client_command_simple(client, "admin", cmd, NULL, reply, err);
}

static int cmd_ping(mongoc_client_t *client) {
  bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
  bson_error_t err;
  bool ok = run_admin(client, cmd, NULL, &err);
  bson_destroy(cmd);
  if (!ok) {
    fprintf(stderr, "chorusctl: ping failed: %s\n", err.message);
    return 1;
  }
  printf("ok\n");
  return 0;
}

static int cmd_rs_init(mongoc_client_t *client, const char *set,
                       const char *members) {
  bson_t cmd = BSON_INITIALIZER, config, array;
  BSON_APPEND_DOCUMENT_BEGIN(&cmd, "replSetInitiate", &config);
  BSON_APPEND_UTF8(&config, "_id", set);
  BSON_APPEND_ARRAY_BEGIN(&config, "members", &array);
  char *copy = bson_strdup(members), *save = NULL;
  int i = 0;
  for (char *host = strtok_r(copy, ",", &save); host;
       host = strtok_r(NULL, ",", &save), i++) {
    char key[16];
    bson_t member;
    snprintf(key, sizeof key, "%d", i);
    BSON_APPEND_DOCUMENT_BEGIN(&array, key, &member);
    BSON_APPEND_INT32(&member, "_id", i);
    BSON_APPEND_UTF8(&member, "host", host);
    bson_append_document_end(&array, &member);
  }
  bson_free(copy);
  bson_append_array_end(&config, &array);
  bson_append_document_end(&cmd, &config);
  bson_error_t err;
  bson_t reply;
  bool ok = run_admin(client, &cmd, &reply, &err);
  bson_destroy(&cmd);
  bson_destroy(&reply);
  if (!ok && err.code != 23 /* AlreadyInitialized */) {
    fprintf(stderr, "chorusctl: replSetInitiate failed: %s\n", err.message);
    return 1;
  }
  printf(ok ? "initiated\n" : "already initiated\n");
  return 0;
}

static int cmd_rs_status(mongoc_client_t *client) {
  bson_t *cmd = BCON_NEW("replSetGetStatus", BCON_INT32(1));
  bson_t reply;
  bson_error_t err;
  bool ok = run_admin(client, cmd, &reply, &err);
  bson_destroy(cmd);
  if (!ok) {
    fprintf(stderr, "chorusctl: replSetGetStatus failed: %s\n", err.message);
    bson_destroy(&reply);
    return 1;
  }
  bool primary = false;
  bson_iter_t it, members;
  if (bson_iter_init_find(&it, &reply, "members") &&
      BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &members)) {
    while (bson_iter_next(&members)) {
      bson_iter_t m;
      const char *name = "?", *state = "?";
      if (bson_iter_recurse(&members, &m)) {
        while (bson_iter_next(&m)) {
          if (!strcmp(bson_iter_key(&m), "name") && BSON_ITER_HOLDS_UTF8(&m)) {
            name = bson_iter_utf8(&m, NULL);
          } else if (!strcmp(bson_iter_key(&m), "stateStr") &&
                     BSON_ITER_HOLDS_UTF8(&m)) {
            state = bson_iter_utf8(&m, NULL);
          }
        }
      }
      printf("%s %s\n", name, state);
      primary = primary || !strcmp(state, "PRIMARY");
    }
  }
  bson_destroy(&reply);
  return primary ? 0 : 1;
}

/* The documents of each media collection (server/domain/media.h). */
static int cmd_media(mongoc_client_t *client, const char *db) {
  static const char *const colls[] = {"media", "media_unattached",
                                      "media_trash", "media.files",
                                      "media.chunks"};
  int rc = 0;
  for (size_t i = 0; i < sizeof colls / sizeof colls[0]; i++) {
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, colls[i]);
    bson_t filter = BSON_INITIALIZER;
    bson_error_t err;
    int64_t n =
        mongoc_collection_count_documents(c, &filter, NULL, NULL, NULL, &err);
    if (n < 0) {
      fprintf(stderr, "chorusctl: count %s failed: %s\n", colls[i],
              err.message);
      rc = 1;
    } else {
      printf("%-17s %lld\n", colls[i], (long long)n);
    }
    bson_destroy(&filter);
    mongoc_collection_destroy(c);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    return usage();
  }
  const char *uri_string = arg_value(argc, argv, "--uri");
  if (!uri_string) {
    return usage();
  }
  mongoc_init();
  bson_error_t err;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, &err);
  if (!uri) {
    fprintf(stderr, "chorusctl: bad --uri: %s\n", err.message);
    mongoc_cleanup();
    return 2;
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   3000);
  }
  mongoc_client_t *client = mongoc_client_new_from_uri(uri);
  mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
  int rc;
  if (!strcmp(argv[1], "ping")) {
    rc = cmd_ping(client);
  } else if (!strcmp(argv[1], "rs-init")) {
    const char *members = arg_value(argc, argv, "--members");
    const char *set = arg_value(argc, argv, "--set");
    rc = members ? cmd_rs_init(client, set ? set : "rs0", members) : usage();
  } else if (!strcmp(argv[1], "rs-status")) {
    rc = cmd_rs_status(client);
  } else if (!strcmp(argv[1], "media")) {
    const char *db = arg_value(argc, argv, "--db");
    rc = cmd_media(client, db ? db : "chorus");
  } else {
    rc = usage();
  }
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  mongoc_cleanup();
  return rc;
}
