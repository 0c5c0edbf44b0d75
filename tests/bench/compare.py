#!/usr/bin/env python3
"""Runs the benchmark workloads against tapegrad and LibTorch, alternately, and
prints one table per thread count plus machine-readable lines:

    speedup NAME@T X   X = LibTorch's time / tapegrad's time at T threads (> 1: tapegrad is faster)
    ceiling NAME@T Y   Y = tapegrad's throughput / the best GEMM or copy measured in the run

Each LibTorch (--libtorch, once per build: Debian's 1.13, the PyPI wheel's 2.x)
is run in several thread settings, and tapegrad is compared against the best
of all of them, named on each line (version and setting). The ceiling of a
matrix product is the fastest GEMM of the run: every GEMM library tapegrad
was built with, called directly, and LibTorch's own mm. Without --libtorch
the tapegrad figures are printed alone and the comparison is reported as
skipped. Usage:

    compare.py --tapegrad build/tests/bench/bench_tapegrad [--libtorch build/tests/bench/bench_libtorch]...
               [--mnist DIR] [--threads 1,2] [--rounds 2] [--only mlp_small,matmul] [--quick]
"""
import argparse
import os
import subprocess
import sys

# The figure each workload is compared on, and whether larger is better.
HEADLINE = {
    "peak": ("fma", True),
    "tape_overhead_1": ("total", False),
    "tape_overhead_4x4": ("total", False),
    "mlp_small": ("step", False),
    "mlp_large": ("step", False),
    "matmul_256": ("throughput", True),
    "matmul_1024": ("throughput", True),
    "elementwise": ("throughput", True),
    "mnist_epoch": ("epoch", False),
    "cnn_simple": ("step", False),
}
# FLOPs of one mlp_small step (784-100-10, batch 100): forward x W1, h W2;
# backward dW1, dW2 and dh (no gradient for the input).
MLP_SMALL_FLOP = 2 * 100 * (784 * 100 + 100 * 10) + 2 * 100 * (784 * 100 + 100 * 10 + 100 * 10)


def run(cmd, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"[bench] {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    results, skipped = {}, {}
    for line in p.stdout.splitlines():
        f = line.split()
        if f and f[0] == "result":
            results[(f[1], f[2])] = (float(f[3]), f[4])
        elif f and f[0] == "skipped":
            skipped[f[1]] = " ".join(f[2:])
    return results, skipped


def peak_rss_mb(cmd, env_extra):
    """Max RSS of a whole run of `cmd`, in MiB (from wait4's rusage)."""
    env = dict(os.environ)
    env.update(env_extra)
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"[bench] {' '.join(cmd)} failed")
    return usage.ru_maxrss / 1024.0


def torch_settings(threads):
    """(label, --threads, environment) of each LibTorch setting tried at `threads` cores."""
    base = [] if threads == 1 else [
        (f"torch {threads} threads", threads, {}),
        (f"torch {threads} threads, OMP_WAIT_POLICY=PASSIVE", threads, {"OMP_WAIT_POLICY": "PASSIVE"}),
        (f"torch 1 thread + OpenBLAS {threads}", 1, {"OPENBLAS_NUM_THREADS": str(threads)}),
    ]
    if threads == 1:
        base = [("torch 1 thread", 1, {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})]
    out = []
    for label, t, env in base:
        out.append((label, t, env))
        out.append((label + ", avx512", t, dict(env, ATEN_CPU_CAPABILITY="avx512")))
    return out


def better(a, b, larger):
    return a if b is None or (a > b if larger else a < b) else b


def libtorch_config(prog):
    """(version, show_config text) of one bench_libtorch build."""
    p = subprocess.run([prog, "--config"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"[bench] {prog} --config failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    first, _, rest = p.stdout.partition("\n")
    return first.split()[1], rest.rstrip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tapegrad", required=True)
    ap.add_argument("--libtorch", action="append", default=[],
                    help="a bench_libtorch program; give it once per LibTorch build")
    ap.add_argument("--mnist", default="")
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    torches = []  # (version, program)
    for prog in a.libtorch:
        if not os.path.exists(prog):
            print(f"LibTorch program {prog} not built; left out")
            continue
        version, config = libtorch_config(prog)
        print(f"LibTorch {version} ({prog}), torch::show_config():\n{config}\n")
        torches.append((version, prog))
    common = (["--mnist", a.mnist] if a.mnist else []) + (["--only", a.only] if a.only else []) + \
             (["--quick"] if a.quick else [])
    thread_counts = sorted({int(t) for t in a.threads.split(",")})
    print(f"tapegrad benchmark suite: {os.cpu_count()} cores, thread counts {thread_counts}, "
          f"{a.rounds} alternated round(s), best of the rounds per program")
    if not torches:
        print("LibTorch comparison skipped: bench_libtorch was not built "
              "(install libtorch-dev or set -Dlibtorch_dir, then reconfigure)")
    versions = [v for v, _ in torches]
    machine = []
    for threads in thread_counts:
        # torch[version][key] = (value, setting label): each version at its best setting
        tg, units, skipped = {}, {}, {}
        torch = {v: {} for v in versions}
        for r in range(a.rounds):
            res, sk = run([a.tapegrad, "--threads", str(threads)] + common, {})
            skipped.update(sk)
            for k, (v, unit) in res.items():
                units[k] = unit
                tg[k] = better(v, tg.get(k), unit in ("GFLOP/s", "GB/s"))
            for version, prog in torches:
                for label, t, env in torch_settings(threads):
                    res, _ = run([prog, "--threads", str(t)] + common, env)
                    for k, (v, unit) in res.items():
                        old = torch[version].get(k)
                        if better(v, old and old[0], unit in ("GFLOP/s", "GB/s")) == v:
                            torch[version][k] = (v, label)

        def best_torch(key, larger):
            """(value, 'VERSION: setting') of the fastest LibTorch on `key`, or None."""
            found = [(torch[v][key][0], f"{v}: {torch[v][key][1]}") for v in versions if key in torch[v]]
            if not found:
                return None
            return max(found, key=lambda f: f[0] if larger else -f[0])

        print(f"\n== {threads} thread(s) ==")
        head = f"{'workload':<20}{'metric':<12}{'tapegrad':>12}"
        for v in versions:
            head += f"{'LibTorch ' + v:>16}"
        print(head + f"  {'unit':<9}{'speedup':>8}  best LibTorch setting")
        for (w, m), v in sorted(tg.items(), key=lambda kv: list(HEADLINE).index(kv[0][0]) if kv[0][0] in HEADLINE else 99):
            unit = units[(w, m)]
            larger = unit in ("GFLOP/s", "GB/s")
            row = f"{w:<20}{m:<12}{v:>12.4g}"
            for version in versions:
                t = torch[version].get((w, m))
                row += f"{(f'{t[0]:.4g}' if t else '-'):>16}"
            bt = best_torch((w, m), larger)
            sp = f"{(v / bt[0] if larger else bt[0] / v):.2f}x" if bt else ""
            print(row + f"  {unit:<9}{sp:>8}  {bt[1] if bt else ''}")
        for w, why in skipped.items():
            print(f"{w:<20}skipped: {why}")
        if ("mlp_small", "step") in tg:
            print(f"mlp_small: {MLP_SMALL_FLOP / 1e6:.1f} MFLOP per step -> "
                  f"{MLP_SMALL_FLOP / (tg[('mlp_small', 'step')] * 1e-6) / 1e9:.1f} GFLOP/s", end="")
            if ("peak", "fma") in tg:
                peak = tg[("peak", "fma")] * threads
                frac = MLP_SMALL_FLOP / (tg[("mlp_small", "step")] * 1e-6) / 1e9 / peak
                print(f" = {100 * frac:.0f}% of the FP32 FMA peak ({peak:.0f} GFLOP/s on {threads} core(s))", end="")
                bt = best_torch(("mlp_small", "step"), False)
                if bt:
                    tf = MLP_SMALL_FLOP / (bt[0] * 1e-6) / 1e9 / peak
                    print(f"; LibTorch {100 * tf:.0f}%", end="")
            print()
        for w, (m, larger) in HEADLINE.items():
            name = f"{w}@{threads}"
            bt = best_torch((w, m), larger)
            if (w, m) in tg and bt:
                v, t = tg[(w, m)], bt[0]
                machine.append(f"speedup {name} {(v / t if larger else t / v):.3f}")
            if (w, "ceiling") in tg and (w, m) in tg:
                ceiling, by = tg[(w, "ceiling")], "the best direct GEMM/copy"
                # a product's ceiling is the fastest GEMM of the run, LibTorch's mm included
                if w.startswith("matmul_") and bt and bt[0] > ceiling:
                    ceiling, by = bt[0], f"LibTorch {bt[1]}"
                print(f"ceiling of {name}: {ceiling:.4g} {units[(w, m)]} ({by}); tapegrad at "
                      f"{100 * tg[(w, m)] / ceiling:.0f}%")
                machine.append(f"ceiling {name} {tg[(w, m)] / ceiling:.3f}")
        if threads == thread_counts[-1] and (not a.only or "mlp_large" in a.only.split(",")):
            steps = ["--steps", "30"] if a.quick else []
            mem_tg = peak_rss_mb([a.tapegrad, "--threads", str(threads), "--only", "mlp_large"] + steps, {})
            line = f"peak memory of mlp_large: tapegrad {mem_tg:.0f} MiB"
            mems = []
            for version, prog in torches:
                best = torch[version].get(("mlp_large", "step"))
                label, t, env = next(((l, tt, e) for l, tt, e in torch_settings(threads) if best and l == best[1]),
                                     torch_settings(threads)[0])
                mem_t = peak_rss_mb([prog, "--threads", str(t), "--only", "mlp_large"] + steps, env)
                line += f", LibTorch {version} {mem_t:.0f} MiB ({label})"
                mems.append(mem_t)
            if mems:
                machine.append(f"speedup peak_memory_mlp_large {min(mems) / mem_tg:.3f}")
            print(line)
    print()
    for line in machine:
        print(line)


if __name__ == "__main__":
    main()
