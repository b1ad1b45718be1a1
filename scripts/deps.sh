#!/bin/bash
# deps.sh — installs the Debian packages heapline needs that are missing.
# Usage: scripts/deps.sh [build|test|bench]   (default: build)
# Runs apt-get only when something is missing; needs root for that.
set -euo pipefail

build_pkgs=(gcc g++ meson ninja-build pkg-config libunwind-dev uthash-dev libdw-dev libelf-dev libzstd-dev libiberty-dev)
test_pkgs=(python3 perl valgrind binutils clang libfuzzer-14-dev libclang-rt-14-dev chromium)
bench_pkgs=(heaptrack python3 perl time)

want=("${build_pkgs[@]}")
case "${1:-build}" in
build) ;;
test) want+=("${test_pkgs[@]}") ;;
bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	echo "deps: installing ${missing[*]}" >&2
	SUDO=()
	[ "$(id -u)" = 0 ] || SUDO=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	"${SUDO[@]}" apt-get update -qq
	"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
