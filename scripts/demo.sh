#!/bin/bash
# demo.sh — installs what is missing, builds heapline, profiles an example
# program (examples/mp_example: the memory_profiler example in C) and prints
# the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
out=$(mktemp -d)
build/report/heapline run -o "$out/demo.hlt" -- build/examples/mp_example
build/report/heapline report "$out/demo.hlt"
rm -rf "$out"
