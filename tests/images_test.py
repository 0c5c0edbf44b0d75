#!/usr/bin/env python3
"""Checks the demos' pictures: runs each demo given on the command line with small
arguments into a temporary folder, then checks that each PNG it should draw exists,
has the size its gnuplot script asks for (read from the PNG header) and is not
blank (the decompressed, unfiltered pixel bytes are not all one value).

    images_test.py [--mnist DIR] DEMO_PATH...

Exit 0 when every picture is right, 1 when one is not, 77 (skipped) without
gnuplot. The MNIST demos are skipped (and said so) when DIR is not a folder.
Only the standard library: struct and zlib read the PNG.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# demo name -> (its small arguments, whether it needs MNIST, [(png, width, height)])
DEMOS = {
    "preprocessing": (["--points", "200"], False, [("preprocessing.png", 1900, 560)]),
    "augmentation": (["--images", "8"], True, [("augmentation.png", 1140, 600)]),
    "lr_schedule": (["--limit", "500", "--epochs", "2"], True, [("lr_schedule.png", 1400, 560)]),
    "losses": ([], False, [("losses.png", 1900, 560)]),
    "gradient_check": (["--hidden", "4", "--images", "2"], False, [("gradient_check.png", 1500, 460)]),
    "xor": ([], False, [("xor.png", 1150, 560)]),
    "csv": ([], False, [("csv.png", 1150, 330)]),
}


def read_png(path):
    """(width, height, the unfiltered pixel bytes) of a non-interlaced 8-bit PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG (bad signature)")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if header is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    if depth != 8 or interlace != 0:
        return width, height, zlib.decompress(idat)  # not unfiltered: still enough to see variety
    bpp = channels
    stride = width * bpp
    raw = zlib.decompress(idat)
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        base = y * (stride + 1)
        ftype = raw[base]
        line = bytearray(raw[base + 1:base + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return width, height, bytes(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default="", help="the MNIST folder")
    parser.add_argument("demos", nargs="+", help="the demo programs")
    args = parser.parse_args()
    if shutil.which("gnuplot") is None:
        print("SKIPPED: gnuplot is not installed, so no picture is drawn")
        return 77
    have_mnist = os.path.isdir(args.mnist)
    failures, checked = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for exe in args.demos:
            name = os.path.basename(exe)
            if name not in DEMOS:
                failures.append(f"{name}: no expected pictures listed in images_test.py")
                continue
            extra, needs_mnist, pngs = DEMOS[name]
            if needs_mnist and not have_mnist:
                print(f"skipped {name}: no MNIST folder at {args.mnist!r}")
                continue
            out = os.path.join(tmp, name)
            cmd = [exe] + extra + (["--data", args.mnist] if needs_mnist else []) + ["--out", out]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
            if run.returncode != 0:
                failures.append(f"{' '.join(cmd)}: exit status {run.returncode}\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
                continue
            for png, want_w, want_h in pngs:
                path = os.path.join(out, png)
                checked += 1
                if not os.path.isfile(path):
                    failures.append(f"{name}: {png} was not drawn")
                    continue
                try:
                    w, h, pixels = read_png(path)
                except (ValueError, zlib.error, struct.error, KeyError) as e:
                    failures.append(f"{name}: {png} does not read as a PNG: {e}")
                    continue
                distinct = len(set(pixels[:: max(1, len(pixels) // 200000)]))
                if (w, h) != (want_w, want_h):
                    failures.append(f"{name}: {png} is {w}x{h}, expected {want_w}x{want_h}")
                elif distinct < 2:
                    failures.append(f"{name}: {png} is blank (every pixel byte is the same)")
                else:
                    print(f"ok {name}: {png} {w}x{h}, {distinct} distinct byte values")
    for f in failures:
        print("FAIL:", f)
    print(f"{checked} pictures checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
