#!/usr/bin/env python3
"""test_lessons.py — the lesson programs of examples/lessons/, end to end.

Each lesson has an expected file, tests/lessons/expected/LESSON.txt, written
as a shell session: a header of '#' lines (the lesson, and where its numbers
come from), then commands, each on a line starting with '$ ', each followed
by its output.  This script runs every command and compares what it prints
with the file, exactly (only the blank lines that separate one command's
output from the next '$' line are not part of it; table rows of blank source
lines end in spaces, which are).

Commands:
  $ heapline run ... -- PROG ARGS   runs in a scratch directory; the output
                                    is PROG's stdout, and its status must be 0
  $ heapline report ARGS            runs in the source root, so a table's
                                    Filename: is relative to it; NAME.hlt
                                    means the scratch directory's trace, and
                                    the output is shown as if the trace were
                                    in the source root (NAME.hlt in titles)
  $ heapline report ... | jq '.summary | {KEY, ...}'
                                    that jq filter (object construction,
                                    jq's layout), applied here: no jq needed
  $ anything else                   sh -c in the scratch directory (makes
                                    input files); python3 is this python
PROG names an executable given on the command line, by its basename.

Usage: test_lessons.py [--regenerate] HEAPLINE LESSON PROGRAM...
  --regenerate  rewrite the expected file with what the commands print now,
                keeping its header and commands; then check every number by
                hand against the program's first comment before keeping it.
Exit 0 pass, 1 fail, 77 skip (the profiler cannot run here).
"""
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
EXPECTED_DIR = os.path.join(HERE, "expected")

JQ_SUMMARY = re.compile(r"^\.summary \| \{\s*([a-z_]+(?:\s*,\s*[a-z_]+)*)\s*\}$")


class Skip(Exception):
    pass


class Failed(Exception):
    pass


# ---- the expected file ---------------------------------------------------------

def parse_expected(path):
    """(header lines, [(command, expected output)])."""
    with open(path) as f:
        lines = f.read().split("\n")
    header = []
    i = 0
    while i < len(lines) and not lines[i].startswith("$ "):
        header.append(lines[i])
        i += 1
    blocks = []
    while i < len(lines):
        command = lines[i][2:]
        i += 1
        out = []
        while i < len(lines) and not lines[i].startswith("$ "):
            out.append(lines[i])
            i += 1
        while out and out[-1] == "":
            out.pop()
        blocks.append((command, "\n".join(out)))
    return header, blocks


def write_expected(path, header, results):
    parts = ["\n".join(header).rstrip("\n") + "\n"]
    for command, out in results:
        parts.append("\n$ " + command + "\n" + (out + "\n" if out else ""))
    with open(path, "w") as f:
        f.write("".join(parts))


# ---- running one command ---------------------------------------------------------

class Session:
    def __init__(self, heapline, programs, tmp):
        self.heapline = heapline
        self.programs = programs
        self.tmp = tmp

    def trace_arg(self, arg):
        return os.path.join(self.tmp, arg) if arg.endswith(".hlt") else arg

    def run(self, command):
        """The command's output as the expected file shows it."""
        words = shlex.split(command)
        if not words or words[0] != "heapline":
            return self.shell(command)
        if "|" in words:
            bar = words.index("|")
            words, pipe = words[:bar], words[bar + 1:]
        else:
            pipe = None
        if words[1:2] == ["run"]:
            return self.heapline_run(words[2:])
        if words[1:2] == ["report"]:
            out = self.heapline_report(words[2:])
            return jq(pipe, out) if pipe else out
        raise Failed("unknown command: " + command)

    def shell(self, command):
        if command.startswith("python3 "):
            command = shlex.quote(sys.executable) + command[len("python3"):]
        p = subprocess.run(["sh", "-c", command], cwd=self.tmp, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        if p.returncode != 0:
            raise Failed("%s: status %d: %s" % (command, p.returncode, p.stderr.strip()))
        return p.stdout.rstrip("\n")

    def heapline_run(self, args):
        if "--" not in args:
            raise Failed("heapline run without -- PROG")
        dash = args.index("--")
        prog = args[dash + 1]
        if prog not in self.programs:
            raise Failed("no program %r among %s" % (prog, sorted(self.programs)))
        argv = ([self.heapline, "run"] + args[:dash + 1] + [self.programs[prog]]
                + args[dash + 2:])
        p = subprocess.run(argv, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        traces = [a for a in args[:dash] if a.endswith(".hlt")]
        if p.returncode != 0 or not all(os.path.exists(self.trace_arg(t)) for t in traces):
            raise Skip("heapline run %s: status %d: %s" % (prog, p.returncode, p.stderr.strip()))
        return p.stdout.rstrip("\n")

    def heapline_report(self, args):
        argv = [self.heapline, "report"] + [self.trace_arg(a) for a in args]
        p = subprocess.run(argv, cwd=SOURCE_ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        if p.returncode != 0:
            raise Failed("heapline report %s: status %d: %s"
                         % (" ".join(args), p.returncode, p.stderr.strip()))
        return self.as_if_here(p.stdout).rstrip("\n")

    def as_if_here(self, text):
        """The output as if the traces were in the source root: NAME.hlt for
        the scratch path, and the '=' line under such a title as long as it."""
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if self.tmp + "/" not in line:
                continue
            lines[i] = line.replace(self.tmp + "/", "")
            if i + 1 < len(lines) and lines[i + 1] == "=" * len(line):
                lines[i + 1] = "=" * len(lines[i])
        return "\n".join(lines)


def jq(pipe, text):
    """jq '.summary | {a, b}' on one JSON document, printed as jq prints it."""
    m = JQ_SUMMARY.match(pipe[1]) if len(pipe) == 2 and pipe[0] == "jq" else None
    if not m:
        raise Failed("this test knows only jq '.summary | {KEY, ...}', not %s" % " ".join(pipe))
    summary = json.loads(text)["summary"]
    keys = [k.strip() for k in m.group(1).split(",")]
    return json.dumps({k: summary.get(k) for k in keys}, indent=2)


# ---- notes printed beside a failure -------------------------------------------------

def prodcons_note(session):
    """The prodcons tables include glibc's two DTVs, whose size follows the
    number of TLS modules loaded; say so if it is not what the file assumed."""
    out = session.heapline_report(["--format", "json", "--view", "summary", "prodcons.hlt"])
    s = json.loads(out)["summary"]
    if (s["leaked_blocks"], s["leaked_bytes"]) != (2, 608):
        return ("note: glibc's thread DTVs are %d bytes in %d blocks here, the expected file "
                "assumes 608 in 2 (3 TLS modules: libc, libheapline, libunwind); see "
                "examples/lessons/prodcons.c" % (s["leaked_bytes"], s["leaked_blocks"]))
    return None


NOTES = {"prodcons": prodcons_note}


def main(argv):
    regenerate = "--regenerate" in argv
    argv = [a for a in argv if a != "--regenerate"]
    if len(argv) < 3:
        print(__doc__)
        return 1
    heapline = os.path.abspath(argv[0])
    lesson = argv[1]
    programs = {os.path.basename(p): os.path.abspath(p) for p in argv[2:]}
    path = os.path.join(EXPECTED_DIR, lesson + ".txt")
    header, blocks = parse_expected(path)
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="hl-lesson-%s." % lesson))
    session = Session(heapline, programs, tmp)
    failures = 0
    results = []
    try:
        for command, want in blocks:
            try:
                got = session.run(command)
            except Failed as e:
                print("FAIL: $ %s\n  %s" % (command, e))
                failures += 1
                results.append((command, want))
                continue
            results.append((command, got))
            if got == want:
                print("ok: $ " + command)
                continue
            failures += 1
            print("FAIL: $ " + command)
            sys.stdout.writelines(difflib.unified_diff(
                (want + "\n").splitlines(True), (got + "\n").splitlines(True),
                "expected/%s.txt" % lesson, "heapline"))
        if failures and lesson in NOTES and not regenerate:
            note = NOTES[lesson](session)
            if note:
                print(note)
    except Skip as e:
        print("SKIP: %s" % e)
        return 77
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if regenerate:
        write_expected(path, header, results)
        print("rewrote %s: check every number against the program's first comment" % path)
        return 0
    if failures:
        print("%d of %d commands differ from expected/%s.txt" % (failures, len(blocks), lesson))
        return 1
    print("all %d commands print what expected/%s.txt says" % (len(blocks), lesson))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
