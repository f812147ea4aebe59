#!/usr/bin/env bash
# integration.test_openapi: schemathesis (var/venv, installed by
# scripts/deps.sh) against the two servers of the suite
# (CHORUS_TEST_URL_A, CHORUS_TEST_URL_B), checking every answer against
# docs/openapi.yaml: no 5xx, status codes, content types, headers and
# bodies as the contract says, and the stateful sequences its links make
# (register -> log in -> post -> read -> edit -> like -> delete), each
# step of which must have succeeded on one server or the other
# (tests/contract/sequence.py); first, on each server, the answers its
# random cases rarely reach (quotes, reposts in a feed, notifications of
# every kind, images), checked against the contract
# (tests/contract/shapes.py).
#
#   tests/contract/run.sh [FIRST_SECONDS [STATEFUL_SECONDS]]   (25 40)
#
# On each server: the examples, coverage and fuzzing phases for
# FIRST_SECONDS, then the stateful phase for STATEFUL_SECONDS (a budget of
# its own: run together, the first phases leave it whatever time is left).
#
# CHORUS_CONTRACT_SEED: schemathesis's seed (default 1, so that a run of
# the suite is repeatable; "random" for a fresh one each run, printed in
# its summary, to explore further).
#
# The servers must run with CHORUS_RATE_LIMITS=0 and a login limit per
# address that hundreds of failed logins do not reach
# (--login-limit-address 1000000; scripts/test.sh's do).
# Reports (JUnit) and the traces of hooks.py go to
# $CHORUS_TEST_LOG_DIR/schemathesis-<a|b>/ when set.
set -euo pipefail

LIB_TAG="[contract]"
source "$(dirname "$0")/../../scripts/lib.sh"
ROOT="$CHORUS_ROOT"
FIRST_SECONDS="${1:-25}"
STATEFUL_SECONDS="${2:-40}"
SEED="${CHORUS_CONTRACT_SEED:-1}"
[[ "$SEED" != random ]] || SEED="$RANDOM"
ST="$ROOT/var/venv/bin/schemathesis"
[[ -x "$ST" ]] || { err "schemathesis not found at var/venv (run scripts/deps.sh)"; exit 1; }
: "${CHORUS_TEST_URL_A:?CHORUS_TEST_URL_A is not set (scripts/test.sh sets it)}"
: "${CHORUS_TEST_URL_B:?CHORUS_TEST_URL_B is not set (scripts/test.sh sets it)}"

export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$ROOT/tests/contract${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
PYTHON="$ROOT/var/venv/bin/python"
report_root="${CHORUS_TEST_LOG_DIR:-$(mktemp -d)}"
"$PYTHON" "$ROOT/tests/contract/sequence.py" --self-test || exit 1

# schemathesis run PHASES SECONDS URL REPORT_DIR
st_run() {
    "$ST" --config-file "$ROOT/tests/contract/schemathesis.toml" \
        run "$ROOT/docs/openapi.yaml" --url "$3" \
        --phases "$1" --max-time "$2" --workers 1 --seed "$SEED" \
        --checks all \
        --exclude-checks positive_data_acceptance,unsupported_method,ignored_auth \
        --request-timeout 10 \
        --report junit --report-dir "$4"
}

rc=0
traces=()
for server in a b; do
    url_var="CHORUS_TEST_URL_${server^^}"
    url="${!url_var}"
    reports="$report_root/schemathesis-$server"
    mkdir -p "$reports"
    export CHORUS_CONTRACT_TRACE="$reports/trace.jsonl"
    rm -f "$CHORUS_CONTRACT_TRACE"
    traces+=("$CHORUS_CONTRACT_TRACE")
    say "server $server ($url): answers schemathesis rarely reaches"
    "$PYTHON" "$ROOT/tests/contract/shapes.py" "$url" "$ROOT/docs/openapi.yaml" || rc=1
    say "server $server ($url): examples, coverage, fuzzing: $FIRST_SECONDS s"
    st_run examples,coverage,fuzzing "$FIRST_SECONDS" "$url" "$reports" || rc=$?
    say "server $server ($url): stateful: $STATEFUL_SECONDS s"
    st_run stateful "$STATEFUL_SECONDS" "$url" "$reports" || rc=$?
done
"$PYTHON" "$ROOT/tests/contract/sequence.py" "${traces[@]}" || rc=1
exit "$rc"
