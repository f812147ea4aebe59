/*
 * bench_media.c - image uploads and thumbnails through the servers.
 *
 *   bench_media --url http://127.0.0.1:P --url http://127.0.0.1:Q
 *               [--uploads 120] [--clients 4] [--photo-side 3000]
 *               [--timeout-ms 120000] [--json] [--cpu NAME:PID ...]
 *
 * Makes its images first, with libvips: "photos" (JPEG, --photo-side x
 * 2/3 of it, gradients with grain: what a phone sends, 1-3 MB) and
 * "screenshots" (PNG, 1600 x 1000, flat areas and sharp edges), each
 * upload a different one.  Registers one user per client, then:
 *
 * (a) Uploads: --clients threads, each as its own user, upload
 *     --uploads images in all (photos and screenshots alternating),
 *     client i on server i modulo the --url servers, one after another
 *     (a closed loop).  Each is timed from send to answer.  Prints
 *     uploads/s and MB/s of images sent (the files' bytes, over the
 *     phase's wall time), the answers by kind (201, 503 busy, other),
 *     p50/p90/p99/max latency of the 201s, and the bytes stored (original
 *     and thumbnail).
 * (b) Thumbnails: each uploaded image's thumbnail, one after another,
 *     from the server that did not take its upload: the first read of each
 *     (that server reads the file from the database) and then a second
 *     (from its memory: --media-cache-mb); then the originals likewise.
 *     p50/p90/p99/max of each.
 *
 * --cpu NAME:PID adds the CPU of those processes during (a) (percent of
 * one core) and of the whole machine.  --json prints one JSON line
 * instead.  A benchmark prints figures; it exits non-zero only when it
 * cannot run (bad arguments, registration failed, libvips failed).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "bench/bench_common.h"

#define MAX_URLS 8
#define MAX_CLIENTS 64
#define BOUNDARY "bench-media-boundary-3f9a"

static struct {
  const char *urls[MAX_URLS];
  int n_urls;
  int uploads;
  int clients;
  int photo_side;
  long timeout_ms;
  bool json;
  bench_cpu_watches_t cpu;
} opt = {
    .uploads = 120, .clients = 4, .photo_side = 3000, .timeout_ms = 120000};

static void usage(FILE *out) {
  fprintf(out,
          "usage: bench_media --url URL [--url URL ...] [--uploads N] "
          "[--clients N]\n"
          "                   [--photo-side PX] [--timeout-ms MS] [--json] "
          "[--cpu NAME:PID ...]\n");
}

static void add_url(const char *v) {
  if (opt.n_urls == MAX_URLS) {
    bench_die_usage("at most %d --url", MAX_URLS);
  }
  opt.urls[opt.n_urls++] = bench_arg_url("--url", v);
}

static void add_cpu(const char *v) { bench_cpu_watch_add(&opt.cpu, v); }

/* ------------------------------------------------------------ images */

typedef struct image {
  void *data; /* g_malloc'd by libvips */
  size_t len;
  bool photo;
} image_t;

/* Image k: a photo (even k) or a screenshot (odd k), each different. */
static image_t make_image(int k) {
  image_t img = {.photo = k % 2 == 0};
  VipsImage *base = NULL, *out = NULL;
  int w = img.photo ? opt.photo_side : 1600;
  int h = img.photo ? opt.photo_side * 2 / 3 : 1000;
  int rc;
  if (img.photo) {
    /* Colour gradients, shifted per image, with grain. */
    VipsImage *xyz = NULL, *grain = NULL, *sum = NULL, *bands[3];
    rc = vips_xyz(&xyz, w, h, NULL);
    VipsImage *x = NULL, *y = NULL;
    rc = rc || vips_extract_band(xyz, &x, 0, NULL) ||
         vips_extract_band(xyz, &y, 1, NULL);
    VipsImage *r = NULL, *g = NULL, *b = NULL;
    rc = rc || vips_linear1(x, &r, 200.0 / w, (double)(k * 7 % 50), NULL) ||
         vips_linear1(y, &g, 180.0 / h, 30.0, NULL) ||
         vips_linear1(x, &b, -150.0 / w, 220.0 - k % 40, NULL);
    bands[0] = r;
    bands[1] = g;
    bands[2] = b;
    rc = rc || vips_bandjoin(bands, &sum, 3, NULL) ||
         vips_gaussnoise(&grain, w, h, "sigma", 12.0, "mean", 0.0, NULL);
    VipsImage *noisy = NULL;
    rc = rc || vips_add(sum, grain, &noisy, NULL) ||
         vips_cast(noisy, &base, VIPS_FORMAT_UCHAR, NULL);
    rc = rc || vips_jpegsave_buffer(base, &img.data, &img.len, "Q", 90, NULL);
    VipsImage *all[] = {xyz, x, y, r, g, b, sum, grain, noisy};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
      if (all[i]) {
        g_object_unref(all[i]);
      }
    }
  } else {
    /* Flat panels with a pattern of thin lines, like a screenshot of
     * text: dark where a sine pattern is high, light elsewhere. */
    VipsImage *sines = NULL, *cond = NULL, *dark = NULL, *light = NULL;
    VipsImage *black = NULL, *text = NULL, *rgb = NULL;
    rc = vips_sines(&sines, w, h, "hfreq", 40.0 + k % 9, "vfreq", 60.0, NULL) ||
         vips_moreeq_const1(sines, &cond, 0.7, NULL) ||
         vips_black(&black, w, h, NULL) ||
         vips_linear1(black, &dark, 1.0, 30.0 + k % 20, NULL) ||
         vips_linear1(black, &light, 1.0, 245.0, NULL) ||
         vips_ifthenelse(cond, dark, light, &text, NULL) ||
         vips_cast(text, &out, VIPS_FORMAT_UCHAR, NULL);
    VipsImage *copies[3] = {out, out, out};
    rc = rc || vips_bandjoin(copies, &rgb, 3, NULL) ||
         vips_pngsave_buffer(rgb, &img.data, &img.len, "compression", 6, NULL);
    VipsImage *all[] = {sines, cond, black, dark, light, text, rgb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
      if (all[i]) {
        g_object_unref(all[i]);
      }
    }
  }
  if (base) {
    g_object_unref(base);
  }
  if (out) {
    g_object_unref(out);
  }
  if (rc != 0) {
    bench_die("libvips could not make image %d: %s", k, vips_error_buffer());
  }
  return img;
}

/* The multipart/form-data body of an upload of img; *len its length. */
static char *form_of(const image_t *img, size_t *len) {
  static const char head[] =
      "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"bench\"\r\nContent-Type: application/octet-stream\r\n\r\n";
  static const char tail[] = "\r\n--" BOUNDARY "--\r\n";
  *len = sizeof head - 1 + img->len + sizeof tail - 1;
  char *body = bench_alloc(*len);
  memcpy(body, head, sizeof head - 1);
  memcpy(body + sizeof head - 1, img->data, img->len);
  memcpy(body + sizeof head - 1 + img->len, tail, sizeof tail - 1);
  return body;
}

/* ------------------------------------------------------------ uploads */

typedef struct upload {
  image_t img;
  int server;     /* index into opt.urls of the server it went to */
  long status;    /* 0: transport failure */
  double ms;      /* send to answer */
  char id[25];    /* on 201 */
  int64_t stored; /* its "bytes" on 201 */
} upload_t;

static upload_t *uploads;
static bench_user_t users[MAX_CLIENTS];
static atomic_int next_upload;

/* The integer after "key" : in a JSON body; -1 when absent. */
static int64_t json_int(const char *body, const char *key) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\" : ", key);
  const char *p = strstr(body, pattern);
  return p ? strtoll(p + strlen(pattern), NULL, 10) : -1;
}

/* The string after "key" : " in a JSON body into out (size bytes). */
static void json_str(const char *body, const char *key, char *out,
                     size_t size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\" : \"", key);
  const char *p = strstr(body, pattern);
  out[0] = '\0';
  if (p) {
    p += strlen(pattern);
    size_t n = strcspn(p, "\"");
    if (n < size) {
      memcpy(out, p, n);
      out[n] = '\0';
    }
  }
}

static void *upload_main(void *arg) {
  int client = (int)(intptr_t)arg;
  CURL *h = bench_curl_new(opt.timeout_ms);
  bench_reply_t *r = bench_alloc(sizeof *r);
  char url[512];
  int server = client % opt.n_urls;
  snprintf(url, sizeof url, "%s/api/media", opt.urls[server]);
  for (;;) {
    int i = atomic_fetch_add(&next_upload, 1);
    if (i >= opt.uploads) {
      break;
    }
    upload_t *u = &uploads[i];
    size_t len;
    char *body = form_of(&u->img, &len);
    u->server = server;
    double t0 = bench_now_s();
    bool sent = bench_http_typed(h, "POST", url, users[client].cookie,
                                 "multipart/form-data; boundary=" BOUNDARY,
                                 body, len, r);
    u->ms = (bench_now_s() - t0) * 1000;
    u->status = sent ? r->status : 0;
    if (u->status == 201) {
      json_str(r->body, "id", u->id, sizeof u->id);
      u->stored = json_int(r->body, "bytes");
    }
    free(body);
  }
  free(r);
  curl_easy_cleanup(h);
  return NULL;
}

/* ------------------------------------------------------------ reads */

/* GET every uploaded image's variant from the server its upload did not
 * go to (the first one when there is one server); latencies into ms,
 * their number returned; *failed counts answers that were not 200. */
static size_t read_all(const char *variant, double *ms, int *failed) {
  CURL *h = bench_curl_new(opt.timeout_ms);
  bench_reply_t *r = bench_alloc(sizeof *r);
  size_t n = 0;
  for (int i = 0; i < opt.uploads; i++) {
    if (uploads[i].status != 201) {
      continue;
    }
    char url[512];
    int other = (uploads[i].server + 1) % opt.n_urls;
    snprintf(url, sizeof url, "%s/media/%s/%s", opt.urls[other], uploads[i].id,
             variant);
    double t0 = bench_now_s();
    bool ok = bench_http(h, "GET", url, NULL, NULL, r);
    double took = (bench_now_s() - t0) * 1000;
    if (ok && r->status == 200) {
      ms[n++] = took;
    } else {
      (*failed)++;
    }
  }
  free(r);
  curl_easy_cleanup(h);
  return n;
}

static void print_dist(const char *label, const bench_dist_t *d, int failed) {
  printf("%-34s n %4zu  p50 %8.1f  p90 %8.1f  p99 %8.1f  max %8.1f ms"
         "%s\n",
         label, d->n, d->p50, d->p90, d->p99, d->max,
         failed ? "  (some failed)" : "");
}

static void json_dist(const char *key, const bench_dist_t *d, int failed,
                      bool last) {
  printf("\"%s\":{\"n\":%zu,\"failed\":%d,\"p50\":%.3f,\"p90\":%.3f,"
         "\"p99\":%.3f,\"max\":%.3f}%s",
         key, d->n, failed, d->p50, d->p90, d->p99, d->max, last ? "" : ",");
}

int main(int argc, char **argv) {
  bench_set_name("bench_media");
  static const bench_opt_t opts[] = {
      BENCH_CALL("url", add_url),
      BENCH_INT("uploads", &opt.uploads, 1, 100000),
      BENCH_INT("clients", &opt.clients, 1, MAX_CLIENTS),
      BENCH_INT("photo-side", &opt.photo_side, 16, 8000),
      BENCH_LONG("timeout-ms", &opt.timeout_ms, 1000, 3600000),
      BENCH_FLAG("json", &opt.json),
      BENCH_CALL("cpu", add_cpu),
  };
  bench_parse_args(argc, argv, opts, sizeof opts / sizeof opts[0], usage);
  if (opt.n_urls == 0) {
    bench_die_usage("at least one --url");
  }
  if (VIPS_INIT(argv[0]) != 0) {
    bench_die("libvips could not start");
  }
  curl_global_init(CURL_GLOBAL_ALL);

  uploads = calloc((size_t)opt.uploads, sizeof *uploads);
  if (!uploads) {
    bench_die("out of memory");
  }
  size_t sent_bytes = 0;
  int photos = 0;
  for (int i = 0; i < opt.uploads; i++) {
    uploads[i].img = make_image(i);
    sent_bytes += uploads[i].img.len;
    photos += uploads[i].img.photo;
  }
  for (int c = 0; c < opt.clients; c++) {
    snprintf(users[c].name, sizeof users[c].name, "media%d_%d",
             (int)(bench_now_s() * 1000) % 100000, c);
  }
  if (!bench_register_users(users, opt.clients, opt.urls, opt.n_urls, 4)) {
    bench_die("registration failed; nothing measured");
  }

  /* (a) */
  bench_cpu_mark_t before, after;
  bench_cpu_watch_start(&opt.cpu);
  bench_cpu_mark(&before);
  double t0 = bench_now_s();
  pthread_t threads[MAX_CLIENTS];
  for (int c = 0; c < opt.clients; c++) {
    pthread_create(&threads[c], NULL, upload_main, (void *)(intptr_t)c);
  }
  for (int c = 0; c < opt.clients; c++) {
    pthread_join(threads[c], NULL);
  }
  double wall = bench_now_s() - t0;
  bench_cpu_mark(&after);
  bench_cpu_watch_stop(&opt.cpu);
  double *lat = bench_alloc(sizeof *lat * (size_t)opt.uploads);
  size_t ok = 0;
  int busy = 0, other = 0;
  int64_t stored = 0;
  for (int i = 0; i < opt.uploads; i++) {
    if (uploads[i].status == 201) {
      lat[ok++] = uploads[i].ms;
      stored += uploads[i].stored;
    } else if (uploads[i].status == 503) {
      busy++;
    } else {
      other++;
    }
  }
  bench_dist_t up = bench_dist_of(lat, ok);

  /* (b) */
  double *cold = bench_alloc(sizeof *cold * (size_t)opt.uploads);
  double *warm = bench_alloc(sizeof *warm * (size_t)opt.uploads);
  double *ocold = bench_alloc(sizeof *ocold * (size_t)opt.uploads);
  double *owarm = bench_alloc(sizeof *owarm * (size_t)opt.uploads);
  int f_cold = 0, f_warm = 0, f_ocold = 0, f_owarm = 0;
  bench_dist_t d_cold = bench_dist_of(cold, read_all("thumb", cold, &f_cold));
  bench_dist_t d_warm = bench_dist_of(warm, read_all("thumb", warm, &f_warm));
  bench_dist_t d_ocold =
      bench_dist_of(ocold, read_all("original", ocold, &f_ocold));
  bench_dist_t d_owarm =
      bench_dist_of(owarm, read_all("original", owarm, &f_owarm));

  double mb = (double)sent_bytes / (1024.0 * 1024.0);
  if (opt.json) {
    printf("{\"uploads\":%d,\"clients\":%d,\"servers\":%d,\"photos\":%d,"
           "\"screenshots\":%d,\"sent_mb\":%.3f,\"stored_mb\":%.3f,"
           "\"wall_s\":%.3f,\"ok\":%zu,\"busy\":%d,\"other\":%d,"
           "\"per_s\":%.3f,\"mb_per_s\":%.3f,",
           opt.uploads, opt.clients, opt.n_urls, photos, opt.uploads - photos,
           mb, (double)stored / (1024.0 * 1024.0), wall, ok, busy, other,
           (double)ok / wall, mb / wall);
    json_dist("upload_ms", &up, 0, false);
    json_dist("thumb_first_ms", &d_cold, f_cold, false);
    json_dist("thumb_again_ms", &d_warm, f_warm, false);
    json_dist("original_first_ms", &d_ocold, f_ocold, false);
    json_dist("original_again_ms", &d_owarm, f_owarm, true);
    printf(",\"cpu_pct\":{");
    bench_cpu_watch_json(&opt.cpu, wall);
    printf("\"client\":%.1f",
           bench_self_cpu_pct(&before, &after, after.at_s - before.at_s));
    printf("},\"machine_cpu_pct\":%.1f,\"cores\":%ld}\n",
           bench_machine_cpu_pct(&before, &after), bench_cores());
  } else {
    printf("(a) %d uploads (%d photos of %d px, %d screenshots), %.1f MB, "
           "by %d clients over %d servers\n",
           opt.uploads, photos, opt.photo_side, opt.uploads - photos, mb,
           opt.clients, opt.n_urls);
    printf("    %zu x 201, %d x 503 busy, %d other; %.2f uploads/s, %.2f MB/s "
           "in %.1f s; %.1f MB stored\n",
           ok, busy, other, (double)ok / wall, mb / wall, wall,
           (double)stored / (1024.0 * 1024.0));
    print_dist("    upload latency", &up, 0);
    printf("(b) each image from the other server\n");
    print_dist("    thumbnail, first read", &d_cold, f_cold);
    print_dist("    thumbnail, again (memory)", &d_warm, f_warm);
    print_dist("    original, first read", &d_ocold, f_ocold);
    print_dist("    original, again (memory)", &d_owarm, f_owarm);
  }
  for (int i = 0; i < opt.uploads; i++) {
    g_free(uploads[i].img.data);
  }
  free(uploads);
  free(lat);
  free(cold);
  free(warm);
  free(ocold);
  free(owarm);
  curl_global_cleanup();
  return 0;
}
