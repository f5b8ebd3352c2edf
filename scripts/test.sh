#!/bin/sh
# The full test suite: installs what it needs, builds nodeherd normally and
# with AddressSanitizer+UndefinedBehaviorSanitizer (warnings are errors), and
# runs every ctest test in both trees. `.ci/run` calls exactly this.
#   scripts/test.sh            everything
#   NH_CTEST_ARGS="-L unit"    pass extra arguments to ctest
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
sh scripts/deps.sh
sh scripts/check-format.sh

jobs=$(nproc 2>/dev/null || echo 2)
run_tree() { # name cmake-args...
    name=$1; shift
    echo "=== build: $name"
    cmake -S "$top" -B "$top/build/$name" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNH_WERROR=ON "$@" >/dev/null
    cmake --build "$top/build/$name" -j "$jobs"
    echo "=== test: $name"
    (cd "$top/build/$name" && ctest --output-on-failure -j "$jobs" ${NH_CTEST_ARGS:-})
}

run_tree normal
run_tree sanitize -DNH_SANITIZE=ON

# Fuzz tree (clang + libFuzzer): every fuzz_<what> target runs over its seed
# corpus for NH_FUZZ_SECONDS (docs/reliability.md has the long runs).
echo "=== build: fuzz"
cmake -S "$top" -B "$top/build/fuzz" -DCMAKE_C_COMPILER=clang -DNH_FUZZ=ON -DNH_WERROR=ON \
      -DNH_FUZZ_SECONDS="${NH_FUZZ_SECONDS:-20}" >/dev/null
cmake --build "$top/build/fuzz" -j "$jobs" --target fuzz_config fuzz_providers fuzz_sign fuzz_journal \
      fuzz_kubeconfig fuzz_kube
echo "=== test: fuzz"
(cd "$top/build/fuzz" && ctest --output-on-failure -L fuzz)
echo "=== all tests passed (normal, sanitizer and fuzz builds)"
