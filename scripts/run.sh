#!/usr/bin/env bash
# Chorus: build and run two chorusd servers against a local database.
#
#   scripts/run.sh [--keep-db] [--no-build] [--lb]
#
#   --keep-db    leave the database running when the servers stop
#   --no-build   skip deps.sh and the CMake build (use the existing build/)
#   --lb         also start nginx on CHORUS_LB_PORT in front of the servers
#                (scripts/nginx.conf, docs/OPERATIONS.md): one address for the
#                page, the API and the WebSocket, with failover
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

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

say() { echo "[chorus] $*"; }
err() { echo "[chorus] ERROR: $*" >&2; }

KEEP_DB=0
BUILD=1
LB=0
for arg in "$@"; do
    case "$arg" in
        --keep-db) KEEP_DB=1 ;;
        --no-build) BUILD=0 ;;
        --lb) LB=1 ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

stop_pid() {  # pid label [name, default chorusd]: TERM, wait up to 10 s, KILL
    local pid="$1" label="$2" name="${3:-chorusd}" i
    proc_alive "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" "$name" || break
        sleep 0.2
    done
    if proc_alive "$pid" "$name"; then
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

# ---------------------------------------------------------------- nginx (--lb)
NGINX_DIR="$ROOT/var/nginx"
NGINX_PID=""

find_nginx() {  # prints the nginx binary (not always on a user's PATH)
    if command -v nginx >/dev/null 2>&1; then command -v nginx
    elif [[ -x /usr/sbin/nginx ]]; then echo /usr/sbin/nginx
    else return 1
    fi
}

# scripts/nginx.conf -> stdout: @PREFIX@ and @LISTEN@ replaced, a line with
# @HTTP_SERVER@ / @WS_SERVER@ repeated per server, comment lines unchanged.
render_nginx_conf() {  # prefix listen "http servers" "ws servers"
    awk -v prefix="$1" -v listen="$2" -v https="$3" -v wss="$4" '
        function rep(s, key, val,   i, out) {
            out = ""
            while ((i = index(s, key)) > 0) {
                out = out substr(s, 1, i - 1) val
                s = substr(s, i + length(key))
            }
            return out s
        }
        BEGIN { nh = split(https, H, " "); nw = split(wss, W, " ") }
        /^[ \t]*#/ { print; next }
        {
            line = rep(rep($0, "@PREFIX@", prefix), "@LISTEN@", listen)
            if (index(line, "@HTTP_SERVER@")) {
                for (k = 1; k <= nh; k++) print rep(line, "@HTTP_SERVER@", H[k])
                next
            }
            if (index(line, "@WS_SERVER@")) {
                for (k = 1; k <= nw; k++) print rep(line, "@WS_SERVER@", W[k])
                next
            }
            print line
        }' "$ROOT/scripts/nginx.conf"
}

# An nginx of ours left over from an earlier run (its pid file in var/nginx)?
stop_stale_nginx() {
    local pid
    [[ -f "$NGINX_DIR/nginx.pid" ]] || return 0
    pid="$(tr -dc '0-9' <"$NGINX_DIR/nginx.pid" || true)"
    if proc_alive "$pid" "-p $NGINX_DIR"; then
        say "stopping nginx from a previous run (pid $pid)"
        stop_pid "$pid" "nginx" "-p $NGINX_DIR"
    fi
    rm -f "$NGINX_DIR/nginx.pid"
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

for i in "${!PORTS[@]}"; do
    port="${PORTS[$i]}"; id="${IDS[$i]}"
    log="$LOG_DIR/chorusd-$id.log"
    echo "=== $(date '+%Y-%m-%d %H:%M:%S') chorusd --port $port --server-id $id ===" >>"$log"
    # Behind the local nginx, the client's address is its X-Real-IP
    # (login rate limit per address); nobody else is trusted with it.
    PROXY_ARGS=()
    if [[ $LB -eq 1 ]]; then PROXY_ARGS=(--trusted-proxy 127.0.0.1); fi
    "$CHORUSD" --port "$port" --server-id "$id" --mongo-uri "$MONGO_URI" \
        --public-dir "$ROOT/public" ${PROXY_ARGS[@]+"${PROXY_ARGS[@]}"} </dev/null >>"$log" 2>&1 &
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

# ---------------------------------------------------------------- nginx
if [[ $LB -eq 1 ]]; then
    mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
    http_servers=""; ws_servers=""
    for p in "${PORTS[@]}"; do
        http_servers+="127.0.0.1:$p "
        ws_servers+="127.0.0.1:$((p + 1000 <= 65535 ? p + 1000 : p - 1000)) "
    done
    render_nginx_conf "$NGINX_DIR" "127.0.0.1:$LB_PORT" "$http_servers" "$ws_servers" \
        >"$NGINX_DIR/nginx.conf"
    NGINX_ARGS=(-p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log")
    if ! "$NGINX" "${NGINX_ARGS[@]}" -t -q; then
        err "nginx rejected var/nginx/nginx.conf (rendered from scripts/nginx.conf)"
        exit 1
    fi
    "$NGINX" "${NGINX_ARGS[@]}" -g 'daemon off;' </dev/null >>"$NGINX_DIR/logs/error.log" 2>&1 &
    NGINX_PID=$!
    say "started nginx on port $LB_PORT (pid $NGINX_PID, logs var/nginx/logs/)"
    deadline=$((SECONDS + 15))
    while :; do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$LB_PORT/healthz" || true)"
        [[ "$code" == 200 ]] && break
        if ! proc_alive "$NGINX_PID" nginx; then
            rc=0; wait "$NGINX_PID" 2>/dev/null || rc=$?
            NGINX_PID=""
            err "nginx exited during startup (status $rc); last lines of var/nginx/logs/error.log:"
            tail -n 20 "$NGINX_DIR/logs/error.log" >&2 || true
            exit 1
        fi
        if (( SECONDS >= deadline )); then
            err "GET http://127.0.0.1:$LB_PORT/healthz through nginx did not answer 200 within 15 s (last: ${code:-none})"
            tail -n 20 "$NGINX_DIR/logs/error.log" >&2 || true
            exit 1
        fi
        sleep 0.3
    done
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
