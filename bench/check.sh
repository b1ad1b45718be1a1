#!/bin/bash
# bench/check.sh — what `heapline check` costs, next to a plain run, to
# `heapline run` on the same program (the goal: within 1.2x of it) and to
# valgrind memcheck with --leak-check=full.
#
# Usage: bench/check.sh [--runs N] [--quick] [--no-valgrind] [--build DIR] [--keep]
#   --runs N       runs per case and tool; the table shows medians (default 3);
#                  memcheck runs once per case (it is the slow one)
#   --quick        a smoke test: 1 run, a tenth of the work
#   --no-valgrind  leave memcheck out
#   --build DIR    heapline build directory (default: <repo>/build)
#   --keep         keep the temporary directory
#
# Cases (every tool runs the same command):
#   a  2M malloc/free pairs (16..528 bytes), then a 100k-node list with a
#      data block per node dropped at exit: 200k blocks for the leak scan
#   b  PYTHONMALLOC=malloc python3 -c 'd = {str(i): i for i in range(300000)}'
#   c  perl building and sorting a 200k-entry hash of arrays
#   d  gcc -O2 -c on a generated ~1800-line C file (driver, cc1, as)
# Tools:
#   plain      the command alone
#   run        heapline run -q -o DIR/t.hlt (records, then reads each trace
#              back for its summary line)
#   check      heapline check --exit-code 0 (records with the leak scan, then
#              judges every trace: classes, stacks, symbols, report)
#   memcheck   valgrind --leak-check=full --show-leak-kinds=all
#              --trace-children=yes
# Timing: wall clock around the whole command, as bench/run.sh does, runs
# interleaved so drift hits every column alike.  Output: a table on stdout
# and the same in bench/check-results.md (overwritten).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
repo=$(dirname "$here")
runs=3
quick=0
keep=0
use_vg=1
build=$repo/build

while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=${2:?--runs needs a number}; shift 2 ;;
	--quick) quick=1; runs=1; shift ;;
	--no-valgrind) use_vg=0; shift ;;
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) bench_help; exit 0 ;;
	*) echo "bench/check.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench/check.sh: --runs needs a positive number" >&2; exit 2; }
command -v valgrind >/dev/null || use_vg=0

bench_need_build bench/check.sh "$build"
python=$(python3 -c 'import sys; print(sys.executable)')

bench_workdir heapline-check-bench $keep
bench_snapshot "$build" "$work" # sets lib and heapline
cp "$build/report/default.supp" "$work/default.supp" 2>/dev/null || : >"$work/default.supp"
export HEAPLINE_LIB=$lib HEAPLINE_DEFAULT_SUPP=$work/default.supp

scale=1
[ $quick -eq 1 ] && scale=10
pairs=$((2000000 / scale))
keepn=$((100000 / scale))
pyn=$((300000 / scale))
pln=$((200000 / scale))

# ---- the programs -------------------------------------------------------------

cat >"$work/live.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NI __attribute__((noinline))
struct node { struct node *next; void *data; };
static uint32_t x = 12345;
static uint32_t rnd(void) { x = x * 1664525u + 1013904223u; return x >> 8; }

NI static void *get(size_t n)
{
	void *p = malloc(n);
	memset(p, 1, n); /* initialised, as real data is */
	return p;
}

/* usage: live PAIRS KEEP */
int main(int argc, char **argv)
{
	long pairs = argc > 1 ? atol(argv[1]) : 2000000, keep = argc > 2 ? atol(argv[2]) : 100000;
	void *slot[256] = {0};
	struct node *head = NULL;

	for (long i = 0; i < pairs; i++) {
		uint32_t r = rnd();
		free(slot[r & 255]);
		slot[r & 255] = get(16 + r % 513);
	}
	for (int i = 0; i < 256; i++)
		free(slot[i]);
	for (long i = 0; i < keep; i++) {
		struct node *n = get(sizeof(*n));
		n->data = get(16 + rnd() % 100);
		n->next = head;
		head = n;
	}
	printf("%p\n", (void *)head); /* the list is lost when main returns */
	return 0;
}
EOF
gcc -O2 -g -o "$work/live" "$work/live.c"

# ~1800 lines of C for cc1 (bench/lib.sh): fewer functions than bench/run.sh's,
# and no floating-point case 2.
bench_write_gen_c "$work/gen.c" 80 no
genlines=$(wc -l <"$work/gen.c")

# ---- cases ---------------------------------------------------------------------

cases=(a b c d)
declare -A label
label[a]="a: $((pairs / 1000))k pairs + $((keepn / 1000))k-node list lost"
label[b]="b: python3 dict $((pyn / 1000))k"
label[c]="c: perl hash $((pln / 1000))k"
label[d]="d: gcc -O2 -c ${genlines} lines"

# Sets cmd (array) and case_env for a case; $1 = case, $2 = output dir.
set_case() {
	case_env=
	case $1 in
	a) cmd=("$work/live" "$pairs" "$keepn") ;;
	b) cmd=("$python" -c "d = {str(i): i for i in range($pyn)}")
	   case_env=PYTHONMALLOC=malloc ;;
	c) cmd=(perl -e 'my %h; for my $i (1..'"$pln"') { $h{"k$i"} = [ $i, "v" x ($i % 50) ] }
	               my @k = sort keys %h; my $s = join(",", @k); print length($s), "\n";') ;;
	d) cmd=(gcc -O2 -c "$work/gen.c" -o "$2/gen.o") ;;
	esac
}

# Runs one case under one tool; prints the wall seconds and the CPU seconds
# (user + system of the whole process tree, from /usr/bin/time; n/a without
# it).  On a busy machine CPU time is the steadier of the two.
have_time=0
[ -x /usr/bin/time ] && have_time=1
run_once() {
	local tool=$1 c=$2 dir=$work/out/$1.$2 t0 t1 cpu=n/a
	local timer=()
	rm -rf "$dir"
	mkdir -p "$dir"
	set_case "$c" "$dir"
	[ $have_time -eq 1 ] && timer=(/usr/bin/time -o "$dir/cpu" -f "%U %S")
	t0=$(date +%s.%N)
	(
		[ -n "$case_env" ] && export "${case_env?}"
		case $tool in
		plain) exec "${timer[@]}" "${cmd[@]}" ;;
		run) exec "${timer[@]}" "$heapline" run -q -o "$dir/t.hlt" "${cmd[@]}" ;;
		check) exec "${timer[@]}" "$heapline" check --exit-code 0 --report "$dir/report.txt" \
			-- "${cmd[@]}" ;;
		memcheck) exec "${timer[@]}" valgrind --leak-check=full --show-leak-kinds=all \
			--trace-children=yes --log-file="$dir/vg.%p" "${cmd[@]}" ;;
		esac
	) >"$dir/stdout" 2>"$dir/stderr" || {
		echo "bench/check.sh: case $c under $tool failed; see $dir/stderr:" >&2
		tail -5 "$dir/stderr" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	[ -s "$dir/cpu" ] && cpu=$(tail -1 "$dir/cpu" | awk '{ printf "%.4f", $1 + $2 }')
	echo "$t1 $t0 $cpu" | awk '{ printf "%.4f %s\n", $1 - $2, $3 }'
}

tools=(plain run check)
declare -A times cpus
start=$(date +%s)
echo "heapline check bench: $runs run(s) x ${#cases[@]} cases ($(nproc) cores); temp dir $work" >&2
for ((r = 1; r <= runs; r++)); do
	for c in "${cases[@]}"; do
		for tool in "${tools[@]}"; do
			read -r t u < <(run_once "$tool" "$c")
			times[$tool.$c]="${times[$tool.$c]:-} $t"
			cpus[$tool.$c]="${cpus[$tool.$c]:-} $u"
			printf '  run %d/%d  %-36s %-9s %8.3f s  cpu %s s\n' "$r" "$runs" "${label[$c]}" \
				"$tool" "$t" "$u" >&2
		done
	done
done
if [ $use_vg -eq 1 ]; then
	for c in "${cases[@]}"; do
		read -r t u < <(run_once memcheck "$c")
		times[memcheck.$c]=$t
		printf '  once      %-36s %-9s %8.3f s  cpu %s s\n' "${label[$c]}" memcheck "$t" "$u" >&2
	done
fi

# ---- the table --------------------------------------------------------------------

leaks() { # definite+indirect bytes as check reported them
	grep -m1 'definitely lost:' "$1" 2>/dev/null | awk '{ gsub(",", "", $3); print $3 }' || true
}

md=$here/check-results.md
{
	echo "# heapline check benchmark"
	echo
	bench_md_host
	echo "median of $runs run(s) (memcheck: one run); $([ $use_vg -eq 1 ] && valgrind --version || echo 'valgrind not run');"
	bench_md_generated "$repo" bench/check.sh $quick
	echo
	echo "| case | plain s | run s | check s | memcheck s | check / run | check / plain | memcheck / plain | memcheck / check | run cpu s | check cpu s | check / run cpu |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$md"
for c in "${cases[@]}"; do
	p=$(echo "${times[plain.$c]}" | median)
	h=$(echo "${times[run.$c]}" | median)
	k=$(echo "${times[check.$c]}" | median)
	v=${times[memcheck.$c]:-n/a}
	hc=$(echo "${cpus[run.$c]}" | grep -v n/a | median)
	kc=$(echo "${cpus[check.$c]}" | grep -v n/a | median)
	printf '| %s | %.3f | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${label[$c]}" \
		"$p" "$h" "$k" "$([ "$v" = n/a ] && echo n/a || printf '%.3f' "$v")" \
		"$(ratio_2f "$k" "$h")" "$(ratio_2f "$k" "$p")" "$(ratio_2f "$v" "$p")" "$(ratio_2f "$v" "$k")" \
		"$hc" "$kc" "$(ratio_2f "$kc" "$hc")" >>"$md"
done
{
	echo
	echo "check / run is the cost of the leak classes over plain recording: the live-block"
	echo "set the writer keeps, the reachability scan at exit, and judging (a second pass"
	echo "over each trace, symbolizing the leak stacks).  Both include reading the traces back."
} >>"$md"

cat "$md"
echo >&2
echo "wrote $md ($(($(date +%s) - start)) s)" >&2
