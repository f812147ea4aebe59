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

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

say() { echo "[bench-ws] $*"; }
err() { echo "[bench-ws] ERROR: $*" >&2; }

for arg in "$@"; do
    case "$arg" in
        -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) err "unknown argument: $arg (settings come from the environment; see --help)"; exit 2 ;;
    esac
done

CLIENTS="${BENCH_WS_CLIENTS:-10000}"
CLIENTS_A="${BENCH_WS_CLIENTS_A:-0}"
EVENTS="${BENCH_WS_EVENTS:-20}"
USERS="${BENCH_WS_USERS:-50}"
INTERVAL="${BENCH_WS_INTERVAL_MS:-200}"
POLL_LOOPS="${BENCH_WS_POLL_LOOPS:-0}"
WINDOW="${BENCH_WS_WINDOW:-200}"
THREADS="${BENCH_WS_THREADS:-16}"
for v in EVENTS USERS WINDOW THREADS; do
    if ! [[ "${!v}" =~ ^[1-9][0-9]*$ ]]; then err "BENCH_WS_$v must be a positive whole number, not '${!v}'"; exit 2; fi
done
for v in CLIENTS CLIENTS_A INTERVAL POLL_LOOPS; do
    if ! [[ "${!v}" =~ ^[0-9]+$ ]]; then err "BENCH_WS_$v must be a whole number, not '${!v}'"; exit 2; fi
done
if (( CLIENTS + CLIENTS_A == 0 )); then err "no clients: BENCH_WS_CLIENTS and BENCH_WS_CLIENTS_A are both 0"; exit 2; fi

BUILD_DIR="$ROOT/build-bench"
CHORUSD="$BUILD_DIR/bin/chorusd"
BENCH="$BUILD_DIR/bin/bench_ws"
DB_DIR="$ROOT/var/bench-ws-db"
RUN_DIR="$ROOT/var/bench-run"
DB_NAME=chorus_wsbench
mkdir -p "$RUN_DIR"

# One run at a time: a second one would share var/bench-ws-db.
exec {LOCK_FD}>"$RUN_DIR/.ws-lock"
if ! flock -n "$LOCK_FD"; then
    err "another bench/run-ws-bench.sh is running (lock $RUN_DIR/.ws-lock)"
    exit 1
fi

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

# ---------------------------------------------------------------- helpers
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

free_port() {  # first port >= $1 such that it and the next $2-1 are closed
    local p="$1" span="$2" i ok
    for ((; p < $1 + 500; p++)); do
        ok=1
        for ((i = 0; i < span; i++)); do
            if port_open $((p + i)); then ok=0; break; fi
        done
        if [[ $ok -eq 1 ]]; then echo "$p"; return 0; fi
    done
    return 1
}

free_http_port() {  # first port >= $1 that is closed, and so is port + 1000
    local p="$1"
    for ((; p < $1 + 500; p++)); do
        port_open "$p" && continue
        port_open $((p + 1000)) && continue
        echo "$p"
        return 0
    done
    return 1
}

proc_alive() {  # pid name -> live, non-zombie process whose command line contains name
    local pid="$1" name="$2" state cmdline
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *"$name"* ]]
}

stop_pid() {  # pid: TERM, wait up to 15 s, KILL (only a chorusd of this bench)
    local pid="$1" i
    proc_alive "$pid" "--db $DB_NAME" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 75; i++)); do
        proc_alive "$pid" "--db $DB_NAME" || break
        sleep 0.2
    done
    if proc_alive "$pid" "--db $DB_NAME"; then
        say "chorusd (pid $pid) did not stop after 15 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

SERVER_PIDS=()
stop_servers() {
    local pid f
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
        proc_alive "$pid" "--db $DB_NAME" && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do stop_pid "$pid"; done
    SERVER_PIDS=()
    # Leftovers of an earlier, killed run of this script.
    for f in "$RUN_DIR"/chorusd-ws-*.pid; do
        [[ -e "$f" ]] || continue
        stop_pid "$(tr -dc '0-9' <"$f" || true)"
        rm -f "$f"
    done
}

DB_UP=0
stop_db() {
    if [[ $DB_UP -eq 1 || -f "$DB_DIR/port" ]]; then
        bash "$ROOT/scripts/mongo-setup.sh" stop --dir "$DB_DIR" >/dev/null || true
    fi
    DB_UP=0
}

BENCH_PID=""
CLEANED=0
cleanup() {
    [[ $CLEANED -eq 1 ]] && return 0
    CLEANED=1
    trap - INT TERM
    if [[ -n "$BENCH_PID" ]]; then
        kill -TERM "$BENCH_PID" 2>/dev/null || true
        wait "$BENCH_PID" 2>/dev/null || true
    fi
    stop_servers
    stop_db
}
on_exit() { local rc=$?; cleanup; exit "$rc"; }
trap on_exit EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# ---------------------------------------------------------------- build
bash "$ROOT/scripts/deps.sh"
command -v python3 >/dev/null || { err "python3 is needed to format the results"; exit 1; }
say "building (build-bench/, Release)"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCHORUS_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2
for b in "$CHORUSD" "$BENCH"; do
    [[ -x "$b" ]] || { err "$b not found after the build"; exit 1; }
done

# Anything left from an earlier run that was killed hard.
stop_servers
stop_db

# ---------------------------------------------------------------- database
rm -rf "$DB_DIR"
DB_PORT="$(free_port 27400 3)" || { err "no free database port from 27400 up"; exit 1; }
DB_UP=1
if ! bash "$ROOT/scripts/mongo-setup.sh" start --port "$DB_PORT" --dir "$DB_DIR" >"$RUN_DIR/ws-mongo-setup.out" 2>&1; then
    cat "$RUN_DIR/ws-mongo-setup.out" >&2
    err "could not start the database"
    exit 1
fi
MONGO_URI="$(bash "$ROOT/scripts/mongo-setup.sh" uri --dir "$DB_DIR")"
DB_KIND="$(tr -dc 'a-z' <"$DB_DIR/kind")"
say "database: $DB_KIND ($MONGO_URI)"

db_pids() {  # the database's process ids, one a line
    local f
    for f in "$DB_DIR/ferretdb.pid" "$DB_DIR"/m*/mongod.pid; do
        [[ -f "$f" ]] && tr -dc '0-9\n' <"$f" | sed -n 1p
    done
    return 0
}

# ---------------------------------------------------------------- servers
URLS=()
start_server() {  # id start-port -> sets PORT_USED
    local id="$1" port pid log code deadline
    port="$(free_http_port "$2")" || { err "no free HTTP port (with port + 1000 free) from $2 up"; exit 1; }
    log="$RUN_DIR/chorusd-ws-$id.log"
    echo "=== $(date '+%Y-%m-%d %H:%M:%S') chorusd --port $port --server-id ws-$id --threads $THREADS (ulimit -n $(ulimit -n)) ===" >>"$log"
    "$CHORUSD" --port "$port" --server-id "ws-$id" --db "$DB_NAME" \
        --mongo-uri "$MONGO_URI" --public-dir "$ROOT/public" --threads "$THREADS" \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$RUN_DIR/chorusd-ws-$port.pid"
    SERVER_PIDS+=("$pid")
    URLS+=("http://127.0.0.1:$port")
    deadline=$((SECONDS + 30))
    while :; do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz" || true)"
        [[ "$code" == 200 ]] && break
        if ! proc_alive "$pid" chorusd; then
            err "chorusd $id (port $port) exited during startup; last lines of its log:"
            tail -n 30 "$log" >&2 || true
            exit 1
        fi
        if (( SECONDS >= deadline )); then
            err "chorusd $id: /readyz did not answer 200 within 30 s (last: ${code:-none})"
            tail -n 30 "$log" >&2 || true
            exit 1
        fi
        sleep 0.3
    done
    say "chorusd $id on port $port, WebSocket $((port + 1000)) (pid $pid, open files $(awk '/Max open files/ {print $4}' "/proc/$pid/limits"), log var/bench-run/chorusd-ws-$id.log)"
    PORT_USED="$port"
}
start_server a 18400
start_server b $((PORT_USED + 1))
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
done < <(db_pids)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
echo
say "=== $CLIENTS clients on B$( (( CLIENTS_A > 0 )) && echo " + $CLIENTS_A on A"), $EVENTS events on A ${INTERVAL} ms apart, $USERS users ==="
# In the background, so that a signal reaches our trap at once.
"$BENCH" "${ARGS[@]}" >"$OUT_FILE" &
BENCH_PID=$!
rc=0
wait "$BENCH_PID" || rc=$?
BENCH_PID=""
cat "$OUT_FILE"
if [[ $rc -ne 0 || ! -s "$RESULT" ]]; then err "bench_ws failed (status $rc)"; exit 1; fi
if [[ -s "$TOP_FILE" ]]; then
    echo
    say "top during the events (var/bench-run/ws-top.txt):"
    sed -n '1,20p' "$TOP_FILE"
fi

# ---------------------------------------------------------------- summary
if [[ "$DB_KIND" == ferretdb ]]; then
    DB_LINE="FerretDB $("$ROOT/var/tools/ferretdb" --version 2>/dev/null | sed -n 's/^version: //p' | sed -n 1p) (SQLite backend)"
else
    DB_LINE="mongod $(mongod --version 2>/dev/null | sed -n 's/^db version //p' | sed -n 1p) (3-member replica set)"
fi
CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p)"
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
