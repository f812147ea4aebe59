/*
 * testimages.c - see testimages.h.
 */
#include "tests/client/testimages.h"

#include <stdlib.h>
#include <string.h>

void ti_blob_free(ti_blob_t *b) {
  if (b->from_vips) {
    g_free(b->data);
  } else {
    free(b->data);
  }
  memset(b, 0, sizeof *b);
}

VipsImage *ti_solid(int w, int h, int r, int g, int b) {
  VipsImage *black = NULL, *lin = NULL, *out = NULL;
  double mul[3] = {1, 1, 1}, add[3] = {r, g, b};
  assert_int_equal(vips_black(&black, w, h, "bands", 3, NULL), 0);
  assert_int_equal(vips_linear(black, &lin, mul, add, 3, NULL), 0);
  assert_int_equal(vips_cast(lin, &out, VIPS_FORMAT_UCHAR, NULL), 0);
  g_object_unref(black);
  g_object_unref(lin);
  return out;
}

ti_blob_t ti_save(VipsImage *img, ti_type_t type) {
  ti_blob_t b = {.from_vips = true};
  void *buf = NULL;
  int rc = type == TI_JPEG   ? vips_jpegsave_buffer(img, &buf, &b.len, NULL)
           : type == TI_PNG  ? vips_pngsave_buffer(img, &buf, &b.len, NULL)
           : type == TI_WEBP ? vips_webpsave_buffer(img, &buf, &b.len, NULL)
                             : vips_gifsave_buffer(img, &buf, &b.len, NULL);
  assert_int_equal(rc, 0);
  b.data = buf;
  return b;
}

ti_blob_t ti_solid_as(int w, int h, ti_type_t type) {
  VipsImage *img = ti_solid(w, h, 200, 30, 40);
  ti_blob_t b = ti_save(img, type);
  g_object_unref(img);
  return b;
}

ti_blob_t ti_rotated_jpeg(void) {
  VipsImage *img = ti_solid(300, 200, 10, 120, 200), *copy = NULL;
  assert_int_equal(vips_copy(img, &copy, NULL), 0);
  vips_image_set_int(copy, "orientation", 6);
  vips_image_set_string(copy, "exif-ifd0-ImageDescription",
                        TI_SECRET " (" TI_SECRET ", ASCII, 18 components, 18 "
                                  "bytes)");
  ti_blob_t b = ti_save(copy, TI_JPEG);
  g_object_unref(copy);
  g_object_unref(img);
  return b;
}

ti_blob_t ti_animated_gif(void) {
  VipsImage *frames[3], *strip = NULL;
  for (int i = 0; i < 3; i++) {
    frames[i] = ti_solid(40, 30, 80 * i, 40, 200 - 60 * i);
  }
  assert_int_equal(vips_arrayjoin(frames, &strip, 3, "across", 1, NULL), 0);
  vips_image_set_int(strip, VIPS_META_PAGE_HEIGHT, 30);
  ti_blob_t b = ti_save(strip, TI_GIF);
  for (int i = 0; i < 3; i++) {
    g_object_unref(frames[i]);
  }
  g_object_unref(strip);
  return b;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) {
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
  }
  return ~c;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Writes a PNG chunk at out; returns its length. */
static size_t png_chunk(uint8_t *out, const char *type, const uint8_t *data,
                        size_t n) {
  put_be32(out, (uint32_t)n);
  memcpy(out + 4, type, 4);
  if (n) {
    memcpy(out + 8, data, n);
  }
  put_be32(out + 8 + n, crc32_of(out + 4, n + 4));
  return n + 12;
}

ti_blob_t ti_png_claiming(uint32_t w, uint32_t h) {
  ti_blob_t b = {.data = malloc(512)};
  assert_non_null(b.data);
  memcpy(b.data, "\x89PNG\r\n\x1a\n", 8);
  size_t n = 8;
  uint8_t ihdr[13] = {0};
  put_be32(ihdr, w);
  put_be32(ihdr + 4, h);
  ihdr[8] = 8; /* bit depth; colour type 0: grey */
  n += png_chunk(b.data + n, "IHDR", ihdr, sizeof ihdr);
  /* zlib: its header, one final stored block of 64 zero bytes, their
   * adler32. */
  uint8_t idat[2 + 5 + 64 + 4] = {0x78, 0x01, 0x01, 64, 0, 0xbf, 0xff};
  put_be32(idat + 2 + 5 + 64, 64u << 16 | 1);
  n += png_chunk(b.data + n, "IDAT", idat, sizeof idat);
  n += png_chunk(b.data + n, "IEND", NULL, 0);
  b.len = n;
  return b;
}

void ti_decoded_size(const void *data, size_t len, int *w, int *h) {
  VipsImage *img = vips_image_new_from_buffer(data, len, "", NULL);
  assert_non_null(img);
  *w = vips_image_get_width(img);
  *h = vips_image_get_page_height(img);
  g_object_unref(img);
}
