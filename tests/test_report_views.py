#!/usr/bin/env python3
"""test_report_views.py — the views of `heapline report`, end to end.

Runs two -g -O0 programs with known allocation profiles under `heapline run`
and checks what `heapline report` prints:
  - memory_profiler's line table, exactly, for mp_example (SPEC's example)
    and for report_views_fixture (recursion, inlining, frees attributed to
    the caller's line), line numbers found through @marker comments;
  - the JSON of every view: top sites, temporaries, leaks, histogram,
    memory over time, line tables;
  - options: --unit, --precision, --function, --file, --columns,
    --stack-depth, --top, --source-dir, several traces, bad options.

Usage: test_report_views.py HEAPLINE FIXTURE MP_EXAMPLE
Exit 0 pass, 1 fail, 77 skip (the profiler cannot run here).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_SRC = os.path.join(HERE, "report_views_fixture.c")
MP_SRC = os.path.join(HERE, "..", "examples", "mp_example.c")

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


def check(cond, msg):
    if cond:
        ok(msg)
    else:
        fail(msg)
    return cond


def check_eq(got, want, msg):
    if got == want:
        ok(msg)
        return True
    fail("%s\n--- want\n%s\n--- got\n%s" % (msg, want, got))
    return False


# ---- source lines ------------------------------------------------------------

def source_lines(path):
    with open(path) as f:
        return f.read().split("\n")


def line_of(lines, pattern, start=1):
    """1-based number of the first line at or after start containing pattern."""
    for i in range(start - 1, len(lines)):
        if pattern in lines[i]:
            return i + 1
    raise LookupError("no line with %r" % pattern)


def function_range(lines, signature):
    """The line naming a function to the first '}' at column 0 after it."""
    first = line_of(lines, signature)
    for i in range(first, len(lines)):
        if lines[i].startswith("}"):
            return first, i + 1
    raise LookupError("no end of %r" % signature)


# ---- memory_profiler's format ------------------------------------------------

ROW = "{:>6} {:>12} {:>12}  {:>10}   {}"


def fmt_size(nbytes, unit="MiB", precision=3):
    if unit == "B":
        return "%d B" % nbytes
    div = {"KiB": 2 ** 10, "MiB": 2 ** 20, "GiB": 2 ** 30}[unit]
    return ("{0:%d.%df} %s" % (precision + 4, precision, unit)).format(nbytes / div)


def expected_table(path_shown, function, lines, first, last, rows, unit="MiB", precision=3):
    """rows: {line: (mem, increment, occurrences)}; others are blank."""
    header = ROW.format("Line #", "Mem usage", "Increment", "Occurrences", "Line Contents")
    out = ["Filename: " + path_shown, "Function: " + function, "", header, "=" * len(header)]
    for n in range(first, last + 1):
        text = lines[n - 1].expandtabs(8)  # the text table expands tabs
        if n in rows:
            mem, inc, occ = rows[n]
            out.append(ROW.format(n, fmt_size(mem, unit, precision),
                                  fmt_size(inc, unit, precision), occ, text))
        else:
            out.append(ROW.format(n, "", "", "", text))
    return "\n".join(out)


def table_in(text, function):
    """The table of one function in a text report: Filename .. last row."""
    blocks = re.split(r"\n(?=Filename: )", text)
    for b in blocks:
        m = re.match(r"(Filename: .*\nFunction: (.*)\n)", b)
        if m and m.group(2) == function:
            # the table ends at the first empty line after its rows
            parts = b.split("\n\n")
            return parts[0] + "\n\n" + parts[1].rstrip("\n")
    return None


def shown_path(path, cwd):
    path = os.path.normpath(os.path.abspath(path))
    if path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1:]
    return path


# ---- running -------------------------------------------------------------------

class Env:
    def __init__(self, heapline, tmp):
        self.heapline = heapline
        self.tmp = tmp

    def run(self, prog, name, cwd=None):
        trace = os.path.join(self.tmp, name + ".hlt")
        if os.path.exists(trace):
            os.unlink(trace)
        p = subprocess.run([self.heapline, "run", "-q", "-o", trace, "--", prog],
                           cwd=cwd or self.tmp, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        if p.returncode != 0 or not os.path.exists(trace):
            print("SKIP: heapline run %s failed (status %d): %s" % (prog, p.returncode, p.stderr))
            sys.exit(77)
        return trace

    def report(self, *args, status=0):
        p = subprocess.run([self.heapline, "report"] + list(args), cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        if p.returncode != status:
            fail("heapline report %s: status %d, want %d; stderr: %s"
                 % (" ".join(args), p.returncode, status, p.stderr.strip()))
        return p.stdout, p.stderr

    def report_json(self, *args):
        out, _ = self.report("--format", "json", *args)
        try:
            return json.loads(out)
        except ValueError as e:
            fail("report %s: not JSON (%s): %s" % (" ".join(args), e, out[:200]))
            return {}


# ---- mp_example: SPEC's table ----------------------------------------------------

def test_mp(env, prog):
    lines = source_lines(MP_SRC)
    trace = env.run(prog, "mp")
    shown = shown_path(MP_SRC, env.tmp)
    ml_first, ml_last = function_range(lines, "char *make_lists(void)")
    main_first, main_last = function_range(lines, "int main(void)")
    a = line_of(lines, "malloc(8 << 20)", ml_first)
    b = line_of(lines, "malloc(160 << 20)", ml_first)
    fb = line_of(lines, "free(b)", ml_first)
    call = line_of(lines, "keep = make_lists()", main_first)
    MiB = 2 ** 20

    out, _ = env.report(trace)
    check(out.startswith("Summary: "), "mp: default report opens with the summary")
    check("Top allocation sites by bytes allocated" in out, "mp: default report has top sites")
    want = expected_table(shown, "make_lists", lines, ml_first, ml_last, {
        a: (8 * MiB, 8 * MiB, 1),
        b: (168 * MiB, 160 * MiB, 1),
        fb: (8 * MiB, -160 * MiB, 1),
    })
    check_eq(table_in(out, "make_lists"), want, "mp: make_lists line table, exactly")
    want = expected_table(shown, "main", lines, main_first, main_last, {
        call: (168 * MiB, 8 * MiB, 3),
    })
    check_eq(table_in(out, "main"), want, "mp: main line table, exactly")
    check(out.find("Function: make_lists") < out.find("Function: main"),
          "mp: tables ordered by bytes, the allocating function before its caller")

    # A trace read through a pipe (report <(...)): one read only, so nothing
    # may read it beside the replay (the symbol prefetch reads files twice).
    # The trace arrives in two parts, the second after a pause, so that a
    # second reader would be there to take some of it.
    with open(os.path.join(env.tmp, trace), "rb") as f:
        data = f.read()
    p = subprocess.Popen([env.heapline, "report", "/dev/stdin"], cwd=env.tmp,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    half = max(1, len(data) // 2)
    try:
        p.stdin.write(data[:half])
        p.stdin.flush()
        time.sleep(0.3)
        p.stdin.write(data[half:])
        p.stdin.close()
    except BrokenPipeError:
        pass
    piped = p.stdout.read().decode()
    err = p.stderr.read()
    p.wait(timeout=120)
    check(p.returncode == 0 and table_in(piped, "make_lists") == table_in(out, "make_lists")
          and table_in(piped, "main") == table_in(out, "main"),
          "mp: the default report of a trace on a pipe has the same tables (status %d, %s)"
          % (p.returncode, err.decode().strip()[:200]))

    out, _ = env.report("--view", "lines", "--function", "make_lists", "--unit", "GiB",
                        "--precision", "2", trace)
    want = expected_table(shown, "make_lists", lines, ml_first, ml_last, {
        a: (8 * MiB, 8 * MiB, 1),
        b: (168 * MiB, 160 * MiB, 1),
        fb: (8 * MiB, -160 * MiB, 1),
    }, unit="GiB", precision=2)
    check_eq(out.rstrip("\n"), want, "mp: --unit GiB --precision 2")

    j = env.report_json("--view", "lines,top,leaks,temp,hist", "--function", "make_lists",
                        trace)
    s = j.get("summary", {})
    check(s.get("allocations") == 2 and s.get("peak_bytes") == 168 * MiB,
          "mp json: summary present with --view not naming it")
    tables = j.get("line_tables", [])
    if check(len(tables) == 1 and tables[0]["function"] == "make_lists",
             "mp json: one line table, make_lists"):
        t = tables[0]
        by = {r["line"]: r for r in t["lines"]}
        check(t["first_line"] == ml_first and t["last_line"] == ml_last,
              "mp json: table spans the function's lines")
        check((by[a]["mem_usage_bytes"], by[a]["increment_bytes"], by[a]["occurrences"])
              == (8 * MiB, 8 * MiB, 1), "mp json: a line")
        check((by[b]["mem_usage_bytes"], by[b]["increment_bytes"], by[b]["occurrences"])
              == (168 * MiB, 160 * MiB, 1), "mp json: b line")
        check((by[fb]["mem_usage_bytes"], by[fb]["increment_bytes"], by[fb]["occurrences"],
               by[fb]["frees"]) == (8 * MiB, -160 * MiB, 1, 1), "mp json: free line")
        check(by[a]["leaked_bytes"] == 8 * MiB, "mp json: leaked column of the a line")
        check(by[ml_first]["mem_usage_bytes"] is None and by[ml_first]["occurrences"] == 0,
              "mp json: blank line has null mem usage")
        check(by[b]["text"] == lines[b - 1], "mp json: text of a line, tabs as in the file")
    top = j.get("top_bytes", [])
    check(len(top) == 2 and top[0]["bytes_allocated"] == 160 * MiB
          and top[0]["frames"][0]["function"] == "make_lists"
          and top[0]["frames"][0]["line"] == b
          and top[0]["frames"][1]["function"] == "main"
          and top[0]["frames"][1]["line"] == call,
          "mp json: top site is the 160 MiB line, called from main")
    lk = j.get("leaks", {})
    check(lk.get("leaked_bytes") == 8 * MiB and lk.get("site_count") == 1
          and lk["sites"][0]["frames"][0]["line"] == a, "mp json: the leak is the a line")
    tm = j.get("temporary", {})
    check(tm.get("temporary") == 1 and tm.get("temporary_bytes") == 160 * MiB,
          "mp json: b (freed with no allocation between) is temporary")
    return trace


# ---- the fixture ---------------------------------------------------------------

def test_fixture(env, prog):
    lines = source_lines(FIXTURE_SRC)
    trace = env.run(prog, "fixture")
    shown = shown_path(FIXTURE_SRC, env.tmp)
    L = lambda marker: line_of(lines, "/* @%s */" % marker)

    j = env.report_json("--view", "all", "--stack-depth", "0", trace)
    s = j.get("summary", {})
    if not check(s.get("allocations") == 23 and s.get("frees") == 22,
                 "fixture: 23 allocations, 22 frees (nothing else allocates)"):
        return

    # the recursive build(): a line counts once per allocation
    b_first, b_last = function_range(lines, "static struct node *build(int depth)")
    out, _ = env.report("--view", "lines", "--function", "build", "--unit", "B", trace)
    want = expected_table(shown, "build", lines, b_first, b_last, {
        L("build_alloc"): (960, 960, 15),
        L("build_left"): (896, 704, 11),
        L("build_right"): (960, 704, 11),
    }, unit="B")
    check_eq(out.rstrip("\n"), want, "fixture: build() table under recursion, exactly")

    # destroy(): frees attributed to the lines that called them
    d_first, d_last = function_range(lines, "static void destroy(struct node *n)")
    dl = line_of(lines, "destroy(n->l);", d_first)
    dr = line_of(lines, "destroy(n->r);", d_first)
    out, _ = env.report("--view", "lines", "--function", "destroy", "--unit", "B", trace)
    want = expected_table(shown, "destroy", lines, d_first, d_last, {
        dl: (896, -704, 11),
        dr: (832, -704, 11),
        L("destroy_free"): (896, -960, 15),
    }, unit="B")
    check_eq(out.rstrip("\n"), want, "fixture: destroy() table, frees negative")

    # main: callees included, inlined grab() on its call line
    m_first, m_last = function_range(lines, "int main(void)")
    out, _ = env.report("--view", "lines", "--function", "main", "--unit", "B", trace)
    want = expected_table(shown, "main", lines, m_first, m_last, {
        L("main_build"): (960, 960, 15),
        L("main_destroy"): (896, -960, 15),
        L("main_temps"): (106, 0, 14),
        L("main_leak"): (3000, 3000, 1),
    }, unit="B")
    check_eq(out.rstrip("\n"), want, "fixture: main() table, inlined call and callees")

    # the default: the three own functions that allocated most
    out, _ = env.report("--view", "lines", trace)
    names = re.findall(r"^Function: (.*)$", out, re.M)
    check_eq(names, ["main", "grab", "build"], "fixture: default tables, most bytes first")

    # --file: every function of the file with activity, in file order
    out, _ = env.report("--view", "lines", "--file", "report_views_fixture.c", trace)
    names = re.findall(r"^Function: (.*)$", out, re.M)
    check_eq(names, ["build", "destroy", "temporaries", "grab", "main"],
             "fixture: --file tables in file order")

    # extra columns
    out, _ = env.report("--view", "lines", "--function", "main", "--unit", "B",
                        "--columns", "leaked,peak,frees", trace)
    header = "{:>6} {:>12} {:>12}  {:>10}  {:>12}  {:>12}  {:>10}   {}".format(
        "Line #", "Mem usage", "Increment", "Occurrences", "Leaked", "At peak", "Frees",
        "Line Contents")
    row = "{:>6} {:>12} {:>12}  {:>10}  {:>12}  {:>12}  {:>10}   {}".format(
        L("main_leak"), "3000 B", "3000 B", 1, "3000 B", "3000 B", 0,
        lines[L("main_leak") - 1].expandtabs(8))
    check(header in out.split("\n") and row in out.split("\n"),
          "fixture: --columns leaked,peak,frees")
    row = "{:>6} {:>12} {:>12}  {:>10}  {:>12}  {:>12}  {:>10}   {}".format(
        L("main_destroy"), "896 B", "-960 B", 15, "0 B", "0 B", 15,
        lines[L("main_destroy") - 1].expandtabs(8))
    check(row in out.split("\n"), "fixture: frees column counts destroy's frees")

    # sites, merged by --stack-depth 0
    calls = j.get("top_calls", [])
    check(len(calls) >= 2 and calls[0]["frames"][0]["function"] == "build"
          and calls[0]["allocations"] == 15 and calls[0]["bytes_allocated"] == 960
          and calls[0]["stacks"] == 15 and len(calls[0]["frames"]) == 1,
          "fixture json: --stack-depth 0 merges build's 15 stacks into one site")
    check(len(calls) >= 2 and calls[1]["frames"][0]["line"] == L("temp_alloc")
          and calls[1]["allocations"] == 7, "fixture json: temporaries() is second by calls")
    tm = j.get("temporary", {})
    check(tm.get("temporary") == 7 and tm.get("temporary_bytes") == 721
          and tm["sites"][0]["frames"][0]["line"] == L("temp_alloc")
          and tm["sites"][0]["temporary"] == 7, "fixture json: exactly 7 temporaries")
    hist = [(h["min_bytes"], h["max_bytes"], h["calls"], h["bytes"])
            for h in j.get("histogram", []) if h["calls"]]
    check_eq(hist, [(64, 127, 22, 960 + 721), (2048, 4095, 1, 3000)],
             "fixture json: histogram buckets")
    check(j.get("histogram", [{}])[0].get("min_bytes") == 64
          and len(j.get("histogram", [])) == 6, "fixture json: histogram spans 64 B .. 4 KiB")
    peak = j.get("top_peak", [])
    check(len(peak) == 1 and peak[0]["peak_bytes"] == 3000
          and peak[0]["frames"][0]["function"] == "grab",
          "fixture json: at the peak only grab's block is live")
    mot = j.get("memory_over_time", {})
    check(mot.get("peak_bytes") == s.get("peak_bytes") and mot.get("samples")
          and max(x["live_bytes"] for x in mot["samples"]) == s.get("peak_bytes")
          and mot["samples"][-1]["live_bytes"] == 3000,
          "fixture json: memory over time reaches the peak and ends with the leak")

    # leaks with callers (default depth): grab, inlined into main
    j = env.report_json("--view", "leaks,top", "--top", "2", trace)
    lk = j.get("leaks", {})
    fr = lk.get("sites", [{}])[0].get("frames", [])
    check(lk.get("leaked_bytes") == 3000 and lk.get("leaked_blocks") == 1
          and len(fr) == 2 and fr[0]["function"] == "grab" and fr[0]["inlined"]
          and fr[0]["line"] == L("grab") and fr[1]["function"] == "main"
          and fr[1]["line"] == L("main_leak"),
          "fixture json: the leak's site is grab() inlined at main's line")
    check(len(j.get("top_bytes", [])) == 2, "fixture json: --top 2 gives two sites")

    # every text view prints, titled
    out, _ = env.report("--view", "all", trace)
    for title in ("Summary: ", "Top allocation sites by bytes allocated: ",
                  "Top allocation sites by allocation calls: ",
                  "Top allocation sites by bytes live at the peak ",
                  "Temporary allocations: ", "Not freed at exit: ", "Allocation sizes: ",
                  "Memory over time: ", "Filename: "):
        check(("\n" + title) in ("\n" + out), "fixture text: section '%s'" % title.strip())
    chart = out.split("Memory over time: ")[1].split("\n\n")[0].split("\n")
    plot = [r for r in chart if "|" in r]
    check(len(plot) == 16 and all(len(r) <= 13 + 2 + 72 for r in plot),
          "fixture text: chart is 16 rows of at most 72 columns")
    check(any("^ peak" in r or "peak" in r and r.endswith("^") for r in chart),
          "fixture text: chart marks the peak")
    return trace


# ---- sources elsewhere ---------------------------------------------------------

def test_source_dir(env):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("skip: no C compiler for the --source-dir test")
        return
    src = os.path.join(env.tmp, "srcA", "sub")
    os.makedirs(src)
    shutil.copy(MP_SRC, os.path.join(src, "mp.c"))
    prog = os.path.join(env.tmp, "mp_moved")
    if subprocess.run([cc, "-g", "-O0", "-o", prog, "mp.c"], cwd=src).returncode:
        fail("cannot compile mp.c for the --source-dir test")
        return
    trace = env.run(prog, "moved")
    os.rename(os.path.join(env.tmp, "srcA"), os.path.join(env.tmp, "srcB"))
    lines = source_lines(MP_SRC)
    b = line_of(lines, "malloc(160 << 20)", line_of(lines, "char *make_lists(void)"))
    out, _ = env.report("--view", "lines", "--function", "make_lists", trace)
    row = ROW.format(b, fmt_size(168 << 20), fmt_size(160 << 20), 1, "")
    check(row in out.split("\n"), "source gone: numbers without text")
    out, _ = env.report("--view", "lines", "--function", "make_lists", "--source-dir",
                        os.path.join(env.tmp, "srcB", "sub"), trace)
    row = ROW.format(b, fmt_size(168 << 20), fmt_size(160 << 20), 1, lines[b - 1].expandtabs(8))
    check(row in out.split("\n"), "--source-dir finds the moved source")


# ---- stacks end where the C library calls main ---------------------------------

TAILCALL_SRC = r"""
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) int work(int n)
{
	char *p = malloc((size_t)n);
	if (!p)
		return 1;
	memset(p, 1, (size_t)n);
	int r = p[n - 1] != 1;
	free(p);
	return r;
}
int main(int argc, char **argv)
{
	(void)argv;
	return work(4000 + argc); /* a sibling call at -O2: main leaves the stack */
}
"""

BELOW_MAIN = ("__libc_start_main", "__libc_start_call_main", "generic_start_main",
              "_dl_start_user", "_dl_init", "call_init")


def test_below_main(env):
    """A main that tail-calls, and the same program stripped: the site's
    callers never go into the C library's start-up code."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("skip: no C compiler for the below-main test")
        return
    with open(os.path.join(env.tmp, "tail.c"), "w") as f:
        f.write(TAILCALL_SRC)
    for name, flags in (("tail", ["-g"]), ("tail_stripped", ["-s"])):
        prog = os.path.join(env.tmp, name)
        if subprocess.run([cc, "-O2", "-fno-inline"] + flags + ["-o", prog, "tail.c"],
                          cwd=env.tmp).returncode:
            fail("cannot compile tail.c")
            return
        trace = env.run(prog, name)
        j = env.report_json("--view", "top", "--top", "100", "--stack-depth", "20", trace)
        sites = [s for s in j.get("top_bytes", []) if s.get("bytes_allocated") == 4001]
        check(len(sites) == 1, "%s: the 4001-byte site is there" % name)
        for site in sites:
            frames = site.get("frames", [])
            names = [fr.get("function") or "" for fr in frames]
            check(frames and frames[0].get("module") == prog,
                  "%s: the site is in the program (a /usr/lib one would be too): %s"
                  % (name, frames[:1]))
            check(not any(n.startswith(BELOW_MAIN) for n in names),
                  "%s: no C library start-up frame among the callers: %s" % (name, names))
            libc = [fr for fr in frames if "libc.so" in (fr.get("module") or "")]
            check(len(libc) <= 1, "%s: at most one unnamed libc frame before the stop: %s"
                  % (name, names))

# ---- several traces, bad options -----------------------------------------------

def test_cli(env, t1, t2):
    j = env.report_json("--view", "top", t1, t2)
    check(len(j.get("processes", [])) == 2 and "top_bytes" in j["processes"][0]
          and j.get("combined", {}).get("processes") == 2,
          "several traces: per process, plus combined")
    out, _ = env.report(t1, t2)
    check(out.count("Summary: ") == 2 and "\nCombined\n" in out,
          "several traces text: two reports and a combined summary")
    for args in (["--view", "nosuch"], ["--unit", "parsec"], ["--top", "0"],
                 ["--precision", "x"], ["--columns", "bogus"], ["--stack-depth", "-1"]):
        _, err = env.report(*(args + [t1]), status=2)
        check(err.count("\n") == 1 and "heapline report:" in err,
              "bad option %s: one line, status 2" % " ".join(args))


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 1
    heapline, fixture, mp = (os.path.abspath(a) for a in sys.argv[1:])
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="hl-test-views."))
    try:
        env = Env(heapline, tmp)
        t_mp = test_mp(env, mp)
        t_fx = test_fixture(env, fixture)
        test_source_dir(env)
        test_below_main(env)
        test_cli(env, t_mp, t_fx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % failures)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
