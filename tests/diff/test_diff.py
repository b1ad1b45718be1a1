#!/usr/bin/env python3
"""test_diff.py — `heapline diff OLD NEW`, end to end.

diff_fixture.c is built twice (tests/meson.build): as is, and with -DMORE,
which allocates 2 MiB more at one line (@grow).  Both run under
`heapline run`; the cases:
  text              the diff names the @grow line and its site with the
                    right delta (+2.000 MiB, +200.0%), the summary's peak
                    grew by 2 MiB, and every other site and line matched
                    across the two executables (different paths: matched by
                    name) and unchanged
  json              docs/diff.md's document, with the exact numbers; NEW OLD
                    the other way round
  fail_on_increase  exit 0 when under the limit, 1 when over (peak, and
                    --metric allocated/leaked), 2 for a file that is not a
                    trace, a missing file, a bad option
Usage: test_diff.py HEAPLINE OLD_FIXTURE NEW_FIXTURE CASE
Exit 0 pass, 1 fail, 77 skip (the profiler cannot run here).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_SRC = os.path.join(HERE, "diff_fixture.c")
MiB = 1 << 20
GROW_OLD, GROW_NEW = 1 * MiB, 3 * MiB
PEAK_OLD = 100000 + GROW_OLD + 4096
PEAK_NEW = 100000 + GROW_NEW + 4096

failures = 0


def check(cond, msg):
    global failures
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures += 1
    return cond


def check_eq(got, want, msg):
    if got == want:
        return check(True, msg)
    return check(False, "%s\n--- want\n%r\n--- got\n%r" % (msg, want, got))


def line_of(marker):
    with open(FIXTURE_SRC) as f:
        for i, line in enumerate(f, 1):
            if marker in line:
                return i
    raise LookupError(marker)


class Env:
    def __init__(self, heapline, tmp):
        self.heapline, self.tmp = heapline, tmp

    def record(self, prog, name):
        trace = os.path.join(self.tmp, name + ".hlt")
        p = subprocess.run([self.heapline, "run", "-q", "-o", trace, "--", prog], cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        if p.returncode != 0 or not os.path.exists(trace):
            print("SKIP: heapline run %s failed (status %d): %s" % (prog, p.returncode, p.stderr))
            sys.exit(77)
        return trace

    def diff(self, *args, status=0):
        p = subprocess.run([self.heapline, "diff"] + list(args), cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        check(p.returncode == status, "diff %s: exit %d (want %d)%s"
              % (" ".join(os.path.basename(a) for a in args), p.returncode, status,
                 "; stderr: " + p.stderr.strip() if p.returncode != status else ""))
        return p.stdout, p.stderr


def section(text, title):
    """The lines of the section whose title starts with title."""
    m = re.search(r"^%s[^\n]*\n=+\n(.*?)(?:\n\n(?=\S[^\n]*\n=+\n)|\Z)" % re.escape(title), text,
                  re.S | re.M)
    return m.group(1) if m else ""


def test_text(env, old, new):
    grow, main_grow = line_of("/* @grow */"), line_of("/* @main_grow */")
    out, _ = env.diff(old, new)
    summary = section(out, "Diff: ")
    check(re.search(r"^Peak heap +1\.099 MiB +3\.099 MiB +\+2\.000 MiB +\+181\.9%$", summary, re.M)
          is not None, "text: summary's peak, old, new, +2 MiB, +181.9%")
    check(re.search(r"^Bytes allocated .* \+2\.000 MiB ", summary, re.M) is not None,
          "text: summary's bytes allocated +2 MiB")
    check(re.search(r"^Leaked +1000 B +1000 B +0 B +0\.0%$", summary, re.M) is not None,
          "text: summary's leaked unchanged")
    check(re.search(r"^Allocations +13 +13 +0 +0\.0%$", summary, re.M) is not None,
          "text: summary's allocations unchanged")

    lines = section(out, "Lines, largest change")
    check(lines.startswith("1 changed, 2 unchanged"), "text: one line changed, two matched unchanged")
    rows = [l for l in lines.splitlines() if re.match(r"^ +\d+  ", l)]
    check_eq(len(rows), 1, "text: one row in the line table")
    check(re.search(r"^ +1  allocated +1\.000 MiB +3\.000 MiB +\+2\.000 MiB +\+200\.0%   "
                    r"\S*diff_fixture\.c:" + str(grow) + r" \(grow\)$", lines, re.M) is not None,
          "text: the line table names diff_fixture.c:%d (grow), allocated +2 MiB" % grow)
    check(re.search(r"^ +peak +1\.000 MiB +3\.000 MiB +\+2\.000 MiB +\+200\.0%$", lines, re.M)
          is not None, "text: the line's peak contribution +2 MiB")
    check(re.search(r"^ +leaked +0\.000 MiB +0\.000 MiB +0\.000 MiB +-$", lines, re.M) is not None,
          "text: the line's leaked bytes unchanged")

    sites = section(out, "Sites, largest change")
    check(sites.startswith("1 changed, 3 unchanged"), "text: one site changed, three unchanged")
    check(re.search(r"\+200\.0%%   grow \S*diff_fixture\.c:%d\n.*from main \S*diff_fixture\.c:%d"
                    % (grow, main_grow), sites) is not None,
          "text: the site is grow:%d from main:%d" % (grow, main_grow))

    out, _ = env.diff(old, old)
    check("0 changed, 3 unchanged" in out and "0 changed, 4 unchanged" in out,
          "text: a trace against itself: nothing changed")

    out, _ = env.diff("--top", "1", "--metric", "calls", old, new)
    check("largest change in allocation calls first" in out and
          re.search(r"^ +calls +1 +1 +0 +0\.0%$", out, re.M) is not None,
          "text: --metric calls orders by calls and shows them")


def test_json(env, old, new):
    grow = line_of("/* @grow */")
    out, _ = env.diff("--format", "json", old, new)
    d = json.loads(out)
    check_eq(sorted(d), sorted(["old", "new", "metric", "summary", "sites", "sites_changed",
                                "sites_unchanged", "lines", "lines_changed", "lines_unchanged"]),
             "json: top-level members")
    check_eq(d["old"]["trace"], old, "json: old.trace")
    check(d["new"]["command"].endswith("diff_fixture_more"), "json: new.command")
    check_eq(d["metric"], "peak", "json: default metric peak")
    check_eq(d["summary"]["peak_bytes"], {"old": PEAK_OLD, "new": PEAK_NEW,
                                          "delta": PEAK_NEW - PEAK_OLD, "percent": 181.94},
             "json: summary.peak_bytes")
    check_eq(d["summary"]["leaked_bytes"], {"old": 1000, "new": 1000, "delta": 0, "percent": 0},
             "json: summary.leaked_bytes")
    check_eq(set(d["summary"]), {"allocations", "frees", "bytes_allocated", "peak_bytes",
                                 "leaked_bytes", "leaked_blocks"}, "json: summary members")
    check_eq((d["sites_changed"], d["sites_unchanged"], d["lines_changed"], d["lines_unchanged"]),
             (1, 3, 1, 2), "json: changed and unchanged counts")
    change = {"old": GROW_OLD, "new": GROW_NEW, "delta": GROW_NEW - GROW_OLD, "percent": 200}
    line = d["lines"][0]
    check(line["file"].endswith("diff_fixture.c") and line["line"] == grow
          and line["function"] == "grow" and line["status"] == "changed",
          "json: lines[0] is diff_fixture.c:%d grow" % grow)
    check_eq((line["bytes_allocated"], line["peak_bytes"]), (change, change),
             "json: lines[0] bytes_allocated and peak_bytes")
    check_eq(line["leaked_bytes"], {"old": 0, "new": 0, "delta": 0, "percent": None},
             "json: lines[0] leaked_bytes, percent null from zero")
    check_eq(line["allocations"], {"old": 1, "new": 1, "delta": 0, "percent": 0},
             "json: lines[0] allocations")
    site = d["sites"][0]
    check_eq([(f["function"], f["line"]) for f in site["frames"]],
             [("grow", grow), ("main", line_of("/* @main_grow */"))], "json: sites[0] frames")
    check_eq(site["peak_bytes"], change, "json: sites[0] peak_bytes")

    out, _ = env.diff("--format", "json", new, old)
    d = json.loads(out)
    check_eq(d["lines"][0]["peak_bytes"], {"old": GROW_NEW, "new": GROW_OLD,
                                           "delta": GROW_OLD - GROW_NEW, "percent": -66.67},
             "json: NEW OLD: the change is negative")

    out, _ = env.diff("--format", "json", "--fail-on-increase", "10", old, new, status=1)
    check_eq(json.loads(out).get("fail_on_increase"),
             {"metric": "peak", "limit_percent": 10, "percent": 181.94, "exceeded": True},
             "json: fail_on_increase member")


def test_fail_on_increase(env, old, new):
    env.diff("--fail-on-increase", "200", old, new, status=0)   # peak +181.9%: under 200
    env.diff("--fail-on-increase", "181", old, new, status=1)   # over 181
    out, err = env.diff("--fail-on-increase", "5%", old, new, status=1)
    check("FAIL: bytes live at the peak +181.9% (limit +5%)" in out, "text: the verdict line")
    env.diff("--fail-on-increase", "0", new, old, status=0)     # shrank
    env.diff("--fail-on-increase", "0", old, old, status=0)     # the same
    env.diff("--metric", "allocated", "--fail-on-increase", "177", old, new, status=0)  # +176.2%
    env.diff("--metric", "allocated", "--fail-on-increase", "176", old, new, status=1)
    env.diff("--metric", "leaked", "--fail-on-increase", "0", old, new, status=0)
    env.diff("--metric", "calls", "--fail-on-increase", "0", old, new, status=0)

    junk = os.path.join(env.tmp, "junk.hlt")
    with open(junk, "w") as f:
        f.write("this is not a heapline trace\n" * 10)
    missing = os.path.join(env.tmp, "missing.hlt")
    for args, bad, what in (([junk, new], junk, "not a trace (OLD)"),
                            ([old, junk], junk, "not a trace (NEW)"),
                            ([old, missing], missing, "a missing file")):
        out, err = env.diff("--fail-on-increase", "0", *args, status=2)
        check(len(err.strip().splitlines()) == 1 and bad in err,
              "bad input, %s: exit 2, one line naming it (%s)" % (what, err.strip()))
        check_eq(out, "", "bad input, %s: nothing on stdout" % what)
    for args in (["--fail-on-increase", "-5", old, new], ["--fail-on-increase", "abc", old, new],
                 ["--metric", "bogus", old, new], [old], [old, new, new], ["--top", "0", old, new]):
        out, err = env.diff(*args, status=2)
        check(len(err.strip().splitlines()) == 1, "bad command line %s: one line" % " ".join(
            os.path.basename(a) for a in args))
    out, _ = env.diff("--help")
    check("--fail-on-increase PCT" in out and "Exit status" in out, "--help")


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    heapline, old_prog, new_prog, case = sys.argv[1:]
    tests = {"text": test_text, "json": test_json, "fail_on_increase": test_fail_on_increase}
    tmp = tempfile.mkdtemp(prefix="hl-diff-")
    try:
        env = Env(os.path.abspath(heapline), tmp)
        old = env.record(os.path.abspath(old_prog), "old")
        new = env.record(os.path.abspath(new_prog), "new")
        tests[case](env, old, new)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %s" % (case, "FAILED (%d)" % failures if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
