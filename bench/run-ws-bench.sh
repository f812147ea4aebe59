#!/usr/bin/env bash
# Chorus: benchmark of real-time delivery over WebSockets.
#
#   bench/run-ws-bench.sh
#
# Installs what is missing (scripts/deps.sh), builds a Release build in
# build-bench/, raises the open-files limit (ulimit -n 65536, or the hard
# limit if that is lower; the servers and the database inherit it), starts
# its OWN empty database (scripts/mongo-setup.sh, first free port from
# 27400 up, data in var/bench-ws-db) and two chorusd (A and B, first free
# HTTP ports from 18400 up whose WebSocket port, HTTP + 1000, is free too;
# --threads 16, --db chorus_wsbench), then runs build-bench/bin/bench_ws:
# BENCH_WS_CLIENTS WebSocket clients on B, all watching one tweet, and
# BENCH_WS_EVENTS edits of that tweet made on A. Prints the result and a
# summary table with the machine; everything it started is stopped on
# exit, Ctrl-C included.
#
# Environment:
#   BENCH_WS_CLIENTS=10000    WebSocket clients on server B
#   BENCH_WS_CLIENTS_A=0      WebSocket clients on server A as well
#   BENCH_WS_EVENTS=20        measured events (edits of the watched tweet)
#   BENCH_WS_USERS=50         users the clients are spread over
#   BENCH_WS_INTERVAL_MS=200  between two events
#   BENCH_WS_POLL_LOOPS=0     0: bench_ws drives every client from one lws
#                             loop on libev (epoll); N: from N lws poll(2)
#                             loops instead (slower with thousands of clients)
#   BENCH_WS_WINDOW=200       WebSocket handshakes in flight at most
#   BENCH_WS_THREADS=16       chorusd --threads (HTTP workers, database pool)
#
# Logs, pid files and the results (ws-last-summary.txt, ws-result.json,
# ws-top.txt, ws-bench.out) are kept in var/bench-run/. A benchmark prints
# figures: the exit status is non-zero only when something could not be
# set up or run.
set -euo pipefail

LIB_TAG="[bench-ws]"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_args "$@"

CLIENTS="${BENCH_WS_CLIENTS:-10000}"
CLIENTS_A="${BENCH_WS_CLIENTS_A:-0}"
EVENTS="${BENCH_WS_EVENTS:-20}"
USERS="${BENCH_WS_USERS:-50}"
INTERVAL="${BENCH_WS_INTERVAL_MS:-200}"
POLL_LOOPS="${BENCH_WS_POLL_LOOPS:-0}"
WINDOW="${BENCH_WS_WINDOW:-200}"
THREADS="${BENCH_WS_THREADS:-16}"
bench_positive BENCH_WS_ EVENTS USERS WINDOW THREADS
bench_whole BENCH_WS_ CLIENTS CLIENTS_A INTERVAL POLL_LOOPS
if (( CLIENTS + CLIENTS_A == 0 )); then err "no clients: BENCH_WS_CLIENTS and BENCH_WS_CLIENTS_A are both 0"; exit 2; fi

BENCH="$BUILD_DIR/bin/bench_ws"
DB_DIR="$ROOT/var/bench-ws-db"
DB_NAME=chorus_wsbench
SERVER_FILES=chorusd
SERVER_STOP_S=15

# One run at a time: a second one would share var/bench-ws-db.
bench_lock .ws-lock 30 # likewise

RESULT="$RUN_DIR/ws-result.json"
TOP_FILE="$RUN_DIR/ws-top.txt"
OUT_FILE="$RUN_DIR/ws-bench.out"
SUMMARY="$RUN_DIR/ws-last-summary.txt"
rm -f "$RESULT" "$TOP_FILE" "$OUT_FILE" "$SUMMARY"

# ---------------------------------------------------------------- file descriptors
# Every WebSocket is a file descriptor in bench_ws and in the server it
# is connected to. Raised here so that the database and both servers,
# started from this shell, inherit it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT="$(ulimit -n)"
NEED_B=$((CLIENTS + 200))
NEED_BENCH=$((CLIENTS + CLIENTS_A + 200))
if [[ "$FD_LIMIT" != unlimited ]] && (( FD_LIMIT < NEED_B || FD_LIMIT < NEED_BENCH )); then
    say "WARNING: open-files limit is $FD_LIMIT (hard limit $(ulimit -Hn)); $CLIENTS clients on B need about $NEED_B in chorusd and $NEED_BENCH in bench_ws: some connections will fail"
fi

lib_exit_traps bench_cleanup
bench_build bench_ws
# Anything left from an earlier run that was killed hard.
bench_stop_all

# ---------------------------------------------------------------- database
rm -rf "$DB_DIR"
DB_PORT="$(free_port 27400 3)" || { err "no free database port from 27400 up"; exit 1; }
bench_db_start "$DB_PORT" "$RUN_DIR/ws-mongo-setup.out"
say "database: $DB_KIND ($MONGO_URI)"

# ---------------------------------------------------------------- servers
# start_server ID START_PORT: chorusd ws-ID (--threads THREADS) on the first
# free ports from START_PORT up.
start_server() {
    bench_server_start "ws-$1" "$2" 30 --threads "$THREADS"
    local pid="${SERVER_PIDS[${#SERVER_PIDS[@]} - 1]}"
    say "chorusd $1 on port $SERVER_PORT, WebSocket $((SERVER_PORT + 1000)) (pid $pid, open files $(awk '/Max open files/ {print $4}' "/proc/$pid/limits"), log var/bench-run/chorusd-ws-$1.log)"
}
start_server a 18400
start_server b $((SERVER_PORT + 1))
URL_A="${URLS[0]}"
URL_B="${URLS[1]}"

# ---------------------------------------------------------------- run
ARGS=(--url-a "$URL_A" --url-b "$URL_B" --clients "$CLIENTS" --clients-a "$CLIENTS_A"
      --events "$EVENTS" --users "$USERS" --interval-ms "$INTERVAL"
      --connect-window "$WINDOW"
      --pid "chorusd-a:${SERVER_PIDS[0]}" --pid "chorusd-b:${SERVER_PIDS[1]}"
      --top "$TOP_FILE" --json "$RESULT")
if (( POLL_LOOPS > 0 )); then ARGS+=(--poll --loops "$POLL_LOOPS"); fi
while read -r pid; do
    [[ -n "$pid" ]] && ARGS+=(--pid "$DB_KIND:$pid")
done < <(bench_db_pids)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
echo
say "=== $CLIENTS clients on B$( (( CLIENTS_A > 0 )) && echo " + $CLIENTS_A on A"), $EVENTS events on A ${INTERVAL} ms apart, $USERS users ==="
rc=0
bench_run_job "$BENCH" "${ARGS[@]}" >"$OUT_FILE" || rc=$?
cat "$OUT_FILE"
if [[ $rc -ne 0 || ! -s "$RESULT" ]]; then err "bench_ws failed (status $rc)"; exit 1; fi
if [[ -s "$TOP_FILE" ]]; then
    echo
    say "top during the events (var/bench-run/ws-top.txt):"
    sed -n '1,20p' "$TOP_FILE"
fi

# ---------------------------------------------------------------- summary
DB_LINE="$(bench_db_line)"
CPU_MODEL="$(bench_cpu_model)"
{
    echo
    echo "Chorus real-time delivery over WebSockets -- $(date '+%Y-%m-%d %H:%M:%S')"
    echo "machine:  $(nproc) CPUs${CPU_MODEL:+ ($CPU_MODEL)}, load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    free -m | sed 's/^/          /'
    echo "database: $DB_LINE, local, empty at the start"
    echo "servers:  2 chorusd (Release, --threads $THREADS), open-files limit $FD_LIMIT"
    echo "client:   bench_ws ($( (( POLL_LOOPS > 0 )) && echo "$POLL_LOOPS lws poll(2) loops" || echo "one lws libev loop")), $USERS users, $EVENTS events ${INTERVAL} ms apart"
    echo
    python3 - "$RESULT" "$DB_KIND" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); db = sys.argv[2]
p = r["processes"]
mb = lambda kb: "?" if kb is None or kb < 0 else f"{kb / 1024:.0f}"
cpu = lambda v: "?" if v is None else f"{v:.0f}"
dbcpu = sum(v["cpu_pct"] or 0 for k, v in p.items() if k == db)
a, b = p.get("chorusd-a", {}), p.get("chorusd-b", {})
l, s, f = r["latency_ms"], r["latency_from_send_ms"], r["fanout_ms"]
ours = [a.get("cpu_pct"), b.get("cpu_pct"), dbcpu, r["bench"]["cpu_pct"]]
m = r.get("machine_cpu_pct")
other = None if m is None or any(x is None for x in ours) else max(0.0, m - sum(ours))
def per_event_ms(w):
    t = w.get("busiest_thread_cpu_pct")
    if t is None or not r["events_made"]:
        return "?"
    return f"{t / 100 * r['cpu_window_s'] / r['events_made'] * 1000:.0f} ms"
rss = lambda w: (f"{mb(w.get('rss_before_kb'))} / {mb(w.get('rss_peak_connect_kb'))} / "
                 f"{mb(w.get('rss_connected_kb'))} / {mb(w.get('rss_peak_kb'))} MB")
rows = [
    ("clients asked on B (and on A)", f"{r['clients_b']} ({r['clients_a']})", ""),
    ("clients connected", str(r["connected"]), "target 10,000 per server"),
    ("failed / dropped", f"{r['failed']} / {r['dropped']}", ""),
    ("connecting took", f"{r['connect_s']:.1f} s",
     f"{r['connected'] / r['connect_s']:.0f} clients/s" if r["connect_s"] > 0 else ""),
    ("ready (warm-up)", f"{r['ready']} in {r['ready_s']:.1f} s", ""),
    ("VmRSS chorusd A: before / connecting / connected / events", rss(a), ""),
    ("VmRSS chorusd B: before / connecting / connected / events", rss(b), "target < 200 MB"),
    ("events made / deliveries", f"{r['events_made']} / {r['received']} of {r['expected']}", ""),
    ("events lost", str(r["lost"]), "target 0"),
    ("latency from the 200 answer p50 / p99 / max", f"{l['p50']:.1f} / {l['p99']:.1f} / {l['max']:.1f} ms",
     "target p99 < 50 ms"),
    ("latency from sending the edit p50 / p99 / max", f"{s['p50']:.1f} / {s['p99']:.1f} / {s['max']:.1f} ms", ""),
    ("after the event's first arrival p50 / p99 / max", f"{f['p50']:.1f} / {f['p99']:.1f} / {f['max']:.1f} ms",
     "fan-out inside B and bench_ws"),
    ("the edit (PUT on A) p50 / max", f"{r['edit_ms']['p50']:.0f} / {r['edit_ms']['max']:.0f} ms", ""),
    ("CPU % in events: A / B / " + db + " / bench / other",
     f"{cpu(a.get('cpu_pct'))} / {cpu(b.get('cpu_pct'))} / {dbcpu:.0f} / {cpu(r['bench']['cpu_pct'])} / {cpu(other)}",
     f"of {r['cores'] * 100}"),
    ("chorusd B: busiest thread's CPU per event", per_event_ms(b),
     f"{r['clients_b']} clients on B"),
    ("bench_ws VmHWM", f"{mb(r['bench']['hwm_kb'])} MB", f"lws {r.get('event_lib', '?')} loop"),
]
w0 = max(len(x[0]) for x in rows); w1 = max(len(x[1]) for x in rows)
print(f"| {'':{w0}} | {'measured':>{w1}} | note |")
print(f"|{'-' * (w0 + 2)}|{'-' * (w1 + 1)}:|------|")
for k, v, n in rows:
    print(f"| {k:{w0}} | {v:>{w1}} | {n} |")
print()
print("Latency is of the deliveries to B's clients, from the moment A's 200 answer")
print("arrived (A publishes the event before it answers, so a few are negative).")
print("VmRSS 'connecting' is the highest seen (every 20 ms) while the clients")
print("connected and warmed up, 'events' while the events were delivered.")
notes = []
if r["clients_b"] < 10000:
    notes.append(f"run with {r['clients_b']} clients on B, not the target's 10,000")
if r["connected"] < r["clients_b"] + r["clients_a"]:
    notes.append(f"only {r['connected']} of {r['clients_b'] + r['clients_a']} clients connected")
if max(b.get("rss_peak_kb", 0), b.get("rss_peak_connect_kb", 0)) >= 200 * 1024:
    notes.append("chorusd B used 200 MB or more")
if r["lost"]:
    notes.append(f"{r['lost']} deliveries lost")
if l["p99"] >= 50:
    notes.append(f"p99 latency {l['p99']:.1f} ms is not under 50 ms")
print("Targets missed: " + "; ".join(notes) if notes else "Every target met.")
if other is not None and other > 25:
    print(f"WARNING: other programs used {other:.0f}% of a core during the events;"
          " the latency figures are worse than on a quiet machine.")
EOF
} | tee "$SUMMARY"
say "summary saved in var/bench-run/ws-last-summary.txt (raw: ws-result.json, ws-bench.out, ws-top.txt)"
