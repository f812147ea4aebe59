#!/usr/bin/env bash
# Chorus: give FerretDB's SQLite tables an `_id` index that its lookups use.
#
#   scripts/ferretdb-id-index.sh once FILE.sqlite...
#       index every collection table of these FerretDB database files now
#   scripts/ferretdb-id-index.sh watch DATA_DIR PID
#       every second, index the new tables of the files in DATA_DIR that
#       changed since the last look, until process PID (FerretDB) exits
#   scripts/ferretdb-id-index.sh drop FILE.sqlite...
#       remove these indexes again (FerretDB stopped), to measure without
#
# Why (docs/DATABASE.md, "The _id index FerretDB v1 does not use"): FerretDB
# v1.24.2's SQLite backend pushes a filter that is exactly {_id: <string or
# ObjectId>} down as `WHERE _ferretdb_sjson->'$._id' = ?`, but the unique
# index it creates for `_id` is on `_ferretdb_sjson->"_id"`. SQLite uses an
# expression index only for the same expression, so every lookup, update
# and delete by `_id` scans its whole table (EXPLAIN QUERY PLAN: "SCAN").
# This script adds, to each collection's table, the index the pushed-down
# query can use:
#
#   CREATE INDEX "<table>__chorus_id_lookup" ON "<table>" (_ferretdb_sjson->'$._id')
#
# It changes no document and no answer (an index is an access path; `_id`
# stays unique through FerretDB's own index). FerretDB does not list it
# (listIndexes reads FerretDB's metadata) and drops it with its table.
# scripts/mongo-setup.sh runs `once` on the existing files before it starts
# FerretDB and `watch` while FerretDB runs (collections are created at any
# time); with CHORUS_FERRETDB_ID_INDEX=0 it runs `drop` instead.
# Files are opened with mode=rw: a database FerretDB has just dropped (its
# file removed) is never created again by this script.  (Left: a drop in
# the milliseconds while this script has the file open; SQLite then works
# on the removed file and deletes its own -wal/-shm when it closes.)
set -uo pipefail

source "$(dirname "$0")/lib.sh"

SUFFIX="__chorus_id_lookup"

# missing_tables FILE: the tables of one file that lack the index, one a line.
missing_tables() {
    sqlite3 -batch -noheader "file:$1?mode=rw" \
        ".timeout 30000" \
        "SELECT c.table_name FROM _ferretdb_collections AS c
          WHERE NOT EXISTS (SELECT 1 FROM sqlite_master AS m
                             WHERE m.type = 'index' AND m.tbl_name = c.table_name
                               AND m.name = c.table_name || '$SUFFIX');" 2>/dev/null
}

# index_file FILE: indexes the tables of one file that lack it, one
# statement (and one short write lock) per table. Prints how many were
# indexed; a table dropped meanwhile is skipped.
index_file() {
    local f="$1" t q n=0
    [[ -f "$f" ]] || { echo 0; return 0; }
    while IFS= read -r t; do
        [[ -n "$t" ]] || continue
        q="${t//\"/\"\"}"
        if sqlite3 -batch "file:$f?mode=rw" ".timeout 30000" \
            "CREATE INDEX IF NOT EXISTS \"$q$SUFFIX\" ON \"$q\" (_ferretdb_sjson->'\$._id');" \
            >/dev/null 2>&1; then
            n=$((n + 1))
        fi
    done < <(missing_tables "$f")
    echo "$n"
}

# stamp FILE: the modification times of FILE and its WAL.
stamp() {
    stat -c '%y' "$1" "$1-wal" 2>/dev/null | tr '\n' ' '
}

# cmd_once FILE...: indexes the tables of these files now.
cmd_once() {
    local f n total=0
    for f in "$@"; do
        n="$(index_file "$f")"
        total=$((total + n))
    done
    [[ $total -gt 0 ]] && say "FerretDB: indexed _id lookups of $total table(s) (scripts/ferretdb-id-index.sh)"
    return 0
}

# cmd_drop FILE...: removes the indexes this script made.
cmd_drop() {
    local f t q total=0
    for f in "$@"; do
        [[ -f "$f" ]] || continue
        while IFS= read -r t; do
            [[ -n "$t" ]] || continue
            q="${t//\"/\"\"}"
            sqlite3 -batch "file:$f?mode=rw" ".timeout 30000" "DROP INDEX IF EXISTS \"$q\";" >/dev/null &&
                total=$((total + 1))
        done < <(sqlite3 -batch -noheader "file:$f?mode=rw" \
                     "SELECT name FROM sqlite_master WHERE type = 'index' AND substr(name, -length('$SUFFIX')) = '$SUFFIX';")
    done
    [[ $total -gt 0 ]] && say "FerretDB: removed $total _id lookup index(es) (CHORUS_FERRETDB_ID_INDEX=0)"
    return 0
}

# cmd_watch DATA_DIR PID: indexes new tables every second until PID exits.
cmd_watch() {
    local dir="$1" pid="$2" f s n
    declare -A seen=()
    while kill -0 "$pid" 2>/dev/null; do
        for f in "$dir"/*.sqlite; do
            [[ -f "$f" ]] || continue
            s="$(stamp "$f")"
            [[ "${seen[$f]:-}" == "$s" ]] && continue
            n="$(index_file "$f")"
            [[ "$n" -gt 0 ]] && say "$(date '+%H:%M:%S') indexed _id lookups of $n table(s) in $(basename "$f")"
            seen[$f]="$s"
        done
        sleep 1
    done
}

if ! command -v sqlite3 >/dev/null 2>&1; then
    err "sqlite3 not found (Debian package sqlite3; scripts/deps.sh installs it)"
    exit 1
fi
case "${1:-}" in
    once) shift; cmd_once "$@" ;;
    drop) shift; cmd_drop "$@" ;;
    watch) [[ $# -eq 3 ]] || { err "usage: $0 watch DATA_DIR PID"; exit 2; }; cmd_watch "$2" "$3" ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
