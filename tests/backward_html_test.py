#!/usr/bin/env python3
"""Checks the backward step-through pages in a real browser: runs the graph_dump
demo and the spiral demo (one epoch) into a temporary folder, then loads each
page they write (every *_backward.html and the spiral's one_step.html) in
headless Chromium at 1400x1000 with the address ending in #selftest. The page's
script then steps through every frame and checks that the highlighted node is
inside the viewport, yellow, with text of at least 12 px, and that the frame
lists the upstream gradient, the local derivative and a downstream entry per
input (kHtmlScript in autograd/dump/frames.cpp); it writes PASS or FAIL lines
into <pre id="selftest">, which this script reads from the dumped DOM.

    backward_html_test.py GRAPH_DUMP_DEMO SPIRAL_DEMO
    backward_html_test.py --page PAGE.html...    (check existing pages only)

Exit 0 when every page passes, 1 when one does not, 77 (skipped) without
Chromium or Graphviz's dot. Only the standard library.
"""
import argparse
import glob
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

BROWSERS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]


def run_demos(graph_dump, spiral, out):
    subprocess.run([graph_dump, "--out", os.path.join(out, "graph_dump")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([spiral, "--epochs", "1", "--out", os.path.join(out, "spiral")], check=True,
                   stdout=subprocess.DEVNULL)
    pages = sorted(glob.glob(os.path.join(out, "graph_dump", "*_backward.html")))
    pages.append(os.path.join(out, "spiral", "one_step.html"))
    return pages


def check_page(browser, page, profile):
    """The page's self-test result: (ok, message)."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--user-data-dir=" + profile, "--window-size=1400,1000", "--virtual-time-budget=10000", "--dump-dom",
           "file://" + os.path.abspath(page) + "#selftest"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "the browser did not finish in 120 s"
    match = re.search(r'<pre id="selftest">(.*?)</pre>', done.stdout, re.S)
    if not match:
        return False, "no self-test result in the page (browser exit status {}): {}".format(
            done.returncode, done.stderr.strip()[-500:])
    result = html.unescape(match.group(1)).strip()
    with open(page, encoding="utf-8") as f:
        frames = f.read().count('<section class="frame"')
    if result != "PASS {} frames".format(frames):
        return False, result or "the self-test did not run"
    return True, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demos", nargs="*", help="the graph_dump and spiral demos")
    parser.add_argument("--page", nargs="+", default=[], help="check these pages instead of running the demos")
    args = parser.parse_args()
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if not browser:
        print("skipped: no Chromium (Debian package chromium) to load the pages in")
        return 77
    if not shutil.which("dot"):
        print("skipped: no Graphviz dot (Debian package graphviz), so the pages have no pictures")
        return 77
    with tempfile.TemporaryDirectory(prefix="backward_html_") as tmp:
        pages = list(args.page)
        if not pages:
            if len(args.demos) != 2:
                parser.error("give the graph_dump and spiral demos, or --page")
            pages = run_demos(args.demos[0], args.demos[1], tmp)
        failed = 0
        for page in pages:
            ok, message = check_page(browser, page, os.path.join(tmp, "profile"))
            print("{}: {}: {}".format("ok" if ok else "FAILED", os.path.basename(page), message))
            failed += not ok
        if failed:
            print("{} of {} pages failed".format(failed, len(pages)))
            return 1
        print("all {} pages pass".format(len(pages)))
        return 0


if __name__ == "__main__":
    sys.exit(main())
