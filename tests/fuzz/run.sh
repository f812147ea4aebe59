#!/usr/bin/env bash
# Build the libFuzzer targets and run each for a set time or a set number
# of executions (tests/fuzz/README.md).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      each target SECONDS (60)
#   tests/fuzz/run.sh --runs N [TARGET...]       each target N executions
#   tests/fuzz/run.sh --build-only
#   tests/fuzz/run.sh --list
#
# TARGET is a name of tests/fuzz/CMakeLists.txt (json_body, cursor, ...;
# default: all), one after the other, each in one process.  The build is
# build-fuzz/ (clang, -DCHORUS_FUZZ=ON: ASan, UBSan and libFuzzer).  Each
# target starts from its seed corpus tests/fuzz/corpus/TARGET/ (read, never
# written) and the inputs it found before (build-fuzz/corpus/TARGET/, where
# new ones go); a crash is saved as build-fuzz/crashes/TARGET-crash-* and
# fails the run.  Prints libFuzzer's last status line of each target
# (executions, cov, ft, exec/s) and a summary; the full log of each is
# build-fuzz/logs/TARGET.log.
#
# Environment: CC (default clang-14, else clang), FUZZ_NICE (default 19:
# the runs yield the CPU to everything else).
set -euo pipefail

LIB_TAG="[fuzz]"
source "$(dirname "$0")/../../scripts/lib.sh"
ROOT="$CHORUS_ROOT"
BUILD="$ROOT/build-fuzz"

seconds=60 runs="" build_only=0 targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) lib_usage "$0"; exit 0 ;;
        --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
        --build-only) build_only=1; shift ;;
        --list)
            sed -n 's/^set(CHORUS_FUZZ_TARGETS \(.*\))$/\1/p' "$ROOT/tests/fuzz/CMakeLists.txt" | tr ' ' '\n'
            exit 0 ;;
        [0-9]*) seconds="$1"; shift ;;
        -*) err "unknown option $1"; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
all=($(sed -n 's/^set(CHORUS_FUZZ_TARGETS \(.*\))$/\1/p' "$ROOT/tests/fuzz/CMakeLists.txt"))
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { err "no fuzz target '$t' (targets: ${all[*]})"; exit 2; }
done

if [[ -z "${CC:-}" ]]; then
    if command -v clang-14 >/dev/null 2>&1; then CC=clang-14; else CC=clang; fi
fi
command -v "$CC" >/dev/null 2>&1 || { err "$CC not found (scripts/deps.sh installs clang-14)"; exit 1; }

mkdir -p "$BUILD"
say "building build-fuzz/ ($CC, CHORUS_FUZZ=ON)"
CC="$CC" build_tree "$BUILD" RelWithDebInfo -DCHORUS_FUZZ=ON -DCHORUS_TESTS=OFF -DCHORUS_BENCH=OFF \
    >"$BUILD/build.log" 2>&1 || { cat "$BUILD/build.log" >&2; err "the fuzz build failed"; exit 1; }
[[ $build_only -eq 0 ]] || exit 0

mkdir -p "$BUILD/corpus" "$BUILD/crashes" "$BUILD/logs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
    work="$BUILD/corpus/$t" seeds="$ROOT/tests/fuzz/corpus/$t" log="$BUILD/logs/$t.log"
    mkdir -p "$work"
    limit=(-max_total_time="$seconds")
    [[ -z "$runs" ]] || limit=(-runs="$runs")
    if [[ -n "$runs" ]]; then say "$t: $runs executions"; else say "$t: $seconds s"; fi
    rc=0
    (cd "$BUILD" && nice -n "${FUZZ_NICE:-19}" "$BUILD/bin/fuzz_$t" "$work" "$seeds" \
        "${limit[@]}" -print_final_stats=1 \
        -artifact_prefix="$BUILD/crashes/$t-") >"$log" 2>&1 || rc=$?
    grep -a -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true
    grep -a -E '^stat::number_of_executed_units' "$log" || true
    if [[ $rc -ne 0 ]]; then
        err "$t failed (status $rc); from build-fuzz/logs/$t.log:"
        grep -a -n -A 30 -E 'ERROR: |FUZZ_CHECK|runtime error|==ERROR' "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
        failed+=("$t")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    err "crashes in: ${failed[*]} (inputs in build-fuzz/crashes/)"
    echo "$(( ${#targets[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
    exit 1
fi
say "no crash in ${#targets[@]} targets"
