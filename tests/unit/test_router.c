/*
 * test_router.c - unit tests for router.h: matching "METHOD /path" against
 * a route table of literal and ":param" segments.  Covers FOUND with the
 * right route and parameters (pointing into req->path), NOT_FOUND for
 * unknown, too deep, too long, empty, relative and empty-segment paths,
 * BAD_METHOD with the exact Allow list, HEAD answered by GET routes,
 * trailing slashes (ignored: "/api/tweet/" is "/api/tweet"), the segment
 * and parameter limits, and that a reused request is reset.
 *
 * router_match only uses req->path, req->params and req->n_params, so a
 * zeroed http_request_t stands in for a real connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/http/router.h"

/* Dummy handlers: only their addresses matter. */
static void h_tweet_list(http_request_t *req) { (void)req; }
static void h_tweet_create(http_request_t *req) { (void)req; }
static void h_tweet_edit(http_request_t *req) { (void)req; }
static void h_follow(http_request_t *req) { (void)req; }
static void h_unfollow(http_request_t *req) { (void)req; }
static void h_user_tweet(http_request_t *req) { (void)req; }
static void h_deep(http_request_t *req) { (void)req; }
static void h_four(http_request_t *req) { (void)req; }
static void h_five(http_request_t *req) { (void)req; }

static const route_t routes[] = {
    {"GET", "/api/tweet", h_tweet_list},
    {"POST", "/api/tweet", h_tweet_create},
    {"PUT", "/api/tweet/:id", h_tweet_edit},
    {"POST", "/api/users/:name/follow", h_follow},
    {"DELETE", "/api/users/:name/follow", h_unfollow},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* A second table for limits: two parameters, 8 segments, 4 and 5
 * parameters. */
static const route_t more_routes[] = {
    {"GET", "/api/users/:name/tweets/:id", h_user_tweet},
    {"GET", "/a/b/c/d/e/f/g/:h", h_deep},
    {"GET", "/four/:a/:b/:c/:d", h_four},
    {"GET", "/five/:a/:b/:c/:d/:e", h_five},
};
#define N_MORE (sizeof more_routes / sizeof more_routes[0])

typedef struct match {
  route_result_t result;
  const route_t *found;
  char allow[64];
} match_t;

static http_request_t req;

static int reset_request(void **state) {
  (void)state;
  memset(&req, 0, sizeof req);
  return 0;
}

static match_t match_in(const route_t *table, size_t n, const char *method,
                        const char *path) {
  match_t m;
  memset(&m, 'X', sizeof m);
  m.found = (const route_t *)&m; /* must be overwritten */
  m.result = router_match(table, n, method, path, &req, &m.found, m.allow,
                          sizeof m.allow);
  return m;
}

static match_t match(const char *method, const char *path) {
  return match_in(routes, N_ROUTES, method, path);
}

static void assert_not_found(const char *method, const char *path) {
  match_t m = match(method, path);
  assert_int_equal(m.result, ROUTE_NOT_FOUND);
  assert_null(m.found);
  assert_string_equal(m.allow, "");
}

static void assert_param_in_path(size_t i) {
  assert_true(req.params[i] >= req.path &&
              req.params[i] < req.path + sizeof req.path);
}

/* ------------------------------------------------------------------ */
/* FOUND                                                               */
/* ------------------------------------------------------------------ */

static void get_tweet_list_is_found_without_params(void **state) {
  (void)state;
  match_t m = match("GET", "/api/tweet");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[0]);
  assert_ptr_equal(m.found->fn, h_tweet_list);
  assert_int_equal(req.n_params, 0);
}

static void post_tweet_is_found_as_create(void **state) {
  (void)state;
  match_t m = match("POST", "/api/tweet");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[1]);
  assert_ptr_equal(m.found->fn, h_tweet_create);
  assert_int_equal(req.n_params, 0);
}

static void put_tweet_id_captures_the_id(void **state) {
  (void)state;
  match_t m = match("PUT", "/api/tweet/abc");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[2]);
  assert_int_equal(req.n_params, 1);
  assert_string_equal(req.params[0], "abc");
  assert_param_in_path(0);
}

static void put_tweet_captures_a_24_hex_id(void **state) {
  (void)state;
  match_t m = match("PUT", "/api/tweet/65538a0011223344556677ff");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_int_equal(req.n_params, 1);
  assert_string_equal(req.params[0], "65538a0011223344556677ff");
}

static void param_in_middle_of_pattern_is_captured(void **state) {
  (void)state;
  match_t m = match("POST", "/api/users/alice/follow");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[3]);
  assert_ptr_equal(m.found->fn, h_follow);
  assert_int_equal(req.n_params, 1);
  assert_string_equal(req.params[0], "alice");
  assert_param_in_path(0);

  m = match("DELETE", "/api/users/bob_2/follow");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[4]);
  assert_ptr_equal(m.found->fn, h_unfollow);
  assert_int_equal(req.n_params, 1);
  assert_string_equal(req.params[0], "bob_2");
}

static void param_keeps_any_non_slash_bytes(void **state) {
  (void)state;
  static const char *const values[] = {"a b", "h\xC3\xA9llo", "%2F", ":id",
                                       "a.b", "x?y=1",        "...", "-"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char path[64];
    snprintf(path, sizeof path, "/api/tweet/%s", values[i]);
    match_t m = match("PUT", path);
    assert_int_equal(m.result, ROUTE_FOUND);
    assert_int_equal(req.n_params, 1);
    assert_string_equal(req.params[0], values[i]);
  }
}

static void two_params_are_captured_in_order(void **state) {
  (void)state;
  match_t m = match_in(more_routes, N_MORE, "GET", "/api/users/bob/tweets/42");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &more_routes[0]);
  assert_int_equal(req.n_params, 2);
  assert_string_equal(req.params[0], "bob");
  assert_string_equal(req.params[1], "42");
  assert_param_in_path(0);
  assert_param_in_path(1);
}

static void four_params_are_the_maximum(void **state) {
  (void)state;
  assert_int_equal(HTTP_MAX_PARAMS, 4);
  match_t m = match_in(more_routes, N_MORE, "GET", "/four/1/2/3/4");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found->fn, h_four);
  assert_int_equal(req.n_params, 4);
  assert_string_equal(req.params[0], "1");
  assert_string_equal(req.params[1], "2");
  assert_string_equal(req.params[2], "3");
  assert_string_equal(req.params[3], "4");
}

static void pattern_with_five_params_never_matches(void **state) {
  (void)state;
  match_t m = match_in(more_routes, N_MORE, "GET", "/five/1/2/3/4/5");
  assert_int_equal(m.result, ROUTE_NOT_FOUND);
  assert_null(m.found);
}

static void path_is_copied_into_request(void **state) {
  (void)state;
  char path[] = "/api/tweet/xyz";
  match_t m = match("PUT", path);
  assert_int_equal(m.result, ROUTE_FOUND);
  /* The caller's string is not modified, and params do not point into
   * it: overwriting it leaves the parameter intact. */
  assert_string_equal(path, "/api/tweet/xyz");
  memset(path, 'Q', sizeof path - 1);
  assert_string_equal(req.params[0], "xyz");
}

static void reused_request_is_reset_between_matches(void **state) {
  (void)state;
  match_t m = match("PUT", "/api/tweet/abc");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_int_equal(req.n_params, 1);
  m = match("GET", "/api/tweet");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_int_equal(req.n_params, 0);
  m = match("DELETE", "/api/users/zed/follow");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_int_equal(req.n_params, 1);
  assert_string_equal(req.params[0], "zed");
}

/* ------------------------------------------------------------------ */
/* NOT_FOUND                                                           */
/* ------------------------------------------------------------------ */

static void unknown_path_is_not_found(void **state) {
  (void)state;
  assert_not_found("GET", "/api/nope");
  assert_not_found("GET", "/nope");
  assert_not_found("POST", "/api/nope");
}

static void extra_segment_is_not_found(void **state) {
  (void)state;
  assert_not_found("PUT", "/api/tweet/a/b");
  assert_not_found("GET", "/api/tweet/a/b");
  assert_not_found("POST", "/api/users/alice/follow/x");
}

static void missing_segment_is_not_found(void **state) {
  (void)state;
  assert_not_found("GET", "/api");
  assert_not_found("POST", "/api/users/alice");
  assert_not_found("POST", "/api/users");
}

static void root_path_is_not_found(void **state) {
  (void)state;
  assert_not_found("GET", "/");
}

static void empty_path_is_not_found(void **state) {
  (void)state;
  assert_not_found("GET", "");
}

static void path_without_leading_slash_is_not_found(void **state) {
  (void)state;
  assert_not_found("GET", "no-leading-slash");
  assert_not_found("GET", "api/tweet");
  assert_not_found("GET", " /api/tweet");
}

static void literal_segments_match_exactly(void **state) {
  (void)state;
  assert_not_found("GET", "/API/tweet"); /* case-sensitive */
  assert_not_found("GET", "/api/Tweet");
  assert_not_found("GET", "/api/tweets"); /* longer */
  assert_not_found("GET", "/api/twee");   /* prefix */
  assert_not_found("GET", "/apix/tweet");
  assert_not_found("POST", "/api/users/alice/followers");
}

static void empty_segment_is_not_found(void **state) {
  (void)state;
  assert_not_found("GET", "/api//tweet");
  assert_not_found("GET", "//api/tweet");
  /* An empty segment never fills a parameter. */
  assert_not_found("PUT", "/api/tweet//");
  assert_not_found("POST", "/api/users//follow");
}

static void path_of_1023_chars_fits(void **state) {
  (void)state;
  char path[1024];
  strcpy(path, "/api/tweet/");
  size_t prefix = strlen(path);
  memset(path + prefix, 'x', sizeof path - 1 - prefix);
  path[sizeof path - 1] = '\0';
  assert_int_equal(strlen(path), 1023);
  match_t m = match("PUT", path);
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_int_equal(strlen(req.params[0]), 1023 - prefix);
}

static void path_of_1024_chars_is_not_found(void **state) {
  (void)state;
  char path[1025];
  strcpy(path, "/api/tweet/");
  size_t prefix = strlen(path);
  memset(path + prefix, 'x', sizeof path - 1 - prefix);
  path[sizeof path - 1] = '\0';
  assert_int_equal(strlen(path), 1024);
  assert_not_found("PUT", path);
}

static void path_much_longer_than_buffer_is_not_found(void **state) {
  (void)state;
  char path[5000];
  strcpy(path, "/api/tweet/");
  size_t prefix = strlen(path);
  memset(path + prefix, 'y', sizeof path - 1 - prefix);
  path[sizeof path - 1] = '\0';
  assert_not_found("PUT", path);
  assert_not_found("GET", path);
}

static void eight_segments_are_allowed(void **state) {
  (void)state;
  match_t m = match_in(more_routes, N_MORE, "GET", "/a/b/c/d/e/f/g/h");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found->fn, h_deep);
  assert_int_equal(req.n_params, 1);
  assert_string_equal(req.params[0], "h");
  /* A trailing slash is not a ninth segment. */
  m = match_in(more_routes, N_MORE, "GET", "/a/b/c/d/e/f/g/h/");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_string_equal(req.params[0], "h");
}

static void too_many_segments_is_not_found(void **state) {
  (void)state;
  match_t m = match_in(more_routes, N_MORE, "GET", "/a/b/c/d/e/f/g/h/i");
  assert_int_equal(m.result, ROUTE_NOT_FOUND);
  assert_null(m.found);
  assert_not_found("GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16");
  assert_not_found("GET", "/api/tweet/1/2/3/4/5/6/7/8/9");
}

static void many_slashes_are_not_found(void **state) {
  (void)state;
  char path[1000];
  memset(path, '/', sizeof path - 1);
  path[sizeof path - 1] = '\0';
  assert_not_found("GET", path);
}

/* ------------------------------------------------------------------ */
/* BAD_METHOD                                                          */
/* ------------------------------------------------------------------ */

static void delete_on_tweet_list_allows_get_and_post(void **state) {
  (void)state;
  match_t m = match("DELETE", "/api/tweet");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_null(m.found);
  assert_string_equal(m.allow, "GET, POST");
}

static void put_and_patch_on_tweet_list_allow_get_and_post(void **state) {
  (void)state;
  match_t m = match("PUT", "/api/tweet");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "GET, POST");
  m = match("PATCH", "/api/tweet");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "GET, POST");
}

static void get_on_tweet_id_allows_put(void **state) {
  (void)state;
  match_t m = match("GET", "/api/tweet/abc");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_null(m.found);
  assert_string_equal(m.allow, "PUT");
}

static void get_on_follow_allows_post_and_delete(void **state) {
  (void)state;
  match_t m = match("GET", "/api/users/alice/follow");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "POST, DELETE");
}

static void method_names_are_case_sensitive(void **state) {
  (void)state;
  match_t m = match("get", "/api/tweet");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "GET, POST");
}

static void allow_list_never_overflows_its_buffer(void **state) {
  (void)state;
  char allow[10];
  memset(allow, 'Z', sizeof allow);
  const route_t *found = NULL;
  route_result_t r = router_match(
      routes, N_ROUTES, "GET", "/api/users/a/follow", &req, &found, allow, 8);
  assert_int_equal(r, ROUTE_BAD_METHOD);
  assert_true(strlen(allow) < 8);
  assert_int_equal(allow[8], 'Z');
  assert_int_equal(allow[9], 'Z');
  assert_string_equal(allow, "POST"); /* "POST, DELETE" does not fit */
}

static void allow_list_names_each_method_once(void **state) {
  (void)state;
  static const route_t dup[] = {
      {"PUT", "/x/:id", h_tweet_edit},
      {"PUT", "/x/mine", h_tweet_edit},
      {"POST", "/x/mine", h_tweet_create},
  };
  match_t m = match_in(dup, 3, "DELETE", "/x/mine");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "PUT, POST");
}

/* ------------------------------------------------------------------ */
/* HEAD                                                                */
/* ------------------------------------------------------------------ */

static void head_matches_get_route(void **state) {
  (void)state;
  match_t m = match("HEAD", "/api/tweet");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[0]);
  assert_ptr_equal(m.found->fn, h_tweet_list);
}

static void head_matches_get_route_with_params(void **state) {
  (void)state;
  match_t m = match_in(more_routes, N_MORE, "HEAD", "/api/users/x/tweets/9");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &more_routes[0]);
  assert_int_equal(req.n_params, 2);
  assert_string_equal(req.params[0], "x");
  assert_string_equal(req.params[1], "9");
}

static void head_without_get_route_is_bad_method(void **state) {
  (void)state;
  match_t m = match("HEAD", "/api/tweet/abc");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "PUT");
  m = match("HEAD", "/api/users/alice/follow");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "POST, DELETE");
}

static void head_on_unknown_path_is_not_found(void **state) {
  (void)state;
  assert_not_found("HEAD", "/api/nope");
}

/* ------------------------------------------------------------------ */
/* trailing slash                                                      */
/* ------------------------------------------------------------------ */

static void trailing_slash_is_ignored(void **state) {
  (void)state;
  /* split_path drops one trailing '/': "/api/tweet/" is "/api/tweet". */
  match_t m = match("GET", "/api/tweet/");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[0]);
  assert_int_equal(req.n_params, 0);

  m = match("DELETE", "/api/tweet/");
  assert_int_equal(m.result, ROUTE_BAD_METHOD);
  assert_string_equal(m.allow, "GET, POST");
}

static void trailing_slash_after_param_keeps_param(void **state) {
  (void)state;
  match_t m = match("PUT", "/api/tweet/abc/");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_ptr_equal(m.found, &routes[2]);
  assert_int_equal(req.n_params, 1);
  assert_string_equal(req.params[0], "abc");

  m = match("POST", "/api/users/alice/follow/");
  assert_int_equal(m.result, ROUTE_FOUND);
  assert_string_equal(req.params[0], "alice");
}

static void double_trailing_slash_is_not_found(void **state) {
  (void)state;
  assert_not_found("GET", "/api/tweet//");
  assert_not_found("PUT", "/api/tweet/abc//");
}

int main(void) {
#define T(f) cmocka_unit_test_setup(f, reset_request)
  const struct CMUnitTest tests[] = {
      T(get_tweet_list_is_found_without_params),
      T(post_tweet_is_found_as_create),
      T(put_tweet_id_captures_the_id),
      T(put_tweet_captures_a_24_hex_id),
      T(param_in_middle_of_pattern_is_captured),
      T(param_keeps_any_non_slash_bytes),
      T(two_params_are_captured_in_order),
      T(four_params_are_the_maximum),
      T(pattern_with_five_params_never_matches),
      T(path_is_copied_into_request),
      T(reused_request_is_reset_between_matches),
      T(unknown_path_is_not_found),
      T(extra_segment_is_not_found),
      T(missing_segment_is_not_found),
      T(root_path_is_not_found),
      T(empty_path_is_not_found),
      T(path_without_leading_slash_is_not_found),
      T(literal_segments_match_exactly),
      T(empty_segment_is_not_found),
      T(path_of_1023_chars_fits),
      T(path_of_1024_chars_is_not_found),
      T(path_much_longer_than_buffer_is_not_found),
      T(eight_segments_are_allowed),
      T(too_many_segments_is_not_found),
      T(many_slashes_are_not_found),
      T(delete_on_tweet_list_allows_get_and_post),
      T(put_and_patch_on_tweet_list_allow_get_and_post),
      T(get_on_tweet_id_allows_put),
      T(get_on_follow_allows_post_and_delete),
      T(method_names_are_case_sensitive),
      T(allow_list_never_overflows_its_buffer),
      T(allow_list_names_each_method_once),
      T(head_matches_get_route),
      T(head_matches_get_route_with_params),
      T(head_without_get_route_is_bad_method),
      T(head_on_unknown_path_is_not_found),
      T(trailing_slash_is_ignored),
      T(trailing_slash_after_param_keeps_param),
      T(double_trailing_slash_is_not_found),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
