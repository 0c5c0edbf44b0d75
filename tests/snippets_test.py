#!/usr/bin/env python3
"""Compiles and runs every C++ program shown in README.md and docs/*.md.

Every C++ code fence carries a mark, the second word of its info string
(docs/writing-docs.md):

    ```cpp program        a complete program: compiled against the built
                          library and run in an empty temporary directory
    ```cpp program-cuda   a complete program that needs the CUDA backend (a GPU,
                          or the cuda_host emulation): compiled everywhere, run
                          where the build has the backend, reported skipped elsewhere
    ```cpp fragment       a piece of code (a rule inside the library, a call):
                          not compiled

An unmarked C++ fence fails, naming file and line, so nothing is skipped
silently. Each program is compiled as its own translation unit, starting with
a #line directive, so compiler errors name the Markdown file and line.

    snippets_test.py --source-root DIR --lib LIBTAPEGRAD [options] -- COMPILER...

The include path holds the source root and a folder inc/ (in the build
folder) with a link tapegrad -> source root, so both "autograd/tapegrad.hpp" and
<tapegrad/autograd/tapegrad.hpp> (the installed form) resolve.
"""
import argparse
import concurrent.futures
import glob
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from fences_test import scan

CPP_LANGUAGES = {'cpp', 'c++', 'cxx', 'cc'}
MARKS = {'program', 'program-cuda', 'fragment'}
MAX_OUTPUT_LINES = 40


def documents(root):
    """README.md and every Markdown file under docs/, in a stable order."""
    files = [os.path.join(root, 'README.md')]
    files += sorted(glob.glob(os.path.join(root, 'docs', '**', '*.md'), recursive=True))
    return [f for f in files if os.path.isfile(f)]


class Snippet:
    def __init__(self, name, fence):
        self.name = name              # "docs/nn.md"
        self.fence = fence
        self.where = f'{name}:{fence.line}'
        self.slug = ''                # its folder in the build directory
        words = fence.words
        self.mark = words[1] if len(words) > 1 else None
        self.status = None            # PASS, FAIL, SKIP
        self.detail = ''
        self.output = ''              # what a program printed


def collect(root, only):
    snippets = []
    for path in documents(root):
        name = os.path.relpath(path, root)
        cpp_fences = [f for f in scan(path) if f.words and f.words[0].lower() in CPP_LANGUAGES]
        for number, fence in enumerate(cpp_fences):
            words = fence.words
            s = Snippet(name, fence)
            s.slug = f'{name.replace(os.sep, "_")}_{number}'
            if only and not any(s.where == o or s.name == o for o in only):
                continue
            snippets.append(s)
            if s.mark not in MARKS:
                s.status = 'FAIL'
                got = f'the mark {s.mark!r} is unknown' if s.mark else 'it has no mark'
                s.detail = (f'{got}: write ```{words[0]} program (a complete program, compiled and run), '
                            f'```{words[0]} program-cuda (needs the CUDA backend) or ```{words[0]} fragment '
                            f'(not compiled); see docs/writing-docs.md')
            elif not fence.closed:
                s.status = 'FAIL'
                s.detail = 'the fence is never closed (tests/fences_test.py)'
    return snippets


def tail(text, limit=MAX_OUTPUT_LINES):
    lines = text.rstrip().splitlines()
    if len(lines) > limit:
        lines = lines[:limit] + [f'... ({len(lines) - limit} more lines)']
    return '\n'.join('    ' + line for line in lines)


def run_step(cmd, cwd, timeout):
    """Runs one command; returns (exit status, seconds, output) or raises TimeoutExpired."""
    start = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, encoding='utf-8', errors='replace', timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.returncode, time.monotonic() - start, r.stdout + r.stderr


def build_and_run(s, args, build_dir, run_it):
    """Compiles the snippet in its folder under build_dir and runs it in a new
    empty temporary directory. Returns (status, detail, output)."""
    work = os.path.join(build_dir, s.slug)
    os.makedirs(work, exist_ok=True)
    source, obj, exe = (os.path.join(work, 'snippet' + ext) for ext in ('.cpp', '.o', ''))
    with open(source, 'w', encoding='utf-8') as f:
        f.write(f'#line {s.fence.line + 1} "{s.name}"\n')
        f.write('\n'.join(s.fence.body) + '\n')
    lib = os.path.abspath(args.lib)
    # Compiling and linking apart lets ccache, when the compiler command has it, reuse objects.
    compile_cmd = (args.compiler + ['-std=c++20', '-O0', '-I', os.path.join(build_dir, 'inc'),
                                    '-I', args.source_root] + args.cflags + ['-c', source, '-o', obj])
    link_cmd = args.compiler + [obj, '-o', exe, lib, '-Wl,-rpath,' + os.path.dirname(lib)] + args.libs
    build_s = 0.0
    for cmd in (compile_cmd, link_cmd):
        try:
            status, seconds, output = run_step(cmd, work, args.compile_timeout)
        except subprocess.TimeoutExpired:
            return 'FAIL', f'compiling took more than {args.compile_timeout} s', ''
        build_s += seconds
        if status != 0:
            what = 'does not compile' if cmd is compile_cmd else 'does not link'
            return 'FAIL', f'{what}:\n{tail(output)}\n    (command: {shlex.join(cmd)})', ''
    if not run_it:
        return 'SKIP', f'built in {build_s:.1f} s; not run: this build has no CUDA backend (GPU or cuda_host)', ''
    run_dir = tempfile.mkdtemp(prefix='tapegrad-snippet-')
    try:
        status, run_s, output = run_step([exe], run_dir, args.timeout)
    except subprocess.TimeoutExpired:
        return 'FAIL', f'compiled, but ran for more than {args.timeout} s', ''
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if status != 0:
        why = f'exit status {status}' if status > 0 else f'signal {-status}'
        return 'FAIL', f'compiled, but the run failed ({why}):\n{tail(output)}', ''
    return 'PASS', f'build {build_s:.1f} s, run {run_s:.1f} s', output


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--source-root', required=True)
    p.add_argument('--lib', required=True, help='the built libtapegrad shared library')
    p.add_argument('--cflags', default='', help='more compiler flags, one string (--cflags="...")')
    p.add_argument('--libs', default='-lfmt', help='more link flags, one string (default: --libs=-lfmt)')
    p.add_argument('--cuda-backend', action='store_true',
                   help='the build has a CUDA backend (GPU or cuda_host): run the program-cuda snippets')
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--timeout', type=int, default=120, help='seconds a snippet may run')
    p.add_argument('--compile-timeout', type=int, default=300)
    p.add_argument('--only', action='append', default=[], help='FILE or FILE:LINE (repeatable)')
    p.add_argument('--build-dir', help='where to compile (kept, so ccache can reuse objects); '
                                       'default: a temporary folder, removed at the end')
    p.add_argument('--show-output', action='store_true', help='print what each passing program printed')
    p.add_argument('compiler', nargs='+', help='the C++ compiler command (after --)')
    args = p.parse_args()
    args.cflags = shlex.split(args.cflags)
    args.libs = shlex.split(args.libs)
    args.source_root = os.path.abspath(args.source_root)

    start = time.monotonic()
    snippets = collect(args.source_root, args.only)
    build_dir = args.build_dir or tempfile.mkdtemp(prefix='tapegrad-snippets-')
    try:
        os.makedirs(os.path.join(build_dir, 'inc'), exist_ok=True)
        link = os.path.join(build_dir, 'inc', 'tapegrad')
        if os.path.islink(link):
            os.remove(link)
        os.symlink(args.source_root, link)
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            jobs = {}
            for s in snippets:
                if s.status:
                    continue
                if s.mark == 'fragment':
                    s.status, s.detail = 'SKIP', 'fragment, not compiled'
                    continue
                run_it = s.mark == 'program' or args.cuda_backend
                jobs[pool.submit(build_and_run, s, args, build_dir, run_it)] = s
            for future in concurrent.futures.as_completed(jobs):
                s = jobs[future]
                s.status, s.detail, s.output = future.result()
    finally:
        if not args.build_dir:
            shutil.rmtree(build_dir, ignore_errors=True)

    for s in snippets:
        kind = s.mark or 'unmarked'
        print(f'{s.where} {s.status} ({kind}): {s.detail}')
        if args.show_output and s.output:
            print(tail(s.output, limit=10**6))
    count = {k: sum(s.status == k for s in snippets) for k in ('PASS', 'FAIL', 'SKIP')}
    print(f'{len(snippets)} C++ snippets: {count["PASS"]} passed, {count["FAIL"]} failed, '
          f'{count["SKIP"]} skipped, in {time.monotonic() - start:.1f} s')
    return 1 if count['FAIL'] or not snippets else 0


if __name__ == '__main__':
    sys.exit(main())
