#!/bin/bash
# test.sh — installs what is missing, builds heapline in a fresh build folder
# and runs the whole test suite.  This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
rm -rf build-test
meson setup build-test >/dev/null
ninja -C build-test
meson test -C build-test --print-errorlogs "$@"
