#!/usr/bin/env bash
# Chorus: benchmark of tweet creation through two-phase commit.
#
#   bench/run-sync-bench.sh
#
# Installs what is missing (scripts/deps.sh), builds a Release build in
# build-bench/, and for each configuration -- (a) one chorusd, (b) two
# chorusd sharing the database -- starts its OWN empty database
# (scripts/mongo-setup.sh, first free port from 27300 up, data in
# var/bench-db), starts the servers (first free ports from 18300 up,
# --db chorus_bench), runs build-bench/bin/bench_tweets against them and
# stops them again. Prints each result and a final summary with the
# machine. Everything it started is stopped on exit, Ctrl-C included.
#
# Environment:
#   BENCH_DURATION=20   measured seconds per configuration
#   BENCH_THREADS=8     concurrent client threads
#   BENCH_USERS=16      users registered; each thread posts round-robin as
#                       users of its own (BENCH_USERS / BENCH_THREADS each)
#   BENCH_WARMUP=2      unmeasured seconds before each measurement
#   BENCH_SHARED_USERS=1  let every thread cycle through all users instead,
#                       so that two requests of one user conflict at times
#
# Logs, pid files and the results (last-summary.txt, *.json) are kept in
# var/bench-run/. A benchmark prints figures: the exit status is non-zero
# only when something could not be set up or run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

say() { echo "[bench] $*"; }
err() { echo "[bench] ERROR: $*" >&2; }

for arg in "$@"; do
    case "$arg" in
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) err "unknown argument: $arg (settings come from the environment; see --help)"; exit 2 ;;
    esac
done

DURATION="${BENCH_DURATION:-20}"
THREADS="${BENCH_THREADS:-8}"
USERS="${BENCH_USERS:-16}"
WARMUP="${BENCH_WARMUP:-2}"
SHARED_ARGS=()
USERS_DESC="each thread its own"
if [[ "${BENCH_SHARED_USERS:-0}" == 1 ]]; then
    SHARED_ARGS=(--shared-users)
    USERS_DESC="shared by all threads"
elif (( USERS < THREADS )); then
    USERS_DESC="shared by all threads: fewer users than threads"
fi
for v in DURATION THREADS USERS; do
    if ! [[ "${!v}" =~ ^[1-9][0-9]*$ ]]; then err "BENCH_$v must be a positive whole number, not '${!v}'"; exit 2; fi
done
if ! [[ "$WARMUP" =~ ^[0-9]+$ ]]; then err "BENCH_WARMUP must be a whole number, not '$WARMUP'"; exit 2; fi

BUILD_DIR="$ROOT/build-bench"
CHORUSD="$BUILD_DIR/bin/chorusd"
BENCH="$BUILD_DIR/bin/bench_tweets"
DB_DIR="$ROOT/var/bench-db"
RUN_DIR="$ROOT/var/bench-run"
DB_NAME=chorus_bench
mkdir -p "$RUN_DIR"

# One run at a time: a second one would share var/bench-db.
exec {LOCK_FD}>"$RUN_DIR/.lock"
if ! flock -n "$LOCK_FD"; then
    err "another bench/run-sync-bench.sh is running (lock $RUN_DIR/.lock)"
    exit 1
fi

rm -f "$RUN_DIR"/result-*.json "$RUN_DIR"/last-summary.txt

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

proc_alive() {  # pid name -> live, non-zombie process whose command line contains name
    local pid="$1" name="$2" state cmdline
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *"$name"* ]]
}

stop_pid() {  # pid: TERM, wait up to 10 s, KILL (only a chorusd of this bench)
    local pid="$1" i
    proc_alive "$pid" "--db $DB_NAME" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" "--db $DB_NAME" || break
        sleep 0.2
    done
    if proc_alive "$pid" "--db $DB_NAME"; then
        say "chorusd (pid $pid) did not stop after 10 s; sending KILL"
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
    for f in "$RUN_DIR"/chorusd-*.pid; do
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

# ---------------------------------------------------------------- one configuration
DB_KIND=""
DB_DESC=""
start_db() {
    rm -rf "$DB_DIR"
    local port
    port="$(free_port 27300 3)" || { err "no free database port from 27300 up"; exit 1; }
    DB_UP=1
    if ! bash "$ROOT/scripts/mongo-setup.sh" start --port "$port" --dir "$DB_DIR" >"$RUN_DIR/mongo-setup.out" 2>&1; then
        cat "$RUN_DIR/mongo-setup.out" >&2
        err "could not start the database"
        exit 1
    fi
    MONGO_URI="$(bash "$ROOT/scripts/mongo-setup.sh" uri --dir "$DB_DIR")"
    DB_KIND="$(tr -dc 'a-z' <"$DB_DIR/kind")"
    DB_DESC="$(sed -n 's/^\[chorus\] database\( already running\)\{0,1\}: //p' "$RUN_DIR/mongo-setup.out" | sed -n 1p)"
    say "database: ${DB_DESC:-$DB_KIND} ($MONGO_URI)"
}

db_pids() {  # the database's process ids, one a line
    local f
    for f in "$DB_DIR/ferretdb.pid" "$DB_DIR"/m*/mongod.pid; do
        [[ -f "$f" ]] && tr -dc '0-9\n' <"$f" | sed -n 1p
    done
    return 0
}

start_servers() {  # count
    local n="$1" i port=18300 pid id log code deadline
    URLS=()
    for ((i = 0; i < n; i++)); do
        port="$(free_port "$port" 1)" || { err "no free HTTP port from 18300 up"; exit 1; }
        id="bench-$((i + 1))"
        log="$RUN_DIR/chorusd-$id.log"
        echo "=== $(date '+%Y-%m-%d %H:%M:%S') chorusd --port $port --server-id $id ===" >>"$log"
        "$CHORUSD" --port "$port" --server-id "$id" --db "$DB_NAME" \
            --mongo-uri "$MONGO_URI" --public-dir "$ROOT/public" \
            </dev/null >>"$log" 2>&1 &
        pid=$!
        echo "$pid" >"$RUN_DIR/chorusd-$port.pid"
        SERVER_PIDS+=("$pid")
        URLS+=("http://127.0.0.1:$port")
        # Ready = the database answers through it.
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
        say "chorusd $id on port $port (pid $pid, log var/bench-run/chorusd-$id.log)"
        port=$((port + 1))
    done
}

RESULTS=()
run_config() {  # label servers
    local label="$1" n="$2" args=() pid out
    echo
    say "=== ($label) $n server$([[ $n -eq 1 ]] || echo s), $THREADS threads, $USERS users, ${DURATION} s (empty database) ==="
    start_db
    start_servers "$n"
    for u in "${URLS[@]}"; do args+=(--url "$u"); done
    for pid in "${SERVER_PIDS[@]}"; do args+=(--cpu "chorusd:$pid"); done
    while read -r pid; do
        [[ -n "$pid" ]] && args+=(--cpu "$DB_KIND:$pid")
    done < <(db_pids)
    out="$RUN_DIR/result-$label.json"
    # In the background, so that a signal reaches our trap at once.
    "$BENCH" "${args[@]}" --users "$USERS" --threads "$THREADS" \
        --duration "$DURATION" --warmup "$WARMUP" ${SHARED_ARGS[@]+"${SHARED_ARGS[@]}"} \
        --json >"$out" &
    BENCH_PID=$!
    local rc=0
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    if [[ $rc -ne 0 ]]; then err "bench_tweets failed (status $rc)"; exit 1; fi
    RESULTS+=("$label:$out")
    python3 - "$out" "$DB_KIND" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); db = sys.argv[2]
l, e, c = r["latency_ms"], r["errors"], r["cpu_pct"]
fmt = lambda v: "?" if v is None else f"{v:.0f}"
print(f"  committed {r['committed']} tweets in {r['duration_s']:.0f} s = {r['tweets_per_s']:.1f} tweets/s"
      f" (first quarter {r['tweets_per_s_first_quarter']:.1f}, last {r['tweets_per_s_last_quarter']:.1f})")
print("  commits each second: " + " ".join(str(n) for n in r["per_second"]))
print(f"  latency ms (201s): p50 {l['p50']:.1f}  p90 {l['p90']:.1f}  p99 {l['p99']:.1f}  max {l['max']:.1f}")
others = ", ".join(f"{k} x{v}" for k, v in r["other_statuses"].items())
print(f"  failures: 409 {e['conflict_409']}, 503 {e['unavailable_503']}, other HTTP {e['other_http']}"
      + (f" ({others})" if others else "") + f", transport {e['transport']}")
m = r.get("machine_cpu_pct")
print(f"  CPU, % of one core: chorusd {fmt(c.get('chorusd'))}, {db} {fmt(c.get(db))}, client {fmt(c.get('client'))}"
      + (f"; whole machine {m:.0f} of {r['cores'] * 100}" if m is not None else ""))
EOF
    stop_servers
    stop_db
}

run_config a 1
run_config b 2

# ---------------------------------------------------------------- summary
if [[ "$DB_KIND" == ferretdb ]]; then
    DB_LINE="FerretDB $("$ROOT/var/tools/ferretdb" --version 2>/dev/null | sed -n 's/^version: //p' | sed -n 1p) (SQLite backend)"
else
    DB_LINE="mongod $(mongod --version 2>/dev/null | sed -n 's/^db version //p' | sed -n 1p) (3-member replica set)"
fi
CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p)"
SUMMARY="$RUN_DIR/last-summary.txt"
{
    echo
    echo "Chorus tweet creation through 2PC -- $(date '+%Y-%m-%d %H:%M:%S')"
    echo "machine:  $(nproc) CPUs${CPU_MODEL:+ ($CPU_MODEL)}, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    free -g | sed 's/^/          /'
    echo "database: $DB_LINE, local, empty at the start of each configuration"
    echo "client:   $THREADS threads, $USERS users ($USERS_DESC), ${DURATION} s measured after ${WARMUP} s warm-up"
    echo
    python3 - "$DB_KIND" "${RESULTS[@]}" <<'EOF'
import json, sys
db = sys.argv[1]
rows = []
def other(r, db):  # CPU of everything else on the machine (other programs)
    m, c = r.get("machine_cpu_pct"), r["cpu_pct"]
    parts = [c.get("chorusd"), c.get(db), c.get("client")]
    if m is None or any(p is None for p in parts):
        return None
    return max(0.0, m - sum(parts))
for item in sys.argv[2:]:
    label, path = item.split(":", 1)
    r = json.load(open(path))
    l, e, c = r["latency_ms"], r["errors"], r["cpu_pct"]
    fmt = lambda v: "?" if v is None else f"{v:.0f}"
    rows.append([f"({label})", str(r["servers"]), str(r["threads"]), str(r["users"]),
                 f"{r['duration_s']:.0f}", str(r["committed"]), f"{r['tweets_per_s']:.1f}",
                 f"{l['p50']:.1f}", f"{l['p90']:.1f}", f"{l['p99']:.1f}", f"{l['max']:.1f}",
                 str(e["conflict_409"]), str(e["unavailable_503"]), str(e["other_http"]),
                 str(e["transport"]),
                 fmt(c.get("chorusd")), fmt(c.get(db)), fmt(c.get("client")),
                 fmt(other(r, db))])
head = ["", "servers", "threads", "users", "s", "committed", "tweets/s",
        "p50 ms", "p90 ms", "p99 ms", "max ms", "409", "503", "other HTTP", "transport",
        "CPU chorusd%", f"CPU {db}%", "CPU client%", "CPU other%"]
w = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
line = lambda cells: "| " + " | ".join(c.rjust(w[i]) for i, c in enumerate(cells)) + " |"
print(line(head))
print("|" + "|".join("-" * (x + 1) + ":" for x in w) + "|")
for r in rows:
    print(line(r))
print()
print("Latency is of the committed (201) requests. CPU is % of one core during the")
print("measured window, summed over processes; \"other\" is every other program on")
print("the machine. Each configuration starts from an empty database; on FerretDB")
print("every query scans its collection, so the rate falls as tweets accumulate:")
for item in sys.argv[2:]:
    label, path = item.split(":", 1)
    r = json.load(open(path))
    print(f"  ({label}) tweets/s in the first quarter {r['tweets_per_s_first_quarter']:.1f},"
          f" in the last {r['tweets_per_s_last_quarter']:.1f}")
busy = [(item.split(":", 1)[0], other(json.load(open(item.split(":", 1)[1])), db))
        for item in sys.argv[2:]]
busy = [(label, o) for label, o in busy if o is not None and o > 25]
if busy:
    print("WARNING: other programs used CPU during the measurement ("
          + ", ".join(f"({label}) {o:.0f}% of a core" for label, o in busy)
          + "); these figures are low. Run again on a quiet machine.")
EOF
} | tee "$SUMMARY"
say "summary saved in var/bench-run/last-summary.txt"
