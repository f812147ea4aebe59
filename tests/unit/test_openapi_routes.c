/*
 * test_openapi_routes.c - docs/openapi.yaml names exactly the routes the
 * server has.  The routes come from the code itself: the API's route
 * table (api_routes) and the app's (server_app_routes), linked in; the
 * contract's from its `paths:` (a path is a line "  /...:" and each of
 * its operations a line "    get:" etc. below it).  A ":param" segment
 * of a route is a "{param}" segment of the contract.  The test fails
 * when a route is missing from the contract or the contract has an
 * operation no route serves; first it runs the comparison on contracts
 * made to break each way and fails unless both are caught, so the check
 * itself is tested.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/api/api.h"
#include "server/app/server.h"

#define MAX_OPS 128
#define OP_MAX 160

/* "METHOD /path/{param}" strings. */
typedef struct ops {
  char op[MAX_OPS][OP_MAX];
  size_t n;
} ops_t;

static void ops_add(ops_t *o, const char *method, const char *path) {
  assert_true(o->n < MAX_OPS);
  char *out = o->op[o->n++];
  int n = snprintf(out, OP_MAX, "%s ", method);
  for (size_t i = 0; out[i]; i++) {
    out[i] = (char)toupper((unsigned char)out[i]);
  }
  /* ":name" segments become "{name}". */
  for (const char *p = path; *p && n < OP_MAX - 3;) {
    if (*p == ':' && (p == path || p[-1] == '/')) {
      size_t len = strcspn(p + 1, "/");
      n += snprintf(out + n, OP_MAX - (size_t)n, "{%.*s}", (int)len, p + 1);
      p += 1 + len;
    } else {
      out[n++] = *p++;
      out[n] = '\0';
    }
  }
}

static bool ops_has(const ops_t *o, const char *op) {
  for (size_t i = 0; i < o->n; i++) {
    if (!strcmp(o->op[i], op)) {
      return true;
    }
  }
  return false;
}

/* The operations of an OpenAPI document's paths (text: the YAML). */
static void contract_ops(const char *text, ops_t *o) {
  static const char *const methods[] = {"get",   "put",  "post",    "delete",
                                        "patch", "head", "options", "trace"};
  memset(o, 0, sizeof *o);
  char path[OP_MAX] = "";
  bool in_paths = false;
  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len == 6 && !strncmp(line, "paths:", 6)) {
      in_paths = true;
    } else if (in_paths && len > 0 && line[0] != ' ' && line[0] != '#') {
      in_paths = false; /* the next top-level key */
    } else if (in_paths && len > 4 && !strncmp(line, "  /", 3) &&
               line[len - 1] == ':' && len - 3 < sizeof path) {
      snprintf(path, sizeof path, "%.*s", (int)(len - 3), line + 2);
    } else if (in_paths && path[0] && !strncmp(line, "    ", 4) &&
               line[4] != ' ') {
      for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        size_t mlen = strlen(methods[m]);
        if (len > 4 + mlen && !strncmp(line + 4, methods[m], mlen) &&
            line[4 + mlen] == ':') {
          ops_add(o, methods[m], path);
        }
      }
    }
    line = end ? end + 1 : NULL;
  }
}

/* The operations of the code's route tables. */
static void code_ops(ops_t *o) {
  memset(o, 0, sizeof *o);
  size_t n;
  const route_t *api = api_routes(&n);
  for (size_t i = 0; i < n; i++) {
    ops_add(o, api[i].method, api[i].pattern);
  }
  const route_t *upload = api_upload_routes(&n);
  for (size_t i = 0; i < n; i++) {
    ops_add(o, upload[i].method, upload[i].pattern);
  }
  const route_t *app = server_app_routes(&n);
  for (size_t i = 0; i < n; i++) {
    ops_add(o, app[i].method, app[i].pattern);
  }
}

/* Prints and counts the differences: routes the contract lacks, and
 * operations of the contract no route serves. */
static size_t compare(const ops_t *code, const ops_t *contract) {
  size_t bad = 0;
  for (size_t i = 0; i < code->n; i++) {
    if (!ops_has(contract, code->op[i])) {
      printf("route not in docs/openapi.yaml: %s\n", code->op[i]);
      bad++;
    }
  }
  for (size_t i = 0; i < contract->n; i++) {
    if (!ops_has(code, contract->op[i])) {
      printf("docs/openapi.yaml names a route the code lacks: %s\n",
             contract->op[i]);
      bad++;
    }
  }
  return bad;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = test_malloc((size_t)size + 1);
  assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
  text[size] = '\0';
  fclose(f);
  return text;
}

/* The check on made-up contracts: each way of being wrong is caught. */
static void check_catches_both_directions(void **state) {
  (void)state;
  ops_t code, contract;
  memset(&code, 0, sizeof code);
  ops_add(&code, "GET", "/api/tweet/:id");
  ops_add(&code, "POST", "/api/tweet");
  const char *exact = "openapi: 3.1.0\npaths:\n  /api/tweet/{id}:\n"
                      "    parameters:\n      - name: id\n    get:\n"
                      "      responses: {}\n  /api/tweet:\n    post:\n"
                      "      summary: x\ncomponents: {}\n";
  contract_ops(exact, &contract);
  assert_int_equal(contract.n, 2);
  assert_int_equal(compare(&code, &contract), 0);
  /* A route the contract lacks (no POST). */
  contract_ops("paths:\n  /api/tweet/{id}:\n    get:\n  /api/tweet:\n"
               "    get:\n",
               &contract);
  assert_int_equal(compare(&code, &contract), 2); /* and GET /api/tweet */
  /* An operation no route serves, and a method under another path. */
  contract_ops("paths:\n  /api/tweet/{id}:\n    get:\n    delete:\n"
               "  /api/tweet:\n    post:\n",
               &contract);
  assert_int_equal(compare(&code, &contract), 1);
  /* ":id" is "{id}", not "{name}". */
  contract_ops("paths:\n  /api/tweet/{name}:\n    get:\n  /api/tweet:\n"
               "    post:\n",
               &contract);
  assert_int_equal(compare(&code, &contract), 2);
  /* Paths of other top-level keys (x-...) are not operations. */
  contract_ops("x-other:\n  /api/tweet/{id}:\n    get:\npaths:\n"
               "  /api/tweet:\n    post:\n",
               &contract);
  assert_int_equal(compare(&code, &contract), 1);
}

static void contract_names_exactly_the_routes(void **state) {
  (void)state;
  char *text = read_file(CHORUS_OPENAPI_YAML);
  ops_t code, contract;
  code_ops(&code);
  contract_ops(text, &contract);
  assert_true(code.n > 20);
  assert_int_equal(compare(&code, &contract), 0);
  assert_int_equal(contract.n, code.n);
  test_free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(check_catches_both_directions),
      cmocka_unit_test(contract_names_exactly_the_routes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
