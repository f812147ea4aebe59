/*
 * test_media.c - images end to end, on both servers (docs/API.md,
 * "Images"):
 *   POST   /api/media (multipart/form-data: file, alt?)   201 media
 *   GET    /media/<id>/original, /media/<id>/thumb       the bytes
 *   POST   /api/tweet {"media": [...]}    up to 4, the uploader's own
 *   PATCH  /api/me {"avatar", "header"}   profile images
 *
 * Uploads of every accepted type (a JPEG turned upright and stripped of
 * its EXIF, a PNG, a WebP, an animated GIF, a GIF with a ZIP appended)
 * are served from the other server with their type, ETag, immutable
 * caching, nosniff and byte ranges.  Hostile files (a PNG of a few
 * hundred bytes claiming 50,000 x 50,000 pixels, a truncated JPEG, text
 * named .png, an empty file, more than 8 MiB) and malformed forms (no
 * boundary, two files, no file) are refused with their 4xx, and leave
 * nothing stored.  Attaching checks ownership and single use; deleting
 * a tweet or replacing a profile image removes the media, its bytes from
 * the owner's quota, and (by the sweeper) its files.  With servers of
 * the test's own: the quota holds exactly under concurrent uploads, an
 * upload left unattached is removed after --media-unattached-s, and the
 * files of an upload that died before its commit are removed; through
 * the nginx of scripts/nginx.conf uploads pass and oversized bodies get
 * nginx's own 413 in the API's shape.
 *
 * A new tweet's tweet.created event (made from what its transaction
 * knew) shows it as the API's answer from the database does, image,
 * entities, display name and avatar included; a reply's too.
 *
 * Images are made with libvips in the test; the database is read
 * directly (media, media_unattached, media.files) to check what no API
 * shows.
 */
#define _GNU_SOURCE /* memmem */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/api.h"
#include "server/domain/image.h"
#include "server/domain/media.h"
#include "tests/client/harness.h"
#include "tests/client/testclient.h"
#include "tests/client/testimages.h"
#include "tests/client/wsclient.h"

#define BOUNDARY "chorus-test-boundary-7MA4YWxkTrZu0gW"
#define FORM_TYPE "Content-Type: multipart/form-data; boundary=" BOUNDARY
#define IMMUTABLE "public, max-age=31536000, immutable"

static tc_pair_t small;  /* --media-quota-mb 1 */
static tc_pair_t sweepy; /* --media-unattached-s 2 */

/* ------------------------------------------------------------ requests */

/* A multipart/form-data body: each part a name, an optional filename
 * and content.  A part with name NULL ends the list. */
typedef struct part {
  const char *name;
  const char *filename; /* NULL: none */
  const void *data;
  size_t len;
} part_t;

static char *form(const part_t *parts, size_t *len) {
  size_t cap = 1024;
  for (const part_t *p = parts; p->name; p++) {
    cap += p->len + 256;
  }
  char *body = malloc(cap);
  size_t n = 0;
  for (const part_t *p = parts; p->name; p++) {
    n += (size_t)snprintf(body + n, cap - n,
                          "--" BOUNDARY "\r\nContent-Disposition: form-data; "
                          "name=\"%s\"",
                          p->name);
    if (p->filename) {
      n +=
          (size_t)snprintf(body + n, cap - n, "; filename=\"%s\"", p->filename);
    }
    n += (size_t)snprintf(body + n, cap - n,
                          "\r\nContent-Type: application/octet-stream\r\n\r\n");
    memcpy(body + n, p->data, p->len);
    n += p->len;
    memcpy(body + n, "\r\n", 2);
    n += 2;
  }
  n += (size_t)snprintf(body + n, cap - n, "--" BOUNDARY "--\r\n");
  *len = n;
  return body;
}

/* POST /api/media with a body and a Content-Type of its own. */
static void post_raw(tc_client_t *c, const char *content_type, const char *body,
                     size_t len, tc_response_t *r) {
  const char *headers[] = {content_type, NULL};
  tc_request(c, "POST", "/api/media", body, len, headers, r);
}

/* Uploads data as "file" (named filename) with alt (NULL: none). */
static void upload(tc_client_t *c, const void *data, size_t len,
                   const char *filename, const char *alt, tc_response_t *r) {
  part_t parts[3] = {{"file", filename, data, len}};
  if (alt) {
    parts[1] = (part_t){"alt", NULL, alt, strlen(alt)};
  }
  size_t n;
  char *body = form(parts, &n);
  post_raw(c, FORM_TYPE, body, n, r);
  free(body);
}

/* Uploads b, asserting 201; the media's id into id.  Returns its bytes
 * (what it counts toward the quota). */
static int64_t upload_ok(tc_client_t *c, const ti_blob_t *b, char id[25]) {
  tc_response_t r;
  upload(c, b->data, b->len, "x.bin", NULL, &r);
  tc_assert_status(&r, 201);
  bson_strncpy(id, tc_json_str(&r, "id"), 25);
  int64_t bytes = tc_json_int(&r, "bytes");
  tc_response_free(&r);
  return bytes;
}

/* The same small JPEG uploaded by c (every one stores the same bytes);
 * its id into id, its bytes returned. */
static int64_t upload_jpeg(tc_client_t *c, char id[25]) {
  ti_blob_t b = ti_solid_as(64, 48, TI_JPEG);
  int64_t bytes = upload_ok(c, &b, id);
  ti_blob_free(&b);
  return bytes;
}

/* GET path with extra request headers (NULL-terminated, or NULL). */
static void get_with(tc_client_t *c, const char *path,
                     const char *const *headers, tc_response_t *r) {
  tc_request(c, "GET", path, NULL, 0, headers, r);
}

static void assert_header(const tc_response_t *r, const char *name,
                          const char *want) {
  char buf[256];
  assert_true(tc_header(r, name, buf, sizeof buf));
  assert_string_equal(buf, want);
}

static int64_t media_bytes_of(tc_client_t *c) {
  return tc_get_int(c, "/api/me", "media_bytes");
}

/* ------------------------------------------------------------ database */

static tc_db_t db;

static int64_t count_in(tc_db_t *d, const char *coll, const char *key,
                        const char *value) {
  bson_t filter = BSON_INITIALIZER;
  if (key) {
    BSON_APPEND_UTF8(&filter, key, value);
  }
  int64_t n = tc_db_count(d, coll, &filter);
  bson_destroy(&filter);
  return n;
}

/* GridFS files of media id_hex ("<hex>/original", "<hex>/thumb"). */
static int64_t files_of(tc_db_t *d, const char *id_hex) {
  char original[64], thumb[64];
  snprintf(original, sizeof original, "%s/original", id_hex);
  snprintf(thumb, sizeof thumb, "%s/thumb", id_hex);
  return count_in(d, "media.files", "_id", original) +
         count_in(d, "media.files", "_id", thumb) +
         count_in(d, "media.chunks", "files_id", original) +
         count_in(d, "media.chunks", "files_id", thumb);
}

static int64_t docs_with_id(tc_db_t *d, const char *coll, const char *id_hex) {
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, id_hex);
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", &oid);
  int64_t n = tc_db_count(d, coll, &filter);
  bson_destroy(&filter);
  return n;
}

/* Waits up to timeout_ms until media id_hex has no file left. */
static bool files_gone(tc_db_t *d, const char *id_hex, int timeout_ms) {
  int64_t until = tc_now_ms() + timeout_ms;
  while (files_of(d, id_hex) > 0) {
    if (tc_now_ms() > until) {
      return false;
    }
    tc_sleep_ms(100);
  }
  return true;
}

/* GET /media/<id>/original on base: its status. */
static long media_status(const char *base, const char *id_hex) {
  tc_client_t *c = tc_client_new(base);
  tc_response_t r;
  tc_get(c, tc_path("/media/%s/original", id_hex), &r);
  long status = r.status;
  tc_response_free(&r);
  tc_client_destroy(c);
  return status;
}

/* ------------------------------------------------------------ serving */

static void test_upload_then_serve_from_the_other_server(void **state) {
  (void)state;
  char name[31];
  tc_client_t *a = tc_new_user(tc_url_a(), "med", name);
  tc_client_t *b = tc_client_new(tc_url_b());
  ti_blob_t jpeg = ti_rotated_jpeg();
  tc_response_t r;
  upload(a, jpeg.data, jpeg.len, "holiday.png", "A blue \"square\"", &r);
  tc_assert_status(&r, 201);
  char id[25];
  bson_strncpy(id, tc_json_str(&r, "id"), sizeof id);
  assert_string_equal(tc_json_str(&r, "type"), "image/jpeg"); /* not .png */
  assert_int_equal(tc_json_int(&r, "width"), 200);            /* upright */
  assert_int_equal(tc_json_int(&r, "height"), 300);
  assert_int_equal(tc_json_int(&r, "thumb_width"), 200); /* never larger */
  assert_int_equal(tc_json_int(&r, "thumb_height"), 300);
  assert_string_equal(tc_json_str(&r, "alt"), "A blue \"square\"");
  assert_string_equal(tc_json_str(&r, "url"),
                      tc_path("/media/%s/original", id));
  assert_string_equal(tc_json_str(&r, "thumb_url"),
                      tc_path("/media/%s/thumb", id));
  const char *color = tc_json_str(&r, "color");
  unsigned red, green, blue;
  assert_int_equal(sscanf(color, "#%02x%02x%02x", &red, &green, &blue), 3);
  assert_true(red < 30 && green > 100 && green < 140 && blue > 180);
  int64_t bytes = tc_json_int(&r, "bytes");
  assert_true(bytes > 0);
  tc_response_free(&r);
  assert_int_equal(media_bytes_of(a), bytes);

  /* The original, from the other server: upright, without its EXIF. */
  get_with(b, tc_path("/media/%s/original", id), NULL, &r);
  tc_assert_status(&r, 200);
  assert_header(&r, "Content-Type", "image/jpeg");
  assert_header(&r, "X-Content-Type-Options", "nosniff");
  assert_header(&r, "Cache-Control", IMMUTABLE);
  assert_header(&r, "Accept-Ranges", "bytes");
  char etag[64];
  assert_true(tc_header(&r, "ETag", etag, sizeof etag));
  assert_true(etag[0] == '"');
  assert_true((unsigned char)r.body[0] == 0xFF &&
              (unsigned char)r.body[1] == 0xD8);
  assert_null(memmem(r.body, r.len, "Exif", 4));
  assert_null(memmem(r.body, r.len, TI_SECRET, strlen(TI_SECRET)));
  int w, h;
  ti_decoded_size(r.body, r.len, &w, &h);
  assert_int_equal(w, 200);
  assert_int_equal(h, 300);
  char *whole = malloc(r.len);
  size_t whole_len = r.len;
  memcpy(whole, r.body, r.len);
  tc_response_free(&r);

  /* Ranges, the entity tag, and HEAD. */
  const char *first[] = {"Range: bytes=0-9", NULL};
  get_with(a, tc_path("/media/%s/original", id), first, &r);
  tc_assert_status(&r, 206);
  assert_int_equal(r.len, 10);
  assert_memory_equal(r.body, whole, 10);
  assert_header(&r, "Content-Range", tc_path("bytes 0-9/%zu", whole_len));
  tc_response_free(&r);
  const char *last[] = {"Range: bytes=-5", NULL};
  get_with(b, tc_path("/media/%s/original", id), last, &r);
  tc_assert_status(&r, 206);
  assert_int_equal(r.len, 5);
  assert_memory_equal(r.body, whole + whole_len - 5, 5);
  tc_response_free(&r);
  const char *past[] = {tc_path("Range: bytes=%zu-", whole_len), NULL};
  get_with(a, tc_path("/media/%s/original", id), past, &r);
  tc_assert_status(&r, 416);
  assert_header(&r, "Content-Range", tc_path("bytes */%zu", whole_len));
  tc_response_free(&r);
  const char *several[] = {"Range: bytes=0-1,4-5", NULL};
  get_with(a, tc_path("/media/%s/original", id), several, &r);
  tc_assert_status(&r, 200); /* the whole image */
  assert_int_equal(r.len, whole_len);
  tc_response_free(&r);
  const char *cached[] = {tc_path("If-None-Match: %s", etag), NULL};
  get_with(b, tc_path("/media/%s/original", id), cached, &r);
  tc_assert_status(&r, 304);
  assert_int_equal(r.len, 0);
  tc_response_free(&r);
  tc_request(a, "HEAD", tc_path("/media/%s/original", id), NULL, 0, NULL, &r);
  tc_assert_status(&r, 200);
  assert_int_equal(r.len, 0);
  assert_header(&r, "Content-Length", tc_path("%zu", whole_len));
  tc_response_free(&r);

  /* The thumbnail: WebP, at most 400 px (this one is smaller). */
  get_with(b, tc_path("/media/%s/thumb", id), NULL, &r);
  tc_assert_status(&r, 200);
  assert_header(&r, "Content-Type", "image/webp");
  assert_true(r.len > 12 && !memcmp(r.body, "RIFF", 4) &&
              !memcmp(r.body + 8, "WEBP", 4));
  ti_decoded_size(r.body, r.len, &w, &h);
  assert_int_equal(w, 200);
  assert_int_equal(h, 300);
  tc_response_free(&r);

  /* What is not an image of this server. */
  tc_expect_error(b, "GET", tc_path("/media/%s/other", id), NULL, 404,
                  "not_found");
  tc_expect_error(a, "GET", "/media/0123456789abcdef01234567/original", NULL,
                  404, "media_not_found");
  tc_expect_error(a, "GET", "/media/nothex/thumb", NULL, 404,
                  "media_not_found");
  free(whole);
  ti_blob_free(&jpeg);
  tc_client_destroy(a);
  tc_client_destroy(b);
}

static void test_each_type_is_kept_as_it_came(void **state) {
  (void)state;
  char name[31];
  tc_client_t *a = tc_new_user(tc_url_a(), "typ", name);
  tc_client_t *b = tc_client_new(tc_url_b());
  struct {
    ti_blob_t blob;
    const char *type;
    int w, h;
  } cases[] = {
      {ti_solid_as(3000, 1000, TI_PNG), "image/png", 2048, 683},
      {ti_solid_as(640, 480, TI_WEBP), "image/webp", 640, 480},
      {ti_animated_gif(), "image/gif", 40, 30},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char id[25];
    tc_response_t r;
    upload(a, cases[i].blob.data, cases[i].blob.len, "image.jpg", NULL, &r);
    tc_assert_status(&r, 201);
    bson_strncpy(id, tc_json_str(&r, "id"), sizeof id);
    assert_string_equal(tc_json_str(&r, "type"), cases[i].type);
    assert_int_equal(tc_json_int(&r, "width"), cases[i].w);
    assert_int_equal(tc_json_int(&r, "height"), cases[i].h);
    tc_response_free(&r);
    get_with(b, tc_path("/media/%s/original", id), NULL, &r);
    tc_assert_status(&r, 200);
    assert_header(&r, "Content-Type", cases[i].type);
    int w, h;
    ti_decoded_size(r.body, r.len, &w, &h);
    assert_int_equal(w, cases[i].w);
    assert_int_equal(h, cases[i].h);
    if (!strcmp(cases[i].type, "image/gif")) {
      VipsImage *img = vips_image_new_from_buffer(r.body, r.len, "n=-1", NULL);
      assert_non_null(img);
      assert_int_equal(vips_image_get_n_pages(img), 3); /* still animated */
      g_object_unref(img);
    }
    tc_response_free(&r);
    ti_blob_free(&cases[i].blob);
  }
  tc_client_destroy(a);
  tc_client_destroy(b);
}

static void test_polyglot_is_served_without_its_payload(void **state) {
  (void)state;
  char name[31], id[25];
  tc_client_t *a = tc_new_user(tc_url_a(), "poly", name);
  ti_blob_t gif = ti_animated_gif();
  static const char zip[] = "PK\x03\x04\x14\x00\x00\x00\x08\x00"
                            "<script>alert(1)</script>PK\x05\x06";
  ti_blob_t poly = {.data = malloc(gif.len + sizeof zip), .len = gif.len};
  memcpy(poly.data, gif.data, gif.len);
  memcpy(poly.data + gif.len, zip, sizeof zip);
  poly.len += sizeof zip;
  upload_ok(a, &poly, id);
  tc_response_t r;
  get_with(a, tc_path("/media/%s/original", id), NULL, &r);
  tc_assert_status(&r, 200);
  assert_header(&r, "Content-Type", "image/gif");
  assert_null(memmem(r.body, r.len, "PK\x03\x04", 4));
  assert_null(memmem(r.body, r.len, "<script>", 8));
  tc_response_free(&r);
  ti_blob_free(&poly);
  ti_blob_free(&gif);
  tc_client_destroy(a);
}

/* ------------------------------------------------------------ hostile */

/* An upload refused with status and code, storing nothing. */
static void expect_refused(tc_client_t *c, const void *data, size_t len,
                           const char *filename, long status,
                           const char *code) {
  tc_response_t r;
  upload(c, data, len, filename, NULL, &r);
  tc_assert_error(&r, status, code);
  tc_response_free(&r);
}

static void test_hostile_files_are_refused_and_leave_nothing(void **state) {
  (void)state;
  char name[31];
  tc_client_t *c = tc_new_user(tc_url_a(), "host", name);
  tc_client_t *on_b = tc_same_user_on(c, tc_url_b());
  tc_client_t *sides[] = {c, on_b};
  ti_blob_t bomb = ti_png_claiming(50000, 50000);
  assert_true(bomb.len < 512);
  ti_blob_t tall =
      ti_png_claiming(7000, 7000); /* 49 Mpx: accepted, then short */
  ti_blob_t jpeg = ti_solid_as(800, 600, TI_JPEG);
  static const char text[] = "{\"not\": \"an image\"} named x.png\n";
  size_t big_len = MEDIA_FILE_MAX + 1;
  uint8_t *big = malloc(big_len);
  memset(big, 0x42, big_len);
  big[0] = 0xFF, big[1] = 0xD8, big[2] = 0xFF;
  for (int s = 0; s < 2; s++) {
    tc_client_t *u = sides[s];
    expect_refused(u, bomb.data, bomb.len, "bomb.png", 422, "too_many_pixels");
    expect_refused(u, tall.data, tall.len, "tall.png", 422, "invalid_image");
    expect_refused(u, jpeg.data, jpeg.len / 2, "cut.jpg", 422, "invalid_image");
    expect_refused(u, text, sizeof text - 1, "x.png", 415, "unsupported_type");
    expect_refused(u, "", 0, "empty.png", 400, "file_empty");
    expect_refused(u, big, big_len, "big.jpg", 413, "file_too_large");
  }

  /* Forms that are not what the route takes. */
  tc_response_t r;
  post_raw(c, "Content-Type: multipart/form-data", "--x\r\n\r\n--x--", 13, &r);
  tc_assert_error(&r, 400, "invalid_multipart"); /* no boundary */
  tc_response_free(&r);
  static const char no_close[] =
      "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"\r\n"
      "\r\nabc";
  post_raw(c, FORM_TYPE, no_close, sizeof no_close - 1, &r);
  tc_assert_error(&r, 400, "invalid_multipart");
  tc_response_free(&r);
  part_t two[] = {{"file", "a.jpg", jpeg.data, jpeg.len},
                  {"file", "b.jpg", jpeg.data, jpeg.len},
                  {NULL, NULL, NULL, 0}};
  size_t n;
  char *body = form(two, &n);
  post_raw(c, FORM_TYPE, body, n, &r);
  tc_assert_error(&r, 400, "invalid_multipart");
  tc_response_free(&r);
  free(body);
  part_t none[] = {{"alt", NULL, "words", 5}, {NULL, NULL, NULL, 0}};
  body = form(none, &n);
  post_raw(on_b, FORM_TYPE, body, n, &r);
  tc_assert_error(&r, 400, "missing_field");
  tc_response_free(&r);
  free(body);
  char *long_alt = malloc(1502);
  memset(long_alt, 'a', 1501);
  long_alt[1501] = '\0';
  upload(c, jpeg.data, jpeg.len, "a.jpg", long_alt, &r);
  tc_assert_error(&r, 400, "too_long");
  tc_response_free(&r);
  free(long_alt);
  tc_expect_error(c, "POST", "/api/media", "{}", 415, "unsupported_media_type");
  tc_client_t *anonymous = tc_client_new(tc_url_b());
  upload(anonymous, jpeg.data, jpeg.len, "a.jpg", NULL, &r);
  tc_assert_error(&r, 401, "not_logged_in");
  tc_response_free(&r);

  /* Nothing of any of these was kept. */
  assert_int_equal(media_bytes_of(c), 0);
  bson_oid_t me;
  assert_true(tc_db_user_oid(&db, name, &me));
  bson_t owned = BSON_INITIALIZER;
  BSON_APPEND_OID(&owned, "owner_id", &me);
  assert_int_equal(tc_db_count(&db, "media", &owned), 0);
  bson_destroy(&owned);

  free(big);
  ti_blob_free(&bomb);
  ti_blob_free(&tall);
  ti_blob_free(&jpeg);
  tc_client_destroy(anonymous);
  tc_client_destroy(on_b);
  tc_client_destroy(c);
}

/* ------------------------------------------------------------ attach */

static void test_tweet_with_images_everywhere(void **state) {
  (void)state;
  char name[31], fan[31], ids[4][25];
  tc_client_t *a = tc_new_user(tc_url_a(), "att", name);
  tc_client_t *f = tc_new_user(tc_url_b(), "attf", fan);
  tc_follow(f, name);
  for (int i = 0; i < 4; i++) {
    upload_jpeg(a, ids[i]);
  }
  char body[512];
  snprintf(body, sizeof body,
           "{\"text\":\"four\",\"media\":[\"%s\",{\"id\":\"%s\",\"alt\":"
           "\"second \\u00e9\"},\"%s\",{\"id\":\"%s\"}]}",
           ids[0], ids[1], ids[2], ids[3]);
  tc_response_t r;
  tc_send(a, "POST", "/api/tweet", body, &r);
  tc_assert_status(&r, 201);
  char tweet[25];
  bson_strncpy(tweet, tc_json_str(&r, "id"), sizeof tweet);
  assert_int_equal(tc_json_array_len(&r, "media"), 4);
  tc_response_free(&r);

  /* The same images, in order, wherever the tweet is read. */
  const char *paths[] = {tc_path("/api/tweet/%s", tweet), "/api/feed",
                         "/api/tweet", tc_path("/api/users/%s/tweets", name)};
  char own[4][64];
  for (int p = 0; p < 4; p++) {
    bson_strncpy(own[p], paths[p], sizeof own[p]);
  }
  for (int p = 0; p < 4; p++) {
    tc_get_ok(f, own[p], &r);
    const char *prefix = p == 0 ? "" : "items.0.";
    if (p > 0) {
      tc_assert_json_str(&r, "items.0.id", tweet);
    }
    for (int i = 0; i < 4; i++) {
      char key[64];
      snprintf(key, sizeof key, "%smedia.%d.id", prefix, i);
      tc_assert_json_str(&r, key, ids[i]);
      snprintf(key, sizeof key, "%smedia.%d.thumb_url", prefix, i);
      tc_assert_json_str(&r, key, tc_path("/media/%s/thumb", ids[i]));
      snprintf(key, sizeof key, "%smedia.%d.type", prefix, i);
      tc_assert_json_str(&r, key, "image/jpeg");
    }
    char key[64];
    snprintf(key, sizeof key, "%smedia.1.alt", prefix);
    tc_assert_json_str(&r, key, "second \xc3\xa9");
    snprintf(key, sizeof key, "%smedia.0.width", prefix);
    assert_int_equal(tc_json_int(&r, key), 64);
    tc_response_free(&r);
  }

  /* An image is used once. */
  snprintf(body, sizeof body, "{\"text\":\"again\",\"media\":[\"%s\"]}",
           ids[0]);
  tc_expect_error(a, "POST", "/api/tweet", body, 409, "media_in_use");
  /* Only by its uploader. */
  char theirs[25];
  upload_jpeg(f, theirs);
  snprintf(body, sizeof body, "{\"text\":\"mine?\",\"media\":[\"%s\"]}",
           theirs);
  tc_expect_error(a, "POST", "/api/tweet", body, 403, "media_not_yours");
  tc_expect_error(a, "POST", "/api/tweet",
                  "{\"text\":\"x\",\"media\":[\"0123456789abcdef01234567\"]}",
                  404, "media_not_found");
  tc_expect_error(a, "POST", "/api/tweet",
                  "{\"text\":\"x\",\"media\":[\"zz\"]}", 400, "invalid_media");
  tc_expect_error(a, "POST", "/api/tweet", "{\"text\":\"x\",\"media\":\"no\"}",
                  400, "invalid_type");
  tc_expect_error(a, "POST", "/api/tweet", "{\"text\":\"x\",\"media\":[7]}",
                  400, "invalid_type");
  char five[25];
  upload_jpeg(a, five);
  snprintf(body, sizeof body,
           "{\"text\":\"x\",\"media\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"]}",
           five, five, five, five, five);
  tc_expect_error(a, "POST", "/api/tweet", body, 400, "invalid_media");
  snprintf(body, sizeof body, "{\"text\":\"x\",\"media\":[\"%s\",\"%s\"]}",
           five, five);
  tc_expect_error(a, "POST", "/api/tweet", body, 400, "invalid_media");
  /* An image alone needs no text; no text and no image is refused. */
  snprintf(body, sizeof body, "{\"media\":[\"%s\"]}", five);
  tc_send(a, "POST", "/api/tweet", body, &r);
  tc_assert_status(&r, 201);
  assert_string_equal(tc_json_str(&r, "text"), "");
  assert_string_equal(tc_json_str(&r, "media.0.id"), five);
  tc_response_free(&r);
  tc_expect_error(a, "POST", "/api/tweet", "{\"media\":[]}", 400,
                  "missing_field");
  tc_expect_error(a, "POST", "/api/tweet", "{}", 400, "missing_field");
  tc_client_destroy(a);
  tc_client_destroy(f);
}

/* A reply that quotes, mentions ten accounts and carries four images:
 * the largest transaction a tweet makes. */
static void test_largest_tweet_commits_whole(void **state) {
  (void)state;
  char name[31], others[10][31], ids[4][25], parent[25];
  tc_client_t *a = tc_new_user(tc_url_a(), "big", name);
  char text[400] = "";
  for (int i = 0; i < 10; i++) {
    tc_client_t *o = tc_new_user(tc_url_b(), "m", others[i]);
    if (i == 0) {
      tc_post_tweet(o, "a parent", parent);
    }
    tc_client_destroy(o);
    strcat(text, "@");
    strcat(text, others[i]);
    strcat(text, " ");
  }
  for (int i = 0; i < 4; i++) {
    upload_jpeg(a, ids[i]);
  }
  char body[1024];
  snprintf(body, sizeof body,
           "{\"text\":\"%s\",\"reply_to\":\"%s\",\"quote_of\":\"%s\","
           "\"media\":[{\"id\":\"%s\",\"alt\":\"1\"},{\"id\":\"%s\",\"alt\":"
           "\"2\"},{\"id\":\"%s\",\"alt\":\"3\"},{\"id\":\"%s\",\"alt\":\"4\"}"
           "]}",
           text, parent, parent, ids[0], ids[1], ids[2], ids[3]);
  tc_response_t r;
  tc_send(a, "POST", "/api/tweet", body, &r);
  tc_assert_status(&r, 201);
  assert_int_equal(tc_json_array_len(&r, "media"), 4);
  assert_int_equal(tc_json_array_len(&r, "entities"), 10);
  assert_string_equal(tc_json_str(&r, "media.3.alt"), "4");
  tc_response_free(&r);
  assert_int_equal(tc_profile_int(a, name, "tweet_count"), 1);
  tc_client_destroy(a);
}

/* ------------------------------------------------------------ removal */

static void test_deleting_a_tweet_removes_its_images(void **state) {
  (void)state;
  char name[31], ids[2][25], kept[25], tweet[25];
  tc_client_t *a = tc_new_user(tc_url_b(), "del", name);
  upload_jpeg(a, ids[0]);
  upload_jpeg(a, ids[1]);
  upload_jpeg(a, kept);
  int64_t all = media_bytes_of(a);
  char body[256];
  snprintf(body, sizeof body, "{\"text\":\"bye\",\"media\":[\"%s\",\"%s\"]}",
           ids[0], ids[1]);
  tc_response_t r;
  tc_send(a, "POST", "/api/tweet", body, &r);
  tc_assert_status(&r, 201);
  bson_strncpy(tweet, tc_json_str(&r, "id"), sizeof tweet);
  tc_response_free(&r);
  assert_int_equal(media_bytes_of(a), all);
  /* Served from both servers (and kept in their caches), then deleted. */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(media_status(tc_url_a(), ids[i]), 200);
    assert_int_equal(media_status(tc_url_b(), ids[i]), 200);
  }
  tc_client_t *on_a = tc_same_user_on(a, tc_url_a());
  tc_delete_tweet(on_a, tweet, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(media_status(tc_url_a(), ids[i]), 404);
    assert_int_equal(media_status(tc_url_b(), ids[i]), 404);
    assert_int_equal(docs_with_id(&db, "media", ids[i]), 0);
    assert_true(files_gone(&db, ids[i], 15000));
  }
  assert_int_equal(media_status(tc_url_a(), kept), 200);
  assert_int_equal(files_of(&db, kept), 4); /* 2 files, 1 chunk each */
  assert_int_equal(media_bytes_of(a), all / 3);
  assert_int_equal(docs_with_id(&db, "media_unattached", kept), 1);
  tc_client_destroy(on_a);
  tc_client_destroy(a);
}

static void test_profile_images(void **state) {
  (void)state;
  char name[31], avatar[25], header[25], next[25], fan[31];
  tc_client_t *a = tc_new_user(tc_url_a(), "pro", name);
  tc_client_t *f = tc_new_user(tc_url_b(), "prof", fan);
  tc_follow(f, name);
  int64_t one = upload_jpeg(a, avatar);
  upload_jpeg(a, header);
  assert_int_equal(media_bytes_of(a), 2 * one);
  char body[256];
  snprintf(body, sizeof body, "{\"avatar\":\"%s\",\"header\":\"%s\"}", avatar,
           header);
  tc_response_t r;
  tc_send(a, "PATCH", "/api/me", body, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "avatar.id"), avatar);
  assert_string_equal(tc_json_str(&r, "avatar.url"),
                      tc_path("/media/%s/original", avatar));
  assert_string_equal(tc_json_str(&r, "header.thumb_url"),
                      tc_path("/media/%s/thumb", header));
  tc_response_free(&r);
  assert_int_equal(docs_with_id(&db, "media_unattached", avatar), 0);
  /* Tweets carry their author's avatar: in the creation's answer, from
   * the database and from the read model, on the other server. */
  char tweet[25];
  tc_send(a, "POST", "/api/tweet", "{\"text\":\"with a face\"}", &r);
  tc_assert_status(&r, 201);
  assert_string_equal(tc_json_str(&r, "author.avatar.id"), avatar);
  bson_strncpy(tweet, tc_json_str(&r, "id"), sizeof tweet);
  tc_response_free(&r);
  tc_get_tweet(f, tweet, &r);
  assert_string_equal(tc_json_str(&r, "author.avatar.id"), avatar);
  tc_response_free(&r);
  tc_get_ok(f, "/api/feed", &r);
  assert_string_equal(tc_item_str(&r, 0, "id"), tweet);
  assert_string_equal(tc_item_str(&r, 0, "author.avatar.thumb_url"),
                      tc_path("/media/%s/thumb", avatar));
  tc_response_free(&r);
  tc_get_ok(f, tc_path("/api/users/%s", name), &r);
  assert_string_equal(tc_json_str(&r, "header.id"), header);
  tc_response_free(&r);
  tc_get_ok(a, tc_path("/api/users/%s/followers", name), &r);
  assert_true(tc_item_is_null(&r, 0, "avatar"));
  tc_response_free(&r);

  /* One upload cannot be both; a used one cannot be taken again. */
  upload_jpeg(a, next);
  snprintf(body, sizeof body, "{\"avatar\":\"%s\",\"header\":\"%s\"}", next,
           next);
  tc_expect_error(a, "PATCH", "/api/me", body, 400, "invalid_media");
  snprintf(body, sizeof body, "{\"avatar\":\"%s\"}", header);
  tc_expect_error(a, "PATCH", "/api/me", body, 409, "media_in_use");
  tc_expect_error(a, "PATCH", "/api/me", "{\"avatar\":5}", 400, "invalid_type");

  /* A new avatar replaces the old one, which is deleted with its bytes. */
  assert_int_equal(media_bytes_of(a), 3 * one);
  snprintf(body, sizeof body, "{\"avatar\":\"%s\"}", next);
  tc_send(a, "PATCH", "/api/me", body, &r);
  tc_assert_status(&r, 200);
  assert_string_equal(tc_json_str(&r, "avatar.id"), next);
  tc_response_free(&r);
  assert_int_equal(media_status(tc_url_b(), avatar), 404);
  assert_true(files_gone(&db, avatar, 15000));
  assert_int_equal(media_bytes_of(a), 2 * one);
  tc_get_ok(f, "/api/feed", &r);
  assert_string_equal(tc_item_str(&r, 0, "author.avatar.id"), next);
  tc_response_free(&r);
  /* null removes it; the header stays. */
  tc_send(a, "PATCH", "/api/me", "{\"avatar\":null}", &r);
  tc_assert_status(&r, 200);
  assert_true(tc_json_is_null(&r, "avatar"));
  assert_string_equal(tc_json_str(&r, "header.id"), header);
  tc_response_free(&r);
  assert_int_equal(media_status(tc_url_a(), next), 404);
  assert_int_equal(media_bytes_of(a), one);
  tc_get_ok(f, "/api/feed", &r);
  assert_true(tc_item_is_null(&r, 0, "author.avatar"));
  tc_response_free(&r);
  assert_int_equal(media_status(tc_url_a(), header), 200);
  tc_client_destroy(a);
  tc_client_destroy(f);
}

/* ------------------------------------------------------------ quota */

typedef struct uploader {
  const char *base;
  const char *token;
  const ti_blob_t *blob;
  int ok;      /* 201s */
  int64_t sum; /* of their bytes */
  int refused; /* 413 quota_exceeded */
  int other;   /* anything else */
} uploader_t;

static void *upload_until_full(void *arg) {
  uploader_t *u = arg;
  tc_client_t *c = tc_client_with_session(u->base, u->token);
  part_t parts[] = {{"file", "n.png", u->blob->data, u->blob->len},
                    {NULL, NULL, NULL, 0}};
  size_t n;
  char *body = form(parts, &n);
  const char *headers[] = {FORM_TYPE, NULL};
  for (int i = 0; i < 40 && u->refused == 0; i++) {
    tc_response_t r;
    if (!tc_try_request(c, "POST", "/api/media", body, n, headers, &r)) {
      u->other++;
      continue;
    }
    if (r.status == 201) {
      u->ok++;
      u->sum += tc_json_int(&r, "bytes");
    } else if (r.status == 413 &&
               !strcmp(tc_json_str(&r, "error.code"), "quota_exceeded")) {
      u->refused++;
    } else if (r.status != 503) { /* busy: all upload slots taken */
      u->other++;
    }
    tc_response_free(&r);
  }
  free(body);
  tc_client_destroy(c);
  return NULL;
}

/* The JSON of doc's subdocument at path (dotted), the caller's to
 * bson_free; fails when it is missing. */
static char *json_at(const bson_t *doc, const char *path) {
  bson_iter_t it, sub;
  assert_true(bson_iter_init(&it, doc));
  if (!bson_iter_find_descendant(&it, path, &sub) ||
      !BSON_ITER_HOLDS_DOCUMENT(&sub)) {
    char *all = bson_as_relaxed_extended_json(doc, NULL);
    fail_msg("no document at %s in %s", path, all);
  }
  uint32_t len;
  const uint8_t *data;
  bson_iter_document(&sub, &len, &data);
  bson_t child;
  assert_true(bson_init_static(&child, data, len));
  return bson_as_relaxed_extended_json(&child, NULL);
}

/* The tweet.created of tweet id on ws (others skipped), as JSON. */
static char *created_event(tc_ws_t *ws, const char *id) {
  for (;;) {
    bson_t *m = tc_ws_recv_json(ws, 5000);
    if (!m) {
      fail_msg("no tweet.created of %s within 5 s", id);
    }
    bool it = !strcmp(tc_bson_str(m, "type"), "tweet.created") &&
              !strcmp(tc_bson_str(m, "data.tweet.id"), id);
    char *json = it ? json_at(m, "data.tweet") : NULL;
    bson_destroy(m);
    if (json) {
      return json;
    }
  }
}

/* The tweet id as a logged-out reader gets it from base, as JSON. */
static char *tweet_as_read(const char *base, const char *id) {
  tc_client_t *anon = tc_client_new(base);
  tc_response_t r;
  tc_get_tweet(anon, id, &r);
  tc_assert_status(&r, 200);
  assert_non_null(r.json);
  char *json = bson_as_relaxed_extended_json(r.json, NULL);
  tc_response_free(&r);
  tc_client_destroy(anon);
  return json;
}

static void test_a_new_tweets_event_shows_it_as_the_api_does(void **state) {
  (void)state;
  char name[31], friend[31], avatar[25], image[25];
  tc_client_t *a = tc_new_user(tc_url_a(), "evt", name);
  tc_client_t *f = tc_new_user(tc_url_b(), "evtf", friend);
  upload_jpeg(a, avatar);
  upload_jpeg(a, image);
  char body[512];
  snprintf(body, sizeof body,
           "{\"avatar\":\"%s\",\"display_name\":\"Ev \\u00e9 Ent\"}", avatar);
  tc_response_t r;
  tc_send(a, "PATCH", "/api/me", body, &r);
  tc_assert_status(&r, 200);
  tc_response_free(&r);
  char cookie[128], url[256];
  tc_session_cookie(a, cookie, sizeof cookie);
  tc_ws_url(tc_url_b(), url, sizeof url);
  int status = 0;
  tc_ws_t *ws = tc_ws_connect(url, cookie, &status);
  assert_non_null(ws);
  tc_sleep_ms(300); /* the hub loads the connection's audience */

  snprintf(body, sizeof body,
           "{\"text\":\"hi @%s #evtag https://example.org/x\","
           "\"media\":[{\"id\":\"%s\",\"alt\":\"a square\"}]}",
           friend, image);
  tc_send(a, "POST", "/api/tweet", body, &r);
  tc_assert_status(&r, 201);
  char id[25], reply[25];
  bson_strncpy(id, tc_json_str(&r, "id"), sizeof id);
  tc_response_free(&r);
  char *live = created_event(ws, id);
  char *read = tweet_as_read(tc_url_a(), id);
  assert_string_equal(live, read);
  assert_non_null(strstr(live, avatar));
  assert_non_null(strstr(live, image));
  bson_free(live);
  bson_free(read);

  tc_post_reply(a, "and a reply #evtag", id, reply);
  live = created_event(ws, reply);
  read = tweet_as_read(tc_url_b(), reply);
  assert_string_equal(live, read);
  bson_free(live);
  bson_free(read);
  tc_ws_close(ws);
  tc_client_destroy(f);
  tc_client_destroy(a);
}

static void test_quota_holds_under_concurrent_uploads(void **state) {
  (void)state;
  char name[31], token[128];
  tc_new_session(small.s[0].url, "quo", name, token, sizeof token);
  /* Noise that PNG cannot shrink: ~190 KB stored each, 1 MiB allowed. */
  VipsImage *noise = NULL, *grey = NULL;
  assert_int_equal(vips_gaussnoise(&noise, 256, 256, "sigma", 80.0, NULL), 0);
  assert_int_equal(vips_cast(noise, &grey, VIPS_FORMAT_UCHAR, NULL), 0);
  ti_blob_t png = ti_save(grey, TI_PNG);
  g_object_unref(noise);
  g_object_unref(grey);
  uploader_t up[4];
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) {
    up[i] = (uploader_t){small.s[i % 2].url, token, &png, 0, 0, 0, 0};
    pthread_create(&threads[i], NULL, upload_until_full, &up[i]);
  }
  int64_t sum = 0;
  int ok = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(threads[i], NULL);
    assert_int_equal(up[i].other, 0);
    assert_int_equal(up[i].refused, 1);
    sum += up[i].sum;
    ok += up[i].ok;
  }
  assert_true(ok >= 2);
  tc_client_t *c = tc_client_with_session(small.s[1].url, token);
  tc_response_t r;
  tc_get_ok(c, "/api/me", &r);
  assert_int_equal(tc_json_int(&r, "media_quota"), 1 << 20);
  assert_int_equal(tc_json_int(&r, "media_bytes"), sum); /* exact */
  assert_true(sum <= 1 << 20);
  tc_response_free(&r);
  /* Full: refused at once, before any processing. */
  upload(c, png.data, png.len, "n.png", NULL, &r);
  tc_assert_error(&r, 413, "quota_exceeded");
  tc_response_free(&r);
  tc_client_destroy(c);
  ti_blob_free(&png);
}

/* ------------------------------------------------------------ sweeps */

static void test_unattached_uploads_are_removed(void **state) {
  (void)state;
  char name[31], lonely[25], used[25];
  tc_client_t *a = tc_new_user(sweepy.s[0].url, "swp", name);
  int64_t one = upload_jpeg(a, lonely);
  upload_jpeg(a, used);
  char body[128];
  snprintf(body, sizeof body, "{\"text\":\"kept\",\"media\":[\"%s\"]}", used);
  tc_expect_status(a, "POST", "/api/tweet", body, 201);
  assert_int_equal(media_bytes_of(a), 2 * one);
  tc_db_t d;
  tc_db_open(&d, NULL, sweepy.db);
  /* --media-unattached-s 2: swept within a few seconds. */
  int64_t until = tc_now_ms() + 20000;
  while (media_status(sweepy.s[1].url, lonely) == 200 && tc_now_ms() < until) {
    tc_sleep_ms(200);
  }
  assert_int_equal(media_status(sweepy.s[1].url, lonely), 404);
  assert_true(files_gone(&d, lonely, 15000));
  assert_int_equal(docs_with_id(&d, "media_unattached", lonely), 0);
  assert_int_equal(media_status(sweepy.s[0].url, used), 200);
  assert_int_equal(media_status(sweepy.s[1].url, used), 200);
  assert_int_equal(media_bytes_of(a), one);
  /* One of the two servers' sweepers did it (/metrics). */
  double swept = 0, files = 0;
  for (int k = 0; k < 2; k++) {
    swept += tc_metric(sweepy.s[k].url,
                       "chorus_media_swept_total{what=\"unattached\"}");
    files +=
        tc_metric(sweepy.s[k].url, "chorus_media_swept_total{what=\"files\"}");
  }
  assert_true(swept >= 1 && files >= 2);
  /* An attach racing the sweep: the upload is either taken or gone. */
  char late[25];
  upload_jpeg(a, late);
  tc_sleep_ms(2100);
  snprintf(body, sizeof body, "{\"text\":\"late\",\"media\":[\"%s\"]}", late);
  tc_response_t r;
  tc_send(a, "POST", "/api/tweet", body, &r);
  assert_true(r.status == 201 || r.status == 404);
  long attached = r.status;
  tc_response_free(&r);
  tc_sleep_ms(3000);
  assert_int_equal(media_status(sweepy.s[0].url, late),
                   attached == 201 ? 200 : 404);
  assert_int_equal(media_bytes_of(a), attached == 201 ? 2 * one : one);
  tc_db_close(&d);
  tc_client_destroy(a);
}

/* An upload that died after writing its files and before its commit
 * leaves them listed by its intent: the sweeper removes them once the
 * intent is older than --media-unattached-s. */
static void test_files_of_a_dead_upload_are_removed(void **state) {
  (void)state;
  tc_db_t d;
  tc_db_open(&d, NULL, sweepy.db);
  bson_oid_t id;
  bson_oid_init(&id, NULL);
  char hex[25], fid[64];
  bson_oid_to_string(&id, hex);
  snprintf(fid, sizeof fid, "%s/original", hex);
  bson_t *opts = BCON_NEW("bucketName", "media");
  bson_error_t berr;
  mongoc_gridfs_bucket_t *bucket =
      mongoc_gridfs_bucket_new(d.db, opts, NULL, &berr);
  assert_non_null(bucket);
  bson_value_t file = {.value_type = BSON_TYPE_UTF8};
  file.value.v_utf8.str = fid;
  file.value.v_utf8.len = (uint32_t)strlen(fid);
  mongoc_stream_t *s = mongoc_gridfs_bucket_open_upload_stream_with_id(
      bucket, &file, fid, NULL, &berr);
  assert_non_null(s);
  assert_int_equal(mongoc_stream_write(s, "half an upload", 14, 0), 14);
  assert_int_equal(mongoc_stream_close(s), 0);
  mongoc_stream_destroy(s);
  mongoc_gridfs_bucket_destroy(bucket);
  bson_destroy(opts);
  mongoc_collection_t *trash =
      mongoc_database_get_collection(d.db, "media_trash");
  bson_t *intent = BCON_NEW(
      "_id", BCON_OID(&id), "kind", "upload", "media", "[", BCON_OID(&id), "]",
      "at", BCON_DATE_TIME(tc_wall_ms() - 5000), "version", BCON_INT64(1));
  assert_true(mongoc_collection_insert_one(trash, intent, NULL, NULL, &berr));
  bson_destroy(intent);
  assert_int_equal(files_of(&d, hex), 2);
  assert_true(files_gone(&d, hex, 15000));
  /* and then its record (the sweep removes the files first) */
  int64_t until = tc_now_ms() + 5000;
  while (docs_with_id(&d, "media_trash", hex) > 0 && tc_now_ms() < until) {
    tc_sleep_ms(100);
  }
  assert_int_equal(docs_with_id(&d, "media_trash", hex), 0);
  mongoc_collection_destroy(trash);
  tc_db_close(&d);
}

/* ------------------------------------------------------------ nginx */

/* Through the nginx of scripts/nginx.conf: an upload passes (nginx reads
 * it whole first), its images are served, and a body over chorusd's
 * limit is refused by nginx itself, in the API's shape. */
static void test_uploads_through_nginx(void **state) {
  (void)state;
  char path[256];
  if (!tc_nginx_find(path, sizeof path)) {
    skip();
  }
  tc_nginx_t nginx;
  memset(&nginx, 0, sizeof nginx);
  assert_true(tc_nginx_start(&nginx, CHORUS_NGINX_TEMPLATE, small.s, 2));
  char name[31], id[25];
  tc_client_t *c = tc_new_user(nginx.url, "ngx", name);
  upload_jpeg(c, id);
  tc_response_t r;
  get_with(c, tc_path("/media/%s/thumb", id), NULL, &r);
  tc_assert_status(&r, 200);
  assert_header(&r, "Content-Type", "image/webp");
  assert_header(&r, "Cache-Control", IMMUTABLE);
  tc_response_free(&r);
  size_t big_len = API_MEDIA_BODY_MAX + 1; /* nginx's limit too */
  char *big = malloc(big_len);
  memset(big, 'x', big_len);
  post_raw(c, FORM_TYPE, big, big_len, &r);
  tc_assert_error(&r, 413, "body_too_large");
  tc_response_free(&r);
  free(big);
  tc_client_destroy(c);
  tc_nginx_stop(&nginx);
}

static int group_setup(void **state) {
  (void)state;
  chorus_error_t err;
  assert_true(image_init(&err)); /* libvips, for the test's own images */
  tc_db_open(&db, NULL, tc_env("CHORUS_TEST_DB"));
  tc_pair_start(&small, "media", "quota", "--media-quota-mb 1");
  tc_pair_start(&sweepy, "media", "sweep", "--media-unattached-s 2");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  tc_pairs_stop_all();
  tc_db_close(&db);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_upload_then_serve_from_the_other_server),
      cmocka_unit_test(test_each_type_is_kept_as_it_came),
      cmocka_unit_test(test_polyglot_is_served_without_its_payload),
      cmocka_unit_test(test_hostile_files_are_refused_and_leave_nothing),
      cmocka_unit_test(test_tweet_with_images_everywhere),
      cmocka_unit_test(test_largest_tweet_commits_whole),
      cmocka_unit_test(test_deleting_a_tweet_removes_its_images),
      cmocka_unit_test(test_profile_images),
      cmocka_unit_test(test_a_new_tweets_event_shows_it_as_the_api_does),
      cmocka_unit_test(test_quota_holds_under_concurrent_uploads),
      cmocka_unit_test(test_unattached_uploads_are_removed),
      cmocka_unit_test(test_files_of_a_dead_upload_are_removed),
      cmocka_unit_test(test_uploads_through_nginx),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
