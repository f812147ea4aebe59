/*
 * fuzz_ws_frames.c - the WebSocket frame reader (ws_mask.h): the bytes
 * a client sends, first the upgrade's request heads (and whatever it
 * sent after them before our 101), then frames, run through
 * ws_mask_scan as recv() does, the frames in reads of sizes the input
 * chooses.
 *
 * Input: byte 0 chooses how much of the rest is the HTTP part, byte 1
 * seeds the sizes of the reads; the rest is the stream.
 *
 * Checks: on_bad is called at most once, and only when the watch went
 * bad; a read gets back no more than it read, and all of it while the
 * watch is good; the same stream read whole and read in pieces goes bad
 * or not alike, and delivers the same bytes (in pieces, at most the one
 * byte of the bad frame's head that came in a read before its mask bit).
 */
#include "tests/fuzz/fuzz.h"

#include "server/realtime/ws_mask.h"

static void count_bad(void *ctx) { (*(int *)ctx)++; }

typedef struct {
  int bads;
  bool good; /* ws_mask_frames said the kept bytes were good */
  size_t delivered;
} run_t;

/* Feeds http then frames (in reads of the sizes sizes[] gives, cycling;
 * NULL: one read) through a watch of no socket. */
static run_t run(const uint8_t *http, size_t n_http, const uint8_t *frames,
                 size_t n_frames, const uint8_t *sizes, size_t n_sizes) {
  run_t r = {0, false, 0};
  ws_mask_t *m = ws_mask_watch(-1);
  FUZZ_CHECK(ws_mask_scan(m, http, n_http) == n_http);
  r.good = ws_mask_frames(m, count_bad, &r.bads);
  FUZZ_CHECK(r.good == (r.bads == 0));
  for (size_t at = 0, k = 0; at < n_frames; k++) {
    size_t want = n_frames - at;
    if (sizes && n_sizes) {
      size_t s = 1 + sizes[k % n_sizes] % 16;
      want = want < s ? want : s;
    }
    int before = r.bads;
    size_t got = ws_mask_scan(m, frames + at, want);
    FUZZ_CHECK(got <= want);
    FUZZ_CHECK(r.bads > 0 || got == want);
    FUZZ_CHECK(before == 0 || got == 0); /* nothing after the bad frame */
    r.delivered += got;
    at += want;
  }
  FUZZ_CHECK(r.bads <= 1);
  ws_mask_unwatch(m);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) {
    return 0;
  }
  size_t rest = size - 2;
  size_t n_http = rest * data[0] / 256;
  const uint8_t *stream = data + 2;
  const uint8_t *frames = stream + n_http;
  size_t n_frames = rest - n_http;
  /* The sizes of the reads: the stream's own bytes, rotated by byte 1. */
  size_t skip = n_frames ? data[1] % n_frames : 0;
  run_t whole = run(stream, n_http, frames, n_frames, NULL, 0);
  run_t pieces =
      run(stream, n_http, frames, n_frames, frames + skip, n_frames - skip);
  FUZZ_CHECK(whole.bads == pieces.bads && whole.good == pieces.good);
  FUZZ_CHECK(whole.bads > 0 || whole.delivered == n_frames);
  FUZZ_CHECK(pieces.delivered >= whole.delivered &&
             pieces.delivered <= whole.delivered + 1);
  return 0;
}
