# bench/lib.sh - what bench/run-sync-bench.sh, bench/run-ws-bench.sh and
# bench/run-throughput.sh share: their settings checks, one run at a time,
# the Release build in build-bench/, a database and chorusd servers of
# their own (started afresh, stopped on exit, Ctrl-C included), background
# jobs, and the machine and database lines of their summaries.
#
# Sourced after the script has set LIB_TAG:   source "$(dirname "$0")/lib.sh"
# Before calling the database and server functions it sets DB_DIR (the
# database's directory), DB_NAME (chorusd --db) and SERVER_FILES (the prefix
# of its servers' log and pid files in var/bench-run/).  Everything here
# builds on scripts/lib.sh.

source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ROOT="$CHORUS_ROOT"
BUILD_DIR="$ROOT/build-bench"
CHORUSD="$BUILD_DIR/bin/chorusd"
RUN_DIR="$ROOT/var/bench-run"

# ------------------------------------------------------------------ settings

# bench_args ARGS...: --help prints the script's header comment; settings
# come from the environment, so any other argument is refused (exit 2).
bench_args() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            -h|--help) lib_usage "$0"; exit 0 ;;
            *) err "unknown argument: $arg (settings come from the environment; see --help)"; exit 2 ;;
        esac
    done
}

# bench_positive PREFIX NAME...: exits 2 unless the variable NAME (set from
# the environment variable PREFIX+NAME) holds a positive whole number.
bench_positive() {
    local prefix="$1" v
    shift
    for v in "$@"; do
        if ! [[ "${!v}" =~ ^[1-9][0-9]*$ ]]; then err "$prefix$v must be a positive whole number, not '${!v}'"; exit 2; fi
    done
}

# bench_whole PREFIX NAME...: as bench_positive, for whole numbers (0 too).
bench_whole() {
    local prefix="$1" v
    shift
    for v in "$@"; do
        if ! [[ "${!v}" =~ ^[0-9]+$ ]]; then err "$prefix$v must be a whole number, not '${!v}'"; exit 2; fi
    done
}

# bench_lock FILE [WAIT_S]: takes the lock var/bench-run/FILE for the rest of
# the script, waiting up to WAIT_S seconds (default: not at all) for another
# run that holds it; exits 1 when it cannot.
bench_lock() {
    mkdir -p "$RUN_DIR"
    exec {BENCH_LOCK_FD}>"$RUN_DIR/$1"
    local how=(-n)
    if [[ "${2:-0}" != 0 ]]; then how=(-w "$2"); fi
    if ! flock "${how[@]}" "$BENCH_LOCK_FD"; then
        err "another $(show_path "$0") is running (lock $RUN_DIR/$1)"
        exit 1
    fi
}

# bench_build PROGRAM...: installs what is missing (scripts/deps.sh), checks
# for python3 (it formats the results), builds build-bench/ (Release, no
# tests) and checks that chorusd and every PROGRAM are in build-bench/bin.
bench_build() {
    bash "$ROOT/scripts/deps.sh"
    command -v python3 >/dev/null || { err "python3 is needed to format the results"; exit 1; }
    say "building (build-bench/, Release)"
    build_tree "$BUILD_DIR" Release -DCHORUS_TESTS=OFF
    local b
    for b in chorusd "$@"; do
        [[ -x "$BUILD_DIR/bin/$b" ]] || { err "$BUILD_DIR/bin/$b not found after the build"; exit 1; }
    done
}

# ------------------------------------------------------------------ the database

DB_DIR=""
DB_UP=0
MONGO_URI=""
DB_KIND=""
DB_DESC=""

# bench_db_start PORT OUT: starts the database of DB_DIR on PORT
# (scripts/mongo-setup.sh, its output in OUT) and sets MONGO_URI, DB_KIND
# (ferretdb or mongod) and DB_DESC; exits 1 when it does not start.
bench_db_start() {
    DB_UP=1
    if ! bash "$ROOT/scripts/mongo-setup.sh" start --port "$1" --dir "$DB_DIR" >"$2" 2>&1; then
        cat "$2" >&2
        err "could not start the database"
        exit 1
    fi
    MONGO_URI="$(bash "$ROOT/scripts/mongo-setup.sh" uri --dir "$DB_DIR")"
    DB_KIND="$(tr -dc 'a-z' <"$DB_DIR/kind")"
    DB_DESC="$(sed -n 's/^\[chorus\] database\( already running\)\{0,1\}: //p' "$2" | sed -n 1p)"
}

# bench_db_stop: stops the database of DB_DIR when this run, or an earlier
# one that was killed, started it.
bench_db_stop() {
    if [[ $DB_UP -eq 1 || -f "$DB_DIR/port" ]]; then
        bash "$ROOT/scripts/mongo-setup.sh" stop --dir "$DB_DIR" >/dev/null || true
    fi
    DB_UP=0
}

# bench_db_pids: the database's process ids (FerretDB, or the mongod
# members), one a line.
bench_db_pids() {
    local f
    for f in "$DB_DIR/ferretdb.pid" "$DB_DIR"/m*/mongod.pid; do
        [[ -f "$f" ]] && tr -dc '0-9\n' <"$f" | sed -n 1p
    done
    return 0
}

# bench_db_line: the database's kind and version, for a summary.
bench_db_line() {
    if [[ "$DB_KIND" == ferretdb ]]; then
        echo "FerretDB $("$ROOT/var/tools/ferretdb" --version 2>/dev/null | sed -n 's/^version: //p' | sed -n 1p) (SQLite backend)"
    else
        echo "mongod $(mongod --version 2>/dev/null | sed -n 's/^db version //p' | sed -n 1p) (3-member replica set)"
    fi
}

# bench_cpu_model: the machine's CPU model (may be empty), for a summary.
bench_cpu_model() { sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p; }

# ------------------------------------------------------------------ servers

DB_NAME=""
SERVER_URI="" # chorusd --mongo-uri when it is not MONGO_URI
SERVER_FILES=""
SERVER_STOP_S=10
SERVER_PIDS=()
URLS=()
SERVER_PORT=""

# The benchmarks create thousands of tweets (and users, likes, follows) from
# one address: their servers limit no write (chorusd --rate-limits 0) unless
# BENCH_RATE_LIMITS=1, which measures what the limits cost (the CHORUS_LIMIT_*
# variables then set the limits; docs/PERFORMANCE.md, "Rate limits").
BENCH_RATE_LIMITS="${BENCH_RATE_LIMITS:-0}"

# bench_server_start ID START_PORT READY_S [CHORUSD_OPTIONS...]: starts
# chorusd --server-id ID --db DB_NAME --rate-limits BENCH_RATE_LIMITS on the
# database, on the first HTTP port from START_PORT up whose WebSocket port
# (+1000) is free too (in SERVER_PORT), log var/bench-run/SERVER_FILES-ID.log, pid file
# SERVER_FILES-PORT.DB_NAME.pid; waits up to READY_S seconds for /readyz (the
# database answers through it) and adds it to SERVER_PIDS and URLS.  Exits 1
# when it does not come up.
bench_server_start() {
    local id="$1" ready_s="$3" port log
    port="$(free_http_port "$2")" || { err "no free HTTP port (with port + 1000 free) from $2 up"; exit 1; }
    shift 3
    log="$RUN_DIR/$SERVER_FILES-$id.log"
    chorusd_start "$CHORUSD" "$log" "$RUN_DIR/$SERVER_FILES-$port.$DB_NAME.pid" --port "$port" \
        --server-id "$id" --db "$DB_NAME" --mongo-uri "${SERVER_URI:-$MONGO_URI}" --public-dir "$ROOT/public" \
        --rate-limits "$BENCH_RATE_LIMITS" "$@"
    SERVER_PIDS+=("$STARTED_PID")
    URLS+=("http://127.0.0.1:$port")
    SERVER_PORT="$port"
    wait_http_ok "chorusd $id (port $port)" "http://127.0.0.1:$port/readyz" "$STARTED_PID" \
        "$ready_s" "$log" || exit 1
    disown "$STARTED_PID" # stopped by pid (bench_servers_stop): no job notices
}

# bench_client_args: sets CLIENT_ARGS to what a benchmark client is told
# of this run: --url of each server, and --cpu NAME:PID of each server
# ("chorusd") and of the database's processes (DB_KIND).
bench_client_args() {
    local u pid
    CLIENT_ARGS=()
    for u in "${URLS[@]}"; do CLIENT_ARGS+=(--url "$u"); done
    for pid in "${SERVER_PIDS[@]}"; do CLIENT_ARGS+=(--cpu "chorusd:$pid"); done
    while read -r pid; do
        [[ -n "$pid" ]] && CLIENT_ARGS+=(--cpu "$DB_KIND:$pid")
    done < <(bench_db_pids)
    return 0
}

# bench_servers_stop: stops this run's servers (TERM to all, then each within
# SERVER_STOP_S seconds) and those a killed earlier run left (their pid files).
bench_servers_stop() {
    local pid f
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
        proc_alive "$pid" "--db $DB_NAME" && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
        stop_pid "$pid" chorusd "--db $DB_NAME" "$SERVER_STOP_S"
    done
    SERVER_PIDS=()
    URLS=()
    for f in "$RUN_DIR/$SERVER_FILES"-*."$DB_NAME".pid; do
        stop_pidfile "$f" chorusd "--db $DB_NAME" "$SERVER_STOP_S"
    done
}

# ------------------------------------------------------------------ jobs, exit

BG_PIDS=()

# bench_run_job COMMAND...: runs COMMAND in the background (so that a signal
# reaches the script's traps at once) and returns its status.
bench_run_job() {
    local rc=0
    "$@" &
    BG_PIDS+=($!)
    wait "$!" || rc=$?
    BG_PIDS=("${BG_PIDS[@]:0:${#BG_PIDS[@]}-1}")
    return "$rc"
}

# bench_cleanup RC: ends the background jobs, then calls bench_stop_all (the
# script's: its servers, nginx, database).
bench_cleanup() {
    local pid
    for pid in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    bench_stop_all
    return 0
}

# bench_stop_all: stops the servers and the database (scripts with more to
# stop define their own after sourcing this file).
bench_stop_all() {
    bench_servers_stop
    bench_db_stop
}

# ------------------------------------------------------------------ nginx

BENCH_NGINX_URL=""

# bench_nginx_bin: installs Debian's nginx when it is missing (apt-get) and
# prints its path; exits 1 when there is none.
bench_nginx_bin() {
    local SUDO=""
    if [[ "$(id -u)" -ne 0 ]]; then SUDO="sudo -n"; fi
    if ! find_nginx >/dev/null; then
        say "installing nginx (apt-get)" >&2
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2 ||
            { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
              $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2; } ||
            { err "could not install nginx"; exit 1; }
    fi
    find_nginx || { err "nginx not found after installing it"; exit 1; }
}

# bench_nginx_start BIN DIR START_PORT "HTTP SERVERS" "WS SERVERS": nginx
# (scripts/nginx.conf, rendered as scripts/run.sh --lb does, in DIR) in
# front of the servers, on the first free port from START_PORT up; sets
# NGINX_PID and BENCH_NGINX_URL.  Exits 1 when it does not come up.
bench_nginx_start() {
    local port
    port="$(free_port "$3")" || { err "no free nginx port from $3 up"; exit 1; }
    nginx_start "$1" "$2" "$port" "$4" "$5" || exit 1
    disown "$NGINX_PID" # stopped by pid (bench_nginx_stop): no job notice
    BENCH_NGINX_URL="http://127.0.0.1:$port"
}

# bench_nginx_stop DIR: stops this run's nginx, and one a killed earlier run
# left in DIR.
bench_nginx_stop() {
    if [[ -n "${NGINX_PID:-}" ]]; then stop_pid "$NGINX_PID" nginx "-p $1" 5; fi
    NGINX_PID=""
    stop_pidfile "$1/nginx.pid" nginx "-p $1" 5
}
