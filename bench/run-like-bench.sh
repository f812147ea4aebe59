#!/usr/bin/env bash
# Chorus: benchmark of likes of one tweet (one hot document) through 2PC.
#
#   bench/run-like-bench.sh
#
# Installs what is missing (scripts/deps.sh), builds a Release build in
# build-bench/, starts its OWN empty database (scripts/mongo-setup.sh,
# first free port from 27600 up, data in var/bench-like-db), writes
# accounts and a session for each straight into it (build-bench/bin/
# load_dataset --sessions: the server's own code, no password hashed),
# starts two chorusd sharing it (first free HTTP ports from 18600 up whose
# WebSocket port, HTTP + 1000, is free too; --db chorus_likes) and runs
# build-bench/bin/bench_likes against both:
#   (a) likes of one tweet by distinct users offered at BENCH_LIKE_RATE per
#       second for BENCH_LIKE_DURATION seconds, alternating over the two
#       servers, while another user creates tweets one after another;
#   (b) BENCH_LIKE_BURST likes of another tweet sent at the same moment.
# Prints the answers by kind, whether each like_count read on both servers
# is exact, the latencies, the creations' rate and latencies, CPU, and a
# final summary with the machine; warns when other programs used the CPU.
# Everything it started is stopped on exit, Ctrl-C included.
#
# Environment:
#   BENCH_LIKE_RATE=40        likes per second offered in (a)
#   BENCH_LIKE_DURATION=15    seconds of (a)
#   BENCH_LIKE_BURST=500      likes sent at once in (b)
#   BENCH_LIKE_PAUSE_MS=100   the other user's pause between creations
#   BENCH_CHORUSD=path        a chorusd to measure instead of build-bench's
#                             (another build, e.g. of an earlier commit)
#
# Logs, pid files and the results (like-last-summary.txt, like-result.json)
# are kept in var/bench-run/. A benchmark prints figures: the exit status
# is non-zero only when something could not be set up or run.
set -euo pipefail

LIB_TAG="[bench]"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_args "$@"

RATE="${BENCH_LIKE_RATE:-40}"
DURATION="${BENCH_LIKE_DURATION:-15}"
BURST="${BENCH_LIKE_BURST:-500}"
PAUSE_MS="${BENCH_LIKE_PAUSE_MS:-100}"
bench_positive BENCH_LIKE_ RATE DURATION
bench_whole BENCH_LIKE_ BURST PAUSE_MS

BENCH="$BUILD_DIR/bin/bench_likes"
LOADER="$BUILD_DIR/bin/load_dataset"
DB_DIR="$ROOT/var/bench-like-db"
DB_NAME=chorus_likes
SERVER_FILES=chorusd-like
SESSIONS="$RUN_DIR/like-sessions.txt"
RESULT="$RUN_DIR/like-result.json"
SUMMARY="$RUN_DIR/like-last-summary.txt"

# One run at a time: a second one would share var/bench-like-db.
bench_lock .like-lock 30
rm -f "$RESULT" "$SUMMARY" "$SESSIONS"
lib_exit_traps bench_cleanup

bench_build bench_likes load_dataset
if [[ -n "${BENCH_CHORUSD:-}" ]]; then
    [[ -x "$BENCH_CHORUSD" ]] || { err "BENCH_CHORUSD=$BENCH_CHORUSD is not an executable"; exit 1; }
    CHORUSD="$BENCH_CHORUSD"
fi
bench_stop_all

# ---------------------------------------------------------------- setup
rm -rf "$DB_DIR"
port="$(free_port 27600 3)" || { err "no free database port from 27600 up"; exit 1; }
bench_db_start "$port" "$RUN_DIR/like-mongo-setup.out"
say "database: ${DB_DESC:-$DB_KIND} ($MONGO_URI)"

PACED=$(( RATE * DURATION ))
USERS=$(( 2 + (PACED > BURST ? PACED : BURST) ))
say "accounts: $USERS with a session each (load_dataset --sessions)"
"$LOADER" --mongo-uri "$MONGO_URI" --db "$DB_NAME" --users "$USERS" \
    --follows 0 --tweets 0 --shards 4 --sessions "$SESSIONS" \
    >"$RUN_DIR/like-load.out" 2>&1 || { cat "$RUN_DIR/like-load.out" >&2; err "load_dataset failed"; exit 1; }

# Every fan's connection comes from 127.0.0.1: one address stands for
# hundreds of users, so the per-address connection cap is off.
port=18600
for id in like-a like-b; do
    bench_server_start "$id" "$port" 30 --http-per-address 0
    say "chorusd $id on port $SERVER_PORT (pid ${SERVER_PIDS[-1]}, log var/bench-run/$SERVER_FILES-$id.log)"
    port=$((SERVER_PORT + 1))
done

# ---------------------------------------------------------------- run
bench_client_args
echo
say "=== (a) $RATE likes/s of one tweet for $DURATION s over 2 servers, another user creating tweets; (b) $BURST likes of one tweet at once ==="
rc=0
bench_run_job "$BENCH" "${CLIENT_ARGS[@]}" --sessions "$SESSIONS" --rate "$RATE" \
    --duration "$DURATION" --burst "$BURST" --creator-pause-ms "$PAUSE_MS" \
    --json >"$RESULT" || rc=$?
if [[ $rc -ne 0 ]]; then err "bench_likes failed (status $rc)"; exit 1; fi

# ---------------------------------------------------------------- summary
DB_LINE="$(bench_db_line)"
CPU_MODEL="$(bench_cpu_model)"
CHORUSD_DESC="$(show_path "$CHORUSD")"
{
    echo
    echo "Chorus likes of one tweet through 2PC -- $(date '+%Y-%m-%d %H:%M:%S')"
    echo "machine:  $(nproc) CPUs${CPU_MODEL:+ ($CPU_MODEL)}, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "database: $DB_LINE, local, empty but for $USERS accounts"
    echo "servers:  2 x $CHORUSD_DESC"
    echo
    python3 - "$RESULT" "$DB_KIND" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); db = sys.argv[2]
def phase(name, p, extra=""):
    l = p["latency_ms"]
    print(f"({name}) {p['sent']} likes{extra}: {p['ok']} x 200, {p['conflict_409']} x 409, "
          f"{p['unavailable_503']} x 503, {p['other_http']} other HTTP, {p['transport']} transport"
          f"{'; ' + str(p['late_sends']) + ' late sends' if name == 'a' else ''}")
    print(f"    like_count on the servers: {', '.join(str(c) for c in p['like_counts'])}"
          f" -> {'exact' if p['exact'] else 'NOT EXACT'}")
    print(f"    latency ms of the 200s: p50 {l['p50']:.1f}  p90 {l['p90']:.1f}  p99 {l['p99']:.1f}  max {l['max']:.1f}"
          f"  (all answered in {p['elapsed_s']:.1f} s)")
phase("a", r["paced"], f" offered at {r['rate']:.0f}/s for {r['duration_s']:.0f} s")
c = r["creations"]; l = c["latency_ms"]
print(f"    meanwhile another user created {c['ok']} tweets ({c['per_s']:.1f}/s), {c['failed']} failed;"
      f" latency ms: p50 {l['p50']:.1f}  p90 {l['p90']:.1f}  p99 {l['p99']:.1f}  max {l['max']:.1f}")
cpu = r["cpu_pct"]; m = r["machine_cpu_pct"]
parts = [cpu.get("chorusd"), cpu.get(db), cpu.get("client")]
other = None if m is None or m < 0 or any(p is None for p in parts) else max(0.0, m - sum(parts))
f = lambda v: "?" if v is None else f"{v:.0f}"
print(f"    CPU during (a), % of one core: chorusd {f(cpu.get('chorusd'))}, {db} {f(cpu.get(db))},"
      f" client {f(cpu.get('client'))}, other programs {f(other)}; whole machine {f(m)} of {r['cores'] * 100}")
if "burst" in r:
    phase("b", r["burst"], " sent at once")
a, b = r["paced"], r.get("burst")
ok = lambda p: p["ok"] == p["sent"] and p["exact"]
print()
print(f"targets: (a) only successes and the exact count: {'met' if ok(a) else 'MISSED'};"
      f" p99 < 500 ms: {'met' if a['latency_ms']['p99'] < 500 else 'MISSED'};"
      f" creations p99 < 500 ms: {'met' if l['p99'] < 500 and c['failed'] == 0 else 'MISSED'}"
      + (f"; (b) every like a success, the exact count: {'met' if ok(b) else 'MISSED'}" if b else ""))
if other is not None and other > 25:
    print(f"WARNING: other programs used {other:.0f}% of a core during (a); these figures are low."
          " Run again on a quiet machine.")
EOF
} | tee "$SUMMARY"
say "summary saved in var/bench-run/like-last-summary.txt"
