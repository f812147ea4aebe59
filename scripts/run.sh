#!/usr/bin/env bash
# Chorus: build and run two chorusd servers against a local database.
#
#   scripts/run.sh [--keep-db] [--no-build]
#
#   --keep-db    leave the database running when the servers stop
#   --no-build   skip deps.sh and the CMake build (use the existing build/)
#
# Environment:
#   CHORUS_PORTS="8080 8081"  HTTP ports; servers get ids a, b, c, ... in order
#   CHORUS_MONGO_URI=...      use this database instead of starting one with
#                             scripts/mongo-setup.sh (never stopped by this script)
#   CHORUS_DB_PORT=27017      port of the database started by scripts/mongo-setup.sh
#                             (data in var/db; ignored with CHORUS_MONGO_URI)
#
# Stays in the foreground; Ctrl-C or SIGTERM stops the servers (and the
# database, if this script started it and --keep-db was not given).
# Logs: var/log/chorusd-<id>.log; pid files: var/run/chorusd-<port>.pid.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

say() { echo "[chorus] $*"; }
err() { echo "[chorus] ERROR: $*" >&2; }

KEEP_DB=0
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --keep-db) KEEP_DB=1 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) err "unknown argument: $arg"; exit 2 ;;
    esac
done

read -r -a PORTS <<<"${CHORUS_PORTS:-8080 8081}"
if [[ ${#PORTS[@]} -eq 0 ]]; then err "CHORUS_PORTS is empty"; exit 2; fi
for p in "${PORTS[@]}"; do
    if ! [[ "$p" =~ ^[0-9]+$ ]] || (( p < 1 || p > 65535 )); then err "invalid port in CHORUS_PORTS: $p"; exit 2; fi
done
IDS=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
if [[ ${#PORTS[@]} -gt ${#IDS[@]} ]]; then err "too many ports in CHORUS_PORTS"; exit 2; fi

CHORUSD="$ROOT/build/bin/chorusd"
RUN_DIR="$ROOT/var/run"
LOG_DIR="$ROOT/var/log"
mkdir -p "$RUN_DIR" "$LOG_DIR"

port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

proc_alive() {  # pid name -> live, non-zombie process whose command line contains name
    local pid="$1" name="$2" state cmdline
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *"$name"* ]]
}

stop_pid() {  # pid label: TERM, wait up to 10 s, KILL
    local pid="$1" label="$2" i
    proc_alive "$pid" chorusd || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" chorusd || break
        sleep 0.2
    done
    if proc_alive "$pid" chorusd; then
        say "$label (pid $pid) did not stop after 10 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# A chorusd left over from an earlier run of this script (same port)?
stop_stale() {  # port
    local port="$1" f pid cmdline
    for f in "$RUN_DIR"/chorusd-*.pid; do
        [[ -e "$f" ]] || continue
        pid="$(tr -dc '0-9' <"$f" || true)"
        if ! proc_alive "$pid" chorusd; then
            rm -f "$f"; continue
        fi
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
        if [[ "$f" == "$RUN_DIR/chorusd-$port.pid" || "$cmdline" == *"--port $port "* ]]; then
            say "stopping chorusd from a previous run on port $port (pid $pid)"
            stop_pid "$pid" "chorusd"
            rm -f "$f"
        fi
    done
}

DB_STARTED=0
DB_ARGS=()
SERVER_PIDS=()
SERVER_LABELS=()
CLEANED=0
cleanup() {
    [[ $CLEANED -eq 1 ]] && return 0
    CLEANED=1
    trap - INT TERM
    local i
    if [[ ${#SERVER_PIDS[@]} -gt 0 ]]; then
        say "stopping servers"
        for i in "${!SERVER_PIDS[@]}"; do
            proc_alive "${SERVER_PIDS[$i]}" chorusd && kill -TERM "${SERVER_PIDS[$i]}" 2>/dev/null || true
        done
        for i in "${!SERVER_PIDS[@]}"; do
            stop_pid "${SERVER_PIDS[$i]}" "${SERVER_LABELS[$i]}"
            rm -f "$RUN_DIR/chorusd-${PORTS[$i]}.pid"
        done
    fi
    if [[ $DB_STARTED -eq 1 ]]; then
        if [[ $KEEP_DB -eq 1 ]]; then
            say "leaving the database running (--keep-db); stop it with: scripts/mongo-setup.sh stop${DB_ARGS[*]:+ ${DB_ARGS[*]}}"
        else
            bash "$ROOT/scripts/mongo-setup.sh" stop ${DB_ARGS[@]+"${DB_ARGS[@]}"} || true
        fi
    fi
}
on_exit() { local rc=$?; cleanup; exit "$rc"; }
trap on_exit EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# ---------------------------------------------------------------- build
if [[ $BUILD -eq 1 ]]; then
    bash "$ROOT/scripts/deps.sh"
    say "building (build/, Release)"
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release -DCHORUS_TESTS=OFF >/dev/null
    cmake --build "$ROOT/build" -j2
fi
if [[ ! -x "$CHORUSD" ]]; then
    err "$CHORUSD not found after the build"
    exit 1
fi

# ---------------------------------------------------------------- database
if [[ -n "${CHORUS_MONGO_URI:-}" ]]; then
    MONGO_URI="$CHORUS_MONGO_URI"
    say "using the database at CHORUS_MONGO_URI=$MONGO_URI"
else
    DB_ARGS=()
    if [[ -n "${CHORUS_DB_PORT:-}" ]]; then DB_ARGS=(--port "$CHORUS_DB_PORT"); fi
    if ! bash "$ROOT/scripts/mongo-setup.sh" status ${DB_ARGS[@]+"${DB_ARGS[@]}"} >/dev/null 2>&1; then
        DB_STARTED=1
    fi
    if ! bash "$ROOT/scripts/mongo-setup.sh" start ${DB_ARGS[@]+"${DB_ARGS[@]}"}; then
        err "could not start the database; to use one that is already running, set"
        err "CHORUS_MONGO_URI=mongodb://HOST:PORT/?replicaSet=rs0, or pick another port with CHORUS_DB_PORT=..."
        exit 1
    fi
    MONGO_URI="$(bash "$ROOT/scripts/mongo-setup.sh" uri ${DB_ARGS[@]+"${DB_ARGS[@]}"})"
fi

# ---------------------------------------------------------------- servers
for i in "${!PORTS[@]}"; do
    stop_stale "${PORTS[$i]}"
    if port_open "${PORTS[$i]}"; then
        err "port ${PORTS[$i]} is in use by another program; free it or set CHORUS_PORTS"
        exit 1
    fi
done

for i in "${!PORTS[@]}"; do
    port="${PORTS[$i]}"; id="${IDS[$i]}"
    log="$LOG_DIR/chorusd-$id.log"
    echo "=== $(date '+%Y-%m-%d %H:%M:%S') chorusd --port $port --server-id $id ===" >>"$log"
    "$CHORUSD" --port "$port" --server-id "$id" --mongo-uri "$MONGO_URI" \
        --public-dir "$ROOT/public" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$RUN_DIR/chorusd-$port.pid"
    SERVER_PIDS+=("$pid")
    SERVER_LABELS+=("chorusd $id (port $port)")
    say "started chorusd $id on port $port (pid $pid, log var/log/chorusd-$id.log)"
done

show_log() {  # id
    say "last lines of var/log/chorusd-$1.log:" >&2
    tail -n 40 "$LOG_DIR/chorusd-$1.log" >&2 || true
}

for i in "${!PORTS[@]}"; do
    port="${PORTS[$i]}"; id="${IDS[$i]}"; pid="${SERVER_PIDS[$i]}"
    deadline=$((SECONDS + 30))
    while :; do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz" || true)"
        [[ "$code" == 200 ]] && break
        if ! proc_alive "$pid" chorusd; then
            rc=0; wait "$pid" 2>/dev/null || rc=$?
            err "chorusd $id (port $port) exited during startup (status $rc)"
            show_log "$id"
            exit 1
        fi
        if (( SECONDS >= deadline )); then
            err "chorusd $id: GET http://127.0.0.1:$port/healthz did not answer 200 within 30 s (last: ${code:-none})"
            show_log "$id"
            exit 1
        fi
        sleep 0.3
    done
done

urls=()
for p in "${PORTS[@]}"; do urls+=("http://localhost:$p/"); done
if [[ ${#urls[@]} -eq 2 ]]; then
    list="${urls[0]} and ${urls[1]}"
else
    list="${urls[*]}"
fi
echo
say "Chorus is running: $list"
say "database: $MONGO_URI"
say "logs: var/log/chorusd-*.log   (Ctrl-C to stop)"
echo

# ---------------------------------------------------------------- foreground
while :; do
    rc=0
    wait -n "${SERVER_PIDS[@]}" || rc=$?
    for i in "${!SERVER_PIDS[@]}"; do
        if ! proc_alive "${SERVER_PIDS[$i]}" chorusd; then
            err "chorusd ${IDS[$i]} (port ${PORTS[$i]}) exited unexpectedly (status $rc)"
            show_log "${IDS[$i]}"
            exit 1
        fi
    done
done
