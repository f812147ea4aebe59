/*
 * validate.h - rules for what users may send: usernames, passwords, text.
 *
 * Pure functions, no I/O, no allocation (validate_password_for reads the
 * set of common passwords that passwords.h builds once): safe from any
 * thread.  Every
 * validator takes a pointer and a byte length (request strings may contain
 * NUL bytes, which are rejected) and fills `err` with a 400 on failure.
 * "Characters" always means Unicode code points of valid UTF-8.
 */
#ifndef CHORUS_VALIDATE_H
#define CHORUS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/base/error.h"

#define USERNAME_MIN 3
#define USERNAME_MAX 30
#define PASSWORD_MIN 8     /* bytes */
#define PASSWORD_MAX 128   /* bytes */
#define TWEET_TEXT_MAX 280 /* characters (graphemes), UTF8_BYTES bytes */
#define DISPLAY_NAME_MAX 50
#define BIO_MAX 160

/* Worst-case bytes (without the terminating NUL) of N code points, and
 * the byte bound of a text of N characters (validate_text): any text of N
 * code points fits, and a text of few characters made of long clusters
 * (zalgo, ZWJ sequences) cannot take unbounded space. */
#define UTF8_BYTES(n) ((n)*4)

/* True when s[0..len) is valid UTF-8 with no NUL byte. */
bool utf8_is_valid(const char *s, size_t len);

/* Decodes the code point of valid UTF-8 at s[*i] and advances *i. */
uint32_t utf8_next(const char *s, size_t len, size_t *i);

/* Number of code points in valid UTF-8 (continuation bytes not counted). */
size_t utf8_count_code_points(const char *s, size_t len);

/* Number of user-perceived characters (extended grapheme clusters, ICU's
 * UBRK_CHARACTER) in valid UTF-8. */
size_t utf8_count_graphemes(const char *s, size_t len);

/* 3-30 characters of [A-Za-z0-9_]. */
bool validate_username(const char *s, size_t len, chorus_error_t *err);

/* 8-128 bytes of valid UTF-8; any characters allowed.  What a login
 * checks (an account keeps the password it was given). */
bool validate_password(const char *s, size_t len, chorus_error_t *err);

/* The rule for a password being chosen (registration, a password change)
 * for the account named username (valid, any letter case):
 * validate_password, and 400 "weak_password" when, ignoring ASCII letter
 * case, it is one of the commonly used passwords (passwords.h) or is the
 * username, the username reversed or repeated, or the username with only
 * digits and symbols before or after it (e.g. "Alice2024!" for alice;
 * applies when the username has at least 3 letters between such
 * characters). */
bool validate_password_for(const char *username, size_t username_len,
                           const char *password, size_t password_len,
                           chorus_error_t *err);

/* min_chars-max_chars characters (utf8_count_graphemes) of valid UTF-8,
 * and at most UTF8_BYTES(max_chars) bytes (400 "too_long" for either);
 * when min_chars > 0 it must not be only white space (Unicode spaces and
 * zero-width ones count).  `field` names the field in the message
 * ("text", "bio"). */
bool validate_text(const char *field, const char *s, size_t len,
                   size_t min_chars, size_t max_chars, chorus_error_t *err);

/* Lowercases an ASCII username into out (USERNAME_MAX + 1 bytes). The input
 * must have passed validate_username. */
void username_fold(const char *s, size_t len, char *out);

#endif
