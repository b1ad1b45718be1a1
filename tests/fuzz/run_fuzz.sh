#!/bin/bash
# run_fuzz.sh — builds tests/fuzz/fuzz_trace.c with clang and libFuzzer (ASan,
# UBSan, leak detection) over report/trace_read.c and report/replay.c, seeds it
# with real traces recorded on the spot (plus truncated, bit-flipped and
# raw-record variants, see make_seeds.c) and fuzzes for FUZZ_SECONDS.
#
# Usage: run_fuzz.sh SOURCE_ROOT BUILD_ROOT   (meson passes both)
# Environment: FUZZ_SECONDS   how long to fuzz (default 60)
#              FUZZ_COVERAGE  1: afterwards, print the line coverage the
#                             corpus reaches in trace_read.c and replay.c
#              CC_FUZZ        the clang to use (default clang)
# Exit 0 no crash, leak or hang; 1 one was found (the reproducer's path is
# printed); 77 skipped (clang, libFuzzer or a sanitizer runtime is missing).
#
# Work files live in BUILD_ROOT/fuzz: the binaries, the corpus (kept between
# runs, so local runs build on each other) and artifacts/ (reproducers).
set -u
src=${1:?usage: run_fuzz.sh SOURCE_ROOT BUILD_ROOT}
build=${2:?usage: run_fuzz.sh SOURCE_ROOT BUILD_ROOT}
seconds=${FUZZ_SECONDS:-60}
clang=${CC_FUZZ:-clang}
src=$(cd "$src" && pwd) && build=$(cd "$build" && pwd) || exit 1
work=$build/fuzz

skip() {
	echo "fuzz_trace_reader: skipped: $*"
	exit 77
}

command -v "$clang" >/dev/null || skip "$clang not found (Debian: apt-get install clang)"
mkdir -p "$work/artifacts" "$work/corpus" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# -fsanitize=fuzzer needs libclang_rt.fuzzer and the sanitizers' runtimes: on
# Debian 12 libclang-rt-14-dev, only recommended by clang-14, with
# libfuzzer-14-dev.  Probe with an empty target rather than guess paths.
# shellcheck disable=SC2054 # one flag, its commas are clang's
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$tmp/probe.c"
"$clang" "${san[@]}" "$tmp/probe.c" -o "$tmp/probe" 2>"$tmp/probe.err" ||
	skip "$clang cannot link -fsanitize=fuzzer,address,undefined (Debian: apt-get install libfuzzer-14-dev libclang-rt-14-dev): $(head -1 "$tmp/probe.err")"

zstd_flags=$(pkg-config --cflags --libs libzstd 2>/dev/null) || zstd_flags=-lzstd
inc=(-I"$src/common" -I"$src/report")
reader=("$src/report/trace_read.c" "$src/report/replay.c")
defs=(-D_GNU_SOURCE -DHEAPLINE_VERSION='"fuzz"')

echo "fuzz: building $work/fuzz_trace"
# shellcheck disable=SC2086 # zstd_flags is a word list
"$clang" -g -O1 "${san[@]}" "${defs[@]}" "${inc[@]}" \
	"$src/tests/fuzz/fuzz_trace.c" "${reader[@]}" $zstd_flags -o "$work/fuzz_trace" || exit 1
# shellcheck disable=SC2086
"$clang" -g -O1 "${defs[@]}" "${inc[@]}" "$src/tests/fuzz/make_seeds.c" $zstd_flags \
	-o "$work/make_seeds" || exit 1

# Real traces: the examples (threads, a big block, modules coming and going,
# a fork) and a real program's, many stacks and modules.
heapline=$build/report/heapline
ex=$build/examples
[ -x "$heapline" ] || { echo "FAIL: $heapline not built"; exit 1; }
record() {
	local name=$1
	shift
	[ -x "$1" ] || { echo "fuzz: no $1, not a seed"; return; }
	"$heapline" run -q -o "$tmp/traces/$name.%p.hlt" -- "$@" >/dev/null 2>"$tmp/$name.err" ||
		{ echo "fuzz: heapline run $name failed:"; cat "$tmp/$name.err"; }
}
mkdir -p "$tmp/traces" "$tmp/seeds"
record basic "$ex/basic"
record threads_xfree "$ex/threads_xfree" 2000 2000
record mp_example "$ex/mp_example"
record dlopen_user "$ex/dlopen_user" "$ex/libdlalloc.so"
record forker "$ex/forker"
HEAPLINE_LEAK_SCAN=1 record leak_scan "$ex/basic" # LEAKS records
record ls "$(command -v ls)" -l "$src"
traces=("$tmp"/traces/*.hlt)
[ -e "${traces[0]}" ] || { echo "FAIL: no trace recorded to seed the fuzzer"; exit 1; }
"$work/make_seeds" "$tmp/seeds" "${traces[@]}" || exit 1
echo "fuzz: ${#traces[@]} traces, $(find "$tmp/seeds" -type f | wc -l) seeds," \
	"$(find "$work/corpus" -type f | wc -l) inputs kept from earlier runs"

# libFuzzer's own exit code for a finding is 77, our "skipped": make it 1.
# The first corpus folder receives what the run finds.
echo "fuzz: fuzzing for $seconds s (log: $work/fuzz.log)"
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$work/fuzz_trace" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-detect_leaks=1 -max_len=65536 -dict="$src/tests/fuzz/trace.dict" \
	-error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" "$tmp/seeds" >"$work/fuzz.log" 2>&1
rc=$?
grep -aE '^(INFO: seed corpus|#[0-9]+[[:space:]]+(INITED|DONE))|^stat::' "$work/fuzz.log"

if ((rc != 0)); then
	echo "FAIL: the fuzzer found a problem (exit $rc); the end of its log:"
	tail -n 60 "$work/fuzz.log"
	repro=$(grep -o 'Test unit written to .*' "$work/fuzz.log" | tail -1 | sed 's/Test unit written to //')
	if [ -n "$repro" ]; then
		echo "reproducer: $repro"
		echo "  rerun:         $work/fuzz_trace $repro"
		echo "  as a trace:    HL_FUZZ_SAVE=repro.hlt $work/fuzz_trace $repro;" \
			"$heapline report repro.hlt"
	fi
	exit 1
fi

if [ "${FUZZ_COVERAGE:-0}" = 1 ]; then
	# Line coverage of the reader by everything the corpus holds, from a
	# source-based coverage build run once over it (no fuzzing).
	prof=(-fprofile-instr-generate -fcoverage-mapping)
	ver=$("$clang" -dumpversion | cut -d. -f1)
	profdata=$(command -v "llvm-profdata-$ver" || command -v llvm-profdata)
	cov=$(command -v "llvm-cov-$ver" || command -v llvm-cov)
	# shellcheck disable=SC2086
	if [ -n "$profdata" ] && [ -n "$cov" ] &&
		"$clang" -g -O1 -fsanitize=fuzzer "${prof[@]}" "${defs[@]}" "${inc[@]}" \
			"$src/tests/fuzz/fuzz_trace.c" "${reader[@]}" $zstd_flags -o "$work/fuzz_trace_cov"; then
		LLVM_PROFILE_FILE="$tmp/cov.profraw" "$work/fuzz_trace_cov" -runs=0 \
			"$work/corpus" "$tmp/seeds" >/dev/null 2>&1
		"$profdata" merge -sparse "$tmp/cov.profraw" -o "$tmp/cov.profdata" &&
			"$cov" report "$work/fuzz_trace_cov" -instr-profile="$tmp/cov.profdata" \
				"${reader[@]}"
	else
		echo "fuzz: no coverage report (llvm-profdata / llvm-cov missing)"
	fi
fi
echo "fuzz: no crash, leak or hang in $seconds s"
exit 0
