#!/bin/bash
# bench/callgrind.sh — what heapline costs a recorded event, in instructions.
#
# Usage: bench/callgrind.sh [--build DIR] [--keep]
#   --build DIR  heapline build directory (default: <repo>/build)
#   --keep       keep the temporary directory (programs, traces, callgrind files)
#
# Wall time on a shared machine moves ±15% from run to run; instruction
# counts do not.  Each case runs under valgrind's callgrind twice, plain and
# with libheapline.so preloaded, with one output file per thread:
#   a  the bench's synthetic program, 200k malloc/free pairs, ~8 frames
#   b  the same under ~40 frames, 100k pairs
#   d  PYTHONMALLOC=malloc python3, a 30k-entry dict (PYTHONHASHSEED=0)
#   e  perl, a 40k-entry hash of arrays, sorted (PERL_HASH_SEED=0)
# and the table gives, per event (allocations + frees, from the trace), the
# instructions the program's own thread spends more than plain: the hooks,
# the unwinder, the ring (what the program waits for).  The writer thread is
# left out: under callgrind the program runs ~50x slower, so its 50 ms
# blocks hold ~50x fewer events and the per-block work (indexing each
# block's 1 MiB prefix) swamps the per-event work.  Output: the table on
# stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
repo=$(dirname "$here")
build=$repo/build
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) bench_help; exit 0 ;;
	*) echo "bench/callgrind.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
done
bench_need_build bench/callgrind.sh "$build"
command -v valgrind >/dev/null || { echo "bench/callgrind.sh: valgrind is not installed" >&2; exit 2; }
python=$(python3 -c 'import sys; print(sys.executable)')

bench_workdir heapline-callgrind $keep
bench_snapshot "$build" "$work" # sets lib and heapline
bench_write_alloc_c "$work/alloc.c"
gcc -O2 -fno-optimize-sibling-calls -fno-inline -pthread -o "$work/alloc" "$work/alloc.c"

declare -A label
label[a]="a: 200k pairs, ~8 frames"
label[b]="b: 100k pairs, ~40 frames"
label[d]="d: python3 dict 30k"
label[e]="e: perl hash 40k"

# The interpreters' hash seeds are fixed: the same run every time.
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0
set_case() { # sets cmd for case $1
	case $1 in
	a) cmd=("$work/alloc" 2 200000 0) ;;
	b) cmd=("$work/alloc" 34 100000 0) ;;
	d) cmd=("$python" -c 'd = {str(i): i for i in range(30000)}') ;;
	e) cmd=(perl -e 'my %h; for my $i (1..40000) { $h{"k$i"} = [ $i, "v" x ($i % 50) ] }
	               my @k = sort keys %h; my $s = join(",", @k); print length($s), "\n";') ;;
	esac
}

# Instructions of the program's thread (callgrind's file $1-01).
program_thread() { sed -n 's/^totals: //p' "$1-01"; }

echo "| case | events | plain instructions/event | heapline +instructions/event |"
echo "|---|---:|---:|---:|"
for c in a b d e; do
	set_case $c
	d=$work/$c
	mkdir -p "$d"
	valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$d/plain" \
		"${cmd[@]}" >/dev/null 2>"$d/plain.err"
	LD_PRELOAD=$lib HEAPLINE_OUTPUT=$d/x.%p.hlt valgrind --tool=callgrind --separate-threads=yes \
		--callgrind-out-file="$d/hl" "${cmd[@]}" >/dev/null 2>"$d/hl.err"
	shopt -s nullglob
	traces=("$d"/x.*.hlt)
	shopt -u nullglob
	ev=$(events_of "${traces[@]}")
	awk -v l="${label[$c]}" -v ev="$ev" -v p="$(program_thread "$d/plain")" \
		-v h="$(program_thread "$d/hl")" 'BEGIN {
		printf "| %s | %d | %.0f | %.0f |\n", l, ev, p / ev, (h - p) / ev }'
done
