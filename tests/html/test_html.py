#!/usr/bin/env python3
"""test_html.py — `heapline report --html` in a real browser.

Records traces of example programs, writes their HTML pages, and opens each
in headless Chromium at `page.html#selftest&...`: the page's own self-test
(report/html_assets/app.js) checks that the chart and the flame graph drew
the totals of the embedded data and of the numbers passed here, clicks a
named frame and checks the zoom, runs a search and checks its total, then
writes its verdict into <pre id="selftest-result">, which --dump-dom hands
back.  Numbers passed in come from outside the page: SPEC's exact figures for
mp_example, `heapline report --format json` for the others (the search total
is the line table's inclusive bytes of the searched function).

Cases: mp_example; threads_xfree (three threads); html_workload (deep
stacks, a thread, a leak; its screenshot is checked too); forker (two
processes in one page: the process selector).  Also checks the page is one
file that fetches nothing.

Environment: HL_HEAPLINE, HL_EX_MP_EXAMPLE, HL_EX_THREADS_XFREE, HL_EX_FORKER,
HL_HTML_WORKLOAD (paths); HL_CHROMIUM (default /usr/bin/chromium, then
chromium on PATH); HL_HTML_KEEP=DIR keeps the pages and the screenshot there.
Exit 0 pass, 1 fail, 77 skipped (no Chromium).
"""
import glob
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import zlib
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
]
BROWSER_TIMEOUT = 240  # Chromium's first start on 2 busy cores is slow

failures = []


def fail(msg):
    print("FAIL: " + msg)
    failures.append(msg)


def env_path(name):
    p = os.environ.get(name)
    if not p or not os.path.exists(p):
        sys.exit("test_html: %s is not set to an existing file" % name)
    return p


def find_chromium():
    c = os.environ.get("HL_CHROMIUM")
    if c:
        return c if os.access(c, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def record(heapline, work, name, argv):
    """Runs argv under heapline; returns its traces (several if it forked)."""
    out = os.path.join(work, name + ".hlt")
    run([heapline, "run", "-o", out, "--"] + argv, cwd=work)
    traces = sorted(glob.glob(os.path.join(work, name + "*.hlt")))
    if not traces:
        raise RuntimeError("no trace for " + name)
    return traces


def report_json(heapline, traces, *extra):
    r = run([heapline, "report", "--format", "json"] + list(extra) + traces)
    return json.loads(r.stdout)


def write_html(heapline, traces, page):
    r = run([heapline, "report", "--html", page] + traces)
    if r.stdout:
        fail("--html without --view printed on stdout: %r" % r.stdout[:200])
    return Path(page).read_text(encoding="utf-8")


def chromium(browser, work, args):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=work)
    try:
        return subprocess.run([browser] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=BROWSER_TIMEOUT)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def selftest(browser, work, page, params):
    frag = "selftest" + "".join("&%s=%s" % (k, urllib.parse.quote(str(v), safe=""))
                                for k, v in params.items())
    url = Path(page).resolve().as_uri() + "#" + frag
    r = chromium(browser, work, ["--virtual-time-budget=10000", "--dump-dom", url])
    m = re.search(r'<pre id="selftest-result"[^>]*>(.*?)</pre>', r.stdout, re.S)
    if not m or not m.group(1).strip():
        raise RuntimeError("no self-test result in the page (chromium exit %d): %s"
                           % (r.returncode, r.stderr[-800:]))
    return json.loads(html.unescape(m.group(1)))


def check_selftest(name, res):
    for c in res.get("checks", []):
        if not c["ok"]:
            fail("%s: %s: got %s, want %s" % (name, c["name"], json.dumps(c.get("got")),
                                              json.dumps(c.get("want"))))
    for e in res.get("errors", []):
        fail("%s: page error: %s" % (name, e))
    if not res.get("ok"):
        fail("%s: the self-test failed" % name)
    else:
        print("ok   %s: %d checks, processes %s" % (name, len(res.get("checks", [])),
                                                   json.dumps(res.get("processes"))))


def check_offline(name, text):
    """One file: no script, style, image or frame from anywhere else."""
    bad = re.findall(r'<(?:script|img|iframe|link)\b[^>]*\b(?:src|href)\s*=|@import|url\(\s*["\']?(?:https?:|//)',
                     text, re.I)
    if bad:
        fail("%s: the page loads something from outside: %s" % (name, bad[:3]))
    if 'id="heapline-data"' not in text:
        fail("%s: no data blob" % name)


def png_check(path):
    """Size, signature, dimensions, and more than one colour."""
    data = Path(path).read_bytes()
    if len(data) < 20 * 1024:
        return "only %d bytes" % len(data)
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    if (w, h) != (1400, 1000):
        return "%dx%d, not 1400x1000" % (w, h)
    idat, pos = b"", 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    if len(set(raw[: 400 * 1024])) < 16:  # a plain image filters to a few byte values
        return "looks like one colour"
    return None


def main():
    heapline = env_path("HL_HEAPLINE")
    mp = env_path("HL_EX_MP_EXAMPLE")
    threads = env_path("HL_EX_THREADS_XFREE")
    forker = env_path("HL_EX_FORKER")
    workload = env_path("HL_HTML_WORKLOAD")
    browser = find_chromium()
    if not browser:
        print("SKIP: Chromium not installed (Debian: apt-get install chromium)")
        return 77
    keep = os.environ.get("HL_HTML_KEEP")
    work = tempfile.mkdtemp(prefix="hl-html-")
    try:
        # mp_example: SPEC's exact numbers
        tr = record(heapline, work, "mp", [mp])
        page = os.path.join(work, "mp.html")
        check_offline("mp_example", write_html(heapline, tr, page))
        res = selftest(browser, work, page, {
            "total": 176160768, "peak": 176160768, "leaked": 8388608,
            "frame": "make_lists", "search": "make_lists", "searchtotal": 176160768,
        })
        check_selftest("mp_example", res)

        # threads_xfree: three threads; totals from the JSON report
        tr = record(heapline, work, "threads", [threads, "3000", "3000"])
        s = report_json(heapline, tr)["summary"]
        lt = report_json(heapline, tr, "--view", "lines", "--function", "producer")["line_tables"]
        page = os.path.join(work, "threads.html")
        check_offline("threads_xfree", write_html(heapline, tr, page))
        res = selftest(browser, work, page, {
            "total": s["bytes_allocated"], "peak": s["peak_bytes"], "leaked": s["leaked_bytes"],
            "frame": "producer", "search": "/^producer$/",
            "searchtotal": lt[0]["bytes_allocated"],
        })
        check_selftest("threads_xfree", res)

        # html_workload: deep recursion, a worker thread, a leak; a screenshot
        tr = record(heapline, work, "workload", [workload, "1"])
        s = report_json(heapline, tr)["summary"]
        lt = report_json(heapline, tr, "--view", "lines", "--function", "make_node")["line_tables"]
        page = os.path.join(work, "workload.html")
        text = write_html(heapline, tr, page)
        check_offline("html_workload", text)
        if len(text) > 2 << 20:
            fail("html_workload: the page is %d bytes" % len(text))
        res = selftest(browser, work, page, {
            "total": s["bytes_allocated"], "peak": s["peak_bytes"], "leaked": s["leaked_bytes"],
            "frame": "parse_document", "search": "/^make_node$/",
            "searchtotal": lt[0]["bytes_allocated"],
        })
        check_selftest("html_workload", res)
        shot = os.path.join(work, "workload.png")
        r = chromium(browser, work, ["--virtual-time-budget=10000", "--screenshot=" + shot,
                                     "--window-size=1400,1000", Path(page).resolve().as_uri()])
        if not os.path.exists(shot):
            fail("html_workload: no screenshot (chromium exit %d): %s"
                 % (r.returncode, r.stderr[-500:]))
        else:
            why = png_check(shot)
            if why:
                fail("html_workload: screenshot: " + why)
            else:
                print("ok   html_workload: screenshot %d bytes" % os.path.getsize(shot))

        # forker: parent and child in one page
        tr = record(heapline, work, "forker", [forker])
        if len(tr) != 2:
            fail("forker: %d traces, expected 2" % len(tr))
        page = os.path.join(work, "forker.html")
        check_offline("forker", write_html(heapline, tr, page))
        res = selftest(browser, work, page, {"processes": len(tr)})
        check_selftest("forker (2 processes)", res)
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        fail(str(e))
    finally:
        if keep:
            os.makedirs(keep, exist_ok=True)
            for f in glob.glob(os.path.join(work, "*.html")) + glob.glob(os.path.join(work, "*.png")):
                shutil.copy(f, keep)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all html report checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
