#!/usr/bin/env python3
"""Every Markdown file of the repository has balanced code fences.

A fence opens with three or more backticks or tildes; it is closed by a line of
the same character, at least as long, with nothing after it but spaces
(CommonMark). An unclosed fence turns the rest of the file into code, so this
test names the file and the line where the unclosed fence opens.

A missing fence can also pair the others up wrongly and leave every fence
"closed": a block whose opening fence is missing turns its closing fence into
an opening one, and the next fence with an info string (```text) is then
code. So a line inside a block that looks like an opening fence of the same
kind (same character, at least as long, with an info string) fails too. To show
a fence inside a code block, open the block with a longer fence.

    fences_test.py SOURCE_ROOT      check every *.md under SOURCE_ROOT
    fences_test.py FILE.md ...      check the given files

snippets_test.py reads the fences with scan() below.
"""
import os
import re
import sys
from dataclasses import dataclass, field

# A fence line: any indentation (fences inside list items are indented), then
# a run of 3+ backticks or tildes, then the info string.
FENCE_RE = re.compile(r'^(\s*)(`{3,}|~{3,})(.*)$')


@dataclass
class Fence:
    line: int            # 1-based line of the opening fence
    marker: str          # the opening run, e.g. "```" or "~~~~"
    info: str            # the info string, stripped ("cpp program")
    body: list = field(default_factory=list)  # the lines between the fences
    closed: bool = False
    # Lines inside the block that look like an opening fence of the same kind
    # (same character, at least as long, with an info string): (line, text).
    openers: list = field(default_factory=list)

    @property
    def words(self):
        return self.info.split()


def scan(path):
    """Returns the code fences of a Markdown file, in order; the last one has
    closed == False when the file ends inside it."""
    fences = []
    current = None
    indent = 0
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f.read().splitlines(), start=1):
            m = FENCE_RE.match(line)
            if current is None:
                if not m:
                    continue
                marker, info = m.group(2), m.group(3)
                if marker[0] == '`' and '`' in info:
                    continue  # inline code at the start of a line, not a fence
                current = Fence(number, marker, info.strip())
                indent = len(m.group(1))
                fences.append(current)
            elif (m and m.group(2)[0] == current.marker[0] and len(m.group(2)) >= len(current.marker)
                  and m.group(3).strip() == ''):
                current.closed = True
                current = None
            else:
                if m and m.group(2)[0] == current.marker[0] and len(m.group(2)) >= len(current.marker):
                    current.openers.append((number, line.strip()))
                # Content lines lose up to the opening fence's indentation.
                strip = len(line) - len(line.lstrip(' '))
                current.body.append(line[min(strip, indent):])
    return fences


def markdown_files(root):
    """Every *.md under root, skipping hidden directories and build directories."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith('.')
                             and not os.path.exists(os.path.join(dirpath, d, 'meson-private')))
        found += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith('.md')]
    return found


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    if len(argv) == 1 and os.path.isdir(argv[0]):
        root = argv[0]
        files = markdown_files(root)
    else:
        root = os.getcwd()
        files = argv
    failures = 0
    for path in files:
        name = os.path.relpath(path, root)
        fences = scan(path)
        problems = []
        for f in fences:
            for number, text in f.openers:
                problems.append(f'{name}:{number}: FAIL: {text!r} is inside the code block opened at line {f.line}: '
                                f'a fence before it is missing (or open the outer block with a longer fence)')
        if fences and not fences[-1].closed:
            f = fences[-1]
            problems.append(f'{name}:{f.line}: FAIL: the code fence {f.marker}{f.info} opened here is never closed '
                            f'(close it with a line of at least {len(f.marker)} {f.marker[0]!r})')
        if problems:
            failures += 1
            print('\n'.join(problems))
        else:
            print(f'{name}: PASS ({len(fences)} fences)')
    print(f'{len(files)} Markdown files, {failures} with unbalanced code fences')
    return 1 if failures or not files else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
