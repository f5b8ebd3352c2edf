#!/bin/sh
# The test command.
#   sh scripts/test.sh           the full suite (what CI runs, `.ci/run`): installs
#                                what it needs, checks the C formatting, builds
#                                nodeherd normally and with ASan+UBSan (warnings
#                                are errors), runs every ctest test in both trees,
#                                then the fuzz tree; about 10 minutes on 2 cores
#   sh scripts/test.sh --quick   the edit-compile-test loop: no package installation,
#                                the formatting check, the normal tree only
#                                (build/normal), the unit tests only (-L unit);
#                                well under a minute once built
#   sh scripts/test.sh --print [--quick]   print the steps instead of running them
#   NH_CTEST_ARGS="-L config"    extra ctest arguments (with --quick: after -L unit)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

quick=0
print=0
for a in "$@"; do
    case "$a" in
    --quick) quick=1 ;;
    --print) print=1 ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "scripts/test.sh: unknown argument \"$a\"; try --help" >&2
        exit 2
        ;;
    esac
done

# Runs a step, or with --print only shows it. quiet_step: its stdout discarded.
step() {
    if [ "$print" = 1 ]; then
        echo "+ $*"
    else
        "$@"
    fi
}
quiet_step() {
    if [ "$print" = 1 ]; then
        echo "+ $*"
    else
        "$@" >/dev/null
    fi
}

jobs=$(nproc 2>/dev/null || echo 2)
run_tree() { # name ctest-args cmake-args...
    name=$1
    ctest_args=$2
    shift 2
    [ "$print" = 1 ] || echo "=== build: $name"
    quiet_step cmake -S "$top" -B "$top/build/$name" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNH_WERROR=ON "$@"
    step cmake --build "$top/build/$name" -j "$jobs"
    [ "$print" = 1 ] || echo "=== test: $name"
    # shellcheck disable=SC2086 # word splitting of the argument lists is wanted
    step ctest --test-dir "$top/build/$name" --output-on-failure -j "$jobs" $ctest_args ${NH_CTEST_ARGS:-}
}

if [ "$quick" = 1 ]; then
    step sh scripts/check-format.sh
    run_tree normal "-L unit"
    [ "$print" = 1 ] || echo "=== quick: unit tests passed in build/normal (the full suite: sh scripts/test.sh)"
    exit 0
fi

step sh scripts/deps.sh
step sh scripts/check-format.sh
run_tree normal ""
run_tree sanitize "" -DNH_SANITIZE=ON

# Fuzz tree (clang + libFuzzer): every fuzz_<what> target runs over its seed
# corpus for NH_FUZZ_SECONDS (docs/reliability.md has the long runs).
[ "$print" = 1 ] || echo "=== build: fuzz"
quiet_step cmake -S "$top" -B "$top/build/fuzz" -DCMAKE_C_COMPILER=clang -DNH_FUZZ=ON -DNH_WERROR=ON \
    -DNH_FUZZ_SECONDS="${NH_FUZZ_SECONDS:-20}"
step cmake --build "$top/build/fuzz" -j "$jobs" --target fuzz_config fuzz_providers fuzz_sign fuzz_journal \
    fuzz_kubeconfig fuzz_kube fuzz_opcodec
[ "$print" = 1 ] || echo "=== test: fuzz"
step ctest --test-dir "$top/build/fuzz" --output-on-failure -L fuzz
[ "$print" = 1 ] || echo "=== all tests passed (normal, sanitizer and fuzz builds)"
