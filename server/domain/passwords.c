/*
 * passwords.c - see passwords.h.
 *
 * The list's bytes are in the binary between common_passwords and
 * common_passwords_end (the assembler's .incbin of the file CMake names in
 * CHORUS_PASSWORDS_FILE), one password a line.  The set is an open-
 * addressing table (linear probing, at most half full) of the lines'
 * offsets and lengths into those bytes: nothing is copied.
 */
#include "server/domain/passwords.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef CHORUS_PASSWORDS_FILE
#error "CHORUS_PASSWORDS_FILE must name server/domain/data/common-passwords.txt"
#endif

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        "common_passwords:\n"
        ".incbin \"" CHORUS_PASSWORDS_FILE "\"\n"
        "common_passwords_end:\n"
        ".byte 0\n"
        ".popsection\n");
extern const char common_passwords[];
extern const char common_passwords_end[];

typedef struct slot {
  uint32_t offset; /* into common_passwords */
  uint32_t len;    /* 0: empty */
} slot_t;

static slot_t *table;
static size_t table_mask; /* the table's size - 1; the size is a power of 2 */
static size_t table_n;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static unsigned char fold(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* FNV-1a over the folded bytes. */
static uint64_t hash_folded(const char *s, size_t len) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++) {
    h = (h ^ fold((unsigned char)s[i])) * 1099511628211ULL;
  }
  return h;
}

static bool equal_folded(const char *a, const char *b, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (fold((unsigned char)a[i]) != fold((unsigned char)b[i])) {
      return false;
    }
  }
  return true;
}

/* The slot holding s, or the empty one where it would go. */
static slot_t *find(const char *s, size_t len) {
  size_t i = (size_t)hash_folded(s, len) & table_mask;
  while (table[i].len &&
         !(table[i].len == len &&
           equal_folded(common_passwords + table[i].offset, s, len))) {
    i = (i + 1) & table_mask;
  }
  return &table[i];
}

static void build(void) {
  const char *p = common_passwords, *end = common_passwords_end;
  size_t lines = 0;
  for (const char *q = p; q < end; q++) {
    lines += *q == '\n';
  }
  size_t size = 1024;
  while (size < 2 * (lines + 1)) {
    size *= 2;
  }
  table = calloc(size, sizeof *table);
  if (!table) {
    abort(); /* at start-up: nothing can work without memory */
  }
  table_mask = size - 1;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    size_t len = (size_t)(line_end - p);
    if (len > 0 && p[len - 1] == '\r') {
      len--;
    }
    if (len > 0) {
      slot_t *s = find(p, len);
      if (!s->len) {
        s->offset = (uint32_t)(p - common_passwords);
        s->len = (uint32_t)len;
        table_n++;
      }
    }
    p = nl ? nl + 1 : end;
  }
}

size_t passwords_load(void) {
  pthread_once(&once, build);
  return table_n;
}

bool passwords_is_common(const char *s, size_t len) {
  passwords_load();
  return len > 0 && find(s, len)->len != 0;
}
