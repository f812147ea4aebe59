/*
 * testclient.c - see testclient.h.
 */
#define _GNU_SOURCE /* strcasestr */
#include "tests/client/testclient.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* The cookie jar of one "browser".  Browsers keep cookies per host, not
 * per port, so the same user's clients on two servers of one host
 * (tc_same_user_on) share one jar: the session, and the causal token
 * (chorus_seen) one server's answer sets, go to the other too.
 * Reference-counted by its clients; curl wants a lock per kind of data. */
typedef struct tc_jar {
  CURLSH *share;
  pthread_mutex_t mu[CURL_LOCK_DATA_LAST];
  atomic_int refs;
} tc_jar_t;

struct tc_client {
  CURL *curl;
  tc_jar_t *jar;
  bool forgetful; /* tc_client_forget: no causal token sent for it */
  char base[256];
};

/* The newest causal token (chorus_seen, docs/READMODEL.md 4b) any answer
 * of this test process carried: the process knows of everything it did,
 * so its clients send it (tc_client_forget says otherwise). */
static atomic_llong g_seen;

static void causal_before(tc_client_t *c) {
  long long v = atomic_load(&g_seen);
  if (!c->forgetful && v > 0) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    tc_set_cookie(c, "chorus_seen", buf);
  }
}

static void causal_after(const char *headers) {
  static const char key[] = "Set-Cookie: chorus_seen=";
  for (const char *p = headers; (p = strcasestr(p, key)); p += sizeof key) {
    long long v = atoll(p + sizeof key - 1), cur = atomic_load(&g_seen);
    while (v > cur && !atomic_compare_exchange_weak(&g_seen, &cur, v)) {
    }
  }
}

void tc_client_forget(tc_client_t *c) { c->forgetful = true; }

static void jar_lock(CURL *h, curl_lock_data data, curl_lock_access access,
                     void *userptr) {
  (void)h;
  (void)access;
  pthread_mutex_lock(&((tc_jar_t *)userptr)->mu[data]);
}

static void jar_unlock(CURL *h, curl_lock_data data, void *userptr) {
  (void)h;
  pthread_mutex_unlock(&((tc_jar_t *)userptr)->mu[data]);
}

static tc_jar_t *jar_new(void) {
  tc_jar_t *jar = bson_malloc0(sizeof *jar);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
    pthread_mutex_init(&jar->mu[i], NULL);
  }
  atomic_init(&jar->refs, 1);
  jar->share = curl_share_init();
  curl_share_setopt(jar->share, CURLSHOPT_LOCKFUNC, jar_lock);
  curl_share_setopt(jar->share, CURLSHOPT_UNLOCKFUNC, jar_unlock);
  curl_share_setopt(jar->share, CURLSHOPT_USERDATA, jar);
  curl_share_setopt(jar->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
  return jar;
}

static void jar_release(tc_jar_t *jar) {
  if (atomic_fetch_sub(&jar->refs, 1) == 1) {
    curl_share_cleanup(jar->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
      pthread_mutex_destroy(&jar->mu[i]);
    }
    bson_free(jar);
  }
}

typedef struct buffer {
  char *data;
  size_t len;
} buffer_t;

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata) {
  buffer_t *b = userdata;
  size_t add = size * n;
  b->data = bson_realloc(b->data, b->len + add + 1);
  memcpy(b->data + b->len, ptr, add);
  b->len += add;
  b->data[b->len] = '\0';
  return add;
}

const char *tc_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr,
            "%s is not set: integration tests run against the servers that "
            "scripts/test.sh starts\n",
            name);
    exit(1);
  }
  return v;
}

const char *tc_url_a(void) { return tc_env("CHORUS_TEST_URL_A"); }
const char *tc_url_b(void) { return tc_env("CHORUS_TEST_URL_B"); }

/* A client on base_url with jar (taken over: the caller's reference). */
static tc_client_t *client_new(const char *base_url, tc_jar_t *jar) {
  static bool initialised;
  if (!initialised) {
    curl_global_init(CURL_GLOBAL_ALL);
    initialised = true;
  }
  tc_client_t *c = bson_malloc0(sizeof *c);
  c->curl = curl_easy_init();
  c->jar = jar;
  bson_strncpy(c->base, base_url, sizeof c->base);
  curl_easy_setopt(c->curl, CURLOPT_SHARE, jar->share);
  curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, ""); /* enable the jar */
  curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
  return c;
}

tc_client_t *tc_client_new(const char *base_url) {
  return client_new(base_url, jar_new());
}

void tc_client_destroy(tc_client_t *c) {
  if (c) {
    curl_easy_cleanup(c->curl);
    jar_release(c->jar);
    bson_free(c);
  }
}

bool tc_try_request(tc_client_t *c, const char *method, const char *path,
                    const char *body, size_t body_len,
                    const char *const *headers, tc_response_t *out) {
  memset(out, 0, sizeof *out);
  char url[2048];
  snprintf(url, sizeof url, "%s%s", c->base, path);
  buffer_t data = {NULL, 0}, head = {NULL, 0};
  struct curl_slist *list = NULL;
  bool has_type = false;
  for (size_t i = 0; headers && headers[i]; i++) {
    list = curl_slist_append(list, headers[i]);
    has_type = has_type || !strncasecmp(headers[i], "Content-Type:", 13);
  }
  if (body && !has_type) {
    list = curl_slist_append(list, "Content-Type: application/json");
  }
  list = curl_slist_append(list, "Expect:"); /* no 100-continue dance */

  causal_before(c);
  CURL *h = c->curl;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  /* HTTPGET first: it clears NOBODY, which a HEAD needs (or curl waits
   * for the body its Content-Length announces). */
  curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  }
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &data);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &head);
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    bson_free(data.data);
    bson_free(head.data);
    out->body = bson_strdup(curl_easy_strerror(rc));
    out->headers = bson_strdup("");
    out->status = 0;
    return false;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
  out->body = data.data ? data.data : bson_strdup("");
  out->len = data.len;
  out->headers = head.data ? head.data : bson_strdup("");
  causal_after(out->headers);
  if (out->len > 0 && out->body[0] == '{') {
    bson_error_t err;
    out->json =
        bson_new_from_json((const uint8_t *)out->body, (ssize_t)out->len, &err);
  }
  return true;
}

void tc_request(tc_client_t *c, const char *method, const char *path,
                const char *body, size_t body_len, const char *const *headers,
                tc_response_t *out) {
  if (!tc_try_request(c, method, path, body, body_len, headers, out)) {
    fail_msg("%s %s%s failed: %s", method, c->base, path, out->body);
  }
}

void tc_client_set_timeout_ms(tc_client_t *c, long ms) {
  curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, ms);
}

void tc_get(tc_client_t *c, const char *path, tc_response_t *out) {
  tc_request(c, "GET", path, NULL, 0, NULL, out);
}

void tc_send(tc_client_t *c, const char *method, const char *path,
             const char *json, tc_response_t *out) {
  tc_request(c, method, path, json, json ? strlen(json) : 0, NULL, out);
}

void tc_response_free(tc_response_t *r) {
  bson_free(r->body);
  bson_free(r->headers);
  if (r->json) {
    bson_destroy(r->json);
  }
  memset(r, 0, sizeof *r);
}

bool tc_header(const tc_response_t *r, const char *name, char *buf,
               size_t size) {
  size_t n = strlen(name);
  for (const char *line = r->headers; line && *line;) {
    const char *end = strstr(line, "\r\n");
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len > n && line[n] == ':' && !strncasecmp(line, name, n)) {
      const char *v = line + n + 1;
      while (*v == ' ') {
        v++;
      }
      size_t vlen = (size_t)(line + len - v);
      if (vlen >= size) {
        vlen = size - 1;
      }
      memcpy(buf, v, vlen);
      buf[vlen] = '\0';
      return true;
    }
    line = end ? end + 2 : NULL;
  }
  return false;
}

bool tc_cookie(tc_client_t *c, const char *name, char *buf, size_t size) {
  struct curl_slist *cookies = NULL;
  bool found = false;
  curl_easy_getinfo(c->curl, CURLINFO_COOKIELIST, &cookies);
  for (struct curl_slist *it = cookies; it; it = it->next) {
    /* Netscape format: domain, flag, path, secure, expiry, name, value */
    char *copy = bson_strdup(it->data), *save = NULL, *field;
    int i = 0;
    const char *cname = NULL, *cvalue = "";
    for (field = strtok_r(copy, "\t", &save); field;
         field = strtok_r(NULL, "\t", &save), i++) {
      if (i == 5) {
        cname = field;
      } else if (i == 6) {
        cvalue = field;
      }
    }
    if (cname && !strcmp(cname, name) && cvalue[0]) {
      bson_strncpy(buf, cvalue, size);
      found = true;
    }
    bson_free(copy);
  }
  curl_slist_free_all(cookies);
  return found;
}

void tc_set_cookie(tc_client_t *c, const char *name, const char *value) {
  /* Netscape cookie-file line for the host of the base URL. */
  char host[256] = "";
  const char *p = strstr(c->base, "://");
  p = p ? p + 3 : c->base;
  size_t n = strcspn(p, ":/");
  if (n >= sizeof host) {
    n = sizeof host - 1;
  }
  memcpy(host, p, n);
  host[n] = '\0';
  char line[600];
  snprintf(line, sizeof line, "%s\tFALSE\t/\tFALSE\t0\t%s\t%s", host, name,
           value);
  curl_easy_setopt(c->curl, CURLOPT_COOKIELIST, line);
}

/* The value at dotted path in doc (NULL: none) into out; false if absent. */
static bool find_in(const bson_t *doc, const char *path, bson_iter_t *out) {
  bson_iter_t it;
  return doc && bson_iter_init(&it, doc) &&
         bson_iter_find_descendant(&it, path, out);
}

static bool find(const tc_response_t *r, const char *path, bson_iter_t *out) {
  return find_in(r->json, path, out);
}

const char *tc_bson_str(const bson_t *doc, const char *path) {
  bson_iter_t it;
  return find_in(doc, path, &it) && BSON_ITER_HOLDS_UTF8(&it)
             ? bson_iter_utf8(&it, NULL)
             : NULL;
}

int64_t tc_bson_int(const bson_t *doc, const char *path) {
  bson_iter_t it;
  return find_in(doc, path, &it) && BSON_ITER_HOLDS_NUMBER(&it)
             ? bson_iter_as_int64(&it)
             : -1;
}

bool tc_bson_bool(const bson_t *doc, const char *path) {
  bson_iter_t it;
  return find_in(doc, path, &it) && BSON_ITER_HOLDS_BOOL(&it) &&
         bson_iter_bool(&it);
}

const char *tc_json_str(const tc_response_t *r, const char *path) {
  return tc_bson_str(r->json, path);
}

int64_t tc_json_int(const tc_response_t *r, const char *path) {
  return tc_bson_int(r->json, path);
}

bool tc_json_is_null(const tc_response_t *r, const char *path) {
  bson_iter_t it;
  return find(r, path, &it) && BSON_ITER_HOLDS_NULL(&it);
}

bool tc_json_has(const tc_response_t *r, const char *path) {
  bson_iter_t it;
  return find(r, path, &it);
}

int tc_json_array_len(const tc_response_t *r, const char *path) {
  bson_iter_t it, child;
  if (!find(r, path, &it) || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &child)) {
    return -1;
  }
  int n = 0;
  while (bson_iter_next(&child)) {
    n++;
  }
  return n;
}

void tc_unique_name(const char *prefix, char out[31]) {
  static atomic_uint counter;
  static atomic_uint salt;
  unsigned s = atomic_load(&salt);
  if (!s) {
    unsigned fresh = (unsigned)getpid() ^ (unsigned)time(NULL);
    s = atomic_compare_exchange_strong(&salt, &s, fresh) ? fresh : s;
  }
  snprintf(out, 31, "%.12s_%x_%u", prefix, s & 0xffffff,
           atomic_fetch_add(&counter, 1) + 1);
}

void tc_register(tc_client_t *c, const char *username, const char *password) {
  char *body = tc_credentials_json(username, password);
  tc_expect_status(c, "POST", "/api/register", body, 201);
  bson_free(body);
}

tc_client_t *tc_new_user(const char *base, const char *prefix, char name[31]) {
  tc_client_t *c = tc_client_new(base);
  tc_unique_name(prefix, name);
  tc_register(c, name, TC_PASSWORD);
  return c;
}

tc_client_t *tc_same_user_on(tc_client_t *c, const char *base) {
  char token[128];
  assert_true(tc_cookie(c, "chorus_session", token, sizeof token));
  atomic_fetch_add(&c->jar->refs, 1);
  return client_new(base, c->jar);
}

bool tc_json_bool(const tc_response_t *r, const char *path) {
  bson_iter_t it, child;
  if (!r->json || !bson_iter_init(&it, r->json) ||
      !bson_iter_find_descendant(&it, path, &child) ||
      !BSON_ITER_HOLDS_BOOL(&child)) {
    fail_msg("%s is not a boolean in %s", path, r->body);
  }
  return bson_iter_bool(&child);
}

/* method path with a JSON object of the string members key1: v1 and
 * key2: v2 (a NULL key or value: left out), into r. */
static void send_strings(tc_client_t *c, const char *method, const char *path,
                         const char *key1, const char *v1, const char *key2,
                         const char *v2, tc_response_t *r) {
  bson_t doc = BSON_INITIALIZER;
  if (key1 && v1) {
    BSON_APPEND_UTF8(&doc, key1, v1);
  }
  if (key2 && v2) {
    BSON_APPEND_UTF8(&doc, key2, v2);
  }
  char *json = bson_as_relaxed_extended_json(&doc, NULL);
  tc_send(c, method, path, json, r);
  bson_free(json);
  bson_destroy(&doc);
}

/* POST /api/tweet {"text": text[, "reply_to": parent]} as c's user, into r
 * (asserting 201 and an id, which is copied into id). */
static void post_tweet(tc_client_t *c, const char *text, const char *parent,
                       char id[25], tc_response_t *r) {
  send_strings(c, "POST", "/api/tweet", "text", text, "reply_to", parent, r);
  tc_assert_status(r, 201);
  const char *s = tc_json_str(r, "id");
  assert_non_null(s);
  assert_int_equal(strlen(s), 24);
  memcpy(id, s, 25);
}

void tc_post_tweet(tc_client_t *c, const char *text, char id[25]) {
  tc_response_t r;
  post_tweet(c, text, NULL, id, &r);
  tc_response_free(&r);
}

bool tc_is_rfc3339(const char *s) {
  /* YYYY-MM-DDTHH:MM:SS.mmmZ */
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (!s || strlen(s) != sizeof shape - 1) {
    return false;
  }
  for (size_t i = 0; shape[i]; i++) {
    if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) {
      return false;
    }
  }
  return true;
}

/* ---- text ---- */

void tc_upper(const char *s, char *out) {
  size_t i;
  for (i = 0; s[i]; i++) {
    out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
  }
  out[i] = '\0';
}

void tc_lower(const char *s, char *out) {
  size_t i;
  for (i = 0; s[i]; i++) {
    out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
  }
  out[i] = '\0';
}

char *tc_credentials_json(const char *username, const char *password) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "username", username);
  BSON_APPEND_UTF8(&doc, "password", password);
  char *json = bson_as_relaxed_extended_json(&doc, NULL);
  bson_destroy(&doc);
  return json;
}

char *tc_padded_json(const char *head, size_t size) {
  size_t n = strlen(head);
  assert_true(size > n);
  char *body = malloc(size + 1);
  assert_non_null(body);
  memcpy(body, head, n);
  memset(body + n, ' ', size - n);
  body[size - 1] = '}';
  body[size] = '\0';
  return body;
}

/* ---- sessions ---- */

void tc_session_token(tc_client_t *c, char *token, size_t size) {
  if (!tc_cookie(c, "chorus_session", token, size)) {
    fail_msg("the client on %s has no session cookie", c->base);
  }
}

void tc_session_cookie(tc_client_t *c, char *out, size_t size) {
  char token[128];
  tc_session_token(c, token, sizeof token);
  snprintf(out, size, "chorus_session=%s", token);
}

tc_client_t *tc_client_with_session(const char *base, const char *token) {
  tc_client_t *c = tc_client_new(base);
  tc_set_cookie(c, "chorus_session", token);
  return c;
}

void tc_new_session(const char *base, const char *prefix, char name[31],
                    char *token, size_t size) {
  tc_client_t *c = tc_new_user(base, prefix, name);
  tc_session_token(c, token, size);
  tc_client_destroy(c);
}

void tc_login(tc_client_t *c, const char *username, const char *password,
              tc_response_t *r) {
  char *body = tc_credentials_json(username, password);
  tc_send(c, "POST", "/api/login", body, r);
  bson_free(body);
}

const char *tc_path(const char *fmt, ...) {
  static _Thread_local char bufs[8][512];
  static _Thread_local unsigned next;
  char *buf = bufs[next++ % 8];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof bufs[0], fmt, ap);
  va_end(ap);
  return buf;
}

/* ---- one request and the answer it must get ---- */

void tc_expect_status(tc_client_t *c, const char *method, const char *path,
                      const char *json, long status) {
  tc_response_t r;
  tc_send(c, method, path, json, &r);
  if (r.status != status) {
    print_error("%s %s\n", method, path);
  }
  tc_assert_status(&r, status);
  tc_response_free(&r);
}

void tc_expect_error(tc_client_t *c, const char *method, const char *path,
                     const char *json, long status, const char *code) {
  tc_response_t r;
  tc_send(c, method, path, json, &r);
  const char *got = tc_json_str(&r, "error.code");
  if (r.status != status || !got || strcmp(got, code)) {
    print_error("%s %s%s%s\n", method, path, json ? " " : "", json ? json : "");
  }
  tc_assert_error(&r, status, code);
  tc_response_free(&r);
}

void tc_post_empty(tc_client_t *c, const char *path, tc_response_t *r) {
  tc_send(c, "POST", path, "", r);
}

void tc_get_ok(tc_client_t *c, const char *path, tc_response_t *r) {
  tc_get(c, path, r);
  if (r->status != 200) {
    print_error("GET %s\n", path);
  }
  tc_assert_status(r, 200);
}

int64_t tc_get_int(tc_client_t *c, const char *path, const char *field) {
  tc_response_t r;
  tc_get_ok(c, path, &r);
  int64_t v = tc_json_int(&r, field);
  tc_response_free(&r);
  return v;
}

/* ---- the API's resources ---- */

void tc_get_profile(tc_client_t *c, const char *name, tc_response_t *r) {
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s", name);
  tc_get(c, path, r);
}

void tc_get_tweet(tc_client_t *c, const char *id, tc_response_t *r) {
  char path[256];
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_get(c, path, r);
}

void tc_delete_tweet(tc_client_t *c, const char *id, tc_response_t *r) {
  char path[256];
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  tc_send(c, "DELETE", path, NULL, r);
}

void tc_patch_me(tc_client_t *c, const char *display_name, const char *bio,
                 tc_response_t *r) {
  send_strings(c, "PATCH", "/api/me", "display_name", display_name, "bio", bio,
               r);
}

int64_t tc_profile_int(tc_client_t *c, const char *name, const char *field) {
  char path[256];
  snprintf(path, sizeof path, "/api/users/%s", name);
  return tc_get_int(c, path, field);
}

int64_t tc_tweet_int(tc_client_t *c, const char *id, const char *field) {
  char path[256];
  snprintf(path, sizeof path, "/api/tweet/%s", id);
  return tc_get_int(c, path, field);
}

/* method on path: "POST" with an empty JSON body, anything else with none. */
static void toggle(tc_client_t *c, const char *method, const char *path,
                   tc_response_t *r) {
  tc_send(c, method, path, strcmp(method, "POST") ? NULL : "", r);
}

/* toggle, asserting 200, then tc_tick. */
static void toggle_ok(tc_client_t *c, const char *method, const char *path) {
  tc_response_t r;
  toggle(c, method, path, &r);
  if (r.status != 200) {
    print_error("%s %s\n", method, path);
  }
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  tc_tick();
}

/* /api/users/<name>/follow and /api/tweet/<id>/like. */
static void follow_path(const char *name, char path[256]) {
  snprintf(path, 256, "/api/users/%s/follow", name);
}

static void like_path(const char *id, char path[256]) {
  snprintf(path, 256, "/api/tweet/%s/like", id);
}

void tc_send_follow(tc_client_t *c, const char *method, const char *name,
                    tc_response_t *r) {
  char path[256];
  follow_path(name, path);
  toggle(c, method, path, r);
}

void tc_send_like(tc_client_t *c, const char *method, const char *id,
                  tc_response_t *r) {
  char path[256];
  like_path(id, path);
  toggle(c, method, path, r);
}

void tc_follow(tc_client_t *c, const char *name) {
  char path[256];
  follow_path(name, path);
  toggle_ok(c, "POST", path);
}

void tc_unfollow(tc_client_t *c, const char *name) {
  char path[256];
  follow_path(name, path);
  toggle_ok(c, "DELETE", path);
}

void tc_like(tc_client_t *c, const char *id) {
  char path[256];
  like_path(id, path);
  toggle_ok(c, "POST", path);
}

void tc_post_reply(tc_client_t *c, const char *text, const char *parent,
                   char id[25]) {
  tc_response_t r;
  post_tweet(c, text, parent, id, &r);
  assert_string_equal(tc_json_str(&r, "reply_to"), parent);
  assert_string_equal(tc_json_str(&r, "text"), text);
  assert_int_equal(tc_json_int(&r, "reply_count"), 0);
  tc_response_free(&r);
  tc_tick();
}

void tc_tick(void) {
  struct timespec ts = {0, TC_TICK_MS * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- lists ---- */

/* "items.<i>.<field>", held by value for the length of one call. */
typedef struct item_path {
  char s[128];
} item_path_t;

static item_path_t item_path(int i, const char *field) {
  item_path_t p;
  snprintf(p.s, sizeof p.s, "items.%d.%s", i, field);
  return p;
}

const char *tc_item_str(const tc_response_t *r, int i, const char *field) {
  return tc_json_str(r, item_path(i, field).s);
}

int64_t tc_item_int(const tc_response_t *r, int i, const char *field) {
  return tc_json_int(r, item_path(i, field).s);
}

bool tc_item_bool(const tc_response_t *r, int i, const char *field) {
  return tc_json_bool(r, item_path(i, field).s);
}

bool tc_item_is_null(const tc_response_t *r, int i, const char *field) {
  return tc_json_is_null(r, item_path(i, field).s);
}

int tc_item_index(const tc_response_t *r, const char *id) {
  int n = tc_json_array_len(r, "items");
  for (int i = 0; i < n; i++) {
    const char *got = tc_item_str(r, i, "id");
    if (got && !strcmp(got, id)) {
      return i;
    }
  }
  return -1;
}

bool tc_list_has(tc_client_t *c, const char *path, const char *id) {
  tc_response_t r;
  tc_get_ok(c, path, &r);
  bool found = tc_item_index(&r, id) >= 0;
  tc_response_free(&r);
  return found;
}

void tc_assert_items(const tc_response_t *r, const char *field,
                     const char *const *values, int n, const char *what) {
  int len = tc_json_array_len(r, "items");
  bool same = len == n;
  for (int i = 0; same && i < n; i++) {
    const char *got = tc_item_str(r, i, field);
    same = got && !strcmp(got, values[i]);
  }
  if (!same) {
    print_error("%s: expected %d items (%s):", what, n, field);
    for (int i = 0; i < n; i++) {
      print_error(" %s", values[i]);
    }
    print_error("\ngot %s\n", r->body);
  }
  assert_true(same);
}

void tc_expect_paging_errors(tc_client_t *c, const char *path,
                             const char *bad_cursor) {
  const char *sep = strchr(path, '?') ? "&" : "?";
  tc_expect_error(c, "GET", tc_path("%s%slimit=0", path, sep), NULL, 400,
                  "invalid_limit");
  tc_expect_error(c, "GET", tc_path("%s%sbefore=%s", path, sep, bad_cursor),
                  NULL, 400, "invalid_cursor");
}

void tc_assert_list(tc_client_t *c, const char *path, const char *field,
                    const char *const *values, int n) {
  tc_response_t r;
  tc_get_ok(c, path, &r);
  char what[300];
  snprintf(what, sizeof what, "GET %s", path);
  tc_assert_items(&r, field, values, n, what);
  tc_response_free(&r);
}

/* ---- requests sent at the same moment ---- */

/* One racer's thread. */
static void *racer_main(void *arg) {
  tc_racer_t *rc = arg;
  long want = rc->want ? rc->want : 200;
  tc_client_t *c = rc->token ? tc_client_with_session(rc->base, rc->token)
                             : tc_client_new(rc->base);
  for (int i = 0; i < (rc->times > 0 ? rc->times : 1); i++) {
    tc_response_t r;
    bool sent = tc_try_request(c, rc->method, rc->path, rc->body,
                               rc->body ? strlen(rc->body) : 0, NULL, &r);
    rc->status = sent ? r.status : 0;
    if (rc->status != want && rc->status != 409) {
      fprintf(stderr, "%s %s: %ld %s\n", rc->method, rc->path, rc->status,
              r.body ? r.body : "");
      rc->failed++;
    }
    tc_response_free(&r);
  }
  tc_client_destroy(c);
  return NULL;
}

void tc_race(tc_racer_t *racers, int n) {
  pthread_t threads[32];
  assert_true(n <= 32);
  for (int i = 0; i < n; i++) {
    racers[i].status = 0;
    racers[i].failed = 0;
    assert_int_equal(pthread_create(&threads[i], NULL, racer_main, &racers[i]),
                     0);
  }
  for (int i = 0; i < n; i++) {
    pthread_join(threads[i], NULL);
  }
}

int tc_race_expect(tc_racer_t *racers, int n, const char *what) {
  tc_race(racers, n);
  int ok = 0, conflicts = 0;
  for (int i = 0; i < n; i++) {
    long want = racers[i].want ? racers[i].want : 200;
    if (racers[i].status != want && racers[i].status != 409) {
      fail_msg("%s: %s %s answered %ld", what, racers[i].method, racers[i].path,
               racers[i].status);
    }
    ok += racers[i].status == want;
    conflicts += racers[i].status == 409;
  }
  if (conflicts) {
    fprintf(stderr, "%s: %d of %d concurrent requests answered 409\n", what,
            conflicts, n);
  }
  assert_true(ok >= 1); /* someone always gets through */
  return ok;
}

/* ---- /metrics ---- */

bool tc_metric_in(const char *body, const char *sample, double *out) {
  size_t n = strlen(sample);
  for (const char *line = body; line && *line;) {
    if (!strncmp(line, sample, n) && line[n] == ' ') {
      *out = strtod(line + n + 1, NULL);
      return true;
    }
    line = strchr(line, '\n');
    line = line ? line + 1 : NULL;
  }
  return false;
}

double tc_metric(const char *base, const char *sample) {
  tc_client_t *c = tc_client_new(base);
  tc_response_t r;
  tc_get_ok(c, "/metrics", &r);
  double v = 0;
  bool found = tc_metric_in(r.body, sample, &v);
  tc_response_free(&r);
  tc_client_destroy(c);
  if (!found) {
    fail_msg("%s/metrics has no %s", base, sample);
  }
  return v;
}

bool tc_wait_model_ready(const char *base, int timeout_ms) {
  tc_client_t *c = tc_client_new(base);
  tc_client_set_timeout_ms(c, 2000);
  bool ready = false;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    tc_response_t r;
    double v = 0;
    ready = tc_try_request(c, "GET", "/metrics", NULL, 0, NULL, &r) &&
            r.status == 200 && tc_metric_in(r.body, "chorus_model_ready", &v) &&
            v == 1;
    tc_response_free(&r);
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(now.tv_sec - t0.tv_sec) * 1000 +
              (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (ready || ms >= timeout_ms) {
      break;
    }
    struct timespec nap = {0, 100 * 1000000L};
    nanosleep(&nap, NULL);
  }
  tc_client_destroy(c);
  return ready;
}
