#!/usr/bin/env bash
# integration.test_ferretdb_id_index: scripts/ferretdb-id-index.sh and its
# use by scripts/mongo-setup.sh, on a FerretDB of its own.
#
#   - a chorusd started against a fresh FerretDB creates its collections;
#     the watcher gives every one of their SQLite tables the `_id` lookup
#     index within seconds, and SQLite's plan for FerretDB's own `_id`
#     query uses it (without it: a full scan);
#   - the server works on those tables (register, log in, tweet, read back);
#   - a restart with CHORUS_FERRETDB_ID_INDEX=0 removes the indexes, a
#     restart without it adds them again before FerretDB accepts clients;
#   - `once` on a file that does not exist (a database FerretDB dropped)
#     does not create it.
#
# Environment (scripts/test.sh): CHORUS_TEST_CHORUSD, CHORUS_TEST_PUBLIC,
# CHORUS_TEST_MONGO_SETUP.  With mongod on the PATH it still tests FerretDB
# (CHORUS_FORCE_FERRETDB=1) if FerretDB is built, else it is skipped.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CHORUSD="${CHORUS_TEST_CHORUSD:-$ROOT/build-test/bin/chorusd}"
PUBLIC="${CHORUS_TEST_PUBLIC:-$ROOT/public}"
SETUP="${CHORUS_TEST_MONGO_SETUP:-$ROOT/scripts/mongo-setup.sh}"
INDEXER="$ROOT/scripts/ferretdb-id-index.sh"
SUFFIX="__chorus_id_lookup"
DBNAME=idx_test
export CHORUS_FORCE_FERRETDB=1

fails=0
# ok MESSAGE: a passed check.
ok() { echo "ok - $*"; }
# fail MESSAGE: a failed check (counted).
fail() { echo "not ok - $*"; fails=$((fails + 1)); }

if ! command -v sqlite3 >/dev/null 2>&1; then
    echo "not ok - sqlite3 is not installed (scripts/deps.sh installs it)"; exit 1
fi
if ! [[ -x "$ROOT/var/tools/ferretdb" ]]; then
    if command -v mongod >/dev/null 2>&1; then echo "skip: FerretDB not built (mongod in use)"; exit 0; fi
fi

source "$ROOT/scripts/lib.sh"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/chorus-idx.XXXXXX")"
DB_PORT="$(free_http_port 27700)"
HTTP_PORT="$(free_http_port 18900)"
SERVER_PID=""
# cleanup: stops the server and the database; keeps the work directory of a
# failed run.
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    bash "$SETUP" stop --dir "$WORK/db" >/dev/null 2>&1
    if [[ $fails -eq 0 ]]; then rm -rf "$WORK"; else echo "# kept $WORK"; fi
}
trap cleanup EXIT
FILE="$WORK/db/data/$DBNAME.sqlite"

# start_db: the test's own FerretDB on DB_PORT (exits when it does not start).
start_db() {
    bash "$SETUP" start --port "$DB_PORT" --dir "$WORK/db" >"$WORK/setup.out" 2>&1 ||
        { cat "$WORK/setup.out"; echo "not ok - the database did not start"; exit 1; }
}
# stop_db: stops it.
stop_db() { bash "$SETUP" stop --dir "$WORK/db" >/dev/null 2>&1; }

# tables: the collection tables of the test database, one a line.
tables() { sqlite3 -batch -noheader "file:$FILE?mode=ro" "SELECT table_name FROM _ferretdb_collections ORDER BY 1;"; }
# indexed: how many _id lookup indexes the test database has.
indexed() { sqlite3 -batch -noheader "file:$FILE?mode=ro" \
    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND substr(name, -length('$SUFFIX')) = '$SUFFIX';"; }
# plan_of TABLE: SQLite's plan for the query FerretDB sends for {_id:
# <ObjectId>}.
plan_of() {
    sqlite3 -batch -noheader "file:$FILE?mode=ro" \
        "EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM \"$1\" WHERE _ferretdb_sjson->'\$._id' = '{\"\$o\":\"000000000000000000000000\"}';"
}

# ------------------------------------------------ a server on a fresh database
start_db
"$CHORUSD" --port "$HTTP_PORT" --server-id idx --db "$DBNAME" \
    --mongo-uri "mongodb://127.0.0.1:$DB_PORT/?replicaSet=rs0" --public-dir "$PUBLIC" \
    --threads 4 --read-model 0 >"$WORK/chorusd.log" 2>&1 &
SERVER_PID=$!
URL="http://127.0.0.1:$HTTP_PORT"
for _ in $(seq 1 120); do
    curl -sf "$URL/readyz" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -sf "$URL/readyz" >/dev/null || { tail -20 "$WORK/chorusd.log"; echo "not ok - chorusd did not become ready"; exit 1; }

n_tables=0; n_indexed=0
for _ in $(seq 1 40); do
    n_tables="$(tables | wc -l)"; n_indexed="$(indexed)"
    [[ "$n_tables" -gt 0 && "$n_indexed" -ge "$n_tables" ]] && break
    sleep 0.25
done
if [[ "$n_tables" -ge 10 && "$n_indexed" -eq "$n_tables" ]]; then
    ok "the watcher indexed all $n_tables collection tables"
else
    fail "the watcher indexed $n_indexed of $n_tables tables"; cat "$WORK/db/id-index.log"
fi
users="$(sqlite3 -batch -noheader "file:$FILE?mode=ro" "SELECT table_name FROM _ferretdb_collections WHERE name = 'users';")"
if plan_of "$users" | grep -q "USING INDEX ${users}${SUFFIX}"; then
    ok "FerretDB's _id query on users uses the index"
else
    fail "FerretDB's _id query on users does not use the index: $(plan_of "$users")"
fi

# The server works on the indexed tables.
jar="$WORK/cookies"
hdr=(-H 'Content-Type: application/json' -H "Origin: $URL")
code="$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" -c "$jar" \
    -d '{"username":"idxuser","password":"idx-password-1"}' "$URL/api/register")"
[[ "$code" == 201 || "$code" == 200 ]] && ok "register: $code" || fail "register: $code"
code="$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" -c "$jar" -b "$jar" \
    -d '{"username":"idxuser","password":"idx-password-1"}' "$URL/api/login")"
[[ "$code" == 200 ]] && ok "login: $code" || fail "login: $code"
tweet="$(curl -s "${hdr[@]}" -b "$jar" -d '{"text":"indexed hello"}' "$URL/api/tweet")"
id="$(printf '%s' "$tweet" | sed -n 's/.*"id" *: *"\([0-9a-f]\{24\}\)".*/\1/p' | head -1)"
if [[ -n "$id" ]] && curl -s -b "$jar" "$URL/api/tweet/$id" | grep -q "indexed hello"; then
    ok "a tweet created and read back by id"
else
    fail "tweet create/read: $tweet"
fi
me="$(curl -s -b "$jar" "$URL/api/users/idxuser")"
printf '%s' "$me" | grep -q '"tweet_count" *: *1' && ok "the author's count went through the 2PC" ||
    fail "the profile after one tweet: $me"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""

# ------------------------------------------------ off, then on again
stop_db
CHORUS_FERRETDB_ID_INDEX=0 start_db
[[ "$(indexed)" -eq 0 ]] && ok "CHORUS_FERRETDB_ID_INDEX=0 removed the indexes" ||
    fail "CHORUS_FERRETDB_ID_INDEX=0 left $(indexed) indexes"
plan_of "$users" | grep -q "SCAN" && ok "without it the same query scans" ||
    fail "without the index the plan is: $(plan_of "$users")"
stop_db
start_db
n_tables="$(tables | wc -l)"
[[ "$(indexed)" -eq "$n_tables" ]] && ok "a restart indexed all $n_tables again before accepting clients" ||
    fail "after a restart: $(indexed) of $n_tables indexed"
stop_db

# ------------------------------------------------ a dropped database stays dropped
bash "$INDEXER" once "$WORK/db/data/gone.sqlite" >/dev/null 2>&1
[[ ! -e "$WORK/db/data/gone.sqlite" ]] && ok "a missing file is not created" ||
    fail "once created $WORK/db/data/gone.sqlite"

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
