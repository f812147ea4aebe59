/*
 * fuzz.h - what every libFuzzer target of tests/fuzz shares.
 *
 * A target is one C file, fuzz_<name>.c, that defines
 * LLVMFuzzerTestOneInput and calls the project's own parser (never a
 * copy of it) with the input, then checks what the parser promises in
 * its header with FUZZ_CHECK: a broken promise aborts, and libFuzzer
 * keeps the input as a crash.  tests/fuzz/README.md says how to add one.
 */
#ifndef CHORUS_FUZZ_H
#define CHORUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the failed condition when cond is false (assert() is
 * compiled out of a Release build; this never is). */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* data[0..size) as a NUL-terminated string (the caller frees it with
 * free()); bytes after a NUL in the input are cut off, as a C string
 * from a header or a query string would be. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

#endif
