#!/bin/bash
# bench/run.sh — what heapline costs, next to no profiler and to heaptrack.
#
# Usage: bench/run.sh [--runs N] [--quick] [--build DIR] [--keep]
#   --runs N     runs per case and tool; the table shows medians (default 5)
#   --quick      a smoke test: 1 run, a tenth of the allocation counts
#   --build DIR  heapline build directory (default: <repo>/build); needs
#                DIR/preload/libheapline.so and DIR/report/heapline
#   --keep       keep the temporary directory (programs and last traces)
#   --report     then run bench/report.sh (heapline report vs heaptrack_print,
#                same --runs/--quick/--build) and append its table here
#
# Cases, each run as plain / heapline / heaptrack, interleaved run by run so
# drift on the machine hits every column alike:
#   a  2M malloc/free pairs, 16..528 bytes (LCG), ~8 frames deep
#   b  the same ~40 frames deep
#   c  4 threads x 500k pairs, ~8 frames (per-event cost vs a)
#   d  PYTHONMALLOC=malloc python3 -c 'd = {str(i): i for i in range(300000)}'
#   e  perl building and sorting a 200k-entry hash of arrays
#   f  gcc -O2 -c on a generated ~2000-line C file (driver, cc1, as)
# The synthetic programs are built here with gcc -O2 -fno-optimize-sibling-calls
# -fno-inline and a chain of noinline functions that each work after their
# call, so every frame is a real frame.  "Frames" counts every frame from the
# function calling malloc to _start (or to clone3 in a thread).
#
# Timing: wall clock (date +%s.%N) around the whole command, until the trace
# is complete on disk.  heapline writes its trace from a thread in the
# process and finishes it in the process's exit path; `heaptrack` pipes
# events to heaptrack_interpret | zstd and waits for that pipeline to end, so
# its interpretation and compression are inside its time too.  Neither
# includes analysis (heapline report, heaptrack --analyze).
# Processes: heapline follows children (every process of gcc, one trace
# each); heaptrack's preload removes itself from children's environment, so in
# case f heaptrack records the driver and, through `gcc -wrapper`, cc1 and as,
# each with a heaptrack (and heaptrack_interpret pipeline) of its own: both
# tools record the same three processes.
#
# Events = allocations + frees from `heapline report --format json`, summed
# over the processes of the last heapline run; ns/event = (tool - plain) /
# events.  Trace bytes are from the last run.  Output: a table on stdout and
# the same as markdown in bench/results.md (overwritten).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
repo=$(dirname "$here")
runs=5
quick=0
keep=0
report=0
build=$repo/build

while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=${2:?--runs needs a number}; shift 2 ;;
	--quick) quick=1; runs=1; shift ;;
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--keep) keep=1; shift ;;
	--report) report=1; shift ;;
	-h | --help) bench_help; exit 0 ;;
	*) echo "bench/run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --runs needs a positive number" >&2; exit 2; }

bench_need_build bench/run.sh "$build"
have_heaptrack=0
command -v heaptrack >/dev/null && have_heaptrack=1
# The interpreter itself, not a version manager's shim script around it.
python=$(python3 -c 'import sys; print(sys.executable)')

bench_workdir heapline-bench $keep 1 # "keeping" on stdout
bench_snapshot "$build" "$work"       # sets lib and heapline

scale=1
[ $quick -eq 1 ] && scale=10
pairs=$((2000000 / scale))
tpairs=$((500000 / scale))
pyn=$((300000 / scale))
pln=$((200000 / scale))

# ---- the programs -----------------------------------------------------------

# The sources come from bench/lib.sh; the flags are this script's.
bench_write_alloc_c "$work/alloc.c"
gcc -O2 -fno-optimize-sibling-calls -fno-inline -pthread -o "$work/alloc" "$work/alloc.c"

# ~2000 lines of C with some substance for cc1 to chew on.
bench_write_gen_c "$work/gen.c" 90
genlines=$(wc -l <"$work/gen.c")

# heaptrack for gcc's children: `gcc -wrapper` runs cc1 and as through this.
cat >"$work/htwrap" <<'EOF2'
#!/bin/bash
exec heaptrack -o "$HTWRAP_DIR/ht.${1##*/}.$$" "$@"
EOF2
chmod +x "$work/htwrap"

# ---- cases --------------------------------------------------------------------

cases=(a b c d e f)
declare -A label frames_note
label[a]="a: 2M pairs, ~8 frames"
label[b]="b: 2M pairs, ~40 frames"
label[c]="c: 4 threads x 500k pairs"
label[d]="d: python3 dict 300k"
label[e]="e: perl hash 200k"
label[f]="f: gcc -O2 -c ${genlines} lines"
if [ $quick -eq 1 ]; then
	label[a]="a: 200k pairs, ~8 frames"
	label[b]="b: 200k pairs, ~40 frames"
	label[c]="c: 4 threads x 50k pairs"
	label[d]="d: python3 dict 30k"
	label[e]="e: perl hash 20k"
fi

# Sets cmd (array) and case_env for a case; $1 = case, $2 = output dir.
set_case() {
	case_env=
	case $1 in
	# frames: leaf + chain + run + main + 3 below main (a, b), or
	# leaf + chain + run + start_thread + clone3 (c)
	a) cmd=("$work/alloc" 2 "$pairs" 0) ;;  # 1 + 2 + 1 + 1 + 3 = 8
	b) cmd=("$work/alloc" 34 "$pairs" 0) ;; # 1 + 34 + 1 + 1 + 3 = 40
	c) cmd=("$work/alloc" 4 "$tpairs" 4) ;; # 1 + 4 + 1 + 2 = 8
	d) cmd=("$python" -c "d = {str(i): i for i in range($pyn)}")
	   case_env=PYTHONMALLOC=malloc ;;
	e) cmd=(perl -e 'my %h; for my $i (1..'"$pln"') { $h{"k$i"} = [ $i, "v" x ($i % 50) ] }
	               my @k = sort keys %h; my $s = join(",", @k); print length($s), "\n";') ;;
	f) cmd=(gcc -O2 -c "$work/gen.c" -o "$2/gen.o") ;;
	esac
}

# Peak RSS through GNU time (the largest process of the command's tree),
# when it is installed: the profiler's own memory is heapline's peak RSS
# minus plain's.
gnu_time=()
[ -x /usr/bin/time ] && /usr/bin/time -f %M true 2>/dev/null &&
	gnu_time=(/usr/bin/time -q -f '%M %U %S' -o)

# Runs one case under one tool; prints the wall seconds, and leaves the
# peak RSS in KiB and the user and system CPU seconds of the whole command
# (every process and thread it waited for) in $dir/rss (with GNU time).
run_once() {
	local tool=$1 c=$2 dir=$work/out/$1.$2 t0 t1
	local -a timer=()
	rm -rf "$dir"
	mkdir -p "$dir"
	set_case "$c" "$dir"
	[ ${#gnu_time[@]} -gt 0 ] && timer=("${gnu_time[@]}" "$dir/rss")
	t0=$(date +%s.%N)
	(
		[ -n "$case_env" ] && export "${case_env?}"
		case $tool in
		plain) exec "${timer[@]}" "${cmd[@]}" ;;
		heapline)
			# GNU time inherits the preload too (a trace of a few events,
			# removed below): only then is the program its child.
			echo "$BASHPID" >"$dir/timer.pid"
			LD_PRELOAD=$lib HEAPLINE_OUTPUT=$dir/x.%p.hlt exec "${timer[@]}" "${cmd[@]}" ;;
		heaptrack)
			if [ "$c" = f ]; then
				HTWRAP_DIR=$dir exec "${timer[@]}" heaptrack -o "$dir/ht.gcc" \
					gcc -wrapper "$work/htwrap" "${cmd[@]:1}"
			fi
			exec "${timer[@]}" heaptrack -o "$dir/ht" "${cmd[@]}" ;;
		esac
	) >"$dir/stdout" 2>"$dir/stderr" || {
		echo "bench/run.sh: case $c under $tool failed; see $dir/stderr:" >&2
		tail -5 "$dir/stderr" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	if [ ${#timer[@]} -gt 0 ] && [ -s "$dir/timer.pid" ]; then
		rm -f "$dir/x.$(cat "$dir/timer.pid").hlt"
	fi
	echo "$t1 $t0" | awk '{ printf "%.4f", $1 - $2 }'
}

tools=(plain heapline)
[ $have_heaptrack -eq 1 ] && tools+=(heaptrack)
declare -A times rss cpu
start=$(date +%s)
echo "heapline bench: $runs run(s) x ${#cases[@]} cases x ${#tools[@]} tools ($(nproc) cores); temp dir $work" >&2
for ((r = 1; r <= runs; r++)); do
	for c in "${cases[@]}"; do
		for tool in "${tools[@]}"; do
			t=$(run_once "$tool" "$c")
			times[$tool.$c]="${times[$tool.$c]:-} $t"
			if [ -s "$work/out/$tool.$c/rss" ]; then
				read -r kib user sys < <(tail -1 "$work/out/$tool.$c/rss")
				rss[$tool.$c]="${rss[$tool.$c]:-} $kib"
				cpu[$tool.$c]="${cpu[$tool.$c]:-} $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
			fi
			printf '  run %d/%d  %-28s %-9s %8.3f s\n' "$r" "$runs" "${label[$c]}" "$tool" "$t" >&2
		done
	done
done

# ---- the table ------------------------------------------------------------------

bytes_of() { local s=0 f; for f in "$@"; do [ -e "$f" ] && s=$((s + $(stat -c %s "$f"))); done; echo $s; }
per_event() { awk -v t="$1" -v p="$2" -v n="$3" 'BEGIN {
	if (t == "n/a" || n == 0) print "n/a"; else printf "%.0f", (t - p) / n * 1e9 }'; }
human() { awk -v b="$1" 'BEGIN { if (b == "n/a") { print b; exit }
	split("B KiB MiB GiB", u); i = 1; while (b >= 1024 && i < 4) { b /= 1024; i++ }
	printf(i == 1 ? "%d %s" : "%.1f %s", b, u[i]) }'; }

md=$here/results.md
{
	echo "# heapline benchmark"
	echo
	bench_md_host
	echo "median of $runs run(s); heaptrack $([ $have_heaptrack -eq 1 ] && heaptrack --version 2>/dev/null | awk '{print $2}' || echo 'absent');"
	bench_md_generated "$repo" bench/run.sh $quick
	echo
	echo "| case | plain s | heapline s | heaptrack s | heapline ratio | heaptrack ratio | heapline trace | heaptrack trace | heapline bytes/event | events | heapline ns/event | heaptrack ns/event |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$md"

declare -A nsev
for c in "${cases[@]}"; do
	p=$(echo "${times[plain.$c]}" | median)
	h=$(echo "${times[heapline.$c]}" | median)
	k=n/a
	[ $have_heaptrack -eq 1 ] && k=$(echo "${times[heaptrack.$c]}" | median)
	shopt -s nullglob
	hl_files=("$work/out/heapline.$c"/*.hlt)
	ht_files=("$work/out/heaptrack.$c"/ht.*)
	shopt -u nullglob
	hb=$(bytes_of "${hl_files[@]}")
	kb=n/a
	[ $have_heaptrack -eq 1 ] && kb=$(bytes_of "${ht_files[@]}")
	ev=$(events_of "${hl_files[@]}")
	bpe=$(awk -v b="$hb" -v n="$ev" 'BEGIN { printf(n ? "%.2f" : "n/a", b / n) }')
	nsev[$c]=$(per_event "$h" "$p" "$ev")
	kns=$(per_event "$k" "$p" "$ev")
	[ "$k" != n/a ] && k=$(printf '%.3f' "$k")
	printf '| %s | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
		"${label[$c]}" "$p" "$h" "$k" "$(ratio_1f "$h" "$p")" "$(ratio_1f "$k" "$p")" \
		"$(human "$hb")" "$(human "$kb")" "$bpe" "$ev" "${nsev[$c]}" "$kns" >>"$md"
done
{
	echo
	echo "Threads: heapline's overhead per event is ${nsev[a]} ns with one thread (a) and" \
		"${nsev[c]} ns of wall time with 4 threads on $(nproc) cores (c)."
	echo "Timing ends when the trace is complete: heaptrack's command waits for its"
	echo "heaptrack_interpret | zstd pipeline, heapline's process finishes its trace on exit."
	echo "Case f: both tools record gcc, cc1 and as: heapline follows children, heaptrack"
	echo "(whose preload leaves children alone) runs cc1 and as through \`gcc -wrapper\`."
	echo "Events = allocations + frees from \`heapline report --format json\`, summed over processes."
} >>"$md"

if [ ${#gnu_time[@]} -gt 0 ]; then
	{
		echo
		echo "## CPU time"
		echo
		echo "User + system CPU seconds of the whole command (GNU time: every process and"
		echo "thread it waited for, so heapline's writer thread and heaptrack's"
		echo "heaptrack_interpret and zstd are in), medians.  Wall time hides the work a"
		echo "profiler does on a second core; this does not, and a busy virtual machine"
		echo "disturbs it less."
		echo
		echo "| case | plain CPU s | heapline CPU s | heaptrack CPU s | heapline CPU ratio | heaptrack CPU ratio | heapline CPU ns/event | heaptrack CPU ns/event |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	} >>"$md"
	declare -A cpu_nsev
	for c in "${cases[@]}"; do
		shopt -s nullglob
		hl_files=("$work/out/heapline.$c"/*.hlt)
		shopt -u nullglob
		ev=$(events_of "${hl_files[@]}")
		p=$(echo "${cpu[plain.$c]:-}" | median)
		h=$(echo "${cpu[heapline.$c]:-}" | median)
		k=$(echo "${cpu[heaptrack.$c]:-}" | median)
		cpu_nsev[$c]=$(per_event "$h" "$p" "$ev")
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${label[$c]}" \
			"$(awk -v v="$p" 'BEGIN { print v == "n/a" ? v : sprintf("%.2f", v) }')" \
			"$(awk -v v="$h" 'BEGIN { print v == "n/a" ? v : sprintf("%.2f", v) }')" \
			"$(awk -v v="$k" 'BEGIN { print v == "n/a" ? v : sprintf("%.2f", v) }')" \
			"$(ratio_1f "$h" "$p")" "$(ratio_1f "$k" "$p")" "${cpu_nsev[$c]}" \
			"$(per_event "$k" "$p" "$ev")" >>"$md"
	done
	{
		echo
		echo "Threads, in CPU time: ${cpu_nsev[a]} ns an event with one thread (a), ${cpu_nsev[c]} ns"
		echo "with 4 threads on $(nproc) cores (c)."
	} >>"$md"
fi

peak_heap_of() { # the largest process's peak heap bytes
	"$heapline" report --format json --view summary "$@" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["combined"]["max_peak_bytes"] if "combined" in d else d["summary"]["peak_bytes"])'
}
if [ ${#gnu_time[@]} -gt 0 ]; then
	{
		echo
		echo "## The profiler's own memory"
		echo
		echo "Peak RSS (GNU time %M, the largest process of the command; medians) with and"
		echo "without heapline, and the program's peak heap from the trace. heaptrack is not"
		echo "in this table: its preload keeps almost nothing in the process, and its"
		echo "heaptrack_interpret is a separate process."
		echo
		echo "| case | plain RSS MiB | heapline RSS MiB | increase MiB | peak heap MiB | increase / peak heap |"
		echo "|---|---:|---:|---:|---:|---:|"
	} >>"$md"
	for c in "${cases[@]}"; do
		shopt -s nullglob
		hl_files=("$work/out/heapline.$c"/*.hlt)
		shopt -u nullglob
		pr=$(echo "${rss[plain.$c]:-}" | median)
		hr=$(echo "${rss[heapline.$c]:-}" | median)
		ph=$(peak_heap_of "${hl_files[@]}")
		awk -v l="${label[$c]}" -v p="$pr" -v h="$hr" -v ph="$ph" 'BEGIN {
			if (p == "n/a" || h == "n/a") { printf "| %s | n/a | n/a | n/a | %.1f | n/a |\n", l, ph / 1048576; exit }
			# below 1 MiB of heap the ratio says nothing: the increase is
			# the fixed part (ring, block buffer, zstd)
			share = ph >= 1048576 ? sprintf("%.0f%%", (h - p) * 1024 / ph * 100) : "n/a"
			printf "| %s | %.1f | %.1f | %.1f | %.1f | %s |\n", l, p / 1024, h / 1024,
				(h - p) / 1024, ph / 1048576, share }' >>"$md"
	done
fi

cat "$md"
echo >&2
echo "wrote $md ($(($(date +%s) - start)) s)" >&2

# ---- the reporter, side by side (--report) ---------------------------------------

if [ $report -eq 1 ]; then
	echo >&2
	report_args=(--build "$build")
	if [ $quick -eq 1 ]; then report_args+=(--quick); else report_args+=(--runs "$runs"); fi
	"$here/report.sh" "${report_args[@]}" >/dev/null
	{ echo; sed 's/^# /## /' "$here/report-results.md"; } >>"$md"
	echo; sed 's/^# /## /' "$here/report-results.md"
fi
