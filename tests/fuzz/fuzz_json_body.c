/*
 * fuzz_json_body.c - a request body, as every JSON route reads it: the
 * parse of http_read_json (http_parse_json: one object, only whitespace
 * around it), the typed fields the handlers take (json_get_string; a new
 * tweet's "media", api_media_request; a profile's "avatar" and
 * "header", api_profile_image), and the validators they go to
 * (validate.h).
 *
 * Checks: a refusal is a 400 with a code; an accepted body holds
 * exactly what json_get_string says (a string, or absent, or a 400
 * "invalid_type"); every validator answers true or a 400, and what it
 * accepts has the lengths it promises; accepted media are at most
 * MEDIA_PER_TWEET distinct ids, each alt text valid UTF-8 of at most
 * MEDIA_ALT_MAX characters; an accepted profile image is absent, null or
 * a string of the body.
 */
#include "tests/fuzz/fuzz.h"

#include "server/api/api.h"
#include "server/domain/validate.h"
#include "server/http/http.h"

/* Every body field a handler reads (server/api). */
static const char *const fields[] = {
    "username", "password",         "text",         "reply_to",     "quote_of",
    "bio",      "current_password", "new_password", "display_name",
};

static void check_error(bool ok, const chorus_error_t *err) {
  FUZZ_CHECK(ok || (err->status == 400 && err->code[0] && err->message[0] &&
                    utf8_is_valid(err->message, strlen(err->message))));
}

static void check_field(const char *field, const char *s, size_t len) {
  chorus_error_t err;
  bool ok = validate_username(s, len, &err);
  check_error(ok, &err);
  FUZZ_CHECK(!ok || (len >= USERNAME_MIN && len <= USERNAME_MAX));
  ok = validate_password(s, len, &err);
  check_error(ok, &err);
  FUZZ_CHECK(!ok || (len >= PASSWORD_MIN && len <= PASSWORD_MAX &&
                     utf8_is_valid(s, len)));
  /* The text rules of tweets, display names and bios (min, max). */
  static const size_t limits[][2] = {
      {1, TWEET_TEXT_MAX}, {1, DISPLAY_NAME_MAX}, {0, BIO_MAX}};
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    ok = validate_text(field, s, len, limits[i][0], limits[i][1], &err);
    check_error(ok, &err);
    if (ok) {
      size_t g = utf8_count_graphemes(s, len);
      FUZZ_CHECK(utf8_is_valid(s, len) && g >= limits[i][0] &&
                 g <= limits[i][1] && len <= UTF8_BYTES(limits[i][1]));
      size_t n = utf8_count_code_points(s, len);
      FUZZ_CHECK(n >= g);
      size_t at = 0, count = 0;
      while (at < len) {
        utf8_next(s, len, &at);
        count++;
      }
      FUZZ_CHECK(at == len && count == n);
    }
  }
}

/* A new tweet's "media" (api_media_request). */
static void check_media(const bson_t *body) {
  media_request_t media = {.n = 0};
  chorus_error_t err;
  bool ok = api_media_request(body, &media, &err);
  check_error(ok, &err);
  FUZZ_CHECK(media.n <= MEDIA_PER_TWEET);
  for (size_t i = 0; ok && i < media.n; i++) {
    for (size_t j = i + 1; j < media.n; j++) {
      FUZZ_CHECK(!bson_oid_equal(&media.ids[i], &media.ids[j]));
    }
    if (media.alts[i]) {
      const char *alt = media.alts[i];
      size_t len = media.alt_lens[i];
      FUZZ_CHECK(utf8_is_valid(alt, len) &&
                 utf8_count_graphemes(alt, len) <= MEDIA_ALT_MAX &&
                 len <= UTF8_BYTES(MEDIA_ALT_MAX));
    }
  }
  bson_iter_t it;
  FUZZ_CHECK(
      !ok || media.n == 0 ||
      (bson_iter_init_find(&it, body, "media") && BSON_ITER_HOLDS_ARRAY(&it)));
}

/* A profile's "avatar" and "header" (api_profile_image). */
static void check_profile_images(const bson_t *body) {
  static const char *const keys[] = {"avatar", "header"};
  for (size_t k = 0; k < 2; k++) {
    bool set;
    const char *hex;
    chorus_error_t err;
    bool ok = api_profile_image(body, keys[k], &set, &hex, &err);
    check_error(ok, &err);
    FUZZ_CHECK(ok || !strcmp(err.code, "invalid_type"));
    bson_iter_t it;
    bool present = bson_iter_init_find(&it, body, keys[k]);
    FUZZ_CHECK(!ok || set == present);
    FUZZ_CHECK(!ok || !hex || BSON_ITER_HOLDS_UTF8(&it));
    FUZZ_CHECK(!ok || hex || !present || BSON_ITER_HOLDS_NULL(&it));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > HTTP_BODY_MAX) {
    return 0; /* 413 before anything is parsed */
  }
  bson_t body;
  chorus_error_t err;
  bool required = size > 0 && (data[size - 1] & 1); /* both kinds of route */
  bool ok = http_parse_json((const char *)data, size, required, &body, &err);
  check_error(ok, &err);
  if (!ok) {
    return 0;
  }
  const char *username = NULL, *password = NULL;
  size_t username_len = 0, password_len = 0;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const char *s;
    size_t len;
    ok = json_get_string(&body, fields[i], false, &s, &len, &err);
    check_error(ok, &err);
    FUZZ_CHECK(ok || !strcmp(err.code, "invalid_type"));
    bson_iter_t it;
    FUZZ_CHECK(!ok || !s ||
               (bson_iter_init_find(&it, &body, fields[i]) &&
                BSON_ITER_HOLDS_UTF8(&it)));
    if (s) {
      check_field(fields[i], s, len);
    }
    if (i == 0) {
      username = s;
      username_len = len;
    } else if (i == 1) {
      password = s;
      password_len = len;
    }
  }
  check_media(&body);
  check_profile_images(&body);
  /* Registration: the password rule for this username. */
  if (username && password && validate_username(username, username_len, &err)) {
    ok = validate_password_for(username, username_len, password, password_len,
                               &err);
    check_error(ok, &err);
  }
  bson_destroy(&body);
  return 0;
}
