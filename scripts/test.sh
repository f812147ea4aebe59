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
#   CHORUS_TEST_CHORUSD, CHORUS_TEST_PUBLIC, CHORUS_TEST_MONGO_SETUP; and
#   CHORUS_RATE_LIMITS=0 (every test writes from 127.0.0.1, many in bursts:
#   the servers, the shared ones and those tests start, limit no write; the
#   tests of the limits start servers of their own with --rate-limits 1)
#
# The two shared servers also take 1,000,000 failed logins per address
# (--login-limit-address): integration.test_openapi fails hundreds of logins
# from 127.0.0.1, after which the default 50 would refuse every login from
# it, its own sequence's too, for 5 minutes; the tests of the login limits
# start servers of their own with the limits they test.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
ROOT="$CHORUS_ROOT"
cd "$ROOT"

case "${1:-}" in
    -h|--help) lib_usage "$0"; exit 0 ;;
esac
CTEST_EXTRA=("$@")

BUILD_DIR="$ROOT/build-test"
CHORUSD="$BUILD_DIR/bin/chorusd"
MONGO_SETUP="$ROOT/scripts/mongo-setup.sh"
TEST_DB_NAME=chorus_test
START_TIMEOUT=60

# ---------------------------------------------------------------- cleanup
DB_PORT=""
DB_DIR=""
LOG_DIR=""
SERVER_IDS=(a b)
SERVER_PIDS=()
SERVER_PORTS=()
CTEST_RC=""
CTEST_LOG=""

# cleanup RC: stops the servers (also those the tests left running) and the
# database, fails the run on a sanitizer report or a server that died,
# keeps the database directory of a failed run, and returns the status.
cleanup() {
    local rc="$1" i pid status sanitizer=0 died=0

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
        stop_pid "${SERVER_PIDS[$i]}" "chorusd ${SERVER_IDS[$i]}"
    done

    # Servers the tests started and left running (a test that failed or
    # crashed before stopping them): they carry this run's log directory in
    # their environment.
    local pid
    for pid in $(pgrep -f -- "^$CHORUSD " || true); do
        if tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "CHORUS_TEST_LOG_DIR=$LOG_DIR"; then
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
lib_exit_traps cleanup err

# ---------------------------------------------------------------- build
bash "$ROOT/scripts/deps.sh"
say "building sanitized test build (build-test/, Debug, CHORUS_SANITIZE=ON)"
build_tree "$BUILD_DIR" Debug -DCHORUS_SANITIZE=ON
if [[ ! -x "$CHORUSD" ]]; then
    err "${CHORUSD#"$ROOT"/} not found after the build"
    exit 1
fi

# ---------------------------------------------------------------- e2e deps
# playwright-core and axe-core for the browser test (tests/e2e/node_modules
# is git-ignored): installed when one of package.json's dependencies is
# missing from it.
E2E_DIR="$ROOT/tests/e2e"
e2e_deps_missing() {
    local dep
    for dep in $(node -e 'console.log(Object.keys(require(process.argv[1]).dependencies || {}).join(" "))' "$E2E_DIR/package.json"); do
        [[ -d "$E2E_DIR/node_modules/$dep" ]] || return 0
    done
    return 1
}
if [[ -f "$E2E_DIR/package.json" ]] && e2e_deps_missing; then
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
export CHORUS_RATE_LIMITS=0
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}"

for i in 0 1; do
    id="${SERVER_IDS[$i]}"
    find_ports 18100 1 || { err "no free port for chorusd $id"; exit 1; }
    port="$FOUND_PORT"
    find_ports 19100 1 || { err "no free WebSocket port for chorusd $id"; exit 1; }
    ws_port="$FOUND_PORT"
    chorusd_start "$CHORUSD" "$LOG_DIR/chorusd-$id.log" "" --port "$port" --ws-port "$ws_port" \
        --server-id "$id" --mongo-uri "$MONGO_URI" --db "$TEST_DB_NAME" --public-dir "$ROOT/public" \
        --login-limit-address 1000000
    SERVER_PIDS+=("$STARTED_PID")
    SERVER_PORTS+=("$port")
    say "started chorusd $id on port $port (pid $STARTED_PID)"
done

for i in 0 1; do
    wait_http_ok "chorusd ${SERVER_IDS[$i]}" "http://127.0.0.1:${SERVER_PORTS[$i]}/healthz" \
        "${SERVER_PIDS[$i]}" "$START_TIMEOUT" "$LOG_DIR/chorusd-${SERVER_IDS[$i]}.log" 50 || exit 1
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
