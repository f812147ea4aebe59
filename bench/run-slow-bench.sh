#!/usr/bin/env bash
# Chorus: what other clients get while one address holds thousands of slow
# or idle connections (the connection guard, docs/OPERATIONS.md "Slow and
# hostile clients"; figures in docs/PERFORMANCE.md).
#
#   bench/run-slow-bench.sh
#
# Installs what is missing (scripts/deps.sh; Debian's nginx), builds a
# Release build in build-bench/, raises the open-files limit (the attacker
# needs one per connection), starts its OWN empty database
# (scripts/mongo-setup.sh, first free port from 27600 up, data in
# var/bench-slow-db) and one chorusd (first free HTTP port from 18700 up
# whose WebSocket port, +1000, is free too; --db chorus_slowbench,
# --trusted-proxy 127.0.0.1 for the nginx phase), registers a user who
# posts BENCH_SLOW_TWEETS tweets (so the timeline has a page), then runs
# build-bench/bin/bench_slow twice: against chorusd directly, and through
# nginx (scripts/nginx.conf rendered as scripts/run.sh --lb does, in
# var/bench-slow-nginx).  Each run: BENCH_SLOW_BASELINE seconds of the
# other clients alone, then the attacker opens BENCH_SLOW_CONNECTIONS
# connections from 127.0.0.2 (slow heads, slow bodies and idle kept-alive
# ones in the proportions of BENCH_SLOW_MIX, reopened a second after the
# server closes one), BENCH_SLOW_RAMP seconds pass, and BENCH_SLOW_DURATION
# seconds are measured: the other clients' (127.0.0.1) requests/s and
# p50/p99/max latency to GET /healthz and to GET /api/tweet?limit=20, and
# what the attacker got.  After each run the server's
# chorus_http_connections_closed_total counters are printed.  Everything it
# started is stopped on exit, Ctrl-C included.
#
# Environment:
#   BENCH_SLOW_CONNECTIONS=2000   the attacker's connections
#   BENCH_SLOW_MIX=1:1:1          slow heads : slow bodies : idle
#   BENCH_SLOW_CLIENTS=4          other clients (threads, one kept-alive
#                                 connection each)
#   BENCH_SLOW_FRESH=0            1: the other clients open a new connection
#                                 for every request (new visitors)
#   BENCH_SLOW_RATE=100           their requests/s in all, half to each target
#   BENCH_SLOW_BASELINE=5         seconds measured before the attack
#   BENCH_SLOW_RAMP=5             seconds between the attack's start and the
#                                 measured window
#   BENCH_SLOW_DURATION=20        seconds measured under attack
#   BENCH_SLOW_TWEETS=20          tweets on the timeline
#   BENCH_SLOW_NGINX=1            0: skip the run through nginx
#   BENCH_SLOW_SERVER_ARGS=       more chorusd flags, e.g. "--threads 32"
#   BENCH_SLOW_CHORUSD=           another chorusd binary to measure (e.g. one
#                                 built from an older commit); it gets only
#                                 --trusted-proxy and BENCH_SLOW_SERVER_ARGS
#                                 besides the usual --port/--db flags
#
# Results stay in var/bench-run/: slow-last-summary.txt, slow-direct.out,
# slow-nginx.out, chorusd-slow.log.  A benchmark prints figures: the exit
# status is non-zero only when something could not be set up or run.
set -euo pipefail

LIB_TAG="[bench-slow]"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_args "$@"

CONNECTIONS="${BENCH_SLOW_CONNECTIONS:-2000}"
MIX="${BENCH_SLOW_MIX:-1:1:1}"
CLIENTS="${BENCH_SLOW_CLIENTS:-4}"
RATE="${BENCH_SLOW_RATE:-100}"
BASELINE="${BENCH_SLOW_BASELINE:-5}"
RAMP="${BENCH_SLOW_RAMP:-5}"
DURATION="${BENCH_SLOW_DURATION:-20}"
TWEETS="${BENCH_SLOW_TWEETS:-20}"
USE_NGINX="${BENCH_SLOW_NGINX:-1}"
FRESH="${BENCH_SLOW_FRESH:-0}"
read -r -a SERVER_ARGS <<<"${BENCH_SLOW_SERVER_ARGS:-}"
bench_positive BENCH_SLOW_ CLIENTS RATE DURATION
bench_whole BENCH_SLOW_ CONNECTIONS BASELINE RAMP TWEETS USE_NGINX FRESH
if ! [[ "$MIX" =~ ^[0-9]+:[0-9]+:[0-9]+$ ]]; then err "BENCH_SLOW_MIX must be HEAD:BODY:IDLE, not '$MIX'"; exit 2; fi

BENCH="$BUILD_DIR/bin/bench_slow"
DB_DIR="$ROOT/var/bench-slow-db"
DB_NAME=chorus_slowbench
SERVER_FILES=chorusd
NGINX_DIR="$ROOT/var/bench-slow-nginx"
SUMMARY="$RUN_DIR/slow-last-summary.txt"

bench_lock .slow-lock 60 # the last run's database may take a moment to let go
rm -f "$SUMMARY" "$RUN_DIR"/slow-*.out

# Every attacking connection is a file descriptor in bench_slow; chorusd
# and nginx refuse or close most of them, but inherit the limit too.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT="$(ulimit -n)"

bench_stop_all() {
    bench_nginx_stop "$NGINX_DIR"
    bench_servers_stop
    bench_db_stop
}
lib_exit_traps bench_cleanup
bench_build bench_slow
NGINX_BIN=""
if [[ "$USE_NGINX" == 1 ]]; then NGINX_BIN="$(bench_nginx_bin)"; fi
if [[ -n "${BENCH_SLOW_CHORUSD:-}" ]]; then
    [[ -x "$BENCH_SLOW_CHORUSD" ]] || { err "BENCH_SLOW_CHORUSD=$BENCH_SLOW_CHORUSD is not an executable"; exit 2; }
    CHORUSD="$BENCH_SLOW_CHORUSD"
fi
bench_stop_all

# ---------------------------------------------------------------- database, server
rm -rf "$DB_DIR"
DB_PORT="$(free_port 27600 3)" || { err "no free database port from 27600 up"; exit 1; }
bench_db_start "$DB_PORT" "$RUN_DIR/slow-mongo-setup.out"
say "database: $DB_KIND ($MONGO_URI)"
bench_server_start slow 18700 60 --log-requests 0 --trusted-proxy 127.0.0.1 \
    ${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"}
URL="${URLS[0]}"
SERVER_PID="${SERVER_PIDS[0]}"
say "chorusd on $URL (pid $SERVER_PID, $(show_path "$CHORUSD"), log var/bench-run/chorusd-slow.log)"

# A user and a page of tweets for the timeline.
COOKIES="$RUN_DIR/slow-cookies.txt"
rm -f "$COOKIES"
curl -s -f -o /dev/null -c "$COOKIES" -H 'Content-Type: application/json' \
    -d "{\"username\":\"slow$$\",\"password\":\"bench-password-1\"}" "$URL/api/register" ||
    { err "could not register the benchmark's user"; exit 1; }
for ((i = 1; i <= TWEETS; i++)); do
    curl -s -f -o /dev/null -b "$COOKIES" -H 'Content-Type: application/json' \
        -d "{\"text\":\"tweet $i of the slow-clients benchmark\"}" "$URL/api/tweet" ||
        { err "could not post tweet $i"; exit 1; }
done

# guard_counters: the server's refusals and cuts so far, one line.
guard_counters() {
    curl -s --max-time 10 "$URL/metrics" |
        sed -n 's/^chorus_http_connections_closed_total{reason="\([a-z_]*\)"} \(.*\)/\1=\2/p' | tr '\n' ' '
}

# run_bench MODE URL: one bench_slow run, its table in slow-MODE.out.
run_bench() {
    local mode="$1" url="$2" rc=0 fresh=()
    if [[ "$FRESH" == 1 ]]; then fresh=(--fresh); fi
    echo
    say "=== $mode: $url, $CONNECTIONS connections ($MIX) from 127.0.0.2, $CLIENTS clients at $RATE requests/s ==="
    local before
    before="$(guard_counters)"
    bench_run_job "$BENCH" --url "$url" --connections "$CONNECTIONS" --mix "$MIX" \
        --clients "$CLIENTS" --rate "$RATE" --baseline "$BASELINE" --ramp "$RAMP" \
        --duration "$DURATION" ${fresh[@]+"${fresh[@]}"} >"$RUN_DIR/slow-$mode.out" || rc=$?
    cat "$RUN_DIR/slow-$mode.out"
    if [[ $rc -ne 0 ]]; then err "bench_slow failed (status $rc)"; exit 1; fi
    say "chorusd's closed connections before: ${before:-none}"
    say "chorusd's closed connections after:  $(guard_counters)"
}

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
run_bench direct "$URL"
if [[ "$USE_NGINX" == 1 ]]; then
    bench_nginx_start "$NGINX_BIN" "$NGINX_DIR" 18790 "127.0.0.1:${URL##*:}" \
        "127.0.0.1:$((${URL##*:} + 1000))"
    say "nginx on $BENCH_NGINX_URL (pid $NGINX_PID) in front of $URL"
    run_bench nginx "$BENCH_NGINX_URL"
fi

# ---------------------------------------------------------------- summary
{
    echo
    echo "Chorus slow and idle clients -- $(date '+%Y-%m-%d %H:%M:%S')"
    echo "machine:  $(nproc) CPUs ($(bench_cpu_model)), load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "database: $(bench_db_line), local"
    echo "server:   1 chorusd (Release${SERVER_ARGS[*]:+, ${SERVER_ARGS[*]}}), $(show_path "$CHORUSD"), open-files limit $FD_LIMIT"
    echo "attacker: $CONNECTIONS connections from 127.0.0.2, mix $MIX (slow heads : slow bodies : idle), each reopened 1 s after the server closes it"
    echo "clients:  $CLIENTS from 127.0.0.1 ($(if [[ "$FRESH" == 1 ]]; then echo "a new connection per request"; else echo kept-alive; fi)), $RATE requests/s in all, half GET /healthz, half GET /api/tweet?limit=20; ${BASELINE} s alone, then ${DURATION} s measured after ${RAMP} s of attack"
    for mode in direct nginx; do
        [[ -f "$RUN_DIR/slow-$mode.out" ]] || continue
        echo
        echo "$mode:"
        sed 's/^/  /' "$RUN_DIR/slow-$mode.out"
    done
} | tee "$SUMMARY"
say "summary saved in var/bench-run/slow-last-summary.txt"
