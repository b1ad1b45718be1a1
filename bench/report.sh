#!/bin/bash
# bench/report.sh — what `heapline report` costs, next to heaptrack_print.
#
# Usage: bench/report.sh [--runs N] [--quick] [--build DIR] [--cases LIST]
#                        [--perf] [--keep]
#   --runs N      timed runs per case and command; medians shown (default 3)
#   --quick       a smoke test: 1 run, a tenth of the allocation counts
#   --build DIR   heapline build directory (default: <repo>/build); needs
#                 DIR/preload/libheapline.so and DIR/report/heapline
#   --cases LIST  some of a,b,d,f (default: all four)
#   --perf        afterwards, `perf record` one `heapline report` of the case
#                 where it took longest and print its top 5 symbols
#   --keep        keep the temporary directory (programs, traces, outputs)
#
# Stand-alone: records its own traces, one heapline and one heaptrack run of
# each case, with the programs of bench/run.sh (same sources, same flags,
# plus -g so the synthetic program has line tables to print; -g does not
# change gcc's code):
#   a  2M malloc/free pairs, 16..528 bytes, ~8 frames deep
#   b  the same ~40 frames deep
#   d  PYTHONMALLOC=malloc python3 -c 'd = {str(i): i for i in range(300000)}'
#      (the interpreter itself, not a pyenv shim)
#   f  gcc -O2 -c on the generated ~2000-line C file: driver, cc1 and as.
#      heapline follows children (a trace per process); heaptrack's preload
#      does not, so heaptrack records the driver and, through
#      `gcc -wrapper`, cc1 and as each in a trace of its own.  Both tools
#      then cover the same three processes.
# Then, interleaved run by run, it times (wall clock) and measures peak RSS
# (GNU time's %M if /usr/bin/time exists, else the VmHWM of /proc/PID/status
# polled every 10 ms) of
#   heapline report TRACE...             default views: summary, top sites,
#                                        line tables; symbol cache off (cold)
#   the same, warm                       with the symbol cache on disk
#                                        (HEAPLINE_SYMBOL_CACHE) filled by an
#                                        untimed report of the same traces
#   heapline report --view all TRACE...  every view (one pass: the peak
#                                        snapshot is kept during it), cold
#   heaptrack_print -f TRACE.zst         its default output: peak, calls and
#                                        temporary sites, totals; in case f
#                                        once per trace, times summed, RSS the
#                                        largest
# Symbolization: both outputs name functions, but heaptrack resolves symbols
# while recording (heaptrack_interpret, inside the recorded run's time), so
# heaptrack_print reads names already in the trace; heapline stores
# addresses and build ids and symbolizes (ELF + DWARF) inside `heapline
# report`.  The heapline columns include that work, heaptrack_print's don't.
#
# speed = heaptrack_print s / heapline report s (goal >= 2.0x);
# memory = heapline report MiB / heaptrack_print MiB (goal <= 1.0x).
# Events = allocations + frees, from `heapline report --format json`.
# Output: a table on stdout and as markdown in bench/report-results.md
# (overwritten).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
repo=$(dirname "$here")
runs=3
quick=0
keep=0
perf=0
build=$repo/build
cases=(a b d f)

while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=${2:?--runs needs a number}; shift 2 ;;
	--quick) quick=1; runs=1; shift ;;
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--cases) IFS=, read -r -a cases <<<"${2:?--cases needs a list}"; shift 2 ;;
	--perf) perf=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) bench_help; exit 0 ;;
	*) echo "bench/report.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench/report.sh: --runs needs a positive number" >&2; exit 2; }
for c in "${cases[@]}"; do
	[[ $c =~ ^[abdf]$ ]] || { echo "bench/report.sh: unknown case '$c' (a, b, d, f)" >&2; exit 2; }
done

bench_need_build bench/report.sh "$build"
for t in heaptrack heaptrack_print; do
	command -v $t >/dev/null || { echo "bench/report.sh: $t: not found (it is the baseline)" >&2; exit 2; }
done
[ $perf -eq 0 ] || command -v perf >/dev/null || { echo "bench/report.sh: --perf: perf not found" >&2; exit 2; }
gnu_time=
rss_by="VmHWM polled every 10 ms"
if [ -x /usr/bin/time ] && /usr/bin/time -f '%M' -o /dev/null true 2>/dev/null; then
	gnu_time=/usr/bin/time
	rss_by="GNU time %M"
fi
python=$(python3 -c 'import sys; print(sys.executable)')

bench_workdir heapline-rbench $keep
bench_snapshot "$build" "$work" # sets lib and heapline

scale=1
[ $quick -eq 1 ] && scale=10
pairs=$((2000000 / scale))
pyn=$((300000 / scale))

# ---- the programs (bench/run.sh's, from bench/lib.sh) -------------------------

bench_write_alloc_c "$work/alloc.c"
gcc -g -O2 -fno-optimize-sibling-calls -fno-inline -pthread -o "$work/alloc" "$work/alloc.c"

bench_write_gen_c "$work/gen.c" 90
genlines=$(wc -l <"$work/gen.c")

# heaptrack for gcc's children: `gcc -wrapper` runs cc1 and as through this.
cat >"$work/htwrap" <<'EOF'
#!/bin/bash
exec heaptrack -o "$HTWRAP_DIR/ht.${1##*/}.$$" "$@"
EOF
chmod +x "$work/htwrap"

declare -A label
label[a]="a: 2M pairs, ~8 frames"
label[b]="b: 2M pairs, ~40 frames"
label[d]="d: python3 dict 300k"
label[f]="f: gcc -O2 -c ${genlines} lines"
if [ $quick -eq 1 ]; then
	label[a]="a: 200k pairs, ~8 frames"
	label[b]="b: 200k pairs, ~40 frames"
	label[d]="d: python3 dict 30k"
fi

# ---- recording: one trace per tool and case -----------------------------------

record() { # tool case
	local tool=$1 c=$2 dir=$work/trace/$1.$2
	mkdir -p "$dir"
	local cmd case_env=
	case $c in
	a) cmd=("$work/alloc" 2 "$pairs" 0) ;;
	b) cmd=("$work/alloc" 34 "$pairs" 0) ;;
	d) cmd=("$python" -c "d = {str(i): i for i in range($pyn)}"); case_env=PYTHONMALLOC=malloc ;;
	f) cmd=(gcc -O2 -c "$work/gen.c" -o "$dir/gen.o") ;;
	esac
	(
		[ -n "$case_env" ] && export "${case_env?}"
		case $tool in
		heapline) LD_PRELOAD=$lib HEAPLINE_OUTPUT=$dir/x.%p.hlt exec "${cmd[@]}" ;;
		heaptrack)
			if [ "$c" = f ]; then
				HTWRAP_DIR=$dir exec heaptrack -o "$dir/ht.gcc" \
					gcc -wrapper "$work/htwrap" "${cmd[@]:1}"
			fi
			exec heaptrack -o "$dir/ht" "${cmd[@]}" ;;
		esac
	) >"$dir/stdout" 2>"$dir/stderr" || {
		echo "bench/report.sh: recording case $c under $tool failed; see $dir/stderr:" >&2
		tail -5 "$dir/stderr" >&2
		exit 1
	}
}

start=$(date +%s)
load0=$(cut -d' ' -f1 /proc/loadavg)
echo "heapline report bench: $runs run(s) x ${#cases[@]} cases ($(nproc) cores); RSS by $rss_by; temp dir $work" >&2
declare -A hl_traces ht_traces events
for c in "${cases[@]}"; do
	record heapline "$c"
	record heaptrack "$c"
	shopt -s nullglob
	files=("$work/trace/heapline.$c"/*.hlt)
	hl_traces[$c]="${files[*]}"
	files=("$work/trace/heaptrack.$c"/ht*.zst)
	ht_traces[$c]="${files[*]}"
	shopt -u nullglob
	if [ -z "${hl_traces[$c]}" ] || [ -z "${ht_traces[$c]}" ]; then
		echo "bench/report.sh: case $c: a tool wrote no trace" >&2
		exit 1
	fi
	# shellcheck disable=SC2086
	events[$c]=$(events_of ${hl_traces[$c]})
	printf '  recorded %-28s %9s events; %d heapline, %d heaptrack trace(s)\n' "${label[$c]}" \
		"${events[$c]}" "$(wc -w <<<"${hl_traces[$c]}")" "$(wc -w <<<"${ht_traces[$c]}")" >&2
done

# ---- measuring ------------------------------------------------------------------

# measure OUT ERR CMD... — runs CMD with stdout to OUT, stderr to ERR; prints
# "SECONDS KIB" (wall clock, peak RSS).
measure() {
	local out=$1 err=$2 t0 t1 kib pid v
	shift 2
	if [ -n "$gnu_time" ]; then
		t0=$(date +%s.%N)
		"$gnu_time" -f '%M' -o "$work/time.out" "$@" >"$out" 2>"$err" || return 1
		t1=$(date +%s.%N)
		kib=$(tail -1 "$work/time.out")
	else
		kib=0
		t0=$(date +%s.%N)
		"$@" >"$out" 2>"$err" &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
			[ -n "$v" ] && [ "$v" -gt "$kib" ] && kib=$v
			sleep 0.01
		done
		wait "$pid" || return 1
		t1=$(date +%s.%N)
	fi
	echo "$t1 $t0 $kib" | awk '{ printf "%.4f %d\n", $1 - $2, $3 }'
}

# one_run CASE WHAT — prints "SECONDS KIB" for one run of one command.
one_run() {
	local c=$1 what=$2 dir=$work/out/$2.$1 t k st=0 sk=0 f
	mkdir -p "$dir"
	case $what in
	hl) # shellcheck disable=SC2086
	    HEAPLINE_SYMBOL_CACHE=off measure "$dir/stdout" "$dir/stderr" "$heapline" report \
		    ${hl_traces[$c]} || st=fail ;;
	hlwarm) # shellcheck disable=SC2086
	    HEAPLINE_SYMBOL_CACHE=$work/symcache measure "$dir/stdout" "$dir/stderr" "$heapline" \
		    report ${hl_traces[$c]} || st=fail ;;
	hlall) # shellcheck disable=SC2086
	    HEAPLINE_SYMBOL_CACHE=off measure "$dir/stdout" "$dir/stderr" "$heapline" report \
		    --view all ${hl_traces[$c]} || st=fail ;;
	htp) # one heaptrack_print per trace: times add up, the peak is the largest
		: >"$dir/stdout"
		for f in ${ht_traces[$c]}; do
			read -r t k < <(measure "$dir/part" "$dir/stderr" heaptrack_print -f "$f" || echo fail 0)
			[ "$t" = fail ] && { st=fail; break; }
			cat "$dir/part" >>"$dir/stdout"
			st=$(awk -v a="$st" -v b="$t" 'BEGIN { printf "%.4f", a + b }')
			((k > sk)) && sk=$k
		done
		[ "$st" = fail ] || echo "$st $sk" ;;
	esac
	if [ "$st" = fail ]; then
		echo "bench/report.sh: case $c, $what failed; see $dir/stderr:" >&2
		tail -5 "$dir/stderr" >&2
		return 1
	fi
}

# The warm runs' cache: filled once, untimed.
for c in "${cases[@]}"; do
	# shellcheck disable=SC2086
	HEAPLINE_SYMBOL_CACHE=$work/symcache "$heapline" report ${hl_traces[$c]} >/dev/null 2>&1 || {
		echo "bench/report.sh: case $c: heapline report failed" >&2
		exit 1
	}
done

whats=(hl hlwarm hlall htp)
declare -A name
name[hl]="heapline report"
name[hlwarm]="heapline report, warm"
name[hlall]="heapline report --view all"
name[htp]="heaptrack_print"
declare -A secs kibs
for ((r = 1; r <= runs; r++)); do
	for c in "${cases[@]}"; do
		for w in "${whats[@]}"; do
			read -r t k < <(one_run "$c" "$w") || exit 1
			[ -n "${t:-}" ] || exit 1
			secs[$w.$c]="${secs[$w.$c]:-} $t"
			kibs[$w.$c]="${kibs[$w.$c]:-} $k"
			printf '  run %d/%d  %-28s %-27s %8.3f s %8.1f MiB\n' "$r" "$runs" "${label[$c]}" \
				"${name[$w]}" "$t" "$(awk -v k="$k" 'BEGIN { print k / 1024 }')" >&2
		done
	done
done

# Both outputs must name the functions (both tools symbolized): the
# synthetic cases' allocating function is leaf.
for c in a b; do
	[[ " ${cases[*]} " == *" $c "* ]] || continue
	for w in hl hlwarm htp; do
		grep -q '\bleaf\b' "$work/out/$w.$c/stdout" ||
			echo "bench/report.sh: warning: case $c: ${name[$w]} output does not name leaf" >&2
	done
done

# ---- the table ------------------------------------------------------------------

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

md=$here/report-results.md
{
	echo "# heapline report benchmark"
	echo
	bench_md_host
	echo "median of $runs run(s); heaptrack $(heaptrack --version 2>/dev/null | awk '{print $2}');"
	bench_md_generated "$repo" bench/report.sh $quick
	echo "Load average (1 min) at start $load0, at end $(cut -d' ' -f1 /proc/loadavg): wall clock is only as quiet as the machine."
	echo
	echo "| case | events | heapline report s | MiB | warm s | MiB | heapline all views s | MiB | heaptrack_print s | MiB | speed | memory | warm speed | warm memory |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$md"
declare -A ms mk
for c in "${cases[@]}"; do
	for w in "${whats[@]}"; do
		ms[$w]=$(echo "${secs[$w.$c]}" | median)
		mk[$w]=$(echo "${kibs[$w.$c]}" | median)
	done
	speed=$(awk -v a="${ms[htp]}" -v b="${ms[hl]}" 'BEGIN { printf "%.2fx", a / b }')
	mem=$(awk -v a="${mk[hl]}" -v b="${mk[htp]}" 'BEGIN { printf "%.2fx", a / b }')
	wspeed=$(awk -v a="${ms[htp]}" -v b="${ms[hlwarm]}" 'BEGIN { printf "%.2fx", a / b }')
	wmem=$(awk -v a="${mk[hlwarm]}" -v b="${mk[htp]}" 'BEGIN { printf "%.2fx", a / b }')
	printf '| %s | %s | %.3f | %s | %.3f | %s | %.3f | %s | %.3f | %s | %s | %s | %s | %s |\n' \
		"${label[$c]}" "${events[$c]}" "${ms[hl]}" "$(mib "${mk[hl]}")" \
		"${ms[hlwarm]}" "$(mib "${mk[hlwarm]}")" "${ms[hlall]}" "$(mib "${mk[hlall]}")" \
		"${ms[htp]}" "$(mib "${mk[htp]}")" "$speed" "$mem" "$wspeed" "$wmem" >>"$md"
done
{
	echo
	echo "speed = heaptrack_print s / heapline report s (goal >= 2.0x); memory = heapline report"
	echo "peak RSS / heaptrack_print peak RSS (goal <= 1.0x).  Seconds are wall clock, MiB peak RSS"
	echo "($rss_by).  heapline report's default views: summary, top sites, line tables;"
	echo "heaptrack_print's default: peak, calls and temporary sites, totals."
	echo "Symbolization: heaptrack resolves symbols while recording (heaptrack_interpret), so"
	echo "heaptrack_print reads names from the trace; heapline symbolizes (ELF + DWARF) inside"
	echo "\`heapline report\`, and its columns include that work: with its symbol cache off"
	echo "(HEAPLINE_SYMBOL_CACHE=off), the state of a first report.  \"warm\": the default"
	echo "views again with the cache on disk filled by an earlier report of the same traces"
	echo "(every later report of binaries whose files did not change)."
	echo "Case f: three processes (gcc, cc1, as) for both tools: heapline follows children,"
	echo "heaptrack records cc1 and as through \`gcc -wrapper\`; heaptrack_print runs once per"
	echo "trace (seconds summed, largest peak RSS), \`heapline report\` once on all three traces."
	echo "The synthetic program is bench/run.sh's, built with -g (same code) for line tables."
} >>"$md"

cat "$md"

# ---- where heapline report spends its time --------------------------------------

if [ $perf -eq 1 ]; then
	slow=${cases[0]}
	for c in "${cases[@]}"; do
		awk -v a="$(echo "${secs[hl.$c]}" | median)" -v b="$(echo "${secs[hl.$slow]}" | median)" \
			'BEGIN { exit !(a > b) }' && slow=$c
	done
	echo >&2
	echo "perf: heapline report, case ${label[$slow]}" >&2
	# shellcheck disable=SC2086
	HEAPLINE_SYMBOL_CACHE=off perf record -q -g -o "$work/perf.data" "$heapline" report ${hl_traces[$slow]} >/dev/null 2>"$work/perf.err" ||
		{ echo "bench/report.sh: perf record failed:" >&2; tail -3 "$work/perf.err" >&2; exit 1; }
	perf report -i "$work/perf.data" --no-children --stdio --sort dso,symbol -g none 2>/dev/null |
			grep -E '^ +[0-9.]+%' | awk '{ printf "  %8s  %-24s %s\n", $1, $2, $4 }' | head -5
fi

echo >&2
echo "wrote $md ($(($(date +%s) - start)) s)" >&2
