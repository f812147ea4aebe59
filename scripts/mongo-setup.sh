#!/usr/bin/env bash
# Chorus: local MongoDB-compatible database for development and tests.
#
#   scripts/mongo-setup.sh start|stop|status|uri [--port P] [--dir D]
#
#   start   start the instance (no-op if it is already running), print the URI
#   stop    stop it (TERM, then KILL after 10 s); no-op if not running
#   status  print running/stopped and the URI; exit 0 if running, 3 if stopped
#   uri     print only the connection URI
#
# Defaults: --port 27017, --dir var/db (relative --dir values are taken from the
# caller's current directory). The port an instance was started on is kept in
# D/port, so `stop`/`status`/`uri` with --dir D but no --port find it again.
#
# With `mongod` on PATH: a 3-member replica set rs0 on ports P, P+1, P+2
# (data in D/m0, D/m1, D/m2). Otherwise: FerretDB v1.24.2 (SQLite backend,
# data in D/data), built by scripts/deps.sh into var/tools/ferretdb.
# CHORUS_FORCE_FERRETDB=1 uses FerretDB even when mongod is on PATH.
# With FerretDB, scripts/ferretdb-id-index.sh gives every collection's SQLite
# table the `_id` index FerretDB's own lookups can use (FerretDB v1's does
# not match its queries: docs/DATABASE.md); it runs before FerretDB starts
# and watches for new collections while it runs (pid in D/id-index.pid, log
# D/id-index.log). CHORUS_FERRETDB_ID_INDEX=0 leaves the tables as FerretDB
# makes them (and removes these indexes if an earlier start added them).
# CHORUS_FERRETDB_SYNC=full (default) or normal: SQLite's `synchronous`.
# full syncs the write-ahead log to disk at every commit, so an acknowledged
# write survives a power cut; normal syncs it only at checkpoints: a crash
# of FerretDB or of chorusd loses nothing, a power cut or kernel crash may
# lose the newest commits (always a suffix: the log is one file per
# database; docs/DATABASE.md "Durability").
# CHORUS_FERRETDB_GOGC=400: the Go garbage collector's target for FerretDB
# (GOGC; Go's default is 100). FerretDB allocates heavily per command; 400
# made 13 % more tweet creations a second here for ~2x its small heap
# (docs/PERFORMANCE.md). A GOGC already in the environment wins.
# CHORUS_FERRETDB_DEBUG_ADDR=127.0.0.1:8089: FerretDB's debug handler
# (pprof under /debug/pprof/, metrics under /debug/metrics); off by default.
# CHORUS_FERRETDB_LOG_LEVEL=warn (default), info or debug (every command).
set -euo pipefail

CALLER_PWD="$PWD"
source "$(dirname "$0")/lib.sh"
ROOT="$CHORUS_ROOT"
cd "$ROOT"

# usage: this script's header comment.
usage() { lib_usage "$0"; }

FERRETDB_VERSION=v1.24.2
FERRETDB_BIN="$ROOT/var/tools/ferretdb"
STOP_TIMEOUT=10

# ------------------------------------------------------------------ arguments
CMD="${1:-}"
[[ $# -gt 0 ]] && shift
PORT=""
DIR=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) [[ $# -ge 2 ]] || { err "--port needs a value"; exit 2; }; PORT="$2"; shift 2 ;;
        --port=*) PORT="${1#--port=}"; shift ;;
        --dir) [[ $# -ge 2 ]] || { err "--dir needs a value"; exit 2; }; DIR="$2"; shift 2 ;;
        --dir=*) DIR="${1#--dir=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) err "unknown argument: $1"; usage >&2; exit 2 ;;
    esac
done
case "$CMD" in
    start|stop|status|uri) ;;
    -h|--help|help) usage; exit 0 ;;
    "") usage >&2; exit 2 ;;
    *) err "unknown command: $CMD"; usage >&2; exit 2 ;;
esac

DIR_GIVEN=1
if [[ -z "$DIR" ]]; then
    DIR_GIVEN=0
    DIR="$ROOT/var/db"
elif [[ "$DIR" != /* ]]; then
    DIR="$CALLER_PWD/$DIR"
fi
DIR="$(realpath -m "$DIR")"

if [[ -z "$PORT" ]]; then
    if [[ $DIR_GIVEN -eq 1 && -f "$DIR/port" ]]; then PORT="$(tr -dc '0-9' <"$DIR/port")"; fi
    PORT="${PORT:-27017}"
fi
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || (( PORT < 1 || PORT > 65533 )); then
    err "invalid port: $PORT"; exit 2
fi

# Which backend: the one this dir was started with, else mongod if installed.
KIND=""
if [[ -f "$DIR/kind" ]]; then KIND="$(tr -dc 'a-z' <"$DIR/kind")"; fi
if [[ "$KIND" != mongod && "$KIND" != ferretdb ]]; then
    if command -v mongod >/dev/null 2>&1 && [[ "${CHORUS_FORCE_FERRETDB:-0}" != 1 ]]; then
        KIND=mongod
    else
        KIND=ferretdb
    fi
fi

P0=$PORT; P1=$((PORT + 1)); P2=$((PORT + 2))
if [[ "$KIND" == mongod ]]; then
    URI="mongodb://127.0.0.1:$P0,127.0.0.1:$P1,127.0.0.1:$P2/?replicaSet=rs0"
else
    URI="mongodb://127.0.0.1:$P0/?replicaSet=rs0"
fi
DIRECT_URI="mongodb://127.0.0.1:$P0/?directConnection=true"
CTL=""

# ------------------------------------------------------------------ helpers

# stop_pids PIDFILE:NAME...: stops the given "pidfile:name" entries: TERM, wait, KILL; remove pid files.
stop_pids() {
    local entry f name pid alive=() n=0
    for entry in "$@"; do
        f="${entry%%:*}"; name="${entry#*:}"
        pid="$(read_pid "$f")"
        if proc_alive "$pid" "$name"; then
            kill -TERM "$pid" 2>/dev/null || true
            alive+=("$pid:$name")
            n=$((n + 1))
        fi
    done
    if [[ $n -gt 0 ]]; then
        local deadline=$((SECONDS + STOP_TIMEOUT)) still
        while :; do
            still=()
            for entry in "${alive[@]}"; do
                proc_alive "${entry%%:*}" "${entry#*:}" && still+=("$entry")
            done
            [[ ${#still[@]} -eq 0 ]] && break
            if (( SECONDS >= deadline )); then
                for entry in "${still[@]}"; do
                    say "process ${entry%%:*} (${entry#*:}) did not stop after ${STOP_TIMEOUT}s; sending KILL" >&2
                    kill -KILL "${entry%%:*}" 2>/dev/null || true
                done
                sleep 0.5
                break
            fi
            sleep 0.2
        done
    fi
    for entry in "$@"; do rm -f "${entry%%:*}"; done
    echo "$n"
}

# ------------------------------------------------------------------ FerretDB
FDB_PIDFILE="$DIR/ferretdb.pid"
FDB_LOG="$DIR/ferretdb.log"
IDX_PIDFILE="$DIR/id-index.pid"
IDX_LOG="$DIR/id-index.log"
IDX_SCRIPT="$ROOT/scripts/ferretdb-id-index.sh"

# id_index_enabled: true unless CHORUS_FERRETDB_ID_INDEX=0.
id_index_enabled() { [[ "${CHORUS_FERRETDB_ID_INDEX:-1}" != 0 ]]; }
# Without the sqlite3 tool (scripts/deps.sh installs it) FerretDB still
# works, every lookup by _id scanning its collection: say so, go on.
id_index_usable() {
    command -v sqlite3 >/dev/null 2>&1 && return 0
    say "WARNING: sqlite3 not installed: FerretDB's _id lookups stay unindexed (run scripts/deps.sh)" >&2
    return 1
}

# The watcher of new collections (scripts/ferretdb-id-index.sh watch) for
# FerretDB process $1; started unless one runs already. It exits by itself
# when that FerretDB does.
id_index_watch() {
    id_index_enabled && id_index_usable || return 0
    proc_alive "$(read_pid "$IDX_PIDFILE")" ferretdb-id-index && return 0
    setsid nohup bash "$IDX_SCRIPT" watch "$DIR/data" "$1" </dev/null >>"$IDX_LOG" 2>&1 &
    echo "$!" >"$IDX_PIDFILE"
}

# ferretdb_version: the version var/tools/ferretdb reports (nothing when it
# does not run).
ferretdb_version() {
    local out
    out="$("$FERRETDB_BIN" --version 2>/dev/null)" || return 0
    printf '%s\n' "$out" | sed -n 's/^version: //p' | sed -n 1p
}

# ferretdb_describe: one line naming the FerretDB instance, for messages.
ferretdb_describe() {
    local v
    v="$(ferretdb_version || true)"
    local sync=full
    [[ -f "$DIR/sync" ]] && sync="$(tr -dc 'a-z' <"$DIR/sync")"
    echo "FerretDB ${v:-$FERRETDB_VERSION} (SQLite, synchronous=$sync, data in $(show_path "$DIR")/data) on 127.0.0.1:$P0"
}

# ferretdb_running: true when our FerretDB runs and accepts connections.
ferretdb_running() {
    proc_alive "$(read_pid "$FDB_PIDFILE")" ferretdb && port_open "$P0"
}

# ferretdb_start: starts FerretDB (no-op when it runs), its _id indexes first.
ferretdb_start() {
    local pid
    pid="$(read_pid "$FDB_PIDFILE")"
    if proc_alive "$pid" ferretdb; then
        if ! port_open "$P0"; then
            say "FerretDB (pid $pid) is running but port $P0 is not open yet; waiting"
            local i
            for ((i = 0; i < 60; i++)); do port_open "$P0" && break; sleep 0.5; done
        fi
        if port_open "$P0"; then
            id_index_watch "$pid"
            say "database already running: $(ferretdb_describe) (pid $pid)"
            say "URI: $URI"
            return 0
        fi
        say "FerretDB (pid $pid) does not accept connections on port $P0; restarting it"
        stop_pids "$FDB_PIDFILE:ferretdb" >/dev/null
    fi
    rm -f "$FDB_PIDFILE"
    if port_open "$P0"; then
        err "port $P0 is already in use by another process (not started from $(show_path "$DIR")); stop it or use --port"
        return 1
    fi

    if ! [[ -x "$FERRETDB_BIN" ]] || [[ "$(ferretdb_version || true)" != "$FERRETDB_VERSION" ]]; then
        say "FerretDB $FERRETDB_VERSION not built yet; running scripts/deps.sh --ferretdb-only"
        bash "$ROOT/scripts/deps.sh" --ferretdb-only
    fi

    mkdir -p "$DIR/data"
    echo ferretdb >"$DIR/kind"
    echo "$P0" >"$DIR/port"
    stop_pids "$IDX_PIDFILE:ferretdb-id-index" >/dev/null
    local files=("$DIR"/data/*.sqlite)
    if [[ -f "${files[0]}" ]] && id_index_usable; then
        if id_index_enabled; then
            bash "$IDX_SCRIPT" once "${files[@]}"
        else
            bash "$IDX_SCRIPT" drop "${files[@]}"
        fi
    fi
    local sync="${CHORUS_FERRETDB_SYNC:-full}" url="file:$DIR/data/"
    case "$sync" in
        full) ;;
        normal) url+="?_pragma=synchronous(normal)" ;;
        *) err "CHORUS_FERRETDB_SYNC must be full or normal, not '$sync'"; return 2 ;;
    esac
    echo "$sync" >"$DIR/sync"
    local gogc="${GOGC:-${CHORUS_FERRETDB_GOGC:-400}}"
    local debug_addr="${CHORUS_FERRETDB_DEBUG_ADDR:--}" log_level="${CHORUS_FERRETDB_LOG_LEVEL:-warn}"
    case "$log_level" in
        debug|info|warn|error) ;;
        *) err "CHORUS_FERRETDB_LOG_LEVEL must be debug, info, warn or error, not '$log_level'"; return 2 ;;
    esac
    if ! [[ "$gogc" =~ ^([1-9][0-9]*|off)$ ]]; then
        err "CHORUS_FERRETDB_GOGC (or GOGC) must be a positive whole number or off, not '$gogc'"; return 2
    fi
    echo "=== $(date '+%Y-%m-%d %H:%M:%S') starting FerretDB on 127.0.0.1:$P0 (synchronous=$sync, GOGC=$gogc) ===" >>"$FDB_LOG"
    GOGC="$gogc" setsid nohup "$FERRETDB_BIN" \
        --handler=sqlite \
        "--sqlite-url=$url" \
        "--state-dir=$DIR" \
        --repl-set-name=rs0 \
        "--listen-addr=127.0.0.1:$P0" \
        "--debug-addr=$debug_addr" \
        --telemetry=disable \
        "--log-level=$log_level" \
        </dev/null >>"$FDB_LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$FDB_PIDFILE"

    local deadline=$((SECONDS + 30))
    until port_open "$P0"; do
        # (No name given to proc_alive: until the background child has
        # exec'd setsid, its command line is this script's, and on a loaded
        # machine a FerretDB that was starting fine would be taken for one
        # that "exited during startup".)
        if ! proc_alive "$pid"; then
            err "FerretDB exited during startup; last lines of $(show_path "$FDB_LOG"):"
            tail -n 30 "$FDB_LOG" >&2 || true
            rm -f "$FDB_PIDFILE"
            return 1
        fi
        if (( SECONDS >= deadline )); then
            err "FerretDB did not accept connections on 127.0.0.1:$P0 within 30 s; last lines of $(show_path "$FDB_LOG"):"
            tail -n 30 "$FDB_LOG" >&2 || true
            stop_pids "$FDB_PIDFILE:ferretdb" >/dev/null
            return 1
        fi
        sleep 0.2
    done
    id_index_watch "$pid"
    say "database: $(ferretdb_describe)"
    say "URI: $URI"
}

# say_stopped N NAME WHERE: what stopping the database did, N processes
# stopped (stop_pids): "stopped (WHERE, dir)", or "not running (NAME, dir)"
# when there were none.
say_stopped() {
    if [[ "$1" -gt 0 ]]; then
        say "database stopped ($3, $(show_path "$DIR"))"
    else
        say "database not running ($2, $(show_path "$DIR"))"
    fi
}

# ferretdb_stop: stops FerretDB and its index watcher.
ferretdb_stop() {
    local n
    n="$(stop_pids "$FDB_PIDFILE:ferretdb")"
    stop_pids "$IDX_PIDFILE:ferretdb-id-index" >/dev/null
    say_stopped "$n" FerretDB "FerretDB on 127.0.0.1:$P0"
}

# ferretdb_status: says whether FerretDB runs; returns 0 if so, 3 if not.
ferretdb_status() {
    if ferretdb_running; then
        say "database running: $(ferretdb_describe) (pid $(read_pid "$FDB_PIDFILE"))"
        say "URI: $URI"
        return 0
    fi
    local pid
    pid="$(read_pid "$FDB_PIDFILE")"
    if proc_alive "$pid" ferretdb; then
        say "database stopped: FerretDB pid $pid is alive but port $P0 does not accept connections ($(show_path "$DIR"))"
    else
        say "database stopped (FerretDB, port $P0, $(show_path "$DIR"))"
    fi
    say "URI: $URI"
    return 3
}

# ------------------------------------------------------------------ mongod
member_dir() { echo "$DIR/m$1"; }
# member_pidfile N: the pid file of replica set member N.
member_pidfile() { echo "$DIR/m$1/mongod.pid"; }
# member_port N: the port of replica set member N.
member_port() { echo $((P0 + $1)); }

# mongod_version: the major.minor version of mongod on PATH.
mongod_version() {
    local out
    out="$(mongod --version 2>/dev/null)" || true
    printf '%s\n' "$out" | sed -n 's/^db version v\{0,1\}\([0-9]*\.[0-9]*\).*/\1/p' | sed -n 1p
}

# mongod_describe: one line naming the replica set, for messages.
mongod_describe() {
    echo "MongoDB replica set rs0 (mongod $(mongod_version)) on 127.0.0.1:$P0,$P1,$P2"
}

# member_running N: true when member N runs and accepts connections.
member_running() {
    proc_alive "$(read_pid "$(member_pidfile "$1")")" mongod && port_open "$(member_port "$1")"
}

# mongod_running: true when all three members run.
mongod_running() {
    member_running 0 && member_running 1 && member_running 2
}

# chorusctl_bin: prints a built chorusctl (CHORUS_CHORUSCTL, build/, build-
# test/), building it when there is none.
chorusctl_bin() {
    if [[ -n "${CHORUS_CHORUSCTL:-}" && -x "${CHORUS_CHORUSCTL}" ]]; then echo "$CHORUS_CHORUSCTL"; return 0; fi
    local c
    for c in "$ROOT/build/bin/chorusctl" "$ROOT/build-test/bin/chorusctl"; do
        [[ -x "$c" ]] && { echo "$c"; return 0; }
    done
    say "build/bin/chorusctl not found; building it" >&2
    (cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$ROOT/build" --target chorusctl -j2 >/dev/null) >&2 ||
        { err "could not build chorusctl"; return 1; }
    [[ -x "$ROOT/build/bin/chorusctl" ]] || { err "build/bin/chorusctl missing after build"; return 1; }
    echo "$ROOT/build/bin/chorusctl"
}

# have_primary: true when the replica set has a primary.
have_primary() {
    local out
    if command -v mongosh >/dev/null 2>&1; then
        out="$(mongosh --quiet "$DIRECT_URI" --eval \
            'try { rs.status().members.some(m => m.stateStr === "PRIMARY") ? "PRIMARY" : "NONE" } catch (e) { "NONE" }' \
            2>/dev/null)" || true
    else
        out="$("$CTL" rs-status --uri "$DIRECT_URI" 2>/dev/null)" || true
    fi
    [[ "$out" == *PRIMARY* ]]
}

# rs_initiate: initiates replica set rs0 over the three members.
rs_initiate() {
    local members="127.0.0.1:$P0,127.0.0.1:$P1,127.0.0.1:$P2"
    if command -v mongosh >/dev/null 2>&1; then
        mongosh --quiet "$DIRECT_URI" --eval "
            try { rs.status(); print('already initiated'); }
            catch (e) {
              const r = rs.initiate({_id: 'rs0', members: [
                {_id: 0, host: '127.0.0.1:$P0'},
                {_id: 1, host: '127.0.0.1:$P1'},
                {_id: 2, host: '127.0.0.1:$P2'}]});
              printjson(r);
              if (!r.ok) quit(1);
            }"
    else
        "$CTL" rs-init --uri "$DIRECT_URI" --members "$members"
    fi
}

# mongod_start: starts the three members (no-op for those running), initiates
# rs0 and waits for a primary.
mongod_start() {
    if ! command -v mongod >/dev/null 2>&1; then
        err "$(show_path "$DIR") was set up for mongod, but mongod is not on PATH (remove the directory to use FerretDB)"
        return 1
    fi
    if mongod_running && [[ -f "$DIR/rs-initiated" ]]; then
        say "database already running: $(mongod_describe)"
        say "URI: $URI"
        return 0
    fi
    mkdir -p "$DIR"
    echo mongod >"$DIR/kind"
    echo "$P0" >"$DIR/port"

    local i mp md pf
    for i in 0 1 2; do
        mp="$(member_port "$i")"; md="$(member_dir "$i")"; pf="$(member_pidfile "$i")"
        if member_running "$i"; then continue; fi
        if proc_alive "$(read_pid "$pf")" mongod; then
            say "mongod member $i (pid $(read_pid "$pf")) not accepting connections; restarting it"
            stop_pids "$pf:mongod" >/dev/null
        fi
        rm -f "$pf"
        if port_open "$mp"; then
            err "port $mp is already in use by another process; stop it or use --port"
            return 1
        fi
        mkdir -p "$md"
        if ! mongod --replSet rs0 --port "$mp" --bind_ip 127.0.0.1 \
                --dbpath "$md" --logpath "$md/mongod.log" --logappend \
                --pidfilepath "$pf" --fork \
                --wiredTigerCacheSizeGB 0.25 --oplogSize 128 \
                </dev/null >"$md/fork.out" 2>&1; then
            err "mongod member $i failed to start on port $mp:"
            cat "$md/fork.out" >&2 || true
            tail -n 30 "$md/mongod.log" >&2 || true
            return 1
        fi
    done
    for i in 0 1 2; do
        local deadline=$((SECONDS + 30))
        until port_open "$(member_port "$i")"; do
            if (( SECONDS >= deadline )); then
                err "mongod member $i does not accept connections on port $(member_port "$i")"
                tail -n 30 "$(member_dir "$i")/mongod.log" >&2 || true
                return 1
            fi
            sleep 0.2
        done
    done

    CTL=""
    if ! command -v mongosh >/dev/null 2>&1; then
        CTL="$(chorusctl_bin)" || return 1
    fi

    if [[ ! -f "$DIR/rs-initiated" ]]; then
        say "initiating replica set rs0"
        if rs_initiate; then
            touch "$DIR/rs-initiated"
        else
            say "rs-init failed; checking whether rs0 is already initiated"
        fi
    fi

    say "waiting for a primary (up to 60 s)"
    local deadline=$((SECONDS + 60))
    until have_primary; do
        if (( SECONDS >= deadline )); then
            err "no PRIMARY elected in replica set rs0 within 60 s"
            tail -n 20 "$(member_dir 0)/mongod.log" >&2 || true
            return 1
        fi
        sleep 1
    done
    touch "$DIR/rs-initiated"
    say "database: $(mongod_describe)"
    say "URI: $URI"
}

# mongod_stop: stops the three members.
mongod_stop() {
    local n
    n="$(stop_pids "$(member_pidfile 0):mongod" "$(member_pidfile 1):mongod" "$(member_pidfile 2):mongod")"
    say_stopped "$n" MongoDB "MongoDB replica set rs0 on 127.0.0.1:$P0,$P1,$P2"
}

# mongod_status: says whether the replica set runs; returns 0 if so, 3 if not.
mongod_status() {
    if mongod_running; then
        say "database running: $(mongod_describe)"
        say "URI: $URI"
        return 0
    fi
    local i up=()
    for i in 0 1 2; do member_running "$i" && up+=("$(member_port "$i")"); done
    if [[ ${#up[@]} -gt 0 ]]; then
        say "database stopped: only members on port(s) ${up[*]} are running ($(show_path "$DIR"))"
    else
        say "database stopped (MongoDB, ports $P0-$P2, $(show_path "$DIR"))"
    fi
    say "URI: $URI"
    return 3
}

# ------------------------------------------------------------------ main
case "$CMD" in
    uri) echo "$URI" ;;
    start) "${KIND}_start" ;;
    stop) "${KIND}_stop" ;;
    status) rc=0; "${KIND}_status" || rc=$?; exit "$rc" ;;
esac
