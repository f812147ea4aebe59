#!/usr/bin/env bash
# Chorus: an upper bound for tweet creation on this machine's database --
# what bench/run-sync-bench.sh measures, with a chorusd that skips the
# writes a creation's commit protocol makes.
#
#   bench/run-bound.sh
#
# Copies the working tree (the files git tracks, as they are now) into
# var/bench-bound/src, applies the patches of bench/bound/ named by
# BENCH_BOUND_PATCHES, builds that chorusd (Release) and runs
# bench/run-sync-bench.sh with it (BENCH_CHORUSD), so every figure comes
# beside the raw insert rate of the same database, as the real one does.
#
#   no-commit    a group of creations writes no open markers, records,
#                decisions or outbox and folds no counts: what is left is
#                each tweet's insert (one command per shard a group
#                touches) and its event's publication (bells, log
#                copies).  The answer still waits for the tweet's insert.
#   no-log-copy  the publication inserts no log copies either (bells only).
#
# This chorusd is a measuring device, not a product: it keeps no count,
# survives no crash, and stages the increments of replies, likes and
# follows forever (the benchmark only posts plain tweets).  What it shows
# is how far a commit protocol, however cheap, could take creation on
# this database: docs/PERFORMANCE.md, "The bound without a commit".
#
# Environment:
#   BENCH_BOUND_PATCHES="no-commit"   patches of bench/bound/ (without .patch)
#   every BENCH_* setting of bench/run-sync-bench.sh (BENCH_CONFIGS,
#   BENCH_DURATION, BENCH_RAW_S, ...), passed on.
#
# Exits non-zero when a patch no longer applies (the code it changes
# moved: mend the patch) or the build fails; else as run-sync-bench.sh.
set -euo pipefail

LIB_TAG="[bound]"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bench_args "$@"

PATCHES="${BENCH_BOUND_PATCHES:-no-commit}"
SRC="$ROOT/var/bench-bound/src"

bash "$ROOT/scripts/deps.sh"
rm -rf "$SRC"
mkdir -p "$SRC"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$SRC"
for p in $PATCHES; do
    f="$ROOT/bench/bound/$p.patch"
    [[ -f "$f" ]] || { err "no patch bench/bound/$p.patch"; exit 2; }
    if ! patch -p1 -s -d "$SRC" --dry-run <"$f" >/dev/null; then
        err "bench/bound/$p.patch does not apply to this tree any more"
        exit 1
    fi
    patch -p1 -s -d "$SRC" <"$f"
    say "applied bench/bound/$p.patch"
done
say "building the bound's chorusd (var/bench-bound/src/build, Release)"
cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=Release -DCHORUS_TESTS=OFF >/dev/null
cmake --build "$SRC/build" -j2 --target chorusd
say "measuring a chorusd with: $PATCHES (a bound, not a product figure)"
BENCH_CHORUSD="$SRC/build/bin/chorusd" exec bash "$ROOT/bench/run-sync-bench.sh"
