#!/bin/bash
# test_run_launcher.sh — `heapline run` as a launcher: PROG's exit status and
# signals come back as PROG's own, its stdout is untouched, unprofilable
# (static) programs still run with one line saying why, and launcher errors
# have the documented codes.  Usage: test_run_launcher.sh HEAPLINE
# Exit 0 pass, 1 fail, 77 skip.

heapline=${1:?usage: $0 HEAPLINE}
heapline=$(realpath "$heapline") || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hl-test-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1 # traces land in the current directory

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# Runs heapline run ARGS, leaving status in $rc and stderr in $tmp/err.
run() {
	"$heapline" run "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# A missing preload library is a setup problem, not a launcher bug.
run -q -- true
if [ "$rc" = 2 ] && grep -q "libheapline.so\|HEAPLINE_LIB" "$tmp/err"; then
	echo "SKIP: preload library not found: $(cat "$tmp/err")"
	exit 77
fi

expect_status() { # NAME WANT ARGS...
	local name=$1 want=$2
	shift 2
	run -q -- "$@"
	if [ "$rc" = "$want" ]; then pass "$name exits $want"; else
		fail "$name: exit $rc, want $want; stderr: $(head -c 500 "$tmp/err")"; fi
}

expect_status "exit 0" 0 sh -c 'exit 0'
expect_status "exit 3" 3 sh -c 'exit 3'
expect_status "SIGTERM" 143 sh -c 'kill -TERM $$'
expect_status "SIGKILL" 137 sh -c 'kill -KILL $$'

# stdout byte-exact, no trailing newline added.
printf 'a\nb' >"$tmp/want"
"$heapline" run -q -- printf 'a\nb' >"$tmp/got" 2>"$tmp/err"
if cmp -s "$tmp/want" "$tmp/got"; then pass "stdout passthrough"; else
	fail "stdout differs: $(od -c "$tmp/got" | head -3)"; fi

# An orphaned grandchild is waited for.
start=$(date +%s%N)
run -q -- sh -c '(sleep 1; echo late >"$0") & exit 5' "$tmp/late"
end=$(date +%s%N)
if [ "$rc" = 5 ] && [ -s "$tmp/late" ] && [ $(((end - start) / 1000000)) -ge 900 ]; then
	pass "waits for orphaned grandchild"
else
	fail "orphan: exit $rc, late file $(cat "$tmp/late" 2>/dev/null), $(((end - start) / 1000000)) ms"
fi

# A missing program: 127 and one line naming it.
run -- ./no-such-program-here
if [ "$rc" = 127 ] && grep -q "no-such-program-here" "$tmp/err"; then pass "missing program exits 127"
else fail "missing program: exit $rc, stderr: $(cat "$tmp/err")"; fi

# Bad options: exit 2, one line, nothing run.
for bad in "--no-such-option true" "--depth 0 true" "--depth 999 true" "-o" ""; do
	# shellcheck disable=SC2086 # word splitting wanted
	run $bad
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" = 2 ] && [ "$lines" = 1 ]; then pass "bad command line '$bad' exits 2"
	else fail "bad command line '$bad': exit $rc, $lines stderr lines: $(cat "$tmp/err")"; fi
done

# --help goes to stdout and documents the environment.
run --help
if [ "$rc" = 0 ] && grep -q HEAPLINE_OUTPUT "$tmp/out" && grep -q HEAPLINE_DEPTH "$tmp/out"; then
	pass "--help"
else fail "--help: exit $rc"; fi

# A static program runs unprofiled with one line saying why.
cc=${CC:-cc}
printf '#include <stdio.h>\nint main(void) { puts("static ran"); return 4; }\n' >"$tmp/st.c"
if "$cc" -static -o "$tmp/st" "$tmp/st.c" 2>/dev/null; then
	run -- "$tmp/st"
	n=$(grep -c "is statically linked" "$tmp/err")
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" = 4 ] && [ "$n" = 1 ] && [ "$lines" = 1 ] && grep -qx "static ran" "$tmp/out"; then
		pass "static program: message and status"
	else
		fail "static program: exit $rc, stdout $(cat "$tmp/out"), stderr: $(cat "$tmp/err")"
	fi
else
	echo "note: '$cc -static' unavailable, static case not tested"
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
exit 0
