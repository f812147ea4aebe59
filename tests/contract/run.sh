#!/usr/bin/env bash
# integration.test_openapi: schemathesis (var/venv, installed by
# scripts/deps.sh) against the two servers of the suite
# (CHORUS_TEST_URL_A, CHORUS_TEST_URL_B), checking every answer against
# docs/openapi.yaml: no 5xx, status codes, content types, headers and
# bodies as the contract says, and the stateful sequences its links make
# (register -> log in -> post -> read -> edit -> like -> delete).
#
#   tests/contract/run.sh [SECONDS_PER_SERVER]   (default 55)
#
# The servers must run with CHORUS_RATE_LIMITS=0 (scripts/test.sh's do).
# Reports (JUnit) go to $CHORUS_TEST_LOG_DIR/schemathesis-<a|b>/ when set.
set -euo pipefail

LIB_TAG="[contract]"
source "$(dirname "$0")/../../scripts/lib.sh"
ROOT="$CHORUS_ROOT"
SECONDS_EACH="${1:-55}"
ST="$ROOT/var/venv/bin/schemathesis"
[[ -x "$ST" ]] || { err "schemathesis not found at var/venv (run scripts/deps.sh)"; exit 1; }
: "${CHORUS_TEST_URL_A:?CHORUS_TEST_URL_A is not set (scripts/test.sh sets it)}"
: "${CHORUS_TEST_URL_B:?CHORUS_TEST_URL_B is not set (scripts/test.sh sets it)}"

export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$ROOT/tests/contract${PYTHONPATH:+:$PYTHONPATH}"
report_root="${CHORUS_TEST_LOG_DIR:-$(mktemp -d)}"
rc=0
for server in a b; do
    url_var="CHORUS_TEST_URL_${server^^}"
    url="${!url_var}"
    say "server $server ($url): $SECONDS_EACH s"
    "$ST" run "$ROOT/docs/openapi.yaml" --url "$url" \
        --max-time "$SECONDS_EACH" --workers 1 --seed "$RANDOM" \
        --checks all \
        --exclude-checks positive_data_acceptance,unsupported_method,ignored_auth \
        --request-timeout 10 \
        --report junit --report-dir "$report_root/schemathesis-$server" || rc=$?
done
exit "$rc"
