#!/usr/bin/env bash
# Chorus: throughput benchmark on a realistic data set (docs/PERFORMANCE.md).
#
#   bench/run-throughput.sh
#
# Installs what is missing (scripts/deps.sh; Debian's wrk and nginx), builds
# a Release build in build-bench/, starts its OWN database
# (scripts/mongo-setup.sh, data in var/bench-tp-db, the port it had before
# or the first free one from 27500 up), seeds it with
# build-bench/bin/load_dataset -- BENCH_TP_USERS users each following
# BENCH_TP_FOLLOWS others and BENCH_TP_TWEETS tweets (database chorus_tp,
# 4 shards) -- logs BENCH_TP_SESSIONS of the users in (POST /api/login on
# a chorusd) and saves the database's files with the session tokens in
# var/bench-tp-db/snapshot. A later run that finds that snapshot skips all
# this (BENCH_TP_RELOAD=1 deletes it and loads again). Then, for each
# phase -- GET /healthz, GET /api/me, home feed (GET /api/feed?limit=50),
# global timeline (GET /api/tweet?limit=50), tweet creation (POST
# /api/tweet, two-phase commit) -- it copies the snapshot back, starts the
# database and two chorusd (first free ports from 18600 up whose WebSocket
# port, +1000, is free too), measures the database's idle CPU, times
# BENCH_TP_PROBES single requests on the idle servers, then runs two wrk
# processes at once (bench/wrk/*.lua, real session cookies, each user in
# one process only), one against each server, BENCH_TP_CONNECTIONS / 2
# connections each, for BENCH_TP_DURATION seconds. Then the same three
# phases through nginx in front of both servers (scripts/nginx.conf
# rendered as scripts/run.sh --lb does, in var/bench-tp-nginx; both wrk
# processes against nginx). Each phase starts everything afresh on the
# saved data set, so that requests abandoned by the previous one (wrk stops
# waiting; the servers and the database do not), its new tweets and the
# transactions its stopped servers left to recover cannot slow it down.
#
# Prints a table: requests/s (all answers and 2xx only), p50/p99, non-2xx
# answers by status, socket errors, requests still unanswered at the end,
# the target and whether it was met; CPU of each process during the phase;
# each server's VmRSS and VmHWM after it. Everything it started is stopped
# on exit, Ctrl-C included; the database's data stays.
#
# Environment:
#   BENCH_TP_USERS=10000        accounts in the data set
#   BENCH_TP_FOLLOWS=100        followees per account
#   BENCH_TP_TWEETS=1000000     tweets in the data set
#   BENCH_TP_SHARDS=4           tweet shard collections (chorusd --shards,
#                               1..64); on FerretDB every command on a tweet
#                               scans its shard, so more shards make writes
#                               cheaper (use another BENCH_TP_DB_DIR per count)
#   BENCH_TP_DURATION=20        seconds of wrk per phase
#   BENCH_TP_WARMUP=5           seconds of the same load before each phase,
#                               printed but not measured (0: none)
#   BENCH_TP_CONNECTIONS=64     wrk connections in all (half per process)
#   BENCH_TP_TIMEOUT=30         wrk --timeout, seconds: a slower answer is
#                               counted as a timeout instead of a latency
#   BENCH_TP_SESSIONS=256       users logged in; requests rotate over them
#   BENCH_TP_PROBES=1           single requests timed per phase before wrk
#                               (0: none); each may take up to 600 s
#   BENCH_TP_PHASES="healthz me feed feed@5000 timeline create"
#                               healthz (GET /healthz, no database) and me
#                               (GET /api/me, session + account lookups)
#                               have no target: they show the HTTP layer's
#                               ceiling and what authentication costs.
#                               PHASE@RATE offers RATE requests/s in all
#                               (half per wrk process, on an even schedule:
#                               CHORUS_TP_RATE in bench/wrk/common.lua)
#                               instead of as many as the connections can
#                               send: the latency at the target's rate
#   BENCH_TP_NGINX=1            0: skip the phases through nginx
#   CHORUS_FERRETDB_ID_INDEX=1  0: FerretDB without the `_id` lookup indexes
#                               (scripts/ferretdb-id-index.sh), to compare
#   BENCH_TP_SERVER_THREADS=32  chorusd --threads
#   BENCH_TP_SERVER_URI_OPTS=   options added to the servers' --mongo-uri,
#                               e.g. socketTimeoutMS=600000 (chorusd's
#                               default is 10 s, and a read is retried once)
#   BENCH_TP_SERVER_ARGS=       more chorusd flags, e.g. "--txn-lease-ms 600000"
#   BENCH_TP_PERF=0             1 (or one of the phases, e.g. feed@5000):
#                               perf record -g the database and server A
#                               during that direct phase, feed for 1 (in
#                               var/bench-run/tp-perf-*.txt)
#   BENCH_TP_RELOAD=0           1: delete the data set and load it again
#   BENCH_TP_DB_DIR=var/bench-tp-db  where the database keeps it (another
#                               directory keeps another data set)
#
# Logs and results stay in var/bench-run/ (tp-*). A benchmark prints
# figures: the exit status is non-zero only when something could not be set
# up or run, never because a target was missed.
set -euo pipefail

LIB_TAG="[bench-tp]"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_args "$@"

USERS="${BENCH_TP_USERS:-10000}"
FOLLOWS="${BENCH_TP_FOLLOWS:-100}"
TWEETS="${BENCH_TP_TWEETS:-1000000}"
DURATION="${BENCH_TP_DURATION:-20}"
WARMUP="${BENCH_TP_WARMUP:-5}"
CONNECTIONS="${BENCH_TP_CONNECTIONS:-64}"
TIMEOUT="${BENCH_TP_TIMEOUT:-30}"
SESSIONS="${BENCH_TP_SESSIONS:-256}"
PROBES="${BENCH_TP_PROBES:-1}"
PHASES="${BENCH_TP_PHASES:-healthz me feed feed@5000 timeline create}"
USE_NGINX="${BENCH_TP_NGINX:-1}"
SERVER_THREADS="${BENCH_TP_SERVER_THREADS:-32}"
PERF="${BENCH_TP_PERF:-0}"
[[ "$PERF" == 1 ]] && PERF=feed
if [[ "$PERF" != 0 && " $PHASES " != *" $PERF "* ]]; then
    err "BENCH_TP_PERF must be 0, 1 or one of the phases ($PHASES), not '$PERF'"; exit 2
fi
RELOAD="${BENCH_TP_RELOAD:-0}"
SERVER_URI_OPTS="${BENCH_TP_SERVER_URI_OPTS:-}"
read -r -a SERVER_ARGS <<<"${BENCH_TP_SERVER_ARGS:-}"
if [[ -n "$SERVER_URI_OPTS" && ! "$SERVER_URI_OPTS" =~ ^[A-Za-z]+=[^\&\ ]+(\&[A-Za-z]+=[^\&\ ]+)*$ ]]; then
    err "BENCH_TP_SERVER_URI_OPTS must look like name=value&name=value, not '$SERVER_URI_OPTS'"; exit 2
fi
SHARDS="${BENCH_TP_SHARDS:-4}"
if ! [[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || (( SHARDS > 64 )); then
    err "BENCH_TP_SHARDS must be a whole number from 1 to 64, not '$SHARDS'"; exit 2
fi
bench_positive BENCH_TP_ USERS DURATION CONNECTIONS TIMEOUT SESSIONS SERVER_THREADS
bench_whole BENCH_TP_ WARMUP FOLLOWS TWEETS PROBES
if (( CONNECTIONS < 2 )); then err "BENCH_TP_CONNECTIONS must be at least 2 (one per wrk process)"; exit 2; fi
for p in $PHASES; do
    if ! [[ "$p" =~ ^(healthz|me|feed|timeline|create)(@[1-9][0-9]*)?$ ]]; then
        err "unknown phase '$p' in BENCH_TP_PHASES (healthz, me, feed, timeline, create, each optionally @RATE)"; exit 2
    fi
    if [[ "$p" == *@* ]] && (( ${p#*@} < 2 )); then err "phase '$p': the rate must be at least 2 (one per wrk process)"; exit 2; fi
done

LOADER="$BUILD_DIR/bin/load_dataset"
DB_DIR="${BENCH_TP_DB_DIR:-$ROOT/var/bench-tp-db}"
[[ "$DB_DIR" == /* ]] || DB_DIR="$ROOT/$DB_DIR"
DB_SHOW="${DB_DIR#"$ROOT"/}"
NGINX_DIR="$ROOT/var/bench-tp-nginx"
WRK_DIR="$ROOT/bench/wrk"
DB_NAME=chorus_tp
SERVER_FILES=tp-chorusd
SERVER_STOP_S=5 # requests abandoned by wrk may hold a worker for minutes
RESULTS="$RUN_DIR/tp-results.txt"
SUMMARY="$RUN_DIR/tp-last-summary.txt"
PER_PROC=$((CONNECTIONS / 2))
WRK_THREADS=$(( PER_PROC < 2 ? 1 : 2 ))

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then SUDO="sudo -n"; fi

# One run at a time: a second one would share var/bench-tp-db.  The
# processes a run starts inherit the lock's descriptor and may outlive it
# by a few seconds while they stop, so a run started right after another
# waits for it (up to 60 s) instead of giving up at once.
bench_lock .tp-lock 60
rm -f "$RESULTS" "$SUMMARY" "$RUN_DIR"/tp-wrk-*.out "$RUN_DIR"/tp-probe-*.txt "$RUN_DIR"/tp-probe-*.cpu

# ---------------------------------------------------------------- helpers
# cpu_ticks PID: user + system clock ticks of PID and its children (nginx:
# the master does nothing, its worker everything); 0 when gone.
cpu_ticks() {
    local p t=0 n
    for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
        n="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
        t=$((t + ${n:-0}))
    done
    echo "$t"
}
# machine_ticks: "busy total steal" clock ticks of the whole machine (steal:
# time the hypervisor gave this VM's CPUs to someone else; it counts as busy
# here, and the benchmark's spread follows it).
machine_ticks() {
    awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t, $9}' /proc/stat
}
# rss_kb PID FIELD: FIELD (VmRSS, VmHWM) of PID in kB, or ?.
rss_kb() {
    awk -v f="$2:" '$1 == f {print $2; found = 1} END {if (!found) print "?"}' "/proc/$1/status" 2>/dev/null || echo "?"
}
# rss_kb_tree PID: VmRSS in kB of PID and its children (nginx and its worker).
rss_kb_tree() {
    local p t=0 n
    for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
        n="$(rss_kb "$p" VmRSS)"
        [[ "$n" =~ ^[0-9]+$ ]] && t=$((t + n))
    done
    echo "$t"
}

# stop_nginx: stops this run's nginx, and one a killed earlier run left.
stop_nginx() { bench_nginx_stop "$NGINX_DIR"; }

# bench_stop_all: nginx, the servers and the database (bench/lib.sh).
bench_stop_all() {
    stop_nginx
    bench_servers_stop
    bench_db_stop
}
lib_exit_traps bench_cleanup

# ---------------------------------------------------------------- install, build
bench_build load_dataset
apt_missing=()
command -v wrk >/dev/null 2>&1 || apt_missing+=(wrk)
{ command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; } || apt_missing+=(nginx)
if (( ${#apt_missing[@]} > 0 )); then
    say "installing ${apt_missing[*]} (apt-get)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" ||
        { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
          $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"; } ||
        { err "could not install ${apt_missing[*]}"; exit 1; }
fi
command -v wrk >/dev/null 2>&1 || { err "wrk not found after installing it"; exit 1; }
NGINX_BIN="$(find_nginx)" || { err "nginx not found after installing it"; exit 1; }

# Anything left from an earlier run that was killed hard.
bench_stop_all

# ---------------------------------------------------------------- database
DB_PORT=""
# start_db: the database of DB_DIR on the port it had (when that is free)
# or the first free one from 27500 up.
start_db() {
    if [[ -z "$DB_PORT" ]]; then
        if [[ -f "$DB_DIR/port" ]] && ! port_open "$(read_pid "$DB_DIR/port")"; then
            DB_PORT="$(read_pid "$DB_DIR/port")"
        else
            DB_PORT="$(free_port 27500)" || { err "no free database port from 27500 up"; exit 1; }
        fi
    fi
    bench_db_start "$DB_PORT" "$RUN_DIR/tp-mongo-setup.out"
}

# db_pid: the database's process id (FerretDB, or the first mongod member).
db_pid() { bench_db_pids | sed -n 1p; }

# ---------------------------------------------------------------- servers, nginx

# start_servers: chorusd tp-a and tp-b from port 18600 up, with the
# benchmark's flags and URI options, their read models loaded.  127.0.0.1
# is a trusted proxy, as scripts/run.sh --lb starts the servers: nginx's
# connections (and wrk's, from the same address) are not capped as one
# client's (--http-per-address), which BENCH_TP_CONNECTIONS may exceed.
start_servers() {
    local port=18600 id
    SERVER_URI="$MONGO_URI"
    if [[ -n "$SERVER_URI_OPTS" ]]; then
        if [[ "$SERVER_URI" == *\?* ]]; then SERVER_URI+="&$SERVER_URI_OPTS"; else SERVER_URI+="/?$SERVER_URI_OPTS"; fi
    fi
    for id in tp-a tp-b; do
        bench_server_start "$id" "$port" 60 --shards "$SHARDS" --threads "$SERVER_THREADS" \
            --log-requests 0 --trusted-proxy 127.0.0.1 ${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"}
        port=$((SERVER_PORT + 1))
    done
    wait_models
}

# Each server loads its read model (server/model.h) in the background and
# answers from the database until then; the phases measure the loaded
# state. Servers started with --read-model 0 expose no chorus_model_ready.
MODEL_LOAD_S=""
# wait_models: waits (up to BENCH_TP_MODEL_WAIT s) until both servers have
# loaded their read models.
wait_models() {
    local u t0=$SECONDS deadline=$((SECONDS + ${BENCH_TP_MODEL_WAIT:-1800})) m
    for u in "${URLS[@]}"; do
        while :; do
            m="$(curl -s --max-time 5 "$u/metrics" | grep -E '^chorus_model_ready ' || true)"
            [[ -z "$m" || "$m" == "chorus_model_ready 1" ]] && break
            if (( SECONDS >= deadline )); then
                err "$u: read model not loaded within ${BENCH_TP_MODEL_WAIT:-1800} s"
                exit 1
            fi
            sleep 1
        done
    done
    MODEL_LOAD_S=$((SECONDS - t0))
    say "read models loaded on both servers in ${MODEL_LOAD_S} s"
}

NGINX_URL=""
# start_nginx: nginx (scripts/nginx.conf, as scripts/run.sh --lb renders it,
# in var/bench-tp-nginx) in front of both servers, from port 18690 up.
start_nginx() {
    local http_servers="" ws_servers="" u p
    for u in "${URLS[@]}"; do
        p="${u##*:}"
        http_servers+="127.0.0.1:$p "
        ws_servers+="127.0.0.1:$((p + 1000)) "
    done
    bench_nginx_start "$NGINX_BIN" "$NGINX_DIR" 18690 "$http_servers" "$ws_servers"
    NGINX_URL="$BENCH_NGINX_URL"
}

# ---------------------------------------------------------------- the data set
# Loaded once, then its users logged in, then the database's files are
# saved in $DB_DIR/snapshot. Every phase starts from a copy of them: the
# tweets a phase creates, and the transactions its servers leave unfinished
# when they are stopped (recovering one on this database means scanning a
# tweet shard), never reach the next phase or the next run.
SNAP_DIR="$DB_DIR/snapshot"
SESSIONS_FILE="$SNAP_DIR/sessions.txt"
DATASET_ID="users=$USERS follows=$FOLLOWS tweets=$TWEETS shards=$SHARDS sessions=$SESSIONS db=$DB_NAME"
if [[ "$RELOAD" == 1 ]]; then
    say "BENCH_TP_RELOAD=1: deleting $DB_SHOW"
    bench_db_stop
    rm -rf "$DB_DIR"
fi
DATA_DIR=""  # where the database keeps its files (FerretDB: data, mongod: m0..m2)
# data_dirs: where the database keeps its files (FerretDB: data, mongod:
# m0..m2).
data_dirs() {
    if [[ "$(tr -dc 'a-z' <"$DB_DIR/kind" 2>/dev/null)" == mongod ]]; then echo m0 m1 m2; else echo data; fi
}
# restore_snapshot: the saved files back in place (the database stopped).
restore_snapshot() {
    local d
    bench_db_stop
    for d in $(data_dirs); do
        rm -rf "${DB_DIR:?}/$d"
        cp -a "$SNAP_DIR/$d" "$DB_DIR/$d"
    done
}
if [[ -f "$SNAP_DIR/complete" && "$(cat "$SNAP_DIR/complete")" == "$DATASET_ID" ]] &&
   [[ -z "$(find "$SNAP_DIR/complete" -mtime +25 2>/dev/null)" ]]; then
    say "using the saved data set ($DATASET_ID) in $DB_SHOW/snapshot"
else
    [[ -d "$SNAP_DIR" ]] && say "the saved data set is not this one, or its sessions are old: loading again"
    bench_db_stop
    rm -rf "$DB_DIR"
    mkdir -p "$DB_DIR"
    start_db
    say "database: $DB_KIND ($MONGO_URI), data in $DB_SHOW"
    say "loading the data set: $USERS users, $((USERS * FOLLOWS)) follows, $TWEETS tweets (output: var/bench-run/tp-load.out)"
    "$LOADER" --mongo-uri "$MONGO_URI" --db "$DB_NAME" --users "$USERS" --follows "$FOLLOWS" \
        --tweets "$TWEETS" --shards "$SHARDS" --drop 2>&1 | tee "$RUN_DIR/tp-load.out"
    rc=${PIPESTATUS[0]}
    if [[ $rc -ne 0 ]]; then err "load_dataset failed (status $rc)"; exit 1; fi
    start_servers
    say "logging $SESSIONS users in (POST /api/login, 4 at a time)"
    t0=$SECONDS
    mkdir -p "$SNAP_DIR.new"
    seq 0 $((SESSIONS - 1)) | awk -v s="$SESSIONS" -v u="$USERS" '{printf "bench%05d\n", int($1 * u / s)}' |
        xargs -P 4 -I{} curl -s -D - -o /dev/null --max-time 300 -H 'Content-Type: application/json' \
            -d '{"username":"{}","password":"benchpass123"}' "${URLS[0]}/api/login" |
        sed -n 's/^[Ss]et-[Cc]ookie: chorus_session=\([^;]*\);.*/\1/p' >"$SNAP_DIR.new/sessions.txt"
    got="$(wc -l <"$SNAP_DIR.new/sessions.txt")"
    if (( got < SESSIONS )); then
        err "only $got of $SESSIONS logins succeeded (see var/bench-run/tp-chorusd-tp-a.log)"
        exit 1
    fi
    say "logged in $got users in $((SECONDS - t0)) s"
    bench_servers_stop
    bench_db_stop
    t0=$SECONDS
    for d in $(data_dirs); do cp -a "$DB_DIR/$d" "$SNAP_DIR.new/$d"; done
    { grep '^LOAD ' "$RUN_DIR/tp-load.out" | sed 's/^LOAD //'; echo "on $(date '+%Y-%m-%d %H:%M:%S'), load average $(cut -d' ' -f1-3 /proc/loadavg)"; } |
        tr '\n' ' ' >"$SNAP_DIR.new/load.txt"
    echo "$DATASET_ID" >"$SNAP_DIR.new/complete"
    rm -rf "$SNAP_DIR"
    mv "$SNAP_DIR.new" "$SNAP_DIR"
    say "data set saved in $DB_SHOW/snapshot ($(du -sh "$SNAP_DIR" | cut -f1), $((SECONDS - t0)) s)"
fi
LOAD_LINE="$(cat "$SNAP_DIR/load.txt" 2>/dev/null || echo "?")"
# FerretDB: the `_id` lookup indexes (scripts/ferretdb-id-index.sh) go into
# the snapshot itself, so that each phase's copy has them (or, with
# CHORUS_FERRETDB_ID_INDEX=0, has them removed) before the database starts.
ID_INDEX_LINE=""
if [[ "$(data_dirs)" == data ]]; then
    if [[ "${CHORUS_FERRETDB_ID_INDEX:-1}" != 0 ]]; then
        bash "$ROOT/scripts/ferretdb-id-index.sh" once "$SNAP_DIR"/data/*.sqlite
        ID_INDEX_LINE="_id lookups indexed (scripts/ferretdb-id-index.sh)"
    else
        bash "$ROOT/scripts/ferretdb-id-index.sh" drop "$SNAP_DIR"/data/*.sqlite
        ID_INDEX_LINE="_id lookups scan (CHORUS_FERRETDB_ID_INDEX=0)"
    fi
fi

# ---------------------------------------------------------------- phases
declare -A PATH_OF=([healthz]="/healthz" [me]="/api/me" [feed]="/api/feed?limit=50" [timeline]="/api/tweet?limit=50" [create]="/api/tweet")

IDLE_PCT=0
# measure_idle: the database's CPU over 5 s with the servers up but no
# requests (IDLE_PCT).
measure_idle() {
    local dbp hz i0 i1
    dbp="$(db_pid)"
    hz="$(getconf CLK_TCK)"
    i0="$(cpu_ticks "$dbp")"; sleep 5; i1="$(cpu_ticks "$dbp")"
    IDLE_PCT="$(awk -v a="$i0" -v b="$i1" -v hz="$hz" 'BEGIN {printf "%.0f", (b - a) / hz / 5 * 100}')"
    say "  the database idles at $IDLE_PCT% of a core (the servers poll it)"
}

# barrier_counts: "at_once waited failed", chorus_read_barrier_total of both
# servers.
barrier_counts() {
    local u
    for u in "${URLS[@]}"; do curl -s --max-time 5 "$u/metrics" || true; done |
        awk '/^chorus_read_barrier_total\{result="at_once"\}/ {a += $2}
             /^chorus_read_barrier_total\{result="waited"\}/ {w += $2}
             /^chorus_read_barrier_total\{result="failed"\}/ {f += $2}
             END {printf "%d %d %d\n", a, w, f}'
}

# probe PHASE LABEL: times single requests on the idle server A.
probe() {
    local phase="$1" label="$2" i out tok dbp hz c0 c1 t0 t1
    # The database's CPU during the probes beyond its idle level is what
    # the requests cost it.
    dbp="$(db_pid)"
    hz="$(getconf CLK_TCK)"
    c0="$(cpu_ticks "$dbp")"; t0="$(date +%s.%N)"
    for ((i = 0; i < PROBES; i++)); do
        tok="$(sed -n "$(( (i * 37) % SESSIONS + 1 ))p" "$SESSIONS_FILE")"
        if [[ "$phase" == create ]]; then
            out="$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 600 -b "chorus_session=$tok" \
                -H 'Content-Type: application/json' -H "Origin: ${URLS[0]}" \
                -d "{\"text\":\"probe $i of the throughput benchmark\"}" "${URLS[0]}${PATH_OF[$phase]}" || echo "000 600")"
        else
            out="$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 600 -b "chorus_session=$tok" \
                "${URLS[0]}${PATH_OF[$phase]}" || echo "000 600")"
        fi
        echo "$out" >>"$RUN_DIR/tp-probe-$label.txt"
        say "  idle probe $((i + 1))/$PROBES: status ${out% *}, $(awk -v t="${out#* }" 'BEGIN {printf "%.0f", t * 1000}') ms"
    done
    c1="$(cpu_ticks "$dbp")"; t1="$(date +%s.%N)"
    awk -v idle="$IDLE_PCT" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v n="$PROBES" \
        'BEGIN { used = (c1 - c0) / hz - idle / 100 * (t1 - t0);
                 printf "%.2f %.0f\n", (used > 0 ? used : 0) / n, idle }' >"$RUN_DIR/tp-probe-$label.cpu"
    say "  the database's CPU per probe request: $(cut -d' ' -f1 "$RUN_DIR/tp-probe-$label.cpu") s (beyond its idle $IDLE_PCT% of a core)"
}

WRK_PIDS=()
# start_wrk PREFIX SECS RATE SCRIPT URL0 URL1: the two wrk processes of a
# phase, one per URL, for SECS seconds at RATE requests/s in all (0: as
# fast as answers come back); their output goes to PREFIX-0.out and
# PREFIX-1.out, their pids to WRK_PIDS.
start_wrk() {
    local prefix="$1" secs="$2" rate="$3" script="$4" i
    shift 4
    WRK_PIDS=()
    for i in 0 1; do
        CHORUS_TP_RATE="$(awk -v r="$rate" 'BEGIN {printf "%g", r / 2}')" \
        wrk -t "$WRK_THREADS" -c "$PER_PROC" -d "${secs}s" --timeout "${TIMEOUT}s" --latency \
            -s "$WRK_DIR/$script.lua" "${@:i+1:1}" -- "$SESSIONS_FILE" "$i" 2 "$WRK_THREADS" \
            >"$prefix-$i.out" 2>&1 &
        WRK_PIDS+=($!)
        BG_PIDS+=($!)
    done
}

# warm_up LABEL RATE SCRIPT URL0 URL1: the phase's own load for
# BENCH_TP_WARMUP seconds before it is measured. Servers that were just started answer their first requests from
# cold caches (each of the sessions' first lookup goes to the database, the
# database client pool opens its connections, the database's own pages and
# caches): in a feed phase at 5,000/s that was ~1 % of the requests with
# up to 80-300 ms (docs/PERFORMANCE.md), i.e. the whole p99 of
# a phase that was steady at 2.5 ms after it. Its figures are printed, not
# counted: the tables measure the steady state; the idle probes before it
# show one cold request.
warm_up() {
    local label="$1" rate="$2" script="$3" pid i
    shift 3
    [[ "$WARMUP" -gt 0 ]] || return 0
    start_wrk "$RUN_DIR/tp-warm-$label" "$WARMUP" "$rate" "$script" "$@"
    for pid in "${WRK_PIDS[@]}"; do wait "$pid" || true; done
    for i in 0 1; do
        say "  warm-up $i, ${WARMUP} s, not measured: $(sed -n 's/^CHORUS_RESULT //p' "$RUN_DIR/tp-warm-$label-$i.out" |
            tr ' ' '\n' | grep -E '^(rps|p99_ms|max_ms|non2xx|late)=' | tr '\n' ' ')"
    done
    # wrk stops waiting, the servers do not: what the warm-up left in flight
    # (a queue of creations takes seconds) must not be served in the phase.
    local t0="$SECONDS" ns0 url n
    ns0="$(date +%s.%N)"
    for url in "${URLS[@]}"; do
        while :; do
            n="$(curl -s --max-time 5 "$url/metrics" | awk '$1 == "chorus_http_requests_in_flight" {print $2}')"
            [[ "$n" == 1 ]] && break
            if (( SECONDS - t0 > 120 )); then
                say "  warning: $url still answers ${n:-?} requests of the warm-up after 120 s"; break
            fi
            sleep 0.1
        done
    done
    say "  the warm-up's last requests were answered $(awk -v a="$ns0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after it"
}

LAST_READONLY=0
# run_phase MODE PHASE: one phase (MODE direct or nginx) on a fresh copy of
# the data set; its line into tp-results.txt.
run_phase() {
    local mode="$1" phase="$2" label="$1-$2" i url targets=() pids=() t0 t1 m0 m1 dbp
    echo
    local offered=""
    [[ "$phase" == *@* ]] && offered=", offering ${phase#*@} requests/s on an even schedule"
    say "=== $label: $CONNECTIONS connections ($PER_PROC per wrk process, 2 at once), ${DURATION} s, wrk --timeout ${TIMEOUT}s$offered ==="
    # Fresh processes on a fresh copy of the data set: what the previous
    # phase left running or unfinished is gone. Read-only phases after a
    # read-only phase keep the servers (and their loaded read models:
    # loading them takes minutes on this data set).
    stop_nginx
    local readonly_phase=0 script="${phase%@*}" rate=0
    [[ "$phase" == *@* ]] && rate="${phase#*@}"
    [[ "$script" != create ]] && readonly_phase=1
    if [[ "$readonly_phase" == 1 && "$LAST_READONLY" == 1 && ${#SERVER_PIDS[@]} -gt 0 ]]; then
        say "keeping the servers of the previous read-only phase (nothing was written)"
    else
        bench_servers_stop
        local r0=$SECONDS
        restore_snapshot
        start_db
        start_servers
        say "data set restored and database and servers started in $((SECONDS - r0)) s"
    fi
    LAST_READONLY="$readonly_phase"
    if [[ "$mode" == nginx ]]; then
        start_nginx
        targets=("$NGINX_URL" "$NGINX_URL")
        say "servers ${URLS[*]} (pids ${SERVER_PIDS[*]}) behind nginx $NGINX_URL (pid $NGINX_PID)"
    else
        targets=("${URLS[@]}")
        say "servers ${URLS[*]} (pids ${SERVER_PIDS[*]})"
    fi
    measure_idle
    if [[ "$mode" == direct && "$PROBES" -gt 0 && "$rate" == 0 ]]; then probe "$script" "$label"; fi
    warm_up "$label" "$rate" "$script" "${targets[@]}"
    dbp="$(db_pid)"
    local procs=("a:${SERVER_PIDS[0]}" "b:${SERVER_PIDS[1]}" "$DB_KIND:$dbp")
    [[ -n "$NGINX_PID" ]] && procs+=("nginx:$NGINX_PID")
    declare -A c0=()
    local pr
    for pr in "${procs[@]}"; do c0[$pr]="$(cpu_ticks "${pr#*:}")"; done
    read -r m0 mt0 ms0 < <(machine_ticks)
    local load0
    load0="$(cut -d' ' -f1-3 /proc/loadavg)"
    local bar0
    bar0="$(barrier_counts)"
    t0="$(date +%s.%N)"
    if [[ "$label" == "direct-$PERF" ]] && command -v perf >/dev/null 2>&1; then
        perf record -F 199 -g -p "$dbp" -o "$RUN_DIR/tp-perf-db.data" -- sleep "$DURATION" >"$RUN_DIR/tp-perf-db.log" 2>&1 &
        BG_PIDS+=($!)
        perf record -F 199 -g -p "${SERVER_PIDS[0]}" -o "$RUN_DIR/tp-perf-chorusd.data" -- sleep "$DURATION" >"$RUN_DIR/tp-perf-chorusd.log" 2>&1 &
        BG_PIDS+=($!)
    fi
    start_wrk "$RUN_DIR/tp-wrk-$label" "$DURATION" "$rate" "$script" "${targets[@]}"
    pids=("${WRK_PIDS[@]}")
    local rc=0 pid
    for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
    t1="$(date +%s.%N)"
    read -r m1 mt1 ms1 < <(machine_ticks)
    if [[ $rc -ne 0 ]]; then
        err "wrk failed (status $rc):"
        cat "$RUN_DIR/tp-wrk-$label-"*.out >&2
        exit 1
    fi
    for pid in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
    BG_PIDS=()
    local hz elapsed line
    hz="$(getconf CLK_TCK)"
    elapsed="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
    line="mode=$mode phase=$phase elapsed=$elapsed idle_db_pct=$IDLE_PCT load_start=${load0// /,} load_end=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
    for pr in "${procs[@]}"; do
        line+=" cpu_${pr%%:*}=$(awk -v a="${c0[$pr]}" -v b="$(cpu_ticks "${pr#*:}")" -v hz="$hz" -v e="$elapsed" 'BEGIN {printf "%.0f", (b - a) / hz / e * 100}')"
    done
    line+=" cpu_machine=$(awk -v a="$m0" -v b="$m1" -v ta="$mt0" -v tb="$mt1" -v n="$(nproc)" 'BEGIN {printf "%.0f", (tb > ta) ? (b - a) / (tb - ta) * 100 * n : 0}')"
    line+=" cpu_steal=$(awk -v a="${ms0:-0}" -v b="${ms1:-0}" -v ta="$mt0" -v tb="$mt1" -v n="$(nproc)" 'BEGIN {printf "%.0f", (tb > ta) ? (b - a) / (tb - ta) * 100 * n : 0}')"
    line+=" rss_a=$(rss_kb "${SERVER_PIDS[0]}" VmRSS) hwm_a=$(rss_kb "${SERVER_PIDS[0]}" VmHWM)"
    line+=" rss_b=$(rss_kb "${SERVER_PIDS[1]}" VmRSS) hwm_b=$(rss_kb "${SERVER_PIDS[1]}" VmHWM)"
    line+=" rss_db=$(rss_kb "$dbp" VmRSS)"
    [[ -n "$NGINX_PID" ]] && line+=" rss_nginx=$(rss_kb_tree "$NGINX_PID")"
    if [[ -s "$RUN_DIR/tp-probe-$label.txt" ]]; then
        line+=" probes=$(awk '{printf "%s%s:%.0f", (NR > 1 ? "," : ""), $1, $2 * 1000}' "$RUN_DIR/tp-probe-$label.txt")"
        line+=" probe_db_cpu_s=$(cut -d' ' -f1 "$RUN_DIR/tp-probe-$label.cpu")"
    fi
    for i in 0 1; do
        line+=" wrk$i=[$(sed -n 's/^CHORUS_RESULT //p' "$RUN_DIR/tp-wrk-$label-$i.out" | tr ' ' ';')]"
    done
    echo "$line" >>"$RESULTS"
    for i in 0 1; do
        say "  wrk $i -> ${targets[$i]}: $(sed -n 's/^CHORUS_RESULT //p' "$RUN_DIR/tp-wrk-$label-$i.out")"
    done
    say "  VmRSS after: chorusd a $(rss_kb "${SERVER_PIDS[0]}" VmRSS) kB, b $(rss_kb "${SERVER_PIDS[1]}" VmRSS) kB"
    read -r ba0 bw0 bf0 <<<"$bar0"
    read -r ba1 bw1 bf1 <<<"$(barrier_counts)"
    if (( ba1 + bw1 + bf1 > ba0 + bw0 + bf0 )); then
        say "  read barrier (both servers, this phase): $((ba1 - ba0)) reads at once, $((bw1 - bw0)) waited for a poll, $((bf1 - bf0)) went to the database"
    fi
    if [[ "$label" == "direct-$PERF" && -f "$RUN_DIR/tp-perf-db.data" ]]; then
        local which
        for which in db chorusd; do
            {
                echo "== inclusive (children): where the time goes, by caller =="
                perf report -i "$RUN_DIR/tp-perf-$which.data" --stdio --children --sort symbol -g none \
                    --percent-limit 2 2>/dev/null | grep -v '^$' | head -n 80
                echo
                echo "== self: the functions that burn it =="
                perf report -i "$RUN_DIR/tp-perf-$which.data" --stdio --no-children --sort dso,symbol -g none \
                    --percent-limit 0.5 2>/dev/null | grep -v '^$' | head -n 80
            } >"$RUN_DIR/tp-perf-$which.txt" || true
        done
        say "  perf reports: var/bench-run/tp-perf-db.txt, tp-perf-chorusd.txt"
    fi
}

MODES=(direct)
NGINX_NOTE=""
if [[ "$USE_NGINX" == 1 ]]; then
    if [[ -f "$ROOT/scripts/nginx.conf" ]]; then
        MODES+=(nginx)
    else
        NGINX_NOTE="scripts/nginx.conf not found: the phases through nginx were skipped"
        say "$NGINX_NOTE"
    fi
else
    NGINX_NOTE="BENCH_TP_NGINX=0: the phases through nginx were skipped"
fi
for mode in "${MODES[@]}"; do
    for phase in $PHASES; do run_phase "$mode" "$phase"; done
done
stop_nginx
bench_servers_stop

# ---------------------------------------------------------------- summary
if [[ "$DB_KIND" == ferretdb ]]; then
    DB_LINE="FerretDB $("$ROOT/var/tools/ferretdb" --version 2>/dev/null | sed -n 's/^version: //p' | sed -n 1p) (SQLite backend)"
else
    DB_LINE="mongod $(mongod --version 2>/dev/null | sed -n 's/^db version //p' | sed -n 1p) (3-member replica set)"
fi
CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p)"
{
    echo
    echo "Chorus throughput on a realistic data set -- $(date '+%Y-%m-%d %H:%M:%S'), code $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- server sync 2>/dev/null || echo ' (+ uncommitted changes in server/ or sync/)')"
    echo "machine:  $(nproc) CPUs${CPU_MODEL:+ ($CPU_MODEL)}, $(free -g | awk '/^Mem:/ {print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "database: $DB_LINE${ID_INDEX_LINE:+, $ID_INDEX_LINE}, local; data set $USERS users x $FOLLOWS follows = $((USERS * FOLLOWS)) follows, $TWEETS tweets in $SHARDS shards"
    echo "          loaded: $LOAD_LINE"
    echo "servers:  2 chorusd (Release, --threads $SERVER_THREADS${SERVER_URI_OPTS:+, URI options $SERVER_URI_OPTS}${BENCH_TP_SERVER_ARGS:+, $BENCH_TP_SERVER_ARGS}); wrk: 2 processes x $PER_PROC connections x $WRK_THREADS threads, ${DURATION} s per phase after ${WARMUP} s of warm-up, --timeout ${TIMEOUT}s, $SESSIONS users' sessions"
    [[ -n "$NGINX_NOTE" ]] && echo "note:     $NGINX_NOTE"
    echo
    python3 - "$RESULTS" "$DB_KIND" <<'EOF'
import os, re, sys
db = sys.argv[2]
rows = []
for line in open(sys.argv[1]):
    r = {}
    for m in re.finditer(r'(\w+)=(\[[^\]]*\]|\S+)', line):
        r[m.group(1)] = m.group(2)
    for k in ("wrk0", "wrk1"):
        d = {}
        for kv in r.get(k, "[]").strip("[]").split(";"):
            if "=" in kv:
                a, b = kv.split("=", 1)
                d[a] = b
        r[k] = d
    rows.append(r)

TARGET = {"feed": (5000, 20), "timeline": (10000, None), "create": (1000, 30),
          "healthz": (None, None), "me": (None, None)}
def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
def f(v, digits=1):
    return "-" if v is None else f"{v:,.{digits}f}"

head = ["mode", "phase", "req/s", "2xx/s", "p50 ms", "p99 ms", "max ms", "answers",
        "non-2xx (status:count)", "socket errors", "unanswered at end", "idle probe ms",
        "target", "met?"]
table = []
notes = []
for r in rows:
    w = [r["wrk0"], r["wrk1"]]
    el = [num(x.get("duration_s")) or 0 for x in w]
    # Answers by status as the Lua response() counted them, per process.
    def counts(x):
        return [(s, int(c)) for s, c in (kv.split(":") for kv in x.get("statuses", "-").split(",") if ":" in kv)]
    statuses = {}
    for x in w:
        for s, c in counts(x):
            statuses[s] = statuses.get(s, 0) + c
    reqs = sum(statuses.values())
    rps = sum(sum(c for _, c in counts(x)) / d for x, d in zip(w, el) if d)
    ok_rps = sum(sum(c for s, c in counts(x) if s.startswith("2")) / d for x, d in zip(w, el) if d)
    p50 = [num(x.get("p50_ms")) for x in w]
    p99 = [num(x.get("p99_ms")) for x in w]
    mx = [num(x.get("max_ms")) for x in w]
    pick = lambda v: max([a for a in v if a is not None], default=None)
    non2 = ",".join(f"{s}:{c}" for s, c in sorted(statuses.items()) if not s.startswith("2")) or "0"
    sock = sum(int(x.get(k, 0)) for x in w for k in ("connect", "read", "write"))
    tmo = sum(int(x.get("timeout", 0)) for x in w)
    inflight = sum(int(x.get("in_flight", 0)) for x in w)
    sent = sum(int(x.get("sent", 0)) for x in w)
    rate_t, p99_t = TARGET[r["phase"].split("@")[0]]
    if "@" in r["phase"]:
        late = sum(int(x.get("late", 0)) for x in w)
        notes.append(f"{r['mode']} {r['phase']}: {f(ok_rps, 0)} of the {int(r['phase'].split('@')[1]):,} requests/s offered answered with 2xx; "
                     f"{late} of {sent} requests were sent more than 1 ms after their slot (no connection free: their wait is not in the latency)")
    p99v = pick(p99)
    if rate_t is None:
        met, tgt = None, "(none)"
    else:
        met = ok_rps >= rate_t and (p99_t is None or (p99v is not None and p99v < p99_t))
        tgt = f">= {rate_t:,}/s" + (f", p99 < {p99_t} ms" if p99_t else "")
    probes = r.get("probes", "-").replace(",", " ")
    table.append([r["mode"], r["phase"], f(rps, 2), f(ok_rps, 2), f(pick(p50)), f(p99v), f(pick(mx)),
                  str(reqs), non2, f"{sock}" + (f" (+timeouts {tmo})" if tmo else ""),
                  f"{inflight} of {sent}", probes, tgt, "-" if met is None else "met" if met else "MISSED"])
w_ = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)] if table else [len(h) for h in head]
line = lambda cells: "| " + " | ".join(c.ljust(w_[i]) if i < 2 else c.rjust(w_[i]) for i, c in enumerate(cells)) + " |"
print(line(head))
print("|" + "|".join(("-" * (x + 2)) if i < 2 else ("-" * (x + 1) + ":") for i, x in enumerate(w_)) + "|")
for t in table:
    print(line(t))
print()
print("req/s counts every answer, 2xx/s only successful ones (the targets use 2xx/s);")
print("p50/p99/max are wrk's, over every answer of both wrk processes (the larger of")
print("the two processes' figures, an upper bound for the two together). 'unanswered")
print("at end' are requests sent that had no answer when wrk stopped. 'idle probe' is")
print("status:ms of single requests to server a before the load (none through nginx).")
print("A phase PHASE@RATE offered RATE requests/s on an even schedule (its p50/p99 are")
print("the latency at that load); the others sent as fast as answers came back.")
print()
for n_ in notes:
    print(n_)
if notes:
    print()
pr = [r for r in rows if "probe_db_cpu_s" in r]
if pr:
    print("Idle probes (one request at a time to server a, before the load): the answer, and")
    print("the database's CPU per request beyond what the idle servers' polling costs it;")
    print("2 cores / that CPU is the most such requests per second this database could serve.")
    print()
    print(f"| phase | status:ms | database CPU-s per request | idle database CPU % | ceiling, requests/s on {os.cpu_count()} cores |")
    print("|---|---|---:|---:|---:|")
    for r in pr:
        c = num(r.get("probe_db_cpu_s"))
        ceil = f"{os.cpu_count() / c:,.2f}" if c else "-"
        print(f"| {r['phase']} | {r.get('probes', '-').replace(',', ' ')} | {f(c, 2)} | {r.get('idle_db_pct', '?')} | {ceil} |")
    print()

print(f"CPU during each phase, % of one core (the machine has {100 * os.cpu_count()}; \"of it stolen\": time the hypervisor ran someone else on this VM's CPUs), and memory after it:")
head2 = ["mode", "phase", f"{db} idle before", "chorusd a", "chorusd b", db, "nginx", "machine", "of it stolen", "load avg start -> end",
         "VmRSS a / b MB", "VmHWM a / b MB", f"VmRSS {db} MB", "VmRSS nginx MB"]
t2 = []
mb = lambda v: "?" if num(v) is None else f"{num(v) / 1024:.0f}"
for r in rows:
    t2.append([r["mode"], r["phase"], r.get("idle_db_pct", "?"), r.get("cpu_a", "?"), r.get("cpu_b", "?"),
               r.get("cpu_" + db, "?"), r.get("cpu_nginx", "-"), r.get("cpu_machine", "?"), r.get("cpu_steal", "?"),
               r.get("load_start", "?").replace(",", " ") + " -> " + r.get("load_end", "?").replace(",", " "),
               f"{mb(r.get('rss_a'))} / {mb(r.get('rss_b'))}", f"{mb(r.get('hwm_a'))} / {mb(r.get('hwm_b'))}",
               mb(r.get("rss_db")), mb(r.get("rss_nginx")) if "rss_nginx" in r else "-"])
w2 = [max(len(h), *(len(t[i]) for t in t2)) for i, h in enumerate(head2)] if t2 else [len(h) for h in head2]
print("| " + " | ".join(h.ljust(w2[i]) for i, h in enumerate(head2)) + " |")
print("|" + "|".join("-" * (x + 2) for x in w2) + "|")
for t in t2:
    print("| " + " | ".join(c.ljust(w2[i]) for i, c in enumerate(t)) + " |")
EOF
} | tee "$SUMMARY"
say "summary saved in var/bench-run/tp-last-summary.txt (raw: tp-results.txt, tp-wrk-*.out, tp-load.out)"
