#!/usr/bin/env python3
"""tests/leak/run_leak.py — heapline check: leak classes and the CI gate.

    run_leak.py agree CASE   leak class agreement for one program of expected.json:
                             heapline check --format json must give the expected
                             class and bytes for the program's own blocks, and,
                             when valgrind is installed, the same totals per class
                             as memcheck's loss records (both sides without
                             glibc's thread-local-storage blocks, whose size
                             depends on how many TLS-using libraries are loaded:
                             libheapline and libunwind are two more than
                             valgrind's preloads)
    run_leak.py gate NAME    one behaviour of the gate (exit codes, budgets,
                             suppressions, formats): see GATES below

Paths come from the environment (tests/meson.build): HL_HEAPLINE, HL_LEAK_<CASE>
for each program, HL_LEAK_GATE.  Exit 0 pass, 1 fail, 77 skip.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HEAPLINE = os.environ.get("HL_HEAPLINE", "heapline")
KINDS = ["definite", "indirect", "possible", "reachable"]
# glibc's thread-local storage bookkeeping (see the docstring)
TLS_FUNCS = ("allocate_dtv", "_dl_allocate_tls", "allocate_dtv_entry", "tls_get_addr_tail",
             "_dl_resize_dtv", "__tls_get_addr")
VG_KIND = {"definitely": "definite", "indirectly": "indirect", "possibly": "possible",
           "still": "reachable"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(argv, **kw)


def heapline_json(args, prog_argv, tmp):
    """heapline check --format json; returns (process, report dict)."""
    report = os.path.join(tmp, "report.json")
    p = run([HEAPLINE, "check", "--format", "json", "--report", report] + args + ["--"] + prog_argv)
    try:
        with open(report) as f:
            return p, json.load(f)
    except (OSError, ValueError) as e:
        print(p.stdout, p.stderr, sep="\n")
        raise SystemExit("FAIL: no JSON report: %s" % e)


def frame_funcs(leak):
    return [f.get("function") or "" for f in leak["frames"]]


def is_own(leak):
    """Allocated directly by the test program's own code (tests/leak/)."""
    if not leak["frames"]:
        return False
    f = leak["frames"][0].get("file") or ""
    return os.path.basename(f).startswith("leak_")


def is_tls(funcs):
    return any(fn in TLS_FUNCS for fn in funcs)


def totals(leaks, keep):
    t = {k: [0, 0] for k in KINDS}
    for l in leaks:
        if keep(l):
            t[l["kind"]][0] += l["bytes"]
            t[l["kind"]][1] += l["blocks"]
    return t


def memcheck(prog_argv):
    """memcheck's loss records: [(kind, bytes, blocks, [functions])]."""
    p = run(["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--num-callers=40",
             "--errors-for-leak-kinds=definite,indirect"] + prog_argv, timeout=300)
    recs, cur = [], None
    for line in p.stderr.splitlines():
        line = re.sub(r"^==\d+== ?", "", line)
        # "144 (48 direct, 96 indirect) bytes in 1 blocks are definitely lost":
        # the record's own bytes are the direct ones
        m = re.match(r"([\d,]+) (?:\(([\d,]+) direct, [\d,]+ indirect\) )?bytes in ([\d,]+) "
                     r"blocks are (\w+)", line)
        if m:
            own = m.group(2) or m.group(1)
            cur = [VG_KIND[m.group(4)], int(own.replace(",", "")),
                   int(m.group(3).replace(",", "")), [], []]
            recs.append(cur)
            continue
        m = re.match(r"\s+(?:at|by) 0x[0-9A-Fa-f]+: (\S+) \((.*)\)", line)
        if m and cur is not None:
            cur[3].append(m.group(1))
            cur[4].append(m.group(2))
            continue
        if not line.strip():
            cur = None
    return recs


def vg_own(rec):
    # the first frame after the allocator's own (vgpreload) is the caller
    for fn, where in zip(rec[3], rec[4]):
        if "vgpreload" in where:
            continue
        return os.path.basename(where.split(":")[0]).startswith("leak_")
    return False


def agree(case):
    with open(os.path.join(HERE, "expected.json")) as f:
        expected = json.load(f)[case]
    prog = os.environ.get("HL_LEAK_" + case.upper())
    if not prog:
        raise SystemExit("HL_LEAK_%s is not set" % case.upper())
    want = {k: expected.get(k, [0, 0]) for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        p, d = heapline_json(["--exit-code", "0", "--no-default-suppressions",
                              "--show-kinds", "all"], [prog], tmp)
    check(p.returncode == 0, "%s: heapline check exited %d: %s" % (case, p.returncode, p.stderr[-500:]))
    own = totals(d["leaks"], is_own)
    for k in KINDS:
        check(own[k] == want[k], "%s: %s: heapline %s, expected %s" % (case, k, own[k], want[k]))
    print("heapline %s: %s" % (case, own))

    if not shutil.which("valgrind") or os.environ.get("HL_NO_VALGRIND"):
        print("valgrind not installed: memcheck comparison skipped")
        return
    recs = memcheck([prog])
    vg_all = {k: [0, 0] for k in KINDS}
    vg_mine = {k: [0, 0] for k in KINDS}
    for kind, b, n, funcs, _ in recs:
        if is_tls(funcs):
            continue
        vg_all[kind][0] += b
        vg_all[kind][1] += n
    for r in recs:
        if vg_own(r):
            vg_mine[r[0]][0] += r[1]
            vg_mine[r[0]][1] += r[2]
    hl_all = totals(d["leaks"], lambda l: not is_tls(frame_funcs(l)))
    print("memcheck %s: %s" % (case, vg_all))
    for k in KINDS:
        check(vg_mine[k] == want[k],
              "%s: %s: memcheck gives %s for the program's blocks, expected.json %s"
              % (case, k, vg_mine[k], want[k]))
        check(hl_all[k] == vg_all[k],
              "%s: %s: heapline %s, memcheck %s (all blocks but glibc's TLS)"
              % (case, k, hl_all[k], vg_all[k]))


# ---- the gate ----------------------------------------------------------------

def gate_prog():
    p = os.environ.get("HL_LEAK_GATE")
    if not p:
        raise SystemExit("HL_LEAK_GATE is not set")
    return p


def g_exit_default(tmp):
    p = run([HEAPLINE, "check", "--", gate_prog(), "leak"])
    check(p.returncode == 23, "a leak fails with 23, got %d" % p.returncode)
    check("1,000 bytes in 1 block is definitely lost" in p.stderr, "the leak is reported:\n" + p.stderr)
    check("LEAK SUMMARY:" in p.stderr and "Suppressions used:" in p.stderr,
          "LEAK SUMMARY and Suppressions used are printed")
    check(re.search(r"#0 lose .*leak_gate\.c:\d+", p.stderr) is not None,
          "frames carry function and file:line")


def g_exit_zero(tmp):
    p = run([HEAPLINE, "check", "--exit-code", "0", "--", gate_prog(), "leak"])
    check(p.returncode == 0, "--exit-code 0 reports without failing, got %d" % p.returncode)
    check("definitely lost" in p.stderr, "--exit-code 0 still reports")
    p = run([HEAPLINE, "check", "--exit-code", "7", "--", gate_prog(), "leak"])
    check(p.returncode == 7, "--exit-code 7, got %d" % p.returncode)


def g_clean_output(tmp):
    p = run([HEAPLINE, "check", "--", gate_prog(), "clean"])
    check(p.returncode == 0, "a clean program passes, got %d" % p.returncode)
    check(p.stdout == "gate stdout\n", "the program's stdout arrives intact: %r" % p.stdout)
    check(p.stderr.startswith("gate stderr\n"), "the program's stderr comes first: %r" % p.stderr[:80])
    check("passed" in p.stderr, "the verdict says passed")


def g_program_fails(tmp):
    p = run([HEAPLINE, "check", "--", gate_prog(), "fail"])
    check(p.returncode == 3, "the program's own status (3) wins, got %d" % p.returncode)
    check("failed (exit status 3)" in p.stderr, "check says the program failed:\n" + p.stderr[-400:])


def g_max_leaked(tmp):
    p = run([HEAPLINE, "check", "--max-leaked", "1000", "--", gate_prog(), "leak"])
    check(p.returncode == 0, "1000 bytes within --max-leaked 1000, got %d" % p.returncode)
    p = run([HEAPLINE, "check", "--max-leaked", "999", "--", gate_prog(), "leak"])
    check(p.returncode == 23, "1000 bytes over --max-leaked 999, got %d" % p.returncode)
    p = run([HEAPLINE, "check", "--errors-for", "possible,reachable", "--", gate_prog(), "leak"])
    check(p.returncode == 0, "a definite leak with --errors-for possible,reachable passes, got %d"
          % p.returncode)


def g_max_peak(tmp):
    p = run([HEAPLINE, "check", "--max-peak", "1MiB", "--", gate_prog(), "peak", "2097152"])
    check(p.returncode == 23, "a 2 MiB peak over --max-peak 1MiB fails, got %d" % p.returncode)
    check("over the budget" in p.stderr, "the verdict names the budget")
    p = run([HEAPLINE, "check", "--max-peak", "4MiB", "--", gate_prog(), "peak", "2097152"])
    check(p.returncode == 0, "a 2 MiB peak within --max-peak 4MiB passes, got %d" % p.returncode)
    p = run([HEAPLINE, "check", "--max-peak", "lots", "--", gate_prog(), "clean"])
    check(p.returncode == 2, "a bad size is a usage error, got %d" % p.returncode)


def g_suppressions(tmp):
    supp = os.path.join(tmp, "my.supp")
    with open(supp, "w") as f:
        f.write("# a comment\nleak:leak_suppress_me\n\nleak:^never_matches_anything$\n")
    p, d = heapline_json(["--suppressions", supp], [gate_prog(), "supp"], tmp)
    check(p.returncode == 23, "leak_keep_me still fails, got %d" % p.returncode)
    rules = {r["rule"]: r for r in d["suppressions"]}
    r1 = rules.get("leak:leak_suppress_me", {})
    check(r1.get("leaks") == 1 and r1.get("bytes") == 64 and r1.get("blocks") == 1,
          "the rule counts 1 leak of 64 bytes: %s" % r1)
    r2 = rules.get("leak:^never_matches_anything$", {})
    check(r2.get("leaks") == 0 and r2.get("bytes") == 0, "a dead rule shows 0: %s" % r2)
    s = d["leak_summary"]
    check(s["suppressed_bytes"] == 64 and s["suppressed_blocks"] == 1, "suppressed 64 in 1: %s" % s)
    check(s["definitely_lost_bytes"] == 32, "32 bytes still definitely lost: %s" % s)
    with open(supp, "a") as f:
        f.write("leak:leak_gate.c\n")  # a source file matches too
    p = run([HEAPLINE, "check", "--suppressions", supp, "--", gate_prog(), "supp"])
    check(p.returncode == 0, "everything suppressed passes, got %d" % p.returncode)
    check(re.search(r"^\s+1\s+1\s+64\s+leak:leak_suppress_me", p.stderr, re.M) is not None,
          "text 'Suppressions used' has counts:\n" + p.stderr[-600:])
    bad = os.path.join(tmp, "bad.supp")
    with open(bad, "w") as f:
        f.write("race:foo\n")
    p = run([HEAPLINE, "check", "--suppressions", bad, "--", gate_prog(), "clean"])
    check(p.returncode == 2 and "bad.supp:1" in p.stderr, "a bad rule is a usage error naming file:line")


def g_github(tmp):
    p = run([HEAPLINE, "check", "--github", "--", gate_prog(), "many"])
    lines = p.stdout.splitlines()
    check(p.returncode == 23, "15 leaks fail, got %d" % p.returncode)
    check(len(lines) <= 11, "at most 11 lines for GitHub, got %d" % len(lines))
    errors = [l for l in lines if l.startswith("::error file=")]
    check(len(errors) == 10, "ten annotations with a file, got %d" % len(errors))
    check(all(re.match(r"::error file=[^,]*leak_gate\.c,line=\d+,title=", l) for l in errors),
          "annotations name file and line:\n" + "\n".join(errors[:2]))
    sizes = [int(re.search(r"::([\d,]+) bytes", l).group(1).replace(",", "")) for l in errors]
    check(sizes == sorted(sizes, reverse=True) and sizes[0] == 1014,
          "the biggest leaks first: %s" % sizes)
    check(lines and lines[-1].startswith("::error title=heapline check::"),
          "a summary line last: %r" % (lines[-1] if lines else None))


def g_sarif(tmp):
    out = os.path.join(tmp, "leaks.sarif")
    p = run([HEAPLINE, "check", "--format", "sarif", "--report", out, "--", gate_prog(), "many"])
    check(p.returncode == 23, "15 leaks fail, got %d" % p.returncode)
    with open(out) as f:
        s = json.load(f)
    check(s.get("version") == "2.1.0", "SARIF version 2.1.0")
    results = s["runs"][0]["results"]
    check(len(results) == 15, "one result per leak stack, got %d" % len(results))
    for r in results:
        loc = r["locations"][0]["physicalLocation"]
        ok = loc["artifactLocation"]["uri"].endswith("leak_gate.c") and loc["region"]["startLine"] > 0
        if not check(ok, "located in the program's own code: %s" % loc):
            break
        check(r["ruleId"] == "heapline/definitely-lost" and r["level"] == "error", "rule and level")


def g_children(tmp):
    p, d = heapline_json([], [gate_prog(), "child"], tmp)
    check(p.returncode == 23, "the child's leak fails the check, got %d" % p.returncode)
    check(len(d["processes"]) == 2, "two processes judged, got %d" % len(d["processes"]))
    check(d["leak_summary"]["definitely_lost_bytes"] == 123, "123 bytes: %s" % d["leak_summary"])


def g_traces(tmp):
    trace = os.path.join(tmp, "gate.hlt")
    p = run([HEAPLINE, "check", "--exit-code", "0", "-o", trace, "--", gate_prog(), "leak"])
    check(p.returncode == 0 and os.path.exists(trace), "-o keeps the trace")
    p = run([HEAPLINE, "check", trace])
    check(p.returncode == 23, "judging the kept trace fails the same way, got %d" % p.returncode)
    check("1,000 bytes in 1 block is definitely lost" in p.stderr, "and reports the leak")
    # a trace recorded without the scan: live blocks count as definitely lost
    plain = os.path.join(tmp, "plain.hlt")
    run([HEAPLINE, "run", "-q", "-o", plain, gate_prog(), "leak"])
    p = run([HEAPLINE, "check", plain])
    check(p.returncode == 23 and "no leak scan" in p.stderr, "an unscanned trace says so and fails")
    bad = os.path.join(tmp, "bad.hlt")
    with open(trace, "rb") as f:
        data = bytearray(f.read())
    data[40:60] = b"\xff" * 20
    with open(bad, "wb") as f:
        f.write(data)
    p = run([HEAPLINE, "check", bad])
    check(p.returncode == 2, "a corrupt trace exits 2, got %d" % p.returncode)


GATES = {
    "exit_default": g_exit_default,
    "exit_code": g_exit_zero,
    "clean_output": g_clean_output,
    "program_fails": g_program_fails,
    "max_leaked": g_max_leaked,
    "max_peak": g_max_peak,
    "suppressions": g_suppressions,
    "github": g_github,
    "sarif": g_sarif,
    "children": g_children,
    "traces": g_traces,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("agree", "gate"):
        raise SystemExit(__doc__)
    what, name = sys.argv[1], sys.argv[2]
    if what == "agree":
        agree(name)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            GATES[name](tmp)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
