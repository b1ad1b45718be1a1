#!/usr/bin/env python3
"""test_exports.py — `heapline report --folded/--speedscope/--massif`.

Runs export_fixture (a -g -O0 program with an exactly known profile) under
`heapline run` and checks one export per case:
  folded      the lines, exactly, for every --metric; sorted; the inlined
              frame; several traces (the process as the root frame); '-'
  speedscope  the document's structure against speedscope's schema, frame
              indices, weights summing to endValue and to the summary's
              bytes_allocated, frames with their file and line
  massif      valgrind's ms_print reads it (exit 0, the peak drawn and
              listed, detailed snapshots), and the file itself: massif's
              header, snapshot fields, tree syntax, sizes that add up
  options     conflicts and errors: exit 2 with one line
Usage: test_exports.py HEAPLINE FIXTURE CASE
Exit 0 pass, 1 fail, 77 skip (the profiler cannot run here, or ms_print is
missing for the massif case).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_SRC = os.path.join(HERE, "export_fixture.c")
NODES, NODE_BYTES, SPIKE, TINY = 200, 1000, 1 << 20, 100

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        global failures
        failures += 1
    return cond


def check_eq(got, want, msg):
    if got == want:
        print("ok: " + msg)
        return True
    fail("%s\n--- want\n%r\n--- got\n%r" % (msg, want, got))
    return False


def line_of(pattern):
    with open(FIXTURE_SRC) as f:
        for i, line in enumerate(f, 1):
            if pattern in line:
                return i
    raise LookupError(pattern)


class Env:
    def __init__(self, heapline, fixture, tmp):
        self.heapline, self.fixture, self.tmp = heapline, fixture, tmp

    def record(self, name):
        trace = os.path.join(self.tmp, name + ".hlt")
        p = subprocess.run([self.heapline, "run", "-q", "-o", trace, "--", self.fixture],
                           cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        if p.returncode != 0 or not os.path.exists(trace):
            print("SKIP: heapline run failed (status %d): %s" % (p.returncode, p.stderr))
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

    def summary(self, trace):
        out, _ = self.report("--format", "json", "--view", "summary", trace)
        return json.loads(out)["summary"]


# ---- folded --------------------------------------------------------------------

def test_folded(env):
    trace = env.record("ef")
    want = {
        "allocated": ["main;make_list;node_new %d" % (NODES * NODE_BYTES),
                      "main;spike %d" % SPIKE, "main;tiny %d" % (3 * TINY)],
        "calls": ["main;make_list;node_new %d" % NODES, "main;spike 1", "main;tiny 3"],
        "peak": ["main;make_list;node_new %d" % (NODES * NODE_BYTES),
                 "main;spike %d" % SPIKE, "main;tiny %d" % (3 * TINY)],
        "leaked": ["main;make_list;node_new %d" % (NODES // 2 * NODE_BYTES)],
    }
    for metric, lines in want.items():
        path = os.path.join(env.tmp, metric + ".folded")
        out, err = env.report("--folded", path, "--metric", metric, trace)
        check_eq(out, "", "folded %s: nothing else on stdout without --view" % metric)
        with open(path) as f:
            got = f.read()
        check_eq(got, "\n".join(lines) + "\n", "folded --metric %s: lines, exactly" % metric)

    out, _ = env.report("--folded", "-", trace)
    check_eq(out.splitlines(), want["allocated"], "folded: '-' writes stdout, default metric "
             "allocated; the inlined node_new is a frame of its own")
    check_eq(out.splitlines(), sorted(out.splitlines()), "folded: lines sorted")
    total = sum(int(l.rsplit(" ", 1)[1]) for l in out.splitlines())
    check_eq(total, env.summary(trace)["bytes_allocated"],
             "folded: weights sum to the summary's bytes_allocated")
    for l in out.splitlines():
        check(re.match(r"^[^ ;][^;]*(;[^;]+)* \d+$", l) is not None,
              "folded: line %r has the format 'a;b;c N'" % l)

    # several traces: one file, the process as the outermost frame
    trace2 = env.record("ef2")
    out, _ = env.report("--folded", "-", trace, trace2)
    lines = out.splitlines()
    check_eq(len(lines), 6, "folded, two traces: three lines each")
    roots = sorted(set(l.split(";", 1)[0] for l in lines))
    check(len(roots) == 2 and all(re.match(r"^\S+ \(pid \d+\)$", r) for r in roots),
          "folded, two traces: a root frame per process: %r" % roots)

    # again: the same bytes (stable output)
    out2, _ = env.report("--folded", "-", trace)
    check_eq(out2, env.report("--folded", "-", trace)[0], "folded: the same output twice")

    # with --view the report prints as well
    path = os.path.join(env.tmp, "with_view.folded")
    out, _ = env.report("--folded", path, "--view", "summary", trace)
    check(out.startswith("Summary: "), "folded with --view summary: the summary is printed")
    check(os.path.getsize(path) > 0, "folded with --view: the file is written too")


# ---- speedscope ----------------------------------------------------------------

def check_speedscope_doc(doc, what):
    """The structure of speedscope's file-format-schema.json for sampled profiles."""
    ok = bool(check(doc.get("$schema") == "https://www.speedscope.app/file-format-schema.json",
               what + ": $schema"))
    frames = doc.get("shared", {}).get("frames")
    ok &= check(isinstance(frames, list) and len(frames) > 0, what + ": shared.frames is a list")
    for fr in frames or []:
        ok &= isinstance(fr.get("name"), str) and fr["name"] != ""
        ok &= set(fr) <= {"name", "file", "line", "col"}
        ok &= "file" not in fr or isinstance(fr["file"], str)
        ok &= "line" not in fr or (isinstance(fr["line"], int) and fr["line"] > 0)
    check(ok, what + ": every frame has a name and only name/file/line/col")
    profiles = doc.get("profiles")
    check(isinstance(profiles, list) and len(profiles) > 0, what + ": profiles is a list")
    for p in profiles or []:
        check(p.get("type") == "sampled" and isinstance(p.get("name"), str)
              and p.get("unit") in ("bytes", "none"), what + ": sampled profile, named, unit")
        samples, weights = p.get("samples"), p.get("weights")
        check(isinstance(samples, list) and isinstance(weights, list)
              and len(samples) == len(weights), what + ": one weight per sample")
        check(all(isinstance(s, list) and s and
                  all(isinstance(i, int) and 0 <= i < len(frames) for i in s)
                  for s in samples), what + ": samples are lists of frame indices")
        check(all(isinstance(w, int) and w > 0 for w in weights), what + ": weights > 0")
        check(p.get("startValue") == 0 and p.get("endValue") == sum(weights),
              what + ": startValue 0, endValue the sum of the weights (%s)" % p.get("endValue"))
    return frames or [], profiles or []


def test_speedscope(env):
    trace = env.record("ef")
    summary = env.summary(trace)
    path = os.path.join(env.tmp, "ef.speedscope.json")
    env.report("--speedscope", path, trace)
    with open(path) as f:
        doc = json.load(f)
    frames, profiles = check_speedscope_doc(doc, "speedscope")
    check_eq(len(profiles), 1, "speedscope: one profile for one trace")
    p = profiles[0]
    check_eq(p["unit"], "bytes", "speedscope: unit bytes")
    check_eq(sum(p["weights"]), summary["bytes_allocated"],
             "speedscope: weights sum to the summary's bytes_allocated")
    stacks = sorted((";".join(frames[i]["name"] for i in s), w)
                    for s, w in zip(p["samples"], p["weights"]))
    check_eq(stacks, [("main;make_list;node_new", NODES * NODE_BYTES), ("main;spike", SPIKE),
                      ("main;tiny", 3 * TINY)],
             "speedscope: stacks root first, with their bytes")
    by_name = {fr["name"]: fr for fr in frames}
    for name, marker in (("node_new", "node_new(struct node *next)"),
                         ("make_list", "make_list(int count)"), ("spike", "spike(void)"),
                         ("main", "int main(void)")):
        fr = by_name.get(name, {})
        check(fr.get("file", "").endswith("export_fixture.c") and fr.get("line") == line_of(marker),
              "speedscope: frame %s at export_fixture.c:%d (%r)" % (name, line_of(marker), fr))

    for metric, total in (("peak", NODES * NODE_BYTES + SPIKE + 3 * TINY),
                          ("leaked", NODES // 2 * NODE_BYTES), ("calls", NODES + 1 + 3)):
        out, _ = env.report("--speedscope", "-", "--metric", metric, trace)
        doc = json.loads(out)
        _, profiles = check_speedscope_doc(doc, "speedscope --metric " + metric)
        check_eq(profiles[0]["endValue"], total, "speedscope --metric %s: total" % metric)
        check_eq(profiles[0]["unit"], "none" if metric == "calls" else "bytes",
                 "speedscope --metric %s: unit" % metric)

    trace2 = env.record("ef2")
    out, _ = env.report("--speedscope", "-", trace, trace2)
    frames, profiles = check_speedscope_doc(json.loads(out), "speedscope, two traces")
    check_eq(len(profiles), 2, "speedscope, two traces: two profiles")
    check_eq(len(frames), 5, "speedscope, two traces: frames shared (5, not 10)")


# ---- massif ----------------------------------------------------------------------

TREE_LINE = re.compile(r"^( *)n(\d+): (\d+) (.*)$")
FRAME_DESC = re.compile(r"^0x[0-9A-F]+: (\S.*?)(?: \((?:in .+|[^ ()]+:\d+)\))?$")
INSIG_DESC = re.compile(r"^in (?:1 place,|\d+ places, all) below massif's threshold \(1\.00%\)$")


def parse_massif(text):
    """Massif's out-file, strictly: returns (header, snapshots)."""
    lines = text.split("\n")
    assert lines[-1] == "", "ends with a newline"
    lines = lines[:-1]
    i = 0
    header = {}
    for key in ("desc", "cmd", "time_unit"):
        m = re.match(r"^%s: ?(.*)$" % key, lines[i])
        assert m, "line %d: want %s:, got %r" % (i + 1, key, lines[i])
        header[key] = m.group(1)
        i += 1
    snaps = []
    while i < len(lines):
        assert lines[i] == "#-----------" and lines[i + 2] == "#-----------", \
            "line %d: snapshot separator" % (i + 1)
        s = {}
        m = re.match(r"^snapshot=(\d+)$", lines[i + 1])
        assert m, "line %d: snapshot=" % (i + 2)
        s["n"] = int(m.group(1))
        i += 3
        for key in ("time", "mem_heap_B", "mem_heap_extra_B", "mem_stacks_B"):
            m = re.match(r"^%s=(\d+)$" % key, lines[i])
            assert m, "line %d: want %s=N, got %r" % (i + 1, key, lines[i])
            s[key] = int(m.group(1))
            i += 1
        m = re.match(r"^heap_tree=(empty|detailed|peak)$", lines[i])
        assert m, "line %d: heap_tree=" % (i + 1)
        s["tree_kind"] = m.group(1)
        i += 1
        if s["tree_kind"] != "empty":
            s["tree"], i = parse_tree(lines, i, 0)
        snaps.append(s)
    return header, snaps


def parse_tree(lines, i, depth):
    m = TREE_LINE.match(lines[i])
    assert m, "line %d: not a tree node: %r" % (i + 1, lines[i])
    assert len(m.group(1)) == depth, "line %d: indent %d, want %d" % (i + 1, len(m.group(1)), depth)
    node = {"bytes": int(m.group(3)), "desc": m.group(4), "children": []}
    if depth == 0:
        assert node["desc"] == "(heap allocation functions) malloc/new/new[], --alloc-fns, etc.", \
            "line %d: root description" % (i + 1)
    else:
        assert FRAME_DESC.match(node["desc"]) or INSIG_DESC.match(node["desc"]), \
            "line %d: description %r" % (i + 1, node["desc"])
    i += 1
    for _ in range(int(m.group(2))):
        child, i = parse_tree(lines, i, depth + 1)
        node["children"].append(child)
    assert sum(c["bytes"] for c in node["children"]) <= node["bytes"], "children > parent"
    sizes = [c["bytes"] for c in node["children"]]
    assert sizes == sorted(sizes, reverse=True), "siblings largest first"
    return node, i


def tree_paths(node, prefix=()):
    if not node["children"]:
        yield prefix, node["bytes"]
    for c in node["children"]:
        m = FRAME_DESC.match(c["desc"])
        name = m.group(1) if m else c["desc"]
        yield from tree_paths(c, prefix + (name,))


def test_massif(env):
    ms_print = shutil.which("ms_print")
    if not ms_print:
        print("SKIP: ms_print (valgrind) is not installed")
        sys.exit(77)
    trace = env.record("ef")
    summary = env.summary(trace)
    path = os.path.join(env.tmp, "massif.out.ef")
    out, _ = env.report("--massif", path, trace)
    check_eq(out, "", "massif: nothing on stdout")
    with open(path) as f:
        text = f.read()
    try:
        header, snaps = parse_massif(text)
    except AssertionError as e:
        fail("massif: the file is not massif's format: %s" % e)
        return
    check_eq(header["time_unit"], "ms", "massif: time_unit: ms")
    check(header["cmd"].endswith("export_fixture"), "massif: cmd is the program")
    check_eq([s["n"] for s in snaps], list(range(len(snaps))), "massif: snapshots numbered 0..")
    check(10 <= len(snaps) <= 101, "massif: about 100 snapshots at most (%d)" % len(snaps))
    check_eq(snaps[0]["time"], 0, "massif: snapshot 0 at time 0")
    check(all(a["time"] <= b["time"] for a, b in zip(snaps, snaps[1:])), "massif: time never goes back")
    check(snaps[-1]["time"] >= 60, "massif: the time axis spans the run's sleeps (%d ms)"
          % snaps[-1]["time"])
    peaks = [s for s in snaps if s["tree_kind"] == "peak"]
    check_eq(len(peaks), 1, "massif: one peak snapshot")
    peak = NODES * NODE_BYTES + SPIKE + 3 * TINY
    check_eq(summary["peak_bytes"], peak, "summary: peak_bytes")
    check_eq(max(s["mem_heap_B"] for s in snaps), peak, "massif: the largest mem_heap_B is the peak")
    check_eq(peaks[0]["mem_heap_B"], peak, "massif: heap_tree=peak at the peak")
    check(sum(s["tree_kind"] == "detailed" for s in snaps) >= 3, "massif: detailed snapshots")
    check(all(s["tree"]["bytes"] == s["mem_heap_B"] for s in snaps if "tree" in s),
          "massif: every tree's root holds the snapshot's heap")
    check_eq(sorted(tree_paths(peaks[0]["tree"])),
             [(("in 3 places, all below massif's threshold (1.00%)",), 3 * TINY),
              (("node_new", "make_list", "main"), NODES * NODE_BYTES), (("spike", "main"), SPIKE)],
             "massif: the peak's tree, innermost first, inlined node_new its own node, down to "
             "main; the tiny blocks in massif's 'in 3 places' line")
    check("node_new (export_fixture.c:%d)" % line_of("@node_new") in text
          and "spike (export_fixture.c:%d)" % line_of("@spike") in text,
          "massif: frames as 'fn (file:line)'")
    check_eq(snaps[-1]["mem_heap_B"], NODES // 2 * NODE_BYTES, "massif: the last snapshot is what leaked")

    p = subprocess.run([ms_print, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    check_eq(p.returncode, 0, "ms_print: exit 0 (stderr: %s)" % p.stderr.strip())
    check("{:,}".format(peak) in p.stdout, "ms_print: the peak value %s appears" % "{:,}".format(peak))
    graph = p.stdout.split("Number of snapshots:")[0]
    check(re.search(r"\^.*#", graph) is not None and "+------" in graph,
          "ms_print: the graph is drawn, the peak's column in '#'")
    m = re.search(r"Detailed snapshots: \[(.*)\]", p.stdout)
    check(m is not None and "(peak)" in m.group(1), "ms_print: lists the detailed snapshots, the peak among them")
    check("->" in p.stdout and "make_list (export_fixture.c:" in p.stdout,
          "ms_print: prints the heap trees")

    out, err = env.report("--massif", path, trace, trace, status=2)
    check("one trace" in err, "massif: two traces refused with one line")


# ---- options ---------------------------------------------------------------------

def test_options(env):
    trace = env.record("ef")
    cases = [
        (["--metric", "bogus", "--folded", "-", trace], "unknown metric"),
        (["--metric", "peak", trace], "--metric applies"),
        (["--folded", "-", "--speedscope", "-", trace], "only one export"),
        (["--folded", "-", "--view", "summary", trace], "stdout"),
        (["--folded", os.path.join(env.tmp, "no", "such", "dir"), trace], "cannot write"),
        (["--folded"], "needs a value"),
        (["--folded", os.path.join(env.tmp, "x.folded"), os.path.join(env.tmp, "missing.hlt")],
         "missing.hlt"),
    ]
    for args, text in cases:
        out, err = env.report(*args, status=2)
        check(text in err and len(err.strip().splitlines()) == 1,
              "options %s: exit 2, one line naming the problem (%r)" % (" ".join(args[:3]), err.strip()))
    out, _ = env.report("--help")
    for opt in ("--folded FILE", "--speedscope FILE", "--massif FILE", "--metric"):
        check(opt in out, "--help lists %s" % opt)
    # JSON report with an export and --view: both
    path = os.path.join(env.tmp, "j.folded")
    out, _ = env.report("--format", "json", "--view", "summary", "--folded", path, trace)
    check("summary" in json.loads(out) and os.path.getsize(path) > 0,
          "--format json --view summary --folded FILE: the JSON and the file")


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    heapline, fixture, case = sys.argv[1:]
    tests = {"folded": test_folded, "speedscope": test_speedscope, "massif": test_massif,
             "options": test_options}
    tmp = tempfile.mkdtemp(prefix="hl-exports-")
    try:
        tests[case](Env(os.path.abspath(heapline), os.path.abspath(fixture), tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %s" % (case, "FAILED (%d)" % failures if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
