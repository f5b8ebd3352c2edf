#!/bin/sh
# The demo: builds nodeherd and runs it end to end against the bundled cloud
# emulator (contrib/fakecloud). See README.md.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNH_TESTS=OFF >/dev/null
cmake --build build/demo -j "$(nproc 2>/dev/null || echo 2)" --target nodeherd
exec python3 contrib/demo/demo.py --bin build/demo/daemon/nodeherd "$@"
