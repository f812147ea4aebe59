# scripts/lib.sh - the shell functions scripts/*.sh, bench/*.sh and
# tests/scripts/*.sh share: messages, ports, processes and pid files,
# waiting for an HTTP answer, starting chorusd and nginx, building.
#
# Sourced, never run:   source "$(dirname "$0")/lib.sh"
# It defines CHORUS_ROOT (the repository) and functions only: it sets no
# shell option, changes no directory and starts nothing.  Messages carry
# LIB_TAG ("[chorus]" unless the sourcing script set it first).

CHORUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIB_TAG="${LIB_TAG:-[chorus]}"

# ------------------------------------------------------------------ messages

# say MESSAGE...: one line on stdout, tagged.
say() { echo "$LIB_TAG $*"; }

# err MESSAGE...: one error line on stderr, tagged.
err() { echo "$LIB_TAG ERROR: $*" >&2; }

# show_path PATH: PATH relative to the repository when inside it, for messages.
show_path() {
    case "$1" in
        "$CHORUS_ROOT"/*) echo "${1#"$CHORUS_ROOT"/}" ;;
        *) echo "$1" ;;
    esac
}

# lib_usage FILE: FILE's header comment (line 2 up to the first line that is
# not a comment) without its "# ": the --help of every script.
lib_usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1' "$1" | sed 's/^# \{0,1\}//'; }

# lib_exit_traps CLEANUP [LOGGER]: on exit runs CLEANUP with the exit status
# (what CLEANUP returns becomes the script's status); Ctrl-C exits 130 and
# SIGTERM 143 through it, saying so with LOGGER (say, or err).
lib_exit_traps() {
    _LIB_CLEANUP="$1"
    _LIB_SIGNAL_LOG="${2:-say}"
    trap _lib_on_exit EXIT
    trap 'echo; "$_LIB_SIGNAL_LOG" "interrupted"; exit 130' INT
    trap '"$_LIB_SIGNAL_LOG" "terminated"; exit 143' TERM
}

# _lib_on_exit: the EXIT trap of lib_exit_traps.
_lib_on_exit() {
    local rc=$?
    trap - INT TERM
    "$_LIB_CLEANUP" "$rc" || rc=$?
    exit "$rc"
}

# ------------------------------------------------------------------ ports

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

# port_free PORT: true when nothing listens on 127.0.0.1:PORT and (where
# python3 is installed) it can be bound now.
port_free() {
    local p="$1"
    port_open "$p" && return 1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$p" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
    fi
}

# Ports find_ports never hands out: those given out before in this shell,
# and scripts/run.sh's and scripts/mongo-setup.sh's defaults.
USED_PORTS=" 27017 27018 27019 8080 8081 "
FOUND_PORT=""

# find_ports START COUNT: sets FOUND_PORT to the first port from START up
# that begins COUNT consecutive free ports (port_free) and reserves them in
# USED_PORTS; fails when there are none.  Call it directly, not in $(...).
find_ports() {
    local p="$1" count="$2" k ok
    while (( p + count - 1 < 65000 )); do
        ok=1
        for ((k = 0; k < count; k++)); do
            if [[ "$USED_PORTS" == *" $((p + k)) "* ]] || ! port_free $((p + k)); then ok=0; break; fi
        done
        if [[ $ok -eq 1 ]]; then
            for ((k = 0; k < count; k++)); do USED_PORTS+="$((p + k)) "; done
            FOUND_PORT="$p"
            return 0
        fi
        p=$((p + count))
    done
    return 1
}

# free_port START [SPAN]: prints the first port of the 500 from START up that
# is closed together with the SPAN-1 (default 0) after it; fails when none is.
free_port() {
    local p="$1" span="${2:-1}" i ok
    for ((; p < $1 + 500; p++)); do
        ok=1
        for ((i = 0; i < span; i++)); do
            if port_open $((p + i)); then ok=0; break; fi
        done
        if [[ $ok -eq 1 ]]; then echo "$p"; return 0; fi
    done
    return 1
}

# free_http_port START: prints the first port of the 500 from START up that is
# closed, and so is its chorusd WebSocket port (+1000); fails when none is.
free_http_port() {
    local p="$1"
    for ((; p < $1 + 500; p++)); do
        port_open "$p" && continue
        port_open $((p + 1000)) && continue
        echo "$p"
        return 0
    done
    return 1
}

# ------------------------------------------------------------------ processes

# proc_alive PID [NAME]: true when PID is a live process (not a zombie) and,
# given NAME, its command line contains NAME.
proc_alive() {
    local pid="$1" name="${2:-}" state cmdline
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    [[ -n "$name" ]] || return 0
    cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" || true)"
    [[ "$cmdline" == *"$name"* ]]
}

# read_pid FILE: prints the number in pid file FILE (nothing when there is none).
read_pid() {
    [[ -f "$1" ]] || return 0
    tr -dc '0-9' 2>/dev/null <"$1" || true
}

# stop_pid PID LABEL [NAME] [SECONDS]: stops PID when it is alive (and its
# command line holds NAME): TERM, then KILL after SECONDS (default 10); reaps
# it when it is a child of this shell.
stop_pid() {
    local pid="$1" label="$2" name="${3:-}" wait_s="${4:-10}" i
    proc_alive "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 5; i++)); do
        proc_alive "$pid" "$name" || break
        sleep 0.2
    done
    if proc_alive "$pid" "$name"; then
        say "$label (pid $pid) did not stop after $wait_s s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 10; i++)); do
            proc_alive "$pid" "$name" || break
            sleep 0.1
        done
    fi
    wait "$pid" 2>/dev/null || true
}

# stop_pidfile FILE LABEL NAME [SECONDS]: stop_pid for the process of pid file
# FILE (a leftover of an earlier run), then removes FILE.
stop_pidfile() {
    [[ -e "$1" ]] || return 0
    stop_pid "$(read_pid "$1")" "$2" "$3" "${4:-10}"
    rm -f "$1"
}

# ------------------------------------------------------------------ HTTP

# wait_http_ok LABEL URL PID SECONDS LOG [LINES]: polls GET URL until it
# answers 200.  When process PID exits first or SECONDS pass, says so on
# stderr with the last LINES (default 30) lines of LOG and returns 1.
wait_http_ok() {
    local label="$1" url="$2" pid="$3" secs="$4" log="$5" lines="${6:-30}"
    local code rc deadline=$((SECONDS + $4))
    while :; do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)"
        [[ "$code" == 200 ]] && return 0
        if ! proc_alive "$pid"; then
            rc=0; wait "$pid" 2>/dev/null || rc=$?
            err "$label exited during startup (status $rc); last lines of $(show_path "$log"):"
            tail -n "$lines" "$log" >&2 || true
            return 1
        fi
        if (( SECONDS >= deadline )); then
            err "$label: GET $url did not answer 200 within $secs s (last: ${code:-none}); last lines of $(show_path "$log"):"
            tail -n "$lines" "$log" >&2 || true
            return 1
        fi
        sleep 0.3
    done
}

# ------------------------------------------------------------------ chorusd, nginx

STARTED_PID=""

# chorusd_start BIN LOG PIDFILE ARGS...: starts BIN ARGS in the background
# (stdin /dev/null; stdout and stderr appended to LOG after a line naming the
# command), writes its pid to PIDFILE ("" for none) and into STARTED_PID.
# Call it directly, not in $(...).
chorusd_start() {
    local bin="$1" log="$2" pidfile="$3"
    shift 3
    echo "=== $(date '+%Y-%m-%d %H:%M:%S') $(basename "$bin") $* ===" >>"$log"
    "$bin" "$@" </dev/null >>"$log" 2>&1 &
    STARTED_PID=$!
    if [[ -n "$pidfile" ]]; then echo "$STARTED_PID" >"$pidfile"; fi
}

# find_nginx: prints the nginx binary (not always on a user's PATH); fails
# when there is none.
find_nginx() {
    if command -v nginx >/dev/null 2>&1; then command -v nginx
    elif [[ -x /usr/sbin/nginx ]]; then echo /usr/sbin/nginx
    else return 1
    fi
}

# render_nginx_conf PREFIX LISTEN "HTTP SERVERS" "WS SERVERS": scripts/nginx.conf
# on stdout with @PREFIX@ and @LISTEN@ replaced, a line holding @HTTP_SERVER@
# or @WS_SERVER@ repeated once per server, comment lines unchanged.
render_nginx_conf() {
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
        }' "$CHORUS_ROOT/scripts/nginx.conf"
}

NGINX_PID=""

# nginx_start BIN DIR PORT "HTTP SERVERS" "WS SERVERS": nginx (never the system
# service) in the foreground of a background job, with its config rendered
# into DIR/nginx.conf, its pid file, logs and temp files in DIR, listening on
# 127.0.0.1:PORT; waits up to 15 s for GET /healthz through it.  Sets
# NGINX_PID (empty again when nginx exited); returns 1 (saying why) when
# nginx refused the config or did not come up.
nginx_start() {
    local bin="$1" dir="$2" port="$3"
    mkdir -p "$dir/logs" "$dir/tmp"
    render_nginx_conf "$dir" "127.0.0.1:$port" "$4" "$5" >"$dir/nginx.conf"
    local args=(-p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log")
    if ! "$bin" "${args[@]}" -t -q; then
        err "nginx rejected $(show_path "$dir")/nginx.conf (rendered from scripts/nginx.conf)"
        return 1
    fi
    "$bin" "${args[@]}" -g 'daemon off;' </dev/null >>"$dir/logs/error.log" 2>&1 &
    NGINX_PID=$!
    if ! wait_http_ok nginx "http://127.0.0.1:$port/healthz" "$NGINX_PID" 15 \
            "$dir/logs/error.log" 20; then
        proc_alive "$NGINX_PID" || NGINX_PID=""
        return 1
    fi
}

# ------------------------------------------------------------------ building

# build_tree DIR TYPE [CMAKE_OPTIONS...]: configures (quietly) and builds the
# whole tree into DIR with CMAKE_BUILD_TYPE=TYPE, two jobs at a time.
build_tree() {
    local dir="$1" type="$2"
    shift 2
    cmake -S "$CHORUS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null &&
        cmake --build "$dir" -j2
}
