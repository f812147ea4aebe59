#!/usr/bin/env bash
# Chorus: benchmark of tweet creation through two-phase commit.
#
#   bench/run-sync-bench.sh
#
# Installs what is missing (scripts/deps.sh), builds a Release build in
# build-bench/, and for each configuration -- (a) one chorusd, (b) two
# chorusd sharing the database -- starts its OWN empty database
# (scripts/mongo-setup.sh, first free port from 27300 up, data in
# var/bench-db), starts the servers (first free HTTP ports from 18300 up
# whose WebSocket port, HTTP + 1000, is free too; --db chorus_bench), runs
# build-bench/bin/bench_tweets against them and stops them again. Prints
# each result and a final summary with the machine. Everything it started
# is stopped on exit, Ctrl-C included.
#
# Each configuration first measures the database's raw single-document
# insert rate on that fresh database (build-bench/bin/bench_raw: 16
# clients, the driver and write concern of chorusd, 5 s), and prints each
# creation rate beside it as a ratio, so that figures taken on a noisy
# machine compare.
#
# Environment:
#   BENCH_CONFIGS="a:1:16:16 b:2:16:16 c:2:16:1 d:2:64:64"
#                       the configurations, each LABEL:SERVERS:THREADS:USERS;
#                       the default is the targets' (docs/PERFORMANCE.md,
#                       "Creation"): 16 authors on 16 connections against one
#                       server and against two, one author on 16
#                       connections, 64 authors on 64 connections.  With
#                       fewer users than threads, every thread posts as any
#                       user (two requests of one author in flight at once)
#   BENCH_DURATION=20   measured seconds per configuration
#   BENCH_WARMUP=2      unmeasured seconds before each measurement
#   BENCH_RAW_S=5       seconds of the raw insert measurement (0: none)
#   BENCH_SHARED_USERS=1  let every thread cycle through all users even
#                       when there are as many users as threads
#   BENCH_CHORUSD=path  a chorusd to measure instead of build-bench's
#                       (another build, e.g. of an earlier commit)
#
# Logs, pid files and the results (last-summary.txt, *.json) are kept in
# var/bench-run/, and each configuration's committed requests in
# latency-LABEL.txt (completion as Unix time in s, latency in ms), to
# line slow ones up with the servers' logs. A benchmark prints figures: the exit status is non-zero
# only when something could not be set up or run.
set -euo pipefail

LIB_TAG="[bench]"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_args "$@"

DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-2}"
RAW_S="${BENCH_RAW_S:-5}"
CONFIGS="${BENCH_CONFIGS:-a:1:16:16 b:2:16:16 c:2:16:1 d:2:64:64}"
SHARED_ARGS=()
if [[ "${BENCH_SHARED_USERS:-0}" == 1 ]]; then
    SHARED_ARGS=(--shared-users)
fi
bench_positive BENCH_ DURATION
bench_whole BENCH_ WARMUP RAW_S
for c in $CONFIGS; do
    [[ "$c" =~ ^[a-z0-9]+:[1-9][0-9]*:[1-9][0-9]*:[1-9][0-9]*$ ]] ||
        { err "BENCH_CONFIGS: '$c' is not LABEL:SERVERS:THREADS:USERS"; exit 1; }
done

BENCH="$BUILD_DIR/bin/bench_tweets"
DB_DIR="$ROOT/var/bench-db"
DB_NAME=chorus_bench
SERVER_FILES=chorusd

# One run at a time: a second one would share var/bench-db.
bench_lock .lock 30 # the last run's database may take a moment to let go
rm -f "$RUN_DIR"/result-*.json "$RUN_DIR"/last-summary.txt
lib_exit_traps bench_cleanup

bench_build bench_tweets bench_raw
if [[ -n "${BENCH_CHORUSD:-}" ]]; then
    [[ -x "$BENCH_CHORUSD" ]] || { err "BENCH_CHORUSD=$BENCH_CHORUSD is not an executable"; exit 1; }
    CHORUSD="$BENCH_CHORUSD"
fi
# Anything left from an earlier run that was killed hard.
bench_stop_all

# ---------------------------------------------------------------- one configuration
# start_db: a fresh, empty database on the first free ports from 27300 up.
start_db() {
    rm -rf "$DB_DIR"
    local port
    port="$(free_port 27300 3)" || { err "no free database port from 27300 up"; exit 1; }
    bench_db_start "$port" "$RUN_DIR/mongo-setup.out"
    say "database: ${DB_DESC:-$DB_KIND} ($MONGO_URI)"
}

# start_servers COUNT: COUNT chorusd on the database, from port 18300 up,
# without the per-address connection cap (every author's connection comes
# from 127.0.0.1: one address stands for many users).
start_servers() {
    local n="$1" i port=18300
    for ((i = 0; i < n; i++)); do
        bench_server_start "bench-$((i + 1))" "$port" 30 --http-per-address 0
        say "chorusd bench-$((i + 1)) on port $SERVER_PORT (pid ${SERVER_PIDS[$i]}, log var/bench-run/chorusd-bench-$((i + 1)).log)"
        port=$((SERVER_PORT + 1))
    done
}

RESULTS=()
# run_config LABEL SERVERS THREADS USERS: on a fresh database, the raw
# insert rate, then bench_tweets against SERVERS chorusd; prints the result
# and keeps it (var/bench-run/result-LABEL.json, with the raw rate and the
# servers' group counts added).
run_config() {
    local label="$1" n="$2" threads="$3" users="$4" out raw="$RUN_DIR/raw-$1.json"
    echo
    say "=== ($label) $n server$([[ $n -eq 1 ]] || echo s), $threads threads, $users users, ${DURATION} s (empty database) ==="
    start_db
    echo '{}' >"$raw"
    if (( RAW_S > 0 )); then
        bench_run_job "$BUILD_DIR/bin/bench_raw" --mongo-uri "$MONGO_URI" --db "$DB_NAME" \
            --clients 16 --duration "$RAW_S" --json >"$raw" ||
            { err "bench_raw failed"; exit 1; }
    fi
    start_servers "$n"
    bench_client_args
    out="$RUN_DIR/result-$label.json"
    local rc=0
    bench_run_job "$BENCH" "${CLIENT_ARGS[@]}" --users "$users" --threads "$threads" \
        --duration "$DURATION" --warmup "$WARMUP" ${SHARED_ARGS[@]+"${SHARED_ARGS[@]}"} \
        --json --dump "$RUN_DIR/latency-$label.txt" >"$out" || rc=$?
    if [[ $rc -ne 0 ]]; then err "bench_tweets failed (status $rc)"; exit 1; fi
    local groups=0 grouped=0 u m
    for u in "${URLS[@]}"; do
        m="$(curl -fsS "$u/metrics" 2>/dev/null || true)"
        groups=$((groups + $(sed -n 's/^chorus_txn_groups_total \([0-9]*\)$/\1/p' <<<"$m" | sed -n '1{p;q}' | grep . || echo 0)))
        grouped=$((grouped + $(sed -n 's/^chorus_txn_grouped_total \([0-9]*\)$/\1/p' <<<"$m" | sed -n '1{p;q}' | grep . || echo 0)))
    done
    RESULTS+=("$label:$out")
    python3 - "$out" "$DB_KIND" "$raw" "$groups" "$grouped" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); db = sys.argv[2]
raw = json.load(open(sys.argv[3])).get("inserts_per_s")
r["raw_inserts_per_s"] = raw
r["groups"], r["grouped"] = int(sys.argv[4]), int(sys.argv[5])
json.dump(r, open(sys.argv[1], "w"))
l, e, c = r["latency_ms"], r["errors"], r["cpu_pct"]
fmt = lambda v: "?" if v is None else f"{v:.0f}"
if raw:
    print(f"  raw single-document inserts (16 clients): {raw:.0f}/s")
ratio = f" = {r['tweets_per_s'] / raw:.3f} of the raw insert rate" if raw else ""
print(f"  committed {r['committed']} tweets in {r['duration_s']:.0f} s = {r['tweets_per_s']:.1f} tweets/s{ratio}"
      f" (first quarter {r['tweets_per_s_first_quarter']:.1f}, last {r['tweets_per_s_last_quarter']:.1f})")
print("  commits each second: " + " ".join(str(n) for n in r["per_second"]))
print(f"  latency ms (201s): p50 {l['p50']:.1f}  p90 {l['p90']:.1f}  p99 {l['p99']:.1f}  max {l['max']:.1f}")
others = ", ".join(f"{k} x{v}" for k, v in r["other_statuses"].items())
print(f"  failures: 409 {e['conflict_409']}, 503 {e['unavailable_503']}, other HTTP {e['other_http']}"
      + (f" ({others})" if others else "") + f", transport {e['transport']}")
if r["groups"]:
    print(f"  group commit: {r['grouped']} transactions in {r['groups']} groups"
          f" ({r['grouped'] / r['groups']:.1f} a group; registrations and warm-up included)")
g = r.get("gate_ms_per_tweet")
if g:
    print(f"  write gate held {r['gate_held_s']:.2f} s in the window = {g:.2f} ms per tweet"
          f" ({100 * r['gate_held_s'] / (r['duration_s'] * r['servers']):.0f} % of the time, per server)")
m = r.get("machine_cpu_pct")
st = r.get("steal_pct")
print(f"  CPU, % of one core: chorusd {fmt(c.get('chorusd'))}, {db} {fmt(c.get(db))}, client {fmt(c.get('client'))}"
      + (f"; whole machine {m:.0f} of {r['cores'] * 100}" if m is not None else "")
      + (f", of which stolen by the VM's host {st:.0f}" if st is not None else ""))
EOF
    bench_stop_all
}

for c in $CONFIGS; do
    IFS=: read -r label servers threads users <<<"$c"
    run_config "$label" "$servers" "$threads" "$users"
done

# ---------------------------------------------------------------- summary
DB_LINE="$(bench_db_line)"
CPU_MODEL="$(bench_cpu_model)"
SUMMARY="$RUN_DIR/last-summary.txt"
{
    echo
    echo "Chorus tweet creation through 2PC -- $(date '+%Y-%m-%d %H:%M:%S')"
    echo "machine:  $(nproc) CPUs${CPU_MODEL:+ ($CPU_MODEL)}, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "chorusd:  ${BENCH_CHORUSD:-build-bench/bin/chorusd (this tree)}"
    free -g | sed 's/^/          /'
    echo "database: $DB_LINE, local, empty at the start of each configuration"
    echo "client:   ${DURATION} s measured after ${WARMUP} s warm-up per configuration; each thread posts as users of its own unless users < threads"
    echo
    python3 - "$DB_KIND" "${RESULTS[@]}" <<'EOF'
import json, sys
db = sys.argv[1]
rows = []
def other(r, db):  # CPU of everything else on the machine (other programs)
    m, c = r.get("machine_cpu_pct"), r["cpu_pct"]
    parts = [c.get("chorusd"), c.get(db), c.get("client"), r.get("steal_pct") or 0.0]
    if m is None or any(p is None for p in parts):
        return None
    return max(0.0, m - sum(parts))
for item in sys.argv[2:]:
    label, path = item.split(":", 1)
    r = json.load(open(path))
    l, e, c = r["latency_ms"], r["errors"], r["cpu_pct"]
    fmt = lambda v: "?" if v is None else f"{v:.0f}"
    raw = r.get("raw_inserts_per_s")
    rows.append([f"({label})", str(r["servers"]), str(r["threads"]), str(r["users"]),
                 f"{r['duration_s']:.0f}", str(r["committed"]), f"{r['tweets_per_s']:.1f}",
                 "?" if not raw else f"{raw:.0f}",
                 "?" if not raw else f"{r['tweets_per_s'] / raw:.3f}",
                 f"{l['p50']:.1f}", f"{l['p90']:.1f}", f"{l['p99']:.1f}", f"{l['max']:.1f}",
                 str(e["conflict_409"]), str(e["unavailable_503"]), str(e["other_http"]),
                 str(e["transport"]),
                 fmt(c.get("chorusd")), fmt(c.get(db)), fmt(c.get("client")),
                 fmt(other(r, db)),
                 "-" if not r.get("gate_ms_per_tweet") else f"{r['gate_ms_per_tweet']:.2f}"])
head = ["", "servers", "threads", "users", "s", "committed", "tweets/s", "raw inserts/s", "ratio",
        "p50 ms", "p90 ms", "p99 ms", "max ms", "409", "503", "other HTTP", "transport",
        "CPU chorusd%", f"CPU {db}%", "CPU client%", "CPU other%", "gate ms/tweet"]
w = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
line = lambda cells: "| " + " | ".join(c.rjust(w[i]) for i, c in enumerate(cells)) + " |"
print(line(head))
print("|" + "|".join("-" * (x + 1) + ":" for x in w) + "|")
for r in rows:
    print(line(r))
print()
print("raw inserts/s: the database's single-document insert rate with 16 clients,")
print("measured on the same fresh database just before; ratio = tweets/s / raw.")
print("Latency is of the committed (201) requests. CPU is % of one core during the")
print("measured window, summed over processes; \"other\" is every other program on")
print("the machine (the time the VM's host stole is left out of it and warned of).")
print("gate ms/tweet: the time the servers' write gates were held in")
print("the window (one write command at a time per server on FerretDB; \"-\" on")
print("MongoDB, where there is no gate) per committed tweet: what a creation costs")
print("the database's writer, which moves less with the machine's load than tweets/s.")
print("Each configuration starts from an empty database; on FerretDB")
print("every query scans its collection, so the rate falls as tweets accumulate:")
for item in sys.argv[2:]:
    label, path = item.split(":", 1)
    r = json.load(open(path))
    print(f"  ({label}) tweets/s in the first quarter {r['tweets_per_s_first_quarter']:.1f},"
          f" in the last {r['tweets_per_s_last_quarter']:.1f}")
busy = [(item.split(":", 1)[0], other(json.load(open(item.split(":", 1)[1])), db))
        for item in sys.argv[2:]]
busy = [(label, o) for label, o in busy if o is not None and o > 25]
stolen = [(item.split(":", 1)[0], json.load(open(item.split(":", 1)[1])).get("steal_pct"))
          for item in sys.argv[2:]]
stolen = [(label, v) for label, v in stolen if v is not None and v > 5]
if stolen:
    print("WARNING: the VM's host took CPU from this machine during the measurement ("
          + ", ".join(f"({label}) {v:.0f}% of a core stolen" for label, v in stolen)
          + "); these figures are low and do not compare. Run again when steal is 0.")
if busy:
    print("WARNING: other programs used CPU during the measurement ("
          + ", ".join(f"({label}) {o:.0f}% of a core" for label, o in busy)
          + "); these figures are low. Run again on a quiet machine.")
EOF
} | tee "$SUMMARY"
say "summary saved in var/bench-run/last-summary.txt"
