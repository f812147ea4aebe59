#!/usr/bin/env bash
# Chorus: benchmark of image uploads and thumbnail reads.
#
#   bench/run-media-bench.sh
#
# Installs what is missing (scripts/deps.sh), builds a Release build in
# build-bench/, starts its OWN empty database (scripts/mongo-setup.sh,
# first free port from 27700 up, data in var/bench-media-db), starts two
# chorusd sharing it (first free HTTP ports from 18700 up whose WebSocket
# port, HTTP + 1000, is free too; --db chorus_media) and runs
# build-bench/bin/bench_media against both:
#   (a) BENCH_MEDIA_UPLOADS images (JPEG photos of BENCH_MEDIA_PHOTO_SIDE
#       px and PNG screenshots of 1600 x 1000, alternating, each a different
#       one) uploaded by BENCH_MEDIA_CLIENTS clients, each as its own user,
#       one after another, clients spread over the two servers;
#   (b) each image's thumbnail read from the other server, first from the
#       database and then again (from the server's memory); then the
#       originals likewise.
# Prints uploads/s, MB/s, the answers, upload latency p50/p90/p99/max,
# the thumbnail and original read latencies, CPU during (a), and a final
# summary with the machine; warns when other programs used the CPU.
# Everything it started is stopped on exit, Ctrl-C included.
#
# Environment:
#   BENCH_MEDIA_UPLOADS=120      images uploaded in (a)
#   BENCH_MEDIA_CLIENTS=4        clients uploading at once
#   BENCH_MEDIA_PHOTO_SIDE=3000  the photos' width (height: two thirds)
#   BENCH_CHORUSD=path           a chorusd to measure instead of
#                                build-bench's
#
# Logs, pid files and the results (media-last-summary.txt,
# media-result.json) are kept in var/bench-run/. A benchmark prints
# figures: the exit status is non-zero only when something could not be
# set up or run.
set -euo pipefail

LIB_TAG="[bench]"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_args "$@"

UPLOADS="${BENCH_MEDIA_UPLOADS:-120}"
CLIENTS="${BENCH_MEDIA_CLIENTS:-4}"
PHOTO_SIDE="${BENCH_MEDIA_PHOTO_SIDE:-3000}"
bench_positive BENCH_MEDIA_ UPLOADS CLIENTS PHOTO_SIDE

BENCH="$BUILD_DIR/bin/bench_media"
DB_DIR="$ROOT/var/bench-media-db"
DB_NAME=chorus_media
SERVER_FILES=chorusd-media
RESULT="$RUN_DIR/media-result.json"
SUMMARY="$RUN_DIR/media-last-summary.txt"

# One run at a time: a second one would share var/bench-media-db.
bench_lock .media-lock 30
rm -f "$RESULT" "$SUMMARY"
lib_exit_traps bench_cleanup

bench_build bench_media
if [[ -n "${BENCH_CHORUSD:-}" ]]; then
    [[ -x "$BENCH_CHORUSD" ]] || { err "BENCH_CHORUSD=$BENCH_CHORUSD is not an executable"; exit 1; }
    CHORUSD="$BENCH_CHORUSD"
fi
bench_stop_all

# ---------------------------------------------------------------- setup
rm -rf "$DB_DIR"
port="$(free_port 27700 3)" || { err "no free database port from 27700 up"; exit 1; }
bench_db_start "$port" "$RUN_DIR/media-mongo-setup.out"
say "database: ${DB_DESC:-$DB_KIND} ($MONGO_URI)"

# Every client comes from 127.0.0.1: no per-address connection cap; a
# quota no run reaches (the benchmark measures uploads, not refusals).
port=18700
for id in media-a media-b; do
    bench_server_start "$id" "$port" 30 --http-per-address 0 --media-quota-mb 4096
    say "chorusd $id on port $SERVER_PORT (pid ${SERVER_PIDS[-1]}, log var/bench-run/$SERVER_FILES-$id.log)"
    port=$((SERVER_PORT + 1))
done

# ---------------------------------------------------------------- run
bench_client_args
echo
say "=== (a) $UPLOADS uploads by $CLIENTS clients over 2 servers; (b) thumbnails and originals read back ==="
rc=0
bench_run_job "$BENCH" "${CLIENT_ARGS[@]}" --uploads "$UPLOADS" --clients "$CLIENTS" \
    --photo-side "$PHOTO_SIDE" --json >"$RESULT" || rc=$?
if [[ $rc -ne 0 ]]; then err "bench_media failed (status $rc)"; exit 1; fi

# ---------------------------------------------------------------- summary
DB_LINE="$(bench_db_line)"
CPU_MODEL="$(bench_cpu_model)"
CHORUSD_DESC="$(show_path "$CHORUSD")"
{
    echo
    echo "Chorus image uploads and thumbnails -- $(date '+%Y-%m-%d %H:%M:%S')"
    echo "machine:  $(nproc) CPUs${CPU_MODEL:+ ($CPU_MODEL)}, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "database: $DB_LINE, local, empty at the start"
    echo "servers:  2 x $CHORUSD_DESC (--media-uploads 4, --media-cache-mb 64)"
    echo
    python3 - "$RESULT" "$DB_KIND" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); db = sys.argv[2]
def dist(label, d):
    extra = f"  ({d['failed']} not 200)" if d.get("failed") else ""
    print(f"    {label:<30} p50 {d['p50']:8.1f}  p90 {d['p90']:8.1f}  p99 {d['p99']:8.1f}  max {d['max']:8.1f} ms (n {d['n']}){extra}")
print(f"(a) {r['uploads']} uploads ({r['photos']} photos, {r['screenshots']} screenshots, {r['sent_mb']:.1f} MB)"
      f" by {r['clients']} clients over {r['servers']} servers:")
print(f"    {r['ok']} x 201, {r['busy']} x 503 busy, {r['other']} other;"
      f" {r['per_s']:.2f} uploads/s, {r['mb_per_s']:.2f} MB/s in {r['wall_s']:.1f} s;"
      f" {r['stored_mb']:.1f} MB stored (originals and thumbnails)")
dist("upload latency", r["upload_ms"])
cpu = r["cpu_pct"]; m = r["machine_cpu_pct"]
f = lambda v: "?" if v is None else f"{v:.0f}"
print(f"    CPU during (a), % of one core: chorusd {f(cpu.get('chorusd'))}, {db} {f(cpu.get(db))};"
      f" whole machine {f(m)} of {r['cores'] * 100}")
print("(b) each image read from the server that did not take its upload:")
dist("thumbnail, first read", r["thumb_first_ms"])
dist("thumbnail, again (memory)", r["thumb_again_ms"])
dist("original, first read", r["original_first_ms"])
dist("original, again (memory)", r["original_again_ms"])
EOF
} | tee "$SUMMARY"
say "summary saved in var/bench-run/media-last-summary.txt"
