#!/usr/bin/env python3
"""test_symcache.py — the symbol cache on disk (report/symcache.h).

Usage: test_symcache.py HEAPLINE FIXTURE

Records a copy of FIXTURE (a -g -O0 program with an inlined helper) under
`heapline run`, then checks, each with a cache directory of its own
(HEAPLINE_SYMBOL_CACHE):
  - a report with the cache empty, one with it filled by the first, and one
    with the cache off print the same bytes: the default views, every view,
    and JSON; and after the default views filled it, the exports, every
    function's table and a file's tables (which need line ranges the cache
    does not have yet);
  - the warm report does read the file: a function name changed inside it
    (and its checksum redone) shows up;
  - a changed stamp (the program's mtime) makes the file ignored: the true
    name again;
  - damaged files (cut at several lengths, a byte flipped anywhere, a
    directory in its place) are ignored: exit 0, the true output, no stderr;
  - past 256 MiB of files, the least recently used go, down to 192 MiB.
Exit 0 pass, 1 fail, 77 skip (the profiler cannot run here).
"""
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

SKIP = 77
failures = []


def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures.append(msg)


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def resum(data):
    """The file with its last 8 bytes made the sum of the rest again."""
    body = data[:-8]
    return body + struct.pack("<Q", fnv1a(body))


def main(argv):
    heapline, fixture = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    tmp = tempfile.mkdtemp(prefix="hl-symcache-")
    prog = os.path.join(tmp, "symcache_prog")
    shutil.copy2(fixture, prog)  # a copy: its mtime is ours to change
    trace = os.path.join(tmp, "t.hlt")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAPLINE_")}
    p = subprocess.run([heapline, "run", "-q", "-o", trace, "--", prog], cwd=tmp, env=env,
                       capture_output=True, timeout=120)
    if p.returncode != 0 or not os.path.exists(trace):
        print(f"SKIP: heapline run failed ({p.returncode}): {p.stderr!r}")
        return SKIP

    def report(cache, *args):
        e = dict(env, HEAPLINE_SYMBOL_CACHE=cache)
        r = subprocess.run([heapline, "report", *args, trace], cwd=tmp, env=e,
                           capture_output=True, timeout=120)
        return r.returncode, r.stdout, r.stderr

    views = [(), ("--view", "all"), ("--format", "json", "--view", "all")]
    for n, args in enumerate(views):
        cache = os.path.join(tmp, f"c{n}")
        cold = report(cache, *args)
        files = glob.glob(os.path.join(cache, "*.sym"))
        warm = report(cache, *args)
        off = report("off", *args)
        label = " ".join(args) or "default views"
        check(cold[0] == 0 and cold[2] == b"", f"{label}: cold report exit 0, quiet")
        check(len(files) >= 1, f"{label}: the cold report wrote cache files ({len(files)})")
        check(warm == cold, f"{label}: warm report = cold report")
        check(off == cold, f"{label}: report without cache = cold report")
    check(not os.path.exists(os.path.join(tmp, "off")), "'off' made no directory")

    # Filled by the default views, then asked for what they did not need:
    # functions whose line ranges were not computed come back without
    # their DWARF, and must find it again.
    cache = os.path.join(tmp, "mixed")
    report(cache)
    for args in [("--speedscope", "-"), ("--function", "*"),
                 ("--file", "export_fixture.c", "--columns", "leaked,peak,frees"),
                 ("--html", "-")]:
        label = " ".join(args)
        warm, off = report(cache, *args), report("off", *args)
        check(warm[0] == 0 and warm == off, f"{label}: after the default views = without cache")

    # The program's own file: the one whose strings name make_list.
    cache = os.path.join(tmp, "c0")
    want = report(cache)
    mine = [f for f in glob.glob(os.path.join(cache, "*.sym"))
            if b"make_list\0" in open(f, "rb").read()]
    check(len(mine) == 1, f"one cache file names make_list ({len(mine)})")
    if len(mine) != 1:
        return 1
    path = mine[0]
    good = open(path, "rb").read()
    check(b"make_list" in want[1], "the report names make_list")

    # Proof the file is read: a name changed in it appears.
    with open(path, "wb") as f:
        f.write(resum(good.replace(b"make_list\0", b"make_lisX\0")))
    got = report(cache)
    check(b"from make_lisX " in got[1] and b"from make_list " not in got[1],
          "a name changed in the cache file shows: the warm report reads it")

    # A stamp that no longer holds: the file is not used.
    st = os.stat(prog)
    os.utime(prog, ns=(st.st_atime_ns, st.st_mtime_ns + 1000000000))
    got = report(cache)
    check(got == want, "after the program's mtime changed, the true names again")
    got = report(cache)
    check(got == want, "and the file rewritten from the program is right")
    good = open(path, "rb").read()

    # Damage of every kind: ignored.
    damaged = [good[:n] for n in (0, 7, 8, 27, 28, len(good) // 2, len(good) - 9,
                                  len(good) - 1)]
    for i in range(0, len(good), max(1, len(good) // 97)):
        b = bytearray(good)
        b[i] ^= 0x5A
        damaged.append(bytes(b))
    b = bytearray(good)
    b[10] ^= 0x01  # a count, with the sum made right: the sizes must catch it
    damaged.append(resum(bytes(b)))
    bad = []
    for n, data in enumerate(damaged):
        with open(path, "wb") as f:
            f.write(data)
        got = report(cache)
        if got != want:
            bad.append(n)
    check(bad == [], f"{len(damaged)} damaged files ignored (different output: {bad})")
    os.unlink(path)
    os.mkdir(path)
    got = report(cache)
    check(got == want, "a directory in the file's place: ignored")

    # Past 256 MiB of cache files the least recently used go, down to 192:
    # three sparse 100 MiB files, older than anything else.
    cache = os.path.join(tmp, "full")
    os.mkdir(cache)
    for i in range(3):
        old = os.path.join(cache, f"{i:040x}.sym")
        with open(old, "wb") as f:
            f.truncate(100 << 20)
        os.utime(old, (1000000000 + i, 1000000000 + i))
    got = report(cache)
    left = sorted(os.listdir(cache))
    total = sum(os.path.getsize(os.path.join(cache, f)) for f in left)
    check(got == want, "with a full cache directory: the same report")
    check(f"{0:040x}.sym" not in left and f"{1:040x}.sym" not in left and
          f"{2:040x}.sym" in left and total <= 192 << 20,
          f"the two oldest went, the newest stayed, {total >> 20} MiB left: {left}")
    check(any(f.endswith(".sym") and not f.startswith("0000") for f in left),
          "the report's own file stayed")

    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
