#!/usr/bin/env bash
# Chorus: build the sanitized test build and run the whole test suite.
#
#   scripts/test.sh [extra ctest arguments, e.g. -R api]
#
# Starts its own database (scripts/mongo-setup.sh on a free port, data in
# var/test-db-<port>) and two chorusd servers from build-test/, runs
# `ctest --test-dir build-test --output-on-failure -j1`, then stops everything.
# On success var/test-db-<port> is removed; on failure it is kept (server logs
# are in var/test-db-<port>/logs/).
#
# Environment given to the tests:
#   CHORUS_TEST_URL_A, CHORUS_TEST_URL_B, CHORUS_TEST_MONGO_URI, CHORUS_TEST_DB,
#   CHORUS_TEST_CHORUSD, CHORUS_TEST_PUBLIC, CHORUS_TEST_MONGO_SETUP
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

say() { echo "[chorus] $*"; }
err() { echo "[chorus] ERROR: $*" >&2; }

case "${1:-}" in
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
CTEST_EXTRA=("$@")

BUILD_DIR="$ROOT/build-test"
CHORUSD="$BUILD_DIR/bin/chorusd"
MONGO_SETUP="$ROOT/scripts/mongo-setup.sh"
TEST_DB_NAME=chorus_test
START_TIMEOUT=60

port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

# 0 if 127.0.0.1:port can be bound now and nothing is listening there.
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

USED_PORTS=" 27017 27018 27019 8080 8081 "
# Sets FOUND_PORT to the first port >= start beginning `count` consecutive free
# ports, and reserves them (no subshell: call it directly, not in $(...)).
FOUND_PORT=""
find_ports() {  # start count
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

proc_alive() {  # pid -> live, non-zombie process
    local pid="$1" state
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# ---------------------------------------------------------------- cleanup
DB_PORT=""
DB_DIR=""
LOG_DIR=""
SERVER_IDS=(a b)
SERVER_PIDS=()
SERVER_PORTS=()
CTEST_RC=""
CTEST_LOG=""
CLEANED=0

cleanup() {
    local rc="$1" i pid status sanitizer=0 died=0
    [[ $CLEANED -eq 1 ]] && return "$rc"
    CLEANED=1
    trap - INT TERM

    # Servers: note any that died on their own, then TERM -> 10 s -> KILL.
    for i in "${!SERVER_PIDS[@]}"; do
        pid="${SERVER_PIDS[$i]}"
        if ! proc_alive "$pid"; then
            status=0; wait "$pid" 2>/dev/null || status=$?
            if [[ -n "$CTEST_RC" ]]; then
                err "chorusd ${SERVER_IDS[$i]} (port ${SERVER_PORTS[$i]}) had exited before the end of the tests (status $status)"
                died=1
            fi
        else
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for i in "${!SERVER_PIDS[@]}"; do
        pid="${SERVER_PIDS[$i]}"
        local k
        for ((k = 0; k < 50; k++)); do proc_alive "$pid" || break; sleep 0.2; done
        if proc_alive "$pid"; then
            say "chorusd ${SERVER_IDS[$i]} did not stop after 10 s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done

    # Servers the tests started and left running (a test that failed or
    # crashed before stopping them): they carry this run's log directory in
    # their environment.
    local pid
    for pid in $(pgrep -f -- "^$CHORUSD " || true); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "CHORUS_TEST_LOG_DIR=$LOG_DIR"; then
            say "killing chorusd (pid $pid) left running by a test"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done

    if [[ -n "$DB_DIR" ]]; then
        bash "$MONGO_SETUP" stop --port "$DB_PORT" --dir "$DB_DIR" || true
        # Databases that tests started themselves (the shard outage test's
        # second server), even when the test failed before stopping them.
        pkill -f -- "--state-dir=$LOG_DIR/" 2>/dev/null || true
    fi

    # Sanitizer reports in the server logs fail the run.
    # (Every chorusd log: also those of servers the crash tests start.)
    local log
    for log in "$LOG_DIR"/chorusd-*.log; do
        [[ -f "$log" ]] || continue
        if grep -q -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$log"; then
            err "sanitizer report in ${log#"$ROOT"/}:"
            grep -n -A 30 -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$log" | head -n 80 >&2 || true
            sanitizer=1
        fi
    done

    if [[ $rc -eq 0 && ( $sanitizer -eq 1 || $died -eq 1 ) ]]; then rc=1; fi

    if [[ -n "$CTEST_RC" && "$CTEST_RC" != 0 ]]; then
        for i in "${!SERVER_PIDS[@]}"; do
            local log="$LOG_DIR/chorusd-${SERVER_IDS[$i]}.log"
            [[ -f "$log" ]] || continue
            echo "[chorus] ---- last 50 lines of ${log#"$ROOT"/} ----"
            tail -n 50 "$log" || true
        done
    fi

    local CTEST_SUMMARY="" line
    if [[ -n "$CTEST_LOG" && -f "$CTEST_LOG" ]]; then
        line="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$CTEST_LOG" | tail -n 1 || true)"
        if [[ "$line" =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
            CTEST_SUMMARY="$((BASH_REMATCH[2] - BASH_REMATCH[1])) passed, ${BASH_REMATCH[1]} failed"
        fi
    fi

    if [[ -n "$DB_DIR" && -d "$DB_DIR" ]]; then
        if [[ $rc -eq 0 ]]; then
            rm -rf "$DB_DIR"
        else
            say "kept ${DB_DIR#"$ROOT"/} (server logs in ${LOG_DIR#"$ROOT"/}/, database log in ${DB_DIR#"$ROOT"/}/)"
        fi
    fi
    if [[ $rc -eq 0 ]]; then
        say "tests passed"
    else
        say "tests FAILED (exit status $rc)"
    fi
    # Repeat ctest's totals as the very last line ("N passed, N failed").
    if [[ -n "$CTEST_SUMMARY" ]]; then
        echo "ctest: $CTEST_SUMMARY"
    fi
    return "$rc"
}
on_exit() {
    local rc=$?
    cleanup "$rc" || rc=$?
    exit "$rc"
}
trap on_exit EXIT
trap 'echo; err "interrupted"; exit 130' INT
trap 'err "terminated"; exit 143' TERM

# ---------------------------------------------------------------- build
bash "$ROOT/scripts/deps.sh"
say "building sanitized test build (build-test/, Debug, CHORUS_SANITIZE=ON)"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DCHORUS_SANITIZE=ON >/dev/null
cmake --build "$BUILD_DIR" -j2
if [[ ! -x "$CHORUSD" ]]; then
    err "${CHORUSD#"$ROOT"/} not found after the build"
    exit 1
fi

# ---------------------------------------------------------------- e2e deps
# playwright-core for the browser test (tests/e2e/node_modules is git-ignored).
E2E_DIR="$ROOT/tests/e2e"
if [[ -f "$E2E_DIR/package.json" && ! -d "$E2E_DIR/node_modules" ]]; then
    say "installing tests/e2e node modules"
    if [[ -f "$E2E_DIR/package-lock.json" ]]; then
        (cd "$E2E_DIR" && npm ci --no-audit --no-fund)
    else
        (cd "$E2E_DIR" && npm install --no-audit --no-fund)
    fi
fi

# ---------------------------------------------------------------- database
find_ports 27100 3 || { err "no free port for the test database"; exit 1; }
DB_PORT="$FOUND_PORT"
DB_DIR="$ROOT/var/test-db-$DB_PORT"
LOG_DIR="$DB_DIR/logs"
rm -rf "$DB_DIR"
mkdir -p "$LOG_DIR"
bash "$MONGO_SETUP" start --port "$DB_PORT" --dir "$DB_DIR"
MONGO_URI="$(bash "$MONGO_SETUP" uri --port "$DB_PORT" --dir "$DB_DIR")"

# ---------------------------------------------------------------- servers
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}"

for i in 0 1; do
    id="${SERVER_IDS[$i]}"
    find_ports 18100 1 || { err "no free port for chorusd $id"; exit 1; }
    port="$FOUND_PORT"
    find_ports 19100 1 || { err "no free WebSocket port for chorusd $id"; exit 1; }
    ws_port="$FOUND_PORT"
    log="$LOG_DIR/chorusd-$id.log"
    "$CHORUSD" --port "$port" --ws-port "$ws_port" --server-id "$id" --mongo-uri "$MONGO_URI" \
        --db "$TEST_DB_NAME" --public-dir "$ROOT/public" </dev/null >"$log" 2>&1 &
    SERVER_PIDS+=("$!")
    SERVER_PORTS+=("$port")
    say "started chorusd $id on port $port (pid $!)"
done

for i in 0 1; do
    id="${SERVER_IDS[$i]}"; port="${SERVER_PORTS[$i]}"; pid="${SERVER_PIDS[$i]}"
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz" || true)"
        [[ "$code" == 200 ]] && break
        if ! proc_alive "$pid"; then
            err "chorusd $id exited during startup; last lines of its log:"
            tail -n 50 "$LOG_DIR/chorusd-$id.log" >&2 || true
            exit 1
        fi
        if (( SECONDS >= deadline )); then
            err "chorusd $id: GET http://127.0.0.1:$port/healthz did not answer 200 within ${START_TIMEOUT} s (last: ${code:-none}); last lines of its log:"
            tail -n 50 "$LOG_DIR/chorusd-$id.log" >&2 || true
            exit 1
        fi
        sleep 0.3
    done
done
say "servers ready: http://127.0.0.1:${SERVER_PORTS[0]} (a), http://127.0.0.1:${SERVER_PORTS[1]} (b)"

# ---------------------------------------------------------------- tests
export CHORUS_TEST_URL_A="http://127.0.0.1:${SERVER_PORTS[0]}"
export CHORUS_TEST_URL_B="http://127.0.0.1:${SERVER_PORTS[1]}"
export CHORUS_TEST_MONGO_URI="$MONGO_URI"
export CHORUS_TEST_DB="$TEST_DB_NAME"
export CHORUS_TEST_CHORUSD="$CHORUSD"
export CHORUS_TEST_PUBLIC="$ROOT/public"
export CHORUS_TEST_MONGO_SETUP="$MONGO_SETUP"
export CHORUS_TEST_LOG_DIR="$LOG_DIR"

say "running ctest"
CTEST_LOG="$LOG_DIR/ctest.log"
CTEST_RC=0
set +e
ctest --test-dir "$BUILD_DIR" --output-on-failure -j1 ${CTEST_EXTRA[@]+"${CTEST_EXTRA[@]}"} 2>&1 \
    | tee "$CTEST_LOG"
CTEST_RC="${PIPESTATUS[0]}"
set -e
exit "$CTEST_RC"
