#!/usr/bin/env python3
"""The alpha-beta model of ring allreduce, fitted to distribution_bench's allreduce timings.

    python3 bench/tools/alpha_beta.py SHM_LOG TCP_LOG [--step-ms MS --batch B]

Each log is distribution_bench's output at 2 processes ("bytes, min ms, median ms" rows; the
minimums are fitted, the least disturbed by other work on a shared machine). At p = 2 a ring
allreduce of n bytes takes 2 alpha + n beta (two steps, each moving n/2 bytes each way): alpha
is half the time of the smallest (1 KiB, latency-bound) allreduce, beta the least-squares slope
over 256 KiB .. 4 MiB (bandwidth-bound; the larger sizes run longer than a scheduler time slice
and, on a shared machine, even their minimums include time the process was not running). The predictions use

    T_ring(p, n) = k 2 (p - 1) alpha + 2 (p - 1) / p * n / bandwidth

(k = the number of 25 MiB buckets, each paying the latency) on 10 and 100 Gb/s links, with the
larger of the measured TCP alpha and a 25 us wire-and-switch latency, and the scaling efficiency
of weak scaling (the per-process batch fixed) without overlap, as minidl's fit() reduces after
the whole backward pass: E = t_step / (t_step + T_ring). t_step is the demo model's step at the
per-process batch: by default the minimum of the "train_on_batch at batch B" line of SHM_LOG
(measured in the same run as the allreduces), or --step-ms and --batch.
"""
import argparse
import math
import re


def read(path):
    rows = []
    for line in open(path):
        m = re.match(r"^\s+(\d+)\s+([0-9.]+)\s+[0-9.]+\s*$", line)  # bytes, min ms, median ms
        if m:
            rows.append((int(m.group(1)), float(m.group(2)) * 1e-3))
    return rows


def measured_step(path):
    """(batch, min ms) of distribution_bench's train_on_batch line, or None."""
    for line in open(path):
        m = re.match(r"^train_on_batch at batch (\d+) .*min ([0-9.]+) ms", line)
        if m:
            return int(m.group(1)), float(m.group(2))
    return None


def measured_gflops(path):
    """distribution_bench's per-process matmul rate (GFLOP/s), or None."""
    for line in open(path):
        m = re.match(r"^matmul \S+ per process: .* ([0-9.]+) GFLOP/s", line)
        if m:
            return float(m.group(1))
    return None


def fit(rows):
    alpha = min(rows)[1] / 2
    rows = [r for r in rows if 256 * 1024 <= r[0] <= 4 * 1024 * 1024]
    n = len(rows)
    mx = sum(b for b, _ in rows) / n
    my = sum(t for _, t in rows) / n
    sxx = sum((b - mx) ** 2 for b, _ in rows)
    sxy = sum((b - mx) * (t - my) for b, t in rows)
    slope = sxy / sxx
    return alpha, slope  # s, s/byte


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shm")
    ap.add_argument("tcp")
    ap.add_argument("--step-ms", type=float, help="the demo model's step at the per-process batch")
    ap.add_argument("--batch", type=int, help="that per-process batch")
    ap.add_argument("--demo-params", type=int, default=25482)
    ap.add_argument("--gflops-per-process", type=float,
                    help="one process's dense-matmul rate; default: the matmul line of SHM_LOG")
    a = ap.parse_args()
    if a.step_ms is None or a.batch is None:
        measured = measured_step(a.shm)
        if measured is None:
            ap.error("no train_on_batch line in %s: pass --step-ms and --batch" % a.shm)
        a.batch = a.batch or measured[0]
        a.step_ms = a.step_ms or measured[1]
        print(f"t_step: {a.step_ms:.3f} ms at batch {a.batch} (the minimum measured in {a.shm})")
    if a.gflops_per_process is None:
        a.gflops_per_process = measured_gflops(a.shm)
        if a.gflops_per_process is None:
            ap.error("no matmul line in %s: pass --gflops-per-process" % a.shm)
        print(f"dense-matmul rate: {a.gflops_per_process:.1f} GFLOP/s per process (measured in {a.shm})")
    for name, path in (("shared memory", a.shm), ("TCP (loopback)", a.tcp)):
        alpha, beta = fit(read(path))
        print(f"{name}: alpha {alpha * 1e6:.1f} us, beta {beta * 1e9:.3f} ns/byte "
              f"({1 / beta / 1e9:.2f} GB/s)")
    alpha_tcp, _ = fit(read(a.tcp))
    alpha = max(alpha_tcp, 25e-6)
    bucket = 25 << 20
    big_params = 25_000_000
    # 6 N FLOPs per sample (forward 2N, backward 4N) at one process's dense-matmul rate.
    big_step = 6 * big_params * a.batch / (a.gflops_per_process * 1e9)
    models = (("demo (%d params)" % a.demo_params, a.demo_params, a.step_ms * 1e-3),
              ("25 M params", big_params, big_step))
    print(f"alpha used: {alpha * 1e6:.1f} us; per-process batch {a.batch}")
    print("| model | step (ms) | link | p = 8 | p = 64 | p = 256 |")
    print("|---|---|---|---|---|---|")
    for label, params, step in models:
        n = 4 * params
        k = math.ceil(n / bucket)
        for gbps in (10, 100):
            bw = gbps * 1e9 / 8
            cells = []
            for p in (8, 64, 256):
                t = k * 2 * (p - 1) * alpha + 2 * (p - 1) / p * n / bw
                cells.append(f"{step / (step + t):.1%} ({t * 1e3:.2f} ms)")
            print(f"| {label} | {step * 1e3:.1f} | {gbps} Gb/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
