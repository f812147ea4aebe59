#!/usr/bin/env bash
# The C code keeps the style of .clang-format: clang-format would change
# nothing in any tracked .c or .h file.  Fix a failure with
#   clang-format -i $(git ls-files '*.c' '*.h')
# The check itself is tested first: a file formatted otherwise must fail.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

if ! command -v clang-format >/dev/null 2>&1; then
    echo "test_format: clang-format is missing (scripts/deps.sh installs it)"
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp .clang-format "$tmp/"
printf 'int  main( void ){return 0;}\n' >"$tmp/bad.c"
if clang-format --dry-run --Werror "$tmp/bad.c" >/dev/null 2>&1; then
    echo "test_format: the check passed a badly formatted file"
    exit 1
fi

mapfile -t files < <(git ls-files '*.c' '*.h')
if ! clang-format --dry-run --Werror "${files[@]}" 2>"$tmp/out"; then
    grep -o '^[^:]*\.[ch]' "$tmp/out" | sort -u | sed 's/^/  not formatted: /'
    echo "test_format: run clang-format -i \$(git ls-files '*.c' '*.h')"
    exit 1
fi
echo "test_format: ${#files[@]} files keep .clang-format"
