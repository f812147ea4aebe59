/*
 * testimages.h - images for the tests of uploads, made with libvips (or
 * by hand, for the ones no encoder writes: a PNG that lies about its
 * size).
 *
 * Call image_init (server/domain/image.h) before any of these.  They
 * fail the test (cmocka) when libvips does.  A ti_blob_t is the caller's
 * (ti_blob_free).
 */
#ifndef CHORUS_TESTIMAGES_H
#define CHORUS_TESTIMAGES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <vips/vips.h>

typedef struct ti_blob {
  uint8_t *data;
  size_t len;
  bool from_vips; /* g_malloc'd by libvips, else malloc'd */
} ti_blob_t;

void ti_blob_free(ti_blob_t *b);

typedef enum { TI_JPEG, TI_PNG, TI_WEBP, TI_GIF } ti_type_t;

/* A w x h image of one sRGB colour (3 bands, 8 bits); the caller
 * unrefs it. */
VipsImage *ti_solid(int w, int h, int r, int g, int b);

/* img encoded as type (with whatever metadata img carries). */
ti_blob_t ti_save(VipsImage *img, ti_type_t type);

/* ti_solid(w, h, 200, 30, 40) encoded as type. */
ti_blob_t ti_solid_as(int w, int h, ti_type_t type);

/* A 300 x 200 JPEG of (10, 120, 200) whose EXIF says "rotate 90 degrees"
 * (orientation 6) and whose ImageDescription is TI_SECRET. */
#define TI_SECRET "CHORUS-SECRET-TAG"
ti_blob_t ti_rotated_jpeg(void);

/* An animated GIF of 3 frames of 40 x 30. */
ti_blob_t ti_animated_gif(void);

/* A PNG of a few hundred bytes whose header claims w x h grey pixels
 * while its data holds a few empty rows: a decompression bomb when w x h
 * is large, a truncated image when it is not. */
ti_blob_t ti_png_claiming(uint32_t w, uint32_t h);

/* The width and page height of an image's bytes, decoded. */
void ti_decoded_size(const void *data, size_t len, int *w, int *h);

#endif
