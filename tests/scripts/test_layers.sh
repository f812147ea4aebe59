#!/usr/bin/env bash
# The layer rule of docs/ARCHITECTURE.md, checked on the source tree:
#
#   - every folder of sync/ and server/ that holds C files has a README.md
#     with exactly one line "May include: <folder>, <folder>" (or
#     "May include: nothing of ours");
#   - every #include "…" names its folder from the top of the tree, and a
#     file includes only from its own folder and the folders its README
#     allows;
#   - the allowed folders form no cycle, so "below" is well defined;
#   - sync/ never includes server/, the HTTP transport never includes the
#     read model, and nothing in server/ names the 2PC's lock field.
#
# It first runs the same check on small trees made to break each rule and
# fails unless every one of them is caught, so the check itself is tested.
#
#   tests/scripts/test_layers.sh [ROOT]   (default: the repository)
set -euo pipefail

ROOT="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"

# Prints one line per violation of the rules in the tree at $1; returns 0
# when there is none.
check_tree() {
    local root="$1" bad=0
    local -A allowed=()
    local folders=() dir rel line list f inc incdir

    while IFS= read -r dir; do
        folders+=("${dir#"$root"/}")
    done < <(find "$root/sync" "$root/server" -type f \( -name '*.c' -o -name '*.h' \) \
                  -printf '%h\n' 2>/dev/null | sort -u)

    for rel in "${folders[@]}"; do
        local readme="$root/$rel/README.md"
        if [[ ! -f "$readme" ]]; then
            echo "$rel: no README.md saying what the folder may include"
            bad=1
            continue
        fi
        local n
        n=$(grep -c '^May include: ' "$readme" || true)
        if [[ "$n" != 1 ]]; then
            echo "$rel/README.md: needs exactly one 'May include: ' line (has $n)"
            bad=1
            continue
        fi
        line=$(grep '^May include: ' "$readme")
        list="${line#May include: }"
        list="${list%.}"
        allowed[$rel]=""
        if [[ "$list" != "nothing of ours" ]]; then
            local item
            IFS=',' read -ra items <<<"$list"
            for item in "${items[@]}"; do
                item="${item//[[:space:]]/}"
                item="${item//\`/}"
                if [[ ! -d "$root/$item" ]]; then
                    echo "$rel/README.md: may include '$item', which is not a folder"
                    bad=1
                fi
                allowed[$rel]+=" $item "
            done
        fi
    done

    # Every include against its file's folder.
    for rel in "${folders[@]}"; do
        for f in "$root/$rel"/*.c "$root/$rel"/*.h; do
            [[ -f "$f" ]] || continue
            while IFS= read -r inc; do
                if [[ "$inc" != */* ]]; then
                    echo "${f#"$root"/}: #include \"$inc\" does not name its folder"
                    bad=1
                    continue
                fi
                incdir="${inc%/*}"
                if [[ "$incdir" == "$rel" ]]; then
                    continue
                fi
                if [[ "$rel" == sync* && "$incdir" == server* ]]; then
                    echo "${f#"$root"/}: sync/ includes server/ ($inc)"
                    bad=1
                    continue
                fi
                if [[ "$rel" == server/http && "$incdir" == server/readmodel ]]; then
                    echo "${f#"$root"/}: the HTTP transport includes the read model ($inc)"
                    bad=1
                    continue
                fi
                if [[ "${allowed[$rel]-}" != *" $incdir "* ]]; then
                    echo "${f#"$root"/}: includes $inc, but $rel/README.md does not allow $incdir"
                    bad=1
                fi
            done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
        done
    done

    # The lock field of the two-phase commit stays inside sync/.
    local leak
    leak=$(grep -rlE 'TXN_LOCK_FIELD|"_txn' "$root/server" --include='*.c' --include='*.h' 2>/dev/null || true)
    if [[ -n "$leak" ]]; then
        while IFS= read -r f; do
            echo "${f#"$root"/}: names the 2PC's lock field (it belongs to sync/)"
        done <<<"$leak"
        bad=1
    fi

    # No cycle among the allowed folders (depth-first search).
    local -A state=()
    local cycle=""
    visit() {
        local node="$1" next
        state[$node]=active
        for next in ${allowed[$node]-}; do
            [[ -n "${allowed[$next]+x}" ]] || continue
            if [[ "${state[$next]-}" == active ]]; then
                cycle="$next ... $node -> $next"
                return 1
            fi
            if [[ -z "${state[$next]-}" ]]; then
                visit "$next" || return 1
            fi
        done
        state[$node]=done
    }
    for rel in "${!allowed[@]}"; do
        if [[ -z "${state[$rel]-}" ]] && ! visit "$rel"; then
            echo "the May include lines form a cycle: $cycle"
            bad=1
            break
        fi
    done
    return "$bad"
}

# A small tree that keeps every rule; each case below breaks one.
make_fixture() {
    local t="$1"
    mkdir -p "$t/sync/base" "$t/sync/txn" "$t/server/http" "$t/server/readmodel" "$t/server/api"
    printf '# base\nMay include: nothing of ours\n' >"$t/sync/base/README.md"
    printf '# txn\nMay include: sync/base\n' >"$t/sync/txn/README.md"
    printf '# http\nMay include: sync/base\n' >"$t/server/http/README.md"
    printf '# readmodel\nMay include: sync/base, sync/txn\n' >"$t/server/readmodel/README.md"
    printf '# api\nMay include: sync/base, server/http, server/readmodel\n' >"$t/server/api/README.md"
    printf '#include <stdio.h>\n' >"$t/sync/base/error.h"
    printf '#include "sync/base/error.h"\n' >"$t/sync/txn/txn.h"
    printf '#include "sync/base/error.h"\n' >"$t/server/http/http.h"
    printf '#include "sync/txn/txn.h"\n' >"$t/server/readmodel/model.h"
    printf '#include "server/http/http.h"\n#include "server/readmodel/model.h"\n' >"$t/server/api/api.c"
}

self_test() {
    local tmp out status=0
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    make_fixture "$tmp/good"
    if ! out=$(check_tree "$tmp/good"); then
        echo "self-test: a tree that keeps the rules was refused:"
        echo "$out"
        return 1
    fi
    local -A cases=(
        [upward]='printf "#include \"server/api/api.h\"\n" >>"$t/server/http/http.h"'
        [sync_to_server]='printf "# sync\nMay include: server/http\n" >"$t/sync/txn/README.md"; printf "#include \"server/http/http.h\"\n" >>"$t/sync/txn/txn.h"'
        [transport_to_readmodel]='printf "# http\nMay include: sync/base, server/readmodel\n" >"$t/server/http/README.md"; printf "#include \"server/readmodel/model.h\"\n" >>"$t/server/http/http.h"'
        [bare_include]='printf "#include \"txn.h\"\n" >>"$t/server/readmodel/model.h"'
        [no_readme]='rm "$t/server/api/README.md"'
        [cycle]='printf "# base\nMay include: sync/txn\n" >"$t/sync/base/README.md"'
        [lock_field]='printf "#define F \"_txn\"\n" >>"$t/server/api/api.c"'
    )
    local name t
    for name in "${!cases[@]}"; do
        t="$tmp/$name"
        make_fixture "$t"
        eval "${cases[$name]}"
        if out=$(check_tree "$t"); then
            echo "self-test: case '$name' broke a rule and was not caught"
            status=1
        fi
    done
    return "$status"
}

if ! self_test; then
    echo "test_layers: the check itself is broken"
    exit 1
fi
if ! out=$(check_tree "$ROOT"); then
    echo "$out"
    echo "test_layers: $(printf '%s\n' "$out" | wc -l) violation(s) of the layer rule (docs/ARCHITECTURE.md)"
    exit 1
fi
echo "test_layers: every include keeps the layer rule"
