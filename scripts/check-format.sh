#!/bin/sh
# Fails when a C file in the tree differs from what clang-format (the
# project's .clang-format, clang-format 14 on Debian 12) would write.
# Fix with:  sh scripts/check-format.sh --fix
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find daemon tests contrib -name '*.[ch]')
if [ "${1:-}" = "--fix" ]; then
    echo "$files" | xargs clang-format -i
    exit 0
fi
bad=""
for f in $files; do
    clang-format "$f" | cmp -s - "$f" || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "format: these files differ from clang-format's output (run: sh scripts/check-format.sh --fix):" >&2
    for f in $bad; do echo "  $f" >&2; done
    exit 1
fi
echo "format: $(echo "$files" | wc -w) C files match .clang-format"
