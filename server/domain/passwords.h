/*
 * passwords.h - the commonly used passwords nobody may choose.
 *
 * The list is server/domain/data/common-passwords.txt
 * (server/domain/data/README.md: the 30,000 most common passwords of
 * zxcvbn 4.4.2, MIT licence), compiled into the binary.  passwords_load builds
 * a hash set of it once; the server calls it at start-up, and the first lookup
 * does otherwise.  Lookups ignore ASCII letter case: the list is lowercase, and
 * zxcvbn lowercases a password before looking it up.  validate_password_for
 * (validate.h) is the rule registration and password changes apply.
 *
 * Thread-safe: the set is built once (pthread_once) and read-only after.
 */
#ifndef CHORUS_PASSWORDS_H
#define CHORUS_PASSWORDS_H

#include <stdbool.h>
#include <stddef.h>

/* Builds the set (once; later calls do nothing) and returns the number of
 * distinct passwords in it. */
size_t passwords_load(void);

/* True when s[0..len), ASCII letters folded to lowercase, is in the list. */
bool passwords_is_common(const char *s, size_t len);

#endif
