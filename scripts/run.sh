#!/usr/bin/env bash
# Chorus: build and run two chorusd servers against a local database.
#
#   scripts/run.sh [--keep-db] [--no-build] [--lb]
#
#   --keep-db    leave the database running when the servers stop
#   --no-build   skip deps.sh and the CMake build (use the existing build/)
#   --lb         also start nginx on CHORUS_LB_PORT in front of the servers
#                (scripts/nginx.conf, docs/OPERATIONS.md): one address for the
#                page, the API and the WebSocket, with failover; the servers
#                get --public-origin with nginx's origin and their own
#
# Environment:
#   CHORUS_PORTS="8080 8081"  HTTP ports; servers get ids a, b, c, ... in order
#                             (WebSocket ports: each HTTP port + 1000)
#   CHORUS_LB_PORT=8000       nginx's port with --lb (on 127.0.0.1)
#   CHORUS_MONGO_URI=...      use this database instead of starting one with
#                             scripts/mongo-setup.sh (never stopped by this script)
#   CHORUS_DB_PORT=27017      port of the database started by scripts/mongo-setup.sh
#                             (data in var/db; ignored with CHORUS_MONGO_URI)
#
# Stays in the foreground; Ctrl-C or SIGTERM stops the servers (and the
# database, if this script started it and --keep-db was not given).
# Logs: var/log/chorusd-<id>.log; pid files: var/run/chorusd-<port>.pid.
# With --lb: nginx's rendered config, pid file, logs and temp files are in
# var/nginx/ (never the system service; run as root, its workers run as nobody);
# an nginx left from an earlier run is stopped through its pid file.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
ROOT="$CHORUS_ROOT"
cd "$ROOT"

KEEP_DB=0
BUILD=1
LB=0
for arg in "$@"; do
    case "$arg" in
        --keep-db) KEEP_DB=1 ;;
        --no-build) BUILD=0 ;;
        --lb) LB=1 ;;
        -h|--help) lib_usage "$0"; exit 0 ;;
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
LB_PORT="${CHORUS_LB_PORT:-8000}"
if [[ $LB -eq 1 ]]; then
    if ! [[ "$LB_PORT" =~ ^[0-9]+$ ]] || (( LB_PORT < 1 || LB_PORT > 65535 )); then err "invalid CHORUS_LB_PORT: $LB_PORT"; exit 2; fi
    for p in "${PORTS[@]}"; do
        if (( p == LB_PORT || p + 1000 == LB_PORT )); then err "CHORUS_LB_PORT $LB_PORT is also a chorusd port"; exit 2; fi
    done
fi

CHORUSD="$ROOT/build/bin/chorusd"
RUN_DIR="$ROOT/var/run"
LOG_DIR="$ROOT/var/log"
NGINX_DIR="$ROOT/var/nginx"
mkdir -p "$RUN_DIR" "$LOG_DIR"

# stop_stale PORT: stops a chorusd left over from an earlier run of this
# script on PORT (its pid file, or its command line).
stop_stale() {
    local port="$1" f pid cmdline
    for f in "$RUN_DIR"/chorusd-*.pid; do
        [[ -e "$f" ]] || continue
        pid="$(read_pid "$f")"
        if ! proc_alive "$pid" chorusd; then
            rm -f "$f"; continue
        fi
        cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" || true)"
        if [[ "$f" == "$RUN_DIR/chorusd-$port.pid" || "$cmdline" == *"--port $port "* ]]; then
            say "stopping chorusd from a previous run on port $port (pid $pid)"
            stop_pid "$pid" "chorusd" chorusd
            rm -f "$f"
        fi
    done
}

# stop_stale_nginx: stops an nginx of ours left over from an earlier run
# (its pid file in var/nginx).
stop_stale_nginx() {
    local pid
    [[ -f "$NGINX_DIR/nginx.pid" ]] || return 0
    pid="$(read_pid "$NGINX_DIR/nginx.pid")"
    if proc_alive "$pid" "-p $NGINX_DIR"; then
        say "stopping nginx from a previous run (pid $pid)"
    fi
    stop_pidfile "$NGINX_DIR/nginx.pid" nginx "-p $NGINX_DIR"
}

# show_log ID: the last lines of chorusd ID's log, on stderr.
show_log() {
    say "last lines of var/log/chorusd-$1.log:" >&2
    tail -n 40 "$LOG_DIR/chorusd-$1.log" >&2 || true
}

DB_STARTED=0
DB_ARGS=()
SERVER_PIDS=()
SERVER_LABELS=()

# cleanup RC: stops nginx, the servers and (unless --keep-db, and only when
# this script started it) the database.
cleanup() {
    local i
    if [[ -n "$NGINX_PID" ]]; then
        say "stopping nginx"
        stop_pid "$NGINX_PID" "nginx" "-p $NGINX_DIR"
        rm -f "$NGINX_DIR/nginx.pid"
    fi
    if [[ ${#SERVER_PIDS[@]} -gt 0 ]]; then
        say "stopping servers"
        for i in "${!SERVER_PIDS[@]}"; do
            proc_alive "${SERVER_PIDS[$i]}" chorusd && kill -TERM "${SERVER_PIDS[$i]}" 2>/dev/null || true
        done
        for i in "${!SERVER_PIDS[@]}"; do
            stop_pid "${SERVER_PIDS[$i]}" "${SERVER_LABELS[$i]}" chorusd
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
    return 0
}
lib_exit_traps cleanup

# ---------------------------------------------------------------- build
if [[ $BUILD -eq 1 ]]; then
    bash "$ROOT/scripts/deps.sh"
    say "building (build/, Release)"
    build_tree "$ROOT/build" Release -DCHORUS_TESTS=OFF
fi
if [[ ! -x "$CHORUSD" ]]; then
    err "$CHORUSD not found after the build"
    exit 1
fi
NGINX=""
if [[ $LB -eq 1 ]]; then
    if ! NGINX="$(find_nginx)"; then
        bash "$ROOT/scripts/deps.sh" --apt-only
        NGINX="$(find_nginx)" || { err "nginx not found after installing it"; exit 1; }
    fi
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
if [[ $LB -eq 1 ]]; then
    stop_stale_nginx
    if port_open "$LB_PORT"; then
        err "port $LB_PORT is in use by another program; free it or set CHORUS_LB_PORT"
        exit 1
    fi
fi

# Behind the local nginx, the client's address is its X-Real-IP (login rate
# limit per address); nobody else is trusted with it.  The page's origin is
# then nginx's address as well as the server's own (both printed below):
# writes and WebSockets from either are accepted.
PROXY_ARGS=()
if [[ $LB -eq 1 ]]; then PROXY_ARGS=(--trusted-proxy 127.0.0.1); fi
for i in "${!PORTS[@]}"; do
    port="${PORTS[$i]}"; id="${IDS[$i]}"
    ORIGIN_ARGS=()
    if [[ $LB -eq 1 ]]; then
        ORIGIN_ARGS=(--public-origin "http://localhost:$LB_PORT,http://127.0.0.1:$LB_PORT,http://localhost:$port,http://127.0.0.1:$port")
    fi
    chorusd_start "$CHORUSD" "$LOG_DIR/chorusd-$id.log" "$RUN_DIR/chorusd-$port.pid" \
        --port "$port" --server-id "$id" --mongo-uri "$MONGO_URI" \
        --public-dir "$ROOT/public" ${PROXY_ARGS[@]+"${PROXY_ARGS[@]}"} \
        ${ORIGIN_ARGS[@]+"${ORIGIN_ARGS[@]}"}
    SERVER_PIDS+=("$STARTED_PID")
    SERVER_LABELS+=("chorusd $id (port $port)")
    say "started chorusd $id on port $port (pid $STARTED_PID, log var/log/chorusd-$id.log)"
done

for i in "${!PORTS[@]}"; do
    wait_http_ok "${SERVER_LABELS[$i]}" "http://127.0.0.1:${PORTS[$i]}/healthz" \
        "${SERVER_PIDS[$i]}" 30 "$LOG_DIR/chorusd-${IDS[$i]}.log" 40 || exit 1
done

# ---------------------------------------------------------------- nginx
if [[ $LB -eq 1 ]]; then
    http_servers=""; ws_servers=""
    for p in "${PORTS[@]}"; do
        http_servers+="127.0.0.1:$p "
        ws_servers+="127.0.0.1:$((p + 1000 <= 65535 ? p + 1000 : p - 1000)) "
    done
    nginx_start "$NGINX" "$NGINX_DIR" "$LB_PORT" "$http_servers" "$ws_servers" || exit 1
    say "started nginx on port $LB_PORT (pid $NGINX_PID, logs var/nginx/logs/)"
fi

urls=()
for p in "${PORTS[@]}"; do urls+=("http://localhost:$p/"); done
if [[ ${#urls[@]} -eq 2 ]]; then
    list="${urls[0]} and ${urls[1]}"
else
    list="${urls[*]}"
fi
echo
say "Chorus is running: $list"
if [[ $LB -eq 1 ]]; then
    say "load balancer (nginx): http://localhost:$LB_PORT/   (page, API and WebSocket; failover between the servers)"
fi
say "database: $MONGO_URI"
say "logs: var/log/chorusd-*.log   (Ctrl-C to stop)"
echo

# ---------------------------------------------------------------- foreground
while :; do
    rc=0
    wait -n "${SERVER_PIDS[@]}" ${NGINX_PID:+"$NGINX_PID"} || rc=$?
    if [[ -n "$NGINX_PID" ]] && ! proc_alive "$NGINX_PID" nginx; then
        err "nginx exited unexpectedly (status $rc); last lines of var/nginx/logs/error.log:"
        tail -n 20 "$NGINX_DIR/logs/error.log" >&2 || true
        NGINX_PID=""
        exit 1
    fi
    for i in "${!SERVER_PIDS[@]}"; do
        if ! proc_alive "${SERVER_PIDS[$i]}" chorusd; then
            err "chorusd ${IDS[$i]} (port ${PORTS[$i]}) exited unexpectedly (status $rc)"
            show_log "${IDS[$i]}"
            exit 1
        fi
    done
done
