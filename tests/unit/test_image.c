/*
 * test_image.c - unit tests for image.h: what is accepted (the four
 * types, by their first bytes alone), what is kept of an image (upright,
 * bounded, in its type, sRGB, without metadata, animations whole, a
 * WebP thumbnail, the average colour), and what is refused and how
 * early: a PNG of a few hundred bytes claiming 50,000 x 50,000 pixels,
 * sides and animations past the limits, truncated and corrupt files,
 * text, empty and oversized files, and formats libvips could read but
 * this process must not (SVG).
 *
 * Images are made with libvips (tests/client/testimages.h); no
 * database, no server.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/domain/image.h"
#include "tests/client/testimages.h"

static const image_limits_t LIMITS = {
    .max_bytes = 8u << 20,
    .max_pixels = 50000000,
    .max_total_pixels = 100000000,
    .original_side = 2048,
    .thumb_side = 400,
};

/* Processes b under limits, asserting success. */
static image_result_t accepted(const ti_blob_t *b,
                               const image_limits_t *limits) {
  image_result_t r;
  chorus_error_t err;
  chorus_error_clear(&err);
  if (!image_process(b->data, b->len, limits, &r, &err)) {
    fail_msg("refused: %d %s %s", err.status, err.code, err.message);
  }
  return r;
}

/* Processes data under limits, asserting the refusal status and code. */
static void refused(const void *data, size_t len, const image_limits_t *limits,
                    int status, const char *code) {
  image_result_t r;
  chorus_error_t err;
  chorus_error_clear(&err);
  assert_false(image_process(data, len, limits, &r, &err));
  assert_int_equal(err.status, status);
  assert_string_equal(err.code, code);
  assert_null(r.original);
  assert_null(r.thumb);
}

/* The (r, g, b) of a "#rrggbb". */
static void color_of(const char *hex, int rgb[3]) {
  unsigned r, g, b;
  assert_int_equal(strlen(hex), IMAGE_COLOR_LEN);
  assert_int_equal(sscanf(hex, "#%02x%02x%02x", &r, &g, &b), 3);
  rgb[0] = (int)r;
  rgb[1] = (int)g;
  rgb[2] = (int)b;
}

static void assert_near(int got, int want, int slack) {
  if (abs(got - want) > slack) {
    fail_msg("%d is not within %d of %d", got, slack, want);
  }
}

static void sniffs_by_first_bytes_only(void **state) {
  (void)state;
  assert_int_equal(image_sniff("\xff\xd8\xff\xe0", 4), IMAGE_JPEG);
  assert_int_equal(image_sniff("\x89PNG\r\n\x1a\n", 8), IMAGE_PNG);
  assert_int_equal(image_sniff("RIFF\0\0\0\0WEBPVP8 ", 16), IMAGE_WEBP);
  assert_int_equal(image_sniff("GIF87a", 6), IMAGE_GIF);
  assert_int_equal(image_sniff("GIF89a..", 8), IMAGE_GIF);
  /* Near misses. */
  assert_int_equal(image_sniff("\xff\xd8", 2), IMAGE_NONE);
  assert_int_equal(image_sniff("\x89PNG\r\n\x1a", 7), IMAGE_NONE);
  assert_int_equal(image_sniff("RIFF\0\0\0\0WAVEfmt ", 16), IMAGE_NONE);
  assert_int_equal(image_sniff("GIF88a", 6), IMAGE_NONE);
  assert_int_equal(image_sniff("<svg xmlns=", 11), IMAGE_NONE);
  assert_int_equal(image_sniff("", 0), IMAGE_NONE);
  for (int t = IMAGE_JPEG; t <= IMAGE_GIF; t++) {
    assert_int_equal(image_type_from_mime(image_type_mime((image_type_t)t)), t);
  }
  assert_null(image_type_mime(IMAGE_NONE));
  assert_int_equal(image_type_from_mime("image/svg+xml"), IMAGE_NONE);
  assert_int_equal(image_type_from_mime(NULL), IMAGE_NONE);
}

static void jpeg_is_turned_upright_and_stripped(void **state) {
  (void)state;
  ti_blob_t in = ti_rotated_jpeg();
  assert_non_null(memmem(in.data, in.len, TI_SECRET, strlen(TI_SECRET)));
  image_result_t r = accepted(&in, &LIMITS);
  assert_int_equal(r.type, IMAGE_JPEG);
  assert_int_equal(r.width, 200); /* 300 x 200 turned a quarter */
  assert_int_equal(r.height, 300);
  assert_int_equal(r.frames, 1);
  assert_int_equal(image_sniff(r.original, r.original_len), IMAGE_JPEG);
  assert_null(memmem(r.original, r.original_len, "Exif", 4));
  assert_null(memmem(r.original, r.original_len, TI_SECRET, strlen(TI_SECRET)));
  int w, h;
  ti_decoded_size(r.original, r.original_len, &w, &h);
  assert_int_equal(w, 200);
  assert_int_equal(h, 300);
  /* The thumbnail: WebP, never larger than the image. */
  assert_int_equal(image_sniff(r.thumb, r.thumb_len), IMAGE_WEBP);
  assert_int_equal(r.thumb_width, 200);
  assert_int_equal(r.thumb_height, 300);
  int rgb[3];
  color_of(r.color, rgb);
  assert_near(rgb[0], 10, 6);
  assert_near(rgb[1], 120, 6);
  assert_near(rgb[2], 200, 6);
  image_result_free(&r);
  assert_null(r.original);
  ti_blob_free(&in);
}

static void large_images_are_bounded_in_their_type(void **state) {
  (void)state;
  ti_blob_t png = ti_solid_as(3000, 1000, TI_PNG);
  image_result_t r = accepted(&png, &LIMITS);
  assert_int_equal(r.type, IMAGE_PNG);
  assert_int_equal(r.width, 2048);
  assert_int_equal(r.height, 683);
  assert_int_equal(r.thumb_width, 400);
  assert_int_equal(r.thumb_height, 133);
  int w, h;
  ti_decoded_size(r.thumb, r.thumb_len, &w, &h);
  assert_int_equal(w, 400);
  assert_int_equal(h, 133);
  int rgb[3];
  color_of(r.color, rgb); /* (200, 30, 40), lossless but for the thumb */
  assert_near(rgb[0], 200, 3);
  assert_near(rgb[1], 30, 3);
  assert_near(rgb[2], 40, 3);
  image_result_free(&r);
  ti_blob_free(&png);

  ti_blob_t webp = ti_solid_as(500, 4000, TI_WEBP);
  r = accepted(&webp, &LIMITS);
  assert_int_equal(r.type, IMAGE_WEBP);
  assert_int_equal(r.width, 256);
  assert_int_equal(r.height, 2048);
  assert_int_equal(image_sniff(r.original, r.original_len), IMAGE_WEBP);
  image_result_free(&r);
  ti_blob_free(&webp);
}

static void animations_keep_their_frames(void **state) {
  (void)state;
  ti_blob_t gif = ti_animated_gif();
  image_result_t r = accepted(&gif, &LIMITS);
  assert_int_equal(r.type, IMAGE_GIF);
  assert_int_equal(r.frames, 3);
  assert_int_equal(r.width, 40);
  assert_int_equal(r.height, 30);
  VipsImage *back =
      vips_image_new_from_buffer(r.original, r.original_len, "n=-1", NULL);
  assert_non_null(back);
  assert_int_equal(vips_image_get_n_pages(back), 3);
  g_object_unref(back);
  image_result_free(&r);

  /* All frames together past the limit: refused at the header. */
  image_limits_t few = LIMITS;
  few.max_total_pixels = 2 * 40 * 30;
  refused(gif.data, gif.len, &few, 422, "too_many_pixels");
  ti_blob_free(&gif);
}

static void alpha_is_flattened_onto_white_for_the_colour(void **state) {
  (void)state;
  VipsImage *red = ti_solid(64, 64, 255, 0, 0), *alpha = NULL, *rgba = NULL;
  VipsImage *black = NULL;
  assert_int_equal(vips_black(&black, 64, 64, NULL), 0);
  assert_int_equal(vips_linear1(black, &alpha, 1.0, 128.0, "uchar", TRUE, NULL),
                   0);
  assert_int_equal(vips_bandjoin2(red, alpha, &rgba, NULL), 0);
  ti_blob_t png = ti_save(rgba, TI_PNG);
  image_result_t r = accepted(&png, &LIMITS);
  int rgb[3];
  color_of(r.color, rgb); /* half red over white */
  assert_near(rgb[0], 255, 4);
  assert_near(rgb[1], 127, 6);
  assert_near(rgb[2], 127, 6);
  image_result_free(&r);
  ti_blob_free(&png);
  g_object_unref(rgba);
  g_object_unref(alpha);
  g_object_unref(black);
  g_object_unref(red);
}

/* An image in another colour space is converted to sRGB, since its
 * profile is not kept. */
static void colour_profiles_are_applied_then_dropped(void **state) {
  (void)state;
  VipsImage *srgb = ti_solid(100, 80, 10, 120, 200), *cmyk = NULL;
  assert_int_equal(vips_icc_transform(srgb, &cmyk, "cmyk", "input_profile",
                                      "srgb", "embedded", FALSE, NULL),
                   0);
  assert_int_equal(vips_image_get_bands(cmyk), 4);
  ti_blob_t jpeg = ti_save(cmyk, TI_JPEG);
  assert_non_null(memmem(jpeg.data, jpeg.len, "ICC_PROFILE", 11));
  image_result_t r = accepted(&jpeg, &LIMITS);
  assert_null(memmem(r.original, r.original_len, "ICC_PROFILE", 11));
  VipsImage *back =
      vips_image_new_from_buffer(r.original, r.original_len, "", NULL);
  assert_non_null(back);
  assert_int_equal(vips_image_get_bands(back), 3);
  g_object_unref(back);
  int rgb[3];
  color_of(r.color, rgb); /* CMYK's gamut is smaller: close, not exact */
  assert_near(rgb[0], 10, 40);
  assert_near(rgb[1], 120, 30);
  assert_near(rgb[2], 200, 30);
  image_result_free(&r);
  ti_blob_free(&jpeg);
  g_object_unref(cmyk);
  g_object_unref(srgb);
}

static void decompression_bombs_are_refused_at_the_header(void **state) {
  (void)state;
  ti_blob_t bomb = ti_png_claiming(50000, 50000);
  assert_true(bomb.len < 512);
  refused(bomb.data, bomb.len, &LIMITS, 422, "too_many_pixels");
  ti_blob_free(&bomb);
  /* A side past IMAGE_SIDE_MAX, few pixels. */
  ti_blob_t strip = ti_png_claiming(IMAGE_SIDE_MAX + 1, 1);
  refused(strip.data, strip.len, &LIMITS, 422, "too_many_pixels");
  ti_blob_free(&strip);
  /* One pixel over the frame limit. */
  image_limits_t tight = LIMITS;
  tight.max_pixels = 7000 * 7000 - 1;
  ti_blob_t tall = ti_png_claiming(7000, 7000);
  refused(tall.data, tall.len, &tight, 422, "too_many_pixels");
  /* Within the limits, its data runs out: truncated. */
  refused(tall.data, tall.len, &LIMITS, 422, "invalid_image");
  ti_blob_free(&tall);
}

static void damaged_files_are_refused(void **state) {
  (void)state;
  ti_blob_t jpeg = ti_solid_as(800, 600, TI_JPEG);
  for (size_t keep = 4; keep < jpeg.len; keep += jpeg.len / 7) {
    refused(jpeg.data, keep, &LIMITS, 422, "invalid_image");
  }
  /* The right first bytes, then garbage. */
  uint8_t junk[256];
  memset(junk, 0x5a, sizeof junk);
  memcpy(junk, "\xff\xd8\xff", 3);
  refused(junk, sizeof junk, &LIMITS, 422, "invalid_image");
  memcpy(junk, "GIF89a", 6);
  refused(junk, sizeof junk, &LIMITS, 422, "invalid_image");
  memcpy(junk, "RIFF\x10\0\0\0WEBP", 12);
  refused(junk, sizeof junk, &LIMITS, 422, "invalid_image");
  ti_blob_free(&jpeg);
}

static void other_files_are_refused_by_type_and_size(void **state) {
  (void)state;
  static const char text[] = "just text, whatever its name says";
  refused(text, sizeof text - 1, &LIMITS, 415, "unsupported_type");
  static const char svg[] =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
      "height=\"10\"/>";
  refused(svg, sizeof svg - 1, &LIMITS, 415, "unsupported_type");
  /* And libvips itself no longer loads it in this process. */
  VipsImage *img = vips_image_new_from_buffer(svg, sizeof svg - 1, "", NULL);
  assert_null(img);
  vips_error_clear();
  refused("", 0, &LIMITS, 400, "file_empty");
  ti_blob_t jpeg = ti_solid_as(32, 32, TI_JPEG);
  image_limits_t small = LIMITS;
  small.max_bytes = jpeg.len - 1;
  refused(jpeg.data, jpeg.len, &small, 413, "file_too_large");
  ti_blob_free(&jpeg);
}

static void a_polyglot_loses_what_follows_the_image(void **state) {
  (void)state;
  ti_blob_t gif = ti_animated_gif();
  static const char tail[] = "PK\x03\x04<html><script>alert(1)</script>";
  ti_blob_t poly = {.data = malloc(gif.len + sizeof tail)};
  memcpy(poly.data, gif.data, gif.len);
  memcpy(poly.data + gif.len, tail, sizeof tail);
  poly.len = gif.len + sizeof tail;
  image_result_t r = accepted(&poly, &LIMITS);
  assert_int_equal(r.type, IMAGE_GIF);
  assert_null(memmem(r.original, r.original_len, "PK\x03\x04", 4));
  assert_null(memmem(r.original, r.original_len, "<script>", 8));
  image_result_free(&r);
  ti_blob_free(&poly);
  ti_blob_free(&gif);
}

static int setup(void **state) {
  (void)state;
  chorus_error_t err;
  assert_true(image_init(&err));
  assert_true(image_init(&err)); /* once: the second is the first's answer */
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sniffs_by_first_bytes_only),
      cmocka_unit_test(jpeg_is_turned_upright_and_stripped),
      cmocka_unit_test(large_images_are_bounded_in_their_type),
      cmocka_unit_test(animations_keep_their_frames),
      cmocka_unit_test(alpha_is_flattened_onto_white_for_the_colour),
      cmocka_unit_test(colour_profiles_are_applied_then_dropped),
      cmocka_unit_test(decompression_bombs_are_refused_at_the_header),
      cmocka_unit_test(damaged_files_are_refused),
      cmocka_unit_test(other_files_are_refused_by_type_and_size),
      cmocka_unit_test(a_polyglot_loses_what_follows_the_image),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
