/*
 * validate.c - see validate.h.
 *
 * UTF-8 validity is libbson's bson_utf8_validate (which rejects overlong
 * forms and surrogates); we only add code point counting on top.  Text
 * lengths are user-perceived characters: ICU's character break iterator
 * (extended grapheme clusters, Unicode UAX #29), so "👩‍👩‍👧‍👦"
 * (7 code points, 25 bytes) is one character, as the web client's
 * Intl.Segmenter counts it.
 */
#include "server/domain/validate.h"

#include <bson/bson.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <unicode/ubrk.h>
#include <unicode/utext.h>

#include "server/domain/passwords.h"

bool utf8_is_valid(const char *s, size_t len) {
  return bson_utf8_validate(s, len, false /* NUL not allowed */);
}

size_t utf8_count_code_points(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    /* Count every byte that does not continue a sequence (10xxxxxx). */
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      n++;
    }
  }
  return n;
}

size_t utf8_count_graphemes(const char *s, size_t len) {
  UErrorCode status = U_ZERO_ERROR;
  UText ut = UTEXT_INITIALIZER;
  utext_openUTF8(&ut, s, (int64_t)len, &status);
  UBreakIterator *bi = ubrk_open(UBRK_CHARACTER, "", NULL, 0, &status);
  if (bi) {
    ubrk_setUText(bi, &ut, &status);
  }
  size_t n = 0;
  if (U_SUCCESS(status)) {
    for (int32_t b = ubrk_next(bi); b != UBRK_DONE; b = ubrk_next(bi)) {
      n++;
    }
  } else {
    /* ICU without its break data (never on Debian's libicu): the code
     * points are an upper bound of the characters. */
    n = utf8_count_code_points(s, len);
  }
  if (bi) {
    ubrk_close(bi);
  }
  utext_close(&ut);
  return n;
}

bool validate_username(const char *s, size_t len, chorus_error_t *err) {
  if (len < USERNAME_MIN || len > USERNAME_MAX) {
    chorus_error_set(err, 400, "invalid_username",
                     "username must be %d to %d characters long", USERNAME_MIN,
                     USERNAME_MAX);
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(c < 0x80 && (isalnum(c) || c == '_'))) {
      chorus_error_set(err, 400, "invalid_username",
                       "username may contain only letters, digits and _");
      return false;
    }
  }
  return true;
}

bool validate_password(const char *s, size_t len, chorus_error_t *err) {
  if (len < PASSWORD_MIN || len > PASSWORD_MAX) {
    chorus_error_set(err, 400, "invalid_password",
                     "password must be %d to %d bytes long", PASSWORD_MIN,
                     PASSWORD_MAX);
    return false;
  }
  if (!utf8_is_valid(s, len)) {
    chorus_error_set(err, 400, "invalid_password",
                     "password must be valid UTF-8 without NUL characters");
    return false;
  }
  return true;
}

/* s[0..len) with ASCII letters lowercased, into out (len + 1 bytes). */
static void fold_ascii(const char *s, size_t len, char *out) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  out[len] = '\0';
}

/* The part of s[0..*len) between its first and last ASCII letter (empty
 * when it has none): its start, and its length into *len. */
static const char *letters_core(const char *s, size_t *len) {
  size_t b = 0, e = *len;
  while (b < e && !isalpha((unsigned char)s[b])) {
    b++;
  }
  while (e > b && !isalpha((unsigned char)s[e - 1])) {
    e--;
  }
  *len = e - b;
  return s + b;
}

/* Whether p is name, name reversed, or name repeated (both folded). */
static bool is_name_variant(const char *p, size_t plen, const char *name,
                            size_t nlen) {
  if (nlen == 0 || plen == 0) {
    return false;
  }
  bool reversed = plen == nlen;
  for (size_t i = 0; reversed && i < nlen; i++) {
    reversed = p[i] == name[nlen - 1 - i];
  }
  bool repeated = plen % nlen == 0;
  for (size_t i = 0; repeated && i < plen; i += nlen) {
    repeated = memcmp(p + i, name, nlen) == 0;
  }
  return reversed || repeated;
}

bool validate_password_for(const char *username, size_t username_len,
                           const char *password, size_t password_len,
                           chorus_error_t *err) {
  if (!validate_password(password, password_len, err)) {
    return false;
  }
  if (passwords_is_common(password, password_len)) {
    chorus_error_set(err, 400, "weak_password",
                     "That password is one of the most commonly used; "
                     "choose another");
    return false;
  }
  char p[PASSWORD_MAX + 1], u[USERNAME_MAX + 1];
  size_t ulen = username_len < USERNAME_MAX ? username_len : USERNAME_MAX;
  fold_ascii(password, password_len, p);
  fold_ascii(username, ulen, u);
  size_t pcore_len = password_len, ucore_len = ulen;
  const char *pcore = letters_core(p, &pcore_len);
  const char *ucore = letters_core(u, &ucore_len);
  if (is_name_variant(p, password_len, u, ulen) ||
      (ucore_len >= 3 && is_name_variant(pcore, pcore_len, ucore, ucore_len))) {
    chorus_error_set(err, 400, "weak_password",
                     "The password must not be your username or a variant "
                     "of it");
    return false;
  }
  return true;
}

uint32_t utf8_next(const char *s, size_t len, size_t *i) {
  unsigned char c = (unsigned char)s[(*i)++];
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  uint32_t cp = extra ? c & (0x3F >> extra) : c;
  while (extra-- > 0 && *i < len) {
    cp = (cp << 6) | ((unsigned char)s[(*i)++] & 0x3F);
  }
  return cp;
}

/* White space and invisible separators (Unicode White_Space, plus the
 * zero-width space and BOM that people paste to fake an empty post). */
static bool is_blank_code_point(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
         cp == 0xFEFF;
}

static bool is_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    if (!is_blank_code_point(utf8_next(s, len, &i))) {
      return false;
    }
  }
  return true;
}

bool validate_text(const char *field, const char *s, size_t len,
                   size_t min_chars, size_t max_chars, chorus_error_t *err) {
  if (!utf8_is_valid(s, len)) {
    chorus_error_set(err, 400, "invalid_utf8",
                     "%s must be valid UTF-8 without NUL characters", field);
    return false;
  }
  if (len > UTF8_BYTES(max_chars)) {
    chorus_error_set(err, 400, "too_long",
                     "%s must be at most %zu characters and %zu bytes of "
                     "UTF-8 (got %zu bytes)",
                     field, max_chars, (size_t)UTF8_BYTES(max_chars), len);
    return false;
  }
  size_t n = utf8_count_graphemes(s, len);
  if (n > max_chars) {
    chorus_error_set(err, 400, "too_long",
                     "%s must be at most %zu characters (got %zu)", field,
                     max_chars, n);
    return false;
  }
  if (min_chars > 0 && (n < min_chars || is_blank(s, len))) {
    chorus_error_set(err, 400, "empty", "%s must not be empty", field);
    return false;
  }
  return true;
}

void username_fold(const char *s, size_t len, char *out) {
  size_t i;
  for (i = 0; i < len && i < USERNAME_MAX; i++) {
    out[i] = (char)tolower((unsigned char)s[i]);
  }
  out[i] = '\0';
}
