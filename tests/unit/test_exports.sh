#!/bin/bash
# test_exports.sh — libheapline.so exports exactly the symbols its version
# script (preload/libheapline.map, the source of truth) lists as global:
# nothing missing (an entry point we fail to interpose) and nothing extra
# (a helper leaking into every program's namespace).
# Usage: test_exports.sh LIBHEAPLINE_SO MAP_FILE.  Exit 0 pass, 1 fail, 77 skip.
set -u
lib=${1:?usage: test_exports.sh LIBHEAPLINE_SO MAP_FILE}
map=${2:?usage: test_exports.sh LIBHEAPLINE_SO MAP_FILE}

command -v nm >/dev/null || { echo "nm not found: skipped"; exit 77; }
[ -r "$lib" ] || { echo "FAIL: $lib: not readable"; exit 1; }
[ -r "$map" ] || { echo "FAIL: $map: not readable"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The map's global: section, comments dropped, one name per line.
sed -e 's,/\*.*\*/,,g' -e 's,#.*,,' "$map" |
	awk '/global:/ { on = 1; sub(/.*global:/, "") }
	     /local:/  { on = 0 }
	     on        { print }' |
	tr ';' '\n' | tr -d ' \t' | grep -v '^$' | sort -u >"$tmp/want"

# Defined dynamic symbols, any version suffix (name@@VER) removed.
if ! nm -D --defined-only "$lib" >"$tmp/nm"; then
	echo "FAIL: nm -D $lib failed"
	exit 1
fi
awk 'NF >= 3 { print $3 }' "$tmp/nm" | sed 's/@.*//' | sort -u >"$tmp/got"

if [ ! -s "$tmp/want" ]; then
	echo "FAIL: no global symbols parsed from $map"
	exit 1
fi

status=0
missing=$(comm -23 "$tmp/want" "$tmp/got")
extra=$(comm -13 "$tmp/want" "$tmp/got")
if [ -n "$missing" ]; then
	echo "FAIL: listed in $(basename "$map") but not exported:" $missing
	status=1
fi
if [ -n "$extra" ]; then
	echo "FAIL: exported but not listed in $(basename "$map"):" $extra
	status=1
fi
# Every export is code (T), not data or a weak/undefined leftover.
notcode=$(awk 'NF >= 3 && $2 != "T" { print $3 "(" $2 ")" }' "$tmp/nm")
if [ -n "$notcode" ]; then
	echo "FAIL: exports that are not functions:" $notcode
	status=1
fi
[ $status -eq 0 ] && echo "exports: pass ($(wc -l <"$tmp/want") symbols, exactly the map's)"
exit $status
