#!/usr/bin/env python3
"""Runs the benchmark workloads against tapegrad and LibTorch, alternately, and
prints one table per thread count plus machine-readable lines:

    speedup NAME X   X = LibTorch's time / tapegrad's time (> 1: tapegrad is faster)
    ceiling NAME Y   Y = tapegrad's throughput / the sgemm or copy ceiling

LibTorch is run in several thread settings and compared at its best one, named
on each line. Without --libtorch the tapegrad figures are printed alone and the
comparison is reported as skipped. Usage:

    compare.py --tapegrad build/tests/bench/bench_tapegrad [--libtorch build/tests/bench/bench_libtorch]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tapegrad", required=True)
    ap.add_argument("--libtorch")
    ap.add_argument("--mnist", default="")
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.libtorch and not os.path.exists(a.libtorch):
        a.libtorch = None
    common = (["--mnist", a.mnist] if a.mnist else []) + (["--only", a.only] if a.only else []) + \
             (["--quick"] if a.quick else [])
    thread_counts = sorted({int(t) for t in a.threads.split(",")})
    print(f"tapegrad benchmark suite: {os.cpu_count()} cores, thread counts {thread_counts}, "
          f"{a.rounds} alternated round(s), best of the rounds per program")
    if not a.libtorch:
        print("LibTorch comparison skipped: bench_libtorch was not built "
              "(install libtorch-dev or set -Dlibtorch_dir, then reconfigure)")
    machine = []
    for threads in thread_counts:
        tg, torch, torch_label, units, skipped = {}, {}, {}, {}, {}
        for r in range(a.rounds):
            res, sk = run([a.tapegrad, "--threads", str(threads)] + common, {})
            skipped.update(sk)
            for k, (v, unit) in res.items():
                units[k] = unit
                larger = unit in ("GFLOP/s", "GB/s")
                tg[k] = better(v, tg.get(k), larger)
            if not a.libtorch:
                continue
            for label, t, env in torch_settings(threads):
                res, _ = run([a.libtorch, "--threads", str(t)] + common, env)
                for k, (v, unit) in res.items():
                    larger = unit in ("GFLOP/s", "GB/s")
                    if better(v, torch.get(k), larger) == v:
                        torch[k], torch_label[k] = v, label
        print(f"\n== {threads} thread(s) ==")
        print(f"{'workload':<20}{'metric':<12}{'tapegrad':>12}{'LibTorch':>12}  {'unit':<9}{'speedup':>8}  LibTorch setting")
        for (w, m), v in sorted(tg.items(), key=lambda kv: list(HEADLINE).index(kv[0][0]) if kv[0][0] in HEADLINE else 99):
            unit = units[(w, m)]
            t = torch.get((w, m))
            sp = ""
            if t is not None:
                larger = unit in ("GFLOP/s", "GB/s")
                sp = f"{(v / t if larger else t / v):.2f}x"
            print(f"{w:<20}{m:<12}{v:>12.4g}{(f'{t:.4g}' if t is not None else '-'):>12}  {unit:<9}{sp:>8}  "
                  f"{torch_label.get((w, m), '')}")
        for w, why in skipped.items():
            print(f"{w:<20}skipped: {why}")
        if ("mlp_small", "step") in tg:
            print(f"mlp_small: {MLP_SMALL_FLOP / 1e6:.1f} MFLOP per step -> "
                  f"{MLP_SMALL_FLOP / (tg[('mlp_small', 'step')] * 1e-6) / 1e9:.1f} GFLOP/s", end="")
            if ("peak", "fma") in tg:
                peak = tg[("peak", "fma")] * threads
                frac = MLP_SMALL_FLOP / (tg[("mlp_small", "step")] * 1e-6) / 1e9 / peak
                print(f" = {100 * frac:.0f}% of the FP32 FMA peak ({peak:.0f} GFLOP/s on {threads} core(s))", end="")
                if ("mlp_small", "step") in torch:
                    tf = MLP_SMALL_FLOP / (torch[("mlp_small", "step")] * 1e-6) / 1e9 / peak
                    print(f"; LibTorch {100 * tf:.0f}%", end="")
            print()
        for w, (m, larger) in HEADLINE.items():
            name = f"{w}@{threads}"
            if (w, m) in tg and (w, m) in torch:
                v, t = tg[(w, m)], torch[(w, m)]
                machine.append(f"speedup {name} {(v / t if larger else t / v):.3f}")
            if (w, "ceiling") in tg and (w, m) in tg:
                machine.append(f"ceiling {name} {tg[(w, m)] / tg[(w, 'ceiling')]:.3f}")
        if threads == thread_counts[-1] and (not a.only or "mlp_large" in a.only.split(",")):
            steps = ["--steps", "30"] if a.quick else []
            mem_tg = peak_rss_mb([a.tapegrad, "--threads", str(threads), "--only", "mlp_large"] + steps, {})
            line = f"peak memory of mlp_large: tapegrad {mem_tg:.0f} MiB"
            if a.libtorch:
                label, t, env = next(((l, tt, e) for l, tt, e in torch_settings(threads)
                                      if l == torch_label.get(("mlp_large", "step"))), torch_settings(threads)[0])
                mem_t = peak_rss_mb([a.libtorch, "--threads", str(t), "--only", "mlp_large"] + steps, env)
                line += f", LibTorch {mem_t:.0f} MiB ({label})"
                machine.append(f"speedup peak_memory_mlp_large {mem_t / mem_tg:.3f}")
            print(line)
    print()
    for line in machine:
        print(line)


if __name__ == "__main__":
    main()
